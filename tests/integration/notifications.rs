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
