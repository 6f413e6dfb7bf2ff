//! Oversight and protection through the real App, on SQLite and on PostgreSQL: login history,
//! the activity log, sessions, lockout and throttling, exports.

use crate::common::on_both_databases;
use crate::common::{PASSWORD, TestApp, add_audit_records, company_id, id_of};
use diesel::prelude::*;
use switchboard::db::schema::{audit_events, contacts, login_events, sessions, users};
use switchboard::domain;

fn actions_since(app: &TestApp, after_id: i64) -> Vec<String> {
    audit_events::table
        .filter(audit_events::id.gt(after_id))
        .order(audit_events::id)
        .select(audit_events::action)
        .load(&mut app.conn())
        .unwrap()
}

fn last_audit_id(app: &TestApp) -> i64 {
    audit_events::table
        .select(diesel::dsl::max(audit_events::id))
        .first::<Option<i64>>(&mut app.conn())
        .unwrap()
        .unwrap_or(0)
}

async fn every_attempt_is_in_the_login_history(app: TestApp) {
    app.clock().stop();
    app.client()
        .login("DEMO", "alice", PASSWORD)
        .await
        .assert_status(303);
    app.client()
        .login("DEMO", "alice", "Wrong-Password-99")
        .await
        .assert_status(401);
    app.client()
        .login("DEMO", "ghost", PASSWORD)
        .await
        .assert_status(401);
    app.client()
        .login("DEMO", "carl", PASSWORD)
        .await
        .assert_status(401);
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    let page = sofia.get("/logins").await;
    page.assert_status(200)
        .assert_contains("bad_password")
        .assert_contains("unknown_user")
        .assert_contains("deactivated")
        .assert_contains("Chrome on Linux");
    // no password, token or session id is ever stored
    let stored: Vec<(String, String, String, String)> = login_events::table
        .select((
            login_events::username,
            login_events::reason,
            login_events::ip,
            login_events::user_agent,
        ))
        .load(&mut app.conn())
        .unwrap();
    let tokens: Vec<String> = sessions::table
        .select(sessions::token_hash)
        .load(&mut app.conn())
        .unwrap();
    for row in &stored {
        let line = format!("{row:?}");
        assert!(!line.contains("Harbor-Lantern") && !line.contains("Wrong-Password"));
        assert!(tokens.iter().all(|t| !line.contains(t.as_str())));
    }
    // a user's own page shows their recent sign-ins
    let alice = id_of(&app, "DEMO", "alice");
    sofia
        .get(&format!("/users/{alice}"))
        .await
        .assert_contains("id=\"recent-logins\"")
        .assert_contains("failed: bad_password")
        .assert_contains("signed in");
    // filters: user, outcome, dates
    let failed = sofia.get("/logins?user=alice&success=false").await;
    failed
        .assert_contains("bad_password")
        .assert_lacks("unknown_user")
        .assert_lacks("signed in<");
    // the day the attempts above were recorded on, by the app's clock (stopped at the start,
    // so a run across midnight still asks for the right day)
    let today = app.clock().now().date();
    sofia
        .get(&format!("/logins?from={today}&to={today}"))
        .await
        .assert_contains("bad_password");
    sofia
        .get("/logins?from=2001-01-01&to=2001-01-02")
        .await
        .assert_contains("No sign-in attempts match");
    sofia.get("/logins?from=yesterday").await.assert_status(422);
    // other companies' attempts are not shown
    app.client()
        .login("ACME", "olga", "Wrong-Password-99")
        .await;
    sofia
        .get("/logins?user=olga")
        .await
        .assert_contains("No sign-in attempts match");
    // an admin (dana: logins.view, activity.view) reads it; an agent cannot
    let mut dana = app.signed_in("DEMO", "dana").await;
    dana.get("/logins").await.assert_status(200);
    app.signed_in("DEMO", "alice")
        .await
        .get("/logins")
        .await
        .assert_status(403);
}

async fn forwarded_addresses_are_believed_only_from_trusted_proxies(app: TestApp) {
    let mut direct = app.client();
    direct.peer = "203.0.113.7:5000".parse().unwrap();
    direct.get("/login").await;
    let token = direct.cookies.get("sb_login_csrf").cloned().unwrap();
    direct
        .request(
            actix_web::http::Method::POST,
            "/login",
            Some(&[
                ("company_code", "DEMO"),
                ("username", "bob"),
                ("password", "nope-nope-nope"),
                ("csrf_token", &token),
            ]),
            &[("X-Forwarded-For", "198.51.100.9")],
        )
        .await
        .assert_status(401);
    let ip: String = login_events::table
        .order(login_events::id.desc())
        .select(login_events::ip)
        .first(&mut app.conn())
        .unwrap();
    assert_eq!(
        ip, "203.0.113.7",
        "an untrusted peer cannot choose its address"
    );

    let trusting = TestApp::with_config(app.backend, |config| {
        config.trusted_proxies = switchboard::config::parse_proxies("10.0.0.0/8").unwrap();
    })
    .await;
    let mut via_proxy = trusting.client();
    via_proxy.peer = "10.1.2.3:5000".parse().unwrap();
    via_proxy.get("/login").await;
    let token = via_proxy.cookies.get("sb_login_csrf").cloned().unwrap();
    via_proxy
        .request(
            actix_web::http::Method::POST,
            "/login",
            Some(&[
                ("company_code", "DEMO"),
                ("username", "bob"),
                ("password", "nope-nope-nope"),
                ("csrf_token", &token),
            ]),
            &[("X-Forwarded-For", "1.1.1.1, 198.51.100.9")],
        )
        .await
        .assert_status(401);
    let ip: String = login_events::table
        .order(login_events::id.desc())
        .select(login_events::ip)
        .first(&mut trusting.conn())
        .unwrap();
    assert_eq!(ip, "198.51.100.9");
}

/// A sign-in attempt from its own address (so the per-address throttle stays out of the way).
async fn attempt_from(
    app: &TestApp,
    n: u32,
    username: &str,
    password: &str,
) -> crate::common::Page {
    let mut client = app.client();
    client.peer = format!("10.77.{}.{}:4000", n / 250, n % 250 + 1)
        .parse()
        .unwrap();
    client.login("DEMO", username, password).await
}

async fn lockouts_grow_and_supervisors_unlock(app: TestApp) {
    let clock = app.clock();
    clock.stop();
    let bob = id_of(&app, "DEMO", "bob");
    let before = last_audit_id(&app);
    let locked_for = || -> Option<chrono::TimeDelta> {
        let until: Option<chrono::NaiveDateTime> = users::table
            .find(bob)
            .select(users::locked_until)
            .first(&mut app.conn())
            .unwrap();
        until.map(|until| until - clock.now())
    };
    let last_reason = || -> String {
        login_events::table
            .order(login_events::id.desc())
            .select(login_events::reason)
            .first(&mut app.conn())
            .unwrap()
    };
    // ten failures lock for a minute; each lock that runs out and is followed by ten more
    // failures locks twice as long as the one before, never more than 15 minutes
    let mut address = 0;
    for (lock, minutes) in [1, 2, 4, 8, 15, 15].into_iter().enumerate() {
        for _ in 0..10 {
            address += 1;
            attempt_from(&app, address, "bob", "Wrong-Password-99")
                .await
                .assert_status(401);
        }
        assert_eq!(
            locked_for(),
            Some(chrono::TimeDelta::minutes(minutes)),
            "lock {}",
            lock + 1
        );
        // a second before it runs out, even the right password is refused, unchecked
        clock.advance(chrono::TimeDelta::minutes(minutes) - chrono::TimeDelta::seconds(1));
        app.client()
            .login("DEMO", "bob", PASSWORD)
            .await
            .assert_status(401);
        assert_eq!(last_reason(), "locked");
        clock.advance(chrono::TimeDelta::seconds(1));
    }
    assert!(actions_since(&app, before).contains(&"user.locked".to_string()));
    // the lock has run out: the right password signs in and starts the count again, so the
    // next ten failures lock for one minute, as the first did
    app.client()
        .login("DEMO", "bob", PASSWORD)
        .await
        .assert_status(303);
    for _ in 0..10 {
        address += 1;
        attempt_from(&app, address, "bob", "Wrong-Password-99").await;
    }
    assert_eq!(locked_for(), Some(chrono::TimeDelta::minutes(1)));
    // a supervisor lifts a lock at once
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    sofia.get(&format!("/users/{bob}")).await;
    sofia
        .post(&format!("/users/{bob}/unlock"), &[])
        .await
        .assert_status(303);
    assert_eq!(locked_for(), None);
    app.client()
        .login("DEMO", "bob", PASSWORD)
        .await
        .assert_status(303);
}

async fn one_address_failing_too_often_is_throttled(app: TestApp) {
    let mut attacker = app.client();
    attacker.peer = "192.0.2.66:4000".parse().unwrap();
    // the failures all at one instant, so the wait is known to the second
    app.clock().stop();
    // different accounts, so no single account locks first; 30 checks, then none
    for n in 0..30 {
        attacker
            .login("DEMO", &format!("nobody{n}"), "Wrong-Password-99")
            .await
            .assert_status(401);
    }
    let page = attacker.login("DEMO", "sofia", PASSWORD).await;
    page.assert_status(429);
    // free again when the oldest failure leaves the ten-minute window
    let retry_after = |page: &crate::common::Page| -> u64 {
        page.header("retry-after").unwrap().parse().unwrap()
    };
    assert_eq!(retry_after(&page), 600);
    let reason: String = login_events::table
        .order(login_events::id.desc())
        .select(login_events::reason)
        .first(&mut app.conn())
        .unwrap();
    assert_eq!(reason, "throttled");
    let (action, summary): (String, String) = audit_events::table
        .order(audit_events::id.desc())
        .select((audit_events::action, audit_events::summary))
        .first(&mut app.conn())
        .unwrap();
    assert_eq!(action, "login.throttled");
    assert!(summary.contains("192.0.2.66"));
    // another address is not affected; after the window the address may try again
    app.client()
        .login("DEMO", "sofia", PASSWORD)
        .await
        .assert_status(303);
    app.clock().advance(chrono::TimeDelta::minutes(4));
    let page = attacker.login("DEMO", "sofia", PASSWORD).await;
    page.assert_status(429);
    assert_eq!(retry_after(&page), 360);
    app.clock().advance(chrono::TimeDelta::minutes(6));
    attacker
        .login("DEMO", "sofia", PASSWORD)
        .await
        .assert_status(303);
}

/// (path, form fields, the one action it must record; empty when nothing changes)
type Step = (String, Vec<(&'static str, String)>, &'static str);

/// Every kind of change writes exactly one activity record, and the page shows them.
async fn each_change_writes_one_activity_record(app: TestApp) {
    let (alice, bob) = (id_of(&app, "DEMO", "alice"), id_of(&app, "DEMO", "bob"));
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    sofia.get("/users").await;
    let agent = domain::roles::find_by_name(&mut app.conn(), company_id(&app, "DEMO"), "Agent")
        .unwrap()
        .id
        .to_string();
    let whatsapp: i64 = switchboard::db::schema::channels::table
        .filter(switchboard::db::schema::channels::name.eq("WhatsApp Sales"))
        .select(switchboard::db::schema::channels::id)
        .first(&mut app.conn())
        .unwrap();
    let conversation: i64 = switchboard::db::schema::conversations::table
        .filter(switchboard::db::schema::conversations::assignee_id.eq(alice))
        .filter(switchboard::db::schema::conversations::channel_id.eq(whatsapp))
        .filter(switchboard::db::schema::conversations::status.eq("open"))
        .select(switchboard::db::schema::conversations::id)
        .first(&mut app.conn())
        .unwrap();
    let settings = [
        ("password_min_length", "12"),
        ("password_require_upper", "on"),
        ("password_require_lower", "on"),
        ("password_require_digit", "on"),
        ("password_require_symbol", "on"),
        ("password_min_score", "3"),
        ("password_max_age_days", "0"),
        // one real change (30 by default): saving the same values records nothing
        ("idle_timeout_minutes", "25"),
        ("session_lifetime_hours", "12"),
        ("lockout_threshold", "10"),
        ("end_session_on_client_change", "on"),
        ("reveal_daily_cap", "10"),
        ("missed_chat_minutes", "15"),
    ];
    let steps: Vec<Step> = vec![
        (
            format!("/users/{bob}"),
            vec![
                ("display_name", "Bob T".into()),
                ("email", "".into()),
                ("phone", "".into()),
            ],
            "user.update",
        ),
        (
            format!("/users/{bob}/deactivate"),
            vec![],
            "user.deactivate",
        ),
        (
            format!("/users/{bob}/reactivate"),
            vec![],
            "user.reactivate",
        ),
        (format!("/users/{bob}/unlock"), vec![], "user.unlock"),
        (
            "/roles".into(),
            vec![
                ("name", "Finance".into()),
                ("permissions", "reports.view".into()),
            ],
            "role.create",
        ),
        (
            "/channels".into(),
            vec![("name", "Line".into()), ("kind", "sms".into())],
            "channel.create",
        ),
        (
            "/assignments".into(),
            vec![
                ("user_id", bob.to_string()),
                ("channel_id", whatsapp.to_string()),
                ("assigned", "false".into()),
            ],
            "assignment.remove",
        ),
        (
            format!("/conversations/{conversation}/messages"),
            vec![("body", "On it".into())],
            "conversation.reply",
        ),
        (
            format!("/conversations/{conversation}/close"),
            vec![],
            "conversation.close",
        ),
        (
            "/settings".into(),
            settings.iter().map(|(k, v)| (*k, v.to_string())).collect(),
            "settings.update",
        ),
        (
            format!("/users/{alice}/role"),
            vec![("role_id", agent.clone())],
            "",
        ),
    ];
    for (path, fields, action) in steps {
        let before = last_audit_id(&app);
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let page = sofia.post(&path, &fields).await;
        assert!(page.status.is_redirection(), "{path}: {}", page.status);
        let written = actions_since(&app, before);
        if action.is_empty() {
            assert!(written.is_empty(), "no change, no record: {written:?}");
        } else {
            assert_eq!(written, vec![action.to_string()], "{path}");
        }
    }
    // sessions ended by a supervisor, and exports, are changes too
    let mut bob_client = app.signed_in("DEMO", "bob").await;
    bob_client.get("/conversations").await;
    let bob_session: i64 = sessions::table
        .filter(sessions::user_id.eq(bob))
        .filter(sessions::revoked_at.is_null())
        .select(sessions::id)
        .first(&mut app.conn())
        .unwrap();
    sofia.get("/sessions").await;
    let before = last_audit_id(&app);
    sofia
        .post(&format!("/sessions/{bob_session}/revoke"), &[])
        .await
        .assert_status(303);
    assert_eq!(actions_since(&app, before), ["session.end"]);
    let page = sofia.get("/activity?action=user.").await;
    page.assert_status(200)
        .assert_contains("<code>user.deactivate</code>")
        .assert_contains("<code>user.reactivate</code>")
        .assert_lacks("<code>role.create</code>");
    // targets link to their pages, for whoever may open them: sofia may, the auditor may not
    page.assert_contains(&format!("<a href=\"/users/{bob}\">"));
    let mut dana = app.signed_in("DEMO", "dana").await;
    dana.get("/activity?action=user.")
        .await
        .assert_status(200)
        .assert_contains("<code>user.deactivate</code>")
        .assert_lacks("<a href=\"/users/");
    sofia
        .get("/activity?actor=sofia&action=settings.update")
        .await
        .assert_contains("<code>settings.update</code>")
        .assert_lacks("<code>user.deactivate</code>");
    sofia
        .get("/activity?from=2001-01-01&to=2001-01-01")
        .await
        .assert_contains("No activity matches");
    sofia.get("/activity?to=soon").await.assert_status(422);
    // every record of the company still forms an intact chain
    assert!(matches!(
        domain::audit::verify(&mut app.conn(), company_id(&app, "DEMO")).unwrap(),
        domain::audit::Verification::Intact { .. }
    ));
}

async fn the_activity_log_pages_by_keyset(app: TestApp) {
    add_audit_records(&app, ("test.bulk", "bulk"), 0..250);
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    let mut seen = std::collections::HashSet::new();
    let mut path = "/activity?action=test.bulk".to_string();
    for _ in 0..5 {
        let page = sofia.get(&path).await;
        for n in 0..250 {
            let needle = format!("bulk record {n:03}<");
            if page.body.contains(&needle) {
                assert!(seen.insert(n), "record {n} shown twice");
            }
        }
        let Some(start) = page.body.find("before=") else {
            break;
        };
        let cursor: String = page.body[start + 7..]
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '_')
            .collect();
        path = format!("/activity?action=test.bulk&before={cursor}");
    }
    assert_eq!(seen.len(), 250);
}

async fn supervisors_list_and_end_sessions_of_their_company_only(app: TestApp) {
    let bob = id_of(&app, "DEMO", "bob");
    let mut laptop = app.signed_in("DEMO", "bob").await;
    let mut phone = app.signed_in("DEMO", "bob").await;
    laptop.get("/conversations").await.assert_status(200);
    phone.get("/conversations").await.assert_status(200);
    let mut olga = app.signed_in("ACME", "olga").await;
    olga.get("/sessions")
        .await
        .assert_status(200)
        .assert_lacks("Bob Tanaka");
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    let page = sofia.get("/sessions").await;
    page.assert_status(200)
        .assert_contains("Bob Tanaka")
        .assert_contains("you, here")
        .assert_lacks("Olga");
    // grouped by person: bob's two sessions under one name, counted
    assert_eq!(
        page.body.matches("Bob Tanaka <small>").count(),
        1,
        "bob named once"
    );
    page.assert_contains("@bob · 2 sessions");
    let bobs: Vec<i64> = sessions::table
        .filter(sessions::user_id.eq(bob))
        .order(sessions::id)
        .select(sessions::id)
        .load(&mut app.conn())
        .unwrap();
    // ACME's supervisor cannot end DEMO's sessions
    olga.post(&format!("/sessions/{}/revoke", bobs[0]), &[])
        .await
        .assert_status(404);
    olga.post("/sessions/revoke-user", &[("user_id", &bob.to_string())])
        .await
        .assert_status(404);
    laptop.get("/conversations").await.assert_status(200);
    sofia
        .post(&format!("/sessions/{}/revoke", bobs[0]), &[])
        .await
        .assert_status(303);
    laptop.get("/conversations").await.assert_status(303);
    phone.get("/conversations").await.assert_status(200);
    let mut tablet = app.signed_in("DEMO", "bob").await;
    sofia.get("/sessions").await;
    sofia
        .post("/sessions/revoke-user", &[("user_id", &bob.to_string())])
        .await
        .assert_status(303);
    phone.get("/conversations").await.assert_status(303);
    tablet.get("/conversations").await.assert_status(303);
    // agents cannot see or end anyone's sessions
    let mut alice = app.signed_in("DEMO", "alice").await;
    alice.get("/sessions").await.assert_status(403);
}

/// The page shows at most LIVE_SESSIONS_SHOWN sessions and says so when more are live,
/// rather than leaving the rest out without a word.
async fn the_sessions_page_says_when_more_are_live_than_it_shows(app: TestApp) {
    use switchboard::domain::sessions::{LIVE_SESSIONS_SHOWN, NewSession, create};
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    sofia
        .get("/sessions")
        .await
        .assert_status(200)
        .assert_lacks("sessions-more");
    let demo = switchboard::domain::companies::find_by_code(&mut app.conn(), "DEMO")
        .unwrap()
        .unwrap();
    let bob = id_of(&app, "DEMO", "bob");
    // bob signed in on as many browsers as the page shows: with sofia's, one more than that
    switchboard::db::write_transaction(&mut app.conn(), |conn| {
        for n in 0..LIVE_SESSIONS_SHOWN {
            create(
                conn,
                &NewSession {
                    token_hash: &format!("many-{n}"),
                    company_id: demo.id,
                    user_id: switchboard::core::ids::UserId(bob),
                    csrf_token: "t",
                    ip: "10.9.0.1",
                    user_agent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0",
                },
            )?;
        }
        Ok(())
    })
    .unwrap();
    let page = sofia.get("/sessions").await;
    page.assert_status(200)
        .assert_contains("id=\"sessions-more\"");
    assert_eq!(
        page.body.matches("End this session").count() as i64
            + page.body.matches("Use Sign out to end this one").count() as i64,
        LIVE_SESSIONS_SHOWN
    );
    // one fewer live: all of them fit, and the page says nothing
    diesel::update(sessions::table.filter(sessions::token_hash.eq("many-0")))
        .set(sessions::revoked_at.eq(Some(chrono::Utc::now().naive_utc())))
        .execute(&mut app.conn())
        .unwrap();
    sofia
        .get("/sessions")
        .await
        .assert_status(200)
        .assert_lacks("sessions-more");
}

on_both_databases!(the_sessions_page_says_when_more_are_live_than_it_shows);

async fn a_session_moving_to_another_address_is_ended(app: TestApp) {
    let alice = id_of(&app, "DEMO", "alice");
    let mut client = app.signed_in("DEMO", "alice").await;
    client.get("/conversations").await.assert_status(200);
    let before = last_audit_id(&app);
    // the cookie shows up from elsewhere
    client.peer = "198.51.100.200:1234".parse().unwrap();
    let page = client.get("/conversations").await;
    page.assert_status(303);
    assert!(page.location().unwrap().starts_with("/login"));
    let reason: Option<String> = sessions::table
        .filter(sessions::user_id.eq(alice))
        .select(sessions::revoked_reason)
        .first(&mut app.conn())
        .unwrap();
    assert_eq!(reason.as_deref(), Some("client changed"));
    assert_eq!(actions_since(&app, before), ["session.suspicious_end"]);
    // the record says what moved
    let said = crate::common::audit_summaries(&app, "session.suspicious_end");
    assert!(
        said.last()
            .is_some_and(|s| s.ends_with("of alice ended: client address changed mid-session")),
        "{said:?}"
    );
    // going back does not revive it
    client.peer = "127.0.0.1:40000".parse().unwrap();
    client.get("/conversations").await.assert_status(303);
    // a company may switch the rule off
    diesel::update(
        switchboard::db::schema::companies::table
            .filter(switchboard::db::schema::companies::code.eq("DEMO")),
    )
    .set(switchboard::db::schema::companies::end_session_on_client_change.eq(false))
    .execute(&mut app.conn())
    .unwrap();
    let mut roaming = app.signed_in("DEMO", "alice").await;
    roaming.peer = "198.51.100.200:1234".parse().unwrap();
    roaming.get("/conversations").await.assert_status(200);
}

async fn exports_are_gated_masked_and_recorded(app: TestApp) {
    // alice (agent) holds no exports.create
    let mut alice = app.signed_in("DEMO", "alice").await;
    alice
        .get("/exports/conversations.csv")
        .await
        .assert_status(403);
    // give alice's role exports.create: she exports her conversations, masked
    let agent = domain::roles::find_by_name(&mut app.conn(), company_id(&app, "DEMO"), "Agent")
        .unwrap()
        .id;
    diesel::insert_into(switchboard::db::schema::role_permissions::table)
        .values((
            switchboard::db::schema::role_permissions::role_id.eq(agent),
            switchboard::db::schema::role_permissions::permission.eq("exports.create"),
        ))
        .execute(&mut app.conn())
        .unwrap();
    diesel::update(switchboard::db::schema::roles::table.find(agent))
        .set(
            switchboard::db::schema::roles::version.eq(switchboard::db::schema::roles::version + 1),
        )
        .execute(&mut app.conn())
        .unwrap();
    // a change behind the app's back, as another instance would make it
    app.wait_for_change_elsewhere();
    let before = last_audit_id(&app);
    let csv = alice.get("/exports/conversations.csv?status=all").await;
    csv.assert_status(200);
    assert!(csv.header("content-type").unwrap().starts_with("text/csv"));
    let lines: Vec<&str> = csv.body.lines().collect();
    assert!(lines[0].starts_with("id,contact,phone,email"));
    let hers: i64 = switchboard::db::schema::conversations::table
        .filter(
            switchboard::db::schema::conversations::assignee_id.eq(id_of(&app, "DEMO", "alice")),
        )
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(
        lines.len() as i64 - 1,
        hers,
        "every conversation of alice's, open and closed"
    );
    let secrets: Vec<(Option<String>, Option<String>)> = contacts::table
        .select((contacts::phone, contacts::email))
        .load(&mut app.conn())
        .unwrap();
    for (phone, email) in secrets {
        let phone = phone.unwrap();
        assert!(
            !csv.body.contains(&phone)
                && !csv.body.contains(
                    &phone
                        .chars()
                        .filter(char::is_ascii_digit)
                        .collect::<String>()
                )
        );
        if let Some(email) = email {
            assert!(!csv.body.contains(&email));
        }
    }
    assert!(csv.body.contains("***@***."));
    // opened before the first byte, closed with the row count once everything was sent
    let records: Vec<(String, String)> = audit_events::table
        .filter(audit_events::id.gt(before))
        .order(audit_events::id)
        .select((audit_events::action, audit_events::summary))
        .load(&mut app.conn())
        .unwrap();
    assert_eq!(
        records,
        [
            (
                "export.create".to_string(),
                "conversations.csv started with filters [status=all]; contact details masked"
                    .to_string()
            ),
            (
                "export.finish".to_string(),
                format!(
                    "conversations.csv: {} sent",
                    switchboard::core::text::count(hers, "row", "rows")
                )
            ),
        ]
    );
    // logins and activity exports need their pages' permissions too
    alice.get("/exports/logins.csv").await.assert_status(403);
    alice.get("/exports/activity.csv").await.assert_status(403);
    let mut dana = app.signed_in("DEMO", "dana").await;
    dana.get("/exports/logins.csv").await.assert_status(403);
    // a supervisor exports everything, in full, with the page's filters
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    let logins = sofia.get("/exports/logins.csv?user=alice").await;
    logins.assert_status(200);
    let said: String = audit_events::table
        .filter(audit_events::action.eq("export.create"))
        .order(audit_events::id.desc())
        .select(audit_events::summary)
        .first(&mut app.conn())
        .unwrap();
    assert!(
        said.ends_with("; contact details in full (contacts.view_unmasked)"),
        "an unmasked export says so: {said}"
    );
    assert!(logins.body.lines().skip(1).all(|l| l.contains(",alice,")));
    assert!(logins.body.lines().count() >= 2);
    let activity = sofia.get("/exports/activity.csv?action=export.").await;
    activity.assert_status(200).assert_contains("export.create");
    let full = sofia.get("/exports/conversations.csv?status=all").await;
    let demo_contacts: i64 = switchboard::db::schema::conversations::table
        .filter(switchboard::db::schema::conversations::company_id.eq(company_id(&app, "DEMO")))
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(full.body.lines().count() as i64 - 1, demo_contacts);
    let first_phone: Option<String> = contacts::table
        .filter(contacts::company_id.eq(company_id(&app, "DEMO")))
        .select(contacts::phone)
        .first(&mut app.conn())
        .unwrap();
    // phones start with '+': kept as text for spreadsheets
    assert!(full.body.contains(&format!("'{}", first_phone.unwrap())));
    sofia
        .get("/exports/logins.csv?from=nope")
        .await
        .assert_status(422);
}

/// Pages show times in the viewer's own zone, named; another viewer's pages keep theirs.
async fn times_show_in_the_viewers_time_zone(app: TestApp) {
    use chrono::TimeZone;
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    let signed_in: chrono::NaiveDateTime = login_events::table
        .filter(login_events::username.eq("sofia"))
        .filter(login_events::success.eq(true))
        .order(login_events::id.desc())
        .select(login_events::created_at)
        .first(&mut app.conn())
        .unwrap();
    let utc = signed_in.format("%Y-%m-%d %H:%M UTC").to_string();
    let tokyo = chrono_tz::Asia::Tokyo
        .from_utc_datetime(&signed_in)
        .format("%Y-%m-%d %H:%M JST")
        .to_string();
    sofia.get("/logins?user=sofia").await.assert_contains(&utc);
    sofia.get("/account").await;
    sofia
        .post("/account/time-zone", &[("time_zone", "Asia/Tokyo")])
        .await
        .assert_status(303);
    sofia
        .get("/logins?user=sofia")
        .await
        .assert_contains(&tokyo)
        .assert_lacks(&utc);
    // sam did not choose: UTC
    let mut sam = app.signed_in("DEMO", "sam").await;
    sam.get("/logins?user=sofia").await.assert_contains(&utc);
}

on_both_databases!(
    times_show_in_the_viewers_time_zone,
    every_attempt_is_in_the_login_history,
    forwarded_addresses_are_believed_only_from_trusted_proxies,
    lockouts_grow_and_supervisors_unlock,
    one_address_failing_too_often_is_throttled,
    repeated_refusals_are_summarised,
    each_change_writes_one_activity_record,
    the_activity_log_pages_by_keyset,
    supervisors_list_and_end_sessions_of_their_company_only,
    a_session_moving_to_another_address_is_ended,
    a_session_moving_to_another_browser_is_ended,
    lockout_comes_after_ten_consecutive_failures,
    the_sign_in_page_says_why_a_session_ended,
    auditors_filter_by_parts_and_read_reasons_in_words,
    exports_are_gated_masked_and_recorded,
);

/// Auditors find records by part of a name or an action ("ali", "deactivate"), read failure
/// reasons in words, and are told when the dates are the wrong way round.
async fn auditors_filter_by_parts_and_read_reasons_in_words(app: TestApp) {
    let bob = id_of(&app, "DEMO", "bob");
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    sofia.get(&format!("/users/{bob}")).await;
    sofia
        .post(&format!("/users/{bob}/deactivate"), &[])
        .await
        .assert_status(303);
    attempt_from(&app, 900, "bob", "Wrong-Password-99").await;
    attempt_from(&app, 901, "alice", "Wrong-Password-99").await;

    let by_action = sofia.get("/activity?action=deactivate").await;
    by_action
        .assert_status(200)
        .assert_contains("<code>user.deactivate</code>")
        .assert_lacks("<code>session.");
    sofia
        .get("/activity?actor=sof&action=user.")
        .await
        .assert_contains("<code>user.deactivate</code>");
    sofia
        .get("/activity?actor=zz")
        .await
        .assert_lacks("<code>user.deactivate</code>");
    let logins = sofia.get("/logins?user=ali").await;
    logins
        .assert_status(200)
        .assert_contains("wrong password")
        .assert_lacks(">bob<");
    sofia
        .get("/logins?user=bo")
        .await
        .assert_contains("account deactivated");
    // a filter that does not read: the page again, its form keeping what was typed, the
    // reason beside it, and no rows
    sofia
        .get("/activity?actor=sofia&from=2026-03-10&to=2026-03-01")
        .await
        .assert_status(422)
        .assert_contains("id=\"filter-error\"")
        .assert_contains("swap them")
        .assert_contains("name=\"actor\" value=\"sofia\"")
        .assert_contains("value=\"2026-03-10\"")
        .assert_lacks("id=\"activity-table\"");
    sofia
        .get("/logins?user=alice&from=yesterday")
        .await
        .assert_status(422)
        .assert_contains("id=\"filter-error\"")
        .assert_contains("written YYYY-MM-DD")
        .assert_contains("value=\"yesterday\"")
        .assert_lacks("id=\"logins-table\"");
}

/// Whoever still holds the cookie of an ended session is sent to the sign-in page with the
/// reason, and the page says it in words: ended by an administrator, expired, ended for
/// safety. The cookie is dropped on the way, and only known reasons are ever shown.
async fn the_sign_in_page_says_why_a_session_ended(app: TestApp) {
    let bob = id_of(&app, "DEMO", "bob");
    let live_session = |app: &TestApp| -> i64 {
        sessions::table
            .filter(sessions::user_id.eq(bob))
            .filter(sessions::revoked_at.is_null())
            .order(sessions::id.desc())
            .select(sessions::id)
            .first(&mut app.conn())
            .unwrap()
    };
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    sofia.get("/sessions").await;

    // ended by a supervisor
    let mut bob_client = app.signed_in("DEMO", "bob").await;
    bob_client.get("/conversations").await.assert_status(200);
    sofia
        .post(&format!("/sessions/{}/revoke", live_session(&app)), &[])
        .await
        .assert_status(303);
    let page = bob_client.get("/conversations").await;
    page.assert_status(303);
    let location = page.location().unwrap().to_string();
    assert_eq!(location, "/login?next=/conversations&reason=ended");
    bob_client
        .get(&location)
        .await
        .assert_status(200)
        .assert_contains("You were signed out by an administrator.");
    // the cookie went with it: the next visit is a plain sign-in
    let again = bob_client.get("/conversations").await;
    assert_eq!(again.location(), Some("/login?next=/conversations"));

    // idle too long
    let mut bob_client = app.signed_in("DEMO", "bob").await;
    app.clock().advance(chrono::TimeDelta::hours(3));
    let page = bob_client.get("/conversations").await;
    assert_eq!(
        page.location(),
        Some("/login?next=/conversations&reason=expired")
    );
    bob_client
        .get("/login?next=/conversations&reason=expired")
        .await
        .assert_contains("Your session expired.");

    // used from another browser
    let mut bob_client = app.signed_in("DEMO", "bob").await;
    bob_client.user_agent = "curl/8.5.0".into();
    let page = bob_client.get("/conversations").await;
    assert_eq!(page.location(), Some("/login?next=/&reason=safety"));

    // nothing else is ever echoed
    app.client()
        .get("/login?reason=%3Cb%3Ehello%3C%2Fb%3E")
        .await
        .assert_status(200)
        .assert_lacks("hello")
        .assert_lacks("login-notice");
}

/// The same cookie sent by another browser (another User-Agent) ends the session, at the
/// same address.
async fn a_session_moving_to_another_browser_is_ended(app: TestApp) {
    let alice = id_of(&app, "DEMO", "alice");
    let mut client = app.signed_in("DEMO", "alice").await;
    client.get("/conversations").await.assert_status(200);
    let before = last_audit_id(&app);
    client.user_agent = "curl/8.5.0".into();
    let page = client.get("/conversations").await;
    page.assert_status(303);
    assert!(page.location().unwrap().starts_with("/login"));
    let reason: Option<String> = sessions::table
        .filter(sessions::user_id.eq(alice))
        .select(sessions::revoked_reason)
        .first(&mut app.conn())
        .unwrap();
    assert_eq!(reason.as_deref(), Some("client changed"));
    assert_eq!(actions_since(&app, before), ["session.suspicious_end"]);
    let said = crate::common::audit_summaries(&app, "session.suspicious_end");
    assert!(
        said.last()
            .is_some_and(|s| s.ends_with("of alice ended: browser changed mid-session")),
        "{said:?}"
    );
}

/// Nine wrong passwords do not lock an account, a right one in between starts the count
/// again, and the tenth in a row locks it (the company's threshold is 10).
async fn lockout_comes_after_ten_consecutive_failures(app: TestApp) {
    let locked = |app: &TestApp| -> bool {
        users::table
            .find(id_of(app, "DEMO", "bob"))
            .select(users::locked_until)
            .first::<Option<chrono::NaiveDateTime>>(&mut app.conn())
            .unwrap()
            .is_some_and(|until| until > app.clock().now())
    };
    async fn fail(app: &TestApp, from: u32, times: u32) {
        for n in from..from + times {
            attempt_from(app, n + 500, "bob", "Wrong-Password-99")
                .await
                .assert_status(401);
        }
    }
    fail(&app, 0, 9).await;
    assert!(!locked(&app), "locked after 9 failures");
    app.client()
        .login("DEMO", "bob", PASSWORD)
        .await
        .assert_status(303);
    fail(&app, 9, 9).await;
    assert!(!locked(&app), "the success did not start the count again");
    fail(&app, 18, 1).await;
    assert!(locked(&app), "not locked after 10 failures in a row");
    app.client()
        .login("DEMO", "bob", PASSWORD)
        .await
        .assert_status(401);
}

/// A signed-in agent looping on a forbidden page, or an address hammering sign-in after it
/// is throttled, cannot flood the company's chain: the first refusal of a window is recorded
/// at once, the rest become one summary record when the window closes.
async fn repeated_refusals_are_summarised(app: TestApp) {
    // the windows are counted on the app's clock: stop it a minute into a window
    use chrono::Timelike;
    let clock = app.clock();
    clock.stop();
    let at = clock.now();
    let window = i64::from(domain::audit::REFUSAL_WINDOW_MINUTES);
    let into_window = i64::from(at.minute()) % window * 60 + i64::from(at.second());
    clock.advance(chrono::TimeDelta::seconds(window * 60 - into_window + 60));
    let before = last_audit_id(&app);
    let mut alice = app.signed_in("DEMO", "alice").await;
    for _ in 0..50 {
        alice.get("/users").await.assert_status(403);
    }
    // refused once: recorded in full, nothing to summarise
    let mut bob = app.signed_in("DEMO", "bob").await;
    bob.get("/settings").await.assert_status(403);
    let mut attacker = app.client();
    attacker.peer = "203.0.113.9:4000".parse().unwrap();
    for n in 0..30 {
        attacker
            .login("DEMO", &format!("nobody{n}"), "Wrong-Password-99")
            .await
            .assert_status(401);
    }
    for _ in 0..20 {
        attacker
            .login("DEMO", "sofia", PASSWORD)
            .await
            .assert_status(429);
    }
    let actions = actions_since(&app, before);
    let count = |name: &str| actions.iter().filter(|a| *a == name).count();
    assert_eq!(count("access.denied"), 2, "{actions:?}");
    assert_eq!(count("login.throttled"), 1, "{actions:?}");
    // nothing is summarised while the window is open
    let now = clock.now();
    let summarised = domain::audit::summarize_refusals(&mut app.conn(), now).unwrap();
    assert_eq!(summarised, 0);
    // when it has closed: one summary each, with the count; a second run writes nothing
    let later = now + chrono::Duration::minutes(11);
    let summarised = domain::audit::summarize_refusals(&mut app.conn(), later).unwrap();
    assert_eq!(summarised, 2);
    assert_eq!(
        domain::audit::summarize_refusals(&mut app.conn(), later).unwrap(),
        0
    );
    // every closed window is settled, bob's single refusal included: none is scanned again
    let open: i64 = switchboard::db::schema::refusal_windows::table
        .filter(switchboard::db::schema::refusal_windows::summarized.eq(false))
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(open, 0);
    let summaries: Vec<String> = audit_events::table
        .filter(audit_events::id.gt(before))
        .filter(audit_events::action.eq("refusals.summary"))
        .order(audit_events::id)
        .select(audit_events::summary)
        .load(&mut app.conn())
        .unwrap();
    assert_eq!(summaries.len(), 2, "{summaries:?}");
    assert!(
        summaries
            .iter()
            .any(|s| s.starts_with("49 more access.denied refusals of alice")),
        "{summaries:?}"
    );
    assert!(
        summaries
            .iter()
            .any(|s| s.starts_with("19 more login.throttled refusals of 203.0.113.9")),
        "{summaries:?}"
    );
    // the chain is intact
    let demo = company_id(&app, "DEMO");
    assert!(matches!(
        domain::audit::verify(&mut app.conn(), demo).unwrap(),
        domain::audit::Verification::Intact { .. }
    ));
}
