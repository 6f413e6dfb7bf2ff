//! No page's database work grows with what it lists: every page a signed-in person can open
//! runs the same number of statements before and after the company's conversations, messages,
//! people, sign-ins and activity grow (an N+1 loop would run more), and no page runs more
//! than [`BUDGET`]. Counted by the pool's own instrumentation (`Pool::queries_run`).

use crate::common::{PASSWORD, TestApp, company_id, hook, id_of, on_both_databases};
use actix_web::http::Method;
use diesel::prelude::*;
use switchboard::access::Rule;
use switchboard::core::ids::{ChannelId, RoleId};
use switchboard::db::schema::{
    access_reviews, broadcasts, channels, contacts, conversations, message_templates, teams,
};
use switchboard::domain::users::NewUser;
use switchboard::domain::{Actor, audit, companies, login_events, users};

/// The most statements one page may run, the session's own reads included (the pool's check
/// of each connection it hands out is not counted): the reports and their export run the most
/// (an aggregate per figure; 18 and 29 today), a page of a list or a form fewer than ten.
const BUDGET: u64 = 36;

/// How many rows of each kind the company gains between the two counts.
const GROWTH: usize = 30;

on_both_databases!(pages_run_as_many_statements_however_much_they_list);

/// Every signed-in page, run as sofia (a supervisor: every page opens) and as alice (an agent:
/// the pages she may open), counted before and after the company grows.
async fn pages_run_as_many_statements_however_much_they_list(app: TestApp) {
    let mut sofia = app.signed_in("DEMO", "sofia").await;
    // the rows the demo lacks, so that their pages are counted too: a broadcast draft and an
    // open access review (its lines are the people at its start: counted, not grown)
    sofia.get("/broadcasts").await.assert_status(200);
    let welcome: i64 = message_templates::table
        .filter(message_templates::name.eq("welcome"))
        .filter(message_templates::version.eq(1))
        .select(message_templates::id)
        .first(&mut app.conn())
        .unwrap();
    let sms = crate::common::channel_id(&app, "SMS");
    sofia
        .post(
            "/broadcasts",
            &[
                ("name", "Counted"),
                ("channel_id", &sms.to_string()),
                ("template_id", &welcome.to_string()),
            ],
        )
        .await
        .assert_status(303);
    let due_on = (app.clock().now() + chrono::Duration::days(30)).date();
    sofia
        .post("/access-reviews", &[("due_on", &due_on.to_string())])
        .await
        .assert_status(303);
    // the flash the review left is shown (and so taken) before anything is counted
    sofia
        .get("/access-reviews")
        .await
        .assert_contains("review")
        .assert_status(200);
    let pages = pages_to_count(&app);
    let mut alice = app.signed_in("DEMO", "alice").await;
    app.clock().stop();
    // past the first page of every list first, so that both counts page alike
    grow(&app, "first").await;
    let saves = app.state.session_cache.data_saves();
    let mut before = count_each(&app, &mut sofia, "sofia", &pages).await;
    before.extend(count_each(&app, &mut alice, "alice", &pages).await);
    grow(&app, "second").await;
    let mut after = count_each(&app, &mut sofia, "sofia", &pages).await;
    after.extend(count_each(&app, &mut alice, "alice", &pages).await);
    assert_eq!(before.len(), after.len());
    // showing a page writes nothing to the session (an empty flash taken is no change)...
    assert_eq!(app.state.session_cache.data_saves(), saves);
    // ...while a flash is saved with the change that sets it, and again when a page shows it
    sofia
        .post("/account/time-zone", &[("time_zone", "Europe/Berlin")])
        .await
        .assert_status(303);
    assert_eq!(app.state.session_cache.data_saves(), saves + 1);
    // the page that shows the flash saves the session and tells the other instances, but is
    // no write the open live pages must look again for, and retires no cache here
    let (writes, commits) = (app.state.pool.writes(), app.state.pool.commits());
    let announced = switchboard::db::changes::latest(&mut app.conn()).unwrap();
    sofia.get("/account").await.assert_status(200);
    assert_eq!(app.state.session_cache.data_saves(), saves + 2);
    assert_eq!(
        app.state.pool.writes(),
        writes,
        "a flash shown woke the live pages"
    );
    assert_eq!(app.state.pool.commits(), commits);
    assert_eq!(
        switchboard::db::changes::latest(&mut app.conn()).unwrap(),
        announced + 1
    );
    sofia.get("/account").await.assert_status(200);
    assert_eq!(app.state.session_cache.data_saves(), saves + 2);
    let mut report = String::new();
    for ((path, small), (_, large)) in before.iter().zip(&after) {
        report.push_str(&format!("{path}: {small} → {large}\n"));
    }
    println!("statements per page, before → after the company grew:\n{report}");
    for ((path, small), (_, large)) in before.iter().zip(&after) {
        assert_eq!(
            small, large,
            "{path} runs more statements as it lists more:\n{report}"
        );
        assert!(
            *large <= BUDGET,
            "{path} runs {large} statements:\n{report}"
        );
    }
}

/// The statements each page runs, asked twice in a row and counted the second time (the first
/// may find the session cache retired by the last change, which is the same on both counts).
/// A supervisor opens every page (`/` sends her on to her first page); an agent's refusals are
/// left out.
async fn count_each(
    app: &TestApp,
    client: &mut crate::common::Client,
    who: &str,
    pages: &[String],
) -> Vec<(String, u64)> {
    let mut counts = Vec::new();
    for path in pages {
        let first = client.get(path).await;
        if who != "sofia" && [403, 404].contains(&first.status.as_u16()) {
            continue;
        }
        assert!(
            [200, 303].contains(&first.status.as_u16()),
            "{who} {path}: {}",
            first.status
        );
        let start = app.state.pool.queries_run();
        let page = client.get(path).await;
        let ran = app.state.pool.queries_run() - start;
        assert_eq!(page.status, first.status, "{who} {path}");
        counts.push((format!("{who} {path}"), ran));
    }
    counts
}

/// Every GET route a signed-in person may open, with its `{id}` filled in from the demo
/// workspace; a new route with an id must say here which row it shows.
fn pages_to_count(app: &TestApp) -> Vec<String> {
    let demo = company_id(app, "DEMO");
    let mut conn = app.conn();
    // the demo company's first row of a table, if it has one
    macro_rules! first_of {
        ($table:ident) => {
            $table::table
                .filter($table::company_id.eq(demo))
                .order($table::id)
                .select($table::id)
                .first::<i64>(&mut conn)
                .optional()
                .unwrap()
        };
    }
    let agent_role = switchboard::domain::roles::find_by_name(&mut conn, demo, "Agent")
        .unwrap()
        .id
        .0;
    let lookups: Vec<(&str, Option<i64>)> = vec![
        ("/users/", Some(id_of(app, "DEMO", "sofia"))),
        ("/roles/", Some(agent_role)),
        ("/contacts/", first_of!(contacts)),
        ("/teams/", first_of!(teams)),
        ("/channels/", first_of!(channels)),
        ("/conversations/", first_of!(conversations)),
        ("/templates/", first_of!(message_templates)),
        ("/broadcasts/", first_of!(broadcasts)),
        ("/access-reviews/", first_of!(access_reviews)),
    ];
    let mut pages = Vec::new();
    for def in switchboard::web::route_table() {
        if def.method != Method::GET || matches!(def.rule, Rule::Public | Rule::Webhook) {
            continue;
        }
        let path = match (def.path.find('{'), def.path.find('}')) {
            (Some(open), Some(close)) => {
                let prefix = &def.path[..open];
                let shown = prefix.trim_start_matches("/exports");
                let id = lookups
                    .iter()
                    .find(|(start, _)| shown.starts_with(start))
                    .unwrap_or_else(|| panic!("{}: say which demo row it shows", def.path))
                    .1
                    .unwrap_or_else(|| panic!("{}: the demo has no such row", def.path));
                format!("{prefix}{id}{}", &def.path[close + 1..])
            }
            _ => def.path.to_string(),
        };
        pages.push(path);
    }
    pages
}

/// The demo company gains conversations (through the inbound hook, routed as in production),
/// messages in the conversation the detail pages show, people, sign-in attempts, activity and
/// live sessions.
async fn grow(app: &TestApp, round: &str) {
    let demo = company_id(app, "DEMO");
    let hooks: Vec<(ChannelId, String)> = channels::table
        .filter(channels::company_id.eq(demo))
        .filter(channels::active.eq(true))
        .filter(channels::kind.ne("voip"))
        .select((channels::id, channels::webhook_token))
        .load(&mut app.conn())
        .unwrap();
    let first: (i64, i64) = conversations::table
        .inner_join(contacts::table)
        .filter(conversations::company_id.eq(demo))
        .order(conversations::id)
        .select((conversations::channel_id, conversations::id))
        .first(&mut app.conn())
        .unwrap();
    let mut client = app.client();
    for n in 0..GROWTH {
        let (channel, token) = &hooks[n % hooks.len()];
        hook(
            &mut client,
            channel.0,
            token,
            serde_json::json!({
                "external_id": format!("growth-{round}-{n}"),
                "contact": {"name": format!("Grown {round} {n}"),
                            "phone": format!("+90 532 {}11 {n:04}", round.len()),
                            "email": format!("grown-{round}-{n}@example.com")},
                "text": format!("order {n}, call +90 532 111 {n:04}"),
            }),
        )
        .await
        .assert_status(201);
    }
    // more messages in the first conversation (the one whose page is counted), from its own
    // contact
    let in_first = |app: &TestApp| -> i64 {
        switchboard::db::schema::messages::table
            .filter(switchboard::db::schema::messages::conversation_id.eq(first.1))
            .count()
            .get_result(&mut app.conn())
            .unwrap()
    };
    let messages_before = in_first(app);
    let (channel, token) = hooks
        .iter()
        .find(|(id, _)| id.0 == first.0)
        .unwrap()
        .clone();
    let contact: (Option<String>, Option<String>) = conversations::table
        .inner_join(contacts::table)
        .filter(conversations::id.eq(first.1))
        .select((contacts::phone, contacts::email))
        .first(&mut app.conn())
        .unwrap();
    for n in 0..GROWTH {
        hook(
            &mut client,
            channel.0,
            &token,
            serde_json::json!({
                "external_id": format!("growth-{round}-more-{n}"),
                "contact": {"name": "Same", "phone": contact.0, "email": contact.1},
                "text": format!("one more thing ({n})"),
            }),
        )
        .await
        .assert_status(201);
    }
    // they joined it (it is open on that channel), so its page has more to show
    assert_eq!(in_first(app), messages_before + GROWTH as i64);
    let mut conn = app.conn();
    let company = companies::find_by_code(&mut conn, "DEMO").unwrap().unwrap();
    let actor = Actor::cli();
    let agent: RoleId = switchboard::domain::roles::find_by_name(&mut conn, demo, "Agent")
        .unwrap()
        .id;
    let channel_ids: Vec<Option<ChannelId>> = hooks.iter().map(|(id, _)| Some(*id)).collect();
    for n in 0..GROWTH {
        let username = format!("grown-{round}-{n:02}");
        users::create(
            &mut conn,
            &NewUser {
                company_id: demo,
                username: &username,
                display_name: &username,
                email: None,
                phone: None,
                role_id: Some(agent),
                password: PASSWORD,
                must_change_password: false,
                channel_ids: &channel_ids,
                granted_by: None,
            },
            &company.password_policy(),
            &company.code,
            &actor,
        )
        .unwrap();
        login_events::record(
            &mut conn,
            &login_events::Attempt {
                company_id: Some(demo),
                company_code: "DEMO",
                username: &username,
                user_id: None,
                success: n % 3 != 0,
                reason: if n % 3 != 0 { "ok" } else { "bad_password" },
                ip: &format!("10.0.0.{n}"),
                user_agent: "Mozilla/5.0 (grown)",
                location: None,
            },
        )
        .unwrap();
        switchboard::db::write_transaction(&mut conn, |conn| {
            audit::Entry::new(demo, &actor, "test.growth")
                .about("test", "growth")
                .saying(format!("grown record {n}"))
                .write(conn)
        })
        .unwrap();
    }
    drop(conn);
    // live sessions too (`/sessions`, a person's page): a third of the new people sign in
    for n in (0..GROWTH).step_by(3) {
        app.signed_in("DEMO", &format!("grown-{round}-{n:02}"))
            .await;
    }
    app.wait_for_change_elsewhere();
}
