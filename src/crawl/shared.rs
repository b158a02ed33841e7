//! One crawl shared by many processes, on many machines, through PostgreSQL
//! (`crawl --state postgres://USER@HOST/DB --crawl NAME`): the same semantics as the embedded
//! state (`state.rs`): resume, exactly one record per URL, bounded memory in each process.
//!
//! # Partitions: politeness without a cross-machine rate limiter
//!
//! Hosts (politeness keys, [`authority`]) map to [`PARTITIONS`] partitions by the FNV-1a of
//! [`shard_of`]. Each partition has one owner at a time, a *lease*: an owner id, an epoch
//! (bumped by every claim) and an expiry, renewed with every commit and at least every
//! [`Lease::renew_every`]. A process crawls only the hosts of the partitions it holds, with the
//! engine's usual per-host delay, limit and robots.txt; the URLs it finds on other partitions'
//! hosts go to the database, where their owner picks them up. The robots.txt rules and the
//! next allowed fetch time of each host are kept in the database too, so that a new owner
//! neither fetches robots.txt again nor breaks the delay.
//!
//! Partitions are claimed when they have URLs to fetch and no live owner, up to a fair share
//! (the partitions with work divided by the live processes), with
//! `UPDATE ... WHERE p IN (SELECT ... FOR UPDATE SKIP LOCKED)`: two processes never wait on
//! each other, and never both get one.
//!
//! # Nothing lost, nothing twice
//!
//! A commit is one transaction that first renews this process's leases, fenced by (owner,
//! epoch): a lease another process took over is not renewed, and the records of its
//! partitions' URLs are not written (the row lock the renewal takes also keeps a takeover out
//! until the commit ends). Then, in the same transaction: new links (`ON CONFLICT` on the URL
//! key: the table is the shared visited set; batched, and sorted by key so that concurrent
//! commits lock rows in one order), lowered depths, records, robots.txt and host delays. The
//! records table's key is the URL's, so a second record for a URL cannot be written at all.
//!
//! A process that is killed leaves its URLs without records: once its leases expire, another
//! process claims the partitions and fetches them again. A process that was paused past its
//! lease (`SIGSTOP`) stops fetching when its lease runs out by its own clock, finds at its
//! next commit or poll that a partition was taken, and starts its session again: its memory
//! dropped, its other partitions released, what it holds in the database kept.
//!
//! # Exact depths across processes
//!
//! The engine writes a record once no unfetched URL is shallower than its depth minus one (see
//! the frontier). With several processes, "unfetched" includes the others' URLs: every poll
//! reads the shallowest depth of a URL without a record that this session does not hold (its
//! own the frontier counts itself), and the frontier counts it too. A page's links are
//! committed no later than its record, so a committed snapshot never shows a page as recorded
//! while its links are missing, and a stale snapshot can only make a record wait longer.
//!
//! A URL this session holds (queued, in flight, or fetched with its record waiting) may be
//! found by another process through a shorter path: that process lowers its depth in the
//! table and flags it (`lowered`); the poll after the depths' read takes the flagged URLs of
//! this session, and the frontier lowers them as if it had found the path itself (the held
//! record, and its links, with it). Without that, the held record would wait for ever on its
//! own row, shallower in the table than in memory.

use std::collections::{HashMap, hash_map::Entry};
use std::fmt;
use std::io::Write;
use std::time::{Duration, Instant};

use super::config::{Config, Hooks};
use super::engine::run_session;
use super::journal::{Change, Journal, Lookup, Shared, Spilled, meaning, shown};
use super::normalize::Key;
use super::pg_wire::{Pg, PgError, PgUrl, Statement, Value, array, bytea, from_bytea, redact};
use super::shard::{authority, shard_of};
use super::stats::{Progress, Summary};
use crate::http::Error;
use crate::time::now;

/// Partitions the hosts are spread over (fixed: it is part of the stored crawl).
pub const PARTITIONS: u32 = 4096;
/// The schema this code writes and reads (`wisp_schema.version`).
const SCHEMA_VERSION: i64 = 1;
/// Longest time between two commits, and most changes in one.
const COMMIT_EVERY: Duration = Duration::from_millis(100);
const COMMIT_CHANGES: usize = 5_000;
/// URLs to fetch a process keeps in memory; the others wait in the database.
pub const MEMORY_URLS: usize = 20_000;
/// How often the database is asked what the other processes did (in between, the engine
/// works on what it knows).
const POLL_EVERY: Duration = Duration::from_millis(200);
/// How often partitions are claimed and the process's liveness written.
const CLAIM_EVERY: Duration = Duration::from_secs(1);
/// Links to other partitions this process remembers having sent (to skip sending them again).
const SENT_CACHE: usize = 100_000;

const SCHEMA: &str = "
CREATE TABLE wisp_schema (version bigint NOT NULL);
CREATE TABLE wisp_crawls (id serial PRIMARY KEY, name text NOT NULL UNIQUE,
    created timestamptz NOT NULL DEFAULT now());
CREATE TABLE wisp_meta (crawl int NOT NULL, name text NOT NULL, value text NOT NULL,
    PRIMARY KEY (crawl, name));
-- the lease of each partition: who crawls its hosts, until when
CREATE TABLE wisp_partitions (crawl int NOT NULL, p int NOT NULL, owner text,
    epoch bigint NOT NULL DEFAULT 0, expires timestamptz, PRIMARY KEY (crawl, p));
-- every URL the crawl knows; state: 0 = to fetch, 1 = recorded, 2 = seen (a redirect
-- chain's target); taken: the session that holds it in memory; lowered: another session
-- found a shorter path to it, which the one that holds it has not heard of yet
CREATE TABLE wisp_urls (crawl int NOT NULL, key bytea NOT NULL, p int NOT NULL,
    depth int NOT NULL, state smallint NOT NULL, url text, referrer text, taken text,
    lowered boolean NOT NULL DEFAULT false, seq bigserial, PRIMARY KEY (crawl, key));
CREATE INDEX wisp_urls_lowered ON wisp_urls (crawl, taken) WHERE lowered;
CREATE INDEX wisp_urls_todo ON wisp_urls (crawl, p, depth, seq) WHERE state = 0;
CREATE INDEX wisp_urls_depth ON wisp_urls (crawl, depth) WHERE state = 0;
CREATE TABLE wisp_records (crawl int NOT NULL, key bytea NOT NULL, seq bigserial,
    json text NOT NULL, PRIMARY KEY (crawl, key));
CREATE TABLE wisp_robots (crawl int NOT NULL, origin text NOT NULL,
    fetched timestamptz NOT NULL, rules bytea NOT NULL, PRIMARY KEY (crawl, origin));
CREATE TABLE wisp_hosts (crawl int NOT NULL, host text NOT NULL, next_at timestamptz NOT NULL,
    PRIMARY KEY (crawl, host));
CREATE TABLE wisp_workers (crawl int NOT NULL, owner text NOT NULL, seen timestamptz NOT NULL,
    PRIMARY KEY (crawl, owner));
";

/// Why the shared state cannot be used, in words for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedError(pub String);

impl fmt::Display for SharedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SharedError {}

/// How long a claim on a partition holds without renewal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lease(pub Duration);

impl Default for Lease {
    fn default() -> Lease {
        Lease(Duration::from_secs(60))
    }
}

impl Lease {
    /// Renewed at least this often (a third of the lease: two renewals may fail in a row).
    pub fn renew_every(self) -> Duration {
        self.0 / 3
    }

    fn interval(self) -> String {
        format!("{} milliseconds", self.0.as_millis().max(1))
    }
}

/// Where the crawl stands, for `crawl --status`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Status {
    pub records: u64,
    pub to_fetch: u64,
    /// Processes seen within the lease.
    pub workers: u64,
    /// Partitions with a live owner.
    pub owned: u64,
}

/// An open shared crawl (see the module documentation).
pub struct SharedState {
    pg: Pg,
    crawl: i64,
    name: String,
    lease: Lease,
    /// This process's id (host, pid, a random part); the session number is appended.
    process: String,
    session: u32,
    owner: String,
    resuming: bool,
    memory_urls: usize,
    /// Written, not committed.
    batch: Vec<Change>,
    /// What the batch says of keys, for lookups (reads see the writes before them).
    batch_keys: HashMap<Key, Lookup>,
    batch_robots: HashMap<String, Vec<u8>>,
    batch_hosts: HashMap<String, Duration>,
    last_commit: Instant,
    /// Partitions held, with the epoch of the claim.
    owned: HashMap<u32, i64>,
    /// By this process's clock, when the leases it holds may have run out.
    lease_until: Instant,
    last_renew: Instant,
    last_poll: Option<Instant>,
    last_claim: Option<Instant>,
    shared: Shared,
    sent: HashMap<Key, u32>,
    /// Read by the last poll, for [`Journal::lowered`].
    lowerings: Vec<(Key, u32)>,
    broken: bool,
}

impl fmt::Debug for SharedState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedState")
            .field("crawl", &self.name)
            .field("owner", &self.owner)
            .field("partitions", &self.owned.len())
            .finish_non_exhaustive()
    }
}

fn text(v: impl ToString) -> Value {
    Some(v.to_string())
}

fn int(row: &[Value], i: usize) -> i64 {
    row.get(i)
        .and_then(|v| v.as_deref())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// A URL key as the table gives it back (`bytea` in text form).
fn key_of(value: &Value) -> Option<Key> {
    let bytes = from_bytea(value.as_deref()?)?;
    Some(Key::from_bytes(
        <[u8; 16]>::try_from(bytes.as_slice()).ok()?,
    ))
}

/// The partition of a politeness key.
pub fn partition_of(host: &str) -> u32 {
    shard_of(host, PARTITIONS)
}

fn partition_of_url(url: &str) -> Option<u32> {
    let url = url::Url::parse(url).ok()?;
    url.host_str()?;
    Some(partition_of(&authority(&url)))
}

fn process_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "host".into());
    // Not for security: two processes of one pid on one host (a restart) must differ.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{host}-{}-{nanos:08x}", std::process::id())
}

impl SharedState {
    /// Connects to the database of `url` (`postgres://USER[:PASSWORD]@HOST[:PORT]/DB`), sets up
    /// wisp's tables if there are none, and opens the crawl `name` (created if new). Refused
    /// here, before anything is fetched: an unreachable database, a refused login, tables of
    /// another schema version.
    pub fn open(url: &str, name: &str, lease: Lease) -> Result<SharedState, SharedError> {
        let shown = redact(url);
        let target = PgUrl::parse(url).map_err(SharedError)?;
        if name.is_empty() {
            return Err(SharedError("the crawl needs a name (--crawl NAME)".into()));
        }
        let fail = |e: PgError| SharedError(format!("{shown}: {e}"));
        let mut pg = Pg::connect(&target, Duration::from_secs(10)).map_err(fail)?;
        // One process at a time sets up the tables and the crawl.
        let lock = "SELECT pg_advisory_xact_lock(2004318064)";
        pg.batch("BEGIN").map_err(fail)?;
        pg.query(lock, &[]).map_err(fail)?;
        let exists = pg
            .query("SELECT to_regclass('wisp_schema') IS NOT NULL", &[])
            .map_err(fail)?;
        let exists = exists
            .first()
            .and_then(|r| r[0].as_deref())
            .is_some_and(|v| v == "t");
        if exists {
            let rows = pg
                .query("SELECT version FROM wisp_schema", &[])
                .map_err(fail)?;
            let version = rows.first().map_or(0, |r| int(r, 0));
            if version != SCHEMA_VERSION {
                let _ = pg.batch("ROLLBACK");
                return Err(SharedError(format!(
                    "{shown} holds wisp crawl tables of schema version {version}; this wisp \
                     reads version {SCHEMA_VERSION} (use another database, or drop the wisp_* \
                     tables)"
                )));
            }
        } else {
            pg.batch(SCHEMA).map_err(fail)?;
            pg.query(
                "INSERT INTO wisp_schema (version) VALUES ($1)",
                &[text(SCHEMA_VERSION)],
            )
            .map_err(fail)?;
        }
        let found = pg
            .query("SELECT id FROM wisp_crawls WHERE name = $1", &[text(name)])
            .map_err(fail)?;
        let crawl = match found.first() {
            Some(row) => int(row, 0),
            None => {
                let row = pg
                    .query(
                        "INSERT INTO wisp_crawls (name) VALUES ($1) RETURNING id",
                        &[text(name)],
                    )
                    .map_err(fail)?;
                let id = row.first().map_or(0, |r| int(r, 0));
                pg.query(
                    "INSERT INTO wisp_partitions (crawl, p)
                     SELECT $1, g FROM generate_series(0, $2 - 1) g",
                    &[text(id), text(PARTITIONS)],
                )
                .map_err(fail)?;
                id
            }
        };
        let resuming = pg
            .query(
                "SELECT EXISTS (SELECT 1 FROM wisp_urls WHERE crawl = $1)
                     OR EXISTS (SELECT 1 FROM wisp_records WHERE crawl = $1)",
                &[text(crawl)],
            )
            .map_err(fail)?
            .first()
            .and_then(|r| r[0].as_deref())
            .is_some_and(|v| v == "t");
        pg.batch("COMMIT").map_err(fail)?;
        let process = process_id();
        let at = now();
        Ok(SharedState {
            pg,
            crawl,
            name: name.to_string(),
            lease,
            owner: format!("{process}-1"),
            process,
            session: 1,
            resuming,
            memory_urls: MEMORY_URLS,
            batch: Vec::new(),
            batch_keys: HashMap::new(),
            batch_robots: HashMap::new(),
            batch_hosts: HashMap::new(),
            last_commit: at,
            owned: HashMap::new(),
            lease_until: at,
            last_renew: at,
            last_poll: None,
            last_claim: None,
            shared: Shared::default(),
            sent: HashMap::new(),
            lowerings: Vec::new(),
            broken: false,
        })
    }

    /// This process's id in the database (`wisp_partitions.owner`), for its current session.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// How many URLs to fetch this process keeps in memory ([`MEMORY_URLS`] unless set).
    pub fn set_memory_urls(&mut self, n: usize) {
        self.memory_urls = n.max(1);
    }

    /// Whether the database held this crawl already: running it resumes it.
    pub fn resuming(&self) -> bool {
        self.resuming
    }

    /// Records the options that give the crawl its meaning, or refuses those that differ
    /// from the crawl's, naming the option (with `force`: takes the new values instead). Every
    /// process of a crawl must run it with the same options.
    pub fn check(
        &mut self,
        config: &Config,
        seeds: &[String],
        force: bool,
    ) -> Result<(), SharedError> {
        let fail = |e: PgError| SharedError(format!("cannot read the crawl: {e}"));
        for (option, value) in meaning(config, seeds) {
            let stored = self
                .pg
                .query(
                    "INSERT INTO wisp_meta (crawl, name, value) VALUES ($1, $2, $3)
                     ON CONFLICT (crawl, name) DO UPDATE SET value = wisp_meta.value
                     RETURNING value",
                    &[text(self.crawl), text(option), text(&value)],
                )
                .map_err(fail)?;
            let stored = stored
                .first()
                .and_then(|r| r[0].clone())
                .unwrap_or_default();
            if stored == value {
                continue;
            }
            if !force {
                return Err(SharedError(format!(
                    "the crawl {} has {option} {}, not {}: run every worker with the same \
                     {option}, or give --force to go on with the new one",
                    self.name,
                    shown(&stored),
                    shown(&value)
                )));
            }
            self.pg
                .query(
                    "UPDATE wisp_meta SET value = $3 WHERE crawl = $1 AND name = $2",
                    &[text(self.crawl), text(option), text(&value)],
                )
                .map_err(fail)?;
        }
        Ok(())
    }

    /// Where the crawl stands (for `--status`).
    pub fn status(&mut self) -> Result<Status, SharedError> {
        let crawl = text(self.crawl);
        let lease = text(self.lease.interval());
        let rows = self
            .pg
            .query(
                "SELECT (SELECT count(*) FROM wisp_records WHERE crawl = $1),
                        (SELECT count(*) FROM wisp_urls WHERE crawl = $1 AND state = 0),
                        (SELECT count(*) FROM wisp_workers
                            WHERE crawl = $1 AND seen > now() - $2::interval),
                        (SELECT count(*) FROM wisp_partitions
                            WHERE crawl = $1 AND owner IS NOT NULL AND expires > now())",
                &[crawl, lease],
            )
            .map_err(|e| SharedError(format!("cannot read the crawl: {e}")))?;
        let row = rows.first().cloned().unwrap_or_default();
        Ok(Status {
            records: int(&row, 0) as u64,
            to_fetch: int(&row, 1) as u64,
            workers: int(&row, 2) as u64,
            owned: int(&row, 3) as u64,
        })
    }

    /// Writes every record of the crawl, in the order they were committed, one JSON line
    /// each. Returns how many.
    pub fn export_jsonl(&mut self, out: &mut dyn Write) -> Result<u64, SharedError> {
        let fail = |e: PgError| SharedError(format!("cannot read the crawl: {e}"));
        let mut n = 0u64;
        let mut after = 0i64;
        loop {
            // In pages: a crawl of millions of records is never in memory at once.
            let rows = self
                .pg
                .query(
                    "SELECT seq, json FROM wisp_records WHERE crawl = $1 AND seq > $2
                     ORDER BY seq LIMIT 10000",
                    &[text(self.crawl), text(after)],
                )
                .map_err(fail)?;
            if rows.is_empty() {
                break;
            }
            for row in &rows {
                after = int(row, 0);
                let json = row.get(1).and_then(|v| v.as_deref()).unwrap_or_default();
                writeln!(out, "{json}").map_err(|e| SharedError(e.to_string()))?;
                n += 1;
            }
        }
        out.flush().map_err(|e| SharedError(e.to_string()))?;
        Ok(n)
    }

    /// Ends this process's part: its partitions and its liveness row are given up, so that
    /// the others need not wait for the leases to run out.
    pub fn leave(&mut self) -> Result<(), SharedError> {
        let _ = Journal::commit(self, true);
        self.release()
            .map_err(|e| SharedError(format!("cannot leave the crawl: {e}")))
    }

    fn release(&mut self) -> Result<(), PgError> {
        let crawl = text(self.crawl);
        let owner = text(&self.owner);
        self.pg.pipeline(&[
            Statement {
                sql: "UPDATE wisp_partitions SET owner = NULL, expires = NULL
                      WHERE crawl = $1 AND owner = $2",
                params: vec![crawl.clone(), owner.clone()],
            },
            Statement {
                sql: "DELETE FROM wisp_workers WHERE crawl = $1 AND owner = $2",
                params: vec![crawl, owner],
            },
        ])?;
        self.owned.clear();
        Ok(())
    }

    /// After a lost partition: a new session, holding nothing (its other partitions are
    /// released; what it committed stays). Returns false if the database failed.
    pub(crate) fn restart_session(&mut self) -> Result<(), String> {
        let _ = Journal::commit(self, true);
        self.release()
            .map_err(|e| format!("cannot write the crawl: {e}"))?;
        self.session += 1;
        self.owner = format!("{}-{}", self.process, self.session);
        self.shared = Shared::default();
        self.last_poll = None;
        self.last_claim = None;
        self.sent.clear();
        self.resuming = true;
        Ok(())
    }

    /// Whether this session lost a partition (see [`Shared::lost`]).
    pub(crate) fn lost(&self) -> bool {
        self.shared.lost
    }

    fn fail(&mut self, e: PgError) -> String {
        self.broken = true;
        let _ = self.pg.batch("ROLLBACK");
        format!("cannot write the crawl to the database: {e}")
    }

    /// Renews every lease this session holds, fenced by owner and epoch, inside the open
    /// transaction when there is one. Marks the session lost if one was taken over.
    fn renew(&mut self) -> Result<(), PgError> {
        let sent = now();
        let rows = self.pg.query(
            "UPDATE wisp_partitions SET expires = now() + $3::interval
             WHERE crawl = $1 AND owner = $2 RETURNING p, epoch",
            &[
                text(self.crawl),
                text(&self.owner),
                text(self.lease.interval()),
            ],
        )?;
        let held: HashMap<u32, i64> = rows.iter().map(|r| (int(r, 0) as u32, int(r, 1))).collect();
        let before = self.owned.len();
        self.owned.retain(|p, epoch| held.get(p) == Some(epoch));
        if self.owned.len() < before {
            self.shared.lost = true;
        }
        self.lease_until = sent + self.lease.0;
        self.last_renew = sent;
        Ok(())
    }

    /// Writes this process's liveness and claims partitions with work and no live owner, up
    /// to its fair share.
    fn claim(&mut self) -> Result<(), PgError> {
        let crawl = text(self.crawl);
        let owner = text(&self.owner);
        let lease = text(self.lease.interval());
        // The partitions with URLs to fetch, found by one index probe each (a skip scan of
        // `wisp_urls_todo`), not by reading every URL to fetch.
        const BUSY: &str = "WITH RECURSIVE busy (p) AS (
                (SELECT p FROM wisp_urls WHERE crawl = $1 AND state = 0 ORDER BY p LIMIT 1)
                UNION ALL
                SELECT (SELECT u.p FROM wisp_urls u
                        WHERE u.crawl = $1 AND u.state = 0 AND u.p > busy.p
                        ORDER BY u.p LIMIT 1)
                FROM busy WHERE busy.p IS NOT NULL)";
        let count = format!(
            "{BUSY} SELECT (SELECT count(*) FROM wisp_workers
                            WHERE crawl = $1 AND seen > now() - $3::interval),
                           count(*),
                           count(*) FILTER (WHERE pa.owner = $2)
                    FROM busy JOIN wisp_partitions pa ON pa.crawl = $1 AND pa.p = busy.p"
        );
        let counts = self.pg.pipeline(&[
            Statement {
                sql: "INSERT INTO wisp_workers (crawl, owner, seen) VALUES ($1, $2, now())
                      ON CONFLICT (crawl, owner) DO UPDATE SET seen = now()",
                params: vec![crawl.clone(), owner.clone()],
            },
            Statement {
                sql: &count,
                params: vec![crawl.clone(), owner.clone(), lease.clone()],
            },
        ])?;
        let row = counts
            .get(1)
            .and_then(|rows| rows.first())
            .cloned()
            .unwrap_or_default();
        let (workers, busy, mine) = (int(&row, 0).max(1), int(&row, 1), int(&row, 2));
        let want = (busy + workers - 1) / workers - mine;
        if want <= 0 {
            return Ok(());
        }
        let sent = now();
        let claim = format!(
            "{BUSY}, pick AS (
                SELECT q.p FROM wisp_partitions q JOIN busy ON q.p = busy.p
                WHERE q.crawl = $1 AND (q.owner IS NULL OR q.expires < now())
                ORDER BY q.p LIMIT $4 FOR UPDATE OF q SKIP LOCKED)
             UPDATE wisp_partitions pa SET owner = $2, epoch = pa.epoch + 1,
                 expires = now() + $3::interval
             FROM pick WHERE pa.crawl = $1 AND pa.p = pick.p
             RETURNING pa.p, pa.epoch"
        );
        let claimed = self.pg.query(&claim, &[crawl, owner, lease, text(want)])?;
        if !claimed.is_empty() {
            if self.owned.is_empty() {
                self.lease_until = sent + self.lease.0;
            }
            for row in claimed {
                self.owned.insert(int(&row, 0) as u32, int(&row, 1));
            }
        }
        Ok(())
    }

    fn owned_array(&self) -> String {
        let mut parts: Vec<u32> = self.owned.keys().copied().collect();
        parts.sort_unstable();
        let parts: Vec<String> = parts.iter().map(u32::to_string).collect();
        array(parts.iter().map(|p| Some(p.as_str())))
    }

    /// The batch's statements, in an order that gives each change the effect it had when it
    /// was made: new URLs, lowerings, records, redirect targets, robots.txt, host delays.
    fn statements(&self) -> Vec<(String, Vec<Value>)> {
        // Each kind deduplicated (a statement may not touch a row twice) and sorted by key.
        let mut queued: HashMap<Key, (u32, u32, &str, Option<&str>, bool)> = HashMap::new();
        let mut lowered: HashMap<Key, u32> = HashMap::new();
        let mut recorded: Vec<(Key, u32, &str)> = Vec::new();
        let mut unkeyed: Vec<&str> = Vec::new();
        let mut seen: Vec<Key> = Vec::new();
        let mut robots: HashMap<&str, &[u8]> = HashMap::new();
        let mut hosts: HashMap<&str, Duration> = HashMap::new();
        for change in &self.batch {
            match change {
                Change::Queued {
                    key,
                    url,
                    depth,
                    referrer,
                    spilled,
                } => {
                    let Some(p) = partition_of_url(url) else {
                        continue;
                    };
                    match queued.entry(*key) {
                        Entry::Vacant(e) => {
                            e.insert((p, *depth, url, referrer.as_deref(), !spilled));
                        }
                        Entry::Occupied(mut e) => {
                            let q = e.get_mut();
                            q.1 = q.1.min(*depth);
                            q.4 |= !spilled;
                        }
                    }
                }
                Change::Lowered { key, depth } => {
                    let d = lowered.entry(*key).or_insert(*depth);
                    *d = (*d).min(*depth);
                }
                Change::Seen { key } => seen.push(*key),
                Change::Robots { origin, rules } => {
                    robots.insert(origin, rules);
                }
                Change::HostNext { host, wait } => {
                    hosts.insert(host, *wait);
                }
                Change::Recorded { key, depth, json } => match key {
                    Some(key) => recorded.push((*key, *depth, json)),
                    None => unkeyed.push(json),
                },
            }
        }
        let crawl = text(self.crawl);
        let mut out = Vec::new();
        if !queued.is_empty() {
            let mut rows: Vec<_> = queued.into_iter().collect();
            rows.sort_unstable_by_key(|(k, _)| k.to_bytes());
            let keys: Vec<String> = rows.iter().map(|(k, _)| bytea(&k.to_bytes())).collect();
            let parts: Vec<String> = rows.iter().map(|(_, q)| q.0.to_string()).collect();
            let depths: Vec<String> = rows.iter().map(|(_, q)| q.1.to_string()).collect();
            out.push((
                "INSERT INTO wisp_urls (crawl, key, p, depth, state, url, referrer, taken)
                 SELECT $1, k, p, d, 0, u, r, CASE WHEN m THEN $8 END
                 FROM unnest($2::bytea[], $3::int[], $4::int[], $5::text[], $6::text[],
                             $7::bool[]) AS t(k, p, d, u, r, m)
                 ON CONFLICT (crawl, key) DO UPDATE
                 SET depth = least(wisp_urls.depth, excluded.depth),
                     taken = coalesce(excluded.taken, wisp_urls.taken),
                     lowered = wisp_urls.lowered OR excluded.depth < wisp_urls.depth
                 WHERE wisp_urls.state = 0"
                    .to_string(),
                vec![
                    crawl.clone(),
                    Some(array(keys.iter().map(|k| Some(k.as_str())))),
                    Some(array(parts.iter().map(|p| Some(p.as_str())))),
                    Some(array(depths.iter().map(|d| Some(d.as_str())))),
                    Some(array(rows.iter().map(|(_, q)| Some(q.2)))),
                    Some(array(rows.iter().map(|(_, q)| q.3))),
                    Some(array(
                        rows.iter().map(|(_, q)| Some(if q.4 { "t" } else { "f" })),
                    )),
                    text(&self.owner),
                ],
            ));
        }
        if !lowered.is_empty() {
            let mut rows: Vec<_> = lowered.into_iter().collect();
            rows.sort_unstable_by_key(|(k, _)| k.to_bytes());
            let keys: Vec<String> = rows.iter().map(|(k, _)| bytea(&k.to_bytes())).collect();
            let depths: Vec<String> = rows.iter().map(|(_, d)| d.to_string()).collect();
            out.push((
                "UPDATE wisp_urls u SET depth = t.d, lowered = true
                 FROM unnest($2::bytea[], $3::int[]) AS t(k, d)
                 WHERE u.crawl = $1 AND u.key = t.k AND u.state = 0 AND u.depth > t.d"
                    .to_string(),
                vec![
                    crawl.clone(),
                    Some(array(keys.iter().map(|k| Some(k.as_str())))),
                    Some(array(depths.iter().map(|d| Some(d.as_str())))),
                ],
            ));
        }
        if !recorded.is_empty() {
            let mut firsts = std::collections::HashSet::new();
            recorded.retain(|(k, _, _)| firsts.insert(*k));
            let keys: Vec<String> = recorded
                .iter()
                .map(|(k, ..)| bytea(&k.to_bytes()))
                .collect();
            let depths: Vec<String> = recorded.iter().map(|(_, d, _)| d.to_string()).collect();
            // Only the URLs of partitions this session still holds (the fence), and only once.
            out.push((
                "WITH done AS (
                     UPDATE wisp_urls u SET state = 1, depth = t.d, taken = NULL, lowered = false
                     FROM unnest($2::bytea[], $3::int[]) AS t(k, d)
                     WHERE u.crawl = $1 AND u.key = t.k AND u.state = 0 AND u.p = ANY($5::int[])
                     RETURNING u.key)
                 INSERT INTO wisp_records (crawl, key, json)
                 SELECT $1, r.k, r.j
                 FROM unnest($2::bytea[], $4::text[]) WITH ORDINALITY AS r(k, j, n)
                 JOIN done ON done.key = r.k ORDER BY r.n
                 ON CONFLICT (crawl, key) DO NOTHING"
                    .to_string(),
                vec![
                    crawl.clone(),
                    Some(array(keys.iter().map(|k| Some(k.as_str())))),
                    Some(array(depths.iter().map(|d| Some(d.as_str())))),
                    Some(array(recorded.iter().map(|(_, _, j)| Some(*j)))),
                    Some(self.owned_array()),
                ],
            ));
        }
        if !unkeyed.is_empty() {
            // A seed that is not a URL: keyed by its record, so every process writes it once.
            let keys: Vec<String> = unkeyed
                .iter()
                .map(|json| {
                    let mut key = [0u8; 16];
                    key[..8].copy_from_slice(&fnv(json).to_be_bytes());
                    key[8..].copy_from_slice(&fnv(&format!("unkeyed record {json}")).to_be_bytes());
                    bytea(&key)
                })
                .collect();
            out.push((
                "INSERT INTO wisp_records (crawl, key, json)
                 SELECT $1, k, j FROM unnest($2::bytea[], $3::text[]) WITH ORDINALITY AS t(k, j, n)
                 ORDER BY n ON CONFLICT (crawl, key) DO NOTHING"
                    .to_string(),
                vec![
                    crawl.clone(),
                    Some(array(keys.iter().map(|k| Some(k.as_str())))),
                    Some(array(unkeyed.iter().map(|j| Some(*j)))),
                ],
            ));
        }
        if !seen.is_empty() {
            seen.sort_unstable_by_key(|k| k.to_bytes());
            seen.dedup();
            let keys: Vec<String> = seen.iter().map(|k| bytea(&k.to_bytes())).collect();
            out.push((
                "INSERT INTO wisp_urls (crawl, key, p, depth, state)
                 SELECT $1, k, -1, 0, 2 FROM unnest($2::bytea[]) AS t(k)
                 ON CONFLICT (crawl, key) DO UPDATE SET state = 2, taken = NULL, lowered = false
                 WHERE wisp_urls.state = 0"
                    .to_string(),
                vec![
                    crawl.clone(),
                    Some(array(keys.iter().map(|k| Some(k.as_str())))),
                ],
            ));
        }
        if !robots.is_empty() {
            let mut rows: Vec<_> = robots.into_iter().collect();
            rows.sort_unstable();
            let rules: Vec<String> = rows.iter().map(|(_, r)| bytea(r)).collect();
            out.push((
                "INSERT INTO wisp_robots (crawl, origin, fetched, rules)
                 SELECT $1, o, now(), r FROM unnest($2::text[], $3::bytea[]) AS t(o, r)
                 ON CONFLICT (crawl, origin) DO UPDATE
                 SET fetched = excluded.fetched, rules = excluded.rules"
                    .to_string(),
                vec![
                    crawl.clone(),
                    Some(array(rows.iter().map(|(o, _)| Some(*o)))),
                    Some(array(rules.iter().map(|r| Some(r.as_str())))),
                ],
            ));
        }
        if !hosts.is_empty() {
            let mut rows: Vec<_> = hosts.into_iter().collect();
            rows.sort_unstable();
            let waits: Vec<String> = rows
                .iter()
                .map(|(_, w)| format!("{} milliseconds", w.as_millis()))
                .collect();
            out.push((
                "INSERT INTO wisp_hosts (crawl, host, next_at)
                 SELECT $1, h, clock_timestamp() + w FROM unnest($2::text[], $3::interval[])
                     AS t(h, w)
                 ON CONFLICT (crawl, host) DO UPDATE SET next_at = excluded.next_at"
                    .to_string(),
                vec![
                    crawl,
                    Some(array(rows.iter().map(|(h, _)| Some(*h)))),
                    Some(array(waits.iter().map(|w| Some(w.as_str())))),
                ],
            ));
        }
        out
    }

    fn commit_now(&mut self) -> Result<(), PgError> {
        self.pg.batch("BEGIN")?;
        // The fence: renewing takes the row locks of this session's partitions until COMMIT,
        // and drops from `owned` (so from the records' statement) any that was taken over.
        self.renew()?;
        let statements = self.statements();
        let mut pipeline: Vec<Statement<'_>> = statements
            .iter()
            .map(|(sql, params)| Statement {
                sql,
                params: params.clone(),
            })
            .collect();
        pipeline.push(Statement {
            sql: "COMMIT",
            params: Vec::new(),
        });
        self.pg.pipeline(&pipeline)?;
        self.batch.clear();
        self.batch_keys.clear();
        self.batch_robots.clear();
        self.batch_hosts.clear();
        self.last_commit = now();
        Ok(())
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<super::pg_wire::Rows, String> {
        if self.broken {
            return Err("the crawl's database failed before".into());
        }
        self.pg.query(sql, params).map_err(|e| {
            self.broken = true;
            format!("cannot read the crawl from the database: {e}")
        })
    }
}

/// A stable 64-bit hash of a text (FNV-1a, as the partitions use).
fn fnv(text: &str) -> u64 {
    super::shard::host_hash(text)
}

impl Journal for SharedState {
    fn write(&mut self, changes: &mut Vec<Change>) -> Result<(), String> {
        if self.broken {
            return Err("the crawl's database failed before".into());
        }
        for change in changes.drain(..) {
            match &change {
                Change::Queued {
                    key,
                    url,
                    depth,
                    spilled,
                    ..
                } => {
                    let mine = partition_of_url(url).is_some_and(|p| self.owned.contains_key(&p));
                    if !mine {
                        // Another partition's: sent once per depth it gets shallower at.
                        match self.sent.get(key) {
                            Some(d) if *d <= *depth => continue,
                            _ => {}
                        }
                        if self.sent.len() >= SENT_CACHE {
                            self.sent.clear();
                        }
                        self.sent.insert(*key, *depth);
                    } else if *spilled {
                        let d = match self.batch_keys.get(key) {
                            Some(Lookup::Spilled { depth: d }) => (*d).min(*depth),
                            _ => *depth,
                        };
                        self.batch_keys.insert(*key, Lookup::Spilled { depth: d });
                    }
                }
                Change::Lowered { key, depth } => {
                    if let Some(Lookup::Spilled { depth: d }) = self.batch_keys.get_mut(key) {
                        *d = (*d).min(*depth);
                    }
                }
                Change::Seen { key } | Change::Recorded { key: Some(key), .. } => {
                    self.batch_keys.insert(*key, Lookup::Settled);
                }
                Change::Recorded { key: None, .. } => {}
                Change::Robots { origin, rules } => {
                    self.batch_robots.insert(origin.clone(), rules.clone());
                }
                Change::HostNext { host, wait } => {
                    self.batch_hosts.insert(host.clone(), *wait);
                }
            }
            self.batch.push(change);
        }
        Ok(())
    }

    fn commit(&mut self, force: bool) -> Result<(), String> {
        if self.broken {
            return Err("the crawl's database failed before".into());
        }
        let at = now();
        let due = force
            || self.batch.len() >= COMMIT_CHANGES
            || at.saturating_duration_since(self.last_commit) >= COMMIT_EVERY;
        if !due || (self.batch.is_empty() && !force) {
            return Ok(());
        }
        if self.batch.is_empty() {
            // Leases are renewed by the polls.
            return Ok(());
        }
        self.commit_now().map_err(|e| self.fail(e))
    }

    fn resuming(&self) -> bool {
        self.resuming
    }

    fn memory_urls(&self) -> usize {
        self.memory_urls
    }

    fn resume(&mut self) -> Result<Vec<(u32, u64)>, String> {
        // The polls say what waits in the partitions this process gets.
        Ok(Vec::new())
    }

    fn lookup(&mut self, key: Key) -> Result<Lookup, String> {
        if let Some(found) = self.batch_keys.get(&key) {
            return Ok(*found);
        }
        let rows = self.query(
            "SELECT state, depth, taken IS NOT DISTINCT FROM $3 FROM wisp_urls
             WHERE crawl = $1 AND key = $2",
            &[
                text(self.crawl),
                Some(bytea(&key.to_bytes())),
                text(&self.owner),
            ],
        )?;
        Ok(match rows.first() {
            None => Lookup::Unknown,
            Some(row) if int(row, 0) == 0 && row[2].as_deref() != Some("t") => Lookup::Spilled {
                depth: int(row, 1) as u32,
            },
            // Recorded or seen; or in this session's memory.
            Some(_) => Lookup::Settled,
        })
    }

    fn unspill(&mut self, n: usize, each: &mut dyn FnMut(Spilled)) -> Result<(), String> {
        if self.owned.is_empty() || now() >= self.lease_until {
            return Ok(());
        }
        // What the batch queued must be in the table first.
        if !self.batch.is_empty() {
            self.commit(true)?;
        }
        let parts = self.owned_array();
        let rows = self.query(
            "UPDATE wisp_urls u SET taken = $2
             FROM (SELECT key FROM wisp_urls
                   WHERE crawl = $1 AND state = 0 AND p = ANY($3::int[])
                     AND taken IS DISTINCT FROM $2
                   ORDER BY depth, seq LIMIT $4 FOR UPDATE SKIP LOCKED) t
             WHERE u.crawl = $1 AND u.key = t.key
             RETURNING u.key, u.url, u.depth, u.referrer, u.seq",
            &[text(self.crawl), text(&self.owner), Some(parts), text(n)],
        )?;
        let mut taken: Vec<(u32, i64, Spilled)> = Vec::new();
        for row in rows {
            let Some(key) = key_of(&row[0]) else {
                continue;
            };
            let depth = int(&row, 2) as u32;
            taken.push((
                depth,
                int(&row, 4),
                Spilled {
                    key,
                    url: row[1].clone().unwrap_or_default(),
                    depth,
                    referrer: row[3].clone(),
                },
            ));
        }
        taken.sort_by_key(|(d, seq, _)| (*d, *seq));
        for (_, _, spilled) in taken {
            each(spilled);
        }
        Ok(())
    }

    fn robots(&mut self, origin: &str) -> Result<Option<(Vec<u8>, Duration)>, String> {
        if let Some(rules) = self.batch_robots.get(origin) {
            return Ok(Some((rules.clone(), Duration::ZERO)));
        }
        let rows = self.query(
            "SELECT rules, greatest(0, floor(extract(epoch FROM now() - fetched) * 1000))::bigint
             FROM wisp_robots WHERE crawl = $1 AND origin = $2",
            &[text(self.crawl), text(origin)],
        )?;
        Ok(rows.first().and_then(|row| {
            let rules = from_bytea(row[0].as_deref()?)?;
            Some((rules, Duration::from_millis(int(row, 1).max(0) as u64)))
        }))
    }

    fn host_wait(&mut self, host: &str) -> Result<Option<Duration>, String> {
        if let Some(wait) = self.batch_hosts.get(host) {
            return Ok(Some(*wait));
        }
        let rows = self.query(
            "SELECT floor(extract(epoch FROM next_at - clock_timestamp()) * 1000)::bigint
             FROM wisp_hosts WHERE crawl = $1 AND host = $2",
            &[text(self.crawl), text(host)],
        )?;
        Ok(rows
            .first()
            .map(|row| int(row, 0))
            .filter(|ms| *ms > 0)
            .map(|ms| Duration::from_millis(ms as u64)))
    }

    fn poll(&mut self, force: bool) -> Result<Option<Shared>, String> {
        if self.broken {
            return Err("the crawl's database failed before".into());
        }
        let at = now();
        let recent = |last: Option<Instant>, every: Duration| {
            last.is_some_and(|l| at.saturating_duration_since(l) < every)
        };
        if self.shared.lost || (!force && recent(self.last_poll, POLL_EVERY)) {
            return Ok(Some(self.shared));
        }
        self.last_poll = Some(at);
        let renew_due = !self.owned.is_empty()
            && at.saturating_duration_since(self.last_renew) >= self.lease.renew_every();
        // Without a partition, at every poll: a new worker gets to work as soon as there is.
        let claim_due = self.owned.is_empty() || !recent(self.last_claim, CLAIM_EVERY);
        let step = (|| {
            if renew_due {
                self.renew()?;
            }
            if claim_due && !self.shared.lost {
                self.last_claim = Some(at);
                self.claim()?;
            }
            let parts = self.owned_array();
            let rows = self.pg.query(
                "SELECT (SELECT min(depth) FROM wisp_urls WHERE crawl = $1 AND state = 0
                            AND taken IS DISTINCT FROM $3),
                        (SELECT min(depth) FROM wisp_urls WHERE crawl = $1 AND state = 0
                            AND p = ANY($2::int[]) AND taken IS DISTINCT FROM $3)",
                &[text(self.crawl), Some(parts), text(&self.owner)],
            )?;
            let row = rows.first().cloned().unwrap_or_default();
            let depth = |i: usize| row.get(i).and_then(|v| v.as_deref()?.parse().ok());
            self.shared.min_unfetched = depth(0);
            self.shared.waiting = depth(1);
            // After the depths: a lowering committed before that snapshot is read here, so
            // no record is written at a depth the snapshot already knew was too deep.
            let lowered = self.pg.query(
                "UPDATE wisp_urls SET lowered = false
                 WHERE crawl = $1 AND taken = $2 AND lowered AND state = 0
                 RETURNING key, depth",
                &[text(self.crawl), text(&self.owner)],
            )?;
            for row in lowered {
                if let Some(key) = key_of(&row[0]) {
                    self.lowerings.push((key, int(&row, 1) as u32));
                }
            }
            Ok::<(), PgError>(())
        })();
        if let Err(e) = step {
            return Err(self.fail(e));
        }
        Ok(Some(self.shared))
    }

    fn lowered(&mut self) -> Vec<(Key, u32)> {
        std::mem::take(&mut self.lowerings)
    }

    fn owns(&self, host: &str) -> bool {
        self.owned.contains_key(&partition_of(host))
    }

    fn may_fetch(&self, host: &str) -> bool {
        // A margin of a tenth of the lease: a fetch starting now must not outlive the claim
        // by this process's own reckoning.
        !self.shared.lost && self.owns(host) && now() + self.lease.0 / 10 < self.lease_until
    }
}

impl Drop for SharedState {
    fn drop(&mut self) {
        if !self.broken {
            let _ = Journal::commit(self, true);
        }
    }
}

/// [`crawl_with_progress`](super::crawl_with_progress) as one of many processes sharing
/// `state` (see the module documentation): returns when the whole crawl is done (no URL
/// without a record in any process's partition), or on a stop request. A session that lost a
/// partition starts again by itself.
pub async fn crawl_shared(
    config: &Config,
    seeds: impl IntoIterator<Item = String>,
    mut hooks: Hooks<'_>,
    mut progress: impl FnMut(&Progress),
    state: &mut SharedState,
) -> Result<Summary, Error> {
    let seeds: Vec<String> = seeds.into_iter().collect();
    let mut total = Summary::default();
    loop {
        let summary = run_session(
            config,
            seeds.clone(),
            &mut hooks,
            &mut progress,
            Some(&mut *state),
        )
        .await?;
        total.add(&summary);
        if !state.lost() || summary.state_error.is_some() || summary.interrupted {
            break;
        }
        total.restarts += 1;
        if let Err(e) = state.restart_session() {
            total.state_error = Some(e);
            break;
        }
    }
    if total.state_error.is_none()
        && let Err(e) = state.leave()
    {
        total.state_error = Some(e.0);
    }
    Ok(total)
}
