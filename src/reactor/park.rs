//! How an idle executor's thread sleeps, and how a waker on any thread rouses it: the one owner
//! of the sleep protocol.
//!
//! An executor's thread is in one of three states. It is [`Sleep::Awake`] while it runs tasks;
//! with nothing to run it sleeps in the reactor, either [`Sleep::InPoller`] (it drives: it waits
//! inside `Poller::wait`, roused by `Poller::notify`) or [`Sleep::Parked`] (another thread drives:
//! it waits in `thread::park`, roused by `Thread::unpark`).
//!
//! The protocol that keeps a wake-up from being lost: the sleeper publishes its state
//! ([`Parker::set`], `SeqCst`) *before* it looks for work one last time; a waker publishes its
//! work first (under the run queue's lock) and reads the state after ([`Parker::state`],
//! `SeqCst`). Of the two, one always sees the other: either the sleeper finds the work, or the
//! waker finds it asleep and rouses it ([`Parker::rouse`]). A rouse of an awake thread costs
//! nothing; one of a thread that stopped sleeping meanwhile only makes its next sleep return
//! at once.

use crate::sync::atomic::{AtomicU8, Ordering};
use crate::sync::thread::{self, Thread};

/// What an executor's thread is doing, so that a waker knows whether (and how) to rouse it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Sleep {
    /// Running tasks (or about to look for them): nothing to do.
    Awake = 0,
    /// Asleep inside the reactor's `Poller::wait`: rouse it with `Poller::notify`.
    InPoller = 1,
    /// Parked while another thread drives the reactor: rouse it with `Thread::unpark`.
    Parked = 2,
}

/// The sleep state of one executor's thread, and the means to rouse it from any thread.
pub(crate) struct Parker {
    state: AtomicU8,
    /// The executor's thread.
    thread: Thread,
}

impl Parker {
    /// The parker of the calling thread, awake.
    pub(crate) fn for_current_thread() -> Parker {
        Parker {
            state: AtomicU8::new(Sleep::Awake as u8),
            thread: thread::current(),
        }
    }

    /// The state, as a waker reads it after publishing its work.
    #[inline]
    pub(crate) fn state(&self) -> Sleep {
        match self.state.load(Ordering::SeqCst) {
            0 => Sleep::Awake,
            1 => Sleep::InPoller,
            _ => Sleep::Parked,
        }
    }

    /// Publishes the state; only the executor's own thread calls it (in [`super::sleep`], and
    /// the loom models).
    #[inline]
    pub(crate) fn set(&self, state: Sleep) {
        self.state.store(state as u8, Ordering::SeqCst);
    }

    /// Rouses the thread out of `state` (read with [`Parker::state`] while the work was still
    /// being published). A rouse on the executor's own thread always finds it awake and costs no
    /// syscall.
    #[inline]
    pub(crate) fn rouse(&self, state: Sleep) {
        match state {
            Sleep::Awake => {}
            Sleep::InPoller => super::get().notify(),
            Sleep::Parked => self.thread.unpark(),
        }
    }

    /// [`rouse`](Parker::rouse) from the state now: for a waker whose work is already visible.
    #[inline]
    pub(crate) fn rouse_now(&self) {
        // On the raw value: the common case (awake) is one load and one compare.
        match self.state.load(Ordering::SeqCst) {
            0 => {}
            1 => super::get().notify(),
            _ => self.thread.unpark(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn a_new_parker_is_awake_and_its_rouse_does_nothing() {
        let parker = Parker::for_current_thread();
        assert_eq!(parker.state(), Sleep::Awake);
        parker.rouse_now();
        assert_eq!(parker.state(), Sleep::Awake);
    }

    #[test]
    fn the_state_reads_back_as_set() {
        let parker = Parker::for_current_thread();
        for state in [Sleep::InPoller, Sleep::Parked, Sleep::Awake] {
            parker.set(state);
            assert_eq!(parker.state(), state);
        }
    }

    #[test]
    fn rousing_a_parked_thread_unparks_it() {
        // An unpark before the park is kept as a token: the park returns at once. Without the
        // unpark it would wait the whole minute.
        let parker = Parker::for_current_thread();
        let start = Instant::now();
        parker.rouse(Sleep::Parked);
        std::thread::park_timeout(Duration::from_secs(60));
        assert!(start.elapsed() < Duration::from_secs(30));
    }
}
