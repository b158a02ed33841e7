//! A web crawler on wisp's own runtime and HTTP client: what `cargo run --bin crawl` runs.
//!
//! ```no_run
//! use std::sync::Arc;
//! use std::sync::atomic::AtomicBool;
//! use wisp::crawl::{Config, Hooks, crawl};
//!
//! let config = Config { max_depth: 2, ..Config::default() };
//! let summary = wisp::block_on(crawl(
//!     &config,
//!     ["http://example.com/".to_string()],
//!     Hooks {
//!         on_record: Box::new(|record| println!("{}", record.to_json())),
//!         on_foreign_link: Box::new(|_| {}),
//!         stop: Arc::new(AtomicBool::new(false)),
//!     },
//! ))
//! .unwrap();
//! eprintln!("{summary}");
//! ```
//!
//! The parts: `config` (what a crawl can be told), `engine` (the dispatcher: limits,
//! politeness, one record per URL), `frontier` (the queues, and exact depths without a level
//! barrier), `retry` (which failures are tried again, and when), `fetch` (one request, its
//! body streamed and saved), `stats` (the summary, progress and latency histogram), [`links`]
//! (links out of HTML with a real tokenizer, read in the page's own encoding as [`charset`]
//! decides it), [`normalize`] (URL forms that mean the same page, and the compact key the
//! visited set stores), `robots` (robots.txt, RFC 9309), [`save`] (where a body goes under
//! `--out`), `out_file` (writing it there without following symlinks, whole or not at all),
//! [`shard`] (which machine crawls which host), [`record`] (the JSON line per URL).
//!
//! The generated demo site the command line crawls by default is not part of the library: it
//! is support code of the `crawl` program (`src/bin/crawl/demo/`), built on wisp's public API.

pub mod charset;
mod config;
mod engine;
mod fetch;
mod frontier;
// Only the states (`--state`) keep a journal.
#[cfg_attr(not(any(feature = "state", feature = "postgres")), allow(dead_code))]
mod journal;
mod link_tags;
pub mod links;
mod mailbox;
pub mod normalize;
mod out_file;
#[cfg(feature = "postgres")]
mod pg_wire;
pub mod record;
mod retry;
mod robots;
mod robots_rules;
pub mod save;
mod scope;
pub mod shard;
#[cfg(feature = "postgres")]
pub mod shared;
mod sitemap;
#[cfg(feature = "state")]
pub mod state;
mod stats;
mod timestamp;

pub use config::{Config, FILTERED, Hooks, PatternError, UrlPattern, type_matches};
pub use engine::{crawl, crawl_with_progress};
pub use record::Record;
pub use robots::DISALLOWED;
pub use stats::{Progress, Summary};
