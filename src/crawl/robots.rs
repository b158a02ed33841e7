//! What a host's robots.txt allows, as RFC 9309 reads it.
//!
//! One fetch per host, before any other URL of that host is requested. A 4xx (no robots.txt)
//! allows everything; a 5xx or a network failure means the file is unreachable, which RFC 9309
//! says to treat as "disallow everything" (section 2.3.1.4); a 2xx is parsed by
//! `texting_robots` for our user agent (`*` rules apply if none name it). Only the first
//! 500 KiB are parsed, the limit the RFC allows (section 2.5).

use url::Url;

/// The most of a robots.txt that is read and parsed.
pub(crate) const MAX_ROBOTS_BYTES: u64 = 500 * 1024;

pub(crate) enum Robots {
    AllowAll,
    DisallowAll,
    Rules(Box<texting_robots::Robot>),
}

impl Robots {
    /// The rules for a fetch of `/robots.txt` that ended with `status` (`None`: it failed).
    pub(crate) fn from_fetch(status: Option<u16>, body: &[u8], user_agent: &str) -> Robots {
        match status {
            Some(200..=299) => match texting_robots::Robot::new(user_agent, body) {
                Ok(robot) => Robots::Rules(Box::new(robot)),
                // An unparsable file says nothing we can follow; RFC 9309 2.3.1.4 treats a
                // file it cannot use like a missing one.
                Err(_) => Robots::AllowAll,
            },
            Some(400..=499) => Robots::AllowAll,
            _ => Robots::DisallowAll,
        }
    }

    pub(crate) fn allowed(&self, url: &Url) -> bool {
        match self {
            Robots::AllowAll => true,
            Robots::DisallowAll => false,
            Robots::Rules(robot) => robot.allowed(url.as_str()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_missing_and_unreachable() {
        let url = Url::parse("http://h/private/x").unwrap();
        let open = Url::parse("http://h/page").unwrap();
        let rules = Robots::from_fetch(Some(200), b"User-agent: *\nDisallow: /private/\n", "wisp");
        assert!(!rules.allowed(&url));
        assert!(rules.allowed(&open));
        assert!(Robots::from_fetch(Some(404), b"", "wisp").allowed(&url));
        assert!(!Robots::from_fetch(Some(503), b"", "wisp").allowed(&open));
        assert!(!Robots::from_fetch(None, b"", "wisp").allowed(&open));
    }
}
