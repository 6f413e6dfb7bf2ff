//! Users of a company: creation, sign-in bookkeeping, password changes, the team list.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use crate::auth::password::{PasswordPolicy, PersonalWords};
use crate::db::DbConnection;
use crate::db::schema::{channel_members, channels, roles, users};
use crate::domain::{Actor, audit, now, sessions};
use crate::error::AppError;

pub const ACTIVE: &str = "active";
pub const DEACTIVATED: &str = "deactivated";
pub const DELETED: &str = "deleted";

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: i64,
    pub company_id: i64,
    pub username: String,
    pub display_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub password_hash: Option<String>,
    pub role_id: i64,
    pub status: String,
    pub must_change_password: bool,
    pub password_changed_at: NaiveDateTime,
    pub failed_logins: i32,
    pub lockouts: i32,
    pub locked_until: Option<NaiveDateTime>,
    pub last_login_at: Option<NaiveDateTime>,
}

impl User {
    pub fn is_active(&self) -> bool {
        self.status == ACTIVE
    }

    pub fn is_locked(&self, at: NaiveDateTime) -> bool {
        self.locked_until.is_some_and(|until| until > at)
    }
}

/// Usernames: 3–32 of a–z, 0–9, '.', '_' and '-', starting with a letter or digit.
pub fn normalize_username(username: &str) -> Result<String, String> {
    let username = username.trim().to_lowercase();
    let valid = (3..=32).contains(&username.len())
        && username
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
        && username
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric());
    if valid {
        Ok(username)
    } else {
        Err("A username is 3 to 32 characters: letters a–z, digits, '.', '_' or '-'.".into())
    }
}

/// A new user as the command line or the add-user form gives it.
pub struct NewUser<'a> {
    pub company_id: i64,
    pub username: &'a str,
    pub display_name: &'a str,
    pub email: Option<&'a str>,
    pub phone: Option<&'a str>,
    pub role_id: i64,
    pub password: &'a str,
    pub must_change_password: bool,
}

/// Validates and inserts a user (password hashed here: call from a blocking thread).
pub fn create(
    conn: &mut DbConnection,
    new: &NewUser<'_>,
    policy: &PasswordPolicy,
    company_code: &str,
    actor: &Actor,
) -> Result<User, AppError> {
    let username = normalize_username(new.username).map_err(AppError::Invalid)?;
    let display_name = new.display_name.trim();
    let display_name = if display_name.is_empty() {
        username.as_str()
    } else {
        display_name
    };
    if display_name.chars().count() > 100 {
        return Err(AppError::Invalid(
            "A display name is at most 100 characters.".into(),
        ));
    }
    let problems = policy.check(
        new.password,
        &PersonalWords {
            username: &username,
            display_name,
            company_code,
        },
    );
    if !problems.is_empty() {
        return Err(AppError::Invalid(problems.join(" ")));
    }
    let role_name: String = roles::table
        .filter(roles::id.eq(new.role_id))
        .filter(roles::company_id.eq(new.company_id))
        .select(roles::name)
        .first(conn)?;
    let exists: i64 = users::table
        .filter(users::company_id.eq(new.company_id))
        .filter(users::username.eq(&username))
        .count()
        .get_result(conn)?;
    if exists > 0 {
        return Err(AppError::Conflict(format!(
            "The username {username} is already taken in this company."
        )));
    }
    let password_hash = crate::auth::password::hash(new.password)?;
    let at = now();
    let id: i64 = diesel::insert_into(users::table)
        .values((
            users::company_id.eq(new.company_id),
            users::username.eq(&username),
            users::display_name.eq(display_name),
            users::email.eq(new.email.map(str::trim).filter(|s| !s.is_empty())),
            users::phone.eq(new.phone.map(str::trim).filter(|s| !s.is_empty())),
            users::password_hash.eq(Some(password_hash)),
            users::role_id.eq(new.role_id),
            users::status.eq(ACTIVE),
            users::must_change_password.eq(new.must_change_password),
            users::password_changed_at.eq(at),
            users::created_at.eq(at),
            users::updated_at.eq(at),
        ))
        .returning(users::id)
        .get_result(conn)?;
    audit::record(
        conn,
        audit::Entry {
            company_id: new.company_id,
            actor,
            action: "user.create",
            target_type: "user",
            target_id: Some(id),
            target_label: &username,
            summary: format!("user {username} created with role {role_name}"),
        },
    )?;
    get(conn, new.company_id, id)
}

/// A user of the company, or 404 (also for another company's user).
pub fn get(conn: &mut DbConnection, company_id: i64, user_id: i64) -> Result<User, AppError> {
    Ok(users::table
        .filter(users::id.eq(user_id))
        .filter(users::company_id.eq(company_id))
        .select(User::as_select())
        .first(conn)?)
}

pub fn find_by_username(
    conn: &mut DbConnection,
    company_id: i64,
    username: &str,
) -> Result<Option<User>, AppError> {
    Ok(users::table
        .filter(users::company_id.eq(company_id))
        .filter(users::username.eq(username.trim().to_lowercase()))
        .select(User::as_select())
        .first(conn)
        .optional()?)
}

/// Sets a user's status (used by the command line and the demo; the user pages come later).
pub fn set_status(
    conn: &mut DbConnection,
    company_id: i64,
    user_id: i64,
    status: &str,
    actor: &Actor,
) -> Result<(), AppError> {
    let user = get(conn, company_id, user_id)?;
    diesel::update(users::table.filter(users::id.eq(user.id)))
        .set((users::status.eq(status), users::updated_at.eq(now())))
        .execute(conn)?;
    if status != ACTIVE {
        sessions::revoke_all_for_user(conn, user.id, None, "user deactivated")?;
    }
    audit::record(
        conn,
        audit::Entry {
            company_id,
            actor,
            action: if status == ACTIVE {
                "user.reactivate"
            } else {
                "user.deactivate"
            },
            target_type: "user",
            target_id: Some(user.id),
            target_label: &user.username,
            summary: format!("user {} is now {status}", user.username),
        },
    )
}

/// Records a failed sign-in; locks the account for a growing period (1, 2, 4 … at most 15
/// minutes) after `threshold` consecutive failures. Returns true when this failure locked it.
pub fn record_failed_login(
    conn: &mut DbConnection,
    user: &User,
    threshold: i32,
) -> Result<bool, AppError> {
    let failures = user.failed_logins + 1;
    if threshold > 0 && failures >= threshold {
        let minutes = (1i64 << user.lockouts.clamp(0, 4)).min(15);
        diesel::update(users::table.filter(users::id.eq(user.id)))
            .set((
                users::failed_logins.eq(0),
                users::lockouts.eq(user.lockouts + 1),
                users::locked_until.eq(Some(now() + Duration::minutes(minutes))),
            ))
            .execute(conn)?;
        Ok(true)
    } else {
        diesel::update(users::table.filter(users::id.eq(user.id)))
            .set(users::failed_logins.eq(failures))
            .execute(conn)?;
        Ok(false)
    }
}

pub fn record_successful_login(conn: &mut DbConnection, user_id: i64) -> Result<(), AppError> {
    diesel::update(users::table.filter(users::id.eq(user_id)))
        .set((
            users::failed_logins.eq(0),
            users::lockouts.eq(0),
            users::locked_until.eq(None::<NaiveDateTime>),
            users::last_login_at.eq(Some(now())),
        ))
        .execute(conn)?;
    Ok(())
}

/// Replaces a user's password (already checked against the policy by the caller), ends
/// their other sessions and writes the audit record.
pub fn set_password(
    conn: &mut DbConnection,
    user: &User,
    new_password: &str,
    keep_session: Option<i64>,
    actor: &Actor,
) -> Result<(), AppError> {
    let password_hash = crate::auth::password::hash(new_password)?;
    let at = now();
    diesel::update(users::table.filter(users::id.eq(user.id)))
        .set((
            users::password_hash.eq(Some(password_hash)),
            users::password_changed_at.eq(at),
            users::must_change_password.eq(false),
            users::updated_at.eq(at),
        ))
        .execute(conn)?;
    let ended = sessions::revoke_all_for_user(conn, user.id, keep_session, "password changed")?;
    audit::record(
        conn,
        audit::Entry {
            company_id: user.company_id,
            actor,
            action: "user.password_change",
            target_type: "user",
            target_id: Some(user.id),
            target_label: &user.username,
            summary: format!(
                "password of {} changed; {ended} other session(s) ended",
                user.username
            ),
        },
    )
}

/// One row of the team list.
#[derive(Clone, Debug)]
pub struct TeamRow {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub role_name: String,
    pub status: String,
    pub locked: bool,
    pub last_login_at: Option<NaiveDateTime>,
    pub channels: Vec<String>,
}

pub const TEAM_PAGE_SIZE: i64 = 50;

type TeamTuple = (
    i64,
    String,
    String,
    String,
    String,
    Option<NaiveDateTime>,
    Option<NaiveDateTime>,
);

/// The company's users ordered by username, `TEAM_PAGE_SIZE` at a time after `after_username`
/// (keyset pagination). Deleted users are left out. Two queries, whatever the page size.
pub fn team_page(
    conn: &mut DbConnection,
    company_id: i64,
    after_username: Option<&str>,
) -> Result<Vec<TeamRow>, AppError> {
    let mut query = users::table
        .inner_join(roles::table)
        .filter(users::company_id.eq(company_id))
        .filter(users::status.ne(DELETED))
        .order(users::username)
        .limit(TEAM_PAGE_SIZE)
        .select((
            users::id,
            users::username,
            users::display_name,
            roles::name,
            users::status,
            users::locked_until,
            users::last_login_at,
        ))
        .into_boxed();
    if let Some(after) = after_username {
        query = query.filter(users::username.gt(after.to_string()));
    }
    let rows: Vec<TeamTuple> = query.load(conn)?;
    let ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
    let memberships: Vec<(i64, String)> = channel_members::table
        .inner_join(channels::table)
        .filter(channel_members::user_id.eq_any(&ids))
        .order(channels::name)
        .select((channel_members::user_id, channels::name))
        .load(conn)?;
    let at = now();
    Ok(rows
        .into_iter()
        .map(
            |(id, username, display_name, role_name, status, locked_until, last_login_at)| {
                TeamRow {
                    channels: memberships
                        .iter()
                        .filter(|(user_id, _)| *user_id == id)
                        .map(|(_, name)| name.clone())
                        .collect(),
                    id,
                    username,
                    display_name,
                    role_name,
                    status,
                    locked: locked_until.is_some_and(|until| until > at),
                    last_login_at,
                }
            },
        )
        .collect())
}
