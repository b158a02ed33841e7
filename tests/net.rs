//! Integration tests for `wisp::net`: TCP and UDP over 127.0.0.1 only.
//!
//! Ground rules for this file:
//! - Only 127.0.0.1 and the name `localhost` (which resolves from /etc/hosts) are ever used.
//! - Every test that could hang runs under [`watchdog`], so a hang is a failure, not a stuck CI.
//! - No assertion depends on how fast the (loaded, 2-core) machine is: waits are bounded by
//!   generous timeouts and the assertions are about outcomes, not durations.
//! - Tests that count entries of /proc/self/fd take [`exclusive`]; every other test takes
//!   [`shared`], so no other test opens or closes descriptors while a count is being compared.

mod common;

use common::watchdog;
use std::cell::Cell;
use std::io::{self, ErrorKind, Read as _, Write as _};
use std::net::{Ipv4Addr, Shutdown, SocketAddr};
use std::rc::Rc;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard, mpsc};
use std::thread;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use wisp::net::{TcpListener, TcpStream, UdpSocket};
use wisp::time::{sleep, timeout};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Tests that compare /proc/self/fd counts hold this exclusively; all others share it.
static FD_LOCK: RwLock<()> = RwLock::new(());

fn shared() -> RwLockReadGuard<'static, ()> {
    FD_LOCK.read().unwrap_or_else(|p| p.into_inner())
}

fn exclusive() -> RwLockWriteGuard<'static, ()> {
    FD_LOCK.write().unwrap_or_else(|p| p.into_inner())
}

/// Open file descriptors of this process (the directory handle used to list them is counted
/// too, identically on every call).
fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("read /proc/self/fd")
        .count()
}

/// Names of this process's threads.
fn thread_names() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .expect("read /proc/self/task")
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("comm")).ok())
        .map(|s| s.trim_end().to_owned())
        .collect()
}

const LOCAL: (Ipv4Addr, u16) = (Ipv4Addr::LOCALHOST, 0);

async fn local_listener() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind(LOCAL).await.expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

/// Echoes until EOF (or an error), then drops the stream.
async fn echo(stream: TcpStream) {
    let mut buf = [0u8; 4096];
    loop {
        let n = match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if stream.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// A connected pair: (client, server side).
async fn pair(listener: &TcpListener, addr: SocketAddr) -> (TcpStream, TcpStream) {
    let client = TcpStream::connect(addr).await.expect("connect");
    let (server, peer) = listener.accept().await.expect("accept");
    assert_eq!(peer, client.local_addr().unwrap());
    (client, server)
}

fn assert_kind<T: std::fmt::Debug>(result: io::Result<T>, kind: ErrorKind, what: &str) {
    match result {
        Err(e) => assert_eq!(e.kind(), kind, "{what}: wrong error kind: {e:?}"),
        Ok(v) => panic!("{what}: expected {kind:?}, got Ok({v:?})"),
    }
}

// ---------------------------------------------------------------------------------------------
// 1. Echo with 1 000 concurrent connections
// ---------------------------------------------------------------------------------------------

#[test]
fn echo_1000_concurrent_connections() {
    let _g = shared();
    const N: usize = 1000;
    let ok = watchdog(60, || {
        wisp::block_on(async {
            let (listener, addr) = local_listener().await;
            let _server = wisp::spawn(async move {
                loop {
                    let (stream, _) = listener.accept().await.expect("accept");
                    wisp::spawn(echo(stream)).detach();
                }
            });
            let clients = (0..N).map(|i| async move {
                let stream = TcpStream::connect(addr).await?;
                // Distinct content and length per connection (100..=1600 bytes).
                let msg: Vec<u8> = format!("<client {i:04}>")
                    .into_bytes()
                    .into_iter()
                    .cycle()
                    .take(100 + (i * 37) % 1500)
                    .collect();
                stream.write_all(&msg).await?;
                let mut back = vec![0u8; msg.len()];
                stream.read_exact(&mut back).await?;
                assert_eq!(back, msg, "connection {i} got someone else's bytes");
                io::Result::Ok(())
            });
            let results = wisp::join_all(clients).await;
            for (i, r) in results.iter().enumerate() {
                if let Err(e) = r {
                    panic!("connection {i} failed: {e}");
                }
            }
            results.len()
        })
    });
    assert_eq!(ok, N);
}

// ---------------------------------------------------------------------------------------------
// 2. Half-close
// ---------------------------------------------------------------------------------------------

#[test]
fn half_close_then_reply() {
    let _g = shared();
    watchdog(30, || {
        wisp::block_on(async {
            let (listener, addr) = local_listener().await;
            let server = wisp::spawn(async move {
                let (stream, _) = listener.accept().await.unwrap();
                // Read to EOF: only possible if the client's shutdown(Write) sent a FIN.
                let mut got = Vec::new();
                (&stream).read_to_end(&mut got).await.unwrap();
                assert_eq!(got, b"request, then FIN");
                // Our write half is still open.
                stream.write_all(b"reply after your EOF").await.unwrap();
                stream.shutdown(Shutdown::Write).unwrap();
                got.len()
            });
            let client = TcpStream::connect(addr).await.unwrap();
            client.write_all(b"request, then FIN").await.unwrap();
            client.shutdown(Shutdown::Write).unwrap();
            // Writing after shutdown(Write) must fail, not hang.
            assert!(client.write_all(b"late").await.is_err());
            let mut reply = Vec::new();
            (&client).read_to_end(&mut reply).await.unwrap();
            assert_eq!(reply, b"reply after your EOF");
            assert_eq!(server.await, 17);
        })
    });
}

/// A read that got fewer bytes than it asked for says nothing of what comes next: bytes that
/// arrive later (even while the executor's thread is busy and no event has been collected), an
/// end of stream that came with the last bytes (its one event already collected), and the end
/// read twice.
#[test]
fn bytes_that_arrive_after_a_short_read_are_read_and_so_is_the_end() {
    let _g = shared();
    watchdog(30, || {
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let addr = listener.local_addr().unwrap();
        let (go, wait) = mpsc::channel::<()>();
        let (sent, written) = mpsc::channel::<()>();
        let server = thread::spawn(move || {
            let (mut peer, _) = listener.accept().unwrap();
            peer.write_all(b"ab").unwrap();
            wait.recv().unwrap();
            peer.write_all(b"cdef").unwrap();
            sent.send(()).unwrap();
            wait.recv().unwrap();
            // Bytes and the end of the stream together.
            peer.write_all(b"gh").unwrap();
            drop(peer);
            sent.send(()).unwrap();
        });
        wisp::block_on(async move {
            let client = TcpStream::connect(addr).await.unwrap();
            let mut buf = [0u8; 8];
            let n = client.read(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], b"ab");
            go.send(()).unwrap();
            // Blocks this thread (no reactor turn) until the bytes are in the kernel's queue.
            written.recv().unwrap();
            let n = client.read(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], b"cdef");
            go.send(()).unwrap();
            written.recv().unwrap();
            // Let the reactor collect their one event before the read: the end of the stream
            // then waits behind a short read with no event of its own to come.
            sleep(Duration::from_millis(20)).await;
            let n = client.read(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], b"gh");
            assert_eq!(client.read(&mut buf).await.unwrap(), 0, "end of stream");
            assert_eq!(client.read(&mut buf).await.unwrap(), 0, "and again");
        });
        server.join().unwrap();
    });
}

#[test]
fn a_vectored_read_fills_its_buffers_in_order() {
    let _g = shared();
    watchdog(30, || {
        wisp::block_on(async {
            let (listener, addr) = local_listener().await;
            let (client, server) = pair(&listener, addr).await;
            server.write_all(b"hello world").await.unwrap();
            let (mut first, mut second) = ([0u8; 5], [0u8; 16]);
            let mut empty: [io::IoSliceMut<'_>; 0] = [];
            assert_eq!((&client).read_vectored(&mut empty).await.unwrap(), 0);
            let mut bufs = [
                io::IoSliceMut::new(&mut first),
                io::IoSliceMut::new(&mut second),
            ];
            // One write of 11 bytes on loopback arrives whole.
            let n = (&client).read_vectored(&mut bufs).await.unwrap();
            assert_eq!(n, 11);
            assert_eq!(&first, b"hello");
            assert_eq!(&second[..6], b" world");
        })
    });
}

// ---------------------------------------------------------------------------------------------
// 3. Connection refused
// ---------------------------------------------------------------------------------------------

#[test]
fn connect_to_closed_port_is_refused() {
    let _g = shared();
    watchdog(30, || {
        wisp::block_on(async {
            // A connect to a port in the ephemeral range with no listener can, very rarely, be
            // given that same port as its local port and connect to itself (TCP simultaneous
            // open). That is the kernel's doing, not wisp's: detect it and pick another port.
            for _ in 0..5 {
                let port = {
                    let l = std::net::TcpListener::bind(LOCAL).unwrap();
                    l.local_addr().unwrap().port()
                };
                match TcpStream::connect((Ipv4Addr::LOCALHOST, port)).await {
                    Err(e) => {
                        assert_eq!(e.kind(), ErrorKind::ConnectionRefused, "{e:?}");
                        return;
                    }
                    Ok(s) if s.local_addr().unwrap() == s.peer_addr().unwrap() => continue,
                    Ok(s) => panic!("connected to a closed port: {s:?}"),
                }
            }
            panic!("five self-connects in a row: something else is wrong");
        })
    });
}

// ---------------------------------------------------------------------------------------------
// 4. A connect that cannot complete, under a timeout; no fd leak
// ---------------------------------------------------------------------------------------------

#[test]
fn connect_timeout_on_full_backlog_does_not_leak() {
    let _g = exclusive();
    watchdog(60, || {
        // socket2 is a normal dependency of wisp, so integration tests can use it: a listener
        // with backlog 0 (Linux then queues at most one connection), never accepted from. Once
        // its accept queue is full, Linux drops further SYNs and connect() waits for retries.
        let socket = socket2::Socket::new(
            socket2::Domain::IPV4,
            socket2::Type::STREAM,
            Some(socket2::Protocol::TCP),
        )
        .unwrap();
        socket.bind(&SocketAddr::from(LOCAL).into()).unwrap();
        socket.listen(0).unwrap();
        let addr = socket.local_addr().unwrap().as_socket().unwrap();

        wisp::block_on(async move {
            // Make the reactor (poller fds) exist before counting.
            sleep(Duration::from_millis(1)).await;
            let mut established = Vec::new();
            for attempt in 0..32 {
                let before = fd_count();
                match timeout(Duration::from_millis(400), TcpStream::connect(addr)).await {
                    Ok(Ok(stream)) => established.push(stream),
                    Ok(Err(e)) => panic!("attempt {attempt}: connect failed instead: {e:?}"),
                    Err(wisp::time::Elapsed { .. }) => {
                        // The connect future and its socket were dropped with the timeout.
                        let after = fd_count();
                        assert_eq!(
                            after,
                            before,
                            "timed-out connect leaked {} fd(s)",
                            after as isize - before as isize
                        );
                        assert!(!established.is_empty(), "the first connect should fit");
                        return;
                    }
                }
            }
            panic!("32 connects to a backlog-0 listener all completed: the test premise failed");
        });
        drop(socket);
    });
}

// ---------------------------------------------------------------------------------------------
// 5. Peer reset
// ---------------------------------------------------------------------------------------------

fn assert_reset_or_eof(result: io::Result<usize>, what: &str) {
    match result {
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        Ok(0) => {}
        other => panic!("{what}: expected ConnectionReset or Ok(0), got {other:?}"),
    }
}

/// A std server thread that accepts one connection, waits for `go`, then closes it with
/// SO_LINGER 0 (an RST), and reports when it has.
fn resetting_server() -> (SocketAddr, mpsc::Sender<()>, mpsc::Receiver<()>) {
    let listener = std::net::TcpListener::bind(LOCAL).unwrap();
    let addr = listener.local_addr().unwrap();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let _ = go_rx.recv();
        socket2::SockRef::from(&stream)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(stream);
        let _ = done_tx.send(());
    });
    (addr, go_tx, done_rx)
}

#[test]
fn peer_reset_while_reading() {
    let _g = shared();
    watchdog(30, || {
        wisp::block_on(async {
            let (addr, go, _done) = resetting_server();
            let client = Rc::new(TcpStream::connect(addr).await.unwrap());
            let reader = {
                let client = client.clone();
                wisp::spawn(async move { client.read(&mut [0u8; 64]).await })
            };
            // Let the reader start waiting (not required for correctness: either order must
            // end in reset-or-EOF, never a hang).
            wisp::yield_now().await;
            go.send(()).unwrap();
            assert_reset_or_eof(reader.await, "read pending across the RST");
            // The connection is dead: a write fails rather than hanging.
            let big = vec![0u8; 1 << 20];
            assert!(client.write_all(&big).await.is_err());
        })
    });
}

#[test]
fn peer_reset_before_reading() {
    let _g = shared();
    watchdog(30, || {
        wisp::block_on(async {
            let (addr, go, done) = resetting_server();
            let client = TcpStream::connect(addr).await.unwrap();
            go.send(()).unwrap();
            // Blocking wait on this thread is fine: nothing else runs on this executor.
            done.recv().unwrap();
            assert_reset_or_eof(client.read(&mut [0u8; 64]).await, "read after the RST");
        })
    });
}

// ---------------------------------------------------------------------------------------------
// 6. Dropping a stream (and its task) does not hang the other tasks
// ---------------------------------------------------------------------------------------------

#[test]
fn dropping_stream_and_task_does_not_hang_others() {
    let _g = shared();
    watchdog(30, || {
        wisp::block_on(async {
            let (listener, addr) = local_listener().await;
            let (a, a_server) = pair(&listener, addr).await;
            let (b, b_server) = pair(&listener, addr).await;
            let a = Rc::new(a);

            // Two tasks wait to read the same stream; one will be cancelled.
            let doomed = {
                let a = a.clone();
                wisp::spawn(async move { a.read(&mut [0u8; 8]).await })
            };
            let survivor = {
                let a = a.clone();
                wisp::spawn(async move {
                    let mut buf = [0u8; 8];
                    let n = a.read(&mut buf).await.unwrap();
                    buf[..n].to_vec()
                })
            };
            // A task waiting on another socket, and one on a timer.
            let other_socket = wisp::spawn(async move {
                let mut buf = [0u8; 8];
                let n = b.read(&mut buf).await.unwrap();
                buf[..n].to_vec()
            });
            let timer = wisp::spawn(async {
                sleep(Duration::from_millis(5)).await;
                7
            });
            for _ in 0..3 {
                wisp::yield_now().await;
            }
            assert!(!doomed.is_finished() && !survivor.is_finished());

            drop(doomed); // cancels the task while it waits on `a`
            a_server.write_all(b"x").await.unwrap();
            assert_eq!(survivor.await, b"x");

            // Now a task that holds the last reference to `a` and waits on it is dropped: the
            // stream closes, and the server side sees EOF.
            let last = {
                let a = a.clone();
                wisp::spawn(async move { a.read(&mut [0u8; 8]).await })
            };
            drop(a);
            wisp::yield_now().await;
            drop(last);
            let mut rest = [0u8; 8];
            assert_eq!(
                a_server.read(&mut rest).await.unwrap(),
                0,
                "stream not closed"
            );

            b_server.write_all(b"y").await.unwrap();
            assert_eq!(other_socket.await, b"y");
            assert_eq!(timer.await, 7);
        })
    });
}

// ---------------------------------------------------------------------------------------------
// 7. 10 000 connect/drop cycles do not leak descriptors
// ---------------------------------------------------------------------------------------------

#[test]
fn ten_thousand_connect_drop_cycles_leak_nothing() {
    let _g = exclusive();
    const WORKERS: usize = 50;
    const PER_WORKER: usize = 200;
    const TOTAL: usize = WORKERS * PER_WORKER;
    watchdog(60, || {
        wisp::block_on(async {
            // Make the reactor exist before the first count.
            sleep(Duration::from_millis(1)).await;
            let before = fd_count();
            let (listener, addr) = local_listener().await;
            let server = wisp::spawn(async move {
                for _ in 0..TOTAL {
                    let (stream, _) = listener.accept().await.expect("accept");
                    drop(stream);
                }
                // The listener drops here.
            });
            let workers = (0..WORKERS).map(|_| async move {
                for _ in 0..PER_WORKER {
                    let stream = TcpStream::connect(addr).await?;
                    // Wait for the server to accept and drop it (EOF), so the accept queue
                    // never overflows and every connection is accounted for.
                    let n = stream.read(&mut [0u8; 1]).await?;
                    assert_eq!(n, 0);
                    drop(stream);
                }
                io::Result::Ok(())
            });
            for r in wisp::join_all(workers).await {
                r.expect("a connect/drop cycle failed");
            }
            server.await;
            let after = fd_count();
            assert_eq!(
                after, before,
                "fd count changed over {TOTAL} connect/drop cycles"
            );
        })
    });
}

// ---------------------------------------------------------------------------------------------
// 8. `localhost` resolves (off the executor thread) while a sibling's timer keeps firing
// ---------------------------------------------------------------------------------------------

/// Why this formulation: "the sibling ticked while the lookup ran" depends on how long
/// getaddrinfo takes (microseconds, for /etc/hosts), so it would be timing luck. Instead we
/// assert two things that cannot flake:
/// 1. the lookup ran on wisp's blocking pool: a `wisp-blocking` thread exists right after the
///    connect (pool threads live 10 s after their last job, so it cannot have exited yet);
///    getaddrinfo on the executor thread would not start one;
/// 2. the sibling task's interval is still firing after the connect: it reaches 3 more ticks
///    (under a generous timeout), so the lookup left the executor and reactor in working order.
///
/// The number of ticks seen during the connect is printed for information only.
#[test]
fn localhost_resolves_and_connects_while_timer_fires() {
    let _g = shared();
    watchdog(30, || {
        wisp::block_on(async {
            let (listener, addr) = local_listener().await;
            let port = addr.port();
            let accepter = wisp::spawn(async move {
                let mut peers = Vec::new();
                for _ in 0..2 {
                    let (s, peer) = listener.accept().await.unwrap();
                    peers.push((s, peer));
                }
                peers
            });
            let ticks = Rc::new(Cell::new(0u64));
            let _ticker = {
                let ticks = ticks.clone();
                wisp::spawn(async move {
                    let mut every = wisp::time::interval(Duration::from_millis(1));
                    loop {
                        every.tick().await;
                        ticks.set(ticks.get() + 1);
                    }
                })
            };
            let at_start = ticks.get();
            let first = timeout(
                Duration::from_secs(20),
                TcpStream::connect(("localhost", port)),
            )
            .await
            .expect("connect to localhost timed out")
            .expect("connect to localhost");
            let during = ticks.get() - at_start;
            assert!(
                thread_names().iter().any(|n| n == "wisp-blocking"),
                "no wisp-blocking thread: was `localhost` resolved on the executor thread? {:?}",
                thread_names()
            );
            let second = TcpStream::connect(format!("localhost:{port}"))
                .await
                .expect("connect to \"localhost:port\"");
            for s in [&first, &second] {
                let peer = s.peer_addr().unwrap();
                assert_eq!(peer.port(), port);
                assert!(peer.ip().is_loopback());
            }
            let peers = accepter.await;
            assert_eq!(peers.len(), 2);

            let after = ticks.get();
            timeout(Duration::from_secs(20), async {
                while ticks.get() < after + 3 {
                    sleep(Duration::from_millis(1)).await;
                }
            })
            .await
            .expect("the sibling interval stopped firing");
            eprintln!("sibling ticked {during} time(s) while the first connect ran");
        })
    });
}

// ---------------------------------------------------------------------------------------------
// 9. Foreign executors
// ---------------------------------------------------------------------------------------------

async fn echo_client(addr: SocketAddr, msg: &'static [u8]) -> io::Result<Vec<u8>> {
    let stream = TcpStream::connect(addr).await?;
    stream.write_all(msg).await?;
    stream.flush().await?;
    stream.shutdown(Shutdown::Write)?;
    let mut back = Vec::new();
    (&stream).read_to_end(&mut back).await?;
    Ok(back)
}

#[test]
fn foreign_executors_drive_sockets() {
    let _g = shared();
    watchdog(60, || {
        let (tx, rx) = mpsc::channel();
        let server = thread::spawn(move || {
            wisp::block_on(async move {
                let (listener, addr) = local_listener().await;
                tx.send(addr).unwrap();
                for _ in 0..2 {
                    let (stream, _) = listener.accept().await.unwrap();
                    echo(stream).await;
                }
            })
        });
        let addr = rx.recv().unwrap();
        let via_futures = futures::executor::block_on(echo_client(addr, b"futures::executor"));
        assert_eq!(via_futures.unwrap(), b"futures::executor");
        let via_pollster = pollster::block_on(echo_client(addr, b"pollster"));
        assert_eq!(via_pollster.unwrap(), b"pollster");
        server.join().unwrap();
    });
}

// ---------------------------------------------------------------------------------------------
// 10. futures-util BufReader::lines over a TcpStream
// ---------------------------------------------------------------------------------------------

#[test]
fn bufreader_lines_over_tcp() {
    let _g = shared();
    watchdog(30, || {
        wisp::block_on(async {
            let (listener, addr) = local_listener().await;
            let expected: Vec<String> = (0..2000)
                .map(|i| format!("line {i}: {}", "z".repeat(i % 97)))
                .collect();
            let text = expected.join("\n"); // no newline after the last line
            let server = wisp::spawn(async move {
                let (stream, _) = listener.accept().await.unwrap();
                // In several writes, so lines straddle reads.
                for chunk in text.as_bytes().chunks(1000) {
                    stream.write_all(chunk).await.unwrap();
                }
                // Dropping closes: EOF ends the last line.
            });
            let stream = TcpStream::connect(addr).await.unwrap();
            let lines: Vec<String> = BufReader::new(stream)
                .lines()
                .map(|l| l.expect("line"))
                .collect()
                .await;
            server.await;
            assert_eq!(lines.len(), expected.len());
            assert_eq!(lines, expected);
        })
    });
}

// ---------------------------------------------------------------------------------------------
// 11. UDP
// ---------------------------------------------------------------------------------------------

#[test]
fn udp_send_to_recv_from_and_connected() {
    let _g = shared();
    watchdog(30, || {
        wisp::block_on(async {
            let a = UdpSocket::bind(LOCAL).await.unwrap();
            let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());

            // recv_from waits (the datagram is sent by another task afterwards).
            let receiver = wisp::spawn(async move {
                let mut buf = [0u8; 64];
                let (n, from) = b.recv_from(&mut buf).await.unwrap();
                (buf[..n].to_vec(), from, b)
            });
            wisp::yield_now().await;
            assert_eq!(a.send_to(b"ping", b_addr).await.unwrap(), 4);
            let (got, from, b) = receiver.await;
            assert_eq!((got.as_slice(), from), (&b"ping"[..], a_addr));
            // Reply to the address it came from, as a string.
            b.send_to(b"pong", from.to_string().as_str()).await.unwrap();
            let mut buf = [0u8; 64];
            let (n, from) = a.recv_from(&mut buf).await.unwrap();
            assert_eq!((&buf[..n], from), (&b"pong"[..], b_addr));

            // Connected: c <-> a. A datagram from b to c is filtered out by the kernel.
            let c = UdpSocket::bind(LOCAL).await.unwrap();
            let c_addr = c.local_addr().unwrap();
            c.connect(a_addr).await.unwrap();
            assert_eq!(c.peer_addr().unwrap(), a_addr);
            b.send_to(b"noise", c_addr).await.unwrap();
            a.send_to(b"for c", c_addr).await.unwrap();
            let n = c.recv(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], b"for c");
            assert_eq!(c.send(b"from c").await.unwrap(), 6);
            let (n, from) = a.recv_from(&mut buf).await.unwrap();
            assert_eq!((&buf[..n], from), (&b"from c"[..], c_addr));

            // A truncated datagram, as in std.
            a.send_to(b"0123456789", c_addr).await.unwrap();
            let mut small = [0u8; 4];
            assert_eq!(c.recv(&mut small).await.unwrap(), 4);
            assert_eq!(&small, b"0123");
        })
    });
}

// ---------------------------------------------------------------------------------------------
// 12. Address errors
// ---------------------------------------------------------------------------------------------

#[test]
fn address_in_use_and_invalid_addresses() {
    let _g = shared();
    watchdog(30, || {
        wisp::block_on(async {
            // AddrInUse: against a wisp listener (both sides set SO_REUSEADDR, which does not
            // allow two listeners on Linux), and against a std listener.
            let (wisp_listener, addr) = local_listener().await;
            assert_kind(
                TcpListener::bind(addr).await,
                ErrorKind::AddrInUse,
                "wisp vs wisp",
            );
            let std_listener = std::net::TcpListener::bind(LOCAL).unwrap();
            let std_addr = std_listener.local_addr().unwrap();
            assert_kind(
                TcpListener::bind(std_addr).await,
                ErrorKind::AddrInUse,
                "wisp vs std",
            );
            let udp = UdpSocket::bind(LOCAL).await.unwrap();
            let udp_addr = udp.local_addr().unwrap();
            assert_kind(UdpSocket::bind(udp_addr).await, ErrorKind::AddrInUse, "udp");
            drop((wisp_listener, std_listener, udp));

            // Strings that fail to parse before any name lookup could start: InvalidInput.
            for bad in [
                "127.0.0.1",
                "not an address",
                ":8080",
                "localhost:notaport",
                "127.0.0.1:70000",
                "",
            ] {
                assert_kind(TcpStream::connect(bad).await, ErrorKind::InvalidInput, bad);
                assert_kind(TcpListener::bind(bad).await, ErrorKind::InvalidInput, bad);
                assert_kind(UdpSocket::bind(bad).await, ErrorKind::InvalidInput, bad);
            }
            assert_kind(
                TcpStream::connect(String::from("127.0.0.1")).await,
                ErrorKind::InvalidInput,
                "String without port",
            );
            let none: &[SocketAddr] = &[];
            assert_kind(
                TcpStream::connect(none).await,
                ErrorKind::InvalidInput,
                "empty slice",
            );
            let sock = UdpSocket::bind(LOCAL).await.unwrap();
            assert_kind(
                sock.send_to(b"x", "127.0.0.1").await,
                ErrorKind::InvalidInput,
                "send_to",
            );
            assert_kind(
                sock.connect("no port").await,
                ErrorKind::InvalidInput,
                "udp connect",
            );
        })
    });
}

// ---------------------------------------------------------------------------------------------
// 13. incoming(), std conversions, Send
// ---------------------------------------------------------------------------------------------

#[test]
fn incoming_yields_several_connections() {
    let _g = shared();
    watchdog(30, || {
        wisp::block_on(async {
            let (listener, addr) = local_listener().await;
            let clients = wisp::spawn(async move {
                let mut streams = Vec::new();
                for id in 0..5u8 {
                    let s = TcpStream::connect(addr).await.unwrap();
                    s.write_all(&[id]).await.unwrap();
                    streams.push(s);
                }
                streams
            });
            let mut incoming = listener.incoming();
            let mut ids = Vec::new();
            for _ in 0..5 {
                let stream = incoming.next().await.expect("incoming never ends").unwrap();
                let mut id = [0u8; 1];
                stream.read_exact(&mut id).await.unwrap();
                ids.push(id[0]);
            }
            ids.sort_unstable();
            assert_eq!(ids, [0, 1, 2, 3, 4]);
            assert_eq!(clients.await.len(), 5);
        })
    });
}

fn assert_send<T: Send>() {}
fn assert_sync<T: Sync>() {}
fn assert_send_val<T: Send>(_: &T) {}

#[test]
fn std_conversions_and_send() {
    let _g = shared();
    // Compile-time: the socket types are Send + Sync, their futures are Send.
    assert_send::<TcpStream>();
    assert_send::<TcpListener>();
    assert_send::<UdpSocket>();
    assert_sync::<TcpStream>();
    assert_sync::<TcpListener>();
    assert_sync::<UdpSocket>();
    assert_send::<wisp::net::Incoming<'static>>();
    {
        // Built, never polled: creating an async fn's future does nothing.
        let f = TcpStream::connect("127.0.0.1:1");
        assert_send_val(&f);
        let f = TcpStream::connect(("localhost", 1));
        assert_send_val(&f);
        let f = TcpListener::bind(LOCAL);
        assert_send_val(&f);
    }

    watchdog(30, || {
        wisp::block_on(async {
            // std listener -> wisp listener; std stream -> wisp stream.
            let std_listener = std::net::TcpListener::bind(LOCAL).unwrap();
            let addr = std_listener.local_addr().unwrap();
            let listener = TcpListener::try_from(std_listener).unwrap();
            assert_eq!(listener.local_addr().unwrap(), addr);
            // A blocking std connect to loopback completes from the backlog, without an accept.
            let std_client = std::net::TcpStream::connect(addr).unwrap();
            let client = TcpStream::try_from(std_client).unwrap();
            let (server, _) = listener.accept().await.unwrap();
            const MSG: &[u8] = b"from converted std stream";
            let mut buf = [0u8; MSG.len()];
            let read = server.read(&mut buf);
            assert_send_val(&read);
            let write = client.write_all(MSG);
            assert_send_val(&write);
            write.await.unwrap();
            let n = read.await.unwrap();
            assert!(n > 0);
            server.read_exact(&mut buf[n..]).await.unwrap();
            assert_eq!(&buf, MSG);

            // wisp stream -> std stream: blocking again, and it still works.
            let mut std_server = server.into_std().unwrap();
            std_server
                .set_read_timeout(Some(Duration::from_secs(20)))
                .unwrap();
            let blocking_reader = thread::spawn(move || {
                // In non-blocking mode this would fail at once with WouldBlock.
                let mut buf = [0u8; 5];
                std_server.read_exact(&mut buf).map(|()| (buf, std_server))
            });
            client.write_all(b"hello").await.unwrap();
            let (buf, mut std_server) = blocking_reader.join().unwrap().unwrap();
            assert_eq!(&buf, b"hello");
            std_server.write_all(b"back").unwrap();
            let mut back = [0u8; 4];
            client.read_exact(&mut back).await.unwrap();
            assert_eq!(&back, b"back");

            // wisp listener -> std listener, which accepts (blocking) a wisp client.
            let std_listener = listener.into_std().unwrap();
            let c2 = TcpStream::connect(addr).await.unwrap();
            let (mut accepted, peer) = std_listener.accept().unwrap();
            assert_eq!(peer, c2.local_addr().unwrap());
            c2.write_all(b"!").await.unwrap();
            let mut one = [0u8; 1];
            accepted.read_exact(&mut one).unwrap();
            assert_eq!(&one, b"!");

            // wisp client stream -> std and back again.
            let std_client = client.into_std().unwrap();
            let client = TcpStream::try_from(std_client).unwrap();
            std_server.write_all(b"again").unwrap();
            let mut again = [0u8; 5];
            client.read_exact(&mut again).await.unwrap();
            assert_eq!(&again, b"again");

            // UDP: std -> wisp -> std.
            let std_udp = std::net::UdpSocket::bind(LOCAL).unwrap();
            let udp_addr = std_udp.local_addr().unwrap();
            let udp = UdpSocket::try_from(std_udp).unwrap();
            let peer = UdpSocket::bind(LOCAL).await.unwrap();
            peer.send_to(b"dgram", udp_addr).await.unwrap();
            let mut dbuf = [0u8; 16];
            let (n, _) = udp.recv_from(&mut dbuf).await.unwrap();
            assert_eq!(&dbuf[..n], b"dgram");
            let std_udp = udp.into_std().unwrap();
            std_udp
                .set_read_timeout(Some(Duration::from_secs(20)))
                .unwrap();
            peer.send_to(b"again", udp_addr).await.unwrap();
            let (n, _) = std_udp.recv_from(&mut dbuf).unwrap();
            assert_eq!(&dbuf[..n], b"again");
        })
    });
}

#[test]
fn each_socket_prints_as_its_std_socket() {
    // `Debug` is the std socket's own (its address and fd), for all three types alike.
    watchdog(20, || {
        wisp::block_on(async {
            let std_listener = std::net::TcpListener::bind(LOCAL).unwrap();
            let addr = std_listener.local_addr().unwrap();
            let expected = format!("{std_listener:?}");
            let listener = TcpListener::try_from(std_listener).unwrap();
            assert_eq!(format!("{listener:?}"), expected);

            let std_stream = std::net::TcpStream::connect(addr).unwrap();
            let expected = format!("{std_stream:?}");
            let stream = TcpStream::try_from(std_stream).unwrap();
            assert_eq!(format!("{stream:?}"), expected);

            let std_udp = std::net::UdpSocket::bind(LOCAL).unwrap();
            let expected = format!("{std_udp:?}");
            let udp = UdpSocket::try_from(std_udp).unwrap();
            assert_eq!(format!("{udp:?}"), expected);
        })
    });
}

// ---------------------------------------------------------------------------------------------
// Extras: write backpressure, a stream shared across threads, a cancelled accept
// ---------------------------------------------------------------------------------------------

/// 8 MiB through an echo server, written by one task and read back by another on the same
/// stream (`&TcpStream` halves): far more than the socket buffers hold, so both writes and reads
/// must wait for readiness many times (edge-triggered wake-ups in both directions).
#[test]
fn large_transfer_with_backpressure() {
    let _g = shared();
    const LEN: usize = 8 << 20;
    watchdog(60, || {
        wisp::block_on(async {
            let (listener, addr) = local_listener().await;
            let _server = wisp::spawn(async move {
                let (stream, _) = listener.accept().await.unwrap();
                echo(stream).await;
            });
            let client = Rc::new(TcpStream::connect(addr).await.unwrap());
            let data: Rc<Vec<u8>> = Rc::new((0..LEN).map(|i| (i % 251) as u8).collect());
            let writer = {
                let (client, data) = (client.clone(), data.clone());
                wisp::spawn(async move {
                    for chunk in data.chunks(64 * 1024) {
                        client.write_all(chunk).await.unwrap();
                    }
                    client.shutdown(Shutdown::Write).unwrap();
                })
            };
            let mut back = Vec::with_capacity(LEN);
            (&*client).read_to_end(&mut back).await.unwrap();
            writer.await;
            assert_eq!(back.len(), LEN);
            assert!(back == *data, "echoed bytes differ");
        })
    });
}

/// A stream is `Send + Sync`: one thread reads it under pollster while a wisp executor on
/// another thread writes to its peer, and then the roles swap.
#[test]
fn stream_shared_across_threads() {
    let _g = shared();
    watchdog(60, || {
        let (client, server) = wisp::block_on(async {
            let (listener, addr) = local_listener().await;
            pair(&listener, addr).await
        });
        let client = std::sync::Arc::new(client);
        let reader = {
            let client = client.clone();
            thread::spawn(move || {
                pollster::block_on(async {
                    let mut buf = vec![0u8; 1 << 20];
                    client.read_exact(&mut buf).await.map(|()| buf)
                })
            })
        };
        let payload: Vec<u8> = (0..1 << 20).map(|i| (i % 13) as u8).collect();
        wisp::block_on(server.write_all(&payload)).unwrap();
        assert!(reader.join().unwrap().unwrap() == payload);

        // The other way: a wisp executor on a new thread reads what pollster writes.
        let server = std::sync::Arc::new(server);
        let reader = {
            let server = server.clone();
            thread::spawn(move || {
                wisp::block_on(async {
                    let mut buf = [0u8; 5];
                    server.read_exact(&mut buf).await.map(|()| buf)
                })
            })
        };
        pollster::block_on(client.write_all(b"howdy")).unwrap();
        assert_eq!(&reader.join().unwrap().unwrap(), b"howdy");
    });
}

/// An accept cancelled while it waits leaves the listener working for the next accept.
#[test]
fn cancelled_accept_leaves_listener_usable() {
    let _g = shared();
    watchdog(30, || {
        wisp::block_on(async {
            let (listener, addr) = local_listener().await;
            let listener = Rc::new(listener);
            let waiting = {
                let listener = listener.clone();
                wisp::spawn(async move { listener.accept().await.map(|_| ()) })
            };
            wisp::yield_now().await;
            assert!(!waiting.is_finished());
            drop(waiting);
            let out = timeout(Duration::from_millis(20), listener.accept()).await;
            assert!(out.is_err(), "accept returned with nobody connecting");

            let accepter = {
                let listener = listener.clone();
                wisp::spawn(async move { listener.accept().await.unwrap().0 })
            };
            let client = TcpStream::connect(addr).await.unwrap();
            let server = accepter.await;
            assert_eq!(server.peer_addr().unwrap(), client.local_addr().unwrap());
            assert_eq!(client.write(&[]).await.unwrap(), 0);
            client.write_all(b"ok").await.unwrap();
            let mut buf = [0u8; 2];
            server.read_exact(&mut buf).await.unwrap();
            assert_eq!(&buf, b"ok");
        })
    });
}

/// `TcpStream::read` documents "`Ok(0)` means the peer closed its side (or `buf` is empty)".
/// On an open, idle connection an empty read must return `Ok(0)` at once (as std's blocking
/// read, tokio and async-io do), for both the inherent `read` and `AsyncRead`.
#[test]
fn empty_read_returns_at_once() {
    let _g = shared();
    watchdog(30, || {
        wisp::block_on(async {
            let (listener, addr) = local_listener().await;
            let (client, _server) = pair(&listener, addr).await;
            let inherent = timeout(Duration::from_secs(5), client.read(&mut [])).await;
            assert!(
                matches!(inherent, Ok(Ok(0))),
                "inherent read(&mut []) on an idle stream: {inherent:?}"
            );
            let mut r = &client;
            let via_trait =
                timeout(Duration::from_secs(5), AsyncReadExt::read(&mut r, &mut [])).await;
            assert!(
                matches!(via_trait, Ok(Ok(0))),
                "AsyncRead::poll_read with an empty buffer on an idle stream: {via_trait:?}"
            );
        })
    });
}

// ---------------------------------------------------------------------------------------------
// Happy Eyeballs (RFC 8305): several addresses are raced, not tried one after another
// ---------------------------------------------------------------------------------------------

/// A listener on 127.0.0.1 that takes no more connections: backlog 0, never accepted from,
/// filled until a connect to it stays pending (Linux then drops its SYNs). Returns it with the
/// connections that filled it (kept open, so it stays full).
async fn full_listener() -> (socket2::Socket, SocketAddr, Vec<TcpStream>) {
    let socket = socket2::Socket::new(
        socket2::Domain::IPV4,
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )
    .unwrap();
    socket.bind(&SocketAddr::from(LOCAL).into()).unwrap();
    socket.listen(0).unwrap();
    let addr = socket.local_addr().unwrap().as_socket().unwrap();
    let mut established = Vec::new();
    for _ in 0..32 {
        match timeout(Duration::from_millis(400), TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => established.push(stream),
            Ok(Err(e)) => panic!("connect to the backlog-0 listener failed instead: {e:?}"),
            Err(_) => return (socket, addr, established),
        }
    }
    panic!("32 connects to a backlog-0 listener all completed: the test premise failed");
}

#[test]
fn a_first_address_that_never_answers_does_not_hold_up_the_next() {
    let _g = shared();
    watchdog(60, || {
        wisp::block_on(async {
            let (_full, dead, _filling) = full_listener().await;
            let (_live, live) = local_listener().await;
            // Before Happy Eyeballs the second address waited for the first attempt to end: a
            // SYN dropped and retried for about two minutes.
            let connected = timeout(
                Duration::from_secs(10),
                TcpStream::connect(&[dead, live][..]),
            )
            .await;
            let stream = connected
                .expect("the second address was never tried")
                .expect("connect to the second address");
            assert_eq!(stream.peer_addr().unwrap(), live);
        });
    });
}

#[test]
fn a_refused_first_address_moves_on_to_the_next() {
    let _g = shared();
    watchdog(60, || {
        wisp::block_on(async {
            let (closed, refused) = local_listener().await;
            drop(closed);
            let (_live, live) = local_listener().await;
            let stream = TcpStream::connect(&[refused, live][..]).await.unwrap();
            assert_eq!(stream.peer_addr().unwrap(), live);
        });
    });
}

#[test]
fn when_every_address_fails_the_error_is_returned() {
    let _g = shared();
    watchdog(60, || {
        wisp::block_on(async {
            let mut refused = Vec::new();
            for _ in 0..3 {
                let (closed, addr) = local_listener().await;
                drop(closed);
                refused.push(addr);
            }
            let result = TcpStream::connect(&refused[..]).await;
            assert_kind(result, ErrorKind::ConnectionRefused, "three closed ports");
        });
    });
}
