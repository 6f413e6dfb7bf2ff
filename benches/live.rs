//! What open pages cost the inbox: runs the real binary (release) on the demo workspace,
//! measures `/conversations` as alice (latency p50/p99 and answers per second, 4 clients at
//! once), with and without 500 open pages that poll for live updates every 2 s (25 sessions of
//! bob, 20 tabs each, as a browser's tabs share a session), then while a customer writes once a
//! second (each message makes every open page look again). Each measurement stops after 30 s.
//! The pages poll from a runtime of their own, so that their tasks do not delay the inbox's
//! client; "with" and "without" alternate three times each, and the medians of the three are
//! compared, so that the machine's drift over a minute is not read as their cost. SQLite, or
//! PostgreSQL when `SWITCHBOARD_BENCH_POSTGRES` names a server. Prints figures; asserts
//! nothing. Run: `cargo bench --bench live`.
//! `prototypes/sse.patch` adds the server-sent-events variant this was measured against.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark may panic on the unexpected

#[path = "../tests/integration/database.rs"]
#[allow(dead_code)]
mod database;
#[path = "../tests/integration/ports.rs"]
mod ports;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use database::TestDatabase;

const PASSWORD: &str = "Harbor-Lantern-42!";
const PAGES: usize = 500;
const TABS_PER_SESSION: usize = 20;
const INBOX_REQUESTS: usize = 12_000;
const INBOX_CLIENTS: usize = 4;

struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn sign_in(base: &str, username: &str) -> reqwest::Client {
    let http = client();
    let form = http
        .get(format!("{base}/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let marker = r#"name="csrf-token" content=""#;
    let start = form.find(marker).expect("csrf meta") + marker.len();
    let token = &form[start..start + form[start..].find('"').unwrap()];
    let status = http
        .post(format!("{base}/login"))
        .form(&[
            ("company_code", "DEMO"),
            ("username", username),
            ("password", PASSWORD),
            ("csrf_token", token),
        ])
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status.as_u16(), 303, "sign-in of {username}");
    http
}

/// The poll address a page carries.
fn poll_url(body: &str) -> Option<String> {
    let marker = r#"<div id="live" data-hx-get=""#;
    let start = body.find(marker)? + marker.len();
    Some(
        body[start..start + body[start..].find('"')?]
            .replace("&amp;", "&")
            .replace("&#38;", "&"),
    )
}

/// The inbox, `INBOX_CLIENTS` at a time: p50, p99 (ms) and answers per second.
async fn inbox(base: &str, alice: &reqwest::Client) -> (f64, f64, f64) {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..INBOX_CLIENTS {
        let (http, url) = (alice.clone(), format!("{base}/conversations"));
        tasks.push(tokio::spawn(async move {
            let mut took = Vec::with_capacity(INBOX_REQUESTS / INBOX_CLIENTS);
            for _ in 0..INBOX_REQUESTS / INBOX_CLIENTS {
                if started.elapsed() > Duration::from_secs(30) {
                    break;
                }
                let start = Instant::now();
                let answer = http.get(&url).send().await.unwrap();
                assert_eq!(answer.status().as_u16(), 200);
                answer.bytes().await.unwrap();
                took.push(start.elapsed());
            }
            took
        }));
    }
    let mut took: Vec<Duration> = Vec::new();
    for task in tasks {
        took.extend(task.await.unwrap());
    }
    let elapsed = started.elapsed().as_secs_f64();
    took.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    (
        ms(took[took.len() / 2]),
        ms(took[took.len() * 99 / 100]),
        took.len() as f64 / elapsed,
    )
}

/// WhatsApp Sales (bob takes its new chats) and its hook token.
fn hook(database: &TestDatabase) -> (i64, String) {
    use diesel::prelude::*;
    use switchboard::db::schema::channels;
    let mut conn = switchboard::db::connect_single(&database.url).unwrap();
    channels::table
        .filter(channels::name.eq("WhatsApp Sales"))
        .select((channels::id, channels::webhook_token))
        .first(&mut conn)
        .unwrap()
}

fn main() {
    let (database, _) = TestDatabase::for_benchmark(0);
    let port = ports::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let server = Server(
        std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .args(["demo", "--bind", &format!("127.0.0.1:{port}")])
            .env_remove("SWITCHBOARD_BIND")
            .env_remove("SWITCHBOARD_PASSWORD")
            .env_remove("DATABASE_URL")
            .env("SWITCHBOARD_DATABASE_URL", database.url_string())
            .env("SWITCHBOARD_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("start switchboard"),
    );
    let server_pid = server.0.id();
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(started.elapsed() < Duration::from_secs(60), "no server");
        std::thread::sleep(Duration::from_millis(100));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // the open pages poll from a runtime of their own: their 500 tasks do not share the
    // inbox client's threads
    let pages_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        println!("backend {}", database.url.backend_name());
        let alice = sign_in(&base, "alice").await;
        inbox(&base, &alice).await; // warm up
        // 500 open pages, polling every 2 s while `polling` holds, their starts spread over
        // the 2 s
        let (stop, polling) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
        let (quiet, fresh) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let mut pollers = Vec::new();
        for session in 0..PAGES / TABS_PER_SESSION {
            let bob = sign_in(&base, "bob").await;
            let page = bob
                .get(format!("{base}/conversations"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            let first = poll_url(&page).expect("a poller on the page");
            for tab in 0..TABS_PER_SESSION {
                let (http, base, mut url) = (bob.clone(), base.clone(), first.clone());
                let (stop, polling) = (stop.clone(), polling.clone());
                let (quiet, fresh) = (quiet.clone(), fresh.clone());
                let offset = ((session * TABS_PER_SESSION + tab) * 2000 / PAGES) as u64;
                pollers.push(pages_runtime.spawn(async move {
                    tokio::time::sleep(Duration::from_millis(offset)).await;
                    let mut tick = tokio::time::interval(Duration::from_secs(2));
                    while !stop.load(Ordering::Relaxed) {
                        tick.tick().await;
                        if !polling.load(Ordering::Relaxed) {
                            continue;
                        }
                        let answer = http
                            .get(format!("{base}{url}"))
                            .header("HX-Request", "true")
                            .send()
                            .await
                            .unwrap();
                        if answer.status().as_u16() == 204 {
                            quiet.fetch_add(1, Ordering::Relaxed);
                        } else {
                            fresh.fetch_add(1, Ordering::Relaxed);
                            if let Some(next) = poll_url(&answer.text().await.unwrap()) {
                                url = next;
                            }
                        }
                    }
                }));
            }
        }
        let line = |label: &str, (p50, p99, rate): (f64, f64, f64)| {
            println!("{label:<44} p50 {p50:>6.2} ms   p99 {p99:>6.2} ms   {rate:>7.0} answers/s");
        };
        // without and with the open pages, alternately
        let (mut without, mut with) = (Vec::new(), Vec::new());
        for round in 1..=3 {
            polling.store(false, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_secs(3)).await;
            let figures = inbox(&base, &alice).await;
            line(&format!("inbox, no open pages ({round})"), figures);
            without.push(figures.1);
            polling.store(true, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_secs(3)).await;
            let figures = inbox(&base, &alice).await;
            line(&format!("inbox, {PAGES} open pages polling ({round})"), figures);
            with.push(figures.1);
        }
        // what the open pages cost the server alone, with nothing else asking: its CPU time
        // over 10 s of polling
        let server_cpu = || {
            let stat = std::fs::read_to_string(format!("/proc/{server_pid}/stat")).unwrap();
            // utime and stime, the 14th and 15th fields, after the command's closing parenthesis
            let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
            let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
            Duration::from_millis(ticks * 10) // 100 ticks a second on Linux
        };
        let (cpu_before, polls_before) = (server_cpu(), quiet.load(Ordering::Relaxed));
        tokio::time::sleep(Duration::from_secs(10)).await;
        let (cpu, polls) = (
            server_cpu() - cpu_before,
            quiet.load(Ordering::Relaxed) - polls_before,
        );
        println!(
            "{PAGES} open pages alone: {polls} polls in 10 s took the server {} ms of CPU ({:.1} % of one core, {:.0} µs a poll)",
            cpu.as_millis(),
            cpu.as_secs_f64() * 10.0,
            cpu.as_secs_f64() * 1e6 / polls.max(1) as f64
        );
        let median = |mut values: Vec<f64>| {
            values.sort_by(f64::total_cmp);
            values[values.len() / 2]
        };
        let (p99, p99_open) = (median(without), median(with));
        // the same, with a customer writing once a second: every open page looks again
        let writer = {
            let (stop, base) = (stop.clone(), base.clone());
            let (channel, token) = hook(&database);
            tokio::spawn(async move {
                let http = reqwest::Client::new();
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let answer = http
                        .post(format!("{base}/hooks/channels/{channel}/messages"))
                        .header("Authorization", format!("Bearer {token}"))
                        .header("Content-Type", "application/json")
                        .body(format!(r#"{{"external_id": "bench-{n}", "contact": {{"name": "Bench Writer", "phone": "+90 532 246 8135"}}, "text": "message {n}"}}"#))
                        .send()
                        .await
                        .unwrap();
                    assert!(answer.status().is_success());
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                n
            })
        };
        tokio::time::sleep(Duration::from_secs(3)).await;
        let busy = inbox(&base, &alice).await;
        line("the same, a new message every second", busy);
        stop.store(true, Ordering::Relaxed);
        let written = writer.await.unwrap();
        for poller in pollers {
            let _ = poller.await;
        }
        println!(
            "{written} messages; polls answered: {} with 204 (nothing new), {} with a new version",
            quiet.load(Ordering::Relaxed),
            fresh.load(Ordering::Relaxed),
        );
        println!(
            "inbox p99, median of three: {p99:.2} ms without open pages, {p99_open:.2} ms with {PAGES} ({:+.0} %); {:.2} ms with a message a second ({:+.0} %)",
            (p99_open / p99 - 1.0) * 100.0,
            busy.1,
            (busy.1 / p99 - 1.0) * 100.0
        );
    });
}
