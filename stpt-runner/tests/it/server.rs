//! A tiny HTTP server on 127.0.0.1 that records what it is sent and answers from a script.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// One request as received.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub(crate) path: String,
    pub(crate) authorization: Option<String>,
    pub(crate) body: serde_json::Value,
}

/// How to answer one request.
#[derive(Debug, Clone)]
pub(crate) enum Reply {
    Status(u16, &'static str),
    /// Close the connection without answering.
    HangUp,
    /// 200 with this batch answer.
    Batch(String),
}

#[derive(Default)]
struct State {
    requests: Vec<Request>,
    script: VecDeque<Reply>,
    /// Run ids for the next dry runs' answers (then 7).
    run_ids: VecDeque<i64>,
    /// Answers 404 to `/api/v1/events`, as the original app and older servers do.
    no_batches: bool,
}

/// Answers scripted replies first, then 201 with `run_id` (7 unless [`TestServer::run_ids`]
/// says) to a dry run and 202 to the rest; a batch (`/api/v1/events`) is answered 200, every
/// event applied as it would be alone.
pub(crate) struct TestServer {
    pub(crate) url: String,
    state: Arc<Mutex<State>>,
}

impl TestServer {
    pub(crate) fn start() -> TestServer {
        TestServer::on(TcpListener::bind("127.0.0.1:0").unwrap())
    }

    pub(crate) fn on(listener: TcpListener) -> TestServer {
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let _ = serve(stream, &shared);
            }
        });
        TestServer { url, state }
    }

    /// A server that does not know batches: `/api/v1/events` answers 404.
    pub(crate) fn without_batches() -> TestServer {
        let server = TestServer::start();
        server.state.lock().unwrap().no_batches = true;
        server
    }

    /// `(path, event_id)` of every event received, a batch's events each under the path of
    /// its kind, in arrival order; batches a server without them refused left out.
    pub(crate) fn events(&self) -> Vec<(String, String)> {
        let mut events = Vec::new();
        let no_batches = self.state.lock().unwrap().no_batches;
        for request in self.requests() {
            match request.body.as_array() {
                Some(_) if no_batches => {}
                Some(batch) => events.extend(batch.iter().map(|event| {
                    let kind = stpt_core::EventKind::detect(event).expect("an event");
                    (
                        kind.path().to_owned(),
                        event["event_id"].as_str().unwrap_or("").to_owned(),
                    )
                })),
                None if request.path == stpt_core::wire::BATCH_PATH => {}
                None => events.push((
                    request.path,
                    request.body["event_id"].as_str().unwrap_or("").to_owned(),
                )),
            }
        }
        events
    }

    pub(crate) fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.state.lock().unwrap().script.extend(replies);
    }

    /// The run ids the next dry runs are answered, in order.
    pub(crate) fn run_ids(&self, ids: &[i64]) {
        self.state.lock().unwrap().run_ids.extend(ids);
    }

    pub(crate) fn requests(&self) -> Vec<Request> {
        self.state.lock().unwrap().requests.clone()
    }

    /// `(path, event_id)` of every request, in arrival order.
    pub(crate) fn received(&self) -> Vec<(String, String)> {
        self.requests()
            .into_iter()
            .map(|r| (r.path, r.body["event_id"].as_str().unwrap_or("").to_owned()))
            .collect()
    }
}

fn serve(stream: TcpStream, state: &Mutex<State>) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("")
        .to_owned();
    let (mut length, mut authorization) = (0, None);
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').unwrap_or((line, ""));
        match name.to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse().unwrap_or(0),
            "authorization" => authorization = Some(value.trim().to_owned()),
            _ => {}
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let (reply, run_id, no_batches) = {
        let mut state = state.lock().unwrap();
        state.requests.push(Request {
            path: path.clone(),
            authorization,
            body: body.clone(),
        });
        let run_id = if path == "/tm_api/dry_run/" {
            state.run_ids.pop_front().unwrap_or(7)
        } else {
            7
        };
        let no_batches = state.no_batches;
        let reply = state.script.pop_front();
        if reply.is_none() && path == stpt_core::wire::BATCH_PATH && !no_batches {
            let answer = batch_answer(&body, &mut state.run_ids);
            (Some(Reply::Batch(answer)), run_id, no_batches)
        } else {
            (reply, run_id, no_batches)
        }
    };
    let (status, text) = match reply {
        Some(Reply::HangUp) => return Ok(()),
        Some(Reply::Status(status, text)) => (status, text.to_owned()),
        Some(Reply::Batch(answer)) => (200, answer),
        None if path == stpt_core::wire::BATCH_PATH && no_batches => (
            404,
            r#"{"error": "not_found", "detail": "no route"}"#.to_owned(),
        ),
        None if path == "/tm_api/dry_run/" => {
            let mut answer = body;
            answer["run_id"] = run_id.into();
            (201, answer.to_string())
        }
        None => (202, body.to_string()),
    };
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    )?;
    stream.flush()
}

/// Every event of a batch applied: a dry run answers the next of `run_ids`, else run 7.
fn batch_answer(body: &serde_json::Value, run_ids: &mut VecDeque<i64>) -> String {
    let events: Vec<serde_json::Value> = body
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(index, event)| {
            let dry_run = event.get("master_scenario").is_some();
            serde_json::json!({
                "index": index,
                "outcome": "applied",
                "status": if dry_run { 201 } else { 202 },
                "event_id": event["event_id"],
                "run_id": if dry_run {
                    run_ids.pop_front().unwrap_or(7).into()
                } else {
                    event["run_id"].clone()
                },
            })
        })
        .collect();
    serde_json::json!({
        "applied": events.len(),
        "duplicates": 0,
        "refused": 0,
        "events": events,
    })
    .to_string()
}
