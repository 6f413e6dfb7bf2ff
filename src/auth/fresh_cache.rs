//! What this instance last read of database state that changes seldom and is read on every
//! page (a viewer's visibility scope, a company's channels), kept by the session cache's rule
//! ([`ReadStamp`]): an entry serves for less than
//! [`FRESH_FOR`](crate::auth::session_cache::FRESH_FOR), and only while this instance has
//! committed nothing through `db::write_transaction` since it was read (`Pool::commits`), so a
//! change made here acts at once and one made elsewhere within `FRESH_FOR`.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::NaiveDateTime;

use crate::auth::session_cache::ReadStamp;

/// Entries beyond this are dropped wholesale (they are cheap to read again).
const MOST_ENTRIES: usize = 50_000;

struct Entry<V> {
    value: V,
    read: ReadStamp,
}

pub struct FreshCache<K, V> {
    by_key: RwLock<HashMap<K, Entry<V>>>,
    /// Values read from the database since start and kept (what the cache did not answer).
    reads: AtomicU64,
}

impl<K, V> Default for FreshCache<K, V> {
    fn default() -> Self {
        Self {
            by_key: RwLock::new(HashMap::new()),
            reads: AtomicU64::new(0),
        }
    }
}

impl<K: Eq + Hash, V: Clone> FreshCache<K, V> {
    /// The value of `key`, if a fresh entry holds it; `at` and `commits` are the pool's clock
    /// and `Pool::commits()` now.
    pub fn get(&self, key: &K, at: NaiveDateTime, commits: u64) -> Option<V> {
        let map = self.by_key.read().ok()?;
        let entry = map.get(key)?;
        entry
            .read
            .is_fresh(at, commits)
            .then(|| entry.value.clone())
    }

    /// Keeps what was read; `read_at` and `commits` are the clock and `Pool::commits()` taken
    /// before the read.
    pub fn put(&self, key: K, value: V, read_at: NaiveDateTime, commits: u64) {
        self.reads.fetch_add(1, Ordering::Relaxed);
        let Ok(mut map) = self.by_key.write() else {
            return;
        };
        if map.len() >= MOST_ENTRIES {
            map.clear();
        }
        map.insert(
            key,
            Entry {
                value,
                read: ReadStamp::new(read_at, commits),
            },
        );
    }

    /// How many values were read from the database and kept (each miss of the cache).
    pub fn reads(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }
}

/// 10:00:`second`.`milli` on a day of the tests, for the caches' tests.
#[cfg(test)]
pub(crate) fn at(second: u32, milli: u32) -> NaiveDateTime {
    chrono::NaiveDate::from_ymd_opt(2026, 12, 4)
        .and_then(|d| d.and_hms_milli_opt(10, 0, second, milli))
        .expect("a time")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_serves_for_less_than_a_second_and_only_without_a_commit_since() {
        let cache = FreshCache::<i64, &str>::default();
        cache.put(7, "seven", at(10, 0), 3);
        cache.put(9, "nine", at(10, 0), 3);
        assert_eq!(cache.reads(), 2);
        assert_eq!(cache.get(&9, at(10, 0), 3), Some("nine"));
        assert_eq!(cache.get(&7, at(10, 0), 3), Some("seven"));
        assert_eq!(cache.get(&7, at(10, 999), 3), Some("seven"));
        assert_eq!(cache.get(&7, at(11, 0), 3), None, "aged out");
        assert_eq!(cache.get(&7, at(10, 1), 4), None, "a commit since");
        assert_eq!(cache.get(&7, at(9, 999), 3), None, "clock set back");
        assert_eq!(cache.get(&8, at(10, 1), 3), None, "another key");
    }

    #[test]
    fn a_full_cache_starts_again() {
        let cache = FreshCache::<i64, ()>::default();
        for key in 0..MOST_ENTRIES as i64 {
            cache.put(key, (), at(10, 0), 0);
        }
        cache.put(-1, (), at(10, 0), 0);
        assert_eq!(cache.get(&0, at(10, 1), 0), None);
        assert_eq!(cache.get(&-1, at(10, 1), 0), Some(()));
    }
}
