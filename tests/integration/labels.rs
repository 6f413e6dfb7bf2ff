//! Labels as records through the real App, on SQLite and on PostgreSQL: display case kept,
//! names compared without it, and restricted labels — a conversation carrying one is visible
//! only to the roles it is limited to, on every page, search, export, report and live update,
//! and only they add or remove it.

use crate::common::on_both_databases;
use crate::common::{Page, TestApp, give_role, role_id};
use diesel::prelude::*;
use switchboard::core::permissions::Permission;
use switchboard::db::schema::{audit_events, contacts, conversation_labels, conversations, labels};

/// (conversation id, contact name) of the conversations carrying a label (by its key).
fn labelled(app: &TestApp, key: &str) -> Vec<(i64, String)> {
    conversation_labels::table
        .inner_join(conversations::table.inner_join(contacts::table))
        .filter(conversation_labels::label.eq(key))
        .order(conversations::id)
        .select((conversations::id, contacts::name))
        .load(&mut app.conn())
        .unwrap()
}

fn figure(page: &Page, id: &str) -> i64 {
    let start = page.body.find(&format!(r#"id="{id}">"#)).unwrap() + id.len() + 6;
    page.body[start..]
        .split('<')
        .next()
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

fn label_count(app: &TestApp, key: &str) -> i64 {
    conversation_labels::table
        .filter(conversation_labels::label.eq(key))
        .count()
        .get_result(&mut app.conn())
        .unwrap()
}

/// The demo's VIP label (Supervisors only): someone who sees every conversation of the
/// company by role still never sees, finds, counts, exports or opens those two — until the
/// label is opened to their role.
async fn a_restricted_label_hides_its_conversations_everywhere(app: TestApp) {
    let vip = labelled(&app, "vip");
    assert_eq!(vip.len(), 2, "the demo's VIP conversations");
    give_role(
        &app,
        "dana",
        "Overseer",
        &[
            Permission::ConversationsViewAll,
            Permission::ExportsCreate,
            Permission::ReportsView,
        ],
    );
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    let mut dana = app.signed_in("DEMO", "dana").await;
    sofia
        .get(&format!("/conversations/{}", vip[0].0))
        .await
        .assert_status(200)
        .assert_contains("VIP ×");
    let list = dana.get("/conversations?status=all").await;
    let csv = dana.get("/exports/conversations.csv?status=all").await;
    csv.assert_status(200);
    for (id, name) in &vip {
        list.assert_lacks(&format!(r#"href="/conversations/{id}""#));
        dana.get(&format!("/conversations/{id}"))
            .await
            .assert_status(404);
        dana.get(&format!("/conversations/{id}/live"))
            .await
            .assert_lacks(name);
        let first = name.split(' ').next().unwrap();
        dana.get(&format!("/conversations?status=all&q={first}"))
            .await
            .assert_lacks(&format!(r#"href="/conversations/{id}""#));
        assert!(
            !csv.body.lines().any(|l| l.starts_with(&format!("{id},"))),
            "exported {id}"
        );
    }
    // dana's report counts two conversations fewer than a supervisor's, and no VIP label
    let theirs = dana.get("/reports?range=30d").await;
    let whole = sofia.get("/reports?range=30d").await;
    assert_eq!(
        figure(&whole, "total-opened") - figure(&theirs, "total-opened"),
        2
    );
    theirs.assert_lacks(">VIP<");
    whole.assert_contains(">VIP<");

    // opened to her role, they are hers to see
    let (supervisor, overseer) = (
        role_id(&app, "DEMO", "Supervisor").to_string(),
        role_id(&app, "DEMO", "Overseer").to_string(),
    );
    sofia.get("/labels").await.assert_status(200);
    sofia
        .post(
            "/labels",
            &[
                ("name", "vip"),
                ("restricted_role_ids", &supervisor),
                ("restricted_role_ids", &overseer),
            ],
        )
        .await
        .assert_status(303);
    dana.get(&format!("/conversations/{}", vip[0].0))
        .await
        .assert_status(200);
    let said: Vec<String> = audit_events::table
        .filter(audit_events::action.eq("label.restrict"))
        .order(audit_events::id)
        .select(audit_events::summary)
        .load(&mut app.conn())
        .unwrap();
    assert_eq!(
        said.last().unwrap(),
        "label VIP: visible to Supervisor → Overseer, Supervisor"
    );
}

/// Only the roles a label is limited to add or remove it; labels keep the case first written
/// and compare without it.
async fn only_its_roles_add_or_remove_a_restricted_label(app: TestApp) {
    let mut alice = app.signed_in("DEMO", "alice").await;
    let alice_id = crate::common::id_of(&app, "DEMO", "alice");
    let mine: i64 = conversations::table
        .filter(conversations::assignee_id.eq(alice_id))
        .order(conversations::id)
        .select(conversations::id)
        .first(&mut app.conn())
        .unwrap();
    alice
        .get(&format!("/conversations/{mine}"))
        .await
        .assert_status(200);
    let before = label_count(&app, "vip");
    alice
        .post(
            &format!("/conversations/{mine}/labels"),
            &[("label", "vip")],
        )
        .await
        .assert_status(403);
    assert_eq!(label_count(&app, "vip"), before, "nothing added");
    // a label of her own keeps its case; the same in other case is the same label
    alice
        .post(
            &format!("/conversations/{mine}/labels"),
            &[("label", "Priority")],
        )
        .await
        .assert_status(303);
    alice
        .post(
            &format!("/conversations/{mine}/labels"),
            &[("label", "PRIORITY")],
        )
        .await
        .assert_status(303);
    assert_eq!(label_count(&app, "priority"), 1);
    alice
        .get(&format!("/conversations/{mine}"))
        .await
        .assert_contains("Priority ×")
        .assert_lacks("PRIORITY");
    let stored: Vec<String> = labels::table
        .filter(labels::key.eq("priority"))
        .select(labels::name)
        .load(&mut app.conn())
        .unwrap();
    assert_eq!(stored, ["Priority"]);

    // a supervisor marks her conversation VIP: it leaves her view, and she cannot take it off
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    sofia.get(&format!("/conversations/{mine}")).await;
    sofia
        .post(
            &format!("/conversations/{mine}/labels"),
            &[("label", "Vip")],
        )
        .await
        .assert_status(303);
    alice
        .get(&format!("/conversations/{mine}"))
        .await
        .assert_status(404);
    alice
        .post(
            &format!("/conversations/{mine}/labels/remove"),
            &[("label", "VIP")],
        )
        .await
        .assert_status(404);
    // and a label she may use but not see the conversation of stays out of reach too
    sofia
        .post(
            &format!("/conversations/{mine}/labels/remove"),
            &[("label", "vip")],
        )
        .await
        .assert_status(303);
    alice
        .get(&format!("/conversations/{mine}"))
        .await
        .assert_status(200);
}

/// The labels page: names checked (422, nothing saved), roles of this company only, a
/// restriction lifted only by the roles it holds; refused to those without settings.manage.
async fn the_labels_page_validates_and_guards_restrictions(app: TestApp) {
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    sofia
        .get("/labels")
        .await
        .assert_status(200)
        .assert_contains("VIP")
        .assert_contains("restricted");
    let count = || -> i64 { labels::table.count().get_result(&mut app.conn()).unwrap() };
    let before = count();
    sofia
        .post("/labels", &[("name", "call +90 532 111 2233")])
        .await
        .assert_status(422);
    sofia
        .post("/labels", &[("name", "")])
        .await
        .assert_status(422)
        .assert_contains("A label is 1 to 30 letters");
    let foreign = role_id(&app, "ACME", "Supervisor").to_string();
    sofia
        .post(
            "/labels",
            &[("name", "Legal"), ("restricted_role_ids", &foreign)],
        )
        .await
        .assert_status(422)
        .assert_contains("Choose roles of this company only.");
    assert_eq!(count(), before, "nothing saved");
    sofia
        .post("/labels", &[("name", "Legal")])
        .await
        .assert_status(303);
    assert_eq!(count(), before + 1);

    // a settings manager outside the VIP roles cannot lift its restriction
    give_role(&app, "dana", "Settings", &[Permission::SettingsManage]);
    let mut dana = app.signed_in("DEMO", "dana").await;
    dana.get("/labels").await.assert_status(200);
    dana.post("/labels", &[("name", "VIP")])
        .await
        .assert_status(403);
    assert_eq!(label_count(&app, "vip"), 2);
    let restricted: i64 = switchboard::db::schema::label_roles::table
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(restricted, 1, "still Supervisor only");
    let mut alice = app.signed_in("DEMO", "alice").await;
    alice.get("/labels").await.assert_status(403);
}

on_both_databases!(
    a_restricted_label_hides_its_conversations_everywhere,
    only_its_roles_add_or_remove_a_restricted_label,
    the_labels_page_validates_and_guards_restrictions,
);

/// A database from before labels were records gains one record per free-text label, every
/// labelled conversation pointing at it (and the migration can be reverted).
async fn free_text_labels_become_records(app: TestApp) {
    let company = crate::common::company_id(&app, "DEMO");
    let mut conn = app.conn();
    // back to just before labels became records
    loop {
        let reverted = switchboard::db::revert_last_migration(&mut conn).unwrap();
        if reverted.contains("000015") {
            break;
        }
    }
    let some: Vec<i64> = conversations::table
        .filter(conversations::company_id.eq(company))
        .order(conversations::id)
        .limit(3)
        .select(conversations::id)
        .load(&mut conn)
        .unwrap();
    // the old table: conversation, company, lowercase label
    diesel::sql_query("DELETE FROM conversation_labels")
        .execute(&mut conn)
        .unwrap();
    for (id, label) in [
        (some[0], "urgent"),
        (some[1], "urgent"),
        (some[2], "refund"),
    ] {
        diesel::sql_query(format!(
            "INSERT INTO conversation_labels (conversation_id, company_id, label) VALUES ({id}, {}, '{label}')",
            company.0
        ))
        .execute(&mut conn)
        .unwrap();
    }
    switchboard::db::migrate(&mut conn).unwrap();
    let records: Vec<(String, String)> = labels::table
        .order(labels::key)
        .select((labels::name, labels::key))
        .load(&mut conn)
        .unwrap();
    assert_eq!(
        records,
        [
            ("refund".to_string(), "refund".to_string()),
            ("urgent".to_string(), "urgent".to_string())
        ]
    );
    let unlinked: i64 = conversation_labels::table
        .filter(conversation_labels::label_id.is_null())
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(unlinked, 0);
    drop(conn);
    app.wait_for_change_elsewhere();
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    sofia
        .get(&format!("/conversations/{}", some[0]))
        .await
        .assert_status(200)
        .assert_contains("urgent ×");
}

on_both_databases!(free_text_labels_become_records);

/// A conversation under a restricted label is never given to someone it is hidden from: not by
/// a transfer (the list does not offer them; asking anyway is 422), not by routing it again.
async fn a_restricted_conversation_goes_only_to_those_who_may_see_it(app: TestApp) {
    let (alice, bob) = (
        crate::common::id_of(&app, "DEMO", "alice"),
        crate::common::id_of(&app, "DEMO", "bob"),
    );
    let whatsapp = crate::common::channel_id(&app, "WhatsApp Sales");
    let theirs: Vec<i64> = conversations::table
        .filter(conversations::assignee_id.eq(alice))
        .filter(conversations::channel_id.eq(whatsapp))
        .filter(conversations::status.eq("open"))
        .order(conversations::id)
        .select(conversations::id)
        .load(&mut app.conn())
        .unwrap();
    let (vip, plain) = (theirs[0], theirs[1]);
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    sofia.get(&format!("/conversations/{vip}")).await;
    sofia
        .post(&format!("/conversations/{vip}/labels"), &[("label", "VIP")])
        .await
        .assert_status(303);
    let bob_option = format!(r#"<option value="{bob}""#);
    sofia
        .get(&format!("/conversations/{plain}"))
        .await
        .assert_contains(&bob_option);
    sofia
        .get(&format!("/conversations/{vip}"))
        .await
        .assert_lacks(&bob_option);
    sofia
        .post(
            &format!("/conversations/{vip}/transfer"),
            &[("assignee_id", &bob.to_string())],
        )
        .await
        .assert_status(422);
    let assignee = |id: i64| -> Option<i64> {
        conversations::table
            .find(id)
            .select(conversations::assignee_id)
            .first(&mut app.conn())
            .unwrap()
    };
    assert_eq!(assignee(vip), Some(alice));
    // routed again, alice's conversations go to bob where they may (he has room for all of
    // them) — the VIP one to the queue
    diesel::update(switchboard::db::schema::users::table.find(bob))
        .set(switchboard::db::schema::users::capacity.eq(Some(100)))
        .execute(&mut app.conn())
        .unwrap();
    app.wait_for_change_elsewhere();
    sofia.get(&format!("/users/{alice}")).await;
    sofia
        .post(
            &format!("/users/{alice}/open-conversations"),
            &[("open_conversations", "route")],
        )
        .await
        .assert_status(303);
    assert_eq!(assignee(plain), Some(bob));
    assert_eq!(assignee(vip), None, "nobody who may see it takes new chats");
}

on_both_databases!(a_restricted_conversation_goes_only_to_those_who_may_see_it);

/// Hundreds of queued conversations nobody available may take (restricted to the
/// supervisors, who take no chats) do not hold back a newer one somebody may: the queue is
/// read past them while someone has room.
async fn unroutable_conversations_do_not_block_the_queue(app: TestApp) {
    let company = crate::common::company_id(&app, "DEMO");
    let whatsapp = crate::common::channel_id(&app, "WhatsApp Sales");
    let vip: i64 = labels::table
        .filter(labels::name.eq("VIP"))
        .select(labels::id)
        .first(&mut app.conn())
        .unwrap();
    let long_ago = app.clock().now() - chrono::TimeDelta::days(3);
    let mut conn = app.conn();
    let waiting = |contact: i64, at: chrono::NaiveDateTime| {
        (
            conversations::company_id.eq(company),
            conversations::channel_id.eq(whatsapp),
            conversations::contact_id.eq(contact),
            conversations::status.eq("open"),
            conversations::last_message_at.eq(at),
            conversations::created_at.eq(at),
            conversations::awaiting_reply_since.eq(Some(at)),
        )
    };
    // 1,200 old VIP conversations, waiting (more than two of routing's reads)
    let vip_conversations: Vec<i64> = switchboard::db::write_transaction(&mut conn, |conn| {
        let mut ids = Vec::new();
        for n in 0..1_200 {
            let contact: i64 = diesel::insert_into(contacts::table)
                .values((
                    contacts::company_id.eq(company),
                    contacts::name.eq(format!("VIP customer {n}")),
                    contacts::created_at.eq(long_ago),
                ))
                .returning(contacts::id)
                .get_result(conn)?;
            let id: i64 = diesel::insert_into(conversations::table)
                .values(waiting(contact, long_ago))
                .returning(conversations::id)
                .get_result(conn)?;
            diesel::insert_into(conversation_labels::table)
                .values((
                    conversation_labels::conversation_id.eq(id),
                    conversation_labels::company_id.eq(company),
                    conversation_labels::label.eq("vip"),
                    conversation_labels::label_id.eq(Some(vip)),
                ))
                .execute(conn)?;
            ids.push(id);
        }
        Ok::<_, switchboard::error::AppError>(ids)
    })
    .unwrap();
    // and a newer plain one
    let plain_contact: i64 = diesel::insert_into(contacts::table)
        .values((
            contacts::company_id.eq(company),
            contacts::name.eq("Plain customer"),
            contacts::created_at.eq(app.clock().now()),
        ))
        .returning(contacts::id)
        .get_result(&mut conn)
        .unwrap();
    let plain: i64 = diesel::insert_into(conversations::table)
        .values(waiting(plain_contact, app.clock().now()))
        .returning(conversations::id)
        .get_result(&mut conn)
        .unwrap();
    let routed = switchboard::db::write_transaction(&mut conn, |conn| {
        switchboard::domain::routing::drain(conn, company)
    })
    .unwrap();
    assert!(routed >= 1, "routed {routed}");
    let assignee: Option<i64> = conversations::table
        .find(plain)
        .select(conversations::assignee_id)
        .first(&mut conn)
        .unwrap();
    assert!(
        assignee.is_some(),
        "the plain conversation waits behind the VIP ones"
    );
    let vip_assigned: i64 = conversations::table
        .filter(conversations::id.eq_any(&vip_conversations))
        .filter(conversations::assignee_id.is_not_null())
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(vip_assigned, 0);
}

on_both_databases!(unroutable_conversations_do_not_block_the_queue);
