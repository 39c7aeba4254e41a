//! Turning a harness's progress into protocol events.
//!
//! The main type here is [`Reporter`]: it sends a plan's dry run, then a start and a stop per
//! test, through any [`Sink`]. Harnesses that run their own tests call [`Reporter::start`] and
//! [`Reporter::stop`]; the [`Executor`](crate::Executor) calls them for the tests it runs.
//!
//! When the sink answers [`SinkError::RunAborted`] (a person aborted the run on the server),
//! the reporter hands that error back once and sends nothing more of the run: later starts and
//! stops answer `Ok` without reaching the sink, and [`Reporter::run_aborted`] says why, until
//! the next dry run.
//!
//! **Invariant:** every event the reporter builds gets a fresh `event_id` (a UUID v4), so a
//! sink may deliver it more than once and the server still applies it once. The reporter needs
//! no `run_id`: the seed's protocol addresses tests by machine, file name and path (and the
//! optional `index`, which the reporter always sends).

use stpt_core::{
    Event, Labels, OutputBatch, OutputLine, Sink, SinkError, Status, TestOutput, TestStart,
    TestStop, Timestamp,
};

use crate::plan::{Plan, PlannedTest};

/// Sends a run's events for one machine through a sink.
#[derive(Debug)]
pub struct Reporter<S> {
    machine_name: String,
    sink: S,
    /// The sink said the current run was aborted: nothing more of it is sent.
    aborted: bool,
    /// Labels added to every dry run, over the plan's own.
    labels: Labels,
}

impl<S: Sink> Reporter<S> {
    /// A reporter for `machine_name` sending through `sink`.
    pub fn new(machine_name: impl Into<String>, sink: S) -> Self {
        Reporter {
            machine_name: machine_name.into(),
            sink,
            aborted: false,
            labels: Labels::new(),
        }
    }

    /// Labels every dry run this reporter sends with `key` → `value` (over a plan's own label
    /// of that key). The server refuses a dry run whose labels break its limits
    /// (`stpt_core::wire::check_label`).
    pub fn label(&mut self, key: impl Into<String>, value: impl Into<String>) -> &mut Self {
        self.labels.insert(key.into(), value.into());
        self
    }

    /// The labels added to every dry run.
    pub fn labels(&self) -> &Labels {
        &self.labels
    }

    /// The machine this reporter speaks for.
    pub fn machine_name(&self) -> &str {
        &self.machine_name
    }

    /// Announces `plan`: every test becomes `waiting` on the server. This starts a new run,
    /// which nobody aborted.
    pub fn dry_run(&mut self, plan: &Plan) -> Result<(), SinkError> {
        self.aborted = false;
        let mut dry = plan.dry_run(self.machine_name.clone(), Timestamp::now());
        dry.labels
            .extend(self.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
        let event = Event::DryRun(dry);
        self.send(event)
    }

    /// Whether the sink said the current run was aborted (`stpt abort` on the server): its
    /// tests should not run, and their events are no longer sent.
    pub fn run_aborted(&self) -> bool {
        self.aborted
    }

    /// Reports that `test` starts now.
    pub fn start(&mut self, test: &PlannedTest<'_>) -> Result<(), SinkError> {
        self.start_attempt(test, None)
    }

    /// Reports that `attempt` of `test` starts now (`None` for a first run that names no
    /// attempt); an attempt from 2 on runs a finished test again (a rerun of a flaky test).
    pub fn start_attempt(
        &mut self,
        test: &PlannedTest<'_>,
        attempt: Option<u32>,
    ) -> Result<(), SinkError> {
        let event = Event::TestStart(TestStart {
            machine_name: self.machine_name.clone(),
            file_name: test.file_name().to_owned(),
            file_path: test.file_path().to_owned(),
            timestamp_start: Timestamp::now(),
            event_id: None,
            run_id: None,
            index: Some(test.index),
            attempt,
        });
        self.send(event)
    }

    /// Reports that `test` finished now with `status`, and why when `message` says.
    pub fn stop(
        &mut self,
        test: &PlannedTest<'_>,
        status: Status,
        message: Option<&str>,
    ) -> Result<(), SinkError> {
        self.stop_attempt(test, status, message, None)
    }

    /// Reports that `attempt` of `test` (as started by [`Reporter::start_attempt`]) finished
    /// now with `status`.
    pub fn stop_attempt(
        &mut self,
        test: &PlannedTest<'_>,
        status: Status,
        message: Option<&str>,
        attempt: Option<u32>,
    ) -> Result<(), SinkError> {
        let event = Event::TestStop(TestStop {
            machine_name: self.machine_name.clone(),
            file_name: test.file_name().to_owned(),
            file_path: test.file_path().to_owned(),
            status,
            timestamp_stop: Timestamp::now(),
            event_id: None,
            run_id: None,
            index: Some(test.index),
            message: message.map(str::to_owned),
            attempt,
        });
        self.send(event)
    }

    /// Reports lines `test` printed, as one batch (the [`Executor`](crate::Executor) batches a
    /// subprocess's output by count, size and age). A NUL character, which no server stores,
    /// becomes U+FFFD; no lines, no event.
    pub fn output(
        &mut self,
        test: &PlannedTest<'_>,
        lines: Vec<OutputLine>,
    ) -> Result<(), SinkError> {
        if lines.is_empty() {
            return Ok(());
        }
        let lines = lines
            .into_iter()
            .map(|mut line| {
                if line.text.contains('\0') {
                    line.text = line.text.replace('\0', "\u{FFFD}");
                }
                line
            })
            .collect();
        let event = Event::TestOutput(TestOutput {
            run_id: None,
            index: test.index,
            batch: OutputBatch {
                machine_name: self.machine_name.clone(),
                event_id: String::new(),
                lines,
            },
        });
        self.send(event)
    }

    /// Asks the sink to deliver whatever it still holds.
    pub fn flush(&mut self) -> Result<(), SinkError> {
        self.sink.flush()
    }

    /// The sink.
    pub fn sink(&self) -> &S {
        &self.sink
    }

    /// The sink, mutably.
    pub fn sink_mut(&mut self) -> &mut S {
        &mut self.sink
    }

    /// Gives the sink back.
    pub fn into_sink(self) -> S {
        self.sink
    }

    fn send(&mut self, mut event: Event) -> Result<(), SinkError> {
        if self.aborted {
            return Ok(());
        }
        event.set_event_id(uuid::Uuid::new_v4().to_string());
        let sent = self.sink.send(&event);
        if let Err(SinkError::RunAborted { .. }) = &sent {
            self.aborted = true;
        }
        sent
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use stpt_core::MemorySink;

    use super::*;

    #[test]
    fn the_reporters_labels_join_the_plans_on_every_dry_run() {
        let plan = Plan::builder("m.py", "/")
            .label("branch", "main")
            .label("hw", "B")
            .scenario("s.py", "/")
            .test("a.py", "/t")
            .build()
            .unwrap();
        let sink = MemorySink::new();
        let mut reporter = Reporter::new("rig", sink.clone());
        reporter.label("hw", "C").label("build", "1234");
        reporter.dry_run(&plan).unwrap();
        let Event::DryRun(dry) = &sink.events()[0] else {
            panic!("the first event is the dry run");
        };
        let labels: Vec<(&str, &str)> = dry
            .labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(labels, [("branch", "main"), ("build", "1234"), ("hw", "C")]);
    }

    #[test]
    fn every_event_gets_a_distinct_uuid_and_the_test_index() {
        let plan = Plan::builder("m.py", "/")
            .scenario("s.py", "/")
            .test("a.py", "/t")
            .test("b.py", "/t")
            .build()
            .unwrap();
        let sink = MemorySink::new();
        let mut reporter = Reporter::new("rig", sink.clone());
        reporter.dry_run(&plan).unwrap();
        let tests = plan.tests();
        reporter.start(&tests[1]).unwrap();
        reporter
            .stop(&tests[1], Status::Failed, Some("boom"))
            .unwrap();
        let events = sink.events();
        let ids: HashSet<_> = events.iter().filter_map(Event::event_id).collect();
        assert_eq!(ids.len(), 3);
        assert!(
            ids.iter()
                .all(|id| uuid::Uuid::parse_str(id).is_ok_and(|u| u.get_version_num() == 4))
        );
        let Event::TestStop(stop) = &events[2] else {
            panic!("expected a stop, got {:?}", events[2])
        };
        assert_eq!((stop.index, stop.status), (Some(1), Status::Failed));
        assert_eq!(stop.message.as_deref(), Some("boom"));
        assert_eq!(stop.file_name, "b.py");
        assert!(
            events
                .iter()
                .all(|e| e.machine_name() == "rig" && e.validate().is_ok())
        );
    }

    #[test]
    fn attempts_are_carried_on_start_and_stop() {
        let plan = Plan::builder("m.py", "/")
            .scenario("s.py", "/")
            .test("a.py", "/t")
            .build()
            .unwrap();
        let sink = MemorySink::new();
        let mut reporter = Reporter::new("rig", sink.clone());
        let tests = plan.tests();
        reporter.start_attempt(&tests[0], Some(2)).unwrap();
        reporter
            .stop_attempt(&tests[0], Status::Passed, None, Some(2))
            .unwrap();
        let events = sink.events();
        let (Event::TestStart(start), Event::TestStop(stop)) = (&events[0], &events[1]) else {
            panic!("expected a start and a stop, got {events:?}")
        };
        assert_eq!((start.attempt, stop.attempt), (Some(2), Some(2)));
    }
}
