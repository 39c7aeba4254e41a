//! The three ingest endpoints of the seed's protocol: dry run, test start, test stop.
//!
//! Each reads the body (up to the configured limit), parses and validates it into stpt-core's
//! `Event`, applies it to the store off the async executor, announces the change on the live
//! hub, queues the webhooks of a run it finished, and echoes the accepted payload (a dry run
//! adds its `run_id`). A body that fails any step gets a 4xx `{"error", "detail"}` and the
//! store is unchanged.
//!
//! Under `--ingest-auth token` a request needs `Authorization: Bearer <token>`: a missing,
//! unknown or revoked token is refused (401) before the body is read; a live token of another
//! machine than the event names is refused (403) after parsing.

use rocket::data::{Data, ToByteUnit};
use rocket::http::Status;
use rocket::serde::json::{Json, Value};
use rocket::{State, post, routes};
use stpt_core::{Event, EventKind};

use super::ApiError;
use crate::access::Bearer;
use crate::app::AppState;
use crate::config::IngestAuth;
use crate::db::{HookEvent, TokenCheck};
use crate::live::RunChanged;
use crate::metrics::Metrics;
use crate::webhooks;

fn unauthorized(detail: &str) -> ApiError {
    ApiError {
        status: Status::Unauthorized,
        error: "unauthorized",
        detail: detail.to_owned(),
        field: None,
    }
}

/// The machine key a request's token may write for; `None` when ingest is open.
pub(super) async fn token_machine(
    state: &AppState,
    bearer: &Bearer,
) -> Result<Option<String>, ApiError> {
    if state.security.ingest_auth == IngestAuth::Open {
        return Ok(None);
    }
    let Some(token) = &bearer.0 else {
        return Err(unauthorized(
            "this server needs a machine token: send Authorization: Bearer <token>",
        ));
    };
    match state.security.check_token(token).await? {
        TokenCheck::Valid { machine_key, .. } => Ok(Some(machine_key)),
        TokenCheck::Unknown => Err(unauthorized("the token is not known to this server")),
        TokenCheck::Revoked => Err(unauthorized("the token has been revoked")),
    }
}

/// Reads, parses, applies and announces one event.
async fn ingest(
    state: &AppState,
    kind: EventKind,
    bearer: Bearer,
    body: Data<'_>,
) -> Result<(Status, Json<Value>), ApiError> {
    let allowed_machine = token_machine(state, &bearer).await?;
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
    if let Some(key) = allowed_machine
        && event.machine_name().to_lowercase() != key
    {
        return Err(ApiError {
            status: Status::Forbidden,
            error: "forbidden",
            detail: format!(
                "the token may not write for machine {:?}",
                event.machine_name()
            ),
            field: None,
        });
    }
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
        // Only a stop can finish a run; hooks already told about it are skipped.
        if kind == EventKind::TestStop {
            webhooks::notify(
                state,
                applied.run_id,
                HookEvent::on_finish(applied.run_status),
            )
            .await;
        }
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

/// Runs one ingest and records its outcome and time.
async fn measured(
    metrics: &Metrics,
    kind: EventKind,
    ingest: impl Future<Output = Result<(Status, Json<Value>), ApiError>>,
) -> Result<(Status, Json<Value>), ApiError> {
    let started = std::time::Instant::now();
    let answer = ingest.await;
    let refused = answer.as_ref().err().map(|e| e.error);
    metrics.record(kind, refused, started.elapsed());
    answer
}

#[post("/tm_api/dry_run", data = "<body>")]
async fn post_dry_run(
    state: &State<AppState>,
    metrics: &State<Metrics>,
    bearer: Bearer,
    body: Data<'_>,
) -> Result<(Status, Json<Value>), ApiError> {
    measured(
        metrics,
        EventKind::DryRun,
        ingest(state, EventKind::DryRun, bearer, body),
    )
    .await
}

#[post("/tm_api/test_start", data = "<body>")]
async fn post_test_start(
    state: &State<AppState>,
    metrics: &State<Metrics>,
    bearer: Bearer,
    body: Data<'_>,
) -> Result<(Status, Json<Value>), ApiError> {
    measured(
        metrics,
        EventKind::TestStart,
        ingest(state, EventKind::TestStart, bearer, body),
    )
    .await
}

#[post("/tm_api/test_stop", data = "<body>")]
async fn post_test_stop(
    state: &State<AppState>,
    metrics: &State<Metrics>,
    bearer: Bearer,
    body: Data<'_>,
) -> Result<(Status, Json<Value>), ApiError> {
    measured(
        metrics,
        EventKind::TestStop,
        ingest(state, EventKind::TestStop, bearer, body),
    )
    .await
}

pub(super) fn routes() -> Vec<rocket::Route> {
    routes![post_dry_run, post_test_start, post_test_stop]
}
