//! An executor's spawned tasks: the slab of their futures, and how one is polled.
//!
//! The executor reaches this file only through the [`Tasks`] trait object that its first
//! `spawn` (or `spawner`) installs. A `block_on` whose future spawns nothing then links none of
//! it: the slab of futures, the batch loop, a task's poll and the teardown that cancels what is
//! left took 16 KB of the 495 KB stripped `block_on` + connect + sleep program
//! (`scripts/footprint.sh`) while `block_on` called them directly. One indirect call per
//! batch (not per poll) is what it costs a program that spawns.

use std::cell::RefCell;
use std::panic::Location;
use std::sync::Arc;
use std::task::{Context, Waker};

use crate::current_waker::PollScope;
use crate::slab::Slab;
use crate::task::{Header, Spawned, TaskQueue};

use super::Executor;

/// Where and under what name a task was spawned, kept only by test executors (for the
/// deadlock report), in a table beside the slab, so ordinary tasks pay nothing for it.
pub(crate) struct TaskInfo {
    pub(crate) location: &'static Location<'static>,
    pub(crate) name: Option<String>,
}

/// What the executor asks of its tasks. One implementation, [`Table`]; a trait only so that
/// the executor holds it as a trait object (see the module docs).
pub(super) trait Tasks {
    /// Makes a task of `future` (its header, with the slot's key), puts it in the slab and on
    /// the run queue, and returns its header. One call per spawn, so one indirect call.
    fn insert(&self, ex: &Executor, task: Spawned, info: Option<TaskInfo>) -> Arc<Header>;
    /// Polls every task in the current batch (taking a new batch from the queues if the last
    /// one is done). Returns how many polls ran.
    fn run_batch(&self, ex: &Executor) -> usize;
    /// Polls one ready task, if there is one. Returns whether it did.
    fn try_tick(&self, ex: &Executor) -> bool;
    /// How many tasks are alive (spawned and not finished or cancelled).
    fn alive(&self) -> usize;
    /// A line for each task still alive: its name and where it was spawned.
    fn alive_tasks(&self) -> Vec<String>;
}

/// A task's slot on the executor's thread.
///
/// While the task is polled, its future's box and its waker are out of the slot (the box is
/// `None`, the waker a no-op one), so that the slab is not borrowed during the poll (which may
/// spawn); the completion and the header stay, and the header is read before and after. A slab
/// entry is 56 bytes: the free-list tag of the slab fits in a pointer's niche.
struct Slot {
    task: Spawned,
    header: Arc<Header>,
    waker: Waker,
}

/// The tasks of one executor, on its thread.
pub(super) struct Table {
    /// The executor's run queue, closed when the table goes (no spawner can hand it more).
    queue: Arc<TaskQueue>,
    /// The tasks, by key (see [`Slot`] for what a running task leaves here).
    slots: RefCell<Slab<Slot>>,
    /// A test executor's: by slab key, where the task in that slot was spawned (`None` for a
    /// task from a `Spawner`); set whenever a task is adopted, so a reused key never shows the
    /// previous task's. Always empty on an ordinary executor.
    infos: RefCell<Vec<Option<TaskInfo>>>,
}

impl Table {
    pub(super) fn new(queue: Arc<TaskQueue>) -> Table {
        Table {
            queue,
            slots: RefCell::new(Slab::default()),
            infos: RefCell::new(Vec::new()),
        }
    }

    /// Moves the local queue, then the shared one, into the batch, and adopts tasks from
    /// spawners. The lock is taken only if another thread queued something.
    fn refill(&self, ex: &Executor) {
        let queues = &ex.local.queues;
        let injected = {
            let mut batch = queues.batch.borrow_mut();
            if !batch.is_empty() {
                return;
            }
            {
                // Swapped only when there is something to take: a `block_on` future that wakes
                // itself (no task) skips it.
                let mut ready = queues.ready.borrow_mut();
                if !ready.is_empty() {
                    std::mem::swap(&mut *ready, &mut *batch);
                }
            }
            if !self.queue.remote_pending() {
                return;
            }
            self.queue.take_remote(&mut batch)
        };
        for job in injected {
            job.header.set_key(self.slots.borrow().vacant_key());
            self.adopt(ex, job.task.into_local(), job.header, None);
        }
    }

    /// Puts a future in the slab and on the run queue. `header` is already marked `SCHEDULED`
    /// and holds the slab's vacant key.
    fn adopt(&self, ex: &Executor, task: Spawned, header: Arc<Header>, info: Option<TaskInfo>) {
        let waker = Waker::from(header.clone());
        let key = header.key();
        if ex.local.test.is_some() {
            let mut infos = self.infos.borrow_mut();
            if infos.len() <= key {
                infos.resize_with(key + 1, || None);
            }
            infos[key] = info;
        }
        let slot = Slot {
            task,
            header,
            waker,
        };
        let inserted = self.slots.borrow_mut().insert(slot);
        debug_assert_eq!(inserted, key);
        ex.local.queues.ready.borrow_mut().push_back(key);
    }

    /// Polls the task in slot `key` once (or drops it if it was cancelled).
    ///
    /// The future's box and the waker are moved out of the slab for the poll (the future may
    /// spawn, which needs the slab) and back after: no reference count is touched on this path.
    /// A future that finishes asks for its completion (`finished`), which takes the slot out of
    /// the slab.
    fn poll_task(&self, key: usize) {
        let (future, waker) = {
            let mut slots = self.slots.borrow_mut();
            let Some(slot) = slots.get_mut(key) else {
                return;
            };
            let Some(future) = slot.task.take_future() else {
                // Being polled already (a nested tick) or finished.
                return;
            };
            if !slot.header.begin_poll() {
                // Cancelled: closed now.
                let slot = slots.remove(key).expect("the slot was just found");
                drop(slots);
                // Dropped outside the slab borrow: its destructor may cancel other tasks.
                // Dropping it (back in its `Spawned`) tells the task's `Completion` that it was
                // cancelled, and cannot unwind: `Spawned` drops the user's future under
                // `catch_unwind`.
                let mut task = slot.task;
                task.put_future(future);
                drop(task);
                return;
            }
            // A no-op waker costs nothing to make (no allocation, no reference count).
            (
                future,
                std::mem::replace(&mut slot.waker, Waker::noop().clone()),
            )
        };
        let mut cx = Context::from_waker(&waker);
        // Called once the future has finished and been dropped: the slot leaves the slab, the
        // task is closed (wakes do nothing now), and its completion goes back to take the
        // outcome.
        let mut finished = || {
            let slot = self
                .slots
                .borrow_mut()
                .remove(key)
                .expect("a running task keeps its slot");
            slot.header.close();
            slot.task.into_done()
        };
        // A panic cannot escape: `poll_task` catches it around the user's future.
        let pending = {
            let _scope = PollScope::enter(&waker);
            future.poll_task(&mut cx, &mut finished)
        };
        if let Some(future) = pending {
            let mut slots = self.slots.borrow_mut();
            let slot = slots.get_mut(key).expect("a running task keeps its slot");
            slot.task.put_future(future);
            slot.waker = waker;
            let requeue = slot.header.end_poll();
            drop(slots);
            if requeue {
                // Woken (or cancelled) while it ran: it goes to the back, into the next batch.
                self.queue.push(key);
            }
        }
    }
}

impl Tasks for Table {
    fn insert(&self, ex: &Executor, task: Spawned, info: Option<TaskInfo>) -> Arc<Header> {
        let header = Header::new(self.slots.borrow().vacant_key(), self.queue.clone());
        self.adopt(ex, task, header.clone(), info);
        header
    }

    fn run_batch(&self, ex: &Executor) -> usize {
        self.refill(ex);
        let mut ran = 0;
        loop {
            let key = ex.local.queues.batch.borrow_mut().pop_front();
            let Some(key) = key else { return ran };
            self.poll_task(key);
            ex.count_poll();
            ran += 1;
        }
    }

    fn try_tick(&self, ex: &Executor) -> bool {
        // Takes a new batch only if the last one is done.
        self.refill(ex);
        let key = ex.local.queues.batch.borrow_mut().pop_front();
        match key {
            Some(key) => {
                self.poll_task(key);
                true
            }
            None => false,
        }
    }

    fn alive(&self) -> usize {
        self.slots.borrow().len()
    }

    fn alive_tasks(&self) -> Vec<String> {
        let slots = self.slots.borrow();
        let infos = self.infos.borrow();
        slots
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

impl Drop for Table {
    fn drop(&mut self) {
        let injected = self.queue.close();
        // Dropping a task's future tells its `Completion` that it was cancelled (or that its
        // destructor panicked); it never unwinds, so one bad destructor cannot stop the others
        // (or abort the process with a second panic during the unwinding).
        drop(injected);
        let slots: Vec<Slot> = self.slots.get_mut().drain().collect();
        for slot in slots {
            slot.header.close();
            drop(slot.task);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every task has a slab entry: the task (its future's box and its completion, two wide
    /// pointers), the header and the waker; the free-list tag shares a pointer's niche (56
    /// bytes; 40 when the completion lived inside the future's box, which then held the future
    /// twice).
    #[test]
    fn a_task_slab_entry_is_seven_words() {
        assert_eq!(Slab::<Slot>::ENTRY_SIZE, 56);
    }
}
