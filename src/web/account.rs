//! `/account`: the signed-in user's own profile, password and sessions.

use actix_web::web::Path;
use askama::Template;
use serde::Deserialize;

use crate::auth::client::describe_user_agent;
use crate::core::ids::SessionId;
use crate::core::status::Availability;
use crate::domain::users::PasswordChange;
use crate::domain::{routing, sessions, users};
use crate::error::{AppError, FieldErrors, FieldsApart};
use crate::web::layout::Layout;
use crate::web::{Answer, Cx, Form, form_page, format_recent, format_time, page, see_other};

#[derive(Template)]
#[template(path = "account/index.html")]
struct AccountPage {
    layout: Layout,
    email: String,
    must_change: bool,
    expired: bool,
    time_zone: String,
    zones: &'static [chrono_tz::Tz],
    availability: Availability,
    errors: FieldErrors,
}

async fn account_page(cx: &Cx, errors: FieldErrors) -> Answer {
    let (layout, me) = cx
        .read_page("My account", "/account", |conn, me| {
            users::get(conn, me.company_id, me.user_id())
        })
        .await?;
    let page = AccountPage {
        layout,
        email: me.email.unwrap_or_default(),
        must_change: cx.user.auth.must_change_password,
        expired: cx.user.auth.password_expired,
        time_zone: me.time_zone,
        zones: &chrono_tz::TZ_VARIANTS,
        availability: me.availability,
        errors,
    };
    form_page(&page.errors, &page)
}

pub async fn show(cx: Cx) -> Answer {
    account_page(&cx, FieldErrors::default()).await
}

#[derive(Default, Deserialize)]
#[serde(default)]
pub struct PasswordForm {
    current_password: String,
    new_password: String,
    confirm_password: String,
}

pub async fn change_password(cx: Cx, Form(form): Form<PasswordForm>) -> Answer {
    let keep = cx.user.auth.session_id;
    let forced = cx.user.auth.must_change_password || cx.user.auth.password_expired;
    let change = PasswordChange {
        current: form.current_password,
        new: form.new_password,
        confirm: form.confirm_password,
    };
    // checks first, then the domain opens its own write transaction
    match cx
        .read(move |conn, me| users::change_own_password(conn, me, keep, &change))
        .await
        .fields_apart()?
    {
        // a change the panel asked for leads back to work; a change of one's own accord stays
        Ok(()) => Ok(cx.done(
            "Your password was changed. Your other sessions were ended.",
            if forced { "/" } else { "/account" },
        )),
        Err(errors) => account_page(&cx, errors).await,
    }
}

#[derive(Default, Deserialize)]
#[serde(default)]
pub struct TimeZoneForm {
    time_zone: String,
}

pub async fn set_time_zone(cx: Cx, Form(form): Form<TimeZoneForm>) -> Answer {
    match cx
        .write(move |conn, me| users::set_own_time_zone(conn, me, &form.time_zone))
        .await
        .fields_apart()?
    {
        Ok(()) => Ok(cx.done(
            "Your time zone was saved: pages show times in it, and reports count days in it.",
            "/account",
        )),
        Err(errors) => account_page(&cx, errors).await,
    }
}

#[derive(Default, Deserialize)]
#[serde(default)]
pub struct AvailabilityForm {
    status: String,
}

pub async fn set_availability(cx: Cx, Form(form): Form<AvailabilityForm>) -> Answer {
    match cx
        .write(move |conn, me| routing::set_own_availability(conn, me, &form.status))
        .await
        .fields_apart()?
    {
        Ok(now) => Ok(cx.done(
            match now {
                Availability::Online => "You are online: new chats come to you.",
                Availability::Away => {
                    "You are away: no new chats come to you; your open ones stay yours."
                }
                Availability::Offline => "You are offline: no new chats come to you.",
            },
            "/account",
        )),
        Err(errors) => account_page(&cx, errors).await,
    }
}

pub struct SessionItem {
    id: SessionId,
    current: bool,
    ip: String,
    device: String,
    created_at: String,
    last_seen_at: String,
}

#[derive(Template)]
#[template(path = "account/sessions.html")]
struct SessionsPage {
    layout: Layout,
    sessions: Vec<SessionItem>,
}

pub async fn sessions(cx: Cx) -> Answer {
    let current = cx.user.auth.session_id;
    let (layout, rows) = cx
        .read_page("My sessions", "/account", |conn, me| {
            sessions::list_live_for_user(conn, me.user_id())
        })
        .await?;
    page(&SessionsPage {
        layout,
        sessions: rows
            .into_iter()
            .map(|row| SessionItem {
                id: row.id,
                current: row.id == current,
                ip: row.ip,
                device: describe_user_agent(&row.user_agent),
                created_at: format_time(&row.created_at),
                last_seen_at: format_recent(&row.last_seen_at, cx.now()),
            })
            .collect(),
    })
}

pub async fn revoke_session(cx: Cx, id: Path<SessionId>) -> Answer {
    let session_id = id.into_inner();
    let ended = cx
        .write(move |conn, me| {
            sessions::end_own(conn, me.company_id, me.user_id(), session_id, &me.actor)
        })
        .await?;
    if !ended {
        return Err(AppError::NotFound);
    }
    if session_id == cx.user.auth.session_id {
        cx.session.purge();
        return Ok(see_other("/login"));
    }
    Ok(cx.done("The session was ended.", "/account/sessions"))
}

/// Who this browser is signed in as now, and the session's form token (`GET /account/live`,
/// passive: asking never keeps an idle session alive). A tab that was opened before its
/// person signed in again in another tab holds the old session's token; `static/app.js` asks
/// here when the tab is shown again and, if it is still the same person, puts the new token in
/// the page's forms, so what was typed is not refused. Another site cannot read the answer
/// (same-origin policy), and no database is read: it is the guard's session.
pub async fn live(cx: Cx) -> Answer {
    let auth = &cx.user.auth;
    Ok(actix_web::HttpResponse::Ok().json(serde_json::json!({
        "user": who(&auth.company_code, &auth.username),
        "csrf_token": auth.csrf_token,
    })))
}

/// How a page names its person, for `live`: the company code and the username.
pub fn who(company_code: &str, username: &str) -> String {
    format!("{company_code}/{username}")
}
