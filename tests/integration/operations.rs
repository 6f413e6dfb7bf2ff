//! What an operator running the real binary sees: metrics on their own address, a request id
//! on every answer and error page, one JSON log line per request without secrets.

use std::process::Stdio;

use crate::common::on_both_databases;
use crate::common::{
    Backend, ChildGuard, PASSWORD, TestDatabase, free_port, switchboard, wait_for_port,
};

fn meta_token(page: &str) -> String {
    let marker = "name=\"csrf-token\" content=\"";
    let start = page.find(marker).map_or(0, |at| at + marker.len());
    page[start..]
        .split('"')
        .next()
        .unwrap_or_default()
        .to_string()
}

async fn sign_in(http: &reqwest::Client, base: &str, username: &str, password: &str) -> u16 {
    let form = http.get(format!("{base}/login")).send().await.unwrap();
    let token = meta_token(&form.text().await.unwrap());
    http.post(format!("{base}/login"))
        .form(&[
            ("company_code", "DEMO"),
            ("username", username),
            ("password", password),
            ("csrf_token", &token),
        ])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn operators_see_metrics_request_ids_and_json_logs(backend: Backend) {
    let database = TestDatabase::create(backend);
    let (port, metrics_port) = (free_port(), free_port());
    let log_path = std::env::temp_dir().join(format!(
        "sb_log_{}_{}.jsonl",
        std::process::id(),
        switchboard::core::secrets::random_hex(4)
    ));
    let log = std::fs::File::create(&log_path).unwrap();
    let server = ChildGuard(
        switchboard(&database)
            .args(["demo", "--bind", &format!("127.0.0.1:{port}")])
            .env(
                "SWITCHBOARD_METRICS_BIND",
                format!("127.0.0.1:{metrics_port}"),
            )
            .env("SWITCHBOARD_LOG_FORMAT", "json")
            .env("SWITCHBOARD_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    assert!(wait_for_port(port, 60) && wait_for_port(metrics_port, 10));
    let base = format!("http://127.0.0.1:{port}");

    // a day's traffic: sign-ins that work and fail, a page, an export, a lockout
    let sofia = browser();
    assert_eq!(sign_in(&sofia, &base, "sofia", PASSWORD).await, 303);
    let inbox = sofia
        .get(format!("{base}/conversations"))
        .send()
        .await
        .unwrap();
    assert_eq!(inbox.status().as_u16(), 200);
    let inbox_id = inbox.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    let export = sofia
        .get(format!("{base}/exports/activity.csv"))
        .send()
        .await
        .unwrap();
    assert_eq!(export.status().as_u16(), 200);
    export.text().await.unwrap();
    for _ in 0..10 {
        assert_eq!(
            sign_in(&browser(), &base, "bob", "Wrong-Password-99").await,
            401
        );
    }

    // every answer names its request; an error page shows the same id
    let missing = sofia
        .get(format!("{base}/no-such-page"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status().as_u16(), 404);
    let id = missing.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(id.len(), 16);
    assert_ne!(id, inbox_id);
    let page = missing.text().await.unwrap();
    assert!(page.contains(&format!("<code>{id}</code>")), "{page}");

    // metrics live on their own address only
    let on_panel = sofia.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(on_panel.status().as_u16(), 404);
    let metrics = reqwest::get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let series = |name: &str, labels: &[&str]| {
        metrics
            .lines()
            .any(|line| line.starts_with(name) && labels.iter().all(|l| line.contains(l)))
    };
    for (name, labels) in [
        (
            "switchboard_http_requests_total",
            &[
                "route=\"/conversations\"",
                "status=\"200\"",
                "method=\"GET\"",
            ][..],
        ),
        ("switchboard_http_requests_total", &["status=\"404\""][..]),
        (
            "switchboard_http_request_duration_seconds_bucket",
            &["route=\"/conversations\""][..],
        ),
        ("switchboard_sign_ins_total", &["outcome=\"ok\""][..]),
        (
            "switchboard_sign_ins_total",
            &["outcome=\"bad_password\""][..],
        ),
        ("switchboard_lockouts_total", &[][..]),
        ("switchboard_audit_appends_total", &[][..]),
        (
            "switchboard_export_rows_total",
            &["export=\"activity.csv\""][..],
        ),
        ("switchboard_sessions_live", &[][..]),
        ("switchboard_db_pool_connections", &["state=\"in_use\""][..]),
        ("switchboard_db_pool_checkout_seconds_bucket", &[][..]),
    ] {
        assert!(series(name, labels), "no {name} {labels:?} in:\n{metrics}");
    }
    assert!(series("switchboard_lockouts_total 1", &[]), "{metrics}");

    // one JSON object per request line, with what an operator needs and no secret
    drop(server);
    let logs = std::fs::read_to_string(&log_path).unwrap();
    let _ = std::fs::remove_file(&log_path);
    let requests: Vec<serde_json::Value> = logs
        .lines()
        .map(|line| {
            serde_json::from_str::<serde_json::Value>(line)
                .unwrap_or_else(|_| panic!("not JSON: {line}"))
        })
        .filter(|line| line["message"] == "request")
        .collect();
    let inbox_line = requests
        .iter()
        .find(|line| line["request_id"] == inbox_id.as_str())
        .expect("the inbox request is logged");
    assert_eq!(inbox_line["route"], "/conversations");
    assert_eq!(inbox_line["status"], 200);
    assert!(inbox_line["latency_ms"].as_f64().is_some());
    assert!(inbox_line["user_id"].as_i64().is_some());
    assert!(inbox_line["company_id"].as_i64().is_some());
    for secret in [
        PASSWORD,
        "Wrong-Password-99",
        "csrf_token",
        "switchboard_session=",
    ] {
        assert!(!logs.contains(secret), "the log holds {secret}");
    }
}

on_both_databases!(browser: operators_see_metrics_request_ids_and_json_logs);
