//! `GET /healthz`: the server answers and its store answers.

use rocket::serde::json::{Json, Value, json};
use rocket::{State, get, routes};
use stpt_core::PageRequest;

use super::ApiError;
use crate::app::AppState;

#[get("/healthz")]
async fn healthz(state: &State<AppState>) -> Result<Json<Value>, ApiError> {
    let store = state.store.clone();
    rocket::tokio::task::spawn_blocking(move || store.machines(PageRequest::new(1, 1)))
        .await
        .map_err(|e| ApiError::internal("health check task failed", &e))??;
    Ok(Json(json!({ "status": "ok" })))
}

pub(super) fn routes() -> Vec<rocket::Route> {
    routes![healthz]
}
