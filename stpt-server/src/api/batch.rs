//! `POST /api/v1/events`: many events of any kind in one request, each answered on its own.
//!
//! The body is a JSON array of events, or one event per line sent as `application/x-ndjson`
//! (stpt-core's `wire::split_batch`); each event is its own endpoint's body, told by its
//! fields, output carrying its `run_id` and `index`. The steps are the single endpoints'
//! (`ingest`'s `IngestBody`, `announce`): the token is checked before the body is read (401),
//! the body is bounded by the body limit (413) and by the most events one batch may hold (413
//! `too_many_events`), and a body that is not a JSON array is refused (400). Those refuse the
//! whole request: nothing of it is applied.
//!
//! Otherwise the answer is 200 with one answer per event, in order (`wire::BatchAnswer`): an
//! event that does not parse, is another machine's than its token's (403), or that the store
//! refuses is answered with the status and error its own endpoint would have given, and the
//! others still apply. The events are applied in order by one `Store::apply_batch` call, and
//! each applied one is announced as a single ingest announces it (live hub, webhooks, output
//! hub). The request log names the batch's machine.

use std::time::Instant;

use rocket::data::Data;
use rocket::http::{ContentType, Status};
use rocket::serde::json::Json;
use rocket::{State, post, routes};
use stpt_core::wire::{
    BatchAnswer, BatchError, BatchFormat, BatchOutcome, ErrorBody, EventAnswer, NDJSON, Unparsed,
    split_batch,
};
use stpt_core::{Applied, Event, EventKind, StoreError};

use super::ApiError;
use super::ingest::{IngestBody, accepted_status, announce};
use crate::access::Bearer;
use crate::access::origin::SameSiteWrite;
use crate::metrics::{Metrics, Outcome};
use crate::request_log::LoggedMachine;
use crate::state::AppState;

impl From<BatchError> for ApiError {
    fn from(err: BatchError) -> Self {
        match err {
            BatchError::MalformedJson { reason } => ApiError::bad_request(
                "malformed_json",
                format!("the body is not valid JSON: {reason}"),
            ),
            BatchError::NotAnArray => ApiError::bad_request("not_a_batch", err.to_string()),
            BatchError::TooMany { .. } => ApiError {
                status: Status::PayloadTooLarge,
                error: "too_many_events",
                detail: err.to_string(),
                field: None,
            },
        }
    }
}

/// One event of a batch: an event as its own endpoint takes it, with its `event_id`, which a
/// batch requires.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[allow(dead_code)] // The OpenAPI document's description only: the events parsed are `Event`s.
pub(super) struct BatchEvent {
    #[serde(flatten)]
    event: Event,
    /// Client-generated id, required in a batch: a batch sent again then changes nothing.
    #[schema(min_length = 1, max_length = 128, pattern = r"^[^\x00]*\S[^\x00]*$")]
    event_id: String,
}

/// How one event of the batch ended, before its answer is written.
struct Answered {
    kind: Option<EventKind>,
    event_id: Option<String>,
    result: Result<Applied, ApiError>,
}

impl Answered {
    fn refused(event: &Event, error: ApiError) -> Answered {
        Answered {
            kind: Some(event.kind()),
            event_id: event.event_id().map(str::to_owned),
            result: Err(error),
        }
    }

    fn answer(self, index: usize) -> EventAnswer {
        let (kind, event_id) = (self.kind, self.event_id);
        match self.result {
            Ok(applied) => EventAnswer {
                index,
                outcome: if applied.duplicate {
                    BatchOutcome::Duplicate
                } else {
                    BatchOutcome::Applied
                },
                status: accepted_status(applied.kind).code,
                kind,
                event_id,
                run_id: Some(applied.run_id),
                test_id: applied.test_id,
                error: None,
            },
            Err(error) => EventAnswer {
                index,
                outcome: BatchOutcome::Refused,
                status: error.status.code,
                kind,
                event_id,
                run_id: None,
                test_id: None,
                error: Some(ErrorBody {
                    error: error.error.to_owned(),
                    detail: error.detail,
                    field: error.field,
                }),
            },
        }
    }

    fn outcome(&self) -> Outcome {
        match &self.result {
            Ok(applied) if applied.duplicate => Outcome::Duplicate,
            Ok(_) => Outcome::Applied,
            Err(error) => Outcome::Refused(error.error),
        }
    }
}

/// The machine a batch names in the request log: its events' one machine, or the first and
/// how many others.
fn logged_machine(events: &[Result<Event, Unparsed>]) -> Option<String> {
    let mut names = events.iter().flatten().map(Event::machine_name);
    let first = names.next()?;
    let key = stpt_core::machine_key(first);
    let mut others: Vec<String> = names
        .map(stpt_core::machine_key)
        .filter(|other| *other != key)
        .collect();
    others.sort();
    others.dedup();
    Some(match others.len() {
        0 => first.to_owned(),
        n => format!("{first} (+{n} more)"),
    })
}

/// Reads, splits, checks, applies and announces a batch.
async fn ingest_batch(
    state: &AppState,
    bearer: Bearer,
    machine: LoggedMachine<'_>,
    format: BatchFormat,
    body: Data<'_>,
) -> Result<Vec<Answered>, ApiError> {
    let body = IngestBody::read(state, &bearer, body).await?;
    let parsed = split_batch(&body.bytes, format, state.batch_max_events)?;
    if let Some(name) = logged_machine(&parsed) {
        machine.set(&name);
    }
    let mut answered: Vec<Option<Answered>> = Vec::with_capacity(parsed.len());
    let mut to_apply = Vec::with_capacity(parsed.len());
    for (index, event) in parsed.into_iter().enumerate() {
        let checked = event
            .map_err(|unparsed| Answered {
                kind: unparsed.kind,
                event_id: unparsed.event_id,
                result: Err(unparsed.error.into()),
            })
            .and_then(|event| match body.check_machine(event.machine_name()) {
                Ok(()) => Ok(event),
                Err(error) => Err(Answered::refused(&event, error)),
            });
        match checked {
            Ok(event) => {
                to_apply.push((index, event));
                answered.push(None);
            }
            Err(refused) => answered.push(Some(refused)),
        }
    }
    if !to_apply.is_empty() {
        let (positions, events): (Vec<usize>, Vec<Event>) = to_apply.into_iter().unzip();
        let (events, results) = state
            .blocking(move |state| {
                let results =
                    state
                        .store
                        .apply_batch(&events, state.output_limit, state.clock.now());
                (events, results)
            })
            .await
            .map_err(|e| ApiError::from(StoreError::from(e)))?;
        let results = results?;
        if results.len() != events.len() {
            return Err(ApiError::internal(
                "the store answered a batch with the wrong count",
                &format!("{} answers for {} events", results.len(), events.len()),
            ));
        }
        for ((index, event), result) in positions.into_iter().zip(events).zip(results) {
            if let Ok(applied) = &result {
                announce(state, &event, applied).await;
            }
            if let Some(slot) = answered.get_mut(index) {
                *slot = Some(Answered {
                    kind: Some(event.kind()),
                    event_id: event.event_id().map(str::to_owned),
                    result: result.map_err(ApiError::from),
                });
            }
        }
    }
    Ok(answered.into_iter().flatten().collect())
}

/// Whether `ct` is `application/x-ndjson` (stpt-core's `NDJSON`), parameters aside.
pub(crate) fn is_ndjson(ct: &ContentType) -> bool {
    NDJSON
        .split_once('/')
        .is_some_and(|(top, sub)| ct.top() == top && ct.sub() == sub)
}

#[utoipa::path(
    tag = "v1",
    summary = "Report many events in one request",
    description = "A batch of events of any kind, applied in order: a JSON array (`application/json`) or one event per line (`application/x-ndjson`). Each event is the body its own endpoint takes (`/tm_api/dry_run/`, `/tm_api/test_start/`, `/tm_api/test_stop/`), told by its fields (`master_scenario`: a dry run; `lines`: output; `status` or `timestamp_stop`: a stop; `timestamp_start`: a start); output is the output endpoint's body with the `run_id` (default: the machine's newest run) and `index` of its test. Each needs its `event_id` (else it is refused, 400 `invalid_field`), so a batch sent again changes nothing. At most 1,000 events (`--batch-max-events`) within the body limit. The answer holds one answer per event, in order: `applied`, `duplicate` (its event id was applied before) or `refused` with the status and error its own endpoint would have answered (`field` names the bad field of the event, `index` its position); a refused event does not stop the others. Under `--ingest-auth token` each event must be the token's machine's (else it is refused with 403).",
    request_body(
        description = "the events: a JSON array, or one per line",
        content(
            (Vec<BatchEvent> = "application/json"),
            (String = "application/x-ndjson"),
        )
    ),
    responses(
        (status = 200, description = "every event answered, in order", body = BatchAnswer),
        (status = 400, description = "the body is not JSON (`malformed_json`), not an array (`not_a_batch`), or cannot be read", body = ErrorBody),
        (status = 401, description = "this server takes machine tokens (`--ingest-auth token`) and none, an unknown or a revoked one came", body = ErrorBody),
        (status = 403, description = "the request came from a page of another site (`cross_origin`), or it carried a login session without its CSRF value (`csrf`), or a personal token", body = ErrorBody),
        (status = 408, description = "the head or the body arrived too slowly (the connection guard's limits)", body = ErrorBody),
        (status = 413, description = "the body is over the size limit, or holds more events than one batch may (`too_many_events`); nothing was applied", body = ErrorBody),
        (status = 415, description = "neither sent as JSON (`Content-Type: application/json` or `application/x-ndjson`) nor with an `Authorization` header", body = ErrorBody),
        (status = 431, description = "the request head is over the size limit (the connection guard's limits)", body = ErrorBody),
        (status = 503, description = "the database is busy, or the server is at its connection or request-body limits; nothing was applied: retry", body = ErrorBody),
    ),
    security((), ("machine_token" = []))
)]
#[post("/api/v1/events", data = "<body>")]
async fn post_events(
    state: &State<AppState>,
    metrics: &State<Metrics>,
    bearer: Bearer,
    write: SameSiteWrite,
    machine: LoggedMachine<'_>,
    content_type: Option<&ContentType>,
    body: Data<'_>,
) -> Result<Json<BatchAnswer>, ApiError> {
    let started = Instant::now();
    let format = match content_type {
        Some(ct) if is_ndjson(ct) => BatchFormat::Ndjson,
        _ => BatchFormat::JsonArray,
    };
    let answered = match write.0 {
        Ok(()) => ingest_batch(state, bearer, machine, format, body).await,
        Err(refused) => Err(refused),
    };
    let answered = match answered {
        Ok(answered) => answered,
        Err(refused) => {
            metrics.record_batch_refused(refused.error, started.elapsed());
            return Err(refused);
        }
    };
    let share = started.elapsed() / u32::try_from(answered.len().max(1)).unwrap_or(u32::MAX);
    for event in &answered {
        metrics.record_batched(event.kind, event.outcome(), share);
    }
    let answers = answered
        .into_iter()
        .enumerate()
        .map(|(index, event)| event.answer(index))
        .collect();
    Ok(Json(BatchAnswer::new(answers)))
}

pub(super) fn routes() -> Vec<rocket::Route> {
    routes![post_events]
}

#[cfg(test)]
mod tests {
    use stpt_core::testing::builders::start;

    use super::*;

    #[test]
    fn the_log_names_the_batchs_machine_or_how_many_others() {
        let one = vec![Ok(start("rig-a", "a.py", 1)), Ok(start("RIG-A", "b.py", 2))];
        assert_eq!(logged_machine(&one).as_deref(), Some("rig-a"));
        let mixed = vec![
            Err(Unparsed {
                kind: None,
                event_id: None,
                error: stpt_core::WireError::UnknownKind,
            }),
            Ok(start("rig-a", "a.py", 1)),
            Ok(start("rig-b", "a.py", 1)),
            Ok(start("rig-c", "a.py", 1)),
            Ok(start("rig-b", "b.py", 1)),
        ];
        assert_eq!(logged_machine(&mixed).as_deref(), Some("rig-a (+2 more)"));
        assert_eq!(logged_machine(&[]), None);
    }
}
