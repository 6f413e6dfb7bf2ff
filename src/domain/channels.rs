//! Channels (one per connected number or account) and their members.

use crate::core::ids::{ChannelId, CompanyId, RoleId, UserId};
use crate::db::one_of_company;
use crate::domain::validate;
use diesel::prelude::*;

use crate::core::status::{ChannelKind, ConversationStatus, UserStatus};
use crate::db::DbConnection;
use crate::db::schema::{channel_members, channels};
use crate::domain::roles::{self, UserWithRole};
use crate::domain::{Actor, Caller, audit, now};
use crate::error::{AppError, FieldErrors};

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = channels)]
pub struct Channel {
    pub id: ChannelId,
    pub company_id: CompanyId,
    pub name: String,
    pub kind: ChannelKind,
    pub active: bool,
}

pub fn create(
    conn: &mut DbConnection,
    me: &Caller,
    name: &str,
    kind: &str,
) -> Result<ChannelId, AppError> {
    let (company_id, actor) = (me.company_id, &me.actor);
    let mut errors = FieldErrors::default();
    let kind = ChannelKind::parse(kind);
    if kind.is_none() {
        errors.add("kind", "Choose one of the six kinds of channel.");
    }
    let names = list(conn, company_id)?.into_iter().map(|c| (c.id, c.name));
    let name = errors.check(
        "name",
        validate::unique_name(name, "channel", 80, names, None),
    );
    let name = name.as_str();
    errors.into_result()?;
    let Some(kind) = kind else {
        return Err(AppError::internal("validated channel kind missing"));
    };
    let id: ChannelId = diesel::insert_into(channels::table)
        .values((
            channels::company_id.eq(company_id),
            channels::name.eq(name),
            channels::kind.eq(kind),
            channels::webhook_token.eq(crate::core::secrets::random_token()),
            channels::created_at.eq(now()),
        ))
        .returning(channels::id)
        .get_result(conn)?;
    audit::Entry::new(company_id, actor, "channel.create")
        .on("channel", id, name)
        .saying(format!("channel {name} ({}) created", kind.label()))
        .write(conn)?;
    let supervisors = crate::domain::notifications::supervisors(conn, company_id)?;
    crate::domain::notifications::send(
        conn,
        me,
        supervisors,
        "channel.create",
        &format!("channel {name} ({}) was added", kind.label()),
        Some(&format!("/channels/{id}")),
    )?;
    Ok(id)
}

pub fn list(conn: &mut DbConnection, company_id: CompanyId) -> Result<Vec<Channel>, AppError> {
    Ok(channels::table
        .filter(channels::company_id.eq(company_id))
        .order(channels::name)
        .select(Channel::as_select())
        .load(conn)?)
}

/// Ids of the channels a user is a member of.
pub fn member_channel_ids(
    conn: &mut DbConnection,
    user_id: UserId,
) -> Result<Vec<ChannelId>, AppError> {
    Ok(channel_members::table
        .filter(channel_members::user_id.eq(user_id))
        .select(channel_members::channel_id)
        .load(conn)?)
}

/// Adds a user to a channel of the same company (both checked); idempotent.
pub fn add_member(
    conn: &mut DbConnection,
    company_id: CompanyId,
    channel_id: ChannelId,
    user_id: UserId,
    actor: &Actor,
) -> Result<(), AppError> {
    let channel_name: String = one_of_company!(channels, channel_id, company_id)
        .select(channels::name)
        .first(conn)?;
    let user = crate::domain::accounts::get_manageable(conn, company_id, user_id)?;
    let receives = roles::permission_sets(conn, &[user.role_id])?
        .get(&user.role_id)
        .is_some_and(|set| set.receives_new_chats_by_default());
    let row = (
        channel_members::channel_id.eq(channel_id),
        channel_members::user_id.eq(user_id),
        channel_members::created_at.eq(now()),
        channel_members::receives_new_chats.eq(receives),
    );
    // ON CONFLICT is per dialect in diesel; both dialects speak it.
    let insert = diesel::insert_into(channel_members::table).values(row);
    let added = match conn {
        DbConnection::Sqlite(c) => insert.on_conflict_do_nothing().execute(c)?,
        DbConnection::Postgres(c) => insert.on_conflict_do_nothing().execute(c)?,
    };
    if added > 0 {
        audit::Entry::new(company_id, actor, "assignment.add")
            .on("user", user_id, &user.username)
            .saying(format!("{} added to channel {channel_name}", user.username))
            .write(conn)?;
        if receives {
            // someone new may take the channel's queued chats
            crate::domain::routing::drain(conn, company_id)?;
        }
    }
    Ok(())
}

/// The ids among `ids` that are channels of the company (foreign or unknown ids drop out).
pub fn ids_of_company(
    conn: &mut DbConnection,
    company_id: CompanyId,
    ids: &[ChannelId],
) -> Result<Vec<ChannelId>, AppError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(channels::table
        .filter(channels::company_id.eq(company_id))
        .filter(channels::id.eq_any(ids))
        .select(channels::id)
        .load(conn)?)
}

/// Removes a user from every channel; returns how many memberships ended.
pub fn remove_all_memberships(
    conn: &mut DbConnection,
    company_id: CompanyId,
    user_id: UserId,
    actor: &Actor,
) -> Result<usize, AppError> {
    let user = crate::domain::accounts::get(conn, company_id, user_id)?;
    let names: Vec<String> = channel_members::table
        .inner_join(channels::table)
        .filter(channel_members::user_id.eq(user.id))
        .order(channels::name)
        .select(channels::name)
        .load(conn)?;
    if names.is_empty() {
        return Ok(0);
    }
    diesel::delete(channel_members::table.filter(channel_members::user_id.eq(user.id)))
        .execute(conn)?;
    audit::Entry::new(company_id, actor, "assignment.remove_all")
        .on("user", user.id, &user.username)
        .saying(format!(
            "{} removed from {}",
            user.username,
            names.join(", ")
        ))
        .write(conn)?;
    Ok(names.len())
}

/// A channel of the company, or 404.
pub fn get(
    conn: &mut DbConnection,
    company_id: CompanyId,
    channel_id: ChannelId,
) -> Result<Channel, AppError> {
    Ok(one_of_company!(channels, channel_id, company_id)
        .select(Channel::as_select())
        .first(conn)?)
}

/// The channel's inbound token (shown to `channels.manage` holders only).
pub fn webhook_token(
    conn: &mut DbConnection,
    company_id: CompanyId,
    channel_id: ChannelId,
) -> Result<String, AppError> {
    Ok(one_of_company!(channels, channel_id, company_id)
        .select(channels::webhook_token)
        .first(conn)?)
}

pub struct ChannelSummary {
    pub channel: Channel,
    pub members: i64,
    pub open_conversations: i64,
}

/// Every channel with member and open-conversation counts (three queries).
pub fn list_with_counts(
    conn: &mut DbConnection,
    company_id: CompanyId,
) -> Result<Vec<ChannelSummary>, AppError> {
    use crate::db::schema::{conversations, users};
    let all = list(conn, company_id)?;
    let ids: Vec<ChannelId> = all.iter().map(|c| c.id).collect();
    let members: Vec<(ChannelId, i64)> = channel_members::table
        .inner_join(users::table)
        .filter(channel_members::channel_id.eq_any(&ids))
        .filter(users::status.eq(UserStatus::Active))
        .group_by(channel_members::channel_id)
        .select((channel_members::channel_id, diesel::dsl::count_star()))
        .load(conn)?;
    let open: Vec<(ChannelId, i64)> = conversations::table
        .filter(conversations::channel_id.eq_any(&ids))
        .filter(conversations::status.eq(ConversationStatus::Open))
        .group_by(conversations::channel_id)
        .select((conversations::channel_id, diesel::dsl::count_star()))
        .load(conn)?;
    let count = |list: &[(ChannelId, i64)], id: ChannelId| {
        list.iter().find(|(c, _)| *c == id).map_or(0, |(_, n)| *n)
    };
    Ok(all
        .into_iter()
        .map(|channel| ChannelSummary {
            members: count(&members, channel.id),
            open_conversations: count(&open, channel.id),
            channel,
        })
        .collect())
}

/// (id, display name, username, status) of a channel's members.
/// A member of a channel, as the channel page lists them.
#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = crate::db::schema::users)]
pub struct ChannelMember {
    pub id: UserId,
    pub display_name: String,
    pub username: String,
    pub status: UserStatus,
}

pub fn members_of(
    conn: &mut DbConnection,
    channel_id: ChannelId,
) -> Result<Vec<ChannelMember>, AppError> {
    use crate::db::schema::users;
    Ok(channel_members::table
        .inner_join(users::table)
        .filter(channel_members::channel_id.eq(channel_id))
        .order(users::display_name)
        .select(ChannelMember::as_select())
        .load(conn)?)
}

/// Renames, disables or enables a channel.
pub fn update(
    conn: &mut DbConnection,
    me: &Caller,
    channel_id: ChannelId,
    name: &str,
    active: bool,
) -> Result<(), AppError> {
    let (company_id, actor) = (me.company_id, &me.actor);
    let channel = get(conn, company_id, channel_id)?;
    let mut errors = FieldErrors::default();
    let names = list(conn, company_id)?.into_iter().map(|c| (c.id, c.name));
    let name = errors.check(
        "name",
        validate::unique_name(name, "channel", 80, names, Some(channel.id)),
    );
    errors.into_result()?;
    let mut changes = Vec::new();
    if name != channel.name {
        changes.push(format!("renamed from {} to {name}", channel.name));
    }
    if active != channel.active {
        changes.push(if active {
            "enabled".to_string()
        } else {
            "disabled".to_string()
        });
    }
    if changes.is_empty() {
        return Ok(());
    }
    diesel::update(channels::table.filter(channels::id.eq(channel.id)))
        .set((channels::name.eq(&name), channels::active.eq(active)))
        .execute(conn)?;
    audit::Entry::new(company_id, actor, "channel.update")
        .on("channel", channel.id, &name)
        .saying(format!("channel {}", changes.join(", ")))
        .write(conn)?;
    if active != channel.active {
        // taken out of service or back: the supervisors and the people who work it
        let mut told = crate::domain::notifications::supervisors(conn, company_id)?;
        told.extend(
            channel_members::table
                .filter(channel_members::channel_id.eq(channel.id))
                .select(channel_members::user_id)
                .load::<crate::core::ids::UserId>(conn)?,
        );
        let (kind, what) = if active {
            ("channel.enable", "is back in service")
        } else {
            ("channel.disable", "was taken out of service")
        };
        crate::domain::notifications::send(
            conn,
            me,
            told,
            kind,
            &format!("channel {name} {what}"),
            Some(&format!("/channels/{}", channel.id)),
        )?;
    }
    Ok(())
}

/// Replaces the channel's inbound token; the old one stops working at once.
pub fn rotate_token(
    conn: &mut DbConnection,
    me: &Caller,
    channel_id: ChannelId,
) -> Result<(), AppError> {
    let (company_id, actor) = (me.company_id, &me.actor);
    let channel = get(conn, company_id, channel_id)?;
    diesel::update(channels::table.filter(channels::id.eq(channel.id)))
        .set(channels::webhook_token.eq(crate::core::secrets::random_token()))
        .execute(conn)?;
    audit::Entry::new(company_id, actor, "channel.rotate_token")
        .on("channel", channel.id, &channel.name)
        .saying(format!("inbound token of {} replaced", channel.name))
        .write(conn)
}

/// Removes a user from one channel; idempotent.
pub fn remove_member(
    conn: &mut DbConnection,
    company_id: CompanyId,
    channel_id: ChannelId,
    user_id: UserId,
    actor: &Actor,
) -> Result<(), AppError> {
    let channel = get(conn, company_id, channel_id)?;
    let user = crate::domain::accounts::get_manageable(conn, company_id, user_id)?;
    let removed = diesel::delete(
        channel_members::table
            .filter(channel_members::channel_id.eq(channel.id))
            .filter(channel_members::user_id.eq(user.id)),
    )
    .execute(conn)?;
    if removed > 0 {
        audit::Entry::new(company_id, actor, "assignment.remove")
            .on("user", user.id, &user.username)
            .saying(format!(
                "{} removed from channel {}",
                user.username, channel.name
            ))
            .write(conn)?;
    }
    Ok(())
}

/// An active member of a channel who can hold assigned conversations, with their load.
#[derive(Clone, Debug)]
pub struct Holder {
    pub id: UserId,
    pub display_name: String,
    pub username: String,
    pub open: i64,
    pub role_id: RoleId,
}

/// The channel's possible assignees, least loaded first (ties: the earliest user). Three
/// queries, however many members.
pub fn holders(
    conn: &mut DbConnection,
    company_id: CompanyId,
    channel_id: ChannelId,
) -> Result<Vec<Holder>, AppError> {
    use crate::db::schema::{conversations, users};
    let members: Vec<UserWithRole> = channel_members::table
        .inner_join(users::table)
        .filter(channel_members::channel_id.eq(channel_id))
        .filter(users::company_id.eq(company_id))
        .filter(users::status.eq(UserStatus::Active))
        .select(UserWithRole::as_select())
        .load(conn)?;
    let role_ids: Vec<RoleId> = members.iter().map(|m| m.role_id).collect();
    let sets = roles::permission_sets(conn, &role_ids)?;
    let ids: Vec<UserId> = members.iter().map(|m| m.id).collect();
    let loads: Vec<(Option<UserId>, i64)> = conversations::table
        .filter(conversations::assignee_id.eq_any(&ids))
        .filter(conversations::status.eq(ConversationStatus::Open))
        .group_by(conversations::assignee_id)
        .select((conversations::assignee_id, diesel::dsl::count_star()))
        .load(conn)?;
    let mut holders: Vec<Holder> = members
        .into_iter()
        .filter(|m| {
            sets.get(&m.role_id)
                .is_some_and(|set| set.can_hold_assigned())
        })
        .map(|m| Holder {
            open: loads
                .iter()
                .find(|(a, _)| *a == Some(m.id))
                .map_or(0, |(_, n)| *n),
            id: m.id,
            display_name: m.display_name,
            username: m.username,
            role_id: m.role_id,
        })
        .collect();
    holders.sort_by_key(|h| (h.open, h.id));
    Ok(holders)
}
