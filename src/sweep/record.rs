//! `<runs-dir>/<label>/sweep.json`: the sweep's plan and the history of its invocations; and
//! `<runs-dir>/<label>/.sweep.lock`: one orchestrator per sweep.

use super::plan::Plan;
use crate::flags::plain_value;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct PlannedEntry {
    pub id: String,
    /// The grid flags' values (as text), in grid order.
    pub varying: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Invocation {
    pub started: String,
    pub ended: Option<String>,
    pub host: String,
    pub pid: u32,
    pub args: Vec<String>,
    pub planned: usize,
    pub completed: usize,
    pub failed: usize,
    pub interrupted: usize,
    pub skipped: usize,
    pub outcome: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SweepRecord {
    pub label: String,
    pub source: Option<String>,
    /// Names of the grid flags, in grid order.
    pub varying: Vec<String>,
    /// The sweep's fixed flags (its `flags:`) and their values, as text.
    pub fixed: BTreeMap<String, String>,
    pub runs: Vec<PlannedEntry>,
    pub invocations: Vec<Invocation>,
}

pub fn record_path(sweep_dir: &Path) -> PathBuf {
    sweep_dir.join("sweep.json")
}

impl SweepRecord {
    pub fn read(sweep_dir: &Path) -> Option<SweepRecord> {
        let text = fs::read_to_string(record_path(sweep_dir)).ok()?;
        serde_json::from_str(&text).ok()
    }

    pub fn write(&self, sweep_dir: &Path) -> std::io::Result<()> {
        let text = serde_json::to_string_pretty(self).expect("serialisable");
        crate::store::write_atomic(&record_path(sweep_dir), format!("{text}\n").as_bytes())
    }

    /// Merges the plan into the record: runs are added (never removed, so an earlier grid's
    /// runs stay listed), grid names follow the plan.
    pub fn merge_plan(&mut self, plan: &Plan, source: Option<String>) {
        self.label = plan.label.clone();
        self.source = source.or(self.source.take());
        for n in &plan.varying_names {
            if !self.varying.contains(n) {
                self.varying.push(n.clone());
            }
        }
        for r in &plan.runs {
            if self.runs.iter().any(|e| e.id == r.id) {
                continue;
            }
            self.runs.push(PlannedEntry {
                id: r.id.clone(),
                varying: r
                    .varying
                    .iter()
                    .map(|(k, v)| (k.clone(), plain_value(v)))
                    .collect(),
            });
        }
    }

    /// Records the sweep's fixed flags (its `flags:`).
    pub fn set_fixed(&mut self, fixed: &[(String, serde_yaml::Value)]) {
        self.fixed = fixed
            .iter()
            .map(|(k, v)| (k.clone(), plain_value(v)))
            .collect();
    }
}

/// Back from [`plain_value`] (how the record keeps values): YAML when it parses, else the text.
fn parse_value_text(text: &str) -> serde_yaml::Value {
    serde_yaml::from_str(text).unwrap_or_else(|_| serde_yaml::Value::from(text))
}

/// The HParams columns of the sweeps that share a runs directory, `current` first: each grid
/// flag with every value its sweeps have had (the current sweep's grid flags first, then the
/// others'), then the fixed flags with their values. TensorBoard shows one experiment for a
/// logdir, so every sweep there carries this union (see `ddim-sweep run`).
pub fn experiment_columns(
    current: &SweepRecord,
    others: &[SweepRecord],
) -> Vec<(String, Vec<serde_yaml::Value>)> {
    let mut columns: Vec<(String, Vec<serde_yaml::Value>)> = Vec::new();
    let mut add = |name: &str, v: serde_yaml::Value| {
        let i = match columns.iter().position(|(n, _)| n == name) {
            Some(i) => i,
            None => {
                columns.push((name.to_string(), Vec::new()));
                columns.len() - 1
            }
        };
        if !columns[i].1.contains(&v) {
            columns[i].1.push(v);
        }
    };
    let all: Vec<&SweepRecord> = std::iter::once(current).chain(others).collect();
    for r in &all {
        for name in &r.varying {
            for e in &r.runs {
                if let Some(text) = e.varying.get(name) {
                    add(name, parse_value_text(text));
                }
            }
        }
    }
    for r in &all {
        for (name, text) in &r.fixed {
            add(name, parse_value_text(text));
        }
    }
    columns
}

/// Writes the HParams experiment of every sweep in the runs directory: the union of their
/// columns (TensorBoard shows one experiment for a logdir, so `--logdir` on the runs directory
/// then has every sweep's columns, and `--logdir` on one sweep still has all of its own).
/// A lock in the runs directory keeps two orchestrators from writing them at once.
pub fn write_experiments(runs_dir: &std::path::Path, current: &SweepRecord) -> anyhow::Result<()> {
    std::fs::create_dir_all(runs_dir)?;
    let lock = std::fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(runs_dir.join(".experiments.lock"))?;
    lock.lock()?;
    let mut others = Vec::new();
    for e in std::fs::read_dir(runs_dir)?.flatten() {
        let dir = e.path();
        if !dir.is_dir() || e.file_name().to_string_lossy() == current.label {
            continue;
        }
        if let Some(r) = SweepRecord::read(&dir) {
            others.push(r);
        }
    }
    others.sort_by(|a, b| a.label.cmp(&b.label));
    let columns = experiment_columns(current, &others);
    let labels: Vec<&str> = std::iter::once(current.label.as_str())
        .chain(others.iter().map(|r| r.label.as_str()))
        .collect();
    let description = if labels.len() == 1 {
        format!("ddim-sweep sweep `{}`", labels[0])
    } else {
        format!(
            "ddim-sweep sweeps {} (one experiment for all sweeps in {})",
            labels
                .iter()
                .map(|l| format!("`{l}`"))
                .collect::<Vec<_>>()
                .join(", "),
            runs_dir.display()
        )
    };
    for label in labels {
        crate::track::write_experiment(&runs_dir.join(label), &description, &columns)?;
    }
    Ok(())
}

/// The orchestrator lock of a sweep; its file names the holder.
pub struct SweepLock {
    _file: File,
}

impl SweepLock {
    pub fn acquire(sweep_dir: &Path) -> anyhow::Result<SweepLock> {
        fs::create_dir_all(sweep_dir)?;
        let path = sweep_dir.join(".sweep.lock");
        let mut f = File::options()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)?;
        match f.try_lock() {
            Ok(()) => {
                f.set_len(0)?;
                f.rewind()?;
                writeln!(
                    f,
                    "pid {} on {} since {}",
                    std::process::id(),
                    crate::train::hostname(),
                    crate::train::now_rfc3339()
                )?;
                f.sync_data()?;
                Ok(SweepLock { _file: f })
            }
            Err(fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = f.read_to_string(&mut holder);
                let holder = holder.trim();
                anyhow::bail!(
                    "another `ddim-sweep run` is already running sweep `{}` in {} ({}): wait for it, or stop it with Ctrl-C / kill",
                    sweep_dir.file_name().unwrap_or_default().to_string_lossy(),
                    sweep_dir.parent().unwrap_or(sweep_dir).display(),
                    if holder.is_empty() { "holder unknown" } else { holder }
                )
            }
            Err(fs::TryLockError::Error(e)) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(label: &str, grid: &[(&str, &[&str])], fixed: &[(&str, &str)]) -> SweepRecord {
        let mut runs = vec![PlannedEntry {
            id: format!("{label}0"),
            varying: BTreeMap::new(),
        }];
        for (name, values) in grid {
            runs = runs
                .into_iter()
                .flat_map(|r| {
                    values.iter().map(move |v| {
                        let mut r = r.clone();
                        r.varying.insert(name.to_string(), v.to_string());
                        r
                    })
                })
                .collect();
        }
        SweepRecord {
            label: label.into(),
            varying: grid.iter().map(|(n, _)| n.to_string()).collect(),
            fixed: fixed
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            runs,
            ..Default::default()
        }
    }

    #[test]
    fn experiment_columns_are_the_union_current_grid_first() {
        let a = record(
            "a",
            &[("loss", &["mae", "mse"])],
            &[("epochs", "5"), ("image_size", "32")],
        );
        let b = record(
            "b",
            &[("schedule_type", &["linear", "cosine"]), ("loss", &["mae"])],
            &[("epochs", "7")],
        );
        let cols = experiment_columns(&a, &[b]);
        let names: Vec<&str> = cols.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["loss", "schedule_type", "epochs", "image_size"]);
        let v = |i: usize| cols[i].1.clone();
        use serde_yaml::Value;
        assert_eq!(v(0), [Value::from("mae"), Value::from("mse")]);
        assert_eq!(v(1), [Value::from("linear"), Value::from("cosine")]);
        assert_eq!(v(2), [Value::from(5), Value::from(7)]);
        // Alone, a sweep's columns are its own.
        let alone = experiment_columns(&a, &[]);
        assert_eq!(alone.len(), 3);
    }
}
