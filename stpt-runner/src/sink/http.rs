//! Delivering events to an stpt server over HTTP, losslessly.
//!
//! The main type here is [`HttpSink`]: each event is appended (fsynced) to a [`Spool`] before it
//! is posted, and leaves the spool only once the server acknowledged it (2xx). Pending events
//! are always delivered first, in order, so after an outage or a crash the backlog replays
//! before anything new; [`replay`] delivers a spool on its own (`stpt replay`).
//!
//! What each answer does:
//! - 2xx: delivered, removed from the spool. A dry run's answer may carry `run_id`; later
//!   starts and stops of that machine that carry none get it, once that dry run is the
//!   machine's latest.
//! - 5xx, 408, 429, connection errors, TLS failures (an untrusted certificate) and timeouts:
//!   retried with exponential backoff and
//!   jitter ([`RetryPolicy`]); when the retries of one event are used up the sink goes
//!   *offline*: the event stays spooled, `send` answers [`SinkError::Deferred`] at once, and
//!   only one quick attempt per [`HttpConfig::probe_interval`] checks whether the server is
//!   back; the first success delivers the backlog.
//! - 401, 403, 407 and 3xx: the server (or a proxy) refuses *us*, not the event (a bad token, a
//!   wrong URL): [`SinkError::Rejected`] with the answer, the event stays spooled and the sink
//!   goes offline, so fixing the configuration and replaying loses nothing. So does a 4xx that
//!   is not stpt's JSON error (an HTML page: the URL names another server).
//! - 409 `run_aborted`: a person ended the run on the server (`stpt abort`). The event is
//!   dropped, the sink answers [`SinkError::RunAborted`] once for that machine's run, and drops
//!   the run's later events without sending them (answering `Ok`), until the machine's next dry
//!   run. Spooled events of an aborted run are dropped the same way by a replay
//!   ([`Delivery::aborted`], [`Delivery::dropped`]).
//! - any other 4xx: the event itself is refused. [`SinkError::Rejected`] carries the server's
//!   `{"error", "detail"}` answer, and the event is moved to the spool's `rejected/` folder, so
//!   it is never retried and not lost from sight.
//!
//! When delivery stops, [`Delivery::held_up`] names the spooled event it stopped at and why,
//! and the error says so too: an event the server keeps failing on (the same 5xx on every
//! try) holds up everything behind it, and a person can act on it.
//!
//! If the spool itself cannot be written (a full disk), the event is posted directly with the
//! full retry policy; only when that fails too is it lost, and `send` says so with
//! [`SinkError::Io`].
//!
//! A backlog (more than one spooled event: the server was away, or events piled up while a
//! request was in flight) goes in batches to `POST /api/v1/events`, cut within the server's
//! bounds (1,000 events, 1 MiB; a 413 halves the batches that follow). The server answers each
//! event on its own, and each answer is settled exactly as the answer to a single post of that
//! event: applied or duplicate leaves the spool, a refusal is read by the rules above. Events
//! after one that holds delivery up stay spooled unless the server applied them. A server
//! answering 404 or 405 there (the original app, an older stpt) takes single posts for the
//! rest of the sink's life; a lone event is always posted to its own endpoint.
//!
//! Output ([`Event::TestOutput`]) is spooled and delivered like any event, to
//! `/api/v1/runs/<run>/tests/<index>/output` with the batch as the body: its run comes from
//! the dry run's answer, filled in before spooling when known, else when the spooled dry run
//! is delivered ahead of it (also by a replay that sent none of the spool's events itself:
//! each delivered dry run's run is its machine's until the next one's).
//!
//! **Invariant:** every event carries an `event_id` before it is spooled (one is made when the
//! caller gave none), so replays are idempotent: the server de-duplicates by event id.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use stpt_core::wire::{BatchAnswer, ErrorBody, EventAnswer, IngestAnswer};
use stpt_core::{Event, RunId, Sink, SinkError, machine_key};

use crate::spool::{Pending, Spool, SpoolError};

mod batch;

/// How often, and how patiently, one event is retried before the sink goes offline.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Tries per event, the first one included (at least 1).
    pub attempts: u32,
    /// Wait before the first retry; each later wait doubles, up to `max_delay`.
    pub initial_delay: Duration,
    /// Longest wait between two tries.
    pub max_delay: Duration,
    /// Wait a random time between half the delay and the delay, so many rigs coming back
    /// after an outage do not hit the server in step.
    pub jitter: bool,
}

impl Default for RetryPolicy {
    /// 4 tries, waiting about 0.25 s, 0.5 s and 1 s in between.
    fn default() -> Self {
        RetryPolicy {
            attempts: 4,
            initial_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(5),
            jitter: true,
        }
    }
}

impl RetryPolicy {
    /// No retry at all: one try per event.
    pub fn none() -> Self {
        RetryPolicy {
            attempts: 1,
            ..RetryPolicy::default()
        }
    }

    /// The wait before retry number `retry` (0 for the first retry).
    pub fn delay(&self, retry: u32) -> Duration {
        let factor = 2u32.checked_pow(retry).unwrap_or(u32::MAX);
        let delay = self
            .initial_delay
            .checked_mul(factor)
            .unwrap_or(self.max_delay)
            .min(self.max_delay);
        if self.jitter {
            delay.mul_f64(0.5 + fastrand::f64() / 2.0)
        } else {
            delay
        }
    }
}

/// Where and how an [`HttpSink`] delivers.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// The server's base URL, e.g. `http://127.0.0.1:8000` (the ingest paths are appended).
    pub url: String,
    /// The spool directory (see [`default_spool_dir`]).
    pub spool_dir: PathBuf,
    /// Sent as `Authorization: Bearer <token>` when set.
    pub token: Option<String>,
    /// Retries of one event.
    pub retry: RetryPolicy,
    /// Longest wait for a connection.
    pub connect_timeout: Duration,
    /// Longest wait for a whole request and its answer.
    pub request_timeout: Duration,
    /// While offline, the least time between two attempts made by `send`.
    pub probe_interval: Duration,
    /// A PEM bundle of CA certificates trusted for `https://` besides the system's
    /// ([`crate::tls`]).
    pub ca_cert: Option<PathBuf>,
}

impl HttpConfig {
    /// The default policy for the server at `url`, spooling to `spool_dir`: 4 tries per event,
    /// 3 s to connect, 10 s per request, a probe every 5 s while offline, and the CA bundle
    /// named by `STPT_CA_CERT` if set.
    pub fn new(url: impl Into<String>, spool_dir: impl Into<PathBuf>) -> Self {
        HttpConfig {
            url: url.into(),
            spool_dir: spool_dir.into(),
            token: None,
            retry: RetryPolicy::default(),
            connect_timeout: Duration::from_secs(3),
            request_timeout: Duration::from_secs(10),
            probe_interval: Duration::from_secs(5),
            ca_cert: crate::tls::ca_cert_from_env(),
        }
    }

    /// The same configuration with a bearer token.
    #[must_use]
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }
}

/// The spool directory to use when none is given: `STPT_SPOOL_DIR` if set, else `stpt/spool`
/// in the user's data directory (`$XDG_DATA_HOME` or `~/.local/share` on Linux and other
/// Unixes, `~/Library/Application Support` on macOS, `%LOCALAPPDATA%` on Windows), else
/// `stpt-spool` in the temporary directory.
pub fn default_spool_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("STPT_SPOOL_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    match data_dir() {
        Some(data) => data.join("stpt").join("spool"),
        None => std::env::temp_dir().join("stpt-spool"),
    }
}

fn data_dir() -> Option<PathBuf> {
    dirs::data_local_dir()
}

/// What one round of delivering the spool achieved.
#[derive(Debug, Default)]
pub struct Delivery {
    /// Events the server acknowledged.
    pub delivered: usize,
    /// Events the server refused, moved to `rejected/` (each a [`SinkError::Rejected`]).
    pub rejected: Vec<SinkError>,
    /// Runs found aborted on the server in this delivery, once per machine (each a
    /// [`SinkError::RunAborted`]).
    pub aborted: Vec<SinkError>,
    /// Events dropped unsent because their run was aborted on the server.
    pub dropped: usize,
    /// Events still pending afterwards.
    pub pending: usize,
    /// Why delivery stopped before the end of the spool, if it did.
    pub interrupted: Option<SinkError>,
    /// The spooled event delivery stopped at, if it did: everything after it waits for it.
    pub held_up: Option<HeldUp>,
}

/// The spooled event a delivery stopped at, and why: what a person needs to act on a spool
/// that does not drain (the server failing on one event, a refused token, the server away).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldUp {
    /// The event's file in the spool.
    pub path: PathBuf,
    /// Which event it is (`dry_run`, `test_start`, `test_stop`).
    pub kind: &'static str,
    /// Its event id.
    pub event_id: String,
    /// The machine it reports.
    pub machine: String,
    /// What the last try got.
    pub reason: String,
    /// True when the server answered (a 5xx, 408 or 429) rather than being out of reach: it
    /// is up but fails on this event, so its log says why.
    pub answered: bool,
}

impl std::fmt::Display for HeldUp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} event {} of machine {:?} ({}): {}",
            self.kind,
            self.event_id,
            self.machine,
            self.path.display(),
            self.reason
        )?;
        if self.answered {
            f.write_str(
                "; the server is up but fails on this event: its log says why, and the event \
                 stays spooled until it is accepted or the file is moved out of the spool",
            )?;
        }
        Ok(())
    }
}

/// A sink posting events to an stpt server through a durable spool.
#[derive(Debug)]
pub struct HttpSink {
    config: HttpConfig,
    agent: ureq::Agent,
    spool: Spool,
    offline_since: Option<Instant>,
    /// Per lowercased machine name: the event id of its latest dry run and, once that dry run
    /// is delivered, the run id the server answered.
    runs: HashMap<String, (String, Option<RunId>)>,
    /// Runs the server said were aborted: their events are dropped.
    aborted_runs: HashSet<RunId>,
    /// Lowercased machine names whose newest run the server said was aborted: their events
    /// without a run id are dropped, until the machine's next dry run.
    aborted_machines: HashSet<String>,
    /// Lowercased machine names whose aborted run was already reported, until their next dry
    /// run: the abort is said once.
    said_aborted: HashSet<String>,
    /// Whether the server takes batches (`POST /api/v1/events`); false for the sink's life
    /// once it answered 404 or 405 there (the original app, an older stpt).
    batches: bool,
    /// Most events in one batch: the server's default, halved each time it says a batch is
    /// too large.
    batch_limit: usize,
}

/// An error kept as the cause of another.
type BoxedError = Box<dyn std::error::Error + Send + Sync>;

/// Why the last try of a post did not deliver: the server failed, or could not be reached.
struct Unavailable {
    /// What happened, for people: the server's answer, or the connection's failure explained.
    reason: String,
    /// True when the server answered (it is up but failed), false when it could not be reached.
    answered: bool,
    /// When it could not be reached: what to say of it (TLS explained, else that it cannot be
    /// reached) beside the connection's error, which says the rest.
    cause: Option<(String, BoxedError)>,
}

/// How one post ended, after its retries.
enum Outcome {
    Delivered(Option<RunId>),
    /// The event itself was refused: move it aside.
    Refused(String),
    /// The event's run was aborted on the server: drop it.
    Aborted(String),
    /// We were refused (auth, redirect): keep the event, stop.
    Unauthorized(String),
    /// The server could not be reached or failed: keep the event, stop.
    Unavailable(Unavailable),
}

impl HttpSink {
    /// Opens the spool (pending events are delivered by the first send or flush). A CA
    /// bundle that cannot be read is an error here, before any event is taken.
    pub fn open(config: HttpConfig) -> Result<HttpSink, SinkError> {
        let spool = Spool::open(&config.spool_dir).map_err(|e| spool_error(&config.url, e))?;
        let agent = crate::tls::agent_builder(config.ca_cert.as_deref())
            .map_err(|e| SinkError::Io {
                destination: format!("TLS set-up for {}", config.url),
                source: Box::new(e),
            })?
            .timeout_connect(config.connect_timeout)
            .timeout(config.request_timeout)
            .redirects(0)
            .build();
        Ok(HttpSink {
            config,
            agent,
            spool,
            offline_since: None,
            runs: HashMap::new(),
            aborted_runs: HashSet::new(),
            aborted_machines: HashSet::new(),
            said_aborted: HashSet::new(),
            batches: true,
            batch_limit: stpt_core::wire::DEFAULT_MAX_BATCH_EVENTS,
        })
    }

    /// Whether the server said `machine_name`'s current run was aborted: its events are
    /// dropped until its next dry run.
    pub fn run_aborted(&self, machine_name: &str) -> bool {
        let machine = machine_key(machine_name);
        self.said_aborted.contains(&machine)
    }

    /// Whether `event` belongs to a run the server said was aborted.
    fn is_aborted(&self, event: &Event) -> bool {
        let run_id = match event {
            Event::DryRun(_) => return false,
            Event::TestStart(start) => start.run_id,
            Event::TestStop(stop) => stop.run_id,
            Event::TestOutput(output) => output.run_id,
        };
        match run_id {
            Some(run_id) => self.aborted_runs.contains(&run_id),
            None => self
                .aborted_machines
                .contains(&machine_key(event.machine_name())),
        }
    }

    /// Remembers that `event`'s run was aborted; answers whether the abort is news for its
    /// machine (to be said).
    fn learn_aborted(&mut self, event: &Event) -> bool {
        let machine = machine_key(event.machine_name());
        match event {
            Event::TestStart(e) if e.run_id.is_some() => self.aborted_runs.extend(e.run_id),
            Event::TestStop(e) if e.run_id.is_some() => self.aborted_runs.extend(e.run_id),
            Event::TestOutput(e) if e.run_id.is_some() => self.aborted_runs.extend(e.run_id),
            _ => {
                self.aborted_machines.insert(machine.clone());
            }
        }
        self.said_aborted.insert(machine)
    }

    /// A new dry run of `machine_name` starts a run nobody aborted.
    fn forget_aborted(&mut self, machine_name: &str) {
        let machine = machine_key(machine_name);
        self.aborted_machines.remove(&machine);
        self.said_aborted.remove(&machine);
    }

    /// The configuration.
    pub fn config(&self) -> &HttpConfig {
        &self.config
    }

    /// The spool.
    pub fn spool(&self) -> &Spool {
        &self.spool
    }

    /// Whether the last attempt to reach the server failed.
    pub fn is_offline(&self) -> bool {
        self.offline_since.is_some()
    }

    /// The run id the server answered for `machine_name`'s latest dry run, once delivered.
    pub fn run_id(&self, machine_name: &str) -> Option<RunId> {
        self.runs
            .get(&machine_key(machine_name))
            .and_then(|(_, run)| *run)
    }

    /// Delivers every pending event in order, with the full retry policy.
    pub fn deliver_pending(&mut self) -> Result<Delivery, SinkError> {
        Ok(self.drain(self.config.retry.attempts)?.0)
    }

    /// Delivers pending events in order until one cannot be; also returns the sequence
    /// numbers of the refused ones, parallel to `Delivery::rejected`. A backlog goes in
    /// batches while the server takes them; a single event, or every event once the server
    /// turned out not to know batches, goes to its own endpoint.
    fn drain(&mut self, attempts: u32) -> Result<(Delivery, Vec<u64>), SinkError> {
        let url = self.config.url.clone();
        let pending = self.spool.pending().map_err(|e| spool_error(&url, e))?;
        let mut delivery = Delivery::default();
        let mut refused = Vec::new();
        let mut pending = pending.into_iter().peekable();
        while pending.peek().is_some() {
            if self.batches && pending.len() > 1 {
                if !self.drain_batch(&mut pending, attempts, &mut delivery, &mut refused)? {
                    break;
                }
                continue;
            }
            let Some(entry) = pending.next() else { break };
            if self.is_aborted(&entry.event) {
                self.drop_aborted(&entry, &mut delivery)?;
                continue;
            }
            let outcome = self.post(&entry.event, attempts);
            if !self.settle(&entry, outcome, attempts, &mut delivery, &mut refused)? {
                break;
            }
        }
        self.offline_since = delivery.interrupted.as_ref().map(|_| Instant::now());
        delivery.pending = self
            .spool
            .pending_count()
            .map_err(|e| spool_error(&url, e))?;
        Ok((delivery, refused))
    }

    /// Drops a spooled event of a run the server said was aborted.
    fn drop_aborted(&mut self, entry: &Pending, delivery: &mut Delivery) -> Result<(), SinkError> {
        self.spool
            .remove(entry)
            .map_err(|e| spool_error(&self.config.url, e))?;
        delivery.dropped += 1;
        Ok(())
    }

    /// Does what `outcome` asks of the spooled `entry`, as every delivery does, one event or a
    /// batch's: answers whether delivery goes on.
    fn settle(
        &mut self,
        entry: &Pending,
        outcome: Outcome,
        attempts: u32,
        delivery: &mut Delivery,
        refused: &mut Vec<u64>,
    ) -> Result<bool, SinkError> {
        let url = self.config.url.clone();
        match outcome {
            Outcome::Aborted(reason) => {
                self.drop_aborted(entry, delivery)?;
                if self.learn_aborted(&entry.event) {
                    delivery.aborted.push(SinkError::RunAborted {
                        destination: self.endpoint(&entry.event),
                        reason: format!("{reason}; the run's later events are dropped, not sent"),
                    });
                }
            }
            Outcome::Delivered(run_id) => {
                if let Event::DryRun(dry) = &entry.event {
                    self.forget_aborted(&dry.machine_name);
                }
                self.learn_run_id(entry, run_id);
                self.spool.remove(entry).map_err(|e| spool_error(&url, e))?;
                delivery.delivered += 1;
            }
            Outcome::Refused(reason) => {
                let reason = describe(&entry.event, &reason);
                self.spool
                    .reject(entry, &reason)
                    .map_err(|e| spool_error(&url, e))?;
                delivery.rejected.push(SinkError::Rejected {
                    destination: self.endpoint(&entry.event),
                    reason,
                });
                refused.push(entry.seq);
            }
            Outcome::Unauthorized(reason) => {
                let held_up = self.held_up(entry, reason, false);
                delivery.interrupted = Some(SinkError::Rejected {
                    destination: self.endpoint(&entry.event),
                    reason: format!("{}; the event stays in the spool", held_up.reason),
                });
                delivery.held_up = Some(held_up);
                return Ok(false);
            }
            Outcome::Unavailable(Unavailable {
                reason,
                answered,
                cause,
            }) => {
                let reason = if answered && attempts > 1 {
                    format!("{reason} on each of {attempts} tries")
                } else {
                    reason
                };
                let held_up = self.held_up(entry, reason, answered);
                // The cause, when there is one, says the rest: the reason does not repeat it.
                let (reason, source) = match cause {
                    Some((reason, error)) => (reason, Some(error)),
                    None if answered => (format!("held up by {held_up}"), None),
                    None => (held_up.reason.clone(), None),
                };
                delivery.interrupted = Some(SinkError::Deferred {
                    destination: self.endpoint(&entry.event),
                    reason,
                    source,
                });
                delivery.held_up = Some(held_up);
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Delivers the next batch of `pending` (see the `batch` module); answers whether delivery
    /// goes on.
    fn drain_batch(
        &mut self,
        pending: &mut std::iter::Peekable<std::vec::IntoIter<Pending>>,
        attempts: u32,
        delivery: &mut Delivery,
        refused: &mut Vec<u64>,
    ) -> Result<bool, SinkError> {
        let mut chunk = batch::Chunk::default();
        // Machines with a dry run in this chunk: their run is not known until it is answered.
        let mut new_runs: Vec<String> = Vec::new();
        while let Some(entry) = pending.peek() {
            if let Event::TestOutput(output) = &entry.event
                && output.run_id.is_none()
                && new_runs.contains(&machine_key(&output.batch.machine_name))
            {
                break;
            }
            if self.is_aborted(&entry.event) {
                if let Some(entry) = pending.next() {
                    self.drop_aborted(&entry, delivery)?;
                }
                continue;
            }
            let Some(event) = self.addressed(&entry.event) else {
                // Output whose run is not known yet: the dry run before it is answered first;
                // alone, it goes its own way (and is refused as a single post is).
                if chunk.is_empty()
                    && let Some(entry) = pending.next()
                {
                    let outcome = self.post(&entry.event, attempts);
                    return self.settle(&entry, outcome, attempts, delivery, refused);
                }
                break;
            };
            let Ok(body) = serde_json::to_string(&event) else {
                // It cannot go in a batch; alone, it is refused as a single post is.
                if chunk.is_empty()
                    && let Some(entry) = pending.next()
                {
                    let outcome = self.post(&entry.event, attempts);
                    return self.settle(&entry, outcome, attempts, delivery, refused);
                }
                break;
            };
            if !chunk.fits(&body, self.batch_limit) {
                break;
            }
            if let Some(entry) = pending.next() {
                if let Event::DryRun(dry) = &entry.event {
                    new_runs.push(machine_key(&dry.machine_name));
                }
                chunk.push(entry, body);
            }
        }
        if chunk.is_empty() {
            return Ok(true);
        }
        match self.post_batch(&chunk, attempts) {
            batch::Reply::Answered(answers) => {
                self.settle_answers(&chunk, answers, delivery, refused)
            }
            batch::Reply::TooLarge => {
                if let [entry] = chunk.entries.as_slice() {
                    // One event over the limit goes its own way, and is refused as such; the
                    // batches after it keep their size.
                    let outcome = self.post(&entry.event, attempts);
                    return self.settle(entry, outcome, attempts, delivery, refused);
                }
                self.batch_limit = (chunk.len() / 2).max(1);
                // Put back: the next round cuts smaller batches.
                put_back(chunk, pending);
                Ok(true)
            }
            batch::Reply::Unsupported => {
                // An older server or the original app: single posts from now on.
                self.batches = false;
                put_back(chunk, pending);
                Ok(true)
            }
            batch::Reply::Failed(outcome) => {
                let entry = &chunk.entries[0];
                self.settle(entry, outcome, attempts, delivery, refused)
            }
        }
    }

    /// Settles each event of a delivered `chunk` by its answer, in order, until one stops
    /// delivery; answers whether delivery goes on.
    fn settle_answers(
        &mut self,
        chunk: &batch::Chunk,
        answers: Vec<EventAnswer>,
        delivery: &mut Delivery,
        refused: &mut Vec<u64>,
    ) -> Result<bool, SinkError> {
        let mut go_on = true;
        for (entry, answer) in chunk.entries.iter().zip(answers) {
            // Each event's answer came once: there were no retries of it to count.
            let outcome = batch::outcome(&answer);
            if go_on {
                go_on = self.settle(entry, outcome, 1, delivery, refused)?;
            } else if let Outcome::Delivered(run_id) = outcome {
                // Applied after the event delivery stopped at: it needs no retry.
                self.settle(entry, Outcome::Delivered(run_id), 1, delivery, refused)?;
            }
            // Any other answer after the stop may be a consequence of it: the event
            // stays spooled and is tried again.
        }
        Ok(go_on)
    }

    /// Posts a batch, retrying transient failures up to `attempts` tries.
    fn post_batch(&self, chunk: &batch::Chunk, attempts: u32) -> batch::Reply {
        let url = format!(
            "{}{}",
            self.config.url.trim_end_matches('/'),
            stpt_core::wire::BATCH_PATH
        );
        let body = chunk.body();
        let mut last = String::new();
        let mut answered = false;
        let mut cause = None;
        for attempt in 0..attempts.max(1) {
            if attempt > 0 {
                std::thread::sleep(self.config.retry.delay(attempt - 1));
            }
            let mut request = self
                .agent
                .post(&url)
                .set("Content-Type", "application/json");
            if let Some(token) = &self.config.token {
                request = request.set("Authorization", &format!("Bearer {token}"));
            }
            match request.send_string(&body) {
                Ok(response) if response.status() == 200 => {
                    return match response.into_json::<BatchAnswer>() {
                        Ok(answer) if answer.events.len() == chunk.len() => {
                            batch::Reply::Answered(answer.events)
                        }
                        // Not stpt's batch answer: whatever answered takes no batches.
                        _ => batch::Reply::Unsupported,
                    };
                }
                Ok(response) => {
                    let status = response.status();
                    return match status {
                        200..300 => batch::Reply::Unsupported,
                        _ => batch::Reply::Failed(Outcome::Unauthorized(
                            answer_text(status, response).text,
                        )),
                    };
                }
                Err(ureq::Error::Status(status, response)) => match status {
                    413 => return batch::Reply::TooLarge,
                    401 | 403 | 407 | 408 | 429 | 500.. => {
                        match classify(status, answer_text(status, response)) {
                            Classified::Final(outcome) => return batch::Reply::Failed(outcome),
                            Classified::Retry(text) => {
                                last = text;
                                answered = true;
                                cause = None;
                            }
                        }
                    }
                    // 404 or 405 from an older server or the original app; any other
                    // refusal of the whole batch means it is not understood either.
                    _ => return batch::Reply::Unsupported,
                },
                Err(error @ ureq::Error::Transport(_)) => {
                    let explained = crate::tls::explain_ureq(&url, &error);
                    last = explained.clone().unwrap_or_else(|| error.to_string());
                    answered = false;
                    let said = explained.unwrap_or_else(|| "cannot reach it".to_owned());
                    cause = Some((said, Box::new(error) as BoxedError));
                }
            }
        }
        batch::Reply::Failed(Outcome::Unavailable(Unavailable {
            reason: last,
            answered,
            cause,
        }))
    }

    /// `event` as it is posted: output gets the run its machine's delivered dry run answered;
    /// `None` for output whose run is not known yet.
    fn addressed(&self, event: &Event) -> Option<Event> {
        match event {
            Event::TestOutput(output) if output.run_id.is_none() => {
                let machine = machine_key(&output.batch.machine_name);
                let run = self.runs.get(&machine).and_then(|(_, run)| *run)?;
                let mut output = output.clone();
                output.run_id = Some(run);
                Some(Event::TestOutput(output))
            }
            other => Some(other.clone()),
        }
    }

    fn held_up(&self, entry: &Pending, reason: String, answered: bool) -> HeldUp {
        HeldUp {
            path: self.spool.dir().join(&entry.file_name),
            kind: entry.event.kind().as_str(),
            event_id: entry.event.event_id().unwrap_or("without id").to_owned(),
            machine: entry.event.machine_name().to_owned(),
            reason,
            answered,
        }
    }

    /// Records the run a delivered dry run created as its machine's current one: when it is
    /// the dry run this sink sent last for the machine, or when no dry run sent here awaits its
    /// answer (a replay: the spool's dry runs are delivered in order, so the last one wins).
    fn learn_run_id(&mut self, entry: &Pending, run_id: Option<RunId>) {
        let (Event::DryRun(dry), Some(run_id), Some(id)) =
            (&entry.event, run_id, dry_run_id(&entry.event))
        else {
            return;
        };
        let key = machine_key(&dry.machine_name);
        match self.runs.get_mut(&key) {
            Some(latest) if latest.0 == id || latest.1.is_some() => {
                *latest = (id.to_owned(), Some(run_id));
            }
            Some(_) => {}
            None => {
                self.runs.insert(key, (id.to_owned(), Some(run_id)));
            }
        }
    }

    /// Posts one event, retrying transient failures up to `attempts` tries.
    fn post(&self, event: &Event, attempts: u32) -> Outcome {
        // Output spooled before its run was known gets it now, from a dry run delivered
        // earlier in this replay; without it there is nowhere to post it.
        let filled;
        let event = match event {
            Event::TestOutput(output) if output.run_id.is_none() => {
                let machine = output.batch.machine_name.to_lowercase();
                match self.runs.get(&machine).and_then(|(_, run)| *run) {
                    Some(run) => {
                        let mut output = output.clone();
                        output.run_id = Some(run);
                        filled = Event::TestOutput(output);
                        &filled
                    }
                    None => {
                        return Outcome::Refused(
                            "output of a run whose dry run was never acknowledged: its run is unknown"
                                .to_owned(),
                        );
                    }
                }
            }
            other => other,
        };
        let url = self.endpoint(event);
        let body = match event {
            // Over HTTP the run and the index are the path; the body is the batch.
            Event::TestOutput(output) => serde_json::to_string(&output.batch),
            other => serde_json::to_string(other),
        };
        let body = match body {
            Ok(body) => body,
            Err(e) => return Outcome::Refused(format!("cannot serialise event: {e}")),
        };
        let mut last = String::new();
        let mut answered = false;
        let mut cause = None;
        for attempt in 0..attempts.max(1) {
            if attempt > 0 {
                std::thread::sleep(self.config.retry.delay(attempt - 1));
            }
            let mut request = self
                .agent
                .post(&url)
                .set("Content-Type", "application/json");
            if let Some(token) = &self.config.token {
                request = request.set("Authorization", &format!("Bearer {token}"));
            }
            match request.send_string(&body) {
                Ok(response) if (200..300).contains(&response.status()) => {
                    let answer = response.into_json::<IngestAnswer>().unwrap_or_default();
                    return Outcome::Delivered(answer.run_id);
                }
                Ok(response) => {
                    let status = response.status();
                    return Outcome::Unauthorized(answer_text(status, response).text);
                }
                Err(ureq::Error::Status(status, response)) => {
                    match classify(status, answer_text(status, response)) {
                        Classified::Final(outcome) => return outcome,
                        Classified::Retry(text) => {
                            last = text;
                            answered = true;
                            cause = None;
                        }
                    }
                }
                Err(error @ ureq::Error::Transport(_)) => {
                    // A certificate the sink cannot trust is a server out of reach: the event
                    // waits in the spool until the trust is fixed.
                    let explained = crate::tls::explain_ureq(&url, &error);
                    last = explained.clone().unwrap_or_else(|| error.to_string());
                    answered = false;
                    let said = explained.unwrap_or_else(|| "cannot reach it".to_owned());
                    cause = Some((said, Box::new(error) as BoxedError));
                }
            }
        }
        Outcome::Unavailable(Unavailable {
            reason: last,
            answered,
            cause,
        })
    }

    fn endpoint(&self, event: &Event) -> String {
        format!(
            "{}{}",
            self.config.url.trim_end_matches('/'),
            event
                .endpoint()
                .unwrap_or_else(|| event.kind().path().to_owned())
        )
    }

    /// Gives the event an id and the run id it lacks, as it will be spooled.
    fn prepare(&mut self, event: &Event) -> Event {
        let mut event = event.clone();
        if event.event_id().is_none_or(str::is_empty) {
            event.set_event_id(uuid::Uuid::new_v4().to_string());
        }
        let machine = machine_key(event.machine_name());
        match &mut event {
            Event::DryRun(dry) => {
                let id = dry.event_id.clone().unwrap_or_default();
                self.runs.insert(machine, (id, None));
                self.forget_aborted(&dry.machine_name);
            }
            Event::TestStart(start) if start.run_id.is_none() => {
                start.run_id = self.runs.get(&machine).and_then(|(_, run)| *run);
            }
            Event::TestStop(stop) if stop.run_id.is_none() => {
                stop.run_id = self.runs.get(&machine).and_then(|(_, run)| *run);
            }
            Event::TestOutput(output) if output.run_id.is_none() => {
                output.run_id = self.runs.get(&machine).and_then(|(_, run)| *run);
            }
            _ => {}
        }
        event
    }
}

impl HttpSink {
    /// Spools `events` durably, in order, without sending them (one fsync of the spool
    /// directory for the group): the first half of [`Sink::send`], for a harness that
    /// delivers from another thread ([`HttpSink::deliver_due`]). Events of a run the server
    /// said was aborted are dropped. An event the spool cannot take is posted directly (the
    /// full retry policy); answers what went wrong, one error per event that was lost.
    pub fn spool_all(&mut self, events: &[Event]) -> Vec<SinkError> {
        let prepared: Vec<Event> = events.iter().map(|event| self.prepare(event)).collect();
        let kept: Vec<Event> = prepared
            .into_iter()
            .filter(|event| !self.is_aborted(event))
            .collect();
        let written = self.spool.append_all(&kept);
        let mut lost = Vec::new();
        for (event, written) in kept.iter().zip(written) {
            if let Err(spool_failure) = written
                && let Err(error) = self.post_unspooled(event, spool_failure)
            {
                lost.push(error);
            }
        }
        lost
    }

    /// Delivers the spool when it is due: always while online (full retries), one quick probe
    /// while offline once [`HttpConfig::probe_interval`] passed (the backlog follows with full
    /// retries once it works), nothing otherwise (`None`, no network at all). The second half
    /// of [`Sink::send`].
    pub fn deliver_due(&mut self) -> Result<Option<Delivery>, SinkError> {
        Ok(self
            .deliver_due_with_refused(false)?
            .map(|(delivery, _)| delivery))
    }

    /// Delivers the spool now, as [`HttpSink::deliver_due`] would once the probe interval
    /// passed: while offline, one quick try first (the end of a harness's session).
    pub fn deliver_now(&mut self) -> Result<Delivery, SinkError> {
        let delivered = self.deliver_due_with_refused(true)?;
        Ok(delivered.map(|(delivery, _)| delivery).unwrap_or_default())
    }

    fn deliver_due_with_refused(
        &mut self,
        now: bool,
    ) -> Result<Option<(Delivery, Vec<u64>)>, SinkError> {
        let attempts = match self.offline_since {
            Some(since) if !now && since.elapsed() < self.config.probe_interval => {
                return Ok(None);
            }
            // A probe: one quick try; the backlog follows with full retries once it works.
            Some(_) => 1,
            None => self.config.retry.attempts,
        };
        let (mut delivery, mut refused) = self.drain(attempts)?;
        if attempts == 1 && delivery.delivered > 0 && delivery.interrupted.is_some() {
            let (rest, rest_refused) = self.drain(self.config.retry.attempts)?;
            delivery.delivered += rest.delivered;
            delivery.rejected.extend(rest.rejected);
            delivery.aborted.extend(rest.aborted);
            delivery.dropped += rest.dropped;
            delivery.pending = rest.pending;
            delivery.interrupted = rest.interrupted;
            delivery.held_up = rest.held_up;
            refused.extend(rest_refused);
        }
        Ok(Some((delivery, refused)))
    }

    /// Without a spool the event can still be delivered; it just cannot wait.
    fn post_unspooled(&self, event: &Event, spool_failure: SpoolError) -> Result<(), SinkError> {
        match self.post(event, self.config.retry.attempts) {
            Outcome::Delivered(_) => Ok(()),
            _ => Err(spool_error(&self.config.url, spool_failure)),
        }
    }
}

impl Sink for HttpSink {
    fn send(&mut self, event: &Event) -> Result<(), SinkError> {
        let event = self.prepare(event);
        // Its run is over on the server, and that was said: drop it.
        if self.is_aborted(&event) {
            return Ok(());
        }
        let seq = match self.spool.append(&event) {
            Ok(seq) => seq,
            Err(spool_failure) => return self.post_unspooled(&event, spool_failure),
        };
        let Some((mut delivery, refused)) = self.deliver_due_with_refused(false)? else {
            return Err(SinkError::Deferred {
                destination: self.endpoint(&event),
                reason: format!(
                    "offline since an earlier failure; next try within {} s",
                    self.config.probe_interval.as_secs_f64()
                ),
                source: None,
            });
        };
        // A run found aborted is said once, before anything else.
        if let Some(aborted) = delivery.aborted.into_iter().next() {
            return Err(aborted);
        }
        // This event's own refusal first, then anything else that went wrong.
        if let Some(at) = refused.iter().position(|&s| s == seq) {
            return Err(delivery.rejected.swap_remove(at));
        }
        match (delivery.interrupted, delivery.rejected.into_iter().next()) {
            (Some(error), _) | (None, Some(error)) => Err(error),
            (None, None) => Ok(()),
        }
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        let delivery = self.deliver_pending()?;
        if let Some(aborted) = delivery.aborted.into_iter().next() {
            return Err(aborted);
        }
        match (delivery.interrupted, delivery.rejected.into_iter().next()) {
            (Some(error), _) | (None, Some(error)) => Err(error),
            (None, None) => Ok(()),
        }
    }
}

/// Puts `chunk`'s events back in front of `pending`, in order, for the next round.
fn put_back(chunk: batch::Chunk, pending: &mut std::iter::Peekable<std::vec::IntoIter<Pending>>) {
    let rest: Vec<Pending> = chunk.entries.into_iter().chain(pending.by_ref()).collect();
    *pending = rest.into_iter().peekable();
}

/// A dry run's event id.
fn dry_run_id(event: &Event) -> Option<&str> {
    match event {
        Event::DryRun(dry) => dry.event_id.as_deref(),
        _ => None,
    }
}

/// Delivers whatever is pending in the spool at `spool_dir` to the server at `url`, in order,
/// with the default retry policy and no token; build an [`HttpSink`] and call
/// [`HttpSink::deliver_pending`] for anything else. Delivering twice changes nothing: the
/// server de-duplicates by event id.
pub fn replay(url: &str, spool_dir: &Path) -> Result<Delivery, SinkError> {
    HttpSink::open(HttpConfig::new(url, spool_dir))?.deliver_pending()
}

/// What an error answer means for the event, one posted alone or one of a batch.
enum Classified {
    /// Settled: what to do with the event.
    Final(Outcome),
    /// The server failed for now (408, 429, 5xx): try again.
    Retry(String),
}

/// The one reading of an error answer: 401, 403 and 407 refuse us (keep the event, stop);
/// 408, 429 and 5xx are transient; 409 `run_aborted` drops the event's run; another answer
/// that is not stpt's comes from another server (keep, stop); any other refuses the event.
fn classify(status: u16, answer: Answer) -> Classified {
    Classified::Final(match status {
        401 | 403 | 407 => Outcome::Unauthorized(answer.text),
        408 | 429 | 500.. => return Classified::Retry(answer.text),
        409 if answer.error.as_deref() == Some("run_aborted") => Outcome::Aborted(answer.text),
        _ if !answer.from_stpt => Outcome::Unauthorized(format!(
            "{}; that is not an stpt server's answer: check the URL",
            answer.text
        )),
        _ => Outcome::Refused(answer.text),
    })
}

/// An error answer, for people.
struct Answer {
    /// The `error` kind of stpt's JSON error.
    error: Option<String>,
    /// "HTTP 404 no_match: no waiting test a.py in /t" from a `{"error", "detail"}` answer, or
    /// the status and the start of whatever else the server said.
    text: String,
    /// Whether it is stpt's JSON error, or an empty body (the HTTP layer's own refusal of an
    /// unreadable request); anything else came from another server.
    from_stpt: bool,
}

impl Answer {
    /// stpt's error answer `body` given with `status`.
    fn of(status: u16, body: ErrorBody) -> Answer {
        let text = if body.detail.is_empty() {
            format!("HTTP {status} {}", body.error)
        } else {
            format!("HTTP {status} {}: {}", body.error, body.detail)
        };
        Answer {
            error: Some(body.error),
            text,
            from_stpt: true,
        }
    }
}

fn answer_text(status: u16, response: ureq::Response) -> Answer {
    let html = response.content_type().contains("html");
    let mut text = response.into_string().unwrap_or_default();
    if let Some(body) = ErrorBody::parse(&text) {
        return Answer::of(status, body);
    }
    if text.trim().is_empty() {
        return Answer {
            error: None,
            text: format!("HTTP {status}"),
            from_stpt: true,
        };
    }
    if html {
        return Answer {
            error: None,
            text: format!("HTTP {status} with an HTML page"),
            from_stpt: false,
        };
    }
    if let Some((cut, _)) = text.char_indices().nth(300) {
        text.truncate(cut);
        text.push('…');
    }
    Answer {
        error: None,
        text: format!("HTTP {status}: {}", text.trim()),
        from_stpt: false,
    }
}

fn describe(event: &Event, reason: &str) -> String {
    format!(
        "{reason} ({} event {})",
        event.kind().as_str(),
        event.event_id().unwrap_or("without id")
    )
}

fn spool_error(url: &str, error: SpoolError) -> SinkError {
    SinkError::Io {
        destination: format!("spool for {url}"),
        source: Box::new(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_and_jitter_stays_within_half() {
        let policy = RetryPolicy {
            attempts: 5,
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(300),
            jitter: false,
        };
        let delays: Vec<_> = (0..4).map(|r| policy.delay(r).as_millis()).collect();
        assert_eq!(delays, [100, 200, 300, 300]);
        assert_eq!(policy.delay(u32::MAX), Duration::from_millis(300));
        let jittered = RetryPolicy {
            jitter: true,
            ..policy
        };
        for _ in 0..100 {
            let d = jittered.delay(1);
            assert!(
                d >= Duration::from_millis(100) && d <= Duration::from_millis(200),
                "{d:?}"
            );
        }
    }

    #[test]
    fn the_spool_dir_comes_from_the_environment_first() {
        // Only this test touches STPT_SPOOL_DIR in this binary.
        let dir = default_spool_dir();
        match std::env::var_os("STPT_SPOOL_DIR").filter(|d| !d.is_empty()) {
            Some(set) => assert_eq!(dir, PathBuf::from(set)),
            None => assert!(
                dir.ends_with("stpt/spool") || dir.ends_with("stpt-spool"),
                "{dir:?}"
            ),
        }
    }
}
