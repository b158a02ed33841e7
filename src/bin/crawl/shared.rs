//! `--state postgres://... --crawl NAME`: a crawl shared by many workers through PostgreSQL,
//! `--status` and `--export-jsonl` of it. Without the `postgres` feature, refused with how to
//! get it.

use wisp::crawl::{Config, Hooks, Progress, Summary};

use crate::Status;
use crate::args::Cli;

#[cfg(feature = "postgres")]
pub use wisp::crawl::shared::SharedState;

/// Stands in for the shared state when the feature is off: never made.
#[cfg(not(feature = "postgres"))]
pub enum SharedState {}

/// The shared crawl of `--state postgres://...`, checked against this run's options; `None`
/// without one. Every failure here (no database, a refused login, another schema version,
/// other options than the crawl's) is an error before anything is fetched.
#[cfg(feature = "postgres")]
pub fn open(cli: &Cli, seeds: &[String]) -> Result<Option<SharedState>, (Status, String)> {
    use wisp::crawl::shared::Lease;
    if !cli.shared() {
        return Ok(None);
    }
    let bad = |message: String| (Status::BadArguments, message);
    let url = cli.state.as_deref().unwrap_or_default();
    let name = cli.crawl.as_deref().unwrap_or_default();
    let lease = cli.lease.map_or_else(Lease::default, Lease);
    let mut state = SharedState::open(url, name, lease).map_err(|e| bad(e.to_string()))?;
    if cli.export_jsonl.is_some() || cli.status {
        return Ok(Some(state));
    }
    if seeds.is_empty() {
        return Err(bad(
            "--state postgres://... needs seed URLs: the demo site's address is this \
             process's alone, so other workers could not crawl it"
                .into(),
        ));
    }
    state
        .check(&cli.config, seeds, cli.force)
        .map_err(|e| bad(e.to_string()))?;
    Ok(Some(state))
}

#[cfg(not(feature = "postgres"))]
pub fn open(cli: &Cli, _seeds: &[String]) -> Result<Option<SharedState>, (Status, String)> {
    if !cli.shared() {
        return Ok(None);
    }
    Err((
        Status::BadArguments,
        "--state postgres://... needs the crawler built with the `postgres` feature: \
         cargo run --release --features postgres --bin crawl -- --state postgres://..."
            .into(),
    ))
}

/// `--export-jsonl FILE` of a shared crawl.
#[cfg(feature = "postgres")]
pub fn export(state: &mut SharedState, path: &str) -> Result<u64, (Status, String)> {
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

#[cfg(not(feature = "postgres"))]
pub fn export(state: &mut SharedState, _path: &str) -> Result<u64, (Status, String)> {
    match *state {}
}

/// `--status`: one line on stdout.
#[cfg(feature = "postgres")]
pub fn status(state: &mut SharedState, name: &str) -> Result<String, (Status, String)> {
    let s = state.status().map_err(|e| (Status::Other, e.to_string()))?;
    let done = if s.to_fetch == 0 && s.records > 0 {
        " (done)"
    } else {
        ""
    };
    Ok(format!(
        "crawl {name}: {} written, {} to fetch{done}; {} alive, {} partitions claimed",
        crate::output::plural(s.records, "record", "records"),
        crate::output::plural(s.to_fetch, "URL", "URLs"),
        crate::output::plural(s.workers, "worker", "workers"),
        s.owned
    ))
}

#[cfg(not(feature = "postgres"))]
pub fn status(state: &mut SharedState, _name: &str) -> Result<String, (Status, String)> {
    match *state {}
}

/// This worker's part of the crawl: until the whole crawl is done, or a stop.
#[cfg(feature = "postgres")]
pub async fn crawl(
    config: &Config,
    seeds: Vec<String>,
    hooks: Hooks<'_>,
    progress: impl FnMut(&Progress),
    state: &mut SharedState,
) -> Result<Summary, wisp::http::Error> {
    wisp::crawl::shared::crawl_shared(config, seeds, hooks, progress, state).await
}

#[cfg(not(feature = "postgres"))]
pub async fn crawl(
    _config: &Config,
    _seeds: Vec<String>,
    _hooks: Hooks<'_>,
    _progress: impl FnMut(&Progress),
    state: &mut SharedState,
) -> Result<Summary, wisp::http::Error> {
    match *state {}
}
