//! Executing a sweep's runs: one orchestrator ([`orchestrator::execute`]) owns the state
//! machine — which runs are to do, their states on disk, progress, signals, fail-fast and the
//! summary — and drives an [`Executor`], which only starts runs somewhere and reports when
//! each starts and ends: [`local::LocalExecutor`] runs child processes on this machine.
//!
//! Progress comes from each run's own `progress.json` (see `store::RunProgress`), never from
//! a process's output, so any executor whose runs write to the same filesystem shows it.
//!
//! Everything an executor owns lives here: its settings (declared once, as the sweep file's
//! block and as `run`'s options: [`BLOCKS`], [`overlay`]), how it starts a run
//! ([`launch::Launch`]: one command line, and the environment that names the run's task in
//! its run.json), and what it says of its tasks now ([`tasks_now`], for `runs`).

pub mod child;
pub mod display;
pub mod early;
pub mod launch;
pub mod local;
pub mod orchestrator;
pub mod slurm;
pub mod sweep_run;

pub use local::{LocalExecutor, Slot};
pub use orchestrator::execute;

use crate::process::{Exit, Signal};
use crate::store::run_info::{RunInfo, Status};
use crate::store::Ended;
use crate::sweep::Plan;
use serde::{de::DeserializeOwned, Serialize};
use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};

/// The sweep file's executor blocks, by name: each executor decodes its own
/// (`SweepSpec::load` refuses any other unknown top-level key).
pub const BLOCKS: &[&str] = &[local::settings::BLOCK, slurm::settings::BLOCK];

/// Where the runs execute: the executors, each in its own module under `exec/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ExecutorKind {
    /// Child processes on this machine.
    #[default]
    Local,
    /// A Slurm job array.
    Slurm,
}

/// `run`'s options of where the runs execute: the executor, and each executor's settings
/// (declared by the executor; a new executor adds its own here, nowhere outside `exec/`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ExecutorArgs {
    /// Where the runs execute: local (child processes here) or slurm (a job array).
    #[arg(long = "executor", value_enum, default_value = "local")]
    pub kind: ExecutorKind,
    /// Slurm: submit, print the job id and return (run the same command again to watch).
    #[arg(long)]
    pub detach: bool,
    /// The local executor's settings (each one given overrides the sweep file's `local:`).
    #[command(flatten)]
    pub local: local::Settings,
    /// Slurm's settings (each one given overrides the sweep file's `slurm:` block).
    #[command(flatten)]
    pub slurm: slurm::Settings,
}

/// Each executor's settings, resolved once per invocation ([`ExecutorArgs::resolve`]).
#[derive(Debug, Clone)]
pub struct ExecutorSettings {
    pub kind: ExecutorKind,
    pub detach: bool,
    pub local: local::Settings,
    pub slurm: slurm::Settings,
}

impl ExecutorArgs {
    /// Each executor's settings for this sweep: its block of the sweep file with these
    /// options in place. Every block is read (so checked) whichever executor runs; another
    /// executor's options on the command line are refused.
    pub fn resolve(&self, spec: &crate::sweep::SweepSpec) -> anyhow::Result<ExecutorSettings> {
        let misplaced = match self.kind {
            ExecutorKind::Local => (self.slurm != slurm::Settings::default() || self.detach)
                .then_some("Slurm's options (--partition, --time, --gres, ..., --detach) are for --executor slurm"),
            ExecutorKind::Slurm => self.local.is_set().then_some(
                "--gpus and --runs-per-gpu are for the local executor; on Slurm ask for GPUs with --gres (e.g. --gres gpu:1)",
            ),
        };
        if let Some(why) = misplaced {
            anyhow::bail!(crate::error::Error::usage(why));
        }
        Ok(ExecutorSettings {
            kind: self.kind,
            detach: self.detach,
            local: local::Settings::resolve(spec, &self.local)?,
            slurm: slurm::Settings::resolve(spec, &self.slurm)?,
        })
    }
}

impl ExecutorSettings {
    /// The chosen executor with its settings; `jobs`: `--jobs` as given. The one place
    /// that names every executor.
    /// A sweep of the user's program (`program`) starts each run with the supervisor binary
    /// `ddim-sweep-program` beside this one when it is there (no libtorch to load: it starts
    /// faster), else with this binary's `train`, which supervises a program run the same way.
    pub fn build(self, jobs: Option<usize>, program: bool) -> anyhow::Result<Box<dyn Executor>> {
        let mut binary = std::env::current_exe()?;
        let supervisor = binary.with_file_name("ddim-sweep-program");
        if program && supervisor.is_file() {
            binary = supervisor;
        }
        Ok(match self.kind {
            ExecutorKind::Local => {
                Box::new(LocalExecutor::new(binary, &self.local, jobs.unwrap_or(1)))
            }
            ExecutorKind::Slurm => Box::new(slurm::SlurmExecutor::new(slurm::Submission {
                settings: self.slurm,
                binary,
                throttle: jobs,
                detach: self.detach,
                poll: slurm::poll_interval(),
            })),
        })
    }
}

/// An executor's settings: its block `name` of the sweep file (none, or empty: the
/// defaults) with `cli`'s options in place by [`overlay`] (the lists in `append` appended to).
pub fn block_settings<T: Serialize + DeserializeOwned + Default>(
    spec: &crate::sweep::SweepSpec,
    name: &str,
    cli: &T,
    append: &[&str],
) -> anyhow::Result<T> {
    let file: T = spec
        .blocks
        .iter()
        .find(|b| b.name == name)
        .map(|b| b.decode())
        .transpose()
        .map_err(crate::error::Error::input)?
        .flatten()
        .unwrap_or_default();
    overlay(&file, cli, append)
}

/// `base` with each setting `over` sets in its place (the lists named in `append` appended
/// to instead): how `run`'s options override a sweep file's executor block, for any
/// executor's settings type (whose fields are options, lists or defaults; an empty list is
/// not set).
pub fn overlay<T: Serialize + DeserializeOwned>(
    base: &T,
    over: &T,
    append: &[&str],
) -> anyhow::Result<T> {
    use serde_json::Value;
    let mut merged = serde_json::to_value(base)?;
    if let (Value::Object(m), Value::Object(o)) = (&mut merged, serde_json::to_value(over)?) {
        for (k, v) in o {
            match (m.get_mut(&k), v) {
                (_, Value::Null) => {}
                (_, Value::Array(more)) if more.is_empty() => {}
                (Some(Value::Array(a)), Value::Array(more)) if append.contains(&k.as_str()) => {
                    a.extend(more)
                }
                (_, v) => {
                    m.insert(k, v);
                }
            }
        }
    }
    Ok(serde_json::from_value(merged)?)
}

/// What the executors say now of the tasks of `runs` (each with its sweep's label): for
/// each run an executor's task ran, its key, with the executor's live state while the run is
/// queued or running (`123_4 RUNNING on n1`, `123_5 PENDING (JobArrayTaskLimit)`, `123_6
/// gone`, `?` when the executor cannot be asked); None for the others. Each executor is
/// asked at most once per sweep.
pub fn tasks_now(runs: &[(&str, &RunInfo)]) -> Vec<Option<String>> {
    let mut asked = slurm::Asked::default();
    runs.iter()
        .map(|(label, info)| {
            let task = info.task.as_ref()?;
            if !matches!(info.status, Status::Queued | Status::Running) {
                return Some(task.key.clone());
            }
            Some(match task.kind.as_str() {
                slurm::KIND => asked.state(label, &task.key),
                other => format!("{} ({other})", task.key),
            })
        })
        .collect()
}

/// What an executor tells the orchestrator.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Run `run` (an index into the plan's runs) started; `place` says where (`[gpu 0]`).
    Started { run: usize, place: String },
    /// Run `run`'s attempt ended, as the executor saw it.
    Ended { run: usize, ended: Ended },
    /// Something worth a line about run `run` (e.g. resubmitted after a time limit).
    Note { run: usize, text: String },
}

/// Starts runs somewhere and reports their starts and ends. The event channel closing means
/// the executor has nothing left running and will start nothing more: it closes only once
/// the orchestrator has settled every end (so that runs added meanwhile are not lost).
pub trait Executor {
    /// Settles runs whose attempts ended while nobody watched (as the executor knows them)
    /// and returns the runs it already has in flight: they are watched, not started again.
    fn reconcile(&mut self, _plan: &Plan) -> anyhow::Result<Vec<usize>> {
        Ok(Vec::new())
    }
    /// Queues `runs` (indices into `plan.runs`, in order; see `PlannedRun::queue`), except
    /// those of `reconcile`, and starts working through them all; returns at once.
    fn start(
        &mut self,
        plan: &Plan,
        runs: Vec<usize>,
        events: UnboundedSender<Event>,
    ) -> anyhow::Result<()>;
    /// Takes more runs after the start (the plan is open: a strategy proposes runs as
    /// results arrive): queues and starts them like `start`'s. Sent before the
    /// [`Executor::proceed`] of the run whose end led to them, so the executor never ends
    /// in between.
    fn add(&mut self, plan: &Plan, runs: Vec<usize>) -> anyhow::Result<()>;
    /// The control channel of the executor's task, through which the requests below go.
    fn controls(&self) -> &Controls;
    /// The orchestrator has settled the last run that ended (and did not stop the sweep):
    /// an executor that waits for that before starting another run may go on.
    fn proceed(&mut self) {
        self.controls().send(Control::Proceed);
    }
    /// Starts no more runs; running ones get `signal` and stop after their current step
    /// (they checkpoint).
    fn stop(&mut self, signal: Signal) {
        self.controls().send(Control::Stop(signal));
    }
    /// Ends the running runs at once (they continue later from their last checkpoint).
    fn kill(&mut self) {
        self.controls().send(Control::Kill);
    }
    /// Stops run `run` (an index into the plan's runs) after its current step.
    fn stop_run(&mut self, run: usize) {
        self.controls().send(Control::StopRun(run));
    }
    /// When the executor only submitted (and nobody watches), what it submitted.
    fn detached(&self) -> Option<String> {
        None
    }
    /// What `run --dry-run` says of how the runs would execute.
    fn dry_run_text(&self) -> Option<String> {
        None
    }
    /// Whether the runs execute on this host (then a run left running by a dead
    /// orchestrator here is waited for before the sweep starts).
    fn shares_this_host(&self) -> bool {
        false
    }
    /// Work done once before the runs `todo` start, where the executor profits from it
    /// (the local one computes the KID reference features with every core).
    fn prepare(&self, _plan: &Plan, _todo: &[usize]) {}
}

/// What the orchestrator asks of an executor's task.
#[derive(Debug, Clone)]
pub enum Control {
    /// Take these runs too (each with its index into the plan's runs, which may have grown
    /// since the start; already queued on disk where the executor queues them itself).
    Add(Vec<(usize, crate::sweep::PlannedRun)>),
    /// The last run that ended is settled: another may start.
    Proceed,
    /// Start nothing more; running runs get the signal (they checkpoint).
    Stop(Signal),
    /// End the running runs at once.
    Kill,
    /// Stop this one run after its current step (it checkpoints): early stopping.
    StopRun(usize),
}

/// The sending end of an executor task's control channel (nothing to send to before the
/// task starts).
#[derive(Debug, Default)]
pub struct Controls(Option<UnboundedSender<Control>>);

impl Controls {
    /// Opens the channel; the task keeps the receiving end.
    pub fn open(&mut self) -> UnboundedReceiver<Control> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.0 = Some(tx);
        rx
    }

    pub fn send(&self, c: Control) {
        if let Some(tx) = &self.0 {
            let _ = tx.send(c);
        }
    }
}

/// How to schedule.
#[derive(Debug, Clone)]
pub struct Options {
    pub fail_fast: bool,
    /// The command line, for the sweep record.
    pub args: Vec<String>,
    /// Runs the early-stopping rule leaves alone (resumed with --resume-stopped), by id.
    pub exempt_from_stop: Vec<String>,
    /// When the output is not a terminal: a plain progress line per active run and one for
    /// the sweep this often (terminals show bars instead).
    pub progress_every: std::time::Duration,
}

/// What happened to the runs of one invocation.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub completed: Vec<String>,
    pub failed: Vec<(String, String)>,
    pub interrupted: Vec<String>,
    /// Stopped early by the sweep's rule.
    pub stopped: Vec<String>,
    /// Runs that were to run but never started (the sweep was stopped first).
    pub not_started: usize,
    /// Stopped by the user's signal.
    pub signal: Option<Signal>,
    /// Submitted without watching (`--detach`): what was submitted.
    pub detached: Option<String>,
}

impl Summary {
    /// A user's signal wins (130/143, also after a failure under --fail-fast); then a
    /// failed run, or one stopped by something else than the user (a scheduler's cancel),
    /// exits 1; else done.
    pub fn exit(&self) -> Exit {
        match self.signal {
            Some(s) => Exit::Stopped(s),
            None if !self.failed.is_empty() || !self.interrupted.is_empty() => Exit::Error,
            None => Exit::Done,
        }
    }

    pub fn outcome(&self) -> String {
        match (&self.detached, self.signal) {
            (Some(what), _) => format!("detached: {what}"),
            (None, Some(s)) => format!("interrupted ({})", s.name()),
            _ if !self.failed.is_empty() => "some runs failed".into(),
            _ if !self.interrupted.is_empty() => "some runs interrupted".into(),
            _ => "done".into(),
        }
    }
}
