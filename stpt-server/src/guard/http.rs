//! HTTP/1.x framing, as much as the guard needs to relay a message without holding it: where a
//! request head ends and what it says about the body, the same for a response, where a chunked
//! body ends, and the guard's own refusals.
//!
//! Heads are parsed with `httparse`, the parser hyper (so Rocket) uses, and anything that could
//! be framed two ways is refused (a `Content-Length` and a `Transfer-Encoding` together,
//! differing lengths, a comma list of lengths, a coding other than one `chunked`), so the
//! guard and Rocket always agree on where one request ends and the next begins. Bodies are never decoded: the
//! [`ChunkScanner`] only finds the end of a chunked body in bytes that are relayed as they are.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::ops::Range;

/// Header fields read at most in one head; more is answered 431, as hyper would.
pub(crate) const MAX_HEADERS: usize = 100;

/// The header the guard sets on every relayed request to the client's address.
pub const PEER_HEADER: &str = "X-Stpt-Peer-Addr";

/// Longest chunk-extension or trailer section accepted in a chunked body (hyper's limits).
const CHUNK_LINE_LIMIT: usize = 16 * 1024;

/// How a message's body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body.
    Empty,
    /// Exactly this many bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Until the sender closes the connection (responses only).
    UntilClose,
}

/// A request head read from the client.
#[derive(Debug)]
pub(crate) struct RequestHead {
    /// Bytes of the head, up to and including the blank line.
    pub(crate) len: usize,
    /// Where the request line ends (after its line break): the guard's header goes there.
    line_end: usize,
    /// Lines naming [`PEER_HEADER`], which the client may not set.
    strip: Vec<Range<usize>>,
    /// How the body is delimited.
    pub(crate) framing: Framing,
    /// Whether the client wants the connection kept open after the response.
    pub(crate) keep_alive: bool,
    /// A `HEAD` request: the response has no body whatever its headers say.
    pub(crate) is_head: bool,
    /// The client waits for `100 Continue` before sending the body (the guard answers it,
    /// and the field is not relayed).
    pub(crate) expects_continue: bool,
}

/// A response head read from the app.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ResponseHead {
    /// Bytes of the head, up to and including the blank line.
    pub(crate) len: usize,
    /// The status code.
    pub(crate) status: u16,
    /// How the body is delimited.
    pub(crate) framing: Framing,
    /// Whether the app keeps the connection open after this response.
    pub(crate) keep_alive: bool,
}

/// A request the guard answers itself, then closes the connection: `{"error", "detail"}` with
/// a status, as every error of the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    status: u16,
    error: &'static str,
    detail: String,
}

impl Refusal {
    /// 400: a head or a chunked body that cannot be framed safely.
    pub(crate) fn bad_request(detail: impl Into<String>) -> Refusal {
        Refusal::new(400, "bad_request", detail)
    }

    /// 405: a method the server never serves (CONNECT).
    pub(crate) fn method_not_allowed(detail: impl Into<String>) -> Refusal {
        Refusal::new(405, "method_not_allowed", detail)
    }

    /// 408: the head or the body came too slowly.
    pub(crate) fn timeout(detail: impl Into<String>) -> Refusal {
        Refusal::new(408, "request_timeout", detail)
    }

    /// 431: the head is over the size or header count limit.
    pub(crate) fn head_too_large(detail: impl Into<String>) -> Refusal {
        Refusal::new(431, "header_too_large", detail)
    }

    /// 413: the body is over the body limit (as the app would answer).
    pub(crate) fn payload_too_large(limit: u64) -> Refusal {
        Refusal::new(
            413,
            "payload_too_large",
            format!("the request body is larger than the limit of {limit} bytes"),
        )
    }

    /// 503: over a limit of the whole server (connections, buffered bodies) or the app is
    /// away; the client should retry later.
    pub(crate) fn unavailable(detail: impl Into<String>) -> Refusal {
        Refusal::new(503, "unavailable", detail)
    }

    fn new(status: u16, error: &'static str, detail: impl Into<String>) -> Refusal {
        Refusal {
            status,
            error,
            detail: detail.into(),
        }
    }

    /// The status code.
    #[cfg(test)]
    pub(crate) fn status(&self) -> u16 {
        self.status
    }

    /// The whole response, closing the connection.
    pub(crate) fn to_response(&self) -> Vec<u8> {
        let body = serde_json::to_string(&stpt_core::wire::ErrorBody {
            error: self.error.to_owned(),
            detail: self.detail.clone(),
            field: None,
        })
        .unwrap_or_default();
        let reason = match self.status {
            400 => "Bad Request",
            405 => "Method Not Allowed",
            408 => "Request Timeout",
            413 => "Payload Too Large",
            431 => "Request Header Fields Too Large",
            _ => "Service Unavailable",
        };
        let mut response = format!(
            "HTTP/1.1 {} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
             connection: close\r\nx-content-type-options: nosniff\r\ncache-control: no-store\r\n",
            self.status,
            body.len()
        );
        if self.status == 503 {
            response.push_str("retry-after: 1\r\n");
        }
        response.push_str("\r\n");
        response.push_str(&body);
        response.into_bytes()
    }
}

/// Whether `buf` may hold a whole head, looking only at what arrived since `old_len` (and the
/// three bytes before it): a head ends with an empty line. Saves parsing a head again for every
/// byte a slow client sends.
pub(crate) fn may_hold_head(buf: &[u8], old_len: usize) -> bool {
    let from = old_len.saturating_sub(3);
    buf.get(from..).is_some_and(|tail| {
        tail.windows(2).any(|w| w == b"\n\n") || tail.windows(3).any(|w| w == b"\n\r\n")
    })
}

/// Parses the request head at the start of `buf`: `Ok(None)` while it is incomplete and within
/// `max_len` bytes.
pub(crate) fn parse_request(buf: &[u8], max_len: usize) -> Result<Option<RequestHead>, Refusal> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    let len = match request.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => {
            if buf.len() > max_len {
                return Err(too_large(max_len));
            }
            return Ok(None);
        }
        Err(httparse::Error::TooManyHeaders) => {
            return Err(Refusal::head_too_large(format!(
                "the request has more than {MAX_HEADERS} header fields"
            )));
        }
        Err(e) => {
            return Err(Refusal::bad_request(format!(
                "the request head is malformed: {e}"
            )));
        }
    };
    if len > max_len {
        return Err(too_large(max_len));
    }
    let http_11 = request.version == Some(1);
    if request
        .method
        .is_some_and(|m| m.eq_ignore_ascii_case("CONNECT"))
    {
        return Err(Refusal::method_not_allowed(
            "CONNECT is not served here".to_owned(),
        ));
    }
    let mut strip = Vec::new();
    let mut lengths = Lengths::default();
    let mut chunked = None;
    let mut connection = ConnectionTokens::default();
    let mut expects_continue = false;
    for header in request.headers.iter() {
        let name = header.name;
        let continues = name.eq_ignore_ascii_case("expect")
            && header
                .value
                .trim_ascii()
                .eq_ignore_ascii_case(b"100-continue");
        if name.eq_ignore_ascii_case(PEER_HEADER) || continues {
            let line = line_of(buf, header)
                .ok_or_else(|| Refusal::bad_request("the request head is malformed"))?;
            strip.push(line);
            expects_continue |= continues;
        } else if name.eq_ignore_ascii_case("content-length") {
            // One number per field: the app (hyper) refuses a comma list.
            if header.value.contains(&b',') {
                return Err(Refusal::bad_request("the Content-Length is not valid"));
            }
            lengths
                .add(header.value)
                .map_err(|()| Refusal::bad_request("the Content-Length is not valid"))?;
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            // Only `chunked`, once: the app decodes no other coding, so a body sent with one
            // would be read as it is.
            chunked = Some(
                chunked.is_none() && header.value.trim_ascii().eq_ignore_ascii_case(b"chunked"),
            );
        } else if name.eq_ignore_ascii_case("connection") {
            connection.add(header.value);
        }
    }
    let framing = request_framing(chunked, lengths.value, http_11)?;
    Ok(Some(RequestHead {
        len,
        line_end: line_end(buf),
        strip,
        framing,
        keep_alive: connection.keep_alive(http_11),
        is_head: request.method == Some("HEAD"),
        expects_continue,
    }))
}

/// How a request's body is framed, from its Transfer-Encoding (`Some(true)` when it is exactly
/// one `chunked`) and its Content-Length: one of them at most, and no Transfer-Encoding in HTTP/1.0.
fn request_framing(
    chunked: Option<bool>,
    length: Option<u64>,
    http_11: bool,
) -> Result<Framing, Refusal> {
    match (chunked, length) {
        (Some(_), Some(_)) => Err(Refusal::bad_request(
            "a request may not have both a Content-Length and a Transfer-Encoding",
        )),
        (Some(_), None) if !http_11 => Err(Refusal::bad_request(
            "HTTP/1.0 requests may not use a Transfer-Encoding",
        )),
        (Some(true), None) => Ok(Framing::Chunked),
        (Some(false), None) => Err(Refusal::bad_request(
            "the only Transfer-Encoding accepted is chunked",
        )),
        (None, Some(0) | None) => Ok(Framing::Empty),
        (None, Some(n)) => Ok(Framing::Length(n)),
    }
}

fn too_large(max_len: usize) -> Refusal {
    Refusal::head_too_large(format!(
        "the request head is over the limit of {max_len} bytes"
    ))
}

impl RequestHead {
    /// Appends the head as the app gets it to `out`: the request line, the guard's
    /// [`PEER_HEADER`] naming `peer`, then the client's fields without any of its own.
    pub(crate) fn forward(&self, buf: &[u8], peer: IpAddr, out: &mut Vec<u8>) {
        let head = &buf[..self.len];
        out.extend_from_slice(&head[..self.line_end]);
        out.extend_from_slice(PEER_HEADER.as_bytes());
        out.extend_from_slice(b": ");
        let mut address = String::with_capacity(39);
        // Writing to a String cannot fail.
        let _ = write!(address, "{peer}");
        out.extend_from_slice(address.as_bytes());
        out.extend_from_slice(b"\r\n");
        let mut at = self.line_end;
        for line in &self.strip {
            out.extend_from_slice(&head[at..line.start]);
            at = line.end;
        }
        out.extend_from_slice(&head[at..]);
    }
}

/// Parses the response head at the start of `buf`, answering `request_is_head` requests:
/// `Ok(None)` while it is incomplete.
pub(crate) fn parse_response(
    buf: &[u8],
    request_is_head: bool,
) -> Result<Option<ResponseHead>, String> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let len = match response.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(format!("the app's response head is malformed: {e}")),
    };
    let status = response.code.unwrap_or(0);
    let http_11 = response.version == Some(1);
    let mut lengths = Lengths::default();
    let mut chunked = None;
    let mut connection = ConnectionTokens::default();
    for header in response.headers.iter() {
        if header.name.eq_ignore_ascii_case("content-length") {
            lengths
                .add(header.value)
                .map_err(|()| "the app's Content-Length is not valid".to_owned())?;
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = Some(ends_in_chunked(header.value));
        } else if header.name.eq_ignore_ascii_case("connection") {
            connection.add(header.value);
        }
    }
    let framing = if request_is_head || (100..200).contains(&status) || matches!(status, 204 | 304)
    {
        Framing::Empty
    } else {
        match (chunked, lengths.value) {
            (Some(true), _) => Framing::Chunked,
            (Some(false), _) | (None, None) => Framing::UntilClose,
            (None, Some(0)) => Framing::Empty,
            (None, Some(n)) => Framing::Length(n),
        }
    };
    Ok(Some(ResponseHead {
        len,
        status,
        framing,
        keep_alive: connection.keep_alive(http_11),
    }))
}

/// The byte range of `header`'s whole line in `buf` (from its name to its line break), if
/// `header` lies in `buf` after its first line.
fn line_of(buf: &[u8], header: &httparse::Header<'_>) -> Option<Range<usize>> {
    // httparse hands out slices of `buf`, so their addresses give their offsets.
    let base = buf.as_ptr() as usize;
    let start = (header.name.as_ptr() as usize).checked_sub(base)?;
    if start < line_end(buf) || start >= buf.len() {
        return None;
    }
    // Neither a name nor a value holds a line break, so the line ends at the next one.
    let end = buf[start..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(buf.len(), |at| start + at + 1);
    Some(start..end)
}

/// Where the first line of `buf` ends (after its `\n`).
fn line_end(buf: &[u8]) -> usize {
    buf.iter()
        .position(|&b| b == b'\n')
        .map_or(buf.len(), |at| at + 1)
}

/// Whether a `Transfer-Encoding` value's last coding is `chunked`.
fn ends_in_chunked(value: &[u8]) -> bool {
    value
        .rsplit(|&b| b == b',')
        .next()
        .is_some_and(|last| last.trim_ascii().eq_ignore_ascii_case(b"chunked"))
}

/// The `Content-Length` fields of one message: every value (also inside a comma list) must be
/// the same number.
#[derive(Debug, Default)]
struct Lengths {
    value: Option<u64>,
}

impl Lengths {
    fn add(&mut self, field: &[u8]) -> Result<(), ()> {
        for part in field.split(|&b| b == b',') {
            let digits = part.trim_ascii();
            if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
                return Err(());
            }
            let n = digits
                .iter()
                .fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
            match self.value {
                Some(seen) if seen != n => return Err(()),
                _ => self.value = Some(n),
            }
        }
        Ok(())
    }
}

/// What the `Connection` fields of a message say.
#[derive(Debug, Default)]
struct ConnectionTokens {
    close: bool,
    keep_alive: bool,
}

impl ConnectionTokens {
    fn add(&mut self, field: &[u8]) {
        for token in field.split(|&b| b == b',') {
            let token = token.trim_ascii();
            if token.eq_ignore_ascii_case(b"close") {
                self.close = true;
            } else if token.eq_ignore_ascii_case(b"keep-alive") {
                self.keep_alive = true;
            }
        }
    }

    /// HTTP/1.1 stays open unless told to close; HTTP/1.0 closes unless told to stay.
    fn keep_alive(&self, http_11: bool) -> bool {
        !self.close && (http_11 || self.keep_alive)
    }
}

/// Follows a chunked body through the bytes relayed, to find where it ends.
#[derive(Debug, Clone)]
pub(crate) struct ChunkScanner {
    state: ChunkState,
    /// Size digits read, or data bytes left in the current chunk.
    size: u64,
    /// Bytes of the current extension, or of the trailer section.
    line: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    /// The first digit of a chunk size.
    Start,
    /// More size digits.
    Size,
    /// Blanks after the size.
    SizeBlank,
    /// A chunk extension (ignored, up to its CR).
    Extension,
    /// The LF ending the size line.
    SizeLf,
    /// Chunk data.
    Data,
    /// The CR after the data.
    DataCr,
    /// The LF after the data.
    DataLf,
    /// The start of a trailer line, or the final CR.
    TrailerStart,
    /// Inside a trailer line.
    Trailer,
    /// The LF ending a trailer line.
    TrailerLf,
    /// The final LF.
    EndLf,
    /// The body has ended.
    Done,
}

/// A chunked body that cannot be framed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed chunked body: {0}")]
pub(crate) struct ChunkError(&'static str);

impl Default for ChunkScanner {
    fn default() -> Self {
        ChunkScanner {
            state: ChunkState::Start,
            size: 0,
            line: 0,
        }
    }
}

impl ChunkScanner {
    /// Whether the body has ended.
    pub(crate) fn done(&self) -> bool {
        self.state == ChunkState::Done
    }

    /// Follows `input`, which continues the body; returns how many of its bytes belong to the
    /// body (fewer than all only once it has ended).
    pub(crate) fn scan(&mut self, input: &[u8]) -> Result<usize, ChunkError> {
        let mut at = 0;
        while at < input.len() && self.state != ChunkState::Done {
            if self.state == ChunkState::Data {
                let left = usize::try_from(self.size).unwrap_or(usize::MAX);
                let take = left.min(input.len() - at);
                at += take;
                self.size -= take as u64;
                if self.size == 0 {
                    self.state = ChunkState::DataCr;
                }
                continue;
            }
            self.step(input[at])?;
            at += 1;
        }
        Ok(at)
    }

    fn step(&mut self, byte: u8) -> Result<(), ChunkError> {
        use ChunkState::*;
        self.state = match (self.state, byte) {
            (Start | Size, b) if b.is_ascii_hexdigit() => {
                // The digit is a valid hex digit, so `to_digit` succeeds.
                let digit = u64::from(char::from(b).to_digit(16).unwrap_or(0));
                self.size = self
                    .size
                    .checked_mul(16)
                    .and_then(|s| s.checked_add(digit))
                    .ok_or(ChunkError("chunk size overflows"))?;
                Size
            }
            (Start, _) => return Err(ChunkError("missing chunk size")),
            (Size | SizeBlank, b' ' | b'\t') => SizeBlank,
            (Size | SizeBlank, b';') => {
                self.line = 0;
                Extension
            }
            (Size | SizeBlank | Extension, b'\r') => SizeLf,
            (Size | SizeBlank, _) => return Err(ChunkError("invalid chunk size")),
            (Extension, b'\n') => return Err(ChunkError("line break in a chunk extension")),
            (Extension, _) => {
                self.line += 1;
                if self.line > CHUNK_LINE_LIMIT {
                    return Err(ChunkError("chunk extension too long"));
                }
                Extension
            }
            (SizeLf, b'\n') if self.size == 0 => {
                self.line = 0;
                TrailerStart
            }
            (SizeLf, b'\n') => Data,
            (SizeLf, _) => return Err(ChunkError("chunk size line without LF")),
            (DataCr, b'\r') => DataLf,
            (DataCr, _) => return Err(ChunkError("chunk data without CR")),
            (DataLf, b'\n') => Start,
            (DataLf, _) => return Err(ChunkError("chunk data without LF")),
            (TrailerStart, b'\r') => EndLf,
            (TrailerStart | Trailer, b'\n') => return Err(ChunkError("bare LF in trailers")),
            (Trailer, b'\r') => TrailerLf,
            (TrailerStart | Trailer, _) => {
                self.line += 1;
                if self.line > CHUNK_LINE_LIMIT {
                    return Err(ChunkError("trailers too long"));
                }
                Trailer
            }
            (TrailerLf, b'\n') => TrailerStart,
            (TrailerLf, _) => return Err(ChunkError("trailer line without LF")),
            (EndLf, b'\n') => Done,
            (EndLf, _) => return Err(ChunkError("chunked body without final LF")),
            (Data | Done, _) => self.state,
        };
        if self.state == Start {
            self.size = 0;
        }
        Ok(())
    }
}

/// Follows a body through the bytes relayed, whatever its framing.
#[derive(Debug, Clone)]
pub(crate) enum BodyScanner {
    /// Bytes left of a sized body (0: done).
    Length(u64),
    /// A chunked body.
    Chunked(ChunkScanner),
    /// Everything until the connection closes.
    UntilClose,
}

impl BodyScanner {
    /// Starts following a body framed by `framing`.
    pub(crate) fn new(framing: Framing) -> BodyScanner {
        match framing {
            Framing::Empty => BodyScanner::Length(0),
            Framing::Length(n) => BodyScanner::Length(n),
            Framing::Chunked => BodyScanner::Chunked(ChunkScanner::default()),
            Framing::UntilClose => BodyScanner::UntilClose,
        }
    }

    /// Whether the body has ended (never, for a body delimited by closing).
    pub(crate) fn done(&self) -> bool {
        match self {
            BodyScanner::Length(left) => *left == 0,
            BodyScanner::Chunked(scanner) => scanner.done(),
            BodyScanner::UntilClose => false,
        }
    }

    /// How many bytes at the start of `input` belong to the body.
    pub(crate) fn scan(&mut self, input: &[u8]) -> Result<usize, ChunkError> {
        match self {
            BodyScanner::Length(left) => {
                let take = usize::try_from(*left)
                    .unwrap_or(usize::MAX)
                    .min(input.len());
                *left -= take as u64;
                Ok(take)
            }
            BodyScanner::Chunked(scanner) => scanner.scan(input),
            BodyScanner::UntilClose => Ok(input.len()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    fn request(text: &str) -> Result<Option<RequestHead>, Refusal> {
        parse_request(text.as_bytes(), 16 * 1024)
    }

    fn framing(text: &str) -> Framing {
        request(text).expect("valid").expect("complete").framing
    }

    #[test]
    fn a_partial_head_waits_until_the_limit_then_is_too_large() {
        assert!(matches!(request("GET / HTTP/1.1\r\nHost: x\r\n"), Ok(None)));
        let long = format!("GET / HTTP/1.1\r\nX-Long: {}", "a".repeat(100));
        let refusal = parse_request(long.as_bytes(), 64).expect_err("too large");
        assert_eq!(refusal.status(), 431);
        let complete = format!("GET / HTTP/1.1\r\nX-Long: {}\r\n\r\n", "a".repeat(100));
        assert_eq!(
            parse_request(complete.as_bytes(), 64)
                .expect_err("too large")
                .status(),
            431
        );
    }

    #[test]
    fn too_many_fields_are_431_and_garbage_is_400() {
        let mut head = "GET / HTTP/1.1\r\n".to_owned();
        for i in 0..=MAX_HEADERS {
            head.push_str(&format!("X-{i}: 1\r\n"));
        }
        head.push_str("\r\n");
        assert_eq!(request(&head).expect_err("too many").status(), 431);
        assert_eq!(
            request("GET / HTTP/9.9\r\n\r\n")
                .expect_err("bad version")
                .status(),
            400
        );
        assert_eq!(
            request("CONNECT a:1 HTTP/1.1\r\n\r\n")
                .expect_err("connect")
                .status(),
            405
        );
    }

    #[test]
    fn request_framing_follows_the_headers_and_refuses_ambiguity() {
        assert_eq!(framing("GET / HTTP/1.1\r\n\r\n"), Framing::Empty);
        assert_eq!(
            framing("POST / HTTP/1.1\r\nContent-Length: 12\r\n\r\n"),
            Framing::Length(12)
        );
        assert_eq!(
            framing("POST / HTTP/1.1\r\nTransfer-Encoding:  Chunked \r\n\r\n"),
            Framing::Chunked
        );
        // What the app would read otherwise (a comma list of lengths hyper refuses without a
        // JSON body; a coding the app does not decode) is refused here.
        for bad in [
            "POST / HTTP/1.1\r\ncontent-length: 12, 12\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: 2,2\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: identity, chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: +1\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: \r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
            "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
        ] {
            assert_eq!(request(bad).expect_err(bad).status(), 400, "{bad}");
        }
    }

    #[test]
    fn keep_alive_follows_the_version_and_connection_tokens() {
        let keep = |text: &str| request(text).expect("valid").expect("complete").keep_alive;
        assert!(keep("GET / HTTP/1.1\r\n\r\n"));
        assert!(!keep(
            "GET / HTTP/1.1\r\nConnection: Upgrade, close\r\n\r\n"
        ));
        assert!(!keep("GET / HTTP/1.0\r\n\r\n"));
        assert!(keep("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    }

    #[test]
    fn the_forwarded_head_names_the_peer_and_drops_the_clients_claim() {
        let text = "POST /x HTTP/1.1\r\nHost: a\r\nx-stpt-peer-addr: 6.6.6.6\r\nX-Other: 1\r\n\
                    X-Stpt-Peer-Addr:7.7.7.7\r\n\r\nbody";
        let head = request(text).expect("valid").expect("complete");
        assert_eq!(head.len, text.len() - 4);
        let mut out = Vec::new();
        head.forward(
            text.as_bytes(),
            IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3)),
            &mut out,
        );
        assert_eq!(
            String::from_utf8(out).expect("text"),
            "POST /x HTTP/1.1\r\nX-Stpt-Peer-Addr: 10.1.2.3\r\nHost: a\r\nX-Other: 1\r\n\r\n"
        );
    }

    #[test]
    fn expect_100_continue_is_noted_and_not_forwarded() {
        let text = "POST /x HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\n";
        let head = request(text).expect("valid").expect("complete");
        assert!(head.expects_continue);
        let mut out = Vec::new();
        head.forward(text.as_bytes(), IpAddr::V4(Ipv4Addr::LOCALHOST), &mut out);
        assert_eq!(
            String::from_utf8(out).expect("text"),
            "POST /x HTTP/1.1\r\nX-Stpt-Peer-Addr: 127.0.0.1\r\nContent-Length: 3\r\n\r\n"
        );
        let plain = request("POST /x HTTP/1.1\r\nContent-Length: 3\r\n\r\n").expect("valid");
        assert!(!plain.expect("complete").expects_continue);
    }

    #[test]
    fn a_head_may_be_complete_only_after_an_empty_line() {
        let buf = b"GET / HTTP/1.1\r\nHost: a\r\n\r";
        assert!(!may_hold_head(buf, 0));
        let buf = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
        assert!(may_hold_head(buf, buf.len() - 1));
        assert!(may_hold_head(b"GET / HTTP/1.1\n\n", 15));
        assert!(!may_hold_head(b"GET / HTTP/1.1\r\nHost: a\r\n", 20));
    }

    #[test]
    fn response_framing() {
        let parse = |text: &str, head: bool| {
            parse_response(text.as_bytes(), head)
                .expect("valid")
                .expect("complete")
        };
        let ok = parse("HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello", false);
        assert_eq!(
            (ok.status, ok.framing, ok.keep_alive),
            (200, Framing::Length(5), true)
        );
        assert_eq!(
            parse("HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n", true).framing,
            Framing::Empty
        );
        assert_eq!(
            parse(
                "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n",
                false
            )
            .framing,
            Framing::Chunked
        );
        let close = parse("HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n", false);
        assert_eq!(
            (close.framing, close.keep_alive),
            (Framing::UntilClose, false)
        );
        let upgrade = parse(
            "HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n",
            false,
        );
        assert_eq!((upgrade.status, upgrade.framing), (101, Framing::Empty));
        assert_eq!(
            parse(
                "HTTP/1.1 304 Not Modified\r\ncontent-length: 9\r\n\r\n",
                false
            )
            .framing,
            Framing::Empty
        );
        assert!(
            parse_response(b"HTTP/1.1 200 OK\r\n", false)
                .expect("valid")
                .is_none()
        );
        assert!(parse_response(b"garbage\r\n\r\n", false).is_err());
    }

    #[test]
    fn chunked_bodies_end_where_the_last_chunk_and_trailers_end() {
        let body =
            b"5\r\nhello\r\n1A;ext=1\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-T: 1\r\n\r\nNEXT";
        let mut whole = ChunkScanner::default();
        assert_eq!(whole.scan(body), Ok(body.len() - 4));
        assert!(whole.done());
        // Byte by byte gives the same end.
        let mut split = ChunkScanner::default();
        let mut used = 0;
        for byte in body.iter() {
            used += split.scan(std::slice::from_ref(byte)).expect("valid");
        }
        assert_eq!(used, body.len() - 4);
        assert!(split.done());
        let mut simple = ChunkScanner::default();
        assert_eq!(simple.scan(b"0\r\n\r\n"), Ok(5));
        assert!(simple.done());
        let mut blank = ChunkScanner::default();
        assert_eq!(blank.scan(b"3 \t\r\nabc\r\n0\r\n\r\n"), Ok(15));
    }

    #[test]
    fn malformed_chunked_bodies_are_errors() {
        for bad in [
            &b"\r\n"[..],
            b"g\r\n",
            b"5\nhello",
            b"5\r\nhelloX",
            b"5\r\nhello\rX",
            b"0\r\nX-T: 1\n",
            b"0\r\n\rX",
            b"1;a\nb\r\n",
            b"11111111111111111\r\n",
        ] {
            assert!(ChunkScanner::default().scan(bad).is_err(), "{bad:?}");
        }
        let mut long = ChunkScanner::default();
        let extension = format!("1;{}", "e".repeat(CHUNK_LINE_LIMIT + 1));
        assert!(long.scan(extension.as_bytes()).is_err());
    }

    #[test]
    fn body_scanners_stop_at_the_end_of_the_body() {
        let mut sized = BodyScanner::new(Framing::Length(3));
        assert_eq!(sized.scan(b"ab"), Ok(2));
        assert!(!sized.done());
        assert_eq!(sized.scan(b"cGET"), Ok(1));
        assert!(sized.done());
        assert!(BodyScanner::new(Framing::Empty).done());
        let mut until_close = BodyScanner::new(Framing::UntilClose);
        assert_eq!(until_close.scan(b"abc"), Ok(3));
        assert!(!until_close.done());
    }

    #[test]
    fn refusals_are_json_and_close() {
        let text =
            String::from_utf8(Refusal::timeout("too slow").to_response()).expect("text response");
        assert!(text.starts_with("HTTP/1.1 408 Request Timeout\r\n"));
        assert!(text.contains("connection: close\r\n"));
        let body = text.split("\r\n\r\n").nth(1).expect("a body");
        let json: serde_json::Value = serde_json::from_str(body).expect("JSON");
        assert_eq!(
            json,
            serde_json::json!({"error": "request_timeout", "detail": "too slow"})
        );
        assert!(
            String::from_utf8(Refusal::unavailable("full").to_response())
                .expect("text")
                .contains("retry-after: 1\r\n")
        );
    }
}
