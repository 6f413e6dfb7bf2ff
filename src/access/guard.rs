//! The route guard: resolves the matched route to its declared rule and refuses before the
//! handler runs. Deny by default: a matched route without a rule is refused.
//!
//! Order of checks: rule known → database reachable → signed in → same origin and CSRF token
//! (every non-GET) → password change pending → two-factor enrolment pending → permission.

use actix_session::SessionExt;
use actix_web::body::BoxBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::{Method, StatusCode, header};
use actix_web::middleware::Next;
use actix_web::web::{self, Bytes, BytesMut};
use actix_web::{HttpMessage, ResponseError};
use futures_util::StreamExt;

use crate::access::{CurrentUser, RouteRules, Rule};
use crate::auth::AppState;
use crate::auth::session_store::{ENDED_KEY, UNAVAILABLE_KEY, auth_from_state};
use crate::auth::{client, csrf};
use crate::db;
use crate::domain::sessions::SessionAuth;
use crate::domain::{Actor, audit, roles, sessions};
use crate::error::AppError;

/// Forms are small; anything larger is not a form of ours.
pub const FORM_LIMIT: usize = 256 * 1024;

/// Why a form's body was not read.
#[derive(Debug, PartialEq, Eq)]
pub enum UnreadForm {
    TooLarge,
    Broken,
}

impl From<UnreadForm> for AppError {
    fn from(unread: UnreadForm) -> Self {
        match unread {
            UnreadForm::TooLarge => AppError::TooLarge,
            UnreadForm::Broken => AppError::Invalid("The form could not be read.".into()),
        }
    }
}

/// A form's body, read up to [`FORM_LIMIT`] and no further: the one reader of the guard (for
/// the token) and of the handlers' form extractor, so both hold the same limit.
pub async fn read_form_body(mut payload: Payload) -> Result<Bytes, UnreadForm> {
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| UnreadForm::Broken)?;
        if body.len() + chunk.len() > FORM_LIMIT {
            return Err(UnreadForm::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// Routes a user who must change their password may still use (public routes, the
/// stylesheet among them, never reach this check).
pub fn allowed_before_password_change(pattern: &str) -> bool {
    pattern.starts_with("/account") || pattern == "/logout"
}

/// Routes a user whose role requires two-factor sign-in may use before enrolling.
pub fn allowed_before_two_factor(pattern: &str) -> bool {
    pattern.starts_with("/account/two-factor") || pattern == "/logout"
}

fn refuse(req: ServiceRequest, err: AppError) -> ServiceResponse<BoxBody> {
    let response = err.error_response();
    req.into_response(response)
}

pub async fn guard(
    mut req: ServiceRequest,
    next: Next<BoxBody>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let (Some(state), Some(rules)) = (
        req.app_data::<web::Data<AppState>>().cloned(),
        req.app_data::<web::Data<RouteRules>>().cloned(),
    ) else {
        return Ok(refuse(req, AppError::internal("guard without state")));
    };

    // Unmatched paths fall through to the 404 page.
    let Some(pattern) = req.resource_map().match_pattern(req.path()) else {
        return next.call(req).await;
    };
    let method = req.method().clone();
    let Some(rule) = rules.rule(&method, &pattern) else {
        if rules.knows_pattern(&pattern) {
            return Ok(refuse(req, AppError::NotFound));
        }
        tracing::error!(%method, %pattern, "route has no declared access rule; refused");
        return Ok(refuse(req, AppError::Forbidden));
    };
    let changes_state = !matches!(method, Method::GET | Method::HEAD | Method::OPTIONS);

    if rule == Rule::Webhook {
        return next.call(req).await;
    }

    let session = req.get_session();
    if session.contains_key(UNAVAILABLE_KEY) && rule.needs_session() {
        return Ok(refuse(
            req,
            AppError::unavailable("the session store cannot be read"),
        ));
    }

    let auth = auth_from_state(&session);

    if changes_state && !csrf::same_origin(req.request()) {
        if let Some(auth) = &auth {
            log_csrf_refusal(&state, auth, &req).await;
        }
        return Ok(refuse(req, AppError::CsrfRejected));
    }

    if rule == Rule::Public {
        if changes_state {
            let expected = csrf::login_token(req.request(), state.config.cookie_secure);
            let given = match submitted_token(&mut req).await {
                Ok(given) => given,
                Err(unread) => return Ok(refuse(req, unread.into())),
            };
            if !csrf::matches(expected.as_deref().unwrap_or(""), given.as_deref()) {
                return Ok(refuse(req, AppError::CsrfRejected));
            }
        }
        return next.call(req).await;
    }

    let Some(auth) = auth else {
        let htmx = client::is_htmx(req.request());
        // a cookie of a session that was ended: say why on the sign-in page, drop the cookie
        let reason = session
            .get::<String>(ENDED_KEY)
            .ok()
            .flatten()
            .and_then(|code| sessions::Ended::from_code(&code))
            .map(sessions::Ended::code);
        if reason.is_some() {
            session.purge();
        }
        let next_path = if method == Method::GET {
            match req.query_string() {
                "" => req.path().to_string(),
                query => format!("{}?{query}", req.path()),
            }
        } else {
            "/".to_string()
        };
        return Ok(refuse(
            req,
            AppError::SignInRequired {
                next: next_path,
                htmx,
                reason,
            },
        ));
    };

    let ip = client::client_ip(req.request(), &state.config.trusted_proxies);
    let user_agent = client::user_agent(req.request());

    // A session that moves to another address or browser was most likely stolen: end it.
    if auth.end_on_client_change && (ip != auth.ip || user_agent != auth.user_agent) {
        let what = if ip != auth.ip {
            "client address"
        } else {
            "browser"
        };
        let actor = Actor {
            user_id: None,
            username: "system".into(),
            ip: ip.clone(),
        };
        let (company_id, session_id, user_id) = (auth.company_id, auth.session_id, auth.user_id);
        let ended = db::write(&state.pool, move |conn| {
            sessions::end_suspicious(conn, company_id, session_id, user_id, &actor, what)
        })
        .await;
        if let Err(err) = ended {
            return Ok(refuse(req, err));
        }
        session.purge();
        let htmx = client::is_htmx(req.request());
        return Ok(refuse(
            req,
            AppError::SignInRequired {
                next: "/".into(),
                htmx,
                reason: Some(sessions::Ended::ForSafety.code()),
            },
        ));
    }

    if changes_state {
        let given = match submitted_token(&mut req).await {
            Ok(given) => given,
            Err(unread) => return Ok(refuse(req, unread.into())),
        };
        if !csrf::matches(&auth.csrf_token, given.as_deref()) {
            log_csrf_refusal(&state, &auth, &req).await;
            return Ok(refuse(req, AppError::CsrfRejected));
        }
    }

    if (auth.must_change_password || auth.password_expired)
        && !allowed_before_password_change(&pattern)
    {
        let response = actix_web::HttpResponse::SeeOther()
            .insert_header((header::LOCATION, "/account"))
            .finish();
        return Ok(req.into_response(response));
    }

    // a role that requires two-factor sign-in: enrol before anything else
    if auth.two_factor_missing && !allowed_before_two_factor(&pattern) {
        let response = actix_web::HttpResponse::SeeOther()
            .insert_header((header::LOCATION, "/account/two-factor"))
            .finish();
        return Ok(req.into_response(response));
    }

    let permissions = match state.permission_cache.get(auth.role_id, auth.role_version) {
        Some(set) => set,
        None => {
            let role_id = auth.role_id;
            let loaded = db::run(&state.pool, move |conn| {
                roles::permissions_of(conn, role_id)
            })
            .await;
            match loaded {
                Ok(set) => {
                    state
                        .permission_cache
                        .put(auth.role_id, auth.role_version, set);
                    set
                }
                Err(err) => return Ok(refuse(req, err)),
            }
        }
    };

    if !rule.allows(permissions) {
        // who was refused stays on the request: their refusal page keeps their navigation
        req.extensions_mut().insert(CurrentUser {
            ip: ip.clone(),
            user_agent: user_agent.clone(),
            auth: auth.clone(),
            permissions,
        });
        // Probing shows up in the activity log.
        let actor = Actor {
            user_id: Some(auth.user_id),
            username: auth.username.clone(),
            ip: ip.clone(),
        };
        let (company_id, attempted) = (auth.company_id, format!("{method} {}", req.path()));
        let recorded = db::run_write(&state.pool, move |conn| {
            audit::refusal(conn, company_id, &actor, &attempted)
        })
        .await;
        if let Err(err) = recorded {
            tracing::error!(error = %err, "cannot record a refused request");
        }
        return Ok(refuse(req, AppError::Forbidden));
    }

    let zone = auth.time_zone.clone();
    let current = CurrentUser {
        ip,
        user_agent,
        auth,
        permissions,
    };
    req.extensions_mut().insert(current);
    crate::access::in_viewer_zone(&zone, next.call(req)).await
}

/// A signed-in person's refused form goes to the activity log like any other refusal (counted
/// per window, so a flood is one record and a summary).
async fn log_csrf_refusal(state: &AppState, auth: &SessionAuth, req: &ServiceRequest) {
    let actor = Actor {
        user_id: Some(auth.user_id),
        username: auth.username.clone(),
        ip: client::client_ip(req.request(), &state.config.trusted_proxies),
    };
    let (company_id, attempted) = (auth.company_id, format!("{} {}", req.method(), req.path()));
    let recorded = db::run_write(&state.pool, move |conn| {
        audit::csrf_refusal(conn, company_id, &actor, &attempted)
    })
    .await;
    if let Err(err) = recorded {
        tracing::error!(error = %err, "cannot record a refused form");
    }
}

/// The CSRF token of a request: the `X-CSRF-Token` header, else the `csrf_token` field of a
/// urlencoded body (read here and put back for the handler). A body that cannot be read (over
/// the form limit, or cut off) is that error, not a missing token: it says nothing of the
/// request's origin, so it is answered for what it is and not recorded as a refused form.
async fn submitted_token(req: &mut ServiceRequest) -> Result<Option<String>, UnreadForm> {
    if let Some(value) = req
        .headers()
        .get(csrf::HEADER)
        .and_then(|v| v.to_str().ok())
    {
        return Ok(Some(value.to_string()));
    }
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Ok(None);
    }
    let body = read_form_body(req.take_payload()).await?;
    let token = csrf::token_in_form(&body);
    req.set_payload(Payload::from(body));
    Ok(token)
}

/// The last line of "never a 500": an error that escaped every handler (the session
/// middleware's own, when the database fails mid-request) becomes the 503 page.
pub async fn unavailable_instead_of_500(
    req: ServiceRequest,
    next: Next<BoxBody>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let response = match next.call(req).await {
        Ok(response) => response,
        Err(err) => {
            tracing::error!(error = %err, "request failed");
            return Err(AppError::unavailable(format!("request failed: {err}")).into());
        }
    };
    if response.status() == StatusCode::INTERNAL_SERVER_ERROR {
        tracing::error!(path = %response.request().path(), "an internal error was answered as 503");
        let request = response.request().clone();
        return Ok(ServiceResponse::new(
            request,
            AppError::unavailable("an internal error was answered").error_response(),
        ));
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pending_password_change_leaves_only_the_account_and_sign_out() {
        for open in [
            "/account",
            "/account/password",
            "/account/two-factor",
            "/logout",
        ] {
            assert!(allowed_before_password_change(open), "{open}");
        }
        for closed in ["/", "/conversations", "/users", "/logout/all", "/sessions"] {
            assert!(!allowed_before_password_change(closed), "{closed}");
        }
    }

    #[test]
    fn a_pending_enrolment_leaves_only_enrolment_and_sign_out() {
        for open in [
            "/account/two-factor",
            "/account/two-factor/disable",
            "/logout",
        ] {
            assert!(allowed_before_two_factor(open), "{open}");
        }
        for closed in [
            "/account",
            "/account/password",
            "/conversations",
            "/logouts",
        ] {
            assert!(!allowed_before_two_factor(closed), "{closed}");
        }
    }
}
