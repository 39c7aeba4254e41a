//! `history`, `diff` and `flaky`: what a machine's runs say over time, in human and JSON
//! form.

use crate::support::{RunSpec, Server, TestSpec};

/// Four runs of rig-1 where a.py passes and fails in turn, b.py always passes and c.py
/// appears from the third run on. Answers the run ids, oldest first.
fn four_runs(server: &Server) -> Vec<i64> {
    let outcomes = [
        ("passed", None),
        ("failed", Some("boom")),
        ("passed", None),
        ("failed", Some("boom again")),
    ];
    (0_u32..)
        .zip(outcomes)
        .map(|(i, (status, message))| {
            let mut tests = vec![
                TestSpec {
                    scenario: 0,
                    name: "a.py",
                    status,
                    message,
                },
                TestSpec {
                    scenario: 0,
                    name: "b.py",
                    status: "passed",
                    message: None,
                },
            ];
            if i >= 2 {
                tests.push(TestSpec {
                    scenario: 0,
                    name: "c.py",
                    status: "passed",
                    message: None,
                });
            }
            server.post_run(&RunSpec {
                machine: "rig-1",
                minute: i * 10,
                scenarios: &["s.py"],
                tests: &tests,
            })
        })
        .collect()
}

#[test]
fn history_lists_a_test_across_runs() {
    let server = Server::start();
    let runs = four_runs(&server);
    let out = server.stpt(&["history", "rig-1", "a.py"]);
    assert_eq!(out.code, Some(0), "{}", out.snapshot());
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines.first().copied(),
        Some("/rig/tests/a.py on rig-1 (occurrence 0)")
    );
    // Every column starts where its header does; STARTED is the test's start, not the run's.
    let status_at = lines[1].find("STATUS").expect("a STATUS header");
    for line in &lines[2..6] {
        let found = ["passed", "failed"]
            .iter()
            .filter_map(|word| line.find(word))
            .min();
        assert_eq!(found, Some(status_at), "{}", out.stdout);
    }
    insta::assert_snapshot!(out.stdout, @r"
    /rig/tests/a.py on rig-1 (occurrence 0)
    RUN  STARTED                  STATUS     DURATION  ATTEMPTS
      4  2018-12-30 13:30:01 UTC  failed         1.0s         1
      3  2018-12-30 13:20:01 UTC  passed         1.0s         1
      2  2018-12-30 13:10:01 UTC  failed         1.0s         1
      1  2018-12-30 13:00:01 UTC  passed         1.0s         1
    duration over the last 4 results: median 1.0s, p90 1.0s
    ");
    assert_eq!(lines.len(), 1 + 1 + 4 + 1, "{}", out.stdout);
    assert!(
        lines[2].contains(&runs[3].to_string()) && lines[2].contains("failed"),
        "{}",
        out.stdout
    );
    assert!(
        lines[6].starts_with("duration over the last 4 results: median "),
        "{}",
        out.stdout
    );

    let json = server
        .stpt(&[
            "history",
            "rig-1",
            "/rig/tests/a.py",
            "--limit",
            "2",
            "--json",
        ])
        .json();
    let statuses: Vec<&str> = json["results"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["status"].as_str())
        .collect();
    assert_eq!(statuses, ["failed", "passed"]);
    assert_eq!(json["results"][0]["message"], "boom again");

    let out = server.stpt(&["history", "rig-1", "nope.py"]);
    assert_ne!(out.code, Some(0));
    assert!(
        out.stderr.contains("has no test \"nope.py\""),
        "{}",
        out.snapshot()
    );
}

#[test]
fn diff_compares_with_the_previous_run_or_the_one_named() {
    let server = Server::start();
    let runs = four_runs(&server);
    let out = server.stpt(&["diff", &runs[3].to_string()]);
    assert_eq!(out.code, Some(0), "{}", out.snapshot());
    assert!(
        out.stdout
            .starts_with(&format!("run {} against run {}\n", runs[3], runs[2])),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("newly failing: 1\n  /rig/tests/a.py  passed -> failed\n"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("fixed: 0\n"), "{}", out.stdout);
    // Durations read as everywhere else.
    assert!(
        out.stdout
            .contains("  /rig/tests/c.py  1.2s -> 1.2s (+0ms)\n"),
        "{}",
        out.stdout
    );

    let json = server
        .stpt(&["diff", &runs[3].to_string(), &runs[0].to_string(), "--json"])
        .json();
    assert_eq!(json["other_run_id"], runs[0]);
    assert_eq!(json["new_tests"][0]["file_name"], "c.py");
    assert_eq!(json["removed_tests"].as_array().map(Vec::len), Some(0));

    let out = server.stpt(&["diff", &runs[0].to_string()]);
    assert_ne!(out.code, Some(0));
    assert!(
        out.stderr.contains("its machine's first"),
        "{}",
        out.snapshot()
    );
}

#[test]
fn flaky_lists_tests_that_flip_between_pass_and_fail() {
    let server = Server::start();
    four_runs(&server);
    let out = server.stpt(&["flaky", "rig-1"]);
    assert_eq!(out.code, Some(0), "{}", out.snapshot());
    assert_eq!(
        out.stdout,
        "rig-1 (#1): 1 flaky over the last 4 runs\nSCORE  FLIPS  RETRIED  TEST\n    3      3        0  /rig/tests/a.py\n"
    );
    let json = server.stpt(&["flaky", "rig-1", "--json"]).json();
    assert_eq!(json["tests"][0]["score"], 3);
    assert!(
        json["rule"]
            .as_str()
            .is_some_and(|r| r.contains("at least 3 changes"))
    );
}
