//! The versioned JSON API under `/api/v1/`: stpt's own shapes, beyond the seed's.
//!
//! `GET /api/v1/runs/<id>` answers one run in full as stpt-core's `RunTree` (every node with
//! its id, status, timestamps in the wire format, script and failure message), which the CLI's
//! `show` and `export` read.

use rocket::serde::json::Json;
use rocket::{State, get, routes};
use stpt_core::RunTree;

use super::ApiError;
use super::read::query;
use crate::app::AppState;

#[get("/api/v1/runs/<id>")]
async fn get_run(state: &State<AppState>, id: i64) -> Result<Json<RunTree>, ApiError> {
    let run = query(state, move |store| store.run(id)).await?;
    run.map(Json)
        .ok_or_else(|| ApiError::not_found("unknown_run", format!("no run has id {id}")))
}

pub(super) fn routes() -> Vec<rocket::Route> {
    routes![get_run]
}
