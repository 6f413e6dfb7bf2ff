//! What a page last read of data that changes with the agents' work (the inbox of one viewer),
//! kept by two rules at once. The live pages' rule: an entry serves only while its
//! [`LiveStamp`] is still the current one, that is while nothing was written on this instance
//! (any write transaction that wrote: at once) nor on another (conversations' messages,
//! assignments and audit records: within a second; announced changes: at the watch's next
//! look). And the session cache's rule
//! ([`ReadStamp`](crate::auth::session_cache::ReadStamp)): for less than a second, or up to a
//! minute while the watch of announced changes keeps up. A live page answers "nothing new" by
//! the first rule without reading anything; a reload of the page it shows answers from here.

use std::hash::Hash;
use std::sync::Arc;

use crate::auth::fresh_cache::FreshCache;
use crate::db::CacheClock;

/// What has changed, as the live pages compare it: this instance's writes, its commits and
/// the announced changes of others (`Pool::commits`), and the marker of every instance's
/// changes to conversations. Taken before a read, it stamps what the read returns: a write
/// that commits during the read moves it, so the entry never serves after that write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LiveStamp {
    pub writes: u64,
    pub commits: u64,
    pub elsewhere: i64,
}

impl std::fmt::Display for LiveStamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}-{}", self.writes, self.commits, self.elsewhere)
    }
}

/// Entries beyond this are dropped wholesale: each holds a page of rows (they are read again
/// at the next view).
const MOST_ENTRIES: usize = 2_000;

/// Each entry with the stamp it was read at, under the session cache's rule.
pub struct LiveCache<K, V>(FreshCache<K, (LiveStamp, Arc<V>)>);

impl<K, V> Default for LiveCache<K, V> {
    fn default() -> Self {
        Self(FreshCache::holding_at_most(MOST_ENTRIES))
    }
}

impl<K: Eq + Hash, V> LiveCache<K, V> {
    /// The value of `key`, if it was read at `stamp` (the current one) and the session
    /// cache's rule keeps it at `now` (the pool's [`CacheClock`] now).
    pub fn get(&self, key: &K, stamp: LiveStamp, now: &CacheClock) -> Option<Arc<V>> {
        let (read_at, value) = self.0.get(key, now)?;
        (read_at == stamp).then_some(value)
    }

    /// Keeps what was read; `stamp` and `read` (the pool's [`CacheClock`]) were taken before
    /// the read.
    pub fn put(&self, key: K, value: Arc<V>, stamp: LiveStamp, read: &CacheClock) {
        self.0.put(key, (stamp, value), read);
    }

    /// How many values were read from the database and kept (each miss of the cache).
    pub fn reads(&self) -> u64 {
        self.0.reads()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::fresh_cache::at;

    const STAMP: LiveStamp = LiveStamp {
        writes: 7,
        commits: 3,
        elsewhere: 40,
    };

    #[test]
    fn an_entry_serves_while_nothing_changed_and_the_session_rule_keeps_it() {
        let cache = LiveCache::<&str, i32>::default();
        cache.put("alice", Arc::new(1), STAMP, &at(10, 0, 3));
        assert_eq!(cache.reads(), 1);
        assert_eq!(
            cache.get(&"alice", STAMP, &at(10, 0, 3)).as_deref(),
            Some(&1)
        );
        assert_eq!(
            cache.get(&"alice", STAMP, &at(10, 999, 3)).as_deref(),
            Some(&1)
        );
        assert_eq!(cache.get(&"bob", STAMP, &at(10, 0, 3)), None, "another key");
        cache.put("bob", Arc::new(2), STAMP, &at(10, 0, 3));
        assert_eq!(cache.reads(), 2);
        assert_eq!(
            cache.get(&"alice", STAMP, &at(10, 0, 3)).as_deref(),
            Some(&1)
        );
        let written_here = LiveStamp { writes: 8, ..STAMP };
        assert_eq!(cache.get(&"alice", written_here, &at(10, 1, 3)), None);
        let changed_elsewhere = LiveStamp {
            elsewhere: 41,
            ..STAMP
        };
        assert_eq!(cache.get(&"alice", changed_elsewhere, &at(10, 1, 3)), None);
        // the session cache's rule: a commit since, a second without the watch, clock set back
        assert_eq!(
            cache.get(&"alice", STAMP, &at(10, 1, 4)),
            None,
            "a commit since"
        );
        assert_eq!(cache.get(&"alice", STAMP, &at(11, 0, 3)), None, "aged out");
        assert_eq!(
            cache.get(&"alice", STAMP, &at(9, 999, 3)),
            None,
            "clock set back"
        );
        let watched = CacheClock {
            changes_seen_from: Some(at(39, 500, 3).at),
            ..at(40, 0, 3)
        };
        assert_eq!(cache.get(&"alice", STAMP, &watched).as_deref(), Some(&1));
    }

    #[test]
    fn a_full_cache_starts_again() {
        let cache = LiveCache::<usize, ()>::default();
        let now = at(10, 0, 3);
        for key in 0..MOST_ENTRIES {
            cache.put(key, Arc::new(()), STAMP, &now);
        }
        assert!(cache.get(&0, STAMP, &now).is_some());
        cache.put(MOST_ENTRIES, Arc::new(()), STAMP, &now);
        assert!(cache.get(&0, STAMP, &now).is_none(), "cleared");
        assert!(cache.get(&MOST_ENTRIES, STAMP, &now).is_some());
    }
}
