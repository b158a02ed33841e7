//! [`yield_now`]: let the other ready tasks run.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Gives way once: the task goes to the back of the run queue, behind every task that is ready,
/// and the executor runs them all (and gives the reactor its turn when the budget is spent)
/// before it polls this one again.
///
/// ```
/// wisp::block_on(async {
///     for _ in 0..3 {
///         wisp::yield_now().await;
///     }
/// });
/// ```
pub fn yield_now() -> YieldNow {
    YieldNow { yielded: false }
}

/// The future made by [`yield_now`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
