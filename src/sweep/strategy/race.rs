//! Racing (F-Race, as irace does it): a sweep's configurations are trained on one seed per
//! round; after each completed round r ≥ `min_seeds` the configuration with the best mean
//! of the race's metric (the lowest, or the highest where higher is better) is the best, every other survivor is compared with it by a one-sided
//! paired t-test over their r seeds, the round's p-values are corrected by Holm's method, and
//! those with a corrected p below `alpha` are eliminated: their later seeds never start. The
//! race ends when one configuration is left or the seeds run out.
//!
//! Every decision is a function of completed results only, so the same command again plans
//! the same runs. A configuration whose run failed (or was stopped early) is out of the race:
//! it cannot win, and the others go on.

use super::{Proposal, RunResult, Strategy};
use crate::flags::plain_value;
use crate::metrics::names::Metric;
use crate::stats;
use crate::store::sweep_file::{RaceEntry, RaceRecord};
use crate::sweep::section::{SpecError, SweepText};
use crate::sweep::Plan;
use serde::Deserialize;
use serde_yaml::Value;
use std::collections::BTreeMap;

/// The sweep file's `race:` block, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Race {
    /// A final run metric (`run.json`); its direction is the metric's.
    pub metric: String,
    /// The seeds, in the order of the rounds.
    pub seeds: Vec<Value>,
    /// The first test after this many rounds (≥ 2).
    pub min_seeds: usize,
    /// The family-wise level of each round's tests.
    pub alpha: f64,
}

/// One configuration of the race: its varying flags other than `seed`, and its run (index
/// into the plan) in each round.
#[derive(Debug, Clone, PartialEq)]
pub struct RaceConfig {
    pub flags: BTreeMap<String, String>,
    /// `loss=mae lr=0.001`, in the plan's order of flags.
    pub text: String,
    pub runs: Vec<usize>,
}

/// The plan's configurations, in plan order. Errors when a configuration does not have
/// exactly one run per seed of the race.
pub fn configs(plan: &Plan, race: &Race) -> Result<Vec<RaceConfig>, String> {
    let mut out: Vec<(Vec<(String, Value)>, RaceConfig)> = Vec::new();
    for (i, r) in plan.runs.iter().enumerate() {
        let key: Vec<(String, Value)> = r
            .varying
            .iter()
            .filter(|(k, _)| k != "seed")
            .cloned()
            .collect();
        let round = race
            .seeds
            .iter()
            .position(|s| r.varying.iter().any(|(k, v)| k == "seed" && v == s))
            .ok_or_else(|| {
                format!(
                    "run {} has seed {}, which is not one of the race's seeds",
                    r.id,
                    r.flags.seed(&r.id)
                )
            })?;
        let at = match out.iter().position(|(k, _)| *k == key) {
            Some(at) => at,
            None => {
                let text = if key.is_empty() {
                    "-".to_string()
                } else {
                    key.iter()
                        .map(|(k, v)| format!("{k}={}", plain_value(v)))
                        .collect::<Vec<_>>()
                        .join(" ")
                };
                let flags = key
                    .iter()
                    .map(|(k, v)| (k.clone(), plain_value(v)))
                    .collect();
                let c = RaceConfig {
                    flags,
                    text,
                    runs: vec![usize::MAX; race.seeds.len()],
                };
                out.push((key, c));
                out.len() - 1
            }
        };
        out[at].1.runs[round] = i;
    }
    for (_, c) in &out {
        if c.runs.contains(&usize::MAX) {
            return Err(format!(
                "the configuration [{}] lacks a run for some of the race's seeds (an exclusion or --set narrowed the seeds?)",
                c.text
            ));
        }
    }
    Ok(out.into_iter().map(|(_, c)| c).collect())
}

/// Where a race stands, from its runs' outcomes.
#[derive(Debug, Clone, PartialEq)]
pub struct Standing {
    pub configs: Vec<RaceConfig>,
    /// One entry per surviving configuration of each completed round (with its test where
    /// there was one), and one per configuration put out by a failed run.
    pub entries: Vec<RaceEntry>,
    /// The configurations still in the race (indices into `configs`).
    pub alive: Vec<usize>,
    pub rounds_completed: usize,
    /// The round in progress (1-based), if any.
    pub current: Option<usize>,
    /// The runs of the round in progress that have not ended (indices into the plan).
    pub next: Vec<usize>,
    /// Runs the race has reached: every run of each round it entered, for the configurations
    /// alive at that round.
    pub used: usize,
    pub finished: bool,
    /// Each configuration's mean over its completed rounds, as a loss (negated where higher
    /// is better).
    pub means: Vec<Option<f64>>,
    /// Runs of the round in progress whose files are damaged: the race waits at that round
    /// until they are repaired (one entry each, its `note` saying why).
    pub damaged: Vec<RaceEntry>,
}

impl Race {
    /// The metric's definition (checked when the sweep file was read).
    fn definition(&self) -> &'static Metric {
        Metric::named(&self.metric).unwrap_or(&crate::metrics::names::NOISE_LOSS)
    }
}

impl Standing {
    /// The winner: the one configuration left, or the best mean among the survivors when
    /// the seeds ran out with several (`None` while the race goes on, or when none is left).
    pub fn winner(&self) -> Option<usize> {
        if !self.finished {
            return None;
        }
        self.alive.iter().copied().min_by(|a, b| {
            let m = |c: &usize| self.means[*c].unwrap_or(f64::INFINITY);
            m(a).total_cmp(&m(b))
        })
    }

    pub fn record(&self, race: &Race) -> RaceRecord {
        let flags = |c: &usize| self.configs[*c].flags.clone();
        RaceRecord {
            metric: race.metric.clone(),
            seeds: race.seeds.iter().map(plain_value).collect(),
            min_seeds: race.min_seeds,
            alpha: race.alpha,
            configurations: self.configs.len(),
            full_runs: self.configs.len() * race.seeds.len(),
            runs_used: self.used,
            rounds_completed: self.rounds_completed,
            finished: self.finished,
            winner: self.winner().as_ref().map(flags),
            survivors: self.alive.iter().map(flags).collect(),
            decisions: self.entries.clone(),
            damaged: self.damaged.clone(),
        }
    }
}

/// Replays the race over the outcomes of its runs.
pub fn standing(
    race: &Race,
    configs: Vec<RaceConfig>,
    result: &dyn Fn(usize) -> RunResult,
) -> Standing {
    let mut s = Standing {
        alive: (0..configs.len()).collect(),
        configs,
        entries: Vec::new(),
        rounds_completed: 0,
        current: None,
        next: Vec::new(),
        used: 0,
        finished: false,
        means: Vec::new(),
        damaged: Vec::new(),
    };
    let mut values: Vec<Vec<f64>> = vec![Vec::new(); s.configs.len()];
    let means = |values: &[Vec<f64>]| -> Vec<Option<f64>> {
        values
            .iter()
            .map(|v| (!v.is_empty()).then(|| stats::mean_ci(v).mean))
            .collect()
    };
    for round in 0..race.seeds.len() {
        if s.alive.len() <= 1 {
            break;
        }
        s.used += s.alive.len();
        let mut pending = Vec::new();
        for c in s.alive.clone() {
            let run = s.configs[c].runs[round];
            let out = match result(run) {
                RunResult::Pending => {
                    pending.push(run);
                    continue;
                }
                RunResult::Damaged(why) => {
                    s.damaged.push(RaceEntry {
                        round: round + 1,
                        config: s.configs[c].flags.clone(),
                        n: values[c].len(),
                        note: Some(format!("damaged, waiting for repair: {why}")),
                        ..Default::default()
                    });
                    continue;
                }
                RunResult::Completed(m) => match m.get(&race.metric) {
                    Some(v) if v.is_finite() => {
                        values[c].push(race.definition().as_loss(*v));
                        continue;
                    }
                    _ => format!("completed without a finite {}", race.metric),
                },
                RunResult::Failed(why) => format!("failed ({why})"),
                RunResult::Stopped(why) => format!("was {why}"),
            };
            s.alive.retain(|&a| a != c);
            let mean = (!values[c].is_empty())
                .then(|| race.definition().as_loss(stats::mean_ci(&values[c]).mean));
            s.entries.push(RaceEntry {
                round: round + 1,
                config: s.configs[c].flags.clone(),
                n: values[c].len(),
                mean,
                eliminated: true,
                note: Some(format!(
                    "its seed-{} run {out}: out of the race, it cannot win",
                    plain_value(&race.seeds[round])
                )),
                ..Default::default()
            });
        }
        if !pending.is_empty() || !s.damaged.is_empty() {
            s.current = Some(round + 1);
            s.next = pending;
            s.means = means(&values);
            return s;
        }
        s.rounds_completed = round + 1;
        // One entry per survivor, in `alive`'s order.
        let entries = judge(race, round + 1, &s.alive, &values, &s.configs);
        s.alive = s
            .alive
            .iter()
            .zip(&entries)
            .filter(|(_, e)| !e.eliminated)
            .map(|(&c, _)| c)
            .collect();
        s.entries.extend(entries);
    }
    s.finished = true;
    s.means = means(&values);
    s
}

/// The entries of completed round `round` (1-based) for the configurations `alive`, each
/// with `round` values (as losses): their means, and from `min_seeds` on the tests against
/// the best. The entries hold the metric's own values (a loss negated back).
fn judge(
    race: &Race,
    round: usize,
    alive: &[usize],
    values: &[Vec<f64>],
    configs: &[RaceConfig],
) -> Vec<RaceEntry> {
    let mean = |c: usize| stats::mean_ci(&values[c]).mean;
    let own = |loss: f64| race.definition().as_loss(loss);
    let Some(&best) = alive.iter().min_by(|a, b| mean(**a).total_cmp(&mean(**b))) else {
        return Vec::new();
    };
    let testing = round >= race.min_seeds && alive.len() >= 2;
    let others: Vec<usize> = alive.iter().copied().filter(|&c| c != best).collect();
    // "c is worse than the best": one-sided paired p of best < c over the seeds both have.
    let p: Vec<f64> = others
        .iter()
        .map(|&c| {
            let pairs: Vec<(f64, f64)> = values[best]
                .iter()
                .copied()
                .zip(values[c].iter().copied())
                .collect();
            stats::paired(&pairs).p_less.unwrap_or(1.0)
        })
        .collect();
    let p_holm = stats::holm(&p);
    alive
        .iter()
        .map(|&c| {
            let base = RaceEntry {
                round,
                config: configs[c].flags.clone(),
                n: values[c].len(),
                mean: Some(own(mean(c))),
                best: c == best,
                ..Default::default()
            };
            match others.iter().position(|&o| o == c) {
                Some(k) if testing => RaceEntry {
                    mean_diff: Some(own(mean(c) - mean(best))),
                    p: Some(p[k]),
                    p_holm: Some(p_holm[k]),
                    eliminated: p_holm[k] < race.alpha,
                    ..base
                },
                Some(_) => RaceEntry {
                    mean_diff: Some(own(mean(c) - mean(best))),
                    ..base
                },
                None => RaceEntry {
                    mean_diff: Some(0.0),
                    ..base
                },
            }
        })
        .collect()
}

/// The race as a search strategy: proposes the round in progress.
pub struct RaceStrategy {
    race: Race,
    last: Option<Standing>,
}

impl RaceStrategy {
    pub fn new(race: Race) -> RaceStrategy {
        RaceStrategy { race, last: None }
    }
}

impl Strategy for RaceStrategy {
    fn propose(&mut self, plan: &Plan, result: &dyn Fn(usize) -> RunResult) -> Vec<Proposal> {
        // The plan was checked at expansion; an error here leaves nothing to run.
        let Ok(configs) = configs(plan, &self.race) else {
            return Vec::new();
        };
        let s = standing(&self.race, configs, result);
        let next = s.next.iter().map(|&i| Proposal::Run(i)).collect();
        self.last = Some(s);
        next
    }

    fn decisions(&self) -> Option<RaceRecord> {
        self.last.as_ref().map(|s| s.record(&self.race))
    }
}

/// `loss=mae lr=0.001` (or `-`).
pub fn config_text(flags: &BTreeMap<String, String>) -> String {
    if flags.is_empty() {
        return "-".into();
    }
    flags
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// One line per round among the decisions from index `seen` on: what a person watching the
/// sweep reads (the outcome is [`outcome_text`]).
pub fn describe_new(rec: &RaceRecord, seen: usize) -> Vec<String> {
    let new = &rec.decisions[seen.min(rec.decisions.len())..];
    let mut rounds: Vec<usize> = new.iter().map(|e| e.round).collect();
    rounds.dedup();
    rounds
        .into_iter()
        .map(|round| {
            let parts: Vec<String> = new
                .iter()
                .filter(|e| e.round == round)
                .map(|e| entry_text(rec, e))
                .collect();
            format!("race round {round}: {}", parts.join("; "))
        })
        .collect()
}

fn entry_text(rec: &RaceRecord, e: &RaceEntry) -> String {
    let who = config_text(&e.config);
    let mean = e
        .mean
        .map(|m| format!(" {} {m:.5} over {} seed(s)", rec.metric, e.n))
        .unwrap_or_default();
    if let Some(note) = &e.note {
        return format!("[{who}] {note}");
    }
    if e.best {
        return format!("best [{who}]{mean}");
    }
    match (e.p, e.p_holm) {
        (Some(p), Some(h)) => format!(
            "{} [{who}]{mean}, {:+.5} vs best, p {p:.4}, Holm {h:.4}",
            if e.eliminated { "eliminated" } else { "kept" },
            e.mean_diff.unwrap_or(f64::NAN)
        ),
        _ => format!("[{who}]{mean}"),
    }
}

/// `race finished: winner [..] after 3 round(s); 10 of 24 runs (14 saved)`; with damaged
/// runs, what the race waits for first.
pub fn outcome_text(rec: &RaceRecord) -> String {
    if rec.damaged.is_empty() {
        return standing_text(rec);
    }
    let which: Vec<String> = rec
        .damaged
        .iter()
        .map(|e| format!("[{}] round {}", config_text(&e.config), e.round))
        .collect();
    format!(
        "race damaged, waiting for repair: the run(s) of {} cannot be read (repair them, or retire them by moving them out of the sweep's folder); the {} decision(s) recorded before are kept: {}",
        which.join(", "),
        rec.decisions.len(),
        standing_text(rec)
    )
}

fn standing_text(rec: &RaceRecord) -> String {
    let runs = format!(
        "{} of {} runs ({} saved)",
        rec.runs_used,
        rec.full_runs,
        rec.full_runs.saturating_sub(rec.runs_used)
    );
    let tied = rec.survivors.len() > 1;
    match (&rec.winner, rec.finished) {
        (_, false) => format!(
            "race: {} of {} round(s) completed, {} configuration(s) left; {} of {} runs reached so far",
            rec.rounds_completed,
            rec.seeds.len(),
            rec.survivors.len(),
            rec.runs_used,
            rec.full_runs
        ),
        (Some(w), true) if tied => format!(
            "race finished: the seeds ran out with {} configurations left; {} mean [{}] after {} round(s); {runs}",
            rec.survivors.len(),
            match Metric::named(&rec.metric).map(|m| m.direction) {
                Some(crate::metrics::metric::Direction::Higher) => "highest",
                _ => "lowest",
            },
            config_text(w),
            rec.rounds_completed
        ),
        (Some(w), true) => format!(
            "race finished: winner [{}] after {} round(s); {runs}",
            config_text(w),
            rec.rounds_completed
        ),
        (None, true) => format!("race finished without a winner: every configuration failed; {runs}"),
    }
}

// The `race:` block as the sweep file holds it, and its parsing (its errors at its lines).

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRace {
    metric: String,
    seeds: Value,
    #[serde(default = "two_seeds")]
    min_seeds: usize,
    #[serde(default = "five_percent")]
    alpha: f64,
}

fn five_percent() -> f64 {
    0.05
}

fn two_seeds() -> usize {
    2
}

/// `race:`: a final metric, at least 2 seeds, the first test after `min_seeds` rounds
/// (2 to the number of seeds), a level `alpha` in (0, 1).
pub(crate) fn parse_race(
    t: SweepText,
    r: RawRace,
    fixed: &[(String, Value)],
    grid: &[(String, Vec<Value>)],
) -> Result<Race, SpecError> {
    let line = |k: &str| t.line("race", k);
    let known = t.final_metric_names();
    let Some(metric) = Metric::named(&r.metric).filter(|m| known.contains(&m.name)) else {
        return Err(t.err(
            line("metric"),
            format!(
                "race: metric `{}` is not a final run metric; expected one of {}",
                r.metric,
                known.join(", ")
            ),
        ));
    };
    let seeds = t.seeds("race", &r.seeds, fixed, grid)?;
    if seeds.len() < 2 {
        return Err(t.err(
            line("seeds"),
            "race: seeds: a race needs at least 2 seeds".into(),
        ));
    }
    if r.min_seeds < 2 || r.min_seeds > seeds.len() {
        return Err(t.err(
            line("min_seeds"),
            format!(
                "race: min_seeds must be from 2 (a paired t-test needs two seeds) to the number of seeds ({}), not {}",
                seeds.len(),
                r.min_seeds
            ),
        ));
    }
    if !(r.alpha > 0.0 && r.alpha < 1.0) {
        return Err(t.err(
            line("alpha"),
            format!(
                "race: alpha must be between 0 and 1 (e.g. 0.05), not {}",
                r.alpha
            ),
        ));
    }
    Ok(Race {
        metric: metric.name.to_string(),
        seeds,
        min_seeds: r.min_seeds,
        alpha: r.alpha,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Four configurations A..D over four seeds; run of config k in round r is r * 4 + k.
    const VALUES: [[f64; 4]; 4] = [
        [0.10, 0.12, 0.11, 0.115],
        [0.20, 0.25, 0.22, 0.21],
        [0.105, 0.118, 0.113, 0.111],
        [0.30, 0.31, 0.29, 0.33],
    ];

    fn race() -> Race {
        Race {
            metric: "kid".into(),
            seeds: (1..=4).map(Value::from).collect(),
            min_seeds: 2,
            alpha: 0.05,
        }
    }

    fn configs() -> Vec<RaceConfig> {
        ["A", "B", "C", "D"]
            .iter()
            .enumerate()
            .map(|(k, name)| RaceConfig {
                flags: BTreeMap::from([("c".to_string(), name.to_string())]),
                text: format!("c={name}"),
                runs: (0..4).map(|r| r * 4 + k).collect(),
            })
            .collect()
    }

    fn done(i: usize) -> RunResult {
        RunResult::Completed(BTreeMap::from([("kid".to_string(), VALUES[i % 4][i / 4])]))
    }

    fn entry<'a>(s: &'a Standing, round: usize, name: &str) -> &'a RaceEntry {
        s.entries
            .iter()
            .find(|e| e.round == round && e.config["c"] == name)
            .unwrap_or_else(|| panic!("no entry for {name} in round {round}"))
    }

    /// Against SciPy 1.17 (`ttest_rel(best, other, alternative='less')`, Holm by hand), computed
    /// outside this project: round 2 eliminates D (Holm 0.0244800119 over 3 tests), round 3
    /// eliminates B (p 0.0030004557, Holm 0.0060009115 over 2), round 4 keeps C (p 0.4136351555),
    /// and the seeds run out with A (lowest mean) and C.
    #[test]
    fn a_race_eliminates_as_scipy_says() {
        let s = standing(&race(), configs(), &done);
        let close = |a: Option<f64>, b: f64| (a.unwrap() - b).abs() < 1e-9;
        assert!(s.finished);
        assert_eq!(s.rounds_completed, 4);
        assert!(entry(&s, 1, "A").p.is_none(), "no test before min_seeds");
        let d2 = entry(&s, 2, "D");
        assert!(close(d2.p, 0.00816000396881012) && close(d2.p_holm, 0.024480011906430357));
        assert!(d2.eliminated);
        let b2 = entry(&s, 2, "B");
        assert!(close(b2.p_holm, 0.08257119967969452) && !b2.eliminated);
        assert!(close(entry(&s, 2, "C").p_holm, 0.3711189415908437));
        assert!(entry(&s, 2, "A").best);
        let b3 = entry(&s, 3, "B");
        assert!(close(b3.p, 0.0030004557260167788));
        assert!(close(b3.p_holm, 0.0060009114520335576) && b3.eliminated);
        assert!(close(entry(&s, 3, "C").p_holm, 0.21902425652549196));
        assert!(s
            .entries
            .iter()
            .all(|e| e.config["c"] != "D" || e.round <= 2));
        let c4 = entry(&s, 4, "C");
        assert!(close(c4.p_holm, 0.4136351555145882) && !c4.eliminated);
        assert!(close(c4.mean_diff, 0.11175 - 0.11125));
        assert_eq!(s.alive, [0, 2]);
        assert_eq!(s.winner(), Some(0));
        assert_eq!(s.used, 4 + 4 + 3 + 2);
        let rec = s.record(&race());
        assert_eq!(rec.full_runs, 16);
        assert_eq!(rec.survivors.len(), 2);
    }

    /// A metric where higher is better, as 1 − the values above: the same tests (a paired
    /// t-test does not see the reflection), the best the highest, differences of own values.
    #[test]
    fn a_race_on_a_metric_where_higher_is_better_keeps_the_highest() {
        let race = Race {
            metric: "improved_precision".into(),
            ..race()
        };
        let done = |i: usize| {
            let v = 1.0 - VALUES[i % 4][i / 4];
            RunResult::Completed(BTreeMap::from([("improved_precision".to_string(), v)]))
        };
        let s = standing(&race, configs(), &done);
        let close = |a: Option<f64>, b: f64| (a.unwrap() - b).abs() < 1e-9;
        assert!(close(entry(&s, 2, "D").p_holm, 0.024480011906430357));
        assert!(entry(&s, 2, "D").eliminated && entry(&s, 3, "B").eliminated);
        assert!(entry(&s, 2, "A").best);
        assert!(close(entry(&s, 1, "A").mean, 0.9));
        let c4 = entry(&s, 4, "C");
        assert!(close(c4.p_holm, 0.4136351555145882) && !c4.eliminated);
        assert!(
            close(c4.mean_diff, 0.11125 - 0.11175),
            "C's mean is below A's"
        );
        assert_eq!(s.winner(), Some(0));
    }

    /// The race proposes only the round in progress; a failed run puts its configuration out
    /// without stopping the others.
    #[test]
    fn rounds_wait_for_their_runs_and_failures_drop_out() {
        // Round 3 in progress: B's run (index 9) pending, C's (10) failed.
        let outcome = |i: usize| match i {
            9 => RunResult::Pending,
            10 => RunResult::Failed("diverged".into()),
            _ if i >= 8 => RunResult::Pending,
            _ => done(i),
        };
        let s = standing(&race(), configs(), &outcome);
        assert!(!s.finished);
        assert_eq!(s.current, Some(3));
        assert_eq!(s.next, [8, 9], "A and B; D was eliminated in round 2");
        let c = entry(&s, 3, "C");
        assert!(c.eliminated && c.note.as_deref().unwrap().contains("failed (diverged)"));
        assert_eq!(s.winner(), None);
        // A run stopped early by the sweep's stop rule leaves the race too.
        let stopped = |i: usize| match i {
            9 => RunResult::Stopped("stopped early by the median rule at epoch 2".into()),
            _ if i >= 8 => RunResult::Pending,
            _ => done(i),
        };
        let s = standing(&race(), configs(), &stopped);
        assert_eq!(s.next, [8, 10]);
        assert!(entry(&s, 3, "B")
            .note
            .as_deref()
            .unwrap()
            .contains("was stopped early"));
        // Nothing completed yet: round 1 of every configuration.
        let s = standing(&race(), configs(), &|_| RunResult::Pending);
        assert_eq!(s.next, [0, 1, 2, 3]);
        assert_eq!(s.used, 4);
    }

    /// Identical results cannot be told apart (p = 1), and a race left with one
    /// configuration ends there.
    #[test]
    fn ties_are_kept_and_one_left_ends_the_race() {
        let same = |i: usize| {
            RunResult::Completed(BTreeMap::from([("kid".to_string(), 0.5 + (i / 4) as f64)]))
        };
        let s = standing(&race(), configs(), &same);
        assert!(s.finished && s.alive.len() == 4);
        assert!(s
            .entries
            .iter()
            .filter(|e| e.p.is_some())
            .all(|e| e.p == Some(1.0)));
        let two = Race {
            seeds: (1..=2).map(Value::from).collect(),
            ..race()
        };
        let mut cs = configs();
        for c in &mut cs {
            c.runs.truncate(2);
        }
        // Only A left after round 2 with hugely different values.
        let far = |i: usize| {
            let v = if i.is_multiple_of(4) {
                0.1
            } else {
                10.0 * (i % 4) as f64 + 0.001 * i as f64
            };
            RunResult::Completed(BTreeMap::from([("kid".to_string(), v)]))
        };
        let s = standing(&two, cs, &far);
        assert!(s.finished);
        assert_eq!(s.alive, [0]);
        assert_eq!(s.winner(), Some(0));
    }
}
