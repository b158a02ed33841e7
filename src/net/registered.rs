//! [`Socket`]: a std socket in an [`Async`] (registered with the reactor), and what every socket type of `net` does
//! with it the same way: register it in non-blocking mode, hand it back deregistered and blocking
//! again (`into_std`), convert from the std type (`TryFrom`), print as the std type (`Debug`).
//! `tcp.rs` and `udp.rs` keep only their own operations; [`std_conversions!`] writes the three
//! conversions for each of their types.

use std::fmt;
use std::io;
use std::os::fd::AsFd;
use std::task::{Context, Poll};

use crate::async_fd::Async;
use crate::reactor::Direction;

/// A std socket type: its own `set_nonblocking` (one `ioctl(FIONBIO)`), for [`Socket`] to call
/// whichever type it holds.
pub(crate) trait StdSocket: AsFd {
    fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()>;
}

macro_rules! std_socket {
    ($($std:ty),*) => {$(
        impl StdSocket for $std {
            fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
                <$std>::set_nonblocking(self, nonblocking)
            }
        }
    )*};
}

std_socket!(
    std::net::TcpStream,
    std::net::TcpListener,
    std::net::UdpSocket
);

/// A std socket (`T`: `TcpStream`, `TcpListener`, `UdpSocket`) in non-blocking mode, registered
/// with the reactor for as long as this value lives.
pub(crate) struct Socket<T: StdSocket> {
    /// Non-blocking for as long as it is registered; `into_std` makes it blocking again.
    io: Async<T>,
}

impl<T: StdSocket> Socket<T> {
    /// Switches `io` to non-blocking mode and registers it.
    pub(crate) fn new(io: T) -> io::Result<Socket<T>> {
        io.set_nonblocking(true)?;
        Socket::from_nonblocking(io)
    }

    /// Registers `io`, already in non-blocking mode (a socket made so to connect without
    /// waiting), without asking the kernel again.
    pub(crate) fn from_nonblocking(io: T) -> io::Result<Socket<T>> {
        Ok(Socket {
            io: Async::new_nonblocking(io)?,
        })
    }

    pub(crate) fn get_ref(&self) -> &T {
        self.io.get_ref()
    }

    /// Runs a non-blocking operation on the socket, waiting for readiness in `dir` as needed.
    pub(crate) fn poll_io<R>(
        &self,
        dir: Direction,
        cx: &mut Context<'_>,
        op: impl FnMut(&T) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        self.io.poll_with(dir, cx, op)
    }

    /// A read from a stream socket (see `Source::poll_stream_read`).
    pub(crate) fn poll_stream_read(
        &self,
        cx: &mut Context<'_>,
        op: impl FnMut(&T) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        self.io.poll_stream_read(cx, op)
    }

    /// Whether nothing is queued to read (see `Source::check_empty`).
    #[cfg(feature = "http")]
    pub(crate) fn check_empty(&self, peek: impl FnMut(&T) -> io::Result<usize>) -> bool {
        self.io.check_empty(peek)
    }

    /// Deregisters the socket and returns it, back in blocking mode (as a std socket is made).
    pub(crate) fn into_std(self) -> io::Result<T> {
        let io = self.io.into_inner()?;
        io.set_nonblocking(false)?;
        Ok(io)
    }
}

/// The std socket's own `Debug` (its address and fd), as if it were not wrapped.
impl<T: StdSocket + fmt::Debug> fmt::Debug for Socket<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.get_ref().fmt(f)
    }
}

/// For a public socket type `$wisp` that is a [`Socket`] of `$std` in a field `io`: `into_std`,
/// `TryFrom<$std>` and `Debug`, the same for every such type.
/// `$what` names it in the docs ("stream"), `$state` says what a std one must be to convert
/// ("connected").
macro_rules! std_conversions {
    ($wisp:ident, $std:ty, $state:literal, $what:literal) => {
        impl $wisp {
            #[doc = concat!("Deregisters the ", $what, " and returns the std ", $what, ", back in blocking mode.")]
            pub fn into_std(self) -> ::std::io::Result<$std> {
                self.io.into_std()
            }
        }

        impl ::std::convert::TryFrom<$std> for $wisp {
            type Error = ::std::io::Error;

            #[doc = concat!("Registers a ", $state, " std ", $what, " (switching it to non-blocking mode).")]
            fn try_from(io: $std) -> ::std::io::Result<$wisp> {
                Ok($wisp {
                    io: $crate::net::registered::Socket::new(io)?,
                })
            }
        }

        impl ::std::fmt::Debug for $wisp {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                ::std::fmt::Debug::fmt(&self.io, f)
            }
        }
    };
}

pub(crate) use std_conversions;
