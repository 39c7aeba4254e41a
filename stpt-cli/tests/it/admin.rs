//! The admin commands (`user`, `token`, `webhook`, `prune`) on the server's database, with no
//! server running: they never create a database, and take `--database-url` anywhere.

use insta::assert_snapshot;

use crate::support::{Server, create_database, passing_run, stpt_in};

#[test]
fn admin_commands_never_create_a_database() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let here = dir.path().to_string_lossy().into_owned();
    let mut said = String::new();
    for args in [
        &["user", "list"][..],
        &["token", "list"][..],
        &["webhook", "list"][..],
        &["prune", "--older-than", "30d"][..],
        &["user", "list", "--database-url", "elsewhere/stpt.db"][..],
    ] {
        let output = stpt_in(dir.path(), args, None);
        assert_eq!(output.code, Some(1), "{args:?}: {}", output.snapshot());
        said.push_str(&output.stderr.replace(&here, "[dir]"));
    }
    assert_snapshot!(said, @r"
    error: there is no database at [dir]/stpt.db: `stpt serve` creates it on its first start; run this where the server keeps its database, or name it with --database-url or STPT_DATABASE_URL
    error: there is no database at [dir]/stpt.db: `stpt serve` creates it on its first start; run this where the server keeps its database, or name it with --database-url or STPT_DATABASE_URL
    error: there is no database at [dir]/stpt.db: `stpt serve` creates it on its first start; run this where the server keeps its database, or name it with --database-url or STPT_DATABASE_URL
    error: there is no database at [dir]/stpt.db: `stpt serve` creates it on its first start; run this where the server keeps its database, or name it with --database-url or STPT_DATABASE_URL
    error: there is no database at [dir]/elsewhere/stpt.db: `stpt serve` creates it on its first start; run this where the server keeps its database, or name it with --database-url or STPT_DATABASE_URL
    ");
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .expect("read the directory")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn database_url_goes_before_or_after_the_action() {
    let dir = tempfile::tempdir().expect("temporary directory");
    create_database(&dir.path().join("server.db"));
    let added = stpt_in(
        dir.path(),
        &["user", "add", "bob", "--database-url", "server.db"],
        Some("a long password\n"),
    );
    assert_eq!(added.code, Some(0), "{}", added.snapshot());
    let listed = stpt_in(
        dir.path(),
        &["user", "--database-url", "server.db", "list"],
        None,
    );
    assert!(
        listed.stdout.starts_with("bob\t-\tadded "),
        "{}",
        listed.snapshot()
    );
    let token = stpt_in(
        dir.path(),
        &[
            "token",
            "create",
            "--machine",
            "rig-7",
            "--database-url",
            "server.db",
        ],
        None,
    );
    assert_eq!(token.code, Some(0), "{}", token.snapshot());
    assert_eq!(
        token.stderr,
        "token for rig-7: shown only now; send it as `Authorization: Bearer <token>` \
         (STPT_TOKEN for stpt and the runner)\n"
    );
}

#[test]
fn counts_and_machine_names_read_naturally() {
    let server = Server::start();
    server.post_run(&passing_run("machine #1", 0));
    let runs = server.stpt(&["runs", "machine #1"]);
    assert!(
        runs.stdout
            .starts_with("machine #1 (#1): 1 run, page 1 of 1\n"),
        "{}",
        runs.snapshot()
    );
    let past = server.stpt(&["runs", "machine #1", "--page", "3"]);
    assert_snapshot!(past.snapshot(), @r"
    exit code: Some(1)
    --- stdout ---
    --- stderr ---
    error: machine #1 (#1) has no page 3 of runs at 10 a page; try a smaller --page
    ");
    let history = server.stpt(&["history", "machine #1", "nothing.py"]);
    assert!(
        !history.stderr.contains("machine machine"),
        "{}",
        history.stderr
    );
}
