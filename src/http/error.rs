//! The one error type of the HTTP client: every way a request can fail, each with a message a
//! user understands.

use std::fmt;
use std::io;

use super::framing::ParseError;

/// Which clock ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Opening the TCP connection took longer than the connect timeout.
    Connect,
    /// No byte arrived (or could be sent) for the idle timeout.
    Idle,
    /// The whole request, every redirect and the body included, passed its total deadline.
    Total,
}

/// Why a request failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The connection failed: refused, reset, unreachable, name not found, ...
    Io(io::Error),
    /// A timeout fired; `phase` says which.
    Timeout { phase: Phase },
    /// The URL (or a redirect's `Location`) could not be parsed.
    InvalidUrl { url: String, reason: String },
    /// Only `http` is supported (and `https` with the `tls` feature, on by default).
    UnsupportedScheme(String),
    /// The server's response broke HTTP/1.1 framing.
    Parse(ParseError),
    /// The body grew past the configured maximum.
    BodyTooLarge { limit: u64 },
    /// More redirects than allowed in one request.
    TooManyRedirects { limit: usize },
    /// A redirect led back to a URL already visited in this request.
    RedirectLoop { url: String },
    /// A redirect from `https` to `http` was refused (see
    /// [`ClientBuilder::allow_https_downgrade`](super::ClientBuilder::allow_https_downgrade)).
    InsecureRedirect { from: String, to: String },
    /// A custom header name or value cannot be sent (bad characters, CR or LF).
    InvalidHeader { name: String },
    /// A custom header is one the client writes itself (`Host`, `Content-Length`,
    /// `Transfer-Encoding`, `Connection`, ...).
    ReservedHeader { name: String },
    /// A `307` or `308` redirect asked for the request body again, and the body was a stream
    /// already sent.
    BodyNotReplayable { status: u16, to: String },
    /// Reading the request body's stream failed, or it ended before the length it announced.
    RequestBody(io::Error),
    /// TLS could not be set up or the handshake failed (unknown issuer, wrong name, expired
    /// certificate, ...); the message says which, and [`source`](std::error::Error::source) is
    /// rustls's own error where there is one.
    Tls(Reason),
    /// The body is compressed in a way this client does not decode, or is corrupt; for a corrupt
    /// body [`source`](std::error::Error::source) is the
    /// [`DecodeError`](super::decode::DecodeError).
    Decode(Reason),
}

/// The words of an [`Error::Tls`] or [`Error::Decode`] and the error they were made from.
///
/// It reads as the message (`Display`, and it derefs to `str`, so `message.contains("...")`
/// works as it did when these variants held a `String`), and keeps the lower error, which
/// [`Error::source`](std::error::Error::source) returns: the message is written for people,
/// the source is for code that needs to tell causes apart.
pub struct Reason {
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl Reason {
    /// A message with the error it explains.
    pub fn with_source(
        message: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Reason {
        Reason {
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// The message, as `Display` writes it.
    pub fn as_str(&self) -> &str {
        &self.message
    }

    /// The error the message was made from, if there was one.
    pub fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// A message with no lower error (a refused encoding, a CA file without certificates).
impl From<String> for Reason {
    fn from(message: String) -> Reason {
        Reason {
            message,
            source: None,
        }
    }
}

impl From<&str> for Reason {
    fn from(message: &str) -> Reason {
        Reason::from(message.to_string())
    }
}

impl From<Reason> for String {
    fn from(reason: Reason) -> String {
        reason.message
    }
}

impl std::ops::Deref for Reason {
    type Target = str;

    fn deref(&self) -> &str {
        &self.message
    }
}

impl AsRef<str> for Reason {
    fn as_ref(&self) -> &str {
        &self.message
    }
}

impl PartialEq<str> for Reason {
    fn eq(&self, other: &str) -> bool {
        self.message == other
    }
}

impl PartialEq<&str> for Reason {
    fn eq(&self, other: &&str) -> bool {
        self.message == *other
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// The message as a string's `Debug` would show it, then the source's `Debug`, if any.
impl fmt::Debug for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.message, f)?;
        if let Some(source) = &self.source {
            write!(f, " (source: {source:?})")?;
        }
        Ok(())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "connection error: {e}"),
            Error::Timeout { phase } => match phase {
                Phase::Connect => f.write_str("timed out connecting"),
                Phase::Idle => f.write_str("timed out waiting for the server (idle timeout)"),
                Phase::Total => f.write_str("request took longer than its total timeout"),
            },
            Error::InvalidUrl { url, reason } => write!(f, "invalid URL {url:?}: {reason}"),
            Error::UnsupportedScheme(scheme) => write!(f, "unsupported URL scheme {scheme:?}"),
            Error::Parse(e) => write!(f, "bad response from server: {e}"),
            Error::BodyTooLarge { limit } => {
                write!(f, "response body larger than the limit of {limit} bytes")
            }
            Error::TooManyRedirects { limit } => write!(f, "more than {limit} redirects"),
            Error::RedirectLoop { url } => write!(f, "redirect loop back to {url}"),
            Error::InsecureRedirect { from, to } => write!(
                f,
                "refused a redirect from https to http ({from} -> {to}): the request would go \
                 out unencrypted (ClientBuilder::allow_https_downgrade allows it)"
            ),
            Error::InvalidHeader { name } => write!(
                f,
                "header {name:?} cannot be sent: a name must be a token and a value may not \
                 hold CR, LF or other control characters"
            ),
            Error::ReservedHeader { name } => write!(
                f,
                "header {name:?} is the client's own (it writes Host, the body's framing and \
                 the connection headers itself)"
            ),
            Error::BodyNotReplayable { status, to } => write!(
                f,
                "the server redirected with {status} to {to}, which means sending the request \
                 body again, but the body was a stream and was already sent (give the body as \
                 bytes to allow this)"
            ),
            Error::RequestBody(e) => write!(f, "reading the request body failed: {e}"),
            Error::Tls(why) | Error::Decode(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) | Error::RequestBody(e) => Some(e),
            Error::Parse(e) => Some(e),
            Error::Tls(why) | Error::Decode(why) => why.source(),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Error {
        Error::Io(e)
    }
}

impl From<ParseError> for Error {
    fn from(e: ParseError) -> Error {
        Error::Parse(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn an_error_with_its_source_is_still_send_and_sync() {
        fn send_sync<T: Send + Sync + 'static>() {}
        send_sync::<Error>();
        send_sync::<Reason>();
    }

    #[test]
    fn a_reason_reads_as_its_message() {
        let reason = Reason::from("no certificate found in the CA file");
        assert_eq!(reason, "no certificate found in the CA file");
        assert!(reason.contains("no certificate"));
        assert_eq!(reason.to_string(), reason.as_str());
        assert_eq!(String::from(reason), "no certificate found in the CA file");
    }

    #[test]
    fn tls_and_decode_errors_write_their_message_and_return_their_source() {
        let cause = io::Error::other("the cause");
        let e = Error::Tls(Reason::with_source("TLS handshake with h failed: x", cause));
        assert_eq!(e.to_string(), "TLS handshake with h failed: x");
        assert_eq!(e.source().unwrap().to_string(), "the cause");

        let e = Error::Decode("unknown coding".into());
        assert_eq!(e.to_string(), "unknown coding");
        assert!(e.source().is_none());
    }
}
