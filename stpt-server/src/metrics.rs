//! `GET /metrics`: the server's counters in the Prometheus text format (written by hand).
//!
//! The main type here is [`Metrics`] (managed state): events applied by kind, events refused
//! by kind and reason (the error answered), an ingest latency histogram (each event of a batch
//! counted with its share of the request), open live listeners
//! (WebSockets), the database pool's connections and webhook deliveries and failures. Counters are atomics, so recording costs
//! no lock on the ingest path except for the rare refusal.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rocket::http::ContentType;
use rocket::{State, get, routes};
use stpt_core::EventKind;

use crate::db::DbPool;
use crate::state::AppState;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 10] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];

fn kind_index(kind: EventKind) -> usize {
    match kind {
        EventKind::DryRun => 0,
        EventKind::TestStart => 1,
        EventKind::TestStop => 2,
        EventKind::TestOutput => 3,
    }
}

/// The server's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    applied: [AtomicU64; EventKind::ALL.len()],
    duplicates: [AtomicU64; EventKind::ALL.len()],
    refused: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    /// Cumulative counts per bucket, plus one for +Inf.
    latency: [AtomicU64; BUCKETS.len() + 1],
    latency_sum_micros: AtomicU64,
    pool: Option<DbPool>,
    webhooks: Arc<WebhookCounters>,
}

/// Webhook deliveries, shared with the delivery worker.
#[derive(Debug, Default)]
pub struct WebhookCounters {
    delivered: AtomicU64,
    failed: AtomicU64,
}

impl WebhookCounters {
    /// One POST of a notification was answered 2xx (`delivered`) or not.
    pub fn record(&self, delivered: bool) {
        let counter = if delivered {
            &self.delivered
        } else {
            &self.failed
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// How one ingest request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The event was applied.
    Applied,
    /// The event had been applied before (a retry or a replay): acknowledged, not applied.
    Duplicate,
    /// The event was refused with this error.
    Refused(&'static str),
}

impl Metrics {
    /// Counters that also report `pool`'s connections.
    pub fn with_pool(pool: Option<DbPool>) -> Metrics {
        Metrics {
            pool,
            ..Metrics::default()
        }
    }

    /// The webhook counters, for the delivery worker.
    pub fn webhook_counters(&self) -> Arc<WebhookCounters> {
        self.webhooks.clone()
    }

    /// One ingest request of `kind` took `took` and ended as `outcome`.
    pub fn record(&self, kind: EventKind, outcome: Outcome, took: Duration) {
        self.record_as(Some(kind), kind.as_str(), outcome, took);
    }

    /// One event of a batch ended as `outcome`, its share of the request taking `took`;
    /// `kind` is `None` when the event could not be told (counted as `unknown`).
    pub fn record_batched(&self, kind: Option<EventKind>, outcome: Outcome, took: Duration) {
        let name = kind.map_or("unknown", EventKind::as_str);
        self.record_as(kind, name, outcome, took);
    }

    /// A batch refused as a whole (nothing of it applied) with `reason`: counted as one
    /// refusal of kind `batch`.
    pub fn record_batch_refused(&self, reason: &'static str, took: Duration) {
        self.record_as(None, "batch", Outcome::Refused(reason), took);
    }

    fn record_as(
        &self,
        kind: Option<EventKind>,
        name: &'static str,
        outcome: Outcome,
        took: Duration,
    ) {
        match outcome {
            Outcome::Applied | Outcome::Duplicate => {
                let counters = if outcome == Outcome::Applied {
                    &self.applied
                } else {
                    &self.duplicates
                };
                if let Some(counter) = kind.and_then(|kind| counters.get(kind_index(kind))) {
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            }
            Outcome::Refused(reason) => {
                if let Ok(mut refused) = self.refused.lock() {
                    *refused.entry((name, reason)).or_default() += 1;
                }
            }
        }
        let seconds = took.as_secs_f64();
        let bucket = BUCKETS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(BUCKETS.len());
        if let Some(counter) = self.latency.get(bucket) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.latency_sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// Everything in the Prometheus text format; `listeners` is the live hub's count.
    pub fn render(&self, listeners: usize) -> String {
        let mut out = String::new();
        self.render_events(&mut out);
        self.render_latency(&mut out);
        out.push_str("# HELP stpt_live_listeners Open WebSockets (and in-process listeners) of the live hub.\n");
        out.push_str("# TYPE stpt_live_listeners gauge\n");
        let _ = writeln!(out, "stpt_live_listeners {listeners}");
        self.render_webhooks(&mut out);
        self.render_pool(&mut out);
        out
    }

    /// The events applied, acknowledged again and refused.
    fn render_events(&self, out: &mut String) {
        out.push_str("# HELP stpt_events_applied_total Events applied, by kind.\n");
        out.push_str("# TYPE stpt_events_applied_total counter\n");
        for kind in EventKind::ALL {
            let n = self
                .applied
                .get(kind_index(kind))
                .map_or(0, |c| c.load(Ordering::Relaxed));
            let _ = writeln!(
                out,
                "stpt_events_applied_total{{kind=\"{}\"}} {n}",
                kind.as_str()
            );
        }
        out.push_str(
            "# HELP stpt_events_duplicate_total Events acknowledged again without being applied (retries, replays), by kind.\n",
        );
        out.push_str("# TYPE stpt_events_duplicate_total counter\n");
        for kind in EventKind::ALL {
            let n = self
                .duplicates
                .get(kind_index(kind))
                .map_or(0, |c| c.load(Ordering::Relaxed));
            let _ = writeln!(
                out,
                "stpt_events_duplicate_total{{kind=\"{}\"}} {n}",
                kind.as_str()
            );
        }
        out.push_str("# HELP stpt_events_refused_total Events refused, by kind and error (`unknown`: an event of a batch whose kind could not be told; `batch`: a batch refused whole).\n");
        out.push_str("# TYPE stpt_events_refused_total counter\n");
        if let Ok(refused) = self.refused.lock() {
            for ((kind, reason), n) in refused.iter() {
                let _ = writeln!(
                    out,
                    "stpt_events_refused_total{{kind=\"{kind}\",reason=\"{reason}\"}} {n}"
                );
            }
        }
    }

    /// The ingest latency histogram.
    fn render_latency(&self, out: &mut String) {
        out.push_str("# HELP stpt_ingest_seconds Time to read, apply and answer one event (an event of a batch counts its share of the request).\n");
        out.push_str("# TYPE stpt_ingest_seconds histogram\n");
        let mut cumulative = 0;
        for (i, counter) in self.latency.iter().enumerate() {
            cumulative += counter.load(Ordering::Relaxed);
            let bound = BUCKETS
                .get(i)
                .map_or_else(|| "+Inf".to_owned(), |b| b.to_string());
            let _ = writeln!(
                out,
                "stpt_ingest_seconds_bucket{{le=\"{bound}\"}} {cumulative}"
            );
        }
        let sum = self.latency_sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "stpt_ingest_seconds_sum {sum}");
        let _ = writeln!(out, "stpt_ingest_seconds_count {cumulative}");
    }

    /// The webhook deliveries and failures.
    fn render_webhooks(&self, out: &mut String) {
        out.push_str("# HELP stpt_webhook_deliveries_total Webhook notifications delivered (answered 2xx).\n");
        out.push_str("# TYPE stpt_webhook_deliveries_total counter\n");
        let _ = writeln!(
            out,
            "stpt_webhook_deliveries_total {}",
            self.webhooks.delivered.load(Ordering::Relaxed)
        );
        out.push_str("# HELP stpt_webhook_failures_total Failed webhook delivery attempts (retried later).\n");
        out.push_str("# TYPE stpt_webhook_failures_total counter\n");
        let _ = writeln!(
            out,
            "stpt_webhook_failures_total {}",
            self.webhooks.failed.load(Ordering::Relaxed)
        );
    }

    /// The database pool's connections, when the server has a pool.
    fn render_pool(&self, out: &mut String) {
        if let Some(pool) = &self.pool {
            let state = match pool {
                DbPool::Sqlite(pool) => pool.state(),
                DbPool::Postgres(pool) => pool.state(),
            };
            out.push_str(
                "# HELP stpt_db_pool_connections Database connections of the pool, by state.\n",
            );
            out.push_str("# TYPE stpt_db_pool_connections gauge\n");
            let busy = state.connections.saturating_sub(state.idle_connections);
            let _ = writeln!(out, "stpt_db_pool_connections{{state=\"busy\"}} {busy}");
            let _ = writeln!(
                out,
                "stpt_db_pool_connections{{state=\"idle\"}} {}",
                state.idle_connections
            );
        }
    }
}

#[utoipa::path(
    tag = "operations",
    summary = "Counters in the Prometheus text format",
    description = "Events applied and refused by kind and reason, ingest latency histogram, open WebSockets, database pool connections, webhook deliveries.",
    responses(
        (status = 200, description = "the metrics", body = String, content_type = "text/plain"),
        (status = 303, description = "read access needs a login session (`--read-access login`): redirected to the login page"),
    )
)]
#[get("/metrics")]
fn metrics(state: &State<AppState>, metrics: &State<Metrics>) -> (ContentType, String) {
    let text =
        ContentType::new("text", "plain").with_params([("version", "0.0.4"), ("charset", "utf-8")]);
    (text, metrics.render(state.feed.sockets()))
}

/// The metrics route.
pub fn routes() -> Vec<rocket::Route> {
    routes![metrics]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_applied_refused_and_latency() {
        let metrics = Metrics::default();
        metrics.record(
            EventKind::TestStart,
            Outcome::Applied,
            Duration::from_micros(300),
        );
        metrics.record(
            EventKind::TestStart,
            Outcome::Duplicate,
            Duration::from_micros(300),
        );
        metrics.record(
            EventKind::TestStop,
            Outcome::Refused("no_matching_test"),
            Duration::from_secs(2),
        );
        metrics.webhook_counters().record(true);
        metrics.webhook_counters().record(false);
        metrics.webhook_counters().record(false);
        let text = metrics.render(3);
        assert!(text.contains("stpt_webhook_deliveries_total 1\n"));
        assert!(text.contains("stpt_webhook_failures_total 2\n"));
        assert!(text.contains("stpt_events_applied_total{kind=\"test_start\"} 1\n"));
        assert!(text.contains("stpt_events_applied_total{kind=\"dry_run\"} 0\n"));
        assert!(text.contains("stpt_events_duplicate_total{kind=\"test_start\"} 1\n"));
        assert!(text.contains(
            "stpt_events_refused_total{kind=\"test_stop\",reason=\"no_matching_test\"} 1\n"
        ));
        assert!(text.contains("stpt_ingest_seconds_bucket{le=\"0.0005\"} 2\n"));
        assert!(text.contains("stpt_ingest_seconds_bucket{le=\"1\"} 2\n"));
        assert!(text.contains("stpt_ingest_seconds_bucket{le=\"+Inf\"} 3\n"));
        assert!(text.contains("stpt_ingest_seconds_count 3\n"));
        assert!(text.contains("stpt_live_listeners 3\n"));
    }
}
