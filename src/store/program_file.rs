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
}

impl ProgramFile {
    /// The file of the sweep whose run folder is `run_dir`.
    pub fn path_for(run_dir: &Path) -> PathBuf {
        run_dir
            .parent()
            .unwrap_or(Path::new("."))
            .join("program.json")
    }

    pub fn read(run_dir: &Path) -> anyhow::Result<ProgramFile> {
        let path = Self::path_for(run_dir);
        let text = fs_err::read_to_string(&path)?;
        serde_json::from_str(&text).map_err(|e| {
            anyhow::Error::new(crate::error::Damaged::new(
                &path,
                format!("not a program record ({e})"),
            ))
        })
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
