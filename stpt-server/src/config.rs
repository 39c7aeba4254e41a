//! The server's configuration, built once by the caller (the CLI from flags and `STPT_*`
//! variables, tests directly).
//!
//! The main type here is [`Config`]; its `Default` is the embedded setup: an SQLite file
//! `stpt.db` in the working directory, served on 127.0.0.1:8000.

use std::net::{IpAddr, Ipv4Addr};

use crate::db::{DatabaseUrl, PoolOptions};

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
    /// Database pool sizing.
    pub pool: PoolOptions,
    /// Rocket's own launch and request logging.
    pub log: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            database_url: DatabaseUrl::Sqlite("stpt.db".to_owned()),
            address: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 8000,
            body_limit: DEFAULT_BODY_LIMIT,
            pool: PoolOptions::default(),
            log: true,
        }
    }
}
