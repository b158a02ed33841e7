//! A hierarchical timer wheel: the data structure behind `sleep` and timeouts.
//!
//! Time is counted in ticks (the reactor's tick is 1 us; tick 0 = creation of the wheel).
//! The wheel has 6 *levels* of 64 *slots*. A slot on level `L` covers
//! `64^L` consecutive ticks, so level 0 has one slot per tick, level 1 one
//! slot per 64 ticks, and so on up to level 5 (slots of `64^5` ticks; the whole
//! level spans `64^6` = 2^36 ticks, about 19 hours of 1 us ticks).
//!
//! **Placement.** A timer goes to the level given by the highest bit in which
//! its deadline differs from the current time (`elapsed`), divided by 6: a
//! deadline sharing everything but the low 6 bits with `elapsed` lives on level
//! 0 at the exact tick, one differing in bits 6..12 lives on level 1, etc. So a
//! lower level only ever holds deadlines that come before every deadline on a
//! higher level, and each slot holds an intrusive doubly linked list of
//! entries stored in a slab (a `Vec` whose vacant entries are reused lowest
//! index first, so a burst of new timers is laid out in the order it comes even
//! after an earlier burst fired in deadline order; see [`FreeSet`]). Insert and
//! remove are O(1) and allocation-free once the slab has grown.
//!
//! **Bitmaps.** Each level keeps a `u64` with bit `s` set iff slot `s` is
//! non-empty. The earliest occupied slot is the lowest set bit of the lowest
//! non-empty level (`trailing_zeros`), so `next_expiration` is O(levels) and
//! `advance` hops straight from one occupied slot to the next, no matter how
//! many empty ticks lie between (a 10-year jump over an empty wheel is O(1)).
//!
//! **Cascading.** When time reaches the start of an occupied slot on level
//! `L > 0`, its entries are re-placed relative to the new time, which puts
//! them on a lower level (or fires those whose deadline is exactly now). An
//! entry therefore moves down at most 6 times before firing.
//!
//! **Never early.** An entry is only handed out when the wheel's time has
//! reached its exact deadline: level-0 slots are single ticks, and entries on
//! higher levels are compared against their stored deadline when cascaded.
//! `next_expiration` reports the start of the earliest occupied slot, which is
//! never after the earliest deadline (exact for level 0).
//!
//! **Overflow.** Deadlines outside the current 2^36-tick block (i.e. roughly
//! more than 19 hours away at 1 us ticks, up to `u64::MAX`) sit in one unsorted overflow
//! list with a cached lower bound on their deadlines. When the levels are
//! empty and time reaches the block holding the earliest overflow deadline,
//! the list is re-placed in one O(n) pass. All arithmetic is bounded: nothing
//! overflows or panics near `u64::MAX`.
//!
//! **Cost.** `insert`, `remove`, `get_mut`, `contains`: O(1).
//! `next_expiration`: O(6). `advance`: O(occupied slots crossed + entries
//! moved), each entry moving at most 6 times inside the levels, plus one
//! overflow pass per distinct far-future block reached. Per entry: `T`, a
//! `u64` deadline, two `u32` links, two `u8` positions and a `u32` generation.

use std::mem;

use crate::free_set::FreeSet;

const SLOT_BITS: u32 = 6;
const SLOTS: usize = 1 << SLOT_BITS;
const LEVELS: usize = 6;
/// Number of low bits spanned by all levels together (64^6 = 2^36 ticks).
const SPAN_BITS: u32 = SLOT_BITS * LEVELS as u32;
/// Pseudo-level used for the overflow list.
const OVERFLOW: usize = LEVELS;
/// "No entry" marker in intrusive links.
const NIL: u32 = u32::MAX;

/// Handle to a timer in a [`Wheel`]. It carries a generation so that a key
/// whose timer was removed or fired never touches a later timer that reuses
/// the same storage slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerKey {
    index: u32,
    generation: u32,
}

#[derive(Clone, Copy)]
struct List {
    head: u32,
    tail: u32,
}

const EMPTY: List = List {
    head: NIL,
    tail: NIL,
};

struct Node<T> {
    value: T,
    when: u64,
    prev: u32,
    next: u32,
    level: u8,
    slot: u8,
}

struct Entry<T> {
    generation: u32,
    node: Option<Node<T>>,
}

/// A hierarchical timer wheel holding values of type `T` until their
/// deadline tick. See the module documentation for the structure.
pub struct Wheel<T> {
    entries: Vec<Entry<T>>,
    /// Indices of vacant entries, reused lowest first: after timers fired in any order, the next
    /// ones are laid out in the order they come (see [`FreeSet`] for the cost of a free list).
    free: FreeSet,
    slots: [[List; SLOTS]; LEVELS],
    occupied: [u64; LEVELS],
    overflow: List,
    /// Lower bound on every deadline in `overflow` (may be stale-low after removals).
    overflow_min: u64,
    elapsed: u64,
    len: usize,
}

/// Level for a deadline relative to `elapsed`; values >= `LEVELS` mean overflow.
fn level_for(elapsed: u64, when: u64) -> usize {
    let masked = (elapsed ^ when) | (SLOTS as u64 - 1);
    ((63 - masked.leading_zeros()) / SLOT_BITS) as usize
}

/// First tick of the 2^36-tick block containing `t`.
fn block_start(t: u64) -> u64 {
    t & !((1u64 << SPAN_BITS) - 1)
}

impl<T> Default for Wheel<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Wheel<T> {
    /// Creates an empty wheel at tick 0; no allocation until the first insert.
    pub fn new() -> Self {
        Wheel {
            entries: Vec::new(),
            free: FreeSet::new(),
            slots: [[EMPTY; SLOTS]; LEVELS],
            occupied: [0; LEVELS],
            overflow: EMPTY,
            overflow_min: u64::MAX,
            elapsed: 0,
            len: 0,
        }
    }

    /// Schedules `value` to fire at absolute tick `when`. Returns `Err(value)`
    /// if `when <= self.elapsed()`: the deadline has passed, so the caller
    /// should fire it itself instead of waiting for the next `advance`.
    ///
    /// # Panics
    /// If more than `u32::MAX - 1` timers are alive at once.
    pub fn insert(&mut self, when: u64, value: T) -> Result<TimerKey, T> {
        if when <= self.elapsed {
            return Err(value);
        }
        let (prev, next, level, slot) = (NIL, NIL, 0, 0);
        let node = Some(Node {
            value,
            when,
            prev,
            next,
            level,
            slot,
        });
        let index = match self.free.pop_lowest() {
            Some(index) => index,
            None => {
                let index = u32::try_from(self.entries.len()).ok().filter(|&i| i != NIL);
                let index = index.expect("timer wheel: too many timers");
                self.entries.push(Entry {
                    generation: 0,
                    node: None,
                });
                index
            }
        };
        self.entries[index as usize].node = node;
        self.link(index);
        self.len += 1;
        Ok(self.key(index))
    }

    /// Cancels a timer in O(1), returning its value. `None` if the key is
    /// stale (already removed or fired), so cancelling twice is harmless.
    pub fn remove(&mut self, key: TimerKey) -> Option<T> {
        if !self.contains(key) {
            return None;
        }
        self.unlink(key.index);
        Some(self.free(key.index).value)
    }

    /// Mutable access to a pending timer's value (e.g. to swap its waker).
    pub fn get_mut(&mut self, key: TimerKey) -> Option<&mut T> {
        let live = self.contains(key);
        live.then(|| &mut self.node_mut(key.index).value)
    }

    /// Whether `key` still refers to a pending timer.
    pub fn contains(&self, key: TimerKey) -> bool {
        let entry = self.entries.get(key.index as usize);
        entry.is_some_and(|e| e.generation == key.generation && e.node.is_some())
    }

    /// Earliest tick at which some timer may be due, or `None` if empty, so
    /// the runtime knows how long it may sleep. Never later than the true
    /// earliest deadline; exact when that timer is on level 0, otherwise the
    /// start of its slot (the caller then advances and asks again).
    pub fn next_expiration(&self) -> Option<u64> {
        self.next_slot().map(|(_, _, start)| start)
    }

    /// Moves time forward to `now` (no-op if `now <= elapsed()`) and pushes
    /// every timer with deadline `<= now` into `fired`, ordered by
    /// (deadline, insertion order). Empty stretches are skipped via the
    /// bitmaps, so large jumps cost only the occupied slots they cross.
    pub fn advance(&mut self, now: u64, fired: &mut Vec<(TimerKey, T)>) {
        while let Some((level, slot, start)) = self.next_slot() {
            if start > now {
                break;
            }
            if level == OVERFLOW {
                // Tighten the cached bound to the true minimum before jumping.
                let mut min = u64::MAX;
                let mut idx = self.overflow.head;
                while idx != NIL {
                    let node = self.node(idx);
                    min = min.min(node.when);
                    idx = node.next;
                }
                self.overflow_min = min;
                let target = block_start(min).max(start);
                if target > now {
                    break;
                }
                self.elapsed = target;
            } else {
                self.elapsed = start;
            }
            // Take the whole slot and re-place (or fire) its entries in order.
            let list = if level == OVERFLOW {
                mem::replace(&mut self.overflow, EMPTY)
            } else {
                self.occupied[level] &= !(1u64 << slot);
                mem::replace(&mut self.slots[level][slot], EMPTY)
            };
            let mut idx = list.head;
            while idx != NIL {
                let (next, when) = (self.node(idx).next, self.node(idx).when);
                if when <= self.elapsed {
                    let key = self.key(idx);
                    fired.push((key, self.free(idx).value));
                } else {
                    self.link(idx);
                }
                idx = next;
            }
        }
        self.elapsed = self.elapsed.max(now);
    }

    /// Current tick of the wheel: the `now` of the latest `advance`.
    #[cfg_attr(
        not(test),
        expect(
            dead_code,
            reason = "used by the tests; the runtime needs no counts yet"
        )
    )]
    pub fn elapsed(&self) -> u64 {
        self.elapsed
    }

    /// Number of pending timers.
    #[cfg_attr(
        not(test),
        expect(
            dead_code,
            reason = "used by the tests; the runtime needs no counts yet"
        )
    )]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no timer is pending.
    #[cfg_attr(
        not(test),
        expect(
            dead_code,
            reason = "used by the tests; the runtime needs no counts yet"
        )
    )]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Earliest occupied slot as (level, slot, start tick). Invariant: every
    /// occupied slot starts strictly after `elapsed`, and lower levels hold
    /// only earlier deadlines than higher ones.
    fn next_slot(&self) -> Option<(usize, usize, u64)> {
        for (level, &bits) in self.occupied.iter().enumerate() {
            if bits != 0 {
                let slot = bits.trailing_zeros() as usize;
                let shift = SLOT_BITS * level as u32;
                let base = self.elapsed & !((1u64 << (shift + SLOT_BITS)) - 1);
                return Some((level, slot, base + ((slot as u64) << shift)));
            }
        }
        if self.overflow.head == NIL {
            return None;
        }
        // All overflow deadlines lie in a later 2^36-tick block than `elapsed`.
        let next_block = (self.elapsed | ((1u64 << SPAN_BITS) - 1)).saturating_add(1);
        Some((OVERFLOW, 0, next_block.max(block_start(self.overflow_min))))
    }

    fn key(&self, index: u32) -> TimerKey {
        let generation = self.entries[index as usize].generation;
        TimerKey { index, generation }
    }

    fn node(&self, idx: u32) -> &Node<T> {
        self.entries[idx as usize]
            .node
            .as_ref()
            .expect("live entry")
    }

    fn node_mut(&mut self, idx: u32) -> &mut Node<T> {
        self.entries[idx as usize]
            .node
            .as_mut()
            .expect("live entry")
    }

    fn list_mut(&mut self, level: usize, slot: usize) -> &mut List {
        if level == OVERFLOW {
            &mut self.overflow
        } else {
            &mut self.slots[level][slot]
        }
    }

    /// Appends entry `idx` to the tail of the list its deadline belongs to.
    fn link(&mut self, idx: u32) {
        let when = self.node(idx).when;
        let level = level_for(self.elapsed, when).min(OVERFLOW);
        let slot = if level == OVERFLOW {
            if self.overflow.head == NIL || when < self.overflow_min {
                self.overflow_min = when;
            }
            0
        } else {
            let slot = ((when >> (SLOT_BITS * level as u32)) as usize) & (SLOTS - 1);
            self.occupied[level] |= 1u64 << slot;
            slot
        };
        let tail = self.list_mut(level, slot).tail;
        let node = self.node_mut(idx);
        (node.prev, node.next, node.level, node.slot) = (tail, NIL, level as u8, slot as u8);
        if tail == NIL {
            self.list_mut(level, slot).head = idx;
        } else {
            self.node_mut(tail).next = idx;
        }
        self.list_mut(level, slot).tail = idx;
    }

    /// Detaches entry `idx` from its list, clearing the slot bit if it empties.
    fn unlink(&mut self, idx: u32) {
        let &Node {
            prev,
            next,
            level,
            slot,
            ..
        } = self.node(idx);
        let (level, slot) = (level as usize, slot as usize);
        if prev == NIL {
            self.list_mut(level, slot).head = next;
        } else {
            self.node_mut(prev).next = next;
        }
        if next == NIL {
            self.list_mut(level, slot).tail = prev;
        } else {
            self.node_mut(next).prev = prev;
        }
        if level != OVERFLOW && self.slots[level][slot].head == NIL {
            self.occupied[level] &= !(1u64 << slot);
        }
    }

    /// Returns an (already unlinked) entry's storage to the vacant set and
    /// bumps its generation so outstanding keys become stale.
    fn free(&mut self, idx: u32) -> Node<T> {
        let entry = &mut self.entries[idx as usize];
        entry.generation = entry.generation.wrapping_add(1);
        self.free.insert(idx);
        self.len -= 1;
        entry.node.take().expect("live entry")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn advance(w: &mut Wheel<u64>, now: u64) -> Vec<(TimerKey, u64)> {
        let mut fired = Vec::new();
        w.advance(now, &mut fired);
        fired
    }

    #[test]
    fn is_empty_and_len_count_the_pending_timers() {
        let mut w: Wheel<u64> = Wheel::new();
        assert!(w.is_empty());
        let near = w.insert(3, 0).ok().unwrap();
        // Beyond the 2^36-tick span of the levels: the overflow list counts too.
        let far = w.insert(1 << 40, 1).ok().unwrap();
        assert!(!w.is_empty());
        assert_eq!(w.len(), 2);
        assert_eq!(w.remove(near), Some(0));
        assert!(!w.is_empty());
        assert_eq!(w.remove(far), Some(1));
        assert!(w.is_empty());
    }

    #[test]
    fn fires_exactly_at_every_level_boundary() {
        // 64^k - 1, 64^k, 64^k + 1 for every level boundary k = 1..=6, plus far beyond.
        let bases = [64u64, 4096, 1 << 18, 1 << 24, 1 << 30, 1 << 36, 1 << 45];
        let deltas: Vec<u64> = bases.iter().flat_map(|&b| [b - 1, b, b + 1]).collect();
        for start in [0u64, 1_000_003] {
            let whens = deltas.iter().map(|d| start + d);
            for when in whens.chain([start + 1, u64::MAX - 1, u64::MAX]) {
                // Direct jump: one tick short, then exactly on time.
                let mut w = Wheel::new();
                assert!(advance(&mut w, start).is_empty());
                let key = w.insert(when, 7).unwrap();
                let next = w.next_expiration().unwrap();
                assert!(next > start && next <= when, "when {when}: next {next}");
                assert!(advance(&mut w, when - 1).is_empty(), "early fire at {when}");
                assert!(w.contains(key));
                assert_eq!(w.next_expiration(), Some(when));
                assert_eq!(advance(&mut w, when), vec![(key, 7)]);
                assert!(w.is_empty() && !w.contains(key) && w.next_expiration().is_none());

                // Runtime-style: sleep until next_expiration, advance, repeat.
                let mut w = Wheel::new();
                advance(&mut w, start);
                let key = w.insert(when, 8).unwrap();
                let mut wakeups = 0;
                while let Some(next) = w.next_expiration() {
                    assert!(next <= when && next > w.elapsed());
                    let fired = advance(&mut w, next);
                    assert_eq!(fired.is_empty(), next < when, "when {when}, woke at {next}");
                    wakeups += 1;
                }
                assert!(
                    wakeups <= 8 && !w.contains(key),
                    "{when}: {wakeups} wakeups"
                );
            }
        }
    }

    #[test]
    fn past_deadline_rejected_and_level_zero_exact() {
        let mut w = Wheel::new();
        assert_eq!(w.insert(0, 1), Err(1));
        advance(&mut w, 1_000_003);
        advance(&mut w, 10); // going backwards is a no-op
        assert_eq!((w.insert(1_000_003, 2), w.elapsed()), (Err(2), 1_000_003));
        for d in [40, 5, 9000] {
            w.insert(1_000_003 + d, d).unwrap();
        }
        assert_eq!(w.next_expiration(), Some(1_000_008));
    }

    #[test]
    fn remove_before_fire_and_stale_keys() {
        let mut w = Wheel::new();
        let a = w.insert(100, 1).unwrap();
        let b = w.insert(100, 2).unwrap();
        let c = w.insert(5_000_000, 3).unwrap();
        assert_eq!(w.remove(b), Some(2));
        assert_eq!(w.remove(b), None);
        *w.get_mut(c).unwrap() = 30;
        assert_eq!(advance(&mut w, 100), vec![(a, 1)]);
        // Both freed slots get reused; the old keys must not reach the new timers.
        let d = w.insert(200, 4).unwrap();
        let e = w.insert(300, 5).unwrap();
        for stale in [a, b] {
            assert_ne!(stale, d);
            assert_ne!(stale, e);
            assert!(!w.contains(stale) && w.get_mut(stale).is_none() && w.remove(stale).is_none());
        }
        assert_eq!(w.len(), 3);
        assert_eq!(advance(&mut w, u64::MAX), vec![(d, 4), (e, 5), (c, 30)]);
    }

    #[test]
    fn storage_is_reused_lowest_first_whatever_order_the_timers_fired_in() {
        // Deadlines in an order unrelated to insertion: they fire in a scrambled index order.
        let n: u64 = 1_000;
        let mut w = Wheel::new();
        let old: Vec<_> = (0..n)
            .map(|i| w.insert(1 + (i * 617) % n, i).unwrap())
            .collect();
        assert!(old.iter().enumerate().all(|(i, k)| k.index == i as u32));
        assert_eq!(advance(&mut w, n).len(), n as usize);
        // The next burst takes indices 0, 1, 2, ... in the order it is inserted (with a free
        // list it would take them in reverse firing order: a random walk over the storage).
        let new: Vec<_> = (0..n).map(|i| w.insert(2 * n + i, i).unwrap()).collect();
        let indices: Vec<u32> = new.iter().map(|k| k.index).collect();
        assert_eq!(indices, (0..n as u32).collect::<Vec<_>>());
        assert_eq!(
            w.entries.len(),
            n as usize,
            "no entry added while some were vacant"
        );
        // Half removed, out of order: they are reused lowest first too.
        for k in new.iter().rev().step_by(2) {
            w.remove(*k);
        }
        let again = w.insert(3 * n, 0).unwrap();
        assert_eq!(again.index, 1);
        assert!(old.iter().all(|k| !w.contains(*k)), "old keys stay stale");
    }

    #[test]
    fn far_jump_fires_everything_in_order() {
        let mut w = Wheel::new();
        let whens = [u64::MAX - 1, 3, 1 << 50, 70, 64u64.pow(6) + 1, 4096, 3];
        let keys: Vec<_> = whens.iter().map(|&t| w.insert(t, t).unwrap()).collect();
        let fired = advance(&mut w, u64::MAX);
        let mut expected: Vec<_> = keys.into_iter().zip(whens).collect();
        expected.sort_by_key(|&(_, t)| t); // stable: equal deadlines keep insertion order
        assert_eq!(fired, expected);
        assert!(w.is_empty() && w.next_expiration().is_none());
    }

    #[derive(Clone, Debug)]
    enum Op {
        Insert(u64),
        Remove(usize),
        Advance(u64),
    }

    fn delta() -> impl Strategy<Value = u64> {
        let huge = prop_oneof![0..1u64 << 38, 0..1u64 << 50, Just(u64::MAX)];
        prop_oneof![0..80u64, 0..5_000u64, 0..300_000u64, huge]
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => delta().prop_map(Op::Insert),
            2 => any::<usize>().prop_map(Op::Remove),
            3 => delta().prop_map(Op::Advance),
        ]
    }

    proptest! {
        #[test]
        fn matches_reference_model(ops in prop::collection::vec(op(), 1..120)) {
            let mut w = Wheel::new();
            let mut model: BTreeMap<(u64, u64), TimerKey> = BTreeMap::new();
            let mut issued: Vec<(TimerKey, u64, u64)> = Vec::new();
            for (seq, op) in (0u64..).zip(ops) {
                match op {
                    Op::Insert(d) => {
                        let when = w.elapsed().saturating_add(d);
                        match w.insert(when, seq) {
                            Ok(key) => {
                                prop_assert!(when > w.elapsed());
                                model.insert((when, seq), key);
                                issued.push((key, when, seq));
                            }
                            Err(v) => prop_assert!(when <= w.elapsed() && v == seq),
                        }
                    }
                    Op::Remove(i) if !issued.is_empty() => {
                        let (key, when, s) = issued[i % issued.len()];
                        let expected = model.remove(&(when, s)).map(|_| s);
                        prop_assert_eq!(w.remove(key), expected);
                        prop_assert!(!w.contains(key));
                    }
                    Op::Remove(_) => {}
                    Op::Advance(d) => {
                        let now = w.elapsed().saturating_add(d);
                        let fired = advance(&mut w, now);
                        let rest = now.checked_add(1).map(|n| model.split_off(&(n, 0)));
                        let due = mem::replace(&mut model, rest.unwrap_or_default());
                        let due: Vec<_> = due.into_iter().map(|((_, s), k)| (k, s)).collect();
                        prop_assert_eq!(fired, due);
                        prop_assert_eq!(w.elapsed(), now);
                    }
                }
                prop_assert_eq!(w.len(), model.len());
                match (w.next_expiration(), model.keys().next()) {
                    (None, None) => {}
                    (Some(next), Some(&(min, _))) => {
                        prop_assert!(next > w.elapsed() && next <= min, "next {} min {}", next, min);
                        if (min ^ w.elapsed()) < 64 {
                            prop_assert_eq!(next, min); // level 0: exact
                        }
                    }
                    (next, min) => prop_assert!(false, "next {:?} vs model min {:?}", next, min),
                }
            }
        }
    }
}
