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

struct Entry {
    session: LoadedSession,
    /// The instance's clock when the row was read.
    read_at: NaiveDateTime,
    /// `Pool::commits()` before the row was read: a commit since then makes the entry stale.
    commits: u64,
}

#[derive(Default)]
pub struct SessionCache {
    by_token_hash: RwLock<HashMap<String, Entry>>,
    /// Sessions read from the database since start (what the cache did not answer).
    reads: std::sync::atomic::AtomicU64,
}

impl SessionCache {
    /// The session of this token, if a fresh entry holds it and it needs no write now;
    /// `at` and `commits` are the pool's clock and `Pool::commits()` now.
    pub fn get(&self, token_hash: &str, at: NaiveDateTime, commits: u64) -> Option<LoadedSession> {
        let map = self.by_token_hash.read().ok()?;
        let entry = map.get(token_hash)?;
        let usable = entry.commits == commits
            // a clock set back makes the entry stale rather than fresh for longer
            && at >= entry.read_at
            && (at - entry.read_at).to_std().is_ok_and(|age| age < FRESH_FOR)
            && !entry.session.is_expired(at)
            && !entry.session.is_idle(at)
            && !entry.session.needs_touch(at);
        usable.then(|| entry.session.clone())
    }

    /// How many times a session was read from the database (each miss of the cache).
    pub fn reads(&self) -> u64 {
        self.reads.load(std::sync::atomic::Ordering::Relaxed)
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
                read_at,
                commits,
            },
        );
    }

    /// The session's other state (flash messages) changed: the entry follows, so the next
    /// request on this instance sees it.
    pub fn set_data(&self, token_hash: &str, data: &str) {
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
