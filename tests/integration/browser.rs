//! The real binary in headless Chromium (Debian's `chromium` and `chromium-driver`), on SQLite
//! and on PostgreSQL. Each flow reads as the user's steps: `Demo::start` runs the binary on a
//! fresh database with the demo workspace, `Demo::browser` opens a Chromium window on it.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::on_both_databases;
use crate::common::{Backend, ChildGuard, DemoServer, PASSWORD, free_port, wait_for_port};
use fantoccini::elements::Element;
use fantoccini::{ClientBuilder, Locator};

mod page_checks;
use page_checks::every_page_passes_the_page_checkers;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// The new agent the supervisor adds in the Add user form.
const ERIN: &[(&str, &str)] = &[
    ("username", "erin"),
    ("display_name", "Erin Kowalski"),
    ("email", "erin@demo.example"),
    ("password", "Spruce-Lantern-Otter-62"),
];
/// How long a step may take to show its result.
const PATIENCE: Duration = Duration::from_secs(10);

/// The real binary with the demo workspace, and Chromium windows on it.
struct Demo {
    server: DemoServer,
}

impl Demo {
    fn start(backend: Backend) -> Self {
        Self {
            server: DemoServer::start(backend, &[]),
        }
    }

    /// A new Chromium window (its own profile, so its own cookies) on this demo.
    async fn browser(&self) -> Browser {
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
            c: client,
            base: self.server.base.clone(),
            backend: self.server.backend,
            _driver: driver,
            profile,
        }
    }
}

/// One Chromium window, driven by what a person does: go, fill, press, read.
struct Browser {
    c: fantoccini::Client,
    base: String,
    backend: Backend,
    _driver: ChildGuard,
    /// The window's own Chromium profile folder (its cookies), removed with it.
    profile: std::path::PathBuf,
}

/// chromedriver's guard ends the driver, not the Chromium it started: a test that fails before
/// `close()` would leave the browser running and its profile on disk (found: 171 Chromium
/// processes and 90 profiles after a day of runs). The profile's folder names it exactly.
impl Drop for Browser {
    fn drop(&mut self) {
        let _ = Command::new("pkill")
            .args(["-f", "--"])
            .arg(format!("--user-data-dir={}", self.profile.display()))
            .status();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

impl Browser {
    async fn go(&self, path: &str) {
        self.c.goto(&format!("{}{path}", self.base)).await.unwrap();
    }

    /// The element once it is on the page, found by CSS.
    async fn wait_for(&self, css: &str) -> Element {
        self.wait_for_element(Locator::Css(css), css).await
    }

    /// The element once it is on the page, found by XPath.
    async fn wait_for_xpath(&self, xpath: &str) -> Element {
        self.wait_for_element(Locator::XPath(xpath), xpath).await
    }

    async fn wait_for_element(&self, locator: Locator<'_>, what: &str) -> Element {
        self.c
            .wait()
            .at_most(PATIENCE)
            .for_element(locator)
            .await
            .unwrap_or_else(|err| panic!("{what} did not appear: {err}"))
    }

    async fn text(&self, css: &str) -> String {
        self.wait_for(css).await.text().await.unwrap()
    }

    /// Waits until the element with this id reads exactly `text` (after a page load).
    async fn wait_for_text(&self, id: &str, text: &str) {
        self.c
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::XPath(&format!(
                "//*[@id='{id}' and normalize-space(.)='{text}']"
            )))
            .await
            .unwrap_or_else(|err| panic!("#{id} never read {text}: {err}"));
    }

    /// Clicks the element as a person would: first brought to the middle of the window, where
    /// nothing pinned to its edges (the role editor's Save bar) covers it.
    async fn click(&self, css: &str) {
        let element = self.wait_for(css).await;
        self.c
            .execute(
                "arguments[0].scrollIntoView({block: 'center'}); return null;",
                vec![serde_json::to_value(&element).unwrap()],
            )
            .await
            .unwrap();
        element.click().await.unwrap();
    }

    /// Types into the named fields of a form.
    async fn fill(&self, form: &str, fields: &[(&str, &str)]) {
        let form = self.wait_for(form).await;
        for (name, value) in fields {
            form.find(Locator::Css(&format!("[name={name}]")))
                .await
                .unwrap()
                .send_keys(value)
                .await
                .unwrap();
        }
    }

    /// Picks the option with this label in a `<select>`.
    async fn choose(&self, select: &str, label: &str) {
        self.wait_for(select)
            .await
            .select_by_label(label)
            .await
            .unwrap();
    }

    /// Submits the form with its button. A form htmx sends (`data-hx-post`) changes the page in
    /// place; any other form loads a new page, and this returns once that page has replaced the
    /// old one: a test that reads straight after must never find the form it just sent (found:
    /// an error the old page showed, read as the answer's).
    async fn submit(&self, form: &str) {
        let sent_in_place = self
            .wait_for(form)
            .await
            .attr("data-hx-post")
            .await
            .unwrap()
            .is_some();
        if sent_in_place {
            self.click(&format!("{form} button[type=submit]")).await;
            return;
        }
        self.mark_document().await;
        self.click(&format!("{form} button[type=submit]")).await;
        self.wait_for_new_page(form).await;
    }

    /// Follows a link (or presses a button that loads a page): returns once the new page has
    /// replaced this one, so nothing read next can come from the page left behind.
    async fn follow(&self, css: &str) {
        self.mark_document().await;
        self.click(css).await;
        self.wait_for_new_page(css).await;
    }

    /// Waits until a page load has replaced the document `mark_document` marked.
    async fn wait_for_new_page(&self, after: &str) {
        let deadline = std::time::Instant::now() + PATIENCE;
        while self.still_marked().await {
            assert!(
                std::time::Instant::now() < deadline,
                "{after}: the answer's page never came"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    async fn sign_in(&self, company: &str, username: &str, password: &str) {
        self.go("/login").await;
        self.fill(
            "#login-form",
            &[
                ("company_code", company),
                ("username", username),
                ("password", password),
            ],
        )
        .await;
        self.submit("#login-form").await;
    }

    async fn sign_out(&self) {
        self.click("#sign-out").await;
        self.wait_for("#login-form").await;
    }

    /// The labels of the navigation, in order.
    async fn navigation(&self) -> Vec<String> {
        self.wait_for("#main-nav").await;
        let mut labels = Vec::new();
        for link in self.c.find_all(Locator::Css("#main-nav a")).await.unwrap() {
            // a counter beside a label is not part of it
            let text = link.text().await.unwrap();
            labels.push(
                text.trim()
                    .trim_end_matches(|c: char| c.is_ascii_digit() || c.is_whitespace())
                    .to_string(),
            );
        }
        labels
    }

    async fn url(&self) -> String {
        self.c.current_url().await.unwrap().to_string()
    }

    async fn count(&self, css: &str) -> usize {
        self.c.find_all(Locator::Css(css)).await.unwrap().len()
    }

    /// What `script` answers once htmx has settled: asked again until it is a string, at
    /// most `PATIENCE` (htmx moves the focus after its settle delay, not at the swap).
    async fn settled(&self, script: &str) -> Option<String> {
        let deadline = std::time::Instant::now() + PATIENCE;
        loop {
            let answer = self.c.execute(script, vec![]).await.unwrap();
            if let Some(text) = answer.as_str() {
                return Some(text.to_string());
            }
            if std::time::Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Marks the current document; `still_marked` is true only while no page load replaced it.
    async fn mark_document(&self) {
        self.c
            .execute(
                "document.body.dataset.marker = 'same-page'; return null;",
                vec![],
            )
            .await
            .unwrap();
    }

    async fn still_marked(&self) -> bool {
        let marker = self
            .c
            .execute(
                "return (document.body && document.body.dataset.marker) || null;",
                vec![],
            )
            .await
            .unwrap();
        marker.as_str() == Some("same-page")
    }

    /// A screenshot in `$SWITCHBOARD_SCREENSHOTS`, when it names a folder.
    async fn screenshot(&self, name: &str) {
        if let Ok(dir) = std::env::var("SWITCHBOARD_SCREENSHOTS") {
            let png = self.c.screenshot().await.unwrap();
            std::fs::write(format!("{dir}/{name}-{:?}.png", self.backend), png).unwrap();
        }
    }

    async fn close(self) {
        // a clone of the handle: the Browser's own drop then removes the profile
        self.c.clone().close().await.unwrap();
    }
}

async fn sign_in_see_navigation_sign_out(backend: Backend) {
    let demo = Demo::start(backend);
    let b = demo.browser().await;

    // a protected page sends the browser to the sign-in form
    b.go("/users").await;
    b.wait_for("#login-form").await;
    assert!(b.url().await.contains("/login?next=/users"));

    // a wrong password: the generic message, still on the form
    b.fill(
        "#login-form",
        &[
            ("company_code", "DEMO"),
            ("username", "sofia"),
            ("password", "not-it"),
        ],
    )
    .await;
    b.submit("#login-form").await;
    assert!(
        b.text("#login-error")
            .await
            .contains("did not match an active account")
    );

    // the right one: back where it wanted to go, with the supervisor's navigation
    b.fill("#login-form", &[("password", PASSWORD)]).await;
    b.submit("#login-form").await;
    assert!(b.text("#users-table").await.contains("Bob Tanaka"));
    assert!(b.url().await.ends_with("/users"));
    assert_eq!(
        b.navigation().await,
        [
            "Conversations",
            "Calls",
            "Users",
            "Roles",
            "Teams",
            "Channels",
            "Assignments",
            "Reports",
            "Templates",
            "Broadcasts",
            "Activity",
            "Login history",
            "Sessions",
            "Access reviews",
            "Privacy",
            "Settings",
            "Notifications",
            "My account"
        ]
    );
    let who = b.text("#current-user").await;
    assert!(who.contains("Sofia Lindqvist"), "{who}");
    b.screenshot("users").await;

    // sign out ends the session: protected pages send it back to the form
    b.sign_out().await;
    b.go("/conversations").await;
    b.wait_for("#login-form").await;
    assert!(b.url().await.contains("/login?next=/conversations"));
    b.close().await;
}

/// A supervisor adds an agent with two channels through the form; the agent signs in, is
/// made to change the password, and sees the conversation list.
async fn supervisor_adds_an_agent_who_gets_to_work(backend: Backend) {
    let demo = Demo::start(backend);
    let b = demo.browser().await;

    b.sign_in("DEMO", "sofia", PASSWORD).await;
    b.wait_for("#main-nav").await;
    b.go("/users").await;
    b.follow("#add-user").await;
    b.fill("#new-user-form", ERIN).await;
    // Agent is preselected; tick two channels by their labels
    for label in b.c.find_all(Locator::Css("label.check")).await.unwrap() {
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
    b.submit("#new-user-form").await;
    assert_eq!(b.text("#user-role").await, "Agent");
    assert!(
        b.c.source()
            .await
            .unwrap()
            .contains("Instagram, WhatsApp Sales"),
        "both channels on the user page"
    );
    b.screenshot("user").await;
    b.sign_out().await;

    // erin's first sign-in asks for a password of her own
    b.sign_in("DEMO", "erin", "Spruce-Lantern-Otter-62").await;
    b.wait_for("#password-form").await;
    assert!(b.url().await.ends_with("/account"));
    b.fill(
        "#password-form",
        &[
            ("current_password", "Spruce-Lantern-Otter-62"),
            ("new_password", "Walnut-Harbor-Fjord-17"),
            ("confirm_password", "Walnut-Harbor-Fjord-17"),
        ],
    )
    .await;
    b.submit("#password-form").await;
    b.wait_for(".flash").await;
    b.follow("#main-nav a[href='/conversations']").await;
    assert_eq!(b.text("main h1").await, "Conversations");
    assert!(b.url().await.ends_with("/conversations"));
    b.screenshot("agent").await;
    b.close().await;
}

/// A supervisor builds a custom role from the matrix and gives it to bob; bob's navigation
/// shows exactly the role's pages. On the way, an assignment cell toggles through htmx
/// without a page load (the CSP allows no inline script, so this proves htmx runs).
async fn custom_role_shapes_the_navigation(backend: Backend) {
    let demo = Demo::start(backend);
    let b = demo.browser().await;

    b.sign_in("DEMO", "sofia", PASSWORD).await;
    b.wait_for("#main-nav").await;
    b.go("/roles").await;
    b.fill("#new-role-form", &[("name", "Shift Lead")]).await;
    for key in ["users.view", "channels.view"] {
        b.click(&format!("#new-role-form input[value='{key}']"))
            .await;
    }
    b.submit("#new-role-form").await;
    b.wait_for("#edit-role-form").await;
    b.screenshot("role").await;
    // every permission and Save fit a laptop's window (1280 × 900) without scrolling, and
    // Save is not drawn over
    let fits = "const button = document.querySelector('#edit-role-form button.primary'); \
         const r = button.getBoundingClientRect(); \
         const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2); \
         const bar = document.querySelector('#edit-role-form .sticky-actions').getBoundingClientRect(); \
         const matrix = document.querySelector('#permission-matrix').getBoundingClientRect(); \
         return window.scrollY === 0 && matrix.bottom <= bar.top \
           && bar.bottom <= window.innerHeight && button.contains(hit);";
    assert_eq!(
        b.c.execute(fits, vec![]).await.unwrap().as_bool(),
        Some(true),
        "the role editor does not fit the window"
    );
    // on a phone it cannot fit: Save stays on screen all the same, not drawn over
    b.c.set_window_size(390, 844).await.unwrap();
    let in_reach = "const button = document.querySelector('#edit-role-form button.primary'); \
         const r = button.getBoundingClientRect(); \
         const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2); \
         return document.documentElement.scrollHeight > window.innerHeight \
           && r.bottom <= window.innerHeight && button.contains(hit);";
    assert_eq!(
        b.c.execute(in_reach, vec![]).await.unwrap().as_bool(),
        Some(true),
        "Save role is off screen on a phone"
    );
    b.c.set_window_size(1280, 900).await.unwrap();

    // give it to bob from his page
    b.go("/users?q=bob").await;
    b.c.wait()
        .at_most(PATIENCE)
        .for_element(Locator::LinkText("Bob Tanaka"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.choose("#role-form select[name=role_id]", "Shift Lead")
        .await;
    b.submit("#role-form").await;
    // the flash exists only on the page after the change
    b.wait_for(".flash").await;
    assert_eq!(b.text("#user-role").await, "Shift Lead");

    // htmx toggles a cell in place: the document survives, the cell changes
    b.go("/assignments").await;
    b.wait_for("#assignments").await;
    b.mark_document().await;
    let first_off = b.wait_for("button.toggle[aria-pressed=false]").await;
    let cell_id =
        b.c.execute(
            "return arguments[0].closest('td').id",
            vec![serde_json::to_value(&first_off).unwrap()],
        )
        .await
        .unwrap();
    let cell_id = cell_id.as_str().unwrap().to_string();
    first_off.click().await.unwrap();
    b.wait_for(&format!("#{cell_id} button[aria-pressed=true]"))
        .await;
    assert!(b.still_marked().await, "the page was not reloaded");
    // the focus stays on the toggle just pressed, not on <body>
    let focused = b
        .settled(
            "return document.activeElement.closest('td') ? document.activeElement.closest('td').id : null;",
        )
        .await;
    assert_eq!(focused.as_deref(), Some(cell_id.as_str()));
    assert!(b.url().await.ends_with("/assignments"));
    b.sign_out().await;

    b.sign_in("DEMO", "bob", PASSWORD).await;
    assert_eq!(
        b.navigation().await,
        ["Users", "Channels", "Notifications", "My account"]
    );
    assert!(b.url().await.ends_with("/users"));
    b.close().await;
}

/// An agent opens a conversation, replies, and sees the reply appear without a page load.
async fn agent_replies_in_place(backend: Backend) {
    let demo = Demo::start(backend);
    let b = demo.browser().await;

    b.sign_in("DEMO", "alice", PASSWORD).await;
    b.follow("#conversations-table tbody a").await;
    b.wait_for("#reply-form").await;
    let url = b.url().await;
    b.mark_document().await;
    let before = b.count("#timeline article").await;
    b.fill("#reply-form", &[("body", "Your parcel leaves today.")])
        .await;
    b.submit("#reply-form").await;
    b.wait_for_xpath("//section[@id='timeline']/article[contains(., 'Your parcel leaves today.')]")
        .await;
    assert_eq!(b.count("#timeline article").await, before + 1);
    assert!(b.still_marked().await, "the page was not reloaded");
    assert_eq!(b.url().await, url);
    // the form is fresh again
    let body = b.wait_for("#reply-form textarea[name=body]").await;
    assert_eq!(body.prop("value").await.unwrap().unwrap_or_default(), "");
    // the composer keeps the focus, and Ctrl+Enter sends the next one
    let focused = b
        .settled("return document.activeElement.name || null;")
        .await;
    assert_eq!(focused.as_deref(), Some("body"), "focus left the composer");
    body.send_keys("And the invoice is attached.\u{E009}\u{E007}\u{E000}")
        .await
        .unwrap();
    b.wait_for_xpath(
        "//section[@id='timeline']/article[contains(., 'And the invoice is attached.')]",
    )
    .await;
    assert_eq!(b.count("#timeline article").await, before + 2);
    b.screenshot("reply").await;
    b.close().await;
}

/// A supervisor ends an agent's session; the agent's next click lands on the sign-in page.
async fn supervisor_ends_an_agents_session(backend: Backend) {
    let demo = Demo::start(backend);
    let agent = demo.browser().await;
    let supervisor = demo.browser().await;

    agent.sign_in("DEMO", "alice", PASSWORD).await;
    agent.wait_for("#conversations-table").await;

    supervisor.sign_in("DEMO", "sofia", PASSWORD).await;
    supervisor.click("#main-nav a[href='/sessions']").await;
    let table = supervisor.wait_for("#sessions-table").await;
    // ending asks once more: open the row's choice, then end
    let row = table
        .find(Locator::XPath(".//tr[contains(., '@alice')]"))
        .await
        .unwrap();
    row.find(Locator::Css("details.confirm summary"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    row.find(Locator::Css("button.danger"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    supervisor.wait_for(".flash").await;
    let remaining = supervisor.text("#sessions-table").await;
    assert!(!remaining.contains("@alice"), "{remaining}");

    // alice's open list notices at its next live poll (every 2 s) and takes her to the
    // sign-in page, saying why, before she clicks anything
    agent.wait_for("#login-form").await;
    assert_eq!(
        agent.text("#login-notice").await,
        "You were signed out by an administrator."
    );
    assert!(
        agent
            .c
            .current_url()
            .await
            .unwrap()
            .path()
            .ends_with("/login")
    );

    agent.close().await;
    supervisor.close().await;
}

/// The page's width beyond the window: 0 when nothing scrolls sideways.
async fn sideways(b: &Browser) -> i64 {
    b.c.execute(
        "return document.documentElement.scrollWidth - window.innerWidth;",
        vec![],
    )
    .await
    .unwrap()
    .as_i64()
    .unwrap_or(i64::MAX)
}

/// On a phone (390 px wide): no page scrolls sideways, every page of the navigation is on
/// screen, and an agent types and sends a reply with nothing drawn over the composer.
async fn an_agent_works_on_a_phone(backend: Backend) {
    let demo = Demo::start(backend);
    let b = demo.browser().await;
    b.c.set_window_size(390, 844).await.unwrap();

    // a supervisor's every page, and the pages behind them
    b.sign_in("DEMO", "sofia", PASSWORD).await;
    b.wait_for("#main-nav").await;
    let links: Vec<String> = {
        let mut hrefs = Vec::new();
        for link in b.c.find_all(Locator::Css("#main-nav a")).await.unwrap() {
            hrefs.push(link.attr("href").await.unwrap().unwrap_or_default());
        }
        hrefs
    };
    assert!(links.len() >= 10, "{links:?}");
    let on_screen = b
        .c
        .execute(
            "return [...document.querySelectorAll('#main-nav a')].every(a => { \
               const r = a.getBoundingClientRect(); return r.left >= 0 && r.right <= window.innerWidth; });",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        on_screen.as_bool(),
        Some(true),
        "navigation runs off the screen"
    );
    let mut pages = links.clone();
    pages.extend(["/users/1".to_string(), "/conversations/1".to_string()]);
    for path in &pages {
        b.go(path).await;
        b.wait_for("main").await;
        assert!(sideways(&b).await <= 0, "{path} scrolls sideways at 390 px");
    }
    b.sign_out().await;

    // an agent answers a customer
    b.sign_in("DEMO", "alice", PASSWORD).await;
    b.follow("#conversations-table tbody a").await;
    b.wait_for("#reply-form").await;
    assert!(sideways(&b).await <= 0, "the conversation scrolls sideways");
    let uncovered =
        b.c.execute(
            "const button = document.querySelector('#reply-form button.primary'); \
             button.scrollIntoView({block: 'center'}); \
             const r = button.getBoundingClientRect(); \
             const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2); \
             return r.width > 100 && button.contains(hit);",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        uncovered.as_bool(),
        Some(true),
        "something is drawn over Send to customer"
    );
    b.fill("#reply-form", &[("body", "Sent from my phone.")])
        .await;
    b.click("#reply-form button.primary").await;
    b.wait_for_xpath("//section[@id='timeline']/article[contains(., 'Sent from my phone.')]")
        .await;
    b.screenshot("phone-reply").await;
    b.close().await;
}

/// An htmx action the server refuses says so on the page: a reply to a conversation that was
/// just handed to someone else gets 404, and the agent reads why instead of nothing.
async fn a_refused_action_says_why(backend: Backend) {
    use diesel::prelude::*;
    use switchboard::db::schema::{conversations, users};
    let demo = Demo::start(backend);
    let b = demo.browser().await;
    b.sign_in("DEMO", "alice", PASSWORD).await;
    b.follow("#conversations-table tbody a").await;
    b.wait_for("#reply-form").await;
    let url = b.url().await;
    let id: i64 = url.rsplit('/').next().unwrap().parse().unwrap();
    // meanwhile a supervisor hands it to bob
    let mut conn = demo.server.conn();
    let bob: i64 = users::table
        .filter(users::username.eq("bob"))
        .order(users::id)
        .select(users::id)
        .first(&mut conn)
        .unwrap();
    diesel::update(conversations::table.find(id))
        .set(conversations::assignee_id.eq(Some(bob)))
        .execute(&mut conn)
        .unwrap();
    b.mark_document().await;
    b.fill("#reply-form", &[("body", "Are you still there?")])
        .await;
    b.click("#reply-form button.primary").await;
    b.wait_for_xpath("//div[@id='action-error'][contains(., 'Not found')]")
        .await;
    assert!(b.still_marked().await);
    // the page's own poll (every 2 s) does not wipe the message
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(b.text("#action-error").await.contains("Not found"));
    // the typed text is still there to copy, and the button works again
    let body = b.wait_for("#reply-form textarea[name=body]").await;
    assert_eq!(
        body.prop("value").await.unwrap().unwrap_or_default(),
        "Are you still there?"
    );
    let send = b.wait_for("#reply-form button.primary").await;
    assert!(send.is_enabled().await.unwrap());
    b.close().await;
}

/// A supervisor reads the reports: figures, the charts drawn as SVG in the page (the content
/// security policy allows no chart script), and filters that stay in the address.
async fn a_supervisor_reads_the_reports(backend: Backend) {
    let demo = Demo::start(backend);
    let b = demo.browser().await;
    b.sign_in("DEMO", "sofia", PASSWORD).await;
    b.wait_for("#main-nav").await;
    b.follow("#main-nav a[href='/reports']").await;
    let opened = b.text("#total-opened").await;
    assert!(opened.parse::<i64>().unwrap() > 0, "opened: {opened}");
    // the last 7 days: two bars a day; the heat map: 7 days of 24 hours
    assert_eq!(b.count("#days-chart rect").await, 14);
    assert_eq!(b.count("#heat-map rect").await, 7 * 24);
    let drawn =
        b.c.execute(
            "return document.querySelector('#heat-map').getBoundingClientRect().height > 100;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(drawn.as_bool(), Some(true), "the heat map is not drawn");
    b.screenshot("reports-week").await;
    // one channel, 30 days: the form sends them and the page keeps them
    b.go("/reports?range=30d").await;
    b.click("#report-filters input[name=channel]").await;
    // `submit` returns on the filtered page, not the one the box was ticked on
    b.submit("#report-filters").await;
    b.wait_for("#report-filters input[name=channel]:checked")
        .await;
    let url = b.url().await;
    let page = b.text("main").await;
    assert!(
        page.contains("Inbound messages by day and hour"),
        "{url}: {page}"
    );
    assert!(
        url.contains("range=30d") && url.contains("channel="),
        "{url}"
    );
    assert_eq!(b.count("#days-chart rect").await, 60);
    assert_eq!(b.count("#channels-report tbody tr").await, 1);
    // no label was asked for: no word about labels
    assert!(!page.contains("label filter"), "{page}");
    b.screenshot("reports").await;
    b.close().await;
}

/// A supervisor drafts a broadcast and submits it; a second supervisor approves it from the
/// approvals inbox; the first sends it, and a recipient's conversation shows the message.
async fn a_broadcast_goes_out_once_a_second_supervisor_approves(backend: Backend) {
    use diesel::prelude::*;
    use switchboard::db::schema::{channels, conversations};
    let demo = Demo::start(backend);
    let b = demo.browser().await;
    b.sign_in("DEMO", "sofia", PASSWORD).await;
    b.wait_for("#main-nav").await;
    b.follow("#main-nav a[href='/broadcasts']").await;
    b.fill("#new-broadcast", &[("name", "Free shipping week")])
        .await;
    b.choose("#new-broadcast select[name=channel_id]", "Telegram")
        .await;
    b.choose("#new-broadcast select[name=template_id]", "welcome (en) v1")
        .await;
    b.submit("#new-broadcast").await;
    b.follow("#submit-broadcast").await;
    b.wait_for_text("broadcast-status", "submitted").await;
    // the creator is offered no way to approve it
    assert_eq!(b.count("#approve").await, 0);
    b.sign_out().await;

    b.sign_in("DEMO", "sam", PASSWORD).await;
    b.wait_for("#main-nav").await;
    b.go("/approvals").await;
    b.follow("section[id^=approval-]:has(a[href^='/broadcasts/']) form[action$='/approve'] button")
        .await;
    b.wait_for(".flash").await;
    b.sign_out().await;

    b.sign_in("DEMO", "sofia", PASSWORD).await;
    b.wait_for("#main-nav").await;
    b.go("/broadcasts").await;
    b.follow("#broadcasts a").await;
    b.wait_for_text("broadcast-status", "approved").await;
    b.follow("#send-broadcast").await;
    b.wait_for_text("broadcast-status", "sent").await;
    let progress = b.text("#progress").await;
    assert!(progress.ends_with("(100 %)"), "{progress}");
    b.screenshot("broadcast-sent").await;
    // a recipient's conversation shows it
    let telegram: i64 = channels::table
        .filter(channels::name.eq("Telegram"))
        .select(channels::id)
        .first(&mut demo.server.conn())
        .unwrap();
    let recipient: i64 = conversations::table
        .filter(conversations::channel_id.eq(telegram))
        .order(conversations::last_message_at.desc())
        .select(conversations::id)
        .first(&mut demo.server.conn())
        .unwrap();
    b.go(&format!("/conversations/{recipient}")).await;
    let timeline = b.text("#timeline").await;
    assert!(
        timeline.contains("Hello from Demo Trading Co.!"),
        "{timeline}"
    );
    b.close().await;
}

// A SQLite and a PostgreSQL browser test for each flow.
/// A customer writes in; the agent the chat is routed to sees it appear in their open list
/// within 3 s, with no reload (the page keeps a marker the test set on it), and their badge
/// counts it.
async fn a_new_chat_appears_in_the_agents_open_list(backend: Backend) {
    use diesel::prelude::*;
    use switchboard::db::schema::channels;
    let demo = Demo::start(backend);
    let agent = demo.browser().await;
    // bob has the fewest open conversations of those who take WhatsApp's new chats
    agent.sign_in("DEMO", "bob", PASSWORD).await;
    agent.wait_for("#conversations-table").await;
    agent
        .c
        .execute("window.notReloaded = true;", vec![])
        .await
        .unwrap();
    let badge_before = agent.text("#open-badge").await;
    let (channel, token): (i64, String) = channels::table
        .filter(channels::name.eq("WhatsApp Sales"))
        .select((channels::id, channels::webhook_token))
        .first(&mut demo.server.conn())
        .unwrap();
    let sent = std::time::Instant::now();
    let answer = reqwest::Client::new()
        .post(format!(
            "{}/hooks/channels/{channel}/messages",
            demo.server.base
        ))
        .header("Authorization", format!("Bearer {token}"))
        .header("Content-Type", "application/json")
        .body(serde_json::json!({"external_id": "live-browser", "contact": {"name": "Yusuf Live", "phone": "+90 532 246 8135"}, "text": "Hello?"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 201);
    agent
        .c
        .wait()
        .at_most(Duration::from_secs(3))
        .for_element(Locator::XPath(
            "//table[@id='conversations-table']//a[contains(., 'Yusuf Live')]",
        ))
        .await
        .unwrap_or_else(|_| panic!("not in the list 3 s after the message"));
    let waited = sent.elapsed();
    let same_page = agent
        .c
        .execute("return window.notReloaded === true;", vec![])
        .await
        .unwrap();
    assert_eq!(
        same_page,
        serde_json::Value::Bool(true),
        "the page was reloaded"
    );
    // masked like the rest of the page, and counted in the badge
    let table = agent.text("#conversations-table").await;
    assert!(table.contains("+90 *** *** **35"), "{table}");
    assert!(!table.contains("246 8135"), "{table}");
    assert_ne!(agent.text("#open-badge").await, badge_before);
    eprintln!("the new chat was on the agent's screen after {waited:?}");
    agent.screenshot("live-list").await;
    agent.close().await;
}

/// A supervisor turns on two-factor sign-in: reads the key beside the QR code as her app would,
/// enters the code it shows, is shown her recovery codes once, signs out, and signs back in
/// with her password and then a code.
async fn supervisor_enrols_two_factor_and_signs_in_with_a_code(backend: Backend) {
    let key = switchboard::core::sealing::SealingKey::random().to_base64();
    let demo = Demo {
        server: DemoServer::start(backend, &[("SWITCHBOARD_SECRET_KEY", &key)]),
    };
    let b = demo.browser().await;
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    };
    b.sign_in("DEMO", "sofia", PASSWORD).await;
    b.wait_for("#main-nav").await;
    b.go("/account").await;
    b.follow("a[href='/account/two-factor']").await;
    b.wait_for("figure.qr svg").await;
    let secret =
        switchboard::core::totp::TotpSecret::from_base32(&b.text("#two-factor-secret").await)
            .expect("a base32 key on the page");
    b.fill("#two-factor-enrol", &[("code", &secret.code_at(now()))])
        .await;
    b.submit("#two-factor-enrol").await;
    b.wait_for("#recovery-codes").await;
    assert_eq!(b.count("#recovery-codes li").await, 10);
    b.screenshot("two-factor").await;
    b.go("/").await;
    b.sign_out().await;
    // the password, then the code: the one the app shows next (the enrolment's was used)
    b.sign_in("DEMO", "sofia", PASSWORD).await;
    b.wait_for("#two-factor-form").await;
    assert!(b.url().await.ends_with("/login/two-factor"));
    b.fill("#two-factor-form", &[("code", &secret.code_at(now() + 30))])
        .await;
    b.submit("#two-factor-form").await;
    b.wait_for("#main-nav").await;
    assert!(!b.url().await.contains("/login"));
    b.go("/account/two-factor").await;
    b.wait_for("#two-factor-on").await;
    b.close().await;
}

/// A form opened before its person signed in again in another tab is not lost: when the tab
/// is shown again it takes the new session's token, and what was typed is sent and accepted.
/// A tab whose browser is now signed in as someone else says so instead.
async fn a_form_survives_signing_in_again_in_another_tab(backend: Backend) {
    let demo = Demo::start(backend);
    let b = demo.browser().await;
    b.sign_in("DEMO", "sofia", PASSWORD).await;
    b.wait_for("#main-nav").await;
    b.go("/users/new").await;
    b.fill("#new-user-form", ERIN).await;
    let token_of_page =
        "return document.querySelector('#new-user-form input[name=csrf_token]').value;";
    let old_token = b.c.execute(token_of_page, vec![]).await.unwrap();
    let form_tab = b.c.window().await.unwrap();

    // another tab: sign out, sign in again (a new session, a new token)
    let other = b.c.new_window(true).await.unwrap();
    b.c.switch_to_window(other.handle.clone()).await.unwrap();
    b.go("/").await;
    b.sign_out().await;
    b.sign_in("DEMO", "sofia", PASSWORD).await;
    b.wait_for("#main-nav").await;

    // back to the form: it takes the new token by itself, and Add user works
    b.c.switch_to_window(form_tab.clone()).await.unwrap();
    let deadline = std::time::Instant::now() + PATIENCE;
    while b.c.execute(token_of_page, vec![]).await.unwrap() == old_token {
        assert!(
            std::time::Instant::now() < deadline,
            "the form kept the old session's token"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    b.submit("#new-user-form").await;
    assert_eq!(b.text("#user-role").await, "Agent");
    assert!(b.text("h1").await.contains("Erin Kowalski"));

    // the other tab signs in as alice: this tab says so and keeps sofia's token out of it
    b.go("/users").await;
    b.wait_for("#users-table").await;
    let sofias_page = b.c.window().await.unwrap();
    b.c.switch_to_window(other.handle).await.unwrap();
    b.sign_out().await;
    b.sign_in("DEMO", "alice", PASSWORD).await;
    b.wait_for("#main-nav").await;
    b.c.switch_to_window(sofias_page).await.unwrap();
    b.wait_for_xpath(
        "//div[@id='action-error'][contains(., 'signed in as DEMO/alice in another tab')]",
    )
    .await;
    b.close().await;
}

/// Adding a user: the password policy is on the form before anything is typed; every mistake
/// is said in one round (a taken username does not hide a weak password); what was right is
/// still there after a refusal, the password too, so only the mistake is typed again.
async fn adding_a_user_judges_every_field_at_once(backend: Backend) {
    let demo = Demo::start(backend);
    let b = demo.browser().await;
    b.sign_in("DEMO", "sofia", PASSWORD).await;
    b.wait_for("#main-nav").await;
    b.go("/users").await;
    b.follow("#add-user").await;
    assert!(
        b.text("#password-rules").await.contains("characters"),
        "the policy is stated before submitting"
    );
    b.fill(
        "#new-user-form",
        &[
            ("username", "alice"),
            ("display_name", "Alice Second"),
            ("password", "short"),
        ],
    )
    .await;
    b.submit("#new-user-form").await;
    b.wait_for("#username-error").await;
    assert!(b.text("#password-error").await.contains("12"));
    assert_eq!(b.text("main h1").await, "Add user");
    // a good password, the same taken username: only the username is refused now
    let password = b.wait_for("#new-user-form input[name=password]").await;
    password.send_keys("Walnut-Harbor-Fjord-17").await.unwrap();
    b.submit("#new-user-form").await;
    b.wait_for_xpath("//div[@id='username-error']").await;
    assert_eq!(b.count("#password-error").await, 0);
    let kept = b.wait_for("#new-user-form input[name=password]").await;
    assert_eq!(
        kept.prop("value").await.unwrap().unwrap_or_default(),
        "Walnut-Harbor-Fjord-17",
        "the accepted password was cleared"
    );
    let username = b.wait_for("#new-user-form input[name=username]").await;
    username.clear().await.unwrap();
    username.send_keys("alice.second").await.unwrap();
    b.submit("#new-user-form").await;
    assert_eq!(b.text("#user-role").await, "Agent");
    b.close().await;
}

/// Every filter form, submitted as it stands (each choice at "any"), answers with its page:
/// an empty choice is no filter, never "not valid".
async fn every_filter_form_submits_as_it_stands(backend: Backend) {
    let demo = Demo::start(backend);
    let b = demo.browser().await;
    b.sign_in("DEMO", "sofia", PASSWORD).await;
    b.wait_for("#main-nav").await;
    let mut forms = 0;
    for path in [
        "/conversations",
        "/conversations?unassigned=1",
        "/conversations?missed=1",
        "/users",
        "/reports",
        "/activity",
        "/logins",
    ] {
        b.go(path).await;
        b.wait_for("main").await;
        let here = b.count("main form[method=get]").await;
        assert!(here > 0, "{path} has no filter form");
        for n in 0..here {
            b.go(path).await;
            b.wait_for("main").await;
            b.mark_document().await;
            let submitted = b
                .c
                .execute(
                    "const form = document.querySelectorAll('main form[method=get]')[arguments[0]]; \
                     form.requestSubmit(); return form.getAttribute('action');",
                    vec![serde_json::json!(n)],
                )
                .await
                .unwrap();
            b.wait_for_new_page(path).await;
            b.wait_for("main").await;
            let refused =
                b.c.execute(
                    "const e = document.querySelector('.error-page, .field-error'); \
                     return e ? e.textContent.trim() : null;",
                    vec![],
                )
                .await
                .unwrap();
            assert_eq!(
                refused,
                serde_json::Value::Null,
                "{path}, form {n} ({submitted}) as it stands: {}",
                b.url().await
            );
            forms += 1;
        }
    }
    assert!(forms >= 7, "{forms}");
    b.close().await;
}

/// A supervisor works through the queue from the page itself: the Unassigned and Missed chats
/// views from their buttons, then one channel oldest first over two pages, the filter and
/// order still chosen on the second; an action under way shows it (its button disabled).
async fn a_supervisor_works_through_the_queue(backend: Backend) {
    use diesel::prelude::*;
    use switchboard::db::schema::{channels, companies, contacts, conversations};
    let demo = Demo::start(backend);
    // 60 more conversations on Telegram, so its list takes two pages
    {
        let mut conn = demo.server.conn();
        let (company, telegram): (i64, i64) = channels::table
            .inner_join(companies::table)
            .filter(companies::code.eq("DEMO"))
            .filter(channels::name.eq("Telegram"))
            .select((companies::id, channels::id))
            .first(&mut conn)
            .unwrap();
        let at = switchboard::domain::now() - chrono::TimeDelta::days(2);
        for n in 0..60 {
            let contact: i64 = diesel::insert_into(contacts::table)
                .values((
                    contacts::company_id.eq(company),
                    contacts::name.eq(format!("Queued {n:02}")),
                    contacts::created_at.eq(at),
                ))
                .returning(contacts::id)
                .get_result(&mut conn)
                .unwrap();
            diesel::insert_into(conversations::table)
                .values((
                    conversations::company_id.eq(company),
                    conversations::channel_id.eq(telegram),
                    conversations::contact_id.eq(contact),
                    conversations::status.eq("open"),
                    conversations::last_message_at.eq(at + chrono::TimeDelta::minutes(n)),
                    conversations::created_at.eq(at),
                ))
                .execute(&mut conn)
                .unwrap();
        }
    }
    let b = demo.browser().await;
    b.sign_in("DEMO", "sofia", PASSWORD).await;
    b.wait_for("#conversations-table").await;
    b.follow("#view-unassigned").await;
    b.wait_for_xpath("//h1[.='Unassigned conversations']").await;
    let assignees = b
        .c
        .execute(
            "return [...document.querySelectorAll('#conversations-table tbody tr td:nth-child(5)')].map(td => td.textContent.trim());",
            vec![],
        )
        .await
        .unwrap();
    let assignees = assignees.as_array().unwrap();
    assert!(!assignees.is_empty());
    assert!(assignees.iter().all(|a| a == "unassigned"), "{assignees:?}");
    b.follow("#view-missed").await;
    b.wait_for_xpath("//h1[.='Missed chats']").await;
    b.follow("#view-all").await;
    b.wait_for_xpath("//h1[.='Conversations']").await;
    // one channel, oldest activity first
    b.choose("form.filters select[name=channel]", "Telegram")
        .await;
    b.choose("#sort", "Oldest activity first").await;
    b.submit("form.filters").await;
    b.wait_for_xpath("//table[@id='conversations-table']//a[.='Queued 00']")
        .await;
    let first_row = b.text("#conversations-table tbody tr:first-child a").await;
    assert_eq!(first_row, "Queued 00", "oldest first");
    b.follow("#next-page").await;
    b.wait_for("#first-page").await;
    let chosen = b
        .c
        .execute(
            "const s = n => { const e = document.querySelector('form.filters select[name=' + n + ']'); return e.options[e.selectedIndex].text; }; \
             return [s('channel'), s('sort'), [...document.querySelectorAll('#conversations-table tbody tr td:nth-child(4)')].every(td => td.textContent.startsWith('Telegram'))];",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        chosen,
        serde_json::json!(["Telegram", "Oldest activity first", true]),
        "the second page forgot the filter"
    );
    // an action under way: its button is disabled from the click until the answer
    b.follow("#conversations-table tbody a").await;
    b.wait_for("#reply-form").await;
    b.fill("#reply-form", &[("body", "One moment, please.")])
        .await;
    let busy =
        b.c.execute(
            "const button = document.querySelector('#reply-form button.primary'); \
             button.click(); return button.disabled;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(busy, serde_json::Value::Bool(true), "no sign of the send");
    b.wait_for_xpath("//section[@id='timeline']/article[contains(., 'One moment, please.')]")
        .await;
    assert!(
        b.wait_for("#reply-form button.primary")
            .await
            .is_enabled()
            .await
            .unwrap()
    );
    b.close().await;
}

on_both_databases!(
    browser:
    every_page_passes_the_page_checkers,
    adding_a_user_judges_every_field_at_once,
    a_supervisor_works_through_the_queue,
    every_filter_form_submits_as_it_stands,
    a_form_survives_signing_in_again_in_another_tab,
    supervisor_enrols_two_factor_and_signs_in_with_a_code,
    a_broadcast_goes_out_once_a_second_supervisor_approves,
    a_new_chat_appears_in_the_agents_open_list,
    a_supervisor_reads_the_reports,
    an_agent_works_on_a_phone,
    a_refused_action_says_why,
    supervisor_ends_an_agents_session,
    agent_replies_in_place,
    custom_role_shapes_the_navigation,
    supervisor_adds_an_agent_who_gets_to_work,
    sign_in_see_navigation_sign_out,
);
