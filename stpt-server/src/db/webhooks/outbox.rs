//! The outbox: notifications queued for a run, claimed, marked delivered or failed.

use super::*;

impl WebhookStore {
    /// Queues `events` about `run` for every hook that wants them; answers how many
    /// notifications were queued (a hook already told about this run and event is skipped).
    pub fn enqueue(&self, run: i64, events: &[HookEvent]) -> Result<usize, WebhookError> {
        if events.is_empty() {
            return Ok(0);
        }
        let names: Vec<&str> = events.iter().map(|e| e.as_str()).collect();
        on_backend!(&self.pool => WebhookError, enqueue_run(run, &names, &self.link_base, Timestamp::now().as_micros()))
    }

    /// Claims up to `limit` notifications due now.
    pub fn claim_due(&self, limit: i64) -> Result<Vec<Delivery>, WebhookError> {
        let now = Timestamp::now().as_micros();
        on_backend!(
            &self.pool => WebhookError,
            claim_due(now, now.saturating_add(micros(CLAIM_LEASE)), limit)
        )
    }

    /// Records a delivery.
    pub fn delivered(&self, id: i64) -> Result<(), WebhookError> {
        on_backend!(&self.pool => WebhookError, mark_delivered(id, Timestamp::now().as_micros()))
    }

    /// Records a failed attempt (the `attempts`-th) and when to try again.
    pub fn failed(&self, id: i64, attempts: i64, error: &str) -> Result<(), WebhookError> {
        let next = Timestamp::now()
            .as_micros()
            .saturating_add(micros(retry_delay(attempts)));
        on_backend!(&self.pool => WebhookError, mark_failed(id, attempts, next, error))
    }

    /// The whole outbox, oldest first.
    pub fn outbox(&self) -> Result<Vec<OutboxEntry>, WebhookError> {
        on_backend!(&self.pool => WebhookError, all_outbox())
    }
}
