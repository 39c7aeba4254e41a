//! A load generator for the history benchmarks, compiled only with the `bench-loaders`
//! feature (the benchmarks and the server's own tests turn it on): it writes finished runs
//! straight into the tables, which no event path does.
//!
//! `db::sqlite` and `db::postgres` each declare this file as their submodule (`#[path]`).

use std::collections::HashMap;

use diesel::prelude::*;
use stpt_core::{Status, StoreError, Timestamp};

use super::ops::{INSERT_CHUNK, name_key};
use super::{Conn, in_transaction, machine_for_update};
use crate::db::OpError;
use crate::db::rows::NewMachine;
use crate::db::schema::{machines, run_labels, runs, scenarios, tests};

/// The labels of generated run `r` (counting from 0): `branch` is `main` for six runs in ten,
/// `release` for two, `feature-a` and `feature-b` for one each; `suite` alternates between
/// `full` (even `r`) and `smoke`.
fn generated_labels(r: u32) -> [(&'static str, &'static str); 2] {
    let branch = match r % 10 {
        0..=5 => "main",
        6 | 7 => "release",
        8 => "feature-a",
        _ => "feature-b",
    };
    let suite = if r.is_multiple_of(2) { "full" } else { "smoke" };
    [("branch", branch), ("suite", suite)]
}

/// Writes `runs` finished runs of `tests` tests (one scenario) for `machine`, a minute apart
/// from `first`, with multi-row inserts: a load generator for the history benchmarks, not an
/// event path. Test `i` of run `r` fails when `(r + i) % 37 == 0`, test 0 alternates, and
/// durations vary with `i` and `r`; each run carries the labels [`generated_labels`] gives
/// (so label searches have something to find).
pub(crate) fn generate_history(
    conn: &mut Conn,
    machine: &str,
    runs: u32,
    tests: u32,
    first: Timestamp,
) -> Result<(), OpError> {
    const RUNS_PER_CHUNK: u32 = 200;
    let key = name_key(machine);
    let names: Vec<String> = (0..tests).map(|i| format!("test_{i:04}.py")).collect();
    in_transaction(conn, |conn| {
        diesel::insert_into(machines::table)
            .values(NewMachine {
                name: machine,
                name_key: &key,
            })
            .on_conflict(machines::name_key)
            .do_nothing()
            .execute(conn)?;
        let machine = machine_for_update(conn, &key)?.ok_or_else(|| StoreError::Backend {
            reason: format!("machine {machine:?} vanished while being created"),
            source: None,
        })?;
        let mut done = 0;
        while done < runs {
            let count = RUNS_PER_CHUNK.min(runs - done);
            let outcomes: Vec<Outcome> = (done..done + count)
                .map(|r| Outcome::of_run(r, tests, first))
                .collect();
            let run_ids = insert_runs(conn, machine.id, &outcomes, tests)?;
            insert_labels(conn, &run_ids, done)?;
            let scenario_of = insert_scenarios(conn, &run_ids, &outcomes)?;
            insert_tests(conn, machine.id, &run_ids, &scenario_of, &outcomes, &names)?;
            if let Some(last) = run_ids.last() {
                diesel::update(machines::table.find(machine.id))
                    .set(machines::last_run_id.eq(*last))
                    .execute(conn)?;
            }
            done += count;
        }
        Ok(())
    })
}

/// How generated run `r` went: when it started, its status, its failed tests, and each test's
/// status and duration (microseconds).
struct Outcome {
    start: i64,
    status: Status,
    failed: i64,
    statuses: Vec<(Status, i64)>,
}

impl Outcome {
    /// Run `r` of `tests` tests, `r` minutes after `first`, by the rule [`generate_history`]
    /// states.
    fn of_run(r: u32, tests: u32, first: Timestamp) -> Outcome {
        const MINUTE: i64 = 60_000_000;
        let start = first.as_micros() + i64::from(r) * MINUTE;
        let statuses: Vec<(Status, i64)> = (0..tests)
            .map(|i| {
                let failed = (r + i).is_multiple_of(37) || (i == 0 && r % 2 == 1);
                let status = if failed {
                    Status::Failed
                } else {
                    Status::Passed
                };
                (status, 1_000_000 * i64::from(1 + i % 10 + r % 3))
            })
            .collect();
        let failed = statuses
            .iter()
            .filter(|(s, _)| *s == Status::Failed)
            .count() as i64;
        let status = if failed > 0 {
            Status::Failed
        } else {
            Status::Passed
        };
        Outcome {
            start,
            status,
            failed,
            statuses,
        }
    }

    /// The run's whole duration, microseconds.
    fn total(&self) -> i64 {
        self.statuses.iter().map(|(_, d)| d).sum()
    }
}

/// Inserts the runs of `outcomes` for machine `machine_id`; answers their ids in order.
fn insert_runs(
    conn: &mut Conn,
    machine_id: i64,
    outcomes: &[Outcome],
    tests: u32,
) -> Result<Vec<i64>, OpError> {
    let new_runs: Vec<GeneratedRun<'_>> = outcomes
        .iter()
        .map(|outcome| GeneratedRun {
            machine_id,
            timestamp: outcome.start,
            file_name: "master.py",
            file_path: "/generated",
            status: outcome.status.as_str(),
            timestamp_start: Some(outcome.start),
            timestamp_stop: Some(outcome.start + outcome.total()),
            scenarios_count: 1,
            empty_scenarios: 0,
            test_count: i64::from(tests),
            last_event_at: outcome.start + outcome.total(),
            n_failed: outcome.failed,
            n_passed: i64::from(tests) - outcome.failed,
        })
        .collect();
    diesel::insert_into(runs::table)
        .values(&new_runs)
        .execute(conn)?;
    let mut run_ids: Vec<i64> = runs::table
        .filter(runs::machine_id.eq(machine_id))
        .order(runs::id.desc())
        .limit(new_runs.len() as i64)
        .select(runs::id)
        .load(conn)?;
    run_ids.reverse();
    Ok(run_ids)
}

/// Inserts the labels of the runs `run_ids`, generated runs `first`, `first + 1`…
fn insert_labels(conn: &mut Conn, run_ids: &[i64], first: u32) -> Result<(), OpError> {
    let new_labels: Vec<_> = run_ids
        .iter()
        .zip(first..)
        .flat_map(|(run_id, r)| {
            generated_labels(r).map(|(key, value)| {
                (
                    run_labels::run_id.eq(*run_id),
                    run_labels::label_key.eq(key),
                    run_labels::label_value.eq(value),
                )
            })
        })
        .collect();
    diesel::insert_into(run_labels::table)
        .values(&new_labels)
        .execute(conn)?;
    Ok(())
}

/// Inserts each run's one scenario; answers the scenario of each run.
fn insert_scenarios(
    conn: &mut Conn,
    run_ids: &[i64],
    outcomes: &[Outcome],
) -> Result<HashMap<i64, i64>, OpError> {
    let new_scenarios: Vec<GeneratedScenario<'_>> = run_ids
        .iter()
        .zip(outcomes)
        .map(|(run_id, outcome)| GeneratedScenario {
            run_id: *run_id,
            position: 0,
            file_name: "scenario.py",
            file_path: "/generated",
            status: outcome.status.as_str(),
            timestamp_start: Some(outcome.start),
            timestamp_stop: Some(outcome.start + outcome.total()),
            n_failed: outcome.failed,
            n_passed: outcome.statuses.len() as i64 - outcome.failed,
            occurrence: 0,
        })
        .collect();
    diesel::insert_into(scenarios::table)
        .values(&new_scenarios)
        .execute(conn)?;
    let scenario_ids: Vec<(i64, i64)> = scenarios::table
        .filter(scenarios::run_id.eq_any(run_ids))
        .select((scenarios::run_id, scenarios::id))
        .load(conn)?;
    Ok(scenario_ids.into_iter().collect())
}

/// Inserts each run's tests, one after another from the run's start, named `names`.
fn insert_tests(
    conn: &mut Conn,
    machine_id: i64,
    run_ids: &[i64],
    scenario_of: &HashMap<i64, i64>,
    outcomes: &[Outcome],
    names: &[String],
) -> Result<(), OpError> {
    let mut new_tests = Vec::with_capacity(outcomes.len() * names.len());
    for (run_id, outcome) in run_ids.iter().zip(outcomes) {
        let mut at = outcome.start;
        for ((i, (status, duration)), name) in outcome.statuses.iter().enumerate().zip(names) {
            new_tests.push(GeneratedTest {
                run_id: *run_id,
                scenario_id: scenario_of.get(run_id).copied().unwrap_or(0),
                position: i as i64,
                file_name: name,
                file_path: "/generated/tests",
                status: status.as_str(),
                timestamp_start: Some(at),
                timestamp_stop: Some(at + duration),
                attempts: 1,
                machine_id,
                occurrence: 0,
            });
            at += duration;
        }
    }
    for chunk in new_tests.chunks(INSERT_CHUNK) {
        diesel::insert_into(tests::table)
            .values(chunk)
            .execute(conn)?;
    }
    Ok(())
}

/// A finished run written whole by the history generator (benchmarks).
#[derive(Insertable)]
#[diesel(table_name = runs, treat_none_as_default_value = false)]
struct GeneratedRun<'a> {
    machine_id: i64,
    timestamp: i64,
    file_name: &'a str,
    file_path: &'a str,
    status: &'a str,
    timestamp_start: Option<i64>,
    timestamp_stop: Option<i64>,
    scenarios_count: i64,
    empty_scenarios: i64,
    test_count: i64,
    last_event_at: i64,
    n_failed: i64,
    n_passed: i64,
}

/// A finished scenario written whole by the history generator.
#[derive(Insertable)]
#[diesel(table_name = scenarios, treat_none_as_default_value = false)]
struct GeneratedScenario<'a> {
    run_id: i64,
    position: i64,
    file_name: &'a str,
    file_path: &'a str,
    status: &'a str,
    timestamp_start: Option<i64>,
    timestamp_stop: Option<i64>,
    n_failed: i64,
    n_passed: i64,
    occurrence: i64,
}

/// A finished test written whole by the history generator.
#[derive(Insertable)]
#[diesel(table_name = tests, treat_none_as_default_value = false)]
struct GeneratedTest<'a> {
    run_id: i64,
    scenario_id: i64,
    position: i64,
    file_name: &'a str,
    file_path: &'a str,
    status: &'a str,
    timestamp_start: Option<i64>,
    timestamp_stop: Option<i64>,
    attempts: i64,
    machine_id: i64,
    occurrence: i64,
}
