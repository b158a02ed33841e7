//! Integration tests of wisp's executor, tasks and combinators, through the public API only.

mod common;

use std::cell::{Cell, RefCell};
use std::future::{Future, pending, poll_fn};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use common::{
    in_child_process, os_thread_id, panic_text, thread_cpu_time, wait_until_blocked,
    wait_until_blocked_or_gone, watchdog,
};
use futures::FutureExt;
use futures::channel::oneshot;
use futures::task::AtomicWaker;
use wisp::time::sleep;
use wisp::{Executor, Task, block_on, join, join_all, race, spawn, yield_now};

/// Sets a flag (and records the dropping thread) when dropped: proves a future's destructor ran.
struct DropGuard {
    dropped: Arc<AtomicBool>,
    thread: Arc<Mutex<Option<ThreadId>>>,
}

impl DropGuard {
    fn new() -> (DropGuard, Arc<AtomicBool>, Arc<Mutex<Option<ThreadId>>>) {
        let dropped = Arc::new(AtomicBool::new(false));
        let thread = Arc::new(Mutex::new(None));
        (
            DropGuard {
                dropped: dropped.clone(),
                thread: thread.clone(),
            },
            dropped,
            thread,
        )
    }
}

impl Drop for DropGuard {
    fn drop(&mut self) {
        *self.thread.lock().unwrap() = Some(thread::current().id());
        self.dropped.store(true, Ordering::SeqCst);
    }
}

/// Yields until `cond` holds, at most `max` times; returns whether it held.
async fn yield_until(max: usize, cond: impl Fn() -> bool) -> bool {
    for _ in 0..max {
        if cond() {
            return true;
        }
        yield_now().await;
    }
    cond()
}

// ---------------------------------------------------------------------------------------------
// block_on and spawn

#[test]
fn block_on_returns_the_value() {
    assert_eq!(block_on(async { 40 + 2 }), 42);
    let s = block_on(async {
        yield_now().await;
        String::from("hello")
    });
    assert_eq!(s, "hello");
}

#[test]
fn spawn_and_await() {
    let out = watchdog(10, || {
        block_on(async {
            let a = spawn(async { 1 });
            let b = spawn(async {
                yield_now().await;
                2
            });
            let c = spawn(async {
                sleep(Duration::from_millis(5)).await;
                3
            });
            a.await + b.await + c.await
        })
    });
    assert_eq!(out, 6);
}

#[test]
fn spawn_outside_block_on_panics_with_a_message() {
    let result = catch_unwind(|| {
        let _task = spawn(async { 1 });
    });
    let payload = result.expect_err("wisp::spawn outside block_on must panic");
    let text = panic_text(payload.as_ref());
    assert!(
        text.contains("block_on") || text.contains("Executor"),
        "the panic should say where to call spawn from, got: {text:?}"
    );
}

#[test]
fn nested_block_on_inside_a_task_panics_with_a_message() {
    let text = watchdog(10, || {
        block_on(async {
            let task = spawn(async {
                let result = catch_unwind(|| block_on(async { 1 }));
                let payload = result.expect_err("a nested block_on must panic");
                panic_text(payload.as_ref())
            });
            let text = task.await;
            // The outer executor is intact: it still runs tasks.
            assert_eq!(spawn(async { 5 }).await, 5);
            text
        })
    });
    assert!(
        text.contains("block_on") && (text.contains("deadlock") || text.contains("block")),
        "the panic should explain why nesting is refused, got: {text:?}"
    );
    // The thread state was restored: block_on works again on a fresh thread-local state.
    assert_eq!(block_on(async { 7 }), 7);
}

#[test]
fn nested_block_on_in_the_main_future_panics() {
    let result = watchdog(10, || {
        block_on(async { catch_unwind(|| block_on(async { 1 })).is_err() })
    });
    assert!(result, "block_on inside block_on's own future must panic");
}

// ---------------------------------------------------------------------------------------------
// Task handles: drop, detach, cancel, is_finished

#[test]
fn dropping_a_task_cancels_it_and_runs_its_destructor_on_the_executor_thread() {
    watchdog(10, || {
        block_on(async {
            let me = thread::current().id();
            // Started (polled once) before it is dropped.
            let (guard, dropped, by) = DropGuard::new();
            let polled = Rc::new(Cell::new(false));
            let p = polled.clone();
            let task = spawn(async move {
                let _guard = guard;
                p.set(true);
                pending::<()>().await;
            });
            assert!(
                yield_until(10, || polled.get()).await,
                "the task never started"
            );
            assert!(!dropped.load(Ordering::SeqCst));
            drop(task);
            assert!(
                yield_until(10, || dropped.load(Ordering::SeqCst)).await,
                "dropping the Task did not drop its future"
            );
            assert_eq!(*by.lock().unwrap(), Some(me));

            // Never polled at all: its captured state is still dropped.
            let (guard, dropped, _) = DropGuard::new();
            let ran = Rc::new(Cell::new(false));
            let r = ran.clone();
            drop(spawn(async move {
                let _guard = guard;
                r.set(true);
            }));
            assert!(yield_until(10, || dropped.load(Ordering::SeqCst)).await);
            assert!(
                !ran.get(),
                "a task cancelled before its first poll must not run"
            );
        })
    });
}

#[test]
fn dropping_a_task_on_another_thread_drops_the_future_on_the_executor_thread() {
    watchdog(10, || {
        let ex = Executor::new();
        let me = thread::current().id();
        let (guard, dropped, by) = DropGuard::new();
        /// Tells the block_on future when (and on which thread) the task's future was dropped.
        struct SendOnDrop(Option<oneshot::Sender<ThreadId>>);
        impl Drop for SendOnDrop {
            fn drop(&mut self) {
                let _ = self.0.take().unwrap().send(thread::current().id());
            }
        }
        let (tx, rx) = oneshot::channel();
        let task: Task<()> = ex.spawn(async move {
            let _guard = guard;
            let _tell = SendOnDrop(Some(tx));
            pending::<()>().await;
        });
        let tid = os_thread_id();
        let dropped_on = ex.block_on(async {
            yield_now().await;
            // Send the handle away and drop it there once this executor sleeps: the only way
            // it learns of the cancellation is the wake from that thread.
            let t = thread::spawn(move || {
                wait_until_blocked(tid);
                drop(task);
            });
            let dropped_on = rx.await.expect("the future was dropped");
            t.join().unwrap();
            dropped_on
        });
        assert!(dropped.load(Ordering::SeqCst));
        assert_eq!(dropped_on, me);
        assert_eq!(*by.lock().unwrap(), Some(me));
    });
}

#[test]
fn detach_keeps_running_to_completion() {
    watchdog(10, || {
        block_on(async {
            let done = Rc::new(Cell::new(false));
            let d = done.clone();
            spawn(async move {
                for _ in 0..20 {
                    yield_now().await;
                }
                sleep(Duration::from_millis(5)).await;
                d.set(true);
            })
            .detach();
            while !done.get() {
                sleep(Duration::from_millis(1)).await;
            }
        })
    });
}

#[test]
fn cancel_returns_the_output_if_finished_else_none() {
    watchdog(10, || {
        block_on(async {
            let task = spawn(async { 5 });
            assert!(!task.is_finished(), "not polled yet");
            assert!(yield_until(10, || task.is_finished()).await);
            assert_eq!(task.cancel().await, Some(5));

            let (guard, dropped, _) = DropGuard::new();
            let task = spawn(async move {
                let _guard = guard;
                pending::<u32>().await
            });
            yield_now().await;
            assert!(!task.is_finished());
            assert_eq!(task.cancel().await, None);
            // cancel() waits for the future to be gone.
            assert!(
                dropped.load(Ordering::SeqCst),
                "cancel().await returned before the drop"
            );
        })
    });
}

#[test]
fn cancel_of_a_task_that_was_never_polled_returns_none() {
    watchdog(10, || {
        block_on(async {
            let (guard, dropped, _) = DropGuard::new();
            let task = spawn(async move {
                let _guard = guard;
                pending::<()>().await
            });
            // Cancelled before the executor ever polled it: its future is dropped unstarted.
            assert_eq!(task.cancel().await, None);
            assert!(
                dropped.load(Ordering::SeqCst),
                "the unstarted future was not dropped"
            );
        });
        // The same through a Spawner: the task is cancelled before its executor adopts it.
        let ex = Executor::new();
        let task = ex.spawner().spawn(pending::<()>());
        assert_eq!(ex.block_on(task.cancel()), None);
        // And one whose executor is dropped before it ever ran.
        let ex = Executor::new();
        let task = ex.spawner().spawn(pending::<()>());
        drop(ex);
        assert_eq!(pollster::block_on(task.cancel()), None);
    });
}

#[test]
fn is_finished_reports_completion() {
    let ex = Executor::new();
    let flag = Rc::new(Cell::new(false));
    let f = flag.clone();
    let task = ex.spawn(poll_fn(move |cx| {
        if f.get() {
            Poll::Ready(1)
        } else {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }));
    assert!(!task.is_finished());
    assert!(ex.try_tick());
    assert!(!task.is_finished());
    flag.set(true);
    assert!(ex.try_tick());
    assert!(task.is_finished());
    assert_eq!(ex.block_on(task), 1);
}

// ---------------------------------------------------------------------------------------------
// Panics

#[test]
fn a_panicking_task_does_not_take_down_the_executor_and_resumes_in_the_awaiter() {
    watchdog(10, || {
        block_on(async {
            let bad = spawn(async {
                yield_now().await;
                panic!("boom in a task");
            });
            let good = spawn(async {
                for _ in 0..5 {
                    yield_now().await;
                }
                7
            });
            assert_eq!(good.await, 7);
            let out = AssertUnwindSafe(bad).catch_unwind().await;
            let payload = out.expect_err("awaiting a panicked task must resume the panic");
            assert_eq!(panic_text(payload.as_ref()), "boom in a task");
            // Still running tasks after that.
            assert_eq!(spawn(async { 8 }).await, 8);
        })
    });
}

#[test]
fn awaiting_a_panicked_task_in_block_on_resumes_the_panic_and_leaves_the_thread_usable() {
    watchdog(10, || {
        let result = catch_unwind(|| {
            block_on(async {
                let t = spawn(async {
                    panic!("payload-1234");
                });
                t.await;
            })
        });
        let payload = result.expect_err("block_on must resume the task's panic");
        assert_eq!(panic_text(payload.as_ref()), "payload-1234");
        // The unwinding block_on cleaned up its thread-local state: no "nested block_on" panic.
        assert_eq!(block_on(async { spawn(async { 3 }).await }), 3);
    });
}

#[test]
fn a_detached_panicking_task_does_not_stop_the_others() {
    watchdog(10, || {
        block_on(async {
            spawn(async { panic!("detached boom (expected in this test)") }).detach();
            let t = spawn(async {
                yield_now().await;
                panic!("detached boom after a yield (expected in this test)")
            });
            t.detach();
            let others: Vec<_> = (0..10)
                .map(|i| {
                    spawn(async move {
                        yield_now().await;
                        yield_now().await;
                        i
                    })
                })
                .collect();
            let out = join_all(others).await;
            assert_eq!(out, (0..10).collect::<Vec<_>>());
        })
    });
}

#[test]
fn a_detached_task_panic_is_reported_on_stderr_with_its_message() {
    let Some(stderr) = common::stderr_of_child_process(
        "a_detached_task_panic_is_reported_on_stderr_with_its_message",
        || {
            block_on(async {
                // Detached before it panics, with a `String` payload.
                spawn(async { panic!("{}-{}", "late", 1) }).detach();
                // Panicked (a `&str` payload) before it is detached.
                let early = spawn(async { panic!("early-2") });
                yield_until(10, || early.is_finished()).await;
                early.detach();
                // A payload that is no string.
                spawn(async { std::panic::panic_any(3u8) }).detach();
                yield_now().await;
                yield_now().await;
            });
        },
    ) else {
        return;
    };
    assert!(
        stderr.contains("wisp: a detached task panicked: late-1; the executor carries on"),
        "{stderr}"
    );
    assert!(
        stderr.contains("wisp: a detached task panicked: early-2\n"),
        "{stderr}"
    );
    assert!(
        stderr.contains("wisp: a detached task panicked: (a non-string panic payload)"),
        "{stderr}"
    );
}

/// Counts the wakes it gets.
#[derive(Default)]
struct CountingWaker(AtomicUsize);

impl std::task::Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn a_task_handle_polled_with_a_new_waker_wakes_that_one() {
    // The handle moves from one awaiter to another (as inside a `race` that is re-polled by
    // another task): the outcome must wake the waker of the latest poll.
    let ex = Executor::new();
    let go = Rc::new(Cell::new(false));
    let g = go.clone();
    let mut task = ex.spawn(poll_fn(move |cx| {
        if g.get() {
            Poll::Ready(5)
        } else {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }));
    let (first, second) = (
        Arc::new(CountingWaker::default()),
        Arc::new(CountingWaker::default()),
    );
    let poll_with = |task: &mut Task<u32>, waker: &Arc<CountingWaker>| {
        let waker = Waker::from(waker.clone());
        std::pin::Pin::new(task).poll(&mut std::task::Context::from_waker(&waker))
    };
    assert!(poll_with(&mut task, &first).is_pending());
    assert!(poll_with(&mut task, &second).is_pending());
    go.set(true);
    while ex.try_tick() {}
    assert_eq!(
        second.0.load(Ordering::SeqCst),
        1,
        "the latest waker was not woken"
    );
    assert_eq!(
        first.0.load(Ordering::SeqCst),
        0,
        "a replaced waker was woken"
    );
    assert_eq!(poll_with(&mut task, &second), Poll::Ready(5));
}

#[test]
fn a_join_all_polled_with_a_new_waker_wakes_that_one() {
    // A `JoinAll` moved from one awaiter to another: a child's wake must reach the waker of
    // the latest poll, not the first one.
    let go = Arc::new(AtomicBool::new(false));
    let child_waker: Arc<Mutex<Option<Waker>>> = Arc::default();
    let (g, w) = (go.clone(), child_waker.clone());
    let mut all = join_all([poll_fn(move |cx| {
        if g.load(Ordering::SeqCst) {
            Poll::Ready(7)
        } else {
            *w.lock().unwrap() = Some(cx.waker().clone());
            Poll::Pending
        }
    })]);
    let (first, second) = (
        Arc::new(CountingWaker::default()),
        Arc::new(CountingWaker::default()),
    );
    let mut poll_with = |waker: &Arc<CountingWaker>| {
        let waker = Waker::from(waker.clone());
        std::pin::Pin::new(&mut all).poll(&mut std::task::Context::from_waker(&waker))
    };
    assert!(poll_with(&first).is_pending());
    assert!(poll_with(&second).is_pending());
    go.store(true, Ordering::SeqCst);
    child_waker
        .lock()
        .unwrap()
        .take()
        .expect("the child waits")
        .wake();
    assert_eq!(
        second.0.load(Ordering::SeqCst),
        1,
        "the latest waker was not woken"
    );
    assert_eq!(
        first.0.load(Ordering::SeqCst),
        0,
        "a replaced waker was woken"
    );
    assert_eq!(poll_with(&second), Poll::Ready(vec![7]));
}

#[test]
fn a_task_handle_debug_says_whether_it_finished() {
    let ex = Executor::new();
    let task = ex.spawn(async { 1 });
    assert_eq!(format!("{task:?}"), "Task { finished: false }");
    assert!(ex.try_tick());
    assert_eq!(format!("{task:?}"), "Task { finished: true }");
    assert_eq!(ex.block_on(task), 1);
}

/// A future that never completes and panics when it is dropped.
struct PanicsOnDrop(&'static str);

impl Future for PanicsOnDrop {
    type Output = ();
    fn poll(self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>) -> Poll<()> {
        Poll::Pending
    }
}

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        panic!("{}", self.0);
    }
}

/// A task handed to an executor that is gone is dropped at once, on the spawner's thread; if
/// its future's destructor panics, that panic is the task's outcome (not a plain cancel), and
/// the spawner's caller does not unwind.
#[test]
fn a_task_spawned_onto_a_dropped_executor_reports_its_destructors_panic() {
    watchdog(10, || {
        let ex = Executor::new();
        let spawner = ex.spawner();
        drop(ex);
        let task = spawner.spawn(PanicsOnDrop(
            "drop panic of a task nobody adopts (expected)",
        ));
        assert!(task.is_finished());
        let payload = catch_unwind(AssertUnwindSafe(|| pollster::block_on(task)))
            .expect_err("the destructor's panic is the task's");
        let text = panic_text(payload.as_ref());
        assert!(text.contains("nobody adopts"), "{text:?}");
        // A future that drops quietly is a plain cancel.
        assert_eq!(
            pollster::block_on(spawner.spawn(async { 1 }).cancel()),
            None
        );
    });
}

#[test]
fn a_task_whose_future_panics_when_cancelled_does_not_unwind_block_on() {
    watchdog(10, || {
        let out = block_on(async {
            let task = spawn(PanicsOnDrop("drop panic of a cancelled task (expected)"));
            yield_now().await;
            drop(task);
            // The executor drops the future on its next pass; it must carry on after that.
            yield_now().await;
            yield_now().await;
            spawn(async { 4 }).await
        });
        assert_eq!(out, 4);
    });
}

#[test]
fn cancel_await_resumes_the_panic_of_a_future_that_panics_when_dropped() {
    watchdog(10, || {
        block_on(async {
            // Started, then cancelled.
            let task = spawn(PanicsOnDrop("drop panic after a poll"));
            yield_now().await;
            let out = AssertUnwindSafe(task.cancel()).catch_unwind().await;
            let payload = out.expect_err("the drop panic goes to the awaiter of cancel()");
            assert_eq!(panic_text(payload.as_ref()), "drop panic after a poll");
            // Cancelled before it was ever polled.
            let task = spawn(PanicsOnDrop("drop panic, never polled"));
            let out = AssertUnwindSafe(task.cancel()).catch_unwind().await;
            let payload = out.expect_err("the drop panic goes to the awaiter of cancel()");
            assert_eq!(panic_text(payload.as_ref()), "drop panic, never polled");
            assert_eq!(spawn(async { 5 }).await, 5);
        });
    });
}

#[test]
fn a_future_that_panics_when_dropped_after_completing_panics_in_the_awaiter() {
    /// Ready at once; panics when dropped.
    struct ReadyThenPanics;
    impl Future for ReadyThenPanics {
        type Output = u8;
        fn poll(self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>) -> Poll<u8> {
            Poll::Ready(1)
        }
    }
    impl Drop for ReadyThenPanics {
        fn drop(&mut self) {
            panic!("drop panic after Ready");
        }
    }
    watchdog(10, || {
        block_on(async {
            let out = AssertUnwindSafe(spawn(ReadyThenPanics))
                .catch_unwind()
                .await;
            let payload = out.expect_err("the destructor's panic is the task's outcome");
            assert_eq!(panic_text(payload.as_ref()), "drop panic after Ready");
        });
    });
}

#[test]
fn an_executor_dropped_with_two_tasks_that_panic_in_drop_does_not_abort() {
    // In a child process: an abort cannot be observed in-process.
    in_child_process(
        "an_executor_dropped_with_two_tasks_that_panic_in_drop_does_not_abort",
        || {
            let ex = Executor::new();
            let a = ex.spawn(PanicsOnDrop("first drop panic (expected)"));
            let b = ex.spawn(PanicsOnDrop("second drop panic (expected)"));
            let c = ex.spawn(PanicsOnDrop("third drop panic, never polled (expected)"));
            assert!(ex.try_tick() && ex.try_tick());
            ex.spawn(PanicsOnDrop("a detached one (expected)")).detach();
            drop(ex);
            for task in [a, b, c] {
                assert!(task.is_finished());
                let out = catch_unwind(AssertUnwindSafe(|| pollster::block_on(task.cancel())));
                assert!(out.is_err(), "the drop panic goes to the task's awaiter");
            }
        },
    );
}

// ---------------------------------------------------------------------------------------------
// Wake-ups

/// Wakes itself during its first poll and returns Pending; Ready on the next poll.
fn self_waking() -> impl Future<Output = u32> {
    let mut first = true;
    poll_fn(move |cx| {
        if first {
            first = false;
            cx.waker().wake_by_ref();
            Poll::Pending
        } else {
            Poll::Ready(9)
        }
    })
}

#[test]
fn a_wake_during_poll_is_not_lost() {
    // As a task, observed with try_tick: the self-wake re-queues it.
    let ex = Executor::new();
    let task = ex.spawn(self_waking());
    assert!(ex.try_tick(), "first poll");
    assert!(!task.is_finished());
    assert!(
        ex.try_tick(),
        "the wake during the first poll must queue the task again"
    );
    assert!(task.is_finished());
    assert!(!ex.try_tick());
    assert_eq!(ex.block_on(task), 9);

    // As a task and as the main future of block_on (a lost wake would hang: watchdog).
    let out = watchdog(10, || {
        block_on(async { spawn(self_waking()).await + self_waking().await })
    });
    assert_eq!(out, 18);

    // Woken from another thread during its poll.
    let out = watchdog(10, || {
        block_on(async {
            let mut first = true;
            poll_fn(move |cx| {
                if first {
                    first = false;
                    let w = cx.waker().clone();
                    thread::spawn(move || w.wake()).join().unwrap();
                    Poll::Pending
                } else {
                    Poll::Ready(1)
                }
            })
            .await
        })
    });
    assert_eq!(out, 1);
}

/// A pending future that counts its polls and publishes its waker; Ready once `go` is set.
fn counted(
    polls: Rc<Cell<usize>>,
    waker: Rc<RefCell<Option<Waker>>>,
    go: Rc<Cell<bool>>,
) -> impl Future<Output = ()> {
    poll_fn(move |cx| {
        polls.set(polls.get() + 1);
        *waker.borrow_mut() = Some(cx.waker().clone());
        if go.get() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
}

#[test]
fn duplicate_wakes_queue_the_task_once() {
    let ex = Executor::new();
    let polls = Rc::new(Cell::new(0));
    let waker = Rc::new(RefCell::new(None));
    let go = Rc::new(Cell::new(false));
    let task = ex.spawn(counted(polls.clone(), waker.clone(), go.clone()));
    assert!(ex.try_tick());
    assert!(!ex.try_tick());
    assert_eq!(polls.get(), 1);

    let w = waker.borrow().clone().unwrap();
    for _ in 0..100 {
        w.wake_by_ref();
    }
    assert!(ex.try_tick(), "woken: must be polled");
    assert!(!ex.try_tick(), "100 wakes must queue the task only once");
    assert_eq!(polls.get(), 2);

    // The same from other threads.
    let w2 = w.clone();
    thread::spawn(move || {
        for _ in 0..100 {
            w2.wake_by_ref();
        }
        w2.wake();
    })
    .join()
    .unwrap();
    assert!(ex.try_tick());
    assert!(!ex.try_tick());
    assert_eq!(polls.get(), 3);

    go.set(true);
    w.wake();
    assert!(ex.try_tick());
    assert!(task.is_finished());
    assert_eq!(polls.get(), 4);
}

#[test]
fn waking_a_finished_or_cancelled_task_does_nothing() {
    let ex = Executor::new();

    // Finished.
    let polls = Rc::new(Cell::new(0));
    let waker = Rc::new(RefCell::new(None));
    let go = Rc::new(Cell::new(true));
    let task = ex.spawn(counted(polls.clone(), waker.clone(), go));
    assert!(ex.try_tick());
    assert!(task.is_finished());
    let stale = waker.borrow().clone().unwrap();
    for _ in 0..10 {
        stale.wake_by_ref();
    }
    assert!(
        !ex.try_tick(),
        "a finished task must not be queued by a wake"
    );
    assert_eq!(polls.get(), 1);
    ex.block_on(task);

    // Cancelled.
    let polls = Rc::new(Cell::new(0));
    let waker = Rc::new(RefCell::new(None));
    let task = ex.spawn(counted(
        polls.clone(),
        waker.clone(),
        Rc::new(Cell::new(false)),
    ));
    assert!(ex.try_tick());
    let stale = waker.borrow().clone().unwrap();
    drop(task);
    assert!(
        ex.try_tick(),
        "the cancelled task is dropped by the executor"
    );
    assert!(!ex.try_tick());

    // A new task probably takes the freed slot: the stale waker must not wake it.
    let polls2 = Rc::new(Cell::new(0));
    let waker2 = Rc::new(RefCell::new(None));
    let task2 = ex.spawn(counted(polls2.clone(), waker2, Rc::new(Cell::new(false))));
    assert!(ex.try_tick());
    assert_eq!(polls2.get(), 1);
    for _ in 0..10 {
        stale.wake_by_ref();
    }
    stale.wake();
    assert!(!ex.try_tick(), "a stale waker must not queue anything");
    assert_eq!(polls.get(), 1);
    assert_eq!(
        polls2.get(),
        1,
        "a stale waker woke the task that reused the slot"
    );
    drop(task2);
}

#[test]
fn will_wake_holds_for_clones_and_across_polls() {
    let ex = Executor::new();
    let first: Rc<RefCell<Option<Waker>>> = Rc::default();
    let results: Rc<RefCell<Vec<bool>>> = Rc::default();
    let (f, r) = (first.clone(), results.clone());
    let mut n = 0;
    let task = ex.spawn(poll_fn(move |cx| {
        let clone = cx.waker().clone();
        r.borrow_mut().push(clone.will_wake(cx.waker()));
        if let Some(w) = &*f.borrow() {
            r.borrow_mut().push(w.will_wake(cx.waker()));
        }
        f.borrow_mut().get_or_insert(clone);
        n += 1;
        if n == 3 {
            Poll::Ready(())
        } else {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }));
    while ex.try_tick() {}
    assert!(task.is_finished());
    assert_eq!(*results.borrow(), vec![true; 5]);
}

/// Four threads each add `per_thread` to a counter, waking the waiter after every increment.
fn cross_thread_wakes(as_task: bool) {
    const THREADS: usize = 4;
    const PER_THREAD: usize = 100_000;
    let count = Arc::new(AtomicUsize::new(0));
    let waker = Arc::new(AtomicWaker::new());
    let polls = Arc::new(AtomicUsize::new(0));
    let wait = {
        let (count, waker, polls) = (count.clone(), waker.clone(), polls.clone());
        poll_fn(move |cx| {
            polls.fetch_add(1, Ordering::Relaxed);
            waker.register(cx.waker());
            let seen = count.load(Ordering::SeqCst);
            if seen >= THREADS * PER_THREAD {
                Poll::Ready(seen)
            } else {
                Poll::Pending
            }
        })
    };
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let (count, waker) = (count.clone(), waker.clone());
            thread::spawn(move || {
                for _ in 0..PER_THREAD {
                    count.fetch_add(1, Ordering::SeqCst);
                    waker.wake();
                }
            })
        })
        .collect();
    // The real check is that this returns at all (the watchdog): a lost wake-up hangs it.
    let seen = if as_task {
        block_on(async { spawn(wait).await })
    } else {
        block_on(wait)
    };
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(
        seen,
        THREADS * PER_THREAD,
        "Ready before the last increment"
    );
    // Polled only when woken: once first, then at most once per wake.
    let polls = polls.load(Ordering::Relaxed);
    assert!(
        (1..=THREADS * PER_THREAD + 1).contains(&polls),
        "{polls} polls for {} wakes",
        THREADS * PER_THREAD
    );
}

#[test]
fn cross_thread_wakes_of_a_task_are_not_lost() {
    watchdog(20, || cross_thread_wakes(true));
}

#[test]
fn cross_thread_wakes_of_the_main_future_are_not_lost() {
    watchdog(20, || cross_thread_wakes(false));
}

#[test]
fn spawner_spawns_from_other_threads_onto_a_sleeping_executor() {
    watchdog(10, || {
        let ex = Executor::new();
        let spawner = ex.spawner();
        let me = thread::current().id();
        let tid = os_thread_id();
        let (tx, mut rx) = futures::channel::mpsc::unbounded::<(usize, ThreadId)>();
        let threads: Vec<_> = (0..4)
            .map(|i| {
                let spawner = spawner.clone();
                let tx = tx.clone();
                thread::spawn(move || {
                    // The executor has fallen asleep (waiting for the first message) first.
                    wait_until_blocked(tid);
                    spawner
                        .spawn(async move {
                            yield_now().await;
                            tx.unbounded_send((i, thread::current().id())).unwrap();
                        })
                        .detach();
                })
            })
            .collect();
        drop(tx);
        let got = ex.block_on(async {
            use futures::StreamExt;
            let mut got = Vec::new();
            // Only the spawned tasks send: this future is woken by them alone.
            while let Some(msg) = rx.next().await {
                got.push(msg);
            }
            got
        });
        for t in threads {
            t.join().unwrap();
        }
        let mut ids: Vec<usize> = got.iter().map(|(i, _)| *i).collect();
        ids.sort();
        assert_eq!(ids, vec![0, 1, 2, 3]);
        for (_, thread) in got {
            assert_eq!(thread, me, "a spawned future ran off the executor's thread");
        }
    });
}

#[test]
fn spawner_task_output_is_awaitable_and_spawn_after_executor_drop_cancels() {
    watchdog(10, || {
        let ex = Executor::new();
        let spawner = ex.spawner();
        let task = thread::spawn(move || spawner.spawn(async { 11 }))
            .join()
            .unwrap();
        assert_eq!(ex.block_on(task), 11);

        let spawner = ex.spawner();
        drop(ex);
        let task = spawner.spawn(async { 12 });
        assert_eq!(pollster::block_on(task.cancel()), None);
    });
}

// ---------------------------------------------------------------------------------------------
// Rousing a sleeping executor. In a child process each: no other test's timer or socket can
// end the executor's sleep by chance, so only the rouse after the cross-thread push can.

#[test]
fn a_cross_thread_wake_rouses_an_executor_asleep_in_the_reactor() {
    in_child_process(
        "a_cross_thread_wake_rouses_an_executor_asleep_in_the_reactor",
        || {
            watchdog(20, || {
                // The only executor of the process: asleep, it drives the reactor (`IN_POLLER`).
                let me = os_thread_id();
                // The block_on future, woken from another thread.
                let (tx, rx) = oneshot::channel::<u8>();
                let t = thread::spawn(move || {
                    wait_until_blocked(me);
                    tx.send(1).unwrap();
                });
                assert_eq!(block_on(rx), Ok(1));
                t.join().unwrap();
                // A task, woken from another thread.
                let (tx, rx) = oneshot::channel::<u8>();
                let t = thread::spawn(move || {
                    wait_until_blocked(me);
                    tx.send(2).unwrap();
                });
                assert_eq!(block_on(async { spawn(rx).await }), Ok(2));
                t.join().unwrap();
                // A task handed over by a Spawner.
                let ex = Executor::new();
                let spawner = ex.spawner();
                let (tx, rx) = oneshot::channel::<u8>();
                let t = thread::spawn(move || {
                    wait_until_blocked(me);
                    spawner.spawn(async move { tx.send(3).unwrap() }).detach();
                });
                assert_eq!(ex.block_on(rx), Ok(3));
                t.join().unwrap();
            });
        },
    );
}

#[test]
fn a_cross_thread_wake_rouses_an_executor_parked_while_another_drives() {
    in_child_process(
        "a_cross_thread_wake_rouses_an_executor_parked_while_another_drives",
        || {
            watchdog(20, || {
                // Another executor with nothing to do takes the reactor first and keeps it.
                let (stop_tx, stop_rx) = oneshot::channel::<()>();
                let (tid_tx, tid_rx) = std::sync::mpsc::channel();
                let driver = thread::spawn(move || {
                    tid_tx.send(os_thread_id()).unwrap();
                    block_on(stop_rx).unwrap();
                });
                wait_until_blocked(tid_rx.recv().unwrap());
                // So this one parks (`PARKED`): only an unpark ends its sleep.
                let me = os_thread_id();
                let (tx, rx) = oneshot::channel::<u8>();
                let t = thread::spawn(move || {
                    wait_until_blocked(me);
                    tx.send(1).unwrap();
                });
                assert_eq!(block_on(async { spawn(rx).await }), Ok(1));
                t.join().unwrap();
                let (tx, rx) = oneshot::channel::<u8>();
                let t = thread::spawn(move || {
                    wait_until_blocked(me);
                    tx.send(2).unwrap();
                });
                assert_eq!(block_on(rx), Ok(2));
                t.join().unwrap();
                stop_tx.send(()).unwrap();
                driver.join().unwrap();
            });
        },
    );
}

// ---------------------------------------------------------------------------------------------
// Fairness

#[test]
fn every_ready_task_is_polled_before_any_is_polled_twice() {
    const N: usize = 7;
    const ROUNDS: usize = 20;
    let log = watchdog(10, || {
        block_on(async {
            let log: Rc<RefCell<Vec<usize>>> = Rc::default();
            let tasks: Vec<_> = (0..N)
                .map(|id| {
                    let log = log.clone();
                    spawn(async move {
                        for _ in 0..ROUNDS {
                            log.borrow_mut().push(id);
                            yield_now().await;
                        }
                    })
                })
                .collect();
            join_all(tasks).await;
            Rc::try_unwrap(log).unwrap().into_inner()
        })
    });
    assert_eq!(log.len(), N * ROUNDS);
    for (w, window) in log.chunks(N).enumerate() {
        let mut seen = window.to_vec();
        seen.sort();
        assert_eq!(
            seen,
            (0..N).collect::<Vec<_>>(),
            "round {w} is not round-robin: {log:?}"
        );
    }
}

#[test]
fn a_task_that_yields_forever_does_not_starve_a_timer() {
    watchdog(10, || {
        block_on(async {
            spawn(async {
                loop {
                    yield_now().await;
                }
            })
            .detach();
            let start = Instant::now();
            sleep(Duration::from_millis(20)).await;
            assert!(start.elapsed() >= Duration::from_millis(20));
        })
    });
}

#[test]
fn a_task_that_yields_forever_does_not_starve_other_tasks() {
    watchdog(10, || {
        block_on(async {
            for _ in 0..2 {
                spawn(async {
                    loop {
                        yield_now().await;
                    }
                })
                .detach();
            }
            let other = spawn(async {
                for _ in 0..1000 {
                    yield_now().await;
                }
                "done"
            });
            assert_eq!(other.await, "done");
            // A timer inside a task, too.
            let timed = spawn(async {
                sleep(Duration::from_millis(10)).await;
                1
            });
            assert_eq!(timed.await, 1);
        })
    });
}

/// A task that yields forever, counting its polls in `polls` once `counting` says so, and
/// stopping when `stop` is set or after `CAP` polls (so a starved waiter ends the test with a
/// count instead of a hang).
fn busy(
    counting: impl Fn() -> bool + 'static,
    polls: Rc<Cell<u32>>,
    stop: Rc<Cell<bool>>,
) -> Task<()> {
    const CAP: u32 = 200_000;
    spawn(async move {
        while !stop.get() && polls.get() < CAP {
            if counting() {
                polls.set(polls.get() + 1);
            }
            yield_now().await;
        }
    })
}

/// Far above the 64-poll budget plus the polls of one batch, far below the `CAP` of [`busy`].
const POLLS_BOUND: u32 = 1000;

#[test]
fn a_busy_task_lets_ready_io_in_within_the_poll_budget() {
    // In a child process: another test's executor driving the reactor would deliver the event.
    in_child_process(
        "a_busy_task_lets_ready_io_in_within_the_poll_budget",
        || {
            watchdog(30, || {
                block_on(async {
                    let socket = wisp::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
                    let addr = socket.local_addr().unwrap();
                    let (polls, stop, sent) = (
                        Rc::new(Cell::new(0)),
                        Rc::new(Cell::new(false)),
                        Rc::new(Cell::new(false)),
                    );
                    let s = sent.clone();
                    let task = busy(
                        move || {
                            if !s.get() {
                                // The datagram is in the socket's queue when `send_to` returns, and
                                // the first reactor turn reports it.
                                let peer = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
                                peer.send_to(b"x", addr).unwrap();
                                s.set(true);
                            }
                            true
                        },
                        polls.clone(),
                        stop.clone(),
                    );
                    // Registered before the busy task first runs (the block_on future is polled first).
                    let mut buf = [0u8; 4];
                    let (n, _) = socket.recv_from(&mut buf).await.unwrap();
                    stop.set(true);
                    let after = polls.get();
                    task.await;
                    assert_eq!(n, 1);
                    assert!(sent.get());
                    assert!(
                        after < POLLS_BOUND,
                        "a ready datagram waited {after} polls of a busy task for a reactor turn"
                    );
                    // Nor is the reactor turned after every poll (with sockets registered a
                    // turn costs syscalls): nothing else turns it here, so the datagram waits
                    // for the budget's turn, 63 polls of the busy task. Half the budget at least.
                    assert!(
                        after >= 32,
                        "the reactor had a turn after {after} polls of a busy task"
                    );
                })
            });
        },
    );
}

#[test]
fn a_busy_task_lets_a_due_timer_fire_within_the_poll_budget() {
    in_child_process(
        "a_busy_task_lets_a_due_timer_fire_within_the_poll_budget",
        || {
            watchdog(30, || {
                block_on(async {
                    let deadline = Instant::now() + Duration::from_millis(5);
                    // Past the millisecond tick the deadline rounds up to: due by then for sure.
                    let due = deadline + Duration::from_millis(2);
                    let (polls, stop) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(false)));
                    let task = busy(move || Instant::now() >= due, polls.clone(), stop.clone());
                    wisp::time::sleep_until(deadline).await;
                    stop.set(true);
                    let after = polls.get();
                    task.await;
                    assert!(Instant::now() >= deadline);
                    assert!(
                        after < POLLS_BOUND,
                        "a due timer waited {after} polls of a busy task for a reactor turn"
                    );
                })
            });
        },
    );
}

// ---------------------------------------------------------------------------------------------
// Executor

#[test]
fn try_tick_on_an_empty_executor_returns_false_without_blocking() {
    watchdog(10, || {
        let ex = Executor::new();
        let start = Instant::now();
        for _ in 0..1000 {
            assert!(!ex.try_tick());
        }
        // Blocking even once (e.g. in the reactor) would be far slower than this generous bound.
        assert!(start.elapsed() < Duration::from_secs(2));
        // A task that waits on something that never comes: still false, still no blocking.
        let task = ex.spawn(pending::<()>());
        assert!(ex.try_tick());
        assert!(!ex.try_tick());
        drop(task);
    });
}

/// `runnable` counts every queue a ready task can be in: woken on this thread and not taken yet,
/// in the batch being run, and woken from another thread.
#[test]
fn stats_count_the_ready_tasks_of_every_queue() {
    let ex = Executor::new();
    let slot: Arc<Mutex<Option<Waker>>> = Arc::default();
    let waiting = {
        let slot = slot.clone();
        ex.spawn(poll_fn(move |cx| {
            *slot.lock().unwrap() = Some(cx.waker().clone());
            Poll::<()>::Pending
        }))
    };
    assert!(ex.try_tick());
    assert_eq!((ex.stats().alive, ex.stats().runnable), (1, 0));
    // Two spawned here: on the local queue.
    let a = ex.spawn(async {});
    let b = ex.spawn(async {});
    assert_eq!((ex.stats().alive, ex.stats().runnable), (3, 2));
    // The waiting one woken from another thread: on the shared queue.
    let waker = slot.lock().unwrap().take().unwrap();
    thread::spawn(move || waker.wake()).join().unwrap();
    assert_eq!(ex.stats().runnable, 3);
    // One tick takes all three into the batch and runs one: two are left in the batch.
    assert!(ex.try_tick());
    assert_eq!((ex.stats().alive, ex.stats().runnable), (2, 2));
    drop((waiting, a, b));
}

#[test]
fn dropping_an_executor_drops_its_live_tasks_and_their_awaiters_learn_why() {
    watchdog(10, || {
        let me = thread::current().id();
        let ex = Executor::new();
        // Started: polled once, it waits.
        let (guard, started_dropped, started_by) = DropGuard::new();
        let started = ex.spawn(async move {
            let _guard = guard;
            pending::<u8>().await
        });
        assert!(ex.try_tick());
        assert!(!ex.try_tick());
        // Spawned, never polled.
        let (guard, unstarted_dropped, unstarted_by) = DropGuard::new();
        let unstarted = ex.spawn(async move {
            let _guard = guard;
            1u8
        });
        // Handed over by a Spawner, never adopted.
        let (guard, injected_dropped, _) = DropGuard::new();
        let injected = ex.spawner().spawn(async move {
            let _guard = guard;
            2u8
        });
        assert_eq!(ex.stats().alive, 2);
        for flag in [&started_dropped, &unstarted_dropped, &injected_dropped] {
            assert!(!flag.load(Ordering::SeqCst));
        }
        drop(ex);
        for flag in [&started_dropped, &unstarted_dropped, &injected_dropped] {
            assert!(
                flag.load(Ordering::SeqCst),
                "a future outlived its executor"
            );
        }
        assert_eq!(*started_by.lock().unwrap(), Some(me));
        assert_eq!(*unstarted_by.lock().unwrap(), Some(me));
        assert!(started.is_finished() && unstarted.is_finished() && injected.is_finished());
        // Awaiting one says why it will never have an output.
        let payload = catch_unwind(AssertUnwindSafe(|| pollster::block_on(started)))
            .expect_err("awaiting a task of a dropped executor must panic");
        let text = panic_text(payload.as_ref());
        assert!(text.contains("executor was dropped"), "{text:?}");
        assert_eq!(pollster::block_on(unstarted.cancel()), None);
        assert_eq!(pollster::block_on(injected.cancel()), None);
    });
}

#[test]
fn run_until_stalled_runs_ready_tasks_and_returns_when_all_are_pending() {
    watchdog(10, || {
        let ex = Executor::new();
        let done = Rc::new(Cell::new(0));
        let tasks: Vec<_> = (0..3)
            .map(|i| {
                let done = done.clone();
                ex.spawn(async move {
                    for _ in 0..(5 * (i + 1)) {
                        yield_now().await;
                    }
                    done.set(done.get() + 1);
                })
            })
            .collect();
        let stuck = ex.spawn(pending::<()>());
        ex.run_until_stalled();
        assert_eq!(done.get(), 3, "every task that could run to completion did");
        assert!(tasks.iter().all(|t| t.is_finished()));
        assert!(!stuck.is_finished());
        assert!(
            !ex.try_tick(),
            "run_until_stalled returned while a task was ready"
        );
        // Returns at once when there is nothing to do.
        ex.run_until_stalled();
    });
}

/// A timer that is due when `run_until_stalled` starts fires in its reactor turn, and the task
/// it wakes runs before it returns (the wake, made outside any poll, lands on the shared
/// queue). In a child process, so that no other thread drives the reactor and fires the timer
/// first; the sleep is first polled inside a `block_on`, so the helper thread does not drive
/// for it either.
#[test]
fn run_until_stalled_runs_a_task_its_reactor_turn_woke() {
    in_child_process(
        "run_until_stalled_runs_a_task_its_reactor_turn_woke",
        || {
            watchdog(20, || {
                let ex = Executor::new();
                let task = ex.spawn(sleep(Duration::from_millis(1)));
                // Polls the task once: its timer is registered.
                ex.block_on(yield_now());
                assert!(!task.is_finished());
                // Due now, and nobody fired it.
                thread::sleep(Duration::from_millis(20));
                assert!(!task.is_finished());
                ex.run_until_stalled();
                assert!(
                    task.is_finished(),
                    "run_until_stalled returned with a task its reactor turn woke"
                );
            });
        },
    );
}

#[test]
fn run_is_block_on() {
    let ex = Executor::new();
    let t = ex.spawn(async { 2 });
    // `run` also runs the tasks nobody awaits: a detached one sets the flag the future waits for.
    let flag = Rc::new(Cell::new(false));
    let f = flag.clone();
    ex.spawn(async move {
        yield_now().await;
        f.set(true);
    })
    .detach();
    let out = ex.run(async {
        assert!(
            yield_until(100, || flag.get()).await,
            "run did not run the tasks"
        );
        t.await * 2
    });
    assert_eq!(out, 4);
    assert_eq!(ex.stats().alive, 0);
}

#[test]
fn join_all_returns_outputs_in_input_order_with_yields() {
    let out = watchdog(10, || {
        block_on(join_all((0..10usize).map(|i| async move {
            for _ in 0..(10 - i) * 3 {
                yield_now().await;
            }
            i
        })))
    });
    assert_eq!(out, (0..10).collect::<Vec<_>>());
}

#[test]
fn join_all_returns_outputs_in_input_order_with_sleeps() {
    let out = watchdog(10, || {
        block_on(async {
            let finished: Rc<RefCell<Vec<usize>>> = Rc::default();
            let out = join_all((0..8usize).map(|i| {
                let finished = finished.clone();
                async move {
                    sleep(Duration::from_millis(4 * (8 - i) as u64)).await;
                    finished.borrow_mut().push(i);
                    i * 10
                }
            }))
            .await;
            (out, finished.borrow().len())
        })
    });
    assert_eq!(out.0, (0..8).map(|i| i * 10).collect::<Vec<_>>());
    assert_eq!(out.1, 8);
}

#[test]
fn join_all_of_100_000_children_finishing_one_at_a_time_is_linear() {
    const N: usize = 100_000;
    let start = Instant::now();
    let out = watchdog(30, || {
        block_on(async {
            let flags: Rc<Vec<Cell<bool>>> = Rc::new((0..N).map(|_| Cell::new(false)).collect());
            let wakers: Rc<RefCell<Vec<Option<Waker>>>> = Rc::new(RefCell::new(vec![None; N]));
            let driver = {
                let (flags, wakers) = (flags.clone(), wakers.clone());
                spawn(async move {
                    for i in 0..N {
                        flags[i].set(true);
                        let w = wakers.borrow_mut()[i].take();
                        if let Some(w) = w {
                            w.wake();
                        }
                        yield_now().await;
                    }
                })
            };
            let children = (0..N).map(|i| {
                let (flags, wakers) = (flags.clone(), wakers.clone());
                poll_fn(move |cx| {
                    if flags[i].get() {
                        Poll::Ready(i)
                    } else {
                        wakers.borrow_mut()[i] = Some(cx.waker().clone());
                        Poll::Pending
                    }
                })
            });
            let out = join_all(children).await;
            driver.await;
            out
        })
    });
    assert_eq!(out.len(), N);
    assert!(out.iter().enumerate().all(|(i, &v)| i == v));
    eprintln!("join_all of {N} children took {:?}", start.elapsed());
}

type BoxedJoin = std::pin::Pin<Box<dyn Future<Output = Vec<usize>> + Send>>;

/// A parent waker that, when woken, polls the `JoinAll` itself, inline on the waking thread (as
/// a waker that runs its task at once would).
struct PollsInline {
    join: Mutex<Option<BoxedJoin>>,
    out: Mutex<Option<Vec<usize>>>,
}

impl std::task::Wake for PollsInline {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let waker = Waker::from(self.clone());
        // `try_lock`: a wake that arrives while this waker is polling already is not re-entered.
        if let Ok(mut join) = self.join.try_lock()
            && let Some(fut) = join.as_mut()
            && let Poll::Ready(out) = fut
                .as_mut()
                .poll(&mut std::task::Context::from_waker(&waker))
        {
            *self.out.lock().unwrap() = Some(out);
            *join = None;
        }
    }
}

#[test]
fn join_all_wakes_its_parent_outside_its_locks() {
    watchdog(10, || {
        let ready: Arc<Vec<AtomicBool>> =
            Arc::new((0..2).map(|_| AtomicBool::new(false)).collect());
        let wakers: Arc<Mutex<Vec<Option<Waker>>>> = Arc::new(Mutex::new(vec![None, None]));
        let children = (0..2).map(|i| {
            let (ready, wakers) = (ready.clone(), wakers.clone());
            poll_fn(move |cx| {
                if ready[i].load(Ordering::SeqCst) {
                    Poll::Ready(i)
                } else {
                    wakers.lock().unwrap()[i] = Some(cx.waker().clone());
                    Poll::Pending
                }
            })
        });
        let parent = Arc::new(PollsInline {
            join: Mutex::new(Some(Box::pin(join_all(children)))),
            out: Mutex::new(None),
        });
        // The first poll: both children wait, and the JoinAll keeps the parent's waker.
        std::task::Wake::wake_by_ref(&parent);
        assert!(parent.out.lock().unwrap().is_none());
        for i in 0..2 {
            ready[i].store(true, Ordering::SeqCst);
            let child = wakers.lock().unwrap()[i].take().expect("the child waits");
            // Wakes the parent, which polls the JoinAll on this very thread.
            child.wake();
        }
        assert_eq!(parent.out.lock().unwrap().take(), Some(vec![0, 1]));
    });
}

#[test]
fn join_runs_both_and_race_returns_the_first() {
    watchdog(10, || {
        block_on(async {
            let (a, b) = join(
                async {
                    sleep(Duration::from_millis(10)).await;
                    1
                },
                async { "b" },
            )
            .await;
            assert_eq!((a, b), (1, "b"));

            // The loser of a race is dropped.
            let (guard, dropped, _) = DropGuard::new();
            let out = race(
                async move {
                    let _guard = guard;
                    pending::<u32>().await
                },
                async {
                    yield_now().await;
                    2
                },
            )
            .await;
            assert_eq!(out, 2);
            assert!(
                dropped.load(Ordering::SeqCst),
                "race did not drop the loser"
            );

            // Both ready in the same poll: the first wins.
            assert_eq!(race(async { 'a' }, async { 'b' }).await, 'a');
            let out = race(
                async {
                    sleep(Duration::from_secs(10)).await;
                    "slow"
                },
                async {
                    sleep(Duration::from_millis(5)).await;
                    "fast"
                },
            )
            .await;
            assert_eq!(out, "fast");
        })
    });
}

// ---------------------------------------------------------------------------------------------
// Idle CPU

#[test]
fn an_idle_block_on_uses_almost_no_cpu() {
    let (cpu, wall) = watchdog(20, || {
        let cpu0 = thread_cpu_time();
        let start = Instant::now();
        block_on(sleep(Duration::from_millis(300)));
        (thread_cpu_time() - cpu0, start.elapsed())
    });
    assert!(wall >= Duration::from_millis(300), "woke early: {wall:?}");
    assert!(
        cpu < Duration::from_millis(50),
        "block_on(sleep(300ms)) burned {cpu:?} of CPU (limit 50 ms): it does not sleep while idle"
    );
}

#[test]
fn an_idle_block_on_waiting_for_a_task_uses_almost_no_cpu() {
    let cpu = watchdog(20, || {
        let cpu0 = thread_cpu_time();
        block_on(async { spawn(sleep(Duration::from_millis(200))).await });
        thread_cpu_time() - cpu0
    });
    assert!(
        cpu < Duration::from_millis(40),
        "burned {cpu:?} of CPU while idle for 200 ms (limit 40 ms)"
    );
}

// ---------------------------------------------------------------------------------------------
// Several threads, each with its own block_on, sharing the one reactor.

#[test]
fn many_threads_each_in_block_on_all_get_their_timers() {
    watchdog(20, || {
        let threads: Vec<_> = (0..4u64)
            .map(|i| {
                thread::spawn(move || {
                    for j in 0..6u64 {
                        let d = Duration::from_millis(1 + (i * 7 + j * 3) % 15);
                        let start = Instant::now();
                        block_on(sleep(d));
                        assert!(start.elapsed() >= d);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    });
}

/// Thread A drives the reactor; B, then C park. A's and C's timers fire in the same turn; B's
/// comes later. When A stops driving it hands the reactor to one parked thread: it must be one
/// that still needs it (B), or B must be woken some other way once A and C are gone.
///
/// In a child process, so that A is the driver (no other test's executor is), and each thread
/// starts only once the one before it sleeps. A round where the order did not hold before the
/// shared deadline (a very slow machine) is not counted; five that held are required.
#[test]
fn a_parked_executor_is_not_left_without_a_driver() {
    in_child_process("a_parked_executor_is_not_left_without_a_driver", || {
        watchdog(60, || {
            let mut held = 0;
            for _ in 0..50 {
                let t0 = Instant::now();
                let shared_deadline = t0 + Duration::from_millis(200);
                let (tid_tx, tid_rx) = std::sync::mpsc::channel();
                let start = |deadline: Instant| {
                    let tid_tx = tid_tx.clone();
                    let thread = thread::spawn(move || {
                        tid_tx.send(os_thread_id()).unwrap();
                        block_on(wisp::time::sleep_until(deadline))
                    });
                    // On a loaded machine a thread whose deadline passed before it slept may be
                    // gone already: the round is out of order then (`in_order` below).
                    wait_until_blocked_or_gone(tid_rx.recv().unwrap());
                    thread
                };
                let a = start(shared_deadline);
                let b = start(t0 + Duration::from_millis(300));
                let c = start(shared_deadline);
                let in_order = Instant::now() < shared_deadline;
                a.join().unwrap();
                c.join().unwrap();
                b.join().unwrap();
                if in_order {
                    held += 1;
                    if held == 5 {
                        return;
                    }
                }
            }
            panic!("the three threads never went to sleep in order before the deadline");
        });
    });
}
