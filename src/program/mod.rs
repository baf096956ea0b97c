//! Program kinds: what a run executes. Each kind is one file with a [`Kind`] and one line in
//! [`KINDS`]: the built-in DDIM trainer ([`builtin`]) and the user's own command
//! ([`command`]). `train --run-dir DIR` (what every executor starts) hands the run to the
//! kind that owns its `flags.yaml`.
//!
//! `command` uses nothing above `store` (and `track::tensorboard`): the supervisor binary
//! `ddim-sweep-program` (crates/program) compiles it with those alone, without libtorch.

pub mod builtin;
pub mod command;

use crate::process::Outcome;
use crate::run_flags::RunFlags;
use crate::store::RunDir;
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
    (kind_for(KINDS, flags.as_ref()).run)(a)
}

/// The first of `kinds` that owns a run with these flags.
fn kind_for(kinds: &[&'static Kind], flags: Option<&RunFlags>) -> &'static Kind {
    kinds
        .iter()
        .find(|k| (k.owns)(flags))
        .copied()
        .expect("the built-in kind owns every other run")
}

/// Whether the run at `run_dir` is one of a program of the user's (its flags.yaml says so).
pub fn is_program_run(run_dir: &Path) -> bool {
    matches!(RunDir::new(run_dir).read_flags(), Ok(RunFlags::Command(_)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run_flags::CommandFlags;

    /// A third kind, as a new one would be written: one static and one line in the list.
    static ECHO: Kind = Kind {
        name: "echo",
        owns: |f| matches!(f, Some(RunFlags::Command(c)) if c.command[0] == "echo-kind"),
        run: |_| {
            Ok(Outcome::Completed {
                metrics: Default::default(),
            })
        },
    };

    #[test]
    fn each_run_goes_to_the_first_kind_that_owns_it() {
        let kinds: &[&'static Kind] = &[&ECHO, &command::KIND, &builtin::KIND];
        let cmd = |w: &str| {
            RunFlags::Command(CommandFlags {
                command: vec![w.into()],
                flags: Default::default(),
            })
        };
        assert_eq!(kind_for(kinds, Some(&cmd("echo-kind"))).name, "echo");
        assert_eq!(kind_for(kinds, Some(&cmd("python3"))).name, "command");
        let builtin = RunFlags::Builtin(crate::flags::Flags::default());
        assert_eq!(kind_for(kinds, Some(&builtin)).name, "builtin");
        assert_eq!(kind_for(kinds, None).name, "builtin", "a new run by hand");
        assert_eq!(kind_for(KINDS, Some(&cmd("echo-kind"))).name, "command");
    }
}
