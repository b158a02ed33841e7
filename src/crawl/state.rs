//! A crawl's state in an SQLite file (`crawl --state PATH`): run the same command again and it
//! goes on where it stopped, after Ctrl-C or a crash.
//!
//! ```no_run
//! use std::sync::Arc;
//! use std::sync::atomic::AtomicBool;
//! use wisp::crawl::state::{State, crawl_resumable};
//! use wisp::crawl::{Config, Hooks};
//!
//! let config = Config::default();
//! let seeds = vec!["http://example.com/".to_string()];
//! let mut state = State::open("crawl.state".as_ref()).unwrap();
//! state.check(&config, &seeds, false).unwrap(); // refuses a changed --depth, scope, ...
//! let hooks = Hooks {
//!     on_record: Box::new(|record| println!("{}", record.to_json())),
//!     on_foreign_link: Box::new(|_| {}),
//!     stop: Arc::new(AtomicBool::new(false)),
//! };
//! let summary = wisp::block_on(crawl_resumable(&config, seeds, hooks, |_| {}, &mut state));
//! ```
//!
//! # What it holds, and what survives
//!
//! The engine's decisions come in through the journal interface (`journal.rs`): every URL the crawl knows
//! (`urls`: its key, URL, depth, the page it was found on, and whether it has a record), every
//! record written (`records`, in order, for `--export-jsonl`), and the options that give the
//! crawl its meaning (`meta`). They are committed in batches, [`COMMIT_EVERY`] apart or every
//! [`COMMIT_CHANGES`] changes, in SQLite's write-ahead log with `synchronous = NORMAL`: a
//! committed batch survives the process being killed (`kill -9`), though not a power cut of the
//! machine at that moment; the file is never left half-written. After a crash, what was not
//! committed is lost: the URLs fetched since the last batch are fetched again, and the records
//! written since it are cut off the JSONL file ([`State::committed_output`]).
//!
//! Also kept: robots.txt as read, per origin (a resumed crawl does not fetch it again for 24 h
//! after it was fetched), and, with `--delay`, when each host may be fetched next. These two
//! are wall-clock times, as they must outlive the process.
//!
//! # Memory
//!
//! The crawl keeps about [`MEMORY_URLS`] URLs to fetch in memory, the shallowest, and the file
//! holds the rest; recorded URLs leave memory for a bounded cache, and idle hosts for the file
//! (see `journal.rs`). A crawl of a million URLs stays under 100 MB
//! (`cargo bench --features state --bench crawl_memory`).

use std::cell::Cell;
use std::fmt;
use std::io::Write;
use std::path::Path;
use std::rc::Rc;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OptionalExtension, params};

use super::config::{Config, Hooks};
use super::engine::run_crawl;
use super::journal::{Change, Journal, Lookup, Spilled, meaning, shown};
use super::normalize::Key;
use super::stats::{Progress, Summary};
use crate::http::Error;
use crate::time::now;

/// SQLite's `application_id` of a wisp state file: "wisp" in ASCII.
const APPLICATION_ID: i32 = 0x7769_7370;
/// The layout this code writes and reads (`user_version`).
const SCHEMA_VERSION: i32 = 1;
/// Longest time between two commits.
pub const COMMIT_EVERY: Duration = Duration::from_millis(100);
/// Most changes in one batch before it is committed.
pub const COMMIT_CHANGES: usize = 5_000;
/// What the program sets the output counter to when its `--jsonl` file could not be written
/// ([`State::output_counter`]): the next commit fails, and the state keeps its last one.
pub const OUTPUT_FAILED: u64 = u64::MAX;

/// SQLite's page cache, in KiB: part of the crawl's memory bound. It holds the URL index of
/// about a million URLs (some 30 bytes each), where links are looked up.
const CACHE_KIB: i64 = 32 * 1024;
/// URLs to fetch a crawl keeps in memory by default; the others wait in the file.
pub const MEMORY_URLS: usize = 20_000;

const SCHEMA: &str = "
CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
-- done: 0 = to fetch, 1 = recorded, 2 = seen (another shard's, or a redirect chain's target)
-- spilled: 1 = to fetch and not in the crawl's memory (it waits here)
-- Rows are small (no text), so that the index a link is looked up in stays in the page cache.
CREATE TABLE urls (
    key BLOB PRIMARY KEY,
    depth INTEGER NOT NULL,
    done INTEGER NOT NULL,
    spilled INTEGER NOT NULL DEFAULT 0,
    seq INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX urls_spilled ON urls (depth, seq) WHERE done = 0 AND spilled = 1;
-- the URL and referrer of each URL queued, by the seq of its row in urls: appended in order, so
-- that writing it touches the last pages only
CREATE TABLE queue (seq INTEGER PRIMARY KEY, url TEXT NOT NULL, referrer TEXT);
CREATE TABLE records (seq INTEGER PRIMARY KEY, json TEXT NOT NULL);
-- robots.txt per origin, as the crawler read it; fetched_ms: Unix time in milliseconds
CREATE TABLE robots (origin TEXT PRIMARY KEY, fetched_ms INTEGER NOT NULL, rules BLOB NOT NULL)
    WITHOUT ROWID;
-- when a host may be fetched again (--delay), Unix time in milliseconds
CREATE TABLE hosts (host TEXT PRIMARY KEY, next_ms INTEGER NOT NULL) WITHOUT ROWID;
";

/// Milliseconds since the Unix epoch: the state's timestamps outlive the process, so they are
/// the wall clock's (not the runtime's, which may be virtual in a test, and starts at boot).
fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Why a state file cannot be used, in words for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateError(pub String);

impl fmt::Display for StateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StateError {}

/// An open crawl state (see the module documentation).
pub struct State {
    conn: Connection,
    /// The file held a crawl when it was opened.
    resuming: bool,
    /// Changes in the open transaction.
    pending: usize,
    last_commit: Instant,
    next_seq: i64,
    /// Bytes of JSONL output written, set by the program as it writes; committed with each
    /// batch, so that a resumed run can cut off what came after.
    output: Rc<Cell<u64>>,
    committed_output: u64,
    memory_urls: usize,
    /// A write, commit or the output failed: nothing more is committed (see `give_up`).
    broken: bool,
}

impl fmt::Debug for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("State")
            .field("resuming", &self.resuming)
            .field("pending", &self.pending)
            .finish_non_exhaustive()
    }
}

impl State {
    /// Opens the state at `path`, creating it if there is no file (or an empty one). Anything
    /// else than a wisp state is refused here, before the crawl fetches anything: another
    /// SQLite database, a file that is not one, a state written by a newer wisp.
    pub fn open(path: &Path) -> Result<State, StateError> {
        let name = path.display();
        let fail = |what: &str, e: rusqlite::Error| StateError(format!("{name}: {what}: {e}"));
        let conn = Connection::open(path).map_err(|e| fail("cannot open", e))?;
        // Reading the header is where a file that is not a database shows.
        let read = |pragma: &str| conn.pragma_query_value(None, pragma, |row| row.get::<_, i32>(0));
        let (app, version) = match (read("application_id"), read("user_version")) {
            (Ok(app), Ok(version)) => (app, version),
            (Err(e), _) | (_, Err(e)) => {
                return Err(StateError(format!(
                    "{name} is not a wisp crawl state (not an SQLite database: {e})"
                )));
            }
        };
        let tables: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_schema", [], |row| row.get(0))
            .map_err(|e| fail("cannot read", e))?;
        let fresh = app == 0 && version == 0 && tables == 0;
        if !fresh && app != APPLICATION_ID {
            return Err(StateError(format!(
                "{name} is an SQLite database, but not a wisp crawl state"
            )));
        }
        if !fresh && version > SCHEMA_VERSION {
            return Err(StateError(format!(
                "{name} was written by a newer wisp (state version {version}; this one reads \
                 version {SCHEMA_VERSION})"
            )));
        }
        if !fresh && version < 1 {
            return Err(StateError(format!(
                "{name} is not a complete wisp crawl state (version {version})"
            )));
        }
        // The page cache holds the hot part of the URL index (lookups of links); a checkpoint
        // of the write-ahead log every 32 MiB instead of SQLite's 4 MiB writes fewer times.
        conn.pragma_update(None, "journal_mode", "WAL")
            .and_then(|()| conn.pragma_update(None, "synchronous", "NORMAL"))
            .and_then(|()| conn.pragma_update(None, "cache_size", -CACHE_KIB))
            .and_then(|()| conn.pragma_update(None, "wal_autocheckpoint", 8192))
            // Closing does not copy the log into the file (and sync it): the commits in it are
            // as safe there, and the next open or checkpoint reads them.
            .and_then(|()| {
                conn.set_db_config(
                    rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
                    true,
                )
                .map(drop)
            })
            .map_err(|e| fail("cannot set up", e))?;
        if fresh {
            let setup = format!(
                "BEGIN; {SCHEMA} PRAGMA application_id = {APPLICATION_ID}; \
                 PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
            );
            conn.execute_batch(&setup)
                .map_err(|e| fail("cannot write", e))?;
        }
        let meta = |key: &str| -> Result<Option<String>, StateError> {
            conn.query_row("SELECT value FROM meta WHERE name = ?1", [key], |row| {
                row.get(0)
            })
            .optional()
            .map_err(|e| fail("cannot read", e))
        };
        // A crawl is there once its first URLs or records are (the options alone, committed
        // before a crash that came first, are no crawl to resume).
        let resuming: bool = conn
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM urls) OR EXISTS (SELECT 1 FROM records)",
                [],
                |row| row.get(0),
            )
            .map_err(|e| fail("cannot read", e))?;
        let committed_output = meta("output_bytes")?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let next_seq: i64 = conn
            .query_row("SELECT coalesce(max(seq), 0) + 1 FROM urls", [], |row| {
                row.get(0)
            })
            .map_err(|e| fail("cannot read", e))?;
        conn.execute_batch("BEGIN")
            .map_err(|e| fail("cannot write", e))?;
        Ok(State {
            conn,
            resuming,
            pending: 0,
            last_commit: now(),
            next_seq,
            output: Rc::new(Cell::new(committed_output)),
            committed_output,
            memory_urls: MEMORY_URLS,
            broken: false,
        })
    }

    /// How many URLs to fetch the crawl keeps in memory ([`MEMORY_URLS`] unless set); the
    /// others wait in the file, shallowest back first. Fewer costs more reads of the file.
    pub fn set_memory_urls(&mut self, n: usize) {
        self.memory_urls = n.max(1);
    }

    /// Whether the file held a crawl: running it resumes that crawl.
    pub fn resuming(&self) -> bool {
        self.resuming
    }

    /// Records the options that give the crawl its meaning, or, when resuming, refuses those
    /// that changed, naming the option (with `force`: takes the new values instead).
    pub fn check(
        &mut self,
        config: &Config,
        seeds: &[String],
        force: bool,
    ) -> Result<(), StateError> {
        for (option, value) in meaning(config, seeds) {
            let stored: Option<String> = self
                .conn
                .query_row("SELECT value FROM meta WHERE name = ?1", [option], |row| {
                    row.get(0)
                })
                .optional()
                .map_err(|e| StateError(format!("cannot read the state: {e}")))?;
            if let Some(stored) = &stored
                && *stored != value
                && !force
            {
                return Err(StateError(format!(
                    "this state is a crawl with {option} {}, not {}: run it with the same \
                     {option}, or give --force to go on with the new one",
                    shown(stored),
                    shown(&value)
                )));
            }
            if stored.as_deref() != Some(&value) {
                self.conn
                    .execute(
                        "INSERT INTO meta (name, value) VALUES (?1, ?2)
                         ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                        params![option, value],
                    )
                    .map_err(|e| StateError(format!("cannot write the state: {e}")))?;
            }
        }
        Journal::commit(self, true).map_err(StateError)
    }

    /// Where the program counts the bytes of JSONL it has written (and flushed): each commit
    /// stores the count with the records it covers. Set it to [`OUTPUT_FAILED`] when a write
    /// of the file fails: the crawl then stops, and the state keeps its last commit.
    pub fn output_counter(&self) -> Rc<Cell<u64>> {
        self.output.clone()
    }

    /// The JSONL bytes the last commit covered when the state was opened: a resumed run cuts its
    /// `--jsonl` file back to this length (what came after has no committed record) and
    /// appends from there.
    pub fn committed_output(&self) -> u64 {
        self.committed_output
    }

    /// Writes every record of the crawl, in the order they were written, one JSON line each.
    /// Returns how many.
    pub fn export_jsonl(&self, out: &mut dyn Write) -> Result<u64, StateError> {
        let read = |e: rusqlite::Error| StateError(format!("cannot read the state: {e}"));
        let mut statement = self
            .conn
            .prepare("SELECT json FROM records ORDER BY seq")
            .map_err(read)?;
        let mut rows = statement.query([]).map_err(read)?;
        let mut n = 0;
        while let Some(row) = rows.next().map_err(read)? {
            let json: String = row.get(0).map_err(read)?;
            writeln!(out, "{json}").map_err(|e| StateError(e.to_string()))?;
            n += 1;
        }
        out.flush().map_err(|e| StateError(e.to_string()))?;
        Ok(n)
    }

    /// URLs with a record, and URLs still to fetch.
    pub fn counts(&self) -> Result<(u64, u64), StateError> {
        self.conn
            .query_row(
                "SELECT count(*) FILTER (WHERE done = 1), count(*) FILTER (WHERE done = 0)
                 FROM urls",
                [],
                |row| Ok((row.get::<_, i64>(0)? as u64, row.get::<_, i64>(1)? as u64)),
            )
            .map_err(|e| StateError(format!("cannot read the state: {e}")))
    }

    /// After a failed write or commit, or a failed output: the open batch is rolled back and
    /// nothing is committed from then on, so that the file keeps exactly what its last commit
    /// said (a later commit of a half-written batch, with the output's length of now, would
    /// count records the file does not hold). Returns `error`.
    fn give_up(&mut self, error: String) -> String {
        self.broken = true;
        let _ = self.conn.execute_batch("ROLLBACK");
        error
    }

    fn apply(&mut self, change: &Change) -> rusqlite::Result<()> {
        match change {
            Change::Queued {
                key,
                url,
                depth,
                referrer,
                spilled,
            } => {
                let seq = self.next_seq;
                self.next_seq += 1;
                let new = self
                    .conn
                    .prepare_cached(
                        "INSERT INTO urls (key, depth, done, spilled, seq)
                         VALUES (?1, ?2, 0, ?3, ?4) ON CONFLICT (key) DO NOTHING",
                    )?
                    .execute(params![key.to_bytes(), depth, spilled, seq])?;
                if new > 0 {
                    self.conn
                        .prepare_cached(
                            "INSERT INTO queue (seq, url, referrer) VALUES (?1, ?2, ?3)",
                        )?
                        .execute(params![seq, url, referrer.as_deref()])?;
                }
            }
            Change::Lowered { key, depth } => {
                self.conn
                    .prepare_cached(
                        "UPDATE urls SET depth = ?2 WHERE key = ?1 AND done = 0 AND depth > ?2",
                    )?
                    .execute(params![key.to_bytes(), depth])?;
            }
            Change::Seen { key } => {
                let seq = self.next_seq;
                self.next_seq += 1;
                self.conn
                    .prepare_cached(
                        "INSERT INTO urls (key, depth, done, seq) VALUES (?1, 0, 2, ?2)
                         ON CONFLICT (key) DO UPDATE SET done = 2 WHERE done = 0",
                    )?
                    .execute(params![key.to_bytes(), seq])?;
            }
            Change::Robots { origin, rules } => {
                self.conn
                    .prepare_cached(
                        "INSERT INTO robots (origin, fetched_ms, rules) VALUES (?1, ?2, ?3)
                         ON CONFLICT (origin) DO UPDATE
                         SET fetched_ms = excluded.fetched_ms, rules = excluded.rules",
                    )?
                    .execute(params![origin, unix_ms(), rules])?;
            }
            Change::HostNext { host, wait } => {
                let next = unix_ms().saturating_add(wait.as_millis().min(i64::MAX as u128) as i64);
                self.conn
                    .prepare_cached(
                        "INSERT INTO hosts (host, next_ms) VALUES (?1, ?2)
                         ON CONFLICT (host) DO UPDATE SET next_ms = excluded.next_ms",
                    )?
                    .execute(params![host, next])?;
            }
            Change::Recorded { key, depth, json } => {
                if let Some(key) = key {
                    let seq = self.next_seq;
                    self.next_seq += 1;
                    self.conn
                        .prepare_cached(
                            "INSERT INTO urls (key, depth, done, seq) VALUES (?1, ?2, 1, ?3)
                             ON CONFLICT (key) DO UPDATE
                             SET done = 1, spilled = 0, depth = excluded.depth",
                        )?
                        .execute(params![key.to_bytes(), depth, seq])?;
                }
                self.conn
                    .prepare_cached("INSERT INTO records (json) VALUES (?1)")?
                    .execute([json])?;
            }
        }
        Ok(())
    }
}

/// What `fail` says when a write of the state fails (a full disk says so itself).
fn write_error(e: rusqlite::Error) -> String {
    format!("cannot write the crawl state: {e}")
}

impl Journal for State {
    fn write(&mut self, changes: &mut Vec<Change>) -> Result<(), String> {
        if self.broken {
            return Err("the crawl state failed before".into());
        }
        for change in changes.iter() {
            if let Err(e) = self.apply(change) {
                return Err(self.give_up(write_error(e)));
            }
        }
        self.pending += changes.len();
        changes.clear();
        Ok(())
    }

    fn commit(&mut self, force: bool) -> Result<(), String> {
        let due = force
            || self.pending >= COMMIT_CHANGES
            || now().saturating_duration_since(self.last_commit) >= COMMIT_EVERY;
        if self.broken {
            return Err("the crawl state failed before".into());
        }
        if !due || (self.pending == 0 && !force) {
            return Ok(());
        }
        if self.output.get() == OUTPUT_FAILED {
            // Records went out since the last commit that the output file does not hold:
            // committing them would leave them out of the file for good.
            return Err(self.give_up("the --jsonl output could not be written".into()));
        }
        let committed = self
            .conn
            .execute(
                "INSERT INTO meta (name, value) VALUES ('output_bytes', ?1)
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                [self.output.get().to_string()],
            )
            .and_then(|_| self.conn.execute_batch("COMMIT; BEGIN"));
        if let Err(e) = committed {
            return Err(self.give_up(write_error(e)));
        }
        self.pending = 0;
        self.last_commit = now();
        Ok(())
    }

    fn resuming(&self) -> bool {
        self.resuming
    }

    fn memory_urls(&self) -> usize {
        self.memory_urls
    }

    fn resume(&mut self) -> Result<Vec<(u32, u64)>, String> {
        let read = |e: rusqlite::Error| format!("cannot read the crawl state: {e}");
        self.conn
            .execute(
                "UPDATE urls SET spilled = 1 WHERE done = 0 AND spilled = 0",
                [],
            )
            .map_err(write_error)?;
        let mut statement = self
            .conn
            .prepare("SELECT depth, count(*) FROM urls WHERE done = 0 GROUP BY depth")
            .map_err(read)?;
        let rows = statement
            .query_map([], |row| Ok((row.get(0)?, row.get::<_, i64>(1)? as u64)))
            .map_err(read)?;
        rows.collect::<Result<_, _>>().map_err(read)
    }

    fn lookup(&mut self, key: Key) -> Result<Lookup, String> {
        let found: Option<(i64, u32, bool)> = self
            .conn
            .prepare_cached("SELECT done, depth, spilled FROM urls WHERE key = ?1")
            .and_then(|mut s| {
                s.query_row([key.to_bytes()], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?))
                })
                .optional()
            })
            .map_err(|e| format!("cannot read the crawl state: {e}"))?;
        Ok(match found {
            None => Lookup::Unknown,
            Some((0, depth, true)) => Lookup::Spilled { depth },
            // Recorded or seen; or to fetch and in memory (which the frontier knows itself).
            Some(_) => Lookup::Settled,
        })
    }

    fn robots(&mut self, origin: &str) -> Result<Option<(Vec<u8>, Duration)>, String> {
        let kept: Option<(i64, Vec<u8>)> = self
            .conn
            .prepare_cached("SELECT fetched_ms, rules FROM robots WHERE origin = ?1")
            .and_then(|mut s| {
                s.query_row([origin], |row| Ok((row.get(0)?, row.get(1)?)))
                    .optional()
            })
            .map_err(|e| format!("cannot read the crawl state: {e}"))?;
        // A time ahead of the clock (it was set back) counts as just fetched.
        Ok(kept.map(|(at, rules)| {
            let age = unix_ms().saturating_sub(at).max(0) as u64;
            (rules, Duration::from_millis(age))
        }))
    }

    fn host_wait(&mut self, host: &str) -> Result<Option<Duration>, String> {
        let next: Option<i64> = self
            .conn
            .prepare_cached("SELECT next_ms FROM hosts WHERE host = ?1")
            .and_then(|mut s| s.query_row([host], |row| row.get(0)).optional())
            .map_err(|e| format!("cannot read the crawl state: {e}"))?;
        Ok(next
            .map(|next| next.saturating_sub(unix_ms()))
            .filter(|wait| *wait > 0)
            .map(|wait| Duration::from_millis(wait as u64)))
    }

    fn unspill(&mut self, n: usize, each: &mut dyn FnMut(Spilled)) -> Result<(), String> {
        let read = |e: rusqlite::Error| format!("cannot read the crawl state: {e}");
        let mut taken = Vec::new();
        {
            let mut statement = self
                .conn
                .prepare_cached(
                    "SELECT u.key, q.url, u.depth, q.referrer FROM urls u
                     LEFT JOIN queue q ON q.seq = u.seq
                     WHERE u.done = 0 AND u.spilled = 1 ORDER BY u.depth, u.seq LIMIT ?1",
                )
                .map_err(read)?;
            let mut rows = statement.query([n as i64]).map_err(read)?;
            while let Some(row) = rows.next().map_err(read)? {
                let bytes: Vec<u8> = row.get(0).map_err(read)?;
                let Ok(bytes) = <[u8; 16]>::try_from(bytes.as_slice()) else {
                    continue;
                };
                taken.push(Spilled {
                    key: Key::from_bytes(bytes),
                    url: row
                        .get::<_, Option<String>>(1)
                        .map_err(read)?
                        .unwrap_or_default(),
                    depth: row.get(2).map_err(read)?,
                    referrer: row.get(3).map_err(read)?,
                });
            }
        }
        for spilled in taken {
            self.conn
                .prepare_cached("UPDATE urls SET spilled = 0 WHERE key = ?1")
                .and_then(|mut s| s.execute([spilled.key.to_bytes()]))
                .map_err(write_error)?;
            self.pending += 1;
            each(spilled);
        }
        Ok(())
    }
}

impl Drop for State {
    fn drop(&mut self) {
        // What the last batch holds (not after a failure: see `give_up`).
        let _ = Journal::commit(self, true);
    }
}

/// [`crawl_with_progress`](super::crawl_with_progress) with its state in `state`: a state that
/// holds a crawl is resumed (no URL with a record is fetched again; the seeds only set the
/// scope), and a stop leaves the URLs without a final record to the next run instead of
/// writing "interrupted" records. A failure to write the state stops the crawl
/// ([`Summary::state_error`]).
pub async fn crawl_resumable(
    config: &Config,
    seeds: impl IntoIterator<Item = String>,
    hooks: Hooks<'_>,
    progress: impl FnMut(&Progress),
    state: &mut State,
) -> Result<Summary, Error> {
    run_crawl(config, seeds, hooks, progress, Some(state)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(tag: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("wisp-state-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("crawl.state")
    }

    fn queued(i: u32) -> Change {
        let url = format!("http://h/{i:08}/{}", "x".repeat(200));
        Change::Queued {
            key: super::super::normalize::key(&url::Url::parse(&url).unwrap()),
            url,
            depth: 1,
            referrer: None,
            spilled: true,
        }
    }

    /// A full disk (here: SQLite's page limit, which fails the same way) is an error that
    /// names it, never a panic; and the file still holds every batch committed before it.
    #[test]
    fn a_full_disk_is_an_error_and_the_committed_batches_stay() {
        let path = temp("full");
        let mut state = State::open(&path).unwrap();
        state
            .check(&Config::default(), &["http://h/".into()], false)
            .unwrap();
        let mut changes: Vec<Change> = (0..100).map(queued).collect();
        state.write(&mut changes).unwrap();
        state.commit(true).unwrap();
        state
            .conn
            .pragma_update(None, "max_page_count", 40)
            .unwrap();
        let mut error = None;
        for batch in 1..1000 {
            let mut changes: Vec<Change> = (batch * 100..batch * 100 + 100).map(queued).collect();
            if let Err(e) = state.write(&mut changes).and_then(|()| state.commit(true)) {
                error = Some(e);
                break;
            }
        }
        let error = error.expect("the page limit is reached");
        assert!(error.contains("full"), "{error}");
        drop(state);
        let mut state = State::open(&path).unwrap();
        assert!(state.resuming());
        let (recorded, to_fetch) = state.counts().unwrap();
        assert_eq!(recorded, 0);
        assert!(
            to_fetch >= 100 && to_fetch % 100 == 0,
            "{to_fetch}: whole batches"
        );
        let depths = state.resume().unwrap();
        assert_eq!(depths, vec![(1, to_fetch)]);
        let mut loaded = 0;
        state
            .unspill(usize::MAX >> 1, &mut |_| loaded += 1)
            .unwrap();
        assert_eq!(loaded, to_fetch);
    }

    /// A failed output (the program's `--jsonl` file) fails the next commit, and from then on
    /// nothing is committed, not even when the state is dropped: the file keeps its last commit.
    #[test]
    fn after_a_failed_output_nothing_more_is_committed() {
        let path = temp("output");
        let mut state = State::open(&path).unwrap();
        state
            .check(&Config::default(), &["http://h/".into()], false)
            .unwrap();
        state.write(&mut vec![queued(1)]).unwrap();
        state.output_counter().set(100);
        state.commit(true).unwrap();
        state.write(&mut vec![queued(2)]).unwrap();
        state.output_counter().set(OUTPUT_FAILED);
        let e = state.commit(true).unwrap_err();
        assert!(e.contains("--jsonl"), "{e}");
        assert!(state.write(&mut vec![queued(3)]).is_err());
        state.output_counter().set(300);
        drop(state);
        let state = State::open(&path).unwrap();
        assert_eq!(state.counts().unwrap(), (0, 1), "only the first batch");
        assert_eq!(state.committed_output(), 100);
    }

    /// A first run killed after its options were committed but before its first URL was has
    /// nothing to resume: the next run seeds the crawl again.
    #[test]
    fn options_alone_are_no_crawl_to_resume() {
        let path = temp("options");
        let mut state = State::open(&path).unwrap();
        assert!(!state.resuming());
        state
            .check(&Config::default(), &["http://h/".into()], false)
            .unwrap();
        drop(state);
        let mut state = State::open(&path).unwrap();
        assert!(!state.resuming());
        state.write(&mut vec![queued(1)]).unwrap();
        drop(state);
        assert!(State::open(&path).unwrap().resuming());
    }

    /// robots.txt and a host's next allowed fetch come back from the file, with their age.
    #[test]
    fn robots_and_host_delays_are_kept() {
        let path = temp("robots");
        let mut state = State::open(&path).unwrap();
        let mut changes = vec![
            Change::Robots {
                origin: "http://h 80".into(),
                rules: b"allow".to_vec(),
            },
            Change::HostNext {
                host: "h".into(),
                wait: Duration::from_secs(3600),
            },
        ];
        state.write(&mut changes).unwrap();
        state.commit(true).unwrap();
        drop(state);
        let mut state = State::open(&path).unwrap();
        let (rules, age) = state.robots("http://h 80").unwrap().expect("kept");
        assert_eq!(rules, b"allow");
        assert!(age < Duration::from_secs(600), "{age:?}");
        assert_eq!(state.robots("https://h 443").unwrap(), None);
        let wait = state.host_wait("h").unwrap().expect("kept");
        assert!(wait > Duration::from_secs(3000) && wait <= Duration::from_secs(3600));
        assert_eq!(state.host_wait("other").unwrap(), None);
    }

    /// What the frontier asks of the store: a recorded URL is settled, a spilled one comes
    /// back shallowest first with its lowered depth, once, and a resume spills what was in
    /// memory.
    #[test]
    fn a_url_recorded_is_settled_and_a_lowered_one_keeps_its_new_depth() {
        let path = temp("settle");
        let mut state = State::open(&path).unwrap();
        state
            .check(&Config::default(), &["http://h/".into()], false)
            .unwrap();
        let Change::Queued { key: a, .. } = queued(1) else {
            unreachable!()
        };
        let Change::Queued { key: b, .. } = queued(2) else {
            unreachable!()
        };
        let mut changes = vec![
            queued(1),
            queued(2),
            Change::Lowered { key: b, depth: 0 },
            Change::Recorded {
                key: Some(a),
                depth: 1,
                json: "{\"url\":\"a\"}".into(),
            },
        ];
        state.write(&mut changes).unwrap();
        assert_eq!(state.lookup(a).unwrap(), Lookup::Settled);
        assert_eq!(state.lookup(b).unwrap(), Lookup::Spilled { depth: 0 });
        let Change::Queued { key: c, .. } = queued(3) else {
            unreachable!()
        };
        assert_eq!(state.lookup(c).unwrap(), Lookup::Unknown);
        let mut back = Vec::new();
        state.unspill(10, &mut |s| back.push(s)).unwrap();
        assert_eq!(back.len(), 1);
        assert_eq!((back[0].key, back[0].depth), (b, 0));
        assert_eq!(state.lookup(b).unwrap(), Lookup::Settled, "in memory now");
        state
            .unspill(10, &mut |_| panic!("given back once"))
            .unwrap();
        drop(state);
        let mut state = State::open(&path).unwrap();
        assert!(state.resuming());
        assert_eq!(state.resume().unwrap(), vec![(0, 1)]);
        assert_eq!(state.lookup(b).unwrap(), Lookup::Spilled { depth: 0 });
        let mut out = Vec::new();
        assert_eq!(state.export_jsonl(&mut out).unwrap(), 1);
        assert_eq!(out, b"{\"url\":\"a\"}\n");
    }
}
