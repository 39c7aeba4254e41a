//! Events as JSON lines, into a file, stdout or any writer.
//!
//! The main type here is [`JsonLinesSink`]; [`read_json_lines`] reads such a stream back.
//!
//! # Format
//! UTF-8 text, one event per line, each line a JSON object with exactly two fields:
//! - `kind` (string): `"dry_run"`, `"test_start"` or `"test_stop"`, the ingest endpoint the
//!   event is posted to (`/tm_api/<kind>/`).
//! - `event` (object): the event's wire body, exactly as posted to that endpoint:
//!   - every kind: `machine_name` (string); `event_id` (string, a UUID v4 when the reporter
//!     made the event; absent if none was given);
//!   - `dry_run`: `timestamp` (string, `YYYY-MM-DD HH:MM:SS[.ffffff]`, UTC) and
//!     `master_scenario` (`file_name`, `file_path`, `script` (string or null), `scenarios`:
//!     each with `file_name`, `file_path`, `script`, `tests`: each with `file_name`,
//!     `file_path`, `script`);
//!   - `test_start`: `file_name`, `file_path`, `timestamp_start`, and when known `run_id`
//!     (integer) and `index` (integer, the test's position in plan order from 0);
//!   - `test_stop`: the same plus `status` (one of `passed`, `failed`, `error`, `warning`,
//!     `cancelled`, `unknown`, `running`, `waiting`), `timestamp_stop` instead of
//!     `timestamp_start`, and `message` (string) when there is one.
//!
//! ```text
//! {"kind":"test_start","event":{"machine_name":"machine #1","file_name":"01_01_test_lamp.py","file_path":"/rig/01_feature_lamp","timestamp_start":"2018-12-30 13:01:57.573828","event_id":"5f0c…","index":0}}
//! ```
//!
//! **Invariant:** each line is written with a single write call and flushed before `send`
//! returns, so a crash of the harness never leaves half a line behind an earlier whole one
//! unflushed.

use std::fs::File;
use std::io::{BufRead, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};
use stpt_core::{Event, EventKind, Sink, SinkError, WireError};

/// One line of the format.
#[derive(Debug, Clone, Serialize)]
struct Line<'a> {
    kind: EventKind,
    event: &'a Event,
}

/// One line as read back, before validation.
#[derive(Debug, Deserialize)]
struct RawLine {
    kind: EventKind,
    event: serde_json::Value,
}

/// A sink writing one JSON line per event.
#[derive(Debug)]
pub struct JsonLinesSink<W> {
    writer: W,
    destination: String,
}

/// A JSON-lines sink writing to the process's standard output.
pub type StdoutSink = JsonLinesSink<std::io::Stdout>;

impl<W: Write + Send> JsonLinesSink<W> {
    /// A sink writing to `writer`; `destination` names it in errors.
    pub fn new(writer: W, destination: impl Into<String>) -> Self {
        JsonLinesSink {
            writer,
            destination: destination.into(),
        }
    }

    /// Gives the writer back.
    pub fn into_inner(self) -> W {
        self.writer
    }

    fn io_error(&self, source: impl std::error::Error + Send + Sync + 'static) -> SinkError {
        SinkError::Io {
            destination: self.destination.clone(),
            source: Box::new(source),
        }
    }
}

impl JsonLinesSink<File> {
    /// A sink appending to the file at `path`, created if needed.
    pub fn create(path: impl AsRef<Path>) -> std::io::Result<Self> {
        let path = path.as_ref();
        let file = File::options().create(true).append(true).open(path)?;
        Ok(JsonLinesSink::new(file, path.display().to_string()))
    }
}

impl StdoutSink {
    /// A sink writing to standard output.
    pub fn stdout() -> Self {
        JsonLinesSink::new(std::io::stdout(), "stdout")
    }
}

impl<W: Write + Send> Sink for JsonLinesSink<W> {
    fn send(&mut self, event: &Event) -> Result<(), SinkError> {
        let line = Line {
            kind: event.kind(),
            event,
        };
        let mut bytes = serde_json::to_vec(&line).map_err(|e| self.io_error(e))?;
        bytes.push(b'\n');
        self.writer
            .write_all(&bytes)
            .and_then(|()| self.writer.flush())
            .map_err(|e| self.io_error(e))
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        self.writer.flush().map_err(|e| self.io_error(e))
    }
}

/// Why a line could not be read back.
#[derive(Debug, thiserror::Error)]
pub enum JsonLinesError {
    /// Reading failed.
    #[error("cannot read line {line}")]
    Io {
        /// The line number, from 1.
        line: usize,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The line is not a `{"kind", "event"}` object.
    #[error("line {line} is not a JSON-lines event record")]
    Record {
        /// The line number, from 1.
        line: usize,
        /// What the parser said.
        #[source]
        source: serde_json::Error,
    },
    /// The event is not a valid event of its kind.
    #[error("line {line} holds an invalid {kind} event", kind = kind.as_str())]
    Event {
        /// The line number, from 1.
        line: usize,
        /// The kind the line announced.
        kind: EventKind,
        /// What is wrong with it.
        #[source]
        source: WireError,
    },
}

/// Reads events written by a [`JsonLinesSink`], validating each; blank lines are skipped.
pub fn read_json_lines(
    reader: impl BufRead,
) -> impl Iterator<Item = Result<Event, JsonLinesError>> {
    reader.lines().enumerate().filter_map(|(i, line)| {
        let line_no = i + 1;
        match line {
            Ok(text) if text.trim().is_empty() => None,
            Ok(text) => Some(parse_line(line_no, &text)),
            Err(source) => Some(Err(JsonLinesError::Io {
                line: line_no,
                source,
            })),
        }
    })
}

fn parse_line(line: usize, text: &str) -> Result<Event, JsonLinesError> {
    let raw: RawLine =
        serde_json::from_str(text).map_err(|source| JsonLinesError::Record { line, source })?;
    let body = raw.event.to_string();
    Event::parse(raw.kind, body.as_bytes()).map_err(|source| JsonLinesError::Event {
        line,
        kind: raw.kind,
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events() -> Vec<Event> {
        let start = br#"{"machine_name": "m", "file_name": "a.py", "file_path": "/", "timestamp_start": "2018-12-30 13:01:57", "event_id": "e1", "index": 0}"#;
        let stop = br#"{"machine_name": "m", "file_name": "a.py", "file_path": "/", "status": "warning", "timestamp_stop": "2018-12-30 13:01:58.5", "message": "slow"}"#;
        vec![
            Event::parse(EventKind::TestStart, start).unwrap(),
            Event::parse(EventKind::TestStop, stop).unwrap(),
        ]
    }

    #[test]
    fn writes_one_record_per_line_and_reads_them_back() {
        let mut sink = JsonLinesSink::new(Vec::new(), "buffer");
        for event in events() {
            sink.send(&event).unwrap();
        }
        let bytes = sink.into_inner();
        let text = String::from_utf8(bytes.clone()).unwrap();
        insta::assert_snapshot!(text, @r#"
        {"kind":"test_start","event":{"machine_name":"m","file_name":"a.py","file_path":"/","timestamp_start":"2018-12-30 13:01:57","event_id":"e1","index":0}}
        {"kind":"test_stop","event":{"machine_name":"m","file_name":"a.py","file_path":"/","status":"warning","timestamp_stop":"2018-12-30 13:01:58.500000","message":"slow"}}
        "#);
        let back: Vec<Event> = read_json_lines(&bytes[..])
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(back, events());
    }

    #[test]
    fn bad_lines_are_numbered() {
        let text = "\n{\"kind\":\"test_start\",\"event\":{\"machine_name\":\"\"}}\nnope\n";
        let errors: Vec<_> = read_json_lines(text.as_bytes())
            .map(|r| r.unwrap_err())
            .collect();
        assert!(matches!(
            errors[0],
            JsonLinesError::Event {
                line: 2,
                kind: EventKind::TestStart,
                ..
            }
        ));
        assert!(matches!(errors[1], JsonLinesError::Record { line: 3, .. }));
    }

    #[test]
    fn a_file_sink_appends() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        for event in events() {
            JsonLinesSink::create(&path).unwrap().send(&event).unwrap();
        }
        let file = std::io::BufReader::new(File::open(&path).unwrap());
        assert_eq!(read_json_lines(file).count(), 2);
    }
}
