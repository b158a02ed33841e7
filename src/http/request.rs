//! A request being built: method, URL, its own headers and body, then sent with
//! [`send`](RequestBuilder::send) or `.await`.

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::time::SystemTime;

use futures_io::AsyncRead;
use url::Url;

use super::client::Client;
use super::error::Error;
use super::headers::CustomHeader;
use super::http_date;
use super::method::Method;
use super::response::Response;
use super::upload::Outgoing;

/// A request to send, made by [`Client::request`] and its shorthands ([`Client::post`],
/// [`Client::put`], ...). Nothing is checked or sent until [`send`](RequestBuilder::send) (or
/// `.await`, which is the same): a bad URL or header is the error `send` returns.
///
/// ```no_run
/// # wisp::block_on(async {
/// let client = wisp::http::Client::new();
/// let response = client
///     .post("http://127.0.0.1:8080/api/items")
///     .header("Content-Type", "application/json")
///     .body(r#"{"name": "wisp"}"#)
///     .send()
///     .await?;
/// assert_eq!(response.status(), 201);
/// # Ok::<(), wisp::http::Error>(())
/// # }).unwrap();
/// ```
///
/// A body from a stream is sent chunked unless its length is given; a file, say, with
/// [`body_reader_with_length`](RequestBuilder::body_reader_with_length). A stream is read once:
/// such a request is not sent again after a stale connection, and a `307`/`308` redirect that
/// asks for the body again ends with [`Error::BodyNotReplayable`].
#[must_use = "a request does nothing until it is sent"]
pub struct RequestBuilder {
    client: Client,
    request: Request,
}

/// A request as the client's loop runs it.
pub(crate) struct Request {
    pub(crate) method: Method,
    /// A URL that did not parse is the error `send` returns.
    pub(crate) url: Result<Url, Error>,
    pub(crate) headers: Vec<CustomHeader>,
    pub(crate) body: RequestBody,
    /// Sent again after losing the stale-connection race even if the method is not idempotent.
    pub(crate) retry_on_stale: bool,
}

impl Request {
    pub(crate) fn new(method: Method, url: Result<Url, Error>) -> Request {
        Request {
            method,
            url,
            headers: Vec::new(),
            body: RequestBody::Empty,
            retry_on_stale: false,
        }
    }
}

/// What follows a request's head.
pub(crate) enum RequestBody {
    Empty,
    /// Bytes kept for as long as the request runs, so they can be sent again.
    Bytes(Vec<u8>),
    /// A stream, read once: `None` after it was sent.
    Reader {
        reader: Option<Pin<Box<dyn AsyncRead + Send>>>,
        len: Option<u64>,
    },
}

impl RequestBody {
    /// Whether the body can be sent a second time (after a stale connection, or a 307).
    pub(crate) fn replayable(&self) -> bool {
        !matches!(self, RequestBody::Reader { .. })
    }

    /// The framing header this body goes out with, if any.
    pub(crate) fn framing(&self, method: Method) -> Option<String> {
        match self {
            RequestBody::Empty if method.expects_body() => Some("Content-Length: 0".into()),
            RequestBody::Empty => None,
            RequestBody::Bytes(bytes) => Some(format!("Content-Length: {}", bytes.len())),
            RequestBody::Reader { len: Some(n), .. } => Some(format!("Content-Length: {n}")),
            RequestBody::Reader { len: None, .. } => Some("Transfer-Encoding: chunked".into()),
        }
    }

    /// The body for one attempt. A stream goes out with its first attempt; the client never
    /// asks for it twice (no retry, no replaying redirect), and if it did this is an error, not
    /// a request with no body after a framing header that announced one.
    pub(crate) fn outgoing(&mut self) -> Result<Outgoing<'_>, Error> {
        Ok(match self {
            RequestBody::Empty => Outgoing::None,
            RequestBody::Bytes(bytes) => Outgoing::Bytes(bytes),
            RequestBody::Reader { reader, len } => Outgoing::Reader {
                reader: reader.take().ok_or_else(|| {
                    Error::Io(std::io::Error::other(
                        "the request body stream was already sent",
                    ))
                })?,
                len: *len,
            },
        })
    }
}

impl RequestBuilder {
    pub(crate) fn new(client: Client, method: Method, url: Result<Url, Error>) -> RequestBuilder {
        RequestBuilder {
            client,
            request: Request::new(method, url),
        }
    }

    /// A header for this request, replacing a client-wide one of the same name. Checked when
    /// the request is sent: a name that is not a token or a value with CR, LF or another
    /// control is [`Error::InvalidHeader`] (never a second header), and the headers the client
    /// writes itself (`Host`, `Content-Length`, `Transfer-Encoding`, `Connection`, ...) are
    /// [`Error::ReservedHeader`]. `Authorization`, `Cookie` and `Proxy-Authorization` are
    /// sensitive: see [`sensitive_header`](RequestBuilder::sensitive_header).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let header = CustomHeader::new(name.into(), value.into(), false);
        self.request.headers.push(header);
        self
    }

    /// A header for this request that is sent only to the origin of the URL it starts at, as
    /// [`ClientBuilder::sensitive_header`](super::ClientBuilder::sensitive_header) does for
    /// every request.
    pub fn sensitive_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let header = CustomHeader::new(name.into(), value.into(), true);
        self.request.headers.push(header);
        self
    }

    /// The body, sent with its `Content-Length`. The bytes are kept until the response
    /// arrives, so the request can be sent again (after a stale connection, or a 307 or 308
    /// redirect).
    pub fn body(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.request.body = RequestBody::Bytes(bytes.into());
        self
    }

    /// A body read from `reader` as it is sent, with the chunked transfer coding (its length
    /// is not known). Read once: see the type's documentation. The idle timeout covers the
    /// reader too: a stream that gives nothing for that long ends the request with
    /// [`Error::Timeout`], as a silent server would.
    pub fn body_reader(mut self, reader: impl AsyncRead + Send + 'static) -> Self {
        self.request.body = RequestBody::Reader {
            reader: Some(Box::pin(reader)),
            len: None,
        };
        self
    }

    /// A body of exactly `len` bytes read from `reader`, sent with `Content-Length: len`. A
    /// stream that ends sooner fails the request with [`Error::RequestBody`] (the server would
    /// otherwise wait for the rest); bytes after the first `len` are not read.
    pub fn body_reader_with_length(
        mut self,
        reader: impl AsyncRead + Send + 'static,
        len: u64,
    ) -> Self {
        self.request.body = RequestBody::Reader {
            reader: Some(Box::pin(reader)),
            len: Some(len),
        };
        self
    }

    /// `If-None-Match: etag`: the server answers `304 Not Modified` (with no body) if its
    /// current version still has this entity tag, as a previous response's
    /// [`etag`](Response::etag) gave it (quotes included).
    pub fn if_none_match(self, etag: impl Into<String>) -> Self {
        self.header("If-None-Match", etag)
    }

    /// `If-Modified-Since: date`, with the date as a previous response's
    /// [`last_modified`](Response::last_modified) gave it: sending the server's own value back
    /// is what RFC 9110 section 13.1.3 recommends (no clock of ours enters the comparison).
    pub fn if_modified_since(self, last_modified: impl Into<String>) -> Self {
        self.header("If-Modified-Since", last_modified)
    }

    /// `If-Modified-Since` with a time of ours, written as an HTTP date.
    pub fn if_modified_since_time(self, time: SystemTime) -> Self {
        self.header("If-Modified-Since", http_date::format(time))
    }

    /// Whether this request may be sent again when the pooled connection it went out on turns
    /// out closed by the server before any answer (default: only for idempotent methods, see
    /// [`Method::is_idempotent`]). Say `true` for a POST the server treats as idempotent (one
    /// with an idempotency key, say). A body from a stream is never sent twice.
    pub fn retry_on_stale(mut self, allow: bool) -> Self {
        self.request.retry_on_stale = allow;
        self
    }

    /// Sends the request, following redirects as the client is configured to. The response's
    /// body is left to read.
    pub async fn send(self) -> Result<Response, Error> {
        self.client.execute(self.request).await
    }
}

impl IntoFuture for RequestBuilder {
    type Output = Result<Response, Error>;
    type IntoFuture = Pin<Box<dyn Future<Output = Result<Response, Error>> + Send>>;

    /// `request.await` is `request.send().await`.
    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.send())
    }
}

impl std::fmt::Debug for RequestBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let url = match &self.request.url {
            Ok(url) => url.as_str(),
            Err(_) => "(invalid)",
        };
        f.debug_struct("RequestBuilder")
            .field("method", &self.request.method)
            .field("url", &url)
            .field("headers", &self.request.headers.len())
            .finish_non_exhaustive()
    }
}
