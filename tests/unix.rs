//! `wisp::Async<T>` on a pipe, and the Unix domain sockets of `wisp::net` (path and abstract
//! addresses, peer close, a path that exists already, datagrams).

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use futures_util::{AsyncReadExt, AsyncWriteExt};
use wisp::Async;
use wisp::net::{UnixDatagram, UnixListener, UnixStream};

use common::watchdog;

fn temp(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("wisp-unix-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A pipe: `readable()` waits for the writer on another thread; `read_with` then reads; an
/// empty pipe makes `readable` wait again; the futures-io traits read to the writer's close.
#[test]
fn async_pipe_waits_for_data_and_reads_to_the_end() {
    watchdog(30, || {
        let (reader, writer) = std::io::pipe().unwrap();
        let reader = Async::new(reader).unwrap();
        let thread = std::thread::spawn(move || {
            let mut writer = writer;
            std::thread::sleep(Duration::from_millis(30));
            writer.write_all(b"first").unwrap();
            std::thread::sleep(Duration::from_millis(30));
            writer.write_all(b" second").unwrap();
        });
        let (first, rest) = wisp::block_on(async {
            reader.readable().await.unwrap();
            let mut buf = [0u8; 64];
            let n = reader.read_with(|mut r| r.read(&mut buf)).await.unwrap();
            let first = buf[..n].to_vec();
            let mut rest = Vec::new();
            (&reader).read_to_end(&mut rest).await.unwrap();
            (first, rest)
        });
        thread.join().unwrap();
        assert_eq!(first, b"first");
        assert_eq!(rest, b" second");
    });
}

/// A blocking read would hang the executor; `Async::new` made the pipe non-blocking, so a
/// `try` on an empty pipe answers `WouldBlock` at once.
#[test]
fn async_new_makes_the_descriptor_non_blocking() {
    let (reader, _writer) = std::io::pipe().unwrap();
    let reader = Async::new(reader).unwrap();
    let mut buf = [0u8; 1];
    let mut r = reader.get_ref();
    let e = r.read(&mut buf).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock);
}

#[test]
fn unix_stream_echo_over_a_path_and_peer_close() {
    watchdog(30, || {
        let dir = temp("path");
        let path = dir.join("echo.sock");
        wisp::block_on(async {
            let listener = UnixListener::bind(&path).unwrap();
            let server = wisp::spawn(async move {
                let (stream, _) = listener.accept().await.unwrap();
                futures_util::io::copy(&stream, &mut &stream).await.unwrap()
            });
            let mut client = UnixStream::connect(&path).await.unwrap();
            client.write_all(b"over a path").await.unwrap();
            let mut buf = [0u8; 11];
            client.read_exact(&mut buf).await.unwrap();
            assert_eq!(&buf, b"over a path");
            client.close().await.unwrap();
            assert_eq!(server.await, 11, "the server saw the close as the end");
            // The server's side is gone too: the client reads the end.
            let mut rest = Vec::new();
            client.read_to_end(&mut rest).await.unwrap();
            assert!(rest.is_empty());
        });
        // A path that exists is refused, not taken over.
        let e = UnixListener::bind(&path).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::AddrInUse);
        let _ = std::fs::remove_dir_all(dir);
    });
}

#[cfg(target_os = "linux")]
#[test]
fn unix_stream_over_an_abstract_name() {
    use std::os::linux::net::SocketAddrExt;
    watchdog(30, || {
        let name = format!("wisp-test-{}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        wisp::block_on(async {
            let listener = UnixListener::bind_addr(&addr).unwrap();
            let server = wisp::spawn(async move {
                let (mut stream, _) = listener.accept().await.unwrap();
                stream.write_all(b"abstract").await.unwrap();
            });
            let mut client = UnixStream::connect_addr(&addr).await.unwrap();
            let mut got = Vec::new();
            server.await;
            client.read_to_end(&mut got).await.unwrap();
            assert_eq!(got, b"abstract");
        });
    });
}

#[test]
fn unix_datagrams_between_paths_and_a_pair() {
    watchdog(30, || {
        let dir = temp("dgram");
        wisp::block_on(async {
            let a = UnixDatagram::bind(dir.join("a")).unwrap();
            let b = UnixDatagram::bind(dir.join("b")).unwrap();
            let receiver = wisp::spawn(async move {
                let mut buf = [0u8; 16];
                let (n, from) = b.recv_from(&mut buf).await.unwrap();
                (
                    buf[..n].to_vec(),
                    from.as_pathname().map(|p| p.to_path_buf()),
                )
            });
            wisp::yield_now().await;
            a.send_to(b"datagram", dir.join("b")).await.unwrap();
            let (got, from) = receiver.await;
            assert_eq!(got, b"datagram");
            assert_eq!(from.as_deref(), Some(dir.join("a").as_path()));

            let (x, y) = UnixDatagram::pair().unwrap();
            x.send(b"paired").await.unwrap();
            let mut buf = [0u8; 16];
            let n = y.recv(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], b"paired");
        });
        let _ = std::fs::remove_dir_all(dir);
    });
}

/// Polls `fut` once with the current task's waker: whether it was still pending.
async fn pending_once<F: std::future::Future>(fut: std::pin::Pin<&mut F>) -> bool {
    let mut fut = fut;
    std::future::poll_fn(|cx| std::task::Poll::Ready(fut.as_mut().poll(cx).is_pending())).await
}

/// `readable` and `writable` wait for readiness rather than answer at once: `readable` of an
/// empty pipe is pending until a byte comes, `writable` of a full pipe (once a write was refused)
/// until the reader drains it. The owned `Async<T>` reads and writes through the futures-io
/// traits as `&Async<T>` does, and `Debug` shows the inner value.
#[test]
fn readiness_waits_and_an_owned_async_reads_and_writes() {
    watchdog(30, || {
        let (reader, writer) = std::io::pipe().unwrap();
        let mut reader = Async::new(reader).unwrap();
        let mut writer = Async::new(writer).unwrap();
        assert!(format!("{reader:?}").starts_with("Async("), "{reader:?}");
        wisp::block_on(async {
            {
                let mut readable = std::pin::pin!(reader.readable());
                assert!(
                    pending_once(readable.as_mut()).await,
                    "readable of an empty pipe"
                );
                writer.write_all(b"hello").await.unwrap();
                writer.flush().await.unwrap();
                readable.await.unwrap();
            }
            let mut buf = [0u8; 5];
            reader.read_exact(&mut buf).await.unwrap();
            assert_eq!(&buf, b"hello");
            // A pipe of its own, whose only event so far (writable, at registration) this first
            // `writable` consumes: no read will wake its writer until the drain below.
            let (reader, writer) = std::io::pipe().unwrap();
            let writer = Async::new(writer).unwrap();
            writer.writable().await.unwrap();
            // Fill the pipe, and have one write refused through the reactor.
            let chunk = [7u8; 4096];
            let mut full = 0;
            while let Ok(n) = writer.get_ref().write(&chunk) {
                full += n;
            }
            {
                let mut refused = std::pin::pin!(writer.write_with(|mut w| w.write(&chunk)));
                assert!(
                    pending_once(refused.as_mut()).await,
                    "a write to a full pipe"
                );
            }
            let mut writable = std::pin::pin!(writer.writable());
            assert!(
                pending_once(writable.as_mut()).await,
                "writable of a full pipe"
            );
            let mut sink = vec![0u8; full];
            let mut reader = reader;
            reader.read_exact(&mut sink).unwrap();
            writable.await.unwrap();
        });
    });
}

/// A writer whose flush does something (std's descriptors have a no-op one): `flush` and
/// `close` of `Async<T>` and `&Async<T>` reach it.
#[derive(Debug)]
struct CountingFlush {
    pipe: std::io::PipeWriter,
    flushes: std::sync::atomic::AtomicUsize,
}

impl std::os::fd::AsFd for CountingFlush {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.pipe.as_fd()
    }
}

impl Write for &CountingFlush {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        (&self.pipe).write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.flushes
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }
}

#[test]
fn flush_and_close_reach_the_inner_writer() {
    watchdog(30, || {
        let (_reader, pipe) = std::io::pipe().unwrap();
        let flushes = std::sync::atomic::AtomicUsize::new(0);
        let mut writer = Async::new(CountingFlush { pipe, flushes }).unwrap();
        let count = |w: &Async<CountingFlush>| {
            w.get_ref()
                .flushes
                .load(std::sync::atomic::Ordering::SeqCst)
        };
        wisp::block_on(async {
            (&writer).flush().await.unwrap();
            assert_eq!(count(&writer), 1, "&Async flush");
            (&writer).close().await.unwrap();
            assert_eq!(count(&writer), 2, "&Async close");
            writer.flush().await.unwrap();
            assert_eq!(count(&writer), 3, "Async flush");
            writer.close().await.unwrap();
            assert_eq!(count(&writer), 4, "Async close");
        });
    });
}
