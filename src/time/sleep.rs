//! [`Sleep`]: a future that completes at a deadline.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::reactor;
use crate::time::wheel::TimerKey;

/// When a [`Sleep`] is due.
#[derive(Clone, Copy, Debug)]
enum When {
    At(Instant),
    /// Resolved to `At(now + d)` on the first poll: what [`timeout`](crate::time::timeout)
    /// uses, so a timeout around a future that is ready at once never even reads the clock.
    After(Duration),
    /// `Duration::MAX`, or a deadline past what `Instant` can represent.
    Never,
}

/// A future that completes once its deadline has passed. Made by [`sleep`] and [`sleep_until`].
///
/// It registers with the timer wheel when first polled and removes its entry when dropped.
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct Sleep {
    when: When,
    key: Option<TimerKey>,
}

/// Waits until `duration` has elapsed. `Duration::MAX` (or any duration too large for
/// `Instant`) waits forever.
pub fn sleep(duration: Duration) -> Sleep {
    let when = match Instant::now().checked_add(duration) {
        Some(at) => When::At(at),
        None => When::Never,
    };
    Sleep { when, key: None }
}

/// Waits until `deadline`. A deadline in the past completes on the first poll.
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep {
        when: When::At(deadline),
        key: None,
    }
}

impl Sleep {
    /// A sleep whose clock starts at its first poll.
    pub(crate) fn after(duration: Duration) -> Sleep {
        Sleep {
            when: When::After(duration),
            key: None,
        }
    }

    /// The deadline, if it is fixed already (not before the first poll of a `timeout`'s sleep)
    /// and representable.
    pub fn deadline(&self) -> Option<Instant> {
        match self.when {
            When::At(at) => Some(at),
            _ => None,
        }
    }

    /// Moves the deadline, keeping the future (and dropping its current wheel entry).
    pub fn reset(&mut self, deadline: Instant) {
        self.cancel();
        self.when = When::At(deadline);
    }

    fn cancel(&mut self) {
        if let Some(key) = self.key.take() {
            reactor::get().remove_timer(key);
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let reactor = reactor::get();
        if let Some(key) = this.key {
            if reactor.timer_pending(key, cx.waker()) {
                return Poll::Pending;
            }
            // Fired: the wheel only fires an entry once its (rounded-up) tick has passed.
            this.key = None;
            return Poll::Ready(());
        }
        let deadline = match this.when {
            When::At(at) => {
                if Instant::now() >= at {
                    return Poll::Ready(());
                }
                at
            }
            // The clock starts now, so the deadline is in the future unless the duration is 0:
            // one clock read, not two.
            When::After(duration) => match Instant::now().checked_add(duration) {
                _ if duration.is_zero() => return Poll::Ready(()),
                Some(at) => {
                    this.when = When::At(at);
                    at
                }
                None => {
                    this.when = When::Never;
                    return Poll::Pending;
                }
            },
            // Nothing will ever wake it; nothing needs to be registered either.
            When::Never => return Poll::Pending,
        };
        match reactor.insert_timer(deadline, cx.waker()) {
            Some(key) => {
                this.key = Some(key);
                Poll::Pending
            }
            None => Poll::Ready(()),
        }
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        self.cancel();
    }
}
