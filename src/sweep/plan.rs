//! Expansion of a sweep into runs, their content-addressed identity, and their states.
//!
//! A run's id is the first 12 hex digits of SHA-256 over the label and every resolved flag
//! (defaults included), so the same sweep maps to the same run directories
//! (`<runs-dir>/<label>/<id>`) every time; a new grid value adds runs; a changed fixed flag
//! makes new runs and leaves the old ones alone.

use super::spec::SweepSpec;
use crate::flags::{show_value, Flags};
use crate::store::{RunDir, Status};
use serde_yaml::Value;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// One run of a sweep.
#[derive(Debug, Clone)]
pub struct PlannedRun {
    pub id: String,
    pub flags: Flags,
    /// The grid flags' values of this run, in grid order.
    pub varying: Vec<(String, Value)>,
    pub dir: PathBuf,
}

impl PlannedRun {
    /// `loss=mae loss_on=noise` (or `-` without grid flags).
    pub fn varying_text(&self) -> String {
        if self.varying.is_empty() {
            return "-".into();
        }
        self.varying
            .iter()
            .map(|(k, v)| format!("{k}={}", show_value(v).trim_matches('`')))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub label: String,
    pub sweep_dir: PathBuf,
    pub varying_names: Vec<String>,
    pub runs: Vec<PlannedRun>,
}

/// The content-addressed id of a run.
pub fn run_id(label: &str, flags: &Flags) -> String {
    let mut h = Sha256::new();
    h.update(b"ddim-sweep run v1\n");
    h.update(label.as_bytes());
    h.update(b"\n");
    h.update(flags.to_yaml().as_bytes());
    let digest = h.finalize();
    digest.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

/// Every combination of the grid (first key varying slowest), minus the excluded ones.
pub fn combinations(spec: &SweepSpec) -> Vec<Vec<(String, Value)>> {
    let mut combos: Vec<Vec<(String, Value)>> = vec![Vec::new()];
    for (name, values) in &spec.grid {
        let mut next = Vec::with_capacity(combos.len() * values.len());
        for c in &combos {
            for v in values {
                let mut c2 = c.clone();
                c2.push((name.clone(), v.clone()));
                next.push(c2);
            }
        }
        combos = next;
    }
    combos
        .into_iter()
        .filter(|c| {
            !spec.exclude.iter().any(|rule| {
                rule.iter()
                    .all(|(k, v)| c.iter().any(|(ck, cv)| ck == k && cv == v))
            })
        })
        .collect()
}

/// Expands a validated sweep into its runs under `runs_dir/<label>/`.
pub fn expand(spec: &SweepSpec, runs_dir: &Path) -> anyhow::Result<Plan> {
    let sweep_dir = runs_dir.join(&spec.label);
    let file = spec
        .source
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "sweep".into());
    let mut runs: Vec<PlannedRun> = Vec::new();
    for combo in combinations(spec) {
        let mut overrides = spec.fixed.clone();
        overrides.extend(combo.iter().cloned());
        let describe = || {
            combo
                .iter()
                .map(|(k, v)| format!("{k}={}", show_value(v).trim_matches('`')))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let flags = Flags::resolve(&overrides).map_err(|e| {
            anyhow::anyhow!("{file}: the combination [{}] is invalid: {e}", describe())
        })?;
        let id = run_id(&spec.label, &flags);
        if let Some(other) = runs.iter().find(|r| r.id == id) {
            anyhow::bail!(
                "{file}: the combinations [{}] and [{}] resolve to the same flags, so the same run: drop one of the values",
                other.varying_text(),
                describe()
            );
        }
        runs.push(PlannedRun {
            dir: sweep_dir.join(&id),
            id,
            flags,
            varying: combo,
        });
    }
    if runs.is_empty() {
        anyhow::bail!(
            "{file}: the exclusions remove every combination of the grid: nothing to run"
        );
    }
    Ok(Plan {
        label: spec.label.clone(),
        sweep_dir,
        varying_names: spec.grid.iter().map(|(n, _)| n.clone()).collect(),
        runs,
    })
}

/// Where a planned run stands on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    /// Nothing trained yet.
    New,
    Completed,
    /// Interrupted (or left `running` by a process that is gone): continues from its checkpoint.
    Resumable,
    /// Rerun only with `--retry-failed`.
    Failed,
    /// Being trained right now by another process.
    Running,
}

impl RunState {
    pub fn name(self) -> &'static str {
        match self {
            RunState::New => "new",
            RunState::Completed => "completed",
            RunState::Resumable => "resumable",
            RunState::Failed => "failed",
            RunState::Running => "running",
        }
    }
}

/// Reads a run's state. A `running` status whose lock is free belongs to a process that is
/// gone (killed, or the machine rebooted): it is resumable.
pub fn state_of(dir: &Path) -> RunState {
    let rd = RunDir::new(dir);
    let info = match rd.read_info() {
        Ok(Some(i)) => i,
        _ => return RunState::New,
    };
    match info.status {
        Status::Completed => RunState::Completed,
        Status::Failed => RunState::Failed,
        Status::Interrupted => RunState::Resumable,
        Status::Queued => {
            if rd.checkpoint().exists() {
                RunState::Resumable
            } else {
                RunState::New
            }
        }
        Status::Running => {
            if rd.is_locked() {
                RunState::Running
            } else {
                RunState::Resumable
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(text: &str) -> SweepSpec {
        SweepSpec::parse(text, "s.yaml").unwrap()
    }

    #[test]
    fn expansion_count_order_and_exclude() {
        let s = spec(
            "label: x\nflags:\n  dataset_name: shapes\ngrid:\n  loss: [mae, mse]\n  loss_on: [noise, image]\n  schedule_type: [linear, cosine]\nexclude:\n  - {loss: mse, loss_on: image}\n",
        );
        let plan = expand(&s, Path::new("/r")).unwrap();
        assert_eq!(plan.runs.len(), 6);
        let texts: Vec<String> = plan.runs.iter().map(|r| r.varying_text()).collect();
        assert_eq!(
            texts,
            [
                "loss=mae loss_on=noise schedule_type=linear",
                "loss=mae loss_on=noise schedule_type=cosine",
                "loss=mae loss_on=image schedule_type=linear",
                "loss=mae loss_on=image schedule_type=cosine",
                "loss=mse loss_on=noise schedule_type=linear",
                "loss=mse loss_on=noise schedule_type=cosine",
            ]
        );
        assert!(plan.runs[0].dir.starts_with("/r/x"));
        assert_eq!(plan.runs[0].id.len(), 12);
    }

    #[test]
    fn identity_is_content_addressed() {
        let a = expand(
            &spec("label: x\ngrid:\n  loss: [mae, mse]\n"),
            Path::new("/r"),
        )
        .unwrap();
        let b = expand(
            &spec(
                "label: x\ngrid:\n  loss: [mae, mse, l1x]\n"
                    .replace(", l1x", "")
                    .as_str(),
            ),
            Path::new("/r"),
        )
        .unwrap();
        assert_eq!(a.runs[1].id, b.runs[1].id, "same sweep, same ids");
        // adding a grid value adds a run and keeps the others
        let c = expand(
            &spec("label: x\ngrid:\n  loss: [mae, mse]\n  lr: [0.001]\n"),
            Path::new("/r"),
        )
        .unwrap();
        assert_eq!(
            a.runs[0].id, c.runs[0].id,
            "lr=0.001 is the default: the same flags"
        );
        let d = expand(
            &spec("label: x\ngrid:\n  loss: [mae, mse]\n  lr: [0.001, 0.01]\n"),
            Path::new("/r"),
        )
        .unwrap();
        assert_eq!(d.runs.len(), 4);
        assert_eq!(d.runs[0].id, a.runs[0].id);
        assert_eq!(d.runs[2].id, a.runs[1].id);
        // a changed fixed flag changes every id; another label too
        let e = expand(
            &spec("label: x\nflags:\n  epochs: 3\ngrid:\n  loss: [mae, mse]\n"),
            Path::new("/r"),
        )
        .unwrap();
        assert_ne!(e.runs[0].id, a.runs[0].id);
        let f = expand(
            &spec("label: y\ngrid:\n  loss: [mae, mse]\n"),
            Path::new("/r"),
        )
        .unwrap();
        assert_ne!(f.runs[0].id, a.runs[0].id);
    }

    #[test]
    fn invalid_combinations_and_duplicates() {
        let e = expand(
            &spec("label: x\ngrid:\n  image_size: [16, 20]\n"),
            Path::new("/r"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("[image_size=20] is invalid"), "{e}");
        let e = expand(&spec("label: x\nflags:\n  dataset_name: shapes\ngrid:\n  dataset_repetitions: [auto, 1]\n"), Path::new("/r"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("resolve to the same flags"), "{e}");
        let e = expand(
            &spec("label: x\ngrid:\n  loss: [mae]\nexclude:\n  - {loss: mae}\n"),
            Path::new("/r"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("remove every combination"), "{e}");
    }
}
