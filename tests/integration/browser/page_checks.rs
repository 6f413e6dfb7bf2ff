//! Every page a supervisor and an agent can reach, checked by the tools a reviewer would use:
//! axe-core in Chromium (no critical or serious accessibility violation), the Nu HTML checker
//! on the HTML the server sent (no error), and, on a phone, no page wider than the screen.
//! `scripts/test` installs both tools into `target/page-checkers` (npm; the checker runs on
//! Java); `SWITCHBOARD_PAGE_CHECKERS` names another folder.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::{Browser, Demo, sideways};
use crate::common::{Backend, PASSWORD};

/// At most this many pages per person: one of each kind is enough (see `kind_of`).
const MAX_PAGES: usize = 60;

struct PageCheckers {
    /// axe-core's source, injected into each page.
    axe: String,
    /// The Nu HTML checker (vnu.jar).
    vnu: PathBuf,
}

impl PageCheckers {
    fn installed() -> Self {
        let dir = std::env::var("SWITCHBOARD_PAGE_CHECKERS").map_or_else(
            |_| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/page-checkers"),
            PathBuf::from,
        );
        let modules = dir.join("node_modules");
        let axe =
            std::fs::read_to_string(modules.join("axe-core/axe.min.js")).unwrap_or_else(|err| {
                panic!(
                    "axe-core is not in {}: run scripts/test, which installs it ({err})",
                    modules.display()
                )
            });
        let vnu = modules.join("vnu-jar/build/dist/vnu.jar");
        assert!(
            vnu.exists(),
            "the Nu HTML checker is not at {}: run scripts/test, which installs it",
            vnu.display()
        );
        Self { axe, vnu }
    }
}

/// One page as the checkers saw it.
struct CheckedPage {
    path: String,
    /// The HTML the server sent (before any script ran), for the Nu checker.
    html: String,
    /// axe-core's critical and serious violations, one line each.
    violations: Vec<String>,
    /// Pixels beyond the window's width (0 when nothing scrolls sideways).
    sideways: i64,
}

/// What makes two addresses the same kind of page: the path with its ids blanked and the
/// names (not values) of its query. `/users/3?status=active` and `/users/7?status=inactive`
/// are one kind; `/users/3` another.
fn kind_of(href: &str) -> String {
    let (path, query) = href.split_once('?').unwrap_or((href, ""));
    let path: String = path
        .split('/')
        .map(|part| {
            if !part.is_empty() && part.chars().all(|c| c.is_ascii_digit()) {
                "#"
            } else {
                part
            }
        })
        .collect::<Vec<_>>()
        .join("/");
    let names: BTreeSet<&str> = query
        .split('&')
        .filter_map(|pair| pair.split('=').next())
        .filter(|name| !name.is_empty())
        .collect();
    format!("{path}?{}", names.into_iter().collect::<Vec<_>>().join("&"))
}

/// Links a crawl follows: pages of the panel, not downloads, assets or the live fragments.
fn worth_visiting(href: &str) -> bool {
    href.starts_with('/')
        && !href.starts_with("//")
        && !href.starts_with("/static/")
        && !href.starts_with("/exports/")
        && !href.contains(".csv")
        && !href.ends_with("/export")
        && !href.contains("/live")
        && !href.contains('#')
}

/// Visits every kind of page reachable by links from `start`, checking each.
async fn crawl(b: &Browser, checkers: &PageCheckers, start: &[&str]) -> Vec<CheckedPage> {
    let mut queue: Vec<String> = start.iter().map(|path| path.to_string()).collect();
    let mut seen: BTreeSet<String> = queue.iter().map(|path| kind_of(path)).collect();
    let mut pages = Vec::new();
    while let Some(path) = (!queue.is_empty()).then(|| queue.remove(0)) {
        if pages.len() == MAX_PAGES {
            break;
        }
        b.go(&path).await;
        b.wait_for("main").await;
        let page = check(b, checkers, &path).await;
        let links = b
            .c
            .execute(
                "return [...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href'));",
                vec![],
            )
            .await
            .unwrap();
        for href in links.as_array().into_iter().flatten() {
            let Some(href) = href.as_str() else { continue };
            if worth_visiting(href) && seen.insert(kind_of(href)) {
                queue.push(href.to_string());
            }
        }
        pages.push(page);
    }
    pages
}

async fn check(b: &Browser, checkers: &PageCheckers, path: &str) -> CheckedPage {
    let callback = "const done = arguments[arguments.length - 1];";
    let violations =
        b.c.execute_async(
            &format!(
                "{callback} {axe}\n\
                 axe.run(document, {{ resultTypes: ['violations'] }}).then(result => done(\
                   result.violations\
                     .filter(v => v.impact === 'critical' || v.impact === 'serious')\
                     .map(v => v.impact + ' ' + v.id + ': ' + v.help + ' — ' + \
                          v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', '))));",
                axe = checkers.axe
            ),
            vec![],
        )
        .await
        .unwrap_or_else(|err| panic!("axe-core did not run on {path}: {err}"));
    let html =
        b.c.execute_async(
            &format!(
                "{callback} fetch(location.href, {{ credentials: 'same-origin' }})\
                   .then(r => r.text()).then(done, e => done('fetch failed: ' + e));"
            ),
            vec![],
        )
        .await
        .unwrap();
    CheckedPage {
        path: path.to_string(),
        html: html.as_str().unwrap_or_default().to_string(),
        violations: violations
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        sideways: sideways(b).await,
    }
}

/// The Nu checker's errors for these pages, as `path: line: message`.
fn html_errors(checkers: &PageCheckers, pages: &[CheckedPage]) -> Vec<String> {
    let dir = std::env::temp_dir().join(format!(
        "sb-pages-{}",
        switchboard::core::secrets::random_hex(6)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    // a control the checker must fault, so that a checker that reads nothing cannot pass
    let control = "control.html";
    std::fs::write(
        dir.join(control),
        "<!DOCTYPE html><html lang=en><title>control</title><p hx-get=/x>unknown attribute</p>",
    )
    .unwrap();
    let mut files = BTreeMap::from([(control.to_string(), control.to_string())]);
    for (i, page) in pages.iter().enumerate() {
        let file = dir.join(format!("page-{i}.html"));
        std::fs::write(&file, &page.html).unwrap();
        files.insert(format!("page-{i}.html"), page.path.clone());
    }
    let output = std::process::Command::new("java")
        .arg("-jar")
        .arg(&checkers.vnu)
        .args(["--errors-only", "--format", "json", "--stdout"])
        .args(files.keys().map(|name| dir.join(name)))
        .output()
        .expect("java, for the Nu HTML checker (scripts/test installs it)");
    std::fs::remove_dir_all(&dir).ok();
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|err| {
        panic!(
            "the Nu checker's report does not read ({err}): {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    let errors: Vec<String> = report["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|message| message["type"] == "error" || message["subType"] == "fatal")
        .map(|message| {
            let file = message["url"].as_str().unwrap_or_default();
            let name = file.rsplit('/').next().unwrap_or_default();
            format!(
                "{}: line {}: {}",
                files.get(name).map_or(file, String::as_str),
                message["lastLine"],
                message["message"].as_str().unwrap_or_default()
            )
        })
        .collect();
    let (faulted, errors): (Vec<String>, Vec<String>) = errors
        .into_iter()
        .partition(|error| error.starts_with(control));
    assert!(
        faulted.iter().any(|error| error.contains("hx-get")),
        "the Nu checker did not fault the control document: {faulted:?} {errors:?}"
    );
    errors
}

/// Every page a supervisor reaches on a phone and an agent on a desktop, the sign-in page and
/// a page that does not exist: no critical or serious axe-core violation, no Nu checker error,
/// nothing wider than the phone's screen.
pub async fn every_page_passes_the_page_checkers(backend: Backend) {
    let checkers = PageCheckers::installed();
    let demo = Demo::start(backend);
    let b = demo.browser().await;

    // a control axe-core must fault, so that a checker that runs nothing cannot pass
    b.go("/login").await;
    b.wait_for("main").await;
    b.c.execute(
        "document.querySelector('main').insertAdjacentHTML('beforeend', \
           '<input type=text id=control-without-label>'); return null;",
        vec![],
    )
    .await
    .unwrap();
    let control = check(&b, &checkers, "/login (control)").await;
    assert!(
        control
            .violations
            .iter()
            .any(|v| v.contains("label") && v.contains("control-without-label")),
        "axe-core did not fault an input without a label: {:?}",
        control.violations
    );

    let mut pages = Vec::new();
    pages.extend(crawl(&b, &checkers, &["/login"]).await);
    // the supervisor, who has the most and the widest pages, on a phone
    b.c.set_window_size(390, 844).await.unwrap();
    b.sign_in("DEMO", "sofia", PASSWORD).await;
    b.wait_for("#main-nav").await;
    let supervisor = crawl(&b, &checkers, &["/", "/no-such-page"]).await;
    assert!(
        supervisor.len() >= 25,
        "the crawl found only {} pages: {:?}",
        supervisor.len(),
        supervisor.iter().map(|p| &p.path).collect::<Vec<_>>()
    );
    let too_wide: Vec<String> = supervisor
        .iter()
        .filter(|page| page.sideways > 0)
        .map(|page| format!("{} ({} px)", page.path, page.sideways))
        .collect();
    pages.extend(supervisor);
    b.sign_out().await;

    // an agent on a desktop
    b.c.set_window_size(1280, 900).await.unwrap();
    b.sign_in("DEMO", "alice", PASSWORD).await;
    b.wait_for("#main-nav").await;
    let agent = crawl(&b, &checkers, &["/"]).await;
    assert!(
        agent.len() >= 5,
        "{:?}",
        agent.iter().map(|p| &p.path).collect::<Vec<_>>()
    );
    pages.extend(agent);
    b.close().await;

    let violations: Vec<String> = pages
        .iter()
        .flat_map(|page| {
            page.violations
                .iter()
                .map(|v| format!("{}: {v}", page.path))
        })
        .collect();
    let errors = html_errors(&checkers, &pages);
    assert!(
        violations.is_empty() && errors.is_empty() && too_wide.is_empty(),
        "{} pages checked.\naxe-core, critical or serious:\n{}\nNu HTML checker:\n{}\nwider than a 390 px phone:\n{}",
        pages.len(),
        violations.join("\n"),
        errors.join("\n"),
        too_wide.join("\n"),
    );
}

#[test]
fn a_page_kind_is_its_path_without_ids_and_its_query_names() {
    assert_eq!(
        kind_of("/users/3?status=active"),
        kind_of("/users/7?status=x")
    );
    assert_ne!(kind_of("/users/3"), kind_of("/users"));
    assert_ne!(
        kind_of("/conversations?view=missed"),
        kind_of("/conversations")
    );
    assert!(!worth_visiting("/exports/logins.csv?from=2026-01-01"));
    assert!(!worth_visiting("/contacts/4/export"));
    assert!(!worth_visiting("https://example.com/"));
    assert!(worth_visiting("/users/4/offboard"));
}
