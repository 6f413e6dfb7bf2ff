//! User Management: `/users` and everything under it. Guarded by `users.view` (reading) and
//! `users.manage` (changes) in the route table; the domain enforces the rules (last
//! supervisor, no self-changes, no escalation) and writes the audit records.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::AppState;
use crate::access::permissions::Permission;
use crate::access::{CurrentUser, RouteRules, Rule};
use crate::auth::client::describe_user_agent;
use crate::db::write_transaction;
use crate::domain::offboarding::{self, Checklist};
use crate::domain::roles::Role;
use crate::domain::users::{self, NewUser, Profile, TEAM_PAGE_SIZE, TeamFilter, TeamRow};
use crate::domain::{channels, companies, roles};
use crate::error::{AppError, FieldErrors};
use crate::web::layout::{Layout, NAV, set_flash};
use crate::web::{db, format_time, render, see_other};

/// Form fields as sent, in order (so repeated keys such as `channel_ids` survive).
type Fields = web::Form<Vec<(String, String)>>;

fn field(fields: &[(String, String)], name: &str) -> String {
    fields
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.clone())
        .unwrap_or_default()
}

/// An id that matches no row: a missing or non-numeric id field becomes it, so the domain's
/// own "choose one of the company's …" message answers, beside the field, with 422.
const NO_SUCH_ID: i64 = -1;

fn id_or_none(fields: &[(String, String)], name: &str) -> i64 {
    field(fields, name).trim().parse().unwrap_or(NO_SUCH_ID)
}

pub struct UserItem {
    row: TeamRow,
    last_login: String,
}

pub struct Choice {
    id: i64,
    name: String,
    selected: bool,
}

#[derive(Template)]
#[template(path = "users/index.html")]
struct ListPage {
    layout: Layout,
    users: Vec<UserItem>,
    next_cursor: Option<String>,
    can_manage: bool,
    one_supervisor: bool,
    roles: Vec<Choice>,
    channels: Vec<Choice>,
    q: String,
    status: String,
}

#[derive(Deserialize)]
pub struct ListQuery {
    q: Option<String>,
    role: Option<String>,
    status: Option<String>,
    channel: Option<String>,
    after: Option<String>,
}

fn optional_id(value: Option<&str>) -> Result<Option<i64>, AppError> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v
            .parse()
            .map(Some)
            .map_err(|_| AppError::Invalid("Filters take the id of a role or channel.".into())),
    }
}

fn choices<T>(
    items: Vec<T>,
    selected: Option<i64>,
    parts: impl Fn(T) -> (i64, String),
) -> Vec<Choice> {
    items
        .into_iter()
        .map(|item| {
            let (id, name) = parts(item);
            Choice {
                selected: selected == Some(id),
                id,
                name,
            }
        })
        .collect()
}

pub async fn index(
    state: web::Data<AppState>,
    rules: web::Data<RouteRules>,
    user: CurrentUser,
    session: Session,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, AppError> {
    let query = query.into_inner();
    let status = query
        .status
        .clone()
        .filter(|s| ["active", "deactivated", "locked"].contains(&s.as_str()));
    let filter = TeamFilter {
        q: query.q.clone().filter(|q| q.len() <= 100),
        role_id: optional_id(query.role.as_deref())?,
        status: status.clone(),
        channel_id: optional_id(query.channel.as_deref())?,
        after: query.after.clone().filter(|a| a.len() <= 64),
    };
    let layout = Layout::build(&state, &rules, &user, &session, "Users", "/users").await?;
    let company_id = user.auth.company_id;
    let (role_filter, channel_filter) = (filter.role_id, filter.channel_id);
    let (rows, role_list, channel_list, supervisors) = db(&state, move |conn| {
        Ok((
            users::team_page(conn, company_id, &filter)?,
            roles::list(conn, company_id)?,
            channels::list(conn, company_id)?,
            users::active_supervisor_count(conn, company_id)?,
        ))
    })
    .await?;
    let next_cursor = (rows.len() as i64 == TEAM_PAGE_SIZE)
        .then(|| rows.last().map(|r| r.username.clone()))
        .flatten();
    render(
        StatusCode::OK,
        &ListPage {
            layout,
            users: rows
                .into_iter()
                .map(|row| UserItem {
                    last_login: row
                        .last_login_at
                        .as_ref()
                        .map(format_time)
                        .unwrap_or_else(|| "never".into()),
                    row,
                })
                .collect(),
            next_cursor,
            can_manage: user.can(Permission::UsersManage),
            one_supervisor: supervisors <= 1,
            roles: choices(role_list, role_filter, |r| (r.id, r.name)),
            channels: choices(channel_list, channel_filter, |c| (c.id, c.name)),
            q: query.q.unwrap_or_default(),
            status: status.unwrap_or_default(),
        },
    )
}

// ---- add ---------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "users/new.html")]
struct NewPage {
    layout: Layout,
    roles: Vec<Choice>,
    channels: Vec<Choice>,
    username: String,
    display_name: String,
    email: String,
    phone: String,
    errors: FieldErrors,
}

async fn new_page(
    state: &AppState,
    rules: &RouteRules,
    user: &CurrentUser,
    session: &Session,
    fields: &[(String, String)],
    errors: FieldErrors,
) -> Result<HttpResponse, AppError> {
    let layout = Layout::build(state, rules, user, session, "Add user", "/users").await?;
    let company_id = user.auth.company_id;
    let (role_list, channel_list) = db(state, move |conn| {
        Ok((
            roles::list(conn, company_id)?,
            channels::list(conn, company_id)?,
        ))
    })
    .await?;
    let chosen_role = field(fields, "role_id").parse().ok();
    let chosen_channels: Vec<i64> = fields
        .iter()
        .filter(|(k, _)| k == "channel_ids")
        .filter_map(|(_, v)| v.parse().ok())
        .collect();
    // an agent by default: the least privilege
    let default_role = role_list
        .iter()
        .find(|r| r.builtin.as_deref() == Some(roles::AGENT))
        .map(|r| r.id);
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    render(
        status,
        &NewPage {
            layout,
            roles: choices(role_list, chosen_role.or(default_role), |r: Role| {
                (r.id, r.name)
            }),
            channels: channel_list
                .into_iter()
                .map(|c| Choice {
                    selected: chosen_channels.contains(&c.id),
                    id: c.id,
                    name: c.name,
                })
                .collect(),
            username: field(fields, "username"),
            display_name: field(fields, "display_name"),
            email: field(fields, "email"),
            phone: field(fields, "phone"),
            errors,
        },
    )
}

pub async fn new_form(
    state: web::Data<AppState>,
    rules: web::Data<RouteRules>,
    user: CurrentUser,
    session: Session,
) -> Result<HttpResponse, AppError> {
    new_page(&state, &rules, &user, &session, &[], FieldErrors::default()).await
}

pub async fn create(
    state: web::Data<AppState>,
    rules: web::Data<RouteRules>,
    user: CurrentUser,
    session: Session,
    form: Fields,
) -> Result<HttpResponse, AppError> {
    let fields = form.into_inner();
    let role_id = id_or_none(&fields, "role_id");
    let channel_ids: Vec<i64> = fields
        .iter()
        .filter(|(k, _)| k == "channel_ids")
        .map(|(_, v)| v.trim().parse().unwrap_or(NO_SUCH_ID))
        .collect();
    let (company_id, actor, held) = (user.auth.company_id, user.actor(), user.permissions);
    let submitted = fields.clone();
    let created = db(&state, move |conn| {
        let company = companies::get(conn, company_id)?;
        let new = NewUser {
            company_id,
            username: &field(&submitted, "username"),
            display_name: &field(&submitted, "display_name"),
            email: Some(&field(&submitted, "email")),
            phone: Some(&field(&submitted, "phone")),
            role_id,
            password: &field(&submitted, "password"),
            must_change_password: true,
            channel_ids: &channel_ids,
            granted_by: Some(held),
        };
        write_transaction(conn, |conn| {
            users::create(
                conn,
                &new,
                &company.password_policy(),
                &company.code,
                &actor,
            )
        })
    })
    .await;
    match created {
        Ok(new_user) => {
            set_flash(
                &session,
                &format!(
                    "{} was added. They must choose a new password when they first sign in.",
                    new_user.display_name
                ),
            );
            Ok(see_other(&format!("/users/{}", new_user.id)))
        }
        Err(AppError::Fields(errors)) => {
            new_page(&state, &rules, &user, &session, &fields, errors).await
        }
        Err(other) => Err(other),
    }
}

// ---- the user page --------------------------------------------------------------------------

pub struct AccessLine {
    page: &'static str,
    can_open: bool,
    decided_by: String,
}

pub struct SessionLine {
    device: String,
    ip: String,
    last_seen: String,
}

#[derive(Template)]
#[template(path = "users/show.html")]
struct ShowPage {
    layout: Layout,
    profile: Profile,
    role_name: String,
    status_label: String,
    locked: bool,
    last_login: String,
    can_manage: bool,
    is_self: bool,
    one_supervisor: bool,
    roles: Vec<Choice>,
    access: Vec<AccessLine>,
    sessions: Vec<SessionLine>,
    sees_logins: bool,
    recent_logins: Vec<SessionLine>,
    display_name: String,
    email: String,
    phone: String,
    errors: FieldErrors,
}

/// Each page of the product, whether this user can open it, and the rule that decides.
fn effective_access(rules: &RouteRules, profile: &Profile) -> Vec<AccessLine> {
    NAV.iter()
        .filter_map(|(path, page)| {
            let rule = rules.rule(&actix_web::http::Method::GET, path)?;
            let (can_open, decided_by) = match rule {
                Rule::AnyOf(required) => {
                    let held: Vec<&str> = required
                        .iter()
                        .filter(|p| profile.permissions.contains(**p))
                        .map(|p| p.key())
                        .collect();
                    if held.is_empty() {
                        (false, format!("needs {}", rule.describe()))
                    } else {
                        (
                            true,
                            format!("{} (role {})", held.join(", "), profile.role.name),
                        )
                    }
                }
                other => (true, other.describe()),
            };
            Some(AccessLine {
                page,
                can_open,
                decided_by,
            })
        })
        .collect()
}

async fn show_page(
    state: &AppState,
    rules: &RouteRules,
    user: &CurrentUser,
    session: &Session,
    user_id: i64,
    edits: Option<(&[(String, String)], FieldErrors)>,
) -> Result<HttpResponse, AppError> {
    let company_id = user.auth.company_id;
    let sees_logins = user.can(Permission::LoginsView);
    let (profile, role_list, supervisors, recent) = db(state, move |conn| {
        let recent = if sees_logins {
            crate::domain::login_events::recent_for_user(conn, company_id, user_id, 10)?
        } else {
            Vec::new()
        };
        Ok((
            users::profile(conn, company_id, user_id)?,
            roles::list(conn, company_id)?,
            users::active_supervisor_count(conn, company_id)?,
            recent,
        ))
    })
    .await?;
    let layout = Layout::build(
        state,
        rules,
        user,
        session,
        &profile.user.display_name,
        "/users",
    )
    .await?;
    let (display_name, email, phone, errors) = match edits {
        Some((fields, errors)) => (
            field(fields, "display_name"),
            field(fields, "email"),
            field(fields, "phone"),
            errors,
        ),
        None => (
            profile.user.display_name.clone(),
            profile.user.email.clone().unwrap_or_default(),
            profile.user.phone.clone().unwrap_or_default(),
            FieldErrors::default(),
        ),
    };
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let at = crate::domain::now();
    render(
        status,
        &ShowPage {
            layout,
            role_name: profile.role.name.clone(),
            status_label: profile.user.status.clone(),
            locked: profile.user.is_locked(at),
            last_login: profile
                .user
                .last_login_at
                .as_ref()
                .map(format_time)
                .unwrap_or_else(|| "never".into()),
            can_manage: user.can(Permission::UsersManage),
            is_self: profile.user.id == user.auth.user_id,
            one_supervisor: supervisors <= 1,
            roles: choices(role_list, Some(profile.role.id), |r| (r.id, r.name)),
            access: effective_access(rules, &profile),
            sessions: profile
                .sessions
                .iter()
                .map(|s| SessionLine {
                    device: describe_user_agent(&s.user_agent),
                    ip: s.ip.clone(),
                    last_seen: format_time(&s.last_seen_at),
                })
                .collect(),
            sees_logins,
            recent_logins: recent
                .into_iter()
                .map(|r| SessionLine {
                    device: describe_user_agent(&r.user_agent),
                    ip: r.ip,
                    last_seen: format!(
                        "{} · {}",
                        format_time(&r.created_at),
                        if r.success {
                            "signed in".to_string()
                        } else {
                            format!("failed: {}", r.reason)
                        }
                    ),
                })
                .collect(),
            profile,
            display_name,
            email,
            phone,
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
    let user_id = path.into_inner();
    let fields = form.into_inner();
    let (company_id, actor) = (user.auth.company_id, user.actor());
    let submitted = fields.clone();
    let result = db(&state, move |conn| {
        write_transaction(conn, |conn| {
            users::update_profile(
                conn,
                company_id,
                user_id,
                (
                    &field(&submitted, "display_name"),
                    &field(&submitted, "email"),
                    &field(&submitted, "phone"),
                ),
                &actor,
            )
        })
    })
    .await;
    match result {
        Ok(()) => {
            set_flash(&session, "The profile was saved.");
            Ok(see_other(&format!("/users/{user_id}")))
        }
        Err(AppError::Fields(errors)) => {
            show_page(
                &state,
                &rules,
                &user,
                &session,
                user_id,
                Some((&fields, errors)),
            )
            .await
        }
        Err(other) => Err(other),
    }
}

pub async fn change_role(
    state: web::Data<AppState>,
    rules: web::Data<RouteRules>,
    user: CurrentUser,
    session: Session,
    path: web::Path<i64>,
    form: Fields,
) -> Result<HttpResponse, AppError> {
    let user_id = path.into_inner();
    let fields = form.into_inner();
    let role_id = id_or_none(&fields, "role_id");
    let (company_id, actor, permissions) = (user.auth.company_id, user.actor(), user.permissions);
    let result = db(&state, move |conn| {
        write_transaction(conn, |conn| {
            users::change_role(conn, company_id, user_id, role_id, &actor, permissions)
        })
    })
    .await;
    match result {
        Ok(()) => {
            set_flash(
                &session,
                "The role was changed. It applies to the user's open sessions at once.",
            );
            Ok(see_other(&format!("/users/{user_id}")))
        }
        Err(AppError::Fields(errors)) => {
            show_page(
                &state,
                &rules,
                &user,
                &session,
                user_id,
                Some((&[], errors)),
            )
            .await
        }
        Err(other) => Err(other),
    }
}

/// Runs one simple action on a user, then back to their page with a message.
async fn act<F>(
    state: &AppState,
    user: &CurrentUser,
    session: &Session,
    user_id: i64,
    done: &str,
    action: F,
) -> Result<HttpResponse, AppError>
where
    F: FnOnce(&mut crate::db::DbConnection, i64, &crate::domain::Actor) -> Result<(), AppError>
        + Send
        + 'static,
{
    let (company_id, actor) = (user.auth.company_id, user.actor());
    db(state, move |conn| {
        write_transaction(conn, |conn| action(conn, company_id, &actor))
    })
    .await?;
    set_flash(session, done);
    Ok(see_other(&format!("/users/{user_id}")))
}

pub async fn deactivate(
    state: web::Data<AppState>,
    user: CurrentUser,
    session: Session,
    path: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    act(
        &state,
        &user,
        &session,
        id,
        "The user was deactivated and signed out everywhere.",
        move |conn, company, actor| users::deactivate(conn, company, id, actor),
    )
    .await
}

pub async fn reactivate(
    state: web::Data<AppState>,
    user: CurrentUser,
    session: Session,
    path: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    act(
        &state,
        &user,
        &session,
        id,
        "The user was reactivated.",
        move |conn, company, actor| users::reactivate(conn, company, id, actor),
    )
    .await
}

pub async fn unlock(
    state: web::Data<AppState>,
    user: CurrentUser,
    session: Session,
    path: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    act(
        &state,
        &user,
        &session,
        id,
        "The account was unlocked.",
        move |conn, company, actor| users::unlock(conn, company, id, actor),
    )
    .await
}

#[derive(Template)]
#[template(path = "users/reset.html")]
struct ResetPage {
    layout: Layout,
    user_id: i64,
    display_name: String,
    temporary: String,
}

/// Shows the temporary password once: it is not stored anywhere it could be shown again.
pub async fn reset_password(
    state: web::Data<AppState>,
    rules: web::Data<RouteRules>,
    user: CurrentUser,
    session: Session,
    path: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let user_id = path.into_inner();
    let (company_id, actor) = (user.auth.company_id, user.actor());
    let (display_name, temporary) = db(&state, move |conn| {
        let company = companies::get(conn, company_id)?;
        write_transaction(conn, |conn| {
            let temporary = users::reset_password(
                conn,
                company_id,
                user_id,
                &company.password_policy(),
                &company.code,
                &actor,
            )?;
            Ok((
                users::get(conn, company_id, user_id)?.display_name,
                temporary,
            ))
        })
    })
    .await?;
    let layout = Layout::build(
        &state,
        &rules,
        &user,
        &session,
        "Temporary password",
        "/users",
    )
    .await?;
    render(
        StatusCode::OK,
        &ResetPage {
            layout,
            user_id,
            display_name,
            temporary,
        },
    )
}

// ---- offboarding ----------------------------------------------------------------------------

pub struct CallTaskLine {
    id: i64,
    channel_name: String,
    call_status: String,
    created_at: String,
}

#[derive(Template)]
#[template(path = "users/offboard.html")]
struct OffboardPage {
    layout: Layout,
    list: Checklist,
    blockers: Vec<String>,
    call_tasks: Vec<CallTaskLine>,
    errors: FieldErrors,
}

async fn offboard_page(
    state: &AppState,
    rules: &RouteRules,
    user: &CurrentUser,
    session: &Session,
    user_id: i64,
    status: StatusCode,
    errors: FieldErrors,
) -> Result<HttpResponse, AppError> {
    let company_id = user.auth.company_id;
    let list = db(state, move |conn| {
        offboarding::checklist(conn, company_id, user_id)
    })
    .await?;
    let layout = Layout::build(state, rules, user, session, "Offboard", "/users").await?;
    let mut blockers = list.blockers();
    if list.user.id == user.auth.user_id {
        blockers.push("You cannot delete your own account.".into());
    }
    render(
        status,
        &OffboardPage {
            layout,
            call_tasks: list
                .call_tasks
                .iter()
                .map(|t| CallTaskLine {
                    id: t.id,
                    channel_name: t.channel_name.clone(),
                    call_status: t.call_status.clone(),
                    created_at: format_time(&t.created_at),
                })
                .collect(),
            blockers,
            list,
            errors,
        },
    )
}

pub async fn offboard(
    state: web::Data<AppState>,
    rules: web::Data<RouteRules>,
    user: CurrentUser,
    session: Session,
    path: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    offboard_page(
        &state,
        &rules,
        &user,
        &session,
        path.into_inner(),
        StatusCode::OK,
        FieldErrors::default(),
    )
    .await
}

pub async fn offboard_transfer(
    state: web::Data<AppState>,
    rules: web::Data<RouteRules>,
    user: CurrentUser,
    session: Session,
    path: web::Path<i64>,
    form: Fields,
) -> Result<HttpResponse, AppError> {
    let user_id = path.into_inner();
    let fields = form.into_inner();
    let to_id = id_or_none(&fields, "assignee_id");
    let (company_id, actor) = (user.auth.company_id, user.actor());
    let result = db(&state, move |conn| {
        write_transaction(conn, |conn| {
            offboarding::transfer_open_conversations(conn, company_id, user_id, to_id, &actor)
        })
    })
    .await;
    match result {
        Ok(moved) => {
            set_flash(
                &session,
                &format!("{moved} open conversation(s) were transferred."),
            );
            Ok(see_other(&format!("/users/{user_id}/offboard")))
        }
        Err(AppError::Fields(errors)) => {
            offboard_page(
                &state,
                &rules,
                &user,
                &session,
                user_id,
                StatusCode::UNPROCESSABLE_ENTITY,
                errors,
            )
            .await
        }
        Err(other) => Err(other),
    }
}

pub async fn offboard_channels(
    state: web::Data<AppState>,
    user: CurrentUser,
    session: Session,
    path: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let user_id = path.into_inner();
    let (company_id, actor) = (user.auth.company_id, user.actor());
    let removed = db(&state, move |conn| {
        write_transaction(conn, |conn| {
            offboarding::leave_all_channels(conn, company_id, user_id, &actor)
        })
    })
    .await?;
    set_flash(
        &session,
        &format!("The user was removed from {removed} channel(s)."),
    );
    Ok(see_other(&format!("/users/{user_id}/offboard")))
}

pub async fn delete(
    state: web::Data<AppState>,
    rules: web::Data<RouteRules>,
    user: CurrentUser,
    session: Session,
    path: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let user_id = path.into_inner();
    let (company_id, actor) = (user.auth.company_id, user.actor());
    let result = db(&state, move |conn| {
        write_transaction(conn, |conn| {
            offboarding::delete_user(conn, company_id, user_id, &actor)
        })
    })
    .await;
    match result {
        Ok(()) => {
            set_flash(
                &session,
                "The user was deleted. Their name stays in the history.",
            );
            Ok(see_other("/users"))
        }
        // what blocks it, on the checklist page, with nothing changed
        Err(AppError::Conflict(_)) => {
            offboard_page(
                &state,
                &rules,
                &user,
                &session,
                user_id,
                StatusCode::CONFLICT,
                FieldErrors::default(),
            )
            .await
        }
        Err(other) => Err(other),
    }
}
