//! The guard's side of the app: connections to Rocket on its loopback port, kept open between
//! requests and shared by all clients, and the budget of request-body bytes held at once.
//!
//! Rocket (hyper) never closes an idle HTTP/1 connection by itself, so a connection that
//! answered cleanly goes back to the pool and serves the next request of any client; one that
//! was closed meanwhile (hyper closes after a response whose request body it did not read) is
//! noticed when it is taken out, or, if the close was still on its way, when the request
//! written to it gets no answer (the relay then sends it again on a new connection).

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Idle connections kept at most; more are closed.
const MAX_IDLE: usize = 64;

/// Where the app listens and the connections to it that are free.
#[derive(Debug)]
pub(crate) struct Upstream {
    addr: SocketAddr,
    idle: Mutex<Vec<TcpStream>>,
}

impl Upstream {
    /// The app at `addr`.
    pub(crate) fn new(addr: SocketAddr) -> Upstream {
        Upstream {
            addr,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// A connection to the app: the most recently used free one that is still open, else a new
    /// one; the flag tells whether it was used before.
    pub(crate) async fn take(&self) -> io::Result<(TcpStream, bool)> {
        loop {
            let free = self.idle.lock().ok().and_then(|mut idle| idle.pop());
            match free {
                Some(stream) if still_open(&stream) => return Ok((stream, true)),
                Some(_) => continue,
                None => break,
            }
        }
        Ok((self.connect().await?, false))
    }

    /// A new connection to the app.
    pub(crate) async fn connect(&self) -> io::Result<TcpStream> {
        let stream = TcpStream::connect(self.addr).await?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }

    /// Gives back a connection whose last response ended cleanly.
    pub(crate) fn put(&self, stream: TcpStream) {
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < MAX_IDLE
        {
            idle.push(stream);
        }
    }
}

/// An idle connection is open while it has nothing to read: the app sends nothing unasked, so
/// anything readable is its close (or garbage).
fn still_open(stream: &TcpStream) -> bool {
    let mut byte = [0u8; 1];
    matches!(stream.try_read(&mut byte), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
}

/// Bytes of request bodies that may be held at once, across all connections. A body holds
/// what it has read (paid before reading) until the app answers it.
#[derive(Debug, Clone)]
pub(crate) struct Budget {
    bytes: Arc<Semaphore>,
}

impl Budget {
    /// A budget of `bytes` (at least `floor`, so one read always fits).
    pub(crate) fn new(bytes: u64, floor: usize) -> Budget {
        let bytes = usize::try_from(bytes)
            .unwrap_or(usize::MAX)
            .clamp(floor, Semaphore::MAX_PERMITS);
        Budget {
            bytes: Arc::new(Semaphore::new(bytes)),
        }
    }

    /// `n` bytes if they are free now.
    pub(crate) fn try_take(&self, n: usize) -> Option<OwnedSemaphorePermit> {
        let n = u32::try_from(n).ok()?;
        self.bytes.clone().try_acquire_many_owned(n).ok()
    }

    /// `n` bytes, waiting for them in turn (first come, first served); `None` if `n` can
    /// never fit.
    pub(crate) async fn take(&self, n: usize) -> Option<OwnedSemaphorePermit> {
        let n = u32::try_from(n).ok()?;
        self.bytes.clone().acquire_many_owned(n).await.ok()
    }

    /// Bytes free now.
    #[cfg(test)]
    pub(crate) fn available(&self) -> usize {
        self.bytes.available_permits()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpListener;

    use super::*;

    #[tokio::test]
    async fn a_closed_idle_connection_is_not_handed_out_again() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let upstream = Upstream::new(listener.local_addr().expect("address"));
        let (first, reused) = upstream.take().await.expect("connect");
        assert!(!reused);
        let (mut server_side, _) = listener.accept().await.expect("accept");
        upstream.put(first);
        let (again, reused) = upstream.take().await.expect("the same one");
        assert!(reused);
        upstream.put(again);
        // The app closes it while idle.
        server_side.shutdown().await.expect("close");
        drop(server_side);
        tokio::time::sleep(Duration::from_millis(50)).await;
        let (_fresh, reused) = upstream.take().await.expect("a new one");
        assert!(!reused, "the closed connection was dropped");
    }

    #[tokio::test]
    async fn the_budget_holds_bytes_until_they_are_given_back() {
        let budget = Budget::new(100, 10);
        let held = budget.try_take(60).expect("free");
        assert!(budget.try_take(60).is_none());
        let waiting = tokio::spawn({
            let budget = budget.clone();
            async move { budget.take(60).await.is_some() }
        });
        tokio::task::yield_now().await;
        drop(held);
        assert!(waiting.await.expect("no panic"));
        assert_eq!(budget.available(), 100);
        assert_eq!(Budget::new(1, 10).available(), 10, "at least one read fits");
    }
}
