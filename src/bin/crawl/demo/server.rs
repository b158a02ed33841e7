//! The demo site's HTTP/1.1 server: every connection is a task on the current wisp executor.
//!
//! Requests are parsed with `httparse`; every complete request in the buffer is answered before
//! the answers are written in one go (pipelining), and connections are kept alive unless the
//! client says otherwise (`Connection: close`, or HTTP/1.0 without `keep-alive`). `GET` and
//! `HEAD` are served; another method gets `405` and the connection stays open. A malformed
//! request gets `400`, a head over 8 KiB or with more than 64 headers `431`, a request with a
//! body is answered and the connection closed; a connection idle for 10 s is closed.

use std::io;
use std::net::Shutdown;
use std::sync::Arc;
use std::time::Duration;

use wisp::net::{TcpListener, TcpStream};

use super::{Resource, Site};

/// The longest request head accepted; a longer one gets `431` and the connection is closed.
const MAX_HEAD: usize = 8 * 1024;
/// Headers parsed per request; more is answered like an over-long head.
const MAX_HEADERS: usize = 64;
/// A connection silent for this long is closed.
const IDLE: Duration = Duration::from_secs(10);
/// When the server closes a connection, it reads (and drops) what the client still sends for at
/// most this long, so the kernel does not answer unread data with a reset that loses the reply.
const LINGER: Duration = Duration::from_millis(500);

/// Binds 127.0.0.1:0, spawns the accept loop on the current executor, returns the root URL.
pub(super) async fn serve(site: Arc<Site>) -> io::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    wisp::spawn(accept_loop(site, listener)).detach();
    Ok(format!("http://{addr}/"))
}

async fn accept_loop(site: Arc<Site>, listener: TcpListener) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                let site = Arc::clone(&site);
                wisp::spawn(async move { serve_conn(&site, stream).await }).detach();
            }
            // Out of file descriptors and the like: wait a little instead of spinning.
            Err(_) => wisp::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

/// Does the `Connection` header (any of them) hold the token `token`?
fn has_token(req: &httparse::Request<'_, '_>, token: &str) -> bool {
    req.headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("connection"))
        .flat_map(|h| h.value.split(|&b| b == b','))
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
}

/// Answers one parsed request into `out`; returns whether the connection must close after it.
fn respond(site: &Site, req: &httparse::Request<'_, '_>, out: &mut Vec<u8>) -> bool {
    let keep_alive = if req.version == Some(0) {
        has_token(req, "keep-alive")
    } else {
        !has_token(req, "close")
    };
    // A request body is not expected here; rather than frame it, answer and close.
    let has_body = req.headers.iter().any(|h| {
        h.name.eq_ignore_ascii_case("transfer-encoding")
            || (h.name.eq_ignore_ascii_case("content-length") && h.value.trim_ascii() != b"0")
    });
    let close = !keep_alive || has_body;
    let method = req.method.unwrap_or("");
    let path = req.path.unwrap_or("");
    let (resource, with_body) = match method {
        "GET" | "HEAD" => (
            site.lookup(path)
                .unwrap_or(std::borrow::Cow::Borrowed(&site.not_found)),
            method == "GET",
        ),
        _ => (std::borrow::Cow::Borrowed(&site.method_not_allowed), true),
    };
    resource.write_to(out, with_body, close);
    close
}

async fn serve_conn(site: &Site, stream: TcpStream) {
    let mut buf = vec![0u8; MAX_HEAD];
    let mut filled = 0;
    let mut out = Vec::with_capacity(4096);
    loop {
        // Answer every complete request in the buffer (pipelining), then write them at once.
        let mut start = 0;
        let mut close = false;
        while !close {
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut req = httparse::Request::new(&mut headers);
            match req.parse(&buf[start..filled]) {
                Ok(httparse::Status::Complete(n)) => {
                    close = respond(site, &req, &mut out);
                    start += n;
                }
                Ok(httparse::Status::Partial) => {
                    if start == 0 && filled == buf.len() {
                        site.head_too_large.write_to(&mut out, true, true);
                        close = true;
                    }
                    break;
                }
                Err(httparse::Error::TooManyHeaders) => {
                    site.head_too_large.write_to(&mut out, true, true);
                    close = true;
                }
                Err(_) => {
                    site.bad_request.write_to(&mut out, true, true);
                    close = true;
                }
            }
        }
        if !out.is_empty() {
            if stream.write_all(&out).await.is_err() {
                return;
            }
            out.clear();
        }
        if close {
            linger(&stream, &mut buf).await;
            return;
        }
        buf.copy_within(start..filled, 0);
        filled -= start;
        match wisp::time::timeout(IDLE, stream.read(&mut buf[filled..])).await {
            Ok(Ok(n)) if n > 0 => filled += n,
            _ => return,
        }
    }
}

/// Closes our side, then reads what the client still sends for a short while, so the reply is
/// not lost to a reset caused by unread data.
async fn linger(stream: &TcpStream, buf: &mut [u8]) {
    let _ = stream.shutdown(Shutdown::Write);
    let _ = wisp::time::timeout(LINGER, async {
        let mut budget: usize = 64 * 1024;
        while budget > 0 {
            match stream.read(buf).await {
                Ok(n) if n > 0 => budget = budget.saturating_sub(n),
                _ => break,
            }
        }
    })
    .await;
}

impl Resource {
    /// Appends the response to `out`: the body only for GET, `Connection: close` if closing.
    fn write_to(&self, out: &mut Vec<u8>, with_body: bool, close: bool) {
        out.extend_from_slice(&self.head);
        if close {
            out.extend_from_slice(b"Connection: close\r\n");
        }
        out.extend_from_slice(b"\r\n");
        if with_body {
            out.extend_from_slice(&self.body);
        }
    }
}
