//! Link extraction from an HTML page: the URLs a crawler follows or fetches next.
//!
//! ```
//! use url::Url;
//! use wisp::crawl::links::extract_links;
//!
//! let page = Url::parse("http://example.com/dir/").unwrap();
//! // "caf\xE9" is "café" in Latin-1: the link is the one a browser follows.
//! let html = b"<a href=\"caf\xE9.html?q=caf\xE9\">";
//! let links = extract_links(html, &page, Some("text/html; charset=iso-8859-1"));
//! assert_eq!(links[0].as_str(), "http://example.com/dir/caf%C3%A9.html?q=caf%E9");
//! ```
//!
//! The page is tokenized with `html5gum` (a WHATWG-conformant tokenizer), not searched with
//! string matching, into the start tags that carry links only (`link_tags.rs`: no text,
//! comment or other tokens are built), so that:
//!
//! - tag and attribute names match case-insensitively (the tokenizer lowercases them);
//! - attribute values are entity-decoded (`&amp;` becomes `&`);
//! - markup inside comments, and inside the raw text of `<script>`, `<style>` (and the other
//!   raw-text elements: `<textarea>`, `<title>`, `<noscript>`, `<iframe>` content, ...) is text,
//!   not tags, so `document.write('<a href="y">')` is not a link.
//!
//! Which attributes are links: `a[href]`, `link[href]`, `img[src]`, `script[src]`,
//! `iframe[src]`. Each value is trimmed of ASCII whitespace and resolved (as [`Url::join`] does)
//! against the document base: the first `<base href>` (itself resolved against the page URL),
//! wherever it appears, else the page URL. Only `http` and `https` results are kept (`mailto:`,
//! `javascript:`, `data:`, `tel:`, `ftp:` are dropped), fragments are removed, and duplicates
//! are removed keeping the first-seen order.
//!
//! The page is read in its own character encoding, decided by [`html_encoding`] from a byte
//! order mark, the `Content-Type` header's `charset`, a `<meta>` in the first 1024 bytes, or else
//! windows-1252 (the web's default), as a browser decides it:
//!
//! - a UTF-8 page is tokenized as it is, and invalid bytes in a value become U+FFFD (which URL
//!   resolution percent-encodes as `%EF%BF%BD`);
//! - a page in any other encoding is decoded to UTF-8 first, then tokenized. That is a borrow,
//!   not a copy, when the body is ASCII, and it is what makes a character reference right in a
//!   legacy page: `caf&eacute;` and a Latin-1 `caf\xE9` are both `café`;
//! - the path of a link is always percent-encoded as UTF-8 (`café/` is `caf%C3%A9/`), its query
//!   in the page's output encoding ([`Encoding::output_encoding`]: a windows-1252 page's `?q=café`
//!   is `?q=caf%E9`, a UTF-16 page's is UTF-8), as browsers encode it; a character that encoding
//!   cannot represent is written as a decimal character reference (`&#8364;`) before
//!   percent-encoding, as the Encoding Standard's encoder does.
//!
//! [`html_encoding`]: super::charset::html_encoding

use std::borrow::Cow;
use std::collections::HashSet;

use encoding_rs::{Encoding, UTF_8};
use html5gum::Tokenizer;
use url::Url;

use crate::http::parse_url::path_on_origin;

use super::charset::html_encoding;
use super::link_tags::LinkTags;

/// The most links [`extract_links`] returns for one page.
///
/// A hostile or generated page can hold millions of links; the crawler only needs a page's first
/// few thousand to make progress, and this bounds the memory and frontier growth one page can
/// cause. Candidates are considered in document order and the first `MAX_LINKS` distinct ones
/// are returned (the rest of the page is still scanned for a `<base href>`).
pub const MAX_LINKS: usize = 10_000;

/// The links in `html` (a page fetched from `page`, served with the `Content-Type` header
/// `content_type`), read in the page's encoding, resolved, filtered and deduplicated as the
/// module docs describe; at most [`MAX_LINKS`] of them. Never panics, whatever the bytes.
pub fn extract_links(html: &[u8], page: &Url, content_type: Option<&str>) -> Vec<Url> {
    let encoding = html_encoding(html, content_type);
    // A byte order mark decided the encoding whenever there is one; it is not content.
    let body = Encoding::for_bom(html).map_or(html, |(_, len)| &html[len..]);
    let text: Cow<'_, [u8]> = if encoding == UTF_8 {
        Cow::Borrowed(body)
    } else {
        match encoding.decode_without_bom_handling(body).0 {
            Cow::Borrowed(s) => Cow::Borrowed(s.as_bytes()),
            Cow::Owned(s) => Cow::Owned(s.into_bytes()),
        }
    };

    // The emitter switches to script/raw-text states after <script>, <style>, ... so their
    // content is text.
    let tokenizer = Tokenizer::new_with_emitter(&*text, LinkTags::default());

    // Queries are encoded in the page's output encoding; UTF-8 needs no override (the fast path).
    let output = encoding.output_encoding();
    let encode_query: &dyn Fn(&str) -> Cow<'_, [u8]> = &|s| output.encode(s).0;
    let encode_query = (output != UTF_8).then_some(encode_query);
    // An absolute link to the base's own origin (most links of many sites) is parsed as its
    // path against the base: the same URL without parsing the scheme and host again (about
    // 4 000 instructions less for an IPv4 host; `http::parse_url` says why it is the same).
    let resolve = |base: &Url, value: &str| {
        Url::options()
            .base_url(Some(base))
            .encoding_override(encode_query)
            .parse(path_on_origin(base, value).unwrap_or(value))
    };

    let mut base: Option<Url> = None;
    let mut seen_raw: HashSet<String> = HashSet::new();
    let mut raw: Vec<String> = Vec::new();

    for token in tokenizer {
        let tag = match token {
            Ok(tag) => tag,
            Err(never) => match never {},
        };
        // Only a UTF-8 page can hold invalid bytes here: a decoded one is UTF-8 throughout.
        let value = String::from_utf8_lossy(&tag.value);
        let value = value.trim_matches(|c: char| c.is_ascii_whitespace());
        if tag.is_base {
            // Only the first <base> with an href counts, even if it does not parse.
            if base.is_none() {
                base = Some(resolve(page, value).unwrap_or_else(|_| page.clone()));
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
        let Ok(mut url) = resolve(base, value) else {
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

    const UTF8: Option<&str> = Some("text/html; charset=utf-8");
    const LATIN1: Option<&str> = Some("text/html; charset=iso-8859-1");

    /// The links of a UTF-8 page.
    fn links(html: &str) -> Vec<String> {
        links_of(html.as_bytes(), UTF8)
    }

    /// The links of a page of bytes served with this Content-Type.
    fn links_of(html: &[u8], content_type: Option<&str>) -> Vec<String> {
        extract_links(html, &page(), content_type)
            .into_iter()
            .map(String::from)
            .collect()
    }

    /// `s` as UTF-16LE bytes, after a byte order mark.
    fn utf16le_with_bom(s: &str) -> Vec<u8> {
        let mut out = vec![0xFF, 0xFE];
        for unit in s.encode_utf16() {
            out.extend_from_slice(&unit.to_le_bytes());
        }
        out
    }

    /// Absolute links to the page's own origin take the short way (their path parsed against
    /// the page), and come out exactly as a full parse gives them: a query in the page's own
    /// encoding, a `//` or a tab that makes the rest read as another host, another port.
    #[test]
    fn absolute_links_to_the_pages_origin_resolve_as_a_full_parse_does() {
        let html = b"<a href='http://example.com/a?q=\xe9'>\
            <a href='http://example.com//evil.example/x'>\
            <a href='http://example.com/\t/evil.example/y'>\
            <a href='http://example.com:81/p'>\
            <a href='http://example.com/../up/%7e'>";
        assert_eq!(
            links_of(html, LATIN1),
            [
                "http://example.com/a?q=%E9",
                "http://example.com//evil.example/x",
                "http://example.com//evil.example/y",
                "http://example.com:81/p",
                "http://example.com/up/%7e",
            ]
        );
        let page = page();
        assert_eq!(
            path_on_origin(&page, "http://example.com/a?q=1"),
            Some("/a?q=1")
        );
        assert_eq!(
            path_on_origin(&page, "http://example.com//evil.example/x"),
            None
        );
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
        assert_eq!(
            links_of(&html, UTF8),
            [
                "http://example.com/dir/a%EF%BF%BDb",
                "http://example.com/dir/ok",
                "http://example.com/dir/%EF%BF%BD"
            ]
        );
    }

    #[test]
    fn latin1_via_content_type() {
        // Latin-1 "café/résumé.html": the path is always percent-encoded as UTF-8.
        assert_eq!(
            links_of(b"<a href=\"caf\xE9/r\xE9sum\xE9.html\">", LATIN1),
            ["http://example.com/dir/caf%C3%A9/r%C3%A9sum%C3%A9.html"]
        );
    }

    #[test]
    fn latin1_via_meta() {
        let html = b"<meta http-equiv=Content-Type content='text/html; charset=ISO-8859-1'>\
                     <a href=\"caf\xE9.html\">";
        assert_eq!(
            links_of(html, Some("text/html")),
            ["http://example.com/dir/caf%C3%A9.html"]
        );
    }

    #[test]
    fn latin1_character_reference_and_raw_byte_are_the_same_link() {
        // `&eacute;` is decoded by the tokenizer; it must not be read as two Latin-1 bytes.
        assert_eq!(
            links_of(b"<a href=\"caf&eacute;\"><a href=\"caf\xE9\">", LATIN1),
            ["http://example.com/dir/caf%C3%A9"]
        );
    }

    #[test]
    fn utf16le_page_with_bom() {
        let html = utf16le_with_bom("<p>h\u{e9}</p><a href=\"caf\u{e9}.html?q=\u{e9}\">");
        // The whole body is decoded first; a UTF-16 page's queries are encoded as UTF-8.
        assert_eq!(
            links_of(&html, Some("text/html")),
            ["http://example.com/dir/caf%C3%A9.html?q=%C3%A9"]
        );
    }

    #[test]
    fn utf8_page_with_bom() {
        // The BOM wins over the header's Latin-1 and is not part of the text.
        let html = b"\xEF\xBB\xBF<a href=\"caf\xC3\xA9.html?q=\xC3\xA9\">";
        assert_eq!(
            links_of(html, LATIN1),
            ["http://example.com/dir/caf%C3%A9.html?q=%C3%A9"]
        );
    }

    #[test]
    fn unknown_label_is_windows_1252() {
        // 0x80 is the euro sign in windows-1252 (it is a C1 control in real ISO-8859-1).
        assert_eq!(
            links_of(b"<a href=\"\x80\">", Some("text/html; charset=x-no-such")),
            ["http://example.com/dir/%E2%82%AC"]
        );
    }

    #[test]
    fn no_charset_at_all_is_windows_1252() {
        // 0xE9 is é; its UTF-8 is C3 A9.
        assert_eq!(
            links_of(b"<a href=\"\xE9\">", None),
            ["http://example.com/dir/%C3%A9"]
        );
        assert_eq!(
            links_of(b"<a href=\"\xE9\">", Some("text/html")),
            ["http://example.com/dir/%C3%A9"]
        );
    }

    #[test]
    fn query_is_encoded_in_the_page_encoding() {
        // windows-1252: é is E9 in the query, C3 A9 in the path.
        assert_eq!(
            links_of(b"<a href=\"/caf\xE9?q=caf\xE9\">", LATIN1),
            ["http://example.com/caf%C3%A9?q=caf%E9"]
        );
        // A character windows-1252 cannot encode (α, from `&alpha;`) becomes a decimal character
        // reference, which the query's percent-encode set then writes as `&%23945;`.
        assert_eq!(
            links_of(b"<a href=\"?q=&alpha;\">", LATIN1),
            ["http://example.com/dir/page.html?q=&%23945;"]
        );
        // A UTF-8 page's query stays UTF-8.
        assert_eq!(
            links("<a href=\"?q=\u{e9}\">"),
            ["http://example.com/dir/page.html?q=%C3%A9"]
        );
    }

    #[test]
    fn base_href_query_is_encoded_in_the_page_encoding_too() {
        assert_eq!(
            links_of(b"<base href=\"/b/?\xE9\"><a href=\"#f\">", LATIN1),
            ["http://example.com/b/?%E9"]
        );
    }

    #[test]
    fn shift_jis_page_link() {
        // 日本 in Shift_JIS is 93 FA 96 7B (the 7B is `{` in ASCII); in UTF-8, E6 97 A5 E6 9C AC.
        let html = b"<meta charset=\"Shift_JIS\"><a href=\"/\x93\xFA\x96\x7B.html?q=\x93\xFA\">";
        assert_eq!(
            links_of(html, Some("text/html")),
            ["http://example.com/%E6%97%A5%E6%9C%AC.html?q=%93%FA"]
        );
    }

    #[test]
    fn replacement_encoding_page_has_no_links() {
        // iso-2022-kr is a label of the replacement encoding: the page decodes to one U+FFFD.
        assert!(links_of(b"<a href=\"x\">", Some("text/html; charset=iso-2022-kr")).is_empty());
    }

    #[test]
    fn at_most_max_links() {
        let mut html = String::new();
        for i in 0..MAX_LINKS + 50 {
            html.push_str(&format!("<a href=\"/p{i}\">"));
        }
        let got = extract_links(html.as_bytes(), &page(), UTF8);
        assert_eq!(got.len(), MAX_LINKS);
        assert_eq!(got[0].as_str(), "http://example.com/p0");
        assert_eq!(
            got[MAX_LINKS - 1].as_str(),
            format!("http://example.com/p{}", MAX_LINKS - 1)
        );
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(
            bytes in proptest::collection::vec(any::<u8>(), 0..2048),
            content_type in proptest::option::of(
                "text/html(; charset=(utf-8|latin1|utf-16le|utf-16be|shift_jis|iso-2022-jp|x))?"
            ),
        ) {
            let got = extract_links(&bytes, &page(), content_type.as_deref());
            prop_assert!(got.len() <= MAX_LINKS);
        }

        #[test]
        fn arbitrary_attribute_values_never_panic(v in ".{0,64}", tag in "(a|img|base|link)") {
            let attr = if tag == "img" { "src" } else { "href" };
            let html = format!("<{tag} {attr}=\"{v}\"><a href='{v}'>");
            for url in extract_links(html.as_bytes(), &page(), UTF8) {
                prop_assert!(matches!(url.scheme(), "http" | "https"));
                prop_assert!(url.fragment().is_none());
            }
        }
    }
}
