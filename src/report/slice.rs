//! A searched flag against the metric, read like Optuna's slice plot: one point per run,
//! coloured by its trial number (dark purple first, yellow last), its marker by the value of
//! a categorical flag when the sweep varies one, and a log axis labelled at every decade (at 1,
//! 2 and 5 times each power of ten when it spans less than two decades).

use super::charts::{draw_err, figure};
use plotters::coord::ranged1d::{Ranged, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use std::path::Path;

/// One run: the flag's value, the metric's, its trial number, its category (an index into
/// [`Slice::categories`]' values).
pub struct Point {
    pub x: f64,
    pub y: f64,
    pub trial: usize,
    pub category: usize,
}

/// What the chart shows.
pub struct Slice<'a> {
    pub flag: &'a str,
    pub metric: &'a str,
    pub log: bool,
    /// The categorical flag that picks the markers and its values (at most [`MARKERS`]).
    pub categories: Option<(&'a str, &'a [String])>,
}

/// How many categories have a marker of their own.
pub const MARKERS: usize = 4;

/// Draws the chart to `path`; false (nothing written) with fewer than 2 points.
pub fn draw(points: &[Point], s: &Slice, path: &Path) -> anyhow::Result<bool> {
    let pts: Vec<&Point> = points
        .iter()
        .filter(|p| p.x.is_finite() && p.y.is_finite() && (!s.log || p.x > 0.0))
        .collect();
    if pts.len() < 2 {
        return Ok(false);
    }
    let (mut x0, mut x1) = pts
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.x), b.max(p.x)));
    let (y0, y1) = pts
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.y), b.max(p.y)));
    if x0 == x1 {
        (x0, x1) = (x0 * 0.9 - 1e-12, x1 * 1.1 + 1e-12);
    }
    let pad = (y1 - y0).max(1e-9) * 0.08;
    let ys = y0 - pad..y1 + pad;
    let last = pts.iter().map(|p| p.trial).max().unwrap_or(0);
    figure(path, |canvas| {
        let root = canvas.area((640, 420));
        root.fill(&WHITE).map_err(draw_err)?;
        let caption = format!(
            "{} against {}{}: colour = trial (0 dark, {last} yellow)",
            s.metric,
            s.flag,
            if s.log { " (log)" } else { "" }
        );
        let mut builder = ChartBuilder::on(&root);
        builder
            .caption(caption, ("sans-serif", 16))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70);
        if s.log {
            let (lo, hi) = (x0 / 1.15, x1 * 1.15);
            let xs = (lo..hi).log_scale().with_key_points(log_ticks(lo, hi));
            let chart = builder.build_cartesian_2d(xs, ys).map_err(draw_err)?;
            points_on(chart, &pts, s, last, &|v| format!("{v:.0e}"))?;
        } else {
            let xpad = (x1 - x0) * 0.05;
            let chart = builder
                .build_cartesian_2d(x0 - xpad..x1 + xpad, ys)
                .map_err(draw_err)?;
            points_on(chart, &pts, s, last, &|v| format!("{v}"))?;
        }
        root.present().map_err(draw_err)?;
        Ok(true)
    })
}

/// The axes, the points and the markers' legend on `chart`, whatever its x axis.
fn points_on<'a, DB, X>(
    mut chart: ChartContext<'a, DB, Cartesian2d<X, RangedCoordf64>>,
    pts: &[&Point],
    s: &Slice,
    last: usize,
    x_label: &dyn Fn(&f64) -> String,
) -> anyhow::Result<()>
where
    DB: DrawingBackend + 'a,
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    chart
        .configure_mesh()
        .x_desc(s.flag)
        .y_desc(s.metric)
        .x_label_formatter(x_label)
        .light_line_style(WHITE)
        .draw()
        .map_err(draw_err)?;
    let kinds = s.categories.map_or(1, |(_, v)| v.len().min(MARKERS));
    let grey = RGBColor(90, 90, 90).filled();
    for kind in 0..kinds {
        let mine: Vec<(f64, f64, ShapeStyle)> = pts
            .iter()
            .filter(|p| p.category.min(MARKERS - 1) == kind)
            .map(|p| (p.x, p.y, trial_colour(p.trial, last).filled()))
            .collect();
        // One series per marker (circle, triangle, square, cross), each of its own type.
        let drawn = match kind {
            0 => chart
                .draw_series(mine.iter().map(|&(x, y, c)| Circle::new((x, y), 5, c)))
                .map(|d| d.legend(move |at| Circle::new(at, 5, grey))),
            1 => chart
                .draw_series(
                    mine.iter()
                        .map(|&(x, y, c)| TriangleMarker::new((x, y), 6, c)),
                )
                .map(|d| d.legend(move |at| TriangleMarker::new(at, 6, grey))),
            2 => chart
                .draw_series(mine.iter().map(|&(x, y, c)| {
                    EmptyElement::at((x, y)) + Rectangle::new([(-4, -4), (4, 4)], c)
                }))
                .map(|d| {
                    d.legend(move |at| {
                        EmptyElement::at(at) + Rectangle::new([(-4, -4), (4, 4)], grey)
                    })
                }),
            _ => chart
                .draw_series(
                    mine.iter()
                        .map(|&(x, y, c)| Cross::new((x, y), 5, c.color.stroke_width(2))),
                )
                .map(|d| d.legend(move |at| Cross::new(at, 5, grey.color.stroke_width(2)))),
        }
        .map_err(draw_err)?;
        if let Some((name, values)) = s.categories {
            let more = if kind + 1 == MARKERS && values.len() > MARKERS {
                " and the rest"
            } else {
                ""
            };
            drawn.label(format!("{name} = {}{more}", values[kind]));
        }
    }
    if s.categories.is_some() {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 13))
            .draw()
            .map_err(draw_err)?;
    }
    Ok(())
}

/// Viridis (5 stops, linear between them) at trial `t` of `0..=last`.
pub fn trial_colour(t: usize, last: usize) -> RGBColor {
    const STOPS: [(f64, f64, f64); 5] = [
        (68.0, 1.0, 84.0),
        (59.0, 82.0, 139.0),
        (33.0, 145.0, 140.0),
        (94.0, 201.0, 98.0),
        (253.0, 231.0, 37.0),
    ];
    let u = if last == 0 {
        0.0
    } else {
        t.min(last) as f64 / last as f64
    } * 4.0;
    let i = (u.floor() as usize).min(3);
    let f = u - i as f64;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    let mix = |x: f64, y: f64| (x + (y - x) * f).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// A log axis' labels between `lo` and `hi`: every power of ten, or 1, 2 and 5 times each
/// when fewer than 2 powers fall in the range (and the ends when none of those do).
pub fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let powers = |steps: &[f64]| -> Vec<f64> {
        let (a, b) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
        (a..=b)
            .flat_map(|e| steps.iter().map(move |m| m * 10f64.powi(e)))
            .filter(|v| *v >= lo * (1.0 - 1e-12) && *v <= hi * (1.0 + 1e-12))
            .collect()
    };
    let decades = powers(&[1.0]);
    if decades.len() >= 2 {
        return decades;
    }
    let finer = powers(&[1.0, 2.0, 5.0]);
    if finer.len() >= 2 {
        finer
    } else {
        vec![lo, hi]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_ticks_every_decade_or_finer() {
        assert_eq!(log_ticks(8e-5, 2e-2), [1e-4, 1e-3, 1e-2]);
        let t = log_ticks(1.5e-3, 8e-3);
        assert_eq!(t.len(), 2, "{t:?}");
        assert!(
            (t[0] - 2e-3).abs() < 1e-15 && (t[1] - 5e-3).abs() < 1e-15,
            "{t:?}"
        );
        assert_eq!(log_ticks(3.1, 3.9), [3.1, 3.9]);
        assert_eq!(trial_colour(0, 9), RGBColor(68, 1, 84));
        assert_eq!(trial_colour(9, 9), RGBColor(253, 231, 37));
        assert_eq!(trial_colour(0, 0), RGBColor(68, 1, 84));
    }
}
