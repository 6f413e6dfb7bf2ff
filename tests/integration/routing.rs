//! Routing through the real App, on SQLite and on PostgreSQL: who a new chat goes to (fewest
//! open, ties to the longest since a last assignment), and who it never goes to (away or
//! offline, at capacity, not receiving new chats, a supervisor who never asked); the queue and
//! what moves it; availability following sign-in, sign-out and idling; routing again.

use crate::common::on_both_databases;
use crate::common::{
    Client, PASSWORD, TestApp, company_id, hook, id_of, open_conversations_of, role_id,
};
use diesel::prelude::*;
use serde_json::json;
use switchboard::core::permissions::Permission;
use switchboard::db::schema::{
    channels, companies, conversation_assignments, conversations, users,
};
use switchboard::domain::routing;

/// A new SMS channel with three new agents on it (ria, rob, rex, created in that order, none
/// with an open conversation) and sam, a supervisor, who receives no new chats by default.
struct Lab {
    channel: i64,
    token: String,
    ria: i64,
    rob: i64,
    rex: i64,
    /// Deliveries so far: each one a new customer.
    sent: u32,
}

impl Lab {
    async fn new(app: &TestApp, sofia: &mut Client) -> Self {
        // each delivery a minute after the one before: "longest since" is never a tie
        app.clock().stop();
        sofia.get("/channels").await;
        sofia
            .post("/channels", &[("name", "Routing Lab"), ("kind", "sms")])
            .await
            .assert_status(303);
        let (channel, token): (i64, String) = channels::table
            .filter(channels::name.eq("Routing Lab"))
            .select((channels::id, channels::webhook_token))
            .first(&mut app.conn())
            .unwrap();
        let agent = role_id(app, "DEMO", "Agent").to_string();
        sofia.get("/users/new").await;
        for name in ["ria", "rob", "rex"] {
            sofia
                .post(
                    "/users",
                    &[
                        ("username", name),
                        ("display_name", name),
                        ("role_id", &agent),
                        ("channel_ids", &channel.to_string()),
                        ("password", PASSWORD),
                    ],
                )
                .await
                .assert_status(303);
        }
        diesel::update(users::table.filter(users::username.eq_any(["ria", "rob", "rex"])))
            .set(users::must_change_password.eq(false))
            .execute(&mut app.conn())
            .unwrap();
        app.wait_for_change_elsewhere();
        let sam = id_of(app, "DEMO", "sam").to_string();
        sofia.get("/assignments").await;
        sofia
            .post(
                "/assignments",
                &[
                    ("user_id", &sam),
                    ("channel_id", &channel.to_string()),
                    ("assigned", "true"),
                ],
            )
            .await
            .assert_status(303);
        Self {
            channel,
            token,
            ria: id_of(app, "DEMO", "ria"),
            rob: id_of(app, "DEMO", "rob"),
            rex: id_of(app, "DEMO", "rex"),
            sent: 0,
        }
    }

    /// A first message from a new customer, a minute after the last; the conversation.
    async fn deliver(&mut self, app: &TestApp) -> i64 {
        self.sent += 1;
        app.clock().advance(chrono::Duration::minutes(1));
        let n = self.sent;
        let page = hook(
            &mut app.client(),
            self.channel,
            &self.token,
            json!({"external_id": format!("lab-{n}"), "contact": {"name": format!("Lab customer {n}"), "phone": format!("+90 532 444 {n:04}")}, "text": "Hello"}),
        )
        .await;
        page.assert_status(201);
        let answer: serde_json::Value = serde_json::from_str(&page.body).unwrap();
        answer["conversation_id"].as_i64().unwrap()
    }
}

impl Lab {
    /// ria signs out of her last session (`ria`): she is offline, and a new chat waits in the
    /// queue, which the supervisor then reads (held by the inbox cache while the clock is
    /// stopped). Returns the chat and its row's link, as the queue shows it.
    async fn a_chat_waits_while_ria_is_away(
        &mut self,
        app: &TestApp,
        ria: &mut Client,
        sofia: &mut Client,
    ) -> (i64, String) {
        ria.get("/account").await;
        ria.post("/logout", &[]).await.assert_status(303);
        assert_eq!(availability(app, self.ria), "offline");
        let waiting = self.deliver(app).await;
        assert_eq!(assignee(app, waiting), None);
        let row = format!(r#"href="/conversations/{waiting}""#);
        sofia
            .get("/conversations?unassigned=1")
            .await
            .assert_contains(&row);
        (waiting, row)
    }

    /// Nobody else on the channel takes chats: rob and rex are given no capacity.
    async fn only_ria_takes_chats(&self, sofia: &mut Client) {
        for user in [self.rob, self.rex] {
            sofia.get(&format!("/users/{user}")).await;
            sofia
                .post(&format!("/users/{user}/routing"), &[("capacity", "")])
                .await
                .assert_status(303);
        }
    }
}

fn assignee(app: &TestApp, conversation: i64) -> Option<i64> {
    conversations::table
        .find(conversation)
        .select(conversations::assignee_id)
        .first(&mut app.conn())
        .unwrap()
}

fn availability(app: &TestApp, user: i64) -> String {
    users::table
        .find(user)
        .select(users::availability)
        .first(&mut app.conn())
        .unwrap()
}

fn reasons(app: &TestApp, conversation: i64) -> Vec<Option<String>> {
    conversation_assignments::table
        .filter(conversation_assignments::conversation_id.eq(conversation))
        .order(conversation_assignments::id)
        .select(conversation_assignments::reason)
        .load(&mut app.conn())
        .unwrap()
}

async fn new_chats_go_to_the_available_agent_with_the_fewest_open(app: TestApp) {
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    let mut lab = Lab::new(&app, &mut sofia).await;
    let sam = id_of(&app, "DEMO", "sam");
    assert!(
        open_conversations_of(&app, sam).is_empty(),
        "sam would win on load alone"
    );
    // all at 0 and never assigned: the earliest account; then whoever has fewest
    let first = lab.deliver(&app).await;
    assert_eq!(assignee(&app, first), Some(lab.ria));
    let second = lab.deliver(&app).await;
    assert_eq!(assignee(&app, second), Some(lab.rob));
    let third = lab.deliver(&app).await;
    assert_eq!(assignee(&app, third), Some(lab.rex));
    // ria and rob close theirs: the fewest open wins over everything else
    for id in [first, second] {
        sofia.get(&format!("/conversations/{id}")).await;
        sofia
            .post(&format!("/conversations/{id}/close"), &[])
            .await
            .assert_status(303);
    }
    let fourth = lab.deliver(&app).await;
    assert_eq!(assignee(&app, fourth), Some(lab.ria));
    let fifth = lab.deliver(&app).await;
    assert_eq!(assignee(&app, fifth), Some(lab.rob));
    // all at 1: rex has waited longest since his last assignment (not the earliest account)
    let sixth = lab.deliver(&app).await;
    assert_eq!(assignee(&app, sixth), Some(lab.rex));
    // the supervisor on the channel never asked for chats, and got none
    assert!(open_conversations_of(&app, sam).is_empty());
    // the reason is in the history, and on the conversation's page
    assert_eq!(
        reasons(&app, sixth),
        [Some(
            "routed to rex: 1 of 25 open, the fewest among 3 available; the longest since a last assignment"
                .to_string()
        )]
    );
    sofia
        .get(&format!("/conversations/{sixth}"))
        .await
        .assert_contains("assigned to rex automatically (routed to rex: 1 of 25 open");

    // away: rex gets nothing; of ria and rob (1 each), ria waited longer
    let mut rex = app.signed_in("DEMO", "rex").await;
    rex.get("/account").await;
    rex.post("/account/availability", &[("status", "away")])
        .await
        .assert_status(303);
    assert_eq!(availability(&app, lab.rex), "away");
    let seventh = lab.deliver(&app).await;
    assert_eq!(assignee(&app, seventh), Some(lab.ria));

    // at capacity: rob may hold 1 and has 1; ria (2) takes the next although rob waited longer
    sofia.get(&format!("/users/{}", lab.rob)).await;
    sofia
        .post(
            &format!("/users/{}/routing", lab.rob),
            &[
                ("capacity", "1"),
                ("receiving_channel_ids", &lab.channel.to_string()),
            ],
        )
        .await
        .assert_status(303);
    let eighth = lab.deliver(&app).await;
    assert_eq!(assignee(&app, eighth), Some(lab.ria));
    assert_eq!(open_conversations_of(&app, lab.rob).len(), 1);

    // not receiving new chats on the channel: nobody is left, the chat waits in the queue
    sofia
        .post(&format!("/users/{}/routing", lab.ria), &[("capacity", "")])
        .await
        .assert_status(303);
    let ninth = lab.deliver(&app).await;
    assert_eq!(assignee(&app, ninth), None);
    assert_eq!(
        reasons(&app, ninth),
        [Some(
            "queued: nobody on the channel is online, receiving new chats and under capacity"
                .to_string()
        )]
    );
    sofia
        .get(&format!("/conversations/{ninth}"))
        .await
        .assert_contains("waiting in the unassigned queue");

    // rex comes back: the queue moves to him at once
    rex.post("/account/availability", &[("status", "online")])
        .await
        .assert_status(303);
    assert_eq!(assignee(&app, ninth), Some(lab.rex));
    assert_eq!(reasons(&app, ninth).len(), 2);

    // a closed conversation makes room: rob (full at 1) takes the queue when one of his closes
    rex.post("/account/availability", &[("status", "offline")])
        .await
        .assert_status(303);
    let tenth = lab.deliver(&app).await;
    assert_eq!(assignee(&app, tenth), None);
    sofia.get(&format!("/conversations/{fifth}")).await;
    sofia
        .post(&format!("/conversations/{fifth}/close"), &[])
        .await
        .assert_status(303);
    assert_eq!(assignee(&app, tenth), Some(lab.rob));

    // every change of availability and routing is recorded
    assert_eq!(
        crate::common::audit_summaries(&app, "account.availability"),
        ["rex is now away", "rex is now online", "rex is now offline"]
    );
    assert_eq!(
        crate::common::audit_summaries(&app, "user.routing"),
        [
            "rob: capacity 1; new chats on Routing Lab",
            "ria: capacity the company's default; new chats on no channel",
        ]
    );
    // supervisors see everyone's availability on the user list, the user page and the matrix
    sofia
        .get("/users?q=rex")
        .await
        .assert_contains("availability-offline");
    sofia
        .get(&format!("/users/{}", lab.ria))
        .await
        .assert_contains(r#"id="availability">online"#)
        .assert_contains(r#"<dd id="receives-on">no channel</dd>"#);
    sofia
        .get("/assignments")
        .await
        .assert_contains(r#"<span class="availability-offline">offline</span>"#);
}

async fn availability_follows_sign_in_sign_out_and_idling(app: TestApp) {
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    let mut lab = Lab::new(&app, &mut sofia).await;
    lab.only_ria_takes_chats(&mut sofia).await;
    // two tabs signed in: signing out of one leaves her online
    let mut phone = app.signed_in("DEMO", "ria").await;
    let mut laptop = app.signed_in("DEMO", "ria").await;
    assert_eq!(availability(&app, lab.ria), "online");
    phone.get("/account").await;
    phone.post("/logout", &[]).await.assert_status(303);
    assert_eq!(availability(&app, lab.ria), "online");
    // the last one: offline, and new chats wait
    let (waiting, row) = lab
        .a_chat_waits_while_ria_is_away(&app, &mut laptop, &mut sofia)
        .await;
    // signing in again: online, and the queue comes to her. The supervisor's queue, just read
    // (and held by the inbox cache, the clock stopped), loses it at once: a sign-in that routes
    // chats is a change the pages show
    let mut ria = app.signed_in("DEMO", "ria").await;
    assert_eq!(availability(&app, lab.ria), "online");
    assert_eq!(assignee(&app, waiting), Some(lab.ria));
    sofia
        .get("/conversations?unassigned=1")
        .await
        .assert_lacks(&row);
    // one that routes nothing (she is online already, the queue is empty) shows on no live page
    // and leaves every inbox cache alone, so a storm of sign-ins cannot keep them empty
    let writes = app.state.pool.writes();
    let mut tablet = app.signed_in("DEMO", "ria").await;
    tablet.get("/account").await.assert_status(200);
    assert_eq!(
        app.state.pool.writes(),
        writes,
        "a sign-in that routed nothing woke the live pages"
    );

    // idling past the company's timeout: the minutely sweep makes her offline
    let idle: i32 = companies::table
        .find(company_id(&app, "DEMO"))
        .select(companies::idle_timeout_minutes)
        .first(&mut app.conn())
        .unwrap();
    app.clock()
        .advance(chrono::Duration::minutes(i64::from(idle) - 1));
    routing::sweep(&mut app.conn(), app.clock().now()).unwrap();
    assert_eq!(availability(&app, lab.ria), "online", "not idle yet");
    app.clock().advance(chrono::Duration::minutes(2));
    routing::sweep(&mut app.conn(), app.clock().now()).unwrap();
    assert_eq!(availability(&app, lab.ria), "offline");
    let later = lab.deliver(&app).await;
    assert_eq!(assignee(&app, later), None);
    // and her idle session is over
    let ended = ria.get("/account").await;
    assert!(
        ended
            .location()
            .is_some_and(|to| to.contains("reason=expired"))
    );
    // an account that never signed in keeps the default: online
    routing::sweep(&mut app.conn(), app.clock().now()).unwrap();
    assert_eq!(availability(&app, lab.rob), "online");
    // a sign-in sets "online" a moment before its session is stored: a sweep in between must
    // not undo it (two minutes' grace), one after the grace with still no session does
    let at = app.clock().now();
    diesel::update(users::table.find(lab.ria))
        .set((
            users::availability.eq("online"),
            users::availability_changed_at.eq(Some(at)),
        ))
        .execute(&mut app.conn())
        .unwrap();
    routing::sweep(&mut app.conn(), at + chrono::Duration::seconds(30)).unwrap();
    assert_eq!(availability(&app, lab.ria), "online");
    routing::sweep(&mut app.conn(), at + chrono::Duration::minutes(3)).unwrap();
    assert_eq!(availability(&app, lab.ria), "offline");
}

async fn an_absent_agents_conversations_are_routed_again(app: TestApp) {
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    let mut lab = Lab::new(&app, &mut sofia).await;
    let mut sent = Vec::new();
    for _ in 0..4 {
        sent.push(lab.deliver(&app).await);
    }
    // ria 2 (first, fourth), rob 1, rex 1
    assert_eq!(open_conversations_of(&app, lab.ria), [sent[0], sent[3]]);
    // ria signs in and out: offline, her two customers wait
    let mut ria = app.signed_in("DEMO", "ria").await;
    ria.get("/account").await;
    ria.post("/logout", &[]).await;
    // "keep" is for deactivation only
    sofia
        .get(&format!("/users/{}", lab.ria))
        .await
        .assert_contains("id=\"handover-form\"");
    sofia
        .post(
            &format!("/users/{}/open-conversations", lab.ria),
            &[("open_conversations", "keep")],
        )
        .await
        .assert_status(422);
    assert_eq!(open_conversations_of(&app, lab.ria).len(), 2);
    // route them again: to rob and rex (one each: after the first, rob has 2)
    sofia
        .post(
            &format!("/users/{}/open-conversations", lab.ria),
            &[("open_conversations", "route")],
        )
        .await
        .assert_status(303);
    assert!(open_conversations_of(&app, lab.ria).is_empty());
    assert_eq!(assignee(&app, sent[0]), Some(lab.rob));
    assert_eq!(assignee(&app, sent[3]), Some(lab.rex));
    assert!(
        reasons(&app, sent[0])
            .last()
            .unwrap()
            .as_deref()
            .unwrap()
            .starts_with("routed to rob: 1 of 25 open")
    );
    assert_eq!(
        crate::common::audit_summaries(&app, "conversation.route_again"),
        ["2 open conversations of ria routed again (asked): 2 assigned, 0 queued"]
    );

    // the company's setting: after 10 minutes offline, routed again without anyone asking
    diesel::update(companies::table.find(company_id(&app, "DEMO")))
        .set(companies::reroute_offline_minutes.eq(10))
        .execute(&mut app.conn())
        .unwrap();
    let mut rob = app.signed_in("DEMO", "rob").await;
    rob.get("/account").await;
    rob.post("/logout", &[]).await;
    let robs = open_conversations_of(&app, lab.rob);
    assert_eq!(robs.len(), 2);
    app.clock().advance(chrono::Duration::minutes(9));
    routing::sweep(&mut app.conn(), app.clock().now()).unwrap();
    assert_eq!(open_conversations_of(&app, lab.rob), robs, "not yet");
    app.clock().advance(chrono::Duration::minutes(2));
    routing::sweep(&mut app.conn(), app.clock().now()).unwrap();
    assert!(open_conversations_of(&app, lab.rob).is_empty());
    // rex was the only one left online: both went to him
    for id in &robs {
        assert_eq!(assignee(&app, *id), Some(lab.rex));
    }
    assert_eq!(
        crate::common::audit_summaries(&app, "conversation.route_again")
            .last()
            .unwrap(),
        "2 open conversations of rob routed again (offline too long): 2 assigned, 0 queued"
    );

    // deactivating with "route again": nobody else is online, so they wait in the queue
    let rexs = open_conversations_of(&app, lab.rex);
    sofia.get(&format!("/users/{}", lab.rex)).await;
    sofia
        .post(
            &format!("/users/{}/deactivate", lab.rex),
            &[("open_conversations", "route")],
        )
        .await
        .assert_status(303);
    for id in &rexs {
        assert_eq!(assignee(&app, *id), None);
    }
    sofia
        .get(&format!("/conversations/{}", rexs[0]))
        .await
        .assert_contains("returned from rex to the queue by Sofia");
}

async fn routing_settings_refuse_bad_input(app: TestApp) {
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    let lab = Lab::new(&app, &mut sofia).await;
    let mut ria = app.signed_in("DEMO", "ria").await;
    ria.get("/account").await;
    ria.post("/account/availability", &[("status", "busy")])
        .await
        .assert_status(422)
        .assert_contains("Choose online, away or offline.");
    assert_eq!(availability(&app, lab.ria), "online");
    let path = format!("/users/{}/routing", lab.rob);
    sofia.get(&format!("/users/{}", lab.rob)).await;
    let whatsapp = crate::common::channel_id(&app, "WhatsApp Sales").to_string();
    for (fields, says) in [
        (
            vec![("capacity", "-1")],
            "A capacity is a whole number from 0 to 10000",
        ),
        (
            vec![("capacity", "10001")],
            "A capacity is a whole number from 0 to 10000",
        ),
        (vec![("capacity", "many")], "A capacity is a whole number"),
        // a channel he does not work on
        (
            vec![
                ("capacity", "3"),
                ("receiving_channel_ids", whatsapp.as_str()),
            ],
            "Choose among the channels they work on.",
        ),
        (
            vec![("capacity", "3"), ("receiving_channel_ids", "abc")],
            "Choose among the channels they work on.",
        ),
    ] {
        sofia
            .post(&path, &fields)
            .await
            .assert_status(422)
            .assert_contains(says);
    }
    let (capacity,): (Option<i32>,) = users::table
        .find(lab.rob)
        .select((users::capacity,))
        .first(&mut app.conn())
        .unwrap();
    assert_eq!(capacity, None, "nothing changed");
    assert!(crate::common::audit_summaries(&app, "user.routing").is_empty());
    // an agent may not; nobody sets their own
    ria.get("/account").await;
    ria.post(&path, &[("capacity", "1")])
        .await
        .assert_status(403);
    let sofia_id = id_of(&app, "DEMO", "sofia");
    sofia
        .post(&format!("/users/{sofia_id}/routing"), &[("capacity", "1")])
        .await
        .assert_status(403);
    // nor on someone whose role holds more than theirs: a dispatcher holding the agents'
    // permissions and channels.assign may route agents, not the supervisors
    let mut dispatcher = Permission::AGENT.to_vec();
    dispatcher.extend([Permission::ChannelsAssign, Permission::UsersView]);
    crate::common::give_role(&app, "dana", "Dispatcher", &dispatcher);
    let mut dana = app.signed_in("DEMO", "dana").await;
    dana.get("/assignments").await;
    dana.post(
        &format!("/users/{}/routing", id_of(&app, "DEMO", "sam")),
        &[("capacity", "0")],
    )
    .await
    .assert_status(403);
    dana.post(&path, &[("capacity", "4")])
        .await
        .assert_status(303);
    let capacity: Option<i32> = users::table
        .find(lab.rob)
        .select(users::capacity)
        .first(&mut app.conn())
        .unwrap();
    assert_eq!(capacity, Some(4));
    // the company's default takes only what a capacity can be, and its change is recorded
    let mut settings = vec![
        ("password_min_length", "12"),
        ("password_require_upper", "on"),
        ("password_require_lower", "on"),
        ("password_require_digit", "on"),
        ("password_require_symbol", "on"),
        ("password_min_score", "3"),
        ("password_max_age_days", "0"),
        ("idle_timeout_minutes", "30"),
        ("session_lifetime_hours", "12"),
        ("lockout_threshold", "10"),
        ("end_session_on_client_change", "on"),
        ("reveal_daily_cap", "10"),
        ("missed_chat_minutes", "15"),
        ("reroute_offline_minutes", "0"),
    ];
    sofia
        .get("/settings")
        .await
        .assert_contains(r#"name="default_capacity" value="25""#);
    for bad in ["0", "10001", "lots"] {
        let mut form = settings.clone();
        form.push(("default_capacity", bad));
        sofia
            .post("/settings", &form)
            .await
            .assert_status(422)
            .assert_contains("Default capacity");
    }
    let default: i32 = companies::table
        .find(company_id(&app, "DEMO"))
        .select(companies::default_capacity)
        .first(&mut app.conn())
        .unwrap();
    assert_eq!(default, 25);
    settings.push(("default_capacity", "30"));
    sofia.post("/settings", &settings).await.assert_status(303);
    assert!(
        crate::common::audit_summaries(&app, "settings.update")
            .last()
            .is_some_and(|summary| summary.contains("default capacity 25 → 30 open conversations")),
        "{:?}",
        crate::common::audit_summaries(&app, "settings.update")
    );
}

/// The queue drains in one step when someone comes back, and the step counts what it gives:
/// room for two, two assigned, the third still waits (oldest first).
async fn a_draining_queue_respects_capacity(app: TestApp) {
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    let mut lab = Lab::new(&app, &mut sofia).await;
    // only rob takes chats, with room for two, and he is away
    for user in [lab.ria, lab.rex] {
        sofia.get(&format!("/users/{user}")).await;
        sofia
            .post(&format!("/users/{user}/routing"), &[("capacity", "")])
            .await
            .assert_status(303);
    }
    sofia
        .post(
            &format!("/users/{}/routing", lab.rob),
            &[
                ("capacity", "2"),
                ("receiving_channel_ids", &lab.channel.to_string()),
            ],
        )
        .await
        .assert_status(303);
    let mut rob = app.signed_in("DEMO", "rob").await;
    rob.get("/account").await;
    rob.post("/account/availability", &[("status", "away")])
        .await
        .assert_status(303);
    let mut queued = Vec::new();
    for _ in 0..3 {
        queued.push(lab.deliver(&app).await);
    }
    assert!(queued.iter().all(|id| assignee(&app, *id).is_none()));
    rob.post("/account/availability", &[("status", "online")])
        .await
        .assert_status(303);
    assert_eq!(open_conversations_of(&app, lab.rob), queued[..2]);
    assert_eq!(assignee(&app, queued[2]), None);
}

/// The code step of a sign-in is seen as a password sign-in is: by the pages (the supervisor's
/// queue, held by the inbox cache) when coming online routes her the queue, and by none when it
/// routes nothing.
async fn a_sign_in_with_a_code_is_seen_only_when_it_routes(app: TestApp) {
    use crate::two_factor::{code_now, enrol, password_step, submit_code};
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    let mut lab = Lab::new(&app, &mut sofia).await;
    lab.only_ria_takes_chats(&mut sofia).await;
    // ria turns two-factor on, and signs out: offline, and a new chat waits
    let mut ria = app.signed_in("DEMO", "ria").await;
    let (secret, _) = enrol(&app, &mut ria).await;
    let (waiting, row) = lab
        .a_chat_waits_while_ria_is_away(&app, &mut ria, &mut sofia)
        .await;
    // her password, then her code: online, and the queue comes to her at once
    let mut phone = password_step(&app, "ria").await;
    submit_code(&mut phone, &code_now(&app, &secret))
        .await
        .assert_status(303);
    assert_eq!(assignee(&app, waiting), Some(lab.ria));
    sofia
        .get("/conversations?unassigned=1")
        .await
        .assert_lacks(&row);
    // another device, nothing to route: no live page wakes
    app.clock().advance(chrono::Duration::seconds(30));
    let writes = app.state.pool.writes();
    let mut tablet = password_step(&app, "ria").await;
    submit_code(&mut tablet, &code_now(&app, &secret))
        .await
        .assert_status(303);
    tablet.get("/account").await.assert_status(200);
    assert_eq!(
        app.state.pool.writes(),
        writes,
        "a sign-in with a code that routed nothing woke the live pages"
    );
}

on_both_databases!(
    a_draining_queue_respects_capacity,
    new_chats_go_to_the_available_agent_with_the_fewest_open,
    availability_follows_sign_in_sign_out_and_idling,
    a_sign_in_with_a_code_is_seen_only_when_it_routes,
    an_absent_agents_conversations_are_routed_again,
    routing_settings_refuse_bad_input,
);
