//! Sending a request: its head, then its body, while watching for the server's answer.
//!
//! A server may answer before the body is all sent: a `413 Content Too Large` or a `401` after
//! reading the head, then close. A client that only writes would see the close as a broken
//! pipe (or, once the server's kernel resets the connection, lose the answer it had received).
//! RFC 9112 section 9.5 asks the client to watch the connection while it sends a body and to
//! stop when the server answers; so every step of an upload polls the socket for reading before
//! it writes, and a complete final response head (or the server's close) ends the upload. The
//! caller then reads that response as usual; the connection is not reused (the server is left
//! in the middle of a body it stopped reading).
//!
//! A short body goes out in the same write as the head (one segment for a small POST), and such
//! a request is not watched; a long one in pieces of [`PIECE`] bytes, each a step under the idle
//! clock.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_io::AsyncRead;

use super::conn::{Clocks, Conn};
use super::error::Error;
use super::framing::{Limits, parse_head};

/// The largest piece of body written (and read from a body stream) in one step.
const PIECE: usize = 64 * 1024;

/// A body up to this size is written in the head's buffer, in one write.
const INLINE: usize = 16 * 1024;

/// Room before a piece of a chunked body for its size line (16 hex digits and CRLF).
const SIZE_LINE: usize = 18;

/// A body as one attempt sends it.
pub(crate) enum Outgoing<'a> {
    None,
    /// Bytes the caller gave, which stay the caller's (a retry or a 307 sends them again).
    Bytes(&'a [u8]),
    /// A stream read once: `len` bytes with `Content-Length`, or chunked when `None`.
    Reader {
        reader: Pin<Box<dyn AsyncRead + Send>>,
        len: Option<u64>,
    },
}

/// How an upload ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sent {
    /// The head and the whole body went out.
    Whole,
    /// The server answered (a final response head is buffered) or closed before the body was
    /// all sent: the response, or the error of reading it, is what the caller gets.
    Cut,
}

/// Sends `head` (the request head, `\r\n\r\n` included) and `body` on `conn`.
pub(crate) async fn send(
    conn: &mut Conn,
    mut head: Vec<u8>,
    body: Outgoing<'_>,
    limits: &Limits,
    clocks: &Clocks,
) -> Result<Sent, Error> {
    let mut source = match body {
        Outgoing::None => Source::Done,
        Outgoing::Bytes(bytes) if bytes.len() <= INLINE => {
            head.extend_from_slice(bytes);
            Source::Done
        }
        Outgoing::Bytes(bytes) => Source::Bytes(bytes),
        Outgoing::Reader { reader, len } => Source::Reader(Box::new(Stream {
            reader,
            remaining: len,
            read: 0,
            len,
            piece: vec![0; SIZE_LINE + PIECE + 2],
            pending: 0..0,
            state: StreamState::Reading,
        })),
    };
    let mut upload = Upload {
        head,
        head_written: 0,
    };
    loop {
        let step = conn
            .wait(clocks, |conn, cx| {
                upload.poll_step(&mut source, conn, limits, cx)
            })
            .await;
        match step {
            Ok(Step::Wrote) => {}
            Ok(Step::Done) => break,
            Ok(Step::Cut) => return Ok(Sent::Cut),
            // The write failed because the server closed after answering: its answer counts.
            Err(Error::Io(_)) if has_final_head(conn, limits) => return Ok(Sent::Cut),
            Err(e) => return Err(e),
        }
    }
    conn.flush(clocks).await?;
    Ok(Sent::Whole)
}

/// What one step of an upload did.
enum Step {
    /// Some bytes went out.
    Wrote,
    /// Everything went out.
    Done,
    /// The server answered or closed.
    Cut,
}

struct Upload {
    head: Vec<u8>,
    head_written: usize,
}

/// Where the body's bytes come from.
enum Source<'a> {
    Done,
    Bytes(&'a [u8]),
    Reader(Box<Stream>),
}

/// A body stream being read and framed, one piece at a time.
struct Stream {
    reader: Pin<Box<dyn AsyncRead + Send>>,
    /// Bytes still to read for a body with a length; `None` for a chunked one.
    remaining: Option<u64>,
    /// The announced length, for the error when the stream ends short.
    len: Option<u64>,
    read: u64,
    /// `[SIZE_LINE room][data][CRLF room]`.
    piece: Vec<u8>,
    /// The framed bytes of `piece` not written yet.
    pending: std::ops::Range<usize>,
    state: StreamState,
}

#[derive(PartialEq, Eq)]
enum StreamState {
    Reading,
    /// The last chunk (`0\r\n\r\n`) is pending.
    Ending,
    Ended,
}

impl Upload {
    fn poll_step(
        &mut self,
        source: &mut Source<'_>,
        conn: &mut Conn,
        limits: &Limits,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Step, Error>> {
        // A request that goes out in one write (no body, or a short one) is not watched: the
        // answer is read right after, and on the hot path of small requests a read that finds
        // nothing would cost a system call each.
        let long = !matches!(source, Source::Done);
        if long && watch(conn, limits, cx)? {
            return Poll::Ready(Ok(Step::Cut));
        }
        let piece: &[u8] = if self.head_written < self.head.len() {
            &self.head[self.head_written..]
        } else {
            match source {
                Source::Done => return Poll::Ready(Ok(Step::Done)),
                Source::Bytes(bytes) => &bytes[..bytes.len().min(PIECE)],
                Source::Reader(stream) => match std::task::ready!(stream.poll_piece(cx))? {
                    Some(piece) => piece,
                    None => return Poll::Ready(Ok(Step::Done)),
                },
            }
        };
        let n = std::task::ready!(conn.poll_write(cx, piece))?;
        if n == 0 {
            return Poll::Ready(Err(Error::Io(io::ErrorKind::WriteZero.into())));
        }
        if self.head_written < self.head.len() {
            self.head_written += n;
        } else {
            match source {
                Source::Done => {}
                Source::Bytes(bytes) => {
                    *bytes = &bytes[n..];
                    if bytes.is_empty() {
                        *source = Source::Done;
                    }
                }
                Source::Reader(stream) => stream.pending.start += n,
            }
        }
        let all_sent = self.head_written == self.head.len() && matches!(source, Source::Done);
        Poll::Ready(Ok(if all_sent { Step::Done } else { Step::Wrote }))
    }
}

impl Stream {
    /// The framed bytes to write next, reading the next piece of the stream if none are
    /// pending; `None` once the body is all written.
    fn poll_piece(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<&[u8]>, Error>> {
        if self.pending.is_empty() {
            match self.state {
                StreamState::Ended => return Poll::Ready(Ok(None)),
                StreamState::Ending => {
                    self.state = StreamState::Ended;
                    return Poll::Ready(Ok(None));
                }
                StreamState::Reading => std::task::ready!(self.poll_read_piece(cx))?,
            }
            if self.pending.is_empty() {
                return Poll::Ready(Ok(None));
            }
        }
        Poll::Ready(Ok(Some(&self.piece[self.pending.clone()])))
    }

    /// Reads the next piece of the stream into `piece` and frames it.
    fn poll_read_piece(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let want = match self.remaining {
            Some(0) => {
                self.state = StreamState::Ended;
                return Poll::Ready(Ok(()));
            }
            Some(left) => PIECE.min(usize::try_from(left).unwrap_or(PIECE)),
            None => PIECE,
        };
        let room = &mut self.piece[SIZE_LINE..SIZE_LINE + want];
        let n = std::task::ready!(self.reader.as_mut().poll_read(cx, room))
            .map_err(Error::RequestBody)?;
        self.read += n as u64;
        match (self.remaining.as_mut(), n) {
            (Some(_), 0) => {
                let len = self.len.unwrap_or_default();
                return Poll::Ready(Err(Error::RequestBody(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "the request body stream ended after {} of the {len} bytes its length \
                         announced",
                        self.read
                    ),
                ))));
            }
            (Some(left), n) => {
                *left -= n as u64;
                self.pending = SIZE_LINE..SIZE_LINE + n;
            }
            (None, 0) => {
                self.piece[..5].copy_from_slice(b"0\r\n\r\n");
                self.pending = 0..5;
                self.state = StreamState::Ending;
            }
            (None, n) => {
                let line = format!("{n:x}\r\n");
                let start = SIZE_LINE - line.len();
                self.piece[start..SIZE_LINE].copy_from_slice(line.as_bytes());
                self.piece[SIZE_LINE + n..SIZE_LINE + n + 2].copy_from_slice(b"\r\n");
                self.pending = start..SIZE_LINE + n + 2;
            }
        }
        Poll::Ready(Ok(()))
    }
}

/// Reads whatever the server sent so far; `true` once it answered (a final response head is
/// buffered) or closed. Interim (1xx) responses other than 101 are consumed on the way: the
/// upload goes on after a `100 Continue`.
fn watch(conn: &mut Conn, limits: &Limits, cx: &mut Context<'_>) -> Result<bool, Error> {
    loop {
        if skip_interim(conn, limits)? {
            return Ok(true);
        }
        match conn.poll_fill(cx) {
            Poll::Pending => return Ok(false),
            Poll::Ready(Ok(0)) => return Ok(true),
            Poll::Ready(Ok(_)) => {}
            Poll::Ready(Err(e)) => {
                return if has_final_head(conn, limits) {
                    Ok(true)
                } else {
                    Err(Error::Io(e))
                };
            }
        }
    }
}

/// Consumes the interim responses at the front of the buffer; `true` if a final head follows.
fn skip_interim(conn: &mut Conn, limits: &Limits) -> Result<bool, Error> {
    while let Some((head, used)) = parse_head(conn.buffered(), limits)? {
        if (100..200).contains(&head.status) && head.status != 101 {
            conn.consume(used);
            continue;
        }
        return Ok(true);
    }
    Ok(false)
}

/// Whether a complete response head other than an interim one is buffered.
fn has_final_head(conn: &mut Conn, limits: &Limits) -> bool {
    skip_interim(conn, limits).unwrap_or(false)
}
