//! What a crawl tells a durable store as it goes, so that a later run can go on where it
//! stopped: the interface between the engine and a store such as [`State`](super::state).
//!
//! The engine stays in memory and in charge; the journal only hears of its decisions, in
//! batches ([`Journal::write`]), and makes them durable now and then ([`Journal::commit`],
//! about every 100 ms: a commit per record would cost more than the fetch). What a store holds
//! after a commit is enough to resume:
//!
//! - every URL the crawl knows that has no record yet, with its depth (tentative: only ever
//!   lowered) and the page it was found on: fetched again by the next run;
//! - every URL whose record was written: never fetched again;
//! - URLs handed to another shard: not handed off twice.
//!
//! A URL in flight, or fetched with its record still held back (its depth not final), has no
//! record in the store: after a crash or a stop it is fetched again, which costs one request and
//! keeps "one record per URL" true across runs.

use std::rc::Rc;

use super::normalize::Key;

/// One decision of the engine, in the order it was made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Change {
    /// A new URL to fetch (`url` normalized).
    Queued {
        key: Key,
        url: String,
        depth: u32,
        referrer: Option<Rc<str>>,
    },
    /// A known URL without a record got a shorter path.
    Lowered { key: Key, depth: u32 },
    /// Seen, never to be fetched here: a new URL of another shard (handed off), or the URL a
    /// recorded redirect chain ended at (fetched under the chain's first URL).
    Seen { key: Key },
    /// A record was written: its JSON line (`key` is `None` for a seed that is not a URL).
    Recorded {
        key: Option<Key>,
        depth: u32,
        json: String,
    },
}

/// A URL as a store gives it back to a resuming crawl.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Stored {
    /// Known, no record yet: to fetch.
    Unfetched {
        key: Key,
        url: String,
        depth: u32,
        referrer: Option<String>,
    },
    /// Recorded, or another shard's: never fetched by this crawl again.
    Settled { key: Key, depth: u32 },
}

/// A durable store of a crawl's decisions (see the module documentation).
pub(crate) trait Journal {
    /// Takes the changes into the store's current batch (not yet durable).
    fn write(&mut self, changes: &mut Vec<Change>) -> Result<(), String>;

    /// Makes everything written so far durable, if the batch is due (`force`: now).
    fn commit(&mut self, force: bool) -> Result<(), String>;

    /// Whether the store holds a crawl already (the run resumes it: no seeding).
    fn resuming(&self) -> bool;

    /// Every URL of the crawl being resumed, unfetched ones in the order they were queued.
    fn load(&mut self, each: &mut dyn FnMut(Stored)) -> Result<(), String>;
}
