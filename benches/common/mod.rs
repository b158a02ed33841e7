//! Shared harness for the side-by-side benches: one trait over wisp, tokio (current_thread +
//! LocalSet) and smol (LocalExecutor + async-io), interleaved rounds, medians and per-round
//! ratios, the markdown table.
//!
//! Runtimes are built fresh for every run of a workload, outside the timed region (wisp: a
//! `wisp::Executor`; tokio: `Builder::new_current_thread().enable_all()` + a `LocalSet`; smol: a
//! `LocalExecutor`). Timing starts inside the driver task, except for the `block_on` row.
#![allow(dead_code)]

use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// What the benches need of a runtime. Everything but `run`/`block_on_timed` is called from
/// inside a task of that runtime.
pub trait Rt: 'static {
    const NAME: &'static str;

    /// `block_on(spawn(fut))` on a fresh runtime; returns the task's output.
    fn run<F>(fut: F) -> F::Output
    where
        F: Future + 'static,
        F::Output: 'static;

    /// Runs `fut` directly in `block_on` (no spawn) and times that call alone; the runtime is
    /// built before the clock starts.
    fn block_on_timed<F: Future>(fut: F) -> (F::Output, Duration);

    fn spawn<F>(fut: F) -> impl Future<Output = F::Output> + 'static
    where
        F: Future + 'static,
        F::Output: 'static;

    fn spawn_detached<F: Future<Output = ()> + 'static>(fut: F);

    fn yield_now() -> impl Future<Output = ()>;

    fn sleep_until(at: Instant) -> impl Future<Output = ()>;

    /// `Some(output)` if `fut` finished within `d`.
    fn timeout<F: Future>(d: Duration, fut: F) -> impl Future<Output = Option<F::Output>>;
}

pub struct Wisp;
pub struct Tokio;
pub struct Smol;

impl Rt for Wisp {
    const NAME: &'static str = "wisp";

    fn run<F>(fut: F) -> F::Output
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let ex = wisp::Executor::new();
        ex.block_on(async move { wisp::spawn(fut).await })
    }

    fn block_on_timed<F: Future>(fut: F) -> (F::Output, Duration) {
        let ex = wisp::Executor::new();
        let start = Instant::now();
        let out = ex.block_on(fut);
        (out, start.elapsed())
    }

    fn spawn<F>(fut: F) -> impl Future<Output = F::Output> + 'static
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        wisp::spawn(fut)
    }

    fn spawn_detached<F: Future<Output = ()> + 'static>(fut: F) {
        wisp::spawn(fut).detach();
    }

    fn yield_now() -> impl Future<Output = ()> {
        wisp::yield_now()
    }

    fn sleep_until(at: Instant) -> impl Future<Output = ()> {
        wisp::time::sleep_until(at)
    }

    async fn timeout<F: Future>(d: Duration, fut: F) -> Option<F::Output> {
        wisp::time::timeout(d, fut).await.ok()
    }
}

impl Rt for Tokio {
    const NAME: &'static str = "tokio";

    fn run<F>(fut: F) -> F::Output
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let rt = tokio_rt();
        let local = tokio::task::LocalSet::new();
        local.block_on(
            &rt,
            async move { tokio::task::spawn_local(fut).await.unwrap() },
        )
    }

    fn block_on_timed<F: Future>(fut: F) -> (F::Output, Duration) {
        let rt = tokio_rt();
        let start = Instant::now();
        let out = rt.block_on(fut);
        (out, start.elapsed())
    }

    fn spawn<F>(fut: F) -> impl Future<Output = F::Output> + 'static
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let handle = tokio::task::spawn_local(fut);
        async move { handle.await.unwrap() }
    }

    fn spawn_detached<F: Future<Output = ()> + 'static>(fut: F) {
        drop(tokio::task::spawn_local(fut));
    }

    fn yield_now() -> impl Future<Output = ()> {
        tokio::task::yield_now()
    }

    fn sleep_until(at: Instant) -> impl Future<Output = ()> {
        tokio::time::sleep_until(tokio::time::Instant::from_std(at))
    }

    async fn timeout<F: Future>(d: Duration, fut: F) -> Option<F::Output> {
        tokio::time::timeout(d, fut).await.ok()
    }
}

fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

thread_local! {
    /// The smol executor of the running `Smol::run`, for spawning from inside tasks.
    static SMOL_EX: RefCell<Option<Rc<smol::LocalExecutor<'static>>>> = const { RefCell::new(None) };
}

fn smol_spawn<F>(fut: F) -> smol::Task<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    SMOL_EX.with(|ex| ex.borrow().as_ref().expect("inside Smol::run").spawn(fut))
}

impl Rt for Smol {
    const NAME: &'static str = "smol";

    fn run<F>(fut: F) -> F::Output
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let ex = Rc::new(smol::LocalExecutor::new());
        SMOL_EX.with(|s| *s.borrow_mut() = Some(ex.clone()));
        let out = smol::block_on(ex.run(async move { smol_spawn(fut).await }));
        SMOL_EX.with(|s| s.borrow_mut().take());
        drop(ex);
        out
    }

    fn block_on_timed<F: Future>(fut: F) -> (F::Output, Duration) {
        let start = Instant::now();
        let out = smol::block_on(fut);
        (out, start.elapsed())
    }

    fn spawn<F>(fut: F) -> impl Future<Output = F::Output> + 'static
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        smol_spawn(fut)
    }

    fn spawn_detached<F: Future<Output = ()> + 'static>(fut: F) {
        smol_spawn(fut).detach();
    }

    fn yield_now() -> impl Future<Output = ()> {
        smol::future::yield_now()
    }

    async fn sleep_until(at: Instant) {
        smol::Timer::at(at).await;
    }

    /// smol has no `timeout`: the idiomatic equivalent races the future against a timer with
    /// `future::or`. The timer is created inside the second future, so it only exists once the
    /// first future has returned `Pending` (as wisp's, and unlike tokio's, which reads the clock
    /// when the `Timeout` is made).
    async fn timeout<F: Future>(d: Duration, fut: F) -> Option<F::Output> {
        smol::future::or(async move { Some(fut.await) }, async move {
            smol::Timer::after(d).await;
            None
        })
        .await
    }
}

// ---------------------------------------------------------------------------------------------
// Configuration and reporting.

pub fn rounds() -> usize {
    std::env::var("WISP_BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|&r: &usize| r > 0)
        .unwrap_or(5)
}

pub fn scale() -> f64 {
    std::env::var("WISP_BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|&s: &f64| s > 0.0)
        .unwrap_or(1.0)
}

/// `n` scaled by `WISP_BENCH_SCALE`, at least `min`.
pub fn scaled(n: usize, min: usize) -> usize {
    ((n as f64 * scale()).round() as usize).max(min)
}

pub fn header(bench: &str) {
    title(bench);
    println!(
        "Each cell: median over interleaved rounds (round r runs wisp, tokio, smol rotated by r). \
         wisp/peer: median of per-round ratios, in throughput terms (peer time / wisp time for \
         time-like metrics): > 1 means wisp is better."
    );
    println!();
}

/// The first line of [`header`]: bench name, date, CPUs, rounds and scale.
pub fn title(bench: &str) {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let date = std::process::Command::new("date")
        .arg("-u")
        .arg("+%Y-%m-%d %H:%M UTC")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| "unknown date".into());
    println!(
        "# {bench}: {date}, {cpus} CPUs, ROUNDS={}, SCALE={}",
        rounds(),
        scale()
    );
}

/// One metric a workload reports.
pub struct Metric {
    pub name: String,
    pub unit: &'static str,
    pub higher_is_better: bool,
}

impl Metric {
    pub fn new(name: impl Into<String>, unit: &'static str, higher_is_better: bool) -> Metric {
        Metric {
            name: name.into(),
            unit,
            higher_is_better,
        }
    }
}

/// A workload run on each runtime: returns one value per metric.
pub type RunFn = fn() -> Vec<f64>;

/// Runs `runs` (wisp, tokio, smol) for `rounds` interleaved rounds, rotating the order each
/// round, and returns the table rows.
pub fn measure(metrics: &[Metric], runs: [RunFn; 3], rounds: usize) -> Vec<String> {
    // `WISP_BENCH_ONLY=text` runs only the rows whose first metric's name contains `text`.
    if let Ok(only) = std::env::var("WISP_BENCH_ONLY")
        && !metrics.iter().any(|m| m.name.contains(&only))
    {
        return Vec::new();
    }
    const NAMES: [&str; 3] = [Wisp::NAME, Tokio::NAME, Smol::NAME];
    // results[round][runtime][metric]
    let mut results = vec![vec![Vec::new(); 3]; rounds];
    for (r, round) in results.iter_mut().enumerate() {
        for k in 0..3 {
            let i = (r + k) % 3;
            let values = runs[i]();
            assert_eq!(values.len(), metrics.len());
            eprintln!(
                "  [{}] round {r} {}: {:?}",
                metrics[0].name, NAMES[i], values
            );
            round[i] = values;
        }
    }
    let mut rows = Vec::new();
    for (m, metric) in metrics.iter().enumerate() {
        let per_rt = |i: usize| median(results.iter().map(|round| round[i][m]).collect());
        let ratio = |peer: usize| {
            median(
                results
                    .iter()
                    .map(|round| {
                        let (w, p) = (round[0][m], round[peer][m]);
                        if metric.higher_is_better {
                            w / p.max(f64::MIN_POSITIVE)
                        } else {
                            p / w.max(f64::MIN_POSITIVE)
                        }
                    })
                    .collect(),
            )
        };
        let u = metric.unit;
        rows.push(format!(
            "| {} | {} {u} | {} {u} | {} {u} | {:.2}x | {:.2}x |",
            metric.name,
            fmt(per_rt(0)),
            fmt(per_rt(1)),
            fmt(per_rt(2)),
            ratio(1),
            ratio(2),
        ));
    }
    rows
}

/// [`measure`] for two contenders, wisp and one peer: `runs` is (wisp, peer), the order
/// alternates each round. Rows are `| metric | wisp | peer | wisp/peer |`, the ratio being the
/// median of per-round ratios in throughput terms (> 1: wisp better).
pub fn measure_pair(
    metrics: &[Metric],
    peer: &str,
    runs: [RunFn; 2],
    rounds: usize,
) -> Vec<String> {
    if let Ok(only) = std::env::var("WISP_BENCH_ONLY")
        && !metrics.iter().any(|m| m.name.contains(&only))
    {
        return Vec::new();
    }
    let names = [Wisp::NAME, peer];
    // results[round][contender][metric]
    let mut results = vec![vec![Vec::new(); 2]; rounds];
    for (r, round) in results.iter_mut().enumerate() {
        for k in 0..2 {
            let i = (r + k) % 2;
            let values = runs[i]();
            assert_eq!(values.len(), metrics.len());
            eprintln!(
                "  [{}] round {r} {}: {:?}",
                metrics[0].name, names[i], values
            );
            round[i] = values;
        }
    }
    let mut rows = Vec::new();
    for (m, metric) in metrics.iter().enumerate() {
        let per = |i: usize| median(results.iter().map(|round| round[i][m]).collect());
        let ratio = median(
            results
                .iter()
                .map(|round| {
                    let (w, p) = (round[0][m], round[1][m]);
                    if metric.higher_is_better {
                        w / p.max(f64::MIN_POSITIVE)
                    } else {
                        p / w.max(f64::MIN_POSITIVE)
                    }
                })
                .collect(),
        );
        let u = metric.unit;
        rows.push(format!(
            "| {} | {} {u} | {} {u} | {ratio:.2}x |",
            metric.name,
            fmt(per(0)),
            fmt(per(1)),
        ));
    }
    rows
}

/// The table for [`measure_pair`] rows.
pub fn print_pair_table(peer: &str, rows: &[String]) {
    println!("| workload | wisp | {peer} | wisp/{peer} (>1: wisp better) |");
    println!("|---|---|---|---|");
    for row in rows {
        println!("{row}");
    }
}

pub fn print_table(rows: &[String]) {
    println!(
        "| workload | wisp | tokio | smol | wisp/tokio (>1: wisp better) | wisp/smol (>1: wisp better) |"
    );
    println!("|---|---|---|---|---|---|");
    for row in rows {
        println!("{row}");
    }
}

fn fmt(v: f64) -> String {
    let a = v.abs();
    if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 0.1 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Millions per second.
pub fn mps(count: usize, d: Duration) -> f64 {
    count as f64 / d.as_secs_f64() / 1e6
}
