//! The user row and how to find one: below every module that acts on users (users, channels,
//! sessions, offboarding), so none of them needs another to look a user up.

use crate::core::ids::{CompanyId, RoleId, UserId};
use crate::db::one_of_company;
use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::core::status::{Availability, UserStatus};
use crate::db::DbConnection;
use crate::db::schema::users;
use crate::domain::{Caller, roles, teams};
use crate::error::AppError;

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: UserId,
    pub company_id: CompanyId,
    pub username: String,
    pub display_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub password_hash: Option<String>,
    pub role_id: RoleId,
    pub status: UserStatus,
    pub must_change_password: bool,
    pub password_changed_at: NaiveDateTime,
    pub failed_logins: i32,
    pub lockouts: i32,
    pub locked_until: Option<NaiveDateTime>,
    pub last_login_at: Option<NaiveDateTime>,
    /// The IANA name of the zone their reports count days in.
    pub time_zone: String,
    pub availability: Availability,
    /// Most open conversations routing gives them; `None`: the company's default.
    pub capacity: Option<i32>,
}

impl User {
    pub fn is_active(&self) -> bool {
        self.status.is_active()
    }

    pub fn is_locked(&self, at: NaiveDateTime) -> bool {
        self.locked_until.is_some_and(|until| until > at)
    }
}

/// A user of the company, or 404 (also for another company's user).
pub fn get(
    conn: &mut DbConnection,
    company_id: CompanyId,
    user_id: UserId,
) -> Result<User, AppError> {
    Ok(one_of_company!(users, user_id, company_id)
        .select(User::as_select())
        .first(conn)?)
}

/// A user who can still be managed: deleted users answer 404 like missing ones.
pub fn get_manageable(
    conn: &mut DbConnection,
    company_id: CompanyId,
    user_id: UserId,
) -> Result<User, AppError> {
    let user = get(conn, company_id, user_id)?;
    if user.status == UserStatus::Deleted {
        return Err(AppError::NotFound);
    }
    Ok(user)
}

/// A manageable user the caller may see: with a role limited to its holder's teams, only
/// themselves and the users all of whose teams they lead; 404 for anyone else, as for a
/// user who does not exist.
pub fn get_visible(
    conn: &mut DbConnection,
    me: &Caller,
    user_id: UserId,
) -> Result<User, AppError> {
    let user = get_manageable(conn, me.company_id, user_id)?;
    ensure_within_teams(conn, me, &user)?;
    Ok(user)
}

/// 404 when the caller's role stops at their teams and `user` is not in them (see
/// [`get_visible`]).
fn ensure_within_teams(conn: &mut DbConnection, me: &Caller, user: &User) -> Result<(), AppError> {
    if me.permissions().limited_to_teams()
        && user.id != me.user_id()
        && !teams::lead_reaches(conn, me.user_id(), user.id)?
    {
        return Err(AppError::NotFound);
    }
    Ok(())
}

/// A user the caller may act on: manageable (not deleted), within their teams when their role
/// says so (else 404), and holding no permission the caller lacks ("who may act on whom").
/// Otherwise 403: nobody takes over an account that can do more than they can.
pub fn get_actionable(
    conn: &mut DbConnection,
    me: &Caller,
    user_id: UserId,
) -> Result<User, AppError> {
    let user = get_manageable(conn, me.company_id, user_id)?;
    ensure_may_act_on(conn, me, &user)?;
    Ok(user)
}

/// Refuses when the caller may not act on `user`: 404 outside a team-limited caller's teams,
/// 403 when the user's current role can do something the caller cannot.
pub fn ensure_may_act_on(
    conn: &mut DbConnection,
    me: &Caller,
    user: &User,
) -> Result<(), AppError> {
    ensure_within_teams(conn, me, user)?;
    let held = roles::permissions_of(conn, user.role_id)?;
    if me.permissions().covers(held) {
        Ok(())
    } else {
        Err(AppError::Forbidden)
    }
}

pub fn find_by_username(
    conn: &mut DbConnection,
    company_id: CompanyId,
    username: &str,
) -> Result<Option<User>, AppError> {
    Ok(users::table
        .filter(users::company_id.eq(company_id))
        .filter(users::username.eq(username.trim().to_lowercase()))
        .select(User::as_select())
        .first(conn)
        .optional()?)
}
