//! `GET/POST /login` and `POST /logout`.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use crate::access::CurrentUser;
use crate::auth::AppState;
use crate::auth::login::{Credentials, Failure, sign_in};
use crate::auth::session_store::{LOGIN_KEY, auth_from_state};
use crate::auth::{client, csrf};
use crate::domain::sessions::Ended;
use crate::error::AppError;
use crate::web::{Answer, Form, Query, Visitor, render, see_other};

#[derive(Template)]
#[template(path = "login/index.html")]
struct LoginPage {
    csrf_token: String,
    next: String,
    company_code: String,
    username: String,
    error: Option<&'static str>,
    /// Why the last session ended, when the redirect said (`reason=`): only known messages.
    notice: Option<&'static str>,
}

/// The only message a failed sign-in ever shows, whatever the reason.
const GENERIC_FAILURE: &str =
    "Those details did not match an active account. Check the company code, username and password.";

/// Keeps `next` only when it is a path on this site (no scheme, no `//host`, no backslash).
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.contains('\\')
                && !path.chars().any(char::is_control)
                && !is_sign_in_page(path) =>
        {
            path.to_string()
        }
        _ => "/".to_string(),
    }
}

/// `/login` itself (with or without a query or fragment) would loop back to this form;
/// `/logins` and other paths that merely start alike are pages like any other.
fn is_sign_in_page(path: &str) -> bool {
    let path = path.split(['?', '#']).next().unwrap_or(path);
    path.trim_end_matches('/') == "/login"
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
    reason: Option<String>,
}

fn login_page(
    req: &HttpRequest,
    state: &AppState,
    status: StatusCode,
    mut page: LoginPage,
) -> Answer {
    let secure = state.config.cookie_secure;
    let (token, new_cookie) = match csrf::login_token(req, secure) {
        Some(token) => (token, None),
        None => {
            let (token, cookie) = csrf::new_login_cookie(secure);
            (token, Some(cookie))
        }
    };
    page.csrf_token = token;
    let mut response = render(status, &page)?;
    if let Some(cookie) = new_cookie
        && let Err(err) = response.add_cookie(&cookie)
    {
        tracing::warn!(error = %err, "cannot set the sign-in form cookie");
    }
    Ok(response)
}

pub async fn form(visitor: Visitor, Query(query): Query<NextQuery>) -> Answer {
    let next = safe_next(query.next.as_deref());
    if auth_from_state(&visitor.session).is_some() {
        return Ok(see_other(&next));
    }
    login_page(
        &visitor.req,
        &visitor.state,
        StatusCode::OK,
        LoginPage {
            csrf_token: String::new(),
            next,
            company_code: String::new(),
            username: String::new(),
            error: None,
            notice: query
                .reason
                .as_deref()
                .and_then(Ended::from_code)
                .map(Ended::message),
        },
    )
}

#[derive(Default, Deserialize)]
#[serde(default)]
pub struct LoginForm {
    company_code: String,
    username: String,
    password: String,
    next: Option<String>,
}

pub async fn submit(visitor: Visitor, Form(form): Form<LoginForm>) -> Answer {
    let Visitor {
        req,
        state,
        session,
    } = visitor;
    let next = safe_next(form.next.as_deref());
    let failure_page = |company_code: String, username: String| LoginPage {
        csrf_token: String::new(),
        next: next.clone(),
        company_code,
        username,
        error: Some(GENERIC_FAILURE),
        notice: None,
    };
    // Absurd input is a failure like any other (and never reaches argon2).
    let storable = [&form.company_code, &form.username, &form.password]
        .iter()
        .all(|field| crate::core::text::storable(field));
    if form.company_code.len() > 64
        || form.username.len() > 64
        || form.password.len() > 1024
        || !storable
    {
        return login_page(
            &req,
            &state,
            StatusCode::UNAUTHORIZED,
            failure_page(String::new(), String::new()),
        );
    }
    let ip = client::client_ip(&req, &state.config.trusted_proxies);
    let credentials = Credentials {
        company_code: form.company_code.clone(),
        username: form.username.clone(),
        password: form.password,
        location: state.geoip.locate(&ip),
        ip,
        user_agent: client::user_agent(&req),
    };
    let limit = state.config.ip_failure_limit;
    let outcome = sign_in(&state.pool, &state.passwords, credentials, limit).await?;
    match outcome {
        Err(Failure::Throttled { retry_after_secs }) => {
            Err(AppError::TooManyRequests { retry_after_secs })
        }
        Ok(grant) => {
            // A new token at every sign-in: whatever session the browser had is ended.
            session.renew();
            session.clear();
            session
                .insert(LOGIN_KEY, grant)
                .map_err(|err| AppError::internal(format!("cannot store the sign-in: {err}")))?;
            Ok(see_other(&next))
        }
        Err(_) => login_page(
            &req,
            &state,
            StatusCode::UNAUTHORIZED,
            failure_page(form.company_code, form.username),
        ),
    }
}

pub async fn logout(_user: CurrentUser, session: Session) -> HttpResponse {
    session.purge();
    see_other("/login")
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_is_local_only() {
        assert_eq!(safe_next(Some("/users?q=a")), "/users?q=a");
        assert_eq!(safe_next(Some("https://evil.example/")), "/");
        assert_eq!(safe_next(Some("//evil.example/")), "/");
        assert_eq!(safe_next(Some("/\\evil.example")), "/");
        assert_eq!(safe_next(Some("/login")), "/");
        assert_eq!(safe_next(Some("/login?next=/users")), "/");
        assert_eq!(safe_next(Some("/login/")), "/");
        assert_eq!(safe_next(None), "/");
        // pages that merely start like the sign-in page are kept
        assert_eq!(safe_next(Some("/logins")), "/logins");
        assert_eq!(safe_next(Some("/logins?user=ali")), "/logins?user=ali");
    }
}
