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

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::panic::Location;
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use crate::current_waker::PollScope;
use crate::io_owner::{IoCount, OwnerGuard};
use crate::reactor;
use crate::run_queue::{LocalGuard, LocalQueue};
use crate::slab::Slab;
use crate::task::{self, Completion, Header, Injected, Task, TaskQueue};
use crate::time::virtual_clock::VirtualClock;

/// How many polls may run between two turns of the reactor. tokio's current_thread uses 61 and
/// async-executor 200; one zero-timeout turn costs about 1.5 us when sockets are registered, so
/// 64 keeps that under 25 ns a poll while no I/O waits more than 64 polls.
pub(crate) const BUDGET: u32 = 64;

type LocalFuture = Pin<Box<dyn Future<Output = ()>>>;
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

/// Where and under what name a task was spawned, kept only by test executors (for the
/// deadlock report), in a table beside the slab, so ordinary tasks pay nothing for it.
pub(crate) struct TaskInfo {
    pub(crate) location: &'static Location<'static>,
    pub(crate) name: Option<String>,
}

/// A task's slot on the executor's thread.
///
/// While the task is polled, its future and waker are out of the slot (`None`, and a no-op
/// waker), so that the slab is not borrowed during the poll (which may spawn); the header stays
/// and is read before and after. The `Option` is on the future rather than around the slot:
/// the free-list tag of the slab then fits in the header pointer's niche, and a slab entry is
/// 40 bytes instead of 48.
struct Slot {
    future: Option<LocalFuture>,
    header: Arc<Header>,
    waker: Waker,
}

/// What a test executor adds to an ordinary one: a clock of its own, and what to do when every
/// task waits. Implemented in [`crate::test`]; an ordinary executor has none, and pays one
/// `None` check on its idle path for it.
pub(crate) trait TestHook {
    /// The virtual clock that `wisp::time::now` and timers read on this executor.
    fn clock(&self) -> &Arc<VirtualClock>;
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
        let tasks = self.ex.local.tasks.borrow();
        let infos = self.ex.local.infos.borrow();
        tasks
            .iter()
            .map(
                |slot| match infos.get(slot.header.key()).and_then(Option::as_ref) {
                    Some(info) => match &info.name {
                        Some(name) => format!("  - task {name:?}, spawned at {}", info.location),
                        None => format!("  - a task spawned at {}", info.location),
                    },
                    None => "  - a task handed over by a Spawner".to_string(),
                },
            )
            .collect()
    }
}

struct Local {
    queue: Arc<TaskQueue>,
    /// The tasks, by key (see [`Slot`] for what a running task leaves here).
    tasks: RefCell<Slab<Slot>>,
    /// A test executor's: by slab key, where the task in that slot was spawned (`None` for a
    /// task from a `Spawner`); set whenever a task is adopted, so a reused key never shows the
    /// previous task's. Always empty on an ordinary executor.
    infos: RefCell<Vec<Option<TaskInfo>>>,
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
                tasks: RefCell::new(Slab::default()),
                infos: RefCell::new(Vec::new()),
                queues: LocalQueue::default(),
                polls: Cell::new(0),
                test,
            }),
        }
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
        let key = self.local.tasks.borrow().vacant_key();
        let header = Header::new(key, self.local.queue.clone());
        let done = completion.clone();
        let info = self
            .local
            .test
            .is_some()
            .then_some(TaskInfo { location, name });
        self.adopt(Box::pin(task::run(future, done)), header.clone(), info);
        Task::new(header, completion)
    }

    /// Puts a future in the slab and on the run queue. `header` is already marked `SCHEDULED`.
    fn adopt(&self, future: LocalFuture, header: Arc<Header>, info: Option<TaskInfo>) {
        let waker = Waker::from(header.clone());
        let key = header.key();
        if self.local.test.is_some() {
            let mut infos = self.local.infos.borrow_mut();
            if infos.len() <= key {
                infos.resize_with(key + 1, || None);
            }
            infos[key] = info;
        }
        let slot = Slot {
            future: Some(future),
            header,
            waker,
        };
        let inserted = self.local.tasks.borrow_mut().insert(slot);
        debug_assert_eq!(inserted, key);
        self.local.queues.ready.borrow_mut().push_back(key);
    }

    /// A handle other threads use to spawn `Send` futures onto this executor.
    pub fn spawner(&self) -> Spawner {
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
            let ran = self.run_batch();
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
            alive: self.local.tasks.borrow().len(),
            runnable,
            virtual_timers: self.local.test.as_ref().map_or(0, |t| t.clock().pending()),
        }
    }

    /// Runs one ready task, if there is one, without ever blocking. Returns whether it did.
    pub fn try_tick(&self) -> bool {
        let _current = CurrentGuard::enter(self);
        match self.next_key() {
            Some(key) => {
                self.poll_task(key);
                true
            }
            None => false,
        }
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

    /// Polls every task in the current batch (taking a new batch from the queue if the last one
    /// is done). Returns how many polls ran.
    fn run_batch(&self) -> usize {
        self.refill();
        let mut ran = 0;
        loop {
            let key = self.local.queues.batch.borrow_mut().pop_front();
            let Some(key) = key else { return ran };
            self.poll_task(key);
            self.count_poll();
            ran += 1;
        }
    }

    /// Counts a poll; every [`BUDGET`] polls the reactor gets a zero-timeout turn.
    fn count_poll(&self) {
        let polls = self.local.polls.get() + 1;
        if polls >= BUDGET {
            self.local.polls.set(0);
            reactor::turn_now();
        } else {
            self.local.polls.set(polls);
        }
    }

    fn next_key(&self) -> Option<usize> {
        if self.local.queues.batch.borrow().is_empty() {
            self.refill();
        }
        self.local.queues.batch.borrow_mut().pop_front()
    }

    /// Moves the local queue, then the shared one, into the batch, and adopts tasks from
    /// spawners. The lock is taken only if another thread queued something.
    fn refill(&self) {
        let injected = {
            let mut batch = self.local.queues.batch.borrow_mut();
            if !batch.is_empty() {
                return;
            }
            {
                // Swapped only when there is something to take: a `block_on` future that wakes
                // itself (no task) skips it.
                let mut ready = self.local.queues.ready.borrow_mut();
                if !ready.is_empty() {
                    std::mem::swap(&mut *ready, &mut *batch);
                }
            }
            if !self.local.queue.remote_pending() {
                return;
            }
            self.local.queue.take_remote(&mut batch)
        };
        for job in injected {
            job.header.set_key(self.local.tasks.borrow().vacant_key());
            self.adopt(job.future, job.header, None);
        }
    }

    /// Polls the task in slot `key` once (or drops it if it was cancelled).
    ///
    /// The future and the waker are moved out of the slab for the poll (the future may spawn,
    /// which needs the slab) and back after: no reference count is touched on this path.
    fn poll_task(&self, key: usize) {
        let (mut future, waker) = {
            let mut tasks = self.local.tasks.borrow_mut();
            let Some(slot) = tasks.get_mut(key) else {
                return;
            };
            let Some(future) = slot.future.take() else {
                return;
            };
            if !slot.header.begin_poll() {
                // Cancelled: closed now.
                tasks.remove(key);
                drop(tasks);
                // Dropped outside the slab borrow: its destructor may cancel other tasks.
                // Dropping it tells the task's `Completion` that it was cancelled, and cannot
                // unwind: `task::run` drops the user's future under `catch_unwind`.
                drop(future);
                return;
            }
            // A no-op waker costs nothing to make (no allocation, no reference count).
            (
                future,
                std::mem::replace(&mut slot.waker, Waker::noop().clone()),
            )
        };
        let mut cx = Context::from_waker(&waker);
        // A panic cannot escape: `task::run` catches it around the user's future.
        let poll = {
            let _scope = PollScope::enter(&waker);
            future.as_mut().poll(&mut cx)
        };
        let mut tasks = self.local.tasks.borrow_mut();
        match poll {
            Poll::Pending => {
                let slot = tasks.get_mut(key).expect("a running task keeps its slot");
                slot.future = Some(future);
                slot.waker = waker;
                let requeue = slot.header.end_poll();
                drop(tasks);
                if requeue {
                    // Woken (or cancelled) while it ran: it goes to the back, into the next batch.
                    self.local.queue.push(key);
                }
            }
            Poll::Ready(()) => {
                let slot = tasks.remove(key).expect("a running task keeps its slot");
                drop(tasks);
                slot.header.close();
                drop(future);
                drop(slot);
            }
        }
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        let injected = self.queue.close();
        // Dropping a task's future tells its `Completion` that it was cancelled (or that its
        // destructor panicked); it never unwinds, so one bad destructor cannot stop the others
        // (or abort the process with a second panic during the unwinding).
        drop(injected);
        let slots: Vec<Slot> = self.tasks.get_mut().drain().collect();
        for slot in slots {
            slot.header.close();
            drop(slot.future);
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

/// The virtual clock of the test executor running on this thread, if any.
pub(crate) fn current_clock() -> Option<Arc<VirtualClock>> {
    CURRENT
        .try_with(|current| {
            current
                .try_borrow()
                .ok()?
                .as_ref()?
                .local
                .test
                .as_ref()
                .map(|t| t.clock().clone())
        })
        .ok()
        .flatten()
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
            future: Box::pin(task::run(future, done)),
            header: header.clone(),
        };
        if let Err(job) = self.queue.inject(job) {
            // The executor is gone: the task is cancelled before it ever ran.
            header.close();
            completion.cancelled();
            drop(job);
        }
        Task::new(header, completion)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every task has a slab entry: the free-list tag shares the header pointer's niche
    /// (40 bytes, where an `Option` around the slot made it 48).
    #[test]
    fn a_task_slab_entry_is_five_words() {
        assert_eq!(Slab::<Slot>::ENTRY_SIZE, 40);
    }
}
