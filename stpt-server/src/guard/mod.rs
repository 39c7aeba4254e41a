//! The connection guard: the process's public listener, in front of Rocket.
//!
//! Rocket (0.5, on hyper) waits forever for a request head, keeps idle connections open
//! forever, reads a body as slowly as it comes while buffering it, and accepts as many
//! connections as the process has file descriptors. The guard accepts on the public address
//! and relays each request to Rocket on a loopback port, enforcing [`Limits`]:
//!
//! - **connections**: at most `max_connections` are open (fewer if the process's open-file
//!   limit could not hold them); at the cap a newcomer takes the slot of the connection that has
//!   waited longest on its client, and only when all are busy is it answered 503 at once (see
//!   `slots`);
//! - **heads**: a request head must arrive within `header_timeout` (408) and `max_header_bytes`
//!   (431), for every request of a connection; between requests a connection may idle for
//!   `idle_timeout`, then it is closed;
//! - **bodies**: a body must arrive within `body_timeout` plus one second per `body_min_rate`
//!   bytes received (408); it is collected by the guard and handed to Rocket whole, so a slow
//!   upload costs Rocket nothing; the bytes of bodies held at once (collected, or with Rocket
//!   until it answers), across all connections, stay within `body_budget` (a read waits for
//!   room, and the request gets 503 if none comes in time); a length over the app's body limit
//!   is refused (413) before it is sent;
//! - **responses**: a client that does not take a response for `send_timeout` is dropped.
//!
//! Every refusal is `{"error", "detail"}` JSON with `connection: close`. Relayed requests carry
//! [`PEER_HEADER`] with the client's address (any the client sent is removed), which the app
//! trusts only from its loopback peer ([`crate::access::client_addr::ClientAddr`]). WebSocket upgrades are
//! relayed byte for byte once Rocket has answered 101; they stay busy and count against the
//! cap. Connections to Rocket are pooled, so a keep-alive client costs Rocket nothing while it
//! idles.
//!
//! With a certificate ([`crate::Config::tls_cert`]) the guard speaks HTTPS only: `tls` does the
//! handshake (within `header_timeout` from the connection's opening, the first head's own
//! deadline) and bridges the decrypted bytes to the same relay, so every limit above applies.
//!
//! [`crate::launch`] puts the guard and Rocket together; this module is the relay itself:
//! `http` (framing), `slots` (the cap), `upstream` (the pool and the body budget), `relay`
//! (one client connection), `socket` (what the relay reads and writes) and `tls`.

pub(crate) mod http;
mod relay;
pub(crate) mod slots;
mod socket;
pub mod tls;
mod upstream;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;

pub use http::PEER_HEADER;
use http::Refusal;
use slots::Slots;
use upstream::{Budget, Upstream};

/// Bytes read from a socket at once; also the least body budget.
pub(crate) const READ_CHUNK: usize = 16 * 1024;

/// Finished or refused connections that may linger at once (taking the rest of the client's
/// request so it sees the last answer rather than a reset); beyond this they are closed at
/// once. They no longer count against the cap, so this bounds the sockets open beyond it.
const MAX_LINGERING: usize = 64;

/// How long a refused or finished connection lingers for the client to stop sending.
pub(crate) const LINGER: Duration = Duration::from_secs(1);

/// Least time between two warnings about failing accepts.
const ACCEPT_WARN_EVERY: Duration = Duration::from_secs(10);

/// Time between two looks at the open connections while settling.
const SETTLE_POLL: Duration = Duration::from_millis(10);

/// Pause after a failed accept (out of file descriptors), so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(20);

/// The limits the guard enforces on client connections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Client connections open at once, WebSockets included.
    pub max_connections: usize,
    /// Time for a whole request head to arrive, from its first byte (from the connection's
    /// opening for its first request).
    pub header_timeout: Duration,
    /// Largest request head (request line and header fields) in bytes.
    pub max_header_bytes: usize,
    /// Time a keep-alive connection may wait for its next request.
    pub idle_timeout: Duration,
    /// Time a request body may take, extended by one second per `body_min_rate` bytes
    /// received.
    pub body_timeout: Duration,
    /// Least average rate of a request body after `body_timeout`, in bytes per second.
    pub body_min_rate: u64,
    /// Bytes of request bodies held at once, across all connections: being collected, or
    /// handed to the app and not answered yet. At least the app's body limit.
    pub body_budget: u64,
    /// Time a client may take to accept a piece of a response.
    pub send_timeout: Duration,
}

/// Default [`Limits::max_connections`].
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// Default [`Limits::header_timeout`].
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Default [`Limits::max_header_bytes`]: 16 KiB.
pub const DEFAULT_MAX_HEADER_BYTES: usize = 16 * 1024;
/// Default [`Limits::idle_timeout`].
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Default [`Limits::body_timeout`].
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// Default [`Limits::body_min_rate`]: 16 KiB/s.
pub const DEFAULT_BODY_MIN_RATE: u64 = 16 * 1024;
/// Default [`Limits::body_budget`]: 64 MiB.
pub const DEFAULT_BODY_BUDGET: u64 = 64 * 1024 * 1024;
/// Default [`Limits::send_timeout`].
pub const DEFAULT_SEND_TIMEOUT: Duration = Duration::from_secs(30);

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            body_timeout: DEFAULT_BODY_TIMEOUT,
            body_min_rate: DEFAULT_BODY_MIN_RATE,
            body_budget: DEFAULT_BODY_BUDGET,
            send_timeout: DEFAULT_SEND_TIMEOUT,
        }
    }
}

impl Limits {
    /// Checks that every limit allows something.
    pub fn validate(&self) -> Result<(), GuardError> {
        let zero = |name: &'static str| Err(GuardError::Limit { name });
        if self.max_connections == 0 {
            return zero("max_connections");
        }
        if self.header_timeout.is_zero() {
            return zero("header_timeout");
        }
        if self.max_header_bytes == 0 {
            return zero("max_header_bytes");
        }
        if self.idle_timeout.is_zero() {
            return zero("idle_timeout");
        }
        if self.body_timeout.is_zero() {
            return zero("body_timeout");
        }
        if self.body_min_rate == 0 {
            return zero("body_min_rate");
        }
        if self.body_budget == 0 {
            return zero("body_budget");
        }
        if self.send_timeout.is_zero() {
            return zero("send_timeout");
        }
        Ok(())
    }
}

/// Why the guard cannot run.
#[derive(Debug, thiserror::Error)]
pub enum GuardError {
    /// A limit is zero, which would refuse everything.
    #[error("the connection limit {name} must be above zero")]
    Limit {
        /// The field of [`Limits`].
        name: &'static str,
    },
}

/// What every connection of one guard shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) limits: Limits,
    /// The app's largest request body ([`crate::Config::body_limit`]).
    pub(crate) body_limit: u64,
    pub(crate) slots: Arc<Slots>,
    pub(crate) upstream: Upstream,
    pub(crate) budget: Budget,
    pub(crate) lingering: Arc<Semaphore>,
    /// The answer for a connection over the cap.
    full: Vec<u8>,
    /// The TLS configuration, when serving HTTPS.
    tls: Option<Arc<rustls::ServerConfig>>,
}

/// A guard relaying to the app at one address.
#[derive(Debug, Clone)]
pub(crate) struct Guard {
    shared: Arc<Shared>,
}

impl Guard {
    /// A guard enforcing `limits` in front of the app listening on `app`, which takes request
    /// bodies up to `body_limit` bytes; with `tls`, it speaks HTTPS.
    pub(crate) fn new(
        mut limits: Limits,
        body_limit: u64,
        app: SocketAddr,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> Result<Guard, GuardError> {
        limits.validate()?;
        if let Some(files) = open_files_limit() {
            let fits = fitting_connections(files, tls.is_some());
            if limits.max_connections > fits {
                tracing::warn!(
                    "at most {fits} connections instead of {}: this process may open {files} \
                     files (raise it with ulimit -n)",
                    limits.max_connections
                );
                limits.max_connections = fits;
            }
        }
        let full = Refusal::unavailable(format!(
            "the server has {} connections open, each busy; try again later",
            limits.max_connections
        ))
        .to_response();
        Ok(Guard {
            shared: Arc::new(Shared {
                slots: Arc::new(Slots::new(limits.max_connections)),
                upstream: Upstream::new(app),
                budget: Budget::new(limits.body_budget, READ_CHUNK),
                lingering: Arc::new(Semaphore::new(MAX_LINGERING)),
                full,
                limits,
                body_limit,
                tls,
            }),
        })
    }

    /// Accepts connections on `listener` until `stop` resolves, then closes the waiting ones
    /// (busy ones finish their exchange first).
    pub(crate) async fn run(&self, listener: TcpListener, stop: impl Future<Output = ()>) {
        tokio::pin!(stop);
        let mut warned: Option<Instant> = None;
        loop {
            tokio::select! {
                biased;
                () = &mut stop => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => self.admit(stream, peer),
                    Err(e) if is_per_connection(&e) => {}
                    Err(e) => {
                        // Out of file descriptors, typically: said once in a while, not at
                        // every retry.
                        if warned.is_none_or(|at| at.elapsed() >= ACCEPT_WARN_EVERY) {
                            tracing::error!("cannot accept a connection: {e}");
                            warned = Some(Instant::now());
                        }
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                    }
                },
            }
        }
        drop(listener);
        self.shared.slots.close_all();
    }

    /// Waits (at most `max`) until no connection is open any more: after shutdown, the busy
    /// ones finish relaying what the app answered.
    pub(crate) async fn settle(&self, max: Duration) {
        let deadline = Instant::now() + max;
        while self.shared.slots.len() > 0 && Instant::now() < deadline {
            tokio::time::sleep(SETTLE_POLL).await;
        }
    }

    fn admit(&self, stream: TcpStream, peer: SocketAddr) {
        let accepted = Instant::now();
        // Small writes (a head, then a body) must not wait for each other's acknowledgement.
        let _ = stream.set_nodelay(true);
        let peer = peer.ip().to_canonical();
        match (self.shared.slots.admit(), &self.shared.tls) {
            (Some(slot), None) => {
                tokio::spawn(relay::serve(
                    self.shared.clone(),
                    stream,
                    peer,
                    slot,
                    accepted,
                ));
            }
            (Some(slot), Some(config)) => {
                tokio::spawn(tls::serve(
                    self.shared.clone(),
                    TlsAcceptor::from(config.clone()),
                    stream,
                    peer,
                    slot,
                    accepted,
                ));
            }
            (None, None) => self.refuse_full(stream),
            // A 503 would need a handshake, the very work the cap sheds.
            (None, Some(_)) => drop(stream),
        }
    }

    /// Answers 503 at once; lingers (within [`MAX_LINGERING`]) so the client reads it.
    fn refuse_full(&self, stream: TcpStream) {
        // A fresh socket's send buffer is empty, so the short answer fits without waiting.
        let _ = stream.try_write(&self.shared.full);
        let shared = self.shared.clone();
        tokio::spawn(async move { relay::close_gently(&shared, stream).await });
    }
}

/// Files kept for the database, logs and the listeners when fitting connections to the
/// process's file limit.
const RESERVED_FILES: u64 = 64;

/// Connections that fit `files` open files: a connection whose request is with the app uses
/// three (the client's socket, and both ends of the connection to the app, all in this process),
/// and two more over HTTPS (the bridge's socket pair).
fn fitting_connections(files: u64, tls: bool) -> usize {
    let per_connection = if tls { 5 } else { 3 };
    usize::try_from(files.saturating_sub(RESERVED_FILES) / per_connection)
        .unwrap_or(usize::MAX)
        .max(1)
}

/// The process's soft limit on open files, where the system tells (Linux: `/proc/self/limits`).
fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    limits
        .lines()
        .find_map(|line| line.strip_prefix("Max open files"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Accept errors that concern one connection only (it was reset before being accepted).
fn is_per_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_are_fitted_to_the_file_limit() {
        assert_eq!(fitting_connections(1024, false), 320);
        assert_eq!(fitting_connections(20_000, false), 6645);
        assert_eq!(fitting_connections(10, false), 1);
        assert_eq!(fitting_connections(1024, true), 192);
        if std::path::Path::new("/proc/self/limits").exists() {
            assert!(open_files_limit().is_some_and(|files| files > 0));
        }
    }
}
