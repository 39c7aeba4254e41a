//! Delivering a Python harness's events from a thread of their own, so a test never waits on
//! the network.
//!
//! The main type here is [`BackgroundSink`]: its `send` queues the event and returns at once;
//! one delivery thread owns the [`HttpSink`], takes whatever is queued, spools it as a group
//! ([`HttpSink::spool_all`]: every event durable, one directory fsync per group) and then
//! delivers the spool in order ([`HttpSink::deliver_due`]), so the delivery rules (event ids,
//! retries, going offline and probing, aborted runs, refusals moved aside) stay the sink's.
//!
//! [`BackgroundSink::close`] ends a session: it waits until every queued event is spooled and,
//! unless the server already failed slowly (a connection or a request that timed out), lets
//! the thread try one more delivery. So a server that never answers costs a session at most
//! one request timeout, spent while the tests go on; whatever is left stays spooled for
//! `stpt replay`.
//!
//! **Invariant:** events are spooled in the order they were sent, before any network attempt
//! made after they were queued; the thread never holds the GIL.

use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use stpt_core::{Event, RunId, Sink, SinkError};
use stpt_runner::{Delivery, HttpSink};

/// Most events spooled as one group (one directory fsync).
const MAX_GROUP: usize = 512;

/// A failed delivery that took longer than this waited for a timeout: the server is a black
/// hole (or too slow), and the end of the session does not try it again.
const SLOW_FAILURE: Duration = Duration::from_millis(250);

/// What the delivery thread is asked to do.
enum Job {
    Event(Box<Event>),
    /// End of a session: spool what is queued, try once more if that is cheap, then answer.
    Close(Sender<()>),
}

/// What the delivery thread knows, for the harness to read without waiting on the network.
#[derive(Debug, Default)]
pub(crate) struct Status {
    /// Events refused or lost, one sentence each.
    pub(crate) problems: Vec<String>,
    /// The server said the machine's current run was aborted.
    pub(crate) run_aborted: bool,
    /// The last delivery failed.
    pub(crate) offline: bool,
    /// The run id answered for the machine's latest dry run.
    pub(crate) run_id: Option<RunId>,
    /// Events in the spool after the latest delivery.
    pub(crate) pending: usize,
}

/// A sink that hands events to a delivery thread owning an [`HttpSink`].
#[derive(Debug)]
pub(crate) struct BackgroundSink {
    jobs: Sender<Job>,
    status: Arc<Mutex<Status>>,
}

impl BackgroundSink {
    /// Starts the delivery thread for `sink`, reporting for `machine`.
    pub(crate) fn start(sink: HttpSink, machine: String) -> std::io::Result<BackgroundSink> {
        let (jobs, queue) = channel();
        let status = Arc::new(Mutex::new(Status::default()));
        let shared = Arc::clone(&status);
        thread::Builder::new()
            .name("stpt-delivery".to_owned())
            .spawn(move || Worker::new(sink, machine, shared).run(&queue))?;
        Ok(BackgroundSink { jobs, status })
    }

    /// What the delivery thread knows now.
    pub(crate) fn status(&self) -> MutexGuard<'_, Status> {
        lock(&self.status)
    }

    /// Waits until every event sent so far is spooled and the one last delivery (if any) is
    /// done. Call without the GIL.
    pub(crate) fn close(&self) {
        let (done, wait) = channel();
        if self.jobs.send(Job::Close(done)).is_ok() {
            // The thread answers once it is through; a dead thread drops the sender.
            let _ = wait.recv();
        }
    }
}

impl Sink for BackgroundSink {
    fn send(&mut self, event: &Event) -> Result<(), SinkError> {
        self.jobs
            .send(Job::Event(Box::new(event.clone())))
            .map_err(|_| SinkError::Io {
                destination: "the delivery thread".to_owned(),
                source: "the delivery thread has stopped".into(),
            })
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        self.close();
        Ok(())
    }
}

fn lock(status: &Mutex<Status>) -> MutexGuard<'_, Status> {
    // A panic elsewhere leaves the status readable: it holds plain values.
    status
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The delivery thread's state.
struct Worker {
    sink: HttpSink,
    machine: String,
    status: Arc<Mutex<Status>>,
    /// The latest failed delivery waited for a timeout.
    failed_slowly: bool,
}

impl Worker {
    fn new(sink: HttpSink, machine: String, status: Arc<Mutex<Status>>) -> Worker {
        Worker {
            sink,
            machine,
            status,
            failed_slowly: false,
        }
    }

    fn run(mut self, queue: &Receiver<Job>) {
        // Ends when the reporter is gone and the queue is empty.
        while let Ok(first) = queue.recv() {
            let mut events = Vec::new();
            let mut closes = Vec::new();
            let mut next = Some(first);
            while let Some(job) = next {
                match job {
                    Job::Event(event) => events.push(*event),
                    Job::Close(done) => closes.push(done),
                }
                next = if events.len() < MAX_GROUP {
                    queue.try_recv().ok()
                } else {
                    None
                };
            }
            let lost = self.sink.spool_all(&events);
            lock(&self.status)
                .problems
                .extend(lost.iter().map(|e| crate::error_chain(e)));
            if closes.is_empty() {
                self.deliver(false);
            } else {
                // The end of the session: one more try unless the server already made us
                // wait for a timeout; whatever is left stays spooled.
                if !(self.sink.is_offline() && self.failed_slowly) {
                    self.deliver(true);
                }
                self.update(None);
                for done in closes {
                    let _ = done.send(());
                }
            }
        }
    }

    /// Delivers the spool when due (`now`: even while offline, with one quick try first).
    fn deliver(&mut self, now: bool) {
        let started = Instant::now();
        let delivered = if now {
            self.sink.deliver_now().map(Some)
        } else {
            self.sink.deliver_due()
        };
        match delivered {
            Ok(Some(delivery)) => {
                self.failed_slowly =
                    delivery.interrupted.is_some() && started.elapsed() >= SLOW_FAILURE;
                self.update(Some(delivery));
            }
            Ok(None) => {}
            Err(error) => lock(&self.status).problems.push(crate::error_chain(&error)),
        }
    }

    fn update(&self, delivery: Option<Delivery>) {
        let mut status = lock(&self.status);
        status.offline = self.sink.is_offline();
        status.run_aborted = self.sink.run_aborted(&self.machine);
        status.run_id = self.sink.run_id(&self.machine);
        if let Some(delivery) = delivery {
            status.pending = delivery.pending;
            status.problems.extend(
                delivery
                    .rejected
                    .iter()
                    .map(|e| crate::error_chain(e))
                    .chain(
                        delivery
                            .interrupted
                            .iter()
                            .filter(|e| !matches!(e, SinkError::Deferred { .. }))
                            .map(|e| crate::error_chain(e)),
                    ),
            );
        } else {
            status.pending = self.sink.spool().pending_count().unwrap_or(status.pending);
        }
    }
}
