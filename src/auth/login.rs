//! Sign-in: company code + username + password. Every failure looks the same to the client
//! (one generic 401) and costs the same time; the reason goes to the login history only.

use crate::auth::session_store::LoginGrant;
use crate::core::ids::{CompanyId, UserId};
use crate::core::passwords;
use crate::core::status::UserStatus;
use crate::db::{DbConnection, write_transaction};
use crate::domain::{Actor, audit, companies, login_events, now, users};
use crate::error::AppError;

pub struct Credentials {
    pub company_code: String,
    pub username: String,
    pub password: String,
    pub ip: String,
    pub user_agent: String,
    /// From the GeoIP database, when one is configured.
    pub location: Option<String>,
}

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
        }
    }
}

/// Checks credentials (argon2: call from a blocking thread) and records the attempt.
pub fn authenticate(
    conn: &mut DbConnection,
    credentials: &Credentials,
    ip_failure_limit: i64,
) -> Result<Result<LoginGrant, Failure>, AppError> {
    let code = credentials.company_code.trim().to_uppercase();
    let username = credentials.username.trim().to_lowercase();
    let company = companies::find_by_code(conn, &code)?;

    // The address is refused before any password is looked at.
    let since = now() - chrono::Duration::minutes(THROTTLE_WINDOW_MINUTES);
    let (failures, oldest) = login_events::failures_from(conn, &credentials.ip, since)?;
    if failures > ip_failure_limit {
        let free_at = oldest.unwrap_or(since) + chrono::Duration::minutes(THROTTLE_WINDOW_MINUTES);
        let retry_after_secs = u64::try_from((free_at - now()).num_seconds())
            .unwrap_or(0)
            .max(1);
        let failure = Failure::Throttled { retry_after_secs };
        write_transaction(conn, |conn| {
            login_events::record(
                conn,
                &attempt(
                    credentials,
                    company.as_ref().map(|c| c.id),
                    &code,
                    &username,
                    None,
                    Err(failure),
                ),
            )?;
            if let Some(company) = &company {
                let summary = format!(
                    "sign-in refused: {failures} failures from {} in {THROTTLE_WINDOW_MINUTES} minutes",
                    credentials.ip
                );
                audit::Entry::new(company.id, &system_actor(credentials), "login.throttled")
                    .about("address", &credentials.ip)
                    .saying(summary)
                    .write(conn)?;
            }
            Ok(())
        })?;
        return Ok(Err(failure));
    }
    let user = match &company {
        Some(company) => users::find_by_username(conn, company.id, &username)?,
        None => None,
    };

    // Verify before looking at status or lock, so every path spends one verification.
    let (outcome, user_id) = match (&company, &user) {
        (None, _) => {
            passwords::verify_dummy(&credentials.password);
            (Err(Failure::UnknownCompany), None)
        }
        (Some(_), None) => {
            passwords::verify_dummy(&credentials.password);
            (Err(Failure::UnknownUser), None)
        }
        (Some(_), Some(user)) => {
            let password_ok = match &user.password_hash {
                Some(hash) => passwords::verify(&credentials.password, hash),
                None => {
                    passwords::verify_dummy(&credentials.password);
                    false
                }
            };
            let outcome = if user.status == UserStatus::Deleted {
                Err(Failure::UnknownUser)
            } else if !user.is_active() {
                Err(Failure::Deactivated)
            } else if user.is_locked(now()) {
                Err(Failure::Locked)
            } else if !password_ok {
                Err(Failure::BadPassword)
            } else {
                Ok(())
            };
            (outcome, Some(user.id))
        }
    };

    write_transaction(conn, |conn| {
        if let (Some(company), Some(user)) = (&company, &user) {
            match outcome {
                Ok(()) => users::record_successful_login(conn, user.id)?,
                Err(Failure::BadPassword) => {
                    if users::record_failed_login(conn, user, company.lockout_threshold)? {
                        audit::Entry::new(company.id, &system_actor(credentials), "user.locked")
                            .on("user", user.id, &user.username)
                            .saying(format!(
                                "{} locked after {} failed sign-ins",
                                user.username, company.lockout_threshold
                            ))
                            .write(conn)?;
                    }
                }
                Err(_) => {}
            }
        }
        login_events::record(
            conn,
            &attempt(
                credentials,
                company.as_ref().map(|c| c.id),
                &code,
                &username,
                user_id,
                outcome,
            ),
        )
    })?;

    Ok(match (outcome, company, user) {
        (Ok(()), Some(company), Some(user)) => Ok(LoginGrant {
            user_id: user.id,
            company_id: company.id,
            ip: credentials.ip.clone(),
            user_agent: credentials.user_agent.clone(),
        }),
        (Err(failure), _, _) => Err(failure),
        _ => Err(Failure::UnknownUser),
    })
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
