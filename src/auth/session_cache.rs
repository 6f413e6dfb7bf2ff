//! Signed-in sessions as last read from the database, so that a request carrying a session
//! cookie (a page, a stylesheet, a health probe) usually costs no database trip.
//!
//! An entry serves for at most [`FRESH_FOR`]. Every change this instance commits through
//! `db::write_transaction` (revocation, deactivation, role edits, password changes, settings)
//! advances [`Pool::commits`](crate::db::Pool::commits) and so retires every entry at once; a change
//! made by another instance (or the command line) reaches this one when its entries age out,
//! within [`FRESH_FOR`]. An entry is never used when the session is past its lifetime, idle, or
//! due for its last-seen write: those requests take the database path, which ends or touches
//! the session as before.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::Duration;

use chrono::NaiveDateTime;

use crate::domain::sessions::LoadedSession;

/// How long another instance's change may take to reach this one.
pub const FRESH_FOR: Duration = Duration::from_secs(1);

/// Entries beyond this are dropped wholesale (they are cheap to read again).
const MOST_ENTRIES: usize = 50_000;

/// When a cached entry was read, and the one rule of whether it may still serve (the session
/// cache's and the scope cache's alike).
#[derive(Clone, Copy, Debug)]
pub struct ReadStamp {
    /// The instance's clock when the row was read.
    read_at: NaiveDateTime,
    /// `Pool::commits()` before the row was read: a commit since then makes the entry stale.
    commits: u64,
}

impl ReadStamp {
    pub fn new(read_at: NaiveDateTime, commits: u64) -> Self {
        Self { read_at, commits }
    }

    /// No commit of this instance since the read, and younger than [`FRESH_FOR`] by the
    /// clock `at`.
    pub fn is_fresh(&self, at: NaiveDateTime, commits: u64) -> bool {
        self.commits == commits
            // a clock set back makes the entry stale rather than fresh for longer
            && at >= self.read_at
            && (at - self.read_at).to_std().is_ok_and(|age| age < FRESH_FOR)
    }
}

struct Entry {
    session: LoadedSession,
    read: ReadStamp,
}

#[derive(Default)]
pub struct SessionCache {
    by_token_hash: RwLock<HashMap<String, Entry>>,
    /// Sessions read from the database since start (what the cache did not answer).
    reads: std::sync::atomic::AtomicU64,
    /// Times a session's other state was saved (a flash set or shown).
    data_saves: std::sync::atomic::AtomicU64,
}

impl SessionCache {
    /// The session of this token, if a fresh entry holds it and it needs no write now;
    /// `at` and `commits` are the pool's clock and `Pool::commits()` now.
    pub fn get(&self, token_hash: &str, at: NaiveDateTime, commits: u64) -> Option<LoadedSession> {
        let map = self.by_token_hash.read().ok()?;
        let entry = map.get(token_hash)?;
        let usable = entry.read.is_fresh(at, commits)
            && !entry.session.is_expired(at)
            && !entry.session.is_idle(at)
            && !entry.session.needs_touch(at);
        usable.then(|| entry.session.clone())
    }

    /// How many times a session was read from the database (each miss of the cache).
    pub fn reads(&self) -> u64 {
        self.reads.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// How many times a session's other state was saved: a page that only shows something
    /// saves none.
    pub fn data_saves(&self) -> u64 {
        self.data_saves.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Counts a read from the database: the cache did not hold the session.
    pub fn note_read(&self) {
        self.reads
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        metrics::counter!("switchboard_session_reads_total").increment(1);
    }

    /// Keeps what was read; `read_at` and `commits` are the clock and `Pool::commits()` taken
    /// before the read.
    pub fn put(
        &self,
        token_hash: String,
        session: LoadedSession,
        read_at: NaiveDateTime,
        commits: u64,
    ) {
        let Ok(mut map) = self.by_token_hash.write() else {
            return;
        };
        if map.len() >= MOST_ENTRIES {
            map.clear();
        }
        map.insert(
            token_hash,
            Entry {
                session,
                read: ReadStamp::new(read_at, commits),
            },
        );
    }

    /// The session's other state (flash messages) changed: the entry follows, so the next
    /// request on this instance sees it.
    pub fn set_data(&self, token_hash: &str, data: &str) {
        self.data_saves
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let Ok(mut map) = self.by_token_hash.write()
            && let Some(entry) = map.get_mut(token_hash)
        {
            entry.session.data = data.to_string();
        }
    }

    pub fn forget(&self, token_hash: &str) {
        if let Ok(mut map) = self.by_token_hash.write() {
            map.remove(token_hash);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minute: u32, second: u32, milli: u32) -> NaiveDateTime {
        chrono::NaiveDate::from_ymd_opt(2026, 12, 4)
            .and_then(|day| day.and_hms_milli_opt(10, minute, second, milli))
            .expect("a valid time")
    }

    /// Last seen at 10:00:00, idle after 30 minutes.
    fn session_expiring_at(expires_at: NaiveDateTime) -> LoadedSession {
        LoadedSession::for_tests(at(0, 0, 0), expires_at, 30)
    }

    fn cache_with(session: LoadedSession, read_at: NaiveDateTime, commits: u64) -> SessionCache {
        let cache = SessionCache::default();
        cache.put("token".into(), session, read_at, commits);
        cache
    }

    #[test]
    fn an_entry_serves_for_less_than_a_second_and_only_without_a_commit_since() {
        let cache = cache_with(session_expiring_at(at(50, 0, 0)), at(0, 10, 0), 7);
        assert!(cache.get("token", at(0, 10, 0), 7).is_some());
        assert!(cache.get("token", at(0, 10, 999), 7).is_some());
        // a second old: another instance's change must show by now
        assert!(cache.get("token", at(0, 11, 0), 7).is_none());
        // a change committed on this instance since the read
        assert!(cache.get("token", at(0, 10, 1), 8).is_none());
        // a clock set back does not make it fresh for longer
        assert!(cache.get("token", at(0, 9, 999), 7).is_none());
        assert!(cache.get("another token", at(0, 10, 0), 7).is_none());
    }

    #[test]
    fn an_entry_is_never_used_past_the_sessions_lifetime_or_due_touch() {
        // expires within the entry's second
        let cache = cache_with(session_expiring_at(at(0, 10, 500)), at(0, 10, 0), 1);
        assert!(cache.get("token", at(0, 10, 499), 1).is_some());
        assert!(cache.get("token", at(0, 10, 500), 1).is_none());

        // (an idle session is always due for its last-seen write first: idle timeouts are a
        // minute or more, touches are due after a minute)

        // due for its last-seen write (a minute after it was last seen)
        let cache = cache_with(session_expiring_at(at(50, 0, 0)), at(0, 59, 500), 1);
        assert!(cache.get("token", at(0, 59, 999), 1).is_some());
        assert!(cache.get("token", at(1, 0, 0), 1).is_none());
    }

    #[test]
    fn data_follows_and_a_forgotten_entry_is_gone() {
        let cache = cache_with(session_expiring_at(at(50, 0, 0)), at(0, 10, 0), 1);
        cache.set_data("token", r#"{"flash":"saved"}"#);
        let session = cache.get("token", at(0, 10, 0), 1).expect("cached");
        assert_eq!(session.data, r#"{"flash":"saved"}"#);
        cache.forget("token");
        assert!(cache.get("token", at(0, 10, 0), 1).is_none());
    }

    #[test]
    fn misses_are_counted() {
        let cache = SessionCache::default();
        assert_eq!(cache.reads(), 0);
        cache.note_read();
        cache.note_read();
        assert_eq!(cache.reads(), 2);
    }

    #[test]
    fn a_full_cache_starts_again() {
        let cache = SessionCache::default();
        for n in 0..MOST_ENTRIES {
            cache.put(
                format!("token {n}"),
                session_expiring_at(at(50, 0, 0)),
                at(0, 10, 0),
                1,
            );
        }
        assert!(cache.get("token 0", at(0, 10, 0), 1).is_some());
        cache.put(
            "one more".into(),
            session_expiring_at(at(50, 0, 0)),
            at(0, 10, 0),
            1,
        );
        assert!(cache.get("token 0", at(0, 10, 0), 1).is_none());
        assert!(cache.get("one more", at(0, 10, 0), 1).is_some());
    }
}
