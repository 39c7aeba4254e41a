//! A server under a base path (`stpt serve --base-path /stpt`): the commands reach it with
//! `--url http://HOST:PORT/stpt`: reads, the live `tail` socket and a runner delivering a
//! run. A base path that cannot be one is refused at start.

use std::process::Command;

use crate::support::{STPT, Server, passing_run, write_file};
use crate::tail::tail_while_posting;

#[test]
fn commands_reach_a_server_under_a_base_path() {
    // Spelled loosely on purpose: the server normalises it.
    let server = Server::start_with(&["--base-path", "stpt/"]);
    assert!(server.url.ends_with("/stpt"), "listening on {}", server.url);

    // A runner delivers a run under the prefix.
    let rig = server.dir.path().join("rig");
    std::fs::create_dir_all(&rig).expect("scenario directory");
    write_file(&rig, "on.sh", "exit 0\n");
    write_file(
        &rig,
        "stpt.toml",
        "command = [\"sh\", \"{file}\"]\n\n[[scenarios]]\nname = \"lamp\"\ntests = [\"on.sh\"]\n",
    );
    let ran = server.stpt(&["run", &rig.to_string_lossy(), "--machine", "lamp-rig"]);
    assert_eq!(ran.code, Some(0), "{}\n{}", ran.stdout, ran.stderr);
    assert!(
        !server.dir.path().join("spool").exists()
            || std::fs::read_dir(server.dir.path().join("spool"))
                .expect("the spool")
                .next()
                .is_none(),
        "the run was spooled rather than delivered: {}",
        ran.stderr
    );

    // Reads under the prefix, with the URL given as a flag.
    let machines = server.stpt(&["machines", "--url", &format!("{}/", server.url)]);
    assert_eq!(machines.code, Some(0), "{}", machines.stderr);
    assert!(machines.stdout.contains("lamp-rig"), "{}", machines.stdout);

    // The live socket under the prefix (tail fails rather than polls without it).
    let (code, output) = tail_while_posting(
        &server,
        &["tail", "lamp-rig", "--next", "--exit-status"],
        &passing_run("lamp-rig", 10),
    );
    assert_eq!(code, Some(0), "{output}");
    assert!(output.contains("finished passed"), "{output}");

    // Without the prefix, the server is not there.
    let root = server.url.strip_suffix("/stpt").expect("the prefix");
    let outside = server.stpt(&["machines", "--url", root]);
    assert_ne!(outside.code, Some(0), "{}", outside.stdout);
}

#[test]
fn a_bad_base_path_is_refused_at_start() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let output = Command::new(STPT)
        .args([
            "serve",
            "--port",
            "0",
            "--base-path",
            "/st pt",
            "--database-url",
        ])
        .arg(dir.path().join("stpt.db"))
        .env_remove("STPT_BASE_PATH")
        .output()
        .expect("run stpt serve");
    assert!(!output.status.success(), "a bad base path was accepted");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--base-path") && stderr.contains("has a character other than"),
        "{stderr}"
    );
}
