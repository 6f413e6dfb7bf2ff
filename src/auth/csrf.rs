//! CSRF protection: a token per session (and one for the sign-in form, held in its own
//! cookie), sent back as the `csrf_token` form field or the `X-CSRF-Token` header; plus a
//! same-origin check on `Origin` / `Sec-Fetch-Site` as a second layer.

use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, SameSite};

use crate::core::secrets;

pub const FORM_FIELD: &str = "csrf_token";
pub const HEADER: &str = "x-csrf-token";

/// The cookie that carries the sign-in form's token (there is no session before sign-in).
pub fn login_cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-sb_login_csrf"
    } else {
        "sb_login_csrf"
    }
}

/// The sign-in form's token from its cookie, when it looks like one of ours.
pub fn login_token(req: &HttpRequest, secure: bool) -> Option<String> {
    req.cookie(login_cookie_name(secure))
        .map(|cookie| cookie.value().to_string())
        .filter(|value| value.len() == 43)
}

pub fn new_login_cookie(secure: bool) -> (String, Cookie<'static>) {
    let token = secrets::random_token();
    let cookie = Cookie::build(login_cookie_name(secure), token.clone())
        .path("/")
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Lax)
        .finish();
    (token, cookie)
}

/// Refuses a state-changing request that names another site as its origin.
pub fn same_origin(req: &HttpRequest) -> bool {
    if let Some(site) = req
        .headers()
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        && !matches!(site, "same-origin" | "none")
    {
        return false;
    }
    match req.headers().get("origin").and_then(|v| v.to_str().ok()) {
        None => true,
        Some(origin) => {
            let info = req.connection_info();
            origin == format!("{}://{}", info.scheme(), info.host())
        }
    }
}

/// Finds `csrf_token` in a urlencoded form body.
pub fn token_in_form(body: &[u8]) -> Option<String> {
    serde_html_form::from_bytes::<Vec<(String, String)>>(body)
        .ok()?
        .into_iter()
        .find(|(key, _)| key == FORM_FIELD)
        .map(|(_, value)| value)
}

pub fn matches(expected: &str, given: Option<&str>) -> bool {
    given.is_some_and(|given| !expected.is_empty() && secrets::constant_time_eq(expected, given))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn cross_site_requests_are_refused() {
        let req = TestRequest::post()
            .insert_header(("host", "panel.example"))
            .insert_header(("origin", "https://evil.example"))
            .to_http_request();
        assert!(!same_origin(&req));
        let req = TestRequest::post()
            .insert_header(("sec-fetch-site", "cross-site"))
            .to_http_request();
        assert!(!same_origin(&req));
        let req = TestRequest::post()
            .insert_header(("host", "panel.example"))
            .insert_header(("origin", "http://panel.example"))
            .insert_header(("sec-fetch-site", "same-origin"))
            .to_http_request();
        assert!(same_origin(&req));
    }

    #[test]
    fn form_tokens_are_found() {
        assert_eq!(
            token_in_form(b"a=1&csrf_token=abc%2Fd&b=2"),
            Some("abc/d".to_string())
        );
        assert_eq!(token_in_form(b"a=1"), None);
        assert!(!matches("abc", None));
        assert!(!matches("", Some("")));
        assert!(matches("abc", Some("abc")));
    }
}
