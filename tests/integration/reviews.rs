//! Access reviews through the real App, on SQLite and on PostgreSQL: a snapshot of every
//! active user, decisions applied through the user pages' rules and recorded, nobody deciding
//! their own access, a note for keeping a dormant account, a closed review that never changes
//! and exports as evidence, what changed since the previous review, and quarterly reviews that
//! fall due, are told once and show as overdue.

use crate::common::on_both_databases;
use crate::common::{TestApp, channel_id, id_of, role_id};
use chrono::TimeDelta;
use diesel::prelude::*;
use switchboard::db::schema::{
    access_review_lines, audit_events, channel_members, companies, notifications, users,
};

fn lines(app: &TestApp, review: i64) -> Vec<(String, Option<String>, String)> {
    access_review_lines::table
        .inner_join(users::table.on(users::id.eq(access_review_lines::user_id)))
        .filter(access_review_lines::review_id.eq(review))
        .order(users::username)
        .select((
            users::username,
            access_review_lines::decision,
            access_review_lines::changes,
        ))
        .load(&mut app.conn())
        .unwrap()
}

fn review_id(location: Option<&str>) -> i64 {
    location
        .and_then(|l| l.strip_prefix("/access-reviews/"))
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("not a review: {location:?}"))
}

/// The rest of a `/users` row after the link to `user`.
fn row_of(page: &crate::common::Page, user: i64) -> String {
    page.body
        .split(&format!(r#"href="/users/{user}""#))
        .nth(1)
        .and_then(|rest| rest.split("</tr>").next())
        .unwrap_or_else(|| panic!("no row of user {user}"))
        .to_string()
}

async fn an_access_review_is_decided_user_by_user_and_kept_as_evidence(app: TestApp) {
    // bob has not signed in for 200 days
    let bob = id_of(&app, "DEMO", "bob");
    diesel::update(users::table.find(bob))
        .set(users::last_login_at.eq(Some(app.clock().now() - TimeDelta::days(200))))
        .execute(&mut app.conn())
        .unwrap();
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    sofia
        .get("/access-reviews")
        .await
        .assert_status(200)
        .assert_contains(r#"id="no-reviews""#);
    sofia
        .post("/access-reviews", &[("due_on", "next week")])
        .await
        .assert_status(422)
        .assert_contains("YYYY-MM-DD");
    let due = (app.clock().now().date() + TimeDelta::days(7)).to_string();
    let started = sofia.post("/access-reviews", &[("due_on", &due)]).await;
    started.assert_status(303);
    let review = review_id(started.location());
    sofia
        .post("/access-reviews", &[("due_on", &due)])
        .await
        .assert_status(409);
    // every active user, once; carl (deactivated) is not in it
    let seen = lines(&app, review);
    let names: Vec<&str> = seen.iter().map(|(u, _, _)| u.as_str()).collect();
    assert_eq!(names, ["alice", "bob", "dana", "sam", "sofia", "tina"]);
    assert!(
        seen.iter()
            .all(|(_, d, c)| d.is_none() && c == "first review")
    );
    let path = format!("/access-reviews/{review}");
    let page = sofia.get(&path).await;
    page.assert_status(200)
        .assert_contains("0 of 6")
        .assert_contains("dormant");
    // never one's own line
    let sofia_id = id_of(&app, "DEMO", "sofia");
    sofia
        .post(&format!("{path}/users/{sofia_id}"), &[("decision", "keep")])
        .await
        .assert_status(409);
    // keeping a dormant account needs a reason
    let bob_line = format!("{path}/users/{bob}");
    sofia
        .post(&bob_line, &[("decision", "keep")])
        .await
        .assert_status(422)
        .assert_contains("say why it keeps its access");
    sofia
        .post(
            &bob_line,
            &[
                ("decision", "keep"),
                ("note", "On parental leave until March"),
            ],
        )
        .await
        .assert_status(303);
    sofia
        .post(&bob_line, &[("decision", "revoke")])
        .await
        .assert_status(409);
    // a change applies at once: alice becomes an auditor
    let alice = id_of(&app, "DEMO", "alice");
    let auditor = role_id(&app, "DEMO", "Auditor").to_string();
    sofia
        .post(
            &format!("{path}/users/{alice}"),
            &[("decision", "change"), ("role_id", &auditor)],
        )
        .await
        .assert_status(303);
    let alice_role: i64 = users::table
        .find(alice)
        .select(users::role_id)
        .first(&mut app.conn())
        .unwrap();
    assert_eq!(alice_role.to_string(), auditor);
    // a revocation deactivates
    let dana = id_of(&app, "DEMO", "dana");
    sofia
        .post(&format!("{path}/users/{dana}"), &[("decision", "revoke")])
        .await
        .assert_status(303);
    let dana_status: String = users::table
        .find(dana)
        .select(users::status)
        .first(&mut app.conn())
        .unwrap();
    assert_eq!(dana_status, "deactivated");
    // not closed while anyone waits
    sofia
        .post(&format!("{path}/close"), &[])
        .await
        .assert_status(409)
        .assert_contains("3 users still wait");
    // sam decides sofia, and tina's channels: Telegram only
    let mut sam = app.signed_in("DEMO", "sam").await;
    sam.get(&path).await;
    sam.post(&format!("{path}/users/{sofia_id}"), &[("decision", "keep")])
        .await
        .assert_status(303);
    let tina = id_of(&app, "DEMO", "tina");
    let telegram = channel_id(&app, "Telegram");
    sam.post(
        &format!("{path}/users/{tina}"),
        &[
            ("decision", "change"),
            ("channel_ids", &telegram.to_string()),
        ],
    )
    .await
    .assert_status(303);
    let tinas: Vec<i64> = channel_members::table
        .filter(channel_members::user_id.eq(tina))
        .select(channel_members::channel_id)
        .load(&mut app.conn())
        .unwrap();
    assert_eq!(tinas, [telegram]);
    let sam_id = id_of(&app, "DEMO", "sam");
    sofia
        .post(&format!("{path}/users/{sam_id}"), &[("decision", "keep")])
        .await
        .assert_status(303);
    sofia
        .post(&format!("{path}/close"), &[])
        .await
        .assert_status(303);
    sofia
        .post(&format!("{path}/close"), &[])
        .await
        .assert_status(409);
    // every decision is recorded with its note
    let decided = crate::common::audit_summaries(&app, "access_review.decide");
    assert_eq!(decided.len(), 6, "{decided:?}");
    assert!(
        decided
            .iter()
            .any(|s| s.contains("bob kept; note: On parental leave until March")),
        "{decided:?}"
    );
    // the evidence: one row per user, as decided; the export is recorded
    let csv = sofia
        .get(&format!("/exports/access-reviews/{review}.csv"))
        .await;
    csv.assert_status(200);
    let rows: Vec<csv::StringRecord> = csv::Reader::from_reader(csv.body.as_bytes())
        .records()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(rows.len(), 6);
    let bob_row = rows.iter().find(|r| &r[2] == "bob").unwrap();
    assert_eq!((&bob_row[9], &bob_row[11]), ("true", "keep"));
    assert_eq!(&bob_row[12], "On parental leave until March");
    assert!(!crate::common::audit_summaries(&app, "export.create").is_empty());
    // the next review says what changed since this one
    let started = sofia.post("/access-reviews", &[("due_on", &due)]).await;
    let next = review_id(started.location());
    let changes: Vec<(String, String)> = lines(&app, next)
        .into_iter()
        .map(|(u, _, c)| (u, c))
        .collect();
    assert!(
        changes.contains(&("alice".into(), "role Agent → Auditor; permissions added: activity.view, logins.view; permissions removed: conversations.close, conversations.reply, conversations.view_assigned; channels removed: Instagram, WhatsApp Sales".into()))
            || changes
                .iter()
                .any(|(u, c)| u == "alice" && c.starts_with("role Agent → Auditor")),
        "{changes:?}"
    );
    assert!(
        changes.contains(&("bob".into(), "unchanged".into())),
        "{changes:?}"
    );
    assert!(
        !changes.iter().any(|(u, _)| u == "dana"),
        "revoked: not reviewed again"
    );
    // another company cannot see it; an agent cannot run reviews
    let mut olga = app.signed_in("ACME", "olga").await;
    olga.get(&path).await.assert_status(404);
    olga.get(&format!("/exports/access-reviews/{review}.csv"))
        .await
        .assert_status(404);
    let mut bob_client = app.signed_in("DEMO", "bob").await;
    bob_client.get("/access-reviews").await.assert_status(403);
}

async fn quarterly_reviews_fall_due_and_are_told_once(app: TestApp) {
    let tell = |app: &TestApp| -> usize {
        switchboard::db::write_transaction(&mut app.conn(), |conn| {
            switchboard::domain::reviews::tell_due(conn, app.clock().now())
        })
        .unwrap()
    };
    let told = |app: &TestApp| -> Vec<i64> {
        notifications::table
            .filter(notifications::kind.eq("access_review.due"))
            .order(notifications::user_id)
            .select(notifications::user_id)
            .load(&mut app.conn())
            .unwrap()
    };
    assert_eq!(tell(&app), 0, "off by default");
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    diesel::update(companies::table.filter(companies::code.eq("DEMO")))
        .set((
            companies::reviews_quarterly.eq(true),
            companies::review_every_days.eq(30),
        ))
        .execute(&mut app.conn())
        .unwrap();
    assert_eq!(tell(&app), 0, "not due for 30 days");
    sofia
        .get("/access-reviews")
        .await
        .assert_contains(r#"id="review-due""#)
        .assert_lacks(r#"id="review-overdue""#);
    app.clock().advance(TimeDelta::days(31));
    assert_eq!(tell(&app), 1);
    let (sofia_id, sam_id) = (id_of(&app, "DEMO", "sofia"), id_of(&app, "DEMO", "sam"));
    let mut expected = vec![sofia_id, sam_id];
    expected.sort();
    assert_eq!(told(&app), expected, "the holders of reviews.run, once");
    assert_eq!(tell(&app), 0);
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    sofia
        .get("/access-reviews")
        .await
        .assert_contains(r#"id="review-overdue""#);
    sofia
        .get("/users")
        .await
        .assert_contains(r#"id="review-overdue""#);
    // an agent sees no banner
    let mut alice = app.signed_in("DEMO", "alice").await;
    alice
        .get("/conversations")
        .await
        .assert_lacks("review-overdue");
    // a review done: the next is 30 days after it closed
    let due = app.clock().now().date().to_string();
    let started = sofia.post("/access-reviews", &[("due_on", &due)]).await;
    let review = review_id(started.location());
    let mut sam = app.signed_in("DEMO", "sam").await;
    for (username, by_sofia) in [
        ("alice", true),
        ("bob", false),
        ("dana", false),
        ("sam", true),
        ("sofia", false),
        ("tina", false),
    ] {
        let user = id_of(&app, "DEMO", username);
        let decider = if by_sofia { &mut sofia } else { &mut sam };
        decider.get(&format!("/access-reviews/{review}")).await;
        decider
            .post(
                &format!("/access-reviews/{review}/users/{user}"),
                &[("decision", "keep"), ("note", "Checked with their lead")],
            )
            .await
            .assert_status(303);
    }
    sofia
        .post(&format!("/access-reviews/{review}/close"), &[])
        .await
        .assert_status(303);
    sofia
        .get("/users")
        .await
        .assert_lacks(r#"id="review-overdue""#);
    let next = switchboard::db::write_transaction(&mut app.conn(), |conn| {
        switchboard::domain::reviews::next_due(conn, crate::common::company_id(&app, "DEMO"))
    })
    .unwrap();
    assert_eq!(next, Some(app.clock().now().date() + TimeDelta::days(30)));
}

on_both_databases!(
    an_access_review_is_decided_user_by_user_and_kept_as_evidence,
    quarterly_reviews_fall_due_and_are_told_once,
);

/// Dormant accounts are flagged on `/users` and can be listed alone: active, and no sign-in
/// for the company's dormant period (a never-used account counts from its creation).
async fn dormant_accounts_are_flagged_on_the_user_list(app: TestApp) {
    let bob = id_of(&app, "DEMO", "bob");
    diesel::update(users::table.find(bob))
        .set(users::last_login_at.eq(Some(app.clock().now() - TimeDelta::days(91))))
        .execute(&mut app.conn())
        .unwrap();
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    let dormant = sofia.get("/users?status=dormant").await;
    dormant.assert_status(200);
    assert!(dormant.body.contains(&format!(r#"href="/users/{bob}""#)));
    let sofia_id = id_of(&app, "DEMO", "sofia");
    assert!(
        !dormant
            .body
            .contains(&format!(r#"href="/users/{sofia_id}""#))
    );
    // 120 days as the company's period: bob is no longer dormant
    diesel::update(companies::table.filter(companies::code.eq("DEMO")))
        .set(companies::dormant_after_days.eq(120))
        .execute(&mut app.conn())
        .unwrap();
    let list = sofia.get("/users?status=dormant").await;
    assert!(!list.body.contains(&format!(r#"href="/users/{bob}""#)));
    // a month later he is
    app.clock().advance(TimeDelta::days(30));
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    let all = sofia.get("/users").await;
    let row = row_of(&all, bob);
    assert!(row.contains("status-dormant"), "{row}");
}

on_both_databases!(dormant_accounts_are_flagged_on_the_user_list);

/// Where the company asks for it, dormant accounts are deactivated by the system, their
/// conversations back to the queue — but never the last supervisor.
async fn dormant_accounts_are_deactivated_where_the_company_asks(app: TestApp) {
    let deactivate = |app: &TestApp| -> usize {
        switchboard::domain::reviews::deactivate_dormant(&mut app.conn(), app.clock().now())
            .unwrap()
    };
    let long_ago = app.clock().now() - TimeDelta::days(200);
    // bob and both supervisors have not signed in for 200 days
    let (bob, sam, sofia) = (
        id_of(&app, "DEMO", "bob"),
        id_of(&app, "DEMO", "sam"),
        id_of(&app, "DEMO", "sofia"),
    );
    diesel::update(users::table.filter(users::id.eq_any([bob, sam, sofia])))
        .set(users::last_login_at.eq(Some(long_ago)))
        .execute(&mut app.conn())
        .unwrap();
    let status = |app: &TestApp, id: i64| -> String {
        users::table
            .find(id)
            .select(users::status)
            .first(&mut app.conn())
            .unwrap()
    };
    assert_eq!(deactivate(&app), 0, "off by default");
    diesel::update(companies::table.filter(companies::code.eq("DEMO")))
        .set(companies::deactivate_dormant.eq(true))
        .execute(&mut app.conn())
        .unwrap();
    // the others' accounts are recent: only bob, sam, and not sofia (the last supervisor)
    assert_eq!(deactivate(&app), 2);
    assert_eq!(status(&app, bob), "deactivated");
    assert_eq!(status(&app, sam), "deactivated");
    assert_eq!(status(&app, sofia), "active", "the last supervisor stays");
    let bobs_open: i64 = switchboard::db::schema::conversations::table
        .filter(switchboard::db::schema::conversations::assignee_id.eq(bob))
        .filter(switchboard::db::schema::conversations::status.eq("open"))
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(bobs_open, 0, "his customers went back to the queue");
    let recorded = crate::common::audit_summaries(&app, "user.dormant");
    assert_eq!(recorded.len(), 2, "{recorded:?}");
    assert!(
        recorded[0].contains("no sign-in for 90 days"),
        "{recorded:?}"
    );
    let by: Vec<Option<i64>> = audit_events::table
        .filter(audit_events::action.eq("user.dormant"))
        .select(audit_events::actor_id)
        .load(&mut app.conn())
        .unwrap();
    assert!(by.iter().all(Option::is_none), "recorded as the system");
    assert_eq!(deactivate(&app), 0, "once");
}

on_both_databases!(dormant_accounts_are_deactivated_where_the_company_asks);

/// A supervisor makes everyone, or one role, change their password at next sign-in — at once
/// for those signed in — confirmed and recorded with the counts; herself and anyone she may
/// not act on are skipped; `/users` shows who has not changed yet.
async fn a_supervisor_requires_a_password_change(app: TestApp) {
    let must_change = |app: &TestApp| -> Vec<String> {
        users::table
            .filter(users::must_change_password.eq(true))
            .filter(users::company_id.eq(crate::common::company_id(app, "DEMO")))
            .order(users::username)
            .select(users::username)
            .load(&mut app.conn())
            .unwrap()
    };
    let mut alice = app.signed_in("DEMO", "alice").await;
    alice.get("/conversations").await.assert_status(200);
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    sofia
        .get("/users/require-password-change")
        .await
        .assert_status(200)
        .assert_contains(r#"id="rotation-form""#);
    let agent = role_id(&app, "DEMO", "Agent").to_string();
    sofia
        .post("/users/require-password-change", &[("role_id", &agent)])
        .await
        .assert_status(422)
        .assert_contains("Tick the box to confirm");
    sofia
        .post(
            "/users/require-password-change",
            &[("role_id", "999999"), ("confirm", "yes")],
        )
        .await
        .assert_status(422);
    assert!(must_change(&app).is_empty(), "nothing changed");
    sofia
        .post(
            "/users/require-password-change",
            &[("role_id", &agent), ("confirm", "yes")],
        )
        .await
        .assert_status(303);
    // the active agents; carl (deactivated) is left alone
    assert_eq!(must_change(&app), ["alice", "bob"]);
    let recorded = crate::common::audit_summaries(&app, "user.require_password_change");
    assert!(
        recorded[0].contains("every Agent must change their password"),
        "{recorded:?}"
    );
    assert!(recorded[0].contains("2 asked, 0 skipped"), "{recorded:?}");
    // alice, signed in, is sent to change it before anything else
    let page = alice.get("/conversations").await;
    assert_ne!(page.status.as_u16(), 200);
    let list = sofia.get("/users").await;
    let bob = id_of(&app, "DEMO", "bob");
    let row = row_of(&list, bob);
    assert!(row.contains("must change password"), "{row}");
    // everyone: but sofia herself
    sofia.get("/users/require-password-change").await;
    sofia
        .post("/users/require-password-change", &[("confirm", "yes")])
        .await
        .assert_status(303);
    assert_eq!(must_change(&app), ["alice", "bob", "dana", "sam", "tina"]);
    let recorded = crate::common::audit_summaries(&app, "user.require_password_change");
    assert!(recorded[1].contains("5 asked, 1 skipped"), "{recorded:?}");
    // a team lead reaches her team only: the others are skipped and counted
    diesel::update(
        users::table.filter(users::company_id.eq(crate::common::company_id(&app, "DEMO"))),
    )
    .set(users::must_change_password.eq(false))
    .execute(&mut app.conn())
    .unwrap();
    app.wait_for_change_elsewhere();
    let mut tina = app.signed_in("DEMO", "tina").await;
    tina.get("/users/require-password-change")
        .await
        .assert_status(200);
    tina.post("/users/require-password-change", &[("confirm", "yes")])
        .await
        .assert_status(303);
    assert!(
        must_change(&app).is_empty(),
        "nobody belongs only to Support"
    );
    let recorded = crate::common::audit_summaries(&app, "user.require_password_change");
    assert!(recorded[2].contains("0 asked, 6 skipped"), "{recorded:?}");
}

on_both_databases!(a_supervisor_requires_a_password_change);

/// dana, signed in with a role that sees every conversation, contact details masked, and may
/// answer data-subject requests.
async fn privacy_officer(app: &TestApp) -> crate::common::Client {
    crate::common::give_role(
        app,
        "dana",
        "Privacy officer",
        &[
            switchboard::core::permissions::Permission::PrivacyManage,
            switchboard::core::permissions::Permission::ConversationsViewAll,
        ],
    );
    app.signed_in("DEMO", "dana").await
}

/// A data-subject export holds everything about one customer, masked for a holder without
/// `contacts.view_unmasked`, recorded by contact id; another company's contact is a 404 and an
/// agent may not ask.
async fn a_customers_data_is_exported_on_request(app: TestApp) {
    use switchboard::db::schema::{contacts, conversations, messages};
    let (contact, phone): (i64, Option<String>) = contacts::table
        .inner_join(conversations::table.on(conversations::contact_id.eq(contacts::id)))
        .filter(contacts::company_id.eq(crate::common::company_id(&app, "DEMO")))
        .filter(contacts::phone.is_not_null())
        .order(contacts::id)
        .select((contacts::id, contacts::phone))
        .first(&mut app.conn())
        .unwrap();
    let phone = phone.unwrap();
    let held: i64 = messages::table
        .inner_join(conversations::table)
        .filter(conversations::contact_id.eq(contact))
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    let path = format!("/contacts/{contact}/export");
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    let export = sofia.get(&path).await;
    export.assert_status(200);
    assert!(
        export
            .header("content-disposition")
            .is_some_and(|d| d.contains(&format!("contact-{contact}.json")))
    );
    let document: serde_json::Value = serde_json::from_str(&export.body).unwrap();
    assert_eq!(document["contact"]["phone"], phone.as_str());
    assert_eq!(document["masked"], false);
    let exported: usize = document["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["messages"].as_array().unwrap().len())
        .sum();
    assert_eq!(exported as i64, held, "every message");
    // times in UTC, to the second, as ISO 8601 with a Z
    let created: chrono::NaiveDateTime = contacts::table
        .find(contact)
        .select(contacts::created_at)
        .first(&mut app.conn())
        .unwrap();
    assert_eq!(
        document["contact"]["created_at"],
        created.format("%Y-%m-%dT%H:%M:%SZ").to_string()
    );
    let first_message: chrono::NaiveDateTime = messages::table
        .inner_join(conversations::table)
        .filter(conversations::contact_id.eq(contact))
        .order((messages::conversation_id, messages::id))
        .select(messages::created_at)
        .first(&mut app.conn())
        .unwrap();
    assert_eq!(
        document["conversations"][0]["messages"][0]["at"],
        first_message.format("%Y-%m-%dT%H:%M:%SZ").to_string()
    );
    let recorded = crate::common::audit_summaries(&app, "contact.export");
    assert!(
        recorded[0].contains(&format!("contact {contact} (unmasked)")),
        "{recorded:?}"
    );
    assert!(
        !recorded[0].contains(&phone),
        "the record names the contact by id only"
    );
    // a privacy officer who does not see full details gets them masked
    let mut dana = privacy_officer(&app).await;
    let masked = dana.get(&path).await;
    masked.assert_status(200).assert_lacks(&phone);
    let document: serde_json::Value = serde_json::from_str(&masked.body).unwrap();
    assert_eq!(document["masked"], true);
    assert!(crate::common::audit_summaries(&app, "contact.export")[1].contains("(masked)"));
    // a conversation under a label dana's role may not see: no export by her, not a partial one
    let conversation: i64 = conversations::table
        .filter(conversations::contact_id.eq(contact))
        .select(conversations::id)
        .first(&mut app.conn())
        .unwrap();
    sofia.get(&format!("/conversations/{conversation}")).await;
    sofia
        .post(
            &format!("/conversations/{conversation}/labels"),
            &[("label", "VIP")],
        )
        .await
        .assert_status(303);
    dana.get(&path)
        .await
        .assert_status(409)
        .assert_contains("outside what you may see")
        .assert_lacks(&phone);
    assert_eq!(
        crate::common::audit_summaries(&app, "contact.export").len(),
        2,
        "nothing recorded"
    );
    // without any conversation right, nothing of a customer is hers to export
    crate::common::give_role(
        &app,
        "dana",
        "Privacy only",
        &[switchboard::core::permissions::Permission::PrivacyManage],
    );
    let mut dana = app.signed_in("DEMO", "dana").await;
    dana.get(&path).await.assert_status(409);
    // not another company's, not an agent's
    let mut olga = app.signed_in("ACME", "olga").await;
    olga.get(&path).await.assert_status(404);
    let mut alice = app.signed_in("DEMO", "alice").await;
    alice.get(&path).await.assert_status(403);
}

on_both_databases!(a_customers_data_is_exported_on_request);

/// Erasure: confirmed by typing the masked phone, refused while a conversation is on legal
/// hold, then the customer's details and message text are gone from every page and search,
/// the conversations and counts stay, and the activity log still verifies.
async fn a_customers_data_is_erased_on_request(app: TestApp) {
    use switchboard::db::schema::{contacts, conversations, messages};
    let company = crate::common::company_id(&app, "DEMO");
    let (contact, phone, conversation): (i64, Option<String>, i64) = contacts::table
        .inner_join(conversations::table.on(conversations::contact_id.eq(contacts::id)))
        .filter(contacts::company_id.eq(company))
        .filter(contacts::phone.is_not_null())
        .order(contacts::id)
        .select((contacts::id, contacts::phone, conversations::id))
        .first(&mut app.conn())
        .unwrap();
    let phone = phone.unwrap();
    let name_before: String = contacts::table
        .find(contact)
        .select(contacts::name)
        .first(&mut app.conn())
        .unwrap();
    let first_text: String = messages::table
        .filter(messages::conversation_id.eq(conversation))
        .order(messages::id)
        .select(messages::body)
        .first(&mut app.conn())
        .unwrap();
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    // before: the supervisor's export of every conversation holds the number (so its absence
    // afterwards means something)
    sofia
        .get("/exports/conversations.csv")
        .await
        .assert_status(200)
        .assert_contains(&phone);
    let form = sofia.get(&format!("/contacts/{contact}/erase")).await;
    form.assert_status(200);
    let masked = switchboard::core::masking::mask_phone(&phone);
    form.assert_contains(&masked).assert_lacks(&phone);
    let path = format!("/contacts/{contact}/erase");
    sofia
        .post(&path, &[("confirm", "yes")])
        .await
        .assert_status(422)
        .assert_contains("cannot be undone");
    // the conversation's contact card links here, for holders of privacy.manage only
    sofia
        .get(&format!("/conversations/{conversation}"))
        .await
        .assert_contains(&format!(r#"href="/contacts/{contact}/erase""#))
        .assert_contains(&format!(r#"href="/contacts/{contact}/export""#));
    crate::common::give_role(
        &app,
        "dana",
        "Reader",
        &[switchboard::core::permissions::Permission::ConversationsViewAll],
    );
    let mut dana = app.signed_in("DEMO", "dana").await;
    dana.get(&format!("/conversations/{conversation}"))
        .await
        .assert_status(200)
        .assert_lacks(r#"id="data-subject""#);
    // a privacy officer who may not see one of the customer's conversations may not erase
    let mut dana = privacy_officer(&app).await;
    sofia.get(&format!("/conversations/{conversation}")).await;
    sofia
        .post(
            &format!("/conversations/{conversation}/labels"),
            &[("label", "VIP")],
        )
        .await
        .assert_status(303);
    dana.get(&path)
        .await
        .assert_status(409)
        .assert_contains("outside what you may see")
        .assert_lacks(&masked);
    dana.post(&path, &[("confirm", &masked)])
        .await
        .assert_status(409)
        .assert_contains("outside what you may see");
    let still: Option<String> = contacts::table
        .find(contact)
        .select(contacts::phone)
        .first(&mut app.conn())
        .unwrap();
    assert_eq!(still.as_deref(), Some(phone.as_str()), "nothing erased");
    sofia
        .post(
            &format!("/conversations/{conversation}/labels/remove"),
            &[("label", "VIP")],
        )
        .await
        .assert_status(303);
    // on legal hold: refused
    sofia.get("/labels").await;
    sofia
        .post("/labels", &[("name", "Litigation"), ("legal_hold", "on")])
        .await
        .assert_status(303);
    sofia.get(&format!("/conversations/{conversation}")).await;
    sofia
        .post(
            &format!("/conversations/{conversation}/labels"),
            &[("label", "Litigation")],
        )
        .await
        .assert_status(303);
    sofia
        .post(&path, &[("confirm", &masked)])
        .await
        .assert_status(409)
        .assert_contains("legal hold");
    // the hold lifted, it goes through
    sofia
        .post("/labels", &[("name", "Litigation")])
        .await
        .assert_status(303);
    let conversations_before: i64 = conversations::table
        .filter(conversations::contact_id.eq(contact))
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    sofia
        .post(&path, &[("confirm", &masked)])
        .await
        .assert_status(303);
    let (name, stored_phone, email): (String, Option<String>, Option<String>) = contacts::table
        .find(contact)
        .select((contacts::name, contacts::phone, contacts::email))
        .first(&mut app.conn())
        .unwrap();
    assert_eq!(name, format!("Erased contact {contact}"));
    assert_eq!((stored_phone, email), (None, None));
    let texts: Vec<String> = messages::table
        .inner_join(conversations::table)
        .filter(conversations::contact_id.eq(contact))
        .select(messages::body)
        .load(&mut app.conn())
        .unwrap();
    assert!(!texts.is_empty() && texts.iter().all(|t| t == "[erased]"));
    let conversations_after: i64 = conversations::table
        .filter(conversations::contact_id.eq(contact))
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(conversations_after, conversations_before, "counts stay");
    // gone from the conversation page and from search
    let page = sofia.get(&format!("/conversations/{conversation}")).await;
    page.assert_status(200)
        .assert_lacks(&phone)
        .assert_contains(&format!("Erased contact {contact}"));
    // and from every list and export a supervisor (who sees details in full) opens
    let namesakes: i64 = contacts::table
        .filter(contacts::name.eq(&name_before))
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    let erased_export = format!("/contacts/{contact}/export");
    for path in [
        "/conversations?status=all",
        "/exports/conversations.csv",
        "/calls",
        erased_export.as_str(),
    ] {
        let shown = sofia.get(path).await;
        shown.assert_status(200).assert_lacks(&phone);
        if namesakes == 0 {
            shown.assert_lacks(&name_before);
        }
    }
    let word = first_text
        .split_whitespace()
        .find(|w| w.len() >= 6 && w.chars().all(char::is_alphabetic))
        .map(str::to_string);
    if let Some(word) = word {
        let found = sofia
            .get(&format!("/conversations?q={word}&status=all"))
            .await;
        assert!(
            !found
                .body
                .contains(&format!("/conversations/{conversation}\"")),
            "still found by {word}"
        );
    }
    let recorded = crate::common::audit_summaries(&app, "contact.erase");
    assert!(
        recorded[0].contains(&format!("contact {contact} erased")),
        "{recorded:?}"
    );
    match switchboard::domain::audit::verify(&mut app.conn(), company).unwrap() {
        switchboard::domain::audit::Verification::Intact { .. } => {}
        broken => panic!("the activity log no longer verifies: {broken:?}"),
    }
    // an agent may not
    let mut alice = app.signed_in("DEMO", "alice").await;
    alice.get(&path).await.assert_status(403);
}

on_both_databases!(a_customers_data_is_erased_on_request);
