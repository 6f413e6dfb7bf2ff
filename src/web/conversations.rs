//! `/conversations`: the visible conversations (read-only here; the agent workspace adds the
//! actions). Rows come from `domain::conversations`, already filtered and masked.

use actix_session::Session;
use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::DateTime;
use serde::Deserialize;

use crate::AppState;
use crate::access::permissions::Permission;
use crate::access::{CurrentUser, RouteRules};
use crate::domain::channels::{self, Channel, kind_label};
use crate::domain::conversations::{self, ConversationRow, ListFilter, MessageView, PAGE_SIZE};
use crate::error::AppError;
use crate::web::layout::Layout;
use crate::web::{db, format_time, page};

pub struct ChannelOption {
    id: i64,
    name: String,
    selected: bool,
}

pub struct RowItem {
    row: ConversationRow,
    kind_label: &'static str,
    last_activity: String,
}

impl RowItem {
    fn new(row: ConversationRow) -> Self {
        Self {
            kind_label: kind_label(&row.channel_kind),
            last_activity: format_time(&row.last_message_at),
            row,
        }
    }
}

#[derive(Template)]
#[template(path = "conversations/index.html")]
struct ListPage {
    layout: Layout,
    rows: Vec<RowItem>,
    channels: Vec<ChannelOption>,
    status: String,
    q: String,
    next_cursor: Option<String>,
}

#[derive(Deserialize)]
pub struct ListQuery {
    status: Option<String>,
    channel: Option<String>,
    assignee: Option<String>,
    q: Option<String>,
    before: Option<String>,
}

fn parse_id(value: Option<&str>, what: &str) -> Result<Option<i64>, AppError> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v
            .parse::<i64>()
            .map(Some)
            .map_err(|_| AppError::Invalid(format!("The {what} filter must be a number."))),
    }
}

/// Cursor format: `<unix microseconds>_<id>` of the last row shown.
fn parse_cursor(value: Option<&str>) -> Result<Option<(chrono::NaiveDateTime, i64)>, AppError> {
    let Some(value) = value.filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let invalid = || AppError::Invalid("The page cursor is not valid.".into());
    let (micros, id) = value.split_once('_').ok_or_else(invalid)?;
    let micros: i64 = micros.parse().map_err(|_| invalid())?;
    let id: i64 = id.parse().map_err(|_| invalid())?;
    let at = DateTime::from_timestamp_micros(micros).ok_or_else(invalid)?;
    Ok(Some((at.naive_utc(), id)))
}

pub async fn index(
    state: web::Data<AppState>,
    rules: web::Data<RouteRules>,
    user: CurrentUser,
    session: Session,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, AppError> {
    let query = query.into_inner();
    let status = match query.status.as_deref().unwrap_or("open") {
        "open" => Some(conversations::OPEN.to_string()),
        "closed" => Some(conversations::CLOSED.to_string()),
        "all" => None,
        _ => return Err(AppError::Invalid("Status is open, closed or all.".into())),
    };
    let filter = ListFilter {
        status: status.clone(),
        channel_id: parse_id(query.channel.as_deref(), "channel")?,
        assignee_id: parse_id(query.assignee.as_deref(), "assignee")?,
        q: query.q.clone().filter(|q| q.len() <= 200),
        before: parse_cursor(query.before.as_deref())?,
    };
    let layout = Layout::build(
        &state,
        &rules,
        &user,
        &session,
        "Conversations",
        "/conversations",
    )
    .await?;
    let viewer = user.viewer();
    let see_all = user.can(Permission::ConversationsViewAll);
    let channel_filter = filter.channel_id;
    let (rows, channels) = db(&state, move |conn| {
        let rows = conversations::list(conn, &viewer, &filter)?;
        let mut channels = channels::list(conn, viewer.company_id)?;
        if !see_all {
            let mine = channels::member_channel_ids(conn, viewer.user_id)?;
            channels.retain(|c| mine.contains(&c.id));
        }
        Ok((rows, channels))
    })
    .await?;
    let next_cursor = (rows.len() as i64 == PAGE_SIZE)
        .then(|| {
            rows.last().map(|r| {
                format!(
                    "{}_{}",
                    r.last_message_at.and_utc().timestamp_micros(),
                    r.id
                )
            })
        })
        .flatten();
    page(&ListPage {
        layout,
        rows: rows.into_iter().map(RowItem::new).collect(),
        channels: channels
            .into_iter()
            .map(|c: Channel| ChannelOption {
                selected: channel_filter == Some(c.id),
                id: c.id,
                name: c.name,
            })
            .collect(),
        status: status.unwrap_or_else(|| "all".into()),
        q: query.q.unwrap_or_default(),
        next_cursor,
    })
}

pub struct MessageItem {
    message: MessageView,
    at: String,
}

#[derive(Template)]
#[template(path = "conversations/show.html")]
struct ShowPage {
    layout: Layout,
    item: RowItem,
    messages: Vec<MessageItem>,
}

pub async fn show(
    state: web::Data<AppState>,
    rules: web::Data<RouteRules>,
    user: CurrentUser,
    session: Session,
    path: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let viewer = user.viewer();
    let detail = db(&state, move |conn| conversations::get(conn, &viewer, id)).await?;
    let layout = Layout::build(
        &state,
        &rules,
        &user,
        &session,
        "Conversation",
        "/conversations",
    )
    .await?;
    page(&ShowPage {
        layout,
        item: RowItem::new(detail.row),
        messages: detail
            .messages
            .into_iter()
            .map(|message| MessageItem {
                at: format_time(&message.created_at),
                message,
            })
            .collect(),
    })
}
