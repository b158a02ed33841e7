//! HTTP/1.1 response framing: where a response head ends and where its body ends (RFC 9112).
//!
//! This module does no I/O. It is handed whatever bytes have arrived so far and answers three
//! questions, so that the connection code above it stays a plain read loop:
//!
//! - [`parse_head`]: is there a complete status line and header section at the start of the
//!   buffer, and how many bytes did it take? It bounds what a server can make us buffer
//!   ([`Limits`]).
//! - [`body_kind`]: how is the body delimited (RFC 9112 section 6.3)? This needs to know whether
//!   the request was `HEAD`, which the head alone cannot tell.
//! - [`TransferDecoder`]: which of the following bytes are body, and when has the body ended? It
//!   hands out sub-slices of its input (no copy) and stops exactly at the end of the body, so
//!   whatever follows stays in the caller's buffer for the next response.
//!
//! A connection must only go back to a pool after its body decoder reported `done` and
//! [`Head::keep_alive`] allows reuse; a body cut short by EOF is an error
//! ([`ParseError::UnexpectedEof`]), never a short success.
//!
//! ```
//! use wisp::http::framing::{body_kind, parse_head, BodyKind, Limits, TransferDecoder};
//!
//! let limits = Limits::default();
//! let wire = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\nHTTP/1.1";
//!
//! // The head: `None` would mean "read more and call again".
//! let (head, used) = parse_head(wire, &limits).unwrap().expect("complete head");
//! assert_eq!(head.status, 200);
//! assert!(head.keep_alive());
//!
//! // The body: loop while the decoder makes progress.
//! let kind = body_kind(false, &head).unwrap();
//! assert_eq!(kind, BodyKind::Chunked);
//! let mut decoder = TransferDecoder::new(kind, &limits);
//! let mut rest = &wire[used..];
//! let mut body = Vec::new();
//! loop {
//!     let step = decoder.decode(rest).unwrap();
//!     body.extend_from_slice(step.data);
//!     rest = &rest[step.consumed..];
//!     if step.done || step.consumed == 0 {
//!         break;
//!     }
//! }
//! assert!(decoder.is_done());
//! assert_eq!(body, b"hello");
//! // The bytes of the next (pipelined) response were left alone.
//! assert_eq!(rest, b"HTTP/1.1");
//! ```

use std::fmt;
use std::mem::MaybeUninit;

/// Limits that bound what a server can make us buffer.
///
/// Every part of a response that we must hold whole before we can make progress (the head, a
/// chunk-size line, the trailer section) has a cap, so a hostile or broken server cannot make a
/// client allocate without end. The body itself is streamed and is not limited here: the caller
/// decides how much body it wants.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Most bytes a response head (status line, headers, the empty line) may take. Default 64 KiB.
    pub max_head_bytes: usize,
    /// Most header fields in a head. Default 256 (hyper's old 100 broke real sites).
    pub max_headers: usize,
    /// Most bytes of a chunk-size line, extensions and CRLF included. Default 4 KiB.
    pub max_chunk_line: usize,
    /// Most bytes of the trailer section after the last chunk, final CRLF included. Default 16 KiB.
    pub max_trailer_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_head_bytes: 64 * 1024,
            max_headers: 256,
            max_chunk_line: 4 * 1024,
            max_trailer_bytes: 16 * 1024,
        }
    }
}

/// Why a response could not be framed.
///
/// All of these mean the connection is in an unknown state and must be closed, not reused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// The head was not complete within [`Limits::max_head_bytes`].
    HeadTooLarge {
        /// The limit that was reached.
        limit: usize,
    },
    /// The head has more header fields than [`Limits::max_headers`].
    TooManyHeaders {
        /// The limit that was reached.
        limit: usize,
    },
    /// The head is not valid HTTP/1.x; the text says what httparse objected to.
    InvalidHead(String),
    /// A `Content-Length` value is not a decimal number that fits in a `u64`.
    InvalidContentLength(String),
    /// `Content-Length` was given with two different values (RFC 9110 section 8.6).
    ConflictingContentLength,
    /// `Transfer-Encoding` is not a list of codings we can even read (empty or garbage).
    ///
    /// A well-formed list whose last coding is not `chunked` is *not* this error: RFC 9112
    /// section 6.3 says such a response body runs until the connection closes.
    UnsupportedTransferEncoding(String),
    /// A chunk-size line does not start with a hex number, or the number is too long.
    InvalidChunkSize,
    /// A chunk-size line (with its extensions) did not end within [`Limits::max_chunk_line`].
    ChunkLineTooLong {
        /// The limit that was reached.
        limit: usize,
    },
    /// The trailer section did not end within [`Limits::max_trailer_bytes`].
    TrailersTooLarge {
        /// The limit that was reached.
        limit: usize,
    },
    /// The chunked framing is broken elsewhere, e.g. no CRLF after chunk data.
    InvalidChunk(String),
    /// The connection closed before the framed end of the body.
    UnexpectedEof,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::HeadTooLarge { limit } => {
                write!(f, "response head larger than {limit} bytes")
            }
            ParseError::TooManyHeaders { limit } => {
                write!(f, "response has more than {limit} header fields")
            }
            ParseError::InvalidHead(why) => write!(f, "malformed response head: {why}"),
            ParseError::InvalidContentLength(value) => {
                write!(f, "invalid Content-Length header: {value:?}")
            }
            ParseError::ConflictingContentLength => {
                f.write_str("response has conflicting Content-Length headers")
            }
            ParseError::UnsupportedTransferEncoding(value) => {
                write!(f, "unreadable Transfer-Encoding header: {value:?}")
            }
            ParseError::InvalidChunkSize => f.write_str("invalid chunk size in chunked body"),
            ParseError::ChunkLineTooLong { limit } => {
                write!(f, "chunk size line longer than {limit} bytes")
            }
            ParseError::TrailersTooLarge { limit } => {
                write!(f, "chunked trailer section larger than {limit} bytes")
            }
            ParseError::InvalidChunk(why) => write!(f, "malformed chunked body: {why}"),
            ParseError::UnexpectedEof => {
                f.write_str("connection closed before the end of the response body")
            }
        }
    }
}

impl std::error::Error for ParseError {}

/// A parsed response head (owned; names kept as sent, compared case-insensitively).
///
/// Owned so that the read buffer it came from can be reused for the body at once. The reason
/// phrase and every field name and value are kept in one buffer, with their places beside it:
/// two allocations per head, not two per field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// The status code, 100 to 999.
    pub status: u16,
    /// `0` for HTTP/1.0, `1` for HTTP/1.1.
    pub minor_version: u8,
    /// The reason phrase, then each field's name and value, back to back.
    text: Vec<u8>,
    /// Where the reason phrase ends in `text` (it starts at 0).
    reason_end: u32,
    /// Per field: where its name starts, where its value starts (the name's end), and where
    /// the value ends, in `text`.
    fields: Vec<[u32; 3]>,
}

impl Head {
    /// The reason phrase; empty if missing or not valid text (it carries no meaning).
    pub fn reason(&self) -> &str {
        std::str::from_utf8(&self.text[..self.reason_end as usize]).unwrap_or("")
    }

    /// The header fields in the order received: names as sent, values as raw bytes (obsolete
    /// line folding replaced by spaces).
    pub fn headers(&self) -> impl ExactSizeIterator<Item = (&str, &[u8])> + '_ {
        self.fields.iter().map(|&[name, value, end]| {
            let name = &self.text[name as usize..value as usize];
            // httparse accepts only token characters in a name: always ASCII.
            let name = std::str::from_utf8(name).unwrap_or("");
            (name, &self.text[value as usize..end as usize])
        })
    }

    /// The value of the first header field called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.fields
            .iter()
            .find(|field| self.is_named(field, name))
            .map(|field| self.value(field))
    }

    fn is_named(&self, &[start, value, _]: &[u32; 3], name: &str) -> bool {
        self.text[start as usize..value as usize].eq_ignore_ascii_case(name.as_bytes())
    }

    fn value(&self, &[_, value, end]: &[u32; 3]) -> &[u8] {
        &self.text[value as usize..end as usize]
    }

    /// The value of the first header field called `name`, trimmed, if it is valid UTF-8.
    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.header(name)
            .and_then(|v| std::str::from_utf8(v).ok())
            .map(str::trim)
    }

    /// The values of every header field called `name` (case-insensitive), in order.
    ///
    /// List-valued fields (`Connection`, `Transfer-Encoding`, ...) may be split over several
    /// fields; RFC 9110 section 5.3 says they must be read as one comma-joined list.
    pub fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> {
        self.fields
            .iter()
            .filter(move |field| self.is_named(field, name))
            .map(|field| self.value(field))
    }

    /// Whether the connection may be reused after this response (HTTP/1.1 unless
    /// `Connection: close`; HTTP/1.0 only with `Connection: keep-alive`; token list,
    /// case-insensitive).
    ///
    /// Also `false` when the framing is suspect even if it can be read: both
    /// `Transfer-Encoding` and `Content-Length` present, or `Transfer-Encoding` in an HTTP/1.0
    /// response (RFC 9112 sections 6.1 and 6.3 say to close after such a message, since
    /// request-smuggling style confusion may have left bytes we misread).
    pub fn keep_alive(&self) -> bool {
        // One pass over the fields (this runs for every response).
        let (mut has_te, mut has_length, mut close, mut keep_alive) = (false, false, false, false);
        for field in &self.fields {
            if self.is_named(field, "transfer-encoding") {
                has_te = true;
            } else if self.is_named(field, "content-length") {
                has_length = true;
            } else if self.is_named(field, "connection") {
                for token in self.value(field).split(|&b| b == b',') {
                    let token = token.trim_ascii();
                    close |= token.eq_ignore_ascii_case(b"close");
                    keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
                }
            }
        }
        if has_te && (self.minor_version == 0 || has_length) {
            return false;
        }
        if close {
            false
        } else if self.minor_version >= 1 {
            true
        } else {
            keep_alive
        }
    }
}

/// Header slots kept on the stack while parsing; a larger [`Limits::max_headers`] puts them on
/// the heap. The default limit fits.
const STACK_HEADERS: usize = 256;

/// Parses a response head at the start of `buf`.
///
/// `Ok(None)` means the head is not complete yet: read more, append, and call again with the
/// whole buffer (callers should read in large enough steps that re-parsing stays cheap).
/// `Ok(Some((head, consumed)))` gives the head and how many bytes of `buf` it took; the body
/// starts at `buf[consumed..]`. Errors: bad syntax ([`ParseError::InvalidHead`]), more than
/// [`Limits::max_headers`] fields, or no complete head within [`Limits::max_head_bytes`] (only
/// that many bytes are ever looked at, so the answer does not depend on how much was read).
///
/// Obsolete folded header lines are accepted (old servers still send them) and unfolded with
/// spaces. Status codes below 100 are rejected: they are not HTTP.
pub fn parse_head(buf: &[u8], limits: &Limits) -> Result<Option<(Head, usize)>, ParseError> {
    let window = &buf[..buf.len().min(limits.max_head_bytes)];
    // A header line takes at least 3 bytes (`a:\n`), so the window cannot hold more than
    // `len / 3` of them: a larger array would never be filled, and a limit such as `usize::MAX`
    // must not size an allocation.
    let slots = limits.max_headers.min(window.len() / 3 + 1);
    // The header slots live on the stack up to the default limit, left uninitialized (httparse
    // writes those it fills): parsing a head costs no allocation and no clearing.
    let mut on_stack = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; STACK_HEADERS];
    let mut on_heap = Vec::new();
    let slots: &mut [MaybeUninit<httparse::Header<'_>>] = if slots <= STACK_HEADERS {
        &mut on_stack[..slots]
    } else {
        on_heap.resize_with(slots, MaybeUninit::uninit);
        &mut on_heap
    };
    let mut resp = httparse::Response::new(&mut []);
    let parsed = httparse::ParserConfig::default()
        .allow_obsolete_multiline_headers_in_responses(true)
        .parse_response_with_uninit_headers(&mut resp, window, slots);
    let consumed = match parsed {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            if window.len() >= limits.max_head_bytes {
                return Err(ParseError::HeadTooLarge {
                    limit: limits.max_head_bytes,
                });
            }
            return Ok(None);
        }
        Err(httparse::Error::TooManyHeaders) => {
            return Err(ParseError::TooManyHeaders {
                limit: limits.max_headers,
            });
        }
        Err(e) => return Err(ParseError::InvalidHead(e.to_string())),
    };
    // On `Complete` httparse has filled all three.
    let (Some(minor_version), Some(status)) = (resp.version, resp.code) else {
        return Err(ParseError::InvalidHead("incomplete status line".into()));
    };
    if status < 100 {
        return Err(ParseError::InvalidHead(format!(
            "status code {status} out of range"
        )));
    }
    let reason = resp.reason.unwrap_or("").as_bytes();
    let size = reason.len()
        + resp
            .headers
            .iter()
            .map(|h| h.name.len() + h.value.len())
            .sum::<usize>();
    // A head is at most `max_head_bytes`, but that limit may be set to anything: a head whose
    // places do not fit in 32 bits is refused rather than mis-indexed.
    let too_large = || ParseError::HeadTooLarge {
        limit: u32::MAX as usize,
    };
    let mut text = Vec::with_capacity(size);
    text.extend_from_slice(reason);
    let mut fields = Vec::with_capacity(resp.headers.len());
    let at = |text: &Vec<u8>| u32::try_from(text.len()).map_err(|_| too_large());
    let reason_end = at(&text)?;
    for h in resp.headers.iter() {
        let name = at(&text)?;
        text.extend_from_slice(h.name.as_bytes());
        let value = at(&text)?;
        text.extend_from_slice(h.value);
        let end = at(&text)?;
        // Only an obsolete folded value holds line breaks. A select rather than a branch, so
        // the loop is vectorized: it runs over every value byte of every response.
        for b in &mut text[value as usize..] {
            *b = if *b == b'\r' || *b == b'\n' { b' ' } else { *b };
        }
        fields.push([name, value, end]);
    }
    let head = Head {
        status,
        minor_version,
        text,
        reason_end,
        fields,
    };
    Ok(Some((head, consumed)))
}

/// How the body of a response is delimited, RFC 9112 section 6.3, in its order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// No body at all; the next response may start right after the head.
    None,
    /// Exactly this many bytes.
    Length(u64),
    /// The chunked transfer coding.
    Chunked,
    /// Everything until the server closes the connection (the connection cannot be reused).
    Close,
}

/// Decides how the body of the response with this head is delimited (RFC 9112 section 6.3).
///
/// `request_was_head`: responses to HEAD, and 1xx, 204, 304 have no body whatever the headers
/// say; Transfer-Encoding with final coding chunked wins over Content-Length; conflicting/invalid
/// Content-Length is an error; else read to close.
///
/// Details, all from section 6.3: a well-formed `Transfer-Encoding` whose last coding is not
/// `chunked` means read to close (the codings are left for the caller to undo); an unreadable one
/// is [`ParseError::UnsupportedTransferEncoding`]. In an HTTP/1.0 response `Transfer-Encoding`
/// means faulty framing (section 6.1): we read to close. Repeated identical `Content-Length`
/// values, also in list form `5, 5`, are one value (RFC 9110 section 8.6).
pub fn body_kind(request_was_head: bool, head: &Head) -> Result<BodyKind, ParseError> {
    if request_was_head || (100..200).contains(&head.status) || matches!(head.status, 204 | 304) {
        return Ok(BodyKind::None);
    }
    if head.header("transfer-encoding").is_some() {
        let mut last: Option<&[u8]> = None;
        for coding in head
            .headers_named("transfer-encoding")
            .flat_map(|v| v.split(|&b| b == b','))
            .map(<[u8]>::trim_ascii)
        {
            // A coding is a token, possibly with parameters after ';'. Empty list elements are
            // allowed by the list syntax (RFC 9110 section 5.6.1) and ignored.
            if coding.is_empty() {
                continue;
            }
            let name = coding
                .split(|&b| b == b';')
                .next()
                .unwrap_or_default()
                .trim_ascii();
            if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
                return Err(unsupported_te(head));
            }
            last = Some(name);
        }
        let Some(last) = last else {
            return Err(unsupported_te(head));
        };
        if head.minor_version == 0 || !last.eq_ignore_ascii_case(b"chunked") {
            return Ok(BodyKind::Close);
        }
        return Ok(BodyKind::Chunked);
    }
    let mut length: Option<u64> = None;
    for value in head.headers_named("content-length") {
        for element in value.split(|&b| b == b',') {
            let element = element.trim_ascii();
            let n = parse_decimal(element).ok_or_else(|| {
                ParseError::InvalidContentLength(String::from_utf8_lossy(value).into_owned())
            })?;
            match length {
                Some(prev) if prev != n => return Err(ParseError::ConflictingContentLength),
                _ => length = Some(n),
            }
        }
    }
    Ok(match length {
        Some(n) => BodyKind::Length(n),
        None => BodyKind::Close,
    })
}

fn unsupported_te(head: &Head) -> ParseError {
    let joined: Vec<String> = head
        .headers_named("transfer-encoding")
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .collect();
    ParseError::UnsupportedTransferEncoding(joined.join(", "))
}

/// `1*DIGIT` as a `u64`; `None` if empty, not all digits, or too large.
fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |acc, &b| {
        if b.is_ascii_digit() {
            acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        } else {
            None
        }
    })
}

/// A token character (RFC 9110 section 5.6.2).
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Where a [`TransferDecoder`] is in the body. `Copy` so the decode loop can match by value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// This many bytes still to come (more than zero).
    Length(u64),
    /// Everything is body until EOF.
    Close,
    /// Expecting a chunk-size line.
    ChunkSize,
    /// Inside chunk data, this many bytes still to come (more than zero).
    ChunkData(u64),
    /// Expecting the CRLF after chunk data; `true` once the CR was seen.
    DataCrlf(bool),
    /// In the trailer section after the last chunk.
    Trailer(Trailer),
    /// The body is complete.
    Done,
}

/// A small byte-at-a-time scanner for the trailer section, so that trailers are consumed as
/// they arrive (no re-scanning) and never held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trailer {
    /// At the start of a line.
    LineStart,
    /// In a field name.
    Name,
    /// In a field value (or an obsolete folded continuation line).
    Value,
    /// After a CR; `true` if the line was empty, which ends the section.
    Cr(bool),
}

/// Incremental, zero-copy body decoder over whatever bytes have arrived.
///
/// Feed it the unconsumed bytes after the head; it consumes a prefix and hands back the body
/// bytes in it as a sub-slice. Bytes not consumed must be presented again (with more appended)
/// on the next call. It never consumes past the end of the body, so a pipelined or following
/// response stays in the caller's buffer. After an error every call returns that error again.
///
/// It undoes the body's *transfer framing* (a length, chunked coding, or the close); the
/// bytes it hands out may still carry a content coding, which
/// [`ContentDecoder`](super::decode::ContentDecoder) undoes.
#[derive(Debug, Clone)]
pub struct TransferDecoder {
    /// Where the body is; meaningless once `failed` is set.
    state: State,
    /// The error a call returned, returned again by every later call (the state is left where
    /// the error was found and never read again).
    failed: Option<ParseError>,
    max_chunk_line: usize,
    max_trailer_bytes: usize,
    trailer_bytes: usize,
}

/// What one [`TransferDecoder::decode`] call did.
#[derive(Debug)]
pub struct Step<'a> {
    /// How many bytes at the start of the input were used up (framing and data).
    pub consumed: usize,
    /// Body bytes: a sub-slice of the input, inside its first `consumed` bytes.
    pub data: &'a [u8],
    /// The body is complete; nothing more will be consumed.
    pub done: bool,
}

/// The name this decoder had before it was named for what it undoes.
#[deprecated(note = "renamed `TransferDecoder`")]
pub type BodyDecoder = TransferDecoder;

impl TransferDecoder {
    /// A decoder for a body delimited as `kind`, bounded by `limits`.
    pub fn new(kind: BodyKind, limits: &Limits) -> TransferDecoder {
        let state = match kind {
            BodyKind::None | BodyKind::Length(0) => State::Done,
            BodyKind::Length(n) => State::Length(n),
            BodyKind::Chunked => State::ChunkSize,
            BodyKind::Close => State::Close,
        };
        TransferDecoder {
            state,
            failed: None,
            max_chunk_line: limits.max_chunk_line,
            max_trailer_bytes: limits.max_trailer_bytes,
            trailer_bytes: 0,
        }
    }

    /// How many more bytes the body is known to need before its framing says anything new: the
    /// rest of a length or of the current chunk (with its CRLF), `u64::MAX` for a body that runs
    /// to the close, `None` when that is not known (a chunk-size line, the trailers). A reader
    /// sizes its reads by it: large reads for a large body, small ones for framing lines.
    pub fn bytes_wanted(&self) -> Option<u64> {
        if self.failed.is_some() {
            return None;
        }
        match self.state {
            State::Length(n) => Some(n),
            State::ChunkData(n) => Some(n.saturating_add(2)),
            State::Close => Some(u64::MAX),
            _ => None,
        }
    }

    /// Consumes a prefix of `input` and returns the body bytes found in it (a sub-slice of
    /// `input`, no copy).
    ///
    /// Returns at most one contiguous data slice per call; the caller loops while
    /// `consumed > 0 && !done`; `consumed == 0 && !done` means "need more input". For chunked
    /// bodies the size line is bounded by [`Limits::max_chunk_line`] (extensions are ignored),
    /// the CRLF after each chunk's data is checked, and the trailer section is checked for shape,
    /// bounded by [`Limits::max_trailer_bytes`] and discarded. A chunk size up to `2^64 - 1` is
    /// accepted: it is just a long chunk, and the caller's own body limit stops it.
    pub fn decode<'a>(&mut self, input: &'a [u8]) -> Result<Step<'a>, ParseError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let result = self.decode_inner(input);
        if let Err(e) = &result {
            self.failed = Some(e.clone());
        }
        result
    }

    fn decode_inner<'a>(&mut self, input: &'a [u8]) -> Result<Step<'a>, ParseError> {
        let mut pos = 0;
        loop {
            let rest = &input[pos..];
            let need_more = Step {
                consumed: pos,
                data: &rest[..0],
                done: false,
            };
            match self.state {
                State::Done => {
                    return Ok(Step {
                        consumed: pos,
                        data: &rest[..0],
                        done: true,
                    });
                }
                State::Close => {
                    return Ok(Step {
                        consumed: input.len(),
                        data: rest,
                        done: false,
                    });
                }
                State::Length(remaining) | State::ChunkData(remaining) => {
                    if rest.is_empty() {
                        return Ok(need_more);
                    }
                    // Saturates rather than overflows on 32-bit targets and for 2^64 - 1.
                    let n = usize::try_from(remaining).map_or(rest.len(), |r| r.min(rest.len()));
                    let left = remaining - n as u64;
                    self.state = match (self.state, left) {
                        (State::Length(_), 0) => State::Done,
                        (State::Length(_), left) => State::Length(left),
                        (_, 0) => State::DataCrlf(false),
                        (_, left) => State::ChunkData(left),
                    };
                    return Ok(Step {
                        consumed: pos + n,
                        data: &rest[..n],
                        done: self.state == State::Done,
                    });
                }
                State::ChunkSize => {
                    let Some(&first) = rest.first() else {
                        return Ok(need_more);
                    };
                    // httparse would read an empty size as 0 (the last chunk); RFC 9112 section
                    // 7.1 requires at least one hex digit.
                    if !first.is_ascii_hexdigit() {
                        return Err(ParseError::InvalidChunkSize);
                    }
                    let window = &rest[..rest.len().min(self.max_chunk_line)];
                    match httparse::parse_chunk_size(window) {
                        Err(httparse::InvalidChunkSize) => {
                            return Err(ParseError::InvalidChunkSize);
                        }
                        Ok(httparse::Status::Partial) => {
                            if window.len() >= self.max_chunk_line {
                                return Err(ParseError::ChunkLineTooLong {
                                    limit: self.max_chunk_line,
                                });
                            }
                            return Ok(need_more);
                        }
                        Ok(httparse::Status::Complete((n, size))) => {
                            pos += n;
                            self.state = if size == 0 {
                                State::Trailer(Trailer::LineStart)
                            } else {
                                State::ChunkData(size)
                            };
                        }
                    }
                }
                State::DataCrlf(seen_cr) => {
                    let Some(&b) = rest.first() else {
                        return Ok(need_more);
                    };
                    self.state = match (seen_cr, b) {
                        (false, b'\r') => State::DataCrlf(true),
                        (true, b'\n') => State::ChunkSize,
                        _ => {
                            return Err(ParseError::InvalidChunk(
                                "missing CRLF after chunk data".into(),
                            ));
                        }
                    };
                    pos += 1;
                }
                State::Trailer(mut t) => {
                    for (i, &b) in rest.iter().enumerate() {
                        self.trailer_bytes += 1;
                        if self.trailer_bytes > self.max_trailer_bytes {
                            return Err(ParseError::TrailersTooLarge {
                                limit: self.max_trailer_bytes,
                            });
                        }
                        t = match (t, b) {
                            (Trailer::LineStart, b'\r') => Trailer::Cr(true),
                            (Trailer::LineStart, b' ' | b'\t') => Trailer::Value,
                            (Trailer::LineStart | Trailer::Name, b) if is_tchar(b) => Trailer::Name,
                            (Trailer::Name, b':') => Trailer::Value,
                            (Trailer::Value, b'\r') => Trailer::Cr(false),
                            (Trailer::Value, b) if b == b'\t' || (b >= 0x20 && b != 0x7f) => {
                                Trailer::Value
                            }
                            (Trailer::Cr(false), b'\n') => Trailer::LineStart,
                            (Trailer::Cr(true), b'\n') => {
                                self.state = State::Done;
                                return Ok(Step {
                                    consumed: pos + i + 1,
                                    data: &rest[..0],
                                    done: true,
                                });
                            }
                            _ => {
                                return Err(ParseError::InvalidChunk(
                                    "malformed trailer section".into(),
                                ));
                            }
                        };
                    }
                    self.state = State::Trailer(t);
                    return Ok(Step {
                        consumed: input.len(),
                        data: &rest[..0],
                        done: false,
                    });
                }
            }
        }
    }

    /// The connection reached EOF: `Ok(())` if the body is complete (Close kind, or already
    /// done), `Err(UnexpectedEof)` otherwise.
    ///
    /// A close-delimited body is complete at EOF (and the decoder is done afterwards); for any
    /// other kind EOF before the framed end means the body was truncated (RFC 9112 section 8).
    pub fn eof(&mut self) -> Result<(), ParseError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        match self.state {
            State::Done => Ok(()),
            State::Close => {
                self.state = State::Done;
                Ok(())
            }
            _ => {
                self.failed = Some(ParseError::UnexpectedEof);
                Err(ParseError::UnexpectedEof)
            }
        }
    }

    /// Whether the body is complete. Only then may the connection be reused.
    pub fn is_done(&self) -> bool {
        self.failed.is_none() && self.state == State::Done
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn head(raw: &[u8]) -> Head {
        parse_head(raw, &Limits::default())
            .expect("valid head")
            .expect("complete head")
            .0
    }

    fn head_with(status: u16, headers: &[(&str, &str)]) -> Head {
        let mut raw = format!("HTTP/1.1 {status} X\r\n");
        for (n, v) in headers {
            raw.push_str(&format!("{n}: {v}\r\n"));
        }
        raw.push_str("\r\n");
        head(raw.as_bytes())
    }

    /// Feeds `wire` in pieces of the given sizes (cycled) like a read loop would; returns the
    /// body, the total consumed, and the error if any.
    fn drive(
        kind: BodyKind,
        limits: &Limits,
        wire: &[u8],
        pieces: &[usize],
        eof: bool,
    ) -> (Vec<u8>, usize, Result<bool, ParseError>) {
        let mut dec = TransferDecoder::new(kind, limits);
        let mut buf: Vec<u8> = Vec::new();
        let mut fed = 0;
        let mut total = 0;
        let mut body = Vec::new();
        let mut piece = 0;
        loop {
            loop {
                let step = match dec.decode(&buf) {
                    Ok(s) => s,
                    Err(e) => return (body, total, Err(e)),
                };
                assert!(step.consumed <= buf.len());
                let base = buf.as_ptr() as usize;
                let d = step.data.as_ptr() as usize;
                assert!(
                    step.data.is_empty()
                        || (d >= base && d + step.data.len() <= base + step.consumed)
                );
                body.extend_from_slice(step.data);
                let (consumed, done) = (step.consumed, step.done);
                buf.drain(..consumed);
                total += consumed;
                if done {
                    assert!(dec.is_done());
                    return (body, total, Ok(true));
                }
                if consumed == 0 {
                    break;
                }
            }
            if fed == wire.len() {
                break;
            }
            let size = pieces
                .get(piece % pieces.len().max(1))
                .copied()
                .unwrap_or(usize::MAX)
                .max(1);
            piece += 1;
            let end = wire.len().min(fed.saturating_add(size));
            buf.extend_from_slice(&wire[fed..end]);
            fed = end;
        }
        if eof {
            match dec.eof() {
                Ok(()) => (body, total, Ok(true)),
                Err(e) => (body, total, Err(e)),
            }
        } else {
            (body, total, Ok(false))
        }
    }

    const HEAD: &[u8] =
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nX-A: 1\r\n\r\n";

    #[test]
    fn head_in_one_piece_and_split_everywhere() {
        let limits = Limits::default();
        let mut wire = HEAD.to_vec();
        wire.extend_from_slice(b"hello");
        let (whole, used) = parse_head(&wire, &limits).unwrap().unwrap();
        assert_eq!(used, HEAD.len());
        assert_eq!(whole.status, 200);
        assert_eq!(whole.reason(), "OK");
        assert_eq!(whole.minor_version, 1);
        assert_eq!(whole.headers().len(), 3);
        assert_eq!(
            whole.headers().next(),
            Some(("Content-Type", &b"text/plain"[..]))
        );
        for i in 0..=wire.len() {
            let got = parse_head(&wire[..i], &limits).unwrap();
            if i < HEAD.len() {
                assert!(got.is_none(), "complete at {i}");
            } else {
                assert_eq!(got, Some((whole.clone(), HEAD.len())), "at {i}");
            }
        }
    }

    #[test]
    fn folded_header_is_accepted_and_unfolded() {
        let h = head(b"HTTP/1.1 200 OK\r\nX-Fold: a\r\n  b\r\nX-B: c\r\n\r\n");
        let v = h.header_str("x-fold").unwrap();
        assert!(v.starts_with('a') && v.ends_with('b'), "{v:?}");
        assert!(!v.contains('\r') && !v.contains('\n'));
        assert_eq!(h.header_str("X-B"), Some("c"));
    }

    #[test]
    fn header_lookup_is_case_insensitive() {
        let h = head(
            b"HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nSET-COOKIE: b=2\r\nX: \xff\r\nY:  sp  \r\n\r\n",
        );
        assert_eq!(h.header("set-cookie"), Some(&b"a=1"[..]));
        let all: Vec<&[u8]> = h.headers_named("Set-Cookie").collect();
        assert_eq!(all, vec![&b"a=1"[..], &b"b=2"[..]]);
        assert_eq!(h.header("x"), Some(&b"\xff"[..]));
        assert_eq!(h.header_str("x"), None);
        assert_eq!(h.header_str("y"), Some("sp"));
        assert_eq!(h.header("missing"), None);
        assert_eq!(
            h.headers().next().unwrap().0,
            "Set-Cookie",
            "names are kept as sent"
        );
    }

    #[test]
    fn a_megabyte_of_headers_is_too_large() {
        let limits = Limits::default();
        let mut raw = b"HTTP/1.1 200 OK\r\n".to_vec();
        let value = "v".repeat(10_000);
        while raw.len() < 1 << 20 {
            raw.extend_from_slice(format!("X-Big: {value}\r\n").as_bytes());
        }
        assert_eq!(
            parse_head(&raw, &limits),
            Err(ParseError::HeadTooLarge { limit: 65536 })
        );
        // Just under the limit and still partial: wait for more.
        assert_eq!(parse_head(&raw[..65535], &limits), Ok(None));
        assert_eq!(
            ParseError::HeadTooLarge { limit: 65536 }.to_string(),
            "response head larger than 65536 bytes"
        );
    }

    #[test]
    fn too_many_headers() {
        let mut raw = b"HTTP/1.1 200 OK\r\n".to_vec();
        for i in 0..500 {
            raw.extend_from_slice(format!("X-{i}: {i}\r\n").as_bytes());
        }
        raw.extend_from_slice(b"\r\n");
        assert_eq!(
            parse_head(&raw, &Limits::default()),
            Err(ParseError::TooManyHeaders { limit: 256 })
        );
        let roomy = Limits {
            max_headers: 500,
            ..Limits::default()
        };
        assert_eq!(
            parse_head(&raw, &roomy).unwrap().unwrap().0.headers().len(),
            500
        );
    }

    #[test]
    fn the_header_array_fits_the_shortest_header_lines() {
        // 200 header lines of 3 bytes each (`a:\n`, the shortest httparse takes): the array
        // sized from the window still has a slot for each, and the limit still counts.
        let mut raw = b"HTTP/1.1 200 OK\n".to_vec();
        raw.extend_from_slice(&b"a:\n".repeat(200));
        raw.push(b'\n');
        let limits = |max_headers| Limits {
            max_headers,
            ..Limits::default()
        };
        for max in [200, usize::MAX] {
            let parsed = parse_head(&raw, &limits(max)).unwrap().unwrap();
            assert_eq!(parsed.0.headers().len(), 200, "max_headers {max}");
        }
        assert_eq!(
            parse_head(&raw, &limits(199)),
            Err(ParseError::TooManyHeaders { limit: 199 })
        );
    }

    #[test]
    fn bad_status_line_is_invalid_head() {
        for raw in [
            &b"HTTP/1.1 2x0 OK\r\n\r\n"[..],
            b"HTTP/2.0 200 OK\r\n\r\n",
            b"SMTP ready\r\n\r\n",
            b"HTTP/1.1 099 Low\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
        ] {
            assert!(
                matches!(
                    parse_head(raw, &Limits::default()),
                    Err(ParseError::InvalidHead(_))
                ),
                "{:?}",
                String::from_utf8_lossy(raw)
            );
        }
    }

    #[test]
    fn no_body_statuses_and_head_requests() {
        let cl = [("Content-Length", "10")];
        assert_eq!(body_kind(true, &head_with(200, &cl)), Ok(BodyKind::None));
        for status in [100, 103, 199, 204, 304] {
            assert_eq!(
                body_kind(false, &head_with(status, &cl)),
                Ok(BodyKind::None),
                "{status}"
            );
        }
        assert_eq!(
            body_kind(false, &head_with(200, &cl)),
            Ok(BodyKind::Length(10))
        );
        assert_eq!(
            body_kind(false, &head_with(205, &cl)),
            Ok(BodyKind::Length(10))
        );
    }

    #[test]
    fn transfer_encoding_rules() {
        let h = head_with(
            200,
            &[("Content-Length", "10"), ("Transfer-Encoding", "chunked")],
        );
        assert_eq!(body_kind(false, &h), Ok(BodyKind::Chunked));
        assert!(!h.keep_alive(), "TE + CL: close after");
        let h = head_with(200, &[("Transfer-Encoding", "gzip, chunked")]);
        assert_eq!(body_kind(false, &h), Ok(BodyKind::Chunked));
        assert!(h.keep_alive());
        let h = head_with(
            200,
            &[
                ("Transfer-Encoding", "gzip"),
                ("Transfer-Encoding", "CHUNKED"),
            ],
        );
        assert_eq!(body_kind(false, &h), Ok(BodyKind::Chunked));
        let h = head_with(200, &[("Transfer-Encoding", "chunked, gzip")]);
        assert_eq!(body_kind(false, &h), Ok(BodyKind::Close));
        for bad in ["", " , ", "chu nked", "\"chunked\""] {
            let h = head_with(200, &[("Transfer-Encoding", bad)]);
            assert!(
                matches!(
                    body_kind(false, &h),
                    Err(ParseError::UnsupportedTransferEncoding(_))
                ),
                "{bad:?}"
            );
        }
        let h10 = head(
            b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n",
        );
        assert_eq!(body_kind(false, &h10), Ok(BodyKind::Close));
        assert!(!h10.keep_alive());
    }

    #[test]
    fn content_length_rules() {
        let h = head_with(200, &[("Content-Length", "5"), ("Content-Length", "6")]);
        assert_eq!(
            body_kind(false, &h),
            Err(ParseError::ConflictingContentLength)
        );
        let h = head_with(200, &[("Content-Length", "5, 6")]);
        assert_eq!(
            body_kind(false, &h),
            Err(ParseError::ConflictingContentLength)
        );
        let h = head_with(200, &[("Content-Length", "5, 5")]);
        assert_eq!(body_kind(false, &h), Ok(BodyKind::Length(5)));
        let h = head_with(200, &[("Content-Length", "5"), ("content-length", "5")]);
        assert_eq!(body_kind(false, &h), Ok(BodyKind::Length(5)));
        for bad in ["abc", "", "-1", "+5", "5,", "99999999999999999999", "0x10"] {
            let h = head_with(200, &[("Content-Length", bad)]);
            assert!(
                matches!(
                    body_kind(false, &h),
                    Err(ParseError::InvalidContentLength(_))
                ),
                "{bad:?}"
            );
        }
        let h = head_with(200, &[("Content-Length", "18446744073709551615")]);
        assert_eq!(body_kind(false, &h), Ok(BodyKind::Length(u64::MAX)));
        assert_eq!(body_kind(false, &head_with(200, &[])), Ok(BodyKind::Close));
    }

    #[test]
    fn keep_alive_rules() {
        let ka = |raw: &[u8]| head(raw).keep_alive();
        assert!(ka(b"HTTP/1.1 200 OK\r\n\r\n"));
        assert!(!ka(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"));
        assert!(!ka(
            b"HTTP/1.1 200 OK\r\nConnection: Upgrade, CLOSE\r\n\r\n"
        ));
        assert!(!ka(
            b"HTTP/1.1 200 OK\r\nConnection: x\r\nConnection: close\r\n\r\n"
        ));
        assert!(ka(b"HTTP/1.1 200 OK\r\nConnection: closed\r\n\r\n"));
        assert!(!ka(b"HTTP/1.0 200 OK\r\n\r\n"));
        assert!(ka(
            b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive, Upgrade\r\n\r\n"
        ));
        assert!(ka(b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n"));
        assert!(!ka(
            b"HTTP/1.0 200 OK\r\nConnection: keep-alive, close\r\n\r\n"
        ));
        assert!(ka(
            b"HTTP/1.1 200 OK\r\nConnection: Keep-Alive, Upgrade\r\n\r\n"
        ));
    }

    const CHUNKED: &[u8] = b"5;name=value;x\r\nhello\r\n7 ; q=\"a;b\"\r\n, world\r\n0;last\r\nX-Trailer: t\r\nX-Two:\t2 \r\n\r\nNEXT";

    #[test]
    fn chunked_with_extensions_and_trailers_whole_and_byte_by_byte() {
        let limits = Limits::default();
        let end = CHUNKED.len() - 4;
        for pieces in [&[usize::MAX][..], &[1], &[2, 3, 1]] {
            let (body, used, res) = drive(BodyKind::Chunked, &limits, CHUNKED, pieces, false);
            assert_eq!(res, Ok(true), "{pieces:?}");
            assert_eq!(body, b"hello, world");
            assert_eq!(used, end, "stops at the end of the body");
        }
        // Exact step shape when fed whole: the first call gives the first chunk.
        let mut dec = TransferDecoder::new(BodyKind::Chunked, &limits);
        let step = dec.decode(CHUNKED).unwrap();
        assert_eq!(step.data, b"hello");
        assert_eq!(step.consumed, 16 + 5);
        assert!(!step.done);
    }

    #[test]
    fn bad_chunk_sizes() {
        let limits = Limits::default();
        for wire in [
            &b"zz\r\n"[..],
            b"\r\n",
            b";ext\r\n",
            b" 5\r\n",
            b"5\rx",
            b"10000000000000000\r\n",
        ] {
            let mut dec = TransferDecoder::new(BodyKind::Chunked, &limits);
            assert_eq!(
                dec.decode(wire).err(),
                Some(ParseError::InvalidChunkSize),
                "{wire:?}"
            );
            // And it stays failed.
            assert_eq!(
                dec.decode(b"5\r\n").err(),
                Some(ParseError::InvalidChunkSize)
            );
        }
    }

    #[test]
    fn an_early_eof_is_returned_again_by_every_later_call() {
        // Length 3, two bytes seen: one byte was still to come when the connection closed.
        let mut dec = TransferDecoder::new(BodyKind::Length(3), &Limits::default());
        assert_eq!(dec.decode(b"ab").unwrap().consumed, 2);
        assert_eq!(dec.eof(), Err(ParseError::UnexpectedEof));
        // The byte arriving after all does not revive it: it failed, it stays failed.
        assert_eq!(dec.decode(b"c").err(), Some(ParseError::UnexpectedEof));
        assert_eq!(dec.eof(), Err(ParseError::UnexpectedEof));
        assert!(!dec.is_done());
    }

    #[test]
    fn largest_chunk_size_does_not_overflow() {
        let mut dec = TransferDecoder::new(BodyKind::Chunked, &Limits::default());
        let step = dec.decode(b"ffffffffffffffff\r\nabc").unwrap();
        assert_eq!(step.data, b"abc");
        assert_eq!(step.consumed, 21);
        assert!(!step.done);
        for _ in 0..3 {
            let step = dec.decode(&[7u8; 1000]).unwrap();
            assert_eq!(step.data.len(), 1000);
            assert!(!step.done);
        }
        assert!(!dec.is_done());
        assert_eq!(dec.eof(), Err(ParseError::UnexpectedEof));
    }

    #[test]
    fn missing_crlf_after_chunk_data() {
        let limits = Limits::default();
        for wire in [
            &b"3\r\nabcX\r\n0\r\n\r\n"[..],
            b"3\r\nabc\rX",
            b"3\r\nabc\n0\r\n\r\n",
            b"3\r\nabcX\n0\r\n\r\n",
        ] {
            let (body, _, res) = drive(BodyKind::Chunked, &limits, wire, &[1], false);
            assert_eq!(body, b"abc");
            assert!(matches!(res, Err(ParseError::InvalidChunk(_))), "{wire:?}");
        }
    }

    #[test]
    fn endless_extension_is_too_long() {
        let limits = Limits::default();
        let mut wire = b"5;".to_vec();
        wire.extend(std::iter::repeat_n(b'a', 10_000));
        let mut dec = TransferDecoder::new(BodyKind::Chunked, &limits);
        assert_eq!(dec.decode(&wire[..4000]).unwrap().consumed, 0, "not yet");
        assert_eq!(
            dec.decode(&wire).err(),
            Some(ParseError::ChunkLineTooLong { limit: 4096 })
        );
        // The same whatever the fragmentation.
        let (_, _, res) = drive(BodyKind::Chunked, &limits, &wire, &[100], false);
        assert_eq!(res, Err(ParseError::ChunkLineTooLong { limit: 4096 }));
    }

    #[test]
    fn huge_trailers_are_too_large() {
        let limits = Limits::default();
        let mut wire = b"1\r\na\r\n0\r\n".to_vec();
        for i in 0..2000 {
            wire.extend_from_slice(format!("X-T{i}: {i}\r\n").as_bytes());
        }
        wire.extend_from_slice(b"\r\n");
        for pieces in [&[usize::MAX][..], &[7]] {
            let (_, _, res) = drive(BodyKind::Chunked, &limits, &wire, pieces, false);
            assert_eq!(res, Err(ParseError::TrailersTooLarge { limit: 16384 }));
        }
        let roomy = Limits {
            max_trailer_bytes: 1 << 20,
            ..Limits::default()
        };
        let (body, used, res) = drive(BodyKind::Chunked, &roomy, &wire, &[usize::MAX], false);
        assert_eq!(
            (body.as_slice(), used, res),
            (&b"a"[..], wire.len(), Ok(true))
        );
    }

    #[test]
    fn a_trailer_section_of_exactly_the_limit_is_accepted() {
        // The trailer section here, `X: a\r\n\r\n`, is 8 bytes: a limit of 8 takes it, 7 does not.
        let wire = b"0\r\nX: a\r\n\r\n";
        let limit = |max_trailer_bytes| Limits {
            max_trailer_bytes,
            ..Limits::default()
        };
        for pieces in [&[usize::MAX][..], &[1]] {
            let (_, used, res) = drive(BodyKind::Chunked, &limit(8), wire, pieces, false);
            assert_eq!((used, res), (wire.len(), Ok(true)), "{pieces:?}");
            let (_, _, res) = drive(BodyKind::Chunked, &limit(7), wire, pieces, false);
            assert_eq!(
                res,
                Err(ParseError::TrailersTooLarge { limit: 7 }),
                "{pieces:?}"
            );
        }
    }

    #[test]
    fn a_folded_trailer_line_is_accepted() {
        // Obsolete line folding: a line that starts with a space or a tab continues the value.
        for wire in [
            &b"0\r\nX-A: 1\r\n 2\r\n\r\nNEXT"[..],
            b"0\r\nX-A: 1\r\n\t2\r\nX-B: 3\r\n\r\nNEXT",
        ] {
            for pieces in [&[usize::MAX][..], &[1]] {
                let (body, used, res) =
                    drive(BodyKind::Chunked, &Limits::default(), wire, pieces, false);
                assert_eq!(res, Ok(true), "{wire:?} {pieces:?}");
                assert!(body.is_empty());
                assert_eq!(used, wire.len() - 4, "stops at the end of the body");
            }
        }
    }

    #[test]
    fn malformed_trailers() {
        for wire in [
            &b"0\r\nno colon\r\n\r\n"[..],
            b"0\r\nX: a\nY: b\r\n\r\n",
            b"0\r\n\rX",
        ] {
            let (_, _, res) = drive(
                BodyKind::Chunked,
                &Limits::default(),
                wire,
                &[usize::MAX],
                false,
            );
            assert!(matches!(res, Err(ParseError::InvalidChunk(_))), "{wire:?}");
        }
    }

    #[test]
    fn eof_rules() {
        let limits = Limits::default();
        // Mid-chunk.
        let (body, _, res) = drive(BodyKind::Chunked, &limits, b"a\r\nhello", &[3], true);
        assert_eq!(body, b"hello");
        assert_eq!(res, Err(ParseError::UnexpectedEof));
        // Before the trailers end.
        let (_, _, res) = drive(BodyKind::Chunked, &limits, b"0\r\nX: y\r\n", &[3], true);
        assert_eq!(res, Err(ParseError::UnexpectedEof));
        // Before Content-Length is reached.
        let (body, _, res) = drive(BodyKind::Length(10), &limits, b"hello", &[2], true);
        assert_eq!(body, b"hello");
        assert_eq!(res, Err(ParseError::UnexpectedEof));
        // Close: EOF is the end.
        let (body, used, res) = drive(BodyKind::Close, &limits, b"all of it", &[4], true);
        assert_eq!(
            (body.as_slice(), used, res),
            (&b"all of it"[..], 9, Ok(true))
        );
        let mut dec = TransferDecoder::new(BodyKind::Close, &limits);
        assert!(!dec.decode(b"x").unwrap().done);
        assert_eq!(dec.eof(), Ok(()));
        assert!(dec.is_done());
    }

    #[test]
    fn length_none_and_zero() {
        let limits = Limits::default();
        for kind in [BodyKind::None, BodyKind::Length(0)] {
            let mut dec = TransferDecoder::new(kind, &limits);
            assert!(dec.is_done());
            let step = dec.decode(b"HTTP/1.1 200").unwrap();
            assert_eq!((step.consumed, step.data, step.done), (0, &b""[..], true));
            assert_eq!(dec.eof(), Ok(()));
        }
        let mut dec = TransferDecoder::new(BodyKind::Length(3), &limits);
        let step = dec.decode(b"abcdef").unwrap();
        assert_eq!(
            (step.consumed, step.data, step.done),
            (3, &b"abc"[..], true)
        );
        let mut dec = TransferDecoder::new(BodyKind::Length(3), &limits);
        assert_eq!(dec.decode(b"").unwrap().consumed, 0);
        assert_eq!(dec.decode(b"ab").unwrap().data, b"ab");
        assert!(!dec.is_done());
        assert_eq!(dec.decode(b"cd").unwrap().data, b"c");
        assert!(dec.is_done());
    }

    #[test]
    fn error_messages_read_well() {
        assert_eq!(
            ParseError::UnexpectedEof.to_string(),
            "connection closed before the end of the response body"
        );
        assert_eq!(
            ParseError::InvalidHead("invalid response status".into()).to_string(),
            "malformed response head: invalid response status"
        );
        let e: Box<dyn std::error::Error> = Box::new(ParseError::ConflictingContentLength);
        assert!(e.to_string().contains("Content-Length"));
    }

    fn wireish() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..300),
            proptest::collection::vec(
                proptest::sample::select(b"0159afF \t;=:\"\r\n\r\nxHTP/1.20OK".to_vec()),
                0..300
            ),
            (
                proptest::sample::select(vec![
                    &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"[..],
                    b"HTTP/1.0 204 X\r\n",
                    b"3\r\nabc\r\n0\r\n",
                    b"ffffffffffffffff;x\r\n",
                ]),
                proptest::collection::vec(
                    proptest::sample::select(b"0123456789abcdef;=:\r\n X".to_vec()),
                    0..100
                ),
            )
                .prop_map(|(p, t)| [p, &t[..]].concat()),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_bytes_never_panic(
            wire in wireish(),
            splits in proptest::collection::vec(1usize..40, 1..8),
            len in 0u64..400,
            eof in any::<bool>(),
        ) {
            let small = Limits { max_head_bytes: 200, max_headers: 4, max_chunk_line: 16, max_trailer_bytes: 32 };
            for limits in [Limits::default(), small] {
                let mut cut = 0;
                for s in splits.iter().cycle().take(wire.len() + 1) {
                    cut = (cut + s).min(wire.len());
                    if let Ok(Some((h, used))) = parse_head(&wire[..cut], &limits) {
                        prop_assert!(used <= cut);
                        let _ = body_kind(false, &h);
                        let _ = h.keep_alive();
                    }
                    if cut == wire.len() {
                        break;
                    }
                }
                for kind in [BodyKind::None, BodyKind::Length(len), BodyKind::Chunked, BodyKind::Close] {
                    // `drive` asserts consumed <= input and that data lies within consumed.
                    let (body, used, res) = drive(kind, &limits, &wire, &splits, eof);
                    prop_assert!(used <= wire.len());
                    prop_assert!(body.len() <= used);
                    if kind == BodyKind::Close {
                        prop_assert_eq!(&body, &wire);
                    }
                    let _ = res;
                }
            }
        }

        #[test]
        fn chunked_round_trip(
            data in proptest::collection::vec(any::<u8>(), 0..2000),
            cuts in proptest::collection::vec(1usize..300, 1..12),
            exts in proptest::collection::vec(
                proptest::sample::select(vec!["", ";a", ";a=b", " ;x=\"q;\\\"z\"", ";k=v;k2", "\t; e = 1"]),
                1..6,
            ),
            upper in any::<bool>(),
            trailers in proptest::collection::vec("[A-Za-z][A-Za-z0-9-]{0,8}: [ -~]{0,10}", 0..4),
            frags in proptest::collection::vec(1usize..64, 1..10),
        ) {
            let mut wire = Vec::new();
            let mut rest = &data[..];
            let mut i = 0;
            while !rest.is_empty() {
                let n = cuts[i % cuts.len()].min(rest.len());
                let size = if upper { format!("{n:X}") } else { format!("{n:x}") };
                wire.extend_from_slice(format!("{size}{}\r\n", exts[i % exts.len()]).as_bytes());
                wire.extend_from_slice(&rest[..n]);
                wire.extend_from_slice(b"\r\n");
                rest = &rest[n..];
                i += 1;
            }
            wire.extend_from_slice(format!("0{}\r\n", exts[i % exts.len()]).as_bytes());
            for t in &trailers {
                wire.extend_from_slice(t.as_bytes());
                wire.extend_from_slice(b"\r\n");
            }
            wire.extend_from_slice(b"\r\n");
            let end = wire.len();
            wire.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
            let (body, used, res) = drive(BodyKind::Chunked, &Limits::default(), &wire, &frags, false);
            prop_assert_eq!(res, Ok(true));
            prop_assert_eq!(used, end);
            prop_assert_eq!(body, data);
        }
    }
}
