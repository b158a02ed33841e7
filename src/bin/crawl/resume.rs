//! `--state`: opening the crawl's state, refusing a resume that changes the crawl, and
//! `--export-jsonl`. Without the `state` feature, `--state` is refused with how to get it.

use wisp::crawl::{Config, Hooks, Progress, Summary};

use crate::Status;
use crate::args::Cli;
use crate::output::Sink;

#[cfg(feature = "state")]
pub use wisp::crawl::state::State;

#[cfg(feature = "state")]
const _: () = assert!(crate::output::OUTPUT_FAILED == wisp::crawl::state::OUTPUT_FAILED);

/// Stands in for the state when the feature is off: never made.
#[cfg(not(feature = "state"))]
pub enum State {}

/// The state of `--state`, checked against this run's options; `None` without `--state`.
/// `seeds` are the run's seeds (command line and `--input`).
#[cfg(feature = "state")]
pub fn open(cli: &Cli, seeds: &[String]) -> Result<Option<State>, (Status, String)> {
    let Some(path) = cli.state.as_deref() else {
        return Ok(None);
    };
    let bad = |message: String| (Status::BadArguments, message);
    let mut state = State::open(path.as_ref()).map_err(|e| bad(e.to_string()))?;
    if cli.export_jsonl.is_some() {
        return Ok(Some(state));
    }
    if seeds.is_empty() {
        return Err(bad(
            "--state needs seed URLs: the demo site's address changes with every run, so a \
             crawl of it cannot be resumed"
                .into(),
        ));
    }
    state
        .check(&cli.config, seeds, cli.force)
        .map_err(|e| bad(format!("--state {path}: {e}")))?;
    Ok(Some(state))
}

#[cfg(not(feature = "state"))]
pub fn open(cli: &Cli, _seeds: &[String]) -> Result<Option<State>, (Status, String)> {
    match cli.state {
        None => Ok(None),
        Some(_) => Err((
            Status::BadArguments,
            "--state needs the crawler built with the `state` feature: \
             cargo run --release --features state --bin crawl -- --state PATH ..."
                .into(),
        )),
    }
}

/// `--export-jsonl FILE`: every record the state holds, in order, to FILE (`-`: stdout).
#[cfg(feature = "state")]
pub fn export(state: &State, path: &str) -> Result<u64, (Status, String)> {
    let failed = |e: String| (Status::Output, format!("--export-jsonl {path}: {e}"));
    let mut out: Box<dyn std::io::Write> = if path == "-" {
        Box::new(std::io::BufWriter::new(std::io::stdout().lock()))
    } else {
        let file = std::fs::File::create(path).map_err(|e| failed(e.to_string()))?;
        Box::new(std::io::BufWriter::new(file))
    };
    state
        .export_jsonl(&mut out)
        .map_err(|e| failed(e.to_string()))
}

#[cfg(not(feature = "state"))]
pub fn export(state: &State, _path: &str) -> Result<u64, (Status, String)> {
    match *state {}
}

/// The `--jsonl` file: with a state that holds a crawl, cut back to the records it covers and
/// appended to, each record flushed and counted for the state's commits; else created.
pub fn jsonl_sink(path: &str, state: Option<&State>) -> Result<Sink, String> {
    match state {
        None => Sink::open("--jsonl", path),
        #[cfg(feature = "state")]
        Some(state) => {
            let keep = if state.resuming() {
                state.committed_output()
            } else {
                0
            };
            let mut sink = Sink::resume("--jsonl", path, keep)?;
            if path != "-" {
                sink.count_into(state.output_counter());
            }
            Ok(sink)
        }
        #[cfg(not(feature = "state"))]
        Some(state) => match *state {},
    }
}

/// The `--links-out` file: appended to when a state is resumed, else created.
pub fn links_sink(path: &str, state: Option<&State>) -> Result<Sink, String> {
    match state {
        #[cfg(feature = "state")]
        Some(state) if state.resuming() && path != "-" => {
            let len = std::fs::metadata(path).map_or(0, |m| m.len());
            Sink::resume("--links-out", path, len)
        }
        _ => Sink::open("--links-out", path),
    }
}

/// The crawl, with its state.
#[cfg(feature = "state")]
pub async fn crawl(
    config: &Config,
    seeds: Vec<String>,
    hooks: Hooks<'_>,
    progress: impl FnMut(&Progress),
    state: &mut State,
) -> Result<Summary, wisp::http::Error> {
    wisp::crawl::state::crawl_resumable(config, seeds, hooks, progress, state).await
}

#[cfg(not(feature = "state"))]
pub async fn crawl(
    _config: &Config,
    _seeds: Vec<String>,
    _hooks: Hooks<'_>,
    _progress: impl FnMut(&Progress),
    state: &mut State,
) -> Result<Summary, wisp::http::Error> {
    match *state {}
}

/// What the state holds now, for the closing notice: `None` without one.
pub fn held(state: Option<&State>) -> Option<String> {
    match state? {
        #[cfg(feature = "state")]
        state => {
            let (recorded, to_fetch) = state.counts().ok()?;
            Some(format!(
                "the state holds {} and {} still to fetch",
                crate::output::plural(recorded, "record", "records"),
                crate::output::plural(to_fetch, "URL", "URLs")
            ))
        }
        #[cfg(not(feature = "state"))]
        state => match *state {},
    }
}
