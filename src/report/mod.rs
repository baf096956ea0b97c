//! `ddim-sweep report`: result tables (polars), sample grids and plots (plotters) per sweep
//! label, from what the runs wrote to disk.

mod charts;
pub mod conclusions;
mod fidelity;
mod figures;
pub mod format;
pub mod md;
mod page;
pub mod race;
mod rows;
pub mod search;
mod slice;
pub mod table;
pub mod trials;

#[cfg(test)]
mod driver_tests;

use crate::flags::FLAG_SPECS;
use crate::store::listing::{list_runs, RunEntry};
use crate::store::RunDir;
use anyhow::Context;
use polars::prelude::*;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// The metrics of the results table, in order: every built-in one, then those the programs
/// of the runs read so far declared ([`declare_programs`]).
pub fn metrics() -> Vec<&'static str> {
    let mut out = crate::metrics::names::Metric::names();
    out.extend(crate::metrics::declared::all().into_iter().map(|m| m.name));
    out
}

/// `metrics` with a program's own metrics first (as it declared them, the headline first),
/// then the sample metrics ddim-sweep measured on its images (`sample_metrics:`).
pub fn program_first(mut metrics: Vec<&'static str>) -> Vec<&'static str> {
    let own = |m: &str| crate::metrics::names::Metric::named(m).is_some_and(|d| d.from_program());
    metrics.sort_by_key(|m| !own(m));
    metrics
}

/// Declares the metrics of the programs that made `runs` (their run.json says them): a
/// metric declared twice with opposite directions keeps the first, with a warning.
pub fn declare_programs(runs: &[crate::store::listing::RunEntry]) -> Vec<String> {
    let mut warnings = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for e in runs {
        let Some(p) = &e.info.program else { continue };
        for (name, word) in &p.metrics {
            if !seen.insert((name.clone(), word.clone())) {
                continue;
            }
            let Some(d) = crate::metrics::declared::direction(word) else {
                continue;
            };
            if let Err(why) = crate::metrics::names::Metric::declare(name, d) {
                warnings.push(format!("warning: run {} ({}): {why}", e.id, e.label));
            }
        }
    }
    warnings
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Markdown,
    Csv,
    Json,
}

/// The table `report --format csv` prints on stdout (every one is written to its file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CsvTable {
    /// One row per run: results.csv.
    Results,
    /// One row per configuration with replicates: configs.csv.
    Configs,
    /// One row per effect: effects.csv.
    Effects,
    /// One row per race decision: race.csv.
    Race,
}

impl CsvTable {
    fn file(self) -> &'static str {
        match self {
            CsvTable::Results => "results.csv",
            CsvTable::Configs => "configs.csv",
            CsvTable::Effects => "effects.csv",
            CsvTable::Race => "race.csv",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Options {
    pub runs_dir: PathBuf,
    pub label: Option<String>,
    pub out: PathBuf,
    pub format: Format,
    /// With `Format::Csv`: the table printed on stdout.
    pub table: CsvTable,
    pub sort: Option<String>,
    pub images: bool,
    pub device: tch::Device,
}

/// One run as the report sees it.
#[derive(Debug, Clone)]
pub struct ReportRun {
    pub entry: RunEntry,
    pub flags: Option<crate::run_flags::RunFlags>,
    /// Every flag's value as table text (`mae`, `0.001`, `[8, 16]`), made once at load.
    pub flag_texts: BTreeMap<String, String>,
}

impl ReportRun {
    /// The text of a flag's value, empty when the run has no readable flags.
    pub fn flag_text(&self, name: &str) -> &str {
        self.flag_texts.get(name).map(|s| s.as_str()).unwrap_or("")
    }

    /// `loss=mae lr=0.001` over the `varying` flags, or the run's id when none varies.
    pub fn name(&self, varying: &[String]) -> String {
        if varying.is_empty() {
            return self.entry.id.clone();
        }
        varying
            .iter()
            .map(|v| format!("{v}={}", self.flag_text(v)))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// The runs of one label, with the flags that vary among them.
#[derive(Debug, Clone)]
pub struct LabelRuns {
    pub label: String,
    pub runs: Vec<ReportRun>,
    /// Runs whose run.json is damaged: (directory, why); left out of the tables, listed.
    pub damaged: Vec<(PathBuf, String)>,
    pub varying: Vec<String>,
    /// The runs' positions by id, made at the first [`LabelRuns::run`].
    by_id: std::sync::OnceLock<HashMap<String, usize>>,
}

impl LabelRuns {
    /// The run with this id (one of the table's).
    pub fn run(&self, id: &str) -> &ReportRun {
        let by_id = self.by_id.get_or_init(|| {
            let mut m = HashMap::with_capacity(self.runs.len());
            for (i, r) in self.runs.iter().enumerate() {
                m.entry(r.entry.id.clone()).or_insert(i);
            }
            m
        });
        &self.runs[*by_id.get(id).expect("run of the table")]
    }
}

/// Loads the runs of `runs_dir`, grouped by label (sweep order within a label).
pub fn load(runs_dir: &Path, label: Option<&str>) -> anyhow::Result<Vec<LabelRuns>> {
    let mut groups: Vec<LabelRuns> = Vec::new();
    let mut entries: Vec<RunEntry> = list_runs(runs_dir)
        .into_iter()
        .filter(|e| label.is_none_or(|l| l == e.label))
        .collect();
    for w in declare_programs(&entries) {
        eprintln!("{w}");
    }
    {
        // Its scalars are read by the tables and figures: a damaged file is named (each
        // run's file read in parallel).
        use rayon::prelude::*;
        entries
            .par_iter_mut()
            .filter(|e| e.damaged.is_none())
            .for_each(|entry| {
                let scalars = RunDir::new(&entry.dir).scalars();
                if scalars.exists() {
                    if let Err(e) = crate::track::csv::read(&scalars) {
                        entry.damaged = Some(format!("{e:#}"));
                    }
                }
            });
    }
    for mut entry in entries {
        if let Some(why) = &entry.damaged {
            let at = match groups.iter().position(|g| g.label == entry.label) {
                Some(at) => at,
                None => {
                    groups.push(LabelRuns {
                        label: entry.label.clone(),
                        runs: Vec::new(),
                        damaged: Vec::new(),
                        varying: Vec::new(),
                        by_id: Default::default(),
                    });
                    groups.len() - 1
                }
            };
            groups[at].damaged.push((entry.dir.clone(), why.clone()));
            continue;
        }
        // Read and checked by the listing (one read of flags.yaml per run).
        let flags = entry.flags.take();
        let flag_texts = flags
            .as_ref()
            .map(|f| {
                f.to_map()
                    .into_iter()
                    .map(|(k, v)| (k, crate::flags::plain_value(&v)))
                    .collect()
            })
            .unwrap_or_default();
        let run = ReportRun {
            entry,
            flags,
            flag_texts,
        };
        match groups.iter_mut().find(|g| g.label == run.entry.label) {
            Some(g) => g.runs.push(run),
            None => groups.push(LabelRuns {
                label: run.entry.label.clone(),
                runs: vec![run],
                damaged: Vec::new(),
                varying: Vec::new(),
                by_id: Default::default(),
            }),
        }
    }
    for g in &mut groups {
        g.varying = varying_flags(&g.runs);
    }
    Ok(groups)
}

/// Flags whose values differ among the runs: the sweep's grid order first, then spec order.
fn varying_flags(runs: &[ReportRun]) -> Vec<String> {
    let maps: Vec<&BTreeMap<String, String>> = runs
        .iter()
        .filter(|r| r.flags.is_some())
        .map(|r| &r.flag_texts)
        .collect();
    let differs = |name: &str| {
        let first = maps.first().and_then(|m| m.get(name));
        maps.iter().any(|m| m.get(name) != first)
    };
    let mut out: Vec<String> = Vec::new();
    // Each name decided once (a name that does not differ is not tried again at every run).
    let mut tried: std::collections::HashSet<&str> = std::collections::HashSet::new();
    for r in runs {
        for (k, _) in &r.entry.varying {
            if tried.insert(k.as_str()) && (differs(k) || maps.len() <= 1) {
                out.push(k.clone());
            }
        }
    }
    for s in FLAG_SPECS {
        if !out.iter().any(|o| o == s.name) && differs(s.name) {
            out.push(s.name.to_string());
        }
    }
    out
}

/// The runs of a label as a DataFrame: id, status, the varying flags (text), the metrics
/// (null when missing), seconds, dir.
pub fn frame(g: &LabelRuns) -> PolarsResult<DataFrame> {
    let mut cols: Vec<Column> = vec![
        Column::new(
            "id".into(),
            g.runs
                .iter()
                .map(|r| r.entry.id.clone())
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "status".into(),
            g.runs
                .iter()
                .map(|r| r.entry.info.status.to_string())
                .collect::<Vec<_>>(),
        ),
    ];
    for name in &g.varying {
        let v: Vec<String> = g
            .runs
            .iter()
            .map(|r| r.flag_text(name).to_string())
            .collect();
        cols.push(Column::new(name.as_str().into(), v));
    }
    for &m in metrics().iter() {
        let v: Vec<Option<f64>> = g
            .runs
            .iter()
            .map(|r| r.entry.info.metrics.get(m).copied())
            .collect();
        cols.push(Column::new(m.into(), v));
    }
    cols.push(Column::new(
        "seconds".into(),
        g.runs
            .iter()
            .map(|r| r.entry.info.seconds)
            .collect::<Vec<_>>(),
    ));
    cols.push(Column::new(
        "dataset_name".into(),
        g.runs
            .iter()
            .map(|r| r.flag_text("dataset_name").to_string())
            .collect::<Vec<_>>(),
    ));
    DataFrame::new_infer_height(cols)
}

/// Sorts by a metric (ascending, missing last), or keeps the sweep's order.
pub fn sorted(df: DataFrame, sort: Option<&str>) -> anyhow::Result<DataFrame> {
    let Some(m) = sort else { return Ok(df) };
    if !metrics().contains(&m) && m != "seconds" {
        anyhow::bail!(crate::error::Error::usage(format!(
            "--sort {m}: expected one of {}, seconds",
            metrics().join(", ")
        )));
    }
    // Best first: descending where higher is better.
    let higher = crate::metrics::names::Metric::named(m)
        .is_some_and(|d| d.direction == crate::metrics::names::Direction::Higher);
    Ok(df.sort(
        [m],
        SortMultipleOptions::default()
            .with_order_descending(higher)
            .with_nulls_last(true)
            .with_maintain_order(true),
    )?)
}

/// A fingerprint of everything a label's pictures are made from (runs, their status,
/// weights and logs), so that pictures already made are reused.
fn fingerprint(g: &LabelRuns, order: &[String]) -> String {
    let mut h = Sha256::new();
    h.update(b"report v1\n");
    for id in order {
        let r = g.run(id);
        h.update(id.as_bytes());
        let rd = RunDir::new(&r.entry.dir);
        for f in [rd.run_json(), rd.weights(), rd.scalars(), rd.example()] {
            let (len, t) = crate::files::file_stamp(&f);
            let name = f.file_name().unwrap_or_default().to_string_lossy();
            h.update(format!("{name}:{len}:{t};").as_bytes());
        }
    }
    h.finalize()
        .iter()
        .take(12)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The sweep's headline metric, decided once for the whole report (the best run, its
/// pictures, the pivot, the search's ranking, the effects' figure): a program's first metric;
/// else the first sample metric that every run with final metrics has (`kid`:
/// [`crate::metrics::names::headline`]), else `noise_loss`, so that a run is never ranked
/// against another run's different metric.
pub fn headline(g: &LabelRuns) -> &'static str {
    // A program's: the first of its metrics.
    if let Some(m) = g
        .runs
        .iter()
        .filter_map(|r| r.entry.info.program.as_ref())
        .find_map(|p| p.metrics.first())
        .and_then(|(name, _)| crate::metrics::declared::named(name))
    {
        return m.name;
    }
    let measured: Vec<_> = g
        .runs
        .iter()
        .map(|r| &r.entry.info.metrics)
        .filter(|m| !m.is_empty())
        .collect();
    crate::metrics::names::headline(|m| {
        !measured.is_empty() && measured.iter().all(|have| have.contains_key(m.name))
    })
    .name
}

/// A copy of `g` whose texts from disk (flag values, reasons, damage) are escaped for
/// markdown ([`md::text`]); ids and flag names are the tool's own (hex, a fixed list).
fn for_markdown(g: &LabelRuns) -> LabelRuns {
    let mut g = g.clone();
    for r in &mut g.runs {
        for v in r.flag_texts.values_mut() {
            *v = md::text(v);
        }
        for (_, v) in &mut r.entry.varying {
            *v = md::text(v);
        }
        if let Some(why) = &mut r.entry.info.reason {
            *why = md::text(why);
        }
    }
    g
}

/// What a report did: the text to print, and the runs it had to leave out because their
/// run.json is damaged (directory, why).
pub struct Written {
    pub printed: String,
    /// Lines for stderr (what stdout leaves out).
    pub notes: Vec<String>,
    pub damaged: Vec<(PathBuf, String)>,
}

/// Writes the report of every label.
pub fn run(opts: &Options) -> anyhow::Result<Written> {
    let groups = load(&opts.runs_dir, opts.label.as_deref())?;
    // --sort names a metric the runs' programs may have declared: checked once they are read,
    // before anything else is said.
    if let Some(m) = opts.sort.as_deref() {
        if !metrics().contains(&m) && m != "seconds" {
            anyhow::bail!(crate::error::Error::usage(format!(
                "invalid value '{m}' for '--sort <SORT>': expected one of {}, seconds",
                metrics().join(", ")
            )));
        }
    }
    if groups.is_empty() {
        match &opts.label {
            Some(l) => anyhow::bail!("no runs with label `{l}` in {}", opts.runs_dir.display()),
            None => anyhow::bail!("no runs in {}", opts.runs_dir.display()),
        }
    }
    let mut printed = String::new();
    let mut notes: Vec<String> = Vec::new();
    let damaged: Vec<(PathBuf, String)> = groups.iter().flat_map(|g| g.damaged.clone()).collect();
    for g in &groups {
        if g.runs.is_empty() {
            printed.push_str(&format!(
                "## {}: no readable runs ({} damaged)\n\n",
                g.label,
                g.damaged.len()
            ));
            continue;
        }
        let out_dir = opts.out.join(&g.label);
        // The report writes into its label's folder: a link there would carry its files into
        // the link's target, wherever that is.
        if fs_err::symlink_metadata(&out_dir).is_ok_and(|m| m.file_type().is_symlink()) {
            anyhow::bail!(crate::error::Error::usage(format!(
                "{} is a symbolic link: the report of label {} is written into a folder of its own, never through a link (remove the link, or choose another --out)",
                out_dir.display(),
                g.label
            )));
        }
        fs_err::create_dir_all(&out_dir)
            .with_context(|| format!("creating {}", out_dir.display()))?;
        // Markdown: every text read from disk escaped once, here, for the tables, sections
        // and captions below (the pictures take the texts as written, from `g`).
        let escaped = (opts.format == Format::Markdown).then(|| for_markdown(g));
        let gm = escaped.as_ref().unwrap_or(g);
        let df = sorted(frame(gm)?, opts.sort.as_deref())?;
        let record = crate::store::sweep_file::SweepRecord::read(&opts.runs_dir.join(&g.label))
            .unwrap_or_default();
        notes.extend(trials::disagreements(g, record.search.as_ref()));
        match opts.format {
            Format::Csv => {
                let mut tables = vec![("results.csv", table::csv(&df, &g.varying)?)];
                tables.extend(conclusions_csv(g)?);
                if let Some(r) = &record.race {
                    tables.push(("race.csv", race::csv(r)));
                }
                for (file, t) in &tables {
                    crate::files::write_atomic(&out_dir.join(file), t.as_bytes())?;
                }
                // stdout holds one table, so that `report --format csv > x.csv` is a CSV file.
                match tables.iter().find(|(f, _)| *f == opts.table.file()) {
                    Some((_, t)) if groups.len() == 1 => printed.push_str(t),
                    Some(_) => notes.push(format!(
                        "{}: several labels, one CSV table each: choose one with --label to print it",
                        out_dir.join(opts.table.file()).display()
                    )),
                    None => notes.push(format!(
                        "label {}: no {} (the sweep has none)",
                        g.label,
                        opts.table.file()
                    )),
                }
            }
            Format::Json => {
                let runs: serde_json::Value = serde_json::from_str(&table::json(&df, &g.varying)?)?;
                let all = serde_json::json!({
                    "runs": runs,
                    "configs": conclusions::configs_json(&conclusions::configs(g)),
                    "effects": conclusions::effects_json(&conclusions::effects(g)),
                    "race": race::json(record.race.as_ref()),
                    "race_outcome": race::summary_json(record.race.as_ref()),
                    "search": trials::json(g, record.search.as_ref()),
                });
                let text = format!("{}\n", serde_json::to_string_pretty(&all)?);
                crate::files::write_atomic(&out_dir.join("results.json"), text.as_bytes())?;
                printed.push_str(&text);
            }
            Format::Markdown => {
                let tables = table::markdown_tables(&df, &gm.varying)?;
                let order: Vec<String> = df
                    .column("id")?
                    .str()?
                    .iter()
                    .map(|s| s.unwrap_or("").to_string())
                    .collect();
                let pictures = if opts.images {
                    let fp = fingerprint(g, &order);
                    figures::make_all(g, &order, &out_dir, &fp, opts.device)?
                } else {
                    Vec::new()
                };
                let search = search::section(gm, &record, &out_dir, opts.images)?;
                let raced = race::section(record.race.as_ref());
                let found = conclusions::sections(gm, &out_dir, opts.images)?;
                let md = page::Page {
                    g: gm,
                    df: &df,
                    tables: &tables,
                    pictures: &pictures,
                    search: search.as_deref(),
                    race: raced.as_deref(),
                    found: &found,
                }
                .markdown()?;
                crate::files::write_atomic(&out_dir.join("README.md"), md.as_bytes())?;
                printed.push_str(&format!(
                    "## {} ({} runs) -> {}\n\n",
                    g.label,
                    g.runs.len(),
                    out_dir.join("README.md").display()
                ));
                if let Some(t) = &found.configs_table {
                    printed.push_str("By configuration (mean ± half the 95% interval):\n\n");
                    printed.push_str(t);
                    printed.push_str("\nEach run:\n\n");
                }
                for (title, t) in &tables {
                    if !title.is_empty() {
                        printed.push_str(&format!("{title}\n\n"));
                    }
                    printed.push_str(t);
                    printed.push('\n');
                }
                if let Some(r) = &record.race {
                    printed.push_str(&format!(
                        "{}\n",
                        crate::sweep::strategy::race::outcome_text(r)
                    ));
                }
            }
        }
    }
    Ok(Written {
        printed,
        notes,
        damaged,
    })
}

/// `configs.csv` (when some configuration has replicates) and `effects.csv` (when some effect
/// has an interval), as (file, text).
fn conclusions_csv(g: &LabelRuns) -> anyhow::Result<Vec<(&'static str, String)>> {
    let mut out = Vec::new();
    let configs = conclusions::configs(g);
    if conclusions::has_replicates(&configs) {
        out.push(("configs.csv", conclusions::configs_csv(&configs)));
    }
    let effects = conclusions::effects(g);
    if conclusions::has_intervals(&effects) {
        out.push(("effects.csv", conclusions::effects_csv(&effects)));
    }
    Ok(out)
}
