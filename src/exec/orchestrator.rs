//! The orchestrator: drives an [`Executor`] through a sweep's runs and owns everything that
//! does not depend on where runs execute — their states on disk (through `store::RunDir`),
//! the display, signals (one: stop after the current step; two: at once), fail-fast, the
//! invocation in `sweep.json`, and the summary.

use super::display::Display;
use super::early::EarlyStopping;
use super::{Event, Executor, Options, Summary};
use crate::process::{hostname, now_rfc3339, Signal};
use crate::store::RunState;
use crate::store::{RunInfo, Status};
use crate::sweep::record::{Invocation, SweepRecord};
use crate::sweep::strategy::{Proposal, RunResult, StopPeers, Strategy};
use crate::sweep::Plan;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;

/// Which runs this invocation trains: by their states on disk, and the user's choices.
#[derive(Debug, Clone, Copy, Default)]
pub struct Policy {
    /// Train failed runs again (`--retry-failed`).
    pub retry_failed: bool,
    /// Continue runs stopped early (`--resume-stopped`).
    pub resume_stopped: bool,
}

impl Policy {
    /// Whether a run in `state` is to be trained by this invocation.
    pub fn trains(&self, state: RunState) -> bool {
        match state {
            RunState::New | RunState::Resumable => true,
            RunState::Failed => self.retry_failed,
            RunState::Stopped => self.resume_stopped,
            RunState::Completed | RunState::Running | RunState::Damaged => false,
        }
    }
}

/// What this invocation may train and what its strategy has asked for so far: the open plan.
/// A strategy's new points are admitted into the plan here.
pub struct Planner {
    strategy: Box<dyn Strategy + Send>,
    policy: Policy,
    /// Whether each run the planner has seen is one this invocation may train (the runs of
    /// the plan at the start by the selection, each admitted one by its state).
    eligible: HashMap<usize, bool>,
    /// Runs handed to the executor.
    given: HashSet<usize>,
    /// Runs that ended in this invocation.
    ended: HashSet<usize>,
    /// Runs proposed so far.
    proposed: HashSet<usize>,
    /// What [`Planner::replay`] proposed, in order: handed out by the next [`Planner::next`].
    backlog: Vec<usize>,
}

impl Planner {
    pub fn new(strategy: Box<dyn Strategy + Send>, policy: Policy) -> Planner {
        Planner {
            strategy,
            policy,
            eligible: HashMap::new(),
            given: HashSet::new(),
            ended: HashSet::new(),
            proposed: HashSet::new(),
            backlog: Vec::new(),
        }
    }

    /// Before the selection: lets the strategy decide what it can from the runs' states on
    /// disk alone (a search admits the trials its finished ones decide, so that the executor
    /// reconciles and the selection sees their runs). Nothing is handed out yet.
    pub fn replay(&mut self, plan: &mut Plan) -> anyhow::Result<()> {
        let mut all = Vec::new();
        self.propose_all(plan, &mut all)?;
        self.backlog = all;
        self.eligible.clear();
        Ok(())
    }

    /// The runs of the plan this invocation trains (the selection); the plan's other runs
    /// are left alone, whatever their state.
    pub fn select(&mut self, plan: &Plan, todo: &[usize]) {
        for i in 0..plan.runs.len() {
            self.eligible.insert(i, false);
        }
        for &i in todo {
            self.eligible.insert(i, true);
        }
    }

    /// The runs the strategy proposes now that this invocation may train and has not started
    /// yet (in the strategy's order), admitting its new points into the plan. The strategy is
    /// asked again while it proposes something new (a proposed run may need nothing more).
    /// An eligible run counts as pending until it ends here.
    pub fn next(&mut self, plan: &mut Plan) -> anyhow::Result<Vec<usize>> {
        let mut all = std::mem::take(&mut self.backlog);
        self.propose_all(plan, &mut all)?;
        Ok(all
            .into_iter()
            .filter(|i| self.eligible.get(i) == Some(&true) && self.given.insert(*i))
            .collect())
    }

    /// Asks the strategy while it proposes something new; appends every run it proposes
    /// (in its order, each once) to `all`.
    fn propose_all(&mut self, plan: &mut Plan, all: &mut Vec<usize>) -> anyhow::Result<()> {
        let mut listed: HashSet<usize> = all.iter().copied().collect();
        loop {
            let (eligible, ended, policy) = (&self.eligible, &self.ended, self.policy);
            let plan_now: &Plan = plan;
            let outcome = |i: usize| {
                let trains = eligible
                    .get(&i)
                    .copied()
                    .unwrap_or_else(|| policy.trains(plan_now.runs[i].state()));
                if trains && !ended.contains(&i) {
                    RunResult::Pending
                } else {
                    RunResult::of(&plan_now.runs[i])
                }
            };
            let proposals = self.strategy.propose(plan_now, &outcome);
            let mut progress = false;
            for p in proposals {
                let i = match p {
                    Proposal::Run(i) => i,
                    Proposal::Point { trial, point } => {
                        progress = true;
                        let i = plan.admit(point, trial)?;
                        self.strategy.admitted(trial, i);
                        if !self.eligible.contains_key(&i) {
                            let trains = self.policy.trains(plan.runs[i].state());
                            self.eligible.insert(i, trains);
                        }
                        i
                    }
                };
                progress |= self.proposed.insert(i);
                if listed.insert(i) {
                    all.push(i);
                }
            }
            if !progress {
                return Ok(());
            }
        }
    }

    /// Forgets that `runs` were handed out (the executor could not take them).
    pub fn take_back(&mut self, runs: &[usize]) {
        for i in runs {
            self.given.remove(i);
        }
    }

    /// What the strategy learnt that is worth a line.
    pub fn notes(&mut self) -> Vec<String> {
        self.strategy.notes()
    }

    /// The strategy's decisions so far, for the sweep's record.
    pub fn decisions(&self) -> Option<crate::store::sweep_file::RaceRecord> {
        self.strategy.decisions()
    }

    /// Which runs the stop rule may compare `run` with.
    pub fn stop_peers(&self, run: usize) -> StopPeers {
        self.strategy.stop_peers(run)
    }

    /// The search's trials so far, for the sweep's record.
    pub fn search(&self, plan: &Plan) -> Option<crate::store::sweep_file::SearchRecord> {
        self.strategy.search(plan)
    }
}

/// Runs `todo` (indices into `plan.runs`: the planner's first proposal) with `executor`, and
/// whatever the planner proposes as runs end; records the invocation (and the strategy's
/// decisions) in the sweep's record, at its start and at its end, whatever ends it.
pub async fn execute(
    plan: &mut Plan,
    todo: Vec<usize>,
    planner: &mut Planner,
    executor: &mut dyn Executor,
    opts: &Options,
    record: &mut SweepRecord,
) -> anyhow::Result<Summary> {
    let mut invocation = Invocation {
        started: now_rfc3339(),
        host: hostname(),
        pid: std::process::id(),
        args: opts.args.clone(),
        planned: plan.runs.len(),
        skipped: plan.runs.len() - todo.len(),
        ..Default::default()
    };
    record.invocations.push(invocation.clone());
    record.set_race(planner.decisions());
    record.merge_plan(plan, None);
    record.set_search_trials(planner.search(plan));
    record.write(&plan.sweep_dir)?;

    let exempt = plan
        .runs
        .iter()
        .enumerate()
        .filter(|(_, r)| opts.exempt_from_stop.contains(&r.id))
        .map(|(i, _)| i)
        .collect();
    let stop = plan.stop.clone();
    let label = plan.label.clone();
    let mut o = Orchestrator {
        plan,
        planner,
        record,
        fail_fast: opts.fail_fast,
        early: stop.map(|rule| EarlyStopping::new(rule, exempt)),
        display: Display::new(&label, todo.len(), opts.progress_every),
        active: HashMap::new(),
        summary: Summary::default(),
        stopping: false,
        killed: false,
    };
    let result = o.drive(executor, todo).await;
    o.display.finish();
    let total = o.planner.given.len();
    let mut summary = o.summary;
    summary.detached = executor.detached();
    let (record, plan) = (o.record, o.plan);
    if let Some(e) = o.early {
        record.decisions.extend(e.decisions);
    }
    record.set_race(o.planner.decisions());
    record.merge_plan(plan, None);
    record.set_search_trials(o.planner.search(plan));
    let ended = summary.completed.len()
        + summary.failed.len()
        + summary.interrupted.len()
        + summary.stopped.len();
    summary.not_started = total.saturating_sub(ended);

    invocation.ended = Some(now_rfc3339());
    invocation.planned = plan.runs.len();
    invocation.skipped = plan.runs.len().saturating_sub(total);
    invocation.completed = summary.completed.len();
    invocation.failed = summary.failed.len();
    invocation.interrupted = summary.interrupted.len() + summary.not_started;
    invocation.outcome = match &result {
        Ok(()) => summary.outcome(),
        Err(e) => format!("error: {e:#}"),
    };
    *record.invocations.last_mut().expect("pushed above") = invocation;
    record.write(&plan.sweep_dir)?;
    result.map(|()| summary)
}

struct Orchestrator<'a> {
    plan: &'a mut Plan,
    planner: &'a mut Planner,
    record: &'a mut SweepRecord,
    fail_fast: bool,
    /// The sweep's early-stopping rule, when it has one.
    early: Option<EarlyStopping>,
    display: Display,
    /// Started runs that have not ended, with when they started.
    active: HashMap<usize, Instant>,
    summary: Summary,
    /// No more runs start (a signal, or a failure under --fail-fast).
    stopping: bool,
    /// A second signal killed the running runs.
    killed: bool,
}

impl Orchestrator<'_> {
    async fn drive(&mut self, executor: &mut dyn Executor, todo: Vec<usize>) -> anyhow::Result<()> {
        let mut sigint = signal(SignalKind::interrupt())?;
        let mut sigterm = signal(SignalKind::terminate())?;
        let (tx, mut rx) = mpsc::unbounded_channel();
        executor.start(&*self.plan, todo, tx)?;
        // With an early-stopping rule the runs' scalars are looked at every 0.1 s, so that a
        // stop lands near the epoch that decided it; the display is redrawn every 0.5 s.
        let period = if self.early.is_some() { 100 } else { 500 };
        let mut tick = tokio::time::interval(Duration::from_millis(period));
        let mut ticks = 0u64;
        loop {
            tokio::select! {
                ev = rx.recv() => match ev {
                    Some(Event::Started { run, place }) => self.started(run, &place),
                    Some(Event::Ended { run, ended }) => self.ended(run, &ended, executor),
                    Some(Event::Note { run, text }) => {
                        let r = &self.plan.runs[run];
                        self.display.say(format!("{text}: {} {}", r.id, r.varying_text()));
                    }
                    None => return Ok(()),
                },
                _ = sigint.recv() => self.on_signal(Signal::Int, executor),
                _ = sigterm.recv() => self.on_signal(Signal::Term, executor),
                _ = tick.tick() => {
                    ticks += 1;
                    if (ticks * period).is_multiple_of(500) {
                        self.display.refresh();
                    }
                    self.apply_stop_rule(executor);
                }
            }
        }
    }

    fn started(&mut self, run: usize, place: &str) {
        let r = &self.plan.runs[run];
        self.display
            .started(run, format!("{} {}", r.id, r.varying_text()), r.run_dir());
        self.display
            .say(format!("started   {} {}{place}", r.id, r.varying_text()));
        self.active.insert(run, Instant::now());
    }

    fn ended(&mut self, run: usize, ended: &crate::store::Ended, executor: &mut dyn Executor) {
        let started = self.active.remove(&run);
        self.display.ended(run);
        let r = &self.plan.runs[run];
        let rd = r.run_dir();
        let (mut status, mut reason) = rd.settle(ended);
        if self.killed && status != Status::Completed {
            let why = "killed by a second signal; continues from its last checkpoint";
            rd.mark(Status::Interrupted, why);
            (status, reason) = (Status::Interrupted, Some(why.to_string()));
        }
        let who = format!("{} {}", r.id, r.varying_text());
        match status {
            Status::Completed => {
                let secs = started.map_or(0.0, |s| s.elapsed().as_secs_f64());
                let m = rd.read_info().ok().flatten().map(|i| metrics_text(&i));
                self.display.say(format!(
                    "completed {who} in {secs:.1}s{}",
                    m.unwrap_or_default()
                ));
                self.summary.completed.push(r.id.clone());
            }
            Status::Interrupted => {
                self.display.say(format!("stopped   {who} (resumable)"));
                self.summary.interrupted.push(r.id.clone());
            }
            Status::Stopped => {
                let why = reason.unwrap_or_default();
                self.display.say(format!("stopped early {who}: {why}"));
                self.summary.stopped.push(r.id.clone());
            }
            _ => {
                let reason = reason.unwrap_or_default();
                self.display.say(format!(
                    "FAILED    {who}: {reason} (log: {})",
                    rd.log().display()
                ));
                self.summary.failed.push((r.id.clone(), reason));
                if self.fail_fast && !self.stopping {
                    self.display.say("--fail-fast: stopping the other runs");
                    self.stopping = true;
                    executor.stop(Signal::Term);
                }
            }
        }
        self.planner.ended.insert(run);
        if !self.stopping {
            self.propose_more(executor);
            executor.proceed();
        }
    }

    /// Asks the strategy again now that a run has ended; hands what it proposes anew to the
    /// executor, and records its decisions (and the runs it admitted) when they changed.
    fn propose_more(&mut self, executor: &mut dyn Executor) {
        let before = (self.planner.decisions(), self.plan.runs.len());
        let new = match self.planner.next(self.plan) {
            Ok(new) => new,
            Err(e) => {
                self.display.say(format!(
                    "the search cannot go on: {e:#}; no more runs start"
                ));
                self.stopping = true;
                executor.stop(Signal::Term);
                Vec::new()
            }
        };
        for line in self.planner.notes() {
            self.display.say(line);
        }
        let after = self.planner.decisions();
        let grew = self.plan.runs.len() != before.1;
        if after != before.0 || grew {
            if let Some(race) = after.as_ref().filter(|a| Some(*a) != before.0.as_ref()) {
                let seen = before.0.as_ref().map_or(0, |b| b.decisions.len());
                for line in crate::sweep::strategy::race::describe_new(race, seen) {
                    self.display.say(line);
                }
            }
            self.record.set_race(after);
            self.record.merge_plan(self.plan, None);
            self.record
                .set_search_trials(self.planner.search(self.plan));
            if let Err(e) = self.record.write(&self.plan.sweep_dir) {
                self.display.say(format!(
                    "warning: could not write the sweep's record: {e:#}"
                ));
            }
        }
        if new.is_empty() {
            return;
        }
        match executor.add(self.plan, new.clone()) {
            Ok(()) => self.display.add_total(new.len()),
            Err(e) => {
                self.display.say(format!(
                    "could not start {} more run(s): {e:#}; run the same command again",
                    new.len()
                ));
                self.planner.take_back(&new);
            }
        }
    }

    /// Applies the early-stopping rule to each epoch the running runs have written since the
    /// last look ([`EarlyStopping::look`]): a run worse than the rule allows gets a stop
    /// request and is stopped.
    fn apply_stop_rule(&mut self, executor: &mut dyn Executor) {
        let Some(e) = &mut self.early else { return };
        if self.stopping {
            return;
        }
        let mut active: Vec<usize> = self.active.keys().copied().collect();
        active.sort();
        let planner = &*self.planner;
        for (run, d) in e.look(self.plan, &active, &|r| planner.stop_peers(r)) {
            let r = &self.plan.runs[run];
            if r.run_dir().write_stop_request(&d).is_ok() {
                self.display.say(format!(
                    "stopping  {} {}: {}",
                    r.id,
                    r.varying_text(),
                    d.reason()
                ));
                executor.stop_run(run);
                e.decisions.push(d);
            }
        }
    }

    /// The user's first signal stops the runs after their current step (also when
    /// --fail-fast is already stopping them); a second one ends them at once.
    fn on_signal(&mut self, sig: Signal, executor: &mut dyn Executor) {
        if self.summary.signal.is_none() {
            self.summary.signal = Some(sig);
            self.stopping = true;
            self.display.say(format!(
                "{}: stopping {} run(s) after their current step (they checkpoint); press Ctrl-C again to stop at once",
                sig.name(),
                self.active.len()
            ));
            executor.stop(sig);
        } else if !self.killed {
            self.killed = true;
            executor.kill();
            self.display
                .say("stopped at once; run the same command again to resume");
        }
    }
}

fn metrics_text(info: &RunInfo) -> String {
    info.metrics
        .iter()
        .map(|(k, v)| format!(" {k} {v:.7}"))
        .collect::<Vec<_>>()
        .join("")
}
