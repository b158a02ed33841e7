//! URL normalization for the crawler's visited set.
//!
//! Two URLs that name the same resource in an obvious, server-independent way should be fetched
//! once. [`normalize`] maps such spellings to one canonical [`Url`], and [`key`] hashes that into
//! a 16-byte [`Key`] so the visited set costs 16 bytes per URL instead of a whole string.
//!
//! What counts as "the same", and who does it:
//!
//! - scheme and host lowercased, the default port dropped (`:80` for http, `:443` for https),
//!   dot-segments (`.`, `..`) removed from the path: [`url::Url`] already does all of this when
//!   it parses (the WHATWG URL standard), so every `Url` we are handed is already in that form;
//!   the tests pin it so an upgrade of `url` that changed it would be noticed;
//! - the fragment dropped: it never reaches the server;
//! - the hex digits of percent-escapes uppercased in path and query (`%7e` becomes `%7E`):
//!   RFC 3986 section 6.2.2.1 makes them equivalent, and `url` keeps them as written.
//!
//! What is deliberately *not* merged, because a server may tell them apart:
//!
//! - an empty query from no query (`/a?` and `/a` stay distinct);
//! - path case (`/a` and `/A`);
//! - percent-escapes and the characters they encode (`%7E` and `~` stay distinct; decoding
//!   unreserved characters would be allowed by RFC 3986 but servers and signed URLs disagree);
//! - query parameter order.

use sha2::{Digest, Sha256};
use url::Url;

/// The canonical form of `url` for deduplication: same resource, same string.
///
/// Scheme/host case, default ports and dot-segments are already canonical in any parsed
/// [`Url`]; this drops the fragment and uppercases percent-escape hex digits in path and query.
/// An empty query (`?`) is kept distinct from no query.
pub fn normalize(url: &Url) -> Url {
    let mut out = url.clone();
    out.set_fragment(None);
    let path = upper_hex_escapes(url.path());
    if path != url.path() {
        // The path only changes in the case of hex digits, which `set_path` keeps as written.
        out.set_path(&path);
    }
    if let Some(query) = url.query() {
        let upper = upper_hex_escapes(query);
        if upper != query {
            out.set_query(Some(&upper));
        }
    }
    out
}

/// A compact visited-set key: the first 16 bytes of the SHA-256 of the normalized URL string.
///
/// 128 bits make accidental collisions negligible at crawler scale: by the birthday bound, the
/// chance that any two of `n` distinct URLs share a key is about `n² / 2¹²⁹`, so roughly
/// `1.5e-21` for a billion URLs. A collision would only make the crawler skip one URL.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Key([u8; 16]);

impl Key {
    /// The key as bytes, as a store keeps it.
    pub fn to_bytes(self) -> [u8; 16] {
        self.0
    }

    /// A key a store gave back.
    pub fn from_bytes(bytes: [u8; 16]) -> Key {
        Key(bytes)
    }
}

/// The [`Key`] of `url` after [`normalize`]: equal keys mean "already visited".
pub fn key(url: &Url) -> Key {
    key_of_normalized(&normalize(url))
}

/// [`key`] of a URL that is already the output of [`normalize`] (saves normalizing it again).
pub fn key_of_normalized(normalized: &Url) -> Key {
    let digest = Sha256::digest(normalized.as_str().as_bytes());
    let mut k = [0u8; 16];
    k.copy_from_slice(&digest[..16]);
    Key(k)
}

/// Uppercases the two hex digits after every `%` that starts a valid escape; everything else is
/// copied unchanged (a stray `%` not followed by two hex digits is left alone).
fn upper_hex_escapes(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && b[i + 1].is_ascii_hexdigit()
            && b[i + 2].is_ascii_hexdigit()
        {
            out.push('%');
            out.push(char::from(b[i + 1].to_ascii_uppercase()));
            out.push(char::from(b[i + 2].to_ascii_uppercase()));
            i += 3;
        } else {
            // Copy one whole char so multi-byte UTF-8 (possible in the input type, though not
            // in a serialized Url) is kept intact.
            let ch = s[i..].chars().next().unwrap_or('\u{fffd}');
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_of_normalized_is_key_for_a_normalized_url() {
        let url = Url::parse("http://h/a%7e?q=%2f#frag").unwrap();
        assert_eq!(key_of_normalized(&normalize(&url)), key(&url));
        assert_ne!(key_of_normalized(&url), key(&url));
    }

    fn u(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    /// Scheme and host case, default ports and dot-segments are left to `Url::parse`; these pin
    /// that `normalize` of such a parse is the canonical form (an upgrade of `url` that changed
    /// it, or a `normalize` that undid it, would show here).
    #[test]
    fn normalize_of_a_parsed_url_has_canonical_scheme_host_port_and_dots() {
        let cases = [
            ("HTTP://Example.COM:80/a/./b/../c", "http://example.com/a/c"),
            ("https://x.org:443/", "https://x.org/"),
            ("http://x.org:8080/", "http://x.org:8080/"),
            ("http://x.org/a/%2e%2E/b", "http://x.org/b"),
        ];
        for (input, canonical) in cases {
            assert_eq!(normalize(&u(input)).as_str(), canonical, "{input}");
        }
    }

    #[test]
    fn normalize_leaves_a_canonical_url_as_it_is() {
        for s in [
            "http://x.org/",
            "http://x.org/a%7E?q=%2F&r",
            "https://x.org:8443/a?",
        ] {
            assert_eq!(normalize(&u(s)).as_str(), s);
        }
    }

    #[test]
    fn an_escape_at_the_very_end_is_uppercased() {
        // `%7e` ends the path (i + 2 is the last index), then the query.
        assert_eq!(
            normalize(&u("http://x.org/a%7e")).as_str(),
            "http://x.org/a%7E"
        );
        assert_eq!(
            normalize(&u("http://x.org/a?b=%7e")).as_str(),
            "http://x.org/a?b=%7E"
        );
        // Only one hex digit left: not an escape, and no read past the end.
        assert_eq!(
            normalize(&u("http://x.org/a%7?b%e")).as_str(),
            "http://x.org/a%7?b%e"
        );
    }

    #[test]
    fn only_the_query_changes_when_only_the_query_has_lowercase_escapes() {
        assert_eq!(
            normalize(&u("http://x.org/A%2F?q=%2f")).as_str(),
            "http://x.org/A%2F?q=%2F"
        );
        assert_eq!(
            normalize(&u("http://x.org/%2f?q=%2F")).as_str(),
            "http://x.org/%2F?q=%2F"
        );
    }

    #[test]
    fn escapes_next_to_multibyte_text_keep_the_text() {
        assert_eq!(upper_hex_escapes("é%c3%a9ü"), "é%C3%A9ü");
        assert_eq!(upper_hex_escapes("%%e9%"), "%%E9%");
        assert_eq!(upper_hex_escapes(""), "");
    }

    #[test]
    fn a_non_ascii_host_becomes_its_punycode_form() {
        // UTS 46 mapping by idna's unicode-rs back end (idna_adapter 1.1, pinned in Cargo.toml):
        // case folded, then Punycode.
        assert_eq!(
            normalize(&u("http://B\u{fc}cher.example/")).as_str(),
            "http://xn--bcher-kva.example/"
        );
        assert_eq!(
            normalize(&u(
                "https://\u{43f}\u{440}\u{438}\u{43c}\u{435}\u{440}.\u{440}\u{444}/"
            ))
            .as_str(),
            "https://xn--e1afmkfd.xn--p1ai/"
        );
        // A label that breaks the rules (a lone combining mark) is an error, not a guess.
        assert!(Url::parse("http://\u{301}x.example/").is_err());
    }

    #[test]
    fn normalize_drops_fragment_and_uppercases_escapes() {
        assert_eq!(
            normalize(&u("http://x.org/%7e/a%2fb?q=%c3%a9#frag")).as_str(),
            "http://x.org/%7E/a%2Fb?q=%C3%A9"
        );
        // A stray % is left as is.
        assert_eq!(
            normalize(&u("http://x.org/100%/a%zz?%")).as_str(),
            "http://x.org/100%/a%zz?%"
        );
        assert_eq!(
            normalize(&u("http://x.org/a?#f")).as_str(),
            "http://x.org/a?"
        );
    }

    #[test]
    fn equivalent_forms_share_a_key() {
        assert_eq!(
            key(&u("HTTP://Example.COM:80/a/./b/../c#x")),
            key(&u("http://example.com/a/c"))
        );
        assert_eq!(key(&u("http://x.org/%7e")), key(&u("http://x.org/%7E")));
        assert_eq!(
            key(&u("http://x.org/?a=%7e")),
            key(&u("http://x.org/?a=%7E"))
        );
        assert_eq!(key(&u("http://x.org/a#1")), key(&u("http://x.org/a#2")));
    }

    #[test]
    fn different_resources_have_different_keys() {
        assert_ne!(key(&u("http://x.org/a?")), key(&u("http://x.org/a")));
        assert_ne!(key(&u("http://x.org/a")), key(&u("http://x.org/A")));
        assert_ne!(key(&u("http://x.org/~")), key(&u("http://x.org/%7E")));
        assert_ne!(key(&u("http://x.org/")), key(&u("https://x.org/")));
        assert_ne!(key(&u("http://x.org/")), key(&u("http://x.org:81/")));
    }

    #[test]
    fn key_is_the_sha256_prefix_of_the_normalized_string() {
        let digest = Sha256::digest(b"http://example.com/a/c");
        assert_eq!(key(&u("http://EXAMPLE.com/a/c#z")).0[..], digest[..16]);
    }

    #[test]
    fn a_key_round_trips_through_its_bytes() {
        // What a store (`crawl --state`) writes and reads back: the 16 bytes of the digest.
        let k = key(&u("http://example.com/a/c"));
        let bytes = k.to_bytes();
        assert_eq!(bytes[..], Sha256::digest(b"http://example.com/a/c")[..16]);
        assert_eq!(Key::from_bytes(bytes), k);
        let other = key(&u("http://example.com/b"));
        assert_ne!(other.to_bytes(), bytes);
        assert_eq!(Key::from_bytes(other.to_bytes()), other);
    }
}
