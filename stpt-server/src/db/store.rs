//! The diesel [`Store`]: the same semantics as stpt-core's `MemoryStore`, persisted.
//!
//! The main type here is [`DieselStore`]. It sends events to its backend's writer
//! (`db::writer`) and dispatches every other call to the operations compiled for its backend
//! (`db::sqlite`, `db::postgres`), on a pooled connection.
//!
//! **Invariant:** an event is answered once the transaction that applied it committed; a start
//! or stop reads and writes a fixed number of rows (one or two tests and their scenarios, the
//! run; the machine and run only when the writer does not know them), found through indexes,
//! so its cost does not grow with the run.

use stpt_core::{
    Applied, Attempt, Event, Machine, MachineId, MachineSummary, Node, NodeId, NodeKind,
    OutputLimit, OutputLog, Page, PageRequest, RunFilter, RunId, RunSummary, RunTree, Store,
    StoreError, TestOutput, TestResult, Timestamp,
};

use stpt_core::output::StoredLine;

use super::pool::{ConnectError, DatabaseUrl, DbPool, PoolOptions, connect};
use super::writer::Writer;
use super::{FromPoolError, OpError, on_backend, postgres, sqlite};

/// Lanes of PostgreSQL's writer for starts, stops and dry runs at most (each one connection
/// while it commits a batch); one more takes output.
const PG_LANES: u32 = 4;

/// A [`Store`] on SQLite or PostgreSQL.
///
/// Events go to the backend's [`Writer`] (`db::writer`), which commits them in batches: on
/// SQLite one thread with its own connection, on PostgreSQL a few lanes on pooled
/// connections, where concurrent events of one machine serialise on its row lock. Queries use
/// the pool.
#[derive(Debug, Clone)]
pub struct DieselStore {
    pool: DbPool,
    writer: Option<Writer>,
}

impl DieselStore {
    /// Opens the database at `url` (migrating it) with its backend's writer.
    pub fn open(url: &DatabaseUrl, options: PoolOptions) -> Result<Self, ConnectError> {
        let lanes = (options.max_size / 2).clamp(1, PG_LANES);
        let pool = connect(url, options)?;
        let writer_error = |source| ConnectError::Writer {
            target: url.to_string(),
            source,
        };
        let spawned = |err: std::io::Error| diesel::ConnectionError::BadConnection(err.to_string());
        let writer = match (&pool, url) {
            (DbPool::Sqlite(_), DatabaseUrl::Sqlite(path)) => {
                let target = sqlite::SqliteTarget::open(path).map_err(writer_error)?;
                Writer::start(vec![target], "stpt-sqlite-writer")
                    .map_err(|err| writer_error(spawned(err)))?
            }
            (DbPool::Postgres(pool), _) => {
                let targets = (0..=lanes)
                    .map(|_| postgres::PgTarget::new(pool.clone()))
                    .collect();
                Writer::start(targets, "stpt-pg-writer")
                    .map_err(|err| writer_error(spawned(err)))?
            }
            (DbPool::Sqlite(_), DatabaseUrl::Postgres(_)) => {
                return Err(writer_error(diesel::ConnectionError::BadConnection(
                    "a SQLite pool for a PostgreSQL URL".to_owned(),
                )));
            }
        };
        Ok(DieselStore {
            pool,
            writer: Some(writer),
        })
    }

    /// A store over a migrated pool that applies events on pooled connections, one
    /// transaction each (no writer).
    pub fn new(pool: DbPool) -> Self {
        DieselStore { pool, writer: None }
    }

    /// The pool, for health checks and metrics.
    pub fn pool(&self) -> &DbPool {
        &self.pool
    }
}

impl FromPoolError for StoreError {
    fn from_pool(err: diesel::r2d2::PoolError) -> Self {
        StoreError::busy("no database connection free", err)
    }
}

#[cfg(feature = "bench-loaders")]
impl DieselStore {
    /// Writes `runs` finished runs of `tests` tests each for `machine` with multi-row inserts,
    /// a minute apart from `first`: a fast load generator for the history benchmarks (see
    /// docs/benchmarks.md), not an event path. Test `i` of run `r` fails when
    /// `(r + i) % 37 == 0`, and test 0 fails every other run.
    pub fn generate_history(
        &self,
        machine: &str,
        runs: u32,
        tests: u32,
        first: Timestamp,
    ) -> Result<(), StoreError> {
        on_backend!(&self.pool => StoreError, generate_history(machine, runs, tests, first))
    }
}

impl Store for DieselStore {
    fn apply(&self, event: &Event, now: Timestamp) -> Result<Applied, StoreError> {
        match &self.writer {
            Some(writer) => writer.apply(event, OutputLimit::default(), now),
            None => on_backend!(&self.pool => StoreError, apply(event, now)),
        }
    }

    fn append_output(
        &self,
        output: &TestOutput,
        limit: OutputLimit,
        now: Timestamp,
    ) -> Result<Applied, StoreError> {
        match &self.writer {
            Some(writer) => writer.apply(&Event::TestOutput(output.clone()), limit, now),
            None => on_backend!(&self.pool => StoreError, append_output(output, limit, now)),
        }
    }

    fn output_after(
        &self,
        test: NodeId,
        after: Option<u64>,
    ) -> Result<Option<Vec<StoredLine>>, StoreError> {
        on_backend!(&self.pool => StoreError, output_after(test, after))
    }

    fn apply_batch(
        &self,
        events: &[Event],
        limit: OutputLimit,
        now: Timestamp,
    ) -> Result<Vec<Result<Applied, StoreError>>, StoreError> {
        match &self.writer {
            Some(writer) => writer.apply_batch(events, limit, now),
            None => Ok(events
                .iter()
                .map(|event| match event {
                    Event::TestOutput(output) => {
                        on_backend!(&self.pool => StoreError, append_output(output, limit, now))
                    }
                    event => on_backend!(&self.pool => StoreError, apply(event, now)),
                })
                .collect()),
        }
    }

    fn output(&self, test: NodeId) -> Result<Option<OutputLog>, StoreError> {
        on_backend!(&self.pool => StoreError, output(test))
    }

    fn machines(&self, page: PageRequest) -> Result<Page<MachineSummary>, StoreError> {
        on_backend!(&self.pool => StoreError, machines(page))
    }

    fn machine(&self, id: MachineId) -> Result<Option<Machine>, StoreError> {
        on_backend!(&self.pool => StoreError, machine(id))
    }

    fn machine_by_name(&self, name: &str) -> Result<Option<Machine>, StoreError> {
        on_backend!(&self.pool => StoreError, machine_by_name(name))
    }

    fn runs(&self, machine: MachineId, page: PageRequest) -> Result<Page<RunSummary>, StoreError> {
        on_backend!(&self.pool => StoreError, runs(machine, page))
    }

    fn find_runs(
        &self,
        filter: &RunFilter,
        page: PageRequest,
    ) -> Result<Page<RunSummary>, StoreError> {
        on_backend!(&self.pool => StoreError, find_runs(filter, page))
    }

    fn run(&self, id: RunId) -> Result<Option<RunTree>, StoreError> {
        on_backend!(&self.pool => StoreError, run(id))
    }

    fn last_run(&self, machine: MachineId) -> Result<Option<RunTree>, StoreError> {
        on_backend!(&self.pool => StoreError, last_run(machine))
    }

    fn node(&self, kind: NodeKind, id: NodeId) -> Result<Option<Node>, StoreError> {
        on_backend!(&self.pool => StoreError, node(kind, id))
    }

    fn attempts(&self, test: NodeId) -> Result<Vec<Attempt>, StoreError> {
        on_backend!(&self.pool => StoreError, attempts(test))
    }

    fn test_history(&self, test: NodeId, limit: u32) -> Result<Vec<TestResult>, StoreError> {
        on_backend!(&self.pool => StoreError, test_history(test, limit))
    }

    fn previous_run(&self, run: RunId) -> Result<Option<RunId>, StoreError> {
        on_backend!(&self.pool => StoreError, previous_run(run))
    }

    fn delete_machine(&self, machine: MachineId) -> Result<Option<u64>, StoreError> {
        on_backend!(&self.pool => StoreError, delete_machine(machine))
    }

    fn abort(&self, run: RunId, at: Timestamp) -> Result<Option<RunSummary>, StoreError> {
        on_backend!(&self.pool => StoreError, abort(run, at))
    }

    fn close_stale(
        &self,
        idle_since: Timestamp,
        at: Timestamp,
    ) -> Result<Vec<RunSummary>, StoreError> {
        on_backend!(&self.pool => StoreError, close_stale(idle_since, at))
    }
}

impl From<OpError> for StoreError {
    fn from(err: OpError) -> Self {
        match err {
            OpError::Store(err) => err,
            OpError::Db(err) if is_transient(&err) => {
                StoreError::busy("the database cannot take it now", err)
            }
            OpError::Db(err) => StoreError::backend("database query failed", err),
        }
    }
}

/// Failures a retry can outlive: a busy or full database, a lost or closing connection, a
/// conflict between concurrent transactions. They answer 503, so a runner keeps the event and
/// delivers it later, where a 500 would say the event itself is at fault.
pub(crate) fn is_transient(err: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind, Error};
    match err {
        Error::DatabaseError(
            DatabaseErrorKind::SerializationFailure
            | DatabaseErrorKind::ClosedConnection
            | DatabaseErrorKind::UnableToSendCommand
            | DatabaseErrorKind::ReadOnlyTransaction,
            _,
        ) => true,
        Error::DatabaseError(_, info) => {
            let message = info.message().to_ascii_lowercase();
            TRANSIENT_MESSAGES.iter().any(|m| message.contains(m))
        }
        Error::BrokenTransactionManager | Error::AlreadyInTransaction => true,
        _ => false,
    }
}

/// What SQLite and PostgreSQL say when the disk is full, the file cannot be written, the
/// database is locked, or the server is going away (they share no error code through diesel).
const TRANSIENT_MESSAGES: [&str; 14] = [
    // SQLite: SQLITE_FULL, SQLITE_IOERR, SQLITE_BUSY, SQLITE_LOCKED, SQLITE_READONLY.
    "database or disk is full",
    "disk i/o error",
    "database is locked",
    "database table is locked",
    "attempt to write a readonly database",
    // PostgreSQL: disk_full, admin_shutdown, crash_shutdown, cannot_connect_now,
    // deadlock_detected, lost connections.
    "no space left on device",
    "could not extend file",
    "terminating connection",
    "the database system is shutting down",
    "the database system is starting up",
    "the database system is in recovery mode",
    "deadlock detected",
    "server closed the connection",
    "connection to server",
];

#[cfg(test)]
mod tests {
    //! Storage failures a retry can outlive answer `Busy` (503), on real databases.

    use diesel::connection::SimpleConnection;
    use diesel::{Connection, RunQueryDsl};
    use stpt_core::testing::builders::dry_run;

    use super::*;
    use crate::db::{postgres, sqlite};

    #[test]
    fn a_full_sqlite_database_is_busy_not_a_failure() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("stpt.db").to_string_lossy().into_owned();
        connect(&DatabaseUrl::Sqlite(path.clone()), PoolOptions::default()).expect("migrate");
        let mut conn = diesel::SqliteConnection::establish(&path).expect("open");
        let pages: i64 = diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
            "(SELECT page_count FROM pragma_page_count())",
        ))
        .get_result(&mut conn)
        .expect("page count");
        // No room beyond what the schema takes: the next plan fills the "disk".
        conn.batch_execute(&format!("PRAGMA max_page_count = {};", pages + 2))
            .expect("limit the database");
        let tests: Vec<String> = (0..2_000).map(|i| format!("test_{i}.py")).collect();
        let names: Vec<&str> = tests.iter().map(String::as_str).collect();
        let event = dry_run("rig-1", 0, &[("s.py", &names)]);
        let err = sqlite::apply(&mut conn, &event, Timestamp::now())
            .map(|_| ())
            .expect_err("the plan cannot fit");
        let err = StoreError::from(err);
        assert!(matches!(err, StoreError::Busy { .. }), "{err:?}");
        let said = crate::api::DisplayChain(&err).to_string();
        assert!(said.contains("full"), "{said}");
    }

    #[test]
    #[cfg_attr(
        not(stpt_postgres_tests),
        ignore = "set STPT_TEST_POSTGRES_URL to run PostgreSQL tests"
    )]
    fn a_postgres_connection_lost_mid_request_is_busy_not_a_failure() {
        let url = postgres_url();
        let mut conn = diesel::PgConnection::establish(&url).expect("connect");
        let mut admin = diesel::PgConnection::establish(&url).expect("connect");
        let pid: i32 = diesel::select(diesel::dsl::sql::<diesel::sql_types::Integer>(
            "pg_backend_pid()",
        ))
        .get_result(&mut conn)
        .expect("backend pid");
        admin
            .batch_execute(&format!("SELECT pg_terminate_backend({pid})"))
            .expect("terminate");
        let err = postgres::apply(&mut conn, &dry_run("rig-1", 0, &[]), Timestamp::now())
            .map(|_| ())
            .expect_err("the connection is gone");
        let err = StoreError::from(err);
        assert!(matches!(err, StoreError::Busy { .. }), "{err:?}");
    }

    /// The PostgreSQL URL for tests; the test is ignored when it was unset at build time (see
    /// the build script), so unset here it is a failure.
    fn postgres_url() -> String {
        match std::env::var("STPT_TEST_POSTGRES_URL") {
            Ok(url) if !url.trim().is_empty() => url,
            _ => panic!("STPT_TEST_POSTGRES_URL is not set: a PostgreSQL test cannot run"),
        }
    }
}
