//! Wall-clock timestamps for records, as RFC 3339 in UTC, without a date crate: the civil date
//! of a day count comes from the HTTP client's date formatting (`http::http_date`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::http::http_date::civil_from_days;

/// Now, as `YYYY-MM-DDTHH:MM:SS.mmmZ`. A clock set before 1970 reads as the epoch.
pub(crate) fn utc_now() -> String {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    format(since)
}

/// `since` the Unix epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
fn format(since: Duration) -> String {
    let secs = since.as_secs();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60,
        since.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_epoch() {
        assert_eq!(format(Duration::ZERO), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn a_leap_day_at_noon() {
        // 2024-02-29T12:00:00Z is 1 709 208 000 s after the epoch.
        let t = Duration::from_secs(1_709_208_000) + Duration::from_millis(42);
        assert_eq!(format(t), "2024-02-29T12:00:00.042Z");
    }

    #[test]
    fn the_first_of_march_2000() {
        // 2000 is a leap year (divisible by 400): 951 868 800 s is 2000-03-01.
        assert_eq!(
            format(Duration::from_secs(951_868_800)),
            "2000-03-01T00:00:00.000Z"
        );
    }

    #[test]
    fn the_last_second_of_a_year() {
        // 2025-12-31T23:59:59Z is 1 767 225 599 s.
        assert_eq!(
            format(Duration::from_secs(1_767_225_599)),
            "2025-12-31T23:59:59.000Z"
        );
    }
}
