//! Channel assignment: which users work on which channels. Membership drives visibility, so
//! removing a user from a channel hides its conversations from them at once; conversations
//! already assigned to them there stay assigned until transferred, and are counted here.

use crate::core::ids::{ChannelId, CompanyId, UserId};
use diesel::prelude::*;

use crate::core::status::{ConversationStatus, UserStatus};
use crate::db::DbConnection;
use crate::db::schema::{channel_members, conversations, users};
use crate::domain::Caller;
use crate::domain::channels::{self, Channel};
use crate::error::AppError;

pub struct MatrixRow {
    pub user_id: UserId,
    pub display_name: String,
    pub username: String,
    pub status: UserStatus,
    /// Membership per channel, in the order of `Matrix::channels`.
    pub member_of: Vec<bool>,
    /// Open conversations assigned to the user on channels they are no longer a member of.
    pub stranded: i64,
}

pub struct Matrix {
    pub channels: Vec<Channel>,
    pub rows: Vec<MatrixRow>,
}

/// Users × channels of the company (deleted users left out). Three queries.
pub fn matrix(conn: &mut DbConnection, company_id: CompanyId) -> Result<Matrix, AppError> {
    let channels = channels::list(conn, company_id)?;
    let people: Vec<(UserId, String, String, UserStatus)> = users::table
        .filter(users::company_id.eq(company_id))
        .filter(users::status.ne(UserStatus::Deleted))
        .order(users::display_name)
        .select((
            users::id,
            users::display_name,
            users::username,
            users::status,
        ))
        .load(conn)?;
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
        .map(|(user_id, display_name, username, status)| {
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
    let user = crate::domain::accounts::get_manageable(conn, me.company_id, user_id)?;
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
        for channel in channels::list(conn, company_id)? {
            channels::add_member(conn, company_id, channel.id, user.id, actor)?;
        }
        Ok(())
    } else {
        channels::remove_all_memberships(conn, company_id, user.id, actor).map(|_| ())
    }
}
