//! The real binary in headless Chromium (Debian's `chromium` and `chromium-driver`), on SQLite
//! and on PostgreSQL: sign in through the form, see the navigation, sign out.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on the unexpected

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Backend, ChildGuard, TestDatabase, free_port, switchboard, wait_for_port};
use fantoccini::{ClientBuilder, Locator};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

struct Browser {
    client: fantoccini::Client,
    _driver: ChildGuard,
    _profile: std::path::PathBuf,
}

async fn start_browser() -> Browser {
    assert!(
        std::path::Path::new(CHROMEDRIVER).exists(),
        "browser tests need Debian's chromium and chromium-driver: apt-get install chromium chromium-driver"
    );
    let port = free_port();
    let driver = ChildGuard(
        Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver"),
    );
    assert!(wait_for_port(port, 20), "chromedriver did not start");
    let profile = std::env::temp_dir().join(format!(
        "sb-chromium-{}",
        switchboard::core::secrets::random_hex(6)
    ));
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                "--window-size=1280,900",
                format!("--user-data-dir={}", profile.display()),
            ]
        }),
    );
    let client = ClientBuilder::native()
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a Chromium session");
    Browser {
        client,
        _driver: driver,
        _profile: profile,
    }
}

/// The real binary serving the demo workspace on a fresh database: (process, base URL).
fn start_demo(database: &TestDatabase) -> (ChildGuard, String) {
    let port = free_port();
    let server = ChildGuard(
        switchboard(database)
            .args(["demo", "--bind", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .spawn()
            .expect("start switchboard"),
    );
    assert!(wait_for_port(port, 60), "switchboard did not start");
    (server, format!("http://127.0.0.1:{port}"))
}

/// Fills the sign-in form and submits it.
async fn sign_in(
    c: &fantoccini::Client,
    base: &str,
    company: &str,
    username: &str,
    password: &str,
) {
    c.goto(&format!("{base}/login")).await.unwrap();
    let form = c
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Id("login-form"))
        .await
        .unwrap();
    form.find(Locator::Css("input[name=company_code]"))
        .await
        .unwrap()
        .send_keys(company)
        .await
        .unwrap();
    form.find(Locator::Css("input[name=username]"))
        .await
        .unwrap()
        .send_keys(username)
        .await
        .unwrap();
    form.find(Locator::Css("input[name=password]"))
        .await
        .unwrap()
        .send_keys(password)
        .await
        .unwrap();
    form.find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

async fn sign_in_see_navigation_sign_out(backend: Backend) {
    let database = TestDatabase::create(backend);
    let (server, base) = start_demo(&database);
    let browser = start_browser().await;
    let c = &browser.client;

    // a protected page sends the browser to the sign-in form
    c.goto(&format!("{base}/users")).await.unwrap();
    let form = c
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Id("login-form"))
        .await
        .unwrap();
    assert!(
        c.current_url()
            .await
            .unwrap()
            .as_str()
            .contains("/login?next=/users")
    );

    // a wrong password: the generic message, still on the form
    form.find(Locator::Css("input[name=company_code]"))
        .await
        .unwrap()
        .send_keys("DEMO")
        .await
        .unwrap();
    form.find(Locator::Css("input[name=username]"))
        .await
        .unwrap()
        .send_keys("sofia")
        .await
        .unwrap();
    form.find(Locator::Css("input[name=password]"))
        .await
        .unwrap()
        .send_keys("not-it")
        .await
        .unwrap();
    form.find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let error = c
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Id("login-error"))
        .await
        .unwrap();
    assert!(
        error
            .text()
            .await
            .unwrap()
            .contains("did not match an active account")
    );

    let form = c.find(Locator::Id("login-form")).await.unwrap();
    let password = form
        .find(Locator::Css("input[name=password]"))
        .await
        .unwrap();
    password.send_keys(common::PASSWORD).await.unwrap();
    form.find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();

    // back where it wanted to go, with the supervisor's navigation
    let table = c
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Id("users-table"))
        .await
        .unwrap();
    assert!(table.text().await.unwrap().contains("Bob Tanaka"));
    assert!(c.current_url().await.unwrap().as_str().ends_with("/users"));
    let mut nav = Vec::new();
    for link in c.find_all(Locator::Css("#main-nav a")).await.unwrap() {
        nav.push(link.text().await.unwrap().trim().to_string());
    }
    assert_eq!(
        nav,
        [
            "Conversations",
            "Calls",
            "Users",
            "Roles",
            "Channels",
            "Assignments",
            "Activity",
            "Login history",
            "Sessions",
            "Settings",
            "My account"
        ]
    );
    let who = c
        .find(Locator::Id("current-user"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(who.contains("Sofia Lindqvist"), "{who}");

    if let Ok(dir) = std::env::var("SWITCHBOARD_SCREENSHOTS") {
        let png = c.screenshot().await.unwrap();
        std::fs::write(format!("{dir}/users-{backend:?}.png"), png).unwrap();
    }

    // sign out ends the session: protected pages send it back to the form
    c.find(Locator::Id("sign-out"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Id("login-form"))
        .await
        .unwrap();
    c.goto(&format!("{base}/conversations")).await.unwrap();
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Id("login-form"))
        .await
        .unwrap();
    assert!(
        c.current_url()
            .await
            .unwrap()
            .as_str()
            .contains("/login?next=/conversations")
    );

    browser.client.clone().close().await.unwrap();
    drop(server);
}

/// A supervisor adds an agent with two channels through the form; the agent signs in, is
/// made to change the password, and sees the conversation list.
async fn supervisor_adds_an_agent_who_gets_to_work(backend: Backend) {
    let database = TestDatabase::create(backend);
    let (server, base) = start_demo(&database);
    let browser = start_browser().await;
    let c = &browser.client;
    let wait = || c.wait().at_most(Duration::from_secs(10));

    sign_in(c, &base, "DEMO", "sofia", common::PASSWORD).await;
    wait().for_element(Locator::Id("main-nav")).await.unwrap();
    c.goto(&format!("{base}/users")).await.unwrap();
    wait()
        .for_element(Locator::Id("add-user"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let form = wait()
        .for_element(Locator::Id("new-user-form"))
        .await
        .unwrap();
    form.find(Locator::Css("input[name=username]"))
        .await
        .unwrap()
        .send_keys("erin")
        .await
        .unwrap();
    form.find(Locator::Css("input[name=display_name]"))
        .await
        .unwrap()
        .send_keys("Erin Kowalski")
        .await
        .unwrap();
    form.find(Locator::Css("input[name=email]"))
        .await
        .unwrap()
        .send_keys("erin@demo.example")
        .await
        .unwrap();
    // Agent is preselected; tick two channels by their labels
    for label in c.find_all(Locator::Css("label.check")).await.unwrap() {
        let text = label.text().await.unwrap();
        if text.contains("WhatsApp Sales") || text.contains("Instagram") {
            label
                .find(Locator::Css("input"))
                .await
                .unwrap()
                .click()
                .await
                .unwrap();
        }
    }
    form.find(Locator::Css("input[name=password]"))
        .await
        .unwrap()
        .send_keys("Spruce-Lantern-Otter-62")
        .await
        .unwrap();
    form.find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let role = wait().for_element(Locator::Id("user-role")).await.unwrap();
    assert_eq!(role.text().await.unwrap(), "Agent");
    let body = c.source().await.unwrap();
    assert!(
        body.contains("Instagram, WhatsApp Sales"),
        "both channels on the user page"
    );
    if let Ok(dir) = std::env::var("SWITCHBOARD_SCREENSHOTS") {
        std::fs::write(
            format!("{dir}/user-{backend:?}.png"),
            c.screenshot().await.unwrap(),
        )
        .unwrap();
    }
    c.find(Locator::Id("sign-out"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait().for_element(Locator::Id("login-form")).await.unwrap();

    sign_in(c, &base, "DEMO", "erin", "Spruce-Lantern-Otter-62").await;
    let form = wait()
        .for_element(Locator::Id("password-form"))
        .await
        .unwrap();
    assert!(
        c.current_url()
            .await
            .unwrap()
            .as_str()
            .ends_with("/account")
    );
    form.find(Locator::Css("input[name=current_password]"))
        .await
        .unwrap()
        .send_keys("Spruce-Lantern-Otter-62")
        .await
        .unwrap();
    form.find(Locator::Css("input[name=new_password]"))
        .await
        .unwrap()
        .send_keys("Walnut-Harbor-Fjord-17")
        .await
        .unwrap();
    form.find(Locator::Css("input[name=confirm_password]"))
        .await
        .unwrap()
        .send_keys("Walnut-Harbor-Fjord-17")
        .await
        .unwrap();
    form.find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait().for_element(Locator::Css(".flash")).await.unwrap();
    c.find(Locator::Css("#main-nav a[href='/conversations']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let heading = wait().for_element(Locator::Css("main h1")).await.unwrap();
    assert_eq!(heading.text().await.unwrap(), "Conversations");
    assert!(
        c.current_url()
            .await
            .unwrap()
            .as_str()
            .ends_with("/conversations")
    );
    if let Ok(dir) = std::env::var("SWITCHBOARD_SCREENSHOTS") {
        std::fs::write(
            format!("{dir}/agent-{backend:?}.png"),
            c.screenshot().await.unwrap(),
        )
        .unwrap();
    }
    browser.client.clone().close().await.unwrap();
    drop(server);
}

/// A supervisor builds a custom role from the matrix and gives it to bob; bob's navigation
/// shows exactly the role's pages. On the way, an assignment cell toggles through htmx
/// without a page load (the CSP allows no inline script, so this proves htmx runs).
async fn custom_role_shapes_the_navigation(backend: Backend) {
    let database = TestDatabase::create(backend);
    let (server, base) = start_demo(&database);
    let browser = start_browser().await;
    let c = &browser.client;
    let wait = || c.wait().at_most(Duration::from_secs(10));

    sign_in(c, &base, "DEMO", "sofia", common::PASSWORD).await;
    wait().for_element(Locator::Id("main-nav")).await.unwrap();
    c.goto(&format!("{base}/roles")).await.unwrap();
    let form = wait()
        .for_element(Locator::Id("new-role-form"))
        .await
        .unwrap();
    form.find(Locator::Css("input[name=name]"))
        .await
        .unwrap()
        .send_keys("Team Lead")
        .await
        .unwrap();
    for key in ["users.view", "channels.view"] {
        form.find(Locator::Css(&format!("input[value='{key}']")))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }
    form.find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait()
        .for_element(Locator::Id("edit-role-form"))
        .await
        .unwrap();

    // give it to bob from his page
    c.goto(&format!("{base}/users?q=bob")).await.unwrap();
    wait()
        .for_element(Locator::LinkText("Bob Tanaka"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let role_form = wait().for_element(Locator::Id("role-form")).await.unwrap();
    role_form
        .find(Locator::Css("select[name=role_id]"))
        .await
        .unwrap()
        .select_by_label("Team Lead")
        .await
        .unwrap();
    role_form
        .find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // the flash exists only on the page after the change
    wait().for_element(Locator::Css(".flash")).await.unwrap();
    let role = c.find(Locator::Id("user-role")).await.unwrap();
    assert_eq!(role.text().await.unwrap(), "Team Lead");

    // htmx toggles a cell in place
    c.goto(&format!("{base}/assignments")).await.unwrap();
    let table = wait()
        .for_element(Locator::Id("assignments"))
        .await
        .unwrap();
    let marker = table.attr("id").await.unwrap();
    let first_off = c
        .find(Locator::Css("button.toggle[aria-pressed=false]"))
        .await
        .unwrap();
    let cell_id = c
        .execute(
            "return arguments[0].closest('td').id",
            vec![serde_json::to_value(&first_off).unwrap()],
        )
        .await
        .unwrap();
    let cell_id = cell_id.as_str().unwrap().to_string();
    first_off.click().await.unwrap();
    let selector = format!("#{cell_id} button[aria-pressed=true]");
    wait().for_element(Locator::Css(&selector)).await.unwrap();
    // the same document: no navigation happened
    assert_eq!(
        c.find(Locator::Id("assignments"))
            .await
            .unwrap()
            .attr("id")
            .await
            .unwrap(),
        marker
    );
    assert!(
        c.current_url()
            .await
            .unwrap()
            .as_str()
            .ends_with("/assignments")
    );
    c.find(Locator::Id("sign-out"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait().for_element(Locator::Id("login-form")).await.unwrap();

    sign_in(c, &base, "DEMO", "bob", common::PASSWORD).await;
    wait().for_element(Locator::Id("main-nav")).await.unwrap();
    let mut nav = Vec::new();
    for link in c.find_all(Locator::Css("#main-nav a")).await.unwrap() {
        nav.push(link.text().await.unwrap().trim().to_string());
    }
    assert_eq!(nav, ["Users", "Channels", "My account"]);
    assert!(c.current_url().await.unwrap().as_str().ends_with("/users"));
    browser.client.clone().close().await.unwrap();
    drop(server);
}

/// An agent opens a conversation, replies, and sees the reply appear without a page load.
async fn agent_replies_in_place(backend: Backend) {
    let database = TestDatabase::create(backend);
    let (server, base) = start_demo(&database);
    let browser = start_browser().await;
    let c = &browser.client;
    let wait = || c.wait().at_most(Duration::from_secs(10));

    sign_in(c, &base, "DEMO", "alice", common::PASSWORD).await;
    let table = wait()
        .for_element(Locator::Id("conversations-table"))
        .await
        .unwrap();
    table
        .find(Locator::Css("tbody a"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let form = wait().for_element(Locator::Id("reply-form")).await.unwrap();
    let url = c.current_url().await.unwrap();
    // a marker on this document: it survives only if the page is not reloaded
    c.execute(
        "document.body.dataset.marker = 'same-page'; return null;",
        vec![],
    )
    .await
    .unwrap();
    let before = c
        .find_all(Locator::Css("#timeline article"))
        .await
        .unwrap()
        .len();
    form.find(Locator::Css("textarea[name=body]"))
        .await
        .unwrap()
        .send_keys("Your parcel leaves today.")
        .await
        .unwrap();
    form.find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::XPath(
            "//section[@id='timeline']/article[contains(., 'Your parcel leaves today.')]",
        ))
        .await
        .unwrap();
    let after = c
        .find_all(Locator::Css("#timeline article"))
        .await
        .unwrap()
        .len();
    assert_eq!(after, before + 1);
    let marker = c
        .execute("return document.body.dataset.marker || null;", vec![])
        .await
        .unwrap();
    assert_eq!(
        marker.as_str(),
        Some("same-page"),
        "the page was not reloaded"
    );
    assert_eq!(c.current_url().await.unwrap(), url);
    // the form is fresh again
    let body = c
        .find(Locator::Css("#reply-form textarea[name=body]"))
        .await
        .unwrap();
    assert_eq!(body.prop("value").await.unwrap().unwrap_or_default(), "");
    if let Ok(dir) = std::env::var("SWITCHBOARD_SCREENSHOTS") {
        std::fs::write(
            format!("{dir}/reply-{backend:?}.png"),
            c.screenshot().await.unwrap(),
        )
        .unwrap();
    }
    browser.client.clone().close().await.unwrap();
    drop(server);
}

/// A supervisor ends an agent's session; the agent's next click lands on the sign-in page.
async fn supervisor_ends_an_agents_session(backend: Backend) {
    let database = TestDatabase::create(backend);
    let (server, base) = start_demo(&database);
    let agent = start_browser().await;
    let supervisor = start_browser().await;
    fn wait(c: &fantoccini::Client) -> fantoccini::wait::Wait<'_> {
        c.wait().at_most(Duration::from_secs(10))
    }

    sign_in(&agent.client, &base, "DEMO", "alice", common::PASSWORD).await;
    wait(&agent.client)
        .for_element(Locator::Id("conversations-table"))
        .await
        .unwrap();

    let s = &supervisor.client;
    sign_in(s, &base, "DEMO", "sofia", common::PASSWORD).await;
    wait(s).for_element(Locator::Id("main-nav")).await.unwrap();
    s.find(Locator::Css("#main-nav a[href='/sessions']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let table = wait(s)
        .for_element(Locator::Id("sessions-table"))
        .await
        .unwrap();
    let row = table
        .find(Locator::XPath(".//tr[contains(., '@alice')]"))
        .await
        .unwrap();
    row.find(Locator::Css("button.danger"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait(s).for_element(Locator::Css(".flash")).await.unwrap();
    let remaining = s
        .find(Locator::Id("sessions-table"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!remaining.contains("@alice"), "{remaining}");

    // alice clicks on, and is asked to sign in again
    let a = &agent.client;
    a.find(Locator::Css("#conversations-table tbody a"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait(a)
        .for_element(Locator::Id("login-form"))
        .await
        .unwrap();
    assert!(a.current_url().await.unwrap().path().ends_with("/login"));

    agent.client.clone().close().await.unwrap();
    supervisor.client.clone().close().await.unwrap();
    drop(server);
}

/// Generates a SQLite and a PostgreSQL browser test for each flow.
macro_rules! in_chromium_on_both_databases {
    ($($flow:ident),* $(,)?) => {
        $(
            mod $flow {
                #[tokio::test]
                async fn sqlite() {
                    super::$flow(super::Backend::Sqlite).await;
                }
                #[tokio::test]
                async fn postgres() {
                    super::$flow(super::Backend::Postgres).await;
                }
            }
        )*
    };
}

in_chromium_on_both_databases!(
    supervisor_ends_an_agents_session,
    agent_replies_in_place,
    custom_role_shapes_the_navigation,
    supervisor_adds_an_agent_who_gets_to_work,
    sign_in_see_navigation_sign_out,
);
