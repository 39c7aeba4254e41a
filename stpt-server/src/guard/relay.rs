//! One client connection: read a request head and its body within the limits, then hand the
//! whole request to the app at once, relay the app's answer, and again while the connection is
//! kept alive; after a 101, relay both ways byte for byte.
//!
//! A body is collected before the app sees the request (in pieces paid from the budget before
//! they are read), so a slow upload costs the app nothing: no connection, no task, no buffer
//! until it is complete. The price is that the app's early answers (401 before reading a body)
//! come after the upload; the guard answers `Expect: 100-continue` itself, and refuses a
//! declared length over the body limit (413) before reading it.
//!
//! Everything works on shared references to the sockets (`readable`/`try_read`,
//! `writable`/`try_write`), so one task can wait on the client, the app, its eviction and a
//! deadline at once without splitting the sockets. Buffers exist only while a request is in
//! flight: an idle connection holds its two sockets' bookkeeping and nothing more. The client's
//! socket is any [`Socket`]: the TCP connection itself, or the local end of an HTTPS
//! connection's bridge (`super::tls`).

use std::io;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::{Instant, sleep_until, timeout};

use super::http::{self, BodyScanner, Framing, Refusal, RequestHead, ResponseHead};
use super::slots::SlotGuard;
use super::socket::{ReadHalf, Socket};
use super::{LINGER, READ_CHUNK, Shared};

/// Bytes read at first for a request head (most heads fit); the buffer doubles from there.
const FIRST_READ: usize = 2048;

/// Largest response head accepted from the app.
const MAX_RESPONSE_HEAD: usize = 64 * 1024;

/// Requests up to this size (head and body) are written in one piece and kept until the app
/// answers, to be sent again if a pooled connection turns out to have been closed; larger ones
/// go out piece by piece on a new connection.
const KEPT_FOR_RETRY: usize = 64 * 1024;

/// Bytes a lingering connection reads and drops at most before closing.
const LINGER_BYTES: usize = 1024 * 1024;

/// How a connection ends.
#[derive(Debug)]
enum End {
    /// Close without a word: the client left, idled out, or broke off.
    Quiet,
    /// Answer this, then close.
    Refuse(Refusal),
    /// Stop sending and let the client finish before closing (it may have sent requests
    /// behind one that closes the connection).
    Linger,
    /// The app switched protocols: relay both ways.
    Tunnel(TcpStream),
}

/// Serves one client connection until it ends.
pub(super) async fn serve<C: Socket>(
    shared: Arc<Shared>,
    client: C,
    peer: IpAddr,
    slot: SlotGuard,
    accepted: Instant,
) {
    let end = Connection {
        shared: &shared,
        client: &client,
        peer,
        slot: &slot,
        buf: Vec::new(),
    }
    .run(accepted)
    .await;
    match end {
        End::Quiet => drop(slot),
        End::Refuse(refusal) => {
            drop(slot);
            let _ = timeout(
                shared.limits.send_timeout,
                write_all(&client, &refusal.to_response()),
            )
            .await;
            close_gently(&shared, client).await;
        }
        End::Linger => {
            drop(slot);
            close_gently(&shared, client).await;
        }
        End::Tunnel(app) => {
            tunnel(client, app, shared.limits.send_timeout).await;
            drop(slot);
        }
    }
}

/// Closes a connection that is done, lingering (within the shared allowance, which bounds the
/// sockets kept open beyond the cap) so the client reads the last answer rather than a reset.
pub(super) async fn close_gently<C: Socket>(shared: &Shared, client: C) {
    match shared.lingering.clone().try_acquire_owned() {
        Ok(permit) => {
            linger(client, Instant::now() + LINGER).await;
            drop(permit);
        }
        Err(_) => discard_arrived(&client),
    }
}

struct Connection<'a, C> {
    shared: &'a Shared,
    client: &'a C,
    peer: IpAddr,
    slot: &'a SlotGuard,
    /// Bytes from the client not relayed yet (a partial head, body bytes, pipelined requests).
    buf: Vec<u8>,
}

/// A request body collected from the client.
#[derive(Default)]
struct Body {
    pieces: Vec<Vec<u8>>,
    len: usize,
    /// Budget held for it until the app answers.
    permit: Option<OwnedSemaphorePermit>,
}

impl<C: Socket> Connection<'_, C> {
    async fn run(&mut self, accepted: Instant) -> End {
        let mut first = Some(accepted + self.shared.limits.header_timeout);
        loop {
            let head = match self.read_head(first.take()).await {
                Ok(head) => head,
                Err(end) => return end,
            };
            if let Err(end) = self.exchange(head).await {
                return end;
            }
            if !self.slot.waiting() {
                return End::Quiet;
            }
            if self.buf.is_empty() {
                // Nothing is buffered while the connection idles.
                self.buf = Vec::new();
            }
        }
    }

    /// Reads the next request head; `first` is the deadline of a connection's first head,
    /// which runs from its opening.
    async fn read_head(&mut self, first: Option<Instant>) -> Result<RequestHead, End> {
        let limits = &self.shared.limits;
        let mut started = first.is_some();
        let mut deadline = first.unwrap_or_else(|| Instant::now() + limits.idle_timeout);
        let mut checked = 0;
        loop {
            if !self.buf.is_empty() {
                if !started {
                    started = true;
                    deadline = Instant::now() + limits.header_timeout;
                }
                if http::may_hold_head(&self.buf, checked)
                    || self.buf.len() > limits.max_header_bytes
                {
                    match http::parse_request(&self.buf, limits.max_header_bytes) {
                        Ok(Some(head)) => return Ok(head),
                        Ok(None) => {}
                        Err(refusal) => return Err(End::Refuse(refusal)),
                    }
                }
                checked = self.buf.len();
            }
            let partial = !self.buf.is_empty();
            tokio::select! {
                biased;
                () = self.slot.evicted() => {
                    return Err(if partial {
                        End::Refuse(Refusal::unavailable(
                            "the server is at its connection limit; try again",
                        ))
                    } else {
                        End::Quiet
                    });
                }
                () = sleep_until(deadline) => {
                    return Err(if partial {
                        End::Refuse(Refusal::timeout(format!(
                            "the request head did not arrive within {}",
                            seconds(limits.header_timeout)
                        )))
                    } else {
                        End::Quiet
                    });
                }
                ready = self.client.readable() => {
                    if ready.is_err() {
                        return Err(End::Quiet);
                    }
                    // Room for at most one byte past the limit, growing from a small start so
                    // a slow client holds about what it has sent.
                    let room = (limits.max_header_bytes + 1).saturating_sub(self.buf.len());
                    let want = room.clamp(1, READ_CHUNK).min(self.buf.len().max(FIRST_READ));
                    match try_read(self.client, &mut self.buf, want) {
                        Read::Data => {}
                        Read::NotYet => {}
                        Read::Closed => return Err(End::Quiet),
                    }
                }
            }
        }
    }

    /// Relays one request and its answer; `Ok` when the connection may serve another.
    async fn exchange(&mut self, head: RequestHead) -> Result<(), End> {
        let shared = self.shared;
        // The body is waiting on the client too, and its clock starts now.
        if !self.slot.waiting() {
            return Err(End::Refuse(Refusal::unavailable(
                "the server is closing or at its connection limit; try again",
            )));
        }
        if let Framing::Length(n) = head.framing
            && n > shared.body_limit
        {
            return Err(End::Refuse(Refusal::payload_too_large(shared.body_limit)));
        }
        let mut request = Vec::with_capacity(head.len + 64);
        head.forward(&self.buf, self.peer, &mut request);
        self.buf.drain(..head.len);
        if head.expects_continue && head.framing != Framing::Empty && self.buf.is_empty() {
            self.to_client(b"HTTP/1.1 100 Continue\r\n\r\n").await?;
        }
        let mut body = self.read_body(head.framing).await?;
        // The request is whole and goes to the app: no longer evictable.
        if !self.slot.busy() {
            return Err(End::Refuse(Refusal::unavailable(
                "the server is at its connection limit; try again",
            )));
        }
        if self.buf.is_empty() {
            self.buf = Vec::new();
        }
        let mut from_app = Vec::new();
        let mut sent = self
            .send_request(request, &mut body, &mut from_app, head.is_head)
            .await?;
        let answered_early = sent.early.is_some() || sent.broken_off;
        let response = match sent.early.take() {
            Some(response) => response,
            None => {
                self.await_response(&mut sent, &mut from_app, head.is_head)
                    .await?
            }
        };
        let Forwarded {
            app, whole_request, ..
        } = sent;
        drop(whole_request);
        // The app has taken the body: its bytes leave the budget.
        drop(body.permit.take());
        if response.status == 101 {
            self.to_client(&from_app).await?;
            write_all(&app, &self.buf).await.map_err(|_| End::Quiet)?;
            self.buf.clear();
            return Err(End::Tunnel(app));
        }
        let clean = self.relay_response(&app, response, from_app).await?;
        // After an answer to part of a request, the app's connection holds the rest: it is not
        // reused. The client sent all of it to the guard, so its connection may go on.
        if clean && !answered_early && response.keep_alive {
            shared.upstream.put(app);
        }
        if !head.keep_alive || !response.keep_alive || !clean {
            return Err(End::Linger);
        }
        Ok(())
    }

    /// Sends `request` (the head as the app gets it) and `body` to the app: a small request whole
    /// on a pooled connection (kept to send again should that connection turn out closed), a
    /// larger one piece by piece on a new connection. Stops early when the app answers first.
    async fn send_request(
        &self,
        mut request: Vec<u8>,
        body: &mut Body,
        from_app: &mut Vec<u8>,
        is_head: bool,
    ) -> Result<Forwarded, End> {
        let unreachable = |e: io::Error| {
            tracing::error!("cannot reach the app: {e}");
            End::Refuse(Refusal::unavailable("the server is not ready; try again"))
        };
        if request.len() + body.len <= KEPT_FOR_RETRY {
            let (app, reused) = self.shared.upstream.take().await.map_err(unreachable)?;
            for piece in body.pieces.drain(..) {
                request.extend_from_slice(&piece);
            }
            let early = match self.send(&app, &request, from_app, is_head).await? {
                Sent::Written | Sent::Failed => None,
                Sent::Answered(response) => Some(response),
            };
            return Ok(Forwarded {
                app,
                reused,
                whole_request: Some(request),
                early,
                broken_off: false,
            });
        }
        let app = self.shared.upstream.connect().await.map_err(unreachable)?;
        let mut early = None;
        let mut broken_off = false;
        let pieces = std::iter::once(request).chain(body.pieces.drain(..));
        for piece in pieces {
            match self.send(&app, &piece, from_app, is_head).await? {
                Sent::Written => {}
                Sent::Answered(response) => {
                    early = Some(response);
                    break;
                }
                Sent::Failed => {
                    broken_off = true;
                    break;
                }
            }
        }
        Ok(Forwarded {
            app,
            reused: false,
            whole_request: None,
            early,
            broken_off,
        })
    }

    /// Reads the app's final answer to a forwarded request, relaying interim ones; a request
    /// sent whole on a pooled connection the app had closed is sent again on a new one.
    async fn await_response(
        &self,
        sent: &mut Forwarded,
        from_app: &mut Vec<u8>,
        is_head: bool,
    ) -> Result<ResponseHead, End> {
        loop {
            match read_response(&sent.app, from_app, is_head).await {
                Ok(response) => {
                    if let Some(response) = self.interim(response, from_app).await? {
                        return Ok(response);
                    }
                }
                Err(AppGone::Silent) if sent.reused && sent.whole_request.is_some() => {
                    // The pooled connection had been closed: send it again on a new one.
                    sent.reused = false;
                    let request = sent.whole_request.as_deref().unwrap_or_default();
                    sent.app = self.resend(request).await?;
                }
                Err(gone) => return Err(gone.end()),
            }
        }
    }

    /// Writes `data` to the app, watching for an answer meanwhile (the app may refuse a request
    /// before reading all of it).
    async fn send(
        &self,
        app: &TcpStream,
        data: &[u8],
        from_app: &mut Vec<u8>,
        is_head: bool,
    ) -> Result<Sent, End> {
        let slot = self.slot;
        let write = write_all(app, data);
        tokio::pin!(write);
        loop {
            tokio::select! {
                biased;
                written = &mut write => {
                    // After a failed write, the app's answer (if any) says why.
                    return Ok(if written.is_ok() { Sent::Written } else { Sent::Failed });
                }
                () = slot.evicted() => return Err(End::Refuse(Refusal::unavailable(
                    "the server is at its connection limit; try again",
                ))),
                ready = app.readable() => {
                    if ready.is_err() {
                        return Ok(Sent::Failed);
                    }
                    match try_read(app, from_app, READ_CHUNK) {
                        // Readiness can be stale: waiting for an answer here would wait for
                        // a body that is not sent.
                        Read::NotYet => {}
                        Read::Closed => return Ok(Sent::Failed),
                        Read::Data => {
                            if let Some(response) = self.answer(app, from_app, is_head).await? {
                                return Ok(Sent::Answered(response));
                            }
                        }
                    }
                }
            }
        }
    }

    /// Sends a whole request again on a new connection to the app.
    async fn resend(&self, request: &[u8]) -> Result<TcpStream, End> {
        let unavailable =
            |_| End::Refuse(Refusal::unavailable("the server is not ready; try again"));
        let app = self.shared.upstream.connect().await.map_err(unavailable)?;
        write_all(&app, request).await.map_err(unavailable)?;
        Ok(app)
    }

    /// Collects the body framed by `framing`: within its time (`body_timeout` from its start,
    /// plus a second per `body_min_rate` bytes), the body limit and the budget.
    async fn read_body(&mut self, framing: Framing) -> Result<Body, End> {
        let limits = &self.shared.limits;
        let started = Instant::now();
        let mut scanner = BodyScanner::new(framing);
        let mut body = Body::default();
        let mut prepaid: Option<OwnedSemaphorePermit> = None;
        loop {
            if !self.buf.is_empty() && !scanner.done() {
                let n = scanner
                    .scan(&self.buf)
                    .map_err(|e| End::Refuse(Refusal::bad_request(e.to_string())))?;
                if (body.len + n) as u64 > self.shared.body_limit {
                    return Err(End::Refuse(Refusal::payload_too_large(
                        self.shared.body_limit,
                    )));
                }
                let deadline = self.body_deadline(started, body.len);
                let mut paid = self.top_up(prepaid.take(), n, deadline).await?;
                // What was paid for bytes that turned out not to be body goes back.
                let used = paid.split(n);
                drop(paid);
                if let Some(used) = used {
                    match &mut body.permit {
                        Some(held) => held.merge(used),
                        None => body.permit = Some(used),
                    }
                }
                if n == self.buf.len() {
                    let mut piece = std::mem::take(&mut self.buf);
                    piece.shrink_to_fit();
                    body.pieces.push(piece);
                } else if n > 0 {
                    body.pieces.push(self.buf[..n].to_vec());
                    self.buf.drain(..n);
                }
                body.len += n;
            }
            prepaid = None;
            if scanner.done() {
                return Ok(body);
            }
            let deadline = self.body_deadline(started, body.len);
            tokio::select! {
                biased;
                () = self.slot.evicted() => return Err(End::Refuse(Refusal::unavailable(
                    "the server is at its connection limit; try again",
                ))),
                () = sleep_until(deadline) => return Err(End::Refuse(Refusal::timeout(format!(
                    "the request body arrived slower than {} bytes per second (after {})",
                    limits.body_min_rate,
                    seconds(limits.body_timeout)
                )))),
                ready = self.client.readable() => {
                    if ready.is_err() {
                        return Err(End::Quiet);
                    }
                    // Paid before reading, so what the connection holds is in the budget.
                    let want = next_read(&scanner);
                    let permit = self.top_up(None, want, deadline).await?;
                    match try_read(self.client, &mut self.buf, want) {
                        Read::Data => prepaid = Some(permit),
                        Read::NotYet => {}
                        Read::Closed => return Err(End::Quiet),
                    }
                }
            }
        }
    }

    /// `paid` topped up to `n` bytes of the budget, waiting for them until `deadline`.
    async fn top_up(
        &self,
        paid: Option<OwnedSemaphorePermit>,
        n: usize,
        deadline: Instant,
    ) -> Result<OwnedSemaphorePermit, End> {
        let owing = n.saturating_sub(paid.as_ref().map_or(0, |p| p.num_permits()));
        let budget = &self.shared.budget;
        let more = match budget.try_take(owing) {
            Some(permit) => permit,
            None => tokio::select! {
                biased;
                () = self.slot.evicted() => return Err(End::Refuse(Refusal::unavailable(
                    "the server is at its connection limit; try again",
                ))),
                () = sleep_until(deadline) => return Err(End::Refuse(Refusal::unavailable(
                    "the server holds too many request bodies at once; try again",
                ))),
                permit = budget.take(owing) => permit.ok_or_else(|| End::Refuse(
                    Refusal::unavailable("the request body does not fit the server's budget"),
                ))?,
            },
        };
        Ok(match paid {
            Some(mut paid) => {
                paid.merge(more);
                paid
            }
            None => more,
        })
    }

    /// When a body begun at `started` must be complete, with `received` bytes arrived.
    fn body_deadline(&self, started: Instant, received: usize) -> Instant {
        let limits = &self.shared.limits;
        let earned = Duration::from_secs_f64(received as f64 / limits.body_min_rate as f64);
        started + limits.body_timeout + earned
    }

    /// Reads the rest of an answer the app has begun; relays it and returns `None` if it is
    /// interim (1xx but 101).
    async fn answer(
        &self,
        app: &TcpStream,
        from_app: &mut Vec<u8>,
        is_head: bool,
    ) -> Result<Option<ResponseHead>, End> {
        let response = read_response(app, from_app, is_head)
            .await
            .map_err(AppGone::end)?;
        self.interim(response, from_app).await
    }

    /// Relays an interim (1xx) answer and returns `None`, or returns a final one (or 101).
    async fn interim(
        &self,
        response: ResponseHead,
        from_app: &mut Vec<u8>,
    ) -> Result<Option<ResponseHead>, End> {
        if (100..200).contains(&response.status) && response.status != 101 {
            let interim: Vec<u8> = from_app.drain(..response.len).collect();
            self.to_client(&interim).await?;
            return Ok(None);
        }
        Ok(Some(response))
    }

    /// Relays a final response whose head is at the start of `from_app`; `Ok(true)` if it
    /// ended where its framing says and nothing followed it.
    async fn relay_response(
        &mut self,
        app: &TcpStream,
        response: ResponseHead,
        mut from_app: Vec<u8>,
    ) -> Result<bool, End> {
        let mut body = BodyScanner::new(response.framing);
        let taken = body
            .scan(&from_app[response.len..])
            .map_err(|_| End::Quiet)?;
        let mut extra = from_app.len() - response.len - taken;
        self.to_client(&from_app[..response.len + taken]).await?;
        while !body.done() {
            from_app.clear();
            match read_some(app, &mut from_app, READ_CHUNK).await {
                Ok(0) if response.framing == Framing::UntilClose => return Ok(false),
                Ok(0) | Err(_) => return Err(End::Quiet),
                Ok(_) => {}
            }
            let taken = body.scan(&from_app).map_err(|_| End::Quiet)?;
            extra += from_app.len() - taken;
            self.to_client(&from_app[..taken]).await?;
        }
        Ok(extra == 0)
    }

    /// Writes to the client, which must take it within the send timeout.
    async fn to_client(&self, data: &[u8]) -> Result<(), End> {
        match timeout(
            self.shared.limits.send_timeout,
            write_all(self.client, data),
        )
        .await
        {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) | Err(_) => Err(End::Quiet),
        }
    }
}

/// A request on its way to the app: the connection, whether it came from the pool, the
/// request kept whole to send again (small requests only), and an answer that came before the
/// app took all of it, or that it stopped taking it.
struct Forwarded {
    app: TcpStream,
    reused: bool,
    whole_request: Option<Vec<u8>>,
    early: Option<ResponseHead>,
    broken_off: bool,
}

/// What became of a write to the app.
enum Sent {
    Written,
    /// The app answered (finally) before taking all of it.
    Answered(ResponseHead),
    /// The app's connection is closed (its answer, if any, is still to be read).
    Failed,
}

/// The app's connection ended without an answer.
#[derive(Debug)]
enum AppGone {
    /// Closed before sending a byte.
    Silent,
    /// Broke off or sent something that is not HTTP.
    Broken,
}

impl AppGone {
    fn end(self) -> End {
        match self {
            AppGone::Silent => End::Refuse(Refusal::unavailable(
                "the server closed the connection; try again",
            )),
            AppGone::Broken => End::Quiet,
        }
    }
}

/// Reads until `from_app` starts with a whole response head.
async fn read_response(
    app: &TcpStream,
    from_app: &mut Vec<u8>,
    is_head: bool,
) -> Result<ResponseHead, AppGone> {
    loop {
        if !from_app.is_empty() {
            match http::parse_response(from_app, is_head) {
                Ok(Some(response)) => return Ok(response),
                Ok(None) if from_app.len() < MAX_RESPONSE_HEAD => {}
                Ok(None) | Err(_) => return Err(AppGone::Broken),
            }
        }
        match read_some(app, from_app, READ_CHUNK).await {
            Ok(0) | Err(_) if from_app.is_empty() => return Err(AppGone::Silent),
            Ok(0) | Err(_) => return Err(AppGone::Broken),
            Ok(_) => {}
        }
    }
}

/// How much to read (and pay for) next: a chunk, or what is left of a sized body.
fn next_read(scanner: &BodyScanner) -> usize {
    match scanner {
        BodyScanner::Length(left) => usize::try_from(*left).unwrap_or(usize::MAX),
        _ => READ_CHUNK,
    }
    .clamp(1, READ_CHUNK)
}

/// What a non-blocking read found.
enum Read {
    Data,
    NotYet,
    Closed,
}

/// Reads what has arrived (up to `max` bytes) onto the end of `buf`.
fn try_read<S: Socket>(stream: &S, buf: &mut Vec<u8>, max: usize) -> Read {
    buf.reserve_exact(max);
    match stream.try_read_buf(buf) {
        Ok(0) => Read::Closed,
        Ok(_) => Read::Data,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Read::NotYet,
        Err(_) => Read::Closed,
    }
}

/// Waits for data and reads it (up to `max` bytes) onto the end of `buf`; `Ok(0)` at the end.
async fn read_some<S: Socket>(stream: &S, buf: &mut Vec<u8>, max: usize) -> io::Result<usize> {
    loop {
        stream.readable().await?;
        buf.reserve_exact(max);
        match stream.try_read_buf(buf) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            other => return other,
        }
    }
}

/// Writes all of `data` through a shared reference.
async fn write_all<S: Socket>(stream: &S, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        match stream.try_write(data) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => stream.writable().await?,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Drops what the client has sent so far, so closing does not reset the connection under an
/// answer it has not read yet.
pub(super) fn discard_arrived<S: Socket>(stream: &S) {
    let mut scratch = [0u8; 4096];
    let mut dropped = 0;
    while dropped < LINGER_BYTES {
        match stream.try_read(&mut scratch) {
            Ok(0) | Err(_) => return,
            Ok(n) => dropped += n,
        }
    }
}

/// Ends the connection gracefully: no more sending, then read and drop what the client still
/// sends until it closes, [`LINGER_BYTES`] or `until`.
pub(super) async fn linger<S: Socket>(mut stream: S, until: Instant) {
    let _ = timeout(LINGER, stream.shutdown()).await;
    let mut dropped = 0;
    let mut scratch = Vec::new();
    while dropped < LINGER_BYTES {
        scratch.clear();
        match timeout_at(until, read_some(&stream, &mut scratch, 4096)).await {
            Some(Ok(n)) if n > 0 => dropped += n,
            _ => return,
        }
    }
}

async fn timeout_at<F: Future>(until: Instant, future: F) -> Option<F::Output> {
    tokio::time::timeout_at(until, future).await.ok()
}

/// Relays an upgraded connection both ways until both sides have closed; a side that does
/// not take data for `stall` ends both.
async fn tunnel<C: Socket>(client: C, app: TcpStream, stall: Duration) {
    let (client_read, client_write) = client.into_split();
    let (app_read, app_write) = app.into_split();
    let _ = tokio::try_join!(
        pump(client_read, app_write, stall),
        pump(app_read, client_write, stall),
    );
}

/// Copies one direction of a tunnel; at the end, closes the other side's sending direction.
async fn pump<R: ReadHalf, W: tokio::io::AsyncWrite + Unpin>(
    from: R,
    mut to: W,
    stall: Duration,
) -> io::Result<()> {
    loop {
        from.readable().await?;
        // A buffer only while data moves: an open WebSocket mostly waits.
        let mut chunk = Vec::with_capacity(READ_CHUNK);
        match from.try_read_buf(&mut chunk) {
            Ok(0) => {
                let _ = timeout(stall, to.shutdown()).await;
                return Ok(());
            }
            Ok(_) => match timeout(stall, to.write_all(&chunk)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(e),
                Err(_) => return Err(io::ErrorKind::TimedOut.into()),
            },
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
}

/// "10 s", "1.5 s".
fn seconds(duration: Duration) -> String {
    format!("{} s", duration.as_secs_f64())
}
