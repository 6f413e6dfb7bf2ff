//! Channels (one per connected number or account) and their members.

use diesel::prelude::*;

use crate::db::DbConnection;
use crate::db::schema::{channel_members, channels};
use crate::domain::{Actor, audit, now};
use crate::error::AppError;

/// The six kinds of channel: (key, label).
pub const KINDS: [(&str, &str); 6] = [
    ("whatsapp", "WhatsApp"),
    ("instagram", "Instagram"),
    ("messenger", "Facebook Messenger"),
    ("telegram", "Telegram"),
    ("sms", "SMS"),
    ("voip", "VOIP"),
];

pub fn kind_label(kind: &str) -> &'static str {
    KINDS
        .iter()
        .find(|(key, _)| *key == kind)
        .map(|(_, label)| *label)
        .unwrap_or("Unknown")
}

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = channels)]
pub struct Channel {
    pub id: i64,
    pub company_id: i64,
    pub name: String,
    pub kind: String,
    pub active: bool,
}

pub fn create(
    conn: &mut DbConnection,
    company_id: i64,
    name: &str,
    kind: &str,
    actor: &Actor,
) -> Result<i64, AppError> {
    if !KINDS.iter().any(|(key, _)| *key == kind) {
        return Err(AppError::Invalid(format!("Unknown channel kind '{kind}'.")));
    }
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 80 {
        return Err(AppError::Invalid(
            "A channel name is 1 to 80 characters.".into(),
        ));
    }
    let id: i64 = diesel::insert_into(channels::table)
        .values((
            channels::company_id.eq(company_id),
            channels::name.eq(name),
            channels::kind.eq(kind),
            channels::webhook_token.eq(crate::auth::tokens::random_token()),
            channels::created_at.eq(now()),
        ))
        .returning(channels::id)
        .get_result(conn)?;
    audit::record(
        conn,
        audit::Entry {
            company_id,
            actor,
            action: "channel.create",
            target_type: "channel",
            target_id: Some(id),
            target_label: name,
            summary: format!("channel {name} ({}) created", kind_label(kind)),
        },
    )?;
    Ok(id)
}

pub fn list(conn: &mut DbConnection, company_id: i64) -> Result<Vec<Channel>, AppError> {
    Ok(channels::table
        .filter(channels::company_id.eq(company_id))
        .order(channels::name)
        .select(Channel::as_select())
        .load(conn)?)
}

/// Ids of the channels a user is a member of.
pub fn member_channel_ids(conn: &mut DbConnection, user_id: i64) -> Result<Vec<i64>, AppError> {
    Ok(channel_members::table
        .filter(channel_members::user_id.eq(user_id))
        .select(channel_members::channel_id)
        .load(conn)?)
}

/// Adds a user to a channel of the same company (both checked); idempotent.
pub fn add_member(
    conn: &mut DbConnection,
    company_id: i64,
    channel_id: i64,
    user_id: i64,
    actor: &Actor,
) -> Result<(), AppError> {
    let channel_name: String = channels::table
        .filter(channels::id.eq(channel_id))
        .filter(channels::company_id.eq(company_id))
        .select(channels::name)
        .first(conn)?;
    let user = crate::domain::users::get(conn, company_id, user_id)?;
    let row = (
        channel_members::channel_id.eq(channel_id),
        channel_members::user_id.eq(user_id),
        channel_members::created_at.eq(now()),
    );
    // ON CONFLICT is per dialect in diesel; both dialects speak it.
    let insert = diesel::insert_into(channel_members::table).values(row);
    let added = match conn {
        DbConnection::Sqlite(c) => insert.on_conflict_do_nothing().execute(c)?,
        DbConnection::Postgres(c) => insert.on_conflict_do_nothing().execute(c)?,
    };
    if added > 0 {
        audit::record(
            conn,
            audit::Entry {
                company_id,
                actor,
                action: "assignment.add",
                target_type: "user",
                target_id: Some(user_id),
                target_label: &user.username,
                summary: format!("{} added to channel {channel_name}", user.username),
            },
        )?;
    }
    Ok(())
}

/// The ids among `ids` that are channels of the company (foreign or unknown ids drop out).
pub fn ids_of_company(
    conn: &mut DbConnection,
    company_id: i64,
    ids: &[i64],
) -> Result<Vec<i64>, AppError> {
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
    company_id: i64,
    user_id: i64,
    actor: &Actor,
) -> Result<usize, AppError> {
    let user = crate::domain::users::get(conn, company_id, user_id)?;
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
    audit::record(
        conn,
        audit::Entry {
            company_id,
            actor,
            action: "assignment.remove_all",
            target_type: "user",
            target_id: Some(user.id),
            target_label: &user.username,
            summary: format!("{} removed from {}", user.username, names.join(", ")),
        },
    )?;
    Ok(names.len())
}
