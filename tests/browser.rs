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
        switchboard::auth::tokens::random_hex(6)
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

async fn sign_in_see_navigation_sign_out(backend: Backend) {
    let database = TestDatabase::create(backend);
    let port = free_port();
    let server = ChildGuard(
        switchboard(&database)
            .args(["demo", "--bind", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .spawn()
            .expect("start switchboard"),
    );
    assert!(wait_for_port(port, 60), "switchboard did not start");
    let base = format!("http://127.0.0.1:{port}");
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
    assert_eq!(nav, ["Conversations", "Users", "Settings", "My account"]);
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

#[tokio::test]
async fn browser_sign_in_navigation_sign_out_sqlite() {
    sign_in_see_navigation_sign_out(Backend::Sqlite).await;
}

#[tokio::test]
async fn browser_sign_in_navigation_sign_out_postgres() {
    sign_in_see_navigation_sign_out(Backend::Postgres).await;
}
