//! Runtime core, side by side: wisp vs tokio (current_thread + LocalSet) vs smol (LocalExecutor +
//! async-io), same process, interleaved rounds. See `common` for the method and
//! `/work/shared/TARGETS.md` for the workloads.
//!
//! `WISP_BENCH_ROUNDS` (default 5), `WISP_BENCH_SCALE` (default 1.0, scales the counts) and
//! `WISP_BENCH_ONLY` (a substring of the rows to run) tune
//! it; `WISP_BENCH_SCALE=0.05 WISP_BENCH_ROUNDS=2` is a quick smoke run.

// The counting global allocator below is the only `unsafe` (the crate denies it by default).
#![allow(unsafe_code)]

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::{Cell, RefCell};
use std::future::{Future, poll_fn};
use std::hint::black_box;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{
    AtomicBool, AtomicIsize, AtomicUsize, Ordering::Relaxed, Ordering::SeqCst,
};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use common::{Metric, Rt, RunFn, Smol, Tokio, Wisp, measure, mps, scaled};

// ---------------------------------------------------------------------------------------------
// Counting allocator: live bytes, counted only while `COUNTING` is set (the net change over that
// window is what the idle-task row needs; the other rows pay one relaxed load per allocation).

struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() && COUNTING.load(Relaxed) {
            LIVE.fetch_add(layout.size() as isize, Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() && COUNTING.load(Relaxed) {
            LIVE.fetch_add(layout.size() as isize, Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        if COUNTING.load(Relaxed) {
            LIVE.fetch_sub(layout.size() as isize, Relaxed);
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() && COUNTING.load(Relaxed) {
            LIVE.fetch_add(new_size as isize - layout.size() as isize, Relaxed);
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

// ---------------------------------------------------------------------------------------------
// Workloads, each written once and instantiated per runtime.

const TEN_S: Duration = Duration::from_secs(10);

fn n_spawn() -> usize {
    scaled(1_000_000, 1_000)
}

/// Row 1: Spawn `n` trivial tasks, then await them all in order.
fn spawn_join<R: Rt>() -> Vec<f64> {
    let n = n_spawn();
    R::run(async move {
        let start = Instant::now();
        let handles: Vec<_> = (0..n).map(|i| R::spawn(async move { i })).collect();
        let mut sum = 0usize;
        for h in handles {
            sum = sum.wrapping_add(h.await);
        }
        let d = start.elapsed();
        black_box(sum);
        vec![mps(n, d)]
    })
}

const YIELD_TASKS: usize = 1_000;

fn n_yields() -> usize {
    scaled(1_000, 10)
}

/// Row 2: 1 000 tasks each yielding `n` times.
fn yields<R: Rt>() -> Vec<f64> {
    let per = n_yields();
    R::run(async move {
        let start = Instant::now();
        let handles: Vec<_> = (0..YIELD_TASKS)
            .map(|_| {
                R::spawn(async move {
                    for _ in 0..per {
                        R::yield_now().await;
                    }
                })
            })
            .collect();
        for h in handles {
            h.await;
        }
        vec![mps(YIELD_TASKS * per, start.elapsed())]
    })
}

/// A one-slot channel: the same code for every runtime. Wakers are kept (cloned only when a
/// different task registers) and woken by reference only when the other side waits, so a
/// message costs exactly one runtime wake-up and no waker clone.
struct Slot<T> {
    value: Option<T>,
    rx: Option<Waker>,
    rx_waiting: bool,
    tx: Option<Waker>,
    tx_waiting: bool,
}

struct Chan<T>(Rc<RefCell<Slot<T>>>);

impl<T> Clone for Chan<T> {
    fn clone(&self) -> Self {
        Chan(self.0.clone())
    }
}

fn register(slot: &mut Option<Waker>, waiting: &mut bool, cx: &Context<'_>) {
    match slot {
        Some(w) if w.will_wake(cx.waker()) => {}
        _ => *slot = Some(cx.waker().clone()),
    }
    *waiting = true;
}

fn notify(slot: &Option<Waker>, waiting: &mut bool) {
    if std::mem::take(waiting)
        && let Some(w) = slot
    {
        w.wake_by_ref();
    }
}

impl<T> Chan<T> {
    fn new() -> Chan<T> {
        Chan(Rc::new(RefCell::new(Slot {
            value: None,
            rx: None,
            rx_waiting: false,
            tx: None,
            tx_waiting: false,
        })))
    }

    async fn send(&self, value: T) {
        let mut value = Some(value);
        poll_fn(|cx| {
            let s = &mut *self.0.borrow_mut();
            if s.value.is_some() {
                register(&mut s.tx, &mut s.tx_waiting, cx);
                return Poll::Pending;
            }
            s.value = value.take();
            notify(&s.rx, &mut s.rx_waiting);
            Poll::Ready(())
        })
        .await
    }

    async fn recv(&self) -> T {
        poll_fn(|cx| {
            let s = &mut *self.0.borrow_mut();
            match s.value.take() {
                Some(v) => {
                    notify(&s.tx, &mut s.tx_waiting);
                    Poll::Ready(v)
                }
                None => {
                    register(&mut s.rx, &mut s.rx_waiting, cx);
                    Poll::Pending
                }
            }
        })
        .await
    }
}

fn n_wakeups() -> usize {
    scaled(1_000_000, 1_000) / 2 * 2
}

/// Row 3: Two tasks bounce a value through two one-slot channels: every message wakes the other task
/// once. Reports ns per wake-up.
fn ping_pong<R: Rt>() -> Vec<f64> {
    let n = n_wakeups();
    R::run(async move {
        let (ab, ba) = (Chan::<usize>::new(), Chan::<usize>::new());
        let (ab2, ba2) = (ab.clone(), ba.clone());
        let start = Instant::now();
        let pong = R::spawn(async move {
            for _ in 0..n / 2 {
                let v = ab2.recv().await;
                ba2.send(v + 1).await;
            }
        });
        let ping = R::spawn(async move {
            let mut v = 0;
            for _ in 0..n / 2 {
                ab.send(v).await;
                v = ba.recv().await;
            }
            v
        });
        let v = ping.await;
        pong.await;
        let d = start.elapsed();
        assert_eq!(v, n / 2);
        vec![d.as_nanos() as f64 / n as f64]
    })
}

/// Row 4: The `block_on` future wakes itself `n` times (run directly in `block_on`, no spawn).
fn self_wake<R: Rt>() -> Vec<f64> {
    let n = scaled(1_000_000, 1_000);
    let mut count = 0usize;
    let (c, d) = R::block_on_timed(poll_fn(|cx| {
        count += 1;
        if count >= n {
            Poll::Ready(count)
        } else {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }));
    assert_eq!(c, n);
    vec![mps(n, d)]
}

fn n_cross() -> usize {
    scaled(1_000_000, 1_000) / CROSS_THREADS * CROSS_THREADS
}

const CROSS_THREADS: usize = 4;

/// Row 5: `CROSS_THREADS` OS threads advance a counter `n` times in all, each time waking the
/// task that waits for it if it left its waker (taken from the slot: each registration is woken
/// once). The task registers, then reads the counter again, and ends once it has seen the last
/// increment: a lost wake-up hangs this row. Reports ns per increment (wakes coalesce while the
/// task is queued, so this is the cross-thread wake path's throughput, not a round trip).
fn cross_thread_wakes<R: Rt>() -> Vec<f64> {
    let n = n_cross();
    R::run(async move {
        let shared = Arc::new((AtomicUsize::new(0), Mutex::new(None::<Waker>)));
        let waiter = {
            let shared = shared.clone();
            R::spawn(poll_fn(move |cx| {
                loop {
                    let seen = shared.0.load(SeqCst);
                    if seen == n {
                        return Poll::Ready(());
                    }
                    *shared.1.lock().unwrap() = Some(cx.waker().clone());
                    if shared.0.load(SeqCst) == seen {
                        return Poll::Pending;
                    }
                }
            }))
        };
        let start = Instant::now();
        let threads: Vec<_> = (0..CROSS_THREADS)
            .map(|_| {
                let shared = shared.clone();
                std::thread::spawn(move || {
                    for _ in 0..n / CROSS_THREADS {
                        shared.0.fetch_add(1, SeqCst);
                        let waker = shared.1.lock().unwrap().take();
                        if let Some(waker) = waker {
                            waker.wake();
                        }
                    }
                })
            })
            .collect();
        waiter.await;
        let d = start.elapsed();
        for t in threads {
            t.join().unwrap();
        }
        vec![d.as_nanos() as f64 / n as f64]
    })
}

fn n_sleeps() -> usize {
    scaled(100_000, 100)
}

/// Durations 1..=1000 ms from a fixed LCG: the same for every runtime and round.
fn sleep_durations(n: usize) -> Vec<u64> {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    (0..n)
        .map(|_| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (x >> 33) % 1000 + 1
        })
        .collect()
}

/// CPU time the process has used so far, user and system, in milliseconds: fields 14 and 15
/// of `/proc/self/stat`, in the kernel's `USER_HZ` ticks (100 a second on Linux), so 10 ms steps.
fn cpu_ms() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("read /proc/self/stat");
    // The command name, in parentheses, may hold spaces: count fields after its `)`.
    let rest = &stat[stat.rfind(')').expect("a command name in /proc/self/stat") + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields[i].parse::<f64>().expect("a tick count");
    // After the name come field 3 (state) onward: utime is field 14, stime 15.
    (ticks(14 - 3) + ticks(15 - 3)) * 10.0
}

/// Row 5: `n` concurrent sleeps of 1..=1000 ms. Overhead: wall time from before the first spawn until
/// every task is done, minus the longest duration. Lateness: each task takes `at = now + d` on
/// its first poll, sleeps until `at`, then records `now - at`. CPU: what the whole process used
/// meanwhile (every thread; 10 ms steps): the price of waking for timers one deadline at a time.
fn sleeps<R: Rt>() -> Vec<f64> {
    let durations = sleep_durations(n_sleeps());
    let longest = Duration::from_millis(*durations.iter().max().unwrap());
    let cpu_before = cpu_ms();
    R::run(async move {
        let start = Instant::now();
        let handles: Vec<_> = durations
            .iter()
            .map(|&ms| {
                R::spawn(async move {
                    let at = Instant::now() + Duration::from_millis(ms);
                    R::sleep_until(at).await;
                    Instant::now().saturating_duration_since(at)
                })
            })
            .collect();
        let mut late = Vec::with_capacity(handles.len());
        for h in handles {
            late.push(h.await);
        }
        let wall = start.elapsed();
        late.sort();
        let pct = |p: usize| late[(late.len() * p / 100).min(late.len() - 1)];
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        vec![
            ms(wall) - ms(longest),
            ms(pct(50)),
            ms(pct(99)),
            cpu_ms() - cpu_before,
        ]
    })
}

fn n_timeouts() -> usize {
    scaled(1_000_000, 1_000)
}

/// Row 6: `timeout(10 s, ready)` in a loop.
fn timeout_ready<R: Rt>() -> Vec<f64> {
    let n = n_timeouts();
    R::run(async move {
        let start = Instant::now();
        let mut sum = 0usize;
        for i in 0..n {
            if let Some(v) = R::timeout(TEN_S, std::future::ready(black_box(i))).await {
                sum = sum.wrapping_add(v);
            }
        }
        let d = start.elapsed();
        assert_eq!(sum, (0..n).fold(0usize, |a, i| a.wrapping_add(i)));
        vec![mps(n, d)]
    })
}

/// Wakes itself and returns `Pending` on its first poll, `Ready` on the second.
struct PendingOnce(bool);

impl Future for PendingOnce {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

/// Row 7: `timeout(10 s, pending once)` in a loop: the timer is inserted, then cancelled.
fn timeout_pending_once<R: Rt>() -> Vec<f64> {
    let n = n_timeouts();
    R::run(async move {
        let start = Instant::now();
        let mut ok = 0usize;
        for _ in 0..n {
            if R::timeout(TEN_S, PendingOnce(false)).await.is_some() {
                ok += 1;
            }
        }
        let d = start.elapsed();
        assert_eq!(ok, n);
        vec![mps(n, d)]
    })
}

thread_local! {
    static POLLED: Cell<usize> = const { Cell::new(0) };
}

fn n_idle() -> usize {
    scaled(100_000, 1_000)
}

/// Row 8: Live heap bytes per idle task: `n` detached tasks, each polled once and then pending
/// forever on `std::future::pending`. Net allocation over the window from just before the first
/// spawn to when every task has been polled once, divided by `n`. That is the task itself plus
/// what the executor grew to hold `n` of them: its slab or task list, and its run queues (grown
/// by doubling, so up to twice what `n` entries need); the row's name says so. Every runtime is
/// built fresh per run, so each round measures the same thing and rounds agree closely.
fn idle_memory<R: Rt>() -> Vec<f64> {
    let n = n_idle();
    R::run(async move {
        POLLED.with(|p| p.set(0));
        LIVE.store(0, Relaxed);
        COUNTING.store(true, Relaxed);
        for _ in 0..n {
            R::spawn_detached(async {
                POLLED.with(|p| p.set(p.get() + 1));
                std::future::pending::<()>().await
            });
        }
        while POLLED.with(|p| p.get()) < n {
            R::yield_now().await;
        }
        COUNTING.store(false, Relaxed);
        vec![LIVE.load(Relaxed) as f64 / n as f64]
    })
}

macro_rules! runs {
    ($f:ident) => {
        [
            $f::<Wisp> as RunFn,
            $f::<Tokio> as RunFn,
            $f::<Smol> as RunFn,
        ]
    };
}

/// Formats a count with thin-space thousands separators as in TARGETS.md ("1 000 000").
fn count(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

fn main() {
    common::header("benches/runtime.rs");
    let rounds = common::rounds();
    let slow_rounds = rounds.min(3);
    println!(
        "Runtimes are built fresh per run, outside the timed region; every workload but the \
         block_on row runs as block_on(spawn(driver)). Sleep row: {slow_rounds} rounds. Heap per \
         idle task: the task and the executor's growth (task slab or list, run queues) for it. \
         smol timeout = future::or(fut, async {{ Timer::after(d).await; .. }}).\n"
    );
    let mut rows = Vec::new();
    let mut row = |metrics: Vec<Metric>, runs: [RunFn; 3], rounds: usize| {
        rows.extend(measure(&metrics, runs, rounds));
    };
    row(
        vec![Metric::new(
            format!("spawn + join {} trivial tasks", count(n_spawn())),
            "M tasks/s",
            true,
        )],
        runs!(spawn_join),
        rounds,
    );
    row(
        vec![Metric::new(
            format!(
                "{} tasks x {} yield_now",
                count(YIELD_TASKS),
                count(n_yields())
            ),
            "M polls/s",
            true,
        )],
        runs!(yields),
        rounds,
    );
    row(
        vec![Metric::new(
            format!(
                "ping-pong, one-slot waker channel, {} wake-ups: per wake-up",
                count(n_wakeups())
            ),
            "ns",
            false,
        )],
        runs!(ping_pong),
        rounds,
    );
    row(
        vec![Metric::new(
            format!(
                "block_on future waking itself {} times",
                count(scaled(1_000_000, 1_000))
            ),
            "M wakes/s",
            true,
        )],
        runs!(self_wake),
        rounds,
    );
    row(
        vec![Metric::new(
            format!(
                "{CROSS_THREADS} threads advance a task's counter {} times, waking it: per increment",
                count(n_cross())
            ),
            "ns",
            false,
        )],
        runs!(cross_thread_wakes),
        rounds,
    );
    let s = count(n_sleeps());
    row(
        vec![
            Metric::new(
                format!("{s} sleeps of 1..=1000 ms: overhead beyond the longest"),
                "ms",
                false,
            ),
            Metric::new(format!("{s} sleeps: lateness p50"), "ms", false),
            Metric::new(format!("{s} sleeps: lateness p99"), "ms", false),
            Metric::new(format!("{s} sleeps: CPU time, user + system"), "ms", false),
        ],
        runs!(sleeps),
        slow_rounds,
    );
    row(
        vec![Metric::new(
            format!("timeout(10 s, ready) x {}", count(n_timeouts())),
            "M/s",
            true,
        )],
        runs!(timeout_ready),
        rounds,
    );
    row(
        vec![Metric::new(
            format!(
                "timeout(10 s, pending once) x {} (insert + cancel)",
                count(n_timeouts())
            ),
            "M/s",
            true,
        )],
        runs!(timeout_pending_once),
        rounds,
    );
    row(
        vec![Metric::new(
            format!(
                "heap per idle task, executor's slab and queues included ({} pending tasks)",
                count(n_idle())
            ),
            "B",
            false,
        )],
        runs!(idle_memory),
        rounds,
    );
    println!();
    common::print_table(&rows);
}
