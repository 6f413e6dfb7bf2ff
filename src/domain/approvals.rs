//! Approval requests: what needs a second person's decision (a template version, a
//! broadcast, a raise of a role in use, a change of the security settings). Each request names the permission needed to decide it; the requester never
//! decides their own (409), may withdraw it, and it expires after [`LIFETIME_DAYS`]. The
//! subject's own module (`templates`, `broadcasts`) opens the request when something is
//! submitted and applies the decision in the same transaction.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use crate::core::ids::{ApprovalId, CompanyId, UserId};
use crate::core::permissions::Permission;
use crate::core::status::{ApprovalKind, ApprovalStatus, BroadcastStatus, TemplateStatus};
use crate::db::DbConnection;
use crate::db::schema::{approval_requests, broadcasts, message_templates, users};
use crate::domain::{Caller, audit, notifications, now};
use crate::error::AppError;

/// How long a request waits for a decision.
pub const LIFETIME_DAYS: i64 = 7;

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = approval_requests)]
pub struct Request {
    pub id: ApprovalId,
    pub company_id: CompanyId,
    pub kind: ApprovalKind,
    pub subject_id: i64,
    /// What is applied on approval, for requests that carry it (a role raise).
    pub payload: Option<String>,
    pub permission: String,
    pub summary: String,
    pub requested_by_id: UserId,
    pub status: ApprovalStatus,
    pub decided_by_id: Option<UserId>,
    pub decided_at: Option<NaiveDateTime>,
    pub reason: Option<String>,
    pub expires_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
}

impl Request {
    /// The page of what the request is about.
    pub fn subject_path(&self) -> String {
        match self.kind {
            ApprovalKind::Template => format!("/templates/{}", self.subject_id),
            ApprovalKind::Broadcast => format!("/broadcasts/{}", self.subject_id),
            ApprovalKind::RoleRaise => format!("/roles/{}", self.subject_id),
            ApprovalKind::Settings => "/settings".into(),
        }
    }

    fn needed(&self) -> Option<Permission> {
        Permission::from_key(&self.permission)
    }
}

/// Opens a request for `subject` of `kind`, decided by holders of `permission`. Recorded.
pub fn open(
    conn: &mut DbConnection,
    me: &Caller,
    kind: ApprovalKind,
    subject_id: i64,
    permission: Permission,
    summary: &str,
) -> Result<ApprovalId, AppError> {
    open_with(conn, me, kind, subject_id, permission, summary, None)
}

/// [`open`], with what to apply once approved.
pub fn open_with(
    conn: &mut DbConnection,
    me: &Caller,
    kind: ApprovalKind,
    subject_id: i64,
    permission: Permission,
    summary: &str,
    payload: Option<&str>,
) -> Result<ApprovalId, AppError> {
    let at = now();
    let id: ApprovalId = diesel::insert_into(approval_requests::table)
        .values((
            approval_requests::company_id.eq(me.company_id),
            approval_requests::kind.eq(kind),
            approval_requests::subject_id.eq(subject_id),
            approval_requests::payload.eq(payload),
            approval_requests::permission.eq(permission.key()),
            approval_requests::summary.eq(summary),
            approval_requests::requested_by_id.eq(me.user_id()),
            approval_requests::status.eq(ApprovalStatus::Pending),
            approval_requests::expires_at.eq(at + Duration::days(LIFETIME_DAYS)),
            approval_requests::created_at.eq(at),
        ))
        .returning(approval_requests::id)
        .get_result(conn)?;
    audit::Entry::new(me.company_id, &me.actor, "approval.request")
        .on("approval", id, summary)
        .saying(format!(
            "approval requested: {summary} (decided by holders of {})",
            permission.key()
        ))
        .write(conn)?;
    let deciders = notifications::holders_of(conn, me.company_id, permission)?;
    notifications::send(
        conn,
        me,
        deciders,
        "approval.waiting",
        &format!("waiting for your approval: {summary}"),
        Some("/approvals"),
    )?;
    Ok(id)
}

/// A request of the company, or 404.
pub fn get(
    conn: &mut DbConnection,
    company_id: CompanyId,
    id: ApprovalId,
) -> Result<Request, AppError> {
    Ok(approval_requests::table
        .filter(approval_requests::company_id.eq(company_id))
        .filter(approval_requests::id.eq(id))
        .select(Request::as_select())
        .first(conn)?)
}

/// The pending request about a subject, if any.
pub fn pending_about(
    conn: &mut DbConnection,
    company_id: CompanyId,
    kind: ApprovalKind,
    subject_id: i64,
) -> Result<Option<Request>, AppError> {
    Ok(approval_requests::table
        .filter(approval_requests::company_id.eq(company_id))
        .filter(approval_requests::kind.eq(kind))
        .filter(approval_requests::subject_id.eq(subject_id))
        .filter(approval_requests::status.eq(ApprovalStatus::Pending))
        .select(Request::as_select())
        .first(conn)
        .optional()?)
}

/// Decides the pending request about a subject: 422 for a rejection without a reason; 409
/// when there is none or it expired, when the caller asked for it themselves; 403 without the
/// permission it names. Recorded; the caller applies the decision to the subject.
pub fn decide(
    conn: &mut DbConnection,
    me: &Caller,
    kind: ApprovalKind,
    subject_id: i64,
    approve: bool,
    reason: &str,
) -> Result<Request, AppError> {
    let reason = reason.trim();
    if !approve && (reason.is_empty() || reason.chars().count() > 500) {
        return Err(AppError::field(
            "reason",
            "Say why it is rejected (at most 500 characters): the person who asked reads it.",
        ));
    }
    let reason = (!approve).then_some(reason);
    let Some(request) = pending_about(conn, me.company_id, kind, subject_id)? else {
        return Err(AppError::Conflict(
            "Nothing is waiting for a decision here: it must be submitted first.".into(),
        ));
    };
    let at = now();
    if request.expires_at <= at {
        // the minutely sweep records the expiry and makes the subject a draft again
        return Err(AppError::Conflict(format!(
            "The request expired after {LIFETIME_DAYS} days unanswered: it must be submitted \
             anew."
        )));
    }
    if !request
        .needed()
        .is_some_and(|p| me.permissions().contains(p))
    {
        return Err(AppError::Forbidden);
    }
    if request.requested_by_id == me.user_id() {
        return Err(AppError::Conflict(
            "You asked for this yourself: another person must decide it.".into(),
        ));
    }
    let status = if approve {
        ApprovalStatus::Approved
    } else {
        ApprovalStatus::Rejected
    };
    // decided once: of two people deciding at once, the second finds it decided (409)
    let decided = diesel::update(still_pending(request.id))
        .set((
            approval_requests::status.eq(status),
            approval_requests::decided_by_id.eq(Some(me.user_id())),
            approval_requests::decided_at.eq(Some(at)),
            approval_requests::reason.eq(reason),
        ))
        .execute(conn)?;
    if decided == 0 {
        return Err(AppError::Conflict(
            "Someone decided this a moment ago.".into(),
        ));
    }
    let said = match reason {
        Some(reason) if !approve => format!("rejected: {} (reason: {reason})", request.summary),
        _ if approve => format!("approved: {}", request.summary),
        _ => format!("rejected: {}", request.summary),
    };
    audit::Entry::new(me.company_id, &me.actor, "approval.decide")
        .on("approval", request.id, &request.summary)
        .saying(said.clone())
        .write(conn)?;
    notifications::send(
        conn,
        me,
        [request.requested_by_id],
        "approval.decided",
        &format!("your request was {said}"),
        Some(&request.subject_path()),
    )?;
    Ok(request)
}

/// The requester takes their request back; its subject is a draft again. 404 for a request
/// of another company, 403 for someone else's, 409 when it is decided already.
pub fn withdraw(conn: &mut DbConnection, me: &Caller, id: ApprovalId) -> Result<Request, AppError> {
    let request = get(conn, me.company_id, id)?;
    if request.requested_by_id != me.user_id() {
        return Err(AppError::Forbidden);
    }
    if request.status != ApprovalStatus::Pending {
        return Err(AppError::Conflict(format!(
            "This request is {} already.",
            request.status
        )));
    }
    let withdrawn = diesel::update(still_pending(request.id))
        .set((
            approval_requests::status.eq(ApprovalStatus::Withdrawn),
            approval_requests::decided_at.eq(Some(now())),
        ))
        .execute(conn)?;
    if withdrawn == 0 {
        return Err(AppError::Conflict(
            "This request was decided a moment ago.".into(),
        ));
    }
    back_to_draft(conn, &request)?;
    audit::Entry::new(me.company_id, &me.actor, "approval.withdraw")
        .on("approval", request.id, &request.summary)
        .saying(format!("withdrawn: {}", request.summary))
        .write(conn)?;
    Ok(request)
}

/// A submitted template or broadcast whose request ended without a decision is a draft again.
fn back_to_draft(conn: &mut DbConnection, request: &Request) -> Result<(), AppError> {
    match request.kind {
        ApprovalKind::Template => {
            diesel::update(
                message_templates::table
                    .filter(message_templates::id.eq(request.subject_id))
                    .filter(message_templates::status.eq(TemplateStatus::Submitted)),
            )
            .set(message_templates::status.eq(TemplateStatus::Draft))
            .execute(conn)?;
        }
        ApprovalKind::Broadcast => {
            diesel::update(
                broadcasts::table
                    .filter(broadcasts::id.eq(request.subject_id))
                    .filter(broadcasts::status.eq(BroadcastStatus::Submitted)),
            )
            .set(broadcasts::status.eq(BroadcastStatus::Draft))
            .execute(conn)?;
        }
        // the role keeps its permissions, the company its settings
        ApprovalKind::RoleRaise | ApprovalKind::Settings => {}
    }
    Ok(())
}

/// The request, if it is still pending: every change of a request's state is conditional on
/// it, so a decision, a withdrawal and an expiry racing each other leave one outcome.
fn still_pending(
    id: ApprovalId,
) -> diesel::dsl::Filter<
    diesel::dsl::Find<approval_requests::table, ApprovalId>,
    diesel::dsl::Eq<approval_requests::status, ApprovalStatus>,
> {
    approval_requests::table
        .find(id)
        .filter(approval_requests::status.eq(ApprovalStatus::Pending))
}

fn expire(conn: &mut DbConnection, request: &Request) -> Result<(), AppError> {
    let expired = diesel::update(still_pending(request.id))
        .set(approval_requests::status.eq(ApprovalStatus::Expired))
        .execute(conn)?;
    if expired == 0 {
        return Ok(());
    }
    back_to_draft(conn, request)?;
    let system = crate::domain::Actor::background();
    audit::Entry::new(request.company_id, &system, "approval.expire")
        .on("approval", request.id, &request.summary)
        .saying(format!(
            "expired after {LIFETIME_DAYS} days unanswered: {}",
            request.summary
        ))
        .write(conn)
}

/// Expires every pending request past its time (the minutely sweep). Returns how many.
pub fn expire_due(conn: &mut DbConnection, at: NaiveDateTime) -> Result<usize, AppError> {
    let due: Vec<Request> = approval_requests::table
        .filter(approval_requests::status.eq(ApprovalStatus::Pending))
        .filter(approval_requests::expires_at.le(at))
        .select(Request::as_select())
        .load(conn)?;
    for request in &due {
        expire(conn, request)?;
    }
    Ok(due.len())
}

/// A pending request as the inbox shows it.
pub struct InboxLine {
    pub request: Request,
    pub requested_by: String,
    /// The viewer asked for it (they may withdraw it, not decide it).
    pub mine: bool,
}

/// The pending, unexpired requests the viewer may decide (they hold the permission each names
/// and did not ask for it), and their own (to withdraw). Oldest first.
pub fn inbox(conn: &mut DbConnection, me: &Caller) -> Result<Vec<InboxLine>, AppError> {
    let rows: Vec<(Request, String)> = approval_requests::table
        .inner_join(users::table.on(users::id.eq(approval_requests::requested_by_id)))
        .filter(approval_requests::company_id.eq(me.company_id))
        .filter(approval_requests::status.eq(ApprovalStatus::Pending))
        .filter(approval_requests::expires_at.gt(now()))
        .order((approval_requests::created_at, approval_requests::id))
        .select((Request::as_select(), users::display_name))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(request, requested_by)| {
            let mine = request.requested_by_id == me.user_id();
            let may_decide = request
                .needed()
                .is_some_and(|p| me.permissions().contains(p));
            (mine || may_decide).then_some(InboxLine {
                request,
                requested_by,
                mine,
            })
        })
        .collect())
}
