//! Offboarding: what blocks deleting a user, the fixes (transfer every open conversation in
//! one action, leave every channel), and deletion itself, which erases personal data but
//! keeps the name that history shows.

use crate::core::ids::{CallTaskId, ChannelId, CompanyId, ConversationId, RoleId, UserId};
use crate::core::masking::ContactMask;
use crate::core::text::count;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::core::status::{CallStatus, ConversationStatus, UserStatus};
use crate::db::DbConnection;
use crate::db::schema::{
    call_tasks, channel_members, channels, contacts, conversations, login_events, sessions, users,
};
use crate::domain::accounts::User;
use crate::domain::roles::{self, UserWithRole};
use crate::domain::users as user_domain;
use crate::domain::{
    Caller, audit, channels as channel_domain, labels, now, routing, sessions as session_domain,
};
use crate::error::AppError;

pub struct OpenConversation {
    pub id: ConversationId,
    pub contact_name: String,
    pub channel_id: ChannelId,
    pub channel_name: String,
}

pub struct OpenCallTask {
    pub id: CallTaskId,
    pub channel_name: String,
    pub call_status: String,
    pub created_at: NaiveDateTime,
}

/// Someone who can take over the user's open conversations.
pub struct Candidate {
    pub id: UserId,
    pub display_name: String,
    pub username: String,
}

pub struct Checklist {
    pub user: User,
    pub conversations: Vec<OpenConversation>,
    pub channels: Vec<user_domain::Membership>,
    pub call_tasks: Vec<OpenCallTask>,
    pub candidates: Vec<Candidate>,
    pub last_supervisor: bool,
}

impl Checklist {
    /// What must happen before the user can be deleted, in words.
    pub fn blockers(&self) -> Vec<String> {
        let mut blockers = Vec::new();
        if self.last_supervisor {
            blockers.push(format!(
                "{} is the company's last active supervisor: make another user a supervisor first.",
                self.user.display_name
            ));
        }
        if !self.conversations.is_empty() {
            blockers.push(format!(
                "Transfer {} to another agent.",
                count(
                    self.conversations.len(),
                    "open conversation",
                    "open conversations"
                )
            ));
        }
        if !self.channels.is_empty() {
            blockers.push(format!(
                "Remove the user from {}.",
                count(self.channels.len(), "channel", "channels")
            ));
        }
        if !self.call_tasks.is_empty() {
            blockers.push(format!(
                "Complete {}: call tasks cannot be reassigned.",
                count(self.call_tasks.len(), "open call task", "open call tasks")
            ));
        }
        blockers
    }
}

/// The offboarding checklist, with contact names as `mask` shows them to the viewer.
pub fn checklist(
    conn: &mut DbConnection,
    company_id: CompanyId,
    user_id: UserId,
    mask: ContactMask,
) -> Result<Checklist, AppError> {
    let user = user_domain::get_manageable(conn, company_id, user_id)?;
    let conversations: Vec<OpenConversation> = conversations::table
        .inner_join(contacts::table)
        .inner_join(channels::table)
        .filter(conversations::assignee_id.eq(user.id))
        .filter(conversations::status.eq(ConversationStatus::Open))
        .order(conversations::id)
        .select((
            conversations::id,
            contacts::name,
            channels::id,
            channels::name,
        ))
        .load::<(ConversationId, String, ChannelId, String)>(conn)?
        .into_iter()
        .map(
            |(id, contact_name, channel_id, channel_name)| OpenConversation {
                id,
                contact_name: mask.identifier(&contact_name),
                channel_id,
                channel_name,
            },
        )
        .collect();
    let channels = user_domain::memberships_of(conn, &[user.id])?;
    let call_tasks = call_tasks::table
        .inner_join(channels::table)
        .filter(call_tasks::assignee_id.eq(user.id))
        .filter(call_tasks::status.eq(CallStatus::Open))
        .order(call_tasks::id)
        .select((
            call_tasks::id,
            channels::name,
            call_tasks::call_status,
            call_tasks::created_at,
        ))
        .load::<(CallTaskId, String, String, NaiveDateTime)>(conn)?
        .into_iter()
        .map(|(id, channel_name, call_status, created_at)| OpenCallTask {
            id,
            channel_name,
            call_status,
            created_at,
        })
        .collect();
    let mut needed: Vec<ChannelId> = conversations.iter().map(|c| c.channel_id).collect();
    needed.sort_unstable();
    needed.dedup();
    let ids: Vec<ConversationId> = conversations.iter().map(|c| c.id).collect();
    let candidates = candidates(conn, company_id, user.id, &needed, &ids)?;
    let last_supervisor = user_domain::is_last_supervisor(conn, &user)?;
    Ok(Checklist {
        user,
        conversations,
        channels,
        call_tasks,
        candidates,
        last_supervisor,
    })
}

/// Who could take over all of a user's open conversations (the deactivation form offers
/// them): the checklist's candidates without the rest of the checklist.
pub fn handover_candidates(
    conn: &mut DbConnection,
    company_id: CompanyId,
    user_id: UserId,
) -> Result<Vec<Candidate>, AppError> {
    let open: Vec<(ConversationId, ChannelId)> = conversations::table
        .filter(conversations::company_id.eq(company_id))
        .filter(conversations::assignee_id.eq(user_id))
        .filter(conversations::status.eq(ConversationStatus::Open))
        .select((conversations::id, conversations::channel_id))
        .load(conn)?;
    let mut needed: Vec<ChannelId> = open.iter().map(|o| o.1).collect();
    needed.sort_unstable();
    needed.dedup();
    let ids: Vec<ConversationId> = open.iter().map(|o| o.0).collect();
    candidates(conn, company_id, user_id, &needed, &ids)
}

/// Active users (other than `exclude`) who can hold assigned conversations, are members of
/// every channel in `needed` and may see every restricted label of `conversations`. Four
/// queries, however many users (five when the company restricts a label).
fn candidates(
    conn: &mut DbConnection,
    company_id: CompanyId,
    exclude: UserId,
    needed: &[ChannelId],
    conversations: &[ConversationId],
) -> Result<Vec<Candidate>, AppError> {
    let required = labels::restrictions_on(conn, company_id, conversations)?.all();
    let people: Vec<UserWithRole> = users::table
        .filter(users::company_id.eq(company_id))
        .filter(users::status.eq(UserStatus::Active))
        .filter(users::id.ne(exclude))
        .order(users::display_name)
        .select(UserWithRole::as_select())
        .load(conn)?;
    let role_ids: Vec<RoleId> = people.iter().map(|p| p.role_id).collect();
    let permissions = roles::permission_sets(conn, &role_ids)?;
    let ids: Vec<UserId> = people.iter().map(|p| p.id).collect();
    let memberships: Vec<(UserId, ChannelId)> = channel_members::table
        .filter(channel_members::user_id.eq_any(&ids))
        .select((channel_members::user_id, channel_members::channel_id))
        .load(conn)?;
    Ok(people
        .into_iter()
        .filter(|p| {
            let can_hold = permissions
                .get(&p.role_id)
                .is_some_and(|set| set.can_hold_assigned());
            let on_every_channel = needed
                .iter()
                .all(|channel| memberships.contains(&(p.id, *channel)));
            can_hold && on_every_channel && labels::allows(&required, p.role_id)
        })
        .map(|p| Candidate {
            id: p.id,
            display_name: p.display_name,
            username: p.username,
        })
        .collect())
}

/// What becomes of a user's open conversations when they stop working on them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handover {
    /// They stay assigned (the supervisor deals with them later).
    Keep,
    /// Back to the unassigned queue of their channels.
    Queue,
    /// To one person, who must be able to hold them on every channel involved.
    Person(Option<UserId>),
    /// Routed again as if new (`domain::routing`); what nobody may take goes to the queue.
    Route,
}

/// Routes every open conversation of `from_id` again (leaving them out), with assignment
/// history carrying routing's reasons and one audit record.
pub fn route_open_conversations_again(
    conn: &mut DbConnection,
    me: &Caller,
    from_id: UserId,
) -> Result<routing::Rerouted, AppError> {
    let user = crate::domain::accounts::get_manageable(conn, me.company_id, from_id)?;
    user_domain::ensure_may_act_on(conn, me, &user)?;
    let done = routing::route_again(conn, me.company_id, from_id, me.actor.user_id)?;
    if done.total() > 0 {
        audit::Entry::new(me.company_id, &me.actor, "conversation.route_again")
            .on("user", from_id, &user.username)
            .saying(routing::rerouted_summary(&done, &user.username, "asked"))
            .write(conn)?;
    }
    Ok(done)
}

/// Moves every open conversation of `from_id` to `to_id` in one action, with assignment
/// history and one audit record. Returns how many moved.
pub fn transfer_open_conversations(
    conn: &mut DbConnection,
    me: &Caller,
    from_id: UserId,
    to_id: Option<UserId>,
) -> Result<usize, AppError> {
    let list = checklist(conn, me.company_id, from_id, me.viewer.contact_mask())?;
    user_domain::ensure_may_act_on(conn, me, &list.user)?;
    if list.conversations.is_empty() {
        return Ok(0);
    }
    let Some(target) = list.candidates.iter().find(|c| Some(c.id) == to_id) else {
        return Err(AppError::field(
            "assignee_id",
            "Choose an active agent who is a member of every channel of these conversations.",
        ));
    };
    move_open_conversations(conn, me, &list, Some(target))
}

/// Returns every open conversation of `from_id` to the unassigned queue, with assignment
/// history and one audit record. Returns how many.
pub fn return_open_conversations_to_queue(
    conn: &mut DbConnection,
    me: &Caller,
    from_id: UserId,
) -> Result<usize, AppError> {
    let list = checklist(conn, me.company_id, from_id, me.viewer.contact_mask())?;
    user_domain::ensure_may_act_on(conn, me, &list.user)?;
    move_open_conversations(conn, me, &list, None)
}

fn move_open_conversations(
    conn: &mut DbConnection,
    me: &Caller,
    list: &Checklist,
    to: Option<&Candidate>,
) -> Result<usize, AppError> {
    if list.conversations.is_empty() {
        return Ok(0);
    }
    let (from_id, at) = (list.user.id, now());
    let to_id = to.map(|c| c.id);
    let ids: Vec<ConversationId> = list.conversations.iter().map(|c| c.id).collect();
    diesel::update(conversations::table.filter(conversations::id.eq_any(&ids)))
        .set(conversations::assignee_id.eq(to_id))
        .execute(conn)?;
    for id in &ids {
        routing::Handoff {
            conversation_id: *id,
            from: Some(from_id),
            to: to_id,
            by: me.actor.user_id,
            reason: None,
            at,
        }
        .record(conn)?;
    }
    let (action, whither) = match to {
        Some(target) => (
            "conversation.transfer_all",
            format!("transferred to {}", target.username),
        ),
        None => (
            "conversation.unassign_all",
            "returned to the unassigned queue".to_string(),
        ),
    };
    audit::Entry::new(me.company_id, &me.actor, action)
        .on("user", from_id, &list.user.username)
        .saying(format!(
            "{} of {} {whither}",
            count(ids.len(), "open conversation", "open conversations"),
            list.user.username
        ))
        .write(conn)?;
    Ok(ids.len())
}

/// Deactivates a user and, in the same step, hands over their open conversations so no
/// customer is left with someone who no longer works. Returns how many conversations moved.
pub fn deactivate(
    conn: &mut DbConnection,
    me: &Caller,
    user_id: UserId,
    handover: Handover,
) -> Result<usize, AppError> {
    let moved = hand_over(conn, me, user_id, handover)?;
    user_domain::deactivate(conn, me, user_id)?;
    Ok(moved)
}

/// Hands over all of a user's open conversations as asked. Returns how many moved.
pub fn hand_over(
    conn: &mut DbConnection,
    me: &Caller,
    user_id: UserId,
    handover: Handover,
) -> Result<usize, AppError> {
    Ok(match handover {
        Handover::Keep => 0,
        Handover::Queue => return_open_conversations_to_queue(conn, me, user_id)?,
        Handover::Person(to) => transfer_open_conversations(conn, me, user_id, to)?,
        Handover::Route => route_open_conversations_again(conn, me, user_id)?.total(),
    })
}

/// Removes the user from every channel (an offboarding step).
pub fn leave_all_channels(
    conn: &mut DbConnection,
    me: &Caller,
    user_id: UserId,
) -> Result<usize, AppError> {
    user_domain::get_actionable(conn, me, user_id)?;
    channel_domain::remove_all_memberships(conn, me.company_id, user_id, &me.actor)
}

/// Deletes a user for good once nothing blocks it: access ends, email, phone, password hash
/// and the addresses in their login history are erased; the name stays for history.
pub fn delete_user(conn: &mut DbConnection, me: &Caller, user_id: UserId) -> Result<(), AppError> {
    let (company_id, actor) = (me.company_id, &me.actor);
    // the checklist counts supervisors: no concurrent removal may count with it
    crate::db::serialize(
        conn,
        crate::db::LockSpace::Supervisors,
        &company_id.to_string(),
    )?;
    let list = checklist(conn, company_id, user_id, me.viewer.contact_mask())?;
    if actor.user_id == Some(user_id) {
        return Err(AppError::Conflict(
            "You cannot delete your own account.".into(),
        ));
    }
    user_domain::ensure_may_act_on(conn, me, &list.user)?;
    let blockers = list.blockers();
    if !blockers.is_empty() {
        return Err(AppError::Conflict(blockers.join(" ")));
    }
    let user = list.user;
    if user.is_active() {
        let held = crate::domain::roles::permissions_of(conn, user.role_id)?;
        crate::domain::coverage::refuse_uncovering(conn, company_id, &[user.id], held)?;
    }
    let at = now();
    diesel::update(users::table.filter(users::id.eq(user.id)))
        .set((
            users::status.eq(UserStatus::Deleted),
            users::email.eq(None::<String>),
            users::phone.eq(None::<String>),
            users::password_hash.eq(None::<String>),
            users::must_change_password.eq(false),
            users::locked_until.eq(None::<NaiveDateTime>),
            users::deleted_at.eq(Some(at)),
            users::updated_at.eq(at),
        ))
        .execute(conn)?;
    session_domain::revoke_all_for_user(conn, user.id, None, "user deleted")?;
    // the team hears of it before the user leaves it
    crate::domain::notifications::about_user(
        conn,
        me,
        user.id,
        "user.delete",
        &format!("{} (@{}) was deleted", user.display_name, user.username),
    )?;
    crate::domain::teams::remove_user(conn, user.id)?;
    diesel::update(sessions::table.filter(sessions::user_id.eq(user.id)))
        .set((sessions::ip.eq("erased"), sessions::user_agent.eq("")))
        .execute(conn)?;
    diesel::update(login_events::table.filter(login_events::user_id.eq(user.id)))
        .set((
            login_events::ip.eq("erased"),
            login_events::user_agent.eq(""),
        ))
        .execute(conn)?;
    audit::Entry::new(company_id, actor, "user.delete")
        .on("user", user.id, &user.username)
        .saying(format!("{} deleted; personal data erased", user.username))
        .write(conn)
}
