//! User Management through the real App, on SQLite and on PostgreSQL: every action and its
//! audit record, bad input, the last-supervisor rule, escalation, offboarding and deletion,
//! settings and the password policy.

use crate::common::on_both_databases;
use crate::common::{
    PASSWORD, TestApp, add_agents, channel_id, company_id, give_role, id_of, open_conversations_of,
    role_id,
};
use diesel::prelude::*;
use switchboard::core::permissions::Permission;
use switchboard::db::schema::{
    audit_events, channel_members, conversations, messages, refusal_windows, sessions, users,
};
use switchboard::domain;

/// (action, target label, summary) of the audit records, oldest first.
fn audit_log(app: &TestApp) -> Vec<(String, String, String)> {
    audit_events::table
        .order(audit_events::id)
        .select((
            audit_events::action,
            audit_events::target_label,
            audit_events::summary,
        ))
        .load(&mut app.conn())
        .unwrap()
}

fn last_audit(app: &TestApp) -> (String, String, String) {
    audit_log(app).pop().unwrap()
}

fn user_count(app: &TestApp) -> i64 {
    users::table.count().get_result(&mut app.conn()).unwrap()
}

/// Gives dana a custom "Manager" role holding only the user-management permissions.
fn make_dana_a_manager(app: &TestApp) {
    let permissions = [Permission::UsersView, Permission::UsersManage];
    give_role(app, "dana", "Manager", &permissions);
}

/// Gives dana a custom "Deputy" role holding every permission (but not the Supervisor role).
fn make_dana_a_deputy(app: &TestApp) {
    give_role(app, "dana", "Deputy", &Permission::ALL);
}

async fn supervisors_add_users_who_must_change_their_password(app: TestApp) {
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    let form = sofia.get("/users/new").await;
    form.assert_status(200).assert_contains("WhatsApp Sales");
    let (agent, whatsapp, telegram) = (
        role_id(&app, "DEMO", "Agent").to_string(),
        channel_id(&app, "WhatsApp Sales").to_string(),
        channel_id(&app, "Telegram").to_string(),
    );
    // the demo's unassigned queue on her two channels, which comes to her as she joins them
    let queued: Vec<i64> = conversations::table
        .filter(conversations::assignee_id.is_null())
        .filter(conversations::status.eq("open"))
        .filter(conversations::channel_id.eq_any([
            whatsapp.parse::<i64>().unwrap(),
            telegram.parse::<i64>().unwrap(),
        ]))
        .order(conversations::id)
        .select(conversations::id)
        .load(&mut app.conn())
        .unwrap();
    assert!(!queued.is_empty() && queued.len() < 25, "{queued:?}");
    let page = sofia
        .post(
            "/users",
            &[
                ("username", "Erin.K"),
                ("display_name", "Erin Kowalski"),
                ("email", "erin@demo.example"),
                ("phone", "+48 601 234 567"),
                ("role_id", &agent),
                ("channel_ids", &whatsapp),
                ("channel_ids", &telegram),
                ("password", "Spruce-Lantern-Otter-62"),
            ],
        )
        .await;
    page.assert_status(303);
    let erin = id_of(&app, "DEMO", "erin.k");
    assert_eq!(page.location(), Some(format!("/users/{erin}").as_str()));
    sofia
        .get(&format!("/users/{erin}"))
        .await
        .assert_status(200)
        .assert_contains("Erin Kowalski was added")
        .assert_contains("Telegram, WhatsApp Sales");
    let memberships: i64 = channel_members::table
        .filter(channel_members::user_id.eq(erin))
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(memberships, 2);
    let log = audit_log(&app);
    let tail: Vec<&str> = log[log.len() - 3..]
        .iter()
        .map(|(a, _, _)| a.as_str())
        .collect();
    assert_eq!(tail, ["user.create", "assignment.add", "assignment.add"]);
    assert!(
        log.iter()
            .all(|(_, _, summary)| !summary.contains("Spruce"))
    );

    // the new agent is made to change the password first, then works
    let mut erin_client = app.client();
    erin_client
        .login("DEMO", "erin.k", "Spruce-Lantern-Otter-62")
        .await
        .assert_status(303);
    let page = erin_client.get("/conversations").await;
    assert_eq!(page.location(), Some("/account"));
    erin_client
        .get("/account")
        .await
        .assert_contains("Choose a new password");
    erin_client
        .post(
            "/account/password",
            &[
                ("current_password", "Spruce-Lantern-Otter-62"),
                ("new_password", "Walnut-Harbor-Fjord-17"),
                ("confirm_password", "Walnut-Harbor-Fjord-17"),
            ],
        )
        .await
        .assert_status(303);
    // online by default and an agent: as she joined, the queue of her channels moved to
    // whoever had room (her among them: she had none open)
    let still_queued: i64 = conversations::table
        .filter(conversations::id.eq_any(&queued))
        .filter(conversations::assignee_id.is_null())
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(still_queued, 0);
    let hers: Vec<i64> = conversations::table
        .filter(conversations::assignee_id.eq(erin))
        .select(conversations::id)
        .load(&mut app.conn())
        .unwrap();
    assert!(!hers.is_empty() && hers.iter().all(|id| queued.contains(id)));
    let page = erin_client.get("/conversations").await;
    page.assert_status(200);
    for id in &hers {
        page.assert_contains(&format!("/conversations/{id}\""));
    }
}

async fn bad_input_to_add_user_is_422_and_saves_nothing(app: TestApp) {
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    // the policy is stated before anyone types
    sofia.get("/users/new").await.assert_contains(
        "At least 12 characters, with an upper-case letter, a lower-case letter, a digit and a symbol",
    );
    // every field is judged in one round: a bad username does not hide a weak password
    let agent_role = role_id(&app, "DEMO", "Agent").to_string();
    let page = sofia
        .post(
            "/users",
            &[
                ("username", "bad name!"),
                ("email", "not-an-address"),
                ("role_id", &agent_role),
                ("password", "short"),
            ],
        )
        .await;
    page.assert_status(422)
        .assert_contains("A username is 3 to 32")
        .assert_contains("Use at least 12 characters")
        .assert_contains(
            r#"<div id="username-error"><p class="field-error">A username is 3 to 32"#,
        );
    // each of the three fields is marked and names its message
    assert_eq!(page.invalid_controls_point_to_their_messages(), 3);
    page.assert_contains(r#"name="email" type="email" value="not-an-address" maxlength="254" aria-invalid="true" aria-describedby="email-error""#);
    // a refused password is not offered again; an accepted one is, so only the mistake is
    // typed again
    page.assert_lacks(r#"value="short""#);
    sofia
        .post(
            "/users",
            &[
                ("username", "alice"),
                ("role_id", &agent_role),
                ("password", "Spruce-Lantern-Otter-62"),
            ],
        )
        .await
        .assert_status(422)
        .assert_contains(r#"name="password" type="password" value="Spruce-Lantern-Otter-62""#);
    let agent = role_id(&app, "DEMO", "Agent").to_string();
    let acme_role = role_id(&app, "ACME", "Agent").to_string();
    let acme_channel = channel_id(&app, "Acme WhatsApp").to_string();
    let good = "Spruce-Lantern-Otter-62";
    let cases: [(&[(&str, &str)], &str); 11] = [
        (
            &[("username", ""), ("role_id", &agent), ("password", good)],
            "A username is 3 to 32",
        ),
        (
            &[
                ("username", "bad name!"),
                ("role_id", &agent),
                ("password", good),
            ],
            "A username is 3 to 32",
        ),
        (
            &[
                ("username", "alice"),
                ("role_id", &agent),
                ("password", good),
            ],
            "already taken",
        ),
        (
            &[
                ("username", "newbie"),
                ("email", "not-an-email"),
                ("role_id", &agent),
                ("password", good),
            ],
            "Enter an email address",
        ),
        (
            &[
                ("username", "newbie"),
                ("phone", "call me"),
                ("role_id", &agent),
                ("password", good),
            ],
            "Enter a phone number",
        ),
        (
            &[
                ("username", "newbie"),
                ("role_id", "abc"),
                ("password", good),
            ],
            "Choose one of the company",
        ),
        (
            &[
                ("username", "newbie"),
                ("role_id", &acme_role),
                ("password", good),
            ],
            "Choose one of the company",
        ),
        (
            &[
                ("username", "newbie"),
                ("role_id", &agent),
                ("channel_ids", &acme_channel),
                ("password", good),
            ],
            "channels of this company only",
        ),
        (
            &[
                ("username", "newbie"),
                ("role_id", &agent),
                ("channel_ids", "x"),
                ("password", good),
            ],
            "channels of this company only",
        ),
        (
            &[
                ("username", "newbie"),
                ("role_id", &agent),
                ("password", "short"),
            ],
            "at least 12",
        ),
        (
            &[
                ("username", "newbie"),
                ("display_name", &"n".repeat(101)),
                ("role_id", &agent),
                ("password", good),
            ],
            "at most 100",
        ),
    ];
    let users_before = user_count(&app);
    let audit_before = audit_log(&app).len();
    for (fields, message) in cases {
        let page = sofia.post("/users", fields).await;
        page.assert_status(422)
            .assert_contains(message)
            .assert_contains("id=\"new-user-form\"");
    }
    assert_eq!(user_count(&app), users_before);
    assert_eq!(audit_log(&app).len(), audit_before);
}

async fn agents_cannot_manage_users(app: TestApp) {
    let bob = id_of(&app, "DEMO", "bob");
    let mut alice = app.signed_in("DEMO", "alice").await;
    alice.get("/account").await;
    let agent = role_id(&app, "DEMO", "Agent").to_string();
    let attempts: Vec<(String, Vec<(&str, &str)>)> = vec![
        (
            "/users".into(),
            vec![
                ("username", "sneaky"),
                ("role_id", &agent),
                ("password", "Spruce-Lantern-Otter-62"),
            ],
        ),
        (format!("/users/{bob}"), vec![("display_name", "Hacked")]),
        (format!("/users/{bob}/role"), vec![("role_id", "1")]),
        (format!("/users/{bob}/deactivate"), vec![]),
        (format!("/users/{bob}/reset-password"), vec![]),
        (format!("/users/{bob}/unlock"), vec![]),
        (format!("/users/{bob}/offboard/channels"), vec![]),
        (format!("/users/{bob}/delete"), vec![]),
        ("/settings".into(), vec![("password_min_length", "8")]),
    ];
    let audit_before = audit_log(&app).len();
    for (path, fields) in attempts {
        alice.post(&path, &fields).await.assert_status(403);
    }
    for path in ["/users/new", &format!("/users/{bob}/offboard"), "/settings"] {
        alice.get(path).await.assert_status(403);
    }
    // nothing changed: the only new record is the first refusal, naming alice; all twelve
    // are counted for the window's summary
    let log = audit_log(&app);
    let new: Vec<&(String, String, String)> = log[audit_before..].iter().collect();
    assert_eq!(new.len(), 1);
    assert!(
        new.iter()
            .all(|(action, _, summary)| action == "access.denied"
                && summary.starts_with("alice was refused"))
    );
    let counted: i64 = refusal_windows::table
        .filter(refusal_windows::label.eq("alice"))
        .select(refusal_windows::refusals)
        .first(&mut app.conn())
        .unwrap();
    assert_eq!(counted, 12);
    app.client()
        .login("DEMO", "bob", PASSWORD)
        .await
        .assert_status(303);
}

async fn profiles_are_edited_with_specific_errors(app: TestApp) {
    let bob = id_of(&app, "DEMO", "bob");
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    sofia
        .get(&format!("/users/{bob}"))
        .await
        .assert_status(200)
        .assert_contains("Effective access");
    sofia
        .post(
            &format!("/users/{bob}"),
            &[("display_name", ""), ("email", "bob@"), ("phone", "12")],
        )
        .await
        .assert_status(422)
        .assert_contains("Enter a name.")
        .assert_contains("Enter an email address")
        .assert_contains("Enter a phone number");
    sofia
        .post(
            &format!("/users/{bob}"),
            &[
                ("display_name", "Robert Tanaka"),
                ("email", "robert@demo.example"),
                ("phone", "+81 90 1234 5678"),
            ],
        )
        .await
        .assert_status(303);
    let (name, email): (String, Option<String>) = users::table
        .find(bob)
        .select((users::display_name, users::email))
        .first(&mut app.conn())
        .unwrap();
    assert_eq!(
        (name.as_str(), email.as_deref()),
        ("Robert Tanaka", Some("robert@demo.example"))
    );
    let (action, target, summary) = last_audit(&app);
    assert_eq!((action.as_str(), target.as_str()), ("user.update", "bob"));
    assert!(
        summary.contains("email") && !summary.contains("robert@"),
        "{summary}"
    );
}

async fn role_changes_apply_at_once_and_cannot_escalate(app: TestApp) {
    let (bob, sofia_id) = (id_of(&app, "DEMO", "bob"), id_of(&app, "DEMO", "sofia"));
    let mut bob_client = app.signed_in("DEMO", "bob").await;
    bob_client.get("/users").await.assert_status(403);
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    sofia.get("/users").await;
    let supervisor = role_id(&app, "DEMO", "Supervisor").to_string();
    sofia
        .post(&format!("/users/{bob}/role"), &[("role_id", &supervisor)])
        .await
        .assert_status(303);
    // bob's open session has the new role on its next request
    bob_client.get("/users").await.assert_status(200);
    let (action, _, summary) = last_audit(&app);
    assert_eq!(action, "user.role_change");
    assert!(summary.contains("from Agent to Supervisor"));
    // a foreign or malformed role is a field error
    let acme_role = role_id(&app, "ACME", "Supervisor").to_string();
    sofia
        .post(&format!("/users/{bob}/role"), &[("role_id", &acme_role)])
        .await
        .assert_status(422)
        .assert_contains("Choose one of the company");
    sofia
        .post(&format!("/users/{bob}/role"), &[("role_id", "x")])
        .await
        .assert_status(422);
    // nobody changes their own role
    let agent = role_id(&app, "DEMO", "Agent").to_string();
    sofia
        .post(&format!("/users/{sofia_id}/role"), &[("role_id", &agent)])
        .await
        .assert_status(409);

    // a manager who holds only user permissions cannot hand out more than they hold
    make_dana_a_manager(&app);
    let alice = id_of(&app, "DEMO", "alice");
    let mut dana = app.signed_in("DEMO", "dana").await;
    dana.get("/users").await.assert_status(200);
    dana.post(&format!("/users/{alice}/role"), &[("role_id", &supervisor)])
        .await
        .assert_status(403);
    dana.post(
        "/users",
        &[
            ("username", "minion"),
            ("role_id", &supervisor),
            ("password", "Spruce-Lantern-Otter-62"),
        ],
    )
    .await
    .assert_status(403);
    assert!(
        domain::users::find_by_username(&mut app.conn(), company_id(&app, "DEMO"), "minion")
            .unwrap()
            .is_none()
    );
    let alice_role: i64 = users::table
        .find(alice)
        .select(users::role_id)
        .first(&mut app.conn())
        .unwrap();
    assert_eq!(alice_role, role_id(&app, "DEMO", "Agent"));
}

async fn the_last_supervisor_stays(app: TestApp) {
    let (sam, sofia_id) = (id_of(&app, "DEMO", "sam"), id_of(&app, "DEMO", "sofia"));
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    sofia
        .get("/users")
        .await
        .assert_lacks("only one active supervisor");
    sofia
        .post(&format!("/users/{sam}/deactivate"), &[])
        .await
        .assert_status(303);
    sofia
        .get("/users")
        .await
        .assert_contains("only one active supervisor");
    sofia
        .get(&format!("/users/{sofia_id}"))
        .await
        .assert_contains("only active supervisor");
    sofia
        .post(&format!("/users/{sofia_id}/deactivate"), &[])
        .await
        .assert_status(409);

    // a deputy holds every permission without the Supervisor role: the rule still holds
    make_dana_a_deputy(&app);
    let manager = role_id(&app, "DEMO", "Deputy").to_string();
    let mut dana = app.signed_in("DEMO", "dana").await;
    dana.get("/users").await;
    let audit_before = audit_log(&app).len();
    dana.post(&format!("/users/{sofia_id}/deactivate"), &[])
        .await
        .assert_status(409)
        .assert_contains("last active supervisor");
    dana.post(&format!("/users/{sofia_id}/role"), &[("role_id", &manager)])
        .await
        .assert_status(409);
    dana.post(&format!("/users/{sofia_id}/delete"), &[])
        .await
        .assert_status(409)
        .assert_contains("last active supervisor");
    assert_eq!(audit_log(&app).len(), audit_before);
    let status: String = users::table
        .find(sofia_id)
        .select(users::status)
        .first(&mut app.conn())
        .unwrap();
    assert_eq!(status, "active");
    // with sam back, sofia is no longer the last one
    sofia
        .post(&format!("/users/{sam}/reactivate"), &[])
        .await
        .assert_status(303);
    dana.post(&format!("/users/{sofia_id}/role"), &[("role_id", &manager)])
        .await
        .assert_status(303);
}

/// Who may act on whom: a role holding only `users.manage` can act on nobody whose role holds
/// more (a Supervisor, even an Agent); each attempt is 403, changes nothing and is recorded.
async fn managers_cannot_act_on_users_who_hold_more(app: TestApp) {
    make_dana_a_manager(&app);
    let sofia = id_of(&app, "DEMO", "sofia");
    let before: (Option<String>, String, i64, Option<String>) = users::table
        .find(sofia)
        .select((
            users::password_hash,
            users::status,
            users::role_id,
            users::email,
        ))
        .first(&mut app.conn())
        .unwrap();
    let channels_before = member_channels(&app, sofia);
    let audit_before = audit_log(&app).len();
    let mut dana = app.signed_in("DEMO", "dana").await;
    dana.get("/users").await.assert_status(200);
    let agent = role_id(&app, "DEMO", "Agent").to_string();
    let attempts: [(&str, Vec<(&str, &str)>); 10] = [
        ("reset-password", vec![]),
        ("deactivate", vec![]),
        ("reactivate", vec![]),
        ("unlock", vec![]),
        ("role", vec![("role_id", agent.as_str())]),
        (
            "",
            vec![
                ("display_name", "Sofia"),
                ("email", "dana@evil.example"),
                ("phone", ""),
            ],
        ),
        ("offboard/transfer", vec![("assignee_id", "1")]),
        ("offboard/channels", vec![]),
        ("delete", vec![]),
        ("reset-password", vec![]),
    ];
    for (action, fields) in &attempts {
        let path = if action.is_empty() {
            format!("/users/{sofia}")
        } else {
            format!("/users/{sofia}/{action}")
        };
        let page = dana.post(&path, fields).await;
        page.assert_status(403).assert_lacks("Tmp-");
    }
    let after: (Option<String>, String, i64, Option<String>) = users::table
        .find(sofia)
        .select((
            users::password_hash,
            users::status,
            users::role_id,
            users::email,
        ))
        .first(&mut app.conn())
        .unwrap();
    assert_eq!(after, before, "nothing about sofia changed");
    assert_eq!(member_channels(&app, sofia), channels_before);
    // the first refusal is in the activity log at once, the others are counted for the
    // window's summary; nothing else was written
    let written: Vec<(String, String, String)> = audit_log(&app).split_off(audit_before);
    assert_eq!(written.len(), 1, "{written:?}");
    let (action, label, summary) = &written[0];
    assert_eq!(action, "access.denied");
    assert_eq!(label, &format!("POST /users/{sofia}/reset-password"));
    assert!(summary.starts_with("dana was refused"), "{summary}");
    let counted: i64 = refusal_windows::table
        .filter(refusal_windows::label.eq("dana"))
        .select(refusal_windows::refusals)
        .first(&mut app.conn())
        .unwrap();
    assert_eq!(counted, attempts.len() as i64);
    // an Agent's role holds conversation permissions dana lacks: refused too
    let alice = id_of(&app, "DEMO", "alice");
    dana.post(&format!("/users/{alice}/reset-password"), &[])
        .await
        .assert_status(403);
    // a supervisor still acts on everyone
    let mut sam = app.signed_in("DEMO", "sam").await;
    sam.get("/users").await;
    sam.post(&format!("/users/{alice}/reset-password"), &[])
        .await
        .assert_status(200)
        .assert_contains("Tmp-");
}

/// Ending another user's sessions follows the same rule, and so does the assignment matrix
/// for oneself: a holder of `channels.assign` may not add themselves to a channel.
async fn session_managers_and_assigners_stay_within_their_rights(app: TestApp) {
    give_role(
        &app,
        "dana",
        "Session keeper",
        &[Permission::SessionsManage, Permission::ChannelsAssign],
    );
    let sofia = id_of(&app, "DEMO", "sofia");
    let dana_id = id_of(&app, "DEMO", "dana");
    let _sofia_client = app.signed_in("DEMO", "sofia").await;
    let live = |app: &TestApp| -> i64 {
        sessions::table
            .filter(sessions::user_id.eq(sofia))
            .filter(sessions::revoked_at.is_null())
            .count()
            .get_result(&mut app.conn())
            .unwrap()
    };
    let live_before = live(&app);
    assert!(live_before > 0);
    let mut dana = app.signed_in("DEMO", "dana").await;
    dana.get("/sessions").await.assert_status(200);
    dana.post("/sessions/revoke-user", &[("user_id", &sofia.to_string())])
        .await
        .assert_status(403);
    let session: i64 = sessions::table
        .filter(sessions::user_id.eq(sofia))
        .filter(sessions::revoked_at.is_null())
        .select(sessions::id)
        .first(&mut app.conn())
        .unwrap();
    dana.post(&format!("/sessions/{session}/revoke"), &[])
        .await
        .assert_status(403);
    assert_eq!(live(&app), live_before, "sofia is still signed in");

    // dana may not widen her own view through the matrix, row or cell
    let whatsapp = channel_id(&app, "WhatsApp Sales").to_string();
    dana.post(
        "/assignments",
        &[
            ("user_id", &dana_id.to_string()),
            ("channel_id", &whatsapp),
            ("assigned", "true"),
        ],
    )
    .await
    .assert_status(403);
    dana.post(
        "/assignments/bulk",
        &[("user_id", &dana_id.to_string()), ("channels", "all")],
    )
    .await
    .assert_status(403);
    assert!(member_channels(&app, dana_id).is_empty());
    // and still assigns others
    let carl = id_of(&app, "DEMO", "carl").to_string();
    dana.post(
        "/assignments",
        &[
            ("user_id", &carl),
            ("channel_id", &whatsapp),
            ("assigned", "true"),
        ],
    )
    .await
    .assert_status(303);
}

fn member_channels(app: &TestApp, user: i64) -> Vec<i64> {
    channel_members::table
        .filter(channel_members::user_id.eq(user))
        .select(channel_members::channel_id)
        .order(channel_members::channel_id)
        .load(&mut app.conn())
        .unwrap()
}

async fn deactivation_and_reactivation(app: TestApp) {
    let bob = id_of(&app, "DEMO", "bob");
    let mut bob_client = app.signed_in("DEMO", "bob").await;
    bob_client.get("/conversations").await.assert_status(200);
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    sofia.get("/users").await;
    sofia
        .post(&format!("/users/{bob}/deactivate"), &[])
        .await
        .assert_status(303);
    bob_client.get("/conversations").await.assert_status(303);
    app.client()
        .login("DEMO", "bob", PASSWORD)
        .await
        .assert_status(401);
    let (action, _, summary) = last_audit(&app);
    assert_eq!(action, "user.deactivate");
    assert!(summary.contains("1 session ended"), "{summary}");
    sofia
        .get("/users?status=deactivated")
        .await
        .assert_contains("Bob Tanaka")
        .assert_contains("Carl Jensen")
        .assert_lacks("Alice Moreau");
    sofia
        .post(&format!("/users/{bob}/reactivate"), &[])
        .await
        .assert_status(303);
    assert_eq!(last_audit(&app).0, "user.reactivate");
    app.client()
        .login("DEMO", "bob", PASSWORD)
        .await
        .assert_status(303);
}

async fn password_resets_show_a_temporary_password_once(app: TestApp) {
    let bob = id_of(&app, "DEMO", "bob");
    let mut bob_client = app.signed_in("DEMO", "bob").await;
    bob_client.get("/conversations").await.assert_status(200);
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    sofia.get(&format!("/users/{bob}")).await;
    let page = sofia
        .post(&format!("/users/{bob}/reset-password"), &[])
        .await;
    page.assert_status(200).assert_contains("shown only now");
    let marker = "id=\"temporary-password\">";
    let start = page.body.find(marker).unwrap() + marker.len();
    let temporary = page.body[start..start + page.body[start..].find('<').unwrap()].to_string();
    assert!(temporary.len() >= 20);
    bob_client.get("/conversations").await.assert_status(303);
    app.client()
        .login("DEMO", "bob", PASSWORD)
        .await
        .assert_status(401);
    let mut bob_again = app.client();
    bob_again
        .login("DEMO", "bob", &temporary)
        .await
        .assert_status(303);
    assert_eq!(
        bob_again.get("/conversations").await.location(),
        Some("/account")
    );
    // the temporary password is in no record
    assert!(
        audit_log(&app)
            .iter()
            .all(|(_, _, s)| !s.contains(&temporary))
    );
    assert_eq!(last_audit(&app).0, "user.password_reset");
    sofia
        .get(&format!("/users/{bob}"))
        .await
        .assert_lacks(&temporary);
}

async fn locked_accounts_are_unlocked_by_a_supervisor(app: TestApp) {
    let bob = id_of(&app, "DEMO", "bob");
    for _ in 0..10 {
        app.client()
            .login("DEMO", "bob", "not-the-password")
            .await
            .assert_status(401);
    }
    // locked: even the right password is refused the same way
    app.client()
        .login("DEMO", "bob", PASSWORD)
        .await
        .assert_status(401)
        .assert_contains("did not match");
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    sofia
        .get("/users?status=locked")
        .await
        .assert_contains("Bob Tanaka")
        .assert_lacks("Alice Moreau");
    sofia
        .get(&format!("/users/{bob}"))
        .await
        .assert_contains("id=\"unlock\"");
    sofia
        .post(&format!("/users/{bob}/unlock"), &[])
        .await
        .assert_status(303);
    assert_eq!(last_audit(&app).0, "user.unlock");
    app.client()
        .login("DEMO", "bob", PASSWORD)
        .await
        .assert_status(303);
}

async fn delete_is_refused_until_offboarding_is_done(app: TestApp) {
    let (bob, alice, sam) = (
        id_of(&app, "DEMO", "bob"),
        id_of(&app, "DEMO", "alice"),
        id_of(&app, "DEMO", "sam"),
    );
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    sofia
        .get(&format!("/users/{bob}/offboard"))
        .await
        .assert_status(200)
        .assert_contains("Transfer 12 open conversations");
    let audit_before = audit_log(&app).len();
    let page = sofia.post(&format!("/users/{bob}/delete"), &[]).await;
    page.assert_status(409)
        .assert_contains("Transfer 12 open conversations")
        .assert_contains("Remove the user from 3 channels");
    assert_eq!(audit_log(&app).len(), audit_before);
    // alice is not on Telegram or SMS: she cannot take bob's conversations
    sofia
        .post(
            &format!("/users/{bob}/offboard/transfer"),
            &[("assignee_id", &alice.to_string())],
        )
        .await
        .assert_status(422)
        .assert_contains("member of every channel");
    sofia
        .post(
            &format!("/users/{bob}/offboard/transfer"),
            &[("assignee_id", &sam.to_string())],
        )
        .await
        .assert_status(303);
    let moved: i64 = conversations::table
        .filter(conversations::assignee_id.eq(sam))
        .filter(conversations::status.eq("open"))
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(moved, 12);
    assert!(
        last_audit(&app)
            .2
            .contains("12 open conversations of bob transferred to sam")
    );
    sofia
        .post(&format!("/users/{bob}/delete"), &[])
        .await
        .assert_status(409)
        .assert_contains("Remove the user from 3 channels");
    sofia
        .post(&format!("/users/{bob}/offboard/channels"), &[])
        .await
        .assert_status(303);
    sofia
        .get(&format!("/users/{bob}/offboard"))
        .await
        .assert_contains("Nothing blocks deleting");
    sofia
        .post(&format!("/users/{bob}/delete"), &[])
        .await
        .assert_status(303);
    assert_eq!(last_audit(&app).0, "user.delete");

    // access is gone, personal data erased, the name stays in history
    app.client()
        .login("DEMO", "bob", PASSWORD)
        .await
        .assert_status(401);
    sofia.get(&format!("/users/{bob}")).await.assert_status(404);
    sofia.get("/users").await.assert_lacks("Bob Tanaka");
    let (status, email, hash): (String, Option<String>, Option<String>) = users::table
        .find(bob)
        .select((users::status, users::email, users::password_hash))
        .first(&mut app.conn())
        .unwrap();
    assert_eq!((status.as_str(), email, hash), ("deleted", None, None));
    let closed_of_bob: i64 = conversations::table
        .filter(conversations::assignee_id.eq(bob))
        .select(conversations::id)
        .first(&mut app.conn())
        .unwrap();
    sofia
        .get(&format!("/conversations/{closed_of_bob}"))
        .await
        .assert_status(200)
        .assert_contains("Bob Tanaka");
    let authored: i64 = messages::table
        .filter(messages::author_id.eq(bob))
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert!(authored > 0);
    assert!(audit_log(&app).iter().any(|(_, target, _)| target == "bob"));

    // call tasks cannot be reassigned: sam must complete his first
    sofia
        .post(&format!("/users/{sam}/offboard/channels"), &[])
        .await
        .assert_status(303);
    let page = sofia.post(&format!("/users/{sam}/delete"), &[]).await;
    page.assert_status(409).assert_contains("open call task");
}

/// What the settings page sets is what the product does: the idle timeout, the session
/// lifetime, the lockout threshold and the missed-chat minutes, each observed where it acts.
async fn company_settings_take_effect(app: TestApp) {
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    sofia.get("/settings").await;
    let settings = [
        ("password_min_length", "12"),
        ("password_require_upper", "on"),
        ("password_require_lower", "on"),
        ("password_require_digit", "on"),
        ("password_require_symbol", "on"),
        ("password_min_score", "3"),
        ("password_max_age_days", "0"),
        ("idle_timeout_minutes", "5"),
        ("session_lifetime_hours", "2"),
        ("lockout_threshold", "3"),
        ("end_session_on_client_change", "on"),
        ("reveal_daily_cap", "10"),
        ("missed_chat_minutes", "240"),
    ];
    sofia.post("/settings", &settings).await.assert_status(303);

    // session lifetime: a new session lives 2 hours
    let mut alice = app.signed_in("DEMO", "alice").await;
    alice.get("/account").await.assert_status(200);
    let alice_id = id_of(&app, "DEMO", "alice");
    let (created, expires): (chrono::NaiveDateTime, chrono::NaiveDateTime) = sessions::table
        .filter(sessions::user_id.eq(alice_id))
        .filter(sessions::revoked_at.is_null())
        .select((sessions::created_at, sessions::expires_at))
        .first(&mut app.conn())
        .unwrap();
    assert_eq!(expires - created, chrono::Duration::hours(2));

    // idle timeout: 4 idle minutes are fine, 5 end the session
    app.clock().stop();
    app.clock().advance(chrono::TimeDelta::minutes(4));
    alice.get("/account").await.assert_status(200);
    app.clock().advance(chrono::TimeDelta::minutes(5));
    alice.get("/account").await.assert_status(303);

    // lockout threshold: the third wrong password locks bob
    for _ in 0..3 {
        app.client()
            .login("DEMO", "bob", "Wrong-Password-99")
            .await
            .assert_status(401);
    }
    let locked: Option<chrono::NaiveDateTime> = users::table
        .find(id_of(&app, "DEMO", "bob"))
        .select(users::locked_until)
        .first(&mut app.conn())
        .unwrap();
    assert!(
        locked.is_some_and(|until| until > app.clock().now()),
        "bob is not locked"
    );

    // missed chats: waiting longer than 240 minutes, not merely longer than the default 15
    let demo = company_id(&app, "DEMO");
    let waiting: Vec<(i64, chrono::NaiveDateTime)> = conversations::table
        .filter(conversations::company_id.eq(demo))
        .filter(conversations::status.eq("open"))
        .filter(conversations::awaiting_reply_since.is_not_null())
        .select((
            conversations::id,
            conversations::awaiting_reply_since.assume_not_null(),
        ))
        .load(&mut app.conn())
        .unwrap();
    let cutoff = app.clock().now() - chrono::Duration::minutes(240);
    let expected = waiting.iter().filter(|(_, since)| *since < cutoff).count();
    // sofia's session has idled out with the clock moved above
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    let page = sofia.get("/conversations?missed=1").await;
    page.assert_status(200);
    let shown = page.body.matches("<tr>").count().saturating_sub(1);
    assert_eq!(shown, expected, "missed chats by the company's 240 minutes");
    assert!(
        expected < waiting.len(),
        "the demo has chats waiting less than 240 minutes"
    );
}

async fn settings_are_validated_and_applied(app: TestApp) {
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    // each number's range is stated before anyone types, as the form checks it
    sofia
        .get("/settings")
        .await
        .assert_status(200)
        .assert_contains("value=\"12\"")
        .assert_contains("Minimum length (8 to 128) <input")
        .assert_contains("Idle timeout in minutes (1 to 1,440) <input")
        .assert_contains("counts as missed (1 to 10,080) <input")
        .assert_contains("Days between access reviews (7 to 730) <input");
    let bad = [
        ("password_min_length", "5"),
        ("password_min_score", "7"),
        ("password_max_age_days", "-1"),
        ("idle_timeout_minutes", "abc"),
        ("session_lifetime_hours", "12"),
        ("lockout_threshold", "10"),
    ];
    let audit_before = audit_log(&app).len();
    sofia
        .post("/settings", &bad)
        .await
        .assert_status(422)
        .assert_contains("Minimum length must be a whole number from 8 to 128")
        .assert_contains("Strength score must be")
        .assert_contains("Maximum age must be")
        .assert_contains("Idle timeout must be");
    assert_eq!(audit_log(&app).len(), audit_before);
    let good = [
        ("password_min_length", "16"),
        ("password_require_upper", "on"),
        ("password_require_lower", "on"),
        ("password_require_digit", "on"),
        ("password_min_score", "3"),
        ("password_max_age_days", "90"),
        ("idle_timeout_minutes", "15"),
        ("session_lifetime_hours", "8"),
        ("lockout_threshold", "5"),
        ("end_session_on_client_change", "on"),
        ("reveal_daily_cap", "10"),
        ("missed_chat_minutes", "15"),
    ];
    sofia.post("/settings", &good).await.assert_status(303);
    let (action, _, summary) = last_audit(&app);
    assert_eq!(action, "settings.update");
    // the record says what changed, before → after, and nothing else
    for change in [
        "minimum length 12 → 16",
        "idle timeout 30 → 15 min",
        "session lifetime 12 → 8 h",
    ] {
        assert!(summary.contains(change), "{change} missing from: {summary}");
    }
    assert!(!summary.contains("phone region"), "{summary}");
    // saving the same values again changes nothing, so nothing is recorded
    let records = audit_log(&app).len();
    sofia.post("/settings", &good).await.assert_status(303);
    assert_eq!(audit_log(&app).len(), records);
    let company = domain::companies::get(&mut app.conn(), company_id(&app, "DEMO")).unwrap();
    assert_eq!(
        (
            company.password_min_length,
            company.password_require_symbol,
            company.idle_timeout_minutes
        ),
        (16, false, 15)
    );
    // the policy applies to new users at once: 16 characters now, symbols optional
    let agent = role_id(&app, "DEMO", "Agent").to_string();
    sofia.get("/users/new").await;
    sofia
        .post(
            "/users",
            &[
                ("username", "newbie"),
                ("role_id", &agent),
                ("password", "Spruce-Otter-62"),
            ],
        )
        .await
        .assert_status(422)
        .assert_contains("at least 16");
    sofia
        .post(
            "/users",
            &[
                ("username", "newbie"),
                ("role_id", &agent),
                ("password", "SpruceLanternOtter62"),
            ],
        )
        .await
        .assert_status(303);
}

async fn expired_passwords_must_be_changed(app: TestApp) {
    use switchboard::db::schema::companies;
    let alice = id_of(&app, "DEMO", "alice");
    app.clock().stop();
    let start = app.clock().now();
    let set_max_age = |days: i32| {
        diesel::update(companies::table.filter(companies::code.eq("DEMO")))
            .set(companies::password_max_age_days.eq(days))
            .execute(&mut app.conn())
            .unwrap();
        app.wait_for_change_elsewhere();
    };
    // a company without a maximum age (0): a ten-year-old password is still good
    set_max_age(0);
    diesel::update(users::table.find(alice))
        .set(users::password_changed_at.eq(start - chrono::Duration::days(3650)))
        .execute(&mut app.conn())
        .unwrap();
    let mut client = app.signed_in("DEMO", "alice").await;
    client.get("/conversations").await.assert_status(200);
    // 30 days: a password changed exactly 30 days ago is good until this instant passes
    set_max_age(30);
    // the change is seen once the clock has moved on by the session cache's freshness
    let fresh = chrono::TimeDelta::from_std(switchboard::auth::session_cache::FRESH_FOR).unwrap();
    let boundary = app.clock().now() + fresh;
    diesel::update(users::table.find(alice))
        .set(users::password_changed_at.eq(boundary - chrono::Duration::days(30)))
        .execute(&mut app.conn())
        .unwrap();
    app.wait_for_change_elsewhere();
    assert_eq!(app.clock().now(), boundary);
    client.get("/conversations").await.assert_status(200);
    app.clock().advance(chrono::TimeDelta::seconds(1));
    assert_eq!(
        client.get("/conversations").await.location(),
        Some("/account")
    );
    client
        .get("/account")
        .await
        .assert_contains("Your password has expired");
}

async fn other_companies_users_are_not_found(app: TestApp) {
    let olga = id_of(&app, "ACME", "olga");
    let acme_alice = id_of(&app, "ACME", "alice");
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    sofia.get("/users").await;
    for path in [
        format!("/users/{olga}"),
        format!("/users/{olga}/offboard"),
        "/users/999999".into(),
    ] {
        sofia.get(&path).await.assert_status(404);
    }
    for path in [
        format!("/users/{acme_alice}/deactivate"),
        format!("/users/{acme_alice}/reset-password"),
        format!("/users/{acme_alice}/delete"),
        format!("/users/{acme_alice}/offboard/channels"),
    ] {
        sofia.post(&path, &[]).await.assert_status(404);
    }
    sofia
        .post(&format!("/users/{acme_alice}"), &[("display_name", "X")])
        .await
        .assert_status(404);
    app.client()
        .login("ACME", "alice", PASSWORD)
        .await
        .assert_status(303);
    let members: i64 = channel_members::table
        .filter(channel_members::user_id.eq(acme_alice))
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(members, 1);
}

async fn the_team_list_filters_and_pages(app: TestApp) {
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    sofia
        .get("/users?q=ali")
        .await
        .assert_contains("Alice Moreau")
        .assert_lacks("Bob Tanaka");
    sofia
        .get("/users?q=tanaka")
        .await
        .assert_contains("Bob Tanaka")
        .assert_lacks("Alice Moreau");
    // any case, on both databases; LIKE's wildcards are taken literally
    sofia
        .get("/users?q=BOB+TAN")
        .await
        .assert_contains("Bob Tanaka");
    sofia.get("/users?q=%25").await.assert_lacks("Bob Tanaka");
    // letters of case beyond ASCII, in either case (SQLite's lower() folds ASCII letters only)
    diesel::update(users::table.filter(users::username.eq("dana")))
        .set(users::display_name.eq("Dana Çelik-Орлова"))
        .execute(&mut app.conn())
        .unwrap();
    for q in [
        "%C3%A7el",
        "%C3%87EL",
        "%D0%BE%D1%80%D0%BB",
        "%D0%9E%D0%A0%D0%9B%D0%9E%D0%92%D0%90",
    ] {
        sofia
            .get(&format!("/users?q={q}"))
            .await
            .assert_contains("Dana Çelik-Орлова")
            .assert_lacks("Bob Tanaka");
    }
    let supervisor = role_id(&app, "DEMO", "Supervisor");
    sofia
        .get(&format!("/users?role={supervisor}"))
        .await
        .assert_contains("Sam Okafor")
        .assert_lacks("Bob Tanaka");
    let telegram = channel_id(&app, "Telegram");
    sofia
        .get(&format!("/users?channel={telegram}"))
        .await
        .assert_contains("Bob Tanaka")
        .assert_lacks("Alice Moreau");
    sofia.get("/users?role=abc").await.assert_status(422);

    // many users: 50 a page, keyset cursor, nothing twice
    add_agents(&app, ("temp", "Temp"), 0..60);
    let demo = company_id(&app, "DEMO");
    let agent = role_id(&app, "DEMO", "Agent");
    let at = domain::now();
    let first = sofia.get("/users").await;
    assert_eq!(first.body.matches("<tr>").count() - 1, 50);
    first.assert_contains("<p id=\"user-count\">67 users, 50 a page, by username.</p>");
    let second = sofia.get(&first.next_page().expect("a next page")).await;
    let rows = second.body.matches("<tr>").count() - 1;
    assert_eq!(50 + rows, 67);
    for n in 0..60 {
        let name = format!("Temp {n:02}");
        assert!(
            first.body.contains(&name) ^ second.body.contains(&name),
            "{name} on exactly one page"
        );
    }
    // the filters survive paging: page two of the Agents is still only Agents (the last ten
    // temps become supervisors, so a dropped filter would show them)
    diesel::update(users::table.filter(users::username.ge("temp50")))
        .set(users::role_id.eq(role_id(&app, "DEMO", "Supervisor")))
        .execute(&mut app.conn())
        .unwrap();
    let agents = sofia
        .get(&format!("/users?role={agent}&status=active"))
        .await;
    // the count is of what the filters match, counted here on its own
    let active_agents: i64 = users::table
        .filter(users::company_id.eq(demo))
        .filter(users::role_id.eq(agent))
        .filter(users::status.eq("active"))
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    agents.assert_contains(&format!(
        "<p id=\"user-count\">{active_agents} users match, 50 a page"
    ));
    let link = agents.next_page().expect("a next page");
    assert!(link.contains(&format!("role={agent}")), "{link}");
    assert!(link.contains("status=active"), "{link}");
    let page_two = sofia.get(&link).await;
    page_two.assert_status(200);
    let rows = page_two.body.matches("<tr>").count() - 1;
    assert!(rows > 0);
    assert_eq!(page_two.body.matches("<td>Agent</td>").count(), rows);
    // and the way back to the first page keeps them too
    agents.assert_lacks("id=\"first-page\"");
    let decoded = page_two.body.replace("&#38;", "&").replace("&amp;", "&");
    assert!(decoded.contains(&format!(
        "<a href=\"/users?role={agent}&status=active\" id=\"first-page\">First page</a>"
    )));

    // each order pages through everyone once, in that order (the last sign-in order worked out
    // here on its own): one temp in four signed in, two by two at the same time (a tie the id
    // breaks), the others never
    for n in (0..60).step_by(4) {
        diesel::update(users::table.filter(users::username.eq(format!("temp{n:02}"))))
            .set(users::last_login_at.eq(Some(at - chrono::TimeDelta::hours(n / 8))))
            .execute(&mut app.conn())
            .unwrap();
    }
    let mut everyone: Vec<(i64, String, Option<chrono::NaiveDateTime>)> = users::table
        .filter(users::company_id.eq(demo))
        .filter(users::status.ne("deleted"))
        .select((users::id, users::username, users::last_login_at))
        .load(&mut app.conn())
        .unwrap();
    let mut walk = async |query: &str| -> Vec<String> {
        let sort = query.split('&').next().unwrap().replace("sort=", "");
        let mut path = format!("/users?{query}");
        let mut shown = Vec::new();
        loop {
            let page = sofia.get(&path).await;
            page.assert_status(200);
            assert!(
                page.body
                    .contains(&format!("<option value=\"{sort}\" selected>")),
                "{sort}"
            );
            for row in page.body.split("<tr>").skip(2) {
                let username = row.split("<td>").nth(2).unwrap();
                shown.push(username[..username.find('<').unwrap()].to_string());
            }
            let Some(next) = page.next_page() else {
                return shown;
            };
            path = next;
            assert!(path.contains(&format!("sort={sort}")), "{path}");
        }
    };
    everyone.sort_by(|a, b| a.1.cmp(&b.1));
    let by_username: Vec<String> = everyone.iter().map(|u| u.1.clone()).collect();
    assert_eq!(walk("sort=username").await, by_username);
    everyone.sort_by_key(|(id, _, last)| (last.is_some(), *last, *id));
    let by_last_sign_in: Vec<String> = everyone.iter().map(|u| u.1.clone()).collect();
    // everyone: page one ends among those who never signed in
    assert!(everyone[49].2.is_none() && everyone[everyone.len() - 1].2.is_some());
    assert_eq!(walk("sort=last_sign_in").await, by_last_sign_in);
    // the temps alone: page one ends among those who did
    let temps: Vec<String> = by_last_sign_in
        .iter()
        .filter(|u| u.starts_with("temp"))
        .cloned()
        .collect();
    assert_eq!(
        temps[..45]
            .iter()
            .filter(|u| u.as_str() == "temp00")
            .count(),
        0
    );
    assert_eq!(walk("sort=last_sign_in&q=temp").await, temps);
    // by name: the same as the database orders them all at once
    let by_name: Vec<String> = users::table
        .filter(users::company_id.eq(demo))
        .filter(users::status.ne("deleted"))
        .order((users::display_name, users::id))
        .select(users::username)
        .load(&mut app.conn())
        .unwrap();
    assert_eq!(walk("sort=name").await, by_name);
    sofia
        .get("/users?sort=age")
        .await
        .assert_status(422)
        .assert_contains("Sort by username, name or last sign-in.");
    // a cursor names a user of this company, or the page is refused
    let acme_user = id_of(&app, "ACME", "olga");
    sofia
        .get(&format!("/users?after={acme_user}"))
        .await
        .assert_status(422)
        .assert_contains("The page cursor is not valid.");
    sofia
        .get("/users?sort=name")
        .await
        .assert_contains(&format!(
            "<p id=\"user-count\">{} users, 50 a page, by name.</p>",
            everyone.len()
        ));
}

on_both_databases!(
    company_settings_take_effect,
    managers_cannot_act_on_users_who_hold_more,
    session_managers_and_assigners_stay_within_their_rights,
    supervisors_add_users_who_must_change_their_password,
    bad_input_to_add_user_is_422_and_saves_nothing,
    agents_cannot_manage_users,
    profiles_are_edited_with_specific_errors,
    role_changes_apply_at_once_and_cannot_escalate,
    the_last_supervisor_stays,
    deactivation_and_reactivation,
    deactivating_hands_over_open_conversations,
    conversations_held_by_an_inactive_person_are_marked,
    offboarding_resolves_call_tasks_and_says_what_blocks_delete,
    password_resets_show_a_temporary_password_once,
    locked_accounts_are_unlocked_by_a_supervisor,
    delete_is_refused_until_offboarding_is_done,
    settings_are_validated_and_applied,
    expired_passwords_must_be_changed,
    other_companies_users_are_not_found,
    the_team_list_filters_and_pages,
);

/// A conversation still held by someone who can no longer answer (carl, deactivated in the
/// demo with one of his own, and one more given to him directly in the database) is marked in
/// the list and on its page, so a supervisor sees whom the customer waits on; a conversation
/// held by an active person is not marked.
async fn conversations_held_by_an_inactive_person_are_marked(app: TestApp) {
    use switchboard::db::schema::conversations;
    let carl = id_of(&app, "DEMO", "carl");
    let alice = id_of(&app, "DEMO", "alice");
    let stranded = open_conversations_of(&app, alice)[0];
    diesel::update(conversations::table.find(stranded))
        .set(conversations::assignee_id.eq(Some(carl)))
        .execute(&mut app.conn())
        .unwrap();
    app.wait_for_change_elsewhere();
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    let list = sofia.get("/conversations").await;
    list.assert_status(200);
    // the demo's own: carl left with open conversations of his
    let carls = open_conversations_of(&app, carl);
    assert!(carls.len() >= 2 && carls.contains(&stranded));
    let rows: Vec<&str> = list.body.split("<tr>").skip(2).collect();
    let marked: Vec<&&str> = rows
        .iter()
        .filter(|row| row.contains(">inactive</span>"))
        .collect();
    assert_eq!(marked.len(), carls.len(), "{rows:#?}");
    for id in &carls {
        assert!(
            marked
                .iter()
                .any(|row| row.contains(&format!("/conversations/{id}\""))
                    && row.contains("Carl Jensen")),
            "conversation {id} not marked"
        );
    }
    assert!(
        rows.iter()
            .any(|row| row.contains("Alice Moreau") && !row.contains(">inactive<"))
    );
    sofia
        .get(&format!("/conversations/{stranded}"))
        .await
        .assert_status(200)
        .assert_contains("id=\"assignee-inactive\"");
    let hers = open_conversations_of(&app, alice)[0];
    sofia
        .get(&format!("/conversations/{hers}"))
        .await
        .assert_lacks("assignee-inactive");
}

/// Deactivating someone who has open conversations hands them over in the same step: back to
/// the unassigned queue or to one person who can hold them, never left with someone who no
/// longer works; a wrong choice changes nothing.
async fn deactivating_hands_over_open_conversations(app: TestApp) {
    use switchboard::db::schema::{conversation_assignments, conversations};
    let status_of = |app: &TestApp, user: i64| -> String {
        users::table
            .find(user)
            .select(users::status)
            .first(&mut app.conn())
            .unwrap()
    };
    let (alice, bob, sam, dana) = (
        id_of(&app, "DEMO", "alice"),
        id_of(&app, "DEMO", "bob"),
        id_of(&app, "DEMO", "sam"),
        id_of(&app, "DEMO", "dana"),
    );
    let hers = open_conversations_of(&app, alice);
    assert!(!hers.is_empty());
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    sofia
        .get(&format!("/users/{alice}"))
        .await
        .assert_contains(&format!("Their {} open conversations", hers.len()))
        .assert_contains("Return them to the unassigned queue")
        .assert_contains("Hand them to");

    // someone who cannot hold them: 422 on the page, nothing changed
    let deactivate = format!("/users/{alice}/deactivate");
    sofia
        .post(
            &deactivate,
            &[
                ("open_conversations", "person"),
                ("assignee_id", &dana.to_string()),
            ],
        )
        .await
        .assert_status(422)
        .assert_contains("Choose an active agent");
    assert_eq!(status_of(&app, alice), "active");
    assert_eq!(open_conversations_of(&app, alice), hers);

    // back to the queue, with their history and records
    sofia
        .post(&deactivate, &[("open_conversations", "queue")])
        .await
        .assert_status(303);
    assert_eq!(status_of(&app, alice), "deactivated");
    assert!(open_conversations_of(&app, alice).is_empty());
    let unassigned: i64 = conversations::table
        .filter(conversations::id.eq_any(&hers))
        .filter(conversations::assignee_id.is_null())
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(unassigned as usize, hers.len());
    let history: i64 = conversation_assignments::table
        .filter(conversation_assignments::conversation_id.eq_any(&hers))
        .filter(conversation_assignments::from_user_id.eq(alice))
        .filter(conversation_assignments::to_user_id.is_null())
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(history as usize, hers.len());
    let actions: Vec<String> = audit_events::table
        .order(audit_events::id.desc())
        .limit(2)
        .select(audit_events::action)
        .load(&mut app.conn())
        .unwrap();
    assert_eq!(actions, ["user.deactivate", "conversation.unassign_all"]);

    // to one person who works every channel involved
    let his = open_conversations_of(&app, bob);
    assert!(!his.is_empty());
    let before = open_conversations_of(&app, sam).len();
    sofia.get(&format!("/users/{bob}")).await;
    sofia
        .post(
            &format!("/users/{bob}/deactivate"),
            &[
                ("open_conversations", "person"),
                ("assignee_id", &sam.to_string()),
            ],
        )
        .await
        .assert_status(303);
    assert!(open_conversations_of(&app, bob).is_empty());
    assert_eq!(open_conversations_of(&app, sam).len(), before + his.len());
}

/// A departed agent's open call tasks no longer block offboarding for ever: someone who
/// manages them resolves each from the checklist (recorded as on their behalf). Until nothing
/// blocks it, Delete is disabled and a refused delete says why beside the button.
async fn offboarding_resolves_call_tasks_and_says_what_blocks_delete(app: TestApp) {
    use switchboard::db::schema::call_tasks;
    let bob = id_of(&app, "DEMO", "bob");
    let task: i64 = call_tasks::table
        .select(call_tasks::id)
        .first(&mut app.conn())
        .unwrap();
    diesel::update(call_tasks::table.find(task))
        .set((
            call_tasks::assignee_id.eq(Some(bob)),
            call_tasks::status.eq("open"),
        ))
        .execute(&mut app.conn())
        .unwrap();
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    let checklist = format!("/users/{bob}/offboard");
    sofia
        .get(&checklist)
        .await
        .assert_status(200)
        .assert_contains("Resolve for them")
        .assert_contains("id=\"delete-blocked\"")
        .assert_contains("disabled>Delete");
    // a delete sent anyway says why, beside the button
    sofia
        .post(&format!("/users/{bob}/delete"), &[])
        .await
        .assert_status(409)
        .assert_contains("class=\"field-error\"");

    // the agent who owns nothing of it cannot complete it
    let mut alice = app.signed_in("DEMO", "alice").await;
    alice.get("/calls").await;
    let refused = alice.post(&format!("/calls/{task}/complete"), &[]).await;
    assert!(
        matches!(refused.status.as_u16(), 404 | 409),
        "{}",
        refused.status
    );

    // the supervisor resolves it from the checklist and comes back to it
    sofia.get(&checklist).await;
    let done = sofia
        .post(
            &format!("/calls/{task}/complete"),
            &[("return_to", checklist.as_str())],
        )
        .await;
    done.assert_status(303);
    assert_eq!(done.location(), Some(checklist.as_str()));
    let (action, _, summary) = last_audit(&app);
    assert_eq!(action, "call_task.complete");
    assert!(
        summary.contains("of bob resolved on their behalf"),
        "{summary}"
    );
    let status: String = call_tasks::table
        .find(task)
        .select(call_tasks::status)
        .first(&mut app.conn())
        .unwrap();
    assert_eq!(status, "done");

    // the way back is only ever the checklist or the calls page
    for hostile in [
        "//evil.example/users/1/offboard",
        "/users/1/offboard/../../x",
        "https://evil.example",
    ] {
        diesel::update(call_tasks::table.find(task))
            .set(call_tasks::status.eq("open"))
            .execute(&mut app.conn())
            .unwrap();
        sofia.get(&checklist).await;
        let page = sofia
            .post(
                &format!("/calls/{task}/complete"),
                &[("return_to", hostile)],
            )
            .await;
        assert_eq!(page.location(), Some("/calls"), "{hostile}");
    }
}
