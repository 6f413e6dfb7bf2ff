//! Team notifications through the real App, on SQLite and on PostgreSQL: who hears of what
//! (the supervisors and the team of the user concerned; the deciders of a request; its
//! requester), never the person who acted, and only one's own to read.

use crate::common::on_both_databases;
use crate::common::{TestApp, id_of, role_id};
use diesel::prelude::*;
use switchboard::db::schema::notifications;

/// (recipient username, summary) of every notification of a kind sent by someone signed in
/// (the demo's own seeding told the supervisors of Carl and the channels too).
fn sent(app: &TestApp, kind: &str) -> Vec<(String, String)> {
    use switchboard::db::schema::users;
    notifications::table
        .inner_join(users::table.on(users::id.eq(notifications::user_id)))
        .filter(notifications::kind.eq(kind))
        .filter(notifications::summary.not_like("Carl Jensen%"))
        .order((users::username, notifications::id))
        .select((users::username, notifications::summary))
        .load(&mut app.conn())
        .unwrap()
}

fn recipients(app: &TestApp, kind: &str) -> Vec<String> {
    let mut names: Vec<String> = sent(app, kind).into_iter().map(|(u, _)| u).collect();
    names.dedup();
    names
}

async fn the_team_hears_who_joins_leaves_and_changes_role(app: TestApp) {
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    sofia.get("/users/new").await;
    let agent = role_id(&app, "DEMO", "Agent").to_string();
    sofia
        .post(
            "/users",
            &[
                ("username", "nora"),
                ("display_name", "Nora Quinn"),
                ("role_id", &agent),
                ("password", "Harbor-Lantern-42!"),
            ],
        )
        .await
        .assert_status(303);
    // the supervisors but the one who did it (tina manages only her team: not told)
    assert_eq!(recipients(&app, "user.create"), ["sam"]);
    // a change to bob reaches the supervisors and his team mates (Sales: alice; Support: tina)
    let bob = id_of(&app, "DEMO", "bob");
    sofia.get(&format!("/users/{bob}")).await;
    sofia
        .post(
            &format!("/users/{bob}/deactivate"),
            &[("open_conversations", "queue")],
        )
        .await
        .assert_status(303);
    assert_eq!(
        recipients(&app, "user.deactivate"),
        ["alice", "sam", "tina"]
    );
    let said = sent(&app, "user.deactivate");
    assert!(
        said[0].1.contains("Bob Tanaka (@bob) was deactivated"),
        "{said:?}"
    );
    // a role change of alice: supervisors and her team mate (bob, deactivated: it waits for
    // him)
    let alice = id_of(&app, "DEMO", "alice");
    sofia.get(&format!("/users/{alice}")).await;
    let auditor = role_id(&app, "DEMO", "Auditor").to_string();
    sofia
        .post(&format!("/users/{alice}/role"), &[("role_id", &auditor)])
        .await
        .assert_status(303);
    assert_eq!(recipients(&app, "user.role_change"), ["bob", "sam"]);

    // sam's counter, list and reading
    let mut sam = app.signed_in("DEMO", "sam").await;
    let page = sam.get("/notifications").await;
    page.assert_status(200)
        .assert_contains("Nora Quinn (@nora) was added")
        .assert_contains(r#"id="unread-badge""#);
    let unread = |app: &TestApp, user: i64| -> i64 {
        notifications::table
            .filter(notifications::user_id.eq(user))
            .filter(notifications::read_at.is_null())
            .count()
            .get_result(&mut app.conn())
            .unwrap()
    };
    let sam_id = id_of(&app, "DEMO", "sam");
    let before = unread(&app, sam_id);
    assert!(before >= 3);
    let one: i64 = notifications::table
        .filter(notifications::user_id.eq(sam_id))
        .filter(notifications::kind.eq("user.create"))
        .select(notifications::id)
        .first(&mut app.conn())
        .unwrap();
    // someone else's id is left alone
    let theirs: i64 = notifications::table
        .filter(notifications::user_id.ne(sam_id))
        .select(notifications::id)
        .first(&mut app.conn())
        .unwrap();
    sam.post(
        "/notifications/read",
        &[("ids", &one.to_string()), ("ids", &theirs.to_string())],
    )
    .await
    .assert_status(303);
    assert_eq!(unread(&app, sam_id), before - 1);
    let still: Option<chrono::NaiveDateTime> = notifications::table
        .find(theirs)
        .select(notifications::read_at)
        .first(&mut app.conn())
        .unwrap();
    assert!(
        still.is_none(),
        "another person's notification was marked read"
    );
    sam.post("/notifications/read", &[])
        .await
        .assert_status(303);
    assert_eq!(unread(&app, sam_id), 0);
    sam.get("/notifications")
        .await
        .assert_lacks(r#"id="unread-badge""#);
}

async fn approvals_reach_their_deciders_and_requesters(app: TestApp) {
    // the demo's pending template: sam (templates.approve) was told, sofia (who asked) not
    assert_eq!(recipients(&app, "approval.waiting"), ["sam"]);
    assert_eq!(
        sent(&app, "approval.waiting").len(),
        2,
        "welcome and order_update"
    );
    let order_update: i64 = switchboard::db::schema::message_templates::table
        .filter(switchboard::db::schema::message_templates::name.eq("order_update"))
        .select(switchboard::db::schema::message_templates::id)
        .first(&mut app.conn())
        .unwrap();
    let mut sam = app.signed_in("DEMO", "sam").await;
    sam.get("/approvals").await;
    sam.post(
        &format!("/templates/{order_update}/reject"),
        &[("reason", "Say which order it is in the first line.")],
    )
    .await
    .assert_status(303);
    let decided = sent(&app, "approval.decided");
    let last = decided.last().unwrap();
    assert_eq!(last.0, "sofia");
    assert!(
        last.1.contains("rejected: template order_update (en) v1"),
        "{last:?}"
    );
    // agents hold no approval permission: told nothing
    let alice = id_of(&app, "DEMO", "alice");
    let hers: i64 = notifications::table
        .filter(notifications::user_id.eq(alice))
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(hers, 0);
}

on_both_databases!(
    the_team_hears_who_joins_leaves_and_changes_role,
    approvals_reach_their_deciders_and_requesters,
);

fn mail_config(url: String) -> switchboard::config::MailConfig {
    switchboard::config::MailConfig {
        smtp_url: url,
        from: "Switchboard <panel@demo.example>".parse().unwrap(),
        public_url: Some("https://panel.demo.example".into()),
    }
}

/// With SMTP configured, each notification also goes out by e-mail, once, even when two
/// senders (two instances) run at the same moment; a mail server that refuses is tried again
/// later; nothing older than a day is sent.
async fn notifications_are_emailed_once_and_retried_later(app: TestApp) {
    use switchboard::domain::mail::{Mailer, Round};
    // the demo's own notifications are out of the way
    diesel::update(notifications::table)
        .set(notifications::emailed_at.eq(Some(app.clock().now())))
        .execute(&mut app.conn())
        .unwrap();
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    sofia.get("/users/new").await;
    let agent = role_id(&app, "DEMO", "Agent").to_string();
    sofia
        .post(
            "/users",
            &[
                ("username", "nora"),
                ("display_name", "Nora Quinn"),
                ("role_id", &agent),
                ("password", "Harbor-Lantern-42!"),
            ],
        )
        .await
        .assert_status(303);
    let nora = id_of(&app, "DEMO", "nora");
    // a day-old notification is not sent any more
    diesel::insert_into(notifications::table)
        .values((
            notifications::company_id.eq(crate::common::company_id(&app, "DEMO")),
            notifications::user_id.eq(id_of(&app, "DEMO", "sam")),
            notifications::kind.eq("user.create"),
            notifications::summary.eq("Old news"),
            notifications::created_at.eq(app.clock().now() - chrono::TimeDelta::hours(25)),
        ))
        .execute(&mut app.conn())
        .unwrap();
    // the mail server is down: tried, kept for later
    let down = Mailer::new(&mail_config(format!(
        "smtp://127.0.0.1:{}",
        crate::common::free_port()
    )))
    .unwrap();
    assert_eq!(
        down.deliver(&app.state.pool).await.unwrap(),
        Round { sent: 0, failed: 1 }
    );
    let sink = crate::common::SmtpSink::start();
    let up = Mailer::new(&mail_config(sink.url())).unwrap();
    let other_instance = Mailer::new(&mail_config(sink.url())).unwrap();
    assert_eq!(
        up.deliver(&app.state.pool).await.unwrap(),
        Round::default(),
        "not again at once"
    );
    app.clock().advance(chrono::TimeDelta::minutes(2));
    let (one, two) = futures_util::future::join(
        up.deliver(&app.state.pool),
        other_instance.deliver(&app.state.pool),
    )
    .await;
    assert_eq!(one.unwrap().sent + two.unwrap().sent, 1, "sent once");
    let received = sink.received();
    assert_eq!(received.len(), 1, "{received:?}");
    let mail = &received[0];
    assert_eq!(mail.to, ["sam@demo.example"]);
    assert!(
        mail.data.contains("Subject: Switchboard: Nora Quinn"),
        "{}",
        mail.data
    );
    assert!(
        mail.data
            .contains(&format!("https://panel.demo.example/users/{nora}")),
        "{}",
        mail.data
    );
    assert!(mail.data.contains("From: Switchboard <panel@demo.example>"));
    assert!(!mail.data.contains("Old news"));
    assert_eq!(
        up.deliver(&app.state.pool).await.unwrap(),
        Round::default(),
        "nothing twice"
    );
}

/// The real binary, configured by environment, e-mails what it tells the team: a supervisor
/// deactivates bob in the browser's way, and his team mates and the other supervisor receive
/// it from the SMTP server; the person who acted and the person concerned do not.
async fn the_running_panel_emails_notifications(backend: crate::common::Backend) {
    let sink = crate::common::SmtpSink::start();
    let server = crate::common::DemoServer::start(
        backend,
        &[
            ("SWITCHBOARD_SMTP_URL", &sink.url()),
            ("SWITCHBOARD_MAIL_FROM", "Switchboard <panel@demo.example>"),
        ],
    );
    let http = crate::common::http_client();
    assert_eq!(
        crate::common::http_sign_in(&http, &server.base, "sofia", crate::common::PASSWORD).await,
        303
    );
    let bob: i64 = {
        use switchboard::db::schema::users;
        users::table
            .filter(users::username.eq("bob"))
            .select(users::id)
            .first(&mut server.conn())
            .unwrap()
    };
    let page = crate::common::text_of(&http, format!("{}/users/{bob}", server.base)).await;
    let token = crate::common::meta_token(&page).unwrap();
    let answer = http
        .post(format!("{}/users/{bob}/deactivate", server.base))
        .form(&[("open_conversations", "queue"), ("csrf_token", &token)])
        .send()
        .await
        .unwrap();
    let status = answer.status();
    assert!(
        status.is_success() || status.is_redirection(),
        "{status}: {}",
        answer.text().await.unwrap_or_default()
    );
    for told in [
        "sam@demo.example",
        "alice@demo.example",
        "tina@demo.example",
    ] {
        let mail = sink
            .wait_for(told, "Bob Tanaka (@bob) was deactivated", 30)
            .unwrap_or_else(|| panic!("no e-mail to {told}: {:?}", sink.received()));
        assert!(
            mail.data.contains(&format!("In Switchboard: /users/{bob}")),
            "{}",
            mail.data
        );
    }
    let about_bob: Vec<_> = sink
        .received()
        .into_iter()
        .filter(|m| m.data.contains("Bob Tanaka (@bob) was deactivated"))
        .collect();
    assert_eq!(about_bob.len(), 3, "each told once: {about_bob:?}");
}

on_both_databases!(notifications_are_emailed_once_and_retried_later);
on_both_databases!(browser: the_running_panel_emails_notifications);

/// A channel taken out of service, and back: the supervisors and the people who work it hear
/// of it (bob and tina work Telegram), nobody else, never the person who did it.
async fn the_people_of_a_channel_hear_it_is_taken_out_of_service(app: TestApp) {
    let (telegram, _) = crate::common::channel(&app, "Telegram");
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    sofia.get(&format!("/channels/{telegram}")).await;
    sofia
        .post(&format!("/channels/{telegram}"), &[("name", "Telegram")])
        .await
        .assert_status(303);
    let members: Vec<String> = {
        use switchboard::db::schema::{channel_members, users};
        let mut names: Vec<String> = channel_members::table
            .inner_join(users::table.on(users::id.eq(channel_members::user_id)))
            .filter(channel_members::channel_id.eq(telegram))
            .select(users::username)
            .load(&mut app.conn())
            .unwrap();
        names.push("sam".into());
        names.retain(|name| name != "sofia");
        names.sort();
        names.dedup();
        names
    };
    assert!(members.contains(&"bob".to_string()), "{members:?}");
    assert_eq!(recipients(&app, "channel.disable"), members);
    assert!(
        sent(&app, "channel.disable")
            .iter()
            .all(|(_, summary)| summary == "channel Telegram was taken out of service")
    );
    // a rename alone tells nobody
    sofia
        .post(
            &format!("/channels/{telegram}"),
            &[("name", "Telegram Support")],
        )
        .await
        .assert_status(303);
    assert!(recipients(&app, "channel.enable").is_empty());
    sofia
        .post(
            &format!("/channels/{telegram}"),
            &[("name", "Telegram Support"), ("active", "on")],
        )
        .await
        .assert_status(303);
    assert_eq!(recipients(&app, "channel.enable"), members);
}

on_both_databases!(the_people_of_a_channel_hear_it_is_taken_out_of_service);
