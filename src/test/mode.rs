//! What a test executor does when every task waits: give real I/O and other threads a grace
//! of real time, then jump the virtual clock to the next deadline; with no deadline, report a
//! deadlock instead of hanging. The executor calls it through its [`TestHook`].

use std::sync::Arc;
use std::time::Duration;

use crate::executor::{Idle, TestHook};
use crate::io_owner::IoCount;
use crate::reactor;
use crate::time::virtual_clock::{TimerClock, VirtualClock};

/// A test executor's clock and graces (see [`super::Builder`]).
pub(crate) struct TestMode {
    pub(crate) clock: Arc<VirtualClock>,
    /// Sockets registered during this executor's runs and still open: its own I/O.
    pub(crate) io: IoCount,
    /// Before the clock jumps while its own sockets are open, how long real I/O may still
    /// arrive.
    pub(crate) io_grace: Duration,
    /// With nothing runnable and no timer pending, how long another thread may still wake a
    /// task before the run is declared a deadlock.
    pub(crate) deadlock_grace: Duration,
}

impl TestHook for TestMode {
    fn clock(&self) -> &Arc<VirtualClock> {
        &self.clock
    }

    fn timer_clock(&self) -> Arc<dyn TimerClock> {
        self.clock.clone()
    }

    fn io(&self) -> &IoCount {
        &self.io
    }

    fn idle(&self, idle: &Idle<'_>) {
        reactor::turn_now();
        if idle.has_work() {
            return;
        }
        let clock = &self.clock;
        match clock.next_deadline() {
            Some(deadline) if !clock.is_paused() => {
                // One of its own sockets may still have an answer on its way: give it `io_grace`
                // of real time before time jumps past the deadlines that would otherwise time it
                // out. (Other tests' sockets, on other threads, do not count.)
                if self.io.open() > 0 && idle.sleep_at_most(self.io_grace) {
                    return;
                }
                clock.advance_to(deadline);
            }
            _ => {
                if idle.sleep_at_most(self.deadlock_grace) {
                    return;
                }
                panic!("{}", self.deadlock_report(idle));
            }
        }
    }
}

impl TestMode {
    fn deadlock_report(&self, idle: &Idle<'_>) -> String {
        let alive = idle.alive_tasks();
        let paused = self.clock.is_paused();
        let note = if paused {
            " The virtual clock is paused, so pending timers cannot fire."
        } else {
            ""
        };
        format!(
            "wisp::test: deadlock: the future given to block_on can never complete. No task is \
             runnable, no timer is pending ({} paused timers), and nothing woke a task for {:?} \
             of real time.{note} {} task(s) alive:\n{}",
            if paused { self.clock.pending() } else { 0 },
            self.deadlock_grace,
            alive.len(),
            alive.join("\n")
        )
    }
}
