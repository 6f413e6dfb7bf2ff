//! `/channels` (`channels.view`; changes need `channels.manage`) and `/assignments`
//! (`channels.assign`): the company's channels, their members and inbound tokens, and the
//! users × channels matrix (htmx toggles, plain form posts without JavaScript).

use crate::error::FieldsApart;
use actix_web::web::Path;
use askama::Template;
use serde::Deserialize;

use crate::core::ids::{ChannelId, UserId};
use crate::core::permissions::Permission;
use crate::core::status::ChannelKind;
use crate::domain::assignments::{self, Cell, Matrix};
use crate::domain::channels::{self, Channel, ChannelSummary};
use crate::error::FieldErrors;
use crate::web::layout::Layout;
use crate::web::{Answer, Cx, Form, form_page, page};

#[derive(Template)]
#[template(path = "channels/index.html")]
struct ListPage {
    layout: Layout,
    channels: Vec<(ChannelSummary, &'static str)>,
    kinds: Vec<(&'static str, &'static str)>,
    can_manage: bool,
    name: String,
    kind: String,
    errors: FieldErrors,
}

async fn list_page(cx: &Cx, form: NewChannel, errors: FieldErrors) -> Answer {
    let (layout, list) = cx
        .read_page("Channels", "/channels", |conn, me| {
            channels::list_with_counts(conn, me.company_id)
        })
        .await?;
    let page = ListPage {
        layout,
        channels: list
            .into_iter()
            .map(|summary| {
                let label = summary.channel.kind.label();
                (summary, label)
            })
            .collect(),
        kinds: ChannelKind::ALL
            .iter()
            .map(|kind| (kind.as_str(), kind.label()))
            .collect(),
        can_manage: cx.can(Permission::ChannelsManage),
        name: form.name,
        kind: form.kind,
        errors,
    };
    form_page(&page.errors, &page)
}

pub async fn index(cx: Cx) -> Answer {
    list_page(&cx, NewChannel::default(), FieldErrors::default()).await
}

#[derive(Clone, Default, Deserialize)]
#[serde(default)]
pub struct NewChannel {
    name: String,
    kind: String,
}

pub async fn create(cx: Cx, Form(form): Form<NewChannel>) -> Answer {
    let submitted = form.clone();
    match cx
        .write(move |conn, me| channels::create(conn, me, &submitted.name, &submitted.kind))
        .await
        .fields_apart()?
    {
        Ok(id) => Ok(cx.done(
            "The channel was created. Connect it with the inbound address and token below.",
            format!("/channels/{id}"),
        )),
        Err(errors) => list_page(&cx, form, errors).await,
    }
}

#[derive(Template)]
#[template(path = "channels/show.html")]
struct ShowPage {
    layout: Layout,
    channel: Channel,
    kind_label: &'static str,
    members: Vec<channels::ChannelMember>,
    /// Only for `channels.manage` holders.
    token: Option<String>,
    inbound_path: String,
    name: String,
    errors: FieldErrors,
}

async fn show_page(
    cx: &Cx,
    channel_id: ChannelId,
    submitted: Option<(String, FieldErrors)>,
) -> Answer {
    let manage = cx.can(Permission::ChannelsManage);
    let (mut layout, (channel, members, token)) = cx
        .read_page("", "/channels", move |conn, me| {
            let channel = channels::get(conn, me.company_id, channel_id)?;
            let members = channels::members_of(conn, channel.id)?;
            let token = if manage {
                Some(channels::webhook_token(conn, me.company_id, channel.id)?)
            } else {
                None
            };
            Ok((channel, members, token))
        })
        .await?;
    layout.title = channel.name.clone();
    let (name, errors) =
        submitted.unwrap_or_else(|| (channel.name.clone(), FieldErrors::default()));
    let page = ShowPage {
        layout,
        kind_label: channel.kind.label(),
        inbound_path: format!("/hooks/channels/{}/messages", channel.id),
        channel,
        members,
        token,
        name,
        errors,
    };
    form_page(&page.errors, &page)
}

pub async fn show(cx: Cx, id: Path<ChannelId>) -> Answer {
    show_page(&cx, id.into_inner(), None).await
}

#[derive(Deserialize)]
pub struct ChannelEdit {
    #[serde(default)]
    name: String,
    /// A checkbox: present when the channel stays enabled.
    active: Option<String>,
}

pub async fn update(cx: Cx, id: Path<ChannelId>, Form(form): Form<ChannelEdit>) -> Answer {
    let id = id.into_inner();
    let (name, active) = (form.name.clone(), form.active.is_some());
    match cx
        .write(move |conn, me| channels::update(conn, me, id, &name, active))
        .await
        .fields_apart()?
    {
        Ok(()) => Ok(cx.done("The channel was saved.", format!("/channels/{id}"))),
        Err(errors) => show_page(&cx, id, Some((form.name, errors))).await,
    }
}

pub async fn rotate_token(cx: Cx, id: Path<ChannelId>) -> Answer {
    let id = id.into_inner();
    cx.write(move |conn, me| channels::rotate_token(conn, me, id))
        .await?;
    Ok(cx.done(
        "A new token was issued. The old one no longer works: update the channel's connection.",
        format!("/channels/{id}"),
    ))
}

// ---- assignments ---------------------------------------------------------------------------

pub struct MatrixLine {
    user_id: UserId,
    display_name: String,
    username: String,
    status: crate::core::status::UserStatus,
    availability: crate::core::status::Availability,
    stranded: i64,
    cells: Vec<Cell>,
}

#[derive(Template)]
#[template(path = "channels/assignments.html")]
struct AssignmentsPage {
    layout: Layout,
    channels: Vec<Channel>,
    lines: Vec<MatrixLine>,
    csrf_token: String,
}

fn lines(matrix: Matrix) -> (Vec<Channel>, Vec<MatrixLine>) {
    let lines = matrix
        .rows
        .into_iter()
        .map(|row| MatrixLine {
            cells: matrix
                .channels
                .iter()
                .zip(&row.member_of)
                .map(|(channel, member)| Cell {
                    user_id: row.user_id,
                    channel_id: channel.id,
                    channel_name: channel.name.clone(),
                    display_name: row.display_name.clone(),
                    member: *member,
                    stranded: row.stranded,
                })
                .collect(),
            user_id: row.user_id,
            display_name: row.display_name,
            username: row.username,
            status: row.status,
            availability: row.availability,
            stranded: row.stranded,
        })
        .collect();
    (matrix.channels, lines)
}

pub async fn assignments(cx: Cx) -> Answer {
    let (layout, matrix) = cx
        .read_page("Assignments", "/assignments", |conn, me| {
            assignments::matrix(conn, me)
        })
        .await?;
    let (channels, lines) = lines(matrix);
    page(&AssignmentsPage {
        csrf_token: layout.csrf_token.clone(),
        layout,
        channels,
        lines,
    })
}

/// One cell of the matrix: what an htmx toggle swaps in.
#[derive(Template)]
#[template(path = "channels/cell_fragment.html")]
struct CellFragment {
    cell: Cell,
    csrf_token: String,
}

#[derive(Deserialize)]
pub struct Toggle {
    user_id: UserId,
    channel_id: ChannelId,
    assigned: bool,
}

pub async fn assign(cx: Cx, Form(form): Form<Toggle>) -> Answer {
    let cell = cx
        .write(move |conn, me| {
            assignments::set(conn, me, form.user_id, form.channel_id, form.assigned)
        })
        .await?;
    if cx.htmx {
        return page(&CellFragment {
            cell,
            csrf_token: cx.user.auth.csrf_token.clone(),
        });
    }
    let verb = if cell.member {
        "now works on"
    } else {
        "no longer works on"
    };
    Ok(cx.done(
        format!("{} {verb} {}.", cell.display_name, cell.channel_name),
        "/assignments",
    ))
}

/// Every channel, or none.
#[derive(Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BulkChoice {
    All,
    None,
}

#[derive(Deserialize)]
pub struct Bulk {
    user_id: UserId,
    channels: BulkChoice,
}

pub async fn assign_bulk(cx: Cx, Form(form): Form<Bulk>) -> Answer {
    let assigned = matches!(form.channels, BulkChoice::All);
    cx.write(move |conn, me| assignments::set_all(conn, me, form.user_id, assigned))
        .await?;
    Ok(cx.done(
        if assigned {
            "The user now works on every channel."
        } else {
            "The user was removed from every channel."
        },
        "/assignments",
    ))
}
