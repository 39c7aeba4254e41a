//! Many events in one request: the body of `POST /api/v1/events` and its answer.
//!
//! The main types here are [`BatchAnswer`] (one [`EventAnswer`] per event, in order) and the
//! function [`split_batch`], which cuts a body into its events. An element of a batch is an
//! [`Event`] exactly as a runner's spool stores it and as its own endpoint takes it, its kind
//! told from its fields ([`EventKind::detect`]): a dry run, a test start, a test stop, or a
//! test's output as a [`crate::TestOutput`] (the output batch with the `run_id` and `index`
//! its own endpoint takes from the path; without `run_id`, the machine's newest run), and it
//! must carry its `event_id`, so a batch sent again (its answer lost) changes nothing. A body
//! is a JSON array of events (`application/json`) or one event per line
//! (`application/x-ndjson`); [`batch_body`] writes the former.
//!
//! **Invariant:** a body is refused as a whole ([`BatchError`]) only for its framing: not a
//! JSON array, or more events than allowed. Anything wrong with one event is that event's
//! answer and leaves the others alone.

use serde::{Deserialize, Serialize};

use super::{ErrorBody, Event, EventKind, WireError};
use crate::model::{NodeId, RunId};

/// The batch endpoint's path.
pub const BATCH_PATH: &str = "/api/v1/events";

/// Most events one batch may hold unless the server is configured otherwise.
pub const DEFAULT_MAX_BATCH_EVENTS: usize = 1000;

/// The media type of a batch sent as one event per line.
pub const NDJSON: &str = "application/x-ndjson";

/// How a batch body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchFormat {
    /// A JSON array of events.
    JsonArray,
    /// One event per line; blank lines are skipped.
    Ndjson,
}

/// Why a batch is refused as a whole (nothing of it applied).
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// The body is not JSON at all (or is cut short).
    #[error("malformed JSON: {reason}")]
    MalformedJson {
        /// What the JSON parser said.
        reason: String,
    },
    /// The body is JSON but not an array.
    #[error(
        "a batch is a JSON array of events (or one event per line, sent as application/x-ndjson)"
    )]
    NotAnArray,
    /// More events than one batch may hold.
    #[error("the batch holds {count} events; at most {max} are allowed in one request")]
    TooMany {
        /// Events in the body.
        count: usize,
        /// The most allowed.
        max: usize,
    },
}

/// An element of a batch that is not an acceptable event: why, and what could be read of it.
#[derive(Debug)]
pub struct Unparsed {
    /// Its kind, when its fields tell it.
    pub kind: Option<EventKind>,
    /// Its `event_id`, when it has a string one.
    pub event_id: Option<String>,
    /// What is wrong with it.
    pub error: WireError,
}

impl Unparsed {
    fn of(value: Option<&serde_json::Value>, error: WireError) -> Unparsed {
        Unparsed {
            kind: value.and_then(EventKind::detect),
            event_id: value
                .and_then(|v| v.get("event_id")?.as_str())
                .map(str::to_owned),
            error,
        }
    }
}

/// Cuts `body` into its events, each parsed and validated as its own endpoint would
/// ([`Event::parse`]), with its `event_id`, or refused with the error naming its field. At
/// most `max_events`.
pub fn split_batch(
    body: &[u8],
    format: BatchFormat,
    max_events: usize,
) -> Result<Vec<Result<Event, Unparsed>>, BatchError> {
    match format {
        BatchFormat::JsonArray => {
            let value: serde_json::Value =
                serde_json::from_slice(body).map_err(|e| BatchError::MalformedJson {
                    reason: e.to_string(),
                })?;
            let serde_json::Value::Array(elements) = value else {
                return Err(BatchError::NotAnArray);
            };
            check_count(elements.len(), max_events)?;
            Ok(elements.into_iter().map(parse_element).collect())
        }
        BatchFormat::Ndjson => {
            let lines: Vec<&[u8]> = body
                .split(|&b| b == b'\n')
                .filter(|line| !line.trim_ascii().is_empty())
                .collect();
            check_count(lines.len(), max_events)?;
            Ok(lines
                .into_iter()
                .map(|line| {
                    Event::parse_detected(line)
                        .map_err(|error| {
                            let value = serde_json::from_slice::<serde_json::Value>(line).ok();
                            Unparsed::of(value.as_ref(), error)
                        })
                        .and_then(with_id)
                })
                .collect())
        }
    }
}

fn check_count(count: usize, max: usize) -> Result<(), BatchError> {
    if count > max {
        return Err(BatchError::TooMany { count, max });
    }
    Ok(())
}

fn parse_element(value: serde_json::Value) -> Result<Event, Unparsed> {
    let kind = EventKind::detect(&value)
        .ok_or_else(|| Unparsed::of(Some(&value), WireError::UnknownKind))?;
    serde_json::to_vec(&value)
        .map_err(|e| WireError::MalformedJson {
            reason: e.to_string(),
        })
        .and_then(|bytes| Event::parse(kind, &bytes))
        .map_err(|error| Unparsed::of(Some(&value), error))
        .and_then(with_id)
}

/// A batched event must name itself: without its id, a batch sent again would apply twice.
fn with_id(event: Event) -> Result<Event, Unparsed> {
    if event.event_id().is_some() {
        return Ok(event);
    }
    Err(Unparsed {
        kind: Some(event.kind()),
        event_id: None,
        error: WireError::InvalidField {
            field: "event_id".to_owned(),
            reason: "missing field: every event of a batch needs its id, so that a batch sent \
                     again changes nothing"
                .to_owned(),
        },
    })
}

/// A batch body (`application/json`): the events as a JSON array, each its wire body.
pub fn batch_body<'a>(
    events: impl IntoIterator<Item = &'a Event>,
) -> Result<String, serde_json::Error> {
    serde_json::to_string(&events.into_iter().collect::<Vec<_>>())
}

/// What became of one event of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum BatchOutcome {
    /// Applied now.
    Applied,
    /// Its event id had been applied before: acknowledged again, nothing changed.
    Duplicate,
    /// Refused: `status` and `error` say why, as its own endpoint would have.
    Refused,
}

/// The answer to one event of a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EventAnswer {
    /// The event's position in the batch, from 0.
    pub index: usize,
    /// Applied, duplicate or refused.
    pub outcome: BatchOutcome,
    /// The status the event's own endpoint would have answered: 201 for a dry run, 202 for
    /// the others, the error's status when refused.
    #[cfg_attr(feature = "openapi", schema(minimum = 200, maximum = 599))]
    pub status: u16,
    /// Which event it is, when that could be told.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<EventKind>,
    /// The event's id, when it could be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// The run the event created or changed (for a dry run: the run it created, to send
    /// with its starts and stops).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<RunId>,
    /// The test the event started, stopped or added output to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_id: Option<NodeId>,
    /// Why it was refused, as its own endpoint's error answer (`field` names the bad field,
    /// relative to the event).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
}

/// The answer to a batch: one answer per event, in order, and their counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BatchAnswer {
    /// Events applied now.
    pub applied: usize,
    /// Events acknowledged as already applied.
    pub duplicates: usize,
    /// Events refused.
    pub refused: usize,
    /// One answer per event, in the batch's order.
    pub events: Vec<EventAnswer>,
}

impl BatchAnswer {
    /// The answer for `events`, counted.
    pub fn new(events: Vec<EventAnswer>) -> BatchAnswer {
        let count = |outcome| events.iter().filter(|e| e.outcome == outcome).count();
        BatchAnswer {
            applied: count(BatchOutcome::Applied),
            duplicates: count(BatchOutcome::Duplicate),
            refused: count(BatchOutcome::Refused),
            events,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const START: &str = r#"{"machine_name": "m", "file_name": "a.py", "file_path": "/", "timestamp_start": "2018-12-30 13:01:57", "event_id": "s1"}"#;
    const STOP: &str = r#"{"machine_name": "m", "file_name": "a.py", "file_path": "/", "status": "passed", "timestamp_stop": "2018-12-30 13:01:58", "event_id": "s2"}"#;

    #[test]
    fn an_array_and_lines_give_the_same_events_with_bad_ones_refused_alone() {
        let bad = r#"{"machine_name": "m", "file_name": " ", "file_path": "/", "timestamp_start": "2018-12-30 13:01:57"}"#;
        let array = format!("[{START}, {bad}, {STOP}]");
        let lines = format!("{START}\n{bad}\n\n{STOP}\n");
        for (body, format) in [
            (array.as_str(), BatchFormat::JsonArray),
            (lines.as_str(), BatchFormat::Ndjson),
        ] {
            let events = split_batch(body.as_bytes(), format, 3).unwrap();
            assert_eq!(events.len(), 3);
            assert_eq!(events[0].as_ref().unwrap().kind(), EventKind::TestStart);
            match &events[1] {
                Err(Unparsed {
                    kind: Some(EventKind::TestStart),
                    error: WireError::InvalidField { field, .. },
                    ..
                }) => assert_eq!(field, "file_name"),
                other => panic!("{other:?}"),
            }
            assert_eq!(events[2].as_ref().unwrap().kind(), EventKind::TestStop);
        }
    }

    #[test]
    fn a_batched_event_needs_its_id() {
        let without = START.replace(r#", "event_id": "s1""#, "");
        let body = format!("[{without}, {STOP}]");
        let events = split_batch(body.as_bytes(), BatchFormat::JsonArray, 2).unwrap();
        match &events[0] {
            Err(Unparsed {
                kind: Some(EventKind::TestStart),
                error: WireError::InvalidField { field, .. },
                ..
            }) => assert_eq!(field, "event_id"),
            other => panic!("{other:?}"),
        }
        assert!(events[1].is_ok());
    }

    #[test]
    fn framing_errors_refuse_the_whole_batch() {
        assert!(matches!(
            split_batch(b"[{", BatchFormat::JsonArray, 10),
            Err(BatchError::MalformedJson { .. })
        ));
        assert!(matches!(
            split_batch(START.as_bytes(), BatchFormat::JsonArray, 10),
            Err(BatchError::NotAnArray)
        ));
        let body = format!("[{START}, {STOP}]");
        assert!(matches!(
            split_batch(body.as_bytes(), BatchFormat::JsonArray, 1),
            Err(BatchError::TooMany { count: 2, max: 1 })
        ));
        // A line that is not JSON is that event's refusal only.
        let events = split_batch(b"{\n", BatchFormat::Ndjson, 1).unwrap();
        assert!(matches!(
            events[0],
            Err(Unparsed {
                kind: None,
                error: WireError::MalformedJson { .. },
                ..
            })
        ));
        assert!(
            split_batch(b"[]", BatchFormat::JsonArray, 0)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn a_written_batch_reads_back() {
        let events: Vec<Event> = [START, STOP]
            .iter()
            .map(|body| Event::parse_detected(body.as_bytes()).unwrap())
            .collect();
        let body = batch_body(&events).unwrap();
        let back: Vec<Event> = split_batch(body.as_bytes(), BatchFormat::JsonArray, 2)
            .unwrap()
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(back, events);
    }
}
