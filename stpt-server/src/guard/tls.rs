//! HTTPS in the guard: the TLS handshake within the first head's deadline, then the decrypted
//! bytes through a local socket pair to the same relay plain connections get.
//!
//! The main items here are [`server_config`] (the certificate chain and key, read once at
//! start) and `serve` (one client connection). The handshake must finish within
//! `header_timeout` from the connection's opening, like a first request head (whose deadline
//! it shares): a client that opens TCP and never says hello holds its slot that long and no
//! longer, and a handshaking connection waits on its client, so it is the first evicted at the
//! cap. Then a *bridge* task moves bytes between the TLS stream and one end of a Unix socket
//! pair while the relay serves the other end, so every limit (heads, bodies, idle time, the
//! budget, send times, the cap) applies to HTTPS exactly as to HTTP, in one implementation.
//!
//! The bridge follows the relay: when the relay closes its end, the bridge closes the TLS
//! stream (close_notify) and ends after lingering like the relay; a client that does not take
//! the bridge's writes for `send_timeout` ends both. A connection over the cap is closed
//! without an answer (a 503 would need a handshake first, the work the cap is there to shed).
//!
//! The bridge uses Unix sockets: serving HTTPS needs a Unix-like system.
//!
//! Cost: an HTTPS connection holds rustls's state and the bridge's two buffers while open, and
//! two more file descriptors than a plain one.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UnixStream};
use tokio::time::{Instant, sleep_until, timeout};
use tokio_rustls::TlsAcceptor;

use super::slots::SlotGuard;
use super::{LINGER, Shared, relay};

/// Bytes the bridge moves at once in each direction.
const BRIDGE_CHUNK: usize = 8 * 1024;

/// Why the server's certificate or key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    /// Only one of certificate and key is configured.
    #[error(
        "HTTPS needs both a certificate and its key (--tls-cert and --tls-key, or STPT_TLS_CERT \
         and STPT_TLS_KEY); only the {given} is set"
    )]
    Half {
        /// "certificate" or "key".
        given: &'static str,
    },
    /// The certificate file cannot be read or is not PEM.
    #[error("cannot read the TLS certificate {path}")]
    Certificate {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    /// The certificate file holds no certificate.
    #[error("the TLS certificate {path} holds no PEM certificate (BEGIN CERTIFICATE)")]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// The key file cannot be read, or holds no private key.
    #[error("cannot read a private key (PEM: PKCS#8, PKCS#1 or SEC1) from {path}")]
    Key {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    /// rustls refused the pair (a key that does not fit the certificate, an unsupported key).
    #[error("cannot serve HTTPS with the certificate {cert} and the key {key}")]
    Refused {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// Why.
        #[source]
        source: rustls::Error,
    },
}

/// The server configuration for the certificate chain at `cert` and the key at `key`, both
/// PEM; it speaks HTTP/1.1 only (ALPN), which is all the guard relays.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, TlsSetupError> {
    let read_cert = |source| TlsSetupError::Certificate {
        path: cert.to_owned(),
        source,
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(read_cert)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(read_cert)?;
    if chain.is_empty() {
        return Err(TlsSetupError::NoCertificate {
            path: cert.to_owned(),
        });
    }
    let private = PrivateKeyDer::from_pem_file(key).map_err(|source| TlsSetupError::Key {
        path: key.to_owned(),
        source,
    })?;
    let refused = |source| TlsSetupError::Refused {
        cert: cert.to_owned(),
        key: key.to_owned(),
        source,
    };
    let mut config = ServerConfig::builder_with_provider(stpt_runner::tls::crypto_provider())
        .with_safe_default_protocol_versions()
        .map_err(refused)?
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .map_err(refused)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Serves one HTTPS connection: the handshake within the first head's deadline, then the
/// relay over the bridge.
pub(super) async fn serve(
    shared: Arc<Shared>,
    acceptor: TlsAcceptor,
    client: TcpStream,
    peer: IpAddr,
    slot: SlotGuard,
    accepted: Instant,
) {
    let deadline = accepted + shared.limits.header_timeout;
    let tls = tokio::select! {
        biased;
        () = slot.evicted() => return,
        () = sleep_until(deadline) => return,
        handshake = acceptor.accept(client) => match handshake {
            Ok(tls) => tls,
            // A client that does not trust the certificate says so with an alert: its
            // business, and nothing for the server's log.
            Err(_) => return,
        },
    };
    let Ok((local, remote)) = UnixStream::pair() else {
        tracing::error!("cannot open a local socket pair for an HTTPS connection");
        return;
    };
    tokio::spawn(bridge(tls, remote, shared.limits.send_timeout));
    relay::serve(shared, local, peer, slot, accepted).await;
}

/// Moves bytes between the client's TLS stream and the relay's socket until the relay is
/// done (see the module's documentation).
async fn bridge(
    tls: tokio_rustls::server::TlsStream<TcpStream>,
    relay_end: UnixStream,
    stall: Duration,
) {
    let (mut from_client, mut to_client) = tokio::io::split(tls);
    let (mut from_relay, mut to_relay) = relay_end.into_split();
    let inbound = async {
        let mut chunk = vec![0; BRIDGE_CHUNK];
        loop {
            match from_client.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if to_relay.write_all(&chunk[..n]).await.is_err() {
                        break;
                    }
                }
            }
        }
        let _ = to_relay.shutdown().await;
    };
    let outbound = async {
        let mut chunk = vec![0; BRIDGE_CHUNK];
        loop {
            match from_relay.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let sent = timeout(stall, async {
                        to_client.write_all(&chunk[..n]).await?;
                        to_client.flush().await
                    })
                    .await;
                    if !matches!(sent, Ok(Ok(()))) {
                        return false;
                    }
                }
            }
        }
        // close_notify, then the TCP close: the client knows the answer is whole.
        let _ = timeout(stall, to_client.shutdown()).await;
        true
    };
    tokio::pin!(inbound, outbound);
    tokio::select! {
        // The client is done sending: the relay sees the end, answers what it has and closes.
        () = &mut inbound => {
            let _ = outbound.await;
        }
        // The relay is done: the client may still be sending; take it for a while, as the
        // relay's own lingering does, so it reads the last answer rather than a reset.
        clean = &mut outbound => {
            if clean {
                let _ = timeout(LINGER, inbound).await;
            }
        }
    }
}
