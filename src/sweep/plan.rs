//! Expansion of a sweep into runs, their content-addressed identity, and their states.
//!
//! A run's id is the first 12 hex digits of SHA-256 over the label and every resolved flag
//! (defaults included), so the same sweep maps to the same run directories
//! (`<runs-dir>/<label>/<id>`) every time; a new grid value adds runs; a changed fixed flag
//! makes new runs and leaves the old ones alone. A flag added to ddim-sweep after run ids were
//! fixed (its `Identity` in `flags` is `WhenSet`, not `V1`) counts only when a run sets it to
//! something other than its default, so that upgrading the tool keeps the ids of existing runs
//! (a sweep still resumes).

use super::spec::SweepSpec;
#[cfg(test)]
use crate::flags::IDENTITY_V1_FLAGS;
use crate::flags::{plain_value, Flags};
use crate::run_flags::{CommandFlags, RunFlags};
use crate::store::{RunDir, RunState};
use serde_yaml::Value;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

/// One run of a sweep.
#[derive(Debug, Clone)]
pub struct PlannedRun {
    pub id: String,
    pub flags: RunFlags,
    /// The grid flags' values of this run, in grid order, then its drawn values.
    pub varying: Vec<(String, Value)>,
    pub dir: PathBuf,
    /// Its trial (random search), if drawn.
    pub trial: Option<usize>,
}

impl PlannedRun {
    pub fn run_dir(&self) -> RunDir {
        RunDir::new(&self.dir)
    }

    pub fn state(&self) -> RunState {
        self.run_dir().state()
    }

    /// Queues the run in its directory (see [`RunDir::queue`]), named by its varying flags.
    pub fn queue(&self, label: &str) -> anyhow::Result<()> {
        let pairs: Vec<(String, String)> = self
            .varying
            .iter()
            .map(|(k, v)| (k.clone(), plain_value(v)))
            .collect();
        let name = (!pairs.is_empty()).then(|| crate::track::readable_name(&pairs));
        self.run_dir().queue(&self.flags, label, name)
    }

    /// `loss=mae loss_on=noise` (or `-` without grid flags).
    pub fn varying_text(&self) -> String {
        if self.varying.is_empty() {
            return "-".into();
        }
        point_text(&self.varying)
    }
}

/// `loss=mae lr=0.001`: the flags a point sets, as messages and listings show them.
pub fn point_text(point: &[(String, Value)]) -> String {
    point
        .iter()
        .map(|(k, v)| format!("{k}={}", plain_value(v)))
        .collect::<Vec<_>>()
        .join(" ")
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub label: String,
    pub sweep_dir: PathBuf,
    pub varying_names: Vec<String>,
    pub runs: Vec<PlannedRun>,
    /// Trials that drew the same flags as an earlier one (left out): (trial, same as run id).
    pub duplicate_trials: Vec<(usize, String)>,
    pub random: Option<super::strategy::random::RandomSearch>,
    pub stop: Option<super::stop::EarlyStop>,
    pub race: Option<super::strategy::race::Race>,
    /// The model-based search (`search:`): its trials are admitted as they are decided.
    pub search: Option<super::strategy::search::Search>,
    /// The fixed flags (`flags:`), which every admitted point starts from.
    pub fixed: Vec<(String, Value)>,
    /// The runs' indices by id (for [`Plan::admit`]).
    pub index: std::collections::HashMap<String, usize>,
    /// The user's program (`command:`), or None for the built-in trainer.
    pub program: Option<super::program::ProgramSpec>,
}

/// The flags of a run: the built-in trainer's resolved over its defaults, or a program's
/// (each checked as a program's flag; no defaults: the program has its own).
pub fn resolve(
    program: Option<&super::program::ProgramSpec>,
    overrides: &[(String, Value)],
) -> Result<RunFlags, crate::flags::FlagError> {
    let Some(p) = program else {
        return Flags::resolve(overrides).map(RunFlags::Builtin);
    };
    let mut flags = std::collections::BTreeMap::new();
    for (name, value) in overrides {
        let spec = crate::flags::program_flag(name)?;
        flags.insert(name.clone(), crate::flags::check_value(spec, value)?);
    }
    Ok(RunFlags::Command(CommandFlags {
        command: p.command.clone(),
        flags,
    }))
}

impl Plan {
    /// The flags of every run of the plan and, for a search, of the points that stand for
    /// its space ([`Search::representatives`](super::strategy::search::Search::representatives)):
    /// what must be ready before the first run starts.
    /// (Built-in runs only: a program's needs are its own.)
    pub fn all_flags(&self) -> Vec<Flags> {
        self.every_flags()
            .into_iter()
            .filter_map(|f| match f {
                RunFlags::Builtin(f) => Some(f),
                RunFlags::Command(_) => None,
            })
            .collect()
    }

    /// [`Plan::all_flags`] of every kind of run (a program's too).
    fn every_flags(&self) -> Vec<RunFlags> {
        let mut out: Vec<RunFlags> = self.runs.iter().map(|r| r.flags.clone()).collect();
        if let Some(s) = &self.search {
            for p in s.representatives(&self.label) {
                if let Ok(f) = self.point_flags(&p) {
                    out.push(f);
                }
            }
        }
        out
    }

    /// The flags of a point: the fixed flags with the point's values over them.
    fn point_flags(&self, point: &[(String, Value)]) -> Result<RunFlags, crate::flags::FlagError> {
        let mut overrides = self.fixed.clone();
        overrides.extend(point.iter().cloned());
        resolve(self.program.as_ref(), &overrides)
    }

    /// Admits trial `trial`'s point as a run: its flags resolved over the fixed ones (and
    /// checked as a grid point's are), its id content-addressed. A point that resolves to a
    /// run the plan has is that run (one run serves both trials). Returns its index.
    pub fn admit(&mut self, point: Vec<(String, Value)>, trial: usize) -> anyhow::Result<usize> {
        let flags = self.point_flags(&point).map_err(|e| {
            crate::error::Error::usage(format!(
                "search: trial {trial}'s point [{}] is invalid: {e}",
                point_text(&point)
            ))
        })?;
        let id = crate::store::identity::id_of(&self.label, &flags);
        // The runs by id, kept up to date here (rebuilt if the runs were changed elsewhere):
        // admitting N points is linear in N.
        if self.index.len() != self.runs.len() {
            self.index = self
                .runs
                .iter()
                .enumerate()
                .rev()
                .map(|(i, r)| (r.id.clone(), i))
                .collect();
        }
        if let Some(&i) = self.index.get(&id) {
            return Ok(i);
        }
        self.index.insert(id.clone(), self.runs.len());
        self.runs.push(PlannedRun {
            dir: self.sweep_dir.join(&id),
            id,
            flags,
            varying: point,
            trial: Some(trial),
        });
        Ok(self.runs.len() - 1)
    }
}

pub use crate::store::identity::run_id;
#[cfg(test)]
use crate::store::identity::{identity_text, yaml_entries};

/// Every combination of the grid (first key varying slowest), minus the excluded ones.
pub fn combinations(spec: &SweepSpec) -> Vec<Vec<(String, Value)>> {
    let mut combos: Vec<Vec<(String, Value)>> = vec![Vec::new()];
    for (name, values) in &spec.grid {
        let mut next = Vec::with_capacity(combos.len() * values.len());
        for c in &combos {
            for v in values {
                let mut c2 = c.clone();
                c2.push((name.clone(), v.clone()));
                next.push(c2);
            }
        }
        combos = next;
    }
    let excluded = Exclusions::new(&spec.exclude);
    combos
        .into_iter()
        .filter(|c| !excluded.matches(c))
        .collect()
}

/// The `exclude:` rules grouped by the flags they name: a combination is tested with one
/// lookup per group, so that planning stays linear in the number of combinations however
/// long the list is.
struct Exclusions {
    /// (the flags a group of rules names, sorted; the rules' values for them)
    groups: Vec<(Vec<String>, HashSet<Vec<Value>>)>,
}

impl Exclusions {
    fn new(rules: &[Vec<(String, Value)>]) -> Exclusions {
        let mut groups: Vec<(Vec<String>, HashSet<Vec<Value>>)> = Vec::new();
        for rule in rules {
            let mut rule: Vec<&(String, Value)> = rule.iter().collect();
            rule.sort_by(|a, b| a.0.cmp(&b.0));
            let names: Vec<String> = rule.iter().map(|(k, _)| k.clone()).collect();
            let values: Vec<Value> = rule.iter().map(|(_, v)| v.clone()).collect();
            match groups.iter_mut().find(|(n, _)| *n == names) {
                Some((_, set)) => {
                    set.insert(values);
                }
                None => groups.push((names, HashSet::from([values]))),
            }
        }
        Exclusions { groups }
    }

    fn matches(&self, combo: &[(String, Value)]) -> bool {
        self.groups.iter().any(|(names, set)| {
            let values: Option<Vec<Value>> = names
                .iter()
                .map(|n| combo.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone()))
                .collect();
            values.is_some_and(|v| set.contains(&v))
        })
    }
}

/// The flags a point of the sweep sets (grid values, then drawn ones).
type Point = Vec<(String, Value)>;

/// Every point of the sweep: each grid combination (after exclusions), times the random
/// trials when there is a `random:` block (trial k's draws the same at every grid point).
fn points(spec: &SweepSpec) -> Vec<(Point, Option<usize>)> {
    let combos = combinations(spec);
    match &spec.random {
        None => combos.into_iter().map(|c| (c, None)).collect(),
        Some(r) => combos
            .iter()
            .flat_map(|c| {
                (0..r.trials).map(move |k| {
                    let mut p = c.clone();
                    p.extend(r.draw(&spec.label, k));
                    (p, Some(k))
                })
            })
            .collect(),
    }
}

/// The most runs a plan may hold unless the user raises it (`run --max-runs`): planning
/// holds every run in memory (about 2 KB each, docs/benchmarks.md), so a grid of 10^7 is
/// refused before it is built rather than after it has taken 20 GB.
pub const MAX_RUNS: u64 = 1_000_000;

/// How many runs the sweep plans at most: the product of the grid's sizes times the random
/// trials, before exclusions (counted without building anything; saturates at u64::MAX).
pub fn planned_count(spec: &SweepSpec) -> u64 {
    let trials = spec
        .random
        .as_ref()
        .map(|r| r.trials)
        .or(spec.search.as_ref().map(|s| s.trials))
        .unwrap_or(1) as u64;
    spec.grid.iter().fold(trials, |n, (_, values)| {
        n.saturating_mul(values.len() as u64)
    })
}

/// Refuses a sweep that would plan more than `limit` runs, before building it.
pub fn check_size(spec: &SweepSpec, limit: u64) -> Result<(), crate::error::Error> {
    let n = planned_count(spec);
    if n <= limit {
        return Ok(());
    }
    let file = spec
        .source
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "sweep".into());
    let sizes: Vec<String> = spec
        .grid
        .iter()
        .map(|(k, v)| format!("{k} {}", v.len()))
        .chain(
            spec.random
                .as_ref()
                .map(|r| format!("random trials {}", r.trials)),
        )
        .chain(
            spec.search
                .as_ref()
                .map(|r| format!("search trials {}", r.trials)),
        )
        .collect();
    Err(crate::error::Error::usage(format!(
        "{file}: the sweep plans {n} runs ({}, before exclusions), over the limit of {limit}: narrow the grid (or --set a flag to one value), or raise the limit with --max-runs N",
        sizes.join(" x ")
    )))
}

/// Expands a validated sweep into its runs under `runs_dir/<label>/`.
pub fn expand(spec: &SweepSpec, runs_dir: &Path) -> anyhow::Result<Plan> {
    let sweep_dir = runs_dir.join(&spec.label);
    let file = spec
        .source
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "sweep".into());
    let mut runs: Vec<PlannedRun> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut duplicate_trials = Vec::new();
    // A search's points are decided as results arrive (see `Plan::admit`).
    let points = if spec.search.is_some() {
        Vec::new()
    } else {
        points(spec)
    };
    for (point, trial) in points {
        let mut overrides = spec.fixed.clone();
        overrides.extend(point.iter().cloned());
        let describe = || point_text(&point);
        let flags = resolve(spec.program.as_ref(), &overrides).map_err(|e| {
            let what = if trial.is_some() {
                "drawn values"
            } else {
                "combination"
            };
            crate::error::Error::usage(format!(
                "{file}: the {what} [{}] is invalid: {e}",
                describe()
            ))
        })?;
        let id = crate::store::identity::id_of(&spec.label, &flags);
        if let Some(other) = index.get(&id).map(|&i| &runs[i]) {
            if let Some(k) = trial {
                // A discrete space can draw the same values twice: one run serves both.
                duplicate_trials.push((k, other.id.clone()));
                continue;
            }
            anyhow::bail!(crate::error::Error::usage(format!(
                "{file}: the combinations [{}] and [{}] resolve to the same flags, so the same run: drop one of the values",
                other.varying_text(),
                describe()
            )));
        }
        index.insert(id.clone(), runs.len());
        runs.push(PlannedRun {
            dir: sweep_dir.join(&id),
            id,
            flags,
            varying: point,
            trial,
        });
    }
    if runs.is_empty() && spec.search.is_none() {
        anyhow::bail!(crate::error::Error::usage(format!(
            "{file}: the exclusions remove every combination of the grid: nothing to run"
        )));
    }
    let mut varying_names: Vec<String> = spec.grid.iter().map(|(n, _)| n.clone()).collect();
    if let Some(r) = &spec.random {
        varying_names.extend(r.space.iter().map(|(n, _)| n.clone()));
    }
    if let Some(s) = &spec.search {
        varying_names.extend(s.space.iter().map(|(n, _)| n.clone()));
    }
    let plan = Plan {
        label: spec.label.clone(),
        sweep_dir,
        varying_names,
        runs,
        duplicate_trials,
        random: spec.random.clone(),
        stop: spec.stop.clone(),
        race: spec.race.clone(),
        search: spec.search.clone(),
        fixed: spec.fixed.clone(),
        index: Default::default(),
        program: spec.program.clone(),
    };
    if let Some(p) = &plan.program {
        let folder = spec
            .source
            .as_ref()
            .and_then(|s| std::path::absolute(s).ok())
            .and_then(|s| s.parent().map(Path::to_path_buf))
            .unwrap_or_else(|| PathBuf::from("."));
        if let Some(m) = &p.sample_metrics {
            super::program::check_reference(&folder, &m.reference).map_err(|e| {
                crate::error::Error::usage(format!(
                    "{file}{}: {e}",
                    spec.sample_metrics_line
                        .map(|l| format!(":{l}"))
                        .unwrap_or_default()
                ))
            })?;
            let net = crate::metrics::features::default_network_path();
            if !net.is_file() {
                return Err(anyhow::Error::new(crate::error::Error::usage(format!(
                    "{file}: sample_metrics: the Inception network is missing at {}: run `bash scripts/setup.sh` (it installs it), or point {} at a copy",
                    net.display(),
                    crate::metrics::features::NETWORK_ENV
                ))));
            }
        }
        p.check_runnable(&folder).map_err(|e| {
            anyhow::Error::new(crate::error::Error::usage(format!(
                "{file}{}: {e}",
                spec.command_line
                    .map(|l| format!(":{l}"))
                    .unwrap_or_default()
            )))
        })?;
    }
    if let Some(s) = &plan.search {
        check_search(&plan, s).map_err(|e| {
            anyhow::Error::new(crate::error::Error::usage(format!("{file}: search: {e}")))
        })?;
    }
    if let Some(race) = &plan.race {
        check_race(&plan, race).map_err(|e| {
            anyhow::Error::new(crate::error::Error::usage(format!("{file}: race: {e}")))
        })?;
    }
    if let Some(stop) = &plan.stop {
        check_stop(&plan, stop).map_err(|e| {
            anyhow::Error::new(crate::error::Error::usage(format!(
                "{file}{}: stop: {e}",
                spec.stop_line.map(|l| format!(":{l}")).unwrap_or_default()
            )))
        })?;
    }
    Ok(plan)
}

impl Plan {
    /// Whether a run with `flags` measures the sample metrics: a built-in run with
    /// `kid_images`, or any run of a program whose sweep has `sample_metrics:`.
    fn measures_samples(&self, flags: &crate::run_flags::RunFlags) -> bool {
        self.program
            .as_ref()
            .is_some_and(|p| p.sample_metrics.is_some())
            || flags.builtin().is_some_and(|f| f.measures_samples())
    }
}

/// A search's points must resolve to valid flags (checked on its representative points), and
/// its metric must be measured by its runs.
fn check_search(plan: &Plan, s: &super::strategy::search::Search) -> Result<(), String> {
    for p in s.representatives(&plan.label) {
        let f = plan
            .point_flags(&p)
            .map_err(|e| format!("the point [{}] is invalid: {e}", point_text(&p)))?;
        if s.metric.from_samples() && !plan.measures_samples(&f) {
            return Err(format!(
                "metric {}, but its runs do not measure samples: set kid_images (e.g. 100)",
                s.metric.name
            ));
        }
    }
    Ok(())
}

/// A stop rule on a per-epoch sample metric needs runs that measure it every few epochs
/// (`kid_images` > 0 and `kid_every` > 0): otherwise it would never see a value and never stop.
fn check_stop(plan: &Plan, stop: &super::stop::EarlyStop) -> Result<(), String> {
    check_rungs(plan, stop)?;
    let samples =
        crate::metrics::names::Metric::by_column(&stop.metric).is_some_and(|m| m.from_samples());
    if !samples {
        return Ok(());
    }
    match plan
        .all_flags()
        .into_iter()
        .find(|f| !f.measures_samples() || f.kid_every == 0)
    {
        Some(_) => Err(format!(
            "metric {} is measured only by runs with kid_images > 0 and kid_every > 0 (e.g. kid_images: 100, kid_every: 1): set both under flags:",
            stop.metric
        )),
        None => Ok(()),
    }
}

/// Hyperband's brackets need the most epochs a run trains (its `epochs` flag) above the
/// least (`after_epochs`); a search that learns from the rungs needs its own metric measured
/// at each of them.
fn check_rungs(plan: &Plan, stop: &super::stop::EarlyStop) -> Result<(), String> {
    let flags = plan.every_flags();
    if stop.rule.has_brackets() {
        if let Some(f) = flags.iter().find(|f| f.epochs() <= stop.after_epochs) {
            return Err(match f.epochs() {
                0 => format!("{}: its brackets count epochs up to the runs' `epochs` flag, which this sweep does not set: add epochs: (the most epochs a run trains) under flags: (a program gets it as --epochs)", stop.rule_name()),
                e => format!("{}: after_epochs ({}) must be below the runs' epochs ({e}): the brackets run from after_epochs up to epochs", stop.rule_name(), stop.after_epochs),
            });
        }
    }
    let (Some(search), Some(_)) = (&plan.search, stop.rule.rung_eta()) else {
        return Ok(());
    };
    let m = search.metric;
    if !m.from_samples() || plan.program.is_some() {
        return Ok(());
    }
    for f in &flags {
        let ladder = stop.ladder(f.epochs()).unwrap_or_default();
        let every = f
            .builtin()
            .filter(|b| b.measures_samples())
            .map_or(0, |b| b.kid_every);
        if every == 0 || ladder.iter().any(|e| e % every != 0) {
            return Err(format!(
                "the search learns from the values of its metric {} at the rungs (epochs {}), but the runs do not measure it there: set kid_images and a kid_every that divides every rung (kid_every: 1), or search on a metric measured every epoch",
                m.name,
                ladder.iter().map(|e| e.to_string()).collect::<Vec<_>>().join(", ")
            ));
        }
    }
    Ok(())
}

/// A race needs every configuration on every seed, at least two configurations, and its
/// metric measured by the runs.
fn check_race(plan: &Plan, race: &super::strategy::race::Race) -> Result<(), String> {
    let configs = super::strategy::race::configs(plan, race)?;
    if configs.len() < 2 {
        return Err(format!(
            "the sweep has {} configuration: a race needs at least 2 (add a grid: or random:)",
            configs.len()
        ));
    }
    let samples =
        crate::metrics::names::Metric::named(&race.metric).is_some_and(|m| m.from_samples());
    if samples {
        if let Some(r) = plan.runs.iter().find(|r| !plan.measures_samples(&r.flags)) {
            return Err(format!(
                "metric {}, but run {} [{}] does not measure samples: set kid_images (e.g. 100)",
                race.metric,
                r.id,
                r.varying_text()
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ids runs got before flags could be added without changing them stay as they were:
    /// the demo's noise/linear run (runs/demo/09bdde512a65 of the first release).
    #[test]
    fn run_ids_of_existing_runs_stay() {
        let f = Flags::resolve(
            &crate::flags::parse_assignments(&[
                "dataset_name=shapes",
                "image_size=32",
                "unet_widths=[32,64,96]",
                "max_images=1500",
                "epochs=5",
                "kid_images=200",
                "device=auto",
                "loss_on=noise",
                "schedule_type=linear",
            ])
            .unwrap(),
        )
        .unwrap();
        assert_eq!(run_id("demo", &f), "09bdde512a65");
        let v1_lines: String = yaml_entries(&f.to_yaml())
            .into_iter()
            .filter(|(n, _)| IDENTITY_V1_FLAGS.contains(&n.as_str()))
            .map(|(_, t)| t)
            .collect();
        assert_eq!(identity_text(&f, IDENTITY_V1_FLAGS), v1_lines);
        let names: Vec<&str> = crate::flags::FLAG_SPECS.iter().map(|s| s.name).collect();
        for n in IDENTITY_V1_FLAGS {
            assert!(names.contains(n), "{n} is a flag");
        }
    }

    /// A random search's draws and their runs keep their ids across releases (the values
    /// are this release's; the open plan and `search:` left random search's expansion as it
    /// was).
    #[test]
    fn random_search_ids_stay() {
        let s = SweepSpec::parse(
            "label: r\nflags:\n  dataset_name: shapes\nrandom:\n  trials: 3\n  seed: 1\n  space:\n    lr: loguniform(1e-4, 3e-3)\n    loss: [mae, mse]\n",
            "r.yaml",
            &[],
        )
        .unwrap();
        let plan = expand(&s, Path::new("/r")).unwrap();
        let got: Vec<(String, String)> = plan
            .runs
            .iter()
            .map(|r| (r.id.clone(), r.varying_text()))
            .collect();
        assert_eq!(got, PINNED.map(|(a, b)| (a.to_string(), b.to_string())));
    }

    const PINNED: [(&str, &str); 3] = [
        ("6d09b72e0c46", "lr=0.0008798 loss=mse"),
        ("4e0668effd7e", "lr=0.0003384 loss=mae"),
        ("e3d2ea68a843", "lr=0.0005114 loss=mse"),
    ];

    /// A flag outside the v1 list (here `ema`, as if it were new) is left out at its default
    /// and counted otherwise; lists (`unet_widths`) keep their lines.
    #[test]
    fn a_later_flag_counts_only_when_set() {
        let later: Vec<&str> = IDENTITY_V1_FLAGS
            .iter()
            .copied()
            .filter(|n| *n != "ema")
            .collect();
        let at_default = Flags::default();
        let text = identity_text(&at_default, &later);
        assert!(!text.contains("ema:"), "{text}");
        assert!(
            text.contains("unet_widths:\n- 32\n- 64\n- 96\n- 128\n"),
            "{text}"
        );
        let later_flags = crate::flags::FLAG_SPECS.len() - IDENTITY_V1_FLAGS.len();
        assert_eq!(
            text.lines().count() + 1 + later_flags,
            at_default.to_yaml().lines().count()
        );
        let set = Flags::resolve(&crate::flags::parse_assignments(&["ema=0.5"]).unwrap()).unwrap();
        assert!(identity_text(&set, &later).contains("ema: 0.5\n"));
    }

    /// `ema_warmup` (added after v1, default true) leaves ids of runs without EMA alone and
    /// gives runs with EMA new ids (they train differently from before it existed).
    #[test]
    fn ema_warmup_enters_the_id_only_with_ema() {
        let id = |a: &[&str]| {
            let f = Flags::resolve(&crate::flags::parse_assignments(a).unwrap()).unwrap();
            (run_id("x", &f), identity_text(&f, IDENTITY_V1_FLAGS))
        };
        assert!(!id(&[]).1.contains("ema_warmup"));
        assert!(id(&["ema=0.9"]).1.contains("ema_warmup: true"));
        assert_ne!(id(&["ema=0.9"]).0, id(&["ema=0.9", "ema_warmup=false"]).0);
        assert!(id(&["ema_warmup=false"]).1.contains("ema_warmup: false"));
    }

    fn spec(text: &str) -> SweepSpec {
        SweepSpec::parse(text, "s.yaml", &[]).unwrap()
    }

    #[test]
    fn expansion_count_order_and_exclude() {
        let s = spec(
            "label: x\nflags:\n  dataset_name: shapes\ngrid:\n  loss: [mae, mse]\n  loss_on: [noise, image]\n  schedule_type: [linear, cosine]\nexclude:\n  - {loss: mse, loss_on: image}\n",
        );
        let plan = expand(&s, Path::new("/r")).unwrap();
        assert_eq!(plan.runs.len(), 6);
        let texts: Vec<String> = plan.runs.iter().map(|r| r.varying_text()).collect();
        assert_eq!(
            texts,
            [
                "loss=mae loss_on=noise schedule_type=linear",
                "loss=mae loss_on=noise schedule_type=cosine",
                "loss=mae loss_on=image schedule_type=linear",
                "loss=mae loss_on=image schedule_type=cosine",
                "loss=mse loss_on=noise schedule_type=linear",
                "loss=mse loss_on=noise schedule_type=cosine",
            ]
        );
        assert!(plan.runs[0].dir.starts_with("/r/x"));
        assert_eq!(plan.runs[0].id.len(), 12);
    }

    #[test]
    fn identity_is_content_addressed() {
        let a = expand(
            &spec("label: x\ngrid:\n  loss: [mae, mse]\n"),
            Path::new("/r"),
        )
        .unwrap();
        let b = expand(
            &spec(
                "label: x\ngrid:\n  loss: [mae, mse, l1x]\n"
                    .replace(", l1x", "")
                    .as_str(),
            ),
            Path::new("/r"),
        )
        .unwrap();
        assert_eq!(a.runs[1].id, b.runs[1].id, "same sweep, same ids");
        // adding a grid value adds a run and keeps the others
        let c = expand(
            &spec("label: x\ngrid:\n  loss: [mae, mse]\n  lr: [0.001]\n"),
            Path::new("/r"),
        )
        .unwrap();
        assert_eq!(
            a.runs[0].id, c.runs[0].id,
            "lr=0.001 is the default: the same flags"
        );
        let d = expand(
            &spec("label: x\ngrid:\n  loss: [mae, mse]\n  lr: [0.001, 0.01]\n"),
            Path::new("/r"),
        )
        .unwrap();
        assert_eq!(d.runs.len(), 4);
        assert_eq!(d.runs[0].id, a.runs[0].id);
        assert_eq!(d.runs[2].id, a.runs[1].id);
        // a changed fixed flag changes every id; another label too
        let e = expand(
            &spec("label: x\nflags:\n  epochs: 3\ngrid:\n  loss: [mae, mse]\n"),
            Path::new("/r"),
        )
        .unwrap();
        assert_ne!(e.runs[0].id, a.runs[0].id);
        let f = expand(
            &spec("label: y\ngrid:\n  loss: [mae, mse]\n"),
            Path::new("/r"),
        )
        .unwrap();
        assert_ne!(f.runs[0].id, a.runs[0].id);
    }

    #[test]
    fn invalid_combinations_and_duplicates() {
        let e = expand(
            &spec("label: x\ngrid:\n  image_size: [16, 20]\n"),
            Path::new("/r"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("[image_size=20] is invalid"), "{e}");
        let e = expand(&spec("label: x\nflags:\n  dataset_name: shapes\ngrid:\n  dataset_repetitions: [auto, 1]\n"), Path::new("/r"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("resolve to the same flags"), "{e}");
        let e = expand(
            &spec("label: x\ngrid:\n  loss: [mae]\nexclude:\n  - {loss: mae}\n"),
            Path::new("/r"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("remove every combination"), "{e}");
    }
}
