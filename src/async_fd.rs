//! [`Async<T>`]: any file descriptor (a pipe, an eventfd, a tty, a socket wisp has no type for)
//! registered with the reactor, as async-io's `Async` does it.
//!
//! ```
//! use std::io::{Read, Write};
//! use wisp::Async;
//!
//! let (reader, writer) = std::io::pipe().unwrap();
//! let (reader, writer) = (Async::new(reader).unwrap(), Async::new(writer).unwrap());
//! let got = wisp::block_on(async {
//!     writer.write_with(|mut w| w.write(b"ping")).await.unwrap();
//!     let mut buf = [0; 4];
//!     let n = reader.read_with(|mut r| r.read(&mut buf)).await.unwrap();
//!     buf[..n].to_vec()
//! });
//! assert_eq!(got, b"ping");
//! ```
//!
//! Readiness follows the reactor's rule (see `reactor/source.rs`): it is confirmed by the
//! operation itself. [`Async::readable`] resolves once the reactor has seen the descriptor
//! become readable since the last time an operation in that direction returned `WouldBlock`;
//! so it may resolve when a read would still block (a spurious wake-up, which the next
//! `read_with` absorbs), but never misses data that came in.

use std::fmt;
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use crate::reactor::{Direction, Registered};

/// A file descriptor in non-blocking mode, registered with the reactor for as long as this
/// value lives. `T: Read` or `Write` through `&T` (pipes, Unix and TCP sockets, files of
/// `/dev`) makes it `AsyncRead` or `AsyncWrite` (futures-io), and `&Async<T>` too.
pub struct Async<T: AsFd> {
    io: Registered<T>,
    /// Per direction: the reactor's event count when an operation last returned `WouldBlock`.
    cleared: [AtomicU64; 2],
}

impl<T: AsFd> Async<T> {
    /// Switches `io` to non-blocking mode (`fcntl(F_SETFL, O_NONBLOCK)`) and registers it.
    pub fn new(io: T) -> io::Result<Async<T>> {
        // socket2's `SockRef` is a borrowed view of the fd; its `set_nonblocking` is the one
        // fcntl call, which means the same for any descriptor, a socket or not.
        socket2::SockRef::from(&io).set_nonblocking(true)?;
        Async::new_nonblocking(io)
    }

    /// Registers `io`, which the caller has put in non-blocking mode already. (A blocking
    /// descriptor would block the executor's thread in every operation.)
    pub fn new_nonblocking(io: T) -> io::Result<Async<T>> {
        Ok(Async {
            io: Registered::new(io)?,
            cleared: [AtomicU64::new(0), AtomicU64::new(0)],
        })
    }

    pub fn get_ref(&self) -> &T {
        self.io.get_ref()
    }

    /// Deregisters the descriptor and gives it back (still in non-blocking mode).
    pub fn into_inner(self) -> io::Result<T> {
        self.io.into_inner()
    }

    /// Waits until the descriptor may be readable (see the module documentation).
    pub async fn readable(&self) -> io::Result<()> {
        self.ready(Direction::Read).await
    }

    /// Waits until the descriptor may be writable.
    pub async fn writable(&self) -> io::Result<()> {
        self.ready(Direction::Write).await
    }

    async fn ready(&self, dir: Direction) -> io::Result<()> {
        let cleared = self.cleared[dir as usize].load(Ordering::Acquire);
        std::future::poll_fn(|cx| self.io.poll_ready(dir, cx, cleared)).await;
        Ok(())
    }

    /// Runs the non-blocking `op` on the descriptor until it does not return `WouldBlock`,
    /// waiting for the reactor between tries.
    pub async fn read_with<R>(&self, op: impl FnMut(&T) -> io::Result<R>) -> io::Result<R> {
        let mut op = op;
        std::future::poll_fn(|cx| self.poll_with(Direction::Read, cx, &mut op)).await
    }

    /// [`read_with`](Async::read_with) for writing.
    pub async fn write_with<R>(&self, op: impl FnMut(&T) -> io::Result<R>) -> io::Result<R> {
        let mut op = op;
        std::future::poll_fn(|cx| self.poll_with(Direction::Write, cx, &mut op)).await
    }

    /// A read from a stream socket (see `Source::poll_stream_read`).
    pub(crate) fn poll_stream_read(
        &self,
        cx: &mut Context<'_>,
        op: impl FnMut(&T) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        let seen = self.io.ticks(Direction::Read);
        let out = self.io.poll_stream_read(cx, op);
        if out.is_pending() {
            self.cleared[Direction::Read as usize].store(seen, Ordering::Release);
        }
        out
    }

    /// Whether nothing is queued to read (see `Source::check_empty`).
    #[cfg(feature = "http")]
    pub(crate) fn check_empty(&self, peek: impl FnMut(&T) -> io::Result<usize>) -> bool {
        self.io.check_empty(peek)
    }

    /// One try of `op`, registering for the next event on `WouldBlock`.
    pub(crate) fn poll_with<R>(
        &self,
        dir: Direction,
        cx: &mut Context<'_>,
        op: impl FnMut(&T) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        // Read before the try: an event in between only makes `readable` resolve once more.
        let seen = self.io.ticks(dir);
        let out = self.io.poll_io(dir, cx, op);
        if out.is_pending() {
            self.cleared[dir as usize].store(seen, Ordering::Release);
        }
        out
    }
}

impl<T: AsFd + fmt::Debug> fmt::Debug for Async<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Async").field(self.get_ref()).finish()
    }
}

impl<T: AsFd> futures_io::AsyncRead for &Async<T>
where
    for<'a> &'a T: Read,
{
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_with(Direction::Read, cx, |mut io| io.read(buf))
    }
}

/// The same as for `&Async<T>`.
impl<T: AsFd> futures_io::AsyncRead for Async<T>
where
    for<'a> &'a T: Read,
{
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut &*self).poll_read(cx, buf)
    }
}

impl<T: AsFd> futures_io::AsyncWrite for &Async<T>
where
    for<'a> &'a T: Write,
{
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_with(Direction::Write, cx, |mut io| io.write(buf))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_with(Direction::Write, cx, |mut io| io.flush())
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_flush(cx)
    }
}

/// The same as for `&Async<T>`.
impl<T: AsFd> futures_io::AsyncWrite for Async<T>
where
    for<'a> &'a T: Write,
{
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut &*self).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut &*self).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut &*self).poll_close(cx)
    }
}
