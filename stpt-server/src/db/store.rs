//! The diesel [`Store`]: the same semantics as stpt-core's `MemoryStore`, persisted.
//!
//! The main type here is [`DieselStore`]. It dispatches each call to the operations compiled
//! for its backend (`db::sqlite`, `db::postgres`), on a pooled connection.
//!
//! **Invariant:** one transaction per event; a start or stop reads and writes a fixed number
//! of rows (machine, run, one or two tests and their scenarios), found through indexes.

use stpt_core::{
    Applied, Attempt, Event, Machine, MachineId, MachineSummary, Node, NodeId, NodeKind, Page,
    PageRequest, RunId, RunSummary, RunTree, Store, StoreError, TestResult, Timestamp,
};

use super::pool::{ConnectError, DatabaseUrl, DbPool, PoolOptions, connect};
use super::sqlite_writer::SqliteWriter;
use super::{OpError, postgres, sqlite};

/// A [`Store`] on SQLite or PostgreSQL.
///
/// On SQLite, events go to one writer thread that commits them in batches
/// (`db::sqlite_writer`) and queries use the pool; on PostgreSQL both use the pool, and
/// concurrent events of one machine serialise on its row lock.
#[derive(Debug, Clone)]
pub struct DieselStore {
    pool: DbPool,
    writer: Option<SqliteWriter>,
}

impl DieselStore {
    /// Opens the database at `url` (migrating it) with the writer its backend wants.
    pub fn open(url: &DatabaseUrl, options: PoolOptions) -> Result<Self, ConnectError> {
        let pool = connect(url, options)?;
        let writer = match url {
            DatabaseUrl::Sqlite(path) => {
                Some(
                    SqliteWriter::start(path).map_err(|source| ConnectError::Writer {
                        target: url.to_string(),
                        source,
                    })?,
                )
            }
            DatabaseUrl::Postgres(_) => None,
        };
        Ok(DieselStore { pool, writer })
    }

    /// A store over a migrated pool that applies events on pooled connections, one
    /// transaction each (no dedicated SQLite writer).
    pub fn new(pool: DbPool) -> Self {
        DieselStore { pool, writer: None }
    }

    /// The pool, for health checks and metrics.
    pub fn pool(&self) -> &DbPool {
        &self.pool
    }
}

fn busy(err: diesel::r2d2::PoolError) -> StoreError {
    StoreError::Busy {
        reason: format!("no database connection free: {err}"),
    }
}

/// Runs `$op` from the backend's module on a pooled connection.
macro_rules! on_backend {
    ($store:expr, $op:ident($($arg:expr),*)) => {
        match &$store.pool {
            DbPool::Sqlite(pool) => {
                let mut conn = pool.get().map_err(busy)?;
                sqlite::$op(&mut conn, $($arg),*)
            }
            DbPool::Postgres(pool) => {
                let mut conn = pool.get().map_err(busy)?;
                postgres::$op(&mut conn, $($arg),*)
            }
        }
        .map_err(StoreError::from)
    };
}

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
        on_backend!(self, generate_history(machine, runs, tests, first))
    }
}

impl Store for DieselStore {
    fn apply(&self, event: &Event) -> Result<Applied, StoreError> {
        match &self.writer {
            Some(writer) => writer.apply(event, Timestamp::now()),
            None => on_backend!(self, apply(event, Timestamp::now())),
        }
    }

    fn machines(&self, page: PageRequest) -> Result<Page<MachineSummary>, StoreError> {
        on_backend!(self, machines(page))
    }

    fn machine(&self, id: MachineId) -> Result<Option<Machine>, StoreError> {
        on_backend!(self, machine(id))
    }

    fn machine_by_name(&self, name: &str) -> Result<Option<Machine>, StoreError> {
        on_backend!(self, machine_by_name(name))
    }

    fn runs(&self, machine: MachineId, page: PageRequest) -> Result<Page<RunSummary>, StoreError> {
        on_backend!(self, runs(machine, page))
    }

    fn run(&self, id: RunId) -> Result<Option<RunTree>, StoreError> {
        on_backend!(self, run(id))
    }

    fn last_run(&self, machine: MachineId) -> Result<Option<RunTree>, StoreError> {
        on_backend!(self, last_run(machine))
    }

    fn node(&self, kind: NodeKind, id: NodeId) -> Result<Option<Node>, StoreError> {
        on_backend!(self, node(kind, id))
    }

    fn attempts(&self, test: NodeId) -> Result<Vec<Attempt>, StoreError> {
        on_backend!(self, attempts(test))
    }

    fn test_history(&self, test: NodeId, limit: u32) -> Result<Vec<TestResult>, StoreError> {
        on_backend!(self, test_history(test, limit))
    }

    fn abort(&self, run: RunId, at: Timestamp) -> Result<Option<RunSummary>, StoreError> {
        on_backend!(self, abort(run, at))
    }

    fn close_stale(
        &self,
        idle_since: Timestamp,
        at: Timestamp,
    ) -> Result<Vec<RunSummary>, StoreError> {
        on_backend!(self, close_stale(idle_since, at))
    }
}

impl From<OpError> for StoreError {
    fn from(err: OpError) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match err {
            OpError::Store(err) => err,
            OpError::Db(Error::DatabaseError(DatabaseErrorKind::SerializationFailure, info)) => {
                StoreError::Busy {
                    reason: info.message().to_owned(),
                }
            }
            OpError::Db(Error::DatabaseError(kind, info))
                if info.message().contains("database is locked") =>
            {
                let _ = kind;
                StoreError::Busy {
                    reason: info.message().to_owned(),
                }
            }
            OpError::Db(err) => StoreError::backend("database query failed", err),
        }
    }
}
