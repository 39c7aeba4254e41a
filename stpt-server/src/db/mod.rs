//! Persistence: the diesel store on SQLite or PostgreSQL.
//!
//! `pool` opens and migrates the database, `schema` and `rows` describe the tables, `sqlite`
//! and `postgres` compile the operations of `ops.rs` for each backend, `sqlite_writer` applies
//! SQLite's events on one thread in batches, and `store` puts them behind stpt-core's `Store`
//! trait. `access` (with `access_ops.rs`) keeps users, machine tokens, reset links, the secret
//! key, and prunes old runs. `webhooks` (with `webhook_ops.rs`) keeps the webhooks and the outbox
//! of their notifications.

mod access;
mod pool;
mod postgres;
mod rows;
mod schema;
mod sqlite;
mod sqlite_writer;
mod store;
mod webhooks;

pub use access::{
    AccessError, AccessStore, RESET_LINK_LIFETIME, ResetLink, TokenCheck, TokenInfo, User,
};
pub use pool::{ConnectError, DatabaseUrl, DatabaseUrlError, DbPool, PoolOptions, connect};
pub use store::DieselStore;
pub use webhooks::{
    CreatedWebhook, Delivery, HookEvent, HookFormat, MAX_ATTEMPTS, OutboxEntry, Webhook,
    WebhookError, WebhookStore, retry_delay,
};

use stpt_core::StoreError;

/// An operation's failure: the event's fault, or the database's.
#[derive(Debug)]
pub(crate) enum OpError {
    Store(StoreError),
    Db(diesel::result::Error),
}

impl From<diesel::result::Error> for OpError {
    fn from(err: diesel::result::Error) -> Self {
        OpError::Db(err)
    }
}

impl From<StoreError> for OpError {
    fn from(err: StoreError) -> Self {
        OpError::Store(err)
    }
}
