//! Persistence: the diesel store on SQLite or PostgreSQL.
//!
//! `pool` opens and migrates the database, `schema` and `rows` describe the tables
//! (`state_rows` the narrow rows events change, `saves` their prepared `UPDATE`s), `sqlite`
//! and `postgres` compile the operations of `events.rs`, `ops.rs`, `access_ops.rs` and
//! `webhook_ops.rs` for each backend (each file is a submodule of both, through `#[path]`;
//! `on_backend!` calls the right one), `writer` applies events on dedicated threads in batches
//! with what `known` remembers, and `store` puts them behind stpt-core's `Store` trait. `access` (with `access_ops.rs`) keeps users, machine tokens, reset links, the secret
//! key, and prunes old runs. `webhooks` (with `webhook_ops.rs`) keeps the webhooks and the outbox
//! of their notifications.

mod access;
mod known;
mod pool;
mod postgres;
mod rows;
mod saves;
mod schema;
mod sqlite;
mod state_rows;
mod store;
mod webhooks;
mod writer;

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

/// What a store's error becomes when the pool has no free connection.
pub(crate) trait FromPoolError {
    fn from_pool(err: diesel::r2d2::PoolError) -> Self;
}

/// Runs the operation `$op` of the pool's backend (`db::sqlite::$op` or `db::postgres::$op`, the
/// same code compiled twice) on a pooled connection, and converts its failure to `$err`.
///
/// `on_backend!(pool => E, op(args))` gives `Result<T, E>`; `on_backend!(pool => E, op(args)
/// as OpError)` gives `Result<T, OpError>`, for a caller that looks at the database's error
/// first. A pool without a free connection returns early with `E::from_pool`.
macro_rules! on_backend {
    ($pool:expr => $err:ty, $op:ident($($arg:expr),*) as OpError) => {
        match $pool {
            $crate::db::DbPool::Sqlite(pool) => {
                let mut conn = pool
                    .get()
                    .map_err(<$err as $crate::db::FromPoolError>::from_pool)?;
                $crate::db::sqlite::$op(&mut conn, $($arg),*)
            }
            $crate::db::DbPool::Postgres(pool) => {
                let mut conn = pool
                    .get()
                    .map_err(<$err as $crate::db::FromPoolError>::from_pool)?;
                $crate::db::postgres::$op(&mut conn, $($arg),*)
            }
        }
    };
    ($pool:expr => $err:ty, $op:ident($($arg:expr),*)) => {
        $crate::db::on_backend!($pool => $err, $op($($arg),*) as OpError).map_err(<$err>::from)
    };
}
pub(crate) use on_backend;
