//! The live updates of one machine's newest run, over the server's WebSocket.
//!
//! The main type here is [`LiveFeed`]: [`LiveFeed::next`] blocks until the next update of
//! `/ws/machine/<id>/last/` (`{"machine_data": <machine_last_data>}`) or a notice about the
//! connection. After every (re)connection it re-reads `GET /tm_api/machine_last_data/<id>/`,
//! so nothing that changed while it was away is missed. When the socket drops it reconnects
//! with a growing delay; when the server has no such route (HTTP 404 on the upgrade) it falls
//! back to polling the same GET. A `https://` server is followed over `wss://`, with the TLS
//! configuration of the client's other requests.
//!
//! [`OutputFeed`] follows `/ws/machine/<id>/output` the same way: every batch of output the
//! machine's tests print, for `stpt tail --output`.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::thread::sleep;
use std::time::Duration;

use serde::Deserialize;
use stpt_core::wire::{MachineDataMessage, MachineLastData, OutputSkipped, TestOutputFrame};
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
        socket_url(
            &self.client,
            &format!("/ws/machine/{}/last/", self.machine.id),
        )
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
        connect(&self.client, &self.socket_url())
    }
}

/// The WebSocket URL of `path` on the client's server.
fn socket_url(client: &Client, path: &str) -> String {
    let base = client.base();
    let base = if let Some(rest) = base.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = base.strip_prefix("http://") {
        format!("ws://{rest}")
    } else {
        base.to_owned()
    };
    format!("{base}{path}")
}

/// Opens a WebSocket to `url` with the client's token and TLS configuration.
fn connect(client: &Client, url: &str) -> Result<WebSocket<Stream>, Connect> {
    let secure = url.starts_with("wss://");
    let mut request = url
        .into_client_request()
        .map_err(|e| Connect::Failed(e.to_string()))?;
    if let Some(token) = client.token() {
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
        match stpt_runner::tls::connect(client.tls(), &host, stream) {
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

/// One batch of a test's output as the output socket pushes it (owned).
pub(crate) type OutputBatchFrame = TestOutputFrame<'static>;

/// Any frame of the output socket, read leniently: `{"test_output"}` is a
/// [`stpt_core::wire::TestOutputMessage`], `{"output_skipped"}` an
/// [`stpt_core::wire::OutputSkippedMessage`]; other frames are ignored.
#[derive(Deserialize)]
struct OutputFrame {
    test_output: Option<OutputBatchFrame>,
    output_skipped: Option<OutputSkipped>,
}

/// What the output feed has to say.
#[derive(Debug)]
pub(crate) enum OutputEvent {
    /// A batch of some test's output.
    Batch(OutputBatchFrame),
    /// Batches were lost: while this follower fell behind, or while it was disconnected.
    Skipped,
    /// Something about the connection, for people.
    Notice(String),
}

/// Follows `/ws/machine/<id>/output`: every batch of output of the machine's tests, with
/// reconnection like [`LiveFeed`] (after a reconnection it reports [`OutputEvent::Skipped`],
/// since what was printed meanwhile was not heard).
pub(crate) struct OutputFeed {
    client: Client,
    url: String,
    socket: Option<WebSocket<Stream>>,
    retry: Duration,
    connected_before: bool,
}

impl OutputFeed {
    /// A feed for `machine`; it connects on the first [`OutputFeed::next`].
    pub(crate) fn new(client: Client, machine: &MachineRef) -> Self {
        let url = socket_url(&client, &format!("/ws/machine/{}/output", machine.id));
        OutputFeed {
            client,
            url,
            socket: None,
            retry: FIRST_RETRY,
            connected_before: false,
        }
    }

    /// Blocks until the next batch or notice.
    pub(crate) fn next(&mut self) -> OutputEvent {
        loop {
            let Some(socket) = &mut self.socket else {
                match connect(&self.client, &self.url) {
                    Ok(socket) => {
                        self.socket = Some(socket);
                        self.retry = FIRST_RETRY;
                        if std::mem::replace(&mut self.connected_before, true) {
                            return OutputEvent::Skipped;
                        }
                        continue;
                    }
                    Err(Connect::NoRoute) => {
                        // An older server: there is no output to follow; stay quiet.
                        sleep(LONGEST_RETRY * 30);
                        return OutputEvent::Notice(format!(
                            "the server has no output route {}",
                            self.url
                        ));
                    }
                    Err(Connect::Failed(reason)) => {
                        sleep(self.retry);
                        self.retry = (self.retry * 2).min(LONGEST_RETRY);
                        return OutputEvent::Notice(format!(
                            "cannot connect to {}: {reason}; retrying",
                            self.url
                        ));
                    }
                }
            };
            match socket.read() {
                Ok(Message::Text(text)) => match serde_json::from_str::<OutputFrame>(&text) {
                    Ok(OutputFrame {
                        test_output: Some(batch),
                        ..
                    }) => return OutputEvent::Batch(batch),
                    Ok(OutputFrame {
                        output_skipped: Some(_),
                        ..
                    }) => return OutputEvent::Skipped,
                    Ok(_) => {}
                    Err(e) => {
                        return OutputEvent::Notice(format!(
                            "ignored an output message that did not parse: {e}"
                        ));
                    }
                },
                Ok(Message::Close(_)) => self.socket = None,
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
                {
                    if socket.send(Message::Ping(Vec::new())).is_err() {
                        self.socket = None;
                    }
                }
                Err(e) => {
                    self.socket = None;
                    return OutputEvent::Notice(format!(
                        "lost the output connection ({e}); reconnecting"
                    ));
                }
            }
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
