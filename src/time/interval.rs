//! [`Interval`]: ticks at a fixed period, with a chosen behaviour for ticks it missed.

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::time::{Sleep, sleep_until};

/// What an [`Interval`] does when ticks were missed because the task was not polled in time
/// (a stall, a slow loop body). tokio's default is `Burst`, whose catch-up bursts surprise people
/// (tokio#3574); wisp's default is [`Skip`](MissedTick::Skip).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MissedTick {
    /// Fire the missed ticks back to back until the schedule has caught up.
    Burst,
    /// Fire once now, then continue one full period after now: the schedule shifts.
    Delay,
    /// Fire once now, then continue on the original schedule, dropping the missed ticks.
    #[default]
    Skip,
}

/// Ticks every `period`, the first tick at once. See [`Interval::tick`].
///
/// # Panics
///
/// If `period` is zero: an interval that is always due would never let its task yield.
///
/// ```
/// use std::time::Duration;
/// wisp::block_on(async {
///     let mut every = wisp::time::interval(Duration::from_millis(2));
///     let first = every.tick().await; // immediate
///     let second = every.tick().await;
///     assert!(second - first >= Duration::from_millis(2));
/// });
/// ```
pub fn interval(period: Duration) -> Interval {
    interval_at(crate::time::now(), period)
}

/// Like [`interval`], with the first tick at `start`.
pub fn interval_at(start: Instant, period: Duration) -> Interval {
    assert!(
        !period.is_zero(),
        "wisp::time::interval: the period must be greater than zero"
    );
    Interval {
        period,
        next: start,
        sleep: sleep_until(start),
        missed: MissedTick::default(),
    }
}

/// A stream of ticks made by [`interval`] or [`interval_at`].
#[derive(Debug)]
pub struct Interval {
    period: Duration,
    /// The scheduled instant of the next tick.
    next: Instant,
    sleep: Sleep,
    missed: MissedTick,
}

impl Interval {
    /// Waits for the next tick and returns the instant it was scheduled for (not the instant it
    /// was observed, which is never earlier).
    pub async fn tick(&mut self) -> Instant {
        poll_fn(|cx| self.poll_tick(cx)).await
    }

    /// Polls for the next tick; the building block of [`tick`](Interval::tick).
    pub fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Instant> {
        if Pin::new(&mut self.sleep).poll(cx).is_pending() {
            return Poll::Pending;
        }
        let tick = self.next;
        let now = crate::time::now();
        let next = match self.missed {
            MissedTick::Burst => tick.checked_add(self.period),
            MissedTick::Delay if now > tick + self.period => now.checked_add(self.period),
            MissedTick::Delay => tick.checked_add(self.period),
            MissedTick::Skip => {
                // The first scheduled instant after `now`.
                let behind = now.saturating_duration_since(tick).as_nanos();
                let periods = behind / self.period.as_nanos() + 1;
                u32::try_from(periods)
                    .ok()
                    .and_then(|n| self.period.checked_mul(n))
                    .and_then(|d| tick.checked_add(d))
            }
        };
        match next {
            Some(next) => {
                self.next = next;
                self.sleep.reset(next);
            }
            // Past what `Instant` can hold: no further tick.
            None => self.sleep = crate::time::sleep(Duration::MAX),
        }
        Poll::Ready(tick)
    }

    /// Chooses what happens to missed ticks (default [`MissedTick::Skip`]).
    pub fn set_missed_tick(&mut self, behaviour: MissedTick) {
        self.missed = behaviour;
    }

    /// The period between ticks.
    pub fn period(&self) -> Duration {
        self.period
    }
}
