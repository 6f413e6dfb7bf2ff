//! Companies (tenants) and their security settings.

use crate::core::ids::CompanyId;
use diesel::prelude::*;

use crate::core::masking::PhoneRegion;
use crate::core::passwords::PasswordPolicy;
use crate::db::DbConnection;
use crate::db::schema::companies;
use crate::domain::{Actor, audit, now, roles};
use crate::error::AppError;

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = companies)]
pub struct Company {
    pub id: CompanyId,
    pub code: String,
    pub name: String,
    pub password_min_length: i32,
    pub password_require_upper: bool,
    pub password_require_lower: bool,
    pub password_require_digit: bool,
    pub password_require_symbol: bool,
    pub password_min_score: i32,
    pub password_max_age_days: i32,
    pub idle_timeout_minutes: i32,
    pub session_lifetime_hours: i32,
    pub lockout_threshold: i32,
    pub reveal_daily_cap: i32,
    pub missed_chat_minutes: i32,
    pub end_session_on_client_change: bool,
    pub phone_region: String,
    /// Most open conversations routing gives a user whose own capacity is not set.
    pub default_capacity: i32,
    /// Minutes offline after which a user's open conversations are routed again (0: never).
    pub reroute_offline_minutes: i32,
    /// Adding permissions to a role in use waits for a second person's approval.
    pub approve_role_raises: bool,
    /// Changing the security settings waits for a second person's approval.
    pub approve_settings_changes: bool,
    /// An access review is due every 90 days.
    pub reviews_quarterly: bool,
    /// Days without a sign-in after which an account counts as dormant.
    pub dormant_after_days: i32,
    /// Days between regular access reviews.
    pub review_every_days: i32,
    /// Permissions that must keep an active holder (keys joined with ',').
    pub critical_permissions: String,
    /// Dormant accounts are deactivated automatically.
    pub deactivate_dormant: bool,
    /// Days message text is kept (None: for ever); older messages are emptied by the purge.
    pub retention_messages_days: Option<i32>,
    /// Days sign-in records are kept (None: for ever).
    pub retention_logins_days: Option<i32>,
    /// Days ended sessions are kept (None: for ever).
    pub retention_sessions_days: Option<i32>,
}

impl Company {
    pub fn phone_region(&self) -> PhoneRegion {
        PhoneRegion::from_stored(&self.phone_region)
    }

    pub fn password_policy(&self) -> PasswordPolicy {
        PasswordPolicy {
            min_length: usize::try_from(self.password_min_length).unwrap_or(12),
            require_upper: self.password_require_upper,
            require_lower: self.password_require_lower,
            require_digit: self.password_require_digit,
            require_symbol: self.password_require_symbol,
            min_score: u8::try_from(self.password_min_score).unwrap_or(3),
        }
    }
}

/// Company codes are typed at sign-in: upper-case letters, digits, '-' and '_', 2–32 long.
pub fn normalize_code(code: &str) -> Result<String, String> {
    let code = code.trim().to_uppercase();
    let valid_chars = code
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !(2..=32).contains(&code.len()) || !valid_chars {
        return Err("A company code is 2 to 32 letters, digits, '-' or '_'.".into());
    }
    Ok(code)
}

pub fn find_by_code(conn: &mut DbConnection, code: &str) -> Result<Option<Company>, AppError> {
    Ok(companies::table
        .filter(companies::code.eq(code.trim().to_uppercase()))
        .select(Company::as_select())
        .first(conn)
        .optional()?)
}

pub fn get(conn: &mut DbConnection, company_id: CompanyId) -> Result<Company, AppError> {
    Ok(companies::table
        .find(company_id)
        .select(Company::as_select())
        .first(conn)?)
}

/// The company's phone region as it stands in this transaction.
pub fn phone_region(
    conn: &mut DbConnection,
    company_id: CompanyId,
) -> Result<PhoneRegion, AppError> {
    let region: String = companies::table
        .find(company_id)
        .select(companies::phone_region)
        .first(conn)?;
    Ok(PhoneRegion::from_stored(&region))
}

/// Creates a company with its two built-in roles. Returns the company.
pub fn create(
    conn: &mut DbConnection,
    code: &str,
    name: &str,
    actor: &Actor,
) -> Result<Company, AppError> {
    let code = normalize_code(code).map_err(AppError::Invalid)?;
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(AppError::Invalid(
            "A company name is 1 to 100 characters.".into(),
        ));
    }
    if find_by_code(conn, &code)?.is_some() {
        return Err(AppError::Conflict(format!(
            "A company with the code {code} already exists."
        )));
    }
    let id: CompanyId = diesel::insert_into(companies::table)
        .values((
            companies::code.eq(&code),
            companies::name.eq(name),
            companies::created_at.eq(now()),
        ))
        .returning(companies::id)
        .get_result(conn)?;
    roles::create_builtin(conn, id)?;
    audit::Entry::new(id, actor, "company.create")
        .on("company", id, &code)
        .saying(format!("company {code} created"))
        .write(conn)?;
    get(conn, id)
}

pub fn list(conn: &mut DbConnection) -> Result<Vec<Company>, AppError> {
    Ok(companies::table
        .order(companies::code)
        .select(Company::as_select())
        .load(conn)?)
}
