//! Users of a company: creation, profile and role changes, deactivation, password resets,
//! unlocking, sign-in bookkeeping and the list of users. Every change writes its audit record in
//! the caller's transaction.

use crate::core::cursor::Page;
use crate::core::ids::{ChannelId, CompanyId, RoleId, SessionId, UserId};
use crate::core::text::count;
use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use crate::core::passwords::{PasswordPolicy, PersonalWords};
use crate::core::permissions::PermissionSet;
use crate::core::status::{Availability, CallStatus, ConversationStatus, UserStatus};
use crate::db::schema::{call_tasks, channel_members, channels, conversations, roles, users};
use crate::db::{DbConnection, search};
use crate::domain::{
    Actor, Caller, audit, channels as channel_domain, companies as company_domain, notifications,
    now, roles as role_domain, sessions, teams as team_domain, validate,
};
use crate::error::{AppError, FieldErrors};

pub use crate::domain::accounts::{
    User, ensure_may_act_on, find_by_username, get, get_actionable, get_manageable, get_visible,
};

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
    pub company_id: CompanyId,
    pub username: &'a str,
    pub display_name: &'a str,
    pub email: Option<&'a str>,
    pub phone: Option<&'a str>,
    /// `None` when nothing (or nothing that names a role) was chosen.
    pub role_id: Option<RoleId>,
    pub password: &'a str,
    pub must_change_password: bool,
    /// `None` entries name no channel (a value that did not parse); they are refused.
    pub channel_ids: &'a [Option<ChannelId>],
    /// The permissions of whoever adds the user: the role may hold nothing beyond them.
    /// `None` for the operator at the command line and the demo seed.
    pub granted_by: Option<PermissionSet>,
}

/// The company's role by id, or a field error when it is not one of the company's roles.
fn role_of_company(
    conn: &mut DbConnection,
    company_id: CompanyId,
    role_id: Option<RoleId>,
    errors: &mut FieldErrors,
) -> Result<Option<role_domain::Role>, AppError> {
    let Some(role_id) = role_id else {
        errors.add("role_id", "Choose one of the company's roles.");
        return Ok(None);
    };
    match role_domain::get(conn, company_id, role_id) {
        Ok(role) => Ok(Some(role)),
        Err(AppError::NotFound) => {
            errors.add("role_id", "Choose one of the company's roles.");
            Ok(None)
        }
        Err(other) => Err(other),
    }
}

/// Refuses a role that holds a permission the actor lacks: nobody escalates through roles.
pub fn ensure_grantable(
    conn: &mut DbConnection,
    role_id: RoleId,
    actor_permissions: PermissionSet,
) -> Result<(), AppError> {
    let granted = role_domain::permissions_of(conn, role_id)?;
    if actor_permissions.covers(granted) {
        Ok(())
    } else {
        Err(AppError::Forbidden)
    }
}

/// Validates and inserts a user with their channels (password hashed here: call from a
/// blocking thread). Invalid input is `AppError::Fields`, one message per field.
pub fn create(
    conn: &mut DbConnection,
    new: &NewUser<'_>,
    policy: &PasswordPolicy,
    company_code: &str,
    actor: &Actor,
) -> Result<User, AppError> {
    let mut errors = FieldErrors::default();
    let username = normalize_username(new.username)
        .map_err(|message| errors.add("username", message))
        .ok();
    let display_name = if new.display_name.trim().is_empty() {
        username.clone()
    } else {
        validate::display_name(new.display_name)
            .map_err(|message| errors.add("display_name", message))
            .ok()
    };
    let email = validate::email(new.email.unwrap_or(""))
        .map_err(|message| errors.add("email", message))
        .ok()
        .flatten();
    let phone = validate::phone(new.phone.unwrap_or(""))
        .map_err(|message| errors.add("phone", message))
        .ok()
        .flatten();
    let role = role_of_company(conn, new.company_id, new.role_id, &mut errors)?;
    if let (Some(role), Some(held)) = (&role, new.granted_by) {
        ensure_grantable(conn, role.id, held)?;
    }
    let mut wanted_channels: Vec<ChannelId> = new.channel_ids.iter().flatten().copied().collect();
    wanted_channels.sort_unstable();
    wanted_channels.dedup();
    let known_channels = channel_domain::ids_of_company(conn, new.company_id, &wanted_channels)?;
    if known_channels.len() != wanted_channels.len() || new.channel_ids.contains(&None) {
        errors.add("channel_ids", "Choose channels of this company only.");
    }
    // the password is judged in the same round as the other fields, even when the username
    // itself is refused (it is then compared with what was typed)
    let typed_username = new.username.trim().to_lowercase();
    for problem in policy.check(
        new.password,
        &PersonalWords {
            username: username.as_deref().unwrap_or(&typed_username),
            display_name: display_name.as_deref().unwrap_or(new.display_name.trim()),
            company_code,
        },
    ) {
        errors.add("password", problem);
    }
    if let Some(username) = &username
        && find_by_username(conn, new.company_id, username)?.is_some()
    {
        errors.add(
            "username",
            format!("The username {username} is already taken in this company."),
        );
    }
    errors.into_result()?;
    let (Some(username), Some(display_name), Some(role)) = (username, display_name, role) else {
        return Err(AppError::internal("validated user fields missing"));
    };

    let password_hash = crate::core::passwords::hash(new.password)?;
    let at = now();
    let id: UserId = diesel::insert_into(users::table)
        .values((
            users::company_id.eq(new.company_id),
            users::username.eq(&username),
            users::display_name.eq(&display_name),
            users::email.eq(email),
            users::phone.eq(phone),
            users::password_hash.eq(Some(password_hash)),
            users::role_id.eq(role.id),
            users::status.eq(UserStatus::Active),
            users::must_change_password.eq(new.must_change_password),
            users::password_changed_at.eq(at),
            users::created_at.eq(at),
            users::updated_at.eq(at),
        ))
        .returning(users::id)
        .get_result(conn)?;
    audit::Entry::new(new.company_id, actor, "user.create")
        .on("user", id, &username)
        .saying(format!("user {username} created with role {}", role.name))
        .write(conn)?;
    for channel_id in known_channels {
        channel_domain::add_member(conn, new.company_id, channel_id, id, actor)?;
    }
    get(conn, new.company_id, id)
}

/// `create` for a signed-in caller, under their company's password policy.
pub fn create_by(
    conn: &mut DbConnection,
    me: &Caller,
    new: &NewUser<'_>,
) -> Result<User, AppError> {
    let company = company_domain::get(conn, me.company_id)?;
    let limited = me.permissions().limited_to_teams();
    if limited {
        // a team lead adds people to their teams, on their teams' channels
        if team_domain::led_team_ids(conn, me.user_id())?.is_empty() {
            return Err(AppError::Conflict(
                "You lead no team, and your role manages users only within the teams you lead. \
                 Ask someone who manages teams to make you a lead first."
                    .into(),
            ));
        }
        let theirs = team_domain::led_channel_ids(conn, me.user_id())?;
        if new
            .channel_ids
            .iter()
            .flatten()
            .any(|channel| !theirs.contains(channel))
        {
            return Err(AppError::field(
                "channel_ids",
                "Choose channels of the teams you lead only.",
            ));
        }
    }
    let user = create(
        conn,
        new,
        &company.password_policy(),
        &company.code,
        &me.actor,
    )?;
    if limited {
        team_domain::join_led_teams(conn, me.user_id(), user.id)?;
    }
    notifications::about_user(
        conn,
        me,
        user.id,
        "user.create",
        &format!("{} (@{}) was added", user.display_name, user.username),
    )?;
    Ok(user)
}

fn is_supervisor_role(conn: &mut DbConnection, role_id: RoleId) -> Result<bool, AppError> {
    let builtin: Option<String> = roles::table
        .find(role_id)
        .select(roles::builtin)
        .first(conn)?;
    Ok(builtin.as_deref() == Some(role_domain::SUPERVISOR))
}

/// Active users holding the built-in Supervisor role.
pub fn active_supervisor_count(
    conn: &mut DbConnection,
    company_id: CompanyId,
) -> Result<i64, AppError> {
    Ok(users::table
        .inner_join(roles::table)
        .filter(users::company_id.eq(company_id))
        .filter(users::status.eq(UserStatus::Active))
        .filter(roles::builtin.eq(role_domain::SUPERVISOR))
        .count()
        .get_result(conn)?)
}

/// True when the user is the only active supervisor left.
pub fn is_last_supervisor(conn: &mut DbConnection, user: &User) -> Result<bool, AppError> {
    Ok(user.is_active()
        && is_supervisor_role(conn, user.role_id)?
        && active_supervisor_count(conn, user.company_id)? <= 1)
}

fn refuse_last_supervisor(
    conn: &mut DbConnection,
    user: &User,
    what: &str,
) -> Result<(), AppError> {
    // two supervisors removing each other at once must not both pass the count
    crate::db::serialize(
        conn,
        crate::db::LockSpace::Supervisors,
        &user.company_id.to_string(),
    )?;
    if is_last_supervisor(conn, user)? {
        return Err(AppError::Conflict(format!(
            "{} is the company's last active supervisor and cannot be {what}. Make another user a supervisor first.",
            user.display_name
        )));
    }
    Ok(())
}

fn refuse_self(user: &User, actor: &Actor, what: &str) -> Result<(), AppError> {
    if actor.user_id == Some(user.id) {
        return Err(AppError::Conflict(format!(
            "You cannot {what} your own account."
        )));
    }
    Ok(())
}

fn record(
    conn: &mut DbConnection,
    user: &User,
    actor: &Actor,
    action: &'static str,
    summary: String,
) -> Result<(), AppError> {
    audit::Entry::new(user.company_id, actor, action)
        .on("user", user.id, &user.username)
        .saying(summary)
        .write(conn)
}

/// A user's contact details as typed.
pub struct ProfileFields {
    pub display_name: String,
    pub email: String,
    pub phone: String,
}

/// Changes display name, email and phone.
pub fn update_profile(
    conn: &mut DbConnection,
    me: &Caller,
    user_id: UserId,
    fields: &ProfileFields,
) -> Result<(), AppError> {
    let actor = &me.actor;
    let user = get_actionable(conn, me, user_id)?;
    let mut errors = FieldErrors::default();
    let display_name = validate::display_name(&fields.display_name)
        .map_err(|m| errors.add("display_name", m))
        .ok();
    let email = validate::email(&fields.email)
        .map_err(|m| errors.add("email", m))
        .ok();
    let phone = validate::phone(&fields.phone)
        .map_err(|m| errors.add("phone", m))
        .ok();
    errors.into_result()?;
    let (Some(display_name), Some(email), Some(phone)) = (display_name, email, phone) else {
        return Err(AppError::internal("validated profile fields missing"));
    };
    // The audit record names what changed, never the personal values themselves.
    let mut changed = Vec::new();
    if display_name != user.display_name {
        changed.push("display name");
    }
    if email != user.email {
        changed.push("email");
    }
    if phone != user.phone {
        changed.push("phone");
    }
    if changed.is_empty() {
        return Ok(());
    }
    diesel::update(users::table.filter(users::id.eq(user.id)))
        .set((
            users::display_name.eq(&display_name),
            users::email.eq(&email),
            users::phone.eq(&phone),
            users::updated_at.eq(now()),
        ))
        .execute(conn)?;
    record(
        conn,
        &user,
        actor,
        "user.update",
        format!("{} of {} changed", changed.join(", "), user.username),
    )
}

/// Gives a user another role of the company. Acts on their open sessions at once (the guard
/// reads the role on every request).
pub fn change_role(
    conn: &mut DbConnection,
    me: &Caller,
    user_id: UserId,
    role_id: Option<RoleId>,
) -> Result<(), AppError> {
    let (company_id, actor, actor_permissions) = (me.company_id, &me.actor, me.permissions());
    let user = get_actionable(conn, me, user_id)?;
    refuse_self(&user, actor, "change the role of")?;
    let mut errors = FieldErrors::default();
    let role = role_of_company(conn, company_id, role_id, &mut errors)?;
    errors.into_result()?;
    let Some(role) = role else {
        return Err(AppError::internal("validated role missing"));
    };
    if role.id == user.role_id {
        return Ok(());
    }
    ensure_grantable(conn, role.id, actor_permissions)?;
    if role.builtin.as_deref() != Some(role_domain::SUPERVISOR) {
        refuse_last_supervisor(conn, &user, "given another role")?;
    }
    if user.is_active() {
        let (before, after) = (
            role_domain::permissions_of(conn, user.role_id)?,
            role_domain::permissions_of(conn, role.id)?,
        );
        let lost = before.iter().filter(|p| !after.contains(*p)).collect();
        crate::domain::coverage::refuse_uncovering(conn, company_id, &[user.id], lost)?;
    }
    let old_name: String = roles::table
        .find(user.role_id)
        .select(roles::name)
        .first(conn)?;
    diesel::update(users::table.filter(users::id.eq(user.id)))
        .set((users::role_id.eq(role.id), users::updated_at.eq(now())))
        .execute(conn)?;
    let said = format!(
        "role of {} changed from {old_name} to {}",
        user.username, role.name
    );
    notifications::about_user(conn, me, user.id, "user.role_change", &said)?;
    record(conn, &user, actor, "user.role_change", said)
}

/// Temporarily removes a user's access: every session ends at once; history stays.
pub fn deactivate(conn: &mut DbConnection, me: &Caller, user_id: UserId) -> Result<(), AppError> {
    let actor = &me.actor;
    let user = get_actionable(conn, me, user_id)?;
    if !user.is_active() {
        return Ok(());
    }
    refuse_self(&user, actor, "deactivate")?;
    refuse_last_supervisor(conn, &user, "deactivated")?;
    let held = role_domain::permissions_of(conn, user.role_id)?;
    crate::domain::coverage::refuse_uncovering(conn, user.company_id, &[user.id], held)?;
    diesel::update(users::table.filter(users::id.eq(user.id)))
        .set((
            users::status.eq(UserStatus::Deactivated),
            users::updated_at.eq(now()),
        ))
        .execute(conn)?;
    let ended = sessions::revoke_all_for_user(conn, user.id, None, "user deactivated")?;
    notifications::about_user(
        conn,
        me,
        user.id,
        "user.deactivate",
        &format!("{} (@{}) was deactivated", user.display_name, user.username),
    )?;
    record(
        conn,
        &user,
        actor,
        "user.deactivate",
        format!(
            "{} deactivated; {} ended",
            user.username,
            count(ended, "session", "sessions")
        ),
    )
}

pub fn reactivate(conn: &mut DbConnection, me: &Caller, user_id: UserId) -> Result<(), AppError> {
    let actor = &me.actor;
    let user = get_actionable(conn, me, user_id)?;
    if user.is_active() {
        return Ok(());
    }
    diesel::update(users::table.filter(users::id.eq(user.id)))
        .set((
            users::status.eq(UserStatus::Active),
            users::updated_at.eq(now()),
        ))
        .execute(conn)?;
    record(
        conn,
        &user,
        actor,
        "user.reactivate",
        format!("{} reactivated", user.username),
    )
}

/// A temporary password that satisfies the company's policy.
fn temporary_password(
    policy: &PasswordPolicy,
    words: &PersonalWords<'_>,
) -> Result<String, AppError> {
    for _ in 0..10 {
        let random = crate::core::secrets::random_token();
        let length = policy
            .min_length
            .clamp(20, crate::core::passwords::MAX_LENGTH)
            - 4;
        let candidate = format!("Tmp-{}7a!", &random[..length.min(random.len())]);
        if policy.check(&candidate, words).is_empty() {
            return Ok(candidate);
        }
    }
    Err(AppError::internal(
        "cannot make a temporary password for this policy",
    ))
}

/// Sets a one-time temporary password (returned to show once), ends every session and forces
/// a change at the next sign-in. The password itself is never logged.
pub fn reset_password(
    conn: &mut DbConnection,
    me: &Caller,
    user_id: UserId,
) -> Result<(User, String), AppError> {
    let actor = &me.actor;
    let user = get_actionable(conn, me, user_id)?;
    refuse_self(&user, actor, "reset the password of")?;
    let company = company_domain::get(conn, me.company_id)?;
    let temporary = temporary_password(
        &company.password_policy(),
        &PersonalWords {
            username: &user.username,
            display_name: &user.display_name,
            company_code: &company.code,
        },
    )?;
    let at = now();
    diesel::update(users::table.filter(users::id.eq(user.id)))
        .set((
            users::password_hash.eq(Some(crate::core::passwords::hash(&temporary)?)),
            users::must_change_password.eq(true),
            users::password_changed_at.eq(at),
            users::failed_logins.eq(0),
            users::locked_until.eq(None::<NaiveDateTime>),
            users::updated_at.eq(at),
        ))
        .execute(conn)?;
    let ended = sessions::revoke_all_for_user(conn, user.id, None, "password reset")?;
    record(
        conn,
        &user,
        actor,
        "user.password_reset",
        format!(
            "temporary password set for {}; {} ended",
            user.username,
            count(ended, "session", "sessions")
        ),
    )?;
    Ok((user, temporary))
}

/// Lifts a lockout from failed sign-ins at once.
pub fn unlock(conn: &mut DbConnection, me: &Caller, user_id: UserId) -> Result<(), AppError> {
    let actor = &me.actor;
    let user = get_actionable(conn, me, user_id)?;
    diesel::update(users::table.filter(users::id.eq(user.id)))
        .set((
            users::failed_logins.eq(0),
            users::lockouts.eq(0),
            users::locked_until.eq(None::<NaiveDateTime>),
        ))
        .execute(conn)?;
    record(
        conn,
        &user,
        actor,
        "user.unlock",
        format!("{} unlocked", user.username),
    )
}

/// A password check the account may still make: the how-many-th since the last success.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckSlot(pub i32);

/// Reserves one password check before the password is looked at, atomically: the failure
/// counter goes up first (`UPDATE … RETURNING`, in the caller's write transaction, which
/// locks the row on PostgreSQL and the database on SQLite), so however many checks run at
/// once, at most `threshold` of them get a slot before the account locks. `None`: locked, or
/// every slot is taken; refuse without checking.
pub fn reserve_password_check(
    conn: &mut DbConnection,
    user_id: UserId,
    threshold: i32,
) -> Result<Option<CheckSlot>, AppError> {
    let at = now();
    let counted: Option<i32> = diesel::update(
        users::table
            .filter(users::id.eq(user_id))
            .filter(users::locked_until.is_null().or(users::locked_until.le(at))),
    )
    .set(users::failed_logins.eq(users::failed_logins + 1))
    .returning(users::failed_logins)
    .get_result(conn)
    .optional()?;
    Ok(counted
        .filter(|n| threshold <= 0 || *n <= threshold)
        .map(CheckSlot))
}

/// Settles a reserved check: a right password clears the count; the wrong one that used the
/// last slot locks the account for a growing period (1, 2, 4 … at most 15 minutes). Returns
/// true when this check locked it.
pub fn settle_password_check(
    conn: &mut DbConnection,
    user_id: UserId,
    slot: CheckSlot,
    password_ok: bool,
    threshold: i32,
) -> Result<bool, AppError> {
    if password_ok {
        diesel::update(users::table.filter(users::id.eq(user_id)))
            .set((
                users::failed_logins.eq(0),
                users::lockouts.eq(0),
                users::locked_until.eq(None::<NaiveDateTime>),
            ))
            .execute(conn)?;
        return Ok(false);
    }
    if threshold <= 0 || slot.0 < threshold {
        return Ok(false); // the reservation already counted it
    }
    let lockouts: i32 = users::table
        .find(user_id)
        .select(users::lockouts)
        .first(conn)?;
    let minutes = (1i64 << lockouts.clamp(0, 4)).min(15);
    diesel::update(users::table.filter(users::id.eq(user_id)))
        .set((
            users::failed_logins.eq(0),
            users::lockouts.eq(lockouts + 1),
            users::locked_until.eq(Some(now() + Duration::minutes(minutes))),
        ))
        .execute(conn)?;
    metrics::counter!("switchboard_lockouts_total").increment(1);
    Ok(true)
}

/// Gives back a reserved check that decided nothing yet (a right password that waits for its
/// two-factor code): the count is as it was before the reservation.
pub fn release_password_check(conn: &mut DbConnection, user_id: UserId) -> Result<(), AppError> {
    diesel::update(
        users::table
            .filter(users::id.eq(user_id))
            .filter(users::failed_logins.gt(0)),
    )
    .set(users::failed_logins.eq(users::failed_logins - 1))
    .execute(conn)?;
    Ok(())
}

pub fn record_successful_login(conn: &mut DbConnection, user_id: UserId) -> Result<(), AppError> {
    diesel::update(users::table.filter(users::id.eq(user_id)))
        .set(users::last_login_at.eq(Some(now())))
        .execute(conn)?;
    Ok(())
}

/// The signed-in user's own password change, as typed.
pub struct PasswordChange {
    pub current: String,
    pub new: String,
    pub confirm: String,
}

/// Checks the current password and the new one against the company's policy, then sets it
/// and ends the caller's other sessions. Field errors name `current_password`,
/// `new_password` (one per broken rule) and `confirm_password`. Call it outside a
/// transaction: it opens its own write transaction only after the checks, so the argon2
/// verification holds no write lock.
pub fn change_own_password(
    conn: &mut DbConnection,
    me: &Caller,
    keep_session: SessionId,
    change: &PasswordChange,
) -> Result<(), AppError> {
    let company = company_domain::get(conn, me.company_id)?;
    let user = get(conn, me.company_id, me.user_id())?;
    let threshold = company.lockout_threshold;
    let mut errors = FieldErrors::default();
    // guesses of the current password count like failed sign-ins: reserved, checked, settled
    let slot = crate::db::write_transaction(conn, |conn| {
        reserve_password_check(conn, user.id, threshold)
    })?;
    let Some(slot) = slot else {
        errors.add(
            "current_password",
            "Too many wrong passwords: your account is locked for a few minutes. Try again later.",
        );
        return Err(AppError::Fields(errors));
    };
    let current_ok = change.current.len() <= 1024
        && user
            .password_hash
            .as_deref()
            .is_some_and(|hash| crate::core::passwords::verify(&change.current, hash));
    crate::db::write_transaction(conn, |conn| {
        let locked = settle_password_check(conn, user.id, slot, current_ok, threshold)?;
        if !current_ok {
            record(
                conn,
                &user,
                &me.actor,
                "user.password_check_failed",
                format!("{} gave a wrong current password", user.username),
            )?;
        }
        if locked {
            record(
                conn,
                &user,
                &me.actor,
                "user.locked",
                format!("{} locked after {threshold} wrong passwords", user.username),
            )?;
        }
        Ok(())
    })?;
    if !current_ok {
        errors.add("current_password", "This is not your current password.");
    }
    let problems = company.password_policy().check(
        &change.new,
        &PersonalWords {
            username: &user.username,
            display_name: &user.display_name,
            company_code: &company.code,
        },
    );
    let policy_met = problems.is_empty();
    for problem in problems {
        errors.add("new_password", problem);
    }
    if policy_met && change.new == change.current {
        errors.add(
            "new_password",
            "Choose a password different from the current one.",
        );
    }
    if change.new != change.confirm {
        errors.add("confirm_password", "The two new passwords differ.");
    }
    errors.into_result()?;
    crate::db::write_transaction(conn, |conn| {
        set_password(conn, &user, &change.new, Some(keep_session), &me.actor)
    })
}

/// Replaces a user's password (already checked against the policy by the caller), ends
/// their other sessions and writes the audit record.
pub fn set_password(
    conn: &mut DbConnection,
    user: &User,
    new_password: &str,
    keep_session: Option<SessionId>,
    actor: &Actor,
) -> Result<(), AppError> {
    let password_hash = crate::core::passwords::hash(new_password)?;
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
    record(
        conn,
        user,
        actor,
        "user.password_change",
        format!(
            "password of {} changed; {} ended",
            user.username,
            count(ended, "other session", "other sessions")
        ),
    )
}

/// Filters of the team list.
#[derive(Clone, Debug, Default)]
pub struct UserFilter {
    /// Part of a name or username.
    pub q: Option<String>,
    pub role_id: Option<RoleId>,
    /// `active`, `deactivated` or `locked`.
    pub status: Option<String>,
    pub channel_id: Option<ChannelId>,
    pub order: UserOrder,
    /// Keyset cursor: the last user shown; the page holds the users after them in `order`.
    pub after: Option<UserId>,
}

/// The order of the team list.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum UserOrder {
    #[default]
    Username,
    /// By display name (people look for a name, not a login).
    Name,
    /// Longest since their last sign-in first, those who never signed in on top: who may no
    /// longer need access.
    LastSignIn,
}

impl UserOrder {
    /// The team list's `sort` parameter: `username`, `name` or `last_sign_in`.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "username" => Some(Self::Username),
            "name" => Some(Self::Name),
            "last_sign_in" => Some(Self::LastSignIn),
            _ => None,
        }
    }

    /// "by username": the order in words, for the line above the list.
    pub fn in_words(self) -> &'static str {
        match self {
            Self::Username => "by username",
            Self::Name => "by name",
            Self::LastSignIn => "longest since last sign-in first",
        }
    }
}

/// One row of the team list.
#[derive(Clone, Debug)]
pub struct UserListRow {
    pub id: UserId,
    pub username: String,
    pub display_name: String,
    pub role_name: String,
    pub status: UserStatus,
    pub availability: Availability,
    pub locked: bool,
    pub last_login_at: Option<NaiveDateTime>,
    /// Active, and no sign-in for the company's dormant period (counted from the account's
    /// creation when it never signed in).
    pub dormant: bool,
    /// Must change their password at next sign-in (and has not yet).
    pub must_change_password: bool,
    pub channels: Vec<String>,
    pub teams: Vec<String>,
}

pub const USER_PAGE_SIZE: i64 = 50;

/// A team list row as read, before its channels and teams are added.
#[derive(Queryable, Selectable)]
#[diesel(table_name = users)]
struct TeamListRead {
    id: UserId,
    username: String,
    display_name: String,
    #[diesel(select_expression = roles::name)]
    role_name: String,
    status: UserStatus,
    availability: Availability,
    locked_until: Option<NaiveDateTime>,
    last_login_at: Option<NaiveDateTime>,
    created_at: NaiveDateTime,
    must_change_password: bool,
}

type TeamListJoin = diesel::dsl::InnerJoin<users::table, roles::table>;

type TeamListPage = diesel::dsl::IntoBoxed<
    'static,
    diesel::dsl::Select<TeamListJoin, diesel::dsl::AsSelect<TeamListRead, crate::db::MultiBackend>>,
    crate::db::MultiBackend,
>;

/// One page of the team list, as the viewer asked for it: what its queries need to know
/// beyond the filter (the clock, the dormant line, the channel's members and the people a
/// team-limited role reaches), read once for the page and its count.
struct UserList<'f> {
    company_id: CompanyId,
    filter: &'f UserFilter,
    at: NaiveDateTime,
    dormant_before: NaiveDateTime,
    members: Option<Vec<UserId>>,
    reached: Option<Vec<UserId>>,
    /// Whether the list is read from SQLite, which folds case through `fold_case`.
    on_sqlite: bool,
}

impl<'f> UserList<'f> {
    fn read(
        conn: &mut DbConnection,
        me: &Caller,
        filter: &'f UserFilter,
    ) -> Result<Self, AppError> {
        let company_id = me.company_id;
        let at = now();
        let dormant_days: i32 = crate::db::schema::companies::table
            .find(company_id)
            .select(crate::db::schema::companies::dormant_after_days)
            .first(conn)?;
        let members: Option<Vec<UserId>> = match filter.channel_id {
            Some(channel_id) => Some(
                channel_members::table
                    .filter(channel_members::channel_id.eq(channel_id))
                    .select(channel_members::user_id)
                    .load(conn)?,
            ),
            None => None,
        };
        let reached: Option<Vec<UserId>> = match me.permissions().limited_to_teams() {
            // a role limited to its holder's teams sees them and the people of their teams only
            true => {
                let mut reached = team_domain::users_reached_by(conn, me.user_id())?;
                reached.push(me.user_id());
                Some(reached)
            }
            false => None,
        };
        Ok(Self {
            company_id,
            filter,
            at,
            dormant_before: at - chrono::Duration::days(i64::from(dormant_days)),
            members,
            reached,
            on_sqlite: matches!(conn, DbConnection::Sqlite(_)),
        })
    }

    /// The users the filter matches, in no order: one definition for the page and its count.
    fn matching(&self) -> diesel::dsl::IntoBoxed<'static, TeamListJoin, crate::db::MultiBackend> {
        let filter = self.filter;
        let mut query = users::table
            .inner_join(roles::table)
            .filter(users::company_id.eq(self.company_id))
            .filter(users::status.ne(UserStatus::Deleted))
            .into_boxed();
        if let Some(q) = crate::core::text::typed(filter.q.as_deref()) {
            query = if self.on_sqlite {
                // SQLite's lower() folds ASCII letters only: `çağ` finds `Çağla` through
                // fold_case, as lower() finds it on PostgreSQL
                let pattern = search::containing(&search::fold_case(q));
                query.filter(
                    search::fold_case_in_sql(users::username)
                        .like(pattern.clone())
                        .escape('\\')
                        .or(search::fold_case_in_sql(users::display_name)
                            .like(pattern)
                            .escape('\\')),
                )
            } else {
                let pattern = search::containing(q);
                query.filter(
                    search::lower(users::username)
                        .like(search::lower(pattern.clone()))
                        .escape('\\')
                        .or(search::lower(users::display_name)
                            .like(search::lower(pattern))
                            .escape('\\')),
                )
            };
        }
        if let Some(role_id) = filter.role_id {
            query = query.filter(users::role_id.eq(role_id));
        }
        let (at, dormant_before) = (self.at, self.dormant_before);
        match filter.status.as_deref() {
            Some("active") => query = query.filter(users::status.eq(UserStatus::Active)),
            Some("deactivated") => query = query.filter(users::status.eq(UserStatus::Deactivated)),
            Some("locked") => query = query.filter(users::locked_until.gt(at)),
            Some("dormant") => {
                query = query.filter(users::status.eq(UserStatus::Active)).filter(
                    users::last_login_at
                        .lt(dormant_before)
                        .or(users::last_login_at
                            .is_null()
                            .and(users::created_at.lt(dormant_before))),
                )
            }
            _ => {}
        }
        if let Some(members) = &self.members {
            query = query.filter(users::id.eq_any(members.clone()));
        }
        if let Some(reached) = &self.reached {
            query = query.filter(users::id.eq_any(reached.clone()));
        }
        query
    }

    /// The page itself: the matches after the cursor's user, in the filter's order.
    fn page(&self, conn: &mut DbConnection) -> Result<TeamListPage, AppError> {
        let filter = self.filter;
        // the sort keys of the last user shown: one the viewer may list (this company, within a
        // team-limited role's reach), or the page where a hidden user's keys would fall could
        // be read off the answer
        let after: Option<(String, String, Option<NaiveDateTime>, UserId)> = match filter.after {
            Some(id)
                if self
                    .reached
                    .as_ref()
                    .is_some_and(|reached| !reached.contains(&id)) =>
            {
                return Err(AppError::Invalid("The page cursor is not valid.".into()));
            }
            Some(id) => Some(
                users::table
                    .filter(users::company_id.eq(self.company_id))
                    .filter(users::id.eq(id))
                    .select((
                        users::username,
                        users::display_name,
                        users::last_login_at,
                        users::id,
                    ))
                    .first(conn)
                    .optional()?
                    .ok_or_else(|| AppError::Invalid("The page cursor is not valid.".into()))?,
            ),
            None => None,
        };
        let mut query = self
            .matching()
            .limit(crate::core::cursor::rows_to_read(USER_PAGE_SIZE));
        query = match filter.order {
            UserOrder::Username => query.order(users::username),
            UserOrder::Name => query.order((users::display_name, users::id)),
            // false before true: never signed in first, in both databases
            UserOrder::LastSignIn => query.order((
                users::last_login_at.is_not_null(),
                users::last_login_at,
                users::id,
            )),
        };
        if let Some((username, name, last_sign_in, id)) = after {
            query = match (filter.order, last_sign_in) {
                // usernames are unique in a company
                (UserOrder::Username, _) => query.filter(users::username.gt(username)),
                (UserOrder::Name, _) => query.filter(
                    users::display_name
                        .gt(name.clone())
                        .or(users::display_name.eq(name).and(users::id.gt(id))),
                ),
                (UserOrder::LastSignIn, None) => query.filter(
                    users::last_login_at
                        .is_not_null()
                        .or(users::last_login_at.is_null().and(users::id.gt(id))),
                ),
                (UserOrder::LastSignIn, Some(at)) => query.filter(
                    users::last_login_at
                        .gt(at)
                        .or(users::last_login_at.eq(at).and(users::id.gt(id))),
                ),
            };
        }
        Ok(query.select(TeamListRead::as_select()))
    }
}

/// How the database runs a page of the team list and its count, for the index test.
pub fn explain_user_list(
    conn: &mut DbConnection,
    me: &Caller,
    filter: &UserFilter,
) -> Result<Vec<(&'static str, String)>, AppError> {
    let list = UserList::read(conn, me, filter)?;
    let query = list.page(conn)?;
    let page = crate::db::explain::explain(conn, query)?;
    let count = crate::db::explain::explain(conn, list.matching().count())?;
    Ok(vec![("page", page), ("count", count)])
}
/// The company's users in the filter's order, `USER_PAGE_SIZE` at a time (keyset pagination
/// on the sort key and the id), with how many match the filter in all. Deleted users are left
/// out. Four queries per page at most (the cursor's row, the rows, their channels and teams,
/// the count).
pub fn user_list_page(
    conn: &mut DbConnection,
    me: &Caller,
    filter: &UserFilter,
) -> Result<(Page<UserListRow>, i64), AppError> {
    let list = UserList::read(conn, me, filter)?;
    let total: i64 = list.matching().count().get_result(conn)?;
    let read: Vec<TeamListRead> = list.page(conn)?.load(conn)?;
    let Page { rows, more } = Page::of(read, USER_PAGE_SIZE);
    let (at, dormant_before) = (list.at, list.dormant_before);
    let ids: Vec<UserId> = rows.iter().map(|r| r.id).collect();
    let memberships = memberships_of(conn, &ids)?;
    let teams = team_domain::names_of_users(conn, &ids)?;
    let rows = rows
        .into_iter()
        .map(|row| UserListRow {
            channels: memberships
                .iter()
                .filter(|m| m.user_id == row.id)
                .map(|m| m.channel_name.clone())
                .collect(),
            teams: teams
                .iter()
                .filter(|(user_id, _)| *user_id == row.id)
                .map(|(_, name)| name.clone())
                .collect(),
            locked: row.locked_until.is_some_and(|until| until > at),
            dormant: row.status == UserStatus::Active
                && row.last_login_at.unwrap_or(row.created_at) < dormant_before,
            id: row.id,
            username: row.username,
            display_name: row.display_name,
            role_name: row.role_name,
            status: row.status,
            availability: row.availability,
            must_change_password: row.must_change_password,
            last_login_at: row.last_login_at,
        })
        .collect();
    Ok((Page { rows, more }, total))
}

/// A user's membership of a channel, with the channel's name.
#[derive(Clone, Debug, Queryable)]
pub struct Membership {
    pub user_id: UserId,
    pub channel_id: ChannelId,
    pub channel_name: String,
    /// Whether routing gives them new chats on this channel.
    pub receives_new_chats: bool,
}

/// Every membership of these users, by channel name.
pub fn memberships_of(
    conn: &mut DbConnection,
    user_ids: &[UserId],
) -> Result<Vec<Membership>, AppError> {
    Ok(channel_members::table
        .inner_join(channels::table)
        .filter(channel_members::user_id.eq_any(user_ids))
        .order(channels::name)
        .select((
            channel_members::user_id,
            channels::id,
            channels::name,
            channel_members::receives_new_chats,
        ))
        .load(conn)?)
}

/// Everything the user page shows about one user.
pub struct Profile {
    pub user: User,
    pub role: role_domain::Role,
    pub permissions: PermissionSet,
    pub channels: Vec<Membership>,
    pub open_conversations: i64,
    pub open_call_tasks: i64,
    pub sessions: Vec<sessions::SessionRow>,
    pub last_supervisor: bool,
    /// The capacity that applies when the user has none of their own.
    pub default_capacity: i32,
    pub teams: Vec<String>,
    /// Signs in with a second factor.
    pub two_factor: bool,
}

impl Profile {
    /// The most open conversations routing gives them.
    pub fn capacity(&self) -> i32 {
        self.user.capacity.unwrap_or(self.default_capacity)
    }

    /// The channels where new chats come to them, or "no channel".
    pub fn receiving(&self) -> String {
        let names: Vec<&str> = self
            .channels
            .iter()
            .filter(|c| c.receives_new_chats)
            .map(|c| c.channel_name.as_str())
            .collect();
        if names.is_empty() {
            "no channel".into()
        } else {
            names.join(", ")
        }
    }
}

/// What the user page shows of a user the caller may see (`accounts::get_visible`).
pub fn profile(conn: &mut DbConnection, me: &Caller, user_id: UserId) -> Result<Profile, AppError> {
    let company_id = me.company_id;
    let user = get_visible(conn, me, user_id)?;
    let teams = team_domain::names_of_users(conn, &[user.id])?
        .into_iter()
        .map(|(_, name)| name)
        .collect();
    let role = role_domain::get(conn, company_id, user.role_id)?;
    let permissions = role_domain::permissions_of(conn, role.id)?;
    let channels = memberships_of(conn, &[user.id])?;
    let open_conversations = conversations::table
        .filter(conversations::assignee_id.eq(user.id))
        .filter(conversations::status.eq(ConversationStatus::Open))
        .count()
        .get_result(conn)?;
    let open_call_tasks = call_tasks::table
        .filter(call_tasks::assignee_id.eq(user.id))
        .filter(call_tasks::status.eq(CallStatus::Open))
        .count()
        .get_result(conn)?;
    let sessions = sessions::list_live_for_user(conn, user.id)?;
    let two_factor = crate::domain::two_factor::is_on(conn, user.id)?;
    let last_supervisor = is_last_supervisor(conn, &user)?;
    let default_capacity = crate::db::schema::companies::table
        .find(company_id)
        .select(crate::db::schema::companies::default_capacity)
        .first(conn)?;
    Ok(Profile {
        user,
        role,
        permissions,
        channels,
        open_conversations,
        open_call_tasks,
        sessions,
        last_supervisor,
        default_capacity,
        teams,
        two_factor,
    })
}

/// Sets the signed-in user's own time zone (an IANA name such as `Europe/Istanbul`): the days
/// and hours their reports count in.
pub fn set_own_time_zone(conn: &mut DbConnection, me: &Caller, name: &str) -> Result<(), AppError> {
    let Ok(zone) = name.trim().parse::<chrono_tz::Tz>() else {
        return Err(AppError::field(
            "time_zone",
            "Choose a time zone from the list.",
        ));
    };
    let user = get(conn, me.company_id, me.user_id())?;
    if user.time_zone == zone.name() {
        return Ok(());
    }
    diesel::update(users::table.find(user.id))
        .set((
            users::time_zone.eq(zone.name()),
            users::updated_at.eq(now()),
        ))
        .execute(conn)?;
    audit::Entry::new(me.company_id, &me.actor, "account.time_zone")
        .on("user", user.id, &user.username)
        .saying(format!(
            "{} changed their time zone from {} to {}",
            user.username,
            user.time_zone,
            zone.name()
        ))
        .write(conn)
}

/// Who a company-wide password change reached.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct PasswordRotation {
    /// Now asked to change their password at next sign-in.
    pub asked: usize,
    /// Left alone: the caller themselves, and those the caller may not act on.
    pub skipped: usize,
}

/// Makes every active user of the company (of `role_id`, when given) change their password
/// at their next request, but the caller and anyone the caller may not act on (counted as
/// skipped). Recorded with the counts.
pub fn require_password_change(
    conn: &mut DbConnection,
    me: &Caller,
    role_id: Option<RoleId>,
) -> Result<PasswordRotation, AppError> {
    let company_id = me.company_id;
    let mut errors = FieldErrors::default();
    let role = match role_id {
        Some(_) => role_of_company(conn, company_id, role_id, &mut errors)?,
        None => None,
    };
    errors.into_result()?;
    let mut query = users::table
        .filter(users::company_id.eq(company_id))
        .filter(users::status.eq(UserStatus::Active))
        .select(User::as_select())
        .into_boxed();
    if let Some(role) = &role {
        query = query.filter(users::role_id.eq(role.id));
    }
    let candidates: Vec<User> = query.load(conn)?;
    let mut rotation = PasswordRotation::default();
    let mut asked = Vec::new();
    for user in candidates {
        let may = user.id != me.user_id()
            && match crate::domain::accounts::ensure_may_act_on(conn, me, &user) {
                Ok(()) => true,
                Err(AppError::Forbidden | AppError::NotFound) => false,
                Err(other) => return Err(other),
            };
        if may {
            asked.push(user.id);
        } else {
            rotation.skipped += 1;
        }
    }
    rotation.asked = diesel::update(users::table.filter(users::id.eq_any(&asked)))
        .set((
            users::must_change_password.eq(true),
            users::updated_at.eq(now()),
        ))
        .execute(conn)?;
    let whom = role.map_or_else(|| "every user".to_string(), |r| format!("every {}", r.name));
    audit::Entry::new(company_id, &me.actor, "user.require_password_change")
        .on("company", company_id, &whom)
        .saying(format!(
            "{whom} must change their password at next sign-in: {} asked, {} skipped (the \
             person asking, and those they may not act on)",
            rotation.asked, rotation.skipped
        ))
        .write(conn)?;
    Ok(rotation)
}
