//! The crawler follows a page's links in the page's own character encoding: a tiny server on
//! 127.0.0.1 serves legacy-encoded pages, and the tests check which request paths it received.
#![cfg(feature = "crawl")]

mod common;

use common::crawl_server::*;
use wisp::crawl::{Config, Record};

/// Serves `pages` (request target -> Content-Type and body; anything else is a 404).
async fn serve_pages(pages: Vec<(&'static str, &'static str, Vec<u8>)>) -> Server {
    let (listener, _) = bind().await;
    serve(listener, move |t| {
        match pages.iter().find(|(target, _, _)| *target == t) {
            Some((_, content_type, body)) => {
                Reply::Bytes(response("200 OK", content_type, "", body))
            }
            None => not_found(),
        }
    })
}

/// Crawls `root` to depth 1 and returns every record.
async fn crawl_depth_1(root: &str) -> Vec<Record> {
    let config = Config {
        max_depth: 1,
        ..Config::default()
    };
    crawl_all(&config, vec![root.to_string()], no_stop())
        .await
        .1
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
    run(|| async {
        // "café/résumé.html" in Latin-1: é is the single byte E9.
        let body = b"<!DOCTYPE html><p>Caf\xE9</p><a href=\"caf\xE9/r\xE9sum\xE9.html\">cv</a>";
        let server = serve_pages(vec![
            ("/", "text/html; charset=iso-8859-1", body.to_vec()),
            (
                "/caf%C3%A9/r%C3%A9sum%C3%A9.html",
                "text/plain",
                b"ok".to_vec(),
            ),
        ])
        .await;
        let root = &server.root;
        let records = crawl_depth_1(root).await;
        assert_fetched(&records, &format!("{root}caf%C3%A9/r%C3%A9sum%C3%A9.html"));
        let hits = server.hits.borrow();
        assert!(
            hits.iter().any(|t| t == "/caf%C3%A9/r%C3%A9sum%C3%A9.html"),
            "{hits:?}"
        );
        assert!(!hits.iter().any(|t| t.contains("%EF%BF%BD")), "{hits:?}");
    });
}

#[test]
fn unknown_charset_label_is_read_as_windows_1252() {
    run(|| async {
        // In windows-1252, 0x80 is the euro sign (UTF-8 E2 82 AC) and 0xE9 is é; the query
        // is encoded in the page's own encoding, so é stays the one byte E9 there.
        let body = b"<a href=\"/\x80.html\"><a href=\"/q?s=\xE9\">";
        let server = serve_pages(vec![
            ("/", "text/html; charset=x-no-such-charset", body.to_vec()),
            ("/%E2%82%AC.html", "text/plain", b"euro".to_vec()),
            ("/q?s=%E9", "text/plain", b"query".to_vec()),
        ])
        .await;
        let root = &server.root;
        let records = crawl_depth_1(root).await;
        assert_fetched(&records, &format!("{root}%E2%82%AC.html"));
        assert_fetched(&records, &format!("{root}q?s=%E9"));
        let hits = server.hits.borrow();
        assert!(hits.iter().any(|t| t == "/%E2%82%AC.html"), "{hits:?}");
        assert!(hits.iter().any(|t| t == "/q?s=%E9"), "{hits:?}");
    });
}
