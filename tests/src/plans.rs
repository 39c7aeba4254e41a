//! The run the end-to-end tests report: the virtual testing machine's plan (the same as
//! `examples/examples/virtual-testing-machine.rs`) and a fixed status for each of its tests.

use stpt_core::Status;
use stpt_runner::Plan;

const ROOT: &str = "/virtual_testing_machine/src/test_cases";

/// Three feature scenarios: lamp (5 tests), door (2) and trunk (3).
pub fn virtual_testing_machine() -> Plan {
    let scenarios = format!("{ROOT}/scenarios");
    let mut builder = Plan::builder("scenario_master.py", &scenarios)
        .script("for scenario in sorted(os.listdir(SCENARIOS_DIR)):\n    run_scenario(scenario)\n");
    for (number, feature, tests) in [(1, "lamp", 5), (2, "door", 2), (3, "trunk", 3)] {
        let dir = format!("{ROOT}/{number:02}_feature_{feature}");
        builder = builder
            .scenario(
                format!("scenario_{number:02}_feature_{feature}.py"),
                &scenarios,
            )
            .script(format!("run_tests('{number:02}_feature_{feature}')\n"));
        for test in 1..=tests {
            let name = format!("01_{test:02}_test_{feature}.py");
            let script = format!("print('Start {name}')\nsleep(2)\n");
            builder = builder.test(name, &dir).script(script);
        }
    }
    builder
        .build()
        .expect("the virtual testing machine's plan is valid")
}

/// The status (and failure message) each of the plan's ten tests ends with, in plan order:
/// every finished status at least once, so a status mixed up anywhere shows.
pub const OUTCOMES: [(Status, Option<&str>); 10] = [
    (Status::Passed, None),
    (
        Status::Failed,
        Some("assertion failed: the lamp stayed dark"),
    ),
    (Status::Passed, None),
    (Status::Warning, Some("took longer than expected")),
    (Status::Passed, None),
    (Status::Error, Some("device not found")),
    (Status::Passed, None),
    (Status::Passed, None),
    (Status::Failed, Some("the trunk did not open")),
    (Status::Warning, Some("slow hinge")),
];
