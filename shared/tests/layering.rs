//! One owner per outside system: only the `store` module folder sends
//! DynamoDB requests, only the `queue` module SQS requests and only the
//! `logs` module folder CloudWatch Logs requests. Every
//! other module of the library, the CLI and the functions call their
//! operations, so a change to the table's layout stays in one place.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn only_the_store_and_the_queue_module_speak_to_aws() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut files = Vec::new();
    for dir in ["shared/src", "cli/src", "functions"] {
        rust_files(&root.join(dir), &mut files);
    }
    let store = root.join("shared/src/store");
    let queue = root.join("shared/src/queue.rs");
    let logs = root.join("shared/src/logs");
    assert!(
        files.iter().any(|f| f.starts_with(&store)),
        "no store module found"
    );
    let mut offenders = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let rel = file.strip_prefix(root).unwrap().display().to_string();
        if !file.starts_with(&store) && text.contains("aws_sdk_dynamodb") {
            offenders.push(format!(
                "{rel} uses aws_sdk_dynamodb (only shared/src/store/ may)"
            ));
        }
        if !file.starts_with(&logs) && text.contains("aws_sdk_cloudwatchlogs") {
            offenders.push(format!(
                "{rel} uses aws_sdk_cloudwatchlogs (only shared/src/logs/ may)"
            ));
        }
        if *file != queue && text.contains("aws_sdk_sqs") {
            offenders.push(format!(
                "{rel} uses aws_sdk_sqs (only shared/src/queue.rs may)"
            ));
        }
    }
    assert!(offenders.is_empty(), "{}", offenders.join("\n"));
}

/// A module of the library as a file, relative to `shared/src`, with its
/// code (comments and unit tests, inline or in a `tests.rs`, left out).
struct Module {
    file: String,
    code: String,
}

fn modules() -> Vec<Module> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files
        .iter()
        .filter(|f| f.file_name().is_some_and(|n| n != "tests.rs"))
        .map(|f| {
            let text = std::fs::read_to_string(f).unwrap();
            let text = text.split("#[cfg(test)]\nmod tests").next().unwrap();
            let code = text
                .lines()
                .map(|l| {
                    if l.trim_start().starts_with("//") {
                        ""
                    } else {
                        l
                    }
                })
                .collect::<Vec<_>>()
                .join("\n");
            Module {
                file: f.strip_prefix(&src).unwrap().display().to_string(),
                code,
            }
        })
        .collect()
}

/// The module path of a file: `store/jobs.rs` is `[store, jobs]`,
/// `store/mod.rs` `[store]`, `lib.rs` `[]`.
fn module_path(file: &str) -> Vec<String> {
    let mut parts: Vec<String> = file
        .trim_end_matches(".rs")
        .split('/')
        .map(String::from)
        .collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts
}

/// The paths a `use` tree or an expression names, from the text after
/// `crate::`, `super::` or `self::`: `a::{b, c::d}` is `[a, b]`, `[a, c, d]`.
fn paths(text: &str) -> Vec<Vec<String>> {
    let mut segs = Vec::new();
    let mut rest = text;
    loop {
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        if end == 0 {
            break;
        }
        segs.push(rest[..end].to_owned());
        rest = &rest[end..];
        let Some(after) = rest.strip_prefix("::") else {
            break;
        };
        rest = after;
        if let Some(group) = rest.strip_prefix('{') {
            let mut out = Vec::new();
            let (mut depth, mut start) = (0, 0);
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        let item = group[start..i].trim();
                        out.extend(paths(item).into_iter().map(|p| [segs.clone(), p].concat()));
                        return out;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        let item = group[start..i].trim();
                        out.extend(paths(item).into_iter().map(|p| [segs.clone(), p].concat()));
                        start = i + 1;
                    }
                    _ => {}
                }
            }
            return out;
        }
    }
    vec![segs]
}

/// Every import among the library's modules, as (from, to, line), a
/// module being a file. An import between two files of one subfolder
/// (`store/`, `worker/`, ...) is left out: a folder may be one tangle.
/// Naming an item through the crate root's re-exports (`crate::Client`)
/// hides the module it comes from, so it is refused.
fn imports(modules: &[Module]) -> (Vec<(String, String, usize)>, Vec<String>) {
    let files: std::collections::HashSet<&str> = modules.iter().map(|m| m.file.as_str()).collect();
    let file_of = |p: &[String]| -> Option<String> {
        if p.is_empty() {
            return Some("lib.rs".to_owned());
        }
        let flat = format!("{}.rs", p.join("/"));
        let folder = format!("{}/mod.rs", p.join("/"));
        [flat, folder]
            .into_iter()
            .find(|f| files.contains(f.as_str()))
    };
    let (mut edges, mut refused) = (Vec::new(), Vec::new());
    for m in modules.iter().filter(|m| m.file != "lib.rs") {
        let me = module_path(&m.file);
        for anchor in ["crate::", "super::", "self::"] {
            for (at, _) in m.code.match_indices(anchor) {
                let before = m.code[..at].chars().next_back();
                if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                    continue;
                }
                let line = m.code[..at].lines().count().max(1);
                let base: Vec<String> = match anchor {
                    "crate::" => Vec::new(),
                    "super::" => me[..me.len().saturating_sub(1)].to_vec(),
                    _ => me.clone(),
                };
                for path in paths(&m.code[at + anchor.len()..]) {
                    let mut module = base.clone();
                    for seg in path {
                        match seg.as_str() {
                            "super" => {
                                module.pop();
                            }
                            "self" => {}
                            _ => {
                                let next = [module.clone(), vec![seg]].concat();
                                if file_of(&next).is_some() && !next.is_empty() {
                                    module = next;
                                } else {
                                    break;
                                }
                            }
                        }
                    }
                    let to = file_of(&module).expect("a module reached has a file");
                    if to == "lib.rs" {
                        refused.push(format!(
                            "{}:{line} names an item through the crate root; name its module",
                            m.file
                        ));
                        continue;
                    }
                    let folder = |f: &str| f.rsplit_once('/').map(|(d, _)| d.to_owned());
                    if to == m.file || (folder(&m.file).is_some() && folder(&m.file) == folder(&to))
                    {
                        continue;
                    }
                    edges.push((m.file.clone(), to, line));
                }
            }
        }
    }
    (edges, refused)
}

/// A cycle through `start` in `edges`, if there is one, as the files in
/// order with the line of each import.
fn cycle_through(start: &str, edges: &[(String, String, usize)]) -> Option<Vec<(String, usize)>> {
    let mut stack = vec![(start.to_owned(), vec![])];
    let mut seen = std::collections::HashSet::new();
    while let Some((node, trail)) = stack.pop() {
        for (from, to, line) in edges.iter().filter(|(f, _, _)| *f == node) {
            let trail = [trail.clone(), vec![(from.clone(), *line)]].concat();
            if to == start {
                return Some(trail);
            }
            if seen.insert(to.clone()) {
                stack.push((to.clone(), trail));
            }
        }
    }
    None
}

#[test]
fn the_library_modules_import_each_other_without_a_cycle() {
    let modules = modules();
    let (edges, refused) = imports(&modules);
    assert!(refused.is_empty(), "{}", refused.join("\n"));
    assert!(
        edges
            .iter()
            .any(|(f, t, _)| f == "worker/mod.rs" && t == "client/mod.rs"),
        "the import reader finds no import at all: {edges:?}"
    );
    let mut cycles = Vec::new();
    let mut named = std::collections::HashSet::new();
    for m in &modules {
        if named.contains(&m.file) {
            continue;
        }
        if let Some(cycle) = cycle_through(&m.file, &edges) {
            named.extend(cycle.iter().map(|(f, _)| f.clone()));
            let steps: Vec<String> = cycle
                .iter()
                .map(|(f, line)| format!("{f}:{line}"))
                .collect();
            cycles.push(format!("{} -> {}", steps.join(" -> "), m.file));
        }
    }
    assert!(
        cycles.is_empty(),
        "the library's modules import each other in a cycle (files of one subfolder may; \
         others may not):\n{}",
        cycles.join("\n")
    );
}

#[test]
fn the_import_reader_sees_groups_nesting_and_super() {
    let p = paths("store::{Change, expr::Expr, item::{get_n, n}}; rest");
    assert_eq!(
        p,
        [
            vec!["store", "Change"],
            vec!["store", "expr", "Expr"],
            vec!["store", "item", "get_n"],
            vec!["store", "item", "n"],
        ]
        .map(|v| v.into_iter().map(String::from).collect::<Vec<_>>())
    );
    assert_eq!(module_path("store/mod.rs"), ["store"]);
    assert_eq!(module_path("worker/claim.rs"), ["worker", "claim"]);
    let modules = vec![
        Module {
            file: "a.rs".into(),
            code: "use crate::b::X;".into(),
        },
        Module {
            file: "b.rs".into(),
            code: "fn f() { crate::c::y(); }".into(),
        },
        Module {
            file: "c/mod.rs".into(),
            code: "mod d; use super::a::Z;".into(),
        },
        Module {
            file: "c/d.rs".into(),
            code: "use super::E; use crate::Root;".into(),
        },
    ];
    let (edges, refused) = imports(&modules);
    assert_eq!(
        refused,
        ["c/d.rs:1 names an item through the crate root; name its module"]
    );
    let cycle = cycle_through("a.rs", &edges).expect("a -> b -> c -> a is a cycle");
    assert_eq!(
        cycle,
        [
            ("a.rs".into(), 1),
            ("b.rs".into(), 1),
            ("c/mod.rs".into(), 1)
        ]
    );
    assert!(
        !edges.iter().any(|(f, _, _)| f == "c/d.rs"),
        "a file's import of its own folder is not an edge: {edges:?}"
    );
}

/// A file is read whole by whoever changes it: past about 600 lines it
/// holds more than one concept. One that must stay larger says why in its
/// first lines ("over 600 lines because ...").
#[test]
fn no_source_file_is_over_600_lines_without_a_reason() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut files = Vec::new();
    for dir in [
        "shared/src",
        "functions",
        "cli/src",
        "tests/src",
        "tests/sim/src",
    ] {
        rust_files(&root.join(dir), &mut files);
    }
    files.retain(|f| {
        !f.components()
            .any(|c| c.as_os_str() == "target" || c.as_os_str() == "tests")
            || f.starts_with(root.join("tests/src"))
            || f.starts_with(root.join("tests/sim/src"))
    });
    assert!(files.len() > 50, "source files not found: {}", files.len());
    let long: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let text = std::fs::read_to_string(f).unwrap();
            let lines = text.lines().count();
            let reason = text
                .lines()
                .take(5)
                .any(|l| l.contains("over 600 lines because"));
            (lines > 600 && !reason)
                .then(|| format!("{}: {lines} lines", f.strip_prefix(root).unwrap().display()))
        })
        .collect();
    assert!(
        long.is_empty(),
        "files past 600 lines, each to split by concept:\n{}",
        long.join("\n")
    );
}
