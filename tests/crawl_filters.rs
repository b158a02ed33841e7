//! What a crawl leaves out when told to: links by URL (`accept_urls`, `reject_urls`), bodies by
//! media type (`accept_types`, `reject_types`), and where the extra headers (`headers`) go.
//! Servers run on 127.0.0.1 only.
#![cfg(feature = "crawl")]

mod common;

use std::cell::RefCell;
use std::rc::Rc;

use common::crawl_server::*;
use wisp::crawl::{Config, FILTERED, Record, UrlPattern, type_matches};
use wisp::net::{TcpListener, TcpStream};
use wisp::time::timeout;

fn config() -> Config {
    Config {
        respect_robots: false,
        ..Config::default()
    }
}

fn patterns(list: &[&str]) -> Vec<UrlPattern> {
    list.iter().map(|p| UrlPattern::new(p).unwrap()).collect()
}

fn targets(records: &[Record]) -> Vec<String> {
    let mut t: Vec<String> = records.iter().map(|r| target(&r.url)).collect();
    t.sort();
    t
}

fn record<'a>(records: &'a [Record], path: &str) -> &'a Record {
    records
        .iter()
        .find(|r| target(&r.url) == path)
        .unwrap_or_else(|| panic!("no record of {path}: {records:?}"))
}

#[test]
fn accept_and_reject_regexes_decide_which_links_are_queued() {
    run(|| async {
        let (listener, _) = bind().await;
        let server = serve(listener, |t| match t {
            "/" => html_page(&["/a/1", "/a/2", "/b/1", "/a/skip"]),
            _ => html_page(&[]),
        });
        let config = Config {
            accept_urls: patterns(&["/a/"]),
            // Wins over the accept list.
            reject_urls: patterns(&["skip$"]),
            ..config()
        };
        let (summary, records, _) = crawl_all(&config, vec![server.root.clone()], no_stop()).await;
        assert_eq!(targets(&records), ["/", "/a/1", "/a/2"]);
        assert_eq!(server.hits_of("/b/1") + server.hits_of("/a/skip"), 0);
        assert_eq!(summary.errors, 0);
    });
}

#[test]
fn the_seeds_are_not_checked_by_the_url_patterns() {
    run(|| async {
        let (listener, _) = bind().await;
        let server = serve(listener, |t| match t {
            "/" => html_page(&["/x"]),
            _ => html_page(&[]),
        });
        let config = Config {
            reject_urls: patterns(&["."]),
            ..config()
        };
        let (_, records, _) = crawl_all(&config, vec![server.root.clone()], no_stop()).await;
        assert_eq!(targets(&records), ["/"]);
    });
}

/// A link's redirect target is checked like a link; a rejected one is not followed, and the
/// redirect response is the page.
#[test]
fn a_redirect_of_a_link_to_a_rejected_url_is_not_followed() {
    run(|| async {
        let (listener, _) = bind().await;
        let server = serve(listener, |t| match t {
            "/" => html_page(&["/r"]),
            "/r" => Reply::Bytes(response(
                "302 Found",
                "text/plain",
                "Location: /private/x\r\n",
                b"",
            )),
            _ => html_page(&[]),
        });
        let config = Config {
            reject_urls: patterns(&["/private/"]),
            ..config()
        };
        let (_, records, _) = crawl_all(&config, vec![server.root.clone()], no_stop()).await;
        assert_eq!(targets(&records), ["/", "/r"]);
        assert_eq!(record(&records, "/r").status, Some(302));
        assert_eq!(server.hits_of("/private/x"), 0);
    });
}

#[test]
fn a_rejected_type_is_a_filtered_record_without_its_body() {
    run(|| async {
        let (listener, _) = bind().await;
        let server = serve(listener, |t| match t {
            "/" => html_page(&["/big.png", "/page"]),
            "/big.png" => Reply::Huge,
            _ => html_page(&[]),
        });
        let config = Config {
            reject_types: vec!["image/".into(), "application/octet-stream".into()],
            ..config()
        };
        let (summary, records, _) = crawl_all(&config, vec![server.root.clone()], no_stop()).await;
        assert_eq!(targets(&records), ["/", "/big.png", "/page"]);
        let png = record(&records, "/big.png");
        // Reply::Huge is an endless application/octet-stream body: never read.
        assert_eq!(png.status, Some(200));
        assert_eq!(
            png.error.as_deref(),
            Some(
                "filtered: application/octet-stream rejected by --reject-type \
                 application/octet-stream"
            )
        );
        assert!(png.error.as_deref().unwrap().starts_with(FILTERED));
        assert_eq!((png.bytes, png.sha256.as_deref()), (0, None));
        assert_eq!((summary.filtered, summary.errors), (1, 0));
    });
}

#[test]
fn only_accepted_types_are_read_and_a_missing_type_is_octet_stream() {
    run(|| async {
        let (listener, _) = bind().await;
        let server = serve(listener, |t| match t {
            "/" => html_page(&["/doc.pdf", "/bare", "/page"]),
            "/doc.pdf" => Reply::Bytes(response("200 OK", "Application/PDF", "", b"%PDF")),
            "/bare" => Reply::Bytes(
                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi".to_vec(),
            ),
            _ => html_page(&[]),
        });
        let config = Config {
            accept_types: vec!["text/html".into()],
            ..config()
        };
        let (summary, records, _) = crawl_all(&config, vec![server.root.clone()], no_stop()).await;
        assert_eq!(
            record(&records, "/doc.pdf").error.as_deref(),
            Some("filtered: application/pdf not accepted by --accept-type")
        );
        assert_eq!(
            record(&records, "/bare").error.as_deref(),
            Some("filtered: application/octet-stream not accepted by --accept-type")
        );
        assert_eq!(record(&records, "/page").error, None);
        assert_eq!((summary.filtered, summary.errors), (2, 0));
    });
}

#[test]
fn a_media_type_pattern_is_a_type_or_a_prefix_ending_in_a_slash() {
    assert!(type_matches("text/html", "text/html"));
    assert!(type_matches("TEXT/HTML", "text/html"));
    assert!(!type_matches("text/html", "text/htmlx"));
    assert!(type_matches("image/", "image/png"));
    assert!(type_matches("image/*", "image/svg+xml"));
    // A prefix is a whole type, not the start of a word.
    assert!(!type_matches("text", "textual/x"));
    assert!(!type_matches("image/", "imagefoo/x"));
}

#[test]
fn a_bad_url_pattern_says_what_is_wrong() {
    let e = UrlPattern::new("(unclosed").unwrap_err().to_string();
    assert!(e.contains("open group without closing"), "{e}");
}

/// Serves `handler` and keeps every request head it saw.
fn serve_heads(
    listener: TcpListener,
    handler: impl Fn(&str) -> Reply + 'static,
) -> Rc<RefCell<Vec<String>>> {
    let heads: Rc<RefCell<Vec<String>>> = Rc::default();
    let (seen, handler) = (heads.clone(), Rc::new(handler));
    wisp::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (seen, handler) = (seen.clone(), handler.clone());
            wisp::spawn(async move {
                let Some(head) = whole_head(&stream).await else {
                    return;
                };
                let target = head.split(' ').nth(1).unwrap_or("").to_string();
                seen.borrow_mut().push(head);
                answer(&stream, handler(&target)).await;
            })
            .detach();
        }
    })
    .detach();
    heads
}

async fn whole_head(stream: &TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = timeout(std::time::Duration::from_secs(10), stream.read(&mut chunk))
            .await
            .ok()?
            .ok()?;
        if n == 0 || buf.len() > 64 * 1024 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Some(String::from_utf8_lossy(&buf).into_owned())
}

fn has_token(head: &str) -> bool {
    head.lines()
        .any(|l| l.eq_ignore_ascii_case("x-token: s3cret"))
}

/// The seed is on 127.0.0.1, the other allowed host is `localhost` (the same address, another
/// host name and port): the header reaches the first only.
#[test]
fn headers_go_to_the_seeds_origins_only() {
    run(|| async {
        let (other, other_port) = bind().await;
        let other_heads = serve_heads(other, |_| html_page(&[]));
        let (seed, seed_port) = bind().await;
        let link = format!("http://localhost:{other_port}/elsewhere");
        let seed_heads = serve_heads(seed, move |t| match t {
            "/" => html_page(&[&link, "/next"]),
            _ => html_page(&[]),
        });
        let config = Config {
            allow_hosts: vec!["localhost".into()],
            headers: vec![("X-Token".into(), "s3cret".into())],
            ..config()
        };
        let root = format!("http://127.0.0.1:{seed_port}/");
        let (summary, records, _) = crawl_all(&config, vec![root], no_stop()).await;
        assert_eq!(records.len(), 3, "{records:?}");
        assert_eq!(summary.errors, 0, "{records:?}");
        let seed_heads = seed_heads.borrow();
        assert_eq!(seed_heads.len(), 2);
        assert!(seed_heads.iter().all(|h| has_token(h)), "{seed_heads:?}");
        let other_heads = other_heads.borrow();
        assert_eq!(other_heads.len(), 1);
        assert!(!has_token(&other_heads[0]), "{other_heads:?}");
    });
}

/// The crawl program with `-H`: the header goes to the seed's origin, and not to the other
/// host a redirect of the seed's own page leads to (`localhost`, the same address on another
/// port), nor to a link there.
#[test]
fn the_binary_sends_h_headers_to_the_seeds_origin_and_not_past_a_redirect() {
    let (other_port, other_heads) = serve_on_thread(|target| match target {
        "/landing" => page(&["/other-link"]),
        _ => page(&[]),
    });
    let landing = format!("http://localhost:{other_port}/landing");
    let (seed_port, seed_heads) = serve_on_thread(move |target| match target {
        "/" => page(&["/go", "/next"]),
        "/go" => response(
            "302 Found",
            "text/html",
            &format!("Location: {landing}\r\n"),
            b"",
        ),
        _ => page(&[]),
    });
    let root = format!("http://127.0.0.1:{seed_port}/");
    let out = crawl_binary(&[
        "--ignore-robots",
        "-q",
        "--allow-host",
        "localhost",
        "-H",
        "X-Token: s3cret",
        "--jsonl",
        "-",
        &root,
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    // `/`, `/go` (which ended at `/landing`), `/next`, and `/other-link` on the other host.
    assert_eq!(stdout.lines().count(), 4, "{stdout}");
    assert!(stdout.contains("/other-link"), "{stdout}");
    let seed_heads = seed_heads.lock().unwrap();
    assert_eq!(seed_heads.len(), 3, "{seed_heads:?}");
    assert!(seed_heads.iter().all(|h| has_token(h)), "{seed_heads:?}");
    let other_heads = other_heads.lock().unwrap();
    assert_eq!(other_heads.len(), 2, "{other_heads:?}");
    assert!(other_heads.iter().all(|h| !has_token(h)), "{other_heads:?}");
}

/// An HTML page linking to `hrefs`, as bytes.
fn page(hrefs: &[&str]) -> Vec<u8> {
    match html_page(hrefs) {
        Reply::Bytes(bytes) => bytes,
        _ => unreachable!("html_page writes bytes"),
    }
}
