//! `stpt send`: post event files (dry run, test start, test stop) to the server.
//!
//! A file holds one JSON event, a JSON array of events, or JSON lines (one event a line, as
//! the runner's JSON-lines sink writes); `-` reads stdin. Each event's kind is told from its
//! fields (`stpt_core::Event::parse_detected`) and it is checked before it is sent. Events are
//! posted in order and the first refusal stops the command, since later events of a run
//! depend on earlier ones.

use std::io::Read;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use serde::Serialize;
use stpt_core::wire::IngestAnswer;
use stpt_core::{Event, EventKind};

use crate::client::{Client, ServerArgs};
use crate::{palette, terminal};

/// Post event files to the server: dry runs, test starts and test stops.
///
/// Each file is one JSON event, a JSON array of events, or JSON lines; `-` is stdin. With
/// --json, prints one JSON line per event sent: `{"source": "<file>:<line or item>", "kind":
/// "dry_run" | "test_start" | "test_stop", "machine_name", "answer": <server's JSON answer>}`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  stpt send dry_run.json start.json stop.json\n  stpt-harness --jsonl | stpt send -"
)]
pub(crate) struct SendArgs {
    /// Event files (`-` for stdin), sent in the order given.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Check the events without sending them.
    #[arg(long)]
    check: bool,
    /// Print JSON lines instead of sentences.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(Debug, Serialize)]
struct SentJson<'a> {
    source: &'a str,
    kind: EventKind,
    machine_name: &'a str,
    answer: serde_json::Value,
}

/// One event and where it came from.
struct Located {
    source: String,
    event: Event,
}

/// Reads every file, then posts the events in order.
pub(crate) fn run(args: SendArgs) -> anyhow::Result<()> {
    let server = &args.server;
    let mut events = Vec::new();
    for file in &args.files {
        let (name, bytes) = read_source(file)?;
        events.extend(parse_events(&name, &bytes)?);
    }
    let client = Client::new(server)?;
    for located in &events {
        let Located { source, event } = located;
        if args.check {
            terminal::emit(&format!(
                "{} {} for {} ({source})\n",
                palette::dim("ok"),
                event.kind().as_str(),
                event.machine_name()
            ))?;
            continue;
        }
        let answer = client.post_event(event).with_context(|| {
            format!(
                "{source}: the {} for {} was not accepted",
                event.kind().as_str(),
                event.machine_name()
            )
        })?;
        if args.json {
            terminal::emit_json_line(&SentJson {
                source,
                kind: event.kind(),
                machine_name: event.machine_name(),
                answer,
            })?;
        } else {
            let run = IngestAnswer::read(&answer)
                .run_id
                .map(|id| format!(" → run {id}"))
                .unwrap_or_default();
            terminal::emit(&format!(
                "sent {} for {}{run} ({source})\n",
                event.kind().as_str(),
                event.machine_name()
            ))?;
        }
    }
    if events.is_empty() {
        anyhow::bail!("no event in the given files");
    }
    Ok(())
}

fn read_source(file: &PathBuf) -> anyhow::Result<(String, Vec<u8>)> {
    if file.as_os_str() == "-" {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .context("cannot read stdin")?;
        return Ok(("stdin".to_owned(), bytes));
    }
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    Ok((file.display().to_string(), bytes))
}

/// The events of one source: a JSON value (an event or an array of them), else JSON lines.
fn parse_events(name: &str, bytes: &[u8]) -> anyhow::Result<Vec<Located>> {
    match serde_json::from_slice::<serde_json::Value>(bytes) {
        Ok(serde_json::Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let source = format!("{name}[{i}]");
                let body = serde_json::to_vec(item)?;
                let event = Event::parse_detected(&body)
                    .with_context(|| format!("{source} is not a valid event"))?;
                Ok(Located { source, event })
            })
            .collect(),
        Ok(_) => {
            let event = Event::parse_detected(bytes)
                .with_context(|| format!("{name} is not a valid event"))?;
            Ok(vec![Located {
                source: name.to_owned(),
                event,
            }])
        }
        Err(_) => {
            let text =
                std::str::from_utf8(bytes).with_context(|| format!("{name} is not UTF-8 text"))?;
            text.lines()
                .enumerate()
                .filter(|(_, line)| !line.trim().is_empty())
                .map(|(i, line)| {
                    let source = format!("{name}:{}", i + 1);
                    let event = Event::parse_detected(line.as_bytes())
                        .with_context(|| format!("{source} is not a valid event"))?;
                    Ok(Located { source, event })
                })
                .collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const START: &str = r#"{"machine_name": "m", "file_name": "a.py", "file_path": "/t", "timestamp_start": "2018-12-30 13:01:57"}"#;
    const STOP: &str = r#"{"machine_name": "m", "file_name": "a.py", "file_path": "/t", "status": "passed", "timestamp_stop": "2018-12-30 13:01:58"}"#;

    fn kinds(events: &[Located]) -> Vec<(&str, EventKind)> {
        events
            .iter()
            .map(|l| (l.source.as_str(), l.event.kind()))
            .collect()
    }

    #[test]
    fn reads_one_event_an_array_or_json_lines() {
        let one = parse_events("a.json", START.as_bytes()).unwrap();
        assert_eq!(kinds(&one), [("a.json", EventKind::TestStart)]);
        let array = parse_events("b.json", format!("[{START}, {STOP}]").as_bytes()).unwrap();
        assert_eq!(
            kinds(&array),
            [
                ("b.json[0]", EventKind::TestStart),
                ("b.json[1]", EventKind::TestStop)
            ]
        );
        let lines = parse_events("c.jsonl", format!("{START}\n\n{STOP}\n").as_bytes()).unwrap();
        assert_eq!(
            kinds(&lines),
            [
                ("c.jsonl:1", EventKind::TestStart),
                ("c.jsonl:3", EventKind::TestStop)
            ]
        );
    }

    #[test]
    fn a_bad_line_is_named() {
        let error = parse_events("c.jsonl", format!("{START}\n{{\"x\": 1}}\n").as_bytes())
            .err()
            .unwrap();
        assert_eq!(
            format!("{error:#}"),
            "c.jsonl:2 is not a valid event: cannot tell which event this is: expected \
             master_scenario, timestamp_start or status"
        );
    }
}
