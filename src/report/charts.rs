//! The report's charts, drawn with plotters in memory and written atomically: loss curves,
//! a bar chart per sample metric, interval and forest charts, the embedding's heatmap, and
//! labels over pictures. No sampling here (that is `figures.rs`, with libtorch).

use super::LabelRuns;
use crate::metrics::names::Metric;
use crate::store::RunDir;
use crate::track::grid;
use plotters::coord::Shift;
use plotters::prelude::*;
use polars::prelude::*;
use std::path::Path;

const FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");

fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

/// Writes `canvas` with each text drawn at its place, atomically.
pub(super) fn save_labelled(
    canvas: image::RgbImage,
    labels: &[(&str, (i32, i32))],
    path: &Path,
) -> anyhow::Result<()> {
    register_font();
    let (width, height) = canvas.dimensions();
    let mut buf = canvas.into_raw();
    {
        let root = BitMapBackend::with_buffer(&mut buf, (width, height)).into_drawing_area();
        let style = TextStyle::from(("sans-serif", 15).into_font()).color(&BLACK);
        for (text, at) in labels {
            root.draw_text(text, &style, *at).map_err(draw_err)?;
        }
        root.present().map_err(draw_err)?;
    }
    let png = grid::rgb_png(&buf, width, height)?;
    grid::write_png(&png, path)
}

/// Per-epoch scalars of a run as a DataFrame (polars' CSV reader).
fn scalars_frame(dir: &Path) -> Option<DataFrame> {
    let path = RunDir::new(dir).scalars();
    CsvReadOptions::default()
        .with_has_header(true)
        .try_into_reader_with_file_path(Some(path))
        .ok()?
        .finish()
        .ok()
}

fn series_of(df: &DataFrame, col: &str) -> Vec<(f64, f64)> {
    let (Ok(e), Ok(v)) = (df.column("epoch"), df.column(col)) else {
        return Vec::new();
    };
    let (Ok(e), Ok(v)) = (e.cast(&DataType::Float64), v.cast(&DataType::Float64)) else {
        return Vec::new();
    };
    let (Ok(e), Ok(v)) = (e.f64(), v.f64()) else {
        return Vec::new();
    };
    // A value that is not a number (a program's NaN, inf) is not drawn.
    e.iter()
        .zip(v.iter())
        .filter_map(|(a, b)| Some((a?, b?)))
        .filter(|(a, b)| a.is_finite() && b.is_finite())
        .collect()
}

fn palette(i: usize) -> RGBColor {
    const C: [RGBColor; 10] = [
        RGBColor(31, 119, 180),
        RGBColor(255, 127, 14),
        RGBColor(44, 160, 44),
        RGBColor(214, 39, 40),
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
        RGBColor(227, 119, 194),
        RGBColor(127, 127, 127),
        RGBColor(188, 189, 34),
        RGBColor(23, 190, 207),
    ];
    C[i % C.len()]
}

/// A drawing error (figures are drawn in memory: a font or a layout, never a file).
pub(super) fn draw_err<E: std::fmt::Display>(e: E) -> anyhow::Error {
    anyhow::anyhow!("cannot draw the figure: {e}")
}

/// The pixels a figure is drawn on, in memory.
#[derive(Default)]
pub(super) struct Canvas {
    rgb: Vec<u8>,
    size: (u32, u32),
}

impl Canvas {
    /// A white drawing area of `size` (width, height) on this canvas.
    pub(super) fn area(&mut self, size: (u32, u32)) -> DrawingArea<BitMapBackend<'_>, Shift> {
        self.size = size;
        self.rgb = vec![255; size.0 as usize * size.1 as usize * 3];
        BitMapBackend::with_buffer(&mut self.rgb, size).into_drawing_area()
    }
}

/// Draws a figure on a [`Canvas`] with `draw`, then writes it to `path` as a PNG,
/// atomically: a failure to draw is the figure's, a failure to write names the file.
pub(super) fn figure<T>(
    path: &Path,
    draw: impl FnOnce(&mut Canvas) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    register_font();
    let mut canvas = Canvas::default();
    let value = draw(&mut canvas)?;
    let (w, h) = canvas.size;
    anyhow::ensure!(w > 0 && h > 0, "the figure {} drew nothing", path.display());
    let png = grid::rgb_png(&canvas.rgb, w, h)?;
    grid::write_png(&png, path)?;
    Ok(value)
}

/// Train loss and validation noise_loss per epoch, one line per run.
pub(super) fn losses(g: &LabelRuns, order: &[String], path: &Path) -> anyhow::Result<()> {
    curves(
        g,
        order,
        &[
            ("loss", "training loss".into()),
            ("val_noise_loss", "validation noise_loss".into()),
        ],
        path,
    )
}

/// One panel per (column of scalars.csv, title), each with one line per run against the
/// epoch (at most 3 panels side by side).
pub(super) fn curves(
    g: &LabelRuns,
    order: &[String],
    columns: &[(&str, String)],
    path: &Path,
) -> anyhow::Result<()> {
    figure(path, |canvas| {
        // (legend, one series per column) per run
        type Curves = (String, Vec<Vec<(f64, f64)>>);
        let data: Vec<Curves> = order
            .iter()
            .map(|id| {
                let r = g.run(id);
                let df = scalars_frame(&r.entry.dir);
                let series = columns
                    .iter()
                    .map(|(c, _)| df.as_ref().map(|d| series_of(d, c)).unwrap_or_default())
                    .collect();
                (r.name(&g.varying), series)
            })
            .collect();
        let legend_rows = data.len().min(24) as u32;
        let n = columns.len().clamp(1, 3);
        let root = canvas.area((600 * n as u32, 480 + 18 * legend_rows));
        root.fill(&WHITE).map_err(draw_err)?;
        let (plots, legend) = root.split_vertically(480);
        let panels = plots.split_evenly((1, n));
        for (k, (panel, (_, title))) in panels.iter().zip(columns).enumerate() {
            let title = title.as_str();
            let series: Vec<&Vec<(f64, f64)>> = data.iter().map(|d| &d.1[k]).collect();
            let pts: Vec<&(f64, f64)> = series.iter().flat_map(|s| s.iter()).collect();
            let xmax = pts.iter().map(|p| p.0).fold(1.0, f64::max);
            let ymax = pts.iter().map(|p| p.1).fold(0.0, f64::max).max(1e-6) * 1.05;
            let ymin = pts
                .iter()
                .map(|p| p.1)
                .fold(f64::INFINITY, f64::min)
                .min(ymax)
                * 0.95;
            let ymin = if ymin.is_finite() { ymin } else { 0.0 };
            let mut chart = ChartBuilder::on(panel)
                .caption(title, ("sans-serif", 20))
                .margin(12)
                .x_label_area_size(36)
                .y_label_area_size(56)
                .build_cartesian_2d(0f64..xmax, ymin..ymax)
                .map_err(draw_err)?;
            chart
                .configure_mesh()
                .x_desc("epoch")
                .label_style(("sans-serif", 13))
                .draw()
                .map_err(draw_err)?;
            for (i, s) in series.iter().enumerate() {
                chart
                    .draw_series(LineSeries::new(
                        s.iter().copied(),
                        palette(i).stroke_width(2),
                    ))
                    .map_err(draw_err)?;
            }
        }
        for (i, d) in data.iter().take(legend_rows as usize).enumerate() {
            let y = 4 + 18 * i as i32;
            legend
                .draw(&Rectangle::new(
                    [(20, y + 4), (44, y + 10)],
                    palette(i).filled(),
                ))
                .map_err(draw_err)?;
            legend
                .draw(&Text::new(d.0.clone(), (52, y), ("sans-serif", 14)))
                .map_err(draw_err)?;
        }
        root.present().map_err(draw_err)?;
        Ok(())
    })
}

/// Horizontal KID bars, in table order.
/// One bar per run (in the table's order, top down) of a final metric.
pub(super) fn metric_bars(
    g: &LabelRuns,
    order: &[String],
    metric: &Metric,
    path: &Path,
) -> anyhow::Result<()> {
    figure(path, |canvas| {
        // Drawn bottom-up: the order is reversed so that the table's first run is the top bar.
        let rows: Vec<(String, Option<f64>)> = order
            .iter()
            .rev()
            .map(|id| {
                let r = g.run(id);
                (
                    r.name(&g.varying),
                    r.entry.info.metrics.get(metric.name).copied(),
                )
            })
            .collect();
        let n = rows.len() as u32;
        let max = rows
            .iter()
            .filter_map(|r| r.1)
            .fold(0.0, f64::max)
            .max(1e-9)
            * 1.1;
        let min = rows.iter().filter_map(|r| r.1).fold(0.0, f64::min) * 1.1;
        // 28 px a bar; past 200 runs the chart stays 5,600 px high and bars get thinner.
        let row = if n <= 200 { 28 } else { (5600 / n).max(2) };
        let root = canvas.area((1000, 80 + row * n));
        root.fill(&WHITE).map_err(draw_err)?;
        let label_width = rows.iter().map(|r| r.0.len()).max().unwrap_or(4).min(60) as u32 * 8 + 20;
        let mut chart = ChartBuilder::on(&root)
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(label_width)
            .build_cartesian_2d(min..max, (0..rows.len()).into_segmented())
            .map_err(draw_err)?;
        let labels: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
        chart
            .configure_mesh()
            .disable_y_mesh()
            .x_desc(metric.name)
            .y_labels(rows.len())
            .y_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) => labels.get(*i).cloned().unwrap_or_default(),
                _ => String::new(),
            })
            .label_style(("sans-serif", 13))
            .draw()
            .map_err(draw_err)?;
        chart
            .draw_series(rows.iter().enumerate().filter_map(|(i, (_, v))| {
                v.map(|v| {
                    Rectangle::new(
                        [
                            (0.0, SegmentValue::Exact(i)),
                            (v, SegmentValue::Exact(i + 1)),
                        ],
                        palette(i).mix(0.8).filled(),
                    )
                })
            }))
            .map_err(draw_err)?;
        root.present().map_err(draw_err)?;
        Ok(())
    })
}

/// One row of an interval chart: a label, a value and its 95% interval (none for one sample).
pub type IntervalRow = (String, f64, Option<(f64, f64)>);

/// Horizontal rows, the first on top: bars from 0 to each value (`bars`) or a point at it, each
/// with its interval as error bars, and a line at 0 (`zero`): the per-configuration means, and
/// the forest plot of effects.
pub fn intervals(
    rows: &[IntervalRow],
    x_desc: &str,
    bars: bool,
    zero: bool,
    path: &Path,
) -> anyhow::Result<()> {
    figure(path, |canvas| {
        let rows: Vec<&IntervalRow> = rows.iter().rev().collect();
        let n = rows.len().max(1) as u32;
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for (_, v, ci) in &rows {
            let (a, b) = ci.unwrap_or((*v, *v));
            lo = lo.min(a).min(*v);
            hi = hi.max(b).max(*v);
        }
        if bars || zero {
            lo = lo.min(0.0);
            hi = hi.max(0.0);
        }
        let pad = ((hi - lo) * 0.08).max(1e-9);
        let (lo, hi) = (lo - pad, hi + pad);
        let row = if n <= 100 { 30 } else { (3000 / n).max(3) };
        let root = canvas.area((1000, 80 + row * n));
        root.fill(&WHITE).map_err(draw_err)?;
        let label_width = rows.iter().map(|r| r.0.len()).max().unwrap_or(4).min(70) as u32 * 8 + 20;
        let mut chart = ChartBuilder::on(&root)
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(label_width)
            .build_cartesian_2d(lo..hi, (0..rows.len()).into_segmented())
            .map_err(draw_err)?;
        let labels: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
        chart
            .configure_mesh()
            .disable_y_mesh()
            .x_desc(x_desc)
            .y_labels(rows.len())
            .y_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) => labels.get(*i).cloned().unwrap_or_default(),
                _ => String::new(),
            })
            .label_style(("sans-serif", 13))
            .draw()
            .map_err(draw_err)?;
        if bars {
            chart
                .draw_series(rows.iter().enumerate().map(|(i, (_, v, _))| {
                    Rectangle::new(
                        [
                            (0.0, SegmentValue::Exact(i)),
                            (*v, SegmentValue::Exact(i + 1)),
                        ],
                        palette(i).mix(0.6).filled(),
                    )
                }))
                .map_err(draw_err)?;
        }
        if zero {
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![
                        (0.0, SegmentValue::Exact(0)),
                        (0.0, SegmentValue::Exact(rows.len())),
                    ],
                    BLACK.stroke_width(1),
                )))
                .map_err(draw_err)?;
        }
        for (i, (_, v, ci)) in rows.iter().enumerate() {
            let mid = SegmentValue::CenterOf(i);
            if let Some((a, b)) = ci {
                let whisker = vec![(*a, mid.clone()), (*b, mid.clone())];
                chart
                    .draw_series(std::iter::once(PathElement::new(
                        whisker,
                        BLACK.stroke_width(2),
                    )))
                    .map_err(draw_err)?;
            }
            chart
                .draw_series(std::iter::once(Circle::new((*v, mid), 4, BLACK.filled())))
                .map_err(draw_err)?;
        }
        root.present().map_err(draw_err)?;
        Ok(())
    })
}

/// The sinusoidal embedding's heatmap: `values`, 100 rows (t = 0 at the top) of 32
/// dimensions, from blue (−1) through white to red (1).
pub fn embedding_heatmap(values: &[f32], path: &Path) -> anyhow::Result<()> {
    anyhow::ensure!(values.len() == 100 * 32, "100 rows of 32 values");
    figure(path, |canvas| {
        let root = canvas.area((520, 560));
        root.fill(&WHITE).map_err(draw_err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption("sinusoidal embedding of noise variance", ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(34)
            .y_label_area_size(44)
            .build_cartesian_2d(0f64..32f64, 1f64..0f64)
            .map_err(draw_err)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc("embedding dimension")
            .y_desc("t")
            .label_style(("sans-serif", 12))
            .draw()
            .map_err(draw_err)?;
        let color = |v: f32| {
            // diverging blue (-1) - white (0) - red (1)
            let v = v.clamp(-1.0, 1.0);
            if v < 0.0 {
                let a = -v;
                RGBColor(
                    (255.0 * (1.0 - a)) as u8,
                    (255.0 * (1.0 - 0.6 * a)) as u8,
                    255,
                )
            } else {
                RGBColor(
                    255,
                    (255.0 * (1.0 - 0.8 * v)) as u8,
                    (255.0 * (1.0 - v)) as u8,
                )
            }
        };
        chart
            .draw_series((0..100).flat_map(|r| {
                (0..32).map(move |c| {
                    let v = values[r * 32 + c];
                    let t0 = r as f64 / 100.0;
                    Rectangle::new(
                        [(c as f64, t0), (c as f64 + 1.0, t0 + 0.01)],
                        color(v).filled(),
                    )
                })
            }))
            .map_err(draw_err)?;
        root.present().map_err(draw_err)?;
        Ok(())
    })
}
