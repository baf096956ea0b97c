//! Finding runs on disk: every `<runs-dir>/<label>/<id>/run.json` (and loose runs
//! `<runs-dir>/<name>/run.json`), with the flags that vary in their sweep.

use super::sweep_file::SweepRecord;
use super::{RunDir, RunInfo};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct RunEntry {
    pub id: String,
    pub label: String,
    pub dir: PathBuf,
    pub info: RunInfo,
    /// The grid flags' values of this run in its sweep (text), in the sweep's grid order.
    pub varying: Vec<(String, String)>,
    /// Why its `run.json` cannot be read (then `info` is empty): shown, never skipped.
    pub damaged: Option<String>,
}

/// All runs under `runs_dir`, sorted by label, then by their order in the sweep; a run whose
/// `run.json` is damaged is listed with the reason (see [`RunEntry::damaged`]).
pub fn list_runs(runs_dir: &Path) -> Vec<RunEntry> {
    let mut out = Vec::new();
    let mut records: BTreeMap<PathBuf, Option<SweepRecord>> = BTreeMap::new();
    for entry in walkdir::WalkDir::new(runs_dir)
        .min_depth(2)
        .max_depth(3)
        .sort_by_file_name()
        .into_iter()
        .filter_map(|e| e.ok())
    {
        if entry.file_name() != "run.json" {
            continue;
        }
        let dir = entry.path().parent().unwrap().to_path_buf();
        let run = RunDir::new(&dir);
        let (info, damaged) = match run.read_info() {
            Ok(Some(info)) => {
                // flags.yaml checked against the flags run.json recorded.
                let damaged = run
                    .flags()
                    .exists()
                    .then(|| run.flags_damage(&info))
                    .flatten()
                    .map(|e| e.to_string());
                (info, damaged)
            }
            Ok(None) => continue,
            Err(e) => (RunInfo::default(), Some(format!("{e:#}"))),
        };
        let id = dir
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let parent = dir.parent().unwrap().to_path_buf();
        let record = records
            .entry(parent.clone())
            .or_insert_with(|| SweepRecord::read(&parent))
            .clone();
        let (label, varying, order) = match &record {
            Some(rec) => {
                let pos = rec.runs.iter().position(|e| e.id == id);
                let varying = pos
                    .map(|p| {
                        rec.varying
                            .iter()
                            .filter_map(|k| {
                                rec.runs[p].varying.get(k).map(|v| (k.clone(), v.clone()))
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                (rec.label.clone(), varying, pos.unwrap_or(usize::MAX))
            }
            None => (
                info.label.clone().unwrap_or_default(),
                Vec::new(),
                usize::MAX,
            ),
        };
        out.push((
            order,
            RunEntry {
                id,
                label,
                dir,
                info,
                varying,
                damaged,
            },
        ));
    }
    out.sort_by(|a, b| {
        (a.1.label.as_str(), a.0, a.1.id.as_str()).cmp(&(b.1.label.as_str(), b.0, b.1.id.as_str()))
    });
    out.into_iter().map(|(_, e)| e).collect()
}
