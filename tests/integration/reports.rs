//! Reports through the real App, on SQLite and on PostgreSQL: the figures of a period built
//! from known events, the filters, the viewer's scope, the export, the viewer's time zone.

use crate::common::on_both_databases;
use crate::common::{Page, TestApp, channel_id, give_role, hook, id_of};
use chrono::{Duration, NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use serde_json::json;
use switchboard::core::permissions::Permission;
use switchboard::db::schema::{audit_events, channels, conversations, users};

/// Stops the app's clock and moves it to `hour:minute` UTC, `days` days ahead: the demo's own
/// conversations lie before it, so a report of that day counts only what the test does.
fn move_clock_to(app: &TestApp, days: i64, hour: u32, minute: u32) -> NaiveDateTime {
    app.clock().stop();
    let now = app.clock().now();
    let target = (now.date() + Duration::days(days))
        .and_hms_opt(hour, minute, 0)
        .unwrap();
    app.clock().advance(target - now);
    target
}

/// A new customer's first message on a channel; the conversation it opened.
async fn inbound(app: &TestApp, channel: &str, n: u32) -> i64 {
    let (id, token) = crate::common::channel(app, channel);
    let page = hook(
        &mut app.client(),
        id,
        &token,
        json!({"external_id": format!("report-{n}"), "contact": {"name": format!("Customer {n}"), "phone": format!("+90 532 111 {n:04}")}, "text": "Hello, where is my order?"}),
    )
    .await;
    page.assert_status(201);
    let answer: serde_json::Value = serde_json::from_str(&page.body).unwrap();
    answer["conversation_id"].as_i64().unwrap()
}

fn assignee(app: &TestApp, conversation: i64) -> (i64, String) {
    conversations::table
        .inner_join(users::table)
        .filter(conversations::id.eq(conversation))
        .select((users::id, users::username))
        .first(&mut app.conn())
        .unwrap()
}

/// The text of a table row's cells, `|`-separated: the row whose opening tag has `marker`.
fn row(page: &Page, marker: &str) -> String {
    let start = page
        .body
        .find(marker)
        .unwrap_or_else(|| panic!("no row {marker}"));
    let end = start + page.body[start..].find("</tr>").unwrap();
    page.body[start..end]
        .split("<td>")
        .skip(1)
        .map(|cell| cell.split("</td>").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("|")
}

fn figure(page: &Page, id: &str) -> String {
    let marker = format!("id=\"{id}\">");
    let start = page
        .body
        .find(&marker)
        .unwrap_or_else(|| panic!("no figure {id}"))
        + marker.len();
    let end = start + page.body[start..].find('<').unwrap();
    page.body[start..end].to_string()
}

async fn reports_count_what_happened_in_the_period(app: TestApp) {
    let day = move_clock_to(&app, 40, 10, 0).date();
    let first = inbound(&app, "WhatsApp Sales", 1).await;
    let second = inbound(&app, "WhatsApp Sales", 2).await;
    let third = inbound(&app, "WhatsApp Sales", 3).await;
    let missed_call = channels::table
        .filter(channels::name.eq("Call Center"))
        .select((channels::id, channels::webhook_token))
        .first::<(i64, String)>(&mut app.conn())
        .unwrap();
    hook(&mut app.client(), missed_call.0, &missed_call.1, json!({"external_id": "report-call", "contact": {"phone": "+90 532 111 0009"}, "call": {"status": "missed", "duration_seconds": 0}})).await.assert_status(201);

    // first answers after 2 and 12 minutes; the first conversation closed after 13 minutes
    let (_, first_name) = assignee(&app, first);
    let (_, second_name) = assignee(&app, second);
    app.clock().advance(Duration::minutes(2));
    let mut agent = app.signed_in("DEMO", &first_name).await;
    agent.get(&format!("/conversations/{first}")).await;
    agent
        .post(
            &format!("/conversations/{first}/messages"),
            &[("body", "On its way.")],
        )
        .await
        .assert_status(303);
    app.clock().advance(Duration::minutes(10));
    let mut agent = app.signed_in("DEMO", &second_name).await;
    agent.get(&format!("/conversations/{second}")).await;
    agent
        .post(
            &format!("/conversations/{second}/messages"),
            &[("body", "Let me check.")],
        )
        .await
        .assert_status(303);
    // a second reply in the same conversation: one conversation handled, two replies (a count
    // of conversations mixed up with a count of replies shows here)
    agent
        .post(
            &format!("/conversations/{second}/messages"),
            &[("body", "Found it: it left this morning.")],
        )
        .await
        .assert_status(303);
    app.clock().advance(Duration::minutes(1));
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    sofia.get(&format!("/conversations/{first}")).await;
    sofia
        .post(&format!("/conversations/{first}/close"), &[])
        .await
        .assert_status(303);
    sofia
        .post(
            &format!("/conversations/{first}/labels"),
            &[("label", "Urgent")],
        )
        .await
        .assert_status(303);
    // the second passes from its holder to the other agent of the channel
    let other = if second_name == "alice" {
        "bob"
    } else {
        "alice"
    };
    let other_id = id_of(&app, "DEMO", other);
    sofia
        .post(
            &format!("/conversations/{second}/transfer"),
            &[("assignee_id", &other_id.to_string())],
        )
        .await
        .assert_status(303);
    // the third is still unanswered 18 minutes on: missed (the company's rule is 15 minutes)
    app.clock().advance(Duration::minutes(5));

    let page = sofia.get("/reports?range=today").await;
    page.assert_status(200);
    assert_eq!(figure(&page, "total-opened"), "3");
    assert_eq!(figure(&page, "total-closed"), "1");
    assert_eq!(figure(&page, "total-still-open"), "2");
    assert_eq!(figure(&page, "total-missed-chats"), "1");
    assert_eq!(figure(&page, "total-missed-calls"), "1");
    assert_eq!(figure(&page, "total-first-response"), "2 min · 12 min");
    assert_eq!(figure(&page, "total-resolution"), "13 min · 13 min");
    let whatsapp = channel_id(&app, "WhatsApp Sales");
    assert_eq!(
        row(&page, &format!("data-channel=\"{whatsapp}\"")),
        "WhatsApp Sales|3|1|2|1|0|2 min · 12 min|13 min · 13 min"
    );
    let call_center = channel_id(&app, "Call Center");
    assert_eq!(
        row(&page, &format!("data-channel=\"{call_center}\"")),
        "Call Center|0|0|0|0|1|—|—"
    );
    // per person: handled, replies, closed, first response, open now, transfers in and out
    let open_now = |user: i64| -> i64 {
        conversations::table
            .filter(conversations::assignee_id.eq(user))
            .filter(conversations::status.eq("open"))
            .count()
            .get_result(&mut app.conn())
            .unwrap()
    };
    // (handled, replies, closed, first response, transfers in, transfers out) by username
    let mut expected: std::collections::BTreeMap<String, (i64, i64, i64, &str, i64, i64)> =
        Default::default();
    for (name, first_response) in [(&first_name, "2 min"), (&second_name, "12 min")] {
        let line = expected.entry(name.clone()).or_insert((0, 0, 0, "", 0, 0));
        line.0 += 1;
        line.1 += 1;
        if line.3.is_empty() {
            line.3 = first_response;
        }
    }
    expected
        .entry("sofia".into())
        .or_insert((0, 0, 0, "", 0, 0))
        .2 += 1;
    expected
        .entry(second_name.clone())
        .or_insert((0, 0, 0, "", 0, 0))
        .5 += 1;
    expected.entry(second_name.clone()).or_default().1 += 1;
    expected
        .entry(other.into())
        .or_insert((0, 0, 0, "", 0, 0))
        .4 += 1;
    for (username, (handled, replies, closed, first_response, transfers_in, transfers_out)) in
        &expected
    {
        let first_response = if first_response.is_empty() {
            "—"
        } else {
            first_response
        };
        let open = open_now(id_of(&app, "DEMO", username));
        let cells = row(&page, &format!("data-user=\"{username}\""));
        let (_, figures) = cells.split_once('|').unwrap();
        assert_eq!(
            figures,
            format!(
                "{handled}|{replies}|{closed}|{first_response}|{open}|{transfers_in}|{transfers_out}"
            ),
            "{username}"
        );
    }
    // labels, the day's bars, the hour of the inbound messages
    page.assert_contains("<td>Urgent</td><td>1</td>")
        .assert_contains(&format!("{}: 3 opened, 1 closed", day.format("%a %d %b")))
        .assert_contains(&format!(
            "{} 10:00–10:59: 3 inbound messages",
            day.format("%a")
        ))
        // never a customer's detail
        .assert_lacks("532 111")
        .assert_lacks("Customer 1");

    // filters, kept in the address of the export
    let labelled = sofia.get("/reports?range=today&label=Urgent").await;
    assert_eq!(figure(&labelled, "total-opened"), "1");
    labelled.assert_contains("/exports/reports.csv?range=today&#38;label=Urgent");
    let instagram = channel_id(&app, "Instagram");
    let elsewhere = sofia
        .get(&format!("/reports?range=today&channel={instagram}"))
        .await;
    assert_eq!(figure(&elsewhere, "total-opened"), "0");
    elsewhere.assert_lacks(&format!("data-channel=\"{whatsapp}\""));
    let both = sofia
        .get(&format!(
            "/reports?range=today&channel={instagram}&channel={whatsapp}"
        ))
        .await;
    assert_eq!(figure(&both, "total-opened"), "3");
    let holder_now = assignee(&app, third).0;
    let theirs = sofia
        .get(&format!("/reports?range=today&user={holder_now}"))
        .await;
    let expected: i64 = conversations::table
        .filter(conversations::id.eq_any([first, second, third]))
        .filter(conversations::assignee_id.eq(holder_now))
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(figure(&theirs, "total-opened"), expected.to_string());
    let earlier = sofia
        .get(&format!(
            "/reports?from={}&to={}",
            day - Duration::days(3),
            day - Duration::days(1)
        ))
        .await;
    assert_eq!(figure(&earlier, "total-opened"), "0");

    // filters that do not read: 422 with the form and the reason, no figures
    for bad in [
        "/reports?from=2026-02-01&to=2026-01-01",
        "/reports?range=year",
        "/reports?channel=abc",
        "/reports?from=2020-01-01&to=2026-01-01",
        "/reports?from=tuesday",
    ] {
        let page = sofia.get(bad).await;
        page.assert_status(422)
            .assert_contains("id=\"filter-error\"")
            .assert_contains("id=\"report-filters\"")
            .assert_lacks("id=\"totals\"");
    }

    // the export: the same figures, audited before and after, no customer detail
    let before: i64 = audit_events::table
        .select(diesel::dsl::max(audit_events::id))
        .first::<Option<i64>>(&mut app.conn())
        .unwrap()
        .unwrap_or(0);
    let csv = sofia.get("/exports/reports.csv?range=today").await;
    csv.assert_status(200)
        .assert_contains("section,name,figure,value")
        .assert_contains("total,,opened,3")
        .assert_contains("total,,first_response_median_s,120")
        .assert_contains("total,,first_response_p90_s,720")
        .assert_contains("channel,WhatsApp Sales,missed_chats,1")
        .assert_contains(&format!("agent,{first_name},replies,"))
        .assert_contains("label,Urgent,conversations,1")
        .assert_lacks("532 111");
    let recorded: Vec<(String, String)> = audit_events::table
        .filter(audit_events::id.gt(before))
        .order(audit_events::id)
        .select((audit_events::action, audit_events::summary))
        .load(&mut app.conn())
        .unwrap();
    assert_eq!(recorded.len(), 2, "{recorded:?}");
    assert_eq!(recorded[0].0, "export.create");
    assert!(
        recorded[0]
            .1
            .contains("reports.csv started with filters [range=today]")
    );
    assert_eq!(recorded[1].0, "export.finish");
    sofia
        .get("/exports/reports.csv?range=year")
        .await
        .assert_status(422);
}

async fn reports_count_only_what_the_viewer_may_see(app: TestApp) {
    move_clock_to(&app, 40, 9, 0);
    let on_whatsapp = inbound(&app, "WhatsApp Sales", 11).await;
    let on_instagram = inbound(&app, "Instagram", 12).await;
    let instagram = channel_id(&app, "Instagram");
    let whatsapp = channel_id(&app, "WhatsApp Sales");

    // an agent without reports.view: no page, no export, no link
    let mut alice = app.signed_in("DEMO", "alice").await;
    alice.get("/reports").await.assert_status(403);
    alice.get("/exports/reports.csv").await.assert_status(403);
    assert!(
        !alice
            .get("/account")
            .await
            .nav_links()
            .contains(&"/reports".to_string())
    );

    // a label written before labels refused numbers: masked for whoever sees contacts masked
    diesel::insert_into(switchboard::db::schema::conversation_labels::table)
        .values((
            switchboard::db::schema::conversation_labels::conversation_id.eq(on_whatsapp),
            switchboard::db::schema::conversation_labels::company_id
                .eq(crate::common::company_id(&app, "DEMO")),
            switchboard::db::schema::conversation_labels::label.eq("call 905321112233"),
        ))
        .execute(&mut app.conn())
        .unwrap();

    // reports.view and no conversation right: the company's figures (no contact in them)
    give_role(&app, "dana", "Analyst", &[Permission::ReportsView]);
    let mut dana = app.signed_in("DEMO", "dana").await;
    let page = dana.get("/reports?range=today").await;
    page.assert_status(200);
    assert_eq!(figure(&page, "total-opened"), "2");
    page.assert_lacks("905321112233")
        .assert_contains("<td>call ");
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    sofia
        .get("/reports?range=today")
        .await
        .assert_contains("<td>call 905321112233</td>");
    sofia
        .get("/exports/reports.csv?range=today")
        .await
        .assert_contains("label,call 905321112233,conversations,1");
    assert!(page.nav_links().contains(&"/reports".to_string()));
    // the export needs exports.create as well
    dana.get("/exports/reports.csv?range=today")
        .await
        .assert_status(403);

    // reports.view with the channel view: bob's channels only (WhatsApp Sales, Telegram, SMS),
    // whatever the address asks for
    give_role(
        &app,
        "bob",
        "Channel lead",
        &[
            Permission::ReportsView,
            Permission::ConversationsViewChannel,
        ],
    );
    let mut bob = app.signed_in("DEMO", "bob").await;
    let page = bob.get("/reports?range=today").await;
    assert_eq!(figure(&page, "total-opened"), "1");
    page.assert_contains(&format!("data-channel=\"{whatsapp}\""))
        .assert_lacks(&format!("data-channel=\"{instagram}\""))
        .assert_lacks(&format!("name=\"channel\" value=\"{instagram}\""));
    let asked = bob
        .get(&format!("/reports?range=today&channel={instagram}"))
        .await;
    assert_eq!(figure(&asked, "total-opened"), "0");

    // reports.view with only the assigned view: her own conversations
    let hers = [on_whatsapp, on_instagram]
        .into_iter()
        .filter(|c| assignee(&app, *c).1 == "alice")
        .count();
    give_role(
        &app,
        "alice",
        "Agent with reports",
        &[
            Permission::ReportsView,
            Permission::ConversationsViewAssigned,
        ],
    );
    let mut alice = app.signed_in("DEMO", "alice").await;
    let page = alice.get("/reports?range=today").await;
    page.assert_status(200);
    assert_eq!(figure(&page, "total-opened"), hers.to_string());
    assert!(!page.body.contains("data-user=\"bob\""));
}

async fn reports_count_days_in_the_viewers_time_zone(app: TestApp) {
    // 23:30 UTC is 08:30 the next morning in Tokyo
    let at = move_clock_to(&app, 40, 23, 30);
    let day: NaiveDate = at.date();
    let next = day + Duration::days(1);
    inbound(&app, "WhatsApp Sales", 21).await;
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    let on = |d: NaiveDate| format!("/reports?from={d}&to={d}");
    assert_eq!(figure(&sofia.get(&on(day)).await, "total-opened"), "1");
    assert_eq!(figure(&sofia.get(&on(next)).await, "total-opened"), "0");

    sofia
        .post("/account/time-zone", &[("time_zone", "Mars/Olympus_Mons")])
        .await
        .assert_status(422)
        .assert_contains("Choose a time zone from the list.");
    sofia
        .post("/account/time-zone", &[("time_zone", "Asia/Tokyo")])
        .await
        .assert_status(303);
    let (action, summary): (String, String) = audit_events::table
        .order(audit_events::id.desc())
        .select((audit_events::action, audit_events::summary))
        .first(&mut app.conn())
        .unwrap();
    assert_eq!(action, "account.time_zone");
    assert!(summary.contains("from UTC to Asia/Tokyo"), "{summary}");
    sofia
        .get("/account")
        .await
        .assert_contains("<option selected>Asia/Tokyo</option>");

    assert_eq!(figure(&sofia.get(&on(day)).await, "total-opened"), "0");
    let page = sofia.get(&on(next)).await;
    assert_eq!(figure(&page, "total-opened"), "1");
    page.assert_contains("days in Asia/Tokyo")
        .assert_contains(&format!(
            "{} 08:00–08:59: 1 inbound messages",
            next.format("%a")
        ));
    // another user's reports keep their own zone
    let mut sam = app.signed_in("DEMO", "sam").await;
    assert_eq!(figure(&sam.get(&on(day)).await, "total-opened"), "1");
}

/// The report's scope written in SQL (`Scope::push_sql`) counts exactly what the list's diesel
/// filter (`conversations::visible_to`) shows, for every kind of viewer: the same rule twice,
/// proven equal on the demo's own conversations (over the last 30 days).
async fn reports_and_the_list_see_the_same_conversations(app: TestApp) {
    use switchboard::core::ids::UserId;
    use switchboard::core::masking::PhoneRegion;
    use switchboard::core::permissions::PermissionSet;
    use switchboard::domain::reports::{self, ReportFilter};
    use switchboard::domain::{Viewer, conversations as chats};

    let company = crate::common::company_id(&app, "DEMO");
    let today = app.clock().now().date();
    let filter = ReportFilter {
        first_day: today - Duration::days(29),
        last_day: today,
        zone: chrono_tz::Tz::UTC,
        channels: Vec::new(),
        user: None,
        label: None,
        team: None,
    };
    let (from, to) = filter.bounds();
    let viewers = [
        (
            "sofia",
            vec![Permission::ReportsView, Permission::ConversationsViewAll],
        ),
        (
            "bob",
            vec![
                Permission::ReportsView,
                Permission::ConversationsViewChannel,
            ],
        ),
        (
            "alice",
            vec![
                Permission::ReportsView,
                Permission::ConversationsViewAssigned,
            ],
        ),
        (
            "bob",
            vec![
                Permission::ReportsView,
                Permission::ConversationsViewAssigned,
            ],
        ),
        ("dana", vec![Permission::ConversationsViewChannel]),
    ];
    let mut seen = Vec::new();
    for (username, permissions) in viewers {
        let viewer = Viewer::new(
            UserId(id_of(&app, "DEMO", username)),
            company,
            permissions.iter().copied().collect::<PermissionSet>(),
            PhoneRegion::from_stored(""),
        );
        let mut conn = app.conn();
        let visible = chats::visible_to(&mut conn, &viewer).unwrap();
        let listed: i64 = conversations::table
            .filter(visible)
            .filter(conversations::created_at.ge(from))
            .filter(conversations::created_at.lt(to))
            .count()
            .get_result(&mut conn)
            .unwrap();
        let report = reports::build(&mut conn, None, &viewer, &filter).unwrap();
        assert_eq!(report.totals.opened, listed, "{username} {permissions:?}");
        // the queries in two lanes, the second on a connection of its own, count the same
        let in_two_lanes =
            reports::build(&mut conn, Some(&mut app.conn()), &viewer, &filter).unwrap();
        assert_eq!(format!("{in_two_lanes:?}"), format!("{report:?}"));
        let per_channel: i64 = report.channels.iter().map(|c| c.counts.opened).sum();
        assert_eq!(per_channel, listed, "{username}: channel lines");
        seen.push(listed);
    }
    // the cases differ, so the comparison means something
    assert!(
        seen[0] > seen[1] && seen[1] > seen[2] && seen[2] > 0,
        "{seen:?}"
    );
    // dana is a member of no channel: nothing
    assert_eq!(seen[4], 0);
}

on_both_databases!(
    reports_and_the_list_see_the_same_conversations,
    reports_count_what_happened_in_the_period,
    reports_count_only_what_the_viewer_may_see,
    reports_count_days_in_the_viewers_time_zone,
);
