//! The command line: what `crawl` was asked to do ([`Cli`]), read with `lexopt`, and the
//! `--help` text, whose defaults come from [`Config::default`] so they cannot drift from it.

use std::ffi::OsString;
use std::time::Duration;

use lexopt::Arg::{Long, Short, Value};
use url::Url;
use wisp::crawl::{Config, UrlPattern};

use crate::demo::SiteConfig;

/// The largest `--demo-pages`. Sites of up to 100 000 pages are built in memory before the
/// crawl; larger ones are rendered on request and take little memory, but a crawl of more
/// than a million demo pages shows nothing a million does not.
pub const MAX_DEMO_PAGES: usize = 1_000_000;

/// What the program was asked to do.
pub enum Parsed {
    Run(Box<Cli>),
    Help,
    Version,
}

/// A crawl to run, with where its output goes.
pub struct Cli {
    pub config: Config,
    /// Seeds given on the command line, each already checked to be an absolute http(s) URL.
    pub seeds: Vec<String>,
    /// `--input` files, in order (`-` is stdin); repeatable.
    pub inputs: Vec<String>,
    pub jsonl: Option<String>,
    pub links_out: Option<String>,
    /// `-q`: no per-URL lines, no progress line, no notices; the summary and errors only.
    pub quiet: bool,
    pub demo_pages: usize,
    /// `--stats`: a table of the records by host after the summary.
    pub stats: bool,
    /// `--state PATH`: the crawl's state on disk, to resume it.
    pub state: Option<String>,
    /// `--force`: resume even with options that change the crawl's meaning.
    pub force: bool,
    /// `--export-jsonl FILE`: write every record of `--state` to FILE, and crawl nothing.
    pub export_jsonl: Option<String>,
    /// `--crawl NAME`: which crawl of a `--state postgres://...` database.
    pub crawl: Option<String>,
    /// `--status`: print where the shared crawl stands, and crawl nothing.
    pub status: bool,
    /// `--lease SECONDS`: how long a claim on a shared crawl's partition holds.
    pub lease: Option<Duration>,
}

impl Cli {
    /// `--state` names a PostgreSQL database: a crawl shared by many processes.
    pub fn shared(&self) -> bool {
        self.state
            .as_deref()
            .is_some_and(|s| s.starts_with("postgres://") || s.starts_with("postgresql://"))
    }
}

/// Every long option, for "did you mean": keep in step with the `match` in [`parse`].
const LONG_OPTIONS: &[&str] = &[
    "help",
    "version",
    "input",
    "depth",
    "max-pages",
    "max-frontier",
    "same-host",
    "any-host",
    "allow-host",
    "accept-regex",
    "reject-regex",
    "accept-type",
    "reject-type",
    "header",
    "ignore-robots",
    "sitemap",
    "shard",
    "links-out",
    "concurrency",
    "per-host",
    "delay",
    "timeout",
    "connect-timeout",
    "idle-timeout",
    "max-body",
    "retries",
    "user-agent",
    "ca-file",
    "insecure",
    "out",
    "save-errors",
    "jsonl",
    "quiet",
    "demo-pages",
    "stats",
    "state",
    "force",
    "export-jsonl",
    "crawl",
    "status",
    "lease",
];

/// Reads the arguments (without the program name). An `Err` is a message for the user, and
/// means exit status 2.
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Parsed, String> {
    let mut cli = Cli {
        config: Config::default(),
        seeds: Vec::new(),
        inputs: Vec::new(),
        jsonl: None,
        links_out: None,
        quiet: false,
        demo_pages: SiteConfig::default().pages,
        stats: false,
        state: None,
        force: false,
        export_jsonl: None,
        crawl: None,
        status: false,
        lease: None,
    };
    let mut parser = lexopt::Parser::from_args(args);
    while let Some(arg) = parser.next().map_err(explain)? {
        // The option as the user spelled it, for messages: `--depth` or `-d`.
        let name = match &arg {
            Short(c) => format!("-{c}"),
            Long(l) => format!("--{l}"),
            Value(_) => String::new(),
        };
        let c = &mut cli.config;
        match arg {
            Short('h') | Long("help") => return Ok(Parsed::Help),
            Short('V') | Long("version") => return Ok(Parsed::Version),
            Short('i') | Long("input") => cli.inputs.push(non_empty(&mut parser, &name)?),
            Short('d') | Long("depth") => c.max_depth = number(&name, &text(&mut parser, &name)?)?,
            Short('n') | Long("max-pages") => {
                c.max_pages = Some(number(&name, &text(&mut parser, &name)?)?);
            }
            Long("max-frontier") => {
                c.max_frontier = positive(&name, &text(&mut parser, &name)?)? as u64;
            }
            Long("same-host") => c.same_host = true,
            Long("any-host") => c.same_host = false,
            Long("allow-host") => c.allow_hosts.push(non_empty(&mut parser, &name)?),
            Long("accept-regex") => c.accept_urls.push(pattern(&mut parser, &name)?),
            Long("reject-regex") => c.reject_urls.push(pattern(&mut parser, &name)?),
            Long("accept-type") => c.accept_types.push(media_type(&mut parser, &name)?),
            Long("reject-type") => c.reject_types.push(media_type(&mut parser, &name)?),
            Short('H') | Long("header") => c.headers.push(header(&text(&mut parser, &name)?)?),
            Long("ignore-robots") => c.respect_robots = false,
            Long("sitemap") => c.sitemaps = true,
            Long("shard") => {
                let v = text(&mut parser, &name)?;
                let (i, n) = v
                    .split_once('/')
                    .ok_or_else(|| format!("--shard wants I/N, like 0/4, got {v:?}"))?;
                let (i, n): (u32, u32) = (number("--shard", i)?, number("--shard", n)?);
                if n == 0 || i >= n {
                    return Err(format!("--shard {v}: need 0 <= I < N"));
                }
                c.shard = Some((i, n));
            }
            Long("links-out") => cli.links_out = Some(non_empty(&mut parser, &name)?),
            Short('c') | Long("concurrency") => {
                c.concurrency = positive(&name, &text(&mut parser, &name)?)?;
            }
            Long("per-host") => c.per_host = positive(&name, &text(&mut parser, &name)?)?,
            Long("delay") => {
                c.delay = Duration::from_millis(number(&name, &text(&mut parser, &name)?)?);
            }
            Short('T') | Long("timeout") => c.timeout = seconds(&name, &text(&mut parser, &name)?)?,
            Long("connect-timeout") => {
                c.connect_timeout = seconds(&name, &text(&mut parser, &name)?)?;
            }
            Long("idle-timeout") => c.idle_timeout = seconds(&name, &text(&mut parser, &name)?)?,
            Long("max-body") => c.max_body = number(&name, &text(&mut parser, &name)?)?,
            Long("retries") => c.retries = number(&name, &text(&mut parser, &name)?)?,
            Short('U') | Long("user-agent") => c.user_agent = text(&mut parser, &name)?,
            Long("ca-file") => {
                let path = non_empty(&mut parser, &name)?;
                c.ca_pem.push(read_ca_file(&path)?);
            }
            Long("insecure") => c.insecure = true,
            Short('o') | Long("out") => c.out_dir = Some(non_empty(&mut parser, &name)?.into()),
            Long("save-errors") => c.save_errors = true,
            Long("jsonl") => cli.jsonl = Some(non_empty(&mut parser, &name)?),
            Short('q') | Long("quiet") => cli.quiet = true,
            Long("stats") => cli.stats = true,
            Long("state") => cli.state = Some(non_empty(&mut parser, &name)?),
            Long("force") => cli.force = true,
            Long("export-jsonl") => cli.export_jsonl = Some(non_empty(&mut parser, &name)?),
            Long("crawl") => cli.crawl = Some(non_empty(&mut parser, &name)?),
            Long("status") => cli.status = true,
            Long("lease") => {
                let secs = seconds(&name, &text(&mut parser, &name)?)?;
                if secs < Duration::from_secs(1) {
                    return Err(format!("{name} must be at least 1 second"));
                }
                cli.lease = Some(secs);
            }
            Long("demo-pages") => {
                let n = positive(&name, &text(&mut parser, &name)?)?;
                if n > MAX_DEMO_PAGES {
                    return Err(format!("--demo-pages must be at most {MAX_DEMO_PAGES}"));
                }
                cli.demo_pages = n;
            }
            Long(other) => return Err(unknown_long(other)),
            Short(other) => return Err(format!("unknown option -{other} (see --help)")),
            Value(seed) => cli.seeds.push(seed_url(seed)?),
        }
    }
    if cli.export_jsonl.is_some() {
        if cli.state.is_none() {
            return Err("--export-jsonl needs --state PATH: the state it exports".into());
        }
        if !cli.seeds.is_empty() || !cli.inputs.is_empty() {
            return Err(
                "--export-jsonl writes the records of --state and crawls nothing: \
                        give it no URL"
                    .into(),
            );
        }
    }
    if cli.force && cli.state.is_none() {
        return Err("--force only means something with --state".into());
    }
    let shared = cli.shared();
    if shared && cli.crawl.is_none() {
        return Err(
            "--state postgres://... needs --crawl NAME: the name every worker of the crawl gives"
                .into(),
        );
    }
    for (given, option) in [
        (cli.crawl.is_some(), "--crawl"),
        (cli.status, "--status"),
        (cli.lease.is_some(), "--lease"),
    ] {
        if given && !shared {
            return Err(format!(
                "{option} only means something with --state postgres://..."
            ));
        }
    }
    if shared && cli.jsonl.is_some() {
        return Err(
            "with --state postgres://... the records are in the database: write them with \
             --export-jsonl FILE (during or after the crawl), not --jsonl"
                .into(),
        );
    }
    if shared && cli.links_out.is_some() {
        return Err(
            "--links-out is for --shard crawls without a database: with --state \
                    postgres://... links to other workers' hosts go to the database"
                .into(),
        );
    }
    if cli.status && (!cli.seeds.is_empty() || !cli.inputs.is_empty()) {
        return Err("--status only reads the crawl: give it no URL".into());
    }
    Ok(Parsed::Run(Box::new(cli)))
}

/// lexopt's errors in this program's words.
fn explain(e: lexopt::Error) -> String {
    match e {
        lexopt::Error::UnexpectedValue { option, value } => format!(
            "{option} takes no value (got {:?}); see --help",
            value.to_string_lossy()
        ),
        lexopt::Error::MissingValue {
            option: Some(option),
        } => format!("{option} needs a value"),
        other => other.to_string(),
    }
}

/// The value of the option just read, as UTF-8 text.
fn text(parser: &mut lexopt::Parser, name: &str) -> Result<String, String> {
    let value = parser
        .value()
        .map_err(|_| format!("{name} needs a value"))?;
    value
        .into_string()
        .map_err(|v| format!("{name}: {:?} is not valid UTF-8", v.to_string_lossy()))
}

/// [`text`], refusing an empty one (`--out ""` would otherwise mean the current directory).
fn non_empty(parser: &mut lexopt::Parser, name: &str) -> Result<String, String> {
    let value = text(parser, name)?;
    if value.is_empty() {
        return Err(format!("{name} needs a value, not an empty one"));
    }
    Ok(value)
}

/// A `--accept-regex` or `--reject-regex`.
fn pattern(parser: &mut lexopt::Parser, name: &str) -> Result<UrlPattern, String> {
    let text = non_empty(parser, name)?;
    UrlPattern::new(&text).map_err(|e| format!("{name} {text:?} is not a valid regex:\n{e}"))
}

/// A `--accept-type` or `--reject-type`: `type/subtype`, or `type/` (or `type/*`) for all of
/// a type.
fn media_type(parser: &mut lexopt::Parser, name: &str) -> Result<String, String> {
    let text = non_empty(parser, name)?;
    let t = text.trim().to_ascii_lowercase();
    let t = t.strip_suffix('*').unwrap_or(&t);
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    match t.split_once('/') {
        Some((kind, sub)) if token(kind) && (sub.is_empty() || token(sub)) => Ok(t.to_string()),
        _ => Err(format!(
            "{name} wants a media type like text/html, or image/ for all images, got {text:?}"
        )),
    }
}

/// A `-H 'Name: value'`, checked by the client itself, so that the two cannot disagree on
/// which headers a caller may set. `User-Agent` is refused here only to point at its option.
fn header(text: &str) -> Result<(String, String), String> {
    let (name, value) = text
        .split_once(':')
        .ok_or_else(|| format!("--header wants 'Name: value', got {text:?}"))?;
    let (name, value) = (name.trim(), value.trim());
    if name.eq_ignore_ascii_case("user-agent") {
        return Err(format!("--header cannot set {name} (use --user-agent)"));
    }
    match wisp::http::Client::builder().header(name, value).build() {
        Ok(_) => Ok((name.to_string(), value.to_string())),
        // `Host`, `Content-Length`, `Connection`, ...: the client writes them itself.
        Err(wisp::http::Error::ReservedHeader { .. }) => Err(format!("--header cannot set {name}")),
        Err(e) => Err(format!("--header {text:?}: {e}")),
    }
}

/// The largest `--ca-file` read: a bundle of every public root is about 200 KiB, and reading
/// `/dev/zero` by mistake must end.
const MAX_CA_FILE: u64 = 16 << 20;

fn read_ca_file(path: &str) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| format!("--ca-file {path}: {e}"))?;
    let mut pem = Vec::new();
    file.take(MAX_CA_FILE + 1)
        .read_to_end(&mut pem)
        .map_err(|e| format!("--ca-file {path}: {e}"))?;
    if pem.len() as u64 > MAX_CA_FILE {
        return Err(format!(
            "--ca-file {path}: larger than {} MiB, not a CA file",
            MAX_CA_FILE >> 20
        ));
    }
    Ok(pem)
}

/// A seed from the command line: refused here, before anything runs, unless it is an absolute
/// http or https URL with a host (a seed read with `--input` is checked by the crawl instead and
/// becomes an error record, so one bad line of a long list does not stop the rest).
fn seed_url(seed: OsString) -> Result<String, String> {
    let seed = seed
        .into_string()
        .map_err(|s| format!("{:?} is not valid UTF-8", s.to_string_lossy()))?;
    match Url::parse(seed.trim()) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host_str().is_some() => Ok(seed),
        Ok(url) => Err(format!(
            "{seed:?}: only http:// and https:// URLs are supported, not {}:",
            url.scheme()
        )),
        Err(e) => Err(format!(
            "{seed:?} is not a URL ({e}); write it in full, like http://{}/",
            seed.trim().trim_matches('/')
        )),
    }
}

/// `unknown option --dept; did you mean --depth?`
fn unknown_long(given: &str) -> String {
    let nearest = LONG_OPTIONS
        .iter()
        .map(|known| (edit_distance(given, known), *known))
        .min();
    match nearest {
        // Up to a third of the word wrong is a typo; more is another word.
        Some((d, known)) if d > 0 && d <= (known.len() / 3).max(1) => {
            format!("unknown option --{given}; did you mean --{known}?")
        }
        _ => format!("unknown option --{given} (see --help)"),
    }
}

/// Levenshtein distance between two short strings, by characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    // `row[j]` is the distance between the prefix of `a` read so far and `b[..j]`.
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
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

/// `--version`.
pub fn version() -> String {
    format!("crawl (wisp) {}\n", env!("CARGO_PKG_VERSION"))
}

/// `--help`, with the defaults of [`Config::default`] and [`SiteConfig::default`].
pub fn help() -> String {
    let d = Config::default();
    let s = |t: Duration| t.as_secs_f64();
    let (same, any) = if d.same_host {
        (" [default]", "")
    } else {
        ("", " [default]")
    };
    format!(
        "\
crawl: a breadth-first web crawler on the wisp runtime.

Usage: crawl [OPTIONS] [URL...]

With no URL (and no --input), crawls a demo site that it serves itself on 127.0.0.1, so you can
see it work without a network. Prints one line per URL to stdout as it lands; the progress
line, notices and the closing summary go to stderr, so `crawl > list.txt` holds records only.

Options take their value as `--depth 2`, `--depth=2`, `-d 2` or `-d2`; short flags combine
(`-qn 5`); `--` ends the options (what follows is URLs).

Seeds:
  URL...                    start from these URLs (http:// or https:// only: anything else
                            is refused, with exit status 2, before the crawl starts)
  -i, --input FILE          read more seed URLs from FILE, one per line ('-' for stdin;
                            repeatable; blank lines and lines starting with # are skipped;
                            a line that is not a URL becomes an error record)

Scope:
  -d, --depth N             follow links at most N hops from a seed [{depth}]
  -n, --max-pages N         fetch at most N URLs (robots.txt refusals do not count)
      --max-frontier N      keep at most N URLs in memory (queued, fetched or seen); new
                            links found past it are dropped, and the summary counts them
                            [{max_frontier}]
      --same-host           only follow links to the seeds' hosts{same}
      --any-host            follow links to any host{any}
      --allow-host HOST     also follow links to HOST (repeatable)
      --accept-regex RE     follow only links whose URL (normalized, as the records show
                            it) matches RE somewhere (Rust regex syntax, ASCII classes;
                            anchor with ^ $); repeatable: a link is followed if any
                            matches. Seeds, and the redirects they lead to, are not
                            checked (as in wget)
      --reject-regex RE     do not follow links whose URL matches RE (repeatable; wins
                            over --accept-regex). Links refused get no record, like links
                            out of scope; the targets of their redirects are checked too
      --accept-type TYPE    read only bodies of media type TYPE: text/html, or image/ (or
                            image/*) for all images (repeatable); a response without a
                            Content-Type is application/octet-stream
      --reject-type TYPE    do not read bodies of media type TYPE (repeatable; wins over
                            --accept-type). A response not read is still a record, with its
                            status and content_type and an error saying \"filtered: ...\";
                            it is counted as filtered, not as an error, and its connection
                            is closed instead of reused
      --sitemap             also crawl, as seeds (depth 0), the URLs of the sitemaps of the
                            seeds' origins: robots.txt's Sitemap: lines and /sitemap.xml,
                            sitemap indexes and .gz files included (50 000 URLs and 50 MB
                            per file at most), read before the crawl starts; unlike seeds,
                            they must be in scope and pass --accept-regex/--reject-regex
      --ignore-robots       do not fetch or honour robots.txt
      --shard I/N           crawl only hosts with shard_of(host, N) == I (FNV-1a 64 of the
                            lowercased host, mod N); links to other shards go to --links-out
      --links-out FILE      write links that belong to other shards to FILE

Politeness and limits:
  -c, --concurrency N       fetches at once, in all [{concurrency}]
      --per-host N          fetches at once per host [{per_host}]
      --delay MS            wait MS milliseconds between fetches from one host [{delay}]
  -T, --timeout SECS        total time per request (each redirect hop, each retry) [{timeout}]
      --connect-timeout SECS  time to open a connection [{connect}]
      --idle-timeout SECS   time without a byte from the server [{idle}]
      --max-body BYTES      largest body accepted [{max_body}]
      --retries N           retries of connect failures, 429 and 503, with backoff [{retries}]
  -U, --user-agent TEXT     the User-Agent header [{user_agent}]
  -H, --header 'NAME: VALUE'  send this header with page requests to the seeds' origins
                            (scheme, host and port) only: not to other hosts reached by
                            links or redirects, not with robots.txt (repeatable)
      --ca-file FILE        also trust the CA certificates in FILE (PEM) for https
      --insecure            do not check https certificates at all (encrypted, not
                            authenticated: anyone in the middle can read the crawl)

Demo:
      --demo-pages N        pages in the demo site crawled when no URL is given [{pages}]
                            (at most {max_pages})

Output:
  -o, --out DIR             save 2xx bodies under DIR/<host>/<path>: never outside DIR, never
                            through a symlink, each file whole or not at all (written under
                            a temporary name, then renamed); a body that cannot be saved is
                            named in its record (save_error) and counted in the summary
      --save-errors         with --out, also save the bodies of non-2xx responses
      --jsonl FILE          one JSON record per URL to FILE ('-' for stdout, and then no
                            per-URL lines): url, final_url, status, bytes, content_type,
                            sha256, depth, elapsed_ms, redirects, error, encoded_bytes,
                            save_error, referrer, fetched_at (the README describes each)
  -q, --quiet               no per-URL lines, no progress line, no notices (the summary and
                            errors are still written to stderr)
      --stats               after the summary, a table by host on stderr: records, 2xx, 3xx,
                            4xx, 5xx, errors, bytes
      --state PATH          keep the crawl's state in the file PATH (SQLite): run the same
                            command again to resume it after Ctrl-C or a crash. No URL with
                            a record is fetched again; --jsonl FILE is cut back to the
                            records the state holds and appended to. Resuming with other
                            seeds, --depth, scope or filters is refused (needs the `state`
                            feature: cargo run --release --features state --bin crawl)
      --force               with --state, resume even with those options changed
      --export-jsonl FILE   write every record of --state to FILE ('-' for stdout) and exit
      --state postgres://USER[:PASSWORD]@HOST[:PORT]/DB --crawl NAME
                            one crawl shared by any number of workers, on any number of
                            machines: run the same command in each (needs the `postgres`
                            feature). Hosts are split among the live workers; a worker that
                            dies has its share taken over. Records: --export-jsonl FILE
      --crawl NAME          which crawl of the database (created by its first worker)
      --status              with --state postgres://...: print where the crawl stands, exit
      --lease SECONDS       how long a worker's claim on its hosts holds without renewal
                            (default 60; renewed every third of it)
  -h, --help                this help
  -V, --version             the version

Ctrl-C or SIGTERM stops taking new URLs, lets in-flight fetches finish ({grace} s at most), writes
their records and the summary, and exits with status 130. A closed stdout (`crawl | head -5`)
stops the crawl the same way, quietly; it is neither an interruption nor an output error.

Exit status (the first that applies; wget's numbers where they mean the same):
  2    bad arguments (an unknown option, a bad value, a seed that is not an http(s) URL, an
       unreadable --input or --ca-file); nothing was fetched        (wget: 2 parse error)
  1    the crawl could not start (the demo site, the signal handler) (wget: 1 generic)
  3    some output was not written: a body not saved under --out, a --jsonl or --links-out
       file that could not be created or written, a write error on stdout
                                                                    (wget: 3 file I/O error)
  130  interrupted by Ctrl-C or SIGTERM (after writing every record and the summary)
  4    some URLs ended in an error: network, timeout, TLS, a broken response, a body over
       --max-body, robots.txt unreachable, a bad URL in --input     (wget: 4 network failure,
       and also its 5 SSL and 7 protocol errors, which the records tell apart)
  0    every URL was answered, whatever its HTTP status: a 404 or a 500 is a record, not a
       failure of the crawl, and robots.txt refusals and bodies left unread by
       --accept-type or --reject-type are not errors (wget gives 8 for an error status and 6
       for a failed authentication; here the records' status says it)
",
        depth = d.max_depth,
        max_frontier = d.max_frontier,
        concurrency = d.concurrency,
        per_host = d.per_host,
        delay = d.delay.as_millis(),
        timeout = s(d.timeout),
        connect = s(d.connect_timeout),
        idle = s(d.idle_timeout),
        max_body = d.max_body,
        retries = d.retries,
        user_agent = d.user_agent,
        pages = SiteConfig::default().pages,
        max_pages = MAX_DEMO_PAGES,
        grace = s(d.grace),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Result<Parsed, String> {
        parse(list.iter().map(OsString::from))
    }

    fn cli(list: &[&str]) -> Cli {
        match args(list) {
            Ok(Parsed::Run(cli)) => *cli,
            Ok(_) => panic!("{list:?}: help or version"),
            Err(e) => panic!("{list:?}: {e}"),
        }
    }

    fn err(list: &[&str]) -> String {
        match args(list) {
            Err(e) => e,
            Ok(_) => panic!("{list:?} accepted"),
        }
    }

    #[test]
    fn long_options_take_a_value_after_a_space_or_an_equals_sign() {
        let c = cli(&[
            "--depth",
            "2",
            "--max-pages=10",
            "--shard",
            "1/4",
            "http://a/",
        ]);
        assert_eq!(c.config.max_depth, 2);
        assert_eq!(c.config.max_pages, Some(10));
        assert_eq!(c.config.shard, Some((1, 4)));
        assert_eq!(c.seeds, ["http://a/"]);
    }

    #[test]
    fn short_options_glue_their_value_and_combine() {
        let c = cli(&["-d2", "-qn", "5", "-c=3"]);
        assert_eq!(c.config.max_depth, 2);
        assert!(c.quiet);
        assert_eq!(c.config.max_pages, Some(5));
        assert_eq!(c.config.concurrency, 3);
    }

    #[test]
    fn double_dash_ends_the_options() {
        let e = err(&["--", "--depth"]);
        assert!(e.contains("\"--depth\" is not a URL"), "{e}");
        assert_eq!(cli(&["-q", "--", "http://a/"]).seeds, ["http://a/"]);
    }

    #[test]
    fn a_flag_given_a_value_is_refused() {
        let e = err(&["--quiet=no"]);
        assert!(e.contains("--quiet takes no value"), "{e}");
    }

    #[test]
    fn an_unknown_option_names_the_nearest() {
        assert_eq!(
            err(&["--dept", "2"]),
            "unknown option --dept; did you mean --depth?"
        );
        assert_eq!(
            err(&["--max-page=3"]),
            "unknown option --max-page; did you mean --max-pages?"
        );
        // Nothing near: no guess.
        assert_eq!(err(&["--bogus"]), "unknown option --bogus (see --help)");
        assert!(err(&["-x"]).contains("unknown option -x"));
    }

    #[test]
    fn bad_values_explain() {
        assert!(err(&["--depth", "x"]).contains("--depth"));
        assert!(err(&["--shard", "4/4"]).contains("0 <= I < N"));
        assert!(err(&["--concurrency", "0"]).contains("at least 1"));
        assert!(err(&["--timeout"]).contains("--timeout needs a value"));
        assert!(err(&["--demo-pages", "99999999999"]).contains("at most"));
        assert!(err(&["--out="]).contains("not an empty one"));
        assert!(err(&["--ca-file", "/dev/zero"]).contains("not a CA file"));
    }

    #[test]
    fn seeds_must_be_http_urls() {
        assert!(err(&["notaurl"]).contains("not a URL"));
        assert!(err(&["ftp://x/"]).contains("only http:// and https://"));
        assert!(err(&["-"]).contains("not a URL"));
        assert_eq!(cli(&["https://a.example/x"]).seeds, ["https://a.example/x"]);
    }

    #[test]
    fn filters_and_headers_repeat_and_keep_what_follows_the_first_colon() {
        let c = cli(&[
            "--accept-regex=/a/",
            "--accept-regex",
            "/b/",
            "--reject-type",
            "IMAGE/*",
            "-H",
            "Authorization: Bearer a:b",
            "-HX-One:1",
        ]);
        let accept: Vec<&str> = c.config.accept_urls.iter().map(|p| p.as_str()).collect();
        assert_eq!(accept, ["/a/", "/b/"]);
        assert_eq!(c.config.reject_types, ["image/"]);
        let headers = [
            ("Authorization".to_string(), "Bearer a:b".to_string()),
            ("X-One".to_string(), "1".to_string()),
        ];
        assert_eq!(c.config.headers, headers);
    }

    #[test]
    fn help_and_version() {
        assert!(matches!(args(&["-h"]), Ok(Parsed::Help)));
        assert!(matches!(args(&["--version"]), Ok(Parsed::Version)));
        assert!(matches!(args(&["-V"]), Ok(Parsed::Version)));
    }

    #[test]
    fn help_shows_the_defaults_of_config() {
        let d = Config::default();
        let help = help();
        assert!(help.contains(&format!("[{}]", d.max_depth)));
        assert!(help.contains(&format!("[{}]", d.max_body)));
        assert!(help.contains(&format!("[{}]", d.user_agent)));
        assert!(
            help.contains("[30]"),
            "the timeout is shown in whole seconds"
        );
    }

    #[test]
    fn every_listed_long_option_is_accepted() {
        for name in LONG_OPTIONS {
            let e = args(&[&format!("--{name}")]).err().unwrap_or_default();
            assert!(!e.contains("unknown option"), "--{name}: {e}");
        }
    }

    #[test]
    fn edit_distance_counts_single_character_edits() {
        assert_eq!(edit_distance("dept", "depth"), 1); // one insertion
        assert_eq!(edit_distance("detph", "depth"), 2); // a swap is two substitutions
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }
}
