//! The store's operations compiled for SQLite.
//!
//! Every event runs in an immediate transaction: SQLite has one writer, and taking the write
//! lock up front turns a would-be deadlock between two readers-turned-writers into a short wait
//! (bounded by `busy_timeout`).

#[allow(clippy::duplicate_mod, reason = "compiled once per backend on purpose")]
#[path = "access_ops.rs"]
mod access_ops;
#[cfg(feature = "bench-loaders")]
#[allow(clippy::duplicate_mod, reason = "compiled once per backend on purpose")]
#[path = "history_loader.rs"]
mod history_loader;
#[allow(clippy::duplicate_mod, reason = "compiled once per backend on purpose")]
#[path = "ops.rs"]
mod ops;
#[allow(clippy::duplicate_mod, reason = "compiled once per backend on purpose")]
#[path = "webhook_ops.rs"]
mod webhook_ops;

pub(crate) use access_ops::*;
#[cfg(feature = "bench-loaders")]
pub(crate) use history_loader::generate_history;
pub(crate) use ops::*;
pub(crate) use webhook_ops::*;

use diesel::prelude::*;

use super::OpError;
use super::rows::MachineRow;
use super::schema::machines;

pub(crate) type Conn = diesel::SqliteConnection;

fn in_transaction<T>(
    conn: &mut Conn,
    f: impl FnOnce(&mut Conn) -> Result<T, OpError>,
) -> Result<T, OpError> {
    conn.immediate_transaction(f)
}

/// SQLite's immediate transaction already excludes other writers; no row lock is needed.
fn machine_for_update(conn: &mut Conn, key: &str) -> QueryResult<Option<MachineRow>> {
    machines::table
        .filter(machines::name_key.eq(key))
        .select(MachineRow::as_select())
        .first(conn)
        .optional()
}
