//! The source layout (docs/layout.md): no import cycle between modules, at any depth, and no
//! executor named outside `src/exec/`. Read from the sources: every `crate::…`, `super::…`
//! and `self::…` path outside test modules and comments.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module path (`report::table`) -> its source without comments and test modules.
fn modules() -> BTreeMap<String, String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = BTreeMap::new();
    for e in walkdir::WalkDir::new(&src)
        .into_iter()
        .filter_map(|e| e.ok())
    {
        let p = e.path();
        if p.extension().and_then(|x| x.to_str()) != Some("rs") {
            continue;
        }
        let rel = p.strip_prefix(&src).unwrap().with_extension("");
        let mut m = rel.to_string_lossy().replace('/', "::");
        if let Some(parent) = m.strip_suffix("::mod") {
            m = parent.to_string();
        }
        let text = std::fs::read_to_string(p).unwrap();
        let text = text.split("#[cfg(test)]\nmod tests").next().unwrap();
        let code: String = text
            .lines()
            .map(|l| l.split("//").next().unwrap())
            .collect::<Vec<_>>()
            .join("\n");
        out.insert(m, code);
    }
    out
}

/// The paths a source names: `crate::a::b`, `super::x`, and each item of `super::{a, b::c}`.
fn paths(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let bytes = code.as_bytes();
    for start in ["crate::", "super::", "self::"] {
        let mut from = 0;
        while let Some(i) = code[from..].find(start) {
            let at = from + i;
            from = at + start.len();
            if at > 0 && (bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'_') {
                continue;
            }
            let rest = &code[at..];
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(rest.len());
            let head = rest[..end].trim_end_matches(':').to_string();
            if rest[end..].starts_with('{') {
                let group = &rest[end + 1..rest[end..].find('}').map_or(end + 1, |j| end + j)];
                for item in group.split(',') {
                    let item = item.trim().split("::").next().unwrap_or("").trim();
                    if !item.is_empty() && item != "self" {
                        out.push(format!("{head}::{item}"));
                    }
                }
            }
            out.push(head);
        }
    }
    out
}

/// The module a path in module `cur` names (the longest prefix that is a module).
fn resolve(cur: &str, path: &str, mods: &BTreeSet<String>) -> Option<String> {
    let mut parts: Vec<&str> = path.split("::").collect();
    let mut base: Vec<&str> = if cur.is_empty() {
        vec![]
    } else {
        cur.split("::").collect()
    };
    match parts[0] {
        "crate" => base.clear(),
        "self" => {}
        "super" => {
            // In `a/mod.rs` (module a) super is a's parent; in `a/b.rs` (module a::b) it is a:
            // one segment off the module's path either way.
            while parts.first() == Some(&"super") {
                base.pop();
                parts.remove(0);
            }
            parts.insert(0, "super");
        }
        _ => return None,
    }
    parts.remove(0);
    let full: Vec<&str> = base.into_iter().chain(parts).collect();
    (1..=full.len())
        .rev()
        .map(|i| full[..i].join("::"))
        .find(|m| mods.contains(m))
}

/// Module -> the modules it imports, grouped at `depth` path segments.
fn graph(depth: usize) -> BTreeMap<String, BTreeSet<String>> {
    let mods = modules();
    let names: BTreeSet<String> = mods.keys().cloned().collect();
    let group = |m: &str| m.split("::").take(depth).collect::<Vec<_>>().join("::");
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (m, code) in &mods {
        for p in paths(code) {
            let Some(to) = resolve(m, &p, &names) else {
                continue;
            };
            let nested = to.starts_with(&format!("{m}::")) || m.starts_with(&format!("{to}::"));
            let (a, b) = (group(m), group(&to));
            if !nested && a != b {
                g.entry(a).or_default().insert(b);
            }
        }
    }
    g
}

/// A cycle through `start`, if any (depth-first search).
fn cycle(g: &BTreeMap<String, BTreeSet<String>>, start: &str) -> Option<Vec<String>> {
    fn walk(
        g: &BTreeMap<String, BTreeSet<String>>,
        at: &str,
        start: &str,
        path: &mut Vec<String>,
        seen: &mut BTreeSet<String>,
    ) -> bool {
        for next in g.get(at).into_iter().flatten() {
            if next == start {
                return true;
            }
            if seen.insert(next.clone()) {
                path.push(next.clone());
                if walk(g, next, start, path, seen) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    let mut path = vec![start.to_string()];
    walk(g, start, start, &mut path, &mut BTreeSet::new()).then_some(path)
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    for depth in 1..=3 {
        let g = graph(depth);
        for m in g.keys() {
            if let Some(c) = cycle(&g, m) {
                panic!(
                    "an import cycle at depth {depth}: {} -> {m}",
                    c.join(" -> ")
                );
            }
        }
    }
    // The check sees imports: report's modules import the store and the metrics.
    let g = graph(2);
    assert!(g["report::table"].contains("report::format"), "{g:?}");
    assert!(g["metrics::kid"].contains("metrics::metric"), "{g:?}");
}

#[test]
fn no_executor_is_named_outside_exec() {
    for (m, code) in modules() {
        if m == "exec" || m.starts_with("exec::") {
            continue;
        }
        assert!(
            !code.contains("ExecutorKind::"),
            "{m} names an executor (ExecutorKind): executors own their differences"
        );
    }
}
