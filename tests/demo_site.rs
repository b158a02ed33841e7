//! The crawler's demo site, served for real on 127.0.0.1 and fetched with wisp's own client and
//! raw sockets.
#![cfg(feature = "crawl")]

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::Duration;

use wisp::crawl::demo::{Site, SiteConfig};
use wisp::http::Client;
use wisp::net::TcpStream;

/// Runs the async test body in `wisp::block_on` under a 30 s watchdog.
fn run<F, Fut>(f: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    let (tx, rx) = mpsc::channel();
    let handle = thread::spawn(move || {
        wisp::block_on(f());
        let _ = tx.send(());
    });
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(()) => handle.join().unwrap(),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            if let Err(panic) = handle.join() {
                std::panic::resume_unwind(panic)
            }
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("watchdog: the test hung"),
    }
}

fn site() -> Arc<Site> {
    Arc::new(Site::generate(SiteConfig {
        pages: 200,
        ..SiteConfig::default()
    }))
}

fn client() -> Client {
    Client::builder()
        .idle_timeout(Duration::from_secs(5))
        .total_timeout(Some(Duration::from_secs(20)))
        .build()
        .unwrap()
}

/// Sends `request` (in the given pieces, with pauses) on a fresh connection and reads until the
/// server closes it.
async fn raw(root: &str, pieces: &[&[u8]]) -> Vec<u8> {
    let addr = root
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let stream = TcpStream::connect(addr).await.unwrap();
    for piece in pieces {
        stream.write_all(piece).await.unwrap();
        wisp::time::sleep(Duration::from_millis(20)).await;
    }
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let read = wisp::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await;
        match read.expect("the server should close the connection") {
            Ok(0) | Err(_) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
}

fn response(status: &str, content_type: &str, body: &[u8], close: bool) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{}\r\n",
        body.len(),
        if close { "Connection: close\r\n" } else { "" }
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

#[test]
fn the_client_gets_exactly_the_bodies() {
    run(|| async {
        let site = site();
        let root = Arc::clone(&site).serve().await.unwrap();
        let client = client();
        for (path, status, content_type) in [
            ("/", 200, "text/html; charset=utf-8"),
            ("/page/17.html", 200, "text/html; charset=utf-8"),
            ("/page/17.html?from=3&x=1", 200, "text/html; charset=utf-8"),
            ("/img/2.png", 200, "image/png"),
            ("/missing/5", 404, "text/html; charset=utf-8"),
            ("/no/such/thing", 404, "text/html; charset=utf-8"),
            ("/robots.txt", 200, "text/plain"),
            ("/private/0.html", 200, "text/html; charset=utf-8"),
        ] {
            let url = format!("{root}{}", &path[1..]);
            let resp = client.get(&url).await.unwrap();
            assert_eq!(resp.status(), status, "{path}");
            assert_eq!(
                resp.header_str("content-type"),
                Some(content_type),
                "{path}"
            );
            assert_eq!(resp.redirects(), 0);
            let body = resp.bytes().await.unwrap();
            assert_eq!(Some(&body[..]), site.body(path), "{path}");
        }
        assert_eq!(
            site.body("/robots.txt"),
            Some(&b"User-agent: *\nDisallow: /private/\n"[..])
        );

        // The redirect is followed: the final URL is the page, the body is the page's.
        let resp = client.get(&format!("{root}r/4")).await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.redirects(), 1);
        assert_eq!(resp.url().path(), "/page/4.html");
        let body = resp.bytes().await.unwrap();
        assert_eq!(Some(&body[..]), site.body("/page/4.html"));

        // HEAD: the headers of GET, no body.
        let resp = client.head(&format!("{root}page/3.html")).await.unwrap();
        assert_eq!(resp.status(), 200);
        let len = site.body("/page/3.html").unwrap().len().to_string();
        assert_eq!(resp.header_str("content-length"), Some(&len[..]));
        assert!(resp.bytes().await.unwrap().is_empty());
    });
}

#[test]
fn everything_expected_can_be_fetched() {
    run(|| async {
        let site = Arc::new(Site::generate(SiteConfig {
            pages: 60,
            ..SiteConfig::default()
        }));
        let root = Arc::clone(&site).serve().await.unwrap();
        let client = client();
        let levels = site.expected_by_depth_ignoring_robots(100);
        let all: BTreeSet<&String> = levels.iter().flatten().collect();
        for n in 0..60 {
            assert!(all.contains(&format!("/page/{n}.html")));
        }
        for url in all {
            let resp = client.get(&format!("{root}{}", &url[1..])).await.unwrap();
            let final_path = resp.url().path().to_string();
            let status = resp.status();
            let body = resp.bytes().await.unwrap();
            assert_eq!(status == 404, url.starts_with("/missing/"), "{url}");
            assert_eq!(Some(&body[..]), site.body(&final_path), "{url}");
        }
    });
}

#[test]
fn pipelined_requests_in_pieces_get_two_responses() {
    run(|| async {
        let site = site();
        let root = Arc::clone(&site).serve().await.unwrap();
        let out = raw(
            &root,
            &[
                b"GET /page/1.html HTTP/1.1\r\nHost: x\r\n\r\nGET /robots.txt HT",
                b"TP/1.1\r\nHost: x\r\n",
                b"Connection: close\r\n\r\n",
            ],
        )
        .await;
        let mut expected = response(
            "200 OK",
            "text/html; charset=utf-8",
            site.body("/page/1.html").unwrap(),
            false,
        );
        expected.extend(response(
            "200 OK",
            "text/plain",
            site.body("/robots.txt").unwrap(),
            true,
        ));
        assert_eq!(
            String::from_utf8_lossy(&out),
            String::from_utf8_lossy(&expected)
        );

        // Two in one write, the second a HEAD, then HTTP/1.0 without keep-alive closes.
        let out = raw(
            &root,
            &[b"HEAD /img/0.png HTTP/1.1\r\nHost: x\r\n\r\nGET /missing/1 HTTP/1.0\r\n\r\n"],
        )
        .await;
        let img_len = site.body("/img/0.png").unwrap().len();
        let expected_head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: {img_len}\r\n\r\n"
        );
        let mut expected = expected_head.into_bytes();
        expected.extend(response(
            "404 Not Found",
            "text/html; charset=utf-8",
            site.body("/missing/1").unwrap(),
            true,
        ));
        assert_eq!(
            String::from_utf8_lossy(&out),
            String::from_utf8_lossy(&expected)
        );
    });
}

#[test]
fn bad_requests_are_refused() {
    run(|| async {
        let site = site();
        let root = Arc::clone(&site).serve().await.unwrap();

        // Malformed: 400 and the connection is closed.
        let out = raw(&root, &[b"GET /page/1.html HTTP/1.1\r\nBad Header\r\n\r\n"]).await;
        assert!(out.starts_with(b"HTTP/1.1 400 Bad Request\r\n"), "{out:?}");
        assert!(out.windows(19).any(|w| w == b"Connection: close\r\n"));

        // A head over 8 KiB: 431 and closed.
        let mut big = b"GET / HTTP/1.1\r\nX-Filler: ".to_vec();
        big.extend(std::iter::repeat_n(b'a', 9000));
        let out = raw(&root, &[&big]).await;
        assert!(
            out.starts_with(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"),
            "{:?}",
            String::from_utf8_lossy(&out)
        );

        // Another method: 405 with Allow, and the connection stays usable.
        let out = raw(
            &root,
            &[b"DELETE /page/1.html HTTP/1.1\r\nHost: x\r\n\r\nGET /robots.txt HTTP/1.1\r\nConnection: close\r\n\r\n"],
        )
        .await;
        let text = String::from_utf8_lossy(&out);
        assert!(
            text.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"),
            "{text}"
        );
        assert!(text.contains("Allow: GET, HEAD\r\n"));
        assert!(text.ends_with("Disallow: /private/\n"), "{text}");

        // The server still serves after all that.
        let resp = client().get(&root).await.unwrap();
        assert_eq!(resp.status(), 200);
    });
}
