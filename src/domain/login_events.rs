//! Login history: every sign-in attempt with its outcome. Never a password, token or session id.

use diesel::prelude::*;

use crate::db::DbConnection;
use crate::db::schema::login_events;
use crate::domain::now;
use crate::error::AppError;

pub struct Attempt<'a> {
    pub company_id: Option<i64>,
    pub company_code: &'a str,
    pub username: &'a str,
    pub user_id: Option<i64>,
    pub success: bool,
    /// `ok`, `unknown_company`, `unknown_user`, `bad_password`, `deactivated`, `locked`.
    pub reason: &'a str,
    pub ip: &'a str,
    pub user_agent: &'a str,
}

fn clip(text: &str, max: usize) -> String {
    text.chars().filter(|c| !c.is_control()).take(max).collect()
}

pub fn record(conn: &mut DbConnection, attempt: &Attempt<'_>) -> Result<(), AppError> {
    diesel::insert_into(login_events::table)
        .values((
            login_events::company_id.eq(attempt.company_id),
            login_events::company_code.eq(clip(attempt.company_code, 64)),
            login_events::username.eq(clip(attempt.username, 64)),
            login_events::user_id.eq(attempt.user_id),
            login_events::success.eq(attempt.success),
            login_events::reason.eq(attempt.reason),
            login_events::ip.eq(clip(attempt.ip, 64)),
            login_events::user_agent.eq(clip(attempt.user_agent, 512)),
            login_events::created_at.eq(now()),
        ))
        .execute(conn)?;
    Ok(())
}
