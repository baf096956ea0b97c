//! Executing a sweep's runs as child processes (`ddim-sweep train --run-dir DIR`) under one
//! tokio orchestrator: slots (CPU jobs or GPU places), progress, signals, failures.
//!
//! The [`Executor`] builds the command of one run in one slot; [`LocalExecutor`] runs the
//! binary itself on this machine. Another executor (e.g. Slurm's `srun`) plugs in there.

use crate::store::{RunDir, RunInfo, Status};
use crate::sweep::record::{Invocation, SweepRecord};
use crate::sweep::{Plan, PlannedRun};
use crate::train::now_rfc3339;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Instant;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;

/// Where a run executes: a CPU job with `threads` threads, or a place on GPU `gpu`.
#[derive(Debug, Clone, PartialEq)]
pub struct Slot {
    pub index: usize,
    pub gpu: Option<usize>,
    pub threads: usize,
}

/// Builds the command that trains one run in one slot.
pub trait Executor: Send + Sync {
    fn command(&self, run_dir: &Path, slot: &Slot) -> Command;
}

/// Runs `ddim-sweep train --run-dir DIR` on this machine: `OMP_NUM_THREADS` shares the cores
/// between CPU jobs (unless set by the user); `CUDA_VISIBLE_DEVICES` pins a GPU slot.
pub struct LocalExecutor {
    pub binary: PathBuf,
}

impl Executor for LocalExecutor {
    fn command(&self, run_dir: &Path, slot: &Slot) -> Command {
        let mut c = Command::new(&self.binary);
        c.arg("train").arg("--run-dir").arg(run_dir);
        if std::env::var_os("OMP_NUM_THREADS").is_none() {
            c.env("OMP_NUM_THREADS", slot.threads.to_string());
        }
        if let Some(g) = slot.gpu {
            c.env("CUDA_VISIBLE_DEVICES", g.to_string());
        }
        c
    }
}

/// How to schedule.
#[derive(Debug, Clone)]
pub struct Options {
    pub jobs: usize,
    pub gpus: Vec<usize>,
    pub runs_per_gpu: usize,
    pub fail_fast: bool,
    /// The command line, for the sweep record.
    pub args: Vec<String>,
}

impl Options {
    /// The slots: `runs_per_gpu` per listed GPU, else `jobs` CPU/auto slots sharing the cores.
    pub fn slots(&self) -> Vec<Slot> {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        if !self.gpus.is_empty() {
            let k = self.runs_per_gpu.max(1);
            let total = self.gpus.len() * k;
            let threads = (cores / total).max(1);
            return self
                .gpus
                .iter()
                .flat_map(|&g| std::iter::repeat_n(g, k))
                .enumerate()
                .map(|(index, g)| Slot {
                    index,
                    gpu: Some(g),
                    threads,
                })
                .collect();
        }
        let jobs = self.jobs.max(1);
        let threads = (cores / jobs).max(1);
        (0..jobs)
            .map(|index| Slot {
                index,
                gpu: None,
                threads,
            })
            .collect()
    }
}

/// What happened to the runs of one invocation.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub completed: Vec<String>,
    pub failed: Vec<(String, String)>,
    pub interrupted: Vec<String>,
    /// Stopped by this signal (exit code 130 or 143).
    pub signal: Option<i32>,
}

impl Summary {
    pub fn exit_code(&self) -> u8 {
        match self.signal {
            Some(libc::SIGINT) => 130,
            Some(_) => 143,
            None if !self.failed.is_empty() => 1,
            None => 0,
        }
    }
}

enum Event {
    Line {
        run: usize,
        line: String,
    },
    Exited {
        run: usize,
        code: Option<i32>,
        signal: Option<i32>,
    },
}

struct Active {
    pid: u32,
    slot: Slot,
    bar: ProgressBar,
    started: Instant,
}

/// Prints a line above the bars (or plainly when there are none).
fn say(multi: &MultiProgress, line: String) {
    if multi.is_hidden() {
        println!("{line}");
        let _ = std::io::stdout().flush();
    } else {
        let _ = multi.println(line);
    }
}

/// Runs `todo` (indices into `plan.runs`), at most one per slot at a time.
pub async fn execute(
    plan: &Plan,
    todo: Vec<usize>,
    executor: &dyn Executor,
    opts: &Options,
    record: &mut SweepRecord,
) -> anyhow::Result<Summary> {
    let total = todo.len();
    let mut invocation = Invocation {
        started: now_rfc3339(),
        host: crate::train::hostname(),
        pid: std::process::id(),
        args: opts.args.clone(),
        planned: plan.runs.len(),
        skipped: plan.runs.len() - total,
        ..Default::default()
    };
    record.invocations.push(invocation.clone());
    record.write(&plan.sweep_dir)?;

    let multi =
        MultiProgress::with_draw_target(if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        });
    let main = multi.add(ProgressBar::new(total as u64));
    main.set_style(
        ProgressStyle::with_template(
            "{prefix} [{bar:30}] {pos}/{len} runs, {elapsed} elapsed, ETA {eta}",
        )
        .unwrap()
        .progress_chars("=> "),
    );
    main.set_prefix(plan.label.clone());
    main.enable_steady_tick(std::time::Duration::from_millis(500));

    let (tx, mut rx) = mpsc::unbounded_channel::<Event>();
    let mut queue: std::collections::VecDeque<usize> = todo.into();
    let mut free: Vec<Slot> = opts.slots();
    free.reverse();
    let mut active: HashMap<usize, Active> = HashMap::new();
    let mut summary = Summary::default();
    let mut stopping: Option<i32> = None;
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut done = 0usize;

    loop {
        while stopping.is_none() && !queue.is_empty() && !free.is_empty() {
            let run = queue.pop_front().unwrap();
            let slot = free.pop().unwrap();
            let r = &plan.runs[run];
            match launch(r, run, &slot, executor, tx.clone()) {
                Ok(pid) => {
                    let bar = multi.insert_before(&main, ProgressBar::new_spinner());
                    bar.set_style(ProgressStyle::with_template("  {prefix} {wide_msg}").unwrap());
                    bar.set_prefix(format!("{} {}", r.id, r.varying_text()));
                    bar.set_message("starting");
                    say(
                        &multi,
                        format!(
                            "started   {} {}{}",
                            r.id,
                            r.varying_text(),
                            slot_text(&slot)
                        ),
                    );
                    active.insert(
                        run,
                        Active {
                            pid,
                            slot,
                            bar,
                            started: Instant::now(),
                        },
                    );
                }
                Err(e) => {
                    let reason = format!("could not start: {e:#}");
                    mark(&r.dir, Status::Failed, &reason);
                    say(
                        &multi,
                        format!("FAILED    {} {}: {reason}", r.id, r.varying_text()),
                    );
                    summary.failed.push((r.id.clone(), reason));
                    free.push(slot);
                    done += 1;
                    main.set_position(done as u64);
                    if opts.fail_fast {
                        stopping = Some(libc::SIGTERM);
                    }
                }
            }
        }
        if active.is_empty() && (queue.is_empty() || stopping.is_some()) {
            break;
        }
        tokio::select! {
            ev = rx.recv() => {
                let Some(ev) = ev else { break };
                match ev {
                    Event::Line { run, line } => {
                        if let Some(a) = active.get(&run) {
                            if let Some(msg) = progress_message(&line) {
                                a.bar.set_message(msg);
                            }
                        }
                    }
                    Event::Exited { run, code, signal } => {
                        let Some(a) = active.remove(&run) else { continue };
                        a.bar.finish_and_clear();
                        multi.remove(&a.bar);
                        free.push(a.slot.clone());
                        done += 1;
                        main.set_position(done as u64);
                        let r = &plan.runs[run];
                        let info = RunDir::new(&r.dir).read_info().ok().flatten();
                        let secs = a.started.elapsed().as_secs_f64();
                        match classify(code, signal, info.as_ref()) {
                            Status::Completed => {
                                let m = info.as_ref().map(metrics_text).unwrap_or_default();
                                say(&multi, format!("completed {} {} in {secs:.1}s{m}", r.id, r.varying_text()));
                                summary.completed.push(r.id.clone());
                            }
                            Status::Interrupted => {
                                if info.as_ref().map(|i| i.status) != Some(Status::Interrupted) {
                                    mark(&r.dir, Status::Interrupted, "stopped before it could checkpoint; continues from its last checkpoint");
                                }
                                say(&multi, format!("stopped   {} {} (resumable)", r.id, r.varying_text()));
                                summary.interrupted.push(r.id.clone());
                            }
                            _ => {
                                let reason = failure_reason(code, signal, info.as_ref());
                                if info.as_ref().map(|i| i.status) != Some(Status::Failed) {
                                    mark(&r.dir, Status::Failed, &reason);
                                }
                                say(&multi, format!("FAILED    {} {}: {reason} (log: {})", r.id, r.varying_text(), r.dir.join("train.log").display()));
                                summary.failed.push((r.id.clone(), reason));
                                if opts.fail_fast && stopping.is_none() {
                                    say(&multi, "--fail-fast: stopping the other runs".into());
                                    stopping = Some(libc::SIGTERM);
                                    for a in active.values() {
                                        kill(a.pid, libc::SIGTERM);
                                    }
                                }
                            }
                        }
                    }
                }
            }
            _ = sigint.recv() => {
                handle_signal(libc::SIGINT, &mut stopping, &active, &multi, plan);
            }
            _ = sigterm.recv() => {
                handle_signal(libc::SIGTERM, &mut stopping, &active, &multi, plan);
            }
        }
    }
    main.finish_and_clear();
    if let Some(sig) = stopping {
        if !opts.fail_fast || sig == libc::SIGINT || summary.failed.is_empty() {
            summary.signal = Some(sig);
        }
        if opts.fail_fast && !summary.failed.is_empty() {
            summary.signal = None;
        }
    }
    invocation.ended = Some(now_rfc3339());
    invocation.completed = summary.completed.len();
    invocation.failed = summary.failed.len();
    invocation.interrupted = summary.interrupted.len() + queue.len();
    invocation.outcome = match summary.signal {
        Some(libc::SIGINT) => "interrupted (SIGINT)".into(),
        Some(_) => "interrupted (SIGTERM)".into(),
        None if !summary.failed.is_empty() => "some runs failed".into(),
        None => "done".into(),
    };
    *record.invocations.last_mut().unwrap() = invocation;
    record.write(&plan.sweep_dir)?;
    Ok(summary)
}

fn slot_text(slot: &Slot) -> String {
    match slot.gpu {
        Some(g) => format!(" [gpu {g}]"),
        None => String::new(),
    }
}

fn handle_signal(
    sig: i32,
    stopping: &mut Option<i32>,
    active: &HashMap<usize, Active>,
    multi: &MultiProgress,
    plan: &Plan,
) {
    if stopping.is_none() {
        *stopping = Some(sig);
        say(
            multi,
            format!(
                "{}: stopping {} run(s) after their current step (they checkpoint); press Ctrl-C again to stop at once",
                if sig == libc::SIGINT { "SIGINT" } else { "SIGTERM" },
                active.len()
            ),
        );
        for a in active.values() {
            kill(a.pid, sig);
        }
    } else {
        // Second signal: stop now. The runs continue later from their last checkpoint.
        for (run, a) in active {
            kill(a.pid, libc::SIGKILL);
            mark(
                &plan.runs[*run].dir,
                Status::Interrupted,
                "killed by a second signal; continues from its last checkpoint",
            );
        }
        say(
            multi,
            "stopped at once; run the same command again to resume".into(),
        );
        std::process::exit(if stopping.unwrap_or(sig) == libc::SIGINT {
            130
        } else {
            143
        });
    }
}

fn kill(pid: u32, sig: i32) {
    // SAFETY: kill(2) on a child we started.
    unsafe {
        libc::kill(pid as i32, sig);
    }
}

/// Starts one run; its output goes to `train.log` in the run directory, and its progress
/// lines to the orchestrator.
fn launch(
    r: &PlannedRun,
    run: usize,
    slot: &Slot,
    executor: &dyn Executor,
    tx: mpsc::UnboundedSender<Event>,
) -> anyhow::Result<u32> {
    let log_path = r.dir.join("train.log");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)?;
    let mut cmd = executor.command(&r.dir, slot);
    // Own process group: a terminal's Ctrl-C reaches only the orchestrator, which forwards it
    // once (a second SIGINT would make a run stop without its checkpoint).
    cmd.process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(false);
    // If the orchestrator dies (even by SIGKILL), each run gets SIGTERM: it checkpoints and
    // records `interrupted`, so the next `ddim-sweep run` resumes it.
    // SAFETY: prctl is async-signal-safe and touches only the child's own state.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGTERM as libc::c_ulong,
                0,
                0,
                0,
            ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn()?;
    let pid = child.id().unwrap_or(0);
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let log = std::sync::Arc::new(std::sync::Mutex::new(log));
    {
        let mut l = log.lock().unwrap();
        let _ = writeln!(
            l,
            "--- {} attempt by ddim-sweep run (pid {}){}",
            now_rfc3339(),
            std::process::id(),
            slot_text(slot)
        );
    }
    let pump = |stream: Box<dyn tokio::io::AsyncRead + Unpin + Send>,
                tx: mpsc::UnboundedSender<Event>,
                log: std::sync::Arc<std::sync::Mutex<std::fs::File>>| async move {
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            {
                let mut l = log.lock().unwrap();
                let _ = writeln!(l, "{line}");
            }
            let _ = tx.send(Event::Line { run, line });
        }
    };
    let out_task = tokio::spawn(pump(Box::new(stdout), tx.clone(), log.clone()));
    let err_task = tokio::spawn(pump(Box::new(stderr), tx.clone(), log.clone()));
    tokio::spawn(async move {
        let status = child.wait().await;
        let _ = out_task.await;
        let _ = err_task.await;
        let (code, signal) = match status {
            Ok(s) => (s.code(), std::os::unix::process::ExitStatusExt::signal(&s)),
            Err(_) => (None, None),
        };
        let _ = tx.send(Event::Exited { run, code, signal });
    });
    Ok(pid)
}

/// The run's fate from its exit and its run.json.
fn classify(code: Option<i32>, signal: Option<i32>, info: Option<&RunInfo>) -> Status {
    let status = info.map(|i| i.status);
    match (code, signal) {
        (Some(0), _) if status == Some(Status::Completed) => Status::Completed,
        (Some(130 | 143), _) => Status::Interrupted,
        (_, Some(s)) if s == libc::SIGINT || s == libc::SIGTERM => Status::Interrupted,
        _ => Status::Failed,
    }
}

fn failure_reason(code: Option<i32>, signal: Option<i32>, info: Option<&RunInfo>) -> String {
    if let Some(i) = info {
        if i.status == Status::Failed {
            if let Some(r) = &i.reason {
                return r.clone();
            }
        }
    }
    match (code, signal) {
        (_, Some(libc::SIGKILL)) => "killed (SIGKILL; out of memory?)".into(),
        (_, Some(s)) => format!("killed by signal {s}"),
        (Some(0), _) => "exited 0 without completing".into(),
        (Some(c), _) => format!("exited with code {c}"),
        _ => "ended for an unknown reason".into(),
    }
}

fn metrics_text(info: &RunInfo) -> String {
    info.metrics
        .iter()
        .map(|(k, v)| format!(" {k} {v:.7}"))
        .collect::<Vec<_>>()
        .join("")
}

/// Turns a train progress line (`epoch 2/5 step 30/50 loss 0.21 images/s 180.2`, or an
/// epoch's summary line) into the run's short status: epoch, step, loss, images/s.
fn progress_message(line: &str) -> Option<String> {
    let tokens: Vec<&str> = line.split_whitespace().collect();
    if tokens.first() != Some(&"epoch") {
        return None;
    }
    let after = |key: &str| {
        tokens
            .iter()
            .position(|t| *t == key)
            .and_then(|i| tokens.get(i + 1))
            .copied()
    };
    let mut msg = format!(
        "epoch {}",
        after("epoch").unwrap_or("?").trim_end_matches(':')
    );
    if let Some(step) = after("step") {
        msg.push_str(&format!(" step {step}"));
    }
    if let Some(loss) = after("loss") {
        msg.push_str(&format!(" loss {loss}"));
    }
    // "images/s 180.2" within an epoch, "180.2 images/s" at its end
    let ips = after("images/s")
        .filter(|v| v.parse::<f64>().is_ok())
        .or_else(|| {
            let i = tokens.iter().position(|t| *t == "images/s")?;
            tokens.get(i.checked_sub(1)?).copied()
        });
    if let Some(v) = ips {
        msg.push_str(&format!(" {v} images/s"));
    }
    Some(msg)
}

/// Sets a run's status in its run.json (keeping the rest).
pub fn mark(dir: &Path, status: Status, reason: &str) {
    let rd = RunDir::new(dir);
    let mut info = rd.read_info().ok().flatten().unwrap_or_default();
    info.status = status;
    info.reason = Some(reason.to_string());
    info.ended = Some(now_rfc3339());
    let _ = rd.write_info(&info);
}

/// Prepares a run before it is queued: a new run gets its flags.yaml and a `queued` run.json
/// with the sweep's label; a run left `running` by a process that is gone becomes
/// `interrupted`.
pub fn prepare_run(r: &PlannedRun, label: &str) -> anyhow::Result<()> {
    let rd = RunDir::new(&r.dir);
    std::fs::create_dir_all(&r.dir)?;
    if !rd.flags().exists() {
        crate::store::write_atomic(&rd.flags(), r.flags.to_yaml().as_bytes())?;
    } else {
        // The directory is named by the hash of its flags: other flags there mean it was
        // edited by hand; never train it under the sweep's name.
        let stored = crate::flags::Flags::from_yaml(&std::fs::read_to_string(rd.flags())?)?;
        let diff = stored.differences(&r.flags);
        if !diff.is_empty() {
            let (k, a, b) = &diff[0];
            anyhow::bail!(
                "{} holds flags that are not the sweep's ({k}: {} there, {} planned): move it away and run again",
                r.dir.display(),
                crate::flags::show_value(a),
                crate::flags::show_value(b)
            );
        }
    }
    match rd.read_info()? {
        None => {
            let pairs: Vec<(String, String)> = r
                .varying
                .iter()
                .map(|(k, v)| (k.clone(), crate::flags::plain_value(v)))
                .collect();
            let info = RunInfo {
                status: Status::Queued,
                label: Some(label.to_string()),
                name: (!pairs.is_empty()).then(|| crate::track::readable_name(&pairs)),
                created: now_rfc3339(),
                seed: r.flags.seed,
                ..Default::default()
            };
            rd.write_info(&info)?;
        }
        Some(mut info) => {
            if info.status == Status::Running && !rd.is_locked() {
                info.status = Status::Interrupted;
                info.reason = Some(format!(
                    "its process (pid {} on {}) is gone; continues from its last checkpoint",
                    info.pid, info.host
                ));
                rd.write_info(&info)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn progress_lines() {
        assert_eq!(
            super::progress_message("epoch 2/5 step 30/50 loss 0.210000 images/s 180.2").unwrap(),
            "epoch 2/5 step 30/50 loss 0.210000 180.2 images/s"
        );
        assert_eq!(
            super::progress_message("epoch 1/3 step 10 loss 0.711444 noise_loss 0.7 image_loss 2.1 val_noise_loss 0.5 val_image_loss 1.5 168.4 images/s 0.9s").unwrap(),
            "epoch 1/3 step 10 loss 0.711444 168.4 images/s"
        );
        assert_eq!(
            super::progress_message("epoch 0 (untrained): val_noise_loss 0.79").unwrap(),
            "epoch 0"
        );
        assert!(super::progress_message("training runs/x on cpu").is_none());
    }

    #[test]
    fn slots_pack_runs_per_gpu_and_share_cores() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let o = super::Options {
            jobs: 3,
            gpus: vec![0, 2],
            runs_per_gpu: 2,
            fail_fast: false,
            args: vec![],
        };
        let s = o.slots();
        let gpus: Vec<_> = s.iter().map(|s| s.gpu).collect();
        assert_eq!(
            gpus,
            [Some(0), Some(0), Some(2), Some(2)],
            "--jobs is ignored with --gpus"
        );
        assert!(s.iter().all(|s| s.threads == (cores / 4).max(1)));
        assert_eq!(s.iter().map(|s| s.index).collect::<Vec<_>>(), [0, 1, 2, 3]);
        let cpu = super::Options { gpus: vec![], ..o }.slots();
        assert_eq!(cpu.len(), 3);
        assert!(cpu
            .iter()
            .all(|s| s.gpu.is_none() && s.threads == (cores / 3).max(1)));
    }
}
