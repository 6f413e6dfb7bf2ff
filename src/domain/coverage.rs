//! Backup coverage of critical permissions: the permissions a company names critical
//! (`companies.critical_permissions`, default `users.manage`, `roles.manage`,
//! `channels.assign`, `settings.manage`, `reports.view`, `sessions.manage`) always keep an
//! active holder — a deactivation, deletion, role change or role edit that would leave one
//! without is refused with 409 naming it (the last-supervisor rule, generalised) — and should
//! have two (`/settings` counts them, `/users` warns). A lockout is not a change of access and
//! is not counted.

use std::collections::BTreeMap;

use diesel::prelude::*;

use crate::core::ids::{CompanyId, UserId};
use crate::core::permissions::{Permission, PermissionSet};
use crate::core::status::UserStatus;
use crate::db::schema::{companies, role_permissions, users};
use crate::db::{DbConnection, LockSpace};
use crate::error::AppError;

/// The company's critical permissions, in catalog order.
pub fn critical(
    conn: &mut DbConnection,
    company_id: CompanyId,
) -> Result<Vec<Permission>, AppError> {
    let keys: String = companies::table
        .find(company_id)
        .select(companies::critical_permissions)
        .first(conn)?;
    Ok(parse(&keys))
}

/// The permissions named in a stored list (unknown keys are passed over).
pub fn parse(keys: &str) -> Vec<Permission> {
    let named: PermissionSet = PermissionSet::from_keys(keys.split(',').map(str::trim));
    Permission::ALL
        .into_iter()
        .filter(|p| named.contains(*p))
        .collect()
}

/// How many active users hold each critical permission (one query).
pub fn holders(
    conn: &mut DbConnection,
    company_id: CompanyId,
) -> Result<Vec<(Permission, i64)>, AppError> {
    let critical = critical(conn, company_id)?;
    let keys: Vec<&str> = critical.iter().map(|p| p.key()).collect();
    let counted: BTreeMap<String, i64> = users::table
        .inner_join(role_permissions::table.on(role_permissions::role_id.eq(users::role_id)))
        .filter(users::company_id.eq(company_id))
        .filter(users::status.eq(UserStatus::Active))
        .filter(role_permissions::permission.eq_any(&keys))
        .group_by(role_permissions::permission)
        .select((role_permissions::permission, diesel::dsl::count_star()))
        .load::<(String, i64)>(conn)?
        .into_iter()
        .collect();
    Ok(critical
        .into_iter()
        .map(|p| (p, counted.get(p.key()).copied().unwrap_or(0)))
        .collect())
}

/// The critical permissions held by fewer than two active users.
pub fn thin(
    conn: &mut DbConnection,
    company_id: CompanyId,
) -> Result<Vec<(Permission, i64)>, AppError> {
    Ok(holders(conn, company_id)?
        .into_iter()
        .filter(|(_, n)| *n < 2)
        .collect())
}

/// Refuses (409) a change after which a critical permission in `lost` would have no active
/// holder: `losing` are the users who lose `lost` (a deactivated user and all their role
/// holds; a user given another role and what the new one lacks; a role's members and what an
/// edit takes away). Serialised with every other such change of the company, so two
/// supervisors acting at once cannot both pass.
pub fn refuse_uncovering(
    conn: &mut DbConnection,
    company_id: CompanyId,
    losing: &[UserId],
    lost: PermissionSet,
) -> Result<(), AppError> {
    let at_risk: Vec<Permission> = critical(conn, company_id)?
        .into_iter()
        .filter(|p| lost.contains(*p))
        .collect();
    if at_risk.is_empty() || losing.is_empty() {
        return Ok(());
    }
    crate::db::serialize(conn, LockSpace::Supervisors, &company_id.to_string())?;
    for permission in at_risk {
        let remaining: i64 = users::table
            .inner_join(role_permissions::table.on(role_permissions::role_id.eq(users::role_id)))
            .filter(users::company_id.eq(company_id))
            .filter(users::status.eq(UserStatus::Active))
            .filter(users::id.ne_all(losing))
            .filter(role_permissions::permission.eq(permission.key()))
            .count()
            .get_result(conn)?;
        if remaining == 0 {
            return Err(AppError::Conflict(format!(
                "Nobody else would hold {} ({}), a critical permission of the company: give it \
                 to another active user first.",
                permission.key(),
                permission.name()
            )));
        }
    }
    Ok(())
}
