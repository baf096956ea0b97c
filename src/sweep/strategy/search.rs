//! Model-based search (`search:`): trials whose points are chosen as results arrive, by a
//! sampler (TPE, a Gaussian process, or random draws), on an open plan: each trial is a new
//! point the planner admits as a run of its own.
//!
//! ```yaml
//! search:
//!   sampler: tpe        # tpe | gp | random
//!   metric: kid         # a final metric; its direction (lower or higher is better) is the metric's
//!   trials: 32
//!   seed: 1
//!   parallel: 4         # q: trials in flight at most
//!   startup: 8          # random trials before the model is used
//!   space:
//!     lr: loguniform(1e-4, 3e-3)
//!     block_depth: randint(1, 3)
//!     loss: [mae, mse]
//! ```
//!
//! **The determinism contract.** Trial k's point is a function of the sweep file (label,
//! space, seed, sampler settings) and of the final results of trials `0 ..= k-q` only
//! (q = `parallel`); trials `k-q+1 .. k-1` are told as pending (in flight) whether or not they
//! have ended. Trial k therefore starts only once trials `0 ..= k-q` have ended, and the same
//! file gives the same points and run ids with any `--jobs`, any order in which runs finish,
//! after a kill and the same command again, and on any executor. Startup trials (k <
//! `startup`) are random search's draws (the same as `random:` with this seed) and wait only
//! for a free place among the q; so does every trial of `sampler: random`.
//!
//! Ended trials are told to the sampler by their outcome: completed ones by their metric
//! (as a loss: negated where higher is better); trials stopped early by the sweep's `stop:`
//! rule after all completed ones, ranked by how far they got and then by their last value;
//! failed trials (and completed ones without the metric) are left out, with a message.

use super::random::parse_space;
use super::random::{Dist, RandomSearch};
use super::{Proposal, RunResult, Strategy};
use crate::metrics::names::Metric;
use crate::store::sweep_file::{DamagedTrial, SearchRecord, TrialEntry};
use crate::sweep::section::{SpecError, SweepText};
use crate::sweep::Plan;
use serde::Deserialize;
use serde_yaml::Mapping;
use serde_yaml::Value;
use sha2::{Digest, Sha256};
use std::cmp::Ordering;

/// The flags one trial sets (searched flags, in the space's order).
pub type Point = Vec<(String, Value)>;

/// Makes a sampler.
pub type MakeSampler = fn() -> Box<dyn Sampler + Send>;

/// Every sampler by name: `random` (this file's) and the model-based ones
/// ([`super::MODEL_SAMPLERS`], one file each).
pub fn samplers() -> impl Iterator<Item = (&'static str, MakeSampler)> {
    let random: MakeSampler = || Box::new(RandomSampler);
    std::iter::once(("random", random)).chain(super::MODEL_SAMPLERS.iter().copied())
}

/// The names of the samplers, for messages.
pub fn sampler_names() -> Vec<&'static str> {
    samplers().map(|(n, _)| n).collect()
}

/// Suggests a trial's point from what it is told.
pub trait Sampler {
    fn suggest(&self, ask: &Ask) -> Point;

    /// Whether its suggestions depend on results (if not, a trial is decided as soon as one
    /// of the q places is free, as startup trials are).
    fn uses_results(&self) -> bool {
        true
    }

    /// Refuses a space the sampler cannot search (why, naming the flag); checked when the
    /// sweep file is read.
    fn check_space(&self, _space: &[(String, Dist)]) -> Result<(), String> {
        Ok(())
    }
}

/// What a sampler is told when asked for trial `trial`.
pub struct Ask<'a> {
    pub label: &'a str,
    pub seed: u64,
    pub trial: usize,
    pub space: &'a [(String, Dist)],
    /// Trials `0 ..= trial-q` with a usable outcome, in trial order.
    pub told: &'a [Told],
    /// The points of trials `trial-q+1 .. trial-1` (in flight, as the contract counts them).
    pub pending: &'a [Point],
}

impl Ask<'_> {
    /// A seed for the sampler's own random stream of this trial, from (tag, label, seed,
    /// trial) only.
    pub fn stream(&self, tag: &str) -> u64 {
        let mut h = Sha256::new();
        h.update(format!(
            "ddim-sweep {tag} v1\n{}\n{}\n{}\n",
            self.label, self.seed, self.trial
        ));
        let d = h.finalize();
        u64::from_le_bytes(d[..8].try_into().expect("8 bytes"))
    }
}

/// An ended trial as a sampler sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Told {
    pub trial: usize,
    pub point: Point,
    pub score: Score,
}

/// How a trial ended, as a loss (lower is better).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Score {
    Completed(f64),
    /// Stopped early after `epochs` epochs, its last value `last` (infinite when unknown).
    Stopped {
        epochs: i64,
        last: f64,
    },
}

impl Score {
    /// Best first: completed trials by value, then stopped ones by epochs reached (more is
    /// better), then by their last value.
    pub fn rank(&self, other: &Score) -> Ordering {
        match (*self, *other) {
            (Score::Completed(a), Score::Completed(b)) => a.total_cmp(&b),
            (Score::Completed(_), Score::Stopped { .. }) => Ordering::Less,
            (Score::Stopped { .. }, Score::Completed(_)) => Ordering::Greater,
            (
                Score::Stopped {
                    epochs: ea,
                    last: la,
                },
                Score::Stopped {
                    epochs: eb,
                    last: lb,
                },
            ) => eb.cmp(&ea).then(la.total_cmp(&lb)),
        }
    }
}

/// Random search as a sampler: trial k's draws are those of `random:` with the same seed.
pub struct RandomSampler;

impl Sampler for RandomSampler {
    fn suggest(&self, ask: &Ask) -> Point {
        draw(ask.label, ask.seed, ask.space, ask.trial)
    }

    fn uses_results(&self) -> bool {
        false
    }
}

fn draw(label: &str, seed: u64, space: &[(String, Dist)], trial: usize) -> Point {
    RandomSearch {
        trials: trial + 1,
        seed,
        space: space.to_vec(),
    }
    .draw(label, trial)
}

/// A sweep's `search:` block, validated.
#[derive(Debug, Clone)]
pub struct Search {
    pub sampler: &'static str,
    pub metric: &'static Metric,
    pub trials: usize,
    pub seed: u64,
    /// q: trials in flight at most (part of the determinism contract).
    pub parallel: usize,
    /// Random trials before the sampler's model is used.
    pub startup: usize,
    pub space: Vec<(String, Dist)>,
    /// Learn from rungs (set from the sweep's `stop:` when its rule decides at rungs): the
    /// sampler is fitted on the highest rung with enough values ([`at_fidelity`]).
    pub rung_model: bool,
}

impl PartialEq for Search {
    fn eq(&self, o: &Search) -> bool {
        self.sampler == o.sampler
            && self.metric.name == o.metric.name
            && (self.trials, self.seed, self.parallel, self.startup)
                == (o.trials, o.seed, o.parallel, o.startup)
            && self.space == o.space
            && self.rung_model == o.rung_model
    }
}

impl Search {
    /// Trial k's random draw (what startup trials and the random sampler suggest).
    pub fn draw(&self, label: &str, k: usize) -> Point {
        draw(label, self.seed, &self.space, k)
    }

    /// Points that stand for the whole space where one must be checked before any trial is
    /// decided (datasets to fetch, sample metrics measured): trial 0's draw, and that draw
    /// with each value of each list in the space.
    pub fn representatives(&self, label: &str) -> Vec<Point> {
        let first = self.draw(label, 0);
        let mut out = vec![first.clone()];
        for (j, (_, d)) in self.space.iter().enumerate() {
            if let Dist::Choice(values) = d {
                for v in values {
                    let mut p = first.clone();
                    p[j].1 = v.clone();
                    out.push(p);
                }
            }
        }
        out
    }

    /// One line for `--dry-run` and the start of `run`.
    pub fn describe(&self) -> String {
        let space: Vec<String> = self
            .space
            .iter()
            .map(|(n, d)| format!("{n} ~ {}", d.short_text()))
            .collect();
        format!(
            "{} search: {} trials on {} ({}), {} in flight at most, {} random first, seed {}: {}",
            self.sampler,
            self.trials,
            self.metric.name,
            self.metric.direction_text(),
            self.parallel,
            self.startup.min(self.trials),
            self.seed,
            space.join(", ")
        )
    }
}

/// What a trial came to, as the contract counts it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Outcome {
    /// Not ended (or not started).
    Pending,
    /// Its run's files are damaged: it has no outcome until they are repaired, so the
    /// search waits for it as for a trial in flight (it never decides around it).
    Damaged,
    /// Ended without a result the sampler may use (failed, no metric, or forgotten with
    /// `--forget`).
    LeftOut,
    Told(Score),
}

impl Outcome {
    /// Whether the trial has an outcome the contract can count (not pending, not damaged).
    pub fn ended(&self) -> bool {
        matches!(self, Outcome::LeftOut | Outcome::Told(_))
    }
}

/// A decision kept from an earlier invocation's record: trial k's point, and the check of
/// what it was computed from.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    pub point: Point,
    pub check: String,
    pub fitted_on: Option<i64>,
}

/// The contract's bookkeeping apart from plans and runs: which trial may be decided now and
/// what its sampler is told. [`SearchStrategy`] drives it with runs; the bench
/// (`examples/search_bench.rs`) with a simulated executor.
///
/// A decision is stored with its *check*: a SHA-256 of what it was computed from (the
/// search's settings, the trial number, every told trial's point and outcome, the points in
/// flight) and of the point chosen. A resumed search given the recorded decisions
/// ([`Trials::with_recorded`]) reuses trial k's point when the check of what it would be
/// computed from now, with that point, is the recorded one, without asking the sampler
/// again (a GP's fit costs seconds); a check that fails (a result changed, a record edited)
/// is recomputed.
pub struct Trials {
    pub search: Search,
    label: String,
    sampler: Box<dyn Sampler + Send>,
    points: Vec<Point>,
    /// Each decided trial's check (see the type's documentation).
    checks: Vec<String>,
    /// Each decided trial's rung the sampler was fitted on, when below the end.
    fitted_on: Vec<Option<i64>>,
    /// Each ended trial's values at the rungs (epoch, value as a loss), when the search
    /// learns from rungs ([`Trials::set_rungs`]).
    rungs: Vec<Vec<(i64, f64)>>,
    /// Decisions recorded by an earlier invocation, by trial.
    recorded: Vec<Recorded>,
    /// `chain[j]`: the hash of the settings and of trials `0 .. j`'s points and outcomes
    /// (extended as trials end, in order).
    chain: Vec<[u8; 32]>,
    /// Decisions reused from the record, and decisions the sampler computed.
    pub reused: usize,
    pub computed: usize,
}

impl Trials {
    pub fn new(search: Search, label: &str) -> Trials {
        let make = samplers()
            .find(|(n, _)| *n == search.sampler)
            .map(|(_, f)| f)
            .expect("the spec admits only registered samplers");
        let mut h = Sha256::new();
        h.update(format!(
            "ddim-sweep search decisions v1\n{label}\n{}\n{}\n{}\n{}\n{}\n",
            search.sampler, search.metric.name, search.seed, search.parallel, search.startup
        ));
        for (n, d) in &search.space {
            h.update(format!("{n} ~ {}\n", d.text()));
        }
        if search.rung_model {
            h.update("learns from rungs\n");
        }
        Trials {
            sampler: make(),
            search,
            label: label.to_string(),
            points: Vec::new(),
            checks: Vec::new(),
            fitted_on: Vec::new(),
            rungs: Vec::new(),
            recorded: Vec::new(),
            chain: vec![h.finalize().into()],
            reused: 0,
            computed: 0,
        }
    }

    /// The decisions an earlier invocation recorded (each reused only when its check holds).
    pub fn with_recorded(mut self, recorded: Vec<Recorded>) -> Trials {
        self.recorded = recorded;
        self
    }

    /// The trials decided so far, in order.
    pub fn points(&self) -> &[Point] {
        &self.points
    }

    /// Each decided trial's check, in order.
    pub fn checks(&self) -> &[String] {
        &self.checks
    }

    /// Each decided trial's rung the sampler was fitted on, when below the end.
    pub fn fitted_on(&self) -> &[Option<i64>] {
        &self.fitted_on
    }

    /// Trial `j`'s values at the rungs (epoch, value as a loss: lower is better), told with
    /// its outcome when the search learns from rungs; part of what a decision's check covers.
    pub fn set_rungs(&mut self, j: usize, values: Vec<(i64, f64)>) {
        if self.rungs.len() <= j {
            self.rungs.resize(j + 1, Vec::new());
        }
        self.rungs[j] = values;
    }

    /// Decides the next trial (k = the number decided so far) when the contract allows it
    /// now, given each decided trial's outcome: fewer than q trials in flight, and (after the
    /// startup trials) trials `0 ..= k-q` ended. Its point depends on those trials' outcomes
    /// and the sweep file only.
    pub fn decide(&mut self, outcome: &dyn Fn(usize) -> Outcome) -> Option<Point> {
        let mut outcomes: Vec<Outcome> = (0..self.points.len()).map(outcome).collect();
        self.decide_all(&mut outcomes).into_iter().next()
    }

    /// Decides every trial the contract allows now, in order (see [`Trials::decide`]);
    /// `outcomes` holds each decided trial's outcome and gets `Pending` for each new one.
    /// Linear in the number of trials.
    pub fn decide_all(&mut self, outcomes: &mut Vec<Outcome>) -> Vec<Point> {
        debug_assert_eq!(outcomes.len(), self.points.len());
        let mut in_flight = outcomes.iter().filter(|o| !o.ended()).count();
        let ended_prefix = outcomes.iter().take_while(|o| o.ended()).count();
        let mut out = Vec::new();
        loop {
            let k = self.points.len();
            let s = &self.search;
            if k >= s.trials || in_flight >= s.parallel {
                break;
            }
            // Random search's trials need no results: each is decided as soon as a place is free.
            let point = if k < s.startup || !self.sampler.uses_results() {
                self.checks.push(String::new());
                self.fitted_on.push(None);
                s.draw(&self.label, k)
            } else {
                let decided = (k + 1).saturating_sub(s.parallel); // trials 0 ..= k-q
                if decided > ended_prefix {
                    break;
                }
                self.model_decision(k, decided, outcomes)
            };
            self.points.push(point.clone());
            outcomes.push(Outcome::Pending);
            in_flight += 1;
            out.push(point);
        }
        out
    }

    /// Trial k's point from the told trials `0 .. decided` (all ended) and the ones in
    /// flight: the recorded decision when its check holds, else the sampler's.
    fn model_decision(&mut self, k: usize, decided: usize, outcomes: &[Outcome]) -> Point {
        while self.chain.len() <= decided {
            let j = self.chain.len() - 1;
            let mut h = Sha256::new();
            h.update(self.chain[j]);
            h.update(format!(
                "{j}\n{}\n{:?}\n",
                point_key(&self.points[j]),
                outcomes[j]
            ));
            if self.search.rung_model {
                h.update(format!(
                    "rungs {:?}\n",
                    self.rungs.get(j).cloned().unwrap_or_default()
                ));
            }
            self.chain.push(h.finalize().into());
        }
        let mut basis = Sha256::new();
        basis.update(self.chain[decided]);
        basis.update(format!("trial {k}\n"));
        for p in &self.points[decided..] {
            basis.update(format!("pending {}\n", point_key(p)));
        }
        let check = |p: &Point| {
            let mut h = basis.clone();
            h.update(format!("point {}\n", point_key(p)));
            h.finalize()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        };
        if let Some(r) = self.recorded.get(k) {
            if !r.check.is_empty() && check(&r.point) == r.check {
                self.reused += 1;
                self.checks.push(r.check.clone());
                self.fitted_on.push(r.fitted_on);
                return r.point.clone();
            }
        }
        let told: Vec<Told> = (0..decided)
            .filter_map(|j| match outcomes[j] {
                Outcome::Told(score) => Some(Told {
                    trial: j,
                    point: self.points[j].clone(),
                    score,
                }),
                _ => None,
            })
            .collect();
        let s = &self.search;
        let (told, fitted_on) = if s.rung_model {
            at_fidelity(told, &self.rungs, s.space.len() + 2)
        } else {
            (told, None)
        };
        let point = self.sampler.suggest(&Ask {
            label: &self.label,
            seed: s.seed,
            trial: k,
            space: &s.space,
            told: &told,
            pending: &self.points[decided..],
        });
        self.computed += 1;
        self.checks.push(check(&point));
        self.fitted_on.push(fitted_on);
        point
    }
}

/// BOHB's choice of what a sampler is fitted on (Falkner et al. 2018): the highest fidelity
/// with at least `need` observations (d + 2 for d searched dimensions), and only those: the
/// final values of the completed trials when there are that many; else the values at the
/// highest rung that `need` trials reached (stopped ones at the rung where they stopped or
/// below), each as a completed value; when no rung has that many, everything told as without
/// rungs (completed trials, then stopped ones ranked after them). The rung used, if one was.
pub fn at_fidelity(
    told: Vec<Told>,
    rungs: &[Vec<(i64, f64)>],
    need: usize,
) -> (Vec<Told>, Option<i64>) {
    let completed: Vec<Told> = told
        .iter()
        .filter(|t| matches!(t.score, Score::Completed(_)))
        .cloned()
        .collect();
    if completed.len() >= need {
        return (completed, None);
    }
    let at = |t: &Told, e: i64| {
        rungs
            .get(t.trial)
            .and_then(|r| r.iter().find(|(re, _)| *re == e))
            .map(|(_, v)| *v)
            .filter(|v| v.is_finite())
    };
    let mut epochs: Vec<i64> = told
        .iter()
        .flat_map(|t| rungs.get(t.trial).into_iter().flatten().map(|(e, _)| *e))
        .collect();
    epochs.sort_unstable();
    epochs.dedup();
    for &e in epochs.iter().rev() {
        let level: Vec<Told> = told
            .iter()
            .filter_map(|t| {
                at(t, e).map(|v| Told {
                    score: Score::Completed(v),
                    ..t.clone()
                })
            })
            .collect();
        if level.len() >= need {
            return (level, Some(e));
        }
    }
    (told, None)
}

/// Whether `r` records this same search (its sampler, metric, seed, q, startup and space):
/// only then are its decisions and forgotten runs carried on.
fn record_is_of(r: &SearchRecord, s: &Search) -> bool {
    r.sampler == s.sampler
        && r.metric == s.metric.name
        && (r.seed, r.parallel, r.startup) == (s.seed, s.parallel, s.startup)
        && r.space.len() == s.space.len()
        && s.space
            .iter()
            .all(|(n, d)| r.space.get(n) == Some(&d.text()))
}

/// A point as exact text for the checks: each value's YAML with the bits of a float.
fn point_key(p: &Point) -> String {
    p.iter()
        .map(|(n, v)| match v.as_f64().filter(|_| v.is_f64()) {
            Some(x) => format!("{n}=f{:016x}", x.to_bits()),
            None => format!("{n}={}", crate::flags::plain_value(v)),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A recorded trial's flags (text) as the point of `space`, when every value is one the
/// space can hold (else the trial is decided anew).
pub fn recorded_point(
    space: &[(String, Dist)],
    flags: &std::collections::BTreeMap<String, String>,
) -> Option<Point> {
    if flags.len() != space.len() {
        return None;
    }
    space
        .iter()
        .map(|(name, d)| {
            let text = flags.get(name)?;
            let v = match d {
                Dist::Uniform(a, b) | Dist::LogUniform(a, b) => {
                    let x: f64 = text.parse().ok()?;
                    (x >= *a && x <= *b).then(|| Value::from(x))?
                }
                Dist::RandInt(a, b) => {
                    let x: i64 = text.parse().ok()?;
                    (x >= *a && x <= *b).then(|| Value::from(x))?
                }
                Dist::Choice(values) => values
                    .iter()
                    .find(|v| crate::flags::plain_value(v) == *text)?
                    .clone(),
            };
            Some((name.clone(), v))
        })
        .collect()
}

/// The search as a strategy: its trials' points admitted as runs of the plan.
pub struct SearchStrategy {
    trials: Trials,
    /// Each decided trial's run (an index into the plan's runs) once admitted.
    runs: Vec<Option<usize>>,
    /// Trials already said to be left out (said once).
    left_out: Vec<usize>,
    /// The outcomes of the trials that have ended.
    ended: std::collections::HashMap<usize, Outcome>,
    /// Trials whose run is damaged now, with why (the search waits for their repair).
    damaged: std::collections::BTreeMap<usize, String>,
    /// Runs the user chose to leave out (`run --forget RUN`): a damaged one is not waited for.
    forgotten: Vec<String>,
    notes: Vec<String>,
    /// Whether the decisions reused and computed were said (once, at the first notes).
    said_counts: bool,
}

impl SearchStrategy {
    pub fn new(search: Search, label: &str) -> SearchStrategy {
        SearchStrategy {
            trials: Trials::new(search, label),
            runs: Vec::new(),
            left_out: Vec::new(),
            ended: std::collections::HashMap::new(),
            damaged: std::collections::BTreeMap::new(),
            forgotten: Vec::new(),
            notes: Vec::new(),
            said_counts: false,
        }
    }

    /// Continues from the sweep's record: its decisions are reused where their checks hold
    /// (only when the record is of this same search), and its forgotten runs stay forgotten.
    pub fn resuming(mut self, previous: Option<&SearchRecord>) -> SearchStrategy {
        let Some(p) = previous.filter(|p| record_is_of(p, &self.trials.search)) else {
            return self;
        };
        let space = &self.trials.search.space;
        self.trials.recorded = p
            .trials
            .iter()
            .enumerate()
            .map_while(|(k, t)| {
                (t.trial == k).then(|| Recorded {
                    point: recorded_point(space, &t.flags).unwrap_or_default(),
                    check: t.check.clone(),
                    fitted_on: t.fitted_on,
                })
            })
            .collect();
        self.forgotten = p.forgotten.clone();
        self
    }

    /// Runs the user chose to leave out of the model (`run --forget RUN`), kept in the record.
    pub fn forget(&mut self, runs: &[String]) {
        for r in runs {
            if !self.forgotten.contains(r) {
                self.forgotten.push(r.clone());
            }
        }
    }

    /// Decisions reused from the record and computed by the sampler in this invocation.
    pub fn decision_counts(&self) -> (usize, usize) {
        (self.trials.reused, self.trials.computed)
    }

    /// Trial `j`'s outcome: once ended, as recorded (an ended run's files are not read
    /// again at each later end); a damaged run is read again (it may have been repaired).
    fn outcome(&mut self, j: usize, plan: &Plan, result: &dyn Fn(usize) -> RunResult) -> Outcome {
        if let Some(o) = self.ended.get(&j) {
            return *o;
        }
        let o = self.read_outcome(j, plan, result);
        if o.ended() {
            self.ended.insert(j, o);
        }
        o
    }

    /// Trial `j`'s outcome from its run's; says once why an ended trial is left out.
    fn read_outcome(
        &mut self,
        j: usize,
        plan: &Plan,
        result: &dyn Fn(usize) -> RunResult,
    ) -> Outcome {
        let Some(i) = self.runs[j] else {
            return Outcome::Pending;
        };
        let m = self.trials.search.metric;
        let r = result(i);
        let forgotten = self.forgotten.contains(&plan.runs[i].id);
        if let RunResult::Damaged(why) = &r {
            if !forgotten {
                if self.damaged.insert(j, why.clone()).is_none() {
                    self.notes.push(format!(
                        "search: trial {j} (run {}) has damaged files ({why}): the search waits for their repair before deciding any trial that depends on it (or `run --forget {}` leaves it out)",
                        plan.runs[i].id, plan.runs[i].id
                    ));
                }
                return Outcome::Damaged;
            }
        }
        self.damaged.remove(&j);
        let rung_model = self.trials.search.rung_model;
        let scored = matches!(r, RunResult::Stopped(_))
            || (rung_model && matches!(r, RunResult::Completed(_)));
        let files = (scored && !forgotten).then(|| RunFiles::read(&plan.runs[i]));
        let score = match &r {
            RunResult::Pending => return Outcome::Pending,
            _ if forgotten => None,
            RunResult::Completed(metrics) => match metrics.get(m.name) {
                Some(v) if v.is_finite() => Some(Score::Completed(m.as_loss(*v))),
                _ => None,
            },
            RunResult::Stopped(_) => files.as_ref().map(|f| f.stopped_score(m)),
            _ => None,
        };
        if let Some(score) = score {
            let epochs = plan.runs[i].flags.epochs();
            let ladder = plan.stop.as_ref().and_then(|s| s.ladder(epochs));
            if let (true, Some(files), Some(ladder)) = (rung_model, &files, ladder) {
                self.trials.set_rungs(j, files.rung_values(ladder, m));
            }
            return Outcome::Told(score);
        }
        if !self.left_out.contains(&j) {
            self.left_out.push(j);
            let why = match r {
                _ if forgotten => "it was forgotten (run --forget)".to_string(),
                RunResult::Failed(r) => format!("it failed ({r})"),
                _ => format!("it has no finite final {}", m.name),
            };
            self.notes.push(format!(
                "search: trial {j} (run {}) is left out of the model: {why}",
                plan.runs[i].id
            ));
        }
        Outcome::LeftOut
    }
}

/// What a trial's run folder says beyond its record, read once: its scalar rows and the
/// epoch where a stop rule decided (its `stop.json`), if it has a readable one.
struct RunFiles {
    rows: Vec<crate::track::csv::EpochRow>,
    stopped_at: Option<i64>,
}

impl RunFiles {
    fn read(run: &crate::sweep::PlannedRun) -> Self {
        let dir = run.run_dir();
        RunFiles {
            rows: crate::track::csv::read(&dir.scalars()).unwrap_or_default(),
            stopped_at: dir.read_stop_request().map(|d| d.epoch),
        }
    }

    /// A stopped run's score: the decision's epoch and the metric's value there, so that it
    /// does not depend on when the stop landed; the run's last epoch and value when it has no
    /// readable request. Infinite when the value is unknown.
    fn stopped_score(&self, m: &Metric) -> Score {
        let (epochs, value) = match self.stopped_at {
            Some(e) => (e, self.value_at(e, m)),
            None => (
                self.rows.last().map_or(0, |r| r.epoch),
                self.rows.iter().rev().find_map(|r| r.metric(m.column)),
            ),
        };
        Score::Stopped {
            epochs,
            last: value.map_or(f64::INFINITY, |v| m.as_loss(v)),
        }
    }

    /// The metric at each epoch of `ladder` (as a loss), up to the rung where the run was
    /// stopped.
    fn rung_values(&self, ladder: Vec<i64>, m: &Metric) -> Vec<(i64, f64)> {
        let cap = self.stopped_at.unwrap_or(i64::MAX);
        ladder
            .into_iter()
            .filter(|e| *e <= cap)
            .filter_map(|e| Some((e, m.as_loss(self.value_at(e, m)?))))
            .collect()
    }

    fn value_at(&self, epoch: i64, m: &Metric) -> Option<f64> {
        // The first value in the epoch's rows, as the stop rule judges it.
        self.rows
            .iter()
            .filter(|r| r.epoch == epoch)
            .find_map(|r| r.metric(m.column))
    }
}

impl Strategy for SearchStrategy {
    fn propose(&mut self, plan: &Plan, result: &dyn Fn(usize) -> RunResult) -> Vec<Proposal> {
        let mut outcomes: Vec<Outcome> = (0..self.runs.len())
            .map(|j| self.outcome(j, plan, result))
            .collect();
        // The runs of trials not ended yet (proposed again: the caller starts what is to do).
        let mut out: Vec<Proposal> = self
            .runs
            .iter()
            .zip(&outcomes)
            .filter_map(|(run, o)| run.filter(|_| *o == Outcome::Pending))
            .map(Proposal::Run)
            .collect();
        for point in self.trials.decide_all(&mut outcomes) {
            self.runs.push(None);
            out.push(Proposal::Point {
                trial: self.runs.len() - 1,
                point,
            });
        }
        out
    }

    fn admitted(&mut self, trial: usize, run: usize) {
        self.runs[trial] = Some(run);
    }

    /// Trial k is compared only with trials `0 ..= k-q`, which the contract lets it depend on.
    fn stop_peers(&self, run: usize) -> super::StopPeers {
        let Some(k) = self.runs.iter().position(|r| *r == Some(run)) else {
            return super::StopPeers::Any;
        };
        let upto = (k + 1).saturating_sub(self.trials.search.parallel);
        super::StopPeers::Earlier {
            trial: k,
            runs: (0..upto)
                .filter_map(|j| self.runs.get(j).copied().flatten().map(|r| (j, r)))
                .collect(),
        }
    }

    fn notes(&mut self) -> Vec<String> {
        let (reused, computed) = self.decision_counts();
        if !self.said_counts && reused + computed > 0 {
            self.said_counts = true;
            self.notes.push(format!(
                "search: {reused} decision(s) reused from sweep.json (their checks hold), {computed} computed"
            ));
        }
        std::mem::take(&mut self.notes)
    }

    fn search(&self, plan: &Plan) -> Option<SearchRecord> {
        let s = &self.trials.search;
        let points = self.trials.points();
        let checks = self.trials.checks();
        let run_of = |k: usize| self.runs.get(k).copied().flatten().map(|i| &plan.runs[i]);
        Some(SearchRecord {
            sampler: s.sampler.to_string(),
            metric: s.metric.name.to_string(),
            trials_planned: s.trials,
            seed: s.seed,
            parallel: s.parallel,
            startup: s.startup,
            space: s.space.iter().map(|(n, d)| (n.clone(), d.text())).collect(),
            trials: (0..points.len())
                .filter_map(|k| {
                    Some(TrialEntry {
                        trial: k,
                        run: run_of(k)?.id.clone(),
                        flags: points[k]
                            .iter()
                            .map(|(n, v)| (n.clone(), crate::flags::plain_value(v)))
                            .collect(),
                        check: checks[k].clone(),
                        fitted_on: self.trials.fitted_on().get(k).copied().flatten(),
                    })
                })
                .collect(),
            damaged: self
                .damaged
                .iter()
                .filter_map(|(&k, why)| {
                    Some(DamagedTrial {
                        trial: k,
                        run: run_of(k)?.id.clone(),
                        why: why.clone(),
                    })
                })
                .collect(),
            forgotten: self.forgotten.clone(),
        })
    }
}

// The `search:` block as the sweep file holds it, and its parsing (its errors at its lines).

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSearch {
    sampler: String,
    metric: String,
    trials: usize,
    #[serde(default = "super::random::first_seed")]
    seed: u64,
    #[serde(default = "one_usize")]
    parallel: usize,
    startup: Option<usize>,
    space: Mapping,
}

fn one_usize() -> usize {
    1
}

/// `search:`: a registered sampler, a final metric, at least one trial, 1 to `trials`
/// in flight; never with `random:`, `race:` or a grid (the search's space holds what
/// varies: a list is a categorical dimension).
pub(crate) fn parse_search(
    t: SweepText,
    r: RawSearch,
    fixed: &[(String, Value)],
    grid: &[(String, Vec<Value>)],
    random: bool,
    race: bool,
) -> Result<Search, SpecError> {
    let line = |k: &str| t.line("search", k);
    let at_top = t.line("", "search");
    if random || race {
        let other = if random { "random" } else { "race" };
        return Err(t.err(
            at_top,
            format!("search: cannot be combined with {other}: (the search decides its trials from results; run a {other} as a sweep of its own)"),
        ));
    }
    if let Some((name, _)) = grid.first() {
        return Err(t.err(
            at_top,
            format!("search: cannot be combined with grid: or seeds: (`{name}`): put a grid flag in the search's space as a list (a categorical dimension), or --set it to one value"),
        ));
    }
    let sampler = sampler_names()
        .into_iter()
        .find(|n| *n == r.sampler)
        .ok_or_else(|| {
            t.err(
                line("sampler"),
                format!(
                    "search: unknown sampler `{}`; expected one of {}",
                    r.sampler,
                    sampler_names().join(", ")
                ),
            )
        })?;
    let known = t.final_metric_names();
    let metric = crate::metrics::names::Metric::named(&r.metric)
        .filter(|m| known.contains(&m.name))
        .ok_or_else(|| {
            t.err(
                line("metric"),
                format!(
                    "search: unknown metric `{}`; expected one of {}",
                    r.metric,
                    known.join(", ")
                ),
            )
        })?;
    if r.trials == 0 {
        return Err(t.err(line("trials"), "search: trials must be at least 1".into()));
    }
    if r.parallel == 0 || r.parallel > r.trials {
        return Err(t.err(
            line("parallel"),
            format!(
                "search: parallel (trials in flight at most) must be from 1 to trials ({}), not {}",
                r.trials, r.parallel
            ),
        ));
    }
    let space = parse_space(t, "search", r.space, fixed, grid)?;
    // The samplers' models scale each dimension by its range: a range of one value has none.
    if let Some((name, d)) = space.iter().find(|(_, d)| d.is_one_value()) {
        return Err(t.err(
            t.line("search", name),
            format!(
                "search: {name}: {} has one value: a searched flag needs low < high (set a flag that does not vary under flags:)",
                d.text()
            ),
        ));
    }
    let make = samplers().find(|(n, _)| *n == sampler).map(|(_, f)| f);
    if let Err(why) = make.expect("a registered sampler")().check_space(&space) {
        let name = why.split(':').next().unwrap_or_default();
        return Err(t.err(
            t.line("search", name),
            format!("search: sampler {sampler}: {why}"),
        ));
    }
    // Optuna's default: 10 random trials, and at least one round of the q in flight.
    let startup = r.startup.unwrap_or(10.max(r.parallel)).min(r.trials);
    Ok(Search {
        sampler,
        metric,
        trials: r.trials,
        seed: r.seed,
        parallel: r.parallel,
        startup,
        space,
        rung_model: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sweep::{expand, SweepSpec};
    use rand::{Rng, SeedableRng};
    use std::collections::{BTreeMap, HashMap};
    use std::path::Path;

    fn plan(sampler: &str, trials: usize, parallel: usize, startup: usize) -> Plan {
        let text = format!(
            "label: s\nflags:\n  dataset_name: shapes\nsearch:\n  sampler: {sampler}\n  metric: image_loss\n  trials: {trials}\n  parallel: {parallel}\n  startup: {startup}\n  space:\n    lr: loguniform(1e-4, 1e-2)\n    block_depth: randint(1, 4)\n    loss: [mae, mse]\n"
        );
        let spec = SweepSpec::parse(&text, "s.yaml", &[]).unwrap();
        expand(&spec, Path::new("/nonexistent/runs")).unwrap()
    }

    /// A smooth objective of the point (lower is better), best near lr = 1e-3, depth 3, mse.
    fn objective(r: &crate::sweep::PlannedRun) -> f64 {
        let f = r.flags.builtin().expect("built-in runs");
        (f.lr.ln() - (1e-3f64).ln()).powi(2)
            + 0.3 * (f.block_depth as f64 - 3.0).powi(2)
            + if r.varying_text().contains("loss=mse") {
                0.0
            } else {
                0.5
            }
    }

    type Log = Vec<(usize, String, BTreeMap<String, String>)>;

    /// Drives a search to its end as the orchestrator does, finishing the runs in flight in
    /// the order `seed` draws; returns the suggestion log and the most runs in flight at once.
    fn drive(sampler: &str, q: usize, seed: u64) -> (Log, usize) {
        let mut plan = plan(sampler, 20, q, 4);
        let mut s = SearchStrategy::new(plan.search.clone().unwrap(), &plan.label);
        let mut results: HashMap<usize, RunResult> = HashMap::new();
        let mut in_flight: Vec<usize> = Vec::new();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut most = 0;
        loop {
            loop {
                let result = |i: usize| results.get(&i).cloned().unwrap_or(RunResult::Pending);
                let props = s.propose(&plan, &result);
                let mut new = false;
                for p in props {
                    if let Proposal::Point { trial, point } = p {
                        new = true;
                        let i = plan.admit(point, trial).unwrap();
                        s.admitted(trial, i);
                        if !results.contains_key(&i) && !in_flight.contains(&i) {
                            in_flight.push(i);
                        }
                    }
                }
                if !new {
                    break;
                }
            }
            most = most.max(in_flight.len());
            if in_flight.is_empty() {
                break;
            }
            let i = in_flight.remove(rng.random_range(0..in_flight.len()));
            let v = objective(&plan.runs[i]);
            results.insert(
                i,
                RunResult::Completed(BTreeMap::from([("image_loss".to_string(), v)])),
            );
        }
        let rec = s.search(&plan).unwrap();
        let log = rec
            .trials
            .into_iter()
            .map(|t| (t.trial, t.run, t.flags))
            .collect();
        (log, most)
    }

    /// The contract: 1,000 random finishing orders give one suggestion log, with q in flight.
    #[test]
    fn any_finishing_order_gives_the_same_trials() {
        let (first, most) = drive("tpe", 3, 0);
        assert_eq!(first.len(), 20);
        assert_eq!(most, 3, "q = 3 trials in flight at most, and reached");
        for seed in 1..1000 {
            let (log, most) = drive("tpe", 3, seed);
            assert!(most <= 3);
            assert_eq!(log, first, "finishing order {seed}");
        }
    }

    /// The startup trials are random search's draws; after them TPE moves towards the
    /// optimum: its last 8 trials beat random search's last 8 on the objective.
    #[test]
    fn startup_is_random_search_and_tpe_learns() {
        let (tpe, _) = drive("tpe", 1, 0);
        let (random, _) = drive("random", 1, 0);
        assert_eq!(tpe[..4], random[..4], "the same startup draws");
        let p = plan("random", 20, 1, 4);
        let s = p.search.as_ref().unwrap();
        let mean_lr_error = |log: &Log| {
            log[12..]
                .iter()
                .map(|(_, _, f)| (f["lr"].parse::<f64>().unwrap().ln() - (1e-3f64).ln()).abs())
                .sum::<f64>()
                / 8.0
        };
        assert_eq!(
            random[5].2["lr"],
            crate::flags::plain_value(&s.draw("s", 5)[0].1)
        );
        assert!(
            mean_lr_error(&tpe) < mean_lr_error(&random),
            "tpe {} random {}",
            mean_lr_error(&tpe),
            mean_lr_error(&random)
        );
    }

    /// BOHB's rule, worked by hand: with need 3, two completed trials are too few; rung 9
    /// has two values (too few), rung 3 has three (stopped trial 2 counts at its rung; trial
    /// 3, stopped at rung 1, does not); with a third completed trial the final values of the
    /// completed ones alone are used.
    #[test]
    fn the_sampler_is_fitted_on_the_highest_rung_with_enough_values() {
        let told = |trial: usize, score: Score| Told {
            trial,
            point: Vec::new(),
            score,
        };
        let stopped = |epochs| Score::Stopped { epochs, last: 1.0 };
        let mut all = vec![
            told(0, Score::Completed(0.5)),
            told(1, Score::Completed(0.7)),
            told(2, stopped(3)),
            told(3, stopped(1)),
        ];
        let rungs = vec![
            vec![(1, 0.9), (3, 0.6), (9, 0.55)],
            vec![(1, 0.8), (3, 0.75), (9, 0.72)],
            vec![(1, 0.85), (3, 0.8)],
            vec![(1, 2.0)],
        ];
        let (fitted, on) = at_fidelity(all.clone(), &rungs, 3);
        assert_eq!(on, Some(3));
        let values: Vec<(usize, Score)> = fitted.iter().map(|t| (t.trial, t.score)).collect();
        assert_eq!(
            values,
            [
                (0, Score::Completed(0.6)),
                (1, Score::Completed(0.75)),
                (2, Score::Completed(0.8))
            ]
        );
        let (fitted, on) = at_fidelity(all.clone(), &rungs, 5);
        assert_eq!(
            (fitted, on),
            (all.clone(), None),
            "no rung has 5: as without rungs"
        );
        all.push(told(4, Score::Completed(0.4)));
        let (fitted, on) = at_fidelity(all.clone(), &rungs, 3);
        let completed = vec![all[0].clone(), all[1].clone(), all[4].clone()];
        assert_eq!(
            (fitted, on),
            (completed, None),
            "3 completed: their final values only"
        );
    }
}
