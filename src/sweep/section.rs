//! The sweep file's text as its sections' parsers see it: errors located at the file and
//! line ([`SpecError`]), keys found by line, flags named and checked, seeds. Each block's
//! owner (`random:`, `search:`, `race:`, `stop:`, the grid's in `spec`) parses its own part
//! with it.

use crate::flags::{check_value, lookup, plain_value, show_value, FlagError, FlagSpec};
use serde_yaml::Value;

/// An error in a sweep file, located where possible.
#[derive(Debug, thiserror::Error)]
#[error("{file}{}: {message}", location(.line, .column))]
pub struct SpecError {
    pub file: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

fn location(line: &Option<usize>, column: &Option<usize>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!(":{l}:{c}"),
        (Some(l), None) => format!(":{l}"),
        _ => String::new(),
    }
}

/// Finds the line (1-based) of `key:` inside top-level `section` (or at top level when
/// `section` is empty), for messages about values serde no longer locates.
pub fn find_line(text: &str, section: &str, key: &str) -> Option<usize> {
    let mut in_section = section.is_empty();
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.starts_with('#') || trimmed.is_empty() {
            continue;
        }
        let top = !line.starts_with(' ') && !line.starts_with('\t') && !line.starts_with('-');
        if top && !section.is_empty() {
            in_section = trimmed.starts_with(&format!("{section}:"));
            if in_section {
                // `section: {key: ...}` on one line
                if line.contains(&format!("{key}:")) && trimmed != format!("{section}:") {
                    return Some(i + 1);
                }
                continue;
            }
        }
        if in_section {
            let body = trimmed.trim_start_matches("- ").trim_start_matches('{');
            if body.starts_with(&format!("{key}:"))
                || line.contains(&format!("{{{key}:"))
                || line.contains(&format!(", {key}:"))
                || line.contains(&format!("{{ {key}:"))
            {
                return Some(i + 1);
            }
        }
    }
    None
}

/// The sweep file being parsed: its text and its name in messages.
#[derive(Debug, Clone, Copy)]
pub struct SweepText<'a> {
    pub text: &'a str,
    pub file: &'a str,
    /// The sweep runs a program of the user's (`command:`): its flags are the program's own
    /// (any name, any scalar; [`crate::flags::program_flag`]), not the built-in trainer's.
    pub program: bool,
    /// That program's sweep has `sample_metrics:`: ddim-sweep measures KID, FID, precision
    /// and recall of the images it leaves, after it exits.
    pub samples: bool,
}

impl SweepText<'_> {
    /// An error at `line` of the file.
    pub fn err(&self, line: Option<usize>, message: String) -> SpecError {
        SpecError {
            file: self.file.to_string(),
            line,
            column: None,
            message,
        }
    }

    /// The line of `key:` inside top-level `section` (at top level for "").
    pub fn line(&self, section: &str, key: &str) -> Option<usize> {
        find_line(self.text, section, key)
    }

    pub fn flag_error(&self, section: &str, name: &str, e: FlagError) -> SpecError {
        self.err(self.line(section, name), format!("{section}: {e}"))
    }

    /// The final metrics a block of this sweep may name: its program's (declared while its
    /// `metrics:` was read), or the built-in trainer's.
    pub fn metric_names(&self) -> Vec<&'static str> {
        if self.program {
            crate::metrics::declared::all()
                .iter()
                .map(|m| m.name)
                .collect()
        } else {
            crate::metrics::names::Metric::names()
        }
    }

    /// The final metrics a `search:`, `race:` or `--sort` may name: [`Self::metric_names`],
    /// and in a program's sweep with `sample_metrics:` the sample metrics measured after it
    /// exits (no `stop:` rule can watch those: they have no value while it runs).
    pub fn final_metric_names(&self) -> Vec<&'static str> {
        let mut out = self.metric_names();
        if self.samples {
            out.extend(
                crate::metrics::names::ALL
                    .iter()
                    .filter(|m| m.from_samples())
                    .map(|m| m.name),
            );
        }
        out
    }

    /// A key of `section` that names a flag, with the flag's spec.
    pub fn flag(&self, section: &str, k: &Value) -> Result<(String, &'static FlagSpec), SpecError> {
        let name = k.as_str().map(String::from).ok_or_else(|| {
            self.err(
                None,
                format!(
                    "{section}: flag names must be strings, not {}",
                    show_value(k)
                ),
            )
        })?;
        let spec = if self.program {
            crate::flags::program_flag(&name)
        } else {
            lookup(&name)
        };
        let spec = spec.map_err(|e| self.flag_error(section, &name, e))?;
        Ok((name, spec))
    }

    /// `seeds:` (at the top, or in `section`): a list of distinct seeds, or a count N for
    /// seeds 1..N; never with `seed` fixed or in the grid.
    pub fn seeds(
        &self,
        section: &str,
        v: &Value,
        fixed: &[(String, Value)],
        grid: &[(String, Vec<Value>)],
    ) -> Result<Vec<Value>, SpecError> {
        let line = self.line(section, "seeds");
        let what = if section.is_empty() {
            "seeds:".to_string()
        } else {
            format!("{section}: seeds:")
        };
        if fixed.iter().any(|(n, _)| n == "seed") || grid.iter().any(|(n, _)| n == "seed") {
            return Err(self.err(
                line,
                format!("{what} and a `seed` under flags: or grid: both set the seed: keep one"),
            ));
        }
        let expected = format!("{what} expected a list of distinct seeds (e.g. [1, 2, 3]) or a count (3 = seeds 1, 2, 3)");
        let values: Vec<Value> = match v {
            Value::Number(n) => match n.as_u64() {
                Some(k) if k >= 1 => (1..=k as i64).map(Value::from).collect(),
                _ => return Err(self.err(line, format!("{expected}; got {}", show_value(v)))),
            },
            Value::Sequence(items) if !items.is_empty() => items.clone(),
            _ => return Err(self.err(line, format!("{expected}; got {}", show_value(v)))),
        };
        let spec = lookup("seed").expect("seed is a flag");
        let mut out: Vec<Value> = Vec::new();
        for item in values {
            let c = check_value(spec, &item).map_err(|e| self.err(line, format!("{what} {e}")))?;
            if out.contains(&c) {
                return Err(self.err(line, format!("{what} {} is listed twice", show_value(&c))));
            }
            out.push(c);
        }
        Ok(out)
    }
}

/// A bound as a message shows it.
pub fn bound_text(v: &Value) -> String {
    match v.as_f64() {
        Some(f) if v.is_f64() => format!("{f}"),
        _ => plain_value(v),
    }
}
