//! Roles: named permission sets per company. Supervisor and Agent are built in and read-only.

use diesel::prelude::*;

use crate::access::permissions::{Permission, PermissionSet};
use crate::db::DbConnection;
use crate::db::schema::{role_permissions, roles};
use crate::domain::now;
use crate::error::AppError;

pub const SUPERVISOR: &str = "supervisor";
pub const AGENT: &str = "agent";

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = roles)]
pub struct Role {
    pub id: i64,
    pub company_id: i64,
    pub name: String,
    pub builtin: Option<String>,
    pub version: i64,
}

/// Inserts Supervisor (every permission) and Agent (the agent set) for a new company.
pub fn create_builtin(conn: &mut DbConnection, company_id: i64) -> Result<(), AppError> {
    create(
        conn,
        company_id,
        "Supervisor",
        Some(SUPERVISOR),
        PermissionSet::all(),
    )?;
    create(
        conn,
        company_id,
        "Agent",
        Some(AGENT),
        Permission::AGENT.into_iter().collect(),
    )?;
    Ok(())
}

/// Creates a role with its permissions; returns its id.
pub fn create(
    conn: &mut DbConnection,
    company_id: i64,
    name: &str,
    builtin: Option<&str>,
    permissions: PermissionSet,
) -> Result<i64, AppError> {
    let at = now();
    let id: i64 = diesel::insert_into(roles::table)
        .values((
            roles::company_id.eq(company_id),
            roles::name.eq(name),
            roles::builtin.eq(builtin),
            roles::created_at.eq(at),
            roles::updated_at.eq(at),
        ))
        .returning(roles::id)
        .get_result(conn)?;
    // One row at a time: diesel's multi-backend connection has no batch insert (≤ 20 rows).
    for permission in permissions.iter() {
        diesel::insert_into(role_permissions::table)
            .values((
                role_permissions::role_id.eq(id),
                role_permissions::permission.eq(permission.key()),
            ))
            .execute(conn)?;
    }
    Ok(id)
}

/// The role of a company by its name (case-insensitive), or 404.
pub fn find_by_name(
    conn: &mut DbConnection,
    company_id: i64,
    name: &str,
) -> Result<Role, AppError> {
    let wanted = name.trim().to_lowercase();
    roles::table
        .filter(roles::company_id.eq(company_id))
        .select(Role::as_select())
        .load(conn)?
        .into_iter()
        .find(|role| role.name.to_lowercase() == wanted)
        .ok_or(AppError::NotFound)
}

pub fn list(conn: &mut DbConnection, company_id: i64) -> Result<Vec<Role>, AppError> {
    Ok(roles::table
        .filter(roles::company_id.eq(company_id))
        .order((roles::builtin.is_null(), roles::name))
        .select(Role::as_select())
        .load(conn)?)
}

pub fn permissions_of(conn: &mut DbConnection, role_id: i64) -> Result<PermissionSet, AppError> {
    let keys: Vec<String> = role_permissions::table
        .filter(role_permissions::role_id.eq(role_id))
        .select(role_permissions::permission)
        .load(conn)?;
    Ok(PermissionSet::from_keys(keys.iter().map(String::as_str)))
}

/// A role of the company, or 404 (also for another company's role).
pub fn get(conn: &mut DbConnection, company_id: i64, role_id: i64) -> Result<Role, AppError> {
    Ok(roles::table
        .filter(roles::id.eq(role_id))
        .filter(roles::company_id.eq(company_id))
        .select(Role::as_select())
        .first(conn)?)
}

impl Role {
    pub fn is_builtin(&self) -> bool {
        self.builtin.is_some()
    }
}
