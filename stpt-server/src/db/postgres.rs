//! The store's operations compiled for PostgreSQL.
//!
//! Several servers may write at once: every event locks its machine's row first
//! (`SELECT … FOR UPDATE`), so events of one machine apply one after another while different
//! machines proceed in parallel.

#[allow(clippy::duplicate_mod, reason = "compiled once per backend on purpose")]
#[allow(
    clippy::disallowed_methods,
    reason = "reads on pooled connections, some over many rows: LIMIT 1 keeps them short"
)]
#[path = "access_ops.rs"]
mod access_ops;
#[allow(clippy::duplicate_mod, reason = "compiled once per backend on purpose")]
#[path = "events.rs"]
mod events;
#[cfg(feature = "bench-loaders")]
#[allow(clippy::duplicate_mod, reason = "compiled once per backend on purpose")]
#[allow(
    clippy::disallowed_methods,
    reason = "reads on pooled connections, some over many rows: LIMIT 1 keeps them short"
)]
#[path = "history_loader.rs"]
mod history_loader;
#[allow(clippy::duplicate_mod, reason = "compiled once per backend on purpose")]
#[allow(
    clippy::disallowed_methods,
    reason = "reads on pooled connections, some over many rows: LIMIT 1 keeps them short"
)]
#[path = "ops.rs"]
mod ops;
#[allow(clippy::duplicate_mod, reason = "compiled once per backend on purpose")]
#[allow(
    clippy::disallowed_methods,
    reason = "reads on pooled connections, some over many rows: LIMIT 1 keeps them short"
)]
#[path = "webhook_ops.rs"]
mod webhook_ops;

pub(crate) use access_ops::*;
pub(crate) use events::apply;
use events::apply_each;
#[cfg(feature = "bench-loaders")]
pub(crate) use history_loader::generate_history;
pub(crate) use ops::*;
pub(crate) use webhook_ops::*;

use diesel::prelude::*;

use stpt_core::{Applied, StoreError};

use super::OpError;
use super::known::{Known, KnownMachine};
use super::rows::{MachineRow, NewTest};
use super::schema::machines;
use super::schema::runs;
use super::state_rows::{RunState, ScenarioState, TestState};
use super::writer::{EventTarget, Work};

/// The backend, for types that name it.
pub(crate) type Backend = diesel::pg::Pg;

pub(crate) type Conn = diesel::PgConnection;

fn in_transaction<T>(
    conn: &mut Conn,
    f: impl FnOnce(&mut Conn) -> Result<T, OpError>,
) -> Result<T, OpError> {
    conn.transaction(f)
}

fn machine_for_update(conn: &mut Conn, key: &str) -> QueryResult<Option<MachineRow>> {
    machines::table
        .filter(machines::name_key.eq(key))
        .select(MachineRow::as_select())
        .for_update()
        .get_result(conn)
        .optional()
}

/// Inserts a plan's tests in one statement: one array per column, `UNNEST`ed into rows, so
/// ten thousand tests cost one round trip and one parse instead of five multi-row INSERTs of
/// 18,000 bound values each.
fn insert_tests(conn: &mut Conn, rows: &[NewTest<'_>]) -> QueryResult<()> {
    use diesel::sql_types::{Array, BigInt, Nullable, Text};
    let Some(first) = rows.first() else {
        return Ok(());
    };
    diesel::sql_query(
        "INSERT INTO tests \
         (run_id, machine_id, status, scenario_id, position, file_name, file_path, script, \
          occurrence) \
         SELECT $1, $2, $3, s, p, n, f, c, o \
         FROM UNNEST($4::bigint[], $5::bigint[], $6::text[], $7::text[], $8::text[], \
                     $9::bigint[]) AS plan(s, p, n, f, c, o)",
    )
    .bind::<BigInt, _>(first.run_id)
    .bind::<BigInt, _>(first.machine_id)
    .bind::<Text, _>(first.status)
    .bind::<Array<BigInt>, _>(rows.iter().map(|t| t.scenario_id).collect::<Vec<_>>())
    .bind::<Array<BigInt>, _>(rows.iter().map(|t| t.position).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(rows.iter().map(|t| t.file_name).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(rows.iter().map(|t| t.file_path).collect::<Vec<_>>())
    .bind::<Array<Nullable<Text>>, _>(rows.iter().map(|t| t.script).collect::<Vec<_>>())
    .bind::<Array<BigInt>, _>(rows.iter().map(|t| t.occurrence).collect::<Vec<_>>())
    .execute(conn)?;
    Ok(())
}

/// PostgreSQL's event target: a lane checks a pooled connection out per batch (a broken one is
/// replaced by the pool).
pub(crate) struct PgTarget {
    pool: diesel::r2d2::Pool<diesel::r2d2::ConnectionManager<Conn>>,
}

impl PgTarget {
    pub(crate) fn new(pool: diesel::r2d2::Pool<diesel::r2d2::ConnectionManager<Conn>>) -> Self {
        PgTarget { pool }
    }
}

impl EventTarget for PgTarget {
    /// One transaction that first locks every machine of the batch in name-key order (so two
    /// lanes or two servers never wait on each other in a cycle) and reads their newest runs,
    /// in two statements for the whole batch; then applies the events. What the writer knows
    /// is kept for this batch only: other servers write too.
    fn apply_in_transaction(
        &mut self,
        known: &mut Known,
        work: &[Work<'_>],
    ) -> Result<Vec<Result<Applied, StoreError>>, OpError> {
        known.clear();
        let mut conn = self
            .pool
            .get()
            .map_err(|err| OpError::Store(StoreError::busy("no database connection free", err)))?;
        let mut keys: Vec<String> = work
            .iter()
            .map(|w| ops::name_key(w.event.machine_name()))
            .collect();
        keys.sort_unstable();
        keys.dedup();
        conn.transaction(|conn| {
            let locked: Vec<MachineRow> = machines::table
                .filter(machines::name_key.eq_any(&keys))
                .order(machines::name_key.asc())
                .select(MachineRow::as_select())
                .for_update()
                .load(conn)?;
            let run_ids: Vec<i64> = locked.iter().filter_map(|m| m.last_run_id).collect();
            let mut newest: std::collections::HashMap<i64, RunState> = runs::table
                .filter(runs::id.eq_any(&run_ids))
                .select(RunState::as_select())
                .load::<RunState>(conn)?
                .into_iter()
                .map(|run| (run.id, run))
                .collect();
            for machine in locked {
                let run = machine.last_run_id.and_then(|id| newest.remove(&id));
                let key = ops::name_key(&machine.name);
                known.put(key, KnownMachine { row: machine, run });
            }
            apply_each(conn, known, work)
        })
    }
}

/// Saves a moved test, its scenario and its run in one statement (one round trip instead of
/// three, prepared once per connection): two data-modifying CTEs and the run's `UPDATE`.
fn save_move(
    conn: &mut Conn,
    test: &TestState,
    scenario: &ScenarioState,
    run: &RunState,
) -> QueryResult<()> {
    super::saves::SaveMove {
        test,
        scenario,
        run,
    }
    .execute(conn)?;
    Ok(())
}
