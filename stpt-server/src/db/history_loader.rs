//! A load generator for the history benchmarks, compiled only with the `bench-loaders`
//! feature (the benchmarks and the server's own tests turn it on): it writes finished runs
//! straight into the tables, which no event path does.
//!
//! `db::sqlite` and `db::postgres` each declare this file as their submodule (`#[path]`).

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
        let minute = 60_000_000_i64;
        let mut done = 0;
        while done < runs {
            let count = RUNS_PER_CHUNK.min(runs - done);
            let mut new_runs = Vec::with_capacity(count as usize);
            let mut outcomes = Vec::with_capacity(count as usize);
            for r in done..done + count {
                let start = first.as_micros() + i64::from(r) * minute;
                let statuses: Vec<(Status, i64)> = (0..tests)
                    .map(|i| {
                        let failed = (r + i) % 37 == 0 || (i == 0 && r % 2 == 1);
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
                let total: i64 = statuses.iter().map(|(_, d)| d).sum();
                let status = if failed > 0 {
                    Status::Failed
                } else {
                    Status::Passed
                };
                new_runs.push(GeneratedRun {
                    machine_id: machine.id,
                    timestamp: start,
                    file_name: "master.py",
                    file_path: "/generated",
                    status: status.as_str(),
                    timestamp_start: Some(start),
                    timestamp_stop: Some(start + total),
                    scenarios_count: 1,
                    empty_scenarios: 0,
                    test_count: i64::from(tests),
                    last_event_at: start + total,
                    n_failed: failed,
                    n_passed: i64::from(tests) - failed,
                });
                outcomes.push((start, status, failed, statuses));
            }
            diesel::insert_into(runs::table)
                .values(&new_runs)
                .execute(conn)?;
            let mut run_ids: Vec<i64> = runs::table
                .filter(runs::machine_id.eq(machine.id))
                .order(runs::id.desc())
                .limit(i64::from(count))
                .select(runs::id)
                .load(conn)?;
            run_ids.reverse();
            let new_labels: Vec<_> = run_ids
                .iter()
                .zip(done..done + count)
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
            let new_scenarios: Vec<GeneratedScenario<'_>> = run_ids
                .iter()
                .zip(&outcomes)
                .map(
                    |(run_id, (start, status, failed, statuses))| GeneratedScenario {
                        run_id: *run_id,
                        position: 0,
                        file_name: "scenario.py",
                        file_path: "/generated",
                        status: status.as_str(),
                        timestamp_start: Some(*start),
                        timestamp_stop: Some(start + statuses.iter().map(|(_, d)| d).sum::<i64>()),
                        n_failed: *failed,
                        n_passed: statuses.len() as i64 - failed,
                        occurrence: 0,
                    },
                )
                .collect();
            diesel::insert_into(scenarios::table)
                .values(&new_scenarios)
                .execute(conn)?;
            let scenario_ids: Vec<(i64, i64)> = scenarios::table
                .filter(scenarios::run_id.eq_any(&run_ids))
                .select((scenarios::run_id, scenarios::id))
                .load(conn)?;
            let scenario_of: std::collections::HashMap<i64, i64> =
                scenario_ids.into_iter().collect();
            let mut new_tests = Vec::with_capacity((count * tests) as usize);
            for (run_id, (start, _, _, statuses)) in run_ids.iter().zip(&outcomes) {
                let mut at = *start;
                for ((i, (status, duration)), name) in statuses.iter().enumerate().zip(&names) {
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
                        machine_id: machine.id,
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
