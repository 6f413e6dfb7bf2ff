//! Two-factor sign-in through the real App, on SQLite and on PostgreSQL: enrolment with a code
//! computed from the secret the page shows, sign-in that asks for the code after the password,
//! a code never accepted twice, recovery codes used once, the password lockout counting wrong
//! codes, roles that require it, a supervisor's reset, secrets sealed at rest, and a server
//! without a key refusing enrolment with a clear message.

use crate::common::on_both_databases;
use crate::common::{Client, Page, TestApp, id_of, role_id};
use chrono::TimeDelta;
use diesel::prelude::*;
use switchboard::core::totp::TotpSecret;
use switchboard::db::schema::{login_events, two_factor_recovery_codes, users};

/// The key the enrolment page shows, as text.
fn shown_secret(page: &Page) -> String {
    let marker = r#"<code id="two-factor-secret">"#;
    let start = page.body.find(marker).expect("the key is shown") + marker.len();
    let end = page.body[start..].find('<').unwrap() + start;
    page.body[start..end].to_string()
}

/// The code an authenticator app shows now, by the app's clock.
pub(crate) fn code_now(app: &TestApp, secret: &TotpSecret) -> String {
    secret.code_at(app.clock().now().and_utc().timestamp() as u64)
}

/// Enrols `client` (on its account page), returning the secret and the recovery codes.
pub(crate) async fn enrol(app: &TestApp, client: &mut Client) -> (TotpSecret, Vec<String>) {
    let page = client.get("/account/two-factor").await;
    page.assert_status(200);
    let secret = TotpSecret::from_base32(&shown_secret(&page)).unwrap();
    let done = client
        .post("/account/two-factor", &[("code", &code_now(app, &secret))])
        .await;
    done.assert_status(200).assert_contains("recovery codes");
    let codes = read_codes(&done.body);
    assert_eq!(codes.len(), 10, "{}", done.body);
    (secret, codes)
}

/// Password first: the answer sends to the code step and opens no session.
pub(crate) async fn password_step(app: &TestApp, username: &str) -> Client {
    let mut client = app.client();
    let page = client
        .login("DEMO", username, crate::common::PASSWORD)
        .await;
    page.assert_status(303);
    assert_eq!(page.header("location"), Some("/login/two-factor"));
    client
        .get("/users")
        .await
        .assert_status(303)
        .assert_lacks("Sofia");
    client.get("/login/two-factor").await.assert_status(200);
    client
}

pub(crate) async fn submit_code(client: &mut Client, code: &str) -> Page {
    let token = client
        .cookies
        .get("sb_login_csrf")
        .cloned()
        .unwrap_or_default();
    client
        .post_raw(
            "/login/two-factor",
            &[("code", code), ("csrf_token", &token)],
        )
        .await
}

fn is_locked(app: &TestApp, username: &str) -> bool {
    users::table
        .filter(users::id.eq(id_of(app, "DEMO", username)))
        .select(users::locked_until)
        .first::<Option<chrono::NaiveDateTime>>(&mut app.conn())
        .unwrap()
        .is_some()
}

fn failed_logins(app: &TestApp, username: &str) -> i32 {
    users::table
        .filter(users::id.eq(id_of(app, "DEMO", username)))
        .select(users::failed_logins)
        .first(&mut app.conn())
        .unwrap()
}

/// Enrolment (a wrong code refused, the right one accepted, ten recovery codes shown once),
/// then sign-in asks for the code: a wrong one is refused, the right one signs in, the same
/// code is not accepted twice, a recovery code signs in once. The database holds the secret
/// and the recovery codes only sealed or hashed.
async fn a_user_enrols_and_signs_in_with_a_code(app: TestApp) {
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    sofia
        .get("/account")
        .await
        .assert_contains(r#"href="/account/two-factor""#);
    let page = sofia.get("/account/two-factor").await;
    page.assert_status(200)
        .assert_contains("<svg")
        .assert_contains("Turn on");
    let text = shown_secret(&page);
    // reloading keeps the same key (an app may have read it already)
    assert_eq!(shown_secret(&sofia.get("/account/two-factor").await), text);
    let secret = TotpSecret::from_base32(&text).unwrap();
    let wrong = if code_now(&app, &secret) == "000000" {
        "111111"
    } else {
        "000000"
    };
    sofia
        .post("/account/two-factor", &[("code", wrong)])
        .await
        .assert_status(422)
        .assert_contains("did not match");
    assert!(crate::common::audit_summaries(&app, "user.two_factor.enable").is_empty());
    let done = sofia
        .post("/account/two-factor", &[("code", &code_now(&app, &secret))])
        .await;
    done.assert_status(200)
        .assert_contains("shown only this once");
    assert_eq!(
        crate::common::audit_summaries(&app, "user.two_factor.enable").len(),
        1
    );
    // on: the key is not shown again
    let on = sofia.get("/account/two-factor").await;
    on.assert_contains("10 of your recovery codes")
        .assert_lacks(&text)
        .assert_lacks("<svg");
    // at rest: sealed, never the key in any form
    let sofia_id = id_of(&app, "DEMO", "sofia");
    let (stored, pending): (Option<String>, Option<String>) = users::table
        .find(sofia_id)
        .select((users::two_factor_secret, users::two_factor_pending))
        .first(&mut app.conn())
        .unwrap();
    let stored = stored.unwrap();
    assert!(stored.starts_with("v1.") && pending.is_none());
    let compact = text.replace(' ', "");
    for form in [
        compact.clone(),
        compact.to_lowercase(),
        hex_of(secret.as_bytes()),
    ] {
        assert!(!stored.contains(&form), "the secret is stored in the clear");
    }
    let hashes: Vec<String> = two_factor_recovery_codes::table
        .filter(two_factor_recovery_codes::user_id.eq(sofia_id))
        .select(two_factor_recovery_codes::code_hash)
        .load(&mut app.conn())
        .unwrap();
    assert_eq!(hashes.len(), 10);
    let codes_page = done.body.clone();
    for hash in &hashes {
        assert!(!codes_page.contains(hash.as_str()));
    }
    // the next step of the app's code, and sign-in asks for it
    app.clock().advance(TimeDelta::seconds(30));
    let mut browser = password_step(&app, "sofia").await;
    submit_code(&mut browser, wrong)
        .await
        .assert_status(401)
        .assert_contains("did not work");
    let code = code_now(&app, &secret);
    let signed_in = submit_code(&mut browser, &code).await;
    signed_in.assert_status(303);
    assert_eq!(signed_in.header("location"), Some("/"));
    browser.get("/users").await.assert_status(200);
    // the same code again, in another browser: refused
    let mut again = password_step(&app, "sofia").await;
    submit_code(&mut again, &code).await.assert_status(401);
    // a recovery code, once
    let codes = read_codes(&codes_page);
    submit_code(&mut again, &codes[3].to_uppercase())
        .await
        .assert_status(303);
    again.get("/users").await.assert_status(200);
    let mut third = password_step(&app, "sofia").await;
    submit_code(&mut third, &codes[3]).await.assert_status(401);
    let used = crate::common::audit_summaries(&app, "user.two_factor.recovery_used");
    assert_eq!(used.len(), 1);
    assert!(used[0].contains("9 left"), "{used:?}");
    // the login history names each step
    let reasons: Vec<String> = login_events::table
        .filter(login_events::username.eq("sofia"))
        .order(login_events::id)
        .select(login_events::reason)
        .load(&mut app.conn())
        .unwrap();
    assert!(
        reasons.contains(&"code_required".to_string()),
        "{reasons:?}"
    );
    assert!(reasons.contains(&"bad_code".to_string()), "{reasons:?}");
    let history = sofia.get("/logins?user=sofia").await;
    history.assert_contains("wrong two-factor code");
    // without a challenge, the code step sends back to the password
    let mut stranger = app.client();
    let page = stranger.get("/login/two-factor").await;
    page.assert_status(303);
    assert_eq!(page.header("location"), Some("/login"));
}

on_both_databases!(a_user_enrols_and_signs_in_with_a_code);

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn read_codes(body: &str) -> Vec<String> {
    body.split("<li>")
        .skip(1)
        .filter_map(|item| item.split('<').next())
        .map(str::to_string)
        .filter(|c| c.len() == 14 && c.matches('-').count() == 2)
        .collect()
}

/// Wrong codes count like wrong passwords: the account locks at the company's threshold, and
/// entering the right password again neither clears the count nor buys more guesses.
async fn wrong_codes_lock_the_account(app: TestApp) {
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    let (secret, _) = enrol(&app, &mut sofia).await;
    app.clock().advance(TimeDelta::seconds(30));
    let wrong = |secret: &TotpSecret| {
        if code_now(&app, secret) == "123456" {
            "654321"
        } else {
            "123456"
        }
        .to_string()
    };
    let mut browser = password_step(&app, "sofia").await;
    for _ in 0..3 {
        submit_code(&mut browser, &wrong(&secret))
            .await
            .assert_status(401);
    }
    assert_eq!(failed_logins(&app, "sofia"), 3);
    // the password again: the count stays
    let mut browser = password_step(&app, "sofia").await;
    assert_eq!(failed_logins(&app, "sofia"), 3);
    for _ in 0..7 {
        submit_code(&mut browser, &wrong(&secret))
            .await
            .assert_status(401);
    }
    assert!(is_locked(&app, "sofia"), "locked after 10 wrong codes");
    assert!(
        crate::common::audit_summaries(&app, "user.locked")
            .iter()
            .any(|r| r.contains("two-factor codes"))
    );
    // locked: even the right code is refused
    submit_code(&mut browser, &code_now(&app, &secret))
        .await
        .assert_status(401);
    // once the lock passes, the right code signs in and clears the count
    app.clock().advance(TimeDelta::minutes(20));
    let mut browser = password_step(&app, "sofia").await;
    submit_code(&mut browser, &code_now(&app, &secret))
        .await
        .assert_status(303);
    assert_eq!(failed_logins(&app, "sofia"), 0);
}

on_both_databases!(wrong_codes_lock_the_account);

/// The address throttle holds at the code step too: an address that failed too often is told
/// to wait (429, until its oldest failure leaves the window) before any code is checked.
async fn a_throttled_address_cannot_try_codes(app: TestApp) {
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    let (secret, _) = enrol(&app, &mut sofia).await;
    app.clock().advance(TimeDelta::seconds(30));
    app.clock().stop();
    let mut browser = password_step(&app, "sofia").await;
    // the same address then fails on 30 other names
    let mut other = app.client();
    other.peer = browser.peer;
    for n in 0..30 {
        other
            .login("DEMO", &format!("nobody{n}"), "Wrong-Password-99")
            .await
            .assert_status(401);
    }
    app.clock().advance(TimeDelta::seconds(60));
    let page = submit_code(&mut browser, &code_now(&app, &secret)).await;
    page.assert_status(429);
    assert_eq!(page.header("retry-after"), Some("540"));
    // the code was not checked: the account's count is untouched
    assert_eq!(failed_logins(&app, "sofia"), 0);
    assert!(!is_locked(&app, "sofia"));
}

on_both_databases!(a_throttled_address_cannot_try_codes);

fn last_reason(app: &TestApp, username: &str) -> String {
    login_events::table
        .filter(login_events::username.eq(username))
        .order(login_events::id.desc())
        .select(login_events::reason)
        .first(&mut app.conn())
        .unwrap()
}

/// The code step belongs to the browser that gave the password: its cookie replayed from
/// another browser or another address opens nothing (and uses nothing up); an account
/// deactivated between the two steps is refused as deactivated.
async fn a_challenge_answers_only_its_own_browser(app: TestApp) {
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    let (secret, _) = enrol(&app, &mut sofia).await;
    app.clock().advance(TimeDelta::seconds(30));
    let mut browser = password_step(&app, "sofia").await;
    let mut other_browser = app.client();
    other_browser.cookies = browser.cookies.clone();
    other_browser.user_agent = "curl/8.5.0".into();
    let mut other_address = app.client();
    other_address.cookies = browser.cookies.clone();
    other_address.peer = "198.51.100.7:5000".parse().unwrap();
    for thief in [&mut other_browser, &mut other_address] {
        // sent back to the password, as a browser without a challenge is
        let page = submit_code(thief, &code_now(&app, &secret)).await;
        assert_eq!(page.location(), Some("/login"));
        thief.get("/users").await.assert_status(303);
    }
    let page = submit_code(&mut browser, &code_now(&app, &secret)).await;
    assert_eq!(page.location(), Some("/"));
    // deactivated after the password, before the code
    app.clock().advance(TimeDelta::seconds(30));
    let mut browser = password_step(&app, "sofia").await;
    diesel::update(users::table.find(id_of(&app, "DEMO", "sofia")))
        .set(users::status.eq(switchboard::core::status::UserStatus::Deactivated))
        .execute(&mut app.conn())
        .unwrap();
    submit_code(&mut browser, &code_now(&app, &secret))
        .await
        .assert_status(401);
    assert_eq!(last_reason(&app, "sofia"), "deactivated");
}

on_both_databases!(a_challenge_answers_only_its_own_browser);

/// A sealed secret is bound to its user: someone who can write the database (not read the
/// key) and copies sofia's sealed secret onto bob's row cannot then sign in as bob with
/// sofia's codes — the copy does not open there.
async fn a_sealed_secret_copied_to_another_user_does_not_open(app: TestApp) {
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    let (secret, _) = enrol(&app, &mut sofia).await;
    let (sealed, since): (Option<String>, Option<chrono::NaiveDateTime>) = users::table
        .find(id_of(&app, "DEMO", "sofia"))
        .select((users::two_factor_secret, users::two_factor_enabled_at))
        .first(&mut app.conn())
        .unwrap();
    diesel::update(users::table.find(id_of(&app, "DEMO", "bob")))
        .set((
            users::two_factor_secret.eq(sealed),
            users::two_factor_enabled_at.eq(since),
        ))
        .execute(&mut app.conn())
        .unwrap();
    app.wait_for_change_elsewhere();
    app.clock().advance(TimeDelta::seconds(30));
    let mut browser = password_step(&app, "bob").await;
    submit_code(&mut browser, &code_now(&app, &secret))
        .await
        .assert_status(401);
    browser.get("/conversations").await.assert_status(303);
}

on_both_databases!(a_sealed_secret_copied_to_another_user_does_not_open);

/// A company that turns its password lockout off (threshold 0) still locks an account after
/// ten wrong codes: six digits cannot go unguarded.
async fn codes_lock_even_without_a_password_lockout(app: TestApp) {
    use switchboard::db::schema::companies;
    diesel::update(companies::table.filter(companies::code.eq("DEMO")))
        .set(companies::lockout_threshold.eq(0))
        .execute(&mut app.conn())
        .unwrap();
    app.wait_for_change_elsewhere();
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    let (secret, _) = enrol(&app, &mut sofia).await;
    app.clock().advance(TimeDelta::seconds(30));
    let wrong = if code_now(&app, &secret) == "123456" {
        "654321"
    } else {
        "123456"
    };
    let mut browser = password_step(&app, "sofia").await;
    for _ in 0..10 {
        submit_code(&mut browser, wrong).await.assert_status(401);
    }
    submit_code(&mut browser, &code_now(&app, &secret))
        .await
        .assert_status(401);
    assert!(is_locked(&app, "sofia"), "locked after 10 wrong codes");
}

on_both_databases!(codes_lock_even_without_a_password_lockout);

/// A company requires two-factor of a role: its holders must enrol before any other page and
/// cannot turn it off; a supervisor resets a lost phone (their sessions end); agents may not
/// reset anyone; turning it off for oneself needs a code.
async fn roles_require_it_and_supervisors_reset_it(app: TestApp) {
    let agent = role_id(&app, "DEMO", "Agent");
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    sofia
        .get("/settings")
        .await
        .assert_contains(r#"action="/settings/two-factor""#);
    sofia
        .post("/settings/two-factor", &[("role_ids", "999999")])
        .await
        .assert_status(422);
    sofia
        .post("/settings/two-factor", &[("role_ids", &agent.to_string())])
        .await
        .assert_status(303);
    let record = crate::common::audit_summaries(&app, "settings.two_factor");
    assert!(
        record[0].contains("required of: Agent (was: none)"),
        "{record:?}"
    );
    // alice, an agent, signs in with her password and is sent to enrol
    let mut alice = app.signed_in("DEMO", "alice").await;
    let refused = alice.get("/conversations").await;
    refused.assert_status(303);
    assert_eq!(refused.header("location"), Some("/account/two-factor"));
    alice.get("/account").await.assert_status(303);
    let page = alice.get("/account/two-factor").await;
    page.assert_status(200)
        .assert_contains("Your role requires two-factor sign-in")
        .assert_lacks(r#"href="/conversations""#);
    let (secret, codes) = enrol(&app, &mut alice).await;
    alice.get("/conversations").await.assert_status(200);
    // required: it stays on
    app.clock().advance(TimeDelta::seconds(30));
    alice
        .get("/account/two-factor")
        .await
        .assert_lacks("Turn off");
    alice
        .post(
            "/account/two-factor/disable",
            &[("code", &code_now(&app, &secret))],
        )
        .await
        .assert_status(409);
    // an agent may not reset anyone's
    let sofia_id = id_of(&app, "DEMO", "sofia");
    alice.get("/conversations").await;
    alice
        .post(&format!("/users/{sofia_id}/two-factor/reset"), &[])
        .await
        .assert_status(403);
    // a supervisor resets alice's: her session ends, and she enrols again
    let alice_id = id_of(&app, "DEMO", "alice");
    sofia
        .get(&format!("/users/{alice_id}"))
        .await
        .assert_contains("reset-two-factor")
        .assert_contains("(required by the role)");
    sofia
        .post(&format!("/users/{alice_id}/two-factor/reset"), &[])
        .await
        .assert_status(303);
    assert!(crate::common::audit_summaries(&app, "user.two_factor.reset")[0].contains("alice"));
    alice.get("/conversations").await.assert_status(303);
    let (secret_after, codes_after): (Option<String>, i64) = (
        users::table
            .find(alice_id)
            .select(users::two_factor_secret)
            .first(&mut app.conn())
            .unwrap(),
        two_factor_recovery_codes::table
            .filter(two_factor_recovery_codes::user_id.eq(alice_id))
            .count()
            .get_result(&mut app.conn())
            .unwrap(),
    );
    assert_eq!((secret_after, codes_after), (None, 0));
    assert_eq!(codes.len(), 10);
    // nothing to reset now
    sofia
        .post(&format!("/users/{alice_id}/two-factor/reset"), &[])
        .await
        .assert_status(409);
    // she signs in with her password alone and must enrol again
    let mut alice = app.signed_in("DEMO", "alice").await;
    let again = alice.get("/conversations").await;
    assert_eq!(again.header("location"), Some("/account/two-factor"));
    // sofia's role does not require it: she may turn hers off, with a code
    let (own, _) = enrol(&app, &mut sofia).await;
    app.clock().advance(TimeDelta::seconds(30));
    sofia
        .get("/account/two-factor")
        .await
        .assert_contains("Turn off");
    sofia
        .post("/account/two-factor/disable", &[("code", "000000x")])
        .await
        .assert_status(422);
    sofia
        .post(
            "/account/two-factor/disable",
            &[("code", &code_now(&app, &own))],
        )
        .await
        .assert_status(303);
    assert_eq!(
        crate::common::audit_summaries(&app, "user.two_factor.disable").len(),
        1
    );
    let signed = app.signed_in("DEMO", "sofia").await;
    drop(signed);
}

on_both_databases!(roles_require_it_and_supervisors_reset_it);

/// Without a sealing key the server refuses enrolment with a message that says what is
/// missing, and refuses to require two-factor of anyone (nobody could enrol).
async fn without_a_key_enrolment_is_refused(app: TestApp) {
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    sofia
        .get("/account/two-factor")
        .await
        .assert_status(200)
        .assert_contains("SWITCHBOARD_SECRET_KEY")
        .assert_lacks("<svg");
    sofia
        .post("/account/two-factor", &[("code", "123456")])
        .await
        .assert_status(409)
        .assert_contains("SWITCHBOARD_SECRET_KEY");
    sofia
        .get("/settings")
        .await
        .assert_contains(r#"id="two-factor-unavailable""#);
    let agent = role_id(&app, "DEMO", "Agent");
    sofia
        .post("/settings/two-factor", &[("role_ids", &agent.to_string())])
        .await
        .assert_status(409);
    assert!(crate::common::audit_summaries(&app, "settings.two_factor").is_empty());
}

async fn without_a_key(backend: crate::common::Backend) {
    let app = TestApp::with_config(backend, |config| config.secret_key = None).await;
    without_a_key_enrolment_is_refused(app).await;
}

on_both_databases!(backend: without_a_key);

/// A challenge signs in once: a code and a recovery code sent at the same moment on one
/// challenge (two requests racing) open one session, not two.
async fn one_challenge_opens_one_session(app: TestApp) {
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    let (secret, codes) = enrol(&app, &mut sofia).await;
    app.clock().advance(TimeDelta::seconds(30));
    for (round, recovery) in codes.iter().take(3).enumerate() {
        let mut first = password_step(&app, "sofia").await;
        let mut second = app.client();
        second.cookies = first.cookies.clone();
        let code = code_now(&app, &secret);
        let (a, b) = tokio::join!(
            submit_code(&mut first, &code),
            submit_code(&mut second, recovery)
        );
        let signed_in = [&a, &b]
            .iter()
            .filter(|page| page.status.as_u16() == 303 && page.header("location") == Some("/"))
            .count();
        assert_eq!(signed_in, 1, "round {round}: {} and {}", a.status, b.status);
        app.clock().advance(TimeDelta::seconds(30));
    }
}

on_both_databases!(one_challenge_opens_one_session);

/// Two tabs opening the enrolment page at once show the same key, so the QR code either
/// one shows works.
async fn two_tabs_enrolling_show_one_key(app: TestApp) {
    let mut first = app.signed_in("DEMO", "sofia").await;
    let mut second = app.client();
    second.cookies = first.cookies.clone();
    let (a, b) = tokio::join!(
        first.get("/account/two-factor"),
        second.get("/account/two-factor")
    );
    assert_eq!(shown_secret(&a), shown_secret(&b));
    let secret = TotpSecret::from_base32(&shown_secret(&a)).unwrap();
    first
        .post("/account/two-factor", &[("code", &code_now(&app, &secret))])
        .await
        .assert_status(200);
}

on_both_databases!(two_tabs_enrolling_show_one_key);
