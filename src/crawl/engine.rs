//! The dispatcher: takes URLs off the [`Frontier`] shallowest first, at most `concurrency`
//! fetches at once (`per_host` per host, `delay` apart), robots.txt of each origin first, and
//! writes exactly one [`Record`] for every URL it takes.
//!
//! One loop owns all the state (frontier, hosts, counters); each fetch is a task that sends
//! back what it found through a [`Mailbox`]. Nothing is shared between tasks but that box, so
//! there is no lock and no `Send` requirement: the whole crawl runs on one thread. The loop
//! never waits for in-flight fetches while another URL could start: a slow URL holds only its
//! own fetch slot and its host's politeness slot (see the frontier for how depths stay exact).

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::pin;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::task::Poll;
use std::time::{Duration, Instant};

use url::Url;

use super::config::{Config, Hooks};
use super::fetch::{Fetched, blank_record, fetch};
use super::frontier::{Chain, Frontier, Item, Offered, Reoffer};
use super::journal::{Change, Journal, Lookup, Shared, Spilled};
use super::mailbox::Mailbox;
use super::normalize::{Key, key_of_normalized, normalize};
use super::record::Record;
use super::robots::{MAX_ROBOTS_BYTES, Robots, fetch_robots};
use super::scope::Scope;
use super::shard::{authority, shard_of};
use super::sitemap;
use super::stats::{Histogram, Progress, Summary};
use crate::http::{Client, Error};
use crate::task::Task;
use crate::time::{now, timeout};

/// How long robots.txt rules are kept before they are fetched again (RFC 9309 2.4).
const ROBOTS_TTL: Duration = Duration::from_secs(24 * 60 * 60);

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
    hooks: Hooks<'_>,
    progress: impl FnMut(&Progress),
) -> Result<Summary, Error> {
    run_crawl(config, seeds, hooks, progress, None).await
}

/// The crawl, with a journal when it is resumable: a journal that holds a crawl already is
/// resumed (its URLs loaded, the seeds only named again), and a stop leaves every URL without a
/// final record to the next run instead of writing "interrupted" records.
pub(crate) async fn run_crawl(
    config: &Config,
    seeds: impl IntoIterator<Item = String>,
    mut hooks: Hooks<'_>,
    mut progress: impl FnMut(&Progress),
    journal: Option<&mut dyn Journal>,
) -> Result<Summary, Error> {
    run_session(config, seeds, &mut hooks, &mut progress, journal).await
}

/// [`run_crawl`] with the hooks borrowed: a shared crawl runs several sessions with them.
pub(crate) async fn run_session(
    config: &Config,
    seeds: impl IntoIterator<Item = String>,
    hooks: &mut Hooks<'_>,
    progress: &mut dyn FnMut(&Progress),
    journal: Option<&mut dyn Journal>,
) -> Result<Summary, Error> {
    let started = now();
    let builder = || {
        let mut builder = Client::builder();
        for pem in &config.ca_pem {
            builder = builder.ca_pem(pem.clone());
        }
        builder
            .danger_accept_invalid_certs(config.insecure)
            .user_agent(config.user_agent.clone())
            .connect_timeout(config.connect_timeout)
            .idle_timeout(config.idle_timeout)
            .total_timeout(Some(config.timeout))
            .max_idle(
                config.per_host.max(1),
                config.concurrency.max(1).saturating_mul(2),
            )
            // Every hop is checked and scheduled by the engine, like a link.
            .max_redirects(0)
    };
    let clients = Clients {
        pages: builder().max_body(config.max_body).build()?,
        // robots.txt is read up to its own limit whatever `max_body` says (RFC 9309 2.5).
        robots: builder().max_body(MAX_ROBOTS_BYTES * 64).build()?,
        seeds: if config.headers.is_empty() {
            None
        } else {
            let mut seeds = builder().max_body(config.max_body);
            for (name, value) in &config.headers {
                seeds = seeds.header(name, value);
            }
            Some(seeds.build()?)
        },
    };
    let resuming = journal.as_ref().is_some_and(|j| j.resuming());
    let mut crawl = Crawl::new(config, journal);
    // A shared journal says so here, before the seeds: those of other processes' hosts go to it.
    crawl.poll_shared(true, hooks);
    if resuming {
        crawl.resume();
    }
    for seed in seeds {
        // A resumed crawl's seeds were queued by its first run; they still set the scope.
        crawl.add_seed(seed.trim(), hooks, !resuming);
    }
    if config.sitemaps && !resuming {
        let client = builder()
            .max_body(sitemap::MAX_BYTES)
            .max_redirects(5)
            .build()?;
        let mut origins: Vec<Url> = crawl
            .seed_origins
            .iter()
            .filter_map(|o| Url::parse(&o.ascii_serialization()).ok())
            .collect();
        origins.sort();
        for url in sitemap::discover(&client, &origins, config.retries).await {
            let url = normalize(&url);
            if crawl.scope.allows(&url) && config.wants_url(url.as_str()) {
                crawl.offer(url, 0, None, hooks);
            }
        }
    }
    crawl.run(&clients, hooks, progress, started).await;
    crawl.summary.elapsed = now().saturating_duration_since(started);
    crawl.summary.p50 = crawl.latency.percentile(0.50);
    crawl.summary.p99 = crawl.latency.percentile(0.99);
    Ok(crawl.summary)
}

struct Clients {
    pages: Client,
    robots: Client,
    /// `pages` with `Config::headers`, for the seeds' origins; `None` without headers.
    seeds: Option<Client>,
}

/// `at + d`, or a time so far ahead that it means "never" when that overflows.
fn later(at: Instant, d: Duration) -> Instant {
    at.checked_add(d)
        .or_else(|| at.checked_add(Duration::from_secs(100 * 365 * 24 * 3600)))
        .unwrap_or(at)
}

/// An origin within a host: robots.txt is per scheme, host and port (RFC 9309 2.3).
type OriginKey = (bool, u16);

fn origin_key(url: &Url) -> OriginKey {
    (
        url.scheme() == "https",
        url.port_or_known_default().unwrap_or(0),
    )
}

enum RobotsState {
    Fetching,
    /// Fetched (or read from a state); good until `until`.
    Known {
        robots: Robots,
        until: Instant,
    },
}

/// The key a state keeps an origin's robots.txt under: scheme, authority and port.
fn origin_text(host: &str, (https, port): OriginKey) -> String {
    format!("{}://{host} {port}", if https { "https" } else { "http" })
}

/// Hosts a crawl with a state keeps in memory before idle ones are dropped.
const HOSTS_IN_MEMORY: usize = 10_000;

/// Politeness state of one host (see [`authority`]).
struct Host {
    in_flight: usize,
    next_at: Instant,
    /// Per origin of this host (usually one or two).
    robots: Vec<(OriginKey, RobotsState)>,
}

/// The fetch a redirect came back from.
struct Hop<'a> {
    key: Key,
    item: &'a Item,
    started: Instant,
}

/// A fetch's result, sent back to the dispatcher.
enum Done {
    Page {
        id: u64,
        fetched: Box<Fetched>,
    },
    /// The fetch task panicked: its URL gets an error record, the crawl goes on.
    Panicked {
        id: u64,
        message: String,
    },
    Robots {
        id: u64,
        robots: Robots,
    },
}

enum Flight {
    Page {
        key: Key,
        item: Box<Item>,
    },
    /// A robots.txt fetch, which makes no record.
    Robots {
        origin: OriginKey,
    },
}

struct InFlight {
    flight: Flight,
    host: String,
    started: Instant,
    _task: Task<()>,
}

struct Crawl<'j> {
    /// Shared with the fetch tasks without a copy per URL.
    config: Rc<Config>,
    frontier: Frontier,
    hosts: HashMap<String, Host>,
    scope: Scope,
    /// The seeds' origins: their pages are fetched with `Clients::seeds`.
    seed_origins: HashSet<url::Origin>,
    /// URLs fetched (the `max_pages` budget; robots.txt refusals and later redirect hops not
    /// counted).
    taken: u64,
    in_flight: HashMap<u64, InFlight>,
    next_id: u64,
    mailbox: Rc<Mailbox<Done>>,
    summary: Summary,
    latency: Histogram,
    stopping: bool,
    /// Scratch: links to offer again because a held page was lowered.
    reoffer: Reoffer,
    /// Scratch: records released by the frontier.
    released: Vec<Record>,
    /// The store the crawl's decisions go to, and its URLs wait in (see `journal.rs`); `None`
    /// once it failed.
    journal: Option<&'j mut dyn Journal>,
    /// A journal is kept (its changes are noted by the frontier).
    journaling: bool,
    /// Past this many hosts in memory, idle ones are dropped (with a state).
    hosts_limit: usize,
    /// A journaled crawl was stopped (a stop request, or the journal failed): URLs without a
    /// final record are left to the next run, with no "interrupted" record.
    leave_to_next_run: bool,
    /// The journal is shared with other processes (it answers [`Journal::poll`]): links to
    /// hosts it does not give this process go to it, and the crawl ends when theirs ends too.
    shared: bool,
    /// What the last poll of a shared journal said.
    others: Shared,
    /// A shared journal gave a partition of this session to another process: the session ends
    /// at once (its memory is dropped), and the caller starts a new one.
    lost: bool,
}

impl<'j> Crawl<'j> {
    fn new(config: &Config, journal: Option<&'j mut dyn Journal>) -> Crawl<'j> {
        let scope = Scope {
            hosts: config
                .allow_hosts
                .iter()
                .map(|h| h.to_ascii_lowercase())
                .collect(),
            any: !config.same_host,
        };
        let mut frontier = Frontier::new(config.max_depth);
        if journal.is_some() {
            frontier.journal(true);
            frontier.spill();
        }
        Crawl {
            config: Rc::new(config.clone()),
            frontier,
            hosts: HashMap::new(),
            scope,
            seed_origins: HashSet::new(),
            taken: 0,
            in_flight: HashMap::new(),
            next_id: 0,
            mailbox: Rc::default(),
            summary: Summary::default(),
            latency: Histogram::default(),
            stopping: false,
            reoffer: Vec::new(),
            released: Vec::new(),
            journaling: journal.is_some(),
            journal,
            leave_to_next_run: false,
            hosts_limit: HOSTS_IN_MEMORY,
            shared: false,
            others: Shared::default(),
            lost: false,
        }
    }

    /// A resumed crawl: every URL without a record waits in the store.
    fn resume(&mut self) {
        let Some(journal) = self.journal.as_deref_mut() else {
            return;
        };
        // The store knows what the last runs did; memory knows nothing yet.
        self.frontier.mark_incomplete();
        match journal.resume() {
            Ok(depths) => {
                for (depth, n) in depths {
                    self.frontier.add_spilled(depth, n);
                }
            }
            Err(e) => self.journal_failed(e),
        }
    }

    /// Asks a shared journal what the other processes did (`force`: now): their shallowest
    /// unfetched depth counts for the frontier's records, and whether URLs of this process's
    /// partitions wait in the store. Nothing for a journal of this process alone.
    fn poll_shared(&mut self, force: bool, hooks: &mut Hooks<'_>) {
        let Some(journal) = self.journal.as_deref_mut() else {
            return;
        };
        match journal.poll(force) {
            Ok(None) => {}
            Ok(Some(others)) => {
                if !self.shared {
                    self.shared = true;
                    // Other processes add URLs: a link unknown here may be known there.
                    self.frontier.mark_incomplete();
                }
                self.others = others;
                self.frontier.set_external_min(others.min_unfetched);
                self.frontier.forget_spilled();
                if let Some(depth) = others.waiting {
                    self.frontier.add_spilled(depth, 1);
                }
                if others.lost && !self.lost {
                    self.lost = true;
                    self.stopping = true;
                    self.leave_to_next_run = true;
                }
                let lowered = self.journal.as_deref_mut().map(|j| j.lowered());
                for (key, depth) in lowered.unwrap_or_default() {
                    // As if this process had found the shorter path itself.
                    self.frontier.lower(key, depth, &mut self.reoffer);
                    while let Some((url, depth, referrer)) = self.reoffer.pop() {
                        self.offer_one(url, depth, referrer.as_ref(), hooks);
                    }
                }
                self.lower_on_disk();
            }
            Err(e) => self.journal_failed(e),
        }
    }

    /// Brings spilled URLs back into memory when the window runs low, or when the store holds
    /// shallower URLs than memory does (the shallowest go first, and with the window of held
    /// records full only those may start).
    fn refill(&mut self) {
        if self.frontier.spilled() == 0 || self.journal.is_none() {
            return;
        }
        let want = self
            .journal
            .as_deref()
            .map_or(0, |j| j.memory_urls())
            .max(1);
        let memory = self.frontier.memory_queued() as usize;
        let (spilled, in_memory) = self.frontier.shallowest();
        let shallower = match (spilled, in_memory) {
            (Some(s), Some(m)) => s < m,
            (Some(_), None) => true,
            _ => false,
        };
        let n = if memory < want / 2 {
            want - memory
        } else if shallower && (memory < 2 * want || self.frontier.window_full()) {
            (want / 8).max(1)
        } else {
            return;
        };
        if !self.write_changes() {
            return;
        }
        let mut taken = Vec::new();
        let result = match self.journal.as_deref_mut() {
            Some(journal) => journal.unspill(n, &mut |spilled| taken.push(spilled)),
            None => return,
        };
        if let Err(e) = result {
            self.journal_failed(e);
            return;
        }
        if taken.is_empty() {
            // The counts said there were some: never wait for URLs the store does not have.
            self.frontier.forget_spilled();
        }
        for Spilled {
            key,
            url,
            depth,
            referrer,
        } in taken
        {
            if self.frontier.knows(&key) {
                // A shared store's URL this process queued itself meanwhile.
                self.frontier.drop_spilled(depth);
                continue;
            }
            let Some(url) = Url::parse(&url).ok().filter(|u| u.host_str().is_some()) else {
                // Not a URL (the store was edited by hand): counted out, never fetched, and
                // settled in the store (a shared crawl waits for every URL without a record).
                self.frontier.drop_spilled(depth);
                self.frontier.note(Change::Seen { key });
                continue;
            };
            let item = Item {
                host: authority(&url),
                url,
                chain: None,
                referrer: referrer.map(Rc::from),
            };
            self.frontier.unspilled(key, item, depth);
        }
    }

    /// Hands the frontier's changes to the journal (not committed); false if it failed.
    fn write_changes(&mut self) -> bool {
        let Some(journal) = self.journal.as_deref_mut() else {
            return false;
        };
        match journal.write(self.frontier.changes()) {
            Ok(()) => true,
            Err(e) => {
                self.journal_failed(e);
                false
            }
        }
    }

    /// What the store knows of a URL not in memory (after the changes so far are written).
    fn look_up(&mut self, key: Key) -> Option<Lookup> {
        if !self.write_changes() {
            return None;
        }
        match self.journal.as_deref_mut()?.lookup(key) {
            Ok(found) => Some(found),
            Err(e) => {
                self.journal_failed(e);
                None
            }
        }
    }

    /// Lowerings the frontier could not apply in memory: spilled URLs are lowered in the store.
    fn lower_on_disk(&mut self) {
        loop {
            let lowerings = self.frontier.take_disk_lowerings();
            if lowerings.is_empty() {
                return;
            }
            for (key, depth) in lowerings {
                match self.look_up(key) {
                    Some(Lookup::Spilled { depth: old }) => {
                        self.frontier.lower_spilled(key, old, depth);
                    }
                    Some(Lookup::Settled) => self.frontier.cache_settled(key),
                    Some(Lookup::Unknown) | None => {}
                }
            }
        }
    }

    /// The journal cannot take more: the crawl stops as after a stop request, and says why.
    fn journal_failed(&mut self, error: String) {
        if self.summary.state_error.is_none() {
            self.summary.state_error = Some(error);
        }
        self.stopping = true;
        self.leave_to_next_run = true;
        self.journaling = false;
        self.journal = None;
        self.frontier.journal(false);
        self.frontier.changes().clear();
    }

    /// Hands the frontier's changes to the journal, and commits when a batch is due.
    fn sync(&mut self, force: bool) {
        if !self.write_changes() {
            return;
        }
        let Some(journal) = self.journal.as_deref_mut() else {
            return;
        };
        if let Err(e) = journal.commit(force) {
            self.journal_failed(e);
        }
    }

    fn add_seed(&mut self, seed: &str, hooks: &mut Hooks<'_>, offer: bool) {
        if seed.is_empty() {
            return;
        }
        let url = match Url::parse(seed) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host_str().is_some() => url,
            Ok(url) => {
                if offer {
                    let error = format!("unsupported URL scheme {:?}", url.scheme());
                    self.emit_unkeyed(error_record(seed, error), hooks);
                }
                return;
            }
            Err(e) => {
                if offer {
                    self.emit_unkeyed(error_record(seed, format!("invalid URL: {e}")), hooks);
                }
                return;
            }
        };
        if let Some(host) = url.host_str() {
            self.scope.hosts.insert(host.to_ascii_lowercase());
        }
        self.seed_origins.insert(normalize(&url).origin());
        if offer {
            self.offer(normalize(&url), 0, None, hooks);
        }
    }

    /// A record of no URL the frontier knows (a seed that is not a URL).
    fn emit_unkeyed(&mut self, record: Record, hooks: &mut Hooks<'_>) {
        self.frontier.note(Change::Recorded {
            key: None,
            depth: record.depth,
            json: record.to_json(),
        });
        self.emit(record, hooks);
    }

    /// Offers a normalized, in-scope URL at `depth`, then whatever that lowering sets free.
    /// Returns its key unless it is another shard's.
    fn offer(
        &mut self,
        url: Url,
        depth: u32,
        referrer: Option<&Rc<str>>,
        hooks: &mut Hooks<'_>,
    ) -> Option<Key> {
        let first = self.offer_one(url, depth, referrer, hooks);
        while let Some((url, depth, referrer)) = self.reoffer.pop() {
            self.offer_one(url, depth, referrer.as_ref(), hooks);
        }
        self.lower_on_disk();
        first
    }

    fn offer_one(
        &mut self,
        url: Url,
        depth: u32,
        referrer: Option<&Rc<str>>,
        hooks: &mut Hooks<'_>,
    ) -> Option<Key> {
        let k = key_of_normalized(&url);
        if self.frontier.knows(&k) {
            // Most links are known already: no allocation for them.
            self.frontier.lower(k, depth, &mut self.reoffer);
            return Some(k);
        }
        if self.shared
            && !self
                .journal
                .as_deref()
                .is_some_and(|j| j.owns(&authority(&url)))
        {
            // Another process crawls its host: the shared store takes it, and its owner.
            self.frontier.note(Change::Queued {
                key: k,
                url: url.to_string(),
                depth,
                referrer: referrer.cloned(),
                spilled: true,
            });
            return None;
        }
        let spilling = self.journal.is_some();
        if spilling && !self.frontier.complete() {
            match self.look_up(k)? {
                Lookup::Unknown => {}
                Lookup::Settled => {
                    self.frontier.cache_settled(k);
                    return Some(k);
                }
                Lookup::Spilled { depth: old } => {
                    self.frontier.lower_spilled(k, old, depth);
                    return Some(k);
                }
            }
        } else if self.frontier.known() >= self.config.max_frontier {
            // Full: a new URL would grow memory past the bound. Known ones were lowered above.
            self.summary.dropped += 1;
            return None;
        }
        let host = url.host_str()?.to_ascii_lowercase();
        let foreign = self
            .config
            .shard
            .is_some_and(|(i, n)| shard_of(&host, n) != i);
        if foreign {
            // Handed off once: the frontier remembers it as seen.
            (hooks.on_foreign_link)(&url);
        } else if spilling
            && self.frontier.memory_queued()
                >= self.journal.as_deref().map_or(0, |j| j.memory_urls()) as u64
        {
            // Memory holds its window: this one waits in the store.
            self.frontier.spill_new(k, &url, depth, referrer);
            return Some(k);
        }
        let item = Item {
            host: authority(&url),
            url,
            chain: None,
            referrer: referrer.cloned(),
        };
        match self
            .frontier
            .offer(k, item, depth, foreign, &mut self.reoffer)
        {
            Offered::Foreign => None,
            Offered::Queued | Offered::Known => Some(k),
        }
    }

    fn emit(&mut self, record: Record, hooks: &mut Hooks<'_>) {
        self.summary.count(&record);
        (hooks.on_record)(&record);
    }

    /// Writes the records whose depth is final.
    fn flush(&mut self, hooks: &mut Hooks<'_>) {
        if self.summary.state_error.is_some() {
            // The state cannot take them: they are left to the next run.
            return;
        }
        self.lower_on_disk();
        // URLs left to the next run still count: a record deeper than they allow is not final.
        let queued_counts = self.leave_to_next_run || (!self.stopping && self.budget_left());
        let mut released = std::mem::take(&mut self.released);
        self.frontier.release(queued_counts, &mut released);
        for record in released.drain(..) {
            self.emit(record, hooks);
        }
        self.released = released;
    }

    fn budget_left(&self) -> bool {
        self.config.max_pages.is_none_or(|max| self.taken < max)
    }

    fn slots_left(&self) -> bool {
        self.in_flight.len() < self.config.concurrency.max(1)
    }

    /// Starts as many fetches as the limits allow, shallowest depth first, round robin across
    /// hosts within a depth. Returns the earliest time a host held back by `delay` is ready.
    fn dispatch(&mut self, clients: &Clients) -> Option<Instant> {
        let now = now();
        let mut wake_at: Option<Instant> = None;
        // With the window of held records full, only URLs whose records are final at once.
        let deepest = if self.frontier.window_full() {
            self.frontier.unblocking_depth()
        } else {
            u32::MAX
        };
        let mut level = self.frontier.level_from(0);
        while let Some(depth) = level {
            if depth > deepest || !self.slots_left() {
                break;
            }
            for _ in 0..self.frontier.hosts_at(depth) {
                if !self.slots_left() {
                    break;
                }
                let Some(host) = self.frontier.take_host(depth) else {
                    break;
                };
                self.start_from(clients, &host, depth, now, &mut wake_at);
                self.frontier.relist(depth, host);
            }
            level = depth
                .checked_add(1)
                .and_then(|d| self.frontier.level_from(d));
        }
        wake_at
    }

    /// Starts what `host` may start at `depth` now.
    fn start_from(
        &mut self,
        clients: &Clients,
        host: &str,
        depth: u32,
        now: Instant,
        wake_at: &mut Option<Instant>,
    ) {
        loop {
            if !self.slots_left() {
                return;
            }
            if self.shared && !self.journal.as_deref().is_some_and(|j| j.may_fetch(host)) {
                // This process's claim on the host may have run out: another may crawl it.
                return;
            }
            let per_host = self.config.per_host.max(1);
            let budget_left = self.budget_left();
            if !self.hosts.contains_key(host) {
                let next_at = self.kept_wait(host).map_or(now, |wait| later(now, wait));
                let state = Host {
                    in_flight: 0,
                    next_at,
                    robots: Vec::new(),
                };
                self.hosts.insert(host.to_string(), state);
            }
            if self.config.respect_robots
                && self.journal.is_some()
                && let Some(item) = self.frontier.front(host, depth)
            {
                // robots.txt a state kept (from an earlier run, or from before this host left
                // memory) is used as if fetched then.
                let origin = origin_key(&item.url);
                let state = self.hosts.get(host).expect("inserted above");
                if !state.robots.iter().any(|(o, _)| *o == origin)
                    && let Some((robots, left)) = self.kept_robots(host, origin)
                {
                    let until = later(now, left);
                    let state = self.hosts.get_mut(host).expect("inserted above");
                    state
                        .robots
                        .push((origin, RobotsState::Known { robots, until }));
                }
            }
            let state = self.hosts.get_mut(host).expect("inserted above");
            if state.in_flight >= per_host {
                return;
            }
            if state.next_at > now {
                *wake_at = Some(wake_at.map_or(state.next_at, |w| w.min(state.next_at)));
                return;
            }
            let Some(item) = self.frontier.front(host, depth) else {
                return;
            };
            // A new URL needs budget; a later hop of a redirect was taken already.
            if item.chain.is_none() && !budget_left {
                return;
            }
            if self.config.respect_robots {
                let origin = origin_key(&item.url);
                let known = state.robots.iter_mut().find(|(o, _)| *o == origin);
                let refusal = match known {
                    Some((_, RobotsState::Fetching)) => return,
                    Some((_, RobotsState::Known { robots, until })) if now < *until => {
                        robots.refusal(&item.url).map(|r| r.to_string())
                    }
                    _ => {
                        let mut robots_url = item.url.clone();
                        robots_url.set_path("/robots.txt");
                        robots_url.set_query(None);
                        state.robots.retain(|(o, _)| *o != origin);
                        state.robots.push((origin, RobotsState::Fetching));
                        state.in_flight += 1;
                        self.start_robots(clients, host, origin, robots_url);
                        return;
                    }
                };
                if let Some(error) = refusal {
                    // Refused, not fetched: it has its record, but takes nothing of the budget.
                    let (key, item) = self.frontier.take(host, depth).expect("front exists");
                    let mut record = blank_record(&item);
                    record.error = Some(error);
                    self.frontier.settle(key, record, Vec::new(), Vec::new());
                    continue;
                }
            }
            state.in_flight += 1;
            state.next_at = later(now, self.config.delay);
            if !self.config.delay.is_zero() {
                self.frontier.note(Change::HostNext {
                    host: host.to_string(),
                    wait: self.config.delay,
                });
            }
            let (key, item) = self.frontier.take(host, depth).expect("front exists");
            if item.chain.is_none() {
                self.taken += 1;
            }
            self.start_fetch(clients, host, key, item);
        }
    }

    /// Spawns the task that runs `work()` and posts its result (or its panic).
    fn spawn_flight<W: Future<Output = Done> + 'static>(
        &mut self,
        host: &str,
        flight: Flight,
        work: impl FnOnce() -> W + 'static,
    ) {
        let id = self.next_id;
        self.next_id += 1;
        let mailbox = self.mailbox.clone();
        let task = crate::spawn(async move {
            // Boxed, and made inside the task: a fetch's future is several KiB, and the task's
            // future is moved on its way into the executor; this way it is a few words.
            let done = match guard(Box::pin(work())).await {
                Ok(done) => done,
                Err(message) => Done::Panicked { id, message },
            };
            mailbox.push(done);
        });
        let started = now();
        self.in_flight.insert(
            id,
            InFlight {
                flight,
                host: host.to_string(),
                started,
                _task: task,
            },
        );
    }

    fn start_fetch(&mut self, clients: &Clients, host: &str, key: Key, item: Box<Item>) {
        let id = self.next_id;
        let client = match &clients.seeds {
            Some(seeds) if self.seed_origins.contains(&item.url.origin()) => seeds.clone(),
            _ => clients.pages.clone(),
        };
        let config = self.config.clone();
        let fetched_item = item.clone();
        let work = move || async move {
            let fetched = fetch(&client, &config, &fetched_item).await;
            Done::Page {
                id,
                fetched: Box::new(fetched),
            }
        };
        self.spawn_flight(host, Flight::Page { key, item }, work);
    }

    fn start_robots(&mut self, clients: &Clients, host: &str, origin: OriginKey, url: Url) {
        let id = self.next_id;
        let client = clients.robots.clone();
        let agent = self.config.user_agent.clone();
        let retries = self.config.retries;
        let work = move || async move {
            let robots = fetch_robots(&client, &url, &agent, retries).await;
            Done::Robots { id, robots }
        };
        self.spawn_flight(host, Flight::Robots { origin }, work);
    }

    async fn run(
        &mut self,
        clients: &Clients,
        hooks: &mut Hooks<'_>,
        progress: &mut dyn FnMut(&Progress),
        started: Instant,
    ) {
        let mut grace_until: Option<Instant> = None;
        let mut last_progress = now();
        loop {
            if now().saturating_duration_since(last_progress) >= Duration::from_millis(200) {
                last_progress = now();
                progress(&Progress {
                    done: self.summary.records,
                    in_flight: self.in_flight.len(),
                    queued: self.frontier.queued(),
                    errors: self.summary.errors,
                    elapsed: last_progress.saturating_duration_since(started),
                });
            }
            if grace_until.is_none() && hooks.stop.load(Ordering::Relaxed) {
                grace_until = Some(later(now(), self.config.grace));
                self.stopping = true;
                self.summary.interrupted = true;
                self.leave_to_next_run |= self.journaling;
            }
            let wake_at = if self.stopping {
                None
            } else {
                self.poll_shared(false, hooks);
                self.refill();
                self.forget_idle_hosts();
                self.dispatch(clients)
            };
            if self.lost {
                // Nothing of this session's memory can be trusted: its caller starts anew.
                self.abandon_in_flight(hooks);
                return;
            }
            self.flush(hooks);
            let takes_more = !self.stopping && self.frontier.queued() > 0 && self.budget_left();
            let chains_left = !self.stopping && self.frontier.queued_chains() > 0;
            let idle = self.in_flight.is_empty() && !takes_more && !chains_left;
            if idle
                && self.shared
                && !self.stopping
                && self.budget_left()
                && self.others_busy(hooks)
            {
                // The other processes still work: their links may bring this one more.
            } else if idle {
                self.finish(hooks);
                self.sync(true);
                return;
            }
            if let Some(until) = grace_until
                && now() >= until
            {
                self.abandon_in_flight(hooks);
                self.finish(hooks);
                self.sync(true);
                return;
            }
            self.sync(false);
            if self.summary.state_error.is_some() {
                // Nothing fetched from now on could be kept: stop at once.
                self.abandon_in_flight(hooks);
                return;
            }
            // Wait for a result, a host's delay, or (to notice a stop request) 100 ms.
            let mut limit = Duration::from_millis(100);
            let at = now();
            for t in [wake_at, grace_until].into_iter().flatten() {
                limit = limit.min(t.saturating_duration_since(at));
            }
            let mailbox = self.mailbox.clone();
            let _ = timeout(limit, mailbox.ready()).await;
            while let Some(done) = self.mailbox.pop() {
                self.handle(done, hooks);
            }
            // Before the next dispatch, so that a record can stop the crawl (the stop hook).
            self.flush(hooks);
        }
    }

    /// With nothing left here, whether a shared crawl still has URLs without a record: after
    /// this process's last changes are committed, and the store asked again.
    fn others_busy(&mut self, hooks: &mut Hooks<'_>) -> bool {
        self.sync(true);
        self.poll_shared(true, hooks);
        self.journal.is_some()
            && !self.lost
            && (self.others.min_unfetched.is_some() || self.others.waiting.is_some())
    }

    /// The crawl takes nothing more: redirect hops still queued are recorded as they stand,
    /// and every held record is written.
    fn finish(&mut self, hooks: &mut Hooks<'_>) {
        self.stopping = true;
        if self.leave_to_next_run {
            // The chains start again from their first URL, which has no record yet.
            self.flush(hooks);
            return;
        }
        for (key, item) in self.frontier.take_chains() {
            let mut record = blank_record(&item);
            record.error = Some(INTERRUPTED_REDIRECT.into());
            self.frontier.settle(key, record, Vec::new(), Vec::new());
        }
        self.flush(hooks);
    }

    fn handle(&mut self, done: Done, hooks: &mut Hooks<'_>) {
        let id = match &done {
            Done::Page { id, .. } | Done::Panicked { id, .. } | Done::Robots { id, .. } => *id,
        };
        let Some(flight) = self.in_flight.remove(&id) else {
            return;
        };
        let host = self.hosts.get_mut(&flight.host);
        if let Some(host) = host {
            host.in_flight -= 1;
        }
        match (flight.flight, done) {
            (Flight::Robots { origin }, Done::Robots { robots, .. }) => {
                self.known_robots(&flight.host, origin, robots);
            }
            (Flight::Robots { origin }, Done::Panicked { message, .. }) => {
                let robots = Robots::Unreachable(format!("internal error: {message}"));
                self.known_robots(&flight.host, origin, robots);
            }
            (Flight::Page { key, item }, Done::Page { fetched, .. }) => {
                self.latency
                    .add(now().saturating_duration_since(flight.started));
                match *fetched {
                    Fetched::Page { record, links } => self.settle_page(key, record, links, hooks),
                    Fetched::Redirect {
                        record,
                        next,
                        links,
                    } => {
                        let hop = Hop {
                            key,
                            item: &item,
                            started: flight.started,
                        };
                        self.redirected(hop, record, next, links, hooks);
                    }
                }
            }
            (Flight::Page { key, item }, Done::Panicked { message, .. }) => {
                let mut record = blank_record(&item);
                record.error = Some(format!("internal error: the fetch panicked: {message}"));
                self.frontier.settle(key, record, Vec::new(), Vec::new());
            }
            (Flight::Page { .. }, Done::Robots { .. })
            | (Flight::Robots { .. }, Done::Page { .. }) => {
                unreachable!("a flight's id names its kind")
            }
        }
    }

    fn known_robots(&mut self, host: &str, origin: OriginKey, robots: Robots) {
        self.frontier.note(Change::Robots {
            origin: origin_text(host, origin),
            rules: robots.to_bytes(),
        });
        if let Some(state) = self.hosts.get_mut(host) {
            state.robots.retain(|(o, _)| *o != origin);
            let until = later(now(), ROBOTS_TTL);
            state
                .robots
                .push((origin, RobotsState::Known { robots, until }));
        }
    }

    /// robots.txt of an origin as the state keeps it, if it is younger than [`ROBOTS_TTL`]:
    /// the rules, and how long they still hold.
    fn kept_robots(&mut self, host: &str, origin: OriginKey) -> Option<(Robots, Duration)> {
        if !self.write_changes() {
            return None;
        }
        let kept = self
            .journal
            .as_deref_mut()?
            .robots(&origin_text(host, origin));
        match kept {
            Ok(Some((bytes, age))) if age < ROBOTS_TTL => {
                Some((Robots::from_bytes(&bytes)?, ROBOTS_TTL - age))
            }
            Ok(_) => None,
            Err(e) => {
                self.journal_failed(e);
                None
            }
        }
    }

    /// How long the state says `host` must still wait before its next fetch (`--delay`).
    fn kept_wait(&mut self, host: &str) -> Option<Duration> {
        if self.config.delay.is_zero() || !self.write_changes() {
            return None;
        }
        match self.journal.as_deref_mut()?.host_wait(host) {
            Ok(wait) => wait,
            Err(e) => {
                self.journal_failed(e);
                None
            }
        }
    }

    /// With a state, hosts with nothing in flight, no delay to wait out and no robots.txt being
    /// fetched leave memory once there are many (their robots.txt and delay are in the state).
    fn forget_idle_hosts(&mut self) {
        if self.journal.is_none() || self.hosts.len() <= self.hosts_limit {
            return;
        }
        let now = now();
        self.hosts.retain(|_, h| {
            h.in_flight > 0
                || h.next_at > now
                || h.robots
                    .iter()
                    .any(|(_, r)| matches!(r, RobotsState::Fetching))
        });
        self.hosts_limit = (2 * self.hosts.len()).max(HOSTS_IN_MEMORY);
    }

    /// A fetched page: offer its links (or keep them, at the depth limit) and hold its record.
    fn settle_page(&mut self, key: Key, record: Record, links: Vec<Url>, hooks: &mut Hooks<'_>) {
        let depth = self.frontier.depth(&key).unwrap_or(record.depth);
        let mut keys = Vec::new();
        let mut cut = Vec::new();
        // The page its links were found on: where the redirects ended, if they moved it.
        let page: Rc<str> = record.final_url.as_deref().unwrap_or(&record.url).into();
        for link in links {
            let url = normalize(&link);
            if !self.scope.allows(&url) || !self.config.wants_url(url.as_str()) {
                continue;
            }
            if depth < self.config.max_depth {
                if let Some(k) = self.offer(url, depth + 1, Some(&page), hooks) {
                    keys.push(k);
                }
            } else {
                cut.push(url);
            }
        }
        self.frontier.settle(key, record, keys, cut);
    }

    /// A redirect came back: its target is checked like a link (scope, shard, visited set;
    /// robots.txt and politeness when the hop is dispatched) before it is fetched.
    fn redirected(
        &mut self,
        hop: Hop<'_>,
        mut record: Record,
        next: Url,
        links: Vec<Url>,
        hooks: &mut Hooks<'_>,
    ) {
        let Hop { key, item, started } = hop;
        let depth = self.frontier.depth(&key).unwrap_or(0);
        let host = next.host_str().map(str::to_ascii_lowercase);
        // The hops from a seed are not filtered by URL, as the seed is not.
        let wanted = depth == 0 || self.config.wants_url(next.as_str());
        let Some(host) = host.filter(|_| wanted && self.scope.allows(&next)) else {
            // Not followed: the redirect response itself is the page.
            self.settle_page(key, record, links, hooks);
            return;
        };
        let next_key = key_of_normalized(&next);
        // A target the store holds (recorded, or waiting there) is known, as one in memory.
        let in_store = if self.journal.is_some()
            && !self.frontier.complete()
            && !self.frontier.knows(&next_key)
        {
            match self.look_up(next_key) {
                Some(Lookup::Settled) => {
                    self.frontier.cache_settled(next_key);
                    true
                }
                Some(Lookup::Spilled { depth: old }) => {
                    self.frontier.lower_spilled(next_key, old, depth);
                    true
                }
                Some(Lookup::Unknown) | None => false,
            }
        } else {
            false
        };
        let claimed = !in_store && self.frontier.claim(next_key, depth, &mut self.reoffer);
        while let Some((url, d, referrer)) = self.reoffer.pop() {
            self.offer_one(url, d, referrer.as_ref(), hooks);
        }
        self.lower_on_disk();
        let foreign = self
            .config
            .shard
            .is_some_and(|(i, n)| shard_of(&host, n) != i);
        if claimed && foreign {
            (hooks.on_foreign_link)(&next);
            self.frontier.note(Change::Seen { key: next_key });
        }
        // Stopping, a chain is recorded as interrupted; or, left to the next run, it stays
        // queued (never dispatched now) and its first URL is fetched again.
        if !claimed || foreign || (self.stopping && !self.leave_to_next_run) {
            // Already taken, or another's: the record names the target, which is not fetched
            // again here.
            record.redirects += 1;
            record.final_url = Some(next.to_string());
            if self.stopping && claimed && !foreign {
                record.error = Some(INTERRUPTED_REDIRECT.into());
            }
            self.frontier.settle(key, record, Vec::new(), Vec::new());
            return;
        }
        self.frontier.claimed_by(key, next_key);
        let chain = match &item.chain {
            Some(chain) => Chain {
                first_url: chain.first_url.clone(),
                redirects: chain.redirects + 1,
                started: chain.started,
            },
            None => Chain {
                first_url: record.url.clone(),
                redirects: 1,
                started,
            },
        };
        let hop = Item {
            host: authority(&next),
            url: next,
            referrer: item.referrer.clone(),
            chain: Some(Box::new(chain)),
        };
        self.frontier.requeue(key, hop);
    }

    /// The grace period is over: every fetch still running ends with an "interrupted" record.
    fn abandon_in_flight(&mut self, hooks: &mut Hooks<'_>) {
        if self.leave_to_next_run {
            // Cancelled without a record: the next run fetches them again. They stay in flight
            // for the frontier, so that no deeper record counts as final.
            self.in_flight.clear();
            return;
        }
        let mut flights: Vec<(u64, InFlight)> = self.in_flight.drain().collect();
        flights.sort_by_key(|(id, _)| *id);
        for (_, flight) in flights {
            // Dropping the task handle cancels the fetch.
            let Flight::Page { key, item } = flight.flight else {
                continue;
            };
            let mut record = blank_record(&item);
            record.error = Some(INTERRUPTED.into());
            record.elapsed_ms = now().saturating_duration_since(flight.started).as_millis() as u64;
            record.depth = self.frontier.depth(&key).unwrap_or(0);
            self.frontier.drop_in_flight(key);
            self.emit(record, hooks);
        }
    }
}

const INTERRUPTED: &str = "interrupted: the crawl was stopped before this fetch finished";
const INTERRUPTED_REDIRECT: &str =
    "interrupted: the crawl was stopped before this redirect was followed";

fn error_record(url: &str, error: String) -> Record {
    Record {
        url: url.to_string(),
        error: Some(error),
        ..Record::default()
    }
}

/// Runs `future`, turning a panic in it into `Err` with the panic's message.
async fn guard<T>(future: impl Future<Output = T>) -> Result<T, String> {
    let mut future = pin!(future);
    std::future::poll_fn(move |cx| {
        match catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx))) {
            Ok(Poll::Ready(value)) => Poll::Ready(Ok(value)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => {
                let message = payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic without a message".into());
                Poll::Ready(Err(message))
            }
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_future_becomes_its_message() {
        let result: Result<(), String> = crate::block_on(guard(async { panic!("boom") }));
        assert_eq!(result, Err("boom".to_string()));
        assert_eq!(crate::block_on(guard(async { 7 })), Ok(7));
    }

    /// A fetch task that panics (a bug in a parser, say) ends as an error record for its URL,
    /// and the crawl goes on with the next.
    #[test]
    fn a_panicking_fetch_becomes_an_error_record() {
        use std::cell::RefCell;
        use std::sync::Arc;
        use std::sync::atomic::AtomicBool;

        let records = RefCell::new(Vec::new());
        crate::block_on(async {
            let config = Config {
                respect_robots: false,
                ..Config::default()
            };
            let mut hooks = Hooks {
                on_record: Box::new(|r: &Record| records.borrow_mut().push(r.clone())),
                on_foreign_link: Box::new(|_| {}),
                stop: Arc::new(AtomicBool::new(false)),
            };
            let mut crawl = Crawl::new(&config, None);
            crawl.add_seed("http://h.invalid/", &mut hooks, true);
            let (key, item) = crawl.frontier.take("h.invalid", 0).expect("queued");
            crawl.hosts.insert(
                "h.invalid".into(),
                Host {
                    in_flight: 1,
                    next_at: now(),
                    robots: Vec::new(),
                },
            );
            let flight = Flight::Page { key, item };
            crawl.spawn_flight("h.invalid", flight, || async {
                panic!("boom");
                #[allow(unreachable_code)]
                Done::Robots {
                    id: 0,
                    robots: Robots::AllowAll,
                }
            });
            let mailbox = crawl.mailbox.clone();
            mailbox.ready().await;
            while let Some(done) = mailbox.pop() {
                crawl.handle(done, &mut hooks);
            }
            crawl.finish(&mut hooks);
            assert!(crawl.in_flight.is_empty());
            assert_eq!(crawl.summary.errors, 1);
        });
        let records = records.into_inner();
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].url, "http://h.invalid/");
        assert_eq!(
            records[0].error.as_deref(),
            Some("internal error: the fetch panicked: boom")
        );
    }

    /// A journal that cannot be written (a full or read-only disk) stops the crawl, which ends
    /// with the reason in its summary instead of going on without a state.
    #[test]
    fn a_failing_journal_stops_the_crawl_with_its_error() {
        use std::sync::Arc;
        use std::sync::atomic::AtomicBool;

        struct Full;
        impl Journal for Full {
            fn write(&mut self, _: &mut Vec<Change>) -> Result<(), String> {
                Err("database or disk is full".into())
            }
            fn commit(&mut self, _: bool) -> Result<(), String> {
                Ok(())
            }
            fn resuming(&self) -> bool {
                false
            }
            fn memory_urls(&self) -> usize {
                10
            }
            fn resume(&mut self) -> Result<Vec<(u32, u64)>, String> {
                Ok(Vec::new())
            }
            fn lookup(&mut self, _: Key) -> Result<Lookup, String> {
                Ok(Lookup::Unknown)
            }
            fn unspill(&mut self, _: usize, _: &mut dyn FnMut(Spilled)) -> Result<(), String> {
                Ok(())
            }
            fn robots(&mut self, _: &str) -> Result<Option<(Vec<u8>, Duration)>, String> {
                Ok(None)
            }
            fn host_wait(&mut self, _: &str) -> Result<Option<Duration>, String> {
                Ok(None)
            }
        }
        let config = Config {
            respect_robots: false,
            ..Config::default()
        };
        let records = std::cell::Cell::new(0);
        let hooks = Hooks {
            on_record: Box::new(|_: &Record| records.set(records.get() + 1)),
            on_foreign_link: Box::new(|_| {}),
            stop: Arc::new(AtomicBool::new(false)),
        };
        let mut journal = Full;
        // Nothing listens on port 9 of 127.0.0.1 in a test: the fetch fails fast, if it starts.
        let seeds = ["http://127.0.0.1:9/".to_string()];
        let summary =
            crate::block_on(run_crawl(&config, seeds, hooks, |_| {}, Some(&mut journal))).unwrap();
        assert_eq!(
            summary.state_error.as_deref(),
            Some("database or disk is full")
        );
        assert_eq!(
            records.get(),
            0,
            "the seed is left to the next run, without a record"
        );
    }

    #[test]
    fn later_saturates_instead_of_panicking() {
        let t = Instant::now();
        assert!(later(t, Duration::MAX) > t + Duration::from_secs(1_000_000));
        assert_eq!(later(t, Duration::from_secs(1)), t + Duration::from_secs(1));
    }
}
