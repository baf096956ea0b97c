//! Run directories: every file of a run, its `run.json` status and the transitions between
//! states, its progress file, atomic writes and the per-run lock; and a sweep's own files
//! (`sweep.json`, `.sweep.lock`).

pub mod identity;
pub mod listing;
pub mod program_file;
pub mod progress;
pub mod run_info;
pub mod state;
pub mod sweep_file;

pub use crate::error::Damaged;
pub use progress::RunProgress;
pub use run_info::{RunInfo, Status};
pub use state::{Ended, RunState};

use crate::files::write_atomic;
use crate::flags::Flags;
use crate::run_flags::RunFlags;

use fs_err::{self as fs, File};
use std::path::{Path, PathBuf};

/// The files of one run directory.
#[derive(Debug, Clone)]
pub struct RunDir {
    pub root: PathBuf,
}

impl RunDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        RunDir { root: root.into() }
    }
    pub fn flags(&self) -> PathBuf {
        self.root.join("flags.yaml")
    }
    pub fn run_json(&self) -> PathBuf {
        self.root.join("run.json")
    }
    pub fn scalars(&self) -> PathBuf {
        self.root.join("scalars.csv")
    }
    pub fn steps(&self) -> PathBuf {
        self.root.join("steps.csv")
    }
    /// The latest checkpoint.
    pub fn checkpoint(&self) -> PathBuf {
        self.root.join("checkpoint.safetensors")
    }
    /// The checkpoint before the latest, kept until the next one is written and verified.
    pub fn previous_checkpoint(&self) -> PathBuf {
        self.root.join("checkpoint.prev.safetensors")
    }
    /// A latest checkpoint found damaged, moved aside when the run fell back to the previous.
    pub fn damaged_checkpoint(&self) -> PathBuf {
        self.root.join("checkpoint.damaged.safetensors")
    }
    /// Whether the run has a checkpoint to continue from (the latest or the previous).
    pub fn has_checkpoint(&self) -> bool {
        self.checkpoint().exists() || self.previous_checkpoint().exists()
    }
    pub fn weights(&self) -> PathBuf {
        self.root.join("model.safetensors")
    }
    pub fn samples(&self) -> PathBuf {
        self.root.join("samples")
    }
    pub fn sample_grid(&self, epoch: i64) -> PathBuf {
        self.samples().join(format!("epoch_{epoch:03}.png"))
    }
    /// The first validation image, for explanatory figures.
    pub fn example(&self) -> PathBuf {
        self.root.join("example.png")
    }
    /// The first 36 validation images (6 x 6) at the run's size: what its samples should
    /// look like.
    pub fn valid_grid(&self) -> PathBuf {
        self.root.join("valid.png")
    }
    pub fn lock_file(&self) -> PathBuf {
        self.root.join(".lock")
    }
    /// The TensorBoard directory of the run named `name` (empty: `train`).
    pub fn tb_dir(&self, name: &str) -> PathBuf {
        self.root.join(if name.is_empty() { "train" } else { name })
    }

    /// The run's lock: taken at once (an error when another process holds it), or when
    /// `wait`, waited for until `stopped()` (exit 75: the run is left to the other process).
    pub fn lock_for(&self, wait: bool, stopped: impl Fn() -> bool) -> anyhow::Result<File> {
        if !wait {
            return self.lock();
        }
        match self.lock_waiting(stopped)? {
            Some(lock) => Ok(lock),
            None => Err(crate::error::Error::Busy(format!(
                "run {}: stopped while waiting for another process to finish it; left to it",
                self.root.display()
            ))
            .into()),
        }
    }

    /// The run's output (stdout and stderr) when an executor ran it.
    pub fn log(&self) -> PathBuf {
        self.root.join("train.log")
    }
    /// Early stopping's request to this run (see [`sweep_file::Decision`]): read by the run
    /// when it is signalled, so that it ends `stopped` rather than `interrupted`.
    pub fn stop_request(&self) -> PathBuf {
        self.root.join("stop.json")
    }

    pub fn write_stop_request(&self, d: &sweep_file::Decision) -> Result<(), crate::error::Error> {
        let text = serde_json::to_string_pretty(d).expect("serialisable");
        write_atomic(&self.stop_request(), format!("{text}\n").as_bytes())
    }

    /// The stop request, when there is one; a damaged one is named (the run then ends
    /// interrupted, not stopped, and the orchestrator's record still says why).
    pub fn read_stop_request(&self) -> Option<sweep_file::Decision> {
        let path = self.stop_request();
        let text = fs::read_to_string(&path).ok()?;
        match serde_json::from_str(&text) {
            Ok(d) => Some(d),
            Err(e) => {
                eprintln!(
                    "warning: {}",
                    Damaged::new(&path, format!("not a stop request ({e})"))
                );
                None
            }
        }
    }

    /// Live progress of a running attempt (see [`RunProgress`]).
    pub fn progress(&self) -> PathBuf {
        self.root.join("progress.json")
    }

    /// The weights to sample from: `model.safetensors` once completed, else the last
    /// checkpoint's (the previous one while the latest is being replaced).
    pub fn sampling_weights(&self) -> Option<SamplingWeights> {
        if self.weights().exists() {
            Some(SamplingWeights::Final(self.weights()))
        } else if self.checkpoint().exists() {
            Some(SamplingWeights::Checkpoint(self.checkpoint()))
        } else if self.previous_checkpoint().exists() {
            Some(SamplingWeights::Checkpoint(self.previous_checkpoint()))
        } else {
            None
        }
    }

    /// The run's stored flags. A file that does not parse, or whose flags are not those
    /// recorded in run.json when the run was created (edited by hand: the run trained with
    /// the recorded ones), is a [`Damaged`] file, named with the flags that differ.
    pub fn read_flags(&self) -> Result<RunFlags, Damaged> {
        let flags = self.parse_flags()?;
        match self.read_info() {
            Ok(Some(info)) => self.check_flags(&flags, &info).map(|()| flags),
            _ => Ok(flags),
        }
    }

    /// With `info` already read: why the run's contents make it damaged (flags.yaml does not
    /// parse, differs from the flags `info` recorded, or is not the run its folder names);
    /// None when they do not, or when `info` records nothing to check them by (a loose run
    /// of an earlier version).
    pub fn flags_damage(&self, info: &RunInfo) -> Option<Damaged> {
        self.checked_flags(info).err()
    }

    /// With `info` already read: the run's flags once checked as [`RunDir::flags_damage`]
    /// checks them (None where flags.yaml does not parse and `info` records nothing to check
    /// it by), or why they make the run damaged. One read of flags.yaml for both.
    pub fn checked_flags(&self, info: &RunInfo) -> Result<Option<RunFlags>, Damaged> {
        if info.flags.is_none() && info.label.is_none() {
            return Ok(self.parse_flags().ok());
        }
        let flags = self.parse_flags()?;
        self.check_flags(&flags, info)?;
        Ok(Some(flags))
    }

    fn parse_flags(&self) -> Result<RunFlags, Damaged> {
        let path = self.flags();
        let text = fs::read_to_string(&path).map_err(|e| Damaged::new(&path, e))?;
        RunFlags::from_yaml(&text).map_err(|e| Damaged::new(&path, e))
    }

    /// The built-in trainer's flags of this run, or why it has none (a program's run).
    pub fn read_builtin_flags(&self) -> anyhow::Result<Flags> {
        match self.read_flags()? {
            RunFlags::Builtin(f) => Ok(f),
            RunFlags::Command(_) => anyhow::bail!(
                "{} is a run of a program of yours (command:), not of the built-in trainer",
                self.root.display()
            ),
        }
    }

    /// `flags` against those `info` recorded when the run was created, and against the
    /// run's identity (see [`RunDir::check_identity`]).
    fn check_flags(&self, flags: &RunFlags, info: &RunInfo) -> Result<(), Damaged> {
        // An edit names the flags that differ; then the folder must be the run's id.
        let Some(recorded) = &info.flags else {
            return self.check_identity(flags, info);
        };
        let path = self.flags();
        let now = flags.record();
        let differ: Vec<String> = now
            .iter()
            .filter(|(k, v)| recorded.get(*k).is_some_and(|r| r != *v))
            .map(|(k, v)| format!("{k}: {v} there, {} recorded", recorded[k]))
            .collect();
        if differ.is_empty() {
            return self.check_identity(flags, info);
        }
        Err(Damaged::changed(
            &path,
            format!(
                "edited after the run was created ({}; the run's id and its results belong to the recorded flags in run.json): put the recorded values back, or move the run away and start a new one",
                differ.join(", ")
            ),
        ))
    }

    /// A sweep's run sits in `<runs-dir>/<label>/<id>`, `id` the hash of its label and flags
    /// ([`identity::run_id`]): a folder whose name is not the id of what it holds (a copy, or
    /// a symbolic link to another run), or that sits in another sweep's folder, is damaged.
    /// The folder is taken as named (a link is not followed to its target's name).
    fn check_identity(&self, flags: &RunFlags, info: &RunInfo) -> Result<(), Damaged> {
        let Some(label) = &info.label else {
            return Ok(());
        };
        let Ok(path) = std::path::absolute(&self.root) else {
            return Ok(());
        };
        let name = |p: Option<&Path>| {
            p.and_then(|p| p.file_name())
                .map(|n| n.to_string_lossy().into_owned())
        };
        let (Some(folder), Some(sweep)) = (name(Some(&path)), name(path.parent())) else {
            return Ok(());
        };
        let id = identity::id_of(label, flags);
        if folder != id {
            return Err(Damaged::changed(
                &self.root,
                format!(
                    "this folder is named `{}`, but the run it holds (sweep `{label}`, the flags in flags.yaml) has the id `{id}`: a copied, renamed or linked folder? Put it back as {label}/{id}, or move it out of the sweep's folder",
                    folder.escape_debug()
                ),
            ));
        }
        if sweep != *label {
            return Err(Damaged::changed(
                &self.run_json(),
                format!(
                    "it belongs to sweep `{label}`, but sits in the folder `{}`: a run's label must match its sweep's folder (a renamed sweep folder? rename it back to `{label}`)",
                    sweep.escape_debug()
                ),
            ));
        }
        Ok(())
    }

    /// The run's `run.json`, None when it has none; a file that is empty, not JSON, or not a
    /// run's (no `status`) is a [`Damaged`] file.
    pub fn read_info(&self) -> anyhow::Result<Option<RunInfo>> {
        let p = self.run_json();
        if !p.exists() {
            return Ok(None);
        }
        Ok(Some(self.parse_info(&p)?))
    }

    fn parse_info(&self, p: &Path) -> Result<RunInfo, Damaged> {
        let text =
            fs::read_to_string(p).map_err(|e| Damaged::new(p, format!("cannot be read ({e})")))?;
        if text.trim().is_empty() {
            return Err(Damaged::new(p, "the file is empty"));
        }
        let v: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| Damaged::new(p, format!("not valid JSON ({e})")))?;
        if !v.get("status").is_some_and(|s| s.is_string()) {
            return Err(Damaged::new(p, "it has no `status`: not a run's run.json"));
        }
        let info: RunInfo = serde_json::from_value(v).map_err(|e| Damaged::new(p, e))?;
        // Both become paths: the sweep's folder, the TensorBoard folder.
        if let Some(why) = info.label.as_deref().and_then(crate::names::label_problem) {
            return Err(Damaged::new(p, format!("its `label`: {why}")));
        }
        if let Some(why) = info
            .name
            .as_deref()
            .and_then(crate::names::component_problem)
        {
            return Err(Damaged::new(
                p,
                format!("its `name` (the TensorBoard folder): {why}"),
            ));
        }
        Ok(info)
    }

    pub fn write_info(&self, info: &RunInfo) -> Result<(), crate::error::Error> {
        let text = serde_json::to_string_pretty(info).expect("serialisable");
        write_atomic(&self.run_json(), format!("{text}\n").as_bytes())
    }

    /// Whether some process holds the run's lock now (a run being trained).
    pub fn is_locked(&self) -> bool {
        let Ok(f) = File::options().write(true).open(self.lock_file()) else {
            return false;
        };
        matches!(f.try_lock(), Err(std::fs::TryLockError::WouldBlock))
    }

    /// ` (pid P on HOST)`: the process that run.json says trains the run (for messages about
    /// its lock), or nothing when run.json does not say.
    pub fn holder_text(&self) -> String {
        self.read_info()
            .ok()
            .flatten()
            .filter(|i| i.pid != 0)
            .map(|i| format!(" (pid {} on {})", i.pid, i.host))
            .unwrap_or_default()
    }

    /// Takes the run's lock like [`RunDir::lock`]; when another process holds it, says so
    /// once (with that process's pid and host) and waits until it is free, or returns None as
    /// soon as `give_up` says so (a stop signal).
    pub fn lock_waiting(&self, give_up: impl Fn() -> bool) -> anyhow::Result<Option<File>> {
        let mut said = false;
        loop {
            match self.try_lock()? {
                Some(f) => return Ok(Some(f)),
                None => {
                    if !said {
                        eprintln!(
                            "run {}: waiting: it is being trained by another process{}",
                            self.root.display(),
                            self.holder_text()
                        );
                        said = true;
                    }
                    if give_up() {
                        return Ok(None);
                    }
                    std::thread::sleep(std::time::Duration::from_millis(200));
                }
            }
        }
    }

    /// Takes the run's exclusive lock (held until the returned file is dropped), or says
    /// that another process holds it.
    pub fn lock(&self) -> anyhow::Result<File> {
        self.try_lock()?.ok_or_else(|| {
            crate::error::Error::Busy(format!(
                "run {} is being trained by another process{}; wait for it or stop it first",
                self.root.display(),
                self.holder_text()
            ))
            .into()
        })
    }

    /// The run's lock, or None when another process holds it.
    fn try_lock(&self) -> anyhow::Result<Option<File>> {
        fs::create_dir_all(&self.root)?;
        let f = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.lock_file())?;
        match f.try_lock() {
            Ok(()) => Ok(Some(f)),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(e.into()),
        }
    }
}

/// Where a run's sampling weights are.
#[derive(Debug, Clone, PartialEq)]
pub enum SamplingWeights {
    /// `model.safetensors`: the network that samples (the EMA one when the run has EMA).
    Final(PathBuf),
    /// `checkpoint.safetensors` of an unfinished run (`model/...` and `ema/...` tensors).
    Checkpoint(PathBuf),
}

impl SamplingWeights {
    pub fn path(&self) -> &Path {
        match self {
            SamplingWeights::Final(p) | SamplingWeights::Checkpoint(p) => p,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.txt");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(fs::read_to_string(&p).unwrap(), "two");
        assert_eq!(
            fs::read_dir(d.path()).unwrap().count(),
            1,
            "no temporary file left"
        );
    }

    #[test]
    fn lock_is_exclusive() {
        let d = tempfile::tempdir().unwrap();
        let r = RunDir::new(d.path().join("run"));
        let held = r.lock().unwrap();
        let e = r.lock().unwrap_err().to_string();
        assert!(e.contains("being trained by another process"), "{e}");
        drop(held);
        r.lock().unwrap();
    }
}
