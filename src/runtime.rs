//! The two calls most programs need: [`block_on`] and [`spawn`].

use std::future::Future;

use crate::executor::Executor;
use crate::task::Task;

/// Runs `future` to completion on the current thread, with a fresh executor for the tasks it
/// spawns. Tasks still unfinished when `future` completes are cancelled (dropped).
///
/// While nothing is ready the thread sleeps in the reactor and uses no CPU.
///
/// # Panics
///
/// When called from inside another `block_on` on the same thread (for example from a task):
/// that would block the outer executor and can deadlock. `.await` the future instead.
///
/// ```
/// use std::time::Duration;
/// let out = wisp::block_on(async {
///     let t = wisp::spawn(async { 1 + 1 });
///     wisp::time::sleep(Duration::from_millis(5)).await;
///     let all = wisp::join_all((0..3).map(|i| async move { i * 2 })).await;
///     t.await + all.len() as i32
/// });
/// assert_eq!(out, 5);
/// ```
pub fn block_on<F: Future>(future: F) -> F::Output {
    Executor::new().block_on(future)
}

/// Spawns a task onto the executor of the `block_on` (or [`Executor`]) running on this thread.
/// The future need not be `Send`.
///
/// # Panics
///
/// Outside of `wisp::block_on` or an [`Executor`] method that runs tasks: there is no executor
/// to run the task. Spawn from inside `block_on`, or create an [`Executor`] and call
/// [`Executor::spawn`] on it.
#[track_caller]
pub fn spawn<F>(future: F) -> Task<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    spawn_inner(future, None)
}

/// [`spawn`] with a name, which the deadlock report of a [`wisp::test`](mod@crate::test) run shows.
#[track_caller]
pub fn spawn_named<F>(name: impl Into<String>, future: F) -> Task<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    spawn_inner(future, Some(name.into()))
}

#[track_caller]
fn spawn_inner<F>(future: F, name: Option<String>) -> Task<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let location = std::panic::Location::caller();
    Executor::with_current(|current| match current {
        Some(executor) => executor.spawn_at(future, location, name),
        None => panic!(
            "wisp::spawn called outside of wisp::block_on: no executor runs on this thread. \
             Call it from inside block_on, or create a wisp::Executor and use Executor::spawn."
        ),
    })
}
