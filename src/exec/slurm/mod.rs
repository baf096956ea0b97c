//! The Slurm executor: a sweep's runs go to Slurm as one job array (held until every run is
//! queued and knows its task, then released); the executor then watches the tasks with
//! `squeue` and reports starts and ends. Progress and status come from the runs' own files
//! on the shared filesystem.
//!
//! - Each task runs `ddim-sweep train --wait --run-dir DIR` by `exec` from its batch script, so
//!   Slurm's signals reach the run itself: `--signal=B:USR1@S` warns it before the time limit
//!   (it checkpoints and ends `interrupted`), `scancel` ends it `interrupted`.
//! - A task that ended without writing its end (killed, node lost, out of memory) is settled
//!   from Slurm's view of it (`sacct`, or `scontrol show job` where there is no accounting).
//! - Runs stopped by the cluster (time limit, preemption, node failure) are resubmitted while
//!   the executor watches, as long as they make progress; a run cancelled by a person is not.

pub mod client;
pub mod settings;

pub use settings::Settings;

use super::launch::{Launch, Word};
use super::{Control, Controls, Event, Executor};
use crate::process::Signal;
use crate::store::run_info::Task;
use crate::store::{Ended, RunDir, Status};
use crate::sweep::{Plan, PlannedRun};
use anyhow::Context;
use client::{Final, Live};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

/// The executor's kind, as a run's task names it (`run.json` `task.kind`).
pub const KIND: &str = "slurm";

/// How runs are submitted.
#[derive(Debug, Clone)]
pub struct Submission {
    pub settings: Settings,
    /// The `ddim-sweep` binary that tasks run (on a filesystem the nodes see).
    pub binary: PathBuf,
    /// At most this many tasks at once (`--array=...%N`).
    pub throttle: Option<usize>,
    /// Submit and return, without watching.
    pub detach: bool,
    /// How often `squeue` is asked.
    pub poll: Duration,
}

/// What the executor knows of one run it watches.
#[derive(Debug, Clone)]
struct Watch {
    key: String,
    started: bool,
    /// The run's step when its task was submitted: a resubmission needs progress since.
    step_at_submit: i64,
}

pub struct SlurmExecutor {
    sub: Submission,
    /// Runs already in Slurm (from [`Executor::reconcile`]): watched, not submitted.
    adopted: HashMap<usize, String>,
    control: Controls,
    /// Job ids submitted by this invocation.
    pub jobs: Vec<String>,
}

impl SlurmExecutor {
    pub fn new(sub: Submission) -> SlurmExecutor {
        SlurmExecutor {
            sub,
            adopted: HashMap::new(),
            control: Controls::default(),
            jobs: Vec::new(),
        }
    }
}

/// How often `squeue` is asked: `DDIM_SLURM_POLL` seconds (default 5).
pub fn poll_interval() -> Duration {
    let secs = std::env::var("DDIM_SLURM_POLL")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|s| *s > 0.0)
        .unwrap_or(5.0);
    Duration::from_secs_f64(secs)
}

/// The job name of a sweep's tasks: how its tasks are found in `squeue`.
pub fn job_name(label: &str) -> String {
    format!("ddim-sweep.{label}")
}

impl Executor for SlurmExecutor {
    fn reconcile(&mut self, plan: &Plan) -> anyhow::Result<Vec<usize>> {
        let live = client::squeue(&job_name(&plan.label))?;
        for (i, r) in plan.runs.iter().enumerate() {
            let rd = r.run_dir();
            let Ok(Some(info)) = rd.read_info() else {
                continue;
            };
            let Some(task) = info.task.as_ref().filter(|t| t.kind == KIND) else {
                continue;
            };
            let key = task.key.clone();
            // Whatever run.json says (Slurm may have requeued an interrupted task itself), a
            // task still in the queue is watched, never submitted again.
            if live.contains_key(&key) && info.status != Status::Completed {
                self.adopted.insert(i, key);
            } else if info.status == Status::Running {
                rd.settle(&ended_by(client::final_state(&key).as_ref(), &key));
            }
        }
        let mut adopted: Vec<usize> = self.adopted.keys().copied().collect();
        adopted.sort();
        Ok(adopted)
    }

    fn start(
        &mut self,
        plan: &Plan,
        runs: Vec<usize>,
        events: UnboundedSender<Event>,
    ) -> anyhow::Result<()> {
        let mut watched: HashMap<usize, Watch> = HashMap::new();
        for (&i, key) in &self.adopted {
            watched.insert(i, watch(&plan.runs[i], key));
        }
        let new: Vec<usize> = runs
            .into_iter()
            .filter(|i| !self.adopted.contains_key(i))
            .collect();
        if !new.is_empty() {
            let runs: Vec<(usize, &PlannedRun)> = new.iter().map(|&i| (i, &plan.runs[i])).collect();
            let (job, keys) = submit(&self.sub, &plan.label, &plan.sweep_dir, &runs)?;
            self.jobs.push(job);
            for (i, key) in new.iter().zip(keys) {
                watched.insert(*i, watch(&plan.runs[*i], &key));
            }
        }
        if self.sub.detach {
            return Ok(()); // dropping `events` ends the orchestrator's wait
        }
        let rx = self.control.open();
        let watcher = Watcher {
            sub: self.sub.clone(),
            label: plan.label.clone(),
            sweep_dir: plan.sweep_dir.clone(),
            runs: watched.keys().map(|&i| (i, plan.runs[i].clone())).collect(),
            watched,
            live: HashMap::new(),
            stopping: false,
            unsettled: 0,
            events,
        };
        tokio::spawn(watcher.run(rx));
        Ok(())
    }

    /// Submits the runs as another job array (the watcher watches it), or, detached,
    /// submits nothing: a later `ddim-sweep run` proposes them again.
    fn add(&mut self, plan: &Plan, runs: Vec<usize>) -> anyhow::Result<()> {
        if !self.sub.detach {
            let runs = runs
                .into_iter()
                .map(|i| (i, plan.runs[i].clone()))
                .collect();
            self.control.send(Control::Add(runs));
        }
        Ok(())
    }

    fn dry_run_text(&self) -> Option<String> {
        Some(format!(
            "slurm: the runs to do go as one job array{}, each task with sbatch {}",
            self.sub
                .throttle
                .map(|j| format!(" (at most {j} at once)"))
                .unwrap_or_default(),
            self.sub.settings.sbatch_options().join(" ")
        ))
    }

    fn controls(&self) -> &Controls {
        &self.control
    }

    fn detached(&self) -> Option<String> {
        (self.sub.detach).then(|| {
            if self.jobs.is_empty() {
                "nothing new submitted".to_string()
            } else {
                format!("submitted as Slurm job {}", self.jobs.join(", "))
            }
        })
    }
}

fn watch(run: &PlannedRun, key: &str) -> Watch {
    let step = run
        .run_dir()
        .read_info()
        .ok()
        .flatten()
        .map_or(0, |info| info.step);
    Watch {
        key: key.to_string(),
        started: false,
        step_at_submit: step,
    }
}

/// How a task that is gone from the queue ended, as the run's settle needs it.
fn ended_by(f: Option<&Final>, key: &str) -> Ended {
    match f {
        Some(f) => Ended::Scheduler {
            resumable: f.resumable(),
            reason: format!(
                "Slurm task {key} ended {} (exit code {}, from {}) without recording its end",
                f.state, f.exit_code, f.source
            ),
        },
        None => Ended::Scheduler {
            resumable: true,
            reason: format!(
                "Slurm task {key} is gone and Slurm no longer knows how it ended; continues from its last checkpoint"
            ),
        },
    }
}

/// Submits `runs` as one held job array, queues each run with its task, then releases the
/// job. Nothing is changed when Slurm refuses the job.
fn submit(
    sub: &Submission,
    label: &str,
    sweep_dir: &Path,
    runs: &[(usize, &PlannedRun)],
) -> anyhow::Result<(String, Vec<String>)> {
    let dir = std::path::absolute(sweep_dir.join("slurm"))?;
    fs_err::create_dir_all(&dir)?;
    let stamp = humantime::format_rfc3339_millis(std::time::SystemTime::now())
        .to_string()
        .replace([':', '.'], "-");
    let script = dir.join(format!("array-{stamp}.sh"));
    let run_dirs: Vec<PathBuf> = runs
        .iter()
        .map(|(_, r)| std::path::absolute(&r.dir))
        .collect::<Result<_, _>>()?;
    crate::files::write_atomic(
        &script,
        batch_script(label, &sub.binary, &run_dirs).as_bytes(),
    )?;
    let args = sbatch_args(sub, label, runs.len(), &dir, &script);
    let job = client::sbatch(&args)?;
    let keys: Vec<String> = (0..runs.len()).map(|t| format!("{job}_{t}")).collect();
    let queued = (|| -> anyhow::Result<()> {
        for (t, (_, r)) in runs.iter().enumerate() {
            r.queue(label)
                .with_context(|| format!("preparing {}", r.dir.display()))?;
            r.run_dir().set_task(Task {
                kind: KIND.into(),
                key: format!("{job}_{t}"),
                ..Default::default()
            })?;
        }
        client::release(&job)
    })();
    if let Err(e) = queued {
        let _ = client::scancel(std::slice::from_ref(&job), None);
        return Err(e);
    }
    Ok((job, keys))
}

fn sbatch_args(
    sub: &Submission,
    label: &str,
    n: usize,
    dir: &std::path::Path,
    script: &std::path::Path,
) -> Vec<String> {
    let throttle = sub.throttle.map(|j| format!("%{j}")).unwrap_or_default();
    let mut a = vec![
        format!("--job-name={}", job_name(label)),
        format!("--array=0-{}{throttle}", n - 1),
        "--hold".into(),
        // sbatch reads `%` in the file name as a pattern: a literal one is `%%`.
        format!(
            "--output={}/%A_%a.out",
            dir.display().to_string().replace('%', "%%")
        ),
    ];
    a.extend(sub.settings.sbatch_options());
    a.push(script.display().to_string());
    a
}

/// The array's batch script: task T trains the T-th run, its output appended to the run's
/// train.log, by the one `train` command line (`exec`: Slurm's signals reach the run), its
/// task named to it (`DDIM_TASK_*`, recorded in its run.json).
fn batch_script(label: &str, binary: &std::path::Path, runs: &[PathBuf]) -> String {
    let quote =
        |p: &std::path::Path| format!("'{}'", p.display().to_string().replace('\'', r"'\''"));
    let mut s = format!(
        "#!/bin/bash\n# ddim-sweep: sweep `{label}`, {} run(s); task T trains RUNS[T].\nRUNS=(\n",
        runs.len()
    );
    for r in runs {
        s.push_str(&format!("  {}\n", quote(r)));
    }
    s.push_str(
        r#")
DIR=${RUNS[$SLURM_ARRAY_TASK_ID]}
exec >> "$DIR/train.log" 2>&1
echo "--- $(date -u +%Y-%m-%dT%H:%M:%SZ) attempt by Slurm task ${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID} on $(hostname)"
"#,
    );
    let launch = Launch::new(binary)
        .env(
            "OMP_NUM_THREADS",
            Word::Shell("${OMP_NUM_THREADS:-${SLURM_CPUS_PER_TASK:-1}}".into()),
        )
        .task(
            KIND,
            Word::Shell("${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}".into()),
            Word::Shell("${SLURMD_NODENAME}".into()),
            Word::Shell("${SLURM_RESTART_COUNT}".into()),
        );
    s.push_str(&launch.script(Word::Shell("$DIR".into())));
    s
}

/// `squeue`'s answers for `runs` (see [`super::tasks_now`]): asked once per sweep.
#[derive(Default)]
pub struct Asked(HashMap<String, Option<HashMap<String, Live>>>);

impl Asked {
    /// Slurm's state of task `key` of sweep `label` now: `123_4 RUNNING on n1`, `123_5
    /// PENDING (JobArrayTaskLimit)`, `123_6 gone` (left the queue), `123_7 ?` (no answer).
    pub fn state(&mut self, label: &str, key: &str) -> String {
        let queue = self
            .0
            .entry(label.to_string())
            .or_insert_with(|| client::squeue(&job_name(label)).ok());
        match queue.as_ref().map(|q| q.get(key)) {
            None => format!("{key} ?"),
            Some(None) => format!("{key} gone"),
            Some(Some(l)) if l.state == "PENDING" && l.reason != "None" => {
                format!("{key} PENDING ({})", l.reason)
            }
            Some(Some(l)) if l.state == "PENDING" => format!("{key} PENDING"),
            Some(Some(l)) => format!("{key} {} on {}", l.state, l.node),
        }
    }
}

/// The executor's task: asks `squeue` every `poll`, reports starts and ends, resubmits runs
/// the cluster stopped, cancels on request.
struct Watcher {
    sub: Submission,
    label: String,
    sweep_dir: PathBuf,
    /// The runs watched (or once watched), by their index into the plan's runs.
    runs: HashMap<usize, PlannedRun>,
    watched: HashMap<usize, Watch>,
    live: HashMap<String, Live>,
    stopping: bool,
    /// Ends reported that the orchestrator has not settled: it may add runs meanwhile.
    unsettled: usize,
    events: UnboundedSender<Event>,
}

impl Watcher {
    async fn run(mut self, mut control: UnboundedReceiver<Control>) {
        let name = job_name(&self.label);
        let mut tick = tokio::time::interval(self.sub.poll);
        while !self.watched.is_empty() || (self.unsettled > 0 && !self.stopping) {
            tokio::select! {
                _ = tick.tick() => {
                    // A failed query (controller busy or restarting) is asked again next time.
                    if let Ok(live) = client::squeue(&name) {
                        self.live = live;
                        self.observe();
                    }
                }
                c = control.recv() => match c {
                    Some(Control::Stop(sig)) => self.cancel(Some(sig)),
                    Some(Control::Kill) => self.cancel(None),
                    Some(Control::Proceed) => self.unsettled = self.unsettled.saturating_sub(1),
                    Some(Control::Add(runs)) if !self.stopping => self.submit_more(runs),
                    Some(Control::Add(_)) => {}
                    Some(Control::StopRun(i)) => {
                        if let Some(w) = self.watched.get(&i) {
                            let _ = client::scancel(std::slice::from_ref(&w.key), Some("TERM"));
                        }
                    }
                    None => self.stopping = true,
                },
            }
        }
    }

    /// Runs added after the start: one more job array, watched like the first.
    fn submit_more(&mut self, added: Vec<(usize, PlannedRun)>) {
        let runs: Vec<usize> = added.iter().map(|(i, _)| *i).collect();
        self.runs.extend(added);
        let refs: Vec<(usize, &PlannedRun)> = runs.iter().map(|i| (*i, &self.runs[i])).collect();
        match submit(&self.sub, &self.label, &self.sweep_dir, &refs) {
            Ok((job, keys)) => {
                for (&i, key) in runs.iter().zip(keys) {
                    self.watched.insert(i, watch(&self.runs[&i], &key));
                }
                if let Some(&first) = runs.first() {
                    let _ = self.events.send(Event::Note {
                        run: first,
                        text: format!(
                            "submitted {} more run(s) as Slurm job {job}, first",
                            runs.len()
                        ),
                    });
                }
            }
            Err(e) => {
                for &i in &runs {
                    self.unsettled += 1;
                    let _ = self.events.send(Event::Ended {
                        run: i,
                        ended: Ended::Scheduler {
                            resumable: true,
                            reason: format!("could not submit to Slurm: {e:#}"),
                        },
                    });
                }
            }
        }
    }

    fn observe(&mut self) {
        let mut runs: Vec<usize> = self.watched.keys().copied().collect();
        runs.sort();
        for i in runs {
            let w = self.watched[&i].clone();
            match self.live.get(&w.key) {
                Some(l) if l.state == "RUNNING" && !w.started => {
                    self.watched.get_mut(&i).expect("watched").started = true;
                    let place = format!(" [slurm {} on {}]", w.key, l.node);
                    let _ = self.events.send(Event::Started { run: i, place });
                }
                Some(_) => {}
                None => self.gone(i, &w),
            }
        }
    }

    /// The task of run `i` left the queue: resubmit it (stopped by the cluster, progressing)
    /// or report its end.
    fn gone(&mut self, i: usize, w: &Watch) {
        let rd: RunDir = self.runs[&i].run_dir();
        let info = rd.read_info().ok().flatten().unwrap_or_default();
        if self.stopping && info.status == Status::Queued {
            self.watched.remove(&i); // cancelled before it started: not started
            return;
        }
        let warned = info
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("SIGUSR1"));
        // Slurm is asked (accounting may take seconds) only where the run's own record does
        // not say it all: it recorded no end, or an interruption whose cause decides a
        // resubmission. A recorded end wins over Slurm's when the run is settled.
        let fin = match info.status {
            Status::Queued | Status::Running => client::final_state(&w.key),
            Status::Interrupted if !warned && !self.stopping => client::final_state(&w.key),
            _ => None,
        };
        let by_cluster = warned || fin.as_ref().is_some_and(Final::by_the_cluster);
        if !self.stopping
            && info.status == Status::Interrupted
            && by_cluster
            && info.step > w.step_at_submit
        {
            let run = (i, &self.runs[&i]);
            if let Ok((_, keys)) = submit(&self.sub, &self.label, &self.sweep_dir, &[run]) {
                let why = info.reason.clone().unwrap_or_default();
                let _ = self.events.send(Event::Note {
                    run: i,
                    text: format!("resubmitted as {} ({why})", keys[0]),
                });
                self.watched.insert(i, watch(&self.runs[&i], &keys[0]));
                return;
            }
        }
        self.watched.remove(&i);
        let ended = ended_by(fin.as_ref(), &w.key);
        self.unsettled += 1;
        let _ = self.events.send(Event::Ended { run: i, ended });
    }

    /// Cancels the watched tasks: pending ones leave the queue; running ones get `signal`
    /// (they checkpoint), or are killed when there is none.
    fn cancel(&mut self, signal: Option<Signal>) {
        self.stopping = true;
        let (mut pending, mut running) = (Vec::new(), Vec::new());
        for w in self.watched.values() {
            match self.live.get(&w.key) {
                Some(l) if l.state != "PENDING" => running.push(w.key.clone()),
                _ => pending.push(w.key.clone()),
            }
        }
        let _ = client::scancel(&pending, None);
        let sig = match signal {
            Some(Signal::Int) => "INT",
            Some(_) => "TERM",
            None => "KILL",
        };
        let _ = client::scancel(&running, Some(sig));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// sbatch reads `%` in `--output` as a pattern (`%A`, `%a`): one in the runs folder's
    /// path is written `%%`, so the log lands in that folder.
    #[test]
    fn a_percent_in_the_runs_folder_is_escaped_for_sbatch() {
        let sub = Submission {
            settings: Settings::default(),
            binary: PathBuf::from("/bin/ddim-sweep"),
            throttle: Some(2),
            detach: false,
            poll: Duration::from_secs(1),
        };
        let args = sbatch_args(
            &sub,
            "s",
            3,
            std::path::Path::new("/data/100%/runs/s/.slurm"),
            std::path::Path::new("/x/batch.sh"),
        );
        assert!(
            args.contains(&"--output=/data/100%%/runs/s/.slurm/%A_%a.out".to_string()),
            "{args:?}"
        );
        assert!(args.contains(&"--array=0-2%2".to_string()), "{args:?}");
    }
}
