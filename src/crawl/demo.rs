//! The demo web site: a generated, deterministic site served from inside the process, so the
//! crawler can be shown (and tested, and benchmarked) without a network.
//!
//! [`Site::generate`] builds every response up front; [`Site::serve`] answers them from a task
//! on the current wisp executor with keep-alive and pipelining, so serving a page is a hash
//! lookup and a copy into the connection's output buffer.
//!
//! # What is on the site
//!
//! - `/`: the index, linking `/page/0.html` .. `/page/{k-1}.html` (`k = links_per_page`, at
//!   least 1) and `/private/0.html`.
//! - `/page/N.html` (`0 <= N < pages`, `text/html`, about `page_bytes` long): `max(1,
//!   links_per_page)` links to pages, the first always to page `N+1` (so every page is reachable
//!   from `/`), the others picked by a PRNG seeded from `seed` and `N`. Links are written in
//!   mixed forms: `/page/T.html`, `T.html`, `../page/T.html`, `/page/T.html#top`, `./T.html#s2`
//!   (pages with `N % 5 == 2` carry `<base href="/">` and write the relative forms as
//!   `page/T.html`, `./page/T.html`, `page/T.html#s2`). Pages with `N % 10 == 0` write their
//!   second link with a query, `/page/T.html?from=N&amp;x=1`: a distinct URL for dedupe (it
//!   serves page `T`'s body), so it appears in the expected sets on its own.
//! - Extras on pages, not counted in `links_per_page`: `/r/{N+1}` when `N % 7 == 3` (a `301` to
//!   `/page/{N+1}.html`, which the same page also links directly); `/missing/N` when
//!   `N % 11 == 5` (a `404`); `/private/K.html` when `N % 97 == 13`; an image `/img/K.png`
//!   (`<a href>` around an `<img src>` of the same URL) when `images` and `N % 3 == 0`.
//! - Things a crawler must ignore, on every page: a `mailto:` and a `javascript:` link, an HTML
//!   comment holding `<a href="/page/999999.html">`, and a `<script>` holding the string
//!   `'<a href="/fake">'`.
//! - `/private/K.html` (`K < max(1, pages / 100)`): pages that link a page and `/private/{K+1}`;
//!   served with `200` but disallowed by `/robots.txt` (`User-agent: *` / `Disallow: /private/`).
//! - `/img/K.png` (`K < max(1, pages / 30)`): a valid 1x1 PNG whose colour depends on `K`.
//! - Anything else: `404` with a small HTML body. Queries are ignored when serving.
//!
//! There are no full `http://127.0.0.1:PORT/` links: the port is only known once served, and
//! the bodies (and their hashes) are the same for every run of the same config.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt::Write as _;
use std::io;
use std::net::Shutdown;
use std::sync::Arc;
use std::time::Duration;

use url::Url;

use crate::net::{TcpListener, TcpStream};

/// The longest request head accepted; a longer one gets `431` and the connection is closed.
const MAX_HEAD: usize = 8 * 1024;
/// Headers parsed per request; more is answered like an over-long head.
const MAX_HEADERS: usize = 64;
/// A connection silent for this long is closed.
const IDLE: Duration = Duration::from_secs(10);
/// When the server closes a connection, it reads (and drops) what the client still sends for at
/// most this long, so the kernel does not answer unread data with a reset that loses the reply.
const LINGER: Duration = Duration::from_millis(500);

/// What to generate. The same config always gives the same site.
#[derive(Clone, Debug)]
pub struct SiteConfig {
    /// Number of `/page/N.html` pages (default 3000).
    pub pages: usize,
    /// Links from each page to other pages (default 8; at least 1 is always written).
    pub links_per_page: usize,
    /// Approximate body size of a page in bytes (default 1024); filler text pads up to it.
    pub page_bytes: usize,
    /// Whether some pages link images (default true).
    pub images: bool,
    /// Seed of the PRNG that picks links and filler.
    pub seed: u64,
}

impl Default for SiteConfig {
    fn default() -> Self {
        SiteConfig {
            pages: 3000,
            links_per_page: 8,
            page_bytes: 1024,
            images: true,
            seed: 0x5eed,
        }
    }
}

/// One pre-rendered response.
struct Resource {
    /// Status line and headers, each ending in CRLF, without the blank line.
    head: Box<[u8]>,
    body: Box<[u8]>,
    /// Links a crawler should find in the body: resolved paths (with query, without fragment).
    links: Vec<String>,
    /// For a redirect: the resource the client ends up at.
    follow: Option<usize>,
}

impl Resource {
    fn new(status: &str, content_type: &str, extra: &str, body: Vec<u8>) -> Resource {
        let head = format!(
            "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{extra}",
            body.len()
        );
        Resource {
            head: head.into_bytes().into_boxed_slice(),
            body: body.into_boxed_slice(),
            links: Vec::new(),
            follow: None,
        }
    }

    /// Appends the response to `out`: the body only for GET, `Connection: close` if closing.
    fn write_to(&self, out: &mut Vec<u8>, with_body: bool, close: bool) {
        out.extend_from_slice(&self.head);
        if close {
            out.extend_from_slice(b"Connection: close\r\n");
        }
        out.extend_from_slice(b"\r\n");
        if with_body {
            out.extend_from_slice(&self.body);
        }
    }
}

/// The generated site: the same config always gives the same pages and links.
pub struct Site {
    config: SiteConfig,
    resources: Vec<Resource>,
    by_path: HashMap<Box<str>, usize>,
    not_found: Resource,
    bad_request: Resource,
    method_not_allowed: Resource,
    head_too_large: Resource,
}

impl std::fmt::Debug for Site {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Site")
            .field("config", &self.config)
            .field("resources", &self.resources.len())
            .finish_non_exhaustive()
    }
}

/// splitmix64: tiny, good enough, and fine with any seed (zero included).
struct Rng(u64);

impl Rng {
    fn new(seed: u64, stream: u64) -> Rng {
        Rng(seed ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03))
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const WORDS: &[&str] = &[
    "wisp",
    "runtime",
    "socket",
    "timer",
    "wheel",
    "reactor",
    "task",
    "waker",
    "future",
    "poll",
    "crawl",
    "frontier",
    "robots",
    "link",
    "page",
    "depth",
    "queue",
    "budget",
    "keep-alive",
    "header",
    "body",
    "chunk",
    "redirect",
    "origin",
    "pool",
    "lorem",
    "ipsum",
    "dolor",
    "sit",
    "amet",
];

const HTML: &str = "text/html; charset=utf-8";
const ROBOTS: &str = "User-agent: *\nDisallow: /private/\n";

/// An HTML page under construction: the links a crawler must find are recorded as they are
/// written, resolved the way a browser would.
struct Page {
    html: String,
    base: Url,
    links: Vec<String>,
}

impl Page {
    fn new(path: &str, title: &str, base_href: Option<&str>) -> Page {
        let origin = Url::parse("http://demo.invalid/").expect("valid URL");
        let doc = origin.join(path).expect("valid path");
        let base = match base_href {
            Some(href) => doc.join(href).expect("valid base"),
            None => doc,
        };
        let mut html = String::with_capacity(2048);
        html.push_str("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">");
        let _ = write!(html, "<title>{title}</title>");
        if let Some(href) = base_href {
            let _ = write!(html, "<base href=\"{href}\">");
        }
        let _ = write!(html, "</head>\n<body id=\"top\"><h1>{title}</h1>\n");
        Page {
            html,
            base,
            links: Vec::new(),
        }
    }

    /// Writes `<a href>` for `href` (unescaped) and records where it leads.
    fn link(&mut self, href: &str, label: &str) {
        let escaped = href.replace('&', "&amp;");
        let _ = writeln!(self.html, "<li><a href=\"{escaped}\">{label}</a></li>");
        self.record(href);
    }

    fn image(&mut self, href: &str) {
        let _ = writeln!(
            self.html,
            "<li><a href=\"{href}\"><img src=\"{href}\" alt=\"image\" width=\"1\" height=\"1\"></a></li>"
        );
        self.record(href);
    }

    fn record(&mut self, href: &str) {
        let url = self.base.join(href).expect("valid link");
        assert_eq!(
            url.host_str(),
            Some("demo.invalid"),
            "an off-site link: {href}"
        );
        let mut target = url.path().to_string();
        if let Some(query) = url.query() {
            target.push('?');
            target.push_str(query);
        }
        self.links.push(target);
    }

    /// Links a crawler must not follow.
    fn decoys(&mut self) {
        self.html.push_str(
            "<li><a href=\"mailto:crawler@example.invalid\">mail</a></li>\n\
             <li><a href=\"javascript:void(0)\">script</a></li>\n\
             <!-- <a href=\"/page/999999.html\">commented out</a> -->\n",
        );
    }

    /// Pads to about `bytes` with filler text and closes the document.
    fn finish(mut self, rng: &mut Rng, bytes: usize) -> (Vec<u8>, Vec<String>) {
        const TAIL: &str = "\n<script>var s = '<a href=\"/fake\">';</script>\n</body></html>\n";
        self.html.push_str("</ul>\n<p id=\"s2\">");
        let target = bytes.saturating_sub(TAIL.len() + 4);
        while self.html.len() < target {
            self.html.push_str(WORDS[rng.below(WORDS.len())]);
            self.html.push(' ');
        }
        self.html.push_str("</p>");
        self.html.push_str(TAIL);
        (self.html.into_bytes(), self.links)
    }
}

impl Site {
    /// Builds every page and response of the site described by `config`.
    pub fn generate(config: SiteConfig) -> Site {
        let pages = config.pages;
        let links = config.links_per_page.max(1);
        let privates = (pages / 100).max(1);
        let images = (pages / 30).max(1);
        let mut resources = Vec::new();
        let mut by_path = HashMap::new();
        let mut add = |path: String, resource: Resource| {
            by_path.insert(path.into_boxed_str(), resources.len());
            resources.push(resource);
        };

        // The index.
        let mut rng = Rng::new(config.seed, u64::MAX);
        let mut page = Page::new("/", "wisp demo site", None);
        page.html.push_str("<ul>\n");
        for n in 0..links.min(pages) {
            page.link(&format!("/page/{n}.html"), &format!("page {n}"));
        }
        page.link("/private/0.html", "private");
        page.decoys();
        let (body, found) = page.finish(&mut rng, config.page_bytes);
        add("/".into(), html(found, body));

        // The pages.
        for n in 0..pages {
            let mut rng = Rng::new(config.seed, n as u64);
            let path = format!("/page/{n}.html");
            let with_base = n % 5 == 2;
            let mut page = Page::new(&path, &format!("Page {n}"), with_base.then_some("/"));
            page.html.push_str("<ul>\n");
            for i in 0..links {
                let t = if i == 0 && n + 1 < pages {
                    n + 1
                } else {
                    rng.below(pages)
                };
                let form = rng.below(5);
                let href = if i == 1 && n % 10 == 0 {
                    format!("/page/{t}.html?from={n}&x=1")
                } else {
                    match (form, with_base) {
                        (0, _) => format!("/page/{t}.html"),
                        (1, false) => format!("{t}.html"),
                        (1, true) => format!("page/{t}.html"),
                        (2, false) => format!("../page/{t}.html"),
                        (2, true) => format!("./page/{t}.html"),
                        (3, _) => format!("/page/{t}.html#top"),
                        (_, false) => format!("./{t}.html#s2"),
                        (_, true) => format!("page/{t}.html#s2"),
                    }
                };
                page.link(&href, &format!("page {t}"));
            }
            if n % 7 == 3 && n + 1 < pages {
                page.link(&format!("/r/{}", n + 1), "moved");
            }
            if n % 11 == 5 {
                page.link(&format!("/missing/{n}"), "broken");
            }
            if n % 97 == 13 {
                page.link(&format!("/private/{}.html", (n / 97) % privates), "private");
            }
            if config.images && n % 3 == 0 {
                page.image(&format!("/img/{}.png", (n / 3) % images));
            }
            page.decoys();
            let (body, found) = page.finish(&mut rng, config.page_bytes);
            add(path, html(found, body));
        }

        // Private pages, images, redirects, robots.txt.
        for k in 0..privates {
            let mut rng = Rng::new(config.seed, (1 << 40) + k as u64);
            let path = format!("/private/{k}.html");
            let mut page = Page::new(&path, &format!("Private {k}"), None);
            page.html.push_str("<ul>\n");
            if pages > 0 {
                let t = rng.below(pages);
                page.link(&format!("../page/{t}.html"), &format!("page {t}"));
            }
            if k + 1 < privates {
                page.link(&format!("{}.html", k + 1), "next private");
            }
            let (body, found) = page.finish(&mut rng, config.page_bytes);
            add(path, html(found, body));
        }
        for k in 0..images {
            add(
                format!("/img/{k}.png"),
                Resource::new("200 OK", "image/png", "", png(k as u32)),
            );
        }
        for n in 0..pages {
            let target = format!("/page/{n}.html");
            let body = format!(
                "<!DOCTYPE html>\n<html><body><a href=\"{target}\">Moved</a></body></html>\n"
            );
            let mut moved = Resource::new(
                "301 Moved Permanently",
                HTML,
                &format!("Location: {target}\r\n"),
                body.into_bytes(),
            );
            // The index is resource 0, page `n` is resource `1 + n`.
            moved.follow = Some(1 + n);
            add(format!("/r/{n}"), moved);
        }
        add(
            "/robots.txt".into(),
            Resource::new("200 OK", "text/plain", "", ROBOTS.into()),
        );

        let page = |title: &str| {
            format!("<!DOCTYPE html>\n<html><body><h1>{title}</h1></body></html>\n").into_bytes()
        };
        Site {
            not_found: Resource::new("404 Not Found", HTML, "", page("404 Not Found")),
            bad_request: Resource::new("400 Bad Request", HTML, "", page("400 Bad Request")),
            method_not_allowed: Resource::new(
                "405 Method Not Allowed",
                HTML,
                "Allow: GET, HEAD\r\n",
                page("405 Method Not Allowed"),
            ),
            head_too_large: Resource::new(
                "431 Request Header Fields Too Large",
                HTML,
                "",
                page("431 Request Header Fields Too Large"),
            ),
            config,
            resources,
            by_path,
        }
    }

    /// The config this site was generated from.
    pub fn config(&self) -> &SiteConfig {
        &self.config
    }

    /// Serves the site on 127.0.0.1:0 from a task spawned on the current wisp executor (so call
    /// it inside `wisp::block_on`); returns the root URL, e.g. `"http://127.0.0.1:PORT/"`. The
    /// server task runs until the executor ends. A site can be served any number of times.
    pub async fn serve(self: Arc<Self>) -> io::Result<String> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        crate::spawn(accept_loop(self, listener)).detach();
        Ok(format!("http://{addr}/"))
    }

    /// The URLs (path and query, no fragment) a crawler reaches from `/` by following links,
    /// grouped by BFS depth: `[0]` is `{"/"}`, `[d]` holds what is first linked at depth `d`.
    /// Stops after `max_depth` or at the first empty level (so it may be shorter).
    ///
    /// - A redirect `/r/N` is listed where it is linked; the client follows it within one fetch,
    ///   so page `N`'s links count from the redirect's depth + 1. Its target `/page/N.html` is
    ///   also linked directly by every page that links `/r/N`, so it is listed at the same depth
    ///   or earlier, and fetching either yields the same links at the same depth (a crawler that
    ///   dedupes by final URL loses nothing).
    /// - Broken links (`/missing/N`, 404) and images are listed where first linked.
    /// - `/robots.txt` is not listed (a crawler fetches it, but nothing links it).
    /// - Nothing under `/private/` is listed (see
    ///   [`expected_by_depth_ignoring_robots`](Site::expected_by_depth_ignoring_robots)).
    pub fn expected_by_depth(&self, max_depth: usize) -> Vec<BTreeSet<String>> {
        self.bfs(max_depth, true)
    }

    /// [`expected_by_depth`](Site::expected_by_depth) for a crawler that ignores robots.txt:
    /// `/private/` pages and what they link are included.
    pub fn expected_by_depth_ignoring_robots(&self, max_depth: usize) -> Vec<BTreeSet<String>> {
        self.bfs(max_depth, false)
    }

    fn bfs(&self, max_depth: usize, robots: bool) -> Vec<BTreeSet<String>> {
        let mut seen: HashSet<&str> = HashSet::from(["/"]);
        let mut levels = vec![BTreeSet::from(["/".to_string()])];
        let mut frontier: Vec<&str> = vec!["/"];
        for _ in 0..max_depth {
            let mut next = BTreeSet::new();
            for url in &frontier {
                for link in self.links(url) {
                    if robots && link.starts_with("/private/") {
                        continue;
                    }
                    if seen.insert(link) {
                        next.insert(link.clone());
                    }
                }
            }
            if next.is_empty() {
                break;
            }
            frontier.clear();
            frontier.extend(next.iter().filter_map(|u| seen.get(u.as_str()).copied()));
            levels.push(next);
        }
        levels
    }

    /// The links found by fetching `url` (redirects followed).
    fn links(&self, url: &str) -> &[String] {
        match self.lookup(url) {
            Some(r) => match r.follow {
                Some(i) => &self.resources[i].links,
                None => &r.links,
            },
            None => &[],
        }
    }

    fn lookup(&self, target: &str) -> Option<&Resource> {
        let path = target.split_once('?').map_or(target, |(p, _)| p);
        self.by_path.get(path).map(|&i| &self.resources[i])
    }

    /// The exact body a GET of `path` is answered with (a query is ignored, as the server does);
    /// the 404 page for an unknown path; `None` if `path` does not start with `/`. For a
    /// redirect it is the 301's own short body.
    pub fn body(&self, path: &str) -> Option<&[u8]> {
        if !path.starts_with('/') {
            return None;
        }
        Some(self.lookup(path).map_or(&self.not_found.body, |r| &r.body))
    }
}

fn html(links: Vec<String>, body: Vec<u8>) -> Resource {
    let mut r = Resource::new("200 OK", HTML, "", body);
    r.links = links;
    r
}

/// A valid 1x1 RGB PNG whose colour depends on `k`.
fn png(k: u32) -> Vec<u8> {
    fn crc32(data: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in data {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let start = out.len();
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        let crc = crc32(&out[start..]);
        out.extend_from_slice(&crc.to_be_bytes());
    }
    let rgb = [
        k.wrapping_mul(37) as u8,
        (k.wrapping_mul(101) >> 2) as u8,
        k.wrapping_mul(13).wrapping_add(128) as u8,
    ];
    // One scanline: filter byte 0 and the pixel, in one stored (uncompressed) deflate block.
    let raw = [0, rgb[0], rgb[1], rgb[2]];
    let (mut a, mut b) = (1u32, 0u32);
    for &x in &raw {
        a = (a + u32::from(x)) % 65521;
        b = (b + a) % 65521;
    }
    let mut zlib = vec![0x78, 0x01, 0x01, 0x04, 0x00, 0xfb, 0xff];
    zlib.extend_from_slice(&raw);
    zlib.extend_from_slice(&((b << 16) | a).to_be_bytes());
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    chunk(&mut out, b"IHDR", &[0, 0, 0, 1, 0, 0, 0, 1, 8, 2, 0, 0, 0]);
    chunk(&mut out, b"IDAT", &zlib);
    chunk(&mut out, b"IEND", &[]);
    out
}

async fn accept_loop(site: Arc<Site>, listener: TcpListener) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                let site = Arc::clone(&site);
                crate::spawn(async move { serve_conn(&site, stream).await }).detach();
            }
            // Out of file descriptors and the like: wait a little instead of spinning.
            Err(_) => crate::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

/// Does the `Connection` header (any of them) hold the token `token`?
fn has_token(req: &httparse::Request<'_, '_>, token: &str) -> bool {
    req.headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("connection"))
        .flat_map(|h| h.value.split(|&b| b == b','))
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
}

/// Answers one parsed request into `out`; returns whether the connection must close after it.
fn respond(site: &Site, req: &httparse::Request<'_, '_>, out: &mut Vec<u8>) -> bool {
    let keep_alive = if req.version == Some(0) {
        has_token(req, "keep-alive")
    } else {
        !has_token(req, "close")
    };
    // A request body is not expected here; rather than frame it, answer and close.
    let has_body = req.headers.iter().any(|h| {
        h.name.eq_ignore_ascii_case("transfer-encoding")
            || (h.name.eq_ignore_ascii_case("content-length") && h.value.trim_ascii() != b"0")
    });
    let close = !keep_alive || has_body;
    let method = req.method.unwrap_or("");
    let path = req.path.unwrap_or("");
    let (resource, with_body) = match method {
        "GET" | "HEAD" => (
            site.lookup(path).unwrap_or(&site.not_found),
            method == "GET",
        ),
        _ => (&site.method_not_allowed, true),
    };
    resource.write_to(out, with_body, close);
    close
}

async fn serve_conn(site: &Site, stream: TcpStream) {
    let mut buf = vec![0u8; MAX_HEAD];
    let mut filled = 0;
    let mut out = Vec::with_capacity(4096);
    loop {
        // Answer every complete request in the buffer (pipelining), then write them at once.
        let mut start = 0;
        let mut close = false;
        while !close {
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut req = httparse::Request::new(&mut headers);
            match req.parse(&buf[start..filled]) {
                Ok(httparse::Status::Complete(n)) => {
                    close = respond(site, &req, &mut out);
                    start += n;
                }
                Ok(httparse::Status::Partial) => {
                    if start == 0 && filled == buf.len() {
                        site.head_too_large.write_to(&mut out, true, true);
                        close = true;
                    }
                    break;
                }
                Err(httparse::Error::TooManyHeaders) => {
                    site.head_too_large.write_to(&mut out, true, true);
                    close = true;
                }
                Err(_) => {
                    site.bad_request.write_to(&mut out, true, true);
                    close = true;
                }
            }
        }
        if !out.is_empty() {
            if stream.write_all(&out).await.is_err() {
                return;
            }
            out.clear();
        }
        if close {
            linger(&stream, &mut buf).await;
            return;
        }
        buf.copy_within(start..filled, 0);
        filled -= start;
        match crate::time::timeout(IDLE, stream.read(&mut buf[filled..])).await {
            Ok(Ok(n)) if n > 0 => filled += n,
            _ => return,
        }
    }
}

/// Closes our side, then reads what the client still sends for a short while, so the reply is
/// not lost to a reset caused by unread data.
async fn linger(stream: &TcpStream, buf: &mut [u8]) {
    let _ = stream.shutdown(Shutdown::Write);
    let _ = crate::time::timeout(LINGER, async {
        let mut budget: usize = 64 * 1024;
        while budget > 0 {
            match stream.read(buf).await {
                Ok(n) if n > 0 => budget = budget.saturating_sub(n),
                _ => break,
            }
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> SiteConfig {
        SiteConfig {
            pages: 300,
            ..SiteConfig::default()
        }
    }

    #[test]
    fn same_config_same_site() {
        let (a, b) = (Site::generate(small()), Site::generate(small()));
        assert_eq!(a.resources.len(), b.resources.len());
        for (path, &i) in &a.by_path {
            assert_eq!(
                a.resources[i].body, b.resources[b.by_path[path]].body,
                "{path}"
            );
        }
        assert_eq!(a.expected_by_depth(50), b.expected_by_depth(50));
        let c = Site::generate(SiteConfig { seed: 7, ..small() });
        assert_ne!(a.body("/page/1.html"), c.body("/page/1.html"));
    }

    #[test]
    fn every_page_is_reachable() {
        for config in [
            small(),
            SiteConfig {
                pages: 1,
                links_per_page: 0,
                ..small()
            },
        ] {
            let site = Site::generate(config.clone());
            let all: BTreeSet<String> = site
                .expected_by_depth_ignoring_robots(config.pages + 10)
                .into_iter()
                .flatten()
                .collect();
            for n in 0..config.pages {
                assert!(all.contains(&format!("/page/{n}.html")), "page {n}");
            }
            assert!(all.contains("/private/0.html"));
            let robots: BTreeSet<String> = site
                .expected_by_depth(config.pages + 10)
                .into_iter()
                .flatten()
                .collect();
            assert!(robots.iter().all(|u| !u.starts_with("/private/")));
            for n in 0..config.pages {
                assert!(robots.contains(&format!("/page/{n}.html")), "page {n}");
            }
        }
    }

    #[test]
    fn link_forms_and_decoys() {
        let site = Site::generate(small());
        let page = |n: usize| {
            String::from_utf8(site.body(&format!("/page/{n}.html")).unwrap().to_vec()).unwrap()
        };
        let all: String = (0..300).map(page).collect();
        for needle in [
            "href=\"../page/",
            "href=\"./",
            "#top\"",
            "#s2\"",
            "?from=0&amp;x=1",
            "<base href=\"/\">",
            "mailto:",
            "javascript:",
            "<!-- <a href=\"/page/999999.html\">",
            "'<a href=\"/fake\">'",
            "href=\"/r/",
            "href=\"/missing/",
            "href=\"/private/",
            "src=\"/img/",
        ] {
            assert!(all.contains(needle), "{needle}");
        }
        let levels = site.expected_by_depth(1000);
        let flat: BTreeSet<&String> = levels.iter().flatten().collect();
        assert!(
            flat.iter()
                .all(|u| !u.contains('#') && !u.contains("999999") && *u != "/fake")
        );
        assert!(flat.iter().any(|u| u.contains("?from=")));
        assert!(flat.iter().any(|u| u.starts_with("/missing/")));
        assert!(flat.iter().any(|u| u.starts_with("/img/")));
        // A redirect's target is first linked no deeper than the redirect.
        for (d, level) in levels.iter().enumerate() {
            for u in level.iter().filter(|u| u.starts_with("/r/")) {
                let target = format!("/page/{}.html", &u[3..]);
                let depth = levels.iter().position(|l| l.contains(&target));
                assert!(depth.is_some_and(|t| t <= d), "{u}");
            }
        }
        let mean = (0..300).map(|n| page(n).len()).sum::<usize>() / 300;
        assert!((900..1400).contains(&mean), "mean page size {mean}");
    }

    #[test]
    fn images_are_png() {
        let site = Site::generate(small());
        let img = site.body("/img/3.png").unwrap();
        assert!(img.starts_with(b"\x89PNG\r\n\x1a\n"));
        assert_ne!(img, site.body("/img/4.png").unwrap());
        assert_eq!(crc_check(img), 3);
        let none = Site::generate(SiteConfig {
            images: false,
            ..small()
        });
        let flat: Vec<String> = none.expected_by_depth(1000).into_iter().flatten().collect();
        assert!(!flat.iter().any(|u| u.starts_with("/img/")));
    }

    /// Counts the chunks of a PNG whose CRC is right (all of them, for a good PNG).
    fn crc_check(png: &[u8]) -> usize {
        let mut at = 8;
        let mut good = 0;
        while at < png.len() {
            let len = u32::from_be_bytes(png[at..at + 4].try_into().unwrap()) as usize;
            let data = &png[at + 4..at + 8 + len];
            let crc = u32::from_be_bytes(png[at + 8 + len..at + 12 + len].try_into().unwrap());
            let mut c = !0u32;
            for &b in data {
                c ^= u32::from(b);
                for _ in 0..8 {
                    c = if c & 1 == 1 {
                        (c >> 1) ^ 0xEDB8_8320
                    } else {
                        c >> 1
                    };
                }
            }
            if !c == crc {
                good += 1;
            }
            at += 12 + len;
        }
        good
    }
}
