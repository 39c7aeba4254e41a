//! The three ingest endpoints of the seed's protocol: dry run, test start, test stop.
//!
//! Each reads the body (up to the configured limit), parses and validates it into stpt-core's
//! `Event`, applies it to the store off the async executor, announces the change on the live
//! hub, queues the webhooks of a run it finished, and echoes the accepted payload (a dry run
//! adds its `run_id`). A body that fails any step gets a 4xx `{"error", "detail"}` and the
//! store is unchanged.
//!
//! The steps are shared by every ingest endpoint (output, the batch): `IngestBody` checks the
//! token and reads the body, `apply_one` applies an event, `announce` does what an applied
//! event does afterwards, `measured` records the outcome.
//!
//! Under `--ingest-auth token` a request needs `Authorization: Bearer <token>`: a missing,
//! unknown or revoked token is refused (401) before the body is read; a live token of another
//! machine than the event names is refused (403) after parsing.

use rocket::data::{Data, ToByteUnit};
use rocket::http::Status;
use rocket::serde::json::{Json, Value};
use rocket::{State, post, routes};
use stpt_core::wire::DryRunAccepted;
use stpt_core::{Applied, DryRun, Event, EventKind, StoreError, TestStart, TestStop};

use super::ApiError;
use super::error::ErrorBody;
use crate::access::Bearer;
use crate::access::origin::SameSiteWrite;
use crate::config::IngestAuth;
use crate::db::{HookEvent, TokenCheck};
use crate::live::{OutputMessage, RunChanged};
use crate::metrics::{Metrics, Outcome};
use crate::request_log::LoggedMachine;
use crate::state::AppState;
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
        TokenCheck::Personal { user_name } => Err(ApiError {
            status: Status::Forbidden,
            error: "forbidden",
            detail: format!(
                "{user_name:?}'s personal token only reads; events need a machine token \
                 (`stpt token create --machine NAME`)"
            ),
            field: None,
        }),
        TokenCheck::Unknown => Err(unauthorized("the token is not known to this server")),
        TokenCheck::Revoked => Err(unauthorized("the token has been revoked")),
    }
}

/// A request's body, read after its token was checked.
pub(super) struct IngestBody {
    /// The machine key the token may write for; `None` when ingest is open.
    pub(super) allowed_machine: Option<String>,
    /// The body, whole.
    pub(super) bytes: Vec<u8>,
}

impl IngestBody {
    /// Checks the token (401 before the body is read), then reads the body within the limit
    /// (413): the first step of every ingest endpoint.
    pub(super) async fn read(
        state: &AppState,
        bearer: &Bearer,
        body: Data<'_>,
    ) -> Result<IngestBody, ApiError> {
        let allowed_machine = token_machine(state, bearer).await?;
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
        Ok(IngestBody {
            allowed_machine,
            bytes: bytes.into_inner(),
        })
    }

    /// 403 unless the token may write for `machine_name`.
    pub(super) fn check_machine(&self, machine_name: &str) -> Result<(), ApiError> {
        match &self.allowed_machine {
            Some(key) if stpt_core::machine_key(machine_name) != *key => Err(ApiError {
                status: Status::Forbidden,
                error: "forbidden",
                detail: format!("the token may not write for machine {machine_name:?}"),
                field: None,
            }),
            _ => Ok(()),
        }
    }
}

/// Applies one event off the async executor (output kept within the configured limit).
pub(super) async fn apply_one(
    state: &AppState,
    event: Event,
) -> Result<(Event, Applied), ApiError> {
    let (event, applied) = state
        .blocking(move |state| {
            let applied = match &event {
                Event::TestOutput(output) => {
                    state
                        .store
                        .append_output(output, state.output_limit, state.clock.now())
                }
                event => state.store.apply(event, state.clock.now()),
            };
            (event, applied)
        })
        .await
        .map_err(|e| ApiError::from(StoreError::from(e)))?;
    Ok((event, applied?))
}

/// What every applied event does afterwards, whichever endpoint took it: a status change is
/// announced on the live hub and the webhooks of a run a stop finished are queued; output is
/// announced on the output hub. A duplicate changed nothing and announces nothing.
pub(super) async fn announce(state: &AppState, event: &Event, applied: &Applied) {
    if applied.duplicate {
        return;
    }
    match event {
        Event::TestOutput(output) => state.output.publish(OutputMessage::new(
            applied.machine_id,
            applied.run_id,
            applied.test_id.unwrap_or_default(),
            output.index,
            &output.batch.lines,
        )),
        event => {
            state.hub.publish(RunChanged::from(applied));
            // Only a stop can finish a run; hooks already told about it are skipped.
            if event.kind() == EventKind::TestStop {
                webhooks::notify(
                    state,
                    applied.run_id,
                    HookEvent::on_finish(applied.run_status),
                )
                .await;
            }
        }
    }
}

/// The status a single endpoint answers an accepted event with: 201 for a dry run (it
/// created a run), 202 for the others.
pub(super) fn accepted_status(kind: EventKind) -> Status {
    match kind {
        EventKind::DryRun => Status::Created,
        _ => Status::Accepted,
    }
}

/// Reads, parses, applies and announces one event.
async fn ingest(
    state: &AppState,
    kind: EventKind,
    bearer: Bearer,
    machine: LoggedMachine<'_>,
    body: Data<'_>,
) -> Result<(Status, Json<Value>, bool), ApiError> {
    let body = IngestBody::read(state, &bearer, body).await?;
    let event = Event::parse(kind, &body.bytes)?;
    machine.set(event.machine_name());
    body.check_machine(event.machine_name())?;
    let (event, applied) = apply_one(state, event).await?;
    announce(state, &event, &applied).await;
    let echo = match event {
        Event::DryRun(dry_run) => serde_json::to_value(DryRunAccepted {
            dry_run,
            run_id: applied.run_id,
        }),
        other => serde_json::to_value(&other),
    };
    let echo = echo.map_err(|e| ApiError::internal("cannot echo the event", &e))?;
    Ok((accepted_status(kind), Json(echo), applied.duplicate))
}

/// Runs one ingest and records its outcome and time.
pub(super) async fn measured<T>(
    metrics: &Metrics,
    kind: EventKind,
    ingest: impl Future<Output = Result<(Status, Json<T>, bool), ApiError>>,
) -> Result<(Status, Json<T>), ApiError> {
    let started = std::time::Instant::now();
    let answer = ingest.await;
    let outcome = match &answer {
        Ok((_, _, false)) => Outcome::Applied,
        Ok((_, _, true)) => Outcome::Duplicate,
        Err(refused) => Outcome::Refused(refused.error),
    };
    metrics.record(kind, outcome, started.elapsed());
    answer.map(|(status, body, _)| (status, body))
}

#[utoipa::path(
    tag = "seed",
    summary = "Plan a run: master scenario, scenarios, tests",
    request_body(content = DryRun, content_type = "application/json"),
    responses(
        (status = 201, description = "accepted; the payload is echoed with the run id", body = DryRunAccepted),
        (status = 400, description = "the body is not JSON, a field is missing or invalid (`field` names it), or the body cannot be read", body = ErrorBody),
        (status = 401, description = "this server takes machine tokens (`--ingest-auth token`) and none, an unknown or a revoked one came", body = ErrorBody),
        (status = 403, description = "the token is another machine's, the request came from a page of another site (`cross_origin`), or it carried a login session without its CSRF value (`csrf`)", body = ErrorBody),
        (status = 404, description = "unknown machine or run", body = ErrorBody),
        (status = 408, description = "the head or the body arrived too slowly (the connection guard's limits)", body = ErrorBody),
        (status = 409, description = "no test of the run matches, the attempt is not the running one's, or the event id was used by another machine", body = ErrorBody),
        (status = 413, description = "the body is over the size limit", body = ErrorBody),
        (status = 415, description = "neither sent as JSON (`Content-Type: application/json`) nor with an `Authorization` header", body = ErrorBody),
        (status = 431, description = "the request head is over the size limit (the connection guard's limits)", body = ErrorBody),
        (status = 503, description = "the database is busy, or the server is at its connection or request-body limits; retry", body = ErrorBody),
    ),
    security((), ("machine_token" = []))
)]
#[post("/tm_api/dry_run", data = "<body>")]
async fn post_dry_run(
    state: &State<AppState>,
    metrics: &State<Metrics>,
    bearer: Bearer,
    write: SameSiteWrite,
    machine: LoggedMachine<'_>,
    body: Data<'_>,
) -> Result<(Status, Json<Value>), ApiError> {
    write.0?;
    measured(
        metrics,
        EventKind::DryRun,
        ingest(state, EventKind::DryRun, bearer, machine, body),
    )
    .await
}

#[utoipa::path(
    tag = "seed",
    summary = "Start the first waiting test with this name and path",
    request_body(content = TestStart, content_type = "application/json"),
    responses(
        (status = 202, description = "accepted; the payload is echoed (a replayed event id is acknowledged again)", body = TestStart),
        (status = 400, description = "the body is not JSON, a field is missing or invalid (`field` names it), or the body cannot be read", body = ErrorBody),
        (status = 401, description = "this server takes machine tokens (`--ingest-auth token`) and none, an unknown or a revoked one came", body = ErrorBody),
        (status = 403, description = "the token is another machine's, the request came from a page of another site (`cross_origin`), or it carried a login session without its CSRF value (`csrf`)", body = ErrorBody),
        (status = 404, description = "unknown machine or run", body = ErrorBody),
        (status = 408, description = "the head or the body arrived too slowly (the connection guard's limits)", body = ErrorBody),
        (status = 409, description = "no test of the run matches, the attempt is not the running one's, the run was aborted (`run_aborted`: it takes no more events), or the event id was used by another machine", body = ErrorBody),
        (status = 413, description = "the body is over the size limit", body = ErrorBody),
        (status = 415, description = "neither sent as JSON (`Content-Type: application/json`) nor with an `Authorization` header", body = ErrorBody),
        (status = 431, description = "the request head is over the size limit (the connection guard's limits)", body = ErrorBody),
        (status = 503, description = "the database is busy, or the server is at its connection or request-body limits; retry", body = ErrorBody),
    ),
    security((), ("machine_token" = []))
)]
#[post("/tm_api/test_start", data = "<body>")]
async fn post_test_start(
    state: &State<AppState>,
    metrics: &State<Metrics>,
    bearer: Bearer,
    write: SameSiteWrite,
    machine: LoggedMachine<'_>,
    body: Data<'_>,
) -> Result<(Status, Json<Value>), ApiError> {
    write.0?;
    measured(
        metrics,
        EventKind::TestStart,
        ingest(state, EventKind::TestStart, bearer, machine, body),
    )
    .await
}

#[utoipa::path(
    tag = "seed",
    summary = "Stop the running test with a status",
    request_body(content = TestStop, content_type = "application/json"),
    responses(
        (status = 202, description = "accepted; the payload is echoed (a replayed event id is acknowledged again)", body = TestStop),
        (status = 400, description = "the body is not JSON, a field is missing or invalid (`field` names it), or the body cannot be read", body = ErrorBody),
        (status = 401, description = "this server takes machine tokens (`--ingest-auth token`) and none, an unknown or a revoked one came", body = ErrorBody),
        (status = 403, description = "the token is another machine's, the request came from a page of another site (`cross_origin`), or it carried a login session without its CSRF value (`csrf`)", body = ErrorBody),
        (status = 404, description = "unknown machine or run", body = ErrorBody),
        (status = 408, description = "the head or the body arrived too slowly (the connection guard's limits)", body = ErrorBody),
        (status = 409, description = "no test of the run matches, the attempt is not the running one's, the run was aborted (`run_aborted`: it takes no more events), or the event id was used by another machine", body = ErrorBody),
        (status = 413, description = "the body is over the size limit", body = ErrorBody),
        (status = 415, description = "neither sent as JSON (`Content-Type: application/json`) nor with an `Authorization` header", body = ErrorBody),
        (status = 431, description = "the request head is over the size limit (the connection guard's limits)", body = ErrorBody),
        (status = 503, description = "the database is busy, or the server is at its connection or request-body limits; retry", body = ErrorBody),
    ),
    security((), ("machine_token" = []))
)]
#[post("/tm_api/test_stop", data = "<body>")]
async fn post_test_stop(
    state: &State<AppState>,
    metrics: &State<Metrics>,
    bearer: Bearer,
    write: SameSiteWrite,
    machine: LoggedMachine<'_>,
    body: Data<'_>,
) -> Result<(Status, Json<Value>), ApiError> {
    write.0?;
    measured(
        metrics,
        EventKind::TestStop,
        ingest(state, EventKind::TestStop, bearer, machine, body),
    )
    .await
}

pub(super) fn routes() -> Vec<rocket::Route> {
    routes![post_dry_run, post_test_start, post_test_stop]
}
