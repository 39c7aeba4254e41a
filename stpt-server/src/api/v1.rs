//! The versioned JSON API under `/api/v1/`: stpt's own shapes, beyond the seed's.
//!
//! `GET /api/v1/runs/<id>` answers one run in full as stpt-core's `RunTree` (every node with
//! its id, status, timestamps in RFC 3339 with the zone, script and failure message), which the CLI's
//! `show` and `export` read. Its summary says whether the run is `stale` (silent for longer
//! than the server's stale limit, or closed as stale) and when it last heard an event.
//!
//! `POST /api/v1/runs/<id>/abort` closes a run by hand: its ongoing tests become `cancelled`.
//! The run's `finished` (and `failed`) webhooks are told. It needs what ingest needs (a token of the run's machine when ingest takes tokens).

use rocket::serde::json::Json;
use rocket::{State, get, post, routes};
use stpt_core::{RunSummary, RunTree};

use super::ApiError;
use super::error::ErrorBody;
use super::ingest::token_machine;
use super::read::query;
use crate::access::Bearer;
use crate::access::origin::SameSiteWrite;
use crate::db::HookEvent;
use crate::live::RunChanged;
use crate::stale::StaleLimit;
use crate::state::AppState;
use crate::webhooks;

fn unknown_run(id: i64) -> ApiError {
    ApiError::not_found("unknown_run", format!("no run has id {id}"))
}

#[utoipa::path(
    tag = "v1",
    summary = "One run in full",
    description = "Machine, summary, master, scenarios and tests with ids, statuses, timestamps, scripts and messages; `run.stale` and `run.last_event_at` say whether it went silent.",
    params(("id" = i64, Path, description = "the run's id", example = 1)),
    responses(
        (status = 200, description = "the run", body = RunTree),
        (status = 401, description = "read access needs a login session or a machine token (`--read-access login`)", body = ErrorBody),
        (status = 404, description = "no run has this id", body = ErrorBody),
        (status = 422, description = "the id is not a 64-bit integer", body = ErrorBody),
        (status = 503, description = "the database is busy; retry", body = ErrorBody),
    )
)]
#[get("/api/v1/runs/<id>")]
async fn get_run(
    state: &State<AppState>,
    limit: &State<StaleLimit>,
    id: i64,
) -> Result<Json<RunTree>, ApiError> {
    let mut run = query(state, move |store| store.run(id))
        .await?
        .ok_or_else(|| unknown_run(id))?;
    limit.mark(&mut run.run);
    Ok(Json(run))
}

#[utoipa::path(
    tag = "v1",
    summary = "Close a run by hand",
    description = "Its ongoing tests become cancelled; answers the run's summary with closed_at and closed_as. Aborting a finished run changes nothing.",
    params(("id" = i64, Path, description = "the run's id", example = 1)),
    request_body(content = serde_json::Value, content_type = "application/json", description = "an empty object `{}`: the request must be sent as JSON (or carry `Authorization`), so no page of another site can abort a run"),
    responses(
        (status = 200, description = "the run's summary after the abort", body = RunSummary),
        (status = 401, description = "a machine token is needed (`--ingest-auth token`), or read access needs a login session or a token (`--read-access login`)", body = ErrorBody),
        (status = 403, description = "the token is another machine's, the request came from a page of another site (`cross_origin`), or it carried a login session without its CSRF value (`csrf`)", body = ErrorBody),
        (status = 404, description = "no run has this id", body = ErrorBody),
        (status = 415, description = "neither sent as JSON (`Content-Type: application/json`) nor with an `Authorization` header", body = ErrorBody),
        (status = 422, description = "the id is not a 64-bit integer", body = ErrorBody),
        (status = 503, description = "the database is busy; retry", body = ErrorBody),
    ),
    security((), ("machine_token" = []))
)]
#[post("/api/v1/runs/<id>/abort")]
async fn abort_run(
    state: &State<AppState>,
    limit: &State<StaleLimit>,
    bearer: Bearer,
    write: SameSiteWrite,
    id: i64,
) -> Result<Json<RunSummary>, ApiError> {
    write.0?;
    let allowed_machine = token_machine(state, &bearer).await?;
    let tree = query(state, move |store| store.run(id))
        .await?
        .ok_or_else(|| unknown_run(id))?;
    if let Some(key) = allowed_machine
        && stpt_core::machine_key(&tree.machine.name) != key
    {
        return Err(ApiError {
            status: rocket::http::Status::Forbidden,
            error: "forbidden",
            detail: format!(
                "the token may not abort runs of machine {:?}",
                tree.machine.name
            ),
            field: None,
        });
    }
    let now = state.clock.now();
    let mut run = query(state, move |store| store.abort(id, now))
        .await?
        .ok_or_else(|| unknown_run(id))?;
    state.hub.publish(RunChanged {
        machine_id: run.machine_id,
        run_id: run.id,
        run_status: run.status,
    });
    webhooks::notify(state, run.id, HookEvent::on_finish(run.status)).await;
    limit.mark(&mut run);
    Ok(Json(run))
}

pub(super) fn routes() -> Vec<rocket::Route> {
    routes![get_run, abort_run]
}
