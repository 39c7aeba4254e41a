//! The store's operations, written once in diesel's DSL and compiled for each backend.
//!
//! Queries, closing runs, deleting machines and output; the events themselves are applied by
//! `events.rs`. `db::sqlite` and `db::postgres` each declare this file as their submodule
//! (`#[path]`) and define `Conn`, `in_transaction` and `machine_for_update`, the only
//! backend-specific pieces.

use diesel::prelude::*;
use stpt_core::{
    Applied, Attempt, Closure, EventKind, Labels, Machine, MachineId, MachineSummary, Node, NodeId,
    NodeKind, Page, PageRequest, RunFilter, RunId, RunSummary, RunTree, ScenarioTree, StoreError,
    TestResult, Timestamp,
};

use super::events::{find_applied, finish_ongoing, target_run};
use super::{Conn, in_transaction, machine_for_update};
use crate::db::OpError;
use crate::db::known::KnownMachine;
use crate::db::rows::{self, AttemptRow, MachineRow, RunRow, ScenarioRow, TestRow};
use crate::db::rows::{OutputEventRow, OutputLineRow, OutputRow};
use crate::db::saves::SaveRun;
use crate::db::schema::{
    applied_events, machines, output_events, run_labels, runs, scenarios, test_attempts,
    test_output_lines, test_outputs, tests,
};
use crate::db::state_rows::RunState;
use stpt_core::output::{OutputBatch, OutputEnds, OutputLimit, OutputLog, TestOutput, place_batch};

/// Rows per multi-row INSERT: 9 bound values each stays under every backend's bind limit
/// (SQLite's 32,766).
pub(super) const INSERT_CHUNK: usize = 2_000;

pub(super) fn name_key(name: &str) -> String {
    stpt_core::machine_key(name)
}

fn limit(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

pub(crate) fn machines(
    conn: &mut Conn,
    page: PageRequest,
) -> Result<Page<MachineSummary>, OpError> {
    let total: i64 = machines::table.count().first(conn)?;
    let rows: Vec<MachineRow> = machines::table
        .order(machines::id.asc())
        .limit(limit(page.size))
        .offset(limit(page.offset()))
        .select(MachineRow::as_select())
        .load(conn)?;
    let run_ids: Vec<i64> = rows.iter().filter_map(|m| m.last_run_id).collect();
    let statuses: Vec<(i64, String)> = runs::table
        .filter(runs::id.eq_any(&run_ids))
        .select((runs::id, runs::status))
        .load(conn)?;
    let mut items = Vec::with_capacity(rows.len());
    for row in rows {
        let last_run_status = match row.last_run_id {
            Some(id) => statuses
                .iter()
                .find(|(run, _)| *run == id)
                .map(|(_, status)| rows::status(status))
                .transpose()?,
            None => None,
        };
        items.push(MachineSummary {
            last_run_id: row.last_run_id,
            last_run_status,
            machine: row.into(),
        });
    }
    Ok(Page {
        items,
        total: u64::try_from(total).unwrap_or(0),
    })
}

pub(crate) fn machine(conn: &mut Conn, id: MachineId) -> Result<Option<Machine>, OpError> {
    Ok(machines::table
        .find(id)
        .select(MachineRow::as_select())
        .first(conn)
        .optional()?
        .map(Machine::from))
}

pub(crate) fn machine_by_name(conn: &mut Conn, name: &str) -> Result<Option<Machine>, OpError> {
    Ok(machines::table
        .filter(machines::name_key.eq(name_key(name)))
        .select(MachineRow::as_select())
        .first(conn)
        .optional()?
        .map(Machine::from))
}

pub(crate) fn runs(
    conn: &mut Conn,
    machine: MachineId,
    page: PageRequest,
) -> Result<Page<RunSummary>, OpError> {
    let total: i64 = runs::table
        .filter(runs::machine_id.eq(machine))
        .count()
        .first(conn)?;
    let rows: Vec<RunRow> = runs::table
        .filter(runs::machine_id.eq(machine))
        .order(runs::id.desc())
        .limit(limit(page.size))
        .offset(limit(page.offset()))
        .select(RunRow::as_select())
        .load(conn)?;
    Ok(Page {
        items: summaries(conn, &rows)?,
        total: u64::try_from(total).unwrap_or(0),
    })
}

/// The summaries of `rows` with their labels (one indexed query for all of them).
fn summaries(conn: &mut Conn, rows: &[RunRow]) -> Result<Vec<RunSummary>, OpError> {
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let mut labels = labels_of(conn, &ids)?;
    rows.iter()
        .map(|row| {
            let mut summary = row.summary()?;
            summary.labels = labels.remove(&row.id).unwrap_or_default();
            Ok(summary)
        })
        .collect()
}

/// The labels of runs `ids`, by run.
fn labels_of(
    conn: &mut Conn,
    ids: &[i64],
) -> Result<std::collections::HashMap<i64, Labels>, OpError> {
    let mut by_run: std::collections::HashMap<i64, Labels> = std::collections::HashMap::new();
    if ids.is_empty() {
        return Ok(by_run);
    }
    let rows: Vec<(i64, String, String)> = run_labels::table
        .filter(run_labels::run_id.eq_any(ids))
        .select((
            run_labels::run_id,
            run_labels::label_key,
            run_labels::label_value,
        ))
        .load(conn)?;
    for (run, key, value) in rows {
        by_run.entry(run).or_default().insert(key, value);
    }
    Ok(by_run)
}

/// The runs passing `filter`, as a boxed query to count or page.
///
/// Each label is `id IN (one range of run_labels_by_label)`; the machine narrows to a range of
/// `runs_by_machine`, the dates to one of `runs_by_timestamp`.
fn filtered_runs(
    filter: &RunFilter,
) -> runs::BoxedQuery<'_, <Conn as diesel::Connection>::Backend> {
    let mut query = runs::table.into_boxed();
    if let Some(machine) = filter.machine {
        query = query.filter(runs::machine_id.eq(machine));
    }
    if let Some(status) = filter.status {
        query = query.filter(runs::status.eq(status.as_str()));
    }
    if let Some(since) = filter.since {
        query = query.filter(runs::timestamp.ge(since.as_micros()));
    }
    if let Some(until) = filter.until {
        query = query.filter(runs::timestamp.lt(until.as_micros()));
    }
    if let Some(before) = filter.before {
        query = query.filter(runs::id.lt(before));
    }
    for (key, value) in &filter.labels {
        query = query.filter(
            runs::id.eq_any(
                run_labels::table
                    .filter(run_labels::label_key.eq(key))
                    .filter(run_labels::label_value.eq(value))
                    .select(run_labels::run_id),
            ),
        );
    }
    query
}

pub(crate) fn find_runs(
    conn: &mut Conn,
    filter: &RunFilter,
    page: PageRequest,
) -> Result<Page<RunSummary>, OpError> {
    let total: i64 = filtered_runs(filter).count().first(conn)?;
    let rows: Vec<RunRow> = filtered_runs(filter)
        .order(runs::id.desc())
        .limit(limit(page.size))
        .offset(limit(page.offset()))
        .select(RunRow::as_select())
        .load(conn)?;
    Ok(Page {
        items: summaries(conn, &rows)?,
        total: u64::try_from(total).unwrap_or(0),
    })
}

pub(crate) fn run(conn: &mut Conn, id: RunId) -> Result<Option<RunTree>, OpError> {
    let Some(run) = runs::table
        .find(id)
        .select(RunRow::as_select())
        .first(conn)
        .optional()?
    else {
        return Ok(None);
    };
    let machine: MachineRow = machines::table
        .find(run.machine_id)
        .select(MachineRow::as_select())
        .first(conn)?;
    let scenario_rows: Vec<ScenarioRow> = scenarios::table
        .filter(scenarios::run_id.eq(id))
        .order(scenarios::position.asc())
        .select(ScenarioRow::as_select())
        .load(conn)?;
    let test_rows: Vec<TestRow> = tests::table
        .filter(tests::run_id.eq(id))
        .order(tests::position.asc())
        .select(TestRow::as_select())
        .load(conn)?;
    let mut scenarios = Vec::with_capacity(scenario_rows.len());
    let mut tests = test_rows.iter().peekable();
    for scenario in &scenario_rows {
        let mut nodes = Vec::new();
        // Tests come in plan order, which is scenario order.
        while let Some(test) = tests.next_if(|t| t.scenario_id == scenario.id) {
            nodes.push(test.node()?);
        }
        scenarios.push(ScenarioTree {
            node: scenario.node()?,
            tests: nodes,
        });
    }
    let mut summary = run.summary()?;
    summary.labels = labels_of(conn, &[id])?.remove(&id).unwrap_or_default();
    Ok(Some(RunTree {
        run: summary,
        machine: machine.into(),
        master: run.master()?,
        scenarios,
    }))
}

pub(crate) fn last_run(conn: &mut Conn, machine: MachineId) -> Result<Option<RunTree>, OpError> {
    let last = machines::table
        .find(machine)
        .select(machines::last_run_id)
        .first::<Option<RunId>>(conn)
        .optional()?;
    match LastRun::from(last) {
        LastRun::Run(id) => run(conn, id),
        LastRun::NoMachine | LastRun::NoRun => Ok(None),
    }
}

/// What a machine's row says about its newest run.
enum LastRun {
    /// There is no such machine.
    NoMachine,
    /// The machine has no run (yet, or any more).
    NoRun,
    /// Its newest run.
    Run(RunId),
}

impl From<Option<Option<RunId>>> for LastRun {
    /// From the machine's row, if any, and its `last_run_id` column.
    fn from(row: Option<Option<RunId>>) -> Self {
        match row {
            None => LastRun::NoMachine,
            Some(None) => LastRun::NoRun,
            Some(Some(id)) => LastRun::Run(id),
        }
    }
}

/// One range of the `runs_by_machine (machine_id, id)` index.
pub(crate) fn previous_run(conn: &mut Conn, run: RunId) -> Result<Option<RunId>, OpError> {
    let Some(machine) = runs::table
        .find(run)
        .select(runs::machine_id)
        .first::<i64>(conn)
        .optional()?
    else {
        return Ok(None);
    };
    Ok(runs::table
        .filter(runs::machine_id.eq(machine))
        .filter(runs::id.lt(run))
        .order(runs::id.desc())
        .select(runs::id)
        .first(conn)
        .optional()?)
}

pub(crate) fn node(conn: &mut Conn, kind: NodeKind, id: NodeId) -> Result<Option<Node>, OpError> {
    Ok(match kind {
        NodeKind::Master => runs::table
            .find(id)
            .select(RunRow::as_select())
            .first(conn)
            .optional()?
            .map(|row| row.master())
            .transpose()?,
        NodeKind::Scenario => scenarios::table
            .find(id)
            .select(ScenarioRow::as_select())
            .first(conn)
            .optional()?
            .map(|row| row.node())
            .transpose()?,
        NodeKind::Test => tests::table
            .find(id)
            .select(TestRow::as_select())
            .first(conn)
            .optional()?
            .map(|row| row.node())
            .transpose()?,
    })
}

pub(crate) fn attempts(conn: &mut Conn, test: NodeId) -> Result<Vec<Attempt>, OpError> {
    let Some(row) = tests::table
        .find(test)
        .select(TestRow::as_select())
        .first(conn)
        .optional()?
    else {
        return Ok(Vec::new());
    };
    let earlier: Vec<AttemptRow> = test_attempts::table
        .filter(test_attempts::test_id.eq(test))
        .order(test_attempts::number.asc())
        .select(AttemptRow::as_select())
        .load(conn)?;
    let mut attempts = earlier
        .iter()
        .map(AttemptRow::attempt)
        .collect::<Result<Vec<_>, _>>()?;
    if row.attempts > 0 {
        attempts.push(row.current_attempt().attempt()?);
    }
    Ok(attempts)
}

/// Closes one run (see `Store::abort`, `Store::close_stale`) after locking its machine, so no
/// event of that machine interleaves. `idle_since` skips a run that heard an event since.
fn close_run(
    conn: &mut Conn,
    run_id: RunId,
    why: Closure,
    idle_since: Option<Timestamp>,
    at: Timestamp,
) -> Result<Option<RunSummary>, OpError> {
    let Some(key) = runs::table
        .inner_join(machines::table)
        .filter(runs::id.eq(run_id))
        .select(machines::name_key)
        .first::<String>(conn)
        .optional()?
    else {
        return Ok(None);
    };
    machine_for_update(conn, &key)?;
    let mut run: RunState = runs::table
        .find(run_id)
        .select(RunState::as_select())
        .first(conn)?;
    let silent = idle_since.is_none_or(|idle| run.last_event_at < idle.as_micros());
    if run.counts().ongoing() > 0 && silent {
        finish_ongoing(conn, &mut run, stpt_core::store::closing_status(why), at)?;
        run.closed_at = Some(at.as_micros());
        run.closed_as = Some(why.as_str().to_owned());
        SaveRun(&run).execute(conn)?;
    }
    let row: RunRow = runs::table
        .find(run_id)
        .select(RunRow::as_select())
        .first(conn)?;
    Ok(summaries(conn, std::slice::from_ref(&row))?.pop())
}

/// Deletes machine `id` with its runs (scenarios, tests and attempts go with them by the
/// foreign keys' cascades) and its applied-event records, under the machine's lock.
pub(crate) fn delete_machine(conn: &mut Conn, id: MachineId) -> Result<Option<u64>, OpError> {
    in_transaction(conn, |conn| {
        let Some(key) = machines::table
            .find(id)
            .select(machines::name_key)
            .first::<String>(conn)
            .optional()?
        else {
            return Ok(None);
        };
        machine_for_update(conn, &key)?;
        let runs: i64 = runs::table
            .filter(runs::machine_id.eq(id))
            .count()
            .first(conn)?;
        diesel::delete(applied_events::table.filter(applied_events::machine_id.eq(id)))
            .execute(conn)?;
        diesel::delete(machines::table.find(id)).execute(conn)?;
        Ok(Some(u64::try_from(runs).unwrap_or(0)))
    })
}

pub(crate) fn abort(
    conn: &mut Conn,
    run_id: RunId,
    at: Timestamp,
) -> Result<Option<RunSummary>, OpError> {
    in_transaction(conn, |conn| {
        close_run(conn, run_id, Closure::Aborted, None, at)
    })
}

pub(crate) fn close_stale(
    conn: &mut Conn,
    idle_since: Timestamp,
    at: Timestamp,
) -> Result<Vec<RunSummary>, OpError> {
    in_transaction(conn, |conn| {
        let silent: Vec<i64> = runs::table
            .filter(runs::n_running.gt(0).or(runs::n_waiting.gt(0)))
            .filter(runs::last_event_at.lt(idle_since.as_micros()))
            .order(runs::id.asc())
            .select(runs::id)
            .load(conn)?;
        let mut closed = Vec::with_capacity(silent.len());
        for id in silent {
            if let Some(run) = close_run(conn, id, Closure::Stale, Some(idle_since), at)?
                && run.closed_as == Some(Closure::Stale)
                && run.closed_at == Some(at)
            {
                closed.push(run);
            }
        }
        Ok(closed)
    })
}

pub(crate) fn test_history(
    conn: &mut Conn,
    test: NodeId,
    limit: u32,
) -> Result<Vec<TestResult>, OpError> {
    let Some(row) = tests::table
        .find(test)
        .select(TestRow::as_select())
        .first(conn)
        .optional()?
    else {
        return Ok(Vec::new());
    };
    // One range of the tests_identity index, newest run first.
    let rows: Vec<(TestRow, i64)> = tests::table
        .inner_join(scenarios::table.inner_join(runs::table))
        .filter(tests::machine_id.eq(row.machine_id))
        .filter(tests::file_path.eq(&row.file_path))
        .filter(tests::file_name.eq(&row.file_name))
        .filter(tests::occurrence.eq(row.occurrence))
        .order(tests::run_id.desc())
        .limit(i64::from(limit))
        .select((TestRow::as_select(), runs::timestamp))
        .load(conn)?;
    rows.iter()
        .map(|(test, run_timestamp)| {
            Ok(TestResult::of(
                &test.node()?,
                rows::timestamp(*run_timestamp)?,
            ))
        })
        .collect()
}

/// Bound values per output line row: 5, so a chunk of lines stays under the bind limits.
const OUTPUT_CHUNK: usize = 4_000;

/// Appends a batch of a test's output in one transaction ([`append_output_within`]).
pub(crate) fn append_output(
    conn: &mut Conn,
    output: &TestOutput,
    limit: OutputLimit,
    now: Timestamp,
) -> Result<Applied, OpError> {
    use diesel::result::{DatabaseErrorKind, Error};
    match in_transaction(conn, |conn| append_output_within(conn, output, limit, now)) {
        // A racing delivery of the same batch won: one more try answers it as a duplicate.
        Err(OpError::Db(Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _))) => {
            in_transaction(conn, |conn| append_output_within(conn, output, limit, now))
        }
        answer => answer,
    }
}

/// Appends a batch of output inside the caller's transaction: locks the machine, answers a
/// known event id as a duplicate, checks the run and the test, inserts the lines, drops the
/// tail lines the limit no longer keeps (one indexed DELETE) and moves the test's counters.
/// The run and test rows are only read.
pub(crate) fn append_output_within(
    conn: &mut Conn,
    output: &TestOutput,
    limit: OutputLimit,
    now: Timestamp,
) -> Result<Applied, OpError> {
    let batch = &output.batch;
    let machine = machine_for_update(conn, &name_key(&batch.machine_name))?.ok_or_else(|| {
        StoreError::UnknownMachine {
            name: batch.machine_name.clone(),
        }
    })?;
    if let Some(applied) = output_applied_before(conn, batch, machine.id)? {
        return Ok(applied);
    }
    let machine = KnownMachine::new(machine);
    let run = target_run(conn, &machine, output.run_id, || StoreError::UnknownRun {
        run_id: 0,
        machine: machine.row.name.clone(),
    })?;
    let test_id = tests::table
        .filter(tests::run_id.eq(run.id))
        .filter(tests::position.eq(i64::from(output.index)))
        .select(tests::id)
        .get_result::<i64>(conn)
        .optional()?
        .ok_or(StoreError::UnknownTest {
            run_id: run.id,
            index: output.index,
        })?;
    keep_lines(conn, test_id, batch, limit)?;
    // A rig that prints is not silent: its run is not closed as stale meanwhile.
    diesel::update(runs::table.find(run.id))
        .set(runs::last_event_at.eq(now.as_micros()))
        .execute(conn)?;
    diesel::insert_into(output_events::table)
        .values(OutputEventRow {
            event_id: batch.event_id.clone(),
            machine_id: machine.row.id,
            run_id: run.id,
            test_id,
            applied_at: now.as_micros(),
        })
        .execute(conn)?;
    Ok(Applied {
        kind: EventKind::TestOutput,
        machine_id: machine.row.id,
        run_id: run.id,
        run_status: rows::status(&run.status)?,
        test_id: Some(test_id),
        duplicate: false,
    })
}

/// The answer to an output batch whose event id was applied before (a duplicate), if it was;
/// refused when another machine than `machine_id` used the id.
fn output_applied_before(
    conn: &mut Conn,
    batch: &OutputBatch,
    machine_id: i64,
) -> Result<Option<Applied>, OpError> {
    let Some(applied) = find_applied(conn, &batch.event_id)? else {
        return Ok(None);
    };
    if applied.machine_id != machine_id {
        return Err(OpError::Store(StoreError::EventIdReused {
            event_id: batch.event_id.clone(),
            machine: batch.machine_name.clone(),
        }));
    }
    Ok(Some(applied))
}

/// Adds `batch`'s lines to test `test_id`'s output within `limit`: inserts the lines kept,
/// drops the tail lines the limit no longer keeps (one indexed DELETE) and moves the counters.
fn keep_lines(
    conn: &mut Conn,
    test_id: i64,
    batch: &OutputBatch,
    limit: OutputLimit,
) -> Result<(), OpError> {
    let before = test_outputs::table
        .find(test_id)
        .select(OutputRow::as_select())
        .get_result(conn)
        .optional()?;
    let ends = before
        .as_ref()
        .map_or(OutputEnds::default(), |row| OutputEnds {
            head_end: u64::try_from(row.head_end).unwrap_or(0),
            end: u64::try_from(row.end_byte).unwrap_or(0),
        });
    let placement = place_batch(limit, ends, &batch.lines);
    let ends = placement.ends;
    let new_rows: Vec<OutputLineRow> = placement
        .lines
        .into_iter()
        .map(|stored| OutputLineRow {
            test_id,
            start_byte: limit_i64(stored.offset),
            stream: stored.line.stream.map(|s| s.as_str().to_owned()),
            timestamp: stored.line.timestamp.map(Timestamp::as_micros),
            text: stored.line.text,
        })
        .collect();
    for chunk in new_rows.chunks(OUTPUT_CHUNK) {
        diesel::insert_into(test_output_lines::table)
            .values(chunk)
            .execute(conn)?;
    }
    let tail_start = limit.tail_start(ends.head_end, ends.end);
    if tail_start > ends.head_end {
        // The lines between the head and the tail's start: one range of the primary key.
        diesel::delete(
            test_output_lines::table
                .filter(test_output_lines::test_id.eq(test_id))
                .filter(test_output_lines::start_byte.ge(limit_i64(ends.head_end)))
                .filter(test_output_lines::start_byte.lt(limit_i64(tail_start))),
        )
        .execute(conn)?;
    }
    let lines = limit_i64(batch.lines.len() as u64);
    let row = OutputRow {
        test_id,
        head_end: limit_i64(ends.head_end),
        end_byte: limit_i64(ends.end),
        total_lines: before.as_ref().map_or(0, |r| r.total_lines) + lines,
        total_bytes: before.as_ref().map_or(0, |r| r.total_bytes) + limit_i64(placement.received),
    };
    if before.is_some() {
        diesel::update(test_outputs::table.find(test_id))
            .set(&row)
            .execute(conn)?;
    } else {
        diesel::insert_into(test_outputs::table)
            .values(&row)
            .execute(conn)?;
    }
    Ok(())
}

fn limit_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// What is kept of a test's output; `None` when no test has this id.
pub(crate) fn output(conn: &mut Conn, test: NodeId) -> Result<Option<OutputLog>, OpError> {
    let exists = tests::table
        .find(test)
        .select(tests::id)
        .first::<i64>(conn)
        .optional()?;
    if exists.is_none() {
        return Ok(None);
    }
    let Some(summary) = test_outputs::table
        .find(test)
        .select(OutputRow::as_select())
        .get_result(conn)
        .optional()?
    else {
        return Ok(Some(OutputLog {
            test_id: test,
            ..OutputLog::default()
        }));
    };
    let lines = test_output_lines::table
        .filter(test_output_lines::test_id.eq(test))
        .order(test_output_lines::start_byte)
        .select(OutputLineRow::as_select())
        .load(conn)?
        .into_iter()
        .map(OutputLineRow::stored)
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(Some(OutputLog::from_stored(
        test,
        lines,
        u64::try_from(summary.total_lines).unwrap_or(0),
        u64::try_from(summary.total_bytes).unwrap_or(0),
    )))
}

/// The kept lines of `test`'s output after byte offset `after` (all when `None`): one range of
/// `test_output_lines`' primary key.
pub(crate) fn output_after(
    conn: &mut Conn,
    test: NodeId,
    after: Option<u64>,
) -> Result<Option<Vec<stpt_core::output::StoredLine>>, OpError> {
    let exists = tests::table
        .find(test)
        .select(tests::id)
        .get_result::<i64>(conn)
        .optional()?;
    if exists.is_none() {
        return Ok(None);
    }
    let after = after.map_or(-1, limit_i64);
    let lines = test_output_lines::table
        .filter(test_output_lines::test_id.eq(test))
        .filter(test_output_lines::start_byte.gt(after))
        .order(test_output_lines::start_byte)
        .select(OutputLineRow::as_select())
        .load(conn)?
        .into_iter()
        .map(OutputLineRow::stored)
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(Some(lines))
}
