//! The connection cap: every open client connection holds a [`Slot`], and there are at most
//! `max_connections` of them.
//!
//! A connection is either *waiting* on its client (for a request head, idle between requests,
//! or receiving a body) or *busy* (the app works on its request, a response is being relayed,
//! or it was upgraded to a WebSocket). When the cap is reached, a new connection takes the slot
//! of the connection that has been waiting longest, which is closed (with a 503 if it was in
//! the middle of a request); only when every connection is busy is the newcomer refused. So
//! clients that hold connections open without finishing requests cannot lock others out, while
//! work in progress is never cut short for a newcomer.
//!
//! Moving between waiting and busy is two atomic stores per request; only admission at the cap
//! scans the slots.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::Notify;

const WAITING: u8 = 0;
const BUSY: u8 = 1;
const EVICTED: u8 = 2;

/// How many times admission looks for a waiting connection to evict when the one it chose
/// turned busy meanwhile.
const EVICTION_TRIES: usize = 4;

/// The open connections.
#[derive(Debug)]
pub(crate) struct Slots {
    cap: usize,
    epoch: Instant,
    closing: AtomicBool,
    open: Mutex<Open>,
}

#[derive(Debug, Default)]
struct Open {
    next_id: u64,
    slots: HashMap<u64, Arc<Slot>>,
}

/// One connection's entry.
#[derive(Debug)]
pub(crate) struct Slot {
    state: AtomicU8,
    /// When it started waiting, in nanoseconds since [`Slots::epoch`].
    since: AtomicU64,
    wake: Notify,
}

/// A connection's claim on its slot, given back when dropped.
#[derive(Debug)]
pub(crate) struct SlotGuard {
    slots: Arc<Slots>,
    id: u64,
    slot: Arc<Slot>,
}

impl Slots {
    /// Room for `cap` connections (at least one).
    pub(crate) fn new(cap: usize) -> Slots {
        Slots {
            cap: cap.max(1),
            epoch: Instant::now(),
            closing: AtomicBool::new(false),
            open: Mutex::new(Open::default()),
        }
    }

    /// A slot for a new connection, waiting from now on; `None` when every slot is busy (or
    /// the server is closing).
    pub(crate) fn admit(self: &Arc<Self>) -> Option<SlotGuard> {
        if self.closing.load(Ordering::SeqCst) {
            return None;
        }
        let mut open = self.open.lock().ok()?;
        if open.slots.len() >= self.cap && !self.evict_longest_waiting(&mut open) {
            return None;
        }
        let slot = Arc::new(Slot {
            state: AtomicU8::new(WAITING),
            since: AtomicU64::new(self.now()),
            wake: Notify::new(),
        });
        let id = open.next_id;
        open.next_id += 1;
        open.slots.insert(id, slot.clone());
        Some(SlotGuard {
            slots: self.clone(),
            id,
            slot,
        })
    }

    /// Connections open.
    pub(crate) fn len(&self) -> usize {
        self.open.lock().map_or(0, |open| open.slots.len())
    }

    /// Stops admitting and closes every waiting connection; busy ones close when they would
    /// wait again.
    pub(crate) fn close_all(&self) {
        self.closing.store(true, Ordering::SeqCst);
        let Ok(mut open) = self.open.lock() else {
            return;
        };
        open.slots.retain(|_, slot| !slot.evict());
    }

    fn evict_longest_waiting(&self, open: &mut Open) -> bool {
        for _ in 0..EVICTION_TRIES {
            let oldest = open
                .slots
                .iter()
                .filter(|(_, slot)| slot.state.load(Ordering::Acquire) == WAITING)
                .min_by_key(|(_, slot)| slot.since.load(Ordering::Relaxed))
                .map(|(&id, slot)| (id, slot.clone()));
            let Some((id, slot)) = oldest else {
                return false;
            };
            if slot.evict() {
                open.slots.remove(&id);
                return true;
            }
        }
        false
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

impl Slot {
    /// Moves a waiting slot to evicted and wakes its connection; false if it was not waiting.
    fn evict(&self) -> bool {
        let evicted = self
            .state
            .compare_exchange(WAITING, EVICTED, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok();
        if evicted {
            self.wake.notify_one();
        }
        evicted
    }
}

impl SlotGuard {
    /// The connection waits on its client from now on (and may be evicted); false if it was
    /// evicted or the server is closing, when it should close.
    pub(crate) fn waiting(&self) -> bool {
        self.slot.since.store(self.slots.now(), Ordering::Relaxed);
        let waiting = match self.slot.state.compare_exchange(
            BUSY,
            WAITING,
            Ordering::SeqCst,
            Ordering::SeqCst,
        ) {
            Ok(_) => true,
            Err(state) => state == WAITING,
        };
        // Checked after the move: either `close_all` saw this slot waiting and evicted it, or
        // this sees that it is closing.
        waiting && !self.slots.closing.load(Ordering::SeqCst)
    }

    /// The connection's request is complete and with the app; false if it was evicted first.
    pub(crate) fn busy(&self) -> bool {
        match self
            .slot
            .state
            .compare_exchange(WAITING, BUSY, Ordering::SeqCst, Ordering::SeqCst)
        {
            Ok(_) => true,
            Err(state) => state == BUSY,
        }
    }

    /// Resolves once the connection has been evicted.
    pub(crate) async fn evicted(&self) {
        // A notification sent while nobody waits is kept for the next wait, so none is lost.
        while self.slot.state.load(Ordering::Acquire) != EVICTED {
            self.slot.wake.notified().await;
        }
    }
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        if let Ok(mut open) = self.slots.open.lock() {
            open.slots.remove(&self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_cap_evicts_the_longest_waiting_and_refuses_when_all_are_busy() {
        let slots = Arc::new(Slots::new(2));
        let first = slots.admit().expect("room");
        std::thread::sleep(Duration::from_millis(2));
        let second = slots.admit().expect("room");
        assert_eq!(slots.len(), 2);
        // Full: the first (waiting longest) makes room.
        let third = slots.admit().expect("an eviction");
        assert_eq!(slots.len(), 2);
        assert!(!first.busy(), "evicted connections may not start work");
        assert!(!first.waiting());
        // With every open one busy, a newcomer is refused.
        assert!(second.busy());
        assert!(third.busy());
        assert!(slots.admit().is_none());
        // One waiting again can be evicted.
        assert!(third.waiting());
        let fourth = slots.admit().expect("an eviction");
        drop(first);
        assert_eq!(slots.len(), 2, "an evicted slot is not counted twice");
        drop(fourth);
        assert_eq!(slots.len(), 1);
        drop(second);
        drop(third);
        assert_eq!(slots.len(), 0);
    }

    #[test]
    fn closing_evicts_the_waiting_and_stops_admission() {
        let slots = Arc::new(Slots::new(4));
        let waiting = slots.admit().expect("room");
        let busy = slots.admit().expect("room");
        assert!(busy.busy());
        slots.close_all();
        assert!(!waiting.busy());
        assert!(
            !busy.waiting(),
            "a busy connection closes when it would wait"
        );
        assert!(slots.admit().is_none());
    }

    #[tokio::test]
    async fn an_evicted_connection_is_woken() {
        let slots = Arc::new(Slots::new(1));
        let first = slots.admit().expect("room");
        let waiter = tokio::spawn(async move {
            first.evicted().await;
        });
        tokio::task::yield_now().await;
        let _second = slots.admit().expect("an eviction");
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("woken")
            .expect("no panic");
    }
}
