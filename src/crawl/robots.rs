//! What a host's robots.txt allows, as RFC 9309 reads it.
//!
//! One fetch per host, [`fetch_robots`], before any other URL of that host is requested; then
//! [`Robots::refusal`] for every URL of the host. How the fetch ends decides what follows:
//!
//! | `/robots.txt` answered                      | [`Robots`]    | URLs of the host    | RFC 9309 |
//! |---------------------------------------------|---------------|---------------------|----------|
//! | 2xx                                         | `Rules`       | as the rules say    | 2.2      |
//! | 301, 302, 303, 307, 308                     | (followed)    | as the target says  | 2.3.1.2  |
//! | a 6th redirect, or one with nowhere to go   | `AllowAll`    | all may be fetched  | 2.3.1.2  |
//! | 4xx (404 included)                          | `AllowAll`    | all may be fetched  | 2.3.1.3  |
//! | 5xx (or 101); network, timeout, TLS error   | `Unreachable` | none, each an error | 2.3.1.4  |
//! | a body that breaks off before its end       | `Unreachable` | none, each an error | 2.3.1.4  |
//!
//! Redirects go to any host and between `http` and `https` (`http://host/robots.txt` to
//! `https://www.host/robots.txt` is common); the rules found there still apply to the host that
//! was asked. After five redirects RFC 9309 lets a crawler treat the file as unavailable, and
//! an unavailable file (like a 404) allows everything. A 3xx with nothing to follow (no usable
//! `Location`, a scheme other than http(s), 300 or 304) is unavailable the same way.
//!
//! Parsing (section 2.2 and 2.5): only the first [`MAX_ROBOTS_BYTES`] are read, and a line the
//! limit cuts through is dropped; the rest of the body is never read. The groups are chosen by
//! our product token (`wisp-crawl` of `wisp-crawl/0.1.0`), `*` if none names it; the rules and
//! their matching are [`super::robots_rules`]'s.

use std::fmt;
use std::io::ErrorKind;

use url::{Position, Url};

use super::retry;
use super::robots_rules::{self, Rules};
use crate::http::{Client, Error, Phase, Response};

/// The most of a robots.txt that is read and parsed (RFC 9309 2.5: at least 500 KiB).
/// The error of a record for a URL robots.txt does not allow.
pub const DISALLOWED: &str = "disallowed by robots.txt";

pub(crate) const MAX_ROBOTS_BYTES: u64 = 500 * 1024;

/// Redirects followed for one robots.txt (RFC 9309 2.3.1.2: at least five).
pub(crate) const MAX_REDIRECTS: usize = 5;

/// What one host's robots.txt lets us fetch. Checked for every URL of the host: no variant does
/// more per check than matching the URL's path against the rules.
#[derive(Debug)]
pub(crate) enum Robots {
    /// No restrictions: robots.txt is unavailable (4xx, too many redirects, a redirect that
    /// cannot be followed; RFC 9309 2.3.1.2, 2.3.1.3).
    AllowAll,
    /// The rules of the groups that apply to our product token.
    Rules(Rules),
    /// robots.txt could not be fetched (5xx, a network or TLS error, a timeout, a body cut
    /// short): nothing may be fetched (RFC 9309 2.3.1.4, "complete disallow"). The reason in a
    /// few words: `connection refused`, `HTTP 503`.
    Unreachable(String),
}

/// Why robots.txt keeps a URL from being fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal<'a> {
    /// The rules disallow it. Its record says [`DISALLOWED`] and is counted apart from errors.
    Disallowed,
    /// robots.txt was unreachable, for this reason. Its record is an error (counted as one)
    /// whose message is this refusal's `Display`: `robots.txt unreachable: HTTP 503`.
    Unreachable(&'a str),
}

impl fmt::Display for Refusal<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Disallowed => f.write_str(DISALLOWED),
            Refusal::Unreachable(why) => write!(f, "robots.txt unreachable: {why}"),
        }
    }
}

impl Robots {
    /// The rules of a robots.txt body (a whole file, or whole lines of one) for `user_agent`
    /// (the full `User-Agent`; groups are matched by its product token).
    pub(crate) fn parse(body: &[u8], user_agent: &str) -> Robots {
        let body = body.strip_prefix(b"\xef\xbb\xbf").unwrap_or(body);
        Robots::Rules(Rules::parse(body, product_token(user_agent)))
    }

    /// The outcome as bytes a store keeps (`--state`), read back by [`Robots::from_bytes`].
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        match self {
            Robots::AllowAll => b"allow".to_vec(),
            Robots::Unreachable(why) => [b"unreachable\n", why.as_bytes()].concat(),
            Robots::Rules(rules) => [b"rules\n".as_slice(), &rules.to_bytes()].concat(),
        }
    }

    /// What [`Robots::to_bytes`] wrote; `None` for anything else.
    pub(crate) fn from_bytes(bytes: &[u8]) -> Option<Robots> {
        if bytes == b"allow" {
            return Some(Robots::AllowAll);
        }
        if let Some(why) = bytes.strip_prefix(b"unreachable\n") {
            return Some(Robots::Unreachable(
                String::from_utf8_lossy(why).into_owned(),
            ));
        }
        Rules::from_bytes(bytes.strip_prefix(b"rules\n")?).map(Robots::Rules)
    }

    /// `None` if `url` may be fetched; else why not.
    pub(crate) fn refusal(&self, url: &Url) -> Option<Refusal<'_>> {
        match self {
            Robots::AllowAll => None,
            // Rules match path and query; the fragment is no part of the request.
            Robots::Rules(rules) => (!rules
                .allows(&url[Position::BeforePath..Position::AfterQuery]))
            .then_some(Refusal::Disallowed),
            Robots::Unreachable(why) => Some(Refusal::Unreachable(why)),
        }
    }
}

/// Fetches `/robots.txt` of `origin` (any URL of the host) with `client` and reads what it
/// allows `user_agent`; the module docs give the table of outcomes.
///
/// `client` must follow no redirect itself (`ClientBuilder::max_redirects(0)`): the hops are
/// followed here, to any host, which the crawl's own redirect policy would refuse. Its
/// `max_body` should be at least [`MAX_ROBOTS_BYTES`]; a lower one only shortens the file (what
/// it let through is parsed, as for a file over the limit). Each hop is one request with the
/// client's own timeouts.
pub(crate) async fn fetch_robots(
    client: &Client,
    origin: &Url,
    user_agent: &str,
    retries: u32,
) -> Robots {
    let Ok(mut url) = origin.join("/robots.txt") else {
        // A URL that cannot be a base has no host, so no robots.txt either.
        return Robots::AllowAll;
    };
    for _ in 0..=MAX_REDIRECTS {
        // A connect failure, a 429 or a 503 is tried again, as for a page, before the origin is
        // taken as unreachable (and refused) for the cache's whole lifetime.
        let mut response = match retry::get(client, &url, retries).await {
            Ok(response) => response,
            Err(e) => return Robots::Unreachable(words(&e)),
        };
        match response.status() {
            200..=299 => {
                return match read_capped(&mut response).await {
                    Ok(body) => Robots::parse(&body, user_agent),
                    Err(e) => Robots::Unreachable(words(&e)),
                };
            }
            // The redirect's response (and its unread body) is dropped with `response`.
            301 | 302 | 303 | 307 | 308 => {
                match redirect_target(&url, response.header_str("location")) {
                    Some(next) => url = next,
                    None => return Robots::AllowAll,
                }
            }
            // 300, 304, ...: nothing to follow. 4xx: unavailable (2.3.1.3).
            300..=499 => return Robots::AllowAll,
            // 5xx, and 101 (the client never returns another 1xx).
            status => return Robots::Unreachable(format!("HTTP {status}")),
        }
    }
    Robots::AllowAll
}

/// The first [`MAX_ROBOTS_BYTES`] of a body, without the line the limit cut through if there
/// was more (the rest is never read).
///
/// A body that breaks off before its framed end (reset, bad chunking, a corrupt gzip stream)
/// is an error, hence unreachable: its missing part may hold the `Disallow` lines, and the
/// server did not finish sending the file. Only the client's own `max_body` ending the body
/// counts as a cut like ours: the file is complete, we just read less of it.
async fn read_capped(response: &mut Response) -> Result<Vec<u8>, Error> {
    const MAX: usize = MAX_ROBOTS_BYTES as usize;
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(piece)) => {
                let room = MAX - body.len();
                if piece.len() > room {
                    body.extend_from_slice(&piece[..room]);
                    break;
                }
                body.extend_from_slice(piece);
            }
            Ok(None) => return Ok(body),
            Err(Error::BodyTooLarge { .. }) => break,
            Err(e) => return Err(e),
        }
    }
    let whole = whole_lines(&body).len();
    body.truncate(whole);
    Ok(body)
}

/// `body` up to its last line end (CR, LF or NUL, as [`Rules::parse`] reads them). A line cut
/// short could say something it does not: cut `Disallow: /private/` to `Disallow: ` and it
/// allows everything.
fn whole_lines(body: &[u8]) -> &[u8] {
    match body.iter().rposition(|&b| matches!(b, b'\n' | b'\r' | 0)) {
        Some(end) => &body[..=end],
        None => &[],
    }
}

/// Where a redirect from `from` leads: its `Location` resolved against `from`, if that is an
/// http(s) URL (joined first, then checked: `Url::join` takes `//other/x` and worse).
fn redirect_target(from: &Url, location: Option<&str>) -> Option<Url> {
    let next = from.join(location?).ok()?;
    matches!(next.scheme(), "http" | "https").then_some(next)
}

/// The product token of a `User-Agent`, which robots.txt groups name: its leading letters,
/// `_` and `-` (RFC 9309 2.2.1), so `wisp-crawl` of `wisp-crawl/0.1.0`; `*` if there are none.
fn product_token(user_agent: &str) -> &str {
    // ASCII only, so its length ends `user_agent` on a character boundary.
    let end = robots_rules::product_token(user_agent.as_bytes()).len();
    if end == 0 { "*" } else { &user_agent[..end] }
}

/// A failed request in a few words: `connection refused`, not an `io::Error`'s
/// `Connection refused (os error 111)`.
fn words(e: &Error) -> String {
    let io = match e {
        Error::Io(io) => io,
        Error::Timeout { phase } => {
            return match phase {
                Phase::Connect => "timed out connecting",
                Phase::Idle => "timed out waiting for the server",
                Phase::Total => "timed out",
            }
            .to_string();
        }
        other => return other.to_string(),
    };
    let short = match io.kind() {
        ErrorKind::ConnectionRefused => "connection refused",
        ErrorKind::ConnectionReset => "connection reset",
        ErrorKind::ConnectionAborted => "connection aborted",
        ErrorKind::HostUnreachable => "host unreachable",
        ErrorKind::NetworkUnreachable => "network unreachable",
        ErrorKind::TimedOut => "timed out",
        _ => {
            let text = io.to_string();
            return match text.find(" (os error") {
                Some(end) => text[..end].to_string(),
                None => text,
            };
        }
    };
    short.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(path: &str) -> Url {
        Url::parse("http://h.test").unwrap().join(path).unwrap()
    }

    fn rules(body: &[u8]) -> Robots {
        Robots::parse(body, "wisp-crawl/0.1.0")
    }

    fn disallowed(robots: &Robots, path: &str) -> bool {
        robots.refusal(&url(path)) == Some(Refusal::Disallowed)
    }

    /// What a crawl state keeps of robots.txt refuses and allows what the parsed file does.
    #[test]
    fn rules_kept_as_bytes_read_back_the_same() {
        let parsed = rules(
            b"User-agent: *\nDisallow: /private/\nAllow: /private/ok$\nDisallow: /*.gif$\n\
              Disallow: /caf\xc3\xa9\n",
        );
        let back = Robots::from_bytes(&parsed.to_bytes()).expect("read back");
        for path in [
            "/",
            "/private/x",
            "/private/ok",
            "/private/okk",
            "/a.gif",
            "/a.gifs",
            "/café",
        ] {
            assert_eq!(disallowed(&back, path), disallowed(&parsed, path), "{path}");
        }
        assert!(disallowed(&back, "/private/x") && !disallowed(&back, "/private/ok"));
        assert!(disallowed(&back, "/café"));
        let unreachable = Robots::Unreachable("HTTP 503".into());
        let back = Robots::from_bytes(&unreachable.to_bytes()).unwrap();
        assert_eq!(
            back.refusal(&url("/")),
            Some(Refusal::Unreachable("HTTP 503"))
        );
        let back = Robots::from_bytes(&Robots::AllowAll.to_bytes()).unwrap();
        assert_eq!(back.refusal(&url("/private/x")), None);
        assert!(Robots::from_bytes(b"rules\nXbad\n").is_none());
        assert!(Robots::from_bytes(b"garbage").is_none());
    }

    // Refusals.

    #[test]
    fn allow_all_refuses_nothing() {
        assert_eq!(Robots::AllowAll.refusal(&url("/any")), None);
    }

    #[test]
    fn unreachable_refuses_every_url_with_its_reason() {
        let robots = Robots::Unreachable("HTTP 503".into());
        assert_eq!(
            robots.refusal(&url("/any")),
            Some(Refusal::Unreachable("HTTP 503"))
        );
        assert!(robots.refusal(&url("/")).is_some());
    }

    #[test]
    fn a_disallow_refusal_reads_as_the_disallowed_text() {
        assert_eq!(Refusal::Disallowed.to_string(), DISALLOWED);
    }

    #[test]
    fn an_unreachable_refusal_says_robots_txt_unreachable_and_why() {
        assert_eq!(
            Refusal::Unreachable("connection refused").to_string(),
            "robots.txt unreachable: connection refused"
        );
    }

    // Rules.

    #[test]
    fn a_disallowed_path_is_refused() {
        let robots = rules(b"User-agent: *\nDisallow: /private/\n");
        assert!(disallowed(&robots, "/private/x"));
    }

    #[test]
    fn a_path_no_rule_names_is_allowed() {
        let robots = rules(b"User-agent: *\nDisallow: /private/\n");
        assert_eq!(robots.refusal(&url("/page")), None);
    }

    #[test]
    fn a_rule_matches_the_query_too() {
        let robots = rules(b"User-agent: *\nDisallow: /*?sid=\n");
        assert!(disallowed(&robots, "/a?sid=1"));
    }

    #[test]
    fn the_fragment_is_no_part_of_the_match() {
        // `/a#x$` would not match `/a$` if the fragment were handed over.
        let robots = rules(b"User-agent: *\nDisallow: /a$\n");
        assert!(disallowed(&robots, "/a#x"));
    }

    #[test]
    fn the_group_naming_our_product_token_is_used_instead_of_star() {
        let robots =
            rules(b"User-agent: *\nDisallow: /\n\nUser-agent: wisp-crawl\nDisallow: /mine/\n");
        assert_eq!(robots.refusal(&url("/page")), None);
        assert!(disallowed(&robots, "/mine/x"));
    }

    #[test]
    fn product_token_stops_before_the_version() {
        assert_eq!(product_token("wisp-crawl/0.1.0"), "wisp-crawl");
    }

    #[test]
    fn product_token_stops_before_a_comment() {
        assert_eq!(product_token("my_bot (+https://x.test/bot)"), "my_bot");
    }

    #[test]
    fn product_token_of_an_agent_without_letters_is_star() {
        assert_eq!(product_token("/1.0"), "*");
    }

    #[test]
    fn a_last_line_without_a_line_end_counts() {
        let robots = rules(b"User-agent: *\nDisallow: /x");
        assert!(disallowed(&robots, "/x"));
    }

    #[test]
    fn a_byte_order_mark_is_skipped() {
        let robots = rules(b"\xef\xbb\xbfUser-agent: *\nDisallow: /x\n");
        assert!(disallowed(&robots, "/x"));
    }

    // Garbage.

    #[test]
    fn binary_garbage_allows_everything() {
        // 4 KiB of xorshift bytes: NULs, CRs, invalid UTF-8, no rule.
        let mut x = 0x9e37_79b9_7f4a_7c15_u64;
        let garbage: Vec<u8> = (0..4096)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        assert_eq!(rules(&garbage).refusal(&url("/x")), None);
    }

    #[test]
    fn garbage_lines_between_rules_hide_none_of_them() {
        let robots =
            rules(b"\x89PNG\r\n\x1a\nUser-agent: *\n\xff\xfe\x00junk\nDisallow: /x\n\xc3(\n");
        assert!(disallowed(&robots, "/x"));
    }

    #[test]
    fn a_rule_in_latin_1_matches_its_percent_encoded_path() {
        let robots = rules(b"User-agent: *\nDisallow: /caf\xe9\n");
        assert!(disallowed(&robots, "/caf%E9"));
    }

    #[test]
    fn a_rule_in_utf_8_matches_its_percent_encoded_path() {
        let robots = rules("User-agent: *\nDisallow: /café\n".as_bytes());
        assert!(disallowed(&robots, "/caf%C3%A9"));
    }

    #[test]
    fn a_long_dollar_pattern_is_matched_and_the_other_rules_still_apply() {
        // texting_robots, used before, compiled `$` patterns into a regex with a 42 KiB size
        // limit: this file failed whole there.
        let long: String = (0..1000)
            .map(|i| if i % 3 == 0 { "a*" } else { "b" })
            .collect();
        let text = format!("User-agent: *\nDisallow: /x\nDisallow: /{long}b$\n");
        let robots = rules(text.as_bytes());
        assert!(disallowed(&robots, "/x"));
        let path: String = (0..1000)
            .map(|i| if i % 3 == 0 { "aZ" } else { "b" })
            .collect();
        assert!(disallowed(&robots, &format!("/{path}b")));
        assert!(!disallowed(&robots, &format!("/{path}bc")));
    }

    // Cutting at the limit.

    #[test]
    fn whole_lines_drops_the_line_the_cut_went_through() {
        assert_eq!(
            whole_lines(b"Disallow: /a\nDisallow: /pri"),
            b"Disallow: /a\n"
        );
    }

    #[test]
    fn whole_lines_of_one_cut_line_is_empty() {
        assert_eq!(whole_lines(b"Disallow: /pri"), b"");
    }

    #[test]
    fn whole_lines_ends_at_a_lone_cr_too() {
        assert_eq!(whole_lines(b"Disallow: /a\rDis"), b"Disallow: /a\r");
    }

    // Redirects.

    #[test]
    fn a_relative_location_is_resolved_against_the_current_url() {
        let next = redirect_target(&url("/robots.txt"), Some("/other/robots.txt"));
        assert_eq!(next, Some(url("/other/robots.txt")));
    }

    #[test]
    fn a_location_may_switch_to_https_and_another_host() {
        let next = redirect_target(&url("/robots.txt"), Some("https://www.h.test/robots.txt"));
        assert_eq!(next.unwrap().as_str(), "https://www.h.test/robots.txt");
    }

    #[test]
    fn a_location_outside_http_is_not_followed() {
        assert_eq!(
            redirect_target(&url("/robots.txt"), Some("ftp://h.test/robots.txt")),
            None
        );
    }

    #[test]
    fn a_redirect_without_location_is_not_followed() {
        assert_eq!(redirect_target(&url("/robots.txt"), None), None);
    }

    // The engine's old entry point.

    // Words.

    #[test]
    fn a_refused_connection_is_two_words() {
        let e = Error::Io(std::io::Error::from(ErrorKind::ConnectionRefused));
        assert_eq!(words(&e), "connection refused");
    }

    #[test]
    fn an_os_error_number_is_dropped() {
        // EACCES: "Permission denied (os error 13)".
        let e = Error::Io(std::io::Error::from_raw_os_error(libc::EACCES));
        assert_eq!(words(&e), "Permission denied");
    }

    #[test]
    fn a_total_timeout_says_timed_out() {
        let e = Error::Timeout {
            phase: Phase::Total,
        };
        assert_eq!(words(&e), "timed out");
    }

    #[test]
    fn other_errors_keep_their_own_words() {
        let e = Error::Tls("TLS handshake with h.test failed: unknown issuer".into());
        assert_eq!(
            words(&e),
            "TLS handshake with h.test failed: unknown issuer"
        );
    }

    /// `fetch_robots` against tiny servers on 127.0.0.1.
    mod fetch {
        use std::cell::RefCell;
        use std::net::Shutdown;
        use std::rc::Rc;
        use std::time::Duration;

        use super::*;
        use crate::net::{TcpListener, TcpStream};

        /// A client as the engine will pass one: no redirects of its own. The timeouts only
        /// turn a hang into a failed test; nothing here waits on them.
        fn client() -> Client {
            Client::builder()
                .max_redirects(0)
                .connect_timeout(Duration::from_secs(10))
                .idle_timeout(Duration::from_secs(10))
                .total_timeout(Some(Duration::from_secs(20)))
                .build()
                .unwrap()
        }

        fn reply(status: &str, extra: &str, body: &[u8]) -> Vec<u8> {
            let mut out = format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n",
                body.len()
            )
            .into_bytes();
            out.extend_from_slice(body);
            out
        }

        fn redirect(to: &str) -> Vec<u8> {
            reply(
                "301 Moved Permanently",
                &format!("Location: {to}\r\n"),
                b"moved\n",
            )
        }

        /// A server on 127.0.0.1 answering each request (one per connection) with
        /// `answer(target)`; returns its port and the targets it was asked for.
        async fn serve(
            answer: impl Fn(&str) -> Vec<u8> + 'static,
        ) -> (u16, Rc<RefCell<Vec<String>>>) {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = listener.local_addr().unwrap().port();
            let hits = Rc::new(RefCell::new(Vec::new()));
            let (answer, seen) = (Rc::new(answer), hits.clone());
            crate::spawn(async move {
                while let Ok((stream, _)) = listener.accept().await {
                    let (answer, seen) = (answer.clone(), seen.clone());
                    crate::spawn(async move {
                        let Some(target) = read_target(&stream).await else {
                            return;
                        };
                        seen.borrow_mut().push(target.clone());
                        // Fails once the client stopped reading (a file over the limit).
                        let _ = stream.write_all(&answer(&target)).await;
                        let _ = stream.shutdown(Shutdown::Write);
                    })
                    .detach();
                }
            })
            .detach();
            (port, hits)
        }

        async fn read_target(stream: &TcpStream) -> Option<String> {
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = stream.read(&mut buf).await.ok()?;
                if n == 0 {
                    return None;
                }
                head.extend_from_slice(&buf[..n]);
            }
            let head = String::from_utf8_lossy(&head).into_owned();
            Some(head.split(' ').nth(1)?.to_string())
        }

        fn origin(port: u16) -> Url {
            Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap()
        }

        async fn fetch(port: u16) -> Robots {
            fetch_robots(&client(), &origin(port), "wisp-crawl/0.1.0", 0).await
        }

        fn refusal_of(robots: &Robots, port: u16, path: &str) -> Option<String> {
            robots
                .refusal(&origin(port).join(path).unwrap())
                .map(|r| r.to_string())
        }

        /// `/robots.txt` redirects `n` times (`/hop/1`, `/hop/2`, ...); the last hop serves
        /// `Disallow: /`.
        fn chain(n: usize) -> impl Fn(&str) -> Vec<u8> {
            move |target| {
                let hop = match target.strip_prefix("/hop/") {
                    Some(k) => k.parse::<usize>().unwrap(),
                    None => 0,
                };
                if hop < n {
                    redirect(&format!("/hop/{}", hop + 1))
                } else {
                    reply("200 OK", "", b"User-agent: *\nDisallow: /\n")
                }
            }
        }

        #[test]
        fn a_404_allows_everything() {
            crate::block_on(async {
                let (port, _) = serve(|_| reply("404 Not Found", "", b"nope\n")).await;
                let robots = fetch(port).await;
                assert_eq!(refusal_of(&robots, port, "/x"), None, "{robots:?}");
            });
        }

        #[test]
        fn a_500_is_unreachable_http_500() {
            crate::block_on(async {
                let (port, _) = serve(|_| reply("500 Internal Server Error", "", b"oops\n")).await;
                let robots = fetch(port).await;
                assert_eq!(
                    refusal_of(&robots, port, "/x").as_deref(),
                    Some("robots.txt unreachable: HTTP 500")
                );
            });
        }

        #[test]
        fn a_refused_port_is_unreachable_connection_refused() {
            crate::block_on(async {
                let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
                let port = listener.local_addr().unwrap().port();
                drop(listener);
                let robots = fetch(port).await;
                assert_eq!(
                    refusal_of(&robots, port, "/x").as_deref(),
                    Some("robots.txt unreachable: connection refused")
                );
            });
        }

        #[test]
        fn a_redirect_to_another_origin_gives_its_rules() {
            crate::block_on(async {
                let (rules_port, _) =
                    serve(|_| reply("200 OK", "", b"User-agent: *\nDisallow: /private/\n")).await;
                let to = format!("http://127.0.0.1:{rules_port}/robots.txt");
                let (port, _) = serve(move |_| redirect(&to)).await;
                let robots = fetch(port).await;
                assert_eq!(
                    refusal_of(&robots, port, "/private/a").as_deref(),
                    Some(DISALLOWED)
                );
                assert_eq!(refusal_of(&robots, port, "/public"), None);
            });
        }

        #[test]
        fn five_redirects_are_followed() {
            crate::block_on(async {
                let (port, _) = serve(chain(5)).await;
                let robots = fetch(port).await;
                assert_eq!(refusal_of(&robots, port, "/x").as_deref(), Some(DISALLOWED));
            });
        }

        #[test]
        fn a_sixth_redirect_allows_everything_without_being_followed() {
            crate::block_on(async {
                let (port, hits) = serve(chain(6)).await;
                let robots = fetch(port).await;
                assert_eq!(refusal_of(&robots, port, "/x"), None, "{robots:?}");
                // /robots.txt and /hop/1 to /hop/5; /hop/6 is never asked for.
                assert_eq!(hits.borrow().len(), 6, "{:?}", hits.borrow());
            });
        }

        #[test]
        fn a_600_kib_file_keeps_the_rules_at_its_start() {
            crate::block_on(async {
                let (port, _) = serve(|_| reply("200 OK", "", &big_file())).await;
                let robots = fetch(port).await;
                assert_eq!(
                    refusal_of(&robots, port, "/private/a").as_deref(),
                    Some(DISALLOWED)
                );
            });
        }

        #[test]
        fn rules_past_500_kib_are_ignored() {
            crate::block_on(async {
                let (port, _) = serve(|_| reply("200 OK", "", &big_file())).await;
                let robots = fetch(port).await;
                assert_eq!(refusal_of(&robots, port, "/late/a"), None, "{robots:?}");
            });
        }

        /// 600 KiB: `Disallow: /private/` first, comment lines, `Disallow: /late/` last.
        fn big_file() -> Vec<u8> {
            let mut file = b"User-agent: *\nDisallow: /private/\n".to_vec();
            while file.len() < 600 * 1024 {
                file.extend_from_slice(b"# padding padding padding padding padding padding\n");
            }
            file.extend_from_slice(b"Disallow: /late/\n");
            file
        }

        #[test]
        fn a_client_body_limit_under_500_kib_does_not_disallow_everything() {
            crate::block_on(async {
                let (port, _) =
                    serve(|_| reply("200 OK", "", b"User-agent: *\nDisallow: /x\n")).await;
                let client = Client::builder()
                    .max_redirects(0)
                    .max_body(0)
                    .build()
                    .unwrap();
                let robots = fetch_robots(&client, &origin(port), "wisp", 0).await;
                // Nothing of the file was let through, so nothing is refused.
                assert_eq!(refusal_of(&robots, port, "/y"), None, "{robots:?}");
            });
        }

        #[test]
        fn a_body_cut_short_is_unreachable() {
            crate::block_on(async {
                // Content-Length 1000, a few lines, then the connection closes.
                let (port, _) = serve(|_| {
                    b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nUser-agent: *\nAllow: /\n"
                        .to_vec()
                })
                .await;
                let robots = fetch(port).await;
                let refusal = refusal_of(&robots, port, "/x").unwrap_or_default();
                assert!(refusal.starts_with("robots.txt unreachable: "), "{refusal}");
            });
        }

        #[test]
        fn binary_garbage_allows_everything() {
            crate::block_on(async {
                let garbage: Vec<u8> = (0..=255u8).cycle().take(8192).collect();
                let (port, _) = serve(move |_| reply("200 OK", "", &garbage)).await;
                let robots = fetch(port).await;
                assert_eq!(refusal_of(&robots, port, "/x"), None, "{robots:?}");
            });
        }

        #[test]
        fn garbage_lines_mixed_with_disallow_x_still_disallow_x() {
            crate::block_on(async {
                let body = b"\x00\x01\x02\xff\xfe\n<html>\nUser-agent: *\n\xc3\x28\x89PNG\r\n\
                             Disallow: /x\n\x1b[31m garbage\n";
                let (port, _) = serve(|_| reply("200 OK", "", body)).await;
                let robots = fetch(port).await;
                assert_eq!(refusal_of(&robots, port, "/x").as_deref(), Some(DISALLOWED));
                assert_eq!(refusal_of(&robots, port, "/y"), None);
            });
        }
    }
}
