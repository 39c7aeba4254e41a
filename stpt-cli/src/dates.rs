//! Dates as the command line shows them: one human format, and RFC 3339 in every JSON output.
//!
//! The server answers in several formats (the seed's read API `30-12-2018  13:01:57`, the wire
//! format `2018-12-30 13:01:57.5`, RFC 3339), all UTC. People see [`human`]:
//! `2018-12-30 13:01:57 UTC`, whatever the server said. JSON output goes through
//! [`rfc3339_json`], which rewrites every timestamp field (by name, see [`TIMESTAMP_FIELDS`])
//! as RFC 3339 with its zone: `2018-12-30T13:01:57Z`, with a fraction only when there is one.

use chrono::{NaiveDateTime, SecondsFormat};
use serde_json::Value;
use stpt_core::Timestamp;

/// The JSON fields that hold a point in time, in any answer the CLI prints.
pub(crate) const TIMESTAMP_FIELDS: &[&str] = &[
    "timestamp",
    "timestamp_start",
    "timestamp_stop",
    "run_timestamp",
    "last_event_at",
    "closed_at",
    "created_at",
    "revoked_at",
];

/// `2018-12-30 13:01:57 UTC`.
pub(crate) fn human(at: Timestamp) -> String {
    at.as_datetime().format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// A timestamp the server wrote in any of its formats, in the human one; text that is no
/// timestamp is given back as it is.
pub(crate) fn human_text(text: &str) -> String {
    parse_any(text).map_or_else(|| text.to_owned(), human)
}

/// A timestamp in the seed's display format, the wire format or RFC 3339.
pub(crate) fn parse_any(text: &str) -> Option<Timestamp> {
    text.parse().ok().or_else(|| {
        NaiveDateTime::parse_from_str(text.trim(), Timestamp::DISPLAY_FORMAT)
            .ok()
            .map(|naive| Timestamp::from_datetime(naive.and_utc()))
    })
}

/// RFC 3339 in UTC: `2018-12-30T13:01:57Z`, `2018-12-30T13:01:57.500Z`.
pub(crate) fn rfc3339(at: Timestamp) -> String {
    at.as_datetime()
        .to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// Rewrites every timestamp field of `value`, at any depth, as RFC 3339.
pub(crate) fn rfc3339_json(value: &mut Value) {
    match value {
        Value::Object(fields) => {
            for (key, field) in fields.iter_mut() {
                if TIMESTAMP_FIELDS.contains(&key.as_str())
                    && let Value::String(text) = field
                {
                    if let Some(at) = parse_any(text) {
                        *text = rfc3339(at);
                    }
                } else {
                    rfc3339_json(field);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(rfc3339_json),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn every_server_format_reads_the_same_for_people() {
        for text in [
            "30-12-2018  13:01:57",
            "2018-12-30 13:01:57",
            "2018-12-30T14:01:57+01:00",
            "2018-12-30T13:01:57.25Z",
        ] {
            assert_eq!(human_text(text), "2018-12-30 13:01:57 UTC", "{text}");
        }
        assert_eq!(human_text("–"), "–");
    }

    #[test]
    fn json_timestamps_become_rfc3339_with_their_zone() {
        let mut value = json!({
            "timestamp": "30-12-2018  13:01:57",
            "run": {"timestamp_start": "2018-12-30 13:01:57.500000", "closed_at": null},
            "results": [{"run_timestamp": "2018-12-30 13:01:57", "status": "passed"}],
            "started_ago": "3 minutes",
            "file_name": "2018-12-30 13:01:57",
        });
        rfc3339_json(&mut value);
        assert_eq!(
            value,
            json!({
                "timestamp": "2018-12-30T13:01:57Z",
                "run": {"timestamp_start": "2018-12-30T13:01:57.500Z", "closed_at": null},
                "results": [{"run_timestamp": "2018-12-30T13:01:57Z", "status": "passed"}],
                "started_ago": "3 minutes",
                "file_name": "2018-12-30 13:01:57",
            })
        );
    }
}
