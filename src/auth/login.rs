//! Sign-in: company code + username + password. Every failure looks the same to the client
//! (one generic 401) and costs the same time; the reason goes to the login history only.

use crate::auth::password;
use crate::auth::session_store::LoginGrant;
use crate::db::{DbConnection, write_transaction};
use crate::domain::{companies, login_events, now, users};
use crate::error::AppError;

pub struct Credentials {
    pub company_code: String,
    pub username: String,
    pub password: String,
    pub ip: String,
    pub user_agent: String,
}

/// Why a sign-in failed, for the login history. Never shown to the person signing in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    UnknownCompany,
    UnknownUser,
    BadPassword,
    Deactivated,
    Locked,
}

impl Failure {
    pub fn reason(self) -> &'static str {
        match self {
            Self::UnknownCompany => "unknown_company",
            Self::UnknownUser => "unknown_user",
            Self::BadPassword => "bad_password",
            Self::Deactivated => "deactivated",
            Self::Locked => "locked",
        }
    }
}

/// Checks credentials (argon2: call from a blocking thread) and records the attempt.
pub fn authenticate(
    conn: &mut DbConnection,
    credentials: &Credentials,
) -> Result<Result<LoginGrant, Failure>, AppError> {
    let code = credentials.company_code.trim().to_uppercase();
    let username = credentials.username.trim().to_lowercase();
    let company = companies::find_by_code(conn, &code)?;
    let user = match &company {
        Some(company) => users::find_by_username(conn, company.id, &username)?,
        None => None,
    };

    // Verify before looking at status or lock, so every path spends one verification.
    let (outcome, user_id) = match (&company, &user) {
        (None, _) => {
            password::verify_dummy(&credentials.password);
            (Err(Failure::UnknownCompany), None)
        }
        (Some(_), None) => {
            password::verify_dummy(&credentials.password);
            (Err(Failure::UnknownUser), None)
        }
        (Some(_), Some(user)) => {
            let password_ok = match &user.password_hash {
                Some(hash) => password::verify(&credentials.password, hash),
                None => {
                    password::verify_dummy(&credentials.password);
                    false
                }
            };
            let outcome = if user.status == users::DELETED {
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
                    users::record_failed_login(conn, user, company.lockout_threshold)?;
                }
                Err(_) => {}
            }
        }
        login_events::record(
            conn,
            &login_events::Attempt {
                company_id: company.as_ref().map(|c| c.id),
                company_code: &code,
                username: &username,
                user_id,
                success: outcome.is_ok(),
                reason: outcome.err().map_or("ok", Failure::reason),
                ip: &credentials.ip,
                user_agent: &credentials.user_agent,
            },
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
