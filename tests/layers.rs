//! Imports point down only (ARCHITECTURE.md, "Layers"): every `crate::` and `super::` path in
//! the library's code (outside its `#[cfg(test)]` modules, which may drive a part from above) must
//! name a module of the same layer or a lower one. The layers, lowest first, are below; a new
//! module must be given one here, or this test fails.

use std::path::{Path, PathBuf};

const LAYERS: &[(&str, &[&str])] = &[
    (
        "pure parts",
        &[
            "slab",
            "sync",
            "fnv",
            "free_set",
            "current_waker",
            "io_owner",
            "time::wheel",
            "time::virtual_clock",
        ],
    ),
    ("reactor", &["reactor"]),
    ("run queue", &["run_queue"]),
    ("task", &["task"]),
    ("executor", &["executor", "join", "yield_now", "blocking"]),
    (
        "runtime, time, net, test kit",
        &[
            "runtime",
            "time",
            "net",
            "async_fd",
            "signal",
            "test",
            "loom_models",
        ],
    ),
    ("http", &["http"]),
    ("crawl", &["crawl"]),
];

/// What the crate root re-exports, by the module it comes from.
const ROOT_ITEMS: &[(&str, &str)] = &[
    ("block_on", "runtime"),
    ("spawn", "runtime"),
    ("spawn_named", "runtime"),
    ("Executor", "executor"),
    ("Spawner", "executor"),
    ("Task", "task"),
    ("join", "join"),
    ("join_all", "join"),
    ("race", "join"),
    ("JoinAll", "join"),
    ("unblock", "blocking"),
    ("Unblock", "blocking"),
    ("yield_now", "yield_now"),
    ("YieldNow", "yield_now"),
];

/// The layer of a module path (`time::sleep`, `reactor::park`), by its longest listed prefix.
fn layer_of(module: &str) -> Option<usize> {
    let mut best: Option<(usize, usize)> = None;
    for (layer, (_, modules)) in LAYERS.iter().enumerate() {
        for m in *modules {
            let matches = module == *m || module.starts_with(&format!("{m}::"));
            if matches && best.is_none_or(|(len, _)| m.len() > len) {
                best = Some((m.len(), layer));
            }
        }
    }
    best.map(|(_, layer)| layer)
}

/// The module a path names, from the module `from` it is written in: `crate::a::b::C` or
/// `super::x` resolved, root re-exports mapped to their module.
fn target_of(from: &str, path: &str) -> Option<String> {
    if let Some(rest) = path.strip_prefix("crate::") {
        let first = rest.split("::").next().unwrap_or("");
        if let Some((_, module)) = ROOT_ITEMS.iter().find(|(item, _)| *item == first) {
            return Some(module.to_string());
        }
        return Some(rest.to_string());
    }
    let mut module: Vec<&str> = from.split("::").collect();
    let mut rest = path;
    while let Some(after) = rest.strip_prefix("super::") {
        module.pop()?;
        rest = after;
    }
    module.push(rest);
    Some(module.join("::"))
}

/// The `crate::` and `super::` paths of one line of code (comments cut off).
fn paths_in(line: &str) -> Vec<String> {
    let code = match line.find("//") {
        Some(at) => &line[..at],
        None => line,
    };
    let mut out = Vec::new();
    for start in ["crate::", "super::"] {
        let mut from = 0;
        while let Some(at) = code[from..].find(start) {
            let at = from + at;
            let before = code[..at].chars().next_back();
            let path: String = code[at..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            from = at + path.len().max(1);
            // `$crate::` (a macro) counts as `crate::`; `a_crate::` or `x::super::` do not start one.
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            if start == "super::" && code[..at].ends_with("super::") {
                continue;
            }
            out.push(path.trim_end_matches(':').to_string());
        }
    }
    out
}

/// Every import of `source` (the text of module `module`) that points up a layer, as messages.
fn violations(module: &str, source: &str) -> Vec<String> {
    let Some(own) = layer_of(module) else {
        return vec![format!("module `{module}` has no layer in tests/layers.rs")];
    };
    let mut out = Vec::new();
    for (n, line) in source.lines().enumerate() {
        if line.trim_start().starts_with("#[cfg(test)]") {
            break;
        }
        for path in paths_in(line) {
            let Some(target) = target_of(module, &path) else {
                continue;
            };
            match layer_of(&target) {
                Some(layer) if layer <= own => {}
                Some(layer) => out.push(format!(
                    "{module}:{}: `{path}` points up, from {} to {}",
                    n + 1,
                    LAYERS[own].0,
                    LAYERS[layer].0
                )),
                None => out.push(format!(
                    "{module}:{}: `{path}` names `{target}`, which has no layer in tests/layers.rs",
                    n + 1
                )),
            }
        }
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `src/reactor/park.rs` -> `reactor::park`, `src/test/mod.rs` -> `test`.
fn module_of(src: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(src).unwrap().with_extension("");
    let parts: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .filter(|p| p != "mod")
        .collect();
    parts.join("::")
}

#[test]
fn imports_point_down_only() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut found = Vec::new();
    let mut checked = 0;
    for file in &files {
        let module = module_of(&src, file);
        // The crate root only declares and re-exports; the programs are crates of their own.
        if module == "lib" || module.starts_with("bin::") {
            continue;
        }
        let source = std::fs::read_to_string(file).unwrap();
        found.extend(violations(&module, &source));
        checked += 1;
    }
    assert!(
        checked > 40,
        "only {checked} files read from {}",
        src.display()
    );
    assert!(
        found.is_empty(),
        "imports that point up:\n{}",
        found.join("\n")
    );
}

#[test]
fn an_import_pointing_up_is_found() {
    let found = violations("reactor::park", "use crate::executor::Executor;\n");
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("from reactor to executor"), "{found:?}");
    // Through a root re-export, and in code rather than a `use`.
    let found = violations("task", "fn f() { crate::spawn(async {}); }\n");
    assert_eq!(found.len(), 1, "{found:?}");
    // Through `super::`, from a pure part to its parent's layer.
    let found = violations("time::wheel", "use super::sleep::Sleep;\n");
    assert_eq!(found.len(), 1, "{found:?}");
}

#[test]
fn imports_down_or_across_comments_and_tests_pass() {
    let source = "use crate::sync::Mutex;\nuse super::source::Source;\n\
                  // crate::http::Client in a comment\n\
                  #[cfg(test)]\nmod tests { use crate::block_on; }\n";
    assert_eq!(violations("reactor::park", source), Vec::<String>::new());
    assert_eq!(
        violations("crawl::robots", "use super::retry;\n"),
        Vec::<String>::new()
    );
}

#[test]
fn a_module_without_a_layer_is_named() {
    let found = violations("newthing", "");
    assert!(found[0].contains("`newthing` has no layer"), "{found:?}");
    let found = violations("task", "use crate::nowhere::X;\n");
    assert!(found[0].contains("has no layer"), "{found:?}");
}
