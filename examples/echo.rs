//! An echo server and 100 clients talking to it over 127.0.0.1, all on one thread.
//!
//! ```text
//! cargo run --release --example echo [CONNECTIONS] [ROUND_TRIPS_PER_CONNECTION]
//! ```
//!
//! Each client writes 64 bytes and reads them back, many times; the program prints how many round
//! trips per second the pair achieved.
//!
//! `futures_util::io::copy` is from the futures-util crate (feature `io`), a dev-dependency of
//! wisp: a program of your own adds `futures-util = { version = "0.3", features = ["io"] }`.

use std::time::Instant;

use wisp::net::{TcpListener, TcpStream};

fn main() {
    let mut args = std::env::args().skip(1);
    let connections = parse(args.next(), "CONNECTIONS", 100);
    let round_trips = parse(args.next(), "ROUND_TRIPS_PER_CONNECTION", 1_000);

    let result = wisp::block_on(async move {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        println!("echo server on {addr}");
        wisp::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                wisp::spawn(async move {
                    // `&TcpStream` reads and writes at once: copy the stream into itself.
                    let _ = futures_util::io::copy(&stream, &mut &stream).await;
                })
                .detach();
            }
        })
        .detach();

        let start = Instant::now();
        let clients = (0..connections).map(|_| async move {
            let stream = TcpStream::connect(addr).await?;
            stream.set_nodelay(true)?;
            let mut buf = [0u8; 64];
            for i in 0..round_trips {
                buf[0] = i as u8;
                stream.write_all(&buf).await?;
                stream.read_exact(&mut buf).await?;
            }
            std::io::Result::Ok(())
        });
        for outcome in wisp::join_all(clients).await {
            outcome?;
        }
        std::io::Result::Ok(start.elapsed())
    });
    match result {
        Ok(elapsed) => {
            let total = connections * round_trips;
            println!(
                "{connections} connections x {round_trips} round trips of 64 B: {total} in {:.2} s, {:.0} round trips/s",
                elapsed.as_secs_f64(),
                total as f64 / elapsed.as_secs_f64()
            );
        }
        Err(e) => {
            eprintln!("echo: {e}");
            std::process::exit(1);
        }
    }
}

fn parse(arg: Option<String>, name: &str, default: usize) -> usize {
    match arg {
        None => default,
        Some(text) => text.parse().unwrap_or_else(|_| {
            eprintln!("echo: {name} must be a whole number, got {text:?}");
            std::process::exit(2);
        }),
    }
}
