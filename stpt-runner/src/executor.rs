//! Running a plan's tests as subprocesses and reporting them.
//!
//! The main type here is [`Executor`]: it sends the plan's dry run through a
//! [`Reporter`], then runs each test's [`TestCommand`](crate::TestCommand) in plan order and
//! reports its start and its stop. What happens is handed to a callback as [`Progress`] values;
//! the executor never prints.
//!
//! A test's status:
//! - from its status file, when it wrote one: the executor sets `STPT_STATUS_FILE` to a path
//!   the test may write a status word into (`passed`, `failed`, `error`, `warning`,
//!   `cancelled` or `unknown`), optionally followed by a message on the next lines; any other
//!   word makes the test `error`;
//! - else from its exit code: 0 `passed`, 1 `failed`, anything else (or a signal) `error`;
//! - `error` when it runs longer than its timeout (it is killed), or cannot be started;
//! - `cancelled` when the [`CancelFlag`] is set while it runs (it is killed, and no further
//!   test starts).
//!
//! When the sink says the run was aborted on the server ([`SinkError::RunAborted`], `stpt
//! abort`), the executor says so once ([`Progress::RunAborted`]) and starts no further test:
//! the server already cancelled them.
//!
//! A test's stdout and stderr are read line by line as it prints them and reported live
//! ([`Reporter::output`]) in batches: at most [`OUTPUT_BATCH_LINES`] lines or
//! [`OUTPUT_BATCH_BYTES`] bytes, and no line waits longer than [`OUTPUT_BATCH_DELAY`]; the
//! last batch goes before the stop. Both streams also go to one temporary file; the end of it
//! becomes the stop event's `message` for any status but `passed`.
//!
//! **Invariant:** every test that is reported started is reported stopped, whatever happens to
//! its process. Killing stops the test's own process; processes it spawned are its business.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use stpt_core::{OutputLine, OutputStream, Sink, SinkError, Status, StatusCounts, Timestamp};

use crate::plan::{Plan, PlannedTest};
use crate::reporter::Reporter;

/// Most lines in one batch of a test's output.
pub const OUTPUT_BATCH_LINES: usize = 1000;
/// Most bytes in one batch of a test's output (texts and newlines).
pub const OUTPUT_BATCH_BYTES: u64 = 64 * 1024;
/// Longest a printed line waits before its batch is reported.
pub const OUTPUT_BATCH_DELAY: Duration = Duration::from_millis(100);
/// How long the executor still reads a test's output after its process ended (a process it
/// spawned may hold the pipes open).
const OUTPUT_DRAIN: Duration = Duration::from_secs(1);

/// The environment variable naming the file a test may write its status into.
pub const STATUS_FILE_ENV: &str = "STPT_STATUS_FILE";

/// A flag that cancels a running execution; clones share it. The CLI sets it on Ctrl-C.
#[derive(Debug, Clone, Default)]
pub struct CancelFlag(Arc<AtomicBool>);

impl CancelFlag {
    /// A flag that is not set.
    pub fn new() -> Self {
        CancelFlag::default()
    }

    /// Cancels: the running test is killed and reported `cancelled`, no other test starts.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether [`CancelFlag::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// What happened to one test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestOutcome {
    /// The test's position in plan order.
    pub index: u32,
    /// The reported status.
    pub status: Status,
    /// The process's exit code, when it exited with one.
    pub exit_code: Option<i32>,
    /// How long it ran.
    pub duration: Duration,
    /// The reported message, if any.
    pub message: Option<String>,
    /// The end of the test's combined stdout and stderr.
    pub output: String,
}

/// Something the executor did, for the caller to show or record.
#[derive(Debug)]
#[non_exhaustive]
pub enum Progress<'a> {
    /// A test is about to run (its start was reported).
    Started {
        /// The test.
        test: PlannedTest<'a>,
    },
    /// A test finished (its stop was reported).
    Finished {
        /// The test.
        test: PlannedTest<'a>,
        /// What happened.
        outcome: &'a TestOutcome,
    },
    /// The sink did not take an event; the run goes on.
    SinkFailed {
        /// What the sink said.
        error: &'a SinkError,
    },
    /// The server said the run was aborted (`stpt abort`): no further test starts, and none of
    /// the run's events is sent any more. Said once.
    RunAborted {
        /// What the sink said.
        error: &'a SinkError,
    },
}

/// What a whole execution did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecutionSummary {
    /// One outcome per test that ran, in plan order.
    pub outcomes: Vec<TestOutcome>,
    /// The outcomes' statuses, counted.
    pub counts: StatusCounts,
    /// Whether the execution was cancelled (with the [`CancelFlag`], or because the run was
    /// aborted on the server).
    pub cancelled: bool,
    /// Whether the server said the run was aborted, which cancelled the execution.
    pub aborted: bool,
    /// Tests that never started because of the cancellation.
    pub not_run: usize,
}

/// Runs a plan's tests one after the other.
#[derive(Debug, Clone)]
pub struct Executor {
    cancel: CancelFlag,
    timeout: Option<Duration>,
    poll_interval: Duration,
    output_limit: usize,
}

impl Default for Executor {
    fn default() -> Self {
        Executor::new()
    }
}

impl Executor {
    /// An executor with no default timeout, keeping the last 4 KiB of each test's output.
    pub fn new() -> Self {
        Executor {
            cancel: CancelFlag::new(),
            timeout: None,
            poll_interval: Duration::from_millis(10),
            output_limit: 4096,
        }
    }

    /// The timeout of tests whose command sets none.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Uses `flag` to cancel (for example one set by a Ctrl-C handler).
    #[must_use]
    pub fn with_cancel_flag(mut self, flag: CancelFlag) -> Self {
        self.cancel = flag;
        self
    }

    /// How many bytes of each test's output to keep.
    #[must_use]
    pub fn with_output_limit(mut self, bytes: usize) -> Self {
        self.output_limit = bytes;
        self
    }

    /// The flag that cancels this executor's runs.
    pub fn cancel_flag(&self) -> CancelFlag {
        self.cancel.clone()
    }

    /// Reports `plan`'s dry run, then runs and reports each test in order.
    pub fn run<S: Sink>(
        &self,
        plan: &Plan,
        reporter: &mut Reporter<S>,
        mut on_progress: impl FnMut(Progress<'_>),
    ) -> ExecutionSummary {
        let sent =
            |result: Result<(), SinkError>, on_progress: &mut dyn FnMut(Progress<'_>)| match result
            {
                Ok(()) => {}
                Err(error @ SinkError::RunAborted { .. }) => {
                    on_progress(Progress::RunAborted { error: &error });
                }
                Err(error) => on_progress(Progress::SinkFailed { error: &error }),
            };
        sent(reporter.dry_run(plan), &mut on_progress);
        let mut summary = ExecutionSummary::default();
        let scratch = tempfile::tempdir();
        let tests = plan.tests();
        for (i, test) in tests.iter().enumerate() {
            if self.cancel.is_cancelled() {
                summary.cancelled = true;
                summary.not_run = tests.len() - i;
                break;
            }
            sent(reporter.start(test), &mut on_progress);
            // Aborted before this test: it does not run (the server cancelled it).
            if reporter.run_aborted() {
                summary.not_run = tests.len() - i;
                break;
            }
            on_progress(Progress::Started { test: *test });
            let mut emit = |lines: Vec<OutputLine>| {
                sent(reporter.output(test, lines), &mut on_progress);
            };
            let outcome = match &scratch {
                Ok(dir) => self.run_test(test, dir.path(), &mut emit),
                Err(e) => {
                    failed_before_start(test, format!("cannot make a scratch directory: {e}"))
                }
            };
            sent(
                reporter.stop(test, outcome.status, outcome.message.as_deref()),
                &mut on_progress,
            );
            on_progress(Progress::Finished {
                test: *test,
                outcome: &outcome,
            });
            summary.counts.add(outcome.status);
            summary.outcomes.push(outcome);
            if reporter.run_aborted() {
                summary.not_run = tests.len() - i - 1;
                break;
            }
        }
        summary.cancelled |= self.cancel.is_cancelled();
        sent(reporter.flush(), &mut on_progress);
        summary.aborted = reporter.run_aborted();
        summary.cancelled |= summary.aborted;
        summary
    }

    fn run_test(
        &self,
        test: &PlannedTest<'_>,
        scratch: &Path,
        emit: &mut dyn FnMut(Vec<OutputLine>),
    ) -> TestOutcome {
        let Some(command) = test.command else {
            return failed_before_start(test, "no command to run this test".to_owned());
        };
        let status_path = scratch.join(format!("status-{}", test.index));
        let output_path = scratch.join(format!("output-{}", test.index));
        let capture = match File::create(&output_path) {
            Ok(file) => Arc::new(Mutex::new(file)),
            Err(e) => return failed_before_start(test, format!("cannot capture output: {e}")),
        };
        let mut process = Command::new(&command.program);
        process
            .args(&command.args)
            .env(STATUS_FILE_ENV, &status_path)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(dir) = &command.working_dir {
            process.current_dir(dir);
        }
        let started = Instant::now();
        let mut child = match process.spawn() {
            Ok(child) => child,
            Err(e) => {
                let message = format!("cannot start {:?}: {e}", command.program);
                return failed_before_start(test, message);
            }
        };
        let (lines, readers) = read_outputs(&mut child, &capture);
        let mut batch = OutputBatcher::default();
        let limit = command.timeout.or(self.timeout);
        let ended = self.wait_for(&mut child, started, limit, &lines, &mut batch, emit);
        let duration = started.elapsed();
        // The rest of what it printed, until both pipes close (or a while passed).
        let drain_until = Instant::now() + OUTPUT_DRAIN;
        while readers > 0 && batch.connected && Instant::now() < drain_until {
            batch.receive(&lines, self.poll_interval, emit);
        }
        batch.flush(emit);
        drop(capture);
        let output = read_tail(&output_path, self.output_limit);
        let exit_code = match ended {
            Ended::Exited(code) => code,
            _ => None,
        };
        let (status, note) = self.judge(ended, limit, &status_path);
        let message = match (status, note) {
            (Status::Passed, note) => note,
            (_, note) => join_message(note, &output),
        };
        TestOutcome {
            index: test.index,
            status,
            exit_code,
            duration,
            message,
            output,
        }
    }

    /// Waits for `child`, started at `started`, to end, passing its output lines on meanwhile;
    /// kills it when the run is cancelled or it has run `limit`.
    fn wait_for(
        &self,
        child: &mut Child,
        started: Instant,
        limit: Option<Duration>,
        lines: &mpsc::Receiver<OutputLine>,
        batch: &mut OutputBatcher,
        emit: &mut dyn FnMut(Vec<OutputLine>),
    ) -> Ended {
        loop {
            batch.receive(lines, self.poll_interval, emit);
            match child.try_wait() {
                Ok(Some(exit)) => return Ended::Exited(exit.code()),
                Ok(None) => {}
                Err(e) => return Ended::Lost(e.to_string()),
            }
            let stop = if self.cancel.is_cancelled() {
                Ended::Cancelled
            } else if limit.is_some_and(|limit| started.elapsed() >= limit) {
                Ended::TimedOut
            } else {
                continue;
            };
            let _ = child.kill();
            let _ = child.wait();
            return stop;
        }
    }

    /// The status of a test whose process `ended`, with a note on why.
    fn judge(
        &self,
        ended: Ended,
        limit: Option<Duration>,
        status_path: &Path,
    ) -> (Status, Option<String>) {
        match ended {
            // A test that exits because of the same Ctrl-C was still cancelled.
            _ if self.cancel.is_cancelled() => (Status::Cancelled, Some("cancelled".to_owned())),
            Ended::Cancelled => (Status::Cancelled, Some("cancelled".to_owned())),
            Ended::TimedOut => {
                let secs = limit.unwrap_or_default().as_secs_f64();
                (Status::Error, Some(format!("timed out after {secs} s")))
            }
            Ended::Lost(reason) => (
                Status::Error,
                Some(format!("lost the test process: {reason}")),
            ),
            Ended::Exited(code) => match read_status_file(status_path) {
                Some(Ok((status, message))) => (status, message),
                Some(Err(word)) => (
                    Status::Error,
                    Some(format!(
                        "{STATUS_FILE_ENV} holds {word:?}, not a final status"
                    )),
                ),
                None => match code {
                    Some(0) => (Status::Passed, None),
                    Some(1) => (Status::Failed, Some("exit code 1".to_owned())),
                    Some(code) => (Status::Error, Some(format!("exit code {code}"))),
                    None => (Status::Error, Some("killed by a signal".to_owned())),
                },
            },
        }
    }
}

/// Reads `child`'s stdout and stderr on threads of their own, each line copied to `capture`;
/// answers the lines as they come and how many readers there are.
fn read_outputs(
    child: &mut Child,
    capture: &Arc<Mutex<File>>,
) -> (mpsc::Receiver<OutputLine>, usize) {
    let (lines_tx, lines) = mpsc::channel::<OutputLine>();
    let mut readers = 0;
    if let Some(stdout) = child.stdout.take() {
        readers += 1;
        read_lines(
            stdout,
            OutputStream::Stdout,
            lines_tx.clone(),
            capture.clone(),
        );
    }
    if let Some(stderr) = child.stderr.take() {
        readers += 1;
        read_lines(
            stderr,
            OutputStream::Stderr,
            lines_tx.clone(),
            capture.clone(),
        );
    }
    (lines, readers)
}

/// Reads `pipe` line by line until it closes: each line goes to the capture file and to
/// `lines`, with its stream and the time it was read.
fn read_lines(
    pipe: impl Read + Send + 'static,
    stream: OutputStream,
    lines: mpsc::Sender<OutputLine>,
    capture: Arc<Mutex<File>>,
) {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        let mut buffer = Vec::new();
        loop {
            buffer.clear();
            match reader.read_until(b'\n', &mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            if let Ok(mut file) = capture.lock() {
                let _ = file.write_all(&buffer);
            }
            let text = String::from_utf8_lossy(&buffer);
            let text = text
                .trim_end_matches(['\n', '\r'])
                .replace('\0', "\u{FFFD}");
            let line = OutputLine {
                text,
                stream: Some(stream),
                timestamp: Some(Timestamp::now()),
            };
            if lines.send(line).is_err() {
                break;
            }
        }
    });
}

/// Gathers a test's output lines into batches by count, size and age.
struct OutputBatcher {
    lines: Vec<OutputLine>,
    bytes: u64,
    since: Option<Instant>,
    /// False once every reader has finished.
    connected: bool,
}

impl Default for OutputBatcher {
    fn default() -> Self {
        OutputBatcher {
            lines: Vec::new(),
            bytes: 0,
            since: None,
            connected: true,
        }
    }
}

impl OutputBatcher {
    /// Waits up to `wait` for lines, reporting every batch that is full or old enough.
    fn receive(
        &mut self,
        lines: &mpsc::Receiver<OutputLine>,
        wait: Duration,
        emit: &mut dyn FnMut(Vec<OutputLine>),
    ) {
        let deadline = Instant::now() + wait;
        loop {
            let now = Instant::now();
            let due = self.since.map(|since| since + OUTPUT_BATCH_DELAY);
            if due.is_some_and(|due| due <= now) {
                self.flush(emit);
                continue;
            }
            if now >= deadline || !self.connected {
                return;
            }
            let until = due.map_or(deadline, |due| due.min(deadline));
            match lines.recv_timeout(until - now) {
                Ok(line) => {
                    self.bytes += line.bytes();
                    self.lines.push(line);
                    self.since.get_or_insert(now);
                    if self.lines.len() >= OUTPUT_BATCH_LINES || self.bytes >= OUTPUT_BATCH_BYTES {
                        self.flush(emit);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => self.connected = false,
            }
        }
    }

    /// Reports what is gathered, if anything.
    fn flush(&mut self, emit: &mut dyn FnMut(Vec<OutputLine>)) {
        self.since = None;
        self.bytes = 0;
        if !self.lines.is_empty() {
            emit(std::mem::take(&mut self.lines));
        }
    }
}

/// How a test's process ended.
enum Ended {
    Exited(Option<i32>),
    TimedOut,
    Cancelled,
    Lost(String),
}

fn failed_before_start(test: &PlannedTest<'_>, message: String) -> TestOutcome {
    TestOutcome {
        index: test.index,
        status: Status::Error,
        exit_code: None,
        duration: Duration::ZERO,
        message: Some(message),
        output: String::new(),
    }
}

/// The status word and message a test wrote, `Err(word)` for a word that is not a final
/// status, `None` when it wrote nothing.
fn read_status_file(path: &Path) -> Option<Result<(Status, Option<String>), String>> {
    let text = std::fs::read_to_string(path).ok()?;
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let (word, rest) = text.split_once('\n').unwrap_or((text, ""));
    let word = word.trim();
    let message = Some(rest.trim())
        .filter(|m| !m.is_empty())
        .map(str::to_owned);
    match word.to_lowercase().parse::<Status>() {
        Ok(status) if status.is_finished() => Some(Ok((status, message))),
        _ => Some(Err(word.to_owned())),
    }
}

/// The last `limit` bytes of a file, cut at a character boundary.
fn read_tail(path: &Path, limit: usize) -> String {
    let Ok(mut file) = File::open(path) else {
        return String::new();
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let keep = u64::try_from(limit).unwrap_or(u64::MAX).min(len);
    let mut bytes = Vec::new();
    if file.seek(SeekFrom::Start(len - keep)).is_err() || file.read_to_end(&mut bytes).is_err() {
        return String::new();
    }
    let text = String::from_utf8_lossy(&bytes);
    // A cut in the middle of a character shows as one replacement character at the start.
    text.trim_start_matches('\u{FFFD}').to_owned()
}

fn join_message(note: Option<String>, output: &str) -> Option<String> {
    let output = output.trim();
    match (note, output.is_empty()) {
        (Some(note), false) => Some(format!("{note}\n{output}")),
        (Some(note), true) => Some(note),
        (None, false) => Some(output.to_owned()),
        (None, true) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_file_words_and_messages() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("status");
        assert_eq!(read_status_file(&path), None);
        std::fs::write(&path, "  \n").unwrap();
        assert_eq!(read_status_file(&path), None);
        std::fs::write(&path, "Warning\nslow lamp\n").unwrap();
        assert_eq!(
            read_status_file(&path),
            Some(Ok((Status::Warning, Some("slow lamp".to_owned()))))
        );
        std::fs::write(&path, "running").unwrap();
        assert_eq!(read_status_file(&path), Some(Err("running".to_owned())));
        std::fs::write(&path, "green").unwrap();
        assert_eq!(read_status_file(&path), Some(Err("green".to_owned())));
    }

    #[test]
    fn output_tail_keeps_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out");
        std::fs::write(&path, "ééé-end").unwrap();
        assert_eq!(read_tail(&path, 5), "-end");
        assert_eq!(read_tail(&path, 100), "ééé-end");
        assert_eq!(read_tail(&dir.path().join("none"), 10), "");
    }
}
