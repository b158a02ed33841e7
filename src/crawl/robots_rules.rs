//! The rules of one robots.txt for one crawler, and matching a URL's path against them
//! (RFC 9309 sections 2.1 to 2.2.3).
//!
//! Reading a file:
//! - Lines end at LF, CR or NUL; `#` starts a comment; a line is `key: value` (or `key value`),
//!   the key in any case. Lines that are not `user-agent`, `allow` or `disallow` (with the
//!   misspellings seen in the wild: `useragent`, `disalow`, ...) are skipped, so garbage hides no
//!   rule.
//! - A group is one or more `user-agent` lines and the rules after them. Ours are the groups
//!   whose agent's product token is ours (any case); if none is, the `*` groups; if no group is
//!   either, everything is allowed. Groups that apply are merged (2.2.1). A file with rules and no
//!   `user-agent` line at all is read as one `*` group.
//! - A pattern is compared octet by octet with the URL's path and query as the `url` crate writes
//!   them, so octets outside ASCII (and spaces, `"`, `<`, `>`) are percent-encoded first and
//!   existing escapes written in upper case (2.2.2); `*` matches any run of octets and a final `$`
//!   the end (2.2.3). An empty `Disallow:` is no rule.
//!
//! Matching: the longest matching pattern wins, `Allow` on a tie (2.2.2); none matching allows.
//! `/robots.txt` itself is always allowed (2.2.2). Rules are kept longest first, so a check
//! stops at its first match; a pattern is split at its stars and each piece found in turn, which
//! takes at most the path's length times the pattern's for one rule, without backtracking.

/// The rules of the groups that apply to one product token.
#[derive(Debug, Default)]
pub(crate) struct Rules {
    /// Longest pattern first; at equal length, `Allow` first.
    rules: Vec<Rule>,
}

#[derive(Debug)]
struct Rule {
    /// Normalized: percent-encoded as a URL path is, runs of `*` collapsed.
    pattern: Box<[u8]>,
    allow: bool,
}

/// What a line of robots.txt says, of what we read.
enum Line<'a> {
    UserAgent(&'a [u8]),
    Rule { allow: bool, pattern: &'a [u8] },
    Other,
}

impl Rules {
    /// The rules as bytes a store keeps: a line per rule, `A` or `D` then the (normalized)
    /// pattern, which holds no line end.
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for rule in &self.rules {
            out.push(if rule.allow { b'A' } else { b'D' });
            out.extend_from_slice(&rule.pattern);
            out.push(b'\n');
        }
        out
    }

    /// Rules a store gave back ([`Rules::to_bytes`]); `None` if they are not such bytes.
    pub(crate) fn from_bytes(bytes: &[u8]) -> Option<Rules> {
        let mut rules = Vec::new();
        for line in bytes.split(|&b| b == b'\n') {
            let Some((&kind, pattern)) = line.split_first() else {
                continue;
            };
            let allow = match kind {
                b'A' => true,
                b'D' => false,
                _ => return None,
            };
            rules.push(Rule {
                pattern: pattern.into(),
                allow,
            });
        }
        Some(Rules { rules })
    }

    /// The rules `body` sets for the crawler whose product token is `token` (`wisp-crawl`).
    pub(crate) fn parse(body: &[u8], token: &str) -> Rules {
        let mut ours = Vec::new();
        let mut stars = Vec::new();
        let mut ungrouped = Vec::new();
        let (mut named_us, mut named_star, mut any_agent) = (false, false, false);
        // The group being read: whether its agents name us, or `*`; `in_agents` while its
        // `user-agent` lines are still coming (a rule ends them, the next agent starts a group).
        let (mut for_us, mut for_star, mut in_agents) = (false, false, false);
        for line in body.split(|&b| matches!(b, b'\n' | b'\r' | 0)) {
            match parse_line(line) {
                Line::UserAgent(agent) => {
                    if !in_agents {
                        (for_us, for_star, in_agents) = (false, false, true);
                    }
                    any_agent = true;
                    if agent == b"*" {
                        for_star = true;
                        named_star = true;
                    } else if product_token(agent).eq_ignore_ascii_case(token.as_bytes()) {
                        for_us = true;
                        named_us = true;
                    }
                }
                Line::Rule { allow, pattern } => {
                    in_agents = false;
                    // An empty pattern matches nothing (RFC 9309 2.2.2).
                    if pattern.is_empty() {
                        continue;
                    }
                    let rule = || Rule {
                        pattern: normalize(pattern),
                        allow,
                    };
                    if !any_agent {
                        ungrouped.push(rule());
                    }
                    if for_us {
                        ours.push(rule());
                    }
                    if for_star {
                        stars.push(rule());
                    }
                }
                Line::Other => {}
            }
        }
        let mut rules = if named_us {
            ours
        } else if named_star {
            stars
        } else if !any_agent {
            ungrouped
        } else {
            Vec::new()
        };
        rules.sort_by(|a, b| {
            b.pattern
                .len()
                .cmp(&a.pattern.len())
                .then(b.allow.cmp(&a.allow))
        });
        Rules { rules }
    }

    /// Whether a URL whose path and query are `path` (`/a/b?c`, percent-encoded as the `url`
    /// crate writes it) may be fetched.
    pub(crate) fn allows(&self, path: &str) -> bool {
        if path == "/robots.txt" {
            return true;
        }
        self.rules
            .iter()
            .find(|rule| matches(&rule.pattern, path.as_bytes()))
            .is_none_or(|rule| rule.allow)
    }

    /// How many rules apply (after merging groups).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.rules.len()
    }
}

/// One line, without its comment.
fn parse_line(line: &[u8]) -> Line<'_> {
    let line = match line.iter().position(|&b| b == b'#') {
        Some(hash) => &line[..hash],
        None => line,
    };
    let line = line.trim_ascii();
    let key_end = line
        .iter()
        .position(|&b| b == b':' || b.is_ascii_whitespace())
        .unwrap_or(line.len());
    let (key, rest) = line.split_at(key_end);
    let rest = rest.trim_ascii_start();
    let value = rest.strip_prefix(b":").unwrap_or(rest).trim_ascii();
    // `key value` without a colon counts only if there is a value; `key:` may be empty.
    if key_end == line.len() {
        return Line::Other;
    }
    let key = key.to_ascii_lowercase();
    match key.as_slice() {
        b"user-agent" | b"useragent" => Line::UserAgent(value),
        // `user agent`: the key's second word went into `value`.
        b"user" => match value
            .strip_prefix(b"agent")
            .map(<[u8]>::trim_ascii_start)
            .and_then(|v| v.strip_prefix(b":"))
        {
            Some(agent) => Line::UserAgent(agent.trim_ascii()),
            None => Line::Other,
        },
        b"allow" => Line::Rule {
            allow: true,
            pattern: value,
        },
        b"disallow" | b"dissallow" | b"dissalow" | b"disalow" | b"diasllow" | b"disallaw" => {
            Line::Rule {
                allow: false,
                pattern: value,
            }
        }
        _ => Line::Other,
    }
}

/// The product token of an agent: its leading letters, `_` and `-` (RFC 9309 2.2.1), so
/// `Googlebot` of `Googlebot/2.1`.
pub(crate) fn product_token(agent: &[u8]) -> &[u8] {
    let end = agent
        .iter()
        .position(|&b| !(b.is_ascii_alphabetic() || b == b'_' || b == b'-'))
        .unwrap_or(agent.len());
    &agent[..end]
}

/// A pattern as a URL path writes it: octets outside ASCII, controls, spaces, `"`, `<` and `>`
/// percent-encoded, hex digits of escapes in upper case, runs of `*` as one.
fn normalize(pattern: &[u8]) -> Box<[u8]> {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = Vec::with_capacity(pattern.len());
    let mut i = 0;
    while i < pattern.len() {
        let b = pattern[i];
        match b {
            b'*' if out.last() == Some(&b'*') => {}
            b'%' if pattern
                .get(i + 1..i + 3)
                .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) =>
            {
                out.push(b'%');
                out.push(pattern[i + 1].to_ascii_uppercase());
                out.push(pattern[i + 2].to_ascii_uppercase());
                i += 2;
            }
            b if b > b' ' && b < 0x7f && !matches!(b, b'"' | b'<' | b'>') => out.push(b),
            b => out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]),
        }
        i += 1;
    }
    out.into_boxed_slice()
}

/// Whether `pattern` (normalized) matches the start of `path`, `*` standing for any run of
/// octets and a final `$` for the end of `path`.
///
/// The pieces between stars are found left to right, each at its first place after the last:
/// if any placing matches, that one does, since each piece then leaves the most room to the rest.
fn matches(pattern: &[u8], path: &[u8]) -> bool {
    let (pattern, anchored) = match pattern.strip_suffix(b"$") {
        Some(rest) => (rest, true),
        None => (pattern, false),
    };
    let mut pieces = pattern.split(|&b| b == b'*');
    // `split` always yields a first piece: the literal start.
    let first = pieces.next().unwrap_or_default();
    if !path.starts_with(first) {
        return false;
    }
    let mut at = first.len();
    let mut pieces = pieces.peekable();
    if pieces.peek().is_none() {
        return !anchored || at == path.len();
    }
    while let Some(piece) = pieces.next() {
        let rest = &path[at..];
        if pieces.peek().is_none() && anchored {
            return rest.len() >= piece.len() && rest.ends_with(piece);
        }
        match find(rest, piece) {
            Some(start) => at += start + piece.len(),
            None => return false,
        }
    }
    true
}

/// Where `needle` first occurs in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allows(body: &str, path: &str) -> bool {
        Rules::parse(body.as_bytes(), "wisp-crawl").allows(path)
    }

    #[test]
    fn a_prefix_rule_matches_paths_that_start_with_it() {
        let body = "User-agent: *\nDisallow: /private\n";
        assert!(!allows(body, "/private"));
        assert!(!allows(body, "/private/x"));
        assert!(!allows(body, "/privateer"));
        assert!(allows(body, "/public"));
        assert!(allows(body, "/"));
    }

    #[test]
    fn the_longest_match_wins_and_allow_wins_a_tie() {
        let body = "User-agent: *\nDisallow: /a\nAllow: /a/b\nDisallow: /a/b/c\n";
        assert!(!allows(body, "/a/x"));
        assert!(allows(body, "/a/b/x"));
        assert!(!allows(body, "/a/b/c/x"));
        let tie = "User-agent: *\nDisallow: /same\nAllow: /same\n";
        assert!(allows(tie, "/same/page"));
        // Order in the file does not matter.
        let tie = "User-agent: *\nAllow: /same\nDisallow: /same\n";
        assert!(allows(tie, "/same/page"));
    }

    #[test]
    fn a_star_matches_any_run_and_a_final_dollar_the_end() {
        let body = "User-agent: *\nDisallow: /*.pdf$\nDisallow: /a*b*c\n";
        assert!(!allows(body, "/docs/x.pdf"));
        assert!(allows(body, "/docs/x.pdf?download=1"));
        assert!(allows(body, "/docs/x.pdfx"));
        assert!(!allows(body, "/a-b-c"));
        assert!(!allows(body, "/abc/more"));
        assert!(!allows(body, "/aXXbYYcZZ"));
        assert!(allows(body, "/acb"));
        // The pattern is matched from the path's start: `/a` must start it.
        assert!(allows(body, "/x/a-b-c"));
    }

    #[test]
    fn a_dollar_pattern_needs_its_last_piece_at_the_very_end() {
        let body = "User-agent: *\nDisallow: /*ab$\n";
        assert!(!allows(body, "/xab"));
        assert!(!allows(body, "/abab"));
        assert!(allows(body, "/aba"));
        assert!(!allows("User-agent: *\nDisallow: /$\n", "/"));
        assert!(allows("User-agent: *\nDisallow: /$\n", "/x"));
        // A `$` elsewhere is a plain octet.
        assert!(!allows("User-agent: *\nDisallow: /a$b\n", "/a$b"));
    }

    #[test]
    fn stars_next_to_each_other_are_one_and_a_long_pattern_is_quick() {
        let stars = "*".repeat(10_000);
        let body = format!("User-agent: *\nDisallow: /{stars}x{stars}y$\n");
        let rules = Rules::parse(body.as_bytes(), "wisp-crawl");
        assert_eq!(&*rules.rules[0].pattern, b"/*x*y$");
        assert!(!rules.allows("/aaaxbbby"));
        assert!(rules.allows(&format!("/{}", "x".repeat(5_000))));
    }

    #[test]
    fn our_group_replaces_star_and_groups_naming_us_merge() {
        let body = "User-agent: *\nDisallow: /\n\n\
                    User-agent: WISP-crawl/2.0\nDisallow: /mine/\n\n\
                    User-agent: other\nDisallow: /theirs/\n\n\
                    User-agent: wisp-crawl\nDisallow: /also/\n";
        assert!(allows(body, "/page"));
        assert!(!allows(body, "/mine/x"));
        assert!(!allows(body, "/also/x"));
        assert!(allows(body, "/theirs/x"));
    }

    #[test]
    fn agents_listed_together_share_the_rules_after_them() {
        let body = "User-agent: other\nUser-agent: wisp-crawl\nDisallow: /shared/\n\
                    User-agent: third\nDisallow: /third/\n";
        assert!(!allows(body, "/shared/x"));
        assert!(allows(body, "/third/x"));
    }

    #[test]
    fn a_group_for_another_agent_only_allows_everything() {
        assert!(allows("User-agent: other\nDisallow: /\n", "/x"));
    }

    #[test]
    fn a_group_naming_us_without_rules_allows_everything() {
        let body = "User-agent: *\nDisallow: /\n\nUser-agent: wisp-crawl\n";
        assert!(allows(body, "/x"));
        // A blank line ends no group: `wisp-crawl` and `*` share the rule after them here.
        let body = "User-agent: wisp-crawl\n\nUser-agent: *\nDisallow: /\n";
        assert!(!allows(body, "/x"));
    }

    #[test]
    fn rules_without_any_user_agent_line_apply_to_everyone() {
        assert!(!allows("Disallow: /x\n", "/x/y"));
        // ... but not when the file has groups: such lines belong to no group.
        assert!(allows(
            "Disallow: /x\nUser-agent: *\nDisallow: /z\n",
            "/x/y"
        ));
    }

    #[test]
    fn keys_in_any_case_without_colon_and_misspelled() {
        let body = "USER-AGENT: *\nDISALLOW: /a\ndisallow /b\nDisalow: /c\nuser agent: x\n";
        assert!(!allows(body, "/a"));
        assert!(!allows(body, "/b"));
        assert!(!allows(body, "/c"));
        let spaced = "User agent: wisp-crawl\nDisallow: /d\n";
        assert!(!allows(spaced, "/d"));
    }

    #[test]
    fn comments_and_blank_values_are_dropped() {
        let body = "User-agent: * # everyone\nDisallow: /a # not /b\nDisallow:\nDisallow: # none\n";
        let rules = Rules::parse(body.as_bytes(), "wisp-crawl");
        assert_eq!(rules.len(), 1);
        assert!(!rules.allows("/a"));
        assert!(rules.allows("/b"));
    }

    #[test]
    fn lines_end_at_cr_lf_or_nul() {
        let body = "User-agent: *\rDisallow: /a\0Disallow: /b\r\nDisallow: /c";
        assert!(!allows(body, "/a"));
        assert!(!allows(body, "/b"));
        assert!(!allows(body, "/c"));
    }

    #[test]
    fn robots_txt_itself_is_always_allowed() {
        assert!(allows("User-agent: *\nDisallow: /\n", "/robots.txt"));
        assert!(!allows("User-agent: *\nDisallow: /\n", "/robots.txt?x"));
    }

    #[test]
    fn patterns_are_percent_encoded_as_paths_are() {
        let rules = Rules::parse(
            "User-agent: *\nDisallow: /caf\u{e9}\nDisallow: /a b\nDisallow: /%7emine\n".as_bytes(),
            "wisp-crawl",
        );
        assert!(!rules.allows("/caf%C3%A9"));
        assert!(!rules.allows("/a%20b"));
        assert!(!rules.allows("/%7Emine"));
        assert!(rules.allows("/cafe"));
    }

    #[test]
    fn the_product_token_stops_at_the_first_other_character() {
        assert_eq!(product_token(b"Googlebot/2.1"), b"Googlebot");
        assert_eq!(product_token(b"wisp-crawl"), b"wisp-crawl");
        assert_eq!(product_token(b"/x"), b"");
    }

    #[test]
    fn a_piece_is_found_again_after_a_false_start() {
        assert!(matches(b"/*aab", b"/aaab"));
        assert!(matches(b"/*a*b", b"/xaxxb"));
        assert!(!matches(b"/*a*b", b"/xbxxa"));
        assert!(matches(b"/*", b"/"));
        assert!(matches(b"*", b"/anything"));
        assert!(matches(b"/x*$", b"/x"));
        assert!(!matches(b"/xy$", b"/x"));
    }
}
