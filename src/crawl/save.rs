//! Where a fetched body is saved: a URL mapped to a safe relative path under the output dir.
//!
//! The layout is `<host>[_<port>]/<path segments>`, like `wget -x`, so a saved crawl can be
//! browsed by hand. URLs come from the network and must not be able to write outside the output
//! directory, so every component is sanitized, and the result is always relative with only
//! normal components (no `..`, no `.`, no root, no prefix):
//!
//! - percent-escapes are *not* decoded (`%2e%2e` stays the literal name `%2e%2e`, `%2F` stays
//!   `%2F` and never becomes a separator);
//! - empty, `.` and `..` path segments are skipped (a parsed [`Url`] has already resolved dot
//!   segments, this is defence in depth);
//! - a host of `.` or `..` (the `url` crate decodes `http://%2e%2e/` to the host `..`) is written
//!   `%2E` or `%2E%2E`, so it is a name inside the output directory, never a step out of it;
//! - every byte outside `[A-Za-z0-9._~%=&+,;@!$'()-]` is percent-encoded as `%XX` (uppercase
//!   hex), so a segment can hold no `/`, `\`, NUL, `:` or other byte a file system treats
//!   specially; an IPv6 host `[::1]` becomes `%5B%3A%3A1%5D`;
//! - a path ending in `/` (or empty) is saved as `index.html` in that directory;
//! - the query is appended to the file name after `%3F` (an encoded `?`), sanitized the same
//!   way: `page.html?a=1&b=2` is saved as `page.html%3Fa=1&b=2`; an empty query (`page?`) gives
//!   `page%3F`, distinct from no query;
//! - a segment longer than [`MAX_SEGMENT`] bytes is cut and given a `~` and 16 hex digits of the
//!   SHA-256 of the whole segment, so long names stay unique and fit file-system limits
//!   (255 bytes on common Linux file systems).
//!
//! Known limits, left to the caller: `/a` (a file) and `/a/b` (needs `a` to be a directory)
//! cannot both be saved; the path `/a%3Fb` and the URL `/a?b` map to the same name; names are
//! safe for Unix file systems, Windows reserved names (`CON`, ...) are not handled.

use std::path::PathBuf;

use sha2::{Digest, Sha256};
use url::Url;

/// The longest file or directory name [`path_for`] produces, in bytes.
pub const MAX_SEGMENT: usize = 200;

/// The relative path under the output directory where the body of `url` is saved.
///
/// Always relative, never contains `..`, `.`, a root or a prefix component, and each component
/// is at most [`MAX_SEGMENT`] bytes of `[A-Za-z0-9._~%=&+,;@!$'()-]`; see the module docs.
pub fn path_for(url: &Url) -> PathBuf {
    let mut dir = match url.host_str() {
        Some(h) if !h.is_empty() => escape_dots(sanitize(h)),
        _ => "_nohost".to_owned(),
    };
    if let Some(port) = url.port() {
        dir.push('_');
        dir.push_str(&port.to_string());
    }
    let mut path = PathBuf::from(clamp(dir));

    let raw_path = url.path();
    let (dirs, file) = match raw_path.rfind('/') {
        Some(i) => (&raw_path[..i], &raw_path[i + 1..]),
        None => ("", raw_path),
    };
    for seg in dirs.split('/') {
        if let Some(seg) = safe_segment(seg) {
            path.push(seg);
        }
    }
    let mut name = match safe_segment(file) {
        Some(name) => name,
        None => "index.html".to_owned(),
    };
    if let Some(query) = url.query() {
        name.push_str("%3F");
        name.push_str(&sanitize(query));
    }
    path.push(clamp(name));
    path
}

/// A sanitized, length-clamped segment, or `None` for segments that must be skipped.
fn safe_segment(seg: &str) -> Option<String> {
    if seg.is_empty() || seg == "." || seg == ".." {
        return None;
    }
    Some(clamp(sanitize(seg)))
}

/// `name`, unless it is `.` or `..`: then its dots are percent-encoded, so the name is a normal
/// path component.
fn escape_dots(name: String) -> String {
    match name.as_str() {
        "." => "%2E".to_owned(),
        ".." => "%2E%2E".to_owned(),
        _ => name,
    }
}

/// Percent-encodes every byte outside the allowed set; `%` itself is kept, so existing escapes
/// are left as they are.
fn sanitize(s: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || b"._~%=&+,;@!$'()-".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        }
    }
    out
}

/// Cuts an (ASCII, sanitized) name longer than [`MAX_SEGMENT`] and appends `~` and 16 hex digits
/// of its SHA-256, so two long names sharing a prefix stay distinct.
fn clamp(s: String) -> String {
    if s.len() <= MAX_SEGMENT {
        return s;
    }
    let digest = Sha256::digest(s.as_bytes());
    let mut out: String = s[..MAX_SEGMENT - 17].to_owned();
    out.push('~');
    for b in &digest[..8] {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::path::{Component, Path};

    fn p(s: &str) -> PathBuf {
        path_for(&Url::parse(s).unwrap())
    }

    fn assert_safe(path: &Path) {
        assert!(path.is_relative(), "{path:?}");
        let mut n = 0;
        for c in path.components() {
            n += 1;
            match c {
                Component::Normal(name) => {
                    let name = name.to_str().unwrap();
                    assert!(!name.is_empty() && name.len() <= MAX_SEGMENT, "{path:?}");
                    assert!(name != "." && name != "..", "{path:?}");
                    assert!(
                        name.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"._~%=&+,;@!$'()-".contains(&b)),
                        "{path:?}"
                    );
                }
                other => panic!("component {other:?} in {path:?}"),
            }
        }
        assert!(n >= 2, "{path:?}");
    }

    #[test]
    fn layout() {
        assert_eq!(
            p("http://Example.com/a/b.html"),
            Path::new("example.com/a/b.html")
        );
        assert_eq!(
            p("http://example.com:8080/x"),
            Path::new("example.com_8080/x")
        );
        assert_eq!(p("https://example.com:443/x"), Path::new("example.com/x"));
        assert_eq!(p("http://example.com"), Path::new("example.com/index.html"));
        assert_eq!(
            p("http://example.com/"),
            Path::new("example.com/index.html")
        );
        assert_eq!(
            p("http://example.com/a/"),
            Path::new("example.com/a/index.html")
        );
        assert_eq!(p("http://example.com/a//b"), Path::new("example.com/a/b"));
        assert_eq!(p("http://example.com/a#frag"), Path::new("example.com/a"));
    }

    #[test]
    fn query_goes_into_the_file_name() {
        assert_eq!(
            p("http://example.com/page.html?a=1&b=2"),
            Path::new("example.com/page.html%3Fa=1&b=2")
        );
        assert_eq!(
            p("http://example.com/d/?q"),
            Path::new("example.com/d/index.html%3Fq")
        );
        assert_eq!(p("http://example.com/p?"), Path::new("example.com/p%3F"));
        assert_eq!(
            p("http://example.com/p?x=a/../b%2F:c"),
            Path::new("example.com/p%3Fx=a%2F..%2Fb%2F%3Ac")
        );
        assert_ne!(p("http://example.com/p?"), p("http://example.com/p"));
    }

    #[test]
    fn dot_dot_cannot_escape() {
        assert_eq!(
            p("http://example.com/a/%2e%2e/b"),
            Path::new("example.com/b")
        );
        assert_eq!(
            p("http://example.com/../../etc/passwd"),
            Path::new("example.com/etc/passwd")
        );
        assert_eq!(
            p("http://example.com/a/%2E%2E%2f%2e%2e%2fx"),
            Path::new("example.com/a/%2E%2E%2f%2e%2e%2fx")
        );
        for s in [
            "http://example.com/a/%2e%2e/b",
            "http://example.com/../../etc/passwd",
            "http://example.com/..%2f..%2fetc",
            "http://example.com/%2e%2e",
            "http://example.com/a/..",
        ] {
            assert_safe(&p(s));
        }
        // A hand-built Url whose path was set to dot segments: still safe.
        let mut url = Url::parse("http://example.com/").unwrap();
        url.set_path("/../..//./x");
        assert_safe(&path_for(&url));
    }

    #[test]
    fn percent_encoded_dot_dot_host_is_escaped() {
        // `url` decodes the host `%2e%2e` to `..`.
        assert_eq!(Url::parse("http://%2e%2e/").unwrap().host_str(), Some(".."));
        assert_eq!(p("http://%2e%2e/"), Path::new("%2E%2E/index.html"));
        assert_safe(&p("http://%2e%2e/"));
    }

    #[test]
    fn dot_host_is_escaped() {
        assert_eq!(p("http://./"), Path::new("%2E/index.html"));
        assert_safe(&p("http://./"));
    }

    #[test]
    fn dot_dot_host_is_escaped() {
        assert_eq!(p("http://../x"), Path::new("%2E%2E/x"));
        assert_eq!(p("http://..:8080/x"), Path::new("%2E%2E_8080/x"));
        assert_safe(&p("http://../x"));
    }

    #[test]
    fn backslashes_and_specials_are_encoded() {
        // For http, `url` turns `\` into `/`; an encoded one stays encoded.
        assert_eq!(p("http://example.com/a\\b"), Path::new("example.com/a/b"));
        assert_eq!(
            p("http://example.com/a%5Cb"),
            Path::new("example.com/a%5Cb")
        );
        assert_eq!(
            p("http://example.com/a:b|c"),
            Path::new("example.com/a%3Ab%7Cc")
        );
        assert_eq!(p("http://example.com/%00"), Path::new("example.com/%00"));
        assert_eq!(p("http://example.com/é"), Path::new("example.com/%C3%A9"));
    }

    #[test]
    fn ipv6_host() {
        assert_eq!(p("http://[::1]:8080/x"), Path::new("%5B%3A%3A1%5D_8080/x"));
        assert_safe(&p("http://[::1]:8080/x"));
    }

    #[test]
    fn long_names_are_cut_and_stay_unique() {
        let a = "a".repeat(300);
        let pa = p(&format!("http://example.com/{a}/{a}1"));
        let pb = p(&format!("http://example.com/{a}/{a}2"));
        assert_ne!(pa, pb);
        assert_safe(&pa);
        let names: Vec<_> = pa.components().collect();
        assert_eq!(names.len(), 3);
        for c in &names[1..] {
            assert_eq!(c.as_os_str().len(), MAX_SEGMENT);
        }
        let long_query = p(&format!("http://example.com/x?{a}"));
        assert_safe(&long_query);
        // Exactly MAX_SEGMENT is kept as is.
        let exact = "b".repeat(MAX_SEGMENT);
        assert_eq!(
            p(&format!("http://example.com/{exact}")),
            Path::new("example.com").join(&exact)
        );
    }

    proptest! {
        #[test]
        fn arbitrary_paths_stay_inside(path in ".{0,300}", query in proptest::option::of(".{0,40}")) {
            let mut url = Url::parse("http://example.com/").unwrap();
            url.set_path(&path);
            url.set_query(query.as_deref());
            assert_safe(&path_for(&url));
        }

        #[test]
        fn every_component_is_normal_whatever_the_host(
            host in "(\\.|%2[eE]|%2[fF]|%5[cC]|[a-z0-9-]){1,6}",
            port in proptest::option::of(1u16..),
            rest in "[a-zA-Z0-9./%:?#&=~-]{0,40}",
        ) {
            let port = port.map(|p| format!(":{p}")).unwrap_or_default();
            if let Ok(url) = Url::parse(&format!("http://{host}{port}/{rest}")) {
                let path = path_for(&url);
                prop_assert!(
                    path.components().all(|c| matches!(c, Component::Normal(_))),
                    "{url} -> {path:?}"
                );
                assert_safe(&path);
            }
        }

        #[test]
        fn arbitrary_parsed_urls_stay_inside(rest in "[a-zA-Z0-9./%\\\\:?#&=~-]{0,80}") {
            if let Ok(url) = Url::parse(&format!("http://example.com/{rest}")) {
                assert_safe(&path_for(&url));
            }
        }
    }
}
