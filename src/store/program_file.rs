//! `<runs-dir>/<label>/program.json`: what every run of a sweep of the user's program needs
//! to start, written by `run` before it starts any (the command itself is in each run's
//! `flags.yaml`, part of its identity): the sweep file's folder, the metrics and their
//! directions, the sources to copy and their hash, the time limit, whether `seed` is an
//! option of the program.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProgramFile {
    /// The sweep file's folder (absolute): `{sweep_dir}`, `DDIM_SWEEP_DIR`, where sources are.
    pub sweep_dir: PathBuf,
    /// (name, `lower` | `higher`), the headline first.
    pub metrics: Vec<(String, String)>,
    /// The files copied into each run's folder before it starts, relative to `sweep_dir`.
    pub sources: Vec<String>,
    /// SHA-256 of the sources (names and contents) when `run` wrote this file.
    pub sources_hash: String,
    /// A run's time limit in seconds.
    #[serde(default)]
    pub timeout: Option<f64>,
    /// Whether `seed` becomes `--seed=N` (the sweep names `seed` as a flag of the program);
    /// otherwise the seed of `seeds:` reaches the program only as `DDIM_SEED`.
    #[serde(default)]
    pub seed_option: bool,
    /// `sample_metrics:`: scored by `ddim-sweep score-samples` once the program exited 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample_metrics: Option<SampleMetricsFile>,
}

/// What a run needs to have its images scored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SampleMetricsFile {
    /// The folder of the run's images, relative to the run folder.
    pub images: String,
    /// The folder of real images (absolute).
    pub reference: PathBuf,
    /// The per-epoch columns of the sample metrics (`val_kid`, ...), in scalars.csv's order.
    pub columns: Vec<String>,
}

impl ProgramFile {
    /// The file of the sweep whose run folder is `run_dir`.
    pub fn path_for(run_dir: &Path) -> PathBuf {
        run_dir
            .parent()
            .unwrap_or(Path::new("."))
            .join("program.json")
    }

    /// The file of the sweep of `run_dir`, checked: it comes from a runs folder that may be
    /// someone else's, and its sources become paths inside the run and its metrics columns.
    pub fn read(run_dir: &Path) -> anyhow::Result<ProgramFile> {
        Self::read_at(&Self::path_for(run_dir))
    }

    /// The file `<sweep_dir>/program.json`, checked as [`Self::read`] does.
    pub fn read_at(path: &Path) -> anyhow::Result<ProgramFile> {
        let text = fs_err::read_to_string(path)?;
        let damaged = |why: String| anyhow::Error::new(crate::error::Damaged::new(path, why));
        let pf: ProgramFile = serde_json::from_str(&text)
            .map_err(|e| damaged(format!("not a program record ({e})")))?;
        if let Some(why) = pf.problem() {
            return Err(damaged(why));
        }
        Ok(pf)
    }

    /// What makes the record unusable, if anything.
    fn problem(&self) -> Option<String> {
        if self.metrics.is_empty() {
            return Some("it names no metric".into());
        }
        for (name, word) in &self.metrics {
            if let Some(why) = crate::names::metric_problem(name) {
                return Some(why);
            }
            if !["lower", "higher"].contains(&word.as_str()) {
                return Some(format!(
                    "metric `{name}`: `{}` is not lower or higher",
                    word.escape_debug()
                ));
            }
        }
        if let Some(why) = self
            .sources
            .iter()
            .find_map(|s| crate::names::relative_file_problem(s))
        {
            return Some(format!("its sources: {why}"));
        }
        if let Some(m) = &self.sample_metrics {
            if let Some(why) = crate::names::relative_file_problem(&m.images) {
                return Some(format!("its sample_metrics images: {why}"));
            }
            if let Some(why) = m
                .columns
                .iter()
                .find_map(|c| crate::names::metric_problem(c))
            {
                return Some(format!("its sample_metrics columns: {why}"));
            }
            if m.columns
                .iter()
                .any(|c| self.metrics.iter().any(|(n, _)| n == c))
            {
                return Some("a sample_metrics column is also a metric of the program".into());
            }
        }
        if self.timeout.is_some_and(|t| !(t.is_finite() && t > 0.0)) {
            return Some("its timeout is not a positive number of seconds".into());
        }
        None
    }

    pub fn write(&self, sweep_dir: &Path) -> Result<(), crate::error::Error> {
        std::fs::create_dir_all(sweep_dir).map_err(crate::error::Error::io("create", sweep_dir))?;
        let text = serde_json::to_string_pretty(self).expect("serialisable");
        crate::files::write_atomic(
            &sweep_dir.join("program.json"),
            format!("{text}\n").as_bytes(),
        )
    }
}

/// Hashes the files `names` under `dir` (names and contents, in order).
pub fn sources_hash(dir: &Path, names: &[String]) -> std::io::Result<String> {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for n in names {
        h.update(n.as_bytes());
        h.update([0]);
        let bytes = std::fs::read(dir.join(n))?;
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(&bytes);
    }
    Ok(h.finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record from someone else's runs folder: a source outside the run, a metric that
    /// cannot be a column, or a bad timeout is damaged, named.
    #[test]
    fn a_record_that_would_write_outside_the_run_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let run = d.path().join("run");
        let good = ProgramFile {
            sweep_dir: d.path().into(),
            metrics: vec![("loss".into(), "lower".into())],
            sources: vec!["train.py".into(), "lib/util.py".into()],
            sources_hash: String::new(),
            timeout: Some(5.0),
            seed_option: false,
            sample_metrics: None,
        };
        good.write(d.path()).unwrap();
        assert_eq!(ProgramFile::read(&run).unwrap(), good);
        let cases = [
            (
                ProgramFile {
                    sources: vec!["../../etc/x".into()],
                    ..good.clone()
                },
                "not a path inside",
            ),
            (
                ProgramFile {
                    sources: vec!["/etc/x".into()],
                    ..good.clone()
                },
                "not a path inside",
            ),
            (
                ProgramFile {
                    metrics: vec![("a,b\n".into(), "lower".into())],
                    ..good.clone()
                },
                "cannot be a metric",
            ),
            (
                ProgramFile {
                    metrics: vec![("a".into(), "up".into())],
                    ..good.clone()
                },
                "not lower or higher",
            ),
            (
                ProgramFile {
                    metrics: vec![],
                    ..good.clone()
                },
                "names no metric",
            ),
            (
                ProgramFile {
                    timeout: Some(-1.0),
                    ..good.clone()
                },
                "timeout",
            ),
        ];
        for (pf, want) in cases {
            pf.write(d.path()).unwrap();
            let e = format!("{:#}", ProgramFile::read(&run).unwrap_err());
            assert!(e.contains(want) && e.contains("program.json"), "{e}");
        }
    }
}
