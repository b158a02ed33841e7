//! Which character encoding a fetched HTML body is in, decided as a browser decides it.
//!
//! ```
//! use wisp::crawl::charset::html_encoding;
//!
//! let page = b"<meta charset=shift_jis><a href=\"x\">";
//! // The meta, when the header names no charset; the header's charset before the meta.
//! assert_eq!(html_encoding(page, Some("text/html")), encoding_rs::SHIFT_JIS);
//! let latin1 = Some("text/html; charset=latin1");
//! assert_eq!(html_encoding(page, latin1), encoding_rs::WINDOWS_1252);
//! // A byte order mark before everything.
//! assert_eq!(html_encoding(b"\xEF\xBB\xBF<p>", latin1), encoding_rs::UTF_8);
//! ```
//!
//! The order is WHATWG HTML's "determining the character encoding", without the steps that need
//! a browser (user choice, parent documents, frequency analysis), each source consulted only when
//! the ones before it said nothing usable:
//!
//! 1. a byte order mark: `EF BB BF` is UTF-8, `FF FE` UTF-16LE, `FE FF` UTF-16BE;
//! 2. the `charset` parameter of the `Content-Type` header (name case-insensitive, value quoted
//!    or not; the first `charset` parameter counts), taken as it is, UTF-16 included;
//! 3. a prescan of the first [`PRESCAN_BYTES`] bytes for `<meta charset=...>` or
//!    `<meta http-equiv="Content-Type" content="...; charset=...">` (the first such element
//!    naming a known encoding wins); a meta that names UTF-16 means UTF-8 (a document that can be
//!    prescanned as ASCII is not UTF-16) and `x-user-defined` means windows-1252;
//! 4. windows-1252, the web's default for a document that says nothing.
//!
//! Labels are matched with the Encoding Standard's table ([`Encoding::for_label`]: `latin1`,
//! `iso-8859-1` and `ascii` all mean windows-1252, surrounding whitespace is ignored). A label the
//! table does not know falls through to the next source; nothing here is ever an error. The
//! labels of the "replacement" encoding (`iso-2022-kr`, `hz-gb-2312`, ...) are known and kept, as
//! the standard says: such a document decodes to a single U+FFFD, so it has no links.

use std::borrow::Cow;

use encoding_rs::{Encoding, UTF_8, UTF_16BE, UTF_16LE, WINDOWS_1252, X_USER_DEFINED};
use html5gum::{Token, Tokenizer};

/// How many leading bytes of a body the `<meta>` prescan looks at (WHATWG's number).
pub const PRESCAN_BYTES: usize = 1024;

/// The encoding of `body`, an HTML document served with the `Content-Type` header
/// `content_type`; see the module docs for the order of the sources. Never fails: windows-1252
/// when nothing names a known encoding.
pub fn html_encoding(body: &[u8], content_type: Option<&str>) -> &'static Encoding {
    if let Some((encoding, _)) = Encoding::for_bom(body) {
        return encoding;
    }
    if let Some(encoding) = content_type
        .and_then(charset_param)
        .and_then(|label| for_label(label.as_bytes()))
    {
        return encoding;
    }
    if let Some(encoding) = prescan(&body[..body.len().min(PRESCAN_BYTES)]) {
        return encoding;
    }
    WINDOWS_1252
}

/// [`Encoding::for_label`], with the label nearly every page sends answered without its search.
fn for_label(label: &[u8]) -> Option<&'static Encoding> {
    if label.eq_ignore_ascii_case(b"utf-8") {
        return Some(UTF_8);
    }
    Encoding::for_label(label)
}

/// The value of the first `charset` parameter of a MIME type (`text/html; charset="x"`), unquoted;
/// `None` when there is none or it is empty. Parameters are parsed as WHATWG's MIME type parser
/// does: names case-insensitively, a quoted value up to its closing quote with `\` escaping the
/// next character, an unquoted one up to `;` with trailing whitespace trimmed.
fn charset_param(content_type: &str) -> Option<Cow<'_, str>> {
    // Byte offsets: every delimiter is ASCII, so each one is a char boundary.
    let bytes = content_type.as_bytes();
    let is_ws = |b: u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r');
    // Parameters start after the first `;` (the type and subtype cannot contain one).
    let mut i = until(bytes, 0, |b| b == b';') + 1;
    while i < bytes.len() {
        let name_start = until(bytes, i, |b| !is_ws(b));
        i = until(bytes, name_start, |b| b == b';' || b == b'=');
        let name = &content_type[name_start..i];
        if bytes.get(i) != Some(&b'=') {
            // A parameter without `=` is skipped.
            i += 1;
            continue;
        }
        i += 1;
        let value = if bytes.get(i) == Some(&b'"') {
            let (value, after) = unquote(&content_type[i + 1..]);
            // Whatever follows the closing quote, up to the next `;`, is ignored.
            i = until(bytes, bytes.len() - after.len(), |b| b == b';');
            value
        } else {
            let start = i;
            i = until(bytes, start, |b| b == b';');
            let mut end = i;
            while end > start && is_ws(bytes[end - 1]) {
                end -= 1;
            }
            Cow::Borrowed(&content_type[start..end])
        };
        if name.eq_ignore_ascii_case("charset") && !value.is_empty() {
            return Some(value);
        }
        i += 1;
    }
    None
}

/// The index of the first byte at or after `i` that `stop` accepts, or `bytes.len()`.
fn until(bytes: &[u8], mut i: usize, stop: impl Fn(u8) -> bool) -> usize {
    while i < bytes.len() && !stop(bytes[i]) {
        i += 1;
    }
    i
}

/// The body of a quoted string that began just before `s` (WHATWG's "collect an HTTP quoted
/// string": `\` escapes the next character, a missing closing quote ends it at the end), and
/// what follows its closing quote. Borrowed unless there is an escape.
fn unquote(s: &str) -> (Cow<'_, str>, &str) {
    match s.bytes().position(|b| b == b'"' || b == b'\\') {
        None => return (Cow::Borrowed(s), ""),
        Some(i) if s.as_bytes()[i] == b'"' => return (Cow::Borrowed(&s[..i]), &s[i + 1..]),
        Some(_) => {}
    }
    let mut value = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return (Cow::Owned(value), &s[i + 1..]),
            '\\' => value.push(chars.next().map_or('\\', |(_, escaped)| escaped)),
            c => value.push(c),
        }
    }
    (Cow::Owned(value), "")
}

/// The encoding the first usable `<meta>` of `prefix` names, as WHATWG's prescan decides it.
fn prescan(prefix: &[u8]) -> Option<&'static Encoding> {
    // No raw-text state switching: like the prescan, only comments hide markup.
    for token in Tokenizer::new(prefix) {
        let Ok(Token::StartTag(tag)) = token else {
            continue;
        };
        if tag.name.as_slice() != b"meta" {
            continue;
        }
        let attrs = &tag.attributes;
        let label: Option<&[u8]> = if let Some(charset) = attrs.get(&b"charset"[..]) {
            Some(charset)
        } else if let Some(content) = attrs.get(&b"content"[..]) {
            let pragma = attrs
                .get(&b"http-equiv"[..])
                .is_some_and(|v| v.eq_ignore_ascii_case(b"content-type"));
            if pragma {
                charset_from_content(content)
            } else {
                None
            }
        } else {
            None
        };
        let Some(encoding) = label.and_then(for_label) else {
            continue;
        };
        return Some(match encoding {
            e if e == UTF_16LE || e == UTF_16BE => UTF_8,
            e if e == X_USER_DEFINED => WINDOWS_1252,
            e => e,
        });
    }
    None
}

/// WHATWG's "extract a character encoding from a meta element": the label after `charset=` in a
/// `content` attribute (`text/html; charset=utf-8`), quoted or not.
fn charset_from_content(content: &[u8]) -> Option<&[u8]> {
    let is_ws = |b: &u8| matches!(b, b'\t' | b'\n' | b'\x0C' | b'\r' | b' ');
    let mut pos = 0;
    loop {
        let found = content[pos..]
            .windows(7)
            .position(|w| w.eq_ignore_ascii_case(b"charset"))?;
        pos += found + 7;
        while content.get(pos).is_some_and(is_ws) {
            pos += 1;
        }
        if content.get(pos) != Some(&b'=') {
            // Not `charset=`: look for the next occurrence from here.
            continue;
        }
        pos += 1;
        while content.get(pos).is_some_and(is_ws) {
            pos += 1;
        }
        let rest = &content[pos..];
        return match rest.first()? {
            &q @ (b'"' | b'\'') => {
                let end = rest[1..].iter().position(|&b| b == q)?;
                Some(&rest[1..1 + end])
            }
            _ => {
                let end = rest
                    .iter()
                    .position(|b| is_ws(b) || *b == b';')
                    .unwrap_or(rest.len());
                Some(&rest[..end])
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use encoding_rs::{EUC_JP, ISO_8859_2, REPLACEMENT, SHIFT_JIS};

    fn of(body: &str, content_type: Option<&str>) -> &'static Encoding {
        html_encoding(body.as_bytes(), content_type)
    }

    #[test]
    fn nothing_at_all_is_windows_1252() {
        assert_eq!(of("<p>caf\u{e9}</p>", None), WINDOWS_1252);
        assert_eq!(of("", Some("text/html")), WINDOWS_1252);
    }

    #[test]
    fn utf8_bom_is_utf8() {
        assert_eq!(html_encoding(b"\xEF\xBB\xBF<p>x", None), UTF_8);
    }

    #[test]
    fn utf16_boms_are_utf16() {
        assert_eq!(html_encoding(b"\xFF\xFE<\0p\0", None), UTF_16LE);
        assert_eq!(html_encoding(b"\xFE\xFF\0<\0p", None), UTF_16BE);
    }

    #[test]
    fn bom_beats_header_and_meta() {
        let body = b"\xFF\xFE<\0m\0";
        assert_eq!(
            html_encoding(body, Some("text/html; charset=utf-8")),
            UTF_16LE
        );
        let body = b"\xEF\xBB\xBF<meta charset=shift_jis>";
        assert_eq!(
            html_encoding(body, Some("text/html; charset=latin2")),
            UTF_8
        );
    }

    #[test]
    fn header_charset_unquoted() {
        assert_eq!(of("", Some("text/html; charset=iso-8859-2")), ISO_8859_2);
    }

    #[test]
    fn header_charset_is_case_insensitive_and_quoted() {
        // "ISO-8859-1" is a label of windows-1252 in the Encoding Standard.
        let ct = Some(r#"text/html; Charset="ISO-8859-1""#);
        assert_eq!(of("<meta charset=utf-8>", ct), WINDOWS_1252);
        assert_eq!(of("", Some("TEXT/HTML;CHARSET=Shift_JIS")), SHIFT_JIS);
    }

    #[test]
    fn header_charset_after_other_parameters_with_whitespace() {
        let ct = Some("text/html ; q=\"a;b\" ;  charset = x ; charset=euc-jp ");
        // `charset ` (with a space) is not the name `charset`; the first real one counts.
        assert_eq!(of("", ct), EUC_JP);
        assert_eq!(
            of("", Some("text/html; charset=euc-jp ; charset=latin2")),
            EUC_JP
        );
    }

    #[test]
    fn header_quoted_value_with_escape_and_trailing_junk() {
        assert_eq!(
            charset_param(r#"a/b; charset="u\tf-8"x; y=z"#).as_deref(),
            Some("utf-8")
        );
        assert_eq!(of("", Some(r#"a/b; charset="utf-8"junk"#)), UTF_8);
    }

    #[test]
    fn header_quoted_value_may_lack_its_closing_quote() {
        assert_eq!(
            charset_param(r#"a/b; charset="euc-jp"#).as_deref(),
            Some("euc-jp")
        );
        assert_eq!(
            charset_param(r#"a/b; charset="euc\-jp"#).as_deref(),
            Some("euc-jp")
        );
    }

    #[test]
    fn header_utf16_is_taken_as_is() {
        assert_eq!(of("", Some("text/html; charset=utf-16le")), UTF_16LE);
    }

    #[test]
    fn header_empty_or_unknown_charset_falls_through_to_meta() {
        let meta = "<meta charset=euc-jp>";
        assert_eq!(of(meta, Some("text/html; charset=")), EUC_JP);
        assert_eq!(of(meta, Some("text/html; charset=\"\"")), EUC_JP);
        assert_eq!(of(meta, Some("text/html; charset=no-such-thing")), EUC_JP);
        assert_eq!(of(meta, Some("text/html; charset")), EUC_JP);
    }

    #[test]
    fn unknown_label_everywhere_is_windows_1252() {
        let body = "<meta charset=klingon>";
        assert_eq!(of(body, Some("text/html; charset=klingon")), WINDOWS_1252);
    }

    #[test]
    fn meta_charset() {
        assert_eq!(
            of("<html><head><META CharSet=' Shift_JIS '>", None),
            SHIFT_JIS
        );
    }

    #[test]
    fn meta_http_equiv_content_type() {
        let body = r#"<meta http-equiv="Content-Type" content="text/html; charset=ISO-8859-2">"#;
        assert_eq!(of(body, None), ISO_8859_2);
    }

    #[test]
    fn meta_content_charset_quoted_and_spaced() {
        let body = r#"<meta http-equiv=content-type content="text/html;charset = 'euc-jp'">"#;
        assert_eq!(of(body, None), EUC_JP);
    }

    #[test]
    fn meta_content_without_http_equiv_is_ignored() {
        let body = r#"<meta content="text/html; charset=euc-jp"><meta charset=latin2>"#;
        assert_eq!(of(body, None), ISO_8859_2);
    }

    #[test]
    fn meta_content_charset_needs_an_equals_sign() {
        // The first "charset" is not followed by `=`; the search goes on to the next one.
        assert_eq!(
            charset_from_content(b"charset; charset=euc-jp"),
            Some(&b"euc-jp"[..])
        );
        assert_eq!(charset_from_content(b"text/html"), None);
        assert_eq!(charset_from_content(b"charset=\"euc-jp"), None);
    }

    #[test]
    fn meta_utf16_means_utf8() {
        assert_eq!(of("<meta charset=utf-16le>", None), UTF_8);
        assert_eq!(of("<meta charset=utf-16>", None), UTF_8);
    }

    #[test]
    fn meta_x_user_defined_means_windows_1252() {
        assert_eq!(of("<meta charset=x-user-defined>", None), WINDOWS_1252);
    }

    #[test]
    fn meta_with_unknown_label_is_skipped_for_the_next_one() {
        assert_eq!(of("<meta charset=nope><meta charset=euc-jp>", None), EUC_JP);
    }

    #[test]
    fn meta_in_a_comment_does_not_count() {
        assert_eq!(of("<!-- <meta charset=euc-jp> -->", None), WINDOWS_1252);
    }

    #[test]
    fn meta_past_the_first_1024_bytes_does_not_count() {
        let pad = "x".repeat(PRESCAN_BYTES);
        assert_eq!(
            of(&format!("{pad}<meta charset=euc-jp>"), None),
            WINDOWS_1252
        );
        // Ending exactly at byte 1024 still counts.
        let tag = "<meta charset=euc-jp>";
        let pad = "x".repeat(PRESCAN_BYTES - tag.len());
        assert_eq!(of(&format!("{pad}{tag}"), None), EUC_JP);
    }

    #[test]
    fn replacement_labels_are_kept() {
        assert_eq!(of("", Some("text/html; charset=iso-2022-kr")), REPLACEMENT);
    }
}
