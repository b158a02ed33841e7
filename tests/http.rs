//! Integration tests for `wisp::http`: the HTTP/1.1 client against scripted servers.
//!
//! Ground rules for this file:
//! - Servers are plain std threads on 127.0.0.1 only; each test scripts exactly which bytes its
//!   server writes, and the server records every request head it reads.
//! - Every test runs under [`watchdog`], so a hang is a failure, not a stuck CI.
//! - Every test asserts the exact result or error variant; durations are only asserted with
//!   generous bounds (a timeout fired no earlier than configured and well before 10 s).

mod common;

use common::watchdog;
use std::future::Future;
use std::io::{ErrorKind, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use wisp::http::{Client, ClientBuilder, Error, Limits, ParseError, Phase, Response};
use wisp::join;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Runs the async test body in `wisp::block_on` under a 30 s watchdog.
fn run<F, Fut>(f: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    watchdog(30, move || wisp::block_on(f()));
}

/// A client builder with timeouts that turn any hang into an error well inside the watchdog.
fn builder() -> ClientBuilder {
    Client::builder()
        .idle_timeout(Duration::from_secs(5))
        .total_timeout(Some(Duration::from_secs(20)))
}

fn client() -> Client {
    builder().build().expect("valid client settings")
}

/// `GET url` and read the whole body.
async fn fetch(client: &Client, url: &str) -> Result<(u16, Vec<u8>), Error> {
    let response = client.get(url).await?;
    let status = response.status();
    Ok((status, response.bytes().await?))
}

/// Asserts that `$e` matches `$p`, printing the value otherwise.
macro_rules! assert_matches {
    ($e:expr, $p:pat $(if $guard:expr)?) => {
        match $e {
            $p $(if $guard)? => {}
            ref other => panic!("expected {}, got {:?}", stringify!($p), other),
        }
    };
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The server side of one accepted connection.
struct Peer {
    stream: TcpStream,
    buf: Vec<u8>,
    log: Arc<Mutex<Vec<String>>>,
}

impl Peer {
    /// Reads one request head (up to and including the empty line) and records it. `None` when
    /// the client closed (or reset) the connection first.
    fn read_head(&mut self) -> Option<String> {
        loop {
            if let Some(pos) = find(&self.buf, b"\r\n\r\n") {
                let head: Vec<u8> = self.buf.drain(..pos + 4).collect();
                let head = String::from_utf8_lossy(&head).into_owned();
                self.log.lock().unwrap().push(head.clone());
                return Some(head);
            }
            let mut tmp = [0u8; 4096];
            match self.stream.read(&mut tmp) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&tmp[..n]),
            }
        }
    }

    /// Reads the body of the request whose head is `head`: `Content-Length` bytes, or a chunked
    /// body decoded (extensions and trailers skipped). `None` if the client closed first.
    fn read_body(&mut self, head: &str) -> Option<Vec<u8>> {
        let te = header_of(head, "transfer-encoding").unwrap_or_default();
        if te.eq_ignore_ascii_case("chunked") {
            let mut body = Vec::new();
            loop {
                let line = self.read_line()?;
                let size = line.split(';').next().unwrap_or_default().trim();
                let size = usize::from_str_radix(size, 16).expect("a hex chunk size");
                if size == 0 {
                    while !self.read_line()?.is_empty() {}
                    return Some(body);
                }
                body.extend(self.read_exact(size)?);
                assert_eq!(self.read_line()?, "", "CRLF after chunk data");
            }
        }
        let len = header_of(head, "content-length").map_or(0, |v| v.parse().expect("a length"));
        self.read_exact(len)
    }

    /// One line without its CRLF.
    fn read_line(&mut self) -> Option<String> {
        loop {
            if let Some(pos) = find(&self.buf, b"\r\n") {
                let line: Vec<u8> = self.buf.drain(..pos + 2).collect();
                return Some(String::from_utf8_lossy(&line[..pos]).into_owned());
            }
            self.read_more()?;
        }
    }

    /// Exactly `n` bytes.
    fn read_exact(&mut self, n: usize) -> Option<Vec<u8>> {
        while self.buf.len() < n {
            self.read_more()?;
        }
        Some(self.buf.drain(..n).collect())
    }

    fn read_more(&mut self) -> Option<()> {
        let mut tmp = [0u8; 64 * 1024];
        match self.stream.read(&mut tmp) {
            Ok(0) | Err(_) => None,
            Ok(n) => {
                self.buf.extend_from_slice(&tmp[..n]);
                Some(())
            }
        }
    }

    /// Writes all of `bytes`; `false` once the client is gone.
    fn send(&mut self, bytes: &[u8]) -> bool {
        self.stream.write_all(bytes).is_ok()
    }

    /// Waits until the client closes its side (reading and discarding anything it sends).
    fn wait_close(&mut self) {
        let mut tmp = [0u8; 4096];
        while let Ok(n) = self.stream.read(&mut tmp) {
            if n == 0 {
                break;
            }
        }
    }

    /// Makes the close (when the peer is dropped) a TCP reset instead of a FIN.
    fn reset_on_close(&self) {
        socket2::SockRef::from(&self.stream)
            .set_linger(Some(Duration::ZERO))
            .expect("SO_LINGER 0");
    }
}

/// A scripted server: every accepted connection runs `script(index, peer)` on its own thread.
struct Server {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    finished: Arc<AtomicUsize>,
    log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Connections accepted so far.
    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Every request head read so far, in order.
    fn requests(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// The request lines (`GET /path HTTP/1.1`) read so far.
    fn request_lines(&self) -> Vec<String> {
        self.requests()
            .iter()
            .map(|h| h.lines().next().unwrap_or_default().to_string())
            .collect()
    }

    /// Waits (up to 10 s) until `n` connection scripts have returned.
    fn wait_finished(&self, n: usize) {
        let start = Instant::now();
        while self.finished.load(Ordering::SeqCst) < n {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "server connection threads did not end ({} of {n})",
                self.finished.load(Ordering::SeqCst)
            );
            thread::sleep(Duration::from_millis(10));
        }
    }
}

fn serve(script: impl Fn(usize, &mut Peer) + Send + Sync + 'static) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(AtomicUsize::new(0));
    let log = Arc::new(Mutex::new(Vec::new()));
    let script = Arc::new(script);
    {
        let (accepted, finished, log) = (accepted.clone(), finished.clone(), log.clone());
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let index = accepted.fetch_add(1, Ordering::SeqCst);
                let _ = stream.set_read_timeout(Some(Duration::from_secs(20)));
                let _ = stream.set_write_timeout(Some(Duration::from_secs(20)));
                let (script, finished, log) = (script.clone(), finished.clone(), log.clone());
                thread::spawn(move || {
                    let mut peer = Peer {
                        stream,
                        buf: Vec::new(),
                        log,
                    };
                    script(index, &mut peer);
                    drop(peer);
                    finished.fetch_add(1, Ordering::SeqCst);
                });
            }
        });
    }
    Server {
        addr,
        accepted,
        finished,
        log,
    }
}

/// A server that answers every request on a connection with `handler(request_head)`, keeping
/// the connection open unless the response says `Connection: close`.
fn serve_http(handler: impl Fn(&str) -> Vec<u8> + Send + Sync + 'static) -> Server {
    serve(move |_, peer| {
        while let Some(head) = peer.read_head() {
            let response = handler(&head);
            let close = String::from_utf8_lossy(&response)
                .to_ascii_lowercase()
                .contains("connection: close");
            if !peer.send(&response) || close {
                return;
            }
        }
    })
}

/// The request target of a request head.
fn target(head: &str) -> &str {
    head.split(' ').nth(1).unwrap_or_default()
}

/// A `200 OK` with `body` and its Content-Length.
fn ok(body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn redirect(status: &str, location: &str) -> Vec<u8> {
    format!("HTTP/1.1 {status}\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n").into_bytes()
}

// ---------------------------------------------------------------------------------------------
// Framing
// ---------------------------------------------------------------------------------------------

#[test]
fn content_length_body() {
    run(|| async {
        let server = serve_http(|_| {
            b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\nX-Thing: a\r\n\r\nhello world".to_vec()
        });
        let response = client().get(&server.url("/")).await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.reason(), "OK");
        assert_eq!(response.header_str("x-thing"), Some("a"));
        assert_eq!(response.header("content-length"), Some(&b"11"[..]));
        assert_eq!(response.headers().len(), 2);
        assert_eq!(response.url().as_str(), server.url("/"));
        assert_eq!(response.redirects(), 0);
        assert_eq!(response.text().await.unwrap(), "hello world");
    });
}

#[test]
fn chunked_body_with_extensions_and_trailers() {
    run(|| async {
        let server = serve_http(|head| {
            if target(head) == "/chunked" {
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
                  5;name=value\r\nhello\r\n\
                  6;quoted=\"a;b\";flag\r\n world\r\n\
                  0\r\nX-Trailer: yes\r\nX-Other: 1\r\n\r\n"
                    .to_vec()
            } else {
                ok("next")
            }
        });
        let client = client();
        let (status, body) = fetch(&client, &server.url("/chunked")).await.unwrap();
        assert_eq!((status, body.as_slice()), (200, &b"hello world"[..]));
        // The trailers were consumed exactly: the connection is reused for the next response.
        let (status, body) = fetch(&client, &server.url("/next")).await.unwrap();
        assert_eq!((status, body.as_slice()), (200, &b"next"[..]));
        assert_eq!(server.accepted(), 1);
    });
}

#[test]
fn chunked_wins_over_content_length() {
    run(|| async {
        let server = serve_http(|_| {
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n\
              5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
                .to_vec()
        });
        let client = client();
        let (status, body) = fetch(&client, &server.url("/")).await.unwrap();
        assert_eq!((status, body.as_slice()), (200, &b"hello world"[..]));
        // Such a response is suspect framing: the connection is not reused.
        let (_, body) = fetch(&client, &server.url("/")).await.unwrap();
        assert_eq!(body, b"hello world");
        assert_eq!(server.accepted(), 2);
    });
}

#[test]
fn read_to_close_body() {
    run(|| async {
        let server = serve(|_, peer| {
            peer.read_head();
            peer.send(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of this, ");
            thread::sleep(Duration::from_millis(20));
            peer.send(b"until the close");
        });
        let (status, body) = fetch(&client(), &server.url("/")).await.unwrap();
        assert_eq!(status, 200);
        assert_eq!(body, b"all of this, until the close");
    });
}

#[test]
fn head_response_has_no_body_and_connection_is_reused() {
    run(|| async {
        let server = serve_http(|head| {
            if head.starts_with("HEAD ") {
                // Content-Length of the body a GET would get; no body follows.
                b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n".to_vec()
            } else {
                ok("got")
            }
        });
        let client = client();
        let mut response = client.head(&server.url("/h")).await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.header_str("content-length"), Some("1000"));
        assert_matches!(response.chunk().await, Ok(None));
        assert_eq!(response.body_read(), 0);
        drop(response);
        let (status, body) = fetch(&client, &server.url("/g")).await.unwrap();
        assert_eq!((status, body.as_slice()), (200, &b"got"[..]));
        assert_eq!(server.accepted(), 1);
        assert_eq!(
            server.request_lines(),
            ["HEAD /h HTTP/1.1", "GET /g HTTP/1.1"]
        );
    });
}

#[test]
fn no_body_for_204_and_304() {
    run(|| async {
        let server = serve_http(|head| match target(head) {
            "/204" => b"HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n".to_vec(),
            // A Content-Length on a 304 describes the full representation: no body follows.
            "/304" => b"HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\n".to_vec(),
            _ => ok("after"),
        });
        let client = client();
        let (status, body) = fetch(&client, &server.url("/204")).await.unwrap();
        assert_eq!((status, body.len()), (204, 0));
        let (status, body) = fetch(&client, &server.url("/304")).await.unwrap();
        assert_eq!((status, body.len()), (304, 0));
        let (status, body) = fetch(&client, &server.url("/x")).await.unwrap();
        assert_eq!((status, body.as_slice()), (200, &b"after"[..]));
        assert_eq!(server.accepted(), 1);
    });
}

#[test]
fn informational_responses_are_skipped() {
    run(|| async {
        let server = serve(|_, peer| {
            peer.read_head();
            peer.send(b"HTTP/1.1 100 Continue\r\n\r\n");
            thread::sleep(Duration::from_millis(20));
            peer.send(b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>\r\n\r\n");
            peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal");
            peer.wait_close();
        });
        let response = client().get(&server.url("/")).await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.header("link"), None);
        assert_eq!(response.text().await.unwrap(), "final");
    });
}

#[test]
fn custom_headers_and_user_agent_arrive() {
    run(|| async {
        let server = serve_http(|_| ok("ok"));
        let client = builder()
            .user_agent("tester/2.0 (+http://127.0.0.1/)")
            .header("X-Custom", "some value")
            .header("Accept-Language", "en, fr;q=0.5")
            .build()
            .unwrap();
        fetch(&client, &server.url("/p/a?q=1&r=2#frag"))
            .await
            .unwrap();
        let requests = server.requests();
        assert_eq!(requests.len(), 1);
        let head = &requests[0];
        let lines: Vec<&str> = head.split("\r\n").collect();
        assert_eq!(lines[0], "GET /p/a?q=1&r=2 HTTP/1.1");
        let host = format!("Host: {}", server.addr);
        assert!(lines.contains(&host.as_str()), "{head:?}");
        assert!(
            lines.contains(&"User-Agent: tester/2.0 (+http://127.0.0.1/)"),
            "{head:?}"
        );
        assert!(lines.contains(&"X-Custom: some value"), "{head:?}");
        assert!(lines.contains(&"Accept-Language: en, fr;q=0.5"), "{head:?}");
        assert!(head.ends_with("\r\n\r\n"));
        assert!(!head.contains("frag"));
    });
}

#[test]
fn default_user_agent_is_sent() {
    run(|| async {
        let server = serve_http(|_| ok("ok"));
        fetch(&client(), &server.url("/")).await.unwrap();
        let head = &server.requests()[0];
        assert!(head.contains("\r\nUser-Agent: wisp/"), "{head:?}");
    });
}

// ---------------------------------------------------------------------------------------------
// Timeouts and broken connections
// ---------------------------------------------------------------------------------------------

#[test]
fn slow_trickle_hits_the_total_timeout() {
    run(|| async {
        let server = serve(|_, peer| {
            peer.read_head();
            if !peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n") {
                return;
            }
            for _ in 0..100 {
                thread::sleep(Duration::from_millis(100));
                if !peer.send(b"x") {
                    return;
                }
            }
        });
        let client = Client::builder()
            .idle_timeout(Duration::from_secs(1))
            .total_timeout(Some(Duration::from_millis(500)))
            .build()
            .unwrap();
        let start = Instant::now();
        let result = fetch(&client, &server.url("/")).await;
        let elapsed = start.elapsed();
        assert_matches!(
            result,
            Err(Error::Timeout {
                phase: Phase::Total
            })
        );
        assert!(elapsed >= Duration::from_millis(500), "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
        // The client closed the connection: the server's writes fail and its thread ends.
        server.wait_finished(1);
    });
}

/// Under `wisp::test` the client's clocks are virtual: a server that accepts and never answers
/// ends the request with the total timeout at exactly 30 virtual seconds, in a moment of real
/// time. The listener never calls `accept`: the kernel completes the handshake from its backlog
/// and the request sits unread. Connect and idle limits are longer than the total, so the only
/// deadline is the total one, and however early the clock jumps it lands exactly on it.
#[test]
fn total_timeout_runs_on_the_virtual_clock() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let real = Instant::now();
    let (result, waited) = watchdog(30, move || {
        wisp::test::block_on(async move {
            let client = Client::builder()
                .connect_timeout(Duration::from_secs(60))
                .idle_timeout(Duration::from_secs(300))
                .total_timeout(Some(Duration::from_secs(30)))
                .build()
                .unwrap();
            let start = wisp::time::now();
            let result = fetch(&client, &url).await;
            (result, wisp::time::now() - start)
        })
    });
    assert_matches!(
        result,
        Err(Error::Timeout {
            phase: Phase::Total
        })
    );
    assert_eq!(waited, Duration::from_secs(30));
    assert!(
        real.elapsed() < Duration::from_secs(10),
        "{:?}",
        real.elapsed()
    );
    drop(listener);
}

/// Reads from a wisp server socket until a whole request head has arrived.
async fn read_request_head(stream: &wisp::net::TcpStream) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while find(&head, b"\r\n\r\n").is_none() {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "the client closed before a whole request head");
        head.extend_from_slice(&buf[..n]);
    }
}

/// On the virtual clock: a wisp server task that answers the first request with a head for a
/// 10-byte body, then sends `bytes` of it one per second of virtual time, then stays silent
/// (the connection open). Returns the client's result and the virtual time it took.
fn trickle_on_virtual_time(
    bytes: usize,
    idle: Duration,
) -> (Result<(u16, Vec<u8>), Error>, Duration) {
    watchdog(30, move || {
        wisp::test::block_on(async move {
            let listener = wisp::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}/", listener.local_addr().unwrap());
            let server = wisp::spawn(async move {
                let (stream, _) = listener.accept().await.unwrap();
                read_request_head(&stream).await;
                stream
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n")
                    .await
                    .unwrap();
                for _ in 0..bytes {
                    wisp::time::sleep(Duration::from_secs(1)).await;
                    stream.write_all(b"x").await.unwrap();
                }
                std::future::pending::<()>().await;
            });
            let client = Client::builder()
                .idle_timeout(idle)
                .total_timeout(Some(Duration::from_secs(600)))
                .build()
                .unwrap();
            let start = wisp::time::now();
            let result = fetch(&client, &url).await;
            drop(server);
            (result, wisp::time::now() - start)
        })
    })
}

#[test]
fn the_idle_timeout_restarts_with_every_byte_and_fires_after_the_last() {
    // One byte a second for 10 s under a 2 s idle timeout: each byte restarts the wait.
    let (result, took) = trickle_on_virtual_time(10, Duration::from_secs(2));
    let (status, body) = result.unwrap();
    assert_eq!((status, body.as_slice()), (200, &b"xxxxxxxxxx"[..]));
    assert!(
        took >= Duration::from_secs(10) && took < Duration::from_millis(10_100),
        "{took:?}"
    );
    // Three bytes, then silence: the timeout fires 2 s after the third.
    let (result, took) = trickle_on_virtual_time(3, Duration::from_secs(2));
    assert_matches!(result, Err(Error::Timeout { phase: Phase::Idle }));
    assert!(
        took >= Duration::from_secs(5) && took < Duration::from_millis(5_100),
        "{took:?}"
    );
}

#[test]
fn a_total_deadline_sooner_than_the_idle_timeout_holds_on_a_reused_connection() {
    // The connection's timer was armed for the first request's idle timeout (300 s); the
    // second request on it must still end at its own 10 s deadline.
    let (result, took) = watchdog(30, || {
        wisp::test::block_on(async {
            let listener = wisp::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}/", listener.local_addr().unwrap());
            let server = wisp::spawn(async move {
                let (stream, _) = listener.accept().await.unwrap();
                read_request_head(&stream).await;
                stream.write_all(&ok("first")).await.unwrap();
                std::future::pending::<()>().await;
            });
            let client = Client::builder()
                .idle_timeout(Duration::from_secs(300))
                .total_timeout(Some(Duration::from_secs(10)))
                .build()
                .unwrap();
            let (_, first) = fetch(&client, &url).await.unwrap();
            assert_eq!(first, b"first");
            let start = wisp::time::now();
            let result = fetch(&client, &url).await;
            drop(server);
            (result, wisp::time::now() - start)
        })
    });
    assert_matches!(
        result,
        Err(Error::Timeout {
            phase: Phase::Total
        })
    );
    assert!(
        took >= Duration::from_secs(10) && took < Duration::from_millis(10_100),
        "{took:?}"
    );
}

#[test]
fn a_client_kept_from_one_virtual_time_run_to_the_next_still_times_out() {
    // The first run's clock ends 1000 s ahead, with the pooled connection's timer armed there;
    // the second run starts a new clock. Its idle timeout must fire on the new clock.
    let server = serve(|_, peer| {
        peer.read_head();
        peer.send(&ok("first"));
        peer.read_head();
        thread::sleep(Duration::from_secs(8));
    });
    let url = server.url("/");
    let client = Client::builder()
        .idle_timeout(Duration::from_secs(2))
        .total_timeout(None)
        .build()
        .unwrap();
    let (first, took) = watchdog(30, {
        let (client, url) = (client.clone(), url.clone());
        move || {
            wisp::test::block_on(async {
                wisp::time::sleep(Duration::from_secs(1000)).await;
                let (_, first) = fetch(&client, &url).await.unwrap();
                assert_eq!(first, b"first");
            });
            wisp::test::block_on(async move {
                let start = wisp::time::now();
                let result = fetch(&client, &url).await;
                (result, wisp::time::now() - start)
            })
        }
    });
    assert_matches!(first, Err(Error::Timeout { phase: Phase::Idle }));
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(3),
        "{took:?}"
    );
    assert_eq!(
        server.accepted(),
        1,
        "the pooled connection was the one reused"
    );
}

#[test]
fn silent_server_hits_the_idle_timeout() {
    run(|| async {
        let server = serve(|_, peer| {
            peer.read_head();
            peer.wait_close();
        });
        let client = Client::builder()
            .idle_timeout(Duration::from_millis(300))
            .total_timeout(Some(Duration::from_secs(20)))
            .build()
            .unwrap();
        let start = Instant::now();
        let result = client.get(&server.url("/")).await;
        let elapsed = start.elapsed();
        assert_matches!(result, Err(Error::Timeout { phase: Phase::Idle }));
        assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
        server.wait_finished(1);
    });
}

#[test]
fn reset_mid_body_is_an_error() {
    run(|| async {
        let server = serve(|_, peer| {
            peer.read_head();
            peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789");
            thread::sleep(Duration::from_millis(50));
            // Returning drops the peer: with linger 0 the close is a reset.
            peer.reset_on_close();
        });
        let result = fetch(&client(), &server.url("/")).await;
        assert_matches!(
            result,
            Err(Error::Io(_) | Error::Parse(ParseError::UnexpectedEof))
        );
    });
}

#[test]
fn close_before_content_length_is_unexpected_eof() {
    run(|| async {
        let server = serve(|_, peer| {
            peer.read_head();
            peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789");
            // Dropping the peer closes the connection after 10 of 100 bytes.
        });
        let mut response = client().get(&server.url("/")).await.unwrap();
        let mut got = Vec::new();
        let err = loop {
            match response.chunk().await {
                Ok(Some(piece)) => got.extend_from_slice(piece),
                Ok(None) => panic!("a short body was reported complete: {got:?}"),
                Err(e) => break e,
            }
        };
        assert_matches!(err, Error::Parse(ParseError::UnexpectedEof));
        assert_eq!(got, b"0123456789");
    });
}

#[test]
fn close_before_the_head_is_io_error() {
    run(|| async {
        let server = serve(|_, peer| {
            peer.read_head();
            peer.send(b"HTTP/1.1 200 OK\r\nContent-Len");
        });
        let result = client().get(&server.url("/")).await;
        assert_matches!(result, Err(Error::Io(ref e)) if e.kind() == ErrorKind::UnexpectedEof);
    });
}

#[test]
fn connect_to_a_closed_port_is_connection_refused() {
    // A socket bound to the port but not listening: a connect to it is refused, and the port
    // stays taken for the whole test, so the client's connect cannot be given it as its own
    // local port and connect to itself (TCP simultaneous open), as a freed port could.
    let bound = socket2::Socket::new(
        socket2::Domain::IPV4,
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )
    .unwrap();
    bound
        .bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    let port = bound.local_addr().unwrap().as_socket().unwrap().port();
    run(move || async move {
        let result = client().get(&format!("http://127.0.0.1:{port}/")).await;
        assert_matches!(result, Err(Error::Io(ref e)) if e.kind() == ErrorKind::ConnectionRefused);
        drop(bound);
    });
}

// ---------------------------------------------------------------------------------------------
// Malformed responses and limits
// ---------------------------------------------------------------------------------------------

/// The error of a `GET` whose server answers with `response` and closes.
fn error_for(response: Vec<u8>, client: Client) -> Error {
    let response = Arc::new(response);
    watchdog(30, move || {
        wisp::block_on(async move {
            let server = serve(move |_, peer| {
                peer.read_head();
                peer.send(&response);
            });
            match fetch(&client, &server.url("/")).await {
                Ok((status, body)) => panic!("expected an error, got {status} with {body:?}"),
                Err(e) => e,
            }
        })
    })
}

#[test]
fn bad_status_line_is_invalid_head() {
    let e = error_for(b"HTTP/1.1 2x0 OK\r\n\r\n".to_vec(), client());
    assert_matches!(e, Error::Parse(ParseError::InvalidHead(_)));
    let e = error_for(b"HTPT/1.1 200 OK\r\n\r\n".to_vec(), client());
    assert_matches!(e, Error::Parse(ParseError::InvalidHead(_)));
}

#[test]
fn a_megabyte_of_headers_is_head_too_large() {
    run(|| async {
        let server = serve(|_, peer| {
            peer.read_head();
            if !peer.send(b"HTTP/1.1 200 OK\r\n") {
                return;
            }
            let line = format!("X-Filler: {}\r\n", "a".repeat(1000));
            for _ in 0..1024 {
                if !peer.send(line.as_bytes()) {
                    return;
                }
            }
            peer.send(b"\r\n");
        });
        let result = client().get(&server.url("/")).await;
        assert_matches!(
            result,
            Err(Error::Parse(ParseError::HeadTooLarge { limit: 65536 }))
        );
        server.wait_finished(1);
    });
}

#[test]
fn five_hundred_headers_are_too_many() {
    let mut response = b"HTTP/1.1 200 OK\r\n".to_vec();
    for i in 0..500 {
        response.extend_from_slice(format!("X-H{i}: v\r\n").as_bytes());
    }
    response.extend_from_slice(b"Content-Length: 0\r\n\r\n");
    let e = error_for(response, client());
    assert_matches!(e, Error::Parse(ParseError::TooManyHeaders { limit: 256 }));
}

#[test]
fn custom_limits_apply() {
    let limits = Limits {
        max_headers: 4,
        ..Limits::default()
    };
    let mut response = b"HTTP/1.1 200 OK\r\n".to_vec();
    for i in 0..5 {
        response.extend_from_slice(format!("X-H{i}: v\r\n").as_bytes());
    }
    response.extend_from_slice(b"\r\n");
    let e = error_for(response, builder().limits(limits).build().unwrap());
    assert_matches!(e, Error::Parse(ParseError::TooManyHeaders { limit: 4 }));
}

#[test]
fn bad_chunk_size_is_invalid_chunk_size() {
    let e = error_for(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n".to_vec(),
        client(),
    );
    assert_matches!(e, Error::Parse(ParseError::InvalidChunkSize));
}

#[test]
fn conflicting_content_lengths() {
    let e = error_for(
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!".to_vec(),
        client(),
    );
    assert_matches!(e, Error::Parse(ParseError::ConflictingContentLength));
}

#[test]
fn huge_chunk_size_is_body_too_large() {
    run(|| async {
        let server = serve(|_, peer| {
            peer.read_head();
            if !peer
                .send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n")
            {
                return;
            }
            let data = vec![b'a'; 64 * 1024];
            // Until the client goes away (bounded, in case it never does).
            for _ in 0..1024 {
                if !peer.send(&data) {
                    return;
                }
            }
        });
        let client = builder().max_body(1024 * 1024).build().unwrap();
        let mut response = client.get(&server.url("/")).await.unwrap();
        let mut read = 0u64;
        let err = loop {
            match response.chunk().await {
                Ok(Some(piece)) => read += piece.len() as u64,
                Ok(None) => panic!("body ended after {read} bytes"),
                Err(e) => break e,
            }
        };
        assert_matches!(err, Error::BodyTooLarge { limit: 1048576 });
        assert!(read <= 1024 * 1024, "{read}");
        assert_eq!(response.body_read(), read);
        // The client closed the connection, so the server's writes failed and its thread ended.
        drop(response);
        server.wait_finished(1);
    });
}

#[test]
fn endless_chunked_body_is_body_too_large() {
    run(|| async {
        let server = serve(|_, peer| {
            peer.read_head();
            if !peer.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n") {
                return;
            }
            let mut chunk = b"1000\r\n".to_vec();
            chunk.extend_from_slice(&[b'z'; 0x1000]);
            chunk.extend_from_slice(b"\r\n");
            for _ in 0..10_000 {
                if !peer.send(&chunk) {
                    return;
                }
            }
        });
        let client = builder().max_body(100_000).build().unwrap();
        let result = fetch(&client, &server.url("/")).await;
        assert_matches!(result, Err(Error::BodyTooLarge { limit: 100_000 }));
        server.wait_finished(1);
    });
}

#[test]
fn content_length_over_max_body_is_body_too_large() {
    let e = error_for(
        b"HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n01234567890123456789".to_vec(),
        builder().max_body(10).build().unwrap(),
    );
    assert_matches!(e, Error::BodyTooLarge { limit: 10 });
}

// ---------------------------------------------------------------------------------------------
// Keep-alive
// ---------------------------------------------------------------------------------------------

#[test]
fn keep_alive_reuses_one_connection() {
    run(|| async {
        let server = serve_http(|head| ok(target(head)));
        let client = client();
        let (_, first) = fetch(&client, &server.url("/one")).await.unwrap();
        let (_, second) = fetch(&client, &server.url("/two")).await.unwrap();
        assert_eq!(
            (first.as_slice(), second.as_slice()),
            (&b"/one"[..], &b"/two"[..])
        );
        assert_eq!(server.accepted(), 1);
    });
}

#[test]
fn connection_close_is_not_reused() {
    run(|| async {
        let server = serve_http(|_| {
            b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok".to_vec()
        });
        let client = client();
        for _ in 0..2 {
            let (_, body) = fetch(&client, &server.url("/")).await.unwrap();
            assert_eq!(body, b"ok");
        }
        assert_eq!(server.accepted(), 2);
    });
}

#[test]
fn stale_keep_alive_connection_is_retried_once() {
    run(|| async {
        let server = serve(|index, peer| {
            if index == 0 {
                peer.read_head();
                peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst");
                // Wait until the second request arrives, then close without reading it (the
                // unread bytes make the close a reset).
                let mut probe = [0u8; 1];
                let _ = peer.stream.peek(&mut probe);
            } else {
                while peer.read_head().is_some() {
                    if !peer.send(&ok("second")) {
                        return;
                    }
                }
            }
        });
        let client = client();
        let (_, first) = fetch(&client, &server.url("/1")).await.unwrap();
        assert_eq!(first, b"first");
        let (status, second) = fetch(&client, &server.url("/2")).await.unwrap();
        assert_eq!((status, second.as_slice()), (200, &b"second"[..]));
        assert_eq!(server.accepted(), 2);
        assert_eq!(
            server.request_lines(),
            ["GET /1 HTTP/1.1", "GET /2 HTTP/1.1"]
        );
    });
}

#[test]
fn no_retry_once_the_reused_connection_answered() {
    // A reused connection that sends part of a response and then closes is not retried: the
    // server may have acted on the request.
    run(|| async {
        let server = serve(|index, peer| {
            peer.read_head();
            if index == 0 {
                peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst");
                peer.read_head();
                peer.send(b"HTTP/1.1 200 O");
            } else {
                peer.send(&ok("unexpected"));
            }
        });
        let client = client();
        let (_, first) = fetch(&client, &server.url("/1")).await.unwrap();
        assert_eq!(first, b"first");
        let result = fetch(&client, &server.url("/2")).await;
        assert_matches!(result, Err(Error::Io(ref e)) if e.kind() == ErrorKind::UnexpectedEof);
        assert_eq!(server.accepted(), 1);
    });
}

// ---------------------------------------------------------------------------------------------
// Redirects
// ---------------------------------------------------------------------------------------------

#[test]
fn redirect_chain_records_every_url() {
    run(|| async {
        let server = Arc::new(Mutex::new(String::new()));
        let base = server.clone();
        let srv = serve_http(move |head| match target(head) {
            "/a" => redirect("302 Found", "/b"),
            "/b" => redirect(
                "301 Moved Permanently",
                &format!("{}/c", base.lock().unwrap()),
            ),
            "/c" => ok("landed"),
            _ => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec(),
        });
        *server.lock().unwrap() = format!("http://{}", srv.addr);
        let response = client().get(&srv.url("/a")).await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.redirects(), 2);
        let urls: Vec<&str> = response.urls().iter().map(|u| u.as_str()).collect();
        assert_eq!(urls, [srv.url("/a"), srv.url("/b"), srv.url("/c")]);
        assert_eq!(response.url().as_str(), srv.url("/c"));
        assert_eq!(response.text().await.unwrap(), "landed");
        // The (empty) redirect bodies were drained, so one connection served all three.
        assert_eq!(srv.accepted(), 1);
    });
}

#[test]
fn redirect_loop_is_detected() {
    run(|| async {
        let server = serve_http(|head| match target(head) {
            "/a" => redirect("302 Found", "/b"),
            _ => redirect("302 Found", "/a"),
        });
        let result = client().get(&server.url("/a")).await;
        assert_matches!(result, Err(Error::RedirectLoop { ref url }) if *url == server.url("/a"));
        assert_eq!(
            server.request_lines(),
            ["GET /a HTTP/1.1", "GET /b HTTP/1.1"]
        );
    });
}

#[test]
fn too_many_redirects() {
    run(|| async {
        let server = serve_http(|head| {
            let n: u32 = target(head).trim_start_matches("/r/").parse().unwrap_or(0);
            redirect("307 Temporary Redirect", &format!("/r/{}", n + 1))
        });
        let client = builder().max_redirects(3).build().unwrap();
        let result = client.get(&server.url("/r/0")).await;
        assert_matches!(result, Err(Error::TooManyRedirects { limit: 3 }));
        assert_eq!(
            server.request_lines(),
            [
                "GET /r/0 HTTP/1.1",
                "GET /r/1 HTTP/1.1",
                "GET /r/2 HTTP/1.1",
                "GET /r/3 HTTP/1.1"
            ]
        );
    });
}

#[test]
fn max_redirects_zero_returns_the_redirect() {
    run(|| async {
        let server = serve_http(|_| redirect("302 Found", "/elsewhere"));
        let client = builder().max_redirects(0).build().unwrap();
        let response = client.get(&server.url("/")).await.unwrap();
        assert_eq!(response.status(), 302);
        assert_eq!(response.header_str("location"), Some("/elsewhere"));
        assert_eq!(server.requests().len(), 1);
    });
}

#[test]
fn relative_locations_resolve_against_the_current_url() {
    run(|| async {
        let server = serve_http(|head| match target(head) {
            "/x/y/a" => redirect("302 Found", "../b"),
            "/x/b" => redirect("302 Found", "/c?x=1"),
            "/c?x=1" => ok("resolved"),
            _ => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec(),
        });
        let response = client().get(&server.url("/x/y/a")).await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.url().as_str(), server.url("/c?x=1"));
        assert_eq!(response.text().await.unwrap(), "resolved");
        assert_eq!(
            server.request_lines(),
            [
                "GET /x/y/a HTTP/1.1",
                "GET /x/b HTTP/1.1",
                "GET /c?x=1 HTTP/1.1"
            ]
        );
    });
}

#[test]
fn raw_utf8_location_is_percent_encoded() {
    run(|| async {
        let server = serve_http(|head| match target(head) {
            "/start" => {
                b"HTTP/1.1 301 Moved\r\nLocation: /caf\xc3\xa9\r\nContent-Length: 0\r\n\r\n"
                    .to_vec()
            }
            _ => ok("ok"),
        });
        let response = client().get(&server.url("/start")).await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.url().path(), "/caf%C3%A9");
        assert_eq!(
            server.request_lines(),
            ["GET /start HTTP/1.1", "GET /caf%C3%A9 HTTP/1.1"]
        );
    });
}

#[test]
fn see_other_turns_into_get_and_head_stays_head() {
    run(|| async {
        let server = serve_http(|head| {
            let is_head = head.starts_with("HEAD ");
            match target(head) {
                "/form" => redirect("303 See Other", "/result"),
                "/h1" => {
                    // A redirect to a HEAD with a Content-Length but (rightly) no body.
                    b"HTTP/1.1 301 Moved\r\nLocation: /h2\r\nContent-Length: 40\r\n\r\n".to_vec()
                }
                "/h2" => redirect("303 See Other", "/h3"),
                _ if is_head => b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n".to_vec(),
                _ => ok("result"),
            }
        });
        let client = client();
        let (status, body) = fetch(&client, &server.url("/form")).await.unwrap();
        assert_eq!((status, body.as_slice()), (200, &b"result"[..]));
        let response = client.head(&server.url("/h1")).await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.redirects(), 2);
        assert_eq!(response.bytes().await.unwrap(), b"");
        assert_eq!(
            server.request_lines(),
            [
                "GET /form HTTP/1.1",
                "GET /result HTTP/1.1",
                "HEAD /h1 HTTP/1.1",
                "HEAD /h2 HTTP/1.1",
                "HEAD /h3 HTTP/1.1"
            ]
        );
        assert_eq!(server.accepted(), 1);
    });
}

#[test]
fn redirect_policy_false_returns_the_redirect() {
    run(|| async {
        let server = serve_http(|head| match target(head) {
            "/stay" => redirect("302 Found", "/go"),
            _ => ok("followed"),
        });
        let seen: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
        let log = seen.clone();
        let client = builder()
            .redirect_policy(move |from, to| {
                log.lock().unwrap().push((from.to_string(), to.to_string()));
                false
            })
            .build()
            .unwrap();
        let response = client.get(&server.url("/stay")).await.unwrap();
        assert_eq!(response.status(), 302);
        assert_eq!(response.redirects(), 0);
        assert_eq!(response.header_str("location"), Some("/go"));
        assert_eq!(response.bytes().await.unwrap(), b"");
        assert_eq!(
            *seen.lock().unwrap(),
            [(server.url("/stay"), server.url("/go"))]
        );
        assert_eq!(server.request_lines(), ["GET /stay HTTP/1.1"]);
    });
}

// ---------------------------------------------------------------------------------------------
// Credentials and redirects (curl CVE-2018-1000007, CVE-2022-27776)
// ---------------------------------------------------------------------------------------------

/// The value of header `name` in a recorded request head (case-insensitive name).
fn header_of<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.split("\r\n").skip(1).find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// A client that sends a bearer token, a cookie and one ordinary header with every request.
fn client_with_credentials() -> ClientBuilder {
    builder()
        .header("Authorization", "Bearer s3cret")
        .header("cookie", "session=abc")
        .header("X-Trace", "t-1")
}

#[test]
fn credentials_reach_the_same_origin_after_a_redirect() {
    run(|| async {
        let server = serve_http(|head| match target(head) {
            "/start" => redirect("302 Found", "/landing"),
            _ => ok("landed"),
        });
        let client = client_with_credentials().build().unwrap();
        let (status, _) = fetch(&client, &server.url("/start")).await.unwrap();
        assert_eq!(status, 200);
        let requests = server.requests();
        assert_eq!(requests.len(), 2);
        for head in &requests {
            assert_eq!(
                header_of(head, "authorization"),
                Some("Bearer s3cret"),
                "{head:?}"
            );
            assert_eq!(header_of(head, "cookie"), Some("session=abc"), "{head:?}");
            assert_eq!(header_of(head, "x-trace"), Some("t-1"), "{head:?}");
        }
    });
}

#[test]
fn credentials_are_dropped_on_a_redirect_to_another_port() {
    run(|| async {
        let other = serve_http(|_| ok("elsewhere"));
        let landing = other.url("/landing");
        let first = serve_http(move |_| redirect("302 Found", &landing));
        let client = client_with_credentials().build().unwrap();
        let (status, body) = fetch(&client, &first.url("/start")).await.unwrap();
        assert_eq!((status, body.as_slice()), (200, &b"elsewhere"[..]));
        let head = &first.requests()[0];
        assert_eq!(
            header_of(head, "authorization"),
            Some("Bearer s3cret"),
            "{head:?}"
        );
        let head = &other.requests()[0];
        assert_eq!(header_of(head, "authorization"), None, "{head:?}");
        assert_eq!(header_of(head, "cookie"), None, "{head:?}");
        // Headers that carry no credentials still go along.
        assert_eq!(header_of(head, "x-trace"), Some("t-1"), "{head:?}");
    });
}

#[test]
fn credentials_are_dropped_on_a_redirect_to_another_host() {
    run(|| async {
        // The same server under another name: `localhost` is another origin than `127.0.0.1`.
        let port = Arc::new(AtomicUsize::new(0));
        let port_of = port.clone();
        let server = serve_http(move |head| match target(head) {
            "/start" => redirect(
                "302 Found",
                &format!(
                    "http://localhost:{}/landing",
                    port_of.load(Ordering::SeqCst)
                ),
            ),
            _ => ok("landed"),
        });
        port.store(usize::from(server.addr.port()), Ordering::SeqCst);
        let client = client_with_credentials().build().unwrap();
        let (status, _) = fetch(&client, &server.url("/start")).await.unwrap();
        assert_eq!(status, 200);
        let requests = server.requests();
        assert_eq!(requests.len(), 2);
        assert_eq!(header_of(&requests[0], "cookie"), Some("session=abc"));
        let landing = &requests[1];
        assert!(landing.starts_with("GET /landing "), "{landing:?}");
        assert_eq!(
            header_of(landing, "host"),
            Some(format!("localhost:{}", server.addr.port()).as_str())
        );
        assert_eq!(header_of(landing, "authorization"), None, "{landing:?}");
        assert_eq!(header_of(landing, "cookie"), None, "{landing:?}");
        assert_eq!(header_of(landing, "x-trace"), Some("t-1"), "{landing:?}");
    });
}

#[test]
fn sensitive_headers_are_dropped_on_a_redirect_to_another_origin() {
    run(|| async {
        let other = serve_http(|_| ok("elsewhere"));
        let landing = other.url("/landing");
        let first = serve_http(move |head| match target(head) {
            "/start" => redirect("307 Temporary Redirect", "/next"),
            _ => redirect("302 Found", &landing),
        });
        let client = builder()
            .sensitive_header("X-Api-Key", "k-123")
            .header("Proxy-Authorization", "Basic cHJveHk6cHc=")
            .header("X-Trace", "t-1")
            .build()
            .unwrap();
        let (status, _) = fetch(&client, &first.url("/start")).await.unwrap();
        assert_eq!(status, 200);
        // Both hops on the first origin carry them.
        for head in first.requests() {
            assert_eq!(header_of(&head, "x-api-key"), Some("k-123"), "{head:?}");
            assert_eq!(
                header_of(&head, "proxy-authorization"),
                Some("Basic cHJveHk6cHc="),
                "{head:?}"
            );
        }
        let head = &other.requests()[0];
        assert_eq!(header_of(head, "x-api-key"), None, "{head:?}");
        assert_eq!(header_of(head, "proxy-authorization"), None, "{head:?}");
        assert_eq!(header_of(head, "x-trace"), Some("t-1"), "{head:?}");
    });
}

#[test]
fn an_invalid_sensitive_header_is_rejected_at_build() {
    let result = Client::builder()
        .sensitive_header("X-Api-Key", "k\r\nInjected: yes")
        .build();
    match result {
        Err(Error::InvalidHeader { name }) => assert_eq!(name, "X-Api-Key"),
        Err(other) => panic!("expected InvalidHeader, got {other:?}"),
        Ok(_) => panic!("expected InvalidHeader, got a client"),
    }
}

#[test]
fn credentials_stay_dropped_when_the_chain_comes_back_to_the_first_origin() {
    run(|| async {
        let first_url = Arc::new(Mutex::new(String::new()));
        let back = first_url.clone();
        let other = serve_http(move |_| redirect("302 Found", &back.lock().unwrap()));
        let away = other.url("/away");
        let first = serve_http(move |head| match target(head) {
            "/start" => redirect("302 Found", &away),
            _ => ok("home again"),
        });
        *first_url.lock().unwrap() = first.url("/home");
        let client = client_with_credentials().build().unwrap();
        let (status, _) = fetch(&client, &first.url("/start")).await.unwrap();
        assert_eq!(status, 200);
        let requests = first.requests();
        assert_eq!(requests.len(), 2);
        assert_eq!(
            header_of(&requests[0], "authorization"),
            Some("Bearer s3cret")
        );
        // A server on the way chose where the chain goes next: what it leads to is not
        // trusted with the credentials either.
        assert_eq!(
            header_of(&requests[1], "authorization"),
            None,
            "{:?}",
            requests[1]
        );
        assert_eq!(header_of(&requests[1], "cookie"), None, "{:?}", requests[1]);
    });
}

// ---------------------------------------------------------------------------------------------
// URLs and configuration
// ---------------------------------------------------------------------------------------------

/// Without the `tls` feature, `https` is refused up front with a clear error.
#[cfg(not(feature = "tls"))]
#[test]
fn https_is_unsupported_without_tls() {
    run(|| async {
        let result = client().get("https://127.0.0.1:1/").await;
        assert_matches!(result, Err(Error::UnsupportedScheme(ref s)) if s == "https");
    });
}

#[test]
fn other_schemes_are_unsupported() {
    run(|| async {
        let result = client().get("ftp://127.0.0.1:1/file").await;
        assert_matches!(result, Err(Error::UnsupportedScheme(ref s)) if s == "ftp");
    });
}

#[test]
fn not_a_url_is_invalid_url() {
    run(|| async {
        let result = client().get("not a url").await;
        assert_matches!(result, Err(Error::InvalidUrl { ref url, .. }) if url == "not a url");
    });
}

#[test]
fn header_with_crlf_is_rejected_at_build() {
    let result = Client::builder()
        .header("X-Bad", "a\r\nInjected: yes")
        .build()
        .err();
    assert_matches!(result, Some(Error::InvalidHeader { ref name }) if name == "X-Bad");
    let result = Client::builder().header("Bad Name", "v").build().err();
    assert_matches!(result, Some(Error::InvalidHeader { ref name }) if name == "Bad Name");
    let result = Client::builder().user_agent("agent\n").build().err();
    assert_matches!(result, Some(Error::InvalidHeader { ref name }) if name == "User-Agent");
    assert!(Client::builder().header("X-Good", "a\tb").build().is_ok());
}

// ---------------------------------------------------------------------------------------------
// Streaming and the default client
// ---------------------------------------------------------------------------------------------

#[test]
fn chunk_yields_data_before_the_body_is_complete() {
    run(|| async {
        // The server sends the rest only once the client has shown it got the first part: a
        // client that waited for the whole body would time out instead.
        let (ack_tx, ack_rx) = mpsc::channel::<()>();
        let ack_rx = Mutex::new(ack_rx);
        let server = serve(move |_, peer| {
            peer.read_head();
            peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello");
            if ack_rx
                .lock()
                .unwrap()
                .recv_timeout(Duration::from_secs(10))
                .is_ok()
            {
                peer.send(b"world");
            }
            peer.wait_close();
        });
        let client = builder()
            .idle_timeout(Duration::from_secs(3))
            .build()
            .unwrap();
        let mut response = client.get(&server.url("/")).await.unwrap();
        let first = response.chunk().await.unwrap().map(<[u8]>::to_vec);
        assert_eq!(first.as_deref(), Some(&b"hello"[..]));
        assert_eq!(response.body_read(), 5);
        ack_tx.send(()).unwrap();
        let mut rest = Vec::new();
        while let Some(piece) = response.chunk().await.unwrap() {
            rest.extend_from_slice(piece);
        }
        assert_eq!(rest, b"world");
        assert_eq!(response.body_read(), 10);
    });
}

#[test]
fn module_level_get_and_head() {
    run(|| async {
        let server = serve_http(|head| {
            if head.starts_with("HEAD ") {
                b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n".to_vec()
            } else {
                ok("default")
            }
        });
        let response = wisp::http::get(&server.url("/")).await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.text().await.unwrap(), "default");
        let response: Response = wisp::http::head(&server.url("/")).await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.header_str("content-length"), Some("7"));
        assert_eq!(response.bytes().await.unwrap(), b"");
    });
}

// ---------------------------------------------------------------------------------------------
// Fuzz: arbitrary responses never panic or hang the client
// ---------------------------------------------------------------------------------------------

#[test]
fn arbitrary_responses_never_panic() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    watchdog(60, || {
        let payload: Arc<Mutex<Vec<u8>>> = Arc::default();
        let current = payload.clone();
        let server = serve(move |_, peer| {
            if peer.read_head().is_some() {
                let bytes = current.lock().unwrap().clone();
                peer.send(&bytes);
            }
            // Dropping the peer closes the connection.
        });
        let port = server.addr.port();
        let client = Client::builder()
            .idle_timeout(Duration::from_millis(500))
            .total_timeout(Some(Duration::from_secs(3)))
            .max_body(64 * 1024)
            .max_idle(0, 0)
            // Never leave this server, whatever a random Location says.
            .redirect_policy(move |_, to| {
                to.scheme() == "http"
                    && to.host_str() == Some("127.0.0.1")
                    && to.port() == Some(port)
            })
            .build()
            .unwrap();
        let prefixes: Vec<&'static [u8]> = vec![
            b"",
            b"HTTP/1.1 200 OK\r\n",
            b"HTTP/1.1 200 OK\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 16\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
            b"HTTP/1.1 100 Continue\r\n\r\n",
            b"HTTP/1.0 404 Not Found\r\nConnection: keep-alive\r\n",
            b"HTTP/1.1 302 Found\r\nLocation: /",
        ];
        let strategy = (
            proptest::sample::select(prefixes),
            proptest::collection::vec(
                prop_oneof![
                    any::<u8>(),
                    proptest::sample::select(b"\r\n:0123456789abcdef ;".to_vec())
                ],
                0..600,
            ),
        )
            .prop_map(|(prefix, tail)| [prefix, tail.as_slice()].concat());
        let mut runner = TestRunner::new(Config {
            cases: 64,
            failure_persistence: None,
            ..Config::default()
        });
        runner
            .run(&strategy, |bytes| {
                *payload.lock().unwrap() = bytes;
                let url = server.url("/fuzz");
                let client = client.clone();
                let result = wisp::block_on(async move { fetch(&client, &url).await });
                // Any outcome is fine; what matters is that it came back. A success needs a
                // complete framed body, which must be within the limit.
                if let Ok((status, body)) = result {
                    prop_assert!(status >= 100);
                    prop_assert!(body.len() <= 64 * 1024);
                }
                Ok(())
            })
            .unwrap();
    });
}

// ---------------------------------------------------------------------------------------------
// Probes: more framing errors, wake-ups on reused connections, redirect draining
// ---------------------------------------------------------------------------------------------

#[test]
fn more_framing_errors() {
    let e = error_for(
        format!(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;{}\r\nhello\r\n0\r\n\r\n",
            "x".repeat(5000)
        )
        .into_bytes(),
        client(),
    );
    assert_matches!(
        e,
        Error::Parse(ParseError::ChunkLineTooLong { limit: 4096 })
    );
    let e = error_for(
        format!(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: {}\r\n\r\n",
            "t".repeat(20_000)
        )
        .into_bytes(),
        client(),
    );
    assert_matches!(
        e,
        Error::Parse(ParseError::TrailersTooLarge { limit: 16384 })
    );
    let e = error_for(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n".to_vec(),
        client(),
    );
    assert_matches!(e, Error::Parse(ParseError::InvalidChunk(_)));
    let e = error_for(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: \"chunked\"\r\n\r\n".to_vec(),
        client(),
    );
    assert_matches!(e, Error::Parse(ParseError::UnsupportedTransferEncoding(_)));
    let e = error_for(
        b"HTTP/1.1 200 OK\r\nContent-Length: 5x\r\n\r\nhello".to_vec(),
        client(),
    );
    assert_matches!(e, Error::Parse(ParseError::InvalidContentLength(ref v)) if v == "5x");
    let e = error_for(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel".to_vec(),
        client(),
    );
    assert_matches!(e, Error::Parse(ParseError::UnexpectedEof));
}

#[test]
fn identical_content_lengths_are_one() {
    run(|| async {
        let server = serve_http(|_| {
            b"HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\nContent-Length: 5\r\n\r\nhello".to_vec()
        });
        let (_, body) = fetch(&client(), &server.url("/")).await.unwrap();
        assert_eq!(body, b"hello");
    });
}

#[test]
fn reused_connection_wakes_for_a_slow_response() {
    run(|| async {
        let server = serve(|_, peer| {
            let mut n = 0;
            while peer.read_head().is_some() {
                n += 1;
                thread::sleep(Duration::from_millis(100));
                if !peer.send(&ok(&format!("r{n}"))) {
                    return;
                }
            }
        });
        let client = client();
        for i in 1..=3 {
            let (_, body) = fetch(&client, &server.url("/")).await.unwrap();
            assert_eq!(body, format!("r{i}").as_bytes());
        }
        assert_eq!(server.accepted(), 1);
    });
}

#[test]
fn pooled_connection_survives_across_block_on_calls_and_threads() {
    watchdog(30, || {
        let server = serve_http(|head| ok(target(head)));
        let client = client();
        let url = server.url("/a");
        let c = client.clone();
        let body = wisp::block_on(async move { fetch(&c, &url).await.unwrap().1 });
        assert_eq!(body, b"/a");
        let url = server.url("/b");
        let c = client.clone();
        let body = thread::spawn(move || wisp::block_on(async move { fetch(&c, &url).await }))
            .join()
            .unwrap()
            .unwrap()
            .1;
        assert_eq!(body, b"/b");
        assert_eq!(server.accepted(), 1);
    });
}

#[test]
fn endless_informational_responses_hit_the_total_timeout() {
    run(|| async {
        let server = serve(|_, peer| {
            peer.read_head();
            for _ in 0..1000 {
                if !peer.send(b"HTTP/1.1 100 Continue\r\n\r\n") {
                    return;
                }
                thread::sleep(Duration::from_millis(10));
            }
        });
        let client = Client::builder()
            .idle_timeout(Duration::from_secs(1))
            .total_timeout(Some(Duration::from_millis(300)))
            .build()
            .unwrap();
        let start = Instant::now();
        let result = client.get(&server.url("/")).await;
        let elapsed = start.elapsed();
        assert_matches!(
            result,
            Err(Error::Timeout {
                phase: Phase::Total
            })
        );
        assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
        server.wait_finished(1);
    });
}

#[test]
fn redirect_with_unframed_body_is_followed_without_waiting() {
    // A 302 with neither Content-Length nor chunked on a connection the server keeps open: its
    // body is "until close", so the connection cannot be reused and there is nothing to drain.
    run(|| async {
        let server = serve(|_, peer| {
            let Some(head) = peer.read_head() else { return };
            if target(&head) == "/from" {
                peer.send(b"HTTP/1.1 302 Found\r\nLocation: /to\r\n\r\n");
                peer.wait_close();
            } else {
                peer.send(&ok("arrived"));
                peer.wait_close();
            }
        });
        let client = builder()
            .idle_timeout(Duration::from_secs(3))
            .build()
            .unwrap();
        let start = Instant::now();
        let result = fetch(&client, &server.url("/from")).await;
        let elapsed = start.elapsed();
        let (status, body) = result.unwrap();
        assert_eq!((status, body.as_slice()), (200, &b"arrived"[..]));
        assert!(
            elapsed < Duration::from_secs(2),
            "following the redirect waited {elapsed:?} (an idle timeout) draining a body that \
             can only end at close"
        );
    });
}

#[test]
fn zero_length_body_connection_is_reused() {
    run(|| async {
        let server = serve_http(|_| b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".to_vec());
        let client = client();
        for _ in 0..3 {
            let response = client.get(&server.url("/")).await.unwrap();
            assert_eq!(response.status(), 200);
            drop(response);
        }
        assert_eq!(server.accepted(), 1);
    });
}

#[test]
fn http_1_0_keep_alive_rules() {
    run(|| async {
        let server = serve_http(|head| match target(head) {
            "/ka" => {
                b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nka".to_vec()
            }
            // No keep-alive in HTTP/1.0: the client must not reuse it (the server closes).
            _ => b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nno".to_vec(),
        });
        let client = client();
        assert_eq!(fetch(&client, &server.url("/ka")).await.unwrap().1, b"ka");
        assert_eq!(fetch(&client, &server.url("/ka")).await.unwrap().1, b"ka");
        assert_eq!(server.accepted(), 1);
        assert_eq!(fetch(&client, &server.url("/no")).await.unwrap().1, b"no");
        assert_eq!(fetch(&client, &server.url("/ka")).await.unwrap().1, b"ka");
        assert_eq!(server.accepted(), 2);
    });
}

#[test]
fn switching_protocols_is_returned_without_a_body() {
    run(|| async {
        let server = serve(|_, peer| {
            peer.read_head();
            peer.send(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x00");
            peer.wait_close();
        });
        let mut response = client().get(&server.url("/")).await.unwrap();
        assert_eq!(response.status(), 101);
        assert_matches!(response.chunk().await, Ok(None));
    });
}

// ---------------------------------------------------------------------------------------------
// Compressed bodies (Accept-Encoding: gzip, deflate)
// ---------------------------------------------------------------------------------------------

fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

fn zlib(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

fn raw_deflate(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder =
        flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

fn encoded(coding: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 200 OK\r\nContent-Encoding: {coding}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

#[test]
fn gzip_and_both_deflate_forms_are_decoded() {
    let text: Vec<u8> = (0..20_000u32)
        .flat_map(|i| (i % 251).to_le_bytes())
        .collect();
    for (coding, body) in [
        ("gzip", gzip(&text)),
        ("deflate", zlib(&text)),
        ("deflate", raw_deflate(&text)),
    ] {
        let text = text.clone();
        run(move || async move {
            let wire = encoded(coding, &body);
            let server = serve_http(move |_| wire.clone());
            let response = client().get(&server.url("/")).await.unwrap();
            let bytes = response.bytes().await.unwrap();
            assert_eq!(bytes, text, "{coding}");
            // The client asked for it.
            assert!(
                server.requests()[0]
                    .to_ascii_lowercase()
                    .contains("accept-encoding: gzip, deflate"),
                "{:?}",
                server.requests()
            );
        });
    }
}

#[test]
fn chunked_and_gzip_together() {
    run(|| async {
        let text = b"chunked and compressed, both at once ".repeat(500);
        let compressed = gzip(&text);
        let server = serve_http(move |_| {
            let mut out =
                b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n"
                    .to_vec();
            for piece in compressed.chunks(100) {
                out.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
                out.extend_from_slice(piece);
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"0\r\n\r\n");
            out
        });
        let mut response = client().get(&server.url("/")).await.unwrap();
        let mut got = Vec::new();
        while let Some(piece) = response.chunk().await.unwrap() {
            got.extend_from_slice(piece);
        }
        assert_eq!(got, text);
        assert_eq!(response.body_read(), text.len() as u64);
        assert!(response.encoded_read() < text.len() as u64 / 4);
    });
}

#[test]
fn a_gzip_bomb_ends_with_body_too_large() {
    run(|| async {
        // 64 MiB of zeros compress to about 64 KiB.
        let bomb = gzip(&vec![0u8; 64 << 20]);
        assert!(bomb.len() < 1 << 20);
        let wire = encoded("gzip", &bomb);
        let server = serve_http(move |_| wire.clone());
        let client = builder().max_body(1 << 20).build().unwrap();
        let response = client.get(&server.url("/")).await.unwrap();
        assert_matches!(
            response.bytes().await,
            Err(Error::BodyTooLarge { limit }) if limit == 1 << 20
        );
    });
}

#[test]
fn corrupt_and_unasked_encodings_are_clear_errors() {
    run(|| async {
        let mut broken = gzip(b"hello there, this will be corrupted");
        let last = broken.len() - 6;
        broken[last] ^= 0xff; // the CRC no longer matches
        let wire = encoded("gzip", &broken);
        let server = serve_http(move |_| wire.clone());
        let response = client().get(&server.url("/")).await.unwrap();
        assert_matches!(response.bytes().await, Err(Error::Decode(_)));

        let wire = encoded("br", b"whatever");
        let server = serve_http(move |_| wire.clone());
        let result = client().get(&server.url("/")).await;
        assert_matches!(result, Err(Error::Decode(ref m)) if m.contains("\"br\""));
    });
}

#[test]
fn a_corrupt_body_keeps_the_decoder_error_as_its_source() {
    use std::error::Error as _;
    use wisp::http::decode::DecodeError;
    run(|| async {
        let mut broken = gzip(b"hello there, this will be corrupted");
        let last = broken.len() - 6;
        broken[last] ^= 0xff; // the CRC no longer matches
        let wire = encoded("gzip", &broken);
        let server = serve_http(move |_| wire.clone());
        let response = client().get(&server.url("/")).await.unwrap();
        let error = response.bytes().await.unwrap_err();
        let source = error.source().expect("a source");
        let decode = source.downcast_ref::<DecodeError>().expect("a DecodeError");
        assert!(matches!(decode, DecodeError::Corrupt(_)), "{decode:?}");
        // The words are the decoder's own, as before the source was kept.
        assert_eq!(error.to_string(), decode.to_string());

        // An encoding not asked for is refused in our words; nothing lies under them.
        let wire = encoded("br", b"whatever");
        let server = serve_http(move |_| wire.clone());
        let error = client().get(&server.url("/")).await.unwrap_err();
        assert!(error.source().is_none(), "{error:?}");
    });
}

#[test]
fn decompression_can_be_turned_off() {
    run(|| async {
        let compressed = gzip(b"left as it is");
        let wire = encoded("gzip", &compressed);
        let server = serve_http(move |_| wire.clone());
        let client = builder().decompress(false).build().unwrap();
        let response = client.get(&server.url("/")).await.unwrap();
        assert_eq!(response.bytes().await.unwrap(), compressed);
        assert!(
            !server.requests()[0]
                .to_ascii_lowercase()
                .contains("accept-encoding"),
        );
    });
}

/// An empty body is empty whatever its `Content-Encoding` says: servers send `gzip` on empty
/// answers (an empty file, a cached 200 with nothing in it), and curl and browsers read them
/// as empty. Fetches twice with each coding; `rest` is the framing (headers and body) after
/// `Content-Encoding`, `connections` how many connections the two fetches should use.
fn assert_empty_encoded_body_is_empty(rest: &'static str, connections: usize) {
    for coding in ["gzip", "deflate"] {
        run(move || async move {
            let wire = format!("HTTP/1.1 200 OK\r\nContent-Encoding: {coding}\r\n{rest}");
            let server = serve_http(move |_| wire.clone().into_bytes());
            let client = client();
            for _ in 0..2 {
                let body = fetch(&client, &server.url("/")).await;
                assert_matches!(body, Ok((200, ref b)) if b.is_empty());
            }
            assert_eq!(server.accepted(), connections, "{coding}");
        });
    }
}

#[test]
fn an_empty_chunked_compressed_body_is_empty() {
    // The connection stays reusable.
    assert_empty_encoded_body_is_empty("Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 1);
}

#[test]
fn an_empty_close_delimited_compressed_body_is_empty() {
    assert_empty_encoded_body_is_empty("Connection: close\r\n\r\n", 2);
}

#[test]
fn a_zero_content_length_compressed_body_is_empty() {
    assert_empty_encoded_body_is_empty("Content-Length: 0\r\n\r\n", 1);
}

/// An empty compressed body through `chunk`: `None` at once, and the decoded count stays 0.
#[test]
fn an_empty_chunked_gzip_body_ends_at_the_first_chunk_call() {
    run(|| async {
        let server = serve_http(|_| {
            b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
                .to_vec()
        });
        let mut response = client().get(&server.url("/")).await.unwrap();
        assert_matches!(response.chunk().await, Ok(None));
        assert_eq!(response.body_read(), 0);
        assert_eq!(response.encoded_read(), 0);
    });
}

// ---------------------------------------------------------------------------------------------
// Durations too large for an `Instant` mean "never"
// ---------------------------------------------------------------------------------------------

/// `Duration::MAX` for the whole request: no deadline, and the request (a redirect, then a
/// body) succeeds.
#[test]
fn a_total_timeout_of_duration_max_is_no_deadline() {
    run(|| async {
        let server = serve_http(|head| match target(head) {
            "/start" => redirect("302 Found", "/landing"),
            _ => ok("landed"),
        });
        let client = Client::builder()
            .idle_timeout(Duration::from_secs(5))
            .total_timeout(Some(Duration::MAX))
            .build()
            .unwrap();
        let body = fetch(&client, &server.url("/start")).await;
        assert_matches!(body, Ok((200, ref b)) if b == b"landed");
    });
}

#[test]
fn a_connect_timeout_of_duration_max_is_no_limit() {
    run(|| async {
        let server = serve_http(|_| ok("connected"));
        let client = builder().connect_timeout(Duration::MAX).build().unwrap();
        let body = fetch(&client, &server.url("/")).await;
        assert_matches!(body, Ok((200, ref b)) if b == b"connected");
    });
}

#[test]
fn an_idle_timeout_of_duration_max_is_no_limit() {
    run(|| async {
        let server = serve_http(|_| ok("answered"));
        let client = Client::builder()
            .idle_timeout(Duration::MAX)
            .total_timeout(Some(Duration::from_secs(20)))
            .build()
            .unwrap();
        let body = fetch(&client, &server.url("/")).await;
        assert_matches!(body, Ok((200, ref b)) if b == b"answered");
    });
}

#[test]
fn an_idle_expiry_of_duration_max_keeps_the_connection() {
    run(|| async {
        let server = serve_http(|_| ok("kept"));
        let client = builder().idle_expiry(Duration::MAX).build().unwrap();
        for _ in 0..2 {
            let body = fetch(&client, &server.url("/")).await;
            assert_matches!(body, Ok((200, ref b)) if b == b"kept");
        }
        assert_eq!(server.accepted(), 1);
    });
}

/// Every clock at its largest at once, idle connections kept "forever": two requests, one
/// connection.
#[test]
fn every_duration_at_its_largest_still_fetches() {
    run(|| async {
        let server = serve_http(|_| ok("twice"));
        let client = Client::builder()
            .connect_timeout(Duration::MAX)
            .idle_timeout(Duration::MAX)
            .total_timeout(Some(Duration::MAX))
            .idle_expiry(Duration::MAX)
            .build()
            .unwrap();
        for _ in 0..2 {
            let body = fetch(&client, &server.url("/")).await;
            assert_matches!(body, Ok((200, ref b)) if b == b"twice");
        }
        assert_eq!(server.accepted(), 1);
    });
}

// ---------------------------------------------------------------------------------------------
// Numbers too large to multiply or allocate mean "no limit"
// ---------------------------------------------------------------------------------------------

/// A pool bound of `usize::MAX` (a crawler's "unbounded" concurrency passed through) keeps
/// connections as usual.
#[test]
fn a_pool_bound_of_usize_max_is_no_bound() {
    run(|| async {
        let server = serve_http(|_| ok("pooled"));
        let client = builder().max_idle(usize::MAX, usize::MAX).build().unwrap();
        for _ in 0..3 {
            let body = fetch(&client, &server.url("/")).await;
            assert_matches!(body, Ok((200, ref b)) if b == b"pooled");
        }
        assert_eq!(server.accepted(), 1);
    });
}

/// Every limit at its largest: no overflow, no allocation sized by a limit, and the framing and
/// the redirect still work.
#[test]
fn every_limit_at_its_largest_still_fetches() {
    run(|| async {
        let server = serve_http(|head| match target(head) {
            "/start" => redirect("302 Found", "/landing"),
            _ => b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n\
                   5;ext=1\r\nhello\r\n0\r\nTrailer: x\r\n\r\n"
                .to_vec(),
        });
        let client = builder()
            .max_idle(usize::MAX, usize::MAX)
            .max_redirects(usize::MAX)
            .max_body(u64::MAX)
            .limits(Limits {
                max_head_bytes: usize::MAX,
                max_headers: usize::MAX,
                max_chunk_line: usize::MAX,
                max_trailer_bytes: usize::MAX,
            })
            .build()
            .unwrap();
        for _ in 0..2 {
            let body = fetch(&client, &server.url("/start")).await;
            assert_matches!(body, Ok((200, ref b)) if b == b"hello");
        }
        assert_eq!(server.accepted(), 1);
    });
}

/// The header array is sized by what the head can hold, not by the limit alone, so a large
/// `max_headers` still refuses one header too many.
#[test]
fn a_large_max_headers_still_counts_headers() {
    run(|| async {
        let mut wire = b"HTTP/1.1 200 OK\r\n".to_vec();
        for i in 0..40 {
            wire.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        wire.extend_from_slice(b"Content-Length: 0\r\n\r\n");
        let limits = |max_headers| Limits {
            max_headers,
            ..Limits::default()
        };
        let wire2 = wire.clone();
        let server = serve_http(move |_| wire2.clone());
        let client = builder().limits(limits(41)).build().unwrap();
        assert_matches!(fetch(&client, &server.url("/")).await, Ok((200, _)));
        let server = serve_http(move |_| wire.clone());
        let client = builder().limits(limits(40)).build().unwrap();
        assert_matches!(
            fetch(&client, &server.url("/")).await,
            Err(Error::Parse(ParseError::TooManyHeaders { limit: 40 }))
        );
    });
}

// ---------------------------------------------------------------------------------------------
// The keep-alive pool: expiry, caps, eviction, liveness; connect timeout; drain limit
// ---------------------------------------------------------------------------------------------

/// Waits (up to 10 s) until every byte written on `stream` was acknowledged by the peer's
/// kernel: the bytes are then in the peer's receive queue, whoever reads them next.
#[allow(unsafe_code)]
fn wait_acked(stream: &TcpStream) {
    use std::os::fd::AsRawFd;
    let start = Instant::now();
    loop {
        let mut unacked: libc::c_int = 0;
        // SAFETY: TIOCOUTQ on a TCP socket writes the count of unsent and unacknowledged bytes
        // into the `c_int` it is given, which lives for the whole call.
        let rc = unsafe { libc::ioctl(stream.as_raw_fd(), libc::TIOCOUTQ, &mut unacked) };
        assert_eq!(
            rc,
            0,
            "ioctl(TIOCOUTQ): {}",
            std::io::Error::last_os_error()
        );
        if unacked == 0 {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "never acknowledged"
        );
        thread::sleep(Duration::from_millis(1));
    }
}

/// Runs the body on the virtual clock with no timer but the test's own: the client has no
/// timeouts and the run no deadlock limit, so however slow the server thread, the clock can
/// only jump to the test's own sleeps (and only once nothing else is running).
fn run_untimed<F, Fut>(f: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    watchdog(60, move || {
        wisp::test::Builder::new()
            .deadlock_grace(Duration::MAX)
            .block_on(f())
    });
}

/// A client without any timeout, for [`run_untimed`].
fn untimed() -> ClientBuilder {
    Client::builder()
        .connect_timeout(Duration::MAX)
        .idle_timeout(Duration::MAX)
        .total_timeout(None)
}

#[test]
fn an_idle_connection_is_reused_until_it_expires_exactly() {
    // On the virtual clock, so "idle for exactly the expiry" is exact.
    run_untimed(|| async {
        let server = serve_http(|head| ok(target(head)));
        let client = untimed()
            .idle_expiry(Duration::from_secs(5))
            .build()
            .unwrap();
        let (_, body) = fetch(&client, &server.url("/1")).await.unwrap();
        assert_eq!(body, b"/1");
        wisp::time::sleep(Duration::from_millis(4999)).await;
        let (_, body) = fetch(&client, &server.url("/2")).await.unwrap();
        assert_eq!(body, b"/2");
        assert_eq!(
            server.accepted(),
            1,
            "a connection idle 4.999 s of 5 s was not reused"
        );
        wisp::time::sleep(Duration::from_secs(5)).await;
        let (_, body) = fetch(&client, &server.url("/3")).await.unwrap();
        assert_eq!(body, b"/3");
        assert_eq!(
            server.accepted(),
            2,
            "a connection idle for its whole expiry was reused"
        );
    });
}

#[test]
fn expired_connections_behind_the_newest_are_closed_at_checkout() {
    run_untimed(|| async {
        // Two connections to one origin, idle since t = 0 and t = 3 s; at t = 6 s the newer
        // one is taken and the older (expired) one is closed: its server side sees EOF.
        let closed = Arc::new(AtomicUsize::new(0));
        let c = closed.clone();
        let server = serve(move |_, peer| {
            while let Some(head) = peer.read_head() {
                if !peer.send(&ok(target(&head))) {
                    break;
                }
            }
            c.fetch_add(1, Ordering::SeqCst);
        });
        let client = untimed()
            .idle_expiry(Duration::from_secs(5))
            .build()
            .unwrap();
        // Both at once, so each has its own connection.
        let (a, b) = join(client.get(&server.url("/a")), client.get(&server.url("/b"))).await;
        assert_eq!(a.unwrap().bytes().await.unwrap(), b"/a");
        wisp::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(b.unwrap().bytes().await.unwrap(), b"/b");
        assert_eq!(server.accepted(), 2);
        wisp::time::sleep(Duration::from_secs(3)).await;
        let (_, body) = fetch(&client, &server.url("/c")).await.unwrap();
        assert_eq!(body, b"/c");
        assert_eq!(server.accepted(), 2, "the newer connection was not reused");
        server.wait_finished(1);
        assert_eq!(closed.load(Ordering::SeqCst), 1);
    });
}

#[test]
fn the_per_origin_cap_keeps_only_that_many_idle_connections() {
    run(|| async {
        let server = serve_http(|head| ok(target(head)));
        let client = builder().max_idle(1, 10).build().unwrap();
        // Two at once: two connections; both go back, the cap keeps one.
        let (a, b) = join(client.get(&server.url("/a")), client.get(&server.url("/b"))).await;
        assert_eq!(a.unwrap().bytes().await.unwrap(), b"/a");
        assert_eq!(b.unwrap().bytes().await.unwrap(), b"/b");
        assert_eq!(server.accepted(), 2);
        // Two at once again: one reuses the kept connection, one needs a new one.
        let (c, d) = join(client.get(&server.url("/c")), client.get(&server.url("/d"))).await;
        assert_eq!(c.unwrap().bytes().await.unwrap(), b"/c");
        assert_eq!(d.unwrap().bytes().await.unwrap(), b"/d");
        assert_eq!(
            server.accepted(),
            3,
            "the cap of one idle connection per origin"
        );
    });
}

#[test]
fn the_total_cap_evicts_the_connection_idle_longest() {
    run(|| async {
        let servers: Vec<Server> = (0..3)
            .map(|_| serve_http(|head| ok(target(head))))
            .collect();
        let client = builder().max_idle(10, 2).build().unwrap();
        let get = |i: usize| {
            let (client, url) = (client.clone(), servers[i].url("/"));
            async move { fetch(&client, &url).await.unwrap() }
        };
        get(0).await;
        get(1).await;
        // Idle: 0 (older), 1. A third origin's connection evicts 0, the one idle longest.
        get(2).await;
        get(1).await;
        assert_eq!(
            servers[1].accepted(),
            1,
            "the newer idle connection was evicted"
        );
        get(0).await;
        assert_eq!(
            servers[0].accepted(),
            2,
            "the oldest idle connection was kept"
        );
        // Idle now: 2 (older), then 1, then 0 came back: 2 was evicted.
        get(1).await;
        assert_eq!(servers[1].accepted(), 1);
        get(2).await;
        assert_eq!(servers[2].accepted(), 2);
    });
}

#[test]
fn an_idle_connection_that_turned_readable_is_not_reused() {
    // The server answers, then (once the connection is idle in the pool) sends bytes nobody
    // asked for. Reusing it would read them as the next response.
    let (idle_tx, idle_rx) = std::sync::mpsc::channel::<()>();
    let (sent_tx, sent_rx) = std::sync::mpsc::channel::<()>();
    let idle_rx = Mutex::new(Some(idle_rx));
    let sent_tx = Mutex::new(Some(sent_tx));
    let server = serve(move |index, peer| {
        let Some(head) = peer.read_head() else { return };
        if index == 0 {
            peer.send(&ok(target(&head)));
            let idle_rx = idle_rx.lock().unwrap().take().unwrap();
            idle_rx.recv().unwrap();
            peer.send(b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\n\r\n");
            wait_acked(&peer.stream);
            sent_tx.lock().unwrap().take().unwrap().send(()).unwrap();
            peer.wait_close();
        } else {
            peer.send(&ok(target(&head)));
            peer.wait_close();
        }
    });
    run(move || async move {
        let client = client();
        let (_, body) = fetch(&client, &server.url("/a")).await.unwrap();
        assert_eq!(body, b"/a");
        idle_tx.send(()).unwrap();
        // A blocking wait on purpose: nothing else runs on this executor meanwhile.
        sent_rx.recv().unwrap();
        let (status, body) = fetch(&client, &server.url("/b")).await.unwrap();
        assert_eq!((status, body.as_slice()), (200, &b"/b"[..]));
        assert_eq!(server.accepted(), 2);
        assert_eq!(
            server.request_lines().len(),
            2,
            "a request went to the dead connection"
        );
    });
}

#[test]
fn a_connection_with_bytes_after_the_body_is_not_reused() {
    run(|| async {
        let server = serve(|index, peer| {
            let Some(head) = peer.read_head() else { return };
            if index == 0 {
                // One write: the body, then a stray response nobody asked for.
                let mut bytes = ok(target(&head));
                bytes.extend_from_slice(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstray");
                peer.send(&bytes);
                peer.wait_close();
            } else {
                peer.send(&ok(target(&head)));
                peer.wait_close();
            }
        });
        let client = client();
        let (_, body) = fetch(&client, &server.url("/a")).await.unwrap();
        assert_eq!(body, b"/a");
        // Closed at the end of the body, not kept in the pool until the next checkout.
        server.wait_finished(1);
        let (status, body) = fetch(&client, &server.url("/b")).await.unwrap();
        assert_eq!((status, body.as_slice()), (200, &b"/b"[..]));
        assert_eq!(server.accepted(), 2);
    });
}

#[test]
fn a_connect_that_gets_no_answer_ends_with_the_connect_timeout() {
    // A backlog-0 listener on 127.0.0.1, never accepted from, filled until a connect to it
    // stays pending: Linux then drops the SYNs, so the client's connect never completes.
    let socket = socket2::Socket::new(
        socket2::Domain::IPV4,
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )
    .unwrap();
    socket
        .bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    socket.listen(0).unwrap();
    let addr = socket.local_addr().unwrap().as_socket().unwrap();
    let mut filled = Vec::new();
    loop {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
            Ok(stream) => filled.push(stream),
            Err(e) if e.kind() == ErrorKind::TimedOut => break,
            Err(e) => panic!("connect to the backlog-0 listener failed instead: {e:?}"),
        }
        assert!(
            filled.len() < 32,
            "32 connects all completed: the test premise failed"
        );
    }
    run(move || async move {
        let client = builder()
            .connect_timeout(Duration::from_millis(300))
            .build()
            .unwrap();
        let start = Instant::now();
        let result = client.get(&format!("http://{addr}/")).await;
        let elapsed = start.elapsed();
        assert_matches!(
            result,
            Err(Error::Timeout {
                phase: Phase::Connect
            })
        );
        assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
        drop((socket, filled));
    });
}

#[test]
fn a_redirect_body_past_the_drain_limit_is_not_drained() {
    // An endless chunked body on a 302: draining it would never end. Past the limit (64 KiB)
    // the connection is dropped and the redirect followed on a new one.
    run(|| async {
        let server = serve(|_, peer| {
            let Some(head) = peer.read_head() else { return };
            if target(&head) == "/from" {
                peer.send(
                    b"HTTP/1.1 302 Found\r\nLocation: /to\r\nTransfer-Encoding: chunked\r\n\r\n",
                );
                let chunk = format!("1000\r\n{}\r\n", "x".repeat(0x1000));
                while peer.send(chunk.as_bytes()) {}
            } else {
                peer.send(&ok("arrived"));
                peer.wait_close();
            }
        });
        // No body limit: only the drain limit stops the draining.
        let client = builder().max_body(u64::MAX).build().unwrap();
        let (status, body) = fetch(&client, &server.url("/from")).await.unwrap();
        assert_eq!((status, body.as_slice()), (200, &b"arrived"[..]));
        assert_eq!(server.accepted(), 2);
    });
}

#[test]
fn a_small_redirect_body_is_drained_and_its_connection_reused() {
    run(|| async {
        let server = serve_http(|head| {
            if target(head) == "/from" {
                let body = "y".repeat(60 * 1024);
                format!(
                    "HTTP/1.1 302 Found\r\nLocation: /to\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                )
                .into_bytes()
            } else {
                ok("arrived")
            }
        });
        let (status, body) = fetch(&client(), &server.url("/from")).await.unwrap();
        assert_eq!((status, body.as_slice()), (200, &b"arrived"[..]));
        assert_eq!(server.accepted(), 1);
    });
}

#[test]
fn a_pool_bound_of_zero_on_either_side_keeps_nothing() {
    for (per_origin, total) in [(0, 5), (5, 0)] {
        run(move || async move {
            let server = serve_http(|head| ok(target(head)));
            let client = builder().max_idle(per_origin, total).build().unwrap();
            for path in ["/a", "/b"] {
                let (_, body) = fetch(&client, &server.url(path)).await.unwrap();
                assert_eq!(body, path.as_bytes());
            }
            assert_eq!(
                server.accepted(),
                2,
                "max_idle({per_origin}, {total}) kept a connection"
            );
        });
    }
}

#[test]
fn a_connection_dropped_by_the_per_origin_cap_frees_its_place_in_the_total() {
    run(|| async {
        let (a, b) = (
            serve_http(|head| ok(target(head))),
            serve_http(|head| ok(target(head))),
        );
        let client = builder().max_idle(1, 2).build().unwrap();
        // Two at once to A: both come back, the per-origin cap drops one: one idle in all.
        let (x, y) = join(client.get(&a.url("/x")), client.get(&a.url("/y"))).await;
        assert_eq!(x.unwrap().bytes().await.unwrap(), b"/x");
        assert_eq!(y.unwrap().bytes().await.unwrap(), b"/y");
        assert_eq!(a.accepted(), 2);
        // B's connection makes two: within the total, so A's stays.
        fetch(&client, &b.url("/")).await.unwrap();
        fetch(&client, &a.url("/z")).await.unwrap();
        assert_eq!(a.accepted(), 2, "A's idle connection was evicted for B's");
        assert_eq!(b.accepted(), 1);
    });
}

#[test]
fn an_expired_connection_closed_at_checkout_frees_its_place_in_the_total() {
    run_untimed(|| async {
        let (a, b) = (
            serve_http(|head| ok(target(head))),
            serve_http(|head| ok(target(head))),
        );
        let client = untimed()
            .max_idle(10, 2)
            .idle_expiry(Duration::from_secs(5))
            .build()
            .unwrap();
        // Two idle connections to A, since t = 0 and t = 3 s.
        let (x, y) = join(client.get(&a.url("/x")), client.get(&a.url("/y"))).await;
        assert_eq!(x.unwrap().bytes().await.unwrap(), b"/x");
        wisp::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(y.unwrap().bytes().await.unwrap(), b"/y");
        // At t = 6 s the checkout takes the newer one and closes the expired one: then one is
        // idle in all, and B's connection fits beside it.
        wisp::time::sleep(Duration::from_secs(3)).await;
        fetch(&client, &a.url("/z")).await.unwrap();
        fetch(&client, &b.url("/")).await.unwrap();
        fetch(&client, &a.url("/w")).await.unwrap();
        assert_eq!(a.accepted(), 2, "A's idle connection was evicted for B's");
    });
}

// ---------------------------------------------------------------------------------------------
// The request side: methods with bodies, per-request headers, early answers, conditional GETs
// ---------------------------------------------------------------------------------------------

/// A server that reads each request's body too, answers with `handler(head, body)`, and keeps
/// every body it read, in order.
fn serve_bodies(
    handler: impl Fn(&str, &[u8]) -> Vec<u8> + Send + Sync + 'static,
) -> (Server, Arc<Mutex<Vec<Vec<u8>>>>) {
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let kept = bodies.clone();
    let server = serve(move |_, peer| {
        while let Some(head) = peer.read_head() {
            let Some(body) = peer.read_body(&head) else {
                return;
            };
            let response = handler(&head, &body);
            kept.lock().unwrap().push(body);
            if !peer.send(&response) {
                return;
            }
        }
    });
    (server, bodies)
}

/// A body stream that gives `data` in pieces of at most `piece` bytes and says `Pending`
/// (waking itself) before every other piece, as a pipe or a file on a slow disk would.
struct Trickle {
    data: Vec<u8>,
    pos: usize,
    piece: usize,
    pending_next: bool,
}

impl Trickle {
    fn new(data: Vec<u8>, piece: usize) -> Trickle {
        Trickle {
            data,
            pos: 0,
            piece,
            pending_next: true,
        }
    }
}

impl futures::io::AsyncRead for Trickle {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut [u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let pending = self.pending_next;
        self.pending_next = !pending;
        if pending {
            cx.waker().wake_by_ref();
            return std::task::Poll::Pending;
        }
        let n = buf.len().min(self.piece).min(self.data.len() - self.pos);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        std::task::Poll::Ready(Ok(n))
    }
}

/// An endless stream of zeros that counts what it gave.
struct Zeros(Arc<std::sync::atomic::AtomicU64>);

impl futures::io::AsyncRead for Zeros {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &mut [u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        buf.fill(0);
        self.0.fetch_add(buf.len() as u64, Ordering::SeqCst);
        std::task::Poll::Ready(Ok(buf.len()))
    }
}

/// Bytes `0, 1, ..., 250, 0, 1, ...`: a body where a lost, doubled or moved piece shows.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

#[test]
fn a_post_with_a_json_body_arrives_whole() {
    run(|| async {
        let (server, bodies) = serve_bodies(|_, body| {
            let mut response = format!(
                "HTTP/1.1 201 Created\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .into_bytes();
            response.extend_from_slice(body);
            response
        });
        let json = r#"{"name": "wisp", "tags": ["async", "runtime"]}"#;
        let client = client();
        let response = client
            .post(&server.url("/items"))
            .header("Content-Type", "application/json")
            .body(json)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        assert_eq!(response.text().await.unwrap(), json);
        assert_eq!(
            bodies.lock().unwrap().as_slice(),
            [json.as_bytes().to_vec()]
        );
        let head = &server.requests()[0];
        assert!(head.starts_with("POST /items HTTP/1.1\r\n"), "{head:?}");
        assert_eq!(header_of(head, "content-type"), Some("application/json"));
        assert_eq!(
            header_of(head, "content-length"),
            Some(&*json.len().to_string())
        );
        assert_eq!(header_of(head, "transfer-encoding"), None);
        // The connection is reused for the next request, with `.await` on the builder.
        let response = client.put(&server.url("/items/1")).body("x").await.unwrap();
        assert_eq!(response.bytes().await.unwrap(), b"x");
        assert_eq!(server.accepted(), 1);
    });
}

#[test]
fn a_post_without_a_body_says_content_length_zero() {
    run(|| async {
        let (server, bodies) = serve_bodies(|_, _| ok("done"));
        let client = client();
        let response = client.post(&server.url("/ping")).await.unwrap();
        assert_eq!(response.text().await.unwrap(), "done");
        let head = &server.requests()[0];
        assert_eq!(header_of(head, "content-length"), Some("0"), "{head:?}");
        assert_eq!(bodies.lock().unwrap().as_slice(), [Vec::<u8>::new()]);
        // A DELETE (no body meaning) goes without one.
        client.delete(&server.url("/x")).await.unwrap();
        assert_eq!(header_of(&server.requests()[1], "content-length"), None);
    });
}

#[test]
fn a_streamed_body_of_unknown_length_goes_chunked() {
    run(|| async {
        let (server, bodies) = serve_bodies(|_, body| ok(&body.len().to_string()));
        let data = pattern(300_000);
        let response = client()
            .post(&server.url("/upload"))
            .body_reader(Trickle::new(data.clone(), 7_000))
            .send()
            .await
            .unwrap();
        assert_eq!(response.text().await.unwrap(), "300000");
        let head = &server.requests()[0];
        assert_eq!(
            header_of(head, "transfer-encoding"),
            Some("chunked"),
            "{head:?}"
        );
        assert_eq!(header_of(head, "content-length"), None, "{head:?}");
        assert!(
            bodies.lock().unwrap()[0] == data,
            "the chunked body arrived changed"
        );
    });
}

#[test]
fn a_streamed_body_with_a_length_goes_with_content_length() {
    run(|| async {
        let (server, bodies) = serve_bodies(|_, _| ok("ok"));
        let data = pattern(200_000);
        let response = client()
            .put(&server.url("/file"))
            .body_reader_with_length(Trickle::new(data.clone(), 50_000), 200_000)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let head = &server.requests()[0];
        assert_eq!(header_of(head, "content-length"), Some("200000"));
        assert!(bodies.lock().unwrap()[0] == data);
    });
}

#[test]
fn a_stream_shorter_than_its_length_or_failing_is_a_request_body_error() {
    run(|| async {
        let server = serve(|_, peer| {
            peer.read_head();
            peer.wait_close();
        });
        let client = client();
        let short = futures::io::Cursor::new(vec![1u8; 10]);
        let result = client
            .post(&server.url("/"))
            .body_reader_with_length(short, 100)
            .send()
            .await;
        assert_matches!(
            result,
            Err(Error::RequestBody(ref e)) if e.kind() == ErrorKind::UnexpectedEof
                && e.to_string().contains("10 of the 100 bytes")
        );
        struct Broken;
        impl futures::io::AsyncRead for Broken {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                _: &mut std::task::Context<'_>,
                _: &mut [u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                std::task::Poll::Ready(Err(std::io::Error::other("disk on fire")))
            }
        }
        let result = client
            .post(&server.url("/"))
            .body_reader(Broken)
            .send()
            .await;
        let Err(e @ Error::RequestBody(_)) = result else {
            panic!("expected RequestBody, got {result:?}");
        };
        assert!(e.to_string().contains("disk on fire"), "{e}");
    });
}

#[test]
fn a_header_value_with_cr_lf_is_refused_before_anything_is_sent() {
    run(|| async {
        let server = serve_http(|_| ok("ok"));
        let client = client();
        let result = client
            .request(wisp::http::Method::Get, &server.url("/"))
            .header("X-Note", "a\r\nX-Injected: yes")
            .send()
            .await;
        assert_matches!(result, Err(Error::InvalidHeader { ref name }) if name == "X-Note");
        let result = client
            .post(&server.url("/"))
            .header("Bad Name", "v")
            .body("x")
            .await;
        assert_matches!(result, Err(Error::InvalidHeader { ref name }) if name == "Bad Name");
        for own in ["Host", "Content-Length", "transfer-encoding", "Connection"] {
            let result = client.post(&server.url("/")).header(own, "1").await;
            assert_matches!(result, Err(Error::ReservedHeader { ref name }) if name == own);
        }
        assert_eq!(server.accepted(), 0, "nothing may be sent");
        // The client-wide headers obey the same rule.
        let built = Client::builder().header("Host", "evil.example").build();
        assert_matches!(built, Err(Error::ReservedHeader { .. }));
    });
}

#[test]
fn a_request_header_replaces_the_client_wide_one() {
    run(|| async {
        let server = serve_http(|_| ok("ok"));
        let client = builder().header("X-Trace", "client").build().unwrap();
        client
            .request(wisp::http::Method::Get, &server.url("/"))
            .header("x-trace", "request")
            .header("User-Agent", "one-off/1")
            .header("Accept", "text/html")
            .await
            .unwrap();
        let head = &server.requests()[0];
        let traces: Vec<&str> = head
            .lines()
            .filter(|l| l.to_ascii_lowercase().starts_with("x-trace"))
            .collect();
        assert_eq!(traces, ["x-trace: request"], "{head:?}");
        assert_eq!(header_of(head, "user-agent"), Some("one-off/1"));
        assert_eq!(header_of(head, "accept"), Some("text/html"));
        assert!(
            !head.contains("*/*"),
            "the default Accept was sent too: {head:?}"
        );
    });
}

#[test]
fn a_request_authorization_stays_with_its_origin() {
    run(|| async {
        let other = serve_http(|_| ok("other"));
        let to = other.url("/landing");
        let first = serve_http(move |_| redirect("302 Found", &to));
        let response = client()
            .request(wisp::http::Method::Get, &first.url("/"))
            .header("Authorization", "Bearer t0ken")
            .sensitive_header("X-Api-Key", "k")
            .header("X-Plain", "p")
            .await
            .unwrap();
        assert_eq!(response.text().await.unwrap(), "other");
        let head = &first.requests()[0];
        assert_eq!(header_of(head, "authorization"), Some("Bearer t0ken"));
        assert_eq!(header_of(head, "x-api-key"), Some("k"));
        let head = &other.requests()[0];
        assert_eq!(header_of(head, "authorization"), None, "{head:?}");
        assert_eq!(header_of(head, "x-api-key"), None, "{head:?}");
        assert_eq!(header_of(head, "x-plain"), Some("p"));
    });
}

/// A server where `/form` redirects with `status` to `/done`, which answers with the method
/// and body it got.
fn redirecting_form(status: &'static str) -> (Server, Arc<Mutex<Vec<Vec<u8>>>>) {
    serve_bodies(move |head, body| {
        if target(head) == "/form" {
            redirect(status, "/done")
        } else {
            let method = head.split(' ').next().unwrap_or_default();
            ok(&format!("{method} {}", String::from_utf8_lossy(body)))
        }
    })
}

#[test]
fn a_303_after_a_post_becomes_a_get_without_the_body() {
    run(|| async {
        let (server, bodies) = redirecting_form("303 See Other");
        let response = client()
            .post(&server.url("/form"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("X-Keep", "kept")
            .body("a=1&b=2")
            .await
            .unwrap();
        assert_eq!(response.text().await.unwrap(), "GET ");
        assert_eq!(
            server.request_lines(),
            ["POST /form HTTP/1.1", "GET /done HTTP/1.1"]
        );
        let get = &server.requests()[1];
        assert_eq!(header_of(get, "content-type"), None, "{get:?}");
        assert_eq!(header_of(get, "content-length"), None, "{get:?}");
        assert_eq!(header_of(get, "x-keep"), Some("kept"));
        assert_eq!(
            bodies.lock().unwrap().as_slice(),
            [b"a=1&b=2".to_vec(), Vec::new()]
        );
    });
}

#[test]
fn a_302_turns_a_post_into_a_get_but_a_301_keeps_a_put() {
    run(|| async {
        let (server, _) = redirecting_form("302 Found");
        let response = client().post(&server.url("/form")).body("x").await.unwrap();
        assert_eq!(response.text().await.unwrap(), "GET ");
        let (server, _) = redirecting_form("301 Moved Permanently");
        let response = client().put(&server.url("/form")).body("y").await.unwrap();
        assert_eq!(response.text().await.unwrap(), "PUT y");
    });
}

#[test]
fn a_307_resends_a_replayable_body() {
    run(|| async {
        for status in ["307 Temporary Redirect", "308 Permanent Redirect"] {
            let (server, bodies) = redirecting_form(status);
            let response = client()
                .post(&server.url("/form"))
                .header("Content-Type", "text/plain")
                .body("the body")
                .await
                .unwrap();
            assert_eq!(response.text().await.unwrap(), "POST the body", "{status}");
            assert_eq!(
                bodies.lock().unwrap().as_slice(),
                [b"the body".to_vec(), b"the body".to_vec()]
            );
            let second = &server.requests()[1];
            assert_eq!(header_of(second, "content-type"), Some("text/plain"));
        }
    });
}

#[test]
fn a_307_with_a_streamed_body_is_refused_with_the_reason() {
    run(|| async {
        let (server, bodies) = redirecting_form("307 Temporary Redirect");
        let result = client()
            .post(&server.url("/form"))
            .body_reader(Trickle::new(b"once only".to_vec(), 4))
            .await;
        let Err(e) = result else {
            panic!("expected BodyNotReplayable, got {result:?}");
        };
        assert_matches!(e, Error::BodyNotReplayable { status: 307, ref to } if to.ends_with("/done"));
        assert!(e.to_string().contains("stream"), "{e}");
        assert_eq!(server.request_lines(), ["POST /form HTTP/1.1"]);
        assert_eq!(bodies.lock().unwrap().as_slice(), [b"once only".to_vec()]);
    });
}

#[test]
fn a_413_before_the_upload_finished_is_the_response() {
    run(|| async {
        let server = serve(|index, peer| {
            let Some(head) = peer.read_head() else { return };
            if index == 0 {
                assert_eq!(header_of(&head, "content-length"), Some("17179869184"));
                peer.send(
                    b"HTTP/1.1 413 Content Too Large\r\nContent-Length: 9\r\n\
                      Connection: close\r\n\r\ntoo large",
                );
                // Keep reading (and dropping) what comes, as nginx's lingering close does.
                peer.wait_close();
            } else {
                peer.send(&ok("fresh"));
            }
        });
        let client = client();
        let given = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let response = client
            .put(&server.url("/big"))
            .body_reader_with_length(Zeros(given.clone()), 16 << 30)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 413);
        assert_eq!(response.text().await.unwrap(), "too large");
        let given = given.load(Ordering::SeqCst);
        assert!(
            given < 1 << 30,
            "the upload went on after the answer: {given} bytes"
        );
        // That connection is not reused.
        let (status, body) = fetch(&client, &server.url("/next")).await.unwrap();
        assert_eq!((status, body.as_slice()), (200, &b"fresh"[..]));
        assert_eq!(server.accepted(), 2);
    });
}

#[test]
fn a_401_in_the_middle_of_a_body_is_the_response() {
    run(|| async {
        let server = serve(|_, peer| {
            if peer.read_head().is_none() {
                return;
            }
            // Read a part of the body, then refuse the rest.
            peer.read_exact(256 * 1024);
            peer.send(
                b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer\r\n\
                  Content-Length: 0\r\n\r\n",
            );
            // Read no more: a client that only writes would block on full buffers until its
            // idle timeout; one that watches has its answer.
            thread::sleep(Duration::from_secs(8));
        });
        let client = client();
        let response = client
            .post(&server.url("/upload"))
            .body(vec![7u8; 64 << 20])
            .await
            .unwrap();
        assert_eq!(response.status(), 401);
        assert_eq!(response.header_str("www-authenticate"), Some("Bearer"));
        assert!(response.bytes().await.unwrap().is_empty());
    });
}

#[test]
fn an_interim_100_during_the_upload_does_not_stop_it() {
    run(|| async {
        let server = serve(|_, peer| {
            let Some(head) = peer.read_head() else { return };
            assert_eq!(header_of(&head, "content-length"), Some("4194304"));
            peer.read_exact(64 * 1024);
            peer.send(b"HTTP/1.1 100 Continue\r\n\r\n");
            // The rest of the 4 MiB body, after the interim answer.
            if let Some(rest) = peer.read_exact((4 << 20) - 64 * 1024) {
                peer.send(&ok(&rest.len().to_string()));
            }
        });
        let response = client()
            .post(&server.url("/upload"))
            .body(vec![1u8; 4 << 20])
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.text().await.unwrap(), (4_128_768).to_string());
    });
}

/// A server whose first connection answers one GET, then waits for the next request and
/// closes without answering it (the stale keep-alive race, made certain); later connections
/// answer every request.
fn stale_after_one() -> Server {
    serve(|index, peer| {
        if index == 0 {
            peer.read_head();
            peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst");
            let mut probe = [0u8; 1];
            let _ = peer.stream.peek(&mut probe);
        } else {
            while let Some(head) = peer.read_head() {
                if peer.read_body(&head).is_none() || !peer.send(&ok("second")) {
                    return;
                }
            }
        }
    })
}

#[test]
fn a_post_is_not_sent_again_after_a_stale_connection() {
    run(|| async {
        let server = stale_after_one();
        let client = client();
        fetch(&client, &server.url("/1")).await.unwrap();
        let result = client.post(&server.url("/order")).body("one pizza").await;
        assert_matches!(result, Err(Error::Io(_)));
        assert_eq!(server.accepted(), 1, "the POST was sent again");
    });
}

#[test]
fn a_put_or_a_post_allowed_to_retry_is_sent_again_after_a_stale_connection() {
    run(|| async {
        let server = stale_after_one();
        let client = client();
        fetch(&client, &server.url("/1")).await.unwrap();
        let response = client.put(&server.url("/doc")).body("v2").await.unwrap();
        assert_eq!(response.text().await.unwrap(), "second");
        assert_eq!(server.accepted(), 2);

        let server = stale_after_one();
        fetch(&client, &server.url("/1")).await.unwrap();
        let response = client
            .post(&server.url("/order"))
            .header("Idempotency-Key", "k-1")
            .retry_on_stale(true)
            .body("one pizza")
            .await
            .unwrap();
        assert_eq!(response.text().await.unwrap(), "second");
        assert_eq!(server.accepted(), 2);
    });
}

#[test]
fn a_streamed_put_is_not_sent_again_after_a_stale_connection() {
    run(|| async {
        let server = stale_after_one();
        let client = client();
        fetch(&client, &server.url("/1")).await.unwrap();
        let result = client
            .put(&server.url("/doc"))
            .body_reader(futures::io::Cursor::new(b"v2".to_vec()))
            .await;
        assert_matches!(result, Err(Error::Io(_)));
        assert_eq!(server.accepted(), 1);
    });
}

#[test]
fn a_conditional_get_gets_a_304_without_a_body() {
    run(|| async {
        let server = serve_http(|head| {
            if header_of(head, "if-none-match") == Some("\"v1\"")
                && header_of(head, "if-modified-since") == Some("Wed, 21 Oct 2015 07:28:00 GMT")
            {
                b"HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\n\r\n".to_vec()
            } else {
                b"HTTP/1.1 200 OK\r\nETag: \"v1\"\r\n\
                  Last-Modified: Wed, 21 Oct 2015 07:28:00 GMT\r\nContent-Length: 5\r\n\r\nhello"
                    .to_vec()
            }
        });
        let client = client();
        let first = client.get(&server.url("/page")).await.unwrap();
        let etag = first.etag().unwrap().to_string();
        let last_modified = first.last_modified().unwrap().to_string();
        assert_eq!(etag, "\"v1\"");
        assert_eq!(first.text().await.unwrap(), "hello");
        let again = client
            .request(wisp::http::Method::Get, &server.url("/page"))
            .if_none_match(etag)
            .if_modified_since(last_modified)
            .await
            .unwrap();
        assert_eq!(again.status(), 304);
        assert_eq!(again.etag(), Some("\"v1\""));
        assert!(again.bytes().await.unwrap().is_empty());
        // A 304 has no body, so the connection went back to the pool.
        fetch(&client, &server.url("/page")).await.unwrap();
        assert_eq!(server.accepted(), 1);

        let when = std::time::UNIX_EPOCH + Duration::from_secs(784_111_777);
        client
            .request(wisp::http::Method::Get, &server.url("/page"))
            .if_modified_since_time(when)
            .await
            .unwrap();
        let head = server.requests().pop().unwrap();
        assert_eq!(
            header_of(&head, "if-modified-since"),
            Some("Sun, 06 Nov 1994 08:49:37 GMT")
        );
    });
}

#[test]
fn a_body_stream_that_gives_nothing_ends_with_the_idle_timeout() {
    let server = serve(|_, peer| {
        peer.read_head();
        peer.wait_close();
    });
    let url = server.url("/upload");
    let (result, took) = watchdog(30, move || {
        wisp::test::block_on(async move {
            struct Stuck;
            impl futures::io::AsyncRead for Stuck {
                fn poll_read(
                    self: std::pin::Pin<&mut Self>,
                    _: &mut std::task::Context<'_>,
                    _: &mut [u8],
                ) -> std::task::Poll<std::io::Result<usize>> {
                    std::task::Poll::Pending
                }
            }
            let client = Client::builder()
                .idle_timeout(Duration::from_secs(7))
                .build()
                .unwrap();
            let start = wisp::time::now();
            let result = client.post(&url).body_reader(Stuck).await;
            (result, wisp::time::now() - start)
        })
    });
    assert_matches!(result, Err(Error::Timeout { phase: Phase::Idle }));
    assert!(
        took >= Duration::from_secs(7) && took < Duration::from_secs(8),
        "{took:?}"
    );
}
