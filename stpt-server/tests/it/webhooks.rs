//! Webhooks against real servers and a tiny HTTP receiver: a failing run notifies its
//! `finished` and `failed` hooks once each with a valid signature, and a notification queued
//! before a restart is delivered by the next server on the same database, the stale sweep
//! tells `stale` hooks, and a run finished by a batch of events notifies as one sent event by
//! event.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use rocket::http::ContentType;
use serde_json::{Value, json};
use sha2::Sha256;
use stpt_core::Status;
use stpt_core::testing::builders::{dry_run, start, stop, with_event_id};
use stpt_server::config::{IngestAuth, ReadAccess};
use stpt_server::db::{HookEvent, HookFormat, PoolOptions, WebhookStore};

use crate::live::Server;
use crate::support::TestDb;
use crate::test_app::{TestAppBuilder, on_both_backends};

/// How long a test waits for an expected delivery.
const WAIT: Duration = Duration::from_secs(20);

/// One request the receiver got.
struct Received {
    /// The status the receiver answered.
    answered: u16,
    path: String,
    signature: Option<String>,
    body: Vec<u8>,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    /// Whether the signature is `sha256=` HMAC-SHA256 of the body under `secret`.
    fn signed_with(&self, secret: &str) -> bool {
        let Some(hex) = self
            .signature
            .as_deref()
            .and_then(|s| s.strip_prefix("sha256="))
        else {
            return false;
        };
        let Some(bytes) = (0..hex.len())
            .step_by(2)
            .map(|i| {
                hex.get(i..i + 2)
                    .and_then(|b| u8::from_str_radix(b, 16).ok())
            })
            .collect::<Option<Vec<u8>>>()
        else {
            return false;
        };
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
        mac.update(&self.body);
        mac.verify_slice(&bytes).is_ok()
    }
}

/// A minimal HTTP server answering every request with `status`, reporting each request.
struct Receiver {
    url: String,
    status: Arc<AtomicU16>,
    requests: mpsc::Receiver<Received>,
}

impl Receiver {
    fn start(status: u16) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the receiver");
        let port = listener.local_addr().expect("receiver address").port();
        let status = Arc::new(AtomicU16::new(status));
        let (tx, requests) = mpsc::channel();
        let answer = status.clone();
        // The thread ends with the test process: nothing connects once the test is over.
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let code = answer.load(Ordering::SeqCst);
                let Some(request) = read_request(&mut stream, code) else {
                    continue;
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {code} Whatever\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
                if tx.send(request).is_err() {
                    break;
                }
            }
        });
        Receiver {
            url: format!("http://127.0.0.1:{port}"),
            status,
            requests,
        }
    }

    fn next(&self) -> Received {
        self.requests
            .recv_timeout(WAIT)
            .expect("a webhook request in time")
    }
}

fn read_request(stream: &mut std::net::TcpStream, answered: u16) -> Option<Received> {
    stream.set_read_timeout(Some(WAIT)).ok()?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let path = line.split_whitespace().nth(1)?.to_owned();
    let mut length = 0;
    let mut signature = None;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse().ok()?,
            "x-stpt-signature" => signature = Some(value.trim().to_owned()),
            _ => {}
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Received {
        answered,
        path,
        signature,
        body,
    })
}

fn hooks(db: &TestDb) -> WebhookStore {
    WebhookStore::open(db.url(), PoolOptions::default()).expect("open the webhooks")
}

const LAMP: &[&str] = &["lamp_on.py", "lamp_off.py"];

/// Posts a whole run of rig-a whose second test fails; answers its id.
fn failing_run(server: &Server) -> i64 {
    let run = server.post(&dry_run("rig-a", 0, &[("lamp.py", LAMP)]))["run_id"]
        .as_i64()
        .expect("run id");
    server.post(&start("rig-a", "lamp_on.py", 1));
    server.post(&stop("rig-a", "lamp_on.py", Status::Passed, 2));
    server.post(&start("rig-a", "lamp_off.py", 3));
    server.post(&stop("rig-a", "lamp_off.py", Status::Failed, 4));
    run
}

fn metrics(server: &Server) -> String {
    ureq::get(&format!("{}/metrics", server.base))
        .call()
        .expect("GET /metrics")
        .into_string()
        .expect("metrics text")
}

fn a_failing_run_notifies_finished_and_failed_hooks_once(app: TestAppBuilder) {
    let receiver = Receiver::start(200);
    let store = hooks(app.db());
    let add = |path: &str, on, machine, format| {
        store
            .add(&format!("{}{path}", receiver.url), on, machine, format)
            .expect("add a webhook")
    };
    let finished = add("/finished", HookEvent::Finished, None, HookFormat::Json);
    let failed = add(
        "/failed",
        HookEvent::Failed,
        Some("RIG-A"),
        HookFormat::Json,
    );
    let slack = add("/slack", HookEvent::Failed, None, HookFormat::Slack);
    // Neither of these is told: another event, another machine.
    add("/stale", HookEvent::Stale, None, HookFormat::Json);
    add(
        "/rig-b",
        HookEvent::Finished,
        Some("rig-b"),
        HookFormat::Json,
    );

    let server = app.serve();
    let run = failing_run(&server);
    let machine = server.machine_id("rig-a");
    // Aborting the finished run sees it finished again: nobody is told twice.
    let _ = ureq::post(&format!("{}/api/v1/runs/{run}/abort", server.base)).call();

    let mut got: Vec<Received> = (0..3).map(|_| receiver.next()).collect();
    got.sort_by(|a, b| a.path.cmp(&b.path));
    let paths: Vec<&str> = got.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths, ["/failed", "/finished", "/slack"]);
    let secrets = [&failed.secret, &finished.secret, &slack.secret];
    for (request, secret) in got.iter().zip(secrets) {
        assert!(
            request.signed_with(secret),
            "bad signature on {}",
            request.path
        );
        assert!(!request.signed_with("another secret"));
    }
    let url = format!("/machine/run_data/{run}");
    let document = |event: &str| {
        json!({
            "event": event,
            "machine": {"id": machine, "name": "rig-a"},
            "run": {"id": run, "status": "failed", "url": url},
            "counts": got[0].json()["counts"],
        })
    };
    assert_eq!(got[0].json(), document("failed"));
    assert_eq!(got[1].json(), document("finished"));
    assert_eq!(got[0].json()["counts"]["failed"], 1);
    assert_eq!(got[0].json()["counts"]["passed"], 1);
    let text = got[2].json()["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(text.contains("rig-a") && text.contains(&url), "{text}");

    // Once every queued row is delivered, nothing else was queued or sent.
    let deadline = std::time::Instant::now() + WAIT;
    let outbox = loop {
        let outbox = store.outbox().expect("read the outbox");
        if outbox.iter().all(|n| n.delivered_at.is_some()) || std::time::Instant::now() > deadline {
            break outbox;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(outbox.len(), 3);
    assert!(
        outbox
            .iter()
            .all(|n| n.delivered_at.is_some() && n.run_id == run)
    );
    assert!(receiver.requests.try_recv().is_err());
    assert!(metrics(&server).contains("stpt_webhook_deliveries_total 3\n"));
}

fn a_notification_survives_a_restart(app: TestAppBuilder) {
    // The receiver refuses while the first server runs, so only the second can deliver.
    let receiver = Receiver::start(503);
    let created = hooks(app.db())
        .add(
            &format!("{}/hook", receiver.url),
            HookEvent::Failed,
            None,
            HookFormat::Json,
        )
        .expect("add a webhook");
    let first = app.serve();
    let run = failing_run(&first);
    let refused = receiver.next();
    assert_eq!(refused.answered, 503);
    assert!(refused.signed_with(&created.secret));
    drop(first);

    let outbox = hooks(app.db()).outbox().expect("read the outbox");
    assert_eq!(outbox.len(), 1);
    let pending = outbox.first().expect("one notification");
    assert_eq!(pending.delivered_at, None);
    assert!(pending.attempts >= 1);
    assert_eq!(pending.last_error.as_deref(), Some("answered 503"));

    receiver.status.store(200, Ordering::SeqCst);
    let second = app.serve();
    // Skip the first server's retries, refused before it stopped.
    let delivered = std::iter::from_fn(|| Some(receiver.next()))
        .find(|r| r.answered == 200)
        .expect("a delivery");
    assert!(delivered.signed_with(&created.secret));
    assert_eq!(delivered.json()["run"]["id"], run);
    assert_eq!(delivered.json()["event"], "failed");
    let deadline = std::time::Instant::now() + WAIT;
    while hooks(app.db())
        .outbox()
        .expect("read the outbox")
        .first()
        .and_then(|n| n.delivered_at)
        .is_none()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "never marked delivered"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(second);
}

fn the_sweep_notifies_stale_hooks(app: TestAppBuilder) {
    let receiver = Receiver::start(200);
    let store = hooks(app.db());
    let stale = store
        .add(
            &format!("{}/stale", receiver.url),
            HookEvent::Stale,
            None,
            HookFormat::Json,
        )
        .expect("add a webhook");
    let app = app
        .with_access(ReadAccess::Public, IngestAuth::Open)
        .stale(Duration::from_millis(50), Duration::from_millis(20))
        .build();
    let client = &app.client;
    let [dry, start, _] = stpt_core::testing::builders::seed_fixtures();
    for (path, body) in [("/tm_api/dry_run", dry), ("/tm_api/test_start", start)] {
        let response = client
            .post(path)
            .header(ContentType::JSON)
            .body(body)
            .dispatch();
        assert!(response.status().class().is_success(), "{path}");
    }

    let request = receiver.next();
    assert!(request.signed_with(&stale.secret));
    let body = request.json();
    assert_eq!(body["event"], "stale");
    assert_eq!(body["run"]["status"], "unknown", "{body}");
    drop(app);
}

/// A whole run sent as one batch (`POST /api/v1/events`) notifies its hook once, as the
/// same events sent one by one do.
fn a_run_finished_by_a_batch_notifies_once(app: TestAppBuilder) {
    let receiver = Receiver::start(200);
    let store = hooks(app.db());
    let finished = store
        .add(
            &format!("{}/finished", receiver.url),
            HookEvent::Finished,
            None,
            HookFormat::Json,
        )
        .expect("add a webhook");
    let server = app.serve();
    let events: Vec<_> = [
        dry_run("rig-a", 0, &[("lamp.py", LAMP)]),
        start("rig-a", "lamp_on.py", 1),
        stop("rig-a", "lamp_on.py", Status::Passed, 2),
        start("rig-a", "lamp_off.py", 3),
        stop("rig-a", "lamp_off.py", Status::Failed, 4),
    ]
    .into_iter()
    .enumerate()
    .map(|(n, event)| with_event_id(event, &format!("hook-{n}")))
    .collect();
    let answer: Value = ureq::post(&format!("{}/api/v1/events", server.base))
        .set("Content-Type", "application/json")
        .send_string(&stpt_core::wire::batch_body(&events).expect("a batch"))
        .expect("the batch")
        .into_json()
        .expect("a JSON answer");
    assert_eq!(answer["applied"], 5, "{answer}");
    let run = answer["events"][0]["run_id"].as_i64().expect("the run");
    let request = receiver.next();
    assert!(request.signed_with(&finished.secret));
    assert_eq!(request.json()["run"]["id"], run);
    assert_eq!(request.json()["run"]["status"], "failed");
    assert!(
        receiver
            .requests
            .recv_timeout(Duration::from_secs(1))
            .is_err()
    );
    assert_eq!(store.outbox().expect("read the outbox").len(), 1);
}

on_both_backends!(
    a_run_finished_by_a_batch_notifies_once,
    a_failing_run_notifies_finished_and_failed_hooks_once,
    a_notification_survives_a_restart,
    the_sweep_notifies_stale_hooks,
);
