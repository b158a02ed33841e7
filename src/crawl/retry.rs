//! The crawl's retry policy, in one place: which failures are worth another try, how long to
//! wait before it, and a GET that applies both. Pages and robots.txt files go through it alike.

use std::time::Duration;

use url::Url;

use crate::http::{Client, Error, Method, Phase, Response};
use crate::time::sleep;

/// Whether a failed request is worth retrying: the server may accept a connection in a moment.
fn transient_error(error: &Error) -> bool {
    matches!(
        error,
        Error::Io(_)
            | Error::Timeout {
                phase: Phase::Connect
            }
    )
}

/// Whether a status asks to come back later.
fn transient_status(status: u16) -> bool {
    matches!(status, 429 | 503)
}

/// Exponential backoff from 250 ms, or the server's `Retry-After` (capped at 30 s).
pub(crate) fn backoff(attempt: u32, retry_after: Option<Duration>) -> Duration {
    retry_after
        .unwrap_or_else(|| Duration::from_millis(250) * (1 << attempt.min(6)))
        .min(Duration::from_secs(30))
}

/// `GET url`, retried up to `retries` times after a transient failure (a connect error, a
/// 429 or a 503), with backoff. The last answer is returned as it is: a 503 after the retries
/// is a response, not an error.
pub(crate) async fn get(client: &Client, url: &Url, retries: u32) -> Result<Response, Error> {
    let mut attempt = 0;
    loop {
        let response = match client.request_url(Method::Get, url.clone()).send().await {
            Ok(response) => response,
            Err(e) if transient_error(&e) && attempt < retries => {
                attempt += 1;
                sleep(backoff(attempt, None)).await;
                continue;
            }
            Err(e) => return Err(e),
        };
        if transient_status(response.status()) && attempt < retries {
            attempt += 1;
            let after = response
                .header_str("retry-after")
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            drop(response);
            sleep(backoff(attempt, after)).await;
            continue;
        }
        return Ok(response);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_failures_are_transient_and_other_errors_are_not() {
        let refused = Error::Io(std::io::ErrorKind::ConnectionRefused.into());
        assert!(transient_error(&refused));
        assert!(transient_error(&Error::Timeout {
            phase: Phase::Connect
        }));
        // A server that accepted and then stalled, or answered nonsense, is not retried.
        assert!(!transient_error(&Error::Timeout { phase: Phase::Idle }));
        assert!(!transient_error(&Error::Timeout {
            phase: Phase::Total
        }));
        assert!(!transient_error(&Error::TooManyRedirects { limit: 1 }));
    }

    #[test]
    fn only_429_and_503_ask_to_come_back() {
        for status in [429, 503] {
            assert!(transient_status(status), "{status}");
        }
        for status in [200, 404, 500, 502, 504] {
            assert!(!transient_status(status), "{status}");
        }
    }

    #[test]
    fn backoff_doubles_from_250_ms_up_to_64_times() {
        // 250 ms * 2^attempt, the exponent capped at 6 (16 s), the whole at 30 s.
        assert_eq!(backoff(0, None), Duration::from_millis(250));
        assert_eq!(backoff(3, None), Duration::from_secs(2));
        assert_eq!(backoff(6, None), Duration::from_secs(16));
        assert_eq!(backoff(7, None), Duration::from_secs(16));
        assert_eq!(backoff(u32::MAX, None), Duration::from_secs(16));
        assert_eq!(backoff(0, Some(Duration::ZERO)), Duration::ZERO);
        assert_eq!(
            backoff(0, Some(Duration::from_secs(30))),
            Duration::from_secs(30)
        );
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff(1, None), Duration::from_millis(500));
        assert_eq!(backoff(2, None), Duration::from_secs(1));
        assert_eq!(
            backoff(1, Some(Duration::from_secs(3))),
            Duration::from_secs(3)
        );
        assert_eq!(
            backoff(1, Some(Duration::from_secs(3600))),
            Duration::from_secs(30)
        );
    }
}
