//! Peak memory of a long crawl: 1 000 000 URLs with the state on disk (`--state`:
//! `wisp::crawl::state`), and the same crawl in memory for comparison.
//!
//! `cargo bench --features state --bench crawl_memory` (`WISP_BENCH_SCALE=0.1` for a tenth).
//!
//! The site is the `crawl` program's demo site (8 links per page, redirects, 404s, images,
//! robots.txt) of 1 000 000 pages, which it renders on request rather than building it up front
//! (past 100 000 pages), served by its own server on a thread of its own, so the process holds
//! the site's code, not its pages. Each crawl runs in a
//! child process of this bench (the same executable, told which crawl by an environment
//! variable), so each peak RSS (`VmHWM` of /proc/self/status, read at the end of the crawl) is
//! that crawl's alone: the site server thread, the crawler, its state and SQLite.

#[allow(dead_code)]
#[path = "../src/bin/crawl/demo/mod.rs"]
mod demo;

use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use demo::{Site, SiteConfig};
use wisp::crawl::{Config, Hooks};

const PAGES: u64 = 1_000_000;

fn pages() -> u64 {
    let scale: f64 = std::env::var("WISP_BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    // Past 100 000 pages the demo site renders on request; a smaller one would be built up front
    // and its pages would count in the figure.
    ((PAGES as f64 * scale) as u64).max(100_001)
}

/// Serves the demo site of `pages` pages from a thread of its own; returns its root URL.
fn serve(pages: u64) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        wisp::block_on(async move {
            let site = Arc::new(Site::generate(SiteConfig {
                pages: pages as usize,
                ..SiteConfig::default()
            }));
            tx.send(site.serve().await.unwrap()).unwrap();
            std::future::pending::<()>().await
        })
    });
    rx.recv().unwrap()
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
    let root = serve(pages);
    let config = Config {
        max_depth: u32::MAX,
        concurrency: 64,
        per_host: 64,
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
        "Peak RSS of one crawl of the {pages}-page demo site (rendered on request past 100 000 \
         pages; 1 KiB pages, 8 links each, redirects, 404s, images, robots.txt), concurrency 64, \
         each crawl in a process of its own with the site's server thread (VmHWM)."
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
