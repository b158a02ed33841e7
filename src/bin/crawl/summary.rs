//! The closing line: what happened, counted by the program from the records it saw (HTTP
//! statuses by class, errors by kind) beside the library's [`Summary`] (timing, bytes).

use wisp::crawl::{DISALLOWED, FILTERED, Record, Summary};

use crate::output::{bytes, plural};

/// What kind of failure a record's `error` describes, read from its text (the library's
/// messages: `wisp::http::Error`'s `Display` and the crawl's own).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ErrorKind {
    Timeout,
    /// Refused, reset, unreachable, name not found: `connection error: ...`.
    Connection,
    Tls,
    /// The server broke HTTP, a redirect chain was too long, a body could not be decoded.
    Protocol,
    BodyTooLarge,
    RobotsUnreachable,
    /// A seed (from `--input`) or a redirect that is not an http(s) URL.
    BadUrl,
    /// Still running when a stop request's grace ran out.
    Interrupted,
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 8] = [
        ErrorKind::Timeout,
        ErrorKind::Connection,
        ErrorKind::Tls,
        ErrorKind::Protocol,
        ErrorKind::BodyTooLarge,
        ErrorKind::RobotsUnreachable,
        ErrorKind::BadUrl,
        ErrorKind::Interrupted,
    ];

    /// The kind of an error message. Robots first: `robots.txt unreachable: timed out
    /// connecting` is about robots.txt, whatever its cause.
    pub fn of(error: &str) -> ErrorKind {
        if error.starts_with("robots.txt unreachable") {
            ErrorKind::RobotsUnreachable
        } else if error.starts_with("interrupted") {
            ErrorKind::Interrupted
        } else if error.contains("timed out") || error.contains("timeout") {
            ErrorKind::Timeout
        } else if error.contains("TLS") || error.contains("certificate") {
            ErrorKind::Tls
        } else if error.starts_with("connection error") {
            ErrorKind::Connection
        } else if error.contains("larger than the limit") {
            ErrorKind::BodyTooLarge
        } else if error.starts_with("invalid URL")
            || error.starts_with("unsupported URL scheme")
            || error.starts_with("redirect to an invalid URL")
        {
            ErrorKind::BadUrl
        } else {
            ErrorKind::Protocol
        }
    }

    fn name(self) -> &'static str {
        match self {
            ErrorKind::Timeout => "timeout",
            ErrorKind::Connection => "connection",
            ErrorKind::Tls => "TLS",
            ErrorKind::Protocol => "protocol",
            ErrorKind::BodyTooLarge => "body too large",
            ErrorKind::RobotsUnreachable => "robots.txt unreachable",
            ErrorKind::BadUrl => "bad URL",
            ErrorKind::Interrupted => "interrupted",
        }
    }
}

/// Counts of the records seen so far.
#[derive(Default)]
pub struct Tally {
    /// Responses by the first digit of their status: `[1xx, 2xx, 3xx, 4xx, 5xx, other]`.
    classes: [u64; 6],
    /// Errors by kind, indexed like [`ErrorKind::ALL`]; robots.txt refusals are not errors.
    errors: [u64; ErrorKind::ALL.len()],
}

impl Tally {
    pub fn count(&mut self, record: &Record) {
        if let Some(status) = record.status {
            let class = usize::from(status / 100);
            self.classes[if (1..=5).contains(&class) {
                class - 1
            } else {
                5
            }] += 1;
        }
        match record.error.as_deref() {
            None => {}
            Some(DISALLOWED) => {}
            Some(e) if e.starts_with(FILTERED) => {}
            Some(e) => self.errors[ErrorKind::of(e) as usize] += 1,
        }
    }

    /// Errors of a kind.
    pub fn errors_of(&self, kind: ErrorKind) -> u64 {
        self.errors[kind as usize]
    }

    /// URLs that ended in an error other than an interruption (which has its own exit status).
    pub fn failed_urls(&self) -> u64 {
        ErrorKind::ALL
            .iter()
            .filter(|k| **k != ErrorKind::Interrupted)
            .map(|k| self.errors_of(*k))
            .sum()
    }

    /// `crawled 3 pages (2.0 KiB) in 0.01 s: ...; 2xx 1, 3xx 0, 4xx 1, 5xx 1; 1 error (1 timeout); ...`
    pub fn line(&self, s: &Summary, stopped_by: Option<&str>) -> String {
        let secs = s.elapsed.as_secs_f64();
        let rate = if secs > 0.0 {
            s.pages as f64 / secs
        } else {
            0.0
        };
        let mut line = format!(
            "crawled {} ({}) in {secs:.2} s: {rate:.0} pages/s, p50 {:.1} ms, p99 {:.1} ms; ",
            plural(s.pages, "page", "pages"),
            bytes(s.bytes),
            s.p50.as_secs_f64() * 1e3,
            s.p99.as_secs_f64() * 1e3,
        );
        let [c1, c2, c3, c4, c5, other] = self.classes;
        line += &format!("HTTP {c2} 2xx, {c3} 3xx, {c4} 4xx, {c5} 5xx");
        if c1 + other > 0 {
            line += &format!(", {} other", c1 + other);
        }
        let total: u64 = self.errors.iter().sum();
        line += &format!("; {}", plural(total, "error", "errors"));
        if total > 0 {
            let kinds: Vec<String> = ErrorKind::ALL
                .iter()
                .filter(|k| self.errors_of(**k) > 0)
                .map(|k| format!("{} {}", self.errors_of(*k), k.name()))
                .collect();
            line += &format!(" ({})", kinds.join(", "));
        }
        line += &format!(
            "; {}; {} disallowed by robots.txt",
            plural(s.redirects, "redirect hop", "redirect hops"),
            s.disallowed
        );
        if s.filtered > 0 {
            line += &format!("; {} filtered by type", s.filtered);
        }
        if s.save_errors > 0 {
            line += &format!("; {} not saved", plural(s.save_errors, "body", "bodies"));
        }
        if let Some(why) = stopped_by {
            line += &format!(" ({why})");
        }
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_messages_of_the_library_fall_in_their_kinds() {
        let cases = [
            ("timed out connecting", ErrorKind::Timeout),
            (
                "request took longer than its total timeout",
                ErrorKind::Timeout,
            ),
            (
                "connection error: Connection refused (os error 111)",
                ErrorKind::Connection,
            ),
            (
                "TLS handshake with a failed: invalid peer certificate: UnknownIssuer",
                ErrorKind::Tls,
            ),
            (
                "bad response from server: invalid status line",
                ErrorKind::Protocol,
            ),
            (
                "response body larger than the limit of 10 bytes",
                ErrorKind::BodyTooLarge,
            ),
            (
                "robots.txt unreachable: timed out connecting",
                ErrorKind::RobotsUnreachable,
            ),
            ("unsupported URL scheme \"ftp\"", ErrorKind::BadUrl),
            (
                "interrupted: the crawl was stopped before this fetch finished",
                ErrorKind::Interrupted,
            ),
        ];
        for (message, kind) in cases {
            assert_eq!(ErrorKind::of(message), kind, "{message}");
        }
    }

    #[test]
    fn the_line_counts_classes_and_kinds_and_speaks_in_the_singular_for_one() {
        let mut t = Tally::default();
        for status in [200, 301, 404, 500, 503] {
            t.count(&Record {
                status: Some(status),
                ..Record::default()
            });
        }
        t.count(&Record {
            error: Some("timed out connecting".into()),
            ..Record::default()
        });
        t.count(&Record {
            error: Some(DISALLOWED.into()),
            ..Record::default()
        });
        let s = Summary {
            pages: 1,
            bytes: 1536,
            redirects: 1,
            disallowed: 1,
            ..Summary::default()
        };
        let line = t.line(&s, None);
        assert!(line.starts_with("crawled 1 page (1.5 KiB) in "), "{line}");
        assert!(
            line.contains(
                "HTTP 1 2xx, 1 3xx, 1 4xx, 2 5xx; 1 error (1 timeout); 1 redirect hop; 1 disallowed"
            ),
            "{line}"
        );
        assert_eq!(t.failed_urls(), 1);
    }
}
