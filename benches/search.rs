//! How conversation search behaves on many messages: seeds the demo workspace, then C more
//! conversations (default 100 000; `SWITCHBOARD_BENCH_CONVERSATIONS`, 0 for the demo's few)
//! and N messages (default 300 000; `SWITCHBOARD_BENCH_ROWS`) spread over them all, into a
//! fresh SQLite file, or into PostgreSQL when `SWITCHBOARD_BENCH_POSTGRES` names a server;
//! then times what the conversation list runs for a search (its page and its count, up to a
//! thousand), for a viewer who sees contact details in full and for one who sees them masked:
//! as the list chooses its plan (the choice timed with it), then each plan alone. Prints
//! figures; asserts nothing. Run: `cargo bench --bench search`. With
//! `SWITCHBOARD_BENCH_KEEP=1` the seeded database is kept, and its address printed, for
//! reading its plans by hand.

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
use switchboard::core::ids::{CompanyId, ConversationId, UserId};
use switchboard::core::masking::PhoneRegion;
use switchboard::core::permissions::{Permission, PermissionSet};
use switchboard::core::status::Direction;
use switchboard::db::schema::{contacts, conversations, users};
use switchboard::db::{self, write_transaction};
use switchboard::domain::conversations::{self as chats, ListFilter, NewMessage, SearchPlan};
use switchboard::domain::scale::WORDS;
use switchboard::domain::{Viewer, companies, demo, now};

fn main() {
    let (database, rows) = TestDatabase::for_benchmark(300_000);
    let url = database.url.clone();
    println!("backend {}, {rows} messages", url.backend_name());
    if std::env::var_os("SWITCHBOARD_BENCH_KEEP").is_some() {
        println!("kept: {}", database.url_string());
        std::mem::forget(database);
    }
    let mut conn = db::connect_single(&url).unwrap();
    db::migrate(&mut conn).unwrap();
    demo::seed(&mut conn).unwrap();
    let company: CompanyId = companies::find_by_code(&mut conn, "DEMO")
        .unwrap()
        .unwrap()
        .id;
    let seed = Instant::now();
    let at = now();
    let more: usize = std::env::var("SWITCHBOARD_BENCH_CONVERSATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let channel: switchboard::core::ids::ChannelId = conversations::table
        .filter(conversations::company_id.eq(company))
        .select(conversations::channel_id)
        .first(&mut conn)
        .unwrap();
    for chunk in 0..more.div_ceil(10_000) {
        write_transaction(&mut conn, |c| {
            for n in chunk * 10_000..((chunk + 1) * 10_000).min(more) {
                let contact: i64 = diesel::insert_into(contacts::table)
                    .values((
                        contacts::company_id.eq(company),
                        contacts::name.eq(format!("Customer {n}")),
                        contacts::name_masked.eq(Some(format!("Customer {n}"))),
                        contacts::created_at.eq(at),
                    ))
                    .returning(contacts::id)
                    .get_result(c)?;
                diesel::insert_into(conversations::table)
                    .values((
                        conversations::company_id.eq(company),
                        conversations::channel_id.eq(channel),
                        conversations::contact_id.eq(contact),
                        conversations::status.eq("open"),
                        conversations::last_message_at
                            .eq(at - chrono::Duration::seconds((more - n) as i64)),
                        conversations::created_at.eq(at),
                    ))
                    .execute(c)?;
            }
            Ok(())
        })
        .unwrap();
    }
    let chats_of_demo: Vec<(ConversationId, switchboard::core::ids::ChannelId)> =
        conversations::table
            .filter(conversations::company_id.eq(company))
            .select((conversations::id, conversations::channel_id))
            .load(&mut conn)
            .unwrap();

    for chunk in 0..rows.div_ceil(10_000) {
        write_transaction(&mut conn, |c| {
            for n in chunk * 10_000..((chunk + 1) * 10_000).min(rows) {
                let (conversation_id, channel_id) = chats_of_demo[n % chats_of_demo.len()];
                // and one in a thousand signs off with letters no other message holds
                let body = format!(
                    "{} {} {} call me on +90 5{:02} {:03} {:02} {:02}{}",
                    WORDS[n % 16],
                    WORDS[n / 16 % 16],
                    WORDS[n / 256 % 16],
                    n % 100,
                    n / 100 % 1000,
                    n / 7 % 100,
                    n / 11 % 100,
                    if n % 1000 == 999 {
                        ". Ok, bye 谢谢, Спасибо"
                    } else {
                        ""
                    }
                );
                NewMessage {
                    company_id: company,
                    conversation_id,
                    channel_id,
                    direction: Direction::Inbound,
                    author_id: None,
                    body: &body,
                    external_id: None,
                    delivery: "delivered",
                    created_at: at - chrono::Duration::seconds(n as i64),
                }
                .insert(c)?;
            }
            Ok(())
        })
        .unwrap();
    }
    db::optimize(&mut conn).unwrap();
    if let db::DbConnection::Postgres(c) = &mut conn {
        // as autovacuum leaves the tables: counted, and the GIN indexes' pending entries
        // merged (each search reads those whole)
        use diesel::connection::SimpleConnection;
        c.batch_execute("VACUUM ANALYZE").unwrap();
    }
    println!("seeded in {:.1} s", seed.elapsed().as_secs_f64());

    let sofia: UserId = users::table
        .filter(users::username.eq("sofia"))
        .select(users::id)
        .first(&mut conn)
        .unwrap();
    let all = Viewer::new(
        sofia,
        company,
        PermissionSet::all(),
        PhoneRegion::from_stored(""),
    );
    let masked = Viewer::new(
        sofia,
        company,
        [Permission::ConversationsViewAll].into_iter().collect(),
        PhoneRegion::from_stored(""),
    );
    println!(
        "{} conversations; a word in 1 of 5 messages (\"courier\"), words in 1 of 128, a \
         number in a few, nothing, a name of 1 conversation in 9 (the older ones), two characters \
         nobody wrote, two every message holds, one and two in 1 of 1 000 (\"k\", \"ok\", \
         \"谢谢\"), a word and two letters of case beyond ASCII in 1 of 1 000 (\"СПАСИБО\", \
         \"сп\")",
        chats_of_demo.len()
    );
    for (who, viewer) in [("in full", &all), ("masked", &masked)] {
        for q in [
            "courier",
            "warranty exch",
            "532 000",
            "no such words here",
            "customer 4",
            "a1",
            "90",
            "k",
            "ok",
            "谢谢",
            "СПАСИБО",
            "сп",
        ] {
            let chosen = chats::search_plan(&mut conn, viewer, q).unwrap();
            for plan in [
                None,
                Some(SearchPlan::FromMatches),
                Some(SearchPlan::AlongTheList),
            ] {
                let filter = ListFilter {
                    q: Some(q.into()),
                    search_plan: plan,
                    ..ListFilter::default()
                };
                let label = match plan {
                    None => format!("search {q:?} ({who}): chosen, {chosen:?}"),
                    Some(plan) => format!("search {q:?} ({who}): {plan:?}"),
                };
                time(&label, 20, || {
                    chats::list_counted(&mut conn, viewer, &filter).unwrap()
                });
            }
        }
    }
}
