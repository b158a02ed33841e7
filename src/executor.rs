//! The executor: a run queue of woken tasks, polled in batches on one thread.
//!
//! [`Executor`] is what [`wisp::block_on`](crate::block_on) uses under the hood, and what people
//! who embed wisp or test async code can drive by hand:
//!
//! ```
//! let ex = wisp::Executor::new();
//! let task = ex.spawn(async { 1 + 1 });
//! assert!(ex.try_tick()); // polls the task once: it completes
//! assert!(!ex.try_tick()); // nothing is ready any more
//! assert_eq!(ex.block_on(task), 2);
//! ```
//!
//! How it runs: a woken task's key goes on the executor's run queue
//! ([`run_queue`](crate::run_queue): thread-local for wakes on this thread, shared for the
//! others). The executor swaps the whole queue out and polls that batch in order; tasks woken
//! meanwhile land in the next batch. So every ready task is polled before any task is polled twice. After
//! [`BUDGET`] polls the reactor gets a zero-timeout turn, so a task that yields forever cannot
//! starve I/O or timers. When nothing is ready the thread sleeps in the reactor
//! ([`reactor::sleep`]) and uses no CPU until a wake-up, an I/O event or a timer.
//!
//! Futures need not be `Send`: they never leave this thread. A [`Spawner`] lets other threads
//! hand `Send` futures to this executor.

mod tasks;

use std::cell::{Cell, OnceCell, RefCell};
use std::future::Future;
use std::panic::Location;
use std::pin::pin;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use crate::current_waker::PollScope;
use crate::io_owner::{IoCount, OwnerGuard};
use crate::reactor;
use crate::run_queue::{LocalGuard, LocalQueue};
use crate::task::{Completion, Header, Injected, SendSpawned, Spawned, Task, TaskQueue};
use crate::time::virtual_clock::{TimerClock, VirtualClock};

use tasks::{Table, TaskInfo, Tasks};

/// How many polls may run between two turns of the reactor. tokio's current_thread uses 61 and
/// async-executor 200; one zero-timeout turn costs about 1.5 us when sockets are registered, so
/// 64 keeps that under 25 ns a poll while no I/O waits more than 64 polls.
pub(crate) const BUDGET: u32 = 64;

/// The waker of the future passed to `block_on`: it only sets a flag, so the executor polls that
/// future exactly when it was woken (as tokio does), and a same-thread self-wake is two atomics.
struct MainWaker {
    woken: AtomicBool,
    queue: Arc<TaskQueue>,
}

impl Wake for MainWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if !self.woken.swap(true, Ordering::SeqCst) {
            self.queue.parker().rouse_now();
        }
    }
}

/// What a test executor adds to an ordinary one: a clock of its own, and what to do when every
/// task waits. Implemented in [`crate::test`]; an ordinary executor has none, and pays one
/// `None` check on its idle path for it.
pub(crate) trait TestHook {
    /// The virtual clock of this executor, for the test kit's own calls (`advance`, `pause`).
    fn clock(&self) -> &Arc<VirtualClock>;
    /// The same clock as timers and `wisp::time::now` see it (see [`TimerClock`] for why not
    /// the clock itself).
    fn timer_clock(&self) -> Arc<dyn TimerClock>;
    /// The count of sockets registered while this executor runs (its own I/O).
    fn io(&self) -> &IoCount;
    /// Nothing is runnable: wait a little for the outside world, move the clock, or panic with a
    /// deadlock report. Returning lets the executor look for work again.
    fn idle(&self, idle: &Idle<'_>);
}

/// What a [`TestHook`] may do while its executor has nothing to run.
pub(crate) struct Idle<'a> {
    ex: &'a Executor,
    main: &'a MainWaker,
}

impl Idle<'_> {
    /// Whether anything is ready to run (or the `block_on` future was woken).
    pub(crate) fn has_work(&self) -> bool {
        self.ex.has_work(self.main)
    }

    /// Sleeps in the reactor for at most `limit` of real time (without a limit if `limit` is
    /// past what an `Instant` can hold, such as `Duration::MAX`). Returns whether work arrived.
    pub(crate) fn sleep_at_most(&self, limit: Duration) -> bool {
        self.ex.sleep_at_most(self.main, limit)
    }

    /// A line for each task still alive: its name and where it was spawned.
    pub(crate) fn alive_tasks(&self) -> Vec<String> {
        self.ex
            .local
            .tasks
            .get()
            .map_or_else(Vec::new, |tasks| tasks.alive_tasks())
    }
}

struct Local {
    queue: Arc<TaskQueue>,
    /// The spawned tasks, made by the first `spawn` or `spawner`: until then `block_on` runs its
    /// future alone, and a program that never spawns links none of the task machinery
    /// (see [`tasks`]). Dropping the table cancels the tasks left; fields drop in declaration
    /// order, so that happens while the rest of the executor (its test hook) is still whole.
    tasks: OnceCell<Box<dyn Tasks>>,
    /// Keys woken on this thread, in wake order (the run queue holds the other threads'), and
    /// the batch being run, swapped out of them in one go.
    queues: LocalQueue,
    /// Polls since the reactor last had a turn.
    polls: Cell<u32>,
    test: Option<Box<dyn TestHook>>,
}

thread_local! {
    /// The executor whose `block_on` (or `try_tick`) runs on this thread, for [`crate::spawn`].
    static CURRENT: RefCell<Option<Executor>> = const { RefCell::new(None) };
    /// Set while a `block_on` runs on this thread, to refuse a nested one.
    static IN_BLOCK_ON: Cell<bool> = const { Cell::new(false) };
}

/// A single-threaded executor. Cheap to clone: clones share the same tasks.
///
/// Dropping the last clone cancels every task still on it (their futures are dropped here).
#[derive(Clone)]
pub struct Executor {
    local: Rc<Local>,
}

impl Default for Executor {
    fn default() -> Self {
        Self::new()
    }
}

impl Executor {
    /// An executor that runs on the calling thread.
    pub fn new() -> Executor {
        Executor::with_test_hook(None)
    }

    pub(crate) fn with_test_hook(test: Option<Box<dyn TestHook>>) -> Executor {
        Executor {
            local: Rc::new(Local {
                queue: Arc::new(TaskQueue::for_current_thread()),
                tasks: OnceCell::new(),
                queues: LocalQueue::default(),
                polls: Cell::new(0),
                test,
            }),
        }
    }

    /// The task table, made on first use (only `spawn_at` and `spawner` call this).
    #[inline]
    fn tasks(&self) -> &dyn Tasks {
        let local = &self.local;
        &**local
            .tasks
            .get_or_init(|| Box::new(Table::new(local.queue.clone())))
    }

    /// Calls `f` with the executor running on this thread, if any.
    pub(crate) fn with_current<R>(f: impl FnOnce(Option<&Executor>) -> R) -> R {
        CURRENT.with(|current| f(current.borrow().as_ref()))
    }

    /// Spawns a task on this executor. The future need not be `Send`.
    ///
    /// The task starts running when the executor next runs (`block_on`, `try_tick`, ...).
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> Task<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        self.spawn_at(future, Location::caller(), None)
    }

    /// [`spawn`](Executor::spawn) with a name, which a test executor's deadlock report shows.
    #[track_caller]
    pub fn spawn_named<F>(&self, name: impl Into<String>, future: F) -> Task<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        self.spawn_at(future, Location::caller(), Some(name.into()))
    }

    #[inline]
    pub(crate) fn spawn_at<F>(
        &self,
        future: F,
        location: &'static Location<'static>,
        name: Option<String>,
    ) -> Task<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let completion = Completion::new();
        let done = completion.clone();
        let info = self
            .local
            .test
            .is_some()
            .then_some(TaskInfo { location, name });
        let header = self.tasks().insert(self, Spawned::new(future, done), info);
        Task::new(header, completion)
    }

    /// A handle other threads use to spawn `Send` futures onto this executor.
    pub fn spawner(&self) -> Spawner {
        // The table adopts what the spawner hands over.
        self.tasks();
        Spawner {
            queue: self.local.queue.clone(),
        }
    }

    /// Runs `future` to completion on this thread, together with every task on this executor.
    ///
    /// # Panics
    ///
    /// When called inside another `block_on` on the same thread (for example from inside a
    /// task): the outer executor would stop while the inner one blocks, so tasks of the outer
    /// one that the inner future waits for could never run, a deadlock (async-std#644).
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        let _guard = BlockOnGuard::enter(self);
        let main = Arc::new(MainWaker {
            woken: AtomicBool::new(true),
            queue: self.local.queue.clone(),
        });
        let waker = Waker::from(main.clone());
        let mut cx = Context::from_waker(&waker);
        let mut future = pin!(future);
        loop {
            // A plain load first: the swap (a read-modify-write) only when it was woken.
            if main.woken.load(Ordering::Relaxed) && main.woken.swap(false, Ordering::SeqCst) {
                let poll = {
                    let _scope = PollScope::enter(&waker);
                    future.as_mut().poll(&mut cx)
                };
                if let Poll::Ready(out) = poll {
                    return out;
                }
                self.count_poll();
            }
            let ran = self
                .local
                .tasks
                .get()
                .map_or(0, |tasks| tasks.run_batch(self));
            if ran == 0 && !main.woken.load(Ordering::SeqCst) {
                if let Some(test) = &self.local.test {
                    test.idle(&Idle {
                        ex: self,
                        main: &main,
                    });
                } else {
                    reactor::sleep(self.local.queue.parker(), || {
                        main.woken.load(Ordering::SeqCst)
                            || !self.local.queues.ready.borrow().is_empty()
                            || self.local.queue.has_remote_work()
                    });
                }
                self.local.polls.set(0);
            }
        }
    }

    /// The same as [`block_on`](Executor::block_on), under the name smol's executors use.
    pub fn run<F: Future>(&self, future: F) -> F::Output {
        self.block_on(future)
    }

    /// Whether anything is ready to run (or the `block_on` future was woken).
    fn has_work(&self, main: &MainWaker) -> bool {
        main.woken.load(Ordering::SeqCst)
            || !self.local.queues.ready.borrow().is_empty()
            || !self.local.queues.batch.borrow().is_empty()
            || self.local.queue.has_remote_work()
    }

    /// Sleeps in the reactor for at most `limit` of real time (without a limit if `limit` is
    /// past what an `Instant` can hold, such as `Duration::MAX`). Returns whether work arrived.
    fn sleep_at_most(&self, main: &MainWaker, limit: Duration) -> bool {
        let alarm = Arc::new(MainWaker {
            woken: AtomicBool::new(false),
            queue: self.local.queue.clone(),
        });
        let waker = Waker::from(alarm.clone());
        let reactor = reactor::get();
        let key = match Instant::now().checked_add(limit) {
            Some(deadline) => match reactor.insert_timer(deadline, &waker) {
                Some(key) => Some(key),
                // The limit has passed already.
                None => return self.has_work(main),
            },
            None => None,
        };
        // One reactor sleep can end with nothing for this executor (an event or a timer of
        // another thread's): sleep again until work or the alarm arrives.
        while !alarm.woken.load(Ordering::SeqCst) && !self.has_work(main) {
            reactor::sleep(self.local.queue.parker(), || {
                alarm.woken.load(Ordering::SeqCst)
                    || main.woken.load(Ordering::SeqCst)
                    || !self.local.queues.ready.borrow().is_empty()
                    || self.local.queue.has_remote_work()
            });
        }
        if let Some(key) = key {
            reactor.remove_timer(key);
        }
        self.has_work(main)
    }

    /// How many tasks this executor holds and how many are ready to run; with a virtual clock,
    /// how many timers wait on it. Waiting tasks are `alive - runnable`.
    pub fn stats(&self) -> Stats {
        let runnable = self.local.queues.ready.borrow().len()
            + self.local.queues.batch.borrow().len()
            + self.local.queue.remote_len();
        Stats {
            alive: self.local.tasks.get().map_or(0, |tasks| tasks.alive()),
            runnable,
            virtual_timers: self.local.test.as_ref().map_or(0, |t| t.clock().pending()),
        }
    }

    /// Runs one ready task, if there is one, without ever blocking. Returns whether it did.
    pub fn try_tick(&self) -> bool {
        let _current = CurrentGuard::enter(self);
        self.local
            .tasks
            .get()
            .is_some_and(|tasks| tasks.try_tick(self))
    }

    /// Runs tasks until none is ready, giving the reactor zero-timeout turns so due timers and
    /// ready sockets count as ready. Never blocks waiting for them.
    pub fn run_until_stalled(&self) {
        loop {
            while self.try_tick() {}
            reactor::turn_now();
            if self.local.queues.ready.borrow().is_empty() && !self.local.queue.has_remote_work() {
                return;
            }
        }
    }

    /// Counts a poll; every [`BUDGET`] polls the reactor gets a zero-timeout turn.
    pub(super) fn count_poll(&self) {
        let polls = self.local.polls.get() + 1;
        if polls >= BUDGET {
            self.local.polls.set(0);
            reactor::turn_now();
        } else {
            self.local.polls.set(polls);
        }
    }
}

/// A snapshot of an executor's tasks, from [`Executor::stats`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stats {
    /// Spawned and not finished (or cancelled) yet.
    pub alive: usize,
    /// Woken and waiting for their turn.
    pub runnable: usize,
    /// Timers pending on a test executor's virtual clock (0 on an ordinary executor).
    pub virtual_timers: usize,
}

/// Calls `f` with the test hook of the executor running on this thread, if it is a test
/// executor.
fn with_current_test<R>(f: impl FnOnce(&dyn TestHook) -> R) -> Option<R> {
    CURRENT
        .try_with(|current| {
            Some(f(current
                .try_borrow()
                .ok()?
                .as_ref()?
                .local
                .test
                .as_deref()?))
        })
        .ok()
        .flatten()
}

/// The clock that timers and `wisp::time::now` follow on this thread: a test executor's
/// virtual clock, or `None` for real time.
pub(crate) fn current_clock() -> Option<Arc<dyn TimerClock>> {
    with_current_test(|test| test.timer_clock())
}

/// The virtual clock of the test executor running on this thread, for the test kit.
pub(crate) fn current_virtual_clock() -> Option<Arc<VirtualClock>> {
    with_current_test(|test| test.clock().clone())
}

/// Sets [`CURRENT`] for the duration of a call and restores the previous value after it.
struct CurrentGuard {
    previous: Option<Executor>,
    /// Wakes of this executor's tasks on this thread go to its local queue meanwhile.
    _local: LocalGuard,
    /// A test executor's: sockets registered meanwhile are its own I/O.
    _io: Option<OwnerGuard>,
}

impl CurrentGuard {
    fn enter(ex: &Executor) -> CurrentGuard {
        let local = ex.local.queue.enter_local(&ex.local.queues);
        let io = ex.local.test.as_ref().map(|test| test.io().enter());
        let previous = CURRENT.with(|c| c.replace(Some(ex.clone())));
        CurrentGuard {
            previous,
            _local: local,
            _io: io,
        }
    }
}

impl Drop for CurrentGuard {
    fn drop(&mut self) {
        let previous = self.previous.take();
        // Dropped after the replaced value is out of the RefCell: an executor's drop may run
        // task destructors that look at CURRENT.
        let _replaced = CURRENT.with(|c| c.replace(previous));
    }
}

/// Marks this thread as inside `block_on`, refusing a nested one.
struct BlockOnGuard {
    _current: CurrentGuard,
    _executor: reactor::ExecutorGuard,
}

impl BlockOnGuard {
    fn enter(ex: &Executor) -> BlockOnGuard {
        if IN_BLOCK_ON.with(|b| b.replace(true)) {
            panic!(
                "wisp: block_on called while this thread is already inside block_on (from a task \
                 or a future it runs). The inner call would block the thread that runs the outer \
                 executor, so tasks the inner future waits for could never run. `.await` the \
                 future instead, or `wisp::spawn` it."
            );
        }
        BlockOnGuard {
            _current: CurrentGuard::enter(ex),
            _executor: reactor::ExecutorGuard::enter(),
        }
    }
}

impl Drop for BlockOnGuard {
    fn drop(&mut self) {
        IN_BLOCK_ON.with(|b| b.set(false));
    }
}

/// A `Send + Clone` handle that spawns `Send` futures onto an [`Executor`] from any thread.
///
/// ```
/// let ex = wisp::Executor::new();
/// let spawner = ex.spawner();
/// let task = std::thread::spawn(move || spawner.spawn(async { 7 })).join().unwrap();
/// assert_eq!(ex.block_on(task), 7);
/// ```
#[derive(Clone)]
pub struct Spawner {
    queue: Arc<TaskQueue>,
}

impl Spawner {
    /// Hands `future` to the executor and wakes it if it sleeps. If the executor is gone the
    /// task is cancelled at once: awaiting it panics, `cancel().await` returns `None`.
    pub fn spawn<F>(&self, future: F) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let completion = Completion::new();
        let done = completion.clone();
        // Its key is set when the executor adopts it; until then it is marked `SCHEDULED`, so
        // nothing queues it.
        let header = Header::new(0, self.queue.clone());
        let job = Injected {
            task: SendSpawned::new_send(future, done),
            header: header.clone(),
        };
        if let Err(job) = self.queue.inject(job) {
            // The executor is gone: the task is cancelled before it ever ran (dropping it
            // drops the future and tells the completion so).
            header.close();
            drop(job);
        }
        Task::new(header, completion)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// The footprint: `block_on` alone never makes the task table (see `tasks`), so a program
    /// that never spawns links none of it; the first spawn makes it.
    #[test]
    fn a_block_on_that_spawns_nothing_makes_no_task_table() {
        let ex = Executor::new();
        assert_eq!(ex.block_on(async { 3 }), 3);
        assert!(ex.local.tasks.get().is_none());
        assert_eq!(ex.stats().alive, 0);
        assert!(!ex.try_tick());
        assert_eq!(ex.block_on(async { crate::spawn(async { 4 }).await }), 4);
        assert!(ex.local.tasks.get().is_some());
    }

    /// A spawner made before anything was spawned: the tasks it hands over still run (it makes
    /// the table that adopts them).
    #[test]
    fn a_spawner_made_before_any_spawn_gets_its_tasks_run() {
        let ex = Executor::new();
        let spawner = ex.spawner();
        let task = std::thread::spawn(move || spawner.spawn(async { 7 }))
            .join()
            .unwrap();
        let out = ex.block_on(crate::time::timeout(Duration::from_secs(10), task));
        assert_eq!(out, Ok(7));
    }
}
