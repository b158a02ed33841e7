//! Testing async code with wisp: a virtual clock, stepping, and deadlock reports.
//!
//! [`block_on`] here runs a future like [`wisp::block_on`](crate::block_on), with two
//! differences that make tests fast and honest:
//!
//! - **Virtual time.** Time stands still while any task can run. When every task waits and only
//!   timers remain, the clock jumps straight to the next deadline, so `sleep(1h)` returns at
//!   once, yet timers fire in exactly the order, and at exactly the virtual instants, a real
//!   clock would give. [`wisp::time::now`](crate::time::now) reads that clock.
//! - **Deadlock reports.** When the future can never complete (nothing runnable, no timer
//!   pending, and no other thread or socket wakes anything within a grace period), the run panics
//!   with a report that lists the tasks still alive, where they were spawned, and their names
//!   ([`spawn_named`](crate::spawn_named)), instead of hanging the test suite.
//!
//! ```
//! use std::time::Duration;
//! use wisp::time::{now, sleep, timeout};
//!
//! wisp::test::block_on(async {
//!     let start = now();
//!     // A retry loop with backoff: 1 s, 2 s, 4 s... of virtual time, no real waiting.
//!     for attempt in 0..5 {
//!         sleep(Duration::from_secs(1 << attempt)).await;
//!     }
//!     assert_eq!(now() - start, Duration::from_secs(31));
//!
//!     let stalled = std::future::pending::<()>();
//!     assert!(timeout(Duration::from_secs(60), stalled).await.is_err());
//!     assert_eq!(now() - start, Duration::from_secs(91));
//! });
//! ```
//!
//! **Real I/O is allowed.** The clock does not jump while a socket could still wake a task
//! first: when sockets opened during the run are still open and everything waits (sockets of
//! other threads, such as tests running beside it, do not count), the executor first waits up to
//! [`Builder::io_grace`] (20 ms by default) of real time for I/O, and only then moves the clock.
//! A test whose server answers within that grace sees the answer before any virtual timeout.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::executor::{Executor, current_virtual_clock};
use crate::io_owner::IoCount;
use crate::time::virtual_clock::VirtualClock;

mod mode;

use mode::TestMode;

pub use crate::executor::Stats;

/// Settings of a test run.
#[derive(Clone, Debug)]
pub struct Builder {
    paused: bool,
    io_grace: Duration,
    deadlock_grace: Duration,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            paused: false,
            io_grace: Duration::from_millis(20),
            deadlock_grace: Duration::from_millis(500),
        }
    }
}

impl Builder {
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Start with the clock paused: it then moves only by [`advance`].
    pub fn paused(mut self, paused: bool) -> Builder {
        self.paused = paused;
        self
    }

    /// Real time granted to sockets before the clock jumps (default 20 ms). A test whose
    /// server is slow to answer, or that runs on a loaded machine, raises it; the wait ends as
    /// soon as I/O arrives, so a generous grace costs nothing when the answer is prompt.
    /// `Duration::MAX` means no limit: the clock never jumps while a socket is registered.
    pub fn io_grace(mut self, grace: Duration) -> Builder {
        self.io_grace = grace;
        self
    }

    /// Real time granted to other threads to wake a task before a run with nothing to do is
    /// reported as a deadlock (default 500 ms). `Duration::MAX` means no limit: such a run
    /// waits for another thread forever instead of reporting a deadlock.
    pub fn deadlock_grace(mut self, grace: Duration) -> Builder {
        self.deadlock_grace = grace;
        self
    }

    /// An executor on a virtual clock, for stepping by hand (`try_tick`, `run_until_stalled`,
    /// `stats`) or running with `block_on`.
    pub fn executor(&self) -> Executor {
        Executor::with_test_hook(Some(Box::new(TestMode {
            clock: Arc::new(VirtualClock::new(self.paused)),
            io: IoCount::default(),
            io_grace: self.io_grace,
            deadlock_grace: self.deadlock_grace,
        })))
    }

    /// Runs `future` on a fresh test executor.
    ///
    /// # Panics
    ///
    /// With a deadlock report when the future can never complete; and when `future` panics.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.executor().block_on(future)
    }
}

/// Runs `future` on a test executor with the default [`Builder`] settings.
pub fn block_on<F: Future>(future: F) -> F::Output {
    Builder::new().block_on(future)
}

fn clock(what: &str) -> Arc<VirtualClock> {
    current_virtual_clock().unwrap_or_else(|| {
        panic!(
            "wisp::test::{what} called outside a wisp::test run: only a test executor \
             (wisp::test::block_on, or Builder::executor) has a virtual clock"
        )
    })
}

/// Moves the virtual clock forward by `by`, firing exactly the timers due by then (in deadline
/// order), and lets the tasks they woke run before it returns. A `by` past what an `Instant` can
/// hold (`Duration::MAX`) fires every pending timer: the clock moves to the last deadline.
///
/// # Panics
///
/// Outside a test run.
pub async fn advance(by: Duration) {
    clock("advance").advance(by);
    crate::yield_now().await;
}

/// Stops the clock from jumping on its own: it moves only by [`advance`]. (A run that then waits
/// on nothing but timers is reported as a deadlock.)
///
/// # Panics
///
/// Outside a test run.
pub fn pause() {
    clock("pause").set_paused(true);
}

/// Lets the clock jump to the next deadline again when every task waits.
///
/// # Panics
///
/// Outside a test run.
pub fn resume() {
    clock("resume").set_paused(false);
}

/// `wisp::test! { async fn name() { ... } }` defines a `#[test]` that runs its body with
/// [`wisp::test::block_on`](crate::test::block_on); attributes before `async fn` are kept.
///
/// ```
/// wisp::test! {
///     async fn sleeps_in_virtual_time() {
///         wisp::time::sleep(std::time::Duration::from_secs(3600)).await;
///     }
/// }
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! test {
    ($(#[$meta:meta])* async fn $name:ident() $body:block) => {
        $(#[$meta])*
        #[::core::prelude::v1::test]
        fn $name() {
            $crate::test::block_on(async move $body)
        }
    };
}

/// `wisp::main! { async fn main() { ... } }` defines `fn main` running its body with
/// [`wisp::block_on`](crate::block_on); a return type after `()` is kept.
///
/// ```
/// wisp::main! {
///     async fn main() -> std::io::Result<()> {
///         wisp::time::sleep(std::time::Duration::from_millis(1)).await;
///         Ok(())
///     }
/// }
/// ```
#[macro_export]
macro_rules! main {
    (async fn main() $(-> $ret:ty)? $body:block) => {
        fn main() $(-> $ret)? {
            $crate::block_on(async move $body)
        }
    };
}
