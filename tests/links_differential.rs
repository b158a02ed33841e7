//! `wisp::crawl::links::extract_links` against the extractor it replaced: the same function
//! reading html5gum's `DefaultEmitter` (every token built, text and all), kept here, as test
//! code only, as the reference. Both must find the same links, in the same order, on the demo
//! site's pages, on hand-written tricky HTML and every prefix of it, and on generated tag soup.
#![cfg(feature = "crawl")]

#[allow(dead_code)]
#[path = "../src/bin/crawl/demo/mod.rs"]
mod demo;

use std::borrow::Cow;
use std::collections::HashSet;

use demo::{Site, SiteConfig};
use encoding_rs::{Encoding, UTF_8};
use html5gum::{DefaultEmitter, Token, Tokenizer};
use proptest::prelude::*;
use url::Url;
use wisp::crawl::charset::html_encoding;
use wisp::crawl::links::{MAX_LINKS, extract_links};

/// The extractor as it was before the link-tag emitter (2026-12-02), unchanged but for its name.
fn reference_extract_links(html: &[u8], page: &Url, content_type: Option<&str>) -> Vec<Url> {
    let encoding = html_encoding(html, content_type);
    let body = Encoding::for_bom(html).map_or(html, |(_, len)| &html[len..]);
    let text: Cow<'_, [u8]> = if encoding == UTF_8 {
        Cow::Borrowed(body)
    } else {
        match encoding.decode_without_bom_handling(body).0 {
            Cow::Borrowed(s) => Cow::Borrowed(s.as_bytes()),
            Cow::Owned(s) => Cow::Owned(s.into_bytes()),
        }
    };

    let mut emitter = DefaultEmitter::default();
    emitter.naively_switch_states(true);
    let tokenizer = Tokenizer::new_with_emitter(&*text, emitter);

    let output = encoding.output_encoding();
    let encode_query: &dyn Fn(&str) -> Cow<'_, [u8]> = &|s| output.encode(s).0;
    let encode_query = (output != UTF_8).then_some(encode_query);
    let resolve = |base: &Url, value: &str| {
        Url::options()
            .base_url(Some(base))
            .encoding_override(encode_query)
            .parse(value)
    };

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
            if base.is_none() {
                base = Some(resolve(page, value).unwrap_or_else(|_| page.clone()));
            }
            continue;
        }
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

const CONTENT_TYPES: [Option<&str>; 4] = [
    Some("text/html; charset=utf-8"),
    Some("text/html; charset=iso-8859-1"),
    Some("text/html; charset=utf-16le"),
    None,
];

fn page() -> Url {
    Url::parse("http://example.com/dir/page.html").unwrap()
}

/// Both extractors on `html` under every content type; panics with the input on a difference.
/// Returns how many links the new one found (summed over the content types).
fn same_links(html: &[u8], page: &Url) -> usize {
    let mut found = 0;
    for content_type in CONTENT_TYPES {
        let new = extract_links(html, page, content_type);
        let old = reference_extract_links(html, page, content_type);
        assert_eq!(
            new,
            old,
            "content type {content_type:?}, input {:?}",
            String::from_utf8_lossy(html)
        );
        found += new.len();
    }
    found
}

/// Tricky HTML: each case is a place where a string search would differ from a tokenizer.
const TRICKY: &[&str] = &[
    r#"<a href="plain">"#,
    r#"<!-- <a href="in-comment"> --><a href="after-comment">"#,
    r#"<!--> <a href="after-abrupt-comment">"#,
    r#"<!---> <a href="after-abrupt-comment-2"> -->"#,
    r#"<!-- a -- b --!> <a href="after-bang-close">"#,
    r#"<![CDATA[ <a href="in-cdata"> ]]> <a href="after-cdata">"#,
    r#"<!DOCTYPE html><a href="after-doctype">"#,
    r#"<!DOCTYPE html PUBLIC "-//W3C//DTD <a href='x'>" "y"><a href="z">"#,
    r#"<?xml version="1.0"?><a href="after-pi">"#,
    r#"<script>document.write('<a href="in-script">')</script><a href="after-script">"#,
    r#"<script><!--<script>document.write('</script><a href="x">')</script>--></script><a href=y>"#,
    r#"<script><!-- </script> <a href="after-escaped-script">"#,
    r#"<SCRIPT>var a = '<a href=q>'</SCRIPT ><a href="after-upper-script">"#,
    r#"<script>a</scripty><a href="still-script"></script><a href="out">"#,
    r#"<style>/* <a href="in-style"> */</style><a href="after-style">"#,
    r#"<textarea><a href="in-textarea"></textarea><a href="after-textarea">"#,
    r#"<title><a href="in-title"></title><a href="after-title">"#,
    r#"<noscript><a href="in-noscript"></noscript><a href="after-noscript">"#,
    r#"<iframe src="frame.html"><a href="in-iframe"></iframe><a href="after-iframe">"#,
    r#"<xmp><a href="in-xmp"></xmp><noembed><a href="in-noembed"></noembed><a href=ok>"#,
    r#"<noframes><a href="in-noframes"></noframes><a href="after-noframes">"#,
    r#"<plaintext><a href="in-plaintext"></plaintext><a href="never">"#,
    r#"<a href=unquoted>x</a><a href='single'>"#,
    r#"<a href = " spaced " ><a	href	=	tabbed>"#,
    r#"<a href=x/><a href=y/ ><a href="z"/>"#,
    r#"<a href="q?a=1&amp;b=2&#38;c=3&#x26;d&lt;&notit;&copy&copy;">"#,
    r#"<a href="&amp"><a href='&ampx=1'><a href=&amp;&gt>"#,
    r#"<a href="caf&eacute;"><a href="&#0;"><a href="&#x110000;"><a href="&#128;">"#,
    r#"<base href="/other/"><a href="rel"><base href="http://ignored.org/">"#,
    r#"<a href="before-base"><base target="_top"><base href="//b.org/x/"><a href="y">"#,
    r#"<base href="::bad::"><a href="x">"#,
    r#"<A HREF="upper"><IMG SRC="img.png"><LiNk HrEf="style.css"><IFRAME SRC="f"></IFRAME>"#,
    r#"<a href="first" href="second"><img src="one" src="two">"#,
    r#"<a HREF="first" href="second"><a name="x" href="named">"#,
    // Found by the tag soup test against a mutant that let the last duplicate win.
    r#"<a href=//<!-- <a href=c> -->"#,
    r#"<a href><a href=""><a href=''><img src>"#,
    r#"<img href="not-a-link.png"><a src="not-either"><div href="no"><area href="area">"#,
    r#"<frame src="frame"><embed src="embed"><object data="obj"><video src="v"><source src=s>"#,
    r#"<script src="app.js"></script><link rel=preload href=font.woff2>"#,
    r#"</a href="end-tag-attribute"><a href="after-end-tag">"#,
    r#"<a/href="slash-separated"><a//href=x2><a href="x3"/href="x4">"#,
    r#"<a href="unterminated"#,
    r#"<a href="ok"><a href="#,
    r#"<a <a href="nested-open">"#,
    r#"<<a href="double-lt">< a href="space-after-lt"><1a href="digit">"#,
    r#"</ a href="bogus-end"><a href="after-bogus-end">"#,
    r#"<a href="tab	and
newline"><a href="  mailto:x@y.z"><a href="JavaScript:void(0)">"#,
    r#"<a href="HTTPS://S.org/"><a href="//p.org/q"><a href="ftp://f.org/">"#,
    r##"<a href="#frag"><a href="b#1"><a href="b#2"><a href="./b">"##,
    "<a href=\"nul\0byte\"><a\0href=\"nul-in-name\"><a href=\"cr\r\nlf\">",
    "<a href=\"\u{e9}t\u{e9}\"><a href=\"\u{65e5}\u{672c}\">",
    "<svg><a href=\"in-svg\"/><![CDATA[<a href=\"svg-cdata\">]]></svg>",
    "<math><a href=m></math><template><a href=in-template></template>",
    r#"<meta charset="iso-8859-1"><a href="after-meta">"#,
];

#[test]
fn tricky_html_gives_the_same_links() {
    let page = page();
    let mut found = 0;
    for case in TRICKY {
        found += same_links(case.as_bytes(), &page);
    }
    // Not a vacuous comparison: most cases have links.
    assert!(found > 100, "{found}");
}

#[test]
fn every_prefix_of_tricky_html_gives_the_same_links() {
    let page = page();
    // Each case cut anywhere (a cut UTF-8 sequence too).
    for case in TRICKY {
        let bytes = case.as_bytes();
        for end in 0..=bytes.len() {
            same_links(&bytes[..end], &page);
        }
    }
}

#[test]
fn tricky_html_in_one_page_gives_the_same_links() {
    // The `<plaintext>` case last: everything after it is text.
    let (plain, rest): (Vec<&str>, Vec<&str>) =
        TRICKY.iter().partition(|case| case.contains("<plaintext>"));
    let all = [rest.concat(), plain.concat()].concat();
    assert!(same_links(all.as_bytes(), &page()) > 50);
}

#[test]
fn demo_site_pages_give_the_same_links() {
    for page_bytes in [1024, 16 * 1024] {
        let site = Site::generate(SiteConfig {
            pages: 300,
            page_bytes,
            ..SiteConfig::default()
        });
        let mut pages = 0;
        let mut found = 0;
        for level in site.expected_by_depth_ignoring_robots(usize::MAX) {
            for path in level {
                let body = site.body(&path).unwrap();
                let url = Url::parse("http://127.0.0.1:8080/").unwrap();
                let url = url.join(&path).unwrap();
                found += same_links(&body, &url);
                pages += 1;
            }
        }
        assert!(pages > 300, "{pages}");
        assert!(found > 1000, "{found}");
    }
}

#[test]
fn max_links_is_the_same_cut() {
    let mut html = String::new();
    for i in 0..MAX_LINKS + 50 {
        html.push_str(&format!("<a href=\"/p{i}\">"));
    }
    html.push_str("<base href=\"/late/\">");
    same_links(html.as_bytes(), &page());
}

/// Pieces of markup that tag soup is made of.
#[rustfmt::skip]
const PIECES: &[&str] = &[
    "<", ">", "/", "</", "<!", "<!--", "-->", "--", "-", "!", "?", "<?", "<![CDATA[", "]]>",
    "<!DOCTYPE ", "a", "A", "img", "base", "link", "iframe", "script", "style", "textarea",
    "title", "plaintext", "noscript", "xmp", "svg", "<a", "<A ", "<img", "<base", "<link",
    "<iframe", "<script>", "</script>", "<style>", "</style>", "<textarea>", "</textarea>",
    "<title>", "</title>", "<noscript>", "</noscript>", "<iframe>", "</iframe>", " ",
    "\t", "\n", "\r", "\0", "=", "href", "HREF", "src", "SrC", "href=", " href=", " src=",
    "\"", "'", "x", "/p", "?q=1", "#f", "&amp;", "&", "&#38;", "&#x26;", "&lt", "&eacute;",
    "&notin;", "&#128;", "\u{e9}", "\u{65e5}", "mailto:", "http://o.org/", "//h.org/",
    "javascript:", "../", "<!-- <a href=c> -->", "<a href=\"l\">", "<base href=\"/b/\">",
];

fn piece() -> impl Strategy<Value = &'static str> {
    prop::sample::select(PIECES)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn tag_soup_gives_the_same_links(pieces in prop::collection::vec(piece(), 0..60)) {
        same_links(pieces.concat().as_bytes(), &page());
    }

    #[test]
    fn arbitrary_bytes_give_the_same_links(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        same_links(&bytes, &page());
    }
}
