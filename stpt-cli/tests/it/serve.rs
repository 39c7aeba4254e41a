//! `stpt serve`'s connection limits, set by flags and by `STPT_*` variables, seen from a raw
//! socket.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::support::Server;

/// Everything the server sends on `stream` until it closes (or 10 s pass).
fn read_until_closed(stream: &mut TcpStream) -> String {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

fn connect(server: &Server) -> TcpStream {
    let address = server.url.trim_start_matches("http://");
    TcpStream::connect(address).expect("connect")
}

#[test]
fn connection_limits_follow_the_flags() {
    let server = Server::start_with(&["--max-header-size", "600", "--header-timeout", "1s"]);

    let mut large = connect(&server);
    let head = format!(
        "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: {}\r\n\r\n",
        "a".repeat(800)
    );
    large.write_all(head.as_bytes()).expect("a large head");
    let answer = read_until_closed(&mut large);
    assert!(answer.starts_with("HTTP/1.1 431 "), "{answer}");
    assert!(answer.contains(r#""error":"header_too_large""#), "{answer}");

    let mut slow = connect(&server);
    let started = Instant::now();
    slow.write_all(b"GET /healthz HTTP/1.1\r\n")
        .expect("a partial head");
    let answer = read_until_closed(&mut slow);
    assert!(answer.starts_with("HTTP/1.1 408 "), "{answer}");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
}

#[test]
fn connection_limits_fall_back_to_the_environment() {
    let server = Server::start_with_env(&[], &[("STPT_IDLE_TIMEOUT", "1s")]);
    let mut stream = connect(&server);
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .expect("a request");
    let started = Instant::now();
    // The answer, then the close once the connection has idled for a second.
    let answer = read_until_closed(&mut stream);
    assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
}
