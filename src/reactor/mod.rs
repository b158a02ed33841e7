//! The reactor: the one place where threads sleep, waiting for I/O readiness or the next timer.
//!
//! There is one reactor per process, created on first use: a [`polling::Poller`] and a
//! hierarchical timer wheel ([`crate::time::wheel`]) of wakers. Leaf futures (`Sleep`, sockets)
//! register with it, whichever thread polls them, so they are free to move between threads.
//!
//! Only one thread can be inside `Poller::wait` at a time. An executor with nothing to run calls
//! [`sleep`]: if the reactor is free it becomes the *driver* and waits in the poller until an
//! event, the next timer deadline or a `notify`; otherwise it parks its thread, and whoever
//! drives wakes it through its tasks' wakers. When a driver stops driving it unparks one parked
//! executor so that a thread that is idle takes over, and no I/O goes unwatched.
//!
//! A leaf registered where no executor is sure to drive for it (from a foreign executor's
//! thread, or through a foreign waker inside a wisp poll: `pollster::block_on` inside a task)
//! is driven by the `wisp-reactor` helper thread instead; see [`ensure_driven`].
//!
//! A busy executor gives the reactor a zero-timeout turn ([`turn_now`]) every
//! `BUDGET` polls (64). A `Poller::wait` costs several syscalls (about
//! 1.5 us), so it is never called per wake-up, and skipped altogether when no I/O source is
//! registered and the turn would not block.

pub(crate) mod park;
mod poller;
mod source;

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::Waker;
use std::time::{Duration, Instant};

use crate::current_waker;
use crate::slab::Slab;
use crate::sync::Mutex;
use crate::sync::thread::{self, Thread};
use crate::time::wheel::{TimerKey, Wheel};

use park::{Parker, Sleep};
use poller::{Events, Poller};
use source::Source;
pub(crate) use source::{Direction, Registered};

/// The length of a wheel tick. Deadlines round *up* to a tick, so a timer never fires early.
/// One microsecond, so a timer fires within microseconds of its deadline rather than up to a
/// millisecond after it (the poller waits on a timerfd, which keeps nanoseconds); the wheel's
/// levels then span 2^36 us, about 19 hours, and later deadlines wait in its overflow list.
/// (`tick_ceil` and `tick_floor` assume one microsecond.)
const TICK: Duration = Duration::from_micros(1);

/// The longest single wait in the poller; a timer further away is reached in several waits.
const MAX_WAIT: Duration = Duration::from_secs(24 * 60 * 60);

pub(crate) struct Reactor {
    poller: Poller,
    /// Held by the thread that drives the reactor; holds the buffers a turn fills.
    driver: Mutex<Driver>,
    timers: Mutex<Timers>,
    /// Executors (and the helper thread) parked because another thread drove the reactor when
    /// they went idle; a driver that lets go unparks one of them.
    parked: Mutex<Vec<Thread>>,
    /// Set while the helper thread holds `driver`, so an executor that goes idle meanwhile can
    /// ask it to let go when it is not needed any more.
    helper_driving: AtomicBool,
    /// Set for good once a leaf registered from a thread outside any wisp executor: such a
    /// thread never drives, and it cannot tell when it stops waiting, so from then on the
    /// helper thread drives whenever no executor does.
    foreign_waiters: AtomicBool,
    /// Registered sockets, by the low half of their event key.
    io_sources: Mutex<Slab<Arc<Source>>>,
    /// Bumped per registration; the high half of an event key.
    generation: AtomicU64,
    /// How many I/O sources are registered; with none, a zero-timeout turn needs no syscall.
    sources: AtomicUsize,
    /// Tick 0 of the wheel.
    origin: Instant,
}

/// What the driver keeps from one turn to the next: the poller's event list and the lists a
/// turn fills on the way to the wakers, so that a turn allocates nothing once they have grown
/// (each is emptied before the turn ends, and let go of past [`KEPT`] entries).
struct Driver {
    events: Events,
    fired: Vec<(TimerKey, Waker)>,
    ready: Vec<(Arc<Source>, bool, bool)>,
    wakers: Vec<Waker>,
}

/// The most entries a driver's list keeps room for between turns: a burst of timers or events
/// larger than this is served, then its room given back.
const KEPT: usize = 1024;

/// Empties `list`, giving its room back if a burst grew it past [`KEPT`].
fn recycle<T>(list: &mut Vec<T>) {
    list.clear();
    if list.capacity() > KEPT {
        *list = Vec::new();
    }
}

impl Driver {
    fn new() -> Driver {
        Driver {
            events: Events::new(),
            fired: Vec::new(),
            ready: Vec::new(),
            wakers: Vec::new(),
        }
    }
}

struct Timers {
    wheel: Wheel<Waker>,
    /// The tick the driver is waiting for, if it is inside `Poller::wait`: a timer inserted for
    /// an earlier tick must notify the poller or it would fire late.
    waiting_until: Option<u64>,
}

/// Boxed: a `Reactor` is about 3.4 KiB (the timer wheel's slot lists are inline), and a static
/// `OnceLock` of it is laid out as initialized data, so every program carried those bytes in its
/// file (`.data`); a pointer costs 8, and the one extra indirection is lost in a lock's cost.
#[cfg(not(wisp_loom))]
static REACTOR: OnceLock<Box<Reactor>> = OnceLock::new();

/// The process's reactor, created on first use.
///
/// # Panics
///
/// If the operating system refuses to create a poller (out of file descriptors at start-up):
/// without one no future could ever wait, so there is nothing sensible to fall back to.
#[cfg(not(wisp_loom))]
pub(crate) fn get() -> &'static Reactor {
    // Allocated before the reactor is built: no unwinding path then holds a whole `Reactor` to
    // drop (`Box::new(Reactor::new())` made every program carry that drop code, never run).
    REACTOR.get_or_init(|| Box::write(Box::new_uninit(), Reactor::new()))
}

// A reactor per loom model run (loom's statics are made again for each interleaving).
#[cfg(wisp_loom)]
loom::lazy_static! {
    static ref LOOM_REACTOR: Reactor = Reactor::new();
}

#[cfg(wisp_loom)]
pub(crate) fn get() -> &'static Reactor {
    &LOOM_REACTOR
}

impl Reactor {
    /// A reactor of its own: the process's one is [`get`]; unit tests build private ones.
    fn new() -> Reactor {
        Reactor {
            poller: Poller::new()
                .unwrap_or_else(|e| panic!("wisp: cannot create the reactor's poller: {e}")),
            driver: Mutex::new(Driver::new()),
            timers: Mutex::new(Timers {
                wheel: Wheel::new(),
                waiting_until: None,
            }),
            parked: Mutex::new(Vec::new()),
            helper_driving: AtomicBool::new(false),
            foreign_waiters: AtomicBool::new(false),
            io_sources: Mutex::new(Slab::default()),
            generation: AtomicU64::new(0),
            sources: AtomicUsize::new(0),
            origin: Instant::now(),
        }
    }
}

/// Calls a waker outside any lock, taking it out of the driver's list (a no-op waker is left in
/// its place, and the list is emptied after): a waker that panics, waking or being dropped, is
/// reported and does not stop the others. Not generic, and no `drain` per list: those cost the
/// smallest program 3.7 KB.
fn wake(slot: &mut Waker) {
    let waker = std::mem::replace(slot, Waker::noop().clone());
    if catch_unwind(AssertUnwindSafe(|| waker.wake())).is_err() {
        eprintln!("wisp: a waker panicked; the reactor carries on");
    }
}

impl Reactor {
    /// An event for `waker` that only the driver delivers, as a socket's readiness (loom models).
    #[cfg(wisp_loom)]
    pub(crate) fn post_event(&self, waker: Waker) {
        self.poller.post(waker);
    }

    /// Wakes the thread inside `Poller::wait`, or makes the next wait return at once.
    pub(crate) fn notify(&self) {
        // It only fails if the eventfd cannot be written, which cannot happen while it exists.
        let _ = self.poller.notify();
    }

    /// The first tick at or after `deadline` (ticks are microseconds; u64 arithmetic only, this
    /// runs on every timer insert).
    fn tick_ceil(&self, deadline: Instant) -> u64 {
        let d = deadline.saturating_duration_since(self.origin);
        let sub_us = u64::from(d.subsec_nanos()).div_ceil(1_000);
        d.as_secs().saturating_mul(1_000_000).saturating_add(sub_us)
    }

    /// The last tick at or before `now`.
    fn tick_floor(&self, now: Instant) -> u64 {
        let d = now.saturating_duration_since(self.origin);
        let sub_us = u64::from(d.subsec_nanos()) / 1_000;
        d.as_secs().saturating_mul(1_000_000).saturating_add(sub_us)
    }

    /// The instant a tick starts, if it is representable (a tick years away may not be).
    fn instant_of(&self, tick: u64) -> Option<Instant> {
        let nanos = u128::from(tick) * TICK.as_nanos();
        let secs = u64::try_from(nanos / 1_000_000_000).ok()?;
        let sub = (nanos % 1_000_000_000) as u32;
        self.origin.checked_add(Duration::new(secs, sub))
    }

    /// Registers `waker` to be woken at `deadline`. Returns `None` if the deadline's tick has
    /// passed already: the caller is due now.
    pub(crate) fn insert_timer(&self, deadline: Instant, waker: &Waker) -> Option<TimerKey> {
        let tick = self.tick_ceil(deadline);
        let mut timers = self.timers.lock();
        let key = timers.wheel.insert(tick, waker.clone()).ok()?;
        let notify = timers.waiting_until.is_some_and(|until| tick < until);
        drop(timers);
        if notify {
            self.notify();
        }
        ensure_driven(waker);
        Some(key)
    }

    /// Whether the timer is still pending; if so, `waker` replaces its waker when it differs.
    pub(crate) fn timer_pending(&self, key: TimerKey, waker: &Waker) -> bool {
        let mut timers = self.timers.lock();
        let pending = match timers.wheel.get_mut(key) {
            Some(stored) => {
                if !stored.will_wake(waker) {
                    stored.clone_from(waker);
                }
                true
            }
            None => false,
        };
        drop(timers);
        if pending {
            // The same timer may now wait under another poll (a `Sleep` first polled by a task,
            // then handed to a foreign `block_on`).
            ensure_driven(waker);
        }
        pending
    }

    /// Cancels a timer; a no-op if it fired already.
    pub(crate) fn remove_timer(&self, key: TimerKey) {
        let removed = self.timers.lock().wheel.remove(key);
        // The waker is dropped outside the lock.
        drop(removed);
    }

    /// Fires every timer due at `now`. Returns whether any fired.
    fn fire_timers(&self, now: Instant, fired: &mut Vec<(TimerKey, Waker)>) -> bool {
        self.timers
            .lock()
            .wheel
            .advance(self.tick_floor(now), fired);
        let any = !fired.is_empty();
        for (_, waker) in fired.iter_mut() {
            wake(waker);
        }
        recycle(fired);
        any
    }

    /// One turn as the driver: fire due timers, then wait for I/O until the next timer (if
    /// `block`) or not at all, then fire the timers that came due meanwhile.
    fn drive(&self, driver: &mut Driver, block: bool) {
        let now = Instant::now();
        let fired = self.fire_timers(now, &mut driver.fired);
        let timeout = {
            // The next deadline is read and `waiting_until` published under one lock: a timer
            // inserted after this sees `waiting_until` and notifies if it is earlier, a timer
            // inserted before is part of `next`. (Two locks here lost timers in between.)
            let mut timers = self.timers.lock();
            let next = timers.wheel.next_expiration();
            let timeout = if block && !fired {
                // A deadline too far away to name is waited for a day at a time.
                next.map(|tick| {
                    self.instant_of(tick)
                        .map_or(MAX_WAIT, |at| at.saturating_duration_since(now))
                        .min(MAX_WAIT)
                })
            } else {
                Some(Duration::ZERO)
            };
            if timeout == Some(Duration::ZERO) {
                if self.sources.load(Ordering::Relaxed) == 0 {
                    return;
                }
            } else {
                timers.waiting_until = Some(next.unwrap_or(u64::MAX));
            }
            timeout
        };
        driver.events.clear();
        // An error here is EINTR (retried inside polling) or a broken poller; either way the
        // caller loops and tries again, so it is not worth surfacing.
        let _ = self.poller.wait(&mut driver.events, timeout);
        self.timers.lock().waiting_until = None;
        if !driver.events.is_empty() {
            let Driver {
                events,
                ready,
                wakers,
                ..
            } = driver;
            self.dispatch(events.iter(), ready, wakers);
        }
        self.fire_timers(Instant::now(), &mut driver.fired);
    }

    /// Hands each I/O event to its source and wakes the tasks waiting on it.
    /// `ready` and `wakers` are the driver's lists, left empty.
    fn dispatch(
        &self,
        events: impl Iterator<Item = polling::Event>,
        ready: &mut Vec<(Arc<Source>, bool, bool)>,
        wakers: &mut Vec<Waker>,
    ) {
        {
            let sources = self.io_sources.lock();
            for event in events {
                let Some(source) = sources.get(event.key & 0xffff_ffff) else {
                    continue;
                };
                // A stale event for a socket that was closed and whose slot was reused.
                if source.key == event.key {
                    ready.push((source.clone(), event.readable, event.writable));
                }
            }
        }
        for (source, readable, writable) in ready.iter() {
            source.fire(*readable, *writable, wakers);
        }
        recycle(ready);
        for waker in wakers.iter_mut() {
            wake(waker);
        }
        recycle(wakers);
    }

    /// After a driver lets go of the reactor: unpark one executor that parked because the
    /// reactor was busy, so it can take over if it is idle.
    fn hand_off(&self) {
        let next = self.parked.lock().pop();
        if let Some(thread) = next {
            thread.unpark();
        }
    }

    /// Whether the helper thread should drive when no executor does: some registration may
    /// have nobody else to drive for it (see [`ensure_driven`]).
    fn helper_needed(&self) -> bool {
        self.foreign_waiters.load(Ordering::SeqCst) || current_waker::any_uncovered()
    }
}

/// A zero-timeout turn of the reactor, taken by a busy executor every few polls: fires due
/// timers and, if no other thread is driving, collects ready I/O without blocking.
pub(crate) fn turn_now() {
    let reactor = get();
    match reactor.driver.try_lock() {
        Some(mut driver) => {
            reactor.drive(&mut driver, false);
            drop(driver);
            reactor.hand_off();
        }
        None => {
            reactor.fire_timers(Instant::now(), &mut Vec::new());
        }
    }
}

/// Puts the executor's thread to sleep until `has_work`: as the reactor's driver if the reactor
/// is free, parked otherwise. `parker` is the executor's; `has_work` is its last look (its run
/// queue, the `block_on` future's wake flag).
///
/// The state is published before that last look; a waker publishes its work first and reads
/// the state after, so one of the two always sees the other (see [`park`]).
pub(crate) fn sleep(parker: &Parker, has_work: impl Fn() -> bool) {
    let reactor = get();
    let me = thread::current();
    // Listed before trying the lock: a driver that holds it now will see us when it lets go.
    reactor.parked.lock().push(me.clone());
    let driver = reactor.driver.try_lock();
    parker.set(if driver.is_some() {
        Sleep::InPoller
    } else {
        Sleep::Parked
    });
    let idle = !has_work();
    match driver {
        Some(mut state) => {
            reactor.parked.lock().retain(|t| t.id() != me.id());
            if idle {
                reactor.drive(&mut state, true);
            }
            parker.set(Sleep::Awake);
            drop(state);
            reactor.hand_off();
        }
        None => {
            if idle {
                // The helper thread holds the reactor although nobody needs it any more: ask it
                // to let go (its wait returns and it hands the reactor to a parked executor),
                // rather than let every wake-up of this executor cross threads.
                if reactor.helper_driving.load(Ordering::SeqCst) && !reactor.helper_needed() {
                    reactor.notify();
                }
                thread::park();
            }
            reactor.parked.lock().retain(|t| t.id() != me.id());
            parker.set(Sleep::Awake);
            // This thread may have been handed the reactor (unparked by a driver that let go)
            // just as its own tasks woke it, and it will not drive now. Pass the hand-off on, or
            // another parked executor could be left with no driver.
            if let Some(state) = reactor.driver.try_lock() {
                drop(state);
                reactor.hand_off();
            }
        }
    }
}

thread_local! {
    /// Whether a wisp executor runs on this thread; it will drive the reactor when it is idle.
    static IN_EXECUTOR: Cell<bool> = const { Cell::new(false) };
}

/// Marks the current thread as running a wisp executor until the guard drops.
pub(crate) struct ExecutorGuard {
    previous: bool,
}

impl ExecutorGuard {
    pub(crate) fn enter() -> ExecutorGuard {
        ExecutorGuard {
            previous: IN_EXECUTOR.with(|f| f.replace(true)),
        }
    }
}

impl Drop for ExecutorGuard {
    fn drop(&mut self) {
        IN_EXECUTOR.with(|f| f.set(self.previous));
    }
}

/// Makes sure some thread will drive the reactor for `waker`, just registered from this thread.
///
/// The rule: a thread drives the reactor only when its wisp executor is idle. A registration
/// made inside a wisp poll through that poll's own waker (see [`current_waker`]) is covered: the
/// poll returns, and the executor drives once it is idle. Any other registration may have no
/// driver, and the `wisp-reactor` helper thread (started by the first one) drives for it:
///
/// - from a thread outside any wisp executor (a foreign executor's thread): from then on, for
///   good, the helper drives whenever no executor does;
/// - inside a wisp poll through another waker (a foreign `block_on` inside a task, which holds
///   the executor's thread until the leaf is woken; a third-party combinator's waker): the
///   poll is marked uncovered, and the helper drives until it returns.
pub(crate) fn ensure_driven(waker: &Waker) {
    let in_executor = IN_EXECUTOR.try_with(Cell::get).unwrap_or(false);
    if in_executor {
        if current_waker::mark_if_uncovered(waker) {
            rouse_helper();
        }
    } else {
        let reactor = get();
        if !reactor.foreign_waiters.load(Ordering::Relaxed)
            && !reactor.foreign_waiters.swap(true, Ordering::SeqCst)
        {
            rouse_helper();
        }
    }
}

/// Starts the helper thread if it is not running, and wakes it up to look whether it is needed.
fn rouse_helper() {
    // A thread of the OS's own, even in the loom models (which never start it).
    static HELPER: OnceLock<Option<std::thread::Thread>> = OnceLock::new();
    let helper = HELPER.get_or_init(|| {
        let started = std::thread::Builder::new()
            .name("wisp-reactor".into())
            .spawn(helper_main);
        match started {
            Ok(handle) => Some(handle.thread().clone()),
            Err(e) => {
                eprintln!("wisp: cannot start the reactor thread for foreign executors: {e}");
                None
            }
        }
    });
    if let Some(thread) = helper {
        thread.unpark();
    }
}

/// The helper thread: while [`Reactor::helper_needed`], it behaves as an idle executor would
/// (drives if the reactor is free, else parks on the `parked` list until a driver lets go);
/// otherwise it parks off the list, so that hand-offs go to executors, until [`rouse_helper`].
fn helper_main() {
    let reactor = get();
    let me = thread::current();
    loop {
        if !reactor.helper_needed() {
            thread::park();
            continue;
        }
        reactor.parked.lock().push(me.clone());
        match reactor.driver.try_lock() {
            Some(mut state) => {
                reactor.parked.lock().retain(|t| t.id() != me.id());
                reactor.helper_driving.store(true, Ordering::SeqCst);
                // Checked again under the lock: an executor that saw the flag clear just
                // before did not ask this thread to let go.
                if reactor.helper_needed() {
                    reactor.drive(&mut state, true);
                }
                reactor.helper_driving.store(false, Ordering::SeqCst);
                drop(state);
                reactor.hand_off();
            }
            None => {
                thread::park();
                reactor.parked.lock().retain(|t| t.id() != me.id());
                // Handed the reactor, maybe when no longer needed: pass the hand-off on.
                if let Some(state) = reactor.driver.try_lock() {
                    drop(state);
                    reactor.hand_off();
                }
            }
        }
    }
}

#[cfg(all(test, not(wisp_loom)))]
mod tests {
    use super::*;

    /// A waker that counts its wake-ups.
    struct Count(AtomicUsize);

    impl std::task::Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// A waker that panics, when woken or when dropped, is reported; the timers after it are
    /// still woken and the turn returns.
    #[test]
    fn a_panicking_waker_does_not_stop_the_turn() {
        struct PanicsWaking;
        impl std::task::Wake for PanicsWaking {
            fn wake(self: Arc<Self>) {
                panic!("a waker that panics (expected)");
            }
        }
        struct PanicsDropped;
        impl std::task::Wake for PanicsDropped {
            fn wake(self: Arc<Self>) {}
        }
        impl Drop for PanicsDropped {
            fn drop(&mut self) {
                panic!("a waker that panics when dropped (expected)");
            }
        }
        let reactor = Reactor::new();
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let tick = reactor.tick_floor(Instant::now()) + 1;
        {
            let mut timers = reactor.timers.lock();
            for waker in [
                Waker::from(count.clone()),
                Waker::from(Arc::new(PanicsWaking)),
                Waker::from(count.clone()),
                Waker::from(Arc::new(PanicsDropped)),
                Waker::from(count.clone()),
            ] {
                assert!(timers.wheel.insert(tick, waker).is_ok());
            }
        }
        let mut fired = Vec::new();
        let at = reactor.instant_of(tick).unwrap();
        assert!(reactor.fire_timers(at, &mut fired));
        assert_eq!(count.0.load(Ordering::SeqCst), 3);
        assert!(fired.is_empty());
    }

    /// A turn's list of fired timers is emptied by the turn, keeps its room for the next one
    /// (no allocation per turn), and gives the room of a burst back.
    #[test]
    fn fired_timers_are_woken_and_their_list_keeps_room_only_up_to_a_bound() {
        let reactor = Reactor::new();
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut fired = Vec::new();
        let mut woken = 0;
        // A list grown to exactly `KEPT` (capacities double: 4, 8, .., 1 024) keeps its room.
        for (n, kept) in [(3, true), (KEPT, true), (KEPT + 1, false), (5, true)] {
            let tick = reactor.tick_floor(Instant::now()) + 1;
            {
                let mut timers = reactor.timers.lock();
                for _ in 0..n {
                    assert!(timers.wheel.insert(tick, waker.clone()).is_ok());
                }
            }
            let at = reactor.instant_of(tick).unwrap();
            assert!(reactor.fire_timers(at, &mut fired));
            woken += n;
            assert_eq!(count.0.load(Ordering::SeqCst), woken);
            assert!(fired.is_empty());
            assert_eq!(
                fired.capacity() >= n,
                kept,
                "{n} timers: room {}",
                fired.capacity()
            );
        }
        assert!(!reactor.fire_timers(Instant::now(), &mut fired));
    }

    #[test]
    fn a_deadline_rounds_up_to_the_next_microsecond_and_no_further() {
        let reactor = Reactor::new();
        let origin = reactor.origin;
        for offset in [
            Duration::from_nanos(1),
            Duration::from_nanos(999),
            Duration::from_micros(1),
            Duration::from_nanos(1_500_300),
            Duration::new(3, 999_999_999),
            Duration::from_secs(20 * 60 * 60),
        ] {
            let deadline = origin + offset;
            let tick = reactor.tick_ceil(deadline);
            let fires = reactor.instant_of(tick).unwrap();
            assert!(fires >= deadline, "{offset:?}: early");
            assert!(
                fires - deadline < TICK,
                "{offset:?}: {:?} late",
                fires - deadline
            );
            // The driver fires a tick once the clock's floor reaches it: at the deadline's
            // own microsecond, not before.
            assert_eq!(reactor.tick_floor(fires), tick);
            assert!(reactor.tick_floor(deadline) <= tick);
        }
        assert_eq!(
            reactor.tick_ceil(origin + Duration::from_nanos(1_500_300)),
            1_501
        );
        // Before the origin counts as tick 0, which has passed: due at once.
        if let Some(before) = origin.checked_sub(Duration::from_millis(1)) {
            assert_eq!(reactor.tick_ceil(before), 0);
        }
    }
}
