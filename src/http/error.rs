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
    /// TLS could not be set up or the handshake failed (unknown issuer, wrong name, expired
    /// certificate, ...); the message says which.
    Tls(String),
    /// The body is compressed in a way this client does not decode, or is corrupt.
    Decode(String),
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
            Error::InvalidHeader { name } => write!(f, "header {name:?} cannot be sent"),
            Error::Tls(why) => f.write_str(why),
            Error::Decode(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            Error::Parse(e) => Some(e),
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
