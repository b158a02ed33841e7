//! The `crawl` program as a child process: its command line, its exit statuses, what it does
//! when stdout closes, what goes to stdout and what to stderr, and its closing summary.
//! Servers run on 127.0.0.1 only (tests/common/crawl_server.rs, on a thread of their own).
#![cfg(feature = "crawl")]

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use common::crawl_server::*;
use common::watchdog;
use wisp::crawl::Config;

/// The `crawl` binary, which cargo builds before it runs this test.
const CRAWL_BIN: &str = env!("CARGO_BIN_EXE_crawl");

/// Runs the program to its end with no stdin; under a watchdog, so a hang fails the test.
fn crawl(args: &[&str]) -> Output {
    crawl_binary(args)
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Serves `handler` from a thread of its own, for as long as the test process lives; returns
/// its root URL.
fn serve_in_thread(handler: impl Fn(&str) -> Reply + Send + 'static) -> String {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        wisp::block_on(async move {
            let (listener, _) = bind().await;
            let server = serve(listener, handler);
            tx.send(server.root.clone()).unwrap();
            std::future::pending::<()>().await
        })
    });
    rx.recv().unwrap()
}

/// A root URL nobody listens on (the port was just freed): connections are refused.
fn down_host() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}/")
}

/// Waits for `child` up to `within` after `since`; kills it and fails if it is still running.
fn wait_within(child: &mut Child, since: Instant, within: Duration) -> ExitStatus {
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if since.elapsed() > within {
            let _ = child.kill();
            let _ = child.wait();
            panic!("still running {within:?} after stdout was closed");
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// Reads all of a pipe on a thread of its own, so the child never blocks on it.
fn drain(mut pipe: impl Read + Send + 'static) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut all = String::new();
        let _ = pipe.read_to_string(&mut all);
        all
    })
}

/// A per-URL line: `200   1.0 KiB   0 ms  http://...` or `ERR  -  0 ms  http://...  (why)`.
fn is_record_line(line: &str) -> bool {
    let status = line.split(' ').next().unwrap_or("");
    (status == "ERR" || (status.len() == 3 && status.bytes().all(|b| b.is_ascii_digit())))
        && line.contains(" ms  http://")
}

// ---------------------------------------------------------------------------------------------
// 1. The command line
// ---------------------------------------------------------------------------------------------

#[test]
fn binary_rejects_bad_arguments_and_prints_help() {
    let out = crawl(&["--depth", "x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--depth"), "{}", stderr(&out));
    assert!(out.stdout.is_empty());

    let out = crawl(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("Usage"));

    let out = crawl(&["--bogus"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("unknown option --bogus"));
}

#[test]
fn binary_names_the_nearest_option_for_a_typo() {
    let out = crawl(&["--dept", "2"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out).trim(),
        "crawl: unknown option --dept; did you mean --depth?"
    );
}

#[test]
fn binary_refuses_a_value_given_to_a_flag() {
    let out = crawl(&["--quiet=no", "--demo-pages", "20"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--quiet takes no value"),
        "{}",
        stderr(&out)
    );
    assert!(out.stdout.is_empty());
}

/// `-qn 5`: `-q` and `-n 5` in one word; `--demo-pages=20`; `-d1` glued.
#[test]
fn binary_reads_combined_short_flags_and_glued_values() {
    let out = crawl(&["-qn", "5", "-d1", "--demo-pages=20"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(out.stdout.is_empty(), "-q: no per-URL lines");
    assert!(stderr(&out).contains("crawled 5 pages"), "{}", stderr(&out));
}

#[test]
fn binary_takes_everything_after_double_dash_as_urls() {
    let out = crawl(&["--", "--depth"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("\"--depth\" is not a URL"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn binary_prints_its_version() {
    for flag in ["--version", "-V"] {
        let out = crawl(&[flag]);
        assert_eq!(out.status.code(), Some(0));
        assert_eq!(
            stdout(&out),
            format!("crawl (wisp) {}\n", env!("CARGO_PKG_VERSION"))
        );
    }
}

#[test]
fn binary_help_shows_the_defaults_of_config_and_the_exit_statuses() {
    let help = stdout(&crawl(&["--help"]));
    let d = Config::default();
    for default in [
        format!("[{}]", d.max_depth),
        format!("[{}]", d.concurrency),
        format!("[{}]", d.max_body),
        format!("[{}]", d.user_agent),
        format!("[{}]", d.timeout.as_secs()),
    ] {
        assert!(help.contains(&default), "{default} not in --help");
    }
    assert!(help.contains("Exit status"));
    assert!(help.contains("wget: 4 network failure"));
    assert!(help.contains("130"));
}

// ---------------------------------------------------------------------------------------------
// 2. Exit statuses
// ---------------------------------------------------------------------------------------------

/// A 404 and a 500 are answers: the crawl did its job.
#[test]
fn exit_0_when_every_url_is_answered_whatever_its_status() {
    let root = serve_in_thread(|target| match target {
        "/" => html_page(&["/missing", "/boom"]),
        "/boom" => Reply::Bytes(response(
            "500 Internal Server Error",
            "text/plain",
            "",
            b"x",
        )),
        _ => not_found(),
    });
    let out = crawl(&["-q", &root]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("HTTP 1 2xx, 0 3xx, 1 4xx, 1 5xx; 0 errors"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn exit_2_for_a_seed_that_is_not_an_http_url() {
    for seed in ["notaurl", "ftp://x/", "-"] {
        let out = crawl(&[seed]);
        assert_eq!(out.status.code(), Some(2), "{seed}: {}", stderr(&out));
        assert!(out.stdout.is_empty(), "{seed}: nothing crawled");
        assert!(
            !stderr(&out).contains("crawled "),
            "{seed}: {}",
            stderr(&out)
        );
    }
}

/// Files named on the command line are read with limits: `/dev/zero` ends with a message.
#[test]
fn exit_2_for_unusable_files_and_empty_values_without_a_hang() {
    for args in [
        &["--input", "/dev/zero"][..],
        &["--ca-file", "/dev/zero"],
        &["--input", "/nonexistent/seeds.txt"],
        &["--out="],
        &["--jsonl", ""],
    ] {
        let out = crawl(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).starts_with("crawl: --"),
            "{args:?}: {}",
            stderr(&out)
        );
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn exit_4_when_the_host_is_down() {
    let down = down_host();
    let out = crawl(&[&down]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(stdout(&out).contains("robots.txt unreachable"));
    assert!(
        stderr(&out).contains("1 error (1 robots.txt unreachable)"),
        "{}",
        stderr(&out)
    );

    let out = crawl(&["--ignore-robots", "--retries", "0", &down]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("1 error (1 connection)"),
        "{}",
        stderr(&out)
    );
}

/// `/dev/full` takes nothing: every write fails with "no space left on device".
#[test]
fn exit_3_when_a_jsonl_file_or_stdout_cannot_be_written() {
    let out = crawl(&["-q", "--demo-pages", "20", "--jsonl", "/dev/full"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("--jsonl: "), "{}", stderr(&out));

    let dir = TempDir::new("cli-jsonl");
    let nowhere = dir.path().join("no/such/dir/records.jsonl");
    let out = crawl(&[
        "-q",
        "--demo-pages",
        "20",
        "--jsonl",
        nowhere.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));

    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = watchdog(120, move || {
        Command::new(CRAWL_BIN)
            .args(["--demo-pages", "20"])
            .stdin(Stdio::null())
            .stdout(full)
            .stderr(Stdio::piped())
            .output()
            .unwrap()
    });
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("crawl: stdout: "), "{}", stderr(&out));
}

/// A body that cannot be saved under `--out` (here DIR is a file) is an output not written.
#[test]
fn exit_3_when_bodies_are_not_saved() {
    let dir = TempDir::new("save-bin");
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let out = crawl(&["-q", "--demo-pages", "20", "--out", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("could not be saved"),
        "{}",
        stderr(&out)
    );

    let ok = dir.path().join("ok");
    let out = crawl(&["-q", "--demo-pages", "20", "--out", ok.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// Ctrl-C: every record taken is written, the summary says "interrupted", the status is 130.
#[test]
fn ctrl_c_stops_the_binary_cleanly_with_status_130() {
    watchdog(300, || {
        let dir = TempDir::new("sigint");
        let jsonl = dir.path().join("records.jsonl");
        let mut child = Command::new(CRAWL_BIN)
            .args([
                "--delay",
                "20",
                "--per-host",
                "1",
                "--concurrency",
                "1",
                "--jsonl",
            ])
            .arg(&jsonl)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Wait for the demo to be up (the signal handler is installed before it starts).
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut notices = String::new();
        while !notices.contains("crawling the demo site") {
            let mut line = String::new();
            assert_ne!(stderr.read_line(&mut line).unwrap(), 0, "{notices}");
            notices += &line;
        }
        let stderr_rest = drain(stderr);
        let stdout_all = drain(child.stdout.take().unwrap());
        thread::sleep(Duration::from_secs(1));
        let kill = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(kill.success());
        let status = child.wait().unwrap();
        let out = stdout_all.join().unwrap();
        let err = stderr_rest.join().unwrap();
        assert_eq!(status.code(), Some(130), "{status:?}\nstderr: {err}");
        let summary = err.lines().last().unwrap_or("");
        assert!(summary.starts_with("crawled "), "{summary:?}");
        assert!(summary.contains("(interrupted)"), "{summary:?}");

        let text = std::fs::read_to_string(&jsonl).unwrap();
        assert!(text.ends_with('\n'), "the last line is incomplete");
        let lines: Vec<&str> = text.lines().collect();
        assert!(!lines.is_empty());
        // 1 s at one fetch per 20 ms is far fewer than the demo's 3000 pages.
        assert!(
            lines.len() < 2000,
            "{} records: not interrupted?",
            lines.len()
        );
        let mut urls = BTreeSet::new();
        for line in &lines {
            assert!(
                line.starts_with("{\"url\":\"") && line.ends_with('}'),
                "{line}"
            );
            assert!(line.contains("\"sha256\":"), "{line}");
            let url = line["{\"url\":\"".len()..].split('"').next().unwrap();
            assert!(urls.insert(url.to_string()), "{url} twice");
        }
        // The per-URL lines on stdout match the records, and stdout holds nothing else.
        assert_eq!(out.lines().count(), lines.len(), "{out}");
        assert!(out.lines().all(is_record_line), "{out}");
        let summary_pages: usize = summary["crawled ".len()..]
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let with_status = lines
            .iter()
            .filter(|l| !l.contains("\"status\":null"))
            .count();
        assert_eq!(summary_pages, with_status);
    });
}

/// Seeds from a file and from stdin (`--input -`), comments and blank lines skipped, records as
/// JSON lines on stdout (`--jsonl -`), the summary then on stderr. The two bad seeds of the
/// lists are error records (not a refusal of the whole run), so the status is 4.
#[test]
fn binary_reads_seeds_from_a_file_and_stdin_and_writes_jsonl_to_stdout() {
    watchdog(300, || {
        let root = serve_in_thread(|_| Reply::Bytes(response("200 OK", "text/plain", "", b"ok")));
        let dir = TempDir::new("input");
        let file = dir.path().join("seeds.txt");
        std::fs::write(&file, format!("# seeds\n\nnot a url\n{root}\n")).unwrap();
        let mut child = Command::new(CRAWL_BIN)
            .arg("--input")
            .arg(&file)
            .args([
                "--input",
                "-",
                "--jsonl",
                "-",
                "--ignore-robots",
                "--depth",
                "0",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"ftp://example.invalid/file\n")
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
        let stdout = String::from_utf8(out.stdout.clone()).unwrap();
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(lines.len(), 3, "{stdout}");
        assert!(
            lines
                .iter()
                .all(|l| l.starts_with("{\"url\":") && l.ends_with('}'))
        );
        assert!(lines[0].contains("\"url\":\"not a url\"") && lines[0].contains("invalid URL"));
        assert!(
            lines[1].contains("ftp://example.invalid/file") && lines[1].contains("unsupported")
        );
        assert!(lines[2].contains("\"status\":200"), "{}", lines[2]);
        let stderr = stderr(&out);
        assert!(stderr.contains("crawled 1 page ("), "{stderr}");
        assert!(stderr.contains("2 errors (2 bad URL)"), "{stderr}");
    });
}

// ---------------------------------------------------------------------------------------------
// 3. A closed stdout
// ---------------------------------------------------------------------------------------------

/// `crawl ARGS | head -1`: the program reads one line of stdout, then closes it. The crawl
/// (20 000 pages, one fetch per 2 ms: 40 s at the very least) must stop within 20 s of that,
/// quietly, with status 0.
fn stops_when_stdout_closes(args: &[&str]) {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    watchdog(300, move || {
        let mut child = Command::new(CRAWL_BIN)
            .args(["--demo-pages", "20000", "--per-host", "1", "--delay", "2"])
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let err = drain(child.stderr.take().unwrap());
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        out.read_line(&mut first).unwrap();
        assert!(first.ends_with('\n'), "{first:?}");
        drop(out);
        let closed = Instant::now();
        let status = wait_within(&mut child, closed, Duration::from_secs(20));
        let err = err.join().unwrap();
        assert!(!err.contains("panicked"), "{err}");
        assert!(!err.contains("Broken pipe"), "{err}");
        assert!(err.contains("(stopped: stdout was closed)"), "{err}");
        assert_eq!(status.code(), Some(0), "{err}");
    });
}

#[test]
fn a_closed_stdout_stops_the_crawl_quietly() {
    stops_when_stdout_closes(&[]);
}

#[test]
fn a_closed_stdout_stops_a_jsonl_crawl_quietly() {
    stops_when_stdout_closes(&["--jsonl", "-"]);
}

// ---------------------------------------------------------------------------------------------
// 4. Stdout and stderr
// ---------------------------------------------------------------------------------------------

/// `crawl > list.txt` holds records only: notices, progress and summary are on stderr.
#[test]
fn stdout_holds_only_record_lines() {
    let out = crawl(&["--demo-pages", "50"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines = stdout(&out);
    assert!(lines.lines().count() > 50, "{lines}");
    for line in lines.lines() {
        assert!(is_record_line(line), "{line:?}");
    }
    let err = stderr(&out);
    assert!(err.contains("crawling the demo site"), "{err}");
    assert!(err.lines().last().unwrap().starts_with("crawled "), "{err}");
}

/// Runs a slow demo crawl (about 80 URLs, 15 ms apart: over a second, so the progress line is
/// drawn several times) as on a terminal, stdout and stderr into one file as on one screen.
fn crawl_as_on_a_terminal(extra: &[&str]) -> String {
    let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    watchdog(120, move || {
        let dir = TempDir::new("terminal");
        let path = dir.path().join("screen");
        let screen = std::fs::File::create(&path).unwrap();
        let status = Command::new(CRAWL_BIN)
            .args(["--demo-pages", "60", "--per-host", "1", "--delay", "15"])
            .args(&extra)
            .env("WISP_CRAWL_FORCE_TERMINAL", "1")
            .stdin(Stdio::null())
            .stdout(screen.try_clone().unwrap())
            .stderr(screen)
            .status()
            .unwrap();
        assert_eq!(status.code(), Some(0));
        std::fs::read_to_string(&path).unwrap()
    })
}

/// What a terminal shows of each row: `\r` then "erase line" (`ESC [2K`) starts a row over.
fn rows(screen: &str) -> Vec<String> {
    screen
        .split('\n')
        .map(|row| {
            let mut parts = row.split('\r');
            let mut shown = parts.next().unwrap().to_string();
            for part in parts {
                // Every carriage return of the program erases what it returns over.
                assert!(part.starts_with("\x1b[2K"), "{row:?}");
                shown = part["\x1b[2K".len()..].to_string();
            }
            shown
        })
        .collect()
}

#[test]
fn the_progress_line_is_cleared_before_each_record_line() {
    let screen = crawl_as_on_a_terminal(&[]);
    assert!(
        screen.contains(" done, "),
        "the progress line was never drawn"
    );
    let raw_rows: Vec<&str> = screen.split('\n').collect();
    for (shown, raw) in rows(&screen).iter().zip(&raw_rows) {
        if raw.contains("http://") && !raw.contains("crawling the demo site") {
            assert!(is_record_line(shown), "{raw:?} shows as {shown:?}");
            assert!(!shown.contains(" done, "), "{raw:?}");
        }
    }
    let last = rows(&screen).into_iter().rfind(|r| !r.is_empty()).unwrap();
    assert!(last.starts_with("crawled "), "{last:?}");
}

/// `--jsonl -` on a terminal: each JSON line starts on a clean row too.
#[test]
fn the_progress_line_is_cleared_before_each_json_line() {
    let screen = crawl_as_on_a_terminal(&["--jsonl", "-"]);
    assert!(
        screen.contains(" done, "),
        "the progress line was never drawn"
    );
    let raw_rows: Vec<&str> = screen.split('\n').collect();
    let mut json = 0;
    for (shown, raw) in rows(&screen).iter().zip(&raw_rows) {
        if raw.contains("{\"url\":") {
            assert!(
                shown.starts_with("{\"url\":") && shown.ends_with('}'),
                "{raw:?} shows as {shown:?}"
            );
            json += 1;
        }
    }
    assert!(json > 60, "{screen:?}");
}

#[test]
fn quiet_also_silences_the_progress_line_and_notices() {
    let screen = crawl_as_on_a_terminal(&["-q"]);
    let lines: Vec<&str> = screen.lines().collect();
    assert_eq!(lines.len(), 1, "{screen:?}");
    assert!(lines[0].starts_with("crawled "), "{screen:?}");
    assert!(!screen.contains('\r'), "{screen:?}");
}

// ---------------------------------------------------------------------------------------------
// 5. The summary
// ---------------------------------------------------------------------------------------------

/// Statuses by class and errors by kind: a 500, a 403, a 429 (not retried), a server that
/// never answers (the total timeout), an endless body (over --max-body), and a host that is
/// down (its robots.txt unreachable).
#[test]
fn the_summary_counts_statuses_by_class_and_errors_by_kind() {
    let root = serve_in_thread(|target| match target {
        "/" => html_page(&["/e500", "/e403", "/e429", "/hang", "/huge"]),
        "/e500" => Reply::Bytes(response(
            "500 Internal Server Error",
            "text/plain",
            "",
            b"x",
        )),
        "/e403" => Reply::Bytes(response("403 Forbidden", "text/plain", "", b"x")),
        "/e429" => Reply::Bytes(response("429 Too Many Requests", "text/plain", "", b"x")),
        "/hang" => Reply::Hang,
        "/huge" => Reply::Huge,
        _ => not_found(),
    });
    let down = down_host();
    let out = crawl(&[
        "--retries",
        "0",
        "--timeout",
        "2",
        "--max-body",
        "100000",
        &root,
        &down,
    ]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(4), "{err}");
    let summary = err.lines().last().unwrap();
    // 2xx: the root, and /huge (its 200 came before its body passed the limit).
    assert!(
        summary.contains("HTTP 2 2xx, 0 3xx, 2 4xx, 1 5xx"),
        "{summary}\n{}",
        stdout(&out)
    );
    assert!(
        summary.contains("3 errors (1 timeout, 1 body too large, 1 robots.txt unreachable)"),
        "{summary}\n{}",
        stdout(&out)
    );
}

// ---------------------------------------------------------------------------------------------
// 7. The demo site
// ---------------------------------------------------------------------------------------------

#[test]
fn a_notice_comes_before_the_demo_site_is_built_unless_quiet() {
    let out = crawl(&["--demo-pages", "20"]);
    let err = stderr(&out);
    assert!(
        err.lines()
            .next()
            .unwrap()
            .contains("building a demo site of 20 pages"),
        "{err}"
    );
    let out = crawl(&["-q", "--demo-pages", "20"]);
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
}

/// `--stats`: after the summary, a table by host; the demo site is one host, so one row whose
/// counts are the summary's.
#[test]
fn stats_prints_a_table_by_host_after_the_summary() {
    let out = crawl(&["--stats", "--quiet", "--demo-pages", "50"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let lines: Vec<&str> = err.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("crawled "))
        .unwrap_or_else(|| panic!("no summary: {err}"));
    let table = &lines[at + 1..];
    assert_eq!(table.len(), 2, "a heading and one host: {err}");
    let heading: Vec<&str> = table[0].split_whitespace().collect();
    assert_eq!(
        heading,
        [
            "host", "records", "2xx", "3xx", "4xx", "5xx", "errors", "bytes"
        ]
    );
    let row: Vec<&str> = table[1].split_whitespace().collect();
    assert!(row[0].starts_with("127.0.0.1:"), "{err}");
    let number = |i: usize| -> u64 { row[i].parse().unwrap() };
    // The summary's "HTTP <2xx> 2xx, <3xx> 3xx, <4xx> 4xx, <5xx> 5xx" in the same order.
    let summary = lines[at];
    let http = summary.split("HTTP ").nth(1).unwrap();
    let classes: Vec<u64> = http
        .split(';')
        .next()
        .unwrap()
        .split(", ")
        .map(|part| part.split(' ').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(
        classes,
        [number(2), number(3), number(4), number(5)],
        "{err}"
    );
    assert!(number(2) > 0, "{err}");
    assert!(
        number(1) >= number(2) + number(3) + number(4) + number(5),
        "{err}"
    );
    assert_eq!(number(6), 0, "{err}");
}

/// Ctrl-C while a big demo site is being built stops the program at once, with the interrupted
/// status, rather than after the build with "crawled 0 pages". 100000 pages (the largest site
/// built up front; larger ones are rendered on request) take about 10 s to build in a debug
/// build (a second in release): the signal comes long before the end.
#[test]
fn ctrl_c_during_the_demo_build_exits_130_at_once() {
    watchdog(120, || {
        let mut child = Command::new(CRAWL_BIN)
            .args(["--demo-pages", "100000"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The notice comes after the signal handler is installed, just before the build.
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut notices = String::new();
        while !notices.contains("building a demo site") {
            let mut line = String::new();
            assert_ne!(stderr.read_line(&mut line).unwrap(), 0, "{notices}");
            notices += &line;
        }
        let stderr_rest = drain(stderr);
        thread::sleep(Duration::from_millis(500));
        let sent = Instant::now();
        let kill = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(kill.success());
        let status = wait_within(&mut child, sent, Duration::from_secs(10));
        let err = stderr_rest.join().unwrap();
        assert_eq!(status.code(), Some(130), "{status:?}\nstderr: {err}");
        assert!(
            err.contains("interrupted while building the demo site"),
            "{err}"
        );
        assert!(!err.contains("crawling the demo site"), "{err}");
        assert!(!err.contains("crawled "), "{err}");
    });
}

// ---------------------------------------------------------------------------------------------
// Filters and headers
// ---------------------------------------------------------------------------------------------

#[test]
fn exit_2_for_a_bad_regex_header_or_media_type() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["--accept-regex", "(x"],
            "--accept-regex \"(x\" is not a valid regex",
        ),
        (&["--reject-regex", "a{99999999}"], "not a valid regex"),
        (&["-H", "NoColon"], "--header wants 'Name: value'"),
        (&["-H", "Bad Name: v"], "cannot be sent"),
        (&["--header", "Host: x"], "--header cannot set Host"),
        // The client's own list decides: the CLI keeps none of its own.
        (&["-H", "TE: trailers"], "--header cannot set TE"),
        (
            &["-H", "Expect: 100-continue"],
            "--header cannot set Expect",
        ),
        (&["-H", "user-agent: x"], "(use --user-agent)"),
        (
            &["--accept-type", "html"],
            "--accept-type wants a media type",
        ),
        (&["--reject-type="], "not an empty one"),
    ];
    for (args, says) in cases {
        let mut args = args.to_vec();
        args.push("http://127.0.0.1:9/");
        let out = crawl(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(says), "{args:?}: {}", stderr(&out));
        assert!(out.stdout.is_empty(), "{args:?}: nothing crawled");
    }
}

#[test]
fn binary_filters_links_by_regex_and_bodies_by_type() {
    let root = serve_in_thread(|target| match target {
        "/" => html_page(&["/keep", "/drop/me", "/logo.png"]),
        "/logo.png" => Reply::Bytes(response("200 OK", "image/png", "", b"\x89PNG")),
        _ => html_page(&[]),
    });
    let out = crawl(&[
        "--ignore-robots",
        "--reject-regex",
        "/drop/",
        "--reject-type",
        "image/",
        "-H",
        "X-Token: s3cret",
        "--jsonl",
        "-",
        &root,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines = stdout(&out);
    assert_eq!(lines.lines().count(), 3, "{lines}");
    assert!(!lines.contains("/drop/me"), "{lines}");
    assert!(
        lines.contains("\"error\":\"filtered: image/png rejected by --reject-type image/\""),
        "{lines}"
    );
    assert!(
        stderr(&out).contains("0 errors") && stderr(&out).contains("1 filtered by type"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn max_frontier_bounds_the_urls_kept_and_the_summary_counts_the_dropped_links() {
    let out = crawl(&["--max-frontier", "3", "--demo-pages", "50"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out).lines().filter(|l| is_record_line(l)).count(),
        3
    );
    let err = stderr(&out);
    assert!(
        err.contains("new links dropped, the frontier was full (--max-frontier)"),
        "{err}"
    );
    let out = crawl(&["--max-frontier", "0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--max-frontier must be at least 1"));
}
