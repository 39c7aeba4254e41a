//! The wire payloads of the seed-compatible protocol, their parsing and their validation, and
//! the other shapes the server sends and its clients read: the error body ([`ErrorBody`]), the
//! pagination envelope ([`Paginated`]), the read answers (`shapes`: [`MachineLastData`],
//! [`RunListItem`], [`FoundRun`]…), the WebSocket frames (`live`), the single ingest
//! endpoints' answer (`ingest`: [`DryRunAccepted`], [`IngestAnswer`]) and the batch ingest's
//! body and answer (`batch`). Serde only, no I/O.
//!
//! The main type here is [`Event`]: a dry run, a test start or a test stop. The runner builds
//! it, sinks carry it, the server parses it with [`Event::parse`] and stores apply it; nothing
//! converts between parallel copies. Serialised, an event is exactly its wire body.
//!
//! With the `openapi` feature the payloads describe themselves as OpenAPI schemas for the
//! server's document; those state the whole contract: names that are not blank and fit the
//! seed's lengths, no NUL character in any text, and a finished status in a stop.
//!
//! **Invariant:** a parsed event has passed [`Event::validate`]: names are not blank and fit
//! the seed's column lengths, so stores never see input they would have to reject for shape.

mod batch;
mod error_body;
mod ingest;
mod live;
mod page;
mod shapes;

pub use batch::{
    BATCH_PATH, BatchAnswer, BatchError, BatchFormat, BatchOutcome, DEFAULT_MAX_BATCH_EVENTS,
    EventAnswer, NDJSON, Unparsed, batch_body, split_batch,
};
pub use error_body::ErrorBody;
pub use ingest::{DryRunAccepted, IngestAnswer};
pub use live::{
    IdStatus, MachineDataMessage, MachineStatusMessage, OutputSkipped, OutputSkippedMessage,
    RunDataMessage, TestOutputFrame, TestOutputMessage,
};
pub use page::Paginated;
pub use shapes::{
    FlakyList, FoundRun, LastMasterScenario, MachineDeleted, MachineLastData, MachineListItem,
    MachineTrend, RunListItem, ScenarioBrief, ScriptDetail, TestBrief, TestHistory,
};

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};

use crate::model::RunId;
use crate::output::{MAX_BATCH_LINES, TestOutput};
use crate::status::Status;
use crate::timestamp::Timestamp;

/// Longest machine name and file name, in characters (the seed's column sizes).
pub const MAX_NAME_CHARS: usize = 256;
/// Longest file path, in characters.
pub const MAX_PATH_CHARS: usize = 1024;
/// Longest client event id, in characters.
pub const MAX_EVENT_ID_CHARS: usize = 128;
/// Most labels one dry run may carry.
pub const MAX_LABELS: usize = 32;
/// Longest label key, in characters (ASCII letters, digits, `_ . - /`).
pub const MAX_LABEL_KEY_CHARS: usize = 64;
/// Longest label value, in characters.
pub const MAX_LABEL_VALUE_CHARS: usize = 256;

/// What a run tested, as key → value (`branch` → `main`, `firmware` → `2.4.1`), in key order.
pub type Labels = BTreeMap<String, String>;

/// The whole plan of a run, sent before any test starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DryRun {
    /// The reporting machine; names compare case-insensitively.
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 256, pattern = r"^[^\x00]*\S[^\x00]*$")
    )]
    pub machine_name: String,
    /// When the runner made the plan.
    pub timestamp: Timestamp,
    /// The root of the plan.
    pub master_scenario: MasterScenarioPlan,
    /// Client-generated id making a retried delivery idempotent (extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 128, pattern = r"^[^\x00]*\S[^\x00]*$")
    )]
    pub event_id: Option<String>,
    /// What the run tested: branch, build, commit, firmware, hardware revision… (extension).
    /// At most 32; keys of 1 to 64 characters among `A-Z a-z 0-9 _ . - /`, values of at most
    /// 256 characters without NUL. Absent or null means none.
    #[serde(
        default,
        deserialize_with = "null_as_empty_map",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = Option<BTreeMap<String, String>>)
    )]
    pub labels: Labels,
}

/// The master scenario of a plan: its script and its ordered scenarios.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MasterScenarioPlan {
    /// File name of the master scenario script.
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 256, pattern = r"^[^\x00]*\S[^\x00]*$")
    )]
    pub file_name: String,
    /// Directory of the script.
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 1024, pattern = r"^[^\x00]*\S[^\x00]*$")
    )]
    pub file_path: String,
    /// Source text of the script; may be empty or null.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(pattern = r"^[^\x00]*$"))]
    pub script: Option<String>,
    /// Scenarios in run order; absent or null means none.
    #[serde(default, deserialize_with = "null_as_empty")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<ScenarioPlan>>))]
    pub scenarios: Vec<ScenarioPlan>,
}

/// One scenario of a plan and its ordered tests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ScenarioPlan {
    /// File name of the scenario script.
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 256, pattern = r"^[^\x00]*\S[^\x00]*$")
    )]
    pub file_name: String,
    /// Directory of the script.
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 1024, pattern = r"^[^\x00]*\S[^\x00]*$")
    )]
    pub file_path: String,
    /// Source text of the script; may be empty or null.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(pattern = r"^[^\x00]*$"))]
    pub script: Option<String>,
    /// Tests in run order; absent or null means none.
    #[serde(default, deserialize_with = "null_as_empty")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<TestPlan>>))]
    pub tests: Vec<TestPlan>,
}

/// One planned test.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TestPlan {
    /// File name of the test script.
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 256, pattern = r"^[^\x00]*\S[^\x00]*$")
    )]
    pub file_name: String,
    /// Directory of the script.
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 1024, pattern = r"^[^\x00]*\S[^\x00]*$")
    )]
    pub file_path: String,
    /// Source text of the script; may be empty or null.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(pattern = r"^[^\x00]*$"))]
    pub script: Option<String>,
}

/// A test is about to run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TestStart {
    /// The reporting machine.
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 256, pattern = r"^[^\x00]*\S[^\x00]*$")
    )]
    pub machine_name: String,
    /// File name of the test.
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 256, pattern = r"^[^\x00]*\S[^\x00]*$")
    )]
    pub file_name: String,
    /// Directory of the test.
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 1024, pattern = r"^[^\x00]*\S[^\x00]*$")
    )]
    pub file_path: String,
    /// When the test started.
    pub timestamp_start: Timestamp,
    /// Client-generated id making a retried delivery idempotent (extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 128, pattern = r"^[^\x00]*\S[^\x00]*$")
    )]
    pub event_id: Option<String>,
    /// The run, as answered by its dry run (extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1))]
    pub run_id: Option<RunId>,
    /// Position of the test in plan order, from 0 (extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u32>,
    /// Which attempt of the test this is, from 1; 2 and more retry a finished test
    /// (extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1))]
    pub attempt: Option<u32>,
}

/// A test has finished with a status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TestStop {
    /// The reporting machine.
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 256, pattern = r"^[^\x00]*\S[^\x00]*$")
    )]
    pub machine_name: String,
    /// File name of the test.
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 256, pattern = r"^[^\x00]*\S[^\x00]*$")
    )]
    pub file_name: String,
    /// Directory of the test.
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 1024, pattern = r"^[^\x00]*\S[^\x00]*$")
    )]
    pub file_path: String,
    /// The outcome.
    #[cfg_attr(feature = "openapi", schema(value_type = StopStatus))]
    pub status: Status,
    /// When the test stopped.
    pub timestamp_stop: Timestamp,
    /// Client-generated id making a retried delivery idempotent (extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 128, pattern = r"^[^\x00]*\S[^\x00]*$")
    )]
    pub event_id: Option<String>,
    /// The run, as answered by its dry run (extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1))]
    pub run_id: Option<RunId>,
    /// Position of the test in plan order, from 0 (extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u32>,
    /// A failure reason or log excerpt (extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(pattern = r"^[^\x00]*$"))]
    pub message: Option<String>,
    /// Which attempt of the test this stop ends; must be the running one's (extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1))]
    pub attempt: Option<u32>,
}

/// The statuses a stop may carry, for the OpenAPI document: every finished status. A stop
/// with an ongoing status (`running`, `waiting`) is refused.
#[cfg(feature = "openapi")]
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
enum StopStatus {
    Cancelled,
    Failed,
    Error,
    Warning,
    Unknown,
    Passed,
}

/// One event of the protocol. Serialises as its wire body (no tag); its kind is told from its
/// fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum Event {
    /// `POST /tm_api/dry_run/`
    DryRun(DryRun),
    /// `POST /tm_api/test_start/`
    TestStart(TestStart),
    /// `POST /tm_api/test_stop/`
    TestStop(TestStop),
    /// `POST /api/v1/runs/<run>/tests/<index>/output` (extension): a batch of a test's output.
    TestOutput(TestOutput),
}

/// Which of the events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A dry run.
    DryRun,
    /// A test start.
    TestStart,
    /// A test stop.
    TestStop,
    /// A batch of a test's output (extension).
    TestOutput,
}

impl EventKind {
    /// Every kind, in protocol order.
    pub const ALL: [EventKind; 4] = [
        EventKind::DryRun,
        EventKind::TestStart,
        EventKind::TestStop,
        EventKind::TestOutput,
    ];

    /// The snake_case name, as in the endpoint path.
    pub const fn as_str(self) -> &'static str {
        match self {
            EventKind::DryRun => "dry_run",
            EventKind::TestStart => "test_start",
            EventKind::TestStop => "test_stop",
            EventKind::TestOutput => "test_output",
        }
    }

    /// The ingest endpoint's path, with its trailing slash; for output, the pattern with
    /// `<run>` and `<index>` (see [`Event::endpoint`]).
    pub const fn path(self) -> &'static str {
        match self {
            EventKind::DryRun => "/tm_api/dry_run/",
            EventKind::TestStart => "/tm_api/test_start/",
            EventKind::TestStop => "/tm_api/test_stop/",
            EventKind::TestOutput => "/api/v1/runs/<run>/tests/<index>/output",
        }
    }

    /// Guesses the kind of a JSON body from its fields: `master_scenario` → dry run,
    /// `lines` → output, `status` or `timestamp_stop` → stop, `timestamp_start` → start.
    pub fn detect(body: &serde_json::Value) -> Option<EventKind> {
        let object = body.as_object()?;
        if object.contains_key("master_scenario") {
            Some(EventKind::DryRun)
        } else if object.contains_key("lines") {
            Some(EventKind::TestOutput)
        } else if object.contains_key("status") || object.contains_key("timestamp_stop") {
            Some(EventKind::TestStop)
        } else if object.contains_key("timestamp_start") {
            Some(EventKind::TestStart)
        } else {
            None
        }
    }
}

/// Why a body is not an acceptable event.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// The body is not JSON at all (or is cut short).
    #[error("malformed JSON: {reason}")]
    MalformedJson {
        /// What the JSON parser said.
        reason: String,
    },
    /// The body is JSON but a field is missing, of the wrong type or has a bad value.
    #[error("{field}: {reason}")]
    InvalidField {
        /// Dotted path of the offending field (`master_scenario.scenarios[0].file_name`), or
        /// `.` for the body itself.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The body's fields match none of the three events.
    #[error("cannot tell which event this is: expected master_scenario, timestamp_start or status")]
    UnknownKind,
}

impl WireError {
    fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        WireError::InvalidField {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

impl Event {
    /// Parses and validates a body posted to the endpoint of `kind`.
    pub fn parse(kind: EventKind, body: &[u8]) -> Result<Event, WireError> {
        let event = match kind {
            EventKind::DryRun => Event::DryRun(from_json(body)?),
            EventKind::TestStart => Event::TestStart(from_json(body)?),
            EventKind::TestStop => Event::TestStop(from_json(body)?),
            EventKind::TestOutput => Event::TestOutput(from_json(body)?),
        };
        event.validate()?;
        Ok(event)
    }

    /// Parses a body of any kind, telling the kind from its fields ([`EventKind::detect`]).
    pub fn parse_detected(body: &[u8]) -> Result<Event, WireError> {
        let value: serde_json::Value =
            serde_json::from_slice(body).map_err(|e| WireError::MalformedJson {
                reason: e.to_string(),
            })?;
        let kind = EventKind::detect(&value).ok_or(WireError::UnknownKind)?;
        Event::parse(kind, body)
    }

    /// Which event this is.
    pub fn kind(&self) -> EventKind {
        match self {
            Event::DryRun(_) => EventKind::DryRun,
            Event::TestStart(_) => EventKind::TestStart,
            Event::TestStop(_) => EventKind::TestStop,
            Event::TestOutput(_) => EventKind::TestOutput,
        }
    }

    /// The reporting machine's name.
    pub fn machine_name(&self) -> &str {
        match self {
            Event::DryRun(e) => &e.machine_name,
            Event::TestStart(e) => &e.machine_name,
            Event::TestStop(e) => &e.machine_name,
            Event::TestOutput(e) => &e.batch.machine_name,
        }
    }

    /// The client event id, if any.
    pub fn event_id(&self) -> Option<&str> {
        match self {
            Event::DryRun(e) => e.event_id.as_deref(),
            Event::TestStart(e) => e.event_id.as_deref(),
            Event::TestStop(e) => e.event_id.as_deref(),
            Event::TestOutput(e) => Some(&e.batch.event_id),
        }
    }

    /// Sets the client event id.
    pub fn set_event_id(&mut self, id: impl Into<String>) {
        let id = id.into();
        match self {
            Event::DryRun(e) => e.event_id = Some(id),
            Event::TestStart(e) => e.event_id = Some(id),
            Event::TestStop(e) => e.event_id = Some(id),
            Event::TestOutput(e) => e.batch.event_id = id,
        }
    }

    /// When the event happened, as the runner says (for output: its first line's time, if
    /// any, else now).
    pub fn timestamp(&self) -> Timestamp {
        match self {
            Event::DryRun(e) => e.timestamp,
            Event::TestStart(e) => e.timestamp_start,
            Event::TestStop(e) => e.timestamp_stop,
            Event::TestOutput(e) => e
                .batch
                .lines
                .first()
                .and_then(|line| line.timestamp)
                .unwrap_or_else(Timestamp::now),
        }
    }

    /// The path this event is posted to (no trailing slash for output); `None` for output
    /// whose run is not known yet.
    pub fn endpoint(&self) -> Option<String> {
        match self {
            Event::TestOutput(output) => Some(format!(
                "/api/v1/runs/{}/tests/{}/output",
                output.run_id?, output.index
            )),
            other => Some(other.kind().path().to_owned()),
        }
    }

    /// Checks lengths and blanks; the error names the field.
    pub fn validate(&self) -> Result<(), WireError> {
        check_name("machine_name", self.machine_name(), MAX_NAME_CHARS)?;
        if let Some(id) = self.event_id() {
            check_name("event_id", id, MAX_EVENT_ID_CHARS)?;
        }
        match self {
            Event::DryRun(dry) => {
                check_labels(&dry.labels)?;
                let master = &dry.master_scenario;
                check_script_node("master_scenario", &master.file_name, &master.file_path)?;
                check_optional_text("master_scenario.script", master.script.as_deref())?;
                for (i, scenario) in master.scenarios.iter().enumerate() {
                    let at = format!("master_scenario.scenarios[{i}]");
                    check_script_node(&at, &scenario.file_name, &scenario.file_path)?;
                    check_optional_text(&join(&at, "script"), scenario.script.as_deref())?;
                    for (j, test) in scenario.tests.iter().enumerate() {
                        let at = format!("{at}.tests[{j}]");
                        check_script_node(&at, &test.file_name, &test.file_path)?;
                        check_optional_text(&join(&at, "script"), test.script.as_deref())?;
                    }
                }
            }
            Event::TestStart(start) => {
                check_script_node("", &start.file_name, &start.file_path)?;
                check_run_id(start.run_id)?;
                check_attempt(start.attempt)?;
            }
            Event::TestStop(stop) => {
                check_script_node("", &stop.file_name, &stop.file_path)?;
                check_stop_status(stop.status)?;
                check_optional_text("message", stop.message.as_deref())?;
                check_run_id(stop.run_id)?;
                check_attempt(stop.attempt)?;
            }
            Event::TestOutput(output) => {
                check_run_id(output.run_id)?;
                check_output_lines(&output.batch.lines)?;
            }
        }
        Ok(())
    }
}

impl From<DryRun> for Event {
    fn from(e: DryRun) -> Self {
        Event::DryRun(e)
    }
}

impl From<TestStart> for Event {
    fn from(e: TestStart) -> Self {
        Event::TestStart(e)
    }
}

impl From<TestStop> for Event {
    fn from(e: TestStop) -> Self {
        Event::TestStop(e)
    }
}

impl From<TestOutput> for Event {
    fn from(e: TestOutput) -> Self {
        Event::TestOutput(e)
    }
}

impl<'de> Deserialize<'de> for Event {
    /// Tells the kind from the fields, as [`Event::parse_detected`] does (no validation).
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let value = serde_json::Value::deserialize(deserializer)?;
        let kind =
            EventKind::detect(&value).ok_or_else(|| D::Error::custom(WireError::UnknownKind))?;
        let event = match kind {
            EventKind::DryRun => serde_json::from_value(value).map(Event::DryRun),
            EventKind::TestStart => serde_json::from_value(value).map(Event::TestStart),
            EventKind::TestStop => serde_json::from_value(value).map(Event::TestStop),
            EventKind::TestOutput => serde_json::from_value(value).map(Event::TestOutput),
        };
        event.map_err(D::Error::custom)
    }
}

fn from_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, WireError> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        let field = err.path().to_string();
        let inner = err.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => {
                let reason = strip_position(&inner);
                match missing_field(&reason) {
                    Some(name) if field == "." => WireError::invalid(name, "missing field"),
                    Some(name) => WireError::invalid(format!("{field}.{name}"), "missing field"),
                    None => WireError::invalid(field, reason),
                }
            }
            _ => WireError::MalformedJson {
                reason: inner.to_string(),
            },
        }
    })?;
    deserializer.end().map_err(|e| WireError::MalformedJson {
        reason: e.to_string(),
    })?;
    Ok(value)
}

/// The field named by serde's "missing field `x`" message.
fn missing_field(reason: &str) -> Option<&str> {
    reason.strip_prefix("missing field `")?.strip_suffix('`')
}

/// serde_json appends " at line 1 column 57" to data errors; the field path says more.
fn strip_position(err: &serde_json::Error) -> String {
    let text = err.to_string();
    match text.rfind(" at line ") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

fn null_as_empty<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(deserializer)?.unwrap_or_default())
}

fn null_as_empty_map<'de, D>(deserializer: D) -> Result<Labels, D::Error>
where
    D: Deserializer<'de>,
{
    Ok(Option::<Labels>::deserialize(deserializer)?.unwrap_or_default())
}

/// True for a label key stpt accepts: 1 to 64 characters among `A-Z a-z 0-9 _ . - /`.
pub fn is_label_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= MAX_LABEL_KEY_CHARS
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b'/'))
}

/// Checks a label's key and value; the error names `labels.<key>` (or `labels` for a bad key).
pub fn check_label(key: &str, value: &str) -> Result<(), WireError> {
    if !is_label_key(key) {
        let shown: String = key.chars().take(MAX_LABEL_KEY_CHARS + 1).collect();
        return Err(WireError::invalid(
            "labels",
            format!(
                "label key {shown:?} must be 1 to {MAX_LABEL_KEY_CHARS} characters among A-Z a-z 0-9 _ . - /"
            ),
        ));
    }
    let field = format!("labels.{key}");
    check_text(&field, value)?;
    let chars = value.chars().count();
    if chars > MAX_LABEL_VALUE_CHARS {
        return Err(WireError::invalid(
            field,
            format!("is {chars} characters long; at most {MAX_LABEL_VALUE_CHARS} are allowed"),
        ));
    }
    Ok(())
}

fn check_labels(labels: &Labels) -> Result<(), WireError> {
    if labels.len() > MAX_LABELS {
        return Err(WireError::invalid(
            "labels",
            format!(
                "has {} labels; at most {MAX_LABELS} are allowed",
                labels.len()
            ),
        ));
    }
    labels
        .iter()
        .try_for_each(|(key, value)| check_label(key, value))
}

fn join(prefix: &str, field: &str) -> String {
    if prefix.is_empty() {
        field.to_owned()
    } else {
        format!("{prefix}.{field}")
    }
}

fn check_script_node(at: &str, file_name: &str, file_path: &str) -> Result<(), WireError> {
    check_name(&join(at, "file_name"), file_name, MAX_NAME_CHARS)?;
    check_name(&join(at, "file_path"), file_path, MAX_PATH_CHARS)
}

/// No text of the protocol may hold a NUL character: PostgreSQL cannot store one in text, and
/// every backend must answer the same.
fn check_text(field: &str, value: &str) -> Result<(), WireError> {
    if value.contains('\0') {
        return Err(WireError::invalid(
            field,
            "must not contain a NUL character (\\u0000)",
        ));
    }
    Ok(())
}

fn check_optional_text(field: &str, value: Option<&str>) -> Result<(), WireError> {
    value.map_or(Ok(()), |value| check_text(field, value))
}

fn check_stop_status(status: Status) -> Result<(), WireError> {
    if status.is_ongoing() {
        return Err(WireError::invalid(
            "status",
            format!(
                "{status} is not an outcome: a stop's status must be one of passed, failed, error, warning, unknown, cancelled"
            ),
        ));
    }
    Ok(())
}

fn check_name(field: &str, value: &str, max_chars: usize) -> Result<(), WireError> {
    check_text(field, value)?;
    if value.trim().is_empty() {
        return Err(WireError::invalid(field, "must not be blank"));
    }
    let chars = value.chars().count();
    if chars > max_chars {
        return Err(WireError::invalid(
            field,
            format!("is {chars} characters long; at most {max_chars} are allowed"),
        ));
    }
    Ok(())
}

fn check_run_id(run_id: Option<RunId>) -> Result<(), WireError> {
    match run_id {
        Some(id) if id <= 0 => Err(WireError::invalid("run_id", "must be a positive run id")),
        _ => Ok(()),
    }
}

/// A batch holds 1 to [`MAX_BATCH_LINES`] lines, none with a NUL character.
pub(crate) fn check_output_lines(lines: &[crate::output::OutputLine]) -> Result<(), WireError> {
    if lines.is_empty() {
        return Err(WireError::invalid("lines", "must hold at least one line"));
    }
    if lines.len() > MAX_BATCH_LINES {
        return Err(WireError::invalid(
            "lines",
            format!(
                "holds {} lines; at most {MAX_BATCH_LINES} are allowed in one batch",
                lines.len()
            ),
        ));
    }
    for (i, line) in lines.iter().enumerate() {
        check_text(&format!("lines[{i}].text"), &line.text)?;
    }
    Ok(())
}

/// Parses and validates the body of an output post (the batch; run and index are the path's).
pub fn parse_output_batch(body: &[u8]) -> Result<crate::output::OutputBatch, WireError> {
    let batch: crate::output::OutputBatch = from_json(body)?;
    check_name("machine_name", &batch.machine_name, MAX_NAME_CHARS)?;
    check_name("event_id", &batch.event_id, MAX_EVENT_ID_CHARS)?;
    check_output_lines(&batch.lines)?;
    Ok(batch)
}

fn check_attempt(attempt: Option<u32>) -> Result<(), WireError> {
    match attempt {
        Some(0) => Err(WireError::invalid("attempt", "must be at least 1")),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempt_zero_is_rejected() {
        let body = r#"{"machine_name": "m", "file_name": "a.py", "file_path": "/", "timestamp_start": "2018-12-30 13:01:57", "attempt": 0}"#;
        let (field, reason) = field_of(error_of(EventKind::TestStart, body));
        assert_eq!(
            (field.as_str(), reason.as_str()),
            ("attempt", "must be at least 1")
        );
        let body = body.replace("\"attempt\": 0", "\"attempt\": 2");
        let Ok(Event::TestStart(start)) = Event::parse(EventKind::TestStart, body.as_bytes())
        else {
            panic!("a second attempt should parse");
        };
        assert_eq!(start.attempt, Some(2));
    }

    fn error_of(kind: EventKind, body: &str) -> WireError {
        Event::parse(kind, body.as_bytes()).unwrap_err()
    }

    fn field_of(err: WireError) -> (String, String) {
        match err {
            WireError::InvalidField { field, reason } => (field, reason),
            other => panic!("expected a field error, got {other:?}"),
        }
    }

    #[test]
    fn output_errors_name_the_bad_lines_field() {
        let cases = [
            (r#"{"stream": "stdweird", "text": "x"}"#, "lines[0].stream"),
            (r#"{"text": 7}"#, "lines[0].text"),
            (
                r#"{"text": "x", "timestamp": "yesterday"}"#,
                "lines[0].timestamp",
            ),
        ];
        for (line, path) in cases {
            let body =
                r#"{"machine_name": "m", "event_id": "e", "index": 0, "lines": [{"text": "ok"}]}"#
                    .replace(r#"[{"text": "ok"}]"#, &format!("[{line}]"));
            let (field, reason) = field_of(error_of(EventKind::TestOutput, &body));
            assert_eq!(field, path, "{body}: {reason}");
        }
        let body = r#"{"machine_name": "m", "event_id": "e", "index": 0, "lines": null}"#;
        let (field, _) = field_of(error_of(EventKind::TestOutput, body));
        assert_eq!(field, "lines");
        let body = r#"{"machine_name": "m", "event_id": "e", "lines": []}"#;
        let (field, reason) = field_of(error_of(EventKind::TestOutput, body));
        assert_eq!(
            (field.as_str(), reason.as_str()),
            ("index", "missing field")
        );
    }

    #[test]
    fn malformed_json_is_not_a_field_error() {
        assert!(matches!(
            error_of(EventKind::TestStart, "{\"machine_name\": "),
            WireError::MalformedJson { .. }
        ));
        assert!(matches!(
            error_of(
                EventKind::TestStart,
                r#"{"machine_name": "m", "file_name": "a.py", "file_path": "/", "timestamp_start": "2018-12-30 13:01:57"} trailing"#
            ),
            WireError::MalformedJson { .. }
        ));
    }

    #[test]
    fn missing_and_mistyped_fields_are_named() {
        let (field, reason) = field_of(error_of(
            EventKind::TestStart,
            r#"{"machine_name": "m", "file_name": "a.py", "timestamp_start": "2018-12-30 13:01:57"}"#,
        ));
        assert_eq!(field, "file_path");
        assert_eq!(reason, "missing field");
        let (field, _) = field_of(error_of(
            EventKind::TestStart,
            r#"{"machine_name": 5, "file_name": "a.py", "file_path": "/", "timestamp_start": "2018-12-30 13:01:57"}"#,
        ));
        assert_eq!(field, "machine_name");
    }

    #[test]
    fn bad_status_and_timestamp_name_their_field() {
        let (field, reason) = field_of(error_of(
            EventKind::TestStop,
            r#"{"machine_name": "m", "file_name": "a.py", "file_path": "/", "status": "green", "timestamp_stop": "2018-12-30 13:01:57"}"#,
        ));
        assert_eq!(field, "status");
        assert!(reason.contains("unknown status \"green\""), "{reason}");
        let (field, reason) = field_of(error_of(
            EventKind::TestStop,
            r#"{"machine_name": "m", "file_name": "a.py", "file_path": "/", "status": "passed", "timestamp_stop": "yesterday"}"#,
        ));
        assert_eq!(field, "timestamp_stop");
        assert!(reason.contains("invalid timestamp"), "{reason}");
    }

    #[test]
    fn blank_and_long_names_are_rejected_with_their_path() {
        let body = r#"{"machine_name": "m", "timestamp": "2018-12-30 13:01:57", "master_scenario": {"file_name": "m.py", "file_path": "/", "scenarios": [{"file_name": "s.py", "file_path": "/", "tests": [{"file_name": " ", "file_path": "/"}]}]}}"#;
        let (field, reason) = field_of(error_of(EventKind::DryRun, body));
        assert_eq!(field, "master_scenario.scenarios[0].tests[0].file_name");
        assert_eq!(reason, "must not be blank");
        let long = "x".repeat(MAX_NAME_CHARS + 1);
        let body = format!(
            r#"{{"machine_name": "{long}", "file_name": "a.py", "file_path": "/", "timestamp_start": "2018-12-30 13:01:57"}}"#
        );
        let (field, reason) = field_of(error_of(EventKind::TestStart, &body));
        assert_eq!(field, "machine_name");
        assert!(reason.contains("257 characters"), "{reason}");
    }

    #[test]
    fn null_scenarios_tests_and_scripts_are_empty() {
        let body = r#"{"machine_name": "m", "timestamp": "2018-12-30 13:01:57", "master_scenario": {"file_name": "m.py", "file_path": "/", "script": null, "scenarios": [{"file_name": "s.py", "file_path": "/", "script": "", "tests": null}]}}"#;
        let Event::DryRun(dry) = Event::parse(EventKind::DryRun, body.as_bytes()).unwrap() else {
            panic!("not a dry run")
        };
        assert_eq!(dry.master_scenario.script, None);
        assert!(dry.master_scenario.scenarios[0].tests.is_empty());
        let body = r#"{"machine_name": "m", "timestamp": "2018-12-30 13:01:57", "master_scenario": {"file_name": "m.py", "file_path": "/"}}"#;
        assert!(Event::parse(EventKind::DryRun, body.as_bytes()).is_ok());
    }

    #[test]
    fn kinds_are_detected_from_fields() {
        let stop = br#"{"machine_name": "m", "file_name": "a.py", "file_path": "/", "status": "passed", "timestamp_stop": "2018-12-30 13:01:57"}"#;
        assert_eq!(
            Event::parse_detected(stop).unwrap().kind(),
            EventKind::TestStop
        );
        assert!(matches!(
            Event::parse_detected(b"{}"),
            Err(WireError::UnknownKind)
        ));
        let event: Event = serde_json::from_slice(stop).unwrap();
        assert_eq!(event.kind(), EventKind::TestStop);
    }

    #[test]
    fn extensions_are_optional_and_checked() {
        let body = br#"{"machine_name": "m", "file_name": "a.py", "file_path": "/", "timestamp_start": "2018-12-30 13:01:57", "run_id": 0}"#;
        let (field, _) = field_of(Event::parse(EventKind::TestStart, body).unwrap_err());
        assert_eq!(field, "run_id");
        let body = br#"{"machine_name": "m", "file_name": "a.py", "file_path": "/", "timestamp_start": "2018-12-30 13:01:57", "index": -1}"#;
        let (field, _) = field_of(Event::parse(EventKind::TestStart, body).unwrap_err());
        assert_eq!(field, "index");
    }

    #[test]
    fn nul_characters_are_refused_in_every_text_field() {
        let start = |machine: &str, name: &str, path: &str, id: &str| {
            format!(
                r#"{{"machine_name": "{machine}", "file_name": "{name}", "file_path": "{path}", "timestamp_start": "2018-12-30 13:01:57", "event_id": "{id}"}}"#
            )
        };
        for (body, wanted) in [
            (start("m\\u0000", "a.py", "/", "e"), "machine_name"),
            (start("m", "a\\u0000.py", "/", "e"), "file_name"),
            (start("m", "a.py", "/\\u0000", "e"), "file_path"),
            (start("m", "a.py", "/", "e\\u0000"), "event_id"),
        ] {
            let (field, reason) =
                field_of(Event::parse(EventKind::TestStart, body.as_bytes()).unwrap_err());
            assert_eq!(field, wanted, "{body}");
            assert!(reason.contains("NUL"), "{reason}");
        }
        let stop = br#"{"machine_name": "m", "file_name": "a.py", "file_path": "/", "status": "failed", "timestamp_stop": "2018-12-30 13:01:57", "message": "boom\u0000"}"#;
        let (field, _) = field_of(Event::parse(EventKind::TestStop, stop).unwrap_err());
        assert_eq!(field, "message");
        let dry = br#"{"machine_name": "m", "timestamp": "2018-12-30 13:01:57", "master_scenario": {"file_name": "m.py", "file_path": "/", "script": "x", "scenarios": [{"file_name": "s.py", "file_path": "/", "tests": [{"file_name": "t.py", "file_path": "/", "script": "print(1)\u0000"}]}]}}"#;
        let (field, _) = field_of(Event::parse(EventKind::DryRun, dry).unwrap_err());
        assert_eq!(field, "master_scenario.scenarios[0].tests[0].script");
        let dry = br#"{"machine_name": "m", "timestamp": "2018-12-30 13:01:57", "master_scenario": {"file_name": "m.py", "file_path": "/", "script": "\u0000"}}"#;
        let (field, _) = field_of(Event::parse(EventKind::DryRun, dry).unwrap_err());
        assert_eq!(field, "master_scenario.script");
    }

    #[test]
    fn labels_are_optional_and_checked_by_path() {
        let dry = |labels: &str| {
            format!(
                r#"{{"machine_name": "m", "timestamp": "2018-12-30 13:01:57", "master_scenario": {{"file_name": "m.py", "file_path": "/"}}{labels}}}"#
            )
        };
        let Ok(Event::DryRun(plain)) = Event::parse(EventKind::DryRun, dry("").as_bytes()) else {
            panic!("a dry run without labels should parse");
        };
        assert!(plain.labels.is_empty());
        assert!(!serde_json::to_string(&plain).unwrap().contains("labels"));
        let Ok(Event::DryRun(null)) =
            Event::parse(EventKind::DryRun, dry(r#", "labels": null"#).as_bytes())
        else {
            panic!("null labels should parse");
        };
        assert!(null.labels.is_empty());
        let Ok(Event::DryRun(labelled)) = Event::parse(
            EventKind::DryRun,
            dry(r#", "labels": {"branch": "main", "hw/rev": "C"}"#).as_bytes(),
        ) else {
            panic!("labels should parse");
        };
        assert_eq!(labelled.labels["branch"], "main");
        assert_eq!(labelled.labels["hw/rev"], "C");

        let long = "v".repeat(MAX_LABEL_VALUE_CHARS + 1);
        for (labels, wanted, says) in [
            (
                r#", "labels": {"branch": 5}"#.to_owned(),
                "labels.branch",
                "invalid type",
            ),
            (
                r#", "labels": {"branch": "a\u0000"}"#.to_owned(),
                "labels.branch",
                "NUL",
            ),
            (
                format!(r#", "labels": {{"branch": "{long}"}}"#),
                "labels.branch",
                "257 characters",
            ),
            (
                r#", "labels": {"a b": "x"}"#.to_owned(),
                "labels",
                "\"a b\"",
            ),
            (r#", "labels": {"": "x"}"#.to_owned(), "labels", "key"),
            (
                r#", "labels": ["branch"]"#.to_owned(),
                "labels",
                "invalid type",
            ),
        ] {
            let (field, reason) =
                field_of(Event::parse(EventKind::DryRun, dry(&labels).as_bytes()).unwrap_err());
            assert_eq!(field, wanted, "{labels}");
            assert!(reason.contains(says), "{labels}: {reason}");
        }
        let many: Vec<String> = (0..=MAX_LABELS)
            .map(|i| format!(r#""k{i}": "v""#))
            .collect();
        let body = dry(&format!(r#", "labels": {{{}}}"#, many.join(", ")));
        let (field, reason) =
            field_of(Event::parse(EventKind::DryRun, body.as_bytes()).unwrap_err());
        assert_eq!(field, "labels");
        assert!(reason.contains("33 labels"), "{reason}");
        assert!(is_label_key(&"k".repeat(MAX_LABEL_KEY_CHARS)));
        assert!(!is_label_key(&"k".repeat(MAX_LABEL_KEY_CHARS + 1)));
        assert!(!is_label_key("branch:x"));
    }

    #[test]
    fn a_stop_must_carry_a_finished_status() {
        for ongoing in ["running", "waiting"] {
            let body = format!(
                r#"{{"machine_name": "m", "file_name": "a.py", "file_path": "/", "status": "{ongoing}", "timestamp_stop": "2018-12-30 13:01:57"}}"#
            );
            let (field, reason) =
                field_of(Event::parse(EventKind::TestStop, body.as_bytes()).unwrap_err());
            assert_eq!(field, "status");
            assert!(reason.contains(ongoing), "{reason}");
        }
        for finished in [
            "passed",
            "failed",
            "error",
            "warning",
            "unknown",
            "cancelled",
        ] {
            let body = format!(
                r#"{{"machine_name": "m", "file_name": "a.py", "file_path": "/", "status": "{finished}", "timestamp_stop": "2018-12-30 13:01:57"}}"#
            );
            assert!(Event::parse(EventKind::TestStop, body.as_bytes()).is_ok());
        }
    }
}
