//! One HTTP/1.1 connection: a `TcpStream`, its read buffer, and reads and writes that honour
//! the idle timeout and the request's total deadline.

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_io::{AsyncRead, AsyncWrite};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use url::{Host, Url};

use super::error::{Error, Phase};
use super::framing::{Head, Limits, parse_head};
use crate::net::TcpStream;
use crate::time::{Sleep, now, sleep_until, timeout};

/// Reads ask the socket for at least this much room, so a head that trickles in is re-parsed at
/// most `max_head_bytes / MIN_READ` times (no quadratic re-parsing).
const MIN_READ: usize = 8 * 1024;

/// The most a body read asks for: a large body is read in pieces this big (one system call
/// and one wake-up per 64 KiB, as the hand-written clients do), a small one in one read of
/// what is left.
const MAX_READ: usize = 64 * 1024;

/// Where a connection goes: the pool's key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Origin {
    /// `https` (else `http`).
    pub(crate) tls: bool,
    pub(crate) host: String,
    pub(crate) port: u16,
}

impl Origin {
    /// The origin of an `http` URL; other schemes are refused here.
    pub(crate) fn of(url: &Url) -> Result<Origin, Error> {
        let supported =
            url.scheme() == "http" || (url.scheme() == "https" && cfg!(feature = "tls"));
        if !supported {
            return Err(Error::UnsupportedScheme(url.scheme().to_string()));
        }
        let host = url.host_str().ok_or_else(|| Error::InvalidUrl {
            url: url.to_string(),
            reason: "no host".into(),
        })?;
        Ok(Origin {
            tls: url.scheme() == "https",
            // The URL parser lowercases the host of an http(s) URL already.
            host: host.to_string(),
            port: url.port_or_known_default().unwrap_or(80),
        })
    }
}

/// The clocks of one request: how long a single wait may last, and when everything must end.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clocks {
    pub(crate) connect: Duration,
    pub(crate) idle: Duration,
    pub(crate) deadline: Option<Instant>,
}

impl Clocks {
    /// Runs `fut` for at most `limit` (and never past the deadline); the error names the clock
    /// that ran out.
    pub(crate) async fn run<T>(
        &self,
        limit: Duration,
        phase: Phase,
        fut: impl Future<Output = std::io::Result<T>>,
    ) -> Result<T, Error> {
        let (limit, phase) = match self.deadline {
            Some(deadline) => {
                let left = deadline.saturating_duration_since(now());
                if left < limit {
                    (left, Phase::Total)
                } else {
                    (limit, phase)
                }
            }
            None => (limit, phase),
        };
        match timeout(limit, fut).await {
            Ok(result) => result.map_err(Error::Io),
            Err(_) => Err(Error::Timeout { phase }),
        }
    }
}

impl Clocks {
    /// When a wait that starts now must end, and which clock says so: the idle timeout, or the
    /// total deadline if it comes first; `None` if neither is set.
    fn due(&self) -> Option<(Instant, Phase)> {
        let idle = now().checked_add(self.idle);
        match (idle, self.deadline) {
            (Some(idle), Some(deadline)) if deadline < idle => Some((deadline, Phase::Total)),
            (Some(idle), _) => Some((idle, Phase::Idle)),
            (None, Some(deadline)) => Some((deadline, Phase::Total)),
            (None, None) => None,
        }
    }
}

/// The one timer of a connection, for every wait on it (reads, writes, flushes).
///
/// A timer per wait would be one insertion into the timer wheel and one removal for every read
/// that has to wait, which for a large body is every piece of it. This one stays armed across
/// waits: a new wait only records its own due time; when the timer fires for an earlier one,
/// it is moved to the current due time (so while bytes keep coming it fires about once per idle
/// timeout).
#[derive(Debug, Default)]
struct Watchdog {
    sleep: Option<Sleep>,
}

impl Watchdog {
    /// Whether `due` has passed; if not, the task is woken when it may have.
    fn poll_expired(&mut self, cx: &mut Context<'_>, due: Instant) -> bool {
        loop {
            let sleep = self.sleep.get_or_insert_with(|| sleep_until(due));
            // On one clock, due times only grow (each is the sooner of "now plus the idle
            // timeout" and the request's deadline). A connection that moved to another clock
            // did not: a client kept from one `wisp::test` run to the next, whose timer sits on
            // the first run's virtual clock, stopped at a later instant. Armed later than this
            // wait must end, the timer is moved to it (and to this thread's clock).
            if sleep.deadline().is_none_or(|armed| armed > due) {
                sleep.reset(due);
            }
            if Pin::new(&mut *sleep).poll(cx).is_pending() {
                return false;
            }
            if now() >= due {
                return true;
            }
            // It fired for an earlier wait: arm it for this one.
            sleep.reset(due);
        }
    }
}

/// The byte stream under a connection: plain TCP, or TLS over TCP.
enum Stream {
    Plain(TcpStream),
    #[cfg(feature = "tls")]
    Tls(Box<super::tls::TlsStream>),
}

impl Stream {
    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<std::io::Result<usize>> {
        match self {
            Stream::Plain(tcp) => Pin::new(tcp).poll_read(cx, buf),
            #[cfg(feature = "tls")]
            Stream::Tls(tls) => Pin::new(&mut **tls).poll_read(cx, buf),
        }
    }

    fn poll_write(&mut self, cx: &mut Context<'_>, bytes: &[u8]) -> Poll<std::io::Result<usize>> {
        match self {
            Stream::Plain(tcp) => Pin::new(tcp).poll_write(cx, bytes),
            #[cfg(feature = "tls")]
            Stream::Tls(tls) => Pin::new(&mut **tls).poll_write(cx, bytes),
        }
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self {
            Stream::Plain(tcp) => Pin::new(tcp).poll_flush(cx),
            #[cfg(feature = "tls")]
            Stream::Tls(tls) => Pin::new(&mut **tls).poll_flush(cx),
        }
    }

    fn is_tls(&self) -> bool {
        !matches!(self, Stream::Plain(_))
    }

    /// Whether nothing came in: on the socket itself (see `TcpStream::is_quiet_now`), and over
    /// TLS nothing that rustls read already and holds (plaintext nobody asked for, or the
    /// server's close_notify).
    fn is_quiet_now(&mut self) -> bool {
        match self {
            Stream::Plain(tcp) => tcp.is_quiet_now(),
            #[cfg(feature = "tls")]
            Stream::Tls(tls) => {
                let (tcp, conn) = tls.get_mut();
                let held = match conn.process_new_packets() {
                    Ok(state) => state.plaintext_bytes_to_read() > 0 || state.peer_has_closed(),
                    Err(_) => true,
                };
                !held && tcp.is_quiet_now()
            }
        }
    }
}

pub(crate) struct Conn {
    stream: Stream,
    watchdog: Watchdog,
    buf: Vec<u8>,
    /// Unconsumed bytes are `buf[start..end]`.
    start: usize,
    end: usize,
}

impl Conn {
    /// Opens a connection to the URL's host (with a TLS handshake for `https`, both under the
    /// connect timeout).
    pub(crate) async fn connect(
        url: &Url,
        clocks: &Clocks,
        #[cfg(feature = "tls")] tls: &super::tls::Tls,
    ) -> Result<Conn, Error> {
        let port = url.port_or_known_default().unwrap_or(80);
        let connecting = async {
            match url.host() {
                Some(Host::Ipv4(ip)) => {
                    TcpStream::connect(SocketAddr::new(IpAddr::V4(ip), port)).await
                }
                Some(Host::Ipv6(ip)) => {
                    TcpStream::connect(SocketAddr::new(IpAddr::V6(ip), port)).await
                }
                Some(Host::Domain(name)) => TcpStream::connect((name, port)).await,
                None => Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "URL has no host",
                )),
            }
        };
        let tcp = clocks
            .run(clocks.connect, Phase::Connect, connecting)
            .await?;
        // Requests are written whole; waiting for an ACK before the next one only adds latency.
        tcp.set_nodelay(true)?;
        let stream = match url.scheme() {
            #[cfg(feature = "tls")]
            "https" => {
                let host = url.host_str().unwrap_or_default();
                let handshake = async { Ok(tls.connect(host, tcp).await) };
                let tls_stream = clocks
                    .run(clocks.connect, Phase::Connect, handshake)
                    .await??;
                Stream::Tls(Box::new(tls_stream))
            }
            _ => Stream::Plain(tcp),
        };
        Ok(Conn {
            stream,
            watchdog: Watchdog::default(),
            buf: Vec::new(),
            start: 0,
            end: 0,
        })
    }

    /// Whether the connection runs over TLS (a close-delimited body then must end with
    /// `close_notify`).
    pub(crate) fn is_tls(&self) -> bool {
        self.stream.is_tls()
    }

    /// The bytes read but not consumed yet.
    pub(crate) fn buffered(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    pub(crate) fn consume(&mut self, n: usize) {
        self.start += n;
        debug_assert!(self.start <= self.end);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Consumes `n` buffered bytes and returns `range` (relative to the buffered bytes before
    /// the call, inside the consumed part): the body data a decoder found there, not copied.
    pub(crate) fn consume_returning(&mut self, n: usize, range: std::ops::Range<usize>) -> &[u8] {
        let base = self.start;
        debug_assert!(range.end <= n);
        self.consume(n);
        &self.buf[base + range.start..base + range.end]
    }

    /// Reads more bytes after the buffered ones. Returns how many arrived (0 at end of stream).
    pub(crate) async fn fill(&mut self, clocks: &Clocks) -> Result<usize, Error> {
        self.fill_wanting(clocks, None).await
    }

    /// [`fill`](Conn::fill) for a body that needs `wanted` more bytes (`None`: not known): the
    /// read asks for up to that many, between [`MIN_READ`] and [`MAX_READ`].
    pub(crate) async fn fill_wanting(
        &mut self,
        clocks: &Clocks,
        wanted: Option<u64>,
    ) -> Result<usize, Error> {
        let room = match wanted {
            Some(n) => usize::try_from(n)
                .unwrap_or(MAX_READ)
                .clamp(MIN_READ, MAX_READ),
            None => MIN_READ,
        };
        self.wait(clocks, |conn, cx| {
            conn.poll_fill_room(cx, room).map_err(Error::Io)
        })
        .await
    }

    /// Polls `op` until it is ready, under the idle timeout and the total deadline (the
    /// connection's [`Watchdog`]); the error of a timeout names the clock that ran out.
    pub(crate) async fn wait<T>(
        &mut self,
        clocks: &Clocks,
        mut op: impl FnMut(&mut Conn, &mut Context<'_>) -> Poll<Result<T, Error>>,
    ) -> Result<T, Error> {
        let due = clocks.due();
        poll_fn(|cx| {
            if let Poll::Ready(out) = op(self, cx) {
                return Poll::Ready(out);
            }
            match due {
                Some((at, phase)) if self.watchdog.poll_expired(cx, at) => {
                    Poll::Ready(Err(Error::Timeout { phase }))
                }
                _ => Poll::Pending,
            }
        })
        .await
    }

    /// [`fill`](Conn::fill) without a clock: one read of whatever has arrived.
    pub(crate) fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<usize>> {
        self.poll_fill_room(cx, MIN_READ)
    }

    /// One read into at least `room` bytes of space after the buffered ones.
    fn poll_fill_room(
        &mut self,
        cx: &mut Context<'_>,
        room: usize,
    ) -> Poll<std::io::Result<usize>> {
        if self.start > 0 && self.buf.len() - self.end < room {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.buf.len() - self.end < room {
            self.buf.resize(self.end + room, 0);
        }
        let n = std::task::ready!(self.stream.poll_read(cx, &mut self.buf[self.end..]))?;
        self.end += n;
        Poll::Ready(Ok(n))
    }

    /// One write of (part of) `bytes`, without a clock.
    pub(crate) fn poll_write(
        &mut self,
        cx: &mut Context<'_>,
        bytes: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.stream.poll_write(cx, bytes)
    }

    /// Flushes what TLS holds back, under the idle clock.
    pub(crate) async fn flush(&mut self, clocks: &Clocks) -> Result<(), Error> {
        self.wait(clocks, |conn, cx| {
            conn.stream.poll_flush(cx).map_err(Error::Io)
        })
        .await
    }

    /// Reads the next final response head, skipping informational (1xx) responses other than
    /// 101. `got_bytes` is set as soon as any response byte arrived (after that, a retry could
    /// repeat a request the server already acted on).
    pub(crate) async fn read_head(
        &mut self,
        limits: &Limits,
        clocks: &Clocks,
        got_bytes: &mut bool,
    ) -> Result<Head, Error> {
        loop {
            if let Some((head, used)) = parse_head(self.buffered(), limits)? {
                self.consume(used);
                if (100..200).contains(&head.status) && head.status != 101 {
                    continue;
                }
                return Ok(head);
            }
            let n = self.fill(clocks).await?;
            if n == 0 {
                return Err(Error::Io(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the server closed the connection before a complete response head",
                )));
            }
            *got_bytes = true;
        }
    }

    /// Whether an idle pooled connection still looks usable: a connection that turned readable
    /// while idle (EOF, or bytes nobody asked for) is dead.
    pub(crate) fn idle_is_alive(&mut self) -> bool {
        if !self.buffered().is_empty() {
            return false;
        }
        // Asked of the kernel, not of the reactor's counts: bytes that came in while this
        // thread was busy have raised no event yet.
        self.stream.is_quiet_now()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    /// A client connection whose server side has already sent `bytes` (on loopback a blocking
    /// write returns once they are in the client's receive queue).
    fn connection_with_queued(bytes: usize) -> (Conn, std::net::TcpStream) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        server.write_all(&vec![b'x'; bytes]).unwrap();
        let conn = Conn {
            stream: Stream::Plain(TcpStream::try_from(client).unwrap()),
            watchdog: Watchdog::default(),
            buf: Vec::new(),
            start: 0,
            end: 0,
        };
        (conn, server)
    }

    fn clocks() -> Clocks {
        Clocks {
            connect: Duration::from_secs(5),
            idle: Duration::from_secs(5),
            deadline: None,
        }
    }

    #[test]
    fn a_body_is_read_in_pieces_as_large_as_it_needs_up_to_64_kib() {
        crate::block_on(async {
            let (mut conn, _server) = connection_with_queued(MAX_READ);
            // A head read asks for MIN_READ.
            assert_eq!(conn.fill(&clocks()).await.unwrap(), MIN_READ);
            conn.consume(MIN_READ);
            // A body that needs more gets it in one read, up to MAX_READ.
            let left = (MAX_READ - MIN_READ) as u64;
            let n = conn.fill_wanting(&clocks(), Some(u64::MAX)).await.unwrap();
            assert_eq!(n as u64, left);
            // The buffer grew to what the reads needed, and no further.
            conn.consume(n);
            assert!(conn.buf.len() <= MAX_READ + MIN_READ, "{}", conn.buf.len());
        });
    }
}
