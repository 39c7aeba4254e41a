//! A rig that reports the virtual testing machine's run through the HTTP sink one event at a
//! time: it reads a line from stdin before each event and, once the sink has taken the event,
//! prints it as one JSON line on stdout. A test can so kill it at a known point of the run and
//! know exactly which events it produced.
//!
//! Usage: `stepwise-rig <server url> <spool dir> <machine name>`. It stops at the end of stdin.

// The rig's stdout is its protocol with the test driving it.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use stpt_core::{Event, Sink, SinkError};
use stpt_runner::{HttpSink, Reporter};
use stpt_tests::{delivery, plans};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, spool_dir, machine_name] = args.as_slice() else {
        eprintln!("usage: stepwise-rig <server url> <spool dir> <machine name>");
        return ExitCode::from(2);
    };
    let config = delivery::quick_config(url, &PathBuf::from(spool_dir));
    let sink = match HttpSink::open(config) {
        Ok(sink) => sink,
        Err(e) => {
            eprintln!("stepwise-rig: {e}");
            return ExitCode::FAILURE;
        }
    };
    let plan = plans::virtual_testing_machine();
    let mut reporter = Reporter::new(machine_name, Echo { inner: sink });
    let mut steps = std::io::stdin().lock().lines();
    let mut step = || matches!(steps.next(), Some(Ok(_)));
    if !step() {
        return ExitCode::SUCCESS;
    }
    note(reporter.dry_run(&plan));
    for (test, (status, message)) in plan.tests().iter().zip(plans::OUTCOMES) {
        if !step() {
            return ExitCode::SUCCESS;
        }
        note(reporter.start(test));
        if !step() {
            return ExitCode::SUCCESS;
        }
        note(reporter.stop(test, status, message));
    }
    ExitCode::SUCCESS
}

/// Passes events on and prints each one after the inner sink returned (so it is spooled).
struct Echo<S> {
    inner: S,
}

impl<S: Sink> Sink for Echo<S> {
    fn send(&mut self, event: &Event) -> Result<(), SinkError> {
        let result = self.inner.send(event);
        let line = serde_json::to_string(event).map_err(|e| SinkError::Io {
            destination: "stdout".to_owned(),
            source: Box::new(e),
        })?;
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{line}")
            .and_then(|()| stdout.flush())
            .map_err(|e| SinkError::Io {
                destination: "stdout".to_owned(),
                source: Box::new(e),
            })?;
        result
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        self.inner.flush()
    }
}

/// The server is expected to be away: the sink's answers go to stderr for the test's log.
fn note(result: Result<(), SinkError>) {
    if let Err(e) = result {
        eprintln!("stepwise-rig: {e}");
    }
}
