//! The report's "Search" section, for a sweep that drew its flags (`random:`) or stopped
//! runs early (`stop:`): every run ranked by its metric (best first, stopped runs at the value
//! they stopped with), each searched flag plotted against the metric, and what early
//! stopping saved. Everything comes from the runs' files and the sweep's record.

use super::format::{Align, Table};
use super::{LabelRuns, ReportRun};
use crate::store::sweep_file::SweepRecord;
use crate::store::RunDir;
use crate::track::csv;
use std::path::Path;

/// A run's place in the search: the metric's last value and the epochs it trained (its
/// scalar rows kept for the learning curves).
struct Ranked<'a> {
    run: &'a ReportRun,
    /// Its trial number (a search's), else its place in the sweep.
    trial: usize,
    value: Option<f64>,
    epoch: i64,
    rows: Vec<csv::EpochRow>,
}

/// The section's markdown (with its pictures written to `out`), or None when the sweep
/// neither searched nor stopped runs early.
pub fn section(
    g: &LabelRuns,
    record: &SweepRecord,
    out: &Path,
    images: bool,
) -> anyhow::Result<Option<String>> {
    if record.space.is_empty() && record.stop.is_none() {
        return Ok(None);
    }
    let metric = metric_of(g, record);
    // A model-based search ranks its runs by their final metric (what it searched on).
    let final_name = record.search.as_ref().map(|s| s.metric.clone());
    let trial_of: std::collections::HashMap<&str, usize> = record
        .search
        .iter()
        .flat_map(|s| s.trials.iter().map(|t| (t.run.as_str(), t.trial)))
        .collect();
    let mut ranked: Vec<Ranked> = g
        .runs
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let rows = csv::read(&RunDir::new(&r.entry.dir).scalars()).unwrap_or_default();
            let value = match &final_name {
                Some(n) => r.entry.info.metrics.get(n).copied(),
                None => rows.iter().rev().find_map(|row| row.metric(&metric)),
            };
            let epoch = rows.last().map_or(0, |row| row.epoch);
            Ranked {
                run: r,
                trial: trial_of.get(r.entry.id.as_str()).copied().unwrap_or(i),
                value,
                epoch,
                rows,
            }
        })
        .collect();
    let def = crate::metrics::names::Metric::by_column(&metric);
    let loss = |v: f64| def.map_or(v, |m| m.as_loss(v));
    ranked.sort_by(|a, b| match (a.value, b.value) {
        (Some(x), Some(y)) => loss(x).total_cmp(&loss(y)),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    });
    let mut md = String::from("## Search\n\n");
    if let Some(s) = &record.search {
        md.push_str(&super::trials::markdown(g, s, out, images)?);
    } else if !record.space.is_empty() {
        let space: Vec<String> = record
            .space
            .iter()
            .map(|(n, s)| format!("`{n}` ~ {}", s.dist))
            .collect();
        md.push_str(&format!("Random search over {}.\n", space.join(", ")));
    }
    if let Some(s) = &record.stop {
        md.push_str(&format!("Early stopping: {}.\n", s.describe()));
    }
    let what = match &final_name {
        Some(n) => format!("final `{n}`"),
        None => format!("last `{metric}`"),
    };
    md.push_str(&format!(
        "\nRuns ranked by their {what} ({}; a stopped run at the value it stopped with):\n\n",
        def.map_or("lower is better", |m| m.direction_text())
    ));
    md.push_str(&ranking_table(&ranked, &g.varying, &metric));
    md.push_str(&savings(g, record));
    if record.stop.is_some() {
        let watched = record
            .stop
            .as_ref()
            .map_or(metric.clone(), |s| s.metric.clone());
        let curves: Vec<_> = ranked.iter().map(|r| (r.run, &r.rows[..])).collect();
        md.push_str(&super::fidelity::markdown(
            &curves, record, &watched, out, images,
        )?);
    }
    if images {
        for (name, entry) in &record.space {
            let file = format!("search_{name}.png");
            if slice_chart(g, &ranked, name, entry.log, &metric, &out.join(&file))? {
                md.push_str(&format!(
                    "### {metric} against {name}\n\n![{name}]({file})\n\n"
                ));
            }
        }
    }
    Ok(Some(md))
}

/// A search's metric (its column); the stop rule's; else the sweep's headline metric's
/// column ([`super::headline`]).
fn metric_of(g: &LabelRuns, record: &SweepRecord) -> String {
    if let Some(m) = record
        .search
        .as_ref()
        .and_then(|s| crate::metrics::names::Metric::named(&s.metric))
    {
        return m.column.to_string();
    }
    // The record is read from disk: only a known per-epoch column names a table column.
    if let Some(m) = record
        .stop
        .as_ref()
        .and_then(|s| crate::metrics::names::Metric::by_column(&s.metric))
    {
        return m.column.to_string();
    }
    crate::metrics::names::Metric::named(super::headline(g))
        .map_or("val_noise_loss", |m| m.column)
        .into()
}

fn ranking_table(ranked: &[Ranked], varying: &[String], metric: &str) -> String {
    let mut t = Table::new()
        .column("rank", Align::Right)
        .columns(["id", "status"], Align::Left)
        .column("epochs", Align::Right)
        .columns(varying.iter().cloned(), Align::Left)
        .column(metric, Align::Right);
    for (i, r) in ranked.iter().enumerate() {
        let planned = r.run.flags.as_ref().map_or(0, |f| f.epochs());
        let mut cells = vec![
            (i + 1).to_string(),
            format!("`{}`", r.run.entry.id),
            r.run.entry.info.status.to_string(),
            format!("{}/{planned}", r.epoch),
        ];
        cells.extend(varying.iter().map(|v| r.run.flag_text(v).to_string()));
        cells.push(r.value.map_or(String::new(), super::format::fixed6));
        t.row(cells);
    }
    let mut md = t.markdown();
    md.push('\n');
    md
}

/// What early stopping saved: epochs not trained by the runs it stopped.
fn savings(g: &LabelRuns, record: &SweepRecord) -> String {
    if record.decisions.is_empty() {
        return String::new();
    }
    let planned: i64 = g
        .runs
        .iter()
        .filter_map(|r| r.flags.as_ref())
        .map(|f| f.epochs())
        .sum();
    let stopped: Vec<&crate::store::sweep_file::Decision> = record
        .decisions
        .iter()
        .filter(|d| {
            g.runs
                .iter()
                .any(|r| r.entry.id == d.run && r.entry.info.status.to_string() == "stopped")
        })
        .collect();
    let saved: i64 = stopped
        .iter()
        .map(|d| {
            let trained = g
                .runs
                .iter()
                .find(|r| r.entry.id == d.run)
                .map_or(d.epoch, |r| r.entry.info.epoch.max(d.epoch));
            (d.epochs - trained).max(0)
        })
        .sum();
    let mut md = format!(
        "Early stopping stopped {} run(s) and saved {saved} of the {planned} epochs the sweep planned ({:.0}%):\n\n",
        stopped.len(),
        100.0 * saved as f64 / planned.max(1) as f64
    );
    for d in &record.decisions {
        md.push_str(&format!("- `{}`: {}\n", d.run, d.reason()));
    }
    md.push('\n');
    md
}

/// The slice chart of `flag` ([`super::slice`]): the runs' values of it against the metric,
/// its markers by the first other varying flag whose values are not numbers.
fn slice_chart(
    g: &LabelRuns,
    ranked: &[Ranked],
    flag: &str,
    log: bool,
    metric: &str,
    path: &Path,
) -> anyhow::Result<bool> {
    let categorical = g
        .varying
        .iter()
        .filter(|f| *f != flag && *f != "seed")
        .find(|f| {
            ranked
                .iter()
                .any(|r| r.run.flag_text(f).parse::<f64>().is_err())
        });
    let mut values: Vec<String> = Vec::new();
    let points: Vec<super::slice::Point> = ranked
        .iter()
        .filter_map(|r| {
            let category = categorical.map_or(0, |c| {
                let v = r.run.flag_text(c);
                values.iter().position(|x| x == v).unwrap_or_else(|| {
                    values.push(v.to_string());
                    values.len() - 1
                })
            });
            Some(super::slice::Point {
                x: r.run.flag_text(flag).parse::<f64>().ok()?,
                y: r.value?,
                trial: r.trial,
                category,
            })
        })
        .collect();
    let slice = super::slice::Slice {
        flag,
        metric,
        log,
        categories: categorical
            .filter(|_| values.len() >= 2)
            .map(|c| (c.as_str(), &values[..])),
    };
    super::slice::draw(&points, &slice, path)
}
