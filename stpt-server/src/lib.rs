//! stpt-server: the seed-compatible REST API, pages and WebSockets on Rocket, persisted with
//! diesel on SQLite or PostgreSQL.
#![warn(missing_docs)]

pub mod db;
