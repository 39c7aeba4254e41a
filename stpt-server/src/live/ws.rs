//! The seed's three WebSocket routes.
//!
//! - `/ws/machine/<id>/last` pushes `{"machine_data": <machine_last_data body>}` when the
//!   machine's newest run changed;
//! - `/ws/machine/<id>/runs` pushes `{"run_data": {"id", "status"}}` when any of its runs did
//!   (one message per applied event);
//! - `/ws/machine/status` pushes `{"machine_id_status": {"id", "status"}}` when a machine's
//!   status (its newest run's) changed;
//! - `/ws/machine/<id>/output` (stpt's own) pushes `{"test_output": {"run_id", "test_id",
//!   "index", "lines"}}` for every batch of output of the machine's tests, from the
//!   `OutputHub`, its own channel; a subscriber that fell behind gets `{"output_skipped":
//!   {"machine_id"}}` and re-reads the stored output (`GET /api/v1/tests/<id>/output`).
//!
//! `last` and `status` are fed by the [`LiveFeed`](super::feed::LiveFeed), which reads and
//! serialises each change once for every subscriber; `runs` needs no read (the hub's change
//! carries the run's status). Each socket waits on four things at once: its channel, the client
//! (so a client that leaves is noticed at once), Rocket's shutdown (so a graceful stop is not
//! held up by open sockets) and the end of the credential it was opened with (a revoked token,
//! an ended session: the socket closes within a second, see `access::revocation`). Messages
//! that wait are sent together, with one flush.
//!
//! **Invariant:** a slow client never slows ingest or grows memory: its channel is bounded and
//! it skips ahead, and a client that stops reading altogether is disconnected after
//! [`SEND_TIMEOUT`].
//!
//! **Invariant:** a subscriber always ends on the true state. A stream that skipped ahead
//! catches up from the store: `last` re-reads the newest run, `runs` the machine's newest runs
//! and `status` every machine's, each sending what differs from what it sent before. When the
//! store stays unreadable, the socket is closed, so the client reconnects and reloads rather
//! than showing a state it never heard the end of.
//!
//! A request without `Upgrade: websocket` is refused with 400 and the JSON error body (the
//! WebSocket guard forwards it, and the catcher answers).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rocket::futures::{SinkExt, StreamExt};
use rocket::http::Status as HttpStatus;
use rocket::tokio::select;
use rocket::tokio::sync::broadcast::Receiver;
use rocket::tokio::sync::broadcast::error::{RecvError, TryRecvError};
use rocket::tokio::sync::watch;
use rocket::{Shutdown, State, get, routes};
use rocket_ws::stream::DuplexStream;
use rocket_ws::{Channel, Message, WebSocket};
use stpt_core::wire::{IdStatus, OutputSkipped, OutputSkippedMessage, RunDataMessage};
use stpt_core::{MachineId, PageRequest, RunId, Status, Store, StoreError};

use super::feed::{Shared, read_last, read_statuses, status_update};
use super::hub::RunChanged;
use super::output::OutputMessage;
use crate::access::Security;
use crate::access::revocation::Credential;
use crate::api::{ApiError, ErrorBody};
use crate::state::AppState;

/// How long messages may wait for a client that does not read before it is dropped.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// Tries of a catch-up read before a stream gives up and closes its socket.
const CATCH_UP_TRIES: u32 = 20;

/// Pause between two tries of a catch-up read.
const CATCH_UP_PAUSE: Duration = Duration::from_millis(250);

/// Runs pushed by the `runs` stream when it catches up: the machine's newest, where a missed
/// change almost always is (an older run changes only through a late event).
const RUNS_CAUGHT_UP: u64 = PageRequest::MAX_SIZE;

/// Messages sent with one flush at most.
const MAX_BURST: usize = 1024;

/// Least time between two flushes of one socket while messages pile up. When the last flush
/// carried several messages (a flood), the next waits this long, gathering whatever arrives
/// meanwhile, and they go out together: each subscriber wakes at most 1 / `FLUSH_GAP` times a
/// second, so thousands of subscribers (reading or not) cannot starve ingest. A stream that
/// gets one message at a time sends each at once. Every message is still sent.
const FLUSH_GAP: Duration = Duration::from_millis(250);

/// The store could not be read even after waiting: the stream cannot know the truth now.
#[derive(Debug)]
struct Unreadable;

/// Runs a store call on the blocking pool.
async fn try_read<T, F>(state: &AppState, f: F) -> Result<T, Unreadable>
where
    T: Send + 'static,
    F: FnOnce(&dyn Store) -> Result<T, StoreError> + Send + 'static,
{
    state.read(f).await.map_err(|_| Unreadable)
}

/// Runs a store call, trying again for a while when it fails.
async fn read_patiently<T, F>(state: &AppState, f: F) -> Result<T, Unreadable>
where
    T: Send + 'static,
    F: Fn(&dyn Store) -> Result<T, StoreError> + Send + Sync + Clone + 'static,
{
    for _ in 1..CATCH_UP_TRIES {
        if let Ok(value) = try_read(state, f.clone()).await {
            return Ok(value);
        }
        rocket::tokio::time::sleep(CATCH_UP_PAUSE).await;
    }
    try_read(state, f).await
}

/// The credential a socket was opened with, re-checked whenever the access revision moves.
struct Holder {
    credential: Credential,
    revisions: watch::Receiver<i64>,
    security: Arc<Security>,
}

impl Holder {
    fn of(state: &AppState, credential: Credential) -> Holder {
        Holder {
            credential,
            revisions: state.security.revisions.subscribe(),
            security: Arc::clone(&state.security),
        }
    }

    /// Resolves once the credential has ended (never for public reads).
    async fn ended(&mut self) {
        if self.credential == Credential::Open {
            return std::future::pending().await;
        }
        loop {
            if self.revisions.changed().await.is_err() {
                return std::future::pending().await;
            }
            if !self.credential.still_valid(&self.security).await {
                return;
            }
        }
    }
}

/// What one stream makes of the messages on its channel.
trait Stream: Send {
    /// What the channel carries.
    type Item: Clone + Send;

    /// The text to send for one message (`None`: not for this subscriber), and the key of
    /// what it describes when a later message about the same key makes it obsolete (a
    /// machine's status: only the last one of a burst is sent).
    fn render(&mut self, item: Self::Item) -> Option<(Option<i64>, String)>;

    /// Least time between two flushes while messages pile up ([`FLUSH_GAP`] unless the
    /// stream's messages must not wait that long).
    fn flush_gap(&self) -> Duration {
        FLUSH_GAP
    }

    /// The texts that bring the subscriber up to date after it skipped ahead.
    fn catch_up(
        &mut self,
        state: &AppState,
    ) -> impl std::future::Future<Output = Result<Vec<String>, Unreadable>> + Send;
}

/// Forwards a stream's messages until the client leaves, the server stops, the credential
/// ends, or the store stays unreadable (then the close tells the client to reconnect).
async fn pump<S: Stream>(
    mut socket: DuplexStream,
    mut channel: Receiver<S::Item>,
    mut shutdown: Shutdown,
    mut holder: Holder,
    state: AppState,
    mut stream: S,
) -> rocket_ws::result::Result<()> {
    let _counted = state.feed.socket_opened();
    // When the last flush carried a burst: then the next one waits for the gap.
    let mut last_burst: Option<rocket::tokio::time::Instant> = None;
    'listen: loop {
        let first = select! {
            () = holder.ended() => break,
            item = channel.recv() => item,
            incoming = socket.next() => match incoming {
                // Pings are answered by the protocol layer; other client messages mean nothing.
                Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                Some(Ok(_)) => continue,
            },
            _ = &mut shutdown => break,
        };
        let mut texts = Vec::new();
        let mut lagged = false;
        match first {
            Ok(item) => texts.extend(stream.render(item)),
            Err(RecvError::Lagged(_)) => lagged = true,
            Err(RecvError::Closed) => break,
        }
        if let Some(last) = last_burst {
            // A flood: let more gather, then send them together.
            select! {
                () = rocket::tokio::time::sleep_until(last + stream.flush_gap()) => {}
                _ = &mut shutdown => break,
            }
        }
        // Whatever else waits goes out with the same flush.
        while texts.len() < MAX_BURST {
            match channel.try_recv() {
                Ok(item) => texts.extend(stream.render(item)),
                Err(TryRecvError::Lagged(_)) => lagged = true,
                Err(TryRecvError::Empty | TryRecvError::Closed) => break,
            }
        }
        if lagged {
            match stream.catch_up(&state).await {
                Ok(caught_up) => texts.extend(caught_up.into_iter().map(|text| (None, text))),
                Err(Unreadable) => break,
            }
        }
        let texts = latest_per_key(texts);
        if texts.is_empty() {
            continue;
        }
        let burst = texts.len() > 1;
        let send = async {
            for text in texts {
                socket.feed(Message::Text(text)).await?;
            }
            socket.flush().await
        };
        match rocket::tokio::time::timeout(SEND_TIMEOUT, send).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) | Err(_) => break 'listen,
        }
        last_burst = burst.then(rocket::tokio::time::Instant::now);
    }
    let _ = socket.close(None).await;
    Ok(())
}

/// The texts of a burst in order, without those a later text about the same key replaces.
fn latest_per_key(texts: Vec<(Option<i64>, String)>) -> Vec<String> {
    let mut last_of: HashMap<i64, usize> = HashMap::new();
    for (at, (key, _)) in texts.iter().enumerate() {
        if let Some(key) = key {
            last_of.insert(*key, at);
        }
    }
    texts
        .into_iter()
        .enumerate()
        .filter(|(at, (key, _))| key.is_none_or(|key| last_of.get(&key) == Some(at)))
        .map(|(_, (_, text))| text)
        .collect()
}

/// What a stream sent last per key, so catching up sends only what changed.
#[derive(Debug)]
struct Sent<K> {
    last: HashMap<K, Status>,
}

impl<K: std::hash::Hash + Eq + Copy> Sent<K> {
    fn new() -> Sent<K> {
        Sent {
            last: HashMap::new(),
        }
    }

    /// Records `status` for `key`; true when it differs from what was sent.
    fn record(&mut self, key: K, status: Status) -> bool {
        self.last.insert(key, status) != Some(status)
    }
}

/// `/ws/machine/<id>/last`.
struct Last {
    machine: MachineId,
}

impl Stream for Last {
    type Item = Shared;

    fn render(&mut self, item: Shared) -> Option<(Option<i64>, String)> {
        // Each message is the machine's whole newest run: only the last of a burst matters.
        Some((Some(item.machine), item.text.to_string()))
    }

    async fn catch_up(&mut self, state: &AppState) -> Result<Vec<String>, Unreadable> {
        let machine = self.machine;
        let update = read_patiently(state, move |store| read_last(store, machine)).await?;
        Ok(update.map(|u| u.text.to_string()).into_iter().collect())
    }
}

/// `/ws/machine/<id>/runs`.
struct Runs {
    machine: MachineId,
    sent: Sent<RunId>,
}

fn run_data(run: RunId, status: Status) -> String {
    serde_json::to_string(&RunDataMessage {
        run_data: IdStatus { id: run, status },
    })
    .unwrap_or_default()
}

impl Stream for Runs {
    type Item = RunChanged;

    fn render(&mut self, change: RunChanged) -> Option<(Option<i64>, String)> {
        // One message per applied event, as the seed sent them.
        (change.machine_id == self.machine).then(|| {
            self.sent.record(change.run_id, change.run_status);
            (None, run_data(change.run_id, change.run_status))
        })
    }

    async fn catch_up(&mut self, state: &AppState) -> Result<Vec<String>, Unreadable> {
        let machine = self.machine;
        let runs = read_patiently(state, move |store| {
            Ok(store
                .runs(machine, PageRequest::new(1, RUNS_CAUGHT_UP))?
                .items
                .into_iter()
                .map(|run| (run.id, run.status))
                .collect::<Vec<_>>())
        })
        .await?;
        Ok(runs
            .into_iter()
            .filter(|(run, status)| self.sent.record(*run, *status))
            .map(|(run, status)| run_data(run, status))
            .collect())
    }
}

/// `/ws/machine/status`.
struct Statuses {
    sent: Sent<MachineId>,
}

impl Stream for Statuses {
    type Item = Shared;

    fn render(&mut self, item: Shared) -> Option<(Option<i64>, String)> {
        self.sent.record(item.machine, item.status);
        Some((Some(item.machine), item.text.to_string()))
    }

    async fn catch_up(&mut self, state: &AppState) -> Result<Vec<String>, Unreadable> {
        let statuses = read_patiently(state, read_statuses).await?;
        Ok(statuses
            .into_iter()
            .filter(|(machine, status)| self.sent.record(*machine, *status))
            .map(|(machine, status)| status_update(machine, status).text.to_string())
            .collect())
    }
}

/// `/ws/machine/<id>/output`.
struct Output {
    machine: MachineId,
}

/// Least time between two flushes of an output socket under a flood: output is read as it
/// comes, and each message is a whole batch already.
const OUTPUT_FLUSH_GAP: Duration = Duration::from_millis(50);

impl Stream for Output {
    type Item = Arc<OutputMessage>;

    fn render(&mut self, item: Arc<OutputMessage>) -> Option<(Option<i64>, String)> {
        (item.machine_id == self.machine).then(|| (None, item.text.to_string()))
    }

    fn flush_gap(&self) -> Duration {
        OUTPUT_FLUSH_GAP
    }

    async fn catch_up(&mut self, _state: &AppState) -> Result<Vec<String>, Unreadable> {
        let skipped = OutputSkippedMessage {
            output_skipped: OutputSkipped {
                machine_id: self.machine,
            },
        };
        Ok(vec![serde_json::to_string(&skipped).unwrap_or_default()])
    }
}

/// The machine must exist before the handshake; a store failure answers as the API's would
/// (`ApiError`'s one mapping: busy → 503, the rest → 500, logged).
async fn known_machine(state: &AppState, id: MachineId) -> Result<(), HttpStatus> {
    match state.read(move |store| store.machine(id)).await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(HttpStatus::NotFound),
        Err(err) => Err(ApiError::from(err).status),
    }
}

/// Opens a socket that forwards `stream`'s messages from `channel` (see [`pump`]): every
/// route is this with its own channel and stream.
fn open<S>(
    ws: WebSocket,
    state: &AppState,
    shutdown: Shutdown,
    credential: Credential,
    channel: Receiver<S::Item>,
    stream: S,
) -> Channel<'static>
where
    S: Stream + 'static,
    S::Item: 'static,
{
    let state = state.clone();
    let holder = Holder::of(&state, credential);
    ws.channel(move |socket| Box::pin(pump(socket, channel, shutdown, holder, state, stream)))
}

#[utoipa::path(
    tag = "live",
    summary = "WebSocket: a machine's newest run after every change",
    description = "Each text frame is `{\"machine_data\": <machine_last_data>}`.",
    params(("id" = i64, Path, description = "the machine's id", example = 1)),
    responses(
        (status = 101, description = "switching to the WebSocket protocol; the server then sends JSON text frames"),
        (status = 400, description = "not a WebSocket handshake: a GET with `Upgrade: websocket` is needed", body = ErrorBody),
        (status = 401, description = "read access needs a login session or a machine token (`--read-access login`)", body = ErrorBody),
        (status = 404, description = "no machine has this id (checked once the handshake is asked for)", body = ErrorBody),
        (status = 422, description = "the id is not a 64-bit integer", body = ErrorBody),
        (status = 503, description = "the database cannot be read for now; retry", body = ErrorBody),
    )
)]
#[get("/ws/machine/<id>/last")]
async fn machine_last(
    ws: WebSocket,
    state: &State<AppState>,
    shutdown: Shutdown,
    credential: Credential,
    id: MachineId,
) -> Result<Channel<'static>, HttpStatus> {
    known_machine(state, id).await?;
    let channel = state.feed.subscribe_last(id);
    let stream = Last { machine: id };
    Ok(open(ws, state, shutdown, credential, channel, stream))
}

#[utoipa::path(
    tag = "live",
    summary = "WebSocket: a machine's runs after every change",
    description = "Each text frame is `{\"run_data\": {\"id\", \"status\"}}`.",
    params(("id" = i64, Path, description = "the machine's id", example = 1)),
    responses(
        (status = 101, description = "switching to the WebSocket protocol; the server then sends JSON text frames"),
        (status = 400, description = "not a WebSocket handshake: a GET with `Upgrade: websocket` is needed", body = ErrorBody),
        (status = 401, description = "read access needs a login session or a machine token (`--read-access login`)", body = ErrorBody),
        (status = 404, description = "no machine has this id (checked once the handshake is asked for)", body = ErrorBody),
        (status = 422, description = "the id is not a 64-bit integer", body = ErrorBody),
        (status = 503, description = "the database cannot be read for now; retry", body = ErrorBody),
    )
)]
#[get("/ws/machine/<id>/runs")]
async fn machine_runs(
    ws: WebSocket,
    state: &State<AppState>,
    shutdown: Shutdown,
    credential: Credential,
    id: MachineId,
) -> Result<Channel<'static>, HttpStatus> {
    known_machine(state, id).await?;
    let channel = state.hub.subscribe();
    let stream = Runs {
        machine: id,
        sent: Sent::new(),
    };
    Ok(open(ws, state, shutdown, credential, channel, stream))
}

#[utoipa::path(
    tag = "live",
    summary = "WebSocket: a machine's status whenever it changes",
    description = "Each text frame is `{\"machine_id_status\": {\"id\", \"status\"}}`.",
    responses(
        (status = 101, description = "switching to the WebSocket protocol; the server then sends JSON text frames"),
        (status = 400, description = "not a WebSocket handshake: a GET with `Upgrade: websocket` is needed", body = ErrorBody),
        (status = 401, description = "read access needs a login session or a machine token (`--read-access login`)", body = ErrorBody),
    )
)]
#[get("/ws/machine/status")]
fn machine_status(
    ws: WebSocket,
    state: &State<AppState>,
    shutdown: Shutdown,
    credential: Credential,
) -> Channel<'static> {
    let channel = state.feed.subscribe_status();
    let stream = Statuses { sent: Sent::new() };
    open(ws, state, shutdown, credential, channel, stream)
}

#[utoipa::path(
    tag = "live",
    summary = "WebSocket: the output of a machine's tests as it is printed",
    description = "Each text frame is `{\"test_output\": {\"run_id\", \"test_id\", \"index\", \"lines\": [{\"text\", \"stream\", \"timestamp\"}]}}`, one per batch ingested; a subscriber that fell behind gets `{\"output_skipped\": {\"machine_id\"}}` and should re-read `GET /api/v1/tests/<id>/output`.",
    params(("id" = i64, Path, description = "the machine's id", example = 1)),
    responses(
        (status = 101, description = "switching to the WebSocket protocol; the server then sends JSON text frames"),
        (status = 400, description = "not a WebSocket handshake: a GET with `Upgrade: websocket` is needed", body = ErrorBody),
        (status = 401, description = "read access needs a login session or a machine token (`--read-access login`)", body = ErrorBody),
        (status = 404, description = "no machine has this id (checked once the handshake is asked for)", body = ErrorBody),
        (status = 422, description = "the id is not a 64-bit integer", body = ErrorBody),
        (status = 503, description = "the database cannot be read for now; retry", body = ErrorBody),
    )
)]
#[get("/ws/machine/<id>/output")]
async fn machine_output(
    ws: WebSocket,
    state: &State<AppState>,
    shutdown: Shutdown,
    credential: Credential,
    id: MachineId,
) -> Result<Channel<'static>, HttpStatus> {
    known_machine(state, id).await?;
    let channel = state.output.subscribe();
    let stream = Output { machine: id };
    Ok(open(ws, state, shutdown, credential, channel, stream))
}

/// The WebSocket routes.
pub(crate) fn routes() -> Vec<rocket::Route> {
    routes![machine_last, machine_runs, machine_status, machine_output]
}
