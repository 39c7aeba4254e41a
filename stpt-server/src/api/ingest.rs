//! The three ingest endpoints of the seed's protocol: dry run, test start, test stop.
//!
//! Each reads the body (up to the configured limit), parses and validates it into stpt-core's
//! `Event`, applies it to the store off the async executor, announces the change on the live
//! hub and echoes the accepted payload (a dry run adds its `run_id`). A body that fails any
//! step gets a 4xx `{"error", "detail"}` and the store is unchanged.

use rocket::data::{Data, ToByteUnit};
use rocket::http::Status;
use rocket::serde::json::{Json, Value};
use rocket::{State, post, routes};
use stpt_core::{Event, EventKind};

use super::ApiError;
use crate::app::AppState;
use crate::live::RunChanged;

/// Reads, parses, applies and announces one event.
async fn ingest(
    state: &AppState,
    kind: EventKind,
    body: Data<'_>,
) -> Result<(Status, Json<Value>), ApiError> {
    let bytes = body
        .open(state.body_limit.bytes())
        .into_bytes()
        .await
        .map_err(|e| {
            ApiError::bad_request("unreadable_body", format!("cannot read the body: {e}"))
        })?;
    if !bytes.is_complete() {
        return Err(ApiError::payload_too_large(state.body_limit));
    }
    let event = Event::parse(kind, &bytes)?;
    let store = state.store.clone();
    let (event, applied) = rocket::tokio::task::spawn_blocking(move || {
        let applied = store.apply(&event);
        (event, applied)
    })
    .await
    .map_err(|e| ApiError::internal("the ingest task failed", &e))?;
    let applied = applied?;
    if !applied.duplicate {
        state.hub.publish(RunChanged::from(&applied));
    }
    let mut echo = serde_json::to_value(&event)
        .map_err(|e| ApiError::internal("cannot echo the event", &e))?;
    let status = match kind {
        EventKind::DryRun => {
            if let Some(object) = echo.as_object_mut() {
                object.insert("run_id".to_owned(), applied.run_id.into());
            }
            Status::Created
        }
        EventKind::TestStart | EventKind::TestStop => Status::Accepted,
    };
    Ok((status, Json(echo)))
}

#[post("/tm_api/dry_run", data = "<body>")]
async fn post_dry_run(
    state: &State<AppState>,
    body: Data<'_>,
) -> Result<(Status, Json<Value>), ApiError> {
    ingest(state, EventKind::DryRun, body).await
}

#[post("/tm_api/test_start", data = "<body>")]
async fn post_test_start(
    state: &State<AppState>,
    body: Data<'_>,
) -> Result<(Status, Json<Value>), ApiError> {
    ingest(state, EventKind::TestStart, body).await
}

#[post("/tm_api/test_stop", data = "<body>")]
async fn post_test_stop(
    state: &State<AppState>,
    body: Data<'_>,
) -> Result<(Status, Json<Value>), ApiError> {
    ingest(state, EventKind::TestStop, body).await
}

pub(super) fn routes() -> Vec<rocket::Route> {
    routes![post_dry_run, post_test_start, post_test_stop]
}
