//! The crawl has no level barrier: a slow or silent URL holds only its own fetch slot, and
//! depths stay the shortest link distance whatever order fetches finish in.
#![cfg(feature = "crawl")]

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::crawl_server::*;
use wisp::crawl::Config;

fn delayed(d: Duration, reply: Reply) -> Reply {
    match reply {
        Reply::Bytes(b) => Reply::Delayed(d, b),
        other => other,
    }
}

fn depths(records: &[wisp::crawl::Record]) -> BTreeMap<String, u32> {
    records.iter().map(|r| (target(&r.url), r.depth)).collect()
}

/// The only short path to `/sub` runs through `/slow` (depth 1, answering after 1.5 s); a
/// longer one runs `/a -> /b -> /c -> /sub`. The long path is crawled while `/slow` is still
/// waited for, and yet `/sub` gets depth 2 (through `/slow`) and its child depth 3, and with
/// `--depth 3` nothing at 4 hops is fetched.
#[test]
fn a_slow_page_holds_back_no_other_fetch_and_depths_stay_exact() {
    run(|| async {
        let (listener, _) = bind().await;
        let server = serve(listener, |t| match t {
            "/" => html_page(&["/slow", "/a"]),
            "/slow" => delayed(Duration::from_millis(1500), html_page(&["/sub"])),
            "/a" => html_page(&["/b"]),
            "/b" => html_page(&["/c"]),
            "/c" => html_page(&["/sub", "/c/next"]),
            "/c/next" => html_page(&[]),
            "/sub" => html_page(&["/sub/1"]),
            "/sub/1" => html_page(&["/sub/2"]),
            _ => not_found(),
        });
        let config = Config {
            max_depth: 3,
            respect_robots: false,
            ..Config::default()
        };
        let (summary, records, _) = crawl_all(&config, vec![server.root.clone()], no_stop()).await;
        assert_unique(&records);
        let expected: BTreeMap<String, u32> = [
            ("/", 0),
            ("/slow", 1),
            ("/a", 1),
            ("/b", 2),
            ("/sub", 2),
            ("/c", 3),
            ("/sub/1", 3),
        ]
        .into_iter()
        .map(|(t, d)| (t.to_string(), d))
        .collect();
        assert_eq!(depths(&records), expected, "{records:#?}");
        assert_eq!(summary.errors, 0);
        // Four hops away: never requested.
        assert_eq!(server.hits_of("/sub/2"), 0);
        assert_eq!(server.hits_of("/c/next"), 0);
        // No barrier: /c (depth 3) was requested before /sub, which only /slow's late answer
        // makes reachable within the limit. A level barrier fetches /sub (depth 2) first.
        let hits = server.hits.borrow().clone();
        let at = |t: &str| hits.iter().position(|h| h == t).unwrap();
        assert!(at("/c") < at("/sub"), "{hits:?}");
    });
}

/// The same shape with the slow page at the depth limit's edge: a page first fetched at the
/// limit whose links were cut has them offered once a shorter path lowers it.
#[test]
fn links_cut_at_the_limit_are_followed_when_a_shorter_path_lowers_the_page() {
    run(|| async {
        let (listener, _) = bind().await;
        let server = serve(listener, |t| match t {
            "/" => html_page(&["/slow", "/a"]),
            "/slow" => delayed(Duration::from_millis(1000), html_page(&["/p"])),
            "/a" => html_page(&["/b"]),
            "/b" => html_page(&["/p"]),
            // Fetched at depth 3 (the limit) through /a, /b; its true depth is 2.
            "/p" => html_page(&["/q"]),
            "/q" => html_page(&[]),
            _ => not_found(),
        });
        let config = Config {
            max_depth: 3,
            respect_robots: false,
            ..Config::default()
        };
        let (_, records, _) = crawl_all(&config, vec![server.root.clone()], no_stop()).await;
        assert_unique(&records);
        let d = depths(&records);
        assert_eq!(d["/p"], 2, "{records:#?}");
        assert_eq!(d["/q"], 3, "{records:#?}");
        assert_eq!(server.hits_of("/p"), 1);
    });
}

/// Every level links a URL of a server that accepts and never answers. With a 1 s timeout the
/// crawl takes about one timeout in all (the silent fetches overlap), not one per level.
#[test]
fn links_to_a_silent_server_cost_one_timeout_not_one_per_level() {
    run(|| async {
        let (silent, silent_port) = bind().await;
        let _silent = serve(silent, |_| Reply::Hang);
        let (listener, _) = bind().await;
        const LEVELS: usize = 8;
        let server = serve(listener, move |t| {
            let n: usize = match t {
                "/" => 0,
                _ => match t.strip_prefix("/level/").and_then(|n| n.parse().ok()) {
                    Some(n) => n,
                    None => return not_found(),
                },
            };
            let next = format!("/level/{}", n + 1);
            let silent = format!("http://127.0.0.1:{silent_port}/hang/{n}");
            if n + 1 < LEVELS {
                html_page(&[&silent, &next])
            } else {
                html_page(&[&silent])
            }
        });
        let config = Config {
            max_depth: 20,
            respect_robots: false,
            timeout: Duration::from_secs(1),
            retries: 0,
            ..Config::default()
        };
        let started = Instant::now();
        let (summary, records, _) = crawl_all(&config, vec![server.root.clone()], no_stop()).await;
        let took = started.elapsed();
        assert_unique(&records);
        assert_eq!(records.len(), 2 * LEVELS, "{records:#?}");
        assert_eq!(summary.errors, LEVELS as u64, "{records:#?}");
        for r in &records {
            let t = target(&r.url);
            if t.starts_with("/hang/") {
                let e = r.error.as_deref().unwrap_or_default();
                assert!(e.contains("timeout"), "{r:?}");
            } else {
                assert_eq!(r.status, Some(200), "{r:?}");
            }
        }
        // A level barrier waits out LEVELS timeouts (8 s); without one the silent fetches
        // overlap. The bound is generous: about one timeout plus slack for a loaded machine.
        assert!(took >= Duration::from_secs(1), "{took:?}");
        assert!(
            took < Duration::from_secs(4),
            "took {took:?}: one timeout per level?"
        );
    });
}

/// While a silent fetch is in flight, deeper records wait for their depth to be final but the
/// crawl does not: every other page of the site is fetched meanwhile.
#[test]
fn the_crawl_goes_deep_while_a_shallow_fetch_hangs() {
    run(|| async {
        let (silent, silent_port) = bind().await;
        let _silent = serve(silent, |_| Reply::Hang);
        let (listener, _) = bind().await;
        let server = serve(listener, move |t| {
            let n: usize = match t {
                "/" => 0,
                _ => match t.strip_prefix("/chain/").and_then(|n| n.parse().ok()) {
                    Some(n) => n,
                    None => return not_found(),
                },
            };
            let silent = format!("http://127.0.0.1:{silent_port}/hang");
            let next = format!("/chain/{}", n + 1);
            match n {
                0 => html_page(&[&silent, &next]),
                1..30 => html_page(&[&next]),
                _ => html_page(&[]),
            }
        });
        let config = Config {
            max_depth: 100,
            respect_robots: false,
            timeout: Duration::from_secs(2),
            retries: 0,
            ..Config::default()
        };
        let started = Instant::now();
        let (_, records, _) = crawl_all(&config, vec![server.root.clone()], no_stop()).await;
        let took = started.elapsed();
        assert_eq!(records.len(), 32, "{records:#?}");
        let d = depths(&records);
        assert_eq!(d["/chain/30"], 30);
        assert_eq!(d["/hang"], 1);
        // All 31 chain pages were requested while the silent fetch hung (the crawl then ends
        // with that one timeout).
        assert_eq!(server.hits_of("/chain/30"), 1);
        assert!(took < Duration::from_secs(6), "{took:?}");
    });
}

/// Politeness is per host and port: a silent service on another port of the same host does not
/// take the slots of the web server (here one slot per host).
#[test]
fn a_silent_port_does_not_take_the_slots_of_another_port() {
    run(|| async {
        let (silent, silent_port) = bind().await;
        let _silent = serve(silent, |_| Reply::Hang);
        let (listener, _) = bind().await;
        let started = Instant::now();
        let asked = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let log = asked.clone();
        let hang = format!("http://127.0.0.1:{silent_port}/hang");
        let server = serve(listener, move |t| {
            log.borrow_mut().push((t.to_string(), started.elapsed()));
            match t {
                "/" => html_page(&[&hang, "/a"]),
                "/a" => html_page(&["/b"]),
                "/b" => html_page(&["/c"]),
                "/c" => html_page(&[]),
                _ => not_found(),
            }
        });
        let config = Config {
            per_host: 1,
            respect_robots: false,
            timeout: Duration::from_secs(3),
            retries: 0,
            ..Config::default()
        };
        let (_, records, _) = crawl_all(&config, vec![server.root.clone()], no_stop()).await;
        assert_eq!(records.len(), 5, "{records:#?}");
        let asked = asked.borrow();
        let (_, c_at) = asked.iter().find(|(t, _)| t == "/c").unwrap();
        // Requested while the silent fetch (3 s) still held its own slot.
        assert!(*c_at < Duration::from_secs(2), "{asked:?}");
    });
}

/// Caller numbers at their largest mean "no limit" or "never", not a panic: `concurrency` of
/// `usize::MAX`, a `delay` and a `grace` of `Duration::MAX` (one fetch per host, ever: a
/// one-page site is crawled and the crawl ends).
#[test]
fn limits_at_their_largest_do_not_overflow() {
    run(|| async {
        let (listener, _) = bind().await;
        let server = serve(listener, |t| match t {
            "/" => html_page(&[]),
            _ => not_found(),
        });
        let config = Config {
            concurrency: usize::MAX,
            per_host: usize::MAX,
            delay: Duration::MAX,
            grace: Duration::MAX,
            timeout: Duration::MAX,
            connect_timeout: Duration::MAX,
            idle_timeout: Duration::MAX,
            max_body: u64::MAX,
            max_pages: Some(u64::MAX),
            max_depth: u32::MAX,
            ..Config::default()
        };
        let (summary, records, _) = crawl_all(&config, vec![server.root.clone()], no_stop()).await;
        assert_eq!(records.len(), 1, "{records:#?}");
        assert_eq!(records[0].status, Some(200));
        assert_eq!(summary.errors, 0);
    });
}

/// A site with more URLs than `max_frontier`: the crawl keeps that many URLs (the seed
/// included), fetches them, and counts the new links it dropped; links to known URLs are not
/// counted, and no dropped URL is requested.
#[test]
fn past_max_frontier_new_links_are_counted_and_dropped() {
    run(|| async {
        let (listener, _) = bind().await;
        let links: Vec<String> = (0..20).map(|i| format!("/p{i}")).collect();
        let hrefs: Vec<&str> = links.iter().map(String::as_str).collect();
        let page = html_page(&hrefs);
        let page = match page {
            Reply::Bytes(bytes) => bytes,
            _ => unreachable!(),
        };
        let server = serve(listener, move |t| match t {
            // Every page links to the same 20, and to the root.
            "/" | "/p0" | "/p1" | "/p2" | "/p3" => Reply::Bytes(page.clone()),
            _ => html_page(&["/"]),
        });
        let config = Config {
            max_frontier: 5,
            respect_robots: false,
            ..Config::default()
        };
        let (summary, records, _) = crawl_all(&config, vec![server.root.clone()], no_stop()).await;
        assert_unique(&records);
        let mut fetched: Vec<String> = records.iter().map(|r| target(&r.url)).collect();
        fetched.sort();
        assert_eq!(fetched, ["/", "/p0", "/p1", "/p2", "/p3"], "{records:?}");
        // The root's 16 new links past /p3 are dropped; the same links on /p0../p3, and the
        // links back to `/`, are dropped or known again: each page offers 16 unknown URLs.
        assert_eq!(summary.dropped, 5 * 16, "{summary:?}");
        assert_eq!(server.hits_of("/p4"), 0);
        assert_eq!(summary.errors, 0);
    });
}
