//! Two-factor sign-in pages: one's own enrolment (`/account/two-factor`), a supervisor's reset
//! (`/users/{id}/two-factor/reset`) and the roles that require it (`/settings/two-factor`).
//! The code step of signing in is in `web::login`.

use actix_web::web::Path;
use askama::Template;
use serde::Deserialize;

use crate::core::ids::{RoleId, UserId};
use crate::domain::two_factor::{self, Status};
use crate::error::{FieldErrors, FieldsApart};
use crate::web::forms::lenient;
use crate::web::layout::Layout;
use crate::web::{Answer, Cx, Form, form_page, page};

#[derive(Template)]
#[template(path = "account/two_factor.html")]
struct TwoFactorPage {
    layout: Layout,
    status: Status,
    /// The role requires it and it is not on yet: nothing else opens until it is.
    required_now: bool,
    no_key: &'static str,
    errors: FieldErrors,
}

async fn two_factor_page(cx: &Cx, errors: FieldErrors) -> Answer {
    let key = cx.state.config.secret_key.clone();
    // the page may make the pending secret: a write, though nothing a session reads (so the
    // session cache stays as it is)
    let status = cx
        .write_outside_sessions(move |conn, me| two_factor::status(conn, me, key.as_ref()))
        .await?;
    let layout = cx.layout("Two-factor sign-in", "/account").await?;
    let page = TwoFactorPage {
        layout,
        status,
        required_now: cx.user.auth.two_factor_missing,
        no_key: two_factor::NO_KEY,
        errors,
    };
    form_page(&page.errors, &page)
}

/// `GET /account/two-factor`: on or off; to turn it on, the secret as a QR code and as text.
pub async fn show(cx: Cx) -> Answer {
    two_factor_page(&cx, FieldErrors::default()).await
}

#[derive(Default, Deserialize)]
#[serde(default)]
pub struct CodeForm {
    code: String,
}

#[derive(Template)]
#[template(path = "account/recovery_codes.html")]
struct RecoveryCodesPage {
    layout: Layout,
    codes: Vec<String>,
}

/// `POST /account/two-factor` (`code`): turns it on; shows the recovery codes, once.
pub async fn enrol(cx: Cx, Form(form): Form<CodeForm>) -> Answer {
    let key = cx.state.config.secret_key.clone();
    match cx
        .write(move |conn, me| two_factor::confirm(conn, me, key.as_ref(), &form.code))
        .await
        .fields_apart()?
    {
        Ok(codes) => page(&RecoveryCodesPage {
            layout: cx.layout("Recovery codes", "/account").await?,
            codes,
        }),
        Err(errors) => two_factor_page(&cx, errors).await,
    }
}

/// `POST /account/two-factor/disable` (`code`, or a recovery code): turns it off, unless the
/// role requires it.
pub async fn disable(cx: Cx, Form(form): Form<CodeForm>) -> Answer {
    let key = cx.state.config.secret_key.clone();
    match cx
        .write(move |conn, me| two_factor::disable(conn, me, key.as_ref(), &form.code))
        .await
        .fields_apart()?
    {
        Ok(()) => Ok(cx.done(
            "Two-factor sign-in is off. Your password alone signs you in again.",
            "/account/two-factor",
        )),
        Err(errors) => two_factor_page(&cx, errors).await,
    }
}

/// `POST /users/{id}/two-factor/reset` (`users.manage`): a lost phone; their sessions end.
pub async fn reset(cx: Cx, id: Path<UserId>) -> Answer {
    let id = id.into_inner();
    cx.write(move |conn, me| two_factor::reset(conn, me, id))
        .await?;
    Ok(cx.done(
        "Their second factor was reset and their sessions ended. They set it up again at their next sign-in if their role requires it.",
        format!("/users/{id}"),
    ))
}

#[derive(Default, Deserialize)]
#[serde(default)]
pub struct RequiredRolesForm {
    #[serde(deserialize_with = "lenient::ids")]
    role_ids: Vec<Option<RoleId>>,
}

/// `POST /settings/two-factor` (`settings.manage`, `role_ids` repeated): the roles whose
/// holders must sign in with a second factor.
pub async fn require_for_roles(cx: Cx, Form(form): Form<RequiredRolesForm>) -> Answer {
    let key_present = cx.state.config.secret_key.is_some();
    let changed = cx
        .write(move |conn, me| two_factor::require_for_roles(conn, me, key_present, &form.role_ids))
        .await?;
    Ok(cx.done(
        if changed {
            "Saved. Holders of these roles must set up two-factor sign-in before anything else."
        } else {
            "Nothing was changed."
        },
        "/settings#two-factor",
    ))
}
