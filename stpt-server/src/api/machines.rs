//! `DELETE /api/v1/machines/<id>`: remove a machine with all its runs.
//!
//! For machines nobody wants to see again, such as the ones `stpt bench` simulates. It needs
//! what ingest and aborting need (a token of the machine when ingest takes tokens) and is a
//! write like them (JSON or `Authorization`, no foreign origin). The machine's name is free
//! again afterwards: its next dry run creates a new machine.

use rocket::serde::json::Json;
use rocket::{State, delete, routes};
use stpt_core::wire::MachineDeleted;

use super::ApiError;
use super::error::ErrorBody;
use super::ingest::token_machine;
use super::read::query;
use crate::access::Bearer;
use crate::access::origin::SameSiteWrite;
use crate::state::AppState;

fn unknown_machine(id: i64) -> ApiError {
    ApiError::not_found("unknown_machine", format!("no machine has id {id}"))
}

#[utoipa::path(
    tag = "v1",
    summary = "Delete a machine with its runs",
    description = "Removes the machine, every run of it (scenarios, tests, attempts) and the record of its applied event ids; its machine tokens and webhooks stay. Its name is free again: a later dry run under it creates a new machine.",
    params(("id" = i64, Path, description = "the machine's id", example = 3)),
    responses(
        (status = 200, description = "what was removed", body = MachineDeleted),
        (status = 401, description = "a machine token is needed (`--ingest-auth token`), or read access needs a login session or a token (`--read-access login`)", body = ErrorBody),
        (status = 403, description = "the token is another machine's, the request came from a page of another site (`cross_origin`), or it carried a login session without its CSRF value (`csrf`)", body = ErrorBody),
        (status = 404, description = "no machine has this id", body = ErrorBody),
        (status = 415, description = "neither sent as JSON (`Content-Type: application/json`) nor with an `Authorization` header", body = ErrorBody),
        (status = 422, description = "the id is not a 64-bit integer", body = ErrorBody),
        (status = 503, description = "the database is busy; retry", body = ErrorBody),
    ),
    security((), ("machine_token" = []))
)]
#[delete("/api/v1/machines/<id>")]
pub(super) async fn delete_machine(
    state: &State<AppState>,
    bearer: Bearer,
    write: SameSiteWrite,
    id: i64,
) -> Result<Json<MachineDeleted>, ApiError> {
    write.0?;
    let allowed_machine = token_machine(state, &bearer).await?;
    let machine = query(state, move |store| store.machine(id))
        .await?
        .ok_or_else(|| unknown_machine(id))?;
    if let Some(key) = allowed_machine
        && stpt_core::machine_key(&machine.name) != key
    {
        return Err(ApiError {
            status: rocket::http::Status::Forbidden,
            error: "forbidden",
            detail: format!("the token may not delete machine {:?}", machine.name),
            field: None,
        });
    }
    let runs = query(state, move |store| store.delete_machine(id))
        .await?
        .ok_or_else(|| unknown_machine(id))?;
    Ok(Json(MachineDeleted {
        id,
        name: machine.name,
        runs,
    }))
}

pub(super) fn routes() -> Vec<rocket::Route> {
    routes![delete_machine]
}
