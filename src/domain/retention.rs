//! Retention (GDPR / KVKK), `privacy.manage`: how long a company keeps message text, sign-in
//! records and ended sessions, and the purge that applies it. Message text is emptied rather
//! than deleted, so conversations, counts and reports keep working; sign-in records and ended
//! sessions are deleted. The activity log is never purged: it names contacts by id only and
//! its hash chain must keep verifying. Messages of a conversation under a legal-hold label are
//! kept until the hold is lifted.

use std::collections::HashSet;

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use crate::core::ids::{CompanyId, ConversationId, MessageId};
use crate::db::schema::{
    audit_events, companies, conversation_labels, labels, login_events, messages, sessions,
};
use crate::db::{DbConnection, write_transaction};
use crate::domain::{Caller, audit, privacy};
use crate::error::{AppError, FieldErrors};

/// What a purged message's text becomes.
pub const REMOVED: &str = "[removed: retention]";
/// Rows per transaction: small enough that the panel's writes wait a few milliseconds at most.
const BATCH: i64 = 500;
/// The longest retention a form accepts (100 years).
const MAX_DAYS: i32 = 36_500;

/// A company's retention, in days; `None` keeps for ever.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Retention {
    pub messages_days: Option<i32>,
    pub logins_days: Option<i32>,
    pub sessions_days: Option<i32>,
}

impl Retention {
    fn describe(days: Option<i32>) -> String {
        match days {
            Some(days) => format!("{days} days"),
            None => "for ever".into(),
        }
    }

    /// "messages 365 days, sign-in records 180 days, ended sessions for ever".
    pub fn summary(&self) -> String {
        format!(
            "messages {}, sign-in records {}, ended sessions {}",
            Self::describe(self.messages_days),
            Self::describe(self.logins_days),
            Self::describe(self.sessions_days)
        )
    }
}

/// The retention form as submitted: each field empty (keep for ever) or a number of days.
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct RetentionForm {
    pub messages_days: String,
    pub logins_days: String,
    pub sessions_days: String,
}

impl RetentionForm {
    pub fn of(retention: &Retention) -> Self {
        let show = |days: Option<i32>| days.map(|d| d.to_string()).unwrap_or_default();
        Self {
            messages_days: show(retention.messages_days),
            logins_days: show(retention.logins_days),
            sessions_days: show(retention.sessions_days),
        }
    }

    fn parse(&self) -> Result<Retention, AppError> {
        let mut errors = FieldErrors::default();
        let mut days = |field: &'static str, value: &str| -> Option<i32> {
            let value = value.trim();
            if value.is_empty() {
                return None;
            }
            match value.parse::<i32>() {
                Ok(days) if (1..=MAX_DAYS).contains(&days) => Some(days),
                _ => {
                    errors.add(
                        field,
                        format!("A whole number of days from 1 to {MAX_DAYS}, or empty to keep for ever."),
                    );
                    None
                }
            }
        };
        let retention = Retention {
            messages_days: days("messages_days", &self.messages_days),
            logins_days: days("logins_days", &self.logins_days),
            sessions_days: days("sessions_days", &self.sessions_days),
        };
        errors.into_result()?;
        Ok(retention)
    }
}

pub fn of_company(conn: &mut DbConnection, company_id: CompanyId) -> Result<Retention, AppError> {
    let (messages_days, logins_days, sessions_days) = companies::table
        .find(company_id)
        .select((
            companies::retention_messages_days,
            companies::retention_logins_days,
            companies::retention_sessions_days,
        ))
        .first(conn)?;
    Ok(Retention {
        messages_days,
        logins_days,
        sessions_days,
    })
}

/// Saves the company's retention (422 on a field that is not a number of days in range).
/// Recorded with what it was and what it is. The next purge applies it.
pub fn update(conn: &mut DbConnection, me: &Caller, form: &RetentionForm) -> Result<(), AppError> {
    let after = form.parse()?;
    let before = of_company(conn, me.company_id)?;
    if before == after {
        return Ok(());
    }
    diesel::update(companies::table.find(me.company_id))
        .set((
            companies::retention_messages_days.eq(after.messages_days),
            companies::retention_logins_days.eq(after.logins_days),
            companies::retention_sessions_days.eq(after.sessions_days),
        ))
        .execute(conn)?;
    audit::Entry::new(me.company_id, &me.actor, "privacy.retention")
        .about("company", "retention")
        .saying(format!(
            "retention changed from {} to {}",
            before.summary(),
            after.summary()
        ))
        .write(conn)
}

/// The last purge that removed something, as recorded: when and what.
pub fn last_purge(
    conn: &mut DbConnection,
    company_id: CompanyId,
) -> Result<Option<(NaiveDateTime, String)>, AppError> {
    Ok(audit_events::table
        .filter(audit_events::company_id.eq(company_id))
        .filter(audit_events::action.eq("retention.purge"))
        .order(audit_events::seq.desc())
        .select((audit_events::created_at, audit_events::summary))
        .first(conn)
        .optional()?)
}

/// What one purge removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Purged {
    /// Messages whose text was emptied.
    pub messages: usize,
    /// Messages older than the retention kept because a legal-hold label holds them.
    pub held: usize,
    pub logins: usize,
    pub sessions: usize,
}

impl Purged {
    fn removed_anything(&self) -> bool {
        self.messages + self.logins + self.sessions > 0
    }
}

/// Applies every company's retention as of `at` (the hourly job). Call it outside a
/// transaction: each batch commits on its own, so the panel is never locked for long.
pub fn purge_all(conn: &mut DbConnection, at: NaiveDateTime) -> Result<Purged, AppError> {
    let keeping: Vec<CompanyId> = companies::table
        .filter(
            companies::retention_messages_days
                .is_not_null()
                .or(companies::retention_logins_days.is_not_null())
                .or(companies::retention_sessions_days.is_not_null()),
        )
        .select(companies::id)
        .load(conn)?;
    let mut total = Purged::default();
    for company_id in keeping {
        let purged = purge(conn, company_id, at)?;
        total.messages += purged.messages;
        total.held += purged.held;
        total.logins += purged.logins;
        total.sessions += purged.sessions;
    }
    Ok(total)
}

/// Applies one company's retention as of `at`, in batches, and records what it removed (as
/// the system; nothing is recorded when nothing was removed). Outside a transaction.
pub fn purge(
    conn: &mut DbConnection,
    company_id: CompanyId,
    at: NaiveDateTime,
) -> Result<Purged, AppError> {
    let retention = of_company(conn, company_id)?;
    let cutoff = |days: i32| at - Duration::days(i64::from(days));
    let mut purged = Purged::default();
    if let Some(days) = retention.messages_days {
        (purged.messages, purged.held) = purge_messages(conn, company_id, cutoff(days))?;
    }
    if let Some(days) = retention.logins_days {
        purged.logins = purge_logins(conn, company_id, cutoff(days))?;
    }
    if let Some(days) = retention.sessions_days {
        purged.sessions = purge_sessions(conn, company_id, cutoff(days))?;
    }
    if purged.removed_anything() {
        let system = Caller::background(company_id);
        write_transaction(conn, |conn| {
            audit::Entry::new(company_id, &system.actor, "retention.purge")
                .about("company", "retention")
                .saying(format!(
                    "retention purge ({}): {} messages emptied, {} sign-in records and {} ended \
                     sessions deleted; {} messages kept under legal hold",
                    retention.summary(),
                    purged.messages,
                    purged.logins,
                    purged.sessions,
                    purged.held
                ))
                .write(conn)
        })?;
    }
    Ok(purged)
}

/// Empties the text of the company's messages created before `cutoff`, oldest first, a batch
/// per transaction. Starts where the previous purge stopped (`messages_purged_before`), and
/// leaves that mark at the oldest message kept under legal hold, so a lifted hold is purged
/// next time. Returns (emptied, held).
fn purge_messages(
    conn: &mut DbConnection,
    company_id: CompanyId,
    cutoff: NaiveDateTime,
) -> Result<(usize, usize), AppError> {
    let purged_before: Option<NaiveDateTime> = companies::table
        .find(company_id)
        .select(companies::messages_purged_before)
        .first(conn)?;
    if purged_before.is_some_and(|done| done >= cutoff) {
        return Ok((0, 0));
    }
    let (mut emptied, mut held) = (0, 0);
    let mut oldest_held: Option<NaiveDateTime> = None;
    let mut after: Option<(NaiveDateTime, MessageId)> = None;
    loop {
        let mut query = messages::table
            .filter(messages::company_id.eq(company_id))
            .filter(messages::created_at.lt(cutoff))
            .order((messages::created_at, messages::id))
            .select((
                messages::id,
                messages::conversation_id,
                messages::created_at,
            ))
            .limit(BATCH)
            .into_boxed();
        if let Some(from) = purged_before {
            query = query.filter(messages::created_at.ge(from));
        }
        if let Some((at, id)) = after {
            query = query.filter(
                messages::created_at
                    .gt(at)
                    .or(messages::created_at.eq(at).and(messages::id.gt(id))),
            );
        }
        let batch: Vec<(MessageId, ConversationId, NaiveDateTime)> = query.load(conn)?;
        let Some(last) = batch.last() else {
            break;
        };
        after = Some((last.2, last.0));
        let conversation_ids: Vec<ConversationId> = batch.iter().map(|m| m.1).collect();
        let on_hold: HashSet<ConversationId> = conversation_labels::table
            .inner_join(labels::table.on(labels::id.nullable().eq(conversation_labels::label_id)))
            .filter(conversation_labels::conversation_id.eq_any(&conversation_ids))
            .filter(labels::legal_hold.eq(true))
            .select(conversation_labels::conversation_id)
            .load::<ConversationId>(conn)?
            .into_iter()
            .collect();
        let mut to_empty = Vec::with_capacity(batch.len());
        for (id, conversation_id, created_at) in &batch {
            if on_hold.contains(conversation_id) {
                held += 1;
                oldest_held = Some(oldest_held.map_or(*created_at, |t| t.min(*created_at)));
            } else {
                to_empty.push(*id);
            }
        }
        emptied += write_transaction(conn, |conn| {
            Ok(diesel::update(
                messages::table
                    .filter(messages::id.eq_any(&to_empty))
                    .filter(messages::body.ne_all([REMOVED, privacy::ERASED])),
            )
            .set((
                messages::body.eq(REMOVED),
                messages::body_masked.eq(Some(REMOVED)),
            ))
            .execute(conn)?)
        })?;
    }
    let mark = oldest_held.map_or(cutoff, |held| held.min(cutoff));
    diesel::update(companies::table.find(company_id))
        .set(companies::messages_purged_before.eq(Some(mark)))
        .execute(conn)?;
    Ok((emptied, held))
}

/// Deletes, a batch per transaction, the rows whose ids `batch` finds (at most `BATCH` of
/// them) until it finds none. Returns how many were deleted.
fn delete_in_batches(
    conn: &mut DbConnection,
    mut batch: impl FnMut(&mut DbConnection) -> Result<Vec<i64>, AppError>,
    delete: impl Fn(&mut DbConnection, &[i64]) -> Result<usize, AppError>,
) -> Result<usize, AppError> {
    let mut deleted = 0;
    loop {
        let ids = batch(conn)?;
        if ids.is_empty() {
            return Ok(deleted);
        }
        deleted += write_transaction(conn, |conn| delete(conn, &ids))?;
    }
}

/// Deletes the company's sign-in records created before `cutoff`.
fn purge_logins(
    conn: &mut DbConnection,
    company_id: CompanyId,
    cutoff: NaiveDateTime,
) -> Result<usize, AppError> {
    delete_in_batches(
        conn,
        |conn| {
            Ok(login_events::table
                .filter(login_events::company_id.eq(company_id))
                .filter(login_events::created_at.lt(cutoff))
                .select(login_events::id)
                .limit(BATCH)
                .load(conn)?)
        },
        |conn, ids| {
            Ok(
                diesel::delete(login_events::table.filter(login_events::id.eq_any(ids)))
                    .execute(conn)?,
            )
        },
    )
}

/// Deletes the company's sessions that ended (revoked or expired) before `cutoff`. A live
/// session is never touched, however old.
fn purge_sessions(
    conn: &mut DbConnection,
    company_id: CompanyId,
    cutoff: NaiveDateTime,
) -> Result<usize, AppError> {
    delete_in_batches(
        conn,
        |conn| {
            Ok(sessions::table
                .filter(sessions::company_id.eq(company_id))
                .filter(
                    sessions::revoked_at.lt(cutoff).or(sessions::revoked_at
                        .is_null()
                        .and(sessions::expires_at.lt(cutoff))),
                )
                .select(sessions::id)
                .limit(BATCH)
                .load(conn)?)
        },
        |conn, ids| {
            Ok(diesel::delete(sessions::table.filter(sessions::id.eq_any(ids))).execute(conn)?)
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(messages: &str, logins: &str, sessions: &str) -> RetentionForm {
        RetentionForm {
            messages_days: messages.into(),
            logins_days: logins.into(),
            sessions_days: sessions.into(),
        }
    }

    fn field_errors(outcome: Result<Retention, AppError>) -> FieldErrors {
        match outcome {
            Err(AppError::Fields(errors)) => errors,
            other => panic!("expected field errors, got {other:?}"),
        }
    }

    #[test]
    fn a_retention_reads_from_its_form_and_back() {
        let retention = form(" 365 ", "", "1").parse().expect("a valid form");
        assert_eq!(
            retention,
            Retention {
                messages_days: Some(365),
                logins_days: None,
                sessions_days: Some(1),
            }
        );
        let shown = RetentionForm::of(&retention);
        assert_eq!(
            (
                shown.messages_days.as_str(),
                shown.logins_days.as_str(),
                shown.sessions_days.as_str()
            ),
            ("365", "", "1")
        );
        assert_eq!(
            shown.parse().expect("what the page shows parses"),
            retention
        );
        // the longest retention is accepted, one day more is not
        let longest = MAX_DAYS.to_string();
        assert_eq!(
            form(&longest, "", "").parse().expect("valid").messages_days,
            Some(MAX_DAYS)
        );
    }

    #[test]
    fn days_outside_one_to_a_hundred_years_are_refused_per_field() {
        let too_long = (MAX_DAYS + 1).to_string();
        let errors = field_errors(form("0", &too_long, "-3").parse());
        for field in ["messages_days", "logins_days", "sessions_days"] {
            assert!(
                errors.get(field).is_some_and(|m| m.contains("1 to 36500")),
                "{field}: {errors:?}"
            );
        }
        let errors = field_errors(form("12.5", "", "a year").parse());
        assert!(errors.get("messages_days").is_some());
        assert!(errors.get("logins_days").is_none());
        assert!(errors.get("sessions_days").is_some());
    }

    #[test]
    fn the_summary_names_each_kind_and_for_ever() {
        let retention = Retention {
            messages_days: Some(365),
            logins_days: Some(180),
            sessions_days: None,
        };
        assert_eq!(
            retention.summary(),
            "messages 365 days, sign-in records 180 days, ended sessions for ever"
        );
    }

    #[test]
    fn a_purge_removed_something_when_any_count_is_not_zero() {
        assert!(!Purged::default().removed_anything());
        // messages kept under legal hold were not removed
        assert!(
            !Purged {
                held: 4,
                ..Purged::default()
            }
            .removed_anything()
        );
        for purged in [
            Purged {
                messages: 1,
                ..Purged::default()
            },
            Purged {
                logins: 1,
                ..Purged::default()
            },
            Purged {
                sessions: 1,
                ..Purged::default()
            },
            Purged {
                messages: 2,
                logins: 3,
                sessions: 4,
                held: 0,
            },
        ] {
            assert!(purged.removed_anything(), "{purged:?}");
        }
    }
}
