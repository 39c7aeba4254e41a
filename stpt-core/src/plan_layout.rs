//! A dry run's plan laid out as the flat rows a store keeps.
//!
//! The main function here is [`lay_out`]. Every store keeps a plan as two lists of rows,
//! scenarios and tests, each numbered the same way: a scenario by its place among the scenarios,
//! a test by its place in the whole run's plan order (the `index` extension), and each by its
//! *occurrence*, the n-th (from 0) node of its kind with the same (file path, file name).
//! Scenarios and tests are counted apart, so a scenario and a test may share a name without
//! changing each other's occurrence. [`MemoryStore`](crate::MemoryStore) and the diesel stores
//! both lay out a plan with it, so they number the same plan the same way.

use std::collections::HashMap;

use crate::wire::MasterScenarioPlan;

/// One scenario of a laid-out plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlannedScenario<'a> {
    /// Its place among the run's scenarios, from 0.
    pub position: u32,
    /// How many scenarios before it had the same path and name.
    pub occurrence: u32,
    /// Its file path.
    pub file_path: &'a str,
    /// Its file name.
    pub file_name: &'a str,
    /// Its script, if the plan gave one.
    pub script: Option<&'a str>,
    /// How many tests it plans.
    pub test_count: usize,
}

/// One test of a laid-out plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlannedTest<'a> {
    /// Its place in the whole run's plan order, from 0.
    pub position: u32,
    /// The index of its scenario in [`PlanLayout::scenarios`].
    pub scenario: usize,
    /// How many tests before it had the same path and name.
    pub occurrence: u32,
    /// Its file path.
    pub file_path: &'a str,
    /// Its file name.
    pub file_name: &'a str,
    /// Its script, if the plan gave one.
    pub script: Option<&'a str>,
}

/// A plan's scenarios and tests in plan order, borrowing the plan's names and scripts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanLayout<'a> {
    /// The scenarios in plan order.
    pub scenarios: Vec<PlannedScenario<'a>>,
    /// Every test in plan order: a scenario's tests follow the previous scenario's.
    pub tests: Vec<PlannedTest<'a>>,
}

impl PlanLayout<'_> {
    /// How many scenarios plan no test (each aggregates to `unknown`).
    pub fn empty_scenarios(&self) -> usize {
        self.scenarios.iter().filter(|s| s.test_count == 0).count()
    }
}

/// Counts of the nodes seen so far by (file path, file name).
#[derive(Default)]
struct Occurrences<'a>(HashMap<(&'a str, &'a str), u32>);

impl<'a> Occurrences<'a> {
    /// The occurrence of the next node with this path and name, counted.
    fn next(&mut self, file_path: &'a str, file_name: &'a str) -> u32 {
        let count = self.0.entry((file_path, file_name)).or_default();
        let occurrence = *count;
        *count = count.saturating_add(1);
        occurrence
    }
}

/// A number that fits in `u32`, or `u32::MAX` for one that does not.
fn saturating_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Lays out `master`'s plan: its scenarios, then all their tests, numbered by position and
/// occurrence.
pub fn lay_out(master: &MasterScenarioPlan) -> PlanLayout<'_> {
    let test_count = master.scenarios.iter().map(|s| s.tests.len()).sum();
    let mut layout = PlanLayout {
        scenarios: Vec::with_capacity(master.scenarios.len()),
        tests: Vec::with_capacity(test_count),
    };
    let mut scenarios_seen = Occurrences::default();
    let mut tests_seen = Occurrences::default();
    for (index, scenario) in master.scenarios.iter().enumerate() {
        layout.scenarios.push(PlannedScenario {
            position: saturating_u32(index),
            occurrence: scenarios_seen.next(&scenario.file_path, &scenario.file_name),
            file_path: &scenario.file_path,
            file_name: &scenario.file_name,
            script: scenario.script.as_deref(),
            test_count: scenario.tests.len(),
        });
        for test in &scenario.tests {
            layout.tests.push(PlannedTest {
                position: saturating_u32(layout.tests.len()),
                scenario: index,
                occurrence: tests_seen.next(&test.file_path, &test.file_name),
                file_path: &test.file_path,
                file_name: &test.file_name,
                script: test.script.as_deref(),
            });
        }
    }
    layout
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Event, EventKind};

    /// A plan repeating names: s.py twice, a.py three times (twice in one scenario), and a
    /// scenario named like a test.
    fn plan() -> MasterScenarioPlan {
        let body = br#"{"machine_name": "m", "timestamp": "2018-12-30 13:01:57", "master_scenario": {"file_name": "master.py", "file_path": "/s", "scenarios": [
            {"file_name": "s.py", "file_path": "/s", "script": "one", "tests": [
                {"file_name": "a.py", "file_path": "/t", "script": "run a"},
                {"file_name": "a.py", "file_path": "/t"},
                {"file_name": "a.py", "file_path": "/other"}]},
            {"file_name": "empty.py", "file_path": "/s"},
            {"file_name": "s.py", "file_path": "/s", "tests": [
                {"file_name": "a.py", "file_path": "/t"},
                {"file_name": "s.py", "file_path": "/s"}]}]}}"#;
        match Event::parse(EventKind::DryRun, body).unwrap() {
            Event::DryRun(dry) => dry.master_scenario,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn scenarios_are_numbered_by_position_and_occurrence() {
        let plan = plan();
        let layout = lay_out(&plan);
        let scenarios: Vec<_> = layout
            .scenarios
            .iter()
            .map(|s| {
                (
                    s.position,
                    s.occurrence,
                    s.file_name,
                    s.script,
                    s.test_count,
                )
            })
            .collect();
        assert_eq!(
            scenarios,
            [
                (0, 0, "s.py", Some("one"), 3),
                (1, 0, "empty.py", None, 0),
                (2, 1, "s.py", None, 2),
            ]
        );
        assert_eq!(layout.empty_scenarios(), 1);
    }

    #[test]
    fn tests_are_numbered_in_plan_order_apart_from_scenarios() {
        let plan = plan();
        let layout = lay_out(&plan);
        let tests: Vec<_> = layout
            .tests
            .iter()
            .map(|t| {
                (
                    t.position,
                    t.scenario,
                    t.occurrence,
                    t.file_path,
                    t.file_name,
                )
            })
            .collect();
        assert_eq!(
            tests,
            [
                (0, 0, 0, "/t", "a.py"),
                (1, 0, 1, "/t", "a.py"),
                // Another path: another count.
                (2, 0, 0, "/other", "a.py"),
                (3, 2, 2, "/t", "a.py"),
                // Named like two scenarios before it, yet the first test so named.
                (4, 2, 0, "/s", "s.py"),
            ]
        );
        assert_eq!(layout.tests[0].script, Some("run a"));
    }

    #[test]
    fn an_empty_plan_lays_out_nothing() {
        let mut plan = plan();
        plan.scenarios.clear();
        assert_eq!(lay_out(&plan), PlanLayout::default());
    }
}
