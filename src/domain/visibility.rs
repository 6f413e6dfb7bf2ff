//! The visibility rule, decided here and nowhere else. Conversations and call tasks translate
//! the scope into a filter on their own columns (`conversations::visible_to`,
//! `calls::visible_to`); every query for either goes through those filters.

use crate::core::ids::{ChannelId, UserId};
use crate::core::permissions::Permission;
use crate::db::DbConnection;
use crate::domain::{Viewer, channels};
use crate::error::AppError;

/// What part of their company's conversations and call tasks a viewer may see.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// `conversations.view_all`: everything of the company.
    Company,
    /// `conversations.view_channel`: everything on the channels they are a member of.
    Channels(Vec<ChannelId>),
    /// `conversations.view_assigned`: what is assigned to them, on channels they are a member of.
    AssignedOnChannels {
        channels: Vec<ChannelId>,
        user_id: UserId,
    },
    /// None of the three.
    Nothing,
}

pub fn scope(conn: &mut DbConnection, viewer: &Viewer) -> Result<Scope, AppError> {
    let perms = viewer.permissions;
    if perms.contains(Permission::ConversationsViewAll) {
        return Ok(Scope::Company);
    }
    if perms.contains(Permission::ConversationsViewChannel) {
        return Ok(Scope::Channels(channels::member_channel_ids(
            conn,
            viewer.user_id,
        )?));
    }
    if perms.contains(Permission::ConversationsViewAssigned) {
        return Ok(Scope::AssignedOnChannels {
            channels: channels::member_channel_ids(conn, viewer.user_id)?,
            user_id: viewer.user_id,
        });
    }
    Ok(Scope::Nothing)
}
