//! A virtual clock for tests: time stands still while tasks run, and jumps to the next deadline
//! when every task waits.
//!
//! An executor made by [`wisp::test`](mod@crate::test) owns one. Timers polled on its thread
//! register here instead of in the reactor's wheel, in a sorted map keyed by their exact
//! deadline, so they fire in deadline order (ties in registration order) at exactly the virtual
//! instant asked for. Nothing here is shared between threads.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::task::Waker;
use std::time::{Duration, Instant};

/// A timer's place in the clock: its deadline and a tie-breaker.
pub(crate) type VirtualKey = (Instant, u64);

pub(crate) struct VirtualClock {
    now: Cell<Instant>,
    /// While paused, time moves only through `advance`.
    paused: Cell<bool>,
    timers: RefCell<BTreeMap<VirtualKey, Waker>>,
    seq: Cell<u64>,
}

impl VirtualClock {
    /// A clock that starts at the real current instant (so `Instant`s stay comparable).
    pub(crate) fn new(paused: bool) -> VirtualClock {
        VirtualClock {
            now: Cell::new(Instant::now()),
            paused: Cell::new(paused),
            timers: RefCell::new(BTreeMap::new()),
            seq: Cell::new(0),
        }
    }

    pub(crate) fn now(&self) -> Instant {
        self.now.get()
    }

    pub(crate) fn is_paused(&self) -> bool {
        self.paused.get()
    }

    pub(crate) fn set_paused(&self, paused: bool) {
        self.paused.set(paused);
    }

    pub(crate) fn insert(&self, deadline: Instant, waker: &Waker) -> VirtualKey {
        let seq = self.seq.get();
        self.seq.set(seq + 1);
        let key = (deadline, seq);
        self.timers.borrow_mut().insert(key, waker.clone());
        key
    }

    /// Whether the timer is still pending; if so its waker is replaced by `waker`.
    pub(crate) fn update(&self, key: VirtualKey, waker: &Waker) -> bool {
        match self.timers.borrow_mut().get_mut(&key) {
            Some(stored) => {
                if !stored.will_wake(waker) {
                    stored.clone_from(waker);
                }
                true
            }
            None => false,
        }
    }

    pub(crate) fn remove(&self, key: VirtualKey) {
        let removed = self.timers.borrow_mut().remove(&key);
        drop(removed);
    }

    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.timers.borrow().keys().next().map(|(at, _)| *at)
    }

    pub(crate) fn pending(&self) -> usize {
        self.timers.borrow().len()
    }

    /// Moves the clock to `to` (never backwards) and wakes every timer due by then, in order.
    pub(crate) fn advance_to(&self, to: Instant) {
        if to > self.now.get() {
            self.now.set(to);
        }
        let now = self.now.get();
        let mut due = Vec::new();
        {
            let mut timers = self.timers.borrow_mut();
            while let Some(entry) = timers.first_entry() {
                if entry.key().0 > now {
                    break;
                }
                due.push(entry.remove());
            }
        }
        // Woken outside the borrow: a waker may run code that registers another timer.
        for waker in due {
            waker.wake();
        }
    }

    /// Moves the clock forward by `by`, firing the timers due by then. A `by` past what an
    /// `Instant` can hold saturates: the clock moves to the last pending deadline, so every
    /// pending timer fires (timers that never fire are not on the clock at all).
    pub(crate) fn advance(&self, by: Duration) {
        let now = self.now.get();
        let to = now.checked_add(by).unwrap_or_else(|| {
            let last = self.timers.borrow().keys().next_back().map(|(at, _)| *at);
            last.map_or(now, |last| last.max(now))
        });
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
}
