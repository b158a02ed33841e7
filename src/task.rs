//! A spawned task: its scheduling state, its result, and the [`Task`] handle a user awaits.
//!
//! A task is split in three so that no `unsafe` is needed to let a `!Send` future be woken from
//! any thread:
//!
//! - the **future** itself stays in its executor's slab, on the executor's thread;
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
use std::future::{Future, poll_fn};
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::{Pin, pin};
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
    pub(crate) future: Pin<Box<dyn Future<Output = ()> + Send>>,
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
    /// set in one step (a queued task always has the first and not the second, and only the
    /// executor's thread sets `RUNNING`, so one `xor` does both). Returns `false` if its handle
    /// cancelled it: it is closed then, and must not be polled.
    #[inline]
    pub(crate) fn begin_poll(&self) -> bool {
        let state = self.state.fetch_xor(SCHEDULED | RUNNING, Ordering::AcqRel);
        debug_assert_eq!(state & (SCHEDULED | RUNNING), SCHEDULED);
        if state & CANCEL != 0 {
            self.close();
            return false;
        }
        true
    }

    /// The poll returned `Pending`: `RUNNING` cleared. Returns whether a wake (or a cancel)
    /// arrived during the poll, which left `SCHEDULED` set and queued nothing: the executor must
    /// queue the task again itself.
    #[inline]
    pub(crate) fn end_poll(&self) -> bool {
        self.state.fetch_and(!RUNNING, Ordering::AcqRel) & SCHEDULED != 0
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
    Panicked(Box<dyn Any + Send>),
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
        let (awaiter, unreported) = {
            let mut state = self.lock();
            let unreported = match state.outcome {
                Outcome::Running => {
                    state.outcome = Outcome::Panicked(payload);
                    None
                }
                Outcome::Detached => {
                    state.outcome = Outcome::Cancelled;
                    Some(payload)
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

/// The future an executor stores for a spawned task: runs `future`, catches a panic, and hands
/// the outcome to `done`. So the executor needs nothing typed beside the future itself.
///
/// Dropping it never unwinds, and always tells `done` how the task ended: if it is dropped
/// before `future` completed (the task was cancelled, or its executor dropped), even before its
/// first poll, `done` learns that it was cancelled; and `future` itself is dropped under
/// `catch_unwind`, so a destructor that panics becomes the task's panic (resumed in whoever
/// awaits the handle, reported on stderr if the task was detached) instead of unwinding through
/// the executor (as tokio does). The executor's loop never unwinds because of a task.
pub(crate) fn run<F: Future>(
    future: F,
    done: Arc<Completion<F::Output>>,
) -> impl Future<Output = ()> {
    // The guard is captured by the `async` block, so an unpolled `run` (whose body never
    // started) still drops it, and it reports the cancellation. A block rather than an
    // `async fn` taking the guard: an `async fn` moves its arguments into locals of its body,
    // and the frame kept both places, so three copies of the future's size (the argument's,
    // that local's, and the pinned one) instead of the two here: the guard, used in place, and
    // the pinned one. Two is the least without `unsafe` to pin the guard's own copy.
    let mut unstarted = Unstarted {
        future: Some(future),
        done: Some(done),
    };
    async move {
        let Some(done) = unstarted.done.take() else {
            unreachable!("an Unstarted is emptied only here");
        };
        // From here on the future is pinned in this frame and `live` owns its destruction.
        let mut slot = pin!(unstarted.future.take());
        let mut live = Live {
            future: slot.as_mut(),
            done: Some(done),
        };
        // `live` is moved into the closure (not borrowed by it): the frame holds it once, not
        // it and a reference to it. The closure reports the outcome itself, so dropping it
        // afterwards (with `done` taken) reports nothing more.
        poll_fn(move |cx| {
            let future = live
                .future
                .as_mut()
                .as_pin_mut()
                .expect("present until it ends");
            let outcome = match catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
                Ok(Poll::Pending) => return Poll::Pending,
                Ok(Poll::Ready(value)) => Ok(value),
                Err(payload) => Err(payload),
            };
            let dropped = catch_unwind(AssertUnwindSafe(|| live.future.set(None)));
            let done = live.done.take().expect("taken only here");
            match (outcome, dropped) {
                (Ok(value), Ok(())) => done.complete(value),
                // The output is good but the future's destructor panicked: the panic is the
                // outcome.
                (Ok(value), Err(payload)) => {
                    let _ = catch_unwind(AssertUnwindSafe(|| drop(value)));
                    done.panicked(payload);
                }
                // A poll panicked: that panic is the outcome; a second one from the destructor
                // is dropped (the first explains more).
                (Err(payload), _) => {
                    done.panicked(payload);
                }
            }
            Poll::Ready(())
        })
        .await
    }
}

/// A task's future and completion before its first poll. Dropped unpolled, it drops the
/// future (not pinned yet, so it may be moved out) under `catch_unwind` and reports the outcome.
struct Unstarted<F: Future> {
    future: Option<F>,
    done: Option<Arc<Completion<F::Output>>>,
}

impl<F: Future> Drop for Unstarted<F> {
    fn drop(&mut self) {
        if let Some(done) = self.done.take() {
            let future = self.future.take();
            done.dropped(catch_unwind(AssertUnwindSafe(|| drop(future))));
        }
    }
}

/// A started task's pinned future and its completion. Dropped before the future completed (the
/// task was cancelled while it waited), it drops the future in place under `catch_unwind` and
/// reports the outcome.
struct Live<'a, F: Future> {
    /// `None` once the future was dropped.
    future: Pin<&'a mut Option<F>>,
    /// `None` once the outcome was reported.
    done: Option<Arc<Completion<F::Output>>>,
}

impl<F: Future> Drop for Live<'_, F> {
    fn drop(&mut self) {
        if let Some(done) = self.done.take() {
            done.dropped(catch_unwind(AssertUnwindSafe(|| self.future.set(None))));
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
                Outcome::Panicked(payload) => Some(payload),
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
                resume_unwind(payload)
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

    /// The frame of `run` stores the user's future twice at most (the argument, and its pinned
    /// place), not three times: a task's box is about twice its future, plus a few words.
    #[test]
    fn a_task_future_holds_at_most_two_copies_of_the_user_future() {
        let big = async {
            let buf = [7u8; 1000];
            std::future::pending::<()>().await;
            std::hint::black_box(&buf);
        };
        let inner = std::mem::size_of_val(&big);
        let run = run(big, Completion::new());
        let size = std::mem::size_of_val(&run);
        assert!(
            size <= 2 * inner + 128,
            "{size} bytes for a {inner}-byte future"
        );
    }

    /// What `run` adds around a future that holds nothing: the frame's own state (the unstarted
    /// pair, the pinned slot, the live pair moved into the poll closure), not a reference to it.
    #[test]
    fn the_frame_around_an_empty_future_is_six_words() {
        let run = run(std::future::pending::<()>(), Completion::new());
        // 56 when the poll closure borrowed the live pair instead of owning it.
        assert!(size_of_val(&run) <= 48, "{}", size_of_val(&run));
    }

    /// Every task has a header, a completion and a handle: their sizes are the heap row's.
    #[test]
    fn a_header_is_two_words_a_handle_two_and_a_unit_completion_six() {
        assert_eq!(std::mem::size_of::<Header>(), 16);
        assert_eq!(std::mem::size_of::<Task<()>>(), 16);
        assert_eq!(std::mem::size_of::<Task<usize>>(), 16);
        assert_eq!(std::mem::size_of::<Completion<()>>(), 48);
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
