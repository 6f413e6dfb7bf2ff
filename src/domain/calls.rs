//! VOIP call tasks. They follow the conversations' visibility rule, are completed by their
//! assignee, and are never reassigned (as in the CRM this product serves), which is why
//! offboarding waits for them.

use crate::core::cursor::{self, Page};
use crate::core::ids::{CallTaskId, UserId};
use crate::core::status::CallStatus;
use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::core::permissions::Permission;

use crate::db::DbConnection;
use crate::db::schema::{call_tasks, channels, contacts, users};
use crate::domain::{Caller, Viewer, audit, now};
use crate::error::AppError;

crate::domain::visibility::scope_filter!(call_tasks);

/// One call task as a list shows it, with its contact, channel and assignee.
#[derive(Queryable, Selectable)]
#[diesel(table_name = call_tasks)]
pub struct CallView {
    pub id: CallTaskId,
    #[diesel(select_expression = contacts::name)]
    pub contact_name: String,
    /// Masked for viewers without `contacts.view_unmasked`.
    #[diesel(select_expression = call_tasks::caller_id)]
    pub caller: Option<String>,
    #[diesel(select_expression = channels::name)]
    pub channel_name: String,
    #[diesel(select_expression = users::display_name.nullable())]
    #[diesel(select_expression_type = diesel::dsl::Nullable<users::display_name>)]
    pub assignee: Option<String>,
    pub assignee_id: Option<UserId>,
    pub call_status: String,
    pub duration_seconds: i32,
    pub status: CallStatus,
    pub created_at: NaiveDateTime,
}

/// Call tasks per page of `/calls`.
pub const PAGE_SIZE: i64 = 50;

/// Which call tasks `/calls` lists.
#[derive(Clone, Copy, Debug, Default)]
pub struct CallFilter {
    /// The supervisors' missed-calls view: missed calls whose task is still open.
    pub only_missed_open: bool,
    /// Keyset cursor: the (created_at, id) of the last task shown; the page holds older ones.
    pub before: Option<(NaiveDateTime, CallTaskId)>,
}

/// Visible call tasks, newest first, one page at a time.
pub fn list(
    conn: &mut DbConnection,
    viewer: &Viewer,
    filter: &CallFilter,
) -> Result<Page<CallView>, AppError> {
    let query = list_query(conn, viewer, filter)?;
    let mask = viewer.contact_mask();
    let mut calls: Vec<CallView> = query.load(conn)?;
    for call in &mut calls {
        call.contact_name = mask.identifier(&call.contact_name);
        // written readably first, so masking keeps the familiar groups
        call.caller = call
            .caller
            .as_deref()
            .map(|c| mask.identifier(&crate::core::masking::readable_phone(c)));
    }
    Ok(Page::of(calls, PAGE_SIZE))
}

/// How the database runs the list, for benchmarks and the index test.
pub fn explain_list(
    conn: &mut DbConnection,
    viewer: &Viewer,
    filter: &CallFilter,
) -> Result<String, AppError> {
    let query = list_query(conn, viewer, filter)?;
    Ok(crate::db::explain::explain(conn, query)?)
}

type ListQuery = diesel::dsl::IntoBoxed<
    'static,
    diesel::dsl::Select<
        diesel::dsl::LeftJoin<
            diesel::dsl::InnerJoin<
                diesel::dsl::InnerJoin<call_tasks::table, contacts::table>,
                channels::table,
            >,
            users::table,
        >,
        diesel::dsl::AsSelect<CallView, crate::db::MultiBackend>,
    >,
    crate::db::MultiBackend,
>;

fn list_query(
    conn: &mut DbConnection,
    viewer: &Viewer,
    filter: &CallFilter,
) -> Result<ListQuery, AppError> {
    let visible = visible_to(conn, viewer)?;
    let mut query = call_tasks::table
        .inner_join(contacts::table)
        .inner_join(channels::table)
        .left_join(users::table)
        .filter(visible)
        .order((call_tasks::created_at.desc(), call_tasks::id.desc()))
        .limit(cursor::rows_to_read(PAGE_SIZE))
        .select(CallView::as_select())
        .into_boxed();
    if filter.only_missed_open {
        query = query
            .filter(call_tasks::call_status.eq("missed"))
            .filter(call_tasks::status.eq(CallStatus::Open));
    }
    if let Some((at, id)) = filter.before {
        // `<= at` bounds the index range; the rest drops the tasks of `at` not older than `id`
        query = query
            .filter(call_tasks::created_at.le(at))
            .filter(call_tasks::created_at.lt(at).or(call_tasks::id.lt(id)));
    }
    Ok(query)
}

/// The assignee marks their call task done (404 when not visible, 409 when not theirs or done).
pub fn complete(
    conn: &mut DbConnection,
    me: &Caller,
    call_task_id: CallTaskId,
) -> Result<(), AppError> {
    let (viewer, actor) = (&me.viewer, &me.actor);
    let visible = visible_to(conn, viewer)?;
    let (id, assignee, status): (CallTaskId, Option<UserId>, CallStatus) = call_tasks::table
        .filter(visible)
        .filter(call_tasks::id.eq(call_task_id))
        .select((call_tasks::id, call_tasks::assignee_id, call_tasks::status))
        .first(conn)?;
    // the assignee completes their own; someone who manages them may resolve it for them
    // (offboarding a person who left), and the record says so
    let on_behalf_of = match assignee {
        Some(owner) if owner == viewer.user_id => None,
        Some(owner) if viewer.permissions.contains(Permission::UsersManage) => {
            Some(crate::domain::accounts::get_actionable(conn, me, owner)?.username)
        }
        _ => {
            return Err(AppError::Conflict(
                "Only the agent a call task is assigned to, or someone who manages them, can complete it."
                    .into(),
            ));
        }
    };
    if status == CallStatus::Done {
        return Err(AppError::Conflict(
            "This call task is already completed.".into(),
        ));
    }
    diesel::update(call_tasks::table.find(id))
        .set((
            call_tasks::status.eq(CallStatus::Done),
            call_tasks::completed_at.eq(Some(now())),
        ))
        .execute(conn)?;
    audit::Entry::new(viewer.company_id, actor, "call_task.complete")
        .on("call_task", id, &format!("#{id}"))
        .saying(match on_behalf_of {
            Some(owner) => format!("call task #{id} of {owner} resolved on their behalf"),
            None => format!("call task #{id} completed"),
        })
        .write(conn)
}
