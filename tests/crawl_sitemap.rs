//! `sitemaps` (`--sitemap`): the URLs of the seeds' origins' sitemaps become seeds. Servers run
//! on 127.0.0.1 only.
#![cfg(feature = "crawl")]

mod common;

use std::io::Write;

use common::crawl_server::*;
use wisp::crawl::{Config, UrlPattern};

fn urlset(locs: &[String]) -> Vec<u8> {
    let mut xml = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n",
    );
    for loc in locs {
        xml += &format!("<url><loc>{loc}</loc></url>\n");
    }
    xml += "</urlset>\n";
    xml.into_bytes()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn xml(body: Vec<u8>) -> Reply {
    Reply::Bytes(response("200 OK", "application/xml", "", &body))
}

/// robots.txt names an index, which names a plain and a gzipped sitemap; `/sitemap.xml` is
/// read too. Out-of-scope and rejected URLs are left out; the rest are depth-0 records.
#[test]
fn sitemaps_of_robots_txt_indexes_gzip_and_sitemap_xml_become_seeds() {
    run(|| async {
        let (listener, port) = bind().await;
        let root = format!("http://127.0.0.1:{port}");
        let r = root.clone();
        let server = serve(listener, move |t| match t {
            "/robots.txt" => Reply::Bytes(response(
                "200 OK",
                "text/plain",
                "",
                format!("User-agent: *\nAllow: /\nSitemap: {r}/maps/index.xml\n").as_bytes(),
            )),
            "/maps/index.xml" => xml(format!(
                "<sitemapindex><sitemap><loc>{r}/maps/a.xml</loc></sitemap>\
                 <sitemap><loc>{r}/maps/b.xml.gz</loc></sitemap></sitemapindex>"
            )
            .into_bytes()),
            "/maps/a.xml" => xml(urlset(&[
                format!("{r}/from-a?x=1&amp;y=2"),
                "http://elsewhere.invalid/x".into(),
                format!("{r}/private/no"),
            ])),
            "/maps/b.xml.gz" => Reply::Bytes(response(
                "200 OK",
                "application/gzip",
                "",
                &gzip(&urlset(&[format!("{r}/from-b")])),
            )),
            "/sitemap.xml" => xml(urlset(&[format!("{r}/from-default"), format!("{r}/")])),
            _ => html_page(&[]),
        });
        let config = Config {
            sitemaps: true,
            reject_urls: vec![UrlPattern::new("/private/").unwrap()],
            ..Config::default()
        };
        let (summary, records, _) = crawl_all(&config, vec![format!("{root}/")], no_stop()).await;
        let mut found: Vec<(String, u32)> =
            records.iter().map(|r| (target(&r.url), r.depth)).collect();
        found.sort();
        let expected = [
            ("/", 0),
            ("/from-a?x=1&y=2", 0),
            ("/from-b", 0),
            ("/from-default", 0),
        ]
        .map(|(t, d)| (t.to_string(), d));
        assert_eq!(found, expected, "{records:?}");
        assert_eq!(summary.errors, 0);
        assert_eq!(server.hits_of("/private/no"), 0);
        assert_unique(&records);
    });
}

#[test]
fn without_the_option_no_sitemap_is_read() {
    run(|| async {
        let (listener, _) = bind().await;
        let server = serve(listener, |t| match t {
            "/sitemap.xml" => xml(urlset(&["/never".into()])),
            _ => html_page(&[]),
        });
        let config = Config {
            respect_robots: false,
            ..Config::default()
        };
        let (_, records, _) = crawl_all(&config, vec![server.root.clone()], no_stop()).await;
        assert_eq!(records.len(), 1);
        assert_eq!(server.hits_of("/sitemap.xml"), 0);
    });
}

/// The crawl program with `--sitemap`: robots.txt names a sitemap index, which names a gzipped
/// sitemap; its pages are crawled as seeds (depth 0, so `--depth 0` fetches them too).
#[test]
fn the_binary_reads_a_sitemap_index_with_a_gzipped_sitemap() {
    let (port, heads) = serve_on_thread(move |target| match target {
        "/robots.txt" => response(
            "200 OK",
            "text/plain",
            "",
            b"User-agent: *\nDisallow: /private/\nSitemap: /maps/index.xml\n",
        ),
        "/maps/index.xml" => response(
            "200 OK",
            "application/xml",
            "",
            b"<sitemapindex><sitemap><loc>/maps/pages.xml.gz</loc></sitemap></sitemapindex>",
        ),
        "/maps/pages.xml.gz" => response(
            "200 OK",
            "application/gzip",
            "",
            &gzip(&urlset(&[
                "/one".into(),
                "/two?a=1&amp;b=2".into(),
                "/private/x".into(),
            ])),
        ),
        "/sitemap.xml" => response("404 Not Found", "text/plain", "", b"none"),
        _ => match html_page(&[]) {
            Reply::Bytes(bytes) => bytes,
            _ => unreachable!(),
        },
    });
    let origin = format!("http://127.0.0.1:{port}");
    let root = format!("{origin}/");
    let out = crawl_binary(&["--sitemap", "--depth", "0", "-q", "--jsonl", "-", &root]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let mut urls: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.split("\"url\":\"").nth(1)?.split('"').next())
        .collect();
    urls.sort();
    let want = ["/", "/one", "/private/x", "/two?a=1&b=2"].map(|t| format!("{origin}{t}"));
    assert_eq!(urls, want, "{stdout}");
    // The disallowed one is a record that says so, and was never requested.
    let private = stdout.lines().find(|l| l.contains("/private/x")).unwrap();
    assert!(private.contains("disallowed by robots.txt"), "{private}");
    let heads = heads.lock().unwrap();
    assert!(
        !heads.iter().any(|h| h.starts_with("GET /private/")),
        "{heads:?}"
    );
}
