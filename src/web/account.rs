//! `/account`: the signed-in user's own profile, password and sessions.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::AppState;
use crate::access::{CurrentUser, RouteRules};
use crate::auth::client::describe_user_agent;
use crate::auth::password::{self, PersonalWords};
use crate::domain::{companies, sessions, users};
use crate::error::AppError;
use crate::web::layout::{Layout, set_flash};
use crate::web::{db, format_time, render, see_other};

#[derive(Default)]
pub struct PasswordErrors {
    current_password: Option<String>,
    new_password: Vec<String>,
    confirm_password: Option<String>,
}

#[derive(Template)]
#[template(path = "account/index.html")]
struct AccountPage {
    layout: Layout,
    email: String,
    must_change: bool,
    expired: bool,
    errors: PasswordErrors,
}

async fn account_page(
    state: &AppState,
    rules: &RouteRules,
    user: &CurrentUser,
    session: &Session,
    errors: PasswordErrors,
    status: StatusCode,
) -> Result<HttpResponse, AppError> {
    let layout = Layout::build(state, rules, user, session, "My account", "/account").await?;
    let (company_id, user_id) = (user.auth.company_id, user.auth.user_id);
    let me = db(state, move |conn| users::get(conn, company_id, user_id)).await?;
    render(
        status,
        &AccountPage {
            layout,
            email: me.email.unwrap_or_default(),
            must_change: user.auth.must_change_password,
            expired: user.auth.password_expired,
            errors,
        },
    )
}

pub async fn show(
    state: web::Data<AppState>,
    rules: web::Data<RouteRules>,
    user: CurrentUser,
    session: Session,
) -> Result<HttpResponse, AppError> {
    account_page(
        &state,
        &rules,
        &user,
        &session,
        PasswordErrors::default(),
        StatusCode::OK,
    )
    .await
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    confirm_password: String,
}

pub async fn change_password(
    state: web::Data<AppState>,
    rules: web::Data<RouteRules>,
    user: CurrentUser,
    session: Session,
    form: web::Form<PasswordForm>,
) -> Result<HttpResponse, AppError> {
    let form = form.into_inner();
    let (company_id, user_id) = (user.auth.company_id, user.auth.user_id);
    let session_id = user.auth.session_id;
    let actor = user.actor();
    let display_name = user.auth.display_name.clone();
    let errors = db(&state, move |conn| {
        let company = companies::get(conn, company_id)?;
        let me = users::get(conn, company_id, user_id)?;
        let mut errors = PasswordErrors::default();
        let current_ok = form.current_password.len() <= 1024
            && me
                .password_hash
                .as_deref()
                .is_some_and(|hash| password::verify(&form.current_password, hash));
        if !current_ok {
            errors.current_password = Some("This is not your current password.".into());
        }
        errors.new_password = company.password_policy().check(
            &form.new_password,
            &PersonalWords {
                username: &me.username,
                display_name: &display_name,
                company_code: &company.code,
            },
        );
        if errors.new_password.is_empty() && form.new_password == form.current_password {
            errors
                .new_password
                .push("Choose a password different from the current one.".into());
        }
        if form.new_password != form.confirm_password {
            errors.confirm_password = Some("The two new passwords differ.".into());
        }
        let valid = errors.current_password.is_none()
            && errors.new_password.is_empty()
            && errors.confirm_password.is_none();
        if valid {
            crate::db::write_transaction(conn, |conn| {
                users::set_password(conn, &me, &form.new_password, Some(session_id), &actor)
            })?;
            Ok(None)
        } else {
            Ok(Some(errors))
        }
    })
    .await?;
    match errors {
        None => {
            set_flash(
                &session,
                "Your password was changed. Your other sessions were ended.",
            );
            Ok(see_other("/account"))
        }
        Some(errors) => {
            account_page(
                &state,
                &rules,
                &user,
                &session,
                errors,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}

pub struct SessionItem {
    id: i64,
    current: bool,
    ip: String,
    device: String,
    created_at: String,
    last_seen_at: String,
}

#[derive(Template)]
#[template(path = "account/sessions.html")]
struct SessionsPage {
    layout: Layout,
    sessions: Vec<SessionItem>,
}

pub async fn sessions(
    state: web::Data<AppState>,
    rules: web::Data<RouteRules>,
    user: CurrentUser,
    session: Session,
) -> Result<HttpResponse, AppError> {
    let layout = Layout::build(&state, &rules, &user, &session, "My sessions", "/account").await?;
    let (user_id, current) = (user.auth.user_id, user.auth.session_id);
    let rows = db(&state, move |conn| {
        sessions::list_live_for_user(conn, user_id)
    })
    .await?;
    let sessions = rows
        .into_iter()
        .map(|row| SessionItem {
            id: row.id,
            current: row.id == current,
            ip: row.ip,
            device: describe_user_agent(&row.user_agent),
            created_at: format_time(&row.created_at),
            last_seen_at: format_time(&row.last_seen_at),
        })
        .collect();
    render(StatusCode::OK, &SessionsPage { layout, sessions })
}

pub async fn revoke_session(
    state: web::Data<AppState>,
    user: CurrentUser,
    session: Session,
    path: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let session_id = path.into_inner();
    let (company_id, user_id, actor) = (user.auth.company_id, user.auth.user_id, user.actor());
    let ended = db(&state, move |conn| {
        crate::db::write_transaction(conn, |conn| {
            sessions::end_own(conn, company_id, user_id, session_id, &actor)
        })
    })
    .await?;
    if !ended {
        return Err(AppError::NotFound);
    }
    if session_id == user.auth.session_id {
        session.purge();
        return Ok(see_other("/login"));
    }
    set_flash(&session, "The session was ended.");
    Ok(see_other("/account/sessions"))
}
