//! The OS poller the reactor waits in: `polling`'s, or, under `cfg(wisp_loom)`, a stand-in that
//! loom can explore (a wait that ends only at a `notify`, no file descriptors), so that the loom
//! models run the reactor's real sleep and hand-off code (`src/loom_models.rs`).

#[cfg(not(wisp_loom))]
pub(crate) use polling::{Events, Poller};

#[cfg(wisp_loom)]
pub(crate) use stand_in::{Events, Poller};

#[cfg(wisp_loom)]
mod stand_in {
    use std::io;
    use std::os::fd::RawFd;
    use std::time::Duration;

    use crate::sync::{Condvar, Mutex};

    /// No event ever arrives: the models have no sockets.
    pub(crate) struct Events;

    impl Events {
        pub(crate) fn new() -> Events {
            Events
        }

        pub(crate) fn clear(&mut self) {}

        pub(crate) fn is_empty(&self) -> bool {
            true
        }

        pub(crate) fn iter(&self) -> std::iter::Empty<polling::Event> {
            std::iter::empty()
        }
    }

    /// A wait that returns at a `notify` (made before or during it), or at once for a zero
    /// timeout; like `polling`'s, a `notify` with nobody waiting ends the next wait. An event
    /// ([`Poller::post`]) is delivered by whoever waits, as readiness is: its waker is called by
    /// the driving thread when its wait ends.
    pub(crate) struct Poller {
        notified: Mutex<(bool, Vec<std::task::Waker>)>,
        woken: Condvar,
    }

    impl Poller {
        pub(crate) fn new() -> io::Result<Poller> {
            Ok(Poller {
                notified: Mutex::new((false, Vec::new())),
                woken: Condvar::new(),
            })
        }

        pub(crate) fn wait(
            &self,
            _events: &mut Events,
            timeout: Option<Duration>,
        ) -> io::Result<usize> {
            let mut state = self.notified.lock();
            if timeout != Some(Duration::ZERO) {
                // The models set no timer: only a notify can end this wait.
                while !state.0 {
                    state = self.woken.wait(state);
                }
            }
            state.0 = false;
            let events = std::mem::take(&mut state.1);
            drop(state);
            for waker in events {
                waker.wake();
            }
            Ok(0)
        }

        pub(crate) fn notify(&self) -> io::Result<()> {
            self.notified.lock().0 = true;
            self.woken.notify_one();
            Ok(())
        }

        /// An event for `waker`, as a socket's readiness: only a thread waiting in the poller
        /// (the reactor's driver) delivers it.
        pub(crate) fn post(&self, waker: std::task::Waker) {
            let mut state = self.notified.lock();
            state.1.push(waker);
            state.0 = true;
            drop(state);
            self.woken.notify_one();
        }

        pub(crate) fn add_with_mode(
            &self,
            _fd: RawFd,
            _interest: polling::Event,
            _mode: polling::PollMode,
        ) -> io::Result<()> {
            Ok(())
        }

        pub(crate) fn delete(&self, _fd: std::os::fd::BorrowedFd<'_>) -> io::Result<()> {
            Ok(())
        }
    }
}
