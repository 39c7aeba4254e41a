//! The live feed: each change read from the store and serialised once, then shared by every
//! WebSocket subscriber that wants it.
//!
//! The main type here is [`LiveFeed`], part of the managed state. One task per server
//! ([`LiveFeedTask`]) listens on the hub, takes whatever changes are waiting as one batch, and
//! for that batch:
//! - for the `status` stream: reads each changed machine's newest run once and broadcasts
//!   `{"machine_id_status"}` when the machine's status differs from what it last broadcast
//!   (its status moves a few times per run, not with every event);
//! - for each machine someone follows on the `last` stream: reads its newest run once and
//!   broadcasts `{"machine_data"}`.
//!
//! Subscribers receive the same bytes (`Arc<str>`), so a thousand listeners cost one read and
//! one serialisation per change, not a thousand. A quiet feed publishes at once; under a flood
//! it publishes once per [`TICK`] with the state at that moment, so a machine whose status
//! flips with every event costs its subscribers four messages a second, not thousands. A subscriber that falls behind skips ahead
//! on its bounded channel and catches up from the store itself (see `ws`).
//!
//! **Invariant:** the feed never slows ingest: the hub is bounded and the task only reads.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use rocket::fairing::{Fairing, Info, Kind};
use rocket::tokio::sync::broadcast;
use rocket::tokio::sync::broadcast::error::{RecvError, TryRecvError};
use rocket::{Orbit, Rocket};
use stpt_core::wire::{IdStatus, MachineDataMessage, MachineStatusMessage};
use stpt_core::{MachineId, PageRequest, Status, Store, StoreError, Timestamp};

use super::hub::RunChanged;
use crate::state::AppState;
use stpt_core::wire::MachineLastData;

/// Messages kept per subscriber before a slow one skips ahead and catches up from the store.
const SUBSCRIBER_BACKLOG: usize = 256;

/// Changes taken from the hub as one batch at most.
const MAX_BATCH: usize = 1024;

/// Machines read per query when the feed catches up.
const MACHINES_PER_READ: u64 = PageRequest::MAX_SIZE;

/// One message for subscribers: the text to send and what it says, so a subscriber knows
/// what it has been told.
#[derive(Debug)]
pub(crate) struct Update {
    /// The machine it is about.
    pub(crate) machine: MachineId,
    /// The status it tells (the machine's, for `status`; its newest run's, for `last`).
    pub(crate) status: Status,
    /// The JSON text, shared by every subscriber.
    pub(crate) text: Arc<str>,
}

/// What subscribers receive.
pub(crate) type Shared = Arc<Update>;

/// The shared channels of the live streams.
#[derive(Debug)]
pub struct LiveFeed {
    status: broadcast::Sender<Shared>,
    last: Mutex<HashMap<MachineId, broadcast::Sender<Shared>>>,
    sockets: AtomicUsize,
}

impl Default for LiveFeed {
    fn default() -> Self {
        LiveFeed {
            status: broadcast::channel(SUBSCRIBER_BACKLOG).0,
            last: Mutex::new(HashMap::new()),
            sockets: AtomicUsize::new(0),
        }
    }
}

impl LiveFeed {
    /// A subscriber of every machine's status changes.
    pub(crate) fn subscribe_status(&self) -> broadcast::Receiver<Shared> {
        self.status.subscribe()
    }

    /// A subscriber of one machine's newest run.
    pub(crate) fn subscribe_last(&self, machine: MachineId) -> broadcast::Receiver<Shared> {
        let mut last = self
            .last
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        last.entry(machine)
            .or_insert_with(|| broadcast::channel(SUBSCRIBER_BACKLOG).0)
            .subscribe()
    }

    /// Open WebSockets, for `/metrics`.
    pub fn sockets(&self) -> usize {
        self.sockets.load(Ordering::Relaxed)
    }

    /// Counts a socket while the guard lives.
    pub(crate) fn socket_opened(self: &Arc<Self>) -> SocketCount {
        self.sockets.fetch_add(1, Ordering::Relaxed);
        SocketCount(Arc::clone(self))
    }

    /// The machines whose `last` stream someone follows; forgets the others.
    fn followed(&self) -> Vec<(MachineId, broadcast::Sender<Shared>)> {
        let mut last = self
            .last
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        last.retain(|_, sender| sender.receiver_count() > 0);
        last.iter().map(|(id, s)| (*id, s.clone())).collect()
    }
}

/// Decrements the socket count when dropped.
#[derive(Debug)]
pub(crate) struct SocketCount(Arc<LiveFeed>);

impl Drop for SocketCount {
    fn drop(&mut self) {
        self.0.sockets.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The `status` message.
pub(crate) fn status_update(machine: MachineId, status: Status) -> Shared {
    Arc::new(Update {
        machine,
        status,
        text: frame(&MachineStatusMessage {
            machine_id_status: IdStatus {
                id: machine,
                status,
            },
        }),
    })
}

/// The `last` message for a machine: its newest run now (`None`: no such machine).
pub(crate) fn read_last(
    store: &dyn Store,
    machine: MachineId,
) -> Result<Option<Shared>, StoreError> {
    let Some(found) = store.machine(machine)? else {
        return Ok(None);
    };
    let run = store.last_run(machine)?;
    let status = run.as_ref().map_or(Status::Unknown, |run| run.run.status);
    let data = MachineLastData::new(&found, run.as_ref(), Timestamp::now());
    Ok(Some(Arc::new(Update {
        machine,
        status,
        text: frame(&MachineDataMessage { machine_data: data }),
    })))
}

/// A message as the text of a frame.
fn frame(message: &impl serde::Serialize) -> Arc<str> {
    serde_json::to_string(message).unwrap_or_default().into()
}

/// Every machine with its newest run's status.
pub(crate) fn read_statuses(store: &dyn Store) -> Result<Vec<(MachineId, Status)>, StoreError> {
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
}

/// A machine's newest run's status, if it has a run.
fn read_status(store: &dyn Store, machine: MachineId) -> Result<Option<Status>, StoreError> {
    Ok(store
        .runs(machine, PageRequest::new(1, 1))?
        .items
        .first()
        .map(|run| run.status))
}

/// What the feed broadcast last, per machine, while anyone listened.
#[derive(Debug, Default)]
struct Broadcast {
    statuses: HashMap<MachineId, Status>,
}

/// One batch of changes: which machines changed, and whether some were missed.
fn batch(
    first: Result<RunChanged, RecvError>,
    changes: &mut broadcast::Receiver<RunChanged>,
) -> Option<(BTreeSet<MachineId>, bool)> {
    let mut machines = BTreeSet::new();
    let mut lagged = false;
    match first {
        Ok(change) => {
            machines.insert(change.machine_id);
        }
        Err(RecvError::Lagged(_)) => lagged = true,
        Err(RecvError::Closed) => return None,
    }
    for _ in 0..MAX_BATCH {
        match changes.try_recv() {
            Ok(change) => {
                machines.insert(change.machine_id);
            }
            Err(TryRecvError::Lagged(_)) => lagged = true,
            Err(TryRecvError::Empty | TryRecvError::Closed) => break,
        }
    }
    Some((machines, lagged))
}

/// Applies one batch: reads what changed once and broadcasts it. False when a read failed
/// (a busy pool, a database away for a moment): the caller tries again with a full catch-up.
fn publish(
    store: &dyn Store,
    feed: &LiveFeed,
    told: &mut Broadcast,
    machines: &BTreeSet<MachineId>,
    lagged: bool,
) -> bool {
    let mut complete = true;
    if feed.status.receiver_count() == 0 {
        // Nobody hears: what was told is no guide for whoever subscribes next.
        told.statuses.clear();
    } else {
        let statuses: Vec<(MachineId, Status)> = if lagged {
            read_statuses(store).unwrap_or_else(|_| {
                complete = false;
                Vec::new()
            })
        } else {
            machines
                .iter()
                .filter_map(|m| match read_status(store, *m) {
                    Ok(status) => Some((*m, status?)),
                    Err(_) => {
                        complete = false;
                        None
                    }
                })
                .collect()
        };
        for (machine, status) in statuses {
            if told.statuses.insert(machine, status) != Some(status) {
                let _ = feed.status.send(status_update(machine, status));
            }
        }
    }
    for (machine, sender) in feed.followed() {
        if lagged || machines.contains(&machine) {
            match read_last(store, machine) {
                Ok(Some(update)) => {
                    let _ = sender.send(update);
                }
                Ok(None) => {}
                Err(_) => complete = false,
            }
        }
    }
    complete
}

/// Least time between two publications: a quiet feed publishes at once, a flood once a tick.
const TICK: std::time::Duration = std::time::Duration::from_millis(250);

/// Whatever changes wait now, as one batch (`None`: nothing waits).
fn drain(changes: &mut broadcast::Receiver<RunChanged>) -> Option<(BTreeSet<MachineId>, bool)> {
    let first = match changes.try_recv() {
        Ok(change) => Ok(change),
        Err(TryRecvError::Lagged(n)) => Err(RecvError::Lagged(n)),
        Err(TryRecvError::Empty | TryRecvError::Closed) => return None,
    };
    batch(first, changes)
}

/// Pause before a batch whose reads failed is caught up.
const RETRY_PAUSE: std::time::Duration = std::time::Duration::from_millis(250);

/// Runs the feed while the server runs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LiveFeedTask;

#[rocket::async_trait]
impl Fairing for LiveFeedTask {
    fn info(&self) -> Info {
        Info {
            name: "live feed",
            kind: Kind::Liftoff,
        }
    }

    async fn on_liftoff(&self, rocket: &Rocket<Orbit>) {
        let Some(state) = rocket.state::<AppState>().cloned() else {
            return;
        };
        let mut changes = state.hub.subscribe();
        let mut shutdown = rocket.shutdown();
        rocket::tokio::spawn(async move {
            let mut told = Broadcast::default();
            let mut retry = false;
            let mut last_publish: Option<rocket::tokio::time::Instant> = None;
            loop {
                let first = rocket::tokio::select! {
                    _ = &mut shutdown => break,
                    first = changes.recv() => Some(first),
                    () = rocket::tokio::time::sleep(RETRY_PAUSE), if retry => None,
                };
                let (mut machines, mut lagged) = match first {
                    Some(first) => match batch(first, &mut changes) {
                        Some(batch) => batch,
                        None => break,
                    },
                    // Catch up on everything after failed reads.
                    None => (BTreeSet::new(), true),
                };
                if let Some(last) = last_publish {
                    // Published a moment ago: gather what else changes until the tick, so a
                    // flood reaches subscribers at most once a tick, each machine read once.
                    rocket::tokio::select! {
                        _ = &mut shutdown => break,
                        () = rocket::tokio::time::sleep_until(last + TICK) => {}
                    }
                    while let Some((more, missed)) = drain(&mut changes) {
                        machines.extend(more);
                        lagged |= missed;
                    }
                }
                last_publish = Some(rocket::tokio::time::Instant::now());
                let done = state
                    .blocking(move |state| {
                        let complete = publish(
                            state.store.as_ref(),
                            &state.feed,
                            &mut told,
                            &machines,
                            lagged,
                        );
                        (told, complete)
                    })
                    .await;
                (told, retry) = match done {
                    Ok((told, complete)) => (told, !complete),
                    Err(_) => (Broadcast::default(), true),
                };
            }
        });
    }
}
