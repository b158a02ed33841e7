//! One line of the crawl log: what happened to one URL.
//!
//! The crawler writes one [`Record`] per URL as a line of JSON (JSON Lines), so a crawl can be
//! analysed with `jq` or any JSON reader and a log cut at any line is still valid. The encoder
//! is hand-written (a dozen fields, strings and integers only) to keep serde out of the build.

use std::fmt::Write;

/// The outcome of fetching one URL.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Record {
    /// The URL as queued.
    pub url: String,
    /// Where the redirects ended, when the fetch got that far.
    pub final_url: Option<String>,
    /// The HTTP status of the final response, if there was one.
    pub status: Option<u16>,
    /// Body bytes received.
    pub bytes: u64,
    /// The `Content-Type` header of the final response, if any.
    pub content_type: Option<String>,
    /// SHA-256 of the body, lowercase hex, when the body was read completely.
    pub sha256: Option<String>,
    /// Link distance from the seed URLs (seeds are 0).
    pub depth: u32,
    /// Wall time from the start of the fetch to its end, in milliseconds.
    pub elapsed_ms: u64,
    /// Redirect hops from `url` to `final_url`. The last may lead to a URL already taken,
    /// which is not fetched again: then `status` is that 3xx response's.
    pub redirects: u32,
    /// Why the fetch failed, if it did.
    pub error: Option<String>,
    /// Body bytes as they came over the wire: smaller than `bytes` when the server compressed
    /// the body (`bytes`, `sha256` and saved files are of the decoded body).
    pub encoded_bytes: u64,
    /// Why the body could not be saved under the output directory (`--out`), when saving was
    /// asked for and failed: the path and the reason (`out/host/a is a symlink; not following
    /// it`). `None` when nothing was to be saved or it was saved. The fetch itself may still
    /// have succeeded: `error` is about the fetch, this only about the copy on disk.
    pub save_error: Option<String>,
    /// The page where the URL was first found (`None` for a seed).
    pub referrer: Option<String>,
    /// When the fetch started, as RFC 3339 in UTC with milliseconds
    /// (`2026-12-01T22:47:51.123Z`); `None` when nothing was fetched (a robots.txt refusal).
    pub fetched_at: Option<String>,
}

impl Record {
    /// This record as one line of JSON, without the trailing newline.
    ///
    /// Fields appear in declaration order, `None` is `null`, and strings are escaped per
    /// RFC 8259 (`"`, `\`, `\n`, `\r`, `\t`, other control characters as `\u00XX`; everything
    /// else, including non-ASCII, is written as UTF-8), so the output never contains a raw
    /// newline and each record stays on its line.
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(160 + self.url.len());
        out.push_str("{\"url\":");
        push_str(&mut out, &self.url);
        out.push_str(",\"final_url\":");
        push_opt_str(&mut out, self.final_url.as_deref());
        out.push_str(",\"status\":");
        match self.status {
            Some(s) => push_num(&mut out, s),
            None => out.push_str("null"),
        }
        out.push_str(",\"bytes\":");
        push_num(&mut out, self.bytes);
        out.push_str(",\"content_type\":");
        push_opt_str(&mut out, self.content_type.as_deref());
        out.push_str(",\"sha256\":");
        push_opt_str(&mut out, self.sha256.as_deref());
        out.push_str(",\"depth\":");
        push_num(&mut out, self.depth);
        out.push_str(",\"elapsed_ms\":");
        push_num(&mut out, self.elapsed_ms);
        out.push_str(",\"redirects\":");
        push_num(&mut out, self.redirects);
        out.push_str(",\"error\":");
        push_opt_str(&mut out, self.error.as_deref());
        out.push_str(",\"encoded_bytes\":");
        push_num(&mut out, self.encoded_bytes);
        out.push_str(",\"save_error\":");
        push_opt_str(&mut out, self.save_error.as_deref());
        out.push_str(",\"referrer\":");
        push_opt_str(&mut out, self.referrer.as_deref());
        out.push_str(",\"fetched_at\":");
        push_opt_str(&mut out, self.fetched_at.as_deref());
        out.push('}');
        out
    }
}

fn push_num(out: &mut String, n: impl std::fmt::Display) {
    // Writing to a String cannot fail.
    let _ = write!(out, "{n}");
}

fn push_opt_str(out: &mut String, s: Option<&str>) {
    match s {
        Some(s) => push_str(out, s),
        None => out.push_str("null"),
    }
}

/// A JSON string literal for `s` (RFC 8259 section 7).
fn push_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_record() {
        assert_eq!(
            Record::default().to_json(),
            r#"{"url":"","final_url":null,"status":null,"bytes":0,"content_type":null,"sha256":null,"depth":0,"elapsed_ms":0,"redirects":0,"error":null,"encoded_bytes":0,"save_error":null,"referrer":null,"fetched_at":null}"#
        );
    }

    #[test]
    fn full_record_in_field_order() {
        let r = Record {
            url: "http://a.org/".into(),
            final_url: Some("https://a.org/x".into()),
            status: Some(200),
            bytes: u64::MAX,
            content_type: Some("text/html; charset=utf-8".into()),
            sha256: Some("ab".repeat(32)),
            depth: 3,
            elapsed_ms: 12,
            redirects: 1,
            error: None,
            encoded_bytes: 7,
            save_error: Some("out/a.org is a symlink; not following it".into()),
            referrer: Some("http://a.org/index".into()),
            fetched_at: Some("2026-12-01T22:47:51.123Z".into()),
        };
        let expected = format!(
            "{{\"url\":\"http://a.org/\",\"final_url\":\"https://a.org/x\",\"status\":200,\
             \"bytes\":18446744073709551615,\"content_type\":\"text/html; charset=utf-8\",\
             \"sha256\":\"{}\",\"depth\":3,\"elapsed_ms\":12,\"redirects\":1,\"error\":null,\
             \"encoded_bytes\":7,\"save_error\":\"out/a.org is a symlink; not following it\",\
             \"referrer\":\"http://a.org/index\",\"fetched_at\":\"2026-12-01T22:47:51.123Z\"}}",
            "ab".repeat(32)
        );
        assert_eq!(r.to_json(), expected);
    }

    #[test]
    fn tricky_strings_are_escaped() {
        let r = Record {
            error: Some("a\"b\\c\nd\re\tf\u{1}g\u{1f}h\u{7f}é😀/".into()),
            ..Record::default()
        };
        let json = r.to_json();
        let tail = r#""error":"a\"b\\c\nd\re\tf\u0001g\u001fh"#.to_owned()
            + "\u{7f}é😀/\",\"encoded_bytes\":0,\"save_error\":null,\"referrer\":null,\
               \"fetched_at\":null}";
        assert!(json.ends_with(&tail), "{json}");
        assert!(!json.contains('\n') && !json.contains('\r'));
        // Round trip through a tiny decoder of exactly the escapes JSON allows.
        let start = json.find("\"error\":\"").unwrap() + "\"error\":\"".len();
        assert_eq!(decode(&json[start..]), r.error.unwrap());
    }

    /// Decodes a JSON string body (after the opening quote) up to its closing quote.
    fn decode(s: &str) -> String {
        let mut out = String::new();
        let mut chars = s.chars();
        while let Some(c) = chars.next() {
            match c {
                '"' => return out,
                '\\' => match chars.next().unwrap() {
                    '"' => out.push('"'),
                    '\\' => out.push('\\'),
                    '/' => out.push('/'),
                    'n' => out.push('\n'),
                    'r' => out.push('\r'),
                    't' => out.push('\t'),
                    'b' => out.push('\u{8}'),
                    'f' => out.push('\u{c}'),
                    'u' => {
                        let hex: String = chars.by_ref().take(4).collect();
                        let n = u32::from_str_radix(&hex, 16).unwrap();
                        out.push(char::from_u32(n).unwrap());
                    }
                    other => panic!("bad escape {other:?}"),
                },
                c => {
                    assert!(u32::from(c) >= 0x20, "raw control char in JSON string");
                    out.push(c);
                }
            }
        }
        panic!("unterminated string");
    }

    #[test]
    fn every_control_char_round_trips() {
        let s: String = (0u32..0x20).filter_map(char::from_u32).collect();
        let r = Record {
            url: s.clone(),
            ..Record::default()
        };
        let json = r.to_json();
        assert_eq!(decode(&json["{\"url\":\"".len()..]), s);
    }
}
