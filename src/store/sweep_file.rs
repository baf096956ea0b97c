//! `<runs-dir>/<label>/sweep.json`: a sweep's plan and the history of its invocations; and
//! `<runs-dir>/<label>/.sweep.lock`: one orchestrator per sweep. The sweep module fills the
//! record from a plan; the store reads and writes it.

use crate::process::{hostname, now_rfc3339};
use fs_err::{self as fs, File};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct PlannedEntry {
    pub id: String,
    /// The grid flags' values (as text), in grid order.
    pub varying: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Invocation {
    pub started: String,
    pub ended: Option<String>,
    pub host: String,
    pub pid: u32,
    pub args: Vec<String>,
    pub planned: usize,
    pub completed: usize,
    pub failed: usize,
    pub interrupted: usize,
    pub skipped: usize,
    pub outcome: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SweepRecord {
    pub label: String,
    pub source: Option<String>,
    /// Names of the grid flags, in grid order.
    pub varying: Vec<String>,
    /// The sweep's fixed flags (its `flags:`) and their values, as text.
    pub fixed: BTreeMap<String, String>,
    pub runs: Vec<PlannedEntry>,
    pub invocations: Vec<Invocation>,
    /// The random search's flags and their distributions, when the sweep draws.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub space: BTreeMap<String, SpaceEntry>,
    /// The early stopping rule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop: Option<StopEntry>,
    /// Every run early stopping stopped, and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub decisions: Vec<Decision>,
    /// The race (a sweep with `race:`): its settings and every decision so far.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub race: Option<RaceRecord>,
    /// The search (a sweep with `search:`): its settings and each trial's run so far.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub search: Option<SearchRecord>,
}

/// A model-based search's trials so far, in trial order: what the report's Search section
/// reads (the values and states come from the runs' own files).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SearchRecord {
    pub sampler: String,
    /// The final metric searched on.
    pub metric: String,
    pub trials_planned: usize,
    pub seed: u64,
    pub parallel: usize,
    pub startup: usize,
    /// The searched flags and their distributions as the sweep file writes them.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub space: BTreeMap<String, String>,
    pub trials: Vec<TrialEntry>,
    /// Trials whose runs are damaged: the search waits for their repair, and the trials
    /// recorded before are kept (see [`SearchRecord::kept_over`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub damaged: Vec<DamagedTrial>,
    /// Runs the user left out of the model (`run --forget RUN`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub forgotten: Vec<String>,
}

/// One trial of a search: its run and its searched flags.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrialEntry {
    pub trial: usize,
    pub run: String,
    pub flags: BTreeMap<String, String>,
    /// The check of the decision (a SHA-256 of what it was computed from and the point):
    /// a resumed search reuses the point while the check holds. Empty for random draws.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub check: String,
    /// The rung (epochs) whose values the sampler was fitted on, when it was one below the
    /// trials' end (multi-fidelity search: `search:` with a rung rule in `stop:`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fitted_on: Option<i64>,
}

/// A trial the search waits for: its run's files are damaged.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DamagedTrial {
    pub trial: usize,
    pub run: String,
    pub why: String,
}

impl SearchRecord {
    /// This record (replayed from the runs' files) as the one to keep, given the one
    /// recorded before: a record is never rebuilt from less than it held, so when damaged
    /// runs keep the replay from reaching as far as `previous` did, `previous`'s later trials
    /// stay, with the damaged runs named.
    pub fn kept_over(mut self, previous: Option<&SearchRecord>) -> SearchRecord {
        if let Some(p) = previous {
            let same_start = p.trials.len() > self.trials.len()
                && p.trials[..self.trials.len()] == self.trials[..];
            if !self.damaged.is_empty() && same_start {
                self.trials = p.trials.clone();
            }
        }
        self
    }
}

impl SweepRecord {
    /// Records the search's trials (see [`SearchRecord::kept_over`]).
    pub fn set_search_trials(&mut self, search: Option<SearchRecord>) {
        self.search = search.map(|s| s.kept_over(self.search.as_ref()));
    }
}

/// A race as it stands: recomputed from the runs' results whenever a run ends, so it always
/// agrees with them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RaceRecord {
    /// The final run metric raced on (lower is better).
    pub metric: String,
    /// The seeds, in the order of the rounds.
    pub seeds: Vec<String>,
    pub min_seeds: usize,
    pub alpha: f64,
    pub configurations: usize,
    /// Runs of every seed of every configuration: what a sweep without the race trains.
    pub full_runs: usize,
    /// Runs the race has reached so far.
    pub runs_used: usize,
    pub rounds_completed: usize,
    pub finished: bool,
    /// The configuration left, or the lowest mean among the survivors when the seeds ran out.
    pub winner: Option<BTreeMap<String, String>>,
    /// The configurations not eliminated.
    pub survivors: Vec<BTreeMap<String, String>>,
    /// Round by round, each surviving configuration (and each put out by a failed run).
    pub decisions: Vec<RaceEntry>,
    /// Runs the race needs whose files are damaged (each entry's `note` says why): the race
    /// waits for their repair, and the decisions recorded before are kept.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub damaged: Vec<RaceEntry>,
}

impl RaceRecord {
    /// This standing (recomputed from the runs' files) as the record to keep, given the one
    /// recorded before: a record is never rebuilt from less than it held, so when damaged
    /// runs keep the replay from reaching as far as `previous` did, `previous`'s decisions
    /// stay, with the damaged runs named.
    pub fn kept_over(self, previous: Option<&RaceRecord>) -> RaceRecord {
        match previous {
            Some(p) if !self.damaged.is_empty() && p.decisions.len() > self.decisions.len() => {
                RaceRecord {
                    damaged: self.damaged,
                    ..p.clone()
                }
            }
            _ => self,
        }
    }
}

impl SweepRecord {
    /// Records the race's standing (see [`RaceRecord::kept_over`]).
    pub fn set_race(&mut self, race: Option<RaceRecord>) {
        self.race = race.map(|r| r.kept_over(self.race.as_ref()));
    }
}

/// One configuration in one completed round of a race.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RaceEntry {
    /// 1-based.
    pub round: usize,
    /// Its varying flags other than `seed`.
    pub config: BTreeMap<String, String>,
    /// Seeds with a result.
    pub n: usize,
    /// Its mean over those seeds.
    pub mean: Option<f64>,
    /// Its mean minus the round's best mean (0 for the best).
    pub mean_diff: Option<f64>,
    /// One-sided paired p of "worse than the best" (rounds from min_seeds on).
    pub p: Option<f64>,
    /// `p` corrected by Holm's method over the round's tests.
    pub p_holm: Option<f64>,
    pub eliminated: bool,
    /// The round's best mean.
    pub best: bool,
    /// Why it left the race other than by a test (its run failed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A searched flag's distribution.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SpaceEntry {
    /// As the sweep file writes it: `loguniform(0.0001, 0.003)`.
    pub dist: String,
    /// The interval of a float distribution.
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// Drawn on a log scale.
    pub log: bool,
}

/// A sweep's early-stopping rule, as recorded.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StopEntry {
    /// `median` or `asha (eta 3)`.
    pub rule: String,
    pub metric: String,
    pub after_epochs: i64,
    pub min_runs: usize,
}

impl StopEntry {
    pub fn describe(&self) -> String {
        format!(
            "{} on {} after {} epoch(s), comparing at least {} run(s)",
            self.rule, self.metric, self.after_epochs, self.min_runs
        )
    }
}

/// One early-stopping decision.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Decision {
    pub run: String,
    /// `median` or `asha (eta 3)`.
    pub rule: String,
    pub metric: String,
    pub epoch: i64,
    pub value: f64,
    pub threshold: f64,
    /// How many runs it was compared with.
    pub compared: usize,
    /// The epochs it was planned to train.
    pub epochs: i64,
    pub at: String,
}

impl Decision {
    /// The reason a stopped run records.
    pub fn reason(&self) -> String {
        format!(
            "stopped early by the {} rule at epoch {}: {} {:.6} worse than {:.6} ({} other runs)",
            self.rule, self.epoch, self.metric, self.value, self.threshold, self.compared
        )
    }
}

pub fn record_path(sweep_dir: &Path) -> PathBuf {
    sweep_dir.join("sweep.json")
}

impl SweepRecord {
    /// The record, if it exists and reads (readers that can do without it).
    pub fn read(sweep_dir: &Path) -> Option<SweepRecord> {
        SweepRecord::load(sweep_dir).ok().flatten()
    }

    /// The record: None when the sweep has none yet; a file that cannot be read as a record
    /// is [`super::Damaged`].
    pub fn load(sweep_dir: &Path) -> Result<Option<SweepRecord>, super::Damaged> {
        let path = record_path(sweep_dir);
        if !path.exists() {
            return Ok(None);
        }
        let text = fs::read_to_string(&path)
            .map_err(|e| super::Damaged::new(&path, format!("cannot be read ({e})")))?;
        let record: SweepRecord = serde_json::from_str(&text)
            .map_err(|e| super::Damaged::new(&path, format!("not a sweep record ({e})")))?;
        // The label names folders (the sweep's, its report's): it must be the folder's own.
        let folder = sweep_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if let Some(why) = crate::names::label_problem(&record.label) {
            return Err(super::Damaged::changed(
                &path,
                format!("its `label`: {why}"),
            ));
        }
        if let Some(t) = record
            .search
            .iter()
            .flat_map(|s| &s.trials)
            .find(|t| !crate::names::is_run_id(&t.run))
        {
            return Err(super::Damaged::changed(
                &path,
                format!(
                    "its search's trial {} names run `{}`, which is not a run id (12 hex digits)",
                    t.trial,
                    t.run.escape_debug()
                ),
            ));
        }
        // Searched flags' names name pictures and table columns: each must be a flag (the
        // built-in trainer's, or one a program's flag can be: letters, digits, `_`, `-`).
        let names = record.space.keys().chain(
            record
                .search
                .iter()
                .flat_map(|s| &s.trials)
                .flat_map(|t| t.flags.keys()),
        );
        if let Some(n) = names.into_iter().find(|n| {
            crate::flags::lookup(n).is_err() && crate::flags::program_flag_problem(n).is_some()
        }) {
            return Err(super::Damaged::changed(
                &path,
                format!(
                    "its search space names `{}`, which is not a flag",
                    n.escape_debug()
                ),
            ));
        }
        if record.label != folder {
            return Err(super::Damaged::changed(
                &path,
                format!(
                    "its label `{}` is not the name of the folder it sits in (`{}`): a record's label must match its folder (a renamed or copied sweep folder?); it is left out until the names agree",
                    record.label.escape_debug(),
                    folder.escape_debug()
                ),
            ));
        }
        Ok(Some(record))
    }

    /// The record to continue: a damaged one is kept aside (renamed to
    /// `sweep.json.damaged-<time>`, never overwritten) and a new one begins; returns what was
    /// said about it.
    pub fn load_or_set_aside(sweep_dir: &Path) -> anyhow::Result<(SweepRecord, Option<String>)> {
        match SweepRecord::load(sweep_dir) {
            Ok(r) => Ok((r.unwrap_or_default(), None)),
            Err(e) => {
                let stamp = humantime::format_rfc3339_seconds(std::time::SystemTime::now())
                    .to_string()
                    .replace(':', "-");
                let aside = sweep_dir.join(format!("sweep.json.damaged-{stamp}"));
                fs::rename(record_path(sweep_dir), &aside).map_err(|io| {
                    anyhow::anyhow!("{e}; keeping it aside as {} failed: {io}", aside.display())
                })?;
                let said = format!(
                    "warning: {e}; kept aside as {} (its invocation history is there), and a new sweep.json begins",
                    aside.display()
                );
                Ok((SweepRecord::default(), Some(said)))
            }
        }
    }

    pub fn write(&self, sweep_dir: &Path) -> Result<(), crate::error::Error> {
        let text = serde_json::to_string_pretty(self).expect("serialisable");
        crate::files::write_atomic(&record_path(sweep_dir), format!("{text}\n").as_bytes())
    }
}

/// The orchestrator lock of a sweep; its file names the holder.
pub struct SweepLock {
    _file: File,
}

impl SweepLock {
    pub fn acquire(sweep_dir: &Path) -> anyhow::Result<SweepLock> {
        fs::create_dir_all(sweep_dir)?;
        let path = sweep_dir.join(".sweep.lock");
        let mut f = File::options()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)?;
        match f.try_lock() {
            Ok(()) => {
                f.set_len(0)?;
                f.rewind()?;
                writeln!(
                    f,
                    "pid {} on {} since {}",
                    std::process::id(),
                    hostname(),
                    now_rfc3339()
                )?;
                f.sync_data()?;
                Ok(SweepLock { _file: f })
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = f.read_to_string(&mut holder);
                let holder = holder.trim();
                anyhow::bail!(
                    "another `ddim-sweep run` is already running sweep `{}` in {} ({}): wait for it, or stop it with Ctrl-C / kill",
                    sweep_dir.file_name().unwrap_or_default().to_string_lossy(),
                    sweep_dir.parent().unwrap_or(sweep_dir).display(),
                    if holder.is_empty() { "holder unknown" } else { holder }
                )
            }
            Err(std::fs::TryLockError::Error(e)) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A search record whose trial names something other than a run id (a path) is not
    /// believed: the report would look that run up by its name.
    #[test]
    fn a_search_trial_must_name_a_run_id() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("s");
        fs::create_dir_all(&dir).unwrap();
        let mut rec = SweepRecord {
            label: "s".into(),
            search: Some(SearchRecord {
                sampler: "tpe".into(),
                metric: "kid".into(),
                trials: vec![TrialEntry {
                    trial: 0,
                    run: "0123456789ab".into(),
                    flags: BTreeMap::new(),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        };
        rec.write(&dir).unwrap();
        assert!(SweepRecord::load(&dir).unwrap().is_some());
        rec.search.as_mut().unwrap().trials[0].run = "../../etc".into();
        rec.write(&dir).unwrap();
        let e = SweepRecord::load(&dir).unwrap_err().to_string();
        assert!(
            e.contains("trial 0 names run `../../etc`, which is not a run id"),
            "{e}"
        );
    }
}
