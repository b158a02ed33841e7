//! What a crawl reports: the closing [`Summary`], the [`Progress`] line, and the latency
//! histogram behind the summary's percentiles.

use std::fmt;
use std::time::Duration;

use super::config::FILTERED;
use super::record::Record;
use super::robots::DISALLOWED;

/// What a crawl did, for the closing line.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    /// Records written (one per URL taken off the frontier).
    pub records: u64,
    /// Records with a response (any status).
    pub pages: u64,
    pub bytes: u64,
    /// Records with an error (robots.txt refusals and type filtering not counted; an
    /// unreachable robots.txt is).
    pub errors: u64,
    /// URLs robots.txt did not allow (they have a record, but are not counted as errors).
    pub disallowed: u64,
    /// Responses whose body was not read for its media type (`accept_types`, `reject_types`):
    /// their records say why ([`FILTERED`]), and are not counted as errors.
    pub filtered: u64,
    pub not_found: u64,
    /// Redirects followed, over all fetches.
    pub redirects: u64,
    /// Bodies that could not be saved under `--out` (each record names its failure).
    pub save_errors: u64,
    /// Links (and seeds) to new URLs dropped because the frontier held `Config::max_frontier`
    /// URLs, counted each time one is found (a dropped URL is not remembered).
    pub dropped: u64,
    pub elapsed: Duration,
    /// Fetch latency percentiles, from a fixed-size histogram.
    pub p50: Duration,
    pub p99: Duration,
    /// The crawl was stopped (signal) before the frontier emptied.
    pub interrupted: bool,
    /// The crawl's state (`--state`) could not be written, which stopped the crawl: why.
    pub state_error: Option<String>,
    /// A shared crawl's worker lost its claim on some hosts (it was paused, or cut off from
    /// the database, past its lease) and started its part again: how many times.
    pub restarts: u32,
}

impl Summary {
    /// Adds the counts of a later part of the same crawl (a shared crawl's next session).
    #[cfg(feature = "postgres")]
    pub(crate) fn add(&mut self, later: &Summary) {
        self.records += later.records;
        self.pages += later.pages;
        self.bytes += later.bytes;
        self.errors += later.errors;
        self.disallowed += later.disallowed;
        self.filtered += later.filtered;
        self.not_found += later.not_found;
        self.redirects += later.redirects;
        self.save_errors += later.save_errors;
        self.dropped += later.dropped;
        self.elapsed += later.elapsed;
        self.p50 = self.p50.max(later.p50);
        self.p99 = self.p99.max(later.p99);
        self.interrupted |= later.interrupted;
        self.restarts += later.restarts;
        if self.state_error.is_none() {
            self.state_error.clone_from(&later.state_error);
        }
    }

    /// Counts one record.
    pub(crate) fn count(&mut self, record: &Record) {
        self.records += 1;
        if record.error.as_deref() == Some(DISALLOWED) {
            self.disallowed += 1;
        } else if record
            .error
            .as_deref()
            .is_some_and(|e| e.starts_with(FILTERED))
        {
            self.filtered += 1;
        } else if record.error.is_some() {
            self.errors += 1;
        }
        if record.status.is_some() {
            self.pages += 1;
            self.bytes += record.bytes;
        }
        if record.status == Some(404) {
            self.not_found += 1;
        }
        if record.save_error.is_some() {
            self.save_errors += 1;
        }
        self.redirects += u64::from(record.redirects);
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.elapsed.as_secs_f64();
        let rate = if secs > 0.0 {
            self.pages as f64 / secs
        } else {
            0.0
        };
        write!(
            f,
            "crawled {} pages ({:.1} MB) in {:.2} s: {:.0} pages/s, p50 {:.1} ms, p99 {:.1} ms; \
             {} errors, {} HTTP 404, {} redirects, {} disallowed by robots.txt",
            self.pages,
            self.bytes as f64 / 1e6,
            secs,
            rate,
            self.p50.as_secs_f64() * 1e3,
            self.p99.as_secs_f64() * 1e3,
            self.errors,
            self.not_found,
            self.redirects,
            self.disallowed
        )?;
        if self.filtered > 0 {
            write!(f, ", {} filtered by type", self.filtered)?;
        }
        if self.save_errors > 0 {
            write!(f, ", {} bodies not saved", self.save_errors)?;
        }
        if self.interrupted {
            f.write_str(" (interrupted)")?;
        }
        Ok(())
    }
}

/// Where a crawl stands, for a progress display.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Records made so far.
    pub done: u64,
    /// Fetches running (robots.txt fetches included).
    pub in_flight: usize,
    /// URLs waiting on the frontier.
    pub queued: u64,
    /// Records with an error (robots.txt refusals not counted).
    pub errors: u64,
    pub elapsed: Duration,
}

/// Latencies in logarithmic buckets (8 per power of two, from 1 us to about 1 hour): constant
/// memory however long the crawl, percentiles within about 9 %.
pub(crate) struct Histogram {
    buckets: Vec<u64>,
    count: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: vec![0; 32 * 8],
            count: 0,
        }
    }
}

impl Histogram {
    fn bucket(micros: u64) -> usize {
        let micros = micros.max(1);
        let log = 63 - micros.leading_zeros() as usize;
        let sub = if log >= 3 {
            ((micros >> (log - 3)) & 7) as usize
        } else {
            ((micros << (3 - log)) & 7) as usize
        };
        (log * 8 + sub).min(32 * 8 - 1)
    }

    /// The lower edge of a bucket, in microseconds.
    fn lower(bucket: usize) -> u64 {
        let (log, sub) = (bucket / 8, (bucket % 8) as u64);
        if log >= 3 {
            (8 + sub) << (log - 3)
        } else {
            (8 + sub) >> (3 - log)
        }
    }

    pub(crate) fn add(&mut self, d: Duration) {
        let micros = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.buckets[Self::bucket(micros)] += 1;
        self.count += 1;
    }

    pub(crate) fn percentile(&self, p: f64) -> Duration {
        if self.count == 0 {
            return Duration::ZERO;
        }
        let rank = ((self.count as f64) * p).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Duration::from_micros(Self::lower(i));
            }
        }
        Duration::ZERO
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_percentiles_are_close() {
        let mut h = Histogram::default();
        for ms in 1..=100u64 {
            h.add(Duration::from_millis(ms));
        }
        let p50 = h.percentile(0.5).as_secs_f64() * 1e3;
        let p99 = h.percentile(0.99).as_secs_f64() * 1e3;
        assert!((45.0..=50.0).contains(&p50), "{p50}");
        assert!((90.0..=99.0).contains(&p99), "{p99}");
    }

    #[test]
    fn unreachable_robots_counts_as_an_error_and_disallowed_does_not() {
        let mut s = Summary::default();
        let mut r = Record {
            error: Some(DISALLOWED.into()),
            ..Record::default()
        };
        s.count(&r);
        r.error = Some("robots.txt unreachable: connection refused".into());
        s.count(&r);
        assert_eq!((s.records, s.disallowed, s.errors), (2, 1, 1));
    }

    #[test]
    fn save_errors_are_counted_and_shown() {
        let mut s = Summary::default();
        s.count(&Record {
            status: Some(200),
            save_error: Some("out/h is not a directory".into()),
            ..Record::default()
        });
        assert_eq!(s.save_errors, 1);
        assert_eq!(s.errors, 0);
        assert!(s.to_string().contains("1 bodies not saved"), "{s}");
    }
}
