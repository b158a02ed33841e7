//! `crawl --state`: a crawl killed (SIGKILL) or interrupted (SIGINT) mid-way and run again with
//! the same command ends with exactly one record per URL, and no URL whose record was written
//! is fetched again; a resume with another meaning is refused; files that are not a wisp state
//! are refused before anything is fetched. The site is served on 127.0.0.1 from a thread of
//! this test process, so it outlives the crawl processes.
#![cfg(feature = "state")]

mod common;
#[allow(dead_code)]
#[path = "../src/bin/crawl/demo/mod.rs"]
mod demo;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::crawl_server::*;

const CRAWL_BIN: &str = env!("CARGO_BIN_EXE_crawl");

/// Pages of the test site.
const PAGES: usize = 300;

/// The links of page i: a tree (3i+1 .. 3i+3) with links back to the root and across
/// (i / 2, i + 7), so a resumed run meets recorded pages again.
fn links_of(i: usize) -> Vec<usize> {
    let mut links: Vec<usize> = (3 * i + 1..=3 * i + 3).collect();
    links.extend([0, i / 2, i + 7]);
    links.retain(|l| *l < PAGES);
    links
}

/// The shortest hop count from page 0 to every page.
fn depths() -> Vec<u32> {
    let mut depth = vec![u32::MAX; PAGES];
    depth[0] = 0;
    let mut queue = std::collections::VecDeque::from([0]);
    while let Some(i) = queue.pop_front() {
        for l in links_of(i) {
            if depth[l] == u32::MAX {
                depth[l] = depth[i] + 1;
                queue.push_back(l);
            }
        }
    }
    depth
}

/// The site: `/p/<i>` for i < PAGES, each answered after `delay`, so that a crawl takes a
/// few seconds (the server answers one connection at a time).
fn site(delay: Duration) -> (String, Arc<Mutex<Vec<String>>>) {
    let (port, heads) = serve_on_thread(move |target| {
        let Some(i) = target
            .strip_prefix("/p/")
            .and_then(|i| i.parse::<usize>().ok())
            .filter(|i| *i < PAGES)
        else {
            return response("404 Not Found", "text/plain", "", b"no\n");
        };
        std::thread::sleep(delay);
        let mut body = String::from("<html><body>");
        for link in links_of(i) {
            body.push_str(&format!("<a href=\"/p/{link}\">{link}</a>"));
        }
        body.push_str("</body></html>");
        response("200 OK", "text/html", "", body.as_bytes())
    });
    (format!("http://127.0.0.1:{port}/p/0"), heads)
}

/// The command of both runs, but for the User-Agent, which tells their requests apart (a
/// request of the killed run may still wait in the server's backlog).
fn args<'a>(seed: &'a str, state: &'a str, jsonl: &'a str, agent: &'a str) -> Vec<&'a str> {
    vec![
        "-q",
        "--depth",
        "10",
        "-c",
        "4",
        "--per-host",
        "4",
        "-U",
        agent,
        "--state",
        state,
        "--jsonl",
        jsonl,
        seed,
    ]
}

/// The request targets of the run with User-Agent `agent`.
fn targets_of(heads: &Mutex<Vec<String>>, agent: &str) -> Vec<String> {
    heads
        .lock()
        .unwrap()
        .iter()
        .filter(|h| h.contains(&format!("User-Agent: {agent}\r\n")))
        .filter_map(|h| h.split(' ').nth(1).map(str::to_string))
        .collect()
}

fn start(args: &[&str]) -> Child {
    Command::new(CRAWL_BIN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn lines(path: &str) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// The `url` of a JSON record line.
fn url_of(line: &str) -> String {
    let rest = line
        .strip_prefix("{\"url\":\"")
        .expect("a record starts with its url");
    rest[..rest.find('"').unwrap()].to_string()
}

/// Waits (up to 60 s) until the JSONL file holds at least `n` records.
fn wait_for_records(path: &str, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while lines(path).len() < n {
        assert!(
            Instant::now() < deadline,
            "the crawl wrote no {n} records in 60 s"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The lines two runs' files share from the start: the records of the first run that the
/// second kept.
fn common_prefix(before: &[String], after: &[String]) -> usize {
    before.iter().zip(after).take_while(|(a, b)| a == b).count()
}

/// Stops the first run with `signal` once it wrote 40 records, runs the same command again to
/// its end, and checks the union.
fn stop_and_resume(signal: i32, tag: &str) {
    let (seed, heads) = site(Duration::from_millis(10));
    let dir = TempDir::new(tag);
    let state = dir.path().join("crawl.state").display().to_string();
    let jsonl = dir.path().join("records.jsonl").display().to_string();
    let mut first = start(&args(&seed, &state, &jsonl, "first-run"));
    wait_for_records(&jsonl, 40);
    assert_eq!(send_signal(first.id(), signal), 0);
    let status = first.wait().unwrap();
    let before = lines(&jsonl);
    assert!(
        before.len() < PAGES,
        "the first run was stopped before its end ({} records)",
        before.len()
    );

    let second = crawl_binary(&args(&seed, &state, &jsonl, "second-run"));
    assert_eq!(
        second.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    let after = lines(&jsonl);

    // Exactly one record per page, none of them "interrupted".
    let urls: Vec<String> = after.iter().map(|l| url_of(l)).collect();
    let unique: BTreeSet<&String> = urls.iter().collect();
    assert_eq!(unique.len(), urls.len(), "a URL has two records");
    assert_eq!(urls.len(), PAGES, "every page has its record");
    assert!(after.iter().all(|l| !l.contains("interrupted")));
    // Depths are exact across the runs.
    let depths = depths();
    for line in &after {
        let i: usize = url_of(line).rsplit('/').next().unwrap().parse().unwrap();
        assert!(
            line.contains(&format!("\"depth\":{},", depths[i])),
            "{line}"
        );
    }

    // The first run's records that stand were not fetched again by the second.
    let kept = common_prefix(&before, &after);
    // 40 records took 400 ms at least: batches of 100 ms were committed before the stop.
    assert!(kept > 0, "no record of the first run was kept");
    let fetched_again: BTreeMap<String, usize> =
        targets_of(&heads, "second-run")
            .into_iter()
            .fold(BTreeMap::new(), |mut m, t| {
                *m.entry(t).or_default() += 1;
                m
            });
    for line in &after[..kept] {
        let url = url_of(line);
        let target = &url[url.find("/p/").unwrap()..];
        assert!(
            !fetched_again.contains_key(target),
            "{target} was fetched again after its record was written"
        );
    }
    // robots.txt was kept with the state: the second run did not ask for it again.
    assert!(
        !fetched_again.contains_key("/robots.txt"),
        "robots.txt fetched again on resume"
    );
    assert_eq!(
        targets_of(&heads, "first-run")
            .iter()
            .filter(|t| *t == "/robots.txt")
            .count(),
        1
    );
    // The second run fetched each of the others once.
    for line in &after[kept..] {
        let url = url_of(line);
        let target = &url[url.find("/p/").unwrap()..];
        assert_eq!(fetched_again.get(target), Some(&1), "{target}");
    }
    // What --export-jsonl writes from the state is the file, line for line.
    let exported = dir.path().join("export.jsonl").display().to_string();
    let out = crawl_binary(&["-q", "--state", &state, "--export-jsonl", &exported]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(lines(&exported), after);
    if signal == SIGINT {
        assert_eq!(status.code(), Some(130));
    } else {
        assert_eq!(status.code(), None, "killed by a signal");
    }
}

const SIGINT: i32 = 2;
const SIGKILL: i32 = 9;

/// kill(2) through the `kill` program (no `unsafe` in the tests).
fn send_signal(pid: u32, signal: i32) -> i32 {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    status.code().unwrap_or(-1)
}

#[test]
fn a_crawl_killed_mid_way_resumes_with_one_record_per_url() {
    stop_and_resume(SIGKILL, "state-kill");
}

#[test]
fn a_crawl_interrupted_by_ctrl_c_resumes_with_one_record_per_url() {
    stop_and_resume(SIGINT, "state-int");
}

#[test]
fn a_resume_with_another_depth_is_refused_unless_forced() {
    let (seed, heads) = site(Duration::ZERO);
    let dir = TempDir::new("state-depth");
    let state = dir.path().join("s").display().to_string();
    let jsonl = dir.path().join("r.jsonl").display().to_string();
    let out = crawl_binary(&[
        "-q", "--depth", "1", "--state", &state, "--jsonl", &jsonl, &seed,
    ]);
    assert_eq!(out.status.code(), Some(0));
    let records = lines(&jsonl);
    assert_eq!(records.len(), 5, "the seed and its four links (1, 2, 3, 7)");
    let fetched = heads.lock().unwrap().len();

    let out = crawl_binary(&[
        "-q", "--depth", "2", "--state", &state, "--jsonl", &jsonl, &seed,
    ]);
    assert_eq!(out.status.code(), Some(2));
    let message = String::from_utf8_lossy(&out.stderr);
    assert!(message.contains("--depth 1, not 2"), "{message}");
    assert!(message.contains("--force"), "{message}");
    assert_eq!(
        lines(&jsonl),
        records,
        "a refused resume leaves the output alone"
    );
    assert_eq!(heads.lock().unwrap().len(), fetched, "nothing was fetched");

    let other = format!("{seed}?other");
    let out = crawl_binary(&["-q", "--depth", "1", "--state", &state, &other]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("seeds"));

    // Forced: the first five are not fetched again, and the crawl has nothing else to do.
    let out = crawl_binary(&[
        "-q", "--depth", "2", "--force", "--state", &state, "--jsonl", &jsonl, &seed,
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let all = lines(&jsonl);
    assert_eq!(&all[..5], &records[..]);
    assert_eq!(
        all.len(),
        5,
        "depth-2 links of recorded depth-1 pages are not offered again"
    );
    // Resuming a finished crawl fetches nothing.
    let out = crawl_binary(&[
        "-q", "--depth", "2", "--state", &state, "--jsonl", &jsonl, &seed,
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(lines(&jsonl), all);
}

/// A full disk (here: a file size limit of 64 KiB, `ulimit -f`, with SIGXFSZ ignored so that a
/// write past it fails with EFBIG) ends the crawl cleanly with exit status 3 and the reason,
/// never a panic; the state stays whole, and a run without the limit finishes the crawl with
/// one record per page.
#[test]
fn a_full_disk_ends_the_crawl_with_status_3_and_the_state_resumes() {
    let (seed, _heads) = site(Duration::ZERO);
    let dir = TempDir::new("state-full");
    let state = dir.path().join("crawl.state").display().to_string();
    let jsonl = dir.path().join("records.jsonl").display().to_string();
    let args = args(&seed, &state, &jsonl, "full");
    let script = format!(
        "trap '' XFSZ; ulimit -f 128; exec {CRAWL_BIN} {}",
        args.iter()
            .map(|a| format!("'{a}'"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let out = common::watchdog(120, move || {
        Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .output()
            .unwrap()
    });
    let message = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{message}");
    assert!(!message.contains("panicked"), "{message}");
    assert!(
        message.contains("File too large") || message.contains("cannot write"),
        "the reason is given: {message}"
    );
    assert!(lines(&jsonl).len() < PAGES, "the limit stopped the crawl");

    let out = crawl_binary(&args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let urls: Vec<String> = lines(&jsonl).iter().map(|l| url_of(l)).collect();
    let unique: BTreeSet<&String> = urls.iter().collect();
    assert_eq!((urls.len(), unique.len()), (PAGES, PAGES));
}

/// Runs the program on a bad `--state` file and checks it says `expected` with status 2, having
/// fetched nothing.
fn refused(state: &std::path::Path, expected: &str) {
    let (seed, heads) = site(Duration::ZERO);
    let state = state.display().to_string();
    let out = crawl_binary(&["-q", "--state", &state, &seed]);
    let message = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{message}");
    assert!(message.contains(expected), "{message}");
    assert!(heads.lock().unwrap().is_empty(), "nothing was fetched");
}

#[test]
fn a_file_that_is_not_a_wisp_state_is_refused_before_anything_is_fetched() {
    let dir = TempDir::new("state-bad");
    let garbage = dir.path().join("garbage");
    std::fs::write(&garbage, vec![0x5a; 10_000]).unwrap();
    refused(
        &garbage,
        "is not a wisp crawl state (not an SQLite database",
    );

    let other = dir.path().join("other.sqlite");
    let conn = rusqlite::Connection::open(&other).unwrap();
    conn.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
        .unwrap();
    drop(conn);
    refused(&other, "is an SQLite database, but not a wisp crawl state");

    let newer = dir.path().join("newer.state");
    let (seed, _) = site(Duration::ZERO);
    let out = crawl_binary(&[
        "-q",
        "--depth",
        "0",
        "--state",
        &newer.display().to_string(),
        &seed,
    ]);
    assert_eq!(out.status.code(), Some(0));
    let conn = rusqlite::Connection::open(&newer).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    refused(&newer, "was written by a newer wisp (state version 99");

    refused(&dir.path().join("no/such/dir/s"), "cannot open");
}

#[test]
fn a_state_without_urls_or_with_export_and_urls_is_a_usage_error() {
    let dir = TempDir::new("state-usage");
    let state = dir.path().join("s").display().to_string();
    let out = crawl_binary(&["-q", "--state", &state]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--state needs seed URLs"));
    let out = crawl_binary(&["--export-jsonl", "-"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs --state"));
    let out = crawl_binary(&[
        "--state",
        &state,
        "--export-jsonl",
        "-",
        "http://127.0.0.1:9/",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let out = crawl_binary(&["--force", "http://127.0.0.1:9/"]);
    assert_eq!(out.status.code(), Some(2));
}

// ---------------------------------------------------------------------------------------------
// The library: a frontier that keeps only a few URLs in memory, the rest in the state
// ---------------------------------------------------------------------------------------------

/// `(path and query, depth, status, error)` of every record, sorted.
type Seen = Vec<(String, u32, Option<u16>, Option<String>)>;

fn seen(records: &[wisp::crawl::Record]) -> Seen {
    let mut out: Seen = records
        .iter()
        .map(|r| (target(&r.url), r.depth, r.status, r.error.clone()))
        .collect();
    out.sort();
    out
}

/// Crawls `root` with its state in `path` (a window of `memory` URLs), stopping after `stop_at`
/// records if given. Returns the records of this run.
async fn crawl_with_state(
    root: &str,
    path: &std::path::Path,
    memory: usize,
    stop_at: Option<usize>,
) -> (wisp::crawl::Summary, Vec<wisp::crawl::Record>) {
    use std::cell::RefCell;
    use std::sync::atomic::{AtomicBool, Ordering};
    use wisp::crawl::state::{State, crawl_resumable};
    let config = demo_config();
    let mut state = State::open(path).unwrap();
    state.set_memory_urls(memory);
    state.check(&config, &[root.to_string()], false).unwrap();
    let records = RefCell::new(Vec::new());
    let stop = Arc::new(AtomicBool::new(false));
    let hooks = wisp::crawl::Hooks {
        on_record: Box::new(|r: &wisp::crawl::Record| {
            records.borrow_mut().push(r.clone());
            if stop_at.is_some_and(|n| records.borrow().len() >= n) {
                stop.store(true, Ordering::Relaxed);
            }
        }),
        on_foreign_link: Box::new(|_| {}),
        stop: stop.clone(),
    };
    let summary = crawl_resumable(&config, [root.to_string()], hooks, |_| {}, &mut state)
        .await
        .unwrap();
    (summary, records.into_inner())
}

/// Fails with the records only one side has.
fn assert_same(got: &Seen, want: &Seen) {
    let got_set: BTreeSet<_> = got.iter().collect();
    let want_set: BTreeSet<_> = want.iter().collect();
    let extra: Vec<_> = got_set.difference(&want_set).take(10).collect();
    let missing: Vec<_> = want_set.difference(&got_set).take(10).collect();
    assert!(
        extra.is_empty() && missing.is_empty() && got.len() == want.len(),
        "{} records, {} expected; not expected: {extra:?}; missing: {missing:?}",
        got.len(),
        want.len()
    );
}

fn demo_config() -> wisp::crawl::Config {
    wisp::crawl::Config {
        max_depth: 4,
        concurrency: 16,
        per_host: 16,
        ..wisp::crawl::Config::default()
    }
}

/// With 8 URLs in memory and thousands in the state, the crawl of the demo site (redirects,
/// 404s, robots.txt) has the same records, at the same exact depths, as the in-memory crawl.
#[test]
fn a_crawl_with_most_urls_on_disk_is_the_in_memory_crawl() {
    run(|| async {
        let site = Arc::new(demo::Site::generate(demo::SiteConfig {
            pages: 2000,
            ..demo::SiteConfig::default()
        }));
        let root = site.clone().serve().await.unwrap();
        let (_, in_memory, _) = crawl_all(&demo_config(), vec![root.clone()], no_stop()).await;
        assert!(in_memory.len() > 1500, "{}", in_memory.len());
        let dir = TempDir::new("state-spill");
        let (summary, on_disk) = crawl_with_state(&root, &dir.path().join("s"), 8, None).await;
        assert!(summary.state_error.is_none());
        assert_unique(&on_disk);
        assert_same(&seen(&on_disk), &seen(&in_memory));
    });
}

/// The same, stopped three times and resumed: across the runs, one record per URL, and the
/// union is the in-memory crawl.
#[test]
fn a_spilling_crawl_stopped_and_resumed_is_the_in_memory_crawl() {
    run(|| async {
        let site = Arc::new(demo::Site::generate(demo::SiteConfig {
            pages: 2000,
            ..demo::SiteConfig::default()
        }));
        let root = site.clone().serve().await.unwrap();
        let (_, in_memory, _) = crawl_all(&demo_config(), vec![root.clone()], no_stop()).await;
        let dir = TempDir::new("state-spill-resume");
        let path = dir.path().join("s");
        let mut all = Vec::new();
        for _ in 0..3 {
            let (summary, records) = crawl_with_state(&root, &path, 8, Some(300)).await;
            assert!(summary.interrupted);
            assert!(records.len() >= 300, "{}", records.len());
            all.extend(records);
        }
        let (summary, records) = crawl_with_state(&root, &path, 8, None).await;
        assert!(!summary.interrupted && summary.state_error.is_none());
        all.extend(records);
        assert_unique(&all);
        assert_same(&seen(&all), &seen(&in_memory));
    });
}
