//! One `ddim-sweep run` from start to end: load and expand the sweep, take its lock, decide
//! which runs to train from their states on disk, hand them to an executor, say what
//! happened.

use super::orchestrator::{Planner, Policy};
use super::{ExecutorArgs, ExecutorSettings, Options, Summary};
use crate::data::availability::FetchPolicy;
use crate::flags::parse_assignments;
use crate::process::Exit;
use crate::store::RunState;
use crate::sweep::record::{StopEntry, SweepLock, SweepRecord};
use crate::sweep::strategy::{self, race, RunResult};
use crate::sweep::{expand, Plan, SweepSpec};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What the user asked of `run`.
#[derive(Debug, Clone)]
pub struct Request {
    pub sweep: PathBuf,
    pub runs_dir: PathBuf,
    pub set: Vec<String>,
    pub dry_run: bool,
    pub retry_failed: bool,
    /// Continue the runs early stopping stopped, to their full epochs.
    pub resume_stopped: bool,
    /// Never download a missing dataset.
    pub offline: bool,
    pub executor: ExecutorArgs,
    /// `--jobs` as given (local: 1 when not given; Slurm: no throttle).
    pub jobs: Option<usize>,
    /// The most runs the plan may hold (`--max-runs`).
    pub max_runs: u64,
    /// Search trials' runs to leave out of the model (`--forget`).
    pub forget: Vec<String>,
    pub opts: Options,
}

/// Which planned runs this invocation trains, and which it leaves alone.
#[derive(Debug, Default)]
struct Selection {
    todo: Vec<usize>,
    skipped_failed: Vec<usize>,
    /// Stopped early, left alone (without --resume-stopped).
    stopped: Vec<usize>,
    /// Stopped early and resumed now (--resume-stopped).
    resumed_stopped: Vec<usize>,
    busy: Vec<usize>,
    completed: usize,
    /// Of `todo`, runs already submitted (to Slurm) by an earlier invocation.
    attached: usize,
    /// Runs whose run.json is damaged: left alone, named, and the sweep exits 1.
    damaged: Vec<usize>,
}

pub fn run(req: &Request) -> anyhow::Result<Exit> {
    if req.jobs == Some(0) {
        anyhow::bail!(crate::error::Error::usage("--jobs must be at least 1"));
    }
    let (spec, mut plan, settings) = load_plan(req)?;
    let policy = Policy {
        retry_failed: req.retry_failed,
        resume_stopped: req.resume_stopped,
    };
    let mut executor = settings.build(req.jobs, plan.program.is_some())?;
    if req.dry_run {
        // What the runs on disk decide already (a search's trials so far), reusing the
        // decisions the record holds where their checks hold.
        let previous = SweepRecord::read(&plan.sweep_dir);
        let mut planner = Planner::new(
            strategy::for_plan(&plan, previous.as_ref(), &req.forget),
            policy,
        );
        planner.replay(&mut plan)?;
        check_forget(&plan, &req.forget)?;
        print_dry_run(&plan);
        for line in planner.notes() {
            crate::say!("sweep {}: {line}", plan.label);
        }
        if let Some(text) = executor.dry_run_text() {
            crate::say!("{text}");
        }
        return Ok(Exit::Done);
    }
    let _lock = SweepLock::acquire(&plan.sweep_dir)?;
    let (mut record, said) = SweepRecord::load_or_set_aside(&plan.sweep_dir)?;
    if let Some(said) = said {
        eprintln!("sweep {}: {said}", plan.label);
    }
    let mut planner = Planner::new(
        strategy::for_plan(&plan, Some(&record), &req.forget),
        policy,
    );
    // A search's trials that the runs on disk decide (so that their runs are waited for,
    // reconciled with the executor and selected like a grid's).
    planner.replay(&mut plan)?;
    check_forget(&plan, &req.forget)?;
    if executor.shares_this_host() {
        wait_for_orphans(&plan);
    }
    ensure_datasets(&plan, &FetchPolicy::from_env(req.offline))?;
    if let Some(p) = &spec.program {
        write_program_file(&spec, p, &plan)?;
    }
    let in_flight = executor.reconcile(&plan)?;
    remove_stale_temporaries(&plan, &in_flight);
    record.merge_plan(&plan, Some(req.sweep.display().to_string()));
    record.set_fixed(&spec.fixed);
    record.set_search(&plan);
    crate::sweep::record::write_experiments(&req.runs_dir, &record)?;
    // Damaged trials the user forgot (now or before) are left out, not waited for.
    let forgotten: Vec<String> = req
        .forget
        .iter()
        .chain(record.search.iter().flat_map(|s| &s.forgotten))
        .cloned()
        .collect();
    let mut sel = select(&plan, req.retry_failed, req.resume_stopped, &in_flight);
    sel.damaged
        .retain(|&i| !forgotten.contains(&plan.runs[i].id));
    planner.select(&plan, &sel.todo);
    let todo = planner.next(&mut plan)?;
    for line in planner.notes() {
        crate::say!("sweep {}: {line}", plan.label);
    }
    print_plan(&plan, &sel, todo.len());
    if let Some(race) = planner
        .decisions()
        .map(|r| r.kept_over(record.race.as_ref()))
    {
        crate::say!("{}", race::outcome_text(&race));
        for line in race::describe_new(&race, 0) {
            crate::say!("  {line}");
        }
    } else if sel.todo.is_empty() && sel.completed == plan.runs.len() {
        crate::say!("all {} runs are completed: nothing to do", plan.runs.len());
    }
    executor.prepare(&plan, &sel.todo);
    if let Some(s) = &plan.search {
        crate::say!("{}", s.describe());
    }
    let mut opts = req.opts.clone();
    opts.exempt_from_stop = sel
        .resumed_stopped
        .iter()
        .map(|&i| plan.runs[i].id.clone())
        .collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let summary = rt.block_on(super::execute(
        &mut plan,
        todo,
        &mut planner,
        executor.as_mut(),
        &opts,
        &mut record,
    ))?;
    if let Some(what) = &summary.detached {
        crate::say!(
            "sweep {}: {what}; not watching (--detach). Run the same command again to watch it, or see `ddim-sweep runs`",
            plan.label
        );
        return Ok(Exit::Done);
    }
    print_summary(&plan, &summary, &sel);
    if let Some(race) = &record.race {
        crate::say!("{}", race::outcome_text(race));
    }
    if let Some(s) = &record.search {
        crate::say!("{}", search_outcome(&plan, s));
    }
    Ok(match summary.exit() {
        Exit::Done if !sel.skipped_failed.is_empty() || !sel.damaged.is_empty() => Exit::Error,
        e => e,
    })
}

/// `--forget RUN` names damaged trials of the search (as replayed): anything else is refused
/// before anything runs or is recorded.
fn check_forget(plan: &Plan, forget: &[String]) -> anyhow::Result<()> {
    let Some(first) = forget.first() else {
        return Ok(());
    };
    let usage = |m: String| anyhow::anyhow!(crate::error::Error::usage(m));
    if plan.search.is_none() {
        return Err(usage(format!(
            "--forget {}: sweep {} has no search: block (--forget leaves a damaged trial out of a search's model)",
            first.escape_debug(),
            plan.label
        )));
    }
    for id in forget {
        let Some(run) = plan.runs.iter().find(|r| &r.id == id) else {
            return Err(usage(format!(
                "--forget {}: not a trial's run of sweep {} (its trials' runs: `ddim-sweep runs --label {}`)",
                id.escape_debug(),
                plan.label,
                plan.label
            )));
        };
        if run.state() != RunState::Damaged {
            return Err(usage(format!(
                "--forget {id}: the run is {}, not damaged: --forget leaves out only a trial whose files are damaged",
                run.state().name()
            )));
        }
    }
    Ok(())
}

/// Every dataset the plan needs is on disk (a missing official one is fetched, once) before
/// any run starts; otherwise the sweep is refused as a whole.
fn ensure_datasets(plan: &Plan, policy: &FetchPolicy) -> anyhow::Result<()> {
    let mut seen = Vec::new();
    for f in plan.all_flags() {
        let key = (f.dataset_name, crate::data::dataset_dir(&f));
        if !seen.contains(&key) {
            crate::data::availability::ensure(&f, policy).map_err(crate::error::Error::refused)?;
            seen.push(key);
        }
    }
    Ok(())
}

/// `<label>/program.json`: what each run of the user's program needs to start (see
/// [`ProgramFile`](crate::store::program_file::ProgramFile)); says how many completed runs
/// were made by other sources than the current ones.
fn write_program_file(
    spec: &SweepSpec,
    p: &crate::sweep::program::ProgramSpec,
    plan: &Plan,
) -> anyhow::Result<()> {
    let file = spec
        .source
        .as_ref()
        .map(std::path::absolute)
        .transpose()?
        .unwrap_or_default();
    let dir = file
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let sources = p
        .source_files(&dir)
        .map_err(|e| crate::error::Error::usage(format!("{}: {e}", file.display())))?;
    let hash = crate::store::program_file::sources_hash(&dir, &sources)
        .map_err(|e| crate::error::Error::usage(format!("{}: sources: {e}", file.display())))?;
    let sample_metrics =
        p.sample_metrics
            .as_ref()
            .map(|m| crate::store::program_file::SampleMetricsFile {
                images: m.images.clone(),
                reference: std::path::absolute(dir.join(&m.reference))
                    .unwrap_or_else(|_| dir.join(&m.reference)),
                columns: crate::metrics::names::ALL
                    .iter()
                    .filter(|m| m.from_samples())
                    .map(|m| m.column.to_string())
                    .collect(),
            });
    let pf = crate::store::program_file::ProgramFile {
        sweep_dir: dir,
        metrics: p.metrics.clone(),
        sources,
        sources_hash: hash.clone(),
        timeout: p.timeout,
        seed_option: p.seed_option,
        sample_metrics,
    };
    pf.write(&plan.sweep_dir)?;
    let other = plan
        .runs
        .iter()
        .filter_map(|r| r.run_dir().read_info().ok().flatten())
        .filter(|i| i.status == crate::store::Status::Completed)
        .filter(|i| i.program.as_ref().is_some_and(|p| p.sources_hash != hash))
        .count();
    if other > 0 {
        crate::say!(
            "sweep {}: {other} completed run(s) were made by other sources than the current {} (kept: completed is final; `runs` marks them)",
            plan.label,
            pf.sources.join(", ")
        );
    }
    Ok(())
}

/// The sweep file with `--set` applied, expanded into runs, and the executors' settings.
fn load_plan(req: &Request) -> anyhow::Result<(SweepSpec, Plan, ExecutorSettings)> {
    let mut spec =
        SweepSpec::load(&req.sweep, super::BLOCKS).map_err(crate::error::Error::input)?;
    let settings = req.executor.resolve(&spec)?;
    let sets = parse_assignments(&req.set).map_err(crate::error::Error::input)?;
    spec.apply_set(&sets).map_err(crate::error::Error::input)?;
    crate::sweep::plan::check_size(&spec, req.max_runs)?;
    let plan = expand(&spec, &req.runs_dir)?;
    Ok((spec, plan, settings))
}

fn print_dry_run(plan: &Plan) {
    crate::say!(
        "sweep {}: {} runs in {}",
        plan.label,
        plan.runs.len(),
        plan.sweep_dir.display()
    );
    let standing = dry_standing(plan);
    let race = standing.as_ref().map(|(_, s)| {
        let alive: Vec<usize> = s
            .alive
            .iter()
            .flat_map(|&c| s.configs[c].runs.clone())
            .collect();
        (s.next.clone(), alive, s.finished)
    });
    crate::say!("{:<12}  {:<10}  flags", "id", "state");
    let states: Vec<RunState> = plan.runs.iter().map(|r| r.state()).collect();
    for (i, (r, s)) in plan.runs.iter().zip(&states).enumerate() {
        let name = match &race {
            Some((next, alive, finished)) if *s == RunState::New && !next.contains(&i) => {
                if *finished {
                    "not run"
                } else if alive.contains(&i) {
                    "later"
                } else {
                    "eliminated"
                }
            }
            _ => s.name(),
        };
        crate::say!("{:<12}  {:<10}  {}", r.id, name, r.varying_text());
    }
    let count = |k: RunState| states.iter().filter(|s| **s == k).count();
    crate::say!(
        "new {}, resumable {}, completed {}, failed {}, running {}{}",
        count(RunState::New),
        count(RunState::Resumable),
        count(RunState::Completed),
        count(RunState::Failed),
        count(RunState::Running),
        match count(RunState::Stopped) {
            0 => String::new(),
            n => format!(", stopped {n}"),
        } + &match count(RunState::Damaged) {
            0 => String::new(),
            n => format!(", damaged {n}"),
        }
    );
    if let Some(r) = &plan.random {
        crate::say!("{}", r.describe());
    }
    if let Some(s) = &plan.search {
        crate::say!("{}", s.describe());
        let decided = plan.runs.len();
        crate::say!(
            "{decided} of {} trial(s) decided by the results so far (each later trial waits for the results that decide it)",
            s.trials
        );
    }
    for (k, same) in &plan.duplicate_trials {
        crate::say!("trial {k} drew the same values as run {same}: one run serves both");
    }
    if let Some(s) = &plan.stop {
        crate::say!("early stopping: {}", StopEntry::from(s).describe());
    }
    if let Some((r, s)) = &standing {
        print_race_dry_run(plan, r, s);
    }
}

/// A race's standing from the runs on disk, with its configurations (None without a race).
fn dry_standing(plan: &Plan) -> Option<(&race::Race, race::Standing)> {
    let r = plan.race.as_ref()?;
    let configs = race::configs(plan, r).ok()?;
    Some((
        r,
        race::standing(r, configs, &|i| RunResult::of(&plan.runs[i])),
    ))
}

/// The race's rounds so far and what its next round would start.
fn print_race_dry_run(plan: &Plan, r: &race::Race, s: &race::Standing) {
    let n = s.configs.len();
    let recorded =
        crate::store::sweep_file::SweepRecord::read(&plan.sweep_dir).and_then(|x| x.race);
    let rec = s.record(r).kept_over(recorded.as_ref());
    crate::say!(
        "race: {n} configurations x {} seeds on {} (first test after {} seeds, alpha {})",
        r.seeds.len(),
        r.metric,
        r.min_seeds,
        r.alpha
    );
    for line in race::describe_new(&rec, 0) {
        crate::say!("  {line}");
    }
    match s.current {
        Some(round) => {
            let ids: Vec<&str> = s.next.iter().map(|&i| plan.runs[i].id.as_str()).collect();
            crate::say!(
                "round {round} would start {} run(s): {}",
                ids.len(),
                ids.join(" ")
            );
        }
        None => crate::say!("{}", race::outcome_text(&rec)),
    }
}

/// Temporary files that killed processes left in the sweep's directory (this invocation holds
/// its lock) and in its runs' (those no process trains now): removed, and said once.
fn remove_stale_temporaries(plan: &Plan, in_flight: &[usize]) {
    let (mut files, mut bytes) = crate::files::remove_stale_tmps(&plan.sweep_dir, &[]);
    for (i, r) in plan.runs.iter().enumerate() {
        if in_flight.contains(&i) || !r.dir.is_dir() || r.run_dir().is_locked() {
            continue;
        }
        let (n, b) = crate::files::remove_stale_tmps(&r.dir, &["samples"]);
        files += n;
        bytes += b;
    }
    if files > 0 {
        crate::say!(
            "sweep {}: removed {files} temporary file(s) ({:.1} KB) that killed processes left behind",
            plan.label,
            bytes as f64 / 1024.0
        );
    }
}

/// A run still locked may belong to an orchestrator that just died: its runs checkpoint on
/// SIGTERM within seconds. Gives them a moment before calling them busy.
/// Says so once, naming each locked run and the process that holds it.
fn wait_for_orphans(plan: &Plan) {
    const WAIT: Duration = Duration::from_secs(20);
    let locked: Vec<_> = plan
        .runs
        .iter()
        .filter(|r| r.run_dir().is_locked())
        .collect();
    if locked.is_empty() {
        return;
    }
    for r in &locked {
        crate::say!(
            "sweep {}: waiting up to {} s for run {}: it is being trained by another process{}",
            plan.label,
            WAIT.as_secs(),
            r.id,
            r.run_dir().holder_text()
        );
    }
    let deadline = Instant::now() + WAIT;
    while locked.iter().any(|r| r.run_dir().is_locked()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Reads every run's state (now that no other orchestrator of this sweep can change them):
/// the runs the executor has in flight are watched again; the others to train are queued.
fn select(plan: &Plan, retry_failed: bool, resume_stopped: bool, in_flight: &[usize]) -> Selection {
    let mut sel = Selection {
        attached: in_flight.len(),
        ..Default::default()
    };
    for (i, r) in plan.runs.iter().enumerate() {
        if in_flight.contains(&i) {
            sel.todo.push(i);
            continue;
        }
        match r.state() {
            RunState::Completed => sel.completed += 1,
            RunState::Running => sel.busy.push(i),
            RunState::Damaged => sel.damaged.push(i),
            RunState::Failed if !retry_failed => sel.skipped_failed.push(i),
            RunState::Stopped if !resume_stopped => sel.stopped.push(i),
            RunState::Stopped => {
                sel.resumed_stopped.push(i);
                sel.todo.push(i);
            }
            _ => sel.todo.push(i),
        }
    }
    sel
}

fn print_plan(plan: &Plan, sel: &Selection, now: usize) {
    let mut extra = String::new();
    if !sel.skipped_failed.is_empty() {
        extra.push_str(&format!(", {} failed skipped", sel.skipped_failed.len()));
    }
    if !sel.busy.is_empty() {
        extra.push_str(&format!(", {} being trained elsewhere", sel.busy.len()));
    }
    if !sel.stopped.is_empty() {
        extra.push_str(&format!(
            ", {} stopped early (--resume-stopped continues them)",
            sel.stopped.len()
        ));
    }
    if !sel.damaged.is_empty() {
        extra.push_str(&format!(", {} damaged", sel.damaged.len()));
    }
    if sel.attached > 0 {
        extra.push_str(&format!(
            ", {} of them already submitted: watching, not submitting again",
            sel.attached
        ));
    }
    if let Some(s) = &plan.search {
        crate::say!(
            "sweep {}: a {} search of {} trials ({} decided so far, {} completed, {} to run now{extra})",
            plan.label,
            s.sampler,
            s.trials,
            plan.runs.len(),
            sel.completed,
            now
        );
    } else if plan.race.is_some() {
        crate::say!(
            "sweep {}: a race over at most {} runs ({} completed, {} to run now{extra})",
            plan.label,
            plan.runs.len(),
            sel.completed,
            now
        );
    } else {
        crate::say!(
            "sweep {}: {} runs ({} completed, {} to run{extra})",
            plan.label,
            plan.runs.len(),
            sel.completed,
            sel.todo.len()
        );
    }
    for i in &sel.busy {
        crate::say!(
            "  {}: being trained by another process{}; left alone",
            plan.runs[*i].id,
            plan.runs[*i].run_dir().holder_text()
        );
    }
    for &i in &sel.damaged {
        let r = &plan.runs[i];
        let why = r.run_dir().damage().unwrap_or_default();
        crate::say!(
            "  {} {}: left alone: {why}. Repair the file, or retire the run by moving {} out of the sweep's directory (the next run trains it anew)",
            r.id,
            r.varying_text(),
            r.dir.display()
        );
    }
}

fn print_summary(plan: &Plan, summary: &Summary, sel: &Selection) {
    crate::say!(
        "sweep {}: {} completed now, {} failed, {} interrupted{}",
        plan.label,
        summary.completed.len(),
        summary.failed.len(),
        summary.interrupted.len(),
        if summary.stopped.is_empty() {
            String::new()
        } else {
            format!(", {} stopped early", summary.stopped.len())
        }
    );
    for (id, reason) in &summary.failed {
        crate::say!("  failed {id}: {reason}");
    }
    if !sel.skipped_failed.is_empty() {
        crate::say!("failed earlier, not rerun (use --retry-failed):");
        for i in &sel.skipped_failed {
            let r = &plan.runs[*i];
            let reason = r
                .run_dir()
                .read_info()
                .ok()
                .flatten()
                .and_then(|i| i.reason)
                .unwrap_or_default();
            crate::say!("  failed {} {}: {reason}", r.id, r.varying_text());
        }
    }
    if summary.signal.is_some() {
        crate::say!("stopped: run the same command again to resume from the checkpoints");
    }
}

/// The search's best trial so far, in one line.
fn search_outcome(plan: &Plan, s: &crate::store::sweep_file::SearchRecord) -> String {
    let Some(m) = crate::metrics::names::Metric::named(&s.metric) else {
        return String::new();
    };
    let by_id: std::collections::HashMap<&str, &crate::sweep::PlannedRun> =
        plan.runs.iter().map(|r| (r.id.as_str(), r)).collect();
    let values: Vec<(usize, String, f64)> = s
        .trials
        .iter()
        .filter_map(|t| {
            let r = *by_id.get(t.run.as_str())?;
            let RunResult::Completed(metrics) = RunResult::of(r) else {
                return None;
            };
            Some((t.trial, r.id.clone(), *metrics.get(m.name)?))
        })
        .collect();
    let best = values
        .iter()
        .min_by(|a, b| m.as_loss(a.2).total_cmp(&m.as_loss(b.2)));
    match best {
        Some((k, id, v)) => format!(
            "search: {} of {} trials completed; best {} {} ({}), trial {k}, run {id}",
            values.len(),
            s.trials_planned,
            m.name,
            crate::report::format::fixed6(*v),
            m.direction_text()
        ),
        None => format!(
            "search: no trial completed yet ({} decided of {})",
            s.trials.len(),
            s.trials_planned
        ),
    }
}
