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

#[test]
fn a_personal_token_reads_and_never_reports() {
    let server = Server::start_with(&["--read-access", "login", "--ingest-auth", "token"]);
    let db = server.database();
    let db = db.to_str().expect("a UTF-8 path");
    let admin = |args: &[&str], stdin| {
        let mut all = args.to_vec();
        all.extend(["--database-url", db]);
        stpt_in(server.dir.path(), &all, stdin)
    };
    let nobody = admin(&["token", "create", "--user", "ada"], None);
    assert_eq!(nobody.code, Some(1), "{}", nobody.snapshot());
    assert!(
        nobody.stderr.contains("no user named \"ada\""),
        "{}",
        nobody.snapshot()
    );
    let added = admin(&["user", "add", "ada"], Some("a long password\n"));
    assert_eq!(added.code, Some(0), "{}", added.snapshot());
    let created = admin(&["token", "create", "--user", "ada"], None);
    assert_eq!(created.code, Some(0), "{}", created.snapshot());
    let token = created.stdout.trim().to_owned();
    assert!(
        created.stderr.contains("personal read token for ada"),
        "{}",
        created.snapshot()
    );

    // Without a token the server says how to give one.
    let refused = server.stpt(&["machines"]);
    assert_ne!(refused.code, Some(0), "{}", refused.snapshot());
    for hint in ["Authorization: Bearer", "--token", "STPT_TOKEN"] {
        assert!(refused.stderr.contains(hint), "{}", refused.snapshot());
    }
    // With it, as a flag or in the environment, reads work.
    let read = server.stpt(&["machines", &format!("--token={token}")]);
    assert_eq!(read.code, Some(0), "{}", read.snapshot());
    let read = server
        .command(&["machines"])
        .env("STPT_TOKEN", &token)
        .output()
        .expect("run stpt machines");
    assert!(read.status.success(), "{read:?}");

    // It never reports.
    let reported = ureq::post(&format!("{}/tm_api/dry_run", server.url))
        .set("Authorization", &format!("Bearer {token}"))
        .send_json(passing_run("rig-9", 0).dry_run());
    match reported {
        Err(ureq::Error::Status(403, answer)) => {
            let body = answer.into_string().unwrap_or_default();
            assert!(body.contains("only reads"), "{body}");
        }
        other => panic!("a personal token reported: {other:?}"),
    }

    // Listed as the user's, revoked with the user's name.
    let listed = admin(&["token", "list"], None);
    assert!(
        listed.stdout.contains("\tuser ada\t"),
        "{}",
        listed.snapshot()
    );
    assert!(listed.stdout.contains("live"), "{}", listed.snapshot());
    let revoked = admin(&["token", "revoke", "--user", "ada"], None);
    assert_eq!(
        revoked.stdout,
        "revoked 1 personal token of ada\n",
        "{}",
        revoked.snapshot()
    );
    let listed = admin(&["token", "list"], None);
    assert!(listed.stdout.contains("revoked"), "{}", listed.snapshot());
    let after = server.stpt(&["machines", &format!("--token={token}")]);
    assert_ne!(after.code, Some(0), "{}", after.snapshot());
}
