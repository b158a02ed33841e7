//! Timers: [`sleep`], [`sleep_until`], [`timeout`] and [`interval`].
//!
//! Every timer is an entry in the reactor's hierarchical timer wheel (`time/wheel.rs`): 1 us ticks,
//! O(1) insert and cancel, deadlines years away without overflow. Deadlines round *up* to the
//! next tick, so a timer never fires early, and the wheel adds at most a microsecond to its
//! deadline: the reactor waits for it on a timerfd, which keeps nanoseconds (no busy-spinning,
//! even for a sleep of a few microseconds). What a busy thread adds on top is not the wheel's. A timer joins the wheel only when first polled and leaves it when
//! dropped, so a `timeout` around a future that is ready at once costs no wheel work at all.
//!
//! ```
//! use std::time::{Duration, Instant};
//!
//! wisp::block_on(async {
//!     let start = Instant::now();
//!     wisp::time::sleep(Duration::from_millis(5)).await;
//!     assert!(start.elapsed() >= Duration::from_millis(5));
//!
//!     let never = std::future::pending::<()>();
//!     let out = wisp::time::timeout(Duration::from_millis(5), never).await;
//!     assert!(out.is_err());
//! });
//! ```

mod interval;
mod sleep;
mod timeout;
pub(crate) mod virtual_clock;
pub(crate) mod wheel;

use std::time::Instant;

/// The current instant: the real one, or, inside a [`wisp::test`](mod@crate::test) run, the virtual
/// one its timers follow. Code that measures time it waits for should use this rather than
/// `Instant::now()`, so that its measurements agree with its timers under test.
pub fn now() -> Instant {
    crate::executor::current_clock().map_or_else(Instant::now, |clock| clock.now())
}

pub use interval::{Interval, MissedTick, interval, interval_at};
pub use sleep::{Sleep, sleep, sleep_until};
pub use timeout::{Elapsed, Timeout, timeout};
