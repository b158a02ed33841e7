//! The crate's one mutex (and the condition variable that goes with it): `std::sync`'s, without
//! poisoning.
//!
//! A std mutex is poisoned when a thread panics while holding it, and every later `lock` then
//! returns an error. Wisp never needs that signal: it does not call user code (a task's poll, a
//! waker, a future's destructor) while holding a lock, and the panics it does contain are caught
//! around that code, outside any lock. So whatever a poisoned lock protects was left between two
//! complete updates, and the right answer is to carry on with it. This adapter says so once,
//! instead of `lock().unwrap_or_else(PoisonError::into_inner)` at every call site.
//!
//! Built with `RUSTFLAGS="--cfg wisp_loom"`, the mutex, the condition variable, the atomics of
//! the wake-up protocol ([`atomic`]: task state, run queue, parker) and thread parking
//! ([`thread`]) are loom's, so that `src/loom_models.rs` can check every interleaving of the
//! real code. Nothing else changes.

use std::sync::{PoisonError, TryLockError};
use std::time::Duration;

#[cfg(not(wisp_loom))]
use std::sync as imp;

#[cfg(wisp_loom)]
use loom::sync as imp;

pub(crate) use imp::MutexGuard;

/// The atomics of the wake-up protocol: std's, or loom's under `cfg(wisp_loom)`.
pub(crate) mod atomic {
    #[cfg(wisp_loom)]
    pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, Ordering};
    #[cfg(not(wisp_loom))]
    pub(crate) use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, Ordering};
}

/// Thread handles and parking for the parker: std's, or loom's under `cfg(wisp_loom)`.
pub(crate) mod thread {
    #[cfg(wisp_loom)]
    pub(crate) use loom::thread::{Thread, current, park};
    #[cfg(not(wisp_loom))]
    pub(crate) use std::thread::{Thread, current, park};
}

/// `std::sync::Mutex` whose `lock` and `try_lock` ignore poisoning (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct Mutex<T: ?Sized>(imp::Mutex<T>);

impl<T> Mutex<T> {
    #[cfg(not(wisp_loom))]
    pub(crate) const fn new(value: T) -> Mutex<T> {
        Mutex(imp::Mutex::new(value))
    }

    #[cfg(wisp_loom)]
    pub(crate) fn new(value: T) -> Mutex<T> {
        Mutex(imp::Mutex::new(value))
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Blocks until the lock is ours.
    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The lock if no one holds it now; `None` only when it is held.
    pub(crate) fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        match self.0.try_lock() {
            Ok(guard) => Some(guard),
            Err(TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        }
    }
}

/// `std::sync::Condvar` for guards of [`Mutex`], ignoring poisoning like it.
#[derive(Debug, Default)]
pub(crate) struct Condvar(imp::Condvar);

impl Condvar {
    pub(crate) fn new() -> Condvar {
        Condvar(imp::Condvar::new())
    }

    pub(crate) fn notify_one(&self) {
        self.0.notify_one();
    }

    /// Waits for a notification (or a spurious wake-up: callers loop on their condition).
    #[cfg(wisp_loom)]
    pub(crate) fn wait<'a, T>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        self.0.wait(guard).unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits for a notification or `timeout`; the flag says whether the time ran out.
    pub(crate) fn wait_timeout<'a, T>(
        &self,
        guard: MutexGuard<'a, T>,
        timeout: Duration,
    ) -> (MutexGuard<'a, T>, bool) {
        let (guard, result) = self
            .0
            .wait_timeout(guard, timeout)
            .unwrap_or_else(PoisonError::into_inner);
        (guard, result.timed_out())
    }
}
