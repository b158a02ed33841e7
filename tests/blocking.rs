//! The blocking pool behind `wisp::unblock` (and every host-name lookup): jobs run in parallel,
//! and jobs stuck in a call nobody awaits any more never keep new ones from starting.
//!
//! Jobs meet at a rendezvous instead of being timed: a test that needs `n` jobs running at
//! once waits until all `n` have arrived, so it passes as soon as the pool allows it and fails
//! (after a 10 s wait) only if it never does.

mod common;

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use common::watchdog;

/// A count of arrivals that jobs wait on.
struct Rendezvous {
    arrived: Mutex<usize>,
    changed: Condvar,
}

impl Rendezvous {
    fn new() -> Arc<Rendezvous> {
        Arc::new(Rendezvous {
            arrived: Mutex::new(0),
            changed: Condvar::new(),
        })
    }

    /// Arrives, then waits until `n` have arrived (true) or 10 s passed (false).
    fn meet(&self, n: usize) -> bool {
        let mut arrived = self.arrived.lock().unwrap();
        *arrived += 1;
        self.changed.notify_all();
        let (arrived, _) = self
            .changed
            .wait_timeout_while(arrived, Duration::from_secs(10), |a| *a < n)
            .unwrap();
        *arrived >= n
    }

    fn arrived(&self) -> usize {
        *self.arrived.lock().unwrap()
    }
}

/// `n` jobs that each wait until all `n` run at once; true if they all met.
fn all_run_at_once(n: usize) -> bool {
    let meeting = Rendezvous::new();
    let jobs: Vec<_> = (0..n)
        .map(|_| {
            let meeting = meeting.clone();
            wisp::unblock(move || meeting.meet(n))
        })
        .collect();
    wisp::block_on(wisp::join_all(jobs))
        .into_iter()
        .all(|met| met)
}

/// The old pool ran at most 8 jobs at a time.
#[test]
fn twenty_jobs_run_at_once() {
    watchdog(60, || {
        assert!(all_run_at_once(20), "the 20 jobs never all ran at once")
    });
}

/// A burst that arrives while a thread sits idle: the idle thread takes one job and threads
/// start for the others (the old pool counted the idle thread for every job of the burst, so
/// they queued behind it).
///
/// In a child process, so that the pool's only thread is the one this test started, and the
/// burst comes only once that thread waits for work.
#[test]
fn a_burst_after_a_quiet_spell_runs_at_once() {
    common::in_child_process("a_burst_after_a_quiet_spell_runs_at_once", || {
        watchdog(60, || {
            wisp::block_on(wisp::unblock(|| ()));
            let pool = common::threads_named("wisp-blocking");
            assert_eq!(pool.len(), 1, "one job, one pool thread");
            common::wait_until_blocked(pool[0]);
            assert!(all_run_at_once(6), "the 6 jobs never all ran at once");
        });
    });
}

/// Lookups abandoned by a timeout while their resolver never answers keep their threads; new
/// jobs still start.
#[test]
fn abandoned_blocked_jobs_do_not_stop_new_ones() {
    watchdog(60, || {
        let stuck = Rendezvous::new();
        let jobs: Vec<_> = (0..16)
            .map(|_| {
                let stuck = stuck.clone();
                // Never met: each holds its thread for 10 s.
                wisp::unblock(move || stuck.meet(usize::MAX))
            })
            .collect();
        let start = Instant::now();
        while stuck.arrived() < 8 {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "the jobs did not start"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        drop(jobs);
        let fresh = wisp::block_on(wisp::time::timeout(
            Duration::from_secs(5),
            wisp::unblock(|| 42),
        ));
        assert_eq!(fresh, Ok(42), "a new job could not start");
    });
}

/// The shape of the report: 20 jobs that each sleep 200 ms take about 200 ms in all,
/// not 20 x 200 ms (the bound is generous: half the serial time).
#[test]
fn twenty_sleeping_jobs_overlap() {
    watchdog(60, || {
        let start = Instant::now();
        let jobs: Vec<_> = (0..20)
            .map(|_| wisp::unblock(|| std::thread::sleep(Duration::from_millis(200))))
            .collect();
        wisp::block_on(wisp::join_all(jobs));
        let took = start.elapsed();
        assert!(took < Duration::from_millis(20 * 200 / 2), "{took:?}");
    });
}

/// A job's panic reaches whoever awaits it; the pool goes on.
#[test]
fn a_panicking_job_resumes_its_panic_in_the_awaiter() {
    watchdog(60, || {
        let result = std::panic::catch_unwind(|| {
            wisp::block_on(wisp::unblock(|| -> u32 { panic!("job failed") }))
        });
        let payload = result.expect_err("the panic is resumed");
        assert_eq!(common::panic_text(&*payload), "job failed");
        assert_eq!(wisp::block_on(wisp::unblock(|| 5)), 5);
    });
}
