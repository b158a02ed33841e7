//! A pool of threads for calls that block (name resolution), so they never run on an
//! executor's thread.
//!
//! `getaddrinfo` has no non-blocking form; running it on the loop stalls every other task for
//! as long as a DNS server takes to answer (httrack#606). Threads start when a job finds none
//! idle, up to [`MAX_THREADS`] (500, the bound of the `blocking` crate), and exit after
//! [`IDLE`] without work, so a quiet process keeps none.
//!
//! The bound is large on purpose. A job that has started holds its thread until the call
//! returns, whether or not anyone still awaits it: a lookup abandoned by a connect timeout goes
//! on for as long as the resolver takes (seconds per server and attempt when one never
//! answers). With the 8 threads this pool used to have, eight such lookups stalled every later
//! connect of the process. Now it takes 500 stuck calls at once before a new one waits. A job
//! whose future was dropped *before* it started is skipped, so a backlog of abandoned lookups
//! costs nothing.
//!
//! A burst runs in parallel: a job claims one idle thread (and no other job can claim the
//! same one), and a job that finds none idle starts a thread.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::Duration;

use crate::sync::{Condvar, Mutex};

/// Upper bound on pool threads (as in the `blocking` crate). Jobs past it wait in the queue
/// for a thread to finish.
const MAX_THREADS: usize = 500;
/// How long an idle pool thread waits for work before it exits.
const IDLE: Duration = Duration::from_secs(5);

type Job = Box<dyn FnOnce() + Send>;

struct PoolState {
    /// Jobs not started yet, oldest first.
    queue: VecDeque<Job>,
    /// Threads alive: running a job, idle, or just spawned. At most the pool's `max_threads`.
    threads: usize,
    /// Threads waiting for work that no job has claimed yet. A job that finds one claims it
    /// (decrements this and sends a wakeup) instead of starting a thread, so no idle thread is
    /// counted for two jobs and a burst of `n` jobs starts `n - idle` threads.
    idle: usize,
    /// Claims sent (`notify_one`) and not yet taken by a waking thread. A thread that wakes to
    /// find none was woken spuriously (it waits on) or timed out (it exits).
    wakeups: usize,
}

/// The pool: [`pool`] in the process; tests build small ones.
struct Pool {
    state: Mutex<PoolState>,
    /// Idle threads wait here for a claim.
    work: Condvar,
    max_threads: usize,
    idle_timeout: Duration,
}

/// The process's pool, made on first use (not a `const` static: under `cfg(wisp_loom)` its
/// mutex is loom's, which has no `const fn new`).
fn pool() -> &'static Pool {
    static POOL: std::sync::OnceLock<Pool> = std::sync::OnceLock::new();
    POOL.get_or_init(|| Pool::new(MAX_THREADS, IDLE))
}

impl Pool {
    fn new(max_threads: usize, idle_timeout: Duration) -> Pool {
        Pool {
            state: Mutex::new(PoolState {
                queue: VecDeque::new(),
                threads: 0,
                idle: 0,
                wakeups: 0,
            }),
            work: Condvar::new(),
            max_threads,
            idle_timeout,
        }
    }

    fn unblock<T, F>(&'static self, f: F) -> Unblock<T>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let slot = Arc::new(Mutex::new(Slot {
            value: None,
            waker: None,
            abandoned: false,
        }));
        let filled = slot.clone();
        let job: Job = Box::new(move || {
            if filled.lock().abandoned {
                return;
            }
            let value = catch_unwind(AssertUnwindSafe(f));
            let waker = {
                let mut slot = filled.lock();
                slot.value = Some(value);
                slot.waker.take()
            };
            if let Some(waker) = waker {
                waker.wake();
            }
        });
        self.submit(job);
        Unblock { slot }
    }

    fn submit(&'static self, job: Job) {
        let mut state = self.state.lock();
        state.queue.push_back(job);
        if state.idle > 0 {
            state.idle -= 1;
            state.wakeups += 1;
            self.work.notify_one();
            return;
        }
        if state.threads >= self.max_threads {
            // A running thread takes it when it finishes its job.
            return;
        }
        state.threads += 1;
        drop(state);
        let spawned = thread::Builder::new()
            .name("wisp-blocking".into())
            .spawn(move || self.worker());
        if spawned.is_ok() {
            return;
        }
        let mut state = self.state.lock();
        state.threads -= 1;
        if state.threads > 0 {
            // The job waits for a running thread.
            return;
        }
        // No thread could be started and none runs: run the queue here, as a last resort,
        // rather than lose it.
        let jobs = std::mem::take(&mut state.queue);
        drop(state);
        for job in jobs {
            let _ = catch_unwind(AssertUnwindSafe(job));
        }
    }

    fn worker(&'static self) {
        let mut state = self.state.lock();
        loop {
            if let Some(job) = state.queue.pop_front() {
                drop(state);
                // The job catches its closure's panics; this catches a waker's, so a thread
                // never dies with `threads` counting it.
                let _ = catch_unwind(AssertUnwindSafe(job));
                state = self.state.lock();
                continue;
            }
            state.idle += 1;
            loop {
                let (next, timed_out) = self.work.wait_timeout(state, self.idle_timeout);
                state = next;
                if state.wakeups > 0 {
                    // Claimed by a job: it already took this thread off `idle`.
                    state.wakeups -= 1;
                    break;
                }
                if timed_out {
                    state.idle -= 1;
                    state.threads -= 1;
                    return;
                }
            }
        }
    }

    #[cfg(test)]
    fn threads(&self) -> usize {
        self.state.lock().threads
    }
}

/// The result slot a pool job fills and its future reads.
struct Slot<T> {
    value: Option<std::thread::Result<T>>,
    waker: Option<Waker>,
    /// The future was dropped: a job that has not started yet is skipped.
    abandoned: bool,
}

/// Runs the blocking closure `f` on wisp's blocking pool; the returned future resolves to its
/// result (and resumes its panic, if it panicked). This is how wisp resolves host names.
///
/// The pool starts threads as jobs arrive, up to 500 (the bound of the `blocking` crate), and
/// lets them exit after 5 s without work; jobs past the bound wait for a thread. Dropping the
/// future before the job started cancels the job; once started, it runs to its end and its
/// result is dropped.
///
/// ```
/// let sum = wisp::block_on(wisp::unblock(|| (1..=10u64).sum::<u64>()));
/// assert_eq!(sum, 55);
/// ```
pub fn unblock<T, F>(f: F) -> Unblock<T>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    pool().unblock(f)
}

/// The future of an [`unblock`] job.
#[must_use = "dropping an Unblock before its job started cancels the job"]
pub struct Unblock<T> {
    slot: Arc<Mutex<Slot<T>>>,
}

impl<T> Future for Unblock<T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let mut slot = self.slot.lock();
        match slot.value.take() {
            Some(Ok(value)) => Poll::Ready(value),
            Some(Err(panic)) => {
                drop(slot);
                std::panic::resume_unwind(panic)
            }
            None => {
                slot.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

impl<T> Drop for Unblock<T> {
    fn drop(&mut self) {
        let mut slot = self.slot.lock();
        slot.abandoned = true;
        slot.waker = None;
    }
}

impl<T> fmt::Debug for Unblock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Unblock").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Instant;

    /// A pool of its own (leaked: its threads hold `&'static` to it).
    fn pool(max_threads: usize, idle: Duration) -> &'static Pool {
        Box::leak(Box::new(Pool::new(max_threads, idle)))
    }

    /// Polls `f` until it is true, for up to 10 s.
    fn eventually(what: &str, f: impl Fn() -> bool) {
        let start = Instant::now();
        while !f() {
            assert!(start.elapsed() < Duration::from_secs(10), "never: {what}");
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// A gate jobs wait at until it opens (or 20 s pass, so a failing test ends).
    struct Gate(std::sync::Mutex<bool>, std::sync::Condvar);

    impl Gate {
        fn new() -> Arc<Gate> {
            Arc::new(Gate(
                std::sync::Mutex::new(false),
                std::sync::Condvar::new(),
            ))
        }
        fn wait(&self) {
            let open = self.0.lock().unwrap();
            let _ = self
                .1
                .wait_timeout_while(open, Duration::from_secs(20), |open| !*open);
        }
        fn open(&self) {
            *self.0.lock().unwrap() = true;
            self.1.notify_all();
        }
    }

    #[test]
    fn a_job_dropped_before_it_started_never_runs() {
        // One thread: the first job holds it, the second waits in the queue and is dropped.
        let pool = pool(1, Duration::from_millis(100));
        let gate = Gate::new();
        let g = gate.clone();
        let first = pool.unblock(move || g.wait());
        let ran = Arc::new(AtomicUsize::new(0));
        let r = ran.clone();
        drop(pool.unblock(move || r.fetch_add(1, Ordering::SeqCst)));
        let r = ran.clone();
        let third = pool.unblock(move || r.fetch_add(10, Ordering::SeqCst));
        gate.open();
        crate::block_on(first);
        assert_eq!(crate::block_on(third), 0);
        assert_eq!(ran.load(Ordering::SeqCst), 10);
    }

    #[test]
    fn jobs_past_the_bound_wait_for_a_thread() {
        let pool = pool(2, Duration::from_millis(100));
        let gate = Gate::new();
        let started = Arc::new(AtomicUsize::new(0));
        let jobs: Vec<_> = (0..5)
            .map(|_| {
                let (g, s) = (gate.clone(), started.clone());
                pool.unblock(move || {
                    s.fetch_add(1, Ordering::SeqCst);
                    g.wait();
                })
            })
            .collect();
        eventually("two jobs start", || started.load(Ordering::SeqCst) == 2);
        assert_eq!(pool.threads(), 2);
        gate.open();
        crate::block_on(crate::join_all(jobs));
        assert_eq!(started.load(Ordering::SeqCst), 5);
    }

    #[test]
    fn idle_threads_exit() {
        let pool = pool(4, Duration::from_millis(50));
        let jobs: Vec<_> = (0..3).map(|i| pool.unblock(move || i)).collect();
        assert_eq!(crate::block_on(crate::join_all(jobs)), [0, 1, 2]);
        assert!(pool.threads() >= 1);
        eventually("every thread exits", || pool.threads() == 0);
        // And the pool starts threads again afterwards.
        assert_eq!(crate::block_on(pool.unblock(|| 7)), 7);
    }

    #[test]
    fn a_thread_woken_by_a_claim_takes_it_and_still_exits_when_idle() {
        // An idle timeout long enough that the thread is still idle when the second job comes
        // (were the machine to stall for a second, it would be a new thread: the test still
        // passes, it just does not see a claim).
        let pool = pool(4, Duration::from_secs(1));
        let id = || thread::current().id();
        let first = crate::block_on(pool.unblock(id));
        eventually("the thread is idle", || pool.state.lock().idle == 1);
        // The second job claims the idle thread (a wakeup) instead of starting one.
        let second = crate::block_on(pool.unblock(id));
        // The thread took its claim: none is left over to keep it (or another) from timing out.
        assert_eq!(pool.state.lock().wakeups, 0);
        if first == second {
            assert_eq!(pool.threads(), 1);
        }
        eventually("the thread exits", || pool.threads() == 0);
        let state = pool.state.lock();
        assert_eq!((state.idle, state.wakeups), (0, 0));
    }

    #[test]
    fn an_unblock_future_debug_prints_its_name() {
        let pool = pool(1, Duration::from_millis(50));
        let job = pool.unblock(|| 3);
        assert_eq!(format!("{job:?}"), "Unblock { .. }");
        assert_eq!(crate::block_on(job), 3);
    }

    #[test]
    fn a_burst_claims_an_idle_thread_once_and_starts_threads_for_the_rest() {
        let pool = pool(50, Duration::from_secs(20));
        assert_eq!(crate::block_on(pool.unblock(|| 1)), 1);
        eventually("the thread is idle", || pool.state.lock().idle == 1);
        let gate = Gate::new();
        let started = Arc::new(AtomicUsize::new(0));
        let jobs: Vec<_> = (0..10)
            .map(|_| {
                let (g, s) = (gate.clone(), started.clone());
                pool.unblock(move || {
                    s.fetch_add(1, Ordering::SeqCst);
                    g.wait();
                })
            })
            .collect();
        // All ten run at once: the idle thread took one, nine threads were started.
        eventually("ten jobs run at once", || {
            started.load(Ordering::SeqCst) == 10
        });
        assert_eq!(pool.threads(), 10);
        gate.open();
        crate::block_on(crate::join_all(jobs));
    }
}
