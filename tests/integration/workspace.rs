//! The agent workspace through the real App, on SQLite and on PostgreSQL: visibility per
//! permission level, masking on every page and fragment an agent reaches, replies, close,
//! reopen, transfers, labels, reveals, inbound traffic and call tasks.

use crate::common::on_both_databases;
use crate::common::{Client, Page, TestApp, channel, company_id, give_role, hook, id_of};
use actix_web::http::Method;
use diesel::prelude::*;
use serde_json::json;
use switchboard::core::permissions::Permission;
use switchboard::db::schema::{
    audit_events, call_tasks, channel_members, channels, companies, contacts, conversation_labels,
    conversations, messages,
};
use switchboard::domain;
use switchboard::domain::conversations::{ListFilter, SearchPlan};

fn last_audit(app: &TestApp) -> (String, String) {
    audit_events::table
        .order(audit_events::id.desc())
        .select((audit_events::action, audit_events::summary))
        .first(&mut app.conn())
        .unwrap()
}

/// Gives dana every permission but `contacts.view_unmasked`: she sees every conversation,
/// its contacts' details masked. Returns the permissions.
fn dana_sees_everything_masked(app: &TestApp) -> Vec<Permission> {
    let masked: Vec<Permission> = Permission::ALL
        .into_iter()
        .filter(|p| *p != Permission::ContactsViewUnmasked)
        .collect();
    give_role(app, "dana", "Masked lead", &masked);
    masked
}

/// An open conversation assigned to `user` on `channel_name`.
fn conversation_of(app: &TestApp, user: i64, channel_name: &str) -> i64 {
    let (channel_id, _) = channel(app, channel_name);
    conversations::table
        .filter(conversations::assignee_id.eq(user))
        .filter(conversations::channel_id.eq(channel_id))
        .filter(conversations::status.eq("open"))
        .order(conversations::id)
        .select(conversations::id)
        .first(&mut app.conn())
        .unwrap()
}

/// The list pages by keyset and keeps its filters, in either order: every conversation of the
/// channel once, none of another channel, the count of all pages on each, and a way back to
/// the first page.
async fn the_conversation_list_pages_and_keeps_its_filters(app: TestApp) {
    let (telegram, token) = channel(&app, "Telegram");
    let mut hooks = app.client();
    for n in 0..60 {
        let body = json!({"external_id": format!("tg.{n}"), "contact": {"name": format!("Pager {n:02}"), "phone": format!("+90 532 100 {n:04}")}, "text": "Hello"});
        hook(&mut hooks, telegram, &token, body)
            .await
            .assert_status(201);
        // one activity a second, so the order by last activity is the order of arrival
        app.clock().advance(chrono::TimeDelta::seconds(1));
    }
    let on_telegram: i64 = conversations::table
        .filter(conversations::channel_id.eq(telegram))
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert!(on_telegram > 60, "the demo has Telegram conversations too");
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    let mut walk = async |first: String| -> Vec<usize> {
        let mut path = first;
        let mut order = Vec::new();
        let mut pages = 0;
        loop {
            let page = sofia.get(&path).await;
            page.assert_status(200);
            pages += 1;
            assert_eq!(
                page.body.contains("id=\"first-page\""),
                pages > 1,
                "page {pages}"
            );
            page.assert_contains(&format!(
                "id=\"conversation-count\">{on_telegram} conversations.<"
            ));
            // the Pagers of this page, top to bottom
            for row in page.body.split("<tr>").skip(2) {
                if let Some(at) = row.find(">Pager ") {
                    let n: usize = row[at + 7..at + 9].parse().unwrap();
                    assert!(!order.contains(&n), "Pager {n:02} shown twice");
                    order.push(n);
                }
            }
            // nothing of another channel, on any page (the filter's options name them all)
            let table = page.body.split("<tbody>").nth(1).unwrap_or_default();
            assert!(
                table.contains("Telegram") && !table.contains("WhatsApp") && !table.contains("SMS"),
                "another channel on page {pages}"
            );
            let Some(next) = page.next_page() else {
                break;
            };
            path = next;
            assert!(path.contains(&format!("channel={telegram}")), "{path}");
            assert!(path.contains("status=all"), "{path}");
            assert!(pages < 10, "paging does not end");
        }
        assert_eq!(pages, (on_telegram as usize).div_ceil(50));
        order
    };
    let newest = walk(format!("/conversations?status=all&channel={telegram}")).await;
    assert_eq!(newest, (0..60).rev().collect::<Vec<_>>());
    let oldest = walk(format!(
        "/conversations?status=all&channel={telegram}&sort=oldest"
    ))
    .await;
    assert_eq!(oldest, (0..60).collect::<Vec<_>>());
    // recent activity reads as how long ago
    let list = format!("/conversations?channel={telegram}");
    sofia.get(&list).await.assert_contains("<td>just now</td>");
    app.clock().advance(chrono::TimeDelta::minutes(20));
    sofia
        .get(&list)
        .await
        .assert_contains("<td>20 min ago</td>")
        .assert_lacks("<td>just now</td>");
    // the page keeps the order chosen, and refuses one it does not offer
    sofia
        .get(&format!("/conversations?channel={telegram}&sort=oldest"))
        .await
        .assert_contains("<option value=\"oldest\" selected>");
    sofia
        .get("/conversations?sort=sideways")
        .await
        .assert_status(422)
        .assert_contains("Sort by newest or oldest activity.");
}

/// Where the count tests add conversations: a company's channel, at one time.
struct Counted {
    company: switchboard::core::ids::CompanyId,
    channel: i64,
    at: chrono::NaiveDateTime,
}

impl Counted {
    /// An open conversation of a new contact, "Counted `n`", active at `self.at`.
    fn open_conversation(
        &self,
        conn: &mut switchboard::db::DbConnection,
        n: i64,
        assignee: Option<i64>,
        waiting_since: Option<chrono::NaiveDateTime>,
    ) -> diesel::QueryResult<i64> {
        let name = format!("Counted {n}");
        let contact: i64 = diesel::insert_into(contacts::table)
            .values((
                contacts::company_id.eq(self.company),
                contacts::name.eq(&name),
                contacts::name_masked.eq(Some(&name)),
                contacts::created_at.eq(self.at),
            ))
            .returning(contacts::id)
            .get_result(conn)?;
        diesel::insert_into(conversations::table)
            .values((
                conversations::company_id.eq(self.company),
                conversations::channel_id.eq(self.channel),
                conversations::contact_id.eq(contact),
                conversations::assignee_id.eq(assignee),
                conversations::status.eq("open"),
                conversations::last_message_at.eq(self.at),
                conversations::created_at.eq(self.at),
                conversations::awaiting_reply_since.eq(waiting_since),
            ))
            .returning(conversations::id)
            .get_result(conn)
    }
}

/// What the list says it counts ("52 conversations.").
fn conversation_count(page: &Page) -> String {
    let start = page
        .body
        .find("id=\"conversation-count\">")
        .unwrap_or_else(|| panic!("{}", page.body))
        + 24;
    page.body[start..start + page.body[start..].find('<').unwrap()].to_string()
}

/// Past one page the count is a query of its own, on the conversations alone: it holds what
/// the viewer may see and what the filters ask, no more. An agent's count is of her own
/// conversations, not her channel's, under every search plan; a supervisor's narrows by
/// assignee, label and waiting time.
async fn the_count_past_one_page_holds_only_what_the_viewer_sees(app: TestApp) {
    let company = company_id(&app, "DEMO");
    let (alice, bob) = (id_of(&app, "DEMO", "alice"), id_of(&app, "DEMO", "bob"));
    let (sales, _) = channel(&app, "WhatsApp Sales");
    let at = app.clock().now();
    let long_ago = at - chrono::TimeDelta::hours(5);
    // on alice's channel: 60 of hers, 60 of bob's, 60 of nobody's; 55 of hers labelled,
    // 55 waiting for a reply for five hours
    let counted = Counted {
        company,
        channel: sales,
        at,
    };
    switchboard::db::write_transaction(&mut app.conn(), |conn| {
        for n in 0..180 {
            let assignee = match n / 60 {
                0 => Some(alice),
                1 => Some(bob),
                _ => None,
            };
            let id = counted.open_conversation(conn, n, assignee, (n < 55).then_some(long_ago))?;
            if n < 55 {
                diesel::insert_into(conversation_labels::table)
                    .values((
                        conversation_labels::conversation_id.eq(id),
                        conversation_labels::company_id.eq(company),
                        conversation_labels::label.eq("counted"),
                    ))
                    .execute(conn)?;
            }
        }
        Ok::<_, switchboard::error::AppError>(())
    })
    .unwrap();
    app.wait_for_change_elsewhere();
    let open = || {
        conversations::table
            .filter(conversations::company_id.eq(company))
            .filter(conversations::status.eq("open"))
            .into_boxed()
    };
    let in_words = |n: i64| format!("{n} conversations.");
    // alice sees her own on her channels, none of the 120 others beside them
    let her_channels = channel_members::table
        .filter(channel_members::user_id.eq(alice))
        .select(channel_members::channel_id);
    let hidden = conversation_labels::table
        .filter(conversation_labels::label.eq("vip"))
        .select(conversation_labels::conversation_id);
    let hers: i64 = open()
        .filter(conversations::assignee_id.eq(alice))
        .filter(conversations::channel_id.eq_any(her_channels))
        .filter(conversations::id.ne_all(hidden))
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert!((60..1_000).contains(&hers), "{hers}");
    let page = app
        .signed_in("DEMO", "alice")
        .await
        .get("/conversations")
        .await;
    assert_eq!(page.table_rows(), 50);
    assert_eq!(conversation_count(&page), in_words(hers));
    // the same for a search of the 180 contacts' names, under each plan
    let viewer = domain::Viewer::new(
        switchboard::core::ids::UserId(alice),
        company,
        [Permission::ConversationsViewAssigned]
            .into_iter()
            .collect(),
        switchboard::core::masking::PhoneRegion::from_stored(""),
    );
    for plan in [SearchPlan::FromMatches, SearchPlan::AlongTheList] {
        let filter = ListFilter {
            q: Some("counted".into()),
            search_plan: Some(plan),
            ..ListFilter::default()
        };
        let (page, count) =
            domain::conversations::list_counted(&mut app.conn(), &viewer, &filter).unwrap();
        assert_eq!((page.rows.len(), count), (50, 60), "{plan:?}");
    }
    // a supervisor's filters, each past one page
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    let alices: i64 = open()
        .filter(conversations::assignee_id.eq(alice))
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    let by_alice = sofia.get(&format!("/conversations?assignee={alice}")).await;
    assert_eq!(conversation_count(&by_alice), in_words(alices));
    let labelled = sofia.get("/conversations?label=counted").await;
    assert_eq!(conversation_count(&labelled), in_words(55));
    let minutes: i32 = companies::table
        .find(company)
        .select(companies::missed_chat_minutes)
        .first(&mut app.conn())
        .unwrap();
    let missed: i64 = open()
        .filter(
            conversations::awaiting_reply_since
                .lt(app.clock().now() - chrono::TimeDelta::minutes(minutes.into())),
        )
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert!((55..1_000).contains(&missed), "{missed}");
    let waiting = sofia.get("/conversations?missed=1").await;
    assert_eq!(conversation_count(&waiting), in_words(missed));
}

/// The count above the list is of every page, up to 1,000: exactly 1,000 is said as such, one
/// more is "more than 1,000"; a list that fits one page counts its rows.
async fn the_conversation_list_counts_up_to_a_thousand(app: TestApp) {
    let company = company_id(&app, "DEMO");
    let (sales, _) = channel(&app, "WhatsApp Sales");
    let open_on_sales = |app: &TestApp| -> i64 {
        conversations::table
            .filter(conversations::channel_id.eq(sales))
            .filter(conversations::status.eq("open"))
            .count()
            .get_result(&mut app.conn())
            .unwrap()
    };
    let add = |app: &TestApp, how_many: i64| {
        let at = app.clock().now();
        let counted = Counted {
            company,
            channel: sales,
            at,
        };
        switchboard::db::write_transaction(&mut app.conn(), |conn| {
            for n in 0..how_many {
                counted.open_conversation(conn, n, None, None)?;
            }
            Ok::<_, switchboard::error::AppError>(())
        })
        .unwrap();
        app.wait_for_change_elsewhere();
    };
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    let list = format!("/conversations?channel={sales}");
    let count = conversation_count;
    // one page: its rows are the count
    let page = sofia.get(&list).await;
    let few = open_on_sales(&app);
    assert!((2..50).contains(&few), "{few}");
    assert_eq!(count(&page), format!("{few} conversations."));
    assert_eq!(page.table_rows() as i64, few);
    add(&app, 1_000 - few);
    assert_eq!(count(&sofia.get(&list).await), "1,000 conversations.");
    add(&app, 1);
    let page = sofia.get(&list).await;
    assert_eq!(count(&page), "More than 1,000 conversations.");
    assert_eq!(page.table_rows(), 50);
    // a search read from its matches, a page past the thousand and one keys its count read:
    // the page is read along the list, the count is the one already read
    add(&app, 200);
    let counted: Vec<(chrono::NaiveDateTime, i64)> = conversations::table
        .inner_join(contacts::table)
        .filter(conversations::company_id.eq(company))
        .filter(contacts::name.like("Counted %"))
        .order((
            conversations::last_message_at.desc(),
            conversations::id.desc(),
        ))
        .select((conversations::last_message_at, conversations::id))
        .load(&mut app.conn())
        .unwrap();
    assert!(counted.len() > 1_100, "{}", counted.len());
    let viewer = domain::Viewer::new(
        switchboard::core::ids::UserId(id_of(&app, "DEMO", "sofia")),
        company,
        Permission::ALL.into_iter().collect(),
        switchboard::core::masking::PhoneRegion::from_stored(""),
    );
    let (at, id) = counted[1_009];
    let deep = ListFilter {
        q: Some("counted".into()),
        search_plan: Some(SearchPlan::FromMatches),
        after: Some((at, switchboard::core::ids::ConversationId(id))),
        ..ListFilter::default()
    };
    let (page, matching) =
        domain::conversations::list_counted(&mut app.conn(), &viewer, &deep).unwrap();
    assert_eq!(matching, 1_001, "more than a thousand");
    let ids: Vec<i64> = page.rows.iter().map(|row| row.id.0).collect();
    let expected: Vec<i64> = counted[1_010..1_060].iter().map(|key| key.1).collect();
    assert_eq!(ids, expected);
    assert!(page.more);
    // a filter that leaves one says so in the singular
    let carl = id_of(&app, "DEMO", "carl");
    let carls: i64 = conversations::table
        .filter(conversations::assignee_id.eq(carl))
        .filter(conversations::status.eq("open"))
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(carls, 1);
    let single = sofia.get(&format!("/conversations?assignee={carl}")).await;
    assert_eq!(count(&single), "1 conversation.");
}

async fn visibility_follows_each_permission_level(app: TestApp) {
    let open_on = |app: &TestApp, names: &[&str], assignee: Option<i64>| -> usize {
        let ids: Vec<i64> = names.iter().map(|n| channel(app, n).0).collect();
        let mut query = conversations::table
            .filter(conversations::status.eq("open"))
            .filter(conversations::channel_id.eq_any(ids))
            .into_boxed();
        if let Some(user) = assignee {
            query = query.filter(conversations::assignee_id.eq(user));
        }
        query.count().get_result::<i64>(&mut app.conn()).unwrap() as usize
    };
    let bob = id_of(&app, "DEMO", "bob");
    // assigned only (Agent): his own, on his channels
    let mut bob_client = app.signed_in("DEMO", "bob").await;
    let page = bob_client.get("/conversations").await;
    assert_eq!(
        page.table_rows(),
        open_on(&app, &["WhatsApp Sales", "Telegram", "SMS"], Some(bob))
    );
    page.assert_lacks("Alice Moreau").assert_lacks("unassigned");
    // channel-wide: everything on his channels, assigned to anyone or nobody
    give_role(
        &app,
        "bob",
        "Channel Agent",
        &[Permission::ConversationsViewChannel],
    );
    let page = bob_client.get("/conversations").await;
    assert_eq!(
        page.table_rows(),
        open_on(&app, &["WhatsApp Sales", "Telegram", "SMS"], None)
    );
    page.assert_contains("Alice Moreau")
        .assert_contains("unassigned")
        .assert_lacks("Instagram");
    // company-wide
    give_role(
        &app,
        "bob",
        "Everything",
        &[Permission::ConversationsViewAll],
    );
    let page = bob_client.get("/conversations").await;
    // every open conversation but those under the demo's VIP label (Supervisors only)
    let vip = switchboard::db::schema::conversation_labels::table
        .filter(switchboard::db::schema::conversation_labels::label.eq("vip"))
        .select(switchboard::db::schema::conversation_labels::conversation_id);
    let all_open: i64 = conversations::table
        .filter(conversations::company_id.eq(company_id(&app, "DEMO")))
        .filter(conversations::status.eq("open"))
        .filter(conversations::id.ne_all(vip))
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(page.table_rows(), all_open as usize);
    page.assert_contains("Instagram")
        .assert_contains("Messenger")
        // a channel's kind is not said twice when its name says it
        .assert_lacks("Instagram <small>Instagram</small>");
    // none of the three: the page itself is refused
    give_role(&app, "bob", "Nothing", &[Permission::UsersView]);
    bob_client.get("/conversations").await.assert_status(403);
    bob_client.get("/calls").await.assert_status(403);
}

/// Every page and fragment alice reaches, scanned for any customer's full phone or email.
async fn agents_never_see_full_phone_numbers_or_emails(app: TestApp) {
    let alice = id_of(&app, "DEMO", "alice");
    let (whatsapp, token) = channel(&app, "WhatsApp Sales");
    // a customer writes their own details into a message
    let mut hook_client = app.client();
    hook(&mut hook_client, whatsapp, &token, json!({"external_id": "leak-1", "contact": {"name": "Leaky Lee", "phone": "+90 532 999 8877", "email": "leaky.lee@example.org"}, "text": "call me on +90 532 999 8877 or leaky.lee@example.org"})).await.assert_status(201);
    let secrets: Vec<String> = contacts::table
        .select((contacts::phone, contacts::email))
        .load::<(Option<String>, Option<String>)>(&mut app.conn())
        .unwrap()
        .into_iter()
        .flat_map(|(phone, email)| {
            let mut out = Vec::new();
            if let Some(phone) = phone {
                out.push(
                    phone
                        .chars()
                        .filter(char::is_ascii_digit)
                        .collect::<String>(),
                );
                out.push(phone);
            }
            out.extend(email);
            out
        })
        .collect();
    let mut alice_client = app.signed_in("DEMO", "alice").await;
    let leak_conversation: i64 = messages::table
        .filter(messages::external_id.eq("leak-1"))
        .select(messages::conversation_id)
        .first(&mut app.conn())
        .unwrap();
    // make sure alice can see it: it is hers
    diesel::update(conversations::table.find(leak_conversation))
        .set(conversations::assignee_id.eq(alice))
        .execute(&mut app.conn())
        .unwrap();
    // and a call from the same customer is hers too, so /calls has a row to leak from
    let leak_contact: i64 = conversations::table
        .find(leak_conversation)
        .select(conversations::contact_id)
        .first(&mut app.conn())
        .unwrap();
    let call: i64 = call_tasks::table
        .select(call_tasks::id)
        .first(&mut app.conn())
        .unwrap();
    let call_channel: i64 = call_tasks::table
        .find(call)
        .select(call_tasks::channel_id)
        .first(&mut app.conn())
        .unwrap();
    diesel::insert_into(switchboard::db::schema::channel_members::table)
        .values((
            switchboard::db::schema::channel_members::channel_id.eq(call_channel),
            switchboard::db::schema::channel_members::user_id.eq(alice),
            switchboard::db::schema::channel_members::created_at.eq(domain::now()),
        ))
        .execute(&mut app.conn())
        .ok(); // she may be a member already
    diesel::update(call_tasks::table.find(call))
        .set((
            call_tasks::assignee_id.eq(Some(alice)),
            call_tasks::contact_id.eq(leak_contact),
            call_tasks::caller_id.eq(Some("+905329998877")),
        ))
        .execute(&mut app.conn())
        .unwrap();
    let mut pages = Vec::new();
    for path in [
        "/conversations".to_string(),
        "/conversations?status=all".into(),
        "/conversations?status=closed".into(),
        "/conversations?q=Leaky".into(),
        "/conversations?q=%2B90+532+999+8877".into(),
        "/conversations?q=leaky.lee%40example.org".into(),
        "/conversations?q=905329998877".into(),
        "/calls".into(),
        "/account".into(),
    ] {
        pages.push(alice_client.get(&path).await);
    }
    let visible: Vec<i64> = conversations::table
        .filter(conversations::assignee_id.eq(alice))
        .select(conversations::id)
        .load(&mut app.conn())
        .unwrap();
    for id in &visible {
        pages.push(alice_client.get(&format!("/conversations/{id}")).await);
    }
    // fragments: an htmx reply and a refused one
    let token = alice_client.csrf.clone().unwrap();
    let reply = [("body", "Thanks, I will call +90 532 999 8877 shortly")];
    pages.push(
        alice_client
            .request(
                Method::POST,
                &format!("/conversations/{leak_conversation}/messages"),
                Some(&reply),
                &[("HX-Request", "true"), ("X-CSRF-Token", &token)],
            )
            .await,
    );
    pages.push(
        alice_client
            .request(
                Method::POST,
                &format!("/conversations/{leak_conversation}/messages"),
                Some(&[("body", "")]),
                &[("HX-Request", "true"), ("X-CSRF-Token", &token)],
            )
            .await,
    );
    pages.push(
        alice_client
            .get(&format!("/conversations/{leak_conversation}"))
            .await,
    );
    let mut scanned = 0;
    for page in &pages {
        assert!(
            page.status.is_success() || page.status.as_u16() == 422,
            "{}",
            page.status
        );
        for secret in &secrets {
            assert!(
                !page.body.contains(secret.as_str()),
                "{secret} leaked in:\n{}",
                page.body
            );
        }
        scanned += 1;
    }
    assert!(scanned > 25);
    // searching by the full number does not single the contact out
    let search = alice_client
        .get("/conversations?q=%2B90+532+999+8877")
        .await;
    search.assert_lacks("Leaky Lee");
    pages[0].assert_contains("***@***.");
    let leak_page = alice_client
        .get(&format!("/conversations/{leak_conversation}"))
        .await;
    leak_page
        .assert_contains("+90 *** *** **77")
        .assert_contains("l***@***.org");
    // the call is listed, its caller masked
    alice_client
        .get("/calls")
        .await
        .assert_contains("Leaky Lee")
        .assert_contains("+90 *** *** ** 77");
}

async fn reply_close_reopen_and_their_records(app: TestApp) {
    let alice = id_of(&app, "DEMO", "alice");
    let id = conversation_of(&app, alice, "WhatsApp Sales");
    let mut client = app.signed_in("DEMO", "alice").await;
    client
        .get(&format!("/conversations/{id}"))
        .await
        .assert_status(200)
        .assert_contains("id=\"reply-form\"");
    let token = client.csrf.clone().unwrap();
    let fragment = client
        .request(
            Method::POST,
            &format!("/conversations/{id}/messages"),
            Some(&[("body", "We ship tomorrow morning.")]),
            &[("HX-Request", "true"), ("X-CSRF-Token", &token)],
        )
        .await;
    fragment
        .assert_status(200)
        .assert_contains("We ship tomorrow morning.")
        .assert_contains("message outbound")
        .assert_contains("hx-swap-oob");
    let (delivery, author): (String, Option<i64>) = messages::table
        .filter(messages::conversation_id.eq(id))
        .order(messages::id.desc())
        .select((messages::delivery, messages::author_id))
        .first(&mut app.conn())
        .unwrap();
    assert_eq!((delivery.as_str(), author), ("queued", Some(alice)));
    assert_eq!(last_audit(&app).0, "conversation.reply");
    assert!(
        !last_audit(&app).1.contains("tomorrow"),
        "the audit log does not copy message text"
    );
    // without JavaScript: a plain post and a redirect back
    let page = client
        .post(
            &format!("/conversations/{id}/messages"),
            &[("body", "Anything else?")],
        )
        .await;
    page.assert_status(303);
    client
        .post(&format!("/conversations/{id}/messages"), &[("body", "   ")])
        .await
        .assert_status(422)
        .assert_contains("Write a message first");
    let long = "x".repeat(4001);
    client
        .post(&format!("/conversations/{id}/messages"), &[("body", &long)])
        .await
        .assert_status(422)
        .assert_contains("at most 4000");
    // the longest message, in characters of four bytes (48 kB as a form), is sent whole
    let longest = "😀".repeat(switchboard::domain::conversations::MAX_BODY);
    client
        .post(
            &format!("/conversations/{id}/messages"),
            &[("body", &longest)],
        )
        .await
        .assert_status(303);
    let stored: String = messages::table
        .filter(messages::conversation_id.eq(id))
        .order(messages::id.desc())
        .select(messages::body)
        .first(&mut app.conn())
        .unwrap();
    assert_eq!(stored, longest);
    // an internal note: in the timeline for colleagues, never queued for the customer
    client
        .post(
            &format!("/conversations/{id}/messages"),
            &[("body", "Customer is a reseller"), ("note", "1")],
        )
        .await
        .assert_status(303);
    let (direction, delivery): (String, String) = messages::table
        .filter(messages::conversation_id.eq(id))
        .order(messages::id.desc())
        .select((messages::direction, messages::delivery))
        .first(&mut app.conn())
        .unwrap();
    assert_eq!(
        (direction.as_str(), delivery.as_str()),
        ("note", "internal")
    );
    assert_eq!(last_audit(&app).0, "conversation.note");
    client
        .get(&format!("/conversations/{id}"))
        .await
        .assert_contains("message note")
        .assert_contains("internal note");
    client
        .post(&format!("/conversations/{id}/close"), &[])
        .await
        .assert_status(303);
    assert_eq!(last_audit(&app).0, "conversation.close");
    client
        .get(&format!("/conversations/{id}"))
        .await
        .assert_contains("id=\"reopen\"");
    client
        .post(&format!("/conversations/{id}/reopen"), &[])
        .await
        .assert_status(303);
    assert_eq!(last_audit(&app).0, "conversation.reopen");
    // a reply to a closed conversation reopens it: the composer says so before, the page
    // after (htmx: reload it)
    client
        .get(&format!("/conversations/{id}"))
        .await
        .assert_lacks("id=\"closed-note\"");
    client
        .post(&format!("/conversations/{id}/close"), &[])
        .await
        .assert_status(303);
    client
        .get(&format!("/conversations/{id}"))
        .await
        .assert_contains("id=\"closed-note\"")
        .assert_contains("Sending a reply to the customer reopens it");
    let token = client.csrf.clone().unwrap();
    let answer = client
        .request(
            Method::POST,
            &format!("/conversations/{id}/messages"),
            Some(&[("body", "Sorry, one more thing")]),
            &[("HX-Request", "true"), ("X-CSRF-Token", &token)],
        )
        .await;
    answer.assert_status(200);
    assert_eq!(
        answer
            .headers
            .get("hx-redirect")
            .and_then(|v| v.to_str().ok()),
        Some(format!("/conversations/{id}").as_str())
    );
    let (action, summary) = last_audit(&app);
    assert_eq!(action, "conversation.reply");
    assert!(summary.contains("reopened"), "{summary}");
    client
        .get(&format!("/conversations/{id}"))
        .await
        .assert_contains("Your reply reopened the conversation.")
        .assert_lacks("id=\"closed-note\"")
        .assert_contains("id=\"close\"")
        .assert_contains(" · sent");
    // labels: add, filter, remove; bad labels are 422
    client
        .post(
            &format!("/conversations/{id}/labels"),
            &[("label", "Urgent")],
        )
        .await
        .assert_status(303);
    assert_eq!(last_audit(&app).0, "conversation.label_add");
    assert_eq!(
        client.get("/conversations?label=urgent").await.table_rows(),
        1
    );
    client
        .post(&format!("/conversations/{id}/labels"), &[("label", "<b>")])
        .await
        .assert_status(422);
    // a label is shown unmasked everywhere: a phone number cannot become one
    client
        .post(
            &format!("/conversations/{id}/labels"),
            &[("label", "call 905321112233")],
        )
        .await
        .assert_status(422)
        .assert_contains("cannot hold a phone number");
    assert_eq!(last_audit(&app).0, "conversation.label_add");
    client
        .post(
            &format!("/conversations/{id}/labels/remove"),
            &[("label", "urgent")],
        )
        .await
        .assert_status(303);
    assert_eq!(
        client.get("/conversations?label=urgent").await.table_rows(),
        0
    );
    // agents cannot transfer
    client
        .post(
            &format!("/conversations/{id}/transfer"),
            &[("assignee_id", &id_of(&app, "DEMO", "bob").to_string())],
        )
        .await
        .assert_status(403);
}

async fn transfers_go_only_to_who_can_hold_them(app: TestApp) {
    let (alice, bob, carl, dana) = (
        id_of(&app, "DEMO", "alice"),
        id_of(&app, "DEMO", "bob"),
        id_of(&app, "DEMO", "carl"),
        id_of(&app, "DEMO", "dana"),
    );
    let olga = id_of(&app, "ACME", "olga");
    let telegram_of_bob = conversation_of(&app, bob, "Telegram");
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    let page = sofia
        .get(&format!("/conversations/{telegram_of_bob}"))
        .await;
    page.assert_status(200)
        .assert_contains("id=\"transfer-form\"");
    for (to, why) in [
        (alice, "not on Telegram"),
        (carl, "deactivated"),
        (dana, "cannot hold"),
        (olga, "other company"),
    ] {
        sofia
            .post(
                &format!("/conversations/{telegram_of_bob}/transfer"),
                &[("assignee_id", &to.to_string())],
            )
            .await
            .assert_status(422)
            .assert_contains("Choose an active member of this conversation");
        let assignee: Option<i64> = conversations::table
            .find(telegram_of_bob)
            .select(conversations::assignee_id)
            .first(&mut app.conn())
            .unwrap();
        assert_eq!(assignee, Some(bob), "refused ({why}), nothing changed");
    }
    sofia
        .post(
            &format!("/conversations/{telegram_of_bob}/transfer"),
            &[("assignee_id", "x")],
        )
        .await
        .assert_status(422);
    let still: Option<i64> = conversations::table
        .find(telegram_of_bob)
        .select(conversations::assignee_id)
        .first(&mut app.conn())
        .unwrap();
    assert_eq!(still, Some(bob));
    // a WhatsApp conversation of alice goes to bob: alice loses it at once
    let whatsapp_of_alice = conversation_of(&app, alice, "WhatsApp Sales");
    let mut alice_client = app.signed_in("DEMO", "alice").await;
    alice_client
        .get(&format!("/conversations/{whatsapp_of_alice}"))
        .await
        .assert_status(200);
    sofia
        .get(&format!("/conversations/{whatsapp_of_alice}"))
        .await;
    sofia
        .post(
            &format!("/conversations/{whatsapp_of_alice}/transfer"),
            &[("assignee_id", &bob.to_string())],
        )
        .await
        .assert_status(303);
    let (action, summary) = last_audit(&app);
    assert_eq!(action, "conversation.transfer");
    assert!(summary.contains("transferred to bob"));
    alice_client
        .get(&format!("/conversations/{whatsapp_of_alice}"))
        .await
        .assert_status(404);
    let mut bob_client = app.signed_in("DEMO", "bob").await;
    bob_client
        .get(&format!("/conversations/{whatsapp_of_alice}"))
        .await
        .assert_status(200)
        .assert_contains("transferred from Alice Moreau to Bob Tanaka by Sofia Lindqvist");
}

async fn reveals_need_a_reason_and_respect_the_cap(app: TestApp) {
    let alice = id_of(&app, "DEMO", "alice");
    give_role(
        &app,
        "alice",
        "Callback Agent",
        &[
            Permission::ConversationsViewAssigned,
            Permission::ConversationsReply,
            Permission::ContactsReveal,
        ],
    );
    diesel::update(companies::table.filter(companies::code.eq("DEMO")))
        .set(companies::reveal_daily_cap.eq(2))
        .execute(&mut app.conn())
        .unwrap();
    app.clock().stop();
    let id = conversation_of(&app, alice, "WhatsApp Sales");
    let (phone, email): (Option<String>, Option<String>) = conversations::table
        .inner_join(contacts::table)
        .filter(conversations::id.eq(id))
        .select((contacts::phone, contacts::email))
        .first(&mut app.conn())
        .unwrap();
    let phone = phone.unwrap();
    let mut client = app.signed_in("DEMO", "alice").await;
    client
        .get(&format!("/conversations/{id}"))
        .await
        .assert_contains("id=\"reveal-form\"")
        .assert_contains("2 reveals left today")
        .assert_lacks(&phone);
    client
        .post(&format!("/conversations/{id}/reveal"), &[("reason", "")])
        .await
        .assert_status(422)
        .assert_contains("Say in 5 to 300 characters");
    let page = client
        .post(
            &format!("/conversations/{id}/reveal"),
            &[("reason", "Customer asked for a call back")],
        )
        .await;
    page.assert_status(200).assert_contains(&phone);
    if let Some(email) = &email {
        page.assert_contains(email);
    }
    assert_eq!(page.header("cache-control"), Some("no-store"));
    let (action, summary) = last_audit(&app);
    assert_eq!(action, "contact.reveal");
    assert!(summary.contains("reason: Customer asked for a call back"));
    assert!(
        !summary.contains(&phone) && email.as_ref().is_none_or(|e| !summary.contains(e.as_str()))
    );
    // shown once: the conversation page is masked again, and says what is left
    client
        .get(&format!("/conversations/{id}"))
        .await
        .assert_contains("1 reveal left today")
        .assert_lacks(&phone);
    client
        .post(
            &format!("/conversations/{id}/reveal"),
            &[("reason", "Second call back today")],
        )
        .await
        .assert_status(200);
    client
        .post(
            &format!("/conversations/{id}/reveal"),
            &[("reason", "Third call back today")],
        )
        .await
        .assert_status(409)
        .assert_contains("the most your company allows");
    // none left: the page says so instead of offering the form
    client
        .get(&format!("/conversations/{id}"))
        .await
        .assert_lacks("id=\"reveal-form\"")
        .assert_contains("You have used today's reveals");
    // the cap counts the last 24 hours: a second short of them nothing is back, then both are
    app.clock()
        .advance(chrono::TimeDelta::hours(24) - chrono::TimeDelta::seconds(1));
    let mut client = app.signed_in("DEMO", "alice").await;
    client
        .get(&format!("/conversations/{id}"))
        .await
        .assert_contains("You have used today's reveals");
    app.clock().advance(chrono::TimeDelta::seconds(1));
    client
        .get(&format!("/conversations/{id}"))
        .await
        .assert_contains("2 reveals left today");
    // agents without contacts.reveal are refused
    let mut bob = app.signed_in("DEMO", "bob").await;
    bob.get("/account").await;
    bob.post(
        &format!("/conversations/{id}/reveal"),
        &[("reason", "Because I want to")],
    )
    .await
    .assert_status(403);
}

async fn inbound_traffic_is_routed_and_stored_once(app: TestApp) {
    let (whatsapp, token) = channel(&app, "WhatsApp Sales");
    let mut client = app.client();
    // a new contact: a new conversation for the least-loaded member who receives new chats
    // computed here, not by the code under test: WhatsApp Sales' members are sofia and sam
    // (Supervisors, who see every conversation and so receive no new chats by default) and
    // alice and bob (Agents, who do); the fewest open conversations wins (the routing tests
    // check ties, capacity and availability)
    let mut loads: Vec<(i64, i64)> = ["alice", "bob"]
        .into_iter()
        .map(|username| {
            let id = id_of(&app, "DEMO", username);
            let open: i64 = conversations::table
                .filter(conversations::assignee_id.eq(id))
                .filter(conversations::status.eq("open"))
                .count()
                .get_result(&mut app.conn())
                .unwrap();
            (open, id)
        })
        .collect();
    loads.sort();
    assert_ne!(loads[0].0, loads[1].0, "no tie: the load alone decides");
    let expected = loads[0].1;
    let page = hook(&mut client, whatsapp, &token, json!({"external_id": "wamid.1", "contact": {"name": "Deniz", "phone": "+90 532 000 1122", "email": "deniz@example.com"}, "text": "Hello"})).await;
    page.assert_status(201);
    let answer: serde_json::Value = serde_json::from_str(&page.body).unwrap();
    let conversation_id = answer["conversation_id"].as_i64().unwrap();
    let assignee: Option<i64> = conversations::table
        .find(conversation_id)
        .select(conversations::assignee_id)
        .first(&mut app.conn())
        .unwrap();
    assert_eq!(assignee, Some(expected));
    // the same contact again (phone written differently): joins the open conversation
    let page = hook(&mut client, whatsapp, &token, json!({"external_id": "wamid.2", "contact": {"phone": "+905320001122"}, "text": "Are you there?"})).await;
    page.assert_status(201);
    let again: serde_json::Value = serde_json::from_str(&page.body).unwrap();
    assert_eq!(again["conversation_id"].as_i64(), Some(conversation_id));
    // a repeated delivery: 200, same ids, nothing stored twice
    let page = hook(&mut client, whatsapp, &token, json!({"external_id": "wamid.1", "contact": {"phone": "+90 532 000 1122"}, "text": "Hello"})).await;
    page.assert_status(200);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&page.body).unwrap(),
        answer
    );
    let stored: i64 = messages::table
        .filter(messages::external_id.eq("wamid.1"))
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(stored, 1);

    // ten identical deliveries at once: one message, every answer names it
    let body = json!({"external_id": "wamid.burst", "contact": {"name": "Burst", "phone": "+44 7700 900123"}, "text": "once"});
    let mut clients: Vec<Client> = (0..10).map(|_| app.client()).collect();
    let answers = futures_util::future::join_all(
        clients
            .iter_mut()
            .map(|c| hook(c, whatsapp, &token, body.clone())),
    )
    .await;
    let created = answers.iter().filter(|p| p.status.as_u16() == 201).count();
    assert_eq!(created, 1, "exactly one delivery creates");
    let ids: Vec<serde_json::Value> = answers
        .iter()
        .map(|p| {
            assert!(p.status.is_success(), "{}: {}", p.status, p.body);
            serde_json::from_str(&p.body).unwrap()
        })
        .collect();
    assert!(ids.iter().all(|a| *a == ids[0]));
    let stored: i64 = messages::table
        .filter(messages::external_id.eq("wamid.burst"))
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(stored, 1);
    let burst_contacts: i64 = contacts::table
        .filter(contacts::name.eq("Burst"))
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(burst_contacts, 1);

    // refusals
    let good = json!({"external_id": "x1", "contact": {"phone": "+90 532 000 1122"}, "text": "hi"});
    hook(&mut client, whatsapp, "wrong-token", good.clone())
        .await
        .assert_status(401);
    hook(&mut client, 999_999, &token, good.clone())
        .await
        .assert_status(401);
    let acme = channel(&app, "Acme WhatsApp");
    hook(&mut client, whatsapp, &acme.1, good.clone())
        .await
        .assert_status(401);
    let path = format!("/hooks/channels/{whatsapp}/messages");
    let auth = format!("Bearer {token}");
    client
        .post_body(
            &path,
            "application/json",
            b"{not json".to_vec(),
            &[("Authorization", &auth)],
        )
        .await
        .assert_status(400)
        .assert_contains(r#"{"error":"malformed JSON"}"#);
    // a wrong token is 401 before the body is read: no parser detail for strangers
    for body in [&b"{not json"[..], br#"{"external_id": 5}"#] {
        let page = client
            .post_body(
                &path,
                "application/json",
                body.to_vec(),
                &[("Authorization", "Bearer not-the-token")],
            )
            .await;
        page.assert_status(401)
            .assert_lacks("invalid field")
            .assert_lacks("JSON");
    }
    hook(
        &mut client,
        whatsapp,
        &token,
        json!({"contact": {"phone": "+90 532 000 1122"}, "text": "hi"}),
    )
    .await
    .assert_status(400)
    // the sender is told which field, not that its JSON is broken
    .assert_contains("missing or invalid field: missing field `external_id`");
    hook(
        &mut client,
        whatsapp,
        &token,
        json!({"external_id": "x2", "contact": {"name": "No way to reach"}, "text": "hi"}),
    )
    .await
    .assert_status(400);
    hook(
        &mut client,
        whatsapp,
        &token,
        json!({"external_id": "x3", "contact": {"phone": "+90 532 000 1122"}}),
    )
    .await
    .assert_status(400);
    let huge = json!({"external_id": "x4", "contact": {"phone": "+90 532 000 1122"}, "text": "y".repeat(70_000)});
    hook(&mut client, whatsapp, &token, huge)
        .await
        .assert_status(413);
    // a disabled channel takes nothing
    diesel::update(channels::table.find(whatsapp))
        .set(channels::active.eq(false))
        .execute(&mut app.conn())
        .unwrap();
    hook(&mut client, whatsapp, &token, good)
        .await
        .assert_status(401);

    // VOIP: a call task, assigned like a conversation
    let (voip, voip_token) = channel(&app, "Call Center");
    let page = hook(&mut client, voip, &voip_token, json!({"external_id": "call-77", "contact": {"phone": "+49 151 2345 6789"}, "call": {"status": "missed", "duration_seconds": 0}})).await;
    page.assert_status(201);
    let task: serde_json::Value = serde_json::from_str(&page.body).unwrap();
    let (status, assignee): (String, Option<i64>) = call_tasks::table
        .find(task["call_task_id"].as_i64().unwrap())
        .select((call_tasks::call_status, call_tasks::assignee_id))
        .first(&mut app.conn())
        .unwrap();
    assert_eq!(status, "missed");
    assert!(assignee.is_some());
    hook(&mut client, voip, &voip_token, json!({"external_id": "call-78", "contact": {"phone": "+49 151 2345 6789"}, "text": "not a call"})).await.assert_status(400);
}

/// A call task is completed by its assignee (or resolved on their behalf by someone who
/// manages them: see the offboarding test), never by anyone else who merely sees it.
async fn call_tasks_are_completed_by_their_assignee(app: TestApp) {
    let sam = id_of(&app, "DEMO", "sam");
    let task: i64 = call_tasks::table
        .filter(call_tasks::assignee_id.eq(sam))
        .filter(call_tasks::status.eq("open"))
        .select(call_tasks::id)
        .first(&mut app.conn())
        .unwrap();
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    // newest first by when the call came in, and durations in words
    let all = sofia.get("/calls").await;
    let table = all.body.split("<tbody>").nth(1).unwrap_or_default();
    let times: Vec<&str> = regex::Regex::new(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}")
        .unwrap()
        .find_iter(table)
        .map(|m| m.as_str())
        .collect();
    assert!(times.len() > 1, "{times:?}");
    assert!(
        times.is_sorted_by(|a, b| a >= b),
        "not newest first: {times:?}"
    );
    // callers' numbers written as people write them (a supervisor sees them whole)
    assert!(
        regex::Regex::new(r#"class="mono">\+\d{1,3} \d{3} \d{3}"#)
            .unwrap()
            .is_match(table),
        "no readable caller number"
    );
    // a bare count of seconds only below a minute ("2 min 05 s" above it)
    for seconds in regex::Regex::new(r"<small>(\d+) s</small>")
        .unwrap()
        .captures_iter(table)
    {
        assert!(seconds[1].parse::<u32>().unwrap() < 60, "{}", &seconds[0]);
    }
    let missed = sofia.get("/calls?missed=1").await;
    missed
        .assert_status(200)
        .assert_contains("Missed calls")
        .assert_lacks(">answered<");
    // who sees every call but manages nobody cannot complete someone else's
    give_role(
        &app,
        "dana",
        "Call lead",
        &[Permission::ConversationsViewAll],
    );
    let mut dana = app.signed_in("DEMO", "dana").await;
    dana.get("/calls").await.assert_status(200);
    dana.post(&format!("/calls/{task}/complete"), &[])
        .await
        .assert_status(409)
        .assert_contains("someone who manages them");
    let mut alice = app.signed_in("DEMO", "alice").await;
    alice
        .get("/calls")
        .await
        .assert_status(200)
        .assert_contains("No call tasks here");
    alice
        .post(&format!("/calls/{task}/complete"), &[])
        .await
        .assert_status(404);
    let mut sam_client = app.signed_in("DEMO", "sam").await;
    sam_client.get("/calls").await.assert_contains("Complete");
    sam_client
        .post(&format!("/calls/{task}/complete"), &[])
        .await
        .assert_status(303);
    assert_eq!(last_audit(&app).0, "call_task.complete");
    sam_client
        .post(&format!("/calls/{task}/complete"), &[])
        .await
        .assert_status(409);
}

/// `/calls` pages by keyset: following "Older calls" from the first page shows every call
/// task the viewer may see exactly once, newest first, even where many share one time.
async fn every_call_task_is_reached_page_by_page(app: TestApp) {
    let company = company_id(&app, "DEMO");
    let (channel_id, contact_id): (i64, i64) = call_tasks::table
        .filter(call_tasks::company_id.eq(company))
        .select((call_tasks::channel_id, call_tasks::contact_id))
        .first(&mut app.conn())
        .unwrap();
    // 130 more, in threes at the same second: pages must break ties by id
    let base = domain::now() - chrono::Duration::hours(1);
    let callers: Vec<String> = (0..130).map(|i| format!("+4477009{i:05}")).collect();
    for (i, caller) in callers.iter().enumerate() {
        diesel::insert_into(call_tasks::table)
            .values((
                call_tasks::company_id.eq(company),
                call_tasks::channel_id.eq(channel_id),
                call_tasks::contact_id.eq(contact_id),
                call_tasks::call_status.eq("missed"),
                call_tasks::duration_seconds.eq(0),
                call_tasks::status.eq("open"),
                call_tasks::caller_id.eq(caller),
                call_tasks::created_at.eq(base - chrono::Duration::seconds(i as i64 / 3)),
            ))
            .execute(&mut app.conn())
            .unwrap();
    }
    app.wait_for_change_elsewhere();
    let total: i64 = call_tasks::table
        .filter(call_tasks::company_id.eq(company))
        .count()
        .get_result(&mut app.conn())
        .unwrap();

    let mut sofia = app.signed_in("DEMO", "sofia").await;
    let mut path = "/calls".to_string();
    let (mut pages, mut rows, mut seen) = (0, 0, String::new());
    loop {
        let page = sofia.get(&path).await;
        page.assert_status(200);
        pages += 1;
        rows += page.body.matches("<tr>").count() - 1; // less the heading row
        seen.push_str(&page.body);
        let Some(start) = page.body.find("href=\"/calls?before=") else {
            break;
        };
        let href = &page.body[start + 6..];
        path = href[..href.find('"').unwrap()].replace("&amp;", "&");
        assert!(pages < 10, "the pages do not end");
    }
    assert_eq!(rows as i64, total, "every task once over {pages} pages");
    let per_page = domain::calls::PAGE_SIZE;
    assert_eq!(pages, (total + per_page - 1) / per_page);
    for caller in &callers {
        let shown = switchboard::core::masking::readable_phone(caller);
        assert_eq!(seen.matches(&shown).count(), 1, "{shown}");
    }
    // newest first: the first page starts with the newest added, the last ends with the oldest
    let first = seen.find(&switchboard::core::masking::readable_phone(&callers[0]));
    let last = seen.find(&switchboard::core::masking::readable_phone(&callers[129]));
    assert!(first < last);

    // the missed view pages the same way, and a cursor that is not one is refused
    sofia
        .get("/calls?missed=1")
        .await
        .assert_status(200)
        .assert_contains("href=\"/calls?missed=1&amp;before=");
    sofia
        .get("/calls?before=yesterday")
        .await
        .assert_status(422);
}

async fn missed_chats_are_those_still_waiting(app: TestApp) {
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    let page = sofia.get("/conversations?missed=1").await;
    page.assert_status(200).assert_contains("Missed chats");
    let before = page.table_rows();
    assert!(before > 0);
    let waiting: i64 = conversations::table
        .filter(conversations::awaiting_reply_since.is_not_null())
        .filter(conversations::status.eq("open"))
        .filter(conversations::company_id.eq(company_id(&app, "DEMO")))
        // the longest wait: surely missed (a recent one may still be within the minutes)
        .order(conversations::awaiting_reply_since.asc())
        .select(conversations::id)
        .first(&mut app.conn())
        .unwrap();
    sofia.get(&format!("/conversations/{waiting}")).await;
    sofia
        .post(
            &format!("/conversations/{waiting}/messages"),
            &[("body", "Sorry for the wait!")],
        )
        .await
        .assert_status(303);
    assert_eq!(
        sofia.get("/conversations?missed=1").await.table_rows(),
        before - 1
    );
}

async fn other_companies_conversations_are_not_found(app: TestApp) {
    let alice = id_of(&app, "DEMO", "alice");
    let demo_conversation = conversation_of(&app, alice, "WhatsApp Sales");
    let demo_task: i64 = call_tasks::table
        .select(call_tasks::id)
        .first(&mut app.conn())
        .unwrap();
    let mut olga = app.signed_in("ACME", "olga").await;
    olga.get("/account").await;
    let before: i64 = messages::table.count().get_result(&mut app.conn()).unwrap();
    olga.get(&format!("/conversations/{demo_conversation}"))
        .await
        .assert_status(404);
    olga.post(
        &format!("/conversations/{demo_conversation}/messages"),
        &[("body", "hi")],
    )
    .await
    .assert_status(404);
    olga.post(&format!("/conversations/{demo_conversation}/close"), &[])
        .await
        .assert_status(404);
    olga.post(
        &format!("/conversations/{demo_conversation}/transfer"),
        &[("assignee_id", &id_of(&app, "ACME", "alice").to_string())],
    )
    .await
    .assert_status(404);
    olga.post(
        &format!("/conversations/{demo_conversation}/labels"),
        &[("label", "mine")],
    )
    .await
    .assert_status(404);
    olga.post(
        &format!("/conversations/{demo_conversation}/reveal"),
        &[("reason", "just looking around")],
    )
    .await
    .assert_status(404);
    olga.post(&format!("/calls/{demo_task}/complete"), &[])
        .await
        .assert_status(404);
    let after: i64 = messages::table.count().get_result(&mut app.conn()).unwrap();
    assert_eq!(before, after);
    let status: String = conversations::table
        .find(demo_conversation)
        .select(conversations::status)
        .first(&mut app.conn())
        .unwrap();
    assert_eq!(status, "open");
}

on_both_databases!(
    the_conversation_list_pages_and_keeps_its_filters,
    the_conversation_list_counts_up_to_a_thousand,
    the_count_past_one_page_holds_only_what_the_viewer_sees,
    visibility_follows_each_permission_level,
    agents_never_see_full_phone_numbers_or_emails,
    reply_close_reopen_and_their_records,
    transfers_go_only_to_who_can_hold_them,
    reveals_need_a_reason_and_respect_the_cap,
    inbound_traffic_is_routed_and_stored_once,
    names_that_are_numbers_are_masked,
    masked_search_is_no_oracle,
    search_finds_what_a_scan_of_the_text_finds,
    short_text_written_before_its_index_is_found,
    short_text_in_many_trigrams_is_read_by_a_scan,
    a_common_word_is_searched_along_the_list,
    a_search_is_planned_once_a_minute,
    order_numbers_stay_readable_and_the_region_decides,
    agents_cannot_act_on_a_colleagues_conversation,
    pages_meet_the_accessibility_basics,
    every_viewer_reaches_missed_chats_and_the_queue,
    call_tasks_are_completed_by_their_assignee,
    every_call_task_is_reached_page_by_page,
    missed_chats_are_those_still_waiting,
    other_companies_conversations_are_not_found,
);

/// WhatsApp and SMS send the number as the name when the customer set none: a masked viewer
/// sees that name masked on every page and export, and the reveal record names the contact by
/// id, never by the number.
async fn names_that_are_numbers_are_masked(app: TestApp) {
    dana_sees_everything_masked(&app);
    let (whatsapp, token) = channel(&app, "WhatsApp Sales");
    let mut client = app.client();
    let page = hook(&mut client, whatsapp, &token, json!({"external_id": "wamid.name-1", "contact": {"name": "+90 532 444 5566", "phone": "+90 532 444 5566"}, "text": "Merhaba"})).await;
    page.assert_status(201);
    let answer: serde_json::Value = serde_json::from_str(&page.body).unwrap();
    let conversation = answer["conversation_id"].as_i64().unwrap();
    let assignee: i64 = conversations::table
        .find(conversation)
        .select(conversations::assignee_id)
        .first::<Option<i64>>(&mut app.conn())
        .unwrap()
        .expect("routed to a member of the channel");
    let mut dana = app.signed_in("DEMO", "dana").await;
    let pages = [
        "/conversations?status=all".to_string(),
        format!("/conversations/{conversation}"),
        "/exports/conversations.csv?status=all".to_string(),
        format!("/users/{assignee}/offboard"),
    ];
    for path in &pages {
        let page = dana.get(path).await;
        page.assert_status(200);
        for leak in ["532 444 5566", "5324445566", "444 5566"] {
            assert!(!page.body.contains(leak), "{path} shows {leak}");
        }
    }
    dana.get(&format!("/conversations/{conversation}"))
        .await
        .assert_contains("+90 *** *** **66");
    // the reveal shows the details to dana, and the activity log keeps them out
    dana.post(
        &format!("/conversations/{conversation}/reveal"),
        &[("reason", "customer asked for a callback")],
    )
    .await
    .assert_status(200)
    .assert_contains("+90 532 444 5566");
    let (label, summary): (String, String) = audit_events::table
        .filter(audit_events::action.eq("contact.reveal"))
        .order(audit_events::id.desc())
        .select((audit_events::target_label, audit_events::summary))
        .first(&mut app.conn())
        .unwrap();
    assert!(label.starts_with("contact #"), "{label}");
    assert!(!summary.contains("5566"), "{summary}");
}

/// The conversations `username` (of DEMO, with `permissions`) finds searching `q` with every
/// search plan, each as the list reads it (all statuses): one set per plan.
fn found_by_each_plan(
    app: &TestApp,
    username: &str,
    permissions: &[Permission],
    q: &str,
) -> Vec<(SearchPlan, std::collections::BTreeSet<i64>)> {
    found_in_company_by_each_plan(app, ("DEMO", username), permissions, q)
}

/// [`found_by_each_plan`] for someone of any company: `(company code, username)`.
fn found_in_company_by_each_plan(
    app: &TestApp,
    (company, username): (&str, &str),
    permissions: &[Permission],
    q: &str,
) -> Vec<(SearchPlan, std::collections::BTreeSet<i64>)> {
    let viewer = domain::Viewer::new(
        switchboard::core::ids::UserId(id_of(app, company, username)),
        company_id(app, company),
        permissions.iter().copied().collect(),
        switchboard::core::masking::PhoneRegion::from_stored(""),
    );
    [SearchPlan::FromMatches, SearchPlan::AlongTheList]
        .into_iter()
        .map(|plan| {
            let filter = ListFilter {
                q: Some(q.into()),
                search_plan: Some(plan),
                ..ListFilter::default()
            };
            let rows = domain::conversations::list(&mut app.conn(), &viewer, &filter).unwrap();
            (plan, rows.into_iter().map(|row| row.id.0).collect())
        })
        .collect()
}

/// A masked viewer searches what they can see: no fragment of a hidden number or address,
/// however it is cut, finds the conversation that holds it; a viewer with full details finds
/// it. Rows written before the masked copies existed are filled by `fill_masked_copies`.
async fn masked_search_is_no_oracle(app: TestApp) {
    let masked = dana_sees_everything_masked(&app);
    let (whatsapp, token) = channel(&app, "WhatsApp Sales");
    let mut client = app.client();
    let created = hook(&mut client, whatsapp, &token, json!({"external_id": "wamid.oracle-1", "contact": {"name": "Oracle Tester", "email": "oracle.tester@example.org"}, "text": "Call me back on +44 7700 137 8919 please"})).await;
    created.assert_status(201);
    let oracle =
        serde_json::from_str::<serde_json::Value>(&created.body).unwrap()["conversation_id"]
            .as_i64()
            .unwrap();
    let mut dana = app.signed_in("DEMO", "dana").await;
    let hits = |page: &Page| page.body.contains("Oracle Tester");
    for fragment in [
        "7700",
        "137",
        "8919",
        "137 8919",
        "7700 137",
        "4477",
        "1378919",
        "oracle.tester",
        "tester@",
        "example.org",
    ] {
        let path = format!(
            "/conversations?status=all&q={}",
            fragment.replace(' ', "+").replace('@', "%40")
        );
        let page = dana.get(&path).await;
        page.assert_status(200);
        assert!(
            !hits(&page),
            "a masked search for {fragment} confirmed the number"
        );
        // whichever way the search finds its conversations
        for (plan, found) in found_by_each_plan(&app, "dana", &masked, fragment) {
            assert!(
                !found.contains(&oracle),
                "a masked search for {fragment} ({plan:?}) confirmed the number"
            );
        }
    }
    // what dana can see, dana can search: the name, the words around the number, in any case
    // (the same on both databases)
    for visible in ["Oracle", "me back", "oRACLE tESTER", "CALL ME"] {
        let page = dana
            .get(&format!(
                "/conversations?status=all&q={}",
                visible.replace(' ', "+")
            ))
            .await;
        assert!(hits(&page), "{visible}");
        for (plan, found) in found_by_each_plan(&app, "dana", &masked, visible) {
            assert!(found.contains(&oracle), "{visible} ({plan:?})");
        }
    }
    // what a masked viewer typed comes back masked everywhere on the page, the export link
    // included, where the encoding joins the groups with `+`
    let typed = dana
        .get("/conversations?status=all&q=%2B44+7700+137+8919")
        .await;
    typed.assert_status(200).assert_contains("id=\"export\"");
    for leak in ["137+8919", "7700+137", "137 8919", "1378919", "%2B44+7700"] {
        assert!(!typed.body.contains(leak), "the page echoes {leak}");
    }
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    assert!(hits(
        &sofia.get("/conversations?status=all&q=137+8919").await
    ));

    // copies written before they existed are filled after migrating
    diesel::update(messages::table)
        .set(messages::body_masked.eq(None::<String>))
        .execute(&mut app.conn())
        .unwrap();
    diesel::update(contacts::table)
        .set(contacts::name_masked.eq(None::<String>))
        .execute(&mut app.conn())
        .unwrap();
    let filled = domain::conversations::fill_masked_copies(&mut app.conn()).unwrap();
    assert!(filled > 0);
    let empty: i64 = messages::table
        .filter(messages::body_masked.is_null())
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(empty, 0);
    assert!(hits(&dana.get("/conversations?status=all&q=me+back").await));
    assert!(!hits(
        &dana.get("/conversations?status=all&q=137+8919").await
    ));
}

/// The conversations a search lists are those a plain scan of the text finds: the contact's
/// name or any message holding the typed text, in any case, with `%`, `_` and quotes taken
/// literally, short text too (one character, two, at the end of a text, a whole text, in
/// scripts without case, beside control characters), letters of case beyond ASCII in either
/// case (Latin, Cyrillic, Greek); and a message changed or removed is
/// found by what it says now. (SQLite answers through its trigram tables, PostgreSQL through
/// its trigram and character-pair indexes.)
async fn search_finds_what_a_scan_of_the_text_finds(app: TestApp) {
    let (whatsapp, token) = channel(&app, "WhatsApp Sales");
    let mut client = app.client();
    for (n, (name, text)) in [
        ("Percent Buyer", "Is the 50% off_now deal still on?"),
        ("Quote Sender", "He said \"hi there\" and left"),
        ("Plain Person", "Where is my parcel, Courier?"),
        ("Short Note", "ok"),
        ("Q", "!"),
        ("谢 Wei", "谢谢你 来了"),
        ("Ça Va", "Ça va bien"),
        ("Odd Bytes", "tab\there and \u{1}soh"),
        ("Ирина", "Да, спасибо"),
        ("Ελένη", "Ωραία μέρα"),
    ]
    .into_iter()
    .enumerate()
    {
        hook(&mut client, whatsapp, &token, json!({"external_id": format!("wamid.scan-{n}"), "contact": {"name": name, "email": format!("scan{n}@example.org")}, "text": text}))
            .await
            .assert_status(201);
    }
    let demo = company_id(&app, "DEMO");
    let scan = |q: &str| -> std::collections::BTreeSet<i64> {
        let q = q.to_lowercase();
        let texts: Vec<(i64, String, Option<String>)> = conversations::table
            .inner_join(contacts::table)
            .left_join(messages::table)
            .filter(conversations::company_id.eq(demo))
            .select((conversations::id, contacts::name, messages::body.nullable()))
            .load(&mut app.conn())
            .unwrap();
        texts
            .into_iter()
            .filter(|(_, name, body)| {
                name.to_lowercase().contains(&q)
                    || body.as_ref().is_some_and(|b| b.to_lowercase().contains(&q))
            })
            .map(|(id, _, _)| id)
            .collect()
    };
    let listed = |page: &Page| -> std::collections::BTreeSet<i64> {
        page.body
            .split("href=\"/conversations/")
            .skip(1)
            .filter_map(|rest| rest.split('"').next()?.parse().ok())
            .collect()
    };
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    let search = |q: &str| {
        format!(
            "/conversations?status=all&q={}",
            url::form_urlencoded::byte_serialize(q.as_bytes()).collect::<String>()
        )
    };
    for q in [
        "courier",
        "COURIER",
        "parcel, c",
        "50% o",
        "f_n",
        "%",
        "_",
        "\"hi there\"",
        // FTS5's quote, alone and begun with, as the text of the trigrams it reads
        "\"",
        "\"h",
        "percent",
        "er",
        "y",
        "no such text anywhere",
        // short: a whole message, its end, one character, a whole name
        "ok",
        "OK",
        "k",
        "!",
        "n?",
        "?",
        "q",
        // without case, and with letters of case beyond ASCII, in either case (SQLite's
        // LIKE folds ASCII letters only: it compares these through fold_case)
        "谢谢",
        "谢",
        "了",
        "Ça",
        "Ç",
        "ça",
        "ç",
        "ÇA V",
        "ça va",
        "да",
        "ДА",
        "д",
        "СПАСИБО",
        "ирин",
        "ωρ",
        "ΩΡΑΊΑ",
        "Ελ",
        // control characters are text too (the search trims only its ends), and what
        // SQLite's tables end each text with (U+0001) finds only where a message holds it
        "b\th",
        "\u{1}s",
        "\u{1}",
        "\u{1}so",
        "n\u{1}",
        "?\u{1}",
    ] {
        let page = sofia.get(&search(q)).await;
        page.assert_status(200);
        assert_eq!(listed(&page), scan(q), "search for {q:?}");
        // the page took one plan; the other finds the same
        for (plan, found) in found_by_each_plan(&app, "sofia", &Permission::ALL, q) {
            assert_eq!(found, scan(q), "search for {q:?} ({plan:?})");
        }
    }
    assert!(!scan("courier").is_empty() && scan("no such text anywhere").is_empty());
    for (q, held) in [
        ("谢", 1),
        ("Ç", 1),
        ("ça", 1),
        ("да", 1),
        ("ΩΡΑΊΑ", 1),
        ("n\u{1}", 0),
        ("\u{1}", 1),
    ] {
        assert_eq!(scan(q).len(), held, "scan for {q:?}");
    }
    // each search fits one page, so the page shows all it found
    for q in ["y", "er"] {
        assert!(scan(q).len() < 50, "{q} fills a page");
    }
    // what a message says now is what finds it (changed behind the app's back: seen as a
    // change made elsewhere is, the inbox cache's entries aged out)
    diesel::update(messages::table.filter(messages::body.like("%parcel, Courier%")))
        .set(messages::body.eq("Where is my package?"))
        .execute(&mut app.conn())
        .unwrap();
    app.wait_for_change_elsewhere();
    let each_plan_finds = |q: &str| {
        for (plan, found) in found_by_each_plan(&app, "sofia", &Permission::ALL, q) {
            assert_eq!(found, scan(q), "search for {q:?} ({plan:?})");
        }
    };
    for q in ["parcel", "package", "r?", "e?", "kag"] {
        assert_eq!(listed(&sofia.get(&search(q)).await), scan(q), "{q}");
        each_plan_finds(q);
    }
    assert!(!scan("kag").is_empty() && !scan("e?").is_empty());
    diesel::delete(messages::table.filter(messages::body.like("%package%")))
        .execute(&mut app.conn())
        .unwrap();
    app.wait_for_change_elsewhere();
    for q in ["package", "e?", "kag"] {
        assert_eq!(listed(&sofia.get(&search(q)).await), scan(q), "{q}");
        each_plan_finds(q);
    }
    assert!(scan("package").is_empty() && scan("kag").is_empty());
}

/// Messages and names written before migration 29 indexed short text are found by a search
/// of one or two characters after it, by either plan: SQLite's tables are filled again from
/// the rows, PostgreSQL's indexes are built over them.
async fn short_text_written_before_its_index_is_found(app: TestApp) {
    let reverted = switchboard::db::revert_last_migration(&mut app.conn()).unwrap();
    assert!(reverted.contains("000029"), "reverted {reverted}");
    let (whatsapp, token) = channel(&app, "WhatsApp Sales");
    hook(&mut app.client(), whatsapp, &token, json!({"external_id": "wamid.before-29", "contact": {"name": "Wu Qi", "email": "wu@example.org"}, "text": "谢谢 zq"}))
        .await
        .assert_status(201);
    switchboard::db::migrate(&mut app.conn()).unwrap();
    let chat: i64 = messages::table
        .filter(messages::body.eq("谢谢 zq"))
        .select(messages::conversation_id)
        .first(&mut app.conn())
        .unwrap();
    for q in ["谢", "谢谢", "zq", "ZQ", "q", "wu", "i"] {
        for (plan, found) in found_by_each_plan(&app, "sofia", &Permission::ALL, q) {
            assert!(
                found.contains(&chat),
                "{q:?} ({plan:?}) misses it: {found:?}"
            );
        }
    }
}

/// Short text that begins more trigrams than SQLite reads for it
/// (`search::SHORT_TEXT_TRIGRAMS`) is read there by a scan of the company's messages, and
/// finds what a scan of the text finds, by either plan, on both databases: a letter of case
/// beyond ASCII in either case too.
async fn short_text_in_many_trigrams_is_read_by_a_scan(app: TestApp) {
    let company = company_id(&app, "DEMO");
    let (chat, channel): (i64, i64) = conversations::table
        .filter(conversations::company_id.eq(company))
        .order(conversations::id)
        .select((conversations::id, conversations::channel_id))
        .first(&mut app.conn())
        .unwrap();
    // "x", and a capital Ж, each then every pair of 48 characters: 2 304 trigrams each, in
    // six messages
    let pieces: Vec<String> = ['x', 'Ж']
        .into_iter()
        .flat_map(|first| {
            (0..48u32 * 48).map(move |n| {
                let at = |k: u32| char::from_u32(0x4E00 + k).unwrap_or('?');
                format!("{first}{}{}", at(n / 48), at(n % 48))
            })
        })
        .collect();
    let limit = usize::try_from(switchboard::db::search::SHORT_TEXT_TRIGRAMS).unwrap();
    assert!(pieces.len() > limit);
    switchboard::db::write_transaction(&mut app.conn(), |conn| {
        for body in pieces.chunks(pieces.len().div_ceil(6)) {
            domain::conversations::NewMessage {
                company_id: company,
                conversation_id: switchboard::core::ids::ConversationId(chat),
                channel_id: switchboard::core::ids::ChannelId(channel),
                direction: switchboard::core::status::Direction::Inbound,
                author_id: None,
                body: &body.join(" "),
                external_id: None,
                delivery: "delivered",
                created_at: app.clock().now(),
            }
            .insert(conn)?;
        }
        Ok::<_, switchboard::error::AppError>(())
    })
    .unwrap();
    // what a scan finds: the conversations whose contact or a message holds an x (a ж, in
    // either case: SQLite's scan compares it through fold_case)
    for q in ["x", "ж"] {
        let held: std::collections::BTreeSet<i64> = conversations::table
            .inner_join(contacts::table)
            .left_join(messages::table)
            .filter(conversations::company_id.eq(company))
            .select((conversations::id, contacts::name, messages::body.nullable()))
            .load::<(i64, String, Option<String>)>(&mut app.conn())
            .unwrap()
            .into_iter()
            .filter(|(_, name, body)| {
                [Some(name), body.as_ref()]
                    .into_iter()
                    .flatten()
                    .any(|text| text.to_lowercase().contains(q))
            })
            .map(|(id, ..)| id)
            .collect();
        assert!(held.contains(&chat));
        for (plan, found) in found_by_each_plan(&app, "sofia", &Permission::ALL, q) {
            assert_eq!(found, held, "{q:?} {plan:?}");
        }
    }
    if let switchboard::db::DbConnection::Sqlite(_) = *app.conn() {
        let viewer = domain::Viewer::new(
            switchboard::core::ids::UserId(id_of(&app, "DEMO", "sofia")),
            company,
            Permission::ALL.into_iter().collect(),
            switchboard::core::masking::PhoneRegion::from_stored(""),
        );
        for q in ["x", "ж"] {
            let filter = ListFilter {
                q: Some(q.into()),
                search_plan: Some(SearchPlan::FromMatches),
                ..ListFilter::default()
            };
            let plans =
                domain::conversations::explain_list(&mut app.conn(), &viewer, &filter).unwrap();
            assert!(
                plans
                    .iter()
                    .all(|(_, plan)| !plan.contains("messages_search")),
                "{q:?} read from the trigram tables: {plans:?}"
            );
        }
        let filter = ListFilter {
            q: Some("x".into()),
            search_plan: Some(SearchPlan::FromMatches),
            ..ListFilter::default()
        };
        // a pair in as many is still read from them
        let filter = ListFilter {
            q: Some("x\u{4E00}".into()),
            ..filter
        };
        let plans = domain::conversations::explain_list(&mut app.conn(), &viewer, &filter).unwrap();
        assert!(
            plans
                .iter()
                .any(|(_, plan)| plan.contains("messages_search")),
            "{plans:?}"
        );
    }
}

/// A word many messages hold is searched along the list (the conversations in the list's
/// order, each asked), text few hold from the matches: page after page, both list what a scan
/// of the text finds in the list's order, and count it, for a viewer who sees contact details
/// and for a masked one, who searches the masked copies.
async fn a_common_word_is_searched_along_the_list(app: TestApp) {
    let company = company_id(&app, "DEMO");
    let (sales, _) = channel(&app, "WhatsApp Sales");
    let at = app.clock().now();
    // 210 customers, each a conversation a minute apart; their messages name a parcel (300,
    // the older ones), then a courier and a phone number (4 100, the newest)
    switchboard::db::write_transaction(&mut app.conn(), |conn| {
        let mut chats = Vec::new();
        for n in 0..210 {
            let contact: i64 = diesel::insert_into(contacts::table)
                .values((
                    contacts::company_id.eq(company),
                    contacts::name.eq(format!("Walker {n:03}")),
                    // (the copy a masked viewer sees: a name that is no number, as it is)
                    contacts::name_masked.eq(Some(format!("Walker {n:03}"))),
                    contacts::created_at.eq(at),
                ))
                .returning(contacts::id)
                .get_result(conn)?;
            let chat: i64 = diesel::insert_into(conversations::table)
                .values((
                    conversations::company_id.eq(company),
                    conversations::channel_id.eq(sales),
                    conversations::contact_id.eq(contact),
                    conversations::status.eq("open"),
                    conversations::last_message_at.eq(at - chrono::Duration::minutes(n)),
                    conversations::created_at.eq(at),
                ))
                .returning(conversations::id)
                .get_result(conn)?;
            chats.push(chat);
        }
        let bodies = (0..300)
            .map(|n| format!("Your parcel {n} left the depot"))
            .chain((0..4_100).map(|n| {
                format!(
                    "Your courier {n} calls from +90 532 {:03} 44 55. Çok sağ ol",
                    n % 1000
                )
            }));
        for (n, body) in bodies.enumerate() {
            domain::conversations::NewMessage {
                company_id: company,
                conversation_id: switchboard::core::ids::ConversationId(chats[n % chats.len()]),
                channel_id: switchboard::core::ids::ChannelId(sales),
                direction: switchboard::core::status::Direction::Inbound,
                author_id: None,
                body: &body,
                external_id: None,
                delivery: "delivered",
                created_at: at,
            }
            .insert(conn)?;
        }
        Ok::<_, switchboard::error::AppError>(())
    })
    .unwrap();
    app.wait_for_change_elsewhere();
    let masked = dana_sees_everything_masked(&app);
    // the list's order of what a scan of the text (masked or not) finds
    let scan = |q: &str, masked: bool| -> Vec<i64> {
        let q = q.to_lowercase();
        // each conversation's contact and messages, as the viewer searches them
        let texts = conversations::table
            .inner_join(contacts::table)
            .left_join(messages::table)
            .filter(conversations::company_id.eq(company));
        let texts: Vec<(i64, chrono::NaiveDateTime, Option<String>, Option<String>)> = if masked {
            texts
                .select((
                    conversations::id,
                    conversations::last_message_at,
                    contacts::name_masked,
                    messages::body_masked.nullable(),
                ))
                .load(&mut app.conn())
        } else {
            texts
                .select((
                    conversations::id,
                    conversations::last_message_at,
                    contacts::name.nullable(),
                    messages::body.nullable(),
                ))
                .load(&mut app.conn())
        }
        .unwrap();
        let mut found: Vec<(chrono::NaiveDateTime, i64)> = texts
            .into_iter()
            .filter(|(_, _, name, body)| {
                [name, body]
                    .into_iter()
                    .any(|text| text.as_ref().is_some_and(|t| t.to_lowercase().contains(&q)))
            })
            .map(|(id, last, ..)| (last, id))
            .collect();
        found.sort_unstable_by(|a, b| b.cmp(a));
        found.dedup();
        found.into_iter().map(|(_, id)| id).collect()
    };
    let plan = |username: &str, permissions: &[Permission], q: &str| {
        let viewer = domain::Viewer::new(
            switchboard::core::ids::UserId(id_of(&app, "DEMO", username)),
            company,
            permissions.iter().copied().collect(),
            switchboard::core::masking::PhoneRegion::from_stored(""),
        );
        domain::conversations::search_plan(&mut app.conn(), &viewer, q).unwrap()
    };
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    let mut dana = app.signed_in("DEMO", "dana").await;
    let all = &Permission::ALL[..];
    for (who, permissions, q, expected) in [
        // common among the newest messages
        ("sofia", all, "courier", SearchPlan::AlongTheList),
        ("sofia", all, "+90 532", SearchPlan::AlongTheList),
        ("sofia", all, "courier 3", SearchPlan::AlongTheList),
        ("dana", &masked[..], "courier", SearchPlan::AlongTheList),
        // common among the newest contacts' names
        ("sofia", all, "walker", SearchPlan::AlongTheList),
        ("dana", &masked[..], "Walker", SearchPlan::AlongTheList),
        // too short for an index, but common
        ("sofia", all, "55", SearchPlan::AlongTheList),
        // with letters of case beyond ASCII: the sample folds them (SQLite through fold_case),
        // so a word written capitalized and searched in small letters is as common as it is
        ("sofia", all, "çok", SearchPlan::AlongTheList),
        // held by older messages only, by a few, by names only
        ("sofia", all, "parcel", SearchPlan::FromMatches),
        ("sofia", all, "courier 7", SearchPlan::FromMatches),
        ("sofia", all, "walker 1", SearchPlan::FromMatches),
        ("sofia", all, "ep", SearchPlan::FromMatches),
        // the masked copies hide the numbers: few of them hold these digits
        ("dana", &masked[..], "+90 532", SearchPlan::FromMatches),
        ("dana", &masked[..], "532 0", SearchPlan::FromMatches),
    ] {
        assert_eq!(plan(who, permissions, q), expected, "{who}: {q}");
        let client = if who == "sofia" {
            &mut sofia
        } else {
            &mut dana
        };
        let expected = scan(q, who == "dana");
        // every page, following the next-page link, in the list's order
        let mut listed = Vec::new();
        let mut path = format!(
            "/conversations?status=all&q={}",
            url::form_urlencoded::byte_serialize(q.as_bytes()).collect::<String>()
        );
        for _ in 0..10 {
            let page = client.get(&path).await;
            page.assert_status(200);
            match expected.len() {
                0 => page.assert_contains("No conversations here."),
                1 => page.assert_contains("id=\"conversation-count\">1 conversation.<"),
                n => {
                    page.assert_contains(&format!("id=\"conversation-count\">{n} conversations.<"))
                }
            };
            listed.extend(
                page.body
                    .split("<td><a href=\"/conversations/")
                    .skip(1)
                    .filter_map(|rest| rest.split('"').next()?.parse::<i64>().ok()),
            );
            match page.next_page() {
                Some(next) => path = next,
                None => break,
            }
        }
        assert_eq!(listed, expected, "{who}: {q}");
        assert!(
            who == "dana" || !expected.is_empty(),
            "{who} found nothing for {q}"
        );
    }

    // a small company (fewer messages and contacts than the sample) searches along its own
    // list, whatever the text: from the matches it would read every company's, and its
    // search would take longer the more of DEMO's messages hold the text. Either way it finds
    // its own conversations and no other company's: ACME's customers wrote what DEMO's did
    let acme = company_id(&app, "ACME");
    let olga = domain::Viewer::new(
        switchboard::core::ids::UserId(id_of(&app, "ACME", "olga")),
        acme,
        Permission::ALL.into_iter().collect(),
        switchboard::core::masking::PhoneRegion::from_stored(""),
    );
    let acme_conversations: std::collections::BTreeSet<i64> = conversations::table
        .filter(conversations::company_id.eq(acme))
        .select(conversations::id)
        .load(&mut app.conn())
        .unwrap()
        .into_iter()
        .collect();
    let (acme_chat, acme_text): (i64, String) = messages::table
        .filter(messages::company_id.eq(acme))
        .order(messages::id)
        .select((messages::conversation_id, messages::body))
        .first(&mut app.conn())
        .unwrap();
    let mut olga_client = app.signed_in("ACME", "olga").await;
    for q in [acme_text.as_str(), "courier 7", "courier"] {
        assert_eq!(
            domain::conversations::search_plan(&mut app.conn(), &olga, q).unwrap(),
            SearchPlan::AlongTheList,
            "ACME: {q}"
        );
        let in_demo = found_by_each_plan(&app, "sofia", &Permission::ALL, q);
        assert!(
            in_demo.iter().all(|(_, found)| !found.is_empty()),
            "DEMO holds {q}"
        );
        for (plan, found) in
            found_in_company_by_each_plan(&app, ("ACME", "olga"), &Permission::ALL, q)
        {
            assert!(
                found.is_subset(&acme_conversations),
                "{plan:?}, {q}: {found:?}"
            );
            assert_eq!(found.contains(&acme_chat), q == acme_text, "{plan:?}, {q}");
        }
        let listed = olga_client
            .get(&format!(
                "/conversations?status=all&q={}",
                url::form_urlencoded::byte_serialize(q.as_bytes()).collect::<String>()
            ))
            .await;
        listed.assert_status(200);
        let row = format!(r#"href="/conversations/{acme_chat}""#);
        assert_eq!(listed.body.contains(&row), q == acme_text, "{q}");
    }
}

/// A search's plan is chosen by two sample reads, then kept a minute for the company's same
/// search (its next page, a reload, its live updates): the plan changes what a search costs,
/// never what it finds.
async fn a_search_is_planned_once_a_minute(app: TestApp) {
    dana_sees_everything_masked(&app);
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    let mut dana = app.signed_in("DEMO", "dana").await;
    // statements run by a search, its text ending in `spaces` spaces: the same search, once
    // trimmed, past the inbox cache (which keeps the text as it came)
    let run = async |who: &mut Client, spaces: usize| {
        let start = app.state.pool.queries_run();
        let page = who
            .get(&format!(
                "/conversations?status=all&q=Mariana{}",
                "+".repeat(spaces)
            ))
            .await;
        page.assert_status(200);
        (app.state.pool.queries_run() - start, page.table_rows())
    };
    // rare text: both samples (the messages', the contacts') are read the first time only,
    // and a masked viewer's search, which reads other copies, is planned on its own
    for who in [&mut sofia, &mut dana] {
        // (the first page after signing in reads the session and the viewer's scope)
        who.get("/conversations").await.assert_status(200);
        let (first, found) = run(who, 0).await;
        let (again, found_again) = run(who, 1).await;
        assert_eq!(first - again, 2, "the plan was chosen again");
        assert_eq!(found, found_again);
        assert!(found > 0);
    }
    // a minute later it is chosen again
    app.clock()
        .advance(switchboard::auth::plan_cache::HELD_FOR + chrono::TimeDelta::seconds(1));
    // (the session's and the scope's caches have aged too)
    sofia.get("/conversations").await.assert_status(200);
    let (later, _) = run(&mut sofia, 2).await;
    let (again, _) = run(&mut sofia, 3).await;
    assert_eq!(later - again, 2, "the plan was kept past its minute");
}

/// Free text is read with a real phone-number parser and the company's region: order numbers,
/// dates and amounts stay readable (and searchable) to a masked viewer, a national number of
/// the region does not; changing the region re-reads stored messages too.
async fn order_numbers_stay_readable_and_the_region_decides(app: TestApp) {
    dana_sees_everything_masked(&app);
    let (whatsapp, token) = channel(&app, "WhatsApp Sales");
    let mut client = app.client();
    let text = "Order 123456 ships on 2026-12-02, ref 12345613. Ring 612 345 678 or \
                0532 000 11 67, or write to (jane.doe@example.com).";
    let page = hook(&mut client, whatsapp, &token, json!({"external_id": "wamid.region-1", "contact": {"name": "Region Tester", "phone": "+34 699 111 222"}, "text": text})).await;
    page.assert_status(201);
    let answer: serde_json::Value = serde_json::from_str(&page.body).unwrap();
    let conversation = answer["conversation_id"].as_i64().unwrap();
    let path = format!("/conversations/{conversation}");
    let mut dana = app.signed_in("DEMO", "dana").await;
    // TR, the default: 9 digits are no Turkish number, 11 are
    dana.get(&path)
        .await
        .assert_status(200)
        .assert_contains("Order 123456 ships on 2026-12-02, ref 12345613.")
        .assert_contains("Ring 612 345 678 or")
        .assert_contains("**** *** ** 67")
        .assert_lacks("000 11")
        .assert_lacks("jane.doe")
        .assert_contains("j***@***.com");
    let finds = |page: &Page| page.body.contains("Region Tester");
    assert!(finds(&dana.get("/conversations?status=all&q=123456").await));
    assert!(!finds(
        &dana.get("/conversations?status=all&q=000+11").await
    ));

    // a 9-digit Spanish mobile is a number in ES: masked at once and, once the copies are
    // rebuilt, no longer found by its digits
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    sofia.get("/settings").await.assert_contains("value=\"TR\"");
    let settings = [
        ("password_min_length", "12"),
        ("password_min_score", "3"),
        ("password_max_age_days", "0"),
        ("idle_timeout_minutes", "30"),
        ("session_lifetime_hours", "12"),
        ("lockout_threshold", "10"),
        ("reveal_daily_cap", "10"),
        ("missed_chat_minutes", "15"),
    ];
    let with_region = |region: &'static str| {
        let mut form = settings.to_vec();
        form.push(("phone_region", region));
        form
    };
    sofia
        .post("/settings", &with_region("Spain"))
        .await
        .assert_status(422)
        .assert_contains("two-letter country code");
    sofia
        .post("/settings", &with_region("es"))
        .await
        .assert_status(303);
    assert!(last_audit(&app).1.contains("phone region TR → ES"));
    domain::conversations::fill_masked_copies(&mut app.conn()).unwrap();
    dana.get(&path)
        .await
        .assert_contains("Order 123456 ships")
        .assert_lacks("612 345 678")
        .assert_contains("*** *** *78");
    assert!(!finds(
        &dana.get("/conversations?status=all&q=345+678").await
    ));
    assert!(finds(&dana.get("/conversations?status=all&q=123456").await));
    // a full viewer reads the message as written
    sofia
        .get(&path)
        .await
        .assert_contains("Ring 612 345 678 or 0532 000 11 67");
}

/// Every action on a conversation checks that the user may see it, not only that it is in
/// their company: an agent who sees only her own conversations gets 404 for each action on a
/// colleague's, and nothing about it changes.
async fn agents_cannot_act_on_a_colleagues_conversation(app: TestApp) {
    use switchboard::db::schema::{contact_reveals, conversation_labels};
    let (alice, bob) = (id_of(&app, "DEMO", "alice"), id_of(&app, "DEMO", "bob"));
    let theirs = conversation_of(&app, bob, "Telegram");
    let snapshot = |app: &TestApp| {
        let mut conn = app.conn();
        let conversation: (String, Option<i64>) = conversations::table
            .find(theirs)
            .select((conversations::status, conversations::assignee_id))
            .first(&mut conn)
            .unwrap();
        let messages: i64 = messages::table
            .filter(messages::conversation_id.eq(theirs))
            .count()
            .get_result(&mut conn)
            .unwrap();
        let labels: i64 = conversation_labels::table
            .filter(conversation_labels::conversation_id.eq(theirs))
            .count()
            .get_result(&mut conn)
            .unwrap();
        let reveals: i64 = contact_reveals::table
            .count()
            .get_result(&mut conn)
            .unwrap();
        (conversation, messages, labels, reveals)
    };
    // every permission an action needs, but sight of her own conversations only
    let own_only: Vec<Permission> = Permission::ALL
        .into_iter()
        .filter(|p| {
            !matches!(
                p,
                Permission::ConversationsViewChannel | Permission::ConversationsViewAll
            )
        })
        .collect();
    give_role(&app, "alice", "Own conversations, every action", &own_only);
    let before = snapshot(&app);
    let mut agent = app.signed_in("DEMO", "alice").await;
    agent.get("/conversations").await.assert_status(200);
    let path = |action: &str| format!("/conversations/{theirs}{action}");
    agent.get(&path("")).await.assert_status(404);
    let alice_id = alice.to_string();
    let attempts: [(&str, Vec<(&str, &str)>); 7] = [
        ("/messages", vec![("body", "I will take this one")]),
        ("/close", vec![]),
        ("/reopen", vec![]),
        ("/labels", vec![("label", "mine")]),
        ("/labels/remove", vec![("label", "urgent")]),
        ("/transfer", vec![("assignee_id", &alice_id)]),
        ("/reveal", vec![("reason", "customer asked for a callback")]),
    ];
    for (action, form) in attempts {
        agent.post(&path(action), &form).await.assert_status(404);
    }
    assert_eq!(snapshot(&app), before);
}

/// What the accessibility review found missing: a skip link and a `main` landmark on every
/// page (error pages and sign-in too), a label on the transfer list, names on the matrix
/// toggles, and only valid attributes (htmx's as `data-hx-*`).
async fn pages_meet_the_accessibility_basics(app: TestApp) {
    let bob = id_of(&app, "DEMO", "bob");
    let conversation = conversation_of(&app, bob, "Telegram");
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    let mut pages = Vec::new();
    for path in [
        "/conversations".to_string(),
        format!("/conversations/{conversation}"),
        "/assignments".into(),
        "/users".into(),
        "/roles".into(),
        "/settings".into(),
    ] {
        let page = sofia.get(&path).await;
        page.assert_status(200)
            .assert_contains("class=\"skip\" href=\"#content\"")
            .assert_contains("<main id=\"content\"");
        pages.push((path, page));
    }
    let missing = sofia.get("/no-such-page").await;
    missing.assert_status(404).assert_contains("<main");
    app.client().get("/login").await.assert_contains("<main");
    let (_, conversation_page) = &pages[1];
    conversation_page.assert_contains("<label for=\"transfer-to\">");
    let (_, matrix) = &pages[2];
    let toggles: Vec<&str> = matrix
        .body
        .split("<button")
        .skip(1)
        .filter_map(|rest| rest.split('>').next())
        .filter(|tag| tag.contains("class=\"toggle"))
        .collect();
    assert!(!toggles.is_empty());
    for tag in toggles {
        assert!(
            tag.contains("aria-label=\""),
            "a toggle without a name: {tag}"
        );
    }
    for (path, page) in &pages {
        assert!(
            !page.body.contains(" hx-"),
            "{path} has a bare hx- attribute"
        );
    }
}

/// The views are reachable from the page by whoever may use them: an agent finds her missed
/// chats (how long each customer has waited, the filter keeping the view) and missed calls;
/// the unassigned queue is offered to those who can see it, and filters it.
async fn every_viewer_reaches_missed_chats_and_the_queue(app: TestApp) {
    let alice = id_of(&app, "DEMO", "alice");
    // one of alice's customers has waited three hours
    let hers = conversation_of(&app, alice, "WhatsApp Sales");
    app.clock().stop();
    diesel::update(conversations::table.find(hers))
        .set(
            conversations::awaiting_reply_since
                .eq(Some(app.clock().now() - chrono::Duration::minutes(185))),
        )
        .execute(&mut app.conn())
        .unwrap();
    let mut agent = app.signed_in("DEMO", "alice").await;
    let list = agent.get("/conversations").await;
    list.assert_status(200)
        .assert_contains("href=\"/conversations?missed=1\"")
        .assert_contains("href=\"/calls?missed=1\"")
        .assert_lacks("id=\"view-unassigned\"");
    let missed = agent.get("/conversations?missed=1").await;
    missed
        .assert_status(200)
        .assert_contains("Missed chats")
        .assert_contains("<th>Waiting</th>")
        .assert_contains("3 h 05 min")
        .assert_contains("<input type=\"hidden\" name=\"missed\" value=\"1\">");
    agent
        .get("/calls?missed=1")
        .await
        .assert_status(200)
        .assert_contains("Missed calls");

    // a supervisor also has the queue (one more in it than the demo had)
    let bobs = conversation_of(&app, id_of(&app, "DEMO", "bob"), "Telegram");
    diesel::update(conversations::table.find(bobs))
        .set(conversations::assignee_id.eq(None::<i64>))
        .execute(&mut app.conn())
        .unwrap();
    let queued: i64 = conversations::table
        .filter(conversations::assignee_id.is_null())
        .filter(conversations::status.eq("open"))
        .filter(conversations::company_id.eq(company_id(&app, "DEMO")))
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    sofia
        .get("/conversations")
        .await
        .assert_contains("href=\"/conversations?unassigned=1\"");
    let queue = sofia.get("/conversations?unassigned=1").await;
    queue
        .assert_status(200)
        .assert_contains("Unassigned conversations");
    assert!(queued > 0);
    assert_eq!(queue.table_rows() as i64, queued);
    assert!(!queue.body.contains("<td>Alice Moreau</td>"));
}
