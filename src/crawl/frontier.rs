//! The frontier: every URL the crawl knows, the queues it is fetched from, and the window of
//! records held back until their depth is final.
//!
//! # Why records wait
//!
//! Fetches finish in any order, and the dispatcher never waits for a level to finish before
//! starting the next (one slow URL would hold up the whole crawl). So a page can be fetched
//! through a long path while a shorter one is still unknown, behind a slow fetch. Every URL
//! therefore has a *tentative* depth, which only goes down: when a shorter path shows up, the
//! URL moves to the shallower queue (if it is still queued), or its record and its links are
//! lowered with it (if it was already fetched). A fetched URL's record is written only once its
//! depth is final, which this module decides with one rule:
//!
//! > A fetched URL of tentative depth `k` has its final depth once no URL of tentative depth
//! > `k - 2` or less is still unfetched (queued or in flight).
//!
//! Why: a shorter path `seed .. q -> u` has `q` at depth at most `k - 2`. Take the first node on
//! that path that is not fetched yet; every node before it was fetched with its right depth and
//! offered its links, so that node is queued or in flight at its right depth, at most `k - 2`.
//! If there is none, every such path was already explored and `u` would have depth below `k`.
//!
//! Links of a page at the depth limit are not offered, but kept with the held record: if the
//! page is lowered they are offered then, so `--depth N` fetches exactly the URLs within `N`
//! hops. The held records are bounded by [`PENDING_BYTES`]; when the window is full the engine
//! only starts URLs whose records can be written at once (see [`Frontier::window_full`]).
//!
//! # Queues
//!
//! Each host has a FIFO queue per depth, holding [`Key`]s; the URL itself lives in the key's
//! entry while it is queued. Moving a URL to a shallower queue pushes its key again and leaves
//! the old copy behind, recognised as stale (its entry's depth or stage no longer match) and
//! skipped when it comes up. A list per depth names the hosts with work at that depth, so the
//! engine starts the shallowest URL first, round robin across hosts within a depth.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::rc::Rc;
use std::time::Instant;

use url::Url;

use super::journal::Change;
use super::normalize::Key;
use super::record::Record;

/// The most memory (estimated) held by records waiting for their depth to be final.
pub(crate) const PENDING_BYTES: usize = 32 * 1024 * 1024;

/// A URL to fetch: a link, a seed, or the next hop of a redirect chain.
#[derive(Clone, Debug)]
pub(crate) struct Item {
    /// What to request now.
    pub url: Url,
    /// The queue and politeness the request belongs to: the lowercase host, with the port
    /// when it is not the scheme's default.
    pub host: String,
    /// Set when this is a later hop of a redirect chain.
    pub chain: Option<Box<Chain>>,
    /// The page where the URL was first found (`None` for a seed); shared by its links.
    pub referrer: Option<Rc<str>>,
}

/// Links to offer again because a held page was lowered: URL, depth, the page they are on.
pub(crate) type Reoffer = Vec<(Url, u32, Option<Rc<str>>)>;

/// Where a redirect chain started: the record keeps the first URL and the whole chain's time.
#[derive(Clone, Debug)]
pub(crate) struct Chain {
    pub first_url: String,
    pub redirects: u32,
    pub started: Instant,
}

impl Item {
    /// The URL the record is about (the first of a redirect chain).
    pub fn record_url(&self) -> &str {
        match &self.chain {
            Some(chain) => &chain.first_url,
            None => self.url.as_str(),
        }
    }
}

enum Stage {
    /// On a host queue at the entry's depth; the URL lives here until it is taken.
    Queued(Box<Item>),
    InFlight,
    /// Fetched (or refused); its record waits in `pending`.
    Pending,
    /// Recorded, or never to be fetched here (another shard's, a redirect target).
    Done,
}

struct Entry {
    /// Tentative until the record is written; only ever lowered.
    depth: u32,
    stage: Stage,
}

struct Held {
    record: Record,
    /// Keys of the links this page offered, to lower them with it.
    links: Vec<Key>,
    /// Links not offered because the page was at the depth limit (normalized, in scope).
    cut: Vec<Url>,
    bytes: usize,
}

#[derive(Default)]
struct HostQueue {
    /// Per depth: keys in arrival order, and whether the host is on `levels` for that depth.
    by_depth: BTreeMap<u32, (VecDeque<Key>, bool)>,
}

/// What [`Frontier::offer`] did with a URL.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Offered {
    /// New: queued at the given depth.
    Queued,
    /// Known already (its depth was lowered if this path is shorter).
    Known,
    /// New and another shard's: marked seen, not queued.
    Foreign,
}

#[derive(Default)]
pub(crate) struct Frontier {
    entries: HashMap<Key, Entry>,
    hosts: HashMap<String, HostQueue>,
    /// Per depth, the hosts whose queue at that depth may hold a key (round robin order).
    levels: BTreeMap<u32, VecDeque<String>>,
    /// Unfetched URLs per depth: queued, and in flight. No zero counts are kept.
    queued_at: BTreeMap<u32, u64>,
    in_flight_at: BTreeMap<u32, u64>,
    /// Queued later hops of redirect chains, per depth (also in `queued_at`). Their URLs were
    /// taken already, so they are fetched whatever the page budget, and always recorded.
    chains_at: BTreeMap<u32, u64>,
    queued: u64,
    held: HashMap<Key, Held>,
    /// Per depth, keys of held records (a lowered record leaves a stale key behind).
    held_at: BTreeMap<u32, Vec<Key>>,
    held_bytes: usize,
    max_depth: u32,
    /// With a journal (`--state`): what changed since the engine last took [`Frontier::changes`].
    journaling: bool,
    changes: Vec<Change>,
    /// With a journal that holds what memory does not (see `journal.rs`): URLs to fetch that
    /// wait in the store, counted by depth (they count as unfetched, like `queued_at`).
    spilling: bool,
    spilled_at: BTreeMap<u32, u64>,
    spilled: u64,
    /// Recorded keys dropped from `entries` (the store has them), a bounded cache: oldest out.
    settled: HashSet<Key>,
    settled_order: VecDeque<Key>,
    /// Lowerings of URLs not in memory, for the engine to take to the store.
    disk_lowerings: Vec<(Key, u32)>,
    /// Some URL the store has is not in memory (one was spilled, or left the cache, or the
    /// crawl was resumed): only then can a link unknown here be known there.
    incomplete: bool,
    /// Per redirect chain (by its first URL's key), the URLs it was followed to
    /// ([`Frontier::claim`]): they are settled with the chain's record.
    chain_claims: HashMap<Key, Vec<Key>>,
    /// With a store shared by other processes: the shallowest depth of a URL without a record
    /// there (theirs are unfetched for this frontier too).
    external_min: Option<u32>,
}

/// Recorded keys a spilling frontier remembers without asking the store.
const SETTLED_CACHE: usize = 100_000;

fn add(counts: &mut BTreeMap<u32, u64>, depth: u32) {
    *counts.entry(depth).or_insert(0) += 1;
}

fn sub(counts: &mut BTreeMap<u32, u64>, depth: u32) {
    if let Some(n) = counts.get_mut(&depth) {
        *n -= 1;
        if *n == 0 {
            counts.remove(&depth);
        }
    }
}

impl Frontier {
    pub fn new(max_depth: u32) -> Frontier {
        Frontier {
            max_depth,
            ..Frontier::default()
        }
    }

    /// From now on, note every change a journal needs (see [`Change`]).
    pub fn journal(&mut self, on: bool) {
        self.journaling = on;
    }

    /// The changes noted since the last call, oldest first.
    pub fn changes(&mut self) -> &mut Vec<Change> {
        &mut self.changes
    }

    /// Notes a change made outside the frontier (a record without a key), in order.
    pub fn note(&mut self, change: Change) {
        if self.journaling {
            self.changes.push(change);
        }
    }

    /// From now on, keep only a window of the URLs to fetch in memory: the others are spilled
    /// to the journal's store, and a recorded URL leaves memory for a bounded cache.
    pub fn spill(&mut self) {
        self.spilling = true;
    }

    /// Whether the URL is known here (in memory, or in the cache of recorded keys). A spilling
    /// frontier may not know a URL the store has.
    pub fn knows(&self, key: &Key) -> bool {
        self.entries.contains_key(key) || self.settled.contains(key)
    }

    /// Remembers a key the store says is recorded.
    pub fn cache_settled(&mut self, key: Key) {
        if self.settled.len() >= SETTLED_CACHE
            && let Some(old) = self.settled_order.pop_front()
        {
            self.settled.remove(&old);
            self.incomplete = true;
        }
        if self.settled.insert(key) {
            self.settled_order.push_back(key);
        }
    }

    /// What a shared store says is the shallowest URL without a record in any process.
    pub fn set_external_min(&mut self, depth: Option<u32>) {
        self.external_min = depth;
    }

    /// The store has URLs memory does not (a resumed crawl's).
    pub fn mark_incomplete(&mut self) {
        self.incomplete = true;
    }

    /// Whether memory knows every URL the store has, so that a link unknown here is new.
    pub fn complete(&self) -> bool {
        !self.incomplete
    }

    /// URLs to fetch held in memory (spilled ones not counted).
    pub fn memory_queued(&self) -> u64 {
        self.queued
    }

    /// URLs to fetch that wait in the store.
    pub fn spilled(&self) -> u64 {
        self.spilled
    }

    /// The shallowest depth of a spilled URL, and of a URL to fetch in memory.
    pub fn shallowest(&self) -> (Option<u32>, Option<u32>) {
        let first = |m: &BTreeMap<u32, u64>| m.keys().next().copied();
        (first(&self.spilled_at), first(&self.queued_at))
    }

    /// A new URL that goes to the store, not to memory.
    pub fn spill_new(&mut self, key: Key, url: &Url, depth: u32, referrer: Option<&Rc<str>>) {
        self.changes.push(Change::Queued {
            key,
            url: url.to_string(),
            depth,
            referrer: referrer.cloned(),
            spilled: true,
        });
        self.add_spilled(depth, 1);
    }

    /// Counts `n` URLs the store holds at `depth` (a resumed crawl's, at its start).
    pub fn add_spilled(&mut self, depth: u32, n: u64) {
        *self.spilled_at.entry(depth).or_insert(0) += n;
        self.spilled += n;
        self.incomplete = true;
    }

    /// A spilled URL got a shorter path: the store was told ([`Change::Lowered`]).
    pub fn lower_spilled(&mut self, key: Key, from: u32, to: u32) {
        if to < from {
            sub(&mut self.spilled_at, from);
            add(&mut self.spilled_at, to);
            self.changes.push(Change::Lowered { key, depth: to });
        }
    }

    /// Lowerings of URLs that are not in memory, for the engine to look up in the store.
    pub fn take_disk_lowerings(&mut self) -> Vec<(Key, u32)> {
        std::mem::take(&mut self.disk_lowerings)
    }

    /// The store has no spilled URL left, whatever the counts say.
    pub fn forget_spilled(&mut self) {
        self.spilled_at.clear();
        self.spilled = 0;
    }

    /// A spilled URL the store gave back that cannot be fetched: no longer counted.
    pub fn drop_spilled(&mut self, depth: u32) {
        if self.spilled > 0 {
            sub(&mut self.spilled_at, depth);
            self.spilled -= 1;
        }
    }

    /// A spilled URL the store gave back: queued in memory (the store knows it is). The
    /// counts may say fewer than the store has (a shared store's grow with the other
    /// processes' links): the store's word counts.
    pub fn unspilled(&mut self, key: Key, item: Item, depth: u32) {
        if self.spilled > 0 {
            sub(&mut self.spilled_at, depth);
            self.spilled -= 1;
        }
        let journaling = std::mem::replace(&mut self.journaling, false);
        let mut reoffer = Vec::new();
        self.offer(key, item, depth, false, &mut reoffer);
        self.journaling = journaling;
    }

    /// URLs waiting to be fetched: on a queue in memory (stale copies not counted) or
    /// spilled to the store.
    pub fn queued(&self) -> u64 {
        self.queued + self.spilled
    }

    /// URLs known: queued, in flight, fetched, or seen only (another shard's, a redirect's).
    pub fn known(&self) -> u64 {
        self.entries.len() as u64
    }

    /// The tentative depth of a known URL.
    pub fn depth(&self, key: &Key) -> Option<u32> {
        self.entries.get(key).map(|e| e.depth)
    }

    /// Offers a (normalized) URL found at `depth`. A new URL is queued, or with `foreign` only
    /// marked seen; a known one is lowered to `depth` if that is shallower. Returns what
    /// happened, and adds to `reoffer` the links to offer because a held page was lowered.
    pub fn offer(
        &mut self,
        key: Key,
        item: Item,
        depth: u32,
        foreign: bool,
        reoffer: &mut Reoffer,
    ) -> Offered {
        if self.entries.contains_key(&key) {
            self.lower(key, depth, reoffer);
            return Offered::Known;
        }
        if foreign {
            let stage = Stage::Done;
            self.entries.insert(key, Entry { depth, stage });
            self.note(Change::Seen { key });
            return Offered::Foreign;
        }
        if self.journaling {
            self.changes.push(Change::Queued {
                key,
                url: item.url.to_string(),
                depth,
                referrer: item.referrer.clone(),
                spilled: false,
            });
        }
        self.enqueue(key, &item.host, depth, false);
        let stage = Stage::Queued(Box::new(item));
        self.entries.insert(key, Entry { depth, stage });
        Offered::Queued
    }

    /// Marks a URL seen without queueing it (the target of a redirect chain that goes on under
    /// its first URL). False if it was known: then it is only lowered.
    pub fn claim(&mut self, key: Key, depth: u32, reoffer: &mut Reoffer) -> bool {
        if self.settled.contains(&key) {
            return false;
        }
        if self.entries.contains_key(&key) {
            self.lower(key, depth, reoffer);
            return false;
        }
        let stage = Stage::Done;
        self.entries.insert(key, Entry { depth, stage });
        true
    }

    /// The redirect chain of `chain` (its first URL's key) is followed to `target`, which
    /// [`Frontier::claim`] took: settled with the chain's record.
    pub fn claimed_by(&mut self, chain: Key, target: Key) {
        self.chain_claims.entry(chain).or_default().push(target);
    }

    /// Puts `key` on `host`'s queue at `depth`: at the back, or at the front for a redirect's
    /// next hop (its URL was taken already; finishing it comes first).
    fn enqueue(&mut self, key: Key, host: &str, depth: u32, chain: bool) {
        if !self.hosts.contains_key(host) {
            self.hosts.insert(host.to_string(), HostQueue::default());
        }
        let queue = self.hosts.get_mut(host).expect("inserted above");
        let (keys, listed) = queue.by_depth.entry(depth).or_default();
        if chain {
            keys.push_front(key);
            add(&mut self.chains_at, depth);
        } else {
            keys.push_back(key);
        }
        if !*listed {
            *listed = true;
            self.levels
                .entry(depth)
                .or_default()
                .push_back(host.to_string());
        }
        add(&mut self.queued_at, depth);
        self.queued += 1;
    }

    /// Lowers `key` (and what hangs off it) to `depth`, if shallower.
    pub fn lower(&mut self, key: Key, depth: u32, reoffer: &mut Reoffer) {
        let mut work = vec![(key, depth)];
        while let Some((key, depth)) = work.pop() {
            let Some(entry) = self.entries.get_mut(&key) else {
                if self.spilling && !self.settled.contains(&key) {
                    // Perhaps spilled: the engine asks the store.
                    self.disk_lowerings.push((key, depth));
                }
                continue;
            };
            if depth >= entry.depth {
                continue;
            }
            let old = entry.depth;
            if self.journaling && !matches!(entry.stage, Stage::Done) {
                self.changes.push(Change::Lowered { key, depth });
            }
            match &entry.stage {
                Stage::Queued(item) => {
                    entry.depth = depth;
                    let host = item.host.clone();
                    let chain = item.chain.is_some();
                    sub(&mut self.queued_at, old);
                    if chain {
                        sub(&mut self.chains_at, old);
                    }
                    self.queued -= 1;
                    // The old copy stays on its queue, stale.
                    self.enqueue(key, &host, depth, chain);
                }
                Stage::InFlight => {
                    entry.depth = depth;
                    sub(&mut self.in_flight_at, old);
                    add(&mut self.in_flight_at, depth);
                }
                Stage::Pending => {
                    entry.depth = depth;
                    self.held_at.entry(depth).or_default().push(key);
                    let held = self.held.get_mut(&key).expect("pending entries are held");
                    held.record.depth = depth;
                    if depth < self.max_depth {
                        for link in &held.links {
                            work.push((*link, depth + 1));
                        }
                        if !held.cut.is_empty() {
                            let page = &held.record;
                            let page: Rc<str> =
                                page.final_url.as_deref().unwrap_or(&page.url).into();
                            for url in held.cut.drain(..) {
                                reoffer.push((url, depth + 1, Some(page.clone())));
                            }
                        }
                    }
                }
                // Final (written, another shard's, or a redirect target recorded elsewhere).
                Stage::Done => {}
            }
        }
    }

    /// The shallowest depth with queued URLs, from `from` on.
    pub fn level_from(&self, from: u32) -> Option<u32> {
        self.levels.range(from..).next().map(|(d, _)| *d)
    }

    /// How many hosts are listed at `depth`.
    pub fn hosts_at(&self, depth: u32) -> usize {
        self.levels.get(&depth).map_or(0, VecDeque::len)
    }

    /// Takes the next listed host at `depth`; give it back with [`Frontier::relist`].
    pub fn take_host(&mut self, depth: u32) -> Option<String> {
        let hosts = self.levels.get_mut(&depth)?;
        let host = hosts.pop_front();
        if hosts.is_empty() {
            self.levels.remove(&depth);
        }
        host
    }

    /// Puts a host taken with [`Frontier::take_host`] back at the end of its depth's list if it
    /// still has URLs there.
    pub fn relist(&mut self, depth: u32, host: String) {
        if self.front(&host, depth).is_some() {
            self.levels.entry(depth).or_default().push_back(host);
        } else if let Some(queue) = self.hosts.get_mut(&host) {
            queue.by_depth.remove(&depth);
            if queue.by_depth.is_empty() {
                self.hosts.remove(&host);
            }
        }
    }

    /// The first live URL of `host` at `depth` (stale keys are dropped on the way).
    pub fn front(&mut self, host: &str, depth: u32) -> Option<&Item> {
        let queue = self.hosts.get_mut(host)?;
        let (keys, _) = queue.by_depth.get_mut(&depth)?;
        while let Some(key) = keys.front() {
            match self.entries.get(key) {
                Some(Entry {
                    depth: d,
                    stage: Stage::Queued(_),
                }) if *d == depth => break,
                _ => {
                    keys.pop_front();
                }
            }
        }
        let key = keys.front()?;
        match &self.entries.get(key)?.stage {
            Stage::Queued(item) => Some(item),
            _ => None,
        }
    }

    /// Takes the first live URL of `host` at `depth` off its queue: it is now in flight.
    pub fn take(&mut self, host: &str, depth: u32) -> Option<(Key, Box<Item>)> {
        self.front(host, depth)?;
        let (keys, _) = self.hosts.get_mut(host)?.by_depth.get_mut(&depth)?;
        let key = keys.pop_front()?;
        let entry = self.entries.get_mut(&key)?;
        let Stage::Queued(item) = std::mem::replace(&mut entry.stage, Stage::InFlight) else {
            unreachable!("front() checked the stage");
        };
        sub(&mut self.queued_at, depth);
        if item.chain.is_some() {
            sub(&mut self.chains_at, depth);
        }
        self.queued -= 1;
        add(&mut self.in_flight_at, depth);
        Some((key, item))
    }

    /// Queued later hops of redirect chains.
    pub fn queued_chains(&self) -> u64 {
        self.chains_at.values().sum()
    }

    /// Takes every queued later hop of a redirect chain off the frontier (the crawl is ending:
    /// they are recorded as they stand). A scan of every entry: only for the end of a crawl.
    pub fn take_chains(&mut self) -> Vec<(Key, Box<Item>)> {
        let mut out = Vec::new();
        for (key, entry) in &mut self.entries {
            if let Stage::Queued(item) = &entry.stage
                && item.chain.is_some()
            {
                let Stage::Queued(item) = std::mem::replace(&mut entry.stage, Stage::InFlight)
                else {
                    unreachable!("matched above");
                };
                sub(&mut self.queued_at, entry.depth);
                sub(&mut self.chains_at, entry.depth);
                add(&mut self.in_flight_at, entry.depth);
                self.queued -= 1;
                out.push((*key, item));
            }
        }
        out
    }

    /// Puts an in-flight URL back on a queue to fetch `item` next (a redirect's next hop),
    /// first on `item.host`'s queue at the URL's depth.
    pub fn requeue(&mut self, key: Key, item: Item) {
        let Some(entry) = self.entries.get_mut(&key) else {
            return;
        };
        let depth = entry.depth;
        let host = item.host.clone();
        entry.stage = Stage::Queued(Box::new(item));
        sub(&mut self.in_flight_at, depth);
        self.enqueue(key, &host, depth, true);
    }

    /// An in-flight (or just taken) URL has its record: hold it until its depth is final.
    /// `links` are the keys of the links it offered, `cut` those it could not offer at the
    /// depth limit.
    pub fn settle(&mut self, key: Key, mut record: Record, links: Vec<Key>, cut: Vec<Url>) {
        let Some(entry) = self.entries.get_mut(&key) else {
            return;
        };
        if !matches!(entry.stage, Stage::InFlight) {
            return;
        }
        entry.stage = Stage::Pending;
        let depth = entry.depth;
        record.depth = depth;
        sub(&mut self.in_flight_at, depth);
        let bytes = 256
            + record.url.len()
            + links.len() * std::mem::size_of::<Key>()
            + cut.iter().map(|u| 96 + u.as_str().len()).sum::<usize>();
        self.held_bytes += bytes;
        self.held_at.entry(depth).or_default().push(key);
        self.held.insert(
            key,
            Held {
                record,
                links,
                cut,
                bytes,
            },
        );
    }

    /// An in-flight URL that will have no held record (abandoned at the end of a crawl).
    pub fn drop_in_flight(&mut self, key: Key) {
        if let Some(entry) = self.entries.get_mut(&key)
            && matches!(entry.stage, Stage::InFlight)
        {
            entry.stage = Stage::Done;
            sub(&mut self.in_flight_at, entry.depth);
        }
    }

    /// The shallowest unfetched depth: in flight, queued redirect hops, and queued URLs when
    /// `queued_counts` (those no longer count once the crawl takes no more).
    fn min_unfetched(&self, queued_counts: bool) -> Option<u32> {
        let flying = self.in_flight_at.keys().next().copied();
        let queued = if queued_counts {
            let memory = self.queued_at.keys().next().copied();
            let spilled = self.spilled_at.keys().next().copied();
            memory
                .into_iter()
                .chain(spilled)
                .chain(self.external_min)
                .min()
        } else {
            self.chains_at.keys().next().copied()
        };
        match (flying, queued) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Whether the held records fill the window. Then only URLs of depth at most
    /// [`Frontier::unblocking_depth`] should start: their records can be written at once.
    pub fn window_full(&self) -> bool {
        self.held_bytes >= PENDING_BYTES
    }

    /// The deepest depth whose records are final as soon as they are fetched.
    pub fn unblocking_depth(&self) -> u32 {
        self.min_unfetched(true)
            .map_or(u32::MAX, |m| m.saturating_add(1))
    }

    /// Takes the held records whose depth is final, shallowest first, into `out`.
    pub fn release(&mut self, queued_counts: bool, out: &mut Vec<Record>) {
        let limit = self
            .min_unfetched(queued_counts)
            .map(|m| m.saturating_add(1));
        while let Some((&depth, _)) = self.held_at.first_key_value() {
            if limit.is_some_and(|l| depth > l) {
                break;
            }
            let keys = self.held_at.remove(&depth).expect("first key exists");
            for key in keys {
                let Some(entry) = self.entries.get_mut(&key) else {
                    continue;
                };
                if entry.depth != depth || !matches!(entry.stage, Stage::Pending) {
                    continue;
                }
                entry.stage = Stage::Done;
                if self.spilling {
                    // The store has it from now on (the change below says so).
                    self.entries.remove(&key);
                    self.cache_settled(key);
                }
                let held = self.held.remove(&key).expect("pending entries are held");
                self.held_bytes -= held.bytes;
                if self.journaling {
                    self.changes.push(Change::Recorded {
                        key: Some(key),
                        depth,
                        json: held.record.to_json(),
                    });
                }
                // The URLs a redirect chain was followed to were fetched under its first URL:
                // never on their own.
                for target in self.chain_claims.remove(&key).unwrap_or_default() {
                    if self.journaling {
                        self.changes.push(Change::Seen { key: target });
                    }
                    if self.spilling {
                        self.entries.remove(&target);
                        self.cache_settled(target);
                    }
                }
                out.push(held.record);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crawl::normalize::key;

    fn url(path: &str) -> Url {
        Url::parse(&format!("http://h{path}")).unwrap()
    }

    fn item(u: Url, host: &str) -> Item {
        Item {
            url: u,
            host: host.into(),
            chain: None,
            referrer: None,
        }
    }

    fn offer(f: &mut Frontier, path: &str, depth: u32) -> Offered {
        let u = url(path);
        f.offer(key(&u), item(u, "h"), depth, false, &mut Vec::new())
    }

    fn take(f: &mut Frontier, depth: u32) -> Option<(Key, String)> {
        f.take("h", depth)
            .map(|(k, item)| (k, item.url.path().to_string()))
    }

    fn record(path: &str) -> Record {
        Record {
            url: url(path).to_string(),
            ..Record::default()
        }
    }

    fn released(f: &mut Frontier) -> Vec<(String, u32)> {
        let mut out = Vec::new();
        f.release(true, &mut out);
        out.into_iter()
            .map(|r| (Url::parse(&r.url).unwrap().path().to_string(), r.depth))
            .collect()
    }

    #[test]
    fn a_url_is_queued_once() {
        let mut f = Frontier::new(5);
        assert_eq!(offer(&mut f, "/a", 1), Offered::Queued);
        assert_eq!(offer(&mut f, "/a", 1), Offered::Known);
        assert_eq!(f.queued(), 1);
    }

    #[test]
    fn a_shorter_path_moves_a_queued_url_to_the_shallower_queue() {
        let mut f = Frontier::new(5);
        offer(&mut f, "/deep", 3);
        offer(&mut f, "/deep", 1);
        assert_eq!(f.queued(), 1);
        assert_eq!(f.level_from(0), Some(1));
        assert_eq!(take(&mut f, 1).unwrap().1, "/deep");
        // The copy left at depth 3 is stale.
        assert!(take(&mut f, 3).is_none());
    }

    #[test]
    fn a_record_waits_while_a_url_two_levels_up_is_unfetched() {
        let mut f = Frontier::new(5);
        offer(&mut f, "/slow", 1);
        offer(&mut f, "/x", 3);
        let (slow, _) = take(&mut f, 1).unwrap();
        let (x, _) = take(&mut f, 3).unwrap();
        f.settle(x, record("/x"), Vec::new(), Vec::new());
        // /slow (depth 1 = 3 - 2) is in flight: /x may still get a shorter path.
        assert!(released(&mut f).is_empty());
        f.settle(slow, record("/slow"), Vec::new(), Vec::new());
        assert_eq!(
            released(&mut f),
            [("/slow".to_string(), 1), ("/x".to_string(), 3)]
        );
    }

    #[test]
    fn a_record_one_level_below_an_unfetched_url_is_final() {
        let mut f = Frontier::new(5);
        offer(&mut f, "/slow", 1);
        offer(&mut f, "/y", 2);
        take(&mut f, 1).unwrap();
        let (y, _) = take(&mut f, 2).unwrap();
        f.settle(y, record("/y"), Vec::new(), Vec::new());
        // A shorter path to /y would need a page of depth 0 still unfetched.
        assert_eq!(released(&mut f), [("/y".to_string(), 2)]);
    }

    #[test]
    fn lowering_a_held_page_lowers_its_links() {
        let mut f = Frontier::new(5);
        offer(&mut f, "/slow", 1);
        offer(&mut f, "/p", 3);
        take(&mut f, 1).unwrap();
        let (p, _) = take(&mut f, 3).unwrap();
        // /p links /q at depth 4; /q is still queued.
        offer(&mut f, "/q", 4);
        let q = key(&url("/q"));
        f.settle(p, record("/p"), vec![q], Vec::new());
        // The slow page links /p: a path of length 2.
        offer(&mut f, "/p", 2);
        assert_eq!(f.depth(&p), Some(2));
        assert_eq!(f.depth(&q), Some(3));
        assert_eq!(take(&mut f, 3).unwrap().1, "/q");
    }

    #[test]
    fn links_cut_at_the_limit_are_offered_when_the_page_is_lowered() {
        let mut f = Frontier::new(2);
        offer(&mut f, "/slow", 1);
        offer(&mut f, "/p", 2);
        take(&mut f, 1).unwrap();
        let (p, _) = take(&mut f, 2).unwrap();
        f.settle(p, record("/p"), Vec::new(), vec![url("/beyond")]);
        let mut reoffer = Vec::new();
        let u = url("/p");
        f.offer(key(&u), item(u, "h"), 1, false, &mut reoffer);
        let page: Rc<str> = url("/p").as_str().into();
        assert_eq!(reoffer, [(url("/beyond"), 2, Some(page))]);
    }

    #[test]
    fn an_in_flight_url_is_lowered_in_place() {
        let mut f = Frontier::new(5);
        offer(&mut f, "/a", 3);
        let (a, _) = take(&mut f, 3).unwrap();
        offer(&mut f, "/a", 1);
        assert_eq!(f.depth(&a), Some(1));
        assert_eq!(f.queued(), 0);
        f.settle(a, record("/a"), Vec::new(), Vec::new());
        assert_eq!(released(&mut f), [("/a".to_string(), 1)]);
    }

    #[test]
    fn a_requeued_hop_keeps_its_depth_and_blocks_deeper_records() {
        let mut f = Frontier::new(5);
        offer(&mut f, "/r", 1);
        offer(&mut f, "/z", 3);
        let (r, item) = f.take("h", 1).unwrap();
        let (z, _) = take(&mut f, 3).unwrap();
        let mut next = *item;
        next.url = url("/target");
        f.requeue(r, next);
        f.settle(z, record("/z"), Vec::new(), Vec::new());
        assert!(released(&mut f).is_empty());
        assert_eq!(take(&mut f, 1).unwrap().1, "/target");
    }

    #[test]
    fn queued_urls_stop_blocking_once_none_will_be_taken() {
        let mut f = Frontier::new(5);
        offer(&mut f, "/never", 0);
        offer(&mut f, "/x", 2);
        let (x, _) = take(&mut f, 2).unwrap();
        f.settle(x, record("/x"), Vec::new(), Vec::new());
        assert!(released(&mut f).is_empty());
        let mut out = Vec::new();
        f.release(false, &mut out);
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn foreign_urls_are_seen_once_and_never_queued() {
        let mut f = Frontier::new(5);
        let u = url("/other");
        let k = key(&u);
        let offered = f.offer(k, item(u.clone(), "h"), 1, true, &mut Vec::new());
        assert_eq!(offered, Offered::Foreign);
        assert_eq!(
            f.offer(k, item(u, "h"), 1, true, &mut Vec::new()),
            Offered::Known
        );
        assert_eq!(f.queued(), 0);
    }

    #[test]
    fn a_claimed_url_is_not_queued_later() {
        let mut f = Frontier::new(5);
        let u = url("/t");
        assert!(f.claim(key(&u), 1, &mut Vec::new()));
        assert_eq!(offer(&mut f, "/t", 1), Offered::Known);
        assert_eq!(f.queued(), 0);
    }

    #[test]
    fn hosts_rotate_within_a_depth() {
        let mut f = Frontier::new(5);
        for host in ["a", "b"] {
            let u = Url::parse(&format!("http://{host}/")).unwrap();
            f.offer(key(&u), item(u, host), 0, false, &mut Vec::new());
        }
        assert_eq!(f.hosts_at(0), 2);
        let first = f.take_host(0).unwrap();
        f.relist(0, first.clone());
        assert_ne!(f.take_host(0).unwrap(), first);
    }
}
