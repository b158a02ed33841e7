//! HTTP/1.1 client throughput: `wisp::http::Client` on wisp vs reqwest 0.12 on tokio
//! (current_thread + LocalSet), fetching pages from one in-process server over 64 keep-alive
//! connections, interleaved rounds. See `common` for the method.
//!
//! The server is the same for both clients: plain std threads (one accept thread, one blocking
//! thread per connection) that scan each request head for `\r\n\r\n` and answer from a
//! preallocated response, with keep-alive. It never runs on the client's runtime; on a 2-core
//! machine its threads do compete with the client for CPU.
//!
//! The HTTPS row uses a second instance of that server whose connections are blocking rustls
//! streams (`StreamOwned`, ring provider) with a certificate for 127.0.0.1 made at startup by
//! rcgen and signed by a bench CA that both clients are told to trust. The handshakes happen
//! in the untimed warm-up, so the row measures requests over established TLS connections, not
//! handshakes.
//!
//! Each run builds a fresh runtime and client, opens the 64 connections with 64 concurrent
//! warm-up requests (untimed; each holds its response until all 64 have one, so 64 connections
//! are open whatever order the tasks run in), then times 64 tasks fetching their share of the pages one after
//! another. Both clients stream the body (`chunk()` loops) and check its length and the status.
//! The POST row sends 1 KiB bodies (`Content-Length`) to `/post`, which the server reads whole
//! before it answers `ok`. Both clients run with the same policy: connect 10 s, read/idle 30 s,
//! total 120 s, no `Accept-Encoding`.
//! The server counts the connections it accepts, so a client that opens more than 64 shows.
//!
//! `WISP_BENCH_ROUNDS` (default 5) and `WISP_BENCH_SCALE` (default 1.0, scales the page count)
//! tune it.

mod common;

use std::cell::Cell;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use common::{Metric, Rt, RunFn, Tokio, Wisp, measure_pair, median, print_pair_table, scaled};
use futures_rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use futures_rustls::rustls::{self, ServerConfig, ServerConnection, StreamOwned};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};

/// Pages per run at scale 1.
const PAGES: usize = 20_000;
/// Concurrent workers, hence keep-alive connections.
const CONNS: usize = 64;
const SMALL: usize = 1024;
const LARGE: usize = 100 * 1024;
const PEER: &str = "reqwest";
/// The POST row's request body.
static POST_BODY: [u8; 1024] = [b'x'; 1024];
/// The POST row's "page size": its answer's body, `ok`.
const POST: usize = 2;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const READ_TIMEOUT: Duration = Duration::from_secs(30);
const TOTAL_TIMEOUT: Duration = Duration::from_secs(120);

// ---------------------------------------------------------------------------------------------
// The server.

struct Server {
    addr: SocketAddr,
    /// Connections accepted since the process started.
    accepted: Arc<AtomicUsize>,
}

/// The process's plain-HTTP server (`tls` false) or HTTPS server (`tls` true), started on
/// first use.
fn server(tls: bool) -> &'static Server {
    static HTTP: OnceLock<Server> = OnceLock::new();
    static HTTPS: OnceLock<Server> = OnceLock::new();
    if tls {
        HTTPS.get_or_init(|| start_server(Some(pki().server.clone())))
    } else {
        HTTP.get_or_init(|| start_server(None))
    }
}

fn accepted(tls: bool) -> usize {
    server(tls).accepted.load(Ordering::SeqCst)
}

/// The bench's certificates: a CA (its PEM is what the clients trust) and the server's
/// configuration with a certificate for 127.0.0.1 signed by it.
struct Pki {
    ca_pem: String,
    server: Arc<ServerConfig>,
}

fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| {
        let ca_key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "wisp bench CA");
        let ca = params.self_signed(&ca_key).unwrap();

        let key = KeyPair::generate().unwrap();
        // rcgen makes an IP address SAN of a name that parses as one.
        let cert = CertificateParams::new(vec!["127.0.0.1".to_string()])
            .unwrap()
            .signed_by(&key, &ca, &ca_key)
            .unwrap();
        let chain = vec![CertificateDer::from(cert.der().to_vec())];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
        Pki {
            ca_pem: ca.pem(),
            server: Arc::new(config),
        }
    })
}

/// `HTTP/1.1 200 OK` with a body of `size` bytes of HTML-looking text, head and body in one
/// buffer so each answer is one `write_all`.
fn response(size: usize) -> Vec<u8> {
    let mut out =
        format!("HTTP/1.1 200 OK\r\nContent-Length: {size}\r\nContent-Type: text/html\r\n\r\n")
            .into_bytes();
    let filler = b"<p>wisp bench page, nothing to see here.</p>\n";
    out.extend(filler.iter().cycle().take(size));
    out
}

fn start_server(tls: Option<Arc<ServerConfig>>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the bench server");
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    // Target path -> full response.
    let routes: Arc<Vec<(Vec<u8>, Vec<u8>)>> = Arc::new(
        [SMALL, LARGE]
            .iter()
            .map(|&size| (format!("/{size}").into_bytes(), response(size)))
            .collect(),
    );
    let counter = accepted.clone();
    std::thread::Builder::new()
        .name("http-bench-accept".into())
        .spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                counter.fetch_add(1, Ordering::SeqCst);
                let _ = stream.set_nodelay(true);
                let routes = routes.clone();
                let tls = tls.clone();
                std::thread::Builder::new()
                    .name("http-bench-conn".into())
                    // Room for rustls's handshake (the plain loop needs little).
                    .stack_size(if tls.is_some() { 512 } else { 128 } * 1024)
                    .spawn(move || match tls {
                        None => serve(stream, &routes),
                        // Blocking TLS: the handshake runs within the first read.
                        Some(config) => {
                            if let Ok(conn) = ServerConnection::new(config) {
                                serve(StreamOwned::new(conn, stream), &routes);
                            }
                        }
                    })
                    .expect("spawn a server thread");
            }
        })
        .expect("spawn the accept thread");
    Server { addr, accepted }
}

const NOT_FOUND: &[u8] = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";

/// Answers requests on one keep-alive connection (TCP, or TLS over TCP) until the client
/// closes it. A request with a `Content-Length` body (the POST row) is answered once its body
/// has arrived, and the body is skipped.
fn serve(mut stream: impl Read + Write, routes: &[(Vec<u8>, Vec<u8>)]) {
    let mut buf = vec![0u8; 16 * 1024];
    // Unconsumed request bytes are buf[start..end]; `scanned` is where the search for the end
    // of the head resumes.
    let (mut start, mut end, mut scanned) = (0, 0, 0);
    loop {
        // A complete head whose body has not all arrived: it is found again after the read.
        let mut waiting_for_body = false;
        // Answer every complete request already buffered (pipelining is allowed).
        while let Some(pos) = find_head_end(&buf[scanned.max(start)..end]) {
            let head_end = scanned.max(start) + pos + 4;
            let head = &buf[start..head_end];
            let request_end = head_end + content_length(head);
            if request_end > end {
                waiting_for_body = true;
                break;
            }
            let answer = route(head, routes);
            // `flush` is a no-op on TCP; rustls's `StreamOwned` already sends its records in
            // `write`, and `flush` makes sure none stays buffered.
            if stream
                .write_all(answer)
                .and_then(|()| stream.flush())
                .is_err()
            {
                return;
            }
            start = request_end;
            scanned = start;
        }
        scanned = if waiting_for_body {
            start
        } else {
            end.saturating_sub(3).max(start)
        };
        if start == end {
            (start, end, scanned) = (0, 0, 0);
        } else if end == buf.len() {
            if start == 0 {
                return; // A 16 KiB request: not from our clients.
            }
            buf.copy_within(start..end, 0);
            (end, scanned) = (end - start, scanned - start);
            start = 0;
        }
        match stream.read(&mut buf[end..]) {
            Ok(0) | Err(_) => return,
            Ok(n) => end += n,
        }
    }
}

fn find_head_end(bytes: &[u8]) -> Option<usize> {
    bytes.windows(4).position(|w| w == b"\r\n\r\n")
}

/// The `Content-Length` of a request head (0 without one).
fn content_length(head: &[u8]) -> usize {
    head.split(|&b| b == b'\n')
        .find_map(|line| {
            let (name, value) = line.split_at_checked(line.iter().position(|&b| b == b':')?)?;
            name.eq_ignore_ascii_case(b"content-length")
                .then(|| std::str::from_utf8(&value[1..]).ok()?.trim().parse().ok())?
        })
        .unwrap_or(0)
}

const POST_OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

/// The response for a request head, by its target (`GET /1024 HTTP/1.1`, `POST /post ...`).
fn route<'a>(head: &[u8], routes: &'a [(Vec<u8>, Vec<u8>)]) -> &'a [u8] {
    let mut parts = head.split(|&b| b == b' ');
    match (parts.next(), parts.next()) {
        (Some(b"POST"), Some(b"/post")) => POST_OK,
        (Some(b"GET"), Some(target)) => routes
            .iter()
            .find(|(path, _)| path == target)
            .map_or(NOT_FOUND, |(_, answer)| answer),
        _ => NOT_FOUND,
    }
}

// ---------------------------------------------------------------------------------------------
// The clients.

/// A client on its runtime: build it, send a request, read a body.
trait Fetch: Rt {
    const LABEL: &'static str;
    type Client: Clone + 'static;
    type Response: 'static;

    /// `ca_pem`: the bench CA to trust, for HTTPS.
    fn client(ca_pem: Option<&str>) -> Self::Client;
    /// `GET url` up to the response head; checks the status.
    async fn send(client: &Self::Client, url: &str) -> Self::Response;
    /// `POST url` with [`POST_BODY`] (Content-Length) up to the response head; checks the status.
    async fn send_post(client: &Self::Client, url: &str) -> Self::Response;
    /// Streams the body to its end and returns its length.
    async fn body_len(response: Self::Response) -> usize;

    async fn fetch(client: &Self::Client, url: &str, post: bool) -> usize {
        let response = if post {
            Self::send_post(client, url).await
        } else {
            Self::send(client, url).await
        };
        Self::body_len(response).await
    }
}

impl Fetch for Wisp {
    const LABEL: &'static str = "wisp";
    type Client = wisp::http::Client;
    type Response = wisp::http::Response;

    fn client(ca_pem: Option<&str>) -> Self::Client {
        // The same policy on both sides: these timeouts (wisp's defaults, set on reqwest too)
        // and no Accept-Encoding (reqwest is built without its compression features).
        let mut builder = wisp::http::Client::builder()
            .max_idle(CONNS, CONNS)
            .connect_timeout(CONNECT_TIMEOUT)
            .idle_timeout(READ_TIMEOUT)
            .total_timeout(Some(TOTAL_TIMEOUT))
            .decompress(false);
        if let Some(pem) = ca_pem {
            builder = builder.ca_pem(pem);
        }
        builder.build().unwrap()
    }

    async fn send(client: &Self::Client, url: &str) -> Self::Response {
        let response = client.get(url).await.unwrap();
        assert_eq!(response.status(), 200);
        response
    }

    async fn send_post(client: &Self::Client, url: &str) -> Self::Response {
        let response = client.post(url).body(&POST_BODY[..]).send().await.unwrap();
        assert_eq!(response.status(), 200);
        response
    }

    async fn body_len(mut response: Self::Response) -> usize {
        let mut len = 0;
        while let Some(piece) = response.chunk().await.unwrap() {
            len += piece.len();
        }
        len
    }
}

impl Fetch for Tokio {
    const LABEL: &'static str = PEER;
    type Client = reqwest::Client;
    type Response = reqwest::Response;

    fn client(ca_pem: Option<&str>) -> Self::Client {
        let mut builder = reqwest::Client::builder()
            .pool_max_idle_per_host(CONNS)
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(READ_TIMEOUT)
            .timeout(TOTAL_TIMEOUT)
            .no_proxy();
        if let Some(pem) = ca_pem {
            builder = builder
                .use_rustls_tls()
                .add_root_certificate(reqwest::Certificate::from_pem(pem.as_bytes()).unwrap());
        }
        builder.build().unwrap()
    }

    async fn send(client: &Self::Client, url: &str) -> Self::Response {
        let response = client.get(url).send().await.unwrap();
        assert_eq!(response.status(), 200);
        response
    }

    async fn send_post(client: &Self::Client, url: &str) -> Self::Response {
        let response = client.post(url).body(&POST_BODY[..]).send().await.unwrap();
        assert_eq!(response.status(), 200);
        response
    }

    async fn body_len(mut response: Self::Response) -> usize {
        let mut len = 0;
        while let Some(piece) = response.chunk().await.unwrap() {
            len += piece.len();
        }
        len
    }
}

/// Connections the server accepted per run: (HTTPS, client, page size) -> [(whole run, timed
/// part)].
type ConnLog = BTreeMap<(bool, &'static str, usize), Vec<(usize, usize)>>;

fn conn_log() -> &'static Mutex<ConnLog> {
    static LOG: OnceLock<Mutex<ConnLog>> = OnceLock::new();
    LOG.get_or_init(Default::default)
}

/// A fresh client's run: 64 concurrent warm-up requests, each holding its response (so its
/// connection) until all 64 have one, which forces 64 connections open whatever order the
/// tasks run in; then `mark()` (untimed); then the pages fetched by 64 tasks, each its share in
/// sequence. Returns the timed part's duration and what `mark` returned.
async fn timed_pages<C: Fetch, const SIZE: usize, T>(
    ca_pem: Option<&'static str>,
    url: Arc<str>,
    post: bool,
    mark: impl FnOnce() -> T,
) -> (Duration, T) {
    let pages = scaled(PAGES, CONNS);
    let client = C::client(ca_pem);
    let holding = Rc::new(Cell::new(0));
    let warmup: Vec<_> = (0..CONNS)
        .map(|_| {
            let (client, url, holding) = (client.clone(), url.clone(), holding.clone());
            C::spawn(async move {
                let response = if post {
                    C::send_post(&client, &url).await
                } else {
                    C::send(&client, &url).await
                };
                holding.set(holding.get() + 1);
                while holding.get() < CONNS {
                    C::yield_now().await;
                }
                C::body_len(response).await
            })
        })
        .collect();
    for task in warmup {
        assert_eq!(task.await, SIZE);
    }
    let marked = mark();
    let start = Instant::now();
    let workers: Vec<_> = (0..CONNS)
        .map(|i| {
            let share = pages / CONNS + usize::from(i < pages % CONNS);
            let (client, url) = (client.clone(), url.clone());
            C::spawn(async move {
                for _ in 0..share {
                    assert_eq!(C::fetch(&client, &url, post).await, SIZE);
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await;
    }
    (start.elapsed(), marked)
}

/// One run: fresh runtime and client, 64 concurrent warm-up requests (untimed), then the pages
/// fetched by 64 tasks. Returns pages/s. `TLS`: over HTTPS (handshakes in the warm-up).
///
/// `SIZE` is the page size, or [`POST`] for 1 KiB POSTs answered with `ok`.
fn run<C: Fetch, const SIZE: usize, const TLS: bool>() -> Vec<f64> {
    let scheme = if TLS { "https" } else { "http" };
    let post = SIZE == POST;
    let path = if post {
        "post".to_string()
    } else {
        SIZE.to_string()
    };
    let url: Arc<str> = format!("{scheme}://{}/{path}", server(TLS).addr).into();
    let ca_pem = TLS.then(|| pki().ca_pem.as_str());
    let pages = scaled(PAGES, CONNS);
    let before = accepted(TLS);
    let (elapsed, after_warmup) = C::run(timed_pages::<C, SIZE, _>(ca_pem, url, post, || {
        accepted(TLS)
    }));
    let after = accepted(TLS);
    conn_log()
        .lock()
        .unwrap()
        .entry((TLS, C::LABEL, SIZE))
        .or_default()
        .push((after - before, after - after_warmup));
    eprintln!(
        "    connections accepted, {} {scheme} {SIZE} B: {} in the run, {} in its timed part",
        C::LABEL,
        after - before,
        after - after_warmup
    );
    vec![pages as f64 / elapsed.max(Duration::from_nanos(1)).as_secs_f64()]
}

// ---------------------------------------------------------------------------------------------
// Against nginx: the same pages from Debian's nginx (one worker), which is not the bottleneck
// the std-thread server is; beside reqwest, a hand-written httparse client on wisp's own
// sockets (the limit for this design: no pool, no timeouts, no decoder) and wrk.

/// A running nginx serving `/1024` and `/102400`; killed when the process ends its `main`.
struct Nginx {
    addr: SocketAddr,
    child: std::process::Child,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The nginx binary, if installed (`WISP_BENCH_NGINX=0` skips the section).
fn nginx_binary() -> Option<&'static str> {
    if std::env::var("WISP_BENCH_NGINX").is_ok_and(|v| v == "0") {
        return None;
    }
    ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
}

fn start_nginx(binary: &str) -> Nginx {
    let dir = std::env::temp_dir().join(format!("wisp-bench-nginx-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("root")).unwrap();
    for size in [SMALL, LARGE] {
        let page = response(size);
        let body = &page[page.len() - size..];
        std::fs::write(dir.join("root").join(size.to_string()), body).unwrap();
    }
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let conf = format!(
        "worker_processes 1;\ndaemon off;\nmaster_process off;\nuser root;\n\
         error_log {dir}/error.log warn;\npid {dir}/nginx.pid;\n\
         events {{ worker_connections 1024; }}\n\
         http {{ access_log off; keepalive_requests 10000000; keepalive_timeout 120s;\n\
         client_body_temp_path {dir}/body; proxy_temp_path {dir}/proxy;\n\
         fastcgi_temp_path {dir}/fastcgi; uwsgi_temp_path {dir}/uwsgi; scgi_temp_path {dir}/scgi;\n\
         default_type text/html;\n\
         server {{ listen 127.0.0.1:{port}; root {dir}/root; location / {{ }} }} }}\n",
        dir = dir.display()
    );
    let conf_path = dir.join("nginx.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let child = std::process::Command::new(binary)
        .arg("-p")
        .arg(&dir)
        .arg("-c")
        .arg(&conf_path)
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start nginx");
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let start = Instant::now();
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "nginx did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Nginx { addr, child }
}

static NGINX: OnceLock<SocketAddr> = OnceLock::new();

fn nginx_addr() -> SocketAddr {
    *NGINX.get().expect("nginx started in main")
}

/// One run of a client against nginx: as [`run`], from nginx.
fn run_nginx<C: Fetch, const SIZE: usize>() -> Vec<f64> {
    let url: Arc<str> = format!("http://{}/{SIZE}", nginx_addr()).into();
    let pages = scaled(PAGES, CONNS);
    let (elapsed, ()) = C::run(timed_pages::<C, SIZE, _>(None, url, false, || ()));
    vec![pages as f64 / elapsed.max(Duration::from_nanos(1)).as_secs_f64()]
}

/// The hand-written client: one wisp `TcpStream` per worker, the request written whole, the
/// head parsed by httparse, the `Content-Length` body read in pieces of up to 64 KiB and
/// dropped. No pool, no timeouts, no decoder, no redirects: what wisp's sockets allow.
struct RawConn {
    stream: wisp::net::TcpStream,
    request: Vec<u8>,
    buf: Vec<u8>,
}

impl RawConn {
    async fn connect(addr: SocketAddr, path: &str) -> RawConn {
        let stream = wisp::net::TcpStream::connect(addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: raw\r\nAccept: */*\r\n\r\n"
        )
        .into_bytes();
        RawConn {
            stream,
            request,
            buf: vec![0; 64 * 1024],
        }
    }

    /// One GET; returns the body's length.
    async fn get(&mut self) -> usize {
        self.stream.write_all(&self.request).await.unwrap();
        let mut end = 0;
        let (head_len, body_len) = loop {
            let n = self.stream.read(&mut self.buf[end..]).await.unwrap();
            assert!(n > 0, "nginx closed the connection");
            end += n;
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut response = httparse::Response::new(&mut headers);
            if let httparse::Status::Complete(head_len) = response.parse(&self.buf[..end]).unwrap()
            {
                assert_eq!(response.code, Some(200));
                let len = response
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                    .map(|h| {
                        std::str::from_utf8(h.value)
                            .unwrap()
                            .parse::<usize>()
                            .unwrap()
                    })
                    .unwrap();
                break (head_len, len);
            }
        };
        let mut remaining = body_len - (end - head_len);
        while remaining > 0 {
            let want = remaining.min(self.buf.len());
            let n = self.stream.read(&mut self.buf[..want]).await.unwrap();
            assert!(n > 0, "nginx closed the connection mid-body");
            remaining -= n;
        }
        body_len
    }
}

fn run_raw<const SIZE: usize>() -> Vec<f64> {
    let addr = nginx_addr();
    let pages = scaled(PAGES, CONNS);
    let elapsed = Wisp::run(async move {
        let path = format!("/{SIZE}");
        let mut conns = Vec::new();
        for _ in 0..CONNS {
            let mut conn = RawConn::connect(addr, &path).await;
            assert_eq!(conn.get().await, SIZE);
            conns.push(conn);
        }
        let start = Instant::now();
        let workers: Vec<_> = conns
            .into_iter()
            .enumerate()
            .map(|(i, mut conn)| {
                let share = pages / CONNS + usize::from(i < pages % CONNS);
                wisp::spawn(async move {
                    for _ in 0..share {
                        assert_eq!(conn.get().await, SIZE);
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.await;
        }
        start.elapsed()
    });
    vec![pages as f64 / elapsed.max(Duration::from_nanos(1)).as_secs_f64()]
}

/// `wrk -t1 -c64 -d2s` against nginx: its Requests/sec.
fn run_wrk<const SIZE: usize>() -> Vec<f64> {
    let url = format!("http://{}/{SIZE}", nginx_addr());
    let out = std::process::Command::new("wrk")
        .args(["-t1", "-c64", "-d2s", &url])
        .output()
        .expect("run wrk");
    let text = String::from_utf8_lossy(&out.stdout);
    let rate = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no Requests/sec in wrk's output: {text}"));
    vec![rate]
}

fn have_wrk() -> bool {
    std::process::Command::new("wrk")
        .arg("--version")
        .output()
        .is_ok()
}

/// The nginx section: wisp against reqwest, the hand-written client and wrk.
fn nginx_section(rounds: usize) {
    let Some(binary) = nginx_binary() else {
        println!(
            "(nginx not installed: the nginx section is skipped; `apt-get install nginx-light wrk`)"
        );
        return;
    };
    let nginx = start_nginx(binary);
    NGINX.set(nginx.addr).unwrap();
    println!(
        "Against nginx {} (one worker, static files, keep-alive): the same 64-connection \
         workload. `hand-written`: an httparse client on wisp's TcpStream (no pool, timeouts or \
         decoder), the limit for this design. `wrk`: wrk -t1 -c64 -d2s (a C load generator; \
         its rate is requests/s).",
        std::process::Command::new(binary)
            .arg("-v")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stderr)
                .trim()
                .replace("nginx version: ", ""))
            .unwrap_or_default()
    );
    let pairs: [(&str, &str, [RunFn; 2]); 4] = [
        (
            "1 KiB pages",
            PEER,
            [run_nginx::<Wisp, SMALL>, run_nginx::<Tokio, SMALL>],
        ),
        (
            "100 KiB pages",
            PEER,
            [run_nginx::<Wisp, LARGE>, run_nginx::<Tokio, LARGE>],
        ),
        (
            "1 KiB pages",
            "hand-written",
            [run_nginx::<Wisp, SMALL>, run_raw::<SMALL>],
        ),
        (
            "100 KiB pages",
            "hand-written",
            [run_nginx::<Wisp, LARGE>, run_raw::<LARGE>],
        ),
    ];
    for peer in [PEER, "hand-written"] {
        let mut rows = Vec::new();
        for (name, _, runs) in pairs.iter().filter(|p| p.1 == peer) {
            let metric = Metric::new(format!("nginx, {name}, {CONNS} conns"), "pages/s", true);
            rows.extend(measure_pair(&[metric], peer, *runs, rounds));
        }
        println!();
        print_pair_table(peer, &rows);
    }
    if have_wrk() {
        let mut rows = Vec::new();
        for (name, runs) in [
            (
                "1 KiB pages",
                [run_nginx::<Wisp, SMALL> as RunFn, run_wrk::<SMALL>],
            ),
            (
                "100 KiB pages",
                [run_nginx::<Wisp, LARGE>, run_wrk::<LARGE>],
            ),
        ] {
            let metric = Metric::new(format!("nginx, {name}, {CONNS} conns"), "pages/s", true);
            rows.extend(measure_pair(&[metric], "wrk", runs, rounds));
        }
        println!();
        print_pair_table("wrk", &rows);
    } else {
        println!("(wrk not installed: no wrk column)");
    }
    drop(nginx);
}

fn main() {
    let rounds = common::rounds();
    let pages = scaled(PAGES, CONNS);
    common::title("http");
    println!(
        "{pages} pages per run over {CONNS} keep-alive connections from an in-process std-thread \
         server (thread per connection, same server for both clients). wisp: `wisp::http::Client` \
         on a wisp Executor; {PEER}: reqwest 0.12 on tokio current_thread + LocalSet. 64 tasks \
         each fetch their share in sequence, bodies streamed and length-checked; 64 warm-up \
         requests per run are not timed. POST row: 1 KiB request bodies with Content-Length, \
         read whole by the server before it answers. Same policy for both: connect 10 s, \
         read/idle 30 s, total 120 s, no Accept-Encoding. NOTE: the server threads share the machine's {} CPUs \
         with the client, so on a 2-core machine they compete for CPU and absolute numbers are \
         server-bound in part.",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "Each cell: median over interleaved rounds (wisp and {PEER} alternate, order rotated each \
         round). wisp/{PEER}: median of per-round ratios of pages/s: > 1 means wisp is better."
    );
    println!();
    println!(
        "HTTPS row: the same server over blocking rustls (ring) with a certificate for 127.0.0.1 \
         from a bench CA both clients trust (wisp: `ca_pem`; {PEER}: rustls-tls, \
         `add_root_certificate`). Its 64 handshakes are in the untimed warm-up: the row measures \
         requests over established TLS connections."
    );
    println!();
    server(false);
    server(true);

    let mut rows = Vec::new();
    let workloads: [(&str, [RunFn; 2]); 4] = [
        (
            "1 KiB pages",
            [run::<Wisp, SMALL, false>, run::<Tokio, SMALL, false>],
        ),
        (
            "100 KiB pages",
            [run::<Wisp, LARGE, false>, run::<Tokio, LARGE, false>],
        ),
        (
            "HTTPS, 1 KiB pages",
            [run::<Wisp, SMALL, true>, run::<Tokio, SMALL, true>],
        ),
        (
            "POST 1 KiB bodies",
            [run::<Wisp, POST, false>, run::<Tokio, POST, false>],
        ),
    ];
    for (name, runs) in workloads {
        let metric = Metric::new(format!("{name}, {CONNS} conns"), "pages/s", true);
        rows.extend(measure_pair(&[metric], PEER, runs, rounds));
    }
    print_pair_table(PEER, &rows);
    println!();
    println!(
        "TARGET (TARGETS.md): wisp >= 1.5x {PEER} (and >= 90 % of wrk, in the nginx section)."
    );
    println!();
    println!(
        "Connections the server accepted per run (median / max over rounds; {CONNS} expected, \
         0 expected during the timed part):"
    );
    for ((tls, label, size), runs) in conn_log().lock().unwrap().iter() {
        let whole: Vec<f64> = runs.iter().map(|r| r.0 as f64).collect();
        let timed: Vec<f64> = runs.iter().map(|r| r.1 as f64).collect();
        let max = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
        let what = if *size == POST {
            "POST 1 KiB".to_string()
        } else {
            format!("{} KiB", size / 1024)
        };
        println!(
            "- {label}, {}{what}: whole run {} / {}, timed part {} / {}",
            if *tls { "HTTPS, " } else { "" },
            median(whole.clone()),
            max(&whole),
            median(timed.clone()),
            max(&timed),
        );
    }
    println!();
    nginx_section(rounds);
}
