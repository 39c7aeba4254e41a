//! Live updates: what the store changed, announced to every listener, shared between
//! instances through PostgreSQL and pushed to clients over WebSockets.

pub(crate) mod feed;
mod hub;
mod output;
mod output_relay;
mod relay;
pub(crate) mod ws;

pub use feed::LiveFeed;
pub use hub::{DEFAULT_BACKLOG, LiveHub, RunChanged};
pub use output::{OutputHub, OutputMessage};
pub use relay::RelayError;

/// The WebSocket routes.
pub fn routes() -> Vec<rocket::Route> {
    ws::routes()
}
