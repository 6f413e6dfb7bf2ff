//! What this instance last read of database state that changes seldom and is read on every
//! page (a viewer's visibility scope, a company's channels), kept by the session cache's rule
//! ([`ReadStamp`]): an entry serves only while nothing has retired it since it was read
//! (`Pool::commits`: a commit of this instance through `db::write_transaction`, or another
//! instance's announced change), for less than
//! [`FRESH_FOR`](crate::auth::session_cache::FRESH_FOR), or up to
//! [`HELD_FOR`](crate::auth::session_cache::HELD_FOR) while the watch of announced changes keeps
//! up. So a change made here acts at once and one made elsewhere within `FRESH_FOR`.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::auth::session_cache::ReadStamp;
use crate::db::CacheClock;

/// Entries beyond this are dropped wholesale (they are cheap to read again).
const MOST_ENTRIES: usize = 50_000;

struct Entry<V> {
    value: V,
    read: ReadStamp,
}

pub struct FreshCache<K, V> {
    by_key: RwLock<HashMap<K, Entry<V>>>,
    /// Entries beyond this are dropped wholesale.
    most_entries: usize,
    /// Values read from the database since start and kept (what the cache did not answer).
    reads: AtomicU64,
}

impl<K, V> Default for FreshCache<K, V> {
    fn default() -> Self {
        Self::holding_at_most(MOST_ENTRIES)
    }
}

impl<K, V> FreshCache<K, V> {
    /// A cache that starts again when it holds `most_entries` (for larger values).
    pub fn holding_at_most(most_entries: usize) -> Self {
        Self {
            by_key: RwLock::new(HashMap::new()),
            most_entries,
            reads: AtomicU64::new(0),
        }
    }
}

impl<K: Eq + Hash, V: Clone> FreshCache<K, V> {
    /// The value of `key`, if a fresh entry holds it; `now` is the pool's [`CacheClock`] now.
    pub fn get(&self, key: &K, now: &CacheClock) -> Option<V> {
        let map = self.by_key.read().ok()?;
        let entry = map.get(key)?;
        entry.read.is_fresh(now).then(|| entry.value.clone())
    }

    /// Keeps what was read; `read` is the pool's [`CacheClock`] taken before the read.
    pub fn put(&self, key: K, value: V, read: &CacheClock) {
        self.reads.fetch_add(1, Ordering::Relaxed);
        let Ok(mut map) = self.by_key.write() else {
            return;
        };
        if map.len() >= self.most_entries {
            map.clear();
        }
        map.insert(
            key,
            Entry {
                value,
                read: ReadStamp::new(read),
            },
        );
    }

    /// How many values were read from the database and kept (each miss of the cache).
    pub fn reads(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }
}

/// The pool's cache clock at 10:00:`second`.`milli` on a day of the tests, after `commits`
/// commits, with no watch of announced changes running: for the caches' tests.
#[cfg(test)]
pub(crate) fn at(second: u32, milli: u32, commits: u64) -> CacheClock {
    CacheClock {
        at: chrono::NaiveDate::from_ymd_opt(2026, 12, 4)
            .and_then(|d| d.and_hms_milli_opt(10, 0, second, milli))
            .expect("a time"),
        commits,
        changes_seen_from: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_serves_for_less_than_a_second_and_only_without_a_commit_since() {
        let cache = FreshCache::<i64, &str>::default();
        cache.put(7, "seven", &at(10, 0, 3));
        cache.put(9, "nine", &at(10, 0, 3));
        assert_eq!(cache.reads(), 2);
        assert_eq!(cache.get(&9, &at(10, 0, 3)), Some("nine"));
        assert_eq!(cache.get(&7, &at(10, 0, 3)), Some("seven"));
        assert_eq!(cache.get(&7, &at(10, 999, 3)), Some("seven"));
        assert_eq!(cache.get(&7, &at(11, 0, 3)), None, "aged out");
        assert_eq!(cache.get(&7, &at(10, 1, 4)), None, "a commit since");
        assert_eq!(cache.get(&7, &at(9, 999, 3)), None, "clock set back");
        assert_eq!(cache.get(&8, &at(10, 1, 3)), None, "another key");
        // the watch of announced changes keeps up: held past a second
        let watched = |second, seen_from: CacheClock| CacheClock {
            changes_seen_from: Some(seen_from.at),
            ..at(second, 0, 3)
        };
        assert_eq!(cache.get(&7, &watched(40, at(39, 500, 3))), Some("seven"));
        assert_eq!(
            cache.get(&7, &watched(40, at(39, 0, 3))),
            None,
            "watch behind"
        );
    }

    #[test]
    fn a_full_cache_starts_again() {
        let cache = FreshCache::<i64, ()>::default();
        for key in 0..MOST_ENTRIES as i64 {
            cache.put(key, (), &at(10, 0, 0));
        }
        cache.put(-1, (), &at(10, 0, 0));
        assert_eq!(cache.get(&0, &at(10, 1, 0)), None);
        assert_eq!(cache.get(&-1, &at(10, 1, 0)), Some(()));
    }
}
