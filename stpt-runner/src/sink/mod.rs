//! The places events go: HTTP (spooled), JSON lines (a file, stdout or any writer), memory and
//! a tee over several.
//!
//! Each sink implements stpt-core's [`Sink`](stpt_core::Sink); the in-memory one is stpt-core's
//! [`MemorySink`], re-exported here.

pub mod http;
pub mod json_lines;
pub mod tee;

pub use http::HttpSink;
pub use json_lines::{JsonLinesSink, StdoutSink};
pub use stpt_core::MemorySink;
pub use tee::TeeSink;
