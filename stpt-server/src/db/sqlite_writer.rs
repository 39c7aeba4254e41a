//! The single SQLite writer: every event is applied by one thread, many per transaction.
//!
//! SQLite admits one writer at a time; connections competing for the write lock wait in its
//! busy handler, which sleeps in steps of milliseconds, so concurrent writers collapse
//! throughput. Instead, [`SqliteWriter`] owns one connection on its own thread, takes whatever
//! events are queued (up to [`MAX_BATCH`]) and applies them in one immediate transaction: one
//! commit covers the batch (group commit). A refused event writes nothing (the operations check
//! before they write); a database failure inside one event replays the batch one event per
//! transaction. Callers wait for their own answer, which is sent only after the commit.
//!
//! **Invariant:** an event is acknowledged only once the transaction that applied it committed.

use std::sync::mpsc;
use std::thread;

use diesel::Connection;
use diesel::connection::SimpleConnection;
use diesel::sqlite::SqliteConnection;
use stpt_core::{Applied, Event, OutputLimit, StoreError, Timestamp};

use super::OpError;
use super::sqlite;

/// Most events applied in one transaction.
pub(crate) const MAX_BATCH: usize = 256;

/// Events queued before senders wait (back-pressure instead of unbounded memory).
const QUEUE: usize = 4 * MAX_BATCH;

struct Job {
    event: Event,
    /// The output limit, for a batch of output.
    limit: OutputLimit,
    now: Timestamp,
    reply: mpsc::SyncSender<Result<Applied, StoreError>>,
}

/// A handle on the writer thread; clones share it.
#[derive(Debug, Clone)]
pub(crate) struct SqliteWriter {
    jobs: mpsc::SyncSender<Job>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("kind", &self.event.kind())
            .finish()
    }
}

impl SqliteWriter {
    /// Opens a dedicated connection to `path` and starts the writer thread.
    pub(crate) fn start(path: &str) -> Result<SqliteWriter, diesel::ConnectionError> {
        let mut conn = SqliteConnection::establish(path)?;
        conn.batch_execute(
            "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 10000; \
             PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
        )
        .map_err(|e| diesel::ConnectionError::BadConnection(e.to_string()))?;
        let (jobs, queue) = mpsc::sync_channel::<Job>(QUEUE);
        thread::Builder::new()
            .name("stpt-sqlite-writer".to_owned())
            .spawn(move || run(conn, queue))
            .map_err(|e| diesel::ConnectionError::BadConnection(e.to_string()))?;
        Ok(SqliteWriter { jobs })
    }

    /// Applies `event` on the writer thread and waits for the committed result.
    pub(crate) fn apply(&self, event: &Event, now: Timestamp) -> Result<Applied, StoreError> {
        self.apply_with_limit(event, OutputLimit::default(), now)
    }

    /// Applies `event` (output kept within `limit`) on the writer thread and waits for the
    /// committed result.
    pub(crate) fn apply_with_limit(
        &self,
        event: &Event,
        limit: OutputLimit,
        now: Timestamp,
    ) -> Result<Applied, StoreError> {
        let (reply, answer) = mpsc::sync_channel(1);
        let stopped = || StoreError::Busy {
            reason: "the database writer has stopped".to_owned(),
            source: None,
        };
        self.jobs
            .send(Job {
                event: event.clone(),
                limit,
                now,
                reply,
            })
            .map_err(|_| stopped())?;
        answer.recv().map_err(|_| stopped())?
    }
}

/// The writer loop: ends when every handle is dropped.
fn run(mut conn: SqliteConnection, queue: mpsc::Receiver<Job>) {
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let results = apply_batch(&mut conn, &batch);
        for (job, result) in batch.into_iter().zip(results) {
            // A caller that gave up waiting is no reason to stop.
            let _ = job.reply.send(result);
        }
    }
}

/// Applies a batch in one transaction.
///
/// The operations check everything an event could be refused for before their first write,
/// so a refused event leaves nothing behind and needs no savepoint of its own. A database
/// failure part-way through an event is different: then the batch is rolled back and every
/// event of it is applied again in a transaction of its own, so only that event fails.
fn apply_batch(conn: &mut SqliteConnection, batch: &[Job]) -> Vec<Result<Applied, StoreError>> {
    let mut results: Vec<Result<Applied, StoreError>> = Vec::with_capacity(batch.len());
    let committed = conn.immediate_transaction(|conn| {
        for job in batch {
            match sqlite::apply_with_limit_within(conn, &job.event, job.limit, job.now) {
                Ok(applied) => results.push(Ok(applied)),
                Err(OpError::Store(refused)) => results.push(Err(refused)),
                Err(failed @ OpError::Db(_)) => return Err(failed),
            }
        }
        Ok::<(), OpError>(())
    });
    match committed {
        Ok(()) => results,
        Err(_) => batch
            .iter()
            .map(|job| {
                conn.immediate_transaction(|conn| {
                    sqlite::apply_with_limit_within(conn, &job.event, job.limit, job.now)
                })
                .map_err(StoreError::from)
            })
            .collect(),
    }
}
