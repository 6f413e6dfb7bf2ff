//! `/metrics` in the Prometheus text format, served on its own address
//! (`SWITCHBOARD_METRICS_BIND`) so it is never reachable where the panel is. The counters and
//! histograms are recorded where things happen (`web::observe`, sign-in, audit, exports, the
//! pool); the gauges are read when scraped.

use actix_web::web::{self as aweb, Data};
use actix_web::{App, HttpResponse, HttpServer};
use anyhow::Context as _;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::db::{self, Pool};
use crate::domain::sessions;

/// Latency buckets, in seconds: from a cached page to a slow export page.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// Installs the process-wide recorder (once, when metrics are on).
pub fn install() -> anyhow::Result<PrometheusHandle> {
    PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &BUCKETS)
        .context("metrics buckets")?
        .install_recorder()
        .context("cannot install the metrics recorder")
}

/// The metrics server: one route, one worker.
pub fn server(
    bind: &str,
    handle: PrometheusHandle,
    pool: Pool,
) -> anyhow::Result<actix_web::dev::Server> {
    let handle = Data::new(handle);
    let pool = Data::new(pool);
    Ok(HttpServer::new(move || {
        App::new()
            .app_data(handle.clone())
            .app_data(pool.clone())
            .route("/metrics", aweb::get().to(render))
    })
    .workers(1)
    .shutdown_timeout(5)
    .bind(bind)
    .with_context(|| format!("cannot serve metrics on {bind}"))?
    .run())
}

async fn render(handle: Data<PrometheusHandle>, pool: Data<Pool>) -> HttpResponse {
    let state = pool.state();
    let in_use = state.connections.saturating_sub(state.idle_connections);
    metrics::gauge!("switchboard_db_pool_connections", "state" => "in_use").set(f64::from(in_use));
    metrics::gauge!("switchboard_db_pool_connections", "state" => "idle")
        .set(f64::from(state.idle_connections));
    match db::run(&pool, sessions::count_live).await {
        Ok(live) => metrics::gauge!("switchboard_sessions_live").set(live as f64),
        Err(err) => tracing::warn!(error = %err.chain(), "cannot count live sessions"),
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(handle.render())
}
