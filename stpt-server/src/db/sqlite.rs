//! The store's operations compiled for SQLite.
//!
//! Every event runs in an immediate transaction: SQLite has one writer, and taking the write
//! lock up front turns a would-be deadlock between two readers-turned-writers into a short wait
//! (bounded by `busy_timeout`).

include!("ops.rs");

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
include!("access_ops.rs");
include!("webhook_ops.rs");
