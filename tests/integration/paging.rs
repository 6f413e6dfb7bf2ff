//! Keyset pages through the real App, on SQLite and on PostgreSQL: every list ends on its last
//! match, whatever the number of matches.

use crate::common::on_both_databases;
use crate::common::{Client, TestApp, add_agents, add_audit_records, channel, company_id, hook};
use diesel::prelude::*;
use serde_json::json;
use switchboard::db::schema::call_tasks;
use switchboard::domain;

/// How many rows each page shows, following the "next page" links from `path`.
async fn rows_per_page(client: &mut Client, path: &str) -> Vec<usize> {
    let mut path = path.to_string();
    let mut pages = Vec::new();
    loop {
        let page = client.get(&path).await;
        page.assert_status(200);
        pages.push(page.table_rows());
        match page.next_page() {
            Some(next) => path = next,
            None => return pages,
        }
        assert!(pages.len() < 5, "the pages of {path} do not end");
    }
}

/// Records `numbers` of the activity log (`test.fill`) and of the login history (`filler`).
fn add_records(app: &TestApp, numbers: std::ops::Range<usize>) {
    add_audit_records(app, ("test.fill", "fill"), numbers.clone());
    let demo = company_id(app, "DEMO");
    switchboard::db::write_transaction(&mut app.conn(), |conn| {
        for _ in numbers {
            domain::login_events::record(
                conn,
                &domain::login_events::Attempt {
                    company_id: Some(demo),
                    company_code: "DEMO",
                    username: "filler",
                    user_id: None,
                    success: false,
                    reason: "unknown_user",
                    ip: "10.9.0.1",
                    user_agent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0",
                    location: None,
                },
            )?;
        }
        Ok(())
    })
    .unwrap();
}

/// Missed call tasks numbered `numbers`, as another instance adds them.
fn add_calls(app: &TestApp, numbers: std::ops::Range<usize>) {
    let demo = company_id(app, "DEMO");
    let (channel_id, contact_id): (i64, i64) = call_tasks::table
        .filter(call_tasks::company_id.eq(demo))
        .select((call_tasks::channel_id, call_tasks::contact_id))
        .first(&mut app.conn())
        .unwrap();
    for i in numbers {
        diesel::insert_into(call_tasks::table)
            .values((
                call_tasks::company_id.eq(demo),
                call_tasks::channel_id.eq(channel_id),
                call_tasks::contact_id.eq(contact_id),
                call_tasks::call_status.eq("missed"),
                call_tasks::status.eq("open"),
                call_tasks::caller_id.eq(format!("+4477009{i:05}")),
                call_tasks::created_at.eq(domain::now()),
            ))
            .execute(&mut app.conn())
            .unwrap();
    }
    app.wait_for_change_elsewhere();
}

/// Conversations with customers named `Filler …`, numbered `numbers`, through the inbound hook.
async fn add_conversations(app: &TestApp, numbers: std::ops::Range<usize>) {
    let (telegram, token) = channel(app, "Telegram");
    let mut hooks = app.client();
    for i in numbers {
        let body = json!({"external_id": format!("fill.{i}"), "contact": {"name": format!("Filler {i:03}"), "phone": format!("+90 532 200 {i:04}")}, "text": "Hello"});
        hook(&mut hooks, telegram, &token, body)
            .await
            .assert_status(201);
    }
}

/// When a list's matches fill its page exactly, the page offers no next page (which would be
/// empty); one match more makes a next page of one. Each list reads one row past its page to
/// know.
async fn every_list_ends_on_its_last_match(app: TestApp) {
    let lists = [
        ("/activity?action=test.fill", domain::audit::PAGE_SIZE),
        ("/logins?user=filler", domain::login_events::PAGE_SIZE),
        (
            "/conversations?status=all&q=Filler",
            domain::conversations::PAGE_SIZE,
        ),
        ("/calls", domain::calls::PAGE_SIZE),
        ("/users?q=filler", domain::users::USER_PAGE_SIZE),
    ]
    .map(|(path, size)| (path, size as usize));
    let size_of = |list: &str| {
        lists
            .iter()
            .find(|(path, _)| path.starts_with(list))
            .unwrap()
            .1
    };
    // the demo's own call tasks are on the calls' first page too
    let demo_calls: i64 = call_tasks::table
        .filter(call_tasks::company_id.eq(company_id(&app, "DEMO")))
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    add_records(&app, 0..size_of("/activity"));
    add_calls(&app, 0..size_of("/calls") - demo_calls as usize);
    add_agents(&app, ("filler", "Filler"), 0..size_of("/users"));
    add_conversations(&app, 0..size_of("/conversations")).await;
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    for (path, size) in lists {
        assert_eq!(rows_per_page(&mut sofia, path).await, [size], "{path}");
    }
    sofia
        .get("/conversations?status=all&q=Filler")
        .await
        .assert_contains(&format!(
            "id=\"conversation-count\">{} conversations.<",
            size_of("/conversations")
        ));

    add_records(&app, 1000..1001);
    add_calls(&app, 1000..1001);
    add_agents(&app, ("filler", "Filler"), 1000..1001);
    add_conversations(&app, 1000..1001).await;
    for (path, size) in lists {
        assert_eq!(rows_per_page(&mut sofia, path).await, [size, 1], "{path}");
    }
}

on_both_databases!(every_list_ends_on_its_last_match);
