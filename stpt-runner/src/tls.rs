//! TLS for every stpt client: one rustls configuration for the connections the runner, the CLI
//! and the server's webhooks and mail make.
//!
//! The main items here are [`client_config`] (the system's trust store plus an optional PEM
//! bundle, [`CA_CERT_ENV`] or `--ca-cert`) and [`agent_builder`] (a ureq agent using it);
//! [`connect`] opens a TLS stream with the same configuration for what ureq does not carry
//! (`stpt tail`'s WebSocket). [`problem`] finds the TLS failure inside a transport error and
//! [`explain`] says it for people, naming the host and the reason.
//!
//! The system's roots come from `rustls-native-certs` (read once per process); a company CA
//! installed on a rig is trusted as every other program there trusts it.
//!
//! **Invariant:** every TLS connection an stpt client makes is verified against these roots:
//! there is no switch to turn verification off.

use std::io;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{CertificateError, ClientConfig, ClientConnection, RootCertStore, StreamOwned};

/// The variable naming a PEM bundle of extra CA certificates to trust.
pub const CA_CERT_ENV: &str = "STPT_CA_CERT";

/// A TLS stream over TCP, as [`connect`] makes it.
pub type TlsStream = StreamOwned<ClientConnection, TcpStream>;

/// Why a TLS configuration cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The CA bundle cannot be read or is not PEM.
    #[error("cannot read the CA bundle {path}")]
    Read {
        /// The bundle.
        path: PathBuf,
        /// Why.
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    /// The CA bundle holds no certificate.
    #[error("the CA bundle {path} holds no PEM certificate (BEGIN CERTIFICATE)")]
    Empty {
        /// The bundle.
        path: PathBuf,
    },
    /// A certificate of the bundle cannot be a trust anchor.
    #[error("the CA bundle {path} holds a certificate that cannot be trusted as a CA")]
    Invalid {
        /// The bundle.
        path: PathBuf,
        /// Why.
        #[source]
        source: rustls::Error,
    },
    /// rustls refused the configuration.
    #[error("cannot set up TLS")]
    Setup(#[source] rustls::Error),
}

/// The CA bundle named by [`CA_CERT_ENV`], if it is set and not empty.
pub fn ca_cert_from_env() -> Option<PathBuf> {
    std::env::var_os(CA_CERT_ENV)
        .filter(|path| !path.is_empty())
        .map(PathBuf::from)
}

/// The certificates of the PEM bundle at `path` (at least one).
pub fn read_ca_bundle(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let read = |source| TlsError::Read {
        path: path.to_owned(),
        source,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(read)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(read)?;
    if certs.is_empty() {
        return Err(TlsError::Empty {
            path: path.to_owned(),
        });
    }
    Ok(certs)
}

/// The system's trust anchors, read once per process; unreadable ones are skipped (a system
/// without any still trusts the CA bundle).
fn system_roots() -> &'static [CertificateDer<'static>] {
    static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| rustls_native_certs::load_native_certs().certs)
}

/// The provider every stpt TLS connection uses (ring), named rather than taken from a
/// process-wide default, so no other crate's choice changes it.
pub fn crypto_provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The client configuration: the system's roots plus the certificates of `ca_cert`.
pub fn client_config(ca_cert: Option<&Path>) -> Result<Arc<ClientConfig>, TlsError> {
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(system_roots().iter().cloned());
    if let Some(path) = ca_cert {
        for cert in read_ca_bundle(path)? {
            roots.add(cert).map_err(|source| TlsError::Invalid {
                path: path.to_owned(),
                source,
            })?;
        }
    }
    let config = ClientConfig::builder_with_provider(crypto_provider())
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Setup)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// A ureq agent builder speaking HTTPS with [`client_config`]`(ca_cert)`; plain `http://`
/// URLs work as before.
pub fn agent_builder(ca_cert: Option<&Path>) -> Result<ureq::AgentBuilder, TlsError> {
    Ok(ureq::AgentBuilder::new().tls_config(client_config(ca_cert)?))
}

/// Opens TLS to `host` over `tcp` and completes the handshake, so a certificate problem shows
/// here (see [`problem`]) rather than at the first read.
pub fn connect(
    config: &Arc<ClientConfig>,
    host: &str,
    mut tcp: TcpStream,
) -> io::Result<TlsStream> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let name = ServerName::try_from(bare)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?
        .to_owned();
    let mut connection = ClientConnection::new(config.clone(), name)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    while connection.is_handshaking() {
        connection.complete_io(&mut tcp)?;
    }
    Ok(StreamOwned::new(connection, tcp))
}

/// The TLS failure somewhere in `error`'s chain of causes (io errors carrying one included).
pub fn problem<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut cause = Some(error);
    while let Some(current) = cause {
        if let Some(tls) = current.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        if let Some(tls) = current
            .downcast_ref::<io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            return Some(tls);
        }
        cause = current.source();
    }
    None
}

/// The TLS failure of a ureq error, said for people with the host of `url` (see [`explain`]).
pub fn explain_ureq(url: &str, error: &ureq::Error) -> Option<String> {
    let ureq::Error::Transport(transport) = error else {
        return None;
    };
    let tls = problem(transport)?;
    Some(explain(host_of(url), tls))
}

/// "TLS: certificate for stpt.lab is not trusted (UnknownIssuer); pass --ca-cert or
/// STPT_CA_CERT": what went wrong with `host`'s TLS, and what to do.
pub fn explain(host: &str, error: &rustls::Error) -> String {
    const TRUST: &str = "pass --ca-cert or STPT_CA_CERT with the CA that signed it";
    let rustls::Error::InvalidCertificate(certificate) = error else {
        return format!(
            "TLS: the handshake with {host} failed ({error}); does it serve HTTPS on that port?"
        );
    };
    match certificate {
        CertificateError::UnknownIssuer => {
            format!("TLS: certificate for {host} is not trusted (UnknownIssuer); {TRUST}")
        }
        CertificateError::BadSignature => {
            format!("TLS: certificate for {host} is not trusted (BadSignature); {TRUST}")
        }
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            format!(
                "TLS: certificate of {host} is not valid for that name (NotValidForName); \
                 use a host name the certificate lists"
            )
        }
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            format!("TLS: certificate for {host} has expired (Expired)")
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            format!("TLS: certificate for {host} is not valid yet (NotValidYet); check both clocks")
        }
        CertificateError::Revoked => format!("TLS: certificate for {host} is revoked (Revoked)"),
        other => format!("TLS: certificate for {host} is not accepted ({other:?})"),
    }
}

/// The host of a URL (`https://[::1]:8443/x` → `[::1]`), or the URL when it names none.
pub fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    if authority.starts_with('[') {
        return authority
            .find(']')
            .map_or(authority, |end| &authority[..=end]);
    }
    authority.split(':').next().unwrap_or(authority)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_of_urls() {
        assert_eq!(host_of("https://stpt.lab:8443/tm_api/"), "stpt.lab");
        assert_eq!(host_of("https://[::1]:8443"), "[::1]");
        assert_eq!(host_of("http://127.0.0.1"), "127.0.0.1");
        assert_eq!(host_of("wss://u:p@h.example/ws"), "h.example");
    }

    #[test]
    fn an_unknown_issuer_names_the_host_and_the_way_out() {
        let error = rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer);
        assert_eq!(
            explain("tracker.example.com", &error),
            "TLS: certificate for tracker.example.com is not trusted (UnknownIssuer); pass \
             --ca-cert or STPT_CA_CERT with the CA that signed it"
        );
        let wrapped = io::Error::new(io::ErrorKind::InvalidData, error);
        assert!(matches!(
            problem(&wrapped),
            Some(rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer
            ))
        ));
    }

    #[test]
    fn a_bundle_without_certificates_is_refused() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("empty.pem");
        std::fs::write(&path, "not a certificate\n").expect("write");
        assert!(matches!(
            client_config(Some(&path)),
            Err(TlsError::Empty { .. })
        ));
        assert!(matches!(
            client_config(Some(&dir.path().join("missing.pem"))),
            Err(TlsError::Read { .. })
        ));
    }
}
