//! `stpt show`: one run as a tree of scenarios and tests with statuses, durations and failure
//! messages.
//!
//! The tree is drawn by [`TreeView`], a stpt-core [`Visitor`] over the [`RunTree`], so it sees
//! the run in the same plan order as every other consumer.

use clap::Args;
use stpt_core::walker::master_status;
use stpt_core::{
    Closure, Node, OutputLog, RunSummary, RunTree, ScenarioTree, Statistics, TestPosition, Visitor,
    walk,
};

use crate::client::{Client, ServerArgs};
use crate::selection::RunSelection;
use crate::{dates, palette, terminal};

/// Most lines of a failure message shown under its test; --json has them all.
const MESSAGE_LINES: usize = 12;
/// Columns before a scenario's name (`├─ ✔ `) and a test's (`│  ├─ ✔ `).
const SCENARIO_INDENT: usize = 5;
const TEST_INDENT: usize = 8;

/// Show one run: its scenarios and tests with statuses, durations and failure messages.
///
/// With --json, prints the run as stpt's `RunTree`: `{"run": {"id", "machine_id", "timestamp",
/// "status", "counts": {<status>: n}, "scenarios", "timestamp_start", "timestamp_stop",
/// "last_event_at", "stale", "closed_at", "closed_as"}, "machine": {"id", "name"}, "master":
/// <node>, "scenarios": [{"node": <node>, "tests": [<node>]}]}` where a node is `{"id", "kind", "run_id", "position", "file_name", "file_path",
/// "script", "status", "timestamp_start", "timestamp_stop", "message"}` and timestamps are RFC 3339
/// (`2018-12-30T13:01:57Z`, or null). `stale` is true for a run still ongoing but
/// silent for longer than the server's stale limit, or closed as stale (`closed_as`); the tree
/// says so under its header.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  stpt show 42\n  stpt show --last lamp-rig")]
pub(crate) struct ShowArgs {
    #[command(flatten)]
    selection: RunSelection,
    /// Print JSON instead of a tree.
    #[arg(long)]
    json: bool,
    /// Print what is kept of one test's output instead of the tree: the test by its index in
    /// plan order (from 0) or its file name (the first in plan order). With --json, the
    /// server's `OutputLog`: `{"test_id", "head", "tail", "total_lines", "total_bytes",
    /// "dropped_lines", "dropped_bytes"}`, each line `{"text", "stream", "timestamp"}`.
    #[arg(long, value_name = "TEST")]
    output: Option<String>,
    #[command(flatten)]
    server: ServerArgs,
}

/// Fetches the run and prints it.
pub(crate) fn run(args: ShowArgs) -> anyhow::Result<()> {
    let server = &args.server;
    let client = Client::new(server)?;
    let tree = args.selection.fetch(&client)?;
    if let Some(wanted) = &args.output {
        let tests: Vec<&Node> = tree.scenarios.iter().flat_map(|s| &s.tests).collect();
        let test = match wanted.parse::<u32>() {
            Ok(index) => tests.iter().find(|t| t.position == index),
            Err(_) => tests.iter().find(|t| &t.file_name == wanted),
        }
        .ok_or_else(|| anyhow::anyhow!("run {} has no test {wanted:?}", tree.run.id))?;
        let log: OutputLog = client.get(&format!("/api/v1/tests/{}/output", test.id))?;
        if args.json {
            return terminal::emit_json(&log);
        }
        let mut text = String::new();
        for line in log.lines() {
            match line {
                Some(line) => text.push_str(&strip_ansi(&line.text)),
                None => text.push_str(&format!(
                    "… {} lines ({} bytes) dropped …",
                    log.dropped_lines, log.dropped_bytes
                )),
            }
            text.push('\n');
        }
        terminal::emit(&text)?;
        return Ok(());
    }
    if args.json {
        return terminal::emit_json(&tree);
    }
    terminal::emit(&render(&tree))?;
    Ok(())
}

/// `text` without ANSI escape sequences (colours, cursor moves): a rig's output shown as
/// plain text, never acting on the reader's terminal.
pub(crate) fn strip_ansi(text: &str) -> String {
    stpt_core::strip_ansi(text)
}

/// The run as human text (with styles).
pub(crate) fn render(tree: &RunTree) -> String {
    let width = tree
        .scenarios
        .iter()
        .flat_map(|s| {
            std::iter::once(s.node.file_name.chars().count() + SCENARIO_INDENT).chain(
                s.tests
                    .iter()
                    .map(|t| t.file_name.chars().count() + TEST_INDENT),
            )
        })
        .max()
        .unwrap_or(0);
    let mut view = TreeView {
        text: String::new(),
        scenarios: tree.scenarios.len(),
        tests_in_scenario: 0,
        last_scenario: false,
        width,
    };
    let statistics = Statistics::of(tree);
    view.header(tree, &statistics);
    walk(tree, &mut view);
    view.text
}

/// Draws a run as an indented tree.
struct TreeView {
    text: String,
    scenarios: usize,
    tests_in_scenario: usize,
    last_scenario: bool,
    /// Columns up to the end of the longest name, so statuses line up.
    width: usize,
}

impl TreeView {
    fn header(&mut self, tree: &RunTree, statistics: &Statistics) {
        let master = &tree.master;
        let status = master_status(&statistics.counts, statistics.empty_scenarios);
        self.text.push_str(&format!(
            "{} {} · {} · {}  {}{}\n",
            palette::bold("run"),
            palette::bold(&tree.run.id.to_string()),
            tree.machine.name,
            master.file_name,
            palette::painted(status, 0),
            duration_text(master, 2),
        ));
        let mut counts: Vec<String> = statistics
            .counts
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(status, n)| format!("{} {n}", palette::painted(status, 0)))
            .collect();
        if counts.is_empty() {
            counts.push("no test".to_owned());
        }
        self.text.push_str(&format!(
            "{}\n",
            palette::dim(&format!(
                "dry run {} · {} · {}",
                dates::human(tree.run.timestamp),
                palette::counted(statistics.scenarios, "scenario"),
                palette::counted(statistics.tests, "test")
            ))
        ));
        self.text.push_str(&counts.join(" · "));
        self.text.push('\n');
        if let Some(note) = stale_note(&tree.run) {
            self.text.push_str(&note);
            self.text.push('\n');
        }
    }
}

/// A line for a stale run: closed as stale, or still ongoing but silent past the server's
/// stale limit, with when the server last heard from it.
fn stale_note(run: &RunSummary) -> Option<String> {
    if !run.stale {
        return None;
    }
    let last_event = run.last_event_at.map_or_else(
        || "no event heard".to_owned(),
        |at| format!("last event {}", dates::human(at)),
    );
    let what = match (run.closed_as, run.closed_at) {
        (Some(Closure::Stale), Some(at)) => format!("closed as stale at {}", dates::human(at)),
        _ => "stale: no event for longer than the server's limit".to_owned(),
    };
    Some(format!(
        "{} · {}",
        palette::bold(&what),
        palette::dim(&last_event)
    ))
}

fn duration_text(node: &Node, gap: usize) -> String {
    match node.duration_seconds() {
        Some(seconds) => format!("{:gap$}{}", "", palette::duration(seconds)),
        None => String::new(),
    }
}

impl Visitor<RunTree> for TreeView {
    fn enter_scenario(&mut self, scenario: &ScenarioTree, index: usize) {
        self.last_scenario = index + 1 == self.scenarios;
        self.tests_in_scenario = scenario.tests.len();
        let node = &scenario.node;
        let branch = if self.last_scenario {
            "└─"
        } else {
            "├─"
        };
        let style = palette::style(node.status);
        self.text.push_str(&format!(
            "{branch} {style}{}{style:#} {:<width$}  {}{}\n",
            palette::mark(node.status),
            node.file_name,
            palette::painted(node.status, 9),
            duration_text(node, 0),
            width = self.width - SCENARIO_INDENT,
        ));
    }

    fn visit_test(&mut self, test: &Node, position: TestPosition) {
        let stem = if self.last_scenario { "   " } else { "│  " };
        let last_test = position.in_scenario + 1 == self.tests_in_scenario;
        let branch = if last_test { "└─" } else { "├─" };
        let style = palette::style(test.status);
        self.text.push_str(&format!(
            "{stem}{branch} {style}{}{style:#} {:<width$}  {}{}\n",
            palette::mark(test.status),
            test.file_name,
            palette::painted(test.status, 9),
            duration_text(test, 0),
            width = self.width - TEST_INDENT,
        ));
        if let Some(message) = test.message.as_deref().filter(|m| !m.trim().is_empty()) {
            let under = if last_test { "   " } else { "│  " };
            let lines: Vec<&str> = message.trim_end().lines().collect();
            for line in lines.iter().take(MESSAGE_LINES) {
                self.text
                    .push_str(&format!("{stem}{under}   {}\n", palette::dim(line)));
            }
            if lines.len() > MESSAGE_LINES {
                self.text.push_str(&format!(
                    "{stem}{under}   {}\n",
                    palette::dim(&format!(
                        "… {} more lines (stpt show {} --json)",
                        lines.len() - MESSAGE_LINES,
                        test.run_id
                    ))
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ansi_sequences_and_control_characters_are_stripped() {
        assert_eq!(
            super::strip_ansi("\u{1b}[1;31mred\u{1b}[0m\tok\u{7}\u{1b}]0;title\u{7}x"),
            "red\tokx"
        );
    }
}
