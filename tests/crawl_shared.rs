//! `crawl --state postgres://... --crawl NAME`: several worker processes share one crawl
//! through a real PostgreSQL server (`WISP_PG_URL`, started by `.ci/run` with
//! `scripts/pg-test-server.sh`). Their records together are exactly the single-process crawl's,
//! one per URL, also when a worker is killed (SIGKILL) or paused past its lease (SIGSTOP); the
//! per-host delay holds across workers and across a takeover; robots.txt is fetched once per
//! host; a database that cannot be used is refused before anything is fetched.
//!
//! Without `WISP_PG_URL` these tests say loudly that they skipped (and fail under `CI`).
#![cfg(feature = "postgres")]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::net::{Shutdown, TcpListener};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::crawl_server::read_head_blocking;
use common::watchdog;

const CRAWL_BIN: &str = env!("CARGO_BIN_EXE_crawl");
/// Hosts of the test site (ports of 127.0.0.1), and pages on each.
const HOSTS: usize = 4;
const PAGES: usize = 40;

/// The tests of this file one at a time: each runs several crawler processes, a PostgreSQL
/// server and HTTP servers of its own, and run side by side on a 2-core machine they delay one
/// another's threads by tens of milliseconds, which the politeness and the two-worker split
/// checks below would read as the crawler's doing. (A failed test poisons the lock; the next
/// one takes it anyway.)
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn pg_url() -> Option<String> {
    match std::env::var("WISP_PG_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "WISP_PG_URL is not set under CI: .ci/run must start PostgreSQL"
            );
            eprintln!(
                "\n*** SKIPPED: WISP_PG_URL is not set; start a server with \
                 `eval \"$(scripts/pg-test-server.sh start /tmp/wisp-pg)\"` ***\n"
            );
            None
        }
    }
}

/// A crawl name of its own for each test run.
fn crawl_name(test: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{test}-{}-{nanos}", std::process::id())
}

/// One request as a server saw it: when, which target.
type Log = Arc<Mutex<Vec<(Instant, String)>>>;

/// The test site: `HOSTS` servers, each with pages `/p/0` .. `/p/{PAGES-1}`. Page i of host h
/// links to pages 2i+1 and 2i+2 of its host, to page i of the next host, and to `/private/i`
/// (which robots.txt disallows). Each page answers after `delay`.
struct Site {
    ports: Vec<u16>,
    logs: Vec<Log>,
}

impl Site {
    fn start(delay: Duration) -> Site {
        let listeners: Vec<TcpListener> = (0..HOSTS)
            .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
            .collect();
        let ports: Vec<u16> = listeners
            .iter()
            .map(|l| l.local_addr().unwrap().port())
            .collect();
        let mut logs = Vec::new();
        for (h, listener) in listeners.into_iter().enumerate() {
            let log: Log = Arc::default();
            logs.push(log.clone());
            let next = ports[(h + 1) % HOSTS];
            std::thread::spawn(move || serve(listener, log, next, delay));
        }
        Site { ports, logs }
    }

    fn seed(&self) -> String {
        format!("http://127.0.0.1:{}/p/0", self.ports[0])
    }

    /// Every URL a complete crawl has a record of.
    fn expected(&self) -> BTreeSet<String> {
        let mut all = BTreeSet::new();
        for port in &self.ports {
            for i in 0..PAGES {
                all.insert(format!("http://127.0.0.1:{port}/p/{i}"));
                all.insert(format!("http://127.0.0.1:{port}/private/{i}"));
            }
        }
        all
    }
}

/// Each connection on a thread of its own, logged when it is accepted: the log's times are
/// when the crawler connected, not when a busy server got round to it.
fn serve(listener: TcpListener, log: Log, next: u16, delay: Duration) {
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let at = Instant::now();
        let log = log.clone();
        std::thread::spawn(move || answer(stream, at, &log, next, delay));
    }
}

fn answer(mut stream: std::net::TcpStream, at: Instant, log: &Log, next: u16, delay: Duration) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let head = read_head_blocking(&mut stream);
    let Some(target) = head.split(' ').nth(1).map(str::to_string) else {
        return;
    };
    log.lock().unwrap().push((at, target.clone()));
    let (status, body) = if target == "/robots.txt" {
        ("200 OK", "User-agent: *\nDisallow: /private/\n".to_string())
    } else if let Some(i) = target
        .strip_prefix("/p/")
        .and_then(|i| i.parse::<usize>().ok())
        .filter(|i| *i < PAGES)
    {
        std::thread::sleep(delay);
        let mut body = String::from("<html><body>");
        for l in [2 * i + 1, 2 * i + 2] {
            if l < PAGES {
                body.push_str(&format!("<a href=\"/p/{l}\">{l}</a>"));
            }
        }
        body.push_str(&format!(
            "<a href=\"http://127.0.0.1:{next}/p/{i}\">next</a>\
                 <a href=\"/private/{i}\">private</a><a href=\"/p/0\">home</a></body></html>"
        ));
        ("200 OK", body)
    } else {
        ("404 Not Found", "no\n".to_string())
    };
    let content_type = if target == "/robots.txt" {
        "text/plain"
    } else {
        "text/html"
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes());
    let _ = stream.shutdown(Shutdown::Both);
}

/// A host of hand-written pages: path -> (how long it takes to answer, its links).
type Pages = BTreeMap<&'static str, (Duration, Vec<String>)>;

/// Serves `pages` on `listener` (each connection on a thread of its own, logged with its
/// User-Agent); robots.txt is a 404.
fn serve_pages(listener: TcpListener, pages: Pages) -> Arc<Mutex<Vec<String>>> {
    let log: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = log.clone();
    let pages = Arc::new(pages);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let (pages, seen) = (pages.clone(), seen.clone());
            std::thread::spawn(move || {
                let head = read_head_blocking(&mut stream);
                let target = head.split(' ').nth(1).unwrap_or_default().to_string();
                let agent = head
                    .lines()
                    .find_map(|l| l.strip_prefix("User-Agent: "))
                    .unwrap_or_default();
                seen.lock().unwrap().push(format!("{agent} {target}"));
                let response = match pages.get(target.as_str()) {
                    Some((delay, links)) => {
                        std::thread::sleep(*delay);
                        let body: String = links
                            .iter()
                            .map(|l| format!("<a href=\"{l}\">x</a>"))
                            .collect();
                        format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\
                             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                            body.len()
                        )
                    }
                    None => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\
                             Connection: close\r\n\r\n"
                        .to_string(),
                };
                let _ = stream.write_all(response.as_bytes());
                let _ = stream.shutdown(Shutdown::Both);
            });
        }
    });
    log
}

fn worker_args(pg: &str, name: &str, seed: &str, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "--state",
        pg,
        "--crawl",
        name,
        "--depth",
        "100",
        "-c",
        "4",
        "--per-host",
        "1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    args.push(seed.to_string());
    args
}

fn start(args: &[String]) -> Child {
    Command::new(CRAWL_BIN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits for a worker under a watchdog (a worker that never ends fails the test).
fn finish(child: Child) -> Output {
    watchdog(180, move || child.wait_with_output().unwrap())
}

fn run(args: &[&str]) -> Output {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    watchdog(120, move || {
        Command::new(CRAWL_BIN)
            .args(&args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    })
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// URL -> the depth of each of its records, from JSON record lines.
fn depths(jsonl: &str) -> BTreeMap<String, Vec<u32>> {
    let mut urls: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for line in jsonl.lines() {
        let rest = line.strip_prefix("{\"url\":\"").expect("a record line");
        let url = rest[..rest.find('"').unwrap()].to_string();
        let depth = line
            .split("\"depth\":")
            .nth(1)
            .and_then(|d| d.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|d| d.parse().ok())
            .expect("a record has its depth");
        urls.entry(url).or_default().push(depth);
    }
    urls
}

/// The crawl's records, from `--export-jsonl -`: URL -> the depth of each of its records.
fn exported(pg: &str, name: &str) -> BTreeMap<String, Vec<u32>> {
    let out = run(&["--state", pg, "--crawl", name, "--export-jsonl", "-", "-q"]);
    assert!(out.status.success(), "export failed: {}", stderr(&out));
    depths(&String::from_utf8(out.stdout).unwrap())
}

/// How many records `--status` says the crawl has.
fn records_now(pg: &str, name: &str) -> usize {
    let out = run(&["--state", pg, "--crawl", name, "--status"]);
    assert!(out.status.success(), "--status failed: {}", stderr(&out));
    let line = String::from_utf8(out.stdout).unwrap();
    // "crawl NAME: 12 records written, ..."
    line.split(": ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no record count in {line:?}"))
}

fn wait_for_records(pg: &str, name: &str, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(90);
    while records_now(pg, name) < n {
        assert!(Instant::now() < deadline, "no {n} records in 90 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn assert_exactly_once(records: &BTreeMap<String, Vec<u32>>, expected: &BTreeSet<String>) {
    let twice: Vec<_> = records.iter().filter(|(_, d)| d.len() > 1).collect();
    assert!(
        twice.is_empty(),
        "URLs with more than one record: {twice:?}"
    );
    let got: BTreeSet<String> = records.keys().cloned().collect();
    let missing: Vec<_> = expected.difference(&got).collect();
    let extra: Vec<_> = got.difference(expected).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing {missing:?}, unexpected {extra:?}"
    );
}

/// Per host: robots.txt requested exactly once, and every two page requests at least half of
/// `delay` apart. The delay runs from when a worker starts a fetch, and the server logs when
/// the request arrives, so on a loaded machine (three workers, PostgreSQL and the site on two
/// cores) one request may arrive tens of milliseconds late and the next on time: a CI run saw
/// 20 ms between two requests under a 40 ms delay. A worker that ignored the delay, or two
/// workers fetching one host, would put requests at any gap, most often far shorter.
fn assert_polite(site: &Site, delay: Duration) {
    for (h, log) in site.logs.iter().enumerate() {
        let log = log.lock().unwrap();
        let robots = log.iter().filter(|(_, t)| t == "/robots.txt").count();
        assert_eq!(robots, 1, "host {h} had robots.txt fetched {robots} times");
        let mut pages: Vec<Instant> = log
            .iter()
            .filter(|(_, t)| t.starts_with("/p/"))
            .map(|(at, _)| *at)
            .collect();
        pages.sort();
        for pair in pages.windows(2) {
            let gap = pair[1].saturating_duration_since(pair[0]);
            assert!(
                gap * 2 >= delay,
                "host {h}: two requests {gap:?} apart, --delay is {delay:?}"
            );
        }
    }
}

#[test]
fn three_workers_crawl_exactly_what_one_process_crawls() {
    let _serial = serial();
    let Some(pg) = pg_url() else { return };
    let site = Site::start(Duration::from_millis(2));
    // One process, no database: the reference.
    let single = run(&[
        "-q",
        "--depth",
        "100",
        "-c",
        "4",
        "--jsonl",
        "-",
        &site.seed(),
    ]);
    assert!(single.status.success(), "{}", stderr(&single));
    let single = depths(&String::from_utf8(single.stdout).unwrap());
    let reference: BTreeSet<String> = single.keys().cloned().collect();
    assert_eq!(reference, site.expected());
    for log in &site.logs {
        log.lock().unwrap().clear();
    }

    let name = crawl_name("three");
    let delay = Duration::from_millis(80);
    let args = worker_args(&pg, &name, &site.seed(), &["--delay", "80"]);
    let workers: Vec<Child> = (0..3).map(|_| start(&args)).collect();
    let outputs: Vec<Output> = workers.into_iter().map(finish).collect();
    let mut fetched_by = Vec::new();
    for out in &outputs {
        assert!(out.status.success(), "a worker failed: {}", stderr(out));
        fetched_by.push(String::from_utf8_lossy(&out.stdout).lines().count());
    }
    eprintln!("per-URL lines of the three workers: {fetched_by:?}");
    let shared = exported(&pg, &name);
    assert_exactly_once(&shared, &reference);
    // And each at the depth of its shortest path, as one process finds it.
    let deeper: Vec<_> = shared
        .iter()
        .filter(|(url, d)| single[*url] != **d)
        .collect();
    assert!(
        deeper.is_empty(),
        "records at another depth than one process's: {deeper:?}"
    );
    assert_polite(&site, delay);
    assert_eq!(records_now(&pg, &name), reference.len());
}

#[test]
fn a_killed_worker_is_taken_over_and_every_url_has_one_record() {
    let _serial = serial();
    let Some(pg) = pg_url() else { return };
    let site = Site::start(Duration::from_millis(5));
    let name = crawl_name("kill");
    let delay = Duration::from_millis(80);
    let args = worker_args(
        &pg,
        &name,
        &site.seed(),
        &["--delay", "80", "--lease", "2", "-q"],
    );
    let mut first = start(&args);
    wait_for_records(&pg, &name, 30);
    first.kill().unwrap();
    let _ = first.wait();
    let killed_at = records_now(&pg, &name);
    assert!(
        killed_at < site.expected().len(),
        "the first worker finished before it was killed"
    );
    // Two new workers: they take over the dead one's partitions once its lease expires.
    let second = start(&args);
    let third = start(&args);
    for out in [finish(second), finish(third)] {
        assert!(out.status.success(), "a worker failed: {}", stderr(&out));
    }
    assert_exactly_once(&exported(&pg, &name), &site.expected());
    assert_polite(&site, delay);
}

#[test]
fn a_worker_paused_past_its_lease_gives_its_hosts_up_and_writes_no_duplicate() {
    let _serial = serial();
    let Some(pg) = pg_url() else { return };
    let site = Site::start(Duration::from_millis(5));
    let name = crawl_name("stop");
    let args = worker_args(
        &pg,
        &name,
        &site.seed(),
        // Slow enough (40 pages a host, 100 ms apart) that the pause comes mid-crawl.
        &["--delay", "100", "--lease", "2"],
    );
    let paused = start(&args);
    let pid = paused.id().to_string();
    wait_for_records(&pg, &name, 20);
    assert!(
        Command::new("kill")
            .args(["-STOP", &pid])
            .status()
            .unwrap()
            .success()
    );
    let stopped_at = records_now(&pg, &name);
    let other = start(&args);
    // The other worker takes over once the lease has run out, and gets on with the crawl.
    wait_for_records(&pg, &name, stopped_at + 20);
    assert!(
        Command::new("kill")
            .args(["-CONT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let outs = [finish(paused), finish(other)];
    for out in &outs {
        assert!(out.status.success(), "a worker failed: {}", stderr(out));
    }
    assert!(
        stderr(&outs[0]).contains("lost its claim"),
        "the paused worker did not notice it lost its hosts: {}",
        stderr(&outs[0])
    );
    assert_exactly_once(&exported(&pg, &name), &site.expected());
}

#[test]
fn a_database_that_cannot_be_used_is_refused_before_any_fetch() {
    let _serial = serial();
    let Some(pg) = pg_url() else { return };
    let site = Site::start(Duration::ZERO);
    let seed = site.seed();
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let unreachable = format!("postgres://postgres@127.0.0.1:{closed}/wisp");
    let base = pg.rsplit_once('/').unwrap().0.to_string();
    let (_, host) = base.split_once('@').unwrap();
    let no_role = format!("postgres://no_such_role_wisp@{host}/wisp");
    let no_db = format!("{base}/no_such_database_wisp");
    let cases: [(&str, &[&str], &str); 6] = [
        (&unreachable, &["--crawl", "x"], "cannot connect"),
        (&no_role, &["--crawl", "x"], "no_such_role_wisp"),
        (&no_db, &["--crawl", "x"], "no_such_database_wisp"),
        (&pg, &[], "needs --crawl NAME"),
        (
            &pg,
            &["--crawl", "x", "--jsonl", "out.jsonl"],
            "--export-jsonl",
        ),
        (
            "postgres://127.0.0.1/wisp",
            &["--crawl", "x"],
            "names no user",
        ),
    ];
    for (url, extra, message) in cases {
        let mut args = vec!["--state", url];
        args.extend_from_slice(extra);
        args.push(&seed);
        let out = run(&args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{url} {extra:?}: {}",
            stderr(&out)
        );
        assert!(
            stderr(&out).contains(message),
            "{url} {extra:?}: {:?} does not say {message:?}",
            stderr(&out)
        );
    }
    for log in &site.logs {
        assert!(log.lock().unwrap().is_empty(), "fetched before the refusal");
    }
}

/// Tables of another schema version: in a database of their own, made with psql.
#[test]
fn tables_of_another_schema_version_are_refused() {
    let _serial = serial();
    let Some(pg) = pg_url() else { return };
    let db = format!("wisp_schema_{}", std::process::id());
    let psql = |url: &str, sql: &str| {
        let out = Command::new("psql")
            .args([url, "-q", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .output()
            .expect("psql runs");
        assert!(out.status.success(), "psql {sql}: {}", stderr(&out));
    };
    psql(&pg, &format!("DROP DATABASE IF EXISTS {db}"));
    psql(&pg, &format!("CREATE DATABASE {db}"));
    let other = format!("{}/{db}", pg.rsplit_once('/').unwrap().0);
    psql(
        &other,
        "CREATE TABLE wisp_schema (version bigint); INSERT INTO wisp_schema VALUES (99)",
    );
    let out = run(&["--state", &other, "--crawl", "x", "http://127.0.0.1:9/"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("schema version 99"),
        "{}",
        stderr(&out)
    );
    psql(&pg, &format!("DROP DATABASE {db}"));
}

/// A worker finds a URL of another worker's host by a shorter path while the other holds it
/// at a longer one: the record still says the shortest depth, as one process would. Host A
/// is slow (its page takes 800 ms) and links straight to `B/t`; host B reaches `B/t` through
/// four hops long before. Tried until the two hosts went to different workers (each has its
/// own User-Agent, so the request logs tell), at most eight times; every try must be exact.
#[test]
fn a_shorter_path_found_by_another_worker_lowers_the_record() {
    let _serial = serial();
    let Some(pg) = pg_url() else { return };
    let (a, b) = (
        TcpListener::bind("127.0.0.1:0").unwrap(),
        TcpListener::bind("127.0.0.1:0").unwrap(),
    );
    let (pa, pb) = (
        a.local_addr().unwrap().port(),
        b.local_addr().unwrap().port(),
    );
    let url_a = |path: &str| format!("http://127.0.0.1:{pa}{path}");
    let url_b = |path: &str| format!("http://127.0.0.1:{pb}{path}");
    let slow = Duration::from_millis(800);
    let log_a = serve_pages(a, Pages::from([("/0", (slow, vec![url_b("/t")]))]));
    let none = Duration::ZERO;
    let log_b = serve_pages(
        b,
        Pages::from([
            ("/0", (none, vec!["/1".to_string()])),
            ("/1", (none, vec!["/2".to_string()])),
            ("/2", (none, vec!["/3".to_string()])),
            ("/3", (none, vec!["/t".to_string()])),
            ("/t", (none, vec!["/u".to_string()])),
            ("/u", (none, vec![])),
        ]),
    );
    let expected = BTreeMap::from([
        (url_a("/0"), vec![0]),
        (url_b("/0"), vec![0]),
        (url_b("/1"), vec![1]),
        (url_b("/2"), vec![2]),
        (url_b("/3"), vec![3]),
        (url_b("/t"), vec![1]),
        (url_b("/u"), vec![2]),
    ]);
    let mut split = false;
    for attempt in 0..8 {
        if split {
            break;
        }
        let name = crawl_name(&format!("lower{attempt}"));
        let workers: Vec<Child> = ["one", "two"]
            .iter()
            .map(|agent| {
                let mut args = worker_args(&pg, &name, &url_a("/0"), &["-q", "-U", agent]);
                args.push(url_b("/0"));
                start(&args)
            })
            .collect();
        for out in workers.into_iter().map(finish) {
            assert!(out.status.success(), "a worker failed: {}", stderr(&out));
        }
        assert_eq!(exported(&pg, &name), expected, "try {attempt}");
        let agents = |log: &Mutex<Vec<String>>| -> BTreeSet<String> {
            let mut log = log.lock().unwrap();
            let agents = log
                .iter()
                .map(|l| l.split(' ').next().unwrap().to_string())
                .collect();
            log.clear();
            agents
        };
        let (on_a, on_b) = (agents(&log_a), agents(&log_b));
        split = on_a.len() == 1 && on_b.len() == 1 && on_a != on_b;
        eprintln!("try {attempt}: host A crawled by {on_a:?}, host B by {on_b:?}");
    }
    assert!(
        split,
        "the two hosts never went to two workers in eight tries"
    );
}
