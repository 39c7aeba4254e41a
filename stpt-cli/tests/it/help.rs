//! What `--help` shows: each command's own options, environment variables without values.

use crate::support::stpt_in;

/// Every command and subcommand, and whether it talks to a server.
const COMMANDS: &[(&[&str], bool)] = &[
    (&["serve"], false),
    (&["machines"], true),
    (&["runs"], true),
    (&["show"], true),
    (&["tail"], true),
    (&["send"], true),
    (&["run"], true),
    (&["replay"], true),
    (&["export"], true),
    (&["import", "junit"], true),
    (&["completions"], false),
    (&["bench", "ingest"], true),
    (&["bench", "live"], true),
    (&["bench", "output"], true),
    (&["user", "add"], false),
    (&["user", "list"], false),
    (&["token", "create"], false),
    (&["token", "list"], false),
    (&["prune"], false),
    (&["abort"], true),
    (&["history"], true),
    (&["diff"], true),
    (&["flaky"], true),
    (&["webhook", "add"], false),
    (&["webhook", "list"], false),
];

#[test]
fn url_and_token_are_offered_only_by_commands_that_talk_to_a_server() {
    let dir = tempfile::tempdir().expect("temporary directory");
    for (command, talks) in COMMANDS {
        let mut args = command.to_vec();
        args.push("--help");
        let help = stpt_in(dir.path(), &args, None);
        assert_eq!(help.code, Some(0), "{command:?}: {}", help.snapshot());
        for option in ["--url", "--token"] {
            assert_eq!(
                help.stdout.contains(option),
                *talks,
                "{command:?} and {option}:\n{}",
                help.stdout
            );
        }
    }
    // The reset link is the one admin action that needs the server's address.
    let reset = stpt_in(dir.path(), &["user", "reset-link", "--help"], None);
    assert!(reset.stdout.contains("--url"), "{}", reset.stdout);
    assert!(!reset.stdout.contains("--token"), "{}", reset.stdout);
}

#[test]
fn environment_variables_are_named_without_a_value() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut helps = vec![stpt_in(dir.path(), &["--help"], None)];
    for (command, _) in COMMANDS {
        let mut args = command.to_vec();
        args.push("--help");
        helps.push(stpt_in(dir.path(), &args, None));
    }
    for help in &helps {
        assert!(!help.stdout.contains("=]"), "{}", help.stdout);
    }
    let machines = stpt_in(dir.path(), &["machines", "--help"], None);
    assert!(
        machines.stdout.contains("[env: STPT_URL]"),
        "{}",
        machines.stdout
    );
}

#[test]
fn run_help_describes_the_manifest_and_points_at_its_document() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let help = stpt_in(dir.path(), &["run", "--help"], None);
    for needle in [
        "stpt.toml",
        "master = ",
        "command = ",
        "timeout_secs",
        "[[scenarios]]",
        "tests_dir",
        "{file}",
        "STPT_STATUS_FILE",
        "docs/runner.md",
    ] {
        assert!(
            help.stdout.contains(needle),
            "no {needle:?} in:\n{}",
            help.stdout
        );
    }
    let short = stpt_in(dir.path(), &["run", "-h"], None);
    assert!(short.stdout.contains("docs/runner.md"), "{}", short.stdout);
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README.md");
    assert!(
        readme.contains("(docs/runner.md)"),
        "the README does not link docs/runner.md"
    );
}
