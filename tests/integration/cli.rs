//! The `switchboard` binary as operators use it, on SQLite and on PostgreSQL.

use std::io::Write;
use std::process::{Output, Stdio};

use crate::common::on_both_databases;
use crate::common::{Backend, TestDatabase, switchboard};
use diesel::prelude::*;

fn run(database: &TestDatabase, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = switchboard(database)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[track_caller]
fn assert_one_clear_line(output: &Output, expected: &str) {
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line, got: {stderr}");
    assert!(lines[0].starts_with("switchboard: "), "{stderr}");
    assert!(lines[0].contains(expected), "{stderr}");
}

#[test]
fn a_bad_database_url_is_one_clear_line() {
    let database = TestDatabase::create(Backend::Sqlite);
    let output = run(&database, &["--database", "mysql://db/x", "migrate"], None);
    assert_one_clear_line(&output, "unsupported database URL");
}

#[test]
fn an_unreachable_database_is_one_clear_line() {
    let database = TestDatabase::create(Backend::Sqlite);
    let output = run(
        &database,
        &[
            "--database",
            "postgres://sb:secret@127.0.0.1:1/nowhere",
            "migrate",
        ],
        None,
    );
    assert_one_clear_line(
        &output,
        "cannot connect to the PostgreSQL database at postgres://sb:***@127.0.0.1:1/nowhere",
    );
    assert!(!text(&output.stderr).contains("secret"));
}

#[test]
fn a_taken_port_is_one_clear_line() {
    let database = TestDatabase::create(Backend::Sqlite);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let bind = listener.local_addr().unwrap().to_string();
    let output = run(&database, &["serve", "--bind", &bind], None);
    assert_one_clear_line(&output, &format!("cannot listen on {bind}"));
}

/// Each setting comes from its flag or its environment variable, a flag wins, a bad value is one
/// clear line, and `serve` is what runs when no command is named. `serve` on a taken port shows
/// which address was read without serving anything.
#[test]
fn configuration_comes_from_flags_and_environment() {
    let database = TestDatabase::create(Backend::Sqlite);
    let taken = || {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        (listener, address)
    };
    let ((_a, from_env), (_b, from_flag)) = (taken(), taken());
    let serve = |envs: &[(&str, &str)], args: &[&str]| {
        let mut command = switchboard(&database);
        command.envs(envs.iter().copied()).args(args);
        command.stdin(Stdio::null()).output().unwrap()
    };
    let bind = ("SWITCHBOARD_BIND", from_env.as_str());
    // the environment is read; a flag wins over it; no command means serve
    assert_one_clear_line(
        &serve(&[bind], &["serve"]),
        &format!("cannot listen on {from_env}"),
    );
    assert_one_clear_line(
        &serve(&[bind], &["serve", "--bind", &from_flag]),
        &format!("cannot listen on {from_flag}"),
    );
    assert_one_clear_line(
        &serve(&[bind], &[]),
        &format!("cannot listen on {from_env}"),
    );
    // bad values are refused before anything starts
    for (variable, value, says) in [
        ("SWITCHBOARD_LOGIN_FAILURE_LIMIT", "10", "at least 30"),
        ("SWITCHBOARD_LOGIN_FAILURE_LIMIT", "many", "at least 30"),
        (
            "SWITCHBOARD_COOKIE_SECURE",
            "maybe",
            "must be true or false",
        ),
        (
            "SWITCHBOARD_TRUSTED_PROXIES",
            "10.0.0.0/8, nonsense",
            "'nonsense' is not a CIDR",
        ),
        ("SWITCHBOARD_SECRET_KEY", "short", "32 random bytes"),
        (
            "SWITCHBOARD_SECRET_KEY_FILE",
            "/nonexistent/switchboard.key",
            "cannot read SWITCHBOARD_SECRET_KEY_FILE",
        ),
    ] {
        assert_one_clear_line(&serve(&[bind, (variable, value)], &["serve"]), says);
    }
    // a bad key never appears in what is printed
    let refused = serve(
        &[bind, ("SWITCHBOARD_SECRET_KEY", "hunter2-not-a-key")],
        &["serve"],
    );
    assert!(!text(&refused.stderr).contains("hunter2"));
    // a key in a file is read
    let key_file = std::env::temp_dir().join(format!(
        "sb-key-{}",
        switchboard::core::secrets::random_hex(4)
    ));
    std::fs::write(
        &key_file,
        switchboard::core::sealing::SealingKey::random().to_base64(),
    )
    .unwrap();
    let key_path = key_file.display().to_string();
    assert_one_clear_line(
        &serve(
            &[bind, ("SWITCHBOARD_SECRET_KEY_FILE", &key_path)],
            &["serve"],
        ),
        &format!("cannot listen on {from_env}"),
    );
    std::fs::remove_file(&key_file).ok();
    // good values pass on to serving
    for (variable, value) in [
        ("SWITCHBOARD_LOGIN_FAILURE_LIMIT", "30"),
        ("SWITCHBOARD_COOKIE_SECURE", "true"),
        ("SWITCHBOARD_TRUSTED_PROXIES", "10.0.0.0/8, 192.168.1.1"),
    ] {
        assert_one_clear_line(
            &serve(&[bind, (variable, value)], &["serve"]),
            &format!("cannot listen on {from_env}"),
        );
    }
    // DATABASE_URL is read only when SWITCHBOARD_DATABASE_URL is not set
    let url = database.url_string();
    let mut fallback = switchboard(&database);
    fallback
        .env_remove("SWITCHBOARD_DATABASE_URL")
        .env("DATABASE_URL", &url)
        .arg("migrate");
    let migrated = fallback.output().unwrap();
    assert!(migrated.status.success(), "{}", text(&migrated.stderr));
    let mut both = switchboard(&database);
    both.env("SWITCHBOARD_DATABASE_URL", "mysql://db/x")
        .env("DATABASE_URL", &url)
        .arg("migrate");
    assert_one_clear_line(&both.output().unwrap(), "unsupported database URL");
}

fn operators_create_companies_and_users_and_verify_the_audit_log(backend: Backend) {
    let database = TestDatabase::create(backend);
    let output = run(&database, &["migrate"], None);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let migrations = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite"))
        .unwrap()
        .count();
    assert!(text(&output.stdout).contains(&format!(
        "{} applied",
        switchboard::core::text::count(migrations, "migration", "migrations")
    )));
    let output = run(&database, &["migrate"], None);
    assert!(text(&output.stdout).contains("0 migrations applied"));

    let output = run(
        &database,
        &[
            "company",
            "create",
            "--code",
            "newco",
            "--name",
            "New Co",
            "--supervisor",
            "boss",
        ],
        Some("Velvet-Harbor-Crane-58\n"),
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(text(&output.stdout).contains("Company NEWCO (New Co) created with supervisor boss."));

    // the password policy applies at the command line too
    let output = switchboard(&database)
        .args([
            "user",
            "create",
            "--company",
            "NEWCO",
            "--username",
            "agent1",
            "--role",
            "agent",
        ])
        .env("SWITCHBOARD_PASSWORD", "password")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        text(&output.stderr).contains("at least 12"),
        "{}",
        text(&output.stderr)
    );

    let output = switchboard(&database)
        .args([
            "user",
            "create",
            "--company",
            "NEWCO",
            "--username",
            "agent1",
            "--role",
            "Agent",
            "--display-name",
            "First Agent",
            "--email",
            "agent1@newco.example",
        ])
        .env("SWITCHBOARD_PASSWORD", "Orchid-Tunnel-Maple-31")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));

    let output = run(
        &database,
        &[
            "user",
            "create",
            "--company",
            "NEWCO",
            "--username",
            "x1",
            "--role",
            "Janitor",
        ],
        Some("Orchid-Tunnel-Maple-31\n"),
    );
    assert!(text(&output.stderr).contains("no role named Janitor"));

    let output = run(&database, &["audit", "verify"], None);
    assert!(
        output.status.success(),
        "{:?} {} {}",
        output.status,
        text(&output.stdout),
        text(&output.stderr)
    );
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains("NEWCO: intact, 3 records, head "),
        "{stdout}"
    );

    // an edited record is found and named
    let mut conn = switchboard::db::connect_single(&database.url).unwrap();
    use switchboard::db::schema::audit_events::dsl::*;
    // the database itself refuses to change audit records
    let refused = diesel::update(audit_events.filter(seq.eq(2)))
        .set(summary.eq("nothing happened here"))
        .execute(&mut conn);
    assert!(refused.is_err(), "audit records are immutable");
    assert!(
        diesel::delete(audit_events.filter(seq.eq(3)))
            .execute(&mut conn)
            .is_err()
    );
    // an attacker who can drop the guards is still caught by the chain
    diesel::connection::SimpleConnection::batch_execute(&mut conn, drop_guards(backend)).unwrap();
    let changed = diesel::update(audit_events.filter(seq.eq(2)))
        .set(summary.eq("nothing happened here"))
        .execute(&mut conn)
        .unwrap();
    assert_eq!(changed, 1);
    drop(conn);
    let output = run(&database, &["audit", "verify", "--company", "newco"], None);
    assert!(!output.status.success());
    assert!(
        text(&output.stdout).contains("NEWCO: BROKEN at record 2"),
        "{}",
        text(&output.stdout)
    );
    assert!(text(&output.stdout).contains("altered"));
}

/// Deleted and reordered records are found as well as edited ones.
fn verify_finds_deleted_and_reordered_records(backend: Backend) {
    use switchboard::db::schema::audit_events::dsl::*;
    let fresh = |tamper: &dyn Fn(&mut switchboard::db::DbConnection)| -> String {
        let database = TestDatabase::create(backend);
        assert!(run(&database, &["migrate"], None).status.success());
        let created = run(
            &database,
            &[
                "company",
                "create",
                "--code",
                "NEWCO",
                "--name",
                "New Co",
                "--supervisor",
                "boss",
            ],
            Some("Velvet-Harbor-Crane-58\n"),
        );
        assert!(created.status.success());
        for n in 1..=3 {
            let output = switchboard(&database)
                .args([
                    "user",
                    "create",
                    "--company",
                    "NEWCO",
                    "--username",
                    &format!("agent{n}"),
                    "--role",
                    "Agent",
                ])
                .env("SWITCHBOARD_PASSWORD", "Orchid-Tunnel-Maple-31")
                .output()
                .unwrap();
            assert!(output.status.success());
        }
        let mut conn = switchboard::db::connect_single(&database.url).unwrap();
        diesel::connection::SimpleConnection::batch_execute(&mut conn, drop_guards(backend))
            .unwrap();
        tamper(&mut conn);
        drop(conn);
        let output = run(&database, &["audit", "verify"], None);
        assert!(!output.status.success(), "{}", text(&output.stdout));
        text(&output.stdout)
    };
    // a record removed from the middle
    let report = fresh(&|conn| {
        diesel::delete(audit_events.filter(seq.eq(3)))
            .execute(conn)
            .unwrap();
    });
    assert!(
        report.contains("BROKEN at record 3") && report.contains("missing"),
        "{report}"
    );
    // two records swapped (their positions exchanged)
    let report = fresh(&|conn| {
        diesel::update(audit_events.filter(seq.eq(2)))
            .set(seq.eq(-2))
            .execute(conn)
            .unwrap();
        diesel::update(audit_events.filter(seq.eq(4)))
            .set(seq.eq(2))
            .execute(conn)
            .unwrap();
        diesel::update(audit_events.filter(seq.eq(-2)))
            .set(seq.eq(4))
            .execute(conn)
            .unwrap();
    });
    assert!(report.contains("BROKEN at record 2"), "{report}");
    // an edited record whose own hash was recomputed to fit: its successor's link gives it away
    let report = fresh(&|conn| {
        use switchboard::domain::audit::Record;
        let mut record: Record = audit_events
            .filter(seq.eq(2))
            .select(Record::as_select())
            .first(conn)
            .unwrap();
        record.summary = "nothing happened here".into();
        let forged = record.compute_hash();
        diesel::update(audit_events.filter(seq.eq(2)))
            .set((summary.eq(&record.summary), hash.eq(&forged)))
            .execute(conn)
            .unwrap();
    });
    assert!(
        report.contains("BROKEN at record 3") && report.contains("link"),
        "{report}"
    );
    // the newest record removed: the rest still chains, so only the head an operator kept
    // elsewhere shows the truncation; verify prints it for exactly that
    let database = TestDatabase::create(backend);
    assert!(run(&database, &["migrate"], None).status.success());
    let created = run(
        &database,
        &[
            "company",
            "create",
            "--code",
            "NEWCO",
            "--name",
            "New Co",
            "--supervisor",
            "boss",
        ],
        Some("Velvet-Harbor-Crane-58\n"),
    );
    assert!(created.status.success());
    let head_of = |report: &str| -> String {
        report
            .split("head ")
            .nth(1)
            .map(|h| h.trim().to_string())
            .unwrap_or_default()
    };
    let before = text(&run(&database, &["audit", "verify"], None).stdout);
    assert!(before.contains("NEWCO: intact, 2 records"), "{before}");
    let kept = head_of(&before);
    assert_eq!(kept.len(), 64);
    let mut conn = switchboard::db::connect_single(&database.url).unwrap();
    diesel::connection::SimpleConnection::batch_execute(&mut conn, drop_guards(backend)).unwrap();
    diesel::delete(audit_events.filter(seq.eq(2)))
        .execute(&mut conn)
        .unwrap();
    drop(conn);
    let after = text(&run(&database, &["audit", "verify"], None).stdout);
    assert!(after.contains("NEWCO: intact, 1 record,"), "{after}");
    assert_ne!(head_of(&after), kept, "the kept head no longer matches");
}

/// The statements an attacker with DDL rights would run to lift the immutability triggers.
fn drop_guards(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => {
            "DROP TRIGGER audit_events_no_update; DROP TRIGGER audit_events_no_delete;"
        }
        Backend::Postgres => "DROP TRIGGER audit_events_immutable ON audit_events;",
    }
}

/// Instances started together (twelve) on a database not yet migrated take turns: each finds the
/// schema either missing (and applies it) or complete, and none fails half-way.
fn instances_started_together_migrate_once(backend: Backend) {
    let database = TestDatabase::create(backend);
    let starts: Vec<_> = (0..12)
        .map(|_| {
            switchboard(&database)
                .arg("migrate")
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for start in starts {
        let output = start.wait_with_output().unwrap();
        assert!(output.status.success(), "{}", text(&output.stderr));
    }
    let verified = run(&database, &["audit", "verify"], None);
    assert!(verified.status.success(), "{}", text(&verified.stderr));
}

on_both_databases!(
    sync: verify_finds_deleted_and_reordered_records,
    operators_create_companies_and_users_and_verify_the_audit_log,
    instances_started_together_migrate_once,
    backups_copy_a_live_database_and_restores_wait_for_it,
    operators_seed_a_company_of_the_size_they_plan_for,
);

/// `seed` creates a company (its supervisor's password from stdin, agents, channels) and adds
/// what it is asked for: conversations routed among the agents through the inbound path, with
/// masked copies and search; activity records in one chain that verifies; sign-in attempts.
/// Run again, it adds as much again and needs no password.
fn operators_seed_a_company_of_the_size_they_plan_for(backend: Backend) {
    use switchboard::db::schema::{
        audit_events, companies, conversations, login_events, messages, users,
    };
    let database = TestDatabase::create(backend);
    let args = [
        "seed",
        "--company",
        "scale",
        "--conversations",
        "40",
        "--messages",
        "100",
        "--audit",
        "300",
        "--logins",
        "50",
    ];
    let seeded = run(&database, &args, Some("Tall-Harbor-Lantern-77\n"));
    assert!(seeded.status.success(), "{}", text(&seeded.stderr));
    assert!(text(&seeded.stdout).contains("SCALE: 40 conversations, 100 messages"));
    let mut conn = switchboard::db::connect_single(&database.url).unwrap();
    let company: i64 = companies::table
        .filter(companies::code.eq("SCALE"))
        .select(companies::id)
        .first(&mut conn)
        .unwrap();
    let count_of = |conn: &mut switchboard::db::DbConnection| -> (i64, i64, i64, i64) {
        (
            conversations::table
                .filter(conversations::company_id.eq(company))
                .count()
                .get_result(conn)
                .unwrap(),
            messages::table
                .filter(messages::company_id.eq(company))
                .count()
                .get_result(conn)
                .unwrap(),
            audit_events::table
                .filter(audit_events::company_id.eq(company))
                .filter(audit_events::action.eq("seed.record"))
                .count()
                .get_result(conn)
                .unwrap(),
            login_events::table
                .filter(login_events::company_id.eq(company))
                .count()
                .get_result(conn)
                .unwrap(),
        )
    };
    assert_eq!(count_of(&mut conn), (40, 100, 300, 50));
    // routed among the agents, every one of them holding some (the least-loaded rule)
    let holders: Vec<Option<i64>> = conversations::table
        .filter(conversations::company_id.eq(company))
        .select(conversations::assignee_id)
        .load(&mut conn)
        .unwrap();
    let agents: Vec<i64> = users::table
        .filter(users::company_id.eq(company))
        .filter(users::username.like("agent%"))
        .select(users::id)
        .load(&mut conn)
        .unwrap();
    assert_eq!(agents.len(), 20);
    for agent in &agents {
        assert_eq!(holders.iter().filter(|h| **h == Some(*agent)).count(), 2);
    }
    // what the inbound path writes: masked copies of every message
    let unmasked: i64 = messages::table
        .filter(messages::company_id.eq(company))
        .filter(messages::body_masked.is_null())
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(unmasked, 0);
    let verified = run(&database, &["audit", "verify", "--company", "SCALE"], None);
    assert!(verified.status.success(), "{}", text(&verified.stderr));
    // the seeded supervisor signs in with the password given
    let hash: Option<String> = users::table
        .filter(users::company_id.eq(company))
        .filter(users::username.eq("supervisor"))
        .select(users::password_hash)
        .first(&mut conn)
        .unwrap();
    assert!(switchboard::core::passwords::verify(
        "Tall-Harbor-Lantern-77",
        hash.as_deref().unwrap()
    ));
    // again: as much again, no password asked
    let again = run(&database, &args, None);
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert_eq!(count_of(&mut conn), (80, 200, 600, 100));
    // a company seed did not make is refused, and gets nothing
    let made = run(
        &database,
        &[
            "company",
            "create",
            "--code",
            "REAL",
            "--name",
            "Real Co",
            "--supervisor",
            "rita",
        ],
        Some("Tall-Harbor-Lantern-77\n"),
    );
    assert!(made.status.success(), "{}", text(&made.stderr));
    let refused = run(&database, &["seed", "--company", "REAL"], None);
    assert_one_clear_line(&refused, "REAL was not made by seed");
    let real: i64 = companies::table
        .filter(companies::code.eq("REAL"))
        .select(companies::id)
        .first(&mut conn)
        .unwrap();
    let real_conversations: i64 = conversations::table
        .filter(conversations::company_id.eq(real))
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(real_conversations, 0);
}

/// `backup` copies a SQLite database while the panel serves and writes go on, and the copy is
/// consistent (its audit chain verifies); `restore` refuses while a panel serves the database
/// and afterwards brings back exactly what the backup held. On PostgreSQL both commands point
/// to pg_dump / pg_restore.
fn backups_copy_a_live_database_and_restores_wait_for_it(backend: Backend) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use switchboard::db::schema::audit_events;
    use switchboard::domain::{Actor, audit, companies};

    let database = TestDatabase::create(backend);
    let copy = std::env::temp_dir().join(format!(
        "sb_backup_{}_{}.db",
        std::process::id(),
        switchboard::core::secrets::random_hex(6)
    ));
    let copy_arg = copy.to_string_lossy().into_owned();
    if let Backend::Postgres = backend {
        assert_one_clear_line(
            &run(&database, &["backup", "--to", &copy_arg], None),
            "pg_dump",
        );
        assert_one_clear_line(
            &run(&database, &["restore", "--from", &copy_arg], None),
            "pg_restore",
        );
        return;
    }
    let port = crate::common::free_port();
    let server = crate::common::ChildGuard(
        switchboard(&database)
            .args(["demo", "--bind", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    assert!(crate::common::wait_for_port(port, 60));

    // chained activity records written as fast as one connection can while the copy is made
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        let url = database.url.clone();
        std::thread::spawn(move || {
            let mut conn = switchboard::db::connect_single(&url).unwrap();
            let demo = companies::find_by_code(&mut conn, "DEMO").unwrap().unwrap();
            let actor = Actor::cli();
            let mut written = 0;
            while !stop.load(Ordering::Relaxed) {
                switchboard::db::write_transaction(&mut conn, |conn| {
                    audit::Entry::new(demo.id, &actor, "test.load")
                        .about("test", "load")
                        .saying("written during a backup")
                        .write(conn)
                })
                .unwrap();
                written += 1;
            }
            written
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(300));
    let backup = run(&database, &["backup", "--to", &copy_arg], None);
    assert!(backup.status.success(), "{}", text(&backup.stderr));
    std::thread::sleep(std::time::Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    assert!(writer.join().unwrap() > 0);
    // a second backup never overwrites a file
    assert_one_clear_line(
        &run(&database, &["backup", "--to", &copy_arg], None),
        "exists",
    );

    let on_copy = |args: &[&str]| {
        switchboard(&database)
            .env("SWITCHBOARD_DATABASE_URL", format!("sqlite://{copy_arg}"))
            .args(args)
            .output()
            .unwrap()
    };
    let verified = on_copy(&["audit", "verify"]);
    assert!(verified.status.success(), "{}", text(&verified.stderr));
    let records = |url: &switchboard::db::DatabaseUrl| -> i64 {
        audit_events::table
            .count()
            .get_result(&mut switchboard::db::connect_single(url).unwrap())
            .unwrap()
    };
    let in_copy = records(&switchboard::db::DatabaseUrl::Sqlite(copy_arg.clone()));
    assert!(
        records(&database.url) > in_copy,
        "writes went on after the copy"
    );

    // not while a panel serves the database
    assert_one_clear_line(
        &run(&database, &["restore", "--from", &copy_arg], None),
        "in use",
    );
    drop(server);
    let restored = run(&database, &["restore", "--from", &copy_arg], None);
    assert!(restored.status.success(), "{}", text(&restored.stderr));
    assert_eq!(records(&database.url), in_copy);
    let verified = run(&database, &["audit", "verify"], None);
    assert!(verified.status.success(), "{}", text(&verified.stderr));
    // what is not a Switchboard backup is refused, and the database stays as it was
    std::fs::write(&copy, b"not a database").unwrap();
    assert!(
        !run(&database, &["restore", "--from", &copy_arg], None)
            .status
            .success()
    );
    assert_eq!(records(&database.url), in_copy);
    let _ = std::fs::remove_file(&copy);
}
