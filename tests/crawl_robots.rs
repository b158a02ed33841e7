//! robots.txt as the crawler reads it (RFC 9309): per origin, 4xx allows, 5xx and unreachable
//! refuse with their own words (counted as errors, not as "disallowed"), redirects followed to
//! other hosts, an oversized file parsed up to the limit, garbage ignored.
#![cfg(feature = "crawl")]

mod common;

use common::crawl_server::*;
use wisp::crawl::{Config, DISALLOWED, Record};

const RULES: &str = "User-agent: *\nDisallow: /private/\n";

fn text(status: &str, body: &[u8]) -> Reply {
    Reply::Bytes(response(status, "text/plain", "", body))
}

fn find<'a>(records: &'a [Record], t: &str) -> &'a Record {
    records
        .iter()
        .find(|r| target(&r.url) == t)
        .unwrap_or_else(|| panic!("no record of {t}: {records:#?}"))
}

/// A site whose `/` links `/ok` and `/private/x`, with `robots` answering `/robots.txt`.
async fn site(robots: impl Fn() -> Reply + 'static) -> Server {
    let (listener, _) = bind().await;
    serve(listener, move |t| match t {
        "/robots.txt" => robots(),
        "/" => html_page(&["/ok", "/private/x"]),
        "/ok" | "/private/x" => html_page(&[]),
        _ => not_found(),
    })
}

#[test]
fn a_missing_robots_txt_allows_everything() {
    run(|| async {
        let server = site(not_found).await;
        let (summary, records, _) =
            crawl_all(&Config::default(), vec![server.root.clone()], no_stop()).await;
        assert_eq!(find(&records, "/private/x").status, Some(200));
        assert_eq!((summary.errors, summary.disallowed), (0, 0));
    });
}

#[test]
fn rules_are_followed() {
    run(|| async {
        let server = site(|| text("200 OK", RULES.as_bytes())).await;
        let (summary, records, _) =
            crawl_all(&Config::default(), vec![server.root.clone()], no_stop()).await;
        assert_eq!(
            find(&records, "/private/x").error.as_deref(),
            Some(DISALLOWED)
        );
        assert_eq!(find(&records, "/ok").status, Some(200));
        assert_eq!(server.hits_of("/private/x"), 0);
        assert_eq!((summary.errors, summary.disallowed), (0, 1));
    });
}

#[test]
fn a_server_error_is_unreachable_an_error_in_its_own_words_not_disallowed() {
    run(|| async {
        let server = site(|| text("500 Internal Server Error", b"oops")).await;
        let (summary, records, _) =
            crawl_all(&Config::default(), vec![server.root.clone()], no_stop()).await;
        assert_eq!(records.len(), 1, "{records:#?}");
        assert_eq!(
            records[0].error.as_deref(),
            Some("robots.txt unreachable: HTTP 500")
        );
        assert_eq!((summary.errors, summary.disallowed), (1, 0));
        assert_eq!(server.hits_of("/"), 0);
    });
}

#[test]
fn a_host_that_is_down_is_an_error_not_disallowed() {
    run(|| async {
        let (listener, port) = bind().await;
        drop(listener);
        let seed = format!("http://127.0.0.1:{port}/");
        let (summary, records, _) = crawl_all(&Config::default(), vec![seed], no_stop()).await;
        assert_eq!(records.len(), 1, "{records:#?}");
        let error = records[0].error.as_deref().unwrap();
        assert_eq!(error, "robots.txt unreachable: connection refused");
        assert_eq!((summary.errors, summary.disallowed), (1, 0));
    });
}

#[test]
fn a_redirect_to_another_host_is_followed() {
    run(|| async {
        let (other, other_port) = bind().await;
        let other = serve(other, |t| match t {
            "/robots.txt" => text("200 OK", RULES.as_bytes()),
            _ => not_found(),
        });
        let location = format!("Location: http://localhost:{other_port}/robots.txt\r\n");
        let server = site(move || {
            Reply::Bytes(response(
                "301 Moved Permanently",
                "text/plain",
                &location,
                b"",
            ))
        })
        .await;
        let (summary, records, _) =
            crawl_all(&Config::default(), vec![server.root.clone()], no_stop()).await;
        assert_eq!(
            find(&records, "/private/x").error.as_deref(),
            Some(DISALLOWED)
        );
        assert_eq!(find(&records, "/ok").status, Some(200));
        assert_eq!(other.hits_of("/robots.txt"), 1);
        assert_eq!((summary.errors, summary.disallowed), (0, 1));
    });
}

#[test]
fn an_oversized_file_is_parsed_up_to_the_limit() {
    run(|| async {
        let mut big = RULES.as_bytes().to_vec();
        while big.len() < 600 * 1024 {
            big.extend_from_slice(b"# padding padding padding padding padding padding\n");
        }
        let server = site(move || text("200 OK", &big)).await;
        let (_, records, _) =
            crawl_all(&Config::default(), vec![server.root.clone()], no_stop()).await;
        assert_eq!(
            find(&records, "/private/x").error.as_deref(),
            Some(DISALLOWED)
        );
        assert_eq!(find(&records, "/ok").status, Some(200));
    });
}

/// `--max-body` limits pages, not robots.txt: a tiny limit makes the pages errors (too large)
/// but never makes every URL "disallowed".
#[test]
fn a_small_max_body_does_not_disallow_everything() {
    run(|| async {
        let server = site(|| text("200 OK", RULES.as_bytes())).await;
        let config = Config {
            max_body: 0,
            ..Config::default()
        };
        let (summary, records, _) = crawl_all(&config, vec![server.root.clone()], no_stop()).await;
        assert_eq!(records.len(), 1, "{records:#?}");
        let error = records[0].error.as_deref().unwrap();
        assert_ne!(error, DISALLOWED);
        assert_eq!(summary.disallowed, 0);
        assert_eq!(server.hits_of("/"), 1);
    });
}

#[test]
fn binary_garbage_allows_everything() {
    run(|| async {
        let garbage: Vec<u8> = (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect();
        let server = site(move || text("200 OK", &garbage)).await;
        let (summary, records, _) =
            crawl_all(&Config::default(), vec![server.root.clone()], no_stop()).await;
        assert_eq!(find(&records, "/private/x").status, Some(200));
        assert_eq!((summary.errors, summary.disallowed), (0, 0));
    });
}

/// Rules belong to an origin: another port of the same host has its own robots.txt.
#[test]
fn rules_are_kept_per_origin() {
    run(|| async {
        let (b, b_port) = bind().await;
        let b = serve(b, |t| match t {
            "/private/x" => html_page(&[]),
            _ => not_found(),
        });
        let (a, _) = bind().await;
        let link = format!("http://127.0.0.1:{b_port}/private/x");
        let a = serve(a, move |t| match t {
            "/robots.txt" => text("200 OK", RULES.as_bytes()),
            "/" => html_page(&["/private/x", &link]),
            _ => html_page(&[]),
        });
        let (_, records, _) = crawl_all(&Config::default(), vec![a.root.clone()], no_stop()).await;
        let on_a = records
            .iter()
            .find(|r| r.url == format!("{}private/x", a.root))
            .unwrap();
        let on_b = records
            .iter()
            .find(|r| r.url == format!("http://127.0.0.1:{b_port}/private/x"))
            .unwrap();
        assert_eq!(on_a.error.as_deref(), Some(DISALLOWED));
        assert_eq!(on_b.status, Some(200), "{on_b:?}");
        assert_eq!(b.hits_of("/robots.txt"), 1);
    });
}

/// A robots.txt answered `503` once is asked again (as a page would be), so a passing hiccup
/// does not make the origin unreachable for the rules' whole lifetime.
#[test]
fn a_passing_503_of_robots_txt_is_retried() {
    run(|| async {
        let asked = std::rc::Rc::new(std::cell::Cell::new(0));
        let count = asked.clone();
        let server = site(move || {
            count.set(count.get() + 1);
            if count.get() == 1 {
                Reply::Bytes(response(
                    "503 Service Unavailable",
                    "text/plain",
                    "Retry-After: 0\r\n",
                    b"busy",
                ))
            } else {
                text("200 OK", RULES.as_bytes())
            }
        })
        .await;
        let (summary, records, _) =
            crawl_all(&Config::default(), vec![server.root.clone()], no_stop()).await;
        assert_eq!(asked.get(), 2);
        assert_eq!(
            find(&records, "/private/x").error.as_deref(),
            Some(DISALLOWED)
        );
        assert_eq!(find(&records, "/ok").status, Some(200));
        assert_eq!((summary.errors, summary.disallowed), (0, 1));
    });
}
