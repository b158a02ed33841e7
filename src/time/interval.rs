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

/// Ticks every `period`, the first tick at once. See [`Interval::tick`]. A tick past what an
/// `Instant` can hold never comes: `interval(Duration::MAX)` ticks once.
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
        // `None`: the next tick is past what an `Instant` can hold, so it never comes.
        let next = match self.missed {
            MissedTick::Burst => tick.checked_add(self.period),
            MissedTick::Delay => match tick.checked_add(self.period) {
                Some(on_schedule) if now > on_schedule => now.checked_add(self.period),
                on_schedule => on_schedule,
            },
            MissedTick::Skip => {
                // The first scheduled instant after `now`, in u128 nanoseconds: a short period
                // far behind is more than `u32::MAX` periods (1 ns, 5 s behind). No overflow:
                // both terms are below 2^65 s in nanoseconds, far under 2^128.
                let period = self.period.as_nanos();
                let behind = now.saturating_duration_since(tick).as_nanos();
                duration_from_nanos((behind / period + 1) * period)
                    .and_then(|ahead| tick.checked_add(ahead))
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

/// `nanos` as a `Duration`, if it fits (`Duration::from_nanos` takes only a `u64`).
fn duration_from_nanos(nanos: u128) -> Option<Duration> {
    const NANOS_PER_SEC: u128 = 1_000_000_000;
    let secs = u64::try_from(nanos / NANOS_PER_SEC).ok()?;
    Some(Duration::new(secs, (nanos % NANOS_PER_SEC) as u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nanos_convert_to_durations_until_they_overflow_one() {
        assert_eq!(
            duration_from_nanos(1_500_000_001),
            Some(Duration::new(1, 500_000_001))
        );
        assert_eq!(
            duration_from_nanos(Duration::MAX.as_nanos()),
            Some(Duration::MAX)
        );
        assert_eq!(duration_from_nanos(Duration::MAX.as_nanos() + 1), None);
    }
}
