//! Every list a page offers reads its rows through an index, whatever its filters: the
//! database's own plan (`EXPLAIN`) of the very query the page runs, on both databases.
//! Speed itself is measured by the benchmarks (`cargo bench --bench reports|activity`), which
//! print the same plans at 100,000 conversations and 1,000,000 records.

use crate::common::{TestApp, channel_id, company_id, id_of, on_both_databases};
use diesel::connection::SimpleConnection;
use switchboard::core::ids::{ChannelId, ConversationId, MessageId, UserId};
use switchboard::core::masking::PhoneRegion;
use switchboard::core::permissions::{Permission, PermissionSet};
use switchboard::core::status::ConversationStatus;
use switchboard::db::DbConnection;
use switchboard::domain::audit::{self, ActivityFilter};
use switchboard::domain::calls;
use switchboard::domain::conversations::{self as chats, ListFilter, ListOrder, MessageWindow};
use switchboard::domain::login_events::{self as logins, LoginFilter};
use switchboard::domain::notifications;
use switchboard::domain::users::{self, UserFilter, UserOrder};
use switchboard::domain::{Actor, Caller, Viewer, now};

/// The tables that grow with the company's traffic: none may be read whole.
const LARGE_TABLES: [&str; 10] = [
    "conversations",
    "messages",
    "contacts",
    "conversation_labels",
    "audit_events",
    "login_events",
    "call_tasks",
    "sessions",
    // every company's people: a company's list reads its own
    "users",
    "notifications",
];

/// The steps of `plan` that read a large table whole: SQLite's `SCAN table` without an index,
/// PostgreSQL's `Seq Scan on table`.
fn full_scans(plan: &str) -> Vec<String> {
    plan.lines()
        .map(str::trim)
        .filter(|step| {
            LARGE_TABLES.iter().any(|table| {
                let sqlite_scan = step
                    .strip_prefix("SCAN ")
                    .and_then(|rest| rest.strip_prefix(table))
                    .is_some_and(|rest| {
                        rest.is_empty() || (rest.starts_with(' ') && !rest.contains("USING"))
                    });
                sqlite_scan || step.contains(&format!("Seq Scan on {table} "))
            })
        })
        .map(String::from)
        .collect()
}

#[test]
fn a_full_scan_is_recognised_in_either_plan() {
    assert_eq!(full_scans("SCAN conversations"), ["SCAN conversations"]);
    assert!(full_scans("SCAN conversations USING INDEX conversations_company_recent").is_empty());
    assert!(full_scans("SEARCH conversations USING INDEX x (company_id=?)").is_empty());
    assert!(full_scans("SCAN conversations_search VIRTUAL TABLE INDEX 0:M3").is_empty());
    assert_eq!(
        full_scans("Limit  (cost=1.0..2.0)\n  ->  Seq Scan on audit_events  (cost=0.00..1.10)")
            .len(),
        1
    );
    assert!(
        full_scans("  ->  Index Scan using audit_events_company_time on audit_events").is_empty()
    );
}

fn viewer(app: &TestApp, username: &str, permissions: &[Permission]) -> Viewer {
    Viewer::new(
        UserId(id_of(app, "DEMO", username)),
        company_id(app, "DEMO"),
        permissions.iter().copied().collect::<PermissionSet>(),
        PhoneRegion::from_stored(""),
    )
}

/// Every filter of `/conversations`, alone and with the others a page combines them with.
fn conversation_filters(channel: ChannelId, assignee: UserId) -> Vec<(&'static str, ListFilter)> {
    let open = ListFilter {
        status: Some(ConversationStatus::Open),
        ..ListFilter::default()
    };
    vec![
        ("open (the default)", open.clone()),
        ("all", ListFilter::default()),
        (
            "closed, oldest first",
            ListFilter {
                status: Some(ConversationStatus::Closed),
                order: ListOrder::Oldest,
                ..ListFilter::default()
            },
        ),
        (
            "one channel",
            ListFilter {
                channel_id: Some(channel),
                ..open.clone()
            },
        ),
        (
            "one assignee",
            ListFilter {
                assignee_id: Some(assignee),
                ..open.clone()
            },
        ),
        (
            "the queue",
            ListFilter {
                unassigned: true,
                ..open.clone()
            },
        ),
        (
            "missed",
            ListFilter {
                waiting_since_before: Some(now() - chrono::Duration::minutes(10)),
                ..open.clone()
            },
        ),
        (
            "a label",
            ListFilter {
                label: Some("vip".into()),
                ..ListFilter::default()
            },
        ),
        (
            "a search",
            ListFilter {
                q: Some("refund".into()),
                ..ListFilter::default()
            },
        ),
        (
            "a short search",
            ListFilter {
                q: Some("re".into()),
                ..ListFilter::default()
            },
        ),
        (
            "the next page",
            ListFilter {
                after: Some((now(), switchboard::core::ids::ConversationId(1_000_000))),
                ..open
            },
        ),
    ]
}

async fn every_list_query_reads_through_an_index(app: TestApp) {
    let mut pooled = app.conn();
    let conn: &mut DbConnection = &mut pooled;
    if let DbConnection::Postgres(_) = conn {
        // PostgreSQL reads a table of a few rows whole whatever its indexes; told not to, it
        // still must when no index can serve the query, and that is what this looks for
        conn.batch_execute("SET enable_seqscan = off").unwrap();
    }
    let company = company_id(&app, "DEMO");
    let channel = ChannelId(channel_id(&app, "WhatsApp Sales"));
    let alice = UserId(id_of(&app, "DEMO", "alice"));
    let viewers = [
        (
            "supervisor",
            viewer(&app, "sofia", &[Permission::ConversationsViewAll]),
        ),
        (
            "channel member",
            viewer(&app, "bob", &[Permission::ConversationsViewChannel]),
        ),
        (
            "agent",
            viewer(&app, "alice", &[Permission::ConversationsViewAssigned]),
        ),
    ];
    let mut plans = Vec::new();
    for (who, viewer) in &viewers {
        for (label, filter) in conversation_filters(channel, alice) {
            for (query, plan) in chats::explain_list(conn, viewer, &filter).unwrap() {
                plans.push((format!("conversations, {who}, {label}: {query}"), plan));
            }
        }
    }
    for (who, viewer) in &viewers {
        let call_filters = [
            ("all", calls::CallFilter::default()),
            (
                "missed and open",
                calls::CallFilter {
                    only_missed_open: true,
                    ..Default::default()
                },
            ),
            (
                "the next page",
                calls::CallFilter {
                    before: Some((now(), switchboard::core::ids::CallTaskId(1_000_000))),
                    ..Default::default()
                },
            ),
        ];
        for (label, filter) in &call_filters {
            let plan = calls::explain_list(conn, viewer, filter).unwrap();
            plans.push((format!("calls, {who}, {label}"), plan));
        }
    }
    // a conversation's messages, read in steps
    use diesel::{QueryDsl, RunQueryDsl};
    let conversation = ConversationId(
        switchboard::db::schema::conversations::table
            .select(switchboard::db::schema::conversations::id)
            .first::<i64>(conn)
            .unwrap(),
    );
    for window in [
        MessageWindow::Latest,
        MessageWindow::Before(MessageId(1_000_000)),
        MessageWindow::From(MessageId(1)),
    ] {
        let plan = chats::explain_messages(conn, conversation, window).unwrap();
        plans.push((format!("messages, {window:?}"), plan));
    }
    let day = |d: u32| {
        chrono::NaiveDate::from_ymd_opt(2026, 1, d)
            .unwrap()
            .and_hms_opt(0, 0, 0)
    };
    let activity = [
        ActivityFilter::default(),
        ActivityFilter {
            actor: Some("ali".into()),
            ..Default::default()
        },
        ActivityFilter {
            action: Some("user.".into()),
            from: day(1),
            to: day(8),
            ..Default::default()
        },
        ActivityFilter {
            before: Some((now(), 1_000_000)),
            ..Default::default()
        },
    ];
    for filter in &activity {
        let plan = audit::explain_page(conn, company, filter).unwrap();
        plans.push((format!("activity, {filter:?}"), plan));
    }
    let sign_ins = [
        LoginFilter::default(),
        LoginFilter {
            user: Some("bob".into()),
            success: Some(false),
            from: day(1),
            to: day(8),
            ..Default::default()
        },
        LoginFilter {
            before: Some((now(), 1_000_000)),
            ..Default::default()
        },
    ];
    for filter in &sign_ins {
        let plan = logins::explain_page(conn, company, filter).unwrap();
        plans.push((format!("logins, {filter:?}"), plan));
    }
    // the team list, in each of its orders, alone and filtered
    let sofia = Caller {
        company_id: company,
        viewer: viewer(&app, "sofia", &[Permission::UsersManage]),
        actor: Actor::cli(),
    };
    let sofia_id = UserId(id_of(&app, "DEMO", "sofia"));
    for order in [UserOrder::Username, UserOrder::Name, UserOrder::LastSignIn] {
        let team_filters = [
            ("all", UserFilter::default()),
            (
                "the next page",
                UserFilter {
                    after: Some(sofia_id),
                    ..Default::default()
                },
            ),
            (
                "active",
                UserFilter {
                    status: Some("active".into()),
                    ..Default::default()
                },
            ),
            (
                "dormant",
                UserFilter {
                    status: Some("dormant".into()),
                    ..Default::default()
                },
            ),
            (
                "searched",
                UserFilter {
                    q: Some("ali".into()),
                    ..Default::default()
                },
            ),
            (
                "of a channel",
                UserFilter {
                    channel_id: Some(channel),
                    ..Default::default()
                },
            ),
        ];
        for (label, filter) in team_filters {
            let filter = UserFilter { order, ..filter };
            for (query, plan) in users::explain_user_list(conn, &sofia, &filter).unwrap() {
                plans.push((format!("team list, {order:?}, {label}: {query}"), plan));
            }
        }
    }
    // a handful of rows PostgreSQL would rather sort than walk in order; told not to sort, it
    // still must when no index holds the order, and that is what this looks for
    if let DbConnection::Postgres(_) = conn {
        conn.batch_execute("SET enable_sort = off").unwrap();
    }
    let plan = notifications::explain_list(conn, sofia_id).unwrap();
    plans.push(("notifications".to_string(), plan));
    if let DbConnection::Postgres(_) = conn {
        conn.batch_execute("RESET enable_sort").unwrap();
    }
    if let DbConnection::Postgres(_) = conn {
        conn.batch_execute("RESET enable_seqscan").unwrap();
    }

    let scans: Vec<String> = plans
        .iter()
        .filter(|(_, plan)| !full_scans(plan).is_empty())
        .map(|(what, plan)| format!("{what}\n    {}", plan.replace('\n', "\n    ")))
        .collect();
    assert!(
        scans.is_empty(),
        "{} list queries read a large table whole:\n{}",
        scans.len(),
        scans.join("\n")
    );
    // and each is a plan that reads through an index: an empty plan has no full scan either
    let unindexed: Vec<&(String, String)> = plans
        .iter()
        .filter(|(_, plan)| !plan.to_lowercase().contains("index"))
        .collect();
    assert!(
        unindexed.is_empty(),
        "plans naming no index: {unindexed:#?}"
    );
    // the lists whose few rows lie scattered through the company's conversations come from an
    // index holding just those rows: not from a walk through all of them looking for a match
    // (at 100,000 conversations such a walk took 9 ms on SQLite where the index takes 0.1);
    // and the lists read in an order no other index holds read it from theirs, not from a walk
    // of the whole table in id order
    let plan_of = |what: &str| {
        &plans
            .iter()
            .find(|(name, _)| name == what)
            .unwrap_or_else(|| panic!("no plan for {what}"))
            .1
    };
    for (what, indexes) in [
        (
            "conversations, agent, open (the default): page",
            &["conversations_assignee_status"][..],
        ),
        (
            "conversations, supervisor, the queue: page",
            &["conversations_queue_recent"][..],
        ),
        (
            "conversations, supervisor, missed: page",
            &["conversations_waiting_recent", "conversations_awaiting"][..],
        ),
        ("team list, Name, all: page", &["users_company_name"][..]),
        (
            "team list, LastSignIn, all: page",
            &["users_company_last_sign_in"][..],
        ),
        ("notifications", &["notifications_user_recent"][..]),
    ] {
        let plan = plan_of(what);
        assert!(
            indexes.iter().any(|index| plan.contains(index)),
            "{what} does not read through {indexes:?}:\n{plan}"
        );
    }
    // an agent's inbox, the team list in each of its orders and a person's notifications are
    // read in the list's order, not sorted after reading
    let in_order = ["Username", "Name", "LastSignIn"]
        .iter()
        .flat_map(|order| {
            ["all", "the next page", "active"]
                .map(|label| format!("team list, {order}, {label}: page"))
        })
        .chain([
            "conversations, agent, open (the default): page".to_string(),
            "notifications".to_string(),
        ]);
    for what in in_order {
        let plan = plan_of(&what);
        assert!(
            !plan.contains("TEMP B-TREE FOR ORDER BY") && !plan.contains("Sort Key"),
            "{what} is sorted after reading, not read in order:\n{plan}"
        );
    }
}

on_both_databases!(
    every_list_query_reads_through_an_index,
    short_rare_text_is_read_from_its_index
);

/// Text of one or two characters that few messages hold is read from the indexes of
/// migration 29, for a viewer who sees contact details and for a masked one: SQLite's trigram
/// tables (the trigrams that begin with the text), PostgreSQL's indexes of every character and
/// pair; not from a scan of the company's messages.
async fn short_rare_text_is_read_from_its_index(app: TestApp) {
    let mut pooled = app.conn();
    let conn: &mut DbConnection = &mut pooled;
    // enough messages that reading the company's costs more than its indexes, as measured
    // (PostgreSQL weighs the two)
    let company = company_id(&app, "DEMO");
    let (chat, channel): (i64, i64) = {
        use diesel::prelude::*;
        use switchboard::db::schema::conversations;
        conversations::table
            .filter(conversations::company_id.eq(company.0))
            .select((conversations::id, conversations::channel_id))
            .first(conn)
            .unwrap()
    };
    switchboard::db::write_transaction(conn, |conn| {
        for n in 0..3_000 {
            chats::NewMessage {
                company_id: company,
                conversation_id: ConversationId(chat),
                channel_id: ChannelId(channel),
                direction: switchboard::core::status::Direction::Inbound,
                author_id: None,
                body: &format!("Parcel {n} is on its way"),
                external_id: None,
                delivery: "delivered",
                created_at: now(),
            }
            .insert(conn)?;
        }
        Ok::<_, switchboard::error::AppError>(())
    })
    .unwrap();
    match conn {
        DbConnection::Sqlite(_) => conn.batch_execute("ANALYZE").unwrap(),
        DbConnection::Postgres(_) => {
            // as autovacuum leaves them: the rows counted, the indexes' pending entries
            // merged; and, still few rows, told not to, PostgreSQL reads them whole only
            // when no index can serve the query
            conn.batch_execute("VACUUM ANALYZE messages, contacts")
                .unwrap();
            conn.batch_execute("SET enable_seqscan = off").unwrap()
        }
    }
    let sees_all = viewer(&app, "sofia", &Permission::ALL);
    let masked = viewer(&app, "dana", &[Permission::ConversationsViewAll]);
    assert!(!sees_all.contact_mask().is_masked() && masked.contact_mask().is_masked());
    for (who, viewer, messages) in [
        (
            "sees all",
            &sees_all,
            ["messages_search", "messages_body_grams"],
        ),
        (
            "masked",
            &masked,
            ["messages_search", "messages_body_masked_grams"],
        ),
    ] {
        for q in ["谢", "zq", "7"] {
            let filter = ListFilter {
                q: Some(q.into()),
                search_plan: Some(chats::SearchPlan::FromMatches),
                ..ListFilter::default()
            };
            let plans = chats::explain_list(conn, viewer, &filter).unwrap();
            let index = match conn {
                DbConnection::Sqlite(_) => messages[0],
                DbConnection::Postgres(_) => messages[1],
            };
            // the page's and the count's (the rows of a page are then read by id)
            let searched: Vec<_> = plans
                .iter()
                .filter(|(query, _)| ["page", "count"].contains(query))
                .collect();
            assert_eq!(searched.len(), 2, "{plans:?}");
            for (query, plan) in searched {
                assert!(plan.contains(index), "{who}, {q}, {query}: {plan}");
            }
        }
    }
}

/// The plans above are the ones every request runs only while a plan never depends on the
/// values bound to it: the bundled SQLite is built with the query planner stability guarantee
/// (`.cargo/config.toml`). Without it, each statement with a bound `LIMIT` is planned again
/// on every use, and the statement cache saves nothing.
async fn a_statements_plan_does_not_depend_on_its_values(app: TestApp) {
    assert!(
        switchboard::db::plans_are_stable(&mut app.conn()).unwrap(),
        "SQLite was built without SQLITE_ENABLE_QPSG: is LIBSQLITE3_FLAGS in .cargo/config.toml?"
    );
}

on_both_databases!(a_statements_plan_does_not_depend_on_its_values);
