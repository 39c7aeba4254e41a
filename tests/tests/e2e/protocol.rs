//! Requests refused at the HTTP level, sent as raw bytes to a real server: what Rocket lets the
//! server answer with its JSON error body, and what the connection guard in front of it
//! refuses itself (a head too large or malformed), also with the JSON error body — so no
//! client of the server ever gets an empty-bodied refusal.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use stpt_tests::database::TempDatabase;
use stpt_tests::server::{ReservedPort, RunningServer};

/// An answer: status code, headers (lowercase names) and body.
struct Raw {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Raw {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Sends `request` as it is and reads the answer until the server closes the connection.
fn send(server: &RunningServer, request: &[u8]) -> Raw {
    let mut stream = TcpStream::connect(("127.0.0.1", server.port())).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    stream.write_all(request).expect("send the request");
    let mut answer = Vec::new();
    // The server closes the connection (every request here says so, or is refused).
    let _ = stream.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_lowercase(), v.trim().to_owned()))
        .collect();
    Raw {
        status,
        headers,
        body: body.to_owned(),
    }
}

fn json_error(raw: &Raw) -> serde_json::Value {
    assert_eq!(
        raw.header("content-type"),
        Some("application/json"),
        "{}",
        raw.body
    );
    let body: serde_json::Value = serde_json::from_str(&raw.body).expect("a JSON body");
    assert!(
        body["error"].is_string() && body["detail"].is_string(),
        "{body}"
    );
    body
}

#[test]
fn every_refusal_at_the_http_level_is_json() {
    let database = TempDatabase::new();
    let port = ReservedPort::new();
    let server = RunningServer::start(&database, &port);

    // A method Rocket does not know, on a known path: 405 with Allow, as for a known method.
    let raw = send(
        &server,
        b"QUERY /tm_api/machines/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(raw.status, 405);
    assert_eq!(raw.header("allow"), Some("GET, HEAD"));
    assert_eq!(json_error(&raw)["error"], "method_not_allowed");

    // The same on an unknown path: a JSON 400.
    let raw = send(
        &server,
        b"FROB /nothing HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(raw.status, 400);
    json_error(&raw);

    // A known method no route of the path takes: 405 with Allow.
    let raw = send(
        &server,
        b"DELETE /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(raw.status, 405);
    assert_eq!(raw.header("allow"), Some("GET, HEAD"));
    json_error(&raw);

    // What the connection guard refuses before Rocket sees a request: JSON too.
    let long_uri = format!(
        "GET /tm_api/machines?{} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        "a".repeat(70_000)
    );
    let raw = send(&server, long_uri.as_bytes());
    assert_eq!(raw.status, 431);
    assert_eq!(json_error(&raw)["error"], "header_too_large");

    let mut many_headers = String::from("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    for i in 0..120 {
        many_headers.push_str(&format!("X-Filler-{i}: {i}\r\n"));
    }
    many_headers.push_str("Connection: close\r\n\r\n");
    let raw = send(&server, many_headers.as_bytes());
    assert_eq!(raw.status, 431);
    json_error(&raw);

    let raw = send(
        &server,
        b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nnot a header line\r\n\r\n",
    );
    assert_eq!(raw.status, 400);
    json_error(&raw);

    server.stop();
}
