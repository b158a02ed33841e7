//! The [`Client`]: configuration, the request loop (redirects, the stale-connection retry), and
//! the connection pool it shares between requests.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use url::{Position, Url};

use super::conn::{Clocks, Conn, Origin};
use super::decode::{Coding, ContentDecoder};
use super::error::Error;
use super::framing::{BodyKind, Head, Limits, body_kind};
use super::headers::{self, CustomHeader};
use super::method::Method;
use super::pool::{Pool, PoolHandle};
use super::request::{Request, RequestBody, RequestBuilder};
use super::response::{Body, Response};
use super::upload::{self, Sent};
use crate::time::now;

/// Decides whether to follow a redirect from the first URL to the second. Returning `false`
/// hands the 3xx response itself to the caller.
pub type RedirectPolicy = Arc<dyn Fn(&Url, &Url) -> bool + Send + Sync>;

/// A redirect response's body is read and thrown away (so its connection can be reused) only up
/// to this size; a larger one closes the connection instead.
const MAX_DRAIN: u64 = 64 * 1024;

/// An HTTP/1.1 client with a keep-alive pool. Cheap to clone: clones share the pool.
///
/// ```no_run
/// # wisp::block_on(async {
/// let client = wisp::http::Client::builder().user_agent("my-bot/1.0").build()?;
/// let page = client.get("http://example.com/").await?;
/// println!("{} {}", page.status(), page.text().await?);
/// # Ok::<(), wisp::http::Error>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    /// Shared with every response whose connection may come back to it.
    pool: PoolHandle,
    #[cfg(feature = "tls")]
    tls: super::tls::Tls,
}

#[derive(Clone)]
struct Config {
    user_agent: String,
    headers: Vec<CustomHeader>,
    max_redirects: usize,
    redirect_policy: Option<RedirectPolicy>,
    /// Follow a redirect from `https` to `http` (else it is [`Error::InsecureRedirect`]).
    allow_https_downgrade: bool,
    connect_timeout: Duration,
    idle_timeout: Duration,
    total_timeout: Option<Duration>,
    max_body: u64,
    limits: Limits,
    /// Ask for gzip and deflate bodies and decode them.
    decompress: bool,
}

/// Builds a [`Client`]; every setting has a default a crawler can live with.
pub struct ClientBuilder {
    config: Config,
    ca_pems: Vec<Vec<u8>>,
    accept_invalid_certs: bool,
    max_idle_per_origin: usize,
    max_idle_total: usize,
    idle_expiry: Duration,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        ClientBuilder {
            ca_pems: Vec::new(),
            accept_invalid_certs: false,
            config: Config {
                user_agent: concat!("wisp/", env!("CARGO_PKG_VERSION")).to_string(),
                headers: Vec::new(),
                max_redirects: 10,
                redirect_policy: None,
                allow_https_downgrade: false,
                connect_timeout: Duration::from_secs(10),
                idle_timeout: Duration::from_secs(30),
                total_timeout: Some(Duration::from_secs(120)),
                max_body: 64 * 1024 * 1024,
                limits: Limits::default(),
                decompress: true,
            },
            max_idle_per_origin: 64,
            max_idle_total: 512,
            idle_expiry: Duration::from_secs(4),
        }
    }
}

impl ClientBuilder {
    /// The `User-Agent` header (default `wisp/<version>`).
    pub fn user_agent(mut self, agent: impl Into<String>) -> Self {
        self.config.user_agent = agent.into();
        self
    }

    /// A header sent with every request. Checked by [`build`](ClientBuilder::build).
    ///
    /// `Authorization`, `Cookie` and `Proxy-Authorization` are sensitive whichever way they are
    /// set: see [`sensitive_header`](ClientBuilder::sensitive_header).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let header = CustomHeader::new(name.into(), value.into(), false);
        self.config.headers.push(header);
        self
    }

    /// A header sent with every request, but only to the origin (scheme, host and port) of the
    /// URL each request starts at: once a redirect leads to another origin, it is left out for
    /// the rest of that request's redirects, even if they lead back (what the server on the way
    /// chose is not trusted with it). For API keys and other credentials in custom headers
    /// (curl CVE-2018-1000007). Checked by [`build`](ClientBuilder::build).
    pub fn sensitive_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let header = CustomHeader::new(name.into(), value.into(), true);
        self.config.headers.push(header);
        self
    }

    /// Redirects followed per request before [`Error::TooManyRedirects`] (default 10; 0 returns
    /// every 3xx as it is).
    pub fn max_redirects(mut self, n: usize) -> Self {
        self.config.max_redirects = n;
        self
    }

    /// Called before each redirect with the current and the next URL; `false` stops there and
    /// returns the 3xx response. A crawler uses it to stay on one host. It cannot allow what
    /// [`allow_https_downgrade`](ClientBuilder::allow_https_downgrade) refuses.
    pub fn redirect_policy(
        mut self,
        policy: impl Fn(&Url, &Url) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.config.redirect_policy = Some(Arc::new(policy));
        self
    }

    /// Whether a redirect from `https` to `http` is followed (default `false`: it ends the
    /// request with [`Error::InsecureRedirect`], since the request, and whatever the page
    /// leads to, would then travel in clear text; curl CVE-2022-27776). Even when allowed, the
    /// sensitive headers are left out from there on, the origin having changed.
    pub fn allow_https_downgrade(mut self, allow: bool) -> Self {
        self.config.allow_https_downgrade = allow;
        self
    }

    /// Longest wait for a TCP connection to open (default 10 s; `Duration::MAX` for no limit).
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.config.connect_timeout = d;
        self
    }

    /// Longest wait for any single read or write to make progress (default 30 s;
    /// `Duration::MAX` for no limit).
    pub fn idle_timeout(mut self, d: Duration) -> Self {
        self.config.idle_timeout = d;
        self
    }

    /// One deadline for the whole request, every redirect and the body included (default
    /// 120 s; `None`, or a duration too large to add to the clock such as `Duration::MAX`,
    /// for no deadline).
    pub fn total_timeout(mut self, d: Option<Duration>) -> Self {
        self.config.total_timeout = d;
        self
    }

    /// The largest body accepted (default 64 MiB); more is [`Error::BodyTooLarge`].
    pub fn max_body(mut self, bytes: u64) -> Self {
        self.config.max_body = bytes;
        self
    }

    /// Whether to send `Accept-Encoding: gzip, deflate` and decode such bodies (default on).
    /// The body limit counts decoded bytes, so a decompression bomb ends with
    /// [`Error::BodyTooLarge`].
    pub fn decompress(mut self, on: bool) -> Self {
        self.config.decompress = on;
        self
    }

    /// Limits on response heads and chunk framing. Any of them may be as large as `usize::MAX`
    /// (no limit): none sizes an allocation by itself.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.config.limits = limits;
        self
    }

    /// Idle connections kept per origin (default 64) and in all (default 512); 0 keeps none,
    /// `usize::MAX` sets no bound. A caller that derives these from its own numbers (say twice
    /// its concurrency) should use `saturating_mul`. Each idle connection keeps its read
    /// buffer, which grows with what its reads needed up to 72 KiB with the default
    /// [`limits`](ClientBuilder::limits), so that a connection reading large bodies does not
    /// allocate and clear a buffer for each: 512 idle connections hold at most 36 MiB.
    pub fn max_idle(mut self, per_origin: usize, total: usize) -> Self {
        self.max_idle_per_origin = per_origin;
        self.max_idle_total = total;
        self
    }

    /// How long an idle connection is kept (default 4 s, under the 5 s after which nginx and
    /// Node close theirs; `Duration::MAX` keeps it until the server closes it).
    pub fn idle_expiry(mut self, d: Duration) -> Self {
        self.idle_expiry = d;
        self
    }

    /// Trusts the CA certificates in `pem` (PEM text, one or more certificates) besides the
    /// built-in roots: how a test or an intranet crawl trusts its own server. A certificate may
    /// also be a server's own (self-signed) one, as `curl --cacert` takes it: a server presenting
    /// exactly that certificate is trusted, its name and dates still checked. Checked by
    /// [`build`](ClientBuilder::build).
    pub fn ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca_pems.push(pem.into());
        self
    }

    /// Accepts any server certificate, valid or not, for any name. The connection is still
    /// encrypted, but anyone in the middle can read it: for people who know why they need it.
    pub fn danger_accept_invalid_certs(mut self, accept: bool) -> Self {
        self.accept_invalid_certs = accept;
        self
    }

    /// The client, or [`Error::InvalidHeader`] if a custom header could not be sent as is,
    /// [`Error::ReservedHeader`] if it is one the client writes itself, or [`Error::Tls`] if a
    /// CA certificate could not be used.
    pub fn build(self) -> Result<Client, Error> {
        headers::check("User-Agent", &self.config.user_agent)?;
        for header in &self.config.headers {
            header.check()?;
        }
        #[cfg(feature = "tls")]
        let tls = super::tls::Tls::new(&self.ca_pems, self.accept_invalid_certs)?;
        #[cfg(not(feature = "tls"))]
        let _ = (&self.ca_pems, self.accept_invalid_certs);
        Ok(Client {
            inner: Arc::new(Inner {
                #[cfg(feature = "tls")]
                tls,
                pool: PoolHandle::new(Pool::new(
                    self.max_idle_per_origin,
                    self.max_idle_total,
                    self.idle_expiry,
                )),
                config: self.config,
            }),
        })
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let config = &self.inner.config;
        f.debug_struct("Client")
            .field("user_agent", &config.user_agent)
            .field("headers", &config.headers.len())
            .field("max_redirects", &config.max_redirects)
            .finish_non_exhaustive()
    }
}

impl Default for Client {
    fn default() -> Self {
        Client::new()
    }
}

impl Client {
    /// A client with the default settings.
    pub fn new() -> Client {
        ClientBuilder::default()
            .build()
            .expect("the default settings are valid")
    }

    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// `GET url`, following redirects. The body is left to read from the response. For a
    /// `GET` with headers of its own, use [`request`](Client::request).
    pub async fn get(&self, url: &str) -> Result<Response, Error> {
        self.execute(Request::new(Method::Get, parse(url))).await
    }

    /// `HEAD url`, following redirects.
    pub async fn head(&self, url: &str) -> Result<Response, Error> {
        self.execute(Request::new(Method::Head, parse(url))).await
    }

    /// A `method url` request to build: headers, a body, then
    /// [`send`](RequestBuilder::send) (or `.await` it as it is).
    pub fn request(&self, method: Method, url: &str) -> RequestBuilder {
        RequestBuilder::new(self.clone(), method, parse(url))
    }

    /// [`request`](Client::request) with a parsed URL.
    pub fn request_url(&self, method: Method, url: Url) -> RequestBuilder {
        RequestBuilder::new(self.clone(), method, Ok(url))
    }

    /// A `POST url` to build; see [`RequestBuilder`].
    pub fn post(&self, url: &str) -> RequestBuilder {
        self.request(Method::Post, url)
    }

    /// A `PUT url` to build.
    pub fn put(&self, url: &str) -> RequestBuilder {
        self.request(Method::Put, url)
    }

    /// A `DELETE url` to build.
    pub fn delete(&self, url: &str) -> RequestBuilder {
        self.request(Method::Delete, url)
    }

    /// A `PATCH url` to build.
    pub fn patch(&self, url: &str) -> RequestBuilder {
        self.request(Method::Patch, url)
    }

    /// Runs a request: checks its headers, sends it, and follows redirects within the total
    /// deadline.
    ///
    /// Redirects change the request as browsers and curl do: a `303` turns anything but a
    /// `HEAD` into a `GET`, and a `301` or `302` turns a `POST` into a `GET`, both without the
    /// body and the headers that described it; a `307` or `308` keeps the method and sends the
    /// body again, which a stream cannot be ([`Error::BodyNotReplayable`]).
    pub(crate) async fn execute(&self, request: Request) -> Result<Response, Error> {
        let config = &self.inner.config;
        let Request {
            mut method,
            url,
            mut headers,
            mut body,
            retry_on_stale,
        } = request;
        let url = url?;
        for header in &headers {
            header.check()?;
        }
        let clocks = Clocks {
            connect: config.connect_timeout,
            idle: config.idle_timeout,
            // A duration past what an `Instant` holds (`Duration::MAX`) is no deadline.
            deadline: config.total_timeout.and_then(|d| now().checked_add(d)),
        };
        // Turns false for good at the first hop to another origin.
        let mut send_sensitive = true;
        let mut urls = vec![url];
        loop {
            let url = urls.last().expect("never empty");
            send_sensitive &= urls.len() == 1 || same_origin(&urls[0], url);
            let hop = Hop {
                method,
                url,
                headers: &headers,
                send_sensitive,
                may_retry: (method.is_idempotent() || retry_on_stale) && body.replayable(),
            };
            let (head, response_body) = self.send(&hop, &mut body, &clocks).await?;
            let mut response = Response::new(head, std::mem::take(&mut urls), response_body);
            let status = response.status();
            let location = matches!(status, 301 | 302 | 303 | 307 | 308)
                .then(|| response.header("location").map(<[u8]>::to_vec))
                .flatten();
            let Some(location) = location else {
                return Ok(response);
            };
            if config.max_redirects == 0 {
                return Ok(response);
            }
            let url = response.url().clone();
            let next = redirect_target(&url, &location)?;
            if let Some(policy) = &config.redirect_policy
                && !policy(&url, &next)
            {
                return Ok(response);
            }
            if is_downgrade(&url, &next) && !config.allow_https_downgrade {
                return Err(Error::InsecureRedirect {
                    from: url.to_string(),
                    to: next.to_string(),
                });
            }
            if response.redirects() >= config.max_redirects {
                return Err(Error::TooManyRedirects {
                    limit: config.max_redirects,
                });
            }
            if response.urls().iter().any(|u| same_page(u, &next)) {
                return Err(Error::RedirectLoop {
                    url: next.to_string(),
                });
            }
            let becomes_get = match status {
                303 => method != Method::Head,
                301 | 302 => method == Method::Post,
                _ => false,
            };
            if becomes_get {
                method = Method::Get;
                body = RequestBody::Empty;
                headers.retain(|h| !h.describes_body());
            } else if !body.replayable() {
                return Err(Error::BodyNotReplayable {
                    status,
                    to: next.to_string(),
                });
            }
            response.drain(MAX_DRAIN).await;
            urls = response.into_urls();
            urls.push(next);
        }
    }

    /// One request on one connection: a pooled one if there is one (sent again once on a fresh
    /// connection if the server had closed it, when `hop.may_retry`), else a new one. Returns
    /// the response's head and its body, not read yet.
    async fn send(
        &self,
        hop: &Hop<'_>,
        body: &mut RequestBody,
        clocks: &Clocks,
    ) -> Result<(Head, Body), Error> {
        let origin = Origin::of(hop.url)?;
        if let Some(conn) = self.inner.pool.checkout(&origin) {
            let mut got_bytes = false;
            match self
                .exchange(conn, hop, &origin, body, clocks, &mut got_bytes)
                .await
            {
                Ok(response) => return Ok(response),
                // The stale-connection race (RFC 9112 9.3.1): retry once, on a new connection,
                // only if the server sent nothing back and the request may be sent twice.
                Err(Error::Io(_)) if !got_bytes && hop.may_retry => {}
                Err(e) => return Err(e),
            }
        }
        let conn = Conn::connect(
            hop.url,
            clocks,
            #[cfg(feature = "tls")]
            &self.inner.tls,
        )
        .await?;
        let mut got_bytes = false;
        self.exchange(conn, hop, &origin, body, clocks, &mut got_bytes)
            .await
    }

    async fn exchange(
        &self,
        mut conn: Conn,
        hop: &Hop<'_>,
        origin: &Origin,
        body: &mut RequestBody,
        clocks: &Clocks,
        got_bytes: &mut bool,
    ) -> Result<(Head, Body), Error> {
        let config = &self.inner.config;
        let request_head = self.render(hop, body);
        let sent = upload::send(
            &mut conn,
            request_head,
            body.outgoing()?,
            &config.limits,
            clocks,
        )
        .await;
        *got_bytes |= !conn.buffered().is_empty();
        let sent = sent?;
        let head = conn.read_head(&config.limits, clocks, got_bytes).await?;
        let kind = if head.status == 101 {
            // Switching protocols is not something this client speaks: no body, no reuse.
            BodyKind::None
        } else {
            body_kind(hop.method == Method::Head, &head)?
        };
        // A connection whose request body was cut short by the answer is left mid-request.
        let reusable = head.status != 101
            && kind != BodyKind::Close
            && head.keep_alive()
            && sent == Sent::Whole;
        let mut body = Body::new(
            conn,
            kind,
            &config.limits,
            *clocks,
            config.max_body,
            reusable.then(|| (self.inner.pool.clone(), origin.clone())),
        );
        // A body that ended at its start needs no decoder (and no known coding); one that turns
        // out empty later (a bare last chunk, a close) is empty to the decoder too.
        if config.decompress && !body.ended() {
            match Coding::from_header(head.header("content-encoding")) {
                Some(Coding::Identity) => {}
                Some(coding) => body.decode_with(ContentDecoder::new(coding, config.max_body)),
                None => {
                    let coding = head.header_str("content-encoding").unwrap_or("?");
                    return Err(Error::Decode(
                        format!(
                            "the server sent a body in an encoding this client did not ask for \
                             and cannot decode: {coding:?}"
                        )
                        .into(),
                    ));
                }
            }
        }
        Ok((head, body))
    }

    /// The request head, written in one piece: the client's own headers, then the client-wide
    /// custom ones the request does not replace, then the request's; the sensitive ones only
    /// if `hop.send_sensitive`; then the body's framing.
    fn render(&self, hop: &Hop<'_>, body: &RequestBody) -> Vec<u8> {
        let config = &self.inner.config;
        let url = hop.url;
        let host = url.host_str().unwrap_or_default();
        let mut head = String::with_capacity(256);
        // The request target: path and query, without the fragment.
        let target = &url[Position::BeforePath..Position::AfterQuery];
        for part in [
            hop.method.as_str(),
            " ",
            target,
            " HTTP/1.1\r\nHost: ",
            host,
        ] {
            head.push_str(part);
        }
        if let Some(port) = url.port() {
            let _ = write!(head, ":{port}");
        }
        head.push_str("\r\n");
        let replaced = |name: &str| hop.headers.iter().any(|h| h.is_named(name));
        if !replaced("user-agent") {
            for part in ["User-Agent: ", &config.user_agent, "\r\n"] {
                head.push_str(part);
            }
        }
        if !replaced("accept") {
            head.push_str("Accept: */*\r\n");
        }
        if config.decompress && !replaced("accept-encoding") {
            head.push_str("Accept-Encoding: gzip, deflate\r\n");
        }
        let client_wide = config.headers.iter().filter(|h| !replaced(&h.name));
        for header in client_wide.chain(hop.headers) {
            if header.sensitive && !hop.send_sensitive {
                continue;
            }
            for part in [&header.name, ": ", &header.value, "\r\n"] {
                head.push_str(part);
            }
        }
        if let Some(framing) = body.framing(hop.method) {
            head.push_str(&framing);
            head.push_str("\r\n");
        }
        head.push_str("\r\n");
        head.into_bytes()
    }
}

/// One hop of a request: what goes on the wire for it.
struct Hop<'a> {
    method: Method,
    url: &'a Url,
    headers: &'a [CustomHeader],
    send_sensitive: bool,
    /// The request may be sent again after a stale connection.
    may_retry: bool,
}

/// A URL the caller gave as text, or the error `send` returns for it.
fn parse(url: &str) -> Result<Url, Error> {
    super::parse_url::parse_url(url).map_err(|e| Error::InvalidUrl {
        url: url.to_string(),
        reason: e.to_string(),
    })
}

/// Whether two URLs have one origin: scheme, host and port (the default port written or not).
/// The URL parser has lowercased both hosts.
fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// A hop from `https` to `http`: from there on the request travels in clear text.
fn is_downgrade(from: &Url, to: &Url) -> bool {
    from.scheme() == "https" && to.scheme() == "http"
}

/// Whether two URLs name the same resource: equal but for the fragment (a redirect loop).
fn same_page(a: &Url, b: &Url) -> bool {
    a[..Position::AfterQuery] == b[..Position::AfterQuery]
}

/// A `Location` header is bytes; servers send raw UTF-8 (or worse) in it. Non-ASCII bytes and
/// controls are percent-encoded before parsing (isahc#315) instead of being rejected or mangled.
/// Where a `Location` header sent from `base` points: raw bytes that are not printable ASCII
/// (UTF-8 sent unencoded, spaces) are percent-encoded first, as browsers do, then the value is
/// resolved against `base`. The crawler follows redirects itself and shares this.
pub fn redirect_target(base: &Url, location: &[u8]) -> Result<Url, Error> {
    base.join(&percent_encode_raw(location))
        .map_err(|e| Error::InvalidUrl {
            url: String::from_utf8_lossy(location).into_owned(),
            reason: e.to_string(),
        })
}

fn percent_encode_raw(location: &[u8]) -> String {
    let mut out = String::with_capacity(location.len());
    for &b in location {
        if b.is_ascii_graphic() {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn an_explicit_default_port_is_the_same_origin() {
        // `http://h:80/` and `http://h/` name one origin; the host's case does not matter.
        assert!(same_origin(&url("http://h:80/a"), &url("http://H/b")));
        assert!(same_origin(&url("https://h:443/"), &url("https://h/")));
    }

    #[test]
    fn scheme_host_and_port_each_change_the_origin() {
        let base = url("http://h:8080/");
        assert!(!same_origin(&base, &url("https://h:8080/")));
        assert!(!same_origin(&base, &url("http://g:8080/")));
        assert!(!same_origin(&base, &url("http://h:8081/")));
        // A subdomain is another host too (curl CVE-2018-1000007 was about any other host).
        assert!(!same_origin(&base, &url("http://sub.h:8080/")));
    }

    #[test]
    fn only_https_to_http_is_a_downgrade() {
        assert!(is_downgrade(&url("https://h/"), &url("http://h/")));
        assert!(!is_downgrade(&url("http://h/"), &url("https://h/")));
        assert!(!is_downgrade(&url("https://h/"), &url("https://g/")));
        assert!(!is_downgrade(&url("http://h/"), &url("http://g/")));
    }
}
