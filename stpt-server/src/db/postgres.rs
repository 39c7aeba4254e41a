//! The store's operations compiled for PostgreSQL.
//!
//! Several servers may write at once: every event locks its machine's row first
//! (`SELECT … FOR UPDATE`), so events of one machine apply one after another while different
//! machines proceed in parallel.

include!("ops.rs");

pub(crate) type Conn = diesel::PgConnection;

fn in_transaction<T>(
    conn: &mut Conn,
    f: impl FnOnce(&mut Conn) -> Result<T, OpError>,
) -> Result<T, OpError> {
    conn.transaction(f)
}

fn machine_for_update(conn: &mut Conn, key: &str) -> QueryResult<Option<MachineRow>> {
    machines::table
        .filter(machines::name_key.eq(key))
        .select(MachineRow::as_select())
        .for_update()
        .first(conn)
        .optional()
}
include!("access_ops.rs");
include!("webhook_ops.rs");
