//! Pages per second of one crawl shared by 1, 2 and 4 worker processes through PostgreSQL
//! (`wisp::crawl::shared`), against the same crawl by one process with its state in SQLite
//! (`wisp::crawl::state`), which is the cost the shared state is measured against.
//!
//! `WISP_PG_URL=postgres://... cargo bench --features postgres,state --bench crawl_shared`
//! (start a throwaway server with `scripts/pg-test-server.sh`; without `WISP_PG_URL` the bench
//! says so and exits). `WISP_BENCH_SCALE=0.25` for a quarter of the pages.
//!
//! The site: the `crawl` program's demo site (8 links per page, redirects, 404s, images,
//! robots.txt) on 8 ports of 127.0.0.1, so 8 hosts, served by this process from a thread of
//! its own. Each crawl runs in child processes of this bench (the same executable, told its
//! part by environment variables), started together; a variant's time is from the start of
//! its first process to the end of its last. The variants are run in turn, 3 rounds; the table
//! has the median pages/s and the median of the per-round ratios to the SQLite crawl.

#[allow(dead_code)]
#[path = "../src/bin/crawl/demo/mod.rs"]
mod demo;

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use demo::{Site, SiteConfig};
use wisp::crawl::shared::{Lease, SharedState, crawl_shared};
use wisp::crawl::state::{State, crawl_resumable};
use wisp::crawl::{Config, Hooks};

const HOSTS: usize = 8;
const PAGES_PER_HOST: usize = 2_000;
const ROUNDS: usize = 3;

fn pages_per_host() -> usize {
    let scale: f64 = std::env::var("WISP_BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    ((PAGES_PER_HOST as f64 * scale) as usize).max(50)
}

fn config() -> Config {
    Config {
        max_depth: 100,
        ..Config::default()
    }
}

fn hooks() -> Hooks<'static> {
    Hooks {
        on_record: Box::new(|_| {}),
        on_foreign_link: Box::new(|_| {}),
        stop: Arc::new(AtomicBool::new(false)),
    }
}

/// A child's part: one crawl, its record count on stdout.
fn child(role: &str) {
    let seeds: Vec<String> = std::env::var("WISP_BENCH_SEEDS")
        .unwrap()
        .split(' ')
        .map(str::to_string)
        .collect();
    let config = config();
    let summary = match role {
        "sqlite" => {
            let path = std::env::var("WISP_BENCH_FILE").unwrap();
            let mut state = State::open(path.as_ref()).unwrap();
            state.check(&config, &seeds, false).unwrap();
            wisp::block_on(crawl_resumable(&config, seeds, hooks(), |_| {}, &mut state))
        }
        _ => {
            let url = std::env::var("WISP_PG_URL").unwrap();
            let name = std::env::var("WISP_BENCH_CRAWL").unwrap();
            let mut state = SharedState::open(&url, &name, Lease::default()).unwrap();
            state.check(&config, &seeds, false).unwrap();
            wisp::block_on(crawl_shared(&config, seeds, hooks(), |_| {}, &mut state))
        }
    }
    .unwrap();
    assert!(summary.state_error.is_none(), "{:?}", summary.state_error);
    println!("{}", summary.records);
}

/// Serves the demo site on `HOSTS` ports from a thread of its own; returns the roots.
fn serve(pages: usize) -> Vec<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        wisp::block_on(async move {
            let site = Arc::new(Site::generate(SiteConfig {
                pages,
                ..SiteConfig::default()
            }));
            let mut roots = Vec::new();
            for _ in 0..HOSTS {
                roots.push(site.clone().serve().await.unwrap());
            }
            tx.send(roots).unwrap();
            std::future::pending::<()>().await
        })
    });
    rx.recv().unwrap()
}

/// Runs one variant: `workers` processes (0: the SQLite crawl); returns (records, time).
fn run(workers: usize, seeds: &[String], tag: &str) -> (u64, Duration) {
    let exe = std::env::current_exe().unwrap();
    let dir = std::env::temp_dir().join(format!("wisp-bench-shared-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!("{tag}.state"));
    let _ = std::fs::remove_file(&file);
    let started = Instant::now();
    let children: Vec<_> = (0..workers.max(1))
        .map(|_| {
            Command::new(&exe)
                .env(
                    "WISP_BENCH_ROLE",
                    if workers == 0 { "sqlite" } else { "shared" },
                )
                .env("WISP_BENCH_SEEDS", seeds.join(" "))
                .env("WISP_BENCH_FILE", &file)
                .env("WISP_BENCH_CRAWL", tag)
                .stdout(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut records = 0;
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "a crawl failed");
        records += String::from_utf8(out.stdout)
            .unwrap()
            .trim()
            .parse::<u64>()
            .unwrap();
    }
    let elapsed = started.elapsed();
    let _ = std::fs::remove_dir_all(&dir);
    (records, elapsed)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    if let Ok(role) = std::env::var("WISP_BENCH_ROLE") {
        return child(&role);
    }
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    if std::env::var("WISP_PG_URL").is_err() {
        println!(
            "crawl_shared: WISP_PG_URL is not set: start PostgreSQL with \
             `eval \"$(scripts/pg-test-server.sh start /tmp/wisp-pg)\"` and run again"
        );
        return;
    }
    let pages = pages_per_host();
    let seeds = serve(pages);
    let variants = [
        (0, "SQLite state, 1 process"),
        (1, "PostgreSQL, 1 worker"),
        (2, "PostgreSQL, 2 workers"),
        (4, "PostgreSQL, 4 workers"),
    ];
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    // `WISP_BENCH_WORKERS=1,4`: only these variants (0 is the SQLite crawl, always run).
    let only: Option<Vec<usize>> = std::env::var("WISP_BENCH_WORKERS")
        .ok()
        .map(|v| v.split(',').filter_map(|w| w.trim().parse().ok()).collect());
    let variants: Vec<_> = variants
        .into_iter()
        .filter(|(w, _)| *w == 0 || only.as_ref().is_none_or(|o| o.contains(w)))
        .collect();
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); variants.len()];
    let mut counts = vec![0u64; variants.len()];
    for round in 0..ROUNDS {
        for (i, (workers, _)) in variants.iter().enumerate() {
            let tag = format!("bench-{stamp}-{round}-{workers}");
            let (records, time) = run(*workers, &seeds, &tag);
            counts[i] = records;
            rates[i].push(records as f64 / time.as_secs_f64());
        }
    }
    assert!(
        counts.iter().all(|c| *c == counts[0]),
        "the crawls disagree on the number of records: {counts:?}"
    );
    println!(
        "crawl_shared: {HOSTS} hosts x {pages} demo pages ({} records each crawl), {ROUNDS} rounds",
        counts[0]
    );
    println!("| crawl | pages/s (median) | ratio to SQLite (median of rounds) |");
    println!("|---|---|---|");
    for (i, (_, name)) in variants.iter().enumerate() {
        let ratios: Vec<f64> = (0..ROUNDS).map(|r| rates[i][r] / rates[0][r]).collect();
        println!(
            "| {name} | {:.0} | {:.2}x |",
            median(rates[i].clone()),
            median(ratios)
        );
    }
}
