//! The pages. `route_table` is the one place where every route is registered together with
//! its access rule; the guard enforces the rules and refuses any matched route without one.

pub mod account;
pub mod approvals;
pub mod assets;
pub mod broadcasts;
pub mod calls;
pub mod channels;
pub mod context;
pub mod conversation_views;
pub mod conversations;
pub mod forms;
pub mod health;
pub mod home;
pub mod hooks;
pub mod labels;
pub mod layout;
pub mod live;
pub mod login;
pub mod message_templates;
pub mod metrics;
pub mod notifications;
pub mod observe;
pub mod oversight;
pub mod privacy;
pub mod quick_replies;
pub mod reports;
pub mod reviews;
pub mod roles;
pub mod settings;
pub mod teams;
pub mod two_factor;
pub mod users;

use actix_web::http::{Method, StatusCode};
use actix_web::{HttpResponse, Route, web};
use askama::Template;

use crate::access::Rule;
use crate::core::permissions::Permission;

pub use crate::auth::client::is_htmx;
use crate::error::AppError;
pub use context::{Cx, Visitor, form_page};
pub use forms::{Form, Query};

/// What every handler answers: a page, a redirect or an error the error policy maps.
pub type Answer = Result<HttpResponse, AppError>;

/// A route and its access rule, declared together.
pub struct RouteDef {
    pub method: Method,
    pub path: &'static str,
    pub rule: Rule,
    make: fn(Method) -> Route,
}

macro_rules! route {
    ($method:ident $path:literal, $rule:expr, $handler:path) => {
        RouteDef {
            method: Method::$method,
            path: $path,
            rule: $rule,
            make: |method| web::route().method(method).to($handler),
        }
    };
}

const VIEW_CONVERSATIONS: Rule = Rule::AnyOf(&Permission::VIEW_CONVERSATIONS);
const REPLY: Rule = Rule::AnyOf(&[Permission::ConversationsReply]);
const CLOSE: Rule = Rule::AnyOf(&[Permission::ConversationsClose]);
const TRANSFER: Rule = Rule::AnyOf(&[Permission::ConversationsTransfer]);
const REVEAL: Rule = Rule::AnyOf(&[Permission::ContactsReveal]);
const USERS_VIEW: Rule = Rule::AnyOf(&[Permission::UsersView]);
const USERS_MANAGE: Rule = Rule::AnyOf(&[Permission::UsersManage]);
const SETTINGS_MANAGE: Rule = Rule::AnyOf(&[Permission::SettingsManage]);
const REVIEWS_RUN: Rule = Rule::AnyOf(&[Permission::ReviewsRun]);
const PRIVACY_MANAGE: Rule = Rule::AnyOf(&[Permission::PrivacyManage]);
const ROLES_MANAGE: Rule = Rule::AnyOf(&[Permission::RolesManage]);
const CHANNELS_VIEW: Rule = Rule::AnyOf(&[Permission::ChannelsView]);
const CHANNELS_MANAGE: Rule = Rule::AnyOf(&[Permission::ChannelsManage]);
const CHANNELS_ASSIGN: Rule = Rule::AnyOf(&[Permission::ChannelsAssign]);
const LOGINS_VIEW: Rule = Rule::AnyOf(&[Permission::LoginsView]);
const ACTIVITY_VIEW: Rule = Rule::AnyOf(&[Permission::ActivityView]);
const SESSIONS_MANAGE: Rule = Rule::AnyOf(&[Permission::SessionsManage]);
const REPORTS_VIEW: Rule = Rule::AnyOf(&[Permission::ReportsView]);
const TEAMS_MANAGE: Rule = Rule::AnyOf(&[Permission::TeamsManage]);
const TEMPLATES_MANAGE: Rule = Rule::AnyOf(&[Permission::TemplatesManage]);
const TEMPLATES_APPROVE: Rule = Rule::AnyOf(&[Permission::TemplatesApprove]);
/// Writers and approvers both read templates (an approver reads what they decide).
const TEMPLATES_READ: Rule =
    Rule::AnyOf(&[Permission::TemplatesManage, Permission::TemplatesApprove]);
const BROADCASTS_CREATE: Rule = Rule::AnyOf(&[Permission::BroadcastsCreate]);
const BROADCASTS_APPROVE: Rule = Rule::AnyOf(&[Permission::BroadcastsApprove]);
const BROADCASTS_READ: Rule =
    Rule::AnyOf(&[Permission::BroadcastsCreate, Permission::BroadcastsApprove]);

/// Every route of the product. Order matters where patterns overlap: specific paths first.
/// Numeric ids are constrained (`{id:\d+}`) so `/users/new` can never match `/users/{id}`.
pub fn route_table() -> Vec<RouteDef> {
    vec![
        route!(GET "/healthz", Rule::Public, health::healthz),
        route!(GET "/readyz", Rule::Public, health::readyz),
        route!(GET "/static/{path:.*}", Rule::Public, assets::serve),
        route!(GET "/login", Rule::Public, login::form),
        route!(POST "/login", Rule::Public, login::submit),
        // after a right password: the handler asks for the challenge the password left
        route!(GET "/login/two-factor", Rule::Public, login::code_form),
        route!(POST "/login/two-factor", Rule::Public, login::code_submit),
        route!(POST "/logout", Rule::SignedIn, login::logout),
        route!(GET "/", Rule::SignedIn, home::index),
        route!(GET "/account", Rule::SignedIn, account::show),
        route!(POST "/account/password", Rule::SignedIn, account::change_password),
        route!(POST "/account/time-zone", Rule::SignedIn, account::set_time_zone),
        route!(GET "/account/two-factor", Rule::SignedIn, two_factor::show),
        route!(POST "/account/two-factor", Rule::SignedIn, two_factor::enrol),
        route!(POST "/account/two-factor/disable", Rule::SignedIn, two_factor::disable),
        route!(POST "/account/availability", Rule::SignedIn, account::set_availability),
        route!(GET "/account/sessions", Rule::SignedIn, account::sessions),
        route!(GET "/account/live", Rule::SignedIn, account::live),
        route!(POST r"/account/sessions/{id:\d+}/revoke", Rule::SignedIn, account::revoke_session),
        route!(GET "/users", USERS_VIEW, users::index),
        route!(GET "/users/new", USERS_MANAGE, users::new_form),
        route!(GET "/users/require-password-change", USERS_MANAGE, users::rotation),
        route!(POST "/users/require-password-change", USERS_MANAGE, users::require_password_change),
        route!(POST "/users", USERS_MANAGE, users::create),
        route!(GET r"/users/{id:\d+}", USERS_VIEW, users::show),
        route!(POST r"/users/{id:\d+}", USERS_MANAGE, users::update),
        route!(POST r"/users/{id:\d+}/role", USERS_MANAGE, users::change_role),
        route!(POST r"/users/{id:\d+}/deactivate", USERS_MANAGE, users::deactivate),
        route!(POST r"/users/{id:\d+}/reactivate", USERS_MANAGE, users::reactivate),
        route!(POST r"/users/{id:\d+}/open-conversations", USERS_MANAGE, users::hand_over),
        route!(POST r"/users/{id:\d+}/routing", CHANNELS_ASSIGN, users::set_routing),
        route!(POST r"/users/{id:\d+}/reset-password", USERS_MANAGE, users::reset_password),
        route!(POST r"/users/{id:\d+}/unlock", USERS_MANAGE, users::unlock),
        route!(POST r"/users/{id:\d+}/two-factor/reset", USERS_MANAGE, two_factor::reset),
        route!(GET r"/users/{id:\d+}/offboard", USERS_MANAGE, users::offboard),
        route!(POST r"/users/{id:\d+}/offboard/transfer", USERS_MANAGE, users::offboard_transfer),
        route!(POST r"/users/{id:\d+}/offboard/channels", USERS_MANAGE, users::offboard_channels),
        route!(POST r"/users/{id:\d+}/delete", USERS_MANAGE, users::delete),
        route!(GET "/roles", ROLES_MANAGE, roles::index),
        route!(POST "/roles", ROLES_MANAGE, roles::create),
        route!(GET r"/roles/{id:\d+}", ROLES_MANAGE, roles::show),
        route!(POST r"/roles/{id:\d+}", ROLES_MANAGE, roles::update),
        route!(POST r"/roles/{id:\d+}/delete", ROLES_MANAGE, roles::delete),
        route!(GET "/privacy", PRIVACY_MANAGE, privacy::index),
        route!(POST "/privacy", PRIVACY_MANAGE, privacy::update),
        route!(GET r"/contacts/{id:\d+}/export", PRIVACY_MANAGE, privacy::export_contact),
        route!(GET r"/contacts/{id:\d+}/erase", PRIVACY_MANAGE, privacy::erase_form),
        route!(POST r"/contacts/{id:\d+}/erase", PRIVACY_MANAGE, privacy::erase),
        route!(GET "/access-reviews", REVIEWS_RUN, reviews::index),
        route!(POST "/access-reviews", REVIEWS_RUN, reviews::start),
        route!(GET r"/access-reviews/{id:\d+}", REVIEWS_RUN, reviews::show),
        route!(POST r"/access-reviews/{id:\d+}/users/{user_id:\d+}", REVIEWS_RUN, reviews::decide),
        route!(POST r"/access-reviews/{id:\d+}/close", REVIEWS_RUN, reviews::close),
        route!(GET r"/exports/access-reviews/{id:\d+}.csv", Rule::ExportOf(&[Permission::ReviewsRun]), reviews::export),
        route!(GET "/teams", TEAMS_MANAGE, teams::index),
        route!(POST "/teams", TEAMS_MANAGE, teams::create),
        route!(GET r"/teams/{id:\d+}", TEAMS_MANAGE, teams::show),
        route!(POST r"/teams/{id:\d+}", TEAMS_MANAGE, teams::update),
        route!(POST r"/teams/{id:\d+}/delete", TEAMS_MANAGE, teams::delete),
        route!(GET "/channels", CHANNELS_VIEW, channels::index),
        route!(POST "/channels", CHANNELS_MANAGE, channels::create),
        route!(GET r"/channels/{id:\d+}", CHANNELS_VIEW, channels::show),
        route!(POST r"/channels/{id:\d+}", CHANNELS_MANAGE, channels::update),
        route!(POST r"/channels/{id:\d+}/rotate-token", CHANNELS_MANAGE, channels::rotate_token),
        route!(GET "/assignments", CHANNELS_ASSIGN, channels::assignments),
        route!(POST "/assignments", CHANNELS_ASSIGN, channels::assign),
        route!(POST "/assignments/bulk", CHANNELS_ASSIGN, channels::assign_bulk),
        route!(GET "/logins", LOGINS_VIEW, oversight::logins),
        route!(GET "/activity", ACTIVITY_VIEW, oversight::activity),
        route!(GET "/sessions", SESSIONS_MANAGE, oversight::sessions_index),
        route!(POST r"/sessions/{id:\d+}/revoke", SESSIONS_MANAGE, oversight::end_session),
        route!(POST "/sessions/revoke-user", SESSIONS_MANAGE, oversight::end_user_sessions),
        route!(GET "/exports/conversations.csv", Rule::ExportOf(&Permission::VIEW_CONVERSATIONS), oversight::export_conversations),
        route!(GET "/exports/logins.csv", Rule::ExportOf(&[Permission::LoginsView]), oversight::export_logins),
        route!(GET "/exports/activity.csv", Rule::ExportOf(&[Permission::ActivityView]), oversight::export_activity),
        route!(GET "/reports", REPORTS_VIEW, reports::index),
        route!(GET "/exports/reports.csv", Rule::ExportOf(&[Permission::ReportsView]), reports::export),
        route!(GET "/labels", SETTINGS_MANAGE, labels::index),
        route!(POST "/labels", SETTINGS_MANAGE, labels::save),
        route!(GET "/settings", SETTINGS_MANAGE, settings::show),
        route!(POST "/settings", SETTINGS_MANAGE, settings::update),
        route!(POST "/settings/two-factor", SETTINGS_MANAGE, two_factor::require_for_roles),
        route!(GET "/conversations", VIEW_CONVERSATIONS, conversations::index),
        route!(GET "/conversations/live", VIEW_CONVERSATIONS, live::list),
        route!(GET r"/conversations/{id:\d+}", VIEW_CONVERSATIONS, conversations::show),
        route!(GET r"/conversations/{id:\d+}/live", VIEW_CONVERSATIONS, live::conversation),
        route!(GET r"/conversations/{id:\d+}/messages", VIEW_CONVERSATIONS, conversations::earlier),
        route!(POST r"/conversations/{id:\d+}/messages", REPLY, conversations::reply),
        route!(POST r"/conversations/{id:\d+}/close", CLOSE, conversations::close),
        route!(POST r"/conversations/{id:\d+}/reopen", CLOSE, conversations::reopen),
        route!(POST r"/conversations/{id:\d+}/transfer", TRANSFER, conversations::transfer),
        route!(POST r"/conversations/{id:\d+}/labels", REPLY, conversations::add_label),
        route!(POST r"/conversations/{id:\d+}/labels/remove", REPLY, conversations::remove_label),
        route!(POST r"/conversations/{id:\d+}/reveal", REVEAL, conversations::reveal),
        route!(POST r"/conversations/{id:\d+}/quick-reply", REPLY, quick_replies::insert),
        route!(POST r"/conversations/{id:\d+}/template", REPLY, message_templates::send_in_conversation),
        route!(GET "/templates", TEMPLATES_READ, message_templates::index),
        route!(POST "/templates", TEMPLATES_MANAGE, message_templates::create),
        route!(GET r"/templates/{id:\d+}", TEMPLATES_READ, message_templates::show),
        route!(POST r"/templates/{id:\d+}", TEMPLATES_MANAGE, message_templates::update),
        route!(POST r"/templates/{id:\d+}/submit", TEMPLATES_MANAGE, message_templates::submit),
        route!(POST r"/templates/{id:\d+}/approve", TEMPLATES_APPROVE, message_templates::approve),
        route!(POST r"/templates/{id:\d+}/reject", TEMPLATES_APPROVE, message_templates::reject),
        route!(GET "/broadcasts", BROADCASTS_READ, broadcasts::index),
        route!(POST "/broadcasts", BROADCASTS_CREATE, broadcasts::create),
        route!(GET r"/broadcasts/{id:\d+}", BROADCASTS_READ, broadcasts::show),
        route!(POST r"/broadcasts/{id:\d+}/submit", BROADCASTS_CREATE, broadcasts::submit),
        route!(POST r"/broadcasts/{id:\d+}/cancel", BROADCASTS_CREATE, broadcasts::cancel),
        route!(POST r"/broadcasts/{id:\d+}/send", BROADCASTS_CREATE, broadcasts::send),
        route!(POST r"/broadcasts/{id:\d+}/approve", BROADCASTS_APPROVE, broadcasts::approve),
        route!(POST r"/broadcasts/{id:\d+}/reject", BROADCASTS_APPROVE, broadcasts::reject),
        route!(GET "/notifications", Rule::SignedIn, notifications::index),
        route!(POST "/notifications/read", Rule::SignedIn, notifications::read),
        route!(GET "/approvals", Rule::SignedIn, approvals::index),
        route!(POST r"/approvals/{id:\d+}/approve", Rule::SignedIn, approvals::approve),
        route!(POST r"/approvals/{id:\d+}/reject", Rule::SignedIn, approvals::reject),
        route!(POST r"/approvals/{id:\d+}/withdraw", Rule::SignedIn, approvals::withdraw),
        route!(GET "/quick-replies", Rule::SignedIn, quick_replies::index),
        route!(POST "/quick-replies", Rule::SignedIn, quick_replies::create),
        route!(POST r"/quick-replies/{id:\d+}", Rule::SignedIn, quick_replies::update),
        route!(POST r"/quick-replies/{id:\d+}/delete", Rule::SignedIn, quick_replies::delete),
        route!(GET "/calls", VIEW_CONVERSATIONS, calls::index),
        route!(POST r"/calls/{id:\d+}/complete", VIEW_CONVERSATIONS, calls::complete),
        route!(POST r"/hooks/channels/{id:\d+}/messages", Rule::Webhook, hooks::receive),
    ]
}

/// Registers the route table on an App (or scope).
pub fn configure(cfg: &mut web::ServiceConfig) {
    let table = route_table();
    let mut paths: Vec<&'static str> = Vec::new();
    for def in &table {
        if !paths.contains(&def.path) {
            paths.push(def.path);
        }
    }
    for path in paths {
        let mut resource = web::resource(path);
        for def in table.iter().filter(|def| def.path == path) {
            resource = resource.route((def.make)(def.method.clone()));
            // HEAD is answered like GET (actix sends the headers without the body)
            if def.method == Method::GET {
                resource = resource.route((def.make)(Method::HEAD));
            }
        }
        cfg.service(resource);
    }
}

/// The rules of the route table, for the guard.
pub fn route_rules() -> crate::access::RouteRules {
    crate::access::RouteRules::new(
        route_table()
            .into_iter()
            .map(|def| (def.method, def.path.to_string(), def.rule)),
    )
}

/// Renders a template with a status.
pub fn render(status: StatusCode, template: &impl Template) -> Answer {
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(template.render()?))
}

pub fn page(template: &impl Template) -> Answer {
    render(StatusCode::OK, template)
}

/// 303 to a local path.
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((actix_web::http::header::LOCATION, location.to_string()))
        .finish()
}

/// The 404 page for paths no route matches.
pub async fn not_found() -> HttpResponse {
    actix_web::ResponseError::error_response(&AppError::NotFound)
}

/// A recent time as people say it ("just now", "12 min ago", "3 h ago"); an older one (or
/// one ahead of `now`) as [`format_time`]. For lists where the question is how long ago: last
/// activity, last seen, last sign-in. Audit records keep exact times.
pub fn format_recent(at: &chrono::NaiveDateTime, now: chrono::NaiveDateTime) -> String {
    match (now - *at).num_seconds() {
        -59..=59 => "just now".into(),
        seconds @ 60..3600 => format!("{} min ago", seconds / 60),
        seconds @ 3600..43200 => format!("{} h ago", seconds / 3600),
        _ => format_time(at),
    }
}

/// Shows a stored (UTC) time on a page, in the signed-in viewer's own zone.
pub fn format_time(at: &chrono::NaiveDateTime) -> String {
    use chrono::TimeZone;
    // in the signed-in viewer's own zone (`/account`), named: "2026-12-03 07:15 +03"
    crate::access::viewer_zone()
        .from_utc_datetime(at)
        .format("%Y-%m-%d %H:%M %Z")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::{format_recent, format_time};
    use chrono::{NaiveDate, TimeDelta};

    #[test]
    fn recent_times_read_as_how_long_ago() {
        let now = NaiveDate::from_ymd_opt(2026, 12, 3)
            .unwrap()
            .and_hms_opt(12, 0, 0)
            .unwrap();
        let ago = |seconds: i64| format_recent(&(now - TimeDelta::seconds(seconds)), now);
        assert_eq!(ago(0), "just now");
        assert_eq!(ago(59), "just now");
        assert_eq!(ago(-59), "just now");
        assert_eq!(ago(60), "1 min ago");
        assert_eq!(ago(3599), "59 min ago");
        assert_eq!(ago(3600), "1 h ago");
        assert_eq!(ago(43_199), "11 h ago");
        // older, or ahead of the clock: the time itself
        for seconds in [43_200, 90_000, -60] {
            let at = now - TimeDelta::seconds(seconds);
            assert_eq!(format_recent(&at, now), format_time(&at));
        }
    }
}
