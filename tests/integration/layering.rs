//! The layers go one way, and no module imports another that imports it back.
//!
//! `web` → `access`/`auth` → `config`/`domain` → `db` → `core`/`error`. The test reads every
//! `crate::…` path in `src/` (in `use` lines, grouped imports and inline paths), resolves each
//! to the module file it names, and fails on an import that goes up a layer or on a cycle
//! between module files (the crate root counts as a module: it builds the App from the top).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// A module's layer by its first path segment; a module may import its own layer and below.
fn layer(module: &str) -> usize {
    match module.split("::").next().unwrap_or("") {
        "core" | "error" => 0,
        "db" => 1,
        "domain" | "config" => 2,
        "access" | "auth" => 3,
        "web" => 4,
        _ => 5, // the crate root (lib.rs) builds the App from everything
    }
}

/// Every module file under `src/` (except the binary), as a path like `domain::users`.
fn modules(src: &Path) -> BTreeMap<String, String> {
    let mut found = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let relative = path.strip_prefix(src).unwrap().with_extension("");
            let mut parts: Vec<String> = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if parts.last().is_some_and(|p| p == "mod") {
                parts.pop();
            }
            let name = match parts.as_slice() {
                [only] if only == "main" => continue,
                [only] if only == "lib" => String::new(),
                _ => parts.join("::"),
            };
            found.insert(name, std::fs::read_to_string(&path).unwrap());
        }
    }
    found
}

/// The code without `//` comments (doc comments name paths that are not imports).
fn without_comments(text: &str) -> String {
    text.lines()
        .map(|line| match line.find("//") {
            Some(at) if !line[..at].contains('"') => &line[..at],
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every path a text names after `crate::`, with grouped imports expanded.
fn crate_paths(text: &str) -> Vec<String> {
    let mut paths = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("crate::") {
        // `$crate::` and identifiers ending in "crate" are not this crate's paths
        let before = rest[..at].chars().last();
        let after = &rest[at + "crate::".len()..];
        rest = after;
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        expand("", after, &mut paths);
    }
    paths
}

/// Reads one path (possibly ending in a `{…}` group) at the start of `text`.
fn expand(prefix: &str, text: &str, paths: &mut Vec<String>) {
    let end = text
        .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(text.len());
    let path = text[..end].trim_end_matches(':');
    let full = match (prefix.is_empty(), path.is_empty()) {
        (true, _) => path.to_string(),
        (false, true) => prefix.to_string(),
        (false, false) => format!("{prefix}::{path}"),
    };
    if text[end..].starts_with('{') {
        let mut depth = 0;
        let mut item_start = end + 1;
        for (i, c) in text[end..].char_indices() {
            let i = end + i;
            match c {
                '{' => depth += 1,
                '}' | ',' if depth == 1 => {
                    let item = text[item_start..i].trim();
                    match item {
                        "" => {}
                        "self" => paths.push(full.clone()),
                        _ => expand(&full, item, paths),
                    }
                    item_start = i + 1;
                    if c == '}' {
                        return;
                    }
                }
                '}' => depth -= 1,
                _ => {}
            }
        }
    } else {
        paths.push(full);
    }
}

/// The module file a path names: its longest prefix that is a module.
fn module_of<'a>(path: &str, modules: &'a BTreeMap<String, String>) -> &'a str {
    let parts: Vec<&str> = path.split("::").collect();
    for len in (1..=parts.len()).rev() {
        let candidate = parts[..len].join("::");
        if let Some((name, _)) = modules.get_key_value(&candidate) {
            return name;
        }
    }
    "" // the crate root
}

fn imports(modules: &BTreeMap<String, String>) -> BTreeMap<&str, BTreeSet<&str>> {
    modules
        .iter()
        .map(|(name, text)| {
            let targets = crate_paths(&without_comments(text))
                .iter()
                .map(|path| module_of(path, modules))
                .filter(|target| target != name)
                .collect();
            (name.as_str(), targets)
        })
        .collect()
}

fn display(module: &str) -> &str {
    if module.is_empty() { "crate" } else { module }
}

#[test]
fn imports_go_down_the_layers() {
    let modules = modules(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    let mut upward = Vec::new();
    for (from, targets) in imports(&modules) {
        for to in targets {
            if layer(to) > layer(from) {
                upward.push(format!("{} imports {}", display(from), display(to)));
            }
        }
    }
    assert!(
        upward.is_empty(),
        "imports that go up a layer:\n{}",
        upward.join("\n")
    );
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    let modules = modules(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    let graph = imports(&modules);
    // depth-first search for a back edge
    fn visit<'a>(
        node: &'a str,
        graph: &BTreeMap<&'a str, BTreeSet<&'a str>>,
        on_path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
        cycles: &mut Vec<String>,
    ) {
        if done.contains(node) {
            return;
        }
        if let Some(at) = on_path.iter().position(|n| *n == node) {
            let mut cycle: Vec<&str> = on_path[at..].iter().map(|n| display(n)).collect();
            cycle.push(display(node));
            cycles.push(cycle.join(" → "));
            return;
        }
        on_path.push(node);
        for next in graph.get(node).into_iter().flatten() {
            visit(next, graph, on_path, done, cycles);
        }
        on_path.pop();
        done.insert(node);
    }
    let mut cycles = Vec::new();
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        visit(node, &graph, &mut Vec::new(), &mut done, &mut cycles);
    }
    assert!(cycles.is_empty(), "module cycles:\n{}", cycles.join("\n"));
}

#[test]
fn the_path_reader_sees_grouped_and_inline_imports() {
    let text = "use crate::domain::{self, users::{get, User}, Actor};\nlet x = crate::db::run(p);\n$crate::common::x; // crate::web::nope";
    let paths = crate_paths(&without_comments(text));
    assert_eq!(
        paths,
        vec![
            "domain",
            "domain::users::get",
            "domain::users::User",
            "domain::Actor",
            "db::run"
        ]
    );
}

/// A handler is intent, not wiring: the request context (`Cx` or `Visitor`), the path and a
/// typed form or query at the most.
#[test]
fn handlers_take_at_most_three_extractors() {
    let modules = modules(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    let mut crowded = Vec::new();
    for (name, text) in modules.iter().filter(|(name, _)| name.starts_with("web::")) {
        let mut rest = text.as_str();
        while let Some(at) = rest.find("pub async fn ") {
            rest = &rest[at + "pub async fn ".len()..];
            let Some(open) = rest.find('(') else { break };
            let handler = &rest[..open];
            // the parameters: the pieces between top-level commas, up to the closing parenthesis
            let mut depth = 0;
            let mut pieces = vec![String::new()];
            for c in rest[open..].chars() {
                match c {
                    '(' | '<' | '{' | '[' => depth += 1,
                    ')' | '>' | '}' | ']' => depth -= 1,
                    ',' if depth == 1 => {
                        pieces.push(String::new());
                        continue;
                    }
                    _ => {}
                }
                if depth == 0 {
                    break;
                }
                if let Some(piece) = pieces.last_mut() {
                    piece.push(c);
                }
            }
            // a method (of the request context) is no handler
            if pieces[0].contains("self") {
                continue;
            }
            let count = pieces
                .iter()
                .filter(|p| !p.trim_start_matches('(').trim().is_empty())
                .count();
            if count > 3 {
                crowded.push(format!("{name}::{handler} takes {count}"));
            }
        }
    }
    assert!(
        crowded.is_empty(),
        "handlers with more than three extractors:\n{}",
        crowded.join("\n")
    );
}
