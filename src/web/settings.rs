//! `/settings`: the company's security settings (`settings.manage`).

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use crate::AppState;
use crate::access::{CurrentUser, RouteRules};
use crate::db::write_transaction;
use crate::domain::companies;
use crate::domain::settings::{self, SettingsForm};
use crate::error::{AppError, FieldErrors};
use crate::web::layout::{Layout, set_flash};
use crate::web::{db, render, see_other};

#[derive(Template)]
#[template(path = "settings/index.html")]
struct SettingsPage {
    layout: Layout,
    form: SettingsForm,
    errors: FieldErrors,
}

async fn page(
    state: &AppState,
    rules: &RouteRules,
    user: &CurrentUser,
    session: &Session,
    form: Option<SettingsForm>,
    errors: FieldErrors,
) -> Result<HttpResponse, AppError> {
    let form = match form {
        Some(form) => form,
        None => {
            let company_id = user.auth.company_id;
            let company = db(state, move |conn| companies::get(conn, company_id)).await?;
            SettingsForm::from_company(&company)
        }
    };
    let layout = Layout::build(state, rules, user, session, "Settings", "/settings").await?;
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    render(
        status,
        &SettingsPage {
            layout,
            form,
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
    page(
        &state,
        &rules,
        &user,
        &session,
        None,
        FieldErrors::default(),
    )
    .await
}

pub async fn update(
    state: web::Data<AppState>,
    rules: web::Data<RouteRules>,
    user: CurrentUser,
    session: Session,
    form: web::Form<SettingsForm>,
) -> Result<HttpResponse, AppError> {
    let form = form.into_inner();
    let (company_id, actor) = (user.auth.company_id, user.actor());
    let submitted = form.clone();
    let result = db(&state, move |conn| {
        write_transaction(conn, |conn| {
            settings::update(conn, company_id, &submitted, &actor)
        })
    })
    .await;
    match result {
        Ok(()) => {
            set_flash(&session, "The security settings were saved.");
            Ok(see_other("/settings"))
        }
        Err(AppError::Fields(errors)) => {
            page(&state, &rules, &user, &session, Some(form), errors).await
        }
        Err(other) => Err(other),
    }
}
