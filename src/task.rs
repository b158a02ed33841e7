//! A spawned task: its scheduling state, its result, and the [`Task`] handle a user awaits.
//!
//! A task is split in three so that no `unsafe` is needed to let a `!Send` future be woken from
//! any thread:
//!
//! - the **future** itself stays in its executor's slab, on the executor's thread, boxed once as
//!   it is (a [`TaskFuture`], with its completion: [`Spawned`]);
//! - the [`Header`] (`Send + Sync`, behind an `Arc`) is the task's [`Waker`]: a small atomic state
//!   word and the key of the task's slot. Waking only flips a bit and pushes that key on the
//!   executor's run queue; it never polls (a waker called under a lock the task takes would
//!   deadlock otherwise, see ngx-rust#295);
//! - the [`Completion`] (behind an `Arc`) holds the output, a panic, or the news of cancellation,
//!   and the waker of whoever awaits the [`Task`] handle. `Task<T>` is `Send` exactly when `T` is.
//!
//! ```
//! let answer = wisp::block_on(async {
//!     let task = wisp::spawn(async { 6 * 7 });
//!     task.await
//! });
//! assert_eq!(answer, 42);
//! ```

use std::any::Any;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use crate::run_queue::RunQueue;
use crate::sync::atomic::{AtomicU8, AtomicU32, Ordering};
use crate::sync::{Mutex, MutexGuard};

/// The run queue a task's header pushes its key onto; its jobs are tasks from other threads.
pub(crate) type TaskQueue = RunQueue<Injected>;

/// A task spawned from another thread (by a [`Spawner`](crate::Spawner)), waiting to be adopted
/// by its executor's thread.
pub(crate) struct Injected {
    pub(crate) task: SendSpawned,
    /// Made by the spawner (marked `SCHEDULED`, so nothing queues it early); its key is set on
    /// adoption.
    pub(crate) header: Arc<Header>,
}

/// The task is in the run queue, or will be put back there when its current poll ends.
pub(crate) const SCHEDULED: u8 = 1 << 0;
/// The executor is polling the task right now.
pub(crate) const RUNNING: u8 = 1 << 1;
/// The task completed or was cancelled: wakes do nothing any more.
pub(crate) const CLOSED: u8 = 1 << 2;
/// Its handle asked for cancellation: the executor drops the future the next time it sees it.
pub(crate) const CANCEL: u8 = 1 << 3;

/// The part of a task that any thread may touch: its state word and where to queue it.
///
/// The state word is what makes wake-ups exact: a wake sets `SCHEDULED` and queues the task only
/// if the bit was clear and the task is not running; a wake that lands while the task runs leaves
/// the bit set and the executor re-queues the task when the poll returns. So a task sits in the
/// queue at most once however many wakes arrive, and no wake is lost (async-task#22, tokio#6999).
pub(crate) struct Header {
    pub(crate) state: AtomicU8,
    /// The task's slot in its executor's slab; set once, before the task is first queued (a task
    /// from a [`Spawner`](crate::Spawner) learns it when its executor adopts it). A `u32`, so
    /// that with the state byte it fits in the word beside the queue pointer: a header is 16
    /// bytes, not 24, and every task has one.
    key: AtomicU32,
    pub(crate) executor: Arc<TaskQueue>,
}

/// A slab key as a header stores it. Four billion tasks alive on one executor would need some
/// 800 GB of task memory first, so this cannot fail on a real machine; it says so if it does.
fn narrow(key: usize) -> u32 {
    u32::try_from(key).expect("wisp: more than 4 294 967 295 tasks alive on one executor")
}

impl Header {
    /// A header for a task that is about to be pushed on the run queue by its spawner.
    pub(crate) fn new(key: usize, executor: Arc<TaskQueue>) -> Arc<Header> {
        Arc::new(Header {
            state: AtomicU8::new(SCHEDULED),
            key: AtomicU32::new(narrow(key)),
            executor,
        })
    }

    pub(crate) fn key(&self) -> usize {
        self.key.load(Ordering::Relaxed) as usize
    }

    pub(crate) fn set_key(&self, key: usize) {
        self.key.store(narrow(key), Ordering::Relaxed);
    }

    /// Marks the task scheduled and queues it unless it is already queued, running or closed.
    fn schedule(&self, extra: u8) {
        let before = self.state.fetch_or(SCHEDULED | extra, Ordering::AcqRel);
        if before & (SCHEDULED | RUNNING | CLOSED) == 0 {
            self.executor.push(self.key());
        }
    }

    /// Asks the executor to drop the future; it does so on its own thread when it next sees it.
    pub(crate) fn cancel(&self) {
        self.schedule(CANCEL);
    }

    /// The executor takes the task off its queue to poll it: `SCHEDULED` cleared and `RUNNING`
    /// set in one step. A queued task always has the first and not the second, and only the
    /// executor's thread sets `RUNNING`, so the step is an addition (`RUNNING - SCHEDULED`):
    /// one `lock xadd` on x86, where an `xor` whose result is read compiles to a
    /// compare-and-swap loop (a load, then the locked instruction). Returns `false` if its
    /// handle cancelled it: it is closed then, and must not be polled.
    #[inline]
    pub(crate) fn begin_poll(&self) -> bool {
        let state = self.state.fetch_add(RUNNING - SCHEDULED, Ordering::AcqRel);
        debug_assert_eq!(state & (SCHEDULED | RUNNING), SCHEDULED);
        if state & CANCEL != 0 {
            self.close();
            return false;
        }
        true
    }

    /// The poll returned `Pending`: `RUNNING` cleared. Returns whether a wake (or a cancel)
    /// arrived during the poll, which left `SCHEDULED` set and queued nothing: the executor must
    /// queue the task again itself. `RUNNING` is set (nothing but this thread touches it), so
    /// clearing it is a subtraction, for the reason given at [`begin_poll`](Header::begin_poll).
    #[inline]
    pub(crate) fn end_poll(&self) -> bool {
        self.state.fetch_sub(RUNNING, Ordering::AcqRel) & SCHEDULED != 0
    }

    /// The task completed, was cancelled or dropped with its executor: wakes do nothing now.
    #[inline]
    pub(crate) fn close(&self) {
        self.state.store(CLOSED, Ordering::Release);
    }
}

impl Wake for Header {
    fn wake(self: Arc<Self>) {
        self.schedule(0);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.schedule(0);
    }
}

/// How a task ended, as seen by its handle.
enum Outcome<T> {
    Running,
    /// Running, and its handle was detached: nobody will read the outcome, so a panic has to
    /// be reported where it happens, or it is never seen. (A state of its own rather than a
    /// flag beside the outcome: the completion is one word smaller, and every task has one.)
    Detached,
    Done(T),
    /// Boxed once more: a thin pointer keeps the outcome of a task whose output is a word or
    /// less two words long (a `Box<dyn Any>` beside the tag made it three), and panics are rare.
    Panicked(Box<Box<dyn Any + Send>>),
    Cancelled,
    /// The output was handed to the awaiter already.
    Taken,
}

struct CompletionState<T> {
    outcome: Outcome<T>,
    /// Who to wake when the outcome changes.
    awaiter: Option<Waker>,
}

/// Where a task's outcome goes, shared between the running task and its [`Task`] handle.
pub(crate) struct Completion<T> {
    state: Mutex<CompletionState<T>>,
}

impl<T> Completion<T> {
    pub(crate) fn new() -> Arc<Completion<T>> {
        Arc::new(Completion {
            state: Mutex::new(CompletionState {
                outcome: Outcome::Running,
                awaiter: None,
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, CompletionState<T>> {
        self.state.lock()
    }

    fn finish(&self, outcome: Outcome<T>) {
        let awaiter = {
            let mut state = self.lock();
            // Ended already, or detached (nobody will read it): the outcome is dropped, outside
            // the lock.
            if !matches!(state.outcome, Outcome::Running) {
                drop(state);
                drop(outcome);
                return;
            }
            state.outcome = outcome;
            state.awaiter.take()
        };
        // Woken outside the lock: the awaiter may poll (and lock) at once on another thread.
        if let Some(waker) = awaiter {
            waker.wake();
        }
    }

    /// Stores the future's output.
    pub(crate) fn complete(&self, value: T) {
        self.finish(Outcome::Done(value));
    }
}

impl<T> Completion<T> {
    /// The future panicked, in a poll or in its destructor. A detached task's panic is reported
    /// here, since nobody will await it. Returns whether it reported it.
    ///
    /// Whether the task is detached is read under the same lock that stores the outcome: with
    /// two lock scopes, a [`Task::detach`] landing between them would find the task still
    /// running (so not report) and this would store a panic nobody reads.
    pub(crate) fn panicked(&self, payload: Box<dyn Any + Send>) -> bool {
        // Boxed for `Outcome::Panicked` before the lock is taken.
        let payload = Box::new(payload);
        let (awaiter, unreported) = {
            let mut state = self.lock();
            let unreported = match state.outcome {
                Outcome::Running => {
                    state.outcome = Outcome::Panicked(payload);
                    None
                }
                Outcome::Detached => {
                    state.outcome = Outcome::Cancelled;
                    Some(*payload)
                }
                _ => return false,
            };
            (state.awaiter.take(), unreported)
        };
        if let Some(waker) = awaiter {
            waker.wake();
        }
        match unreported {
            Some(payload) => {
                eprintln!(
                    "wisp: a detached task panicked: {}; the executor carries on",
                    panic_message(payload.as_ref())
                );
                true
            }
            None => false,
        }
    }

    /// The future was dropped before it completed.
    pub(crate) fn cancelled(&self) {
        self.finish(Outcome::Cancelled);
    }

    /// The future was dropped before it completed, and its destructor returned or panicked.
    fn dropped(&self, result: std::thread::Result<()>) {
        match result {
            Ok(()) => self.cancelled(),
            Err(payload) => {
                self.panicked(payload);
            }
        }
    }
}

/// Where a task's outcome goes, its output type erased: what an executor keeps beside a
/// task's future. The one implementation is [`Completion`]; a task's own
/// [`TaskFuture::poll_task`] gets its typed completion back through [`Done::as_any`].
pub(crate) trait Done {
    /// The future was dropped before it completed; `result` is how its destructor ended.
    fn dropped(&self, result: std::thread::Result<()>);
    /// The completion itself, for the future to hand its output to.
    fn as_any(&self) -> &dyn Any;
}

impl<T: 'static> Done for Completion<T> {
    fn dropped(&self, result: std::thread::Result<()>) {
        Completion::dropped(self, result);
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// A spawned future as its executor polls it: the user's future itself, boxed once, behind a
/// trait that every future implements.
///
/// Because the method takes `Pin<Box<Self>>`, the future is polled in its own box, where it
/// was pinned; a wrapper future around it (an `async` block that polls it and stores the
/// output) would have to pin it inside the wrapper, which safe code can only do by moving it
/// there, so the wrapper's box held the future twice (the captured value and the pinned one).
/// Here the box holds it once: a task costs its future's size, not twice that.
///
/// The completion is asked for only once the future has finished (`finished`), not passed to
/// every poll: so the executor moves nothing but the box out of a task's slot for a poll, and
/// puts back only the box. (Moving the box and its completion out together, 32 bytes, and back
/// cost a stalled load on every poll: the returned box was stored as two words and read back as
/// one 16-byte move; `perf` put a fifth of `Table::poll_task` on that one load.)
pub(crate) trait TaskFuture {
    /// Polls the future once, catching a panic. Still pending: the box, to keep. Finished (or
    /// panicked): the future is dropped, under `catch_unwind`, then `finished` is called once
    /// for this future's completion, which gets the outcome; `None`.
    fn poll_task(
        self: Pin<Box<Self>>,
        cx: &mut Context<'_>,
        finished: &mut dyn FnMut() -> Arc<dyn Done>,
    ) -> Option<Pin<Box<dyn TaskFuture>>>;
}

impl<F> TaskFuture for F
where
    F: Future + 'static,
    F::Output: 'static,
{
    fn poll_task(
        mut self: Pin<Box<Self>>,
        cx: &mut Context<'_>,
        finished: &mut dyn FnMut() -> Arc<dyn Done>,
    ) -> Option<Pin<Box<dyn TaskFuture>>> {
        let outcome = match catch_unwind(AssertUnwindSafe(|| self.as_mut().poll(cx))) {
            Ok(Poll::Pending) => return Some(self),
            Ok(Poll::Ready(value)) => Ok(value),
            Err(payload) => Err(payload),
        };
        let dropped = catch_unwind(AssertUnwindSafe(|| drop(self)));
        let done = finished();
        let Some(done) = done.as_any().downcast_ref::<Completion<F::Output>>() else {
            unreachable!("a task's completion has its future's output type");
        };
        match (outcome, dropped) {
            (Ok(value), Ok(())) => done.complete(value),
            // The output is good but the future's destructor panicked: the panic is the
            // outcome.
            (Ok(value), Err(payload)) => {
                let _ = catch_unwind(AssertUnwindSafe(|| drop(value)));
                done.panicked(payload);
            }
            // A poll panicked: that panic is the outcome; a second one from the destructor is
            // dropped (the first explains more).
            (Err(payload), _) => {
                done.panicked(payload);
            }
        }
        None
    }
}

/// A spawned task as its executor holds it: the future (boxed once, see [`TaskFuture`]) and its
/// completion. `F` and `D` are the trait objects, with `Send` for a task that crosses threads
/// before its executor adopts it ([`SendSpawned`]).
///
/// Dropped with its future still inside (the task was cancelled, its executor dropped, or it was
/// never adopted), it drops the future under `catch_unwind` and tells the completion, so the
/// awaiter always learns how the task ended, and a destructor that panics never unwinds through
/// the executor (as it does in tokio): the panic becomes the task's, resumed in whoever awaits
/// the handle, or reported on stderr if the task was detached.
pub(crate) struct Spawned<F: ?Sized + TaskFuture = dyn TaskFuture, D: ?Sized + Done = dyn Done> {
    /// `None` while the executor polls it (see [`Spawned::take_future`]), and once the future
    /// finished or was dropped.
    future: Option<Pin<Box<F>>>,
    /// `None` once the finished future took it to report its outcome. (The `Option` costs
    /// nothing: a null pointer is its `None`.)
    done: Option<Arc<D>>,
}

/// A task spawned from another thread, on its way to its executor.
pub(crate) type SendSpawned = Spawned<dyn TaskFuture + Send, dyn Done + Send + Sync>;

impl Spawned {
    /// `future` as a task whose outcome goes to `done`.
    #[inline]
    pub(crate) fn new<F>(future: F, done: Arc<Completion<F::Output>>) -> Spawned
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        Spawned {
            future: Some(Box::pin(future)),
            done: Some(done),
        }
    }

    /// Polls the task once. `Ready` once it finished (its outcome reported, its future
    /// dropped); a panic cannot escape. (The executor polls a task in its slot instead, with
    /// [`take_future`](Spawned::take_future).)
    #[cfg(test)]
    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(future) = self.future.take() else {
            return Poll::Ready(());
        };
        let done = &mut self.done;
        let mut finished = || done.take().expect("a task finishes once");
        match future.poll_task(cx, &mut finished) {
            Some(future) => {
                self.future = Some(future);
                Poll::Pending
            }
            None => Poll::Ready(()),
        }
    }

    /// The future, to poll (with [`TaskFuture::poll_task`]) while this stays where it is;
    /// `None` if it is being polled already or has finished.
    #[inline]
    pub(crate) fn take_future(&mut self) -> Option<Pin<Box<dyn TaskFuture>>> {
        self.future.take()
    }

    /// The future back, still pending after a poll.
    #[inline]
    pub(crate) fn put_future(&mut self, future: Pin<Box<dyn TaskFuture>>) {
        debug_assert!(self.future.is_none());
        self.future = Some(future);
    }

    /// The completion, for a future that finished while out of this (see
    /// [`take_future`](Spawned::take_future)): what `finished` returns to
    /// [`TaskFuture::poll_task`].
    #[inline]
    pub(crate) fn into_done(mut self) -> Arc<dyn Done> {
        debug_assert!(self.future.is_none());
        self.done.take().expect("a task finishes once")
    }
}

impl SendSpawned {
    /// [`Spawned::new`] for a future that may be handed to another thread.
    pub(crate) fn new_send<F>(future: F, done: Arc<Completion<F::Output>>) -> SendSpawned
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        Spawned {
            future: Some(Box::pin(future)),
            done: Some(done),
        }
    }

    /// The task, on its executor's thread: it no longer needs to be `Send`.
    pub(crate) fn into_local(mut self) -> Spawned {
        let future = self
            .future
            .take()
            .map(|f| -> Pin<Box<dyn TaskFuture>> { f });
        let done = self.done.take().map(|d| -> Arc<dyn Done> { d });
        Spawned { future, done }
    }
}

impl<F: ?Sized + TaskFuture, D: ?Sized + Done> Drop for Spawned<F, D> {
    fn drop(&mut self) {
        if let Some(future) = self.future.take() {
            let dropped = catch_unwind(AssertUnwindSafe(|| drop(future)));
            if let Some(done) = &self.done {
                done.dropped(dropped);
            }
        }
    }
}

/// The text of a panic payload, for the stderr report of a detached task.
fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "(a non-string panic payload)"
    }
}

/// A handle to a spawned task; awaiting it gives the task's output.
///
/// Dropping a `Task` **cancels** it: its future is dropped, on its executor's thread, the next
/// time the executor looks at it. Call [`detach`](Task::detach) to let it run to completion on
/// its own. If the task panicked, awaiting the handle resumes the panic in the awaiter.
///
/// ```
/// wisp::block_on(async {
///     let background = wisp::spawn(async { /* runs on after its handle is gone */ });
///     background.detach();
///
///     let job = wisp::spawn(async { "done" });
///     assert_eq!(job.await, "done");
/// });
/// ```
#[must_use = "dropping a Task cancels it; call .detach() to let it run in the background"]
pub struct Task<T> {
    /// To cancel the task with; `None` once the task is detached or its outcome taken, when
    /// dropping the handle is a no-op. (The `Option` costs nothing: a handle is two words.)
    header: Option<Arc<Header>>,
    completion: Arc<Completion<T>>,
}

impl<T> Task<T> {
    pub(crate) fn new(header: Arc<Header>, completion: Arc<Completion<T>>) -> Task<T> {
        Task {
            header: Some(header),
            completion,
        }
    }

    /// Lets the task run to completion without anyone awaiting it.
    ///
    /// A panic in a detached task is reported on stderr and the executor carries on.
    pub fn detach(self) {
        self.detach_reporting();
    }

    /// [`detach`](Task::detach), returning whether it reported a panic that came first.
    pub(crate) fn detach_reporting(mut self) -> bool {
        self.header = None;
        let panicked = {
            let mut state = self.completion.lock();
            match std::mem::replace(&mut state.outcome, Outcome::Taken) {
                Outcome::Panicked(payload) => Some(*payload),
                // Still running: its end is reported (a panic) or dropped (an output) then.
                Outcome::Running => {
                    state.outcome = Outcome::Detached;
                    None
                }
                // An output nobody will read is dropped now.
                _ => None,
            }
        };
        match panicked {
            Some(payload) => {
                eprintln!(
                    "wisp: a detached task panicked: {}",
                    panic_message(payload.as_ref())
                );
                true
            }
            None => false,
        }
    }

    /// Cancels the task and waits until its future is gone.
    ///
    /// Returns its output if it had completed already, `None` if it was cancelled before it
    /// could. Unlike dropping the handle, this waits, so code after it knows the task's
    /// destructors have run. A panic in the task, in a poll or in its future's destructor, is
    /// resumed here, as when awaiting the handle.
    pub async fn cancel(mut self) -> Option<T> {
        if let Some(header) = &self.header {
            header.cancel();
        }
        std::future::poll_fn(|cx| self.poll_outcome(cx, true)).await
    }

    /// Whether the task has completed, panicked or been cancelled.
    pub fn is_finished(&self) -> bool {
        !matches!(self.completion.lock().outcome, Outcome::Running)
    }

    /// Polls for the outcome. `cancelling` says whether a cancellation is an answer (`None`)
    /// rather than an error.
    fn poll_outcome(&mut self, cx: &mut Context<'_>, cancelling: bool) -> Poll<Option<T>> {
        let mut state = self.completion.lock();
        match std::mem::replace(&mut state.outcome, Outcome::Taken) {
            Outcome::Running => {
                state.outcome = Outcome::Running;
                match &mut state.awaiter {
                    Some(waker) if waker.will_wake(cx.waker()) => {}
                    slot => *slot = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
            Outcome::Done(value) => {
                drop(state);
                self.header = None;
                Poll::Ready(Some(value))
            }
            Outcome::Panicked(payload) => {
                drop(state);
                self.header = None;
                resume_unwind(*payload)
            }
            Outcome::Cancelled if cancelling => Poll::Ready(None),
            Outcome::Cancelled => panic!(
                "wisp: awaited a task that was cancelled because its executor was dropped \
                 before the task finished"
            ),
            Outcome::Taken => panic!("wisp: a Task was polled again after it returned Ready"),
            Outcome::Detached => unreachable!("a detached task has no handle to poll"),
        }
    }
}

impl<T> Future for Task<T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        // `Task` is `Unpin`: it owns no pinned data, only `Arc`s.
        self.get_mut()
            .poll_outcome(cx, false)
            .map(|out| out.expect("not cancelling"))
    }
}

impl<T> Drop for Task<T> {
    fn drop(&mut self) {
        if let Some(header) = &self.header {
            header.cancel();
        }
    }
}

impl<T> std::fmt::Debug for Task<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Task")
            .field("finished", &self.is_finished())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A header whose task is idle (polled once, `Pending`, no wake meanwhile), on a run queue
    /// of this thread that no executor runs: its pushes go to the shared queue, where
    /// `remote_len` counts them.
    fn idle_header(key: usize) -> (Arc<Header>, Arc<TaskQueue>) {
        let queue = Arc::new(TaskQueue::for_current_thread());
        let header = Header::new(key, queue.clone());
        assert!(header.begin_poll());
        assert!(!header.end_poll());
        (header, queue)
    }

    #[test]
    fn a_wake_of_an_idle_task_queues_its_key_once() {
        let (header, queue) = idle_header(5);
        let waker = Waker::from(header);
        waker.wake_by_ref();
        waker.wake_by_ref();
        let mut batch = std::collections::VecDeque::new();
        assert!(queue.take_remote(&mut batch).is_empty());
        assert_eq!(batch, [5]);
    }

    #[test]
    fn a_closed_task_is_not_queued_by_a_wake() {
        // The state of a task whose executor dropped it while it waited: a waker kept by a
        // timer or a socket may still fire, and must queue nothing.
        let (header, queue) = idle_header(5);
        header.close();
        Waker::from(header.clone()).wake();
        header.cancel();
        assert_eq!(queue.remote_len(), 0);
    }

    #[test]
    fn a_cancel_of_an_idle_task_queues_it_and_its_next_poll_is_refused() {
        let (header, queue) = idle_header(7);
        header.cancel();
        assert_eq!(queue.remote_len(), 1);
        assert!(!header.begin_poll(), "a cancelled task must not be polled");
        // Closed by the refusal: later wakes queue nothing more.
        Waker::from(header).wake();
        assert_eq!(queue.remote_len(), 1);
    }

    #[test]
    fn a_wake_during_a_poll_is_reported_by_end_poll_and_queues_nothing() {
        let (header, queue) = idle_header(9);
        header.schedule(0);
        assert_eq!(queue.remote_len(), 1);
        assert!(header.begin_poll());
        Waker::from(header.clone()).wake_by_ref();
        assert_eq!(queue.remote_len(), 1, "a running task is not queued twice");
        assert!(header.end_poll(), "the executor must queue it again");
    }

    /// `begin_poll` and `end_poll` are an addition and a subtraction on the state word: the
    /// other bits (a cancel that lands while the task runs) come through them intact.
    #[test]
    fn a_cancel_during_a_poll_survives_the_end_of_the_poll_and_refuses_the_next() {
        let (header, queue) = idle_header(4);
        header.schedule(0);
        assert!(header.begin_poll());
        assert_eq!(header.state.load(Ordering::Relaxed), RUNNING);
        header.cancel();
        assert_eq!(
            header.state.load(Ordering::Relaxed),
            RUNNING | SCHEDULED | CANCEL
        );
        assert_eq!(queue.remote_len(), 1, "a running task is not queued again");
        assert!(header.end_poll(), "the executor must queue it again");
        assert_eq!(header.state.load(Ordering::Relaxed), SCHEDULED | CANCEL);
        assert!(!header.begin_poll(), "a cancelled task must not be polled");
        assert_eq!(header.state.load(Ordering::Relaxed), CLOSED);
    }

    /// A task's box holds the user's future once, as it is: no wrapper around it, so no second
    /// copy (the `async` block that used to wrap it held two, the captured future and its
    /// pinned place).
    #[test]
    fn a_task_box_holds_its_future_once_and_nothing_else() {
        let big = async {
            let buf = [7u8; 1000];
            std::future::pending::<()>().await;
            std::hint::black_box(&buf);
        };
        let inner = std::mem::size_of_val(&big);
        let task = Spawned::new(big, Completion::new());
        let boxed = task.future.as_ref().expect("not polled yet");
        assert_eq!(std::mem::size_of_val(boxed.as_ref().get_ref()), inner);
        // A future that holds nothing costs no allocation at all.
        let empty = Spawned::new(std::future::pending::<()>(), Completion::new());
        let boxed = empty.future.as_ref().expect("not polled yet");
        assert_eq!(std::mem::size_of_val(boxed.as_ref().get_ref()), 0);
        // What the executor keeps beside it: two wide pointers.
        assert_eq!(std::mem::size_of::<Spawned>(), 32);
    }

    /// Dropped unpolled, a task reports its cancellation; dropped after its future finished, it
    /// reports nothing more.
    #[test]
    fn a_task_dropped_unpolled_is_cancelled_and_a_finished_one_keeps_its_output() {
        let done = Completion::new();
        drop(Spawned::new(async { 1 }, done.clone()));
        assert!(matches!(done.lock().outcome, Outcome::Cancelled));
        let done = Completion::new();
        let mut task = Spawned::new(async { 2 }, done.clone());
        let mut cx = Context::from_waker(Waker::noop());
        assert!(task.poll(&mut cx).is_ready());
        assert!(task.future.is_none());
        drop(task);
        assert!(matches!(done.lock().outcome, Outcome::Done(2)));
    }

    /// Every task has a header, a completion and a handle: their sizes are the heap row's.
    #[test]
    fn a_header_is_two_words_a_handle_two_and_a_unit_completion_five() {
        assert_eq!(std::mem::size_of::<Header>(), 16);
        assert_eq!(std::mem::size_of::<Task<()>>(), 16);
        assert_eq!(std::mem::size_of::<Task<usize>>(), 16);
        assert_eq!(std::mem::size_of::<Completion<()>>(), 40);
        assert_eq!(std::mem::size_of::<Completion<usize>>(), 40);
    }

    #[test]
    fn the_panic_message_of_a_str_a_string_and_anything_else() {
        let s: Box<dyn Any + Send> = Box::new("boom");
        assert_eq!(panic_message(s.as_ref()), "boom");
        let s: Box<dyn Any + Send> = Box::new(String::from("bang"));
        assert_eq!(panic_message(s.as_ref()), "bang");
        let s: Box<dyn Any + Send> = Box::new(42_u32);
        assert_eq!(panic_message(s.as_ref()), "(a non-string panic payload)");
    }
}
