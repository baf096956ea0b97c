//! Early stopping (`stop:`): a rule compares each running run's per-epoch validation metric
//! with the other runs' at the same epoch and stops the hopeless ones. Each rule is a
//! [`Rule`] in its own file: [`median::Median`], [`asha::Asha`], [`hyperband::Hyperband`].
//!
//! ```yaml
//! stop:
//!   metric: val_noise_loss     # a per-epoch validation scalar (its direction: the metric's)
//!   rule: median               # median | asha | hyperband
//!   after_epochs: 2            # grace period
//!   min_runs: 2                # compare only against at least this many runs
//!   eta: 3                     # asha, hyperband: keep the top 1/eta of each rung
//! ```

pub mod asha;
pub mod hyperband;
pub mod median;

use crate::metrics::names::Metric;
use crate::sweep::section::{SpecError, SweepText};
use serde::Deserialize;
use std::sync::Arc;

/// How early stopping compares runs.
pub trait Rule: std::fmt::Debug + Send + Sync {
    /// As recorded: `median`, `asha (eta 3)`.
    fn name(&self) -> String;
    /// The bracket of the run at `position` (a search's trial number, else its index in the
    /// plan), for runs of `first` ..= `max` epochs: runs are compared only within their
    /// bracket. One bracket (0) unless the rule has several.
    fn bracket(&self, _position: usize, _first: i64, _max: i64) -> u32 {
        0
    }
    /// Whether runs fall into several brackets (then the runs need an `epochs` flag).
    fn has_brackets(&self) -> bool {
        false
    }
    /// Whether the rule decides at `epoch` (at least `first`, the grace period) for a run of
    /// `max` epochs in `bracket`.
    fn decides_at(&self, epoch: i64, first: i64, max: i64, bracket: u32) -> bool;
    /// Its reduction when it decides at rungs only (successive halving: at `first · eta^i`
    /// epochs), so that the values at those rungs are what a search may learn from.
    fn rung_eta(&self) -> Option<u32> {
        None
    }
    /// Some(threshold) when a run with `value` stops, given the other runs' finite values at
    /// the same epoch (at least one).
    fn threshold(&self, value: f64, others: &[f64]) -> Option<f64>;
}

/// The rules by name, for messages.
pub const RULES: &str = "median, asha or hyperband";

/// The rule a sweep file names (`eta` for asha and hyperband).
pub fn rule_named(name: &str, eta: u32) -> Result<Arc<dyn Rule>, String> {
    match name {
        "median" => Ok(Arc::new(median::Median)),
        "asha" | "hyperband" if eta < 2 => Err(format!("stop: eta must be at least 2, not {eta}")),
        "asha" => Ok(Arc::new(asha::Asha { eta })),
        "hyperband" => Ok(Arc::new(hyperband::Hyperband { eta })),
        other => Err(format!("stop: rule `{other}`: expected {RULES}")),
    }
}

/// A sweep's `stop:` block, validated.
#[derive(Debug, Clone)]
pub struct EarlyStop {
    /// A per-epoch column of scalars.csv; its direction is the metric's.
    pub metric: String,
    pub rule: Arc<dyn Rule>,
    pub after_epochs: i64,
    pub min_runs: usize,
}

impl PartialEq for EarlyStop {
    fn eq(&self, o: &EarlyStop) -> bool {
        self.metric == o.metric
            && self.rule.name() == o.rule.name()
            && self.after_epochs == o.after_epochs
            && self.min_runs == o.min_runs
    }
}

impl EarlyStop {
    pub fn rule_name(&self) -> String {
        self.rule.name()
    }

    /// The rung epochs below `max` when the rule decides at rungs (`after_epochs · eta^i`):
    /// every bracket's rungs are among them.
    pub fn ladder(&self, max: i64) -> Option<Vec<i64>> {
        let eta = self.rule.rung_eta()?.max(2) as i64;
        let mut r = self.after_epochs.max(1);
        let mut out = Vec::new();
        while r < max {
            out.push(r);
            r *= eta;
        }
        Some(out)
    }

    /// The bracket of the run at `position` with `max` epochs.
    pub fn bracket(&self, position: usize, max: i64) -> u32 {
        self.rule.bracket(position, self.after_epochs, max)
    }

    /// Whether `epoch` is a point where the rule decides, for a run of `max` epochs in
    /// `bracket`.
    pub fn decides_at(&self, epoch: i64, max: i64, bracket: u32) -> bool {
        epoch >= self.after_epochs && self.rule.decides_at(epoch, self.after_epochs, max, bracket)
    }

    /// Whether a run with `value` at `epoch` (of `max`, in `bracket`) stops, given the other
    /// runs' values at that epoch: Some(threshold) when it does. The rules compare losses
    /// (lower is better): a metric where higher is better is negated for them, and the
    /// threshold back.
    pub fn verdict(&self, at: (i64, i64, u32), value: f64, others: &[f64]) -> Option<f64> {
        let (epoch, max, bracket) = at;
        if !self.decides_at(epoch, max, bracket)
            || others.len() < self.min_runs
            || !value.is_finite()
        {
            return None;
        }
        let metric = Metric::by_column(&self.metric)?;
        let finite: Vec<f64> = others
            .iter()
            .copied()
            .filter(|v| v.is_finite())
            .map(|v| metric.as_loss(v))
            .collect();
        if finite.is_empty() {
            return None;
        }
        let threshold = self.rule.threshold(metric.as_loss(value), &finite)?;
        Some(metric.as_loss(threshold))
    }
}

// The `stop:` block as the sweep file holds it, and its parsing (its errors at its lines).

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStop {
    metric: String,
    rule: String,
    #[serde(default = "one_i64")]
    after_epochs: i64,
    #[serde(default = "two")]
    min_runs: usize,
    #[serde(default = "three")]
    eta: u32,
}

fn one_i64() -> i64 {
    1
}
fn two() -> usize {
    2
}
fn three() -> u32 {
    3
}

/// `stop:`: a watched metric, a rule, a grace period and a minimum of runs to compare.
pub(crate) fn parse_stop(t: SweepText, s: RawStop) -> Result<EarlyStop, SpecError> {
    let line = |k: &str| t.line("stop", k);
    // A program's metric is its own per-epoch column.
    if t.program
        && t.final_metric_names().contains(&s.metric.as_str())
        && !t.metric_names().contains(&s.metric.as_str())
    {
        return Err(t.err(
            line("metric"),
            format!(
                "stop: `{}` is measured by sample_metrics: once the program has exited, so a stop rule never sees it while the program runs: watch a metric the program reports ({})",
                s.metric,
                t.metric_names().join(", ")
            ),
        ));
    }
    if t.program && !t.metric_names().contains(&s.metric.as_str()) {
        let names = t.metric_names();
        return Err(t.err(
            line("metric"),
            format!(
                "stop: metric `{}` is not one the program reports: name one of metrics: ({})",
                s.metric,
                names.join(", ")
            ),
        ));
    }
    if Metric::by_column(&s.metric).is_none() {
        return Err(t.err(line("metric"), format!("stop: metric `{}` is not a per-epoch validation scalar (a stop rule compares those); expected one of {}", s.metric, Metric::columns().join(", "))));
    }
    let rule = rule_named(&s.rule, s.eta).map_err(|e| {
        let at = if e.contains("eta") { "eta" } else { "rule" };
        t.err(line(at), e)
    })?;
    if s.after_epochs < 1 || s.min_runs < 1 {
        return Err(t.err(
            line("after_epochs"),
            "stop: after_epochs and min_runs must be at least 1".into(),
        ));
    }
    Ok(EarlyStop {
        metric: s.metric,
        rule,
        after_epochs: s.after_epochs,
        min_runs: s.min_runs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_asha_verdicts() {
        let m = EarlyStop {
            metric: "val_noise_loss".into(),
            rule: rule_named("median", 3).unwrap(),
            after_epochs: 2,
            min_runs: 2,
        };
        assert_eq!(m.verdict((1, 9, 0), 9.0, &[1.0, 2.0]), None, "grace period");
        assert_eq!(m.verdict((2, 9, 0), 9.0, &[1.0]), None, "too few runs");
        assert_eq!(m.verdict((2, 9, 0), 9.0, &[1.0, 2.0]), Some(1.5));
        assert_eq!(m.verdict((2, 9, 0), 1.2, &[1.0, 2.0]), None);
        let a = EarlyStop {
            rule: rule_named("asha", 2).unwrap(),
            ..m.clone()
        };
        let at = |e| a.decides_at(e, 9, 0);
        assert!(at(2) && at(4) && at(8) && !at(3));
        assert_eq!(a.verdict((3, 9, 0), 9.0, &[1.0, 2.0]), None, "not a rung");
        assert_eq!(
            a.verdict((4, 9, 0), 3.0, &[1.0, 2.0, 4.0]),
            Some(2.0),
            "top half of 4 is 1, 2"
        );
        assert_eq!(a.verdict((4, 9, 0), 2.0, &[1.0, 3.0, 4.0]), None);
        assert!(rule_named("asha", 1)
            .unwrap_err()
            .contains("eta must be at least 2"));
        assert!(rule_named("hyperband", 1)
            .unwrap_err()
            .contains("eta must be at least 2"));
        assert!(rule_named("pbt", 3)
            .unwrap_err()
            .contains("expected median, asha or hyperband"));
        // hyperband: 8 epochs from 2 (eta 2): s_max 2; bracket 2's rungs 2, 4; bracket 1's 4.
        let h = EarlyStop {
            rule: rule_named("hyperband", 2).unwrap(),
            ..m.clone()
        };
        assert!(h.decides_at(2, 8, 2) && h.decides_at(4, 8, 2) && !h.decides_at(8, 8, 2));
        assert!(!h.decides_at(2, 8, 1) && h.decides_at(4, 8, 1));
        assert!(!h.decides_at(4, 8, 0));
        assert_eq!(h.verdict((4, 8, 1), 3.0, &[1.0, 2.0, 4.0]), Some(2.0));
        assert_ne!(m, a);
    }

    #[test]
    fn a_metric_where_higher_is_better_stops_the_lowest() {
        let m = EarlyStop {
            metric: "val_improved_precision".into(),
            rule: rule_named("median", 3).unwrap(),
            after_epochs: 1,
            min_runs: 2,
        };
        // The median of 0.4 and 0.8 is 0.6: 0.3 is worse (lower), 0.7 is not.
        let t = m.verdict((1, 9, 0), 0.3, &[0.4, 0.8]).expect("stops");
        assert!((t - 0.6).abs() < 1e-12, "{t}");
        assert_eq!(m.verdict((1, 9, 0), 0.7, &[0.4, 0.8]), None);
        let a = EarlyStop {
            rule: rule_named("asha", 2).unwrap(),
            ..m.clone()
        };
        // The top half of 0.9, 0.6, 0.5, 0.2 is 0.9 and 0.6.
        assert_eq!(a.verdict((1, 9, 0), 0.5, &[0.9, 0.6, 0.2]), Some(0.6));
        assert_eq!(a.verdict((1, 9, 0), 0.6, &[0.9, 0.5, 0.2]), None);
    }
}
