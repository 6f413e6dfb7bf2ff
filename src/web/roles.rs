//! `/roles` (`roles.manage`): custom roles built from page permissions. Built-in roles are
//! shown read-only; the domain refuses changes to them, escalation, and deleting roles in use.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use crate::AppState;
use crate::access::permissions::{Permission, PermissionSet};
use crate::access::{CurrentUser, RouteRules};
use crate::db::write_transaction;
use crate::domain::roles::{self, Role, RoleSummary};
use crate::error::{AppError, FieldErrors};
use crate::web::layout::{Layout, set_flash};
use crate::web::{db, render, see_other};

type Fields = web::Form<Vec<(String, String)>>;

fn values(fields: &[(String, String)], name: &str) -> Vec<String> {
    fields
        .iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .collect()
}

pub struct MatrixItem {
    key: &'static str,
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
    name: String,
    errors: FieldErrors,
}

async fn list_page(
    state: &AppState,
    rules: &RouteRules,
    user: &CurrentUser,
    session: &Session,
    submitted: Option<(&[(String, String)], FieldErrors)>,
) -> Result<HttpResponse, AppError> {
    let company_id = user.auth.company_id;
    let list = db(state, move |conn| roles::list_with_counts(conn, company_id)).await?;
    let layout = Layout::build(state, rules, user, session, "Roles", "/roles").await?;
    let (name, checked, errors) = match submitted {
        Some((fields, errors)) => {
            let mut ignored = FieldErrors::default();
            let checked = roles::parse_permissions(&values(fields, "permissions"), &mut ignored);
            (
                values(fields, "name")
                    .into_iter()
                    .next()
                    .unwrap_or_default(),
                checked,
                errors,
            )
        }
        None => (
            String::new(),
            PermissionSet::empty(),
            FieldErrors::default(),
        ),
    };
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    render(
        status,
        &ListPage {
            layout,
            roles: list,
            matrix: matrix(checked, user.permissions),
            name,
            errors,
        },
    )
}

pub async fn index(
    state: web::Data<AppState>,
    rules: web::Data<RouteRules>,
    user: CurrentUser,
    session: Session,
) -> Result<HttpResponse, AppError> {
    list_page(&state, &rules, &user, &session, None).await
}

pub async fn create(
    state: web::Data<AppState>,
    rules: web::Data<RouteRules>,
    user: CurrentUser,
    session: Session,
    form: Fields,
) -> Result<HttpResponse, AppError> {
    let fields = form.into_inner();
    let (company_id, actor, held) = (user.auth.company_id, user.actor(), user.permissions);
    let (name, keys) = (
        values(&fields, "name")
            .into_iter()
            .next()
            .unwrap_or_default(),
        values(&fields, "permissions"),
    );
    let result = db(&state, move |conn| {
        write_transaction(conn, |conn| {
            roles::create_custom(conn, company_id, &name, &keys, &actor, held)
        })
    })
    .await;
    match result {
        Ok(id) => {
            set_flash(
                &session,
                "The role was created. Give it to users from their pages.",
            );
            Ok(see_other(&format!("/roles/{id}")))
        }
        Err(AppError::Fields(errors)) => {
            list_page(&state, &rules, &user, &session, Some((&fields, errors))).await
        }
        Err(other) => Err(other),
    }
}

#[derive(Template)]
#[template(path = "roles/show.html")]
struct ShowPage {
    layout: Layout,
    role: Role,
    matrix: Vec<MatrixGroup>,
    members: Vec<(i64, String, String)>,
    name: String,
    errors: FieldErrors,
}

async fn show_page(
    state: &AppState,
    rules: &RouteRules,
    user: &CurrentUser,
    session: &Session,
    role_id: i64,
    submitted: Option<(&[(String, String)], FieldErrors)>,
) -> Result<HttpResponse, AppError> {
    let company_id = user.auth.company_id;
    let (role, permissions, members) = db(state, move |conn| {
        let role = roles::get(conn, company_id, role_id)?;
        let permissions = roles::permissions_of(conn, role.id)?;
        let members = roles::members(conn, company_id, role.id)?;
        Ok((role, permissions, members))
    })
    .await?;
    let layout = Layout::build(state, rules, user, session, &role.name, "/roles").await?;
    let (name, checked, errors) = match submitted {
        Some((fields, errors)) => {
            let mut ignored = FieldErrors::default();
            let checked = roles::parse_permissions(&values(fields, "permissions"), &mut ignored);
            (
                values(fields, "name")
                    .into_iter()
                    .next()
                    .unwrap_or_default(),
                checked,
                errors,
            )
        }
        None => (role.name.clone(), permissions, FieldErrors::default()),
    };
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    render(
        status,
        &ShowPage {
            layout,
            matrix: matrix(checked, user.permissions),
            role,
            members,
            name,
            errors,
        },
    )
}

pub async fn show(
    state: web::Data<AppState>,
    rules: web::Data<RouteRules>,
    user: CurrentUser,
    session: Session,
    path: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    show_page(&state, &rules, &user, &session, path.into_inner(), None).await
}

pub async fn update(
    state: web::Data<AppState>,
    rules: web::Data<RouteRules>,
    user: CurrentUser,
    session: Session,
    path: web::Path<i64>,
    form: Fields,
) -> Result<HttpResponse, AppError> {
    let role_id = path.into_inner();
    let fields = form.into_inner();
    let (company_id, actor, held) = (user.auth.company_id, user.actor(), user.permissions);
    let (name, keys) = (
        values(&fields, "name")
            .into_iter()
            .next()
            .unwrap_or_default(),
        values(&fields, "permissions"),
    );
    let result = db(&state, move |conn| {
        write_transaction(conn, |conn| {
            roles::update_custom(conn, company_id, role_id, &name, &keys, &actor, held)
        })
    })
    .await;
    match result {
        Ok(()) => {
            set_flash(
                &session,
                "The role was saved. Its members have the new permissions at once.",
            );
            Ok(see_other(&format!("/roles/{role_id}")))
        }
        Err(AppError::Fields(errors)) => {
            show_page(
                &state,
                &rules,
                &user,
                &session,
                role_id,
                Some((&fields, errors)),
            )
            .await
        }
        Err(other) => Err(other),
    }
}

pub async fn delete(
    state: web::Data<AppState>,
    user: CurrentUser,
    session: Session,
    path: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let role_id = path.into_inner();
    let (company_id, actor) = (user.auth.company_id, user.actor());
    db(&state, move |conn| {
        write_transaction(conn, |conn| {
            roles::delete_custom(conn, company_id, role_id, &actor)
        })
    })
    .await?;
    set_flash(&session, "The role was deleted.");
    Ok(see_other("/roles"))
}
