//! Early stopping as the orchestrator applies it: each epoch the running runs have written
//! since the last look, against the values of the runs the strategy lets it be compared with
//! ([`StopPeers`]), in the run's bracket (Hyperband). A search's trial k is compared with
//! trials `0 ..= k-q` only, at the same epoch, waiting for those still running; a stopped
//! run counts up to the epoch where it was stopped (what it wrote after, while the stop was
//! landing, depends on timing). So a search's stops, like its points, do not depend on
//! `--jobs`, the finishing order or a kill and rerun.

use crate::sweep::record::Decision;
use crate::sweep::stop::EarlyStop;
use crate::sweep::strategy::{RunResult, StopPeers};
use crate::sweep::Plan;
use crate::track::follow::Follow;
use std::collections::{BTreeMap, HashMap, HashSet};

/// The state of early stopping in one invocation.
pub struct EarlyStopping {
    pub rule: EarlyStop,
    /// The last epoch decided (or passed over), per run.
    seen: HashMap<usize, i64>,
    /// Each run's values of the watched metric, read as its scalars.csv grows.
    values: HashMap<usize, Values>,
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

/// One run's values of the watched metric by epoch (the first a row of the epoch gave; None
/// while its rows have none), kept up to date from its scalars.csv: memory grows with its
/// epochs, not its rows.
struct Values {
    follow: Follow,
    by_epoch: BTreeMap<i64, Option<f64>>,
    /// A damaged file: said once, the run not judged until it reads again.
    damaged: bool,
}

impl Values {
    /// Reads what the run appended; whether anything new came.
    fn refresh(&mut self, metric: &str) -> bool {
        let by_epoch = &mut self.by_epoch;
        let mut fresh = Vec::new();
        let read = self
            .follow
            .read(|row| fresh.push((row.epoch, row.metric(metric))));
        match read {
            Ok(grown) => {
                if grown.restarted {
                    by_epoch.clear();
                }
                self.damaged = false;
                for (epoch, v) in fresh {
                    let at = by_epoch.entry(epoch).or_insert(None);
                    *at = at.or(v);
                }
                grown.rows > 0 || grown.restarted
            }
            Err(e) => {
                if !std::mem::replace(&mut self.damaged, true) {
                    eprintln!("warning: {e:#}; the stop rule cannot judge this run");
                }
                false
            }
        }
    }

    fn last_epoch(&self) -> Option<i64> {
        self.by_epoch.keys().next_back().copied()
    }
}

/// The runs' values brought up to date at most once per look.
struct Look<'a> {
    plan: &'a Plan,
    metric: String,
    values: HashMap<usize, Values>,
    fresh: HashSet<usize>,
    /// The epoch where each run was stopped (its stop request), if it was.
    caps: HashMap<usize, Option<i64>>,
}

impl Look<'_> {
    /// Run `i`'s values, read up to now; whether this read found anything new.
    fn values(&mut self, i: usize) -> (&Values, bool) {
        let grown = if self.fresh.insert(i) {
            let scalars = self.plan.runs[i].run_dir().scalars();
            let v = self.values.entry(i).or_insert_with(|| Values {
                follow: Follow::new(&scalars),
                by_epoch: BTreeMap::new(),
                damaged: false,
            });
            v.refresh(&self.metric)
        } else {
            false
        };
        (&self.values[&i], grown)
    }

    fn cap(&mut self, i: usize) -> Option<i64> {
        let dir = self.plan.runs[i].run_dir();
        *self
            .caps
            .entry(i)
            .or_insert_with(|| dir.read_stop_request().map(|d| d.epoch))
    }

    /// Run `i`'s value of the metric at `epoch`: Some(Some(v)) when it has one there (before
    /// any stop), Some(None) when it never will (stopped before, or went past it without the
    /// metric), None when it may still (not there yet, or still there).
    fn value(&mut self, i: usize, epoch: i64) -> Option<Option<f64>> {
        if self.cap(i).is_some_and(|c| epoch > c) {
            return Some(None);
        }
        let (v, _) = self.values(i);
        if let Some(Some(x)) = v.by_epoch.get(&epoch) {
            return Some(Some(*x));
        }
        v.last_epoch().is_some_and(|l| l > epoch).then_some(None)
    }
}

impl EarlyStopping {
    pub fn new(rule: EarlyStop, exempt: HashSet<usize>) -> EarlyStopping {
        EarlyStopping {
            rule,
            seen: HashMap::new(),
            values: HashMap::new(),
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
            metric: self.rule.metric.clone(),
            values: std::mem::take(&mut self.values),
            fresh: HashSet::new(),
            caps: HashMap::new(),
        };
        let mut out = Vec::new();
        for &run in active {
            if self.exempt.contains(&run) {
                continue;
            }
            // Judged again only when the run wrote rows since the last look, or when waiting.
            let (_, grown) = look.values(run);
            if !grown && !self.waiting.contains(&run) {
                continue;
            }
            self.waiting.remove(&run);
            if let Some(d) = self.judge(&mut look, run, &peers(run)) {
                self.exempt.insert(run);
                out.push((run, d));
            }
        }
        self.values = look.values;
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
        let (values, _) = look.values(run);
        let last = values.last_epoch();
        let epochs: Vec<(i64, Option<f64>)> = values
            .by_epoch
            .range(seen + 1..)
            .map(|(e, v)| (*e, *v))
            .collect();
        for (epoch, value) in epochs {
            let Some(value) = value else {
                // Its value may still come in a later row of the same epoch.
                if Some(epoch) == last {
                    break;
                }
                self.seen.insert(run, epoch);
                continue;
            };
            if !self.rule.decides_at(epoch, max, bracket) {
                self.seen.insert(run, epoch);
                continue;
            }
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
                        values.extend(look.value(j, epoch).flatten());
                    }
                }
            }
            StopPeers::Earlier { runs, .. } => {
                for &(trial, j) in runs {
                    if !in_bracket(look, trial, j) {
                        continue;
                    }
                    match look.value(j, epoch) {
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
