//! Whose I/O a socket is: the test executor that ran on the thread where it was registered.
//!
//! A test executor with nothing to run waits up to its `io_grace` of real time before it jumps
//! its virtual clock, in case a socket still has an answer on its way. Only its own sockets
//! should hold it back: the reactor is process-wide, and tests run side by side on other
//! threads have sockets of their own. So while a test executor runs on a thread it makes its
//! [`IoCount`] that thread's ([`IoCount::enter`]), and a socket registered there counts toward
//! it until it is closed ([`counted_here`]). Ordinary executors keep no count; a registration
//! outside any test run counts toward nothing.

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

thread_local! {
    static OWNER: RefCell<Option<Arc<AtomicUsize>>> = const { RefCell::new(None) };
}

/// How many sockets registered during one test executor's runs are still open.
#[derive(Clone, Debug, Default)]
pub(crate) struct IoCount(Arc<AtomicUsize>);

impl IoCount {
    pub(crate) fn open(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }

    /// Makes this count the one that sockets registered on this thread add to, until the guard
    /// drops (then the previous one is back).
    pub(crate) fn enter(&self) -> OwnerGuard {
        let previous = OWNER.with(|o| o.replace(Some(self.0.clone())));
        OwnerGuard { previous }
    }
}

/// Restores the thread's previous owner when dropped.
pub(crate) struct OwnerGuard {
    previous: Option<Arc<AtomicUsize>>,
}

impl Drop for OwnerGuard {
    fn drop(&mut self) {
        let previous = self.previous.take();
        let _ = OWNER.try_with(|o| o.replace(previous));
    }
}

/// One open socket's share of its owner's count, if this thread has an owner now.
#[derive(Debug)]
pub(crate) struct Counted(Option<Arc<AtomicUsize>>);

/// Counts a socket registered now, on this thread, toward its owner (until the result drops).
pub(crate) fn counted_here() -> Counted {
    let owner = OWNER.try_with(|o| o.borrow().clone()).ok().flatten();
    if let Some(count) = &owner {
        count.fetch_add(1, Ordering::SeqCst);
    }
    Counted(owner)
}

impl Drop for Counted {
    fn drop(&mut self) {
        if let Some(count) = &self.0 {
            count.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_socket_counts_toward_the_owner_of_its_thread_until_dropped() {
        let count = IoCount::default();
        let outside = counted_here();
        let guard = count.enter();
        let inside = counted_here();
        assert_eq!(count.open(), 1);
        drop(guard);
        let after = counted_here();
        assert_eq!(count.open(), 1);
        drop(inside);
        assert_eq!(count.open(), 0);
        drop((outside, after));
        assert_eq!(count.open(), 0);
    }

    #[test]
    fn another_threads_owner_is_not_this_ones() {
        let count = IoCount::default();
        let _guard = count.enter();
        let elsewhere = std::thread::spawn(counted_here).join().unwrap();
        assert_eq!(count.open(), 0);
        drop(elsewhere);
    }

    #[test]
    fn nested_owners_restore_the_outer_one() {
        let (outer, inner) = (IoCount::default(), IoCount::default());
        let _outer = outer.enter();
        {
            let _inner = inner.enter();
            let _s = counted_here();
            assert_eq!((outer.open(), inner.open()), (0, 1));
        }
        let _s = counted_here();
        assert_eq!((outer.open(), inner.open()), (1, 0));
    }
}
