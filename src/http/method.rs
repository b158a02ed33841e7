//! The request methods the client sends, and which of them may be sent twice.

/// A request method.
///
/// Whether a method is idempotent ([RFC 9110 section 9.2.2]) decides whether the client may
/// send a request again after losing the stale-connection race: sending `GET` or `PUT` twice
/// has the effect of sending it once; sending `POST` or `PATCH` twice may buy two of something.
///
/// [RFC 9110 section 9.2.2]: https://www.rfc-editor.org/rfc/rfc9110#section-9.2.2
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Patch,
    Options,
}

impl Method {
    /// The method's name as it goes on the request line.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Patch => "PATCH",
            Method::Options => "OPTIONS",
        }
    }

    /// Whether sending the request twice has the effect of sending it once (GET, HEAD, PUT,
    /// DELETE, OPTIONS): only those are sent again after a stale connection, unless the caller
    /// allows it with [`RequestBuilder::retry_on_stale`](super::RequestBuilder::retry_on_stale).
    pub fn is_idempotent(self) -> bool {
        matches!(
            self,
            Method::Get | Method::Head | Method::Put | Method::Delete | Method::Options
        )
    }

    /// Whether the method gives a body a meaning, so an empty one is still announced with
    /// `Content-Length: 0` (servers such as nginx answer a bodiless POST without it with 411).
    pub(crate) fn expects_body(self) -> bool {
        matches!(self, Method::Post | Method::Put | Method::Patch)
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_post_and_patch_are_not_idempotent() {
        let all = [
            Method::Get,
            Method::Head,
            Method::Post,
            Method::Put,
            Method::Delete,
            Method::Patch,
            Method::Options,
        ];
        let not: Vec<Method> = all.into_iter().filter(|m| !m.is_idempotent()).collect();
        assert_eq!(not, [Method::Post, Method::Patch]);
        assert_eq!(Method::Options.to_string(), "OPTIONS");
    }
}
