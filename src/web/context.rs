//! One request context for every signed-in handler: the state, the route rules, the signed-in
//! user and the session in one extractor, with the four things a handler does: read, write
//! (one transaction with its audit record), build the page layout, and answer "done".

use std::future::{Ready, ready};

use actix_session::{Session, SessionExt};
use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::web::Data;
use actix_web::{FromRequest, HttpRequest, HttpResponse};
use askama::Template;

use crate::access::{CurrentUser, RouteRules};
use crate::auth::AppState;
use crate::core::permissions::Permission;
use crate::db::{self, DbConnection};
use crate::domain::{Caller, audit};
use crate::error::{AppError, FieldErrors};
use crate::web::layout::{Layout, set_flash};
use crate::web::{Answer, is_htmx, render, see_other};

pub struct Cx {
    pub state: Data<AppState>,
    pub rules: Data<RouteRules>,
    pub user: CurrentUser,
    pub session: Session,
    /// The request came from htmx and expects a fragment.
    pub htmx: bool,
    /// `METHOD /path`, for the record of a refusal.
    route: String,
}

impl FromRequest for Cx {
    type Error = AppError;
    type Future = Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        ready(Self::from_parts(req, payload))
    }
}

impl Cx {
    fn from_parts(req: &HttpRequest, payload: &mut Payload) -> Result<Self, AppError> {
        let (Some(state), Some(rules)) = (
            req.app_data::<Data<AppState>>().cloned(),
            req.app_data::<Data<RouteRules>>().cloned(),
        ) else {
            return Err(AppError::internal("request context without app state"));
        };
        let user = CurrentUser::from_request(req, payload).into_inner()?;
        Ok(Self {
            state,
            rules,
            user,
            session: req.get_session(),
            htmx: is_htmx(req),
            route: format!("{} {}", req.method(), req.path()),
        })
    }

    /// The signed-in user as the domain knows them: company, viewer, actor.
    pub fn caller(&self) -> Caller {
        self.user.caller()
    }

    /// This instance's time (what `domain::now()` reads inside `read` and `write`).
    pub fn now(&self) -> chrono::NaiveDateTime {
        self.state.pool.clock().now()
    }

    pub fn can(&self, permission: Permission) -> bool {
        self.user.can(permission)
    }

    /// Database reads on a blocking thread.
    pub async fn read<T, F>(&self, work: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection, &Caller) -> Result<T, AppError> + Send + 'static,
    {
        let caller = self.caller();
        let viewer = &caller.viewer;
        let pool = &self.state.pool;
        let scopes = self.state.scope_cache.clone();
        // taken before the read: a commit that races the read retires what it stores
        let read = pool.cache_clock();
        let cached = scopes.get(viewer.user_id, viewer.permissions, &read);
        let from_cache = cached.is_some();
        if let Some(scope) = cached {
            viewer.remember_scope(scope);
        }
        db::run(pool, move |conn| {
            let result = work(conn, &caller);
            let viewer = &caller.viewer;
            if let (false, Some(scope)) = (from_cache, viewer.known_scope()) {
                scopes.put(viewer.user_id, viewer.permissions, scope.clone(), &read);
            }
            result
        })
        .await
    }

    /// A change and its audit record, in one write transaction. A change the domain refuses
    /// with 403 ("who may act on whom") rolls back and is recorded as refused.
    pub async fn write<T, F>(&self, work: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection, &Caller) -> Result<T, AppError> + Send + 'static,
    {
        self.write_counted(true, work).await
    }

    /// `write` for the agents' work (replies, close and reopen, transfers, labels, reveals,
    /// call tasks), which changes no session, user, role or company row: it leaves the session
    /// cache as it is, so a busy inbox does not make every signed-in request read its session
    /// again (`db::write_transaction_outside_sessions`).
    pub async fn write_outside_sessions<T, F>(&self, work: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection, &Caller) -> Result<T, AppError> + Send + 'static,
    {
        self.write_counted(false, work).await
    }

    async fn write_counted<T, F>(&self, counted: bool, work: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection, &Caller) -> Result<T, AppError> + Send + 'static,
    {
        let caller = self.caller();
        let attempted = self.route.clone();
        db::run_write(&self.state.pool, move |conn| {
            let change = |conn: &mut DbConnection| work(conn, &caller);
            let result = if counted {
                db::write_transaction(conn, change)
            } else {
                db::write_transaction_outside_sessions(conn, change)
            };
            if let Err(AppError::Forbidden) = &result
                && let Err(err) = audit::refusal(conn, caller.company_id, &caller.actor, &attempted)
            {
                tracing::error!(error = %err.chain(), "cannot record a refused change");
            }
            result
        })
        .await
    }

    /// The shared header, navigation and flash of a page titled `title` under `nav`.
    pub async fn layout(&self, title: &str, nav: &str) -> Result<Layout, AppError> {
        Ok(self.read_page(title, nav, |_, _| Ok(())).await?.0)
    }

    /// A page's layout and what `work` reads for it, in one database hop.
    pub async fn read_page<T, F>(
        &self,
        title: &str,
        nav: &str,
        work: F,
    ) -> Result<(Layout, T), AppError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection, &Caller) -> Result<T, AppError> + Send + 'static,
    {
        let counts_open = Layout::counts_open(self);
        let (counts, value) = self
            .read(move |conn, me| Ok((Layout::nav_counts(conn, me, counts_open)?, work(conn, me)?)))
            .await?;
        Ok((Layout::build(self, title, nav, counts), value))
    }

    /// The action succeeded: a flash message and 303 to where the user goes next.
    pub fn done(&self, flash: impl AsRef<str>, location: impl AsRef<str>) -> HttpResponse {
        set_flash(&self.session, flash.as_ref());
        see_other(location.as_ref())
    }
}

/// The context of a public route (sign-in, inbound hooks): the request, the state and the
/// session, and no signed-in user.
pub struct Visitor {
    pub req: HttpRequest,
    pub state: Data<AppState>,
    pub session: Session,
}

impl FromRequest for Visitor {
    type Error = AppError;
    type Future = Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(match req.app_data::<Data<AppState>>() {
            Some(state) => Ok(Self {
                req: req.clone(),
                state: state.clone(),
                session: req.get_session(),
            }),
            None => Err(AppError::internal("request context without app state")),
        })
    }
}

/// 200 for a page, 422 when it comes back with field errors.
pub fn form_page(errors: &FieldErrors, template: &impl Template) -> Answer {
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    render(status, template)
}
