//! `/roles` (`roles.manage`): custom roles built from page permissions. Built-in roles are
//! shown read-only; the domain refuses changes to them, escalation, and deleting roles in use.

use crate::error::FieldsApart;
use actix_web::web::Path;
use askama::Template;
use serde::Deserialize;

use crate::core::ids::RoleId;
use crate::core::permissions::{Permission, PermissionSet};
use crate::domain::roles::{self, Role, RoleMember, RoleSummary};
use crate::error::FieldErrors;
use crate::web::layout::Layout;
use crate::web::{Answer, Cx, Form, form_page};

/// The role form as sent: a name and the checked permission keys.
#[derive(Clone, Default, Deserialize)]
#[serde(default)]
pub struct RoleForm {
    name: String,
    permissions: Vec<String>,
    /// The "only within my teams" flag (`teams_only=true`).
    teams_only: bool,
}

impl RoleForm {
    /// The boxes to show checked again (unknown keys are the domain's to report).
    fn checked(&self) -> PermissionSet {
        roles::parse_permissions(&self.permissions, &mut FieldErrors::default())
    }
}

pub struct MatrixItem {
    key: &'static str,
    name: &'static str,
    description: &'static str,
    checked: bool,
    /// The viewer may grant it (they hold it themselves).
    grantable: bool,
}

pub struct MatrixGroup {
    label: &'static str,
    items: Vec<MatrixItem>,
}

/// The permission catalog grouped by page, for the checkbox matrix.
fn matrix(checked: PermissionSet, viewer: PermissionSet) -> Vec<MatrixGroup> {
    let mut groups: Vec<MatrixGroup> = Vec::new();
    for permission in Permission::ALL {
        let item = MatrixItem {
            key: permission.key(),
            name: permission.name(),
            description: permission.description(),
            checked: checked.contains(permission),
            grantable: viewer.contains(permission),
        };
        let label = permission.group().label();
        match groups.iter_mut().find(|g| g.label == label) {
            Some(group) => group.items.push(item),
            None => groups.push(MatrixGroup {
                label,
                items: vec![item],
            }),
        }
    }
    groups
}

#[derive(Template)]
#[template(path = "roles/index.html")]
struct ListPage {
    layout: Layout,
    roles: Vec<RoleSummary>,
    matrix: Vec<MatrixGroup>,
    teams_only: bool,
    name: String,
    errors: FieldErrors,
}

async fn list_page(cx: &Cx, form: RoleForm, errors: FieldErrors) -> Answer {
    let (layout, list) = cx
        .read_page("Roles", "/roles", |conn, me| {
            roles::list_with_counts(conn, me.company_id)
        })
        .await?;
    let page = ListPage {
        layout,
        roles: list,
        matrix: matrix(form.checked(), cx.user.permissions),
        teams_only: form.teams_only,
        name: form.name,
        errors,
    };
    form_page(&page.errors, &page)
}

pub async fn index(cx: Cx) -> Answer {
    list_page(&cx, RoleForm::default(), FieldErrors::default()).await
}

pub async fn create(cx: Cx, Form(form): Form<RoleForm>) -> Answer {
    let submitted = form.clone();
    match cx
        .write(move |conn, me| {
            roles::create_custom(
                conn,
                me,
                &submitted.name,
                &submitted.permissions,
                submitted.teams_only,
            )
        })
        .await
        .fields_apart()?
    {
        Ok(id) => Ok(cx.done(
            "The role was created. Give it to users from their pages.",
            format!("/roles/{id}"),
        )),
        Err(errors) => list_page(&cx, form, errors).await,
    }
}

#[derive(Template)]
#[template(path = "roles/show.html")]
struct ShowPage {
    layout: Layout,
    role: Role,
    matrix: Vec<MatrixGroup>,
    members: Vec<RoleMember>,
    teams_only: bool,
    name: String,
    errors: FieldErrors,
}

async fn show_page(
    cx: &Cx,
    role_id: RoleId,
    submitted: Option<RoleForm>,
    errors: FieldErrors,
) -> Answer {
    let (mut layout, (role, permissions, members)) = cx
        .read_page("", "/roles", move |conn, me| {
            let role = roles::get(conn, me.company_id, role_id)?;
            let permissions = roles::permissions_of(conn, role.id)?;
            let members = roles::members(conn, me.company_id, role.id)?;
            Ok((role, permissions, members))
        })
        .await?;
    layout.title = role.name.clone();
    let (name, checked, teams_only) = match submitted {
        Some(form) => (form.name.clone(), form.checked(), form.teams_only),
        None => (role.name.clone(), permissions, role.teams_only),
    };
    let page = ShowPage {
        layout,
        matrix: matrix(checked, cx.user.permissions),
        role,
        members,
        teams_only,
        name,
        errors,
    };
    form_page(&page.errors, &page)
}

pub async fn show(cx: Cx, id: Path<RoleId>) -> Answer {
    show_page(&cx, id.into_inner(), None, FieldErrors::default()).await
}

pub async fn update(cx: Cx, id: Path<RoleId>, Form(form): Form<RoleForm>) -> Answer {
    let id = id.into_inner();
    let submitted = form.clone();
    match cx
        .write(move |conn, me| {
            roles::update_custom(
                conn,
                me,
                id,
                &submitted.name,
                &submitted.permissions,
                submitted.teams_only,
            )
        })
        .await
        .fields_apart()?
    {
        Ok(roles::RoleChange::Applied) => Ok(cx.done(
            "The role was saved. Its members have the new permissions at once.",
            format!("/roles/{id}"),
        )),
        Ok(roles::RoleChange::Requested(_)) => Ok(cx.done(
            "Adding to a role people hold needs a second person's approval here: the change \
             waits in Approvals and applies once approved.",
            "/approvals",
        )),
        Err(errors) => show_page(&cx, id, Some(form), errors).await,
    }
}

pub async fn delete(cx: Cx, id: Path<RoleId>) -> Answer {
    let id = id.into_inner();
    cx.write(move |conn, me| roles::delete_custom(conn, me, id))
        .await?;
    Ok(cx.done("The role was deleted.", "/roles"))
}
