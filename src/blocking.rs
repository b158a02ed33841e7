//! A small, bounded pool of threads for calls that block (name resolution), so they never run
//! on an executor's thread.
//!
//! `getaddrinfo` has no non-blocking form; running it on the loop stalls every other task for
//! as long as a DNS server takes to answer (httrack#606). At most [`MAX_THREADS`] threads run
//! jobs; they start on demand and exit after [`IDLE`] without work. A job whose result nobody
//! awaits any more (its future was dropped, e.g. by a timeout) still runs to its end, harmlessly:
//! its result is dropped.

use std::collections::VecDeque;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::Duration;

/// Upper bound on pool threads: enough for a crawler's lookups to overlap, small enough that a
/// flood of lookups queues instead of spawning without bound.
const MAX_THREADS: usize = 8;
/// How long an idle pool thread waits for work before it exits.
const IDLE: Duration = Duration::from_secs(10);

type Job = Box<dyn FnOnce() + Send>;

#[derive(Default)]
struct PoolState {
    queue: VecDeque<Job>,
    threads: usize,
    idle: usize,
}

struct Pool {
    state: Mutex<PoolState>,
    work: Condvar,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

static POOL: Pool = Pool {
    state: Mutex::new(PoolState {
        queue: VecDeque::new(),
        threads: 0,
        idle: 0,
    }),
    work: Condvar::new(),
};

/// The result slot a pool job fills and its future reads.
struct Slot<T> {
    value: Option<std::thread::Result<T>>,
    waker: Option<Waker>,
}

/// Runs `f` on the pool; the returned future resolves to its result.
pub(crate) fn unblock<T, F>(f: F) -> Unblock<T>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let slot = Arc::new(Mutex::new(Slot {
        value: None,
        waker: None,
    }));
    let filled = slot.clone();
    let job: Job = Box::new(move || {
        let value = catch_unwind(AssertUnwindSafe(f));
        let waker = {
            let mut slot = lock(&filled);
            slot.value = Some(value);
            slot.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    });
    let mut state = lock(&POOL.state);
    state.queue.push_back(job);
    if state.idle > 0 {
        POOL.work.notify_one();
    } else if state.threads < MAX_THREADS {
        let spawned = thread::Builder::new()
            .name("wisp-blocking".into())
            .spawn(worker);
        if spawned.is_ok() {
            state.threads += 1;
        }
        // If no thread could be started, the job waits for a running one; if there is none it
        // is run inline below as a last resort rather than lost.
    }
    if state.threads == 0 {
        let job = state.queue.pop_back();
        drop(state);
        if let Some(job) = job {
            job();
        }
    }
    Unblock { slot }
}

fn worker() {
    let mut state = lock(&POOL.state);
    loop {
        if let Some(job) = state.queue.pop_front() {
            drop(state);
            job();
            state = lock(&POOL.state);
            continue;
        }
        state.idle += 1;
        let (next, timeout) = POOL
            .work
            .wait_timeout(state, IDLE)
            .unwrap_or_else(|p| p.into_inner());
        state = next;
        state.idle -= 1;
        if timeout.timed_out() && state.queue.is_empty() {
            state.threads -= 1;
            return;
        }
    }
}

/// The future of an [`unblock`] job.
pub(crate) struct Unblock<T> {
    slot: Arc<Mutex<Slot<T>>>,
}

impl<T> Future for Unblock<T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let mut slot = lock(&self.slot);
        match slot.value.take() {
            Some(Ok(value)) => Poll::Ready(value),
            Some(Err(panic)) => std::panic::resume_unwind(panic),
            None => {
                slot.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}
