//! `/broadcasts`: one approved template to a segment of a channel's contacts, drafted under
//! `broadcasts.create`, approved under `broadcasts.approve` by someone else, then sent.

use actix_web::web::Path;
use askama::Template;
use serde::Deserialize;

use crate::core::ids::{BroadcastId, ChannelId, TemplateId};
use crate::core::permissions::Permission;
use crate::core::status::BroadcastStatus;
use crate::domain::broadcasts::{self, Broadcast, Draft, Listed};
use crate::domain::templates;
use crate::error::{FieldErrors, FieldsApart};
use crate::web::forms::lenient;
use crate::web::layout::Layout;
use crate::web::message_templates::DecisionForm;
use crate::web::{Answer, Cx, Form, form_page};

#[derive(Clone, Default, Deserialize)]
#[serde(default)]
pub struct BroadcastForm {
    name: String,
    #[serde(deserialize_with = "lenient::id")]
    channel_id: Option<ChannelId>,
    #[serde(deserialize_with = "lenient::id")]
    template_id: Option<TemplateId>,
    label: String,
    last_contact_after: String,
}

#[derive(Template)]
#[template(path = "broadcasts/index.html")]
struct IndexPage {
    layout: Layout,
    broadcasts: Vec<Listed>,
    channels: Vec<(ChannelId, String)>,
    templates: Vec<(TemplateId, String)>,
    can_create: bool,
    form: BroadcastForm,
    errors: FieldErrors,
}

impl IndexPage {
    fn channel_chosen(&self, id: &ChannelId) -> bool {
        self.form.channel_id == Some(*id)
    }

    fn template_chosen(&self, id: &TemplateId) -> bool {
        self.form.template_id == Some(*id)
    }
}

async fn index_page(cx: &Cx, form: BroadcastForm, errors: FieldErrors) -> Answer {
    let (layout, (list, channels, approved)) = cx
        .read_page("Broadcasts", "/broadcasts", |conn, me| {
            let mut channels = crate::domain::channels::list(conn, me.company_id)?;
            if let Some(mine) = crate::domain::visibility::scope(conn, &me.viewer)?.channel_limit()
            {
                channels.retain(|c| mine.contains(&c.id));
            }
            Ok((
                broadcasts::list(conn, me.company_id)?,
                channels.into_iter().map(|c| (c.id, c.name)).collect(),
                templates::approved(conn, me.company_id)?
                    .into_iter()
                    .map(|t| (t.id, t.title()))
                    .collect(),
            ))
        })
        .await?;
    let page = IndexPage {
        layout,
        broadcasts: list,
        channels,
        templates: approved,
        can_create: cx.can(Permission::BroadcastsCreate),
        form,
        errors,
    };
    form_page(&page.errors, &page)
}

pub async fn index(cx: Cx) -> Answer {
    index_page(&cx, BroadcastForm::default(), FieldErrors::default()).await
}

pub async fn create(cx: Cx, Form(form): Form<BroadcastForm>) -> Answer {
    let draft = Draft {
        name: form.name.clone(),
        channel_id: form.channel_id,
        template_id: form.template_id,
        label: form.label.clone(),
        last_contact_after: form.last_contact_after.clone(),
    };
    match cx
        .write(move |conn, me| broadcasts::create(conn, me, &draft))
        .await
        .fields_apart()?
    {
        Ok(id) => Ok(cx.done(
            "The broadcast was drafted. Check its audience, then submit it for approval.",
            format!("/broadcasts/{id}"),
        )),
        Err(errors) => index_page(&cx, form, errors).await,
    }
}

#[derive(Template)]
#[template(path = "broadcasts/show.html")]
struct ShowPage {
    layout: Layout,
    broadcast: Broadcast,
    channel: String,
    template: String,
    body: String,
    /// How many contacts it reaches as the viewer sees them.
    audience: i64,
    can_create: bool,
    can_decide: bool,
    /// When it is scheduled to start, in the viewer's zone.
    scheduled_for: Option<String>,
    errors: FieldErrors,
}

impl ShowPage {
    fn is(&self, status: &str) -> bool {
        self.broadcast.status.as_str() == status
    }

    fn percent(&self) -> i64 {
        if self.broadcast.audience == 0 {
            100
        } else {
            i64::from(self.broadcast.sent) * 100 / i64::from(self.broadcast.audience)
        }
    }
}

async fn show_page(cx: &Cx, id: BroadcastId, errors: FieldErrors) -> Answer {
    let (mut layout, (broadcast, channel, template, audience)) = cx
        .read_page("", "/broadcasts", move |conn, me| {
            let broadcast = broadcasts::get(conn, me.company_id, id)?;
            let channel = crate::domain::channels::get(conn, me.company_id, broadcast.channel_id)?;
            let template = templates::get(conn, me.company_id, broadcast.template_id)?;
            let audience = broadcasts::audience(conn, &me.viewer, &broadcast)?;
            Ok((broadcast, channel.name, template, audience))
        })
        .await?;
    layout.title = broadcast.name.clone();
    let page = ShowPage {
        layout,
        can_decide: cx.can(Permission::BroadcastsApprove)
            && broadcast.created_by_id != cx.user.auth.user_id
            && broadcast.status == BroadcastStatus::Submitted,
        broadcast,
        channel,
        template: template.title(),
        body: template.body,
        audience,
        can_create: cx.can(Permission::BroadcastsCreate),
        scheduled_for: None,
        errors,
    };
    let page = ShowPage {
        scheduled_for: page
            .broadcast
            .send_at
            .filter(|_| page.broadcast.status == BroadcastStatus::Approved)
            .as_ref()
            .map(crate::web::format_time),
        ..page
    };
    form_page(&page.errors, &page)
}

pub async fn show(cx: Cx, id: Path<BroadcastId>) -> Answer {
    show_page(&cx, id.into_inner(), FieldErrors::default()).await
}

pub async fn submit(cx: Cx, id: Path<BroadcastId>) -> Answer {
    let id = id.into_inner();
    cx.write(move |conn, me| broadcasts::submit(conn, me, id))
        .await?;
    Ok(cx.done(
        "Submitted: it waits for a second person's approval.",
        format!("/broadcasts/{id}"),
    ))
}

pub async fn approve(cx: Cx, id: Path<BroadcastId>) -> Answer {
    let id = id.into_inner();
    cx.write(move |conn, me| broadcasts::decide(conn, me, id, true, ""))
        .await?;
    Ok(cx.done("Approved: it may be sent now.", format!("/broadcasts/{id}")))
}

pub async fn reject(cx: Cx, id: Path<BroadcastId>, Form(form): Form<DecisionForm>) -> Answer {
    let id = id.into_inner();
    match cx
        .write(move |conn, me| broadcasts::decide(conn, me, id, false, &form.reason))
        .await
        .fields_apart()?
    {
        Ok(()) => Ok(cx.done("Rejected.", format!("/broadcasts/{id}"))),
        Err(errors) => show_page(&cx, id, errors).await,
    }
}

/// The send form: now, or at a time in the sender's own zone (`YYYY-MM-DDTHH:MM`).
#[derive(Clone, Default, Deserialize)]
#[serde(default)]
pub struct SendForm {
    send_at: String,
}

pub async fn send(cx: Cx, id: Path<BroadcastId>, Form(form): Form<SendForm>) -> Answer {
    let id = id.into_inner();
    let typed = form.send_at.trim().to_string();
    if !typed.is_empty() {
        let zone = crate::access::viewer_zone();
        let at = chrono::NaiveDateTime::parse_from_str(&typed, "%Y-%m-%dT%H:%M")
            .ok()
            .and_then(|local| {
                use chrono::TimeZone;
                zone.from_local_datetime(&local).earliest()
            })
            .map(|at| at.naive_utc());
        let Some(at) = at else {
            let mut errors = FieldErrors::default();
            errors.add(
                "send_at",
                "Give the day and time, such as 2026-12-24T09:00.",
            );
            return show_page(&cx, id, errors).await;
        };
        return match cx
            .write(move |conn, me| broadcasts::schedule(conn, me, id, at))
            .await
            .fields_apart()?
        {
            Ok(()) => Ok(cx.done(
                "Scheduled: it starts by itself at that time.",
                format!("/broadcasts/{id}"),
            )),
            Err(errors) => show_page(&cx, id, errors).await,
        };
    }
    cx.write(move |conn, me| broadcasts::send(conn, me, id))
        .await?;
    Ok(cx.done("Sending.", format!("/broadcasts/{id}")))
}

pub async fn cancel(cx: Cx, id: Path<BroadcastId>) -> Answer {
    let id = id.into_inner();
    cx.write(move |conn, me| broadcasts::cancel(conn, me, id))
        .await?;
    Ok(cx.done(
        "Cancelled: nothing more goes out.",
        format!("/broadcasts/{id}"),
    ))
}
