//! An I/O source registered with the reactor: one socket, its readiness, and who waits on it.
//!
//! Each socket is registered once, for its whole life, in **edge-triggered** mode with interest
//! in both directions: the kernel reports each transition to readable or writable once, and no
//! re-arming syscall is needed after an event (oneshot mode would cost one `epoll_ctl` per wait).
//!
//! Readiness is kept as a counter per direction, bumped by every event. An operation reads the
//! counter, tries the syscall, and on `WouldBlock` registers its waker *only if the counter has
//! not moved meanwhile*; otherwise an event arrived in between and it simply tries again. So an
//! event is never lost between the syscall and the registration, and an event from an earlier
//! round can never make a socket look ready: readiness is always confirmed by the syscall itself.
//! The one shortcut goes the other way: a socket found empty (`EAGAIN`, or a peek) stays known
//! empty until its next read event ([`Source::poll_stream_read`]): no byte can be lost by it.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};

use super::Reactor;
use super::poller::Poller;
use crate::io_owner::{self, Counted};
use crate::sync::Mutex;

/// Which way a task waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    Read = 0,
    Write = 1,
}

/// The reactor's record of one registered socket.
pub(crate) struct Source {
    /// The key the poller reports events under: slab index in the low 32 bits, a generation in
    /// the high bits, so an event still in flight for a closed socket never touches the socket
    /// that reused its slot (tokio#5833).
    pub(super) key: usize,
    /// Events seen so far, per direction.
    ticks: [AtomicU64; 2],
    /// The read count at which the socket was found empty, plus one (0: never): a stream
    /// read's `WouldBlock`, or [`check_empty`](Source::check_empty). Until the next read event
    /// it is known to have nothing, so [`poll_stream_read`](Source::poll_stream_read) waits
    /// without the `recv` that would say `EAGAIN`: anything that arrives later (bytes, the end
    /// of the stream) raises an edge, hence an event and a new count.
    drained: AtomicU64,
    /// Tasks waiting per direction. Several tasks may share a socket (`&TcpStream` is
    /// `AsyncRead`), so this is a list, deduplicated with `will_wake`.
    wakers: Mutex<[Vec<Waker>; 2]>,
}

impl Source {
    pub(super) fn new(key: usize) -> Source {
        Source {
            key,
            ticks: [AtomicU64::new(0), AtomicU64::new(0)],
            drained: AtomicU64::new(0),
            wakers: Mutex::new([Vec::new(), Vec::new()]),
        }
    }

    /// Records an event and takes the wakers to call (outside the lock).
    pub(super) fn fire(&self, readable: bool, writable: bool, out: &mut Vec<Waker>) {
        let mut wakers = self.wakers.lock();
        for (dir, ready) in [(Direction::Read, readable), (Direction::Write, writable)] {
            if ready {
                self.ticks[dir as usize].fetch_add(1, Ordering::AcqRel);
                out.append(&mut wakers[dir as usize]);
            }
        }
    }

    /// Events seen so far in `dir`.
    pub(crate) fn ticks(&self, dir: Direction) -> u64 {
        self.ticks[dir as usize].load(Ordering::Acquire)
    }

    /// Stores the waker for the next event in `dir`, unless an event came after the count
    /// `seen`: then it returns `false` and the caller tries again. The check and the store are
    /// under the lock `fire` takes, so an event is either counted before or wakes this waker.
    fn wait_after(&self, dir: Direction, seen: u64, cx: &mut Context<'_>) -> bool {
        let mut wakers = self.wakers.lock();
        if self.ticks(dir) != seen {
            return false;
        }
        let list = &mut wakers[dir as usize];
        if !list.iter().any(|w| w.will_wake(cx.waker())) {
            list.push(cx.waker().clone());
        }
        drop(wakers);
        super::ensure_driven(cx.waker());
        true
    }

    /// Ready once an event in `dir` came after the count `since`; else stores the waker.
    pub(crate) fn poll_ready(&self, dir: Direction, cx: &mut Context<'_>, since: u64) -> Poll<()> {
        if self.ticks(dir) != since || !self.wait_after(dir, since, cx) {
            return Poll::Ready(());
        }
        Poll::Pending
    }

    /// Runs the non-blocking `op` until it does not report `WouldBlock` (or `Interrupted`); on
    /// `WouldBlock` with no event since the attempt, stores the waker and returns `Pending`.
    pub(crate) fn poll_io<R>(
        &self,
        dir: Direction,
        cx: &mut Context<'_>,
        mut op: impl FnMut() -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        loop {
            let seen = self.ticks[dir as usize].load(Ordering::Acquire);
            match op() {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if self.wait_after(dir, seen, cx) {
                        return Poll::Pending;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                result => return Poll::Ready(result),
            }
        }
    }
}

impl Source {
    /// [`poll_io`](Source::poll_io) for a read from a stream socket, which does not ask the
    /// kernel when it already knows the answer: after a `WouldBlock`, or after
    /// [`check_empty`](Source::check_empty) found nothing, and with no read event since, it
    /// waits at once. So a request-response loop that checks its connection before each
    /// request costs one `recv` per answer, not two. (A short read is *not* taken as empty: the
    /// end of the stream may be queued behind the bytes it returned, and with no event to come
    /// for it, the next read would wait forever.)
    pub(crate) fn poll_stream_read(
        &self,
        cx: &mut Context<'_>,
        mut op: impl FnMut() -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        let dir = Direction::Read;
        loop {
            let seen = self.ticks(dir);
            if self.drained.load(Ordering::Acquire) != seen.wrapping_add(1) {
                match op() {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    result => return Poll::Ready(result),
                }
            }
            // Empty as of `seen`: wait, unless an event came in meanwhile (then try again).
            // The mark may land after an event that follows the wait: it then names an older
            // count than the current one and spares nothing.
            if self.wait_after(dir, seen, cx) {
                self.drained.store(seen.wrapping_add(1), Ordering::Release);
                return Poll::Pending;
            }
        }
    }

    /// Whether nothing is queued to read, neither bytes nor the end of the stream, as the
    /// non-blocking `peek` finds now (it must say `WouldBlock` for exactly that). If so, the
    /// socket is recorded as empty until its next read event.
    #[cfg_attr(
        not(any(test, feature = "http")),
        expect(dead_code, reason = "the HTTP pool's check of an idle connection")
    )]
    pub(crate) fn check_empty(&self, mut peek: impl FnMut() -> io::Result<usize>) -> bool {
        loop {
            let seen = self.ticks(Direction::Read);
            match peek() {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.drained.store(seen.wrapping_add(1), Ordering::Release);
                    return true;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                _ => return false,
            }
        }
    }
}

/// A socket registered with the reactor for as long as this value lives.
///
/// Dropping it (or [`into_inner`](Registered::into_inner)) deletes the socket from the poller
/// *before* the socket is closed, so a reused fd number never receives this socket's events.
pub(crate) struct Registered<T: AsFd> {
    source: Arc<Source>,
    /// Always `Some`, except inside `into_inner` and `drop`.
    io: Option<T>,
    /// Counts toward the test executor running where it was registered (see `io_owner`).
    _owner: Counted,
}

impl<T: AsFd> Registered<T> {
    /// Registers `io`, which must already be in non-blocking mode.
    pub(crate) fn new(io: T) -> io::Result<Registered<T>> {
        let source = super::get().register(io.as_fd())?;
        Ok(Registered {
            source,
            io: Some(io),
            _owner: io_owner::counted_here(),
        })
    }

    pub(crate) fn get_ref(&self) -> &T {
        self.io.as_ref().expect("io is present until drop")
    }

    /// Runs a non-blocking operation on the socket, waiting for readiness in `dir` as needed.
    pub(crate) fn poll_io<R>(
        &self,
        dir: Direction,
        cx: &mut Context<'_>,
        mut op: impl FnMut(&T) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        let io = self.get_ref();
        self.source.poll_io(dir, cx, || op(io))
    }

    /// A read from a stream socket; see [`Source::poll_stream_read`].
    pub(crate) fn poll_stream_read(
        &self,
        cx: &mut Context<'_>,
        mut op: impl FnMut(&T) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        let io = self.get_ref();
        self.source.poll_stream_read(cx, || op(io))
    }

    /// Whether nothing is queued to read; see [`Source::check_empty`].
    #[cfg(feature = "http")]
    pub(crate) fn check_empty(&self, mut peek: impl FnMut(&T) -> io::Result<usize>) -> bool {
        let io = self.get_ref();
        self.source.check_empty(|| peek(io))
    }

    /// Events the reactor has seen on the socket in `dir`.
    pub(crate) fn ticks(&self, dir: Direction) -> u64 {
        self.source.ticks(dir)
    }

    /// Ready once the reactor has seen an event in `dir` after the count `since`.
    pub(crate) fn poll_ready(&self, dir: Direction, cx: &mut Context<'_>, since: u64) -> Poll<()> {
        self.source.poll_ready(dir, cx, since)
    }

    /// Deregisters the socket and hands it back (converting back into a std type must
    /// deregister, tokio#3103).
    pub(crate) fn into_inner(mut self) -> io::Result<T> {
        let io = self.io.take().expect("io is present until drop");
        super::get().deregister(&self.source, io.as_fd())?;
        Ok(io)
    }
}

impl<T: AsFd> Drop for Registered<T> {
    fn drop(&mut self) {
        if let Some(io) = self.io.take() {
            // Deleting can only fail if the fd is not registered, which `new` guarantees it is.
            let _ = super::get().deregister(&self.source, io.as_fd());
            drop(io);
        }
    }
}

impl Reactor {
    /// Adds `fd` to the poller and records its source.
    fn register(&self, fd: BorrowedFd<'_>) -> io::Result<Arc<Source>> {
        let mut sources = self.io_sources.lock();
        let index = sources.vacant_key();
        let generation = self.generation.fetch_add(1, Ordering::Relaxed) & 0xffff_ffff;
        let key = index | ((generation as usize) << 32);
        let source = Arc::new(Source::new(key));
        add_to_poller(&self.poller, fd, key)?;
        sources.insert(source.clone());
        self.sources.store(sources.len(), Ordering::Relaxed);
        Ok(source)
    }

    /// Deletes `fd` from the poller and forgets its source; must run before `fd` closes.
    fn deregister(&self, source: &Source, fd: BorrowedFd<'_>) -> io::Result<()> {
        let deleted = self.poller.delete(fd);
        let mut sources = self.io_sources.lock();
        sources.remove(source.key & 0xffff_ffff);
        self.sources.store(sources.len(), Ordering::Relaxed);
        deleted
    }
}

/// The crate's one `unsafe` block.
#[allow(unsafe_code)]
// Under `cfg(wisp_loom)` the poller is a stand-in whose `add_with_mode` is safe.
#[cfg_attr(wisp_loom, allow(unused_unsafe))]
fn add_to_poller(poller: &Poller, fd: BorrowedFd<'_>, key: usize) -> io::Result<()> {
    let interest = polling::Event::all(key);
    // SAFETY: `Poller::add` requires that the fd be deleted from the poller before it is closed.
    // The only caller is `Registered::new`, and a `Registered` owns the socket (`io`): both its
    // `Drop` and `into_inner` call `deregister` (which deletes the fd) while `io` is still alive,
    // and nothing else can close it since `io` is never handed out by value while registered.
    unsafe { poller.add_with_mode(fd.as_raw_fd(), interest, polling::PollMode::Edge) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A non-blocking UDP socket on 127.0.0.1, just something to register.
    fn socket() -> std::net::UdpSocket {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_nonblocking(true).unwrap();
        socket
    }

    #[test]
    fn an_interrupted_operation_is_tried_again() {
        let source = Source::new(0);
        let mut cx = Context::from_waker(Waker::noop());
        let mut calls = 0;
        let out = source.poll_io(Direction::Read, &mut cx, || {
            calls += 1;
            if calls == 1 {
                Err(io::Error::from(io::ErrorKind::Interrupted))
            } else {
                Ok(7)
            }
        });
        assert!(matches!(out, Poll::Ready(Ok(7))), "{out:?}");
        assert_eq!(calls, 2);
    }

    /// A stream read through `poll_stream_read` whose `op` answers from `answers` in turn,
    /// counting the calls.
    fn stream_read(
        source: &Source,
        answers: &mut Vec<io::Result<usize>>,
    ) -> (Poll<io::Result<usize>>, usize) {
        let mut cx = Context::from_waker(Waker::noop());
        let mut calls = 0;
        let out = source.poll_stream_read(&mut cx, || {
            calls += 1;
            answers.remove(0)
        });
        (out, calls)
    }

    fn would_block() -> io::Result<usize> {
        Err(io::ErrorKind::WouldBlock.into())
    }

    #[test]
    fn after_would_block_the_next_stream_read_waits_for_an_event_without_a_syscall() {
        let source = Source::new(0);
        let mut answers = vec![would_block(), Ok(3), Ok(0)];
        let (out, calls) = stream_read(&source, &mut answers);
        assert!(
            out.is_pending() && calls == 1,
            "{out:?} after {calls} calls"
        );
        let (out, calls) = stream_read(&source, &mut answers);
        assert!(
            out.is_pending() && calls == 0,
            "{out:?} after {calls} calls"
        );
        assert!(
            !source.wakers.lock()[Direction::Read as usize].is_empty(),
            "waits"
        );
        let mut woken = Vec::new();
        source.fire(true, false, &mut woken);
        assert!(!woken.is_empty());
        // An event: the kernel is asked again.
        let (out, calls) = stream_read(&source, &mut answers);
        assert!(matches!(out, Poll::Ready(Ok(3))) && calls == 1, "{out:?}");
        // A short read says nothing: the end of the stream may be queued behind it.
        let (out, calls) = stream_read(&source, &mut answers);
        assert!(matches!(out, Poll::Ready(Ok(0))) && calls == 1, "{out:?}");
        assert!(answers.is_empty());
    }

    #[test]
    fn a_quiet_peek_spares_the_next_read_its_syscall_and_a_noisy_one_does_not() {
        let source = Source::new(0);
        assert!(source.check_empty(would_block));
        let (out, calls) = stream_read(&source, &mut vec![]);
        assert!(
            out.is_pending() && calls == 0,
            "{out:?} after {calls} calls"
        );
        source.fire(true, false, &mut Vec::new());
        // Bytes, or the end of the stream, queued: not empty, and nothing recorded.
        assert!(!source.check_empty(|| Ok(1)));
        assert!(!source.check_empty(|| Ok(0)));
        let reset = || Err(io::Error::from(io::ErrorKind::ConnectionReset));
        assert!(!source.check_empty(reset));
        let (out, calls) = stream_read(&source, &mut vec![Ok(0)]);
        assert!(matches!(out, Poll::Ready(Ok(0))) && calls == 1, "{out:?}");
    }

    #[test]
    fn an_interrupted_stream_read_or_peek_is_tried_again() {
        let source = Source::new(0);
        let interrupted = || Err(io::Error::from(io::ErrorKind::Interrupted));
        let mut answers = vec![interrupted(), Ok(4)];
        let (out, calls) = stream_read(&source, &mut answers);
        assert!(matches!(out, Poll::Ready(Ok(4))) && calls == 2, "{out:?}");
        let mut peeks = vec![interrupted(), would_block()];
        assert!(source.check_empty(|| peeks.remove(0)));
        assert!(peeks.is_empty());
    }

    #[test]
    fn an_end_of_stream_or_an_error_is_read_again() {
        let source = Source::new(0);
        let reset = || Err(io::Error::from(io::ErrorKind::ConnectionReset));
        let mut answers = vec![Ok(0), Ok(0), reset(), reset()];
        for _ in 0..2 {
            let (out, calls) = stream_read(&source, &mut answers);
            assert!(matches!(out, Poll::Ready(Ok(0))) && calls == 1, "{out:?}");
        }
        for _ in 0..2 {
            let (out, calls) = stream_read(&source, &mut answers);
            assert!(matches!(out, Poll::Ready(Err(_))) && calls == 1, "{out:?}");
        }
    }

    #[test]
    fn an_event_between_the_try_and_the_wait_makes_the_read_try_again() {
        let source = Source::new(0);
        let mut cx = Context::from_waker(Waker::noop());
        let mut calls = 0;
        let out = source.poll_stream_read(&mut cx, || {
            calls += 1;
            if calls == 1 {
                // Data came in (and its event was dispatched) while this read said EAGAIN.
                source.fire(true, false, &mut Vec::new());
                Err(io::ErrorKind::WouldBlock.into())
            } else {
                Ok(8)
            }
        });
        assert!(matches!(out, Poll::Ready(Ok(8))) && calls == 2, "{out:?}");
    }

    #[test]
    fn an_event_for_a_closed_socket_does_not_reach_the_one_that_reused_its_slot() {
        // A reactor of its own: no other test registers in it meanwhile.
        let reactor = Reactor::new();
        let old = socket();
        let old_source = reactor.register(old.as_fd()).unwrap();
        let stale_key = old_source.key;
        reactor.deregister(&old_source, old.as_fd()).unwrap();
        let new = socket();
        let new_source = reactor.register(new.as_fd()).unwrap();
        assert_eq!(
            new_source.key & 0xffff_ffff,
            stale_key & 0xffff_ffff,
            "the slot is reused"
        );
        assert_ne!(new_source.key, stale_key, "under a new generation");
        // An event for the old socket, still in flight when it closed.
        reactor.dispatch(
            [polling::Event::all(stale_key)].into_iter(),
            &mut Vec::new(),
            &mut Vec::new(),
        );
        assert_eq!(
            new_source.ticks[Direction::Read as usize].load(Ordering::Acquire),
            0
        );
        assert_eq!(
            new_source.ticks[Direction::Write as usize].load(Ordering::Acquire),
            0
        );
        // The new socket's own event does reach it, one direction at a time.
        reactor.dispatch(
            [polling::Event::readable(new_source.key)].into_iter(),
            &mut Vec::new(),
            &mut Vec::new(),
        );
        assert_eq!(
            new_source.ticks[Direction::Read as usize].load(Ordering::Acquire),
            1
        );
        assert_eq!(
            new_source.ticks[Direction::Write as usize].load(Ordering::Acquire),
            0
        );
        reactor.dispatch(
            [polling::Event::writable(new_source.key)].into_iter(),
            &mut Vec::new(),
            &mut Vec::new(),
        );
        assert_eq!(
            new_source.ticks[Direction::Write as usize].load(Ordering::Acquire),
            1
        );
        reactor.deregister(&new_source, new.as_fd()).unwrap();
        assert_eq!(reactor.sources.load(Ordering::Relaxed), 0);
    }
}
