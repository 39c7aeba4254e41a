//! The live updates of one machine's newest run, over the server's WebSocket.
//!
//! The main type here is [`LiveFeed`]: [`LiveFeed::next`] blocks until the next update of
//! `/ws/machine/<id>/last/` (`{"machine_data": <machine_last_data>}`) or a notice about the
//! connection. After every (re)connection it re-reads `GET /tm_api/machine_last_data/<id>/`,
//! so nothing that changed while it was away is missed. When the socket drops it reconnects
//! with a growing delay; when the server has no such route (HTTP 404 on the upgrade) it falls
//! back to polling the same GET. A `https://` server is followed over `wss://`, with the TLS
//! configuration of the client's other requests.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::thread::sleep;
use std::time::Duration;

use stpt_core::wire::MachineDataMessage;
use stpt_server::api::shapes::MachineLastData;
use tungstenite::client::IntoClientRequest;
use tungstenite::{HandshakeError, Message, WebSocket};

use crate::client::{Client, MachineRef, RequestError};

/// How long a read waits before the feed pings the server to find out whether it is there.
const HEARTBEAT: Duration = Duration::from_secs(20);
/// How long to wait for a TCP connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The first and the longest delay between reconnection attempts.
const FIRST_RETRY: Duration = Duration::from_millis(500);
const LONGEST_RETRY: Duration = Duration::from_secs(10);
/// Polling period when the server has no live route.
const POLL_PERIOD: Duration = Duration::from_secs(1);

/// What the feed has to say.
#[derive(Debug)]
pub(crate) enum FeedEvent {
    /// The machine's newest run as it is now.
    Data(Box<MachineLastData>),
    /// Something about the connection, for people.
    Notice(String),
}

enum Mode {
    Socket(Option<WebSocket<Stream>>),
    Polling { last: Option<MachineLastData> },
}

/// Follows one machine's newest run.
pub(crate) struct LiveFeed {
    client: Client,
    machine: MachineRef,
    mode: Mode,
    retry: Duration,
    /// Whether a GET must be made (after a (re)connection) before reading the socket again.
    reread: bool,
}

impl LiveFeed {
    /// A feed for `machine`; it connects on the first [`LiveFeed::next`].
    pub(crate) fn new(client: Client, machine: MachineRef) -> Self {
        LiveFeed {
            client,
            machine,
            mode: Mode::Socket(None),
            retry: FIRST_RETRY,
            reread: false,
        }
    }

    /// The URL of the machine's live route.
    pub(crate) fn socket_url(&self) -> String {
        let base = self.client.base();
        let base = if let Some(rest) = base.strip_prefix("https://") {
            format!("wss://{rest}")
        } else if let Some(rest) = base.strip_prefix("http://") {
            format!("ws://{rest}")
        } else {
            base.to_owned()
        };
        format!("{base}/ws/machine/{}/last/", self.machine.id)
    }

    /// Blocks until the next update or notice.
    pub(crate) fn next(&mut self) -> FeedEvent {
        loop {
            if self.reread {
                match self.read_now() {
                    Ok(data) => {
                        self.reread = false;
                        return FeedEvent::Data(Box::new(data));
                    }
                    Err(e) => return self.backoff(format!("{e}; retrying")),
                }
            }
            let event = match self.mode {
                Mode::Polling { .. } => self.poll(),
                Mode::Socket(None) => self.open_socket(),
                Mode::Socket(Some(_)) => self.read_socket(),
            };
            if let Some(event) = event {
                return event;
            }
        }
    }

    /// Polling: the next GET, when it differs from the last (after a pause once one was read).
    fn poll(&mut self) -> Option<FeedEvent> {
        let Mode::Polling { last } = &mut self.mode else {
            return None;
        };
        let previous = last.clone();
        if previous.is_some() {
            sleep(POLL_PERIOD);
        }
        match self.read_now() {
            Ok(data) => {
                if previous.as_ref() != Some(&data) {
                    self.mode = Mode::Polling {
                        last: Some(data.clone()),
                    };
                    return Some(FeedEvent::Data(Box::new(data)));
                }
                None
            }
            Err(e) => Some(self.backoff(format!("{e}; retrying"))),
        }
    }

    /// No socket yet: connect, or fall back to polling when the server has no such route.
    fn open_socket(&mut self) -> Option<FeedEvent> {
        match self.connect() {
            Ok(socket) => {
                self.mode = Mode::Socket(Some(socket));
                self.retry = FIRST_RETRY;
                self.reread = true;
                None
            }
            Err(Connect::NoRoute) => {
                self.mode = Mode::Polling { last: None };
                Some(FeedEvent::Notice(format!(
                    "the server has no live route {}; polling every {}s instead",
                    self.socket_url(),
                    POLL_PERIOD.as_secs()
                )))
            }
            Err(Connect::Failed(reason)) => Some(self.backoff(format!(
                "cannot connect to {}: {reason}; retrying",
                self.socket_url()
            ))),
        }
    }

    /// One read of the socket: a message, a notice, or nothing yet.
    fn read_socket(&mut self) -> Option<FeedEvent> {
        let Mode::Socket(Some(socket)) = &mut self.mode else {
            return None;
        };
        match socket.read() {
            Ok(Message::Text(text)) => {
                match serde_json::from_str::<MachineDataMessage<MachineLastData>>(&text) {
                    Ok(message) => Some(FeedEvent::Data(Box::new(message.machine_data))),
                    Err(e) => Some(FeedEvent::Notice(format!(
                        "ignored a live message that did not parse: {e}"
                    ))),
                }
            }
            Ok(Message::Close(_)) => {
                self.mode = Mode::Socket(None);
                Some(FeedEvent::Notice(
                    "the server closed the live connection; reconnecting".to_owned(),
                ))
            }
            Ok(_) => None,
            Err(tungstenite::Error::Io(e))
                if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
            {
                // Quiet for a while: a ping makes a dead connection show up as an
                // error on a later read instead of a silent hang.
                if socket.send(Message::Ping(Vec::new())).is_err() {
                    self.mode = Mode::Socket(None);
                }
                None
            }
            Err(e) => {
                self.mode = Mode::Socket(None);
                Some(FeedEvent::Notice(format!(
                    "lost the live connection ({e}); reconnecting"
                )))
            }
        }
    }

    fn read_now(&self) -> Result<MachineLastData, RequestError> {
        self.client
            .get(&format!("/tm_api/machine_last_data/{}/", self.machine.id))
    }

    /// Waits before the next attempt, longer each time, and says why.
    fn backoff(&mut self, notice: String) -> FeedEvent {
        sleep(self.retry);
        self.retry = (self.retry * 2).min(LONGEST_RETRY);
        FeedEvent::Notice(notice)
    }

    fn connect(&self) -> Result<WebSocket<Stream>, Connect> {
        let url = self.socket_url();
        let secure = url.starts_with("wss://");
        let mut request = url
            .as_str()
            .into_client_request()
            .map_err(|e| Connect::Failed(e.to_string()))?;
        if let Some(token) = self.client.token() {
            let value = format!("Bearer {token}")
                .parse()
                .map_err(|_| Connect::Failed("the token is not a valid header value".to_owned()))?;
            request.headers_mut().insert("Authorization", value);
        }
        let uri = request.uri();
        let host = uri.host().unwrap_or_default().to_owned();
        let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
        let address = (host.as_str(), port)
            .to_socket_addrs()
            .map_err(|e| Connect::Failed(e.to_string()))?
            .next()
            .ok_or_else(|| Connect::Failed(format!("{host} has no address")))?;
        let stream = TcpStream::connect_timeout(&address, CONNECT_TIMEOUT)
            .map_err(|e| Connect::Failed(e.to_string()))?;
        stream
            .set_read_timeout(Some(HEARTBEAT))
            .map_err(|e| Connect::Failed(e.to_string()))?;
        let stream = if secure {
            match stpt_runner::tls::connect(self.client.tls(), &host, stream) {
                Ok(tls) => Stream::Tls(Box::new(tls)),
                Err(e) => {
                    return Err(Connect::Failed(match stpt_runner::tls::problem(&e) {
                        Some(tls) => stpt_runner::tls::explain(&host, tls),
                        None => e.to_string(),
                    }));
                }
            }
        } else {
            Stream::Plain(stream)
        };
        match tungstenite::client::client(request, stream) {
            Ok((socket, _)) => Ok(socket),
            Err(HandshakeError::Failure(tungstenite::Error::Http(response)))
                if response.status().as_u16() == 404 =>
            {
                Err(Connect::NoRoute)
            }
            Err(HandshakeError::Failure(e)) => Err(Connect::Failed(e.to_string())),
            Err(HandshakeError::Interrupted(_)) => Err(Connect::Failed(
                "the server did not answer the upgrade in time".to_owned(),
            )),
        }
    }
}

enum Connect {
    NoRoute,
    Failed(String),
}

/// The live socket's connection: plain for `ws://`, TLS for `wss://`. Its TCP stream's read
/// timeout makes a quiet connection show up as `WouldBlock`/`TimedOut`, either way.
enum Stream {
    Plain(TcpStream),
    Tls(Box<stpt_runner::tls::TlsStream>),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(stream) => stream.read(buf),
            Stream::Tls(stream) => stream.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(stream) => stream.write(buf),
            Stream::Tls(stream) => stream.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Stream::Plain(stream) => stream.flush(),
            Stream::Tls(stream) => stream.flush(),
        }
    }
}
