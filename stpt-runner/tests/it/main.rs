//! Integration tests of stpt-runner: event streams, the HTTP sink against an in-test server,
//! the spool across a simulated crash, and the executor.

mod events;
#[cfg(unix)]
mod executor;
mod http;
mod server;
mod spool;
