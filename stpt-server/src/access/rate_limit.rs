//! Rate limiting of logins and reset mail.
//!
//! Logins are limited per (client address, user name) with back-off: after
//! [`MAX_FAILURES`] failures of one pair, that pair waits [`FIRST_BACKOFF`], doubling with each
//! further failure up to [`MAX_BACKOFF`]; one address failing for [`MAX_ADDRESS_FAILURES`]
//! names waits the same way. Nobody can lock a user out for everyone else: the user, or an
//! admin, logs in from another address as usual. Failures are forgotten [`WINDOW`] after the
//! last one, and a success clears its pair.
//!
//! Reset mail is limited per key (the user name, the address), so the form cannot flood a
//! mailbox. State is in memory, per server process: a restart forgets it, which only ever
//! makes the limits looser. Time is passed in.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failed attempts allowed per key within [`WINDOW`].
pub(crate) const MAX_FAILURES: usize = 5;

/// How long a failure counts.
pub(crate) const WINDOW: Duration = Duration::from_secs(15 * 60);

/// Failed logins of one (address, user) pair before it waits.
pub(crate) const MAX_FAILURES_PER_PAIR: u32 = 5;

/// Failed logins from one address (any names) before it waits.
pub(crate) const MAX_ADDRESS_FAILURES: u32 = 30;

/// The first wait once a pair or address has used up its attempts; it doubles with each
/// further failure.
pub(crate) const FIRST_BACKOFF: Duration = Duration::from_secs(30);

/// The longest wait.
pub(crate) const MAX_BACKOFF: Duration = Duration::from_secs(15 * 60);

/// Keys tracked at most; beyond this the stalest are forgotten, so a flood of made-up names
/// cannot exhaust memory.
const MAX_KEYS: usize = 10_000;

/// Failed logins per (address, user) pair and per address, and reset requests per key.
#[derive(Debug, Default)]
pub(crate) struct LoginLimiter {
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
    logins: Mutex<HashMap<String, Streak>>,
}

/// Consecutive failures of one login key and when the last one was.
#[derive(Debug, Clone, Copy)]
struct Streak {
    failures: u32,
    last: Instant,
}

impl Streak {
    /// How long to wait after `now`, if at all, given `allowed` failures.
    fn wait(&self, allowed: u32, now: Instant) -> Option<Duration> {
        let over = self.failures.checked_sub(allowed)?;
        let backoff = FIRST_BACKOFF
            .checked_mul(2u32.saturating_pow(over.min(16)))
            .unwrap_or(MAX_BACKOFF)
            .min(MAX_BACKOFF);
        let until = self.last + backoff;
        (until > now).then(|| until - now)
    }
}

fn pair_key(address: &str, user: &str) -> String {
    format!("{address}\n{user}")
}

fn address_key(address: &str) -> String {
    format!("{address}\n")
}

impl LoginLimiter {
    /// How long a login of `user` from `address` must wait, if it must.
    pub(crate) fn login_wait(&self, address: &str, user: &str, now: Instant) -> Option<Duration> {
        let Ok(mut logins) = self.logins.lock() else {
            // A poisoned lock means a panic elsewhere; refusing is the safe answer.
            return Some(MAX_BACKOFF);
        };
        forget_stale(&mut logins, now);
        let pair = logins
            .get(&pair_key(address, user))
            .and_then(|s| s.wait(MAX_FAILURES_PER_PAIR, now));
        let from = logins
            .get(&address_key(address))
            .and_then(|s| s.wait(MAX_ADDRESS_FAILURES, now));
        pair.max(from)
    }

    /// Counts a failed login of `user` from `address`.
    pub(crate) fn login_failed(&self, address: &str, user: &str, now: Instant) {
        let Ok(mut logins) = self.logins.lock() else {
            return;
        };
        if logins.len() >= MAX_KEYS {
            forget_stale(&mut logins, now);
        }
        if logins.len() >= MAX_KEYS {
            logins.clear();
        }
        for key in [pair_key(address, user), address_key(address)] {
            let streak = logins.entry(key).or_insert(Streak {
                failures: 0,
                last: now,
            });
            streak.failures = streak.failures.saturating_add(1);
            streak.last = now;
        }
    }

    /// Clears the pair after a successful login.
    pub(crate) fn login_succeeded(&self, address: &str, user: &str) {
        if let Ok(mut logins) = self.logins.lock() {
            logins.remove(&pair_key(address, user));
        }
    }

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
}

/// Forgets streaks whose last failure is older than [`WINDOW`].
fn forget_stale(logins: &mut HashMap<String, Streak>, now: Instant) {
    logins.retain(|_, streak| now.saturating_duration_since(streak.last) < WINDOW);
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
    fn a_pair_waits_with_back_off_and_other_addresses_do_not() {
        let limiter = LoginLimiter::default();
        let start = Instant::now();
        for i in 0..MAX_FAILURES_PER_PAIR {
            let now = start + Duration::from_secs(u64::from(i));
            assert_eq!(limiter.login_wait("10.0.0.9", "admin", now), None);
            limiter.login_failed("10.0.0.9", "admin", now);
        }
        let last = start + Duration::from_secs(u64::from(MAX_FAILURES_PER_PAIR - 1));
        assert_eq!(
            limiter.login_wait("10.0.0.9", "admin", last),
            Some(FIRST_BACKOFF)
        );
        // Another address logs in as that user; the attacker's other names are fine too.
        assert_eq!(limiter.login_wait("10.0.0.1", "admin", last), None);
        assert_eq!(limiter.login_wait("10.0.0.9", "alice", last), None);
        // Each further failure doubles the wait, up to the cap.
        let later = last + FIRST_BACKOFF;
        assert_eq!(limiter.login_wait("10.0.0.9", "admin", later), None);
        limiter.login_failed("10.0.0.9", "admin", later);
        assert_eq!(
            limiter.login_wait("10.0.0.9", "admin", later),
            Some(FIRST_BACKOFF * 2)
        );
        for _ in 0..20 {
            limiter.login_failed("10.0.0.9", "admin", later);
        }
        assert_eq!(
            limiter.login_wait("10.0.0.9", "admin", later),
            Some(MAX_BACKOFF)
        );
        // A window after the last failure, everything is forgotten.
        assert_eq!(
            limiter.login_wait("10.0.0.9", "admin", later + WINDOW),
            None
        );
        limiter.login_failed("10.0.0.9", "bob", later + WINDOW);
        limiter.login_succeeded("10.0.0.9", "bob");
        assert_eq!(limiter.login_wait("10.0.0.9", "bob", later + WINDOW), None);
    }

    #[test]
    fn an_address_trying_many_names_waits() {
        let limiter = LoginLimiter::default();
        let now = Instant::now();
        for i in 0..MAX_ADDRESS_FAILURES {
            assert_eq!(limiter.login_wait("10.0.0.7", &format!("u{i}"), now), None);
            limiter.login_failed("10.0.0.7", &format!("u{i}"), now);
        }
        assert_eq!(
            limiter.login_wait("10.0.0.7", "someone-else", now),
            Some(FIRST_BACKOFF)
        );
        assert_eq!(limiter.login_wait("10.0.0.8", "someone-else", now), None);
    }

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
    }
}
