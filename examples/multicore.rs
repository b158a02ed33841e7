//! Using more than one core: one `Executor` per thread, all sharing wisp's one reactor, and the
//! accepted connections handed out to them through their `Spawner`s.
//!
//! ```text
//! cargo run --release --example multicore [THREADS] [CONNECTIONS] [ROUND_TRIPS_PER_CONNECTION]
//! ```
//!
//! The main thread accepts; connection `i` is served on executor `i % THREADS` (the main
//! thread's own for 0, a worker thread's otherwise). The clients are spread the same way, one
//! executor over, and each does its round trips (64 bytes out, the same 64 back). A task never
//! moves once started: the work is balanced by where it is put, not stolen.

use std::time::Instant;

use wisp::net::{TcpListener, TcpStream};
use wisp::{Executor, Spawner};

const MSG: usize = 64;

/// A connection's task: boxed, so that the server's and the clients' are one type.
type Job = std::pin::Pin<Box<dyn std::future::Future<Output = std::io::Result<()>> + Send>>;

fn main() {
    let mut args = std::env::args().skip(1);
    let threads = parse(args.next(), "THREADS", 2).max(1);
    let connections = parse(args.next(), "CONNECTIONS", 100);
    let round_trips = parse(args.next(), "ROUND_TRIPS_PER_CONNECTION", 2_000);

    // Worker threads: each runs its own executor until told to stop, and hands back a Spawner.
    let (stop_tx, stop_rx) = async_channel::bounded::<()>(1);
    let mut workers = Vec::new();
    let mut spawners: Vec<Spawner> = Vec::new();
    for _ in 1..threads {
        let (tx, rx) = std::sync::mpsc::channel();
        let stop = stop_rx.clone();
        workers.push(std::thread::spawn(move || {
            let ex = Executor::new();
            tx.send(ex.spawner()).unwrap();
            ex.block_on(async move {
                let _ = stop.recv().await;
            });
        }));
        spawners.push(rx.recv().unwrap());
    }

    let ex = Executor::new();
    let result = ex.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        println!("echo server on {addr}, {threads} executor threads");
        // Executor `k` of `threads`: the main thread's for 0, a worker's otherwise.
        let spawn_on = |k: usize, future: Job| -> wisp::Task<std::io::Result<()>> {
            match k % threads {
                0 => wisp::spawn(future),
                w => spawners[w - 1].spawn(future),
            }
        };
        let mut clients = Vec::new();
        for i in 0..connections {
            let client = TcpStream::connect(addr).await?;
            let (server, _) = listener.accept().await?;
            client.set_nodelay(true)?;
            server.set_nodelay(true)?;
            spawn_on(
                i,
                Box::pin(async move {
                    let mut buf = [0u8; MSG];
                    while server.read_exact(&mut buf).await.is_ok() {
                        server.write_all(&buf).await?;
                    }
                    Ok(())
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
                        for _ in 0..round_trips {
                            client.write_all(&buf).await?;
                            client.read_exact(&mut buf).await?;
                        }
                        Ok(())
                    }),
                )
            })
            .collect();
        for task in tasks {
            task.await?;
        }
        std::io::Result::Ok(start.elapsed())
    });
    let _ = stop_tx.close();
    for w in workers {
        w.join().unwrap();
    }
    match result {
        Ok(took) => {
            let total = connections * round_trips;
            println!(
                "{total} round trips in {took:.2?}: {:.0} k round trips/s",
                total as f64 / took.as_secs_f64() / 1e3
            );
        }
        Err(e) => {
            eprintln!("multicore: {e}");
            std::process::exit(1);
        }
    }
}

fn parse(arg: Option<String>, name: &str, default: usize) -> usize {
    match arg {
        None => default,
        Some(a) => a.parse().unwrap_or_else(|_| {
            eprintln!("multicore: {name} must be a whole number, got {a:?}");
            std::process::exit(2);
        }),
    }
}
