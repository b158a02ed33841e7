//! Happy Eyeballs (RFC 8305): connecting to a name with several addresses by racing them.
//!
//! Trying addresses one after another lets a dead first address (a black-holed IPv6 route, a
//! host that drops SYNs) use up the whole connect timeout before the second is tried. Instead
//! the first attempt starts at once and each next one [`ATTEMPT_DELAY`] after the one before,
//! or at once when the one before fails; the first to connect wins and the others are dropped
//! (closing their sockets). Addresses are tried in the resolver's order with the families
//! interleaved (RFC 8305 section 4), so a broken family costs one delay, not one per address.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use crate::time::{Sleep, sleep};

/// RFC 8305's recommended "Connection Attempt Delay": how long an attempt has alone before the
/// next address is tried beside it.
pub(crate) const ATTEMPT_DELAY: Duration = Duration::from_millis(250);

/// Orders `addrs` for racing: the first address first, then alternating families (the first
/// address's family, the other, ...), each family in its given order.
pub(crate) fn interleave(addrs: Vec<SocketAddr>) -> Vec<SocketAddr> {
    let Some(first) = addrs.first() else {
        return addrs;
    };
    let first_is_v6 = first.is_ipv6();
    let mut out = Vec::with_capacity(addrs.len());
    let (same, other): (Vec<_>, Vec<_>) =
        addrs.into_iter().partition(|a| a.is_ipv6() == first_is_v6);
    let (mut same, mut other) = (same.into_iter(), other.into_iter());
    loop {
        match (same.next(), other.next()) {
            (None, None) => return out,
            (a, b) => out.extend(a.into_iter().chain(b)),
        }
    }
}

/// Races `connect` over `addrs` (in this order) as described in the module docs: `delay`
/// between starts, the next one at once after a failure. The first success wins; if every
/// attempt fails, the error of the last one to fail is returned.
pub(crate) async fn race<T, F, Fut>(
    addrs: Vec<SocketAddr>,
    delay: Duration,
    mut connect: F,
) -> io::Result<T>
where
    F: FnMut(SocketAddr) -> Fut,
    Fut: Future<Output = io::Result<T>>,
{
    let mut queue = addrs.into_iter();
    // Attempts started and not failed yet, in no particular order.
    let mut running: Vec<Pin<Box<Fut>>> = Vec::new();
    let mut last_error = None;
    // Due when the next address may start beside the running attempts: `delay` after the last
    // start, at once after a failure.
    let mut next_start: Sleep = sleep(Duration::ZERO);
    std::future::poll_fn(|cx| {
        loop {
            let mut started = false;
            if running.is_empty() || Pin::new(&mut next_start).poll(cx).is_ready() {
                if let Some(addr) = queue.next() {
                    running.push(Box::pin(connect(addr)));
                    // With no address left to start, no timer is needed (`MAX` registers none).
                    next_start = sleep(if queue.len() > 0 {
                        delay
                    } else {
                        Duration::MAX
                    });
                    started = true;
                } else if running.is_empty() {
                    return Poll::Ready(Err(last_error.take().unwrap_or_else(|| {
                        io::Error::new(io::ErrorKind::InvalidInput, "no address to connect to")
                    })));
                }
            }
            let mut failed = false;
            let mut i = 0;
            while i < running.len() {
                match running[i].as_mut().poll(cx) {
                    Poll::Ready(Ok(value)) => return Poll::Ready(Ok(value)),
                    Poll::Ready(Err(e)) => {
                        last_error = Some(e);
                        drop(running.swap_remove(i));
                        failed = true;
                    }
                    Poll::Pending => i += 1,
                }
            }
            if failed {
                // A failure starts the next address at once.
                next_start = sleep(Duration::ZERO);
                continue;
            }
            if !started {
                return Poll::Pending;
            }
            // A new attempt started: poll the fresh timer so it registers its waker.
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::now;
    use std::cell::RefCell;
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    use std::rc::Rc;
    use std::time::Instant;

    fn v4(last: u8) -> SocketAddr {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, last)), 80)
    }

    fn v6(last: u16) -> SocketAddr {
        SocketAddr::new(
            IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, last)),
            80,
        )
    }

    /// What a fake connect to an address does.
    #[derive(Clone, Copy)]
    enum Script {
        /// Never completes.
        Hang,
        /// Fails after this long.
        Fail(u64),
        /// Connects after this long.
        Connect(u64),
    }

    /// Events of a fake race, in virtual milliseconds since the race began.
    #[derive(Debug, PartialEq)]
    enum Event {
        Start(SocketAddr, u64),
        Drop(SocketAddr, u64),
    }

    struct Log {
        start: Instant,
        events: Vec<Event>,
    }

    impl Log {
        fn ms(&self) -> u64 {
            (now() - self.start).as_millis() as u64
        }
    }

    /// Logs its attempt's drop (a dropped connect closes its socket).
    struct OnDrop(Rc<RefCell<Log>>, SocketAddr);

    impl Drop for OnDrop {
        fn drop(&mut self) {
            let mut log = self.0.borrow_mut();
            let at = log.ms();
            log.events.push(Event::Drop(self.1, at));
        }
    }

    /// Races `script` on the virtual clock; the winner's address (or the error text), when the
    /// race ended, and what happened.
    fn run(script: &[(SocketAddr, Script)]) -> (Result<SocketAddr, String>, u64, Vec<Event>) {
        crate::test::block_on(async {
            let log = Rc::new(RefCell::new(Log {
                start: now(),
                events: Vec::new(),
            }));
            let addrs = script.iter().map(|(a, _)| *a).collect();
            let result = race(addrs, ATTEMPT_DELAY, |addr| {
                let log = log.clone();
                let (_, what) = *script.iter().find(|(a, _)| *a == addr).unwrap();
                async move {
                    {
                        let mut l = log.borrow_mut();
                        let at = l.ms();
                        l.events.push(Event::Start(addr, at));
                    }
                    let _guard = OnDrop(log, addr);
                    match what {
                        Script::Hang => std::future::pending().await,
                        Script::Fail(ms) => {
                            sleep(Duration::from_millis(ms)).await;
                            Err(io::Error::new(
                                io::ErrorKind::ConnectionRefused,
                                format!("{addr}"),
                            ))
                        }
                        Script::Connect(ms) => {
                            sleep(Duration::from_millis(ms)).await;
                            Ok(addr)
                        }
                    }
                }
            })
            .await;
            let ended = log.borrow().ms();
            let result = result.map_err(|e| e.to_string());
            let events = std::mem::take(&mut log.borrow_mut().events);
            (result, ended, events)
        })
    }

    #[test]
    fn a_first_address_that_hangs_costs_one_attempt_delay() {
        let (a, b) = (v6(1), v4(1));
        let (won, at, events) = run(&[(a, Script::Hang), (b, Script::Connect(10))]);
        // b starts at 250 ms and connects 10 ms later; a is dropped then.
        assert_eq!(won, Ok(b));
        assert_eq!(at, 260);
        assert_eq!(
            events,
            [
                Event::Start(a, 0),
                Event::Start(b, 250),
                Event::Drop(b, 260),
                Event::Drop(a, 260)
            ]
        );
    }

    #[test]
    fn a_failure_starts_the_next_address_at_once() {
        let (a, b) = (v4(1), v4(2));
        let (won, at, events) = run(&[(a, Script::Fail(10)), (b, Script::Connect(10))]);
        assert_eq!(won, Ok(b));
        assert_eq!(at, 20);
        assert_eq!(
            events[..3],
            [Event::Start(a, 0), Event::Drop(a, 10), Event::Start(b, 10)]
        );
    }

    #[test]
    fn the_first_to_connect_wins_and_the_others_are_dropped() {
        // a connects at 300 ms; b, started at 250 ms, would only at 350 ms.
        let (a, b) = (v4(1), v4(2));
        let (won, at, events) = run(&[(a, Script::Connect(300)), (b, Script::Connect(100))]);
        assert_eq!(won, Ok(a));
        assert_eq!(at, 300);
        assert!(events.contains(&Event::Drop(b, 300)), "{events:?}");
    }

    #[test]
    fn attempts_start_one_attempt_delay_apart() {
        let addrs = [v4(1), v4(2), v4(3), v4(4)];
        let (won, at, events) = run(&[
            (addrs[0], Script::Hang),
            (addrs[1], Script::Hang),
            (addrs[2], Script::Hang),
            (addrs[3], Script::Connect(0)),
        ]);
        assert_eq!(won, Ok(addrs[3]));
        assert_eq!(at, 750);
        let starts: Vec<&Event> = events
            .iter()
            .filter(|e| matches!(e, Event::Start(..)))
            .collect();
        assert_eq!(
            starts,
            [
                &Event::Start(addrs[0], 0),
                &Event::Start(addrs[1], 250),
                &Event::Start(addrs[2], 500),
                &Event::Start(addrs[3], 750)
            ]
        );
        // The three losers are all closed.
        assert_eq!(
            events
                .iter()
                .filter(|e| matches!(e, Event::Drop(..)))
                .count(),
            4
        );
    }

    #[test]
    fn when_every_attempt_fails_the_last_failure_is_returned() {
        // b starts at 250 and fails at 260; a, still trying, fails last at 400.
        let (a, b) = (v4(1), v4(2));
        let (won, at, _) = run(&[(a, Script::Fail(400)), (b, Script::Fail(10))]);
        assert_eq!(won, Err(a.to_string()));
        assert_eq!(at, 400);
    }

    #[test]
    fn a_single_address_is_one_plain_attempt() {
        let a = v4(1);
        let (won, at, events) = run(&[(a, Script::Connect(5))]);
        assert_eq!(won, Ok(a));
        assert_eq!(at, 5);
        assert_eq!(events, [Event::Start(a, 0), Event::Drop(a, 5)]);
    }

    #[test]
    fn no_address_is_invalid_input() {
        let result: io::Result<()> =
            crate::test::block_on(race(Vec::new(), ATTEMPT_DELAY, |_| async { Ok(()) }));
        assert_eq!(result.unwrap_err().kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn families_alternate_from_the_first_address() {
        assert_eq!(
            interleave(vec![v6(1), v6(2), v6(3), v4(1), v4(2)]),
            [v6(1), v4(1), v6(2), v4(2), v6(3)]
        );
        // One IPv4 first, then the IPv6 ones once the IPv4 ones ran out.
        assert_eq!(interleave(vec![v4(1), v6(1), v6(2)]), [v4(1), v6(1), v6(2)]);
        assert_eq!(interleave(vec![v4(1), v4(2)]), [v4(1), v4(2)]);
        assert_eq!(interleave(Vec::new()), []);
    }
}
