//! The run queue of one executor: the keys of its woken tasks, and the jobs other threads hand
//! it, shared by the executor, its tasks' wakers and its spawners on any thread.
//!
//! Two queues in fact. A wake on the executor's own thread while it runs (the common case)
//! pushes onto a thread-local queue: no lock, no atomic, no syscall ([`RunQueue::enter_local`]).
//! A wake from anywhere else takes the lock, pushes, sets `remote`, and rouses the executor's
//! thread if it sleeps ([`Parker`]: the state is read under the lock, after the push). The
//! executor drains the shared queue only when `remote` is set, so a run whose tasks are woken on
//! its own thread alone never locks.
//!
//! Generic over the job type `J` (a task handed over by a `Spawner`), so that it knows nothing
//! of tasks: task headers push keys onto it, the executor takes batches off it.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use crate::reactor::park::Parker;
use crate::sync::atomic::{AtomicBool, Ordering};
use crate::sync::{Mutex, MutexGuard};

/// The executor's own queues, used on its thread only: `ready` holds the keys of tasks woken on
/// that thread, in wake order; `batch` the keys being run (the executor swaps `ready` into it).
/// One allocation for both keeps the swap as cheap as two fields of one struct.
#[derive(Default)]
pub(crate) struct LocalQueues {
    pub(crate) ready: RefCell<VecDeque<usize>>,
    pub(crate) batch: RefCell<VecDeque<usize>>,
}

pub(crate) type LocalQueue = Rc<LocalQueues>;

struct Shared<J> {
    /// Keys of tasks woken on other threads, in wake order.
    ready: VecDeque<usize>,
    /// Jobs handed over by other threads.
    injected: Vec<J>,
    /// The executor is gone: nothing more may be injected.
    closed: bool,
}

pub(crate) struct RunQueue<J> {
    shared: Mutex<Shared<J>>,
    /// Set (under the lock) when another thread queued something.
    remote: AtomicBool,
    parker: Parker,
}

#[cfg(not(wisp_loom))]
std::thread_local! {
    /// The run queue whose executor runs on this thread (by address, only ever compared), and
    /// that executor's local queue.
    static LOCAL: RefCell<Option<(*const (), LocalQueue)>> = const { RefCell::new(None) };
}

// loom's threads share one OS thread: its own thread-locals keep them apart.
#[cfg(wisp_loom)]
loom::thread_local! {
    static LOCAL: RefCell<Option<(*const (), LocalQueue)>> = RefCell::new(None);
}

impl<J> RunQueue<J> {
    /// The run queue of an executor that runs on the calling thread.
    pub(crate) fn for_current_thread() -> RunQueue<J> {
        RunQueue {
            shared: Mutex::new(Shared {
                ready: VecDeque::new(),
                injected: Vec::new(),
                closed: false,
            }),
            remote: AtomicBool::new(false),
            parker: Parker::for_current_thread(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Shared<J>> {
        self.shared.lock()
    }

    #[inline]
    fn id(&self) -> *const () {
        (self as *const RunQueue<J>).cast()
    }

    /// The sleep state of the executor's thread.
    #[inline]
    pub(crate) fn parker(&self) -> &Parker {
        &self.parker
    }

    /// Makes `local` the queue that wakes of this run queue's tasks on this thread go to, until
    /// the guard drops (then the previous one is back).
    pub(crate) fn enter_local(&self, local: &LocalQueue) -> LocalGuard {
        let previous = LOCAL.with(|l| l.replace(Some((self.id(), local.clone()))));
        LocalGuard { previous }
    }

    /// Queues the key of a woken task and rouses the executor if it sleeps.
    pub(crate) fn push(&self, key: usize) {
        if self.push_local(key) {
            return;
        }
        let mut shared = self.lock();
        shared.ready.push_back(key);
        self.remote.store(true, Ordering::Relaxed);
        // Read under the lock, after the push: see `reactor::park`.
        let sleep = self.parker.state();
        drop(shared);
        self.parker.rouse(sleep);
    }

    /// Pushes `key` on the local queue if this run queue's executor runs on this thread.
    /// Returns `false` (the caller takes the shared path) otherwise, or if the thread-local
    /// state is unavailable (thread exit) or borrowed.
    fn push_local(&self, key: usize) -> bool {
        LOCAL
            .try_with(|local| {
                let Ok(local) = local.try_borrow() else {
                    return false;
                };
                match local.as_ref() {
                    Some((id, queues)) if *id == self.id() => match queues.ready.try_borrow_mut() {
                        Ok(mut ready) => {
                            ready.push_back(key);
                            true
                        }
                        Err(_) => false,
                    },
                    _ => false,
                }
            })
            .unwrap_or(false)
    }

    /// Hands `job` to the executor and rouses it; gives it back if the executor is gone.
    pub(crate) fn inject(&self, job: J) -> Result<(), J> {
        let mut shared = self.lock();
        if shared.closed {
            return Err(job);
        }
        shared.injected.push(job);
        self.remote.store(true, Ordering::Relaxed);
        let sleep = self.parker.state();
        drop(shared);
        self.parker.rouse(sleep);
        Ok(())
    }

    /// Whether another thread queued a key or a job not taken yet; the executor's last look
    /// before it sleeps.
    pub(crate) fn has_remote_work(&self) -> bool {
        let shared = self.lock();
        !shared.ready.is_empty() || !shared.injected.is_empty()
    }

    /// How many keys other threads queued that are not taken yet.
    pub(crate) fn remote_len(&self) -> usize {
        self.lock().ready.len()
    }

    /// Whether another thread queued something since the last [`take_remote`](Self::take_remote):
    /// one atomic load, so that a run whose wakes all come from its own thread never locks.
    #[inline]
    pub(crate) fn remote_pending(&self) -> bool {
        self.remote.load(Ordering::Acquire)
    }

    /// Moves the keys other threads queued onto the end of `batch` and returns their jobs; takes
    /// the lock only if `remote` is set.
    #[inline]
    pub(crate) fn take_remote(&self, batch: &mut VecDeque<usize>) -> Vec<J> {
        if !self.remote_pending() {
            return Vec::new();
        }
        let mut shared = self.lock();
        self.remote.store(false, Ordering::Relaxed);
        batch.extend(shared.ready.drain(..));
        std::mem::take(&mut shared.injected)
    }

    /// Refuses every later job and returns those not taken yet: the executor is going away.
    pub(crate) fn close(&self) -> Vec<J> {
        let mut shared = self.lock();
        shared.closed = true;
        std::mem::take(&mut shared.injected)
    }
}

/// Restores the previous local queue of this thread when dropped.
pub(crate) struct LocalGuard {
    previous: Option<(*const (), LocalQueue)>,
}

impl Drop for LocalGuard {
    fn drop(&mut self) {
        let previous = self.previous.take();
        let _replaced = LOCAL.with(|l| l.replace(previous));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_push_on_the_executors_thread_goes_to_the_local_queue() {
        let queue = RunQueue::<()>::for_current_thread();
        let local = LocalQueue::default();
        let guard = queue.enter_local(&local);
        queue.push(3);
        assert_eq!(
            local.ready.borrow().iter().copied().collect::<Vec<_>>(),
            [3]
        );
        assert!(!queue.has_remote_work());
        drop(guard);
        // Outside the executor's run the same push takes the shared path.
        queue.push(4);
        assert_eq!(local.ready.borrow().len(), 1);
        assert!(queue.has_remote_work());
        let mut batch = VecDeque::new();
        assert!(queue.take_remote(&mut batch).is_empty());
        assert_eq!(batch, [4]);
        assert!(!queue.has_remote_work());
    }

    #[test]
    fn another_run_queues_local_queue_is_not_used() {
        let mine = RunQueue::<()>::for_current_thread();
        let other = RunQueue::<()>::for_current_thread();
        let local = LocalQueue::default();
        let _guard = other.enter_local(&local);
        mine.push(1);
        assert!(local.ready.borrow().is_empty());
        assert_eq!(mine.remote_len(), 1);
    }

    #[test]
    fn a_push_from_another_thread_is_remote_and_in_order() {
        let queue = std::sync::Arc::new(RunQueue::<()>::for_current_thread());
        let local = LocalQueue::default();
        let _guard = queue.enter_local(&local);
        let q = queue.clone();
        std::thread::spawn(move || {
            q.push(1);
            q.push(2);
        })
        .join()
        .unwrap();
        assert!(local.ready.borrow().is_empty());
        let mut batch = VecDeque::from([0]);
        queue.take_remote(&mut batch);
        assert_eq!(batch, [0, 1, 2]);
    }

    #[test]
    fn jobs_are_refused_once_closed_and_the_pending_ones_returned() {
        let queue = RunQueue::<&str>::for_current_thread();
        assert_eq!(queue.inject("a"), Ok(()));
        assert!(queue.has_remote_work());
        assert_eq!(queue.close(), ["a"]);
        assert_eq!(queue.inject("b"), Err("b"));
        assert!(!queue.has_remote_work());
    }
}
