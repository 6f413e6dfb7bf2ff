//! How conversation search behaves on many messages: seeds the demo workspace and then N
//! messages (default 300 000; `SWITCHBOARD_BENCH_ROWS`) spread over its conversations, into a
//! fresh SQLite file, or into PostgreSQL when `SWITCHBOARD_BENCH_POSTGRES` names a server; then
//! times the search the conversation list runs, for a viewer who sees contact details in full
//! and for one who sees them masked. Prints figures; asserts
//! nothing. Run: `cargo bench --bench search`.

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
use switchboard::db::schema::{conversations, users};
use switchboard::db::{self, write_transaction};
use switchboard::domain::conversations::{self as chats, ListFilter, NewMessage};
use switchboard::domain::scale::WORDS;
use switchboard::domain::{Viewer, companies, demo, now};

fn main() {
    let (database, rows) = TestDatabase::for_benchmark(300_000);
    let url = database.url.clone();
    println!("backend {}, {rows} messages", url.backend_name());
    let mut conn = db::connect_single(&url).unwrap();
    db::migrate(&mut conn).unwrap();
    demo::seed(&mut conn).unwrap();
    let company: CompanyId = companies::find_by_code(&mut conn, "DEMO")
        .unwrap()
        .unwrap()
        .id;
    let chats_of_demo: Vec<(ConversationId, switchboard::core::ids::ChannelId)> =
        conversations::table
            .filter(conversations::company_id.eq(company))
            .select((conversations::id, conversations::channel_id))
            .load(&mut conn)
            .unwrap();

    let seed = Instant::now();
    let at = now();
    for chunk in 0..rows.div_ceil(10_000) {
        write_transaction(&mut conn, |c| {
            for n in chunk * 10_000..((chunk + 1) * 10_000).min(rows) {
                let (conversation_id, channel_id) = chats_of_demo[n % chats_of_demo.len()];
                let body = format!(
                    "{} {} {} call me on +90 5{:02} {:03} {:02} {:02}",
                    WORDS[n % 16],
                    WORDS[n / 16 % 16],
                    WORDS[n / 256 % 16],
                    n % 100,
                    n / 100 % 1000,
                    n / 7 % 100,
                    n / 11 % 100
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
        use diesel::connection::SimpleConnection;
        c.batch_execute("ANALYZE").unwrap();
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
    for (who, viewer) in [("in full", &all), ("masked", &masked)] {
        for q in ["courier", "warranty exch", "532 000", "no such words here"] {
            let filter = ListFilter {
                q: Some(q.into()),
                ..ListFilter::default()
            };
            time(&format!("search {q:?} ({who})"), 40, || {
                chats::list(&mut conn, viewer, &filter).unwrap()
            });
        }
    }
}
