//! Sign-in: company code + username + password. Every failure looks the same to the client
//! (one generic 401) and costs the same time; the reason goes to the login history only.

use crate::auth::password_work::PasswordWork;
use crate::auth::session_store::LoginGrant;
use crate::core::ids::{CompanyId, UserId};
use crate::core::status::UserStatus;
use crate::db::schema::two_factor_challenges;
use crate::db::{self, DbConnection, Pool};
use crate::domain::{Actor, audit, companies, login_events, now, two_factor, users};
use crate::error::AppError;
use diesel::prelude::*;

pub struct Credentials {
    pub company_code: String,
    pub username: String,
    pub password: String,
    pub ip: String,
    pub user_agent: String,
    /// From the GeoIP database, when one is configured.
    pub location: Option<String>,
    /// Where to go once signed in (already checked to be a local path); kept with a
    /// two-factor challenge.
    pub next: String,
}

/// A right password leads to a session, or, for a user with two-factor sign-in, to the code.
#[derive(Debug)]
pub enum SignedIn {
    Session(LoginGrant),
    /// The browser keeps `token` (a cookie) and is asked for the code at `/login/two-factor`.
    CodeRequired {
        token: String,
    },
}

/// How long a right password waits for its code.
pub const CHALLENGE_MINUTES: i64 = 5;

/// Failed sign-ins one address may make within `THROTTLE_WINDOW` before it is refused with
/// 429. Counted in the login history, so the limit holds across every instance. A whole office
/// behind one address must survive a few typos: never configure it below 30.
pub use crate::config::DEFAULT_IP_FAILURE_LIMIT;
pub const THROTTLE_WINDOW_MINUTES: i64 = 10;

/// Why a sign-in failed, for the login history. Never shown to the person signing in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    UnknownCompany,
    UnknownUser,
    BadPassword,
    Deactivated,
    Locked,
    /// Too many failures from this address: try again after this many seconds (429).
    Throttled {
        retry_after_secs: u64,
    },
    /// Not a failure of the password: it was right, and the two-factor code comes next.
    CodeRequired,
    /// A wrong or used two-factor code (counted like a wrong password).
    BadCode,
    /// The two-factor step without a live challenge (expired, used, another browser).
    NoChallenge,
}

impl Failure {
    pub fn reason(self) -> &'static str {
        match self {
            Self::UnknownCompany => "unknown_company",
            Self::UnknownUser => "unknown_user",
            Self::BadPassword => "bad_password",
            Self::Deactivated => "deactivated",
            Self::Locked => "locked",
            Self::Throttled { .. } => "throttled",
            Self::CodeRequired => "code_required",
            Self::BadCode => "bad_code",
            Self::NoChallenge => "no_challenge",
        }
    }
}

/// What the reservation found, for the check and its settlement.
struct Reserved {
    event_id: i64,
    company: Option<companies::Company>,
    user: Option<users::User>,
    /// The account's check slot; `None` when it is locked or out of slots.
    slot: Option<users::CheckSlot>,
}

/// Signs in: (1) a short write transaction reserves the attempt — one of the address's checks
/// for the window and one of the account's before it locks; (2) the password is verified on a
/// blocking thread with no database connection held; (3) a second short transaction settles
/// the result. However many attempts arrive at once, at most the address's limit and the
/// account's threshold are checked.
pub async fn sign_in(
    pool: &Pool,
    passwords: &PasswordWork,
    credentials: Credentials,
    ip_failure_limit: i64,
) -> Result<Result<SignedIn, Failure>, AppError> {
    // a place for the check first: when the server is saturated, nothing is recorded
    let admission = passwords.admit()?;
    let credentials = std::sync::Arc::new(credentials);
    let creds = credentials.clone();
    // a reservation shows on no page and in no cache: a flood of attempts moves nothing
    let reserved = db::write_seen_when(
        pool,
        move |conn| reserve(conn, &creds, ip_failure_limit),
        |_| false,
    )
    .await?;
    let reserved = match reserved {
        Ok(reserved) => reserved,
        Err(throttled) => return Ok(Err(throttled)),
    };
    // every path spends one verification, so timing tells nothing about the account
    let password = credentials.password.clone();
    let hash = reserved
        .user
        .as_ref()
        .filter(|_| reserved.slot.is_some())
        .and_then(|user| user.password_hash.clone());
    let password_ok = passwords
        .run(&admission, move |memory| match hash {
            Some(hash) => crate::core::passwords::verify_reusing(&password, &hash, memory),
            None => {
                crate::core::passwords::verify_dummy_reusing(&password, memory);
                false
            }
        })
        .await?;
    let settled = db::write_seen_when(
        pool,
        move |conn| settle(conn, &credentials, reserved, password_ok),
        Routed::shown,
    )
    .await?;
    Ok(settled.map(|signed_in| signed_in.value))
}

/// A sign-in that succeeded, and whether its person coming online routed queued chats to
/// someone. That is the one part of a sign-in a live page shows (the inbox, its counters), so
/// only then does it wake the live pages and retire the inbox caches: a storm of sign-ins
/// otherwise kept every inbox cache empty. Its other writes (the login record, the account's
/// counters, the availability, the session) are on no page that is live or cached.
struct Routed<T> {
    value: T,
    routed: bool,
}

impl<T> Routed<T> {
    fn shown(outcome: &Result<Self, Failure>) -> bool {
        outcome.as_ref().is_ok_and(|signed_in| signed_in.routed)
    }
}

/// Phase 1: the address's check (or 429) and the account's slot.
fn reserve(
    conn: &mut DbConnection,
    credentials: &Credentials,
    ip_failure_limit: i64,
) -> Result<Result<Reserved, Failure>, AppError> {
    let code = credentials.company_code.trim().to_uppercase();
    let username = credentials.username.trim().to_lowercase();
    let company = companies::find_by_code(conn, &code)?;
    let since = now() - chrono::Duration::minutes(THROTTLE_WINDOW_MINUTES);
    let pending = attempt(credentials, None, &code, &username, None, Ok(()));
    let event_id = match login_events::reserve_check(conn, &pending, ip_failure_limit, since)? {
        Ok(event_id) => event_id,
        Err(oldest) => {
            let free_at =
                oldest.unwrap_or(since) + chrono::Duration::minutes(THROTTLE_WINDOW_MINUTES);
            let retry_after_secs = u64::try_from((free_at - now()).num_seconds())
                .unwrap_or(0)
                .max(1);
            let failure = Failure::Throttled { retry_after_secs };
            let company_id = company.as_ref().map(|c| c.id);
            login_events::record(
                conn,
                &attempt(
                    credentials,
                    company_id,
                    &code,
                    &username,
                    None,
                    Err(failure),
                ),
            )?;
            if let Some(company) = &company {
                audit::count_refusal(
                    conn,
                    audit::Refused {
                        company_id: company.id,
                        actor: &system_actor(credentials),
                        kind: "login.throttled",
                        subject: format!("address:{}", credentials.ip),
                        label: &credentials.ip,
                        target_type: "address",
                        target_label: &credentials.ip,
                        summary: format!(
                            "sign-in refused: {ip_failure_limit} failures from {} in {THROTTLE_WINDOW_MINUTES} minutes",
                            credentials.ip
                        ),
                    },
                )?;
            }
            return Ok(Err(failure));
        }
    };
    let user = match &company {
        Some(company) => users::find_by_username(conn, company.id, &username)?,
        None => None,
    };
    let slot = match (&company, &user) {
        (Some(company), Some(user)) if user.is_active() => {
            users::reserve_password_check(conn, user.id, company.lockout_threshold)?
        }
        _ => None,
    };
    Ok(Ok(Reserved {
        event_id,
        company,
        user,
        slot,
    }))
}

/// Phase 3: the outcome, the account's counters and the login history.
fn settle(
    conn: &mut DbConnection,
    credentials: &Credentials,
    reserved: Reserved,
    password_ok: bool,
) -> Result<Result<Routed<SignedIn>, Failure>, AppError> {
    let code = credentials.company_code.trim().to_uppercase();
    let username = credentials.username.trim().to_lowercase();
    let Reserved {
        event_id,
        company,
        user,
        slot,
    } = reserved;
    let mut routed = false;
    let outcome = match (&company, &user) {
        (None, _) => Err(Failure::UnknownCompany),
        (Some(_), None) => Err(Failure::UnknownUser),
        (Some(_), Some(user)) if user.status == UserStatus::Deleted => Err(Failure::UnknownUser),
        (Some(_), Some(user)) if !user.is_active() => Err(Failure::Deactivated),
        (Some(_), Some(_)) if slot.is_none() => Err(Failure::Locked),
        (Some(_), Some(_)) if !password_ok => Err(Failure::BadPassword),
        (Some(_), Some(user)) if two_factor::is_on(conn, user.id)? => Err(Failure::CodeRequired),
        (Some(_), Some(_)) => Ok(()),
    };
    if let (Err(Failure::CodeRequired), Some(user)) = (outcome, &user) {
        // the password proves half: the account's count neither grows nor clears until the
        // code is checked, so entering the password again never buys more guesses at it
        users::release_password_check(conn, user.id)?;
    } else if let (Some(company), Some(user), Some(slot)) = (&company, &user, slot) {
        let threshold = company.lockout_threshold;
        if users::settle_password_check(conn, user.id, slot, password_ok, threshold)? {
            audit::Entry::new(company.id, &system_actor(credentials), "user.locked")
                .on("user", user.id, &user.username)
                .saying(format!(
                    "{} locked after {threshold} failed sign-ins",
                    user.username
                ))
                .write(conn)?;
        }
        if outcome.is_ok() {
            users::record_successful_login(conn, user.id)?;
            // signing in is coming to work: new chats may come (and queued ones do)
            routed = crate::domain::routing::set_availability(
                conn,
                user.company_id,
                user.id,
                crate::core::status::Availability::Online,
            )?
            .routed
                > 0;
        }
    }
    let company_id = company.as_ref().map(|c| c.id);
    let user_id = user.as_ref().map(|u| u.id);
    login_events::settle(
        conn,
        event_id,
        &attempt(credentials, company_id, &code, &username, user_id, outcome),
    )?;
    Ok(match (outcome, company, user) {
        (Ok(()), Some(company), Some(user)) => Ok(Routed {
            value: SignedIn::Session(LoginGrant {
                user_id: user.id,
                company_id: company.id,
                ip: credentials.ip.clone(),
                user_agent: credentials.user_agent.clone(),
            }),
            routed,
        }),
        (Err(Failure::CodeRequired), Some(company), Some(user)) => {
            let token = crate::core::secrets::random_token();
            let at = now();
            // one challenge per user at a time
            diesel::delete(
                two_factor_challenges::table.filter(two_factor_challenges::user_id.eq(user.id)),
            )
            .execute(conn)?;
            diesel::insert_into(two_factor_challenges::table)
                .values((
                    two_factor_challenges::token_hash.eq(crate::core::secrets::sha256_hex(&token)),
                    two_factor_challenges::company_id.eq(company.id),
                    two_factor_challenges::user_id.eq(user.id),
                    two_factor_challenges::ip.eq(&credentials.ip),
                    two_factor_challenges::user_agent.eq(&credentials.user_agent),
                    two_factor_challenges::next.eq(&credentials.next),
                    two_factor_challenges::created_at.eq(at),
                    two_factor_challenges::expires_at
                        .eq(at + chrono::Duration::minutes(CHALLENGE_MINUTES)),
                ))
                .execute(conn)?;
            Ok(Routed {
                value: SignedIn::CodeRequired { token },
                routed: false,
            })
        }
        (Err(failure), _, _) => Err(failure),
        // cannot happen (the outcome is Ok only with both), and is no sign-in if it did
        (Ok(()), _, _) => Err(Failure::UnknownUser),
    })
}

/// The most wrong two-factor codes an account takes before it locks, whatever its company's
/// password lockout says.
pub const MAX_CODE_GUESSES: i32 = 10;

/// The lockout threshold for codes: the company's, at most [`MAX_CODE_GUESSES`], and never
/// off (a company may turn the password lockout off; six digits cannot go without one).
fn code_lockout_threshold(company_threshold: i32) -> i32 {
    if company_threshold <= 0 {
        MAX_CODE_GUESSES
    } else {
        company_threshold.min(MAX_CODE_GUESSES)
    }
}

/// The code step of a sign-in with two-factor, as typed at `/login/two-factor`.
pub struct CodeAttempt {
    /// The challenge's token, from the browser's cookie.
    pub token: String,
    pub code: String,
    pub ip: String,
    pub user_agent: String,
    pub location: Option<String>,
}

/// Checks the code that follows a right password, under the same address throttle and
/// account lockout as passwords: a wrong code counts as a wrong password. On success the
/// challenge is used up and the session is granted, with where to go next. One short write
/// transaction (a code costs no slow hash).
pub async fn second_factor(
    pool: &Pool,
    key: Option<crate::core::sealing::SealingKey>,
    attempt: CodeAttempt,
    ip_failure_limit: i64,
) -> Result<Result<(LoginGrant, String), Failure>, AppError> {
    let checked = db::write_seen_when(
        pool,
        move |conn| check_code(conn, key.as_ref(), &attempt, ip_failure_limit),
        Routed::shown,
    )
    .await?;
    Ok(checked.map(|signed_in| signed_in.value))
}

fn check_code(
    conn: &mut DbConnection,
    key: Option<&crate::core::sealing::SealingKey>,
    attempt: &CodeAttempt,
    ip_failure_limit: i64,
) -> Result<Result<Routed<(LoginGrant, String)>, Failure>, AppError> {
    let at = now();
    let challenge: Option<(i64, CompanyId, UserId, String, String, String)> =
        two_factor_challenges::table
            .filter(
                two_factor_challenges::token_hash
                    .eq(crate::core::secrets::sha256_hex(&attempt.token)),
            )
            .filter(two_factor_challenges::expires_at.gt(at))
            .select((
                two_factor_challenges::id,
                two_factor_challenges::company_id,
                two_factor_challenges::user_id,
                two_factor_challenges::ip,
                two_factor_challenges::user_agent,
                two_factor_challenges::next,
            ))
            .first(conn)
            .optional()?;
    // bound to the browser that gave the password
    let Some((challenge_id, company_id, user_id, ip, user_agent, next)) =
        challenge.filter(|c| c.3 == attempt.ip && c.4 == attempt.user_agent)
    else {
        return Ok(Err(Failure::NoChallenge));
    };
    let Some(company) = companies::get(conn, company_id).ok() else {
        return Ok(Err(Failure::NoChallenge));
    };
    let Some(user) = crate::domain::accounts::get(conn, company_id, user_id).ok() else {
        return Ok(Err(Failure::NoChallenge));
    };
    let credentials = Credentials {
        company_code: company.code.clone(),
        username: user.username.clone(),
        password: String::new(),
        ip,
        user_agent,
        location: attempt.location.clone(),
        next: next.clone(),
    };
    let since = at - chrono::Duration::minutes(THROTTLE_WINDOW_MINUTES);
    let pending = self::attempt(
        &credentials,
        Some(company_id),
        &company.code,
        &user.username,
        Some(user_id),
        Ok(()),
    );
    let event_id = match login_events::reserve_check(conn, &pending, ip_failure_limit, since)? {
        Ok(event_id) => event_id,
        Err(oldest) => {
            let free_at =
                oldest.unwrap_or(since) + chrono::Duration::minutes(THROTTLE_WINDOW_MINUTES);
            let retry_after_secs = u64::try_from((free_at - at).num_seconds())
                .unwrap_or(0)
                .max(1);
            return Ok(Err(Failure::Throttled { retry_after_secs }));
        }
    };
    // a code is six digits: however the company sets its lockout (or turns it off), codes
    // get at most MAX_CODE_GUESSES tries before the account locks
    let threshold = code_lockout_threshold(company.lockout_threshold);
    let slot = if user.is_active() {
        users::reserve_password_check(conn, user.id, threshold)?
    } else {
        None
    };
    let proof = match slot {
        Some(_) => two_factor::use_code(conn, key, user.id, &attempt.code)?,
        None => None,
    };
    let outcome = match (&slot, &proof) {
        _ if !user.is_active() => Err(Failure::Deactivated),
        (None, _) => Err(Failure::Locked),
        (Some(_), None) => Err(Failure::BadCode),
        (Some(_), Some(_)) => Ok(()),
    };
    if let Some(slot) = slot
        && users::settle_password_check(conn, user.id, slot, outcome.is_ok(), threshold)?
    {
        audit::Entry::new(company.id, &system_actor(&credentials), "user.locked")
            .on("user", user.id, &user.username)
            .saying(format!(
                "{} locked after {threshold} failed sign-ins (two-factor codes)",
                user.username
            ))
            .write(conn)?;
    }
    login_events::settle(
        conn,
        event_id,
        &self::attempt(
            &credentials,
            Some(company_id),
            &company.code,
            &user.username,
            Some(user_id),
            outcome,
        ),
    )?;
    if let Err(failure) = outcome {
        return Ok(Err(failure));
    }
    // a challenge signs in once: of two right codes racing (a code and a recovery code), the
    // second finds it gone (PostgreSQL makes it wait for the first's commit; SQLite serialises)
    if diesel::delete(two_factor_challenges::table.find(challenge_id)).execute(conn)? == 0 {
        return Ok(Err(Failure::NoChallenge));
    }
    users::record_successful_login(conn, user.id)?;
    let routed = crate::domain::routing::set_availability(
        conn,
        company_id,
        user.id,
        crate::core::status::Availability::Online,
    )?
    .routed
        > 0;
    if let Some(two_factor::Proof::RecoveryCode { left }) = proof {
        audit::Entry::new(
            company.id,
            &system_actor(&credentials),
            "user.two_factor.recovery_used",
        )
        .on("user", user.id, &user.username)
        .saying(format!(
            "{} signed in with a recovery code; {left} left",
            user.username
        ))
        .write(conn)?;
    }
    Ok(Ok(Routed {
        value: (
            LoginGrant {
                user_id: user.id,
                company_id,
                ip: credentials.ip.clone(),
                user_agent: credentials.user_agent.clone(),
            },
            next,
        ),
        routed,
    }))
}

fn attempt<'a>(
    credentials: &'a Credentials,
    company_id: Option<CompanyId>,
    code: &'a str,
    username: &'a str,
    user_id: Option<UserId>,
    outcome: Result<(), Failure>,
) -> login_events::Attempt<'a> {
    login_events::Attempt {
        company_id,
        company_code: code,
        username,
        user_id,
        success: outcome.is_ok(),
        reason: outcome.err().map_or("ok", Failure::reason),
        ip: &credentials.ip,
        user_agent: &credentials.user_agent,
        location: credentials.location.as_deref(),
    }
}

/// Records made by the sign-in machinery itself, from the client's address.
fn system_actor(credentials: &Credentials) -> Actor {
    Actor {
        user_id: None,
        username: "system".into(),
        ip: credentials.ip.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_lock_within_ten_guesses_whatever_the_company_says() {
        // a company without a lockout (0) still locks codes
        assert_eq!(code_lockout_threshold(0), MAX_CODE_GUESSES);
        assert_eq!(code_lockout_threshold(-1), MAX_CODE_GUESSES);
        // a stricter company is kept; a laxer one is capped
        assert_eq!(code_lockout_threshold(1), 1);
        assert_eq!(code_lockout_threshold(5), 5);
        assert_eq!(code_lockout_threshold(MAX_CODE_GUESSES), MAX_CODE_GUESSES);
        assert_eq!(code_lockout_threshold(30), MAX_CODE_GUESSES);
    }

    #[test]
    fn each_failure_has_its_own_reason_in_the_history() {
        // stored in the login history and offered as its filter: the words are data
        let reasons = [
            (Failure::UnknownCompany, "unknown_company"),
            (Failure::UnknownUser, "unknown_user"),
            (Failure::BadPassword, "bad_password"),
            (Failure::Deactivated, "deactivated"),
            (Failure::Locked, "locked"),
            (
                Failure::Throttled {
                    retry_after_secs: 5,
                },
                "throttled",
            ),
            (Failure::CodeRequired, "code_required"),
            (Failure::BadCode, "bad_code"),
            (Failure::NoChallenge, "no_challenge"),
        ];
        for (failure, reason) in reasons {
            assert_eq!(failure.reason(), reason);
        }
    }
}
