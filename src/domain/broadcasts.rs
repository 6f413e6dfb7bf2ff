//! Broadcasts: one approved template sent to a segment of a channel's contacts — those with a
//! conversation on the channel, optionally carrying a label, optionally in touch since a day —
//! never to one who opted out. `broadcasts.create` drafts it and sees only the audience's size;
//! a holder of `broadcasts.approve` other than its creator approves it (two-person rule);
//! only then may it be sent. Sending writes one outbound message per recipient in batches
//! (the first at once, the rest by the minutely worker… every second while one is sending),
//! can be cancelled, and counts its progress. The segment is always what the person sending
//! may see (`conversations::visible_to`): nothing crosses a team line or a restricted label.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use crate::core::ids::{
    BroadcastId, ChannelId, CompanyId, ContactId, ConversationId, TemplateId, UserId,
};
use crate::core::masking::PhoneRegion;
use crate::core::permissions::Permission;
use crate::core::status::{ApprovalKind, BroadcastStatus, Direction};
use crate::db::schema::{
    broadcast_deliveries, broadcasts, channels, contacts, conversation_labels, conversations, users,
};
use crate::db::{DbConnection, LockSpace};
use crate::domain::conversations::NewMessage;
use crate::domain::{Caller, Viewer, approvals, audit, companies, labels, now, roles, templates};
use crate::error::{AppError, FieldErrors};

/// Recipients written per batch (one transaction each).
pub const BATCH: i64 = 200;

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = broadcasts)]
pub struct Broadcast {
    pub id: BroadcastId,
    pub company_id: CompanyId,
    pub name: String,
    pub channel_id: ChannelId,
    pub template_id: TemplateId,
    pub label: Option<String>,
    pub last_contact_after: Option<NaiveDate>,
    pub status: BroadcastStatus,
    pub created_by_id: UserId,
    pub decided_by_id: Option<UserId>,
    pub reason: Option<String>,
    pub sent_by_id: Option<UserId>,
    pub audience: i32,
    pub sent: i32,
    /// When an approved broadcast is scheduled to start (UTC).
    pub send_at: Option<NaiveDateTime>,
}

/// A broadcast as its form sends it.
#[derive(Clone, Debug, Default)]
pub struct Draft {
    pub name: String,
    pub channel_id: Option<ChannelId>,
    pub template_id: Option<TemplateId>,
    pub label: String,
    pub last_contact_after: String,
}

/// A broadcast of the company, or 404.
pub fn get(
    conn: &mut DbConnection,
    company_id: CompanyId,
    id: BroadcastId,
) -> Result<Broadcast, AppError> {
    Ok(broadcasts::table
        .filter(broadcasts::company_id.eq(company_id))
        .filter(broadcasts::id.eq(id))
        .select(Broadcast::as_select())
        .first(conn)?)
}

/// A broadcast with the names a list shows.
pub struct Listed {
    pub broadcast: Broadcast,
    pub channel: String,
    pub created_by: String,
}

/// The company's broadcasts, newest first.
pub fn list(conn: &mut DbConnection, company_id: CompanyId) -> Result<Vec<Listed>, AppError> {
    let rows: Vec<(Broadcast, String, String)> = broadcasts::table
        .inner_join(channels::table)
        .inner_join(users::table.on(users::id.eq(broadcasts::created_by_id)))
        .filter(broadcasts::company_id.eq(company_id))
        .order(broadcasts::id.desc())
        .select((Broadcast::as_select(), channels::name, users::display_name))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(broadcast, channel, created_by)| Listed {
            broadcast,
            channel,
            created_by,
        })
        .collect())
}

/// Creates a draft: a channel the creator sees, an approved template, an existing label
/// they may use, a day. 422 beside each field otherwise.
pub fn create(
    conn: &mut DbConnection,
    me: &Caller,
    draft: &Draft,
) -> Result<BroadcastId, AppError> {
    let mut errors = FieldErrors::default();
    let name = draft.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 80 || !crate::core::text::storable(&name) {
        errors.add("name", "A broadcast name is 1 to 80 characters.");
    }
    let scope = crate::domain::visibility::scope(conn, &me.viewer)?;
    let channel_ok = match draft.channel_id {
        Some(channel) => {
            let of_company = crate::domain::channels::get(conn, me.company_id, channel).is_ok();
            of_company
                && scope
                    .channel_limit()
                    .is_none_or(|limit| limit.contains(&channel))
        }
        None => false,
    };
    if !channel_ok {
        errors.add("channel_id", "Choose one of your channels.");
    }
    let template_ok = match draft.template_id {
        Some(template) => templates::sendable(conn, me.company_id, template).is_ok(),
        None => false,
    };
    if !template_ok {
        errors.add("template_id", "Choose an approved template.");
    }
    let label = match draft.label.trim() {
        "" => None,
        typed => match labels::find(conn, me.company_id, typed)? {
            Some(found) if labels::may_use(conn, me, found.id)? => {
                Some(labels::key_of(&found.name))
            }
            _ => {
                errors.add("label", "Choose a label that exists, or none.");
                None
            }
        },
    };
    let last_contact_after = match draft.last_contact_after.trim() {
        "" => None,
        typed => match NaiveDate::parse_from_str(typed, "%Y-%m-%d") {
            Ok(day) => Some(day),
            Err(_) => {
                errors.add("last_contact_after", "A day is written YYYY-MM-DD.");
                None
            }
        },
    };
    errors.into_result()?;
    let (Some(channel_id), Some(template_id)) = (draft.channel_id, draft.template_id) else {
        return Err(AppError::internal("validated broadcast fields missing"));
    };
    let at = now();
    let id: BroadcastId = diesel::insert_into(broadcasts::table)
        .values((
            broadcasts::company_id.eq(me.company_id),
            broadcasts::name.eq(&name),
            broadcasts::channel_id.eq(channel_id),
            broadcasts::template_id.eq(template_id),
            broadcasts::label.eq(&label),
            broadcasts::last_contact_after.eq(last_contact_after),
            broadcasts::status.eq(BroadcastStatus::Draft),
            broadcasts::created_by_id.eq(me.user_id()),
            broadcasts::created_at.eq(at),
            broadcasts::updated_at.eq(at),
        ))
        .returning(broadcasts::id)
        .get_result(conn)?;
    audit::Entry::new(me.company_id, &me.actor, "broadcast.create")
        .on("broadcast", id, &name)
        .saying(format!("broadcast {name} drafted"))
        .write(conn)?;
    Ok(id)
}

/// Conversations joined to their contacts: where a broadcast's recipients are found.
type Recipients = diesel::helper_types::InnerJoinQuerySource<conversations::table, contacts::table>;
type Condition = crate::db::BoxedCondition<Recipients>;

/// Whom the broadcast is for, as `viewer` sees them: the conversations of its channel that
/// the viewer may see, of contacts who did not opt out, carrying its label and in touch since
/// its day, if it names them. One condition for the count and for the sending alike.
fn segment(
    conn: &mut DbConnection,
    viewer: &Viewer,
    broadcast: &Broadcast,
) -> Result<Condition, AppError> {
    let visible = crate::domain::conversations::visible_to::<Recipients>(conn, viewer)?;
    let mut condition: Condition = Box::new(
        visible
            .and(conversations::channel_id.eq(broadcast.channel_id))
            .and(contacts::opted_out.eq(false)),
    );
    if let Some(label) = &broadcast.label {
        condition = Box::new(
            condition.and(
                conversations::id.eq_any(
                    conversation_labels::table
                        .filter(conversation_labels::company_id.eq(broadcast.company_id))
                        .filter(conversation_labels::label.eq(label.clone()))
                        .select(conversation_labels::conversation_id),
                ),
            ),
        );
    }
    if let Some(since) = last_contact_since(conn, broadcast)? {
        condition = Box::new(condition.and(conversations::last_message_at.ge(since)));
    }
    Ok(condition)
}

/// The contacts the broadcast would reach as `viewer` sees them: one query, a count only.
pub fn audience(
    conn: &mut DbConnection,
    viewer: &Viewer,
    broadcast: &Broadcast,
) -> Result<i64, AppError> {
    let segment = segment(conn, viewer, broadcast)?;
    Ok(conversations::table
        .inner_join(contacts::table)
        .filter(segment)
        .select(diesel::dsl::count(conversations::contact_id).aggregate_distinct())
        .first(conn)?)
}

/// The instant the broadcast's "in touch since" day starts: the day as its creator wrote it,
/// in their time zone, so the audience is the same for whoever looks at it or sends it.
fn last_contact_since(
    conn: &mut DbConnection,
    broadcast: &Broadcast,
) -> Result<Option<NaiveDateTime>, AppError> {
    let Some(day) = broadcast.last_contact_after else {
        return Ok(None);
    };
    let zone = crate::domain::reports::time_zone(conn, broadcast.created_by_id)?;
    Ok(Some(crate::domain::reports::start_of_day(zone, day)))
}

/// The next recipients not yet reached: (contact, their latest conversation on the channel).
fn next_recipients(
    conn: &mut DbConnection,
    viewer: &Viewer,
    broadcast: &Broadcast,
    limit: i64,
) -> Result<Vec<(ContactId, Option<ConversationId>)>, AppError> {
    let segment = segment(conn, viewer, broadcast)?;
    let reached = broadcast_deliveries::table
        .filter(broadcast_deliveries::broadcast_id.eq(broadcast.id))
        .select(broadcast_deliveries::contact_id);
    Ok(conversations::table
        .inner_join(contacts::table)
        .filter(segment)
        .filter(conversations::contact_id.ne_all(reached))
        .group_by(conversations::contact_id)
        .order(conversations::contact_id)
        .limit(limit)
        .select((
            conversations::contact_id,
            diesel::dsl::max(conversations::id),
        ))
        .load(conn)?)
}

fn set_status(
    conn: &mut DbConnection,
    id: BroadcastId,
    status: BroadcastStatus,
) -> Result<(), AppError> {
    diesel::update(broadcasts::table.find(id))
        .set((
            broadcasts::status.eq(status),
            broadcasts::updated_at.eq(now()),
        ))
        .execute(conn)?;
    Ok(())
}

/// Submits a draft (or a rejected one) for approval by a holder of `broadcasts.approve`.
pub fn submit(conn: &mut DbConnection, me: &Caller, id: BroadcastId) -> Result<(), AppError> {
    let broadcast = get(conn, me.company_id, id)?;
    if !matches!(
        broadcast.status,
        BroadcastStatus::Draft | BroadcastStatus::Rejected
    ) {
        return Err(AppError::Conflict(format!(
            "This broadcast is {}: only a draft is submitted.",
            broadcast.status
        )));
    }
    // submitted once: of two submits at once, the second finds it submitted (409)
    let submitted = diesel::update(
        broadcasts::table
            .find(broadcast.id)
            .filter(broadcasts::status.eq(broadcast.status)),
    )
    .set((
        broadcasts::status.eq(BroadcastStatus::Submitted),
        broadcasts::updated_at.eq(now()),
    ))
    .execute(conn)?;
    if submitted == 0 {
        return Err(AppError::Conflict("It was submitted a moment ago.".into()));
    }
    approvals::open(
        conn,
        me,
        ApprovalKind::Broadcast,
        broadcast.id.0,
        Permission::BroadcastsApprove,
        &format!("broadcast {}", broadcast.name),
    )?;
    Ok(())
}

/// Approves or rejects a submitted broadcast (a rejection needs a reason): never by the
/// person who created it (409, the two-person rule).
pub fn decide(
    conn: &mut DbConnection,
    me: &Caller,
    id: BroadcastId,
    approve: bool,
    reason: &str,
) -> Result<(), AppError> {
    let broadcast = get(conn, me.company_id, id)?;
    if broadcast.created_by_id == me.user_id() {
        return Err(AppError::Conflict(
            "You created this broadcast: another person must approve it.".into(),
        ));
    }
    approvals::decide(
        conn,
        me,
        ApprovalKind::Broadcast,
        broadcast.id.0,
        approve,
        reason,
    )?;
    let status = if approve {
        BroadcastStatus::Approved
    } else {
        BroadcastStatus::Rejected
    };
    diesel::update(broadcasts::table.find(broadcast.id))
        .set((
            broadcasts::status.eq(status),
            broadcasts::decided_by_id.eq(Some(me.user_id())),
            broadcasts::decided_at.eq(Some(now())),
            broadcasts::reason.eq((!approve).then_some(reason)),
            broadcasts::updated_at.eq(now()),
        ))
        .execute(conn)?;
    Ok(())
}

/// Cancels a broadcast that has not finished: what was sent stays sent, nothing more goes.
pub fn cancel(conn: &mut DbConnection, me: &Caller, id: BroadcastId) -> Result<(), AppError> {
    crate::db::serialize(conn, LockSpace::Broadcast, &id.to_string())?;
    let broadcast = get(conn, me.company_id, id)?;
    if matches!(
        broadcast.status,
        BroadcastStatus::Sent | BroadcastStatus::Cancelled
    ) {
        return Err(AppError::Conflict(format!(
            "This broadcast is {} already.",
            broadcast.status
        )));
    }
    if broadcast.status == BroadcastStatus::Submitted
        && let Some(request) =
            approvals::pending_about(conn, me.company_id, ApprovalKind::Broadcast, broadcast.id.0)?
    {
        approvals::withdraw(conn, me, request.id).ok();
    }
    set_status(conn, broadcast.id, BroadcastStatus::Cancelled)?;
    audit::Entry::new(me.company_id, &me.actor, "broadcast.cancel")
        .on("broadcast", broadcast.id, &broadcast.name)
        .saying(format!(
            "broadcast {} cancelled after {} of {} recipients",
            broadcast.name, broadcast.sent, broadcast.audience
        ))
        .write(conn)
}

/// Starts sending an approved broadcast (409 before approval) and sends its first batch.
pub fn send(conn: &mut DbConnection, me: &Caller, id: BroadcastId) -> Result<(), AppError> {
    crate::db::serialize(conn, LockSpace::Broadcast, &id.to_string())?;
    let broadcast = approved(conn, me, id)?;
    start(conn, &me.viewer, &me.actor, &broadcast, me.user_id())
}

/// The broadcast, if it is approved (409 otherwise: it goes out only once a second person
/// approved it).
fn approved(conn: &mut DbConnection, me: &Caller, id: BroadcastId) -> Result<Broadcast, AppError> {
    let broadcast = get(conn, me.company_id, id)?;
    if broadcast.status != BroadcastStatus::Approved {
        return Err(AppError::Conflict(format!(
            "This broadcast is {}: it is sent only once approved by a second person.",
            broadcast.status
        )));
    }
    Ok(broadcast)
}

/// Starts sending as `sender` sees the audience: the count, the record, the first batch.
fn start(
    conn: &mut DbConnection,
    viewer: &Viewer,
    actor: &crate::domain::Actor,
    broadcast: &Broadcast,
    sender: UserId,
) -> Result<(), AppError> {
    let audience = audience(conn, viewer, broadcast)?;
    diesel::update(broadcasts::table.find(broadcast.id))
        .set((
            broadcasts::status.eq(BroadcastStatus::Sending),
            broadcasts::sent_by_id.eq(Some(sender)),
            broadcasts::audience.eq(i32::try_from(audience).unwrap_or(i32::MAX)),
            broadcasts::updated_at.eq(now()),
        ))
        .execute(conn)?;
    audit::Entry::new(broadcast.company_id, actor, "broadcast.send")
        .on("broadcast", broadcast.id, &broadcast.name)
        .saying(format!(
            "broadcast {} sending to {audience} recipients",
            broadcast.name
        ))
        .write(conn)?;
    let broadcast = get(conn, broadcast.company_id, broadcast.id)?;
    send_batch(conn, viewer, &broadcast)?;
    Ok(())
}

/// Schedules an approved broadcast to start at `at` (UTC: the page reads it in the sender's
/// time zone), as the caller; a new time replaces the old. 422 for a time not in the next 90
/// days.
pub fn schedule(
    conn: &mut DbConnection,
    me: &Caller,
    id: BroadcastId,
    at: NaiveDateTime,
) -> Result<(), AppError> {
    crate::db::serialize(conn, LockSpace::Broadcast, &id.to_string())?;
    let broadcast = approved(conn, me, id)?;
    let current = now();
    if at <= current || at > current + chrono::Duration::days(90) {
        return Err(AppError::field(
            "send_at",
            "Choose a time in the next 90 days.",
        ));
    }
    diesel::update(broadcasts::table.find(broadcast.id))
        .set((
            broadcasts::send_at.eq(Some(at)),
            broadcasts::sent_by_id.eq(Some(me.user_id())),
            broadcasts::updated_at.eq(current),
        ))
        .execute(conn)?;
    audit::Entry::new(me.company_id, &me.actor, "broadcast.schedule")
        .on("broadcast", broadcast.id, &broadcast.name)
        .saying(format!(
            "broadcast {} scheduled for {} UTC",
            broadcast.name,
            at.format("%Y-%m-%d %H:%M")
        ))
        .write(conn)
}

/// Starts the scheduled broadcasts whose time has come (the sender's second-by-second task),
/// each as the person who scheduled it — unless they may no longer send broadcasts, when it is
/// cancelled. Returns how many started.
pub fn start_due(conn: &mut DbConnection, at: NaiveDateTime) -> Result<usize, AppError> {
    let due: Vec<Broadcast> = broadcasts::table
        .filter(broadcasts::status.eq(BroadcastStatus::Approved))
        .filter(broadcasts::send_at.le(at))
        .select(Broadcast::as_select())
        .load(conn)?;
    let mut started = 0;
    for broadcast in due {
        crate::db::serialize(conn, LockSpace::Broadcast, &broadcast.id.to_string())?;
        // still approved and due once the lock is held (another instance may have started it)
        let Some(broadcast) = broadcasts::table
            .find(broadcast.id)
            .filter(broadcasts::status.eq(BroadcastStatus::Approved))
            .filter(broadcasts::send_at.le(at))
            .select(Broadcast::as_select())
            .first(conn)
            .optional()?
        else {
            continue;
        };
        let Some((sender, viewer)) = sender_of(conn, &broadcast)? else {
            set_status(conn, broadcast.id, BroadcastStatus::Cancelled)?;
            continue;
        };
        // recorded as the person who scheduled it, from no address
        let actor = crate::domain::Actor {
            user_id: Some(sender.id),
            username: sender.username.clone(),
            ip: "scheduled".into(),
        };
        start(conn, &viewer, &actor, &broadcast, sender.id)?;
        started += 1;
    }
    Ok(started)
}

/// The person a broadcast goes out as, and what they see, while they may still send
/// broadcasts.
fn sender_of(
    conn: &mut DbConnection,
    broadcast: &Broadcast,
) -> Result<Option<(crate::domain::accounts::User, Viewer)>, AppError> {
    let Some(sender) = broadcast.sent_by_id else {
        return Ok(None);
    };
    let user = crate::domain::accounts::get(conn, broadcast.company_id, sender)?;
    let permissions = roles::permissions_of(conn, user.role_id)?;
    if !user.is_active() || !permissions.contains(Permission::BroadcastsCreate) {
        return Ok(None);
    }
    let company = companies::get(conn, broadcast.company_id)?;
    let user_id = user.id;
    Ok(Some((
        user,
        Viewer::new(
            user_id,
            broadcast.company_id,
            permissions,
            PhoneRegion::from_stored(&company.phone_region),
        ),
    )))
}

/// Writes the next batch of a sending broadcast as `viewer` (its sender); marks it sent when
/// nobody is left. Returns how many were written.
fn send_batch(
    conn: &mut DbConnection,
    viewer: &Viewer,
    broadcast: &Broadcast,
) -> Result<usize, AppError> {
    crate::db::serialize(conn, LockSpace::Broadcast, &broadcast.id.to_string())?;
    // read again under the lock: another instance may have sent this batch, or it was cancelled
    let broadcast = &get(conn, broadcast.company_id, broadcast.id)?;
    if broadcast.status != BroadcastStatus::Sending {
        return Ok(0);
    }
    let template = templates::get(conn, broadcast.company_id, broadcast.template_id)?;
    let recipients = next_recipients(conn, viewer, broadcast, BATCH)?;
    let at = now();
    let mut written = 0;
    for (contact_id, conversation_id) in &recipients {
        let Some(conversation_id) = conversation_id else {
            continue;
        };
        let channel_id = broadcast.channel_id;
        let message_id = NewMessage {
            company_id: broadcast.company_id,
            conversation_id: *conversation_id,
            channel_id,
            direction: Direction::Outbound,
            author_id: Some(viewer.user_id),
            body: &template.body,
            external_id: None,
            delivery: crate::domain::conversations::BROADCAST_DELIVERY,
            created_at: at,
        }
        .insert(conn)?;
        diesel::update(conversations::table.find(*conversation_id))
            .set(conversations::last_message_at.eq(at))
            .execute(conn)?;
        diesel::insert_into(broadcast_deliveries::table)
            .values((
                broadcast_deliveries::broadcast_id.eq(broadcast.id),
                broadcast_deliveries::contact_id.eq(*contact_id),
                broadcast_deliveries::message_id.eq(message_id),
            ))
            .execute(conn)?;
        written += 1;
    }
    let sent = broadcast.sent + i32::try_from(written).unwrap_or(0);
    let finished = (recipients.len() as i64) < BATCH;
    diesel::update(broadcasts::table.find(broadcast.id))
        .set((broadcasts::sent.eq(sent), broadcasts::updated_at.eq(at)))
        .execute(conn)?;
    if finished {
        set_status(conn, broadcast.id, BroadcastStatus::Sent)?;
        let system = crate::domain::Actor::background();
        audit::Entry::new(broadcast.company_id, &system, "broadcast.sent")
            .on("broadcast", broadcast.id, &broadcast.name)
            .saying(format!(
                "broadcast {} sent to {sent} recipients",
                broadcast.name
            ))
            .write(conn)?;
    }
    Ok(written)
}

/// The broadcasts job's second (`serve` runs it every second): scheduled broadcasts whose
/// time has come start, then each broadcast being sent goes out by one batch, one transaction
/// per batch. Failures are logged and retried on the next tick.
pub async fn send_due(pool: &crate::db::Pool) {
    let started = crate::db::write_outside_sessions(pool, |conn| start_due(conn, now())).await;
    if let Err(err) = started {
        tracing::warn!(error = %err.chain(), "cannot start scheduled broadcasts yet");
    }
    let Ok(sending) = crate::db::run(pool, sending).await else {
        return;
    };
    for id in sending {
        let sent =
            crate::db::write_outside_sessions(pool, move |conn| continue_sending(conn, id)).await;
        if let Err(err) = sent {
            tracing::warn!(error = %err.chain(), broadcast = %id, "cannot send a batch yet");
        }
    }
}

/// The broadcasts that are sending (the worker's first look: one small query).
pub fn sending(conn: &mut DbConnection) -> Result<Vec<BroadcastId>, AppError> {
    Ok(broadcasts::table
        .filter(broadcasts::status.eq(BroadcastStatus::Sending))
        .select(broadcasts::id)
        .load(conn)?)
}

/// The next batch of a sending broadcast, as its sender sees the company now (a sender who
/// lost the right to broadcast sends nothing more: it is cancelled). For the background
/// worker; call it in a write transaction.
pub fn continue_sending(conn: &mut DbConnection, id: BroadcastId) -> Result<usize, AppError> {
    let sending: Vec<Broadcast> = broadcasts::table
        .filter(broadcasts::id.eq(id))
        .filter(broadcasts::status.eq(BroadcastStatus::Sending))
        .select(Broadcast::as_select())
        .load(conn)?;
    let mut written = 0;
    for broadcast in sending {
        let Some((_, viewer)) = sender_of(conn, &broadcast)? else {
            set_status(conn, broadcast.id, BroadcastStatus::Cancelled)?;
            continue;
        };
        written += send_batch(conn, &viewer, &broadcast)?;
    }
    Ok(written)
}
