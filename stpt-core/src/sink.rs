//! Where a runner's events go.
//!
//! The main types here are [`Sink`], the push-model trait every event destination implements
//! (HTTP, JSON-lines file, stdout and tee live in stpt-runner, where their I/O lives), and
//! [`MemorySink`], which keeps events for tests and for inspecting a plan's event stream.

use std::sync::{Arc, Mutex};

use crate::wire::Event;

/// Why a sink could not take an event.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The destination refused the event for what it is (a 4xx): retrying will not help.
    #[error("event refused by {destination}: {reason}")]
    Rejected {
        /// Where the event was sent.
        destination: String,
        /// What the destination said.
        reason: String,
    },
    /// The run the event belongs to was aborted at the destination (`stpt abort`): a person
    /// ended it, so the event was dropped, and the run's later events will be too. A harness
    /// should stop running the run's tests.
    #[error("run aborted at {destination}: {reason}")]
    RunAborted {
        /// Where the event was sent.
        destination: String,
        /// What the destination said.
        reason: String,
    },
    /// The destination could not be reached or failed; the event was kept for a later try.
    #[error("event kept for later: {destination} unavailable: {reason}")]
    Deferred {
        /// Where the event was sent.
        destination: String,
        /// What went wrong, for people (a failing server's answer is here).
        reason: String,
        /// The error underneath, when one was raised (the connection's or TLS's).
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// Writing the event failed.
    #[error("could not write event to {destination}")]
    Io {
        /// Where the event was written.
        destination: String,
        /// The I/O error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// A destination for events, fed one event at a time in order.
pub trait Sink: Send {
    /// Takes one event. A sink that keeps events durably may return
    /// [`SinkError::Deferred`] and deliver it later; the caller's run goes on either way.
    fn send(&mut self, event: &Event) -> Result<(), SinkError>;

    /// Delivers whatever the sink still holds; by default there is nothing to do.
    fn flush(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}

/// A sink that keeps every event in memory; clones share the same list.
#[derive(Debug, Clone, Default)]
pub struct MemorySink {
    events: Arc<Mutex<Vec<Event>>>,
}

impl MemorySink {
    /// An empty sink.
    pub fn new() -> Self {
        MemorySink::default()
    }

    /// A copy of the events received so far, in order.
    pub fn events(&self) -> Vec<Event> {
        self.events.lock().map(|e| e.clone()).unwrap_or_default()
    }
}

impl Sink for MemorySink {
    fn send(&mut self, event: &Event) -> Result<(), SinkError> {
        if let Ok(mut events) = self.events.lock() {
            events.push(event.clone());
        }
        Ok(())
    }
}

impl<S: Sink + ?Sized> Sink for Box<S> {
    fn send(&mut self, event: &Event) -> Result<(), SinkError> {
        (**self).send(event)
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        (**self).flush()
    }
}
