//! The seed's three WebSocket routes, fed by the [`LiveHub`](super::LiveHub).
//!
//! - `/ws/machine/<id>/last` pushes `{"machine_data": <machine_last_data body>}` when the
//!   machine's newest run changed;
//! - `/ws/machine/<id>/runs` pushes `{"run_data": {"id", "status"}}` when any of its runs did;
//! - `/ws/machine/status` pushes `{"machine_id_status": {"id", "status"}}` when any machine's
//!   newest run did.
//!
//! Each socket waits on four things at once: the hub, the client (so a client that leaves is
//! noticed at once), Rocket's shutdown (so a graceful stop is not held up by open sockets) and
//! the end of the credential it was opened with (a revoked token, an ended session: the
//! socket closes within a second, see `access::revocation`).
//! **Invariant:** a slow client never slows ingest or grows memory: the hub drops what it has
//! not read (it skips ahead), and a client that stops reading altogether is disconnected after
//! [`SEND_TIMEOUT`].
//!
//! **Invariant:** a subscriber always ends on the true state. A stream that skipped ahead, or
//! whose read of the store failed (a busy pool, a database away for a moment), catches up
//! from the store: `last` re-reads the newest run, `runs` the machine's newest runs and
//! `status` every machine's, each sending what differs from what it sent before. When the
//! store stays unreadable, the socket is closed, so the client reconnects and reloads
//! rather than showing a state it never heard the end of.
//!
//! A request without `Upgrade: websocket` is refused with 400 and the JSON error body (the
//! WebSocket guard forwards it, and the catcher answers).

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use rocket::futures::{SinkExt, StreamExt};
use rocket::http::Status as HttpStatus;
use rocket::tokio::select;
use rocket::tokio::sync::broadcast::Receiver;
use rocket::tokio::sync::broadcast::error::{RecvError, TryRecvError};
use rocket::tokio::sync::{Mutex, watch};
use rocket::{Shutdown, State, get, routes};
use rocket_ws::stream::DuplexStream;
use rocket_ws::{Channel, Message, WebSocket};
use serde_json::json;
use stpt_core::{MachineId, PageRequest, RunId, RunSummary, Status, Store, StoreError, Timestamp};

use super::hub::RunChanged;
use crate::access::Security;
use crate::access::revocation::Credential;
use crate::api::ErrorBody;
use crate::api::shapes::MachineLastData;
use crate::app::AppState;

/// How long one message may wait for a client that does not read before it is dropped.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// Tries of a catch-up read before a stream gives up and closes its socket.
const CATCH_UP_TRIES: u32 = 20;

/// Pause between two tries of a catch-up read.
const CATCH_UP_PAUSE: Duration = Duration::from_millis(250);

/// Runs pushed by the `runs` stream when it catches up: the machine's newest, where a missed
/// change almost always is (an older run changes only through a late event).
const RUNS_CAUGHT_UP: u64 = PageRequest::MAX_SIZE;

/// Machines read per query when the `status` stream catches up.
const MACHINES_PER_READ: u64 = PageRequest::MAX_SIZE;

/// What a stream is told by the hub.
enum Heard {
    /// One change.
    Change(RunChanged),
    /// Changes were missed; the stream should catch up from the store.
    Lagged,
}

/// The store could not be read even after waiting: the stream cannot know the truth now.
#[derive(Debug)]
struct Unreadable;

/// Runs a store call on the blocking pool.
async fn try_read<T, F>(state: &AppState, f: F) -> Result<T, Unreadable>
where
    T: Send + 'static,
    F: FnOnce(&dyn Store) -> Result<T, StoreError> + Send + 'static,
{
    let store = state.store.clone();
    match rocket::tokio::task::spawn_blocking(move || f(store.as_ref())).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(_)) | Err(_) => Err(Unreadable),
    }
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

/// The machine's newest run, if any.
async fn newest_run(
    state: &AppState,
    machine: MachineId,
) -> Result<Option<RunSummary>, Unreadable> {
    read_patiently(state, move |store| {
        Ok(store
            .runs(machine, PageRequest::new(1, 1))?
            .items
            .into_iter()
            .next())
    })
    .await
}

/// The `last` message for a machine: its newest run now.
async fn machine_data(state: &AppState, machine: MachineId) -> Result<Option<String>, Unreadable> {
    let data = read_patiently(state, move |store| {
        let Some(found) = store.machine(machine)? else {
            return Ok(None);
        };
        let run = store.last_run(machine)?;
        Ok(Some(MachineLastData::new(
            &found,
            run.as_ref(),
            Timestamp::now(),
        )))
    })
    .await?;
    Ok(data.map(|data| json!({ "machine_data": data }).to_string()))
}

/// The newest runs of a machine with their statuses.
async fn newest_runs(
    state: &AppState,
    machine: MachineId,
) -> Result<Vec<(RunId, Status)>, Unreadable> {
    read_patiently(state, move |store| {
        Ok(store
            .runs(machine, PageRequest::new(1, RUNS_CAUGHT_UP))?
            .items
            .into_iter()
            .map(|run| (run.id, run.status))
            .collect())
    })
    .await
}

/// Every machine with its newest run's status.
async fn machine_statuses(state: &AppState) -> Result<Vec<(MachineId, Status)>, Unreadable> {
    read_patiently(state, move |store| {
        let mut all = Vec::new();
        for page in 1.. {
            let found = store.machines(PageRequest::new(page, MACHINES_PER_READ))?;
            let done = (found.items.len() as u64) < MACHINES_PER_READ;
            all.extend(
                found
                    .items
                    .into_iter()
                    .filter_map(|m| Some((m.machine.id, m.last_run_status?))),
            );
            if done {
                break;
            }
        }
        Ok(all)
    })
    .await
}

/// Forwards what `render` makes of each hub message until the client leaves, the server
/// stops, or the store stays unreadable (then the client is told to reconnect by the close).
async fn pump<F, Fut>(
    mut socket: DuplexStream,
    mut changes: Receiver<RunChanged>,
    mut shutdown: Shutdown,
    mut holder: Holder,
    mut render: F,
) -> rocket_ws::result::Result<()>
where
    F: FnMut(Heard, &mut Receiver<RunChanged>) -> Fut,
    Fut: Future<Output = Result<Vec<String>, Unreadable>>,
{
    'listen: loop {
        let heard = select! {
            () = holder.ended() => break,
            changed = changes.recv() => match changed {
                Ok(change) => Heard::Change(change),
                Err(RecvError::Lagged(_)) => Heard::Lagged,
                Err(RecvError::Closed) => break,
            },
            incoming = socket.next() => match incoming {
                // Pings are answered by the protocol layer; other client messages mean nothing.
                Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                Some(Ok(_)) => continue,
            },
            _ = &mut shutdown => break,
        };
        let Ok(messages) = render(heard, &mut changes).await else {
            break;
        };
        for text in messages {
            match rocket::tokio::time::timeout(SEND_TIMEOUT, socket.send(Message::Text(text))).await
            {
                Ok(Ok(())) => {}
                Ok(Err(_)) | Err(_) => break 'listen,
            }
        }
    }
    let _ = socket.close(None).await;
    Ok(())
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

/// Takes every change already waiting, so a burst is answered with one read. True when one
/// concerned `machine` (or some were missed).
fn drain_for(changes: &mut Receiver<RunChanged>, machine: MachineId) -> bool {
    let mut concerned = false;
    loop {
        match changes.try_recv() {
            Ok(change) => concerned |= change.machine_id == machine,
            Err(TryRecvError::Lagged(_)) => concerned = true,
            Err(TryRecvError::Empty | TryRecvError::Closed) => return concerned,
        }
    }
}

/// Skips every change already waiting: a stream that lagged re-reads the store once for all.
fn drain(changes: &mut Receiver<RunChanged>) {
    while let Ok(_) | Err(TryRecvError::Lagged(_)) = changes.try_recv() {}
}

/// What a stream sent last per key, so catching up sends only what changed.
#[derive(Debug)]
struct Sent<K> {
    last: HashMap<K, Status>,
}

impl<K: std::hash::Hash + Eq + Copy> Sent<K> {
    fn new() -> Arc<Mutex<Sent<K>>> {
        Arc::new(Mutex::new(Sent {
            last: HashMap::new(),
        }))
    }

    /// Records `status` for `key`; true when it differs from what was sent.
    fn record(&mut self, key: K, status: Status) -> bool {
        self.last.insert(key, status) != Some(status)
    }
}

fn run_data(run: RunId, status: Status) -> String {
    json!({"run_data": {"id": run, "status": status}}).to_string()
}

fn machine_id_status(machine: MachineId, status: Status) -> String {
    json!({"machine_id_status": {"id": machine, "status": status}}).to_string()
}

async fn known_machine(state: &AppState, id: MachineId) -> Result<(), HttpStatus> {
    match try_read(state, move |store| store.machine(id)).await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(HttpStatus::NotFound),
        Err(Unreadable) => Err(HttpStatus::ServiceUnavailable),
    }
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
    let state = state.inner().clone();
    let changes = state.hub.subscribe();
    let holder = Holder::of(&state, credential);
    Ok(ws.channel(move |socket| {
        Box::pin(async move {
            pump(socket, changes, shutdown, holder, |heard, changes| {
                let state = state.clone();
                // `None`: nothing to send; `Some(None)`: send whatever is current;
                // `Some(Some(run))`: only if `run` is the newest (a late stop on an older run
                // leaves the live view alone).
                let send = match heard {
                    Heard::Change(change) if change.machine_id == id => {
                        // A burst of changes is answered with one read of the state after it.
                        let more = drain_for(changes, id);
                        Some((!more).then_some(change.run_id))
                    }
                    Heard::Change(_) => drain_for(changes, id).then_some(None),
                    // Missed changes may have been ours: send the current state regardless.
                    Heard::Lagged => Some(None),
                };
                async move {
                    let Some(send) = send else {
                        return Ok(Vec::new());
                    };
                    if let Some(run) = send
                        && newest_run(&state, id).await?.map(|r| r.id) != Some(run)
                    {
                        return Ok(Vec::new());
                    }
                    Ok(machine_data(&state, id).await?.into_iter().collect())
                }
            })
            .await
        })
    }))
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
    let state = state.inner().clone();
    let changes = state.hub.subscribe();
    let holder = Holder::of(&state, credential);
    Ok(ws.channel(move |socket| {
        Box::pin(async move {
            let sent = Sent::<RunId>::new();
            pump(socket, changes, shutdown, holder, |heard, changes| {
                let state = state.clone();
                let sent = Arc::clone(&sent);
                if matches!(heard, Heard::Lagged) {
                    drain(changes);
                }
                async move {
                    let mut sent = sent.lock().await;
                    Ok(match heard {
                        // Each change carries its run's status: no read needed.
                        Heard::Change(change) if change.machine_id == id => {
                            sent.record(change.run_id, change.run_status);
                            vec![run_data(change.run_id, change.run_status)]
                        }
                        Heard::Change(_) => Vec::new(),
                        Heard::Lagged => newest_runs(&state, id)
                            .await?
                            .into_iter()
                            .filter(|(run, status)| sent.record(*run, *status))
                            .map(|(run, status)| run_data(run, status))
                            .collect(),
                    })
                }
            })
            .await
        })
    }))
}

#[utoipa::path(
    tag = "live",
    summary = "WebSocket: every machine's newest run status after every change",
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
    let state = state.inner().clone();
    let changes = state.hub.subscribe();
    let holder = Holder::of(&state, credential);
    ws.channel(move |socket| {
        Box::pin(async move {
            let sent = Sent::<MachineId>::new();
            pump(socket, changes, shutdown, holder, |heard, changes| {
                let state = state.clone();
                let sent = Arc::clone(&sent);
                if matches!(heard, Heard::Lagged) {
                    drain(changes);
                }
                async move {
                    let mut sent = sent.lock().await;
                    if let Heard::Change(change) = heard {
                        // The machine's status is its newest run's: read which run that is.
                        match try_read(&state, move |store| {
                            Ok(store
                                .runs(change.machine_id, PageRequest::new(1, 1))?
                                .items
                                .into_iter()
                                .next())
                        })
                        .await
                        {
                            Ok(Some(newest)) if newest.id == change.run_id => {
                                sent.record(change.machine_id, newest.status);
                                return Ok(vec![machine_id_status(
                                    change.machine_id,
                                    newest.status,
                                )]);
                            }
                            Ok(_) => return Ok(Vec::new()),
                            // Unreadable now: catch up on every machine below.
                            Err(Unreadable) => {}
                        }
                    }
                    Ok(machine_statuses(&state)
                        .await?
                        .into_iter()
                        .filter(|(machine, status)| sent.record(*machine, *status))
                        .map(|(machine, status)| machine_id_status(machine, status))
                        .collect())
                }
            })
            .await
        })
    })
}

/// The WebSocket routes.
pub(crate) fn routes() -> Vec<rocket::Route> {
    routes![machine_last, machine_runs, machine_status]
}
