//! `/users`: the team list (read-only here; user management adds the actions).

use actix_session::Session;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::AppState;
use crate::access::{CurrentUser, RouteRules};
use crate::domain::users::{self, TEAM_PAGE_SIZE, TeamRow};
use crate::error::AppError;
use crate::web::layout::Layout;
use crate::web::{db, format_time, page};

pub struct UserItem {
    row: TeamRow,
    last_login: String,
}

#[derive(Template)]
#[template(path = "users/index.html")]
struct UsersPage {
    layout: Layout,
    users: Vec<UserItem>,
    next_cursor: Option<String>,
}

#[derive(Deserialize)]
pub struct UsersQuery {
    after: Option<String>,
}

pub async fn index(
    state: web::Data<AppState>,
    rules: web::Data<RouteRules>,
    user: CurrentUser,
    session: Session,
    query: web::Query<UsersQuery>,
) -> Result<HttpResponse, AppError> {
    let layout = Layout::build(&state, &rules, &user, &session, "Users", "/users").await?;
    let company_id = user.auth.company_id;
    let after = query.into_inner().after;
    let rows = db(&state, move |conn| {
        users::team_page(conn, company_id, after.as_deref())
    })
    .await?;
    let next_cursor = (rows.len() as i64 == TEAM_PAGE_SIZE)
        .then(|| rows.last().map(|r| r.username.clone()))
        .flatten();
    let users = rows
        .into_iter()
        .map(|row| UserItem {
            last_login: row
                .last_login_at
                .as_ref()
                .map(format_time)
                .unwrap_or_else(|| "never".into()),
            row,
        })
        .collect();
    page(&UsersPage {
        layout,
        users,
        next_cursor,
    })
}
