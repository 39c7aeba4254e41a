//! A TCP proxy in front of a server that loses answers: it forwards each HTTP request to the
//! server, waits for the whole answer, and then, when told to, closes the client's connection
//! without passing the answer on, as a proxy or a network failing at the worst moment would.
//! The server applied the event; the client never heard so.
//!
//! The main type here is [`AnswerDroppingProxy`]. It speaks just enough HTTP/1.1 for the
//! runner's sink: one request per connection (it asks the server, and tells the client, to
//! close the connection after each answer), bodies sized by `Content-Length`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

/// One request the proxy forwarded.
#[derive(Debug, Clone)]
pub struct Forwarded {
    /// The request line, e.g. `POST /tm_api/test_start HTTP/1.1`.
    pub request_line: String,
    /// The request's body.
    pub body: Vec<u8>,
    /// The server's answer status, if it answered at all.
    pub status: Option<u16>,
    /// Whether the answer reached the client.
    pub answered: bool,
}

/// Decides, for the `n`th request forwarded (from 0) and its body, whether to lose its answer.
pub type DropRule = dyn Fn(usize, &[u8]) -> bool + Send + Sync;

struct Shared {
    upstream: SocketAddr,
    drop_answer: Box<DropRule>,
    log: Mutex<Vec<Forwarded>>,
    stop: AtomicBool,
}

/// A proxy on 127.0.0.1 forwarding to one server; stops when dropped.
pub struct AnswerDroppingProxy {
    address: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl AnswerDroppingProxy {
    /// Starts a proxy to the server listening on `upstream` (`127.0.0.1:<port>`).
    pub fn start(
        upstream: SocketAddr,
        drop_answer: impl Fn(usize, &[u8]) -> bool + Send + Sync + 'static,
    ) -> AnswerDroppingProxy {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind the proxy's port");
        listener
            .set_nonblocking(true)
            .expect("make the proxy's listener non-blocking");
        let address = listener.local_addr().expect("the proxy's address");
        let shared = Arc::new(Shared {
            upstream,
            drop_answer: Box::new(drop_answer),
            log: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
        });
        let accepting = Arc::clone(&shared);
        let acceptor = std::thread::spawn(move || accept(&listener, &accepting));
        AnswerDroppingProxy {
            address,
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// `http://127.0.0.1:<port>`, for a sink.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Every request forwarded so far, in order.
    pub fn forwarded(&self) -> Vec<Forwarded> {
        self.shared
            .log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Drop for AnswerDroppingProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

/// Accepts connections until told to stop, one at a time: the sink sends one request at a time,
/// and handling them in turn keeps the log in the order the server saw them.
fn accept(listener: &TcpListener, shared: &Shared) {
    while !shared.stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((client, _)) => {
                // A client that hangs up mid-request is the client's business.
                let _ = serve(client, shared);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(e) => panic!("the proxy cannot accept: {e}"),
        }
    }
}

/// Forwards one request and answers it, or loses the answer.
fn serve(client: TcpStream, shared: &Shared) -> std::io::Result<()> {
    client.set_nonblocking(false)?;
    client.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(client.try_clone()?);
    let Some(Request {
        line: request_line,
        headers,
        body,
    }) = read_request(&mut reader)?
    else {
        return Ok(());
    };

    let mut upstream = TcpStream::connect(shared.upstream)?;
    upstream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut request = format!("{request_line}\r\n");
    for header in headers.iter().filter(|h| !is_connection_header(h)) {
        request.push_str(header);
        request.push_str("\r\n");
    }
    request.push_str("Connection: close\r\n\r\n");
    upstream.write_all(request.as_bytes())?;
    upstream.write_all(&body)?;
    // The server closes the connection once it has answered.
    let mut answer = Vec::new();
    let read = upstream.read_to_end(&mut answer);
    let status = std::str::from_utf8(&answer)
        .ok()
        .and_then(|text| text.split(' ').nth(1))
        .and_then(|code| code.parse().ok());

    let mut log = shared.log.lock().unwrap_or_else(PoisonError::into_inner);
    let lose = read.is_err() || (shared.drop_answer)(log.len(), &body);
    log.push(Forwarded {
        request_line,
        body,
        status,
        answered: !lose,
    });
    drop(log);
    let mut client = client;
    if lose {
        // Nothing written: the client sees its connection closed without an answer.
        return client.shutdown(Shutdown::Both);
    }
    client.write_all(&closing(&answer))?;
    client.flush()?;
    client.shutdown(Shutdown::Both)
}

/// A request as read: its request line, header lines and body.
struct Request {
    line: String,
    headers: Vec<String>,
    body: Vec<u8>,
}

/// Reads a request line, headers and a `Content-Length` body; `None` if the client closed
/// the connection first.
fn read_request(reader: &mut BufReader<TcpStream>) -> std::io::Result<Option<Request>> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let request_line = line.trim_end().to_owned();
    let mut headers = Vec::new();
    let mut length = 0usize;
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.trim().eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
        headers.push(header.to_owned());
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    Ok(Some(Request {
        line: request_line,
        headers,
        body,
    }))
}

fn is_connection_header(header: &str) -> bool {
    header
        .split_once(':')
        .is_some_and(|(name, _)| name.trim().eq_ignore_ascii_case("connection"))
}

/// The server's answer with `Connection: close`, so the client does not reuse a connection
/// the proxy closes.
fn closing(answer: &[u8]) -> Vec<u8> {
    let Some(end) = answer.windows(4).position(|w| w == b"\r\n\r\n") else {
        return answer.to_vec();
    };
    let head = String::from_utf8_lossy(&answer[..end]);
    let mut out = String::new();
    for line in head.split("\r\n").filter(|l| !is_connection_header(l)) {
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str("Connection: close\r\n\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&answer[end + 4..]);
    bytes
}
