//! The crawl engine: a breadth-first frontier per host, at most `concurrency` fetches at once
//! (`per_host` per host, `delay` apart), robots.txt first, and exactly one [`Record`] for every
//! URL it takes off the frontier.
//!
//! One dispatcher loop owns all the state (frontier, visited set, counters); each fetch is a
//! task that streams its body into a hasher (and a file, and a bounded buffer if it is HTML) and
//! sends back its record and links. Nothing is shared between tasks but a small mailbox, so
//! there is no lock and no `Send` requirement: the whole crawl runs on one thread.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::future::poll_fn;
use std::io::Write as _;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use url::Url;

use super::links::extract_links;
use super::normalize::{Key, key, normalize};
use super::record::Record;
use super::robots::{MAX_ROBOTS_BYTES, Robots};
use super::save::path_for;
use super::shard::shard_of;
use crate::http::{Client, Error, Method, Phase};
use crate::task::Task;
use crate::time::{sleep, timeout};

/// Everything a crawl can be told; `Default` is what `crawl` with no options does.
#[derive(Clone, Debug)]
pub struct Config {
    /// Links are followed this many hops from a seed (seeds are depth 0).
    pub max_depth: u32,
    /// Stop taking URLs off the frontier after this many.
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
    /// Save bodies under this directory (see [`path_for`]).
    pub out_dir: Option<PathBuf>,
    pub respect_robots: bool,
    /// `(i, n)`: crawl only hosts whose [`shard_of`] is `i`.
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
            respect_robots: true,
            shard: None,
            grace: Duration::from_secs(3),
            ca_pem: Vec::new(),
            insecure: false,
        }
    }
}

/// What a crawl did, for the closing line.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    /// Records written (one per URL taken off the frontier).
    pub records: u64,
    /// Records with a response (any status).
    pub pages: u64,
    pub bytes: u64,
    pub errors: u64,
    /// URLs robots.txt did not allow (they have a record, but are not counted as errors).
    pub disallowed: u64,
    pub not_found: u64,
    /// Redirects followed, over all fetches.
    pub redirects: u64,
    pub elapsed: Duration,
    /// Fetch latency percentiles, from a fixed-size histogram.
    pub p50: Duration,
    pub p99: Duration,
    /// The crawl was stopped (signal) before the frontier emptied.
    pub interrupted: bool,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.elapsed.as_secs_f64();
        let rate = if secs > 0.0 {
            self.pages as f64 / secs
        } else {
            0.0
        };
        write!(
            f,
            "crawled {} pages ({:.1} MB) in {:.2} s: {:.0} pages/s, p50 {:.1} ms, p99 {:.1} ms; \
             {} errors, {} HTTP 404, {} redirects, {} disallowed by robots.txt",
            self.pages,
            self.bytes as f64 / 1e6,
            secs,
            rate,
            self.p50.as_secs_f64() * 1e3,
            self.p99.as_secs_f64() * 1e3,
            self.errors,
            self.not_found,
            self.redirects,
            self.disallowed
        )?;
        if self.interrupted {
            f.write_str(" (interrupted)")?;
        }
        Ok(())
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

/// Where a crawl stands, for a progress display.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Records made so far.
    pub done: u64,
    /// Fetches running (robots.txt fetches included).
    pub in_flight: usize,
    /// URLs waiting on the frontier.
    pub queued: u64,
    /// Records with an error (robots.txt refusals not counted).
    pub errors: u64,
    pub elapsed: Duration,
}

/// Crawls from `seeds`. Returns when the frontier is empty, `max_pages` were taken, or `stop`
/// was set and in-flight fetches finished (or the grace period ran out). A seed that is not a
/// URL, or not http(s), becomes an error record.
pub async fn crawl(
    config: &Config,
    seeds: impl IntoIterator<Item = String>,
    hooks: Hooks<'_>,
) -> Result<Summary, Error> {
    crawl_with_progress(config, seeds, hooks, |_| {}).await
}

/// [`crawl`], also calling `progress` about every 200 ms with where the crawl stands.
pub async fn crawl_with_progress(
    config: &Config,
    seeds: impl IntoIterator<Item = String>,
    mut hooks: Hooks<'_>,
    mut progress: impl FnMut(&Progress),
) -> Result<Summary, Error> {
    let started = Instant::now();
    let mut crawl = Crawl::new(config);
    for seed in seeds {
        crawl.add_seed(seed.trim(), &mut hooks);
    }
    let policy = crawl.policy.clone();
    let mut builder = Client::builder();
    for pem in &config.ca_pem {
        builder = builder.ca_pem(pem.clone());
    }
    let client = builder
        .danger_accept_invalid_certs(config.insecure)
        .user_agent(config.user_agent.clone())
        .connect_timeout(config.connect_timeout)
        .idle_timeout(config.idle_timeout)
        .total_timeout(Some(config.timeout))
        .max_body(config.max_body)
        .max_idle(config.per_host.max(1), config.concurrency.max(1) * 2)
        .redirect_policy(move |_, next| policy.allows(next))
        .build()?;
    crawl.run(&client, &mut hooks, &mut progress, started).await;
    crawl.summary.elapsed = started.elapsed();
    crawl.summary.p50 = crawl.latency.percentile(0.50);
    crawl.summary.p99 = crawl.latency.percentile(0.99);
    Ok(crawl.summary)
}

/// Which hosts links and redirects may lead to: the seeds' hosts and `allow_hosts`, or any
/// host with `same_host` off. Complete before the client (whose redirect hook shares it) is
/// built, and read-only after.
struct HostPolicy {
    hosts: HashSet<String>,
    any: bool,
}

impl HostPolicy {
    fn allows(&self, url: &Url) -> bool {
        self.any || url.host_str().is_some_and(|h| self.hosts.contains(h))
    }
}

struct Item {
    url: Url,
    depth: u32,
}

enum RobotsState {
    Unknown,
    Fetching,
    Known(Robots),
}

struct Host {
    queue: VecDeque<Item>,
    in_flight: usize,
    next_at: Instant,
    robots: RobotsState,
    /// On the round-robin list of hosts with queued URLs.
    listed: bool,
}

/// A fetch's result, sent back to the dispatcher.
enum Done {
    Page {
        id: u64,
        record: Box<Record>,
        links: Vec<Url>,
        final_url: Option<Url>,
    },
    Robots {
        id: u64,
        host: String,
        robots: Robots,
    },
}

/// Where fetch tasks leave their results; the dispatcher waits on it.
#[derive(Default)]
struct Mailbox {
    items: RefCell<VecDeque<Done>>,
    waker: RefCell<Option<Waker>>,
}

impl Mailbox {
    fn push(&self, done: Done) {
        self.items.borrow_mut().push_back(done);
        if let Some(waker) = self.waker.borrow_mut().take() {
            waker.wake();
        }
    }
}

struct InFlight {
    /// The URL being fetched; `None` for a robots.txt fetch, which makes no record.
    url: Option<String>,
    depth: u32,
    started: Instant,
    host: String,
    _task: Task<()>,
}

struct Crawl {
    /// Shared with the fetch tasks without a copy per URL.
    config: Rc<Config>,
    hosts: HashMap<String, Host>,
    /// Hosts with queued URLs, round robin.
    ready: VecDeque<String>,
    visited: HashSet<Key>,
    /// URLs offered and not yet recorded, by depth. Fetches of depth `d + 1` start only once
    /// none of depth `d` or less remains, so every URL is first reached by a shortest path
    /// and its depth is exact whatever order fetches finish in.
    pending: Vec<u64>,
    queued: u64,
    taken: u64,
    in_flight: HashMap<u64, InFlight>,
    next_id: u64,
    mailbox: Rc<Mailbox>,
    summary: Summary,
    latency: Histogram,
    policy: Arc<HostPolicy>,
}

impl Crawl {
    fn new(config: &Config) -> Crawl {
        let policy = Arc::new(HostPolicy {
            hosts: config
                .allow_hosts
                .iter()
                .map(|h| h.to_ascii_lowercase())
                .collect(),
            any: !config.same_host,
        });
        Crawl {
            config: Rc::new(config.clone()),
            hosts: HashMap::new(),
            ready: VecDeque::new(),
            visited: HashSet::new(),
            pending: Vec::new(),
            queued: 0,
            taken: 0,
            in_flight: HashMap::new(),
            next_id: 0,
            mailbox: Rc::default(),
            summary: Summary::default(),
            latency: Histogram::default(),
            policy,
        }
    }

    fn add_seed(&mut self, seed: &str, hooks: &mut Hooks<'_>) {
        if seed.is_empty() {
            return;
        }
        let url = match Url::parse(seed) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host_str().is_some() => url,
            Ok(url) => {
                let error = format!("unsupported URL scheme {:?}", url.scheme());
                self.emit(error_record(seed, 0, error), hooks);
                return;
            }
            Err(e) => {
                self.emit(error_record(seed, 0, format!("invalid URL: {e}")), hooks);
                return;
            }
        };
        if let Some(host) = url.host_str() {
            Arc::get_mut(&mut self.policy)
                .expect("seeds are added before the client shares the policy")
                .hosts
                .insert(host.to_ascii_lowercase());
        }
        self.offer(url, 0, hooks);
    }

    /// Puts a URL on the frontier unless it was seen, is off-policy, or is another shard's.
    fn offer(&mut self, url: Url, depth: u32, hooks: &mut Hooks<'_>) {
        let url = normalize(&url);
        let Some(host) = url.host_str().map(str::to_ascii_lowercase) else {
            return;
        };
        if depth > 0 && !self.policy.allows(&url) {
            return;
        }
        if !self.visited.insert(key(&url)) {
            return;
        }
        if let Some((i, n)) = self.config.shard
            && shard_of(&host, n) != i
        {
            (hooks.on_foreign_link)(&url);
            return;
        }
        let entry = self.hosts.entry(host.clone()).or_insert_with(|| Host {
            queue: VecDeque::new(),
            in_flight: 0,
            next_at: Instant::now(),
            robots: RobotsState::Unknown,
            listed: false,
        });
        entry.queue.push_back(Item { url, depth });
        self.queued += 1;
        let level = depth as usize;
        if self.pending.len() <= level {
            self.pending.resize(level + 1, 0);
        }
        self.pending[level] += 1;
        if !entry.listed {
            entry.listed = true;
            self.ready.push_back(host);
        }
    }

    fn emit(&mut self, record: Record, hooks: &mut Hooks<'_>) {
        self.summary.records += 1;
        if record.error.as_deref() == Some(DISALLOWED) {
            self.summary.disallowed += 1;
        } else if record.error.is_some() {
            self.summary.errors += 1;
        }
        if record.status.is_some() {
            self.summary.pages += 1;
            self.summary.bytes += record.bytes;
        }
        if record.status == Some(404) {
            self.summary.not_found += 1;
        }
        self.summary.redirects += u64::from(record.redirects);
        (hooks.on_record)(&record);
    }

    /// The shallowest depth with URLs not yet recorded: the only depth fetches may start at.
    fn level(&self) -> u32 {
        self.pending.iter().position(|&n| n > 0).unwrap_or(0) as u32
    }

    fn settle(&mut self, depth: u32) {
        if let Some(n) = self.pending.get_mut(depth as usize) {
            *n = n.saturating_sub(1);
        }
    }

    fn page_budget_left(&self) -> bool {
        self.config.max_pages.is_none_or(|max| self.taken < max)
    }

    /// Starts as many fetches as the limits allow. Returns the earliest time a host that has
    /// work but is held back by `delay` becomes ready.
    fn dispatch(&mut self, client: &Client, hooks: &mut Hooks<'_>) -> Option<Instant> {
        let now = Instant::now();
        let mut wake_at: Option<Instant> = None;
        let mut rounds = self.ready.len();
        let level = self.level();
        while rounds > 0 && self.in_flight.len() < self.config.concurrency.max(1) {
            rounds -= 1;
            let Some(name) = self.ready.pop_front() else {
                break;
            };
            let mut keep = true;
            loop {
                if self.in_flight.len() >= self.config.concurrency.max(1) {
                    break;
                }
                let budget_left = self.page_budget_left();
                let host = self.hosts.get_mut(&name).expect("listed hosts exist");
                if host.queue.is_empty() {
                    host.listed = false;
                    keep = false;
                    break;
                }
                if !budget_left || host.in_flight >= self.config.per_host.max(1) {
                    break;
                }
                // Deeper than the current level: wait until the shallower ones are recorded.
                if host.queue.front().expect("not empty").depth > level {
                    break;
                }
                if host.next_at > now {
                    wake_at = Some(wake_at.map_or(host.next_at, |w| w.min(host.next_at)));
                    break;
                }
                if self.config.respect_robots {
                    match &host.robots {
                        RobotsState::Unknown => {
                            host.robots = RobotsState::Fetching;
                            host.in_flight += 1;
                            let origin = host.queue.front().expect("not empty").url.clone();
                            self.start_robots(client, &name, origin);
                            break;
                        }
                        RobotsState::Fetching => break,
                        RobotsState::Known(robots) => {
                            if !robots.allowed(&host.queue.front().expect("not empty").url) {
                                let item = host.queue.pop_front().expect("not empty");
                                self.queued -= 1;
                                self.taken += 1;
                                self.settle(item.depth);
                                let record =
                                    error_record(item.url.as_str(), item.depth, DISALLOWED.into());
                                self.emit(record, hooks);
                                continue;
                            }
                        }
                    }
                }
                let item = host.queue.pop_front().expect("not empty");
                host.in_flight += 1;
                host.next_at = now + self.config.delay;
                self.queued -= 1;
                self.taken += 1;
                self.start_fetch(client, &name, item);
            }
            if keep {
                self.ready.push_back(name);
            }
        }
        wake_at
    }

    fn start_fetch(&mut self, client: &Client, host: &str, item: Item) {
        let id = self.next_id;
        self.next_id += 1;
        let mailbox = self.mailbox.clone();
        let client = client.clone();
        let config = self.config.clone();
        let url = item.url.clone();
        let depth = item.depth;
        let task = crate::spawn(async move {
            let (record, links, final_url) = fetch(&client, &config, url, depth).await;
            mailbox.push(Done::Page {
                id,
                record: Box::new(record),
                links,
                final_url,
            });
        });
        self.in_flight.insert(
            id,
            InFlight {
                url: Some(item.url.to_string()),
                depth: item.depth,
                started: Instant::now(),
                host: host.to_string(),
                _task: task,
            },
        );
    }

    fn start_robots(&mut self, client: &Client, host: &str, origin: Url) {
        let id = self.next_id;
        self.next_id += 1;
        let mailbox = self.mailbox.clone();
        let client = client.clone();
        let agent = self.config.user_agent.clone();
        let name = host.to_string();
        let task = crate::spawn(async move {
            let robots = fetch_robots(&client, &origin, &agent).await;
            mailbox.push(Done::Robots {
                id,
                host: name,
                robots,
            });
        });
        // Not a record: a robots fetch is bookkeeping, and it is never counted as a page.
        self.in_flight.insert(
            id,
            InFlight {
                url: None,
                depth: 0,
                started: Instant::now(),
                host: host.to_string(),
                _task: task,
            },
        );
    }

    async fn run(
        &mut self,
        client: &Client,
        hooks: &mut Hooks<'_>,
        progress: &mut dyn FnMut(&Progress),
        started: Instant,
    ) {
        let mut grace_until: Option<Instant> = None;
        let mut last_progress = Instant::now();
        loop {
            if last_progress.elapsed() >= Duration::from_millis(200) {
                last_progress = Instant::now();
                progress(&Progress {
                    done: self.summary.records,
                    in_flight: self.in_flight.len(),
                    queued: self.queued,
                    errors: self.summary.errors,
                    elapsed: started.elapsed(),
                });
            }
            if grace_until.is_none() && hooks.stop.load(Ordering::Relaxed) {
                grace_until = Some(Instant::now() + self.config.grace);
                self.summary.interrupted = true;
            }
            let stopping = grace_until.is_some();
            let wake_at = if stopping {
                None
            } else {
                self.dispatch(client, hooks)
            };
            let frontier_done = stopping || self.queued == 0 || !self.page_budget_left();
            if self.in_flight.is_empty() && frontier_done {
                return;
            }
            if let Some(until) = grace_until
                && Instant::now() >= until
            {
                self.abandon_in_flight(hooks);
                return;
            }
            // Wait for a result, a host's delay, or (to notice a stop request) 100 ms.
            let mut limit = Duration::from_millis(100);
            let now = Instant::now();
            for at in [wake_at, grace_until].into_iter().flatten() {
                limit = limit.min(at.saturating_duration_since(now));
            }
            let mailbox = self.mailbox.clone();
            let _ = timeout(
                limit,
                poll_fn(|cx| {
                    if mailbox.items.borrow().is_empty() {
                        *mailbox.waker.borrow_mut() = Some(cx.waker().clone());
                        Poll::Pending
                    } else {
                        Poll::Ready(())
                    }
                }),
            )
            .await;
            loop {
                let next = self.mailbox.items.borrow_mut().pop_front();
                let Some(done) = next else { break };
                self.handle(done, hooks);
            }
        }
    }

    fn handle(&mut self, done: Done, hooks: &mut Hooks<'_>) {
        match done {
            Done::Robots { id, host, robots } => {
                self.in_flight.remove(&id);
                if let Some(h) = self.hosts.get_mut(&host) {
                    h.in_flight -= 1;
                    h.robots = RobotsState::Known(robots);
                }
            }
            Done::Page {
                id,
                record,
                links,
                final_url,
            } => {
                let Some(flight) = self.in_flight.remove(&id) else {
                    return;
                };
                if let Some(h) = self.hosts.get_mut(&flight.host) {
                    h.in_flight -= 1;
                }
                self.latency.add(flight.started.elapsed());
                if let Some(final_url) = final_url {
                    // A page reached through a redirect counts as visited under its own URL.
                    self.visited.insert(key(&normalize(&final_url)));
                }
                let depth = record.depth;
                self.settle(depth);
                self.emit(*record, hooks);
                if depth < self.config.max_depth {
                    for link in links {
                        self.offer(link, depth + 1, hooks);
                    }
                }
            }
        }
    }

    /// The grace period is over: every fetch still running ends with an "interrupted" record.
    fn abandon_in_flight(&mut self, hooks: &mut Hooks<'_>) {
        let mut flights: Vec<(u64, InFlight)> = self.in_flight.drain().collect();
        flights.sort_by_key(|(id, _)| *id);
        for (_, flight) in flights {
            // Dropping the task handle cancels the fetch.
            let Some(url) = flight.url else {
                continue;
            };
            let mut record = error_record(
                &url,
                flight.depth,
                "interrupted: the crawl was stopped before this fetch finished".into(),
            );
            record.elapsed_ms = flight.started.elapsed().as_millis() as u64;
            self.emit(record, hooks);
        }
    }
}

/// The error of a record for a URL robots.txt does not allow.
pub const DISALLOWED: &str = "disallowed by robots.txt";

fn error_record(url: &str, depth: u32, error: String) -> Record {
    Record {
        url: url.to_string(),
        depth,
        error: Some(error),
        ..Record::default()
    }
}

/// Whether a failed request is worth retrying: the server may accept a connection in a moment.
fn transient_error(error: &Error) -> bool {
    matches!(
        error,
        Error::Io(_)
            | Error::Timeout {
                phase: Phase::Connect
            }
    )
}

/// Whether a status asks to come back later.
fn transient_status(status: u16) -> bool {
    matches!(status, 429 | 503)
}

/// Fetches one URL with retries, streaming its body; returns its record, the links of an HTML
/// page, and the final URL if redirects moved it.
async fn fetch(
    client: &Client,
    config: &Config,
    url: Url,
    depth: u32,
) -> (Record, Vec<Url>, Option<Url>) {
    let started = Instant::now();
    let mut record = Record {
        url: url.to_string(),
        depth,
        ..Record::default()
    };
    let mut attempt = 0;
    loop {
        let mut response = match client.request_url(Method::Get, url.clone()).await {
            Ok(response) => response,
            Err(e) => {
                if transient_error(&e) && attempt < config.retries {
                    attempt += 1;
                    sleep(backoff(attempt, None)).await;
                    continue;
                }
                record.error = Some(e.to_string());
                record.elapsed_ms = started.elapsed().as_millis() as u64;
                return (record, Vec::new(), None);
            }
        };
        let status = response.status();
        if transient_status(status) && attempt < config.retries {
            attempt += 1;
            let after = response
                .header_str("retry-after")
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            drop(response);
            sleep(backoff(attempt, after)).await;
            continue;
        }
        record.status = Some(status);
        record.redirects = response.redirects() as u32;
        let final_url = (response.redirects() > 0).then(|| response.url().clone());
        if let Some(f) = &final_url {
            record.final_url = Some(f.to_string());
        }
        let content_type = response.header_str("content-type").map(str::to_string);
        let is_html = content_type
            .as_deref()
            .is_some_and(|t| t.trim_start().to_ascii_lowercase().starts_with("text/html"));
        record.content_type = content_type;
        let mut file = config
            .out_dir
            .as_ref()
            .and_then(|dir| open_output(dir, response.url()));
        let mut hasher = Sha256::new();
        let mut html = Vec::new();
        let mut bytes = 0u64;
        let body_error = loop {
            match response.chunk().await {
                Ok(Some(piece)) => {
                    bytes += piece.len() as u64;
                    hasher.update(piece);
                    if is_html {
                        html.extend_from_slice(piece);
                    }
                    if let Some(f) = file.as_mut()
                        && f.write_all(piece).is_err()
                    {
                        file = None;
                    }
                }
                Ok(None) => break None,
                Err(e) => break Some(e.to_string()),
            }
        };
        record.bytes = bytes;
        record.encoded_bytes = response.encoded_read();
        record.elapsed_ms = started.elapsed().as_millis() as u64;
        if let Some(e) = body_error {
            record.error = Some(e);
            return (record, Vec::new(), final_url);
        }
        record.sha256 = Some(hex(&hasher.finalize()));
        let links = if is_html {
            extract_links(&html, response.url(), record.content_type.as_deref())
        } else {
            Vec::new()
        };
        return (record, links, final_url);
    }
}

/// Exponential backoff from 250 ms, or the server's `Retry-After` (capped at 30 s).
fn backoff(attempt: u32, retry_after: Option<Duration>) -> Duration {
    retry_after
        .unwrap_or_else(|| Duration::from_millis(250) * (1 << attempt.min(6)))
        .min(Duration::from_secs(30))
}

fn open_output(dir: &std::path::Path, url: &Url) -> Option<std::fs::File> {
    let path = dir.join(path_for(url));
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).ok()?;
    }
    std::fs::File::create(path).ok()
}

async fn fetch_robots(client: &Client, origin: &Url, agent: &str) -> Robots {
    let Ok(robots_url) = origin.join("/robots.txt") else {
        return Robots::AllowAll;
    };
    let Ok(mut response) = client.request_url(Method::Get, robots_url).await else {
        return Robots::from_fetch(None, b"", agent);
    };
    let status = response.status();
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(piece)) => {
                let room = MAX_ROBOTS_BYTES.saturating_sub(body.len() as u64) as usize;
                body.extend_from_slice(&piece[..piece.len().min(room)]);
                if room <= piece.len() {
                    break;
                }
            }
            Ok(None) => break,
            Err(_) => return Robots::from_fetch(None, b"", agent),
        }
    }
    Robots::from_fetch(Some(status), &body, agent)
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
    out
}

/// Latencies in logarithmic buckets (8 per power of two, from 1 us to about 1 hour): constant
/// memory however long the crawl, percentiles within about 9 %.
struct Histogram {
    buckets: Vec<u64>,
    count: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: vec![0; 32 * 8],
            count: 0,
        }
    }
}

impl Histogram {
    fn bucket(micros: u64) -> usize {
        let micros = micros.max(1);
        let log = 63 - micros.leading_zeros() as usize;
        let sub = if log >= 3 {
            ((micros >> (log - 3)) & 7) as usize
        } else {
            ((micros << (3 - log)) & 7) as usize
        };
        (log * 8 + sub).min(32 * 8 - 1)
    }

    /// The lower edge of a bucket, in microseconds.
    fn lower(bucket: usize) -> u64 {
        let (log, sub) = (bucket / 8, (bucket % 8) as u64);
        if log >= 3 {
            (8 + sub) << (log - 3)
        } else {
            (8 + sub) >> (3 - log)
        }
    }

    fn add(&mut self, d: Duration) {
        let micros = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.buckets[Self::bucket(micros)] += 1;
        self.count += 1;
    }

    fn percentile(&self, p: f64) -> Duration {
        if self.count == 0 {
            return Duration::ZERO;
        }
        let rank = ((self.count as f64) * p).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Duration::from_micros(Self::lower(i));
            }
        }
        Duration::ZERO
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_percentiles_are_close() {
        let mut h = Histogram::default();
        for ms in 1..=100u64 {
            h.add(Duration::from_millis(ms));
        }
        let p50 = h.percentile(0.5).as_secs_f64() * 1e3;
        let p99 = h.percentile(0.99).as_secs_f64() * 1e3;
        assert!((45.0..=50.0).contains(&p50), "{p50}");
        assert!((90.0..=99.0).contains(&p99), "{p99}");
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff(1, None), Duration::from_millis(500));
        assert_eq!(backoff(2, None), Duration::from_secs(1));
        assert_eq!(
            backoff(1, Some(Duration::from_secs(3))),
            Duration::from_secs(3)
        );
        assert_eq!(
            backoff(1, Some(Duration::from_secs(3600))),
            Duration::from_secs(30)
        );
    }
}
