//! The foundation through the real App, on SQLite and on PostgreSQL: sign-in, sessions,
//! CSRF, the route guard, tenancy, masking, security headers.

use crate::common::on_both_databases;
use crate::common::{Backend, PASSWORD, TestApp};
use actix_web::http::Method;
use chrono::Duration;
use diesel::prelude::*;
use switchboard::access::Rule;
use switchboard::core::ids::UserId;
use switchboard::db::schema::{contacts, conversations, login_events, roles, sessions, users};
use switchboard::domain::{self, Actor};

const GENERIC: &str = "Those details did not match an active account.";

fn user_id(app: &TestApp, company: &str, username: &str) -> i64 {
    let mut conn = app.conn();
    let company = domain::companies::find_by_code(&mut conn, company)
        .unwrap()
        .unwrap();
    domain::users::find_by_username(&mut conn, company.id, username)
        .unwrap()
        .unwrap()
        .id
        .0
}

/// `next` survives for pages whose path merely starts like the sign-in page: an auditor sent
/// away from `/logins` comes back to `/logins`; `/login` itself still never loops back.
async fn sign_in_returns_to_pages_that_start_like_login(app: TestApp) {
    let mut client = app.client();
    let away = client.get("/logins?user=alice").await;
    away.assert_status(303);
    assert_eq!(away.location(), Some("/login?next=/logins%3Fuser%3Dalice"));
    client
        .get(away.location().unwrap())
        .await
        .assert_status(200)
        .assert_contains("value=\"/logins?user=alice\"");
    let page = client
        .post(
            "/login",
            &[
                ("company_code", "DEMO"),
                ("username", "dana"),
                ("password", PASSWORD),
                ("next", "/logins?user=alice"),
            ],
        )
        .await;
    page.assert_status(303);
    assert_eq!(page.location(), Some("/logins?user=alice"));
    client
        .get("/logins?user=alice")
        .await
        .assert_status(200)
        .assert_contains("Login history");

    // the sign-in page itself is never where sign-in leads
    let mut other = app.client();
    other.get("/login").await.assert_status(200);
    let page = other
        .post(
            "/login",
            &[
                ("company_code", "DEMO"),
                ("username", "dana"),
                ("password", PASSWORD),
                ("next", "/login?next=/logins"),
            ],
        )
        .await;
    assert_eq!(page.location(), Some("/"));
}

/// HEAD is answered like GET on every route that answers GET: probes and link checkers use
/// it. (The body is dropped by actix's HTTP/1 encoder on the wire, not by the App.)
async fn head_is_answered_like_get(app: TestApp) {
    let mut visitor = app.client();
    for path in ["/healthz", "/readyz", "/login", "/static/app.css"] {
        let head = visitor.request(Method::HEAD, path, None, &[]).await;
        head.assert_status(200);
        let get = visitor.get(path).await;
        assert_eq!(
            head.header("content-type"),
            get.header("content-type"),
            "{path}"
        );
    }
    // the guard's rules apply to HEAD as to GET
    let page = visitor.request(Method::HEAD, "/users", None, &[]).await;
    page.assert_status(303);
    assert!(page.location().unwrap().starts_with("/login"));
    let mut alice = app.signed_in("DEMO", "alice").await;
    alice
        .request(Method::HEAD, "/users", None, &[])
        .await
        .assert_status(403);
    alice
        .request(Method::HEAD, "/conversations", None, &[])
        .await
        .assert_status(200);
    // what has no GET still has no HEAD
    visitor
        .request(Method::HEAD, "/logout", None, &[])
        .await
        .assert_status(404);
}

async fn sign_in_succeeds_and_lands_on_next(app: TestApp) {
    let mut client = app.client();
    client
        .get("/login?next=/conversations%3Fstatus%3Dall")
        .await
        .assert_status(200);
    let page = client
        .post(
            "/login",
            &[
                ("company_code", "demo"),
                ("username", "Alice"),
                ("password", PASSWORD),
                ("next", "/conversations?status=all"),
            ],
        )
        .await;
    page.assert_status(303);
    assert_eq!(page.location(), Some("/conversations?status=all"));
    let cookie = page.header("set-cookie").unwrap();
    assert!(cookie.starts_with("switchboard_session="), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let home = client.get("/conversations").await;
    home.assert_status(200)
        .assert_contains("Alice Moreau")
        .assert_contains("DEMO");

    // the server keeps only the token's hash, with who, where and when
    let mut conn = app.conn();
    let (token_hash, ip, agent): (String, String, String) = sessions::table
        .select((sessions::token_hash, sessions::ip, sessions::user_agent))
        .order(sessions::id.desc())
        .first(&mut conn)
        .unwrap();
    let raw = client.session_cookie().unwrap();
    assert!(!raw.contains(&token_hash));
    assert_eq!(token_hash.len(), 64);
    assert_eq!(ip, "127.0.0.1");
    assert!(agent.contains("Chrome"));
}

async fn every_sign_in_failure_is_the_same_401(app: TestApp) {
    // dana's account deleted, as offboarding leaves it: no password, the row kept for history
    diesel::update(users::table.find(user_id(&app, "DEMO", "dana")))
        .set((
            users::status.eq(switchboard::core::status::UserStatus::Deleted),
            users::password_hash.eq(None::<String>),
        ))
        .execute(&mut app.conn())
        .unwrap();
    let cases = [
        ("DEMO", "alice", "wrong-Password-1!", "bad_password"),
        ("DEMO", "nobody", PASSWORD, "unknown_user"),
        ("NOPE", "alice", PASSWORD, "unknown_company"),
        ("DEMO", "carl", PASSWORD, "deactivated"),
        ("DEMO", "", "", "unknown_user"),
        // a deleted account is no account: the history says so, not "deactivated"
        ("DEMO", "dana", PASSWORD, "unknown_user"),
    ];
    // the same answer, byte for byte, once what the visitor typed and the form's token are
    // set aside: nothing tells which part was wrong
    let mut answers = Vec::new();
    for (company, username, password, _) in cases {
        let mut client = app.client();
        let page = client.login(company, username, password).await;
        page.assert_status(401).assert_contains(GENERIC);
        assert!(
            client.session_cookie().is_none(),
            "no session for a failure"
        );
        assert!(!page.body.contains(password) || password.is_empty());
        let token = client.csrf.clone().unwrap_or_default();
        assert!(!token.is_empty(), "the sign-in page carries its token");
        let mut body = page.body.replace(&token, "TOKEN");
        for typed in [company, username] {
            if !typed.is_empty() {
                body = body.replace(&format!("value=\"{typed}\""), "value=\"TYPED\"");
            }
        }
        answers.push(body.replace("value=\"\"", "value=\"TYPED\""));
    }
    for (answer, case) in answers.iter().zip(cases) {
        assert_eq!(answer, &answers[0], "the answer for {case:?} differs");
    }
    let mut conn = app.conn();
    let recorded: Vec<(String, String, bool)> = login_events::table
        .order(login_events::id)
        .select((
            login_events::username,
            login_events::reason,
            login_events::success,
        ))
        .load(&mut conn)
        .unwrap();
    let reasons: Vec<&str> = recorded.iter().map(|(_, r, _)| r.as_str()).collect();
    assert_eq!(reasons, cases.iter().map(|c| c.3).collect::<Vec<_>>());
    assert!(recorded.iter().all(|(_, _, success)| !success));
    // no password ever reaches the login history
    let all: Vec<(String, String, String)> = login_events::table
        .select((
            login_events::username,
            login_events::user_agent,
            login_events::company_code,
        ))
        .load(&mut conn)
        .unwrap();
    for row in all {
        assert!(!format!("{row:?}").contains("Harbor-Lantern"));
    }
}

async fn sign_in_never_redirects_off_site(app: TestApp) {
    let mut client = app.client();
    client.get("/login").await;
    let page = client
        .post(
            "/login",
            &[
                ("company_code", "DEMO"),
                ("username", "sofia"),
                ("password", PASSWORD),
                ("next", "//evil.example/steal"),
            ],
        )
        .await;
    page.assert_status(303);
    assert_eq!(page.location(), Some("/"));
    // `/` sends a supervisor to the first page of the navigation
    let home = client.get("/").await;
    assert_eq!(home.location(), Some("/conversations"));
}

async fn a_new_token_at_every_sign_in(app: TestApp) {
    let mut client = app.signed_in("DEMO", "alice").await;
    let first = client.session_cookie().unwrap();
    client.get("/conversations").await.assert_status(200);
    // signing in again on the same browser replaces the token
    let page = client.login("DEMO", "bob", PASSWORD).await;
    page.assert_status(303);
    let second = client.session_cookie().unwrap();
    assert_ne!(first, second);
    client
        .get("/conversations")
        .await
        .assert_contains("Bob Tanaka");
    // the old token is worthless now
    let mut stale = app.client();
    stale.cookies.insert("switchboard_session".into(), first);
    let page = stale.get("/conversations").await;
    page.assert_status(303);
    assert_eq!(page.location(), Some("/login?next=/conversations"));
}

async fn logout_revokes_on_the_server(app: TestApp) {
    let mut client = app.signed_in("DEMO", "alice").await;
    client.get("/account").await.assert_status(200);
    let stolen = client.session_cookie().unwrap();
    let page = client.post("/logout", &[]).await;
    page.assert_status(303);
    assert_eq!(page.location(), Some("/login"));
    let mut replay = app.client();
    replay.cookies.insert("switchboard_session".into(), stolen);
    replay.get("/account").await.assert_status(303);
    let mut conn = app.conn();
    let reasons: Vec<Option<String>> = sessions::table
        .select(sessions::revoked_reason)
        .load(&mut conn)
        .unwrap();
    assert_eq!(reasons, vec![Some("signed out".to_string())]);
}

/// A signed-in request is answered from the session cache: the session is read from the
/// database once, then not again until it ages out or a change of this instance retires it,
/// and then the change acts at once.
/// Sofia (a supervisor) takes `username` off `channel` through the assignments page; her
/// client, for what the test does next.
async fn take_off_channel_as_sofia(
    app: &TestApp,
    username: &str,
    channel: &str,
) -> crate::common::Client {
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    sofia.get("/assignments").await.assert_status(200);
    sofia
        .post(
            "/assignments",
            &[
                ("user_id", &user_id(app, "DEMO", username).to_string()),
                (
                    "channel_id",
                    &crate::common::channel_id(app, channel).to_string(),
                ),
                ("assigned", "false"),
            ],
        )
        .await
        .assert_status(303);
    sofia
}

/// A viewer's visibility scope is read once and then served from the scope cache, until a
/// change this instance commits (at once) or FRESH_FOR (another instance's change).
async fn the_scope_cache_spares_the_database_and_changes_act_at_once(app: TestApp) {
    let scopes = app.state.scope_cache.clone();
    app.clock().stop();
    let mut alice = app.signed_in("DEMO", "alice").await;
    alice
        .get("/conversations")
        .await
        .assert_contains("Instagram");
    let reads = scopes.reads();
    alice
        .get("/conversations")
        .await
        .assert_contains("Instagram");
    alice.get("/account").await.assert_status(200);
    alice
        .get("/conversations?status=all")
        .await
        .assert_status(200);
    assert_eq!(scopes.reads(), reads, "a cached scope was read again");
    // a supervisor takes her off Instagram on this instance: her next page reads her scope
    // again and no longer shows it
    take_off_channel_as_sofia(&app, "alice", "Instagram").await;
    // (counted by the cache: a count of statements would not tell, since the commit retires
    // her cached session too)
    let reads = scopes.reads();
    alice.get("/conversations").await.assert_lacks("Instagram");
    assert_eq!(scopes.reads(), reads + 1);
    // another instance's change: the entry serves until FRESH_FOR, then is read again
    app.clock().advance(
        chrono::TimeDelta::from_std(switchboard::auth::session_cache::FRESH_FOR)
            .expect("a short time")
            - chrono::TimeDelta::milliseconds(1),
    );
    alice.get("/conversations").await.assert_status(200);
    assert_eq!(scopes.reads(), reads + 1);
    app.clock().advance(chrono::TimeDelta::milliseconds(1));
    alice.get("/conversations").await.assert_status(200);
    assert_eq!(scopes.reads(), reads + 2);
}

/// The inbox's channel filter lists the company's channels from the channel cache: read once,
/// then again after a change this instance commits (at once) or after FRESH_FOR (a change
/// made elsewhere: the command line, another instance).
async fn the_inbox_lists_the_companys_channels_from_the_cache(app: TestApp) {
    use diesel::{ExpressionMethods, RunQueryDsl};
    use switchboard::db::schema::channels;
    let cached = app.state.channel_cache.clone();
    app.clock().stop();
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    sofia
        .get("/conversations")
        .await
        .assert_contains("WhatsApp Sales");
    let reads = cached.reads();
    sofia.get("/conversations").await.assert_status(200);
    sofia
        .get("/conversations?status=all")
        .await
        .assert_status(200);
    assert_eq!(cached.reads(), reads, "the channels were read again");
    // a channel added on this instance shows at once
    sofia
        .post(
            "/channels",
            &[("name", "Telegram Returns"), ("kind", "telegram")],
        )
        .await
        .assert_status(303);
    sofia
        .get("/conversations")
        .await
        .assert_contains("Telegram Returns");
    assert_eq!(cached.reads(), reads + 1);
    // renamed elsewhere: the old name until FRESH_FOR has passed, then the new one
    diesel::update(channels::table)
        .filter(channels::name.eq("Telegram Returns"))
        .set(channels::name.eq("Telegram Refunds"))
        .execute(&mut app.conn())
        .expect("renamed");
    sofia
        .get("/conversations")
        .await
        .assert_contains("Telegram Returns");
    app.wait_for_change_elsewhere();
    sofia
        .get("/conversations")
        .await
        .assert_contains("Telegram Refunds")
        .assert_lacks("Telegram Returns");
    assert_eq!(cached.reads(), reads + 2);
}

on_both_databases!(the_inbox_lists_the_companys_channels_from_the_cache);

/// How many changes have been announced to other instances (`db::changes`).
fn announced_changes(app: &TestApp) -> i64 {
    switchboard::db::changes::latest(&mut app.conn()).expect("the counter")
}

async fn the_session_cache_spares_the_database_and_changes_act_at_once(app: TestApp) {
    let cache = app.state.session_cache.clone();
    // a stopped clock: however slowly this machine runs the test, no entry ages on its own
    app.clock().stop();
    let mut alice = app.signed_in("DEMO", "alice").await;
    alice.get("/static/app.css").await.assert_status(200);
    let reads = cache.reads();
    for _ in 0..5 {
        alice.get("/static/app.css").await.assert_status(200);
    }
    alice.get("/account").await.assert_status(200);
    // refused requests are recorded, and still leave the cache as it is (anyone signed in can
    // send them; they must not empty the cache for everyone), and the live pages and the
    // inbox caches too: no write they show is counted
    let writes = app.state.pool.writes();
    for _ in 0..3 {
        alice.get("/users").await.assert_status(403);
    }
    alice.get("/account").await.assert_status(200);
    assert_eq!(cache.reads(), reads, "a cached session was read again");
    assert_eq!(
        app.state.pool.writes(),
        writes,
        "refused requests woke the live pages"
    );
    // nor do sign-in attempts, which anyone who reaches the page can make (their writes
    // announce nothing to the other instances either), failed or successful: only one that
    // routes queued chats as its person comes online is a change the pages show (bob's routes
    // nothing here; `routing::availability_follows_…` has one that does)
    let announced = announced_changes(&app);
    for password in ["Wrong-Password-1", "Wrong-Password-2"] {
        app.client()
            .login("DEMO", "bob", password)
            .await
            .assert_status(401);
    }
    assert_eq!(
        app.state.pool.writes(),
        writes,
        "failed sign-ins woke the live pages"
    );
    app.client()
        .login("DEMO", "bob", PASSWORD)
        .await
        .assert_status(303);
    assert_eq!(
        app.state.pool.writes(),
        writes,
        "a sign-in that routed nothing woke the live pages"
    );
    alice.get("/account").await.assert_status(200);
    assert_eq!(cache.reads(), reads, "sign-in attempts emptied the cache");
    assert_eq!(announced_changes(&app), announced);
    // nor does the inbox's traffic: a reply, a label, a close, a customer's message
    let alice_id = user_id(&app, "DEMO", "alice");
    let (hers, channel): (i64, i64) = conversations::table
        .filter(conversations::assignee_id.eq(alice_id))
        .filter(conversations::status.eq("open"))
        .select((conversations::id, conversations::channel_id))
        .first(&mut app.conn())
        .unwrap();
    for (action, field) in [
        ("messages", ("body", "On its way")),
        ("labels", ("label", "cached")),
        ("close", ("", "")),
    ] {
        let fields: &[(&str, &str)] = if field.0.is_empty() { &[] } else { &[field] };
        alice
            .post(&format!("/conversations/{hers}/{action}"), fields)
            .await
            .assert_status(303);
    }
    let token: String = switchboard::db::schema::channels::table
        .find(channel)
        .select(switchboard::db::schema::channels::webhook_token)
        .first(&mut app.conn())
        .unwrap();
    let message = serde_json::json!({"external_id": "wamid.cached-1", "contact": {"name": "Cache Tester", "phone": "+90 532 000 44 55"}, "text": "Hello?"});
    crate::common::hook(&mut app.client(), channel, &token, message)
        .await
        .assert_status(201);
    alice.get("/conversations").await.assert_status(200);
    assert_eq!(
        cache.reads(),
        reads,
        "the inbox's work emptied the session cache"
    );
    // just short of FRESH_FOR the entry still serves; once older, the next request reads it
    let fresh_for = chrono::TimeDelta::from_std(switchboard::auth::session_cache::FRESH_FOR)
        .expect("a short time");
    app.clock()
        .advance(fresh_for - chrono::TimeDelta::milliseconds(1));
    alice.get("/account").await.assert_status(200);
    assert_eq!(cache.reads(), reads);
    app.clock().advance(chrono::TimeDelta::milliseconds(1));
    alice.get("/account").await.assert_status(200);
    assert_eq!(cache.reads(), reads + 1);
    // a deactivation on this instance acts on the very next request, cached or not
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    sofia.get(&format!("/users/{alice_id}")).await;
    sofia
        .post(
            &format!("/users/{alice_id}/deactivate"),
            &[("open_conversations", "keep")],
        )
        .await
        .assert_status(303);
    alice.get("/static/app.css").await;
    alice.get("/account").await.assert_status(303);
}

/// With the watch of announced changes looking (as `serve` runs it, four times a second), the
/// caches hold a session, a scope and the channels past FRESH_FOR while nothing changes; what
/// another instance or the command line changes reaches them at the next look: everything for a
/// counted write, one session for a sign-out, everything again when announcements were pruned
/// past this instance. Without a recent look they serve for FRESH_FOR, as before.
async fn the_watch_of_announced_changes_holds_the_caches_until_something_changes(app: TestApp) {
    use switchboard::auth::change_watch::ChangeWatch;
    use switchboard::db::changes::{self, Changed};
    use switchboard::db::schema::{cache_changes, channels};
    let (sessions_read, scopes) = (
        app.state.session_cache.clone(),
        app.state.scope_cache.clone(),
    );
    let mut watch = ChangeWatch::new(app.state.pool.clone(), app.state.session_cache.clone());
    app.clock().stop();
    let second = chrono::TimeDelta::seconds(1);
    let mut alice = app.signed_in("DEMO", "alice").await;
    let mut bob = app.signed_in("DEMO", "bob").await;
    // (the first look retires everything: what was read before it may predate changes it
    // will not see)
    watch.look().await.expect("the watch reads");
    alice.get("/conversations").await.assert_status(200);
    bob.get("/conversations").await.assert_status(200);
    let (sessions_before, scopes_before) = (sessions_read.reads(), scopes.reads());

    // half a minute on, nothing announced: what was read still serves
    app.clock().advance(second * 30);
    watch.look().await.expect("the watch reads");
    app.clock().advance(second / 2);
    alice.get("/conversations").await.assert_status(200);
    bob.get("/account").await.assert_status(200);
    assert_eq!(
        sessions_read.reads(),
        sessions_before,
        "sessions read again"
    );
    assert_eq!(scopes.reads(), scopes_before, "scopes read again");
    // the last look began a second ago: the cache no longer trusts it, and reads again
    app.clock().advance(second / 2);
    alice.get("/account").await.assert_status(200);
    assert_eq!(sessions_read.reads(), sessions_before + 1);

    // a channel renamed elsewhere, through a counted write: held until the next look
    watch.look().await.expect("the watch reads");
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    sofia
        .get("/conversations")
        .await
        .assert_contains("WhatsApp Sales");
    switchboard::db::write_transaction(&mut app.conn(), |conn| {
        diesel::update(channels::table.filter(channels::name.eq("WhatsApp Sales")))
            .set(channels::name.eq("WhatsApp Orders"))
            .execute(conn)?;
        Ok(())
    })
    .expect("renamed elsewhere");
    sofia
        .get("/conversations")
        .await
        .assert_contains("WhatsApp Sales");
    watch.look().await.expect("the watch reads");
    sofia
        .get("/conversations")
        .await
        .assert_contains("WhatsApp Orders")
        .assert_lacks("WhatsApp Sales");

    // alice signs out on another instance: her session ends here at the next look, bob's
    // stays cached
    alice.get("/account").await.assert_status(200);
    bob.get("/account").await.assert_status(200);
    let token_hash: String = sessions::table
        .filter(sessions::user_id.eq(user_id(&app, "DEMO", "alice")))
        .filter(sessions::revoked_at.is_null())
        .select(sessions::token_hash)
        .first(&mut app.conn())
        .unwrap();
    switchboard::db::write_transaction_outside_sessions(&mut app.conn(), |conn| {
        domain::sessions::revoke_by_token_hash(conn, &token_hash, "signed out")?;
        changes::announce(conn, &Changed::Session(token_hash.clone()))
    })
    .expect("signed out elsewhere");
    alice.get("/account").await.assert_status(200);
    let before = sessions_read.reads();
    watch.look().await.expect("the watch reads");
    alice.get("/account").await.assert_status(303);
    bob.get("/account").await.assert_status(200);
    assert_eq!(
        sessions_read.reads(),
        before + 1,
        "only alice's session was read"
    );

    // announcements pruned past this instance: everything it holds is retired
    let before = scopes.reads();
    let mut conn = app.conn();
    for _ in 0..3 {
        switchboard::db::write_transaction_outside_sessions(&mut conn, |conn| {
            changes::announce(conn, &Changed::Session("no such session".into()))
        })
        .unwrap();
    }
    let latest = changes::latest(&mut conn).unwrap();
    diesel::delete(cache_changes::table.filter(cache_changes::epoch.lt(latest)))
        .execute(&mut conn)
        .unwrap();
    bob.get("/conversations").await.assert_status(200);
    assert_eq!(scopes.reads(), before, "held before the look");
    watch.look().await.expect("the watch reads");
    bob.get("/conversations").await.assert_status(200);
    assert_eq!(scopes.reads(), before + 1, "the gap retired everything");

    // pruning takes what was announced before a moment, and always keeps the latest
    for _ in 0..2 {
        switchboard::db::write_transaction(&mut conn, |conn| {
            changes::announce(conn, &Changed::Anything)
        })
        .unwrap();
    }
    let kept = || {
        cache_changes::table
            .count()
            .get_result::<i64>(&mut app.conn())
    };
    let (latest, before) = (changes::latest(&mut conn).unwrap(), kept().unwrap());
    let long_ago = chrono::NaiveDate::from_ymd_opt(2000, 1, 1)
        .and_then(|day| day.and_hms_opt(0, 0, 0))
        .unwrap();
    assert_eq!(changes::prune(&mut conn, long_ago).unwrap(), 0);
    let later = chrono::Utc::now().naive_utc() + chrono::TimeDelta::days(365 * 100);
    assert_eq!(changes::prune(&mut conn, later).unwrap() as i64, before - 1);
    assert_eq!(kept().unwrap(), 1);
    assert_eq!(changes::since(&mut conn, latest - 1, 10).unwrap().len(), 1);
}

/// A refusal or a missing page keeps a signed-in person in the app: their navigation and a way
/// back to where they were; visitors and htmx fragments get the bare card.
async fn error_pages_keep_the_navigation(app: TestApp) {
    let mut alice = app.signed_in("DEMO", "alice").await;
    let came_from = [("Referer", "http://localhost:8080/conversations?status=all")];
    for (path, status, title) in [
        ("/users", 403, "Access denied"),
        ("/conversations/999999999", 404, "Not found"),
        ("/conversations?before=garbage", 422, "Invalid input"),
    ] {
        let page = alice.request(Method::GET, path, None, &came_from).await;
        page.assert_status(status)
            .assert_contains(title)
            .assert_contains("id=\"main-nav\"")
            .assert_contains("href=\"/conversations\"")
            .assert_contains("href=\"/conversations?status=all\">Back</a>");
    }
    // a refusal still says nothing more than before, and offers no way to what was refused
    alice
        .get("/users")
        .await
        .assert_lacks("href=\"/users\"")
        .assert_contains("Your role does not include this page");
    // a Referer from elsewhere is not followed
    alice
        .request(
            Method::GET,
            "/users",
            None,
            &[("Referer", "https://evil.example/phish")],
        )
        .await
        .assert_contains("href=\"/\">Back</a>");
    // htmx fragments and visitors get the bare card
    alice
        .request(Method::GET, "/users", None, &[("HX-Request", "true")])
        .await
        .assert_status(403)
        .assert_lacks("id=\"main-nav\"");
    app.client()
        .get("/nowhere")
        .await
        .assert_status(404)
        .assert_lacks("id=\"main-nav\"");
}

async fn idle_and_absolute_timeouts_end_sessions(app: TestApp) {
    let clock = app.clock();
    clock.stop();
    let mut idle = app.signed_in("DEMO", "alice").await;
    let (alice, bob) = (user_id(&app, "DEMO", "alice"), user_id(&app, "DEMO", "bob"));
    let revoked_reason = |user| -> Option<String> {
        sessions::table
            .filter(sessions::user_id.eq(user))
            .select(sessions::revoked_reason)
            .first(&mut app.conn())
            .unwrap()
    };
    // the idle timeout (default 30 minutes) counts from the last request: 29 idle minutes
    // are fine, twice over, because each request starts the count again
    for _ in 0..2 {
        clock.advance(Duration::minutes(29));
        idle.get("/account").await.assert_status(200);
    }
    clock.advance(Duration::minutes(30));
    let ended = idle.get("/account").await;
    ended.assert_status(303);
    assert!(
        ended
            .location()
            .is_some_and(|to| to.contains("reason=expired"))
    );
    assert_eq!(revoked_reason(alice).as_deref(), Some("idle timeout"));
    // the absolute lifetime (default 12 hours) ends even a session used every 25 minutes:
    // 28 × 25 min = 11 h 40 min is within it, 29 × 25 min = 12 h 05 min is not
    let mut absolute = app.signed_in("DEMO", "bob").await;
    let (created, expires): (chrono::NaiveDateTime, chrono::NaiveDateTime) = sessions::table
        .filter(sessions::user_id.eq(bob))
        .select((sessions::created_at, sessions::expires_at))
        .first(&mut app.conn())
        .unwrap();
    assert_eq!(expires - created, Duration::hours(12));
    for step in 1..=28 {
        clock.advance(Duration::minutes(25));
        let page = absolute.get("/account").await;
        assert_eq!(page.status.as_u16(), 200, "after {} minutes", step * 25);
    }
    clock.advance(Duration::minutes(25));
    let ended = absolute.get("/account").await;
    ended.assert_status(303);
    assert!(
        ended
            .location()
            .is_some_and(|to| to.contains("reason=expired"))
    );
    // recorded as ended by its lifetime, not by idling nor as a sign-out
    assert_eq!(revoked_reason(bob).as_deref(), Some("lifetime reached"));
}

async fn state_changes_without_a_valid_csrf_token_are_refused(app: TestApp) {
    let mut client = app.signed_in("DEMO", "alice").await;
    client.get("/account").await.assert_status(200);
    let change = [
        ("current_password", PASSWORD),
        ("new_password", "Quiet-Meadow-Otter-93"),
        ("confirm_password", "Quiet-Meadow-Otter-93"),
    ];
    client
        .post_raw("/account/password", &change)
        .await
        .assert_status(403);
    let mut with_bad_token = change.to_vec();
    with_bad_token.push(("csrf_token", "not-the-token"));
    client
        .post_raw("/account/password", &with_bad_token)
        .await
        .assert_status(403);
    // the right token from another site is refused too
    let token = client.csrf.clone().unwrap();
    let mut good = change.to_vec();
    good.push(("csrf_token", &token));
    client
        .request(
            Method::POST,
            "/account/password",
            Some(&good),
            &[("Origin", "https://evil.example")],
        )
        .await
        .assert_status(403);
    client
        .request(
            Method::POST,
            "/account/password",
            Some(&good),
            &[("Sec-Fetch-Site", "cross-site")],
        )
        .await
        .assert_status(403);
    // a link from another site (an e-mail, a chat) still opens a page: only changes are refused
    for from_elsewhere in [
        ("Sec-Fetch-Site", "cross-site"),
        ("Sec-Fetch-Site", "same-site"),
    ] {
        client
            .request(Method::GET, "/account", None, &[from_elsewhere])
            .await
            .assert_status(200);
    }
    // nothing changed: the old password still signs in
    app.signed_in("DEMO", "alice").await;
    // every refusal is in the activity log: the first of its window in full (the rest are
    // counted and summarised when the window closes)
    let refused: Vec<(String, String)> = switchboard::db::schema::audit_events::table
        .filter(switchboard::db::schema::audit_events::action.eq("csrf.rejected"))
        .select((
            switchboard::db::schema::audit_events::actor_username,
            switchboard::db::schema::audit_events::summary,
        ))
        .load(&mut app.conn())
        .unwrap();
    // one record per counting window (one, unless the posts straddled a window's end)
    let windows: i64 = switchboard::db::schema::refusal_windows::table
        .filter(switchboard::db::schema::refusal_windows::kind.eq("csrf.rejected"))
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(refused.len() as i64, windows, "{refused:?}");
    assert!(!refused.is_empty());
    assert_eq!(refused[0].0, "alice");
    assert!(
        refused[0].1.contains("POST /account/password") && refused[0].1.contains("form token"),
        "{refused:?}"
    );
    let counted: i64 = switchboard::db::schema::refusal_windows::table
        .filter(switchboard::db::schema::refusal_windows::kind.eq("csrf.rejected"))
        .select(switchboard::db::schema::refusal_windows::refusals)
        .load::<i64>(&mut app.conn())
        .unwrap()
        .into_iter()
        .sum();
    assert_eq!(counted, 4, "the four refused posts are counted");
    // the sign-in form needs its own token
    let mut fresh = app.client();
    fresh
        .post_raw(
            "/login",
            &[
                ("company_code", "DEMO"),
                ("username", "alice"),
                ("password", PASSWORD),
            ],
        )
        .await
        .assert_status(403);
    // htmx sends the token as a header
    let mut client = app.signed_in("DEMO", "sofia").await;
    client.get("/account").await;
    let token = client.csrf.clone().unwrap();
    let page = client
        .request(
            Method::POST,
            "/logout",
            None,
            &[("X-CSRF-Token", &token), ("HX-Request", "true")],
        )
        .await;
    page.assert_status(303);
}

/// The guard reads a form's token from bodies up to the form limit, and no further: a form of
/// exactly the limit goes through, one byte more is answered 413 before the handler runs (with
/// the token in the body or in htmx's header, signed in or on the sign-in form), changes
/// nothing and is not taken for a forged form.
async fn forms_up_to_the_limit_are_read_and_no_larger(app: TestApp) {
    use switchboard::access::guard::FORM_LIMIT;
    let mut client = app.signed_in("DEMO", "alice").await;
    client.get("/account").await.assert_status(200);
    let token = client.csrf.clone().unwrap();
    // `padding=…&time_zone=Europe%2FBerlin&csrf_token=…`, padded to `size` bytes
    let form_of_size = |size: usize| {
        let rest = format!("&time_zone=Europe%2FBerlin&csrf_token={token}");
        let padding = "x".repeat(size - rest.len() - "padding=".len());
        let body = format!("padding={padding}{rest}");
        assert_eq!(body.len(), size);
        body
    };
    let path = "/account/time-zone";
    let too_large = Some(form_of_size(FORM_LIMIT + 1));
    client
        .send(Method::POST, path, too_large.clone(), &[])
        .await
        .assert_status(413)
        .assert_contains("more than Switchboard accepts");
    // htmx sends the token in a header: the guard reads no body, the handler's reader stops
    client
        .send(
            Method::POST,
            path,
            too_large.clone(),
            &[("X-CSRF-Token", &token), ("HX-Request", "true")],
        )
        .await
        .assert_status(413);
    assert_ne!(time_zone_of(&app, "alice"), "Europe/Berlin");
    // the sign-in form holds the same limit
    let mut anonymous = app.client();
    anonymous.get("/login").await.assert_status(200);
    anonymous
        .send(Method::POST, "/login", too_large, &[])
        .await
        .assert_status(413);
    // an oversize form is not a forgery: no refusal is counted or recorded
    let refusals: i64 = switchboard::db::schema::refusal_windows::table
        .filter(switchboard::db::schema::refusal_windows::kind.eq("csrf.rejected"))
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(refusals, 0);
    let at_limit = Some(form_of_size(FORM_LIMIT));
    let saved = client.send(Method::POST, path, at_limit, &[]).await;
    saved.assert_status(303);
    assert_eq!(saved.location(), Some("/account"));
    assert_eq!(time_zone_of(&app, "alice"), "Europe/Berlin");
}

fn time_zone_of(app: &TestApp, username: &str) -> String {
    users::table
        .find(crate::common::id_of(app, "DEMO", username))
        .select(users::time_zone)
        .first(&mut app.conn())
        .unwrap()
}

/// Deny by default: every route in the table is enforced as declared.
async fn every_route_is_guarded_as_declared(app: TestApp) {
    let table = switchboard::web::route_table();
    assert!(table.len() >= 10);
    // dana gets a custom role without a single permission
    {
        let mut conn = app.conn();
        let demo = domain::companies::find_by_code(&mut conn, "DEMO")
            .unwrap()
            .unwrap();
        let nobody =
            domain::roles::create(&mut conn, demo.id, "Nobody", None, Default::default()).unwrap();
        diesel::update(users::table.filter(users::id.eq(user_id(&app, "DEMO", "dana"))))
            .set(users::role_id.eq(nobody))
            .execute(&mut conn)
            .unwrap();
    }
    let mut dana = app.signed_in("DEMO", "dana").await;
    dana.get("/account").await.assert_status(200);
    for def in &table {
        let path = def
            .path
            .replace(r"{id:\d+}", "1")
            .replace(r"{user_id:\d+}", "1")
            .replace("{path:.*}", "app.css");
        let mut anonymous = app.client();
        anonymous.get("/login").await;
        let page = if def.method == Method::GET {
            anonymous.get(&path).await
        } else {
            anonymous.post(&path, &[]).await
        };
        match def.rule {
            Rule::Public | Rule::Webhook => {
                // what an anonymous visitor gets from each public route, exactly; a new
                // public route must be added here on purpose
                let expected = match (def.method.as_str(), def.path) {
                    ("GET", "/healthz" | "/readyz" | "/static/{path:.*}" | "/login") => 200,
                    // an empty sign-in form: the one generic failure
                    ("POST", "/login") => 401,
                    // no bearer token
                    ("POST", r"/hooks/channels/{id:\d+}/messages") => 401,
                    // the code step without a right password first: back to the password
                    ("GET" | "POST", "/login/two-factor") => 303,
                    (method, route) => panic!("{method} {route} is public: say what it answers"),
                };
                assert_eq!(
                    page.status.as_u16(),
                    expected,
                    "{} {path} answers an anonymous visitor",
                    def.method
                );
            }
            Rule::SignedIn | Rule::AnyOf(_) | Rule::ExportOf(_) => {
                assert_eq!(
                    page.status.as_u16(),
                    303,
                    "{} {path} must need sign-in",
                    def.method
                );
                assert!(page.location().unwrap().starts_with("/login?next="));
            }
        }
        if let Rule::AnyOf(required) | Rule::ExportOf(required) = def.rule {
            assert!(
                !required.is_empty(),
                "{path}: an empty permission list would open nothing"
            );
            let page = if def.method == Method::GET {
                dana.get(&path).await
            } else {
                dana.post(&path, &[]).await
            };
            assert_eq!(
                page.status.as_u16(),
                403,
                "{} {path} must refuse dana",
                def.method
            );
        }
    }
    // htmx requests get 401 with HX-Redirect instead of a redirect
    let mut anonymous = app.client();
    let page = anonymous
        .request(Method::GET, "/users", None, &[("HX-Request", "true")])
        .await;
    page.assert_status(401);
    assert_eq!(page.header("hx-redirect"), Some("/login"));
}

async fn agents_are_refused_supervisor_pages(app: TestApp) {
    let mut alice = app.signed_in("DEMO", "alice").await;
    alice
        .get("/users")
        .await
        .assert_status(403)
        .assert_contains("Access denied");
    let page = alice.get("/conversations").await;
    assert_eq!(
        page.nav_links(),
        vec!["/conversations", "/calls", "/notifications", "/account"]
    );
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    let page = sofia.get("/users").await;
    page.assert_status(200)
        .assert_contains("Bob Tanaka")
        .assert_contains("deactivated");
    assert_eq!(
        page.nav_links(),
        vec![
            "/conversations",
            "/calls",
            "/users",
            "/roles",
            "/teams",
            "/channels",
            "/assignments",
            "/reports",
            "/templates",
            "/broadcasts",
            "/activity",
            "/logins",
            "/sessions",
            "/access-reviews",
            "/privacy",
            "/settings",
            "/notifications",
            "/account"
        ]
    );
    // another company's users never show
    page.assert_lacks("Olga");
}

async fn tenants_are_isolated(app: TestApp) {
    let mut conn = app.conn();
    let demo = domain::companies::find_by_code(&mut conn, "DEMO")
        .unwrap()
        .unwrap();
    // one of DEMO alice's (the test opens it as her below): a named row, not whichever
    // the database returns first
    let demo_conversation: i64 = conversations::table
        .filter(conversations::company_id.eq(demo.id))
        .filter(conversations::assignee_id.eq(user_id(&app, "DEMO", "alice")))
        .order(conversations::id)
        .select(conversations::id)
        .first(&mut conn)
        .unwrap();
    let mut olga = app.signed_in("ACME", "olga").await;
    olga.get(&format!("/conversations/{demo_conversation}"))
        .await
        .assert_status(404);
    olga.get("/conversations/999999").await.assert_status(404);
    let list = olga.get("/conversations?status=all").await;
    list.assert_status(200).assert_lacks("WhatsApp Sales");
    // the two alices are different people with separate accounts
    let mut acme_alice = app.signed_in("ACME", "alice").await;
    acme_alice
        .get("/account")
        .await
        .assert_contains("Alice Novak")
        .assert_lacks("Alice Moreau");
    let mut demo_alice = app.signed_in("DEMO", "alice").await;
    demo_alice
        .get("/account")
        .await
        .assert_contains("Alice Moreau");
    demo_alice
        .get(&format!("/conversations/{demo_conversation}"))
        .await
        .assert_status(200);
    assert_ne!(
        user_id(&app, "DEMO", "alice"),
        user_id(&app, "ACME", "alice")
    );
    // ACME alice changing her password leaves DEMO alice's alone
    acme_alice.get("/account").await;
    acme_alice
        .post(
            "/account/password",
            &[
                ("current_password", PASSWORD),
                ("new_password", "Copper-Kettle-Rain-77"),
                ("confirm_password", "Copper-Kettle-Rain-77"),
            ],
        )
        .await
        .assert_status(303);
    app.client()
        .login("DEMO", "alice", PASSWORD)
        .await
        .assert_status(303);
    app.client()
        .login("ACME", "alice", PASSWORD)
        .await
        .assert_status(401);
}

async fn conversations_are_visible_by_the_rule(app: TestApp) {
    let mut alice = app.signed_in("DEMO", "alice").await;
    let page = alice.get("/conversations").await;
    page.assert_status(200);
    // alice sees her 22 open conversations and nobody else's
    assert_eq!(page.body.matches("<tr>").count() - 1, 22);
    page.assert_lacks("Bob Tanaka").assert_lacks("unassigned");
    let mut conn = app.conn();
    let bob = user_id(&app, "DEMO", "bob");
    let bobs: i64 = conversations::table
        .filter(conversations::assignee_id.eq(bob))
        .select(conversations::id)
        .first(&mut conn)
        .unwrap();
    alice
        .get(&format!("/conversations/{bobs}"))
        .await
        .assert_status(404);
    let instagram: i64 = switchboard::db::schema::channels::table
        .filter(switchboard::db::schema::channels::name.eq("Instagram"))
        .select(switchboard::db::schema::channels::id)
        .first(&mut conn)
        .unwrap();
    let alice_id = user_id(&app, "DEMO", "alice");
    // taken off a channel by another instance (or the command line), behind this one's back:
    // her scope as this instance last read it serves for at most FRESH_FOR, then it is gone
    let membership = || {
        switchboard::db::schema::channel_members::table
            .filter(switchboard::db::schema::channel_members::user_id.eq(alice_id))
            .filter(switchboard::db::schema::channel_members::channel_id.eq(instagram))
    };
    let (created_at, receives_new_chats): (chrono::NaiveDateTime, bool) = membership()
        .select((
            switchboard::db::schema::channel_members::created_at,
            switchboard::db::schema::channel_members::receives_new_chats,
        ))
        .first(&mut conn)
        .unwrap();
    diesel::delete(membership()).execute(&mut conn).unwrap();
    app.wait_for_change_elsewhere();
    let page = alice.get("/conversations").await;
    page.assert_lacks("Instagram");
    assert!(page.body.matches("<tr>").count() - 1 < 22);
    // and given back there: seen again within FRESH_FOR
    diesel::insert_into(switchboard::db::schema::channel_members::table)
        .values((
            switchboard::db::schema::channel_members::user_id.eq(alice_id),
            switchboard::db::schema::channel_members::channel_id.eq(instagram),
            switchboard::db::schema::channel_members::created_at.eq(created_at),
            switchboard::db::schema::channel_members::receives_new_chats.eq(receives_new_chats),
        ))
        .execute(&mut conn)
        .unwrap();
    app.wait_for_change_elsewhere();
    let page = alice.get("/conversations").await;
    page.assert_contains("Instagram");
    assert_eq!(page.body.matches("<tr>").count() - 1, 22);
    // removed on this instance, as a supervisor does it: hidden at once, no wait
    let mut sofia = take_off_channel_as_sofia(&app, "alice", "Instagram").await;
    let page = alice.get("/conversations").await;
    page.assert_lacks("Instagram");
    assert!(page.body.matches("<tr>").count() - 1 < 22);
    // a supervisor sees every conversation of the company, including unassigned ones
    sofia
        .get("/conversations")
        .await
        .assert_contains("unassigned")
        .assert_contains("Bob Tanaka");
}

async fn agents_never_receive_full_contact_details(app: TestApp) {
    let mut conn = app.conn();
    let details: Vec<(Option<String>, Option<String>, Option<String>)> = contacts::table
        .inner_join(conversations::table)
        .select((
            contacts::phone,
            contacts::email,
            conversations::external_contact_id,
        ))
        .load(&mut conn)
        .unwrap();
    let mut alice = app.signed_in("DEMO", "alice").await;
    let mut pages = vec![
        alice.get("/conversations").await,
        alice.get("/conversations?status=all").await,
    ];
    let ids: Vec<i64> = conversations::table
        .filter(conversations::assignee_id.eq(user_id(&app, "DEMO", "alice")))
        .select(conversations::id)
        .load(&mut conn)
        .unwrap();
    for id in ids {
        pages.push(alice.get(&format!("/conversations/{id}")).await);
    }
    let mut masked_seen = 0;
    for page in &pages {
        page.assert_status(200);
        for (phone, email, external) in &details {
            let phone = phone.as_ref().unwrap();
            let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
            page.assert_lacks(phone);
            page.assert_lacks(&digits);
            if let Some(email) = email {
                page.assert_lacks(email);
            }
            if let Some(external) = external.as_ref().filter(|x| x.starts_with("whatsapp:")) {
                page.assert_lacks(external);
            }
        }
        masked_seen += page.body.matches("***@***.").count();
    }
    assert!(masked_seen > 20, "masked emails are shown");
    // a supervisor (contacts.view_unmasked) sees them in full
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    let page = sofia.get("/conversations?status=all").await;
    let (phone, email, _) = &details[0];
    page.assert_contains(phone.as_ref().unwrap());
    page.assert_contains(email.as_ref().unwrap());
}

async fn deactivation_ends_open_sessions(app: TestApp) {
    let mut bob = app.signed_in("DEMO", "bob").await;
    bob.get("/conversations").await.assert_status(200);
    let bob_id = user_id(&app, "DEMO", "bob");
    let mut conn = app.conn();
    let demo = domain::companies::find_by_code(&mut conn, "DEMO")
        .unwrap()
        .unwrap();
    switchboard::db::write_transaction(&mut conn, |conn| {
        domain::users::deactivate(
            conn,
            &domain::Caller::system(demo.id, Actor::cli()),
            UserId(bob_id),
        )
    })
    .unwrap();
    // deactivated as the command line does, from outside the app
    app.wait_for_change_elsewhere();
    let page = bob.get("/conversations").await;
    page.assert_status(303);
    // the sign-in page will say the account was changed
    assert_eq!(
        page.location(),
        Some("/login?next=/conversations&reason=account")
    );
    app.client()
        .login("DEMO", "bob", PASSWORD)
        .await
        .assert_status(401);
    // a deactivated account's password is never checked: guesses neither count nor lock it
    for _ in 0..12 {
        app.client()
            .login("DEMO", "bob", "Wrong-Password-99")
            .await
            .assert_status(401);
    }
    let (failed, locked): (i32, Option<chrono::NaiveDateTime>) = users::table
        .find(bob_id)
        .select((users::failed_logins, users::locked_until))
        .first(&mut conn)
        .unwrap();
    assert_eq!((failed, locked), (0, None));
    // a status changed in the database by hand (its sessions left as they were) ends them too,
    // and the sign-in page says why
    let mut alice = app.signed_in("DEMO", "alice").await;
    alice.get("/conversations").await.assert_status(200);
    diesel::update(users::table.find(user_id(&app, "DEMO", "alice")))
        .set(users::status.eq(switchboard::core::status::UserStatus::Deactivated))
        .execute(&mut conn)
        .unwrap();
    app.wait_for_change_elsewhere();
    assert_eq!(
        alice.get("/conversations").await.location(),
        Some("/login?next=/conversations&reason=account")
    );
}

async fn role_changes_act_on_open_sessions(app: TestApp) {
    let mut alice = app.signed_in("DEMO", "alice").await;
    alice.get("/users").await.assert_status(403);
    let mut conn = app.conn();
    let alice_id = user_id(&app, "DEMO", "alice");
    let demo = domain::companies::find_by_code(&mut conn, "DEMO")
        .unwrap()
        .unwrap();
    let supervisor = domain::roles::find_by_name(&mut conn, demo.id, "Supervisor").unwrap();
    diesel::update(users::table.filter(users::id.eq(alice_id)))
        .set(users::role_id.eq(supervisor.id))
        .execute(&mut conn)
        .unwrap();
    app.wait_for_change_elsewhere();
    alice.get("/users").await.assert_status(200);
    // a permission removed from a role (version bumped) is gone on the next request
    diesel::delete(
        switchboard::db::schema::role_permissions::table
            .filter(switchboard::db::schema::role_permissions::role_id.eq(supervisor.id))
            .filter(switchboard::db::schema::role_permissions::permission.eq("users.view")),
    )
    .execute(&mut conn)
    .unwrap();
    diesel::update(roles::table.filter(roles::id.eq(supervisor.id)))
        .set(roles::version.eq(roles::version + 1))
        .execute(&mut conn)
        .unwrap();
    app.wait_for_change_elsewhere();
    alice.get("/users").await.assert_status(403);
}

/// Guessing the current password on `/account/password` counts like failed sign-ins: each
/// wrong guess is recorded, the tenth locks the account, and while it is locked even the right
/// password is not checked (and signing in is refused).
async fn guesses_of_the_current_password_lock_the_account(app: TestApp) {
    use switchboard::db::schema::audit_events;
    let mut bob = app.signed_in("DEMO", "bob").await;
    bob.get("/account").await.assert_status(200);
    let new = "Quiet-Meadow-Otter-93";
    for n in 0..10 {
        let guess = format!("Guess-Number-{n}-xx");
        bob.post(
            "/account/password",
            &[
                ("current_password", guess.as_str()),
                ("new_password", new),
                ("confirm_password", new),
            ],
        )
        .await
        .assert_status(422)
        .assert_contains("not your current password");
    }
    let page = bob
        .post(
            "/account/password",
            &[
                ("current_password", PASSWORD),
                ("new_password", new),
                ("confirm_password", new),
            ],
        )
        .await;
    page.assert_status(422).assert_contains("locked");
    let actions: Vec<String> = audit_events::table
        .filter(audit_events::target_label.eq("bob"))
        .select(audit_events::action)
        .load(&mut app.conn())
        .unwrap();
    assert_eq!(
        actions
            .iter()
            .filter(|a| *a == "user.password_check_failed")
            .count(),
        10
    );
    assert!(actions.contains(&"user.locked".to_string()));
    // the password did not change, and signing in waits for the lock to end
    app.client()
        .login("DEMO", "bob", new)
        .await
        .assert_status(401);
    app.client()
        .login("DEMO", "bob", PASSWORD)
        .await
        .assert_status(401);
}

async fn password_change_checks_and_ends_other_sessions(app: TestApp) {
    let mut laptop = app.signed_in("DEMO", "bob").await;
    let mut phone = app.signed_in("DEMO", "bob").await;
    phone.get("/account").await.assert_status(200);
    laptop.get("/account").await;
    let attempt = |current: &'static str, new: &'static str, confirm: &'static str| {
        [
            ("current_password", current),
            ("new_password", new),
            ("confirm_password", confirm),
        ]
    };
    laptop
        .post(
            "/account/password",
            &attempt("wrong", "Quiet-Meadow-Otter-93", "Quiet-Meadow-Otter-93"),
        )
        .await
        .assert_status(422)
        .assert_contains("not your current password");
    laptop
        .post(
            "/account/password",
            &attempt(PASSWORD, "short1!A", "short1!A"),
        )
        .await
        .assert_status(422)
        .assert_contains("at least 12");
    laptop
        .post(
            "/account/password",
            &attempt(PASSWORD, "Quiet-Meadow-Otter-93", "Quiet-Meadow-Otter-94"),
        )
        .await
        .assert_status(422)
        .assert_contains("differ");
    laptop
        .post(
            "/account/password",
            &attempt(PASSWORD, "Bob-Tanaka-Rules-1!", "Bob-Tanaka-Rules-1!"),
        )
        .await
        .assert_status(422)
        .assert_contains("Do not use your");
    // nothing was saved by the failures
    app.client()
        .login("DEMO", "bob", PASSWORD)
        .await
        .assert_status(303);
    let page = laptop
        .post(
            "/account/password",
            &attempt(PASSWORD, "Quiet-Meadow-Otter-93", "Quiet-Meadow-Otter-93"),
        )
        .await;
    page.assert_status(303);
    laptop
        .get("/account")
        .await
        .assert_status(200)
        .assert_contains("password was changed");
    phone.get("/account").await.assert_status(303);
    app.client()
        .login("DEMO", "bob", PASSWORD)
        .await
        .assert_status(401);
    app.client()
        .login("DEMO", "bob", "Quiet-Meadow-Otter-93")
        .await
        .assert_status(303);
    // the change is in the audit log
    let mut conn = app.conn();
    let actions: Vec<String> = switchboard::db::schema::audit_events::table
        .select(switchboard::db::schema::audit_events::action)
        .load(&mut conn)
        .unwrap();
    assert!(actions.iter().any(|a| a == "user.password_change"));
}

async fn users_end_their_own_sessions(app: TestApp) {
    let mut laptop = app.signed_in("DEMO", "alice").await;
    let mut phone = app.client();
    phone.user_agent = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1".into();
    phone
        .login("DEMO", "alice", PASSWORD)
        .await
        .assert_status(303);
    phone.get("/account").await.assert_status(200);
    let page = laptop.get("/account/sessions").await;
    page.assert_status(200).assert_contains("this session");
    assert_eq!(page.body.matches("/revoke").count(), 2);
    let mut conn = app.conn();
    let alice_id = user_id(&app, "DEMO", "alice");
    let sessions_of_alice: Vec<i64> = sessions::table
        .filter(sessions::user_id.eq(alice_id))
        .order(sessions::id)
        .select(sessions::id)
        .load(&mut conn)
        .unwrap();
    let phone_session = sessions_of_alice[1];
    // someone else's session is not hers to end
    let mut bob = app.signed_in("DEMO", "bob").await;
    bob.get("/account").await;
    bob.post(&format!("/account/sessions/{phone_session}/revoke"), &[])
        .await
        .assert_status(404);
    phone.get("/account").await.assert_status(200);
    laptop
        .post(&format!("/account/sessions/{phone_session}/revoke"), &[])
        .await
        .assert_status(303);
    phone.get("/account").await.assert_status(303);
    laptop.get("/account").await.assert_status(200);
}

async fn pending_password_change_comes_first(app: TestApp) {
    let alice_id = user_id(&app, "DEMO", "alice");
    let mut conn = app.conn();
    diesel::update(users::table.filter(users::id.eq(alice_id)))
        .set(users::must_change_password.eq(true))
        .execute(&mut conn)
        .unwrap();
    let mut alice = app.signed_in("DEMO", "alice").await;
    let page = alice.get("/conversations").await;
    page.assert_status(303);
    assert_eq!(page.location(), Some("/account"));
    alice
        .get("/account")
        .await
        .assert_status(200)
        .assert_contains("Choose a new password")
        // the navigation offers only what opens before the change
        .assert_contains("href=\"/account\"")
        .assert_lacks("href=\"/conversations\"");
    let changed = alice
        .post(
            "/account/password",
            &[
                ("current_password", PASSWORD),
                ("new_password", "Quiet-Meadow-Otter-93"),
                ("confirm_password", "Quiet-Meadow-Otter-93"),
            ],
        )
        .await;
    changed.assert_status(303);
    // back to work: the home page, which sends her to her first page
    assert_eq!(changed.location(), Some("/"));
    alice
        .get("/conversations")
        .await
        .assert_status(200)
        .assert_contains("Your password was changed")
        .assert_contains("href=\"/conversations\"");
}

async fn every_answer_carries_security_headers(app: TestApp) {
    let mut client = app.client();
    let mut answers = vec![client.get("/login").await, client.get("/nowhere").await];
    // every kind of answer: pages, fragments' errors, refusals, redirects, assets, probes
    answers.push(client.get("/conversations").await); // 303 to sign in
    answers.push(client.get("/healthz").await);
    answers.push(client.get("/static/app.css").await);
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    for path in [
        "/conversations",
        "/users",
        "/roles",
        "/teams",
        "/channels",
        "/assignments",
        "/activity",
        "/logins",
        "/sessions",
        "/settings",
        "/account",
        "/calls",
        "/users/999999",
        "/activity?from=nonsense",
    ] {
        answers.push(sofia.get(path).await);
    }
    answers.push(
        sofia
            .post("/settings", &[("password_min_length", "1")])
            .await,
    ); // 422
    let mut alice = app.signed_in("DEMO", "alice").await;
    answers.push(alice.get("/users").await); // 403
    let statuses: std::collections::BTreeSet<u16> =
        answers.iter().map(|p| p.status.as_u16()).collect();
    for expected in [200, 303, 403, 404, 422] {
        assert!(
            statuses.contains(&expected),
            "no {expected} among {statuses:?}"
        );
    }
    for page in &answers {
        let csp = page
            .header("content-security-policy")
            .unwrap_or_else(|| panic!("no CSP on a {} answer", page.status));
        assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"));
        assert!(!csp.contains("unsafe-inline"));
        assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(page.header("referrer-policy"), Some("same-origin"));
        assert_eq!(page.header("x-frame-options"), Some("DENY"));
        assert!(page.header("x-request-id").is_some());
    }
    let mut alice = app.signed_in("DEMO", "alice").await;
    let page = alice.get("/conversations").await;
    assert_eq!(page.header("cache-control"), Some("no-store"));
    assert!(page.header("strict-transport-security").is_none());
    page.assert_contains("<meta name=\"csrf-token\" content=\"");
    page.assert_contains("name=\"csrf_token\"");
    let css = alice.get("/static/app.css").await;
    css.assert_status(200);
    assert!(css.header("cache-control").unwrap().contains("max-age"));
    alice
        .get("/static/vendor/htmx-2.0.11.min.js")
        .await
        .assert_status(200);
    alice.get("/static/nothing.js").await.assert_status(404);
    client.get("/nowhere").await.assert_status(404);
    client
        .get("/healthz")
        .await
        .assert_status(200)
        .assert_contains("ok");
    client.get("/readyz").await.assert_status(200);
}

async fn database_failure_answers_503(app: TestApp) {
    let mut alice = app.signed_in("DEMO", "alice").await;
    alice.get("/conversations").await.assert_status(200);
    let mut conn = app.conn();
    // what every page reads (the navigation's counter) and what signing in writes; her
    // session itself is cached, and showing a page writes nothing to it
    for table in ["notifications", "sessions"] {
        let drop = match app.backend {
            Backend::Sqlite => format!("DROP TABLE {table}"),
            Backend::Postgres => format!("DROP TABLE {table} CASCADE"),
        };
        diesel::sql_query(drop).execute(&mut conn).unwrap();
    }
    // (a list she has not opened yet: the inbox she just saw may answer from the inbox cache)
    alice
        .get("/conversations?status=all")
        .await
        .assert_status(503);
    app.client()
        .login("DEMO", "alice", PASSWORD)
        .await
        .assert_status(503);
    app.client().get("/healthz").await.assert_status(200);
}

async fn demo_workspace_matches_the_contract(app: TestApp) {
    use switchboard::db::schema::{call_tasks, channel_members, channels, companies};
    let mut conn = app.conn();
    // seeding again changes nothing
    assert!(!domain::demo::seed(&mut conn).unwrap());
    let demo = domain::companies::find_by_code(&mut conn, "DEMO")
        .unwrap()
        .unwrap();
    assert_eq!(demo.name, "Demo Trading Co.");
    let acme = domain::companies::find_by_code(&mut conn, "ACME")
        .unwrap()
        .unwrap();
    assert_eq!(acme.name, "Acme Logistics");
    assert_eq!(
        companies::table
            .count()
            .get_result::<i64>(&mut conn)
            .unwrap(),
        2
    );

    let people: Vec<(String, String, String)> = users::table
        .inner_join(roles::table)
        .filter(users::company_id.eq(demo.id))
        .order(users::username)
        .select((users::username, roles::name, users::status))
        .load(&mut conn)
        .unwrap();
    let expected = [
        ("alice", "Agent", "active"),
        ("bob", "Agent", "active"),
        ("carl", "Agent", "deactivated"),
        ("dana", "Auditor", "active"),
        ("sam", "Supervisor", "active"),
        ("sofia", "Supervisor", "active"),
        ("tina", "Team Lead", "active"),
    ];
    let people: Vec<(&str, &str, &str)> = people
        .iter()
        .map(|(u, r, s)| (u.as_str(), r.as_str(), s.as_str()))
        .collect();
    assert_eq!(people, expected);
    let auditor = domain::roles::find_by_name(&mut conn, demo.id, "Auditor").unwrap();
    let keys: Vec<&str> = domain::roles::permissions_of(&mut conn, auditor.id)
        .unwrap()
        .iter()
        .map(|p| p.key())
        .collect();
    assert_eq!(keys, ["activity.view", "logins.view"]);
    let agent = domain::roles::find_by_name(&mut conn, demo.id, "Agent").unwrap();
    let keys: Vec<&str> = domain::roles::permissions_of(&mut conn, agent.id)
        .unwrap()
        .iter()
        .map(|p| p.key())
        .collect();
    assert_eq!(
        keys,
        [
            "conversations.view_assigned",
            "conversations.reply",
            "conversations.close"
        ]
    );

    let kinds: Vec<(String, String)> = channels::table
        .filter(channels::company_id.eq(demo.id))
        .order(channels::name)
        .select((channels::name, channels::kind))
        .load(&mut conn)
        .unwrap();
    assert_eq!(kinds.len(), 6);
    for (name, kind) in [
        ("WhatsApp Sales", "whatsapp"),
        ("Instagram", "instagram"),
        ("Messenger", "messenger"),
        ("Telegram", "telegram"),
        ("SMS", "sms"),
        ("Call Center", "voip"),
    ] {
        assert!(
            kinds.contains(&(name.to_string(), kind.to_string())),
            "{name}"
        );
    }
    let channels_of = |conn: &mut crate::common::TestConn, username: &str| -> Vec<String> {
        channel_members::table
            .inner_join(channels::table)
            .inner_join(users::table)
            .filter(users::company_id.eq(demo.id))
            .filter(users::username.eq(username))
            .order(channels::name)
            .select(channels::name)
            .load(conn)
            .unwrap()
    };
    assert_eq!(
        channels_of(&mut conn, "alice"),
        ["Instagram", "WhatsApp Sales"]
    );
    assert_eq!(
        channels_of(&mut conn, "bob"),
        ["SMS", "Telegram", "WhatsApp Sales"]
    );
    assert_eq!(channels_of(&mut conn, "carl"), ["Messenger"]);
    assert!(channels_of(&mut conn, "dana").is_empty());
    assert_eq!(channels_of(&mut conn, "sofia").len(), 6);
    assert_eq!(channels_of(&mut conn, "sam").len(), 6);

    let open_for = |conn: &mut crate::common::TestConn, who: Option<i64>| -> i64 {
        let query = conversations::table
            .filter(conversations::company_id.eq(demo.id))
            .filter(conversations::status.eq("open"))
            .into_boxed();
        let query = match who {
            Some(id) => query.filter(conversations::assignee_id.eq(id)),
            None => query.filter(conversations::assignee_id.is_null()),
        };
        query.count().get_result(conn).unwrap()
    };
    assert!(open_for(&mut conn, Some(user_id(&app, "DEMO", "alice"))) >= 20);
    assert!(open_for(&mut conn, Some(user_id(&app, "DEMO", "bob"))) >= 10);
    assert!(open_for(&mut conn, None) >= 5);
    let closed: i64 = conversations::table
        .filter(conversations::status.eq("closed"))
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert!(closed > 0);
    let (total, with_phone, with_email): (i64, i64, i64) = (
        contacts::table.count().get_result(&mut conn).unwrap(),
        contacts::table
            .filter(contacts::phone.is_not_null())
            .count()
            .get_result(&mut conn)
            .unwrap(),
        contacts::table
            .filter(contacts::email.is_not_null())
            .count()
            .get_result(&mut conn)
            .unwrap(),
    );
    assert_eq!(total, with_phone);
    assert!(with_email * 2 > total && with_email < total);
    let missed: i64 = call_tasks::table
        .filter(call_tasks::company_id.eq(demo.id))
        .filter(call_tasks::call_status.eq("missed"))
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert!(missed > 0);

    let acme_people: Vec<(String, String)> = users::table
        .inner_join(roles::table)
        .filter(users::company_id.eq(acme.id))
        .order(users::username)
        .select((users::username, roles::name))
        .load(&mut conn)
        .unwrap();
    assert_eq!(
        acme_people,
        [
            ("alice".to_string(), "Agent".to_string()),
            ("olga".to_string(), "Supervisor".to_string())
        ]
    );
    let acme_conversations: i64 = conversations::table
        .filter(conversations::company_id.eq(acme.id))
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert!(acme_conversations >= 2);
    // every change of the seeding is in each company's intact audit chain
    for company in [demo.id, acme.id] {
        assert!(matches!(
            domain::audit::verify(&mut conn, company).unwrap(),
            domain::audit::Verification::Intact { records, .. } if records > 5
        ));
    }
}

on_both_databases!(
    demo_workspace_matches_the_contract,
    sign_in_returns_to_pages_that_start_like_login,
    head_is_answered_like_get,
    guesses_of_the_current_password_lock_the_account,
    nul_bytes_and_impossible_dates_are_malformed_input,
    sign_in_succeeds_and_lands_on_next,
    every_sign_in_failure_is_the_same_401,
    sign_in_never_redirects_off_site,
    a_new_token_at_every_sign_in,
    logout_revokes_on_the_server,
    idle_and_absolute_timeouts_end_sessions,
    error_pages_keep_the_navigation,
    the_session_cache_spares_the_database_and_changes_act_at_once,
    the_watch_of_announced_changes_holds_the_caches_until_something_changes,
    the_scope_cache_spares_the_database_and_changes_act_at_once,
    state_changes_without_a_valid_csrf_token_are_refused,
    forms_up_to_the_limit_are_read_and_no_larger,
    every_route_is_guarded_as_declared,
    agents_are_refused_supervisor_pages,
    tenants_are_isolated,
    conversations_are_visible_by_the_rule,
    agents_never_receive_full_contact_details,
    deactivation_ends_open_sessions,
    role_changes_act_on_open_sessions,
    password_change_checks_and_ends_other_sessions,
    users_end_their_own_sessions,
    pending_password_change_comes_first,
    every_answer_carries_security_headers,
    database_failure_answers_503,
);

/// A route registered without going through the route table is refused by the guard.
async fn a_route_without_a_rule_is_refused(backend: Backend) {
    use actix_web::{test, web};
    let database = crate::common::TestDatabase::create(backend);
    let url = database.url.clone();
    let pool = web::block(move || {
        let pool = switchboard::db::connect(&url).unwrap();
        switchboard::db::migrate(&mut pool.get().unwrap()).unwrap();
        pool
    })
    .await
    .unwrap();
    let state = web::Data::new(
        switchboard::AppState::new(
            pool,
            switchboard::config::Config::local(database.url.clone()),
        )
        .unwrap(),
    );
    let rules = web::Data::new(switchboard::web::route_rules());
    let service = test::init_service(
        switchboard::app(state, rules).route("/sneaky", web::get().to(|| async { "secret" })),
    )
    .await;
    let response = test::call_service(
        &service,
        test::TestRequest::get().uri("/sneaky").to_request(),
    )
    .await;
    assert_eq!(response.status().as_u16(), 403);
    let body = test::read_body(response).await;
    assert!(!String::from_utf8_lossy(&body).contains("secret"));
}

/// Secure deployments: `__Host-` cookie, Secure, HSTS.
async fn secure_cookies_use_the_host_prefix(backend: Backend) {
    let app = TestApp::with_config(backend, |config| config.cookie_secure = true).await;
    let mut client = app.client();
    let page = client.get("/login").await;
    assert!(page.header("strict-transport-security").is_some());
    let cookie = page.header("set-cookie").unwrap();
    assert!(
        cookie.starts_with("__Host-sb_login_csrf=") && cookie.contains("Secure"),
        "{cookie}"
    );
    let page = client
        .post(
            "/login",
            &[
                ("company_code", "DEMO"),
                ("username", "sam"),
                ("password", PASSWORD),
            ],
        )
        .await;
    page.assert_status(303);
    let cookie = page.header("set-cookie").unwrap();
    assert!(cookie.starts_with("__Host-switchboard="), "{cookie}");
    assert!(cookie.contains("Secure") && cookie.contains("Path=/") && !cookie.contains("Domain"));
}

// The two tests above need their own App, so they are generated here for both databases.
on_both_databases!(
    backend:
    a_route_without_a_rule_is_refused,
    secure_cookies_use_the_host_prefix
);

/// A NUL byte (which PostgreSQL cannot store in text) or a date outside what both databases
/// hold is malformed input like any other, the same on both databases: the generic 401 on
/// sign-in, 400 on the hook, 422 on forms and filters; never a 5xx, never a change.
async fn nul_bytes_and_impossible_dates_are_malformed_input(app: TestApp) {
    let nul = "a\u{0}b";
    // sign-in, before any session
    let mut visitor = app.client();
    for fields in [
        [
            ("company_code", nul),
            ("username", "sofia"),
            ("password", PASSWORD),
        ],
        [
            ("company_code", "DEMO"),
            ("username", nul),
            ("password", PASSWORD),
        ],
        [
            ("company_code", "DEMO"),
            ("username", "sofia"),
            ("password", nul),
        ],
    ] {
        visitor
            .login(fields[0].1, fields[1].1, fields[2].1)
            .await
            .assert_status(401)
            .assert_contains("did not match an active account");
    }
    // the inbound hook
    let (whatsapp, token): (i64, String) = {
        use switchboard::db::schema::channels;
        channels::table
            .filter(channels::name.eq("WhatsApp Sales"))
            .select((channels::id, channels::webhook_token))
            .first(&mut app.conn())
            .unwrap()
    };
    let body = serde_json::json!({"external_id": "nul-1", "contact": {"name": nul, "phone": "+90 532 000 1122"}, "text": nul});
    visitor
        .post_body(
            &format!("/hooks/channels/{whatsapp}/messages"),
            "application/json",
            body.to_string().into_bytes(),
            &[("Authorization", &format!("Bearer {token}"))],
        )
        .await
        .assert_status(400);
    // list filters and searches
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    for path in [
        "/conversations?q=a%00b",
        "/conversations?label=a%00b",
        "/users?q=a%00b",
        "/logins?user=a%00b",
        "/activity?actor=a%00b",
        "/activity?action=a%00b",
        "/activity?from=-5000-01-01",
        "/logins?to=-5000-01-01",
        "/conversations?before=-999999999999999999_1",
        "/exports/activity.csv?actor=a%00b",
        "/exports/conversations.csv?q=a%00b",
    ] {
        let page = sofia.get(path).await;
        assert_eq!(page.status.as_u16(), 422, "{path}: {}", page.status);
    }
    // forms: the form again with its message, nothing stored
    let alice = {
        use switchboard::db::schema::users;
        users::table
            .filter(users::username.eq("alice"))
            .select(users::id)
            .first::<i64>(&mut app.conn())
            .unwrap()
    };
    let conversation: i64 = {
        use switchboard::db::schema::conversations;
        conversations::table
            .filter(conversations::assignee_id.eq(alice))
            .select(conversations::id)
            .first(&mut app.conn())
            .unwrap()
    };
    sofia.get(&format!("/conversations/{conversation}")).await;
    let audit_before: i64 = {
        use switchboard::db::schema::audit_events;
        audit_events::table
            .count()
            .get_result(&mut app.conn())
            .unwrap()
    };
    for (path, fields) in [
        (
            format!("/conversations/{conversation}/messages"),
            vec![("body", nul)],
        ),
        (
            format!("/conversations/{conversation}/labels"),
            vec![("label", nul)],
        ),
        (
            format!("/users/{alice}"),
            vec![("display_name", nul), ("email", ""), ("phone", "")],
        ),
        (
            "/roles".to_string(),
            vec![("name", nul), ("permissions", "users.view")],
        ),
        (
            "/channels".to_string(),
            vec![("name", nul), ("kind", "sms")],
        ),
    ] {
        let page = sofia.post(&path, &fields).await;
        assert_eq!(page.status.as_u16(), 422, "{path}: {}", page.status);
    }
    let audit_after: i64 = {
        use switchboard::db::schema::audit_events;
        audit_events::table
            .count()
            .get_result(&mut app.conn())
            .unwrap()
    };
    assert_eq!(audit_after, audit_before, "nothing was changed");
}
