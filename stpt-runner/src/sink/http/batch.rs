//! Delivering a backlog in batches (`POST /api/v1/events`): the cut of the spool into
//! batches, and how a batch's answer reads.
//!
//! The main types here are `Chunk` (spooled events cut into one request within the bounds
//! the server takes: at most `MAX_BATCH_BYTES` and the sink's event limit) and `Reply` (what
//! became of a batch request). Each event's answer is read into the same outcome a single post
//! of it would have had (`outcome`), so the sink settles a batched event exactly as it settles
//! one posted alone.

use stpt_core::wire::{BatchOutcome, EventAnswer};

use super::{Answer, Classified, Outcome, Unavailable, classify};
use crate::spool::Pending;

/// Most bytes of one batch body: well within the server's default body limit (16 MiB), so a
/// server configured lower still takes most batches; a 413 halves the batches after it.
pub(super) const MAX_BATCH_BYTES: usize = 1 << 20;

/// Spooled events cut into one batch, with their bodies.
#[derive(Default)]
pub(super) struct Chunk {
    /// The events, in spool order.
    pub(super) entries: Vec<Pending>,
    bodies: Vec<String>,
    bytes: usize,
}

impl Chunk {
    /// Whether the chunk holds no event.
    pub(super) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// How many events the chunk holds.
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether an event of this body still fits, with at most `limit` events; the first one
    /// always does.
    pub(super) fn fits(&self, body: &str, limit: usize) -> bool {
        self.is_empty() || (self.len() < limit && self.bytes + body.len() < MAX_BATCH_BYTES)
    }

    /// Adds a spooled event and its body (as posted).
    pub(super) fn push(&mut self, entry: Pending, body: String) {
        self.bytes += body.len() + 1;
        self.entries.push(entry);
        self.bodies.push(body);
    }

    /// The request body: the events as a JSON array.
    pub(super) fn body(&self) -> String {
        format!("[{}]", self.bodies.join(","))
    }
}

/// What became of a batch request.
pub(super) enum Reply {
    /// One answer per event, in order.
    Answered(Vec<EventAnswer>),
    /// The server does not take batches (404 or 405: the original app, an older stpt).
    Unsupported,
    /// The batch was over the server's bounds (413): cut smaller ones.
    TooLarge,
    /// The batch as a whole could not be delivered (refused credentials, the server away):
    /// the outcome of its first event, which holds the rest up.
    Failed(Outcome),
}

/// The outcome of one event of an answered batch, as a single post of it would have had.
pub(super) fn outcome(answer: &EventAnswer) -> Outcome {
    match (answer.outcome, &answer.error) {
        (BatchOutcome::Applied | BatchOutcome::Duplicate, _) => Outcome::Delivered(answer.run_id),
        (BatchOutcome::Refused, error) => {
            let text = match error {
                Some(body) => Answer::of(answer.status, body.clone()),
                None => Answer {
                    error: None,
                    text: format!("HTTP {}", answer.status),
                    from_stpt: true,
                },
            };
            match classify(answer.status, text) {
                Classified::Final(outcome) => outcome,
                Classified::Retry(text) => Outcome::Unavailable(Unavailable {
                    reason: text,
                    answered: true,
                    cause: None,
                }),
            }
        }
    }
}
