//! The module tree with parameter counts, as `ddim-sweep summary` prints it.

use std::collections::HashMap;
use std::fmt::Write;
use tch::nn;

/// A module, its variable prefix in the VarStore, and its children.
#[derive(Debug, Clone)]
pub struct ModuleInfo {
    pub name: String,
    pub prefix: String,
    pub description: String,
    pub children: Vec<ModuleInfo>,
}

fn prefix_of(p: &nn::Path) -> String {
    p.components().collect::<Vec<_>>().join(".")
}

impl ModuleInfo {
    pub fn leaf(name: &str, p: &nn::Path, description: String) -> Self {
        Self::node(name, p, description, Vec::new())
    }

    pub fn node(name: &str, p: &nn::Path, description: String, children: Vec<ModuleInfo>) -> Self {
        ModuleInfo {
            name: name.to_string(),
            prefix: prefix_of(p),
            description,
            children,
        }
    }

    /// Trainable parameters under this module's prefix.
    pub fn parameters(&self, counts: &HashMap<String, (i64, bool)>) -> i64 {
        let dotted = format!("{}.", self.prefix);
        counts
            .iter()
            .filter(|(k, (_, trainable))| {
                *trainable && (k.starts_with(&dotted) || **k == self.prefix)
            })
            .map(|(_, (n, _))| n)
            .sum()
    }

    /// The tree, one module a line with its parameter count.
    pub fn render(&self, counts: &HashMap<String, (i64, bool)>) -> String {
        let mut rows: Vec<(String, i64)> = Vec::new();
        self.collect(counts, "", "", &mut rows);
        let width = rows
            .iter()
            .map(|(l, _)| l.chars().count())
            .max()
            .unwrap_or(0);
        let mut out = String::new();
        for (label, n) in rows {
            let pad = width - label.chars().count();
            let _ = writeln!(out, "{label}{}  {:>11}", " ".repeat(pad), thousands(n));
        }
        out
    }

    fn collect(
        &self,
        counts: &HashMap<String, (i64, bool)>,
        lead: &str,
        child_lead: &str,
        rows: &mut Vec<(String, i64)>,
    ) {
        rows.push((
            format!("{lead}{}: {}", self.name, self.description),
            self.parameters(counts),
        ));
        let n = self.children.len();
        for (i, c) in self.children.iter().enumerate() {
            let last = i + 1 == n;
            let (branch, cont) = if last {
                ("└─ ", "   ")
            } else {
                ("├─ ", "│  ")
            };
            c.collect(
                counts,
                &format!("{child_lead}{branch}"),
                &format!("{child_lead}{cont}"),
                rows,
            );
        }
    }
}

/// Number of elements and trainability of every variable, by name.
pub fn variable_counts(vs: &nn::VarStore) -> HashMap<String, (i64, bool)> {
    vs.variables()
        .into_iter()
        .map(|(k, t)| (k, (t.numel() as i64, t.requires_grad())))
        .collect()
}

/// `1234567` -> `1,234,567`.
pub fn thousands(n: i64) -> String {
    let s = n.abs().to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn thousands() {
        assert_eq!(super::thousands(3562211), "3,562,211");
        assert_eq!(super::thousands(999), "999");
        assert_eq!(super::thousands(1000), "1,000");
        assert_eq!(super::thousands(0), "0");
    }
}
