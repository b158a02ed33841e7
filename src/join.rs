//! Running futures side by side inside one task: [`join_all`], [`join`] and [`race`].
//!
//! These do not spawn: the children are polled by the task that awaits the combinator, so they
//! need not be `Send` or `'static`, and they are dropped when it is.
//!
//! ```
//! let (sum, names) = wisp::block_on(async {
//!     let all = wisp::join_all((1..=3).map(|i| async move { i * 10 }));
//!     wisp::join(all, async { "done" }).await
//! });
//! assert_eq!(sum, vec![10, 20, 30]);
//! assert_eq!(names, "done");
//! ```
//!
//! [`join_all`] gives every child its own waker, which records the child in a ready list before
//! it wakes the parent; the parent polls only the children on that list. So a child that wakes
//! costs one poll of that child, not a pass over all of them: 100 000 children finishing one at
//! a time cost linear time, where a combinator that polls every child on every wake-up would
//! cost quadratic time.

use std::future::{Future, poll_fn};
use std::mem;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use crate::current_waker;
use crate::sync::Mutex;

/// Runs every future of `futures` to completion, concurrently, and returns their outputs in the
/// order of the input (not the order in which they finished).
///
/// Each child is polled first when the `JoinAll` is first polled, and after that only when its
/// own waker was woken. Children woken while a pass runs are polled on the next pass, after the
/// parent has yielded, so a child that wakes itself forever cannot monopolise the thread.
///
/// ```
/// let out = wisp::block_on(wisp::join_all([1, 2].map(|i| async move { i })));
/// assert_eq!(out, [1, 2]);
/// ```
pub fn join_all<I>(futures: I) -> JoinAll<I::Item>
where
    I: IntoIterator,
    I::Item: Future,
{
    let children: Vec<_> = futures
        .into_iter()
        .map(|f| Child::Running(Box::pin(f)))
        .collect();
    let n = children.len();
    let ready = Arc::new(ReadyList {
        list: Mutex::new((0..n).collect()),
        parent: Mutex::new(None),
    });
    let wakers = (0..n)
        .map(|index| {
            let child = Arc::new(ChildWaker {
                index,
                queued: AtomicBool::new(true),
                ready: ready.clone(),
            });
            let waker = Waker::from(child.clone());
            (child, waker)
        })
        .collect();
    JoinAll {
        children,
        wakers,
        ready,
        pass: Vec::new(),
        pending: n,
    }
}

/// The future of [`join_all`].
#[must_use = "futures do nothing unless awaited"]
pub struct JoinAll<F: Future> {
    children: Vec<Child<F>>,
    /// Each child's waker, made once (no reference count touched per poll), beside the state
    /// it flips.
    wakers: Vec<(Arc<ChildWaker>, Waker)>,
    ready: Arc<ReadyList>,
    /// The ready list taken for the current pass (kept to reuse its allocation).
    pass: Vec<usize>,
    /// Children not finished yet.
    pending: usize,
}

enum Child<F: Future> {
    /// Boxed so that each child is pinned on its own, without `unsafe` pin projection.
    Running(Pin<Box<F>>),
    Done(F::Output),
    Taken,
}

/// The children woken since the last pass, and the waker of the task polling the `JoinAll`.
///
/// Neither lock is ever held while a waker is called or a child is polled, and neither is
/// taken while the other is held.
struct ReadyList {
    list: Mutex<Vec<usize>>,
    parent: Mutex<Option<Waker>>,
}

/// One child's waker: puts the child on the ready list (once) and wakes the parent.
struct ChildWaker {
    index: usize,
    /// Whether the child is on the ready list already; repeated wakes then cost nothing.
    queued: AtomicBool,
    ready: Arc<ReadyList>,
}

impl Wake for ChildWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self.queued.swap(true, Ordering::AcqRel) {
            return;
        }
        let was_empty = {
            let mut list = self.ready.list.lock();
            list.push(self.index);
            list.len() == 1
        };
        // Only the first child to join an empty list needs to wake the parent: the others
        // arrive before the parent has taken the list. The parent's waker is cloned under the
        // lock and called after it is released: a waker that polls the `JoinAll` (or wakes a
        // child) inline, on this thread, takes these locks again.
        if was_empty {
            let parent = self.ready.parent.lock().clone();
            if let Some(waker) = parent {
                waker.wake();
            }
        }
    }
}

impl<F: Future> Unpin for JoinAll<F> {}

impl<F: Future> Future for JoinAll<F> {
    type Output = Vec<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Vec<F::Output>> {
        let this = self.get_mut();
        {
            let mut parent = this.ready.parent.lock();
            match parent.as_ref() {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => *parent = Some(cx.waker().clone()),
            }
        }
        // Take the list once: children woken during this pass wait for the next one.
        mem::swap(&mut this.pass, &mut this.ready.list.lock());
        // A child's waker leads back to `cx`'s: if that is the waker a wisp executor polls
        // with, so is the child's, for the reactor's purposes (see `current_waker`).
        let routed = current_waker::is_current(cx.waker());
        for index in this.pass.drain(..) {
            let (child, waker) = &this.wakers[index];
            // Cleared before the poll: a wake during the poll queues the child again.
            child.queued.store(false, Ordering::Release);
            let Child::Running(fut) = &mut this.children[index] else {
                continue;
            };
            let _scope = routed.then(|| current_waker::ChildScope::enter(waker));
            if let Poll::Ready(out) = fut.as_mut().poll(&mut Context::from_waker(waker)) {
                this.children[index] = Child::Done(out);
                this.pending -= 1;
            }
        }
        if this.pending > 0 {
            return Poll::Pending;
        }
        let outputs = this
            .children
            .iter_mut()
            .map(|child| match mem::replace(child, Child::Taken) {
                Child::Done(out) => out,
                _ => panic!("`JoinAll` polled after it completed"),
            })
            .collect();
        Poll::Ready(outputs)
    }
}

/// Runs `a` and `b` concurrently and returns both outputs.
///
/// ```
/// let out = wisp::block_on(wisp::join(async { 1 }, async { "one" }));
/// assert_eq!(out, (1, "one"));
/// ```
pub async fn join<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
    let (mut a, mut b) = (pin!(a), pin!(b));
    let (mut out_a, mut out_b) = (None, None);
    poll_fn(|cx| {
        if out_a.is_none()
            && let Poll::Ready(out) = a.as_mut().poll(cx)
        {
            out_a = Some(out);
        }
        if out_b.is_none()
            && let Poll::Ready(out) = b.as_mut().poll(cx)
        {
            out_b = Some(out);
        }
        if out_a.is_some() && out_b.is_some() {
            Poll::Ready((out_a.take().unwrap(), out_b.take().unwrap()))
        } else {
            Poll::Pending
        }
    })
    .await
}

/// Runs `a` and `b` concurrently and returns the output of the first to finish; the other is
/// dropped. When both are ready in the same poll, `a` wins (it is polled first).
///
/// ```
/// use std::time::Duration;
/// let out = wisp::block_on(wisp::race(
///     async { wisp::time::sleep(Duration::from_secs(10)).await; "slow" },
///     async { "fast" },
/// ));
/// assert_eq!(out, "fast");
/// ```
pub async fn race<T, A, B>(a: A, b: B) -> T
where
    A: Future<Output = T>,
    B: Future<Output = T>,
{
    let (mut a, mut b) = (pin!(a), pin!(b));
    poll_fn(|cx| {
        if let Poll::Ready(out) = a.as_mut().poll(cx) {
            return Poll::Ready(out);
        }
        b.as_mut().poll(cx)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::rc::Rc;

    /// Counts polls of each child: a woken child is polled, an unwoken one is not.
    #[test]
    fn polls_only_woken_children() {
        let polls = Rc::new(Cell::new(0usize));
        let wakers: Rc<std::cell::RefCell<Vec<Option<Waker>>>> = Rc::default();
        let n = 100;
        let children = (0..n).map(|i| {
            let polls = polls.clone();
            let wakers = wakers.clone();
            let mut done = false;
            poll_fn(move |cx| {
                polls.set(polls.get() + 1);
                if done {
                    return Poll::Ready(i);
                }
                done = true;
                let mut w = wakers.borrow_mut();
                if w.len() <= i {
                    w.resize(i + 1, None);
                }
                w[i] = Some(cx.waker().clone());
                Poll::Pending
            })
        });
        let mut all = join_all(children);
        let noop = Waker::noop();
        let mut cx = Context::from_waker(noop);
        assert!(Pin::new(&mut all).poll(&mut cx).is_pending());
        assert_eq!(polls.get(), n);
        // Nothing woken: a poll polls no child.
        assert!(Pin::new(&mut all).poll(&mut cx).is_pending());
        assert_eq!(polls.get(), n);
        // Wake one child (twice): exactly one more poll.
        let w = wakers.borrow()[7].clone().unwrap();
        w.wake_by_ref();
        w.wake_by_ref();
        assert!(Pin::new(&mut all).poll(&mut cx).is_pending());
        assert_eq!(polls.get(), n + 1);
        for i in 0..n {
            wakers.borrow()[i].clone().unwrap().wake();
        }
        let Poll::Ready(out) = Pin::new(&mut all).poll(&mut cx) else {
            panic!("all children were woken and are ready");
        };
        assert_eq!(out, (0..n).collect::<Vec<_>>());
        assert_eq!(polls.get(), 2 * n);
    }

    #[test]
    fn empty_is_ready_at_once() {
        let mut all = join_all(Vec::<std::future::Ready<u8>>::new());
        let mut cx = Context::from_waker(Waker::noop());
        assert_eq!(Pin::new(&mut all).poll(&mut cx), Poll::Ready(vec![]));
    }
}
