//! `/notifications`: what the team should know (someone added, deactivated, deleted, a role
//! changed, a channel added, an approval waiting, a request decided), newest first, and the
//! counter in the navigation.

use askama::Template;
use serde::Deserialize;

use crate::core::ids::NotificationId;
use crate::domain::notifications::{self, Notification};
use crate::web::layout::Layout;
use crate::web::{Answer, Cx, Form, page};

#[derive(Template)]
#[template(path = "notifications/index.html")]
struct IndexPage {
    layout: Layout,
    notifications: Vec<Notification>,
}

pub async fn index(cx: Cx) -> Answer {
    let (layout, list) = cx
        .read_page("Notifications", "/notifications", |conn, me| {
            notifications::list(conn, me)
        })
        .await?;
    page(&IndexPage {
        layout,
        notifications: list,
    })
}

/// Which to mark read: the ids given, or all when none is.
#[derive(Default, Deserialize)]
#[serde(default)]
pub struct ReadForm {
    ids: Vec<NotificationId>,
}

pub async fn read(cx: Cx, Form(form): Form<ReadForm>) -> Answer {
    let marked = cx
        .write(move |conn, me| notifications::mark_read(conn, me, &form.ids))
        .await?;
    Ok(cx.done(
        crate::core::text::count(marked, "notification", "notifications") + " marked read.",
        "/notifications",
    ))
}
