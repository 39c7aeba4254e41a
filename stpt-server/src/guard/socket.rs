//! The sockets the relay serves a client on: [`Socket`], the shared-reference reads and writes
//! (`readable`/`try_read`, `writable`/`try_write`) it needs, for a client's TCP connection and
//! for the local end of an HTTPS connection's bridge (a Unix socket pair, see `super::tls`).
//!
//! Both are tokio's own types with the same inherent methods; the trait only names them once,
//! so the relay is written once for both.

use std::io;

use tokio::io::AsyncWrite;
use tokio::net::TcpStream;

/// A connected stream the relay can wait on and use through shared references.
pub(crate) trait Socket: AsyncWrite + Unpin + Send + Sync + 'static {
    /// The reading half after [`Socket::into_split`].
    type Read: ReadHalf;
    /// The writing half after [`Socket::into_split`].
    type Write: AsyncWrite + Unpin + Send + 'static;

    /// Waits until a read may make progress.
    fn readable(&self) -> impl Future<Output = io::Result<()>> + Send;
    /// Waits until a write may make progress.
    fn writable(&self) -> impl Future<Output = io::Result<()>> + Send;
    /// Reads what has arrived onto the end of `buf` (`WouldBlock` when nothing has).
    fn try_read_buf(&self, buf: &mut Vec<u8>) -> io::Result<usize>;
    /// Reads what has arrived into `buf`.
    fn try_read(&self, buf: &mut [u8]) -> io::Result<usize>;
    /// Writes what the socket takes now.
    fn try_write(&self, buf: &[u8]) -> io::Result<usize>;
    /// Splits into halves that can move to two tasks.
    fn into_split(self) -> (Self::Read, Self::Write);
}

/// The reading half of a split [`Socket`].
pub(crate) trait ReadHalf: Send + 'static {
    /// Waits until a read may make progress.
    fn readable(&self) -> impl Future<Output = io::Result<()>> + Send;
    /// Reads what has arrived onto the end of `buf`.
    fn try_read_buf(&self, buf: &mut Vec<u8>) -> io::Result<usize>;
}

macro_rules! socket {
    ($stream:ty, $read:ty, $write:ty) => {
        impl Socket for $stream {
            type Read = $read;
            type Write = $write;

            fn readable(&self) -> impl Future<Output = io::Result<()>> + Send {
                <$stream>::readable(self)
            }
            fn writable(&self) -> impl Future<Output = io::Result<()>> + Send {
                <$stream>::writable(self)
            }
            fn try_read_buf(&self, buf: &mut Vec<u8>) -> io::Result<usize> {
                <$stream>::try_read_buf(self, buf)
            }
            fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
                <$stream>::try_read(self, buf)
            }
            fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
                <$stream>::try_write(self, buf)
            }
            fn into_split(self) -> ($read, $write) {
                <$stream>::into_split(self)
            }
        }

        impl ReadHalf for $read {
            fn readable(&self) -> impl Future<Output = io::Result<()>> + Send {
                <$read>::readable(self)
            }
            fn try_read_buf(&self, buf: &mut Vec<u8>) -> io::Result<usize> {
                <$read>::try_read_buf(self, buf)
            }
        }
    };
}

socket!(
    TcpStream,
    tokio::net::tcp::OwnedReadHalf,
    tokio::net::tcp::OwnedWriteHalf
);

socket!(
    tokio::net::UnixStream,
    tokio::net::unix::OwnedReadHalf,
    tokio::net::unix::OwnedWriteHalf
);
