//! The history API under `/api/v1/`: what a machine's runs say over time.
//!
//! - `GET /api/v1/tests/<id>/history?limit&window`: the same test (machine, path, name,
//!   occurrence) in all the machine's runs, newest first, whichever of them `id` is from, with
//!   the test's attempts and its duration trend (median and p90 over the newest `window`
//!   results);
//! - `GET /api/v1/runs/<id>/compare?other&label`: the run compared with another (by default
//!   the machine's previous run, or its previous run carrying every `label=KEY:VALUE` given);
//! - `GET /api/v1/machines/<id>/flaky?label`: the machine's flaky tests by the rule of
//!   `stpt_core::insights` (shown in the answer), over its runs carrying every label given;
//! - `GET /api/v1/machines/<id>/trend?limit`: pass rate and duration of its newest runs,
//!   oldest first.
//!
//! Every answer reads a bounded number of rows: `limit` results through the test identity
//! index, two runs, or the newest ten runs.

use rocket::serde::json::Json;
use rocket::{State, get, routes};
use stpt_core::insights::{
    self, DurationTrend, FLAKY_MIN_FLIPS, FLAKY_WINDOW, RunComparison, RunPoint,
};
use stpt_core::wire::{FlakyList, MachineTrend, TestHistory};
use stpt_core::{Machine, NodeKind, PageRequest, RunFilter, RunId, RunTree, Store, StoreError};

use super::ApiError;
use super::error::ErrorBody;
use super::read::query;
use super::runs::parse_label;
use crate::state::AppState;

/// Default and largest number of results of a test's history.
const DEFAULT_LIMIT: u32 = 20;
const MAX_LIMIT: u32 = 500;
/// Largest number of runs of a machine's trend.
const MAX_TREND: u64 = PageRequest::MAX_SIZE;

/// The rule the flaky list applies, in words.
pub const FLAKY_RULE: &str = "over a test's last 10 results: at least 3 changes between pass (passed, warning) and fail (failed, error), or a pass only after a retry; score = changes + passes after a retry";

fn unknown(error: &'static str, what: &str, id: i64) -> ApiError {
    ApiError::not_found(error, format!("no {what} has id {id}"))
}

#[utoipa::path(
    tag = "history",
    summary = "A test's results in its machine's runs, newest first",
    description = "The same test is the same path, name and occurrence on the same machine. Its newest `limit` results in all the machine's runs, also those newer than the run of `id`; with the attempts of test `id` and the duration median and p90 of the newest `window` results.",
    params(
        ("id" = i64, Path, description = "the test's id (in any of its runs)", example = 1),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 500, description = "results to answer, default 20 (out of range: clamped)"),
        ("window" = Option<u32>, Query, minimum = 1, maximum = 500, description = "results the trend looks at, default `limit` (out of range: clamped)"),
    ),
    responses(
        (status = 200, description = "the test's history", body = TestHistory),
        (status = 404, description = "no test has this id", body = ErrorBody),
        (status = 401, description = "read access needs a login session or a machine token (`--read-access login`)", body = ErrorBody),
        (status = 422, description = "the id is not a 64-bit integer", body = ErrorBody),
        (status = 503, description = "the database is busy; retry", body = ErrorBody),
    )
)]
#[get("/api/v1/tests/<id>/history?<limit>&<window>")]
async fn test_history(
    state: &State<AppState>,
    id: i64,
    limit: Option<u32>,
    window: Option<u32>,
) -> Result<Json<TestHistory>, ApiError> {
    let limit = limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    let window = usize::try_from(window.unwrap_or(limit).clamp(1, MAX_LIMIT)).unwrap_or(1);
    let found = query(state, move |store| {
        let Some(test) = store.node(NodeKind::Test, id)? else {
            return Ok(None);
        };
        let attempts = store.attempts(id)?;
        let wanted = limit.max(u32::try_from(window).unwrap_or(MAX_LIMIT));
        let results = store.test_history(id, wanted)?;
        Ok(Some((test, attempts, results)))
    })
    .await?;
    let (test, attempts, mut results) = found.ok_or_else(|| unknown("unknown_test", "test", id))?;
    let trend = DurationTrend::of(&results, window);
    results.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    Ok(Json(TestHistory {
        test,
        attempts,
        results,
        trend,
    }))
}

/// Parses `label=KEY:VALUE` parameters (empty ones are ignored).
pub(crate) fn labels_of(raw: &[String]) -> Result<Vec<(String, String)>, ApiError> {
    raw.iter()
        .map(|l| l.trim())
        .filter(|l| !l.is_empty())
        .map(parse_label)
        .collect()
}

/// The run before `run` on its machine, if any; with `labels`, the newest older run of the
/// machine carrying all of them.
pub(crate) fn previous_run(
    store: &dyn Store,
    run: &RunTree,
    labels: &[(String, String)],
) -> Result<Option<RunId>, StoreError> {
    if labels.is_empty() {
        return store.previous_run(run.run.id);
    }
    let filter = RunFilter {
        machine: Some(run.machine.id),
        labels: labels.to_vec(),
        before: Some(run.run.id),
        ..RunFilter::default()
    };
    Ok(store
        .find_runs(&filter, PageRequest::new(1, 1))?
        .items
        .first()
        .map(|r| r.id))
}

#[utoipa::path(
    tag = "history",
    summary = "A run compared with another",
    description = "By default with its machine's previous run (with `label`, its previous run carrying every label given): newly failing, fixed, still failing, new and removed tests, the 10 largest duration changes.",
    params(
        ("id" = i64, Path, description = "the run's id", example = 1),
        ("other" = Option<i64>, Query, description = "the run to compare with (default: the machine's previous run)"),
        ("label" = Option<Vec<String>>, Query, explode = true, description = "`KEY:VALUE`, repeatable: without `other`, compare with the machine's previous run carrying every one of these labels", example = json!(["branch:main"])),
    ),
    responses(
        (status = 200, description = "the comparison", body = RunComparison),
        (status = 400, description = "a `label` is not `KEY:VALUE` (`field` is `label`)", body = ErrorBody),
        (status = 404, description = "no run has this id or `other`, or the run is its machine's first and no `other` was named", body = ErrorBody),
        (status = 401, description = "read access needs a login session or a machine token (`--read-access login`)", body = ErrorBody),
        (status = 422, description = "the id is not a 64-bit integer", body = ErrorBody),
        (status = 503, description = "the database is busy; retry", body = ErrorBody),
    )
)]
#[get("/api/v1/runs/<id>/compare?<other>&<label>")]
async fn compare_runs(
    state: &State<AppState>,
    id: i64,
    other: Option<i64>,
    label: Vec<String>,
) -> Result<Json<RunComparison>, ApiError> {
    let labels = labels_of(&label)?;
    let found = query(state, move |store| {
        let Some(run) = store.run(id)? else {
            return Ok(Err(unknown("unknown_run", "run", id)));
        };
        let other_id = match other {
            Some(other) => other,
            None => match previous_run(store, &run, &labels)? {
                Some(previous) => previous,
                None if labels.is_empty() => {
                    return Ok(Err(ApiError::not_found(
                        "no_previous_run",
                        format!("run {id} is its machine's first: name another with ?other="),
                    )));
                }
                None => {
                    return Ok(Err(ApiError::not_found(
                        "no_previous_run",
                        format!(
                            "no earlier run of run {id}'s machine carries those labels: name another with ?other="
                        ),
                    )));
                }
            },
        };
        Ok(match store.run(other_id)? {
            Some(other) => Ok(insights::compare(&run, &other)),
            None => Err(unknown("unknown_run", "run", other_id)),
        })
    })
    .await?;
    found.map(Json)
}

/// A machine and its newest `count` runs in full (those carrying every one of `labels`),
/// newest first.
fn newest_runs(
    store: &dyn Store,
    machine: i64,
    count: u64,
    labels: &[(String, String)],
) -> Result<Option<(Machine, Vec<RunTree>)>, StoreError> {
    let Some(found) = store.machine(machine)? else {
        return Ok(None);
    };
    let summaries = if labels.is_empty() {
        store.runs(machine, PageRequest::new(1, count))?
    } else {
        let filter = RunFilter {
            machine: Some(machine),
            labels: labels.to_vec(),
            ..RunFilter::default()
        };
        store.find_runs(&filter, PageRequest::new(1, count))?
    };
    let mut runs = Vec::with_capacity(summaries.items.len());
    for summary in summaries.items {
        if let Some(tree) = store.run(summary.id)? {
            runs.push(tree);
        }
    }
    Ok(Some((found, runs)))
}

#[utoipa::path(
    tag = "history",
    summary = "A machine's flaky tests over its last 10 runs",
    description = "With the rule applied and each test's score, highest first. With `label`, over its last 10 runs carrying every label given.",
    params(
        ("id" = i64, Path, description = "the machine's id", example = 1),
        ("label" = Option<Vec<String>>, Query, explode = true, description = "`KEY:VALUE`, repeatable: only runs carrying every one of these labels", example = json!(["branch:main"])),
    ),
    responses(
        (status = 200, description = "the flaky tests", body = FlakyList),
        (status = 400, description = "a `label` is not `KEY:VALUE` (`field` is `label`)", body = ErrorBody),
        (status = 404, description = "no machine has this id", body = ErrorBody),
        (status = 401, description = "read access needs a login session or a machine token (`--read-access login`)", body = ErrorBody),
        (status = 422, description = "the id is not a 64-bit integer", body = ErrorBody),
        (status = 503, description = "the database is busy; retry", body = ErrorBody),
    )
)]
#[get("/api/v1/machines/<id>/flaky?<label>")]
async fn flaky_tests(
    state: &State<AppState>,
    id: i64,
    label: Vec<String>,
) -> Result<Json<FlakyList>, ApiError> {
    let window = FLAKY_WINDOW as u64;
    let labels = labels_of(&label)?;
    let shown: Vec<String> = labels.iter().map(|(k, v)| format!("{k}:{v}")).collect();
    let found = query(state, move |store| newest_runs(store, id, window, &labels)).await?;
    let (machine, runs) = found.ok_or_else(|| unknown("unknown_machine", "machine", id))?;
    debug_assert_eq!(FLAKY_MIN_FLIPS, 3, "FLAKY_RULE names the threshold");
    Ok(Json(FlakyList {
        machine,
        runs: runs.len(),
        labels: shown,
        rule: FLAKY_RULE.to_owned(),
        tests: insights::flaky(&runs),
    }))
}

#[utoipa::path(
    tag = "history",
    summary = "A machine's newest runs, oldest first: pass rate and duration",
    params(
        ("id" = i64, Path, description = "the machine's id", example = 1),
        ("limit" = Option<u64>, Query, minimum = 1, maximum = 100, description = "runs, default 100 (out of range: clamped)"),
    ),
    responses(
        (status = 200, description = "the trend", body = MachineTrend),
        (status = 404, description = "no machine has this id", body = ErrorBody),
        (status = 401, description = "read access needs a login session or a machine token (`--read-access login`)", body = ErrorBody),
        (status = 422, description = "the id is not a 64-bit integer", body = ErrorBody),
        (status = 503, description = "the database is busy; retry", body = ErrorBody),
    )
)]
#[get("/api/v1/machines/<id>/trend?<limit>")]
async fn machine_trend(
    state: &State<AppState>,
    id: i64,
    limit: Option<u64>,
) -> Result<Json<MachineTrend>, ApiError> {
    let limit = limit.unwrap_or(MAX_TREND).clamp(1, MAX_TREND);
    let found = query(state, move |store| {
        let Some(machine) = store.machine(id)? else {
            return Ok(None);
        };
        let runs = store.runs(id, PageRequest::new(1, limit))?;
        Ok(Some((machine, runs.items)))
    })
    .await?;
    let (machine, runs) = found.ok_or_else(|| unknown("unknown_machine", "machine", id))?;
    Ok(Json(MachineTrend {
        machine,
        points: runs.iter().rev().map(RunPoint::of).collect(),
    }))
}

pub(super) fn routes() -> Vec<rocket::Route> {
    routes![test_history, compare_runs, flaky_tests, machine_trend]
}
