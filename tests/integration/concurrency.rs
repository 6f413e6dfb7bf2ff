//! Concurrent writers on both databases: none fails ("database is locked" on SQLite would),
//! and the per-company audit chain does not fork.

use crate::common::on_both_databases;
use crate::common::{Backend, TestDatabase};
use switchboard::db::{self, write_transaction};
use switchboard::domain::{Actor, audit, companies};

fn concurrent_writers_queue_and_keep_the_chain(backend: Backend) {
    let database = TestDatabase::create(backend);
    let pool = db::connect(&database.url).unwrap();
    let company_id = {
        let mut conn = pool.get().unwrap();
        db::migrate(&mut conn).unwrap();
        write_transaction(&mut conn, |conn| {
            companies::create(conn, "RACE", "Race Co", &Actor::cli())
        })
        .unwrap()
        .id
    };
    const WRITERS: usize = 6;
    const EACH: usize = 15;
    let handles: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let pool = pool.clone();
            std::thread::spawn(move || {
                let mut conn = pool.get().unwrap();
                for n in 0..EACH {
                    // read-then-write in one transaction: the pattern that deadlocks on SQLite
                    // unless the transaction takes the write lock up front
                    write_transaction(&mut conn, |conn| {
                        audit::record(
                            conn,
                            audit::Entry {
                                company_id,
                                actor: &Actor::cli(),
                                action: "test.write",
                                target_type: "test",
                                target_id: None,
                                target_label: "race",
                                summary: format!("writer {writer} change {n}"),
                            },
                        )
                    })
                    .unwrap_or_else(|err| panic!("writer {writer} failed: {err}"));
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    let mut conn = pool.get().unwrap();
    match audit::verify(&mut conn, company_id).unwrap() {
        audit::Verification::Intact { records, .. } => {
            assert_eq!(records as usize, 1 + WRITERS * EACH)
        }
        broken => panic!("chain broken: {broken:?}"),
    }
}

on_both_databases!(sync: concurrent_writers_queue_and_keep_the_chain);
