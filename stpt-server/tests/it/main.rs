//! stpt-server's integration tests: the Store conformance suite on SQLite and PostgreSQL,
//! and the HTTP endpoints through Rocket's local client.

mod access;
mod browser;
mod closing;
mod conformance;
mod endpoints;
mod history;
mod hostile;
mod live;
mod metrics;
mod properties;
mod races;
mod support;
mod webhooks;
