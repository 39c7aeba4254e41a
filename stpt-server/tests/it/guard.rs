//! The connection guard in front of a real server, with small limits: slow and oversized heads,
//! idle keep-alive connections, slow bodies, the connection cap (evicting the longest-waiting,
//! refusing when all are busy, WebSockets included), the body budget, the client address the
//! login rate limit sees, and requests that only relay correctly when framed correctly
//! (pipelined, chunked, `Expect: 100-continue`).
//!
//! Each test talks raw HTTP/1.1 over a socket, so it sees exactly what the server sends and
//! when it closes.

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use stpt_server::guard::Limits;
use stpt_server::{Config, Launch, LaunchError};

use crate::live::Server;
use crate::test_app::{TestApp, TestAppBuilder};

/// Longest wait for anything the server should do.
const PATIENCE: Duration = Duration::from_secs(10);

/// A dry run small enough for any test.
const DRY_RUN: &str = r#"{"machine_name": "rig-guard", "timestamp": "2024-01-01 00:00:00.000000", "master_scenario": {"file_name": "m.py", "file_path": "/m", "script": "", "scenarios": [{"file_name": "s.py", "file_path": "/s", "script": "", "tests": [{"file_name": "t.py", "file_path": "/t", "script": ""}]}]}}"#;

fn server_with(adjust: impl FnOnce(&mut Limits)) -> (TestAppBuilder, Server) {
    let app = TestApp::sqlite();
    let app = app.config(|config| {
        adjust(&mut config.guard);
        config.body_limit = config.body_limit.min(config.guard.body_budget);
    });
    let server = app.serve();
    (app, server)
}

fn connect(server: &Server) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", server.port())).expect("connect");
    stream
        .set_read_timeout(Some(PATIENCE))
        .expect("read timeout");
    stream
}

/// A connection from another loopback address (Linux routes all of 127.0.0.0/8 to `lo`).
fn connect_from(ip: Ipv4Addr, server: &Server) -> TcpStream {
    let runtime = rocket::tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let stream = runtime.block_on(async {
        let socket = rocket::tokio::net::TcpSocket::new_v4().expect("socket");
        socket
            .bind(SocketAddr::from((ip, 0)))
            .expect("bind a loopback address");
        socket
            .connect(SocketAddr::from((Ipv4Addr::LOCALHOST, server.port())))
            .await
            .expect("connect")
            .into_std()
            .expect("a std socket")
    });
    stream.set_nonblocking(false).expect("blocking");
    stream
        .set_read_timeout(Some(PATIENCE))
        .expect("read timeout");
    stream
}

/// One response as received.
#[derive(Debug)]
struct Answer {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!("a JSON body ({e}): {}", String::from_utf8_lossy(&self.body))
        })
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|line| {
            let (field, value) = line.split_once(':')?;
            field
                .trim()
                .eq_ignore_ascii_case(name)
                .then(|| value.trim())
        })
    }
}

/// Reads one response (its body delimited by Content-Length); `None` if the connection ends
/// before a head.
fn read_answer(stream: &mut TcpStream) -> Option<Answer> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(0) => return None,
            Ok(_) => head.push(byte[0]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if head.is_empty() && e.kind() == ErrorKind::ConnectionReset => return None,
            Err(e) => panic!("reading a response head: {e}"),
        }
    }
    let head = String::from_utf8(head).expect("a text head");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("a status line: {head}"));
    let mut answer = Answer {
        status,
        head,
        body: Vec::new(),
    };
    let length: usize = answer
        .header("content-length")
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    answer.body = vec![0; length];
    stream
        .read_exact(&mut answer.body)
        .expect("the response body");
    Some(answer)
}

/// Whether the server closes `stream` within `within` (dropping whatever it sends first).
fn closes_within(stream: &mut TcpStream, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    let mut scratch = [0u8; 4096];
    while Instant::now() < deadline {
        let left = deadline.saturating_duration_since(Instant::now());
        stream
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .expect("read timeout");
        match stream.read(&mut scratch) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return false;
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return true,
        }
    }
    false
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
}

fn post(path: &str, body: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// `GET /healthz` on a fresh connection.
fn healthz(server: &Server) -> Option<Answer> {
    let mut stream = connect(server);
    stream.write_all(get("/healthz").as_bytes()).ok()?;
    read_answer(&mut stream)
}

/// Retries `check` until it holds or [`PATIENCE`] has passed.
fn eventually(mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn a_head_that_does_not_arrive_in_time_is_answered_408_and_closed() {
    let timeout = Duration::from_millis(500);
    let (_db, server) = server_with(|limits| limits.header_timeout = timeout);

    // The first request's head.
    let mut stream = connect(&server);
    let started = Instant::now();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .expect("send a partial head");
    let answer = read_answer(&mut stream).expect("an answer");
    assert_eq!(answer.status, 408);
    assert_eq!(answer.json()["error"], "request_timeout");
    assert_eq!(answer.header("connection"), Some("close"));
    assert!(started.elapsed() >= timeout - Duration::from_millis(50));
    assert!(closes_within(&mut stream, PATIENCE));

    // A later request's head on a kept-alive connection, timed from its first byte.
    let mut stream = connect(&server);
    stream
        .write_all(get("/healthz").as_bytes())
        .expect("a request");
    assert_eq!(read_answer(&mut stream).expect("an answer").status, 200);
    std::thread::sleep(timeout / 2);
    stream.write_all(b"GET /heal").expect("a partial head");
    let started = Instant::now();
    let answer = read_answer(&mut stream).expect("an answer");
    assert_eq!(answer.status, 408);
    assert!(started.elapsed() >= timeout - Duration::from_millis(50));
    assert!(closes_within(&mut stream, PATIENCE));
}

#[test]
fn an_idle_keep_alive_connection_is_closed() {
    let idle = Duration::from_millis(500);
    let (_db, server) = server_with(|limits| limits.idle_timeout = idle);
    let mut stream = connect(&server);
    for _ in 0..2 {
        stream
            .write_all(get("/healthz").as_bytes())
            .expect("a request");
        assert_eq!(read_answer(&mut stream).expect("an answer").status, 200);
    }
    let started = Instant::now();
    assert!(
        closes_within(&mut stream, PATIENCE),
        "the idle connection stayed open"
    );
    assert!(started.elapsed() >= idle - Duration::from_millis(50));
}

#[test]
fn a_body_slower_than_the_minimum_rate_is_cut_off() {
    let (_db, server) = server_with(|limits| {
        limits.body_timeout = Duration::from_millis(500);
        limits.body_min_rate = 1000;
    });

    // 100 bytes a second against a minimum of 1000.
    let mut stream = connect(&server);
    stream
        .write_all(
            b"POST /tm_api/dry_run/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
              Content-Length: 100000\r\n\r\n",
        )
        .expect("a head");
    let stop = Arc::new(AtomicBool::new(false));
    let trickle = std::thread::spawn({
        let mut stream = stream.try_clone().expect("a second handle");
        let stop = stop.clone();
        move || {
            while !stop.load(Ordering::Relaxed) {
                if stream.write_all(&[b' '; 10]).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    });
    let started = Instant::now();
    let answer = read_answer(&mut stream).expect("an answer");
    stop.store(true, Ordering::Relaxed);
    assert_eq!(answer.status, 408);
    assert_eq!(answer.json()["error"], "request_timeout");
    assert!(started.elapsed() < PATIENCE);
    assert!(closes_within(&mut stream, PATIENCE));
    trickle.join().expect("the trickling thread");

    // A body sent in pieces, but fast enough, goes through.
    let mut stream = connect(&server);
    let request = post("/tm_api/dry_run/", DRY_RUN);
    for piece in request.as_bytes().chunks(request.len() / 3 + 1) {
        stream.write_all(piece).expect("a piece");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(read_answer(&mut stream).expect("an answer").status, 201);
}

#[test]
fn an_oversized_head_is_answered_431() {
    let (_db, server) = server_with(|limits| limits.max_header_bytes = 1024);
    let mut stream = connect(&server);
    let head = format!(
        "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: {}\r\n\r\n",
        "a".repeat(2000)
    );
    stream.write_all(head.as_bytes()).expect("a large head");
    let answer = read_answer(&mut stream).expect("an answer");
    assert_eq!(answer.status, 431);
    assert_eq!(answer.json()["error"], "header_too_large");
    assert!(closes_within(&mut stream, PATIENCE));

    // Within the limit it is served.
    let mut stream = connect(&server);
    let head = format!(
        "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: {}\r\n\r\n",
        "a".repeat(500)
    );
    stream.write_all(head.as_bytes()).expect("a head");
    assert_eq!(read_answer(&mut stream).expect("an answer").status, 200);
}

#[test]
fn at_the_cap_a_waiting_connection_makes_room_and_busy_ones_do_not() {
    let (_db, server) = server_with(|limits| limits.max_connections = 3);

    // Three clients hold the cap with heads that never end; a newcomer still gets in, and the
    // one that waited longest is told why it is dropped.
    let mut slow: Vec<TcpStream> = (0..3)
        .map(|_| {
            let mut stream = connect(&server);
            stream
                .write_all(b"GET /healthz HTTP/1.1\r\n")
                .expect("a partial head");
            std::thread::sleep(Duration::from_millis(50));
            stream
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(healthz(&server).expect("an answer").status, 200);
    let evicted = read_answer(&mut slow[0]).expect("an answer");
    assert_eq!(evicted.status, 503);
    assert_eq!(evicted.json()["error"], "unavailable");
    drop(slow);

    // WebSockets are busy: three of them fill the cap, and a newcomer is refused at once.
    let mut sockets = Vec::new();
    assert!(
        eventually(|| {
            // The slow connections' slots are freed once the guard sees them close.
            if sockets.len() < 3 && healthz(&server).is_some_and(|a| a.status == 200) {
                sockets.push(server.socket("/ws/machine/status"));
            }
            sockets.len() == 3
        }),
        "three WebSockets could not be opened"
    );
    let refused = healthz(&server).expect("an answer");
    assert_eq!(refused.status, 503);
    assert_eq!(refused.json()["error"], "unavailable");
    assert_eq!(refused.header("connection"), Some("close"));

    // One leaves: its slot serves others again, and the other sockets still relay.
    drop(sockets.pop());
    let mut stream = None;
    assert!(
        eventually(|| {
            let mut attempt = connect(&server);
            let _ = attempt.write_all(post("/tm_api/dry_run/", DRY_RUN).as_bytes());
            let created = read_answer(&mut attempt).is_some_and(|a| a.status == 201);
            stream = Some(attempt);
            created
        }),
        "the cap did not free up"
    );
    for socket in &mut sockets {
        let message = socket.next_json();
        assert_eq!(message["machine_id_status"]["status"], "waiting");
    }
}

#[test]
fn bodies_over_the_budget_wait_then_get_503() {
    let (_db, server) = server_with(|limits| {
        limits.body_budget = 16 * 1024;
        limits.body_timeout = Duration::from_millis(500);
        limits.body_min_rate = 1000;
    });
    // One upload (as large as the body limit allows) takes nearly the whole budget and stalls
    // (within its time).
    let mut hog = connect(&server);
    hog.write_all(
        b"POST /tm_api/dry_run/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
          Content-Length: 16384\r\n\r\n",
    )
    .expect("a head");
    hog.write_all(&[b' '; 16 * 1024 - 100])
        .expect("most of a body");
    std::thread::sleep(Duration::from_millis(200));

    // Another body cannot be relayed and is refused once its time is up.
    let mut waiting = connect(&server);
    waiting
        .write_all(post("/tm_api/dry_run/", DRY_RUN).as_bytes())
        .expect("a request");
    let answer = read_answer(&mut waiting).expect("an answer");
    assert_eq!(answer.status, 503);
    assert_eq!(answer.json()["error"], "unavailable");

    // Once the hog is gone, its bytes are free again.
    drop(hog);
    assert!(eventually(|| {
        let mut stream = connect(&server);
        let _ = stream.write_all(post("/tm_api/dry_run/", DRY_RUN).as_bytes());
        read_answer(&mut stream).is_some_and(|a| a.status == 201)
    }));
}

#[test]
fn requests_are_relayed_whole_pipelined_chunked_and_after_100_continue() {
    let (_db, server) = server_with(|_| {});
    let mut stream = connect(&server);

    // A chunked body that waits for 100 Continue.
    stream
        .write_all(
            b"POST /tm_api/dry_run/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
              Transfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n",
        )
        .expect("a head");
    let interim = read_answer(&mut stream).expect("an interim answer");
    assert_eq!(interim.status, 100);
    let (first, second) = DRY_RUN.split_at(DRY_RUN.len() / 2);
    let body = format!(
        "{:x}\r\n{first}\r\n{:x};note=1\r\n{second}\r\n0\r\nX-Trailer: 1\r\n\r\n",
        first.len(),
        second.len()
    );
    stream.write_all(body.as_bytes()).expect("a chunked body");
    let created = read_answer(&mut stream).expect("an answer");
    assert_eq!(
        created.status,
        201,
        "{}",
        String::from_utf8_lossy(&created.body)
    );
    assert_eq!(created.json()["machine_name"], "rig-guard");

    // Three requests in one write, answered in order on the same connection.
    let pipelined = format!(
        "{}{}{}",
        get("/healthz"),
        get("/tm_api/machines/"),
        get("/no/such/page")
    );
    stream.write_all(pipelined.as_bytes()).expect("requests");
    assert_eq!(read_answer(&mut stream).expect("an answer").status, 200);
    let machines = read_answer(&mut stream).expect("an answer");
    assert_eq!(machines.status, 200);
    assert_eq!(machines.json()["results"][0]["machine_name"], "rig-guard");
    assert_eq!(read_answer(&mut stream).expect("an answer").status, 404);

    // A framing the app could read another way is refused rather than relayed.
    stream
        .write_all(
            b"POST /tm_api/dry_run/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 3\r\n\
              Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        )
        .expect("an ambiguous request");
    let refused = read_answer(&mut stream).expect("an answer");
    assert_eq!(refused.status, 400);
    assert_eq!(refused.json()["error"], "bad_request");
}

/// A failed login from `client`: its status.
fn login_from(server: &Server, client: Ipv4Addr, user: &str, claim: Option<&str>) -> u16 {
    let mut stream = connect(server);
    stream
        .write_all(b"GET /login/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .expect("ask for the form");
    let form = read_answer(&mut stream).expect("the login form");
    let cookie = form
        .head
        .lines()
        .filter_map(|line| line.split_once(':'))
        .filter(|(name, _)| name.eq_ignore_ascii_case("set-cookie"))
        .filter_map(|(_, value)| value.trim().split(';').next())
        .find(|pair| pair.starts_with("stpt_csrf="))
        .expect("a CSRF cookie")
        .to_owned();
    let html = String::from_utf8(form.body).expect("HTML");
    let marker = "name=\"csrf\" value=\"";
    let start = html.find(marker).expect("a CSRF field") + marker.len();
    let csrf = &html[start..start + html[start..].find('"').expect("its end")];
    let body = format!(
        "csrf={}&username={user}&password=not-the-password",
        percent_encode(csrf)
    );
    let claim = claim.map_or(String::new(), |ip| format!("X-Stpt-Peer-Addr: {ip}\r\n"));
    let mut stream = connect_from(client, server);
    let request = format!(
        "POST /login/ HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\n{claim}\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).expect("log in");
    read_answer(&mut stream).expect("an answer").status
}

fn percent_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

#[test]
fn the_login_rate_limit_counts_the_real_client_not_a_claimed_one() {
    let (_db, server) = server_with(|_| {});
    let attacker = Ipv4Addr::new(127, 0, 0, 2);
    let bystander = Ipv4Addr::new(127, 0, 0, 3);
    // Five failures from one address for one name: that pair waits.
    for _ in 0..5 {
        assert_eq!(login_from(&server, attacker, "root", None), 401);
    }
    assert_eq!(login_from(&server, attacker, "root", None), 429);
    // Another client is not held back, even when it claims to be the blocked one.
    assert_eq!(login_from(&server, bystander, "root", None), 401);
    assert_eq!(
        login_from(&server, bystander, "root", Some("127.0.0.2")),
        401
    );
    // And the blocked client cannot pass for another.
    assert_eq!(
        login_from(&server, attacker, "root", Some("127.0.0.9")),
        429
    );
}

#[test]
fn limits_that_would_refuse_everything_are_refused_at_launch() {
    let app = TestApp::sqlite();
    let runtime = rocket::tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let refused = |guard: Limits| {
        let config = Config {
            database_url: app.db().url().clone(),
            port: 0,
            log: false,
            guard,
            ..Config::default()
        };
        runtime.block_on(async {
            let app = stpt_server::build(&config).expect("the app");
            Launch::bind(app, &config)
                .await
                .expect_err("limits refused")
        })
    };
    assert!(matches!(
        refused(Limits {
            body_budget: 1024,
            ..Limits::default()
        }),
        LaunchError::BudgetBelowBodyLimit { budget: 1024, .. }
    ));
    assert!(matches!(
        refused(Limits {
            header_timeout: Duration::ZERO,
            ..Limits::default()
        }),
        LaunchError::Limits(_)
    ));
}

#[test]
fn large_bodies_are_relayed_and_oversized_ones_refused_before_they_are_sent() {
    let app = TestApp::sqlite();
    let app = app.config(|config| config.body_limit = 512 * 1024);
    let server = app.serve();

    // A dry run of some 300 KB: collected in pieces, then handed over whole.
    let tests: Vec<String> = (0..3000)
        .map(|i| {
            format!(
                r#"{{"file_name": "t{i:05}.py", "file_path": "/t", "script": "{}"}}"#,
                "x".repeat(50)
            )
        })
        .collect();
    let dry_run = format!(
        r#"{{"machine_name": "rig-large", "timestamp": "2024-01-01 00:00:00.000000", "master_scenario": {{"file_name": "m.py", "file_path": "/m", "script": "", "scenarios": [{{"file_name": "s.py", "file_path": "/s", "script": "", "tests": [{}]}}]}}}}"#,
        tests.join(",")
    );
    assert!(dry_run.len() > 256 * 1024);
    let mut stream = connect(&server);
    stream
        .write_all(post("/tm_api/dry_run/", &dry_run).as_bytes())
        .expect("a large request");
    let created = read_answer(&mut stream).expect("an answer");
    assert_eq!(
        created.status,
        201,
        "{}",
        String::from_utf8_lossy(&created.body)
    );
    stream
        .write_all(get("/tm_api/machines/").as_bytes())
        .expect("the next request");
    let machines = read_answer(&mut stream).expect("an answer");
    assert_eq!(machines.json()["results"][0]["machine_name"], "rig-large");

    // Announced over the limit: refused before the client sends it (no 100 Continue).
    let mut stream = connect(&server);
    stream
        .write_all(
            b"POST /tm_api/dry_run/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
              Content-Length: 1000000\r\nExpect: 100-continue\r\n\r\n",
        )
        .expect("a head");
    let refused = read_answer(&mut stream).expect("an answer");
    assert_eq!(refused.status, 413);
    assert_eq!(refused.json()["error"], "payload_too_large");
}

#[test]
fn answers_the_app_gives_without_reading_a_body_leave_connections_usable() {
    let app = TestApp::sqlite();
    let app = app.config(|config| {
        config.ingest_auth = Some(stpt_server::config::IngestAuth::Token);
    });
    let server = app.serve();
    // Small bodies (sent in one write) and a large one (in pieces): the app answers 401
    // without reading them; the client's connection serves on unless the app said to close,
    // and the app's connections the guard keeps are still good for the next request.
    let large = format!(r#"{{"padding": "{}"}}"#, "x".repeat(200 * 1024));
    let mut stream = connect(&server);
    for body in [DRY_RUN, DRY_RUN, large.as_str(), DRY_RUN, DRY_RUN] {
        stream
            .write_all(post("/tm_api/dry_run/", body).as_bytes())
            .expect("an unauthorised request");
        let refused = read_answer(&mut stream).expect("an answer");
        assert_eq!(refused.status, 401);
        assert_eq!(refused.json()["error"], "unauthorized");
        if refused.header("connection") == Some("close") {
            assert!(closes_within(&mut stream, PATIENCE));
            stream = connect(&server);
        }
        stream
            .write_all(get("/healthz").as_bytes())
            .expect("the next request");
        assert_eq!(read_answer(&mut stream).expect("an answer").status, 200);
    }
}
