//! Tests' output: `POST /api/v1/runs/<run>/tests/<index>/output` takes a batch of lines,
//! `GET /api/v1/tests/<id>/output` answers what is kept of a test's output.
//!
//! Ingest of output is ingest like the three seed events, through the same steps (`ingest`'s
//! `IngestBody`, `apply_one`, `announce`): the same token rules (401, 403 for another
//! machine's run), the same body limit (413), a parse that names the bad field (400),
//! idempotency by `event_id`, the store's work off the async executor. An applied batch is
//! announced on the `OutputHub` (not the status hub), so it reaches live pages and `stpt tail
//! --output` without delaying status changes. The store keeps at most `--output-limit` bytes
//! per test: the head and the tail, and counts what it dropped.

use rocket::data::Data;
use rocket::http::Status;
use rocket::serde::json::Json;
use rocket::{State, get, post, routes};
use serde::Serialize;
use stpt_core::wire::parse_output_batch;
use stpt_core::{Event, EventKind, OutputBatch, OutputLog, TestOutput};

use super::ApiError;
use super::error::ErrorBody;
use super::ingest::{IngestBody, announce, apply_one};
use super::read::query;
use crate::access::Bearer;
use crate::access::origin::SameSiteWrite;
use crate::metrics::Metrics;
use crate::request_log::LoggedMachine;
use crate::state::AppState;

/// The answer to an accepted batch.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct OutputAccepted {
    /// The run.
    run_id: i64,
    /// The test's position in plan order.
    index: u32,
    /// The test's id (`GET /api/v1/tests/<id>/output`).
    test_id: i64,
    /// The batch's event id.
    event_id: String,
    /// Lines in the batch.
    lines: usize,
    /// True when the batch had been applied before and nothing changed now.
    duplicate: bool,
}

async fn ingest_output(
    state: &AppState,
    bearer: Bearer,
    run: i64,
    index: u32,
    machine: LoggedMachine<'_>,
    body: Data<'_>,
) -> Result<OutputAccepted, ApiError> {
    let body = IngestBody::read(state, &bearer, body).await?;
    let batch: OutputBatch = parse_output_batch(&body.bytes)?;
    machine.set(&batch.machine_name);
    body.check_machine(&batch.machine_name)?;
    if run <= 0 {
        return Err(ApiError::not_found(
            "unknown_run",
            format!("no run has id {run}"),
        ));
    }
    let event_id = batch.event_id.clone();
    let lines = batch.lines.len();
    let output = TestOutput {
        run_id: Some(run),
        index,
        batch,
    };
    let (event, applied) = apply_one(state, Event::TestOutput(output)).await?;
    announce(state, &event, &applied).await;
    Ok(OutputAccepted {
        run_id: applied.run_id,
        index,
        test_id: applied.test_id.unwrap_or_default(),
        event_id,
        lines,
        duplicate: applied.duplicate,
    })
}

#[utoipa::path(
    tag = "v1",
    summary = "Append a batch of a test's output",
    description = "A batch of lines the test at `index` of the run printed (each with an optional `stream`, `stdout` or `stderr`, and `timestamp`), with an `event_id` that makes a retried delivery idempotent. Up to 10,000 lines a batch, within the body limit. Per test the server keeps at most its output limit (`--output-limit`, 1 MiB by default): the first half as the head, and the newest lines; what falls between is dropped and counted. Accepted whatever the test's status.",
    params(
        ("run" = i64, Path, description = "the run's id (a dry run's answer)", example = 1),
        ("index" = u32, Path, description = "the test's position in plan order, from 0", example = 0),
    ),
    request_body(content = OutputBatch, content_type = "application/json"),
    responses(
        (status = 202, description = "accepted (a replayed event id is acknowledged again, `duplicate` true)", body = OutputAccepted),
        (status = 400, description = "the body is not JSON, a field is missing or invalid (`field` names it), or the body cannot be read", body = ErrorBody),
        (status = 401, description = "this server takes machine tokens (`--ingest-auth token`) and none, an unknown or a revoked one came", body = ErrorBody),
        (status = 403, description = "the token is another machine's, the request came from a page of another site (`cross_origin`), or it carried a login session without its CSRF value (`csrf`)", body = ErrorBody),
        (status = 404, description = "unknown machine, run (or the run is another machine's), or no test at this index", body = ErrorBody),
        (status = 408, description = "the head or the body arrived too slowly (the connection guard's limits)", body = ErrorBody),
        (status = 409, description = "the run was aborted (`run_aborted`: it takes no more events), or the event id was used by another machine", body = ErrorBody),
        (status = 413, description = "the body is over the size limit", body = ErrorBody),
        (status = 415, description = "neither sent as JSON (`Content-Type: application/json`) nor with an `Authorization` header", body = ErrorBody),
        (status = 422, description = "the run is not a 64-bit integer or the index not a 32-bit unsigned one", body = ErrorBody),
        (status = 431, description = "the request head is over the size limit (the connection guard's limits)", body = ErrorBody),
        (status = 503, description = "the database is busy, or the server is at its connection or request-body limits; retry", body = ErrorBody),
    ),
    security((), ("machine_token" = []))
)]
#[post("/api/v1/runs/<run>/tests/<index>/output", data = "<body>")]
#[allow(clippy::too_many_arguments)] // Rocket's request guards, one per concern
async fn post_test_output(
    state: &State<AppState>,
    metrics: &State<Metrics>,
    bearer: Bearer,
    write: SameSiteWrite,
    run: i64,
    index: u32,
    machine: LoggedMachine<'_>,
    body: Data<'_>,
) -> Result<(Status, Json<OutputAccepted>), ApiError> {
    write.0?;
    let answer = async {
        let accepted = ingest_output(state, bearer, run, index, machine, body).await?;
        let duplicate = accepted.duplicate;
        Ok((Status::Accepted, Json(accepted), duplicate))
    };
    super::ingest::measured(metrics, EventKind::TestOutput, answer).await
}

#[utoipa::path(
    tag = "v1",
    summary = "What is kept of a test's output",
    description = "The head (the first lines) and, once the output passed the limit, the tail (the newest lines), with the counts of lines and bytes received and dropped.",
    params(("id" = i64, Path, description = "the test's id", example = 1)),
    responses(
        (status = 200, description = "the test's output (empty when it printed nothing)", body = OutputLog),
        (status = 401, description = "read access needs a login session or a machine token (`--read-access login`)", body = ErrorBody),
        (status = 404, description = "no test has this id", body = ErrorBody),
        (status = 422, description = "the id is not a 64-bit integer", body = ErrorBody),
        (status = 503, description = "the database is busy; retry", body = ErrorBody),
    )
)]
#[get("/api/v1/tests/<id>/output")]
async fn get_test_output(state: &State<AppState>, id: i64) -> Result<Json<OutputLog>, ApiError> {
    query(state, move |store| store.output(id))
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("unknown_test", format!("no test has id {id}")))
}

pub(super) fn routes() -> Vec<rocket::Route> {
    routes![post_test_output, get_test_output]
}
