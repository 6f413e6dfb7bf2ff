//! Backup coverage of critical permissions through the real App, on SQLite and on PostgreSQL:
//! `/settings` counts the active holders of each critical permission, `/users` warns when one
//! has fewer than two, the list is a company setting, and a change that would leave one
//! without any active holder is refused with 409 naming it.

use crate::common::on_both_databases;
use crate::common::{TestApp, give_role, id_of};
use diesel::prelude::*;
use switchboard::core::permissions::{Permission, PermissionSet};
use switchboard::db::schema::companies;

async fn critical_permissions_are_counted_and_warned_about(app: TestApp) {
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    // by default: users.manage, roles.manage, channels.assign, settings.manage, reports.view,
    // sessions.manage; sofia and sam hold them all, tina (Team Lead) some
    let page = sofia.get("/settings").await;
    let table = page.body.split(r#"<table id="coverage">"#).nth(1).unwrap();
    let table = table.split("</table>").next().unwrap();
    for key in [
        "users.manage",
        "roles.manage",
        "channels.assign",
        "settings.manage",
        "reports.view",
        "sessions.manage",
    ] {
        assert!(table.contains(key), "{key} missing from {table}");
    }
    assert!(!table.contains("templates.approve"));
    sofia
        .get("/users")
        .await
        .assert_lacks(r#"id="thin-coverage""#);
    // sam leaves: roles.manage, settings.manage and sessions.manage have one holder left
    let sam = id_of(&app, "DEMO", "sam");
    sofia.get(&format!("/users/{sam}")).await;
    sofia
        .post(
            &format!("/users/{sam}/deactivate"),
            &[("open_conversations", "queue")],
        )
        .await
        .assert_status(303);
    let warned = sofia.get("/users").await;
    warned.assert_contains(r#"id="thin-coverage""#);
    let line = warned.body.split(r#"id="thin-coverage""#).nth(1).unwrap();
    let line = line.split("</p>").next().unwrap();
    for thin in ["roles.manage", "settings.manage", "sessions.manage"] {
        assert!(line.contains(thin), "{thin} not warned about: {line}");
    }
    assert!(
        !line.contains("users.manage"),
        "tina holds users.manage too: {line}"
    );
    // the list is the company's: templates.approve made critical, roles.manage not
    let mut form = crate::broadcasts::current_settings(&app);
    form.retain(|(name, _)| !name.starts_with("critical_permissions"));
    for key in [
        "users.manage",
        "channels.assign",
        "settings.manage",
        "reports.view",
        "sessions.manage",
        "templates.approve",
    ] {
        form.push(("critical_permissions", key.to_string()));
    }
    form.push(("critical_permissions_shown", "1".into()));
    let fields: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    sofia.post("/settings", &fields).await.assert_status(303);
    let stored: String = companies::table
        .filter(companies::code.eq("DEMO"))
        .select(companies::critical_permissions)
        .first(&mut app.conn())
        .unwrap();
    assert_eq!(
        stored,
        "channels.assign,users.manage,reports.view,sessions.manage,settings.manage,templates.approve"
    );
    // an unknown key is refused and changes nothing
    let mut bad = fields.clone();
    bad.push(("critical_permissions", "everything.all"));
    sofia
        .post("/settings", &bad)
        .await
        .assert_status(422)
        .assert_contains("everything.all is not a permission");
    // a form without the group keeps the list (an unticked group sends nothing)
    let mut without: Vec<(&str, &str)> = fields
        .iter()
        .filter(|(k, _)| !k.starts_with("critical_permissions") && *k != "idle_timeout_minutes")
        .copied()
        .collect();
    without.push(("idle_timeout_minutes", "20"));
    sofia.post("/settings", &without).await.assert_status(303);
    let kept: String = companies::table
        .filter(companies::code.eq("DEMO"))
        .select(companies::critical_permissions)
        .first(&mut app.conn())
        .unwrap();
    assert_eq!(kept, stored);
}

/// Nobody may take away the last active holder of a critical permission. Through the panel the
/// built-in Supervisor holds every permission and one always stays, and acting on someone needs
/// every permission they hold, so the rule is shown at the domain's door (which deactivation,
/// deletion, role change and role edit all pass) and through a role edit in a company whose
/// Supervisor role was narrowed behind the panel's back.
async fn the_last_holder_of_a_critical_permission_stays(app: TestApp) {
    use switchboard::db::schema::{role_permissions, roles};
    let company = crate::common::company_id(&app, "DEMO");
    let (sofia, sam) = (id_of(&app, "DEMO", "sofia"), id_of(&app, "DEMO", "sam"));
    let refused = switchboard::domain::coverage::refuse_uncovering(
        &mut app.conn(),
        company,
        &[
            switchboard::core::ids::UserId(sofia),
            switchboard::core::ids::UserId(sam),
        ],
        [Permission::RolesManage]
            .into_iter()
            .collect::<PermissionSet>(),
    );
    let message = refused.unwrap_err().to_string();
    assert!(message.contains("roles.manage"), "{message}");
    // sessions.manage held by one custom role only (its holder may edit roles): the edit that
    // would take it from its last holder is refused
    give_role(
        &app,
        "dana",
        "Session desk",
        &[
            Permission::SessionsManage,
            Permission::RolesManage,
            Permission::UsersView,
        ],
    );
    let supervisor: i64 = roles::table
        .filter(roles::company_id.eq(company))
        .filter(roles::builtin.eq("supervisor"))
        .select(roles::id)
        .first(&mut app.conn())
        .unwrap();
    diesel::delete(
        role_permissions::table
            .filter(role_permissions::role_id.eq(supervisor))
            .filter(role_permissions::permission.eq("sessions.manage")),
    )
    .execute(&mut app.conn())
    .unwrap();
    diesel::update(roles::table.find(supervisor))
        .set(roles::version.eq(roles::version + 1))
        .execute(&mut app.conn())
        .unwrap();
    app.wait_for_change_elsewhere();
    let mut dana = app.signed_in("DEMO", "dana").await;
    let desk = crate::common::role_id(&app, "DEMO", "Session desk");
    dana.get(&format!("/roles/{desk}")).await;
    dana.post(
        &format!("/roles/{desk}"),
        &[
            ("name", "Session desk"),
            ("permissions", "roles.manage"),
            ("permissions", "users.view"),
        ],
    )
    .await
    .assert_status(409)
    .assert_contains("sessions.manage");
    let still: i64 = role_permissions::table
        .filter(role_permissions::role_id.eq(desk))
        .filter(role_permissions::permission.eq("sessions.manage"))
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(still, 1, "nothing changed");
    // once a supervisor holds it again, the same edit goes through
    diesel::insert_into(role_permissions::table)
        .values((
            role_permissions::role_id.eq(supervisor),
            role_permissions::permission.eq("sessions.manage"),
        ))
        .execute(&mut app.conn())
        .unwrap();
    dana.post(
        &format!("/roles/{desk}"),
        &[
            ("name", "Session desk"),
            ("permissions", "roles.manage"),
            ("permissions", "users.view"),
        ],
    )
    .await
    .assert_status(303);
}

on_both_databases!(
    critical_permissions_are_counted_and_warned_about,
    the_last_holder_of_a_critical_permission_stays,
);
