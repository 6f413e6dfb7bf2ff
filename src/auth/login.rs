//! Sign-in: company code + username + password. Every failure looks the same to the client
//! (one generic 401) and costs the same time; the reason goes to the login history only.

use crate::auth::password_work::PasswordWork;
use crate::auth::session_store::LoginGrant;
use crate::core::ids::{CompanyId, UserId};
use crate::core::status::UserStatus;
use crate::db::{self, DbConnection, Pool, write_transaction};
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
) -> Result<Result<LoginGrant, Failure>, AppError> {
    // a place for the check first: when the server is saturated, nothing is recorded
    let admission = passwords.admit()?;
    let credentials = std::sync::Arc::new(credentials);
    let creds = credentials.clone();
    let reserved = db::run(pool, move |conn| {
        write_transaction(conn, |conn| reserve(conn, &creds, ip_failure_limit))
    })
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
    db::run(pool, move |conn| {
        write_transaction(conn, |conn| {
            settle(conn, &credentials, reserved, password_ok)
        })
    })
    .await
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
) -> Result<Result<LoginGrant, Failure>, AppError> {
    let code = credentials.company_code.trim().to_uppercase();
    let username = credentials.username.trim().to_lowercase();
    let Reserved {
        event_id,
        company,
        user,
        slot,
    } = reserved;
    let outcome = match (&company, &user) {
        (None, _) => Err(Failure::UnknownCompany),
        (Some(_), None) => Err(Failure::UnknownUser),
        (Some(_), Some(user)) if user.status == UserStatus::Deleted => Err(Failure::UnknownUser),
        (Some(_), Some(user)) if !user.is_active() => Err(Failure::Deactivated),
        (Some(_), Some(_)) if slot.is_none() => Err(Failure::Locked),
        (Some(_), Some(_)) if !password_ok => Err(Failure::BadPassword),
        (Some(_), Some(_)) => Ok(()),
    };
    if let (Some(company), Some(user), Some(slot)) = (&company, &user, slot) {
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
            crate::domain::routing::set_availability(
                conn,
                user.company_id,
                user.id,
                crate::core::status::Availability::Online,
            )?;
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
