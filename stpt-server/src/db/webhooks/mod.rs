//! Webhooks persisted next to the runs: the URLs to tell when a run finishes, fails or is
//! closed as stale, and the outbox of notifications still to deliver.
//!
//! The main type here is [`WebhookStore`]. Its operations are compiled per backend from
//! `webhook_ops.rs` like the access store's. A notification is queued in the outbox in the same
//! database as the run, once per (hook, run, event), so a restart loses none and a run seen
//! finishing twice (a retried test) notifies once; the delivery worker claims due rows with a
//! compare-and-set on `next_attempt_at`, so two servers on one database do not send a row twice
//! at once.
//!
//! This file holds the types and the store's opening; `rules` keeps the configured webhooks,
//! `outbox` the notifications queued for them.

mod outbox;
mod rules;

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use diesel::prelude::*;
use serde_json::json;
use stpt_core::{Status, StatusCounts, Timestamp};

use super::pool::{ConnectError, DatabaseUrl, DbPool, PoolOptions, connect};
use super::schema::{webhook_outbox, webhooks};
use super::{FromPoolError, OpError, on_backend};
use crate::access::credentials::random_bytes;

/// Delivery attempts before a notification is given up (its last error is kept).
pub const MAX_ATTEMPTS: i64 = 12;

/// The longest wait between two attempts.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(10 * 60);

/// How long a claimed row is left to its sender before another may try it.
const CLAIM_LEASE: Duration = Duration::from_secs(60);

/// What a webhook is told about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookEvent {
    /// A run finished, whatever its status.
    Finished,
    /// A run finished failed, in error, cancelled or unknown.
    Failed,
    /// The stale sweep closed a silent run.
    Stale,
}

impl HookEvent {
    /// Its name in commands, the database and payloads.
    pub const fn as_str(self) -> &'static str {
        match self {
            HookEvent::Finished => "finished",
            HookEvent::Failed => "failed",
            HookEvent::Stale => "stale",
        }
    }

    /// The events a run finishing with `status` raises (none while it is ongoing).
    pub fn on_finish(status: Status) -> &'static [HookEvent] {
        match status {
            Status::Passed | Status::Warning | Status::Skipped => &[HookEvent::Finished],
            Status::Failed | Status::Error | Status::Cancelled | Status::Unknown => {
                &[HookEvent::Finished, HookEvent::Failed]
            }
            Status::Running | Status::Waiting => &[],
        }
    }
}

impl fmt::Display for HookEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for HookEvent {
    type Err = WebhookError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "finished" => Ok(HookEvent::Finished),
            "failed" => Ok(HookEvent::Failed),
            "stale" => Ok(HookEvent::Stale),
            _ => Err(WebhookError::Invalid {
                what: format!("event {s:?}: use finished, failed or stale"),
            }),
        }
    }
}

/// The body a webhook receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookFormat {
    /// stpt's JSON document.
    Json,
    /// `{"text": "..."}`, as Slack's incoming webhooks take.
    Slack,
}

impl HookFormat {
    /// Its name in commands and the database.
    pub const fn as_str(self) -> &'static str {
        match self {
            HookFormat::Json => "json",
            HookFormat::Slack => "slack",
        }
    }
}

impl fmt::Display for HookFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for HookFormat {
    type Err = WebhookError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "json" => Ok(HookFormat::Json),
            "slack" => Ok(HookFormat::Slack),
            _ => Err(WebhookError::Invalid {
                what: format!("format {s:?}: use json or slack"),
            }),
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = webhooks)]
pub(crate) struct WebhookRow {
    pub(crate) id: i64,
    pub(crate) url: String,
    pub(crate) on_event: String,
    pub(crate) machine_key: Option<String>,
    pub(crate) format: String,
    pub(crate) created_at: i64,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = webhooks)]
pub(crate) struct NewWebhookRow<'a> {
    pub(crate) url: &'a str,
    pub(crate) on_event: &'a str,
    pub(crate) machine_key: Option<&'a str>,
    pub(crate) format: &'a str,
    pub(crate) secret: &'a str,
    pub(crate) created_at: i64,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = webhook_outbox)]
pub(crate) struct NewOutboxRow<'a> {
    pub(crate) webhook_id: i64,
    pub(crate) run_id: i64,
    pub(crate) on_event: &'a str,
    pub(crate) payload: &'a str,
    pub(crate) attempts: i64,
    pub(crate) next_attempt_at: i64,
    pub(crate) created_at: i64,
}

/// A configured webhook (never its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    /// Row id.
    pub id: i64,
    /// Where notifications are POSTed.
    pub url: String,
    /// What it is told about (as stored; see [`HookEvent`]).
    pub on_event: String,
    /// Only this machine's runs (lowercased name), or every machine's.
    pub machine: Option<String>,
    /// The body's format (as stored; see [`HookFormat`]).
    pub format: String,
    /// When it was added (microseconds since the epoch).
    pub created_at: i64,
}

impl From<WebhookRow> for Webhook {
    fn from(row: WebhookRow) -> Self {
        Webhook {
            id: row.id,
            url: row.url,
            on_event: row.on_event,
            machine: row.machine_key,
            format: row.format,
            created_at: row.created_at,
        }
    }
}

/// A new webhook and its signing secret (shown once; stored to sign every body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedWebhook {
    /// The webhook.
    pub webhook: Webhook,
    /// The HMAC-SHA256 key of its `X-Stpt-Signature` header.
    pub secret: String,
}

/// One notification to send now (claimed for [`CLAIM_LEASE`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Outbox row id.
    pub id: i64,
    /// Where to POST it.
    pub url: String,
    /// The hook's signing secret.
    pub secret: String,
    /// The body.
    pub payload: String,
    /// Failed attempts so far.
    pub attempts: i64,
}

/// A notification as the outbox holds it.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = webhook_outbox)]
pub struct OutboxEntry {
    /// Outbox row id.
    pub id: i64,
    /// Its webhook.
    pub webhook_id: i64,
    /// The run it is about.
    pub run_id: i64,
    /// finished, failed or stale.
    pub on_event: String,
    /// Failed attempts so far.
    pub attempts: i64,
    /// When it was delivered, if it was.
    pub delivered_at: Option<i64>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
}

/// Why a webhook operation failed.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// A value cannot be used.
    #[error("invalid {what}")]
    Invalid {
        /// Which value, and why.
        what: String,
    },
    /// The database failed.
    #[error("database query failed")]
    Db(#[source] diesel::result::Error),
    /// No connection was free.
    #[error("no database connection free")]
    Busy(#[source] diesel::r2d2::PoolError),
}

impl FromPoolError for WebhookError {
    fn from_pool(err: diesel::r2d2::PoolError) -> Self {
        WebhookError::Busy(err)
    }
}

impl From<OpError> for WebhookError {
    fn from(err: OpError) -> Self {
        match err {
            OpError::Db(err) => WebhookError::Db(err),
            // The webhook operations raise no store errors; keep the text if one ever does.
            OpError::Store(err) => WebhookError::Invalid {
                what: err.to_string(),
            },
        }
    }
}

/// Webhooks and their outbox, on the run store's database.
#[derive(Debug, Clone)]
pub struct WebhookStore {
    pool: DbPool,
    /// What the payloads' run links start with: the public URL (`https://stpt.example.com`),
    /// empty for links relative to the server's address.
    link_base: String,
}

/// Wait after `attempts` failed attempts: 1 s, 2 s, 4 s … capped at ten minutes.
pub fn retry_delay(attempts: i64) -> Duration {
    let doublings = u32::try_from(attempts.saturating_sub(1).clamp(0, 20)).unwrap_or(20);
    Duration::from_secs(1u64 << doublings).min(MAX_RETRY_DELAY)
}

fn micros(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

/// The body told to a hook of `format` about `event` on a run, its page linked under
/// `link_base`.
pub(super) fn payload(
    format: &str,
    event: &str,
    machine: (i64, &str),
    run: (i64, &str),
    counts: StatusCounts,
    link_base: &str,
) -> String {
    let (machine_id, machine_name) = machine;
    let (run_id, status) = run;
    let url = format!("{link_base}/machine/run_data/{run_id}");
    let body = if format == HookFormat::Slack.as_str() {
        let tests: Vec<String> = counts
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(status, n)| format!("{n} {}", status.as_str()))
            .collect();
        let summary = format!(
            "stpt: run {run_id} of {machine_name} {event} ({status}; {})",
            tests.join(", ")
        );
        // An absolute link is made clickable with Slack's `<url|text>`; `&`, `<` and `>` are
        // the characters Slack wants escaped in text.
        let text = if url.starts_with("http://") || url.starts_with("https://") {
            format!("<{url}|{}>", slack_escape(&summary))
        } else {
            format!("{} {url}", slack_escape(&summary))
        };
        json!({ "text": text })
    } else {
        json!({
            "event": event,
            "machine": {"id": machine_id, "name": machine_name},
            "run": {"id": run_id, "status": status, "url": url},
            "counts": counts,
        })
    };
    body.to_string()
}

/// Text escaped as Slack's message formatting wants it.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

impl WebhookStore {
    /// Webhooks on an open (migrated) pool.
    pub fn new(pool: DbPool) -> Self {
        WebhookStore {
            pool,
            link_base: String::new(),
        }
    }

    /// The same store, its payloads linking runs at `base` (`https://stpt.example.com`; a
    /// trailing slash is ignored).
    pub fn with_link_base(mut self, base: &str) -> Self {
        self.link_base = base.trim_end_matches('/').to_owned();
        self
    }

    /// Opens (and migrates) the database at `url`.
    pub fn open(url: &DatabaseUrl, options: PoolOptions) -> Result<Self, ConnectError> {
        Ok(WebhookStore::new(connect(url, options)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_link_runs_under_the_public_url() {
        let mut counts = StatusCounts::default();
        counts.add_n(Status::Failed, 1);
        counts.add_n(Status::Passed, 12);
        let json = |base| {
            payload(
                "json",
                "failed",
                (1, "rig<7>"),
                (42, "failed"),
                counts,
                base,
            )
        };
        let body: serde_json::Value =
            serde_json::from_str(&json("https://stpt.example.com")).expect("JSON");
        assert_eq!(
            body["run"]["url"],
            "https://stpt.example.com/machine/run_data/42"
        );
        let body: serde_json::Value = serde_json::from_str(&json("")).expect("JSON");
        assert_eq!(body["run"]["url"], "/machine/run_data/42");

        let slack = |base| {
            let body = payload(
                "slack",
                "failed",
                (1, "rig<7>"),
                (42, "failed"),
                counts,
                base,
            );
            let body: serde_json::Value = serde_json::from_str(&body).expect("JSON");
            body["text"].as_str().unwrap_or_default().to_owned()
        };
        // A clickable link (`<url|text>`), the text escaped as Slack wants.
        assert_eq!(
            slack("https://stpt.example.com"),
            "<https://stpt.example.com/machine/run_data/42|stpt: run 42 of rig&lt;7&gt; failed \
             (failed; 1 failed, 12 passed)>"
        );
        // Without a public URL there is no address to click: the path follows the text.
        assert_eq!(
            slack(""),
            "stpt: run 42 of rig&lt;7&gt; failed (failed; 1 failed, 12 passed) \
             /machine/run_data/42"
        );
    }

    #[test]
    fn retries_back_off_exponentially_up_to_ten_minutes() {
        assert_eq!(retry_delay(1), Duration::from_secs(1));
        assert_eq!(retry_delay(2), Duration::from_secs(2));
        assert_eq!(retry_delay(4), Duration::from_secs(8));
        assert_eq!(retry_delay(11), Duration::from_secs(600));
        assert_eq!(retry_delay(100), Duration::from_secs(600));
    }

    #[test]
    fn a_failing_status_raises_finished_and_failed() {
        assert_eq!(HookEvent::on_finish(Status::Passed), &[HookEvent::Finished]);
        assert_eq!(
            HookEvent::on_finish(Status::Unknown),
            &[HookEvent::Finished, HookEvent::Failed]
        );
        assert!(HookEvent::on_finish(Status::Running).is_empty());
    }
}
