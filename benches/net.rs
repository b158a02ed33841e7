//! Networking, side by side on loopback: wisp vs tokio (current_thread + LocalSet) vs smol
//! (LocalExecutor + async-net/async-io), same process, interleaved rounds. Client and server
//! share one runtime on one thread. See `common` for the method.
//!
//! `WISP_BENCH_ROUNDS` (default 5) and `WISP_BENCH_SCALE` (default 1.0, scales the round trips
//! and the streamed bytes) tune it.

mod common;

use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use common::{Metric, Rt, RunFn, Smol, Tokio, Wisp, measure, measure_pair, scaled};

/// What the net benches need of a runtime's TCP types. `nodelay` is set on every socket.
trait Net: Rt {
    type Listener: 'static;
    type Stream: 'static;

    async fn bind() -> (Self::Listener, SocketAddr);
    async fn accept(l: &Self::Listener) -> Self::Stream;
    async fn connect(addr: SocketAddr) -> Self::Stream;
    async fn read(s: &mut Self::Stream, buf: &mut [u8]) -> io::Result<usize>;
    async fn read_exact(s: &mut Self::Stream, buf: &mut [u8]) -> io::Result<()>;
    async fn write_all(s: &mut Self::Stream, buf: &[u8]) -> io::Result<()>;
}

const LOCALHOST: &str = "127.0.0.1:0";

impl Net for Wisp {
    type Listener = wisp::net::TcpListener;
    type Stream = wisp::net::TcpStream;

    async fn bind() -> (Self::Listener, SocketAddr) {
        let l = wisp::net::TcpListener::bind(LOCALHOST).await.unwrap();
        let addr = l.local_addr().unwrap();
        (l, addr)
    }

    async fn accept(l: &Self::Listener) -> Self::Stream {
        let (s, _) = l.accept().await.unwrap();
        s.set_nodelay(true).unwrap();
        s
    }

    async fn connect(addr: SocketAddr) -> Self::Stream {
        let s = wisp::net::TcpStream::connect(addr).await.unwrap();
        s.set_nodelay(true).unwrap();
        s
    }

    async fn read(s: &mut Self::Stream, buf: &mut [u8]) -> io::Result<usize> {
        s.read(buf).await
    }

    async fn read_exact(s: &mut Self::Stream, buf: &mut [u8]) -> io::Result<()> {
        s.read_exact(buf).await
    }

    async fn write_all(s: &mut Self::Stream, buf: &[u8]) -> io::Result<()> {
        s.write_all(buf).await
    }
}

impl Net for Tokio {
    type Listener = tokio::net::TcpListener;
    type Stream = tokio::net::TcpStream;

    async fn bind() -> (Self::Listener, SocketAddr) {
        let l = tokio::net::TcpListener::bind(LOCALHOST).await.unwrap();
        let addr = l.local_addr().unwrap();
        (l, addr)
    }

    async fn accept(l: &Self::Listener) -> Self::Stream {
        let (s, _) = l.accept().await.unwrap();
        s.set_nodelay(true).unwrap();
        s
    }

    async fn connect(addr: SocketAddr) -> Self::Stream {
        let s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.set_nodelay(true).unwrap();
        s
    }

    async fn read(s: &mut Self::Stream, buf: &mut [u8]) -> io::Result<usize> {
        tokio::io::AsyncReadExt::read(s, buf).await
    }

    async fn read_exact(s: &mut Self::Stream, buf: &mut [u8]) -> io::Result<()> {
        tokio::io::AsyncReadExt::read_exact(s, buf).await.map(drop)
    }

    async fn write_all(s: &mut Self::Stream, buf: &[u8]) -> io::Result<()> {
        tokio::io::AsyncWriteExt::write_all(s, buf).await
    }
}

impl Net for Smol {
    type Listener = smol::net::TcpListener;
    type Stream = smol::net::TcpStream;

    async fn bind() -> (Self::Listener, SocketAddr) {
        let l = smol::net::TcpListener::bind(LOCALHOST).await.unwrap();
        let addr = l.local_addr().unwrap();
        (l, addr)
    }

    async fn accept(l: &Self::Listener) -> Self::Stream {
        let (s, _) = l.accept().await.unwrap();
        s.set_nodelay(true).unwrap();
        s
    }

    async fn connect(addr: SocketAddr) -> Self::Stream {
        let s = smol::net::TcpStream::connect(addr).await.unwrap();
        s.set_nodelay(true).unwrap();
        s
    }

    async fn read(s: &mut Self::Stream, buf: &mut [u8]) -> io::Result<usize> {
        smol::io::AsyncReadExt::read(s, buf).await
    }

    async fn read_exact(s: &mut Self::Stream, buf: &mut [u8]) -> io::Result<()> {
        smol::io::AsyncReadExt::read_exact(s, buf).await
    }

    async fn write_all(s: &mut Self::Stream, buf: &[u8]) -> io::Result<()> {
        smol::io::AsyncWriteExt::write_all(s, buf).await
    }
}

const MSG: usize = 64;

fn total_round_trips() -> usize {
    scaled(200_000, 1_000)
}

/// Echo: an accept loop spawns one echo task per connection (64-byte `read_exact` then
/// `write_all`, until EOF). All `conns` clients connect first; the clock then runs while each
/// client task does `total / conns` round trips (write 64 B, read 64 B back). k round trips/s.
fn echo<R: Net, const CONNS: usize>() -> Vec<f64> {
    let per_conn = (total_round_trips() / CONNS).max(1);
    R::run(async move {
        let (listener, addr) = R::bind().await;
        let acceptor = R::spawn(async move {
            for _ in 0..CONNS {
                let mut s = R::accept(&listener).await;
                R::spawn_detached(async move {
                    let mut buf = [0u8; MSG];
                    loop {
                        if R::read_exact(&mut s, &mut buf).await.is_err() {
                            break;
                        }
                        if R::write_all(&mut s, &buf).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        let mut clients = Vec::with_capacity(CONNS);
        for _ in 0..CONNS {
            clients.push(R::connect(addr).await);
        }
        acceptor.await;
        let start = Instant::now();
        let handles: Vec<_> = clients
            .into_iter()
            .map(|mut s| {
                R::spawn(async move {
                    let mut buf = [7u8; MSG];
                    for _ in 0..per_conn {
                        R::write_all(&mut s, &buf).await.unwrap();
                        R::read_exact(&mut s, &mut buf).await.unwrap();
                    }
                    assert_eq!(buf, [7u8; MSG]);
                })
            })
            .collect();
        for h in handles {
            h.await;
        }
        let d = start.elapsed();
        vec![(per_conn * CONNS) as f64 / d.as_secs_f64() / 1e3]
    })
}

const CHUNK: usize = 64 * 1024;

fn stream_chunks() -> usize {
    scaled(1 << 30, CHUNK * 16) / CHUNK
}

/// One connection: a writer task sends `stream_chunks()` 64 KiB writes, the driver reads into a
/// 64 KiB buffer and discards until it has everything. GB/s (10^9 bytes).
fn stream<R: Net>() -> Vec<f64> {
    let chunks = stream_chunks();
    let total = chunks * CHUNK;
    R::run(async move {
        let (listener, addr) = R::bind().await;
        let acceptor = R::spawn(async move { R::accept(&listener).await });
        let mut client = R::connect(addr).await;
        let mut server = acceptor.await;
        let start = Instant::now();
        let writer = R::spawn(async move {
            let buf = vec![1u8; CHUNK];
            for _ in 0..chunks {
                R::write_all(&mut client, &buf).await.unwrap();
            }
            client
        });
        let mut buf = vec![0u8; CHUNK];
        let mut got = 0;
        while got < total {
            let n = R::read(&mut server, &mut buf).await.unwrap();
            assert!(n > 0, "EOF after {got} of {total} bytes");
            got += n;
        }
        let d = start.elapsed();
        drop(writer.await);
        vec![total as f64 / d.as_secs_f64() / 1e9]
    })
}

macro_rules! runs {
    ($($f:tt)*) => {
        [
            $($f)*::<Wisp> as RunFn,
            $($f)*::<Tokio> as RunFn,
            $($f)*::<Smol> as RunFn,
        ]
    };
}

/// Connections of the two-thread echo row.
const TWO_CONNS: usize = 100;

/// Echo on two cores, wisp: an executor on this thread and one on another, sharing the reactor.
/// Server side of connection `i` on executor `i % 2`, its client on the other (so each thread
/// runs half of each), handed out through the other executor's `Spawner`.
fn echo_two_wisp() -> Vec<f64> {
    type Job = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;
    let per_conn = (total_round_trips() / TWO_CONNS).max(1);
    let (stop_tx, stop_rx) = async_channel::bounded::<()>(1);
    let (tx, rx) = std::sync::mpsc::channel();
    let worker = std::thread::spawn(move || {
        let ex = wisp::Executor::new();
        tx.send(ex.spawner()).unwrap();
        ex.block_on(async move {
            let _ = stop_rx.recv().await;
        });
    });
    let other = rx.recv().unwrap();
    let ex = wisp::Executor::new();
    let k = ex.block_on(async {
        let spawn_on = |k: usize, job: Job| match k % 2 {
            0 => wisp::spawn(job),
            _ => other.spawn(job),
        };
        let listener = wisp::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut clients = Vec::new();
        for i in 0..TWO_CONNS {
            let client = wisp::net::TcpStream::connect(addr).await.unwrap();
            let (server, _) = listener.accept().await.unwrap();
            client.set_nodelay(true).unwrap();
            server.set_nodelay(true).unwrap();
            spawn_on(
                i,
                Box::pin(async move {
                    let mut buf = [0u8; MSG];
                    while server.read_exact(&mut buf).await.is_ok() {
                        if server.write_all(&buf).await.is_err() {
                            break;
                        }
                    }
                }),
            )
            .detach();
            clients.push(client);
        }
        let start = Instant::now();
        let tasks: Vec<_> = clients
            .into_iter()
            .enumerate()
            .map(|(i, client)| {
                spawn_on(
                    i + 1,
                    Box::pin(async move {
                        let mut buf = [7u8; MSG];
                        for _ in 0..per_conn {
                            client.write_all(&buf).await.unwrap();
                            client.read_exact(&mut buf).await.unwrap();
                        }
                    }),
                )
            })
            .collect();
        for t in tasks {
            t.await;
        }
        (per_conn * TWO_CONNS) as f64 / start.elapsed().as_secs_f64() / 1e3
    });
    let _ = stop_tx.close();
    worker.join().unwrap();
    vec![k]
}

/// The same on tokio's multi_thread runtime with 2 workers (work stealing).
fn echo_two_tokio() -> Vec<f64> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let per_conn = (total_round_trips() / TWO_CONNS).max(1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let k = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut clients = Vec::new();
        for _ in 0..TWO_CONNS {
            let client = tokio::net::TcpStream::connect(addr).await.unwrap();
            let (mut server, _) = listener.accept().await.unwrap();
            client.set_nodelay(true).unwrap();
            server.set_nodelay(true).unwrap();
            tokio::spawn(async move {
                let mut buf = [0u8; MSG];
                while server.read_exact(&mut buf).await.is_ok() {
                    if server.write_all(&buf).await.is_err() {
                        break;
                    }
                }
            });
            clients.push(client);
        }
        let start = Instant::now();
        let tasks: Vec<_> = clients
            .into_iter()
            .map(|mut client| {
                tokio::spawn(async move {
                    let mut buf = [7u8; MSG];
                    for _ in 0..per_conn {
                        client.write_all(&buf).await.unwrap();
                        client.read_exact(&mut buf).await.unwrap();
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        (per_conn * TWO_CONNS) as f64 / start.elapsed().as_secs_f64() / 1e3
    });
    vec![k]
}

fn main() {
    common::header("benches/net.rs");
    let rounds = common::rounds();
    let slow_rounds = rounds.min(3);
    let total = total_round_trips();
    println!(
        "Loopback, client and server in one runtime on one thread, nodelay everywhere. Runtimes \
         are built fresh per run, outside the timed region. Streaming row: {slow_rounds} rounds.\n"
    );
    let mut rows = Vec::new();
    rows.extend(measure(
        &[Metric::new(
            format!("echo, 64 B round trips, 100 connections ({total} total)"),
            "k/s",
            true,
        )],
        [
            echo::<Wisp, 100> as RunFn,
            echo::<Tokio, 100> as RunFn,
            echo::<Smol, 100> as RunFn,
        ],
        rounds,
    ));
    rows.extend(measure(
        &[Metric::new(
            format!("echo, 64 B round trips, 1 000 connections ({total} total)"),
            "k/s",
            true,
        )],
        [
            echo::<Wisp, 1000> as RunFn,
            echo::<Tokio, 1000> as RunFn,
            echo::<Smol, 1000> as RunFn,
        ],
        rounds,
    ));
    let mib = (stream_chunks() * CHUNK) >> 20;
    rows.extend(measure(
        &[Metric::new(
            format!("one stream, {mib} MiB in 64 KiB writes"),
            "GB/s",
            true,
        )],
        runs!(stream),
        slow_rounds,
    ));
    println!();
    common::print_table(&rows);

    // Two cores: wisp with an executor per thread, against tokio's work-stealing runtime.
    let peer = "tokio multi_thread (2 workers)";
    let two = measure_pair(
        &[Metric::new(
            format!("echo on 2 threads, 64 B round trips, {TWO_CONNS} connections ({total} total)"),
            "k/s",
            true,
        )],
        peer,
        [echo_two_wisp as RunFn, echo_two_tokio as RunFn],
        rounds,
    );
    if !two.is_empty() {
        println!();
        println!(
            "Two threads: wisp runs one Executor per thread on its shared reactor, each \
             connection's server and client on different threads (examples/multicore.rs); tokio \
             runs its multi_thread runtime with 2 workers."
        );
        println!();
        common::print_pair_table(peer, &two);
    }
}
