//! How long `/reports` takes on a large company: seeds the demo workspace and then N
//! conversations (default 100 000; `SWITCHBOARD_BENCH_ROWS`) spread over 90 days, ten
//! messages each (1 000 000 by default), most answered and closed, into a fresh SQLite file,
//! or into PostgreSQL when `SWITCHBOARD_BENCH_POSTGRES` names a server; then times the report
//! over 30 and 7 days for a supervisor, with filters, and for viewers limited to their
//! channels or to their own conversations, after printing how the database runs each query;
//! then the conversation list's first page with and without its count.
//! Prints figures; asserts nothing.
//! Run: `cargo bench --bench reports`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark may panic on the unexpected

#[path = "../tests/integration/database.rs"]
#[allow(dead_code)]
mod database;
#[path = "support/timing.rs"]
mod timing;

use std::time::Instant;

use timing::time;

use chrono::TimeZone;
use database::TestDatabase;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use switchboard::core::ids::{ChannelId, CompanyId, UserId};
use switchboard::core::masking::PhoneRegion;
use switchboard::core::permissions::{Permission, PermissionSet};
use switchboard::core::status::ConversationStatus;
use switchboard::db::schema::{channels, conversations, users};
use switchboard::db::{self, DbConnection};
use switchboard::domain::conversations::{self as chats, ListFilter, ListOrder};
use switchboard::domain::reports::{self, ReportFilter};
use switchboard::domain::{Viewer, companies, demo, now};

fn user(conn: &mut DbConnection, username: &str) -> UserId {
    users::table
        .filter(users::username.eq(username))
        .select(users::id)
        .first(conn)
        .unwrap()
}

/// N contacts, N conversations over the last 90 days and ten messages each, written by the
/// database itself (one statement per table).
fn seed(conn: &mut DbConnection, company: CompanyId, rows: usize, text: &[ChannelId]) {
    let alice = user(conn, "alice").0;
    let bob = user(conn, "bob").0;
    let first_new: i64 = conversations::table
        .select(diesel::dsl::max(conversations::id))
        .first::<Option<i64>>(conn)
        .unwrap()
        .unwrap_or(0);
    let channel_case = format!(
        "CASE ct.id % 5 WHEN 0 THEN {} WHEN 1 THEN {} WHEN 2 THEN {} WHEN 3 THEN {} ELSE {} END",
        text[0],
        text[1 % text.len()],
        text[2 % text.len()],
        text[3 % text.len()],
        text[4 % text.len()]
    );
    // one conversation every 90 days / N, newest first; 70 % closed; answered after up to
    // 10 minutes; held by alice or bob
    let spacing = 90 * 86400 / rows.max(1);
    let company = company.0;
    let sql = match conn {
        DbConnection::Sqlite(_) => format!(
            "WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < {rows})
             INSERT INTO contacts (company_id, name, phone, phone_normalized, created_at, name_masked)
             SELECT {company}, 'Bench ' || n, '+90 532 ' || n, '+90532' || n, datetime('now'), 'Bench ' || n FROM seq;
             INSERT INTO conversations (company_id, channel_id, contact_id, assignee_id, status,
                 last_message_at, created_at, closed_at, first_response_at, first_responder_id, closed_by_id)
             SELECT {company}, {channel_case}, ct.id, CASE ct.id % 2 WHEN 0 THEN {alice} ELSE {bob} END,
                 CASE WHEN ct.id % 10 < 7 THEN 'closed' ELSE 'open' END,
                 datetime('now', '-' || ((ct.id % {rows}) * {spacing}) || ' seconds', '+30 minutes'),
                 datetime('now', '-' || ((ct.id % {rows}) * {spacing}) || ' seconds'),
                 CASE WHEN ct.id % 10 < 7 THEN datetime('now', '-' || ((ct.id % {rows}) * {spacing}) || ' seconds', '+' || (ct.id % 300) || ' minutes') END,
                 datetime('now', '-' || ((ct.id % {rows}) * {spacing}) || ' seconds', '+' || (ct.id % 600) || ' seconds'),
                 CASE ct.id % 2 WHEN 0 THEN {alice} ELSE {bob} END,
                 CASE WHEN ct.id % 10 < 7 THEN CASE ct.id % 2 WHEN 0 THEN {alice} ELSE {bob} END END
             FROM contacts ct WHERE ct.company_id = {company} AND ct.name LIKE 'Bench %';
             WITH RECURSIVE k(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM k WHERE k < 10)
             INSERT INTO messages (company_id, conversation_id, channel_id, direction, author_id, body, delivery, created_at, body_masked)
             SELECT c.company_id, c.id, c.channel_id,
                 CASE WHEN k.k % 2 = 1 THEN 'inbound' ELSE 'outbound' END,
                 CASE WHEN k.k % 2 = 1 THEN NULL ELSE c.assignee_id END,
                 'bench message', 'delivered', datetime(c.created_at, '+' || (k.k * 3) || ' minutes'), 'bench message'
             FROM conversations c, k WHERE c.id > {first_new};"
        ),
        DbConnection::Postgres(_) => format!(
            "INSERT INTO contacts (company_id, name, phone, phone_normalized, created_at, name_masked)
             SELECT {company}, 'Bench ' || n, '+90 532 ' || n, '+90532' || n, now() AT TIME ZONE 'UTC', 'Bench ' || n
             FROM generate_series(1, {rows}) AS n;
             INSERT INTO conversations (company_id, channel_id, contact_id, assignee_id, status,
                 last_message_at, created_at, closed_at, first_response_at, first_responder_id, closed_by_id)
             SELECT {company}, {channel_case}, ct.id, CASE ct.id % 2 WHEN 0 THEN {alice} ELSE {bob} END,
                 CASE WHEN ct.id % 10 < 7 THEN 'closed' ELSE 'open' END,
                 t.at + interval '30 minutes', t.at,
                 CASE WHEN ct.id % 10 < 7 THEN t.at + make_interval(mins => (ct.id % 300)::int) END,
                 t.at + make_interval(secs => (ct.id % 600)::int),
                 CASE ct.id % 2 WHEN 0 THEN {alice} ELSE {bob} END,
                 CASE WHEN ct.id % 10 < 7 THEN CASE ct.id % 2 WHEN 0 THEN {alice} ELSE {bob} END END
             FROM contacts ct,
                 LATERAL (SELECT (now() AT TIME ZONE 'UTC') - make_interval(secs => ((ct.id % {rows}) * {spacing})::double precision) AS at) t
             WHERE ct.company_id = {company} AND ct.name LIKE 'Bench %';
             INSERT INTO messages (company_id, conversation_id, channel_id, direction, author_id, body, delivery, created_at, body_masked)
             SELECT c.company_id, c.id, c.channel_id,
                 CASE WHEN k % 2 = 1 THEN 'inbound' ELSE 'outbound' END,
                 CASE WHEN k % 2 = 1 THEN NULL ELSE c.assignee_id END,
                 'bench message', 'delivered', c.created_at + make_interval(mins => k * 3), 'bench message'
             FROM conversations c, generate_series(1, 10) AS k WHERE c.id > {first_new};"
        ),
    };
    conn.batch_execute(&sql).unwrap();
    db::optimize(conn).unwrap();
    if let DbConnection::Postgres(_) = conn {
        // what autovacuum does soon after such a load: statistics, and the visibility map
        // that lets PostgreSQL answer from an index alone
        conn.batch_execute("VACUUM ANALYZE").unwrap();
    }
}

fn main() {
    let (database, rows) = TestDatabase::for_benchmark(100_000);
    let url = database.url.clone();
    println!(
        "backend {}, {rows} conversations, {} messages over 90 days",
        url.backend_name(),
        rows * 10
    );
    let mut conn = db::connect_single(&url).unwrap();
    db::migrate(&mut conn).unwrap();
    demo::seed(&mut conn).unwrap();
    let company: CompanyId = companies::find_by_code(&mut conn, "DEMO")
        .unwrap()
        .unwrap()
        .id;
    let text: Vec<ChannelId> = channels::table
        .filter(channels::company_id.eq(company))
        .filter(channels::kind.ne("voip"))
        .order(channels::id)
        .select(channels::id)
        .load(&mut conn)
        .unwrap();
    let seeding = Instant::now();
    seed(&mut conn, company, rows, &text);
    println!("seeded in {:.1} s", seeding.elapsed().as_secs_f64());

    let viewer = |conn: &mut DbConnection, username: &str, permissions: PermissionSet| {
        Viewer::new(
            user(conn, username),
            company,
            permissions,
            PhoneRegion::from_stored(""),
        )
    };
    let supervisor = viewer(&mut conn, "sofia", PermissionSet::all());
    let channel_lead = viewer(
        &mut conn,
        "bob",
        [
            Permission::ReportsView,
            Permission::ConversationsViewChannel,
        ]
        .into_iter()
        .collect(),
    );
    let agent = viewer(
        &mut conn,
        "alice",
        [
            Permission::ReportsView,
            Permission::ConversationsViewAssigned,
        ]
        .into_iter()
        .collect(),
    );
    let zone: chrono_tz::Tz = "Europe/Istanbul".parse().unwrap();
    let today = zone.from_utc_datetime(&now()).date_naive();
    let period = |days: i64| ReportFilter {
        first_day: today - chrono::Duration::days(days - 1),
        last_day: today,
        zone,
        channels: Vec::new(),
        user: None,
        label: None,
        team: None,
    };
    let cases = [
        ("supervisor, 30 days", &supervisor, period(30)),
        ("supervisor, 7 days", &supervisor, period(7)),
        ("supervisor, today", &supervisor, period(1)),
        (
            "supervisor, 30 days, one channel",
            &supervisor,
            ReportFilter {
                channels: vec![text[0]],
                ..period(30)
            },
        ),
        (
            "supervisor, 30 days, one person",
            &supervisor,
            ReportFilter {
                user: Some(agent.user_id),
                ..period(30)
            },
        ),
        (
            "supervisor, 30 days, a label",
            &supervisor,
            ReportFilter {
                label: Some("vip".into()),
                ..period(30)
            },
        ),
        (
            "channel lead (3 channels), 30 days",
            &channel_lead,
            period(30),
        ),
        ("agent (her own conversations), 30 days", &agent, period(30)),
        ("supervisor, 90 days", &supervisor, period(90)),
    ];
    // how the database runs each query (the supervisor's 30 days; the agent's own)
    for (who, viewer) in [("supervisor", &supervisor), ("agent", &agent)] {
        for (name, plan) in reports::explain(&mut conn, viewer, &period(30)).unwrap() {
            println!("plan ({who}) {name}:\n    {}", plan.replace('\n', "\n    "));
        }
    }
    // the page runs a report's queries in two lanes when the pool has a second connection
    // idle (`reports::build`); both ways are timed
    let mut spare = db::connect_single(&url).unwrap();
    for (label, viewer, filter) in &cases {
        let opened = reports::build(&mut conn, None, viewer, filter)
            .unwrap()
            .totals
            .opened;
        time(&format!("{label} ({opened} opened)"), 40, || {
            reports::build(&mut conn, Some(&mut spare), viewer, filter).unwrap()
        });
        time("  the same on one connection", 20, || {
            reports::build(&mut conn, None, viewer, filter).unwrap()
        });
    }

    // the conversation list of the same company: its first page, then the page with the
    // count above it (at most 1,001 ids read), in each order
    let open = ListFilter {
        status: Some(ConversationStatus::Open),
        ..ListFilter::default()
    };
    let lists = [
        ("open", open.clone()),
        ("all", ListFilter::default()),
        (
            "all, oldest first",
            ListFilter {
                order: ListOrder::Oldest,
                ..ListFilter::default()
            },
        ),
        (
            "closed, one channel",
            ListFilter {
                status: Some(ConversationStatus::Closed),
                channel_id: Some(text[0]),
                ..ListFilter::default()
            },
        ),
        (
            "the queue (open, unassigned)",
            ListFilter {
                unassigned: true,
                ..open.clone()
            },
        ),
        (
            "missed (open, waiting over 10 minutes)",
            ListFilter {
                waiting_since_before: Some(now() - chrono::Duration::minutes(10)),
                ..open.clone()
            },
        ),
        (
            "a label (vip)",
            ListFilter {
                label: Some("vip".into()),
                ..ListFilter::default()
            },
        ),
    ];
    for (label, filter) in &lists {
        for (who, viewer) in [("supervisor", &supervisor), ("agent", &agent)] {
            for (name, plan) in chats::explain_list(&mut conn, viewer, filter).unwrap() {
                println!(
                    "plan (list {label}, {who}) {name}:\n    {}",
                    plan.replace('\n', "\n    ")
                );
            }
            let (page, count) = chats::list_counted(&mut conn, viewer, filter).unwrap();
            let shown = page.rows.len();
            time(
                &format!("list {label}, {who}: page ({shown} rows)"),
                15,
                || chats::list(&mut conn, viewer, filter).unwrap(),
            );
            time(
                &format!("list {label}, {who}: page and count ({count})"),
                15,
                || chats::list_counted(&mut conn, viewer, filter).unwrap(),
            );
        }
    }
}
