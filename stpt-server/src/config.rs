//! The server's configuration, built once by the caller (the CLI from flags and `STPT_*`
//! variables, tests directly).
//!
//! The main type here is [`Config`]; its `Default` is the embedded setup: an SQLite file
//! `stpt.db` in the working directory, served on 127.0.0.1:8000, readable by anyone who can
//! reach it, with ingest open because only this host can reach it.

use std::net::{IpAddr, Ipv4Addr};
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
    /// How much of each test's output is kept (the head and the tail beyond it).
    pub output_limit: stpt_core::OutputLimit,
    /// Database pool sizing.
    pub pool: PoolOptions,
    /// Rocket's own launch and request logging.
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
    /// The server's public base URL (`https://stpt.example.com`), used in mailed reset links.
    /// Links are never built from a request's `Host` header, which a caller controls.
    pub public_url: Option<String>,
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
            output_limit: stpt_core::OutputLimit::default(),
            pool: PoolOptions::default(),
            log: true,
            read_access: ReadAccess::Public,
            ingest_auth: None,
            secret_key: None,
            smtp: None,
            public_url: None,
            stale_after: DEFAULT_STALE_AFTER,
            stale_sweep_every: Duration::from_secs(60),
            live_backlog: crate::live::DEFAULT_BACKLOG,
            allowed_hosts: Vec::new(),
            trusted_proxies: Vec::new(),
            guard: Limits::default(),
        }
    }
}
