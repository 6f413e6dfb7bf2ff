//! A company's security settings: password policy, session timeouts, lockout.

use diesel::prelude::*;

use crate::db::DbConnection;
use crate::db::schema::companies;
use crate::domain::companies::Company;
use crate::domain::{Caller, audit, validate};
use crate::error::{AppError, FieldErrors};

/// The settings as the form sends them (text, validated here).
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct SettingsForm {
    #[serde(default)]
    pub password_min_length: String,
    #[serde(default)]
    pub password_require_upper: Option<String>,
    #[serde(default)]
    pub password_require_lower: Option<String>,
    #[serde(default)]
    pub password_require_digit: Option<String>,
    #[serde(default)]
    pub password_require_symbol: Option<String>,
    #[serde(default)]
    pub password_min_score: String,
    #[serde(default)]
    pub password_max_age_days: String,
    #[serde(default)]
    pub idle_timeout_minutes: String,
    #[serde(default)]
    pub session_lifetime_hours: String,
    #[serde(default)]
    pub lockout_threshold: String,
    #[serde(default)]
    pub end_session_on_client_change: Option<String>,
    #[serde(default)]
    pub reveal_daily_cap: String,
    #[serde(default)]
    pub missed_chat_minutes: String,
}

impl SettingsForm {
    pub fn from_company(company: &Company) -> Self {
        let flag = |on: bool| on.then(|| "on".to_string());
        Self {
            password_min_length: company.password_min_length.to_string(),
            password_require_upper: flag(company.password_require_upper),
            password_require_lower: flag(company.password_require_lower),
            password_require_digit: flag(company.password_require_digit),
            password_require_symbol: flag(company.password_require_symbol),
            password_min_score: company.password_min_score.to_string(),
            password_max_age_days: company.password_max_age_days.to_string(),
            idle_timeout_minutes: company.idle_timeout_minutes.to_string(),
            session_lifetime_hours: company.session_lifetime_hours.to_string(),
            lockout_threshold: company.lockout_threshold.to_string(),
            end_session_on_client_change: flag(company.end_session_on_client_change),
            reveal_daily_cap: company.reveal_daily_cap.to_string(),
            missed_chat_minutes: company.missed_chat_minutes.to_string(),
        }
    }
}

/// Validates and saves; every rule that fails is named beside its field, and nothing is saved.
pub fn update(conn: &mut DbConnection, me: &Caller, form: &SettingsForm) -> Result<(), AppError> {
    let (company_id, actor) = (me.company_id, &me.actor);
    let mut errors = FieldErrors::default();
    let mut number = |field: &'static str, value: &str, min: i32, max: i32, what: &str| {
        validate::number_in(value, min, max, what)
            .map_err(|message| errors.add(field, message))
            .unwrap_or(min)
    };
    let min_length = number(
        "password_min_length",
        &form.password_min_length,
        8,
        128,
        "Minimum length",
    );
    let min_score = number(
        "password_min_score",
        &form.password_min_score,
        0,
        4,
        "Strength score",
    );
    let max_age = number(
        "password_max_age_days",
        &form.password_max_age_days,
        0,
        3650,
        "Maximum age",
    );
    let idle = number(
        "idle_timeout_minutes",
        &form.idle_timeout_minutes,
        1,
        1440,
        "Idle timeout",
    );
    let lifetime = number(
        "session_lifetime_hours",
        &form.session_lifetime_hours,
        1,
        720,
        "Session lifetime",
    );
    let lockout = number(
        "lockout_threshold",
        &form.lockout_threshold,
        3,
        100,
        "Failed sign-ins before lockout",
    );
    let reveal_cap = number(
        "reveal_daily_cap",
        &form.reveal_daily_cap,
        0,
        1000,
        "Reveals per user per day",
    );
    let missed_after = number(
        "missed_chat_minutes",
        &form.missed_chat_minutes,
        1,
        10_080,
        "Minutes before a chat counts as missed",
    );
    if idle > lifetime.saturating_mul(60) {
        errors.add(
            "idle_timeout_minutes",
            "The idle timeout cannot be longer than the session lifetime.",
        );
    }
    errors.into_result()?;
    let flags = [
        form.password_require_upper.is_some(),
        form.password_require_lower.is_some(),
        form.password_require_digit.is_some(),
        form.password_require_symbol.is_some(),
    ];
    diesel::update(companies::table.find(company_id))
        .set((
            companies::password_min_length.eq(min_length),
            companies::password_require_upper.eq(flags[0]),
            companies::password_require_lower.eq(flags[1]),
            companies::password_require_digit.eq(flags[2]),
            companies::password_require_symbol.eq(flags[3]),
            companies::password_min_score.eq(min_score),
            companies::password_max_age_days.eq(max_age),
            companies::idle_timeout_minutes.eq(idle),
            companies::session_lifetime_hours.eq(lifetime),
            companies::lockout_threshold.eq(lockout),
            companies::end_session_on_client_change.eq(form.end_session_on_client_change.is_some()),
            companies::reveal_daily_cap.eq(reveal_cap),
            companies::missed_chat_minutes.eq(missed_after),
        ))
        .execute(conn)?;
    let code: String = companies::table
        .find(company_id)
        .select(companies::code)
        .first(conn)?;
    audit::Entry::new(company_id, actor, "settings.update").on("company", company_id, &code).saying(format!(
                "security settings: min length {min_length}, classes upper/lower/digit/symbol {flags:?}, \
                 min score {min_score}, max age {max_age} days, idle {idle} min, lifetime {lifetime} h, \
                 lockout after {lockout}, end sessions on client change {}, reveals per day {reveal_cap}, \
                 missed chat after {missed_after} min",
                form.end_session_on_client_change.is_some()
            ))
.write(conn)
}
