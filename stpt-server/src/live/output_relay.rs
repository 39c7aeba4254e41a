//! Tests' output shared between instances on one PostgreSQL database.
//!
//! A batch of output can be far larger than a `NOTIFY` payload (8000 bytes), so the lines do
//! not travel through the database's notifications: the instance that ingested a batch sends
//! an [`OutputNotice`] (machine, run, test, index, lines in the batch) on the channel
//! `stpt_output`, and every instance (the sender too) that hears it while it has output
//! subscribers reads the test's new lines (`Store::output_after`) and delivers the lines it has
//! not delivered yet, as the same `{"test_output": …}` frame. One path for every batch, so a
//! subscriber gets each line once and in order even when one test's batches reach different
//! instances.
//!
//! Which lines are new: per test the relay remembers the offset of the last line it delivered
//! and reads the kept lines after it (`Store::output_after`, one range of the lines' primary
//! key), so a read costs what it returns, not the test's whole kept output. Notices that pile
//! up for one test are answered by one read; a notice whose lines an earlier read already
//! delivered causes none. For a test it has not followed before (its first batch, or one the
//! relay forgot while nobody listened), the new lines are the last `lines` of the notices heard
//! together; should a later batch already be stored by then, that first delivery starts late by
//! the later batch's lines. The stored output keeps a head and a tail (`--output-limit`): lines
//! dropped in between are not delivered.
//!
//! **Invariant:** ingest never waits for the relay (a bounded queue; when it is full the
//! ingesting instance delivers the batch to its own subscribers directly), and an instance
//! without output subscribers reads nothing.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError, TryRecvError};
use std::thread;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::Text;
use serde::{Deserialize, Serialize};
use stpt_core::{MachineId, NodeId, OutputLine, RunId, Store};
use tokio::sync::broadcast;

use super::output::OutputMessage;
use super::relay::{CHECK, POLL, RelayError, listen};

/// The notification channel for output notices.
const CHANNEL: &str = "stpt_output";
/// Notices waiting to be sent before new ones are dropped.
const QUEUE: usize = 4096;
/// Tests whose delivered count is remembered; past it the memory starts afresh.
const REMEMBERED_TESTS: usize = 4096;

/// What one instance tells the others about a batch it ingested.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct OutputNotice {
    /// The machine whose test printed it.
    pub(super) machine_id: MachineId,
    /// The run.
    pub(super) run_id: RunId,
    /// The test.
    pub(super) test_id: NodeId,
    /// The test's position in plan order.
    pub(super) index: u32,
    /// Lines in the batch.
    pub(super) lines: u64,
}

impl OutputNotice {
    /// The notice of a batch.
    pub(super) fn of(message: &OutputMessage) -> OutputNotice {
        OutputNotice {
            machine_id: message.machine_id,
            run_id: message.run_id,
            test_id: message.test_id,
            index: message.index,
            lines: message.lines as u64,
        }
    }
}

/// A notification's payload: the notice and the schema (channels are per database, instances
/// may live in separate schemas of one).
#[derive(Debug, Serialize, Deserialize)]
struct Payload {
    schema: String,
    #[serde(flatten)]
    notice: OutputNotice,
}

/// The relay's side of one instance: its connection and what it delivered.
struct Relay {
    conn: PgConnection,
    schema: String,
    store: Arc<dyn Store>,
    hub: broadcast::Sender<Arc<OutputMessage>>,
    /// Per test, the offset of the last line delivered.
    delivered: HashMap<NodeId, u64>,
}

impl Relay {
    fn notify(&mut self, notice: OutputNotice) -> QueryResult<()> {
        let payload = Payload {
            schema: self.schema.clone(),
            notice,
        };
        let json = serde_json::to_string(&payload)
            .map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))?;
        diesel::sql_query("SELECT pg_notify($1, $2)")
            .bind::<Text, _>(CHANNEL)
            .bind::<Text, _>(json)
            .execute(&mut self.conn)
            .map(drop)
    }

    /// Reads the pending notices, then delivers each test's new lines.
    fn forward(&mut self) -> QueryResult<()> {
        let mut heard: Vec<OutputNotice> = Vec::new();
        for notification in self.conn.notifications_iter() {
            let notification = notification?;
            if notification.channel != CHANNEL {
                continue;
            }
            // A payload from another version or a stranger is ignored, not fatal.
            if let Ok(payload) = serde_json::from_str::<Payload>(&notification.payload)
                && payload.schema == self.schema
            {
                match heard
                    .iter_mut()
                    .find(|n| n.test_id == payload.notice.test_id)
                {
                    Some(pending) => pending.lines += payload.notice.lines,
                    None => heard.push(payload.notice),
                }
            }
        }
        if heard.is_empty() {
            return Ok(());
        }
        if self.hub.receiver_count() == 0 {
            // Nobody listens here: nothing to read, and what was delivered no longer matters.
            self.delivered.clear();
            return Ok(());
        }
        for notice in heard {
            self.deliver(notice);
        }
        Ok(())
    }

    /// Reads the test's kept lines after the last one delivered and sends them.
    fn deliver(&mut self, notice: OutputNotice) {
        let known = self.delivered.get(&notice.test_id).copied();
        let lines = match self.store.output_after(notice.test_id, known) {
            Ok(Some(lines)) => lines,
            // Gone (its machine was removed) or unreadable for now: the subscribers' pages
            // re-read the stored output when they reconnect.
            Ok(None) => return,
            Err(error) => {
                tracing::warn!(%error, test = notice.test_id, "cannot read relayed output");
                return;
            }
        };
        // A test not followed before: the lines of the notices heard, the newest kept ones.
        let skip = match known {
            Some(_) => 0,
            None => lines
                .len()
                .saturating_sub(usize::try_from(notice.lines).unwrap_or(usize::MAX)),
        };
        let Some(last) = lines.last().map(|line| line.offset).or(known) else {
            return;
        };
        if self.delivered.len() >= REMEMBERED_TESTS && known.is_none() {
            self.delivered.clear();
        }
        self.delivered.insert(notice.test_id, last);
        let lines: Vec<OutputLine> = lines.into_iter().skip(skip).map(|l| l.line).collect();
        if !lines.is_empty() {
            let _ = self.hub.send(Arc::new(OutputMessage::new(
                notice.machine_id,
                notice.run_id,
                notice.test_id,
                notice.index,
                &lines,
            )));
        }
    }

    fn check(&mut self) -> QueryResult<()> {
        self.conn.batch_execute("SELECT 1")
    }
}

/// Starts the output relay for the database at `url`; returns its queue once it listens.
pub(super) fn start(
    url: &str,
    store: Arc<dyn Store>,
    hub: broadcast::Sender<Arc<OutputMessage>>,
) -> Result<mpsc::SyncSender<OutputNotice>, RelayError> {
    let (conn, schema) = listen(url, CHANNEL).map_err(|source| RelayError::Listen { source })?;
    let relay = Relay {
        conn,
        schema,
        store,
        hub,
        delivered: HashMap::new(),
    };
    let (queue, outgoing) = mpsc::sync_channel(QUEUE);
    let url = url.to_owned();
    thread::Builder::new()
        .name("stpt-output-relay".to_owned())
        .spawn(move || run(relay, &url, &outgoing))
        .map_err(|source| RelayError::Thread { source })?;
    Ok(queue)
}

/// The relay loop: send queued notices, deliver others' output, reconnect after failures.
fn run(mut relay: Relay, url: &str, outgoing: &mpsc::Receiver<OutputNotice>) {
    let mut checked = Instant::now();
    loop {
        let mut healthy = match outgoing.recv_timeout(POLL) {
            Ok(notice) => relay.notify(notice).is_ok(),
            Err(RecvTimeoutError::Timeout) => true,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        // Send whatever else is queued before reading, so a flood is not paced by the poll.
        while healthy {
            match outgoing.try_recv() {
                Ok(notice) => healthy = relay.notify(notice).is_ok(),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => return,
            }
        }
        healthy = healthy && relay.forward().is_ok();
        if healthy && checked.elapsed() >= CHECK {
            checked = Instant::now();
            healthy = relay.check().is_ok();
        }
        if !healthy {
            match reconnect(url, outgoing) {
                Some((conn, schema)) => {
                    relay.conn = conn;
                    relay.schema = schema;
                }
                None => return,
            }
        }
    }
}

/// Reopens the connection with backoff; `None` when the hub is gone. Notices queued meanwhile
/// are dropped: their lines are stored, and the first read after reconnecting delivers them
/// to whoever still listens.
fn reconnect(url: &str, outgoing: &mpsc::Receiver<OutputNotice>) -> Option<(PgConnection, String)> {
    let mut delay = Duration::from_millis(100);
    loop {
        let deadline = Instant::now() + delay;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match outgoing.recv_timeout(left) {
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => return None,
            }
        }
        if let Ok(listening) = listen(url, CHANNEL) {
            return Some(listening);
        }
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_round_trip_through_a_payload() {
        let payload = Payload {
            schema: "public".to_owned(),
            notice: OutputNotice {
                machine_id: 1,
                run_id: 2,
                test_id: 3,
                index: 4,
                lines: 5,
            },
        };
        let json = serde_json::to_string(&payload).expect("json");
        assert!(json.len() < 200, "{json}");
        let back: Payload = serde_json::from_str(&json).expect("parse");
        assert_eq!(back.notice, payload.notice);
    }
}
