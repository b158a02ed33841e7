//! `crawl`: wisp's web crawler on the command line. Run it with no arguments to crawl a demo
//! site served from inside the same process; see `--help` for the rest.

use std::cell::RefCell;
use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

// The program only generates and serves the site; the expected sets are for the tests.
#[allow(dead_code)]
mod demo;

use demo::{Site, SiteConfig};
use wisp::crawl::{Config, Hooks, Progress, Record, crawl_with_progress};

const HELP: &str = "\
crawl: a breadth-first web crawler on the wisp runtime.

Usage: crawl [OPTIONS] [URL...]

With no URL (and no --input), crawls a demo site that it serves itself on 127.0.0.1, so you can
see it work without a network. Prints one line per URL as it lands and a summary at the end.

Seeds:
  URL...                    start from these URLs (http:// or https://)
  -i, --input FILE          read more seed URLs from FILE, one per line ('-' for stdin;
                            repeatable; blank lines and lines starting with # are skipped)

Scope:
  -d, --depth N             follow links at most N hops from a seed [5]
  -n, --max-pages N         take at most N URLs off the frontier
      --same-host           only follow links to the seeds' hosts [default]
      --any-host            follow links to any host
      --allow-host HOST     also follow links to HOST (repeatable)
      --ignore-robots       do not fetch or honour robots.txt
      --shard I/N           crawl only hosts with shard_of(host, N) == I (FNV-1a 64 of the
                            lowercased host, mod N); links to other shards go to --links-out
      --links-out FILE      write links that belong to other shards to FILE

Politeness and limits:
  -c, --concurrency N       fetches at once, in all [64]
      --per-host N          fetches at once per host [8]
      --delay MS            wait MS milliseconds between fetches from one host [0]
  -T, --timeout SECS        total time per URL, redirects included [30]
      --connect-timeout SECS  time to open a connection [10]
      --idle-timeout SECS   time without a byte from the server [10]
      --max-body BYTES      largest body accepted [10485760]
      --retries N           retries of connect failures, 429 and 503, with backoff [2]
  -U, --user-agent TEXT     the User-Agent header [wisp-crawl/VERSION]
      --ca-file FILE        also trust the CA certificates in FILE (PEM) for https
      --insecure            do not check https certificates at all (encrypted, not
                            authenticated: anyone in the middle can read the crawl)

Demo:
      --demo-pages N        pages in the demo site crawled when no URL is given [3000]

Output:
  -o, --out DIR             save 2xx bodies under DIR/<host>/<path>: never outside DIR, never
                            through a symlink, each file whole or not at all (written under
                            a temporary name, then renamed); a body that cannot be saved is
                            named in its record (save_error) and counted in the summary
      --save-errors         with --out, also save the bodies of non-2xx responses
      --jsonl FILE          one JSON record per URL to FILE ('-' for stdout): url, final_url,
                            status, bytes, content_type, sha256, depth, elapsed_ms, redirects,
                            error, encoded_bytes, save_error (bytes and sha256 are of the
                            decompressed body; encoded_bytes is what came over the wire;
                            save_error says why a body could not be saved under --out)
  -q, --quiet               no per-URL lines (the summary is still printed)
  -h, --help                this help

Ctrl-C or SIGTERM stops taking new URLs, lets in-flight fetches finish (3 s at most), writes
their records and the summary, and exits.

Exit status: 0 when the crawl ran and all its output was written (even if some URLs failed:
see the records); 1 when some output was not (a body that could not be saved under --out, a
write error on --jsonl or --links-out); 2 on bad arguments.
";

struct Cli {
    config: Config,
    seeds: Vec<String>,
    /// `--input` files, in order (`-` is stdin); repeatable.
    inputs: Vec<String>,
    jsonl: Option<String>,
    links_out: Option<String>,
    quiet: bool,
    demo_pages: usize,
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Option<Cli>, String> {
    let mut cli = Cli {
        config: Config::default(),
        seeds: Vec::new(),
        inputs: Vec::new(),
        jsonl: None,
        links_out: None,
        quiet: false,
        demo_pages: SiteConfig::default().pages,
    };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        // `--name=value` is the same as `--name value`.
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = |what: &str| -> Result<String, String> {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{name} needs {what}"))
        };
        let c = &mut cli.config;
        match name.as_str() {
            "-h" | "--help" => return Ok(None),
            "-i" | "--input" => cli.inputs.push(value("a file name")?),
            "-d" | "--depth" => c.max_depth = number(&name, &value("a number")?)?,
            "-n" | "--max-pages" => c.max_pages = Some(number(&name, &value("a number")?)?),
            "--same-host" => c.same_host = true,
            "--any-host" => c.same_host = false,
            "--allow-host" => c.allow_hosts.push(value("a host name")?),
            "--ignore-robots" => c.respect_robots = false,
            "--shard" => {
                let v = value("I/N")?;
                let (i, n) = v
                    .split_once('/')
                    .ok_or_else(|| format!("--shard wants I/N, like 0/4, got {v:?}"))?;
                let (i, n): (u32, u32) = (number("--shard", i)?, number("--shard", n)?);
                if n == 0 || i >= n {
                    return Err(format!("--shard {v}: need 0 <= I < N"));
                }
                c.shard = Some((i, n));
            }
            "--links-out" => cli.links_out = Some(value("a file name")?),
            "-c" | "--concurrency" => c.concurrency = positive(&name, &value("a number")?)?,
            "--per-host" => c.per_host = positive(&name, &value("a number")?)?,
            "--delay" => c.delay = Duration::from_millis(number(&name, &value("milliseconds")?)?),
            "-T" | "--timeout" => c.timeout = seconds(&name, &value("seconds")?)?,
            "--connect-timeout" => c.connect_timeout = seconds(&name, &value("seconds")?)?,
            "--idle-timeout" => c.idle_timeout = seconds(&name, &value("seconds")?)?,
            "--max-body" => c.max_body = number(&name, &value("a number of bytes")?)?,
            "--retries" => c.retries = number(&name, &value("a number")?)?,
            "-U" | "--user-agent" => c.user_agent = value("a user agent")?,
            "--ca-file" => {
                let path = value("a file name")?;
                let pem = std::fs::read(&path).map_err(|e| format!("--ca-file {path}: {e}"))?;
                c.ca_pem.push(pem);
            }
            "--insecure" => c.insecure = true,
            "-o" | "--out" => c.out_dir = Some(value("a directory")?.into()),
            "--save-errors" => c.save_errors = true,
            "--jsonl" => cli.jsonl = Some(value("a file name or -")?),
            "-q" | "--quiet" => cli.quiet = true,
            "--demo-pages" => cli.demo_pages = positive(&name, &value("a number")?)?,
            s if s.starts_with('-') && s != "-" => {
                return Err(format!("unknown option {s} (see --help)"));
            }
            _ => cli.seeds.push(arg),
        }
    }
    Ok(Some(cli))
}

fn number<T: std::str::FromStr>(name: &str, text: &str) -> Result<T, String> {
    text.trim()
        .parse()
        .map_err(|_| format!("{name} wants a whole number, got {text:?}"))
}

fn positive(name: &str, text: &str) -> Result<usize, String> {
    match number::<usize>(name, text)? {
        0 => Err(format!("{name} must be at least 1")),
        n => Ok(n),
    }
}

fn seconds(name: &str, text: &str) -> Result<Duration, String> {
    let secs: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{name} wants seconds, got {text:?}"))?;
    if !(secs.is_finite() && secs > 0.0 && secs < 1e9) {
        return Err(format!(
            "{name} wants a positive number of seconds, got {text:?}"
        ));
    }
    Ok(Duration::from_secs_f64(secs))
}

fn main() -> ExitCode {
    let cli = match parse_args(std::env::args().skip(1)) {
        Ok(Some(cli)) => cli,
        Ok(None) => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("crawl: {message}");
            return ExitCode::from(2);
        }
    };
    match run(cli) {
        Ok(Written::All) => ExitCode::SUCCESS,
        Ok(Written::NotAll(message)) => {
            eprintln!("crawl: {message}");
            ExitCode::from(1)
        }
        Err(message) => {
            eprintln!("crawl: {message}");
            ExitCode::from(2)
        }
    }
}

/// Whether a crawl that ran wrote all of its output.
enum Written {
    All,
    /// What was not written, in words.
    NotAll(String),
}

fn run(cli: Cli) -> Result<Written, String> {
    let mut seeds = cli.seeds;
    for input in &cli.inputs {
        let reader: Box<dyn BufRead> = if input == "-" {
            Box::new(std::io::stdin().lock())
        } else {
            let file = std::fs::File::open(input).map_err(|e| format!("--input {input}: {e}"))?;
            Box::new(std::io::BufReader::new(file))
        };
        for line in reader.lines() {
            let line = line.map_err(|e| format!("--input {input}: {e}"))?;
            let line = line.trim();
            if !line.is_empty() && !line.starts_with('#') {
                seeds.push(line.to_string());
            }
        }
    }
    let demo = seeds.is_empty() && cli.inputs.is_empty();

    // Stdout carries the per-URL lines, or the JSON records with `--jsonl -`.
    let jsonl_to_stdout = cli.jsonl.as_deref() == Some("-");
    let mut jsonl: Option<Box<dyn Write>> = match cli.jsonl.as_deref() {
        None => None,
        Some("-") => Some(Box::new(std::io::BufWriter::new(std::io::stdout()))),
        Some(path) => Some(Box::new(std::io::BufWriter::new(
            std::fs::File::create(path).map_err(|e| format!("--jsonl {path}: {e}"))?,
        ))),
    };
    let mut links_out: Option<Box<dyn Write>> = match cli.links_out.as_deref() {
        None => None,
        Some(path) => Some(Box::new(std::io::BufWriter::new(
            std::fs::File::create(path).map_err(|e| format!("--links-out {path}: {e}"))?,
        ))),
    };
    let lines = !cli.quiet && !jsonl_to_stdout;

    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, stop.clone())
            .map_err(|e| format!("cannot install the signal handler: {e}"))?;
    }

    let config = cli.config;
    let demo_pages = cli.demo_pages;
    // The first write failure of either output, reported at the end.
    let write_error: RefCell<Option<String>> = RefCell::new(None);
    let summary = wisp::block_on(async {
        if demo {
            let site = Arc::new(Site::generate(SiteConfig {
                pages: demo_pages,
                ..SiteConfig::default()
            }));
            let root = site
                .serve()
                .await
                .map_err(|e| format!("cannot start the demo site: {e}"))?;
            eprintln!("crawl: no URL given, crawling the demo site at {root} (see --help)");
            seeds.push(root);
        }
        let mut stdout = std::io::stdout().lock();
        let mut status = StatusLine::new();
        let hooks = Hooks {
            on_record: Box::new(|record: &Record| {
                if lines {
                    let _ = writeln!(stdout, "{}", human_line(record));
                }
                if let Some(out) = jsonl.as_mut()
                    && let Err(e) = writeln!(out, "{}", record.to_json())
                {
                    write_error
                        .borrow_mut()
                        .get_or_insert(format!("--jsonl: {e}"));
                }
            }),
            on_foreign_link: Box::new(|url| {
                if let Some(out) = links_out.as_mut()
                    && let Err(e) = writeln!(out, "{url}")
                {
                    write_error
                        .borrow_mut()
                        .get_or_insert(format!("--links-out: {e}"));
                }
            }),
            stop: stop.clone(),
        };
        let summary = crawl_with_progress(&config, seeds, hooks, |p| status.show(p))
            .await
            .map_err(|e| format!("cannot start: {e}"));
        status.finish();
        summary
    })?;
    if let Some(out) = jsonl.as_mut()
        && let Err(e) = out.flush()
    {
        write_error
            .borrow_mut()
            .get_or_insert(format!("--jsonl: {e}"));
    }
    if let Some(out) = links_out.as_mut()
        && let Err(e) = out.flush()
    {
        write_error
            .borrow_mut()
            .get_or_insert(format!("--links-out: {e}"));
    }
    if jsonl_to_stdout {
        eprintln!("{summary}");
    } else {
        println!("{summary}");
    }
    Ok(match write_error.into_inner() {
        Some(e) => Written::NotAll(e),
        None if summary.save_errors > 0 => Written::NotAll(format!(
            "{} bodies could not be saved under --out (see save_error in their records)",
            summary.save_errors
        )),
        None => Written::All,
    })
}

/// `200   14.2 KiB    3.1 ms  http://...` or `ERR   <error>  http://...`
fn human_line(record: &Record) -> String {
    let status = record
        .status
        .map_or_else(|| "ERR".to_string(), |s| s.to_string());
    let line = match &record.error {
        Some(error) if record.status.is_none() => {
            format!(
                "{status:<4} {:>10} {:>7} ms  {}  ({error})",
                "-", record.elapsed_ms, record.url
            )
        }
        Some(error) => format!(
            "{status:<4} {:>10} {:>7} ms  {}  ({error})",
            bytes(record.bytes),
            record.elapsed_ms,
            record.url
        ),
        None => format!(
            "{status:<4} {:>10} {:>7} ms  {}",
            bytes(record.bytes),
            record.elapsed_ms,
            record.url
        ),
    };
    match &record.save_error {
        Some(e) => format!("{line}  (not saved: {e})"),
        None => line,
    }
}

fn bytes(n: u64) -> String {
    if n < 1024 {
        format!("{n} B")
    } else if n < 1024 * 1024 {
        format!("{:.1} KiB", n as f64 / 1024.0)
    } else {
        format!("{:.1} MiB", n as f64 / (1024.0 * 1024.0))
    }
}

/// A status line on stderr: redrawn in place on a terminal (every 200 ms), a plain line every
/// 5 s otherwise.
struct StatusLine {
    last: Option<Instant>,
    terminal: bool,
    drawn: bool,
}

impl StatusLine {
    fn new() -> StatusLine {
        StatusLine {
            last: None,
            terminal: std::io::stderr().is_terminal(),
            drawn: false,
        }
    }

    fn show(&mut self, p: &Progress) {
        let every = if self.terminal {
            Duration::from_millis(200)
        } else {
            Duration::from_secs(5)
        };
        if self.last.is_some_and(|at| at.elapsed() < every) {
            return;
        }
        self.last = Some(Instant::now());
        let secs = p.elapsed.as_secs_f64();
        let line = format!(
            "[{secs:.0} s] {} done, {} in flight, {} queued, {:.0} pages/s, {} errors",
            p.done,
            p.in_flight,
            p.queued,
            p.done as f64 / secs.max(1e-9),
            p.errors
        );
        if self.terminal {
            eprint!("\r\x1b[2K{line}");
            self.drawn = true;
        } else {
            eprintln!("{line}");
        }
    }

    /// Clears a redrawn line so the summary starts on a clean one.
    fn finish(&self) {
        if self.drawn {
            eprint!("\r\x1b[2K");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Result<Option<Cli>, String> {
        parse_args(list.iter().map(|s| s.to_string()))
    }

    #[test]
    fn options_parse_and_bad_ones_explain() {
        let cli = args(&["-d", "2", "--max-pages=10", "--shard", "1/4", "http://a/"])
            .unwrap()
            .unwrap();
        assert_eq!(cli.config.max_depth, 2);
        assert_eq!(cli.config.max_pages, Some(10));
        assert_eq!(cli.config.shard, Some((1, 4)));
        assert_eq!(cli.seeds, ["http://a/"]);
        assert!(args(&["--depth", "x"]).err().unwrap().contains("--depth"));
        assert!(
            args(&["--shard", "4/4"])
                .err()
                .unwrap()
                .contains("0 <= I < N")
        );
        assert!(args(&["--concurrency", "0"]).is_err());
        assert!(args(&["--bogus"]).err().unwrap().contains("unknown option"));
        assert!(args(&["--timeout"]).err().unwrap().contains("needs"));
        assert!(args(&["--help"]).unwrap().is_none());
    }
}
