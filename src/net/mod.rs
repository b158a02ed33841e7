//! Async sockets on the reactor: [`TcpStream`], [`TcpListener`], [`UdpSocket`], and the Unix
//! domain sockets [`UnixStream`], [`UnixListener`], [`UnixDatagram`]. All of them are std sockets
//! in a [`wisp::Async`](crate::Async).
//!
//! Each socket is registered with the reactor once, for its whole life, and implements the
//! `futures-io` traits (`AsyncRead`, `AsyncWrite`, also for `&TcpStream`), so the ecosystem's
//! crates work on it. The sockets are `Send + Sync` and work under any executor: under a wisp
//! `block_on` on any thread, or under a foreign one (`futures::executor::block_on`, `pollster`),
//! where a reactor thread is started for them on first need.
//!
//! Addresses are anything that is [`ToSocketAddrs`]: a `SocketAddr`, `(host, port)` or
//! `"host:port"`. IP literals parse without any lookup; names resolve on a small thread pool,
//! never on the executor's thread.
//!
//! ```
//! use futures_util::{AsyncReadExt, AsyncWriteExt};
//! use wisp::net::{TcpListener, TcpStream};
//!
//! wisp::block_on(async {
//!     let listener = TcpListener::bind("127.0.0.1:0").await?;
//!     let addr = listener.local_addr()?;
//!     wisp::spawn(async move {
//!         let (stream, _) = listener.accept().await.unwrap();
//!         let (reader, mut writer) = (&stream, &stream);
//!         futures_util::io::copy(reader, &mut writer).await.unwrap();
//!     })
//!     .detach();
//!
//!     let mut client = TcpStream::connect(addr).await?;
//!     client.write_all(b"ping").await?;
//!     let mut echo = [0; 4];
//!     client.read_exact(&mut echo).await?;
//!     assert_eq!(&echo, b"ping");
//!     std::io::Result::Ok(())
//! })
//! .unwrap();
//! ```

mod addr;
mod happy_eyeballs;
mod registered;
mod tcp;
mod udp;
mod unix;

pub use addr::ToSocketAddrs;
pub use tcp::{Incoming, TcpListener, TcpStream};
pub use udp::UdpSocket;
pub use unix::{UnixDatagram, UnixListener, UnixStream};
