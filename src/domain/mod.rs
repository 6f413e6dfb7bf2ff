//! The domain: one module per aggregate, plain functions over a connection. No HTTP here;
//! every function that changes data takes the connection of an open write transaction
//! (see `db::write_transaction`) and writes its audit record in it.

pub mod accounts;
pub mod approvals;
pub mod assignments;
pub mod audit;
pub mod broadcasts;
pub mod calls;
pub mod channels;
pub mod companies;
pub mod conversations;
pub mod coverage;
pub mod demo;
pub mod inbound;
pub mod labels;
pub mod login_events;
pub mod mail;
pub mod notifications;
pub mod offboarding;
pub mod privacy;
pub mod quick_replies;
pub mod reports;
pub mod retention;
pub mod reviews;
pub mod roles;
pub mod routing;
pub mod scale;
pub mod sessions;
pub mod settings;
pub mod teams;
pub mod templates;
pub mod two_factor;
pub mod users;
pub mod validate;
pub mod visibility;

use chrono::NaiveDateTime;

use crate::core::ids::{CompanyId, UserId};
use crate::core::masking::{ContactMask, PhoneRegion};
use crate::core::permissions::PermissionSet;

/// The current UTC time at microsecond precision, by the clock of the instance whose work
/// runs on this thread (see `core::clock`).
pub fn now() -> NaiveDateTime {
    crate::core::clock::now()
}

/// Who is looking: every query that returns company data is scoped by this.
#[derive(Clone, Debug)]
pub struct Viewer {
    pub user_id: UserId,
    pub company_id: CompanyId,
    pub permissions: PermissionSet,
    /// The company's phone region, for reading free text when it is masked.
    pub phone_region: PhoneRegion,
    /// The visibility scope, read once per viewer: a page that filters several queries by it
    /// asks for the viewer's channel memberships once (`visibility::scope`).
    scope: std::sync::OnceLock<visibility::Scope>,
}

impl Viewer {
    pub fn new(
        user_id: UserId,
        company_id: CompanyId,
        permissions: PermissionSet,
        phone_region: PhoneRegion,
    ) -> Self {
        Self {
            user_id,
            company_id,
            permissions,
            phone_region,
            scope: std::sync::OnceLock::new(),
        }
    }

    /// The scope already known for this viewer (read, or given by a cache of reads).
    pub(crate) fn known_scope(&self) -> Option<&visibility::Scope> {
        self.scope.get()
    }

    /// Keeps `scope` as this viewer's, unless one is already known. Only what was read from
    /// the database for this viewer belongs here (`visibility::scope`, the scope cache).
    pub(crate) fn remember_scope(&self, scope: visibility::Scope) -> visibility::Scope {
        self.scope.get_or_init(|| scope).clone()
    }

    /// How this viewer sees contact details: the one place the masking rule is applied.
    pub fn contact_mask(&self) -> ContactMask {
        ContactMask::for_viewer(self.permissions, self.phone_region)
    }
}

/// Who did it, for audit records: the signed-in user (or the command line) and their address.
#[derive(Clone, Debug)]
pub struct Actor {
    pub user_id: Option<UserId>,
    pub username: String,
    pub ip: String,
}

impl Actor {
    /// The product's own background jobs (expiry, purges, sweeps), as the activity log names
    /// them: "system", from this machine.
    pub fn background() -> Self {
        Self {
            user_id: None,
            username: "system".into(),
            ip: "local".into(),
        }
    }
}

/// Who is calling a domain function: their company, what they may see (viewer) and how the
/// activity log names them (actor). Built once per request by the web layer.
#[derive(Clone, Debug)]
pub struct Caller {
    pub company_id: CompanyId,
    pub viewer: Viewer,
    pub actor: Actor,
}

impl Caller {
    /// The operator at the command line or the demo seed, acting on one company: every
    /// permission, and no user of the company (so no "not yourself" rule applies). It sees
    /// everything unmasked, so the phone region does not matter to it.
    /// A background job acting on one company, as the system ([`Actor::background`]).
    pub fn background(company_id: CompanyId) -> Self {
        Self::system(company_id, Actor::background())
    }

    pub fn system(company_id: CompanyId, actor: Actor) -> Self {
        Self {
            company_id,
            viewer: Viewer::new(
                UserId(0),
                company_id,
                PermissionSet::all(),
                PhoneRegion::DEFAULT,
            ),
            actor,
        }
    }

    pub fn user_id(&self) -> UserId {
        self.viewer.user_id
    }

    pub fn permissions(&self) -> PermissionSet {
        self.viewer.permissions
    }
}

impl Actor {
    /// Changes made by an operator at the command line.
    pub fn cli() -> Self {
        Self {
            user_id: None,
            username: "cli".into(),
            ip: "local".into(),
        }
    }
}
