//! The demo site's content: every page, image and redirect, rendered once by [`generate`].
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
//! - `off_site_links[i]` on page `i * pages / len` (absolute URLs, in no expected set).
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

use std::collections::HashMap;
use std::fmt::Write as _;

use url::Url;

use super::{Resource, Site, SiteConfig, png};

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

    /// Writes `<a href>` for an absolute URL off the site, not recorded as a link of the site.
    fn off_site(&mut self, href: &str) {
        let _ = writeln!(self.html, "<li><a href=\"{href}\">elsewhere</a></li>");
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

/// Sites with more pages than this are rendered on request (see [`Site::generate`]); smaller
/// ones are built whole, so that serving a page is a lookup and a copy.
pub(super) const RENDER_ON_REQUEST_ABOVE: usize = 100_000;

/// How many private pages and images a site of `pages` pages has.
fn counts(pages: usize) -> (usize, usize) {
    ((pages / 100).max(1), (pages / 30).max(1))
}

/// Builds the site described by `config`: every response up front, or (past
/// [`RENDER_ON_REQUEST_ABOVE`] pages) only the fixed ones, the rest rendered on request.
pub(super) fn generate(config: SiteConfig) -> Site {
    let mut resources = Vec::new();
    let mut by_path = HashMap::new();
    if config.pages <= RENDER_ON_REQUEST_ABOVE {
        let (privates, images) = counts(config.pages);
        let mut paths = vec!["/".to_string(), "/robots.txt".to_string()];
        paths.extend((0..config.pages).map(|n| format!("/page/{n}.html")));
        paths.extend((0..privates).map(|k| format!("/private/{k}.html")));
        paths.extend((0..images).map(|k| format!("/img/{k}.png")));
        paths.extend((0..config.pages).map(|n| format!("/r/{n}")));
        for path in paths {
            let resource = render(&config, &path).expect("a path of the site");
            by_path.insert(path.into_boxed_str(), resources.len());
            resources.push(resource);
        }
    }
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

/// `digits` as a number below `below`, written the one way the site writes it (no sign, no
/// leading zero): `/page/07.html` is not page 7.
fn index(digits: &str, below: usize) -> Option<usize> {
    let n: usize = digits.parse().ok()?;
    (n < below && n.to_string() == digits).then_some(n)
}

/// The response of a path of the site (without query), or `None` for any other path. The same
/// path always gives the same bytes.
pub(super) fn render(config: &SiteConfig, path: &str) -> Option<Resource> {
    let pages = config.pages;
    let (privates, images) = counts(pages);
    if path == "/" {
        return Some(index_page(config));
    }
    if path == "/robots.txt" {
        return Some(Resource::new("200 OK", "text/plain", "", ROBOTS.into()));
    }
    if let Some(n) = path
        .strip_prefix("/page/")
        .and_then(|p| p.strip_suffix(".html"))
        .and_then(|d| index(d, pages))
    {
        return Some(page(config, n));
    }
    if let Some(k) = path
        .strip_prefix("/private/")
        .and_then(|p| p.strip_suffix(".html"))
        .and_then(|d| index(d, privates))
    {
        return Some(private(config, k));
    }
    if let Some(k) = path
        .strip_prefix("/img/")
        .and_then(|p| p.strip_suffix(".png"))
        .and_then(|d| index(d, images))
    {
        let png = png::one_pixel(colour(k as u32));
        return Some(Resource::new("200 OK", "image/png", "", png));
    }
    let n = path.strip_prefix("/r/").and_then(|d| index(d, pages))?;
    let target = format!("/page/{n}.html");
    let body =
        format!("<!DOCTYPE html>\n<html><body><a href=\"{target}\">Moved</a></body></html>\n");
    let mut moved = Resource::new(
        "301 Moved Permanently",
        HTML,
        &format!("Location: {target}\r\n"),
        body.into_bytes(),
    );
    moved.follow = Some(target.into_boxed_str());
    Some(moved)
}

fn index_page(config: &SiteConfig) -> Resource {
    let links = config.links_per_page.max(1);
    let mut rng = Rng::new(config.seed, u64::MAX);
    let mut page = Page::new("/", "wisp demo site", None);
    page.html.push_str("<ul>\n");
    for n in 0..links.min(config.pages) {
        page.link(&format!("/page/{n}.html"), &format!("page {n}"));
    }
    page.link("/private/0.html", "private");
    page.decoys();
    let (body, found) = page.finish(&mut rng, config.page_bytes);
    html(found, body)
}

/// The off-site URL page `n` links, if any: the `i`-th of `off_site_links` is on page
/// `i * pages / len`.
fn off_site_of(config: &SiteConfig, n: usize) -> Option<&str> {
    let len = config.off_site_links.len();
    (0..len)
        .rev()
        .find(|i| i * config.pages / len == n)
        .map(|i| config.off_site_links[i].as_str())
}

fn page(config: &SiteConfig, n: usize) -> Resource {
    let pages = config.pages;
    let links = config.links_per_page.max(1);
    let (privates, images) = counts(pages);
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
        let href = if i == 1 && n.is_multiple_of(10) {
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
    if config.images && n.is_multiple_of(3) {
        page.image(&format!("/img/{}.png", (n / 3) % images));
    }
    if let Some(url) = off_site_of(config, n) {
        page.off_site(url);
    }
    page.decoys();
    let (body, found) = page.finish(&mut rng, config.page_bytes);
    html(found, body)
}

fn private(config: &SiteConfig, k: usize) -> Resource {
    let pages = config.pages;
    let (privates, _) = counts(pages);
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
    html(found, body)
}

impl Resource {
    /// A response with `status`, `Content-Type` and `Content-Length`, then the header lines
    /// `extra` (each ending in CRLF).
    pub(super) fn new(status: &str, content_type: &str, extra: &str, body: Vec<u8>) -> Resource {
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
}

fn html(links: Vec<String>, body: Vec<u8>) -> Resource {
    let mut r = Resource::new("200 OK", HTML, "", body);
    r.links = links;
    r
}

/// The colour of image `k`: different for neighbouring `k`, the same on every run.
fn colour(k: u32) -> [u8; 3] {
    [
        k.wrapping_mul(37) as u8,
        (k.wrapping_mul(101) >> 2) as u8,
        k.wrapping_mul(13).wrapping_add(128) as u8,
    ]
}
