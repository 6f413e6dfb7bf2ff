//! Channel assignment: which users work on which channels. Membership drives visibility, so
//! removing a user from a channel hides its conversations from them at once; conversations
//! already assigned to them there stay assigned until transferred, and are counted here.

use crate::core::ids::{ChannelId, CompanyId, UserId};
use diesel::prelude::*;

use crate::core::status::{Availability, ConversationStatus, UserStatus};
use crate::db::DbConnection;
use crate::db::schema::{channel_members, channels as channel_table, conversations, users};
use crate::domain::channels::{self, Channel};
use crate::domain::{Caller, audit, teams};
use crate::error::AppError;

pub struct MatrixRow {
    pub user_id: UserId,
    pub display_name: String,
    pub username: String,
    pub status: UserStatus,
    pub availability: Availability,
    /// Membership per channel, in the order of `Matrix::channels`.
    pub member_of: Vec<bool>,
    /// Open conversations assigned to the user on channels they are no longer a member of.
    pub stranded: i64,
}

pub struct Matrix {
    pub channels: Vec<Channel>,
    pub rows: Vec<MatrixRow>,
}

/// The channels the caller may give people: the company's, or only the channels of the teams
/// they lead when their role stops at their teams.
pub fn assignable_channels(conn: &mut DbConnection, me: &Caller) -> Result<Vec<Channel>, AppError> {
    let mut all = channels::list(conn, me.company_id)?;
    if me.permissions().limited_to_teams() {
        let theirs = teams::led_channel_ids(conn, me.user_id())?;
        all.retain(|c| theirs.contains(&c.id));
    }
    Ok(all)
}

/// 403 for a channel outside the teams of a caller whose role stops at their teams.
fn ensure_assignable(
    conn: &mut DbConnection,
    me: &Caller,
    channel_id: ChannelId,
) -> Result<(), AppError> {
    if me.permissions().limited_to_teams()
        && !teams::led_channel_ids(conn, me.user_id())?.contains(&channel_id)
    {
        return Err(AppError::Forbidden);
    }
    Ok(())
}

/// Users × channels the caller may assign (deleted users left out; for a role limited to its
/// holder's teams, the people and channels of the teams they lead). Three queries, two more
/// for a team-limited caller.
pub fn matrix(conn: &mut DbConnection, me: &Caller) -> Result<Matrix, AppError> {
    let company_id = me.company_id;
    let channels = assignable_channels(conn, me)?;
    let mut people = users::table
        .filter(users::company_id.eq(company_id))
        .filter(users::status.ne(UserStatus::Deleted))
        .order(users::display_name)
        .select((
            users::id,
            users::display_name,
            users::username,
            users::status,
            users::availability,
        ))
        .into_boxed();
    if me.permissions().limited_to_teams() {
        people = people.filter(users::id.eq_any(teams::users_reached_by(conn, me.user_id())?));
    }
    let people: Vec<(UserId, String, String, UserStatus, Availability)> = people.load(conn)?;
    let ids: Vec<UserId> = people.iter().map(|p| p.0).collect();
    let memberships: Vec<(UserId, ChannelId)> = channel_members::table
        .filter(channel_members::user_id.eq_any(&ids))
        .select((channel_members::user_id, channel_members::channel_id))
        .load(conn)?;
    let open: Vec<(Option<UserId>, ChannelId)> = conversations::table
        .filter(conversations::company_id.eq(company_id))
        .filter(conversations::status.eq(ConversationStatus::Open))
        .filter(conversations::assignee_id.is_not_null())
        .select((conversations::assignee_id, conversations::channel_id))
        .load(conn)?;
    let rows = people
        .into_iter()
        .map(|(user_id, display_name, username, status, availability)| {
            let is_member = |channel_id: ChannelId| memberships.contains(&(user_id, channel_id));
            MatrixRow {
                member_of: channels.iter().map(|c| is_member(c.id)).collect(),
                stranded: open
                    .iter()
                    .filter(|(assignee, channel_id)| {
                        *assignee == Some(user_id) && !is_member(*channel_id)
                    })
                    .count() as i64,
                user_id,
                display_name,
                username,
                status,
                availability,
            }
        })
        .collect();
    Ok(Matrix { channels, rows })
}

/// One cell after a change, for the htmx fragment.
pub struct Cell {
    pub user_id: UserId,
    pub channel_id: ChannelId,
    pub channel_name: String,
    pub display_name: String,
    pub member: bool,
    pub stranded: i64,
}

/// Assigns or removes one user on one channel (both of this company, else 404).
pub fn set(
    conn: &mut DbConnection,
    me: &Caller,
    user_id: UserId,
    channel_id: ChannelId,
    assigned: bool,
) -> Result<Cell, AppError> {
    let (company_id, actor) = (me.company_id, &me.actor);
    let user = actionable(conn, me, user_id, assigned)?;
    ensure_assignable(conn, me, channel_id)?;
    if assigned {
        channels::add_member(conn, company_id, channel_id, user.id, actor)?;
    } else {
        channels::remove_member(conn, company_id, channel_id, user_id, actor)?;
    }
    cell(conn, company_id, user_id, channel_id)
}

/// The user whose channels the caller changes, never themselves when adding: a channel widens
/// what one sees, and nobody widens their own view (the contract's "who may act on whom").
fn actionable(
    conn: &mut DbConnection,
    me: &Caller,
    user_id: UserId,
    adding: bool,
) -> Result<crate::domain::accounts::User, AppError> {
    let user = crate::domain::accounts::get_visible(conn, me, user_id)?;
    if adding && user.id == me.user_id() {
        return Err(AppError::Forbidden);
    }
    Ok(user)
}

pub fn cell(
    conn: &mut DbConnection,
    company_id: CompanyId,
    user_id: UserId,
    channel_id: ChannelId,
) -> Result<Cell, AppError> {
    let channel = channels::get(conn, company_id, channel_id)?;
    let user = crate::domain::accounts::get_manageable(conn, company_id, user_id)?;
    let mine = channels::member_channel_ids(conn, user.id)?;
    let stranded = conversations::table
        .filter(conversations::assignee_id.eq(user.id))
        .filter(conversations::status.eq(ConversationStatus::Open))
        .filter(conversations::channel_id.ne_all(&mine))
        .count()
        .get_result(conn)?;
    Ok(Cell {
        user_id: user.id,
        channel_id: channel.id,
        channel_name: channel.name,
        display_name: user.display_name,
        member: mine.contains(&channel.id),
        stranded,
    })
}

/// Assigns a user to every channel of the company, or clears all their channels.
pub fn set_all(
    conn: &mut DbConnection,
    me: &Caller,
    user_id: UserId,
    assigned: bool,
) -> Result<(), AppError> {
    let (company_id, actor) = (me.company_id, &me.actor);
    let user = actionable(conn, me, user_id, assigned)?;
    if assigned {
        for channel in assignable_channels(conn, me)? {
            channels::add_member(conn, company_id, channel.id, user.id, actor)?;
        }
        Ok(())
    } else if me.permissions().limited_to_teams() {
        // a team lead clears only what they could have given
        for channel in assignable_channels(conn, me)? {
            channels::remove_member(conn, company_id, channel.id, user.id, actor)?;
        }
        Ok(())
    } else {
        channels::remove_all_memberships(conn, company_id, user.id, actor).map(|_| ())
    }
}

/// How routing treats one user: their own capacity (`None`: the company's default) and the
/// channels, among those they work on, where they receive new chats.
pub struct RoutingSettings {
    pub capacity: Option<i32>,
    pub receiving: Vec<ChannelId>,
}

/// The most a capacity may be (the schema's CHECK says the same).
pub const MAX_CAPACITY: i32 = 10_000;

/// Sets a user's capacity and where they receive new chats (never one's own: giving oneself
/// chats is the supervisor's call; never a user holding a permission the actor lacks). Recorded when anything changes; a raise may move the queue.
pub fn set_routing(
    conn: &mut DbConnection,
    me: &Caller,
    user_id: UserId,
    settings: &RoutingSettings,
) -> Result<(), AppError> {
    let user = actionable(conn, me, user_id, true)?;
    // it changes what another person is given to do: the contract's "who may act on whom"
    crate::domain::accounts::ensure_may_act_on(conn, me, &user)?;
    if settings
        .capacity
        .is_some_and(|c| !(0..=MAX_CAPACITY).contains(&c))
    {
        return Err(AppError::field(
            "capacity",
            format!(
                "A capacity is a whole number from 0 to {MAX_CAPACITY}, or empty for the company's default."
            ),
        ));
    }
    let memberships: Vec<(ChannelId, String, bool)> = channel_members::table
        .inner_join(channel_table::table)
        .filter(channel_members::user_id.eq(user.id))
        .order(channel_table::name)
        .select((
            channel_members::channel_id,
            channel_table::name,
            channel_members::receives_new_chats,
        ))
        .load(conn)?;
    if settings
        .receiving
        .iter()
        .any(|id| !memberships.iter().any(|(channel, _, _)| channel == id))
    {
        return Err(AppError::field(
            "receiving_channel_ids",
            "Choose among the channels they work on.",
        ));
    }
    // a team-limited caller sets only their teams' channels; the others stay as they are
    let reachable = if me.permissions().limited_to_teams() {
        Some(teams::led_channel_ids(conn, me.user_id())?)
    } else {
        None
    };
    let receiving = |id: &ChannelId| match &reachable {
        Some(theirs) if !theirs.contains(id) => memberships
            .iter()
            .any(|(channel, _, receives)| channel == id && *receives),
        _ => settings.receiving.contains(id),
    };
    let changed_channels = memberships
        .iter()
        .any(|(id, _, receives)| receiving(id) != *receives);
    if settings.capacity == user.capacity && !changed_channels {
        return Ok(());
    }
    diesel::update(users::table.find(user.id))
        .set(users::capacity.eq(settings.capacity))
        .execute(conn)?;
    for on in [true, false] {
        let ids: Vec<ChannelId> = memberships
            .iter()
            .map(|(id, _, _)| *id)
            .filter(|id| receiving(id) == on)
            .collect();
        diesel::update(
            channel_members::table
                .filter(channel_members::user_id.eq(user.id))
                .filter(channel_members::channel_id.eq_any(&ids)),
        )
        .set(channel_members::receives_new_chats.eq(on))
        .execute(conn)?;
    }
    let names: Vec<&str> = memberships
        .iter()
        .filter(|(id, _, _)| receiving(id))
        .map(|(_, name, _)| name.as_str())
        .collect();
    let capacity = settings
        .capacity
        .map_or_else(|| "the company's default".to_string(), |c| c.to_string());
    audit::Entry::new(me.company_id, &me.actor, "user.routing")
        .on("user", user.id, &user.username)
        .saying(format!(
            "{}: capacity {capacity}; new chats on {}",
            user.username,
            if names.is_empty() {
                "no channel".to_string()
            } else {
                names.join(", ")
            }
        ))
        .write(conn)?;
    crate::domain::routing::drain(conn, me.company_id)?;
    Ok(())
}
