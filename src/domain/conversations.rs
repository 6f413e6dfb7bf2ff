//! Conversations, their messages and contacts, always seen through the visibility rule.
//!
//! **Visibility** (DESIGN.md) lives in [`visible_to`] and nowhere else: every query for
//! conversations in the product is filtered by it, so no page can forget it. Contact details
//! leave this module only through [`ContactMask`], so no page can forget masking either.

use chrono::NaiveDateTime;
use diesel::dsl::sql;
use diesel::expression::BoxableExpression;
use diesel::prelude::*;
use diesel::sql_types::Bool;

use crate::access::masking::ContactMask;
use crate::access::permissions::Permission;
use crate::db::schema::{channels, contacts, conversations, messages, users};
use crate::db::{DbConnection, MultiBackend};
use crate::domain::{Viewer, channels as channel_domain};
use crate::error::AppError;

pub const OPEN: &str = "open";
pub const CLOSED: &str = "closed";

type Filter<QS> = Box<dyn BoxableExpression<QS, MultiBackend, SqlType = Bool>>;

/// The visibility rule as a query filter. A conversation is visible to a viewer of its company
/// who has `view_all`; or `view_channel` and membership of its channel; or `view_assigned`,
/// is its assignee and is a member of its channel. Anything else sees nothing.
pub fn visible_to<QS>(conn: &mut DbConnection, viewer: &Viewer) -> Result<Filter<QS>, AppError>
where
    QS: 'static,
    conversations::company_id: SelectableExpression<QS>,
    conversations::channel_id: SelectableExpression<QS>,
    conversations::assignee_id: SelectableExpression<QS>,
{
    let same_company = conversations::company_id.eq(viewer.company_id);
    let perms = viewer.permissions;
    if perms.contains(Permission::ConversationsViewAll) {
        return Ok(Box::new(same_company));
    }
    let by_channel = perms.contains(Permission::ConversationsViewChannel);
    let by_assignment = perms.contains(Permission::ConversationsViewAssigned);
    if !by_channel && !by_assignment {
        return Ok(Box::new(sql::<Bool>("1 = 0")));
    }
    let member_of = channel_domain::member_channel_ids(conn, viewer.user_id)?;
    let on_my_channels = same_company.and(conversations::channel_id.eq_any(member_of));
    if by_channel {
        Ok(Box::new(on_my_channels))
    } else {
        // `assignee_id = ?` as a literal keeps the filter non-nullable for every query source.
        let assigned_to_me = sql::<Bool>("conversations.assignee_id = ")
            .bind::<diesel::sql_types::BigInt, _>(viewer.user_id);
        Ok(Box::new(on_my_channels.and(assigned_to_me)))
    }
}

/// A contact as one viewer may see it: phone, email and network id already masked as needed.
#[derive(Clone, Debug)]
pub struct ContactCard {
    pub name: String,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub external_id: Option<String>,
}

impl ContactCard {
    fn new(
        mask: ContactMask,
        name: String,
        phone: Option<String>,
        email: Option<String>,
        external_id: Option<String>,
    ) -> Self {
        Self {
            name,
            phone: phone.map(|p| mask.phone(&p)),
            email: email.map(|e| mask.email(&e)),
            external_id: external_id.map(|x| mask.identifier(&x)),
        }
    }
}

#[derive(Clone, Debug)]
pub struct ConversationRow {
    pub id: i64,
    pub contact: ContactCard,
    pub channel_name: String,
    pub channel_kind: String,
    pub assignee: Option<String>,
    pub status: String,
    pub last_message_at: NaiveDateTime,
}

impl ConversationRow {
    fn new(mask: ContactMask, row: RowTuple) -> Self {
        let (id, status, last_message_at, external_id, contact, channel, assignee) = row;
        let (name, phone, email) = contact;
        let (channel_name, channel_kind) = channel;
        Self {
            id,
            contact: ContactCard::new(mask, name, phone, email, external_id),
            channel_name,
            channel_kind,
            assignee,
            status,
            last_message_at,
        }
    }
}

/// Filters of the conversation list (query string of `GET /conversations`).
#[derive(Clone, Debug, Default)]
pub struct ListFilter {
    /// `open`, `closed`, or None for all.
    pub status: Option<String>,
    pub channel_id: Option<i64>,
    pub assignee_id: Option<i64>,
    /// Text searched in the contact's name.
    pub q: Option<String>,
    /// Keyset cursor: rows strictly older than this (last_message_at, id).
    pub before: Option<(NaiveDateTime, i64)>,
}

pub const PAGE_SIZE: i64 = 50;

/// Conversations with their contact, channel and assignee, filtered by visibility: the one
/// shape every conversation page reads.
macro_rules! visible_rows {
    ($visible:expr) => {
        conversations::table
            .inner_join(contacts::table)
            .inner_join(channels::table)
            .left_join(users::table)
            .filter($visible)
            .select((
                conversations::id,
                conversations::status,
                conversations::last_message_at,
                conversations::external_contact_id,
                (contacts::name, contacts::phone, contacts::email),
                (channels::name, channels::kind),
                users::display_name.nullable(),
            ))
    };
}

type RowTuple = (
    i64,
    String,
    NaiveDateTime,
    Option<String>,
    (String, Option<String>, Option<String>),
    (String, String),
    Option<String>,
);

/// The visible conversations, newest activity first, one page at a time.
pub fn list(
    conn: &mut DbConnection,
    viewer: &Viewer,
    filter: &ListFilter,
) -> Result<Vec<ConversationRow>, AppError> {
    let visible = visible_to(conn, viewer)?;
    let mut query = visible_rows!(visible)
        .order((
            conversations::last_message_at.desc(),
            conversations::id.desc(),
        ))
        .limit(PAGE_SIZE)
        .into_boxed();
    if let Some(status) = &filter.status {
        query = query.filter(conversations::status.eq(status.clone()));
    }
    if let Some(channel_id) = filter.channel_id {
        query = query.filter(conversations::channel_id.eq(channel_id));
    }
    if let Some(assignee_id) = filter.assignee_id {
        query = query.filter(conversations::assignee_id.eq(Some(assignee_id)));
    }
    if let Some(q) = filter.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        query = query.filter(
            contacts::name
                .like(format!("%{}%", escape_like(q)))
                .escape('\\'),
        );
    }
    if let Some((at, id)) = filter.before {
        query = query.filter(
            conversations::last_message_at
                .lt(at)
                .or(conversations::last_message_at
                    .eq(at)
                    .and(conversations::id.lt(id))),
        );
    }
    let rows: Vec<RowTuple> = query.load(conn)?;
    let mask = ContactMask::for_viewer(viewer.permissions);
    Ok(rows
        .into_iter()
        .map(|row| ConversationRow::new(mask, row))
        .collect())
}

fn escape_like(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

#[derive(Clone, Debug)]
pub struct MessageView {
    pub direction: String,
    pub author: Option<String>,
    pub body: String,
    pub created_at: NaiveDateTime,
}

pub struct ConversationDetail {
    pub row: ConversationRow,
    pub messages: Vec<MessageView>,
}

/// One visible conversation with its timeline, or 404 (missing, other company, not visible).
pub fn get(
    conn: &mut DbConnection,
    viewer: &Viewer,
    conversation_id: i64,
) -> Result<ConversationDetail, AppError> {
    let visible = visible_to(conn, viewer)?;
    let row: RowTuple = visible_rows!(visible)
        .filter(conversations::id.eq(conversation_id))
        .first(conn)?;
    let id = row.0;
    let mask = ContactMask::for_viewer(viewer.permissions);
    let messages = messages::table
        .left_join(users::table.on(users::id.nullable().eq(messages::author_id)))
        .filter(messages::conversation_id.eq(id))
        .order(messages::id)
        .select((
            messages::direction,
            users::display_name.nullable(),
            messages::body,
            messages::created_at,
        ))
        .load::<(String, Option<String>, String, NaiveDateTime)>(conn)?
        .into_iter()
        // a customer may write their own number or address into a message
        .map(|(direction, author, body, created_at)| MessageView {
            direction,
            author,
            body: mask.identifier(&body),
            created_at,
        })
        .collect();
    Ok(ConversationDetail {
        row: ConversationRow::new(mask, row),
        messages,
    })
}

/// How many open conversations are assigned to the user (the navigation counter).
pub fn open_assigned_count(conn: &mut DbConnection, viewer: &Viewer) -> Result<i64, AppError> {
    let visible = visible_to(conn, viewer)?;
    Ok(conversations::table
        .filter(visible)
        .filter(conversations::assignee_id.eq(Some(viewer.user_id)))
        .filter(conversations::status.eq(OPEN))
        .count()
        .get_result(conn)?)
}
