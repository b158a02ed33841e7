//! `crawl`: wisp's web crawler on the command line. Run it with no arguments to crawl a demo
//! site served from inside the same process; see `--help` for the rest.
//!
//! - [`args`]: the command line and `--help`.
//! - [`output`]: where records go, and what a write error does.
//! - [`resume`]: `--state`, the crawl's state on disk, and `--export-jsonl`.
//! - [`shared`]: `--state postgres://...`, one crawl shared by many workers.
//! - [`status_line`]: the progress line on stderr.
//! - [`summary`]: the closing line, with statuses by class and errors by kind.

mod args;
// The program only generates and serves the site; the expected sets are for the tests.
#[allow(dead_code)]
mod demo;
mod output;
mod resume;
mod shared;
mod status_line;
mod summary;

use std::cell::RefCell;
use std::io::{BufRead, Read, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use args::{Cli, Parsed};
use demo::{Site, SiteConfig};
use output::{Output, plural};
use status_line::StatusLine;
use wisp::crawl::{Hooks, Record, crawl_with_progress};
use wisp::signal::{SIGINT, SIGTERM, Signals};

/// The exit statuses, as `--help` documents them (wget's numbers where they mean the same).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    /// Every URL was answered (any HTTP status) and all output written.
    Ok = 0,
    /// The crawl could not start: the demo site or the signal handler.
    Other = 1,
    /// Bad arguments; nothing was fetched.
    BadArguments = 2,
    /// Some output was not written.
    Output = 3,
    /// Some URLs ended in an error (network, TLS, protocol, robots.txt unreachable, ...).
    UrlErrors = 4,
    /// Stopped by Ctrl-C or SIGTERM, after writing every record and the summary.
    Interrupted = 130,
}

impl From<Status> for ExitCode {
    fn from(s: Status) -> ExitCode {
        ExitCode::from(s as u8)
    }
}

/// A message on stderr; a closed stderr is no reason to panic.
fn say(message: &str) {
    let _ = writeln!(std::io::stderr(), "crawl: {message}");
}

fn main() -> ExitCode {
    let cli = match args::parse(std::env::args_os().skip(1)) {
        Ok(Parsed::Run(cli)) => *cli,
        Ok(Parsed::Help) => {
            let _ = std::io::stdout().write_all(args::help().as_bytes());
            return Status::Ok.into();
        }
        Ok(Parsed::Version) => {
            let _ = std::io::stdout().write_all(args::version().as_bytes());
            return Status::Ok.into();
        }
        Err(message) => {
            say(&message);
            return Status::BadArguments.into();
        }
    };
    match run(cli) {
        Ok(status) => status.into(),
        Err((status, message)) => {
            say(&message);
            status.into()
        }
    }
}

fn run(mut cli: Cli) -> Result<Status, (Status, String)> {
    let bad = |message: String| (Status::BadArguments, message);
    let mut seeds = std::mem::take(&mut cli.seeds);
    for input in &cli.inputs {
        let reader: Box<dyn BufRead> = if input == "-" {
            Box::new(std::io::stdin().lock())
        } else {
            let file =
                std::fs::File::open(input).map_err(|e| bad(format!("--input {input}: {e}")))?;
            Box::new(std::io::BufReader::new(file))
        };
        read_seeds(reader, &mut seeds).map_err(|e| bad(format!("--input {input}: {e}")))?;
    }
    let demo = seeds.is_empty() && cli.inputs.is_empty();
    // Before any output file is touched: a refused resume leaves them as they are.
    let mut shared = shared::open(&cli, &seeds)?;
    if let Some(shared) = shared.as_mut() {
        if cli.status {
            let line = shared::status(shared, cli.crawl.as_deref().unwrap_or_default())?;
            let _ = writeln!(std::io::stdout(), "{line}");
            return Ok(Status::Ok);
        }
        if let Some(path) = cli.export_jsonl.as_deref() {
            let n = shared::export(shared, path)?;
            if !cli.quiet {
                say(&format!(
                    "{} written to {path}",
                    plural(n, "record", "records")
                ));
            }
            return Ok(Status::Ok);
        }
    }
    let mut state = if shared.is_some() {
        None
    } else {
        resume::open(&cli, &seeds)?
    };
    if let Some(path) = cli.export_jsonl.as_deref() {
        let Some(state) = &state else {
            return Err(bad("--export-jsonl needs --state PATH".into()));
        };
        let n = resume::export(state, path)?;
        if !cli.quiet {
            say(&format!(
                "{} written to {path}",
                plural(n, "record", "records")
            ));
        }
        return Ok(Status::Ok);
    }

    let output_error = |message: String| (Status::Output, message);
    let jsonl = match cli.jsonl.as_deref() {
        None => None,
        Some(path) => Some(resume::jsonl_sink(path, state.as_ref()).map_err(output_error)?),
    };
    let links_out = match cli.links_out.as_deref() {
        None => None,
        Some(path) => Some(resume::links_sink(path, state.as_ref()).map_err(output_error)?),
    };
    // Stdout carries the per-URL lines, or the JSON records with `--jsonl -`.
    let lines = !cli.quiet && cli.jsonl.as_deref() != Some("-");

    let stop = Arc::new(AtomicBool::new(false));
    // Ctrl-C and SIGTERM, on the reactor: a task turns them into the crawl's stop request.
    let mut signals = Signals::new(&[SIGINT, SIGTERM]).map_err(|e| {
        (
            Status::Other,
            format!("cannot install the signal handler: {e}"),
        )
    })?;

    let quiet = cli.quiet;
    let config = cli.config;
    let demo_pages = cli.demo_pages;
    let out = RefCell::new(Output::new(
        lines,
        jsonl,
        links_out,
        StatusLine::new(!quiet),
        stop.clone(),
    ));
    let summary = wisp::block_on(async {
        if demo {
            if !quiet {
                say(&format!(
                    "no URL given: building a demo site of {}...",
                    plural(demo_pages as u64, "page", "pages")
                ));
            }
            // Built on the blocking pool, so that a Ctrl-C during a build of seconds ends the
            // program at once (the abandoned build ends with the process).
            let build = wisp::unblock(move || {
                Site::generate(SiteConfig {
                    pages: demo_pages,
                    ..SiteConfig::default()
                })
            });
            let built = wisp::race(async { Some(build.await) }, async {
                signals.recv().await;
                None
            })
            .await;
            let Some(site) = built else {
                return Err((
                    Status::Interrupted,
                    "interrupted while building the demo site".to_string(),
                ));
            };
            let root = Arc::new(site)
                .serve()
                .await
                .map_err(|e| (Status::Other, format!("cannot start the demo site: {e}")))?;
            if !quiet {
                say(&format!("crawling the demo site at {root} (see --help)"));
            }
            seeds.push(root);
        }
        let stop_on_signal = stop.clone();
        let _watcher = wisp::spawn(async move {
            signals.recv().await;
            stop_on_signal.store(true, Ordering::Relaxed);
        });
        let hooks = Hooks {
            on_record: Box::new(|record: &Record| out.borrow_mut().record(record)),
            on_foreign_link: Box::new(|url| out.borrow_mut().foreign_link(url)),
            stop: stop.clone(),
        };
        let progress = |p: &wisp::crawl::Progress| out.borrow_mut().progress(p);
        // The client is built from the options (`--ca-file`): a failure here is theirs.
        let summary = match (state.as_mut(), shared.as_mut()) {
            (Some(state), _) => resume::crawl(&config, seeds, hooks, progress, state).await,
            (None, Some(shared)) => shared::crawl(&config, seeds, hooks, progress, shared).await,
            (None, None) => crawl_with_progress(&config, seeds, hooks, progress).await,
        };
        summary.map_err(|e| bad(format!("cannot start: {e}")))
    })?;

    let mut out = out.into_inner();
    out.finish();
    // A closed stdout stopped the crawl; that is the reader's choice, not an interruption.
    let interrupted = summary.interrupted && !out.stdout_closed;
    let stopped_by = if out.stdout_closed {
        Some("stopped: stdout was closed")
    } else if interrupted {
        Some("interrupted")
    } else {
        None
    };
    let _ = writeln!(
        std::io::stderr(),
        "{}",
        out.tally.line(&summary, stopped_by)
    );
    if cli.stats {
        let _ = std::io::stderr().write_all(out.tally.host_table().as_bytes());
    }
    if !quiet && summary.restarts > 0 {
        say(&format!(
            "this worker lost its claim on some hosts {} (it was paused or cut off from the \
             database past --lease) and took up its part again; nothing it wrote was lost",
            plural(u64::from(summary.restarts), "time", "times")
        ));
    }
    if !quiet && let Some(held) = resume::held(state.as_ref()) {
        let again = if summary.interrupted {
            ": run the same command again to go on"
        } else {
            ""
        };
        say(&format!("{held}{again}"));
    }
    Ok(if let Some(failure) = &out.failed {
        say(failure);
        Status::Output
    } else if let Some(failure) = &summary.state_error {
        say(&format!("the crawl stopped: {failure}"));
        Status::Output
    } else if summary.save_errors > 0 {
        say(&format!(
            "{} could not be saved under --out (see save_error in their records)",
            plural(summary.save_errors, "body", "bodies")
        ));
        Status::Output
    } else if interrupted {
        Status::Interrupted
    } else if out.tally.failed_urls() > 0 {
        Status::UrlErrors
    } else {
        Status::Ok
    })
}

/// The longest line `--input` accepts: far longer than any URL a server takes (8 KiB is
/// common), short enough that `--input /dev/zero` ends with a message, not out of memory.
const MAX_SEED_LINE: u64 = 64 * 1024;

/// Appends the seeds of an `--input` list: one per line, blank lines and `#` comments skipped.
fn read_seeds(mut reader: impl BufRead, seeds: &mut Vec<String>) -> Result<(), String> {
    let mut line = Vec::new();
    for number in 1.. {
        line.clear();
        let n = (&mut reader)
            .take(MAX_SEED_LINE + 1)
            .read_until(b'\n', &mut line)
            .map_err(|e| e.to_string())?;
        if n == 0 {
            return Ok(());
        }
        if line.len() as u64 > MAX_SEED_LINE {
            return Err(format!(
                "line {number} is longer than {MAX_SEED_LINE} bytes"
            ));
        }
        let text = std::str::from_utf8(&line).map_err(|_| format!("line {number} is not UTF-8"))?;
        let text = text.trim();
        if !text.is_empty() && !text.starts_with('#') {
            seeds.push(text.to_string());
        }
    }
    Ok(())
}
