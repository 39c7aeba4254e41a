//! The server's configuration, built once by the caller (the CLI from flags and `STPT_*`
//! variables, tests directly).
//!
//! The main type here is [`Config`]; its `Default` is the embedded setup: an SQLite file
//! `stpt.db` in the working directory, served on 127.0.0.1:8000, readable by anyone who can
//! reach it, with ingest open because only this host can reach it.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

use crate::db::{DatabaseUrl, PoolOptions};
use crate::guard::Limits;

/// Default time a run may stay silent before it is stale: 2 hours.
pub const DEFAULT_STALE_AFTER: Duration = Duration::from_secs(2 * 60 * 60);

/// Default largest request body: 16 MiB, room for a dry run of many thousand scripts.
pub const DEFAULT_BODY_LIMIT: u64 = 16 * 1024 * 1024;

/// Everything the server needs to start.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where runs are stored.
    pub database_url: DatabaseUrl,
    /// Address to listen on.
    pub address: IpAddr,
    /// Port to listen on (0 picks a free one).
    pub port: u16,
    /// Largest accepted request body in bytes; larger ones get 413.
    pub body_limit: u64,
    /// Most events one batch (`POST /api/v1/events`) may hold; more are refused whole (413).
    pub batch_max_events: usize,
    /// How much of each test's output is kept (the head and the tail beyond it).
    pub output_limit: stpt_core::OutputLimit,
    /// Database pool sizing.
    pub pool: PoolOptions,
    /// Rocket's own messages (through the `log` crate: to the subscriber `stpt serve`
    /// installs, else Rocket prints them itself); off silences them.
    pub log: bool,
    /// Who may read pages, the read API and the WebSockets.
    pub read_access: ReadAccess,
    /// Whether ingest needs a machine token; `None` decides from the address
    /// ([`Config::effective_ingest_auth`]).
    pub ingest_auth: Option<IngestAuth>,
    /// Key material for the session cookies (at least 32 bytes); `None` uses a key generated
    /// once and kept in the database.
    pub secret_key: Option<String>,
    /// Where password-reset mail is sent from; `None` means links are only printed by
    /// `stpt user reset-link`.
    pub smtp: Option<SmtpConfig>,
    /// Proxies whose `X-Forwarded-For` / `X-Real-IP` name the client (for the login limits);
    /// anyone else's are ignored.
    pub trusted_proxies: Vec<crate::access::client_addr::ProxyRange>,
    /// Host names the server answers for besides its addresses, `localhost` and the public
    /// URL's host (`stpt.lab`, or `*.lab.example.com` for every subdomain); requests naming
    /// another `Host` are refused (421), which defeats DNS rebinding.
    pub allowed_hosts: Vec<String>,
    /// The server's public base URL (`https://stpt.example.com`): absolute links (mailed
    /// reset links, webhook payloads) start with it.
    /// Links are never built from a request's `Host` header, which a caller controls.
    pub public_url: Option<String>,
    /// The path prefix everything is served under (`/stpt`, made by
    /// [`crate::base_path::normalise`]); empty serves at the root.
    pub base_path: String,
    /// How long an ongoing run may go without an event before it is shown as stale and
    /// closed (its ongoing tests become `unknown`).
    pub stale_after: Duration,
    /// Time between two sweeps closing stale runs.
    pub stale_sweep_every: Duration,
    /// Changes kept for each live listener before a slow one skips ahead and catches up
    /// from the store.
    pub live_backlog: usize,
    /// What the connection guard allows clients (connections, timeouts, sizes); applies when
    /// the app is served with [`crate::Launch`].
    pub guard: Limits,
    /// The certificate chain (PEM, the server's certificate first) to serve HTTPS with; set
    /// with `tls_key`, the guard speaks only HTTPS ([`crate::Launch`]).
    pub tls_cert: Option<PathBuf>,
    /// The private key (PEM: PKCS#8, PKCS#1 or SEC1) of `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// A PEM bundle of CA certificates the server's own HTTPS clients (webhooks, SMTP) trust
    /// besides the system's.
    pub ca_cert: Option<PathBuf>,
    /// What "now" is (the system clock; tests move their own).
    pub clock: crate::clock::Clock,
}

/// Who may read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReadAccess {
    /// Anyone who can reach the server, as the seed.
    #[default]
    Public,
    /// Only logged-in users (pages, API, WebSockets) or machine tokens (API).
    Login,
}

/// Whether ingest needs a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IngestAuth {
    /// Anyone who can reach the server may report.
    Open,
    /// Every event needs `Authorization: Bearer <token>` of its machine.
    Token,
}

/// An SMTP relay for password-reset mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpConfig {
    /// Relay host name; STARTTLS is required unless [`SmtpConfig::insecure`].
    pub host: String,
    /// Relay port (587 for STARTTLS).
    pub port: u16,
    /// Login name, if the relay needs one.
    pub username: Option<String>,
    /// Password for `username`.
    pub password: Option<String>,
    /// The From address.
    pub from: String,
    /// Plain SMTP without TLS (a relay on localhost).
    pub insecure: bool,
}

impl Config {
    /// Whether the server speaks HTTPS itself (both `tls_cert` and `tls_key` set).
    pub fn serves_tls(&self) -> bool {
        self.tls_cert.is_some() && self.tls_key.is_some()
    }

    /// What links for readers elsewhere start with, without a trailing slash: the public URL
    /// (which names the full address, prefix included: `https://example.com/stpt`; one
    /// without a path gains the base path); without one, the base path (links relative to
    /// the server's address).
    pub fn link_base(&self) -> String {
        let Some(url) = self.public_url.as_deref() else {
            return self.base_path.clone();
        };
        let url = url.trim_end_matches('/');
        let has_path = url
            .split_once("://")
            .is_some_and(|(_, rest)| rest.contains('/'));
        if has_path {
            url.to_owned()
        } else {
            format!("{url}{}", self.base_path)
        }
    }

    /// The ingest rule in force: as configured, else open when listening on a loopback
    /// address only and token otherwise.
    pub fn effective_ingest_auth(&self) -> IngestAuth {
        self.ingest_auth.unwrap_or(if self.address.is_loopback() {
            IngestAuth::Open
        } else {
            IngestAuth::Token
        })
    }
}

impl std::str::FromStr for ReadAccess {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "public" => Ok(ReadAccess::Public),
            "login" => Ok(ReadAccess::Login),
            other => Err(format!(
                "unknown read access {other:?}: use public or login"
            )),
        }
    }
}

impl std::str::FromStr for IngestAuth {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "open" => Ok(IngestAuth::Open),
            "token" => Ok(IngestAuth::Token),
            other => Err(format!("unknown ingest auth {other:?}: use open or token")),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            database_url: DatabaseUrl::Sqlite("stpt.db".to_owned()),
            address: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 8000,
            body_limit: DEFAULT_BODY_LIMIT,
            batch_max_events: stpt_core::wire::DEFAULT_MAX_BATCH_EVENTS,
            output_limit: stpt_core::OutputLimit::default(),
            pool: PoolOptions::default(),
            log: true,
            read_access: ReadAccess::Public,
            ingest_auth: None,
            secret_key: None,
            smtp: None,
            public_url: None,
            base_path: String::new(),
            stale_after: DEFAULT_STALE_AFTER,
            stale_sweep_every: Duration::from_secs(60),
            live_backlog: crate::live::DEFAULT_BACKLOG,
            allowed_hosts: Vec::new(),
            trusted_proxies: Vec::new(),
            guard: Limits::default(),
            tls_cert: None,
            tls_key: None,
            ca_cert: None,
            clock: crate::clock::Clock::system(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_start_with_the_public_url() {
        let mut config = Config::default();
        assert_eq!(config.link_base(), "");
        config.public_url = Some("https://stpt.example.com/".to_owned());
        assert_eq!(config.link_base(), "https://stpt.example.com");
    }

    #[test]
    fn links_carry_the_base_path() {
        let mut config = Config {
            base_path: "/stpt".to_owned(),
            ..Config::default()
        };
        assert_eq!(config.link_base(), "/stpt");
        // A public URL without a path gains the prefix; one with a path names it already.
        config.public_url = Some("https://lab.example.com/".to_owned());
        assert_eq!(config.link_base(), "https://lab.example.com/stpt");
        config.public_url = Some("https://lab.example.com/stpt/".to_owned());
        assert_eq!(config.link_base(), "https://lab.example.com/stpt");
    }
}
