//! `wisp::test`: virtual time, stepping, deadlock reports.

mod common;

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::Poll;
use std::time::{Duration, Instant};

use common::{in_child_process, os_thread_id, panic_text, wait_until_blocked, watchdog};
use proptest::prelude::*;
use wisp::time::{Elapsed, Timeout, interval, now, sleep, sleep_until, timeout};

/// A retry routine as people write it: try, and on failure wait 1 s, 2 s, 4 s, ...
async fn retry_with_backoff(mut attempt: impl FnMut(u32) -> bool, tries: u32) -> Option<u32> {
    for n in 0..tries {
        if attempt(n) {
            return Some(n);
        }
        sleep(Duration::from_secs(1 << n)).await;
    }
    None
}

#[test]
fn backoff_runs_in_virtual_time_not_real_time() {
    watchdog(30, || {
        let real = Instant::now();
        let (outcome, waited) = wisp::test::block_on(async {
            let start = now();
            let outcome = retry_with_backoff(|n| n == 7, 10).await;
            (outcome, now() - start)
        });
        assert_eq!(outcome, Some(7));
        // 1 + 2 + ... + 64 seconds of backoff, exactly.
        assert_eq!(waited, Duration::from_secs(127));
        // Two minutes of waiting took (generously) under two seconds of real time.
        assert!(
            real.elapsed() < Duration::from_secs(2),
            "{:?}",
            real.elapsed()
        );
    });
}

#[test]
fn timeout_of_a_stalled_future_elapses_at_exactly_its_deadline() {
    watchdog(30, || {
        wisp::test::block_on(async {
            let start = now();
            let out = timeout(Duration::from_secs(90), std::future::pending::<()>()).await;
            assert!(out.is_err());
            assert_eq!(now() - start, Duration::from_secs(90));
            // And a future that finishes first still wins.
            let out = timeout(Duration::from_secs(10), sleep(Duration::from_secs(3))).await;
            assert!(out.is_ok());
            assert_eq!(now() - start, Duration::from_secs(93));
        });
    });
}

#[test]
fn sleeps_in_tasks_fire_in_deadline_order_at_their_instants() {
    watchdog(30, || {
        let log = Rc::new(RefCell::new(Vec::new()));
        wisp::test::block_on({
            let log = log.clone();
            async move {
                let start = now();
                let tasks: Vec<_> = [5u64, 1, 3600, 2, 60]
                    .into_iter()
                    .map(|secs| {
                        let log = log.clone();
                        wisp::spawn(async move {
                            sleep(Duration::from_secs(secs)).await;
                            log.borrow_mut().push((secs, now() - start));
                        })
                    })
                    .collect();
                for t in tasks {
                    t.await;
                }
            }
        });
        let log = log.borrow();
        let expected: Vec<_> = [1u64, 2, 5, 60, 3600]
            .into_iter()
            .map(|s| (s, Duration::from_secs(s)))
            .collect();
        assert_eq!(*log, expected);
    });
}

#[test]
fn advance_fires_exactly_the_timers_due() {
    watchdog(30, || {
        let fired = Rc::new(RefCell::new(Vec::new()));
        wisp::test::Builder::new().paused(true).block_on({
            let fired = fired.clone();
            async move {
                for secs in [1u64, 2, 3] {
                    let fired = fired.clone();
                    wisp::spawn(async move {
                        sleep(Duration::from_secs(secs)).await;
                        fired.borrow_mut().push(secs);
                    })
                    .detach();
                }
                wisp::yield_now().await; // let the tasks register their timers
                wisp::test::advance(Duration::from_millis(1999)).await;
                assert_eq!(*fired.borrow(), [1]);
                wisp::test::advance(Duration::from_millis(1)).await;
                assert_eq!(*fired.borrow(), [1, 2]);
                wisp::test::advance(Duration::from_secs(10)).await;
                assert_eq!(*fired.borrow(), [1, 2, 3]);
            }
        });
    });
}

#[test]
fn advance_by_duration_max_fires_every_pending_timer() {
    watchdog(30, || {
        wisp::test::Builder::new().paused(true).block_on(async {
            let start = now();
            let far = wisp::spawn(sleep(Duration::from_secs(3600)));
            let never = wisp::spawn(sleep(Duration::MAX));
            wisp::yield_now().await; // let the tasks register their timers
            wisp::test::advance(Duration::MAX).await;
            assert!(far.is_finished(), "advance(MAX) left a timer pending");
            assert!(!never.is_finished(), "a Duration::MAX sleep never fires");
            assert!(now() >= start + Duration::from_secs(3600));
            assert_eq!(never.cancel().await, None);
        });
    });
}

#[test]
fn sleeps_and_timeouts_of_duration_max_never_fire_on_the_virtual_clock() {
    watchdog(30, || {
        wisp::test::block_on(async {
            let start = now();
            let out = wisp::race(
                async {
                    sleep(Duration::MAX).await;
                    "the MAX sleep"
                },
                async {
                    sleep(Duration::from_secs(60)).await;
                    "the minute"
                },
            )
            .await;
            assert_eq!(out, "the minute");
            let out = timeout(Duration::MAX, async {
                sleep(Duration::from_secs(3600)).await;
                7
            })
            .await;
            assert_eq!(out, Ok(7));
            assert_eq!(now() - start, Duration::from_secs(3660));
        });
    });
}

#[test]
fn a_deadlock_grace_of_duration_max_means_wait_without_limit() {
    watchdog(30, || {
        // No timer pending: the run waits for another thread without a deadlock deadline.
        let (tx, rx) = futures::channel::oneshot::channel::<u8>();
        let sender = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            tx.send(3).unwrap();
        });
        let got = wisp::test::Builder::new()
            .deadlock_grace(Duration::MAX)
            .block_on(rx);
        assert_eq!(got, Ok(3));
        sender.join().unwrap();
    });
}

#[test]
fn an_io_grace_of_duration_max_means_wait_for_io_without_limit() {
    watchdog(30, || {
        // A socket registered and a timer pending: the clock waits for I/O without a limit.
        wisp::test::Builder::new()
            .io_grace(Duration::MAX)
            .block_on(async {
                let socket = wisp::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
                let addr = socket.local_addr().unwrap();
                let sender = std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(30));
                    let peer = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
                    peer.send_to(b"x", addr).unwrap();
                });
                let mut buf = [0u8; 4];
                let start = now();
                let got = timeout(Duration::from_secs(60), socket.recv_from(&mut buf)).await;
                assert_eq!(
                    got.expect("the datagram arrives before the clock jumps")
                        .unwrap()
                        .0,
                    1
                );
                assert_eq!(
                    now(),
                    start,
                    "the clock did not move while I/O could still arrive"
                );
                sender.join().unwrap();
            });
    });
}

#[test]
fn pause_and_resume() {
    watchdog(30, || {
        wisp::test::block_on(async {
            let start = now();
            wisp::test::pause();
            wisp::test::advance(Duration::from_secs(5)).await;
            assert_eq!(now() - start, Duration::from_secs(5));
            wisp::test::resume();
            sleep(Duration::from_secs(10)).await;
            assert_eq!(now() - start, Duration::from_secs(15));
        });
    });
}

/// Runs `future` on a test executor that reports a deadlock after 50 ms; returns the report.
fn deadlock_report_of<F: Future>(builder: wisp::test::Builder, future: F) -> String {
    let builder = builder.deadlock_grace(Duration::from_millis(50));
    let payload = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        builder.block_on(future);
    }))
    .expect_err("the run must be reported as a deadlock");
    panic_text(payload.as_ref())
}

#[test]
fn a_run_idle_with_the_clock_paused_does_not_jump_and_is_a_deadlock() {
    watchdog(30, || {
        // Paused by `pause()`: the only timer pending cannot fire, nothing else can wake the run.
        let text = deadlock_report_of(wisp::test::Builder::new(), async {
            wisp::test::pause();
            sleep(Duration::from_secs(1)).await;
        });
        assert!(text.contains("deadlock"), "{text}");
        assert!(text.contains("The virtual clock is paused"), "{text}");
        assert!(text.contains("(1 paused timers)"), "{text}");
        // Paused from the start by the builder.
        let text = deadlock_report_of(wisp::test::Builder::new().paused(true), async {
            let first = wisp::spawn(sleep(Duration::from_secs(2)));
            let second = wisp::spawn(sleep(Duration::from_secs(3)));
            first.await;
            second.await;
        });
        assert!(text.contains("The virtual clock is paused"), "{text}");
        assert!(text.contains("(2 paused timers)"), "{text}");
    });
}

#[test]
fn resume_lets_a_paused_clock_jump_to_the_next_deadline_again() {
    watchdog(30, || {
        wisp::test::Builder::new()
            .paused(true)
            .deadlock_grace(Duration::from_secs(5))
            .block_on(async {
                let start = now();
                let task = wisp::spawn(async {
                    sleep(Duration::from_secs(10)).await;
                    now()
                });
                wisp::yield_now().await; // let the task register its timer
                wisp::test::advance(Duration::from_secs(4)).await;
                assert!(!task.is_finished(), "a paused clock jumped");
                assert_eq!(now() - start, Duration::from_secs(4));
                wisp::test::resume();
                // Idle again: now the clock jumps to the deadline (paused, this is a deadlock).
                assert_eq!(task.await - start, Duration::from_secs(10));
            });
    });
}

#[test]
fn interval_ticks_on_the_virtual_clock() {
    watchdog(30, || {
        wisp::test::block_on(async {
            let start = now();
            let mut every = interval(Duration::from_secs(60));
            let mut ticks = Vec::new();
            for _ in 0..4 {
                ticks.push(every.tick().await - start);
            }
            let expected: Vec<_> = (0..4).map(|i| Duration::from_secs(60 * i)).collect();
            assert_eq!(ticks, expected);
        });
    });
}

#[test]
fn stepping_and_stats() {
    let ex = wisp::test::Builder::new().executor();
    let a = ex.spawn(async { sleep(Duration::from_secs(1)).await });
    let b = ex.spawn(async { 7 });
    assert_eq!(ex.stats().alive, 2);
    assert_eq!(ex.stats().runnable, 2);
    ex.run_until_stalled();
    let stats = ex.stats();
    assert_eq!(stats.alive, 1, "{stats:?}");
    assert_eq!(stats.runnable, 0, "{stats:?}");
    assert_eq!(stats.virtual_timers, 1, "{stats:?}");
    assert_eq!(ex.block_on(b), 7);
    ex.block_on(a);
    assert_eq!(ex.stats().alive, 0);
}

/// Polls `t` once inside a task and hands it back, alive, with the poll's result.
fn poll_once_in<F>(
    ex: &wisp::Executor,
    mut t: Timeout<F>,
) -> (Poll<Result<F::Output, Elapsed>>, Timeout<F>)
where
    F: Future + Unpin + 'static,
    F::Output: 'static,
{
    let task = ex.spawn(async move {
        let polled = std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut t).poll(cx))).await;
        (polled, t)
    });
    ex.block_on(task)
}

/// A `Timeout` around a future that is ready at once registers no timer (its `Sleep` is never
/// polled); one around a pending future registers exactly one, which leaves with the `Timeout`.
#[test]
fn a_timeout_around_a_ready_future_registers_no_timer() {
    let ex = wisp::test::Builder::new().executor();
    let start = ex.block_on(async { now() });
    let (polled, ready) = poll_once_in(
        &ex,
        Timeout::new(Duration::from_secs(10), std::future::ready(5)),
    );
    assert_eq!(polled, Poll::Ready(Ok(5)));
    let stats = ex.stats();
    assert_eq!(stats.virtual_timers, 0, "{stats:?}");
    let (polled, pending) = poll_once_in(
        &ex,
        Timeout::new(Duration::from_secs(10), std::future::pending::<u8>()),
    );
    assert_eq!(polled, Poll::Pending);
    let stats = ex.stats();
    assert_eq!(stats.virtual_timers, 1, "{stats:?}");
    drop(pending);
    drop(ready);
    assert_eq!(ex.stats().virtual_timers, 0);
    // No virtual time passed for any of it, and `timeout` (the same future, pinned) agrees.
    assert_eq!(ex.block_on(timeout(Duration::ZERO, async { 7 })), Ok(7));
    assert_eq!(ex.stats().virtual_timers, 0);
    assert_eq!(ex.block_on(async { now() }), start);
}

/// The deadline of a `Timeout` counts from its first pending poll, not from `Timeout::new`.
#[test]
fn a_timeout_deadline_counts_from_its_first_pending_poll() {
    wisp::test::block_on(async {
        let never = std::pin::pin!(std::future::pending::<()>());
        let t = Timeout::new(Duration::from_secs(10), never);
        sleep(Duration::from_secs(30)).await;
        let start = now();
        assert!(t.await.is_err());
        assert_eq!(now() - start, Duration::from_secs(10));
    });
}

/// With sockets registered, the clock waits `io_grace` of real time for I/O before it jumps.
/// The grace here is generous (5 s) so that a loaded machine cannot make the server's answer
/// late; the answer ends the wait as soon as it arrives.
#[test]
fn real_io_is_seen_before_the_clock_jumps() {
    watchdog(120, || {
        // The grace is finite (the path that sets a real alarm) but far longer than any delay of
        // a loaded machine: the server answers once the client sleeps, and the answer must come
        // before the virtual hour of timeout, without the clock moving.
        let builder = wisp::test::Builder::new().io_grace(Duration::from_secs(60));
        builder.block_on(async {
            let listener = wisp::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let client_thread = os_thread_id();
            let server = std::thread::spawn(move || {
                // A real server on another thread.
                let l = listener.into_std().unwrap();
                let (mut s, _) = l.accept().unwrap();
                // The client says it is about to read; once its thread sleeps, it waits in the
                // I/O grace with the timeout pending: only then does the answer go out.
                let mut go = [0u8; 1];
                std::io::Read::read_exact(&mut s, &mut go).unwrap();
                wait_until_blocked(client_thread);
                std::io::Write::write_all(&mut s, b"hi").unwrap();
            });
            let client = wisp::net::TcpStream::connect(addr).await.unwrap();
            client.write_all(b"g").await.unwrap();
            let mut buf = [0u8; 2];
            // A virtual hour of timeout: the answer comes within the I/O grace, not after.
            let start = now();
            let read = timeout(Duration::from_secs(3600), client.read_exact(&mut buf)).await;
            assert!(read.is_ok());
            assert_eq!(&buf, b"hi");
            assert_eq!(now(), start, "the clock moved while I/O could still arrive");
            server.join().unwrap();
        });
    });
}

/// Awaits a channel whose sender is kept alive but never used: a deadlock.
fn wait_for_a_message_nobody_sends() -> Option<u8> {
    let (_tx, rx) = futures::channel::oneshot::channel::<u8>();
    wisp::test::Builder::new()
        .deadlock_grace(Duration::from_millis(50))
        .block_on(async move {
            let stuck = wisp::spawn_named("waits-for-a-message", async move { rx.await.ok() });
            stuck.await
        })
}

#[test]
#[should_panic(expected = "deadlock")]
fn a_channel_nobody_sends_on_is_reported_as_a_deadlock() {
    wait_for_a_message_nobody_sends();
}

#[test]
fn the_deadlock_report_names_the_stuck_task_and_where_it_was_spawned() {
    let report = std::panic::catch_unwind(wait_for_a_message_nobody_sends)
        .expect_err("a deadlock must panic");
    let text = report.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(text.contains("deadlock"), "{text}");
    assert!(text.contains("\"waits-for-a-message\""), "{text}");
    assert!(text.contains("tests/virtual_time.rs"), "{text}");
}

/// The report reads a task's name by its slot: a slot freed by a finished task and taken by a
/// task from a `Spawner` is reported as the new task, not under the old one's name.
#[test]
fn a_reused_task_slot_is_reported_as_its_new_task() {
    let ex = wisp::test::Builder::new()
        .deadlock_grace(Duration::from_millis(50))
        .executor();
    ex.block_on(ex.spawn_named("finished-first", async {}));
    ex.spawner().spawn(std::future::pending::<()>()).detach();
    let payload = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        ex.block_on(std::future::pending::<()>());
    }))
    .expect_err("the run must be reported as a deadlock");
    let text = panic_text(payload.as_ref());
    assert!(text.contains("handed over by a Spawner"), "{text}");
    assert!(!text.contains("finished-first"), "{text}");
}

#[test]
fn outside_a_test_run_pause_explains_itself() {
    let err = std::panic::catch_unwind(wisp::test::pause).expect_err("must panic");
    let text = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(text.contains("outside a wisp::test run"), "{text}");
}

wisp::test! {
    /// The macro form: a #[test] whose body runs on the virtual clock.
    async fn the_test_macro_runs_on_virtual_time() {
        let start = now();
        sleep_until(start + Duration::from_secs(86_400)).await;
        assert_eq!(now() - start, Duration::from_secs(86_400));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Timers fire in the order, and at the virtual instants, a real clock would give.
    #[test]
    fn random_deadlines_fire_in_order_at_their_instants(
        millis in proptest::collection::vec(0u64..5_000_000, 1..40)
    ) {
        let log = Rc::new(RefCell::new(Vec::new()));
        wisp::test::block_on({
            let log = log.clone();
            let millis = millis.clone();
            async move {
                let start = now();
                let tasks: Vec<_> = millis
                    .iter()
                    .enumerate()
                    .map(|(i, &ms)| {
                        let log = log.clone();
                        wisp::spawn(async move {
                            sleep(Duration::from_millis(ms)).await;
                            log.borrow_mut().push((ms, i, now() - start));
                        })
                    })
                    .collect();
                for t in tasks {
                    t.await;
                }
            }
        });
        let mut expected: Vec<_> = millis
            .iter()
            .enumerate()
            .map(|(i, &ms)| (ms, i, Duration::from_millis(ms)))
            .collect();
        // Equal deadlines fire in the order the sleeps were first polled (spawn order here).
        expected.sort();
        prop_assert_eq!(log.borrow().clone(), expected);
    }
}

/// Polls `fut` once with a waker that does nothing.
fn poll_once<F: std::future::Future + Unpin>(fut: &mut F) -> std::task::Poll<F::Output> {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    std::pin::Pin::new(fut).poll(&mut cx)
}

/// A `Sleep` registered on a test executor's virtual clock keeps that clock when it is polled
/// on another thread (which has no virtual clock): it is still pending there until the clock
/// reaches its deadline, never early.
#[test]
fn a_sleep_moved_to_another_thread_keeps_its_virtual_clock() {
    watchdog(30, || {
        wisp::test::Builder::new().paused(true).block_on(async {
            let mut nap = sleep(Duration::from_secs(60));
            // Registered on this executor's (paused) virtual clock.
            assert!(poll_once(&mut nap).is_pending());
            let on_other_thread = |mut nap: wisp::time::Sleep| {
                std::thread::spawn(move || (poll_once(&mut nap).is_ready(), nap))
                    .join()
                    .unwrap()
            };
            let (ready, nap) = on_other_thread(nap);
            assert!(
                !ready,
                "completed 60 virtual seconds early on another thread"
            );
            wisp::test::advance(Duration::from_secs(59)).await;
            let (ready, nap) = on_other_thread(nap);
            assert!(!ready, "completed 1 virtual second early on another thread");
            wisp::test::advance(Duration::from_secs(1)).await;
            let (ready, _) = on_other_thread(nap);
            assert!(ready, "due at 60 s, the clock is at 60 s");
        });
    });
}

/// Only a test's own sockets hold its clock back: a socket another thread keeps open (another
/// test running beside this one) does not make this run wait its `io_grace` before the clock
/// jumps. With the process-wide check this test waited the whole minute of grace.
#[test]
fn another_threads_socket_does_not_hold_back_the_virtual_clock() {
    let (opened, ready) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        wisp::block_on(async move {
            let listener = wisp::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            opened.send(()).unwrap();
            // Open for as long as the test process lives.
            let _ = listener.accept().await;
            std::future::pending::<()>().await
        })
    });
    ready.recv().unwrap();
    watchdog(120, || {
        let real = Instant::now();
        wisp::test::Builder::new()
            .io_grace(Duration::from_secs(60))
            .block_on(async {
                let start = now();
                sleep(Duration::from_secs(3600)).await;
                assert_eq!(now() - start, Duration::from_secs(3600));
            });
        assert!(
            real.elapsed() < Duration::from_secs(30),
            "waited {:?} of real time",
            real.elapsed()
        );
    });
}

/// The test's own socket does hold it back: while a listener of the run is open, the clock
/// jumps only after `io_grace` of real time, and a connection that arrives within it is
/// accepted before the virtual timeout that races it.
#[test]
fn the_runs_own_socket_holds_back_the_clock_for_its_io_grace() {
    watchdog(120, || {
        wisp::test::Builder::new()
            .io_grace(Duration::from_secs(60))
            .block_on(async {
                let listener = wisp::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                let addr = listener.local_addr().unwrap();
                // Connects from a plain thread once the run is idle in its grace (or before:
                // either way the connection is there to be accepted).
                std::thread::spawn(move || {
                    let _stream = std::net::TcpStream::connect(addr).unwrap();
                    std::thread::sleep(Duration::from_secs(5));
                });
                let accepted = timeout(Duration::from_secs(1), listener.accept()).await;
                assert!(
                    accepted.is_ok(),
                    "the virtual clock jumped past the connection"
                );
            });
    });
}

/// Readiness that the idle executor's own zero-timeout reactor turn collects is work: it runs
/// before the clock jumps. The socket was opened before the run, so it is not the run's own I/O
/// and gets no grace; only the executor's look for work after that turn sees the wake-up.
///
/// The receiver waits first, then a second task sends it a datagram (over loopback, queued by
/// the time `send_to` returns); then every task waits and the timeout's virtual hour is the
/// only deadline. In a child process, so that this thread's turn is the one that collects the
/// event (no other test's executor drives the reactor meanwhile).
#[test]
fn readiness_collected_when_the_run_goes_idle_runs_before_the_clock_jumps() {
    in_child_process(
        "readiness_collected_when_the_run_goes_idle_runs_before_the_clock_jumps",
        || {
            watchdog(60, || {
                let socket = wisp::block_on(wisp::net::UdpSocket::bind("127.0.0.1:0")).unwrap();
                let addr = socket.local_addr().unwrap();
                let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
                wisp::test::block_on(async move {
                    let start = now();
                    let receiver = wisp::spawn(async move {
                        let mut buf = [0u8; 8];
                        socket.recv_from(&mut buf).await.unwrap().0
                    });
                    wisp::spawn(async move {
                        sender.send_to(b"ping", addr).unwrap();
                    })
                    .detach();
                    let got = timeout(Duration::from_secs(3600), receiver).await;
                    assert_eq!(got.ok(), Some(4), "the clock jumped past a ready socket");
                    assert_eq!(now(), start);
                });
            });
        },
    );
}

/// A task woken from another thread while the run waits (nothing runnable, no timer pending)
/// runs at once: the deadlock grace ends at the wake, and the run goes on. The wake comes once
/// the run's thread sleeps.
#[test]
fn a_task_woken_from_another_thread_while_the_run_waits_runs() {
    watchdog(60, || {
        let me = os_thread_id();
        let (tx, rx) = futures::channel::oneshot::channel::<u8>();
        let sender = std::thread::spawn(move || {
            wait_until_blocked(me);
            tx.send(5).unwrap();
        });
        let got = wisp::test::Builder::new()
            .deadlock_grace(Duration::from_secs(20))
            .block_on(async { wisp::spawn(rx).await });
        assert_eq!(got, Ok(5));
        sender.join().unwrap();
    });
}

/// A `timeout` of zero elapses at its first poll: no timer, not even one due at once.
#[test]
fn a_zero_timeout_elapses_at_its_first_poll() {
    watchdog(30, || {
        wisp::test::block_on(async {
            let start = now();
            let mut t = Timeout::new(Duration::ZERO, std::future::pending::<()>());
            let first = std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut t).poll(cx))).await;
            assert!(
                matches!(first, Poll::Ready(Err(Elapsed { .. }))),
                "{first:?}"
            );
            assert_eq!(now(), start);
        });
    });
}

/// `MissedTick::Delay` shifts the schedule only when a tick is later than the next one is due:
/// a task late by exactly one period gets the missed tick at once and the next one on time.
#[test]
fn a_delay_interval_late_by_exactly_one_period_keeps_its_schedule() {
    watchdog(30, || {
        wisp::test::block_on(async {
            let period = Duration::from_secs(10);
            let mut every = interval(period);
            every.set_missed_tick(wisp::time::MissedTick::Delay);
            let t0 = every.tick().await;
            sleep(2 * period).await;
            assert_eq!(every.tick().await, t0 + period);
            assert_eq!(every.tick().await, t0 + 2 * period);
            assert_eq!(now() - t0, 2 * period);
            assert_eq!(every.tick().await, t0 + 3 * period);
        });
    });
}
