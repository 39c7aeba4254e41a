//! stpt-server: the seed-compatible REST API, pages and WebSockets on Rocket, persisted with
//! diesel on SQLite or PostgreSQL.
//!
//! [`build`] makes the Rocket app from a [`Config`]; the CLI's `serve` launches it and tests
//! drive it with Rocket's local client.
#![warn(missing_docs)]

pub mod access;
pub mod api;
pub mod app;
pub mod config;
pub mod db;
pub mod live;
mod log;
pub mod metrics;
pub mod pages;
pub mod stale;
pub mod webhooks;

pub use app::{AppState, build, build_with_access, build_with_store};
pub use config::Config;
