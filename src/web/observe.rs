//! What every request leaves for operators: a request id (the `X-Request-Id` header, the error
//! page, the log line), one log event with the route pattern, status, latency, user and
//! company (never a password, token or contact detail), and the request metrics.

use std::time::Instant;

use actix_web::HttpMessage;
use actix_web::body::BoxBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::error::InternalError;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;

use crate::access::CurrentUser;
use crate::error::REQUEST_ID;

const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The outermost middleware. An error that escapes the inner services is rendered here,
/// inside the request's scope, so its page carries the request id too.
pub async fn observe(
    req: ServiceRequest,
    next: Next<BoxBody>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let id = crate::core::secrets::random_hex(8);
    let started = Instant::now();
    let method = req.method().to_string();
    let route = req
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_string());
    let header = HeaderValue::from_str(&id).ok();
    let page_header = header.clone();
    let answered = REQUEST_ID
        .scope(id.clone(), async move {
            next.call(req).await.map_err(|err| {
                let mut page = err.error_response();
                if let Some(value) = page_header {
                    page.headers_mut().insert(REQUEST_ID_HEADER, value);
                }
                (err, page)
            })
        })
        .await;
    let mut response = match answered {
        Ok(response) => response,
        Err((err, page)) => {
            record(&id, &method, &route, page.status().as_u16(), started, None);
            return Err(InternalError::from_response(err, page).into());
        }
    };
    if let Some(value) = header {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    let user = response
        .request()
        .extensions()
        .get::<CurrentUser>()
        .map(|user| (user.auth.user_id.0, user.auth.company_id.0));
    record(
        &id,
        &method,
        &route,
        response.status().as_u16(),
        started,
        user,
    );
    Ok(response)
}

/// The metrics and the log line of one answered request.
fn record(
    id: &str,
    method: &str,
    route: &str,
    status: u16,
    started: Instant,
    user: Option<(i64, i64)>,
) {
    let latency = started.elapsed();
    metrics::counter!(
        "switchboard_http_requests_total",
        "route" => route.to_string(),
        "method" => method.to_string(),
        "status" => status.to_string(),
    )
    .increment(1);
    metrics::histogram!("switchboard_http_request_duration_seconds", "route" => route.to_string())
        .record(latency.as_secs_f64());
    // probes and assets would drown the log
    if route != "/healthz" && route != "/readyz" && !route.starts_with("/static") {
        let (user_id, company_id) = (user.map(|u| u.0), user.map(|u| u.1));
        tracing::info!(
            request_id = %id,
            method = %method,
            route = %route,
            status,
            latency_ms = latency.as_secs_f64() * 1000.0,
            user_id,
            company_id,
            "request"
        );
    }
}
