//! Announced changes: how one instance learns that another (or the command line) changed what
//! its caches hold, without waiting for their entries to age out.
//!
//! Every counted write transaction (`write_transaction`) announces "anything may have changed"
//! as its last statement, and a change to one session's own state (a flash message, a sign-out)
//! announces that session. Each instance reads the announcements after the last one it saw, a
//! few times a second (`auth::change_watch`), and retires what they name. Numbers come from the
//! one row of `cache_epoch`, which the announcing transaction holds locked until it commits:
//! announcements commit in the order of their numbers, so a reader that sees number n has seen
//! every number below it, and a gap means rows were pruned.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConnection;
use super::schema::{cache_changes, cache_epoch};
use crate::error::AppError;

/// What an announcement says changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Changed {
    /// Anything an instance caches (a user, a role, a company, a channel, a session ended).
    Anything,
    /// One session's own state (its flash messages) or the session itself, by token hash.
    Session(String),
}

/// Announces a change inside the open transaction (its last statement: the counter's row stays
/// locked until the commit). Returns the announcement's number.
pub fn announce(conn: &mut DbConnection, changed: &Changed) -> Result<i64, AppError> {
    let epoch: i64 = diesel::update(cache_epoch::table)
        .set(cache_epoch::value.eq(cache_epoch::value + 1))
        .returning(cache_epoch::value)
        .get_result(conn)?;
    let session = match changed {
        Changed::Anything => None,
        Changed::Session(token_hash) => Some(token_hash.as_str()),
    };
    diesel::insert_into(cache_changes::table)
        .values((
            cache_changes::epoch.eq(epoch),
            cache_changes::session_token_hash.eq(session),
            cache_changes::announced_at.eq(crate::core::clock::now()),
        ))
        .execute(conn)?;
    Ok(epoch)
}

/// The number of the latest announcement (0 before the first).
pub fn latest(conn: &mut DbConnection) -> Result<i64, AppError> {
    Ok(cache_epoch::table
        .select(cache_epoch::value)
        .first(conn)
        .optional()?
        .unwrap_or(0))
}

/// What was announced after number `seen`, oldest first, at most `limit` of them.
pub fn since(
    conn: &mut DbConnection,
    seen: i64,
    limit: i64,
) -> Result<Vec<(i64, Changed)>, AppError> {
    let rows: Vec<(i64, Option<String>)> = cache_changes::table
        .filter(cache_changes::epoch.gt(seen))
        .order(cache_changes::epoch)
        .limit(limit)
        .select((cache_changes::epoch, cache_changes::session_token_hash))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(epoch, session)| (epoch, session.map_or(Changed::Anything, Changed::Session)))
        .collect())
}

/// Deletes announcements made before `before`, always keeping the latest (so that a reader
/// behind it finds a gap rather than nothing). Returns how many went.
pub fn prune(conn: &mut DbConnection, before: NaiveDateTime) -> Result<usize, AppError> {
    let latest = latest(conn)?;
    Ok(diesel::delete(
        cache_changes::table
            .filter(cache_changes::announced_at.lt(before))
            .filter(cache_changes::epoch.lt(latest)),
    )
    .execute(conn)?)
}
