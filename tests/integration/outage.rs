//! A PostgreSQL outage as the panel lives it: the database goes away under a running server
//! (through a TCP proxy the test controls), requests and `/readyz` answer 503 at once instead
//! of waiting out timeouts, and the server recovers by itself when the database is back.
//! The SQLite counterpart: the file turns read-only under a running server (a full or
//! remounted disk, an operator's mistake); pages still read, changes answer 503, and the
//! server writes again by itself once the file is writable.

use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::common::{
    Backend, ChildGuard, PASSWORD, TestDatabase, free_port, switchboard, switchboard_unprivileged,
    wait_for_port,
};

/// Forwards 127.0.0.1:`port` to the PostgreSQL server while up; when down, it refuses new
/// connections and cuts the open ones, as a crashed or restarting server would.
struct Proxy {
    port: u16,
    target: String,
    accept: Option<JoinHandle<()>>,
    links: std::sync::Arc<std::sync::Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    async fn start(target: String) -> Self {
        let mut proxy = Self {
            port: free_port(),
            target,
            accept: None,
            links: Default::default(),
        };
        proxy.up().await;
        proxy
    }

    async fn up(&mut self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).await.unwrap();
        let target = self.target.clone();
        let links = self.links.clone();
        self.accept = Some(tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let target = target.clone();
                let link = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                links.lock().unwrap().push(link);
            }
        }));
    }

    /// Stops accepting (the listener is dropped: connections are refused) and cuts every link.
    fn down(&mut self) {
        if let Some(accept) = self.accept.take() {
            accept.abort();
        }
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }
}

/// `host:port` of the test server, from its URL.
fn server_address(url: &str) -> String {
    let after_at = url.rsplit_once('@').map_or(url, |(_, rest)| rest);
    let host_port = after_at.split('/').next().unwrap_or(after_at);
    if host_port.contains(':') {
        host_port.to_string()
    } else {
        format!("{host_port}:5432")
    }
}

/// Starts `command` serving the demo workspace; the server, its address, and a browser
/// signed in there as sofia.
async fn serve_demo_as_sofia(
    command: std::process::Command,
) -> (ChildGuard, String, reqwest::Client) {
    let (server, base) = serve(command, "demo");
    let http = crate::common::http_client();
    assert_eq!(
        crate::common::http_sign_in(&http, &base, "sofia", PASSWORD).await,
        303
    );
    (server, base, http)
}

/// Starts `command` with the CLI command `cli` (`demo` seeds, `serve` does not) on a free
/// port; the server and its address once it listens.
fn serve(mut command: std::process::Command, cli: &str) -> (ChildGuard, String) {
    let port = free_port();
    let server = ChildGuard(
        command
            .args([cli, "--bind", &format!("127.0.0.1:{port}")])
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    assert!(wait_for_port(port, 60));
    (server, format!("http://127.0.0.1:{port}"))
}

async fn status(http: &reqwest::Client, url: String) -> (u16, Duration) {
    let started = Instant::now();
    let answer = http.get(url).send().await.map(|a| a.status().as_u16());
    (answer.unwrap_or(0), started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_outage_answers_503_at_once_and_recovers() {
    let database = TestDatabase::create(Backend::Postgres);
    let switchboard::db::DatabaseUrl::Postgres(url) = &database.url else {
        unreachable!()
    };
    let mut proxy = Proxy::start(server_address(url)).await;
    let address = server_address(url);
    let through_proxy = url.replacen(&address, &format!("127.0.0.1:{}", proxy.port), 1);
    let mut command = switchboard(&database);
    command.env("SWITCHBOARD_DATABASE_URL", &through_proxy);
    let (_server, base, http) = serve_demo_as_sofia(command).await;
    assert_eq!(status(&http, format!("{base}/conversations")).await.0, 200);
    // a second instance that has not seen sofia's session yet: it must read it from the
    // database, which is about to go away
    let mut second = switchboard(&database);
    second.env("SWITCHBOARD_DATABASE_URL", &through_proxy);
    let (_second, other) = serve(second, "serve");

    proxy.down();
    // the first request finds out (a short wait), every later one is answered at once
    let (first, _) = status(&http, format!("{base}/readyz")).await;
    assert_eq!(first, 503);
    // (not the inbox sofia just saw: the inbox cache may answer it for up to a second)
    for path in ["/readyz", "/conversations?status=closed", "/users"] {
        let (code, took) = status(&http, format!("{base}{path}")).await;
        assert_eq!(code, 503, "{path}");
        assert!(took < Duration::from_millis(1500), "{path} took {took:?}");
    }
    // where the session itself cannot be read, a signed-in page says so (503, the cookie
    // kept: the session may be fine) rather than sending sofia to sign in again, and the
    // public sign-in page still answers with the same cookie
    let (code, _) = status(&http, format!("{other}/conversations")).await;
    assert_eq!(code, 503, "a page whose session cannot be read");
    let (code, _) = status(&http, format!("{other}/login")).await;
    assert_eq!(code, 200, "the sign-in page while sessions cannot be read");

    proxy.up().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (code, _) = status(&http, format!("{base}/readyz")).await;
        if code == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not ready again after the database came back"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // the session survived the outage: it lives in the database
    assert_eq!(status(&http, format!("{base}/conversations")).await.0, 200);
}

/// A folder of the temporary directory that an unprivileged server may write in; removed
/// with everything in it when dropped.
struct SharedFolder(std::path::PathBuf);

impl SharedFolder {
    fn create() -> Self {
        use std::os::unix::fs::PermissionsExt;
        let path = std::env::temp_dir().join(format!(
            "sb_test_shared_{}_{}",
            std::process::id(),
            switchboard::core::secrets::random_hex(4)
        ));
        std::fs::create_dir(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777)).unwrap();
        Self(path)
    }
}

impl Drop for SharedFolder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn set_mode(path: &std::path::Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Failed sign-ins by `count` browsers at once, each a write (a login-history record); the
/// statuses they got.
async fn failed_sign_ins(base: &str, count: usize) -> Vec<u16> {
    let attempts = (0..count).map(|_| async {
        let http = crate::common::http_client();
        crate::common::http_sign_in(&http, base, "alice", "Wrong-Password-99").await
    });
    futures_util::future::join_all(attempts).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_sqlite_file_refuses_changes_and_recovers() {
    let folder = SharedFolder::create();
    let file = folder.0.join("switchboard.db");
    let database = TestDatabase::sqlite_at(file.clone());
    let mut command = switchboard_unprivileged(&database);
    // the failures below all come from one address, and check no password when locked
    command
        .env("SWITCHBOARD_LOGIN_FAILURE_LIMIT", "1000")
        .env("SWITCHBOARD_PASSWORD_QUEUE", "100");
    let (_server, base, http) = serve_demo_as_sofia(command).await;

    set_mode(&file, 0o444);
    // many at once, so the pool opens connections while the file is read-only
    let during = failed_sign_ins(&base, 24).await;
    assert!(
        during.iter().all(|code| [401, 503].contains(code)),
        "{during:?}"
    );
    // never a 500: what cannot be written now is a 503 the browser may try again
    let (page, _) = status(&http, format!("{base}/users")).await;
    assert!([200, 503].contains(&page), "{page}");

    set_mode(&file, 0o644);
    // back by itself within moments (new connections are tried again after a failed one
    // within a second), and then every change is accepted: three rounds of 24 in a row
    // without a refusal. A connection attempt that failed just before the file came back
    // makes the pool fail fast for up to a second (`db::Health`), and on a loaded machine such
    // a second can fall after a first clean round: what must hold is that the refusals stop
    // for good, which a read-only connection kept in the pool would prevent.
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut clean_rounds = 0;
    let mut last = Vec::new();
    while clean_rounds < 3 {
        assert!(
            Instant::now() < deadline,
            "still refusing changes: {last:?}"
        );
        last = failed_sign_ins(&base, 24).await;
        if last.iter().all(|code| *code == 401) {
            clean_rounds += 1;
        } else {
            assert!(
                last.iter().all(|code| [401, 503].contains(code)),
                "{last:?}"
            );
            clean_rounds = 0;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    assert_eq!(status(&http, format!("{base}/readyz")).await.0, 200);
}

/// PostgreSQL drops every connection of a running panel (a restart, a failover, an operator's
/// `pg_terminate_backend`). The pool hands a connection that came back well a moment ago out
/// again without asking the database first (`db::CHECKED_RECENTLY`), so a dropped one can
/// reach a request: that request answers 503, and the pool closes the connection rather than
/// keeping it. At most one failure per dropped connection, then every page answers again.
#[actix_web::test]
async fn a_dropped_connection_fails_one_request_at_most_and_is_replaced() {
    use diesel::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Ended {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        ended: bool,
    }
    let app = crate::common::TestApp::new(Backend::Postgres).await;
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    for _ in 0..3 {
        sofia.get("/conversations").await.assert_status(200);
    }
    let ended: Vec<Ended> = diesel::sql_query(
        "SELECT pg_terminate_backend(pid) AS ended FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .load(&mut app.conn())
    .expect("the panel's connections ended");
    let dropped = ended.iter().filter(|e| e.ended).count();
    assert!(dropped >= 1, "the panel had connections open");

    // the probe's one statement runs outside a transaction (diesel itself closes a connection
    // whose transaction failed): probes in a row, each on the connection the last one used
    let mut failures = 0;
    loop {
        match sofia.get("/readyz").await.status.as_u16() {
            200 => break,
            503 => failures += 1,
            other => panic!("/readyz answered {other}"),
        }
        assert!(
            failures <= dropped,
            "{failures} failures for {dropped} dropped connections"
        );
    }
    for _ in 0..10 {
        sofia.get("/conversations").await.assert_status(200);
    }
}
