//! Parsing the URL a caller hands [`Client::get`](super::Client::get) as text, remembering the
//! last origin so that the next URL on it skips the origin's parse.
//!
//! The url crate spends about 6 200 instructions on `http://127.0.0.1:8080/p/123`, most of them
//! on the scheme and the host (an IPv4 host is parsed, then printed back; a name goes through
//! IDNA), and about 1 800 on `/p/123` resolved against a URL of that origin. A program that
//! sends many requests by string sends most of them to the origin of the one before, so each
//! thread keeps the origin of the last `http` or `https` URL it parsed (not its path or query,
//! and nothing of a URL with credentials) and resolves a URL that starts with that origin, as
//! serialized, as an absolute path against it.
//!
//! That gives the same [`Url`] as a full parse, because the WHATWG parser reads a special URL's
//! path with the same state machine either way, once it has passed the authority: after
//! `scheme://authority` the full parse enters the path at the `/`, and the relative parse of a
//! `/` that is not followed by another `/` or `\` (which would make it scheme-relative) enters it
//! at the same `/`, with the base's authority. Two things could still tell the two apart, and
//! such input takes the full parse: tabs and newlines (which the parser deletes anywhere, so
//! `/<TAB>/evil` would become `//evil` only in the relative parse) and an authority that is not
//! written exactly as its serialization (`HTTP://`, `:80`, `user@`: these simply do not match the
//! remembered prefix). The unit tests compare both parses on generated input.

use std::cell::RefCell;

use url::{Position, Url};

thread_local! {
    /// The origin of the last `http`/`https` URL this thread parsed in full, as a URL whose
    /// path is `/`: the rest of that URL (its path and query may carry tokens) is not kept,
    /// and neither is a URL with credentials.
    static LAST: RefCell<Option<Url>> = const { RefCell::new(None) };
}

/// `Url::parse(text)`, by the short way when `text` is a path on the last origin parsed.
pub(super) fn parse_url(text: &str) -> Result<Url, url::ParseError> {
    if let Some(url) = LAST.with_borrow(|last| last.as_ref().and_then(|base| on_origin(base, text)))
    {
        return Ok(url);
    }
    let url = Url::parse(text)?;
    if matches!(url.scheme(), "http" | "https")
        && url.username().is_empty()
        && url.password().is_none()
    {
        let mut origin = url.clone();
        origin.set_fragment(None);
        origin.set_query(None);
        origin.set_path("/");
        LAST.set(Some(origin));
    }
    Ok(url)
}

/// `text` resolved against `base` if it is `base`'s origin, as serialized, followed by an
/// absolute path the relative parse reads as the full parse does; `None` otherwise.
fn on_origin(base: &Url, text: &str) -> Option<Url> {
    base.join(path_on_origin(base, text)?).ok()
}

/// The absolute path (with its query and fragment) that `text` names on `base`'s origin, if
/// `text` is that origin as serialized followed by a path that a parse relative to `base` reads
/// exactly as the parse of all of `text` would (see the module docs); `None` otherwise.
/// Parsing that path against `base`, with any options, gives what parsing `text` with the
/// same options gives, without the scheme and host: the crawler resolves a page's absolute
/// links to its own origin this way.
pub(crate) fn path_on_origin<'t>(base: &Url, text: &'t str) -> Option<&'t str> {
    if !matches!(base.scheme(), "http" | "https") {
        return None;
    }
    let rest = text.strip_prefix(&base[..Position::BeforePath])?;
    let bytes = rest.as_bytes();
    let path_only = bytes.first() == Some(&b'/')
        && !matches!(bytes.get(1), Some(b'/' | b'\\'))
        && !bytes.iter().any(|&b| matches!(b, b'\t' | b'\n' | b'\r'));
    path_only.then_some(rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both parses of `text`, the second with `base` remembered.
    fn both(
        base: &str,
        text: &str,
    ) -> (Result<Url, url::ParseError>, Result<Url, url::ParseError>) {
        LAST.set(Some(Url::parse(base).unwrap()));
        (Url::parse(text), parse_url(text))
    }

    #[test]
    fn a_path_on_the_last_origin_takes_the_short_way_and_gives_the_same_url() {
        let base = "http://127.0.0.1:8080/first?q#f";
        let text = "http://127.0.0.1:8080/p/../q/%7e?x=1 2#frag";
        let base_url = Url::parse(base).unwrap();
        assert_eq!(on_origin(&base_url, text), Some(Url::parse(text).unwrap()));
        let (full, short) = both(base, text);
        assert_eq!(full, short);
        assert_eq!(
            short.unwrap().as_str(),
            "http://127.0.0.1:8080/q/%7e?x=1%202#frag"
        );
    }

    #[test]
    fn input_the_relative_parse_would_read_differently_takes_the_full_parse() {
        let base = Url::parse("http://h:8080/").unwrap();
        for text in [
            "http://h:8080//evil.example/x",   // scheme-relative if resolved
            "http://h:8080/\\evil.example/x",  // a backslash is a slash in special URLs
            "http://h:8080/\t/evil.example/x", // the tab is deleted: `//evil.example`
            "http://h:8080/\n/evil.example/x",
            "http://h:8080/\r/evil.example/x",
            "http://h:8080/a\tb",
            "http://h:8080",    // no path
            "http://h:8080?q",  // no path, a query
            "http://h:80801/",  // a longer port
            "http://h:8080.x/", // not a port at all
            "http://h:8080@x/", // userinfo, then another host
            "HTTP://h:8080/a",  // not written as serialized
            "http://H:8080/a",
            "http://h:08080/a",
            "https://h:8080/a",
        ] {
            assert_eq!(on_origin(&base, text), None, "{text:?}");
            let (full, short) = both(base.as_str(), text);
            assert_eq!(full, short, "{text:?}");
        }
    }

    #[test]
    fn the_default_port_and_userinfo_are_part_of_the_remembered_origin() {
        let plain = Url::parse("https://example.com/").unwrap();
        assert!(on_origin(&plain, "https://example.com/a").is_some());
        assert_eq!(on_origin(&plain, "https://example.com:443/a"), None);
        let user = Url::parse("http://u:p@example.com/").unwrap();
        let text = "http://u:p@example.com/a";
        assert_eq!(on_origin(&user, text), Some(Url::parse(text).unwrap()));
        assert_eq!(on_origin(&user, "http://example.com/a"), None);
    }

    #[test]
    fn only_the_origin_of_an_http_url_without_credentials_is_remembered() {
        LAST.set(None);
        assert!(parse_url("ftp://h/a").is_ok());
        assert!(LAST.with_borrow(Option::is_none));
        assert_eq!(parse_url("http://[::1/"), Url::parse("http://[::1/"));
        assert!(LAST.with_borrow(Option::is_none));
        parse_url("http://user:secret@h/x").unwrap();
        assert!(LAST.with_borrow(Option::is_none));
        parse_url("https://h:1/x?token=1#f").unwrap();
        let last = LAST.with_borrow(|l| l.as_ref().map(|u| u.to_string()));
        assert_eq!(last.as_deref(), Some("https://h:1/"));
        // The next URL on that origin is resolved against it, and is what a full parse gives.
        let text = "https://h:1/y?token=2";
        assert_eq!(parse_url(text), Url::parse(text));
        assert_eq!(
            LAST.with_borrow(|l| l.as_ref().map(|u| u.to_string())),
            last
        );
    }

    /// Paths built from the characters the parser treats specially (and a few it encodes),
    /// after every origin shape: the short way must give exactly the full parse's result.
    #[test]
    fn generated_paths_parse_the_same_both_ways() {
        const PIECES: &[&str] = &[
            "/", "\\", ".", "..", "%", "%2e", "%2E", "%zz", "?", "#", "@", ":", " ", "\t", "\n",
            "\r", "\u{0}", "\u{7f}", "a", "Z", "~", "é", "☃", "'", "\"", "<", "`", "{", "^", "|",
            "[", "]", "&", "=", "+",
        ];
        let bases = [
            "http://127.0.0.1:8080/",
            "http://example.com/a/b?c#d",
            "https://xn--bcher-kva.example/",
            "http://[::1]:9/",
            "http://u:p@h/",
        ];
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut short_ways = 0;
        for round in 0..20_000 {
            let base = Url::parse(bases[round % bases.len()]).unwrap();
            let mut text = base[..Position::BeforePath].to_string();
            let len = 1 + next() % 8;
            for i in 0..len {
                let piece = PIECES[(next() % PIECES.len() as u64) as usize];
                text.push_str(if i == 0 && next() % 2 == 0 {
                    "/"
                } else {
                    piece
                });
            }
            if on_origin(&base, &text).is_some() {
                short_ways += 1;
            }
            LAST.set(Some(base));
            assert_eq!(parse_url(&text), Url::parse(&text), "{text:?}");
        }
        // The generator reaches the short way often, and the full parse as often.
        assert!((5_000..15_000).contains(&short_ways), "{short_ways}");
    }
}
