//! TEMPORARY stand-in with the wheel's API (a sorted map), replaced by the real wheel.
use std::collections::BTreeMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerKey {
    when: u64,
    id: u64,
}

pub struct Wheel<T> {
    map: BTreeMap<(u64, u64), T>,
    elapsed: u64,
    next_id: u64,
}

impl<T> Wheel<T> {
    pub fn new() -> Self {
        Wheel {
            map: BTreeMap::new(),
            elapsed: 0,
            next_id: 0,
        }
    }
    pub fn insert(&mut self, when: u64, value: T) -> Result<TimerKey, T> {
        if when <= self.elapsed {
            return Err(value);
        }
        self.next_id += 1;
        self.map.insert((when, self.next_id), value);
        Ok(TimerKey {
            when,
            id: self.next_id,
        })
    }
    pub fn remove(&mut self, key: TimerKey) -> Option<T> {
        self.map.remove(&(key.when, key.id))
    }
    pub fn get_mut(&mut self, key: TimerKey) -> Option<&mut T> {
        self.map.get_mut(&(key.when, key.id))
    }
    pub fn next_expiration(&self) -> Option<u64> {
        self.map.keys().next().map(|k| k.0)
    }
    pub fn advance(&mut self, now: u64, fired: &mut Vec<(TimerKey, T)>) {
        if now <= self.elapsed {
            return;
        }
        self.elapsed = now;
        while let Some(entry) = self.map.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let ((when, id), v) = entry.remove_entry();
            fired.push((TimerKey { when, id }, v));
        }
    }
}
