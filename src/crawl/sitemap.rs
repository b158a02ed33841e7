//! `--sitemap`: more seeds from the sitemaps of the seeds' origins (sitemaps.org protocol 0.9):
//! those named by `Sitemap:` lines of robots.txt, and `/sitemap.xml`. A sitemap index leads to
//! more sitemaps; a gzipped file (`.xml.gz`, recognized by its magic bytes) is inflated. Each
//! file is read within the protocol's limits, 50 000 entries and 50 MB uncompressed; what is
//! past them is left out.
//!
//! [`parse`] is pure; [`discover`] fetches, one file after another, before the crawl starts.

use std::collections::HashSet;
use std::io::Read;

use quick_xml::Reader;
use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::Event;
use url::Url;

use super::retry;
use crate::http::{Client, Error, Response};

/// The most entries (`<url>` or `<sitemap>`) read from one file.
pub(crate) const MAX_ENTRIES: usize = 50_000;
/// The most bytes of one file, uncompressed.
pub(crate) const MAX_BYTES: u64 = 50 * 1000 * 1000;
/// The most sitemap files fetched per origin (indexes and robots.txt lines included).
pub(crate) const MAX_FILES: usize = 100;

/// What one sitemap file holds.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Sitemap {
    /// `<urlset><url><loc>`: pages.
    pub urls: Vec<String>,
    /// `<sitemapindex><sitemap><loc>`: more sitemap files.
    pub sitemaps: Vec<String>,
}

/// The `<loc>`s of a sitemap or sitemap index, at most [`MAX_ENTRIES`]; a malformed file
/// gives what came before the error.
pub(crate) fn parse(xml: &[u8]) -> Sitemap {
    let mut reader = Reader::from_reader(xml);
    let mut buf = Vec::new();
    let mut out = Sitemap::default();
    // The entry being read: true for `<sitemap>`, false for `<url>`; `loc` is its text so far,
    // `None` outside `<loc>`.
    let mut in_index_entry = false;
    let mut loc: Option<String> = None;
    loop {
        if out.urls.len() + out.sitemaps.len() >= MAX_ENTRIES {
            break;
        }
        let event = match reader.read_event_into(&mut buf) {
            Ok(Event::Eof) | Err(_) => break,
            Ok(event) => event,
        };
        match event {
            Event::Start(e) => match e.local_name().as_ref() {
                b"url" => in_index_entry = false,
                b"sitemap" => in_index_entry = true,
                b"loc" => loc = Some(String::new()),
                _ => {}
            },
            Event::Text(t) => {
                if let (Some(loc), Ok(text)) = (loc.as_mut(), t.decode()) {
                    loc.push_str(&text);
                }
            }
            Event::CData(t) => {
                if let (Some(loc), Ok(text)) = (loc.as_mut(), t.decode()) {
                    loc.push_str(&text);
                }
            }
            Event::GeneralRef(r) => {
                if let Some(loc) = loc.as_mut() {
                    if let Ok(Some(c)) = r.resolve_char_ref() {
                        loc.push(c);
                    } else if let Some(s) =
                        r.decode().ok().and_then(|n| resolve_predefined_entity(&n))
                    {
                        loc.push_str(s);
                    }
                }
            }
            Event::End(e) if e.local_name().as_ref() == b"loc" => {
                if let Some(text) = loc.take() {
                    let text = text.trim().to_string();
                    if !text.is_empty() {
                        let list = if in_index_entry {
                            &mut out.sitemaps
                        } else {
                            &mut out.urls
                        };
                        list.push(text);
                    }
                }
            }
            _ => {}
        }
        buf.clear();
    }
    out
}

/// The `Sitemap:` URLs of a robots.txt (the field name in any case; absolute URLs, or resolved
/// against `base`).
pub(crate) fn robots_sitemaps(robots: &[u8], base: &Url) -> Vec<Url> {
    String::from_utf8_lossy(robots)
        .lines()
        .filter_map(|line| {
            let line = line.split('#').next().unwrap_or("").trim();
            let (name, value) = line.split_once(':')?;
            if !name.trim().eq_ignore_ascii_case("sitemap") {
                return None;
            }
            base.join(value.trim()).ok()
        })
        .collect()
}

/// The page URLs of the sitemaps of `origins`, in the order found, each once. `client` should
/// follow redirects and take bodies of [`MAX_BYTES`]; a file that cannot be fetched or read is
/// skipped.
pub(crate) async fn discover(client: &Client, origins: &[Url], retries: u32) -> Vec<Url> {
    let mut pages = Vec::new();
    let mut seen_pages = HashSet::new();
    for origin in origins {
        let mut queue: Vec<Url> = Vec::new();
        if let Ok(robots) = origin.join("/robots.txt")
            && let Some(body) = fetch_body(client, &robots, retries).await
        {
            queue.extend(robots_sitemaps(&body, &robots));
        }
        queue.extend(origin.join("/sitemap.xml").ok());
        let mut seen_files = HashSet::new();
        let mut next = 0;
        while next < queue.len() && seen_files.len() < MAX_FILES {
            let file = queue[next].clone();
            next += 1;
            if !matches!(file.scheme(), "http" | "https") || !seen_files.insert(file.clone()) {
                continue;
            }
            let Some(body) = fetch_body(client, &file, retries).await else {
                continue;
            };
            let map = parse(&body);
            queue.extend(map.sitemaps.iter().filter_map(|s| file.join(s).ok()));
            for url in map.urls.iter().filter_map(|u| file.join(u).ok()) {
                if matches!(url.scheme(), "http" | "https") && seen_pages.insert(url.clone()) {
                    pages.push(url);
                }
            }
        }
    }
    pages
}

/// A 2xx body, inflated if it is gzip, at most [`MAX_BYTES`]; `None` on any failure.
async fn fetch_body(client: &Client, url: &Url, retries: u32) -> Option<Vec<u8>> {
    let mut response = retry::get(client, url, retries).await.ok()?;
    if !(200..300).contains(&response.status()) {
        return None;
    }
    let body = read_all(&mut response).await.ok()?;
    if body.starts_with(&[0x1f, 0x8b]) {
        let mut inflated = Vec::new();
        flate2::read::GzDecoder::new(&body[..])
            .take(MAX_BYTES)
            .read_to_end(&mut inflated)
            .ok()?;
        return Some(inflated);
    }
    Some(body)
}

/// The body, up to [`MAX_BYTES`] (the client's `max_body` ending it keeps what came).
async fn read_all(response: &mut Response) -> Result<Vec<u8>, Error> {
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(piece)) => {
                let room = MAX_BYTES as usize - body.len();
                if piece.len() >= room {
                    body.extend_from_slice(&piece[..room]);
                    return Ok(body);
                }
                body.extend_from_slice(piece);
            }
            Ok(None) => return Ok(body),
            Err(Error::BodyTooLarge { .. }) => return Ok(body),
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_urlset_gives_pages_and_an_index_gives_sitemaps() {
        let xml = br#"<?xml version="1.0" encoding="UTF-8"?>
            <urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
              <url><loc> http://h/a?x=1&amp;y=2 </loc><lastmod>2024-01-01</lastmod></url>
              <url><loc><![CDATA[http://h/b]]></loc></url>
            </urlset>"#;
        assert_eq!(parse(xml).urls, ["http://h/a?x=1&y=2", "http://h/b"]);
        let index = br#"<sitemapindex><sitemap><loc>http://h/s1.xml.gz</loc></sitemap>
            </sitemapindex>"#;
        let map = parse(index);
        assert_eq!(
            (map.sitemaps, map.urls.len()),
            (vec!["http://h/s1.xml.gz".into()], 0)
        );
    }

    #[test]
    fn at_most_fifty_thousand_entries_are_read_from_one_file() {
        let mut xml = String::from("<urlset>");
        for i in 0..MAX_ENTRIES + 5 {
            xml += &format!("<url><loc>http://h/{i}</loc></url>");
        }
        xml += "</urlset>";
        assert_eq!(parse(xml.as_bytes()).urls.len(), MAX_ENTRIES);
    }

    #[test]
    fn robots_sitemap_lines_in_any_case() {
        let base = Url::parse("http://h/robots.txt").unwrap();
        let robots =
            b"User-agent: *\nSITEMAP: http://h/a.xml # main\nsitemap:/b.xml\nDisallow: /\n";
        let found: Vec<String> = robots_sitemaps(robots, &base)
            .iter()
            .map(Url::to_string)
            .collect();
        assert_eq!(found, ["http://h/a.xml", "http://h/b.xml"]);
    }
}
