//! The audit log: every change and its record commit together, and records are chained per
//! company (each holds the SHA-256 of the previous one) so edits and deletions are detectable.

use crate::core::ids::{CompanyId, UserId};
use crate::core::text::count;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use sha2::{Digest, Sha256};

use crate::core::text::typed;
use crate::db::schema::audit_events;
use crate::db::{DbConnection, search};
use crate::domain::{Actor, now};
use crate::error::AppError;

/// The hash that stands before a company's first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

pub struct Entry<'a> {
    pub company_id: CompanyId,
    pub actor: &'a Actor,
    /// `area.verb`, e.g. `user.deactivate`.
    pub action: &'static str,
    pub target_type: &'static str,
    pub target_id: Option<i64>,
    pub target_label: &'a str,
    /// What changed, in words. Never an email, phone number, password or token.
    pub summary: String,
}

impl<'a> Entry<'a> {
    /// A record of `action` by `actor` in the company; name what it acted on with `on` or
    /// `about`, then `write` it with its summary.
    pub fn new(company_id: CompanyId, actor: &'a Actor, action: &'static str) -> Self {
        Self {
            company_id,
            actor,
            action,
            target_type: "company",
            target_id: None,
            target_label: "",
            summary: String::new(),
        }
    }

    /// The row it acted on: its kind (`user`, `channel`, …), id and a label people know it by.
    pub fn on(self, kind: &'static str, id: impl Into<i64>, label: &'a str) -> Self {
        Self {
            target_type: kind,
            target_id: Some(id.into()),
            target_label: label,
            ..self
        }
    }

    /// What it acted on when that has no row (a route, an export).
    pub fn about(self, kind: &'static str, label: &'a str) -> Self {
        Self {
            target_type: kind,
            target_id: None,
            target_label: label,
            ..self
        }
    }

    /// What changed, in words. Never an email, phone number, password or token.
    pub fn saying(self, summary: impl Into<String>) -> Self {
        Self {
            summary: summary.into(),
            ..self
        }
    }

    /// Appends the record, in the caller's transaction.
    pub fn write(self, conn: &mut DbConnection) -> Result<(), AppError> {
        record(conn, self)
    }
}

/// Refusals of one subject and kind are counted per window of this many minutes.
pub const REFUSAL_WINDOW_MINUTES: u32 = 10;

/// A refusal to record: the first of its subject, kind and window is an activity record at
/// once; the rest are counted and summarised in one record when the window closes, so a
/// client looping on a forbidden page (or a link planted on another site) cannot flood the
/// company's chain.
pub struct Refused<'a> {
    pub company_id: CompanyId,
    pub actor: &'a Actor,
    /// `access.denied`, `login.throttled`.
    pub kind: &'static str,
    /// Who was refused: `user:<id>` or `address:<ip>`.
    pub subject: String,
    /// How the summary names the subject.
    pub label: &'a str,
    /// The first record's target and words.
    pub target_type: &'static str,
    pub target_label: &'a str,
    pub summary: String,
}

fn window_start(at: NaiveDateTime) -> NaiveDateTime {
    use chrono::Timelike;
    let minute = at.minute() / REFUSAL_WINDOW_MINUTES * REFUSAL_WINDOW_MINUTES;
    at.date().and_hms_opt(at.hour(), minute, 0).unwrap_or(at)
}

/// Counts a refusal, in the caller's write transaction; writes the record when it is the
/// first of its window.
pub fn count_refusal(conn: &mut DbConnection, refused: Refused<'_>) -> Result<(), AppError> {
    use crate::db::schema::refusal_windows as w;
    let row = (
        w::company_id.eq(refused.company_id),
        w::subject.eq(&refused.subject),
        w::label.eq(refused.label),
        w::kind.eq(refused.kind),
        w::window_start.eq(window_start(now())),
        w::refusals.eq(1_i64),
    );
    let insert = diesel::insert_into(w::table).values(row);
    let key = (w::company_id, w::subject, w::kind, w::window_start);
    // ON CONFLICT is per dialect in diesel; both dialects speak it.
    macro_rules! count_in {
        ($c:expr) => {
            insert
                .on_conflict(key)
                .do_update()
                .set(w::refusals.eq(w::refusals + 1))
                .returning(w::refusals)
                .get_result($c)?
        };
    }
    let refusals: i64 = match conn {
        DbConnection::Sqlite(c) => count_in!(c),
        DbConnection::Postgres(c) => count_in!(c),
    };
    if refusals == 1 {
        Entry::new(refused.company_id, refused.actor, refused.kind)
            .about(refused.target_type, refused.target_label)
            .saying(refused.summary)
            .write(conn)?;
    }
    Ok(())
}

/// Records a refused request (`METHOD /path`) in its own transaction: the refused change rolled
/// back, its record must not.
pub fn refusal(
    conn: &mut DbConnection,
    company_id: CompanyId,
    actor: &Actor,
    attempted: &str,
) -> Result<(), AppError> {
    refused_route(conn, company_id, actor, attempted, "access.denied", "")
}

/// A signed-in person's change refused because its form token did not match (a page from an
/// earlier session, or a form posted from another site), counted like `refusal`.
pub fn csrf_refusal(
    conn: &mut DbConnection,
    company_id: CompanyId,
    actor: &Actor,
    attempted: &str,
) -> Result<(), AppError> {
    let why = ": its form token did not match (a page from an earlier session, or another site)";
    refused_route(conn, company_id, actor, attempted, "csrf.rejected", why)
}

fn refused_route(
    conn: &mut DbConnection,
    company_id: CompanyId,
    actor: &Actor,
    attempted: &str,
    kind: &'static str,
    why: &str,
) -> Result<(), AppError> {
    // a refusal count touches nothing a cache holds and shows on no live page: anyone signed
    // in can send refused requests, and they must not make every open page read again
    crate::db::write_transaction_seen_when(
        conn,
        |conn| {
            count_refusal(
                conn,
                Refused {
                    company_id,
                    actor,
                    kind,
                    subject: format!("user:{}", actor.user_id.map_or(0, i64::from)),
                    label: &actor.username,
                    target_type: "route",
                    target_label: attempted,
                    summary: format!("{} was refused {attempted}{why}", actor.username),
                },
            )
        },
        |_| false,
    )
}

/// Writes one summary record for every closed window that counted more than its first
/// refusal; returns how many. Safe to run on every instance at once: a window is claimed by
/// the transaction that marks it summarised.
pub fn summarize_refusals(conn: &mut DbConnection, at: NaiveDateTime) -> Result<usize, AppError> {
    use crate::db::schema::refusal_windows as w;
    let closed_before = window_start(at);
    // windows that saw one refusal were recorded in full already: close them in one statement,
    // so the task never scans them again
    diesel::update(
        w::table
            .filter(w::summarized.eq(false))
            .filter(w::window_start.lt(closed_before))
            .filter(w::refusals.le(1)),
    )
    .set(w::summarized.eq(true))
    .execute(conn)?;
    let due: Vec<(i64, CompanyId, String, String, NaiveDateTime, i64)> = w::table
        .filter(w::summarized.eq(false))
        .filter(w::window_start.lt(closed_before))
        .select((
            w::id,
            w::company_id,
            w::label,
            w::kind,
            w::window_start,
            w::refusals,
        ))
        .load(conn)?;
    let actor = Actor::background();
    let mut written = 0;
    for (id, company_id, label, kind, start, refusals) in due {
        written += crate::db::write_transaction(conn, |conn| {
            // claimed by the instance whose update finds it still open
            let claimed = diesel::update(w::table.find(id).filter(w::summarized.eq(false)))
                .set(w::summarized.eq(true))
                .execute(conn)?;
            if claimed == 0 {
                return Ok(0);
            }
            Entry::new(company_id, &actor, "refusals.summary")
                .about("refusals", &label)
                .saying(format!(
                    "{} of {label} in the {REFUSAL_WINDOW_MINUTES} minutes from {}",
                    count(
                        refusals - 1,
                        &format!("more {kind} refusal"),
                        &format!("more {kind} refusals")
                    ),
                    start.format("%Y-%m-%d %H:%M UTC")
                ))
                .write(conn)?;
            Ok(1)
        })?;
    }
    Ok(written)
}

/// Text from users goes into records as one line: control characters (a newline that would
/// forge a second log line, say) are escaped.
fn one_line(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .take(1000)
        .collect()
}

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = audit_events)]
pub struct Record {
    pub id: i64,
    pub company_id: CompanyId,
    pub seq: i64,
    pub actor_id: Option<UserId>,
    pub actor_username: String,
    pub action: String,
    pub target_type: String,
    pub target_id: Option<i64>,
    pub target_label: String,
    pub summary: String,
    pub ip: String,
    pub created_at: NaiveDateTime,
    pub prev_hash: String,
    pub hash: String,
}

impl Record {
    /// The hash of this record's content and its predecessor's hash.
    pub fn compute_hash(&self) -> String {
        let content = serde_json::json!([
            self.company_id,
            self.seq,
            self.actor_id,
            self.actor_username,
            self.action,
            self.target_type,
            self.target_id,
            self.target_label,
            self.summary,
            self.ip,
            self.created_at.format("%Y-%m-%dT%H:%M:%S%.6f").to_string(),
            self.prev_hash,
        ]);
        hex::encode(Sha256::digest(content.to_string().as_bytes()))
    }
}

/// Appends a record to the company's chain. Call inside the transaction of the change.
pub fn record(conn: &mut DbConnection, entry: Entry<'_>) -> Result<(), AppError> {
    metrics::counter!("switchboard_audit_appends_total").increment(1);
    // Serialize appenders per company so the chain cannot fork. SQLite's IMMEDIATE write
    // transactions already serialize; PostgreSQL takes a transaction-scoped advisory lock.
    if let DbConnection::Postgres(pg) = conn {
        diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
            .bind::<diesel::sql_types::BigInt, _>(entry.company_id)
            .execute(pg)?;
    }
    let head: Option<(i64, String)> = audit_events::table
        .filter(audit_events::company_id.eq(entry.company_id))
        .order(audit_events::seq.desc())
        .select((audit_events::seq, audit_events::hash))
        .first(conn)
        .optional()?;
    let (prev_seq, prev_hash) = head.unwrap_or((0, GENESIS.to_string()));
    let mut record = Record {
        id: 0,
        company_id: entry.company_id,
        seq: prev_seq + 1,
        actor_id: entry.actor.user_id,
        actor_username: one_line(&entry.actor.username),
        action: entry.action.to_string(),
        target_type: entry.target_type.to_string(),
        target_id: entry.target_id,
        target_label: one_line(entry.target_label),
        summary: one_line(&entry.summary),
        ip: one_line(&entry.actor.ip),
        created_at: now(),
        prev_hash,
        hash: String::new(),
    };
    record.hash = record.compute_hash();
    diesel::insert_into(audit_events::table)
        .values((
            audit_events::company_id.eq(record.company_id),
            audit_events::seq.eq(record.seq),
            audit_events::actor_id.eq(record.actor_id),
            audit_events::actor_username.eq(&record.actor_username),
            audit_events::action.eq(&record.action),
            audit_events::target_type.eq(&record.target_type),
            audit_events::target_id.eq(record.target_id),
            audit_events::target_label.eq(&record.target_label),
            audit_events::summary.eq(&record.summary),
            audit_events::ip.eq(&record.ip),
            audit_events::created_at.eq(record.created_at),
            audit_events::prev_hash.eq(&record.prev_hash),
            audit_events::hash.eq(&record.hash),
        ))
        .execute(conn)?;
    Ok(())
}

/// What `switchboard audit verify` reports for one company.
#[derive(Debug, PartialEq, Eq)]
pub enum Verification {
    Intact {
        records: i64,
        head: String,
    },
    /// The first record whose content, link or position does not fit the chain.
    Broken {
        seq: i64,
        id: Option<i64>,
        reason: String,
    },
}

/// Recomputes a company's chain from the first record, in pages.
pub fn verify(conn: &mut DbConnection, company_id: CompanyId) -> Result<Verification, AppError> {
    let mut expected_prev = GENESIS.to_string();
    let mut expected_seq = 1;
    loop {
        let page: Vec<Record> = audit_events::table
            .filter(audit_events::company_id.eq(company_id))
            .filter(audit_events::seq.ge(expected_seq))
            .order(audit_events::seq)
            .limit(1000)
            .select(Record::as_select())
            .load(conn)?;
        if page.is_empty() {
            return Ok(Verification::Intact {
                records: expected_seq - 1,
                head: expected_prev,
            });
        }
        for record in page {
            if record.seq != expected_seq {
                return Ok(Verification::Broken {
                    seq: expected_seq,
                    id: None,
                    reason: format!("record {expected_seq} is missing"),
                });
            }
            if record.prev_hash != expected_prev {
                return Ok(Verification::Broken {
                    seq: record.seq,
                    id: Some(record.id),
                    reason: "its link to the previous record does not match".into(),
                });
            }
            if record.compute_hash() != record.hash {
                return Ok(Verification::Broken {
                    seq: record.seq,
                    id: Some(record.id),
                    reason: "its content was altered".into(),
                });
            }
            expected_prev = record.hash;
            expected_seq += 1;
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct ActivityFilter {
    /// Username of who acted.
    pub actor: Option<String>,
    /// An action (`user.deactivate`) or an area (`user.`).
    pub action: Option<String>,
    pub from: Option<NaiveDateTime>,
    pub to: Option<NaiveDateTime>,
    /// Keyset cursor: rows strictly older than this (created_at, id).
    pub before: Option<(NaiveDateTime, i64)>,
}

pub const PAGE_SIZE: i64 = 100;

/// The company's activity, newest first, `limit` records at a time (keyset on the indexed
/// (company, created_at, id), so a date range starts where it is instead of scanning to it).
pub fn page(
    conn: &mut DbConnection,
    company_id: CompanyId,
    filter: &ActivityFilter,
    limit: i64,
) -> Result<Vec<Record>, AppError> {
    Ok(page_query(company_id, filter, limit).load(conn)?)
}

/// How the database runs a page of the activity log, for benchmarks and the index test.
pub fn explain_page(
    conn: &mut DbConnection,
    company_id: CompanyId,
    filter: &ActivityFilter,
) -> Result<String, AppError> {
    Ok(crate::db::explain::explain(
        conn,
        page_query(
            company_id,
            filter,
            crate::core::cursor::rows_to_read(PAGE_SIZE),
        ),
    )?)
}

type PageQuery = audit_events::BoxedQuery<
    'static,
    crate::db::MultiBackend,
    diesel::dsl::SqlTypeOf<diesel::dsl::AsSelect<Record, crate::db::MultiBackend>>,
>;

fn page_query(company_id: CompanyId, filter: &ActivityFilter, limit: i64) -> PageQuery {
    let mut query = audit_events::table
        .filter(audit_events::company_id.eq(company_id))
        .order((audit_events::created_at.desc(), audit_events::id.desc()))
        .limit(limit)
        .select(Record::as_select())
        .into_boxed();
    if let Some(actor) = typed(filter.actor.as_deref()) {
        let prefix = search::starting_with(actor);
        query = query.filter(audit_events::actor_username.like(prefix).escape('\\'));
    }
    if let Some(action) = typed(filter.action.as_deref()) {
        let action = search::escape(&action.to_lowercase());
        // an area (`user.`) by its start; anything else anywhere in the code, so
        // "deactivate" finds user.deactivate
        let pattern = if action.ends_with('.') {
            format!("{action}%")
        } else {
            format!("%{action}%")
        };
        query = query.filter(audit_events::action.like(pattern).escape('\\'));
    }
    if let Some(from) = filter.from {
        query = query.filter(audit_events::created_at.ge(from));
    }
    if let Some(to) = filter.to {
        query = query.filter(audit_events::created_at.lt(to));
    }
    if let Some((at, id)) = filter.before {
        // `<= at` bounds the index range; the rest drops the rows of `at` not older than `id`
        query = query
            .filter(audit_events::created_at.le(at))
            .filter(audit_events::created_at.lt(at).or(audit_events::id.lt(id)));
    }
    query
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::core::clock::on_test_day as at;

    #[test]
    fn an_entry_names_what_it_acted_on_and_says_what_changed() {
        let actor = Actor {
            user_id: Some(UserId(2)),
            username: "sofia".into(),
            ip: "127.0.0.1".into(),
        };
        let plain = Entry::new(CompanyId(1), &actor, "company.update");
        assert_eq!(
            (plain.target_type, plain.target_id, plain.target_label),
            ("company", None, "")
        );
        assert_eq!(plain.summary, "");
        let on_a_row = Entry::new(CompanyId(1), &actor, "user.deactivate")
            .on("user", UserId(5), "bob")
            .saying("bob deactivated");
        assert_eq!(
            (
                on_a_row.target_type,
                on_a_row.target_id,
                on_a_row.target_label
            ),
            ("user", Some(5), "bob")
        );
        assert_eq!(on_a_row.summary, "bob deactivated");
        assert_eq!(
            (on_a_row.company_id, on_a_row.action),
            (CompanyId(1), "user.deactivate")
        );
        // `about` names something without a row, and forgets a row named before
        let about = Entry::new(CompanyId(1), &actor, "export.create")
            .on("user", UserId(5), "bob")
            .about("export", "logins.csv");
        assert_eq!(
            (about.target_type, about.target_id, about.target_label),
            ("export", None, "logins.csv")
        );
    }

    #[test]
    fn refusals_are_counted_in_windows_of_ten_minutes() {
        assert_eq!(window_start(at(10, 0, 0)), at(10, 0, 0));
        assert_eq!(window_start(at(10, 9, 59)), at(10, 0, 0));
        assert_eq!(window_start(at(10, 10, 0)), at(10, 10, 0));
        assert_eq!(window_start(at(10, 17, 45)), at(10, 10, 0));
        assert_eq!(window_start(at(23, 59, 59)), at(23, 50, 0));
    }

    #[test]
    fn text_goes_into_a_record_as_one_line() {
        assert_eq!(one_line("plain Ünïcode text"), "plain Ünïcode text");
        // a newline would forge a second line in a log: escaped, as are other controls
        assert_eq!(one_line("a\nforged line"), "a\\nforged line");
        assert_eq!(one_line("tab\there\r\u{0}"), "tab\\there\\r\\u{0}");
        // at most 1,000 characters (not bytes) are kept
        assert_eq!(one_line(&"é".repeat(1200)), "é".repeat(1000));
    }

    #[test]
    fn every_field_of_a_record_is_in_its_hash() {
        let record = Record {
            id: 7,
            company_id: CompanyId(1),
            seq: 3,
            actor_id: Some(UserId(2)),
            actor_username: "sofia".into(),
            action: "user.deactivate".into(),
            target_type: "user".into(),
            target_id: Some(5),
            target_label: "bob".into(),
            summary: "bob deactivated".into(),
            ip: "127.0.0.1".into(),
            created_at: at(10, 0, 0),
            prev_hash: GENESIS.into(),
            hash: String::new(),
        };
        let hash = record.compute_hash();
        assert_eq!(hash.len(), 64);
        assert!(hash.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(
            record.compute_hash(),
            hash,
            "the same record, the same hash"
        );
        // the row id and the stored hash are not content; every other field is
        let same = [
            Record {
                id: 8,
                ..record.clone()
            },
            Record {
                hash: "x".into(),
                ..record.clone()
            },
        ];
        for other in same {
            assert_eq!(other.compute_hash(), hash);
        }
        let altered = [
            Record {
                company_id: CompanyId(9),
                ..record.clone()
            },
            Record {
                seq: 4,
                ..record.clone()
            },
            Record {
                actor_id: None,
                ..record.clone()
            },
            Record {
                actor_username: "alice".into(),
                ..record.clone()
            },
            Record {
                action: "user.reactivate".into(),
                ..record.clone()
            },
            Record {
                target_type: "role".into(),
                ..record.clone()
            },
            Record {
                target_id: Some(6),
                ..record.clone()
            },
            Record {
                target_label: "bobby".into(),
                ..record.clone()
            },
            Record {
                summary: "bob reactivated".into(),
                ..record.clone()
            },
            Record {
                ip: "10.0.0.1".into(),
                ..record.clone()
            },
            Record {
                created_at: at(10, 0, 1),
                ..record.clone()
            },
            Record {
                prev_hash: "1".repeat(64),
                ..record.clone()
            },
        ];
        for other in altered {
            assert_ne!(other.compute_hash(), hash, "{other:?}");
        }
        // microseconds count too: an edited time a second's fraction off does not verify
        let fraction = record.created_at + chrono::Duration::microseconds(1);
        assert_ne!(
            Record {
                created_at: fraction,
                ..record
            }
            .compute_hash(),
            hash
        );
    }
}
