//! `GET/POST /login` and `POST /logout`.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use crate::access::CurrentUser;
use crate::auth::AppState;
use crate::auth::login::{
    CHALLENGE_MINUTES, CodeAttempt, Credentials, Failure, SignedIn, second_factor, sign_in,
};
use crate::auth::session_store::{LOGIN_KEY, LoginGrant, auth_from_state};
use crate::auth::{client, csrf};
use crate::domain::sessions::Ended;
use crate::error::AppError;
use crate::web::{Answer, Form, Query, Visitor, render, see_other};
use actix_web::cookie::time::Duration as CookieDuration;
use actix_web::cookie::{Cookie, SameSite};

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

/// A page of the sign-in forms, made by `make` with the form's CSRF token: the one in the
/// browser's cookie, or a new one set in a cookie with the answer.
fn with_form_token<T: Template>(
    req: &HttpRequest,
    state: &AppState,
    status: StatusCode,
    make: impl FnOnce(String) -> T,
) -> Answer {
    let secure = state.config.cookie_secure;
    let (token, new_cookie) = match csrf::login_token(req, secure) {
        Some(token) => (token, None),
        None => {
            let (token, cookie) = csrf::new_login_cookie(secure);
            (token, Some(cookie))
        }
    };
    let mut response = render(status, &make(token))?;
    if let Some(cookie) = new_cookie
        && let Err(err) = response.add_cookie(&cookie)
    {
        tracing::warn!(error = %err, "cannot set the sign-in form cookie");
    }
    Ok(response)
}

fn login_page(req: &HttpRequest, state: &AppState, status: StatusCode, page: LoginPage) -> Answer {
    with_form_token(req, state, status, |csrf_token| LoginPage {
        csrf_token,
        ..page
    })
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
        next: next.clone(),
    };
    let limit = state.config.ip_failure_limit;
    let outcome = sign_in(&state.pool, &state.passwords, credentials, limit).await?;
    match outcome {
        Err(Failure::Throttled { retry_after_secs }) => {
            Err(AppError::TooManyRequests { retry_after_secs })
        }
        Ok(SignedIn::Session(grant)) => start_session(&session, grant, &next),
        Ok(SignedIn::CodeRequired { token }) => {
            // the browser holds the challenge; no session exists until the code is right
            session.purge();
            let mut response = see_other("/login/two-factor");
            response
                .add_cookie(&challenge_cookie(state.config.cookie_secure, token))
                .map_err(|err| AppError::internal(format!("cannot set the challenge: {err}")))?;
            Ok(response)
        }
        Err(_) => login_page(
            &req,
            &state,
            StatusCode::UNAUTHORIZED,
            failure_page(form.company_code, form.username),
        ),
    }
}

/// A new token at every sign-in: whatever session the browser had is ended.
fn start_session(session: &Session, grant: LoginGrant, next: &str) -> Answer {
    session.renew();
    session.clear();
    session
        .insert(LOGIN_KEY, grant)
        .map_err(|err| AppError::internal(format!("cannot store the sign-in: {err}")))?;
    Ok(see_other(next))
}

/// The cookie that carries a two-factor challenge between the password and the code.
fn challenge_cookie_name(secure: bool) -> &'static str {
    if secure { "__Host-sb_2fa" } else { "sb_2fa" }
}

fn challenge_cookie(secure: bool, token: String) -> Cookie<'static> {
    Cookie::build(challenge_cookie_name(secure), token)
        .path("/")
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Strict)
        .max_age(CookieDuration::minutes(CHALLENGE_MINUTES))
        .finish()
}

fn challenge_token(req: &HttpRequest, secure: bool) -> Option<String> {
    req.cookie(challenge_cookie_name(secure))
        .map(|cookie| cookie.value().to_string())
        .filter(|value| value.len() == 43)
}

#[derive(Template)]
#[template(path = "login/two_factor.html")]
struct CodePage {
    csrf_token: String,
    error: Option<&'static str>,
}

fn code_page(
    req: &HttpRequest,
    state: &AppState,
    status: StatusCode,
    error: Option<&'static str>,
) -> Answer {
    with_form_token(req, state, status, |csrf_token| CodePage {
        csrf_token,
        error,
    })
}

/// `GET /login/two-factor`: the code, after a right password (else back to `/login`).
pub async fn code_form(visitor: Visitor) -> Answer {
    if challenge_token(&visitor.req, visitor.state.config.cookie_secure).is_none() {
        return Ok(see_other("/login"));
    }
    code_page(&visitor.req, &visitor.state, StatusCode::OK, None)
}

#[derive(Default, Deserialize)]
#[serde(default)]
pub struct CodeForm {
    code: String,
}

/// The only message a wrong code shows, whatever the reason (wrong, used, locked).
const CODE_FAILURE: &str = "That code did not work. Enter the 6-digit code your app shows now, or one of your recovery codes.";

/// `POST /login/two-factor` (`code`: from the app, or a recovery code).
pub async fn code_submit(visitor: Visitor, Form(form): Form<CodeForm>) -> Answer {
    let Visitor {
        req,
        state,
        session,
    } = visitor;
    let secure = state.config.cookie_secure;
    let Some(token) = challenge_token(&req, secure) else {
        return Ok(see_other("/login"));
    };
    if form.code.len() > 64 || !crate::core::text::storable(&form.code) {
        return code_page(&req, &state, StatusCode::UNAUTHORIZED, Some(CODE_FAILURE));
    }
    let ip = client::client_ip(&req, &state.config.trusted_proxies);
    let attempt = CodeAttempt {
        token,
        code: form.code,
        location: state.geoip.locate(&ip),
        ip,
        user_agent: client::user_agent(&req),
    };
    let limit = state.config.ip_failure_limit;
    let key = state.config.secret_key.clone();
    match second_factor(&state.pool, key, attempt, limit).await? {
        Ok((grant, next)) => {
            let mut response = start_session(&session, grant, &safe_next(Some(&next)))?;
            let mut gone = challenge_cookie(secure, String::new());
            gone.make_removal();
            response
                .add_cookie(&gone)
                .map_err(|err| AppError::internal(format!("cannot clear the challenge: {err}")))?;
            Ok(response)
        }
        Err(Failure::Throttled { retry_after_secs }) => {
            Err(AppError::TooManyRequests { retry_after_secs })
        }
        Err(Failure::NoChallenge) => Ok(see_other("/login")),
        Err(_) => code_page(&req, &state, StatusCode::UNAUTHORIZED, Some(CODE_FAILURE)),
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
