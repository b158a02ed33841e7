//! A virtual clock for tests: time stands still while tasks run, and jumps to the next deadline
//! when every task waits.
//!
//! An executor made by [`wisp::test`](mod@crate::test) owns one. Timers polled on its thread
//! register here instead of in the reactor's wheel, in a list sorted by their exact deadline,
//! so they fire in deadline order (ties in registration order) at exactly the virtual instant
//! asked for. Timers reach it only through [`TimerClock`]. Only the executor's thread reads "now" from it and moves it; it is behind
//! a lock and shared (`Arc`) only so that a `Sleep` registered here keeps it wherever the
//! `Sleep` is polled or dropped afterwards (a timer never fires early).

use crate::sync::Mutex;
use std::fmt;
use std::task::Waker;
use std::time::{Duration, Instant};

/// A timer's place in the clock: its deadline and a tie-breaker.
pub(crate) type VirtualKey = (Instant, u64);

/// What timers ask of a test run's clock. [`Sleep`](crate::time::Sleep) and
/// [`now`](crate::time::now) hold the clock as this trait object, which only the test kit makes
/// (from its [`VirtualClock`]): a program that never runs a test executor then links none of
/// the clock's code, 3 KB of the stripped `block_on` + connect + sleep program
/// (`scripts/footprint.sh`).
pub(crate) trait TimerClock: Send + Sync + fmt::Debug {
    /// The clock's current instant.
    fn now(&self) -> Instant;
    /// Registers a timer due at `deadline`.
    fn insert(&self, deadline: Instant, waker: &Waker) -> VirtualKey;
    /// Whether the timer is still pending; if so its waker is replaced by `waker`.
    fn update(&self, key: VirtualKey, waker: &Waker) -> bool;
    /// Removes the timer, if it is still pending.
    fn remove(&self, key: VirtualKey);
}

impl TimerClock for VirtualClock {
    fn now(&self) -> Instant {
        VirtualClock::now(self)
    }

    fn insert(&self, deadline: Instant, waker: &Waker) -> VirtualKey {
        VirtualClock::insert(self, deadline, waker)
    }

    fn update(&self, key: VirtualKey, waker: &Waker) -> bool {
        VirtualClock::update(self, key, waker)
    }

    fn remove(&self, key: VirtualKey) {
        VirtualClock::remove(self, key);
    }
}

pub(crate) struct VirtualClock {
    /// Everything, under one lock: it is never held while a waker is called.
    state: Mutex<State>,
}

struct State {
    now: Instant,
    /// While paused, time moves only through `advance`.
    paused: bool,
    /// Pending timers, sorted by key (the next to fire first); a timer leaves when it fires (its
    /// waker is called) or is removed. A sorted `Vec`, not a `BTreeMap`: a new timer is usually
    /// the last to fire (a push), due timers leave in one `drain`, a test has few timers, and
    /// the clock is linked into every program, where `BTreeMap`'s code took 13 KiB of the
    /// stripped binary (`scripts/footprint.sh`).
    timers: Vec<(VirtualKey, Waker)>,
    seq: u64,
}

impl fmt::Debug for VirtualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.lock();
        f.debug_struct("VirtualClock")
            .field("now", &state.now)
            .field("paused", &state.paused)
            .field("pending", &state.timers.len())
            .finish()
    }
}

impl State {
    /// Where the timer `key` is in `timers`.
    fn find(&self, key: VirtualKey) -> Result<usize, usize> {
        self.timers.binary_search_by(|(k, _)| k.cmp(&key))
    }
}

impl VirtualClock {
    /// A clock that starts at the real current instant (so `Instant`s stay comparable).
    pub(crate) fn new(paused: bool) -> VirtualClock {
        VirtualClock {
            state: Mutex::new(State {
                now: Instant::now(),
                paused,
                timers: Vec::new(),
                seq: 0,
            }),
        }
    }

    pub(crate) fn now(&self) -> Instant {
        self.state.lock().now
    }

    pub(crate) fn is_paused(&self) -> bool {
        self.state.lock().paused
    }

    pub(crate) fn set_paused(&self, paused: bool) {
        self.state.lock().paused = paused;
    }

    pub(crate) fn insert(&self, deadline: Instant, waker: &Waker) -> VirtualKey {
        let mut state = self.state.lock();
        let key = (deadline, state.seq);
        state.seq += 1;
        let at = state.timers.partition_point(|(k, _)| *k < key);
        state.timers.insert(at, (key, waker.clone()));
        key
    }

    /// Whether the timer is still pending; if so its waker is replaced by `waker`.
    pub(crate) fn update(&self, key: VirtualKey, waker: &Waker) -> bool {
        let mut state = self.state.lock();
        match state.find(key) {
            Ok(at) => {
                let stored = &mut state.timers[at].1;
                if !stored.will_wake(waker) {
                    stored.clone_from(waker);
                }
                true
            }
            Err(_) => false,
        }
    }

    pub(crate) fn remove(&self, key: VirtualKey) {
        let removed = {
            let mut state = self.state.lock();
            state.find(key).ok().map(|at| state.timers.remove(at))
        };
        // The waker is dropped outside the lock.
        drop(removed);
    }

    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.state.lock().timers.first().map(|((at, _), _)| *at)
    }

    pub(crate) fn pending(&self) -> usize {
        self.state.lock().timers.len()
    }

    /// Moves the clock to `to` (never backwards) and wakes every timer due by then, in order.
    pub(crate) fn advance_to(&self, to: Instant) {
        let due: Vec<Waker>;
        {
            let mut state = self.state.lock();
            if to > state.now {
                state.now = to;
            }
            let now = state.now;
            let count = state.timers.partition_point(|((at, _), _)| *at <= now);
            due = state
                .timers
                .drain(..count)
                .map(|(_, waker)| waker)
                .collect();
        }
        // Woken outside the lock: a waker may run code that registers another timer.
        for waker in due {
            waker.wake();
        }
    }

    /// Moves the clock forward by `by`, firing the timers due by then. A `by` past what an
    /// `Instant` can hold saturates: the clock moves to the last pending deadline, so every
    /// pending timer fires (timers that never fire are not on the clock at all).
    pub(crate) fn advance(&self, by: Duration) {
        let to = {
            let state = self.state.lock();
            let now = state.now;
            now.checked_add(by).unwrap_or_else(|| {
                let last = state.timers.last().map(|((at, _), _)| *at);
                last.map_or(now, |last| last.max(now))
            })
        };
        self.advance_to(to);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn fires_exactly_the_due_timers_in_order() {
        let clock = VirtualClock::new(false);
        let start = clock.now();
        let counts: Vec<_> = (0..3)
            .map(|_| Arc::new(Count(AtomicUsize::new(0))))
            .collect();
        for (i, c) in counts.iter().enumerate() {
            let waker = Waker::from(c.clone());
            clock.insert(start + Duration::from_secs(i as u64 + 1), &waker);
        }
        assert_eq!(clock.next_deadline(), Some(start + Duration::from_secs(1)));
        clock.advance(Duration::from_millis(1999));
        let fired: Vec<_> = counts.iter().map(|c| c.0.load(Ordering::SeqCst)).collect();
        assert_eq!(fired, [1, 0, 0]);
        clock.advance(Duration::from_millis(1));
        assert_eq!(counts[1].0.load(Ordering::SeqCst), 1);
        assert_eq!(clock.pending(), 1);
        assert_eq!(clock.now(), start + Duration::from_secs(2));
    }

    /// Records its id in a shared list when woken: the order in which timers fire.
    struct Log(usize, Arc<std::sync::Mutex<Vec<usize>>>);
    impl Wake for Log {
        fn wake(self: Arc<Self>) {
            self.1.lock().unwrap().push(self.0);
        }
    }

    #[test]
    fn timers_inserted_out_of_order_fire_in_deadline_order_and_a_removed_one_never() {
        let clock = VirtualClock::new(true);
        let start = clock.now();
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        // Deadlines 3 s, 1 s, 2 s, 1 s (ids 0..4): the two at 1 s fire in insertion order.
        let keys: Vec<_> = [3, 1, 2, 1]
            .into_iter()
            .enumerate()
            .map(|(id, s)| {
                let waker = Waker::from(Arc::new(Log(id, log.clone())));
                clock.insert(start + Duration::from_secs(s), &waker)
            })
            .collect();
        clock.remove(keys[2]);
        let waker = Waker::from(Arc::new(Log(9, log.clone())));
        assert!(
            !clock.update(keys[2], &waker),
            "a removed timer is not pending"
        );
        assert_eq!(clock.next_deadline(), Some(start + Duration::from_secs(1)));
        clock.advance(Duration::MAX);
        assert_eq!(*log.lock().unwrap(), [1, 3, 0]);
        assert_eq!(clock.pending(), 0);
        assert_eq!(clock.now(), start + Duration::from_secs(3));
    }

    #[test]
    fn timers_with_the_same_deadline_are_two_timers() {
        let clock = VirtualClock::new(true);
        let at = clock.now() + Duration::from_secs(1);
        let (a, b) = (
            Arc::new(Count(AtomicUsize::new(0))),
            Arc::new(Count(AtomicUsize::new(0))),
        );
        let ka = clock.insert(at, &Waker::from(a.clone()));
        let kb = clock.insert(at, &Waker::from(b.clone()));
        assert_ne!(ka, kb);
        assert_eq!(clock.pending(), 2);
        clock.advance_to(at);
        assert_eq!(
            (a.0.load(Ordering::SeqCst), b.0.load(Ordering::SeqCst)),
            (1, 1)
        );
    }

    #[test]
    fn update_replaces_the_waker_with_a_different_one() {
        let clock = VirtualClock::new(true);
        let at = clock.now() + Duration::from_secs(1);
        let (a, b) = (
            Arc::new(Count(AtomicUsize::new(0))),
            Arc::new(Count(AtomicUsize::new(0))),
        );
        let key = clock.insert(at, &Waker::from(a.clone()));
        assert!(clock.update(key, &Waker::from(b.clone())));
        clock.advance_to(at);
        assert_eq!(
            (a.0.load(Ordering::SeqCst), b.0.load(Ordering::SeqCst)),
            (0, 1)
        );
        assert!(
            !clock.update(key, &Waker::from(b.clone())),
            "fired: no longer pending"
        );
    }

    #[test]
    fn debug_shows_the_state() {
        let clock = VirtualClock::new(true);
        clock.insert(clock.now() + Duration::from_secs(1), Waker::noop());
        let text = format!("{clock:?}");
        assert!(text.starts_with("VirtualClock {"), "{text}");
        assert!(
            text.contains("paused: true") && text.contains("pending: 1"),
            "{text}"
        );
    }
}
