//! Filling a sweep's record (`sweep.json`, whose file the store owns) from its plan, and the
//! TensorBoard HParams experiment that the sweeps of one runs directory share.

use super::plan::Plan;
use crate::flags::plain_value;
pub use crate::store::sweep_file::{
    record_path, Decision, Invocation, PlannedEntry, SpaceEntry, StopEntry, SweepLock, SweepRecord,
};
use crate::track::HParamColumn;

impl From<&crate::sweep::stop::EarlyStop> for StopEntry {
    fn from(s: &crate::sweep::stop::EarlyStop) -> StopEntry {
        StopEntry {
            rule: s.rule_name(),
            metric: s.metric.clone(),
            after_epochs: s.after_epochs,
            min_runs: s.min_runs,
        }
    }
}

impl SweepRecord {
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
        let mut known: std::collections::HashSet<String> =
            self.runs.iter().map(|e| e.id.clone()).collect();
        for r in &plan.runs {
            if !known.insert(r.id.clone()) {
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

    /// Records the random search's space and the stop rule of the plan.
    pub fn set_search(&mut self, plan: &Plan) {
        let random = plan.random.as_ref().map(|r| &r.space);
        let searched = plan.search.as_ref().map(|s| &s.space);
        if let Some(space) = random.or(searched) {
            for (name, d) in space {
                let (min, max) = d
                    .interval()
                    .map_or((None, None), |(a, b)| (Some(a), Some(b)));
                self.space.insert(
                    name.clone(),
                    SpaceEntry {
                        dist: d.text(),
                        min,
                        max,
                        log: d.is_log(),
                    },
                );
            }
        }
        self.stop = plan.stop.as_ref().map(StopEntry::from);
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

/// [`experiment_columns`] as TensorBoard shows them: a flag that varies in any of the sweeps
/// (grid, random space, or different values across sweeps) is marked `differs`, so the
/// HParams table shows it by default; a flag drawn from a float distribution has an interval
/// domain covering every value the sweeps have.
pub fn hparam_columns(current: &SweepRecord, others: &[SweepRecord]) -> Vec<HParamColumn> {
    let all: Vec<&SweepRecord> = std::iter::once(current).chain(others).collect();
    experiment_columns(current, others)
        .into_iter()
        .map(|(name, values)| {
            let varies = values.len() > 1
                || all
                    .iter()
                    .any(|r| r.varying.contains(&name) || r.space.contains_key(&name));
            let mut interval: Option<(f64, f64)> = None;
            for r in &all {
                if let Some(SpaceEntry {
                    min: Some(a),
                    max: Some(b),
                    ..
                }) = r.space.get(&name)
                {
                    interval = Some(interval.map_or((*a, *b), |(x, y)| (x.min(*a), y.max(*b))));
                }
            }
            if let Some((lo, hi)) = &mut interval {
                for v in values.iter().filter_map(|v| v.as_f64()) {
                    *lo = lo.min(v);
                    *hi = hi.max(v);
                }
            }
            HParamColumn {
                name,
                values,
                interval,
                differs: varies,
            }
        })
        .collect()
}

/// Writes the HParams experiment of every sweep in the runs directory: the union of their
/// columns (TensorBoard shows one experiment for a logdir, so `--logdir` on the runs directory
/// then has every sweep's columns, and `--logdir` on one sweep still has all of its own).
/// A lock in the runs directory keeps two orchestrators from writing them at once.
pub fn write_experiments(runs_dir: &std::path::Path, current: &SweepRecord) -> anyhow::Result<()> {
    fs_err::create_dir_all(runs_dir)?;
    let lock = fs_err::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(runs_dir.join(".experiments.lock"))?;
    lock.lock()?;
    // Only real folders of this runs directory are written into (a link to a folder
    // elsewhere is left alone), and only records whose label is their folder's name count
    // (see `SweepRecord::load`): a record can never name where the experiment is written.
    let mut others = Vec::new();
    for e in fs_err::read_dir(runs_dir)?.flatten() {
        let dir = e.path();
        let real_dir = e.file_type().is_ok_and(|t| t.is_dir());
        if !real_dir || e.file_name().to_string_lossy() == current.label {
            continue;
        }
        match SweepRecord::load(&dir) {
            Ok(Some(r)) => others.push(r),
            Ok(None) => {}
            Err(e) => {
                eprintln!("warning: {e}; its sweep is left out of the TensorBoard experiment")
            }
        }
    }
    others.sort_by(|a, b| a.label.cmp(&b.label));
    let columns = hparam_columns(current, &others);
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

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
