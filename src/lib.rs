//! wisp: a small async runtime you can hold in your head.
//!
//! - [`block_on`] runs a future on the current thread, [`spawn`] starts a task beside it;
//!   a [`Task`] is awaited, cancelled by drop, or [`detach`](Task::detach)ed.
//! - [`Executor`] is the same machine for people who embed or test: spawn, tick, run.
//! - [`time`]: `sleep`, `timeout`, `interval` on a hierarchical timer wheel.
//! - [`join_all`], [`join`] and [`race`] run futures side by side.
//! - [`unblock`] runs a blocking call on a thread pool and awaits its result.
//! - [`Async`] registers any file descriptor (a pipe, an eventfd) with the reactor.
//!
//! ```
//! use std::time::Duration;
//! let out = wisp::block_on(async {
//!     let t = wisp::spawn(async { 1 + 1 });
//!     wisp::time::sleep(Duration::from_millis(5)).await;
//!     t.await
//! });
//! assert_eq!(out, 2);
//! ```
//!
//! See `ARCHITECTURE.md` for the parts and how a wake-up travels.

mod async_fd;
mod blocking;
#[cfg(feature = "crawl")]
pub mod crawl;
mod current_waker;
mod executor;
#[cfg(feature = "http")]
mod fnv;
mod free_set;
#[cfg(feature = "http")]
pub mod http;
mod io_owner;
mod join;
#[cfg(all(test, wisp_loom))]
mod loom_models;
pub mod net;
mod reactor;
mod run_queue;
mod runtime;
#[cfg(feature = "signal")]
pub mod signal;
mod slab;
mod sync;
mod task;
pub mod test;
pub mod time;
mod yield_now;

pub use async_fd::Async;
pub use blocking::{Unblock, unblock};
pub use executor::{Executor, Spawner};
pub use join::{JoinAll, join, join_all, race};
pub use runtime::{block_on, spawn, spawn_named};
pub use task::Task;
pub use yield_now::{YieldNow, yield_now};

/// The README's examples, compiled and run as doc tests so they stay true.
#[cfg(all(doctest, feature = "http"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
