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
//! How it runs: a woken task's key goes on the shared run queue (a `Mutex<VecDeque>`). The
//! executor swaps the whole queue out and polls that batch in order; tasks woken meanwhile land
//! in the next batch. So every ready task is polled before any task is polled twice. After
//! [`BUDGET`] polls the reactor gets a zero-timeout turn, so a task that yields forever cannot
//! starve I/O or timers. When nothing is ready the thread sleeps in the reactor
//! ([`reactor::sleep`]) and uses no CPU until a wake-up, an I/O event or a timer.
//!
//! Futures need not be `Send`: they never leave this thread. A [`Spawner`] lets other threads
//! hand `Send` futures to this executor.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::panic::Location;
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use crate::current_waker::PollScope;
use crate::reactor;
use crate::slab::Slab;
use crate::sync::{Mutex, MutexGuard};
use crate::task::{self, CANCEL, CLOSED, Completion, Header, RUNNING, SCHEDULED, Task};
use crate::time::virtual_clock::VirtualClock;

/// How many polls may run between two turns of the reactor. tokio's current_thread uses 61 and
/// async-executor 200; one zero-timeout turn costs about 1.5 us when sockets are registered, so
/// 64 keeps that under 25 ns a poll while no I/O waits more than 64 polls.
pub(crate) const BUDGET: u32 = 64;

/// What the executor's thread is doing, so a waker knows whether (and how) to rouse it.
pub(crate) const AWAKE: u8 = 0;
/// Asleep inside the reactor's `Poller::wait`: wake it with `Poller::notify`.
pub(crate) const IN_POLLER: u8 = 1;
/// Parked while another thread drives the reactor: wake it with `Thread::unpark`.
pub(crate) const PARKED: u8 = 2;

type LocalFuture = Pin<Box<dyn Future<Output = ()>>>;
type SendFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A task spawned from another thread, waiting to be adopted by the executor's thread.
struct Injected {
    future: SendFuture,
    /// Created by the spawner (marked `SCHEDULED`, so nothing queues it early); its key is set
    /// on adoption.
    header: Arc<Header>,
}

#[derive(Default)]
struct Queue {
    /// Keys of tasks to poll, in wake order.
    ready: VecDeque<usize>,
    /// Tasks handed over by a [`Spawner`].
    injected: Vec<Injected>,
    /// The executor is gone: spawners must cancel what they would inject.
    closed: bool,
}

/// The part of an executor that wakers and spawners on any thread share.
pub(crate) struct Shared {
    queue: Mutex<Queue>,
    /// Set (under the lock) when another thread queued something: the executor takes the lock
    /// only when it is set, so a run that wakes its tasks only from its own thread never locks.
    remote: AtomicBool,
    /// One of [`AWAKE`], [`IN_POLLER`], [`PARKED`].
    pub(crate) sleep: AtomicU8,
    /// The executor's thread, to unpark it.
    thread: Thread,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock()
    }

    /// Queues a woken task and rouses the executor if it sleeps.
    ///
    /// On the executor's own thread (while it runs) the key goes on its local queue: no lock, no
    /// atomic, no syscall. From anywhere else it goes on the shared queue under the lock.
    pub(crate) fn push(&self, key: usize) {
        if push_local(self, key) {
            return;
        }
        let mut queue = self.lock();
        queue.ready.push_back(key);
        self.remote.store(true, Ordering::Relaxed);
        // Read under the lock: the executor sets `sleep` before it looks at the queue, so either
        // it sees this key or this read sees that it sleeps.
        let sleep = self.sleep.load(Ordering::SeqCst);
        drop(queue);
        self.rouse(sleep);
    }

    /// Wakes the executor's thread out of the given sleep state. A wake on the executor's own
    /// thread always finds it `AWAKE` and costs no syscall.
    pub(crate) fn rouse(&self, sleep: u8) {
        match sleep {
            AWAKE => {}
            IN_POLLER => reactor::get().notify(),
            _ => self.thread.unpark(),
        }
    }

    /// Whether anything is waiting to run; called by the executor just before it sleeps.
    pub(crate) fn has_work(&self) -> bool {
        let queue = self.lock();
        !queue.ready.is_empty() || !queue.injected.is_empty()
    }
}

/// Pushes `key` on the local queue of `shared`'s executor if that executor is the one running
/// on this thread. Returns `false` (the caller takes the shared path) otherwise, or if the
/// thread-local state is unavailable (thread exit) or borrowed.
fn push_local(shared: &Shared, key: usize) -> bool {
    CURRENT
        .try_with(|current| {
            let Ok(current) = current.try_borrow() else {
                return false;
            };
            match current.as_ref() {
                Some(ex) if std::ptr::eq(Arc::as_ptr(&ex.local.shared), shared) => {
                    match ex.local.ready.try_borrow_mut() {
                        Ok(mut ready) => {
                            ready.push_back(key);
                            true
                        }
                        Err(_) => false,
                    }
                }
                _ => false,
            }
        })
        .unwrap_or(false)
}

/// The waker of the future passed to `block_on`: it only sets a flag, so the executor polls that
/// future exactly when it was woken (as tokio does), and a same-thread self-wake is two atomics.
struct MainWaker {
    woken: AtomicBool,
    shared: Arc<Shared>,
}

impl Wake for MainWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if !self.woken.swap(true, Ordering::SeqCst) {
            self.shared.rouse(self.shared.sleep.load(Ordering::SeqCst));
        }
    }
}

/// A task's slot on the executor's thread.
/// Where and under what name a task was spawned, kept only by test executors (for the
/// deadlock report), so ordinary tasks pay one null pointer for it.
pub(crate) struct TaskInfo {
    pub(crate) location: &'static Location<'static>,
    pub(crate) name: Option<String>,
}

struct Slot {
    future: LocalFuture,
    header: Arc<Header>,
    waker: Waker,
    info: Option<Box<TaskInfo>>,
}

/// What a test executor adds: a virtual clock and how long to wait for the outside world.
pub(crate) struct TestMode {
    pub(crate) clock: Arc<VirtualClock>,
    /// Before the clock jumps while sockets are registered, how long real I/O may still arrive.
    pub(crate) io_grace: Duration,
    /// With nothing runnable and no timer pending, how long another thread may still wake a
    /// task before the run is declared a deadlock.
    pub(crate) deadlock_grace: Duration,
}

struct Local {
    shared: Arc<Shared>,
    /// `None` while the task is being polled: its slot is moved out so that the slab is not
    /// borrowed during the poll (which may spawn), and the key stays reserved.
    tasks: RefCell<Slab<Option<Slot>>>,
    /// Keys woken on this thread, in wake order (the shared queue holds the other threads').
    ready: RefCell<VecDeque<usize>>,
    /// The batch being run, swapped out of the shared queue in one go.
    batch: RefCell<VecDeque<usize>>,
    /// Polls since the reactor last had a turn.
    polls: Cell<u32>,
    test: Option<TestMode>,
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
        Executor::with_test_mode(None)
    }

    pub(crate) fn with_test_mode(test: Option<TestMode>) -> Executor {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            remote: AtomicBool::new(false),
            sleep: AtomicU8::new(AWAKE),
            thread: thread::current(),
        });
        Executor {
            local: Rc::new(Local {
                shared,
                tasks: RefCell::new(Slab::default()),
                ready: RefCell::new(VecDeque::new()),
                batch: RefCell::new(VecDeque::new()),
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
        let header = Header::new(key, self.local.shared.clone());
        let done = completion.clone();
        let info = self
            .local
            .test
            .is_some()
            .then(|| Box::new(TaskInfo { location, name }));
        self.adopt(Box::pin(task::run(future, done)), header.clone(), info);
        Task::new(header, completion)
    }

    /// Puts a future in the slab and on the run queue. `header` is already marked `SCHEDULED`.
    fn adopt(&self, future: LocalFuture, header: Arc<Header>, info: Option<Box<TaskInfo>>) {
        let waker = Waker::from(header.clone());
        let key = header.key();
        let slot = Slot {
            future,
            header,
            waker,
            info,
        };
        let inserted = self.local.tasks.borrow_mut().insert(Some(slot));
        debug_assert_eq!(inserted, key);
        self.local.ready.borrow_mut().push_back(key);
    }

    /// A handle other threads use to spawn `Send` futures onto this executor.
    pub fn spawner(&self) -> Spawner {
        Spawner {
            shared: self.local.shared.clone(),
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
            shared: self.local.shared.clone(),
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
                    self.idle_in_test(test, &main);
                } else {
                    reactor::sleep(&self.local.shared, || {
                        main.woken.load(Ordering::SeqCst) || !self.local.ready.borrow().is_empty()
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
            || !self.local.ready.borrow().is_empty()
            || !self.local.batch.borrow().is_empty()
            || self.local.shared.has_work()
    }

    /// Sleeps in the reactor for at most `limit` of real time (without a limit if `limit` is
    /// past what an `Instant` can hold, such as `Duration::MAX`). Returns whether work arrived.
    fn sleep_at_most(&self, main: &MainWaker, limit: Duration) -> bool {
        let alarm = Arc::new(MainWaker {
            woken: AtomicBool::new(false),
            shared: self.local.shared.clone(),
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
            reactor::sleep(&self.local.shared, || {
                alarm.woken.load(Ordering::SeqCst)
                    || main.woken.load(Ordering::SeqCst)
                    || !self.local.ready.borrow().is_empty()
            });
        }
        if let Some(key) = key {
            reactor.remove_timer(key);
        }
        self.has_work(main)
    }

    /// A test executor with nothing to run: let real I/O and other threads have their say, then
    /// jump the virtual clock to the next deadline; with no deadline either, it is a deadlock.
    fn idle_in_test(&self, test: &TestMode, main: &MainWaker) {
        reactor::turn_now();
        if self.has_work(main) {
            return;
        }
        let clock = &test.clock;
        match clock.next_deadline() {
            Some(deadline) if !clock.is_paused() => {
                // A socket may still have an answer on its way: give it `io_grace` of real time
                // before time jumps past the deadlines that would otherwise time it out.
                if reactor::get().has_io_sources() && self.sleep_at_most(main, test.io_grace) {
                    return;
                }
                clock.advance_to(deadline);
            }
            _ => {
                if self.sleep_at_most(main, test.deadlock_grace) {
                    return;
                }
                panic!("{}", self.deadlock_report(test));
            }
        }
    }

    fn deadlock_report(&self, test: &TestMode) -> String {
        let tasks = self.local.tasks.borrow();
        let alive: Vec<String> = tasks
            .iter()
            .filter_map(|slot| slot.as_ref())
            .map(|slot| match &slot.info {
                Some(info) => match &info.name {
                    Some(name) => format!("  - task {name:?}, spawned at {}", info.location),
                    None => format!("  - a task spawned at {}", info.location),
                },
                None => "  - a task handed over by a Spawner".to_string(),
            })
            .collect();
        let paused = if test.clock.is_paused() {
            " The virtual clock is paused, so pending timers cannot fire."
        } else {
            ""
        };
        format!(
            "wisp::test: deadlock: the future given to block_on can never complete. No task is \
             runnable, no timer is pending ({} paused timers), and nothing woke a task for {:?} \
             of real time.{paused} {} task(s) alive:\n{}",
            if test.clock.is_paused() {
                test.clock.pending()
            } else {
                0
            },
            test.deadlock_grace,
            alive.len(),
            alive.join("\n")
        )
    }

    /// How many tasks this executor holds and how many are ready to run; with a virtual clock,
    /// how many timers wait on it. Waiting tasks are `alive - runnable`.
    pub fn stats(&self) -> Stats {
        let runnable = self.local.ready.borrow().len()
            + self.local.batch.borrow().len()
            + self.local.shared.lock().ready.len();
        Stats {
            alive: self.local.tasks.borrow().len(),
            runnable,
            virtual_timers: self.local.test.as_ref().map_or(0, |t| t.clock.pending()),
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
            if self.local.ready.borrow().is_empty() && !self.local.shared.has_work() {
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
            let key = self.local.batch.borrow_mut().pop_front();
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
        if self.local.batch.borrow().is_empty() {
            self.refill();
        }
        self.local.batch.borrow_mut().pop_front()
    }

    /// Moves the local queue, then the shared one, into the batch, and adopts tasks from
    /// spawners. The lock is taken only if another thread queued something.
    fn refill(&self) {
        let injected = {
            let mut batch = self.local.batch.borrow_mut();
            if !batch.is_empty() {
                return;
            }
            std::mem::swap(&mut *self.local.ready.borrow_mut(), &mut *batch);
            let shared = &self.local.shared;
            if !shared.remote.load(Ordering::Acquire) {
                return;
            }
            let mut queue = shared.lock();
            shared.remote.store(false, Ordering::Relaxed);
            batch.extend(queue.ready.drain(..));
            std::mem::take(&mut queue.injected)
        };
        for job in injected {
            job.header.set_key(self.local.tasks.borrow().vacant_key());
            self.adopt(job.future, job.header, None);
        }
    }

    /// Polls the task in slot `key` once (or drops it if it was cancelled).
    ///
    /// The slot is moved out of the slab for the poll (the future may spawn, which needs the
    /// slab) and moved back after: no reference count is touched on this path.
    fn poll_task(&self, key: usize) {
        let taken = self
            .local
            .tasks
            .borrow_mut()
            .get_mut(key)
            .and_then(Option::take);
        let Some(mut slot) = taken else {
            return;
        };
        // A queued task always has `SCHEDULED` set and `RUNNING` clear (only this thread sets
        // `RUNNING`), so one `xor` clears the first and sets the second.
        let state = slot
            .header
            .state
            .fetch_xor(SCHEDULED | RUNNING, Ordering::AcqRel);
        debug_assert_eq!(state & (SCHEDULED | RUNNING), SCHEDULED);
        if state & CANCEL != 0 {
            slot.header.state.store(CLOSED, Ordering::Release);
            self.local.tasks.borrow_mut().remove(key);
            // Dropped outside the slab borrow: its destructor may cancel other tasks. Dropping it
            // tells the task's `Completion` that it was cancelled, and cannot unwind:
            // `task::run` drops the user's future under `catch_unwind`.
            drop(slot.future);
            return;
        }
        let mut cx = Context::from_waker(&slot.waker);
        // A panic cannot escape: `task::run` catches it around the user's future.
        let poll = {
            let _scope = PollScope::enter(&slot.waker);
            slot.future.as_mut().poll(&mut cx)
        };
        match poll {
            Poll::Pending => {
                let before = slot.header.state.fetch_and(!RUNNING, Ordering::AcqRel);
                let requeue = before & SCHEDULED != 0;
                *self
                    .local
                    .tasks
                    .borrow_mut()
                    .get_mut(key)
                    .expect("a running task keeps its slot") = Some(slot);
                if requeue {
                    // Woken (or cancelled) while it ran: it goes to the back, into the next batch.
                    self.local.shared.push(key);
                }
            }
            Poll::Ready(()) => {
                slot.header.state.store(CLOSED, Ordering::Release);
                self.local.tasks.borrow_mut().remove(key);
                drop(slot.future);
            }
        }
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        let injected = {
            let mut queue = self.shared.lock();
            queue.closed = true;
            std::mem::take(&mut queue.injected)
        };
        // Dropping a task's future tells its `Completion` that it was cancelled (or that its
        // destructor panicked); it never unwinds, so one bad destructor cannot stop the others
        // (or abort the process with a second panic during the unwinding).
        drop(injected);
        let slots: Vec<Slot> = self.tasks.get_mut().drain().flatten().collect();
        for slot in slots {
            slot.header.state.store(CLOSED, Ordering::Release);
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
                .map(|t| t.clock.clone())
        })
        .ok()
        .flatten()
}

/// Sets [`CURRENT`] for the duration of a call and restores the previous value after it.
struct CurrentGuard {
    previous: Option<Executor>,
}

impl CurrentGuard {
    fn enter(ex: &Executor) -> CurrentGuard {
        let previous = CURRENT.with(|c| c.replace(Some(ex.clone())));
        CurrentGuard { previous }
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
    shared: Arc<Shared>,
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
        let header = Header::new(usize::MAX, self.shared.clone());
        let job = Injected {
            future: Box::pin(task::run(future, done)),
            header: header.clone(),
        };
        let mut queue = self.shared.lock();
        if queue.closed {
            drop(queue);
            header.state.store(CLOSED, Ordering::Release);
            completion.cancelled();
            return Task::new(header, completion);
        }
        queue.injected.push(job);
        self.shared.remote.store(true, Ordering::Relaxed);
        let sleep = self.shared.sleep.load(Ordering::SeqCst);
        drop(queue);
        self.shared.rouse(sleep);
        Task::new(header, completion)
    }
}
