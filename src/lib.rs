//! Switchboard: the access-control and team panel of an omnichannel messaging CRM.
//!
//! Layers, one way: `web` → `access`/`auth` → `domain` → `db` → `core` (with `error` beside
//! `core`: every layer may use both, they use nothing above them). `config` sits above `db`
//! and below `access`/`auth`. A test (`tests/integration/layering.rs`) reads every
//! `crate::` path and fails on an import that goes up or a cycle between modules.
//! [`app`] builds the actix App used by the binary and by the tests alike.

pub mod access;
pub mod auth;
pub mod config;
pub mod core;
pub mod db;
pub mod domain;
pub mod error;
pub mod web;

use actix_session::SessionMiddleware;
use actix_session::config::{BrowserSession, CookieContentSecurity};
use actix_web::App;
use actix_web::body::MessageBody;
use actix_web::cookie::SameSite;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::{DefaultHeaders, from_fn};
use actix_web::web::{self as aweb, Data};
use anyhow::Context as _;

use crate::access::RouteRules;
use crate::auth::session_store::DbSessionStore;
pub use crate::auth::state::AppState;
use crate::config::Config;
use crate::db::Pool;
use crate::error::AppError;

/// The name of the session cookie: `__Host-` prefixed when Secure, so it is bound to this host.
pub fn session_cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-switchboard"
    } else {
        "switchboard_session"
    }
}

const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

/// The whole application: routes, guard, sessions, headers.
pub fn app(
    state: Data<AppState>,
    rules: Data<RouteRules>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let secure = state.config.cookie_secure;
    let sessions = SessionMiddleware::builder(
        DbSessionStore::new(state.pool.clone(), state.session_cache.clone()),
        state.cookie_key.clone(),
    )
    .cookie_name(session_cookie_name(secure).to_string())
    .cookie_secure(secure)
    .cookie_http_only(true)
    .cookie_same_site(SameSite::Lax)
    .cookie_path("/".into())
    .cookie_content_security(CookieContentSecurity::Signed)
    .session_lifecycle(BrowserSession::default())
    .build();

    let mut headers = DefaultHeaders::new()
        .add(("Content-Security-Policy", CONTENT_SECURITY_POLICY))
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("Referrer-Policy", "same-origin"))
        .add(("X-Frame-Options", "DENY"))
        // Static assets set their own caching; everything else is per user and never cached.
        .add(("Cache-Control", "no-store"));
    if secure {
        headers = headers.add((
            "Strict-Transport-Security",
            "max-age=31536000; includeSubDomains",
        ));
    }

    App::new()
        .app_data(state)
        .app_data(rules)
        .app_data(aweb::QueryConfig::default().error_handler(|_, _| {
            AppError::Invalid("The filters in the address are not valid.".into()).into()
        }))
        .app_data(aweb::PayloadConfig::new(web::hooks::BODY_LIMIT))
        .app_data(aweb::PathConfig::default().error_handler(|_, _| AppError::NotFound.into()))
        .configure(web::configure)
        .default_service(aweb::to(web::not_found))
        .wrap(from_fn(access::guard::guard))
        .wrap(from_fn(web::layout::errors_keep_navigation))
        .wrap(sessions)
        .wrap(from_fn(auth::session_store::passive_requests))
        .wrap(headers)
        .wrap(from_fn(access::guard::unavailable_instead_of_500))
        .wrap(from_fn(web::observe::observe))
}

/// Tells the operator, once at start, when the connection to PostgreSQL crosses a network
/// unverified or pays for TLS to this machine (see `db::transport`).
async fn tell_of_postgres_transport(pool: &Pool, url: &str) {
    use db::transport::{Advice, advice, of_connection, ssl_mode};
    let transport = match db::run(pool, of_connection).await {
        Ok(Some(transport)) => transport,
        Ok(None) => return,
        Err(err) => {
            tracing::warn!(error = %err.chain(), "cannot tell how PostgreSQL is reached");
            return;
        }
    };
    let mode = ssl_mode(url, std::env::var("PGSSLMODE").ok().as_deref());
    match advice(transport, &mode) {
        Some(Advice::Unverified(message)) => tracing::warn!("{message}"),
        Some(Advice::NeedlessTls(message)) => tracing::info!("{message}"),
        None => tracing::info!(?transport, sslmode = %mode, "PostgreSQL reached"),
    }
}

/// Serves until stopped. Fails with a clear message when the address cannot be bound.
pub async fn serve(config: Config, pool: Pool) -> anyhow::Result<()> {
    let bind = config.bind.clone();
    let metrics = match &config.metrics_bind {
        Some(metrics_bind) => {
            let handle = web::metrics::install()?;
            let server = web::metrics::server(metrics_bind, handle, pool.clone())?;
            tracing::info!("metrics on http://{metrics_bind}/metrics");
            Some(server)
        }
        None => None,
    };
    let mail = config.mail.clone();
    let state = Data::new(AppState::new(pool, config)?);
    let rules = Data::new(web::route_rules());
    // repeated refusals are summarised when their window closes (see audit::count_refusal)
    let pool = state.pool.clone();
    if !db::run(&pool, db::plans_are_stable).await.unwrap_or(true) {
        tracing::warn!(
            "this SQLite was built without SQLITE_ENABLE_QPSG (see .cargo/config.toml): \
             every statement with a bound LIMIT is planned again on each use"
        );
    }
    if let db::DatabaseUrl::Postgres(url) = &state.config.database {
        tell_of_postgres_transport(&pool, url).await;
    }
    actix_web::rt::spawn(async move {
        let mut tick = actix_web::rt::time::interval(std::time::Duration::from_secs(60));
        for minute in 0_u64.. {
            tick.tick().await;
            // the planner's statistics: at start, then hourly
            if minute % 60 == 0
                && let Err(err) = db::run_write(&pool, db::optimize).await
            {
                tracing::warn!(error = %err.chain(), "cannot refresh the planner's statistics");
            }
            let summarized = db::run_write(&pool, |conn| {
                domain::audit::summarize_refusals(conn, domain::now())
            })
            .await;
            if let Err(err) = summarized {
                tracing::warn!(error = %err.chain(), "cannot summarise refusals yet");
            }
            // who idled out goes offline; long-offline people's chats are routed again
            if let Err(err) =
                db::run_write(&pool, |conn| domain::routing::sweep(conn, domain::now())).await
            {
                tracing::warn!(error = %err.chain(), "cannot sweep availability yet");
            }
            // masked copies cleared by a phone-region change (the settings page starts this
            // at once as well; this catches a rebuild that stopped half-way)
            if let Err(err) = db::run_write(&pool, domain::conversations::fill_masked_copies).await
            {
                tracing::warn!(error = %err.chain(), "cannot fill masked copies yet");
            }
            // approval requests unanswered for 7 days expire; their subjects are drafts again
            let expired = db::write(&pool, |conn| {
                domain::approvals::expire_due(conn, domain::now())
            })
            .await;
            if let Err(err) = expired {
                tracing::warn!(error = %err.chain(), "cannot expire approval requests yet");
            }
            // quarterly access reviews that fall due are told to those who run them, once
            let told =
                db::write(&pool, |conn| domain::reviews::tell_due(conn, domain::now())).await;
            if let Err(err) = told {
                tracing::warn!(error = %err.chain(), "cannot tell of due access reviews yet");
            }
            // dormant accounts, where a company asks for it: hourly (a day's precision is enough)
            if minute % 60 == 0
                && let Err(err) = db::run_write(&pool, |conn| {
                    domain::reviews::deactivate_dormant(conn, domain::now())
                })
                .await
            {
                tracing::warn!(error = %err.chain(), "cannot deactivate dormant accounts yet");
            }
            // retention: hourly, in batches that each commit on their own
            if minute % 60 == 0
                && let Err(err) = db::run_write(&pool, |conn| {
                    domain::retention::purge_all(conn, domain::now())
                })
                .await
            {
                tracing::warn!(error = %err.chain(), "cannot purge by the retention settings yet");
            }
        }
    });
    // broadcasts being sent go out a batch per second each, one transaction per batch
    let pool = state.pool.clone();
    actix_web::rt::spawn(async move {
        let mut tick = actix_web::rt::time::interval(std::time::Duration::from_secs(1));
        loop {
            tick.tick().await;
            domain::broadcasts::send_due(&pool).await;
        }
    });
    // notifications go out by e-mail too, when SMTP is configured: every few seconds, after
    // the change that made them has committed
    if let Some(mail) = mail {
        let mailer = domain::mail::Mailer::new(&mail)?;
        tracing::info!(server = %mail.smtp_url_without_password(), "notifications are also e-mailed");
        let pool = state.pool.clone();
        actix_web::rt::spawn(async move {
            let mut tick = actix_web::rt::time::interval(std::time::Duration::from_secs(3));
            loop {
                tick.tick().await;
                if let Err(err) = mailer.deliver(&pool).await {
                    tracing::warn!(error = %err.chain(), "cannot send notification e-mails yet");
                }
            }
        });
    }
    // cached sessions, scopes and channels learn of other instances' changes within a quarter
    // second, and so may serve for longer than a second while none comes
    actix_web::rt::spawn(
        auth::change_watch::ChangeWatch::new(state.pool.clone(), state.session_cache.clone()).run(),
    );
    // the live pages learn of other instances' changes within a second: one small query per
    // instance, however many pages are open
    let (pool, marker) = (state.pool.clone(), state.changes_elsewhere.clone());
    actix_web::rt::spawn(async move {
        let mut tick = actix_web::rt::time::interval(std::time::Duration::from_secs(1));
        loop {
            tick.tick().await;
            if let Ok(value) = db::run(&pool, domain::conversations::change_marker).await {
                marker.store(value, std::sync::atomic::Ordering::Release);
            }
        }
    });
    // SIGTERM / SIGINT: stop accepting, let requests in flight (streamed exports included)
    // finish for up to 30 s, then exit 0
    let server = actix_web::HttpServer::new(move || app(state.clone(), rules.clone()))
        .shutdown_timeout(30)
        .bind(&bind)
        .with_context(|| format!("cannot listen on {bind}"))?;
    tracing::info!("Switchboard is listening on http://{bind}");
    let panel = server.run();
    match metrics {
        Some(metrics) => {
            futures_util::future::try_join(panel, metrics)
                .await
                .context("server stopped")?;
            Ok(())
        }
        None => panel.await.context("server stopped"),
    }
}
