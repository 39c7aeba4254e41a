//! Login rate limiting: after too many failed attempts within a window, further attempts for
//! the same user name or from the same client address are refused until the window passes.
//!
//! Counting per user name bounds password guessing against one account even from many
//! addresses; counting per address slows one client trying many names. State is in memory,
//! per server process: a restart forgets it, which only ever makes the limit looser.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failed attempts allowed per key within [`WINDOW`].
pub(crate) const MAX_FAILURES: usize = 5;

/// How long a failure counts.
pub(crate) const WINDOW: Duration = Duration::from_secs(15 * 60);

/// Keys tracked at most; beyond this the stalest are forgotten, so a flood of made-up names
/// cannot exhaust memory.
const MAX_KEYS: usize = 10_000;

/// Failed logins per key.
#[derive(Debug, Default)]
pub(crate) struct LoginLimiter {
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl LoginLimiter {
    /// Whether any of `keys` has used up its attempts.
    pub(crate) fn blocked(&self, keys: &[String]) -> bool {
        let now = Instant::now();
        let Ok(mut failures) = self.failures.lock() else {
            // A poisoned lock means a panic elsewhere; refusing is the safe answer.
            return true;
        };
        keys.iter().any(|key| {
            failures.get_mut(key).is_some_and(|times| {
                forget_old(times, now);
                times.len() >= MAX_FAILURES
            })
        })
    }

    /// Counts a failed attempt against each of `keys`.
    pub(crate) fn failed(&self, keys: &[String]) {
        let now = Instant::now();
        let Ok(mut failures) = self.failures.lock() else {
            return;
        };
        if failures.len() >= MAX_KEYS {
            failures.retain(|_, times| {
                forget_old(times, now);
                !times.is_empty()
            });
        }
        if failures.len() >= MAX_KEYS {
            failures.clear();
        }
        for key in keys {
            let times = failures.entry(key.clone()).or_default();
            forget_old(times, now);
            times.push_back(now);
        }
    }

    /// Forgets the failures of `keys` (after a successful login).
    pub(crate) fn succeeded(&self, keys: &[String]) {
        if let Ok(mut failures) = self.failures.lock() {
            for key in keys {
                failures.remove(key);
            }
        }
    }
}

fn forget_old(times: &mut VecDeque<Instant>, now: Instant) {
    while times
        .front()
        .is_some_and(|&at| now.saturating_duration_since(at) >= WINDOW)
    {
        times.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_the_allowed_failures_and_only_that_key() {
        let limiter = LoginLimiter::default();
        let alice = vec!["user:alice".to_owned()];
        let bob = vec!["user:bob".to_owned()];
        for _ in 0..MAX_FAILURES {
            assert!(!limiter.blocked(&alice));
            limiter.failed(&alice);
        }
        assert!(limiter.blocked(&alice));
        assert!(!limiter.blocked(&bob));
        limiter.succeeded(&alice);
        assert!(!limiter.blocked(&alice));
    }
}
