//! A foreign `block_on` (pollster, futures-executor) inside wisp: sync wrappers around async
//! code, called from a wisp task or from the future given to `wisp::block_on`. The executor's
//! thread is held by the foreign executor, so it cannot drive the reactor; the reactor's helper
//! thread must.
//!
//! Each test runs in a child process of its own: the helper thread is process-wide, and one
//! test's wait must not be driven thanks to another's.

mod common;

use std::future::Future;
use std::io::Write;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use common::{in_child_process, watchdog};
use wisp::time::sleep;

const SHORT: Duration = Duration::from_millis(50);

#[test]
fn pollster_block_on_a_sleep_in_the_block_on_future_completes() {
    in_child_process(
        "pollster_block_on_a_sleep_in_the_block_on_future_completes",
        || {
            let waited = watchdog(20, || {
                wisp::block_on(async {
                    let start = Instant::now();
                    pollster::block_on(sleep(SHORT));
                    start.elapsed()
                })
            });
            assert!(waited >= SHORT);
        },
    );
}

#[test]
fn futures_block_on_a_sleep_in_a_task_completes() {
    in_child_process("futures_block_on_a_sleep_in_a_task_completes", || {
        let waited = watchdog(20, || {
            wisp::block_on(async {
                wisp::spawn(async {
                    let start = Instant::now();
                    futures::executor::block_on(sleep(SHORT));
                    start.elapsed()
                })
                .await
            })
        });
        assert!(waited >= SHORT);
    });
}

#[test]
fn pollster_block_on_a_tcp_read_in_a_task_completes() {
    in_child_process("pollster_block_on_a_tcp_read_in_a_task_completes", || {
        let got = watchdog(20, || {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let peer = std::thread::spawn(move || {
                let (mut stream, _) = listener.accept().unwrap();
                std::thread::sleep(SHORT);
                stream.write_all(b"late").unwrap();
            });
            let got = wisp::block_on(async move {
                let stream = wisp::net::TcpStream::connect(addr).await.unwrap();
                wisp::spawn(async move {
                    let mut buf = [0u8; 4];
                    pollster::block_on(stream.read_exact(&mut buf)).unwrap();
                    buf
                })
                .await
            });
            peer.join().unwrap();
            got
        });
        assert_eq!(&got, b"late");
    });
}

#[test]
fn a_sleep_started_by_a_task_and_finished_in_pollster_completes() {
    in_child_process(
        "a_sleep_started_by_a_task_and_finished_in_pollster_completes",
        || {
            watchdog(20, || {
                wisp::block_on(async {
                    wisp::spawn(async {
                        let mut s = std::pin::pin!(sleep(SHORT));
                        // Registered with the task's own waker first...
                        let first = std::future::poll_fn(|cx| {
                            std::task::Poll::Ready(s.as_mut().poll(cx).is_pending())
                        })
                        .await;
                        assert!(first);
                        // ...then waited for under pollster's.
                        pollster::block_on(s);
                    })
                    .await
                })
            });
        },
    );
}

#[test]
fn pollster_block_on_a_join_all_of_sleeps_in_a_task_completes() {
    in_child_process(
        "pollster_block_on_a_join_all_of_sleeps_in_a_task_completes",
        || {
            let out = watchdog(20, || {
                wisp::block_on(async {
                    wisp::spawn(async {
                        pollster::block_on(wisp::join_all((1..=3u64).map(|i| async move {
                            sleep(Duration::from_millis(10 * i)).await;
                            i
                        })))
                    })
                    .await
                })
            });
            assert_eq!(out, [1, 2, 3]);
        },
    );
}

#[test]
fn other_tasks_and_timers_go_on_after_a_foreign_block_on() {
    in_child_process(
        "other_tasks_and_timers_go_on_after_a_foreign_block_on",
        || {
            watchdog(20, || {
                wisp::block_on(async {
                    let ticker = wisp::spawn(async {
                        for _ in 0..5 {
                            sleep(Duration::from_millis(5)).await;
                        }
                    });
                    pollster::block_on(sleep(SHORT));
                    // The executor drives again: its own timers fire after the foreign wait.
                    ticker.await;
                    sleep(Duration::from_millis(5)).await;
                });
            });
        },
    );
}

/// Names of this process's threads.
fn thread_names() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .expect("read /proc/self/task")
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("comm")).ok())
        .map(|name| name.trim().to_string())
        .collect()
}

#[test]
fn wisp_alone_starts_no_helper_thread() {
    in_child_process("wisp_alone_starts_no_helper_thread", || {
        watchdog(20, || {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let peer = std::thread::spawn(move || {
                let (mut stream, _) = listener.accept().unwrap();
                std::thread::sleep(Duration::from_millis(10));
                stream.write_all(b"hi").unwrap();
            });
            wisp::block_on(async move {
                // Timers and a socket, awaited directly, in tasks, and under join_all, race
                // and timeout: every registration is made through a waker that leads back to
                // the executor, which drives the reactor itself.
                sleep(Duration::from_millis(5)).await;
                let sleeps = wisp::join_all((1..=3u64).map(|i| sleep(Duration::from_millis(i))));
                wisp::spawn(sleeps).await;
                let stream = wisp::net::TcpStream::connect(addr).await.unwrap();
                let mut buf = [0u8; 2];
                let read = wisp::race(async { Some(stream.read_exact(&mut buf).await) }, async {
                    sleep(Duration::from_secs(10)).await;
                    None
                });
                let read = wisp::time::timeout(Duration::from_secs(10), read).await;
                assert!(matches!(read, Ok(Some(Ok(())))));
            });
            peer.join().unwrap();
        });
        let names = thread_names();
        assert!(
            !names.iter().any(|n| n == "wisp-reactor"),
            "a helper thread was started: {names:?}"
        );
    });
}

/// Once the foreign wait is over, the helper thread lets go of the reactor: the idle executor
/// drives it itself again (asleep in `epoll_wait`, not parked while the helper drives, which
/// would send every wake-up of its own across threads). Read from the kernel's record of where
/// a thread sleeps (`/proc/.../wchan`), polled until it holds or 10 s pass.
///
/// The foreign wait ends while the helper still waits in the poller (for the hour of the
/// foreign future's timer): a message from another thread ends it, sent once the helper is seen
/// there. So the helper is asked to let go by the executor that goes idle, and only by it.
#[test]
fn after_a_foreign_block_on_the_executor_drives_the_reactor_again() {
    in_child_process(
        "after_a_foreign_block_on_the_executor_drives_the_reactor_again",
        || {
            watchdog(30, || {
                let me = common::os_thread_id();
                let (over_tx, over_rx) = std::sync::mpsc::channel::<()>();
                let (seen_tx, seen_rx) = futures::channel::oneshot::channel::<(String, String)>();
                let (end_tx, end_rx) = futures::channel::oneshot::channel::<()>();
                let checker = std::thread::spawn(move || {
                    let helper = loop {
                        if let Some(&tid) = common::threads_named("wisp-reactor").first() {
                            break tid;
                        }
                        std::thread::sleep(Duration::from_millis(1));
                    };
                    let helper_in_poller = in_poller_within(helper, Duration::from_secs(10));
                    end_tx.send(()).unwrap();
                    over_rx.recv().unwrap();
                    let executor_in_poller = in_poller_within(me, Duration::from_secs(10));
                    seen_tx
                        .send((helper_in_poller, executor_in_poller))
                        .unwrap();
                });
                let (helper, wchan) = wisp::block_on(async {
                    wisp::spawn(async {
                        pollster::block_on(wisp::race(sleep(Duration::from_secs(3600)), async {
                            end_rx.await.unwrap()
                        }))
                    })
                    .await;
                    over_tx.send(()).unwrap();
                    // Idle, with nothing of its own in the reactor, until the checker answers.
                    seen_rx.await.unwrap()
                });
                checker.join().unwrap();
                assert!(
                    is_poller(&helper),
                    "the helper never drove the foreign wait: asleep in {helper:?}"
                );
                assert!(
                    is_poller(&wchan),
                    "the idle executor did not drive the reactor again: asleep in {wchan:?}"
                );
            });
        },
    );
}

/// Whether a thread's `wchan` is the poller's wait.
fn is_poller(wchan: &str) -> bool {
    wchan.contains("epoll") || wchan.contains("ep_poll")
}

/// Polls where the thread `tid` sleeps until it is the poller's wait or `limit` passes; returns
/// the last `wchan` read.
fn in_poller_within(tid: i32, limit: Duration) -> String {
    let path = format!("/proc/self/task/{tid}/wchan");
    let start = Instant::now();
    loop {
        let wchan = std::fs::read_to_string(&path).unwrap_or_default();
        if is_poller(&wchan) || start.elapsed() > limit {
            return wchan;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// A thread that ran a wisp `block_on` and returned from it is a foreign thread again: a
/// foreign `block_on` there is driven by the helper thread (no executor will drive for it).
#[test]
fn a_foreign_block_on_after_a_wisp_block_on_on_the_same_thread_completes() {
    in_child_process(
        "a_foreign_block_on_after_a_wisp_block_on_on_the_same_thread_completes",
        || {
            watchdog(20, || {
                wisp::block_on(async {});
                let start = Instant::now();
                pollster::block_on(sleep(SHORT));
                assert!(start.elapsed() >= SHORT);
            });
        },
    );
}
