//! Quick replies through the real App, on SQLite and on PostgreSQL: shared ones under
//! `templates.manage`, personal ones their owner's alone, placeholders filled in the composer
//! from what the agent sees (never a masked or hidden detail).

use crate::common::on_both_databases;
use crate::common::{TestApp, channel_id, hook, id_of};
use diesel::prelude::*;
use serde_json::json;
use switchboard::db::schema::{audit_events, contacts, conversations, quick_replies};

fn quick_reply_id(app: &TestApp, title: &str) -> i64 {
    quick_replies::table
        .filter(quick_replies::title.eq(title))
        .select(quick_replies::id)
        .first(&mut app.conn())
        .unwrap()
}

fn count(app: &TestApp) -> i64 {
    quick_replies::table
        .count()
        .get_result(&mut app.conn())
        .unwrap()
}

async fn quick_replies_are_shared_or_personal(app: TestApp) {
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    sofia.get("/quick-replies").await.assert_status(200);
    sofia
        .post(
            "/quick-replies",
            &[
                ("title", "Greeting"),
                ("body", "Hello {{contact.first_name}}, this is {{agent.first_name}} from {{company.name}}."),
                ("shared", "on"),
            ],
        )
        .await
        .assert_status(303);
    let greeting = quick_reply_id(&app, "Greeting");
    // an agent reads the shared one and may not change it or share one of her own
    let mut alice = app.signed_in("DEMO", "alice").await;
    alice
        .get("/quick-replies")
        .await
        .assert_contains("Greeting")
        .assert_lacks(&format!(r#"action="/quick-replies/{greeting}""#))
        .assert_lacks(r#"name="shared""#);
    alice
        .post(
            &format!("/quick-replies/{greeting}"),
            &[("title", "Mine now"), ("body", "Hi")],
        )
        .await
        .assert_status(403);
    alice
        .post(&format!("/quick-replies/{greeting}/delete"), &[])
        .await
        .assert_status(403);
    let before = count(&app);
    alice
        .post(
            "/quick-replies",
            &[("title", "Everyone's"), ("body", "Hi"), ("shared", "on")],
        )
        .await
        .assert_status(403);
    assert_eq!(count(&app), before);
    // bad input: 422 with the form as typed, nothing saved
    alice.get("/quick-replies").await;
    alice
        .post(
            "/quick-replies",
            &[
                ("title", "Leak"),
                ("body", "Your number: {{contact.phone}}"),
            ],
        )
        .await
        .assert_status(422)
        .assert_contains("{{contact.phone}} is not a placeholder")
        .assert_contains("Your number: {{contact.phone}}");
    alice
        .post("/quick-replies", &[("title", " "), ("body", "Hi")])
        .await
        .assert_status(422)
        .assert_contains("A title is 1 to 80 characters.");
    assert_eq!(count(&app), before);
    // her own: hers to change, nobody else's to see
    alice
        .post(
            "/quick-replies",
            &[
                ("title", "Sign-off"),
                ("body", "Have a good day, {{contact.first_name}}!"),
            ],
        )
        .await
        .assert_status(303);
    let sign_off = quick_reply_id(&app, "Sign-off");
    alice
        .post(
            &format!("/quick-replies/{sign_off}"),
            &[("title", "Sign-off"), ("body", "Have a lovely day!")],
        )
        .await
        .assert_status(303);
    let mut bob = app.signed_in("DEMO", "bob").await;
    bob.get("/quick-replies")
        .await
        .assert_contains("Greeting")
        .assert_lacks("Sign-off");
    bob.post(
        &format!("/quick-replies/{sign_off}"),
        &[("title", "x"), ("body", "y")],
    )
    .await
    .assert_status(404);
    bob.post(&format!("/quick-replies/{sign_off}/delete"), &[])
        .await
        .assert_status(404);
    // the supervisor, with templates.manage, still does not see alice's own
    sofia.get("/quick-replies").await.assert_lacks("Sign-off");
    let actions: Vec<(String, String)> = audit_events::table
        .filter(audit_events::action.like("quick_reply.%"))
        .order(audit_events::id)
        .select((audit_events::action, audit_events::summary))
        .load(&mut app.conn())
        .unwrap();
    assert_eq!(
        actions,
        [
            (
                "quick_reply.create".to_string(),
                "shared quick reply \"Greeting\" created".to_string()
            ),
            (
                "quick_reply.create".to_string(),
                "personal quick reply \"Sign-off\" created".to_string()
            ),
            (
                "quick_reply.update".to_string(),
                "personal quick reply \"Sign-off\" changed".to_string()
            ),
        ]
    );
    alice
        .post(&format!("/quick-replies/{sign_off}/delete"), &[])
        .await
        .assert_status(303);
    assert_eq!(count(&app), 1);
}

async fn the_composer_fills_a_quick_reply_in(app: TestApp) {
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    sofia.get("/quick-replies").await;
    sofia
        .post(
            "/quick-replies",
            &[
                ("title", "Greeting"),
                ("body", "Hello {{contact.first_name}}, this is {{agent.first_name}} from {{company.name}}."),
                ("shared", "on"),
            ],
        )
        .await
        .assert_status(303);
    let greeting = quick_reply_id(&app, "Greeting").to_string();
    // one of alice's conversations, with a named customer
    let alice_id = id_of(&app, "DEMO", "alice");
    let (conversation, name): (i64, String) = conversations::table
        .inner_join(contacts::table)
        .filter(conversations::assignee_id.eq(alice_id))
        .select((conversations::id, contacts::name))
        .first(&mut app.conn())
        .unwrap();
    let first_name = name.split_whitespace().next().unwrap().to_string();
    let mut alice = app.signed_in("DEMO", "alice").await;
    alice
        .get(&format!("/conversations/{conversation}"))
        .await
        .assert_contains(r#"id="quick-reply-picker""#)
        .assert_contains(">Greeting</option>");
    let composer = alice
        .post(
            &format!("/conversations/{conversation}/quick-reply"),
            &[
                ("quick_reply_id", &greeting),
                ("body", "Thanks for waiting."),
            ],
        )
        .await;
    composer.assert_status(200).assert_contains(&format!(
        "Thanks for waiting.\nHello {first_name}, this is Alice from Demo Trading Co."
    ));
    assert!(composer.body.contains(r#"id="reply-form""#));
    // a conversation she may not see: 404, as everywhere
    let not_hers: i64 = conversations::table
        .filter(conversations::assignee_id.ne(alice_id))
        .filter(conversations::channel_id.eq(channel_id(&app, "WhatsApp Sales")))
        .select(conversations::id)
        .first(&mut app.conn())
        .unwrap();
    alice
        .post(
            &format!("/conversations/{not_hers}/quick-reply"),
            &[("quick_reply_id", &greeting), ("body", "")],
        )
        .await
        .assert_status(404);
    // a customer whose name is their number: bob sees it masked, and it fills in as nothing
    let (whatsapp, token) = crate::common::channel(&app, "WhatsApp Sales");
    let page = hook(
        &mut app.client(),
        whatsapp,
        &token,
        json!({"external_id": "qr-1", "contact": {"name": "+90 532 987 6543", "phone": "+90 532 987 6543"}, "text": "Hi"}),
    )
    .await;
    page.assert_status(201);
    let numbered =
        serde_json::from_str::<serde_json::Value>(&page.body).unwrap()["conversation_id"]
            .as_i64()
            .unwrap();
    let mut bob = app.signed_in("DEMO", "bob").await;
    bob.get(&format!("/conversations/{numbered}"))
        .await
        .assert_status(200);
    bob.post(
        &format!("/conversations/{numbered}/quick-reply"),
        &[("quick_reply_id", &greeting), ("body", "")],
    )
    .await
    .assert_status(200)
    .assert_contains("Hello , this is Bob from Demo Trading Co.")
    .assert_lacks("987 6543")
    .assert_lacks("**43");
    // someone else's personal quick reply cannot be used
    alice.get("/quick-replies").await;
    alice
        .post(
            "/quick-replies",
            &[("title", "Mine"), ("body", "Only mine")],
        )
        .await
        .assert_status(303);
    let mine = quick_reply_id(&app, "Mine").to_string();
    bob.post(
        &format!("/conversations/{numbered}/quick-reply"),
        &[("quick_reply_id", &mine), ("body", "")],
    )
    .await
    .assert_status(404);
}

on_both_databases!(
    quick_replies_are_shared_or_personal,
    the_composer_fills_a_quick_reply_in,
);
