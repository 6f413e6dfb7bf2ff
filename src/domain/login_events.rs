//! Login history: every sign-in attempt with its outcome. Never a password, token or session id.

use crate::core::ids::{CompanyId, UserId};
use diesel::prelude::*;

use crate::db::DbConnection;
use crate::db::schema::login_events;
use crate::domain::now;
use crate::error::AppError;

#[derive(Clone, Copy)]
pub struct Attempt<'a> {
    pub company_id: Option<CompanyId>,
    pub company_code: &'a str,
    pub username: &'a str,
    pub user_id: Option<UserId>,
    pub success: bool,
    /// `ok`, `unknown_company`, `unknown_user`, `bad_password`, `deactivated`, `locked`,
    /// `code_required` (a right password; the two-factor code comes next), `bad_code`.
    pub reason: &'a str,
    pub ip: &'a str,
    pub user_agent: &'a str,
    pub location: Option<&'a str>,
}

fn clip(text: &str, max: usize) -> String {
    text.chars().filter(|c| !c.is_control()).take(max).collect()
}

pub fn record(conn: &mut DbConnection, attempt: &Attempt<'_>) -> Result<(), AppError> {
    insert(conn, attempt).map(|_| ())
}

fn insert(conn: &mut DbConnection, attempt: &Attempt<'_>) -> Result<i64, AppError> {
    // `pending` is a reservation, counted when it is settled
    if attempt.reason != "pending" {
        metrics::counter!("switchboard_sign_ins_total", "outcome" => attempt.reason.to_string())
            .increment(1);
    }
    Ok(diesel::insert_into(login_events::table)
        .values((
            login_events::company_id.eq(attempt.company_id),
            login_events::company_code.eq(clip(attempt.company_code, 64)),
            login_events::username.eq(clip(attempt.username, 64)),
            login_events::user_id.eq(attempt.user_id),
            login_events::success.eq(attempt.success),
            login_events::reason.eq(attempt.reason),
            login_events::ip.eq(clip(attempt.ip, 64)),
            login_events::user_agent.eq(clip(attempt.user_agent, 512)),
            login_events::location.eq(attempt.location.map(|l| clip(l, 120))),
            login_events::created_at.eq(now()),
        ))
        .returning(login_events::id)
        .get_result(conn)?)
}

/// An address's sign-in checks in a window are limited; this takes one of them, or answers
/// `Err(oldest failure)` when none is left. Call inside a write transaction: reservations
/// for one address are serialised (a transaction-scoped advisory lock on PostgreSQL, the write
/// lock on SQLite) and the attempt is stored as a failure with reason `pending` until it is
/// settled, so concurrent attempts count each other and no more than `limit` are checked.
pub fn reserve_check(
    conn: &mut DbConnection,
    attempt: &Attempt<'_>,
    limit: i64,
    since: chrono::NaiveDateTime,
) -> Result<Result<i64, Option<chrono::NaiveDateTime>>, AppError> {
    crate::db::serialize(conn, crate::db::LockSpace::Address, attempt.ip)?;
    let (failures, oldest) = failures_from(conn, attempt.ip, since)?;
    if failures >= limit {
        return Ok(Err(oldest));
    }
    insert(
        conn,
        &Attempt {
            success: false,
            reason: "pending",
            ..*attempt
        },
    )
    .map(Ok)
}

/// Records how a reserved attempt ended.
pub fn settle(conn: &mut DbConnection, id: i64, attempt: &Attempt<'_>) -> Result<(), AppError> {
    metrics::counter!("switchboard_sign_ins_total", "outcome" => attempt.reason.to_string())
        .increment(1);
    diesel::update(login_events::table.find(id))
        .set((
            login_events::company_id.eq(attempt.company_id),
            login_events::user_id.eq(attempt.user_id),
            login_events::success.eq(attempt.success),
            login_events::reason.eq(attempt.reason),
        ))
        .execute(conn)?;
    Ok(())
}

/// Failed sign-ins (throttled ones aside) from one address since `since`: how many, and when
/// the oldest was. Uses the (ip, created_at) index.
pub fn failures_from(
    conn: &mut DbConnection,
    ip: &str,
    since: chrono::NaiveDateTime,
) -> Result<(i64, Option<chrono::NaiveDateTime>), AppError> {
    let rows: Vec<chrono::NaiveDateTime> = login_events::table
        .filter(login_events::ip.eq(ip))
        .filter(login_events::created_at.gt(since))
        .filter(login_events::success.eq(false))
        // a right password waiting for its code is not a failure (its code may be)
        .filter(login_events::reason.ne_all(["throttled", "code_required"]))
        .order(login_events::created_at)
        .select(login_events::created_at)
        .load(conn)?;
    Ok((rows.len() as i64, rows.first().copied()))
}

/// One line of the login history.
#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = login_events)]
pub struct LoginRow {
    pub id: i64,
    pub created_at: chrono::NaiveDateTime,
    pub username: String,
    pub user_id: Option<UserId>,
    pub success: bool,
    pub reason: String,
    pub ip: String,
    pub user_agent: String,
    pub location: Option<String>,
}

#[derive(Clone, Debug, Default)]
pub struct LoginFilter {
    /// Username attempted.
    pub user: Option<String>,
    pub success: Option<bool>,
    pub from: Option<chrono::NaiveDateTime>,
    pub to: Option<chrono::NaiveDateTime>,
    /// Keyset cursor: rows strictly older than this (created_at, id).
    pub before: Option<(chrono::NaiveDateTime, i64)>,
}

pub const PAGE_SIZE: i64 = 100;

/// The company's sign-in attempts, newest first, one page at a time (keyset on the indexed
/// (company, created_at, id), so a date range starts where it is instead of scanning to it).
pub fn page(
    conn: &mut DbConnection,
    company_id: CompanyId,
    filter: &LoginFilter,
    limit: i64,
) -> Result<Vec<LoginRow>, AppError> {
    Ok(page_query(company_id, filter, limit).load(conn)?)
}

/// How the database runs a page of the login history, for benchmarks and the index test.
pub fn explain_page(
    conn: &mut DbConnection,
    company_id: CompanyId,
    filter: &LoginFilter,
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

type PageQuery = login_events::BoxedQuery<
    'static,
    crate::db::MultiBackend,
    diesel::dsl::SqlTypeOf<diesel::dsl::AsSelect<LoginRow, crate::db::MultiBackend>>,
>;

fn page_query(company_id: CompanyId, filter: &LoginFilter, limit: i64) -> PageQuery {
    let mut query = login_events::table
        .filter(login_events::company_id.eq(company_id))
        .order((login_events::created_at.desc(), login_events::id.desc()))
        .limit(limit)
        .select(LoginRow::as_select())
        .into_boxed();
    if let Some(user) = crate::core::text::typed(filter.user.as_deref()) {
        let prefix = crate::db::search::starting_with(user);
        query = query.filter(login_events::username.like(prefix).escape('\\'));
    }
    if let Some(success) = filter.success {
        query = query.filter(login_events::success.eq(success));
    }
    if let Some(from) = filter.from {
        query = query.filter(login_events::created_at.ge(from));
    }
    if let Some(to) = filter.to {
        query = query.filter(login_events::created_at.lt(to));
    }
    if let Some((at, id)) = filter.before {
        // `<= at` bounds the index range; the rest drops the rows of `at` not older than `id`
        query = query
            .filter(login_events::created_at.le(at))
            .filter(login_events::created_at.lt(at).or(login_events::id.lt(id)));
    }
    query
}

/// A user's latest sign-in attempts (for their user page).
pub fn recent_for_user(
    conn: &mut DbConnection,
    company_id: CompanyId,
    user_id: UserId,
    limit: i64,
) -> Result<Vec<LoginRow>, AppError> {
    Ok(login_events::table
        .filter(login_events::company_id.eq(company_id))
        .filter(login_events::user_id.eq(user_id))
        .order(login_events::id.desc())
        .limit(limit)
        .select(LoginRow::as_select())
        .load(conn)?)
}
