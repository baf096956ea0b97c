//! The local executor: slot scheduling on this machine. Each run is a child process
//! `ddim-sweep train --wait --run-dir DIR` (started and signalled by [`super::child`]); at most
//! one run per slot (a CPU job sharing the cores, or a place on a GPU). Its settings are the
//! sweep file's `local:` block and `run`'s local options ([`settings::Settings`]).

pub mod settings;

use super::child;
use super::launch::{Launch, Word};
use super::{Control, Controls, Event, Executor};
use crate::store::{Ended, RunDir};
use crate::sweep::Plan;
use anyhow::Context;
pub use settings::{Settings, Slot};
use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use tokio::process::Command;
use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};

/// Runs the binary itself on this machine: `OMP_NUM_THREADS` shares the cores between CPU
/// jobs (unless set by the user); `CUDA_VISIBLE_DEVICES` pins a GPU slot.
pub struct LocalExecutor {
    binary: PathBuf,
    slots: Vec<Slot>,
    control: Controls,
}

impl LocalExecutor {
    /// `jobs` CPU slots sharing this machine's cores, or the GPU slots of `settings`.
    pub fn new(binary: PathBuf, settings: &Settings, jobs: usize) -> LocalExecutor {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        LocalExecutor {
            binary,
            slots: settings.slots(jobs, cores),
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

    fn dry_run_text(&self) -> Option<String> {
        let s = &self.slots;
        let mut gpus: Vec<usize> = s.iter().filter_map(|s| s.gpu).collect();
        gpus.dedup();
        let place = match gpus.len() {
            0 => "on the CPU".to_string(),
            n => format!(
                "on GPU(s) {} ({} per GPU)",
                gpus.iter()
                    .map(|g| g.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                s.len() / n
            ),
        };
        // The runs take OMP_NUM_THREADS as the user set it (see `train_command`).
        let threads = match std::env::var("OMP_NUM_THREADS") {
            Ok(v) => format!("{} thread(s) each (OMP_NUM_THREADS)", v.escape_debug()),
            Err(_) => format!("{} thread(s) each", s.first().map_or(1, |s| s.threads)),
        };
        Some(format!(
            "local: at most {} run(s) at once {place}, {threads}",
            s.len()
        ))
    }

    fn shares_this_host(&self) -> bool {
        true
    }

    fn prepare(&self, plan: &Plan, todo: &[usize]) {
        prepare_kid_references(plan, todo);
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
                            child::signal(*pid, libc::SIGTERM);
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
            child::signal(*pid, sig);
        }
    }

    fn launch(
        &mut self,
        run: usize,
        dir: RunDir,
        slot: Slot,
        exits: UnboundedSender<(usize, Ended)>,
    ) {
        let started = train_command(&self.binary, &dir.root, &slot)
            .and_then(|c| child::spawn(c, &dir, &slot.text()));
        match started {
            Ok(process) => {
                let _ = self.events.send(Event::Started {
                    run,
                    place: slot.text(),
                });
                self.active.insert(run, (process.pid(), slot));
                tokio::spawn(async move {
                    let _ = exits.send((run, process.wait().await));
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

/// The features of the reference folder of a program sweep's `sample_metrics:`, computed
/// once here when its runs' scoring would run on the CPU (as [`prepare_kid_references`]).
fn prepare_program_reference(plan: &Plan) {
    let path = plan.sweep_dir.join("program.json");
    let Ok(Some(m)) =
        crate::store::program_file::ProgramFile::read_at(&path).map(|pf| pf.sample_metrics)
    else {
        return;
    };
    if !matches!(
        crate::device::resolve(crate::flags::DeviceSpec::Auto),
        Ok(tch::Device::Cpu)
    ) {
        return;
    }
    let start = std::time::Instant::now();
    let net = crate::metrics::features::default_network_path();
    let done = crate::metrics::Inception::load(&net, tch::Device::Cpu)
        .and_then(|net| crate::metrics::reference::folder_features(&net, &m.reference));
    match done {
        Ok(f) => crate::say!(
            "sweep {}: sample_metrics: features of the {} reference images in {} ready in {:.1}s",
            plan.label,
            f.size()[0],
            m.reference.display(),
            start.elapsed().as_secs_f64()
        ),
        Err(e) => eprintln!(
            "sweep {}: warning: could not prepare the sample_metrics reference features ({e:#}); each run will try",
            plan.label
        ),
    }
}

/// The KID reference features of the runs about to train on the CPU, computed here once per
/// image set with every core, before the runs start; otherwise the first run computes them on
/// its share of the cores while the others wait for it. A failure here only warns: each run
/// then meets it and records it as its own error.
fn prepare_kid_references(plan: &Plan, todo: &[usize]) {
    if plan.program.is_some() {
        if !todo.is_empty() {
            prepare_program_reference(plan);
        }
        return;
    }
    let mut seen = Vec::new();
    // A search's later trials are not in the plan yet: its space's representatives stand in.
    let flags: Vec<crate::flags::Flags> = if plan.search.is_some() {
        plan.all_flags()
    } else {
        todo.iter()
            .filter_map(|&i| plan.runs[i].flags.builtin().cloned())
            .collect()
    };
    for f in &flags {
        let key = (
            f.dataset_name,
            crate::data::dataset_dir(f),
            f.image_size,
            f.max_images,
            f.antialias,
        );
        if !f.measures_samples() || seen.contains(&key) {
            continue;
        }
        seen.push(key);
        match crate::metrics::reference::prepare(f) {
            Ok(Some(p)) if p.computed => crate::say!(
                "sweep {}: KID reference: Inception features of {} {} validation images, computed once for the sweep in {:.1}s",
                plan.label, p.images, p.dataset, p.seconds
            ),
            Ok(_) => {}
            Err(e) => eprintln!(
                "sweep {}: warning: could not prepare the KID reference features ({e:#}); each run will try",
                plan.label
            ),
        }
    }
}
