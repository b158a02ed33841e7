//! Unix signals as futures (feature `signal`): [`ctrl_c`] and a [`Signals`] stream of the ones
//! you choose, delivered through the reactor like any socket.
//!
//! ```no_run
//! use futures_util::StreamExt;
//! use wisp::signal::{Signals, SIGHUP, SIGTERM};
//!
//! wisp::block_on(async {
//!     let mut signals = Signals::new(&[SIGHUP, SIGTERM]).unwrap();
//!     while let Some(signal) = signals.next().await {
//!         if signal == SIGTERM {
//!             break;
//!         }
//!         // SIGHUP: reload the configuration.
//!     }
//! });
//! ```
//!
//! How: the self-pipe pattern of `signal-hook`. For each signal, a flag and then a byte on a
//! socket pair are set by the handler (async-signal-safe, nothing else); the read end is
//! registered with the reactor. A waiting task wakes on the byte, empties the socket first and
//! only then reads and clears the flags, so a signal that comes in between is never lost: at
//! worst it costs one more wake-up. Several signals of one kind before the task looks count as
//! one, as the kernel does with pending signals.

use std::collections::VecDeque;
use std::io::{self, Read};
use std::os::unix::net::UnixStream;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use futures_core::Stream;
use signal_hook::SigId;
pub use signal_hook::consts::signal::{SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2};

use crate::reactor::{Direction, Registered};

/// The signals chosen at [`Signals::new`], as a stream of their numbers, in the order the
/// task sees them. Dropping it stops the delivery, but (as signal-hook documents) does not put
/// back the signal's default action: a `SIGTERM` caught once and dropped is ignored from then
/// on. Catch termination signals for the program's whole life, or until it shuts down.
pub struct Signals {
    read: Registered<UnixStream>,
    /// The write end, which the handlers write to; kept open for as long as they are installed.
    _write: UnixStream,
    flags: Vec<(i32, Arc<AtomicBool>)>,
    ids: Vec<SigId>,
    ready: VecDeque<i32>,
}

impl std::fmt::Debug for Signals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let signals: Vec<i32> = self.flags.iter().map(|(s, _)| *s).collect();
        f.debug_struct("Signals")
            .field("signals", &signals)
            .finish_non_exhaustive()
    }
}

impl Signals {
    /// Starts catching `signals`. Refused (`InvalidInput`) for the ones a program may not catch:
    /// `SIGKILL`, `SIGSTOP`, and `SIGILL`, `SIGFPE`, `SIGSEGV` (the "forbidden" set of
    /// signal-hook), and for numbers that are no signal.
    pub fn new(signals: &[i32]) -> io::Result<Signals> {
        let (read, write) = UnixStream::pair()?;
        read.set_nonblocking(true)?;
        write.set_nonblocking(true)?;
        let mut out = Signals {
            read: Registered::new(read)?,
            _write: write,
            flags: Vec::new(),
            ids: Vec::new(),
            ready: VecDeque::new(),
        };
        for &signal in signals {
            if signal_hook::consts::FORBIDDEN.contains(&signal) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("signal {signal} cannot be caught"),
                ));
            }
            let flag = Arc::new(AtomicBool::new(false));
            // The flag first, then the byte: the reader empties the socket, then reads flags.
            out.ids
                .push(signal_hook::flag::register(signal, flag.clone())?);
            out.ids.push(signal_hook::low_level::pipe::register(
                signal,
                out._write.try_clone()?,
            )?);
            out.flags.push((signal, flag));
        }
        Ok(out)
    }

    /// The next signal (the stream's next item, without a stream library).
    pub async fn recv(&mut self) -> Option<i32> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }

    /// Moves the signals whose flag is set to `ready`.
    fn collect(&mut self) {
        for (signal, flag) in &self.flags {
            if flag.swap(false, Ordering::AcqRel) {
                self.ready.push_back(*signal);
            }
        }
    }
}

impl Stream for Signals {
    type Item = i32;

    /// Never ends (`None` only if the socket pair failed, which it does not).
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<i32>> {
        loop {
            if let Some(signal) = self.ready.pop_front() {
                return Poll::Ready(Some(signal));
            }
            let drained = self.read.poll_io(Direction::Read, cx, |mut s| {
                let mut buf = [0u8; 64];
                s.read(&mut buf)
            });
            match drained {
                // More may be left: read again, then look at the flags.
                Poll::Ready(Ok(n)) if n > 0 => self.collect(),
                Poll::Ready(_) => return Poll::Ready(None),
                Poll::Pending => {
                    // Empty, and the waker is in place for the next byte.
                    self.collect();
                    match self.ready.pop_front() {
                        Some(signal) => return Poll::Ready(Some(signal)),
                        None => return Poll::Pending,
                    }
                }
            }
        }
    }
}

impl Drop for Signals {
    fn drop(&mut self) {
        for id in self.ids.drain(..) {
            signal_hook::low_level::unregister(id);
        }
    }
}

/// Waits for the next Ctrl-C (`SIGINT`). From its first poll on, Ctrl-C no longer ends the
/// program (this future is its handler, and after it, nothing: see [`Signals`] on dropping).
pub async fn ctrl_c() -> io::Result<()> {
    Signals::new(&[SIGINT])?.recv().await;
    Ok(())
}
