//! Depth-first walks over a plan or a stored run.
//!
//! The main types here are [`Hierarchy`], implemented by the dry-run plan
//! ([`MasterScenarioPlan`]) and a stored run ([`RunTree`]), and [`Visitor`], whose enter/leave
//! hooks are called master → scenario → tests in plan order. Statistics, exports, the CLI tree
//! and the pages are visitors, so they all see the tree in the same order.

use crate::model::{Node, RunTree, ScenarioTree};
use crate::status::{Status, StatusCounts};
use crate::wire::{MasterScenarioPlan, ScenarioPlan, TestPlan};

/// A master → scenarios → tests tree.
pub trait Hierarchy {
    /// The master scenario's type.
    type Master;
    /// A scenario's type.
    type Scenario;
    /// A test's type.
    type Test;

    /// The root.
    fn master(&self) -> &Self::Master;
    /// Scenarios in plan order.
    fn scenarios(&self) -> &[Self::Scenario];
    /// Tests of one scenario in plan order.
    fn tests(scenario: &Self::Scenario) -> &[Self::Test];
}

/// Where a test stands in the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TestPosition {
    /// Index of its scenario.
    pub scenario: usize,
    /// Index within its scenario.
    pub in_scenario: usize,
    /// Index in the whole run's plan order (the `index` extension).
    pub index: usize,
}

/// Hooks called by [`walk`]; every hook does nothing unless overridden.
pub trait Visitor<H: Hierarchy + ?Sized> {
    /// Before anything else.
    fn enter_master(&mut self, _master: &H::Master) {}
    /// After everything else.
    fn leave_master(&mut self, _master: &H::Master) {}
    /// Before a scenario's tests.
    fn enter_scenario(&mut self, _scenario: &H::Scenario, _index: usize) {}
    /// After a scenario's tests.
    fn leave_scenario(&mut self, _scenario: &H::Scenario, _index: usize) {}
    /// One test.
    fn visit_test(&mut self, _test: &H::Test, _position: TestPosition) {}
}

/// Visits `tree` depth-first in plan order.
pub fn walk<H: Hierarchy + ?Sized, V: Visitor<H> + ?Sized>(tree: &H, visitor: &mut V) {
    let master = tree.master();
    visitor.enter_master(master);
    let mut index = 0;
    for (s, scenario) in tree.scenarios().iter().enumerate() {
        visitor.enter_scenario(scenario, s);
        for (t, test) in H::tests(scenario).iter().enumerate() {
            let position = TestPosition {
                scenario: s,
                in_scenario: t,
                index,
            };
            visitor.visit_test(test, position);
            index += 1;
        }
        visitor.leave_scenario(scenario, s);
    }
    visitor.leave_master(master);
}

impl Hierarchy for MasterScenarioPlan {
    type Master = MasterScenarioPlan;
    type Scenario = ScenarioPlan;
    type Test = TestPlan;

    fn master(&self) -> &MasterScenarioPlan {
        self
    }

    fn scenarios(&self) -> &[ScenarioPlan] {
        &self.scenarios
    }

    fn tests(scenario: &ScenarioPlan) -> &[TestPlan] {
        &scenario.tests
    }
}

impl Hierarchy for RunTree {
    type Master = Node;
    type Scenario = ScenarioTree;
    type Test = Node;

    fn master(&self) -> &Node {
        &self.master
    }

    fn scenarios(&self) -> &[ScenarioTree] {
        &self.scenarios
    }

    fn tests(scenario: &ScenarioTree) -> &[Node] {
        &scenario.tests
    }
}

/// Counts of a tree: scenarios, tests, empty scenarios and (for stored runs) tests per status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Statistics {
    /// Number of scenarios.
    pub scenarios: u64,
    /// Number of tests.
    pub tests: u64,
    /// Scenarios without tests (they aggregate to `unknown`).
    pub empty_scenarios: u64,
    /// Tests per status (all zero for a plan).
    pub counts: StatusCounts,
}

impl Statistics {
    /// Walks a plan or a run and counts it.
    pub fn of<H>(tree: &H) -> Self
    where
        H: Hierarchy + ?Sized,
        Statistics: Visitor<H>,
    {
        let mut statistics = Statistics::default();
        walk(tree, &mut statistics);
        statistics
    }
}

impl Visitor<MasterScenarioPlan> for Statistics {
    fn enter_scenario(&mut self, scenario: &ScenarioPlan, _index: usize) {
        self.scenarios += 1;
        if scenario.tests.is_empty() {
            self.empty_scenarios += 1;
        }
    }

    fn visit_test(&mut self, _test: &TestPlan, _position: TestPosition) {
        self.tests += 1;
    }
}

impl Visitor<RunTree> for Statistics {
    fn enter_scenario(&mut self, scenario: &ScenarioTree, _index: usize) {
        self.scenarios += 1;
        if scenario.tests.is_empty() {
            self.empty_scenarios += 1;
        }
    }

    fn visit_test(&mut self, test: &Node, _position: TestPosition) {
        self.tests += 1;
        self.counts.add(test.status);
    }
}

/// The aggregate status of a master scenario: the priority-first status among its scenarios.
///
/// Computed from the tests' counts plus the number of empty scenarios (each `unknown`), which
/// equals aggregating the scenario aggregates, in O(1).
pub fn master_status(tests: &StatusCounts, empty_scenarios: u64) -> Status {
    let mut children = *tests;
    children.add_n(Status::Unknown, empty_scenarios);
    children.aggregate()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Event, EventKind};

    fn plan() -> MasterScenarioPlan {
        let body = br#"{"machine_name": "m", "timestamp": "2018-12-30 13:01:57", "master_scenario": {"file_name": "master.py", "file_path": "/s", "scenarios": [
            {"file_name": "s1.py", "file_path": "/s", "tests": [{"file_name": "a.py", "file_path": "/t"}, {"file_name": "b.py", "file_path": "/t"}]},
            {"file_name": "s2.py", "file_path": "/s"},
            {"file_name": "s3.py", "file_path": "/s", "tests": [{"file_name": "c.py", "file_path": "/t"}]}]}}"#;
        match Event::parse(EventKind::DryRun, body).unwrap() {
            Event::DryRun(dry) => dry.master_scenario,
            other => panic!("{other:?}"),
        }
    }

    #[derive(Default)]
    struct Trace(Vec<String>);

    impl Visitor<MasterScenarioPlan> for Trace {
        fn enter_master(&mut self, m: &MasterScenarioPlan) {
            self.0.push(format!("enter {}", m.file_name));
        }
        fn leave_master(&mut self, m: &MasterScenarioPlan) {
            self.0.push(format!("leave {}", m.file_name));
        }
        fn enter_scenario(&mut self, s: &ScenarioPlan, i: usize) {
            self.0.push(format!("enter {} #{i}", s.file_name));
        }
        fn leave_scenario(&mut self, s: &ScenarioPlan, i: usize) {
            self.0.push(format!("leave {} #{i}", s.file_name));
        }
        fn visit_test(&mut self, t: &TestPlan, p: TestPosition) {
            self.0.push(format!(
                "test {} {}/{}/{}",
                t.file_name, p.scenario, p.in_scenario, p.index
            ));
        }
    }

    #[test]
    fn walks_depth_first_in_plan_order() {
        let mut trace = Trace::default();
        walk(&plan(), &mut trace);
        assert_eq!(
            trace.0,
            [
                "enter master.py",
                "enter s1.py #0",
                "test a.py 0/0/0",
                "test b.py 0/1/1",
                "leave s1.py #0",
                "enter s2.py #1",
                "leave s2.py #1",
                "enter s3.py #2",
                "test c.py 2/0/2",
                "leave s3.py #2",
                "leave master.py",
            ]
        );
    }

    #[test]
    fn statistics_count_the_plan() {
        let stats = Statistics::of(&plan());
        assert_eq!(
            (stats.scenarios, stats.tests, stats.empty_scenarios),
            (3, 3, 1)
        );
    }

    #[test]
    fn empty_scenarios_make_the_master_unknown() {
        let passed = StatusCounts::tally([Status::Passed, Status::Passed]);
        assert_eq!(master_status(&passed, 0), Status::Passed);
        assert_eq!(master_status(&passed, 1), Status::Unknown);
        assert_eq!(master_status(&StatusCounts::new(), 0), Status::Unknown);
        let running = StatusCounts::tally([Status::Running]);
        assert_eq!(master_status(&running, 1), Status::Running);
    }
}
