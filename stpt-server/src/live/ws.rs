//! The seed's three WebSocket routes, fed by the [`LiveHub`](super::LiveHub).
//!
//! - `/ws/machine/<id>/last` pushes `{"machine_data": <machine_last_data body>}` when the
//!   machine's newest run changed;
//! - `/ws/machine/<id>/runs` pushes `{"run_data": {"id", "status"}}` when any of its runs did;
//! - `/ws/machine/status` pushes `{"machine_id_status": {"id", "status"}}` when any machine's
//!   newest run did.
//!
//! Each socket waits on three things at once: the hub, the client (so a client that leaves is
//! noticed at once) and Rocket's shutdown (so a graceful stop is not held up by open sockets).
//! **Invariant:** a slow client never slows ingest or grows memory: the hub drops what it has
//! not read (it skips ahead, and the `last` stream re-reads the current state), and a client
//! that stops reading altogether is disconnected after [`SEND_TIMEOUT`].
//!
//! A request without `Upgrade: websocket` is refused with 400 and the JSON error body (the
//! WebSocket guard forwards it, and the catcher answers).

use std::future::Future;
use std::time::Duration;

use rocket::futures::{SinkExt, StreamExt};
use rocket::http::Status as HttpStatus;
use rocket::tokio::select;
use rocket::tokio::sync::broadcast::Receiver;
use rocket::tokio::sync::broadcast::error::{RecvError, TryRecvError};
use rocket::{Shutdown, State, get, routes};
use rocket_ws::stream::DuplexStream;
use rocket_ws::{Channel, Message, WebSocket};
use serde_json::json;
use stpt_core::{MachineId, PageRequest, RunSummary, Store, StoreError, Timestamp};

use super::hub::RunChanged;
use crate::api::ErrorBody;
use crate::api::shapes::MachineLastData;
use crate::app::AppState;

/// How long one message may wait for a client that does not read before it is dropped.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// What a stream is told by the hub.
enum Heard {
    /// One change.
    Change(RunChanged),
    /// Changes were missed; the stream should catch up from the store.
    Lagged,
}

/// Runs a store call on the blocking pool; a failure reads as "nothing to send".
async fn read<T, F>(state: &AppState, f: F) -> Option<T>
where
    T: Send + 'static,
    F: FnOnce(&dyn Store) -> Result<Option<T>, StoreError> + Send + 'static,
{
    let store = state.store.clone();
    rocket::tokio::task::spawn_blocking(move || f(store.as_ref()))
        .await
        .ok()?
        .ok()?
}

/// The machine's newest run, if any.
async fn newest_run(state: &AppState, machine: MachineId) -> Option<RunSummary> {
    read(state, move |store| {
        Ok(store
            .runs(machine, PageRequest::new(1, 1))?
            .items
            .into_iter()
            .next())
    })
    .await
}

/// The `last` message for a machine: its newest run now.
async fn machine_data(state: &AppState, machine: MachineId) -> Option<String> {
    let data = read(state, move |store| {
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
    Some(json!({ "machine_data": data }).to_string())
}

/// Forwards what `render` makes of each hub message until the client leaves or the server
/// stops.
async fn pump<F, Fut>(
    mut socket: DuplexStream,
    mut changes: Receiver<RunChanged>,
    mut shutdown: Shutdown,
    mut render: F,
) -> rocket_ws::result::Result<()>
where
    F: FnMut(Heard, &mut Receiver<RunChanged>) -> Fut,
    Fut: Future<Output = Option<String>>,
{
    loop {
        let heard = select! {
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
        if let Some(text) = render(heard, &mut changes).await {
            match rocket::tokio::time::timeout(SEND_TIMEOUT, socket.send(Message::Text(text))).await
            {
                Ok(Ok(())) => {}
                Ok(Err(_)) | Err(_) => break,
            }
        }
    }
    let _ = socket.close(None).await;
    Ok(())
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

async fn known_machine(state: &AppState, id: MachineId) -> Result<(), HttpStatus> {
    read(state, move |store| store.machine(id))
        .await
        .map(drop)
        .ok_or(HttpStatus::NotFound)
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
    )
)]
#[get("/ws/machine/<id>/last")]
async fn machine_last(
    ws: WebSocket,
    state: &State<AppState>,
    shutdown: Shutdown,
    id: MachineId,
) -> Result<Channel<'static>, HttpStatus> {
    known_machine(state, id).await?;
    let state = state.inner().clone();
    let changes = state.hub.subscribe();
    Ok(ws.channel(move |socket| {
        Box::pin(async move {
            pump(socket, changes, shutdown, |heard, changes| {
                let state = state.clone();
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
                    // `Some(None)`: send whatever is current; `Some(Some(run))`: only if `run`
                    // is the newest (a late stop on an older run leaves the live view alone).
                    if let Some(run) = send?
                        && newest_run(&state, id).await?.id != run
                    {
                        return None;
                    }
                    machine_data(&state, id).await
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
    )
)]
#[get("/ws/machine/<id>/runs")]
async fn machine_runs(
    ws: WebSocket,
    state: &State<AppState>,
    shutdown: Shutdown,
    id: MachineId,
) -> Result<Channel<'static>, HttpStatus> {
    known_machine(state, id).await?;
    let changes = state.hub.subscribe();
    Ok(ws.channel(move |socket| {
        Box::pin(async move {
            pump(socket, changes, shutdown, |heard, _| {
                let text = match heard {
                    Heard::Change(change) if change.machine_id == id => Some(
                        json!({"run_data": {"id": change.run_id, "status": change.run_status}})
                            .to_string(),
                    ),
                    // Each message carries a run's whole state, so skipping ahead loses nothing
                    // a later message will not bring.
                    Heard::Change(_) | Heard::Lagged => None,
                };
                async move { text }
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
fn machine_status(ws: WebSocket, state: &State<AppState>, shutdown: Shutdown) -> Channel<'static> {
    let state = state.inner().clone();
    let changes = state.hub.subscribe();
    ws.channel(move |socket| {
        Box::pin(async move {
            pump(socket, changes, shutdown, |heard, _| {
                let state = state.clone();
                async move {
                    let Heard::Change(change) = heard else {
                        return None;
                    };
                    let newest = newest_run(&state, change.machine_id).await?;
                    (newest.id == change.run_id).then(|| {
                        json!({"machine_id_status": {"id": change.machine_id, "status": newest.status}})
                            .to_string()
                    })
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
