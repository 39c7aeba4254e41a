//! stpt-server: the seed-compatible REST API, pages and WebSockets on Rocket, persisted with
//! diesel on SQLite or PostgreSQL.
//!
//! [`build`] makes the Rocket app from a [`Config`]; [`Launch`] serves it on a real port behind
//! the connection [`guard`] (the CLI's `serve` and the tests that need a socket), and most tests
//! drive it with Rocket's local client.
#![warn(missing_docs)]

pub mod access;
pub mod api;
pub mod app;
pub mod base_path;
pub mod clock;
pub mod config;
pub mod db;
pub mod guard;
pub mod launch;
pub mod live;
pub mod metrics;
pub mod pages;
mod request_log;
pub(crate) mod routing;
pub mod stale;
pub mod state;
pub mod webhooks;

pub use app::{build, build_with_access, build_with_store};
pub use config::Config;
pub use launch::{Launch, LaunchError};
pub use state::AppState;
