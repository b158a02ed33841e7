//! What the crawler's integration tests share: running a crawl and collecting its records, a
//! temporary directory, and a tiny hand-written HTTP server on 127.0.0.1 whose every reply
//! (slow, hanging, broken, garbage) is scripted per request target.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::future::Future;
use std::net::Shutdown;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sha2::{Digest, Sha256};
use url::Url;
use wisp::crawl::{Config, Hooks, Record, Summary, crawl};
use wisp::net::{TcpListener, TcpStream};
use wisp::time::{sleep, timeout};

use super::watchdog;
/// Runs an async test body inside `wisp::block_on` under a 60 s watchdog.
pub fn run<F, Fut>(f: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    watchdog(60, move || wisp::block_on(f()));
}

/// Crawls and collects every record (and foreign link).
pub async fn crawl_all(
    config: &Config,
    seeds: Vec<String>,
    stop: Arc<AtomicBool>,
) -> (Summary, Vec<Record>, Vec<String>) {
    let records = RefCell::new(Vec::new());
    let foreign = RefCell::new(Vec::new());
    let summary = crawl(
        config,
        seeds,
        Hooks {
            on_record: Box::new(|r: &Record| records.borrow_mut().push(r.clone())),
            on_foreign_link: Box::new(|u| foreign.borrow_mut().push(u.to_string())),
            stop,
        },
    )
    .await
    .expect("crawl starts");
    (summary, records.into_inner(), foreign.into_inner())
}

pub fn no_stop() -> Arc<AtomicBool> {
    Arc::new(AtomicBool::new(false))
}

/// Path and query of a URL string (`/a/b?x`), as the demo's expected sets spell them.
pub fn target(url: &str) -> String {
    let u = Url::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"));
    match u.query() {
        Some(q) => format!("{}?{q}", u.path()),
        None => u.path().to_string(),
    }
}

pub fn sha_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Asserts that no URL has two records.
pub fn assert_unique(records: &[Record]) {
    let mut seen = BTreeMap::new();
    for r in records {
        *seen.entry(r.url.as_str()).or_insert(0) += 1;
    }
    let dups: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(dups.is_empty(), "URLs with more than one record: {dups:?}");
}

/// A unique empty directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = std::env::temp_dir().join(format!(
            "wisp-crawl-test-{tag}-{}-{nanos}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// --- A tiny hand-written HTTP server -----------------------------------------------------------

/// What the test server does for one request.
pub enum Reply {
    /// Writes these bytes, then closes.
    Bytes(Vec<u8>),
    /// Waits, then writes these bytes and closes.
    Delayed(Duration, Vec<u8>),
    /// Headers with a large Content-Length, then one byte per 200 ms, forever.
    Slow,
    /// An endless chunked body.
    Huge,
    /// Content-Length 1000, 100 bytes, then the connection is closed.
    Reset,
    /// Bytes that are not HTTP at all.
    Garbage,
    /// Never answers (until the client goes away).
    Hang,
}

pub fn response(status: &str, content_type: &str, extra: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Connection: close\r\n{extra}\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

pub fn html_page(hrefs: &[&str]) -> Reply {
    let mut body = String::from("<!DOCTYPE html><html><body><ul>\n");
    for h in hrefs {
        body.push_str(&format!("<li><a href=\"{h}\">link</a></li>\n"));
    }
    body.push_str("</ul></body></html>\n");
    Reply::Bytes(response(
        "200 OK",
        "text/html; charset=utf-8",
        "",
        body.as_bytes(),
    ))
}

pub fn not_found() -> Reply {
    Reply::Bytes(response("404 Not Found", "text/plain", "", b"not found\n"))
}

/// A running test server: its root URL, the request targets it saw and its connection count.
#[derive(Clone)]
pub struct Server {
    pub root: String,
    pub port: u16,
    pub hits: Rc<RefCell<Vec<String>>>,
    pub conns: Rc<Cell<usize>>,
}

impl Server {
    pub fn hits_of(&self, target: &str) -> usize {
        self.hits.borrow().iter().filter(|t| *t == target).count()
    }

    /// How many connections were made to this server before this call, counted exactly: a
    /// probe connection made now is accepted after every connection established before it (the
    /// kernel's accept queue is first in, first out), so once the server has read the probe's
    /// request, every earlier connection has been counted too. (Reading `conns` right after a
    /// crawl may miss a connection the server task has not accepted yet.)
    pub async fn conns_before_a_probe(&self) -> usize {
        let probe = TcpStream::connect(("127.0.0.1", self.port)).await.unwrap();
        probe
            .write_all(b"GET /conns-probe HTTP/1.1\r\nHost: probe\r\n\r\n")
            .await
            .unwrap();
        let start = std::time::Instant::now();
        while self.hits_of("/conns-probe") == 0 {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "the probe was never read"
            );
            sleep(Duration::from_millis(1)).await;
        }
        self.conns.get() - 1
    }
}

pub async fn bind() -> (TcpListener, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

/// Serves `handler` (request target -> reply) on `listener`, one request per connection.
pub fn serve(listener: TcpListener, handler: impl Fn(&str) -> Reply + 'static) -> Server {
    let port = listener.local_addr().unwrap().port();
    let server = Server {
        root: format!("http://127.0.0.1:{port}/"),
        port,
        hits: Rc::default(),
        conns: Rc::default(),
    };
    let handler = Rc::new(handler);
    let (hits, conns) = (server.hits.clone(), server.conns.clone());
    wisp::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                sleep(Duration::from_millis(10)).await;
                continue;
            };
            conns.set(conns.get() + 1);
            let (handler, hits) = (handler.clone(), hits.clone());
            wisp::spawn(async move {
                let Some(target) = read_head(&stream).await else {
                    return;
                };
                hits.borrow_mut().push(target.clone());
                let reply = handler(&target);
                answer(&stream, reply).await;
            })
            .detach();
        }
    })
    .detach();
    server
}

/// Reads a request head; returns its target.
pub async fn read_head(stream: &TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = timeout(Duration::from_secs(10), stream.read(&mut chunk))
            .await
            .ok()?
            .ok()?;
        if n == 0 || buf.len() > 64 * 1024 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let head = String::from_utf8_lossy(&buf).into_owned();
    let line = head.lines().next()?;
    Some(line.split(' ').nth(1)?.to_string())
}

pub async fn answer(stream: &TcpStream, reply: Reply) {
    match reply {
        Reply::Bytes(bytes) => {
            let _ = stream.write_all(&bytes).await;
            linger(stream).await;
        }
        Reply::Delayed(d, bytes) => {
            sleep(d).await;
            let _ = stream.write_all(&bytes).await;
            linger(stream).await;
        }
        Reply::Slow => {
            let head = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100000\r\n\
                        Connection: close\r\n\r\n";
            if stream.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            loop {
                sleep(Duration::from_millis(200)).await;
                if stream.write_all(b"x").await.is_err() {
                    return;
                }
            }
        }
        Reply::Huge => {
            let head = "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\
                        Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
            if stream.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            let mut piece = b"4000\r\n".to_vec();
            piece.extend_from_slice(&[b'z'; 0x4000]);
            piece.extend_from_slice(b"\r\n");
            // Bounded so a client that never stops reading cannot keep this task alive forever.
            for _ in 0..100_000 {
                if stream.write_all(&piece).await.is_err() {
                    return;
                }
            }
        }
        Reply::Reset => {
            let mut bytes =
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\
                              Connection: close\r\n\r\n"
                    .to_vec();
            bytes.extend_from_slice(&[b'r'; 100]);
            let _ = stream.write_all(&bytes).await;
            let _ = stream.shutdown(Shutdown::Both);
        }
        Reply::Garbage => {
            let _ = stream
                .write_all(b"SSH-2.0-OpenSSH_9.6\r\n\x00\x01\x02 this is not HTTP\r\n\r\n")
                .await;
            linger(stream).await;
        }
        Reply::Hang => {
            let mut buf = [0u8; 64];
            // Until the client closes (read returns 0 or fails).
            while let Ok(n) = stream.read(&mut buf).await {
                if n == 0 {
                    break;
                }
            }
        }
    }
}

/// Closes the write side, then drains what the client still sends for a moment.
pub async fn linger(stream: &TcpStream) {
    let _ = stream.shutdown(Shutdown::Write);
    let mut buf = [0u8; 1024];
    let _ = timeout(Duration::from_millis(500), async {
        while let Ok(n) = stream.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
}

/// A listener that only counts connections (and answers 404).
pub fn counting_server(listener: TcpListener) -> Server {
    serve(listener, |_| not_found())
}

/// Reads a request head from a blocking stream: up to the blank line, 64 KiB at most, or
/// what came before the peer stopped or the read timed out.
pub fn read_head_blocking(stream: &mut impl std::io::Read) -> String {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 64 * 1024 {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// Serves `handler` (request target -> the whole response) on 127.0.0.1 from a thread of its
/// own, with blocking std sockets, for as long as the test process lives: for tests that run
/// the crawl program, another process. One request per connection, one connection at a time
/// (the others wait in the backlog). Returns the port and every request head read, in order.
pub fn serve_on_thread(
    handler: impl Fn(&str) -> Vec<u8> + Send + 'static,
) -> (u16, Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::Write;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let heads = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = heads.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            // A client that connects and says nothing cannot stall the others for long.
            let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
            let head = read_head_blocking(&mut stream);
            let Some(target) = head.split(' ').nth(1).map(str::to_string) else {
                continue;
            };
            seen.lock().unwrap().push(head);
            let _ = stream.write_all(&handler(&target));
            let _ = stream.shutdown(Shutdown::Both);
        }
    });
    (port, heads)
}

/// Runs the crawl program with `args` and no stdin to its end, under a watchdog (a hang fails
/// the test); returns what it printed and its status.
pub fn crawl_binary(args: &[&str]) -> std::process::Output {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    watchdog(120, move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_crawl"))
            .args(&args)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    })
}
