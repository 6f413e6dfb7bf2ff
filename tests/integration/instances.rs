//! Two server processes on one database, as a deployment behind a load balancer runs them:
//! whatever one instance decides about sessions, users, roles and sign-in failures holds on
//! the other within `FRESH_FOR` (each announces its changes in the database and watches the
//! other's announcements, `auth::change_watch`; sign-in failures are counted in the database).

use diesel::prelude::*;
use switchboard::db::schema::{companies, role_permissions, roles, sessions, users};

use crate::common::on_both_databases;
use crate::common::{Backend, DemoServer, PASSWORD, meta_token};

/// A browser-like client: one cookie jar for both instances (cookies do not tell ports
/// apart), the same User-Agent on every request, the CSRF token of the last page it read.
struct Browser {
    http: reqwest::Client,
    address: String,
    token: String,
}

impl Browser {
    fn new(address: &str) -> Self {
        Self {
            http: crate::common::http_client(),
            address: address.to_string(),
            token: String::new(),
        }
    }

    /// GET; remembers the page's CSRF token. Returns the status and the body.
    async fn get(&mut self, url: String) -> (u16, String) {
        let response = self
            .http
            .get(url)
            .header("X-Forwarded-For", &self.address)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body = response.text().await.unwrap();
        if let Some(token) = meta_token(&body) {
            self.token = token;
        }
        (status, body)
    }

    async fn post(&mut self, url: String, form: &[(&str, &str)]) -> u16 {
        let mut fields: Vec<(&str, &str)> = form.to_vec();
        let token = self.token.clone();
        fields.push(("csrf_token", &token));
        self.http
            .post(url)
            .header("X-Forwarded-For", &self.address)
            .form(&fields)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// Signs in on the instance at `base`; the status of the answer (303 when it worked).
    async fn sign_in(&mut self, base: &str, username: &str, password: &str) -> u16 {
        self.get(format!("{base}/login")).await;
        self.post(
            format!("{base}/login"),
            &[
                ("company_code", "DEMO"),
                ("username", username),
                ("password", password),
            ],
        )
        .await
    }
}

/// A DEMO user's id (ACME has an alice too).
fn user_id(server: &DemoServer, username: &str) -> i64 {
    users::table
        .inner_join(companies::table)
        .filter(companies::code.eq("DEMO"))
        .filter(users::username.eq(username))
        .select(users::id)
        .first(&mut server.conn())
        .unwrap()
}

/// Asks `url` until `seen` holds of the answer; false when it has not by the time another
/// instance's change must have arrived (the session cache's `FRESH_FOR`, plus time to ask).
async fn arrives(browser: &mut Browser, url: String, seen: impl Fn(u16, &str) -> bool) -> bool {
    let deadline = std::time::Instant::now()
        + switchboard::auth::session_cache::FRESH_FOR
        + std::time::Duration::from_millis(400);
    loop {
        let (status, body) = browser.get(url.clone()).await;
        if seen(status, &body) {
            return true;
        }
        if std::time::Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

async fn two_instances_share_sessions_users_roles_and_failures(backend: Backend) {
    let env = [("SWITCHBOARD_TRUSTED_PROXIES", "127.0.0.1")];
    let a = DemoServer::start(backend, &env);
    let b = a.another_instance(&env);
    let (one, two) = (a.base.clone(), b.base.clone());

    // a session made on one instance works on the other
    let mut alice = Browser::new("10.1.0.1");
    assert_eq!(alice.sign_in(&one, "alice", PASSWORD).await, 303);
    assert_eq!(alice.get(format!("{two}/conversations")).await.0, 200);

    // ending it on one refuses it on the other
    let mut sofia = Browser::new("10.1.0.2");
    assert_eq!(sofia.sign_in(&two, "sofia", PASSWORD).await, 303);
    let alice_id = user_id(&a, "alice");
    let session: i64 = sessions::table
        .filter(sessions::user_id.eq(alice_id))
        .filter(sessions::revoked_at.is_null())
        .select(sessions::id)
        .first(&mut a.conn())
        .unwrap();
    sofia.get(format!("{two}/sessions")).await;
    assert_eq!(
        sofia
            .post(format!("{two}/sessions/{session}/revoke"), &[])
            .await,
        303
    );
    assert!(
        arrives(&mut alice, format!("{one}/conversations"), |s, _| s == 303).await,
        "the ended session still works on instance one"
    );

    // deactivating the user on one ends what they do on the other
    assert_eq!(alice.sign_in(&one, "alice", PASSWORD).await, 303);
    assert_eq!(alice.get(format!("{one}/conversations")).await.0, 200);
    sofia.get(format!("{two}/users/{alice_id}")).await;
    assert_eq!(
        sofia
            .post(format!("{two}/users/{alice_id}/deactivate"), &[])
            .await,
        303
    );
    assert!(
        arrives(&mut alice, format!("{one}/conversations"), |s, _| s == 303).await,
        "the deactivated user still works on instance one"
    );

    // a role edit on one changes the navigation on the other
    let mut dana = Browser::new("10.1.0.3");
    assert_eq!(dana.sign_in(&two, "dana", PASSWORD).await, 303);
    let (_, home) = dana.get(format!("{two}/account")).await;
    assert!(
        !home.contains("href=\"/users\""),
        "dana sees /users already"
    );
    let (role_id, role_name): (i64, String) = users::table
        .inner_join(roles::table)
        .filter(users::id.eq(user_id(&a, "dana")))
        .select((roles::id, roles::name))
        .first(&mut a.conn())
        .unwrap();
    let held: Vec<String> = role_permissions::table
        .filter(role_permissions::role_id.eq(role_id))
        .select(role_permissions::permission)
        .load(&mut a.conn())
        .unwrap();
    let mut form: Vec<(&str, &str)> = vec![("name", &role_name), ("permissions", "users.view")];
    form.extend(held.iter().map(|key| ("permissions", key.as_str())));
    let mut sofia_on_one = Browser::new("10.1.0.4");
    assert_eq!(sofia_on_one.sign_in(&one, "sofia", PASSWORD).await, 303);
    sofia_on_one.get(format!("{one}/roles/{role_id}")).await;
    assert_eq!(
        sofia_on_one
            .post(format!("{one}/roles/{role_id}"), &form)
            .await,
        303
    );
    assert!(
        arrives(&mut dana, format!("{two}/account"), |_, home| home
            .contains("href=\"/users\""))
        .await,
        "the role edit did not reach instance two"
    );

    // sign-in failures count across both: 10 wrong passwords, alternating, lock the account
    for n in 0..10 {
        let base = if n % 2 == 0 { &one } else { &two };
        let mut guesser = Browser::new(&format!("10.2.0.{}", n + 1));
        assert_eq!(guesser.sign_in(base, "bob", "Wrong-Password-99").await, 401);
    }
    let mut bob = Browser::new("10.2.1.1");
    assert_eq!(
        bob.sign_in(&two, "bob", PASSWORD).await,
        401,
        "bob is locked"
    );
    // and one address's failures too: 30 spread over both, then 429 on either
    let mut attacker = Browser::new("198.51.100.9");
    for n in 0..30 {
        let base = if n % 2 == 0 { &one } else { &two };
        let status = attacker
            .sign_in(base, &format!("nobody{n}"), "Wrong-Password-99")
            .await;
        assert_eq!(status, 401, "attempt {n}");
    }
    assert_eq!(
        attacker.sign_in(&one, "nobody", "Wrong-Password-99").await,
        429
    );
    assert_eq!(
        attacker.sign_in(&two, "nobody", "Wrong-Password-99").await,
        429
    );
}

on_both_databases!(browser: two_instances_share_sessions_users_roles_and_failures);

/// Sessions read from the database so far by the instance whose metrics listen at `metrics`.
async fn session_reads(metrics: &str) -> u64 {
    let text = crate::common::text_of(
        &crate::common::http_client(),
        format!("http://{metrics}/metrics"),
    )
    .await;
    text.lines()
        .find(|line| line.starts_with("switchboard_session_reads_total"))
        .and_then(|line| line.split_whitespace().last())
        .map_or(0, |count| count.parse().unwrap())
}

/// Each instance watches what the others announce (`auth::change_watch`): while nothing
/// changes it keeps a session longer than `FRESH_FOR` without reading it again, and what
/// changes elsewhere (a flash message left by an action on the other instance) shows at once.
async fn an_instance_holds_sessions_until_another_announces_a_change(backend: Backend) {
    let env = [("SWITCHBOARD_TRUSTED_PROXIES", "127.0.0.1")];
    let a = DemoServer::start(backend, &env);
    let metrics = format!("127.0.0.1:{}", crate::common::free_port());
    let b = a.another_instance(&[
        ("SWITCHBOARD_TRUSTED_PROXIES", "127.0.0.1"),
        ("SWITCHBOARD_METRICS_BIND", &metrics),
    ]);
    let (one, two) = (a.base.clone(), b.base.clone());
    let mut alice = Browser::new("10.3.0.1");
    assert_eq!(alice.sign_in(&one, "alice", PASSWORD).await, 303);
    assert_eq!(alice.get(format!("{two}/account")).await.0, 200);
    // the jobs each instance runs as it starts may change things once; then nothing changes
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_eq!(alice.get(format!("{two}/account")).await.0, 200);
    let before = session_reads(&metrics).await;
    let held = switchboard::auth::session_cache::FRESH_FOR * 5;
    let until = std::time::Instant::now() + held;
    while std::time::Instant::now() < until {
        assert_eq!(alice.get(format!("{two}/account")).await.0, 200);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let reads = session_reads(&metrics).await - before;
    assert!(
        reads <= 1,
        "instance two read alice's session {reads} times in {held:?} while nothing changed"
    );

    // she closes a conversation on one; the message it leaves shows on two, once
    let conversation: i64 = switchboard::db::schema::conversations::table
        .filter(switchboard::db::schema::conversations::assignee_id.eq(user_id(&a, "alice")))
        .filter(switchboard::db::schema::conversations::status.eq("open"))
        .select(switchboard::db::schema::conversations::id)
        .first(&mut a.conn())
        .unwrap();
    // her inbox on two, as two's inbox cache keeps it while nothing changes
    let listed = format!(r#"href="/conversations/{conversation}""#);
    for _ in 0..2 {
        assert!(
            alice
                .get(format!("{two}/conversations"))
                .await
                .1
                .contains(&listed)
        );
    }
    alice
        .get(format!("{one}/conversations/{conversation}"))
        .await;
    assert_eq!(
        alice
            .post(format!("{one}/conversations/{conversation}/close"), &[])
            .await,
        303
    );
    let said = "The conversation was closed.";
    assert!(
        arrives(&mut alice, format!("{two}/account"), |_, page| page
            .contains(said))
        .await,
        "the message left on one did not show on two"
    );
    assert!(
        arrives(&mut alice, format!("{one}/account"), |s, page| s == 200
            && !page.contains(said))
        .await
    );
    assert!(!alice.get(format!("{two}/account")).await.1.contains(said));
    // and the conversation left her open conversations on two: two's inbox cache would hold
    // the list for a minute while nothing is seen to change
    assert!(
        arrives(&mut alice, format!("{two}/conversations"), |s, page| s
            == 200
            && !page.contains(&listed))
        .await,
        "the conversation closed on one stayed in alice's inbox on two"
    );
}

on_both_databases!(browser: an_instance_holds_sessions_until_another_announces_a_change);
