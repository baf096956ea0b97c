//! Program kinds: what a run executes. Each kind is one file with a [`Kind`] and one line in
//! [`KINDS`]: the built-in DDIM trainer ([`builtin`]) and the user's own command
//! ([`command`]). `train --run-dir DIR` (what every executor starts) hands the run to the
//! kind that owns its `flags.yaml`.

pub mod builtin;
pub mod command;

use crate::run_flags::RunFlags;
use crate::store::RunDir;
use crate::train::Outcome;
use serde_yaml::Value;
use std::path::Path;

/// One attempt at a run, as `train` was asked for it.
pub struct Attempt<'a> {
    pub run_dir: &'a Path,
    /// Flags given on the command line (a new built-in run's).
    pub given: &'a [(String, Value)],
    pub stop: &'a crate::process::Stop,
    pub fetch: &'a crate::data::availability::FetchPolicy,
    /// Wait for another process that holds the run (see `train --wait`).
    pub wait: bool,
}

/// A kind of program.
pub struct Kind {
    pub name: &'static str,
    /// Whether it runs a run whose `flags.yaml` holds these flags (None: no flags.yaml yet).
    pub owns: fn(Option<&RunFlags>) -> bool,
    pub run: fn(&Attempt) -> anyhow::Result<Outcome>,
}

/// Every program kind, the first that owns a run runs it.
pub static KINDS: &[&Kind] = &[&command::KIND, &builtin::KIND];

/// Runs one attempt with the kind that owns the run.
pub fn run(a: &Attempt) -> anyhow::Result<Outcome> {
    let dir = RunDir::new(a.run_dir);
    let flags = if dir.flags().exists() {
        Some(dir.read_flags()?)
    } else {
        None
    };
    let kind = KINDS
        .iter()
        .find(|k| (k.owns)(flags.as_ref()))
        .expect("the built-in kind owns every other run");
    (kind.run)(a)
}

/// Whether the run at `run_dir` is one of a program of the user's (its flags.yaml says so).
pub fn is_program_run(run_dir: &Path) -> bool {
    matches!(RunDir::new(run_dir).read_flags(), Ok(RunFlags::Command(_)))
}

/// The run's lock, waited for when `a.wait` (None when stopped while waiting: exit 75).
pub fn lock(dir: &RunDir, a: &Attempt) -> anyhow::Result<fs_err::File> {
    if !a.wait {
        return dir.lock();
    }
    match dir.lock_waiting(|| a.stop.requested().is_some())? {
        Some(lock) => Ok(lock),
        None => Err(crate::error::Error::Busy(format!(
            "run {}: stopped while waiting for another process to finish it; left to it",
            dir.root.display()
        ))
        .into()),
    }
}
