//! Link extraction from an HTML page: the URLs a crawler follows or fetches next.
//!
//! The page is tokenized with `html5gum` (a WHATWG-conformant tokenizer), not searched with
//! string matching, so that:
//!
//! - tag and attribute names match case-insensitively (the tokenizer lowercases them);
//! - attribute values are entity-decoded (`&amp;` becomes `&`);
//! - markup inside comments, and inside the raw text of `<script>`, `<style>` (and the other
//!   raw-text elements: `<textarea>`, `<title>`, `<noscript>`, `<iframe>` content, ...) is text,
//!   not tags, so `document.write('<a href="y">')` is not a link.
//!
//! Which attributes are links: `a[href]`, `link[href]`, `img[src]`, `script[src]`,
//! `iframe[src]`. Each value is trimmed of ASCII whitespace and resolved with [`Url::join`]
//! against the document base: the first `<base href>` (itself resolved against the page URL),
//! wherever it appears, else the page URL. Only `http` and `https` results are kept (`mailto:`,
//! `javascript:`, `data:`, `tel:`, `ftp:` are dropped), fragments are removed, and duplicates
//! are removed keeping the first-seen order.
//!
//! The tokenizer works on bytes, so bodies that are not valid UTF-8 are fine; attribute values
//! are converted lossily (invalid bytes become U+FFFD, which `Url::join` percent-encodes).

use std::collections::HashSet;

use html5gum::{DefaultEmitter, Token, Tokenizer};
use url::Url;

/// The most links [`extract_links`] returns for one page.
///
/// A hostile or generated page can hold millions of links; the crawler only needs a page's first
/// few thousand to make progress, and this bounds the memory and frontier growth one page can
/// cause. Candidates are considered in document order and the first `MAX_LINKS` distinct ones
/// are returned (the rest of the page is still scanned for a `<base href>`).
pub const MAX_LINKS: usize = 10_000;

/// The links in `html` (a page fetched from `page`), resolved, filtered and deduplicated as the
/// module docs describe; at most [`MAX_LINKS`] of them. Never panics, whatever the bytes.
pub fn extract_links(html: &[u8], page: &Url) -> Vec<Url> {
    let mut emitter = DefaultEmitter::default();
    // Switch to script/raw-text states after <script>, <style>, ... so their content is text.
    emitter.naively_switch_states(true);
    let tokenizer = Tokenizer::new_with_emitter(html, emitter);

    let mut base: Option<Url> = None;
    let mut seen_raw: HashSet<String> = HashSet::new();
    let mut raw: Vec<String> = Vec::new();

    for token in tokenizer {
        let Ok(Token::StartTag(tag)) = token else {
            continue;
        };
        let attr = match tag.name.as_slice() {
            b"a" | b"link" | b"base" => &b"href"[..],
            b"img" | b"script" | b"iframe" => &b"src"[..],
            _ => continue,
        };
        let Some(value) = tag.attributes.get(attr) else {
            continue;
        };
        let value = String::from_utf8_lossy(value);
        let value = value.trim_matches(|c: char| c.is_ascii_whitespace());
        if tag.name.as_slice() == b"base" {
            // Only the first <base> with an href counts, even if it does not parse.
            if base.is_none() {
                base = Some(page.join(value).unwrap_or_else(|_| page.clone()));
            }
            continue;
        }
        // Bound by distinct raw values: resolution may merge a few more later.
        if raw.len() < MAX_LINKS && seen_raw.insert(value.to_owned()) {
            raw.push(value.to_owned());
        }
        if raw.len() >= MAX_LINKS && base.is_some() {
            break;
        }
    }

    let base = base.as_ref().unwrap_or(page);
    let mut seen: HashSet<Url> = HashSet::new();
    let mut out = Vec::new();
    for value in &raw {
        let Ok(mut url) = base.join(value) else {
            continue;
        };
        if !matches!(url.scheme(), "http" | "https") {
            continue;
        }
        url.set_fragment(None);
        if seen.insert(url.clone()) {
            out.push(url);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn page() -> Url {
        Url::parse("http://example.com/dir/page.html").unwrap()
    }

    fn links(html: &str) -> Vec<String> {
        extract_links(html.as_bytes(), &page())
            .into_iter()
            .map(String::from)
            .collect()
    }

    #[test]
    fn all_link_attributes_are_found_and_resolved() {
        let html = r#"<html><head>
            <link rel="stylesheet" href="/s.css"><script src="app.js"></script></head>
            <body><a href="b.html">b</a><img src="../i.png"><iframe src="https://o.org/f"></iframe>
            <img href="not-a-link.png"><a src="not-either"><div href="no"></div></body></html>"#;
        assert_eq!(
            links(html),
            [
                "http://example.com/s.css",
                "http://example.com/dir/app.js",
                "http://example.com/dir/b.html",
                "http://example.com/i.png",
                "https://o.org/f",
            ]
        );
    }

    #[test]
    fn names_are_case_insensitive() {
        assert_eq!(
            links(r#"<A HREF="x"><IMG Src="y"><ScRiPt SRC="z"></ScRiPt>"#),
            [
                "http://example.com/dir/x",
                "http://example.com/dir/y",
                "http://example.com/dir/z"
            ]
        );
    }

    #[test]
    fn entities_are_decoded() {
        assert_eq!(
            links(r#"<a href="q?a=1&amp;b=2&#38;c=3">"#),
            ["http://example.com/dir/q?a=1&b=2&c=3"]
        );
    }

    #[test]
    fn base_href_is_used_and_resolved_against_the_page() {
        let html = r#"<a href="before"><base href="/other/"><base href="http://ignored.org/">
            <a href="after">"#;
        assert_eq!(
            links(html),
            [
                "http://example.com/other/before",
                "http://example.com/other/after"
            ]
        );
        // A <base> without href does not count; the first one with an href does.
        assert_eq!(
            links(r#"<base target="_top"><base href="http://b.org/x/"><a href="y">"#),
            ["http://b.org/x/y"]
        );
    }

    #[test]
    fn whitespace_is_trimmed() {
        assert_eq!(
            links("<a href=\"  \n\tx.html \r\n\">"),
            ["http://example.com/dir/x.html"]
        );
    }

    #[test]
    fn only_http_and_https_are_kept() {
        let html = r#"<a href="mailto:a@b.c"><a href="javascript:void(0)"><a href="data:text/plain,x">
            <a href="tel:123"><a href="ftp://f.org/x"><a href="HTTPS://S.org/"><a href="//p.org/q">"#;
        assert_eq!(links(html), ["https://s.org/", "http://p.org/q"]);
    }

    #[test]
    fn fragments_are_dropped_and_duplicates_removed_in_order() {
        let html = r##"<a href="b#1"><a href="a"><a href="b#2"><a href="#top"><a href="./a">
            <img src="b">"##;
        assert_eq!(
            links(html),
            [
                "http://example.com/dir/b",
                "http://example.com/dir/a",
                "http://example.com/dir/page.html"
            ]
        );
    }

    #[test]
    fn comments_scripts_and_styles_are_not_markup() {
        let html = r#"<!-- <a href="x"> --><script>document.write('<a href="y">')</script>
            <style>/* <a href="s"> */ a { background: url(q.png) }</style>
            <textarea><a href="t"></textarea><a href="real">"#;
        assert_eq!(links(html), ["http://example.com/dir/real"]);
    }

    #[test]
    fn invalid_utf8_does_not_panic() {
        let mut html = b"<p>\xff\xfe\xc3</p><a href=\"a\xffb\">x</a><a href=\"ok\">".to_vec();
        html.extend_from_slice(b"\x80\x80<img src=\"\xe2\x82\">");
        let got: Vec<String> = extract_links(&html, &page())
            .into_iter()
            .map(String::from)
            .collect();
        assert_eq!(
            got,
            [
                "http://example.com/dir/a%EF%BF%BDb",
                "http://example.com/dir/ok",
                "http://example.com/dir/%EF%BF%BD"
            ]
        );
    }

    #[test]
    fn at_most_max_links() {
        let mut html = String::new();
        for i in 0..MAX_LINKS + 50 {
            html.push_str(&format!("<a href=\"/p{i}\">"));
        }
        let got = extract_links(html.as_bytes(), &page());
        assert_eq!(got.len(), MAX_LINKS);
        assert_eq!(got[0].as_str(), "http://example.com/p0");
        assert_eq!(
            got[MAX_LINKS - 1].as_str(),
            format!("http://example.com/p{}", MAX_LINKS - 1)
        );
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let got = extract_links(&bytes, &page());
            prop_assert!(got.len() <= MAX_LINKS);
        }

        #[test]
        fn arbitrary_attribute_values_never_panic(v in ".{0,64}", tag in "(a|img|base|link)") {
            let attr = if tag == "img" { "src" } else { "href" };
            let html = format!("<{tag} {attr}=\"{v}\"><a href='{v}'>");
            for url in extract_links(html.as_bytes(), &page()) {
                prop_assert!(matches!(url.scheme(), "http" | "https"));
                prop_assert!(url.fragment().is_none());
            }
        }
    }
}
