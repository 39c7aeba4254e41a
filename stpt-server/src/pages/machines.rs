//! The list pages: `/` (machines with their newest run's status, stale runs marked) and
//! `/machine/<id>` (a
//! machine's runs, newest first, with stale runs marked, and its pass rate and run duration
//! over its last runs). Both update their status badges live from the WebSockets.

use askama::Template;
use rocket::http::CookieJar;
use rocket::response::content::RawHtml;
use rocket::{State, get, routes};
use stpt_core::{MachineSummary, PageRequest, RunSummary};

use super::history::TrendCharts;
use super::paging::Paging;
use super::rendering::{Badge, PageError, Staleness, When, html, read};
use crate::stale::StaleLimit;
use crate::state::AppState;

/// One row of the machines page.
struct MachineRow {
    id: i64,
    name: String,
    status: Badge,
    last_run: Option<i64>,
    stale: Option<Staleness>,
}

impl MachineRow {
    /// The row for `summary`, whose newest run (already marked against the stale limit) is
    /// `last`.
    fn new(summary: &MachineSummary, last: Option<&RunSummary>) -> Self {
        MachineRow {
            id: summary.machine.id,
            name: summary.machine.name.clone(),
            status: Badge::of(summary.last_run_status),
            last_run: summary.last_run_id,
            stale: last.and_then(Staleness::of),
        }
    }
}

#[derive(Template)]
#[template(path = "machines.html")]
struct MachinesPage {
    machines: Vec<MachineRow>,
    paging: Paging,
}

/// One row of a machine's runs.
struct RunRow {
    id: i64,
    timestamp: Option<When>,
    scenarios: u64,
    tests: u64,
    finished: u64,
    percent: u64,
    status: Badge,
    stale: Option<Staleness>,
    labels: Vec<(String, String)>,
}

impl From<&RunSummary> for RunRow {
    fn from(run: &RunSummary) -> Self {
        let tests = run.tests();
        let finished = run.counts.finished();
        RunRow {
            id: run.id,
            timestamp: When::of(Some(run.timestamp)),
            scenarios: run.scenarios,
            tests,
            finished,
            percent: (finished * 100).checked_div(tests).unwrap_or(0),
            status: Badge::of(Some(run.status)),
            stale: Staleness::of(run),
            labels: run.labels.clone().into_iter().collect(),
        }
    }
}

#[derive(Template)]
#[template(path = "machine.html")]
struct MachinePage {
    machine_id: i64,
    name: String,
    runs: Vec<RunRow>,
    paging: Paging,
    trend: TrendCharts,
}

#[get("/?<page>&<size>")]
async fn list_machines(
    state: &State<AppState>,
    limit: &State<StaleLimit>,
    cookies: &CookieJar<'_>,
    page: Option<u64>,
    size: Option<u64>,
) -> Result<RawHtml<String>, PageError> {
    let request = Paging::request(page, size, cookies, state.security.secure_cookies);
    let (machines, mut newest) = read(state, move |store| {
        let machines = store.machines(request)?;
        // One indexed look-up per listed machine (a page holds at most 100).
        let mut newest = Vec::with_capacity(machines.items.len());
        for summary in &machines.items {
            let last = match summary.last_run_id {
                Some(_) => store
                    .runs(summary.machine.id, PageRequest::new(1, 1))?
                    .items
                    .into_iter()
                    .next(),
                None => None,
            };
            newest.push(last);
        }
        Ok((machines, newest))
    })
    .await?;
    for run in newest.iter_mut().flatten() {
        limit.mark(run);
    }
    html(&MachinesPage {
        paging: Paging::of(&machines, request),
        machines: machines
            .items
            .iter()
            .zip(&newest)
            .map(|(summary, last)| MachineRow::new(summary, last.as_ref()))
            .collect(),
    })
}

#[get("/machine/<id>?<page>&<size>")]
async fn list_runs(
    state: &State<AppState>,
    limit: &State<StaleLimit>,
    cookies: &CookieJar<'_>,
    id: i64,
    page: Option<u64>,
    size: Option<u64>,
) -> Result<RawHtml<String>, PageError> {
    let request = Paging::request(page, size, cookies, state.security.secure_cookies);
    let found = read(state, move |store| {
        let Some(machine) = store.machine(id)? else {
            return Ok(None);
        };
        let runs = store.runs(id, request)?;
        // The charts cover the newest runs whatever page of the list is shown.
        let recent = store.runs(id, PageRequest::new(1, PageRequest::MAX_SIZE))?;
        Ok(Some((machine, runs, recent.items)))
    })
    .await?;
    let Some((machine, mut runs, recent)) = found else {
        return Err(PageError::NotFound(format!(
            "There is no machine with id {id}."
        )));
    };
    for run in &mut runs.items {
        limit.mark(run);
    }
    html(&MachinePage {
        machine_id: machine.id,
        name: machine.name,
        paging: Paging::of(&runs, request),
        runs: runs.items.iter().map(RunRow::from).collect(),
        trend: TrendCharts::of(&recent),
    })
}

pub(super) fn routes() -> Vec<rocket::Route> {
    routes![list_machines, list_runs]
}
