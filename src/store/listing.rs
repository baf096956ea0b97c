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
    /// Its flags (flags.yaml), read and checked once by the listing; None for a damaged run,
    /// or a loose run of an earlier version whose flags.yaml does not parse.
    pub flags: Option<crate::run_flags::RunFlags>,
    /// The grid flags' values of this run in its sweep (text), in the sweep's grid order.
    pub varying: Vec<(String, String)>,
    /// Why its `run.json` cannot be read (then `info` is empty): shown, never skipped.
    pub damaged: Option<String>,
}

/// All runs under `runs_dir`, sorted by label, then by their order in the sweep; a run whose
/// `run.json` is damaged is listed with the reason (see [`RunEntry::damaged`]). Symbolic
/// links to run folders are followed, and the run found there is checked against the
/// folder's name like any other (a link to another run is damaged, not a second copy).
///
/// A run's label is its sweep's folder: `run.json`'s label must name the folder the run sits
/// in, and a `sweep.json` whose label is not its folder's name is not believed (see
/// [`SweepRecord::load`]); neither ever names a path.
pub fn list_runs(runs_dir: &Path) -> Vec<RunEntry> {
    // Where the runs are (one walk), then each run's files read and checked (in parallel:
    // parsing flags.yaml and computing its id is most of a listing's time), then each put
    // in its sweep's order.
    let found: Vec<(PathBuf, usize)> = walkdir::WalkDir::new(runs_dir)
        .min_depth(2)
        .max_depth(3)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name() == "run.json")
        .map(|e| (e.path().to_path_buf(), e.depth()))
        .collect();
    let read: Vec<Option<Read>> = {
        use rayon::prelude::*;
        found
            .par_iter()
            .map(|(path, depth)| read_run(runs_dir, path, *depth))
            .collect()
    };
    let mut out = Vec::new();
    // Each sweep's record read once, with its runs by id (linear in the number of runs).
    let mut records: BTreeMap<PathBuf, Option<Indexed>> = BTreeMap::new();
    for r in read.into_iter().flatten() {
        let parent = r.dir.parent().unwrap().to_path_buf();
        let id = r
            .dir
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let record = match &r.folder {
            Some(_) => records
                .entry(parent.clone())
                .or_insert_with(|| SweepRecord::read(&parent).map(Indexed::new))
                .as_ref(),
            None => None,
        };
        let label = match &r.folder {
            Some(f) if record.is_some() || r.info.label.is_some() || r.damaged.is_some() => {
                f.clone()
            }
            _ => String::new(),
        };
        let (varying, order) = match record.and_then(|rec| rec.place(&id)) {
            Some((pos, varying)) => (varying, pos),
            None => (Vec::new(), usize::MAX),
        };
        out.push((
            order,
            RunEntry {
                id,
                label,
                dir: r.dir,
                info: r.info,
                flags: r.flags,
                varying,
                damaged: r.damaged,
            },
        ));
    }
    out.sort_by(|a, b| {
        (a.1.label.as_str(), a.0, a.1.id.as_str()).cmp(&(b.1.label.as_str(), b.0, b.1.id.as_str()))
    });
    out.into_iter().map(|(_, e)| e).collect()
}

/// One run's files as read and checked by [`list_runs`].
struct Read {
    dir: PathBuf,
    /// Its sweep's folder name (None for a loose run).
    folder: Option<String>,
    info: RunInfo,
    flags: Option<crate::run_flags::RunFlags>,
    damaged: Option<String>,
}

/// Reads the run whose run.json is `path` (`depth` below `runs_dir`): its run.json, its
/// label against its folder, its flags.yaml against the flags run.json recorded and against
/// its id. None for a run.json that is not there any more.
fn read_run(runs_dir: &Path, path: &Path, depth: usize) -> Option<Read> {
    let dir = path.parent().unwrap().to_path_buf();
    let parent = dir.parent().unwrap();
    // `<runs>/<label>/<id>/run.json`, or a loose run `<runs>/<name>/run.json`.
    let folder = (depth == 3)
        .then(|| parent.file_name())
        .flatten()
        .map(|n| n.to_string_lossy().into_owned());
    let run = RunDir::new(&dir);
    let mut flags = None;
    let (info, damaged) = match run.read_info() {
        Ok(Some(mut info)) => {
            let damaged = match (&info.label, &folder) {
                (Some(_), Some(f)) if !crate::names::is_label(f) => Some(format!(
                    "{}: its sweep's folder `{}` is not a sweep label ({})",
                    run.run_json().display(),
                    f.escape_debug(),
                    crate::names::label_problem(f).unwrap_or_default()
                )),
                (Some(l), None) => Some(format!(
                    "{}: it belongs to sweep `{l}`, but sits directly in {}: a sweep's run sits in <runs-dir>/<label>/<id>",
                    run.run_json().display(),
                    runs_dir.display()
                )),
                _ => match run.checked_flags(&info) {
                    Ok(f) => {
                        flags = f;
                        None
                    }
                    Err(e) => Some(e.to_string()),
                },
            };
            // Checked: the record of the flags is not kept (flags.yaml has them; a listing
            // of 10^5 runs would hold 10^5 copies).
            info.flags = None;
            (info, damaged)
        }
        Ok(None) => return None,
        Err(e) => (RunInfo::default(), Some(format!("{e:#}"))),
    };
    Some(Read {
        dir,
        folder,
        info,
        flags,
        damaged,
    })
}

/// A sweep's record with its runs by id.
struct Indexed {
    record: SweepRecord,
    position: std::collections::HashMap<String, usize>,
}

impl Indexed {
    fn new(record: SweepRecord) -> Indexed {
        let mut position = std::collections::HashMap::with_capacity(record.runs.len());
        for (p, e) in record.runs.iter().enumerate() {
            position.entry(e.id.clone()).or_insert(p);
        }
        Indexed { record, position }
    }

    /// A run's place in the sweep's plan and its grid flags' values, in grid order.
    fn place(&self, id: &str) -> Option<(usize, Vec<(String, String)>)> {
        let p = *self.position.get(id)?;
        let entry = &self.record.runs[p];
        let varying = self
            .record
            .varying
            .iter()
            .filter_map(|k| entry.varying.get(k).map(|v| (k.clone(), v.clone())))
            .collect();
        Some((p, varying))
    }
}

/// The sweep records under `runs_dir` that cannot be believed (damaged, or whose label is
/// not their folder's name), as (file, why): left out of every listing, and named.
pub fn unbelieved_records(runs_dir: &Path) -> Vec<String> {
    let Ok(entries) = fs_err::read_dir(runs_dir) else {
        return Vec::new();
    };
    let mut out: Vec<String> = entries
        .flatten()
        .filter(|e| e.path().is_dir())
        .filter_map(|e| SweepRecord::load(&e.path()).err())
        .map(|e| e.to_string())
        .collect();
    out.sort();
    out
}
