//! [`timeout`]: give a future a deadline.

use std::fmt;
use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::task::Poll;
use std::time::Duration;

use crate::time::Sleep;

/// The error of a [`timeout`] whose deadline passed first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed(());

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl std::error::Error for Elapsed {}

impl From<Elapsed> for std::io::Error {
    fn from(_: Elapsed) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::TimedOut, "deadline has elapsed")
    }
}

/// Runs `future` for at most `duration`: `Ok(output)` if it finished in time, `Err(Elapsed)`
/// otherwise (the future is then dropped with the `Timeout`).
///
/// The clock starts at the first poll, and the inner future is polled first every time: one
/// that is ready at once costs no timer at all, and one that is always ready on its next poll
/// still wins (but a future that is busy for longer than `duration` gets `Elapsed` as soon as it
/// returns `Pending`, even if it woke itself).
///
/// ```
/// use std::time::Duration;
/// let out = wisp::block_on(wisp::time::timeout(Duration::from_secs(1), async { 5 }));
/// assert_eq!(out, Ok(5));
/// ```
pub async fn timeout<F: Future>(duration: Duration, future: F) -> Result<F::Output, Elapsed> {
    // An `async fn` pins `future` in its own state without a box (and without `unsafe`), so
    // the timeout costs no allocation. The `Sleep` is only made once the future is pending.
    let mut future = pin!(future);
    let mut sleep: Option<Sleep> = None;
    poll_fn(|cx| {
        if let Poll::Ready(out) = future.as_mut().poll(cx) {
            return Poll::Ready(Ok(out));
        }
        let sleep = sleep.get_or_insert_with(|| Sleep::after(duration));
        Pin::new(sleep).poll(cx).map(|()| Err(Elapsed(())))
    })
    .await
}
