//! The seed's read endpoints: one node, the machine list, a machine's runs and its newest run.
//!
//! Store calls run on the blocking pool; an id that names nothing is a 404 with the usual
//! `{"error", "detail"}` body.

use rocket::serde::json::Json;
use rocket::{State, get, routes};
use stpt_core::wire::{MachineLastData, MachineListItem, RunListItem, ScriptDetail};
use stpt_core::{NodeKind, Store};

use super::ApiError;
use super::error::ErrorBody;
use super::pagination::{PageQuery, SiteHost, envelope};
use crate::stale::StaleLimit;
use crate::state::AppState;
use stpt_core::wire::Paginated;

/// Runs a store query on the blocking pool.
pub(crate) async fn query<T, F>(state: &AppState, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&dyn Store) -> Result<T, stpt_core::StoreError> + Send + 'static,
{
    state.read(f).await.map_err(ApiError::from)
}

async fn node_detail(
    state: &AppState,
    kind: NodeKind,
    id: i64,
) -> Result<Json<ScriptDetail>, ApiError> {
    let node = query(state, move |store| store.node(kind, id)).await?;
    let node = node.ok_or_else(|| {
        let what = match kind {
            NodeKind::Master => "master scenario",
            NodeKind::Scenario => "scenario",
            NodeKind::Test => "test",
        };
        ApiError::not_found("not_found", format!("no {what} has id {id}"))
    })?;
    Ok(Json(ScriptDetail::from(&node)))
}

#[utoipa::path(
    tag = "seed",
    summary = "One test: file, script, timestamps",
    params(("id" = i64, Path, description = "the test's id", example = 1)),
    responses(
        (status = 200, description = "the test", body = ScriptDetail),
        (status = 401, description = "read access needs a login session or a machine token (`--read-access login`)", body = ErrorBody),
        (status = 404, description = "no test has this id", body = ErrorBody),
        (status = 422, description = "the id is not a 64-bit integer", body = ErrorBody),
        (status = 503, description = "the database is busy; retry", body = ErrorBody),
    )
)]
#[get("/tm_api/test/<id>")]
async fn get_test(state: &State<AppState>, id: i64) -> Result<Json<ScriptDetail>, ApiError> {
    node_detail(state, NodeKind::Test, id).await
}

#[utoipa::path(
    tag = "seed",
    summary = "One scenario: file, script, timestamps",
    params(("id" = i64, Path, description = "the scenario's id", example = 1)),
    responses(
        (status = 200, description = "the scenario", body = ScriptDetail),
        (status = 401, description = "read access needs a login session or a machine token (`--read-access login`)", body = ErrorBody),
        (status = 404, description = "no scenario has this id", body = ErrorBody),
        (status = 422, description = "the id is not a 64-bit integer", body = ErrorBody),
        (status = 503, description = "the database is busy; retry", body = ErrorBody),
    )
)]
#[get("/tm_api/scenario/<id>")]
async fn get_scenario(state: &State<AppState>, id: i64) -> Result<Json<ScriptDetail>, ApiError> {
    node_detail(state, NodeKind::Scenario, id).await
}

#[utoipa::path(
    tag = "seed",
    summary = "One master scenario (its id is the run id): file, script, timestamps",
    params(("id" = i64, Path, description = "the master scenario's id (the run id)", example = 1)),
    responses(
        (status = 200, description = "the master scenario", body = ScriptDetail),
        (status = 401, description = "read access needs a login session or a machine token (`--read-access login`)", body = ErrorBody),
        (status = 404, description = "no master scenario has this id", body = ErrorBody),
        (status = 422, description = "the id is not a 64-bit integer", body = ErrorBody),
        (status = 503, description = "the database is busy; retry", body = ErrorBody),
    )
)]
#[get("/tm_api/master_scenario/<id>")]
async fn get_master_scenario(
    state: &State<AppState>,
    id: i64,
) -> Result<Json<ScriptDetail>, ApiError> {
    node_detail(state, NodeKind::Master, id).await
}

#[utoipa::path(
    tag = "seed",
    summary = "Machines with their newest run's status",
    params(PageQuery),
    responses(
        (status = 200, description = "one page of machines", body = Paginated<MachineListItem>),
        (status = 401, description = "read access needs a login session or a machine token (`--read-access login`)", body = ErrorBody),
        (status = 404, description = "the page is not a positive integer or lies past the end", body = ErrorBody),
        (status = 503, description = "the database is busy; retry", body = ErrorBody),
    )
)]
#[get("/tm_api/machines?<page..>")]
async fn list_machines(
    state: &State<AppState>,
    host: SiteHost,
    page: PageQuery,
) -> Result<Json<Paginated<MachineListItem>>, ApiError> {
    let request = page.request()?;
    let machines = query(state, move |store| store.machines(request)).await?;
    let items = machines.map(|m| MachineListItem::from(&m));
    Ok(Json(envelope(&host, request, items)?))
}

#[utoipa::path(
    tag = "seed",
    summary = "A machine's runs, newest first",
    description = "An unknown machine has no runs: its list is empty.",
    params(("id" = i64, Path, description = "the machine's id", example = 1), PageQuery),
    responses(
        (status = 200, description = "one page of runs", body = Paginated<RunListItem>),
        (status = 401, description = "read access needs a login session or a machine token (`--read-access login`)", body = ErrorBody),
        (status = 404, description = "the page is not a positive integer or lies past the end", body = ErrorBody),
        (status = 422, description = "the id is not a 64-bit integer", body = ErrorBody),
        (status = 503, description = "the database is busy; retry", body = ErrorBody),
    )
)]
#[get("/tm_api/machine_dry_run_datas/<id>?<page..>")]
async fn list_machine_runs(
    state: &State<AppState>,
    limit: &State<StaleLimit>,
    host: SiteHost,
    id: i64,
    page: PageQuery,
) -> Result<Json<Paginated<RunListItem>>, ApiError> {
    let request = page.request()?;
    let runs = query(state, move |store| store.runs(id, request)).await?;
    let items = runs.map(|mut r| {
        limit.mark(&mut r);
        RunListItem::from(&r)
    });
    Ok(Json(envelope(&host, request, items)?))
}

#[utoipa::path(
    tag = "seed",
    summary = "A machine's newest run in full",
    params(("id" = i64, Path, description = "the machine's id", example = 1)),
    responses(
        (status = 200, description = "the machine and its newest run (null when it has none)", body = MachineLastData),
        (status = 401, description = "read access needs a login session or a machine token (`--read-access login`)", body = ErrorBody),
        (status = 404, description = "no machine has this id", body = ErrorBody),
        (status = 422, description = "the id is not a 64-bit integer", body = ErrorBody),
        (status = 503, description = "the database is busy; retry", body = ErrorBody),
    )
)]
#[get("/tm_api/machine_last_data/<id>")]
async fn get_machine_last_data(
    state: &State<AppState>,
    id: i64,
) -> Result<Json<MachineLastData>, ApiError> {
    Ok(Json(machine_last_data(state, id).await?))
}

/// A machine's newest run in the seed's shape; 404 for an unknown machine.
pub(crate) async fn machine_last_data(
    state: &AppState,
    id: i64,
) -> Result<MachineLastData, ApiError> {
    let (machine, run) = query(state, move |store| {
        let machine = store.machine(id)?;
        let run = match &machine {
            Some(_) => store.last_run(id)?,
            None => None,
        };
        Ok((machine, run))
    })
    .await?;
    let machine = machine
        .ok_or_else(|| ApiError::not_found("unknown_machine", format!("no machine has id {id}")))?;
    Ok(MachineLastData::new(
        &machine,
        run.as_ref(),
        state.clock.now(),
    ))
}

pub(super) fn routes() -> Vec<rocket::Route> {
    routes![
        get_test,
        get_scenario,
        get_master_scenario,
        list_machines,
        list_machine_runs,
        get_machine_last_data
    ]
}
