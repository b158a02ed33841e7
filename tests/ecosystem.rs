//! wisp does not reimplement channels, locks or select: the runtime-agnostic crates of the
//! ecosystem work on it as they are, since they only need a `Waker`. Each test here runs one of
//! them on wisp's executor (and sockets, 127.0.0.1 only) and checks what it delivered.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use futures_util::stream::{FuturesUnordered, StreamExt};
use wisp::net::{TcpListener, TcpStream};
use wisp::time::sleep;

use common::watchdog;

/// async-channel, bounded (capacity 4, so senders wait) and unbounded, fed by tasks that a
/// `Spawner` put on an executor running on another thread.
#[test]
fn async_channel_across_a_spawner_thread() {
    watchdog(60, || {
        let (bounded_tx, bounded_rx) = async_channel::bounded::<u32>(4);
        let (unbounded_tx, unbounded_rx) = async_channel::unbounded::<u32>();
        let (spawner_tx, spawner_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = async_channel::bounded::<()>(1);
        let other = std::thread::spawn(move || {
            let ex = wisp::Executor::new();
            spawner_tx.send(ex.spawner()).unwrap();
            ex.block_on(async move {
                let _ = stop_rx.recv().await;
            });
        });
        let spawner = spawner_rx.recv().unwrap();
        let sent = spawner.spawn(async move {
            for i in 0..100 {
                bounded_tx.send(i).await.unwrap();
                unbounded_tx.send(i * 2).await.unwrap();
            }
        });
        let (bounded, unbounded) = wisp::block_on(async {
            let mut bounded = Vec::new();
            while let Ok(v) = bounded_rx.recv().await {
                bounded.push(v);
            }
            let mut unbounded = Vec::new();
            while let Ok(v) = unbounded_rx.recv().await {
                unbounded.push(v);
            }
            sent.await;
            stop_tx.send(()).await.unwrap();
            (bounded, unbounded)
        });
        other.join().unwrap();
        assert_eq!(bounded, (0..100).collect::<Vec<_>>());
        assert_eq!(unbounded, (0..100).map(|i| i * 2).collect::<Vec<_>>());
    });
}

/// futures-channel's oneshot: a value from a task on another thread, and a dropped sender seen
/// as `Canceled`.
#[test]
fn futures_oneshot_from_another_thread() {
    watchdog(60, || {
        let (tx, rx) = futures_channel::oneshot::channel::<&str>();
        let (gone_tx, gone_rx) = futures_channel::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            tx.send("hello").unwrap();
            drop(gone_tx);
        });
        let (value, gone) = wisp::block_on(async { (rx.await, gone_rx.await) });
        thread.join().unwrap();
        assert_eq!(value, Ok("hello"));
        assert_eq!(gone, Err(futures_channel::oneshot::Canceled));
    });
}

/// async-lock's Mutex held across an await by many tasks (no lost update), and its Semaphore
/// bounding how many run at once.
#[test]
fn async_lock_mutex_and_semaphore() {
    watchdog(60, || {
        let counter = Arc::new(async_lock::Mutex::new(0u32));
        let permits = Arc::new(async_lock::Semaphore::new(3));
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        wisp::block_on(async {
            let tasks: Vec<_> = (0..20)
                .map(|_| {
                    let (counter, permits) = (counter.clone(), permits.clone());
                    let (running, most) = (running.clone(), most.clone());
                    wisp::spawn(async move {
                        let _permit = permits.acquire().await;
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        let mut value = counter.lock().await;
                        let read = *value;
                        sleep(Duration::from_millis(1)).await;
                        *value = read + 1;
                        drop(value);
                        running.fetch_sub(1, Ordering::SeqCst);
                    })
                })
                .collect();
            wisp::join_all(tasks).await;
        });
        assert_eq!(*counter.try_lock().unwrap(), 20);
        assert_eq!(
            most.load(Ordering::SeqCst),
            3,
            "the semaphore let 3 run at once"
        );
    });
}

/// event-listener: a task waits for a notification sent from another thread.
#[test]
fn event_listener_notified_from_another_thread() {
    watchdog(60, || {
        let event = Arc::new(event_listener::Event::new());
        let flag = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (e, f) = (event.clone(), flag.clone());
        let thread = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            f.store(true, Ordering::SeqCst);
            e.notify(usize::MAX);
        });
        wisp::block_on(async {
            loop {
                if flag.load(Ordering::SeqCst) {
                    break;
                }
                let listener = event.listen();
                if flag.load(Ordering::SeqCst) {
                    break;
                }
                listener.await;
            }
        });
        thread.join().unwrap();
        assert!(flag.load(Ordering::SeqCst));
    });
}

/// futures-util's `select!` between a wisp timer and a channel, and `FuturesUnordered` yielding
/// wisp tasks in the order they finish (in virtual time, so the order is the timers', whatever
/// the machine's load).
#[test]
fn select_and_futures_unordered() {
    watchdog(60, || {
        wisp::test::block_on(async {
            let (tx, rx) = async_channel::bounded::<u32>(1);
            let sender = wisp::spawn(async move {
                sleep(Duration::from_millis(10)).await;
                tx.send(7).await.unwrap();
            });
            let mut timer = std::pin::pin!(futures_util::FutureExt::fuse(sleep(
                Duration::from_secs(30)
            )));
            let mut recv = std::pin::pin!(futures_util::FutureExt::fuse(rx.recv()));
            let got = futures_util::select! {
                _ = timer => None,
                v = recv => v.ok(),
            };
            assert_eq!(got, Some(7), "the channel won, not the 30 s timer");
            sender.await;

            let mut unordered: FuturesUnordered<_> = [30u64, 10, 20]
                .into_iter()
                .map(|ms| {
                    wisp::spawn(async move {
                        sleep(Duration::from_millis(ms)).await;
                        ms
                    })
                })
                .collect();
            let mut order = Vec::new();
            while let Some(ms) = unordered.next().await {
                order.push(ms);
            }
            assert_eq!(order, [10, 20, 30]);
        });
    });
}

/// futures-util's I/O helpers on wisp sockets: `BufReader::lines` reading a line protocol, and
/// `io::copy` echoing a stream back.
#[test]
fn futures_io_helpers_on_wisp_sockets() {
    watchdog(60, || {
        wisp::block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let server = wisp::spawn(async move {
                let (stream, _) = listener.accept().await.unwrap();
                // Echo everything back until the client shuts its side.
                futures_util::io::copy(&stream, &mut &stream).await.unwrap()
            });
            let client = TcpStream::connect(addr).await.unwrap();
            AsyncWriteExt::write_all(&mut &client, b"one\ntwo\nthree\n")
                .await
                .unwrap();
            client.shutdown(std::net::Shutdown::Write).unwrap();
            let lines: Vec<String> = BufReader::new(&client)
                .lines()
                .map(|l| l.unwrap())
                .collect()
                .await;
            assert_eq!(lines, ["one", "two", "three"]);
            assert_eq!(server.await, 14);
        });
    });
}
