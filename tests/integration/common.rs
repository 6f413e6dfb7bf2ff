//! Test support: a fresh database per test (a SQLite file, or a new PostgreSQL database that
//! is dropped afterwards), the real App over it with the demo workspace, and a client that
//! keeps cookies and the CSRF token like a browser.
//!
//! PostgreSQL: `SWITCHBOARD_TEST_POSTGRES` names the server (a URL of any database on it);
//! default `postgres://postgres@127.0.0.1:5432/postgres`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::ops::Range;
use std::rc::Rc;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::{Method, StatusCode, header};
use actix_web::{test, web};
use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};
use futures_util::future::LocalBoxFuture;
use switchboard::config::Config;
use switchboard::core::ids::CompanyId;
use switchboard::db::{self, DbConnection};
use switchboard::{AppState, app};

pub const PASSWORD: &str = "Harbor-Lantern-42!";

pub use crate::database::{Backend, TestDatabase};

/// Connections opened as the panel opens its own (`db::DbManager`: SQLite's busy timeout and
/// WAL, PostgreSQL's time zone), kept in a small pool of plain `DbConnection`s that diesel's
/// queries take as they are (`&mut app.conn()`).
pub struct Direct(db::DbManager);

pub type TestConn = diesel::r2d2::PooledConnection<Direct>;

impl Direct {
    fn pool(url: &db::DatabaseUrl) -> diesel::r2d2::Pool<Direct> {
        diesel::r2d2::Pool::builder()
            .max_size(4)
            .min_idle(Some(0))
            .build(Direct(db::DbManager::new(url.clone())))
            .expect("the test's connections")
    }
}

impl diesel::r2d2::ManageConnection for Direct {
    type Connection = DbConnection;
    type Error = diesel::ConnectionError;

    fn connect(&self) -> Result<DbConnection, diesel::ConnectionError> {
        self.0.connect_once()
    }

    fn is_valid(&self, _: &mut DbConnection) -> Result<(), diesel::ConnectionError> {
        Ok(())
    }

    fn has_broken(&self, _: &mut DbConnection) -> bool {
        false
    }
}

/// What a response looked like to the client.
#[derive(Debug)]
pub struct Page {
    pub status: StatusCode,
    pub headers: header::HeaderMap,
    pub body: String,
}

impl Page {
    pub fn location(&self) -> Option<&str> {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    #[track_caller]
    pub fn assert_status(&self, status: u16) -> &Self {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body:\n{}",
            &self.body[..self.body.len().min(3000)]
        );
        if status == 422 {
            // a form sent back with errors says, for a screen reader, which field each is about
            self.invalid_controls_point_to_their_messages();
        }
        self
    }

    /// Every control marked invalid names its messages, and every id a control points to
    /// is on the page exactly once (a screen reader reads the message with the field).
    /// Returns how many controls are marked invalid.
    #[track_caller]
    pub fn invalid_controls_point_to_their_messages(&self) -> usize {
        let control = regex::Regex::new(r"<(?:input|select|textarea)\b[^>]*>").unwrap();
        let described = regex::Regex::new(r#"aria-describedby="([^"]*)""#).unwrap();
        let mut invalid = 0;
        for tag in control.find_iter(&self.body).map(|m| m.as_str()) {
            let ids = described.captures(tag).map(|c| c[1].to_string());
            if tag.contains(r#"aria-invalid="true""#) {
                invalid += 1;
                let ids = ids.as_deref().unwrap_or_default();
                assert!(
                    ids.split(' ').any(|id| id.ends_with("-error")),
                    "{tag} is invalid but names no message"
                );
            }
            for id in ids.iter().flat_map(|ids| ids.split(' ')) {
                let found = self.body.matches(&format!(r#"id="{id}""#)).count();
                assert_eq!(found, 1, "{tag} points to {id:?}, found {found} times");
            }
        }
        invalid
    }

    #[track_caller]
    pub fn assert_contains(&self, text: &str) -> &Self {
        assert!(
            self.body.contains(text),
            "expected {text:?} in:\n{}",
            self.body
        );
        self
    }

    #[track_caller]
    pub fn assert_lacks(&self, text: &str) -> &Self {
        assert!(
            !self.body.contains(text),
            "did not expect {text:?} in:\n{}",
            self.body
        );
        self
    }

    /// Where the page's "next page" link (`id="next-page"`) goes, if it offers one.
    pub fn next_page(&self) -> Option<String> {
        let link = self.body.find("id=\"next-page\"")?;
        let start = self.body[..link].rfind("href=\"")? + "href=\"".len();
        let end = start + self.body[start..].find('"')?;
        Some(
            self.body[start..end]
                .replace("&amp;", "&")
                .replace("&#38;", "&"),
        )
    }

    /// The rows of the page's table, less its heading row.
    pub fn table_rows(&self) -> usize {
        self.body.matches("<tr>").count().saturating_sub(1)
    }

    /// The navigation's link targets.
    pub fn nav_links(&self) -> Vec<String> {
        let Some(start) = self.body.find("id=\"main-nav\"") else {
            return Vec::new();
        };
        let end = self.body[start..]
            .find("</nav>")
            .map_or(self.body.len(), |e| start + e);
        self.body[start..end]
            .split("href=\"")
            .skip(1)
            .filter_map(|part| part.split('"').next())
            .map(String::from)
            .collect()
    }
}

fn meta_csrf(body: &str) -> Option<String> {
    let marker = "<meta name=\"csrf-token\" content=\"";
    let start = body.find(marker)? + marker.len();
    let end = body[start..].find('"')? + start;
    Some(body[start..end].to_string())
}

type Call = Rc<dyn Fn(actix_http::Request) -> LocalBoxFuture<'static, Page>>;

/// The real App over a fresh database with the demo workspace.
pub struct TestApp {
    call: Call,
    pub state: web::Data<AppState>,
    pub backend: Backend,
    /// The test's own connections to the app's database, beside the app's pool.
    direct: diesel::r2d2::Pool<Direct>,
    // dropped last: the pool above closes before the database is removed
    _database: TestDatabase,
}

impl TestApp {
    pub async fn new(backend: Backend) -> Self {
        Self::with_config(backend, |_| {}).await
    }

    pub async fn with_config(backend: Backend, adjust: impl FnOnce(&mut Config)) -> Self {
        let database = TestDatabase::create(backend);
        let mut config = Config::local(database.url.clone());
        // two-factor secrets are sealed with a key from the configuration
        config.secret_key = Some(switchboard::core::sealing::SealingKey::random());
        adjust(&mut config);
        let url = database.url.clone();
        let pool = web::block(move || {
            let pool = db::connect(&url).expect("connect");
            let mut conn = pool.get().expect("connection");
            db::migrate(&mut conn).expect("migrate");
            switchboard::domain::demo::seed(&mut conn).expect("seed demo");
            pool
        })
        .await
        .expect("setup");
        let state = web::Data::new(AppState::new(pool, config).expect("state"));
        let rules = web::Data::new(switchboard::web::route_rules());
        let service = Rc::new(test::init_service(app(state.clone(), rules)).await);
        let call: Call = Rc::new(move |req| {
            let service = service.clone();
            Box::pin(async move {
                let response: ServiceResponse<BoxBody> = match service.call(req).await {
                    Ok(response) => response.map_into_boxed_body(),
                    Err(err) => {
                        let response = err.error_response();
                        return Page {
                            status: response.status(),
                            headers: response.headers().clone(),
                            body: body_text(response.into_body()).await,
                        };
                    }
                };
                let status = response.status();
                let headers = response.headers().clone();
                let body = body_text(response.into_body()).await;
                Page {
                    status,
                    headers,
                    body,
                }
            })
        });
        Self {
            call,
            state,
            backend,
            direct: Direct::pool(&database.url),
            _database: database,
        }
    }

    pub fn client(&self) -> Client {
        Client {
            call: self.call.clone(),
            cookies: HashMap::new(),
            csrf: None,
            peer: "127.0.0.1:40000".parse().expect("addr"),
            user_agent: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36".into(),
        }
    }

    /// A client signed in as `username` of `company` (asserts success).
    pub async fn signed_in(&self, company: &str, username: &str) -> Client {
        let mut client = self.client();
        let page = client.login(company, username, PASSWORD).await;
        assert_eq!(
            page.status,
            StatusCode::SEE_OTHER,
            "sign-in of {username} failed: {}",
            page.body
        );
        client
    }

    /// A connection of the test's own, as the command line or another instance would have:
    /// not one of the app's (what it writes, the app learns of as of another instance's
    /// change, `wait_for_change_elsewhere`).
    pub fn conn(&self) -> TestConn {
        self.direct.get().expect("connection")
    }

    /// The app's clock: tests move it instead of waiting or rewriting timestamps.
    pub fn clock(&self) -> &switchboard::core::clock::Clock {
        self.state.pool.clock()
    }

    /// After a test writes to the database behind the app's back, as another instance or the
    /// command line would: such a change reaches this instance's caches within `FRESH_FOR`, so
    /// the test moves the app's clock that far (its own changes act at once). The test app runs
    /// no watch of announced changes (`auth::change_watch`, which `serve` runs): its entries
    /// serve for `FRESH_FOR` at most, the rule a running panel falls back to.
    pub fn wait_for_change_elsewhere(&self) {
        self.clock().advance(
            chrono::TimeDelta::from_std(switchboard::auth::session_cache::FRESH_FOR)
                .expect("a short time"),
        );
    }
}

async fn body_text(body: impl MessageBody) -> String {
    match actix_web::body::to_bytes(body).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(_) => String::new(),
    }
}

/// A browser-like client: keeps cookies, remembers the page's CSRF token.
pub struct Client {
    call: Call,
    pub cookies: HashMap<String, String>,
    pub csrf: Option<String>,
    pub peer: SocketAddr,
    pub user_agent: String,
}

impl Client {
    pub async fn request(
        &mut self,
        method: Method,
        path: &str,
        form: Option<&[(&str, &str)]>,
        extra: &[(&str, &str)],
    ) -> Page {
        let body = form.map(|form| serde_html_form::to_string(form).expect("form"));
        self.send(method, path, body, extra).await
    }

    /// A request with this urlencoded body exactly (`None`: no body), the cookies of this
    /// client and the extra headers.
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        form_body: Option<String>,
        extra: &[(&str, &str)],
    ) -> Page {
        let mut req = test::TestRequest::default()
            .method(method)
            .uri(path)
            .peer_addr(self.peer)
            .insert_header((header::USER_AGENT, self.user_agent.clone()));
        if !self.cookies.is_empty() {
            let cookie = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ");
            req = req.insert_header((header::COOKIE, cookie));
        }
        for (name, value) in extra {
            req = req.insert_header((name.to_string(), value.to_string()));
        }
        if let Some(body) = form_body {
            req = req
                .insert_header((header::CONTENT_TYPE, "application/x-www-form-urlencoded"))
                .set_payload(body);
        }
        let page = (self.call)(req.to_request()).await;
        for value in page.headers.get_all(header::SET_COOKIE) {
            let Ok(text) = value.to_str() else { continue };
            let Some((pair, attributes)) = text.split_once(';').or(Some((text, ""))) else {
                continue;
            };
            let Some((name, value)) = pair.split_once('=') else {
                continue;
            };
            let removed = attributes.contains("Max-Age=0") || value.is_empty();
            if removed {
                self.cookies.remove(name.trim());
            } else {
                self.cookies
                    .insert(name.trim().to_string(), value.trim().to_string());
            }
        }
        if let Some(token) = meta_csrf(&page.body) {
            self.csrf = Some(token);
        }
        page
    }

    /// A raw POST (JSON hooks): no cookies, no CSRF, just the body and headers given.
    pub async fn post_body(
        &mut self,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
        headers: &[(&str, &str)],
    ) -> Page {
        let mut req = test::TestRequest::post()
            .uri(path)
            .peer_addr(self.peer)
            .insert_header((header::CONTENT_TYPE, content_type.to_string()))
            .set_payload(body);
        for (name, value) in headers {
            req = req.insert_header((name.to_string(), value.to_string()));
        }
        (self.call)(req.to_request()).await
    }

    pub async fn get(&mut self, path: &str) -> Page {
        self.request(Method::GET, path, None, &[]).await
    }

    /// Posts a form with the current page's CSRF token, as the page's own form would.
    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let token = self.csrf.clone().unwrap_or_default();
        let mut form: Vec<(&str, &str)> = fields.to_vec();
        form.push(("csrf_token", &token));
        self.request(Method::POST, path, Some(&form), &[]).await
    }

    /// Posts a form exactly as given (no token added).
    pub async fn post_raw(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        self.request(Method::POST, path, Some(fields), &[]).await
    }

    /// Signs in through the form. The form's token is the one in its cookie (a signed-in
    /// browser is redirected away from `/login` but keeps that cookie).
    pub async fn login(&mut self, company: &str, username: &str, password: &str) -> Page {
        self.get("/login").await;
        let token = self
            .cookies
            .get("sb_login_csrf")
            .cloned()
            .unwrap_or_default();
        self.post_raw(
            "/login",
            &[
                ("company_code", company),
                ("username", username),
                ("password", password),
                ("csrf_token", &token),
            ],
        )
        .await
    }

    pub fn session_cookie(&self) -> Option<String> {
        self.cookies.get("switchboard_session").cloned()
    }
}

/// Generates a SQLite and a PostgreSQL test for each `async fn name(app: TestApp)`.
#[macro_export]
/// Every integration test runs twice, on SQLite and on PostgreSQL, as `<name>::sqlite` and
/// `<name>::postgres`. The test function takes what the form says:
/// - `on_both_databases!(a, b)`: `async fn a(app: TestApp)`, the App with the demo workspace;
/// - `on_both_databases!(backend: a, b)`: `async fn a(backend: Backend)`, for a test that
///   builds its own App;
/// - `on_both_databases!(sync: a, b)`: `fn a(backend: Backend)`, for the binary at the command
///   line;
/// - `on_both_databases!(browser: a, b)`: `async fn a(backend: Backend)` on a multi-threaded
///   runtime, for the real binary in Chromium.
macro_rules! on_both_databases {
    (backend: $($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[actix_web::test]
                async fn sqlite() {
                    super::$name($crate::common::Backend::Sqlite).await;
                }
                #[actix_web::test]
                async fn postgres() {
                    super::$name($crate::common::Backend::Postgres).await;
                }
            }
        )*
    };
    (browser: $($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test]
                async fn sqlite() {
                    super::$name($crate::common::Backend::Sqlite).await;
                }
                #[tokio::test]
                async fn postgres() {
                    super::$name($crate::common::Backend::Postgres).await;
                }
            }
        )*
    };
    (sync: $($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[test]
                fn sqlite() {
                    super::$name($crate::common::Backend::Sqlite);
                }
                #[test]
                fn postgres() {
                    super::$name($crate::common::Backend::Postgres);
                }
            }
        )*
    };
    ( $($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[actix_web::test]
                async fn sqlite() {
                    super::$name($crate::common::TestApp::new($crate::common::Backend::Sqlite).await).await;
                }
                #[actix_web::test]
                async fn postgres() {
                    super::$name($crate::common::TestApp::new($crate::common::Backend::Postgres).await).await;
                }
            }
        )*
    };
}
pub(crate) use on_both_databases;

/// A child process that is killed when the test ends, however it ends.
pub struct ChildGuard(pub std::process::Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub use crate::ports::free_port;

/// Waits until something answers on the port (at most `seconds`).
pub fn wait_for_port(port: u16, seconds: u64) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    while std::time::Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    false
}

/// The real `switchboard` binary with a fresh database and no inherited configuration.
pub fn switchboard(database: &TestDatabase) -> std::process::Command {
    configured(
        std::process::Command::new(env!("CARGO_BIN_EXE_switchboard")),
        database,
    )
}

/// The real binary as an unprivileged user, so that a file's mode binds it (root writes to a
/// read-only file anyway): through `setpriv` as `nobody` when the tests run as root.
pub fn switchboard_unprivileged(database: &TestDatabase) -> std::process::Command {
    let root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.starts_with(b"0\n"));
    if !root {
        return switchboard(database);
    }
    let mut command = std::process::Command::new("setpriv");
    command.args([
        "--reuid=nobody",
        "--regid=nogroup",
        "--clear-groups",
        env!("CARGO_BIN_EXE_switchboard"),
    ]);
    configured(command, database)
}

fn configured(
    mut command: std::process::Command,
    database: &TestDatabase,
) -> std::process::Command {
    command
        .env_remove("SWITCHBOARD_BIND")
        .env_remove("SWITCHBOARD_PASSWORD")
        .env_remove("DATABASE_URL")
        .env_remove("SWITCHBOARD_SECRET_KEY")
        .env_remove("SWITCHBOARD_SECRET_KEY_FILE")
        .env("SWITCHBOARD_DATABASE_URL", database.url_string())
        .env("SWITCHBOARD_LOG", "warn");
    command
}

/// The real binary serving the demo workspace on a database of its own, with extra
/// environment (e.g. trusted proxies), killed when dropped.
pub struct DemoServer {
    pub backend: Backend,
    pub base: String,
    // killed before the database is dropped (fields drop in order)
    _server: ChildGuard,
    pub database: TestDatabase,
}

impl DemoServer {
    pub fn start(backend: Backend, env: &[(&str, &str)]) -> Self {
        let database = TestDatabase::create(backend);
        let port = free_port();
        let server = ChildGuard(
            switchboard(&database)
                .args(["demo", "--bind", &format!("127.0.0.1:{port}")])
                .envs(env.iter().copied())
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("start switchboard"),
        );
        assert!(wait_for_port(port, 60), "switchboard did not start");
        Self {
            backend,
            base: format!("http://127.0.0.1:{port}"),
            database,
            _server: server,
        }
    }

    pub fn conn(&self) -> switchboard::db::DbConnection {
        db::connect_single(&self.database.url).unwrap()
    }

    /// Sends SIGTERM, as a service manager stopping the panel would.
    pub fn terminate(&self) {
        let pid = self._server.0.id().to_string();
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(sent.success());
    }

    /// Waits for the server process to exit.
    pub fn wait(&mut self) -> std::process::ExitStatus {
        self._server.0.wait().expect("wait for switchboard")
    }

    /// A second instance of the real binary serving the same database (`serve`: no seeding),
    /// as a deployment behind a load balancer runs it; killed when dropped.
    pub fn another_instance(&self, env: &[(&str, &str)]) -> Instance {
        let port = free_port();
        let server = ChildGuard(
            switchboard(&self.database)
                .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
                .envs(env.iter().copied())
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("start switchboard"),
        );
        assert!(wait_for_port(port, 60), "the second instance did not start");
        Instance {
            base: format!("http://127.0.0.1:{port}"),
            _server: server,
        }
    }
}

/// Another process serving a `DemoServer`'s database.
pub struct Instance {
    pub base: String,
    _server: ChildGuard,
}

/// Gives a DEMO user a new custom role holding exactly `permissions`.
pub fn give_role(
    app: &TestApp,
    username: &str,
    name: &str,
    permissions: &[switchboard::core::permissions::Permission],
) {
    use diesel::ExpressionMethods;
    use switchboard::db::schema::users;
    let mut conn = app.conn();
    let permissions = permissions.iter().copied().collect();
    let role = switchboard::domain::roles::create(
        &mut conn,
        company_id(app, "DEMO"),
        name,
        None,
        permissions,
    )
    .unwrap();
    diesel::update(users::table.filter(users::id.eq(id_of(app, "DEMO", username))))
        .set(users::role_id.eq(role))
        .execute(&mut conn)
        .unwrap();
    app.wait_for_change_elsewhere();
}

/// A channel's inbound hook receiving `body` (JSON) with the channel's token.
pub async fn hook(
    client: &mut Client,
    channel_id: i64,
    token: &str,
    body: serde_json::Value,
) -> Page {
    client
        .post_body(
            &format!("/hooks/channels/{channel_id}/messages"),
            "application/json",
            body.to_string().into_bytes(),
            &[("Authorization", &format!("Bearer {token}"))],
        )
        .await
}

/// Lookups the tests share.
pub fn company_id(app: &TestApp, code: &str) -> CompanyId {
    switchboard::domain::companies::find_by_code(&mut app.conn(), code)
        .unwrap()
        .unwrap()
        .id
}

pub fn id_of(app: &TestApp, company: &str, username: &str) -> i64 {
    switchboard::domain::users::find_by_username(
        &mut app.conn(),
        company_id(app, company),
        username,
    )
    .unwrap()
    .unwrap()
    .id
    .0
}

pub fn role_id(app: &TestApp, company: &str, name: &str) -> i64 {
    switchboard::domain::roles::find_by_name(&mut app.conn(), company_id(app, company), name)
        .unwrap()
        .id
        .0
}

/// A channel's id and inbound-hook token, by name.
pub fn channel(app: &TestApp, name: &str) -> (i64, String) {
    use switchboard::db::schema::channels;
    channels::table
        .filter(channels::name.eq(name))
        .select((channels::id, channels::webhook_token))
        .first(&mut app.conn())
        .unwrap()
}

pub fn channel_id(app: &TestApp, name: &str) -> i64 {
    use switchboard::db::schema::channels;
    channels::table
        .filter(channels::name.eq(name))
        .select(channels::id)
        .first(&mut app.conn())
        .unwrap()
}

/// For tests of the real binary over HTTP: a client that keeps cookies and does not follow
/// redirects, like a browser whose every step the test checks.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The body of `url` as `http` reads it (GET).
pub async fn text_of(http: &reqwest::Client, url: String) -> String {
    http.get(url).send().await.unwrap().text().await.unwrap()
}

/// The CSRF token a page carries in its `csrf-token` meta element.
pub fn meta_token(page: &str) -> Option<String> {
    let marker = "name=\"csrf-token\" content=\"";
    let start = page.find(marker)? + marker.len();
    page[start..].split('"').next().map(str::to_string)
}

/// Signs in to DEMO on a running server as a browser does (the form, then the post); the
/// status of the answer (303 when it worked).
pub async fn http_sign_in(
    http: &reqwest::Client,
    base: &str,
    username: &str,
    password: &str,
) -> u16 {
    let form = http.get(format!("{base}/login")).send().await.unwrap();
    let token = meta_token(&form.text().await.unwrap()).unwrap_or_default();
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

/// One e-mail as a local SMTP sink received it.
#[derive(Clone, Debug)]
pub struct ReceivedMail {
    pub to: Vec<String>,
    /// The message as sent (headers and body).
    pub data: String,
}

/// A local SMTP server that accepts every message and keeps it: what the panel's mailer talks
/// to in tests, speaking just enough SMTP for a client (greeting, EHLO, MAIL, RCPT, DATA, QUIT).
pub struct SmtpSink {
    pub port: u16,
    received: std::sync::Arc<std::sync::Mutex<Vec<ReceivedMail>>>,
}

impl SmtpSink {
    pub fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let keep = received.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let keep = keep.clone();
                std::thread::spawn(move || Self::converse(stream, &keep));
            }
        });
        Self { port, received }
    }

    fn converse(
        stream: std::net::TcpStream,
        keep: &std::sync::Mutex<Vec<ReceivedMail>>,
    ) -> Option<()> {
        use std::io::{BufRead, BufReader, Write};
        let mut reader = BufReader::new(stream.try_clone().ok()?);
        let mut out = stream;
        out.write_all(b"220 sink ready\r\n").ok()?;
        let mut to = Vec::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).ok()? == 0 {
                return Some(());
            }
            let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
            match verb.as_str() {
                "EHLO" => out.write_all(b"250-sink\r\n250 8BITMIME\r\n").ok()?,
                "RCPT" => {
                    let address = line.trim().trim_start_matches(|c| c != '<');
                    to.push(address.trim_matches(|c| c == '<' || c == '>').to_string());
                    out.write_all(b"250 ok\r\n").ok()?
                }
                "DATA" => {
                    out.write_all(b"354 go on\r\n").ok()?;
                    let mut data = String::new();
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).ok()? == 0 {
                            return Some(());
                        }
                        if line == ".\r\n" {
                            break;
                        }
                        data.push_str(&line);
                    }
                    keep.lock().unwrap().push(ReceivedMail {
                        to: std::mem::take(&mut to),
                        data,
                    });
                    out.write_all(b"250 kept\r\n").ok()?
                }
                "QUIT" => {
                    out.write_all(b"221 bye\r\n").ok()?;
                    return Some(());
                }
                _ => out.write_all(b"250 ok\r\n").ok()?,
            }
        }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub fn received(&self) -> Vec<ReceivedMail> {
        self.received.lock().unwrap().clone()
    }

    /// Waits up to `seconds` for a message to `address` that contains `text`.
    pub fn wait_for(&self, address: &str, text: &str, seconds: u64) -> Option<ReceivedMail> {
        let until = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
        while std::time::Instant::now() < until {
            if let Some(mail) = self
                .received()
                .into_iter()
                .find(|mail| mail.to.iter().any(|to| to == address) && mail.data.contains(text))
            {
                return Some(mail);
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        None
    }
}

/// The summaries of the activity records of one action, oldest first.
pub fn audit_summaries(app: &TestApp, action: &str) -> Vec<String> {
    use switchboard::db::schema::audit_events;
    audit_events::table
        .filter(audit_events::action.eq(action))
        .order(audit_events::id)
        .select(audit_events::summary)
        .load(&mut app.conn())
        .unwrap()
}

/// The open conversations `user` holds, by id.
pub fn open_conversations_of(app: &TestApp, user: i64) -> Vec<i64> {
    use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};
    use switchboard::db::schema::conversations;
    conversations::table
        .filter(conversations::assignee_id.eq(user))
        .filter(conversations::status.eq("open"))
        .order(conversations::id)
        .select(conversations::id)
        .load(&mut app.conn())
        .unwrap()
}

/// Agents of the demo company named `{username}{n:02}` and `{display} {n:02}` for each `n`,
/// with alice's password, written as another instance would.
pub fn add_agents(app: &TestApp, (username, display): (&str, &str), numbers: Range<usize>) {
    use switchboard::db::schema::users;
    let demo = company_id(app, "DEMO");
    let agent = role_id(app, "DEMO", "Agent");
    let hash: Option<String> = users::table
        .find(id_of(app, "DEMO", "alice"))
        .select(users::password_hash)
        .first(&mut app.conn())
        .unwrap();
    let at = switchboard::domain::now();
    for n in numbers {
        diesel::insert_into(users::table)
            .values((
                users::company_id.eq(demo),
                users::username.eq(format!("{username}{n:02}")),
                users::display_name.eq(format!("{display} {n:02}")),
                users::password_hash.eq(hash.clone()),
                users::role_id.eq(agent),
                users::password_changed_at.eq(at),
                users::created_at.eq(at),
                users::updated_at.eq(at),
            ))
            .execute(&mut app.conn())
            .unwrap();
    }
    app.wait_for_change_elsewhere();
}

/// Records of the demo company's activity log, `action` and summaries `{label} record {n:03}`.
pub fn add_audit_records(
    app: &TestApp,
    (action, label): (&'static str, &str),
    numbers: Range<usize>,
) {
    let demo = company_id(app, "DEMO");
    switchboard::db::write_transaction(&mut app.conn(), |conn| {
        for n in numbers {
            switchboard::domain::audit::record(
                conn,
                switchboard::domain::audit::Entry {
                    company_id: demo,
                    actor: &switchboard::domain::Actor::cli(),
                    action,
                    target_type: "test",
                    target_id: None,
                    target_label: label,
                    summary: format!("{label} record {n:03}"),
                },
            )?;
        }
        Ok(())
    })
    .unwrap();
}
