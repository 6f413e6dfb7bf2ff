//! How the activity log and the login history behave when they are large: seeds N records
//! (default 200 000; `SWITCHBOARD_BENCH_ROWS`) into a fresh SQLite file, or into PostgreSQL
//! when `SWITCHBOARD_BENCH_POSTGRES` names a server, then times the queries the pages run.
//! Prints figures; asserts nothing. Run: `cargo bench --bench activity`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark may panic on the unexpected

#[path = "../tests/integration/database.rs"]
#[allow(dead_code)]
mod database;
#[path = "support/timing.rs"]
mod timing;

use std::time::Instant;

use timing::time;

use database::TestDatabase;
use diesel::prelude::*;
use switchboard::core::ids::CompanyId;
use switchboard::db::schema::{audit_events, login_events};
use switchboard::db::{self, DbConnection, write_transaction};
use switchboard::domain::audit::{self, ActivityFilter};
use switchboard::domain::login_events::{self as logins, LoginFilter};
use switchboard::domain::{Actor, companies, now};

fn main() {
    // the same throwaway database the integration tests use, dropped when `database` is
    let (database, rows) = TestDatabase::for_benchmark(200_000);
    let rows = i64::try_from(rows).unwrap();
    let url = database.url.clone();
    println!(
        "backend {}, {rows} activity records and {rows} sign-in attempts",
        url.backend_name()
    );
    let mut conn = db::connect_single(&url).unwrap();
    db::migrate(&mut conn).unwrap();
    let company = write_transaction(&mut conn, |c| {
        companies::create(c, "BENCH", "Bench Co", &Actor::cli())
    })
    .unwrap();

    let seed = Instant::now();
    let actors = ["sofia", "sam", "alice", "bob", "dana"];
    let actions = [
        "user.update",
        "conversation.reply",
        "conversation.close",
        "assignment.add",
        "session.end",
    ];
    for chunk in 0..(rows / 10_000).max(1) {
        write_transaction(&mut conn, |c| {
            for n in 0..10_000.min(rows) {
                let i = (chunk * 10_000 + n) as usize;
                let actor = Actor {
                    user_id: None,
                    username: actors[i % 5].into(),
                    ip: "10.0.0.1".into(),
                };
                audit::record(
                    c,
                    audit::Entry {
                        company_id: company.id,
                        actor: &actor,
                        action: actions[(i / 5) % 5],
                        target_type: "user",
                        target_id: None,
                        target_label: "someone",
                        summary: format!("change {i}"),
                    },
                )?;
                diesel::insert_into(login_events::table)
                    .values((
                        login_events::company_id.eq(Some(company.id)),
                        login_events::company_code.eq("BENCH"),
                        login_events::username.eq(actors[i % 5]),
                        login_events::success.eq(!i.is_multiple_of(7)),
                        login_events::reason.eq(if !i.is_multiple_of(7) {
                            "ok"
                        } else {
                            "bad_password"
                        }),
                        login_events::ip.eq(format!("10.0.{}.{}", i % 250, i % 200)),
                        login_events::user_agent.eq("Mozilla/5.0"),
                        login_events::created_at.eq(now()),
                    ))
                    .execute(c)?;
            }
            Ok(())
        })
        .unwrap();
    }
    println!("seeded in {:.1} s\n", seed.elapsed().as_secs_f64());
    // a live PostgreSQL has statistics (autovacuum analyses tables this size within minutes);
    // a freshly seeded one has none, and its plans would say nothing about production
    if let db::DbConnection::Postgres(_) = &mut conn {
        diesel::connection::SimpleConnection::batch_execute(&mut conn, "ANALYZE").unwrap();
    }

    let newest: i64 = audit_events::table
        .select(diesel::dsl::max(audit_events::id))
        .first::<Option<i64>>(&mut conn)
        .unwrap()
        .unwrap_or(0);
    let deep: (chrono::NaiveDateTime, i64) = audit_events::table
        .filter(audit_events::id.le(newest / 10))
        .order(audit_events::id.desc())
        .select((audit_events::created_at, audit_events::id))
        .first(&mut conn)
        .unwrap();
    let activity = [
        ("first page", ActivityFilter::default()),
        (
            "a page deep in the log (keyset)",
            ActivityFilter {
                before: Some(deep),
                ..Default::default()
            },
        ),
        (
            "filtered by actor",
            ActivityFilter {
                actor: Some("dana".into()),
                ..Default::default()
            },
        ),
        (
            "filtered by action",
            ActivityFilter {
                action: Some("session.end".into()),
                ..Default::default()
            },
        ),
        (
            "filtered by area (prefix)",
            ActivityFilter {
                action: Some("conversation.".into()),
                ..Default::default()
            },
        ),
    ];
    for (label, filter) in &activity {
        time_activity(&mut conn, company.id, label, 50, filter);
    }
    let sign_ins = [
        ("first page", LoginFilter::default()),
        (
            "failures of one user",
            LoginFilter {
                user: Some("bob".into()),
                success: Some(false),
                ..Default::default()
            },
        ),
    ];
    for (label, filter) in &sign_ins {
        time_logins(&mut conn, company.id, label, 50, filter);
    }
    time(
        "sign-in throttle: failures from one address, 10 min",
        50,
        || {
            logins::failures_from(&mut conn, "10.0.3.3", now() - chrono::Duration::minutes(10))
                .unwrap()
        },
    );
    time("audit verify: the whole chain", 1, || {
        audit::verify(&mut conn, company.id).unwrap()
    });

    // Date filters need records spread over time: a year, oldest first (the throwaway
    // database's immutability trigger is lifted for this; the chain is not checked again).
    let spread = match &mut conn {
        db::DbConnection::Sqlite(_) => {
            "DROP TRIGGER audit_events_no_update;
             UPDATE audit_events SET created_at = datetime('2025-01-01', '+' || (id * 31536 / MAX_ID) || ' seconds');
             UPDATE login_events SET created_at = datetime('2025-01-01', '+' || (id * 31536 / MAX_ID) || ' seconds');
             ANALYZE;"
        }
        db::DbConnection::Postgres(_) => {
            "DROP TRIGGER audit_events_immutable ON audit_events;
             UPDATE audit_events SET created_at = TIMESTAMP '2025-01-01' + (id * 31536 / MAX_ID) * INTERVAL '1 second';
             UPDATE login_events SET created_at = TIMESTAMP '2025-01-01' + (id * 31536 / MAX_ID) * INTERVAL '1 second';
             ANALYZE;"
        }
    };
    // 31 536 seconds per 1/1000 of the ids: the ids cover the year 2025
    let max_id = newest.max(1) / 1000;
    diesel::connection::SimpleConnection::batch_execute(
        &mut conn,
        &spread.replace("MAX_ID", &max_id.max(1).to_string()),
    )
    .unwrap();
    let day = |d: &str| {
        chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
            .unwrap()
            .and_hms_opt(0, 0, 0)
    };
    for (label, from, to) in [
        ("one week in June", "2025-06-01", "2025-06-08"),
        ("March to May", "2025-03-01", "2025-06-01"),
        ("since November", "2025-11-01", "2026-01-01"),
        ("until February", "2024-01-01", "2025-02-01"),
    ] {
        let (from, to) = (day(from), day(to));
        let all = ActivityFilter {
            from,
            to,
            ..Default::default()
        };
        time_activity(&mut conn, company.id, label, 30, &all);
        let one_actor = ActivityFilter {
            actor: Some("dana".into()),
            ..all
        };
        time_activity(
            &mut conn,
            company.id,
            &format!("{label}, one actor"),
            30,
            &one_actor,
        );
        let sign_ins = LoginFilter {
            from,
            to,
            ..Default::default()
        };
        time_logins(&mut conn, company.id, label, 30, &sign_ins);
    }
    drop(conn);
    drop(database);
}

/// Prints how the database runs a page of the activity log with `filter`, then times it.
fn time_activity(
    conn: &mut DbConnection,
    company: CompanyId,
    label: &str,
    runs: usize,
    filter: &ActivityFilter,
) {
    let plan = audit::explain_page(conn, company, filter).unwrap();
    println!(
        "plan (activity: {label}):\n    {}",
        plan.replace('\n', "\n    ")
    );
    time(&format!("activity: {label}"), runs, || {
        audit::page(conn, company, filter, audit::PAGE_SIZE).unwrap()
    });
}

/// Prints how the database runs a page of the login history with `filter`, then times it.
fn time_logins(
    conn: &mut DbConnection,
    company: CompanyId,
    label: &str,
    runs: usize,
    filter: &LoginFilter,
) {
    let plan = logins::explain_page(conn, company, filter).unwrap();
    println!(
        "plan (logins: {label}):\n    {}",
        plan.replace('\n', "\n    ")
    );
    time(&format!("logins: {label}"), runs, || {
        logins::page(conn, company, filter, logins::PAGE_SIZE).unwrap()
    });
}
