//! Webhooks and their outbox, written once in diesel's DSL and compiled for each backend.
//!
//! `db::sqlite` and `db::postgres` each declare this file as their submodule (`#[path]`), with
//! their `Conn` and `in_transaction`.

use diesel::prelude::*;

use super::ops::name_key;
use super::{Conn, in_transaction};
use crate::db::OpError;
use crate::db::rows::{MachineRow, RunRow};
use crate::db::schema::{machines, runs, webhook_outbox, webhooks};
use crate::db::webhooks::{Delivery, NewOutboxRow, NewWebhookRow, OutboxEntry, WebhookRow};

pub(crate) fn insert_webhook(conn: &mut Conn, hook: &NewWebhookRow<'_>) -> Result<i64, OpError> {
    in_transaction(conn, |conn| {
        diesel::insert_into(webhooks::table)
            .values(hook)
            .execute(conn)?;
        // The secret is 256 random bits: it names the new row.
        Ok(webhooks::table
            .filter(webhooks::secret.eq(hook.secret))
            .select(webhooks::id)
            .first(conn)?)
    })
}

pub(crate) fn all_webhooks(conn: &mut Conn) -> Result<Vec<WebhookRow>, OpError> {
    Ok(webhooks::table
        .order(webhooks::id.asc())
        .select(WebhookRow::as_select())
        .load(conn)?)
}

pub(crate) fn delete_webhook(conn: &mut Conn, id: i64) -> Result<usize, OpError> {
    in_transaction(conn, |conn| {
        diesel::delete(webhook_outbox::table.filter(webhook_outbox::webhook_id.eq(id)))
            .execute(conn)?;
        Ok(diesel::delete(webhooks::table.find(id)).execute(conn)?)
    })
}

/// Queues one notification per hook wanting one of `events` about `run_id`, once each.
pub(crate) fn enqueue_run(
    conn: &mut Conn,
    run_id: i64,
    events: &[&str],
    link_base: &str,
    now: i64,
) -> Result<usize, OpError> {
    in_transaction(conn, |conn| {
        let Some(run) = runs::table
            .find(run_id)
            .select(RunRow::as_select())
            .first(conn)
            .optional()?
        else {
            return Ok(0);
        };
        let machine = machines::table
            .find(run.machine_id)
            .select(MachineRow::as_select())
            .first(conn)?;
        let key = name_key(&machine.name);
        let hooks: Vec<(i64, String, String)> = webhooks::table
            .filter(webhooks::on_event.eq_any(events))
            .filter(
                webhooks::machine_key
                    .is_null()
                    .or(webhooks::machine_key.eq(&key)),
            )
            .select((webhooks::id, webhooks::on_event, webhooks::format))
            .load(conn)?;
        let counts = run.counts();
        let mut queued = 0;
        for (webhook_id, on_event, format) in hooks {
            let payload = crate::db::webhooks::payload(
                &format,
                &on_event,
                (machine.id, &machine.name),
                (run.id, &run.status),
                counts,
                link_base,
            );
            queued += diesel::insert_into(webhook_outbox::table)
                .values(&NewOutboxRow {
                    webhook_id,
                    run_id,
                    on_event: &on_event,
                    payload: &payload,
                    attempts: 0,
                    next_attempt_at: now,
                    created_at: now,
                })
                .on_conflict_do_nothing()
                .execute(conn)?;
        }
        Ok(queued)
    })
}

/// Claims up to `limit` undelivered rows due at `now` until `lease_until`: a row whose
/// `next_attempt_at` moved meanwhile was claimed by another server and is skipped.
pub(crate) fn claim_due(
    conn: &mut Conn,
    now: i64,
    lease_until: i64,
    limit: i64,
) -> Result<Vec<Delivery>, OpError> {
    let due: Vec<(i64, i64, String, i64, String, String)> = webhook_outbox::table
        .inner_join(webhooks::table)
        .filter(webhook_outbox::delivered_at.is_null())
        .filter(webhook_outbox::next_attempt_at.le(now))
        .filter(webhook_outbox::attempts.lt(crate::db::webhooks::MAX_ATTEMPTS))
        .order(webhook_outbox::next_attempt_at.asc())
        .limit(limit)
        .select((
            webhook_outbox::id,
            webhook_outbox::attempts,
            webhook_outbox::payload,
            webhook_outbox::next_attempt_at,
            webhooks::url,
            webhooks::secret,
        ))
        .load(conn)?;
    let mut claimed = Vec::with_capacity(due.len());
    for (id, attempts, payload, next_attempt_at, url, secret) in due {
        let won = diesel::update(
            webhook_outbox::table
                .filter(webhook_outbox::id.eq(id))
                .filter(webhook_outbox::next_attempt_at.eq(next_attempt_at)),
        )
        .set(webhook_outbox::next_attempt_at.eq(lease_until))
        .execute(conn)?;
        if won == 1 {
            claimed.push(Delivery {
                id,
                url,
                secret,
                payload,
                attempts,
            });
        }
    }
    Ok(claimed)
}

pub(crate) fn mark_delivered(conn: &mut Conn, id: i64, now: i64) -> Result<(), OpError> {
    diesel::update(webhook_outbox::table.find(id))
        .set(webhook_outbox::delivered_at.eq(now))
        .execute(conn)?;
    Ok(())
}

pub(crate) fn mark_failed(
    conn: &mut Conn,
    id: i64,
    attempts: i64,
    next_attempt_at: i64,
    error: &str,
) -> Result<(), OpError> {
    diesel::update(webhook_outbox::table.find(id))
        .set((
            webhook_outbox::attempts.eq(attempts),
            webhook_outbox::next_attempt_at.eq(next_attempt_at),
            webhook_outbox::last_error.eq(error),
        ))
        .execute(conn)?;
    Ok(())
}

pub(crate) fn all_outbox(conn: &mut Conn) -> Result<Vec<OutboxEntry>, OpError> {
    Ok(webhook_outbox::table
        .order(webhook_outbox::id.asc())
        .select(OutboxEntry::as_select())
        .load(conn)?)
}
