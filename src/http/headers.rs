//! Headers a caller sets, on the client or on one request: checked before anything is sent,
//! and kept from the origins they were not meant for.

use super::error::Error;

/// Headers that carry credentials whoever set them: never sent past a change of origin.
const CREDENTIAL_HEADERS: [&str; 3] = ["authorization", "cookie", "proxy-authorization"];

/// Headers the client writes itself. Set by a caller, they would contradict what the client
/// does: a second `Host`, or a `Content-Length` or `Transfer-Encoding` that is not the body's
/// framing (the way to request smuggling); `Connection`, `Keep-Alive`, `TE`, `Trailer` and
/// `Upgrade` are about the connection the pool manages; `Expect: 100-continue` would need a
/// wait for an interim answer the client does not make.
const CLIENT_OWN: [&str; 9] = [
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "upgrade",
    "expect",
];

/// Headers that describe a request's body: left out when a redirect turns the request into a
/// `GET` without its body (the Fetch standard's "request-body-header names").
const BODY_HEADERS: [&str; 4] = [
    "content-type",
    "content-encoding",
    "content-language",
    "content-location",
];

/// A header the caller set, on the client builder or on one request.
#[derive(Debug, Clone)]
pub(crate) struct CustomHeader {
    pub(crate) name: String,
    pub(crate) value: String,
    /// Sent only while the redirect chain has not left the origin of the URL the caller asked
    /// for: set for [`CREDENTIAL_HEADERS`] and for every header marked sensitive.
    pub(crate) sensitive: bool,
}

impl CustomHeader {
    /// A header, sensitive if its name is a credential header or `sensitive` says so.
    pub(crate) fn new(name: String, value: String, sensitive: bool) -> CustomHeader {
        let sensitive = sensitive
            || CREDENTIAL_HEADERS
                .iter()
                .any(|c| c.eq_ignore_ascii_case(&name));
        CustomHeader {
            name,
            value,
            sensitive,
        }
    }

    /// Whether the header can be sent as it is: a token for a name (RFC 9110 section 5.1), a
    /// value without CR, LF, NUL or other controls but tab (a value with `\r\n` would otherwise
    /// become a second header), and not one of the headers the client writes itself.
    pub(crate) fn check(&self) -> Result<(), Error> {
        check(&self.name, &self.value)
    }

    pub(crate) fn is_named(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
    }

    /// Whether the header describes the request's body (dropped with the body).
    pub(crate) fn describes_body(&self) -> bool {
        BODY_HEADERS.iter().any(|h| self.is_named(h))
    }
}

/// [`CustomHeader::check`] for a name and a value.
pub(crate) fn check(name: &str, value: &str) -> Result<(), Error> {
    let name_ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    let value_ok = value
        .bytes()
        .all(|b| b == b'\t' || (b >= b' ' && b != 0x7f));
    if !name_ok || !value_ok {
        return Err(Error::InvalidHeader {
            name: name.to_string(),
        });
    }
    if CLIENT_OWN.iter().any(|own| own.eq_ignore_ascii_case(name)) {
        return Err(Error::ReservedHeader {
            name: name.to_string(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_headers_are_sensitive_in_any_case() {
        let sensitive = |name: &str| CustomHeader::new(name.into(), "v".into(), false).sensitive;
        assert!(
            sensitive("AUTHORIZATION") && sensitive("Cookie") && sensitive("proxy-authorization")
        );
        assert!(!sensitive("X-Trace"));
        assert!(CustomHeader::new("X-Api-Key".into(), "k".into(), true).sensitive);
    }

    #[test]
    fn a_value_with_cr_or_lf_is_refused() {
        for value in ["a\r\nX-Injected: 1", "a\nb", "a\rb", "a\0b", "a\x7fb"] {
            assert!(
                matches!(check("X-Note", value), Err(Error::InvalidHeader { ref name }) if name == "X-Note"),
                "{value:?}"
            );
        }
        assert!(check("X-Note", "tab\tand UTF-8 é are fine").is_ok());
    }

    #[test]
    fn a_name_that_is_not_a_token_is_refused() {
        for name in ["", "X Note", "X:Note", "X-Note\r\n", "Ä"] {
            assert!(
                matches!(check(name, "v"), Err(Error::InvalidHeader { .. })),
                "{name:?}"
            );
        }
    }

    #[test]
    fn framing_and_connection_headers_are_the_clients_own() {
        for name in [
            "Host",
            "content-length",
            "Transfer-Encoding",
            "Connection",
            "TE",
            "Expect",
        ] {
            assert!(
                matches!(check(name, "x"), Err(Error::ReservedHeader { .. })),
                "{name}"
            );
        }
        assert!(check("Content-Type", "application/json").is_ok());
    }
}
