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
    /// Its holders must sign in with a second factor (`/settings`).
    pub require_two_factor: bool,
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

/// What became of a role edit.
#[derive(Debug, PartialEq, Eq)]
pub enum RoleChange {
    Applied,
    /// It raises a role in use where the company wants a second person: it waits as this
    /// approval request, applied once approved.
    Requested(crate::core::ids::ApprovalId),
}

/// What a role-raise request applies once approved.
#[derive(serde::Serialize, serde::Deserialize)]
struct Raise {
    name: String,
    permissions: Vec<String>,
    teams_only: bool,
    /// The role's version when asked: a role changed since is not changed by an old request.
    version: i64,
}

/// Renames a custom role and replaces its permissions; bumps its version so every open
/// session of its members, on every instance, uses the new set on its next request. Where the
/// company asks for it, a change that lets a role in use do more (a permission added, the team
/// limit lifted) waits for a second person's approval instead.
pub fn update_custom(
    conn: &mut DbConnection,
    me: &Caller,
    role_id: RoleId,
    name: &str,
    permission_keys: &[String],
    teams_only: bool,
) -> Result<RoleChange, AppError> {
    let (company_id, actor_permissions) = (me.company_id, me.permissions());
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
    let raises = !before.covers(permissions);
    if raises
        && !members(conn, company_id, role.id)?.is_empty()
        && raises_need_approval(conn, company_id)?
    {
        use crate::core::status::ApprovalKind;
        // one waiting raise per role, also when two are asked at once
        crate::db::serialize(conn, crate::db::LockSpace::RoleRaise, &role.id.to_string())?;
        if crate::domain::approvals::pending_about(
            conn,
            company_id,
            ApprovalKind::RoleRaise,
            role.id.0,
        )?
        .is_some()
        {
            return Err(AppError::Conflict(format!(
                "A change of the role {} already waits for approval: decide or withdraw it first.",
                role.name
            )));
        }
        let raise = Raise {
            name: name.clone(),
            permissions: permissions.iter().map(|p| p.key().to_string()).collect(),
            teams_only,
            version: role.version,
        };
        let payload = serde_json::to_string(&raise)
            .map_err(|err| AppError::internal(format!("role raise payload: {err}")))?;
        let (added, _) = difference(before, permissions);
        let lifted = if before.limited_to_teams() && !teams_only {
            "; the team limit lifted"
        } else {
            ""
        };
        let id = crate::domain::approvals::open_with(
            conn,
            me,
            ApprovalKind::RoleRaise,
            role.id.0,
            Permission::RolesManage,
            &format!("role {}: add {}{lifted}", role.name, describe(added)),
            Some(&payload),
        )?;
        return Ok(RoleChange::Requested(id));
    }
    apply_update(conn, me, &role, &name, permissions, before)?;
    Ok(RoleChange::Applied)
}

fn raises_need_approval(conn: &mut DbConnection, company_id: CompanyId) -> Result<bool, AppError> {
    use crate::db::schema::companies;
    Ok(companies::table
        .find(company_id)
        .select(companies::approve_role_raises)
        .first(conn)?)
}

/// (added, removed) from `before` to `after`.
fn difference(before: PermissionSet, after: PermissionSet) -> (PermissionSet, PermissionSet) {
    (
        after.iter().filter(|p| !before.contains(*p)).collect(),
        before.iter().filter(|p| !after.contains(*p)).collect(),
    )
}

/// Writes a checked role change, its version bump and its record.
fn apply_update(
    conn: &mut DbConnection,
    me: &Caller,
    role: &Role,
    name: &str,
    permissions: PermissionSet,
    before: PermissionSet,
) -> Result<(), AppError> {
    let (company_id, actor) = (me.company_id, &me.actor);
    let teams_only = permissions.limited_to_teams();
    // taking a permission from a role takes it from every active member at once
    let (_, taken) = difference(before, permissions);
    if taken.iter().next().is_some() {
        use crate::db::schema::users;
        let holders: Vec<UserId> = users::table
            .filter(users::company_id.eq(company_id))
            .filter(users::role_id.eq(role.id))
            .filter(users::status.eq(UserStatus::Active))
            .select(users::id)
            .load(conn)?;
        crate::domain::coverage::refuse_uncovering(conn, company_id, &holders, taken)?;
    }
    diesel::update(roles::table.filter(roles::id.eq(role.id)))
        .set((
            roles::name.eq(name),
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
    let (added, removed) = difference(before, permissions);
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
        .on("role", role.id, name)
        .saying(format!(
            "role {name}: {renamed}added {}; removed {}{limit}",
            describe(added),
            describe(removed)
        ))
        .write(conn)
}

/// Decides a waiting raise of a role: by another holder of `roles.manage` who also holds
/// everything it grants (403 otherwise); approved, it is applied in the same transaction, as
/// that person's change — unless the role changed since it was asked (409).
pub fn decide_raise(
    conn: &mut DbConnection,
    me: &Caller,
    role_id: RoleId,
    approve: bool,
    reason: &str,
) -> Result<(), AppError> {
    use crate::core::status::ApprovalKind;
    let role = get(conn, me.company_id, role_id)?;
    let Some(request) = crate::domain::approvals::pending_about(
        conn,
        me.company_id,
        ApprovalKind::RoleRaise,
        role.id.0,
    )?
    else {
        return Err(AppError::Conflict(
            "No change of this role waits for a decision.".into(),
        ));
    };
    let raise: Raise = serde_json::from_str(request.payload.as_deref().unwrap_or(""))
        .map_err(|err| AppError::internal(format!("role raise payload: {err}")))?;
    let permissions = PermissionSet::from_keys(raise.permissions.iter().map(String::as_str))
        .with_teams_only(raise.teams_only);
    let before = permissions_of(conn, role.id)?;
    refuse_escalation(permissions, me.permissions())?;
    refuse_escalation(before, me.permissions())?;
    if approve && role.version != raise.version {
        return Err(AppError::Conflict(format!(
            "The role {} changed after this was asked: reject it and ask again.",
            role.name
        )));
    }
    crate::domain::approvals::decide(
        conn,
        me,
        ApprovalKind::RoleRaise,
        role.id.0,
        approve,
        reason,
    )?;
    if approve {
        apply_update(conn, me, &role, &raise.name, permissions, before)?;
    }
    Ok(())
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
