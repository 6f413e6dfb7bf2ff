//! Roles: named permission sets per company. Supervisor and Agent are built in and read-only.

use crate::db::one_of_company;
use crate::domain::validate;
use std::collections::HashMap;

use crate::core::ids::{CompanyId, RoleId, UserId};
use diesel::prelude::*;

use crate::core::permissions::{Permission, PermissionSet};
use crate::core::status::UserStatus;
use crate::db::DbConnection;
use crate::db::schema::{role_permissions, roles};
use crate::domain::{Caller, audit, now};
use crate::error::{AppError, FieldErrors};

pub const SUPERVISOR: &str = "supervisor";
pub const AGENT: &str = "agent";

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = roles)]
pub struct Role {
    pub id: RoleId,
    pub company_id: CompanyId,
    pub name: String,
    pub builtin: Option<String>,
    pub version: i64,
    /// "Only within my teams": `users.manage` and `channels.assign` stop at the holder's teams.
    pub teams_only: bool,
}

/// Inserts Supervisor (every permission) and Agent (the agent set) for a new company.
pub fn create_builtin(conn: &mut DbConnection, company_id: CompanyId) -> Result<(), AppError> {
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
    company_id: CompanyId,
    name: &str,
    builtin: Option<&str>,
    permissions: PermissionSet,
) -> Result<RoleId, AppError> {
    let at = now();
    let id: RoleId = diesel::insert_into(roles::table)
        .values((
            roles::company_id.eq(company_id),
            roles::name.eq(name),
            roles::builtin.eq(builtin),
            roles::teams_only.eq(permissions.limited_to_teams()),
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
    company_id: CompanyId,
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

pub fn list(conn: &mut DbConnection, company_id: CompanyId) -> Result<Vec<Role>, AppError> {
    Ok(roles::table
        .filter(roles::company_id.eq(company_id))
        .order((roles::builtin.is_null(), roles::name))
        .select(Role::as_select())
        .load(conn)?)
}

/// What a role grants: its permissions and its team limit.
pub fn permissions_of(conn: &mut DbConnection, role_id: RoleId) -> Result<PermissionSet, AppError> {
    Ok(permission_sets(conn, &[role_id])?
        .remove(&role_id)
        .unwrap_or_default())
}

/// The permission sets of several roles, in one query (a role without grants has the empty set).
pub fn permission_sets(
    conn: &mut DbConnection,
    role_ids: &[RoleId],
) -> Result<HashMap<RoleId, PermissionSet>, AppError> {
    let mut sets: HashMap<RoleId, PermissionSet> = role_ids
        .iter()
        .map(|id| (*id, PermissionSet::empty()))
        .collect();
    let grants: Vec<(RoleId, String)> = role_permissions::table
        .filter(role_permissions::role_id.eq_any(role_ids))
        .select((role_permissions::role_id, role_permissions::permission))
        .load(conn)?;
    for (role_id, key) in grants {
        if let Some(permission) = Permission::from_key(&key) {
            sets.entry(role_id).or_default().insert(permission);
        }
    }
    let limited: Vec<RoleId> = roles::table
        .filter(roles::id.eq_any(role_ids))
        .filter(roles::teams_only.eq(true))
        .select(roles::id)
        .load(conn)?;
    for role_id in limited {
        if let Some(set) = sets.get_mut(&role_id) {
            *set = set.with_teams_only(true);
        }
    }
    Ok(sets)
}

/// A user and their role, for lists that keep only those whose role can do something.
#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = crate::db::schema::users)]
pub struct UserWithRole {
    pub id: UserId,
    pub display_name: String,
    pub username: String,
    pub role_id: RoleId,
}

/// A role of the company, or 404 (also for another company's role).
pub fn get(
    conn: &mut DbConnection,
    company_id: CompanyId,
    role_id: RoleId,
) -> Result<Role, AppError> {
    Ok(one_of_company!(roles, role_id, company_id)
        .select(Role::as_select())
        .first(conn)?)
}

impl Role {
    pub fn is_builtin(&self) -> bool {
        self.builtin.is_some()
    }
}

/// A role with how many (not deleted) users hold it.
pub struct RoleSummary {
    pub role: Role,
    pub members: i64,
    pub permissions: PermissionSet,
}

/// Every role of the company with member counts and permissions (four queries).
pub fn list_with_counts(
    conn: &mut DbConnection,
    company_id: CompanyId,
) -> Result<Vec<RoleSummary>, AppError> {
    use crate::db::schema::users;
    let all = list(conn, company_id)?;
    let ids: Vec<RoleId> = all.iter().map(|r| r.id).collect();
    let counts: Vec<(RoleId, i64)> = users::table
        .filter(users::role_id.eq_any(&ids))
        .filter(users::status.ne(UserStatus::Deleted))
        .group_by(users::role_id)
        .select((users::role_id, diesel::dsl::count_star()))
        .load(conn)?;
    let sets = permission_sets(conn, &ids)?;
    Ok(all
        .into_iter()
        .map(|role| RoleSummary {
            members: counts
                .iter()
                .find(|(id, _)| *id == role.id)
                .map_or(0, |(_, n)| *n),
            permissions: sets.get(&role.id).copied().unwrap_or_default(),
            role,
        })
        .collect())
}

/// (id, display name, username) of the users who hold a role, deleted users left out.
/// A user holding a role, as the role page lists them.
#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = crate::db::schema::users)]
pub struct RoleMember {
    pub id: UserId,
    pub display_name: String,
    pub username: String,
}

pub fn members(
    conn: &mut DbConnection,
    company_id: CompanyId,
    role_id: RoleId,
) -> Result<Vec<RoleMember>, AppError> {
    use crate::db::schema::users;
    Ok(users::table
        .filter(users::company_id.eq(company_id))
        .filter(users::role_id.eq(role_id))
        .filter(users::status.ne(UserStatus::Deleted))
        .order(users::display_name)
        .select(RoleMember::as_select())
        .load(conn)?)
}

/// Parses submitted permission keys; unknown keys are a field error.
pub fn parse_permissions(keys: &[String], errors: &mut FieldErrors) -> PermissionSet {
    let mut set = PermissionSet::empty();
    for key in keys {
        match Permission::from_key(key) {
            Some(permission) => set.insert(permission),
            None => errors.add(
                "permissions",
                format!(
                    "'{}' is not a permission.",
                    key.chars().take(60).collect::<String>()
                ),
            ),
        }
    }
    set
}

/// Refuses to grant what the actor does not hold: no escalation through custom roles.
fn refuse_escalation(
    requested: PermissionSet,
    actor_permissions: PermissionSet,
) -> Result<(), AppError> {
    if actor_permissions.covers(requested) {
        Ok(())
    } else {
        Err(AppError::Forbidden)
    }
}

fn describe(set: PermissionSet) -> String {
    let keys: Vec<&str> = set.iter().map(Permission::key).collect();
    if keys.is_empty() {
        "none".into()
    } else {
        keys.join(", ")
    }
}

fn describe_limit(teams_only: bool) -> &'static str {
    if teams_only {
        "only within their teams"
    } else {
        "company-wide"
    }
}

/// Creates a custom role.
pub fn create_custom(
    conn: &mut DbConnection,
    me: &Caller,
    name: &str,
    permission_keys: &[String],
    teams_only: bool,
) -> Result<RoleId, AppError> {
    let (company_id, actor, actor_permissions) = (me.company_id, &me.actor, me.permissions());
    let mut errors = FieldErrors::default();
    let names = list(conn, company_id)?
        .into_iter()
        .map(|role| (role.id, role.name));
    let name = errors.check("name", validate::unique_name(name, "role", 50, names, None));
    let permissions = parse_permissions(permission_keys, &mut errors).with_teams_only(teams_only);
    errors.into_result()?;
    refuse_escalation(permissions, actor_permissions)?;
    let id = create(conn, company_id, &name, None, permissions)?;
    audit::Entry::new(company_id, actor, "role.create")
        .on("role", id, &name)
        .saying(format!(
            "role {name} created with {} ({})",
            describe(permissions),
            describe_limit(teams_only)
        ))
        .write(conn)?;
    Ok(id)
}

/// Renames a custom role and replaces its permissions; bumps its version so every open
/// session of its members, on every instance, uses the new set on its next request.
pub fn update_custom(
    conn: &mut DbConnection,
    me: &Caller,
    role_id: RoleId,
    name: &str,
    permission_keys: &[String],
    teams_only: bool,
) -> Result<(), AppError> {
    let (company_id, actor, actor_permissions) = (me.company_id, &me.actor, me.permissions());
    let role = get(conn, company_id, role_id)?;
    if role.is_builtin() {
        return Err(AppError::Conflict(format!(
            "{} is a built-in role and cannot be changed. Create a custom role instead.",
            role.name
        )));
    }
    let mut errors = FieldErrors::default();
    let names = list(conn, company_id)?
        .into_iter()
        .map(|role| (role.id, role.name));
    let name = errors.check(
        "name",
        validate::unique_name(name, "role", 50, names, Some(role.id)),
    );
    let permissions = parse_permissions(permission_keys, &mut errors).with_teams_only(teams_only);
    errors.into_result()?;
    let before = permissions_of(conn, role.id)?;
    // Who may act on whom, for roles: editing a role changes every member at once, so a role
    // holding a permission the actor lacks is not theirs to change (not even to strip it), and
    // nothing the actor lacks may be added.
    refuse_escalation(before, actor_permissions)?;
    refuse_escalation(permissions, actor_permissions)?;
    diesel::update(roles::table.filter(roles::id.eq(role.id)))
        .set((
            roles::name.eq(&name),
            roles::teams_only.eq(teams_only),
            roles::version.eq(roles::version + 1),
            roles::updated_at.eq(now()),
        ))
        .execute(conn)?;
    diesel::delete(role_permissions::table.filter(role_permissions::role_id.eq(role.id)))
        .execute(conn)?;
    for permission in permissions.iter() {
        diesel::insert_into(role_permissions::table)
            .values((
                role_permissions::role_id.eq(role.id),
                role_permissions::permission.eq(permission.key()),
            ))
            .execute(conn)?;
    }
    let added: PermissionSet = permissions
        .iter()
        .filter(|p| !before.contains(*p))
        .collect();
    let removed: PermissionSet = before
        .iter()
        .filter(|p| !permissions.contains(*p))
        .collect();
    let renamed = if name == role.name {
        String::new()
    } else {
        format!("renamed from {}; ", role.name)
    };
    let limit = if teams_only == role.teams_only {
        String::new()
    } else {
        format!(
            "; {} → {}",
            describe_limit(role.teams_only),
            describe_limit(teams_only)
        )
    };
    audit::Entry::new(company_id, actor, "role.update")
        .on("role", role.id, &name)
        .saying(format!(
            "role {name}: {renamed}added {}; removed {}{limit}",
            describe(added),
            describe(removed)
        ))
        .write(conn)
}

/// Deletes an empty custom role; a role still held by someone is a 409 naming them.
pub fn delete_custom(
    conn: &mut DbConnection,
    me: &Caller,
    role_id: RoleId,
) -> Result<(), AppError> {
    let (company_id, actor) = (me.company_id, &me.actor);
    use crate::db::schema::users;
    let role = get(conn, company_id, role_id)?;
    if role.is_builtin() {
        return Err(AppError::Conflict(format!(
            "{} is a built-in role and cannot be deleted.",
            role.name
        )));
    }
    let holders = members(conn, company_id, role.id)?;
    if !holders.is_empty() {
        let names: Vec<String> = holders
            .into_iter()
            .map(|m| format!("{} (@{})", m.display_name, m.username))
            .collect();
        return Err(AppError::Conflict(format!(
            "The role {} is still held by {}. Give them another role first.",
            role.name,
            names.join(", ")
        )));
    }
    // Deleted users keep a role id for history; they move to the built-in Agent role.
    let agent = list(conn, company_id)?
        .into_iter()
        .find(|r| r.builtin.as_deref() == Some(AGENT))
        .ok_or_else(|| AppError::internal("company without an Agent role"))?;
    diesel::update(users::table.filter(users::role_id.eq(role.id)))
        .set(users::role_id.eq(agent.id))
        .execute(conn)?;
    diesel::delete(role_permissions::table.filter(role_permissions::role_id.eq(role.id)))
        .execute(conn)?;
    diesel::delete(roles::table.filter(roles::id.eq(role.id))).execute(conn)?;
    audit::Entry::new(company_id, actor, "role.delete")
        .on("role", role.id, &role.name)
        .saying(format!("role {} deleted", role.name))
        .write(conn)
}
