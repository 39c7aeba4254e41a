//! Webhook notifications: queued when a run finishes, fails or is closed as stale, and POSTed
//! by a background worker that retries with exponential backoff.
//!
//! The main items here are [`notify`] (queue a run's notifications off the async executor,
//! called after the store applied the change) and [`WebhookDelivery`] (a fairing that, once the
//! server is up, claims due notifications from the database's outbox every
//! [`WebhookDelivery::every`] and sends them on the blocking pool). Every body is signed:
//! `X-Stpt-Signature: sha256=<hex of HMAC-SHA256(secret, body)>`. Because the outbox lives in
//! the database, notifications queued before a restart are sent after it. `https://` hooks are
//! verified against the system's roots plus [`crate::Config::ca_cert`] (`stpt_runner::tls`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use rocket::fairing::{Fairing, Info, Kind};
use rocket::{Orbit, Rocket};
use sha2::Sha256;

use crate::api::DisplayChain;
use crate::db::{Delivery, HookEvent, WebhookStore};
use crate::metrics::{Metrics, WebhookCounters};
use crate::state::AppState;

/// Notifications claimed per poll.
const BATCH: i64 = 32;

/// How long one POST may take.
const POST_TIMEOUT: Duration = Duration::from_secs(5);

/// Longest error text kept per notification.
const MAX_ERROR_LEN: usize = 500;

/// The `X-Stpt-Signature` value of `body` under `secret`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    // HMAC accepts keys of any length; the error branch cannot happen.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={hex}")
}

/// Queues `events` about `run` for the hooks wanting them; failures are logged (the run itself
/// is already stored).
pub async fn notify(state: &AppState, run: i64, events: &'static [HookEvent]) {
    let Some(hooks) = state.webhooks.clone() else {
        return;
    };
    if events.is_empty() {
        return;
    }
    let queued = state.blocking(move |_| hooks.enqueue(run, events)).await;
    match queued {
        Ok(Ok(_)) => {}
        Ok(Err(err)) => {
            tracing::error!(
                "queueing webhooks of run {run} failed: {}",
                DisplayChain(&err)
            )
        }
        Err(err) => tracing::error!("the webhook queueing task failed: {}", DisplayChain(&err)),
    }
}

/// Sends due webhook notifications in the background while the server runs.
#[derive(Debug, Clone)]
pub struct WebhookDelivery {
    /// Time between two polls of the outbox.
    pub every: Duration,
    /// A PEM bundle of CAs trusted for `https://` hooks besides the system's.
    pub ca_cert: Option<PathBuf>,
}

#[rocket::async_trait]
impl Fairing for WebhookDelivery {
    fn info(&self) -> Info {
        Info {
            name: "deliver webhooks",
            kind: Kind::Liftoff,
        }
    }

    async fn on_liftoff(&self, rocket: &Rocket<Orbit>) {
        let Some(hooks) = rocket
            .state::<AppState>()
            .and_then(|state| state.webhooks.clone())
        else {
            return;
        };
        let counters = rocket
            .state::<Metrics>()
            .map(Metrics::webhook_counters)
            .unwrap_or_default();
        let every = self.every.max(Duration::from_millis(10));
        // The CA bundle is a file: read off the async executor like every other wait.
        let ca_cert = self.ca_cert.clone();
        let agent = match crate::state::blocking(move || {
            stpt_runner::tls::agent_builder(ca_cert.as_deref())
        })
        .await
        {
            Ok(Ok(agent)) => agent,
            Ok(Err(err)) => {
                // `Launch` checks the bundle before serving; notifications stay queued.
                tracing::error!("webhooks are not sent: {}", DisplayChain(&err));
                return;
            }
            Err(err) => {
                tracing::error!("webhooks are not sent: {}", DisplayChain(&err));
                return;
            }
        };
        let agent = agent.timeout(POST_TIMEOUT).redirects(0).build();
        let mut shutdown = rocket.shutdown();
        rocket::tokio::spawn(async move {
            loop {
                rocket::tokio::select! {
                    _ = &mut shutdown => break,
                    () = rocket::tokio::time::sleep(every) => {
                        let (hooks, agent, counters) =
                            (hooks.clone(), agent.clone(), counters.clone());
                        let sent = crate::state::blocking(move || {
                            deliver_due(&hooks, &agent, &counters);
                        })
                        .await;
                        if let Err(err) = sent {
                            tracing::error!(
                                "the webhook delivery task failed: {}",
                                DisplayChain(&err)
                            );
                        }
                    }
                }
            }
        });
    }
}

/// Sends every notification due now, recording each outcome.
fn deliver_due(hooks: &WebhookStore, agent: &ureq::Agent, counters: &Arc<WebhookCounters>) {
    let due = match hooks.claim_due(BATCH) {
        Ok(due) => due,
        Err(err) => {
            tracing::error!("reading the webhook outbox failed: {}", DisplayChain(&err));
            return;
        }
    };
    for delivery in due {
        let outcome = post(agent, &delivery);
        counters.record(outcome.is_ok());
        let recorded = match outcome {
            Ok(()) => hooks.delivered(delivery.id),
            Err(error) => {
                tracing::warn!(
                    // Not the URL: a Slack hook's URL is its secret.
                    delivery = delivery.id,
                    attempt = delivery.attempts.saturating_add(1),
                    "webhook delivery failed: {error}"
                );
                hooks.failed(
                    delivery.id,
                    delivery.attempts.saturating_add(1),
                    &error.chars().take(MAX_ERROR_LEN).collect::<String>(),
                )
            }
        };
        if let Err(err) = recorded {
            tracing::error!(
                "recording webhook delivery {} failed: {}",
                delivery.id,
                DisplayChain(&err)
            );
        }
    }
}

/// POSTs one notification; any 2xx answer delivers it.
fn post(agent: &ureq::Agent, delivery: &Delivery) -> Result<(), String> {
    let answer = agent
        .post(&delivery.url)
        .set("Content-Type", "application/json")
        .set(
            "X-Stpt-Signature",
            &signature(&delivery.secret, delivery.payload.as_bytes()),
        )
        .send_string(&delivery.payload);
    match answer {
        Ok(response) if (200..300).contains(&response.status()) => Ok(()),
        Ok(response) => Err(format!("answered {}", response.status())),
        Err(ureq::Error::Status(code, _)) => Err(format!("answered {code}")),
        Err(err) => {
            Err(stpt_runner::tls::explain_ureq(&delivery.url, &err).unwrap_or(err.to_string()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_with_hmac_sha256() {
        // RFC 4231, test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
