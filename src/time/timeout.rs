//! [`timeout`] and [`Timeout`]: give a future a deadline.

use std::fmt;
use std::future::Future;
use std::pin::{Pin, pin};
use std::task::{Context, Poll};
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
/// returns `Pending`, even if it woke itself). `Duration::MAX` never elapses.
///
/// Any future will do, `Unpin` or not: it is pinned inside the returned future, without a box.
/// A [`Timeout`] is the same thing as a named type, for `Unpin` futures.
///
/// ```
/// use std::time::Duration;
/// let out = wisp::block_on(wisp::time::timeout(Duration::from_secs(1), async { 5 }));
/// assert_eq!(out, Ok(5));
/// ```
pub async fn timeout<F: Future>(duration: Duration, future: F) -> Result<F::Output, Elapsed> {
    // An `async fn` pins `future` in its own state without a box (and without `unsafe`);
    // `Pin<&mut F>` is `Unpin`, so the `Timeout` around it needs no projection.
    Timeout::new(duration, pin!(future)).await
}

/// A future with a deadline: what [`timeout`] does, as a type that can be named and stored.
///
/// It holds the inner future and a [`Sleep`] whose clock starts at its first poll, and it polls
/// that sleep only once the inner future has returned `Pending`: a `Timeout` around a future
/// that is ready at once never reads the clock or touches the timer wheel. The timer leaves the
/// wheel when the `Timeout` is dropped.
///
/// It is a future for `Unpin` inner futures only (wisp has no `unsafe` to pin-project with);
/// for any other, use [`timeout`], or pin the future first: `Timeout::new(d, pin!(fut))` or
/// `Timeout::new(d, Box::pin(fut))`.
///
/// ```
/// use std::time::Duration;
/// use wisp::time::Timeout;
///
/// let out = wisp::block_on(Timeout::new(Duration::from_secs(1), std::future::ready(5)));
/// assert_eq!(out, Ok(5));
/// let never = std::pin::pin!(std::future::pending::<()>());
/// assert!(wisp::block_on(Timeout::new(Duration::from_millis(1), never)).is_err());
/// ```
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct Timeout<F> {
    future: F,
    duration: Duration,
    sleep: Option<Sleep>,
}

impl<F> Timeout<F> {
    /// Gives `future` at most `duration`, counted from the first time it returns `Pending`
    /// under this `Timeout`. `Duration::MAX` never elapses.
    pub fn new(duration: Duration, future: F) -> Timeout<F> {
        Timeout {
            future,
            duration,
            sleep: None,
        }
    }

    /// The inner future.
    pub fn get_ref(&self) -> &F {
        &self.future
    }

    /// The inner future, mutably.
    pub fn get_mut(&mut self) -> &mut F {
        &mut self.future
    }

    /// The inner future, without its deadline.
    pub fn into_inner(self) -> F {
        self.future
    }
}

impl<F: Future + Unpin> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if let Poll::Ready(out) = Pin::new(&mut this.future).poll(cx) {
            return Poll::Ready(Ok(out));
        }
        let duration = this.duration;
        Pin::new(this.sleep.get_or_insert_with(|| Sleep::after(duration)))
            .poll(cx)
            .map(|()| Err(Elapsed(())))
    }
}
