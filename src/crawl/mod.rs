//! A web crawler on wisp's own runtime and HTTP client: what `cargo run --example crawl` runs.
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
//! The parts: `crawler` (the frontier, the limits, one record per URL), [`links`] (links out of
//! HTML with a real tokenizer, read in the page's own encoding as [`charset`] decides it),
//! [`normalize`] (URL forms that mean the same page, and the compact key the visited set
//! stores), `robots` (robots.txt, RFC 9309), [`save`] (where a body goes under `--out`),
//! `out_file` (writing it there without following symlinks, whole or not at all), [`shard`]
//! (which machine crawls which host), [`record`] (the JSON line per URL) and [`demo`] (the
//! generated site the example crawls by default).

pub mod charset;
mod crawler;
pub mod demo;
pub mod links;
pub mod normalize;
// The fetch engine (being rewritten) saves bodies through it; until it does, nothing calls it.
#[allow(dead_code)]
pub(crate) mod out_file;
pub mod record;
mod robots;
pub mod save;
pub mod shard;

pub use crawler::{Config, DISALLOWED, Hooks, Progress, Summary, crawl, crawl_with_progress};
pub use record::Record;
