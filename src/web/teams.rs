//! `/teams` (`teams.manage`): departments and brands, each with members, leads and channels.
//! What a team decides (the `conversations.view_team` scope, the "only within my teams" role
//! flag) is the domain's; these pages only set it.

use actix_web::web::Path;
use askama::Template;
use serde::Deserialize;

use crate::core::ids::{ChannelId, TeamId, UserId};
use crate::domain::teams::{self, Change, Detail, TeamSummary};
use crate::error::{FieldErrors, FieldsApart};
use crate::web::forms::lenient;
use crate::web::layout::Layout;
use crate::web::{Answer, Cx, Form, form_page};

#[derive(Template)]
#[template(path = "teams/index.html")]
struct IndexPage {
    layout: Layout,
    teams: Vec<TeamSummary>,
    name: String,
    errors: FieldErrors,
}

#[derive(Clone, Default, Deserialize)]
#[serde(default)]
pub struct NewTeamForm {
    name: String,
}

async fn index_page(cx: &Cx, name: String, errors: FieldErrors) -> Answer {
    let (layout, list) = cx
        .read_page("Teams", "/teams", |conn, me| {
            teams::list(conn, me.company_id)
        })
        .await?;
    let page = IndexPage {
        layout,
        teams: list,
        name,
        errors,
    };
    form_page(&page.errors, &page)
}

pub async fn index(cx: Cx) -> Answer {
    index_page(&cx, String::new(), FieldErrors::default()).await
}

pub async fn create(cx: Cx, Form(form): Form<NewTeamForm>) -> Answer {
    let name = form.name.clone();
    match cx
        .write(move |conn, me| teams::create(conn, me, &name))
        .await
        .fields_apart()?
    {
        Ok(id) => Ok(cx.done(
            "The team was created. Choose its members, leads and channels.",
            format!("/teams/{id}"),
        )),
        Err(errors) => index_page(&cx, form.name, errors).await,
    }
}

/// The team form as sent; it goes back into the page on a 422.
#[derive(Clone, Default, Deserialize)]
#[serde(default)]
pub struct TeamForm {
    name: String,
    #[serde(deserialize_with = "lenient::ids")]
    member_ids: Vec<Option<UserId>>,
    #[serde(deserialize_with = "lenient::ids")]
    lead_ids: Vec<Option<UserId>>,
    #[serde(deserialize_with = "lenient::ids")]
    channel_ids: Vec<Option<ChannelId>>,
}

impl TeamForm {
    fn change(&self) -> Change {
        Change {
            name: self.name.clone(),
            member_ids: self.member_ids.clone(),
            lead_ids: self.lead_ids.clone(),
            channel_ids: self.channel_ids.clone(),
        }
    }

    fn of(detail: &Detail) -> Self {
        Self {
            name: detail.team.name.clone(),
            member_ids: detail.members.iter().map(|m| Some(m.user_id)).collect(),
            lead_ids: detail
                .members
                .iter()
                .filter(|m| m.is_lead)
                .map(|m| Some(m.user_id))
                .collect(),
            channel_ids: detail.channel_ids.iter().copied().map(Some).collect(),
        }
    }
}

pub struct PersonLine {
    id: UserId,
    display_name: String,
    username: String,
    member: bool,
    lead: bool,
}

pub struct ChannelLine {
    id: ChannelId,
    name: String,
    chosen: bool,
    /// The other team it is in now (choosing it here moves it).
    elsewhere: Option<String>,
}

#[derive(Template)]
#[template(path = "teams/show.html")]
struct ShowPage {
    layout: Layout,
    team_id: TeamId,
    team_name: String,
    name: String,
    people: Vec<PersonLine>,
    channels: Vec<ChannelLine>,
    errors: FieldErrors,
}

async fn show_page(
    cx: &Cx,
    team_id: TeamId,
    submitted: Option<TeamForm>,
    errors: FieldErrors,
) -> Answer {
    let (mut layout, (detail, options)) = cx
        .read_page("", "/teams", move |conn, me| {
            Ok((
                teams::detail(conn, me.company_id, team_id)?,
                teams::options(conn, me.company_id)?,
            ))
        })
        .await?;
    layout.title = detail.team.name.clone();
    let form = submitted.unwrap_or_else(|| TeamForm::of(&detail));
    let page = ShowPage {
        layout,
        team_id,
        team_name: detail.team.name.clone(),
        people: options
            .people
            .into_iter()
            .map(|(id, display_name, username)| PersonLine {
                member: form.member_ids.contains(&Some(id)),
                lead: form.lead_ids.contains(&Some(id)),
                id,
                display_name,
                username,
            })
            .collect(),
        channels: options
            .channels
            .into_iter()
            .map(|(id, name, team)| ChannelLine {
                chosen: form.channel_ids.contains(&Some(id)),
                elsewhere: team.filter(|t| *t != team_id).and_then(|t| {
                    options
                        .teams
                        .iter()
                        .find(|other| other.id == t)
                        .map(|other| other.name.clone())
                }),
                id,
                name,
            })
            .collect(),
        name: form.name,
        errors,
    };
    form_page(&page.errors, &page)
}

pub async fn show(cx: Cx, id: Path<TeamId>) -> Answer {
    show_page(&cx, id.into_inner(), None, FieldErrors::default()).await
}

pub async fn update(cx: Cx, id: Path<TeamId>, Form(form): Form<TeamForm>) -> Answer {
    let id = id.into_inner();
    let change = form.change();
    match cx
        .write(move |conn, me| teams::update(conn, me, id, &change))
        .await
        .fields_apart()?
    {
        Ok(()) => Ok(cx.done("The team was saved.", format!("/teams/{id}"))),
        Err(errors) => show_page(&cx, id, Some(form), errors).await,
    }
}

pub async fn delete(cx: Cx, id: Path<TeamId>) -> Answer {
    let id = id.into_inner();
    cx.write(move |conn, me| teams::delete(conn, me, id))
        .await?;
    Ok(cx.done(
        "The team was deleted; its channels belong to no team now.",
        "/teams",
    ))
}
