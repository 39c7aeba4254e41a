//! stpt-server's integration tests: the Store conformance suite on SQLite and PostgreSQL,
//! the HTTP endpoints through Rocket's local client, and real servers (behind the connection
//! guard) for WebSockets, the guard's limits and the browser.

mod access;
mod browser;
mod closing;
mod conformance;
mod endpoints;
mod guard;
mod history;
mod live;
mod metrics;
mod races;
mod support;
mod webhooks;
