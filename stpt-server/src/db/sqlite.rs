//! The store's operations compiled for SQLite.
//!
//! Every event runs in an immediate transaction: SQLite has one writer, and taking the write
//! lock up front turns a would-be deadlock between two readers-turned-writers into a short wait
//! (bounded by `busy_timeout`).

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
use super::known::Known;
use super::rows::{MachineRow, NewTest};
use super::schema::machines;
use super::state_rows::{RunState, ScenarioState, TestState};
use super::writer::{EventTarget, Work};

/// The backend, for types that name it.
pub(crate) type Backend = diesel::sqlite::Sqlite;

pub(crate) type Conn = diesel::SqliteConnection;

fn in_transaction<T>(
    conn: &mut Conn,
    f: impl FnOnce(&mut Conn) -> Result<T, OpError>,
) -> Result<T, OpError> {
    conn.immediate_transaction(f)
}

/// SQLite's immediate transaction already excludes other writers; no row lock is needed.
fn machine_for_update(conn: &mut Conn, key: &str) -> QueryResult<Option<MachineRow>> {
    machines::table
        .filter(machines::name_key.eq(key))
        .select(MachineRow::as_select())
        .get_result(conn)
        .optional()
}

/// Inserts a plan's tests in multi-row INSERTs of `INSERT_CHUNK` rows.
fn insert_tests(conn: &mut Conn, rows: &[NewTest<'_>]) -> QueryResult<()> {
    use super::schema::tests;
    for chunk in rows.chunks(ops::INSERT_CHUNK) {
        diesel::insert_into(tests::table)
            .values(chunk)
            .execute(conn)?;
    }
    Ok(())
}

/// SQLite's event target: the writer's own connection, and the database's `data_version` when
/// the writer last looked (it changes when another connection commits).
pub(crate) struct SqliteTarget {
    conn: Conn,
    data_version: Option<i64>,
}

impl SqliteTarget {
    /// Opens the writer's own connection to `path`.
    pub(crate) fn open(path: &str) -> Result<Self, diesel::ConnectionError> {
        use diesel::connection::SimpleConnection;
        let mut conn = Conn::establish(path)?;
        conn.batch_execute(
            "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 10000; \
             PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
        )
        .map_err(|e| diesel::ConnectionError::BadConnection(e.to_string()))?;
        Ok(SqliteTarget {
            conn,
            data_version: None,
        })
    }
}

#[derive(QueryableByName)]
struct DataVersion {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    data_version: i64,
}

impl EventTarget for SqliteTarget {
    /// One immediate transaction. What the writer knows holds while no other connection has
    /// committed since its last batch; otherwise it is forgotten first.
    fn apply_in_transaction(
        &mut self,
        known: &mut Known,
        work: &[Work<'_>],
    ) -> Result<Vec<Result<Applied, StoreError>>, OpError> {
        let last = &mut self.data_version;
        self.conn.immediate_transaction(|conn| {
            let version = diesel::sql_query("SELECT data_version FROM pragma_data_version()")
                .get_result::<DataVersion>(conn)?
                .data_version;
            if *last != Some(version) {
                known.clear();
                *last = Some(version);
            }
            apply_each(conn, known, work)
        })
    }
}

/// Saves a moved test, its scenario and its run: three `UPDATE`s of the columns an event
/// changes, each prepared once (statements SQLite runs in-process, so one each costs no round
/// trip).
fn save_move(
    conn: &mut Conn,
    test: &TestState,
    scenario: &ScenarioState,
    run: &RunState,
) -> QueryResult<()> {
    use super::saves::{SaveRun, SaveScenario, SaveTest};
    SaveTest(test).execute(conn)?;
    SaveScenario(scenario).execute(conn)?;
    SaveRun(run).execute(conn)?;
    Ok(())
}
