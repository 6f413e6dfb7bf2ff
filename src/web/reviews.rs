//! `/access-reviews` (`reviews.run`): start a review, decide each user's access (keep, change,
//! revoke), close it, export it as evidence. The rules are `domain::reviews`'.

use actix_web::web::Path;
use askama::Template;
use serde::Deserialize;

use crate::core::ids::{AccessReviewId, UserId};
use crate::domain::channels::Channel;
use crate::domain::reviews::{self, DecisionForm, Line, Review, Summary};
use crate::domain::{assignments, roles};
use crate::error::{FieldErrors, FieldsApart};
use crate::web::layout::Layout;
use crate::web::{Answer, Cx, Form, form_page, format_time};

#[derive(Template)]
#[template(path = "reviews/index.html")]
struct IndexPage {
    layout: Layout,
    reviews: Vec<Summary>,
    overdue_since: Option<chrono::NaiveDate>,
    next_due: Option<chrono::NaiveDate>,
    due_on: String,
    errors: FieldErrors,
}

#[derive(Clone, Default, Deserialize)]
#[serde(default)]
pub struct StartForm {
    due_on: String,
}

async fn index_page(cx: &Cx, due_on: Option<String>, errors: FieldErrors) -> Answer {
    let today = cx.now().date();
    let (layout, (reviews, next_due)) = cx
        .read_page("Access reviews", "/access-reviews", |conn, me| {
            Ok((
                reviews::list(conn, me.company_id)?,
                reviews::next_due(conn, me.company_id)?,
            ))
        })
        .await?;
    let page = IndexPage {
        layout,
        reviews,
        overdue_since: next_due.filter(|due| *due < today),
        next_due,
        due_on: due_on.unwrap_or_else(|| {
            (today + chrono::Duration::days(14))
                .format("%Y-%m-%d")
                .to_string()
        }),
        errors,
    };
    form_page(&page.errors, &page)
}

pub async fn index(cx: Cx) -> Answer {
    index_page(&cx, None, FieldErrors::default()).await
}

pub async fn start(cx: Cx, Form(form): Form<StartForm>) -> Answer {
    let due_on = form.due_on.clone();
    match cx
        .write(move |conn, me| reviews::start(conn, me, &due_on))
        .await
        .fields_apart()?
    {
        Ok(id) => Ok(cx.done(
            "The review started: decide each user's access.",
            format!("/access-reviews/{id}"),
        )),
        Err(errors) => index_page(&cx, Some(form.due_on), errors).await,
    }
}

/// A line as the page shows it.
struct LineItem {
    line: Line,
    last_sign_in: String,
    decided_at: String,
}

#[derive(Template)]
#[template(path = "reviews/show.html")]
struct ShowPage {
    layout: Layout,
    review: Review,
    lines: Vec<LineItem>,
    decided: usize,
    roles: Vec<roles::Role>,
    channels: Vec<Channel>,
    /// The line whose form failed, and why.
    failed: Option<UserId>,
    errors: FieldErrors,
    me: UserId,
    can_export: bool,
}

impl ShowPage {
    fn failed_here(&self, user: &UserId) -> bool {
        self.failed == Some(*user)
    }
}

async fn show_page(
    cx: &Cx,
    id: AccessReviewId,
    failed: Option<UserId>,
    errors: FieldErrors,
) -> Answer {
    let (layout, (review, lines, roles, channels)) = cx
        .read_page("Access review", "/access-reviews", move |conn, me| {
            let review = reviews::get(conn, me.company_id, id)?;
            let lines = reviews::lines(conn, &review)?;
            Ok((
                review,
                lines,
                roles::list(conn, me.company_id)?,
                assignments::assignable_channels(conn, me)?,
            ))
        })
        .await?;
    let lines: Vec<LineItem> = lines
        .into_iter()
        .map(|line| LineItem {
            last_sign_in: line
                .last_sign_in_at
                .as_ref()
                .map_or_else(|| "never".to_string(), format_time),
            decided_at: line
                .decided_at
                .as_ref()
                .map(format_time)
                .unwrap_or_default(),
            line,
        })
        .collect();
    let page = ShowPage {
        layout,
        decided: lines.iter().filter(|l| l.line.decision.is_some()).count(),
        review,
        lines,
        roles,
        channels,
        failed,
        errors,
        me: cx.user.auth.user_id,
        can_export: cx.can(crate::core::permissions::Permission::ExportsCreate),
    };
    form_page(&page.errors, &page)
}

pub async fn show(cx: Cx, id: Path<AccessReviewId>) -> Answer {
    show_page(&cx, id.into_inner(), None, FieldErrors::default()).await
}

pub async fn decide(
    cx: Cx,
    path: Path<(AccessReviewId, UserId)>,
    Form(form): Form<DecisionForm>,
) -> Answer {
    let (id, user_id) = path.into_inner();
    match cx
        .write(move |conn, me| reviews::decide(conn, me, id, user_id, &form))
        .await
        .fields_apart()?
    {
        Ok(()) => Ok(cx.done(
            "Decided and applied.",
            format!("/access-reviews/{id}#user-{user_id}"),
        )),
        Err(errors) => show_page(&cx, id, Some(user_id), errors).await,
    }
}

pub async fn close(cx: Cx, id: Path<AccessReviewId>) -> Answer {
    let id = id.into_inner();
    cx.write(move |conn, me| reviews::close(conn, me, id))
        .await?;
    Ok(cx.done(
        "The review is closed: it is kept as it is and can be exported as evidence.",
        format!("/access-reviews/{id}"),
    ))
}

/// The review as CSV evidence: one row per user, as seen and as decided. Recorded.
pub async fn export(cx: Cx, id: Path<AccessReviewId>) -> Answer {
    let id = id.into_inner();
    // 404 before anything is recorded for a review of another company
    cx.read(move |conn, me| reviews::get(conn, me.company_id, id))
        .await?;
    let company_id = cx.user.auth.company_id;
    let fetch = move |conn: &mut crate::db::DbConnection, _: Option<()>| {
        let review = reviews::get(conn, company_id, id)?;
        let rows = reviews::lines(conn, &review)?
            .into_iter()
            .map(|line| {
                vec![
                    review.id.to_string(),
                    review.status.to_string(),
                    line.username,
                    line.display_name,
                    line.role_name,
                    line.permissions,
                    line.channels,
                    line.teams,
                    line.last_sign_in_at
                        .map(|at| at.format("%Y-%m-%d %H:%M:%S").to_string())
                        .unwrap_or_default(),
                    line.dormant.to_string(),
                    line.changes,
                    line.decision.map(|d| d.to_string()).unwrap_or_default(),
                    line.note.unwrap_or_default(),
                    line.decided_by_id
                        .map(|u| u.to_string())
                        .unwrap_or_default(),
                    line.decided_at
                        .map(|at| at.format("%Y-%m-%d %H:%M:%S").to_string())
                        .unwrap_or_default(),
                ]
            })
            .collect();
        Ok((rows, None))
    };
    crate::web::oversight::stream_csv(
        &cx,
        "access-review.csv",
        format!("review={id}"),
        &[
            "review",
            "review_status",
            "username",
            "display_name",
            "role",
            "permissions",
            "channels",
            "teams",
            "last_sign_in_utc",
            "dormant",
            "changes_since_last_review",
            "decision",
            "note",
            "decided_by_user_id",
            "decided_at_utc",
        ],
        fetch,
    )
    .await
}
