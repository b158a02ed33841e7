//! Which waker a wisp executor is polling with on this thread, so that the reactor can tell a
//! registration its executor will drive from one that nobody may drive.
//!
//! A thread inside a wisp executor drives the reactor whenever its executor goes idle. A leaf
//! future (a `Sleep`, a socket) registered through the waker of the poll that wisp is running
//! is therefore always driven: its `Pending` travels back up to the executor, which then goes
//! on and, once idle, waits in the reactor. A leaf registered through *another* waker, on the
//! same thread and inside the same poll, may belong to a foreign executor that holds the thread
//! (`pollster::block_on` inside a task): then the wisp poll does not return until the leaf is
//! woken, and nobody would drive the reactor to wake it. Such a poll is **uncovered**, and the
//! reactor's helper thread drives while any poll is uncovered (`reactor::ensure_driven`).
//!
//! [`join_all`](crate::join_all) polls each child with the child's own waker, which leads back
//! to the parent's: when the parent's is the current one, it makes the child's current while it
//! polls that child ([`ChildScope`]). `join`, `race` and `timeout` pass the context through.
//!
//! Wakers are told apart by their data pointer, which is only compared, never dereferenced.

use std::cell::Cell;
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::Waker;

struct State {
    /// The data pointer of the waker the innermost wisp poll on this thread uses; null outside
    /// any wisp poll.
    waker: Cell<*const ()>,
    /// Whether the current wisp poll made an uncovered registration (and so counts in
    /// [`UNCOVERED_POLLS`] until it ends).
    uncovered: Cell<bool>,
}

thread_local! {
    static STATE: State = const {
        State {
            waker: Cell::new(ptr::null()),
            uncovered: Cell::new(false),
        }
    };
}

/// How many wisp polls, on all threads, are running and made an uncovered registration.
static UNCOVERED_POLLS: AtomicUsize = AtomicUsize::new(0);

/// Marks the poll of a task (or of a `block_on` future) that a wisp executor is about to run
/// with `waker`; the previous state comes back when it drops, also when the poll unwinds.
pub(crate) struct PollScope {
    previous_waker: *const (),
    previous_uncovered: bool,
}

impl PollScope {
    pub(crate) fn enter(waker: &Waker) -> PollScope {
        STATE.with(|s| PollScope {
            previous_waker: s.waker.replace(waker.data()),
            previous_uncovered: s.uncovered.replace(false),
        })
    }
}

impl Drop for PollScope {
    fn drop(&mut self) {
        let _ = STATE.try_with(|s| {
            s.waker.set(self.previous_waker);
            if s.uncovered.replace(self.previous_uncovered) {
                UNCOVERED_POLLS.fetch_sub(1, Ordering::SeqCst);
            }
        });
    }
}

/// Marks the poll of a `join_all` child with its own waker, inside the parent's poll.
pub(crate) struct ChildScope {
    previous_waker: *const (),
}

impl ChildScope {
    pub(crate) fn enter(waker: &Waker) -> ChildScope {
        ChildScope {
            previous_waker: STATE.with(|s| s.waker.replace(waker.data())),
        }
    }
}

impl Drop for ChildScope {
    fn drop(&mut self) {
        let _ = STATE.try_with(|s| s.waker.set(self.previous_waker));
    }
}

/// Whether `waker` is the one the innermost wisp poll on this thread uses.
pub(crate) fn is_current(waker: &Waker) -> bool {
    let current = STATE.with(|s| s.waker.get());
    !current.is_null() && ptr::eq(current, waker.data())
}

/// Called for a registration with `waker` on a thread inside a wisp executor. Marks the current
/// poll uncovered if `waker` is not the poll's own (and could wake anything: `Waker::noop()`
/// needs no driver). Returns `true` if this made the first uncovered poll in the process, so the
/// caller must rouse the helper thread.
pub(crate) fn mark_if_uncovered(waker: &Waker) -> bool {
    STATE.with(|s| {
        let current = s.waker.get();
        // Outside any poll the executor itself registers, and it sleeps in the reactor next.
        if current.is_null() || ptr::eq(current, waker.data()) || s.uncovered.get() {
            return false;
        }
        if waker.will_wake(Waker::noop()) {
            return false;
        }
        s.uncovered.set(true);
        UNCOVERED_POLLS.fetch_add(1, Ordering::SeqCst) == 0
    })
}

/// Whether some wisp poll is uncovered right now.
pub(crate) fn any_uncovered() -> bool {
    UNCOVERED_POLLS.load(Ordering::SeqCst) > 0
}
