//! The agent workspace: `/conversations` and every action on one conversation. Rows,
//! timelines and fragments come from `domain::conversations`, already filtered by the
//! visibility rule and masked for the viewer.

use crate::error::FieldsApart;
use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::web::Path;
use askama::Template;
use serde::Deserialize;

use crate::core::ids::{ConversationId, MessageId};
use crate::core::permissions::Permission;
use crate::core::status::ConversationStatus;
use crate::domain::channels::{Channel, Holder};
use crate::domain::conversations::{self, ContactCard, MessageWindow};
use crate::error::{AppError, FieldErrors};
use crate::web::conversation_views::{ListQuery, MessageItem, RowItem, list_filter, read_inbox};
use crate::web::forms::AssigneeForm;
use crate::web::layout::{Layout, set_flash};
use crate::web::{Answer, Cx, Form, Query, form_page, live, page, render, see_other};

pub struct ChannelOption {
    id: i64,
    name: String,
    selected: bool,
}

#[derive(Template)]
#[template(path = "conversations/index.html")]
struct ListPage {
    layout: Layout,
    /// The rows and the badge, rendered once: the page shows them, the poller fingerprints them.
    regions: live::ListRegions,
    live_url: Option<String>,
    channels: Vec<ChannelOption>,
    status: String,
    q: String,
    label: String,
    missed: bool,
    unassigned: bool,
    /// The viewer's id, for "assigned to me".
    me: String,
    assigned_to_me: bool,
    export_query: String,
    can_export: bool,
    /// Sees conversations nobody holds (channel or company scope), so the queue is theirs too.
    sees_queue: bool,
    /// `newest` or `oldest` activity first.
    sort: &'static str,
    next_cursor: Option<String>,
    /// Past the first page: offer the way back to it.
    paged: bool,
}

pub async fn index(cx: Cx, Query(query): Query<ListQuery>) -> Answer {
    let filter = list_filter(&cx, &query).await?;
    let status = filter.status;
    let missed = filter.waiting_since_before.is_some();
    let channel_filter = filter.channel_id;
    let sort = filter.order.as_str();
    let (inbox, version) = read_inbox(&cx, filter).await?;
    let layout = Layout::build(&cx, "Conversations", "/conversations", inbox.counts);
    let next_cursor = inbox
        .page
        .next(|r| crate::core::cursor::format(r.last_message_at, r.id));
    let rows = RowItem::all(&inbox.page.rows, cx.now());
    let regions = live::ListRegions::new(&rows, inbox.matched, missed, &layout.shown_counts())?;
    let live_url = live::list_url(&cx, &query, &live::seen(&version, &regions.fingerprint()));
    page(&ListPage {
        layout,
        regions,
        live_url,
        channels: inbox
            .channels
            .iter()
            .map(|c: &Channel| ChannelOption {
                selected: channel_filter == Some(c.id),
                id: c.id.into(),
                name: c.name.clone(),
            })
            .collect(),
        status: status.map_or("all", ConversationStatus::as_str).to_string(),
        // what the viewer typed comes back masked like everything else they are shown
        q: cx
            .user
            .viewer()
            .contact_mask()
            .text(&query.q.clone().unwrap_or_default()),
        label: query.label.clone().unwrap_or_default(),
        export_query: query.describe_query(cx.user.viewer().contact_mask()),
        can_export: cx.can(Permission::ExportsCreate),
        missed,
        unassigned: query.is_unassigned(),
        me: cx.user.auth.user_id.to_string(),
        assigned_to_me: query.assignee == Some(cx.user.auth.user_id),
        sees_queue: cx.can(Permission::ConversationsViewAll)
            || cx.can(Permission::ConversationsViewChannel),
        sort,
        next_cursor,
        paged: query.after.as_deref().is_some_and(|b| !b.is_empty()),
    })
}

#[derive(Template)]
#[template(path = "conversations/show.html")]
struct ShowPage {
    layout: Layout,
    item: RowItem,
    /// Head, messages, assignee and history, rendered once: shown, and fingerprinted for
    /// the live updates.
    regions: live::ConversationRegions,
    live_url: String,
    /// Where the step back to earlier messages starts, when there are any.
    earlier: Option<MessageId>,
    labels: Vec<String>,
    /// What the composer's picker offers (the company's shared ones and the viewer's own).
    quick_replies: Vec<crate::domain::quick_replies::QuickReply>,
    /// The approved templates the composer may send.
    message_templates: Vec<crate::domain::templates::Template>,
    /// The value boxes `{{1}}`…`{{n}}` the picker shows: as many as the template that takes the
    /// most (unused trailing boxes are ignored).
    template_values: Vec<usize>,
    holders: Vec<Holder>,
    can_reply: bool,
    can_close: bool,
    can_transfer: bool,
    /// Reveals the viewer has left today, when they may reveal at all.
    reveals_left: Option<i64>,
    /// The customer, for `privacy.manage` holders' export and erase links.
    subject: Option<crate::core::ids::ContactId>,
    errors: FieldErrors,
    reply_body: String,
}

pub(crate) async fn show_page(
    cx: &Cx,
    id: ConversationId,
    errors: FieldErrors,
    reply_body: String,
) -> Answer {
    let can_transfer = cx.can(Permission::ConversationsTransfer);
    let can_reveal =
        cx.can(Permission::ContactsReveal) && !cx.can(Permission::ContactsViewUnmasked);
    let can_reply = cx.can(Permission::ConversationsReply);
    let (layout, (detail, holders, reveals_left, (quick_replies, message_templates))) = cx
        .read_page("Conversation", "/conversations", move |conn, me| {
            let detail = conversations::get(conn, &me.viewer, id, MessageWindow::Latest)?;
            let holders = if can_transfer {
                conversations::transfer_options(conn, &me.viewer, id)?
            } else {
                Vec::new()
            };
            let reveals_left = can_reveal
                .then(|| conversations::reveals_left(conn, me))
                .transpose()?;
            let composer = if can_reply {
                (
                    crate::domain::quick_replies::usable(conn, me)?,
                    crate::domain::templates::approved(conn, me.company_id)?,
                )
            } else {
                (Vec::new(), Vec::new())
            };
            Ok((detail, holders, reveals_left, composer))
        })
        .await?;
    let version = cx.state.live_version();
    let (first, earlier) = (detail.messages.first, detail.messages.step_back());
    let live::ShownConversation { item, regions } = live::ConversationRegions::of(
        detail.row,
        detail.messages.messages,
        detail.history,
        &detail.labels,
        &layout.shown_counts(),
        cx.now(),
    )?;
    let live_url = live::conversation_url(id, first, &live::seen(&version, &regions.fingerprint()));
    let page = ShowPage {
        layout,
        earlier,
        labels: detail.labels,
        item,
        regions,
        live_url,
        quick_replies,
        template_values: (1..=message_templates
            .iter()
            .map(|t| t.placeholders())
            .max()
            .unwrap_or(0))
            .collect(),
        message_templates,
        holders,
        can_reply,
        can_close: cx.can(Permission::ConversationsClose),
        can_transfer,
        reveals_left,
        subject: cx
            .can(Permission::PrivacyManage)
            .then_some(detail.contact_id),
        errors,
        reply_body,
    };
    form_page(&page.errors, &page)
}

pub async fn show(cx: Cx, id: Path<ConversationId>) -> Answer {
    show_page(&cx, id.into_inner(), FieldErrors::default(), String::new()).await
}

#[derive(Deserialize)]
pub struct EarlierQuery {
    before: Option<MessageId>,
}

/// The step back: on the conversation page (htmx) the messages before `before` and the link
/// to the step before them, in place of the link that asked; without htmx, a page of them.
#[derive(Template)]
#[template(path = "conversations/earlier.html")]
struct EarlierFragment {
    conversation_id: ConversationId,
    messages: Vec<MessageItem>,
    earlier: Option<MessageId>,
}

#[derive(Template)]
#[template(path = "conversations/earlier_page.html")]
struct EarlierPage {
    layout: Layout,
    fragment: EarlierFragment,
}

/// `GET /conversations/{id}/messages?before=`: the messages before one (the latest without
/// it), for a viewer who may see the conversation (404 otherwise), masked as on the page.
pub async fn earlier(
    cx: Cx,
    id: Path<ConversationId>,
    Query(query): Query<EarlierQuery>,
) -> Answer {
    let id = id.into_inner();
    let before = query.before;
    let (layout, shown) = cx
        .read_page("Messages", "/conversations", move |conn, me| {
            conversations::messages_before(conn, &me.viewer, id, before)
        })
        .await?;
    let fragment = EarlierFragment {
        conversation_id: id,
        earlier: shown.step_back(),
        messages: shown.messages.into_iter().map(MessageItem::new).collect(),
    };
    if cx.htmx {
        page(&fragment)
    } else {
        page(&EarlierPage { layout, fragment })
    }
}

/// The new message and a fresh reply form: what an htmx reply swaps in.
#[derive(Template)]
#[template(path = "conversations/reply_fragment.html")]
struct ReplyFragment {
    conversation_id: ConversationId,
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

pub async fn reply(cx: Cx, id: Path<ConversationId>, Form(form): Form<ReplyForm>) -> Answer {
    let id = id.into_inner();
    let kind = if form.note.is_some() {
        conversations::Writing::Note
    } else {
        conversations::Writing::Reply
    };
    let body = form.body;
    let text = body.clone();
    let result = cx
        .write_outside_sessions(move |conn, me| conversations::reply(conn, me, id, &text, kind))
        .await;
    let fragment = |message, error, reply_body| ReplyFragment {
        conversation_id: id,
        message,
        csrf_token: cx.user.auth.csrf_token.clone(),
        error,
        reply_body,
    };
    match result {
        // the page's status, buttons and composer all change: load it again, saying why
        Ok(message) if message.reopened => {
            let location = format!("/conversations/{id}");
            let flash = "Your reply reopened the conversation.";
            if cx.htmx {
                set_flash(&cx.session, flash);
                Ok(HttpResponse::Ok()
                    .insert_header(("HX-Redirect", location))
                    .finish())
            } else {
                Ok(cx.done(flash, location))
            }
        }
        Ok(message) if cx.htmx => page(&fragment(
            Some(MessageItem::new(message)),
            None,
            String::new(),
        )),
        Ok(_) => Ok(see_other(&format!("/conversations/{id}"))),
        Err(AppError::Fields(errors)) if cx.htmx => render(
            StatusCode::UNPROCESSABLE_ENTITY,
            &fragment(
                None,
                errors.get("body").map(String::from),
                body.chars().take(conversations::MAX_BODY + 100).collect(),
            ),
        ),
        Err(AppError::Fields(errors)) => show_page(&cx, id, errors, body).await,
        Err(other) => Err(other),
    }
}

pub async fn close(cx: Cx, id: Path<ConversationId>) -> Answer {
    set_status(cx, id.into_inner(), false).await
}

pub async fn reopen(cx: Cx, id: Path<ConversationId>) -> Answer {
    set_status(cx, id.into_inner(), true).await
}

async fn set_status(cx: Cx, id: ConversationId, open: bool) -> Answer {
    cx.write_outside_sessions(move |conn, me| conversations::set_status(conn, me, id, open))
        .await?;
    let said = match open {
        true => "The conversation was reopened.",
        false => "The conversation was closed.",
    };
    Ok(cx.done(said, format!("/conversations/{id}")))
}

pub async fn transfer(cx: Cx, id: Path<ConversationId>, Form(form): Form<AssigneeForm>) -> Answer {
    let id = id.into_inner();
    match cx
        .write_outside_sessions(move |conn, me| {
            conversations::transfer(conn, me, id, form.assignee_id)
        })
        .await
        .fields_apart()?
    {
        // the transfer may have taken it out of the viewer's sight
        Ok(()) => Ok(cx.done("The conversation was transferred.", "/conversations")),
        Err(errors) => show_page(&cx, id, errors, String::new()).await,
    }
}

#[derive(Deserialize)]
pub struct LabelForm {
    #[serde(default)]
    label: String,
}

pub async fn add_label(cx: Cx, id: Path<ConversationId>, Form(form): Form<LabelForm>) -> Answer {
    let id = id.into_inner();
    match cx
        .write_outside_sessions(move |conn, me| {
            conversations::set_label(conn, me, id, &form.label, true)
        })
        .await
        .fields_apart()?
    {
        Ok(()) => Ok(see_other(&format!("/conversations/{id}"))),
        Err(errors) => show_page(&cx, id, errors, String::new()).await,
    }
}

pub async fn remove_label(cx: Cx, id: Path<ConversationId>, Form(form): Form<LabelForm>) -> Answer {
    let id = id.into_inner();
    cx.write_outside_sessions(move |conn, me| {
        conversations::set_label(conn, me, id, &form.label, false)
    })
    .await?;
    Ok(cx.done("The label was removed.", format!("/conversations/{id}")))
}

#[derive(Template)]
#[template(path = "conversations/reveal.html")]
struct RevealPage {
    layout: Layout,
    conversation_id: ConversationId,
    card: ContactCard,
}

#[derive(Deserialize)]
pub struct RevealForm {
    #[serde(default)]
    reason: String,
}

/// Shows one contact's full details once; the page is never cached.
pub async fn reveal(cx: Cx, id: Path<ConversationId>, Form(form): Form<RevealForm>) -> Answer {
    let id = id.into_inner();
    match cx
        .write_outside_sessions(move |conn, me| conversations::reveal(conn, me, id, &form.reason))
        .await
        .fields_apart()?
    {
        Ok(card) => page(&RevealPage {
            layout: cx.layout("Contact details", "/conversations").await?,
            conversation_id: id,
            card,
        }),
        Err(errors) => show_page(&cx, id, errors, String::new()).await,
    }
}
