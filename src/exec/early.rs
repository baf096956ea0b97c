//! Early stopping as the orchestrator applies it: each epoch the running runs have written
//! since the last look, against the values of the runs the strategy lets it be compared with
//! ([`StopPeers`]), in the run's bracket (Hyperband). A search's trial k is compared with
//! trials `0 ..= k-q` only, at the same epoch, waiting for those still running; a stopped
//! run counts up to the epoch where it was stopped (what it wrote after, while the stop was
//! landing, depends on timing). So a search's stops, like its points, do not depend on
//! `--jobs`, the finishing order or a kill and rerun.

use crate::store::RunDir;
use crate::sweep::record::Decision;
use crate::sweep::stop::EarlyStop;
use crate::sweep::strategy::{RunResult, StopPeers};
use crate::sweep::Plan;
use crate::track::csv::{self, EpochRow};
use std::collections::{HashMap, HashSet};

/// The state of early stopping in one invocation.
pub struct EarlyStopping {
    pub rule: EarlyStop,
    /// The last epoch decided (or passed over), per run.
    seen: HashMap<usize, i64>,
    /// scalars.csv's size and time at the last look, per run.
    stamps: HashMap<usize, (u64, u128)>,
    /// Runs whose next decision waits for runs they are compared with.
    waiting: HashSet<usize>,
    /// Runs the rule leaves alone: resumed with --resume-stopped, or already stopped.
    pub exempt: HashSet<usize>,
    pub decisions: Vec<Decision>,
}

/// What one look found about a run's peers at an epoch.
enum Compared {
    Values(Vec<f64>),
    /// A peer has neither reached the epoch nor ended.
    Wait,
}

/// The runs' files read once per look.
struct Look<'a> {
    plan: &'a Plan,
    rows: HashMap<usize, Vec<EpochRow>>,
    /// The epoch where each run was stopped (its stop request), if it was.
    caps: HashMap<usize, Option<i64>>,
}

impl Look<'_> {
    fn dir(&self, i: usize) -> RunDir {
        self.plan.runs[i].run_dir()
    }

    fn rows(&mut self, i: usize) -> &[EpochRow] {
        let dir = self.dir(i);
        self.rows.entry(i).or_insert_with(|| {
            let path = dir.scalars();
            csv::read(&path).unwrap_or_else(|e| {
                if path.exists() {
                    eprintln!("warning: {e:#}; the stop rule cannot judge this run");
                }
                Vec::new()
            })
        })
    }

    fn cap(&mut self, i: usize) -> Option<i64> {
        let dir = self.dir(i);
        *self
            .caps
            .entry(i)
            .or_insert_with(|| dir.read_stop_request().map(|d| d.epoch))
    }

    /// Run `i`'s value of `metric` at `epoch`: Some(Some(v)) when it has one there (before
    /// any stop), Some(None) when it never will (stopped before, or reached it without the
    /// metric), None when it may still (not there yet).
    fn value(&mut self, i: usize, epoch: i64, metric: &str) -> Option<Option<f64>> {
        if self.cap(i).is_some_and(|c| epoch > c) {
            return Some(None);
        }
        let rows = self.rows(i);
        if let Some(r) = rows.iter().find(|r| r.epoch == epoch) {
            return Some(r.metric(metric));
        }
        rows.iter().any(|r| r.epoch > epoch).then_some(None)
    }
}

impl EarlyStopping {
    pub fn new(rule: EarlyStop, exempt: HashSet<usize>) -> EarlyStopping {
        EarlyStopping {
            rule,
            seen: HashMap::new(),
            stamps: HashMap::new(),
            waiting: HashSet::new(),
            exempt,
            decisions: Vec::new(),
        }
    }

    /// The runs among `active` (sorted) that the rule stops now, with its decision each
    /// (recorded as decided: each run is decided once). `peers` says whom a run may be
    /// compared with.
    pub fn look(
        &mut self,
        plan: &Plan,
        active: &[usize],
        peers: &dyn Fn(usize) -> StopPeers,
    ) -> Vec<(usize, Decision)> {
        let mut look = Look {
            plan,
            rows: HashMap::new(),
            caps: HashMap::new(),
        };
        let mut out = Vec::new();
        for &run in active {
            if self.exempt.contains(&run) {
                continue;
            }
            // Read again only when the file changed since the last look, or when waiting.
            let stamp = crate::files::file_stamp(&plan.runs[run].run_dir().scalars());
            let same = self.stamps.insert(run, stamp) == Some(stamp);
            if same && !self.waiting.contains(&run) {
                continue;
            }
            self.waiting.remove(&run);
            if let Some(d) = self.judge(&mut look, run, &peers(run)) {
                self.exempt.insert(run);
                out.push((run, d));
            }
        }
        out
    }

    /// The stop decision for `run`'s epochs not yet judged, if one stops it.
    fn judge(&mut self, look: &mut Look, run: usize, peers: &StopPeers) -> Option<Decision> {
        let r = &look.plan.runs[run];
        let max = r.flags.epochs();
        let position = match peers {
            StopPeers::Earlier { trial, .. } => *trial,
            StopPeers::Any => run,
        };
        let bracket = self.rule.bracket(position, max);
        let seen = self.seen.get(&run).copied().unwrap_or(0);
        let rows: Vec<(i64, Option<f64>)> = look
            .rows(run)
            .iter()
            .filter(|row| row.epoch > seen)
            .map(|row| (row.epoch, row.metric(&self.rule.metric)))
            .collect();
        for (epoch, value) in rows {
            let Some(value) = value.filter(|_| self.rule.decides_at(epoch, max, bracket)) else {
                self.seen.insert(run, epoch);
                continue;
            };
            let others = match self.compared(look, run, peers, (epoch, bracket)) {
                Compared::Values(v) => v,
                Compared::Wait => {
                    self.waiting.insert(run);
                    return None;
                }
            };
            self.seen.insert(run, epoch);
            let Some(threshold) = self.rule.verdict((epoch, max, bracket), value, &others) else {
                continue;
            };
            return Some(Decision {
                run: r.id.clone(),
                rule: self.rule.rule_name(),
                metric: self.rule.metric.clone(),
                epoch,
                value,
                threshold,
                compared: others.len(),
                epochs: max,
                at: crate::process::now_rfc3339(),
            });
        }
        None
    }

    /// The values `run` is compared with at `epoch` in `bracket`.
    fn compared(
        &self,
        look: &mut Look,
        run: usize,
        peers: &StopPeers,
        (epoch, bracket): (i64, u32),
    ) -> Compared {
        let metric = &self.rule.metric;
        let in_bracket = |look: &mut Look, position: usize, j: usize| {
            self.rule
                .bracket(position, look.plan.runs[j].flags.epochs())
                == bracket
        };
        let mut values = Vec::new();
        match peers {
            StopPeers::Any => {
                for j in (0..look.plan.runs.len()).filter(|j| *j != run) {
                    if in_bracket(look, j, j) {
                        values.extend(look.value(j, epoch, metric).flatten());
                    }
                }
            }
            StopPeers::Earlier { runs, .. } => {
                for &(trial, j) in runs {
                    if !in_bracket(look, trial, j) {
                        continue;
                    }
                    match look.value(j, epoch, metric) {
                        Some(v) => values.extend(v),
                        None if RunResult::of(&look.plan.runs[j]) == RunResult::Pending => {
                            return Compared::Wait
                        }
                        None => {}
                    }
                }
            }
        }
        Compared::Values(values)
    }
}
