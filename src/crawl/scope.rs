//! Which hosts links and redirects may lead to.

use std::collections::HashSet;

use url::Url;

/// The seeds' hosts and `allow_hosts`, or any host with `same_host` off. Complete before the
/// crawl starts, read-only after.
pub(crate) struct Scope {
    pub hosts: HashSet<String>,
    pub any: bool,
}

impl Scope {
    pub fn allows(&self, url: &Url) -> bool {
        self.any || url.host_str().is_some_and(|h| self.hosts.contains(h))
    }
}
