//! HTTPS end to end, with a CA and a server certificate made at run time: `stpt serve
//! --tls-cert --tls-key`; the queries, `tail` (over `wss://`), `run` and `replay` trusting the
//! CA through `STPT_CA_CERT`, and failing clearly without it; a webhook delivered to an HTTPS
//! receiver; the guard dropping a client that never starts its handshake.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::support::{STPT, Server, lamp_run, passing_run, write_file};
use crate::tail::tail_while_posting;
use crate::test_ca::TestCa;

/// What an untrusted certificate looks like to every command.
const UNTRUSTED: &str = "TLS: certificate for 127.0.0.1 is not trusted (UnknownIssuer); pass \
                         --ca-cert or STPT_CA_CERT";

#[test]
fn queries_and_tail_work_over_https_with_the_ca_and_fail_clearly_without_it() {
    let ca = TestCa::new();
    let server = Server::start_https(&ca, &[]);
    assert!(
        server.url.starts_with("https://127.0.0.1:"),
        "{}",
        server.url
    );
    server.post_run(&passing_run("lamp-rig", 0));

    let machines = server.stpt(&["machines"]);
    assert_eq!(machines.code, Some(0), "{}", machines.snapshot());
    assert!(
        machines.stdout.contains("lamp-rig"),
        "{}",
        machines.snapshot()
    );

    // `tail` follows the run over wss:// (no fallback to polling: tail_while_posting checks).
    let (code, output) = tail_while_posting(
        &server,
        &["tail", "lamp-rig", "--next", "--exit-status"],
        &lamp_run(10),
    );
    assert_eq!(code, Some(2), "{output}");
    assert!(
        output.contains("run 2 finished failed: failed 1 · warning 1 · passed 1"),
        "{output}"
    );

    // The same commands without the CA: a certificate error naming the host, exit code 3.
    for args in [
        &["machines"][..],
        &["tail", "lamp-rig", "--exit-status"][..],
    ] {
        let output = server
            .command(args)
            .env_remove("STPT_CA_CERT")
            .stdin(Stdio::null())
            .output()
            .expect("run stpt");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(3), "{args:?}: {stderr}");
        assert!(stderr.contains(UNTRUSTED), "{args:?}: {stderr}");
    }

    // Served over HTTPS, cookies are Secure.
    let agent = stpt_runner::tls::agent_builder(server.ca.as_deref())
        .expect("the test CA")
        .build();
    let login = agent
        .get(&format!("{}/login", server.url))
        .call()
        .expect("the login page");
    let cookies = login.all("set-cookie");
    assert!(
        !cookies.is_empty() && cookies.iter().all(|c| c.contains("; Secure")),
        "{cookies:?}"
    );

    // --ca-cert does what STPT_CA_CERT does.
    let ca_path = ca.ca();
    let flagged = server
        .command(&[
            "machines",
            "--ca-cert",
            ca_path.to_str().expect("UTF-8 path"),
        ])
        .env_remove("STPT_CA_CERT")
        .output()
        .expect("run stpt");
    assert_eq!(
        flagged.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&flagged.stderr)
    );
}

#[test]
fn a_run_over_https_is_delivered_and_spools_until_replayed_when_it_cannot_be() {
    let ca = TestCa::new();
    let server = Server::start_https(&ca, &[]);
    let rig = server.dir.path().join("rig");
    std::fs::create_dir_all(&rig).expect("scenario directory");
    write_file(&rig, "on.sh", "exit 0\n");
    write_file(
        &rig,
        "stpt.toml",
        "command = [\"sh\", \"{file}\"]\n\n[[scenarios]]\nname = \"lamp\"\ntests = [\"on.sh\"]\n",
    );
    let rig = rig.to_string_lossy().into_owned();

    let delivered = server.stpt(&["run", &rig, "--machine", "rig-a"]);
    assert_eq!(delivered.code, Some(0), "{}", delivered.snapshot());
    let show = server.stpt(&["show", "--last", "rig-a", "--json"]).json();
    assert_eq!(
        show["scenarios"][0]["tests"][0]["status"], "passed",
        "{show}"
    );

    // The server away, then a server whose certificate the rig does not trust: both keep the
    // events spooled, and neither fails the run.
    let away = server.stpt(&[
        "run",
        &rig,
        "--machine",
        "rig-b",
        "--url",
        "https://127.0.0.1:9",
    ]);
    assert_eq!(away.code, Some(0), "{}", away.snapshot());
    assert!(
        away.stdout.contains("events wait in"),
        "{}",
        away.snapshot()
    );
    let untrusted = server
        .command(&["run", &rig, "--machine", "rig-c"])
        .env_remove("STPT_CA_CERT")
        .output()
        .expect("run stpt");
    let stdout = String::from_utf8_lossy(&untrusted.stdout);
    assert_eq!(untrusted.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("events wait in"), "{stdout}");
    let stuck = server
        .command(&["replay", "--json"])
        .env_remove("STPT_CA_CERT")
        .output()
        .expect("run stpt");
    let held: serde_json::Value =
        serde_json::from_slice(&stuck.stdout).expect("replay --json answers JSON");
    assert_ne!(stuck.status.code(), Some(0), "{held}");
    assert!(
        held["held_up"]["reason"]
            .as_str()
            .is_some_and(|reason| reason.contains(UNTRUSTED)),
        "{held}"
    );
    let machines = server.stpt(&["machines", "--json"]).json();
    assert_eq!(machines.as_array().map(Vec::len), Some(1), "{machines}");

    // With the CA, the replay delivers both runs over HTTPS: a dry run, a start and a stop each.
    let replay = server.stpt(&["replay", "--json"]);
    assert_eq!(replay.code, Some(0), "{}", replay.snapshot());
    let delivery = replay.json();
    assert_eq!(delivery["delivered"], 6, "{delivery}");
    assert_eq!(delivery["pending"], 0, "{delivery}");
    for machine in ["rig-b", "rig-c"] {
        let show = server.stpt(&["show", "--last", machine, "--json"]).json();
        assert_eq!(
            show["scenarios"][0]["tests"][0]["status"], "passed",
            "{show}"
        );
    }
}

/// One request an HTTPS receiver took: its head and body.
struct Received {
    head: String,
    body: Vec<u8>,
}

/// An HTTPS server on a free port of 127.0.0.1 with `ca`'s server certificate, answering 200
/// to every request and handing each over; answers its port.
fn https_receiver(ca: &TestCa) -> (u16, mpsc::Receiver<Received>) {
    let config = stpt_server::guard::tls::server_config(&ca.cert(), &ca.key())
        .expect("the receiver's certificate");
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a port");
    let port = listener.local_addr().expect("local address").port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for tcp in listener.incoming() {
            let Ok(tcp) = tcp else { continue };
            let _ = tcp.set_read_timeout(Some(Duration::from_secs(10)));
            let Ok(connection) = rustls::ServerConnection::new(config.clone()) else {
                continue;
            };
            let mut tls = rustls::StreamOwned::new(connection, tcp);
            let mut reader = BufReader::new(&mut tls);
            let mut head = String::new();
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                if let Some((name, value)) = line.split_once(':')
                    && name.eq_ignore_ascii_case("content-length")
                {
                    length = value.trim().parse().unwrap_or(0);
                }
                let end = line == "\r\n";
                head.push_str(&line);
                if end {
                    break;
                }
            }
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_err() {
                continue;
            }
            let _ =
                tls.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            let _ = tls.flush();
            tls.conn.send_close_notify();
            let _ = tls.flush();
            if tx.send(Received { head, body }).is_err() {
                return;
            }
        }
    });
    (port, rx)
}

#[test]
fn a_webhook_is_delivered_signed_to_an_https_receiver_trusted_through_the_ca() {
    let ca = TestCa::new();
    let (port, received) = https_receiver(&ca);
    let ca_path = ca.ca();
    let server = Server::start_with_env(&[], &[("STPT_CA_CERT", ca_path.to_str().expect("UTF-8"))]);
    let added = Command::new(STPT)
        .args([
            "webhook",
            "add",
            &format!("https://127.0.0.1:{port}/hook"),
            "--on",
            "failed",
        ])
        .arg("--database-url")
        .arg(server.database())
        .env_remove("STPT_DATABASE_URL")
        .output()
        .expect("run stpt webhook add");
    let stdout = String::from_utf8_lossy(&added.stdout).into_owned();
    assert_eq!(added.status.code(), Some(0), "{stdout}");
    let secret = stdout
        .lines()
        .find_map(|line| line.strip_prefix("secret\t"))
        .expect("the webhook's secret")
        .to_owned();

    let run_id = server.post_run(&lamp_run(0));
    let hook = received
        .recv_timeout(Duration::from_secs(30))
        .expect("the webhook reaches the HTTPS receiver");
    assert!(
        hook.head.starts_with("POST /hook HTTP/1.1\r\n"),
        "{}",
        hook.head
    );
    let signature = hook
        .head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("x-stpt-signature")
                .then(|| value.trim().to_owned())
        })
        .expect("a signature header");
    assert_eq!(
        signature,
        stpt_server::webhooks::signature(&secret, &hook.body)
    );
    let payload: serde_json::Value = serde_json::from_slice(&hook.body).expect("a JSON body");
    assert_eq!(payload["event"], "failed", "{payload}");
    assert_eq!(payload["run"]["id"], run_id, "{payload}");
}

#[test]
fn the_guard_drops_a_client_that_never_starts_its_handshake() {
    let ca = TestCa::new();
    let server = Server::start_https(&ca, &["--header-timeout", "1s"]);
    let address = server.url.trim_start_matches("https://").to_owned();
    let mut silent = TcpStream::connect(&address).expect("connect");
    silent
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    let opened = Instant::now();
    let mut byte = [0u8; 1];
    // Closed without a byte (or reset): nothing is ever said to a client that said nothing.
    let read = silent.read(&mut byte);
    let waited = opened.elapsed();
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(5),
        "dropped after {waited:?}"
    );
    // The server still serves a client that does its handshake.
    let machines = server.stpt(&["machines"]);
    assert_eq!(machines.code, Some(0), "{}", machines.snapshot());
}

#[test]
fn serve_refuses_half_a_tls_configuration_and_unreadable_files() {
    let ca = TestCa::new();
    let dir = tempfile::tempdir().expect("temporary directory");
    let database = dir.path().join("stpt.db");
    let serve = |args: &[&str]| {
        let output = Command::new(STPT)
            .args(["serve", "--port", "0", "--database-url"])
            .arg(&database)
            .args(args)
            .env_remove("STPT_TLS_CERT")
            .env_remove("STPT_TLS_KEY")
            .env_remove("STPT_CA_CERT")
            .stdin(Stdio::null())
            .output()
            .expect("run stpt serve");
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let cert = ca.cert();
    let cert = cert.to_str().expect("UTF-8 path");
    let (code, stderr) = serve(&["--tls-cert", cert]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("HTTPS needs both a certificate and its key")
            && stderr.contains("--tls-key"),
        "{stderr}"
    );
    let (code, stderr) = serve(&["--tls-cert", cert, "--tls-key", cert]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("cannot read a private key"), "{stderr}");
    let (code, stderr) = serve(&["--tls-cert", "/nonexistent/cert.pem", "--tls-key", cert]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("cannot read the TLS certificate /nonexistent/cert.pem"),
        "{stderr}"
    );
}
