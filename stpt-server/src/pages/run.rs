//! `/machine/run_data/<id>`: one run in full, and `/page_api/node/<kind>/<id>`, the details a
//! click on a node opens (the seed's node shape lacks status, duration and failure message).
//! Being JSON for a script, the details answer their errors as the API does.

use askama::Template;
use rocket::response::content::RawHtml;
use rocket::serde::json::Json;
use rocket::{State, get, routes};
use serde::Serialize;
use stpt_core::{Node, NodeKind, OutputLine, OutputLog, OutputStream, dropped_notice, strip_ansi};

use super::rendering::{Badge, PageError, Staleness, When, duration, html, read, shown};
use crate::api::{ApiError, ErrorBody, query};
use crate::stale::StaleLimit;
use crate::state::AppState;

/// A node as the run page lists it.
struct NodeRow {
    id: i64,
    name: String,
    path: String,
    status: Badge,
    duration: String,
    message: Option<String>,
    /// What is kept of a test's output, when it printed any.
    output: Option<OutputView>,
}

/// A test's kept output as the run page shows it: plain text (ANSI codes stripped), the
/// dropped part as one notice between the head and the tail.
struct OutputView {
    head: Vec<LineView>,
    dropped: Option<String>,
    tail: Vec<LineView>,
    summary: String,
}

struct LineView {
    text: String,
    stderr: bool,
}

impl LineView {
    fn of(line: &OutputLine) -> LineView {
        LineView {
            text: strip_ansi(&line.text),
            stderr: line.stream == Some(OutputStream::Stderr),
        }
    }
}

impl OutputView {
    fn of(log: &OutputLog) -> Option<OutputView> {
        if log.total_lines == 0 {
            return None;
        }
        let dropped = (log.dropped_lines > 0 || !log.tail.is_empty())
            .then(|| dropped_notice(log.dropped_lines, log.dropped_bytes));
        Some(OutputView {
            head: log.head.iter().map(LineView::of).collect(),
            dropped,
            tail: log.tail.iter().map(LineView::of).collect(),
            summary: format!(
                "Output · {} line{}",
                log.total_lines,
                if log.total_lines == 1 { "" } else { "s" }
            ),
        })
    }
}

impl From<&Node> for NodeRow {
    fn from(node: &Node) -> Self {
        NodeRow {
            id: node.id,
            name: node.file_name.clone(),
            path: node.file_path.clone(),
            status: Badge::of(Some(node.status)),
            duration: node_duration(node),
            message: node.message.clone().filter(|m| !m.is_empty()),
            output: None,
        }
    }
}

fn node_duration(node: &Node) -> String {
    node.duration_seconds().map(duration).unwrap_or_default()
}

struct ScenarioRows {
    node: NodeRow,
    tests: Vec<NodeRow>,
}

#[derive(Template)]
#[template(path = "run.html")]
struct RunPage {
    run_id: i64,
    machine_id: i64,
    machine_name: String,
    timestamp: Option<When>,
    started: Option<When>,
    stopped: Option<When>,
    master: NodeRow,
    scenarios: Vec<ScenarioRows>,
    tests: u64,
    finished: u64,
    counts: Vec<(&'static str, u64)>,
    stale: Option<Staleness>,
    labels: Vec<(String, String)>,
}

#[get("/machine/run_data/<id>", rank = 1)]
async fn show_run(
    state: &State<AppState>,
    limit: &State<StaleLimit>,
    id: i64,
) -> Result<RawHtml<String>, PageError> {
    // The tree and every test's kept output, in one trip to the store's worker.
    let found = read(state, move |store| {
        let Some(tree) = store.run(id)? else {
            return Ok(None);
        };
        let mut outputs = std::collections::HashMap::new();
        for test in tree.scenarios.iter().flat_map(|s| &s.tests) {
            if let Some(log) = store.output(test.id)?
                && let Some(view) = OutputView::of(&log)
            {
                outputs.insert(test.id, view);
            }
        }
        Ok(Some((tree, outputs)))
    })
    .await?;
    let (mut tree, mut outputs) =
        found.ok_or_else(|| PageError::NotFound(format!("There is no run with id {id}.")))?;
    limit.mark(&mut tree.run);
    html(&RunPage {
        run_id: tree.run.id,
        machine_id: tree.machine.id,
        machine_name: tree.machine.name.clone(),
        timestamp: When::of(Some(tree.run.timestamp)),
        started: When::of(tree.master.timestamp_start),
        stopped: When::of(tree.master.timestamp_stop),
        labels: tree.run.labels.clone().into_iter().collect(),
        master: NodeRow::from(&tree.master),
        scenarios: tree
            .scenarios
            .iter()
            .map(|s| ScenarioRows {
                node: NodeRow::from(&s.node),
                tests: s
                    .tests
                    .iter()
                    .map(|t| NodeRow {
                        output: outputs.remove(&t.id),
                        ..NodeRow::from(t)
                    })
                    .collect(),
            })
            .collect(),
        tests: tree.run.tests(),
        finished: tree.run.counts.finished(),
        counts: tree
            .run
            .counts
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(s, n)| (s.as_str(), n))
            .collect(),
        stale: Staleness::of(&tree.run),
    })
}

/// What the details panel shows.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct NodeDetail {
    kind: &'static str,
    file_name: String,
    file_path: String,
    script: Option<String>,
    status: &'static str,
    timestamp_start: String,
    timestamp_stop: String,
    duration: String,
    message: Option<String>,
}

#[utoipa::path(
    tag = "pages",
    summary = "A node's details, as the run page's panel shows them",
    description = "Made for the run page's script; it may change with the page.",
    params(
        ("kind" = NodeKind, Path, description = "what the id names"),
        ("id" = i64, Path, description = "the node's id", example = 1),
    ),
    responses(
        (status = 200, description = "the node", body = NodeDetail),
        (status = 401, description = "read access needs a login session or a machine token (`--read-access login`)", body = ErrorBody),
        (status = 404, description = "no node of this kind has this id, or the kind is unknown", body = ErrorBody),
        (status = 422, description = "the id is not a 64-bit integer", body = ErrorBody),
        (status = 503, description = "the database is busy; retry", body = ErrorBody),
    )
)]
#[get("/page_api/node/<kind>/<id>")]
async fn node_detail(
    state: &State<AppState>,
    kind: &str,
    id: i64,
) -> Result<Json<NodeDetail>, ApiError> {
    let (kind, label) = match kind {
        "master" => (NodeKind::Master, "master scenario"),
        "scenario" => (NodeKind::Scenario, "scenario"),
        "test" => (NodeKind::Test, "test"),
        _ => {
            return Err(ApiError::not_found(
                "unknown_kind",
                format!("there is no kind of node {kind:?}: use master, scenario or test"),
            ));
        }
    };
    let node = query(state, move |store| store.node(kind, id)).await?;
    let node =
        node.ok_or_else(|| ApiError::not_found("not_found", format!("no {label} has id {id}")))?;
    Ok(Json(NodeDetail {
        kind: label,
        duration: node_duration(&node),
        timestamp_start: shown(node.timestamp_start),
        timestamp_stop: shown(node.timestamp_stop),
        status: node.status.as_str(),
        file_name: node.file_name,
        file_path: node.file_path,
        script: node.script,
        message: node.message,
    }))
}

pub(super) fn routes() -> Vec<rocket::Route> {
    routes![show_run, node_detail]
}
