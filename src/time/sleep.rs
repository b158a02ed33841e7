//! [`Sleep`]: a future that completes at a deadline.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::executor::current_clock;
use crate::reactor;
use crate::time::now;
use crate::time::virtual_clock::{TimerClock, VirtualKey};
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
/// Polled first inside a [`wisp::test`](mod@crate::test) run, it registers on that run's virtual
/// clock instead and keeps it: moved to another thread afterwards, it still completes only when
/// that clock reaches its deadline (and never, if the run ends first).
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct Sleep {
    when: When,
    key: Option<Key>,
}

/// Where a pending `Sleep` is registered.
#[derive(Debug)]
enum Key {
    /// In the reactor's wheel (real time).
    Real(TimerKey),
    /// On the virtual clock of the test executor of the thread that first polled it; the clock
    /// is kept, so that polled or dropped on any other thread it is still this clock's timer.
    Virtual(Arc<dyn TimerClock>, VirtualKey),
}

/// Waits until `duration` has elapsed. `Duration::MAX` (or any duration too large for
/// `Instant`) waits forever.
pub fn sleep(duration: Duration) -> Sleep {
    let when = match now().checked_add(duration) {
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
        match self.key.take() {
            Some(Key::Real(key)) => reactor::get().remove_timer(key),
            Some(Key::Virtual(clock, key)) => clock.remove(key),
            None => {}
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        match &this.key {
            Some(Key::Real(key)) => {
                if reactor::get().timer_pending(*key, cx.waker()) {
                    return Poll::Pending;
                }
                // Fired: the wheel only fires an entry once its (rounded-up) tick has passed.
                this.key = None;
                return Poll::Ready(());
            }
            Some(Key::Virtual(clock, key)) => {
                // The clock it was registered on, not this thread's: a sleep moved to another
                // thread (or another test run) must not complete before its own clock says so.
                if clock.update(*key, cx.waker()) {
                    return Poll::Pending;
                }
                this.key = None;
                return Poll::Ready(());
            }
            None => {}
        }
        let clock = current_clock();
        let now = clock.as_ref().map_or_else(Instant::now, |c| c.now());
        let deadline = match this.when {
            When::At(at) => {
                if now >= at {
                    return Poll::Ready(());
                }
                at
            }
            // The clock starts now, so the deadline is in the future unless the duration is 0:
            // one clock read, not two.
            When::After(duration) => match now.checked_add(duration) {
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
        if let Some(clock) = clock {
            let key = clock.insert(deadline, cx.waker());
            this.key = Some(Key::Virtual(clock, key));
            return Poll::Pending;
        }
        match reactor::get().insert_timer(deadline, cx.waker()) {
            Some(key) => {
                this.key = Some(Key::Real(key));
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
