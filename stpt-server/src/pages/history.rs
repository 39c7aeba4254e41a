//! History pages: a test across its machine's runs (`/test/<id>/history`), a run compared
//! with another (`/run/<id>/compare`) and a machine's pass rate and run durations over time
//! (`/machine/<id>/trend`). Everything is drawn on the server, charts as SVG (`chart`).

use askama::Template;
use rocket::response::content::RawHtml;
use rocket::{State, get, routes};
use stpt_core::insights::{self, ComparedTest, DurationTrend, RunComparison, RunPoint};
use stpt_core::{NodeKind, PageRequest, RunSummary, TestResult};

use super::chart::{Point, Unit, line_chart};
use super::rendering::{Badge, PageError, When, duration, html, read};
use crate::api::history::{labels_of, previous_run};
use crate::state::AppState;

/// Runs the test history page shows.
const HISTORY_RUNS: u32 = 50;

struct ResultRow {
    run_id: i64,
    test_id: i64,
    when: Option<When>,
    status: Badge,
    duration: String,
    attempts: u32,
    message: String,
}

impl From<&TestResult> for ResultRow {
    fn from(result: &TestResult) -> Self {
        ResultRow {
            run_id: result.run_id,
            test_id: result.test_id,
            when: When::of(Some(result.run_timestamp)),
            status: Badge::of(Some(result.status)),
            duration: result.duration_seconds.map(duration).unwrap_or_default(),
            attempts: result.attempts,
            message: result.message.clone().unwrap_or_default(),
        }
    }
}

#[derive(Template)]
#[template(path = "test_history.html")]
struct TestHistoryPage {
    test_id: i64,
    run_id: i64,
    name: String,
    path: String,
    occurrence: u32,
    /// Oldest first, for the dots.
    dots: Vec<ResultRow>,
    /// Newest first, for the table.
    rows: Vec<ResultRow>,
    chart: String,
    median: String,
    p90: String,
}

fn seconds(value: Option<f64>) -> String {
    value.map_or_else(|| "–".to_owned(), duration)
}

#[get("/test/<id>/history")]
async fn test_history(state: &State<AppState>, id: i64) -> Result<RawHtml<String>, PageError> {
    let found = read(state, move |store| {
        let Some(test) = store.node(NodeKind::Test, id)? else {
            return Ok(None);
        };
        Ok(Some((test, store.test_history(id, HISTORY_RUNS)?)))
    })
    .await?;
    let (test, results) =
        found.ok_or_else(|| PageError::NotFound(format!("There is no test with id {id}.")))?;
    let trend = DurationTrend::of(&results, results.len());
    let oldest_first: Vec<&TestResult> = results.iter().rev().collect();
    let durations: Vec<Point> = oldest_first
        .iter()
        .map(|r| Point {
            run_id: r.run_id,
            value: r.duration_seconds.filter(|_| r.status.is_finished()),
        })
        .collect();
    html(&TestHistoryPage {
        test_id: test.id,
        run_id: test.run_id,
        name: test.file_name,
        path: test.file_path,
        occurrence: test.occurrence,
        dots: oldest_first.iter().map(|r| ResultRow::from(*r)).collect(),
        rows: results.iter().map(ResultRow::from).collect(),
        chart: line_chart(&durations, Unit::Seconds, "test durations, oldest first"),
        median: seconds(trend.median_seconds),
        p90: seconds(trend.p90_seconds),
    })
}

struct ComparedRow {
    name: String,
    test_id: Option<i64>,
    was: Badge,
    now: Badge,
    change: String,
}

impl From<&ComparedTest> for ComparedRow {
    fn from(test: &ComparedTest) -> Self {
        let change = match (test.other_duration_seconds, test.duration_seconds) {
            (Some(before), Some(after)) => {
                let sign = if after < before { '−' } else { '+' };
                format!(
                    "{} → {} ({sign}{})",
                    duration(before),
                    duration(after),
                    duration((after - before).abs())
                )
            }
            _ => String::new(),
        };
        let occurrence = match test.key.occurrence {
            0 => String::new(),
            n => format!(" #{n}"),
        };
        ComparedRow {
            name: format!("{}{occurrence}", test.key.file_name),
            test_id: test.test_id,
            was: Badge::of(test.other_status),
            now: Badge::of(test.status),
            change,
        }
    }
}

struct Group {
    title: &'static str,
    rows: Vec<ComparedRow>,
}

#[derive(Template)]
#[template(path = "compare.html")]
struct ComparePage {
    run_id: i64,
    other_run_id: i64,
    machine_id: i64,
    machine_name: String,
    /// The labels the compared run was picked by (`KEY:VALUE`), if any.
    labels: Vec<String>,
    groups: Vec<Group>,
}

fn rows(tests: &[ComparedTest]) -> Vec<ComparedRow> {
    tests.iter().map(ComparedRow::from).collect()
}

#[get("/run/<id>/compare?<other>&<label>")]
async fn compare(
    state: &State<AppState>,
    id: i64,
    other: Option<i64>,
    label: Vec<String>,
) -> Result<RawHtml<String>, PageError> {
    let labels = labels_of(&label).map_err(|e| PageError::BadRequest(e.detail))?;
    let shown: Vec<String> = labels.iter().map(|(k, v)| format!("{k}:{v}")).collect();
    let found = read(state, move |store| {
        let Some(run) = store.run(id)? else {
            return Ok(None);
        };
        let other_id = match other {
            Some(other) => Some(other),
            None => previous_run(store, &run, &labels)?,
        };
        let other_run = match other_id {
            Some(other) => store.run(other)?,
            None => None,
        };
        Ok(Some((run, other_run)))
    })
    .await?;
    let (run, other) =
        found.ok_or_else(|| PageError::NotFound(format!("There is no run with id {id}.")))?;
    let other = other.ok_or_else(|| {
        PageError::NotFound(format!(
            "Run {id} has no earlier run to compare with on its machine."
        ))
    })?;
    let diff: RunComparison = insights::compare(&run, &other);
    html(&ComparePage {
        run_id: diff.run_id,
        other_run_id: diff.other_run_id,
        machine_id: run.machine.id,
        machine_name: run.machine.name,
        labels: shown,
        groups: vec![
            Group {
                title: "Newly failing",
                rows: rows(&diff.newly_failing),
            },
            Group {
                title: "Fixed",
                rows: rows(&diff.fixed),
            },
            Group {
                title: "Still failing",
                rows: rows(&diff.still_failing),
            },
            Group {
                title: "New tests",
                rows: rows(&diff.new_tests),
            },
            Group {
                title: "Removed tests",
                rows: rows(&diff.removed_tests),
            },
            Group {
                title: "Largest duration changes",
                rows: rows(&diff.duration_changes),
            },
        ],
    })
}

/// A machine's pass rate and run duration charts, drawn from its runs (newest first).
pub(super) struct TrendCharts {
    /// Runs drawn.
    pub(super) runs: usize,
    pub(super) pass_rate_chart: String,
    pub(super) duration_chart: String,
}

impl TrendCharts {
    pub(super) fn of(newest_first: &[RunSummary]) -> TrendCharts {
        let points: Vec<RunPoint> = newest_first.iter().rev().map(RunPoint::of).collect();
        let rates: Vec<Point> = points
            .iter()
            .map(|p| Point {
                run_id: p.run_id,
                value: p.pass_rate.map(|r| r * 100.0),
            })
            .collect();
        let durations: Vec<Point> = points
            .iter()
            .map(|p| Point {
                run_id: p.run_id,
                value: p.duration_seconds,
            })
            .collect();
        TrendCharts {
            runs: points.len(),
            pass_rate_chart: line_chart(&rates, Unit::Percent, "pass rate per run, oldest first"),
            duration_chart: line_chart(&durations, Unit::Seconds, "run duration, oldest first"),
        }
    }
}

#[derive(Template)]
#[template(path = "trend.html")]
struct TrendPage {
    machine_id: i64,
    machine_name: String,
    runs: usize,
    pass_rate_chart: String,
    duration_chart: String,
}

#[get("/machine/<id>/trend")]
async fn trend(state: &State<AppState>, id: i64) -> Result<RawHtml<String>, PageError> {
    let found = read(state, move |store| {
        let Some(machine) = store.machine(id)? else {
            return Ok(None);
        };
        let runs = store.runs(id, PageRequest::new(1, PageRequest::MAX_SIZE))?;
        Ok(Some((machine, runs.items)))
    })
    .await?;
    let (machine, runs) =
        found.ok_or_else(|| PageError::NotFound(format!("There is no machine with id {id}.")))?;
    let charts = TrendCharts::of(&runs);
    html(&TrendPage {
        machine_id: machine.id,
        machine_name: machine.name,
        runs: charts.runs,
        pass_rate_chart: charts.pass_rate_chart,
        duration_chart: charts.duration_chart,
    })
}

pub(super) fn routes() -> Vec<rocket::Route> {
    routes![test_history, compare, trend]
}
