//! `/calls`: VOIP call tasks under the conversations' visibility rule; assignees complete
//! theirs. `?missed=1` is the supervisors' missed-calls view.

use actix_session::Session;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::AppState;
use crate::access::{CurrentUser, RouteRules};
use crate::db::write_transaction;
use crate::domain::calls::{self, CallView};
use crate::error::AppError;
use crate::web::layout::{Layout, set_flash};
use crate::web::{db, format_time, page, see_other};

pub struct CallItem {
    call: CallView,
    at: String,
    mine: bool,
}

#[derive(Template)]
#[template(path = "calls/index.html")]
struct CallsPage {
    layout: Layout,
    calls: Vec<CallItem>,
    missed: bool,
}

#[derive(Deserialize)]
pub struct CallsQuery {
    missed: Option<String>,
}

pub async fn index(
    state: web::Data<AppState>,
    rules: web::Data<RouteRules>,
    user: CurrentUser,
    session: Session,
    query: web::Query<CallsQuery>,
) -> Result<HttpResponse, AppError> {
    let missed = query
        .missed
        .as_deref()
        .is_some_and(|m| !m.is_empty() && m != "0");
    let viewer = user.viewer();
    let list = db(&state, move |conn| calls::list(conn, &viewer, missed)).await?;
    let layout = Layout::build(&state, &rules, &user, &session, "Calls", "/calls").await?;
    page(&CallsPage {
        layout,
        calls: list
            .into_iter()
            .map(|call| CallItem {
                at: format_time(&call.created_at),
                mine: call.assignee_id == Some(user.auth.user_id),
                call,
            })
            .collect(),
        missed,
    })
}

pub async fn complete(
    state: web::Data<AppState>,
    user: CurrentUser,
    session: Session,
    path: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let (viewer, actor) = (user.viewer(), user.actor());
    db(&state, move |conn| {
        write_transaction(conn, |conn| calls::complete(conn, &viewer, id, &actor))
    })
    .await?;
    set_flash(&session, "The call task was completed.");
    Ok(see_other("/calls"))
}
