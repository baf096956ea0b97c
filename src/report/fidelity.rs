//! What early stopping did to a sweep, in its Search section: the epochs spent against what
//! running every run to its end would have cost, and the learning curves of every run (the
//! watched metric against the epoch), completed runs apart from stopped ones, with each stop
//! decision's threshold at its rung. Everything comes from the runs' scalars.csv and the
//! sweep's record.

use super::charts::{draw_err, figure};
use super::ReportRun;
use crate::store::sweep_file::SweepRecord;
use crate::track::csv::EpochRow;
use plotters::prelude::*;
use std::path::Path;

/// One run's curve: (epoch, value) and whether it was stopped.
struct Curve {
    points: Vec<(f64, f64)>,
    stopped: bool,
}

/// The budget line, and the learning curves' picture when `images` (written to `out`), from
/// each run's scalar rows.
pub fn markdown(
    runs: &[(&ReportRun, &[EpochRow])],
    record: &SweepRecord,
    metric: &str,
    out: &Path,
    images: bool,
) -> anyhow::Result<String> {
    let mut curves = Vec::new();
    let (mut spent, mut full) = (0i64, 0i64);
    for (r, rows) in runs {
        spent += rows.last().map_or(0, |row| row.epoch.max(0));
        full += r.flags.as_ref().map_or(0, |f| f.epochs().max(0));
        curves.push(Curve {
            points: rows
                .iter()
                .filter_map(|row| Some((row.epoch as f64, row.metric(metric)?)))
                .filter(|(_, v)| v.is_finite())
                .collect(),
            stopped: r.entry.info.status.to_string() == "stopped",
        });
    }
    let mut md = String::new();
    if full > 0 {
        md.push_str(&format!(
            "Budget: {spent} epochs trained, {:.0}% of the {full} that running every run to its end would have cost.\n\n",
            100.0 * spent as f64 / full as f64
        ));
    }
    let thresholds: Vec<(f64, f64)> = record
        .decisions
        .iter()
        .filter(|d| d.threshold.is_finite())
        .map(|d| (d.epoch as f64, d.threshold))
        .collect();
    let file = "search_curves.png";
    if images && draw(&curves, &thresholds, metric, &out.join(file))? {
        md.push_str(&format!(
            "### Learning curves\n\n`{metric}` of every run against the epoch: runs that ran to their end in blue, stopped runs in grey (up to where they ended), each stop decision's threshold at its epoch as a red cross.\n\n![learning curves]({file})\n\n"
        ));
    }
    Ok(md)
}

/// Whether a picture was drawn (at least one curve of two points).
fn draw(
    curves: &[Curve],
    thresholds: &[(f64, f64)],
    metric: &str,
    path: &Path,
) -> anyhow::Result<bool> {
    let all: Vec<(f64, f64)> = curves
        .iter()
        .flat_map(|c| c.points.iter().copied())
        .chain(thresholds.iter().copied())
        .collect();
    if !curves.iter().any(|c| c.points.len() >= 2) {
        return Ok(false);
    }
    let fold = |f: fn(&(f64, f64)) -> f64| {
        all.iter()
            .map(f)
            .fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(v), b.max(v)))
    };
    let (x0, x1) = fold(|p| p.0);
    let (y0, y1) = fold(|p| p.1);
    let pad = (y1 - y0).max(1e-9) * 0.08;
    figure(path, |canvas| {
        let root = canvas.area((720, 440));
        root.fill(&WHITE).map_err(draw_err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(format!("{metric} per epoch"), ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(x0.min(x1 - 1.0)..x1, y0 - pad..y1 + pad)
            .map_err(draw_err)?;
        chart
            .configure_mesh()
            .x_desc("epoch")
            .y_desc(metric)
            .draw()
            .map_err(draw_err)?;
        let (blue, grey, red) = (RGBColor(31, 119, 180), RGBColor(160, 160, 160), RED);
        // Stopped runs first, so that the runs that went on are drawn over them.
        for stopped in [true, false] {
            for c in curves.iter().filter(|c| c.stopped == stopped) {
                let color = if stopped { grey } else { blue };
                chart
                    .draw_series(LineSeries::new(
                        c.points.iter().copied(),
                        color.stroke_width(2),
                    ))
                    .map_err(draw_err)?;
            }
        }
        chart
            .draw_series(
                thresholds
                    .iter()
                    .map(|p| Cross::new(*p, 6, red.stroke_width(2))),
            )
            .map_err(draw_err)?;
        root.present().map_err(draw_err)?;
        Ok(true)
    })
}
