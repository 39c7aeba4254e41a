//! `stpt abort`: closing a run by hand, in human and JSON form.

use crate::support::{Server, passing_run};

#[test]
fn abort_cancels_an_ongoing_run_and_leaves_a_finished_one() {
    let server = Server::start();
    let finished = server.post_run(&passing_run("trunk-rig", 0));
    let ongoing = server.post("dry_run", &passing_run("lamp-rig", 5).dry_run())["run_id"]
        .as_i64()
        .unwrap_or_else(|| panic!("the dry run answered no run id"));

    let out = server.stpt(&["abort", &ongoing.to_string()]);
    let text = &out.stdout;
    assert!(out.code == Some(0), "{}", out.snapshot());
    assert!(
        text.starts_with(&format!("run {ongoing} aborted at ")),
        "{text}"
    );
    assert!(text.trim_end().ends_with("status cancelled"), "{text}");

    let json = server
        .stpt(&["abort", &ongoing.to_string(), "--json"])
        .json();
    assert_eq!(json["closed_as"], "aborted");
    assert_eq!(json["status"], "cancelled");
    assert_eq!(json["counts"]["cancelled"], 2, "{json}");

    let out = server.stpt(&["abort", &finished.to_string()]);
    assert_eq!(
        out.stdout,
        format!("run {finished} had already finished: status passed\n")
    );

    let out = server.stpt(&["abort", "999"]);
    assert_eq!(out.code, Some(4), "{}", out.snapshot());
    assert_eq!(
        out.stderr,
        "error: unknown run 999: the server has no run with this id; see `stpt runs <machine>`\n"
    );
}
