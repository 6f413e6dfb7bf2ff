//! Custom roles, channels and channel assignment through the real App, on SQLite and on
//! PostgreSQL.

use crate::common::on_both_databases;
use crate::common::{Client, TestApp, channel_id, company_id, id_of, role_id};
use actix_web::http::Method;
use diesel::prelude::*;
use switchboard::core::ids::RoleId;
use switchboard::core::permissions::{Permission, PermissionSet};
use switchboard::db::schema::{
    audit_events, channel_members, channels, conversations, roles, users,
};
use switchboard::domain;

fn last_audit(app: &TestApp) -> (String, String) {
    audit_events::table
        .order(audit_events::id.desc())
        .select((audit_events::action, audit_events::summary))
        .first(&mut app.conn())
        .unwrap()
}

fn audit_count(app: &TestApp) -> i64 {
    audit_events::table
        .count()
        .get_result(&mut app.conn())
        .unwrap()
}

/// Sofia creates a role through the form; returns its id.
async fn create_role(app: &TestApp, sofia: &mut Client, name: &str, keys: &[&str]) -> i64 {
    sofia.get("/roles").await.assert_status(200);
    let mut fields = vec![("name", name)];
    fields.extend(keys.iter().map(|k| ("permissions", *k)));
    sofia.post("/roles", &fields).await.assert_status(303);
    role_id(app, "DEMO", name)
}

async fn a_custom_role_grants_exactly_its_pages(app: TestApp) {
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    let lead = create_role(
        &app,
        &mut sofia,
        "Shift Lead",
        &["users.view", "channels.view"],
    )
    .await;
    assert_eq!(last_audit(&app).0, "role.create");
    let bob = id_of(&app, "DEMO", "bob");
    let mut bob_client = app.signed_in("DEMO", "bob").await;
    bob_client.get("/conversations").await.assert_status(200);
    sofia.get(&format!("/users/{bob}")).await;
    sofia
        .post(
            &format!("/users/{bob}/role"),
            &[("role_id", &lead.to_string())],
        )
        .await
        .assert_status(303);

    let page = bob_client.get("/users").await;
    page.assert_status(200);
    assert_eq!(
        page.nav_links(),
        ["/users", "/channels", "/notifications", "/account"]
    );
    bob_client.get("/channels").await.assert_status(200);
    let whatsapp = channel_id(&app, "WhatsApp Sales");
    // channels.view shows members, never the inbound token
    bob_client
        .get(&format!("/channels/{whatsapp}"))
        .await
        .assert_status(200)
        .assert_contains("Members")
        .assert_lacks("webhook-token");
    for denied in [
        "/conversations",
        "/roles",
        "/assignments",
        "/settings",
        "/users/new",
    ] {
        bob_client.get(denied).await.assert_status(403);
    }
    bob_client
        .post("/channels", &[("name", "Mine"), ("kind", "sms")])
        .await
        .assert_status(403);
    // the user page explains why
    sofia.get(&format!("/users/{bob}")).await
        .assert_contains("users.view (role Shift Lead)")
        .assert_contains("needs conversations.view_assigned or conversations.view_channel or conversations.view_team or conversations.view_all");
}

async fn role_edits_act_on_open_sessions(app: TestApp) {
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    let lead = create_role(&app, &mut sofia, "Shift Lead", &["users.view"]).await;
    let bob = id_of(&app, "DEMO", "bob");
    sofia.get(&format!("/users/{bob}")).await;
    sofia
        .post(
            &format!("/users/{bob}/role"),
            &[("role_id", &lead.to_string())],
        )
        .await
        .assert_status(303);
    let mut bob_client = app.signed_in("DEMO", "bob").await;
    bob_client.get("/users").await.assert_status(200);
    bob_client.get("/settings").await.assert_status(403);
    let version_before: i64 = roles::table
        .find(lead)
        .select(roles::version)
        .first(&mut app.conn())
        .unwrap();
    sofia
        .get(&format!("/roles/{lead}"))
        .await
        .assert_status(200)
        .assert_contains("Bob Tanaka");
    sofia
        .post(
            &format!("/roles/{lead}"),
            &[("name", "Shift Lead"), ("permissions", "settings.manage")],
        )
        .await
        .assert_status(303);
    let version_after: i64 = roles::table
        .find(lead)
        .select(roles::version)
        .first(&mut app.conn())
        .unwrap();
    assert_eq!(version_after, version_before + 1);
    let (action, summary) = last_audit(&app);
    assert_eq!(action, "role.update");
    assert!(
        summary.contains("added settings.manage; removed users.view"),
        "{summary}"
    );
    bob_client.get("/settings").await.assert_status(200);
    bob_client.get("/users").await.assert_status(403);
    // the first refusal of the window is in the activity log; the second is counted for the
    // window's summary
    let (action, summary): (String, String) = audit_events::table
        .filter(audit_events::action.eq("access.denied"))
        .order(audit_events::id.desc())
        .select((audit_events::action, audit_events::summary))
        .first(&mut app.conn())
        .unwrap();
    assert_eq!(action, "access.denied");
    assert!(
        summary.contains("bob was refused GET /settings"),
        "{summary}"
    );
    let counted: i64 = switchboard::db::schema::refusal_windows::table
        .filter(switchboard::db::schema::refusal_windows::label.eq("bob"))
        .select(switchboard::db::schema::refusal_windows::refusals)
        .first(&mut app.conn())
        .unwrap();
    assert_eq!(counted, 2);
}

async fn built_in_roles_are_read_only(app: TestApp) {
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    let (supervisor, agent) = (
        role_id(&app, "DEMO", "Supervisor"),
        role_id(&app, "DEMO", "Agent"),
    );
    sofia
        .get("/roles")
        .await
        .assert_contains("built-in, read-only");
    let page = sofia.get(&format!("/roles/{agent}")).await;
    page.assert_status(200)
        .assert_contains("Built-in roles cannot be changed")
        .assert_lacks("edit-role-form");
    let before = audit_count(&app);
    sofia
        .post(
            &format!("/roles/{agent}"),
            &[("name", "Agent"), ("permissions", "users.view")],
        )
        .await
        .assert_status(409);
    sofia
        .post(&format!("/roles/{supervisor}"), &[("name", "Boss")])
        .await
        .assert_status(409);
    sofia
        .post(&format!("/roles/{agent}/delete"), &[])
        .await
        .assert_status(409);
    assert_eq!(audit_count(&app), before);
    let keys = domain::roles::permissions_of(&mut app.conn(), RoleId(agent)).unwrap();
    assert_eq!(keys.iter().count(), 3);
}

async fn a_role_in_use_cannot_be_deleted(app: TestApp) {
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    let auditor = role_id(&app, "DEMO", "Auditor");
    sofia.get("/roles").await;
    sofia
        .post(&format!("/roles/{auditor}/delete"), &[])
        .await
        .assert_status(409)
        .assert_contains("Dana Whitfield");
    let empty = create_role(&app, &mut sofia, "Marketing", &["reports.view"]).await;
    sofia
        .post(&format!("/roles/{empty}/delete"), &[])
        .await
        .assert_status(303);
    assert_eq!(last_audit(&app).0, "role.delete");
    sofia
        .get(&format!("/roles/{empty}"))
        .await
        .assert_status(404);
}

async fn bad_role_input_is_422(app: TestApp) {
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    sofia.get("/roles").await;
    let roles_before: i64 = roles::table.count().get_result(&mut app.conn()).unwrap();
    sofia
        .post("/roles", &[("name", ""), ("permissions", "users.view")])
        .await
        .assert_status(422)
        .assert_contains("A role name is 1 to 50");
    sofia
        .post("/roles", &[("name", "agent")])
        .await
        .assert_status(422)
        .assert_contains("A role named agent already exists");
    sofia
        .post(
            "/roles",
            &[
                ("name", "Finance"),
                ("permissions", "users.delete_everything"),
            ],
        )
        .await
        .assert_status(422)
        .assert_contains("&#39;users.delete_everything&#39; is not a permission");
    let name = "x".repeat(51);
    sofia
        .post("/roles", &[("name", &name)])
        .await
        .assert_status(422);
    let roles_after: i64 = roles::table.count().get_result(&mut app.conn()).unwrap();
    assert_eq!(roles_before, roles_after);
}

async fn nobody_grants_what_they_do_not_hold(app: TestApp) {
    // dana becomes a manager of users and roles, nothing else
    let mut conn = app.conn();
    let manager = domain::roles::create(
        &mut conn,
        company_id(&app, "DEMO"),
        "Manager",
        None,
        [
            Permission::UsersView,
            Permission::UsersManage,
            Permission::RolesManage,
        ]
        .into_iter()
        .collect::<PermissionSet>(),
    )
    .unwrap();
    let dana = id_of(&app, "DEMO", "dana");
    diesel::update(users::table.find(dana))
        .set(users::role_id.eq(manager))
        .execute(&mut conn)
        .unwrap();
    let mut dana_client = app.signed_in("DEMO", "dana").await;
    let page = dana_client.get("/roles").await;
    page.assert_status(200)
        .assert_contains("you do not hold it")
        // plain names first, keys beside them, what each allows on pointing at it
        .assert_contains("<span>See all conversations <small><code>conversations.view_all</code>")
        .assert_contains("title=\"See every conversation of the company\"");
    dana_client
        .post(
            "/roles",
            &[("name", "Sneaky"), ("permissions", "settings.manage")],
        )
        .await
        .assert_status(403);
    dana_client
        .post(
            &format!("/roles/{manager}"),
            &[
                ("name", "Manager"),
                ("permissions", "users.view"),
                ("permissions", "users.manage"),
                ("permissions", "roles.manage"),
                ("permissions", "contacts.view_unmasked"),
            ],
        )
        .await
        .assert_status(403);
    // nor may she change a role that holds more than she does: stripping `settings.manage`
    // from the team leads would demote accounts she may not act on
    let lead = domain::roles::create(
        &mut conn,
        company_id(&app, "DEMO"),
        "Shift lead",
        None,
        [Permission::UsersView, Permission::SettingsManage]
            .into_iter()
            .collect::<PermissionSet>(),
    )
    .unwrap();
    dana_client
        .post(
            &format!("/roles/{lead}"),
            &[("name", "Shift lead"), ("permissions", "users.view")],
        )
        .await
        .assert_status(403);
    let kept = domain::roles::permissions_of(&mut conn, lead).unwrap();
    assert!(kept.contains(Permission::SettingsManage));
    // her own role cannot be changed by her through the user page either
    dana_client
        .post(
            &format!("/users/{dana}/role"),
            &[("role_id", &role_id(&app, "DEMO", "Supervisor").to_string())],
        )
        .await
        .assert_status(409);
    // what she holds she may grant
    dana_client
        .post(
            "/roles",
            &[("name", "Reader"), ("permissions", "users.view")],
        )
        .await
        .assert_status(303);
    assert!(
        roles::table
            .filter(roles::name.eq("Sneaky"))
            .count()
            .get_result::<i64>(&mut conn)
            .unwrap()
            == 0
    );
}

async fn other_companies_roles_and_channels_are_not_found(app: TestApp) {
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    sofia.get("/roles").await;
    let acme_role = role_id(&app, "ACME", "Agent");
    let acme_channel = channel_id(&app, "Acme WhatsApp");
    let acme_alice = id_of(&app, "ACME", "alice");
    let demo_alice = id_of(&app, "DEMO", "alice");
    let whatsapp = channel_id(&app, "WhatsApp Sales");
    sofia
        .get(&format!("/roles/{acme_role}"))
        .await
        .assert_status(404);
    sofia
        .post(&format!("/roles/{acme_role}"), &[("name", "Mine")])
        .await
        .assert_status(404);
    sofia
        .post(&format!("/roles/{acme_role}/delete"), &[])
        .await
        .assert_status(404);
    sofia
        .get(&format!("/channels/{acme_channel}"))
        .await
        .assert_status(404);
    sofia
        .post(&format!("/channels/{acme_channel}"), &[("name", "Mine")])
        .await
        .assert_status(404);
    sofia
        .post(&format!("/channels/{acme_channel}/rotate-token"), &[])
        .await
        .assert_status(404);
    let before = audit_count(&app);
    for (user, channel) in [(acme_alice, whatsapp), (demo_alice, acme_channel)] {
        sofia
            .post(
                "/assignments",
                &[
                    ("user_id", &user.to_string()),
                    ("channel_id", &channel.to_string()),
                    ("assigned", "true"),
                ],
            )
            .await
            .assert_status(404);
    }
    sofia
        .post(
            "/assignments/bulk",
            &[("user_id", &acme_alice.to_string()), ("channels", "none")],
        )
        .await
        .assert_status(404);
    assert_eq!(audit_count(&app), before);
    let acme_members: i64 = channel_members::table
        .filter(channel_members::channel_id.eq(acme_channel))
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(acme_members, 2);
    sofia.get("/channels").await.assert_lacks("Acme WhatsApp");
    sofia.get("/assignments").await.assert_lacks("Alice Novak");
}

async fn channels_are_created_renamed_disabled_and_rekeyed(app: TestApp) {
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    let page = sofia.get("/channels").await;
    page.assert_status(200);
    for kind in [
        "WhatsApp",
        "Instagram",
        "Facebook Messenger",
        "Telegram",
        "SMS",
        "VOIP",
    ] {
        page.assert_contains(kind);
    }
    sofia
        .post("/channels", &[("name", "Line"), ("kind", "fax")])
        .await
        .assert_status(422)
        .assert_contains("six kinds");
    sofia
        .post("/channels", &[("name", "sms"), ("kind", "sms")])
        .await
        .assert_status(422)
        .assert_contains("already exists");
    let page = sofia
        .post(
            "/channels",
            &[("name", "WhatsApp Support"), ("kind", "whatsapp")],
        )
        .await;
    page.assert_status(303);
    let id = channel_id(&app, "WhatsApp Support");
    assert_eq!(last_audit(&app).0, "channel.create");
    let page = sofia.get(&format!("/channels/{id}")).await;
    page.assert_contains("id=\"webhook-token\"")
        .assert_contains(&format!("/hooks/channels/{id}/messages"));
    let token_before: String = channels::table
        .find(id)
        .select(channels::webhook_token)
        .first(&mut app.conn())
        .unwrap();
    page.assert_contains(&token_before);
    sofia
        .post(&format!("/channels/{id}/rotate-token"), &[])
        .await
        .assert_status(303);
    let token_after: String = channels::table
        .find(id)
        .select(channels::webhook_token)
        .first(&mut app.conn())
        .unwrap();
    assert_ne!(token_before, token_after);
    let (action, summary) = last_audit(&app);
    assert_eq!(action, "channel.rotate_token");
    assert!(!summary.contains(&token_after) && !summary.contains(&token_before));
    sofia
        .post(&format!("/channels/{id}"), &[("name", "WA Support")])
        .await
        .assert_status(303);
    let (name, active): (String, bool) = channels::table
        .find(id)
        .select((channels::name, channels::active))
        .first(&mut app.conn())
        .unwrap();
    assert_eq!((name.as_str(), active), ("WA Support", false));
    assert!(
        last_audit(&app)
            .1
            .contains("renamed from WhatsApp Support to WA Support, disabled")
    );
    sofia
        .post(&format!("/channels/{id}"), &[("name", "")])
        .await
        .assert_status(422);
    // agents hold no channel permission at all
    let mut alice = app.signed_in("DEMO", "alice").await;
    alice.get("/channels").await.assert_status(403);
    alice
        .get(&format!("/channels/{id}"))
        .await
        .assert_status(403);
}

async fn assignment_changes_visibility_at_once(app: TestApp) {
    let alice = id_of(&app, "DEMO", "alice");
    let instagram = channel_id(&app, "Instagram");
    let mut alice_client = app.signed_in("DEMO", "alice").await;
    alice_client
        .get("/conversations")
        .await
        .assert_contains("Instagram");
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    let page = sofia.get("/assignments").await;
    page.assert_status(200)
        .assert_contains(&format!("id=\"cell-{alice}-{instagram}\""));
    // htmx: one request, the cell comes back
    let token = sofia.csrf.clone().unwrap();
    let fields = [
        ("user_id", alice.to_string()),
        ("channel_id", instagram.to_string()),
        ("assigned", "false".to_string()),
    ];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let fragment = sofia
        .request(
            Method::POST,
            "/assignments",
            Some(&fields),
            &[("HX-Request", "true"), ("X-CSRF-Token", &token)],
        )
        .await;
    fragment
        .assert_status(200)
        .assert_contains(&format!("<td id=\"cell-{alice}-{instagram}\""))
        .assert_contains("aria-pressed=\"false\"");
    fragment
        .assert_contains("hx-swap-oob")
        .assert_contains("stay assigned until transferred");
    assert_eq!(last_audit(&app).0, "assignment.remove");
    // her Instagram conversations vanish from her view, yet stay assigned to her
    alice_client
        .get("/conversations")
        .await
        .assert_lacks("Instagram");
    let still_hers: i64 = conversations::table
        .filter(conversations::assignee_id.eq(alice))
        .filter(conversations::channel_id.eq(instagram))
        .filter(conversations::status.eq("open"))
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert!(still_hers > 0);
    sofia.get("/assignments").await.assert_contains(&format!(
        "{} on channels they no longer work on",
        switchboard::core::text::count(still_hers, "open conversation", "open conversations")
    ));
    // a plain form post works without JavaScript
    sofia.get("/assignments").await;
    let page = sofia
        .post(
            "/assignments",
            &[
                ("user_id", &alice.to_string()),
                ("channel_id", &instagram.to_string()),
                ("assigned", "true"),
            ],
        )
        .await;
    page.assert_status(303);
    assert_eq!(page.location(), Some("/assignments"));
    alice_client
        .get("/conversations")
        .await
        .assert_contains("Instagram");
    sofia
        .post(
            "/assignments",
            &[
                ("user_id", &alice.to_string()),
                ("channel_id", "x"),
                ("assigned", "true"),
            ],
        )
        .await
        .assert_status(422);
    sofia
        .post(
            "/assignments",
            &[
                ("user_id", &alice.to_string()),
                ("channel_id", &instagram.to_string()),
                ("assigned", "maybe"),
            ],
        )
        .await
        .assert_status(422);
    // bulk: every channel, then none
    let bob = id_of(&app, "DEMO", "bob");
    sofia
        .post(
            "/assignments/bulk",
            &[("user_id", &bob.to_string()), ("channels", "all")],
        )
        .await
        .assert_status(303);
    let count = |app: &TestApp| -> i64 {
        channel_members::table
            .filter(channel_members::user_id.eq(bob))
            .count()
            .get_result(&mut app.conn())
            .unwrap()
    };
    assert_eq!(count(&app), 6);
    sofia
        .post(
            "/assignments/bulk",
            &[("user_id", &bob.to_string()), ("channels", "none")],
        )
        .await
        .assert_status(303);
    assert_eq!(count(&app), 0);
    assert_eq!(last_audit(&app).0, "assignment.remove_all");
    let mut bob_client = app.signed_in("DEMO", "bob").await;
    bob_client
        .get("/conversations")
        .await
        .assert_contains("No conversations here");
    // agents cannot assign
    alice_client.get("/account").await;
    alice_client
        .post(
            "/assignments",
            &[
                ("user_id", &alice.to_string()),
                ("channel_id", &instagram.to_string()),
                ("assigned", "true"),
            ],
        )
        .await
        .assert_status(403);
}

on_both_databases!(
    a_custom_role_grants_exactly_its_pages,
    role_edits_act_on_open_sessions,
    built_in_roles_are_read_only,
    a_role_in_use_cannot_be_deleted,
    bad_role_input_is_422,
    nobody_grants_what_they_do_not_hold,
    other_companies_roles_and_channels_are_not_found,
    channels_are_created_renamed_disabled_and_rekeyed,
    assignment_changes_visibility_at_once,
);
