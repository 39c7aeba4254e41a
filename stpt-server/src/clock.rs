//! The server's clock: what "now" is for ingest, aborts, the stale sweep and the reads that
//! say how long a run has been silent.
//!
//! The main type here is [`Clock`]: the system clock by default ([`Clock::system`]); tests
//! give the app a clock they move themselves ([`Clock::new`]) so time passes without waiting.

use std::fmt;
use std::sync::Arc;

use stpt_core::Timestamp;

/// Where the server reads the time.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> Timestamp + Send + Sync>);

impl Clock {
    /// The system clock.
    pub fn system() -> Clock {
        Clock::new(Timestamp::now)
    }

    /// A clock that reads `now`.
    pub fn new(now: impl Fn() -> Timestamp + Send + Sync + 'static) -> Clock {
        Clock(Arc::new(now))
    }

    /// The time now.
    pub fn now(&self) -> Timestamp {
        (self.0)()
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::system()
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Clock").field(&self.now()).finish()
    }
}
