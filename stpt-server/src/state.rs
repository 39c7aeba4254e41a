//! The managed state every handler sees, and the one way blocking work leaves the async
//! executor.
//!
//! The main type here is [`AppState`]. [`AppState::blocking`] runs a closure on Rocket's
//! blocking pool; [`AppState::read`] runs a store call there, so API handlers, pages and
//! WebSockets reach the database the same way.

use std::sync::Arc;

use stpt_core::{Store, StoreError};

use crate::access::Security;
use crate::clock::Clock;
use crate::db::WebhookStore;
use crate::live::{LiveFeed, LiveHub};

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// Where runs live.
    pub store: Arc<dyn Store>,
    /// Where changes are announced.
    pub hub: LiveHub,
    /// What live subscribers share: each change read and serialised once.
    pub feed: Arc<LiveFeed>,
    /// Largest accepted request body.
    pub body_limit: u64,
    /// Most events one batch (`POST /api/v1/events`) may hold.
    pub batch_max_events: usize,
    /// Where tests' output is announced, apart from the status changes.
    pub output: crate::live::OutputHub,
    /// How much of each test's output is kept.
    pub output_limit: stpt_core::OutputLimit,
    /// Who may read and write, and the users and tokens that decide it.
    pub security: Arc<Security>,
    /// The webhooks to notify and their outbox (on the database, when there is one).
    pub webhooks: Option<WebhookStore>,
    /// What "now" is for ingest, aborts and the stale sweep.
    pub clock: Clock,
}

impl AppState {
    /// Runs blocking work (a store call, the access store, the outbox) on Rocket's blocking
    /// pool, so no async worker waits on a database. The closure gets the state.
    pub(crate) async fn blocking<T, F>(&self, f: F) -> Result<T, TaskFailed>
    where
        T: Send + 'static,
        F: FnOnce(&AppState) -> T + Send + 'static,
    {
        let state = self.clone();
        blocking(move || f(&state)).await
    }

    /// Runs a store call on the blocking pool; a task that died is a store failure.
    pub(crate) async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Store) -> Result<T, StoreError> + Send + 'static,
    {
        self.blocking(move |state| f(state.store.as_ref()))
            .await
            .unwrap_or_else(|failed| Err(failed.into()))
    }
}

/// Runs blocking work on Rocket's blocking pool: the one way work that waits (a database, a
/// password hash) leaves the async executor. [`AppState::blocking`] is this with the state;
/// the access checks, which hold only the access store, call it directly.
pub(crate) async fn blocking<T, F>(f: F) -> Result<T, TaskFailed>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    rocket::tokio::task::spawn_blocking(f)
        .await
        .map_err(TaskFailed)
}

/// Blocking work that never finished: it panicked or the runtime is shutting down.
#[derive(Debug, thiserror::Error)]
#[error("the blocking task failed")]
pub(crate) struct TaskFailed(#[source] pub(crate) rocket::tokio::task::JoinError);

impl From<TaskFailed> for StoreError {
    fn from(failed: TaskFailed) -> Self {
        StoreError::backend("the store task failed", failed)
    }
}
