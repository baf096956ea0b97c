use crate::exec::sweep_run::{self, Request};
use crate::exec::{ExecutorArgs, Options};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The sweep file (YAML: label, flags, grid, exclude).
    pub sweep: PathBuf,
    /// Where run directories go: <runs-dir>/<label>/<run id>.
    #[arg(long, env = "DDIM_RUNS_DIR", default_value = "runs", value_parser = super::runs_dir_arg)]
    pub runs_dir: PathBuf,
    /// Override a flag for every run (a grid flag is narrowed to this value); repeatable.
    #[arg(long = "set", value_name = "FLAG=VALUE")]
    pub set: Vec<String>,
    /// Print the planned runs and their states, then exit.
    #[arg(long)]
    pub dry_run: bool,
    /// Runs at once (local: CPU threads are shared between them, default 1; Slurm: the job
    /// array's throttle %N, default none).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Rerun failed runs (from their last checkpoint when they have one).
    #[arg(long)]
    pub retry_failed: bool,
    /// Continue the runs early stopping stopped, to their full epochs.
    #[arg(long)]
    pub resume_stopped: bool,
    /// Leave this run (a search trial whose files are damaged) out of the search's model
    /// instead of waiting for its repair; repeatable. Recorded in sweep.json: later trials
    /// are decided without it.
    #[arg(long, value_name = "RUN")]
    pub forget: Vec<String>,
    /// Stop the sweep (other runs checkpoint and stop) at the first failure.
    #[arg(long)]
    pub fail_fast: bool,
    /// When the output is not a terminal (a log file, CI): print a progress line per running
    /// run (epoch, step, loss, images/s, ETA) and one for the sweep every SECONDS.
    #[arg(
        long,
        env = "DDIM_PROGRESS_EVERY",
        default_value_t = 30.0,
        value_name = "SECONDS"
    )]
    pub progress_every: f64,
    /// Never download a missing dataset (also DDIM_OFFLINE=1): refuse the sweep instead.
    #[arg(long)]
    pub offline: bool,
    /// Refuse a sweep that plans more runs than this (counted before the plan is built:
    /// grid sizes times random trials, before exclusions).
    #[arg(long, env = "DDIM_MAX_RUNS", default_value_t = crate::sweep::plan::MAX_RUNS, value_name = "N")]
    pub max_runs: u64,
    #[command(flatten)]
    pub executor: ExecutorArgs,
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let req = Request {
        sweep: a.sweep,
        runs_dir: a.runs_dir,
        set: a.set,
        dry_run: a.dry_run,
        retry_failed: a.retry_failed,
        resume_stopped: a.resume_stopped,
        offline: a.offline,
        executor: a.executor,
        jobs: a.jobs,
        max_runs: a.max_runs,
        forget: a.forget,
        opts: Options {
            fail_fast: a.fail_fast,
            args: std::env::args().collect(),
            exempt_from_stop: Vec::new(),
            progress_every: std::time::Duration::try_from_secs_f64(a.progress_every.max(0.1))
                .map_err(|_| {
                    crate::error::Error::usage(format!(
                        "--progress-every {}: expected a number of seconds",
                        a.progress_every
                    ))
                })?,
        },
    };
    Ok(sweep_run::run(&req)?.into())
}
