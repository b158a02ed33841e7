//! loom models of the wake-up protocol: every interleaving (within loom's preemption bound) of
//! the real code of a task's state word, the run queue and the parker, run by `.ci/run`:
//!
//! ```text
//! RUSTFLAGS="--cfg wisp_loom" cargo test --release --no-default-features --lib loom_models
//! ```
//!
//! Under `cfg(wisp_loom)` the atomics, mutexes and thread parking these parts use are loom's
//! (`crate::sync`), and the reactor's poller is a stand-in whose wait ends only at a `notify`
//! (`reactor/poller.rs`), so the reactor's own sleep and hand-off code runs here too. Each model
//! states the invariant it checks. A socket's readiness is modelled by an event only the
//! driver delivers (`Reactor::post_event`); timers and real sockets are not (the stand-in has
//! neither): `tests/wake_stress.rs`, `tests/timers.rs` and `tests/net.rs` exercise those on real
//! threads.

use std::collections::VecDeque;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use loom::thread;

use crate::reactor::{self, park::Sleep};
use crate::run_queue::RunQueue;
use crate::task::{Completion, Header, Task, TaskQueue};

/// Every key waiting in `queue` (taken off it).
fn drain(queue: &TaskQueue) -> VecDeque<usize> {
    let mut keys = VecDeque::new();
    drop(queue.take_remote(&mut keys));
    keys
}

/// A task as its spawner leaves it: `SCHEDULED`, its key on the run queue.
fn queued_task() -> (Arc<TaskQueue>, Arc<Header>) {
    let queue = Arc::new(TaskQueue::for_current_thread());
    let header = Header::new(0, queue.clone());
    queue.push(0);
    (queue, header)
}

/// A wake that lands before, during or after a poll is never lost, and never queues the task
/// twice: if the poll did not see what the waker published before waking, the task is queued
/// (exactly once) afterwards.
#[test]
fn loom_a_wake_during_a_poll_is_kept_and_queued_once() {
    loom::model(|| {
        let (queue, header) = queued_task();
        let published = Arc::new(AtomicBool::new(false));
        let waker = {
            let (header, published) = (header.clone(), published.clone());
            thread::spawn(move || {
                published.store(true, Ordering::Relaxed);
                Waker::from(header).wake_by_ref();
            })
        };
        assert_eq!(drain(&queue), [0]);
        assert!(header.begin_poll());
        let saw = published.load(Ordering::Relaxed);
        if header.end_poll() {
            queue.push(0);
        }
        waker.join().unwrap();
        let queued = drain(&queue).len();
        assert!(queued <= 1, "queued {queued} times");
        if !saw {
            assert_eq!(queued, 1, "the wake was lost");
        }
    });
}

/// A cancel that lands during a poll is seen at the task's next turn: the executor closes it
/// instead of polling it again. Its handle never waits for a task nobody will drop.
#[test]
fn loom_a_cancel_during_a_poll_closes_the_task_at_its_next_turn() {
    loom::model(|| {
        let (queue, header) = queued_task();
        let canceller = {
            let header = header.clone();
            thread::spawn(move || header.cancel())
        };
        let mut closed = false;
        let mut polls = 0;
        let mut turn = |queue: &TaskQueue| {
            for _ in drain(queue) {
                if !header.begin_poll() {
                    closed = true;
                    return;
                }
                polls += 1;
                if header.end_poll() {
                    queue.push(0);
                }
            }
        };
        turn(&queue);
        canceller.join().unwrap();
        turn(&queue);
        assert!(closed, "the cancel was lost after {polls} polls");
        // Closed means closed: a later wake queues nothing.
        Waker::from(header.clone()).wake_by_ref();
        assert!(drain(&queue).is_empty());
    });
}

/// A wake racing the task's completion either lands before the close (and is dropped with the
/// task) or after it (and does nothing): the queue never holds a finished task.
#[test]
fn loom_a_wake_after_close_queues_nothing() {
    loom::model(|| {
        let (queue, header) = queued_task();
        let waker = {
            let header = header.clone();
            thread::spawn(move || Waker::from(header).wake_by_ref())
        };
        assert_eq!(drain(&queue), [0]);
        assert!(header.begin_poll());
        // The poll returned `Ready`.
        header.close();
        waker.join().unwrap();
        assert!(drain(&queue).is_empty());
    });
}

/// A `Spawner` handing a task over while the executor is dropped: the task is either taken by the
/// executor's close (and dropped there) or refused (and cancelled by the spawner). Either way its
/// handle learns it was cancelled; it is never left in a queue nobody reads.
#[test]
fn loom_a_spawner_racing_the_executors_drop_cancels_its_task() {
    loom::model(|| {
        let ex = crate::Executor::new();
        let spawner = ex.spawner();
        let spawning = thread::spawn(move || spawner.spawn(async { 7 }));
        drop(ex);
        let task = spawning.join().unwrap();
        let mut cancel = std::pin::pin!(task.cancel());
        let mut cx = Context::from_waker(Waker::noop());
        assert_eq!(cancel.as_mut().poll(&mut cx), Poll::Ready(None));
    });
}

/// Jobs injected while the queue closes: each is either returned by `close` or refused, exactly
/// once, and nothing is left behind.
#[test]
fn loom_injected_jobs_are_refused_or_returned_once() {
    struct Job(Arc<AtomicUsize>);
    impl Drop for Job {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
    loom::model(|| {
        let queue = Arc::new(RunQueue::<Job>::for_current_thread());
        let dropped = Arc::new(AtomicUsize::new(0));
        let injector = {
            let (queue, dropped) = (queue.clone(), dropped.clone());
            thread::spawn(move || {
                for _ in 0..2 {
                    // A refused job comes back and is dropped here.
                    let _ = queue.inject(Job(dropped.clone()));
                }
            })
        };
        drop(queue.close());
        injector.join().unwrap();
        assert_eq!(dropped.load(Ordering::Relaxed), 2);
        assert!(!queue.has_remote_work());
    });
}

/// An executor going to sleep while another thread queues a task: the sleeper publishes its
/// state before its last look at the queue, the waker pushes before it reads the state, so
/// either the sleeper sees the task or the waker unparks it. (loom reports a deadlock if the
/// sleeper could park for good.)
#[test]
fn loom_an_executor_going_to_sleep_is_woken_by_a_push_from_another_thread() {
    loom::model(|| {
        let queue = Arc::new(TaskQueue::for_current_thread());
        let pusher = {
            let queue = queue.clone();
            thread::spawn(move || queue.push(1))
        };
        let parker = queue.parker();
        loop {
            parker.set(Sleep::Parked);
            if queue.has_remote_work() {
                break;
            }
            thread::park();
        }
        parker.set(Sleep::Awake);
        pusher.join().unwrap();
        assert_eq!(drain(&queue), [1]);
    });
}

/// An executor's idle loop: sleep in the reactor until its run queue has work.
fn idle_until_work(queue: &TaskQueue) {
    while !queue.has_remote_work() {
        reactor::sleep(queue.parker(), || queue.has_remote_work());
    }
}

/// A model thread that runs an executor's idle path through the reactor: with more stack than
/// loom's default 32 KiB, which the debug build of a driver's turn (its lists, the poller's
/// stand-in) does not fit in.
fn executor_thread<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> thread::JoinHandle<T> {
    thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(f)
        .expect("loom spawns model threads")
}

/// Two executors go idle on the one reactor: whichever gets it drives (waits in the poller),
/// the other parks. Another thread then gives each of them work. However the race for the
/// driver goes, and however the hand-off goes when the driver stops, each executor wakes for
/// its own work: no wake-up is lost and nobody sleeps for good (loom reports a deadlock if one
/// could).
#[test]
fn loom_two_idle_executors_share_the_reactor_and_each_wakes_for_its_work() {
    let mut builder = loom::model::Builder::new();
    // Two preemptions already cover a wake racing each step of the other executor's sleep;
    // more only multiply the run time.
    builder.preemption_bound = Some(2);
    builder.check(|| {
        let (tx, rx) = loom::sync::mpsc::channel();
        let executors: Vec<_> = (0..2)
            .map(|_| {
                let tx = tx.clone();
                executor_thread(move || {
                    let queue = Arc::new(TaskQueue::for_current_thread());
                    tx.send(queue.clone()).unwrap();
                    idle_until_work(&queue);
                    drain(&queue)
                })
            })
            .collect();
        for _ in 0..2 {
            rx.recv().unwrap().push(1);
        }
        for executor in executors {
            assert_eq!(executor.join().unwrap(), [1]);
        }
    });
}

/// The hand-off: one executor drives, the other parks; the driver's own work arrives, so it
/// stops driving; then an event for the parked one arrives, which only a driver can deliver (a
/// socket's readiness). The driver that stopped must have handed the reactor to the parked
/// executor, which now drives and gets its event; without the hand-off nobody would wait in the
/// poller and the event would never be delivered (loom reports the deadlock).
#[test]
fn loom_a_driver_that_stops_hands_the_reactor_to_a_parked_executor() {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(2);
    builder.check(|| {
        let (tx, rx) = loom::sync::mpsc::channel();
        let executors: Vec<_> = (0..2)
            .map(|_| {
                let tx = tx.clone();
                executor_thread(move || {
                    let queue = Arc::new(TaskQueue::for_current_thread());
                    // A task of this executor, waiting (polled once, not queued).
                    let header = Header::new(0, queue.clone());
                    assert!(header.begin_poll());
                    assert!(!header.end_poll());
                    tx.send((queue.clone(), Waker::from(header))).unwrap();
                    idle_until_work(&queue);
                    drain(&queue)
                })
            })
            .collect();
        let (first, _) = rx.recv().unwrap();
        let (_, second_task) = rx.recv().unwrap();
        // Work for the first by a push, for the second by an event through the poller.
        first.push(7);
        reactor::get().post_event(second_task);
        let done: Vec<VecDeque<usize>> = executors.into_iter().map(|e| e.join().unwrap()).collect();
        let mut keys: Vec<usize> = done.into_iter().flatten().collect();
        keys.sort();
        assert_eq!(keys, [0, 7]);
    });
}

/// A detached task's panic is reported exactly once, whether the panic or the detach comes
/// first. (The panic path once read `detached` and stored the outcome under two lock scopes:
/// a detach in between found the task running, so did not report, and the panic was stored
/// where nobody would read it.)
#[test]
fn loom_a_panic_racing_a_detach_is_reported_once() {
    loom::model(|| {
        let (_queue, header) = queued_task();
        let completion = Completion::<()>::new();
        let task = Task::new(header, completion.clone());
        let panicking = thread::spawn(move || completion.panicked(Box::new("boom")));
        let by_detach = task.detach_reporting();
        let by_panic = panicking.join().unwrap();
        assert!(
            by_detach ^ by_panic,
            "reported by the detach: {by_detach}, by the panic: {by_panic}"
        );
    });
}
