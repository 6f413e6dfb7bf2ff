//! Signed-in sessions as last read from the database, so that a request carrying a session
//! cookie (a page, a stylesheet, a health probe) usually costs no database trip.
//!
//! Every change this instance commits through `db::write_transaction` (revocation,
//! deactivation, role edits, password changes, settings) advances
//! [`Pool::commits`](crate::db::Pool::commits) and so retires every entry at once. A change
//! made by another instance (or the command line) is announced in the database
//! (`db::changes`) and retires them when this instance's watch reads it
//! (`auth::change_watch`, four times a second). The rule ([`ReadStamp`]): an entry serves for
//! less than [`FRESH_FOR`], and for up to [`HELD_FOR`] while the watch's last read began less
//! than `FRESH_FOR` ago; so another instance's change shows here within `FRESH_FOR` either
//! way, and with the watch running a session costs a read at most once a minute. An entry is
//! never used when the session is past its lifetime, idle, or due for its last-seen write:
//! those requests take the database path, which ends or touches the session as before.

use std::collections::HashMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::NaiveDateTime;

use crate::db::CacheClock;
use crate::domain::sessions::LoadedSession;

/// How long another instance's change may take to reach this one.
pub const FRESH_FOR: Duration = Duration::from_secs(1);

/// How long an entry serves at most, while the watch of announced changes keeps up: a change
/// that no announcement tells of (one made by hand in the database) shows within this.
pub const HELD_FOR: Duration = Duration::from_secs(60);

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
    /// `read` is the pool's [`CacheClock`] taken before the read.
    pub fn new(read: &CacheClock) -> Self {
        Self {
            read_at: read.at,
            commits: read.commits,
        }
    }

    /// No commit of this instance (nor announced change of another that retires everything)
    /// since the read, and younger than [`FRESH_FOR`]; or younger than [`HELD_FOR`] while the
    /// last applied read of announced changes began less than `FRESH_FOR` ago (a change
    /// committed before that read has retired the entry already).
    pub fn is_fresh(&self, now: &CacheClock) -> bool {
        let within = |since: NaiveDateTime, limit: Duration| {
            // a clock set back makes the entry stale rather than fresh for longer
            now.at >= since && (now.at - since).to_std().is_ok_and(|age| age < limit)
        };
        self.commits == now.commits
            && (within(self.read_at, FRESH_FOR)
                || (within(self.read_at, HELD_FOR)
                    && now
                        .changes_seen_from
                        .is_some_and(|seen_from| within(seen_from, FRESH_FOR))))
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
    reads: AtomicU64,
    /// Times a session's other state was saved (a flash set or shown).
    data_saves: AtomicU64,
    /// Entries forgotten since start: a read that began before a forget is not kept.
    forgets: AtomicU64,
}

impl SessionCache {
    /// The session of this token, if a fresh entry holds it and it needs no write now;
    /// `now` is the pool's [`CacheClock`] now.
    pub fn get(&self, token_hash: &str, now: &CacheClock) -> Option<LoadedSession> {
        let at = now.at;
        let map = self.by_token_hash.read().ok()?;
        let entry = map.get(token_hash)?;
        let usable = entry.read.is_fresh(now)
            && !entry.session.is_expired(at)
            && !entry.session.is_idle(at)
            && !entry.session.needs_touch(at);
        usable.then(|| entry.session.clone())
    }

    /// How many times a session was read from the database (each miss of the cache).
    pub fn reads(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }

    /// How many times a session's other state was saved: a page that only shows something
    /// saves none.
    pub fn data_saves(&self) -> u64 {
        self.data_saves.load(Ordering::Relaxed)
    }

    /// Counts a read from the database: the cache did not hold the session.
    pub fn note_read(&self) {
        self.reads.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("switchboard_session_reads_total").increment(1);
    }

    /// Entries forgotten so far: taken before a read and handed to [`put`](Self::put), so that
    /// a read racing a forget (another instance's change to the session) is not kept.
    pub fn forgets(&self) -> u64 {
        self.forgets.load(Ordering::Acquire)
    }

    /// Keeps what was read; `read` is the pool's [`CacheClock`] and `forgets_before`
    /// [`forgets`](Self::forgets), both taken before the read.
    pub fn put(
        &self,
        token_hash: String,
        session: LoadedSession,
        read: &CacheClock,
        forgets_before: u64,
    ) {
        let Ok(mut map) = self.by_token_hash.write() else {
            return;
        };
        // under the lock that forget takes too: a forget since the read began wins
        if self.forgets() != forgets_before {
            return;
        }
        if map.len() >= MOST_ENTRIES {
            map.clear();
        }
        map.insert(
            token_hash,
            Entry {
                session,
                read: ReadStamp::new(read),
            },
        );
    }

    /// The session's other state (flash messages) changed: the entry follows, so the next
    /// request on this instance sees it.
    pub fn set_data(&self, token_hash: &str, data: &str) {
        self.data_saves.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut map) = self.by_token_hash.write()
            && let Some(entry) = map.get_mut(token_hash)
        {
            entry.session.data = data.to_string();
        }
    }

    /// The session changed (signed out here, or its state changed on another instance): the
    /// next request reads it again.
    pub fn forget(&self, token_hash: &str) {
        if let Ok(mut map) = self.by_token_hash.write() {
            self.forgets.fetch_add(1, Ordering::AcqRel);
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

    /// The pool's cache clock with no watch of announced changes running.
    fn clock(at: NaiveDateTime, commits: u64) -> CacheClock {
        CacheClock {
            at,
            commits,
            changes_seen_from: None,
        }
    }

    /// The pool's cache clock when the watch's last applied read began at `seen_from`.
    fn watched(at: NaiveDateTime, commits: u64, seen_from: NaiveDateTime) -> CacheClock {
        CacheClock {
            changes_seen_from: Some(seen_from),
            ..clock(at, commits)
        }
    }

    /// Last seen at 10:00:00, idle after 30 minutes.
    fn session_expiring_at(expires_at: NaiveDateTime) -> LoadedSession {
        LoadedSession::for_tests(at(0, 0, 0), expires_at, 30)
    }

    fn cache_with(session: LoadedSession, read_at: NaiveDateTime, commits: u64) -> SessionCache {
        let cache = SessionCache::default();
        cache.put("token".into(), session, &clock(read_at, commits), 0);
        cache
    }

    #[test]
    fn an_entry_serves_for_less_than_a_second_and_only_without_a_commit_since() {
        let cache = cache_with(session_expiring_at(at(50, 0, 0)), at(0, 10, 0), 7);
        assert!(cache.get("token", &clock(at(0, 10, 0), 7)).is_some());
        assert!(cache.get("token", &clock(at(0, 10, 999), 7)).is_some());
        // a second old: another instance's change must show by now
        assert!(cache.get("token", &clock(at(0, 11, 0), 7)).is_none());
        // a change committed on this instance since the read
        assert!(cache.get("token", &clock(at(0, 10, 1), 8)).is_none());
        // a clock set back does not make it fresh for longer
        assert!(cache.get("token", &clock(at(0, 9, 999), 7)).is_none());
        assert!(
            cache
                .get("another token", &clock(at(0, 10, 0), 7))
                .is_none()
        );
    }

    #[test]
    fn while_the_watch_keeps_up_an_entry_serves_for_up_to_a_minute() {
        // read at 10:00:00.000 (last seen then: no touch due for a minute)
        let cache = SessionCache::default();
        let session = LoadedSession::for_tests(at(0, 0, 0), at(50, 0, 0), 30);
        cache.put("token".into(), session, &clock(at(0, 0, 0), 7), 0);
        // 30 s later, the watch's last read began 0.9 s ago: nothing announced since
        let now = watched(at(0, 30, 0), 7, at(0, 29, 100));
        assert!(cache.get("token", &now).is_some());
        // the watch's last read began a second ago: it may have missed a change
        assert!(
            cache
                .get("token", &watched(at(0, 30, 0), 7, at(0, 29, 0)))
                .is_none()
        );
        // no watch: a second is all
        assert!(cache.get("token", &clock(at(0, 30, 0), 7)).is_none());
        // the watch's read began after the clock (set back): not trusted
        assert!(
            cache
                .get("token", &watched(at(0, 30, 0), 7, at(0, 30, 1)))
                .is_none()
        );
        // an announced change that retires everything
        assert!(
            cache
                .get("token", &watched(at(0, 30, 0), 8, at(0, 29, 900)))
                .is_none()
        );
        // a minute after the read, even with the watch up to date (and a touch due anyway)
        let cache = cache_with(session_expiring_at(at(50, 0, 0)), at(0, 0, 0), 7);
        assert!(
            cache
                .get("token", &watched(at(0, 59, 999), 7, at(0, 59, 500)))
                .is_some()
        );
        let stamp = ReadStamp::new(&clock(at(0, 0, 0), 7));
        assert!(stamp.is_fresh(&watched(at(0, 59, 999), 7, at(0, 59, 500))));
        assert!(!stamp.is_fresh(&watched(at(1, 0, 0), 7, at(0, 59, 500))));
    }

    #[test]
    fn an_entry_is_never_used_past_the_sessions_lifetime_or_due_touch() {
        // expires within the entry's second
        let cache = cache_with(session_expiring_at(at(0, 10, 500)), at(0, 10, 0), 1);
        assert!(cache.get("token", &clock(at(0, 10, 499), 1)).is_some());
        assert!(cache.get("token", &clock(at(0, 10, 500), 1)).is_none());

        // (an idle session is always due for its last-seen write first: idle timeouts are a
        // minute or more, touches are due after a minute)

        // due for its last-seen write (a minute after it was last seen)
        let cache = cache_with(session_expiring_at(at(50, 0, 0)), at(0, 59, 500), 1);
        assert!(cache.get("token", &clock(at(0, 59, 999), 1)).is_some());
        assert!(cache.get("token", &clock(at(1, 0, 0), 1)).is_none());
    }

    #[test]
    fn data_follows_and_a_forgotten_entry_is_gone() {
        let cache = cache_with(session_expiring_at(at(50, 0, 0)), at(0, 10, 0), 1);
        cache.set_data("token", r#"{"flash":"saved"}"#);
        let session = cache.get("token", &clock(at(0, 10, 0), 1)).expect("cached");
        assert_eq!(session.data, r#"{"flash":"saved"}"#);
        cache.forget("token");
        assert!(cache.get("token", &clock(at(0, 10, 0), 1)).is_none());
    }

    #[test]
    fn a_read_that_began_before_a_forget_is_not_kept() {
        let cache = SessionCache::default();
        let before = cache.forgets();
        // another instance changes a session while this one reads it from the database
        cache.forget("token");
        let session = session_expiring_at(at(50, 0, 0));
        cache.put(
            "token".into(),
            session.clone(),
            &clock(at(0, 10, 0), 1),
            before,
        );
        assert!(cache.get("token", &clock(at(0, 10, 0), 1)).is_none());
        // a read that began after it is
        cache.put(
            "token".into(),
            session,
            &clock(at(0, 10, 0), 1),
            cache.forgets(),
        );
        assert!(cache.get("token", &clock(at(0, 10, 0), 1)).is_some());
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
        let read = clock(at(0, 10, 0), 1);
        for n in 0..MOST_ENTRIES {
            cache.put(
                format!("token {n}"),
                session_expiring_at(at(50, 0, 0)),
                &read,
                0,
            );
        }
        assert!(cache.get("token 0", &read).is_some());
        cache.put(
            "one more".into(),
            session_expiring_at(at(50, 0, 0)),
            &read,
            0,
        );
        assert!(cache.get("token 0", &read).is_none());
        assert!(cache.get("one more", &read).is_some());
    }
}
