//! What a harness is about to run: a master scenario, its ordered scenarios and their tests.
//!
//! The main type here is [`Plan`]. It holds stpt-core's [`MasterScenarioPlan`] itself (the
//! dry run's payload, so nothing is converted between parallel copies) plus, for each test,
//! the optional [`TestCommand`] the [`Executor`](crate::Executor) runs. [`PlannedTest`] is how
//! reporters and harnesses address one test.
//!
//! **Invariant:** a built plan passes stpt-core's wire validation (no blank or over-long
//! names), and it has exactly one command slot per test, in plan order.

use std::path::PathBuf;
use std::time::Duration;

use stpt_core::{
    DryRun, Event, Labels, MasterScenarioPlan, ScenarioPlan, TestPlan, Timestamp, WireError,
};

/// The plan of a run: what the dry run announces and what the executor runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    master: MasterScenarioPlan,
    commands: Vec<Option<TestCommand>>,
    /// What the run tests (branch, build, firmware…), sent with the dry run.
    labels: Labels,
}

/// How to run one test as a subprocess.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestCommand {
    /// The program, looked up in `PATH` when it has no slash.
    pub program: String,
    /// Its arguments, passed as they are (no shell).
    pub args: Vec<String>,
    /// Directory to run in; the executor's own when `None`.
    pub working_dir: Option<PathBuf>,
    /// Longest the test may run before it is killed and reported as `error`; the executor's
    /// default when `None`.
    pub timeout: Option<Duration>,
}

impl TestCommand {
    /// A command from a program and its arguments.
    pub fn new<I, A>(program: impl Into<String>, args: I) -> Self
    where
        I: IntoIterator<Item = A>,
        A: Into<String>,
    {
        TestCommand {
            program: program.into(),
            args: args.into_iter().map(Into::into).collect(),
            working_dir: None,
            timeout: None,
        }
    }

    /// The same command, run in `dir`.
    pub fn in_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.working_dir = Some(dir.into());
        self
    }

    /// The same command, killed after `timeout`.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
}

/// One test of a plan, as a reporter or a harness addresses it.
#[derive(Debug, Clone, Copy)]
pub struct PlannedTest<'a> {
    /// Position of the test among all tests of the plan, from 0 (the wire's `index`).
    pub index: u32,
    /// Position of its scenario, from 0.
    pub scenario_index: usize,
    /// Its scenario.
    pub scenario: &'a ScenarioPlan,
    /// The test as the dry run announces it.
    pub test: &'a TestPlan,
    /// How to run it, when the plan knows.
    pub command: Option<&'a TestCommand>,
}

impl PlannedTest<'_> {
    /// The test's file name.
    pub fn file_name(&self) -> &str {
        &self.test.file_name
    }

    /// The test's directory.
    pub fn file_path(&self) -> &str {
        &self.test.file_path
    }
}

/// Why a plan cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// A test was added before any scenario.
    #[error("test {file_name:?} added before any scenario")]
    TestWithoutScenario {
        /// The test's file name.
        file_name: String,
    },
    /// A command was given before any test.
    #[error("command given before any test")]
    CommandWithoutTest,
    /// A name or path would not pass the server's validation.
    #[error("invalid plan")]
    Invalid(#[source] WireError),
    /// The plan has more tests than the wire's `index` can count.
    #[error("plan has {count} tests; at most {} are supported", u32::MAX)]
    TooManyTests {
        /// How many tests it has.
        count: usize,
    },
}

impl Plan {
    /// Starts building a plan whose master scenario is `file_name` in directory `file_path`.
    pub fn builder(file_name: impl Into<String>, file_path: impl Into<String>) -> PlanBuilder {
        PlanBuilder {
            master: MasterScenarioPlan {
                file_name: file_name.into(),
                file_path: file_path.into(),
                script: None,
                scenarios: Vec::new(),
            },
            commands: Vec::new(),
            labels: Labels::new(),
            last: Last::Master,
            error: None,
        }
    }

    /// Wraps a master scenario plan (for example one read back from a dry run); no test has a
    /// command.
    pub fn from_master(master: MasterScenarioPlan) -> Result<Plan, PlanError> {
        let count = master.scenarios.iter().map(|s| s.tests.len()).sum();
        let plan = Plan {
            master,
            commands: vec![None; count],
            labels: Labels::new(),
        };
        plan.check()?;
        Ok(plan)
    }

    /// The master scenario, exactly as the dry run carries it.
    pub fn master(&self) -> &MasterScenarioPlan {
        &self.master
    }

    /// The labels the dry run carries, in key order.
    pub fn labels(&self) -> &Labels {
        &self.labels
    }

    /// The same plan with `labels` added (a key given again takes the new value); refused
    /// when a label would not pass the server's checks (count, key characters, lengths).
    pub fn with_labels<K, V>(
        mut self,
        labels: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Plan, PlanError>
    where
        K: Into<String>,
        V: Into<String>,
    {
        self.labels
            .extend(labels.into_iter().map(|(k, v)| (k.into(), v.into())));
        self.check()?;
        Ok(self)
    }

    /// How many tests the plan has.
    pub fn test_count(&self) -> usize {
        self.commands.len()
    }

    /// Every test in plan order (scenario by scenario).
    pub fn tests(&self) -> Vec<PlannedTest<'_>> {
        let mut commands = self.commands.iter();
        let mut tests = Vec::with_capacity(self.commands.len());
        let mut index = 0u32;
        for (scenario_index, scenario) in self.master.scenarios.iter().enumerate() {
            for test in &scenario.tests {
                tests.push(PlannedTest {
                    index,
                    scenario_index,
                    scenario,
                    test,
                    command: commands.next().and_then(Option::as_ref),
                });
                index = index.saturating_add(1);
            }
        }
        tests
    }

    /// The dry run announcing this plan for `machine_name` (with no event id: the reporter or
    /// the sink gives it one).
    pub fn dry_run(&self, machine_name: impl Into<String>, timestamp: Timestamp) -> DryRun {
        DryRun {
            machine_name: machine_name.into(),
            timestamp,
            master_scenario: self.master.clone(),
            event_id: None,
            labels: self.labels.clone(),
        }
    }

    fn check(&self) -> Result<(), PlanError> {
        if u32::try_from(self.commands.len()).is_err() {
            return Err(PlanError::TooManyTests {
                count: self.commands.len(),
            });
        }
        // The machine name is not known yet; a placeholder lets the wire rules check the rest.
        Event::DryRun(self.dry_run("plan", Timestamp::now()))
            .validate()
            .map_err(PlanError::Invalid)
    }
}

/// Which node the builder's `script` and `command` apply to.
#[derive(Debug, Clone, Copy)]
enum Last {
    Master,
    Scenario,
    Test,
}

/// Builds a [`Plan`] in plan order: `scenario` opens a scenario, `test` adds a test to the
/// latest scenario, `script` sets the script of the latest node, `command` the command of the
/// latest test. Mistakes are reported by [`PlanBuilder::build`].
#[derive(Debug)]
#[must_use]
pub struct PlanBuilder {
    master: MasterScenarioPlan,
    commands: Vec<Option<TestCommand>>,
    labels: Labels,
    last: Last,
    error: Option<PlanError>,
}

impl PlanBuilder {
    /// Sets the script text of the node added last (the master at first).
    pub fn script(mut self, text: impl Into<String>) -> Self {
        let text = Some(text.into());
        match self.last {
            Last::Master => self.master.script = text,
            Last::Scenario => {
                if let Some(scenario) = self.master.scenarios.last_mut() {
                    scenario.script = text;
                }
            }
            Last::Test => {
                if let Some(test) = self
                    .master
                    .scenarios
                    .last_mut()
                    .and_then(|s| s.tests.last_mut())
                {
                    test.script = text;
                }
            }
        }
        self
    }

    /// Labels the run (`branch` → `main`); a key given again takes the new value.
    pub fn label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels.insert(key.into(), value.into());
        self
    }

    /// Adds a scenario after the previous ones.
    pub fn scenario(mut self, file_name: impl Into<String>, file_path: impl Into<String>) -> Self {
        self.master.scenarios.push(ScenarioPlan {
            file_name: file_name.into(),
            file_path: file_path.into(),
            script: None,
            tests: Vec::new(),
        });
        self.last = Last::Scenario;
        self
    }

    /// Adds a test to the latest scenario.
    pub fn test(mut self, file_name: impl Into<String>, file_path: impl Into<String>) -> Self {
        let file_name = file_name.into();
        match self.master.scenarios.last_mut() {
            Some(scenario) => {
                scenario.tests.push(TestPlan {
                    file_name,
                    file_path: file_path.into(),
                    script: None,
                });
                self.commands.push(None);
                self.last = Last::Test;
            }
            None => {
                self.error
                    .get_or_insert(PlanError::TestWithoutScenario { file_name });
            }
        }
        self
    }

    /// Sets how the executor runs the latest test.
    pub fn command(mut self, command: TestCommand) -> Self {
        match (self.last, self.commands.last_mut()) {
            (Last::Test, Some(slot)) => *slot = Some(command),
            _ => {
                self.error.get_or_insert(PlanError::CommandWithoutTest);
            }
        }
        self
    }

    /// The plan, or the first mistake made while building it.
    pub fn build(self) -> Result<Plan, PlanError> {
        if let Some(error) = self.error {
            return Err(error);
        }
        let plan = Plan {
            master: self.master,
            commands: self.commands,
            labels: self.labels,
        };
        plan.check()?;
        Ok(plan)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_go_with_the_dry_run_and_are_checked() {
        let plan = Plan::builder("m.py", "/s")
            .label("branch", "main")
            .scenario("a.py", "/s")
            .test("a1.py", "/a")
            .build()
            .unwrap()
            .with_labels([("firmware", "2.4.1"), ("branch", "dev")])
            .unwrap();
        let dry = plan.dry_run("rig", Timestamp::now());
        assert_eq!(dry.labels["branch"], "dev");
        assert_eq!(dry.labels["firmware"], "2.4.1");
        let bad = Plan::builder("m.py", "/s").label("no spaces", "x").build();
        assert!(
            matches!(&bad, Err(PlanError::Invalid(WireError::InvalidField { field, .. })) if field == "labels"),
            "{bad:?}"
        );
    }

    #[test]
    fn builder_keeps_plan_order_and_indexes_tests_across_scenarios() {
        let plan = Plan::builder("m.py", "/s")
            .script("master script")
            .scenario("a.py", "/s")
            .script("scenario script")
            .test("a1.py", "/a")
            .script("test script")
            .command(TestCommand::new("true", Vec::<String>::new()))
            .test("a2.py", "/a")
            .scenario("b.py", "/s")
            .test("b1.py", "/b")
            .build()
            .unwrap();
        assert_eq!(plan.master().script.as_deref(), Some("master script"));
        assert_eq!(
            plan.master().scenarios[0].script.as_deref(),
            Some("scenario script")
        );
        let tests = plan.tests();
        let summary: Vec<_> = tests
            .iter()
            .map(|t| {
                (
                    t.index,
                    t.scenario_index,
                    t.file_name(),
                    t.command.is_some(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                (0, 0, "a1.py", true),
                (1, 0, "a2.py", false),
                (2, 1, "b1.py", false)
            ]
        );
        assert_eq!(tests[0].test.script.as_deref(), Some("test script"));
        assert_eq!(plan.test_count(), 3);
    }

    #[test]
    fn builder_mistakes_are_reported_at_build() {
        let err = Plan::builder("m.py", "/")
            .test("t.py", "/")
            .build()
            .unwrap_err();
        assert!(matches!(err, PlanError::TestWithoutScenario { file_name } if file_name == "t.py"));
        let err = Plan::builder("m.py", "/")
            .scenario("s.py", "/")
            .command(TestCommand::new("true", Vec::<String>::new()))
            .build()
            .unwrap_err();
        assert!(matches!(err, PlanError::CommandWithoutTest));
        let err = Plan::builder("m.py", "/")
            .scenario("s.py", "/")
            .test(" ", "/")
            .build()
            .unwrap_err();
        let PlanError::Invalid(WireError::InvalidField { field, .. }) = err else {
            panic!("expected a field error, got {err:?}")
        };
        assert_eq!(field, "master_scenario.scenarios[0].tests[0].file_name");
    }

    #[test]
    fn dry_run_carries_the_master_as_is() {
        let plan = Plan::builder("m.py", "/")
            .scenario("s.py", "/")
            .build()
            .unwrap();
        let at: Timestamp = "2018-12-30 13:01:57".parse().unwrap();
        let dry = plan.dry_run("machine #1", at);
        assert_eq!(&dry.master_scenario, plan.master());
        assert_eq!(dry.machine_name, "machine #1");
        assert_eq!(dry.event_id, None);
    }
}
