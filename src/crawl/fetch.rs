//! One request of a crawl: send it (with retries of transient failures), stream the body into
//! a hasher (and a file under `--out`, and a bounded buffer if it is HTML), and say what came
//! back: a page with its links, or a redirect for the engine to check like a link.
//!
//! Redirects are not followed here: each hop goes back to the engine, which checks its host,
//! its origin's robots.txt and the visited set before the next hop is fetched (and fetches it
//! under the target host's politeness).

use sha2::{Digest, Sha256};
use url::Url;

use super::config::Config;
use super::frontier::Item;
use super::links::extract_links;
use super::normalize::normalize;
use super::out_file::OutFile;
use super::record::Record;
use super::retry;
use super::save::path_for;
use super::timestamp;
use crate::http::{Client, Response, redirect_target};
use crate::time::now;

/// The longest redirect chain followed for one URL.
pub(crate) const MAX_REDIRECTS: u32 = 10;

/// What a fetch came back with.
pub(crate) enum Fetched {
    /// The record, and the links if the body was HTML.
    Page { record: Record, links: Vec<Url> },
    /// A redirect to check and maybe follow: the 3xx record (its body read and hashed), its
    /// target (normalized: no fragment), and the links of its body if it is HTML, which count
    /// only if the redirect is not followed (then the 3xx response is the page).
    Redirect {
        record: Record,
        next: Url,
        links: Vec<Url>,
    },
}

fn is_redirect(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}

/// A record for `item` with nothing fetched yet.
pub(crate) fn blank_record(item: &Item) -> Record {
    let mut record = Record {
        url: item.record_url().to_string(),
        referrer: item.referrer.as_deref().map(str::to_string),
        ..Record::default()
    };
    if let Some(chain) = &item.chain {
        record.redirects = chain.redirects;
        record.final_url = Some(item.url.to_string());
    }
    record
}

/// Fetches `item.url` once (retrying transient failures), reading the whole body.
pub(crate) async fn fetch(client: &Client, config: &Config, item: &Item) -> Fetched {
    let started = item.chain.as_ref().map_or_else(now, |c| c.started);
    let mut record = blank_record(item);
    record.fetched_at = Some(timestamp::utc_now());
    let elapsed = |record: &mut Record| {
        record.elapsed_ms = now().saturating_duration_since(started).as_millis() as u64;
    };
    let mut response = match retry::get(client, &item.url, config.retries).await {
        Ok(response) => response,
        Err(e) => {
            record.error = Some(e.to_string());
            elapsed(&mut record);
            return Fetched::Page {
                record,
                links: Vec::new(),
            };
        }
    };
    let status = response.status();
    record.status = Some(status);
    record.content_type = response.header_str("content-type").map(str::to_string);

    let next = match response.header("location") {
        Some(location) if is_redirect(status) => Some(redirect_target(&item.url, location)),
        _ => None,
    };
    let next = match next {
        Some(Ok(next)) if matches!(next.scheme(), "http" | "https") => Some(normalize(&next)),
        // Another scheme (mailto:, ftp:): the redirect is the page.
        Some(Ok(_)) | None => None,
        Some(Err(e)) => {
            record.error = Some(format!("redirect to an invalid URL: {e}"));
            elapsed(&mut record);
            return Fetched::Page {
                record,
                links: Vec::new(),
            };
        }
    };
    if next.is_some() && record.redirects >= MAX_REDIRECTS {
        record.error = Some(format!("too many redirects (more than {MAX_REDIRECTS})"));
        elapsed(&mut record);
        return Fetched::Page {
            record,
            links: Vec::new(),
        };
    }

    if next.is_none()
        && let Some(why) = config.type_refusal(record.content_type.as_deref())
    {
        // The body is not read: dropping the response closes its connection.
        record.error = Some(why);
        elapsed(&mut record);
        return Fetched::Page {
            record,
            links: Vec::new(),
        };
    }

    let is_html = record
        .content_type
        .as_deref()
        .is_some_and(|t| t.trim_start().to_ascii_lowercase().starts_with("text/html"));
    let save = next.is_none() && ((200..300).contains(&status) || config.save_errors);
    let out = match &config.out_dir {
        Some(dir) if save => match create_out(dir.clone(), path_for(&item.url)).await {
            Ok(file) => Some(file),
            Err(e) => {
                record.save_error = Some(e.to_string());
                None
            }
        },
        _ => None,
    };
    let html = read_body(&mut response, &mut record, out, is_html).await;
    elapsed(&mut record);
    let links = match &html {
        Some(html) if is_html => extract_links(html, &item.url, record.content_type.as_deref()),
        _ => Vec::new(),
    };
    match (next, html) {
        (Some(next), Some(_)) => Fetched::Redirect {
            record,
            next,
            links,
        },
        _ => Fetched::Page { record, links },
    }
}

/// Reads the body into the record (bytes, hash, the error if it broke off) and `out`; returns
/// the body when it was read whole (its bytes only if `keep`).
async fn read_body(
    response: &mut Response,
    record: &mut Record,
    mut out: Option<OutFile>,
    keep: bool,
) -> Option<Vec<u8>> {
    let mut hasher = Sha256::new();
    let mut kept = Vec::new();
    let mut bytes = 0u64;
    let error = loop {
        match response.chunk().await {
            Ok(Some(piece)) => {
                bytes += piece.len() as u64;
                hasher.update(piece);
                if keep {
                    kept.extend_from_slice(piece);
                }
                if let Some(file) = out.take() {
                    match write_out(file, piece.to_vec()).await {
                        Ok(file) => out = Some(file),
                        // The file was dropped, which removed it.
                        Err(e) => record.save_error = Some(e.to_string()),
                    }
                }
            }
            Ok(None) => break None,
            Err(e) => break Some(e.to_string()),
        }
    };
    record.bytes = bytes;
    record.encoded_bytes = response.encoded_read();
    if let Some(e) = error {
        record.error = Some(e);
        return None;
    }
    record.sha256 = Some(hex(&hasher.finalize()));
    if let Some(file) = out
        && let Err(e) = crate::unblock(move || file.commit()).await
    {
        record.save_error = Some(e.to_string());
    }
    Some(kept)
}

// The file system calls of `--out` run on the blocking pool (`wisp::unblock`), not on the crawl's
// thread: a slow disk holds up its own fetch, not the dispatcher. If the fetch is dropped while
// a call runs, the `OutFile` is dropped with the call's result, which removes the partial file.

async fn create_out(dir: std::path::PathBuf, rel: std::path::PathBuf) -> std::io::Result<OutFile> {
    crate::unblock(move || OutFile::create(&dir, &rel)).await
}

/// Appends `piece`; gives the file back, or drops it (removing it) on an error.
async fn write_out(mut file: OutFile, piece: Vec<u8>) -> std::io::Result<OutFile> {
    crate::unblock(move || file.write_all(&piece).map(|()| file)).await
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_lowercase_two_digits_per_byte() {
        assert_eq!(hex(&[0x00, 0xab, 0x7f]), "00ab7f");
    }
}
