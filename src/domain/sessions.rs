//! Server-side sessions. The cookie carries a random token; only its SHA-256 is stored here.

use crate::core::cursor::{Page, rows_to_read};
use crate::core::ids::{CompanyId, RoleId, SessionId, UserId};
use crate::core::masking::PhoneRegion;
use crate::core::text::count;
use crate::db::one_of_company;
use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::core::status::UserStatus;
use crate::db::DbConnection;
use crate::db::schema::{companies, roles, sessions, users};
use crate::domain::{Caller, now, routing};
use crate::error::AppError;

/// What a signed-in request knows about its session, user, role and company: read in one
/// query on every request, so a deactivation or role change acts at once.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SessionAuth {
    pub session_id: SessionId,
    pub user_id: UserId,
    pub company_id: CompanyId,
    pub company_code: String,
    pub company_name: String,
    pub username: String,
    pub display_name: String,
    pub role_id: RoleId,
    pub role_name: String,
    pub role_version: i64,
    pub must_change_password: bool,
    pub password_expired: bool,
    pub csrf_token: String,
    pub ip: String,
    pub user_agent: String,
    pub end_on_client_change: bool,
    /// How free text is read for phone numbers when it is masked (a company setting).
    pub phone_region: PhoneRegion,
    /// The IANA zone the user reads times in (`/account`).
    #[serde(default)]
    pub time_zone: String,
    /// The role requires two-factor sign-in and the user has not enrolled: only the
    /// enrolment page opens until they do.
    #[serde(default)]
    pub two_factor_missing: bool,
}

/// The session row plus what it joins, before timeouts are applied.
#[derive(Clone, Debug)]
pub struct LoadedSession {
    pub auth: SessionAuth,
    /// Other session state (flash messages), JSON.
    pub data: String,
    last_seen_at: NaiveDateTime,
    expires_at: NaiveDateTime,
    idle_timeout_minutes: i32,
}

type LoadedRow = (
    (
        SessionId,
        UserId,
        CompanyId,
        String,
        String,
        String,
        String,
        NaiveDateTime,
        NaiveDateTime,
    ),
    (String, String, RoleId, bool, NaiveDateTime, String),
    (String, String, i32, i32, bool, String),
    (i64, String, bool, bool),
);

/// One query: session ⋈ user ⋈ role ⋈ company, for a live session of an active user.
pub fn load(
    conn: &mut DbConnection,
    token_hash: &str,
    at: NaiveDateTime,
) -> Result<Option<LoadedSession>, AppError> {
    let row: Option<LoadedRow> = sessions::table
        .inner_join(users::table.inner_join(roles::table))
        .inner_join(companies::table)
        .filter(sessions::token_hash.eq(token_hash))
        .filter(sessions::revoked_at.is_null())
        .filter(sessions::expires_at.gt(at))
        .filter(users::status.eq(UserStatus::Active))
        .filter(users::company_id.eq(sessions::company_id))
        .select((
            (
                sessions::id,
                sessions::user_id,
                sessions::company_id,
                sessions::csrf_token,
                sessions::data,
                sessions::ip,
                sessions::user_agent,
                sessions::last_seen_at,
                sessions::expires_at,
            ),
            (
                users::username,
                users::display_name,
                users::role_id,
                users::must_change_password,
                users::password_changed_at,
                users::time_zone,
            ),
            (
                companies::code,
                companies::name,
                companies::idle_timeout_minutes,
                companies::password_max_age_days,
                companies::end_session_on_client_change,
                companies::phone_region,
            ),
            (
                roles::version,
                roles::name,
                roles::require_two_factor,
                users::two_factor_enabled_at.is_not_null(),
            ),
        ))
        .first(conn)
        .optional()?;
    Ok(
        row.map(|(s, u, c, r)| {
            let (
                session_id,
                user_id,
                company_id,
                csrf_token,
                data,
                ip,
                user_agent,
                last_seen_at,
                expires_at,
            ) = s;
            let (
                username,
                display_name,
                role_id,
                must_change_password,
                password_changed_at,
                time_zone,
            ) = u;
            let (
                company_code,
                company_name,
                idle_timeout_minutes,
                max_age_days,
                end_on_change,
                region,
            ) = c;
            let (role_version, role_name, two_factor_required, two_factor_enrolled) = r;
            let password_expired =
                max_age_days > 0 && password_changed_at + Duration::days(max_age_days.into()) < at;
            LoadedSession {
                auth: SessionAuth {
                    session_id,
                    user_id,
                    company_id,
                    company_code,
                    company_name,
                    username,
                    display_name,
                    role_id,
                    role_name,
                    role_version,
                    must_change_password,
                    password_expired,
                    csrf_token,
                    ip,
                    user_agent,
                    end_on_client_change: end_on_change,
                    phone_region: PhoneRegion::from_stored(&region),
                    time_zone,
                    two_factor_missing: two_factor_required && !two_factor_enrolled,
                },
                data,
                last_seen_at,
                expires_at,
                idle_timeout_minutes,
            }
        }),
    )
}

impl LoadedSession {
    pub fn is_idle(&self, at: NaiveDateTime) -> bool {
        self.idle_timeout_minutes > 0
            && self.last_seen_at + Duration::minutes(self.idle_timeout_minutes.into()) <= at
    }

    /// Past its absolute lifetime (the query above refuses such a session; a cached copy asks).
    pub fn is_expired(&self, at: NaiveDateTime) -> bool {
        self.expires_at <= at
    }

    /// `touch` wrote `at` as the last-seen time.
    pub fn touched(&mut self, at: NaiveDateTime) {
        self.last_seen_at = at;
    }

    /// `last_seen_at` is written at most once a minute, so most requests only read.
    pub fn needs_touch(&self, at: NaiveDateTime) -> bool {
        self.last_seen_at + Duration::seconds(60) <= at
    }
}

pub fn touch(
    conn: &mut DbConnection,
    session_id: SessionId,
    at: NaiveDateTime,
) -> Result<(), AppError> {
    diesel::update(sessions::table.filter(sessions::id.eq(session_id)))
        .set(sessions::last_seen_at.eq(at))
        .execute(conn)?;
    Ok(())
}

/// A session as sign-in makes it; `create` adds its times.
#[derive(Insertable)]
#[diesel(table_name = sessions)]
pub struct NewSession<'a> {
    pub token_hash: &'a str,
    pub company_id: CompanyId,
    pub user_id: UserId,
    pub csrf_token: &'a str,
    pub ip: &'a str,
    pub user_agent: &'a str,
}

/// Stores a new session; its absolute lifetime comes from the company's settings.
pub fn create(conn: &mut DbConnection, new: &NewSession<'_>) -> Result<(), AppError> {
    let lifetime_hours: i32 = companies::table
        .find(new.company_id)
        .select(companies::session_lifetime_hours)
        .first(conn)?;
    let at = now();
    diesel::insert_into(sessions::table)
        .values((
            new,
            sessions::created_at.eq(at),
            sessions::last_seen_at.eq(at),
            sessions::expires_at.eq(at + Duration::hours(lifetime_hours.max(1).into())),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn save_data(conn: &mut DbConnection, token_hash: &str, data: &str) -> Result<(), AppError> {
    diesel::update(sessions::table.filter(sessions::token_hash.eq(token_hash)))
        .set(sessions::data.eq(data))
        .execute(conn)?;
    Ok(())
}

/// Why a session the browser still presents no longer works, in words its user can read on
/// the sign-in page (`/login?reason=…`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    Expired,
    ByAdministrator,
    ByTheUser,
    ForSafety,
    AccountChanged,
}

impl Ended {
    pub fn code(self) -> &'static str {
        match self {
            Self::Expired => "expired",
            Self::ByAdministrator => "ended",
            Self::ByTheUser => "elsewhere",
            Self::ForSafety => "safety",
            Self::AccountChanged => "account",
        }
    }

    const ALL: [Self; 5] = [
        Self::Expired,
        Self::ByAdministrator,
        Self::ByTheUser,
        Self::ForSafety,
        Self::AccountChanged,
    ];

    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|ended| ended.code() == code)
    }

    pub fn message(self) -> &'static str {
        match self {
            Self::Expired => "Your session expired. Sign in again to continue.",
            Self::ByAdministrator => "You were signed out by an administrator.",
            Self::ByTheUser => {
                "You were signed out: this session was ended from another of your sessions, or your password was changed."
            }
            Self::ForSafety => {
                "You were signed out because this session was used from another address or browser."
            }
            Self::AccountChanged => {
                "You were signed out because your account was changed. Ask a supervisor if you cannot sign in."
            }
        }
    }
}

/// Why the session with this token no longer works (`None`: it never existed, or its user
/// signed out, which needs no explanation).
pub fn why_ended(
    conn: &mut DbConnection,
    token_hash: &str,
    at: NaiveDateTime,
) -> Result<Option<Ended>, AppError> {
    let row: Option<(Option<String>, NaiveDateTime, UserStatus)> = sessions::table
        .inner_join(users::table)
        .filter(sessions::token_hash.eq(token_hash))
        .select((
            sessions::revoked_reason,
            sessions::expires_at,
            users::status,
        ))
        .first(conn)
        .optional()?;
    let Some((reason, expires_at, status)) = row else {
        return Ok(None);
    };
    Ok(match reason.as_deref() {
        Some("signed out") => None,
        Some("idle timeout" | "lifetime reached") => Some(Ended::Expired),
        Some("ended by a supervisor") => Some(Ended::ByAdministrator),
        Some("ended by its user" | "password changed") => Some(Ended::ByTheUser),
        Some("client changed") => Some(Ended::ForSafety),
        Some(_) => Some(Ended::AccountChanged),
        None if expires_at <= at => Some(Ended::Expired),
        None if status != UserStatus::Active => Some(Ended::AccountChanged),
        None => None,
    })
}

/// Sessions not ended and not expired, across companies (for the operator's metrics).
pub fn count_live(conn: &mut DbConnection) -> Result<i64, AppError> {
    Ok(sessions::table
        .filter(sessions::revoked_at.is_null())
        .filter(sessions::expires_at.gt(now()))
        .count()
        .get_result(conn)?)
}

/// What ending a session writes on it.
#[derive(AsChangeset)]
#[diesel(table_name = sessions)]
struct Revocation<'a> {
    revoked_at: NaiveDateTime,
    revoked_reason: &'a str,
}

impl<'a> Revocation<'a> {
    fn now(reason: &'a str) -> Self {
        Self {
            revoked_at: now(),
            revoked_reason: reason,
        }
    }
}

pub fn revoke_by_token_hash(
    conn: &mut DbConnection,
    token_hash: &str,
    reason: &str,
) -> Result<(), AppError> {
    let ended: Vec<(CompanyId, UserId)> = diesel::update(
        sessions::table
            .filter(sessions::token_hash.eq(token_hash))
            .filter(sessions::revoked_at.is_null()),
    )
    .set(&Revocation::now(reason))
    .returning((sessions::company_id, sessions::user_id))
    .get_results(conn)?;
    offline_when_no_session_left(conn, &ended)
}

/// Someone whose last session ended (signed out, idled out, ended by a supervisor) is
/// offline: routing gives them no new chats until they sign in again.
fn offline_when_no_session_left(
    conn: &mut DbConnection,
    ended: &[(CompanyId, UserId)],
) -> Result<(), AppError> {
    for (company_id, user_id) in ended {
        routing::offline_without_session(conn, *company_id, Some(&[*user_id]), now())?;
    }
    Ok(())
}

/// Ends one session of `user_id`; false when it is not theirs or already ended.
pub fn revoke_for_user(
    conn: &mut DbConnection,
    user_id: UserId,
    session_id: SessionId,
    reason: &str,
) -> Result<bool, AppError> {
    let ended: Vec<(CompanyId, UserId)> = diesel::update(
        sessions::table
            .filter(sessions::id.eq(session_id))
            .filter(sessions::user_id.eq(user_id))
            .filter(sessions::revoked_at.is_null()),
    )
    .set(&Revocation::now(reason))
    .returning((sessions::company_id, sessions::user_id))
    .get_results(conn)?;
    offline_when_no_session_left(conn, &ended)?;
    Ok(!ended.is_empty())
}

/// Ends every live session of a user, except `keep` (the one making the change). Returns how many.
pub fn revoke_all_for_user(
    conn: &mut DbConnection,
    user_id: UserId,
    keep: Option<SessionId>,
    reason: &str,
) -> Result<usize, AppError> {
    let ended: Vec<(CompanyId, UserId)> = diesel::update(
        sessions::table
            .filter(sessions::user_id.eq(user_id))
            .filter(sessions::revoked_at.is_null())
            .filter(sessions::id.ne_all(Vec::from_iter(keep))),
    )
    .set(&Revocation::now(reason))
    .returning((sessions::company_id, sessions::user_id))
    .get_results(conn)?;
    // one row is enough to know whose: the user's sessions share company and user
    offline_when_no_session_left(conn, &ended[..ended.len().min(1)])?;
    Ok(ended.len())
}

#[derive(Clone, Debug, Queryable)]
pub struct SessionRow {
    pub id: SessionId,
    pub ip: String,
    pub user_agent: String,
    pub created_at: NaiveDateTime,
    pub last_seen_at: NaiveDateTime,
}

/// A user's live sessions, newest first.
pub fn list_live_for_user(
    conn: &mut DbConnection,
    user_id: UserId,
) -> Result<Vec<SessionRow>, AppError> {
    Ok(sessions::table
        .filter(sessions::user_id.eq(user_id))
        .filter(sessions::revoked_at.is_null())
        .filter(sessions::expires_at.gt(now()))
        .order(sessions::id.desc())
        .select((
            sessions::id,
            sessions::ip,
            sessions::user_agent,
            sessions::created_at,
            sessions::last_seen_at,
        ))
        .load(conn)?)
}

/// One live session of the company, for `/sessions`.
#[derive(Clone, Debug, Queryable)]
pub struct CompanySession {
    pub id: SessionId,
    pub user_id: UserId,
    pub display_name: String,
    pub username: String,
    pub ip: String,
    pub user_agent: String,
    pub created_at: NaiveDateTime,
    pub last_seen_at: NaiveDateTime,
}

/// How many live sessions `/sessions` shows at most.
pub const LIVE_SESSIONS_SHOWN: i64 = 500;

/// The live sessions of the company the caller may end, grouped by person (by name), each
/// person's most recently seen first, at most [`LIVE_SESSIONS_SHOWN`] (the page says when
/// there are more): a role limited to its holder's teams sees only the people it reaches (as
/// ending a session is limited), and its holder.
pub fn list_live_for_company(
    conn: &mut DbConnection,
    me: &Caller,
) -> Result<Page<CompanySession>, AppError> {
    let mut query = sessions::table
        .inner_join(users::table)
        .filter(sessions::company_id.eq(me.company_id))
        .into_boxed();
    if me.permissions().limited_to_teams() {
        // a team lead sees the sessions of the people she may act on, and her own
        let mut reached = crate::domain::teams::users_reached_by(conn, me.user_id())?;
        reached.push(me.user_id());
        query = query.filter(sessions::user_id.eq_any(reached));
    }
    let rows: Vec<CompanySession> = query
        .filter(sessions::revoked_at.is_null())
        .filter(sessions::expires_at.gt(now()))
        .filter(users::status.eq(UserStatus::Active))
        .order((
            users::display_name,
            users::id,
            sessions::last_seen_at.desc(),
        ))
        .limit(rows_to_read(LIVE_SESSIONS_SHOWN))
        .select((
            sessions::id,
            sessions::user_id,
            users::display_name,
            users::username,
            sessions::ip,
            sessions::user_agent,
            sessions::created_at,
            sessions::last_seen_at,
        ))
        .load(conn)?;
    Ok(Page::of(rows, LIVE_SESSIONS_SHOWN))
}

/// Records an ended session (`{user}` in the summary becomes the username).
fn audit_end(
    conn: &mut DbConnection,
    company_id: CompanyId,
    actor: &crate::domain::Actor,
    user_id: UserId,
    action: &'static str,
    summary: String,
) -> Result<(), AppError> {
    let username: String = users::table
        .find(user_id)
        .select(users::username)
        .first(conn)?;
    crate::domain::audit::Entry::new(company_id, actor, action)
        .on("user", user_id, &username)
        .saying(summary.replace("{user}", &username))
        .write(conn)
}

/// Ends one live session of the company (404 for another company's or an ended one).
pub fn end_in_company(
    conn: &mut DbConnection,
    me: &Caller,
    session_id: SessionId,
) -> Result<(), AppError> {
    let (company_id, actor) = (me.company_id, &me.actor);
    let user_id: UserId = one_of_company!(sessions, session_id, company_id)
        .filter(sessions::revoked_at.is_null())
        .select(sessions::user_id)
        .first(conn)?;
    let owner = crate::domain::accounts::get(conn, company_id, user_id)?;
    crate::domain::accounts::ensure_may_act_on(conn, me, &owner)?;
    revoke_for_user(conn, user_id, session_id, "ended by a supervisor")?;
    let summary = format!("session {session_id} of {{user}} ended");
    audit_end(conn, company_id, actor, user_id, "session.end", summary)
}

/// Ends every live session of one user of the company; returns how many.
pub fn end_all_of_user(
    conn: &mut DbConnection,
    me: &Caller,
    user_id: UserId,
) -> Result<usize, AppError> {
    let (company_id, actor) = (me.company_id, &me.actor);
    let user = crate::domain::accounts::get(conn, company_id, user_id)?;
    crate::domain::accounts::ensure_may_act_on(conn, me, &user)?;
    let ended = revoke_all_for_user(conn, user.id, None, "ended by a supervisor")?;
    let summary = format!(
        "{} of {{user}} ended",
        count(ended, "the session", "all sessions")
    );
    audit_end(conn, company_id, actor, user.id, "session.end", summary)?;
    Ok(ended)
}

/// A user ends one of their own sessions, recorded like any other.
pub fn end_own(
    conn: &mut DbConnection,
    company_id: CompanyId,
    user_id: UserId,
    session_id: SessionId,
    actor: &crate::domain::Actor,
) -> Result<bool, AppError> {
    let ended = revoke_for_user(conn, user_id, session_id, "ended by its user")?;
    if ended {
        let summary = format!("{{user}} ended their session {session_id}");
        audit_end(conn, company_id, actor, user_id, "session.end", summary)?;
    }
    Ok(ended)
}

/// Ends a session whose address or browser changed mid-way (a stolen cookie, most likely).
pub fn end_suspicious(
    conn: &mut DbConnection,
    company_id: CompanyId,
    session_id: SessionId,
    user_id: UserId,
    actor: &crate::domain::Actor,
    what_changed: &str,
) -> Result<(), AppError> {
    revoke_for_user(conn, user_id, session_id, "client changed")?;
    let summary =
        format!("session {session_id} of {{user}} ended: {what_changed} changed mid-session");
    audit_end(
        conn,
        company_id,
        actor,
        user_id,
        "session.suspicious_end",
        summary,
    )
}

#[cfg(test)]
impl LoadedSession {
    /// A session as `load` returns it, for the unit tests of its timeouts and of the cache.
    pub(crate) fn for_tests(
        last_seen_at: NaiveDateTime,
        expires_at: NaiveDateTime,
        idle_timeout_minutes: i32,
    ) -> Self {
        Self {
            auth: SessionAuth {
                session_id: SessionId(1),
                user_id: UserId(2),
                company_id: CompanyId(3),
                company_code: "acme".into(),
                company_name: "Acme".into(),
                username: "sofia".into(),
                display_name: "Sofia".into(),
                role_id: RoleId(4),
                role_name: "Supervisor".into(),
                role_version: 1,
                must_change_password: false,
                password_expired: false,
                csrf_token: "token".into(),
                ip: "127.0.0.1".into(),
                user_agent: "test".into(),
                end_on_client_change: true,
                phone_region: PhoneRegion::DEFAULT,
                time_zone: "UTC".into(),
                two_factor_missing: false,
            },
            data: "{}".into(),
            last_seen_at,
            expires_at,
            idle_timeout_minutes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::core::clock::on_test_day as at;

    #[test]
    fn a_session_idles_out_exactly_at_its_timeout() {
        let session = LoadedSession::for_tests(at(10, 0, 0), at(20, 0, 0), 30);
        assert!(!session.is_idle(at(10, 29, 59)));
        assert!(session.is_idle(at(10, 30, 0)));
        assert!(session.is_idle(at(11, 0, 0)));
        // a company without an idle timeout (0) never idles out
        let no_timeout = LoadedSession::for_tests(at(10, 0, 0), at(20, 0, 0), 0);
        assert!(!no_timeout.is_idle(at(19, 59, 59)));
    }

    #[test]
    fn a_session_expires_exactly_at_its_lifetime() {
        let session = LoadedSession::for_tests(at(10, 0, 0), at(20, 0, 0), 30);
        assert!(!session.is_expired(at(19, 59, 59)));
        assert!(session.is_expired(at(20, 0, 0)));
        assert!(session.is_expired(at(21, 0, 0)));
    }

    #[test]
    fn last_seen_is_written_at_most_once_a_minute() {
        let mut session = LoadedSession::for_tests(at(10, 0, 0), at(20, 0, 0), 30);
        assert!(!session.needs_touch(at(10, 0, 59)));
        assert!(session.needs_touch(at(10, 1, 0)));
        session.touched(at(10, 1, 0));
        assert!(!session.needs_touch(at(10, 1, 30)));
        // touched, it idles out counted from the new time
        assert!(!session.is_idle(at(10, 30, 0)));
        assert!(session.is_idle(at(10, 31, 0)));
    }

    #[test]
    fn every_ended_reason_reads_back_from_its_code() {
        for ended in Ended::ALL {
            assert_eq!(Ended::from_code(ended.code()), Some(ended));
            // each says, in its own words, that the person must sign in again
            assert!(ended.message().to_lowercase().contains("sign"), "{ended:?}");
        }
        assert_eq!(Ended::from_code("nonsense"), None);
        let messages: std::collections::HashSet<_> = Ended::ALL.map(Ended::message).into();
        assert_eq!(messages.len(), Ended::ALL.len());
    }
}
