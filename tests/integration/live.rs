//! Live updates through the real App, on SQLite and on PostgreSQL: an open list or
//! conversation learns of a change on its next poll, sees exactly what the page would show
//! (visibility and masking), hears nothing about what it may not see, and never keeps an idle
//! session alive.

use crate::common::on_both_databases;
use crate::common::{Client, Page, TestApp, hook};
use actix_web::http::Method;
use diesel::prelude::*;
use serde_json::json;
use switchboard::db::schema::{conversations, sessions, users};

/// The poll address a page carries (`<div id="live" data-hx-get="…">`), unescaped.
fn poll_url(page: &Page) -> String {
    let start = page
        .body
        .find(r#"<div id="live" data-hx-get=""#)
        .unwrap_or_else(|| panic!("no poller in {}", page.body));
    let rest = &page.body[start + r#"<div id="live" data-hx-get=""#.len()..];
    rest[..rest.find('"').unwrap()]
        .replace("&amp;", "&")
        .replace("&#38;", "&")
}

/// One poll as htmx sends it.
async fn poll(client: &mut Client, url: &str) -> Page {
    client
        .request(Method::GET, url, None, &[("HX-Request", "true")])
        .await
}

/// A first message from a new customer on WhatsApp Sales; the conversation.
async fn new_customer(app: &TestApp, n: u32, phone: &str) -> i64 {
    let (id, token) = crate::common::channel(app, "WhatsApp Sales");
    let page = hook(
        &mut app.client(),
        id,
        &token,
        json!({"external_id": format!("live-{n}"), "contact": {"name": format!("Live customer {n}"), "phone": phone}, "text": "Is anyone there?"}),
    )
    .await;
    page.assert_status(201);
    serde_json::from_str::<serde_json::Value>(&page.body).unwrap()["conversation_id"]
        .as_i64()
        .unwrap()
}

fn assignee(app: &TestApp, conversation: i64) -> Option<i64> {
    conversations::table
        .find(conversation)
        .select(conversations::assignee_id)
        .first(&mut app.conn())
        .unwrap()
}

async fn open_lists_update_with_what_each_viewer_may_see(app: TestApp) {
    let mut alice = app.signed_in("DEMO", "alice").await;
    let mut bob = app.signed_in("DEMO", "bob").await;
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    let alice_url = poll_url(&alice.get("/conversations").await);
    let bob_url = poll_url(&bob.get("/conversations").await);
    // nothing written since the page: nothing to say
    poll(&mut alice, &alice_url).await.assert_status(204);
    // a new customer, routed to bob (12 open against alice's 22)
    let id = new_customer(&app, 1, "+90 532 765 4321").await;
    let bob_id: i64 = users::table
        .filter(users::username.eq("bob"))
        .select(users::id)
        .first(&mut app.conn())
        .unwrap();
    assert_eq!(assignee(&app, id), Some(bob_id));
    // bob's list shows it, masked like the page; his badge counts it
    let update = poll(&mut bob, &bob_url).await;
    update
        .assert_status(200)
        .assert_contains(r#"data-hx-swap-oob="innerHTML:#conversation-list""#)
        .assert_contains("Live customer 1")
        .assert_contains("+90 *** *** **21")
        .assert_lacks("765 4321")
        .assert_contains(r#"data-hx-swap-oob="innerHTML:#open-badge""#)
        .assert_contains(">13</span>");
    // alice may not see it: her poll carries no list, no name, nothing about it
    let quiet = poll(&mut alice, &alice_url).await;
    quiet
        .assert_status(200)
        .assert_lacks("hx-swap-oob")
        .assert_lacks("Live customer 1");
    let alice_url = poll_url(&quiet);
    // and once that is seen, nothing more
    poll(&mut alice, &alice_url).await.assert_status(204);
    // transferred to alice: it arrives in her list and leaves bob's
    let bob_url = poll_url(&update);
    sofia.get(&format!("/conversations/{id}")).await;
    let alice_id = crate::common::id_of(&app, "DEMO", "alice").to_string();
    sofia
        .post(
            &format!("/conversations/{id}/transfer"),
            &[("assignee_id", alice_id.as_str())],
        )
        .await
        .assert_status(303);
    poll(&mut alice, &alice_url)
        .await
        .assert_contains("Live customer 1")
        .assert_contains(">23</span>");
    let update = poll(&mut bob, &bob_url).await;
    update
        .assert_contains(r#"data-hx-swap-oob="innerHTML:#conversation-list""#)
        .assert_lacks("Live customer 1");
    // a supervisor ends bob's sessions: his open page's next poll leads to the sign-in page
    let bob_url = poll_url(&update);
    sofia.get("/sessions").await;
    sofia
        .post("/sessions/revoke-user", &[("user_id", &bob_id.to_string())])
        .await
        .assert_status(303);
    let ended = poll(&mut bob, &bob_url).await;
    ended.assert_status(401).assert_lacks("Live customer");
    assert!(
        ended
            .header("HX-Redirect")
            .is_some_and(|to| to.starts_with("/login"))
    );
}

async fn an_open_conversation_updates_until_it_is_no_longer_theirs(app: TestApp) {
    let id = new_customer(&app, 2, "+90 532 765 0002").await;
    let mut bob = app.signed_in("DEMO", "bob").await;
    let page = bob.get(&format!("/conversations/{id}")).await;
    let url = poll_url(&page);
    poll(&mut bob, &url).await.assert_status(204);
    // the customer writes again, with a number in the text: it arrives, masked
    let (channel, token) = crate::common::channel(&app, "WhatsApp Sales");
    hook(
        &mut app.client(),
        channel,
        &token,
        json!({"external_id": "live-2b", "contact": {"phone": "+90 532 765 0002"}, "text": "Call me on +90 533 111 2299"}),
    )
    .await
    .assert_status(201);
    let update = poll(&mut bob, &url).await;
    update
        .assert_status(200)
        .assert_contains(r#"data-hx-swap-oob="innerHTML:#timeline""#)
        .assert_contains("Call me on")
        .assert_lacks("111 2299");
    let url = poll_url(&update);
    // closed by a supervisor: the status changes on the page
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    sofia.get(&format!("/conversations/{id}")).await;
    sofia
        .post(&format!("/conversations/{id}/close"), &[])
        .await
        .assert_status(303);
    let update = poll(&mut bob, &url).await;
    update.assert_contains(r#"<span class="tag status-closed">closed</span>"#);
    let url = poll_url(&update);
    // transferred away: the polling stops (286), in words that say nothing else ...
    sofia
        .post(&format!("/conversations/{id}/reopen"), &[])
        .await
        .assert_status(303);
    let alice_id = crate::common::id_of(&app, "DEMO", "alice").to_string();
    sofia
        .post(
            &format!("/conversations/{id}/transfer"),
            &[("assignee_id", alice_id.as_str())],
        )
        .await
        .assert_status(303);
    let gone = poll(&mut bob, &url).await;
    gone.assert_status(286)
        .assert_contains("no longer open to you")
        .assert_lacks("Live customer 2");
    // ... the same as for a conversation that never was his
    let demo = crate::common::company_id(&app, "DEMO").0;
    let other_company: i64 = conversations::table
        .filter(conversations::company_id.ne(demo))
        .select(conversations::id)
        .first(&mut app.conn())
        .unwrap();
    let never = poll(
        &mut bob,
        &format!("/conversations/{other_company}/live?seen=x"),
    )
    .await;
    assert_eq!((never.status, &never.body), (gone.status, &gone.body));
}

/// A tab asks `/account/live` who is signed in and for the session's form token (to keep a
/// form typed before its person signed in again in another tab): the answer names the page's
/// person as the page does, asking is not activity (the session still idles out), and a tab
/// whose session ended is sent to the sign-in page.
async fn a_tab_learns_who_is_signed_in_without_keeping_the_session(app: TestApp) {
    app.clock().stop();
    let mut alice = app.signed_in("DEMO", "alice").await;
    let page = alice.get("/account").await;
    page.assert_contains(r#"<meta name="signed-in-as" content="DEMO/alice">"#);
    let answer = poll(&mut alice, "/account/live").await;
    answer.assert_status(200);
    let now: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(now["user"], "DEMO/alice");
    assert_eq!(now["csrf_token"].as_str(), alice.csrf.as_deref());
    for _ in 0..29 {
        app.clock().advance(chrono::Duration::minutes(1));
        poll(&mut alice, "/account/live").await.assert_status(200);
    }
    app.clock().advance(chrono::Duration::minutes(2));
    let ended = poll(&mut alice, "/account/live").await;
    ended.assert_status(401);
    assert!(
        ended
            .header("HX-Redirect")
            .is_some_and(|to| to.starts_with("/login") && to.contains("reason=")),
        "{:?}",
        ended.headers
    );
    app.client().get("/account/live").await.assert_status(303);
}

async fn polling_keeps_no_idle_session_alive(app: TestApp) {
    app.clock().stop();
    let mut alice = app.signed_in("DEMO", "alice").await;
    let url = poll_url(&alice.get("/conversations").await);
    // 29 idle minutes of polling (every poll sees a change, so every poll reads)
    for n in 0..29 {
        app.clock().advance(chrono::Duration::minutes(1));
        new_customer(&app, 100 + n, &format!("+90 532 700 {:04}", n)).await;
        let answer = poll(&mut alice, &url).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
    }
    // the open tab alone did not count as work: the session idled out
    app.clock().advance(chrono::Duration::minutes(2));
    let ended = poll(&mut alice, &url).await;
    ended.assert_status(401);
    assert!(
        ended
            .header("HX-Redirect")
            .is_some_and(|to| to.starts_with("/login")),
        "{:?}",
        ended.headers
    );
    let reasons: Vec<Option<String>> = sessions::table
        .inner_join(users::table)
        .filter(users::username.eq("alice"))
        .select(sessions::revoked_reason)
        .load(&mut app.conn())
        .unwrap();
    assert_eq!(reasons, [Some("idle timeout".to_string())]);
}

/// The background jobs that look every second and find nothing to do change nothing: an open
/// page hears nothing new and the cached sessions stay (each commit retires them all). The
/// broadcast job once opened a write transaction every second, so every open page rendered
/// itself again every poll and every session was read from the database every second.
async fn a_job_that_finds_nothing_to_do_is_not_a_change(app: TestApp) {
    let mut bob = app.signed_in("DEMO", "bob").await;
    let url = poll_url(&bob.get("/conversations").await);
    poll(&mut bob, &url).await.assert_status(204);
    let pool = &app.state.pool;
    let (commits, writes) = (pool.commits(), pool.writes());
    for _ in 0..3 {
        switchboard::domain::broadcasts::send_due(pool).await;
    }
    assert_eq!((pool.commits(), pool.writes()), (commits, writes));
    poll(&mut bob, &url).await.assert_status(204);
    // a transaction that does write is counted
    switchboard::db::run(pool, |conn| {
        switchboard::db::write_transaction(conn, |conn| {
            diesel::update(users::table.filter(users::username.eq("bob")))
                .set(users::display_name.eq("Bob Again"))
                .execute(conn)?;
            Ok(())
        })
    })
    .await
    .unwrap();
    assert_eq!((pool.commits(), pool.writes()), (commits + 1, writes + 1));
    poll(&mut bob, &url).await.assert_status(200);
}

on_both_databases!(
    a_job_that_finds_nothing_to_do_is_not_a_change,
    open_lists_update_with_what_each_viewer_may_see,
    an_open_conversation_updates_until_it_is_no_longer_theirs,
    polling_keeps_no_idle_session_alive,
    a_tab_learns_who_is_signed_in_without_keeping_the_session,
);

/// The navigation's notification counter is live as well: a change told to bob reaches his
/// open list on its next poll, and reading it clears the counter there.
async fn the_notification_counter_is_live(app: TestApp) {
    let mut bob = app.signed_in("DEMO", "bob").await;
    bob.post("/notifications/read", &[]).await;
    let page = bob.get("/conversations").await;
    page.assert_lacks(r#"id="unread-badge""#)
        .assert_contains(r#"<span id="unread-slot">"#);
    let url = poll_url(&page);
    poll(&mut bob, &url).await.assert_status(204);
    // alice, his team mate in Sales, is given another role
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    let alice = crate::common::id_of(&app, "DEMO", "alice");
    sofia.get(&format!("/users/{alice}")).await;
    let auditor = crate::common::role_id(&app, "DEMO", "Auditor").to_string();
    sofia
        .post(&format!("/users/{alice}/role"), &[("role_id", &auditor)])
        .await
        .assert_status(303);
    let update = poll(&mut bob, &url).await;
    update
        .assert_status(200)
        .assert_contains(r#"data-hx-swap-oob="innerHTML:#unread-slot""#)
        .assert_contains(r#"id="unread-badge" title="Unread notifications">1</span>"#);
    let url = poll_url(&update);
    bob.get("/notifications").await;
    bob.post("/notifications/read", &[])
        .await
        .assert_status(303);
    let cleared = poll(&mut bob, &url).await;
    cleared
        .assert_contains(r#"data-hx-swap-oob="innerHTML:#unread-slot""#)
        .assert_lacks(r#"id="unread-badge""#);
}

on_both_databases!(the_notification_counter_is_live);

/// A reload of the inbox with nothing written since costs no database trip (the inbox cache,
/// kept by the live pages' rule): and yet every change shows at once on the next view, to
/// the person it concerns and masked as they may see it. Two viewers never share an entry,
/// and a role taken back is never answered with what the old role saw.
async fn the_inbox_answers_a_reload_from_the_cache_until_anything_is_written(app: TestApp) {
    app.clock().stop();
    let mut alice = app.signed_in("DEMO", "alice").await;
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    alice.get("/conversations").await.assert_status(200);
    let reads = app.state.inbox_cache.reads();
    alice
        .get("/conversations?status=all")
        .await
        .assert_status(200);
    assert_eq!(
        app.state.inbox_cache.reads(),
        reads + 1,
        "another filter is read"
    );
    let (reads, queries) = (reads + 1, app.state.pool.queries_run());
    let again = alice.get("/conversations").await;
    again
        .assert_status(200)
        .assert_contains("conversation-list");
    assert_eq!(
        app.state.pool.queries_run(),
        queries,
        "a reload with nothing written read the database"
    );
    assert_eq!(app.state.inbox_cache.reads(), reads);
    // a new customer (routed to bob), transferred to alice by sofia: in her list at once,
    // masked; sofia's own view of the same list shows the number whole
    let id = new_customer(&app, 7, "+90 532 765 4321").await;
    sofia.get(&format!("/conversations/{id}")).await;
    let alice_id = crate::common::id_of(&app, "DEMO", "alice");
    sofia
        .post(
            &format!("/conversations/{id}/transfer"),
            &[("assignee_id", &alice_id.to_string())],
        )
        .await
        .assert_status(303);
    let mut bob = app.signed_in("DEMO", "bob").await;
    for _ in 0..2 {
        alice
            .get("/conversations")
            .await
            .assert_contains("Live customer 7")
            .assert_contains("+90 *** *** **21")
            .assert_lacks("765 4321");
        // bob, an agent as she is, asks for the same list: his own
        bob.get("/conversations")
            .await
            .assert_status(200)
            .assert_lacks("Live customer 7");
        sofia
            .get("/conversations")
            .await
            .assert_contains("Live customer 7")
            .assert_contains("765 4321");
    }
    // a role that shows contacts whole, given to alice and taken back: her next views follow
    let agent = crate::common::role_id(&app, "DEMO", "Agent");
    let mut permissions = switchboard::domain::roles::permissions_of(
        &mut app.conn(),
        switchboard::core::ids::RoleId(agent),
    )
    .unwrap();
    permissions.insert(switchboard::core::permissions::Permission::ContactsViewUnmasked);
    let unmasked = switchboard::domain::roles::create(
        &mut app.conn(),
        crate::common::company_id(&app, "DEMO"),
        "Agent, contacts whole",
        None,
        permissions,
    )
    .unwrap();
    for (role, whole) in [(i64::from(unmasked), true), (agent, false)] {
        sofia.get(&format!("/users/{alice_id}")).await;
        sofia
            .post(
                &format!("/users/{alice_id}/role"),
                &[("role_id", &role.to_string())],
            )
            .await
            .assert_status(303);
        let page = alice.get("/conversations").await;
        page.assert_contains("Live customer 7");
        assert_eq!(page.body.contains("765 4321"), whole, "role {role}");
    }
    // closed by sofia: gone from alice's open conversations at once
    sofia
        .post(&format!("/conversations/{id}/close"), &[])
        .await
        .assert_status(303);
    alice
        .get("/conversations")
        .await
        .assert_lacks("Live customer 7");
    alice
        .get("/conversations?status=closed")
        .await
        .assert_contains("Live customer 7");
    // reopened and transferred to bob: gone from all of alice's lists
    sofia
        .post(&format!("/conversations/{id}/reopen"), &[])
        .await
        .assert_status(303);
    alice
        .get("/conversations")
        .await
        .assert_contains("Live customer 7");
    let bob_id = crate::common::id_of(&app, "DEMO", "bob");
    sofia
        .post(
            &format!("/conversations/{id}/transfer"),
            &[("assignee_id", &bob_id.to_string())],
        )
        .await
        .assert_status(303);
    for list in ["/conversations", "/conversations?status=all"] {
        alice.get(list).await.assert_lacks("Live customer 7");
    }
}

on_both_databases!(the_inbox_answers_a_reload_from_the_cache_until_anything_is_written);

/// The href of the list's "Next page" link, unescaped.
/// A filtered list polls with its filters (its update shows what the filters match, not the
/// whole inbox); an older page and a search the viewer's masking changed do not poll at all
/// (new rows arrive on the first page; the poll would search for the masked text).
async fn a_list_polls_with_its_filters_and_only_on_its_first_page(app: TestApp) {
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    let closed = sofia.get("/conversations?status=closed").await;
    let url = poll_url(&closed);
    assert!(url.contains("status=closed"), "{url}");
    // new open conversations (enough for a second page of all 42): the closed list's poll
    // does not bring them in
    for n in 3..13 {
        new_customer(&app, n, &format!("+90 532 765 00{n:02}")).await;
    }
    let update = poll(&mut sofia, &url).await;
    update.assert_status(200).assert_lacks("Live customer 3");
    // and the next poll it sets up asks for the same list
    let next = poll_url(&update);
    assert!(next.contains("status=closed"), "{next}");
    let all = sofia.get("/conversations").await;
    all.assert_contains("Live customer 3");
    // the next page of the same list has no poller
    let older = sofia.get(&all.next_page().expect("a next page")).await;
    older.assert_status(200).assert_lacks(r#"<div id="live""#);
    // an agent's search for a number: the page masks it, so it does not poll for it ...
    let mut bob = app.signed_in("DEMO", "bob").await;
    bob.get("/conversations?q=%2B90+532+765+0003")
        .await
        .assert_status(200)
        .assert_lacks(r#"<div id="live""#);
    // ... while a search for a name polls with the same words
    let named = bob.get("/conversations?q=Live+customer").await;
    let url = poll_url(&named);
    assert!(url.contains("q=Live"), "{url}");
}

on_both_databases!(a_list_polls_with_its_filters_and_only_on_its_first_page);

/// The `Earlier messages` link of a page, unescaped.
fn earlier_link(page: &Page) -> Option<String> {
    let start = page.body.find(r#"<p id="earlier-messages"><a href=""#)?;
    let rest = &page.body[start + r#"<p id="earlier-messages"><a href=""#.len()..];
    Some(
        rest[..rest.find('"')?]
            .replace("&amp;", "&")
            .replace("&#38;", "&"),
    )
}

/// A long conversation is read in steps: the page shows the latest 200 messages and a link
/// to the 200 before them, each step masked as the page is and only for who may see the
/// conversation; the open page's live updates keep the window it opened with.
async fn a_long_conversation_is_read_in_steps(app: TestApp) {
    let id = new_customer(&app, 3, "+90 532 765 0003").await;
    // 449 more from the customer, each with a number in it (written as the hook writes them)
    let (channel, token) = crate::common::channel(&app, "WhatsApp Sales");
    let text = |n: usize| format!("message {n:03}, call +90 533 222 {n:04}");
    {
        let mut conn = app.conn();
        for n in 1..450 {
            let body = json!({"external_id": format!("long-{n}"), "contact": {"phone": "+90 532 765 0003"}, "text": text(n)});
            let received = switchboard::domain::inbound::receive(
                &mut conn,
                switchboard::core::ids::ChannelId(channel),
                &token,
                body.to_string().as_bytes(),
            )
            .unwrap();
            assert!(received.is_ok(), "message {n} refused");
        }
    }
    app.wait_for_change_elsewhere();
    let shown = |page: &Page| -> Vec<usize> {
        (1..451)
            .filter(|n| page.body.contains(&format!("message {n:03},")))
            .collect()
    };
    // bob (an agent: numbers masked) holds it
    let mut bob = app.signed_in("DEMO", "bob").await;
    let page = bob.get(&format!("/conversations/{id}")).await;
    page.assert_status(200);
    assert_eq!(
        shown(&page),
        (250..450).collect::<Vec<_>>(),
        "the latest 200"
    );
    let step = earlier_link(&page).expect("a link to earlier messages");
    // a step back, as htmx asks for it, and again: 200, then the first 49 and the opening
    // message, with no link beyond them
    let earlier = poll(&mut bob, &step).await;
    earlier.assert_status(200).assert_lacks("<nav");
    assert_eq!(shown(&earlier), (50..250).collect::<Vec<_>>());
    let last_step = earlier_link(&earlier).expect("a link to the first messages");
    let first = poll(&mut bob, &last_step).await;
    first.assert_status(200).assert_contains("Is anyone there?");
    assert_eq!(shown(&first), (1..50).collect::<Vec<_>>());
    assert_eq!(
        earlier_link(&first),
        None,
        "nothing before the first message"
    );
    for (n, page) in [(300, &page), (100, &earlier), (10, &first)] {
        page.assert_lacks(&format!("+90 533 222 {n:04}"));
    }
    // without htmx, a page of its own
    bob.get(&step)
        .await
        .assert_status(200)
        .assert_contains("<nav")
        .assert_contains("message 249,");
    // alice may not see the conversation: not its steps either
    let mut alice = app.signed_in("DEMO", "alice").await;
    alice.get(&step).await.assert_status(404);
    // a new message: the open page keeps its first message and adds the new one
    let url = poll_url(&page);
    assert!(url.contains("from="), "{url}");
    hook(
        &mut app.client(),
        channel,
        &token,
        json!({"external_id": "long-450", "contact": {"phone": "+90 532 765 0003"}, "text": text(450)}),
    )
    .await
    .assert_status(201);
    let update = poll(&mut bob, &url).await;
    update.assert_status(200);
    assert_eq!(shown(&update), (250..451).collect::<Vec<_>>());
}

on_both_databases!(a_long_conversation_is_read_in_steps);
