//! The event stream of a harness, made stable for snapshot tests.
//!
//! The main function here is [`redacted_events`]: the events as the JSON-lines format writes
//! them (`{"kind", "event"}` records), with every value that changes from one run to the next
//! (timestamps, event ids, run ids) replaced by a placeholder. Harness authors run their
//! harness against a [`MemorySink`](stpt_core::MemorySink) and snapshot the result with insta:
//!
//! ```
//! use stpt_core::{MemorySink, Status};
//! use stpt_runner::{Plan, Reporter, snapshot::redacted_events};
//!
//! let plan = Plan::builder("master.py", "/rig")
//!     .scenario("scenario_lamp.py", "/rig")
//!     .test("01_test_lamp.py", "/rig/lamp")
//!     .build()?;
//! let sink = MemorySink::new();
//! let mut reporter = Reporter::new("rig", sink.clone());
//! reporter.dry_run(&plan)?;
//! let test = plan.tests()[0];
//! reporter.start(&test)?;
//! reporter.stop(&test, Status::Passed, None)?;
//!
//! let events = redacted_events(&sink.events());
//! assert_eq!(events[2]["event"]["timestamp_stop"], "[timestamp]");
//! assert_eq!(events[2]["event"]["event_id"], "[event_id]");
//! // In a test: insta::assert_json_snapshot!(events);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! **Invariant:** only the fields named in [`REDACTED_FIELDS`] change; the order of events and
//! everything a harness decides (names, paths, statuses, messages, indexes) stay as sent.

use serde_json::{Value, json};
use stpt_core::Event;

/// Event fields whose values [`redacted_events`] replaces, with their placeholders.
pub const REDACTED_FIELDS: [(&str, &str); 5] = [
    ("timestamp", "[timestamp]"),
    ("timestamp_start", "[timestamp]"),
    ("timestamp_stop", "[timestamp]"),
    ("event_id", "[event_id]"),
    ("run_id", "[run_id]"),
];

fn redact(body: &mut Value) {
    if let Value::Object(fields) = body {
        for (field, placeholder) in REDACTED_FIELDS {
            if let Some(value) = fields.get_mut(field) {
                *value = Value::from(placeholder);
            }
        }
    }
}

/// The events as `[{"kind", "event"}, …]`, with timestamps and ids redacted (an output
/// line's `timestamp` too).
pub fn redacted_events(events: &[Event]) -> Value {
    Value::Array(
        events
            .iter()
            .map(|event| {
                let mut body = serde_json::to_value(event).unwrap_or(Value::Null);
                redact(&mut body);
                // Output lines carry their own times.
                if let Some(Value::Array(lines)) = body.get_mut("lines") {
                    lines.iter_mut().for_each(redact);
                }
                json!({ "kind": event.kind().as_str(), "event": body })
            })
            .collect(),
    )
}
