//! Integration tests of wisp's timers (`sleep`, `sleep_until`, `timeout`, `interval`), through the
//! public API only (the timer wheel behind them is replaceable).

mod common;

use std::cell::Cell;
use std::future::{Future, pending, poll_fn};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use common::{Rng, in_child_process, os_thread_id, thread_cpu_time, wait_until_blocked, watchdog};
use wisp::time::{
    Elapsed, Interval, MissedTick, Sleep, interval, interval_at, sleep, sleep_until, timeout,
};
use wisp::{block_on, join_all};

/// Polls `fut` once with a no-op waker, outside any executor.
fn poll_once<F: Future + Unpin>(fut: &mut F) -> Poll<F::Output> {
    Pin::new(fut).poll(&mut Context::from_waker(Waker::noop()))
}

/// A waker that counts how often it was woken.
struct CountingWaker(AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

// ---------------------------------------------------------------------------------------------
// sleep / sleep_until

#[test]
fn sleep_never_fires_early() {
    watchdog(15, || {
        let mut rng = Rng(0x5eed_1234_abcd_0001);
        let durations: Vec<Duration> = (0..200)
            .map(|_| Duration::from_micros(rng.range(1_000, 50_000)))
            .collect();
        block_on(async {
            let results = join_all(durations.iter().map(|&d| async move {
                let start = Instant::now();
                sleep(d).await;
                (start, d, Instant::now())
            }))
            .await;
            for (start, d, end) in results {
                assert!(
                    end >= start + d,
                    "a sleep of {d:?} fired after only {:?}",
                    end - start
                );
            }
        });
    });
}

#[test]
fn sleep_until_never_fires_early_and_sub_millisecond_sleeps_wait() {
    watchdog(15, || {
        let mut rng = Rng(77);
        block_on(async {
            let base = Instant::now();
            let deadlines: Vec<Instant> = (0..100)
                .map(|_| base + Duration::from_micros(rng.range(100, 30_000)))
                .collect();
            let ends = join_all(deadlines.iter().map(|&at| async move {
                sleep_until(at).await;
                Instant::now()
            }))
            .await;
            for (at, end) in deadlines.iter().zip(ends) {
                assert!(end >= *at, "sleep_until fired {:?} early", *at - end);
            }
            // Sub-millisecond durations are honoured too (never rounded down to zero).
            let starts = Instant::now();
            let ends = join_all([1u64, 10, 250, 999].map(|us| async move {
                sleep(Duration::from_micros(us)).await;
                (us, Instant::now())
            }))
            .await;
            for (us, end) in ends {
                assert!(end >= starts + Duration::from_micros(us));
            }
        });
    });
}

#[test]
fn sleep_until_in_the_past_is_ready_at_once() {
    let past = Instant::now() - Duration::from_millis(5);
    assert_eq!(poll_once(&mut sleep_until(past)), Poll::Ready(()));
    assert_eq!(poll_once(&mut sleep_until(Instant::now())), Poll::Ready(()));
    // And inside block_on, without waiting for any tick.
    watchdog(10, move || {
        block_on(async move {
            let mut s = sleep_until(past);
            let first = poll_fn(|cx| Poll::Ready(Pin::new(&mut s).poll(cx))).await;
            assert_eq!(first, Poll::Ready(()));
        })
    });
}

#[test]
fn zero_sleep_completes_at_once() {
    assert_eq!(poll_once(&mut sleep(Duration::ZERO)), Poll::Ready(()));
    let elapsed = watchdog(10, || {
        let start = Instant::now();
        block_on(async {
            for _ in 0..1000 {
                sleep(Duration::ZERO).await;
            }
        });
        start.elapsed()
    });
    // No zero sleep waits for a timer tick (1000 of them would take at least a second).
    assert!(
        elapsed < Duration::from_millis(900),
        "1000 zero sleeps took {elapsed:?}"
    );
}

#[test]
fn sub_millisecond_sleeps_wait_for_a_tick_without_spinning() {
    // Few iterations on purpose: see `a_timer_inserted_while_another_thread_drives_is_not_missed`
    // for the reactor race that back-to-back sleeps are exposed to.
    let (cpu, wall) = watchdog(10, || {
        let cpu0 = thread_cpu_time();
        let start = Instant::now();
        block_on(async {
            for _ in 0..20 {
                let d = Duration::from_micros(500);
                let t = Instant::now();
                sleep(d).await;
                assert!(t.elapsed() >= d);
            }
        });
        (thread_cpu_time() - cpu0, start.elapsed())
    });
    assert!(wall >= Duration::from_millis(10));
    assert!(
        cpu < wall / 3 && cpu < Duration::from_millis(20),
        "20 sleeps of 500 us took {wall:?} and burned {cpu:?} of CPU: busy-waiting?"
    );
}

#[test]
fn sleep_deadline_and_reset() {
    let before = Instant::now();
    let s = sleep(Duration::from_secs(1));
    let deadline = s.deadline().expect("a representable deadline");
    assert!(deadline >= before + Duration::from_secs(1));
    assert!(sleep(Duration::MAX).deadline().is_none());

    // A registered 10 s sleep, moved to 10 ms from now, completes soon (and not before).
    watchdog(10, || {
        block_on(async {
            let mut s = sleep(Duration::from_secs(10));
            assert!(
                poll_fn(|cx| Poll::Ready(Pin::new(&mut s).poll(cx)))
                    .await
                    .is_pending()
            );
            let target = Instant::now() + Duration::from_millis(10);
            s.reset(target);
            assert_eq!(s.deadline(), Some(target));
            s.await;
            assert!(Instant::now() >= target);
        })
    });
}

// ---------------------------------------------------------------------------------------------
// timeout

#[test]
fn timeout_on_a_never_ready_future_elapses_after_the_duration() {
    let (out, elapsed) = watchdog(10, || {
        block_on(async {
            let start = Instant::now();
            let out = timeout(Duration::from_millis(30), pending::<u8>()).await;
            (out, start.elapsed())
        })
    });
    assert_eq!(out, Err::<u8, Elapsed>(elapsed_value()));
    assert!(
        elapsed >= Duration::from_millis(30),
        "timed out early: {elapsed:?}"
    );
}

/// An `Elapsed`, obtained the only way the public API allows.
fn elapsed_value() -> Elapsed {
    block_on(timeout(Duration::from_millis(1), pending::<()>())).unwrap_err()
}

#[test]
fn timeout_on_a_ready_future_is_ok() {
    assert_eq!(
        block_on(timeout(Duration::from_secs(5), async { 3 })),
        Ok(3)
    );
    // Ready after a while, well within the deadline.
    let out = watchdog(10, || {
        block_on(timeout(Duration::from_secs(5), async {
            sleep(Duration::from_millis(5)).await;
            4
        }))
    });
    assert_eq!(out, Ok(4));
    // A zero timeout still lets a future that is ready at once win.
    assert_eq!(block_on(timeout(Duration::ZERO, async { 5 })), Ok(5));
}

#[test]
fn elapsed_converts_to_a_timed_out_io_error() {
    let e = elapsed_value();
    assert!(!e.to_string().is_empty());
    let io: std::io::Error = e.into();
    assert_eq!(io.kind(), std::io::ErrorKind::TimedOut);
    // Usable with `?` in a function returning io::Result.
    fn f() -> std::io::Result<()> {
        block_on(timeout(Duration::from_millis(1), pending::<()>()))?;
        Ok(())
    }
    assert_eq!(f().unwrap_err().kind(), std::io::ErrorKind::TimedOut);
}

// ---------------------------------------------------------------------------------------------
// Dropping timers

#[test]
fn a_dropped_sleep_never_wakes_its_waker() {
    watchdog(10, || {
        let counter = Arc::new(CountingWaker(AtomicUsize::new(0)));
        let waker = Waker::from(counter.clone());
        let mut cx = Context::from_waker(&waker);
        let mut sleeps: Vec<Sleep> = (0..100).map(|_| sleep(Duration::from_millis(20))).collect();
        for s in &mut sleeps {
            assert!(Pin::new(s).poll(&mut cx).is_pending());
        }
        drop(sleeps);
        // Well past the dropped deadlines.
        block_on(sleep(Duration::from_millis(100)));
        assert_eq!(
            counter.0.load(Ordering::SeqCst),
            0,
            "a dropped sleep fired its waker"
        );
    });
}

#[test]
fn dropping_ten_thousand_registered_sleeps_leaves_timers_working() {
    let elapsed = watchdog(10, || {
        block_on(async {
            let mut sleeps: Vec<Sleep> = (0..10_000)
                .map(|_| sleep(Duration::from_secs(10)))
                .collect();
            poll_fn(|cx| {
                for s in &mut sleeps {
                    assert!(Pin::new(s).poll(cx).is_pending());
                }
                Poll::Ready(())
            })
            .await;
            drop(sleeps);
            let start = Instant::now();
            sleep(Duration::from_millis(20)).await;
            start.elapsed()
        })
    });
    assert!(elapsed >= Duration::from_millis(20));
    assert!(
        elapsed < Duration::from_secs(5),
        "a 20 ms sleep took {elapsed:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Far deadlines

#[test]
fn a_duration_max_sleep_never_completes_and_does_not_panic() {
    let out = watchdog(10, || {
        block_on(timeout(Duration::from_millis(50), sleep(Duration::MAX)))
    });
    assert!(out.is_err());
    let mut s = sleep(Duration::MAX);
    assert!(poll_once(&mut s).is_pending());
    assert!(poll_once(&mut s).is_pending());
}

#[test]
fn a_sleep_of_three_years_does_not_panic() {
    let out = watchdog(10, || {
        block_on(async {
            let far = timeout(
                Duration::from_millis(30),
                sleep(Duration::from_secs(100_000_000)),
            )
            .await;
            // Timers nearer than the far one still fire while it is registered.
            let mut far_sleep = sleep(Duration::from_secs(100_000_000));
            assert!(
                poll_fn(|cx| Poll::Ready(Pin::new(&mut far_sleep).poll(cx)))
                    .await
                    .is_pending()
            );
            let start = Instant::now();
            sleep(Duration::from_millis(10)).await;
            assert!(start.elapsed() >= Duration::from_millis(10));
            drop(far_sleep);
            let until = timeout(
                Duration::from_millis(10),
                sleep_until(Instant::now() + Duration::from_secs(100_000_000)),
            )
            .await;
            (far, until)
        })
    });
    assert!(out.0.is_err());
    assert!(out.1.is_err());
}

// ---------------------------------------------------------------------------------------------
// interval

/// Polls `interval` once, inside a task, without waiting: `Ready(tick)` if a tick is due now.
async fn tick_now(interval: &mut Interval) -> Poll<Instant> {
    poll_fn(|cx| Poll::Ready(interval.poll_tick(cx))).await
}

#[test]
fn interval_first_tick_is_immediate() {
    // The first tick is due at creation (`interval`) or at `start` (`interval_at`).
    let mut i = interval(Duration::from_secs(3600));
    let before = Instant::now();
    let Poll::Ready(first) = i.poll_tick(&mut Context::from_waker(Waker::noop())) else {
        panic!("the first tick of an interval must be immediate");
    };
    assert!(first <= before);
    assert!(
        i.poll_tick(&mut Context::from_waker(Waker::noop()))
            .is_pending()
    );
    assert_eq!(i.period(), Duration::from_secs(3600));

    let start = Instant::now() - Duration::from_millis(1);
    let mut i = interval_at(start, Duration::from_secs(3600));
    assert_eq!(
        i.poll_tick(&mut Context::from_waker(Waker::noop())),
        Poll::Ready(start)
    );
}

#[test]
fn interval_ticks_are_increasing_and_at_least_a_period_apart() {
    const P: Duration = Duration::from_millis(10);
    let (start, ticks, observed) = watchdog(10, || {
        block_on(async {
            let start = Instant::now();
            let mut i = interval_at(start, P);
            let mut ticks = Vec::new();
            let mut observed = Vec::new();
            for _ in 0..6 {
                ticks.push(i.tick().await);
                observed.push(Instant::now());
            }
            (start, ticks, observed)
        })
    });
    assert_eq!(ticks[0], start, "the first tick is the start instant");
    for w in ticks.windows(2) {
        assert!(
            w[1] >= w[0] + P,
            "ticks less than a period apart: {ticks:?}"
        );
    }
    for (k, (tick, seen)) in ticks.iter().zip(&observed).enumerate() {
        assert!(seen >= tick, "tick {k} observed before its instant");
        // On the schedule: start + m * period (Skip may drop ticks under load, never shift them).
        let since = tick.duration_since(start).as_nanos();
        assert_eq!(since % P.as_nanos(), 0, "tick {k} is off the schedule");
    }
}

const P: Duration = Duration::from_millis(20);

/// Ticks once (immediately), blocks the thread for 3.5 periods, then returns what follows:
/// (start, instant after the block, the ticks that were due at once, the next awaited tick).
fn stall_then_tick(missed: MissedTick) -> (Instant, Instant, Vec<Instant>, Instant) {
    watchdog(10, move || {
        block_on(async move {
            let start = Instant::now();
            let mut i = interval_at(start, P);
            i.set_missed_tick(missed);
            assert_eq!(i.tick().await, start);
            std::thread::sleep(P * 7 / 2);
            let after_block = Instant::now();
            let mut immediate = Vec::new();
            while let Poll::Ready(t) = tick_now(&mut i).await {
                immediate.push(t);
                assert!(
                    immediate.len() < 100,
                    "an interval that never stops being due"
                );
            }
            let next = i.tick().await;
            (start, after_block, immediate, next)
        })
    })
}

#[test]
fn interval_missed_ticks_burst() {
    let (start, after_block, immediate, next) = stall_then_tick(MissedTick::Burst);
    // Every missed tick is returned at once, on the original schedule.
    assert!(
        immediate.len() >= 3,
        "Burst returned {} ticks at once",
        immediate.len()
    );
    for (k, t) in immediate.iter().enumerate() {
        assert_eq!(*t, start + P * (k as u32 + 1));
    }
    assert!(immediate[..3].iter().all(|t| *t < after_block));
    assert_eq!(next, start + P * (immediate.len() as u32 + 1));
    assert!(next > *immediate.last().unwrap());
}

#[test]
fn interval_missed_ticks_delay() {
    let (start, after_block, immediate, next) = stall_then_tick(MissedTick::Delay);
    // One late tick at once, then the schedule restarts one period after it was observed.
    assert_eq!(immediate, vec![start + P]);
    assert!(
        next >= after_block + P,
        "Delay: next tick {:?} after the block, want >= one period",
        next - after_block
    );
}

#[test]
fn interval_missed_ticks_skip_is_the_default() {
    let (start, after_block, immediate, next) = stall_then_tick(MissedTick::Skip);
    assert_eq!(immediate, vec![start + P]);
    // The next tick is the first one of the original schedule after the stall.
    assert!(next > after_block);
    let since = next.duration_since(start).as_nanos();
    assert_eq!(
        since % P.as_nanos(),
        0,
        "Skip: next tick is off the schedule"
    );
    assert!(since / P.as_nanos() >= 4);
    assert_eq!(MissedTick::default(), MissedTick::Skip);

    // The default behaves the same way.
    let (start, after_block, immediate, next) = watchdog(10, || {
        block_on(async {
            let start = Instant::now();
            let mut i = interval_at(start, P);
            i.tick().await;
            std::thread::sleep(P * 7 / 2);
            let after_block = Instant::now();
            let mut immediate = Vec::new();
            while let Poll::Ready(t) = tick_now(&mut i).await {
                immediate.push(t);
            }
            (start, after_block, immediate, i.tick().await)
        })
    });
    assert_eq!(immediate, vec![start + P]);
    assert!(next > after_block);
    assert_eq!(next.duration_since(start).as_nanos() % P.as_nanos(), 0);
}

#[test]
fn a_skip_interval_more_than_u32_max_periods_behind_still_ticks() {
    // A 1 ns period whose schedule started 5 s ago: 5 000 000 000 periods behind, more than
    // u32::MAX (4 294 967 295).
    let (first, second, before_first) = watchdog(10, || {
        block_on(async {
            let start = Instant::now()
                .checked_sub(Duration::from_secs(5))
                .expect("the machine has been up for 5 s");
            let mut i = interval_at(start, Duration::from_nanos(1));
            let before_first = Instant::now();
            let first = i.tick().await;
            let second = timeout(Duration::from_secs(5), i.tick()).await;
            (first - start, second, before_first)
        })
    });
    assert_eq!(first, Duration::ZERO);
    let second = second.expect("the second tick never came");
    // Skip: the missed ticks are dropped; the next one is the first on the schedule after the
    // instant the first tick was taken.
    assert!(second > before_first, "Skip returned a missed tick");
}

#[test]
fn an_interval_of_duration_max_ticks_once_and_then_never_for_every_behaviour() {
    for missed in [MissedTick::Burst, MissedTick::Delay, MissedTick::Skip] {
        let (first, second) = watchdog(10, move || {
            block_on(async move {
                let start = Instant::now();
                let mut i = interval_at(start, Duration::MAX);
                i.set_missed_tick(missed);
                let first = i.tick().await;
                // The next tick is past what an Instant can hold: it never comes.
                let second = timeout(Duration::from_millis(30), i.tick()).await;
                (first == start, second)
            })
        });
        assert!(first, "{missed:?}: the first tick is at the start");
        assert!(second.is_err(), "{missed:?}: a second tick came");
    }
}

#[test]
fn a_duration_max_timeout_never_fires() {
    let out = watchdog(10, || {
        block_on(async {
            let never = timeout(Duration::MAX, pending::<()>());
            let outer = timeout(Duration::from_millis(30), never).await;
            let ready = timeout(Duration::MAX, async {
                sleep(Duration::from_millis(5)).await;
                5
            })
            .await;
            (outer, ready)
        })
    });
    assert!(
        out.0.is_err(),
        "the outer 30 ms timeout fires, the inner MAX one never does"
    );
    assert_eq!(out.1, Ok(5));
}

#[test]
#[should_panic(expected = "period")]
fn interval_with_a_zero_period_panics() {
    let _ = interval(Duration::ZERO);
}

#[test]
#[should_panic(expected = "period")]
fn interval_at_with_a_zero_period_panics() {
    let _ = interval_at(Instant::now(), Duration::ZERO);
}

// ---------------------------------------------------------------------------------------------
// Foreign executors

#[test]
fn sleep_fires_on_a_foreign_executor() {
    let elapsed = watchdog(10, || {
        let start = Instant::now();
        pollster::block_on(sleep(Duration::from_millis(20)));
        start.elapsed()
    });
    assert!(elapsed >= Duration::from_millis(20));
}

#[test]
fn timeout_and_interval_work_on_a_foreign_executor() {
    watchdog(10, || {
        let out = futures::executor::block_on(timeout(Duration::from_millis(20), pending::<()>()));
        assert!(out.is_err());
        let ticks = pollster::block_on(async {
            let mut i = interval(Duration::from_millis(5));
            let mut ticks = Vec::new();
            for _ in 0..4 {
                ticks.push(i.tick().await);
            }
            ticks
        });
        assert!(
            ticks
                .windows(2)
                .all(|w| w[1] >= w[0] + Duration::from_millis(5))
        );
        // A sleep created on one thread and awaited on another.
        let s = sleep(Duration::from_millis(10));
        let start = Instant::now();
        std::thread::spawn(move || pollster::block_on(s))
            .join()
            .unwrap();
        assert!(start.elapsed() >= Duration::from_millis(5));
    });
}

#[test]
fn a_sleep_moves_between_threads_mid_wait() {
    watchdog(10, || {
        let target = Instant::now() + Duration::from_millis(30);
        let mut s = sleep_until(target);
        // Registered by a wisp executor on this thread, finished by pollster on another.
        let polled = Rc::new(Cell::new(false));
        let p = polled.clone();
        block_on(poll_fn(|cx| {
            assert!(Pin::new(&mut s).poll(cx).is_pending());
            p.set(true);
            Poll::Ready(())
        }));
        assert!(polled.get());
        std::thread::spawn(move || pollster::block_on(s))
            .join()
            .unwrap();
        assert!(Instant::now() >= target);
    });
}

// ---------------------------------------------------------------------------------------------
// Auto traits

#[test]
fn timer_types_and_tasks_are_send() {
    fn send<T: Send>() {}
    fn send_sync<T: Send + Sync>() {}
    fn send_val<T: Send>(_: &T) {}
    send_sync::<Sleep>();
    send::<Interval>();
    send_sync::<Elapsed>();
    send::<wisp::Task<u32>>();
    send::<wisp::Task<String>>();
    send_sync::<wisp::Spawner>();
    send_val(&timeout(
        Duration::from_secs(1),
        sleep(Duration::from_secs(1)),
    ));
    send_val(&sleep(Duration::ZERO));
    let mut i = interval(Duration::from_secs(1));
    send_val(&i.tick());
    fn error<E: std::error::Error + Send + Sync + 'static>() {}
    error::<Elapsed>();
}

// ---------------------------------------------------------------------------------------------
// A timer registered while another thread drives the reactor.

/// Another thread drives the reactor (idle, no timers). This thread registers a far timer (which
/// notifies the driver) and, a moment later, a near one, then parks. The near timer must fire.
/// If it is inserted while the driver is between computing its next deadline and publishing
/// `waiting_until`, the driver is not notified and waits for the far timer instead: a hang.
///
/// In a child process, so that no other test's executor is the driver, and the loop starts only
/// once the driver thread sleeps in the poller.
#[test]
fn a_timer_inserted_while_another_thread_drives_is_not_missed() {
    in_child_process(
        "a_timer_inserted_while_another_thread_drives_is_not_missed",
        timer_inserted_while_another_thread_drives,
    );
}

fn timer_inserted_while_another_thread_drives() {
    let (stop_tx, stop_rx) = futures::channel::oneshot::channel::<()>();
    let (tid_tx, tid_rx) = std::sync::mpsc::channel();
    let driver = std::thread::spawn(move || {
        tid_tx.send(os_thread_id()).unwrap();
        block_on(stop_rx)
    });
    wait_until_blocked(tid_rx.recv().unwrap());
    watchdog(60, || {
        for i in 0..8000u32 {
            block_on(async move {
                let mut far = sleep(Duration::from_secs(3600));
                assert!(
                    poll_fn(|cx| Poll::Ready(Pin::new(&mut far).poll(cx)))
                        .await
                        .is_pending()
                );
                // Land the near insert at varying points of the driver's wake-up.
                let spin = Instant::now();
                while spin.elapsed() < Duration::from_nanos(u64::from(i * 7919 % 150_000)) {
                    std::hint::spin_loop();
                }
                sleep(Duration::from_micros(300)).await;
            });
        }
    });
    stop_tx.send(()).unwrap();
    driver.join().unwrap().unwrap();
}
