//! The closing line: what happened, counted by the program from the records it saw (HTTP
//! statuses by class, errors by kind) beside the library's [`Summary`] (timing, bytes), and
//! the same counts host by host for `--stats`.

use std::collections::BTreeMap;

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

/// The index in [`Tally::classes`] of a status: `[1xx, 2xx, 3xx, 4xx, 5xx, other]`.
fn class_of(status: u16) -> usize {
    let class = usize::from(status / 100);
    if (1..=5).contains(&class) {
        class - 1
    } else {
        5
    }
}

/// Counts of the records seen so far.
#[derive(Default)]
pub struct Tally {
    /// Responses by the first digit of their status: `[1xx, 2xx, 3xx, 4xx, 5xx, other]`.
    classes: [u64; 6],
    /// Errors by kind, indexed like [`ErrorKind::ALL`]; robots.txt refusals are not errors.
    errors: [u64; ErrorKind::ALL.len()],
    /// The same counts by host (`host[:port]` of the record's URL, as the URL names it), for
    /// `--stats`; ordered by name so the table reads the same every run.
    hosts: BTreeMap<String, HostCounts>,
}

/// One row of the `--stats` table.
#[derive(Default, Debug, PartialEq, Eq)]
struct HostCounts {
    records: u64,
    /// Like [`Tally::classes`].
    classes: [u64; 6],
    /// Errors of any kind (robots.txt refusals are not errors).
    errors: u64,
    /// Body bytes, decoded.
    bytes: u64,
}

/// `host[:port]` of a URL, or the URL itself when it has no host (a bad seed).
fn host_of(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => match (u.host_str(), u.port()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (Some(host), None) => host.to_string(),
            (None, _) => url.to_string(),
        },
        Err(_) => url.to_string(),
    }
}

impl Tally {
    pub fn count(&mut self, record: &Record) {
        let host = self.hosts.entry(host_of(&record.url)).or_default();
        host.records += 1;
        host.bytes += record.bytes;
        if let Some(status) = record.status {
            self.classes[class_of(status)] += 1;
            host.classes[class_of(status)] += 1;
        }
        match record.error.as_deref() {
            None => {}
            Some(DISALLOWED) => {}
            Some(e) if e.starts_with(FILTERED) => {}
            Some(e) => {
                self.errors[ErrorKind::of(e) as usize] += 1;
                host.errors += 1;
            }
        }
    }

    /// `--stats`: a table of the records by host, a heading line and one line per host.
    pub fn host_table(&self) -> String {
        let width = self
            .hosts
            .keys()
            .map(|h| h.chars().count())
            .max()
            .unwrap_or(0)
            .max("host".len());
        let mut table = format!(
            "{:<width$} {:>8} {:>7} {:>7} {:>7} {:>7} {:>7} {:>11}\n",
            "host", "records", "2xx", "3xx", "4xx", "5xx", "errors", "bytes"
        );
        for (host, c) in &self.hosts {
            table += &format!(
                "{host:<width$} {:>8} {:>7} {:>7} {:>7} {:>7} {:>7} {:>11}\n",
                c.records,
                c.classes[1],
                c.classes[2],
                c.classes[3],
                c.classes[4],
                c.errors,
                bytes(c.bytes)
            );
        }
        table
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
        if s.dropped > 0 {
            line += &format!(
                "; {} dropped, the frontier was full (--max-frontier)",
                plural(s.dropped, "new link", "new links")
            );
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

    #[test]
    fn hosts_are_counted_apart_with_their_ports() {
        let mut t = Tally::default();
        let record = |url: &str, status, error: Option<&str>| Record {
            url: url.into(),
            status,
            bytes: 100,
            error: error.map(Into::into),
            ..Record::default()
        };
        t.count(&record("http://a.test/", Some(200), None));
        t.count(&record("http://a.test/x", Some(404), None));
        t.count(&record(
            "http://a.test:8080/",
            None,
            Some("timed out connecting"),
        ));
        t.count(&record("http://a.test/robots", None, Some(DISALLOWED)));
        assert_eq!(
            t.hosts["a.test"],
            HostCounts {
                records: 3,
                classes: [0, 1, 0, 1, 0, 0],
                errors: 0,
                bytes: 300,
            }
        );
        assert_eq!(t.hosts["a.test:8080"].errors, 1);
    }

    #[test]
    fn the_host_table_has_a_heading_and_a_line_per_host() {
        let mut t = Tally::default();
        t.count(&Record {
            url: "http://example.test/".into(),
            status: Some(200),
            bytes: 2048,
            ..Record::default()
        });
        let table = t.host_table();
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 2, "{table}");
        let heading: Vec<&str> = lines[0].split_whitespace().collect();
        assert_eq!(
            heading,
            [
                "host", "records", "2xx", "3xx", "4xx", "5xx", "errors", "bytes"
            ]
        );
        let row: Vec<&str> = lines[1].split_whitespace().collect();
        assert_eq!(
            row,
            ["example.test", "1", "1", "0", "0", "0", "0", "2.0", "KiB"]
        );
    }
}
