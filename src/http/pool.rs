//! The keep-alive pool: idle connections per origin, bounded in number and in age.
//!
//! A connection comes back here only after its response body was read to its framed end with
//! no byte left over (ureq#555), and only if both sides allow keep-alive. Idle connections
//! expire well before the ~5 s after which common servers (nginx, Node) close them, which
//! narrows the race where a server closes a connection just as we reuse it (hyper#2136); the
//! client retries once when it loses that race anyway.

use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasherDefault;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::conn::{Conn, Origin};
use crate::fnv::Fnv;
use crate::sync::Mutex;
use crate::time::now;

/// A client's pool, shared: the client checks connections out, and a response holds a clone
/// to check its connection back in when its body ends. So a response needs the pool, not the
/// client that made it.
#[derive(Clone)]
pub(crate) struct PoolHandle(Arc<Mutex<Pool>>);

impl PoolHandle {
    pub(crate) fn new(pool: Pool) -> PoolHandle {
        PoolHandle(Arc::new(Mutex::new(pool)))
    }

    /// [`Pool::checkout`] under the lock.
    pub(crate) fn checkout(&self, origin: &Origin) -> Option<Conn> {
        self.0.lock().checkout(origin)
    }

    /// [`Pool::checkin`] under the lock.
    pub(crate) fn checkin(&self, origin: Origin, conn: Conn) {
        self.0.lock().checkin(origin, conn);
    }
}

pub(crate) struct Pool {
    /// Hashed with FNV-1a: every request hashes its origin twice (checkout and checkin), a
    /// dozen bytes, where SipHash's setup and finish cost more than the bytes (about 400
    /// instructions a request, callgrind). Keys the network chose cannot flood it into anything
    /// unbounded: the map holds only origins with idle connections, at most `max_total`, so
    /// even keys that all collide cost one bounded scan.
    idle: HashMap<Origin, VecDeque<(Conn, Instant)>, BuildHasherDefault<Fnv>>,
    /// Idle connections across all origins.
    total: usize,
    pub(crate) max_per_origin: usize,
    pub(crate) max_total: usize,
    pub(crate) expiry: Duration,
}

impl Pool {
    pub(crate) fn new(max_per_origin: usize, max_total: usize, expiry: Duration) -> Pool {
        Pool {
            idle: HashMap::default(),
            total: 0,
            max_per_origin,
            max_total,
            expiry,
        }
    }

    /// The most recently used live connection to `origin`, if any. Expired or dead ones met on
    /// the way are closed.
    pub(crate) fn checkout(&mut self, origin: &Origin) -> Option<Conn> {
        let list = self.idle.get_mut(origin)?;
        let now = now();
        let mut found = None;
        while let Some((mut conn, since)) = list.pop_back() {
            self.total -= 1;
            if now.duration_since(since) < self.expiry && conn.idle_is_alive() {
                found = Some(conn);
                break;
            }
        }
        // Older ones at the front may have expired too; drop them now rather than hold fds.
        while list
            .front()
            .is_some_and(|(_, since)| now.duration_since(*since) >= self.expiry)
        {
            list.pop_front();
            self.total -= 1;
        }
        if list.is_empty() {
            self.idle.remove(origin);
        }
        found
    }

    /// Keeps `conn` for reuse, if there is room (else it is closed).
    pub(crate) fn checkin(&mut self, origin: Origin, conn: Conn) {
        if self.max_per_origin == 0 || self.max_total == 0 {
            return;
        }
        if self.total >= self.max_total {
            self.evict_oldest();
        }
        let list = self.idle.entry(origin).or_default();
        if list.len() >= self.max_per_origin {
            list.pop_front();
            self.total -= 1;
        }
        list.push_back((conn, now()));
        self.total += 1;
    }

    /// Closes the connection that has been idle longest, across all origins.
    fn evict_oldest(&mut self) {
        let oldest = self
            .idle
            .iter()
            .filter_map(|(origin, list)| list.front().map(|(_, since)| (origin.clone(), *since)))
            .min_by_key(|(_, since)| *since);
        if let Some((origin, _)) = oldest
            && let Some(list) = self.idle.get_mut(&origin)
        {
            list.pop_front();
            self.total -= 1;
            if list.is_empty() {
                self.idle.remove(&origin);
            }
        }
    }
}
