//! The WebSocket routes against a real server on a free port: each route's messages after
//! real ingest requests, filtering by machine, closing on shutdown, and two instances on one
//! PostgreSQL database seeing each other's changes.

use std::net::TcpStream;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::{Value, json};
use stpt_core::Event;
use stpt_core::Status;
use stpt_core::testing::builders::{dry_run, output, start, stop};
use stpt_server::Config;
use tungstenite::{Message, WebSocket};

use crate::test_app::TestApp;

/// How long a client waits for an expected message before the test fails.
const WAIT: Duration = Duration::from_secs(10);

/// A server running on its own runtime in a thread, stopped gracefully on drop.
pub(crate) struct Server {
    /// `http://127.0.0.1:PORT`, then the base path if one is configured
    pub(crate) base: String,
    port: u16,
    shutdown: Option<rocket::Shutdown>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    /// Builds the app with `config` and launches it on a free port (whatever port it names).
    pub(crate) fn launch(mut config: Config) -> Server {
        config.port = 0;
        let base_path = config.base_path.clone();
        let (ready, shutdown) = mpsc::channel();
        let thread = std::thread::spawn(move || {
            let runtime = rocket::tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                // Served as `stpt serve` serves it: behind the connection guard.
                let app = stpt_server::build(&config).expect("build the app");
                let launch = stpt_server::Launch::bind(app, &config).await.expect("bind");
                ready
                    .send((launch.shutdown(), launch.local_addr().port()))
                    .expect("report the shutdown handle");
                launch.run().await.expect("serve");
            });
        });
        let (shutdown, port) = shutdown.recv().expect("the server started");
        let server = Server {
            base: format!("http://127.0.0.1:{port}{base_path}"),
            port,
            shutdown: Some(shutdown),
            thread: Some(thread),
        };
        server.wait_until_healthy();
        server
    }

    fn wait_until_healthy(&self) {
        for _ in 0..200 {
            if ureq::get(&format!("{}/healthz", self.base)).call().is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("the server on port {} never became healthy", self.port);
    }

    /// Posts an event to its ingest endpoint; returns the response body.
    pub(crate) fn post(&self, event: &Event) -> Value {
        let path = match event {
            Event::DryRun(_) => "dry_run",
            Event::TestStart(_) => "test_start",
            Event::TestStop(_) => "test_stop",
            Event::TestOutput(output) => {
                let path = event.endpoint().expect("output with its run");
                return ureq::post(&format!("{}{path}", self.base))
                    .send_json(&output.batch)
                    .unwrap_or_else(|e| panic!("POST {path}: {e}"))
                    .into_json()
                    .expect("JSON answer");
            }
        };
        let body = serde_json::to_value(event).expect("event as JSON");
        self.post_json(path, &body)
    }

    /// Posts a JSON body to `/tm_api/<path>/`.
    pub(crate) fn post_json(&self, path: &str, body: &Value) -> Value {
        ureq::post(&format!("{}/tm_api/{path}/", self.base))
            .send_json(body)
            .unwrap_or_else(|e| panic!("POST {path}: {e}"))
            .into_json()
            .expect("JSON answer")
    }

    /// GET a JSON document.
    pub(crate) fn get(&self, path: &str) -> Value {
        ureq::get(&format!("{}{path}", self.base))
            .call()
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
            .into_json()
            .expect("JSON answer")
    }

    /// The id of the machine named `name`.
    pub(crate) fn machine_id(&self, name: &str) -> i64 {
        let machines = self.get("/tm_api/machines/?page_size=100");
        machines["results"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|m| m["machine_name"] == name)
            .and_then(|m| m["pk"].as_i64())
            .unwrap_or_else(|| panic!("no machine {name:?} in {machines}"))
    }

    /// The port it listens on (the guard's).
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// Logs in over HTTP as a browser does; answers the session cookie (`name=value`).
    fn login(&self, name: &str, password: &str) -> String {
        let agent = ureq::AgentBuilder::new().redirects(0).build();
        let form = agent
            .get(&format!("{}/login/", self.base))
            .call()
            .expect("the login page");
        let cookie_of = |response: &ureq::Response, name: &str| {
            response
                .all("set-cookie")
                .into_iter()
                .find_map(|c| c.split(';').next().filter(|p| p.starts_with(name)))
                .map(str::to_owned)
        };
        let csrf_cookie = cookie_of(&form, "stpt_csrf=").expect("a CSRF cookie");
        let html = form.into_string().expect("the page");
        let marker = "name=\"csrf\" value=\"";
        let start = html.find(marker).expect("a CSRF field") + marker.len();
        let csrf = &html[start..start + html[start..].find('"').expect("end")];
        let answer = agent
            .post(&format!("{}/login/", self.base))
            .set("Cookie", &csrf_cookie)
            .send_form(&[("csrf", csrf), ("username", name), ("password", password)])
            .expect("the login");
        assert_eq!(answer.status(), 303, "logged in");
        cookie_of(&answer, "stpt_session=").expect("a session cookie")
    }

    /// Opens a WebSocket to `path`.
    pub(crate) fn socket(&self, path: &str) -> Socket {
        self.socket_with(path, &[])
    }

    /// Opens a WebSocket to `path` with extra request headers.
    fn socket_with(&self, path: &str, headers: &[(&'static str, String)]) -> Socket {
        use tungstenite::client::IntoClientRequest;
        let stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        stream.set_read_timeout(Some(WAIT)).expect("read timeout");
        let mut request = format!("ws://127.0.0.1:{}{path}", self.port)
            .into_client_request()
            .expect("a WebSocket request");
        for (name, value) in headers {
            request
                .headers_mut()
                .insert(*name, value.parse().expect("a header value"));
        }
        let (socket, _) = tungstenite::client(request, stream)
            .unwrap_or_else(|e| panic!("WebSocket handshake on {path}: {e}"));
        Socket(socket)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            shutdown.notify();
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

pub(crate) struct Socket(WebSocket<TcpStream>);

impl Socket {
    /// The next text message as JSON; fails after [`WAIT`].
    pub(crate) fn next_json(&mut self) -> Value {
        loop {
            match self.0.read() {
                Ok(Message::Text(text)) => {
                    return serde_json::from_str(&text).expect("a JSON message");
                }
                Ok(Message::Ping(_) | Message::Pong(_)) => continue,
                Ok(other) => panic!("expected a text message, got {other:?}"),
                Err(e) => panic!("expected a message: {e}"),
            }
        }
    }

    /// True when the server closes the connection (rather than the read timing out).
    fn closes(&mut self) -> bool {
        loop {
            match self.0.read() {
                Ok(Message::Close(_)) => continue,
                Ok(_) => continue,
                Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                    return true;
                }
                Err(tungstenite::Error::Io(e)) => {
                    return !matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    );
                }
                Err(tungstenite::Error::Protocol(_)) => return true,
                Err(_) => return false,
            }
        }
    }
}

const LAMP: &[&str] = &["lamp_on.py", "lamp_off.py"];

/// Reads messages until none comes for a while (the stream is quiet).
fn read_until_quiet(socket: &mut Socket) -> Vec<Value> {
    socket
        .0
        .get_mut()
        .set_read_timeout(Some(Duration::from_millis(1500)))
        .expect("read timeout");
    let mut messages = Vec::new();
    loop {
        match socket.0.read() {
            Ok(Message::Text(text)) => {
                messages.push(serde_json::from_str(&text).expect("a JSON message"));
            }
            Ok(_) => continue,
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return messages;
            }
            Err(e) => panic!("the stream broke: {e}"),
        }
    }
}

/// Subscribers that fall behind a flood of changes, or fail to read the store during it, still
/// end on the true state: each machine's final status on the status stream, each run's on the
/// runs stream.
#[test]
fn lagging_subscribers_catch_up_to_the_true_state() {
    const MACHINES: usize = 6;
    const TESTS: usize = 25;
    let app = TestApp::sqlite();
    // A backlog of 4 makes every subscriber skip ahead; a pool of 2 that waits 20 ms for a
    // connection makes many of their reads fail while the flood lasts.
    let app = app.config(|config| {
        config.live_backlog = 4;
        config.pool = stpt_server::db::PoolOptions {
            max_size: 2,
            timeout: Duration::from_millis(20),
        };
    });
    let server = app.serve();
    let names: Vec<String> = (0..TESTS).map(|i| format!("t{i}.py")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    for m in 0..MACHINES {
        server.post(&dry_run(&format!("rig-{m}"), 0, &[("s.py", &names)]));
    }
    let first = server.machine_id("rig-0");
    let mut status: Vec<Socket> = (0..16)
        .map(|_| server.socket("/ws/machine/status"))
        .collect();
    let mut runs = server.socket(&format!("/ws/machine/{first}/runs"));

    std::thread::scope(|scope| {
        for m in 0..MACHINES {
            let server = &server;
            let names = &names;
            scope.spawn(move || {
                let machine = format!("rig-{m}");
                for (i, name) in names.iter().enumerate() {
                    server.post(&start(&machine, name, 1 + 2 * i as i64));
                    // The last test fails on even machines: the final status differs by machine.
                    let outcome = if i + 1 == TESTS && m % 2 == 0 {
                        Status::Failed
                    } else {
                        Status::Passed
                    };
                    server.post(&stop(&machine, name, outcome, 2 + 2 * i as i64));
                }
            });
        }
    });

    let mut truth = std::collections::HashMap::new();
    for m in 0..MACHINES {
        let id = server.machine_id(&format!("rig-{m}"));
        let expected = if m % 2 == 0 { "failed" } else { "passed" };
        truth.insert(id, json!(expected));
    }
    let ends: Vec<_> = std::thread::scope(|scope| {
        let readers: Vec<_> = status
            .iter_mut()
            .map(|socket| scope.spawn(move || read_until_quiet(socket)))
            .collect();
        readers
            .into_iter()
            .map(|r| r.join().expect("reader"))
            .collect()
    });
    for messages in ends {
        let mut seen = std::collections::HashMap::new();
        for message in messages {
            let m = &message["machine_id_status"];
            seen.insert(m["id"].as_i64().expect("machine id"), m["status"].clone());
        }
        assert_eq!(seen, truth, "a status subscriber ended on a stale state");
    }
    let last = read_until_quiet(&mut runs)
        .last()
        .cloned()
        .expect("run messages");
    assert_eq!(last["run_data"]["status"], "failed");
}

#[test]
fn output_reaches_its_machines_output_socket_as_ingested() {
    let app = TestApp::sqlite();
    let server = app.serve();
    let dry = server.post(&dry_run("rig-a", 0, &[("lamp.py", LAMP)]));
    let dry_b = server.post(&dry_run("rig-b", 0, &[("door.py", &["door_open.py"])]));
    let run_a = dry["run_id"].as_i64().expect("run id");
    let a = server.machine_id("rig-a");
    let mut socket = server.socket(&format!("/ws/machine/{a}/output"));
    // Another machine's output is not this socket's.
    server.post(&output(
        "rig-b",
        dry_b["run_id"].as_i64(),
        0,
        "b-1",
        &["not for a"],
    ));
    let accepted = server.post(&output(
        "rig-a",
        Some(run_a),
        1,
        "a-1",
        &["<script>alert(1)</script>", "\u{1b}[32mok\u{1b}[0m"],
    ));
    assert_eq!(accepted["duplicate"], false);
    let frame = socket.next_json();
    assert_eq!(frame["test_output"]["run_id"], run_a);
    assert_eq!(frame["test_output"]["index"], 1);
    assert_eq!(frame["test_output"]["test_id"], accepted["test_id"]);
    assert_eq!(
        frame["test_output"]["lines"],
        json!([
            {"text": "<script>alert(1)</script>", "stream": "stdout"},
            {"text": "\u{1b}[32mok\u{1b}[0m", "stream": "stdout"}
        ])
    );
    // A replayed batch is not pushed again: the next frame is the next batch.
    server.post(&output("rig-a", Some(run_a), 1, "a-1", &["again"]));
    server.post(&output("rig-a", Some(run_a), 1, "a-2", &["next"]));
    assert_eq!(
        socket.next_json()["test_output"]["lines"][0]["text"],
        "next"
    );
}

#[test]
fn each_route_pushes_its_message_after_ingest() {
    let app = TestApp::sqlite();
    let server = app.serve();
    server.post(&dry_run("rig-a", 0, &[("lamp.py", LAMP)]));
    server.post(&dry_run("rig-b", 0, &[("door.py", &["door_open.py"])]));
    let a = server.machine_id("rig-a");
    let b = server.machine_id("rig-b");
    // The feed publishes a burst of changes once per tick (250 ms): let the dry runs' go out
    // before subscribing, so each stream's first message is about the start below.
    std::thread::sleep(Duration::from_millis(600));

    // Trailing slashes as the seed's clients send them.
    let mut last = server.socket(&format!("/ws/machine/{a}/last/"));
    let mut runs = server.socket(&format!("/ws/machine/{a}/runs/"));
    let mut status = server.socket("/ws/machine/status/");

    let started = server.post(&start("rig-a", "lamp_on.py", 1));
    assert_eq!(started["file_name"], "lamp_on.py");

    let data = last.next_json();
    let run = &data["machine_data"]["last_master_scenario"];
    assert_eq!(data["machine_data"]["machine_name"], "rig-a");
    assert_eq!(run["status"], "running");
    assert_eq!(run["tests_statistics"]["running"], 1);
    assert_eq!(run["tests_statistics"]["waiting"], 1);
    assert_eq!(run["scenarios"][0]["tests"][0]["file_name"], "lamp_on.py");
    assert_eq!(run["scenarios"][0]["tests"][0]["status"], "running");
    let run_id = run["pk"].as_i64().expect("run id");

    assert_eq!(
        runs.next_json(),
        json!({"run_data": {"id": run_id, "status": "running"}})
    );
    assert_eq!(
        status.next_json(),
        json!({"machine_id_status": {"id": a, "status": "running"}})
    );

    // Another machine's change reaches the status stream only.
    server.post(&start("rig-b", "door_open.py", 2));
    assert_eq!(
        status.next_json(),
        json!({"machine_id_status": {"id": b, "status": "running"}})
    );

    server.post(&stop("rig-a", "lamp_on.py", Status::Failed, 3));
    // The next message on rig-a's streams is rig-a's stop: rig-b's start was filtered out.
    let data = last.next_json();
    let run = &data["machine_data"]["last_master_scenario"];
    assert_eq!(run["scenarios"][0]["tests"][0]["status"], "failed");
    assert_eq!(run["tests_statistics"]["failed"], 1);
    assert_eq!(run["status"], "waiting");
    assert_eq!(
        runs.next_json(),
        json!({"run_data": {"id": run_id, "status": "waiting"}})
    );
    assert_eq!(
        status.next_json(),
        json!({"machine_id_status": {"id": a, "status": "waiting"}})
    );

    // A new run: the live stream switches to it.
    server.post(&dry_run("rig-a", 10, &[("lamp.py", &["lamp_dim.py"])]));
    let data = last.next_json();
    let run = &data["machine_data"]["last_master_scenario"];
    assert_ne!(run["pk"].as_i64(), Some(run_id));
    assert_eq!(run["scenarios"][0]["tests"][0]["file_name"], "lamp_dim.py");
    assert_eq!(run["status"], "waiting");
}

#[test]
fn unknown_machines_are_refused_before_the_upgrade() {
    let app = TestApp::sqlite();
    let server = app.serve();
    let stream = TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
    let url = format!("ws://127.0.0.1:{}/ws/machine/999/last", server.port);
    match tungstenite::client(url.as_str(), stream) {
        Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(response))) => {
            assert_eq!(response.status(), 404);
        }
        other => panic!("expected a 404 answer, got {other:?}"),
    }
}

/// A live feed ends with its credential: revoking the token a socket was opened with, or
/// removing the user whose session opened it, closes the socket within a second.
#[test]
fn sockets_close_within_a_second_of_their_credential_ending() {
    use stpt_server::config::ReadAccess;
    use stpt_server::db::AccessStore;
    let app = TestApp::sqlite();
    let app = app.config(|config| config.read_access = ReadAccess::Login);
    let server = app.serve();
    server.post(&dry_run("rig-a", 0, &[("lamp.py", LAMP)]));
    let access = AccessStore::new(app.db().pool().clone());
    let token = access.create_token("rig-a").expect("token");
    access
        .add_user("fay", None, "a long enough password")
        .expect("user");
    let session = server.login("fay", "a long enough password");
    let mut by_token = server.socket_with(
        "/ws/machine/status",
        &[("Authorization", format!("Bearer {token}"))],
    );
    let mut by_session = server.socket_with("/ws/machine/status", &[("Cookie", session)]);

    server.post(&start("rig-a", "lamp_on.py", 1));
    assert_eq!(
        by_token.next_json()["machine_id_status"]["status"],
        "running"
    );
    assert_eq!(
        by_session.next_json()["machine_id_status"]["status"],
        "running"
    );

    let revoked = std::time::Instant::now();
    access.revoke_token(&token).expect("revoke");
    assert!(by_token.closes(), "the revoked token's socket stayed open");
    assert!(
        revoked.elapsed() < Duration::from_secs(1),
        "{:?}",
        revoked.elapsed()
    );

    // The session's socket is untouched by that, and ends with its user.
    server.post(&stop("rig-a", "lamp_on.py", Status::Passed, 2));
    assert_eq!(
        by_session.next_json()["machine_id_status"]["status"],
        "waiting"
    );
    let removed = std::time::Instant::now();
    assert!(access.remove_user("fay").expect("remove"));
    assert!(by_session.closes(), "the removed user's socket stayed open");
    assert!(
        removed.elapsed() < Duration::from_secs(1),
        "{:?}",
        removed.elapsed()
    );
}

#[test]
fn sockets_close_when_the_server_stops() {
    let app = TestApp::sqlite();
    let server = app.serve();
    server.post(&dry_run("rig-a", 0, &[("lamp.py", LAMP)]));
    let a = server.machine_id("rig-a");
    let mut sockets = vec![
        server.socket(&format!("/ws/machine/{a}/last")),
        server.socket(&format!("/ws/machine/{a}/runs")),
        server.socket("/ws/machine/status"),
    ];
    drop(server);
    for socket in &mut sockets {
        assert!(socket.closes(), "the socket stayed open after shutdown");
    }
}

#[test]
#[cfg_attr(
    not(stpt_postgres_tests),
    ignore = "set STPT_TEST_POSTGRES_URL to run PostgreSQL tests"
)]
fn an_instance_hears_events_posted_to_another_on_postgres() {
    let app = TestApp::postgres();
    let a = app.serve();
    let b = app.serve();
    let mut status_b = b.socket("/ws/machine/status");

    a.post(&dry_run("rig-pg", 0, &[("lamp.py", LAMP)]));
    let machine = b.machine_id("rig-pg");
    assert_eq!(
        status_b.next_json(),
        json!({"machine_id_status": {"id": machine, "status": "waiting"}})
    );

    let mut runs_a = a.socket(&format!("/ws/machine/{machine}/runs"));
    let mut runs_b = b.socket(&format!("/ws/machine/{machine}/runs"));
    let mut last_b = b.socket(&format!("/ws/machine/{machine}/last"));
    a.post(&start("rig-pg", "lamp_on.py", 1));
    b.post(&stop("rig-pg", "lamp_on.py", Status::Passed, 2));

    // Each instance delivers each change once, whichever instance it was posted to.
    for runs in [&mut runs_a, &mut runs_b] {
        assert_eq!(runs.next_json()["run_data"]["status"], "running");
        assert_eq!(runs.next_json()["run_data"]["status"], "waiting");
    }
    let first = last_b.next_json();
    let tests = &first["machine_data"]["last_master_scenario"]["scenarios"][0]["tests"];
    // The stream reads the state when it sends, so a burst may arrive as one message.
    assert!(
        tests[0]["status"] == "running" || tests[0]["status"] == "passed",
        "{first}"
    );
}

/// The texts of `test_output` frames read from `socket` until `count` lines came; fails on a
/// frame of another test.
fn output_texts(socket: &mut Socket, test_id: &Value, count: usize) -> Vec<String> {
    let mut texts = Vec::new();
    while texts.len() < count {
        let frame = socket.next_json();
        assert_eq!(frame["test_output"]["test_id"], *test_id, "{frame}");
        let lines = frame["test_output"]["lines"].as_array().expect("lines");
        texts.extend(
            lines
                .iter()
                .map(|l| l["text"].as_str().expect("text").to_owned()),
        );
    }
    texts
}

#[test]
#[cfg_attr(
    not(stpt_postgres_tests),
    ignore = "set STPT_TEST_POSTGRES_URL to run PostgreSQL tests"
)]
fn output_posted_to_one_instance_reaches_the_other_on_postgres() {
    let app = TestApp::postgres();
    let a = app.serve();
    let b = app.serve();
    let dry = a.post(&dry_run("rig-pg", 0, &[("lamp.py", LAMP)]));
    let run = dry["run_id"].as_i64();
    let machine = b.machine_id("rig-pg");
    let mut out_a = a.socket(&format!("/ws/machine/{machine}/output"));
    let mut out_b = b.socket(&format!("/ws/machine/{machine}/output"));

    // A small batch, posted to A, reaches B's subscriber; A's gets it once, directly.
    let small = a.post(&output("rig-pg", run, 0, "o-1", &["one", "two"]));
    let test = small["test_id"].clone();
    assert_eq!(output_texts(&mut out_b, &test, 2), ["one", "two"]);
    assert_eq!(output_texts(&mut out_a, &test, 2), ["one", "two"]);

    // A batch far over a notification's 8000 bytes travels too: B reads it from the database.
    let big: Vec<String> = (0..400)
        .map(|i| format!("line {i:04} {}", "x".repeat(60)))
        .collect();
    let big_refs: Vec<&str> = big.iter().map(String::as_str).collect();
    a.post(&output("rig-pg", run, 0, "o-2", &big_refs));
    // Then more, posted to B: A hears it, and B's subscriber still sees every line once, in
    // order.
    b.post(&output("rig-pg", run, 0, "o-3", &["three"]));
    a.post(&output("rig-pg", run, 0, "o-4", &["four"]));
    let mut expected = big.clone();
    expected.extend(["three".to_owned(), "four".to_owned()]);
    for (name, socket) in [("b", &mut out_b), ("a", &mut out_a)] {
        let got = output_texts(socket, &test, expected.len());
        if got != expected {
            let first = got.iter().zip(&expected).position(|(g, e)| g != e);
            panic!(
                "socket {name}: {} lines for {}, first difference at {first:?}: {:?}",
                got.len(),
                expected.len(),
                first.map(|i| (
                    &got[i][..9.min(got[i].len())],
                    &expected[i][..9.min(expected[i].len())]
                ))
            );
        }
    }

    // Nothing more arrives: no batch was delivered twice.
    for socket in [&mut out_a, &mut out_b] {
        let extra = read_until_quiet(socket);
        let texts: Vec<&str> = extra
            .iter()
            .flat_map(|f| f["test_output"]["lines"].as_array().into_iter().flatten())
            .map(|l| l["text"].as_str().unwrap_or_default())
            .map(|t| &t[..9.min(t.len())])
            .collect();
        assert!(extra.is_empty(), "delivered twice: {texts:?}");
    }
}
