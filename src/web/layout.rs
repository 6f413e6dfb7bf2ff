//! What every signed-in page shares: header, navigation, CSRF token, flash message.

use actix_session::Session;
use actix_web::HttpResponse;
use actix_web::http::Method;

use crate::access::{CurrentUser, RouteRules, Rule};
use crate::db::DbConnection;
use crate::domain::{Caller, conversations};
use crate::error::AppError;
use crate::web::Cx;

/// The product's pages in navigation order. An entry shows only when its route is registered
/// and the user passes the route's own rule, so the navigation and the guard cannot disagree.
pub const NAV: [(&str, &str); 18] = [
    ("/conversations", "Conversations"),
    ("/calls", "Calls"),
    ("/users", "Users"),
    ("/roles", "Roles"),
    ("/teams", "Teams"),
    ("/channels", "Channels"),
    ("/assignments", "Assignments"),
    ("/reports", "Reports"),
    ("/templates", "Templates"),
    ("/broadcasts", "Broadcasts"),
    ("/activity", "Activity"),
    ("/logins", "Login history"),
    ("/sessions", "Sessions"),
    ("/access-reviews", "Access reviews"),
    ("/privacy", "Privacy"),
    ("/settings", "Settings"),
    ("/notifications", "Notifications"),
    ("/account", "My account"),
];

pub struct NavItem {
    pub href: &'static str,
    pub label: &'static str,
    pub active: bool,
    pub badge: Option<i64>,
}

pub struct Layout {
    pub title: String,
    pub company_name: String,
    pub company_code: String,
    pub display_name: String,
    pub username: String,
    pub role_name: String,
    pub csrf_token: String,
    pub nav: Vec<NavItem>,
    pub flash: Option<String>,
}

/// True when the user may open `path` with GET, by the route's declared rule.
pub fn may_open(rules: &RouteRules, user: &CurrentUser, path: &str) -> bool {
    match rules.rule(&Method::GET, path) {
        Some(Rule::Webhook) | None => false,
        Some(rule) => rule.allows(user.permissions),
    }
}

pub fn set_flash(session: &Session, message: &str) {
    if let Err(err) = session.insert("flash", message) {
        tracing::warn!(error = %err, "cannot store flash message");
    }
}

pub use crate::domain::conversations::NavCounts;

impl Layout {
    /// The navigation's counters for the viewer (two indexed counts).
    pub fn nav_counts(
        conn: &mut DbConnection,
        me: &Caller,
        counts_open: bool,
    ) -> Result<NavCounts, AppError> {
        if counts_open {
            let (open, unread) = conversations::open_assigned_and_unread(conn, &me.viewer)?;
            return Ok(NavCounts {
                open: Some(open),
                unread: Some(unread),
            });
        }
        Ok(NavCounts {
            open: None,
            unread: Some(crate::domain::notifications::unread(conn, me.user_id())?),
        })
    }

    /// Whether the navigation shows the badge of open conversations (and so needs the count).
    pub fn counts_open(cx: &Cx) -> bool {
        may_open(&cx.rules, &cx.user, "/conversations")
    }

    /// The counters as the navigation shows them (`None`: no badge), so that a live page's
    /// first fingerprint matches what it shows.
    pub fn shown_counts(&self) -> NavCounts {
        let shown = |href: &str| {
            self.nav
                .iter()
                .find(|item| item.href == href)
                .and_then(|item| item.badge)
        };
        NavCounts {
            open: shown("/conversations"),
            unread: shown("/notifications"),
        }
    }

    pub fn build(cx: &Cx, title: &str, active: &str, counts: NavCounts) -> Self {
        Self::for_user(&cx.rules, &cx.user, &cx.session, title, active, counts)
    }

    /// The layout from its parts, for answers made outside a handler (error pages).
    pub fn for_user(
        rules: &RouteRules,
        user: &CurrentUser,
        session: &Session,
        title: &str,
        active: &str,
        counts: NavCounts,
    ) -> Self {
        // before a required password change only the account page opens: the navigation says so
        let must_change = user.auth.must_change_password || user.auth.password_expired;
        let nav = NAV
            .iter()
            .filter(|(href, _)| may_open(rules, user, href))
            .filter(|(href, _)| {
                !must_change || crate::access::guard::allowed_before_password_change(href)
            })
            .filter(|(href, _)| {
                !user.auth.two_factor_missing
                    || crate::access::guard::allowed_before_two_factor(href)
            })
            .map(|(href, label)| NavItem {
                href,
                label,
                active: *href == active,
                badge: match *href {
                    "/conversations" => counts.open.filter(|n| *n > 0),
                    "/notifications" => counts.unread.filter(|n| *n > 0),
                    _ => None,
                },
            })
            .collect();
        // removing marks the session changed, and a changed session is saved: only a flash
        // that is there is taken, so that showing a page writes nothing
        let flash = session
            .contains_key("flash")
            .then(|| session.remove_as::<String>("flash"))
            .flatten()
            .and_then(Result::ok);
        Self {
            title: title.to_string(),
            company_name: user.auth.company_name.clone(),
            company_code: user.auth.company_code.clone(),
            display_name: user.auth.display_name.clone(),
            username: user.auth.username.clone(),
            role_name: user.auth.role_name.clone(),
            csrf_token: user.auth.csrf_token.clone(),
            nav,
            flash,
        }
    }
}

#[derive(askama::Template)]
#[template(path = "error_in_layout.html")]
struct ErrorInLayout<'a> {
    layout: Layout,
    status: u16,
    title: &'a str,
    message: &'a str,
    back: String,
    request_id: Option<String>,
}

/// Where "Back" goes from an error page: the page the person came from, when it is one of
/// ours, else the start.
fn back_link(request: &actix_web::HttpRequest) -> String {
    let came_from = request
        .headers()
        .get(actix_web::http::header::REFERER)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<actix_web::http::Uri>().ok())
        .filter(|uri| uri.authority().map(|a| a.as_str()) == Some(request.connection_info().host()))
        .and_then(|uri| uri.path_and_query().map(|p| p.as_str().to_string()))
        .filter(|path| path.starts_with('/') && !path.starts_with("//"));
    came_from
        .filter(|path| path != request.uri().path())
        .unwrap_or_else(|| "/".to_string())
}

/// An error page answered to someone signed in keeps their navigation and a way back; the bare
/// card stays for visitors, for fragments and for answers made before anyone is known.
pub async fn errors_keep_navigation(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<actix_web::body::BoxBody>,
) -> Result<actix_web::dev::ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    use actix_session::SessionExt;
    use actix_web::HttpMessage;
    use askama::Template;
    let res = next.call(req).await?;
    let Some(shown) = res
        .response()
        .extensions()
        .get::<crate::error::ShownError>()
        .cloned()
    else {
        return Ok(res);
    };
    let request = res.request();
    let user = request.extensions().get::<CurrentUser>().cloned();
    let rules = request
        .app_data::<actix_web::web::Data<RouteRules>>()
        .cloned();
    let (Some(user), Some(rules)) = (user, rules) else {
        return Ok(res);
    };
    if crate::web::is_htmx(request) {
        return Ok(res);
    }
    let session = request.get_session();
    let page = ErrorInLayout {
        layout: Layout::for_user(
            &rules,
            &user,
            &session,
            shown.title,
            "",
            NavCounts::default(),
        ),
        status: res.status().as_u16(),
        title: shown.title,
        message: &shown.message,
        back: back_link(request),
        request_id: crate::error::current_request_id(),
    };
    let Ok(body) = page.render() else {
        return Ok(res);
    };
    let (request, old) = res.into_parts();
    let mut answer = HttpResponse::build(old.status())
        .content_type("text/html; charset=utf-8")
        .body(body);
    for (name, value) in old.headers() {
        if name != actix_web::http::header::CONTENT_TYPE
            && name != actix_web::http::header::CONTENT_LENGTH
        {
            answer.headers_mut().append(name.clone(), value.clone());
        }
    }
    Ok(actix_web::dev::ServiceResponse::new(request, answer))
}

#[cfg(test)]
mod tests {
    /// Every template, by path, lower-cased.
    fn templates() -> Vec<(String, String)> {
        let mut folders = vec![std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates")];
        let mut read = Vec::new();
        while let Some(folder) = folders.pop() {
            for entry in std::fs::read_dir(&folder).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    folders.push(path);
                } else {
                    let text = std::fs::read_to_string(&path).unwrap().to_lowercase();
                    read.push((path.display().to_string(), text));
                }
            }
        }
        assert!(read.len() > 50, "only {} templates read", read.len());
        read
    }

    /// The Content-Security-Policy (`default-src 'self'`) refuses inline styles, inline
    /// scripts and event-handler attributes: a template that holds one renders differently in
    /// the browser than it reads here. None may.
    #[test]
    fn no_template_holds_what_the_content_security_policy_refuses() {
        for (path, text) in templates() {
            for refused in [" style=", "<style", "javascript:", "<script>"] {
                assert!(!text.contains(refused), "{path} holds {refused}");
            }
            // event handlers: onclick=, onchange=, …
            for (at, _) in text.match_indices(" on") {
                let name: String = text[at + 1..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphabetic())
                    .collect();
                assert!(
                    !text[at + 1 + name.len()..].starts_with('='),
                    "{path} holds the handler {name}="
                );
            }
        }
    }

    /// An action sent by htmx shows that it is under way: its button is disabled until the
    /// answer arrives (no second click sends it twice).
    #[test]
    fn every_htmx_action_disables_its_button_while_it_runs() {
        let mut actions = 0;
        for (path, text) in templates() {
            for tag in text.split('<').filter(|tag| {
                [
                    "data-hx-post=",
                    "data-hx-put=",
                    "data-hx-patch=",
                    "data-hx-delete=",
                ]
                .iter()
                .any(|verb| tag.contains(verb))
            }) {
                actions += 1;
                let tag = &tag[..tag.find('>').unwrap_or(tag.len())];
                assert!(tag.contains("data-hx-disabled-elt="), "{path}: <{tag}>");
            }
        }
        assert!(actions >= 3, "{actions}");
    }
}
