//! `GET /healthz`: the server answers and its store answers.

use rocket::serde::json::Json;
use rocket::{State, get, routes};
use serde::Serialize;
use stpt_core::PageRequest;

use super::ApiError;
use super::error::ErrorBody;

/// The health answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct Health {
    /// Always `ok`.
    #[schema(examples("ok"))]
    status: &'static str,
}
use crate::state::AppState;

#[utoipa::path(
    tag = "operations",
    summary = "The server and its database answer",
    responses(
        (status = 200, description = "healthy", body = Health),
        (status = 503, description = "the database is busy", body = ErrorBody),
    )
)]
#[get("/healthz")]
async fn healthz(state: &State<AppState>) -> Result<Json<Health>, ApiError> {
    state
        .read(|store| store.machines(PageRequest::new(1, 1)))
        .await?;
    Ok(Json(Health { status: "ok" }))
}

pub(super) fn routes() -> Vec<rocket::Route> {
    routes![healthz]
}
