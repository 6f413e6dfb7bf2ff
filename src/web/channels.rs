//! `/channels` (`channels.view`; changes need `channels.manage`) and `/assignments`
//! (`channels.assign`): the company's channels, their members and inbound tokens, and the
//! users × channels matrix (htmx toggles, plain form posts without JavaScript).

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::AppState;
use crate::access::permissions::Permission;
use crate::access::{CurrentUser, RouteRules};
use crate::db::write_transaction;
use crate::domain::assignments::{self, Cell, Matrix};
use crate::domain::channels::{self, Channel, ChannelSummary, KINDS, kind_label};
use crate::error::{AppError, FieldErrors};
use crate::web::layout::{Layout, set_flash};
use crate::web::{db, render, see_other};

#[derive(Template)]
#[template(path = "channels/index.html")]
struct ListPage {
    layout: Layout,
    channels: Vec<(ChannelSummary, &'static str)>,
    kinds: [(&'static str, &'static str); 6],
    can_manage: bool,
    name: String,
    kind: String,
    errors: FieldErrors,
}

async fn list_page(
    state: &AppState,
    rules: &RouteRules,
    user: &CurrentUser,
    session: &Session,
    submitted: Option<(NewChannel, FieldErrors)>,
) -> Result<HttpResponse, AppError> {
    let company_id = user.auth.company_id;
    let list = db(state, move |conn| {
        channels::list_with_counts(conn, company_id)
    })
    .await?;
    let layout = Layout::build(state, rules, user, session, "Channels", "/channels").await?;
    let (form, errors) = submitted.unwrap_or_default();
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    render(
        status,
        &ListPage {
            layout,
            channels: list
                .into_iter()
                .map(|summary| {
                    let label = kind_label(&summary.channel.kind);
                    (summary, label)
                })
                .collect(),
            kinds: KINDS,
            can_manage: user.can(Permission::ChannelsManage),
            name: form.name,
            kind: form.kind,
            errors,
        },
    )
}

pub async fn index(
    state: web::Data<AppState>,
    rules: web::Data<RouteRules>,
    user: CurrentUser,
    session: Session,
) -> Result<HttpResponse, AppError> {
    list_page(&state, &rules, &user, &session, None).await
}

#[derive(Clone, Default, Deserialize)]
pub struct NewChannel {
    #[serde(default)]
    name: String,
    #[serde(default)]
    kind: String,
}

pub async fn create(
    state: web::Data<AppState>,
    rules: web::Data<RouteRules>,
    user: CurrentUser,
    session: Session,
    form: web::Form<NewChannel>,
) -> Result<HttpResponse, AppError> {
    let form = form.into_inner();
    let (company_id, actor) = (user.auth.company_id, user.actor());
    let submitted = form.clone();
    let result = db(&state, move |conn| {
        write_transaction(conn, |conn| {
            channels::create(conn, company_id, &submitted.name, &submitted.kind, &actor)
        })
    })
    .await;
    match result {
        Ok(id) => {
            set_flash(
                &session,
                "The channel was created. Connect it with the inbound address and token below.",
            );
            Ok(see_other(&format!("/channels/{id}")))
        }
        Err(AppError::Fields(errors)) => {
            list_page(&state, &rules, &user, &session, Some((form, errors))).await
        }
        Err(other) => Err(other),
    }
}

#[derive(Template)]
#[template(path = "channels/show.html")]
struct ShowPage {
    layout: Layout,
    channel: Channel,
    kind_label: &'static str,
    members: Vec<(i64, String, String, String)>,
    /// Only for `channels.manage` holders.
    token: Option<String>,
    inbound_path: String,
    name: String,
    errors: FieldErrors,
}

async fn show_page(
    state: &AppState,
    rules: &RouteRules,
    user: &CurrentUser,
    session: &Session,
    channel_id: i64,
    submitted: Option<(String, FieldErrors)>,
) -> Result<HttpResponse, AppError> {
    let company_id = user.auth.company_id;
    let manage = user.can(Permission::ChannelsManage);
    let (channel, members, token) = db(state, move |conn| {
        let channel = channels::get(conn, company_id, channel_id)?;
        let members = channels::members_of(conn, channel.id)?;
        let token = if manage {
            Some(channels::webhook_token(conn, company_id, channel.id)?)
        } else {
            None
        };
        Ok((channel, members, token))
    })
    .await?;
    let layout = Layout::build(state, rules, user, session, &channel.name, "/channels").await?;
    let (name, errors) =
        submitted.unwrap_or_else(|| (channel.name.clone(), FieldErrors::default()));
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    render(
        status,
        &ShowPage {
            layout,
            kind_label: kind_label(&channel.kind),
            inbound_path: format!("/hooks/channels/{}/messages", channel.id),
            channel,
            members,
            token,
            name,
            errors,
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
    show_page(&state, &rules, &user, &session, path.into_inner(), None).await
}

#[derive(Deserialize)]
pub struct ChannelEdit {
    #[serde(default)]
    name: String,
    /// A checkbox: present when the channel stays enabled.
    active: Option<String>,
}

pub async fn update(
    state: web::Data<AppState>,
    rules: web::Data<RouteRules>,
    user: CurrentUser,
    session: Session,
    path: web::Path<i64>,
    form: web::Form<ChannelEdit>,
) -> Result<HttpResponse, AppError> {
    let channel_id = path.into_inner();
    let form = form.into_inner();
    let (company_id, actor) = (user.auth.company_id, user.actor());
    let (name, active) = (form.name.clone(), form.active.is_some());
    let result = db(&state, move |conn| {
        write_transaction(conn, |conn| {
            channels::update(conn, company_id, channel_id, &name, active, &actor)
        })
    })
    .await;
    match result {
        Ok(()) => {
            set_flash(&session, "The channel was saved.");
            Ok(see_other(&format!("/channels/{channel_id}")))
        }
        Err(AppError::Fields(errors)) => {
            show_page(
                &state,
                &rules,
                &user,
                &session,
                channel_id,
                Some((form.name, errors)),
            )
            .await
        }
        Err(other) => Err(other),
    }
}

pub async fn rotate_token(
    state: web::Data<AppState>,
    user: CurrentUser,
    session: Session,
    path: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let channel_id = path.into_inner();
    let (company_id, actor) = (user.auth.company_id, user.actor());
    db(&state, move |conn| {
        write_transaction(conn, |conn| {
            channels::rotate_token(conn, company_id, channel_id, &actor)
        })
    })
    .await?;
    set_flash(
        &session,
        "A new token was issued. The old one no longer works: update the channel's connection.",
    );
    Ok(see_other(&format!("/channels/{channel_id}")))
}

// ---- assignments ---------------------------------------------------------------------------

pub struct MatrixLine {
    user_id: i64,
    display_name: String,
    username: String,
    status: String,
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
            stranded: row.stranded,
        })
        .collect();
    (matrix.channels, lines)
}

pub async fn assignments(
    state: web::Data<AppState>,
    rules: web::Data<RouteRules>,
    user: CurrentUser,
    session: Session,
) -> Result<HttpResponse, AppError> {
    let company_id = user.auth.company_id;
    let matrix = db(&state, move |conn| assignments::matrix(conn, company_id)).await?;
    let layout = Layout::build(
        &state,
        &rules,
        &user,
        &session,
        "Assignments",
        "/assignments",
    )
    .await?;
    let (channels, lines) = lines(matrix);
    render(
        StatusCode::OK,
        &AssignmentsPage {
            csrf_token: layout.csrf_token.clone(),
            layout,
            channels,
            lines,
        },
    )
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
    #[serde(default)]
    user_id: String,
    #[serde(default)]
    channel_id: String,
    #[serde(default)]
    assigned: String,
}

pub async fn assign(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: CurrentUser,
    session: Session,
    form: web::Form<Toggle>,
) -> Result<HttpResponse, AppError> {
    let form = form.into_inner();
    let user_id = form.user_id.trim().parse::<i64>();
    let channel_id = form.channel_id.trim().parse::<i64>();
    let assigned = match form.assigned.as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(()),
    };
    let (Ok(user_id), Ok(channel_id), Ok(assigned)) = (user_id, channel_id, assigned) else {
        return Err(AppError::Invalid(
            "Send user_id, channel_id and assigned=true or false.".into(),
        ));
    };
    let (company_id, actor) = (user.auth.company_id, user.actor());
    let cell = db(&state, move |conn| {
        write_transaction(conn, |conn| {
            assignments::set(conn, company_id, user_id, channel_id, assigned, &actor)
        })
    })
    .await?;
    if req.headers().contains_key("hx-request") {
        return render(
            StatusCode::OK,
            &CellFragment {
                cell,
                csrf_token: user.auth.csrf_token.clone(),
            },
        );
    }
    let verb = if cell.member {
        "now works on"
    } else {
        "no longer works on"
    };
    set_flash(
        &session,
        &format!("{} {verb} {}.", cell.display_name, cell.channel_name),
    );
    Ok(see_other("/assignments"))
}

#[derive(Deserialize)]
pub struct Bulk {
    #[serde(default)]
    user_id: String,
    /// `all` or `none`.
    #[serde(default)]
    channels: String,
}

pub async fn assign_bulk(
    state: web::Data<AppState>,
    user: CurrentUser,
    session: Session,
    form: web::Form<Bulk>,
) -> Result<HttpResponse, AppError> {
    let form = form.into_inner();
    let Ok(user_id) = form.user_id.trim().parse::<i64>() else {
        return Err(AppError::Invalid("Send the user_id of a user.".into()));
    };
    let assigned = match form.channels.as_str() {
        "all" => true,
        "none" => false,
        _ => return Err(AppError::Invalid("channels is all or none.".into())),
    };
    let (company_id, actor) = (user.auth.company_id, user.actor());
    db(&state, move |conn| {
        write_transaction(conn, |conn| {
            assignments::set_all(conn, company_id, user_id, assigned, &actor)
        })
    })
    .await?;
    set_flash(
        &session,
        if assigned {
            "The user now works on every channel."
        } else {
            "The user was removed from every channel."
        },
    );
    Ok(see_other("/assignments"))
}
