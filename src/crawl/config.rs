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
    /// Follow links only to the seeds' hosts (and `allow_hosts`).
    pub same_host: bool,
    pub allow_hosts: Vec<String>,
    /// Fetches at once, in all.
    pub concurrency: usize,
    /// Fetches at once per host.
    pub per_host: usize,
    /// Pause between the starts of two fetches from one host.
    pub delay: Duration,
    /// Total time for one URL (redirects included); its connect and idle parts.
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
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_depth: 5,
            max_pages: None,
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
        }
    }
}

/// Where a crawl's output goes.
pub struct Hooks<'a> {
    /// Every record, as it is made.
    pub on_record: Box<dyn FnMut(&Record) + 'a>,
    /// Links (and seeds) that belong to another shard, once each.
    pub on_foreign_link: Box<dyn FnMut(&Url) + 'a>,
    /// Set from outside (a signal handler) to stop taking new URLs.
    pub stop: Arc<AtomicBool>,
}
