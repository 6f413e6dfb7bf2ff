//! Two-factor sign-in (TOTP, RFC 6238): enrolment on `/account/two-factor`, the code that
//! follows a right password, recovery codes, turning it off, a supervisor's reset, and the
//! roles a company requires it of.
//!
//! The secret is sealed with the configured key (`core::sealing`), bound to its user, and is
//! shown only while enrolling: after that it is opened only to check a code. A code is
//! accepted once (the step of the last one used is kept); a recovery code once (its hash is
//! marked used). Without a key, enrolment is refused with a message that says so.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::core::ids::{RoleId, UserId};
use crate::core::sealing::SealingKey;
use crate::core::totp::{self, TotpSecret};
use crate::db::DbConnection;
use crate::db::schema::{roles, two_factor_challenges, two_factor_recovery_codes, users};
use crate::domain::{Caller, audit, now, sessions};
use crate::error::AppError;

/// The message when the server has no sealing key.
pub const NO_KEY: &str = "Two-factor sign-in is not available on this server yet: it needs a \
     secret key (SWITCHBOARD_SECRET_KEY or SWITCHBOARD_SECRET_KEY_FILE, see the README). Ask \
     whoever runs Switchboard.";

/// What seals a secret to its owner: a sealed secret copied to another user does not open.
fn owner(user_id: UserId) -> String {
    format!("two-factor:user:{user_id}")
}

fn unix(at: NaiveDateTime) -> u64 {
    u64::try_from(at.and_utc().timestamp()).unwrap_or(0)
}

fn key_or_refuse(key: Option<&SealingKey>) -> Result<&SealingKey, AppError> {
    key.ok_or_else(|| AppError::Conflict(NO_KEY.into()))
}

/// The two-factor state of one user, as their account page shows it.
pub enum Status {
    /// Not enrolled. `enrolment` is the secret to add to an app (absent without a key).
    Off { enrolment: Option<Enrolment> },
    /// Enrolled since `since`; `recovery_left` unused recovery codes; `required` by the role.
    On {
        since: NaiveDateTime,
        recovery_left: i64,
        required: bool,
    },
}

/// The secret being enrolled, shown once: as text and as a QR code.
pub struct Enrolment {
    pub secret_text: String,
    pub qr_svg: String,
}

type TwoFactorRow = (Option<String>, Option<String>, Option<NaiveDateTime>, bool);

fn row(conn: &mut DbConnection, user_id: UserId) -> Result<TwoFactorRow, AppError> {
    Ok(users::table
        .inner_join(roles::table)
        .filter(users::id.eq(user_id))
        .select((
            users::two_factor_secret,
            users::two_factor_pending,
            users::two_factor_enabled_at,
            roles::require_two_factor,
        ))
        .first(conn)?)
}

/// The signed-in user's state; when not enrolled (and a key is configured), the pending
/// secret to enrol — made now if there is none, kept if there is, so reloading the page does
/// not change the QR code an app may already have read.
pub fn status(
    conn: &mut DbConnection,
    me: &Caller,
    key: Option<&SealingKey>,
) -> Result<Status, AppError> {
    let user_id = me.viewer.user_id;
    let (secret, pending, enabled_at, required) = row(conn, user_id)?;
    if let (Some(_), Some(since)) = (secret, enabled_at) {
        let recovery_left = two_factor_recovery_codes::table
            .filter(two_factor_recovery_codes::user_id.eq(user_id))
            .filter(two_factor_recovery_codes::used_at.is_null())
            .count()
            .get_result(conn)?;
        return Ok(Status::On {
            since,
            recovery_left,
            required,
        });
    }
    let Some(key) = key else {
        return Ok(Status::Off { enrolment: None });
    };
    let opened = pending
        .as_deref()
        .and_then(|sealed| key.open(sealed, &owner(user_id)))
        .map(TotpSecret::from_bytes);
    let secret = match opened {
        Some(secret) => secret,
        None => {
            // only over what was read: two tabs opening the page at once keep one key (the
            // one that lost reads the winner's), so neither shows a QR code that cannot work
            let secret = TotpSecret::random();
            let sealed = Some(key.seal(secret.as_bytes(), &owner(user_id)));
            let mine = users::table
                .filter(users::id.eq(user_id))
                .filter(users::two_factor_secret.is_null());
            let replaced = match &pending {
                Some(old) => diesel::update(mine.filter(users::two_factor_pending.eq(old)))
                    .set(users::two_factor_pending.eq(sealed))
                    .execute(conn)?,
                None => diesel::update(mine.filter(users::two_factor_pending.is_null()))
                    .set(users::two_factor_pending.eq(sealed))
                    .execute(conn)?,
            };
            if replaced == 0 {
                return status(conn, me, Some(key));
            }
            secret
        }
    };
    let username: String = users::table
        .find(user_id)
        .select(users::username)
        .first(conn)?;
    let company_code: String = crate::db::schema::companies::table
        .find(me.company_id)
        .select(crate::db::schema::companies::code)
        .first(conn)?;
    let url = secret.otpauth_url(&format!("Switchboard {company_code}"), &username);
    Ok(Status::Off {
        enrolment: Some(Enrolment {
            secret_text: secret.base32(),
            qr_svg: totp::qr_svg(&url).unwrap_or_default(),
        }),
    })
}

/// Confirms enrolment with a code from the app: the pending secret becomes the user's, ten
/// recovery codes are made (returned once, stored hashed), and it is recorded. 422 for a
/// wrong code, 409 without a key or when already on.
pub fn confirm(
    conn: &mut DbConnection,
    me: &Caller,
    key: Option<&SealingKey>,
    code: &str,
) -> Result<Vec<String>, AppError> {
    let key = key_or_refuse(key)?;
    let user_id = me.viewer.user_id;
    let (secret, pending, _, _) = row(conn, user_id)?;
    if secret.is_some() {
        return Err(AppError::Conflict(
            "Two-factor sign-in is already on for your account.".into(),
        ));
    }
    let sealed = pending.ok_or_else(|| {
        AppError::Conflict("Open the two-factor page again to start enrolling.".into())
    })?;
    let pending_secret = key
        .open(&sealed, &owner(user_id))
        .map(TotpSecret::from_bytes)
        .ok_or_else(|| {
            AppError::Conflict(
                "The enrolment could not be read with this server's key; open the page again to start over."
                    .into(),
            )
        })?;
    let at = now();
    let Some(step) = pending_secret.matching_step(code, unix(at), None) else {
        return Err(AppError::field(
            "code",
            "That code did not match. Enter the 6-digit code your app shows now.",
        ));
    };
    let changed = diesel::update(
        users::table
            .filter(users::id.eq(user_id))
            .filter(users::two_factor_secret.is_null())
            .filter(users::two_factor_pending.eq(&sealed)),
    )
    .set((
        users::two_factor_secret.eq(Some(&sealed)),
        users::two_factor_pending.eq(None::<String>),
        users::two_factor_last_step.eq(Some(step as i64)),
        users::two_factor_enabled_at.eq(Some(at)),
    ))
    .execute(conn)?;
    if changed == 0 {
        return Err(AppError::Conflict(
            "Two-factor sign-in was set up meanwhile in another window.".into(),
        ));
    }
    let codes = replace_recovery_codes(conn, user_id)?;
    audit::Entry::new(me.company_id, &me.actor, "user.two_factor.enable")
        .on("user", user_id, &me.actor.username)
        .saying(format!(
            "{} turned on two-factor sign-in ({} recovery codes)",
            me.actor.username,
            codes.len()
        ))
        .write(conn)?;
    Ok(codes)
}

fn replace_recovery_codes(
    conn: &mut DbConnection,
    user_id: UserId,
) -> Result<Vec<String>, AppError> {
    diesel::delete(
        two_factor_recovery_codes::table.filter(two_factor_recovery_codes::user_id.eq(user_id)),
    )
    .execute(conn)?;
    let codes = totp::recovery_codes();
    for code in &codes {
        diesel::insert_into(two_factor_recovery_codes::table)
            .values((
                two_factor_recovery_codes::user_id.eq(user_id),
                two_factor_recovery_codes::code_hash.eq(totp::recovery_code_hash(code)),
            ))
            .execute(conn)?;
    }
    Ok(codes)
}

fn clear(conn: &mut DbConnection, user_id: UserId) -> Result<(), AppError> {
    diesel::update(users::table.find(user_id))
        .set((
            users::two_factor_secret.eq(None::<String>),
            users::two_factor_pending.eq(None::<String>),
            users::two_factor_last_step.eq(None::<i64>),
            users::two_factor_enabled_at.eq(None::<NaiveDateTime>),
        ))
        .execute(conn)?;
    diesel::delete(
        two_factor_recovery_codes::table.filter(two_factor_recovery_codes::user_id.eq(user_id)),
    )
    .execute(conn)?;
    diesel::delete(two_factor_challenges::table.filter(two_factor_challenges::user_id.eq(user_id)))
        .execute(conn)?;
    Ok(())
}

/// What a code proved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proof {
    /// A code from the app, now used.
    Code,
    /// A recovery code, now used; this many are left.
    RecoveryCode { left: i64 },
}

/// Checks a code from the app or a recovery code for an enrolled user, and uses it: neither is
/// accepted twice, even by two requests at once (the update is conditional). `None`: wrong,
/// used, or not enrolled.
pub fn use_code(
    conn: &mut DbConnection,
    key: Option<&SealingKey>,
    user_id: UserId,
    code: &str,
) -> Result<Option<Proof>, AppError> {
    let (secret, last_step): (Option<String>, Option<i64>) = users::table
        .find(user_id)
        .select((users::two_factor_secret, users::two_factor_last_step))
        .first(conn)?;
    let (Some(sealed), Some(key)) = (secret, key) else {
        return Ok(None);
    };
    let Some(secret) = key
        .open(&sealed, &owner(user_id))
        .map(TotpSecret::from_bytes)
    else {
        tracing::error!(user = %user_id, "a two-factor secret does not open with the configured key");
        return Ok(None);
    };
    let after = last_step.and_then(|s| u64::try_from(s).ok());
    if let Some(step) = secret.matching_step(code, unix(now()), after) {
        let step = step as i64;
        let used = diesel::update(
            users::table.filter(users::id.eq(user_id)).filter(
                users::two_factor_last_step
                    .is_null()
                    .or(users::two_factor_last_step.lt(step)),
            ),
        )
        .set(users::two_factor_last_step.eq(Some(step)))
        .execute(conn)?;
        return Ok((used == 1).then_some(Proof::Code));
    }
    let used = diesel::update(
        two_factor_recovery_codes::table
            .filter(two_factor_recovery_codes::user_id.eq(user_id))
            .filter(two_factor_recovery_codes::code_hash.eq(totp::recovery_code_hash(code)))
            .filter(two_factor_recovery_codes::used_at.is_null()),
    )
    .set(two_factor_recovery_codes::used_at.eq(Some(now())))
    .execute(conn)?;
    if used == 0 {
        return Ok(None);
    }
    let left = two_factor_recovery_codes::table
        .filter(two_factor_recovery_codes::user_id.eq(user_id))
        .filter(two_factor_recovery_codes::used_at.is_null())
        .count()
        .get_result(conn)?;
    Ok(Some(Proof::RecoveryCode { left }))
}

/// Turns two-factor sign-in off for oneself, proven with a current code or a recovery code.
/// 409 when the role requires it; 422 for a wrong code. Recorded.
pub fn disable(
    conn: &mut DbConnection,
    me: &Caller,
    key: Option<&SealingKey>,
    code: &str,
) -> Result<(), AppError> {
    let user_id = me.viewer.user_id;
    let (secret, _, _, required) = row(conn, user_id)?;
    if secret.is_none() {
        return Err(AppError::Conflict(
            "Two-factor sign-in is not on for your account.".into(),
        ));
    }
    if required {
        return Err(AppError::Conflict(
            "Your role requires two-factor sign-in, so it stays on. A supervisor can reset it if \
             you lose your phone."
                .into(),
        ));
    }
    let key = key_or_refuse(key)?;
    if use_code(conn, Some(key), user_id, code)?.is_none() {
        return Err(AppError::field(
            "code",
            "That code did not match. Enter the code your app shows now, or a recovery code.",
        ));
    }
    clear(conn, user_id)?;
    audit::Entry::new(me.company_id, &me.actor, "user.two_factor.disable")
        .on("user", user_id, &me.actor.username)
        .saying(format!(
            "{} turned off two-factor sign-in",
            me.actor.username
        ))
        .write(conn)
}

/// A supervisor's reset of someone's second factor (a lost phone): off, recovery codes gone,
/// every session of theirs ended; they enrol again at their next sign-in if their role
/// requires it. Under the rule of who may act on whom, never on oneself. 409 when it is not on.
pub fn reset(conn: &mut DbConnection, me: &Caller, user_id: UserId) -> Result<(), AppError> {
    let user = crate::domain::accounts::get_actionable(conn, me, user_id)?;
    if me.actor.user_id == Some(user.id) {
        return Err(AppError::Conflict(
            "You cannot reset your own second factor: turn it off on your account page.".into(),
        ));
    }
    let (secret, pending, _, _) = row(conn, user.id)?;
    if secret.is_none() && pending.is_none() {
        return Err(AppError::Conflict(format!(
            "{} has no second factor to reset.",
            user.username
        )));
    }
    clear(conn, user.id)?;
    let ended = sessions::revoke_all_for_user(conn, user.id, None, "second factor reset")?;
    audit::Entry::new(me.company_id, &me.actor, "user.two_factor.reset")
        .on("user", user.id, &user.username)
        .saying(format!(
            "two-factor sign-in of {} reset; {ended} session(s) ended",
            user.username
        ))
        .write(conn)
}

/// Whether a user has enrolled (for the user page).
pub fn is_on(conn: &mut DbConnection, user_id: UserId) -> Result<bool, AppError> {
    Ok(users::table
        .find(user_id)
        .select(users::two_factor_enabled_at.is_not_null())
        .first(conn)?)
}

/// Sets which roles of the company require two-factor sign-in (`role_ids`: the ticked ones;
/// a value that is not one of the company's roles is a 422). Requiring it without a sealing
/// key is refused (409): nobody could enrol, so nobody could work. Recorded; returns whether
/// anything changed. Holders without a second factor are sent to enrol at their next page.
pub fn require_for_roles(
    conn: &mut DbConnection,
    me: &Caller,
    key_present: bool,
    role_ids: &[Option<RoleId>],
) -> Result<bool, AppError> {
    let company_roles: Vec<(RoleId, String, bool)> = roles::table
        .filter(roles::company_id.eq(me.company_id))
        .order(roles::id)
        .select((roles::id, roles::name, roles::require_two_factor))
        .load(conn)?;
    let mut chosen = Vec::with_capacity(role_ids.len());
    for id in role_ids {
        match id.filter(|id| company_roles.iter().any(|(role, _, _)| role == id)) {
            Some(id) => chosen.push(id),
            None => return Err(AppError::field("role_ids", "Choose roles from the list.")),
        }
    }
    let names = |ids: &mut dyn Iterator<Item = RoleId>| -> String {
        let list: Vec<&str> = ids
            .filter_map(|id| company_roles.iter().find(|(r, _, _)| *r == id))
            .map(|(_, name, _)| name.as_str())
            .collect();
        if list.is_empty() {
            "none".into()
        } else {
            list.join(", ")
        }
    };
    let before: Vec<RoleId> = company_roles
        .iter()
        .filter(|(_, _, required)| *required)
        .map(|(id, _, _)| *id)
        .collect();
    let mut after: Vec<RoleId> = company_roles
        .iter()
        .map(|(id, _, _)| *id)
        .filter(|id| chosen.contains(id))
        .collect();
    after.dedup();
    if before == after {
        return Ok(false);
    }
    if !after.is_empty() && !key_present {
        return Err(AppError::Conflict(NO_KEY.into()));
    }
    diesel::update(roles::table.filter(roles::company_id.eq(me.company_id)))
        .set(roles::require_two_factor.eq(false))
        .execute(conn)?;
    diesel::update(roles::table.filter(roles::id.eq_any(&after)))
        .set(roles::require_two_factor.eq(true))
        .execute(conn)?;
    audit::Entry::new(me.company_id, &me.actor, "settings.two_factor")
        .about("company", "two-factor sign-in")
        .saying(format!(
            "two-factor sign-in required of: {} (was: {})",
            names(&mut after.iter().copied()),
            names(&mut before.iter().copied())
        ))
        .write(conn)?;
    Ok(true)
}
