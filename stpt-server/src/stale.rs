//! Runs nobody finishes: a run silent for longer than the stale limit is shown as stale, and a
//! background sweep closes it so no run stays "running" forever.
//!
//! The main types here are [`StaleLimit`] (managed state: how long a run may stay silent) and
//! [`StaleSweep`] (a fairing that, once the server is up, calls `Store::close_stale` on the
//! blocking pool every `Config::stale_sweep_every` and announces every closed run on the live
//! hub and to its `stale` webhooks). A stale run's ongoing tests become `unknown` and it records when it was closed.

use std::time::Duration;

use rocket::fairing::{Fairing, Info, Kind};
use rocket::{Orbit, Rocket};
use stpt_core::{RunSummary, Timestamp};

use crate::api::DisplayChain;
use crate::clock::Clock;
use crate::db::HookEvent;
use crate::live::RunChanged;
use crate::state::AppState;
use crate::webhooks;

/// How long a run may go without an event before it is stale, and the clock that says how
/// long it has been.
#[derive(Debug, Clone)]
pub struct StaleLimit {
    /// The longest silence of a run that is not stale.
    pub after: Duration,
    /// What "now" is.
    pub clock: Clock,
}

impl StaleLimit {
    /// The moment before which a silent ongoing run is stale, seen at `now`.
    pub fn idle_since(&self, now: Timestamp) -> Timestamp {
        let micros = i64::try_from(self.after.as_micros()).unwrap_or(i64::MAX);
        Timestamp::from_micros(now.as_micros().saturating_sub(micros)).unwrap_or(now)
    }

    /// Marks `run` stale if it is, seen now.
    pub fn mark(&self, run: &mut RunSummary) {
        run.mark_stale(self.idle_since(self.clock.now()));
    }
}

/// Closes stale runs in the background while the server runs.
#[derive(Debug, Clone, Copy)]
pub struct StaleSweep {
    /// Time between two sweeps.
    pub every: Duration,
}

#[rocket::async_trait]
impl Fairing for StaleSweep {
    fn info(&self) -> Info {
        Info {
            name: "close stale runs",
            kind: Kind::Liftoff,
        }
    }

    async fn on_liftoff(&self, rocket: &Rocket<Orbit>) {
        let (Some(state), Some(limit)) = (
            rocket.state::<AppState>().cloned(),
            rocket.state::<StaleLimit>().cloned(),
        ) else {
            return;
        };
        let every = self.every.max(Duration::from_millis(10));
        let mut shutdown = rocket.shutdown();
        rocket::tokio::spawn(async move {
            loop {
                rocket::tokio::select! {
                    _ = &mut shutdown => break,
                    () = rocket::tokio::time::sleep(every) => sweep(&state, &limit).await,
                }
            }
        });
    }
}

/// One sweep; failures are logged and retried at the next one.
async fn sweep(state: &AppState, limit: &StaleLimit) {
    let limit = limit.clone();
    let closed = state
        .blocking(move |state| {
            let now = state.clock.now();
            state.store.close_stale(limit.idle_since(now), now)
        })
        .await;
    match closed {
        Ok(Ok(runs)) => {
            for run in runs {
                state.hub.publish(RunChanged {
                    machine_id: run.machine_id,
                    run_id: run.id,
                    run_status: run.status,
                });
                webhooks::notify(state, run.id, &[HookEvent::Stale]).await;
            }
        }
        Ok(Err(err)) => tracing::error!("closing stale runs failed: {}", DisplayChain(&err)),
        Err(err) => tracing::error!("the stale sweep task failed: {}", DisplayChain(&err)),
    }
}
