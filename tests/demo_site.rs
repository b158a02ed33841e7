//! The crawler's demo site (`src/bin/crawl/demo/`): served for real on 127.0.0.1 and fetched
//! with wisp's own client and raw sockets, and the generated pages, links and images on their own.
#![cfg(feature = "crawl")]

#[path = "../src/bin/crawl/demo/mod.rs"]
mod demo;

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::Duration;

use demo::{Site, SiteConfig};
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
            assert_eq!(Some(&body[..]), site.body(path).as_deref(), "{path}");
        }
        assert_eq!(
            site.body("/robots.txt").as_deref(),
            Some(&b"User-agent: *\nDisallow: /private/\n"[..])
        );

        // The redirect is followed: the final URL is the page, the body is the page's.
        let resp = client.get(&format!("{root}r/4")).await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.redirects(), 1);
        assert_eq!(resp.url().path(), "/page/4.html");
        let body = resp.bytes().await.unwrap();
        assert_eq!(Some(&body[..]), site.body("/page/4.html").as_deref());

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
            assert_eq!(Some(&body[..]), site.body(&final_path).as_deref(), "{url}");
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
            &site.body("/page/1.html").unwrap(),
            false,
        );
        expected.extend(response(
            "200 OK",
            "text/plain",
            &site.body("/robots.txt").unwrap(),
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
            &site.body("/missing/1").unwrap(),
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

// ---------------------------------------------------------------------------------------------
// The generated site itself, no server
// ---------------------------------------------------------------------------------------------

fn small() -> SiteConfig {
    SiteConfig {
        pages: 300,
        ..SiteConfig::default()
    }
}

/// Every URL the site answers with a resource of its own (every one is linked, robots ignored),
/// and `/robots.txt`.
fn all_paths(site: &Site) -> BTreeSet<String> {
    let mut all: BTreeSet<String> = site
        .expected_by_depth_ignoring_robots(usize::MAX)
        .into_iter()
        .flatten()
        .collect();
    all.insert("/robots.txt".to_string());
    all
}

#[test]
fn same_config_same_site() {
    let (a, b) = (Site::generate(small()), Site::generate(small()));
    let paths = all_paths(&a);
    assert_eq!(paths, all_paths(&b));
    for path in &paths {
        assert_eq!(a.body(path), b.body(path), "{path}");
    }
    assert_eq!(a.expected_by_depth(50), b.expected_by_depth(50));
    let c = Site::generate(SiteConfig { seed: 7, ..small() });
    assert_ne!(a.body("/page/1.html"), c.body("/page/1.html"));
}

#[test]
fn every_page_is_reachable() {
    for config in [
        small(),
        SiteConfig {
            pages: 1,
            links_per_page: 0,
            ..small()
        },
    ] {
        let site = Site::generate(config.clone());
        let all: BTreeSet<String> = site
            .expected_by_depth_ignoring_robots(config.pages + 10)
            .into_iter()
            .flatten()
            .collect();
        for n in 0..config.pages {
            assert!(all.contains(&format!("/page/{n}.html")), "page {n}");
        }
        assert!(all.contains("/private/0.html"));
        let robots: BTreeSet<String> = site
            .expected_by_depth(config.pages + 10)
            .into_iter()
            .flatten()
            .collect();
        assert!(robots.iter().all(|u| !u.starts_with("/private/")));
        for n in 0..config.pages {
            assert!(robots.contains(&format!("/page/{n}.html")), "page {n}");
        }
    }
}

#[test]
fn link_forms_and_decoys() {
    let site = Site::generate(small());
    let page = |n: usize| {
        String::from_utf8(site.body(&format!("/page/{n}.html")).unwrap().to_vec()).unwrap()
    };
    let all: String = (0..300).map(page).collect();
    for needle in [
        "href=\"../page/",
        "href=\"./",
        "#top\"",
        "#s2\"",
        "?from=0&amp;x=1",
        "<base href=\"/\">",
        "mailto:",
        "javascript:",
        "<!-- <a href=\"/page/999999.html\">",
        "'<a href=\"/fake\">'",
        "href=\"/r/",
        "href=\"/missing/",
        "href=\"/private/",
        "src=\"/img/",
    ] {
        assert!(all.contains(needle), "{needle}");
    }
    let levels = site.expected_by_depth(1000);
    let flat: BTreeSet<&String> = levels.iter().flatten().collect();
    assert!(
        flat.iter()
            .all(|u| !u.contains('#') && !u.contains("999999") && *u != "/fake")
    );
    assert!(flat.iter().any(|u| u.contains("?from=")));
    assert!(flat.iter().any(|u| u.starts_with("/missing/")));
    assert!(flat.iter().any(|u| u.starts_with("/img/")));
    // A redirect's target is first linked no deeper than the redirect.
    for (d, level) in levels.iter().enumerate() {
        for u in level.iter().filter(|u| u.starts_with("/r/")) {
            let target = format!("/page/{}.html", &u[3..]);
            let depth = levels.iter().position(|l| l.contains(&target));
            assert!(depth.is_some_and(|t| t <= d), "{u}");
        }
    }
    let mean = (0..300).map(|n| page(n).len()).sum::<usize>() / 300;
    assert!((900..1400).contains(&mean), "mean page size {mean}");
}

#[test]
fn images_are_png() {
    let site = Site::generate(small());
    let img = site.body("/img/3.png").unwrap();
    assert!(img.starts_with(b"\x89PNG\r\n\x1a\n"));
    assert_ne!(img, site.body("/img/4.png").unwrap());
    assert_eq!(crc_check(&img), 3);
    let none = Site::generate(SiteConfig {
        images: false,
        ..small()
    });
    let flat: Vec<String> = none.expected_by_depth(1000).into_iter().flatten().collect();
    assert!(!flat.iter().any(|u| u.starts_with("/img/")));
}

/// Counts the chunks of a PNG whose CRC is right (all of them, for a good PNG).
fn crc_check(png: &[u8]) -> usize {
    let mut at = 8;
    let mut good = 0;
    while at < png.len() {
        let len = u32::from_be_bytes(png[at..at + 4].try_into().unwrap()) as usize;
        let data = &png[at + 4..at + 8 + len];
        let crc = u32::from_be_bytes(png[at + 8 + len..at + 12 + len].try_into().unwrap());
        let mut c = !0u32;
        for &b in data {
            c ^= u32::from(b);
            for _ in 0..8 {
                c = if c & 1 == 1 {
                    (c >> 1) ^ 0xEDB8_8320
                } else {
                    c >> 1
                };
            }
        }
        if !c == crc {
            good += 1;
        }
        at += 12 + len;
    }
    good
}
