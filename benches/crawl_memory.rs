//! Peak memory of a long crawl: 1 000 000 URLs with the state on disk (`--state`:
//! `wisp::crawl::state`), and the same crawl in memory for comparison.
//!
//! `cargo bench --features state --bench crawl_memory` (`WISP_BENCH_SCALE=0.1` for a tenth).
//!
//! The site is generated on request, not pre-rendered: `/p/N` for N below the page count links
//! `/p/N+1` (so every page is reached) and 7 pages picked by a hash of N, in 1 KiB pages. It is
//! served by a small HTTP/1.1 server (keep-alive, one request at a time per connection) on a
//! thread of its own, so the process holds the site's code, not its pages. Each crawl runs in a
//! child process of this bench (the same executable, told which crawl by an environment
//! variable), so each peak RSS (`VmHWM` of /proc/self/status, read at the end of the crawl) is
//! that crawl's alone: the site server thread, the crawler, its state and SQLite.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use wisp::crawl::{Config, Hooks};

const PAGES: u64 = 1_000_000;
/// Links per page: the next page and this many picked by a hash.
const LINKS: u64 = 7;

fn pages() -> u64 {
    let scale: f64 = std::env::var("WISP_BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    ((PAGES as f64 * scale) as u64).max(100)
}

/// splitmix64: the links of a page are a function of its number.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn page(n: u64, pages: u64) -> Vec<u8> {
    let mut body = String::with_capacity(1100);
    body.push_str("<!DOCTYPE html><html><body>");
    if n + 1 < pages {
        body.push_str(&format!("<a href=\"/p/{}\">next</a>", n + 1));
    }
    for i in 0..LINKS {
        body.push_str(&format!("<a href=\"/p/{}\">x</a>", mix(n * 16 + i) % pages));
    }
    while body.len() < 1000 {
        body.push_str(" filler text of a generated page");
    }
    body.push_str("</body></html>");
    let mut out = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body.as_bytes());
    out
}

/// Answers keep-alive connections, a thread each (the crawler opens at most 64).
fn serve(pages: u64) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || connection(stream, pages));
        }
    });
    port
}

fn connection(stream: TcpStream, pages: u64) {
    let _ = stream.set_nodelay(true);
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let target = line.split(' ').nth(1).unwrap_or("/").to_string();
        // The rest of the head.
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            if header == "\r\n" {
                break;
            }
        }
        let reply = match target
            .strip_prefix("/p/")
            .and_then(|n| n.parse::<u64>().ok())
        {
            Some(n) if n < pages => page(n, pages),
            _ => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec(),
        };
        if writer.write_all(&reply).is_err() {
            return;
        }
    }
}

/// Peak resident set of this process, in bytes.
fn peak_rss() -> u64 {
    let mut status = String::new();
    std::fs::File::open("/proc/self/status")
        .and_then(|mut f| f.read_to_string(&mut status))
        .unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap_or(0)
        * 1024
}

/// The child: one crawl, then a line `records seconds peak_rss_bytes` on stdout.
fn child(with_state: bool) {
    let pages = pages();
    let port = serve(pages);
    let root = format!("http://127.0.0.1:{port}/p/0");
    let config = Config {
        max_depth: u32::MAX,
        concurrency: 64,
        per_host: 64,
        respect_robots: false,
        max_frontier: u64::MAX,
        ..Config::default()
    };
    let hooks = Hooks {
        on_record: Box::new(|_| {}),
        on_foreign_link: Box::new(|_| {}),
        stop: Arc::new(AtomicBool::new(false)),
    };
    let dir = std::env::temp_dir().join(format!("wisp-bench-memory-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let start = Instant::now();
    let summary = if with_state {
        let mut state = wisp::crawl::state::State::open(&dir.join("crawl.state")).unwrap();
        state
            .check(&config, std::slice::from_ref(&root), false)
            .unwrap();
        let crawl = wisp::crawl::state::crawl_resumable(&config, [root], hooks, |_| {}, &mut state);
        wisp::block_on(crawl).unwrap()
    } else {
        wisp::block_on(wisp::crawl::crawl(&config, [root], hooks)).unwrap()
    };
    let took = start.elapsed().as_secs_f64();
    let rss = peak_rss();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(summary.state_error.is_none(), "{:?}", summary.state_error);
    println!("{} {took} {rss} {}", summary.records, summary.errors);
}

fn main() {
    if let Ok(mode) = std::env::var("WISP_CRAWL_MEMORY_CHILD") {
        child(mode == "state");
        return;
    }
    let pages = pages();
    let exe = std::env::current_exe().unwrap();
    println!("## crawl_memory");
    println!();
    println!(
        "Peak RSS of one crawl of a {pages}-page site generated on request (1 KiB pages, 8 \
         links each), concurrency 64, each crawl in a process of its own with the site's \
         server thread (VmHWM)."
    );
    println!();
    println!("| crawl | records | errors | wall time | pages/s | peak RSS |");
    println!("|---|---|---|---|---|---|");
    let mut state_rss = 0;
    for mode in ["state", "memory"] {
        let out = std::process::Command::new(&exe)
            .env("WISP_CRAWL_MEMORY_CHILD", mode)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let f: Vec<f64> = text
            .split_whitespace()
            .map(|v| v.parse().unwrap())
            .collect();
        let (records, took, rss, errors) = (f[0], f[1], f[2] as u64, f[3]);
        if mode == "state" {
            state_rss = rss;
        }
        println!(
            "| {} | {records} | {errors} | {took:.1} s | {:.0} | {:.1} MB |",
            if mode == "state" {
                "with --state"
            } else {
                "in memory"
            },
            records / took,
            rss as f64 / 1e6
        );
    }
    println!();
    println!(
        "TARGET (issue: crawl state on disk): a 1 000 000-URL crawl with --state under 100 MB \
         peak RSS{}: {}",
        if pages == PAGES {
            ""
        } else {
            " (scaled run: not the target's size)"
        },
        if state_rss < 100_000_000 {
            "met"
        } else {
            "MISSED"
        }
    );
}
