use crate::exec::{self, LocalExecutor, Options};
use crate::flags::parse_assignments;
use crate::sweep::record::SweepRecord;
use crate::sweep::{expand, record::SweepLock, state_of, RunState, SweepSpec};
use anyhow::Context;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The sweep file (YAML: label, flags, grid, exclude).
    pub sweep: PathBuf,
    /// Where run directories go: <runs-dir>/<label>/<run id>.
    #[arg(long, env = "DDIM_RUNS_DIR", default_value = "runs")]
    pub runs_dir: PathBuf,
    /// Override a flag for every run (a grid flag is narrowed to this value); repeatable.
    #[arg(long = "set", value_name = "FLAG=VALUE")]
    pub set: Vec<String>,
    /// Print the planned runs and their states, then exit.
    #[arg(long)]
    pub dry_run: bool,
    /// Runs at once (CPU threads are shared between them).
    #[arg(long, default_value_t = 1)]
    pub jobs: usize,
    /// GPUs to use, e.g. 0,1: each run sees only its GPU.
    #[arg(long, value_delimiter = ',')]
    pub gpus: Vec<usize>,
    /// Runs packed on each GPU of --gpus.
    #[arg(long, default_value_t = 1)]
    pub runs_per_gpu: usize,
    /// Rerun failed runs (from their last checkpoint when they have one).
    #[arg(long)]
    pub retry_failed: bool,
    /// Stop the sweep (other runs checkpoint and stop) at the first failure.
    #[arg(long)]
    pub fail_fast: bool,
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let mut spec = SweepSpec::load(&a.sweep)?;
    spec.apply_set(&parse_assignments(&a.set)?)?;
    if a.jobs == 0 || a.runs_per_gpu == 0 {
        anyhow::bail!("--jobs and --runs-per-gpu must be at least 1");
    }
    let plan = expand(&spec, &a.runs_dir)?;
    let states: Vec<RunState> = plan.runs.iter().map(|r| state_of(&r.dir)).collect();
    if a.dry_run {
        println!(
            "sweep {}: {} runs in {}",
            plan.label,
            plan.runs.len(),
            plan.sweep_dir.display()
        );
        println!("{:<12}  {:<9}  flags", "id", "state");
        for (r, s) in plan.runs.iter().zip(&states) {
            println!("{:<12}  {:<9}  {}", r.id, s.name(), r.varying_text());
        }
        let count = |k: RunState| states.iter().filter(|s| **s == k).count();
        println!(
            "new {}, resumable {}, completed {}, failed {}, running {}",
            count(RunState::New),
            count(RunState::Resumable),
            count(RunState::Completed),
            count(RunState::Failed),
            count(RunState::Running)
        );
        return Ok(ExitCode::SUCCESS);
    }

    let _lock = SweepLock::acquire(&plan.sweep_dir)?;
    // A run still locked may belong to an orchestrator that just died: its runs checkpoint on
    // SIGTERM within seconds. Give them a moment before calling them busy.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while plan
        .runs
        .iter()
        .any(|r| crate::store::RunDir::new(&r.dir).is_locked())
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // States again, now that no other orchestrator of this sweep can change them.
    let states: Vec<RunState> = plan.runs.iter().map(|r| state_of(&r.dir)).collect();
    let mut record = SweepRecord::read(&plan.sweep_dir).unwrap_or_default();
    record.merge_plan(&plan, Some(a.sweep.display().to_string()));
    record.set_fixed(&spec.fixed);
    crate::sweep::record::write_experiments(&a.runs_dir, &record)?;
    let mut todo = Vec::new();
    let mut skipped_failed = Vec::new();
    let mut busy = Vec::new();
    for (i, (r, s)) in plan.runs.iter().zip(&states).enumerate() {
        match s {
            RunState::Completed => {}
            RunState::Running => busy.push(r.id.clone()),
            RunState::Failed if !a.retry_failed => skipped_failed.push(i),
            _ => {
                exec::prepare_run(r, &plan.label)
                    .with_context(|| format!("preparing {}", r.dir.display()))?;
                todo.push(i);
            }
        }
    }
    let completed_before = states.iter().filter(|s| **s == RunState::Completed).count();
    println!(
        "sweep {}: {} runs ({} completed, {} to run{}{})",
        plan.label,
        plan.runs.len(),
        completed_before,
        todo.len(),
        if skipped_failed.is_empty() {
            String::new()
        } else {
            format!(", {} failed skipped", skipped_failed.len())
        },
        if busy.is_empty() {
            String::new()
        } else {
            format!(", {} being trained elsewhere", busy.len())
        }
    );
    for id in &busy {
        println!("  {id}: being trained by another process; left alone");
    }
    let opts = Options {
        jobs: a.jobs,
        gpus: a.gpus.clone(),
        runs_per_gpu: a.runs_per_gpu,
        fail_fast: a.fail_fast,
        args: std::env::args().collect(),
    };
    let executor = LocalExecutor {
        binary: std::env::current_exe()?,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let summary = rt.block_on(exec::execute(&plan, todo, &executor, &opts, &mut record))?;

    println!(
        "sweep {}: {} completed now, {} failed, {} interrupted",
        plan.label,
        summary.completed.len(),
        summary.failed.len(),
        summary.interrupted.len()
    );
    for (id, reason) in &summary.failed {
        println!("  failed {id}: {reason}");
    }
    if !skipped_failed.is_empty() {
        println!("failed earlier, not rerun (use --retry-failed):");
        for i in &skipped_failed {
            let r = &plan.runs[*i];
            let reason = crate::store::RunDir::new(&r.dir)
                .read_info()
                .ok()
                .flatten()
                .and_then(|i| i.reason)
                .unwrap_or_default();
            println!("  failed {} {}: {reason}", r.id, r.varying_text());
        }
    }
    if summary.signal.is_some() {
        println!("stopped: run the same command again to resume from the checkpoints");
    }
    let mut code = summary.exit_code();
    if code == 0 && !skipped_failed.is_empty() {
        code = 1;
    }
    Ok(ExitCode::from(code))
}
