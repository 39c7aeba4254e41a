//! `/machine/<id>/last`: the live view of a machine's newest run, and the JSON it starts from.
//!
//! The page is a shell; its script reads `/page_api/live/<id>` (the seed's `machine_last_data`
//! body plus what the seed lacks: start times in milliseconds and each test's expected
//! duration), then follows `/ws/machine/<id>/last`. That JSON answers its errors as the API
//! does.

use std::collections::BTreeMap;

use askama::Template;
use rocket::response::content::RawHtml;
use rocket::serde::json::Json;
use rocket::{State, get, routes};
use serde::Serialize;
use stpt_core::{Closure, RunTree, Timestamp};

use super::estimate::expected_durations;
use super::rendering::{PageError, Staleness, html, read};
use crate::api::{ApiError, ErrorBody, query};
use crate::stale::StaleLimit;
use crate::state::AppState;
use stpt_core::wire::MachineLastData;

#[derive(Template)]
#[template(path = "live.html")]
struct LivePage {
    machine_id: i64,
    name: String,
}

/// What the live page starts from.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct LiveData {
    /// As `/tm_api/machine_last_data/<id>` answers.
    machine_data: MachineLastData,
    /// Timing of the newest run, if any.
    timing: Option<RunTiming>,
}

/// Times the seed's shape has only as display strings or not at all.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct RunTiming {
    /// The run.
    run: i64,
    /// The server's clock, so the page can correct for a skewed browser clock.
    now_ms: i64,
    /// When the first test started.
    started_ms: Option<i64>,
    /// When the run finished.
    stopped_ms: Option<i64>,
    /// Ongoing but silent for longer than the stale limit, or closed as stale.
    stale: bool,
    /// When the server last heard an event of the run.
    last_event_at: Option<String>,
    /// `"stale"` or `"aborted"` when the server closed the run.
    closed_as: Option<&'static str>,
    /// When the server closed it.
    closed_at: Option<String>,
    /// The page's wording: "last event …" or "closed as stale at … · last event …", when stale.
    stale_note: Option<String>,
    /// Per test id (JSON object keys are strings: `"17"`).
    #[schema(value_type = BTreeMap<String, TestTiming>)]
    tests: BTreeMap<i64, TestTiming>,
}

/// One test's timing.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct TestTiming {
    /// Its directory.
    file_path: String,
    /// When it started, milliseconds since the Unix epoch.
    started_ms: Option<i64>,
    /// When it stopped, milliseconds since the Unix epoch.
    stopped_ms: Option<i64>,
    /// Seconds from start to stop, to the microsecond as on the run page, once both are known.
    duration_s: Option<f64>,
    /// Median duration of the same test in earlier runs.
    expected_s: Option<f64>,
}

fn millis(at: Option<Timestamp>) -> Option<i64> {
    at.map(|t| t.as_micros() / 1000)
}

impl RunTiming {
    fn new(
        run: &RunTree,
        expected: &std::collections::HashMap<i64, f64>,
        limit: &StaleLimit,
    ) -> RunTiming {
        let mut summary = run.run.clone();
        limit.mark(&mut summary);
        RunTiming {
            run: run.run.id,
            stale: summary.stale,
            last_event_at: summary.last_event_at.map(Timestamp::to_rfc3339),
            closed_as: summary.closed_as.map(Closure::as_str),
            closed_at: summary.closed_at.map(Timestamp::to_rfc3339),
            stale_note: Staleness::of(&summary).map(|s| s.note),
            now_ms: limit.clock.now().as_micros() / 1000,
            started_ms: millis(run.master.timestamp_start),
            stopped_ms: millis(run.master.timestamp_stop),
            tests: run
                .scenarios
                .iter()
                .flat_map(|s| &s.tests)
                .map(|test| {
                    (
                        test.id,
                        TestTiming {
                            file_path: test.file_path.clone(),
                            started_ms: millis(test.timestamp_start),
                            stopped_ms: millis(test.timestamp_stop),
                            duration_s: test.duration_seconds(),
                            expected_s: expected.get(&test.id).copied(),
                        },
                    )
                })
                .collect(),
        }
    }
}

fn not_found(id: i64) -> PageError {
    PageError::NotFound(format!("There is no machine with id {id}."))
}

#[get("/machine/<id>/last")]
async fn show_live(state: &State<AppState>, id: i64) -> Result<RawHtml<String>, PageError> {
    let machine = read(state, move |store| store.machine(id)).await?;
    let machine = machine.ok_or_else(|| not_found(id))?;
    html(&LivePage {
        machine_id: machine.id,
        name: machine.name,
    })
}

#[utoipa::path(
    tag = "pages",
    summary = "What the live page starts from",
    description = "The `machine_last_data` answer plus the newest run's timing: start times in milliseconds and each test's expected duration. Made for the live page's script; it may change with the page.",
    params(("id" = i64, Path, description = "the machine's id", example = 1)),
    responses(
        (status = 200, description = "the machine's newest run and its timing", body = LiveData),
        (status = 401, description = "read access needs a login session or a machine token (`--read-access login`)", body = ErrorBody),
        (status = 404, description = "no machine has this id", body = ErrorBody),
        (status = 422, description = "the id is not a 64-bit integer", body = ErrorBody),
        (status = 503, description = "the database is busy; retry", body = ErrorBody),
    )
)]
#[get("/page_api/live/<id>")]
async fn live_data(
    state: &State<AppState>,
    limit: &State<StaleLimit>,
    id: i64,
) -> Result<Json<LiveData>, ApiError> {
    let limit = limit.inner().clone();
    let found = query(state, move |store| {
        let Some(machine) = store.machine(id)? else {
            return Ok(None);
        };
        let run = store.last_run(id)?;
        let timing = match &run {
            Some(run) => Some(RunTiming::new(
                run,
                &expected_durations(store, run)?,
                &limit,
            )),
            None => None,
        };
        Ok(Some(LiveData {
            machine_data: MachineLastData::new(&machine, run.as_ref(), limit.clock.now()),
            timing,
        }))
    })
    .await?;
    found
        .map(Json)
        .ok_or_else(|| ApiError::not_found("unknown_machine", format!("no machine has id {id}")))
}

pub(super) fn routes() -> Vec<rocket::Route> {
    routes![show_live, live_data]
}
