//! The crate's one mutex (and the condition variable that goes with it): `std::sync`'s, without
//! poisoning.
//!
//! A std mutex is poisoned when a thread panics while holding it, and every later `lock` then
//! returns an error. Wisp never needs that signal: it does not call user code (a task's poll, a
//! waker, a future's destructor) while holding a lock, and the panics it does contain are caught
//! around that code, outside any lock. So whatever a poisoned lock protects was left between two
//! complete updates, and the right answer is to carry on with it. This adapter says so once,
//! instead of `lock().unwrap_or_else(PoisonError::into_inner)` at every call site.

use std::sync::{self, PoisonError, TryLockError};
use std::time::Duration;

pub(crate) use std::sync::MutexGuard;

/// `std::sync::Mutex` whose `lock` and `try_lock` ignore poisoning (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct Mutex<T: ?Sized>(sync::Mutex<T>);

impl<T> Mutex<T> {
    pub(crate) const fn new(value: T) -> Mutex<T> {
        Mutex(sync::Mutex::new(value))
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
pub(crate) struct Condvar(sync::Condvar);

impl Condvar {
    pub(crate) const fn new() -> Condvar {
        Condvar(sync::Condvar::new())
    }

    pub(crate) fn notify_one(&self) {
        self.0.notify_one();
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
