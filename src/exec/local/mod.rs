//! The local executor: each run is a child process `ddim-sweep train --wait --run-dir DIR` on this
//! machine, in its own process group, its output appended to the run's `train.log`; at most
//! one run per slot (a CPU job sharing the cores, or a place on a GPU).

use super::launch::{Launch, Word};
use super::{Control, Controls, Event, Executor, Options};
use crate::process::now_rfc3339;
use crate::store::{Ended, RunDir};
use crate::sweep::Plan;
use anyhow::Context;
use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use tokio::process::Command;
use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};

/// Where a run executes: a CPU job with `threads` threads, or a place on GPU `gpu`.
#[derive(Debug, Clone, PartialEq)]
pub struct Slot {
    pub index: usize,
    pub gpu: Option<usize>,
    pub threads: usize,
}

impl Slot {
    /// ` [gpu N]`, or nothing for a CPU slot.
    pub fn text(&self) -> String {
        self.gpu.map(|g| format!(" [gpu {g}]")).unwrap_or_default()
    }
}

impl Options {
    /// The slots: `runs_per_gpu` per listed GPU, else `jobs` CPU/auto slots sharing the cores.
    pub fn slots(&self) -> Vec<Slot> {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        let places: Vec<Option<usize>> = if self.gpus.is_empty() {
            vec![None; self.jobs.max(1)]
        } else {
            let k = self.runs_per_gpu.max(1);
            self.gpus
                .iter()
                .flat_map(|&g| std::iter::repeat_n(Some(g), k))
                .collect()
        };
        let threads = (cores / places.len()).max(1);
        places
            .into_iter()
            .enumerate()
            .map(|(index, gpu)| Slot {
                index,
                gpu,
                threads,
            })
            .collect()
    }
}

/// Runs the binary itself on this machine: `OMP_NUM_THREADS` shares the cores between CPU
/// jobs (unless set by the user); `CUDA_VISIBLE_DEVICES` pins a GPU slot.
pub struct LocalExecutor {
    binary: PathBuf,
    slots: Vec<Slot>,
    control: Controls,
}

impl LocalExecutor {
    pub fn new(binary: PathBuf, opts: &Options) -> LocalExecutor {
        LocalExecutor {
            binary,
            slots: opts.slots(),
            control: Controls::default(),
        }
    }
}

/// The command that trains one run in one slot: its share of the cores (unless the user set
/// `OMP_NUM_THREADS`), its GPU.
fn train_command(binary: &Path, run_dir: &Path, slot: &Slot) -> anyhow::Result<Command> {
    let mut l = Launch::new(binary);
    if std::env::var_os("OMP_NUM_THREADS").is_none() {
        l = l.env("OMP_NUM_THREADS", Word::Text(slot.threads.to_string()));
    }
    if let Some(g) = slot.gpu {
        l = l.env("CUDA_VISIBLE_DEVICES", Word::Text(g.to_string()));
    }
    l.command(run_dir)
}

impl Executor for LocalExecutor {
    fn start(
        &mut self,
        plan: &Plan,
        runs: Vec<usize>,
        events: UnboundedSender<Event>,
    ) -> anyhow::Result<()> {
        for &i in &runs {
            let r = &plan.runs[i];
            r.queue(&plan.label)
                .with_context(|| format!("preparing {}", r.dir.display()))?;
        }
        let rx = self.control.open();
        let mut free = self.slots.clone();
        free.reverse();
        let scheduler = Scheduler {
            binary: self.binary.clone(),
            queue: runs
                .into_iter()
                .map(|i| (i, plan.runs[i].run_dir()))
                .collect(),
            free,
            active: HashMap::new(),
            unsettled: 0,
            events,
        };
        tokio::spawn(scheduler.run(rx));
        Ok(())
    }

    fn add(&mut self, plan: &Plan, runs: Vec<usize>) -> anyhow::Result<()> {
        for &i in &runs {
            let r = &plan.runs[i];
            r.queue(&plan.label)
                .with_context(|| format!("preparing {}", r.dir.display()))?;
        }
        let runs = runs
            .into_iter()
            .map(|i| (i, plan.runs[i].clone()))
            .collect();
        self.control.send(Control::Add(runs));
        Ok(())
    }

    fn controls(&self) -> &Controls {
        &self.control
    }
}

/// The executor's task: starts queued runs as slots free, reports starts and ends.
struct Scheduler {
    binary: PathBuf,
    queue: VecDeque<(usize, RunDir)>,
    free: Vec<Slot>,
    /// Run index -> (pid, slot).
    active: HashMap<usize, (u32, Slot)>,
    /// Ends the orchestrator has not settled yet: no run starts meanwhile, so that a
    /// failure under --fail-fast stops the sweep before the next run starts.
    unsettled: usize,
    events: UnboundedSender<Event>,
}

impl Scheduler {
    async fn run(mut self, mut control: UnboundedReceiver<Control>) {
        let (exit_tx, mut exits) = mpsc::unbounded_channel::<(usize, Ended)>();
        let mut stopping = false;
        loop {
            while !stopping
                && self.unsettled == 0
                && !self.free.is_empty()
                && !self.queue.is_empty()
            {
                let (run, dir) = self.queue.pop_front().expect("not empty");
                let slot = self.free.pop().expect("not empty");
                self.launch(run, dir, slot, exit_tx.clone());
            }
            // Done when nothing runs and, unless stopping, every end is settled (a settled
            // end may have added runs) and nothing is queued.
            if self.active.is_empty()
                && (stopping || (self.unsettled == 0 && self.queue.is_empty()))
            {
                return; // dropping `events` tells the orchestrator
            }
            tokio::select! {
                Some((run, ended)) = exits.recv() => {
                    if let Some((_, slot)) = self.active.remove(&run) {
                        self.free.push(slot);
                    }
                    self.unsettled += 1;
                    let _ = self.events.send(Event::Ended { run, ended });
                }
                c = control.recv() => match c {
                    Some(Control::Add(runs)) if !stopping => self
                        .queue
                        .extend(runs.into_iter().map(|(i, r)| (i, r.run_dir()))),
                    Some(Control::Add(_)) => {}
                    Some(Control::Proceed) => self.unsettled = self.unsettled.saturating_sub(1),
                    Some(Control::Stop(sig)) => {
                        stopping = true;
                        self.signal_all(sig.raw());
                    }
                    Some(Control::StopRun(run)) => {
                        if let Some((pid, _)) = self.active.get(&run) {
                            // SAFETY: kill(2) on a child we started.
                            unsafe {
                                libc::kill(*pid as i32, libc::SIGTERM);
                            }
                        }
                    }
                    Some(Control::Kill) => {
                        stopping = true;
                        self.signal_all(libc::SIGKILL);
                    }
                    None => stopping = true,
                },
            }
        }
    }

    fn signal_all(&self, sig: i32) {
        for (pid, _) in self.active.values() {
            // SAFETY: kill(2) on a child we started.
            unsafe {
                libc::kill(*pid as i32, sig);
            }
        }
    }

    fn launch(
        &mut self,
        run: usize,
        dir: RunDir,
        slot: Slot,
        exits: UnboundedSender<(usize, Ended)>,
    ) {
        match train_command(&self.binary, &dir.root, &slot).and_then(|c| spawn(c, &dir, &slot)) {
            Ok(mut child) => {
                let pid = child.id().unwrap_or(0);
                let _ = self.events.send(Event::Started {
                    run,
                    place: slot.text(),
                });
                self.active.insert(run, (pid, slot));
                tokio::spawn(async move {
                    let ended = match child.wait().await {
                        Ok(s) => Ended::Process {
                            code: s.code(),
                            signal: std::os::unix::process::ExitStatusExt::signal(&s),
                        },
                        Err(_) => Ended::Process {
                            code: None,
                            signal: None,
                        },
                    };
                    let _ = exits.send((run, ended));
                });
            }
            Err(e) => {
                self.free.push(slot);
                self.unsettled += 1;
                let _ = self.events.send(Event::Ended {
                    run,
                    ended: Ended::Scheduler {
                        resumable: false,
                        reason: format!("could not start: {e:#}"),
                    },
                });
            }
        }
    }
}

/// Starts one run with its output appended to its `train.log`.
fn spawn(mut cmd: Command, dir: &RunDir, slot: &Slot) -> anyhow::Result<tokio::process::Child> {
    let mut log = fs_err::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.log())?;
    writeln!(
        log,
        "--- {} attempt by ddim-sweep run (pid {}){}",
        now_rfc3339(),
        std::process::id(),
        slot.text()
    )?;
    // Own process group: a terminal's Ctrl-C reaches only the orchestrator, which forwards it
    // once (a second SIGINT would make a run stop without its checkpoint).
    cmd.process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::from(log.try_clone()?.into_file()))
        .stderr(Stdio::from(log.into_file()))
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
    Ok(cmd.spawn()?)
}

#[cfg(test)]
mod tests {
    #[test]
    fn slots_pack_runs_per_gpu_and_share_cores() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let o = super::Options {
            jobs: 3,
            gpus: vec![0, 2],
            runs_per_gpu: 2,
            fail_fast: false,
            args: vec![],
            exempt_from_stop: vec![],
            progress_every: std::time::Duration::from_secs(30),
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
