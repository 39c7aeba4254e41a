//! Live updates: what the store changed, announced to every listener.

mod hub;

pub use hub::{LiveHub, RunChanged};
