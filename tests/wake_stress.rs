//! Wake-ups are never lost and never doubled, hammered from many threads at once.
//!
//! Three executors, each on its own thread, run "probe" tasks: half spawned locally, half handed
//! over by `Spawner`s from another thread while the hammering runs. Four hammer threads advance
//! every probe's counter, in their own orders, and wake the probe through the waker it left:
//!
//! - a probe's waker is *taken* from its slot by the thread that wakes it, so each registration
//!   is woken at most once, and a probe is polled (after its first poll) only because of such a
//!   wake. One lost wake therefore leaves its probe unpolled for good: it never sees its last
//!   increment and the run hangs (caught by the watchdog). So finishing proves no wake was lost.
//! - a probe registers its waker, then reads its counter again: an increment that found the slot
//!   empty is seen by that read. So a probe needs no wake beyond the ones that took its waker.
//! - each wake may cause one poll at most (the executor's `SCHEDULED` bit): a probe's polls are
//!   at most its wakes plus its first poll, which is checked. Polls that saw no progress (a wake
//!   whose increment an earlier poll had already seen) are counted and reported.
//!
//! `WISP_STRESS_ROUNDS` (default 20 000) scales the run: each probe receives
//! `HAMMERS * rounds` increments.

mod common;

use std::future::poll_fn;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::task::{Poll, Waker};
use std::thread::{self, ThreadId};
use std::time::Duration;

use common::{Rng, watchdog};
use futures::StreamExt;
use wisp::{Executor, Spawner, Task};

const EXECUTORS: usize = 3;
/// Probes per executor; the odd ones are handed over through a `Spawner`.
const PROBES: usize = 16;
const HAMMERS: usize = 4;
/// Spins a lingering probe makes after leaving its waker, before it returns `Pending`.
const LINGER: usize = 200;

fn rounds() -> u64 {
    std::env::var("WISP_STRESS_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000)
}

/// One probe task's shared state.
#[derive(Default)]
struct Probe {
    /// Advanced by the hammer threads.
    count: AtomicU64,
    /// The waker the probe left when it last returned `Pending`.
    waker: Mutex<Option<Waker>>,
    /// Wakes delivered: how many times a hammer took the waker from the slot and woke it.
    wakes: AtomicU64,
}

/// What a probe task saw.
#[derive(Debug)]
struct Seen {
    polls: u64,
    /// Polls that found the counter where the previous poll had left it.
    idle_polls: u64,
    thread: ThreadId,
}

/// Waits until the probe's counter reaches `total`, counting its polls.
async fn probe(p: Arc<Probe>, total: u64) -> Seen {
    let (mut seen, mut polls, mut idle_polls) = (None, 0, 0);
    poll_fn(move |cx| {
        polls += 1;
        let mut progressed = false;
        loop {
            let now = p.count.load(Ordering::SeqCst);
            if seen != Some(now) {
                seen = Some(now);
                progressed = true;
            }
            if now == total {
                if !progressed {
                    idle_polls += 1;
                }
                return Poll::Ready(Seen {
                    polls,
                    idle_polls,
                    thread: thread::current().id(),
                });
            }
            *p.waker.lock().unwrap() = Some(cx.waker().clone());
            // Every other poll lingers a little with the waker in its slot, so that many wakes
            // land while the task is still running (where the executor must queue it again
            // itself) and many while it waits in no queue.
            if polls % 2 == 1 {
                for _ in 0..LINGER {
                    std::hint::spin_loop();
                }
            }
            // An increment made before the waker was in its slot was not followed by a wake:
            // see it now.
            if p.count.load(Ordering::SeqCst) == now {
                if !progressed {
                    idle_polls += 1;
                }
                return Poll::Pending;
            }
        }
    })
    .await
}

/// Advances every probe `rounds` times, in an order of its own, waking each one it finds
/// waiting. Wakes by value and by reference alternately.
fn hammer(probes: &[Arc<Probe>], rounds: u64, seed: u64) {
    let mut rng = Rng(seed);
    let mut order: Vec<usize> = (0..probes.len()).collect();
    for round in 0..rounds {
        for i in (1..order.len()).rev() {
            order.swap(i, rng.range(0, i as u64 + 1) as usize);
        }
        for &i in &order {
            let p = &probes[i];
            p.count.fetch_add(1, Ordering::SeqCst);
            let waker = p.waker.lock().unwrap().take();
            if let Some(waker) = waker {
                p.wakes.fetch_add(1, Ordering::SeqCst);
                if round % 2 == 0 {
                    waker.wake();
                } else {
                    waker.wake_by_ref();
                }
            }
        }
        if round % 64 == 0 {
            thread::yield_now();
        }
    }
}

#[test]
fn wakes_from_many_threads_are_never_lost_and_never_doubled() {
    wakes_from_many_threads(Executor::new);
}

/// The same on test executors, whose idle path is `wisp::test`'s (it sleeps in the reactor
/// through `sleep_at_most`, with a last look for work of its own). No deadlock grace, so that
/// a lost wake hangs the run here too instead of ending in a deadlock report.
#[test]
fn wakes_from_many_threads_to_test_executors_are_never_lost() {
    wakes_from_many_threads(|| {
        wisp::test::Builder::new()
            .deadlock_grace(Duration::MAX)
            .executor()
    });
}

fn wakes_from_many_threads(new_executor: fn() -> Executor) {
    let rounds = rounds();
    let total = HAMMERS as u64 * rounds;
    let report = watchdog(60, move || {
        let probes: Vec<Vec<Arc<Probe>>> = (0..EXECUTORS)
            .map(|_| (0..PROBES).map(|_| Arc::default()).collect())
            .collect();
        let all: Arc<Vec<Arc<Probe>>> = Arc::new(probes.iter().flatten().cloned().collect());

        // The executors: each spawns its even probes itself and takes the odd ones from the
        // spawner thread (their handles come back over a channel), then awaits them all.
        let (spawners_tx, spawners_rx) = mpsc::channel::<(usize, Spawner)>();
        let mut handle_txs = Vec::new();
        let mut executors = Vec::new();
        for (e, mine) in probes.iter().enumerate() {
            let mine = mine.clone();
            let spawners_tx = spawners_tx.clone();
            let (handle_tx, mut handle_rx) = futures::channel::mpsc::unbounded::<Task<Seen>>();
            handle_txs.push(handle_tx);
            executors.push(thread::spawn(move || {
                let ex = new_executor();
                spawners_tx.send((e, ex.spawner())).unwrap();
                drop(spawners_tx);
                let me = thread::current().id();
                let seen = ex.block_on(async move {
                    let mut tasks: Vec<Task<Seen>> = mine
                        .iter()
                        .step_by(2)
                        .map(|p| wisp::spawn(probe(p.clone(), total)))
                        .collect();
                    while let Some(task) = handle_rx.next().await {
                        tasks.push(task);
                    }
                    wisp::join_all(tasks).await
                });
                assert_eq!(seen.len(), PROBES);
                for s in &seen {
                    assert_eq!(s.thread, me, "a probe ran off its executor's thread");
                }
                seen
            }));
        }
        drop(spawners_tx);

        // The spawner thread hands the odd probes over while the hammers run.
        let spawner = {
            let probes = probes.clone();
            thread::spawn(move || {
                let mut spawners: Vec<_> = spawners_rx.iter().collect();
                spawners.sort_by_key(|(e, _)| *e);
                for k in (1..PROBES).step_by(2) {
                    for ((e, spawner), tx) in spawners.iter().zip(&handle_txs) {
                        let task = spawner.spawn(probe(probes[*e][k].clone(), total));
                        tx.unbounded_send(task).unwrap();
                    }
                    thread::yield_now();
                }
            })
        };
        let hammers: Vec<_> = (0..HAMMERS)
            .map(|h| {
                let all = all.clone();
                thread::spawn(move || hammer(&all, rounds, 0x9E37_79B9_7F4A_7C15 ^ h as u64))
            })
            .collect();
        for h in hammers {
            h.join().unwrap();
        }
        spawner.join().unwrap();
        let seen: Vec<Vec<Seen>> = executors.into_iter().map(|t| t.join().unwrap()).collect();
        (probes, seen)
    });

    let (probes, seen) = report;
    let (mut polls, mut idle, mut wakes) = (0, 0, 0);
    for (e, (probes, seen)) in probes.iter().zip(&seen).enumerate() {
        // `seen` lists the even probes first, then the odd ones in spawn order.
        let order = (0..PROBES).step_by(2).chain((1..PROBES).step_by(2));
        for (k, s) in order.zip(seen) {
            let p = &probes[k];
            assert_eq!(p.count.load(Ordering::SeqCst), total);
            let w = p.wakes.load(Ordering::SeqCst);
            assert!(
                s.polls <= w + 1,
                "executor {e}, probe {k}: {} polls for {w} wakes: a wake polled it twice",
                s.polls
            );
            polls += s.polls;
            idle += s.idle_polls;
            wakes += w;
        }
    }
    let increments = (EXECUTORS * PROBES) as u64 * total;
    eprintln!(
        "{increments} increments, {wakes} wakes, {polls} polls ({idle} without progress) \
         across {EXECUTORS} executors and {HAMMERS} hammer threads"
    );
    assert!(wakes > 0);
}

/// Wakes of one task from several threads at once while it is being polled: the `SCHEDULED`
/// bit must hold the task in its queue once, and `Executor::stats` must never see it twice.
#[test]
fn concurrent_wakes_of_one_task_queue_it_once() {
    let rounds = rounds() * 10;
    watchdog(60, move || {
        let ex = Executor::new();
        let waker_slot: Arc<Mutex<Option<Waker>>> = Arc::default();
        let polls = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicU64::new(0));
        let task = {
            let (slot, polls, stop) = (waker_slot.clone(), polls.clone(), stop.clone());
            ex.spawn(poll_fn(move |cx| {
                polls.fetch_add(1, Ordering::SeqCst);
                *slot.lock().unwrap() = Some(cx.waker().clone());
                if stop.load(Ordering::SeqCst) == HAMMERS as u64 {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            }))
        };
        assert!(ex.try_tick());
        let wakers: Vec<_> = (0..HAMMERS)
            .map(|_| {
                let (slot, stop) = (waker_slot.clone(), stop.clone());
                thread::spawn(move || {
                    let waker = slot.lock().unwrap().clone().unwrap();
                    for _ in 0..rounds {
                        waker.wake_by_ref();
                    }
                    stop.fetch_add(1, Ordering::SeqCst);
                    waker.wake();
                })
            })
            .collect();
        let mut max_runnable = 0;
        while !task.is_finished() {
            max_runnable = max_runnable.max(ex.stats().runnable);
            ex.try_tick();
            thread::yield_now();
        }
        for w in wakers {
            w.join().unwrap();
        }
        assert!(
            max_runnable <= 1,
            "the task was queued {max_runnable} times at once"
        );
        ex.block_on(task);
    });
}
