//! Message templates, broadcasts and the approvals inbox through the real App, on SQLite and
//! on PostgreSQL: the author never approves their own template, the creator never approves
//! their own broadcast, an approved template never changes, a broadcast goes out only once
//! approved and never to a customer who opted out, requests expire and can be withdrawn.

use crate::common::on_both_databases;
use crate::common::{TestApp, channel, hook, id_of};
use chrono::TimeDelta;
use diesel::prelude::*;
use serde_json::json;
use switchboard::db::schema::{
    approval_requests, audit_events, broadcasts, contacts, conversations, message_templates,
    messages,
};

fn template_id(app: &TestApp, name: &str, version: i32) -> i64 {
    message_templates::table
        .filter(message_templates::name.eq(name))
        .filter(message_templates::version.eq(version))
        .select(message_templates::id)
        .first(&mut app.conn())
        .unwrap()
}

fn template_status(app: &TestApp, id: i64) -> String {
    message_templates::table
        .find(id)
        .select(message_templates::status)
        .first(&mut app.conn())
        .unwrap()
}

fn pending_request(app: &TestApp, subject: i64) -> i64 {
    approval_requests::table
        .filter(approval_requests::subject_id.eq(subject))
        .filter(approval_requests::status.eq("pending"))
        .select(approval_requests::id)
        .first(&mut app.conn())
        .unwrap()
}

fn actions(app: &TestApp) -> Vec<String> {
    audit_events::table
        .order(audit_events::id)
        .select(audit_events::action)
        .load(&mut app.conn())
        .unwrap()
}

/// The demo's pending template: its author cannot approve it, another supervisor can from
/// the inbox; approved, it never changes (a change is version 2, a draft); agents send only
/// approved versions, with exactly their values.
async fn a_template_is_approved_by_someone_else_and_then_never_changes(app: TestApp) {
    let order_update = template_id(&app, "order_update", 1);
    assert_eq!(template_status(&app, order_update), "submitted");
    let request = pending_request(&app, order_update);
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    let mut sam = app.signed_in("DEMO", "sam").await;
    // the author sees her request (to withdraw), not a way to approve it
    sofia
        .get("/approvals")
        .await
        .assert_status(200)
        .assert_contains("template order_update (en) v1")
        .assert_contains(&format!("/approvals/{request}/withdraw"))
        .assert_lacks(&format!("/approvals/{request}/approve"));
    sofia
        .post(&format!("/templates/{order_update}/approve"), &[])
        .await
        .assert_status(409);
    sofia
        .post(&format!("/approvals/{request}/approve"), &[])
        .await
        .assert_status(409);
    assert_eq!(template_status(&app, order_update), "submitted");
    // a rejection needs a reason
    sam.get("/approvals")
        .await
        .assert_contains(&format!("/approvals/{request}/approve"));
    sam.post(
        &format!("/templates/{order_update}/reject"),
        &[("reason", " ")],
    )
    .await
    .assert_status(422);
    sam.post(&format!("/approvals/{request}/approve"), &[])
        .await
        .assert_status(303);
    assert_eq!(template_status(&app, order_update), "approved");
    // approved, it never changes: a change is version 2, a draft
    let body_before: String = message_templates::table
        .find(order_update)
        .select(message_templates::body)
        .first(&mut app.conn())
        .unwrap();
    let changed = sofia
        .post(
            &format!("/templates/{order_update}"),
            &[
                ("category", "utility"),
                ("body", "Hi {{1}}, order {{2}} left our warehouse."),
            ],
        )
        .await;
    changed.assert_status(303);
    let version_two = template_id(&app, "order_update", 2);
    assert_eq!(
        changed.location(),
        Some(format!("/templates/{version_two}").as_str())
    );
    assert_eq!(template_status(&app, version_two), "draft");
    let body_after: String = message_templates::table
        .find(order_update)
        .select(message_templates::body)
        .first(&mut app.conn())
        .unwrap();
    assert_eq!(body_before, body_after);
    // bad drafts: 422, nothing saved
    let count = || -> i64 {
        message_templates::table
            .count()
            .get_result(&mut app.conn())
            .unwrap()
    };
    let before = count();
    sofia.get("/templates").await;
    for (name, language, body) in [
        ("Bad Name", "en", "Hello"),
        ("fine", "english", "Hello"),
        ("fine", "en", "Hello {{2}}"),
        ("fine", "en", "Hello {{name}}"),
        ("order_update", "en", "Hello"),
    ] {
        sofia
            .post(
                "/templates",
                &[
                    ("name", name),
                    ("language", language),
                    ("category", "utility"),
                    ("body", body),
                ],
            )
            .await
            .assert_status(422);
    }
    assert_eq!(count(), before);

    // agents: no template pages; the composer sends approved versions only, values filled
    let mut alice = app.signed_in("DEMO", "alice").await;
    alice.get("/templates").await.assert_status(403);
    let alice_id = id_of(&app, "DEMO", "alice");
    let hers: i64 = conversations::table
        .filter(conversations::assignee_id.eq(alice_id))
        .order(conversations::id)
        .select(conversations::id)
        .first(&mut app.conn())
        .unwrap();
    alice
        .get(&format!("/conversations/{hers}"))
        .await
        .assert_contains("order_update (en)")
        .assert_lacks(&format!(r#"<option value="{version_two}""#));
    let path = format!("/conversations/{hers}/template");
    let (approved, draft) = (order_update.to_string(), version_two.to_string());
    alice
        .post(&path, &[("template_id", &approved), ("values", "Ann")])
        .await
        .assert_status(422);
    alice
        .post(
            &path,
            &[
                ("template_id", &draft),
                ("values", "Ann"),
                ("values", "A-17"),
            ],
        )
        .await
        .assert_status(404);
    alice
        .post(
            &path,
            &[
                ("template_id", &approved),
                ("values", "Ann"),
                ("values", "A-17"),
                ("values", ""),
            ],
        )
        .await
        .assert_status(303);
    let last: String = messages::table
        .filter(messages::conversation_id.eq(hers))
        .order(messages::id.desc())
        .select(messages::body)
        .first(&mut app.conn())
        .unwrap();
    assert_eq!(last, "Hello Ann, your order A-17 is on its way.");
    let recorded = actions(&app);
    for action in ["approval.request", "approval.decide", "template.version"] {
        assert!(recorded.iter().any(|a| a == action), "{action}");
    }
}

/// A broadcast is sent only once a second person approved it, to every contact of its channel
/// that the sender sees — except one who said STOP — one message in each one's conversation.
async fn a_broadcast_needs_a_second_person_and_skips_opt_outs(app: TestApp) {
    let (sms, token) = channel(&app, "SMS");
    // a customer opts out by writing STOP
    let mut inbound = app.client();
    hook(
        &mut inbound,
        sms,
        &token,
        json!({"external_id": "stop-1", "contact": {"name": "Quiet Customer", "phone": "+44 7700 900111"}, "text": "STOP"}),
    )
    .await
    .assert_status(201);
    let quiet: i64 = contacts::table
        .filter(contacts::name.eq("Quiet Customer"))
        .select(contacts::id)
        .first(&mut app.conn())
        .unwrap();
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    let mut sam = app.signed_in("DEMO", "sam").await;
    let welcome = template_id(&app, "welcome", 1).to_string();
    sofia.get("/broadcasts").await.assert_status(200);
    // bad drafts first: an unapproved template, a foreign channel, a missing label
    let order_update = template_id(&app, "order_update", 1).to_string();
    let acme = crate::common::channel_id(&app, "Acme WhatsApp").to_string();
    for fields in [
        vec![
            ("name", "Offer"),
            ("channel_id", &sms.to_string()[..]),
            ("template_id", &order_update[..]),
        ],
        vec![
            ("name", "Offer"),
            ("channel_id", &acme[..]),
            ("template_id", &welcome[..]),
        ],
        vec![
            ("name", "Offer"),
            ("channel_id", &sms.to_string()[..]),
            ("template_id", &welcome[..]),
            ("label", "no-such-label"),
        ],
        vec![
            ("name", "Offer"),
            ("channel_id", &sms.to_string()[..]),
            ("template_id", &welcome[..]),
            ("last_contact_after", "yesterday"),
        ],
    ] {
        sofia.post("/broadcasts", &fields).await.assert_status(422);
    }
    let drafted = sofia
        .post(
            "/broadcasts",
            &[
                ("name", "Free shipping week"),
                ("channel_id", &sms.to_string()),
                ("template_id", &welcome),
            ],
        )
        .await;
    drafted.assert_status(303);
    let id: i64 = broadcasts::table
        .select(broadcasts::id)
        .first(&mut app.conn())
        .unwrap();
    // the audience: SMS contacts but the one who opted out; shown as a number only
    let sms_contacts: Vec<i64> = conversations::table
        .filter(conversations::channel_id.eq(sms))
        .select(conversations::contact_id)
        .distinct()
        .load(&mut app.conn())
        .unwrap();
    let expected = sms_contacts.len() - 1;
    let page = sofia.get(&format!("/broadcasts/{id}")).await;
    page.assert_status(200)
        .assert_contains(&format!(r#"<dd id="audience">{expected} contacts</dd>"#))
        .assert_lacks("+44 7700 900111");
    let send = format!("/broadcasts/{id}/send");
    sofia.post(&send, &[]).await.assert_status(409);
    sofia
        .post(&format!("/broadcasts/{id}/submit"), &[])
        .await
        .assert_status(303);
    sofia.post(&send, &[]).await.assert_status(409);
    sofia
        .post(&format!("/broadcasts/{id}/approve"), &[])
        .await
        .assert_status(409);
    sam.get(&format!("/broadcasts/{id}"))
        .await
        .assert_contains(r#"id="approve""#);
    sam.post(&format!("/broadcasts/{id}/approve"), &[])
        .await
        .assert_status(303);
    let unanswered = || -> Vec<i64> {
        conversations::table
            .filter(conversations::channel_id.eq(sms))
            .filter(conversations::first_response_at.is_null())
            .order(conversations::id)
            .select(conversations::id)
            .load(&mut app.conn())
            .unwrap()
    };
    let unanswered_before = unanswered();
    assert!(!unanswered_before.is_empty());
    sofia.post(&send, &[]).await.assert_status(303);
    // a broadcast answers nobody: the reports' first responses stay as they were
    assert_eq!(unanswered(), unanswered_before);
    let sent_to: Vec<i64> = messages::table
        .inner_join(conversations::table)
        .filter(messages::body.like("Hello from Demo Trading Co.!%"))
        .select(conversations::contact_id)
        .load(&mut app.conn())
        .unwrap();
    assert_eq!(sent_to.len(), expected);
    assert!(
        !sent_to.contains(&quiet),
        "an opted-out customer got a broadcast"
    );
    let mut distinct = sent_to.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), sent_to.len(), "one message per contact");
    sofia
        .get(&format!("/broadcasts/{id}"))
        .await
        .assert_contains(&format!("{expected} of {expected} sent (100 %)"))
        .assert_contains(r#"id="broadcast-status">sent<"#);
    sofia.post(&send, &[]).await.assert_status(409);
    sofia
        .post(&format!("/broadcasts/{id}/cancel"), &[])
        .await
        .assert_status(409);
    let recorded = actions(&app);
    for action in [
        "broadcast.create",
        "approval.request",
        "approval.decide",
        "broadcast.send",
        "broadcast.sent",
    ] {
        assert!(recorded.iter().any(|a| a == action), "{action}");
    }
    // agents have no broadcast pages
    let mut alice = app.signed_in("DEMO", "alice").await;
    alice.get("/broadcasts").await.assert_status(403);
    alice
        .get(&format!("/broadcasts/{id}"))
        .await
        .assert_status(403);
}

/// A requester withdraws their request (the subject is a draft again); nobody else can; an
/// unanswered request expires after 7 days and cannot be decided then.
async fn requests_are_withdrawn_or_expire(app: TestApp) {
    let order_update = template_id(&app, "order_update", 1);
    let request = pending_request(&app, order_update);
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    let mut sam = app.signed_in("DEMO", "sam").await;
    sam.get("/approvals").await;
    sam.post(&format!("/approvals/{request}/withdraw"), &[])
        .await
        .assert_status(403);
    sofia.get("/approvals").await;
    sofia
        .post(&format!("/approvals/{request}/withdraw"), &[])
        .await
        .assert_status(303);
    assert_eq!(template_status(&app, order_update), "draft");
    sam.post(&format!("/approvals/{request}/approve"), &[])
        .await
        .assert_status(409);
    // submitted again, then left unanswered past its time
    sofia
        .post(&format!("/templates/{order_update}/submit"), &[])
        .await
        .assert_status(303);
    app.clock().advance(TimeDelta::days(8));
    // a week later: a new session
    let mut sam = app.signed_in("DEMO", "sam").await;
    sam.get("/approvals")
        .await
        .assert_contains(r#"id="no-approvals""#);
    sam.post(&format!("/templates/{order_update}/approve"), &[])
        .await
        .assert_status(409)
        .assert_contains("expired");
    // the minutely sweep records it and makes the template a draft again
    let swept = switchboard::db::write_transaction(&mut app.conn(), |conn| {
        switchboard::domain::approvals::expire_due(conn, app.clock().now())
    })
    .unwrap();
    assert_eq!(swept, 1);
    assert_eq!(template_status(&app, order_update), "draft");
    let expired: i64 = approval_requests::table
        .filter(approval_requests::status.eq("expired"))
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(expired, 1);
}

on_both_databases!(
    a_template_is_approved_by_someone_else_and_then_never_changes,
    a_broadcast_needs_a_second_person_and_skips_opt_outs,
    requests_are_withdrawn_or_expire,
);

/// Where the company asks for it, adding a permission to a role people hold waits for a second
/// person who holds it too; approved, it applies at once; removing one, or changing a role
/// nobody holds, needs nobody.
async fn raising_a_role_in_use_waits_for_a_second_person(app: TestApp) {
    use switchboard::core::permissions::Permission;
    use switchboard::db::schema::companies;
    diesel::update(companies::table.filter(companies::code.eq("DEMO")))
        .set(companies::approve_role_raises.eq(true))
        .execute(&mut app.conn())
        .unwrap();
    crate::common::give_role(&app, "dana", "Desk", &[Permission::UsersView]);
    crate::common::give_role(
        &app,
        "bob",
        "Role keeper",
        &[Permission::RolesManage, Permission::UsersView],
    );
    let desk = crate::common::role_id(&app, "DEMO", "Desk");
    let held = |app: &TestApp| -> Vec<String> {
        switchboard::db::schema::role_permissions::table
            .filter(switchboard::db::schema::role_permissions::role_id.eq(desk))
            .order(switchboard::db::schema::role_permissions::permission)
            .select(switchboard::db::schema::role_permissions::permission)
            .load(&mut app.conn())
            .unwrap()
    };
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    sofia.get(&format!("/roles/{desk}")).await;
    let asked = sofia
        .post(
            &format!("/roles/{desk}"),
            &[
                ("name", "Desk"),
                ("permissions", "users.view"),
                ("permissions", "reports.view"),
            ],
        )
        .await;
    asked.assert_status(303);
    assert_eq!(asked.location(), Some("/approvals"));
    assert_eq!(held(&app), ["users.view"], "nothing applied yet");
    let mut dana = app.signed_in("DEMO", "dana").await;
    dana.get("/reports").await.assert_status(403);
    let request: i64 = approval_requests::table
        .filter(approval_requests::kind.eq("role_raise"))
        .select(approval_requests::id)
        .first(&mut app.conn())
        .unwrap();
    sofia
        .get("/approvals")
        .await
        .assert_contains("role Desk: add reports.view");
    // not the requester; not someone who lacks what is added
    sofia
        .post(&format!("/approvals/{request}/approve"), &[])
        .await
        .assert_status(409);
    let mut bob = app.signed_in("DEMO", "bob").await;
    bob.get("/approvals").await;
    bob.post(&format!("/approvals/{request}/approve"), &[])
        .await
        .assert_status(403);
    assert_eq!(held(&app), ["users.view"]);
    // a second change waits its turn
    sofia
        .post(
            &format!("/roles/{desk}"),
            &[
                ("name", "Desk"),
                ("permissions", "users.view"),
                ("permissions", "logins.view"),
            ],
        )
        .await
        .assert_status(409);
    let mut sam = app.signed_in("DEMO", "sam").await;
    sam.get("/approvals").await;
    sam.post(&format!("/approvals/{request}/approve"), &[])
        .await
        .assert_status(303);
    assert_eq!(held(&app), ["reports.view", "users.view"]);
    dana.get("/reports").await.assert_status(200);
    let by: Option<i64> = audit_events::table
        .filter(audit_events::action.eq("role.update"))
        .order(audit_events::id.desc())
        .select(audit_events::actor_id)
        .first(&mut app.conn())
        .unwrap();
    assert_eq!(
        by,
        Some(id_of(&app, "DEMO", "sam")),
        "recorded as the approver's change"
    );
    // taking a permission away needs nobody
    sofia
        .post(
            &format!("/roles/{desk}"),
            &[("name", "Desk"), ("permissions", "users.view")],
        )
        .await
        .assert_status(303);
    assert_eq!(held(&app), ["users.view"]);
}

on_both_databases!(raising_a_role_in_use_waits_for_a_second_person);

/// The settings form as the page fills it now.
pub(crate) fn current_settings(app: &TestApp) -> Vec<(&'static str, String)> {
    let company = switchboard::domain::companies::get(
        &mut app.conn(),
        crate::common::company_id(app, "DEMO"),
    )
    .unwrap();
    let form = switchboard::domain::settings::SettingsForm::from_company(&company);
    let mut fields = vec![
        ("password_min_length", form.password_min_length),
        ("password_min_score", form.password_min_score),
        ("password_max_age_days", form.password_max_age_days),
        ("idle_timeout_minutes", form.idle_timeout_minutes),
        ("session_lifetime_hours", form.session_lifetime_hours),
        ("lockout_threshold", form.lockout_threshold),
        ("reveal_daily_cap", form.reveal_daily_cap),
        ("missed_chat_minutes", form.missed_chat_minutes),
        ("phone_region", form.phone_region),
        ("default_capacity", form.default_capacity),
        ("reroute_offline_minutes", form.reroute_offline_minutes),
        ("dormant_after_days", form.dormant_after_days),
        ("review_every_days", form.review_every_days),
    ];
    for (name, on) in [
        ("password_require_upper", form.password_require_upper),
        ("password_require_lower", form.password_require_lower),
        ("password_require_digit", form.password_require_digit),
        ("password_require_symbol", form.password_require_symbol),
        (
            "end_session_on_client_change",
            form.end_session_on_client_change,
        ),
        ("approve_role_raises", form.approve_role_raises),
        ("approve_settings_changes", form.approve_settings_changes),
        ("reviews_quarterly", form.reviews_quarterly),
        ("deactivate_dormant", form.deactivate_dormant),
    ] {
        if on.is_some() {
            fields.push((name, "on".into()));
        }
    }
    for key in form.critical_permissions {
        fields.push(("critical_permissions", key));
    }
    fields.push(("critical_permissions_shown", "1".into()));
    fields
}

/// `fields` with `name` set to `value` (or left out, for a checkbox turned off: `None`).
fn with_setting(
    mut fields: Vec<(&'static str, String)>,
    name: &'static str,
    value: Option<&str>,
) -> Vec<(&'static str, String)> {
    fields.retain(|(field, _)| *field != name);
    if let Some(value) = value {
        fields.push((name, value.into()));
    }
    fields
}

fn as_form<'a>(fields: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    fields
        .iter()
        .map(|(name, value)| (*name, value.as_str()))
        .collect()
}

fn idle_timeout(app: &TestApp) -> i32 {
    switchboard::domain::companies::get(&mut app.conn(), crate::common::company_id(app, "DEMO"))
        .unwrap()
        .idle_timeout_minutes
}

fn settings_request(app: &TestApp) -> i64 {
    approval_requests::table
        .filter(approval_requests::kind.eq("settings"))
        .filter(approval_requests::status.eq("pending"))
        .select(approval_requests::id)
        .first(&mut app.conn())
        .unwrap()
}

/// Where the company asks for it, a change of the security settings waits for another holder
/// of `settings.manage`: turning the rule on applies at once, everything after it (turning it
/// off included) waits; approved, it applies as the approver's change, unless the settings
/// changed since it was asked.
async fn security_settings_changes_wait_for_a_second_person(app: TestApp) {
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    sofia.get("/settings").await;
    let strict = with_setting(
        current_settings(&app),
        "approve_settings_changes",
        Some("on"),
    );
    let answer = sofia.post("/settings", &as_form(&strict)).await;
    answer.assert_status(303);
    assert_eq!(
        answer.location(),
        Some("/settings"),
        "turning it on applies"
    );
    // from now on a change waits
    let shorter = with_setting(current_settings(&app), "idle_timeout_minutes", Some("15"));
    let asked = sofia.post("/settings", &as_form(&shorter)).await;
    asked.assert_status(303);
    assert_eq!(asked.location(), Some("/approvals"));
    assert_eq!(idle_timeout(&app), 30, "nothing applied yet");
    sofia
        .get("/settings")
        .await
        .assert_contains(r#"id="settings-waiting""#)
        .assert_contains("idle timeout 30 → 15 min");
    // one at a time; the requester never decides; an agent cannot
    let longer = with_setting(current_settings(&app), "idle_timeout_minutes", Some("45"));
    sofia
        .post("/settings", &as_form(&longer))
        .await
        .assert_status(409);
    let request = settings_request(&app);
    sofia
        .post(&format!("/approvals/{request}/approve"), &[])
        .await
        .assert_status(409);
    let mut bob = app.signed_in("DEMO", "bob").await;
    bob.get("/conversations").await;
    bob.post(&format!("/approvals/{request}/approve"), &[])
        .await
        .assert_status(403);
    assert_eq!(idle_timeout(&app), 30);
    // sam heard of it, sees it and approves it: applied as his change
    let mut sam = app.signed_in("DEMO", "sam").await;
    sam.get("/notifications")
        .await
        .assert_contains("waiting for your approval: security settings: idle timeout 30 → 15 min");
    sam.get("/approvals")
        .await
        .assert_contains("idle timeout 30 → 15 min");
    sam.post(&format!("/approvals/{request}/reject"), &[("reason", " ")])
        .await
        .assert_status(422);
    sam.post(&format!("/approvals/{request}/approve"), &[])
        .await
        .assert_status(303);
    assert_eq!(idle_timeout(&app), 15);
    let (actor, summary): (Option<i64>, String) = audit_events::table
        .filter(audit_events::action.eq("settings.update"))
        .order(audit_events::id.desc())
        .select((audit_events::actor_id, audit_events::summary))
        .first(&mut app.conn())
        .unwrap();
    assert_eq!(actor, Some(id_of(&app, "DEMO", "sam")));
    assert!(summary.contains("idle timeout 30 → 15 min"), "{summary}");
    sofia
        .get("/settings")
        .await
        .assert_lacks(r#"id="settings-waiting""#);
    // turning the rule off waits too; a request overtaken by another change is not applied
    let lax = with_setting(current_settings(&app), "approve_settings_changes", None);
    sofia
        .post("/settings", &as_form(&lax))
        .await
        .assert_status(303);
    let request = settings_request(&app);
    diesel::update(switchboard::db::schema::companies::table)
        .filter(switchboard::db::schema::companies::code.eq("DEMO"))
        .set(switchboard::db::schema::companies::lockout_threshold.eq(7))
        .execute(&mut app.conn())
        .unwrap();
    app.wait_for_change_elsewhere();
    sam.post(&format!("/approvals/{request}/approve"), &[])
        .await
        .assert_status(409)
        .assert_contains("changed after this was asked");
    let company = switchboard::domain::companies::get(
        &mut app.conn(),
        crate::common::company_id(&app, "DEMO"),
    )
    .unwrap();
    assert!(company.approve_settings_changes, "still asks for approval");
    // rejected with a reason: the requester hears why, nothing changes
    sam.post(
        &format!("/approvals/{request}/reject"),
        &[("reason", "Keep the second pair of eyes")],
    )
    .await
    .assert_status(303);
    sofia
        .get("/notifications")
        .await
        .assert_contains("Keep the second pair of eyes");
    assert!(
        switchboard::domain::companies::get(
            &mut app.conn(),
            crate::common::company_id(&app, "DEMO"),
        )
        .unwrap()
        .approve_settings_changes
    );
}

on_both_databases!(security_settings_changes_wait_for_a_second_person);

/// The composer offers as many value boxes as the approved template that takes the most, so a
/// template of five values can be sent.
async fn a_template_of_many_values_can_be_sent(app: TestApp) {
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    sofia.get("/templates").await;
    sofia
        .post(
            "/templates",
            &[
                ("name", "delivery_slot"),
                ("language", "en"),
                ("category", "utility"),
                (
                    "body",
                    "{{1}}: order {{2}} arrives on {{3}} between {{4}} and {{5}}.",
                ),
            ],
        )
        .await
        .assert_status(303);
    let id = template_id(&app, "delivery_slot", 1);
    sofia
        .post(&format!("/templates/{id}/submit"), &[])
        .await
        .assert_status(303);
    let mut sam = app.signed_in("DEMO", "sam").await;
    sam.get("/templates").await;
    sam.post(&format!("/templates/{id}/approve"), &[])
        .await
        .assert_status(303);
    let mut alice = app.signed_in("DEMO", "alice").await;
    let hers: i64 = conversations::table
        .filter(conversations::assignee_id.eq(id_of(&app, "DEMO", "alice")))
        .order(conversations::id)
        .select(conversations::id)
        .first(&mut app.conn())
        .unwrap();
    let page = alice.get(&format!("/conversations/{hers}")).await;
    assert_eq!(page.body.matches(r#"<input name="values""#).count(), 5);
    page.assert_contains("{{5}}");
    alice
        .post(
            &format!("/conversations/{hers}/template"),
            &[
                ("template_id", &id.to_string()),
                ("values", "Ann"),
                ("values", "A-17"),
                ("values", "Friday"),
                ("values", "9:00"),
                ("values", "11:00"),
            ],
        )
        .await
        .assert_status(303);
    let last: String = messages::table
        .filter(messages::conversation_id.eq(hers))
        .order(messages::id.desc())
        .select(messages::body)
        .first(&mut app.conn())
        .unwrap();
    assert_eq!(
        last,
        "Ann: order A-17 arrives on Friday between 9:00 and 11:00."
    );
}

on_both_databases!(a_template_of_many_values_can_be_sent);

/// "In touch since" a day means since that day began where the broadcast's creator is: the
/// same audience for the creator, the approver (in another zone) and the sender.
async fn a_broadcasts_day_is_its_creators_day(app: TestApp) {
    use chrono::{NaiveDate, TimeDelta};
    let (sms, _) = channel(&app, "SMS");
    let day = NaiveDate::from_ymd_opt(2026, 11, 20).unwrap();
    let midnight_utc = day.and_hms_opt(0, 0, 0).unwrap();
    // every SMS conversation well inside the day; one contact's an hour before UTC midnight,
    // which is already 20 November at UTC+14
    let all: Vec<(i64, i64)> = conversations::table
        .filter(conversations::channel_id.eq(sms))
        .order(conversations::contact_id)
        .select((conversations::id, conversations::contact_id))
        .load(&mut app.conn())
        .unwrap();
    let early_contact = all[0].1;
    diesel::update(conversations::table.filter(conversations::channel_id.eq(sms)))
        .set(conversations::last_message_at.eq(midnight_utc + TimeDelta::days(2)))
        .execute(&mut app.conn())
        .unwrap();
    diesel::update(
        conversations::table
            .filter(conversations::channel_id.eq(sms))
            .filter(conversations::contact_id.eq(early_contact)),
    )
    .set(conversations::last_message_at.eq(midnight_utc - TimeDelta::hours(1)))
    .execute(&mut app.conn())
    .unwrap();
    let contacts_reached = |all: &[(i64, i64)]| {
        let mut contacts: Vec<i64> = all.iter().map(|(_, c)| *c).collect();
        contacts.dedup();
        contacts.len()
    };
    let everyone = contacts_reached(&all);
    let welcome = template_id(&app, "welcome", 1).to_string();
    let audience_of = |page: &crate::common::Page| -> usize {
        let at = page.body.find(r#"<dd id="audience">"#).unwrap() + r#"<dd id="audience">"#.len();
        page.body[at..].split(' ').next().unwrap().parse().unwrap()
    };
    for (zone, expected) in [("UTC", everyone - 1), ("Pacific/Kiritimati", everyone)] {
        let mut sofia = app.signed_in("DEMO", "sofia").await;
        sofia.get("/account").await;
        sofia
            .post("/account/time-zone", &[("time_zone", zone)])
            .await
            .assert_status(303);
        sofia.get("/broadcasts").await;
        let created = sofia
            .post(
                "/broadcasts",
                &[
                    ("name", &format!("Since the 20th ({zone})")),
                    ("channel_id", &sms.to_string()),
                    ("template_id", &welcome),
                    ("label", ""),
                    ("last_contact_after", "2026-11-20"),
                ],
            )
            .await;
        created.assert_status(303);
        let path = created.location().unwrap().to_string();
        assert_eq!(audience_of(&sofia.get(&path).await), expected, "{zone}");
        // sam, in UTC+14 and UTC alike, sees the audience sofia drafted
        let mut sam = app.signed_in("DEMO", "sam").await;
        sam.get("/account").await;
        sam.post("/account/time-zone", &[("time_zone", "Asia/Tokyo")])
            .await
            .assert_status(303);
        assert_eq!(
            audience_of(&sam.get(&path).await),
            expected,
            "{zone}, seen by sam"
        );
    }
}

on_both_databases!(a_broadcasts_day_is_its_creators_day);

/// An approved broadcast can be scheduled, in the sender's own time; it starts by itself when
/// its time comes (the sender's task), as the person who scheduled it, and not before; a time
/// in the past is refused; a scheduled broadcast can still be cancelled.
async fn an_approved_broadcast_can_be_scheduled(app: TestApp) {
    let (sms, _) = channel(&app, "SMS");
    let welcome = template_id(&app, "welcome", 1).to_string();
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    sofia.get("/account").await;
    sofia
        .post("/account/time-zone", &[("time_zone", "Europe/Istanbul")])
        .await
        .assert_status(303);
    let mut sam = app.signed_in("DEMO", "sam").await;
    let draft = |name: &'static str| {
        let sms = sms.to_string();
        let welcome = welcome.clone();
        move || {
            vec![
                ("name", name.to_string()),
                ("channel_id", sms.clone()),
                ("template_id", welcome.clone()),
            ]
        }
    };
    let mut approved = Vec::new();
    for name in ["Morning news", "Evening news"] {
        sofia.get("/broadcasts").await;
        let fields = draft(name)();
        let form: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let created = sofia.post("/broadcasts", &form).await;
        created.assert_status(303);
        let path = created.location().unwrap().to_string();
        sofia
            .post(&format!("{path}/submit"), &[])
            .await
            .assert_status(303);
        sam.get(&path).await;
        sam.post(&format!("{path}/approve"), &[])
            .await
            .assert_status(303);
        approved.push(path);
    }
    let (morning, evening) = (&approved[0], &approved[1]);
    // in Istanbul (UTC+3) tomorrow at 09:00 is 06:00 UTC
    let tomorrow = app.clock().now().date() + TimeDelta::days(1);
    let local = format!("{tomorrow}T09:00");
    sofia.get(morning).await;
    sofia
        .post(&format!("{morning}/send"), &[("send_at", "soon")])
        .await
        .assert_status(422)
        .assert_contains("such as 2026-12-24T09:00");
    let yesterday = format!("{}T09:00", tomorrow - TimeDelta::days(2));
    sofia
        .post(&format!("{morning}/send"), &[("send_at", &yesterday)])
        .await
        .assert_status(422)
        .assert_contains("in the next 90 days");
    sofia
        .post(&format!("{morning}/send"), &[("send_at", &local)])
        .await
        .assert_status(303);
    let stored: Option<chrono::NaiveDateTime> = broadcasts::table
        .filter(broadcasts::name.eq("Morning news"))
        .select(broadcasts::send_at)
        .first(&mut app.conn())
        .unwrap();
    assert_eq!(stored, Some(tomorrow.and_hms_opt(6, 0, 0).unwrap()));
    sofia
        .get(morning)
        .await
        .assert_contains(r#"id="scheduled-for""#)
        .assert_contains("09:00");
    sofia
        .post(&format!("{evening}/send"), &[("send_at", &local)])
        .await
        .assert_status(303);
    sofia
        .post(&format!("{evening}/cancel"), &[])
        .await
        .assert_status(303);
    let start_due = |app: &TestApp| -> usize {
        switchboard::db::write_transaction(&mut app.conn(), |conn| {
            switchboard::domain::broadcasts::start_due(conn, app.clock().now())
        })
        .unwrap()
    };
    let status = |app: &TestApp, name: &str| -> String {
        broadcasts::table
            .filter(broadcasts::name.eq(name))
            .select(broadcasts::status)
            .first(&mut app.conn())
            .unwrap()
    };
    assert_eq!(start_due(&app), 0, "not before its time");
    assert_eq!(status(&app, "Morning news"), "approved");
    app.clock().advance(TimeDelta::days(2));
    assert_eq!(start_due(&app), 1, "the cancelled one stays cancelled");
    assert_ne!(status(&app, "Morning news"), "approved");
    assert_eq!(status(&app, "Evening news"), "cancelled");
    let (actor, summary): (Option<i64>, String) = audit_events::table
        .filter(audit_events::action.eq("broadcast.send"))
        .order(audit_events::id.desc())
        .select((audit_events::actor_id, audit_events::summary))
        .first(&mut app.conn())
        .unwrap();
    assert_eq!(actor, Some(id_of(&app, "DEMO", "sofia")));
    assert!(summary.contains("Morning news"), "{summary}");
    assert_eq!(start_due(&app), 0, "started once");
}

on_both_databases!(an_approved_broadcast_can_be_scheduled);
