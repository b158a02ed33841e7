//! What a crawl can be told ([`Config`]) and where its output goes ([`Hooks`]).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use url::Url;

use super::record::Record;

/// Everything a crawl can be told; `Default` is what `crawl` with no options does.
#[derive(Clone, Debug)]
pub struct Config {
    /// Links are followed this many hops from a seed (seeds are depth 0).
    pub max_depth: u32,
    /// Fetch at most this many URLs (robots.txt refusals, which are recorded without a fetch,
    /// and later hops of a redirect do not count).
    pub max_pages: Option<u64>,
    /// The most URLs the crawl keeps in memory: queued, fetched and seen (each costs its key,
    /// and its URL while it waits). New links found past it are counted
    /// ([`Summary::dropped`](super::Summary::dropped)) and dropped, so a site with an endless
    /// URL space (a calendar, session ids in links) cannot exhaust the memory.
    pub max_frontier: u64,
    /// Follow links only to the seeds' hosts (and `allow_hosts`).
    pub same_host: bool,
    pub allow_hosts: Vec<String>,
    /// Fetches at once, in all.
    pub concurrency: usize,
    /// Fetches at once per host.
    pub per_host: usize,
    /// Pause between the starts of two fetches from one host.
    pub delay: Duration,
    /// Total time for one request: each redirect hop is a request of its own (the engine
    /// schedules it like a link), and so is each retry, so a URL's chain may take longer in
    /// all. Then the limits on its connect and on a silence of the server.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub idle_timeout: Duration,
    /// Largest body accepted; a larger one is an error record.
    pub max_body: u64,
    /// Retries of transient failures (connect errors, 429, 503), with backoff.
    pub retries: u32,
    pub user_agent: String,
    /// Save bodies under this directory (see [`path_for`](super::save::path_for)); only 2xx
    /// bodies unless `save_errors`.
    pub out_dir: Option<PathBuf>,
    /// Also save the bodies of non-2xx responses (`--save-errors`).
    pub save_errors: bool,
    pub respect_robots: bool,
    /// `(i, n)`: crawl only hosts whose [`shard_of`](super::shard::shard_of) is `i`.
    pub shard: Option<(u32, u32)>,
    /// After a stop request, how long in-flight fetches may still finish.
    pub grace: Duration,
    /// PEM CA certificates trusted besides the built-in roots (`--ca-file`).
    pub ca_pem: Vec<Vec<u8>>,
    /// Accept any server certificate (`--insecure`).
    pub insecure: bool,
    /// Links (and redirect targets of links) are queued only if they match one of these, when
    /// there are any (`--accept-regex`). Seeds, and the redirects they lead to, are not checked.
    pub accept_urls: Vec<UrlPattern>,
    /// Links (and redirect targets of links) matching any of these are not queued
    /// (`--reject-regex`); a URL matching both lists is rejected.
    pub reject_urls: Vec<UrlPattern>,
    /// Bodies are read only if their media type matches one of these, when there are any
    /// (`--accept-type`); see [`type_matches`] for the forms. Checked on the head of every
    /// response that is not a redirect being followed, before its body is read.
    pub accept_types: Vec<String>,
    /// Bodies of these media types are not read (`--reject-type`).
    pub reject_types: Vec<String>,
    /// Headers sent with every page request to the seeds' origins (scheme, host and port),
    /// and to no other (`--header`); not with robots.txt requests.
    pub headers: Vec<(String, String)>,
    /// Before the crawl, read the sitemaps of the seeds' origins (`Sitemap:` lines of
    /// robots.txt, and `/sitemap.xml`; indexes and gzipped files too) and queue their URLs as
    /// more seeds, at depth 0 (`--sitemap`). Unlike seeds they must be in scope and pass
    /// `accept_urls` and `reject_urls`.
    pub sitemaps: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_depth: 5,
            max_pages: None,
            max_frontier: 1_000_000,
            same_host: true,
            allow_hosts: Vec::new(),
            concurrency: 64,
            per_host: 8,
            delay: Duration::ZERO,
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(10),
            max_body: 10 * 1024 * 1024,
            retries: 2,
            user_agent: concat!("wisp-crawl/", env!("CARGO_PKG_VERSION")).to_string(),
            out_dir: None,
            save_errors: false,
            respect_robots: true,
            shard: None,
            grace: Duration::from_secs(3),
            ca_pem: Vec::new(),
            insecure: false,
            accept_urls: Vec::new(),
            reject_urls: Vec::new(),
            accept_types: Vec::new(),
            reject_types: Vec::new(),
            headers: Vec::new(),
            sitemaps: false,
        }
    }
}

impl Config {
    /// Whether a link to `url` (normalized) passes `accept_urls` and `reject_urls`.
    pub(crate) fn wants_url(&self, url: &str) -> bool {
        (self.accept_urls.is_empty() || self.accept_urls.iter().any(|p| p.matches(url)))
            && !self.reject_urls.iter().any(|p| p.matches(url))
    }

    /// Why a response of `content_type` is not read (`accept_types`, `reject_types`), or
    /// `None` if it is. A response without the header is `application/octet-stream` (RFC 9110
    /// 8.3). The message starts with [`FILTERED`].
    pub(crate) fn type_refusal(&self, content_type: Option<&str>) -> Option<String> {
        if self.accept_types.is_empty() && self.reject_types.is_empty() {
            return None;
        }
        let essence = content_type
            .and_then(|t| t.split(';').next())
            .map(|t| t.trim().to_ascii_lowercase())
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| "application/octet-stream".into());
        if let Some(p) = self.reject_types.iter().find(|p| type_matches(p, &essence)) {
            return Some(format!("{FILTERED}{essence} rejected by --reject-type {p}"));
        }
        if !self.accept_types.is_empty()
            && !self.accept_types.iter().any(|p| type_matches(p, &essence))
        {
            return Some(format!("{FILTERED}{essence} not accepted by --accept-type"));
        }
        None
    }
}

/// How the `error` of a record whose body was not read because of its media type begins
/// (`accept_types`, `reject_types`). Such a record is counted in
/// [`Summary::filtered`](super::Summary::filtered), not as an error.
pub const FILTERED: &str = "filtered: ";

/// Whether the media type `essence` (lowercase, no parameters) matches `pattern`: the same
/// type (`text/html`, any case), or a prefix ending in `/` (`image/`; `image/*` means the
/// same).
pub fn type_matches(pattern: &str, essence: &str) -> bool {
    let pattern = pattern.trim();
    let pattern = pattern.strip_suffix('*').unwrap_or(pattern);
    if pattern.ends_with('/') {
        essence
            .get(..pattern.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(pattern))
    } else {
        essence.eq_ignore_ascii_case(pattern)
    }
}

/// A regular expression matched against a link's normalized URL (`--accept-regex`,
/// `--reject-regex`): the `regex` crate's syntax as `regex-lite` reads it (classes such as `\w`
/// and `\d` are ASCII only, no `\p{..}`), unanchored (it may match anywhere in the URL, so anchor
/// it with `^` and `$` to match the whole). Matching takes time proportional to the URL's length
/// times the pattern's, whatever the pattern: no backtracking blow-up.
#[derive(Clone, Debug)]
pub struct UrlPattern(regex_lite::Regex);

impl UrlPattern {
    /// The pattern, or why it is not one (a syntax error, or too large once compiled).
    pub fn new(pattern: &str) -> Result<UrlPattern, PatternError> {
        regex_lite::Regex::new(pattern)
            .map(UrlPattern)
            .map_err(|e| PatternError(e.to_string()))
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// Whether it matches somewhere in `url`.
    pub fn matches(&self, url: &str) -> bool {
        self.0.is_match(url)
    }
}

/// Why a [`UrlPattern`] could not be made: the regex parser's message.
#[derive(Clone, Debug)]
pub struct PatternError(String);

impl std::fmt::Display for PatternError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PatternError {}

/// Where a crawl's output goes.
pub struct Hooks<'a> {
    /// Every record, as it is made.
    pub on_record: Box<dyn FnMut(&Record) + 'a>,
    /// Links (and seeds) that belong to another shard, once each.
    pub on_foreign_link: Box<dyn FnMut(&Url) + 'a>,
    /// Set from outside (a signal handler) to stop taking new URLs.
    pub stop: Arc<AtomicBool>,
}
