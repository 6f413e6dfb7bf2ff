//! Concurrent writers on both databases: none fails ("database is locked" on SQLite would),
//! and the per-company audit chain does not fork.

use crate::common::on_both_databases;
use crate::common::{Backend, DemoServer, TestApp, TestDatabase};
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

/// A browser-like client of the real server: its own cookies, from its own address (the
/// server trusts 127.0.0.1 as a proxy in these tests, so `X-Forwarded-For` names the client).
struct Visitor {
    http: reqwest::Client,
    base: String,
    address: String,
    token: String,
}

impl Visitor {
    /// Opens the sign-in form, as a browser would before signing in.
    async fn at_the_form(server: &DemoServer, address: &str) -> Self {
        let http = crate::common::http_client();
        let form = http
            .get(format!("{}/login", server.base))
            .header("X-Forwarded-For", address)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let token = crate::common::meta_token(&form).unwrap();
        Self {
            http,
            base: server.base.clone(),
            address: address.to_string(),
            token,
        }
    }

    async fn sign_in(&self, username: &str, password: &str) -> u16 {
        self.http
            .post(format!("{}/login", self.base))
            .header("X-Forwarded-For", &self.address)
            .form(&[
                ("company_code", "DEMO"),
                ("username", username),
                ("password", password),
                ("csrf_token", &self.token),
            ])
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }
}

/// How the attempts of an address or a user ended, reason by reason.
fn reasons(
    conn: &mut switchboard::db::DbConnection,
    filter: impl Fn(&str, &str) -> bool,
) -> std::collections::BTreeMap<String, usize> {
    use diesel::prelude::*;
    use switchboard::db::schema::login_events;
    let rows: Vec<(String, String, String)> = login_events::table
        .select((
            login_events::ip,
            login_events::username,
            login_events::reason,
        ))
        .load(conn)
        .unwrap();
    let mut counts = std::collections::BTreeMap::new();
    for (ip, username, reason) in rows {
        if filter(&ip, &username) {
            *counts.entry(reason).or_insert(0) += 1;
        }
    }
    counts
}

/// 39 wrong passwords for one account at once, each from its own address: exactly the
/// threshold (10) are checked, the rest are refused as locked without a check, and the right
/// password afterwards is refused too.
async fn lockout_holds_under_concurrent_guesses(backend: Backend) {
    let server = DemoServer::start(backend, &[("SWITCHBOARD_TRUSTED_PROXIES", "127.0.0.1")]);
    let mut visitors = Vec::new();
    for n in 0..39 {
        visitors.push(Visitor::at_the_form(&server, &format!("10.9.0.{}", n + 1)).await);
    }
    let statuses = futures_util::future::join_all(
        visitors
            .iter()
            .map(|v| v.sign_in("bob", "Wrong-Password-99")),
    )
    .await;
    assert!(statuses.iter().all(|s| *s == 401), "{statuses:?}");
    let seen = reasons(&mut server.conn(), |_, user| user == "bob");
    assert_eq!(seen.get("bad_password"), Some(&10), "{seen:?}");
    assert_eq!(seen.get("locked"), Some(&29), "{seen:?}");
    let late = Visitor::at_the_form(&server, "10.9.1.1").await;
    assert_eq!(late.sign_in("bob", crate::common::PASSWORD).await, 401);
}

/// 100 failed sign-ins from one address at once: 30 are checked, 70 get 429.
async fn throttle_holds_under_concurrent_failures(backend: Backend) {
    let server = DemoServer::start(backend, &[("SWITCHBOARD_TRUSTED_PROXIES", "127.0.0.1")]);
    let mut visitors = Vec::new();
    for _ in 0..100 {
        visitors.push(Visitor::at_the_form(&server, "198.51.100.7").await);
    }
    let statuses =
        futures_util::future::join_all(visitors.iter().enumerate().map(|(n, v)| v.sign_in_as(n)))
            .await;
    let refused = statuses.iter().filter(|s| **s == 429).count();
    let checked = statuses.iter().filter(|s| **s == 401).count();
    assert_eq!((checked, refused), (30, 70), "{statuses:?}");
    let seen = reasons(&mut server.conn(), |ip, _| ip == "198.51.100.7");
    assert_eq!(seen.get("unknown_user"), Some(&30), "{seen:?}");
    assert_eq!(seen.get("throttled"), Some(&70), "{seen:?}");
    assert_eq!(seen.get("pending"), None, "every reservation was settled");
}

impl Visitor {
    /// A wrong sign-in as a user that does not exist (so no account locks first).
    async fn sign_in_as(&self, n: usize) -> u16 {
        self.sign_in(&format!("nobody{n}"), "Wrong-Password-99")
            .await
    }
}

/// With no queue for password checks (one per core at a time), a burst of sign-ins is
/// answered 503 with Retry-After beyond what runs, never 500, and a refused attempt leaves no
/// trace: every login record belongs to an attempt that was checked.
async fn a_sign_in_storm_beyond_the_queue_is_refused_cleanly(backend: Backend) {
    let server = DemoServer::start(
        backend,
        &[
            ("SWITCHBOARD_TRUSTED_PROXIES", "127.0.0.1"),
            ("SWITCHBOARD_PASSWORD_QUEUE", "0"),
        ],
    );
    let mut visitors = Vec::new();
    for n in 0..30 {
        visitors.push(Visitor::at_the_form(&server, &format!("10.7.0.{}", n + 1)).await);
    }
    let answers = futures_util::future::join_all(visitors.iter().enumerate().map(|(n, v)| {
        v.http
            .post(format!("{}/login", v.base))
            .header("X-Forwarded-For", &v.address)
            .form(&[
                ("company_code", "DEMO"),
                ("username", &format!("storm{n}") as &str),
                ("password", "Wrong-Password-99"),
                ("csrf_token", &v.token),
            ])
            .send()
    }))
    .await;
    let mut checked = 0;
    let mut busy = 0;
    for answer in answers {
        let answer = answer.unwrap();
        match answer.status().as_u16() {
            401 => checked += 1,
            503 => {
                busy += 1;
                assert!(answer.headers().contains_key("retry-after"));
            }
            other => panic!("answered {other}"),
        }
    }
    assert!(busy > 0, "30 sign-ins at once on {checked} checks");
    let seen = reasons(&mut server.conn(), |ip, _| ip.starts_with("10.7.0."));
    assert_eq!(seen.values().sum::<usize>(), checked, "{seen:?}");
    assert_eq!(seen.get("unknown_user"), Some(&checked), "{seen:?}");
}

on_both_databases!(
    browser: a_sign_in_storm_beyond_the_queue_is_refused_cleanly,
    lockout_holds_under_concurrent_guesses,
    throttle_holds_under_concurrent_failures,
);

/// An export the client cuts short is in the activity log from its start, and closed as
/// aborted with the rows sent: reading a page and hanging up leaves a trace.
async fn an_aborted_export_is_audited(backend: Backend) {
    use diesel::prelude::*;
    use switchboard::db::schema::audit_events;
    use switchboard::domain::{Actor, audit, companies};
    let server = DemoServer::start(backend, &[]);
    // enough activity for several pages of the export
    {
        let mut conn = server.conn();
        let demo = companies::find_by_code(&mut conn, "DEMO").unwrap().unwrap();
        switchboard::db::write_transaction(&mut conn, |conn| {
            for n in 0..10_000 {
                audit::Entry::new(demo.id, &Actor::cli(), "bench.filler")
                    .about("note", "filler")
                    .saying(format!("filler {n}"))
                    .write(conn)?;
            }
            Ok(())
        })
        .unwrap();
    }
    let sofia = Visitor::at_the_form(&server, "127.0.0.1").await;
    assert_eq!(sofia.sign_in("sofia", crate::common::PASSWORD).await, 303);
    let mut response = sofia
        .http
        .get(format!("{}/exports/activity.csv", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    // the opening record exists before the client reads a row
    let opened: i64 = audit_events::table
        .filter(audit_events::action.eq("export.create"))
        .count()
        .get_result(&mut server.conn())
        .unwrap();
    assert_eq!(opened, 1);
    let first = response.chunk().await.unwrap().unwrap();
    assert!(!first.is_empty());
    drop(response);
    drop(sofia);
    // the server notices the hang-up and closes the record as aborted
    let mut closed = None;
    for _ in 0..100 {
        closed = audit_events::table
            .filter(audit_events::action.eq_any(["export.abort", "export.finish"]))
            .select((audit_events::action, audit_events::summary))
            .first::<(String, String)>(&mut server.conn())
            .optional()
            .unwrap();
        if closed.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let (action, summary) = closed.expect("the export was closed in the activity log");
    assert_eq!(action, "export.abort", "{summary}");
    let sent: usize = summary
        .split(": ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(sent < 10_000, "{summary}");
}

/// SIGTERM while an export streams and a write is under way: the server stops accepting,
/// finishes both (every row, the closing record, the write with its own record) and exits 0.
async fn sigterm_finishes_what_is_in_flight(backend: Backend) {
    use diesel::prelude::*;
    use switchboard::db::schema::audit_events;
    use switchboard::domain::{Actor, audit, companies};
    let mut server = DemoServer::start(backend, &[]);
    let (records, demo_id) = {
        let mut conn = server.conn();
        let demo = companies::find_by_code(&mut conn, "DEMO").unwrap().unwrap();
        switchboard::db::write_transaction(&mut conn, |conn| {
            for n in 0..20_000 {
                audit::Entry::new(demo.id, &Actor::cli(), "bench.filler")
                    .about("note", "filler")
                    .saying(format!("filler {n}"))
                    .write(conn)?;
            }
            Ok(())
        })
        .unwrap();
        let records = audit_events::table
            .filter(audit_events::company_id.eq(demo.id))
            .count()
            .get_result::<i64>(&mut conn)
            .unwrap();
        (records, demo.id)
    };
    let sofia = Visitor::at_the_form(&server, "127.0.0.1").await;
    assert_eq!(sofia.sign_in("sofia", crate::common::PASSWORD).await, 303);
    let token = sofia.token_from("/settings").await;
    let mut export = sofia
        .http
        .get(format!("{}/exports/activity.csv", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(export.status().as_u16(), 200);
    let first = export.chunk().await.unwrap().unwrap();
    let conversation: i64 = switchboard::db::schema::conversations::table
        .filter(switchboard::db::schema::conversations::company_id.eq(demo_id))
        .select(switchboard::db::schema::conversations::id)
        .first(&mut server.conn())
        .unwrap();
    // a write sent together with the signal: answered, or refused as a whole
    let write = async {
        sofia
            .http
            .post(format!(
                "{}/conversations/{conversation}/labels",
                server.base
            ))
            .header("X-Forwarded-For", &sofia.address)
            .form(&[("label", "shutdown"), ("csrf_token", &token)])
            .send()
            .await
            .map(|answer| answer.status().as_u16())
            .ok()
    };
    let (status, ()) = tokio::join!(write, async {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        server.terminate();
    });
    // the export is whole: the header, one line per record (the export's own opening record
    // included), nothing cut
    let mut body = first.to_vec();
    while let Some(chunk) = export.chunk().await.unwrap() {
        body.extend_from_slice(&chunk);
    }
    let text = String::from_utf8(body).unwrap();
    let rows = csv::Reader::from_reader(text.as_bytes()).records().count() as i64;
    assert_eq!(rows, records + 1, "{} bytes", text.len());
    let exit = server.wait();
    assert!(exit.success(), "switchboard exited with {exit}");
    let mut conn = server.conn();
    let finished: i64 = audit_events::table
        .filter(audit_events::action.eq("export.finish"))
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(finished, 1);
    // the write either happened with its record or was refused before it began
    let labelled: i64 = audit_events::table
        .filter(audit_events::action.eq("conversation.label_add"))
        .filter(audit_events::summary.like("label shutdown %"))
        .count()
        .get_result(&mut conn)
        .unwrap();
    match status {
        Some(303) => assert_eq!(labelled, 1, "an answered write has its record"),
        other => assert_eq!(labelled, 0, "{other:?}: nothing half-written"),
    }
}

on_both_databases!(
    browser: an_aborted_export_is_audited,
    sigterm_finishes_what_is_in_flight
);

impl Visitor {
    /// The session's CSRF token, from a page the user may open.
    async fn token_from(&self, path: &str) -> String {
        let page = self
            .http
            .get(format!("{}{path}", self.base))
            .header("X-Forwarded-For", &self.address)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        crate::common::meta_token(&page).unwrap()
    }

    /// Posts a form as the page's own form would.
    async fn post(&self, path: &str, token: &str, fields: &[(&str, &str)]) -> u16 {
        let mut form: Vec<(&str, &str)> = fields.to_vec();
        form.push(("csrf_token", token));
        self.http
            .post(format!("{}{path}", self.base))
            .header("X-Forwarded-For", &self.address)
            .form(&form)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    async fn signed_in(server: &DemoServer, username: &str) -> Self {
        let visitor = Self::at_the_form(server, "127.0.0.1").await;
        assert_eq!(
            visitor.sign_in(username, crate::common::PASSWORD).await,
            303
        );
        visitor
    }
}

/// The company's two supervisors deactivate each other from ten sessions at once (five
/// each), three rounds: one of them always stays active.
async fn supervisors_removing_each_other_leave_one(backend: Backend) {
    use diesel::prelude::*;
    use switchboard::db::schema::users;
    let server = DemoServer::start(backend, &[]);
    let id_of = |name: &str| -> i64 {
        users::table
            .filter(users::username.eq(name))
            .select(users::id)
            .first(&mut server.conn())
            .unwrap()
    };
    let (sofia, sam) = (id_of("sofia"), id_of("sam"));
    for round in 0..3 {
        let mut sessions = Vec::new();
        for (name, target) in [("sofia", sam), ("sam", sofia)] {
            for _ in 0..5 {
                let visitor = Visitor::signed_in(&server, name).await;
                let token = visitor.token_from("/users").await;
                sessions.push((visitor, token, target));
            }
        }
        let statuses = futures_util::future::join_all(sessions.iter().map(
            |(visitor, token, target)| async move {
                visitor
                    .post(&format!("/users/{target}/deactivate"), token, &[])
                    .await
            },
        ))
        .await;
        let active: i64 = users::table
            .filter(users::id.eq_any([sofia, sam]))
            .filter(users::status.eq("active"))
            .count()
            .get_result(&mut server.conn())
            .unwrap();
        assert_eq!(active, 1, "round {round}: {statuses:?}");
        diesel::update(users::table.filter(users::id.eq_any([sofia, sam])))
            .set(users::status.eq("active"))
            .execute(&mut server.conn())
            .unwrap();
    }
}

/// A daily cap of two reveals holds when ten arrive at once.
async fn the_reveal_cap_holds_under_concurrent_reveals(backend: Backend) {
    use diesel::prelude::*;
    use switchboard::db::schema::{companies, contact_reveals, conversations, users};
    let server = DemoServer::start(backend, &[]);
    diesel::update(companies::table.filter(companies::code.eq("DEMO")))
        .set(companies::reveal_daily_cap.eq(2))
        .execute(&mut server.conn())
        .unwrap();
    let sofia: i64 = users::table
        .filter(users::username.eq("sofia"))
        .select(users::id)
        .first(&mut server.conn())
        .unwrap();
    // a supervisor who sees masked details: the Supervisor role minus view_unmasked
    {
        use switchboard::core::permissions::{Permission, PermissionSet};
        let mut conn = server.conn();
        let demo = switchboard::domain::companies::find_by_code(&mut conn, "DEMO")
            .unwrap()
            .unwrap();
        let held: PermissionSet = Permission::ALL
            .into_iter()
            .filter(|p| *p != Permission::ContactsViewUnmasked)
            .collect();
        let role =
            switchboard::domain::roles::create(&mut conn, demo.id, "Masked lead", None, held)
                .unwrap();
        diesel::update(users::table.find(sofia))
            .set(users::role_id.eq(role))
            .execute(&mut conn)
            .unwrap();
    }
    let conversation: i64 = conversations::table
        .order(conversations::id)
        .select(conversations::id)
        .first(&mut server.conn())
        .unwrap();
    let mut clients = Vec::new();
    for _ in 0..10 {
        let visitor = Visitor::signed_in(&server, "sofia").await;
        let token = visitor
            .token_from(&format!("/conversations/{conversation}"))
            .await;
        clients.push((visitor, token));
    }
    let path = format!("/conversations/{conversation}/reveal");
    let statuses = futures_util::future::join_all(clients.iter().map(|(visitor, token)| {
        visitor.post(
            &path,
            token,
            &[("reason", "The customer asked for a callback")],
        )
    }))
    .await;
    let shown = statuses.iter().filter(|s| **s == 200).count();
    let refused = statuses.iter().filter(|s| **s == 409).count();
    assert_eq!((shown, refused), (2, 8), "{statuses:?}");
    let stored: i64 = contact_reveals::table
        .count()
        .get_result(&mut server.conn())
        .unwrap();
    assert_eq!(stored, 2);
}

/// Ten first messages from one new contact at once: one contact, one open conversation, ten
/// messages.
async fn simultaneous_first_messages_open_one_conversation(backend: Backend) {
    use diesel::prelude::*;
    use switchboard::db::schema::{channels, contacts, conversations, messages};
    let server = DemoServer::start(backend, &[]);
    let (channel, token): (i64, String) = channels::table
        .filter(channels::name.eq("WhatsApp Sales"))
        .select((channels::id, channels::webhook_token))
        .first(&mut server.conn())
        .unwrap();
    let http = reqwest::Client::new();
    let url = format!("{}/hooks/channels/{channel}/messages", server.base);
    let deliveries = (0..10).map(|n| {
        let body = format!(
            r#"{{"external_id": "race-{n}", "contact": {{"name": "Nergis", "phone": "+90 533 777 0{n}00"}}, "text": "hello {n}"}}"#
        )
        .replace(&format!("0{n}00"), "0100");
        http.post(&url)
            .header("Authorization", format!("Bearer {token}"))
            .header("Content-Type", "application/json")
            .body(body)
            .send()
    });
    let answers = futures_util::future::join_all(deliveries).await;
    for answer in answers {
        assert!(answer.unwrap().status().is_success());
    }
    let contact_ids: Vec<i64> = contacts::table
        .filter(contacts::name.eq("Nergis"))
        .select(contacts::id)
        .load(&mut server.conn())
        .unwrap();
    assert_eq!(contact_ids.len(), 1, "one contact");
    let open: Vec<i64> = conversations::table
        .filter(conversations::contact_id.eq(contact_ids[0]))
        .filter(conversations::status.eq("open"))
        .select(conversations::id)
        .load(&mut server.conn())
        .unwrap();
    assert_eq!(open.len(), 1, "one open conversation");
    let stored: i64 = messages::table
        .filter(messages::conversation_id.eq(open[0]))
        .count()
        .get_result(&mut server.conn())
        .unwrap();
    assert_eq!(stored, 10);
}

/// Fifty first messages at once on one channel, from forty new contacts (ten of them writing
/// twice): nobody is routed past capacity, each contact has one open conversation, and
/// exactly as many are assigned as there was room for.
async fn simultaneous_first_messages_respect_capacity(backend: Backend) {
    use diesel::prelude::*;
    use switchboard::db::schema::{channel_members, channels, contacts, conversations, users};
    let server = DemoServer::start(backend, &[]);
    let mut conn = server.conn();
    let (channel, token): (i64, String) = channels::table
        .filter(channels::name.eq("WhatsApp Sales"))
        .select((channels::id, channels::webhook_token))
        .first(&mut conn)
        .unwrap();
    // WhatsApp Sales: alice and bob receive new chats; room for 3 more for alice, 4 for bob
    let receiving: Vec<i64> = channel_members::table
        .filter(channel_members::channel_id.eq(channel))
        .filter(channel_members::receives_new_chats.eq(true))
        .select(channel_members::user_id)
        .load(&mut conn)
        .unwrap();
    assert_eq!(receiving.len(), 2);
    let open_of = |conn: &mut switchboard::db::DbConnection, user: i64| -> i64 {
        conversations::table
            .filter(conversations::assignee_id.eq(user))
            .filter(conversations::status.eq("open"))
            .count()
            .get_result(conn)
            .unwrap()
    };
    let mut capacity = Vec::new();
    for (user, room) in receiving.iter().zip([3, 4]) {
        let cap = i32::try_from(open_of(&mut conn, *user)).unwrap() + room;
        diesel::update(users::table.find(user))
            .set(users::capacity.eq(Some(cap)))
            .execute(&mut conn)
            .unwrap();
        capacity.push(i64::from(cap));
    }
    let before: i64 = conversations::table
        .filter(conversations::channel_id.eq(channel))
        .count()
        .get_result(&mut conn)
        .unwrap();
    let http = reqwest::Client::new();
    let url = format!("{}/hooks/channels/{channel}/messages", server.base);
    let deliveries = (0..50).map(|n| {
        // deliveries 40..50 come from the contacts of 0..10 again
        let contact = n % 40;
        let body = format!(
            r#"{{"external_id": "rush-{n}", "contact": {{"name": "Rush {contact}", "phone": "+90 533 888 {contact:04}"}}, "text": "hello {n}"}}"#
        );
        http.post(&url)
            .header("Authorization", format!("Bearer {token}"))
            .header("Content-Type", "application/json")
            .body(body)
            .send()
    });
    for answer in futures_util::future::join_all(deliveries).await {
        let answer = answer.unwrap();
        assert_eq!(answer.status().as_u16(), 201);
    }
    for (user, cap) in receiving.iter().zip(&capacity) {
        assert_eq!(
            open_of(&mut conn, *user),
            *cap,
            "filled to capacity, never past"
        );
    }
    let contact_ids: Vec<i64> = contacts::table
        .filter(contacts::name.like("Rush %"))
        .select(contacts::id)
        .load(&mut conn)
        .unwrap();
    assert_eq!(contact_ids.len(), 40, "one contact each");
    for contact in contact_ids {
        let open: i64 = conversations::table
            .filter(conversations::contact_id.eq(contact))
            .filter(conversations::status.eq("open"))
            .count()
            .get_result(&mut conn)
            .unwrap();
        assert_eq!(open, 1, "one open conversation per contact");
    }
    let (after, queued): (i64, i64) = (
        conversations::table
            .filter(conversations::channel_id.eq(channel))
            .count()
            .get_result(&mut conn)
            .unwrap(),
        conversations::table
            .filter(conversations::channel_id.eq(channel))
            .filter(conversations::assignee_id.is_null())
            .filter(conversations::status.eq("open"))
            .inner_join(contacts::table)
            .filter(contacts::name.like("Rush %"))
            .count()
            .get_result(&mut conn)
            .unwrap(),
    );
    assert_eq!(after - before, 40);
    assert_eq!(queued, 40 - 7, "seven had room; the rest wait in the queue");
}

on_both_databases!(
    browser: supervisors_removing_each_other_leave_one,
    the_reveal_cap_holds_under_concurrent_reveals,
    simultaneous_first_messages_open_one_conversation,
    simultaneous_first_messages_respect_capacity,
);

/// Ten people decide one request at the same moment — five sessions of sam approving, five of
/// sofia (who asked) withdrawing — and then six sessions each ask for a change of the security
/// settings where one waiting change is allowed: one outcome each time, one record of it.
async fn an_approval_is_decided_once_and_asked_once(backend: Backend) {
    use diesel::prelude::*;
    use switchboard::db::schema::{approval_requests, audit_events, companies, message_templates};
    let server = DemoServer::start(backend, &[]);
    let (request, template): (i64, i64) = approval_requests::table
        .filter(approval_requests::kind.eq("template"))
        .filter(approval_requests::status.eq("pending"))
        .select((approval_requests::id, approval_requests::subject_id))
        .first(&mut server.conn())
        .unwrap();
    let mut sessions = Vec::new();
    for (name, action) in [("sam", "approve"), ("sofia", "withdraw")] {
        for _ in 0..5 {
            let visitor = Visitor::signed_in(&server, name).await;
            let token = visitor.token_from("/approvals").await;
            sessions.push((visitor, token, format!("/approvals/{request}/{action}")));
        }
    }
    let statuses = futures_util::future::join_all(
        sessions
            .iter()
            .map(|(visitor, token, path)| async move { visitor.post(path, token, &[]).await }),
    )
    .await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 303).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 303 || *s == 409),
        "{statuses:?}"
    );
    let status: String = approval_requests::table
        .find(request)
        .select(approval_requests::status)
        .first(&mut server.conn())
        .unwrap();
    let template_status: String = message_templates::table
        .find(template)
        .select(message_templates::status)
        .first(&mut server.conn())
        .unwrap();
    match status.as_str() {
        "approved" => assert_eq!(template_status, "approved"),
        "withdrawn" => assert_eq!(template_status, "draft"),
        other => panic!("request {other} after {statuses:?}"),
    }
    let outcomes: i64 = audit_events::table
        .filter(audit_events::action.eq_any(["approval.decide", "approval.withdraw"]))
        .filter(audit_events::target_id.eq(Some(request)))
        .count()
        .get_result(&mut server.conn())
        .unwrap();
    assert_eq!(outcomes, 1);

    // six changes of the settings asked at once: one waits, five are told to wait their turn
    diesel::update(companies::table.filter(companies::code.eq("DEMO")))
        .set(companies::approve_settings_changes.eq(true))
        .execute(&mut server.conn())
        .unwrap();
    let mut askers = Vec::new();
    for n in 0..6 {
        let visitor = Visitor::signed_in(&server, "sofia").await;
        let token = visitor.token_from("/settings").await;
        askers.push((visitor, token, (20 + n).to_string()));
    }
    let statuses =
        futures_util::future::join_all(askers.iter().map(|(visitor, token, idle)| async move {
            let settings = [
                ("password_min_length", "12"),
                ("password_require_upper", "on"),
                ("password_require_lower", "on"),
                ("password_require_digit", "on"),
                ("password_require_symbol", "on"),
                ("password_min_score", "3"),
                ("password_max_age_days", "0"),
                ("idle_timeout_minutes", idle.as_str()),
                ("session_lifetime_hours", "12"),
                ("lockout_threshold", "10"),
                ("reveal_daily_cap", "20"),
                ("missed_chat_minutes", "240"),
                ("approve_settings_changes", "on"),
            ];
            visitor.post("/settings", token, &settings).await
        }))
        .await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 303).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        5,
        "{statuses:?}"
    );
    let waiting: i64 = approval_requests::table
        .filter(approval_requests::kind.eq("settings"))
        .filter(approval_requests::status.eq("pending"))
        .count()
        .get_result(&mut server.conn())
        .unwrap();
    assert_eq!(waiting, 1);
}

on_both_databases!(browser: an_approval_is_decided_once_and_asked_once);

/// Two reviewers decide one user's line from ten sessions at once (keep against revoke), and
/// six sessions start a review at once: one decision (and bob active or not by it), one open
/// review.
async fn an_access_review_line_is_decided_once(backend: Backend) {
    use diesel::prelude::*;
    use switchboard::db::schema::{access_review_lines, access_reviews, users};
    let server = DemoServer::start(backend, &[]);
    let due = (chrono::Utc::now().date_naive() + chrono::TimeDelta::days(7)).to_string();
    let mut starters = Vec::new();
    for _ in 0..6 {
        let visitor = Visitor::signed_in(&server, "sofia").await;
        let token = visitor.token_from("/access-reviews").await;
        starters.push((visitor, token));
    }
    let statuses = futures_util::future::join_all(starters.iter().map(|(visitor, token)| {
        let due = due.clone();
        async move {
            visitor
                .post("/access-reviews", token, &[("due_on", due.as_str())])
                .await
        }
    }))
    .await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 303).count(),
        1,
        "{statuses:?}"
    );
    let reviews: Vec<i64> = access_reviews::table
        .select(access_reviews::id)
        .load(&mut server.conn())
        .unwrap();
    assert_eq!(reviews.len(), 1);
    let review = reviews[0];
    let bob: i64 = users::table
        .filter(users::username.eq("bob"))
        .select(users::id)
        .first(&mut server.conn())
        .unwrap();
    let mut deciders = Vec::new();
    for (name, decision) in [("sofia", "keep"), ("sam", "revoke")] {
        for _ in 0..5 {
            let visitor = Visitor::signed_in(&server, name).await;
            let token = visitor
                .token_from(&format!("/access-reviews/{review}"))
                .await;
            deciders.push((visitor, token, decision));
        }
    }
    let path = format!("/access-reviews/{review}/users/{bob}");
    let statuses =
        futures_util::future::join_all(deciders.iter().map(|(visitor, token, decision)| {
            let path = path.clone();
            async move {
                visitor
                    .post(&path, token, &[("decision", decision), ("note", "checked")])
                    .await
            }
        }))
        .await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 303).count(),
        1,
        "{statuses:?}"
    );
    let decision: Option<String> = access_review_lines::table
        .filter(access_review_lines::review_id.eq(review))
        .filter(access_review_lines::user_id.eq(bob))
        .select(access_review_lines::decision)
        .first(&mut server.conn())
        .unwrap();
    let status: String = users::table
        .find(bob)
        .select(users::status)
        .first(&mut server.conn())
        .unwrap();
    match decision.as_deref() {
        Some("keep") => assert_eq!(status, "active"),
        Some("revoke") => assert_eq!(status, "deactivated"),
        other => panic!("decided {other:?} after {statuses:?}"),
    }
}

on_both_databases!(browser: an_access_review_line_is_decided_once);

/// A provider's retry that arrives while its first delivery is still being stored: the retry
/// finds nothing yet, stores, and meets the first one's row at commit (a unique violation).
/// It answers with what the first stored, as a repeat (`created: false`), and leaves nothing
/// of its own behind: no second contact, conversation or message, and no error.
async fn a_retry_racing_its_first_delivery_is_answered_with_what_the_first_stored(app: TestApp) {
    use diesel::prelude::*;
    use switchboard::core::ids::{ChannelId, ConversationId, MessageId};
    use switchboard::core::status::Direction;
    use switchboard::db::schema::{contacts, conversations, messages};
    use switchboard::domain::conversations::NewMessage;
    use switchboard::domain::inbound::{self, Outcome};
    let (channel, token) = crate::common::channel(&app, "WhatsApp Sales");
    let (company, conversation): (i64, i64) = conversations::table
        .filter(conversations::channel_id.eq(channel))
        .select((conversations::company_id, conversations::id))
        .first(&mut app.conn())
        .unwrap();
    let counts = |app: &TestApp| -> (i64, i64, i64) {
        let mut conn = app.conn();
        (
            contacts::table.count().get_result(&mut conn).unwrap(),
            conversations::table.count().get_result(&mut conn).unwrap(),
            messages::table.count().get_result(&mut conn).unwrap(),
        )
    };
    let before = counts(&app);
    // the first delivery, mid-commit: its message stored, its transaction still open
    let (stored_tx, stored_rx) = std::sync::mpsc::channel();
    let pool = app.state.pool.clone();
    let first = std::thread::spawn(move || {
        let mut conn = pool.get().unwrap();
        write_transaction(&mut conn, |conn| {
            let id = NewMessage {
                company_id: switchboard::core::ids::CompanyId(company),
                conversation_id: ConversationId(conversation),
                channel_id: ChannelId(channel),
                direction: Direction::Inbound,
                author_id: None,
                body: "Is my order on its way?",
                external_id: Some("retried-1"),
                delivery: "received",
                created_at: switchboard::domain::now(),
            }
            .insert(conn)?;
            stored_tx.send(()).unwrap();
            std::thread::sleep(std::time::Duration::from_millis(700));
            Ok(id)
        })
        .unwrap()
    });
    stored_rx.recv().unwrap();
    // the retry, from a number the company does not know yet (it would open a conversation)
    let body = r#"{"external_id": "retried-1", "contact": {"name": "Retrying customer", "phone": "+90 533 888 0101"}, "text": "Is my order on its way?"}"#;
    let retry = inbound::receive(&mut app.conn(), ChannelId(channel), &token, body.as_bytes())
        .expect("no error")
        .expect("accepted");
    let first: MessageId = first.join().unwrap();
    assert_eq!(
        retry,
        Outcome::Message {
            conversation_id: ConversationId(conversation),
            message_id: first,
            created: false,
        }
    );
    let (contacts_before, conversations_before, messages_before) = before;
    assert_eq!(
        counts(&app),
        (contacts_before, conversations_before, messages_before + 1),
        "only the first delivery's message"
    );
}

on_both_databases!(a_retry_racing_its_first_delivery_is_answered_with_what_the_first_stored);

/// A delivery the database will not store (here: a connection that may only read) is answered
/// as the outage it is (503, and the provider tries again later), with nothing stored, and
/// logged with its cause: never taken for a repeat of an earlier delivery and looked up as one.
async fn a_delivery_the_database_cannot_store_is_an_outage_not_a_repeat(app: TestApp) {
    use actix_web::ResponseError;
    use diesel::connection::SimpleConnection;
    use diesel::prelude::*;
    use switchboard::core::ids::ChannelId;
    use switchboard::db::DbConnection;
    use switchboard::db::schema::messages;
    use switchboard::domain::inbound;
    let (channel, token) = crate::common::channel(&app, "WhatsApp Sales");
    let stored =
        |app: &TestApp| -> i64 { messages::table.count().get_result(&mut app.conn()).unwrap() };
    let before = stored(&app);
    let mut pooled = app.conn();
    let conn: &mut DbConnection = &mut pooled;
    let (read_only, read_write) = match conn {
        DbConnection::Sqlite(_) => ("PRAGMA query_only = 1", "PRAGMA query_only = 0"),
        DbConnection::Postgres(_) => (
            "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
            "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE",
        ),
    };
    conn.batch_execute(read_only).unwrap();
    let body = r#"{"external_id": "unstorable-1", "contact": {"name": "Patient customer", "phone": "+90 533 888 0202"}, "text": "Hello?"}"#;
    let answer = inbound::receive(conn, ChannelId(channel), &token, body.as_bytes());
    conn.batch_execute(read_write).unwrap();
    drop(pooled);
    let err = answer.expect_err("the database refused the write");
    assert_eq!(err.status_code().as_u16(), 503, "{}", err.chain());
    // and the operator's log names the cause, not a repeat that was looked for and not found
    let cause = err.chain();
    assert!(
        cause.contains("readonly database") || cause.contains("read-only transaction"),
        "{cause}"
    );
    assert_eq!(stored(&app), before);
}

on_both_databases!(a_delivery_the_database_cannot_store_is_an_outage_not_a_repeat);

/// Writes take turns before they take a connection (one at a time on SQLite, half the pool's
/// connections on PostgreSQL), so a burst of them (a sign-in storm) neither parks a thread
/// apiece on the pool nor holds the connections pages read with: a read and `/readyz`'s check
/// that arrive during the burst answer while most of it still waits.
async fn writes_take_turns_and_leave_reads_their_connections(app: TestApp) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use std::time::Duration;
    const WRITES: usize = 24;
    let pool = app.state.pool.clone();
    let in_flight = Arc::new(AtomicUsize::new(0));
    let most_at_once = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let burst = futures_util::future::join_all((0..WRITES).map(|_| {
        let (pool, in_flight, most_at_once, done) = (
            pool.clone(),
            in_flight.clone(),
            most_at_once.clone(),
            done.clone(),
        );
        async move {
            db::run_write(&pool, move |_conn| {
                most_at_once.fetch_max(in_flight.fetch_add(1, SeqCst) + 1, SeqCst);
                std::thread::sleep(Duration::from_millis(50));
                in_flight.fetch_sub(1, SeqCst);
                done.fetch_add(1, SeqCst);
                Ok(())
            })
            .await
        }
    }));
    let read_during_the_burst = async {
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
        let read = db::run(&pool, |conn| {
            Ok(companies::find_by_code(conn, "DEMO")?.is_some())
        })
        .await;
        let ready = db::ready(&pool).await;
        (read, ready, done.load(SeqCst))
    };
    let (written, (read, ready, done_when_read)) =
        futures_util::future::join(burst, read_during_the_burst).await;
    assert!(written.iter().all(Result::is_ok), "{written:?}");
    let turns = match app.backend {
        Backend::Sqlite => 1,
        Backend::Postgres => 6,
    };
    assert_eq!(most_at_once.load(SeqCst), turns, "writes at once");
    assert!(read.unwrap(), "the demo company is there");
    assert!(ready, "/readyz's check answered during the burst");
    assert!(
        done_when_read < WRITES / 2,
        "the read waited behind the writes: {done_when_read} of {WRITES} were done when it answered"
    );
}

on_both_databases!(writes_take_turns_and_leave_reads_their_connections);
