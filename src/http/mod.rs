//! An HTTP/1.1 client on wisp's own sockets and timers: keep-alive pooling, redirects, and
//! timeouts, written to survive servers that misbehave.
//!
//! ```no_run
//! # wisp::block_on(async {
//! let page = wisp::http::get("http://example.com/").await?;
//! assert_eq!(page.status(), 200);
//! let html = page.text().await?;
//! # Ok::<(), wisp::http::Error>(())
//! # }).unwrap();
//! ```
//!
//! A request with a method, headers or a body of its own is built with [`Client::request`] (or
//! [`Client::post`], [`Client::put`], ...):
//!
//! ```no_run
//! # wisp::block_on(async {
//! let client = wisp::http::Client::new();
//! let created = client
//!     .post("http://127.0.0.1:8080/items")
//!     .header("Content-Type", "application/json")
//!     .body(r#"{"name": "wisp"}"#)
//!     .await?;
//! println!("{}", created.status());
//! # Ok::<(), wisp::http::Error>(())
//! # }).unwrap();
//! ```
//!
//! The parts: [`framing`] turns bytes into response heads and bodies (pure, no I/O, with limits
//! on everything a server controls); `headers` checks what a caller asks to send; `parse_url` parses a URL given as text,
//! the origin of the last one remembered; `conn` owns
//! one connection and its clocks; `upload` sends a request while watching for an early answer;
//! `pool` keeps idle connections; [`Client`] runs the request loop (redirects, the
//! stale-connection retry) for a [`RequestBuilder`]; a [`Response`] streams its body and gives
//! the connection back when the body ends.
//!
//! What no server can do to this client: panic it (every input is parsed with explicit errors),
//! hang it (connect, idle and total timeouts bound every wait), or make it buffer without bound
//! (heads, chunk lines, trailers and bodies all have limits).

mod client;
mod conn;
pub mod decode;
mod error;
pub mod framing;
mod headers;
pub(crate) mod http_date;
mod method;
pub(crate) mod parse_url;
mod pool;
mod request;
mod response;
#[cfg(feature = "tls")]
mod tls;
mod upload;

pub use client::{Client, ClientBuilder, RedirectPolicy, redirect_target};
pub use error::{Error, Phase, Reason};
pub use framing::{Limits, ParseError};
pub use method::Method;
pub use request::RequestBuilder;
pub use response::Response;

use std::sync::OnceLock;

/// The client behind [`get`] and [`head`], shared by the whole process.
fn default_client() -> &'static Client {
    static CLIENT: OnceLock<Client> = OnceLock::new();
    CLIENT.get_or_init(Client::new)
}

/// `GET url` with a default [`Client`] shared by the process.
pub async fn get(url: &str) -> Result<Response, Error> {
    default_client().get(url).await
}

/// `HEAD url` with a default [`Client`] shared by the process.
pub async fn head(url: &str) -> Result<Response, Error> {
    default_client().head(url).await
}
