//! The crawler under `wisp::test`: its retries, backoff and elapsed times follow the virtual
//! clock, so minutes of waiting take a moment of real time.

mod common;

use std::cell::RefCell;
use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::thread;
use std::time::{Duration, Instant};

use common::watchdog;
use wisp::crawl::{Config, Hooks, Record, crawl};

/// Answers `replies.len()` connections on its own thread, one reply each, in order, then ends.
///
/// A thread rather than a task of the test executor: between fetches no socket of this process
/// is registered with the reactor, so the clock jumps without waiting `io_grace` of real time at
/// every one of the crawler's 100 ms turns. While a fetch waits for an answer the grace is long
/// (see the test), and an answer that comes ends the wait at once.
fn serve(listener: TcpListener, replies: Vec<Vec<u8>>) -> thread::JoinHandle<Vec<String>> {
    thread::spawn(move || {
        let mut targets = Vec::new();
        for reply in replies {
            let (mut stream, _) = listener.accept().unwrap();
            let mut head = Vec::new();
            let mut chunk = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = stream.read(&mut chunk).unwrap();
                assert_ne!(n, 0, "the client closed before its request head");
                head.extend_from_slice(&chunk[..n]);
            }
            let head = String::from_utf8_lossy(&head).into_owned();
            targets.push(head.split(' ').nth(1).unwrap().to_string());
            stream.write_all(&reply).unwrap();
            // Dropping the stream closes it, as the reply's `Connection: close` announced.
        }
        targets
    })
}

fn response(status: &str, extra: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\
         Connection: close\r\n{extra}\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// A page answers `503` with `Retry-After: 120` once, then `200`. The crawler waits what the
/// server asked, capped at 30 s (`fetch::backoff`), so the record is the 200, fetched exactly 30
/// virtual seconds after the first try, and the crawl takes exactly 30 virtual seconds.
#[test]
fn retry_after_is_waited_on_the_virtual_clock() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let root = format!("http://{}/", listener.local_addr().unwrap());
    let server = serve(
        listener,
        vec![
            response("503 Service Unavailable", "Retry-After: 120\r\n", "later"),
            response("200 OK", "", "ok"),
        ],
    );
    let real = Instant::now();
    let (records, elapsed, waited) = watchdog(60, move || {
        // Only a fetch in flight has a socket registered; its answer comes from the server
        // thread at once, and a generous grace keeps a loaded machine from jumping past it.
        wisp::test::Builder::new()
            .io_grace(Duration::from_secs(5))
            .block_on(async move {
                let config = Config {
                    retries: 1,
                    respect_robots: false,
                    ..Config::default()
                };
                let records = RefCell::new(Vec::<Record>::new());
                let start = wisp::time::now();
                let summary = crawl(
                    &config,
                    vec![root],
                    Hooks {
                        on_record: Box::new(|r: &Record| records.borrow_mut().push(r.clone())),
                        on_foreign_link: Box::new(|_| {}),
                        stop: Arc::new(AtomicBool::new(false)),
                    },
                )
                .await
                .expect("crawl starts");
                (
                    records.into_inner(),
                    summary.elapsed,
                    wisp::time::now() - start,
                )
            })
    });
    assert_eq!(server.join().unwrap(), ["/", "/"]);
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0].status, Some(200), "{records:?}");
    assert_eq!(records[0].error, None);
    // The first try at 0 s, the retry at 30 s (Retry-After 120 capped), each answered at once.
    assert_eq!(records[0].elapsed_ms, 30_000);
    assert_eq!(elapsed, Duration::from_secs(30));
    assert_eq!(waited, Duration::from_secs(30));
    assert!(
        real.elapsed() < Duration::from_secs(10),
        "{:?}",
        real.elapsed()
    );
}

/// The seed's port refuses the first connection (a socket is bound to it but not listening);
/// a task on the virtual clock starts listening at 100 ms, before the retry's backoff (500 ms)
/// ends. The retry connects: the record is the 200, fetched at exactly 500 virtual ms.
#[test]
fn a_refused_connection_is_retried_after_the_backoff() {
    let socket = socket2::Socket::new(
        socket2::Domain::IPV4,
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )
    .unwrap();
    socket
        .bind(&std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    let addr = socket.local_addr().unwrap().as_socket().unwrap();
    let root = format!("http://{addr}/");
    let (listening_tx, listening_rx) = std::sync::mpsc::channel::<TcpListener>();
    let server = thread::spawn(move || {
        serve(
            listening_rx.recv().unwrap(),
            vec![response("200 OK", "", "ok")],
        )
        .join()
        .unwrap()
    });
    let (records, waited) = watchdog(60, move || {
        // The refusal and the answer come from the kernel and the server thread at once; the
        // long grace keeps a loaded machine from jumping the clock past either.
        wisp::test::Builder::new()
            .io_grace(Duration::from_secs(30))
            .block_on(async move {
                let config = Config {
                    retries: 1,
                    respect_robots: false,
                    ..Config::default()
                };
                let start = wisp::time::now();
                wisp::spawn(async move {
                    wisp::time::sleep(Duration::from_millis(100)).await;
                    socket.listen(8).unwrap();
                    listening_tx.send(socket.into()).unwrap();
                })
                .detach();
                let records = RefCell::new(Vec::<Record>::new());
                crawl(
                    &config,
                    vec![root],
                    Hooks {
                        on_record: Box::new(|r: &Record| records.borrow_mut().push(r.clone())),
                        on_foreign_link: Box::new(|_| {}),
                        stop: Arc::new(AtomicBool::new(false)),
                    },
                )
                .await
                .expect("crawl starts");
                (records.into_inner(), wisp::time::now() - start)
            })
    });
    assert_eq!(server.join().unwrap(), ["/"]);
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0].status, Some(200), "{records:?}");
    assert_eq!(records[0].error, None);
    // Refused at 0 ms, retried after backoff(1) = 500 ms, answered at once.
    assert_eq!(records[0].elapsed_ms, 500);
    assert_eq!(waited, Duration::from_millis(500));
}
