//! What a crawl tells a durable store as it goes, so that a later run can go on where it
//! stopped, and where the URLs it has no room for in memory wait: the interface between the
//! engine and a store such as [`State`](super::state).
//!
//! The engine stays in charge; the journal hears of its decisions, in batches
//! ([`Journal::write`]), and makes them durable now and then ([`Journal::commit`], about every
//! 100 ms: a commit per record would cost more than the fetch). What a store holds after a
//! commit is enough to resume:
//!
//! - every URL the crawl knows that has no record yet, with its depth (tentative: only ever
//!   lowered) and the page it was found on: fetched by this run or the next;
//! - every URL whose record was written: never fetched again;
//! - URLs handed to another shard: not handed off twice.
//!
//! A URL in flight, or fetched with its record still held back (its depth not final), has no
//! record in the store: after a crash or a stop it is fetched again, which costs one request and
//! keeps "one record per URL" true across runs.
//!
//! # Memory
//!
//! With a journal, the store is also the frontier's back room. The frontier keeps in memory
//! only a window of the URLs to fetch (about [`Journal::memory_urls`], the shallowest), the URLs
//! in flight or held, and a bounded cache of recorded keys; every other URL is *spilled*: the
//! store has it, and the frontier only counts it by depth (the counts keep depths exact, see
//! the frontier). A link not in memory is looked up in the store ([`Journal::lookup`]), and the
//! window is refilled from it, shallowest first ([`Journal::unspill`]).

use std::rc::Rc;
use std::time::Duration;

use super::config::Config;
use super::normalize::Key;

/// One decision of the engine, in the order it was made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Change {
    /// A new URL to fetch (`url` normalized); `spilled`: it waits in the store, not in memory.
    Queued {
        key: Key,
        url: String,
        depth: u32,
        referrer: Option<Rc<str>>,
        spilled: bool,
    },
    /// A known URL without a record got a shorter path.
    Lowered { key: Key, depth: u32 },
    /// Seen, never to be fetched here: a new URL of another shard (handed off), or the URL a
    /// recorded redirect chain ended at (fetched under the chain's first URL).
    Seen { key: Key },
    /// robots.txt of an origin was fetched: what it says, as `Robots::to_bytes` writes it.
    Robots { origin: String, rules: Vec<u8> },
    /// A host may be fetched again in `wait` from now (`--delay`).
    HostNext { host: String, wait: Duration },
    /// A record was written: its JSON line (`key` is `None` for a seed that is not a URL).
    Recorded {
        key: Option<Key>,
        depth: u32,
        json: String,
    },
}

/// A spilled URL, as the store gives it back to the frontier.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Spilled {
    pub key: Key,
    pub url: String,
    pub depth: u32,
    pub referrer: Option<String>,
}

/// What the store knows of a URL the frontier does not hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lookup {
    Unknown,
    /// Recorded, or seen: final.
    Settled,
    /// To fetch, waiting in the store at this (tentative) depth.
    Spilled {
        depth: u32,
    },
}

/// A durable store of a crawl's decisions (see the module documentation). Reads see every
/// change written before them, committed or not.
pub(crate) trait Journal {
    /// Takes the changes into the store's current batch (not yet durable).
    fn write(&mut self, changes: &mut Vec<Change>) -> Result<(), String>;

    /// Makes everything written so far durable, if the batch is due (`force`: now).
    fn commit(&mut self, force: bool) -> Result<(), String>;

    /// Whether the store holds a crawl already (the run resumes it: no seeding).
    fn resuming(&self) -> bool;

    /// About how many URLs to fetch the frontier keeps in memory.
    fn memory_urls(&self) -> usize;

    /// At the start of a resumed crawl: every URL without a record is spilled (the last run's
    /// memory is gone); returns how many there are at each depth.
    fn resume(&mut self) -> Result<Vec<(u32, u64)>, String>;

    /// What the store knows of `key`.
    fn lookup(&mut self, key: Key) -> Result<Lookup, String>;

    /// Takes up to `n` spilled URLs back into memory, shallowest first, then oldest.
    fn unspill(&mut self, n: usize, each: &mut dyn FnMut(Spilled)) -> Result<(), String>;

    /// robots.txt of `origin` as kept ([`Change::Robots`]), and how long ago it was fetched.
    fn robots(&mut self, origin: &str) -> Result<Option<(Vec<u8>, Duration)>, String>;

    /// How long from now `host` must still wait, as kept ([`Change::HostNext`]).
    fn host_wait(&mut self, host: &str) -> Result<Option<Duration>, String>;

    /// A store shared by several processes: what the others did (`force`: ask now, not at
    /// the store's own pace). `None` for a store of this process alone.
    fn poll(&mut self, _force: bool) -> Result<Option<Shared>, String> {
        Ok(None)
    }

    /// URLs this process holds whose depth another process lowered (it found a shorter path),
    /// since the last call: taken after each [`Journal::poll`].
    fn lowered(&mut self) -> Vec<(Key, u32)> {
        Vec::new()
    }

    /// Whether this process crawls `host` (a politeness key, see [`authority`]): a shared
    /// store gives each host to one process at a time; the others only queue its URLs.
    ///
    /// [`authority`]: super::shard::authority
    fn owns(&self, _host: &str) -> bool {
        true
    }

    /// Whether a fetch of `host` may start now: false once this process's claim on it may
    /// have run out (another process may be crawling it).
    fn may_fetch(&self, _host: &str) -> bool {
        true
    }
}

/// What a shared store says of the crawl beyond this process ([`Journal::poll`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Shared {
    /// The shallowest depth of a URL without a record in the store that this process does
    /// not hold (its own it counts itself): the other processes' URLs to fetch, in flight,
    /// or fetched with their records not committed yet.
    pub min_unfetched: Option<u32>,
    /// A URL of this process's partitions waits in the store (not in memory), at this depth
    /// at the least.
    pub waiting: Option<u32>,
    /// This process lost a partition it was crawling: its session must end and start again.
    pub lost: bool,
}

/// The options that change what a crawl is, by the command line's names, with their values in
/// a stable text form. Resuming with any of them changed is refused (see `State::check`, `SharedState::check`).
pub(crate) fn meaning(config: &Config, seeds: &[String]) -> Vec<(&'static str, String)> {
    let list = |items: Vec<String>| items.join("\n");
    let patterns =
        |p: &[super::UrlPattern]| list(p.iter().map(|p| p.as_str().to_string()).collect());
    vec![
        ("seeds", list(seeds.to_vec())),
        ("--depth", config.max_depth.to_string()),
        (
            "--same-host/--any-host",
            if config.same_host {
                "--same-host"
            } else {
                "--any-host"
            }
            .to_string(),
        ),
        ("--allow-host", list(config.allow_hosts.clone())),
        ("--accept-regex", patterns(&config.accept_urls)),
        ("--reject-regex", patterns(&config.reject_urls)),
        ("--accept-type", list(config.accept_types.clone())),
        ("--reject-type", list(config.reject_types.clone())),
        (
            "--shard",
            config
                .shard
                .map_or(String::new(), |(i, n)| format!("{i}/{n}")),
        ),
        (
            "--ignore-robots",
            if config.respect_robots { "no" } else { "yes" }.to_string(),
        ),
    ]
}

/// An option's stored value as a refusal shows it: one line, "none" when empty.
pub(crate) fn shown(value: &str) -> String {
    if value.is_empty() {
        "none".to_string()
    } else {
        value.replace('\n', " ")
    }
}
