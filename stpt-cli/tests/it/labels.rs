//! Labels from every producer of the CLI (`run --label` over `stpt.toml`'s `[labels]`, `import
//! junit --label`) and the searches that use them (`runs --label/--status/--since/--until`,
//! `diff --label`, `flaky --label`), checked against the server's API.

use serde_json::{Value, json};

use crate::support::{Server, lamp_run, passing_run, write_file};

fn api(server: &Server, path: &str) -> Value {
    let url = format!("{}{path}", server.url);
    ureq::get(&url)
        .call()
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
        .into_json()
        .expect("JSON")
}

fn ids(results: &Value) -> Vec<i64> {
    results
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {results}"))
        .iter()
        .map(|r| r["id"].as_i64().unwrap_or(-1))
        .collect()
}

/// Posts a run with `labels`; answers its id.
fn post_labelled(
    server: &Server,
    mut dry: Value,
    labels: Value,
    run: &crate::support::RunSpec<'_>,
) -> i64 {
    dry["labels"] = labels;
    let answer = server.post("dry_run", &dry);
    for (start, stop) in run.test_events() {
        server.post("test_start", &start);
        server.post("test_stop", &stop);
    }
    answer["run_id"].as_i64().expect("run id")
}

#[test]
fn runs_found_by_labels_status_and_dates_agree_with_the_api() {
    let server = Server::start();
    let lamp = lamp_run;
    let r1 = {
        let run = lamp(0);
        post_labelled(
            &server,
            run.dry_run(),
            json!({"branch": "main", "hw": "C"}),
            &run,
        )
    };
    let r2 = {
        let run = passing_run("trunk-rig", 10);
        post_labelled(&server, run.dry_run(), json!({"branch": "main"}), &run)
    };
    let r3 = {
        let run = lamp(20);
        post_labelled(
            &server,
            run.dry_run(),
            json!({"branch": "dev", "hw": "C"}),
            &run,
        )
    };
    let r4 = {
        let run = lamp(30);
        post_labelled(
            &server,
            run.dry_run(),
            json!({"branch": "main", "hw": "C"}),
            &run,
        )
    };

    for (args, query, wanted) in [
        (
            vec!["--label", "branch=main"],
            "label=branch:main",
            vec![r4, r2, r1],
        ),
        (
            vec!["--label", "branch=main", "--label", "hw=C"],
            "label=branch:main&label=hw:C",
            vec![r4, r1],
        ),
        (
            vec!["--label", "branch=main", "--status", "failed"],
            "label=branch:main&status=failed",
            vec![r4, r1],
        ),
        (
            vec!["--machine", "LAMP-rig", "--since", "2018-12-30 13:20:00"],
            "machine=LAMP-rig&since=2018-12-30%2013:20:00",
            vec![r4, r3],
        ),
        (
            vec!["--until", "2018-12-30T13:20:00Z"],
            "until=2018-12-30T13:20:00Z",
            vec![r2, r1],
        ),
        (vec!["--since", "7d"], "since=2100-01-01", vec![]),
    ] {
        let mut command = vec!["runs"];
        command.extend(&args);
        command.push("--json");
        let out = server.stpt(&command);
        let json = out.json();
        assert_eq!(ids(&json["runs"]), wanted, "stpt {args:?}");
        assert_eq!(
            ids(&api(&server, &format!("/api/v1/runs?{query}"))["results"]),
            wanted,
            "/api/v1/runs?{query}"
        );
        assert_eq!(json["count"], wanted.len(), "stpt {args:?}");
    }

    let table = server.stpt(&["runs", "--label", "branch=main", "--limit", "2"]);
    let text = table.snapshot();
    assert!(text.contains("3 runs, page 1 of 2"), "{text}");
    assert!(text.contains("branch=main hw=C"), "{text}");
    assert!(text.contains("--page 2"), "{text}");
    let bad = server.stpt(&["runs", "--label", "branch"]).snapshot();
    assert!(bad.contains("KEY=VALUE"), "{bad}");
    let bad = server.stpt(&["runs", "--since", "yesterday"]).snapshot();
    assert!(bad.contains("neither a duration"), "{bad}");

    // diff and flaky restricted to a label.
    let diff = server.stpt(&["diff", &r4.to_string(), "--label", "branch=main", "--json"]);
    assert_eq!(diff.json()["other_run_id"], r1);
    let diff = server.stpt(&["diff", &r4.to_string(), "--json"]);
    assert_eq!(diff.json()["other_run_id"], r3);
    let flaky = server.stpt(&["flaky", "lamp-rig", "--label", "branch=main", "--json"]);
    assert_eq!(flaky.json()["runs"], 2);
    let flaky = server
        .stpt(&["flaky", "lamp-rig", "--label", "branch=main"])
        .snapshot();
    assert!(
        flaky.contains("over the last 2 runs with branch=main"),
        "{flaky}"
    );
}

#[test]
fn run_and_import_label_their_runs() {
    let server = Server::start();
    let root = tempfile::tempdir().expect("temp dir");
    let dir = root.path().join("rig");
    std::fs::create_dir_all(&dir).expect("scenario directory");
    write_file(&dir, "on.sh", "exit 0\n");
    write_file(
        &dir,
        "stpt.toml",
        "command = [\"sh\", \"{file}\"]\n\n[labels]\nbranch = \"dev\"\nhw = \"C\"\n\n[[scenarios]]\nname = \"lamp\"\ntests = [\"on.sh\"]\n",
    );
    let out = server.stpt(&[
        "run",
        &dir.to_string_lossy(),
        "--machine",
        "lamp-rig",
        "--label",
        "branch=main",
        "--label",
        "build=1234",
    ]);
    assert_eq!(out.code, Some(0), "{}", out.snapshot());
    let found = api(&server, "/api/v1/runs?machine=lamp-rig");
    assert_eq!(
        found["results"][0]["labels"],
        json!({"branch": "main", "build": "1234", "hw": "C"})
    );
    let refused = server.stpt(&[
        "run",
        &dir.to_string_lossy(),
        "--machine",
        "lamp-rig",
        "--label",
        "bad key=x",
    ]);
    assert_ne!(refused.code, Some(0));
    assert!(
        refused.snapshot().contains("bad key"),
        "{}",
        refused.snapshot()
    );
    assert_eq!(api(&server, "/api/v1/runs")["count"], 1, "nothing was sent");

    let report = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/junit/pytest.xml");
    let out = server.stpt(&[
        "import",
        "junit",
        report,
        "--machine",
        "ci-linux",
        "--label",
        "branch=main",
        "--label",
        "commit=abc123",
    ]);
    assert_eq!(out.code, Some(0), "{}", out.snapshot());
    let found = api(&server, "/api/v1/runs?label=commit:abc123");
    assert_eq!(found["count"], 1);
    assert_eq!(found["results"][0]["machine_name"], "ci-linux");
    assert_eq!(found["results"][0]["labels"]["branch"], "main");
}
