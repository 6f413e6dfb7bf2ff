//! Routing: who a new conversation goes to, and when the unassigned queue moves.
//!
//! A new conversation goes to the channel member who receives new chats there, is online, can
//! hold assigned conversations and is under capacity, with the fewest open conversations (ties:
//! the longest since their last assignment, then the earliest account). With nobody such, it
//! waits unassigned in the queue; the queue drains, oldest first, whenever someone may have
//! become available (they come online or sign in, a conversation closes, a capacity or a
//! membership changes). Every choice is in the assignment history with its reason.
//!
//! Each decision runs under the company's routing lock (`LockSpace::Routing`), so concurrent
//! deliveries count each other's assignments and nobody is routed past capacity.

use std::collections::HashMap;

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use crate::core::ids::{ChannelId, CompanyId, ConversationId, RoleId, UserId};
use crate::core::status::{Availability, ConversationStatus, UserStatus};
use crate::db::schema::{
    channel_members, companies, conversation_assignments, conversations, sessions, users,
};
use crate::db::{DbConnection, LockSpace, serialize, write_transaction};
use crate::domain::{Actor, Caller, audit, labels, now, roles};
use crate::error::AppError;

/// Queued conversations one drain reads at a time, oldest first.
const DRAIN_BATCH: i64 = 500;
/// Batches one drain reads at most: past conversations nobody may take (a restricted label,
/// a channel without people) it goes on while someone has room, up to this many; the next
/// drain starts again from the oldest.
const DRAIN_BATCHES: usize = 20;

struct Person {
    username: String,
    role_id: RoleId,
    open: i64,
    capacity: i64,
    last_assigned_at: Option<NaiveDateTime>,
}

/// Who takes new chats on which channel, with their loads, read under the company's routing
/// lock. A pick counts itself, so one router spreads a batch as routing them one by one would.
pub struct Router {
    people: HashMap<UserId, Person>,
    by_channel: HashMap<ChannelId, Vec<UserId>>,
}

/// Where routing sends a conversation (`None`: the queue), and why.
pub struct Choice {
    pub user_id: Option<UserId>,
    pub reason: String,
}

impl Router {
    /// Takes the company's routing lock (held to the end of the transaction), then reads who
    /// may take new chats on `channel` (every channel when `None`). Four queries.
    pub fn load(
        conn: &mut DbConnection,
        company_id: CompanyId,
        channel: Option<ChannelId>,
    ) -> Result<Self, AppError> {
        serialize(conn, LockSpace::Routing, &company_id.to_string())?;
        let default_capacity: i32 = companies::table
            .find(company_id)
            .select(companies::default_capacity)
            .first(conn)?;
        type Member = (
            ChannelId,
            UserId,
            String,
            RoleId,
            Option<i32>,
            Option<NaiveDateTime>,
        );
        let mut query = channel_members::table
            .inner_join(users::table)
            .filter(channel_members::receives_new_chats.eq(true))
            .filter(users::company_id.eq(company_id))
            .filter(users::status.eq(UserStatus::Active))
            .filter(users::availability.eq(Availability::Online))
            .select((
                channel_members::channel_id,
                users::id,
                users::username,
                users::role_id,
                users::capacity,
                users::last_assigned_at,
            ))
            .into_boxed();
        if let Some(channel) = channel {
            query = query.filter(channel_members::channel_id.eq(channel));
        }
        let members: Vec<Member> = query.load(conn)?;
        let mut role_ids: Vec<RoleId> = members.iter().map(|m| m.3).collect();
        role_ids.sort_unstable();
        role_ids.dedup();
        let sets = roles::permission_sets(conn, &role_ids)?;
        let members: Vec<Member> = members
            .into_iter()
            .filter(|m| sets.get(&m.3).is_some_and(|set| set.can_hold_assigned()))
            .collect();
        let mut ids: Vec<UserId> = members.iter().map(|m| m.1).collect();
        ids.sort_unstable();
        ids.dedup();
        let loads: HashMap<Option<UserId>, i64> = conversations::table
            .filter(conversations::assignee_id.eq_any(&ids))
            .filter(conversations::status.eq(ConversationStatus::Open))
            .group_by(conversations::assignee_id)
            .select((conversations::assignee_id, diesel::dsl::count_star()))
            .load::<(Option<UserId>, i64)>(conn)?
            .into_iter()
            .collect();
        let mut router = Router {
            people: HashMap::new(),
            by_channel: HashMap::new(),
        };
        for (channel_id, user_id, username, role_id, capacity, last_assigned_at) in members {
            router
                .by_channel
                .entry(channel_id)
                .or_default()
                .push(user_id);
            router.people.entry(user_id).or_insert_with(|| Person {
                username,
                role_id,
                open: loads.get(&Some(user_id)).copied().unwrap_or(0),
                capacity: capacity.unwrap_or(default_capacity).into(),
                last_assigned_at,
            });
        }
        Ok(router)
    }

    /// Nobody may take a new chat anywhere.
    pub fn is_empty(&self) -> bool {
        self.people.is_empty()
    }

    /// Whether anyone may still be given a conversation.
    fn has_room(&self) -> bool {
        self.people.values().any(|p| p.open < p.capacity)
    }

    /// Leaves someone out (the person whose conversations are routed again).
    pub fn without(mut self, user_id: UserId) -> Self {
        self.people.remove(&user_id);
        self
    }

    /// The choice for one conversation on `channel`, counted as made. `restricted`: the roles
    /// each restricted label of the conversation allows (`labels::Restrictions`); nobody
    /// outside them is given it (it would be hidden from them).
    pub fn pick(
        &mut self,
        channel: ChannelId,
        at: NaiveDateTime,
        restricted: &[Vec<RoleId>],
    ) -> Choice {
        let people = &self.people;
        let available: Vec<(UserId, &Person)> = self
            .by_channel
            .get(&channel)
            .into_iter()
            .flatten()
            .filter_map(|id| people.get(id).map(|p| (*id, p)))
            .filter(|(_, p)| p.open < p.capacity)
            .filter(|(_, p)| labels::allows(restricted, p.role_id))
            .collect();
        // never assigned sorts first (None < Some), then the longest ago
        let Some(&(user_id, best)) = available
            .iter()
            .min_by_key(|(id, p)| (p.open, p.last_assigned_at, *id))
        else {
            return Choice {
                user_id: None,
                reason: "queued: nobody on the channel is online, receiving new chats and under capacity"
                    .into(),
            };
        };
        let tied = available
            .iter()
            .filter(|(_, p)| p.open == best.open)
            .count();
        let reason = format!(
            "routed to {}: {} of {} open, the fewest among {} available{}",
            best.username,
            best.open,
            best.capacity,
            available.len(),
            if tied > 1 {
                "; the longest since a last assignment"
            } else {
                ""
            }
        );
        if let Some(person) = self.people.get_mut(&user_id) {
            person.open += 1;
            person.last_assigned_at = Some(at);
        }
        Choice {
            user_id: Some(user_id),
            reason,
        }
    }
}

/// One change of a conversation's assignee, as its history keeps it.
pub struct Handoff<'a> {
    pub conversation_id: ConversationId,
    pub from: Option<UserId>,
    pub to: Option<UserId>,
    /// Who made it; `None` for routing.
    pub by: Option<UserId>,
    pub reason: Option<&'a str>,
    pub at: NaiveDateTime,
}

impl Handoff<'_> {
    /// Writes the history row and dates the new assignee's last assignment (the tie-break).
    /// The conversation's own `assignee_id` is the caller's to set.
    pub fn record(&self, conn: &mut DbConnection) -> Result<(), AppError> {
        diesel::insert_into(conversation_assignments::table)
            .values((
                conversation_assignments::conversation_id.eq(self.conversation_id),
                conversation_assignments::from_user_id.eq(self.from),
                conversation_assignments::to_user_id.eq(self.to),
                conversation_assignments::by_user_id.eq(self.by),
                conversation_assignments::reason.eq(self.reason),
                conversation_assignments::created_at.eq(self.at),
            ))
            .execute(conn)?;
        if let Some(to) = self.to {
            diesel::update(users::table.find(to))
                .set(users::last_assigned_at.eq(Some(self.at)))
                .execute(conn)?;
        }
        Ok(())
    }

    /// Sets the assignee and records the change.
    pub fn apply(&self, conn: &mut DbConnection) -> Result<(), AppError> {
        diesel::update(conversations::table.find(self.conversation_id))
            .set(conversations::assignee_id.eq(self.to))
            .execute(conn)?;
        self.record(conn)
    }
}

/// Routes the oldest queued conversations of the company to whoever may take them now.
/// Returns how many were assigned. Cheap when nobody is available: the queue is not read.
pub fn drain(conn: &mut DbConnection, company_id: CompanyId) -> Result<usize, AppError> {
    let mut router = Router::load(conn, company_id, None)?;
    if router.is_empty() {
        return Ok(0);
    }
    let at = now();
    let mut routed = 0;
    // keyset pages of the queue, oldest first
    let mut after: Option<(NaiveDateTime, ConversationId)> = None;
    for _ in 0..DRAIN_BATCHES {
        let mut page = conversations::table
            .filter(conversations::company_id.eq(company_id))
            .filter(conversations::status.eq(ConversationStatus::Open))
            .filter(conversations::assignee_id.is_null())
            .order((conversations::created_at, conversations::id))
            .limit(DRAIN_BATCH)
            .select((
                conversations::id,
                conversations::channel_id,
                conversations::created_at,
            ))
            .into_boxed();
        if let Some((created_at, id)) = after {
            page = page.filter(
                conversations::created_at
                    .gt(created_at)
                    .or(conversations::created_at
                        .eq(created_at)
                        .and(conversations::id.gt(id))),
            );
        }
        let queue: Vec<(ConversationId, ChannelId, NaiveDateTime)> = page.load(conn)?;
        let ids: Vec<ConversationId> = queue.iter().map(|q| q.0).collect();
        let restrictions = labels::restrictions_on(conn, company_id, &ids)?;
        for &(conversation_id, channel_id, _) in &queue {
            let choice = router.pick(channel_id, at, restrictions.on(conversation_id));
            if choice.user_id.is_some() {
                Handoff {
                    conversation_id,
                    from: None,
                    to: choice.user_id,
                    by: None,
                    reason: Some(&choice.reason),
                    at,
                }
                .apply(conn)?;
                routed += 1;
            }
        }
        if queue.len() < DRAIN_BATCH as usize || !router.has_room() {
            break;
        }
        after = queue.last().map(|&(id, _, created_at)| (created_at, id));
    }
    Ok(routed)
}

/// What routing again did with someone's open conversations.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Rerouted {
    pub assigned: usize,
    pub queued: usize,
}

impl Rerouted {
    pub fn total(&self) -> usize {
        self.assigned + self.queued
    }
}

/// Routes every open conversation of `from` again, as if new, leaving `from` out; what nobody
/// may take goes to the queue. The caller checks who may ask and writes the audit record.
pub fn route_again(
    conn: &mut DbConnection,
    company_id: CompanyId,
    from: UserId,
    by: Option<UserId>,
) -> Result<Rerouted, AppError> {
    let mut router = Router::load(conn, company_id, None)?.without(from);
    let open: Vec<(ConversationId, ChannelId)> = conversations::table
        .filter(conversations::company_id.eq(company_id))
        .filter(conversations::assignee_id.eq(from))
        .filter(conversations::status.eq(ConversationStatus::Open))
        .order((conversations::created_at, conversations::id))
        .select((conversations::id, conversations::channel_id))
        .load(conn)?;
    let ids: Vec<ConversationId> = open.iter().map(|o| o.0).collect();
    let restrictions = labels::restrictions_on(conn, company_id, &ids)?;
    let at = now();
    let mut done = Rerouted::default();
    for (conversation_id, channel_id) in open {
        let choice = router.pick(channel_id, at, restrictions.on(conversation_id));
        if choice.user_id.is_some() {
            done.assigned += 1;
        } else {
            done.queued += 1;
        }
        Handoff {
            conversation_id,
            from: Some(from),
            to: choice.user_id,
            by,
            reason: Some(&choice.reason),
            at,
        }
        .apply(conn)?;
    }
    Ok(done)
}

/// What setting someone's availability did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct AvailabilitySet {
    /// False when it was so already (nothing written).
    pub changed: bool,
    /// Queued conversations that coming online routed (to anyone the router chose).
    pub routed: usize,
}

/// Sets a user's availability; coming online drains the queue.
pub fn set_availability(
    conn: &mut DbConnection,
    company_id: CompanyId,
    user_id: UserId,
    availability: Availability,
) -> Result<AvailabilitySet, AppError> {
    let changed = diesel::update(
        users::table
            .filter(users::id.eq(user_id))
            .filter(users::company_id.eq(company_id))
            .filter(users::availability.ne(availability)),
    )
    .set((
        users::availability.eq(availability),
        users::availability_changed_at.eq(Some(now())),
    ))
    .execute(conn)?
        > 0;
    let routed = if changed && availability == Availability::Online {
        drain(conn, company_id)?
    } else {
        0
    };
    Ok(AvailabilitySet { changed, routed })
}

/// Those of `among` (every user of the company when `None`) who have signed in before, are
/// not offline and have no live session left go offline: their last session was signed out,
/// ended, or idled past the company's timeout. Returns who went offline.
pub fn offline_without_session(
    conn: &mut DbConnection,
    company_id: CompanyId,
    among: Option<&[UserId]>,
    at: NaiveDateTime,
) -> Result<Vec<UserId>, AppError> {
    let mut query = users::table
        .filter(users::company_id.eq(company_id))
        .filter(users::availability.ne(Availability::Offline))
        .select(users::id)
        .into_boxed();
    match among {
        Some(ids) => query = query.filter(users::id.eq_any(ids)),
        // the sweep spares who just signed in: their new session may not be stored yet
        None => {
            query = query.filter(
                users::availability_changed_at
                    .is_null()
                    .or(users::availability_changed_at.lt(at - Duration::minutes(2))),
            )
        }
    }
    let candidates: Vec<UserId> = query.load(conn)?;
    if candidates.is_empty() {
        return Ok(Vec::new());
    }
    let idle: i32 = companies::table
        .find(company_id)
        .select(companies::idle_timeout_minutes)
        .first(conn)?;
    let seen_since = if idle > 0 {
        at - Duration::minutes(idle.into())
    } else {
        NaiveDateTime::MIN
    };
    let signed_in_before: Vec<UserId> = sessions::table
        .filter(sessions::user_id.eq_any(&candidates))
        .select(sessions::user_id)
        .distinct()
        .load(conn)?;
    let live: Vec<UserId> = sessions::table
        .filter(sessions::user_id.eq_any(&signed_in_before))
        .filter(sessions::revoked_at.is_null())
        .filter(sessions::expires_at.gt(at))
        .filter(sessions::last_seen_at.gt(seen_since))
        .select(sessions::user_id)
        .distinct()
        .load(conn)?;
    let gone: Vec<UserId> = signed_in_before
        .into_iter()
        .filter(|id| !live.contains(id))
        .collect();
    if !gone.is_empty() {
        diesel::update(users::table.filter(users::id.eq_any(&gone)))
            .set((
                users::availability.eq(Availability::Offline),
                users::availability_changed_at.eq(Some(at)),
            ))
            .execute(conn)?;
    }
    Ok(gone)
}

/// The minutely pass: people whose sessions all idled out go offline, and where the company
/// says so, the open conversations of people offline for long enough are routed again.
pub fn sweep(conn: &mut DbConnection, at: NaiveDateTime) -> Result<(), AppError> {
    let companies: Vec<(CompanyId, i32)> = companies::table
        .select((companies::id, companies::reroute_offline_minutes))
        .load(conn)?;
    for (company_id, reroute_after) in companies {
        write_transaction(conn, |conn| {
            offline_without_session(conn, company_id, None, at)?;
            if reroute_after > 0 {
                reroute_long_offline(
                    conn,
                    company_id,
                    at - Duration::minutes(reroute_after.into()),
                )?;
            }
            Ok(())
        })?;
    }
    Ok(())
}

/// Routes again the open conversations of everyone offline since `offline_since` or before.
fn reroute_long_offline(
    conn: &mut DbConnection,
    company_id: CompanyId,
    offline_since: NaiveDateTime,
) -> Result<(), AppError> {
    let away: Vec<(UserId, String)> = users::table
        .filter(users::company_id.eq(company_id))
        .filter(users::availability.eq(Availability::Offline))
        .filter(users::availability_changed_at.le(offline_since))
        .filter(diesel::dsl::exists(
            conversations::table
                .filter(conversations::assignee_id.eq(users::id.nullable()))
                .filter(conversations::status.eq(ConversationStatus::Open)),
        ))
        .select((users::id, users::username))
        .load(conn)?;
    let actor = Actor {
        user_id: None,
        username: "routing".into(),
        ip: "local".into(),
    };
    for (user_id, username) in away {
        let done = route_again(conn, company_id, user_id, None)?;
        audit::Entry::new(company_id, &actor, "conversation.route_again")
            .on("user", user_id, &username)
            .saying(rerouted_summary(&done, &username, "offline too long"))
            .write(conn)?;
    }
    Ok(())
}

/// "3 open conversations of ana routed again (offline too long): 2 assigned, 1 queued".
pub fn rerouted_summary(done: &Rerouted, username: &str, why: &str) -> String {
    format!(
        "{} open conversation{} of {username} routed again ({why}): {} assigned, {} queued",
        done.total(),
        if done.total() == 1 { "" } else { "s" },
        done.assigned,
        done.queued
    )
}

/// The signed-in user sets their own availability (`online`, `away`, `offline`); recorded
/// when it changes.
pub fn set_own_availability(
    conn: &mut DbConnection,
    me: &Caller,
    status: &str,
) -> Result<Availability, AppError> {
    let Some(availability) = Availability::parse(status.trim()) else {
        return Err(AppError::field("status", "Choose online, away or offline."));
    };
    if set_availability(conn, me.company_id, me.user_id(), availability)?.changed {
        audit::Entry::new(me.company_id, &me.actor, "account.availability")
            .on("user", me.user_id(), &me.actor.username)
            .saying(format!("{} is now {availability}", me.actor.username))
            .write(conn)?;
    }
    Ok(availability)
}
