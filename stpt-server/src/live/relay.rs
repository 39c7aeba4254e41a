//! Changes shared between instances on one PostgreSQL database with `NOTIFY`/`LISTEN`.
//!
//! One thread per instance owns a dedicated connection (not a pooled one: a `LISTEN` belongs
//! to its session). It sends this instance's changes with `pg_notify` and polls the
//! connection for everyone's, forwarding each into the local broadcast channel. Payloads are
//! the JSON of [`RunChanged`] plus the schema, because channels are per database while test
//! setups (and some deployments) put several stpt instances in separate schemas of one.
//!
//! **Invariant:** the thread never blocks ingest: it is fed through a bounded queue, and it
//! ends when every hub that feeds it is gone.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::Text;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use super::hub::RunChanged;

/// The notification channel every instance listens on.
const CHANNEL: &str = "stpt_changes";
/// Changes waiting to be sent before new ones go local-only.
const QUEUE: usize = 4096;
/// Most changes sent in one statement.
const SEND_BATCH: usize = 256;
/// How often the connection is polled for notifications (libpq only reads them when asked).
pub(super) const POLL: Duration = Duration::from_millis(1);
/// How often an idle connection is checked, so a dropped one is noticed and reopened.
pub(super) const CHECK: Duration = Duration::from_secs(5);

/// Why the relay could not start.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// The first connection or `LISTEN` failed.
    #[error("cannot listen for changes on PostgreSQL")]
    Listen {
        /// The database's error.
        #[source]
        source: diesel::ConnectionError,
    },
    /// The relay thread did not come up.
    #[error("the change relay thread did not start")]
    Thread {
        /// What happened.
        #[source]
        source: std::io::Error,
    },
}

/// What travels in a notification's payload.
#[derive(Debug, Serialize, Deserialize)]
struct Payload {
    schema: String,
    #[serde(flatten)]
    change: RunChanged,
}

#[derive(QueryableByName)]
struct SchemaRow {
    #[diesel(sql_type = Text)]
    schema: String,
}

/// A listening connection and the schema it serves.
struct Listener {
    conn: PgConnection,
    schema: String,
}

impl Listener {
    fn open(url: &str) -> Result<Listener, diesel::ConnectionError> {
        let (conn, schema) = listen(url, CHANNEL)?;
        Ok(Listener { conn, schema })
    }

    /// Sends `changes` in one statement (one round trip and one transaction however many are
    /// queued); each is still its own notification.
    fn notify(&mut self, changes: &[RunChanged]) -> QueryResult<()> {
        use diesel::sql_types::Array;
        let payloads = changes
            .iter()
            .map(|change| {
                serde_json::to_string(&Payload {
                    schema: self.schema.clone(),
                    change: *change,
                })
            })
            .collect::<Result<Vec<String>, _>>()
            .map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))?;
        diesel::sql_query("SELECT pg_notify($1, payload) FROM unnest($2::text[]) AS payload")
            .bind::<Text, _>(CHANNEL)
            .bind::<Array<Text>, _>(payloads)
            .execute(&mut self.conn)
            .map(drop)
    }

    /// Forwards every pending notification for this schema.
    fn forward(&mut self, hub: &broadcast::Sender<RunChanged>) -> QueryResult<()> {
        let schema = self.schema.clone();
        for notification in self.conn.notifications_iter() {
            let notification = notification?;
            if notification.channel != CHANNEL {
                continue;
            }
            // A payload from another version or a stranger is ignored, not fatal.
            if let Ok(payload) = serde_json::from_str::<Payload>(&notification.payload)
                && payload.schema == schema
            {
                let _ = hub.send(payload.change);
            }
        }
        Ok(())
    }

    fn check(&mut self) -> QueryResult<()> {
        self.conn.batch_execute("SELECT 1")
    }
}

/// A fresh connection to `url` listening on `channel`, and the schema it serves.
pub(super) fn listen(
    url: &str,
    channel: &str,
) -> Result<(PgConnection, String), diesel::ConnectionError> {
    let mut conn = PgConnection::establish(url)?;
    let schema = diesel::sql_query("SELECT current_schema() AS schema")
        .get_result::<SchemaRow>(&mut conn)
        .map(|row| row.schema)
        .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
    conn.batch_execute(&format!("LISTEN {channel}"))
        .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
    Ok((conn, schema))
}

/// Starts the relay thread for the database at `url`; returns its queue once it listens.
pub(super) fn start(
    url: &str,
    hub: broadcast::Sender<RunChanged>,
) -> Result<mpsc::SyncSender<RunChanged>, RelayError> {
    let listener = Listener::open(url).map_err(|source| RelayError::Listen { source })?;
    let (queue, outgoing) = mpsc::sync_channel(QUEUE);
    let url = url.to_owned();
    thread::Builder::new()
        .name("stpt-change-relay".to_owned())
        .spawn(move || run(listener, &url, &outgoing, &hub))
        .map_err(|source| RelayError::Thread { source })?;
    Ok(queue)
}

/// The relay loop: send queued changes, forward notifications, reconnect after failures.
fn run(
    mut listener: Listener,
    url: &str,
    outgoing: &mpsc::Receiver<RunChanged>,
    hub: &broadcast::Sender<RunChanged>,
) {
    let mut checked = Instant::now();
    loop {
        let healthy = match outgoing.recv_timeout(POLL) {
            Ok(change) => {
                let mut changes = vec![change];
                while changes.len() < SEND_BATCH {
                    match outgoing.try_recv() {
                        Ok(change) => changes.push(change),
                        Err(_) => break,
                    }
                }
                let sent = listener.notify(&changes);
                if sent.is_err() {
                    // Not lost for this instance's listeners at least.
                    for change in changes {
                        let _ = hub.send(change);
                    }
                }
                sent.is_ok()
            }
            Err(RecvTimeoutError::Timeout) => true,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        let mut healthy = healthy && listener.forward(hub).is_ok();
        if healthy && checked.elapsed() >= CHECK {
            checked = Instant::now();
            healthy = listener.check().is_ok();
        }
        if !healthy {
            match reconnect(url, outgoing, hub) {
                Some(fresh) => listener = fresh,
                None => return,
            }
        }
    }
}

/// Reopens the connection with backoff; `None` when the hubs are gone meanwhile.
fn reconnect(
    url: &str,
    outgoing: &mpsc::Receiver<RunChanged>,
    hub: &broadcast::Sender<RunChanged>,
) -> Option<Listener> {
    let mut delay = Duration::from_millis(100);
    loop {
        let deadline = Instant::now() + delay;
        // While the database is away, changes still reach this instance's listeners.
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match outgoing.recv_timeout(left) {
                Ok(change) => {
                    let _ = hub.send(change);
                }
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => return None,
            }
        }
        if let Ok(listener) = Listener::open(url) {
            return Some(listener);
        }
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}
