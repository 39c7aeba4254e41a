//! How the tests' HTTP sinks deliver: the production sink with tiny retry delays, so an outage
//! costs milliseconds instead of seconds.

use std::path::Path;
use std::time::Duration;

use stpt_runner::{HttpConfig, RetryPolicy};

/// Three tries a millisecond or two apart; while offline, every send probes the server once
/// (a refused connection costs nothing), so the first send after a restart delivers the backlog.
pub fn quick_config(url: &str, spool_dir: &Path) -> HttpConfig {
    HttpConfig {
        retry: RetryPolicy {
            attempts: 3,
            initial_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
            jitter: true,
        },
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(5),
        probe_interval: Duration::ZERO,
        ..HttpConfig::new(url, spool_dir)
    }
}
