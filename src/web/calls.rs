//! `/calls`: VOIP call tasks under the conversations' visibility rule; assignees complete
//! theirs. `?missed=1` is the supervisors' missed-calls view.

use actix_web::web::Path;
use askama::Template;
use serde::Deserialize;

use crate::core::ids::CallTaskId;
use crate::domain::calls::{self, CallFilter, CallView};
use crate::web::layout::Layout;
use crate::web::{Answer, Cx, Form, Query, format_time, page};

pub struct CallItem {
    call: CallView,
    at: String,
    /// How long the call lasted, for people ("2 min 05 s"), when it was answered.
    duration: Option<String>,
    mine: bool,
}

/// "45 s", "2 min 05 s", "1 h 02 min".
fn duration_in_words(seconds: i32) -> Option<String> {
    let (h, m, s) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    match seconds {
        ..=0 => None,
        1..=59 => Some(format!("{s} s")),
        60..=3599 => Some(format!("{m} min {s:02} s")),
        _ => Some(format!("{h} h {m:02} min")),
    }
}

#[derive(Template)]
#[template(path = "calls/index.html")]
struct CallsPage {
    layout: Layout,
    calls: Vec<CallItem>,
    missed: bool,
    /// The cursor of the next (older) page, when this one is full.
    next_cursor: Option<String>,
}

#[derive(Deserialize)]
pub struct CallsQuery {
    missed: Option<String>,
    before: Option<String>,
}

pub async fn index(cx: Cx, Query(query): Query<CallsQuery>) -> Answer {
    let missed = query
        .missed
        .as_deref()
        .is_some_and(|m| !m.is_empty() && m != "0");
    let before = crate::web::forms::page_cursor(query.before.as_deref())?;
    let filter = CallFilter {
        only_missed_open: missed,
        before,
    };
    let (layout, list) = cx
        .read_page("Calls", "/calls", move |conn, me| {
            calls::list(conn, &me.viewer, &filter)
        })
        .await?;
    let next_cursor = list.next(|last| crate::core::cursor::format(last.created_at, last.id));
    let me = cx.user.auth.user_id;
    page(&CallsPage {
        layout,
        next_cursor,
        calls: list
            .rows
            .into_iter()
            .map(|call| CallItem {
                at: format_time(&call.created_at),
                duration: duration_in_words(call.duration_seconds),
                mine: call.assignee_id == Some(me),
                call,
            })
            .collect(),
        missed,
    })
}

/// Where to go after completing a call task: the calls page, or the offboarding checklist
/// the task was resolved from (nothing else: no open redirect).
#[derive(Default, Deserialize)]
#[serde(default)]
pub struct CompleteForm {
    return_to: Option<String>,
}

fn return_path(asked: Option<&str>) -> String {
    asked
        .and_then(|path| path.strip_prefix("/users/"))
        .and_then(|rest| rest.strip_suffix("/offboard"))
        .filter(|id| !id.is_empty() && id.chars().all(|c| c.is_ascii_digit()))
        .map_or_else(
            || "/calls".to_string(),
            |id| format!("/users/{id}/offboard"),
        )
}

pub async fn complete(cx: Cx, id: Path<CallTaskId>, Form(form): Form<CompleteForm>) -> Answer {
    let id = id.into_inner();
    cx.write_outside_sessions(move |conn, me| calls::complete(conn, me, id))
        .await?;
    Ok(cx.done(
        "The call task was completed.",
        return_path(form.return_to.as_deref()),
    ))
}

#[cfg(test)]
mod tests {
    use super::duration_in_words;

    #[test]
    fn durations_read_as_words() {
        assert_eq!(duration_in_words(0), None);
        assert_eq!(duration_in_words(45).as_deref(), Some("45 s"));
        assert_eq!(duration_in_words(125).as_deref(), Some("2 min 05 s"));
        assert_eq!(duration_in_words(3720).as_deref(), Some("1 h 02 min"));
    }
}
