//! `wisp::signal`: signals delivered through the reactor. Each test uses signals of its own
//! (the tests of this file run in parallel in one process), raised by the process itself.
#![cfg(feature = "signal")]

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use futures_util::StreamExt;
use signal_hook::low_level::raise;
use wisp::signal::{SIGHUP, SIGINT, SIGUSR1, SIGUSR2, Signals, ctrl_c};

use common::watchdog;

/// A signal raised by another thread while a task waits wakes it with that signal.
#[test]
fn a_signal_from_another_thread_wakes_the_waiting_task() {
    watchdog(30, || {
        let mut signals = Signals::new(&[SIGUSR1]).unwrap();
        let thread = std::thread::spawn(|| {
            std::thread::sleep(Duration::from_millis(50));
            raise(SIGUSR1).unwrap();
        });
        let got = wisp::block_on(signals.next());
        thread.join().unwrap();
        assert_eq!(got, Some(SIGUSR1));
    });
}

/// Two kinds raised before the task looks: both delivered, each once; the stream then waits
/// for the next one, which comes too.
#[test]
fn each_kind_raised_is_delivered_once() {
    watchdog(30, || {
        let mut signals = Signals::new(&[SIGUSR2, SIGHUP]).unwrap();
        raise(SIGUSR2).unwrap();
        raise(SIGHUP).unwrap();
        raise(SIGUSR2).unwrap();
        let (first, second, third) = wisp::block_on(async {
            let first = signals.next().await;
            let second = signals.next().await;
            let thread = std::thread::spawn(|| {
                std::thread::sleep(Duration::from_millis(50));
                raise(SIGHUP).unwrap();
            });
            let third = signals.next().await;
            thread.join().unwrap();
            (first, second, third)
        });
        let both: BTreeSet<i32> = [first.unwrap(), second.unwrap()].into();
        assert_eq!(both, BTreeSet::from([SIGUSR2, SIGHUP]));
        assert_eq!(third, Some(SIGHUP), "the two SIGUSR2 before counted as one");
    });
}

/// `ctrl_c()` resolves on SIGINT (raised once its first poll installed the handler).
#[test]
fn ctrl_c_resolves_on_sigint() {
    watchdog(30, || {
        wisp::block_on(async {
            let waiting = wisp::spawn(ctrl_c());
            wisp::yield_now().await;
            raise(SIGINT).unwrap();
            waiting.await.unwrap();
        });
    });
}

#[test]
fn a_signal_that_cannot_be_caught_is_refused() {
    for signal in [9, 19] {
        let e = Signals::new(&[signal]).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
        assert!(e.to_string().contains("cannot be caught"), "{e}");
    }
    let e = Signals::new(&[12345]).unwrap_err();
    assert!(
        e.to_string().contains("12345") || e.kind() == std::io::ErrorKind::InvalidInput,
        "{e}"
    );
}
