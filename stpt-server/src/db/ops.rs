//! The store's operations, written once in diesel's DSL and compiled for each backend.
//!
//! `db::sqlite` and `db::postgres` each declare this file as their submodule (`#[path]`) and
//! define `Conn`, `in_transaction` and `machine_for_update`, the only backend-specific pieces.

use diesel::prelude::*;
use stpt_core::{
    Applied, Attempt, Closure, DryRun, Event, EventKind, Labels, Machine, MachineId,
    MachineSummary, Node, NodeId, NodeKind, Page, PageRequest, Progress, RunFilter, RunId,
    RunSummary, RunTree, ScenarioTree, Status, StoreError, TestResult, TestStart, TestStop,
    Timestamp,
};

use super::{Conn, in_transaction, machine_for_update};
use crate::db::OpError;
use crate::db::rows::{
    self, AppliedEventRow, AttemptRow, MachineRow, NewMachine, NewRun, NewScenario, NewTest,
    RunRow, ScenarioRow, TestRow,
};
use crate::db::rows::{OutputEventRow, OutputLineRow, OutputRow};
use crate::db::schema::{
    applied_events, machines, output_events, run_labels, runs, scenarios, test_attempts,
    test_output_lines, test_outputs, tests,
};
use stpt_core::output::{OutputEnds, OutputLimit, OutputLog, TestOutput, place_batch};

/// Rows per multi-row INSERT: 9 bound values each stays under every backend's bind limit
/// (SQLite's 32,766).
pub(super) const INSERT_CHUNK: usize = 2_000;

const ONGOING: [&str; 2] = [Status::Running.as_str(), Status::Waiting.as_str()];

pub(super) fn name_key(name: &str) -> String {
    stpt_core::machine_key(name)
}

fn limit(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Applies one event in one transaction; a rejection rolls everything back.
///
/// Two deliveries of one new event racing on two connections both pass the id check only
/// when their machine is new or differs; the loser's insert of the id then violates its key,
/// and one more try finds the winner's row and answers as a duplicate (or a reused id).
pub(crate) fn apply(conn: &mut Conn, event: &Event, now: Timestamp) -> Result<Applied, OpError> {
    use diesel::result::{DatabaseErrorKind, Error};
    match in_transaction(conn, |conn| apply_within(conn, event, now)) {
        Err(OpError::Db(Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _))) => {
            in_transaction(conn, |conn| apply_within(conn, event, now))
        }
        answer => answer,
    }
}

/// Applies one event inside the caller's transaction (or savepoint).
///
/// The machine's row is locked before the event id is looked up, so a duplicate delivered
/// while the first is being applied waits for it and then finds it applied.
pub(crate) fn apply_within(
    conn: &mut Conn,
    event: &Event,
    now: Timestamp,
) -> Result<Applied, OpError> {
    if let Event::TestOutput(output) = event {
        return append_output_within(conn, output, OutputLimit::default(), now);
    }
    let key = name_key(event.machine_name());
    let mut machine = machine_for_update(conn, &key)?;
    if let Some(applied) = already_applied(conn, event, machine.as_ref())? {
        return Ok(applied);
    }
    if let (Event::DryRun(dry), None) = (event, &machine) {
        diesel::insert_into(machines::table)
            .values(NewMachine {
                name: &dry.machine_name,
                name_key: &key,
            })
            .on_conflict(machines::name_key)
            .do_nothing()
            .execute(conn)?;
        machine = machine_for_update(conn, &key)?;
        // A racing first dry run of this machine may have committed meanwhile.
        if let Some(applied) = already_applied(conn, event, machine.as_ref())? {
            return Ok(applied);
        }
    }
    let machine = machine.ok_or_else(|| StoreError::UnknownMachine {
        name: event.machine_name().to_owned(),
    })?;
    let applied = match event {
        Event::DryRun(dry) => apply_dry_run(conn, dry, &machine, now)?,
        Event::TestStart(start) => apply_start(conn, start, &machine, now)?,
        Event::TestStop(stop) => apply_stop(conn, stop, &machine, now)?,
        Event::TestOutput(output) => {
            return append_output_within(conn, output, OutputLimit::default(), now);
        }
    };
    if let Some(id) = event.event_id() {
        diesel::insert_into(applied_events::table)
            .values(AppliedEventRow {
                event_id: id.to_owned(),
                kind: applied.kind.as_str().to_owned(),
                machine_id: applied.machine_id,
                run_id: applied.run_id,
                test_id: applied.test_id,
                applied_at: now.as_micros(),
            })
            .execute(conn)?;
    }
    Ok(applied)
}

/// The earlier answer to an event whose id was applied before, if it was; an error when that
/// was another machine's event.
fn already_applied(
    conn: &mut Conn,
    event: &Event,
    machine: Option<&MachineRow>,
) -> Result<Option<Applied>, OpError> {
    let Some(id) = event.event_id() else {
        return Ok(None);
    };
    let Some(applied) = find_applied(conn, id)? else {
        return Ok(None);
    };
    let machine_id = match machine {
        Some(machine) => Some(machine.id),
        // A racing delivery of this machine's first dry run created it since our lookup.
        None => machines::table
            .filter(machines::name_key.eq(name_key(event.machine_name())))
            .select(machines::id)
            .first::<i64>(conn)
            .optional()?,
    };
    if machine_id != Some(applied.machine_id) {
        return Err(OpError::Store(StoreError::EventIdReused {
            event_id: id.to_owned(),
            machine: event.machine_name().to_owned(),
        }));
    }
    Ok(Some(applied))
}

fn find_applied(conn: &mut Conn, event_id: &str) -> Result<Option<Applied>, OpError> {
    let Some(row) = applied_events::table
        .find(event_id)
        .select(AppliedEventRow::as_select())
        .first(conn)
        .optional()?
    else {
        return Ok(None);
    };
    let kind = rows::event_kind(&row.kind)?;
    let run_status: Option<String> = runs::table
        .find(row.run_id)
        .select(runs::status)
        .first(conn)
        .optional()?;
    Ok(Some(Applied {
        kind,
        machine_id: row.machine_id,
        run_id: row.run_id,
        run_status: run_status
            .as_deref()
            .map(rows::status)
            .transpose()?
            .unwrap_or(Status::Unknown),
        test_id: row.test_id,
        duplicate: true,
    }))
}

/// How many nodes of a plan so far had each (file path, file name).
type Occurrences<'a> = std::collections::HashMap<(&'a str, &'a str), i64>;

/// The occurrence of the next node with this path and name, counted.
fn next_occurrence<'a>(seen: &mut Occurrences<'a>, file_path: &'a str, file_name: &'a str) -> i64 {
    let count = seen.entry((file_path, file_name)).or_default();
    *count += 1;
    *count - 1
}

fn apply_dry_run(
    conn: &mut Conn,
    dry: &DryRun,
    machine: &MachineRow,
    now: Timestamp,
) -> Result<Applied, OpError> {
    close_ongoing_runs(conn, machine.id, dry.timestamp, now)?;

    let master = &dry.master_scenario;
    let test_count: usize = master.scenarios.iter().map(|s| s.tests.len()).sum();
    let empty = master
        .scenarios
        .iter()
        .filter(|s| s.tests.is_empty())
        .count();
    let progress = Progress::planned(test_count as u64, empty as u64);
    let run_id = insert_run(conn, dry, machine, &progress, now)?;
    insert_labels(conn, run_id, &dry.labels)?;
    insert_plan(conn, master, run_id, machine.id, test_count)?;
    diesel::update(machines::table.find(machine.id))
        .set(machines::last_run_id.eq(run_id))
        .execute(conn)?;
    Ok(Applied {
        kind: EventKind::DryRun,
        machine_id: machine.id,
        run_id,
        run_status: progress.status,
        test_id: None,
        duplicate: false,
    })
}

/// A dry run's first step: the machine's ongoing runs end, their ongoing tests `unknown`.
fn close_ongoing_runs(
    conn: &mut Conn,
    machine_id: MachineId,
    at: Timestamp,
    now: Timestamp,
) -> Result<(), OpError> {
    let ongoing: Vec<RunRow> = runs::table
        .filter(runs::machine_id.eq(machine_id))
        .filter(runs::n_running.gt(0).or(runs::n_waiting.gt(0)))
        .select(RunRow::as_select())
        .load(conn)?;
    for mut run in ongoing {
        finish_ongoing(conn, &mut run, Status::Unknown, at)?;
        run.last_event_at = now.as_micros();
        diesel::update(&run).set(&run).execute(conn)?;
    }
    Ok(())
}

/// Inserts the run row of a dry run; answers its id.
fn insert_run(
    conn: &mut Conn,
    dry: &DryRun,
    machine: &MachineRow,
    progress: &Progress,
    now: Timestamp,
) -> Result<i64, OpError> {
    let master = &dry.master_scenario;
    let test_count: usize = master.scenarios.iter().map(|s| s.tests.len()).sum();
    let empty = master
        .scenarios
        .iter()
        .filter(|s| s.tests.is_empty())
        .count();
    diesel::insert_into(runs::table)
        .values(NewRun {
            machine_id: machine.id,
            timestamp: dry.timestamp.as_micros(),
            file_name: &master.file_name,
            file_path: &master.file_path,
            script: master.script.as_deref(),
            status: progress.status.as_str(),
            scenarios_count: master.scenarios.len() as i64,
            empty_scenarios: empty as i64,
            test_count: test_count as i64,
            last_event_at: now.as_micros(),
            n_waiting: test_count as i64,
        })
        .execute(conn)?;
    // The machine's row is locked (or the database is), so its newest run is the one just made.
    let run_id: i64 = runs::table
        .filter(runs::machine_id.eq(machine.id))
        .select(diesel::dsl::max(runs::id))
        .first::<Option<i64>>(conn)?
        .ok_or_else(|| StoreError::Backend {
            reason: "the inserted run cannot be found".to_owned(),
            source: None,
        })?;
    Ok(run_id)
}

/// Inserts a run's labels.
fn insert_labels(conn: &mut Conn, run_id: i64, labels: &Labels) -> Result<(), OpError> {
    if !labels.is_empty() {
        let rows: Vec<_> = labels
            .iter()
            .map(|(key, value)| {
                (
                    run_labels::run_id.eq(run_id),
                    run_labels::label_key.eq(key),
                    run_labels::label_value.eq(value),
                )
            })
            .collect();
        diesel::insert_into(run_labels::table)
            .values(&rows)
            .execute(conn)?;
    }
    Ok(())
}

/// Inserts a run's plan: its scenarios, then its tests, each numbered by occurrence.
fn insert_plan(
    conn: &mut Conn,
    master: &stpt_core::MasterScenarioPlan,
    run_id: i64,
    machine_id: MachineId,
    test_count: usize,
) -> Result<(), OpError> {
    let mut seen = Occurrences::new();
    let new_scenarios: Vec<NewScenario<'_>> = master
        .scenarios
        .iter()
        .enumerate()
        .map(|(position, scenario)| NewScenario {
            occurrence: next_occurrence(&mut seen, &scenario.file_path, &scenario.file_name),
            run_id,
            position: position as i64,
            file_name: &scenario.file_name,
            file_path: &scenario.file_path,
            script: scenario.script.as_deref(),
            status: Progress::planned(scenario.tests.len() as u64, 0)
                .status
                .as_str(),
            n_waiting: scenario.tests.len() as i64,
        })
        .collect();
    for chunk in new_scenarios.chunks(INSERT_CHUNK) {
        diesel::insert_into(scenarios::table)
            .values(chunk)
            .execute(conn)?;
    }
    let scenario_ids: Vec<i64> = scenarios::table
        .filter(scenarios::run_id.eq(run_id))
        .order(scenarios::position.asc())
        .select(scenarios::id)
        .load(conn)?;

    // Scenario and test occurrences are counted apart: a fresh count for the tests.
    let mut seen = Occurrences::new();
    let mut new_tests = Vec::with_capacity(test_count);
    for (scenario, scenario_id) in master.scenarios.iter().zip(&scenario_ids) {
        for test in &scenario.tests {
            new_tests.push(NewTest {
                run_id,
                scenario_id: *scenario_id,
                position: new_tests.len() as i64,
                file_name: &test.file_name,
                file_path: &test.file_path,
                script: test.script.as_deref(),
                status: Status::Waiting.as_str(),
                machine_id,
                occurrence: next_occurrence(&mut seen, &test.file_path, &test.file_name),
            });
        }
    }
    for chunk in new_tests.chunks(INSERT_CHUNK) {
        diesel::insert_into(tests::table)
            .values(chunk)
            .execute(conn)?;
    }
    Ok(())
}

/// The run an event addresses: `run_id` if given (it must be the machine's), else the
/// machine's newest run; never an aborted one.
fn target_run(
    conn: &mut Conn,
    machine: &MachineRow,
    run_id: Option<RunId>,
    no_match: impl FnOnce() -> StoreError,
) -> Result<RunRow, OpError> {
    let wanted = match run_id {
        Some(id) => id,
        None => machine.last_run_id.ok_or_else(no_match)?,
    };
    let run = runs::table
        .find(wanted)
        .filter(runs::machine_id.eq(machine.id))
        .select(RunRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| {
            OpError::Store(StoreError::UnknownRun {
                run_id: wanted,
                machine: machine.name.clone(),
            })
        })?;
    if run.closed_as.as_deref() == Some(Closure::Aborted.as_str()) {
        return Err(OpError::Store(StoreError::RunAborted {
            run_id: run.id,
            machine: machine.name.clone(),
        }));
    }
    Ok(run)
}

fn test_at(conn: &mut Conn, run_id: RunId, index: u32) -> Result<Option<TestRow>, OpError> {
    Ok(tests::table
        .filter(tests::run_id.eq(run_id))
        .filter(tests::position.eq(i64::from(index)))
        .select(TestRow::as_select())
        .first(conn)
        .optional()?)
}

fn matches(test: &TestRow, file_path: &str, file_name: &str, wanted: Status) -> bool {
    test.status == wanted.as_str() && test.file_path == file_path && test.file_name == file_name
}

fn apply_start(
    conn: &mut Conn,
    start: &TestStart,
    machine: &MachineRow,
    now: Timestamp,
) -> Result<Applied, OpError> {
    let no_match = || StoreError::NoMatchingTest {
        machine: start.machine_name.clone(),
        file_path: start.file_path.clone(),
        file_name: start.file_name.clone(),
        wanted: Status::Waiting,
        index: start.index,
    };
    let mut run = target_run(conn, machine, start.run_id, no_match)?;
    let attempt = start.attempt.unwrap_or(1);
    let mut test = if attempt >= 2 {
        find_retry(conn, run.id, start, attempt)?
    } else {
        let test = match start.index {
            Some(index) => test_at(conn, run.id, index)?,
            None => tests::table
                .filter(tests::run_id.eq(run.id))
                .filter(tests::file_path.eq(&start.file_path))
                .filter(tests::file_name.eq(&start.file_name))
                .filter(tests::status.eq(Status::Waiting.as_str()))
                .order(tests::position.asc())
                .select(TestRow::as_select())
                .first(conn)
                .optional()?,
        };
        match test.filter(|t| matches(t, &start.file_path, &start.file_name, Status::Waiting)) {
            Some(test) => Some(test),
            None => find_presumed(
                conn,
                run.id,
                &start.file_path,
                &start.file_name,
                start.index,
                Status::Waiting,
            )?,
        }
    }
    .ok_or_else(no_match)?;
    reopen_if_stale(&mut run);
    if test.attempts > 0 {
        diesel::insert_into(test_attempts::table)
            .values(test.current_attempt())
            .execute(conn)?;
        test.message = None;
    }
    test.attempts = i64::from(attempt);
    if let Some(other) = run.running_test_id {
        let other: Option<TestRow> = tests::table
            .find(other)
            .select(TestRow::as_select())
            .first(conn)
            .optional()?;
        if let Some(mut other) = other {
            move_test(
                conn,
                &mut other,
                &mut run,
                Status::Unknown,
                start.timestamp_start,
            )?;
        }
    }
    move_test(
        conn,
        &mut test,
        &mut run,
        Status::Running,
        start.timestamp_start,
    )?;
    run.last_event_at = now.as_micros();
    diesel::update(&run).set(&run).execute(conn)?;
    Ok(Applied {
        kind: EventKind::TestStart,
        machine_id: machine.id,
        run_id: run.id,
        run_status: rows::status(&run.status)?,
        test_id: Some(test.id),
        duplicate: false,
    })
}

/// A test the store presumed `unknown` when it closed or superseded the run, which a late event
/// may still move as if it were `wanted` (`stpt_core::store::presumed_for`): the one at
/// `index`, else the first in plan order with this path and name. Only tests with no stop of
/// their own qualify, so the lookup stays in the `tests_lookup` index range of `unknown`.
fn find_presumed(
    conn: &mut Conn,
    run_id: RunId,
    file_path: &str,
    file_name: &str,
    index: Option<u32>,
    wanted: Status,
) -> Result<Option<TestRow>, OpError> {
    let test = match index {
        Some(index) => test_at(conn, run_id, index)?,
        None => {
            let query = tests::table
                .filter(tests::run_id.eq(run_id))
                .filter(tests::file_path.eq(file_path))
                .filter(tests::file_name.eq(file_name))
                .filter(tests::status.eq(Status::Unknown.as_str()))
                .filter(tests::timestamp_stop.is_null())
                .order(tests::position.asc())
                .select(TestRow::as_select());
            if wanted == Status::Running {
                query
                    .filter(tests::timestamp_start.is_not_null())
                    .first(conn)
                    .optional()?
            } else {
                query
                    .filter(tests::timestamp_start.is_null())
                    .first(conn)
                    .optional()?
            }
        }
    };
    test.map(|t| -> Result<Option<TestRow>, OpError> {
        let presumed = stpt_core::store::presumed_for(
            rows::status(&t.status)?,
            t.timestamp_start.map(rows::timestamp).transpose()?,
            t.timestamp_stop.map(rows::timestamp).transpose()?,
        );
        Ok(
            (presumed == Some(wanted) && t.file_path == file_path && t.file_name == file_name)
                .then_some(t),
        )
    })
    .transpose()
    .map(Option::flatten)
}

/// A run that hears from its rig again is no longer closed as stale.
fn reopen_if_stale(run: &mut RunRow) {
    if run.closed_as.as_deref() == Some(Closure::Stale.as_str()) {
        run.closed_as = None;
        run.closed_at = None;
    }
}

/// The finished test a start of attempt `attempt` (≥ 2) retries: the one at `index`, else the
/// first in plan order with this path and name and `attempt − 1` attempts.
fn find_retry(
    conn: &mut Conn,
    run_id: RunId,
    start: &TestStart,
    attempt: u32,
) -> Result<Option<TestRow>, OpError> {
    let previous = i64::from(attempt) - 1;
    let test = match start.index {
        Some(index) => test_at(conn, run_id, index)?,
        None => tests::table
            .filter(tests::run_id.eq(run_id))
            .filter(tests::file_path.eq(&start.file_path))
            .filter(tests::file_name.eq(&start.file_name))
            .filter(tests::status.ne_all(ONGOING))
            .filter(tests::attempts.eq(previous))
            .order(tests::position.asc())
            .select(TestRow::as_select())
            .first(conn)
            .optional()?,
    };
    Ok(test.filter(|t| {
        t.attempts == previous
            && !ONGOING.contains(&t.status.as_str())
            && t.file_path == start.file_path
            && t.file_name == start.file_name
    }))
}

fn apply_stop(
    conn: &mut Conn,
    stop: &TestStop,
    machine: &MachineRow,
    now: Timestamp,
) -> Result<Applied, OpError> {
    let no_match = || StoreError::NoMatchingTest {
        machine: stop.machine_name.clone(),
        file_path: stop.file_path.clone(),
        file_name: stop.file_name.clone(),
        wanted: Status::Running,
        index: stop.index,
    };
    let mut run = target_run(conn, machine, stop.run_id, no_match)?;
    let test = match (stop.index, run.running_test_id) {
        (Some(index), _) => test_at(conn, run.id, index)?,
        (None, Some(running)) => tests::table
            .find(running)
            .select(TestRow::as_select())
            .first(conn)
            .optional()?,
        (None, None) => None,
    };
    let mut test =
        match test.filter(|t| matches(t, &stop.file_path, &stop.file_name, Status::Running)) {
            Some(test) => Some(test),
            None => find_presumed(
                conn,
                run.id,
                &stop.file_path,
                &stop.file_name,
                stop.index,
                Status::Running,
            )?,
        }
        .ok_or_else(no_match)?;
    if let Some(given) = stop.attempt
        && i64::from(given) != test.attempts
    {
        return Err(OpError::Store(StoreError::AttemptMismatch {
            machine: stop.machine_name.clone(),
            file_path: stop.file_path.clone(),
            file_name: stop.file_name.clone(),
            given,
            running: u32::try_from(test.attempts).unwrap_or(0),
        }));
    }
    reopen_if_stale(&mut run);
    test.message = stop.message.clone();
    move_test(conn, &mut test, &mut run, stop.status, stop.timestamp_stop)?;
    if stop.status == Status::Cancelled {
        finish_ongoing(conn, &mut run, Status::Cancelled, stop.timestamp_stop)?;
    }
    run.last_event_at = now.as_micros();
    diesel::update(&run).set(&run).execute(conn)?;
    Ok(Applied {
        kind: EventKind::TestStop,
        machine_id: machine.id,
        run_id: run.id,
        run_status: rows::status(&run.status)?,
        test_id: Some(test.id),
        duplicate: false,
    })
}

/// Moves one test to `new`: saves the test and its scenario, updates `run` in memory (the
/// caller saves it once).
fn move_test(
    conn: &mut Conn,
    test: &mut TestRow,
    run: &mut RunRow,
    new: Status,
    at: Timestamp,
) -> Result<(), OpError> {
    let old = rows::status(&test.status)?;
    test.status = new.as_str().to_owned();
    match new {
        Status::Running => {
            test.timestamp_start = Some(at.as_micros());
            test.timestamp_stop = None;
        }
        Status::Waiting => {}
        _ => test.timestamp_stop = Some(at.as_micros()),
    }
    diesel::update(&*test).set(&*test).execute(conn)?;

    let mut scenario: ScenarioRow = scenarios::table
        .find(test.scenario_id)
        .select(ScenarioRow::as_select())
        .first(conn)?;
    let mut progress = scenario.progress()?;
    progress.test_moved(old, new, at);
    scenario.set_progress(&progress);
    diesel::update(&scenario).set(&scenario).execute(conn)?;

    let mut progress = run.progress()?;
    progress.test_moved(old, new, at);
    run.set_progress(&progress);
    if old == Status::Running && run.running_test_id == Some(test.id) {
        run.running_test_id = None;
    }
    if new == Status::Running {
        run.running_test_id = Some(test.id);
    }
    Ok(())
}

/// Moves every ongoing test of `run` to `to` (cancelled, or superseded by a dry run); updates
/// `run` in memory (the caller saves it).
fn finish_ongoing(
    conn: &mut Conn,
    run: &mut RunRow,
    to: Status,
    at: Timestamp,
) -> Result<(), OpError> {
    if run.counts().ongoing() == 0 {
        return Ok(());
    }
    let ongoing: Vec<ScenarioRow> = scenarios::table
        .filter(scenarios::run_id.eq(run.id))
        .filter(scenarios::n_running.gt(0).or(scenarios::n_waiting.gt(0)))
        .select(ScenarioRow::as_select())
        .load(conn)?;
    for mut scenario in ongoing {
        let mut progress = scenario.progress()?;
        progress.ongoing_finished(to, at);
        scenario.set_progress(&progress);
        diesel::update(&scenario).set(&scenario).execute(conn)?;
    }
    diesel::update(
        tests::table
            .filter(tests::run_id.eq(run.id))
            .filter(tests::status.eq_any(ONGOING)),
    )
    .set(tests::status.eq(to.as_str()))
    .execute(conn)?;
    let mut progress = run.progress()?;
    progress.ongoing_finished(to, at);
    run.set_progress(&progress);
    run.running_test_id = None;
    Ok(())
}

pub(crate) fn machines(
    conn: &mut Conn,
    page: PageRequest,
) -> Result<Page<MachineSummary>, OpError> {
    let total: i64 = machines::table.count().get_result(conn)?;
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
        .get_result(conn)?;
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
    let total: i64 = filtered_runs(filter).count().get_result(conn)?;
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
    let mut run: RunRow = runs::table
        .find(run_id)
        .select(RunRow::as_select())
        .first(conn)?;
    let silent = idle_since.is_none_or(|idle| run.last_event_at < idle.as_micros());
    if run.counts().ongoing() > 0 && silent {
        finish_ongoing(conn, &mut run, stpt_core::store::closing_status(why), at)?;
        run.closed_at = Some(at.as_micros());
        run.closed_as = Some(why.as_str().to_owned());
        diesel::update(&run).set(&run).execute(conn)?;
    }
    Ok(summaries(conn, std::slice::from_ref(&run))?.pop())
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
            .get_result(conn)?;
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

#[allow(
    dead_code,
    reason = "only the SQLite writer batches events; this file is compiled for both"
)]
/// Either kind of write inside the caller's transaction: output with `limit`, any other
/// event as [`apply_within`] does.
pub(crate) fn apply_with_limit_within(
    conn: &mut Conn,
    event: &Event,
    limit: OutputLimit,
    now: Timestamp,
) -> Result<Applied, OpError> {
    match event {
        Event::TestOutput(output) => append_output_within(conn, output, limit, now),
        other => apply_within(conn, other, now),
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
    if let Some(row) = output_events::table
        .find(&batch.event_id)
        .select(OutputEventRow::as_select())
        .first(conn)
        .optional()?
    {
        if row.machine_id != machine.id {
            return Err(OpError::Store(StoreError::EventIdReused {
                event_id: batch.event_id.clone(),
                machine: batch.machine_name.clone(),
            }));
        }
        let run_status = runs::table
            .find(row.run_id)
            .select(runs::status)
            .first::<String>(conn)
            .optional()?;
        return Ok(Applied {
            kind: EventKind::TestOutput,
            machine_id: row.machine_id,
            run_id: row.run_id,
            run_status: run_status
                .map(|s| rows::status(&s))
                .transpose()?
                .unwrap_or(Status::Unknown),
            test_id: Some(row.test_id),
            duplicate: true,
        });
    }
    let run = target_run(conn, &machine, output.run_id, || StoreError::UnknownRun {
        run_id: 0,
        machine: machine.name.clone(),
    })?;
    let test_id = tests::table
        .filter(tests::run_id.eq(run.id))
        .filter(tests::position.eq(i64::from(output.index)))
        .select(tests::id)
        .first::<i64>(conn)
        .optional()?
        .ok_or(StoreError::UnknownTest {
            run_id: run.id,
            index: output.index,
        })?;
    let before = test_outputs::table
        .find(test_id)
        .select(OutputRow::as_select())
        .first(conn)
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
    diesel::insert_into(output_events::table)
        .values(OutputEventRow {
            event_id: batch.event_id.clone(),
            machine_id: machine.id,
            run_id: run.id,
            test_id,
            applied_at: now.as_micros(),
        })
        .execute(conn)?;
    Ok(Applied {
        kind: EventKind::TestOutput,
        machine_id: machine.id,
        run_id: run.id,
        run_status: rows::status(&run.status)?,
        test_id: Some(test_id),
        duplicate: false,
    })
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
        .first(conn)
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
