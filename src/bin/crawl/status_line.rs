//! The progress line on stderr: redrawn in place on a terminal (every 200 ms), a plain line
//! every 5 s otherwise, nothing with `-q`.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use wisp::crawl::Progress;

use crate::output::plural;

/// Set to `1` to draw the progress line as on a terminal even when stderr is a pipe, and to
/// clear it before each record line as when stdout shares that terminal: lets the tests see
/// what a terminal would get. Not in `--help`: it is no use to anyone else.
pub const FORCE_TERMINAL: &str = "WISP_CRAWL_FORCE_TERMINAL";

pub struct StatusLine {
    /// `-q` turns the line off; then nothing is ever written.
    enabled: bool,
    /// Redraw in place with `\r` (stderr is a terminal) rather than print a line every 5 s.
    terminal: bool,
    /// Stdout is that terminal too: a record line written while the progress line is drawn
    /// would land after it on the same row, so [`hide`](Self::hide) clears it first.
    shares_stdout: bool,
    /// When the line was last drawn (for the rate limit).
    last: Option<Instant>,
    /// The text last drawn, for [`restore`](Self::restore).
    text: String,
    /// The text is on the screen now (so the cursor is at its end, not at a line's start).
    drawn: bool,
}

impl StatusLine {
    pub fn new(enabled: bool) -> StatusLine {
        let forced = std::env::var_os(FORCE_TERMINAL).is_some_and(|v| v == "1");
        let terminal = forced || std::io::stderr().is_terminal();
        StatusLine {
            enabled,
            terminal,
            shares_stdout: terminal && (forced || std::io::stdout().is_terminal()),
            last: None,
            text: String::new(),
            drawn: false,
        }
    }

    pub fn show(&mut self, p: &Progress) {
        if !self.enabled {
            return;
        }
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
        self.text = format!(
            "[{secs:.0} s] {} done, {} in flight, {} queued, {:.0} pages/s, {}",
            p.done,
            p.in_flight,
            p.queued,
            p.done as f64 / secs.max(1e-9),
            plural(p.errors, "error", "errors")
        );
        if self.terminal {
            self.draw();
        } else {
            let _ = writeln!(std::io::stderr(), "{}", self.text);
        }
    }

    /// Whether the line is drawn on the terminal stdout writes to.
    pub fn shares_stdout(&self) -> bool {
        self.enabled && self.shares_stdout
    }

    /// Clears the line before something is written to a shared terminal.
    pub fn hide(&mut self) {
        if self.drawn && self.shares_stdout {
            let _ = write!(std::io::stderr(), "\r\x1b[2K");
            self.drawn = false;
        }
    }

    /// Draws the line again after [`hide`](Self::hide).
    pub fn restore(&mut self) {
        if self.enabled && self.terminal && !self.drawn && !self.text.is_empty() {
            self.draw();
        }
    }

    /// Clears the line for good, so the summary starts on a clean row.
    pub fn finish(&mut self) {
        if self.drawn {
            let _ = write!(std::io::stderr(), "\r\x1b[2K");
            self.drawn = false;
        }
        self.text.clear();
    }

    fn draw(&mut self) {
        let _ = write!(std::io::stderr(), "\r\x1b[2K{}", self.text);
        self.drawn = true;
    }
}
