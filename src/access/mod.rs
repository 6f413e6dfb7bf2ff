//! The access model: the permission catalog, the rule every route declares, the guard that
//! enforces rules before any handler runs, and masking.
//!
//! The visibility rule needs the viewer's channel memberships, so it is decided in the domain,
//! in one function: `domain::visibility::scope`.

pub mod guard;

tokio::task_local! {
    /// The zone the signed-in viewer reads times in, for the request being handled (set by
    /// the guard; `web::format_time` reads it).
    static VIEWER_ZONE: chrono_tz::Tz;
}

/// The viewer's time zone for the request being handled; UTC outside one (error pages,
/// streamed exports, sign-in).
pub fn viewer_zone() -> chrono_tz::Tz {
    VIEWER_ZONE.try_with(|zone| *zone).unwrap_or(chrono_tz::UTC)
}

/// Runs `work` with times shown in the zone named `zone` (UTC when the name is unknown).
pub async fn in_viewer_zone<F: std::future::Future>(zone: &str, work: F) -> F::Output {
    VIEWER_ZONE
        .scope(zone.parse().unwrap_or(chrono_tz::UTC), work)
        .await
}

use std::collections::HashMap;
use std::future::{Ready, ready};

use actix_web::http::Method;
use actix_web::{FromRequest, HttpMessage, HttpRequest, dev::Payload};

use crate::core::permissions::{Permission, PermissionSet};
use crate::domain::sessions::SessionAuth;
use crate::domain::{Actor, Caller, Viewer};
use crate::error::AppError;

/// Who may use a route. Every route declares one (see `web::route_table`); the guard refuses
/// a matched route that has none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    /// Anyone. A state-changing public route (sign-in) still needs the sign-in form's token.
    Public,
    /// Inbound channel traffic: authenticated by the channel's bearer token, no session or CSRF.
    Webhook,
    /// Any signed-in user.
    SignedIn,
    /// A signed-in user holding at least one of these permissions.
    AnyOf(&'static [Permission]),
    /// A CSV export: `exports.create` and at least one of the permissions of the page the
    /// data comes from.
    ExportOf(&'static [Permission]),
}

impl Rule {
    pub fn needs_session(self) -> bool {
        matches!(self, Self::SignedIn | Self::AnyOf(_) | Self::ExportOf(_))
    }

    /// Whether a signed-in user with these permissions passes the rule.
    pub fn allows(self, held: PermissionSet) -> bool {
        match self {
            Self::Public | Self::Webhook | Self::SignedIn => true,
            Self::AnyOf(required) => held.contains_any(required),
            Self::ExportOf(page) => {
                held.contains(Permission::ExportsCreate) && held.contains_any(page)
            }
        }
    }

    /// Human-readable, for the effective-access view and logs.
    pub fn describe(self) -> String {
        match self {
            Self::Public => "public".into(),
            Self::Webhook => "channel token".into(),
            Self::SignedIn => "any signed-in user".into(),
            Self::AnyOf(perms) => perms
                .iter()
                .map(|p| p.key())
                .collect::<Vec<_>>()
                .join(" or "),
            Self::ExportOf(perms) => format!(
                "exports.create and {}",
                perms
                    .iter()
                    .map(|p| p.key())
                    .collect::<Vec<_>>()
                    .join(" or ")
            ),
        }
    }
}

/// The declared rule of every (method, route pattern), built from the route table.
#[derive(Debug, Default)]
pub struct RouteRules {
    rules: HashMap<(Method, String), Rule>,
}

impl RouteRules {
    pub fn new(entries: impl IntoIterator<Item = (Method, String, Rule)>) -> Self {
        Self {
            rules: entries
                .into_iter()
                .map(|(method, pattern, rule)| ((method, pattern), rule))
                .collect(),
        }
    }

    pub fn rule(&self, method: &Method, pattern: &str) -> Option<Rule> {
        // HEAD is answered like GET.
        let method = if method == Method::HEAD {
            &Method::GET
        } else {
            method
        };
        self.rules
            .get(&(method.clone(), pattern.to_string()))
            .copied()
    }

    /// True when some method of this pattern is declared (so another method is a plain 404).
    pub fn knows_pattern(&self, pattern: &str) -> bool {
        self.rules.keys().any(|(_, p)| p == pattern)
    }
}

/// The signed-in user of this request, placed in the request by the guard.
#[derive(Clone, Debug)]
pub struct CurrentUser {
    pub auth: SessionAuth,
    pub permissions: PermissionSet,
    pub ip: String,
    pub user_agent: String,
}

impl CurrentUser {
    pub fn can(&self, permission: Permission) -> bool {
        self.permissions.contains(permission)
    }

    pub fn viewer(&self) -> Viewer {
        Viewer::new(
            self.auth.user_id,
            self.auth.company_id,
            self.permissions,
            self.auth.phone_region,
        )
    }

    pub fn caller(&self) -> Caller {
        Caller {
            company_id: self.auth.company_id,
            viewer: self.viewer(),
            actor: self.actor(),
        }
    }

    pub fn actor(&self) -> Actor {
        Actor {
            user_id: Some(self.auth.user_id),
            username: self.auth.username.clone(),
            ip: self.ip.clone(),
        }
    }
}

impl FromRequest for CurrentUser {
    type Error = AppError;
    type Future = Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            req.extensions()
                .get::<CurrentUser>()
                .cloned()
                .ok_or_else(|| AppError::SignInRequired {
                    reason: None,
                    next: req.path().to_string(),
                    htmx: req.headers().contains_key("hx-request"),
                }),
        )
    }
}
