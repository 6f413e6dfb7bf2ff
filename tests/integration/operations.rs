//! What an operator running the real binary sees: metrics on their own address, a request id
//! on every answer and error page, one JSON log line per request without secrets.

use std::process::Stdio;

use crate::common::on_both_databases;
use crate::common::{
    Backend, ChildGuard, PASSWORD, TestApp, TestDatabase, free_port, http_client as browser,
    http_sign_in as sign_in, switchboard, wait_for_port,
};

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
    assert_eq!(sign_in(&browser(), &base, "alice", PASSWORD).await, 303);
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
    // the live sessions counted as the database holds them: sofia's and alice's, at least
    let live: i64 = {
        use diesel::prelude::*;
        use switchboard::db::schema::sessions;
        let mut conn = switchboard::db::connect_single(&database.url).unwrap();
        sessions::table
            .filter(sessions::revoked_at.is_null())
            .filter(sessions::expires_at.gt(chrono::Utc::now().naive_utc()))
            .count()
            .get_result(&mut conn)
            .unwrap()
    };
    assert!(live >= 2);
    assert!(
        metrics
            .lines()
            .any(|line| line == format!("switchboard_sessions_live {live}")),
        "{live} live sessions, metrics:\n{metrics}"
    );

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
    // once at start, how PostgreSQL is reached (db::transport); a SQLite file has no transport
    let told = logs.lines().any(|line| {
        serde_json::from_str::<serde_json::Value>(line).is_ok_and(|line| {
            line["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("PostgreSQL"))
        })
    });
    assert_eq!(told, matches!(backend, Backend::Postgres), "{logs}");
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

/// What the start-up advice about the connection to PostgreSQL is decided on
/// (`db::transport`): the server's own account of how the connection arrived, which must
/// agree with the URL the app was given (the tests' server is on this machine).
async fn the_database_says_how_the_app_reaches_it(app: TestApp) {
    use switchboard::db::DatabaseUrl;
    use switchboard::db::transport::{Transport, of_connection, ssl_mode};
    #[derive(diesel::QueryableByName)]
    struct Setting {
        #[diesel(sql_type = diesel::sql_types::Text)]
        ssl: String,
    }
    let transport = of_connection(&mut app.conn()).unwrap();
    let url = match &app.state.config.database {
        DatabaseUrl::Sqlite(_) => return assert_eq!(transport, None),
        DatabaseUrl::Postgres(url) => url.clone(),
    };
    let offered: Setting =
        diesel::RunQueryDsl::get_result(diesel::sql_query("SHOW ssl"), &mut *app.conn()).unwrap();
    let mode = ssl_mode(&url, std::env::var("PGSSLMODE").ok().as_deref());
    let tls = offered.ssl == "on" && !matches!(mode.as_str(), "disable" | "allow");
    let host = url::Url::parse(&url)
        .unwrap()
        .host_str()
        .unwrap_or("")
        .to_string();
    let expected = if host.is_empty() || host.starts_with("%2F") {
        Transport::Socket
    } else if ["127.0.0.1", "localhost", "[::1]"].contains(&host.as_str()) {
        Transport::Loopback { tls }
    } else {
        Transport::Network { tls }
    };
    assert_eq!(transport, Some(expected), "{url}");
}

on_both_databases!(the_database_says_how_the_app_reaches_it);

/// The deployment files name only settings the binary reads, probe a public route, and start
/// a command that exists (docker and systemd are not on the test machine: this is what can be
/// checked without them).
#[test]
fn deployment_files_agree_with_the_binary() {
    use actix_web::http::Method;
    use switchboard::access::Rule;
    let root = env!("CARGO_MANIFEST_DIR");
    let read = |path: &str| {
        std::fs::read_to_string(format!("{root}/{path}"))
            .unwrap_or_else(|err| panic!("{path}: {err}"))
    };
    let files = [
        ("Dockerfile", read("Dockerfile")),
        ("compose.yaml", read("compose.yaml")),
        (
            "deploy/switchboard.service",
            read("deploy/switchboard.service"),
        ),
        ("deploy/Caddyfile", read("deploy/Caddyfile")),
    ];
    let help = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout).into_owned();
    // read outside clap: the log filter, and the password of `company create` / `user create`
    let read_elsewhere = ["SWITCHBOARD_LOG", "SWITCHBOARD_PASSWORD"];
    for (name, text) in &files {
        let mut rest = text.as_str();
        while let Some(at) = rest.find("SWITCHBOARD_") {
            let variable: String = rest[at..]
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || *c == '_')
                .collect();
            rest = &rest[at + variable.len()..];
            assert!(
                help.contains(&format!("[env: {variable}="))
                    // a secret's value is never shown in the help
                    || help.contains(&format!("[env: {variable}]"))
                    || read_elsewhere.contains(&variable.as_str()),
                "{name} sets {variable}, which switchboard does not read"
            );
        }
    }
    // health checks probe a route anyone may open
    let rules = switchboard::web::route_rules();
    assert!(files[0].1.contains("/readyz") && files[3].1.contains("health_uri /readyz"));
    assert!(matches!(
        rules.rule(&Method::GET, "/readyz"),
        Some(Rule::Public)
    ));
    // a browser stays on one instance: another instance's copy of its session may be up to
    // FRESH_FOR old, without the message the last action left for the next page
    assert!(files[3].1.contains("lb_policy cookie"));
    // the unit starts a command the binary has
    let exec = files[2]
        .1
        .lines()
        .find_map(|line| line.strip_prefix("ExecStart="))
        .expect("ExecStart");
    let args: Vec<&str> = exec.split_whitespace().skip(1).collect();
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(&args)
        .arg("--help")
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "switchboard {args:?} is not a command");
    // both run the container's command as a user without privileges
    assert!(files[0].1.contains("\nUSER switchboard\n"));
    assert!(files[2].1.contains("DynamicUser=yes"));
}

/// Pages link their assets by version: that address is cached for a year, any other for an
/// hour; text assets are sent gzip-compressed to clients that accept it; pages themselves
/// are never compressed (they mix the CSRF token with what visitors type).
async fn assets_are_versioned_and_compressed(backend: Backend) {
    use std::io::Read as _;
    let server = crate::common::DemoServer::start(backend, &[]);
    let http = browser();
    let login = http
        .get(format!("{}/login", server.base))
        .header("Accept-Encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert!(
        login.headers().get("content-encoding").is_none(),
        "a page was compressed"
    );
    let page = login.text().await.unwrap();
    let marker = "href=\"/static/app.css?v=";
    let start = page
        .find(marker)
        .expect("the stylesheet is linked by version")
        + marker.len();
    let version: String = page[start..]
        .chars()
        .take_while(|c| c.is_ascii_hexdigit())
        .collect();
    assert_eq!(version.len(), 24);

    let css = |query: String, gzip: bool| {
        let mut request = http.get(format!("{}/static/app.css{query}", server.base));
        if gzip {
            request = request.header("Accept-Encoding", "gzip, deflate");
        }
        request.send()
    };
    let plain = css(format!("?v={version}"), false).await.unwrap();
    assert_eq!(
        plain.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert!(plain.headers().get("content-encoding").is_none());
    let original = plain.bytes().await.unwrap();
    let old = css("?v=0123456789abcdef01234567".into(), false)
        .await
        .unwrap();
    assert_eq!(old.headers()["cache-control"], "public, max-age=3600");

    let zipped = css(format!("?v={version}"), true).await.unwrap();
    assert_eq!(zipped.headers()["content-encoding"], "gzip");
    assert_eq!(zipped.headers()["vary"], "Accept-Encoding");
    let compressed = zipped.bytes().await.unwrap();
    assert!(compressed.len() < original.len());
    let mut unzipped = Vec::new();
    flate2::read::GzDecoder::new(&compressed[..])
        .read_to_end(&mut unzipped)
        .unwrap();
    assert_eq!(unzipped, original.to_vec());
    // a client that refuses gzip gets the file as it is
    let refused = http
        .get(format!("{}/static/app.css", server.base))
        .header("Accept-Encoding", "gzip;q=0")
        .send()
        .await
        .unwrap();
    assert!(refused.headers().get("content-encoding").is_none());
}

on_both_databases!(browser: assets_are_versioned_and_compressed);

/// The planner's statistics are kept on SQLite (no autovacuum there): `db::optimize`, run at
/// start and hourly, analyses the tables the pages filter.
async fn the_planner_has_statistics(app: crate::common::TestApp) {
    use diesel::prelude::*;
    use diesel::sql_types::BigInt;
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let mut conn = app.conn();
    switchboard::db::optimize(&mut conn).unwrap();
    if matches!(app.backend, Backend::Sqlite) {
        let analysed: Count = diesel::sql_query(
            "SELECT count(*) AS n FROM sqlite_stat1 WHERE tbl IN ('conversations', 'sessions')",
        )
        .get_result(&mut *conn)
        .unwrap();
        assert!(analysed.n > 0, "no statistics for the busiest tables");
    }
}

on_both_databases!(the_planner_has_statistics);
