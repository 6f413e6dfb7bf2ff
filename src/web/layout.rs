//! What every signed-in page shares: header, navigation, CSRF token, flash message.

use actix_session::Session;
use actix_web::http::Method;

use crate::access::{CurrentUser, RouteRules, Rule};
use crate::db::DbConnection;
use crate::domain::{Caller, conversations};
use crate::error::AppError;
use crate::web::Cx;

/// The product's pages in navigation order. An entry shows only when its route is registered
/// and the user passes the route's own rule, so the navigation and the guard cannot disagree.
pub const NAV: [(&str, &str); 12] = [
    ("/conversations", "Conversations"),
    ("/calls", "Calls"),
    ("/users", "Users"),
    ("/roles", "Roles"),
    ("/channels", "Channels"),
    ("/assignments", "Assignments"),
    ("/reports", "Reports"),
    ("/activity", "Activity"),
    ("/logins", "Login history"),
    ("/sessions", "Sessions"),
    ("/settings", "Settings"),
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

impl Layout {
    /// Whether the navigation shows the badge of open conversations (and so needs the count).
    pub fn counts_open(cx: &Cx) -> bool {
        may_open(&cx.rules, &cx.user, "/conversations")
    }

    /// The badge's figure, read in the page's own database hop (see `Cx::read_page`).
    pub fn open_count(
        conn: &mut DbConnection,
        me: &Caller,
        counts: bool,
    ) -> Result<Option<i64>, AppError> {
        counts
            .then(|| conversations::open_assigned_count(conn, &me.viewer))
            .transpose()
    }

    pub fn build(cx: &Cx, title: &str, active: &str, open_count: Option<i64>) -> Self {
        let (rules, user, session) = (&cx.rules, &cx.user, &cx.session);
        // before a required password change only the account page opens: the navigation says so
        let must_change = user.auth.must_change_password || user.auth.password_expired;
        let nav = NAV
            .iter()
            .filter(|(href, _)| may_open(rules, user, href))
            .filter(|(href, _)| {
                !must_change || crate::access::guard::allowed_before_password_change(href)
            })
            .map(|(href, label)| NavItem {
                href,
                label,
                active: *href == active,
                badge: if *href == "/conversations" {
                    open_count.filter(|n| *n > 0)
                } else {
                    None
                },
            })
            .collect();
        let flash = session.remove_as::<String>("flash").and_then(Result::ok);
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
