//! The crawler follows a page's links in the page's own character encoding: a tiny server on
//! 127.0.0.1 serves legacy-encoded pages, and the tests check which request paths it received.
#![cfg(feature = "crawl")]

mod common;

use std::cell::RefCell;
use std::net::Shutdown;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use common::watchdog;
use wisp::crawl::{Config, Hooks, Record, crawl};
use wisp::net::{TcpListener, TcpStream};
use wisp::time::timeout;

/// One canned response: Content-Type and body bytes.
type Page = (&'static str, Vec<u8>);

/// Serves `pages` (request target -> response; anything else is a 404) on a fresh port of
/// 127.0.0.1, one request per connection. Returns the root URL and the targets requested.
async fn serve(pages: Vec<(&'static str, Page)>) -> (String, Rc<RefCell<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let root = format!(
        "http://127.0.0.1:{}/",
        listener.local_addr().unwrap().port()
    );
    let hits: Rc<RefCell<Vec<String>>> = Rc::default();
    let pages = Rc::new(pages);
    let seen = hits.clone();
    wisp::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (pages, seen) = (pages.clone(), seen.clone());
            wisp::spawn(async move {
                let Some(target) = read_target(&stream).await else {
                    return;
                };
                seen.borrow_mut().push(target.clone());
                let (status, content_type, body) = match pages.iter().find(|(t, _)| *t == target) {
                    Some((_, (content_type, body))) => ("200 OK", *content_type, &body[..]),
                    None => ("404 Not Found", "text/plain", &b"not found\n"[..]),
                };
                let mut reply = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                )
                .into_bytes();
                reply.extend_from_slice(body);
                let _ = stream.write_all(&reply).await;
                let _ = stream.shutdown(Shutdown::Write);
            })
            .detach();
        }
    })
    .detach();
    (root, hits)
}

/// The target of the request line of the request head on `stream`.
async fn read_target(stream: &TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut chunk = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = timeout(Duration::from_secs(10), stream.read(&mut chunk))
            .await
            .ok()?
            .ok()?;
        if n == 0 || head.len() > 64 * 1024 {
            return None;
        }
        head.extend_from_slice(&chunk[..n]);
    }
    let line = head.split(|&b| b == b'\r').next()?;
    let target = line.split(|&b| b == b' ').nth(1)?;
    Some(String::from_utf8_lossy(target).into_owned())
}

/// Crawls `root` to depth 1 and returns every record.
async fn crawl_depth_1(root: &str) -> Vec<Record> {
    let config = Config {
        max_depth: 1,
        ..Config::default()
    };
    let records = RefCell::new(Vec::new());
    crawl(
        &config,
        [root.to_string()],
        Hooks {
            on_record: Box::new(|r: &Record| records.borrow_mut().push(r.clone())),
            on_foreign_link: Box::new(|_| {}),
            stop: Arc::new(AtomicBool::new(false)),
        },
    )
    .await
    .expect("crawl starts");
    records.into_inner()
}

/// Asserts that `url` has a record of a fetch answered 200.
fn assert_fetched(records: &[Record], url: &str) {
    let record = records.iter().find(|r| r.url == url);
    assert!(
        record.is_some_and(|r| r.status == Some(200) && r.error.is_none()),
        "no 200 record for {url}: {records:#?}"
    );
}

#[test]
fn latin1_page_links_are_followed_as_utf8_paths() {
    watchdog(60, || {
        wisp::block_on(async {
            // "café/résumé.html" in Latin-1: é is the single byte E9.
            let body = b"<!DOCTYPE html><p>Caf\xE9</p><a href=\"caf\xE9/r\xE9sum\xE9.html\">cv</a>";
            let (root, hits) = serve(vec![
                ("/", ("text/html; charset=iso-8859-1", body.to_vec())),
                (
                    "/caf%C3%A9/r%C3%A9sum%C3%A9.html",
                    ("text/plain", b"ok".to_vec()),
                ),
            ])
            .await;
            let records = crawl_depth_1(&root).await;
            assert_fetched(&records, &format!("{root}caf%C3%A9/r%C3%A9sum%C3%A9.html"));
            let hits = hits.borrow();
            assert!(
                hits.iter().any(|t| t == "/caf%C3%A9/r%C3%A9sum%C3%A9.html"),
                "{hits:?}"
            );
            assert!(!hits.iter().any(|t| t.contains("%EF%BF%BD")), "{hits:?}");
        })
    });
}

#[test]
fn unknown_charset_label_is_read_as_windows_1252() {
    watchdog(60, || {
        wisp::block_on(async {
            // In windows-1252, 0x80 is the euro sign (UTF-8 E2 82 AC) and 0xE9 is é; the query
            // is encoded in the page's own encoding, so é stays the one byte E9 there.
            let body = b"<a href=\"/\x80.html\"><a href=\"/q?s=\xE9\">";
            let (root, hits) = serve(vec![
                ("/", ("text/html; charset=x-no-such-charset", body.to_vec())),
                ("/%E2%82%AC.html", ("text/plain", b"euro".to_vec())),
                ("/q?s=%E9", ("text/plain", b"query".to_vec())),
            ])
            .await;
            let records = crawl_depth_1(&root).await;
            assert_fetched(&records, &format!("{root}%E2%82%AC.html"));
            assert_fetched(&records, &format!("{root}q?s=%E9"));
            let hits = hits.borrow();
            assert!(hits.iter().any(|t| t == "/%E2%82%AC.html"), "{hits:?}");
            assert!(hits.iter().any(|t| t == "/q?s=%E9"), "{hits:?}");
        })
    });
}
