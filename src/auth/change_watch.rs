//! The watch of announced changes (`db::changes`): four times a second each instance reads what
//! other instances and the command line announced since the last announcement it saw, and
//! retires what they name: a change to anything, every cached entry (`Pool::retire_cached`);
//! one session's, that session's entry. Then it records when its read began
//! (`Pool::changes_seen_from`): every change committed before that moment has reached the
//! caches, so their entries may serve past `FRESH_FOR` (`session_cache::ReadStamp`). While the
//! database does not answer nothing is recorded, and entries serve for `FRESH_FOR` as before.

use std::sync::Arc;
use std::time::Duration;

use crate::auth::session_cache::SessionCache;
use crate::db::changes::{self, Changed};
use crate::db::{self, Pool};
use crate::error::AppError;

/// How often an instance reads the announcements: well within `FRESH_FOR`, so that a read that
/// began less than `FRESH_FOR` ago is there nearly always.
pub const WATCH_EVERY: Duration = Duration::from_millis(250);

/// Announcements read at most at once; more than this retire everything instead.
const MOST_AT_ONCE: i64 = 500;

/// Announcements are kept this long (every instance reads them within a second; one that was
/// cut off longer retires everything when it finds the gap).
const KEPT_FOR: chrono::TimeDelta = chrono::TimeDelta::hours(1);

/// Reads between two prunings of old announcements (10 minutes).
const PRUNE_EVERY: u64 = 2_400;

/// One instance's watch: its pool and session cache, and the last announcement applied.
pub struct ChangeWatch {
    pool: Pool,
    sessions: Arc<SessionCache>,
    /// The number of the last announcement applied; `None` before the first read.
    seen: Option<i64>,
}

impl ChangeWatch {
    pub fn new(pool: Pool, sessions: Arc<SessionCache>) -> Self {
        Self {
            pool,
            sessions,
            seen: None,
        }
    }

    /// Reads the announcements made since the last one applied and applies them.
    pub async fn look(&mut self) -> Result<(), AppError> {
        let began = self.pool.clock().now();
        let seen = self.seen;
        let (latest, announced) = db::run(&self.pool, move |conn| match seen {
            None => Ok((changes::latest(conn)?, Vec::new())),
            Some(seen) => {
                let announced = changes::since(conn, seen, MOST_AT_ONCE)?;
                let latest = announced.last().map_or(seen, |(epoch, _)| *epoch);
                Ok((latest, announced))
            }
        })
        .await?;
        let cut_off = match seen {
            // what was cached before the first read may predate changes it will never see
            None => true,
            // pruned past this instance (it could not read for an hour), or more than a read
            // takes: everything may have changed
            Some(seen) => {
                announced
                    .first()
                    .is_some_and(|(first, _)| *first != seen + 1)
                    || announced.len() as i64 == MOST_AT_ONCE
            }
        };
        if cut_off || announced.iter().any(|(_, c)| *c == Changed::Anything) {
            self.pool.retire_cached();
        } else {
            for (_, changed) in &announced {
                if let Changed::Session(token_hash) = changed {
                    self.sessions.forget(token_hash);
                }
            }
        }
        self.seen = Some(latest);
        self.pool.changes_seen_from(began);
        Ok(())
    }

    /// Looks every [`WATCH_EVERY`] for as long as the instance runs, and prunes old
    /// announcements now and then.
    pub async fn run(mut self) {
        let mut tick = tokio::time::interval(WATCH_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing = false;
        for n in 0_u64.. {
            tick.tick().await;
            match self.look().await {
                Ok(()) if failing => {
                    failing = false;
                    tracing::info!("announced changes are read again");
                }
                Ok(()) => {}
                Err(err) if !failing => {
                    failing = true;
                    tracing::warn!(
                        error = %err.chain(),
                        "cannot read announced changes: cached sessions serve for a second at most"
                    );
                }
                Err(_) => {}
            }
            if n % PRUNE_EVERY == PRUNE_EVERY / 2 {
                let before = self.pool.clock().now() - KEPT_FOR;
                if let Err(err) =
                    db::run_write(&self.pool, move |conn| changes::prune(conn, before)).await
                {
                    tracing::warn!(error = %err.chain(), "cannot prune announced changes yet");
                }
            }
        }
    }
}
