//! Where the records go: per-URL lines on stdout, JSON lines to `--jsonl`, foreign links to
//! `--links-out`; and what happens when one of them cannot be written.
//!
//! A write error never panics and never goes unreported. A closed stdout (its reader went
//! away, as `head` does) asks the crawl to stop, as Ctrl-C does, and is otherwise quiet; any
//! other failure is kept (the first one) for the closing message and the exit status.

use std::cell::Cell;
use std::io::{ErrorKind, Seek, Write};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use url::Url;
use wisp::crawl::{Progress, Record};

use crate::status_line::StatusLine;
use crate::summary::Tally;

/// `wisp::crawl::state::OUTPUT_FAILED` (checked in resume.rs), here also without the feature.
pub const OUTPUT_FAILED: u64 = u64::MAX;

/// One output file (or stdout, for `--jsonl -`), buffered.
pub struct Sink {
    /// The option it came from, for messages: `--jsonl`.
    option: &'static str,
    to_stdout: bool,
    writer: Box<dyn Write>,
    /// With `--state`: every record is flushed at once and its bytes counted here, so that a
    /// commit of the state covers exactly the records on disk (see `wisp::crawl::state`).
    counted: Option<Rc<Cell<u64>>>,
}

impl Sink {
    /// `path` is a file name, or `-` for stdout.
    pub fn open(option: &'static str, path: &str) -> Result<Sink, String> {
        let (to_stdout, writer): (bool, Box<dyn Write>) = if path == "-" {
            (true, Box::new(std::io::BufWriter::new(std::io::stdout())))
        } else {
            let file = std::fs::File::create(path).map_err(|e| format!("{option} {path}: {e}"))?;
            (false, Box::new(std::io::BufWriter::new(file)))
        };
        Ok(Sink {
            option,
            to_stdout,
            writer,
            counted: None,
        })
    }

    /// Opens `path` to go on after its first `keep` bytes (what a resumed crawl's state
    /// covers): the rest, written after the last commit, is cut off. A file shorter than that
    /// is not this crawl's output, and is refused. A missing file is created when `keep` is 0.
    #[cfg_attr(not(feature = "state"), allow(dead_code))]
    pub fn resume(option: &'static str, path: &str, keep: u64) -> Result<Sink, String> {
        if path == "-" {
            return Sink::open(option, path);
        }
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(keep == 0)
            .truncate(false)
            .open(path)
            .map_err(|e| format!("{option} {path}: {e}"))?;
        let len = file
            .metadata()
            .map_err(|e| format!("{option} {path}: {e}"))?
            .len();
        if len < keep {
            return Err(format!(
                "{option} {path} holds {len} bytes, but the state's records cover {keep}: it is                  not this crawl's output (--export-jsonl FILE writes them all from the state)"
            ));
        }
        file.set_len(keep)
            .and_then(|()| file.seek(std::io::SeekFrom::End(0)).map(drop))
            .map_err(|e| format!("{option} {path}: {e}"))?;
        Ok(Sink {
            option,
            to_stdout: false,
            writer: Box::new(std::io::BufWriter::new(file)),
            counted: None,
        })
    }

    /// Counts the bytes of every record into `counter` (which starts at what the file holds),
    /// flushing each one.
    #[cfg_attr(not(feature = "state"), allow(dead_code))]
    pub fn count_into(&mut self, counter: Rc<Cell<u64>>) {
        self.counted = Some(counter);
    }
}

pub struct Output {
    /// Write a line per record to stdout (not with `-q`, nor when `--jsonl -` has stdout).
    /// Turned off by a write error on stdout.
    lines: bool,
    /// `None` when not asked for, or after its first write error (nothing more is tried).
    jsonl: Option<Sink>,
    links_out: Option<Sink>,
    pub status: StatusLine,
    pub tally: Tally,
    /// The first write failure other than a closed stdout, in words; never replaced.
    pub failed: Option<String>,
    /// Stdout's reader went away. Once set, `stop` is set too and stdout is not written again.
    pub stdout_closed: bool,
    /// The crawl's stop request, shared with the signal handlers.
    stop: Arc<AtomicBool>,
}

impl Output {
    pub fn new(
        lines: bool,
        jsonl: Option<Sink>,
        links_out: Option<Sink>,
        status: StatusLine,
        stop: Arc<AtomicBool>,
    ) -> Output {
        Output {
            lines,
            jsonl,
            links_out,
            status,
            tally: Tally::default(),
            failed: None,
            stdout_closed: false,
            stop,
        }
    }

    pub fn record(&mut self, record: &Record) {
        self.tally.count(record);
        if self.lines {
            self.status.hide();
            let written = writeln!(std::io::stdout().lock(), "{}", human_line(record));
            if let Err(e) = written {
                self.lines = false;
                self.failed_on("stdout", true, &e);
            }
            self.status.restore();
        }
        if let Some(sink) = &mut self.jsonl {
            // On a terminal shared with the progress line, each record goes out whole at once,
            // between a cleared line and a redrawn one, as the per-URL lines do.
            let on_screen = sink.to_stdout && self.status.shares_stdout();
            if on_screen {
                self.status.hide();
            }
            let line = record.to_json();
            let mut written = writeln!(sink.writer, "{line}");
            if (on_screen || sink.counted.is_some()) && written.is_ok() {
                written = sink.writer.flush();
            }
            if let Some(counter) = &sink.counted {
                match &written {
                    Ok(()) => counter.set(counter.get() + line.len() as u64 + 1),
                    // The state must not commit records the file does not hold.
                    Err(_) => counter.set(OUTPUT_FAILED),
                }
            }
            if on_screen {
                self.status.restore();
            }
            if let Err(e) = written {
                let (option, to_stdout) = (sink.option, sink.to_stdout);
                self.jsonl = None;
                self.failed_on(option, to_stdout, &e);
            }
        }
    }

    pub fn foreign_link(&mut self, url: &Url) {
        if let Some(sink) = &mut self.links_out
            && let Err(e) = writeln!(sink.writer, "{url}")
        {
            let option = sink.option;
            self.links_out = None;
            self.failed_on(option, false, &e);
        }
    }

    pub fn progress(&mut self, p: &Progress) {
        self.status.show(p);
    }

    /// Flushes the files; the crawl is over.
    pub fn finish(&mut self) {
        self.status.finish();
        for sink in [self.jsonl.take(), self.links_out.take()]
            .into_iter()
            .flatten()
        {
            let Sink {
                option,
                to_stdout,
                mut writer,
                ..
            } = sink;
            if let Err(e) = writer.flush() {
                self.failed_on(option, to_stdout, &e);
            }
        }
        if self.lines
            && let Err(e) = std::io::stdout().flush()
        {
            self.failed_on("stdout", true, &e);
        }
    }

    fn failed_on(&mut self, what: &str, stdout: bool, e: &std::io::Error) {
        if stdout && e.kind() == ErrorKind::BrokenPipe {
            self.stdout_closed = true;
            self.lines = false;
            self.stop.store(true, Ordering::Relaxed);
        } else if self.failed.is_none() {
            self.failed = Some(format!("{what}: {e}"));
        }
    }
}

/// `1 page`, `2 pages`.
pub fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `200   14.2 KiB    3 ms  http://...` or `ERR   -   0 ms  http://...  (<error>)`
pub fn human_line(record: &Record) -> String {
    let status = record
        .status
        .map_or_else(|| "ERR".to_string(), |s| s.to_string());
    let size = if record.status.is_some() {
        bytes(record.bytes)
    } else {
        "-".to_string()
    };
    let mut line = format!(
        "{status:<4} {size:>10} {:>7} ms  {}",
        record.elapsed_ms, record.url
    );
    if let Some(error) = &record.error {
        line += &format!("  ({error})");
    }
    if let Some(e) = &record.save_error {
        line += &format!("  (not saved: {e})");
    }
    line
}

/// Binary units, the same on the per-URL lines and in the summary.
pub fn bytes(n: u64) -> String {
    if n < 1024 {
        format!("{n} B")
    } else if n < 1024 * 1024 {
        format!("{:.1} KiB", n as f64 / 1024.0)
    } else if n < 1024 * 1024 * 1024 {
        format!("{:.1} MiB", n as f64 / (1024.0 * 1024.0))
    } else {
        format!("{:.1} GiB", n as f64 / (1024.0 * 1024.0 * 1024.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_in_binary_units() {
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(3 << 20), "3.0 MiB");
        assert_eq!(bytes(5 << 30), "5.0 GiB");
    }

    #[test]
    fn one_is_singular() {
        assert_eq!(plural(1, "page", "pages"), "1 page");
        assert_eq!(plural(0, "page", "pages"), "0 pages");
    }
}
