//! The agent workspace: `/conversations` and every action on one conversation. Rows,
//! timelines and fragments come from `domain::conversations`, already filtered by the
//! visibility rule and masked for the viewer.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::{DateTime, Duration};
use serde::Deserialize;

use crate::AppState;
use crate::access::masking::ContactMask;
use crate::access::permissions::Permission;
use crate::access::{CurrentUser, RouteRules};
use crate::db::write_transaction;
use crate::domain::channels::{self, Channel, Holder, kind_label};
use crate::domain::conversations::{
    self, AssignmentView, ContactCard, ConversationRow, ListFilter, MessageView, PAGE_SIZE,
};
use crate::domain::{companies, now};
use crate::error::{AppError, FieldErrors};
use crate::web::layout::{Layout, set_flash};
use crate::web::{db, format_time, page, render, see_other};

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
    label: String,
    missed: bool,
    export_query: String,
    can_export: bool,
    can_see_all: bool,
    next_cursor: Option<String>,
}

#[derive(Deserialize)]
pub struct ListQuery {
    status: Option<String>,
    channel: Option<String>,
    assignee: Option<String>,
    q: Option<String>,
    label: Option<String>,
    missed: Option<String>,
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

impl ListQuery {
    /// The filters as a query string (for the export link).
    pub fn describe_query(&self) -> String {
        serde_urlencoded::to_string([
            ("status", self.status.clone().unwrap_or_default()),
            ("channel", self.channel.clone().unwrap_or_default()),
            ("q", self.q.clone().unwrap_or_default()),
            ("label", self.label.clone().unwrap_or_default()),
            ("missed", self.missed.clone().unwrap_or_default()),
        ])
        .unwrap_or_default()
    }

    /// The filters in words, for the activity record of an export.
    pub fn describe(&self) -> String {
        [
            ("status", &self.status),
            ("channel", &self.channel),
            ("assignee", &self.assignee),
            ("q", &self.q),
            ("label", &self.label),
            ("missed", &self.missed),
        ]
        .iter()
        .filter_map(|(name, value)| {
            value
                .as_deref()
                .filter(|v| !v.is_empty())
                .map(|v| format!("{name}={v}"))
        })
        .collect::<Vec<_>>()
        .join(", ")
    }
}

/// The list's filters from its query string (shared by the page and its CSV export).
pub async fn list_filter(
    state: &AppState,
    user: &CurrentUser,
    query: &ListQuery,
) -> Result<ListFilter, AppError> {
    let status = match query.status.as_deref().unwrap_or("open") {
        "open" => Some(conversations::OPEN.to_string()),
        "closed" => Some(conversations::CLOSED.to_string()),
        "all" => None,
        _ => return Err(AppError::Invalid("Status is open, closed or all.".into())),
    };
    let missed = query
        .missed
        .as_deref()
        .is_some_and(|m| !m.is_empty() && m != "0");
    let company_id = user.auth.company_id;
    let waiting_since_before = if missed {
        let minutes = db(state, move |conn| {
            Ok(companies::get(conn, company_id)?.missed_chat_minutes)
        })
        .await?;
        Some(now() - Duration::minutes(minutes.into()))
    } else {
        None
    };
    Ok(ListFilter {
        status: if missed {
            Some(conversations::OPEN.into())
        } else {
            status
        },
        channel_id: parse_id(query.channel.as_deref(), "channel")?,
        assignee_id: parse_id(query.assignee.as_deref(), "assignee")?,
        q: query.q.clone().filter(|q| q.len() <= 200),
        label: query.label.clone().filter(|l| l.len() <= 30),
        waiting_since_before,
        before: parse_cursor(query.before.as_deref())?,
    })
}

pub async fn index(
    state: web::Data<AppState>,
    rules: web::Data<RouteRules>,
    user: CurrentUser,
    session: Session,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, AppError> {
    let query = query.into_inner();
    let filter = list_filter(&state, &user, &query).await?;
    let status = filter.status.clone();
    let missed = filter.waiting_since_before.is_some();
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
    let (rows, channel_list) = db(&state, move |conn| {
        let rows = conversations::list(conn, &viewer, &filter)?;
        let mut channel_list = channels::list(conn, viewer.company_id)?;
        if !see_all {
            let mine = channels::member_channel_ids(conn, viewer.user_id)?;
            channel_list.retain(|c| mine.contains(&c.id));
        }
        Ok((rows, channel_list))
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
        channels: channel_list
            .into_iter()
            .map(|c: Channel| ChannelOption {
                selected: channel_filter == Some(c.id),
                id: c.id,
                name: c.name,
            })
            .collect(),
        status: status.unwrap_or_else(|| "all".into()),
        // what the viewer typed comes back masked like everything else they are shown
        q: ContactMask::for_viewer(user.permissions)
            .identifier(&query.q.clone().unwrap_or_default()),
        label: query.label.clone().unwrap_or_default(),
        export_query: ContactMask::for_viewer(user.permissions).identifier(&query.describe_query()),
        can_export: user.can(Permission::ExportsCreate),
        missed,
        can_see_all: see_all,
        next_cursor,
    })
}

pub struct MessageItem {
    message: MessageView,
    at: String,
}

impl MessageItem {
    fn new(message: MessageView) -> Self {
        Self {
            at: format_time(&message.created_at),
            message,
        }
    }
}

pub struct HistoryItem {
    line: String,
}

impl HistoryItem {
    fn new(view: AssignmentView) -> Self {
        let who = |name: Option<String>| name.unwrap_or_else(|| "nobody".into());
        let by = view
            .by
            .map(|by| format!(" by {by}"))
            .unwrap_or_else(|| " automatically".into());
        let line = match view.from {
            Some(from) => format!(
                "{} · transferred from {from} to {}{by}",
                format_time(&view.at),
                who(view.to)
            ),
            None => format!(
                "{} · assigned to {}{by}",
                format_time(&view.at),
                who(view.to)
            ),
        };
        Self { line }
    }
}

#[derive(Template)]
#[template(path = "conversations/show.html")]
struct ShowPage {
    layout: Layout,
    item: RowItem,
    messages: Vec<MessageItem>,
    history: Vec<HistoryItem>,
    labels: Vec<String>,
    holders: Vec<Holder>,
    can_reply: bool,
    can_close: bool,
    can_transfer: bool,
    can_reveal: bool,
    errors: FieldErrors,
    reply_body: String,
}

async fn show_page(
    state: &AppState,
    rules: &RouteRules,
    user: &CurrentUser,
    session: &Session,
    id: i64,
    errors: FieldErrors,
    reply_body: String,
) -> Result<HttpResponse, AppError> {
    let viewer = user.viewer();
    let can_transfer = user.can(Permission::ConversationsTransfer);
    let (detail, holders) = db(state, move |conn| {
        let detail = conversations::get(conn, &viewer, id)?;
        let holders = if can_transfer {
            conversations::transfer_options(conn, &viewer, id)?
        } else {
            Vec::new()
        };
        Ok((detail, holders))
    })
    .await?;
    let layout = Layout::build(
        state,
        rules,
        user,
        session,
        "Conversation",
        "/conversations",
    )
    .await?;
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    render(
        status,
        &ShowPage {
            layout,
            item: RowItem::new(detail.row),
            messages: detail.messages.into_iter().map(MessageItem::new).collect(),
            history: detail.history.into_iter().map(HistoryItem::new).collect(),
            labels: detail.labels,
            holders,
            can_reply: user.can(Permission::ConversationsReply),
            can_close: user.can(Permission::ConversationsClose),
            can_transfer,
            can_reveal: user.can(Permission::ContactsReveal)
                && !user.can(Permission::ContactsViewUnmasked),
            errors,
            reply_body,
        },
    )
}

pub async fn show(
    state: web::Data<AppState>,
    rules: web::Data<RouteRules>,
    user: CurrentUser,
    session: Session,
    path: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    show_page(
        &state,
        &rules,
        &user,
        &session,
        path.into_inner(),
        FieldErrors::default(),
        String::new(),
    )
    .await
}

/// The new message and a fresh reply form: what an htmx reply swaps in.
#[derive(Template)]
#[template(path = "conversations/reply_fragment.html")]
struct ReplyFragment {
    conversation_id: i64,
    message: Option<MessageItem>,
    csrf_token: String,
    error: Option<String>,
    reply_body: String,
}

#[derive(Deserialize)]
pub struct ReplyForm {
    #[serde(default)]
    body: String,
    /// Present when the "internal note" button sent the form.
    note: Option<String>,
}

fn is_htmx(req: &HttpRequest) -> bool {
    req.headers().contains_key("hx-request")
}

pub async fn reply(
    req: HttpRequest,
    state: web::Data<AppState>,
    rules: web::Data<RouteRules>,
    user: CurrentUser,
    session: Session,
    path: web::Path<i64>,
    form: web::Form<ReplyForm>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let form = form.into_inner();
    let kind = if form.note.is_some() {
        conversations::Writing::Note
    } else {
        conversations::Writing::Reply
    };
    let body = form.body;
    let (viewer, actor) = (user.viewer(), user.actor());
    let text = body.clone();
    let result = db(&state, move |conn| {
        write_transaction(conn, |conn| {
            conversations::reply(conn, &viewer, id, &text, kind, &actor)
        })
    })
    .await;
    let htmx = is_htmx(&req);
    match result {
        Ok(message) if htmx => render(
            StatusCode::OK,
            &ReplyFragment {
                conversation_id: id,
                message: Some(MessageItem::new(message)),
                csrf_token: user.auth.csrf_token.clone(),
                error: None,
                reply_body: String::new(),
            },
        ),
        Ok(_) => Ok(see_other(&format!("/conversations/{id}"))),
        Err(AppError::Fields(errors)) if htmx => render(
            StatusCode::UNPROCESSABLE_ENTITY,
            &ReplyFragment {
                conversation_id: id,
                message: None,
                csrf_token: user.auth.csrf_token.clone(),
                error: errors.get("body").map(String::from),
                reply_body: body.chars().take(conversations::MAX_BODY + 100).collect(),
            },
        ),
        Err(AppError::Fields(errors)) => {
            show_page(&state, &rules, &user, &session, id, errors, body).await
        }
        Err(other) => Err(other),
    }
}

/// Runs one action on a conversation, then back to it with a message.
async fn act<F>(
    state: &AppState,
    user: &CurrentUser,
    session: &Session,
    id: i64,
    done: &str,
    action: F,
) -> Result<HttpResponse, AppError>
where
    F: FnOnce(
            &mut crate::db::DbConnection,
            &crate::domain::Viewer,
            &crate::domain::Actor,
        ) -> Result<(), AppError>
        + Send
        + 'static,
{
    let (viewer, actor) = (user.viewer(), user.actor());
    db(state, move |conn| {
        write_transaction(conn, |conn| action(conn, &viewer, &actor))
    })
    .await?;
    set_flash(session, done);
    Ok(see_other(&format!("/conversations/{id}")))
}

pub async fn close(
    state: web::Data<AppState>,
    user: CurrentUser,
    session: Session,
    path: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    act(
        &state,
        &user,
        &session,
        id,
        "The conversation was closed.",
        move |conn, viewer, actor| conversations::set_status(conn, viewer, id, false, actor),
    )
    .await
}

pub async fn reopen(
    state: web::Data<AppState>,
    user: CurrentUser,
    session: Session,
    path: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    act(
        &state,
        &user,
        &session,
        id,
        "The conversation was reopened.",
        move |conn, viewer, actor| conversations::set_status(conn, viewer, id, true, actor),
    )
    .await
}

#[derive(Deserialize)]
pub struct TransferForm {
    #[serde(default)]
    assignee_id: String,
}

pub async fn transfer(
    state: web::Data<AppState>,
    rules: web::Data<RouteRules>,
    user: CurrentUser,
    session: Session,
    path: web::Path<i64>,
    form: web::Form<TransferForm>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    // not a number: no such user, so the domain's own message answers beside the field
    let to = form.assignee_id.trim().parse::<i64>().unwrap_or(-1);
    let (viewer, actor) = (user.viewer(), user.actor());
    let result = db(&state, move |conn| {
        write_transaction(conn, |conn| {
            conversations::transfer(conn, &viewer, id, to, &actor)
        })
    })
    .await;
    match result {
        Ok(()) => {
            set_flash(&session, "The conversation was transferred.");
            // the transfer may have taken it out of the viewer's sight
            Ok(see_other("/conversations"))
        }
        Err(AppError::Fields(errors)) => {
            show_page(&state, &rules, &user, &session, id, errors, String::new()).await
        }
        Err(other) => Err(other),
    }
}

#[derive(Deserialize)]
pub struct LabelForm {
    #[serde(default)]
    label: String,
}

pub async fn add_label(
    state: web::Data<AppState>,
    rules: web::Data<RouteRules>,
    user: CurrentUser,
    session: Session,
    path: web::Path<i64>,
    form: web::Form<LabelForm>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let label = form.into_inner().label;
    let (viewer, actor) = (user.viewer(), user.actor());
    let result = db(&state, move |conn| {
        write_transaction(conn, |conn| {
            conversations::add_label(conn, &viewer, id, &label, &actor)
        })
    })
    .await;
    match result {
        Ok(()) => Ok(see_other(&format!("/conversations/{id}"))),
        Err(AppError::Fields(errors)) => {
            show_page(&state, &rules, &user, &session, id, errors, String::new()).await
        }
        Err(other) => Err(other),
    }
}

pub async fn remove_label(
    state: web::Data<AppState>,
    user: CurrentUser,
    session: Session,
    path: web::Path<i64>,
    form: web::Form<LabelForm>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let label = form.into_inner().label;
    act(
        &state,
        &user,
        &session,
        id,
        "The label was removed.",
        move |conn, viewer, actor| conversations::remove_label(conn, viewer, id, &label, actor),
    )
    .await
}

#[derive(Template)]
#[template(path = "conversations/reveal.html")]
struct RevealPage {
    layout: Layout,
    conversation_id: i64,
    card: ContactCard,
}

#[derive(Deserialize)]
pub struct RevealForm {
    #[serde(default)]
    reason: String,
}

/// Shows one contact's full details once; the page is never cached.
pub async fn reveal(
    state: web::Data<AppState>,
    rules: web::Data<RouteRules>,
    user: CurrentUser,
    session: Session,
    path: web::Path<i64>,
    form: web::Form<RevealForm>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let reason = form.into_inner().reason;
    let (viewer, actor, company_id) = (user.viewer(), user.actor(), user.auth.company_id);
    let result = db(&state, move |conn| {
        let cap = companies::get(conn, company_id)?.reveal_daily_cap;
        write_transaction(conn, |conn| {
            conversations::reveal(conn, &viewer, id, &reason, cap, &actor)
        })
    })
    .await;
    match result {
        Ok(card) => {
            let layout = Layout::build(
                &state,
                &rules,
                &user,
                &session,
                "Contact details",
                "/conversations",
            )
            .await?;
            render(
                StatusCode::OK,
                &RevealPage {
                    layout,
                    conversation_id: id,
                    card,
                },
            )
        }
        Err(AppError::Fields(errors)) => {
            show_page(&state, &rules, &user, &session, id, errors, String::new()).await
        }
        Err(other) => Err(other),
    }
}
