//! The event writers: events are applied by dedicated threads, many per transaction.
//!
//! A [`Writer`] has one or more *lanes*, each a thread that takes whatever events are queued
//! for it (up to [`MAX_BATCH`]) and applies them in one transaction: one commit covers the
//! batch (group commit). Callers wait for their own answers, which are sent only after the
//! commit. A batch submitted together ([`Writer::apply_batch`]) is applied whole within one
//! transaction, in order.
//!
//! - SQLite admits one writer at a time, so it gets one lane on a dedicated connection;
//!   connections competing for the write lock would wait in SQLite's busy handler instead.
//! - PostgreSQL gets several lanes, each checking a pooled connection out per batch. A
//!   machine's events always take the same lane, so lanes rarely wait on each other's row
//!   locks, and output has a lane of its own, so a flood of it does not delay starts and
//!   stops; each batch locks all its machines up front in name order, so lanes (and other
//!   server instances) never deadlock.
//!
//! A refused event writes nothing (the operations check before they write) and does not stop
//! the batch. A database failure inside a batch rolls it back; then every event of it is
//! applied again in a transaction of its own, so only the event that fails fails, unless the
//! database is away (busy): then the rest are answered busy at once, to be sent again.
//!
//! **Invariant:** an event is acknowledged only once the transaction that applied it
//! committed.

use std::hash::{Hash, Hasher};
use std::sync::mpsc;
use std::thread;

use stpt_core::{Applied, Event, OutputLimit, StoreError, Timestamp};

use super::OpError;
use super::known::Known;

/// Most events applied in one transaction (a submitted batch larger than this is still
/// applied whole).
pub(crate) const MAX_BATCH: usize = 256;

/// Jobs queued per lane before senders wait (back-pressure instead of unbounded memory).
const QUEUE: usize = 4 * MAX_BATCH;

/// One event to apply, with the output limit for output and its arrival time.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Work<'a> {
    pub(crate) event: &'a Event,
    pub(crate) limit: OutputLimit,
    pub(crate) now: Timestamp,
}

/// What an event writer needs of its backend: one transaction applying events in order.
pub(crate) trait EventTarget: Send + 'static {
    /// Applies `work` in order in one transaction, with `known` (which the implementation
    /// forgets when it cannot vouch for it). `Ok` holds one answer per event and means the
    /// transaction committed; `Err` means it rolled back.
    fn apply_in_transaction(
        &mut self,
        known: &mut Known,
        work: &[Work<'_>],
    ) -> Result<Vec<Result<Applied, StoreError>>, OpError>;
}

struct Job {
    events: Vec<Event>,
    limit: OutputLimit,
    now: Timestamp,
    reply: mpsc::SyncSender<Vec<Result<Applied, StoreError>>>,
}

/// A handle on the writer's lanes; clones share them.
#[derive(Debug, Clone)]
pub(crate) struct Writer {
    lanes: Vec<mpsc::SyncSender<Job>>,
}

fn stopped() -> StoreError {
    StoreError::Busy {
        reason: "the database writer has stopped".to_owned(),
        source: None,
    }
}

impl Writer {
    /// Starts one lane per target, each on its own thread named `name-<n>`.
    pub(crate) fn start<T: EventTarget>(
        targets: Vec<T>,
        name: &str,
    ) -> Result<Writer, std::io::Error> {
        let mut lanes = Vec::with_capacity(targets.len());
        for (n, target) in targets.into_iter().enumerate() {
            let (jobs, queue) = mpsc::sync_channel::<Job>(QUEUE);
            thread::Builder::new()
                .name(format!("{name}-{n}"))
                .spawn(move || run(target, queue))?;
            lanes.push(jobs);
        }
        Ok(Writer { lanes })
    }

    /// Applies `event` (output kept within `limit`) and waits for the committed result.
    pub(crate) fn apply(
        &self,
        event: &Event,
        limit: OutputLimit,
        now: Timestamp,
    ) -> Result<Applied, StoreError> {
        self.apply_batch(std::slice::from_ref(event), limit, now)?
            .pop()
            .ok_or_else(stopped)?
    }

    /// Applies `events` in order in one transaction and waits for every answer.
    pub(crate) fn apply_batch(
        &self,
        events: &[Event],
        limit: OutputLimit,
        now: Timestamp,
    ) -> Result<Vec<Result<Applied, StoreError>>, StoreError> {
        let Some(first) = events.first() else {
            return Ok(Vec::new());
        };
        let lane = &self.lanes[self.lane_of(first)];
        let (reply, answer) = mpsc::sync_channel(1);
        lane.send(Job {
            events: events.to_vec(),
            limit,
            now,
            reply,
        })
        .map_err(|_| stopped())?;
        answer.recv().map_err(|_| stopped())
    }

    /// The lane of a machine's events: the same one every time. With more than two lanes the
    /// last one takes only output, so a flood of output (thousands of lines a second, each
    /// batch hundreds of rows) never holds up other machines' starts and stops behind it.
    fn lane_of(&self, event: &Event) -> usize {
        let lanes = self.lanes.len();
        if lanes <= 1 {
            return 0;
        }
        let (first, count) = if lanes > 2 {
            if matches!(event, Event::TestOutput(_)) {
                return lanes - 1;
            }
            (0, lanes - 1)
        } else {
            (0, lanes)
        };
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        stpt_core::machine_key(event.machine_name()).hash(&mut hasher);
        first + (hasher.finish() % count as u64) as usize
    }
}

/// A lane's loop: ends when every handle is dropped.
fn run<T: EventTarget>(mut target: T, queue: mpsc::Receiver<Job>) {
    let mut known = Known::default();
    while let Ok(first) = queue.recv() {
        let mut events = first.events.len();
        let mut batch = vec![first];
        while events < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => {
                    events += job.events.len();
                    batch.push(job);
                }
                Err(_) => break,
            }
        }
        let mut answers = apply_jobs(&mut target, &mut known, &batch).into_iter();
        for job in batch {
            let mine: Vec<_> = answers.by_ref().take(job.events.len()).collect();
            // A caller that gave up waiting is no reason to stop.
            let _ = job.reply.send(mine);
        }
    }
}

/// Applies the jobs' events in one transaction; after a database failure, each alone.
fn apply_jobs<T: EventTarget>(
    target: &mut T,
    known: &mut Known,
    batch: &[Job],
) -> Vec<Result<Applied, StoreError>> {
    let work: Vec<Work<'_>> = batch
        .iter()
        .flat_map(|job| {
            job.events.iter().map(|event| Work {
                event,
                limit: job.limit,
                now: job.now,
            })
        })
        .collect();
    match target.apply_in_transaction(known, &work) {
        Ok(answers) => answers,
        Err(_) => {
            known.clear();
            let mut answers = Vec::with_capacity(work.len());
            for one in &work {
                let answer = alone(target, known, *one);
                // The database is away (each try may have waited a whole pool timeout): the
                // rest are answered busy too, to be sent again, instead of tried one by one.
                if let Err(StoreError::Busy { reason, .. }) = &answer {
                    let reason = reason.clone();
                    answers.push(answer);
                    answers.resize_with(work.len(), || {
                        Err(StoreError::Busy {
                            reason: reason.clone(),
                            source: None,
                        })
                    });
                    break;
                }
                answers.push(answer);
            }
            answers
        }
    }
}

/// One event in a transaction of its own, tried twice: a racing delivery of the same event id
/// on another connection (or server) makes the first try violate a unique key, and the
/// second then answers it as a duplicate.
fn alone<T: EventTarget>(
    target: &mut T,
    known: &mut Known,
    work: Work<'_>,
) -> Result<Applied, StoreError> {
    let once = |target: &mut T, known: &mut Known| {
        target
            .apply_in_transaction(known, std::slice::from_ref(&work))
            .map_err(StoreError::from)
            .and_then(|mut answers| answers.pop().ok_or_else(stopped)?)
    };
    match once(target, known) {
        Err(StoreError::Backend { .. }) | Err(StoreError::Busy { .. }) => {
            known.clear();
            once(target, known)
        }
        answer => answer,
    }
}

#[cfg(test)]
mod tests {
    //! The lane's failure handling, against a target whose database is away.

    use super::*;
    use stpt_core::testing::builders::start;

    /// A target that cannot reach its database: every transaction fails as busy.
    struct Away {
        transactions: usize,
    }

    impl EventTarget for Away {
        fn apply_in_transaction(
            &mut self,
            _: &mut Known,
            _: &[Work<'_>],
        ) -> Result<Vec<Result<Applied, StoreError>>, OpError> {
            self.transactions += 1;
            Err(OpError::Store(StoreError::Busy {
                reason: "no database connection free".to_owned(),
                source: None,
            }))
        }
    }

    #[test]
    fn a_batch_the_database_cannot_take_is_answered_busy_without_trying_each_event() {
        let events: Vec<Event> = (0..100)
            .map(|i| start(&format!("rig-{i}"), "a.py", i))
            .collect();
        let job = Job {
            events,
            limit: OutputLimit::default(),
            now: Timestamp::now(),
            reply: mpsc::sync_channel(1).0,
        };
        let mut target = Away { transactions: 0 };
        let answers = apply_jobs(&mut target, &mut Known::default(), &[job]);
        assert_eq!(answers.len(), 100);
        assert!(
            answers
                .iter()
                .all(|a| matches!(a, Err(StoreError::Busy { .. }))),
            "{answers:?}"
        );
        // The batch, then one event alone (tried twice): each try can wait a whole pool
        // timeout, so the others are not tried once the database is known to be away.
        assert_eq!(target.transactions, 3);
    }
}
