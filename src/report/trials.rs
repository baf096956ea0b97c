//! A model-based search's trials (`search:`) in the report: the trials in order with their
//! runs, states and values, the best value so far against the trial number, and the best
//! trial's flags; `report --format json`'s `search`. The trials and their runs come from the
//! sweep's record; states and values from the runs' own `run.json`.

use super::charts::{draw_err, figure};
use super::format::{Align, Table};
use super::LabelRuns;
use crate::metrics::names::Metric;
use crate::store::sweep_file::SearchRecord;
use plotters::prelude::*;
use std::path::Path;

/// One trial as the report shows it.
pub struct Trial {
    pub trial: usize,
    pub run: String,
    /// The searched flags as its run's own files record them (the sweep record's values
    /// only for a run the folder does not have), one per searched flag, in one order.
    pub flags: Vec<(String, String)>,
    /// Its run's status (`missing` when the runs folder has no such run).
    pub state: String,
    /// The final metric, when the run completed with it.
    pub value: Option<f64>,
    /// Where the sweep record's flags for this trial disagree with its run's own.
    pub disagrees: Option<String>,
}

/// The searched flags' names: the record's space, else every name its trials give.
fn searched_names(s: &SearchRecord) -> Vec<String> {
    if !s.space.is_empty() {
        return s.space.keys().cloned().collect();
    }
    let mut names: Vec<String> = s
        .trials
        .iter()
        .flat_map(|t| t.flags.keys().cloned())
        .collect();
    names.sort();
    names.dedup();
    names
}

/// The search's trials, in trial order, each checked against its run's own record.
pub fn trials(g: &LabelRuns, s: &SearchRecord) -> Vec<Trial> {
    let by_id: std::collections::HashMap<&str, &super::ReportRun> =
        g.runs.iter().map(|r| (r.entry.id.as_str(), r)).collect();
    let damaged: std::collections::HashSet<String> = g
        .damaged
        .iter()
        .filter_map(|(dir, _)| Some(dir.file_name()?.to_string_lossy().into_owned()))
        .collect();
    let names = searched_names(s);
    let mut out: Vec<Trial> = s
        .trials
        .iter()
        .map(|t| {
            let run = by_id.get(t.run.as_str()).copied();
            let state = match run {
                Some(r) => r.entry.info.status.to_string(),
                None if damaged.contains(&t.run) => "damaged".to_string(),
                None => "missing".to_string(),
            };
            let value = run
                .filter(|_| state == "completed")
                .and_then(|r| r.entry.info.metrics.get(&s.metric).copied())
                .filter(|v| v.is_finite());
            let own = |n: &str| -> String {
                match run.filter(|r| r.flags.is_some()) {
                    Some(r) => r.flag_text(n).to_string(),
                    None => t.flags.get(n).cloned().unwrap_or_default(),
                }
            };
            let flags: Vec<(String, String)> = names.iter().map(|n| (n.clone(), own(n))).collect();
            let disagrees = run.filter(|r| r.flags.is_some()).and_then(|r| {
                let wrong: Vec<String> = t
                    .flags
                    .iter()
                    .filter(|(n, v)| r.flag_texts.get(*n) != Some(*v))
                    .map(|(n, v)| {
                        // The record's text is untrusted: escaped for a terminal.
                        format!("{n}={} (the run has {})", v.escape_debug(), r.flag_text(n))
                    })
                    .chain(
                        names
                            .iter()
                            .filter(|n| !t.flags.contains_key(*n))
                            .map(|n| format!("{n} missing (the run has {})", r.flag_text(n))),
                    )
                    .collect();
                (!wrong.is_empty()).then(|| wrong.join(", "))
            });
            Trial {
                trial: t.trial,
                run: t.run.clone(),
                flags,
                state,
                value,
                disagrees,
            }
        })
        .collect();
    out.sort_by_key(|t| t.trial);
    out
}

/// One line for each trial whose record in sweep.json disagrees with its run's own files
/// (the report shows the run's values).
pub fn disagreements(g: &LabelRuns, s: Option<&SearchRecord>) -> Vec<String> {
    let Some(s) = s else {
        return Vec::new();
    };
    trials(g, s)
        .into_iter()
        .filter_map(|t| {
            Some(format!(
                "warning: {}: sweep.json's search trial {} (run {}) disagrees with the run's own files: {}; the report shows the run's values",
                g.label,
                t.trial,
                t.run,
                t.disagrees?
            ))
        })
        .collect()
}

/// The best value after each trial (None until one completed).
pub fn best_so_far(trials: &[Trial], m: Option<&Metric>) -> Vec<Option<f64>> {
    let loss = |v: f64| m.map_or(v, |m| m.as_loss(v));
    let mut best: Option<f64> = None;
    trials
        .iter()
        .map(|t| {
            if let Some(v) = t.value {
                if best.is_none_or(|b| loss(v) < loss(b)) {
                    best = Some(v);
                }
            }
            best
        })
        .collect()
}

/// The markdown for the Search section (with its picture written to `out`).
pub fn markdown(
    g: &LabelRuns,
    s: &SearchRecord,
    out: &Path,
    images: bool,
) -> anyhow::Result<String> {
    let m = Metric::named(&s.metric);
    let mut t = trials(g, s);
    let best = best_so_far(&t, m);
    // Texts from the record, escaped once for markdown (the picture takes them as written).
    for x in &mut t {
        for (k, v) in &mut x.flags {
            (*k, *v) = (super::md::text(k), super::md::text(v));
        }
    }
    let (sampler, metric) = (super::md::text(&s.sampler), super::md::text(&s.metric));
    let direction = m.map_or("lower is better", |m| m.direction_text());
    let mut md = format!(
        "A {sampler} search on {metric} ({direction}): {} of {} trials decided, at most {} in flight, the first {} random, seed {}. Trial k's point follows from the sweep file and the results of trials 0 … k−{} only, so the same file gives the same trials whatever the parallelism.\n\n",
        t.len(),
        s.trials_planned,
        s.parallel,
        s.startup,
        s.seed,
        s.parallel
    );
    let winner = t.iter().filter(|x| x.value.is_some()).min_by(|a, b| {
        let loss = |v: f64| m.map_or(v, |m| m.as_loss(v));
        loss(a.value.unwrap()).total_cmp(&loss(b.value.unwrap()))
    });
    if let Some(w) = winner {
        let flags: Vec<String> = w.flags.iter().map(|(k, v)| format!("{k}={v}")).collect();
        md.push_str(&format!(
            "Best: trial {} (run {}), {metric} {:.6}, with {}.\n\n",
            w.trial,
            super::md::code(&w.run),
            w.value.unwrap_or(f64::NAN),
            flags.join(" ")
        ));
    }
    let names: Vec<&str> = t
        .first()
        .map(|x| x.flags.iter().map(|(k, _)| k.as_str()).collect())
        .unwrap_or_default();
    // A multi-fidelity search says which rung each model-based point was fitted on.
    let fitted: std::collections::HashMap<usize, i64> = s
        .trials
        .iter()
        .filter_map(|e| Some((e.trial, e.fitted_on?)))
        .collect();
    let mut table = Table::new()
        .column("trial", Align::Right)
        .columns(["id", "state"], Align::Left)
        .columns(names, Align::Left)
        .columns([metric.as_str(), "best so far"], Align::Right);
    if !fitted.is_empty() {
        table = table.column("fitted on epoch", Align::Right);
        md.push_str("Trials decided by the model with too few completed trials were fitted on the values at the highest rung with enough of them (its epoch in the last column), as BOHB does.\n\n");
    }
    for (x, b) in t.iter().zip(&best) {
        let num = |v: Option<f64>| v.map_or(String::new(), super::format::fixed6);
        let mut cells = vec![
            x.trial.to_string(),
            super::md::code(&x.run),
            x.state.to_string(),
        ];
        cells.extend(x.flags.iter().map(|(_, v)| v.clone()));
        cells.extend([num(x.value), num(*b)]);
        if !fitted.is_empty() {
            cells.push(
                fitted
                    .get(&x.trial)
                    .map_or(String::new(), |e| e.to_string()),
            );
        }
        table.row(cells);
    }
    md.push_str(&table.markdown());
    md.push('\n');
    if images {
        let file = "search_best_so_far.png";
        if curve(&best, &s.metric, &s.sampler, &out.join(file))? {
            md.push_str(&format!(
                "### Best {metric} so far against the trial number\n\n![best so far]({file})\n\n"
            ));
        }
    }
    Ok(md)
}

/// `report --format json`'s `search`.
pub fn json(g: &LabelRuns, s: Option<&SearchRecord>) -> serde_json::Value {
    let Some(s) = s else {
        return serde_json::Value::Null;
    };
    let fitted: std::collections::HashMap<usize, i64> = s
        .trials
        .iter()
        .filter_map(|e| Some((e.trial, e.fitted_on?)))
        .collect();
    let trials: Vec<serde_json::Value> = trials(g, s)
        .into_iter()
        .map(|t| {
            serde_json::json!({
                "fitted_on": fitted.get(&t.trial),
                "trial": t.trial,
                "run": t.run,
                "flags": t
                    .flags
                    .into_iter()
                    .map(|(k, v)| (k, serde_json::Value::String(v)))
                    .collect::<serde_json::Map<_, _>>(),
                "value": t.value,
                "state": t.state,
                "record_disagrees": t.disagrees,
            })
        })
        .collect();
    serde_json::json!({
        "sampler": s.sampler,
        "metric": s.metric,
        "trials_planned": s.trials_planned,
        "parallel": s.parallel,
        "startup": s.startup,
        "seed": s.seed,
        "trials": trials,
    })
}

/// The best value so far against the trial number; whether a picture was written.
fn curve(best: &[Option<f64>], metric: &str, sampler: &str, path: &Path) -> anyhow::Result<bool> {
    let pts: Vec<(f64, f64)> = best
        .iter()
        .enumerate()
        .filter_map(|(k, b)| Some((k as f64, (*b)?)))
        .filter(|(_, y)| y.is_finite())
        .collect();
    if pts.len() < 2 {
        return Ok(false);
    }
    figure(path, |canvas| {
        let (y0, y1) = pts
            .iter()
            .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.1), b.max(p.1)));
        let pad = (y1 - y0).max(1e-9) * 0.08;
        let x1 = best.len().max(2) as f64 - 1.0;
        let root = canvas.area((640, 420));
        root.fill(&WHITE).map_err(draw_err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!("best {metric} so far ({sampler} search)"),
                ("sans-serif", 18),
            )
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(0.0..x1, y0 - pad..y1 + pad)
            .map_err(draw_err)?;
        chart
            .configure_mesh()
            .x_desc("trial")
            .y_desc(metric)
            .draw()
            .map_err(draw_err)?;
        let color = RGBColor(31, 119, 180);
        chart
            .draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2)))
            .map_err(draw_err)?;
        chart
            .draw_series(pts.iter().map(|p| Circle::new(*p, 3, color.filled())))
            .map_err(draw_err)?;
        root.present().map_err(draw_err)?;
        Ok(true)
    })
}
