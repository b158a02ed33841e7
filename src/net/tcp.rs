//! [`TcpStream`] and [`TcpListener`].

use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_io::{AsyncRead, AsyncWrite};
use socket2::{Domain, Protocol, Socket, Type};

use crate::net::ToSocketAddrs;
use crate::net::addr::{resolve, try_each};
use crate::net::happy_eyeballs::{ATTEMPT_DELAY, interleave, race};
use crate::net::registered::{self, std_conversions};
use crate::reactor::Direction;

/// A TCP connection.
///
/// Reads and writes go through `&self`, so one task can read while another writes (`AsyncRead`
/// and `AsyncWrite` are implemented for `&TcpStream` too). Dropping the stream closes it.
pub struct TcpStream {
    io: registered::Socket<std::net::TcpStream>,
}

impl TcpStream {
    /// Connects to `addr`. When it resolves to several addresses they are raced (Happy
    /// Eyeballs, RFC 8305): the first attempt starts at once, each next one 250 ms after the
    /// one before or at once when that one fails, the families (IPv6, IPv4) alternate, and the
    /// first connection made wins (the other attempts are closed). If every attempt fails, the
    /// error of the last one to fail is returned. The connect is non-blocking and has no
    /// deadline of its own; bound it with [`wisp::time::timeout`](crate::time::timeout).
    ///
    /// Errors are `io::Error`s with their usual kinds: `ConnectionRefused`, `TimedOut`,
    /// `InvalidInput` for a malformed address, or the resolver's error for an unknown name.
    pub async fn connect(addr: impl ToSocketAddrs) -> io::Result<TcpStream> {
        let addrs = interleave(resolve(&addr).await?);
        race(addrs, ATTEMPT_DELAY, connect_addr).await
    }

    /// Reads some bytes into `buf`; `Ok(0)` means the peer closed its side (or `buf` is empty).
    pub async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        std::future::poll_fn(|cx| self.poll_read_ref(cx, buf)).await
    }

    /// Fills `buf` entirely, or fails with `UnexpectedEof` if the peer closes first.
    pub async fn read_exact(&self, mut buf: &mut [u8]) -> io::Result<()> {
        while !buf.is_empty() {
            match self.read(buf).await? {
                0 => return Err(io::ErrorKind::UnexpectedEof.into()),
                n => buf = &mut buf[n..],
            }
        }
        Ok(())
    }

    /// Writes some bytes from `buf`, returning how many.
    pub async fn write(&self, buf: &[u8]) -> io::Result<usize> {
        std::future::poll_fn(|cx| self.poll_write_ref(cx, buf)).await
    }

    /// Writes all of `buf`.
    pub async fn write_all(&self, mut buf: &[u8]) -> io::Result<()> {
        while !buf.is_empty() {
            match self.write(buf).await? {
                0 => return Err(io::ErrorKind::WriteZero.into()),
                n => buf = &buf[n..],
            }
        }
        Ok(())
    }

    /// Does nothing: a `TcpStream` has no user-space buffer. Here for symmetry with `AsyncWrite`.
    pub async fn flush(&self) -> io::Result<()> {
        Ok(())
    }

    /// Shuts down the read half, the write half or both, at once (as in std). After
    /// `Shutdown::Write` the peer reads EOF, and this side can still read what it sends back.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.io.get_ref().shutdown(how)
    }

    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().peer_addr()
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// Disables (or re-enables) Nagle's algorithm: small writes go out at once.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.io.get_ref().set_nodelay(nodelay)
    }

    pub fn nodelay(&self) -> io::Result<bool> {
        self.io.get_ref().nodelay()
    }

    fn poll_read_ref(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        // `recv` of zero bytes on an idle socket says `EAGAIN`, and no readiness event would
        // ever end that wait: an empty read is answered here, as std's `Read` contract wants.
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        self.io.poll_stream_read(cx, |mut s| s.read(buf))
    }

    /// Whether nothing has come in, neither bytes nor the end of the stream, as the kernel says
    /// now: one `recv(MSG_PEEK)` of a byte, never a count the reactor may not have caught up
    /// with. What a pool asks of an idle connection before it reuses it; and since the answer
    /// is the kernel's, the read of the reply to the next request waits for the reactor's
    /// event without a `recv` of its own first.
    #[cfg(feature = "http")]
    pub(crate) fn is_quiet_now(&self) -> bool {
        self.io.check_empty(|s| s.peek(&mut [0u8; 1]))
    }

    fn poll_write_ref(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.io.poll_io(Direction::Write, cx, |mut s| s.write(buf))
    }
}

/// One non-blocking connect: start it, wait until writable, then read `SO_ERROR` (writable alone
/// does not mean connected).
async fn connect_addr(addr: SocketAddr) -> io::Result<TcpStream> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_nonblocking(true)?;
    match socket.connect(&addr.into()) {
        Ok(()) => {}
        Err(e)
            if e.raw_os_error() == Some(libc::EINPROGRESS)
                || e.kind() == io::ErrorKind::WouldBlock => {}
        Err(e) => return Err(e),
    }
    let stream = TcpStream {
        io: registered::Socket::from_nonblocking(std::net::TcpStream::from(socket))?,
    };
    std::future::poll_fn(|cx| {
        stream
            .io
            .poll_io(Direction::Write, cx, |s| match s.take_error()? {
                Some(e) => Err(e),
                None => match s.peer_addr() {
                    Ok(_) => Ok(()),
                    Err(e) if e.kind() == io::ErrorKind::NotConnected => {
                        Err(io::ErrorKind::WouldBlock.into())
                    }
                    Err(e) => Err(e),
                },
            })
    })
    .await?;
    Ok(stream)
}

std_conversions!(TcpStream, std::net::TcpStream, "connected", "stream");

impl AsyncRead for &TcpStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_read_ref(cx, buf)
    }

    fn poll_read_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
    ) -> Poll<io::Result<usize>> {
        if bufs.iter().all(|b| b.is_empty()) {
            return Poll::Ready(Ok(0));
        }
        self.io.poll_stream_read(cx, |mut s| s.read_vectored(bufs))
    }
}

impl AsyncWrite for &TcpStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_ref(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.io
            .poll_io(Direction::Write, cx, |mut s| s.write_vectored(bufs))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// Half-closes: the peer reads EOF, and this side can still read its answer.
    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(match self.shutdown(Shutdown::Write) {
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
            other => other,
        })
    }
}

impl AsyncRead for TcpStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut &*self).poll_read(cx, buf)
    }

    fn poll_read_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut &*self).poll_read_vectored(cx, bufs)
    }
}

impl AsyncWrite for TcpStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut &*self).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut &*self).poll_write_vectored(cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut &*self).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut &*self).poll_close(cx)
    }
}

/// The accept queue length asked of the kernel (capped by `net.core.somaxconn`).
const LISTEN_BACKLOG: i32 = 1024;

/// A TCP socket listening for connections.
pub struct TcpListener {
    io: registered::Socket<std::net::TcpListener>,
}

impl TcpListener {
    /// Binds to `addr` (async because a name may need resolving), trying each resolved address.
    /// `AddrInUse` if the port is taken. Port 0 picks a free port: see
    /// [`local_addr`](TcpListener::local_addr).
    ///
    /// The accept backlog is 1024 (std uses 128): a burst of a thousand connects then waits in
    /// the kernel's queue instead of having SYNs dropped and retried a second later.
    /// `SO_REUSEADDR` is set, as tokio and std do, so a restarted server can bind its port while
    /// old connections sit in `TIME_WAIT`.
    pub async fn bind(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        try_each(&addr, |addr| async move {
            let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
            socket.set_reuse_address(true)?;
            socket.bind(&addr.into())?;
            socket.listen(LISTEN_BACKLOG)?;
            TcpListener::try_from(std::net::TcpListener::from(socket))
        })
        .await
    }

    /// Waits for a connection. Errors such as `EMFILE` (out of file descriptors) are returned
    /// as they are; the listener stays usable. The reactor is edge-triggered, so an error here
    /// never turns into a busy loop inside wisp (libuv#690).
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (stream, addr) =
            std::future::poll_fn(|cx| self.io.poll_io(Direction::Read, cx, |l| l.accept())).await?;
        Ok((TcpStream::try_from(stream)?, addr))
    }

    /// A stream of incoming connections (`futures_core::Stream`), each an `io::Result`. It never
    /// ends on its own.
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }
}

std_conversions!(TcpListener, std::net::TcpListener, "bound", "listener");

/// The stream made by [`TcpListener::incoming`].
#[derive(Debug)]
pub struct Incoming<'a> {
    listener: &'a TcpListener,
}

impl futures_core::Stream for Incoming<'_> {
    type Item = io::Result<TcpStream>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let accepted = self
            .listener
            .io
            .poll_io(Direction::Read, cx, |l| l.accept());
        accepted.map(|result| Some(result.and_then(|(stream, _)| TcpStream::try_from(stream))))
    }
}
