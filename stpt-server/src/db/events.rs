//! Applying events: dry runs, starts and stops, written once in diesel's DSL and compiled for
//! each backend.
//!
//! `db::sqlite` and `db::postgres` each declare this file as their submodule (`#[path]`) and
//! define `Conn`, `in_transaction`, `machine_for_update` and `insert_tests`, the only
//! backend-specific pieces.
//!
//! A writer passes its [`Known`] state: each machine's row and current run as the writer last
//! wrote them, so a start or stop does not read them back. What one event costs:
//!
//! - **start** (seed form): the test and its scenario in one indexed read (`tests_lookup`
//!   joined to the scenario's primary key); then the test, the scenario and the run saved
//!   (`save_move`: three `UPDATE`s naming only the columns an event changes on SQLite, one
//!   statement on PostgreSQL). A test left running costs one more read and two more writes.
//! - **stop**: the same, the test found by `runs.running_test_id`.
//! - with an `event_id`, one probe of `applied_events` and one insert into it.
//! - the machine and its run are read only when the writer does not know them (first event
//!   after a restart, or after another connection wrote).
//!
//! Look-ups take their first row with `get_result`, never `first()`: `first()` binds its
//! `LIMIT 1` as a parameter, and SQLite (3.53) marks a statement whose `LIMIT` is a bound
//! parameter to be prepared again whenever that parameter is bound, which made every cached
//! look-up re-prepare on every event. Each look-up here is by a unique key or reads rows in
//! index order and stops stepping after the first, so no `LIMIT` is needed.

use diesel::prelude::*;
use stpt_core::{
    Applied, Closure, DryRun, Event, EventKind, Labels, MachineId, Progress, RunId, Status,
    StoreError, TestStart, TestStop, Timestamp, lay_out,
};

use super::ops::{INSERT_CHUNK, append_output_within, name_key};
use super::{Conn, in_transaction, insert_tests, machine_for_update, save_move};
use crate::db::OpError;
use crate::db::known::{Known, KnownMachine};
use crate::db::rows::{
    self, AppliedEventRow, MachineRow, NewMachine, NewRun, NewScenario, NewTest, OutputEventRow,
};
use crate::db::saves::{SaveRun, SaveScenario, SaveTest};
use crate::db::schema::{
    applied_events, machines, output_events, run_labels, runs, scenarios, test_attempts, tests,
};
use crate::db::state_rows::{RunState, ScenarioState, TestState};
use crate::db::writer::Work;
use stpt_core::output::OutputLimit;

pub(super) const ONGOING: [&str; 2] = [Status::Running.as_str(), Status::Waiting.as_str()];

/// A test with its scenario, as one joined read gives them.
type TestInScenario = (TestState, ScenarioState);

/// Applies one event in one transaction; a rejection rolls everything back.
///
/// Two deliveries of one new event racing on two connections both pass the id check only
/// when their machine is new or differs; the loser's insert of the id then violates its key,
/// and one more try finds the winner's row and answers as a duplicate (or a reused id).
pub(crate) fn apply(conn: &mut Conn, event: &Event, now: Timestamp) -> Result<Applied, OpError> {
    use diesel::result::{DatabaseErrorKind, Error};
    match in_transaction(conn, |conn| {
        apply_within(conn, event, now, &mut Known::default())
    }) {
        Err(OpError::Db(Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _))) => {
            in_transaction(conn, |conn| {
                apply_within(conn, event, now, &mut Known::default())
            })
        }
        answer => answer,
    }
}

/// Either kind of write inside the caller's transaction: output with `limit`, any other
/// event as [`apply_within`] does.
pub(crate) fn apply_with_limit_within(
    conn: &mut Conn,
    event: &Event,
    limit: OutputLimit,
    now: Timestamp,
    known: &mut Known,
) -> Result<Applied, OpError> {
    match event {
        Event::TestOutput(output) => append_output_within(conn, output, limit, now),
        other => apply_within(conn, other, now, known),
    }
}

/// Applies one event inside the caller's transaction (or savepoint), with what the writer
/// knows. `known` is updated only when the event applied; a refused event changes nothing.
///
/// The machine's row is locked before the event id is looked up, so a duplicate delivered
/// while the first is being applied waits for it and then finds it applied.
pub(crate) fn apply_within(
    conn: &mut Conn,
    event: &Event,
    now: Timestamp,
    known: &mut Known,
) -> Result<Applied, OpError> {
    if let Event::TestOutput(output) = event {
        return append_output_within(conn, output, OutputLimit::default(), now);
    }
    let key = name_key(event.machine_name());
    let mut machine = match known.get(&key) {
        Some(machine) => Some(machine.clone()),
        None => machine_for_update(conn, &key)?.map(KnownMachine::new),
    };
    if let Some(applied) = already_applied(conn, event, machine.as_ref().map(|m| &m.row))? {
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
        machine = machine_for_update(conn, &key)?.map(KnownMachine::new);
        // A racing first dry run of this machine may have committed meanwhile.
        if let Some(applied) = already_applied(conn, event, machine.as_ref().map(|m| &m.row))? {
            return Ok(applied);
        }
    }
    let mut machine = machine.ok_or_else(|| StoreError::UnknownMachine {
        name: event.machine_name().to_owned(),
    })?;
    let applied = match event {
        Event::DryRun(dry) => apply_dry_run(conn, dry, &mut machine, now)?,
        Event::TestStart(start) => apply_start(conn, start, &mut machine, now)?,
        Event::TestStop(stop) => apply_stop(conn, stop, &mut machine, now)?,
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
    known.put(key, machine);
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
            .get_result::<i64>(conn)
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

/// The answer an event id got when it was applied, as a duplicate's answer: ids are one
/// namespace across every kind, output included (`output_events` holds output's).
pub(super) fn find_applied(conn: &mut Conn, event_id: &str) -> Result<Option<Applied>, OpError> {
    let found = match applied_events::table
        .find(event_id)
        .select(AppliedEventRow::as_select())
        .get_result(conn)
        .optional()?
    {
        Some(row) => Some((
            rows::event_kind(&row.kind)?,
            row.machine_id,
            row.run_id,
            row.test_id,
        )),
        None => output_events::table
            .find(event_id)
            .select(OutputEventRow::as_select())
            .get_result(conn)
            .optional()?
            .map(|row| {
                (
                    EventKind::TestOutput,
                    row.machine_id,
                    row.run_id,
                    Some(row.test_id),
                )
            }),
    };
    let Some((kind, machine_id, run_id, test_id)) = found else {
        return Ok(None);
    };
    let run_status: Option<String> = runs::table
        .find(run_id)
        .select(runs::status)
        .get_result(conn)
        .optional()?;
    Ok(Some(Applied {
        kind,
        machine_id,
        run_id,
        run_status: run_status
            .as_deref()
            .map(rows::status)
            .transpose()?
            .unwrap_or(Status::Unknown),
        test_id,
        duplicate: true,
    }))
}

fn apply_dry_run(
    conn: &mut Conn,
    dry: &DryRun,
    machine: &mut KnownMachine,
    now: Timestamp,
) -> Result<Applied, OpError> {
    close_ongoing_runs(conn, machine.row.id, dry.timestamp, now)?;

    let master = &dry.master_scenario;
    let test_count: usize = master.scenarios.iter().map(|s| s.tests.len()).sum();
    let empty = master
        .scenarios
        .iter()
        .filter(|s| s.tests.is_empty())
        .count();
    let progress = Progress::planned(test_count as u64, empty as u64);
    let run_id = insert_run(conn, dry, &machine.row, &progress, test_count, empty, now)?;
    insert_labels(conn, run_id, &dry.labels)?;
    insert_plan(conn, master, run_id, machine.row.id)?;
    diesel::update(machines::table.find(machine.row.id))
        .set(machines::last_run_id.eq(run_id))
        .execute(conn)?;
    machine.row.last_run_id = Some(run_id);
    machine.run = None;
    Ok(Applied {
        kind: EventKind::DryRun,
        machine_id: machine.row.id,
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
    let ongoing: Vec<RunState> = runs::table
        .filter(runs::machine_id.eq(machine_id))
        .filter(runs::n_running.gt(0).or(runs::n_waiting.gt(0)))
        .select(RunState::as_select())
        .load(conn)?;
    for mut run in ongoing {
        finish_ongoing(conn, &mut run, Status::Unknown, at)?;
        run.last_event_at = now.as_micros();
        SaveRun(&run).execute(conn)?;
    }
    Ok(())
}

/// Inserts the run row of a dry run; answers its id.
fn insert_run(
    conn: &mut Conn,
    dry: &DryRun,
    machine: &MachineRow,
    progress: &Progress,
    test_count: usize,
    empty: usize,
    now: Timestamp,
) -> Result<i64, OpError> {
    let master = &dry.master_scenario;
    Ok(diesel::insert_into(runs::table)
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
        .returning(runs::id)
        .get_result(conn)?)
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

/// Inserts a run's plan: its scenarios, then its tests, as [`lay_out`] numbers them.
fn insert_plan(
    conn: &mut Conn,
    master: &stpt_core::MasterScenarioPlan,
    run_id: i64,
    machine_id: MachineId,
) -> Result<(), OpError> {
    let layout = lay_out(master);
    let new_scenarios: Vec<NewScenario<'_>> = layout
        .scenarios
        .iter()
        .map(|scenario| NewScenario {
            occurrence: i64::from(scenario.occurrence),
            run_id,
            position: i64::from(scenario.position),
            file_name: scenario.file_name,
            file_path: scenario.file_path,
            script: scenario.script,
            status: Progress::planned(scenario.test_count as u64, 0)
                .status
                .as_str(),
            n_waiting: scenario.test_count as i64,
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
    let new_tests: Vec<NewTest<'_>> = layout
        .tests
        .iter()
        .filter_map(|test| {
            Some(NewTest {
                run_id,
                scenario_id: *scenario_ids.get(test.scenario)?,
                position: i64::from(test.position),
                file_name: test.file_name,
                file_path: test.file_path,
                script: test.script,
                status: Status::Waiting.as_str(),
                machine_id,
                occurrence: i64::from(test.occurrence),
            })
        })
        .collect();
    insert_tests(conn, &new_tests)?;
    Ok(())
}

/// The run an event addresses: `run_id` if given (it must be the machine's), else the
/// machine's newest run; never an aborted one. The writer's copy when it has the run.
pub(super) fn target_run(
    conn: &mut Conn,
    machine: &KnownMachine,
    run_id: Option<RunId>,
    no_match: impl FnOnce() -> StoreError,
) -> Result<RunState, OpError> {
    let wanted = match run_id {
        Some(id) => id,
        None => machine.row.last_run_id.ok_or_else(no_match)?,
    };
    let run = match &machine.run {
        Some(run) if run.id == wanted => run.clone(),
        _ => runs::table
            .find(wanted)
            .filter(runs::machine_id.eq(machine.row.id))
            .select(RunState::as_select())
            .get_result(conn)
            .optional()?
            .ok_or_else(|| {
                OpError::Store(StoreError::UnknownRun {
                    run_id: wanted,
                    machine: machine.row.name.clone(),
                })
            })?,
    };
    if run.closed_as.as_deref() == Some(Closure::Aborted.as_str()) {
        return Err(OpError::Store(StoreError::RunAborted {
            run_id: run.id,
            machine: machine.row.name.clone(),
        }));
    }
    Ok(run)
}

/// Keeps `run` as the machine's known run when it is the machine's newest.
fn remember(machine: &mut KnownMachine, run: RunState) {
    if machine.row.last_run_id == Some(run.id) {
        machine.run = Some(run);
    }
}

/// The test and its scenario, selected together.
fn with_scenario() -> (
    diesel::dsl::AsSelect<TestState, super::Backend>,
    diesel::dsl::AsSelect<ScenarioState, super::Backend>,
) {
    (TestState::as_select(), ScenarioState::as_select())
}

fn test_at(conn: &mut Conn, run_id: RunId, index: u32) -> Result<Option<TestInScenario>, OpError> {
    Ok(tests::table
        .inner_join(scenarios::table)
        .filter(tests::run_id.eq(run_id))
        .filter(tests::position.eq(i64::from(index)))
        .select(with_scenario())
        .get_result(conn)
        .optional()?)
}

fn test_by_id(conn: &mut Conn, id: i64) -> Result<Option<TestInScenario>, OpError> {
    Ok(tests::table
        .inner_join(scenarios::table)
        .filter(tests::id.eq(id))
        .select(with_scenario())
        .get_result(conn)
        .optional()?)
}

fn matches(found: &TestInScenario, file_path: &str, file_name: &str, wanted: Status) -> bool {
    let test = &found.0;
    test.status == wanted.as_str() && test.file_path == file_path && test.file_name == file_name
}

fn apply_start(
    conn: &mut Conn,
    start: &TestStart,
    machine: &mut KnownMachine,
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
    let (mut test, mut scenario) = if attempt >= 2 {
        find_retry(conn, run.id, start, attempt)?
    } else {
        find_waiting(conn, run.id, start)?
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
    unseat_running(
        conn,
        &mut run,
        test.id,
        &mut scenario,
        start.timestamp_start,
    )?;
    move_test(
        &mut test,
        &mut scenario,
        &mut run,
        Status::Running,
        start.timestamp_start,
    )?;
    run.last_event_at = now.as_micros();
    save_move(conn, &test, &scenario, &run)?;
    let run_status = rows::status(&run.status)?;
    let run_id = run.id;
    remember(machine, run);
    Ok(Applied {
        kind: EventKind::TestStart,
        machine_id: machine.row.id,
        run_id,
        run_status,
        test_id: Some(test.id),
        duplicate: false,
    })
}

/// The test a first attempt's start addresses: the one at `index`, else the first waiting one
/// in plan order with its path and name; failing that, one the store presumed `unknown`.
fn find_waiting(
    conn: &mut Conn,
    run_id: RunId,
    start: &TestStart,
) -> Result<Option<TestInScenario>, OpError> {
    let found = match start.index {
        Some(index) => test_at(conn, run_id, index)?,
        None => tests::table
            .inner_join(scenarios::table)
            .filter(tests::run_id.eq(run_id))
            .filter(tests::file_path.eq(&start.file_path))
            .filter(tests::file_name.eq(&start.file_name))
            .filter(tests::status.eq(Status::Waiting.as_str()))
            .order(tests::position.asc())
            .select(with_scenario())
            .get_result(conn)
            .optional()?,
    };
    match found.filter(|t| matches(t, &start.file_path, &start.file_name, Status::Waiting)) {
        Some(found) => Ok(Some(found)),
        None => find_presumed(
            conn,
            run_id,
            &start.file_path,
            &start.file_name,
            start.index,
            Status::Waiting,
        ),
    }
}

/// A start's second step: the run's running test, if another than `starting`, becomes
/// `unknown` at `at`, and is saved. `scenario`, the starting test's, takes the change when it
/// is the other's too.
fn unseat_running(
    conn: &mut Conn,
    run: &mut RunState,
    starting: i64,
    scenario: &mut ScenarioState,
    at: Timestamp,
) -> Result<(), OpError> {
    if let Some(other) = run.running_test_id.filter(|other| *other != starting)
        && let Some((mut other, mut other_scenario)) = test_by_id(conn, other)?
    {
        move_test(&mut other, &mut other_scenario, run, Status::Unknown, at)?;
        SaveTest(&other).execute(conn)?;
        SaveScenario(&other_scenario).execute(conn)?;
        if other_scenario.id == scenario.id {
            *scenario = other_scenario;
        }
    }
    Ok(())
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
) -> Result<Option<TestInScenario>, OpError> {
    let found = match index {
        Some(index) => test_at(conn, run_id, index)?,
        None => {
            let query = tests::table
                .inner_join(scenarios::table)
                .filter(tests::run_id.eq(run_id))
                .filter(tests::file_path.eq(file_path))
                .filter(tests::file_name.eq(file_name))
                .filter(tests::status.eq(Status::Unknown.as_str()))
                .filter(tests::timestamp_stop.is_null())
                .order(tests::position.asc())
                .select(with_scenario());
            if wanted == Status::Running {
                query
                    .filter(tests::timestamp_start.is_not_null())
                    .get_result(conn)
                    .optional()?
            } else {
                query
                    .filter(tests::timestamp_start.is_null())
                    .get_result(conn)
                    .optional()?
            }
        }
    };
    found
        .map(|found| -> Result<Option<TestInScenario>, OpError> {
            let t = &found.0;
            let presumed = stpt_core::store::presumed_for(
                rows::status(&t.status)?,
                t.timestamp_start.map(rows::timestamp).transpose()?,
                t.timestamp_stop.map(rows::timestamp).transpose()?,
            );
            Ok(
                (presumed == Some(wanted) && t.file_path == file_path && t.file_name == file_name)
                    .then_some(found),
            )
        })
        .transpose()
        .map(Option::flatten)
}

/// A run that hears from its rig again is no longer closed as stale.
fn reopen_if_stale(run: &mut RunState) {
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
) -> Result<Option<TestInScenario>, OpError> {
    let previous = i64::from(attempt) - 1;
    let found = match start.index {
        Some(index) => test_at(conn, run_id, index)?,
        None => tests::table
            .inner_join(scenarios::table)
            .filter(tests::run_id.eq(run_id))
            .filter(tests::file_path.eq(&start.file_path))
            .filter(tests::file_name.eq(&start.file_name))
            .filter(tests::status.ne_all(ONGOING))
            .filter(tests::attempts.eq(previous))
            .order(tests::position.asc())
            .select(with_scenario())
            .get_result(conn)
            .optional()?,
    };
    Ok(found.filter(|(t, _)| {
        t.attempts == previous
            && !ONGOING.contains(&t.status.as_str())
            && t.file_path == start.file_path
            && t.file_name == start.file_name
    }))
}

fn apply_stop(
    conn: &mut Conn,
    stop: &TestStop,
    machine: &mut KnownMachine,
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
    let found = match (stop.index, run.running_test_id) {
        (Some(index), _) => test_at(conn, run.id, index)?,
        (None, Some(running)) => test_by_id(conn, running)?,
        (None, None) => None,
    };
    let (mut test, mut scenario) =
        match found.filter(|t| matches(t, &stop.file_path, &stop.file_name, Status::Running)) {
            Some(found) => Some(found),
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
    move_test(
        &mut test,
        &mut scenario,
        &mut run,
        stop.status,
        stop.timestamp_stop,
    )?;
    run.last_event_at = now.as_micros();
    save_move(conn, &test, &scenario, &run)?;
    if stop.status == Status::Cancelled {
        finish_ongoing(conn, &mut run, Status::Cancelled, stop.timestamp_stop)?;
        SaveRun(&run).execute(conn)?;
    }
    let run_status = rows::status(&run.status)?;
    let run_id = run.id;
    remember(machine, run);
    Ok(Applied {
        kind: EventKind::TestStop,
        machine_id: machine.row.id,
        run_id,
        run_status,
        test_id: Some(test.id),
        duplicate: false,
    })
}

/// Moves one test to `new`, with its scenario's and its run's progress, in memory (the
/// caller saves them).
fn move_test(
    test: &mut TestState,
    scenario: &mut ScenarioState,
    run: &mut RunState,
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

    let mut progress = scenario.progress()?;
    progress.test_moved(old, new, at);
    scenario.set_progress(&progress);

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
pub(super) fn finish_ongoing(
    conn: &mut Conn,
    run: &mut RunState,
    to: Status,
    at: Timestamp,
) -> Result<(), OpError> {
    if run.counts().ongoing() == 0 {
        return Ok(());
    }
    let ongoing: Vec<ScenarioState> = scenarios::table
        .filter(scenarios::run_id.eq(run.id))
        .filter(scenarios::n_running.gt(0).or(scenarios::n_waiting.gt(0)))
        .select(ScenarioState::as_select())
        .load(conn)?;
    for mut scenario in ongoing {
        let mut progress = scenario.progress()?;
        progress.ongoing_finished(to, at);
        scenario.set_progress(&progress);
        SaveScenario(&scenario).execute(conn)?;
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

/// Applies `work` in order inside the caller's transaction: a refusal is that event's answer
/// and the batch goes on; a database failure ends it (the caller rolls back).
pub(crate) fn apply_each(
    conn: &mut Conn,
    known: &mut Known,
    work: &[Work<'_>],
) -> Result<Vec<Result<Applied, StoreError>>, OpError> {
    let mut answers = Vec::with_capacity(work.len());
    for one in work {
        match apply_with_limit_within(conn, one.event, one.limit, one.now, known) {
            Ok(applied) => answers.push(Ok(applied)),
            Err(OpError::Store(refused)) => answers.push(Err(refused)),
            Err(failed) => return Err(failed),
        }
    }
    Ok(answers)
}
