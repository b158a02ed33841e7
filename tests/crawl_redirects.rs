//! Every redirect hop is checked like a link: the visited set (no URL fetched twice), the
//! target origin's robots.txt, the host scope; chains are bounded and never loop.
#![cfg(feature = "crawl")]

mod common;

use common::crawl_server::*;
use wisp::crawl::{Config, DISALLOWED, Record};

fn redirect(status: &str, location: &str) -> Reply {
    let header = format!("Location: {location}\r\n");
    Reply::Bytes(response(
        status,
        "text/html",
        &header,
        b"<a href=\"/moved\">moved</a>",
    ))
}

fn find<'a>(records: &'a [Record], t: &str) -> &'a Record {
    records
        .iter()
        .find(|r| target(&r.url) == t)
        .unwrap_or_else(|| panic!("no record of {t}: {records:#?}"))
}

#[test]
fn a_redirect_into_a_disallowed_path_is_not_fetched() {
    run(|| async {
        let (listener, _) = bind().await;
        let server = serve(listener, |t| match t {
            "/robots.txt" => Reply::Bytes(response(
                "200 OK",
                "text/plain",
                "",
                b"User-agent: *\nDisallow: /private/\n",
            )),
            "/" => html_page(&["/go"]),
            "/go" => redirect("302 Found", "/private/secret.html"),
            "/private/secret.html" => html_page(&[]),
            _ => not_found(),
        });
        let (summary, records, _) =
            crawl_all(&Config::default(), vec![server.root.clone()], no_stop()).await;
        let go = find(&records, "/go");
        assert_eq!(go.error.as_deref(), Some(DISALLOWED), "{go:?}");
        assert_eq!(
            go.final_url.as_deref(),
            Some(format!("{}private/secret.html", server.root).as_str())
        );
        assert_eq!(server.hits_of("/private/secret.html"), 0);
        assert_eq!(summary.disallowed, 1);
        assert_eq!(records.len(), 2, "{records:#?}");
    });
}

/// `/r1` and `/r2` redirect to `/a`, which `/` also links: `/a` is fetched once, and each
/// redirect's record is the 302 naming its target.
#[test]
fn a_redirect_to_a_url_already_taken_names_it_and_does_not_fetch_it_again() {
    run(|| async {
        let (listener, _) = bind().await;
        let server = serve(listener, |t| match t {
            "/" => html_page(&["/r1", "/r2", "/a"]),
            "/r1" | "/r2" => redirect("302 Found", "/a"),
            "/a" => html_page(&[]),
            _ => not_found(),
        });
        let (_, records, _) =
            crawl_all(&Config::default(), vec![server.root.clone()], no_stop()).await;
        assert_unique(&records);
        assert_eq!(server.hits_of("/a"), 1);
        let a = format!("{}a", server.root);
        for t in ["/r1", "/r2"] {
            let r = find(&records, t);
            assert_eq!(r.status, Some(302), "{r:?}");
            assert_eq!(r.final_url.as_deref(), Some(a.as_str()), "{r:?}");
            assert_eq!(r.redirects, 1, "{r:?}");
        }
        assert_eq!(find(&records, "/a").status, Some(200));
        // The 302 bodies were not read as pages.
        assert_eq!(server.hits_of("/moved"), 0);
    });
}

/// Two redirects to one target nothing links: the first fetches it, the second names it.
#[test]
fn two_redirects_to_one_new_target_fetch_it_once() {
    run(|| async {
        let (listener, _) = bind().await;
        let server = serve(listener, |t| match t {
            "/" => html_page(&["/r1", "/r2"]),
            "/r1" | "/r2" => redirect("301 Moved Permanently", "/t"),
            "/t" => html_page(&["/t/child"]),
            "/t/child" => html_page(&[]),
            _ => not_found(),
        });
        let (_, records, _) =
            crawl_all(&Config::default(), vec![server.root.clone()], no_stop()).await;
        assert_unique(&records);
        assert_eq!(server.hits_of("/t"), 1);
        let t = format!("{}t", server.root);
        let (r1, r2) = (find(&records, "/r1"), find(&records, "/r2"));
        let mut statuses = [r1.status, r2.status];
        statuses.sort();
        assert_eq!(statuses, [Some(200), Some(301)], "{records:#?}");
        for r in [r1, r2] {
            assert_eq!(r.final_url.as_deref(), Some(t.as_str()), "{r:?}");
            assert_eq!(r.redirects, 1);
        }
        // The target's links are followed, one hop below the redirecting URL.
        assert_eq!(find(&records, "/t/child").depth, 2);
        // No record of its own for the target.
        assert!(!records.iter().any(|r| target(&r.url) == "/t"));
    });
}

#[test]
fn final_url_never_carries_a_fragment() {
    run(|| async {
        let (listener, _) = bind().await;
        let server = serve(listener, |t| match t {
            "/" => html_page(&["/f"]),
            "/f" => redirect("302 Found", "/index.html#frag"),
            "/index.html" => html_page(&[]),
            _ => not_found(),
        });
        let (_, records, _) =
            crawl_all(&Config::default(), vec![server.root.clone()], no_stop()).await;
        let f = find(&records, "/f");
        assert_eq!(f.status, Some(200));
        assert_eq!(
            f.final_url.as_deref(),
            Some(format!("{}index.html", server.root).as_str())
        );
    });
}

#[test]
fn a_redirect_loop_ends_with_a_record_naming_the_url_it_returns_to() {
    run(|| async {
        let (listener, _) = bind().await;
        let server = serve(listener, |t| match t {
            "/" => html_page(&["/l1"]),
            "/l1" => redirect("302 Found", "/l2"),
            "/l2" => redirect("302 Found", "/l1"),
            _ => not_found(),
        });
        let (_, records, _) =
            crawl_all(&Config::default(), vec![server.root.clone()], no_stop()).await;
        let l1 = find(&records, "/l1");
        assert_eq!(l1.status, Some(302));
        assert_eq!(l1.redirects, 2);
        assert_eq!(
            l1.final_url.as_deref(),
            Some(format!("{}l1", server.root).as_str())
        );
        assert_eq!(server.hits_of("/l1"), 1);
        assert_eq!(server.hits_of("/l2"), 1);
    });
}

#[test]
fn a_long_chain_ends_with_too_many_redirects() {
    run(|| async {
        let (listener, _) = bind().await;
        let server = serve(listener, |t| {
            if t == "/" {
                return html_page(&["/c/0"]);
            }
            match t.strip_prefix("/c/").and_then(|n| n.parse::<u32>().ok()) {
                Some(n) => redirect("302 Found", &format!("/c/{}", n + 1)),
                None => not_found(),
            }
        });
        let (summary, records, _) =
            crawl_all(&Config::default(), vec![server.root.clone()], no_stop()).await;
        let c = find(&records, "/c/0");
        assert!(
            c.error.as_deref().unwrap().contains("too many redirects"),
            "{c:?}"
        );
        assert_eq!(summary.errors, 1);
        assert_eq!(server.hits_of("/c/10"), 1);
        assert_eq!(server.hits_of("/c/11"), 0);
    });
}

/// A hop to another allowed host is fetched under that host's rules: its origin's robots.txt
/// is asked first, as for a link.
#[test]
fn a_redirect_to_another_allowed_host_is_fetched_there() {
    run(|| async {
        let (other, other_port) = bind().await;
        let other = serve(other, |t| match t {
            "/landing" => html_page(&[]),
            _ => not_found(),
        });
        let (listener, _) = bind().await;
        let location = format!("http://localhost:{other_port}/landing");
        let server = serve(listener, move |t| match t {
            "/" => html_page(&["/away"]),
            "/away" => redirect("302 Found", &location),
            _ => not_found(),
        });
        let config = Config {
            allow_hosts: vec!["localhost".into()],
            ..Config::default()
        };
        let (_, records, _) = crawl_all(&config, vec![server.root.clone()], no_stop()).await;
        let away = find(&records, "/away");
        assert_eq!(away.status, Some(200), "{away:?}");
        assert_eq!(other.hits_of("/landing"), 1);
        // The other origin's robots.txt was asked before the hop was fetched.
        assert_eq!(other.hits_of("/robots.txt"), 1);
        let hits = other.hits.borrow().clone();
        assert_eq!(hits, ["/robots.txt", "/landing"]);
    });
}
