//! Retention through the real App, on SQLite and on PostgreSQL: the settings on `/privacy`
//! (checked, recorded, `privacy.manage` only), and the purge that applies them — older message
//! text emptied except under legal hold, older sign-in records and ended sessions deleted,
//! nothing recent or live touched, what was removed recorded — after which the activity log
//! still verifies.

use crate::common::on_both_databases;
use crate::common::{TestApp, company_id};
use chrono::TimeDelta;
use diesel::prelude::*;
use switchboard::db::schema::{
    audit_events, companies, conversations, login_events, messages, sessions,
};
use switchboard::domain::retention::{self, REMOVED};

fn retention_of(app: &TestApp) -> (Option<i32>, Option<i32>, Option<i32>) {
    companies::table
        .filter(companies::code.eq("DEMO"))
        .select((
            companies::retention_messages_days,
            companies::retention_logins_days,
            companies::retention_sessions_days,
        ))
        .first(&mut app.conn())
        .unwrap()
}

/// `/privacy` keeps the company's retention: numbers of days or empty, anything else a 422
/// that changes nothing; a change is recorded; agents may not open it.
async fn retention_is_set_on_the_privacy_page(app: TestApp) {
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    let page = sofia.get("/privacy").await;
    page.assert_status(200)
        .assert_contains(r#"name="messages_days""#)
        .assert_contains("Nothing has been purged yet");
    assert!(
        page.body.contains(r#"href="/privacy""#),
        "in the navigation"
    );
    for (field, value) in [
        ("messages_days", "0"),
        ("logins_days", "a year"),
        ("sessions_days", "36501"),
        ("messages_days", "-5"),
    ] {
        sofia
            .post("/privacy", &[(field, value)])
            .await
            .assert_status(422)
            .assert_contains("from 1 to 36500");
    }
    assert_eq!(retention_of(&app), (None, None, None), "nothing changed");
    assert!(crate::common::audit_summaries(&app, "privacy.retention").is_empty());
    sofia
        .post(
            "/privacy",
            &[
                ("messages_days", "365"),
                ("logins_days", " 180 "),
                ("sessions_days", ""),
            ],
        )
        .await
        .assert_status(303);
    assert_eq!(retention_of(&app), (Some(365), Some(180), None));
    let records = crate::common::audit_summaries(&app, "privacy.retention");
    assert_eq!(records.len(), 1);
    assert!(
        records[0].contains("from messages for ever")
            && records[0].contains(
                "to messages 365 days, sign-in records 180 days, ended sessions for ever"
            ),
        "{records:?}"
    );
    sofia
        .get("/privacy")
        .await
        .assert_contains(r#"value="365""#)
        .assert_contains(r#"value="180""#);
    // saving the same again records nothing
    sofia
        .post(
            "/privacy",
            &[("messages_days", "365"), ("logins_days", "180")],
        )
        .await
        .assert_status(303);
    assert_eq!(
        crate::common::audit_summaries(&app, "privacy.retention").len(),
        1
    );
    // an agent may neither see nor change it
    let mut alice = app.signed_in("DEMO", "alice").await;
    alice.get("/privacy").await.assert_status(403);
    alice
        .post("/privacy", &[("messages_days", "1")])
        .await
        .assert_status(403);
    assert_eq!(retention_of(&app), (Some(365), Some(180), None));
}

on_both_databases!(retention_is_set_on_the_privacy_page);

/// The purge: 30 days on, with 30 / 30 / 7 days of retention, the older message text is
/// emptied (a conversation under legal hold kept, and purged once the hold is lifted), older
/// sign-in records and ended sessions are gone, today's message, sign-in and live session
/// stay, the other company is untouched, the purge is recorded as the system's, and the
/// activity log still verifies.
async fn the_purge_applies_the_retention(app: TestApp) {
    let demo = company_id(&app, "DEMO");
    let acme = company_id(&app, "ACME");
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    // a conversation under a label on legal hold
    let (held, open): (i64, i64) = {
        let ids: Vec<i64> = conversations::table
            .filter(conversations::company_id.eq(demo))
            .filter(conversations::status.eq("open"))
            .order(conversations::id)
            .select(conversations::id)
            .limit(2)
            .load(&mut app.conn())
            .unwrap();
        (ids[0], ids[1])
    };
    sofia.get("/labels").await;
    sofia
        .post("/labels", &[("name", "Litigation"), ("legal_hold", "on")])
        .await
        .assert_status(303);
    sofia.get(&format!("/conversations/{held}")).await;
    sofia
        .post(
            &format!("/conversations/{held}/labels"),
            &[("label", "Litigation")],
        )
        .await
        .assert_status(303);
    sofia.get("/privacy").await;
    sofia
        .post(
            "/privacy",
            &[
                ("messages_days", "30"),
                ("logins_days", "30"),
                ("sessions_days", "7"),
            ],
        )
        .await
        .assert_status(303);
    let text_of = |app: &TestApp, company: i64| -> Vec<String> {
        messages::table
            .filter(messages::company_id.eq(company))
            .select(messages::body)
            .load(&mut app.conn())
            .unwrap()
    };
    let acme_before = text_of(&app, acme.0);
    let count = |app: &TestApp| -> (i64, i64) {
        (
            login_events::table
                .filter(login_events::company_id.eq(demo))
                .count()
                .get_result(&mut app.conn())
                .unwrap(),
            sessions::table
                .filter(sessions::company_id.eq(demo))
                .count()
                .get_result(&mut app.conn())
                .unwrap(),
        )
    };
    let (logins_before, sessions_before) = count(&app);
    assert!(logins_before > 0 && sessions_before > 0);
    // nothing is old yet: a purge removes nothing and records nothing
    let nothing = retention::purge(&mut app.conn(), demo, app.clock().now()).unwrap();
    assert_eq!(
        (nothing.messages, nothing.logins, nothing.sessions),
        (0, 0, 0)
    );
    assert!(crate::common::audit_summaries(&app, "retention.purge").is_empty());
    // 31 days on, sofia signs in again and answers a customer
    app.clock().advance(TimeDelta::days(31));
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    sofia.get(&format!("/conversations/{open}")).await;
    sofia
        .post(
            &format!("/conversations/{open}/messages"),
            &[("body", "Still here for you")],
        )
        .await
        .assert_status(303);
    // the hourly job over every company: only DEMO keeps a retention, so its totals are DEMO's
    let purged = retention::purge_all(&mut app.conn(), app.clock().now()).unwrap();
    assert!(purged.messages > 0 && purged.held > 0, "{purged:?}");
    assert_eq!(purged.logins as i64, logins_before, "{purged:?}");
    assert_eq!(purged.sessions as i64, sessions_before, "{purged:?}");
    // what is left: the held conversation's text, today's reply, today's sign-in and session
    let left: Vec<(i64, String)> = messages::table
        .filter(messages::company_id.eq(demo))
        .filter(messages::body.ne(REMOVED))
        .select((messages::conversation_id, messages::body))
        .load(&mut app.conn())
        .unwrap();
    assert!(
        left.iter()
            .all(|(c, body)| *c == held || body == "Still here for you"),
        "{left:?}"
    );
    assert!(left.iter().any(|(c, _)| *c == held));
    assert!(left.iter().any(|(_, body)| body == "Still here for you"));
    assert_eq!(count(&app), (1, 1), "today's sign-in and live session");
    sofia.get("/privacy").await.assert_status(200);
    assert_eq!(text_of(&app, acme.0), acme_before, "another company's data");
    // pages show the emptied text, and search no longer finds the old words
    let page = sofia.get(&format!("/conversations/{open}")).await;
    page.assert_status(200).assert_contains(REMOVED);
    let records = crate::common::audit_summaries(&app, "retention.purge");
    assert_eq!(records.len(), 1);
    assert!(
        records[0].contains(&format!("{} messages emptied", purged.messages))
            && records[0].contains(&format!("{} messages kept under legal hold", purged.held)),
        "{records:?}"
    );
    let actor: String = audit_events::table
        .filter(audit_events::action.eq("retention.purge"))
        .select(audit_events::actor_username)
        .first(&mut app.conn())
        .unwrap();
    assert_eq!(actor, "system");
    sofia
        .get("/privacy")
        .await
        .assert_contains("messages emptied")
        .assert_lacks("Nothing has been purged yet");
    // the hold lifted, the next purge empties what it kept
    sofia.get("/labels").await;
    sofia
        .post("/labels", &[("name", "Litigation")])
        .await
        .assert_status(303);
    let after_hold = retention::purge(&mut app.conn(), demo, app.clock().now()).unwrap();
    assert_eq!(after_hold.messages, purged.held, "{after_hold:?}");
    assert_eq!(after_hold.held, 0);
    let still_held: i64 = messages::table
        .filter(messages::conversation_id.eq(held))
        .filter(messages::body.ne(REMOVED))
        .filter(messages::body.ne("Still here for you"))
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(still_held, 0);
    // a purge with nothing new to do reads nothing it already emptied and records nothing
    let again = retention::purge(&mut app.conn(), demo, app.clock().now()).unwrap();
    assert_eq!((again.messages, again.logins, again.sessions), (0, 0, 0));
    assert_eq!(
        crate::common::audit_summaries(&app, "retention.purge").len(),
        2
    );
    for company in [demo, acme] {
        match switchboard::domain::audit::verify(&mut app.conn(), company).unwrap() {
            switchboard::domain::audit::Verification::Intact { .. } => {}
            broken => panic!("the activity log no longer verifies: {broken:?}"),
        }
    }
    // the job over every company: ACME keeps everything (no retention set)
    let all = retention::purge_all(&mut app.conn(), app.clock().now()).unwrap();
    assert_eq!((all.messages, all.logins, all.sessions), (0, 0, 0));
    assert_eq!(text_of(&app, acme.0), acme_before);
}

on_both_databases!(the_purge_applies_the_retention);
