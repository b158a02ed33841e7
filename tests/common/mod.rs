//! Helpers shared by the runtime integration tests.
#![allow(dead_code)]

#[cfg(feature = "crawl")]
pub mod crawl_server;

use std::any::Any;
use std::sync::mpsc;
use std::time::Duration;

/// Runs `f` on its own thread and returns its result. Panics with a clear message if `f` does not
/// finish within `secs` seconds (a hang becomes a test failure instead of a stuck CI job), and
/// resumes `f`'s panic if it panicked.
pub fn watchdog<T: Send + 'static>(secs: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::Builder::new()
        .name("watched".into())
        .spawn(move || {
            let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
            let _ = tx.send(out);
        })
        .expect("spawn the watched thread");
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(Ok(value)) => {
            let _ = handle.join();
            value
        }
        Ok(Err(payload)) => {
            let _ = handle.join();
            std::panic::resume_unwind(payload)
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!(
            "watchdog: the test body did not finish within {secs} s (a hang: lost wake-up, \
             starvation or deadlock); its thread is left running"
        ),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            panic!("watchdog: the test thread ended without reporting a result")
        }
    }
}

/// Runs `body` in a child process: this test binary again, filtered to the test `test_name`
/// (the caller's own name), and asserts that the child passed. For tests whose failure is an
/// abort, or that must not share process-wide state (the reactor's helper thread) with the
/// other tests of their binary. In the child, runs `body` and returns.
pub fn in_child_process(test_name: &str, body: impl FnOnce()) {
    const CHILD: &str = "WISP_TEST_CHILD";
    const FINISHED: &str = "wisp test child finished";
    if std::env::var(CHILD).as_deref() == Ok(test_name) {
        body();
        println!("{FINISHED}");
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().expect("the test binary"))
        .args(["--exact", test_name, "--nocapture", "--test-threads=1"])
        .env(CHILD, test_name)
        .output()
        .expect("run the test binary as a child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains(FINISHED),
        "the child process running {test_name} failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
}

/// Runs `body` in a child process as [`in_child_process`] does, and returns what the child
/// wrote on stderr (for the reports wisp prints there). In the child, runs `body` and returns
/// `None`: the caller then returns at once.
pub fn stderr_of_child_process(test_name: &str, body: impl FnOnce()) -> Option<String> {
    const CHILD: &str = "WISP_TEST_CHILD";
    const FINISHED: &str = "wisp test child finished";
    if std::env::var(CHILD).as_deref() == Ok(test_name) {
        body();
        println!("{FINISHED}");
        return None;
    }
    let out = std::process::Command::new(std::env::current_exe().expect("the test binary"))
        .args(["--exact", test_name, "--nocapture", "--test-threads=1"])
        .env(CHILD, test_name)
        .output()
        .expect("run the test binary as a child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success() && stdout.contains(FINISHED),
        "the child process running {test_name} failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    Some(stderr)
}

/// CPU time (user + system) consumed so far by the calling thread, to the nanosecond.
///
/// `CLOCK_THREAD_CPUTIME_ID` is the scheduler's exact account; `getrusage(RUSAGE_THREAD)`, which
/// this used before, is sampled at the timer tick (4 ms at 250 Hz), so a bound of 10 ms on it
/// could fail by two ticks of bad luck.
#[allow(unsafe_code)]
pub fn thread_cpu_time() -> Duration {
    // SAFETY: `timespec` is a plain C struct for which all-zero bytes is a valid value.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: `ts` is a valid, writable `timespec` that lives for the whole call; the clock id is
    // supported on Linux (since 2.6.12) and the call only writes into `ts`.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(
        rc,
        0,
        "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed: {}",
        std::io::Error::last_os_error()
    );
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// The text of a panic payload (`&str` or `String`), or a placeholder.
pub fn panic_text(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string panic payload>".to_string()
    }
}

/// A tiny deterministic PRNG (xorshift64*), so "random" durations are reproducible.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A value in `lo..hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo)
    }
}

/// The kernel's id of the calling thread, for [`wait_until_blocked`].
#[allow(unsafe_code)]
pub fn os_thread_id() -> i32 {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: `gettid` has no preconditions and only returns the caller's thread id.
        unsafe { libc::gettid() }
    }
    #[cfg(not(target_os = "linux"))]
    {
        0
    }
}

/// Waits until the thread `tid` (from [`os_thread_id`], in this process) is blocked in the kernel
/// (state `S`, asleep in a system call: for an executor with nothing to do, the poller's wait or
/// its park), for up to 10 s; panics if it never is. This is how a test orders "the executor has
/// gone to sleep" before "another thread wakes it", without guessing with a sleep.
///
/// Only meaningful where nothing else could block that thread meanwhile: an executor thread that
/// runs no blocking code of its own. Linux only (`/proc`); elsewhere it waits 100 ms.
pub fn wait_until_blocked(tid: i32) {
    assert!(
        wait_until_blocked_or_gone(tid),
        "thread {tid} exited before it was seen asleep"
    );
}

/// [`wait_until_blocked`] for a thread that may have finished its work and exited meanwhile (an
/// executor whose timer was due already, on a loaded machine): returns `false` if it is gone,
/// `true` once it is blocked.
pub fn wait_until_blocked_or_gone(tid: i32) -> bool {
    #[cfg(target_os = "linux")]
    {
        let path = format!("/proc/self/task/{tid}/stat");
        let start = std::time::Instant::now();
        loop {
            let Ok(stat) = std::fs::read_to_string(&path) else {
                return false;
            };
            // "tid (comm) S ...": the state follows the last ')' (comm may hold anything).
            let state = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next())
                .unwrap_or("?");
            if state == "S" {
                return true;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "thread {tid} never went to sleep (state {state:?})"
            );
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = tid;
        std::thread::sleep(Duration::from_millis(100));
        true
    }
}

/// The kernel ids of this process's threads named `name` (Linux only; empty elsewhere).
pub fn threads_named(name: &str) -> Vec<i32> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    tasks
        .filter_map(|task| {
            let task = task.ok()?;
            let comm = std::fs::read_to_string(task.path().join("comm")).ok()?;
            (comm.trim_end() == name)
                .then(|| task.file_name().to_str()?.parse().ok())
                .flatten()
        })
        .collect()
}
