//! The list pages: `/` (machines with their newest run's status) and `/machine/<id>` (a
//! machine's runs, newest first). Both update their status badges live from the WebSockets.

use askama::Template;
use rocket::http::CookieJar;
use rocket::response::content::RawHtml;
use rocket::{State, get, routes};
use stpt_core::{MachineSummary, RunSummary};

use super::paging::Paging;
use super::rendering::{Badge, PageError, html, read, shown};
use crate::app::AppState;

/// One row of the machines page.
struct MachineRow {
    id: i64,
    name: String,
    status: Badge,
    last_run: Option<i64>,
}

impl From<&MachineSummary> for MachineRow {
    fn from(summary: &MachineSummary) -> Self {
        MachineRow {
            id: summary.machine.id,
            name: summary.machine.name.clone(),
            status: Badge::of(summary.last_run_status),
            last_run: summary.last_run_id,
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
    timestamp: String,
    scenarios: u64,
    tests: u64,
    finished: u64,
    percent: u64,
    status: Badge,
}

impl From<&RunSummary> for RunRow {
    fn from(run: &RunSummary) -> Self {
        let tests = run.tests();
        let finished = run.counts.finished();
        RunRow {
            id: run.id,
            timestamp: shown(Some(run.timestamp)),
            scenarios: run.scenarios,
            tests,
            finished,
            percent: (finished * 100).checked_div(tests).unwrap_or(0),
            status: Badge::of(Some(run.status)),
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
}

#[get("/?<page>&<size>")]
async fn list_machines(
    state: &State<AppState>,
    cookies: &CookieJar<'_>,
    page: Option<u64>,
    size: Option<u64>,
) -> Result<RawHtml<String>, PageError> {
    let request = Paging::request(page, size, cookies);
    let machines = read(state, move |store| store.machines(request)).await?;
    html(&MachinesPage {
        paging: Paging::of(&machines, request),
        machines: machines.items.iter().map(MachineRow::from).collect(),
    })
}

#[get("/machine/<id>?<page>&<size>")]
async fn list_runs(
    state: &State<AppState>,
    cookies: &CookieJar<'_>,
    id: i64,
    page: Option<u64>,
    size: Option<u64>,
) -> Result<RawHtml<String>, PageError> {
    let request = Paging::request(page, size, cookies);
    let (machine, runs) = read(state, move |store| {
        let machine = store.machine(id)?;
        let runs = match machine {
            Some(_) => Some(store.runs(id, request)?),
            None => None,
        };
        Ok((machine, runs))
    })
    .await?;
    let (Some(machine), Some(runs)) = (machine, runs) else {
        return Err(PageError::NotFound(format!(
            "There is no machine with id {id}."
        )));
    };
    html(&MachinePage {
        machine_id: machine.id,
        name: machine.name,
        paging: Paging::of(&runs, request),
        runs: runs.items.iter().map(RunRow::from).collect(),
    })
}

pub(super) fn routes() -> Vec<rocket::Route> {
    routes![list_machines, list_runs]
}
