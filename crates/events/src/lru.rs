//! A bounded map that forgets its least recently used entry when full.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;

/// At most `capacity` entries; reads and writes mark an entry as recently used.
#[derive(Debug)]
pub struct Lru<K, V> {
    capacity: usize,
    tick: u64,
    entries: HashMap<K, (u64, V)>,
    /// Last-use tick → key, oldest first.
    order: BTreeMap<u64, K>,
}

impl<K: Hash + Eq + Clone, V> Lru<K, V> {
    /// An empty map holding at most `capacity` (at least one) entries.
    pub fn new(capacity: usize) -> Self {
        Lru {
            capacity: capacity.max(1),
            tick: 0,
            entries: HashMap::new(),
            order: BTreeMap::new(),
        }
    }

    /// How many entries are held.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the map is empty.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entry for `key`, now the most recently used.
    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        let tick = self.next_tick();
        let (used, value) = self.entries.get_mut(key)?;
        let old = std::mem::replace(used, tick);
        if let Some(k) = self.order.remove(&old) {
            self.order.insert(tick, k);
        }
        Some(value)
    }

    /// Stores `value` under `key`, evicting the least recently used entry if full.
    pub fn insert(&mut self, key: K, value: V) {
        let tick = self.next_tick();
        if let Some((old, _)) = self.entries.remove(&key) {
            self.order.remove(&old);
        } else if self.entries.len() >= self.capacity
            && let Some((_, oldest)) = self.order.pop_first()
        {
            self.entries.remove(&oldest);
        }
        self.order.insert(tick, key.clone());
        self.entries.insert(key, (tick, value));
    }

    /// The entry for `key`, inserted from `make` if absent; now the most recently used.
    pub fn get_or_insert_with(&mut self, key: &K, make: impl FnOnce() -> V) -> &mut V {
        let tick = self.next_tick();
        if !self.entries.contains_key(key)
            && self.entries.len() >= self.capacity
            && let Some((_, oldest)) = self.order.pop_first()
        {
            self.entries.remove(&oldest);
        }
        match self.entries.entry(key.clone()) {
            Entry::Occupied(o) => {
                let (used, value) = o.into_mut();
                let old = std::mem::replace(used, tick);
                self.order.remove(&old);
                self.order.insert(tick, key.clone());
                value
            }
            Entry::Vacant(v) => {
                self.order.insert(tick, key.clone());
                &mut v.insert((tick, make())).1
            }
        }
    }

    fn next_tick(&mut self) -> u64 {
        self.tick += 1;
        self.tick
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_least_recently_used() {
        let mut lru = Lru::new(2);
        lru.insert("a", 1);
        lru.insert("b", 2);
        // Reading "a" makes "b" the oldest.
        assert_eq!(lru.get_mut(&"a").copied(), Some(1));
        lru.insert("c", 3);
        assert_eq!(lru.len(), 2);
        assert!(lru.get_mut(&"b").is_none());
        assert_eq!(lru.get_mut(&"a").copied(), Some(1));
        assert_eq!(lru.get_mut(&"c").copied(), Some(3));
    }

    #[test]
    fn overwrite_does_not_evict() {
        let mut lru = Lru::new(2);
        lru.insert("a", 1);
        lru.insert("b", 2);
        lru.insert("a", 10);
        assert_eq!(lru.len(), 2);
        assert_eq!(lru.get_mut(&"b").copied(), Some(2));
        assert_eq!(lru.get_mut(&"a").copied(), Some(10));
    }

    #[test]
    fn get_or_insert_with_creates_once_and_stays_bounded() {
        let mut lru = Lru::new(3);
        for k in [1, 2, 1, 3, 1, 4] {
            *lru.get_or_insert_with(&k, || 0) += 1;
        }
        assert_eq!(lru.len(), 3);
        assert!(!lru.is_empty());
        // 2 was the least recently used when 4 arrived.
        assert!(lru.get_mut(&2).is_none());
        assert_eq!(lru.get_mut(&1).copied(), Some(3));
        assert_eq!(lru.get_mut(&3).copied(), Some(1));
        assert_eq!(lru.get_mut(&4).copied(), Some(1));
    }
}
