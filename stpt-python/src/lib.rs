//! The `stpt._native` extension module: stpt-runner's plan, reporter, sinks and replay for
//! Python harnesses, so Python rigs get the same delivery rules (spool, replay, event ids,
//! retries) as Rust ones, implemented once.
//!
//! The main types here are [`PyPlan`] (`stpt.Plan`), [`PyReporter`] (`stpt.Reporter`) and
//! [`PyDelivery`] (`stpt.Delivery`); the pure-Python package around them (`python/stpt/`) adds
//! the pytest plugin and the Robot Framework listener.
//!
//! **Invariant:** Python sees an exception only for a programming error (an unknown test index,
//! a status that is not one, an invalid plan) or a spool that cannot be opened; a server that
//! is away, slow or refusing is data (`pending`, `problems`), never an exception. Every call
//! that may touch the network releases the GIL.

mod background;

use std::collections::BTreeMap;
use std::fs::File;
use std::path::PathBuf;
use std::time::Duration;

use pyo3::exceptions::{PyIndexError, PyOSError, PyValueError};
use pyo3::prelude::*;
use stpt_core::{
    Event, MasterScenarioPlan, OutputLine, OutputStream, ScenarioPlan, Sink, SinkError, Status,
    TestPlan, Timestamp,
};
use stpt_runner::executor::{OUTPUT_BATCH_BYTES, OUTPUT_BATCH_LINES};
use stpt_runner::{
    HttpConfig, HttpSink, JsonLinesSink, Plan, PlannedTest, Reporter, RetryPolicy,
    default_spool_dir,
};

/// A run's plan: a master scenario, its scenarios in order and their tests in order.
#[pyclass(module = "stpt._native", name = "Plan")]
#[derive(Debug, Clone)]
pub struct PyPlan {
    master: MasterScenarioPlan,
    /// (scenario position, position in the scenario) of every test, in plan order.
    tests: Vec<(usize, usize)>,
}

#[pymethods]
impl PyPlan {
    #[new]
    #[pyo3(signature = (file_name, file_path, script = None))]
    fn new(file_name: String, file_path: String, script: Option<String>) -> Self {
        PyPlan {
            master: MasterScenarioPlan {
                file_name,
                file_path,
                script,
                scenarios: Vec::new(),
            },
            tests: Vec::new(),
        }
    }

    /// Adds a scenario after the previous ones; answers its position.
    #[pyo3(signature = (file_name, file_path, script = None))]
    fn scenario(&mut self, file_name: String, file_path: String, script: Option<String>) -> usize {
        self.master.scenarios.push(ScenarioPlan {
            file_name,
            file_path,
            script,
            tests: Vec::new(),
        });
        self.master.scenarios.len() - 1
    }

    /// Adds a test to the latest scenario; answers its index (its position in the plan).
    #[pyo3(signature = (file_name, file_path, script = None))]
    fn test(
        &mut self,
        file_name: String,
        file_path: String,
        script: Option<String>,
    ) -> PyResult<u32> {
        let scenario_position = self.master.scenarios.len().checked_sub(1).ok_or_else(|| {
            PyValueError::new_err(format!("test {file_name:?} added before any scenario"))
        })?;
        let index = u32::try_from(self.tests.len())
            .map_err(|_| PyValueError::new_err("a plan holds at most 2**32 - 1 tests"))?;
        let scenario = &mut self.master.scenarios[scenario_position];
        scenario.tests.push(TestPlan {
            file_name,
            file_path,
            script,
        });
        self.tests
            .push((scenario_position, scenario.tests.len() - 1));
        Ok(index)
    }

    /// Checks every name against the protocol's rules (not blank, not too long).
    fn validate(&self) -> PyResult<()> {
        self.to_plan().map(drop)
    }

    /// How many tests the plan has.
    fn __len__(&self) -> usize {
        self.tests.len()
    }

    fn __repr__(&self) -> String {
        format!(
            "Plan({:?}, {} scenarios, {} tests)",
            self.master.file_name,
            self.master.scenarios.len(),
            self.tests.len()
        )
    }
}

impl PyPlan {
    fn to_plan(&self) -> PyResult<Plan> {
        Plan::from_master(self.master.clone()).map_err(|e| PyValueError::new_err(error_chain(&e)))
    }
}

/// The sinks a Python reporter can send through.
#[derive(Debug)]
enum AnySink {
    Http(Box<HttpSink>),
    /// An HTTP sink behind a delivery thread, with its spool directory and URL.
    Background(background::BackgroundSink, String, String),
    JsonLines(JsonLinesSink<File>),
}

impl Sink for AnySink {
    fn send(&mut self, event: &Event) -> Result<(), SinkError> {
        match self {
            AnySink::Http(sink) => sink.send(event),
            AnySink::Background(sink, ..) => sink.send(event),
            AnySink::JsonLines(sink) => sink.send(event),
        }
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        match self {
            AnySink::Http(sink) => sink.flush(),
            AnySink::Background(sink, ..) => sink.flush(),
            AnySink::JsonLines(sink) => sink.flush(),
        }
    }
}

/// Reports a run for one machine: a dry run, then a start and a stop per test.
#[pyclass(module = "stpt._native", name = "Reporter")]
#[derive(Debug)]
pub struct PyReporter {
    reporter: Reporter<AnySink>,
    plan: Option<(Plan, Vec<(usize, usize)>)>,
    /// Events refused by the server or lost, for people.
    problems: Vec<String>,
    /// Events the sink took (delivered, or kept for later).
    sent: u64,
}

#[pymethods]
impl PyReporter {
    /// A reporter posting to the stpt server at `url` through a spool directory.
    #[staticmethod]
    #[pyo3(signature = (
        url,
        machine,
        spool_dir = None,
        token = None,
        connect_timeout = 3.0,
        request_timeout = 10.0,
        retries = 4,
        probe_interval = 5.0,
        background = false,
    ))]
    #[expect(clippy::too_many_arguments, reason = "Python keyword arguments")]
    fn http(
        url: String,
        machine: String,
        spool_dir: Option<PathBuf>,
        token: Option<String>,
        connect_timeout: f64,
        request_timeout: f64,
        retries: u32,
        probe_interval: f64,
        background: bool,
    ) -> PyResult<Self> {
        let mut config = HttpConfig::new(url, spool_dir.unwrap_or_else(default_spool_dir));
        config.token = token.filter(|t| !t.is_empty());
        config.connect_timeout = seconds("connect_timeout", connect_timeout)?;
        config.request_timeout = seconds("request_timeout", request_timeout)?;
        config.probe_interval = seconds("probe_interval", probe_interval)?;
        config.retry = if retries <= 1 {
            RetryPolicy::none()
        } else {
            RetryPolicy {
                attempts: retries,
                ..RetryPolicy::default()
            }
        };
        let sink = HttpSink::open(config).map_err(|e| PyOSError::new_err(error_chain(&e)))?;
        let sink = if background {
            let dir = sink.spool().dir().to_string_lossy().into_owned();
            let url = sink.config().url.clone();
            let sink = background::BackgroundSink::start(sink, machine.clone()).map_err(|e| {
                PyOSError::new_err(format!("cannot start the delivery thread: {e}"))
            })?;
            AnySink::Background(sink, dir, url)
        } else {
            AnySink::Http(Box::new(sink))
        };
        Ok(PyReporter::with_sink(machine, sink))
    }

    /// A reporter appending the events as JSON lines to the file at `path`.
    #[staticmethod]
    fn json_lines(path: PathBuf, machine: String) -> PyResult<Self> {
        let sink = JsonLinesSink::create(&path)
            .map_err(|e| PyOSError::new_err(format!("cannot open {}: {e}", path.display())))?;
        Ok(PyReporter::with_sink(machine, AnySink::JsonLines(sink)))
    }

    /// Announces `plan` (every test becomes `waiting`); answers the reporter itself, whose
    /// `with` block delivers what is pending when it ends.
    fn run(mut slf: PyRefMut<'_, Self>, py: Python<'_>, plan: &PyPlan) -> PyResult<Py<Self>> {
        slf.dry_run(py, plan)?;
        Ok(slf.into())
    }

    /// Announces `plan`: every test becomes `waiting` on the server.
    fn dry_run(&mut self, py: Python<'_>, plan: &PyPlan) -> PyResult<()> {
        let built = plan.to_plan()?;
        let reporter = &mut self.reporter;
        let sent = py.allow_threads(|| reporter.dry_run(&built));
        self.plan = Some((built, plan.tests.clone()));
        self.note(sent);
        Ok(())
    }

    /// Reports that the test at `index` starts now; `attempt` (from 2) reruns a finished test.
    #[pyo3(signature = (index, attempt = None))]
    fn start(&mut self, py: Python<'_>, index: u32, attempt: Option<u32>) -> PyResult<()> {
        check_attempt(attempt)?;
        let (plan, tests) = self.plan.as_ref().ok_or_else(no_dry_run)?;
        let test = planned(plan, tests, index)?;
        let reporter = &mut self.reporter;
        let sent = py.allow_threads(|| reporter.start_attempt(&test, attempt));
        self.note(sent);
        Ok(())
    }

    /// Reports that the test at `index` finished now with `status` (a finished status name:
    /// `passed`, `failed`, `error`, `warning`, `skipped`, `unknown`, `cancelled`).
    #[pyo3(signature = (index, status, message = None, attempt = None))]
    fn stop(
        &mut self,
        py: Python<'_>,
        index: u32,
        status: &str,
        message: Option<&str>,
        attempt: Option<u32>,
    ) -> PyResult<()> {
        check_attempt(attempt)?;
        let status: Status = status
            .parse()
            .map_err(|e: stpt_core::UnknownStatus| PyValueError::new_err(e.to_string()))?;
        if status.is_ongoing() {
            return Err(PyValueError::new_err(format!(
                "a stop needs a finished status, not {status}"
            )));
        }
        let (plan, tests) = self.plan.as_ref().ok_or_else(no_dry_run)?;
        let test = planned(plan, tests, index)?;
        let reporter = &mut self.reporter;
        let sent = py.allow_threads(|| reporter.stop_attempt(&test, status, message, attempt));
        self.note(sent);
        Ok(())
    }

    /// Reports lines the test at `index` printed, each with `stream` (`stdout` or `stderr`;
    /// none: unknown) and the time of this call, in batches as the runner's executor cuts
    /// them (at most 1,000 lines or 64 KiB each). No lines, no event.
    #[pyo3(signature = (index, lines, stream = None))]
    fn output(
        &mut self,
        py: Python<'_>,
        index: u32,
        lines: Vec<String>,
        stream: Option<&str>,
    ) -> PyResult<()> {
        let stream = stream
            .map(|name| {
                OutputStream::parse(name).ok_or_else(|| {
                    PyValueError::new_err(format!(
                        "a stream is \"stdout\" or \"stderr\", not {name:?}"
                    ))
                })
            })
            .transpose()?;
        let (plan, tests) = self.plan.as_ref().ok_or_else(no_dry_run)?;
        let test = planned(plan, tests, index)?;
        let now = Timestamp::now();
        let lines = lines.into_iter().map(|text| OutputLine {
            text,
            stream,
            timestamp: Some(now),
        });
        let reporter = &mut self.reporter;
        let sent = py.allow_threads(|| {
            batches(lines)
                .into_iter()
                .map(|batch| reporter.output(&test, batch))
                .collect::<Vec<_>>()
        });
        for outcome in sent {
            self.note(outcome);
        }
        Ok(())
    }

    /// Labels every dry run from now on with `key` = `value` (over the plan's own label of
    /// that key). Raises `ValueError` when the server would refuse the label.
    fn label(&mut self, key: String, value: String) -> PyResult<()> {
        stpt_core::wire::check_label(&key, &value)
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        self.reporter.label(key, value);
        Ok(())
    }

    /// The labels added to every dry run.
    #[getter]
    fn labels(&self) -> BTreeMap<String, String> {
        self.reporter.labels().clone()
    }

    /// Delivers what the sink still holds (for HTTP: the spool, with the retry policy).
    fn flush(&mut self, py: Python<'_>) {
        let reporter = &mut self.reporter;
        let flushed = py.allow_threads(|| reporter.flush());
        if let Err(error) = flushed
            && !matches!(error, SinkError::Deferred { .. })
        {
            self.problems.push(error_chain(&error));
        }
    }

    /// The machine this reporter speaks for.
    #[getter]
    fn machine(&self) -> &str {
        self.reporter.machine_name()
    }

    /// The run id the server answered for the dry run, once delivered.
    #[getter]
    fn run_id(&self) -> Option<i64> {
        match self.reporter.sink() {
            AnySink::Http(sink) => sink.run_id(self.reporter.machine_name()),
            AnySink::Background(sink, ..) => sink.status().run_id,
            AnySink::JsonLines(_) => None,
        }
    }

    /// How many events wait in the spool for the server (0 for other sinks).
    #[getter]
    fn pending(&self) -> usize {
        match self.reporter.sink() {
            AnySink::Http(sink) => sink.spool().pending_count().unwrap_or(0),
            AnySink::Background(sink, ..) => sink.status().pending,
            AnySink::JsonLines(_) => 0,
        }
    }

    /// The spool directory of an HTTP reporter.
    #[getter]
    fn spool_dir(&self) -> Option<String> {
        match self.reporter.sink() {
            AnySink::Http(sink) => Some(sink.spool().dir().to_string_lossy().into_owned()),
            AnySink::Background(_, dir, _) => Some(dir.clone()),
            AnySink::JsonLines(_) => None,
        }
    }

    /// The server's URL of an HTTP reporter.
    #[getter]
    fn url(&self) -> Option<&str> {
        match self.reporter.sink() {
            AnySink::Http(sink) => Some(sink.config().url.as_str()),
            AnySink::Background(_, _, url) => Some(url.as_str()),
            AnySink::JsonLines(_) => None,
        }
    }

    /// Whether the last attempt to reach the server failed.
    #[getter]
    fn offline(&self) -> bool {
        match self.reporter.sink() {
            AnySink::Http(sink) => sink.is_offline(),
            AnySink::Background(sink, ..) => sink.status().offline,
            AnySink::JsonLines(_) => false,
        }
    }

    /// Whether a person aborted the run on the server (`stpt abort`): its later events are
    /// dropped, and a harness should stop running its tests.
    #[getter]
    fn run_aborted(&self) -> bool {
        match self.reporter.sink() {
            AnySink::Background(sink, ..) => sink.status().run_aborted,
            _ => self.reporter.run_aborted(),
        }
    }

    /// Events the sink took so far (delivered or kept for later).
    #[getter]
    fn sent(&self) -> u64 {
        self.sent
    }

    /// What went wrong with single events: refused by the server, or lost (a spool that
    /// cannot be written while the server is away), one sentence each.
    #[getter]
    fn problems(&self) -> Vec<String> {
        let mut problems = self.problems.clone();
        if let AnySink::Background(sink, ..) = self.reporter.sink() {
            problems.extend(sink.status().problems.iter().cloned());
        }
        problems
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&mut self, py: Python<'_>, _exc: &Bound<'_, pyo3::types::PyTuple>) -> bool {
        self.flush(py);
        false
    }

    fn __repr__(&self) -> String {
        match self.reporter.sink() {
            AnySink::Http(sink) => format!(
                "Reporter.http({:?}, machine={:?})",
                sink.config().url,
                self.reporter.machine_name()
            ),
            AnySink::Background(_, _, url) => format!(
                "Reporter.http({url:?}, machine={:?}, background=True)",
                self.reporter.machine_name()
            ),
            AnySink::JsonLines(_) => {
                format!(
                    "Reporter.json_lines(machine={:?})",
                    self.reporter.machine_name()
                )
            }
        }
    }
}

impl PyReporter {
    fn with_sink(machine: String, sink: AnySink) -> Self {
        PyReporter {
            reporter: Reporter::new(machine, sink),
            plan: None,
            problems: Vec::new(),
            sent: 0,
        }
    }

    /// Records one send's outcome: kept-for-later and aborted runs are normal; a refusal or a
    /// loss is a problem people should see.
    fn note(&mut self, sent: Result<(), SinkError>) {
        match sent {
            Ok(()) | Err(SinkError::Deferred { .. }) => self.sent += 1,
            Err(SinkError::RunAborted { .. }) => {}
            Err(error) => self.problems.push(error_chain(&error)),
        }
    }
}

/// What delivering a spool achieved.
#[pyclass(module = "stpt._native", name = "Delivery", get_all, frozen)]
#[derive(Debug, Clone)]
pub struct PyDelivery {
    /// Events the server acknowledged.
    delivered: usize,
    /// Events still pending afterwards.
    pending: usize,
    /// Events dropped because their run was aborted on the server.
    dropped: usize,
    /// Why each refused event was refused (moved to the spool's `rejected/`).
    rejected: Vec<String>,
    /// Why delivery stopped before the end of the spool, if it did.
    interrupted: Option<String>,
}

#[pymethods]
impl PyDelivery {
    fn __repr__(&self) -> String {
        format!(
            "Delivery(delivered={}, pending={}, dropped={}, rejected={})",
            self.delivered,
            self.pending,
            self.dropped,
            self.rejected.len()
        )
    }
}

/// Delivers the events pending in the spool at `spool_dir` (the default spool when `None`) to
/// the server at `url`, in order; delivering twice changes nothing.
#[pyfunction]
#[pyo3(signature = (url, spool_dir = None, token = None))]
fn replay(
    py: Python<'_>,
    url: String,
    spool_dir: Option<PathBuf>,
    token: Option<String>,
) -> PyResult<PyDelivery> {
    let mut config = HttpConfig::new(url, spool_dir.unwrap_or_else(default_spool_dir));
    config.token = token.filter(|t| !t.is_empty());
    let delivery = py
        .allow_threads(|| HttpSink::open(config)?.deliver_pending())
        .map_err(|e| PyOSError::new_err(error_chain(&e)))?;
    Ok(PyDelivery {
        delivered: delivery.delivered,
        pending: delivery.pending,
        dropped: delivery.dropped,
        rejected: delivery.rejected.iter().map(|e| error_chain(e)).collect(),
        interrupted: delivery.interrupted.as_ref().map(|e| error_chain(e)),
    })
}

/// The spool directory used when none is given: `STPT_SPOOL_DIR`, else `stpt/spool` in the
/// user's data directory (as the `stpt` binary and the Rust runner use).
#[pyfunction(name = "default_spool_dir")]
fn py_default_spool_dir() -> String {
    default_spool_dir().to_string_lossy().into_owned()
}

/// `text` cut to at most `limit` characters, deterministically: a longer text keeps its
/// start and ends with `~` and 12 hex digits of a hash of the whole text, so two long names
/// that differ only at the end stay apart.
#[pyfunction]
fn shorten(text: &str, limit: usize) -> PyResult<String> {
    shorten_name(text, limit)
        .ok_or_else(|| PyValueError::new_err(format!("limit {limit} is below 14 characters")))
}

fn shorten_name(text: &str, limit: usize) -> Option<String> {
    const TAIL: usize = 13;
    if text.chars().count() <= limit {
        return Some(text.to_owned());
    }
    let keep = limit.checked_sub(TAIL).filter(|k| *k > 0)?;
    let head: String = text.chars().take(keep).collect();
    Some(format!(
        "{head}~{:012x}",
        fnv1a(text.as_bytes()) & 0xffff_ffff_ffff
    ))
}

/// FNV-1a, 64 bits: stable across runs and platforms (unlike std's hasher), which the
/// shortened names need.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn planned<'a>(plan: &'a Plan, tests: &[(usize, usize)], index: u32) -> PyResult<PlannedTest<'a>> {
    let out_of_range = || PyIndexError::new_err(format!("no test at index {index} in the plan"));
    let (scenario_index, position) = *usize::try_from(index)
        .ok()
        .and_then(|i| tests.get(i))
        .ok_or_else(out_of_range)?;
    let scenario = plan
        .master()
        .scenarios
        .get(scenario_index)
        .ok_or_else(out_of_range)?;
    let test = scenario.tests.get(position).ok_or_else(out_of_range)?;
    Ok(PlannedTest {
        index,
        scenario_index,
        scenario,
        test,
        command: None,
    })
}

/// `lines` cut into batches of at most `OUTPUT_BATCH_LINES` lines and, unless one line is
/// larger alone, `OUTPUT_BATCH_BYTES` bytes.
fn batches(lines: impl IntoIterator<Item = OutputLine>) -> Vec<Vec<OutputLine>> {
    let mut batches = Vec::new();
    let mut batch: Vec<OutputLine> = Vec::new();
    let mut bytes = 0;
    for line in lines {
        if !batch.is_empty()
            && (batch.len() >= OUTPUT_BATCH_LINES || bytes + line.bytes() > OUTPUT_BATCH_BYTES)
        {
            batches.push(std::mem::take(&mut batch));
            bytes = 0;
        }
        bytes += line.bytes();
        batch.push(line);
    }
    if !batch.is_empty() {
        batches.push(batch);
    }
    batches
}

fn check_attempt(attempt: Option<u32>) -> PyResult<()> {
    match attempt {
        Some(0) => Err(PyValueError::new_err("attempts count from 1")),
        _ => Ok(()),
    }
}

fn no_dry_run() -> PyErr {
    PyValueError::new_err("no plan announced yet: call dry_run (or run) first")
}

fn seconds(name: &str, value: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(value).map_err(|_| {
        PyValueError::new_err(format!("{name} must be a non-negative number of seconds"))
    })
}

/// An error with its causes, `: `-separated.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The `stpt._native` module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyPlan>()?;
    m.add_class::<PyReporter>()?;
    m.add_class::<PyDelivery>()?;
    m.add_function(wrap_pyfunction!(replay, m)?)?;
    m.add_function(wrap_pyfunction!(py_default_spool_dir, m)?)?;
    m.add_function(wrap_pyfunction!(shorten, m)?)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortening_is_deterministic_and_keeps_long_names_apart() {
        assert_eq!(shorten_name("short", 256).as_deref(), Some("short"));
        let a = format!("test_x[{}-a]", "p".repeat(300));
        let b = format!("test_x[{}-b]", "p".repeat(300));
        let (sa, sb) = (
            shorten_name(&a, 256).unwrap(),
            shorten_name(&b, 256).unwrap(),
        );
        assert_eq!(sa.chars().count(), 256);
        assert_ne!(sa, sb);
        assert_eq!(shorten_name(&a, 256).unwrap(), sa);
        assert!(sa.starts_with("test_x[ppp"));
        assert_eq!(shorten_name(&a, 10), None);
    }

    #[test]
    fn output_is_cut_into_the_executors_batches() {
        let line = |n: usize| OutputLine {
            text: "x".repeat(n),
            stream: None,
            timestamp: None,
        };
        let sizes = |b: Vec<Vec<OutputLine>>| b.iter().map(Vec::len).collect::<Vec<_>>();
        assert_eq!(
            sizes(batches((0..2500).map(|_| line(1)))),
            [1000, 1000, 500]
        );
        // 64 KiB of 1 KiB lines (1,025 bytes each with the newline): 63 a batch.
        assert_eq!(sizes(batches((0..100).map(|_| line(1024)))), [63, 37]);
        // A line larger than a batch goes alone.
        assert_eq!(sizes(batches([line(1), line(70_000), line(1)])), [1, 1, 1]);
        assert!(batches(Vec::new()).is_empty());
    }

    #[test]
    fn planned_tests_are_found_by_index_across_scenarios() {
        let mut plan = PyPlan::new("session".into(), "/rig".into(), None);
        plan.scenario("a.py".into(), "/rig".into(), None);
        plan.test("t1".into(), "/rig/a.py".into(), None).unwrap();
        plan.scenario("b.py".into(), "/rig".into(), None);
        let index = plan.test("t2".into(), "/rig/b.py".into(), None).unwrap();
        let built = plan.to_plan().unwrap();
        let test = planned(&built, &plan.tests, index).unwrap();
        assert_eq!(
            (test.index, test.scenario_index, test.file_name()),
            (1, 1, "t2")
        );
        assert!(planned(&built, &plan.tests, 2).is_err());
    }
}
