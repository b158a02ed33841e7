//! A response: its head, the URLs it went through, and a body read as it arrives.

use url::Url;

use super::conn::{Clocks, Conn, Origin};
use super::decode::{ContentDecoder, DecodeError};
use super::error::{Error, Reason};
use super::framing::{BodyKind, Head, Limits, TransferDecoder};
use super::pool::PoolHandle;

/// An HTTP response whose head has arrived. The body is read with [`chunk`](Response::chunk)
/// (as it arrives, without buffering it) or [`bytes`](Response::bytes) (collected).
///
/// Reading the body to its end returns the connection to the client's pool; dropping the
/// response earlier closes the connection instead.
pub struct Response {
    head: Head,
    /// Every URL requested on the way; never empty, this response's own URL last.
    urls: Vec<Url>,
    body: Body,
}

impl Response {
    /// The response to the last of `urls` (never empty), its body still to read.
    pub(crate) fn new(head: Head, urls: Vec<Url>, body: Body) -> Response {
        debug_assert!(
            !urls.is_empty(),
            "a response has at least its request's URL"
        );
        Response { head, urls, body }
    }

    /// The URLs of the way here, for the next hop of a redirect; the body is dropped (its
    /// connection closed, unless [`drain`](Response::drain) gave it back to the pool).
    pub(crate) fn into_urls(self) -> Vec<Url> {
        self.urls
    }

    /// Reads and discards the body so its connection can go back to the pool. A body that
    /// cannot end with its connection reusable (read to the close, or no keep-alive) closes it at
    /// once, and so does one that passes `max` bytes or fails. A redirect's body is drained
    /// before the next hop, so the hop can reuse the connection.
    pub(crate) async fn drain(&mut self, max: u64) {
        self.body.drain(max).await;
    }

    /// The status code, e.g. 200.
    pub fn status(&self) -> u16 {
        self.head.status
    }

    /// The reason phrase the server sent (`"OK"`); may be empty.
    pub fn reason(&self) -> &str {
        self.head.reason()
    }

    /// The first value of header `name` (case-insensitive), as raw bytes.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.head.header(name)
    }

    /// The first value of header `name` (case-insensitive), if it is valid UTF-8.
    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.head.header_str(name)
    }

    /// The `ETag` the server sent (quotes included, `W/` prefix for a weak one), for a later
    /// [`if_none_match`](super::RequestBuilder::if_none_match).
    pub fn etag(&self) -> Option<&str> {
        self.head.header_str("etag").map(str::trim)
    }

    /// The `Last-Modified` date as the server sent it, for a later
    /// [`if_modified_since`](super::RequestBuilder::if_modified_since).
    pub fn last_modified(&self) -> Option<&str> {
        self.head.header_str("last-modified").map(str::trim)
    }

    /// Every header as sent, in order: its name, and its value as raw bytes.
    pub fn headers(&self) -> impl ExactSizeIterator<Item = (&str, &[u8])> + '_ {
        self.head.headers()
    }

    /// The URL that produced this response, after redirects.
    pub fn url(&self) -> &Url {
        self.urls
            .last()
            .expect("a response has at least its request's URL")
    }

    /// Every URL requested on the way, in order: the original one first, this response's last.
    pub fn urls(&self) -> &[Url] {
        &self.urls
    }

    /// How many redirects were followed.
    pub fn redirects(&self) -> usize {
        self.urls.len() - 1
    }

    /// The next piece of the body as it arrives (decompressed if the server sent it gzip or
    /// deflate), `None` at its end. At most the client's `max_body` bytes are accepted in
    /// total, counted after decompression: then [`Error::BodyTooLarge`].
    pub async fn chunk(&mut self) -> Result<Option<&[u8]>, Error> {
        self.body.chunk().await
    }

    /// Reads the whole body into memory (at most the client's `max_body` bytes).
    pub async fn bytes(mut self) -> Result<Vec<u8>, Error> {
        let mut out = Vec::new();
        while let Some(piece) = self.body.chunk().await? {
            out.extend_from_slice(piece);
        }
        Ok(out)
    }

    /// Reads the whole body as text, replacing invalid UTF-8.
    pub async fn text(self) -> Result<String, Error> {
        let bytes = self.bytes().await?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// Bytes of body read so far (after decompression).
    pub fn body_read(&self) -> u64 {
        self.body.decoded_read()
    }

    /// Bytes of body read so far as they came over the wire (before decompression).
    pub fn encoded_read(&self) -> u64 {
        self.body.framed.read
    }
}

impl std::fmt::Debug for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.head.status)
            .field("url", &self.url().as_str())
            .field("headers", &self.head.headers().len())
            .finish_non_exhaustive()
    }
}

/// A response body: its framing on the wire and, for a compressed body, its content decoder.
/// Built by the client with [`Body::new`]; read only through [`Response`].
pub(crate) struct Body {
    framed: Framed,
    /// Undoes the content coding (gzip, deflate); `None` for an identity body. Boxed: most
    /// bodies have none, and every `Response` (and every future holding one) would otherwise
    /// carry its 152 bytes, moved with it at each step.
    content: Option<Box<ContentDecoder>>,
    /// The decoded piece handed out last.
    decoded: Vec<u8>,
    /// The content decoder saw the end of its stream: nothing more is handed out.
    content_done: bool,
}

/// A body as framed on the wire: where it comes from, and where its connection goes once the
/// body ended.
pub(crate) struct Framed {
    /// `None` once the connection went back to the pool or was closed.
    conn: Option<Conn>,
    /// Undoes the transfer framing (a length, chunked, or to the close).
    transfer: TransferDecoder,
    clocks: Clocks,
    max_body: u64,
    /// Body bytes as framed (before any content decoding) handed out so far.
    read: u64,
    /// Where the connection goes when the body ends at its framed end with nothing left over:
    /// set only when both sides allow keep-alive.
    reuse: Option<(PoolHandle, Origin)>,
    /// The body ends where the connection does (no length, not chunked).
    close_delimited: bool,
}

/// Over TLS, a close-delimited body ends with the server's `close_notify`; a bare TCP close
/// (rustls's `UnexpectedEof`) may be an attacker or a crash cutting the body short, and the
/// error says so. A body whose length was framed never reads that far, so it is not affected.
fn truncation(e: Error, tls_close_delimited: bool) -> Error {
    match e {
        Error::Io(io) if tls_close_delimited && io.kind() == std::io::ErrorKind::UnexpectedEof => {
            Error::Io(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the server closed the TLS connection without close_notify before the body was \
                 framed: the body may be truncated",
            ))
        }
        other => other,
    }
}

impl Body {
    /// The body of a response whose head was read from `conn`, framed as `kind`, decoded with
    /// `content` (`None` for identity); `reuse` is where the connection goes when the body ends,
    /// if it may be kept. A body already at its end (none, or empty) gives its connection back
    /// at once, even if the caller never reads it.
    pub(crate) fn new(
        conn: Conn,
        kind: BodyKind,
        limits: &Limits,
        clocks: Clocks,
        max_body: u64,
        reuse: Option<(PoolHandle, Origin)>,
    ) -> Body {
        let mut framed = Framed {
            conn: Some(conn),
            transfer: TransferDecoder::new(kind, limits),
            clocks,
            max_body,
            read: 0,
            reuse,
            close_delimited: kind == BodyKind::Close,
        };
        if framed.transfer.is_done() {
            framed.finish();
        }
        Body {
            framed,
            content: None,
            decoded: Vec::new(),
            content_done: false,
        }
    }

    /// Whether the body ended at its start (no body, or an empty one): it needs no content
    /// decoder then.
    pub(crate) fn ended(&self) -> bool {
        self.framed.transfer.is_done()
    }

    /// Decodes the body's content coding with `decoder` from here on (before any byte is read).
    pub(crate) fn decode_with(&mut self, decoder: ContentDecoder) {
        debug_assert_eq!(
            self.framed.read, 0,
            "a content decoder sees the body from its start"
        );
        self.content = Some(Box::new(decoder));
    }

    /// Body bytes handed out so far, after content decoding.
    fn decoded_read(&self) -> u64 {
        match &self.content {
            Some(decoder) => decoder.decoded(),
            None => self.framed.read,
        }
    }

    async fn chunk(&mut self) -> Result<Option<&[u8]>, Error> {
        if self.content.is_none() {
            return self.framed.chunk().await;
        }
        loop {
            if self.content_done {
                return Ok(None);
            }
            // The framed piece is borrowed from the connection's buffer and fed straight to the
            // decoder (a separate field), without a copy.
            let piece = self.framed.chunk().await?;
            self.decoded.clear();
            let Some(decoder) = self.content.as_mut() else {
                return Ok(None);
            };
            let ended = piece.is_none();
            let fed = match piece {
                Some(piece) => decoder.feed(piece, &mut self.decoded),
                None => decoder.finish(&mut self.decoded),
            };
            fed.map_err(|e| self.decode_error(e))?;
            if ended {
                self.content_done = true;
                return Ok(None);
            }
            if !self.decoded.is_empty() {
                return Ok(Some(&self.decoded));
            }
        }
    }

    /// A decompression failure ends the body, and its connection with it.
    fn decode_error(&mut self, e: DecodeError) -> Error {
        self.framed.conn = None;
        match e {
            DecodeError::TooLarge { limit } => Error::BodyTooLarge { limit },
            other => Error::Decode(Reason::with_source(other.to_string(), other)),
        }
    }

    /// [`Response::drain`].
    async fn drain(&mut self, max: u64) {
        if self.framed.reuse.is_none() {
            self.framed.conn = None;
            return;
        }
        while self.decoded_read() <= max {
            match self.chunk().await {
                Ok(Some(_)) => {}
                _ => return,
            }
        }
        self.framed.conn = None;
    }
}

impl Framed {
    /// The next piece of the body as framed on the wire (still compressed, if it is).
    async fn chunk(&mut self) -> Result<Option<&[u8]>, Error> {
        loop {
            let Some(conn) = self.conn.as_mut() else {
                return Ok(None);
            };
            if self.transfer.is_done() {
                self.finish();
                return Ok(None);
            }
            let input = conn.buffered();
            let step = self.transfer.decode(input)?;
            if step.consumed > 0 || step.done {
                let range = if step.data.is_empty() {
                    0..0
                } else {
                    let offset = step.data.as_ptr().addr() - input.as_ptr().addr();
                    offset..offset + step.data.len()
                };
                let len = step.data.len() as u64;
                let consumed = step.consumed;
                if self.read.saturating_add(len) > self.max_body {
                    self.conn = None;
                    return Err(Error::BodyTooLarge {
                        limit: self.max_body,
                    });
                }
                self.read += len;
                if range.is_empty() {
                    conn.consume(consumed);
                    continue;
                }
                // The data stays in the buffer until the next call, which is when it may move.
                let conn = self.conn.as_mut().expect("checked above");
                return Ok(Some(conn.consume_returning(consumed, range)));
            }
            let wanted = self.transfer.bytes_wanted();
            let n = match conn.fill_wanting(&self.clocks, wanted).await {
                Ok(n) => n,
                Err(e) => {
                    let tls = conn.is_tls();
                    self.conn = None;
                    return Err(truncation(e, tls && self.close_delimited));
                }
            };
            if n == 0 {
                // The server closed: complete only for a close-delimited body.
                self.conn = None;
                self.transfer.eof().map_err(Error::Parse)?;
                return Ok(None);
            }
        }
    }

    /// The body ended at its framed end: pool the connection if allowed and nothing is left
    /// over (bytes after the body would be garbage the next response would trip on).
    fn finish(&mut self) {
        let conn = self.conn.take();
        if let (Some(conn), Some((pool, origin))) = (conn, self.reuse.take())
            && conn.buffered().is_empty()
        {
            pool.checkin(origin, conn);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A response is moved at every step from the connection to the caller (and lives in every
    /// future that awaits one): the content decoder, which most bodies lack, is not inline.
    #[test]
    fn a_response_carries_its_content_decoder_behind_a_pointer() {
        assert_eq!(size_of::<Option<Box<ContentDecoder>>>(), 8);
        // 512 and 592 bytes with the decoder inline (x86-64).
        assert!(size_of::<Body>() <= 384, "{}", size_of::<Body>());
        assert!(size_of::<Response>() <= 464, "{}", size_of::<Response>());
    }
}
