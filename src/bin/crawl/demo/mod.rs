//! The demo web site: a generated, deterministic site served from inside the process, so the
//! crawler can be shown (and tested, and benchmarked) without a network.
//!
//! This is support code of the `crawl` program, not part of the library: the program crawls the
//! site when given no URL, and the crawler's tests and bench include this folder with
//! `#[path = "../src/bin/crawl/demo/mod.rs"] mod demo;`. It uses only wisp's public API.
//!
//! - [`Site::generate`] builds every response up front ([`pages`] says what is on the site and
//!   writes it, [`png`] writes its images), or for a site of more than 100 000 pages only the
//!   few fixed ones: its pages are rendered on request (each is a function of its number), so
//!   a site of a million pages takes no memory to speak of.
//! - [`Site::serve`] answers them from a task on the current wisp executor, with keep-alive and
//!   pipelining ([`server`]), so serving a page is a hash lookup and a copy into the
//!   connection's output buffer.
//! - [`Site::expected_by_depth`] is what a correct breadth-first crawl finds, depth by depth.

mod pages;
mod png;
mod server;

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::io;
use std::sync::Arc;

/// What to generate. The same config always gives the same site.
#[derive(Clone, Debug)]
pub struct SiteConfig {
    /// Number of `/page/N.html` pages (default 3000).
    pub pages: usize,
    /// Links from each page to other pages (default 8; at least 1 is always written).
    pub links_per_page: usize,
    /// Approximate body size of a page in bytes (default 1024); filler text pads up to it.
    pub page_bytes: usize,
    /// Whether some pages link images (default true).
    pub images: bool,
    /// Seed of the PRNG that picks links and filler.
    pub seed: u64,
    /// Absolute URLs written on pages spread evenly over the site (page `i * pages / len`
    /// links the `i`-th), e.g. to a server that never answers. They lead off the site, so they
    /// are in no expected set (default none).
    pub off_site_links: Vec<String>,
}

impl Default for SiteConfig {
    fn default() -> Self {
        SiteConfig {
            pages: 3000,
            links_per_page: 8,
            page_bytes: 1024,
            images: true,
            seed: 0x5eed,
            off_site_links: Vec::new(),
        }
    }
}

/// One response: built (up front or on request) by [`pages`], written out by [`server`].
#[derive(Clone)]
struct Resource {
    /// Status line and headers, each ending in CRLF, without the blank line.
    head: Box<[u8]>,
    body: Box<[u8]>,
    /// Links a crawler should find in the body: resolved paths (with query, without fragment).
    links: Vec<String>,
    /// For a redirect: the path the client ends up at.
    follow: Option<Box<str>>,
}

/// The generated site: the same config always gives the same pages and links.
pub struct Site {
    config: SiteConfig,
    /// Every response with a path of its own, when built up front (empty when rendered on
    /// request).
    resources: Vec<Resource>,
    /// Path (without query) to its index in `resources`.
    by_path: HashMap<Box<str>, usize>,
    /// The answer to any other path.
    not_found: Resource,
    /// The server's answers to requests it refuses (they close the connection, but 405).
    bad_request: Resource,
    method_not_allowed: Resource,
    head_too_large: Resource,
}

impl std::fmt::Debug for Site {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Site")
            .field("config", &self.config)
            .field("resources", &self.resources.len())
            .finish_non_exhaustive()
    }
}

impl Site {
    /// Builds every page and response of the site described by `config` (see [`pages`]).
    pub fn generate(config: SiteConfig) -> Site {
        pages::generate(config)
    }

    /// Serves the site on 127.0.0.1:0 from a task spawned on the current wisp executor (so call
    /// it inside `wisp::block_on`); returns the root URL, e.g. `"http://127.0.0.1:PORT/"`. The
    /// server task runs until the executor ends. A site can be served any number of times.
    pub async fn serve(self: Arc<Self>) -> io::Result<String> {
        server::serve(self).await
    }

    /// The URLs (path and query, no fragment) a crawler reaches from `/` by following links,
    /// grouped by BFS depth: `[0]` is `{"/"}`, `[d]` holds what is first linked at depth `d`.
    /// Stops after `max_depth` or at the first empty level (so it may be shorter).
    ///
    /// - A redirect `/r/N` is listed where it is linked; the client follows it within one fetch,
    ///   so page `N`'s links count from the redirect's depth + 1. Its target `/page/N.html` is
    ///   also linked directly by every page that links `/r/N`, so it is listed at the same depth
    ///   or earlier, and fetching either yields the same links at the same depth (a crawler that
    ///   dedupes by final URL loses nothing).
    /// - Broken links (`/missing/N`, 404) and images are listed where first linked.
    /// - `/robots.txt` is not listed (a crawler fetches it, but nothing links it).
    /// - Nothing under `/private/` is listed (see
    ///   [`expected_by_depth_ignoring_robots`](Site::expected_by_depth_ignoring_robots)).
    pub fn expected_by_depth(&self, max_depth: usize) -> Vec<BTreeSet<String>> {
        self.bfs(max_depth, true)
    }

    /// [`expected_by_depth`](Site::expected_by_depth) for a crawler that ignores robots.txt:
    /// `/private/` pages and what they link are included.
    pub fn expected_by_depth_ignoring_robots(&self, max_depth: usize) -> Vec<BTreeSet<String>> {
        self.bfs(max_depth, false)
    }

    fn bfs(&self, max_depth: usize, robots: bool) -> Vec<BTreeSet<String>> {
        let mut seen: HashSet<String> = HashSet::from(["/".to_string()]);
        let mut levels = vec![BTreeSet::from(["/".to_string()])];
        for _ in 0..max_depth {
            let mut next = BTreeSet::new();
            for url in levels.last().expect("one level at least") {
                for link in self.links(url) {
                    if robots && link.starts_with("/private/") {
                        continue;
                    }
                    if seen.insert(link.clone()) {
                        next.insert(link);
                    }
                }
            }
            if next.is_empty() {
                break;
            }
            levels.push(next);
        }
        levels
    }

    /// The links found by fetching `url` (redirects followed).
    fn links(&self, url: &str) -> Vec<String> {
        match self.lookup(url) {
            Some(r) => match &r.follow {
                Some(path) => self.lookup(path).map_or_else(Vec::new, |t| t.links.clone()),
                None => r.links.clone(),
            },
            None => Vec::new(),
        }
    }

    /// The resource a request target names; a query is ignored.
    fn lookup(&self, target: &str) -> Option<Cow<'_, Resource>> {
        let path = target.split_once('?').map_or(target, |(p, _)| p);
        if self.resources.is_empty() {
            return pages::render(&self.config, path).map(Cow::Owned);
        }
        self.by_path
            .get(path)
            .map(|&i| Cow::Borrowed(&self.resources[i]))
    }

    /// The exact body a GET of `path` is answered with (a query is ignored, as the server does);
    /// the 404 page for an unknown path; `None` if `path` does not start with `/`. For a
    /// redirect it is the 301's own short body.
    pub fn body(&self, path: &str) -> Option<Cow<'_, [u8]>> {
        if !path.starts_with('/') {
            return None;
        }
        Some(match self.lookup(path) {
            Some(Cow::Borrowed(r)) => Cow::Borrowed(&r.body[..]),
            Some(Cow::Owned(r)) => Cow::Owned(r.body.into_vec()),
            None => Cow::Borrowed(&self.not_found.body[..]),
        })
    }
}
