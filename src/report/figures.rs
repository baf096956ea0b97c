//! The report's pictures: samples per run, the best run's samples beside the data, loss
//! curves, KID bars, and the R original's explanatory figures (forward diffusion, reverse
//! diffusion, the sinusoidal embedding).

use super::{LabelRuns, ReportRun};
use crate::metrics::names::Metric;
use crate::model::DiffusionModel;
use crate::store::RunDir;
use crate::track::grid;
use anyhow::Context;
use plotters::coord::Shift;
use plotters::prelude::*;
use polars::prelude::*;
use std::path::Path;
use tch::{Device, Kind, Tensor};

/// (title, file, caption) of each picture.
pub type Picture = (String, String, String);

const FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");
const SAMPLES: i64 = 8;
const SAMPLE_STEPS: i64 = 20;
const SAMPLE_SEED: i64 = 1;
/// The best run's picture: this many samples, 6 per row, beside as many validation images.
const BEST_SAMPLES: i64 = 36;

fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

fn run_of<'a>(g: &'a LabelRuns, id: &str) -> &'a ReportRun {
    g.runs
        .iter()
        .find(|r| r.entry.id == id)
        .expect("run of the table")
}

fn run_name(r: &ReportRun, varying: &[String]) -> String {
    if varying.is_empty() {
        return r.entry.id.clone();
    }
    varying
        .iter()
        .map(|v| format!("{v}={}", r.flag_text(v)))
        .collect::<Vec<_>>()
        .join(" ")
}

fn has_weights(r: &ReportRun) -> bool {
    RunDir::new(&r.entry.dir).sampling_weights().is_some()
}

/// Makes (or reuses, when `fingerprint` matches the last report) every picture.
pub fn make_all(
    g: &LabelRuns,
    order: &[String],
    out: &Path,
    fingerprint: &str,
    device: Device,
) -> anyhow::Result<Vec<Picture>> {
    register_font();
    let stamp = out.join(".fingerprint");
    let mut pictures: Vec<Picture> = Vec::new();
    let with_weights: Vec<&ReportRun> = order
        .iter()
        .map(|id| run_of(g, id))
        .filter(|r| has_weights(r))
        .collect();
    if !with_weights.is_empty() {
        pictures.push((
            "Samples per run".into(),
            "samples.png".into(),
            format!("Each row: {SAMPLES} samples ({SAMPLE_STEPS} diffusion steps, seed {SAMPLE_SEED}) of the run named above it, in the table's order (runs without weights, or whose weights do not load, are left out); small images are scaled up by whole factors (nearest neighbour)."),
        ));
    }
    pictures.push((
        "Loss curves".into(),
        "losses.png".into(),
        "Training loss (left) and validation noise_loss (right) per epoch, one line per run."
            .into(),
    ));
    // One bar chart per sample metric that some run measured (kid.png, fid.png …).
    let measured: Vec<&'static Metric> = crate::metrics::names::ALL
        .iter()
        .copied()
        .filter(|m| m.from_samples())
        .filter(|m| {
            g.runs
                .iter()
                .any(|r| r.entry.info.metrics.contains_key(m.name))
        })
        .collect();
    for m in &measured {
        pictures.push((
            m.name.into(),
            format!("{}.png", m.name),
            format!(
                "Final {} of each run ({}): {}.",
                m.name,
                m.direction_text(),
                m.description
            ),
        ));
    }
    let best = best_run(g, order, device);
    if let Some((b, _)) = &best {
        pictures.push((
            "Best run against the data".into(),
            "best.png".into(),
            format!(
                "{BEST_SAMPLES} samples ({SAMPLE_STEPS} diffusion steps, seed {SAMPLE_SEED}) of the best run `{}` ({}; lowest {}), {}",
                b.entry.id,
                super::md::text(&run_name(b, &g.varying)),
                super::headline(g),
                if RunDir::new(&b.entry.dir).valid_grid().exists() {
                    "beside the first validation images it was measured against (up to 36), at the same scale."
                } else {
                    "alone: the run was made before runs wrote their validation images (valid.png)."
                }
            ),
        ));
        pictures.push((
            "Forward diffusion".into(),
            "forward.png".into(),
            "One validation image at 11 diffusion times from t = 0 to 1: linear schedule (top), cosine schedule (bottom).".into(),
        ));
        pictures.push((
            "Reverse diffusion".into(),
            "reverse.png".into(),
            format!("Forward diffusion (top) and reverse diffusion in 10 steps (bottom) by the best run `{}` ({}), from the same final noise.", b.entry.id, super::md::text(&run_name(b, &g.varying))),
        ));
    }
    pictures.push((
        "Sinusoidal embedding".into(),
        "embedding.png".into(),
        "The 32-dimensional embedding of the noise variance for 100 diffusion times (rows, t = 0 at the top), cosine schedule; values mapped from [-1, 1].".into(),
    ));
    let all_there = pictures.iter().all(|(_, f, _)| out.join(f).exists());
    if all_there && fs_err::read_to_string(&stamp).ok().as_deref() == Some(fingerprint) {
        return Ok(pictures);
    }
    if !with_weights.is_empty() {
        let labelled: Vec<(&ReportRun, String)> = with_weights
            .iter()
            .map(|r| (*r, format!("{}  {}", r.entry.id, run_name(r, &g.varying))))
            .collect();
        samples(&labelled, out, device)?;
    }
    losses(g, order, &out.join("losses.png"))?;
    for m in &measured {
        metric_bars(g, order, m, &out.join(format!("{}.png", m.name)))?;
    }
    if let Some((b, model)) = &best {
        best_against_data(b, model, out)?;
        diffusion_figures(b, model, out, device)?;
    }
    embedding(&out.join("embedding.png"))?;
    crate::files::write_atomic(&stamp, fingerprint.as_bytes())?;
    Ok(pictures)
}

/// The completed run with weights and the best value of the sweep's headline metric
/// ([`super::headline`]; runs without it are not ranked), with its model; a run whose
/// weights do not load is named on stderr and the next one taken.
fn best_run<'a>(
    g: &'a LabelRuns,
    order: &[String],
    device: Device,
) -> Option<(&'a ReportRun, DiffusionModel)> {
    let mut candidates: Vec<&ReportRun> = order
        .iter()
        .map(|id| run_of(g, id))
        .filter(|r| RunDir::new(&r.entry.dir).weights().exists() && r.flags.is_some())
        .collect();
    let metric = super::headline(g);
    candidates.retain(|r| r.entry.info.metrics.contains_key(metric));
    let key = |r: &&ReportRun| r.entry.info.metrics[metric];
    candidates.sort_by(|a, b| key(a).total_cmp(&key(b)));
    candidates
        .into_iter()
        .find_map(|r| model_of(r, device).map(|m| (r, m)))
}

/// The run's model, or None (named on stderr: the report goes on without its pictures)
/// when its weights do not load.
fn model_of(r: &ReportRun, device: Device) -> Option<DiffusionModel> {
    match crate::model::from_run::load_for_sampling(&RunDir::new(&r.entry.dir), device) {
        Ok((_, model)) => Some(model),
        Err(e) => {
            eprintln!(
                "warning: {}: the weights do not load, the run's samples are left out of the report: {e:#}",
                r.entry.dir.display()
            );
            None
        }
    }
}

/// Height of the band above each row of samples that names its run.
const LABEL_H: u32 = 24;

/// One row per run of 8 samples, each under a band naming the run (its id and varying
/// flags), scaled up by a whole factor to at least 64 px per image (nearest neighbour);
/// each run's row is cached in `.cache/` by run and weights.
fn samples(runs: &[(&ReportRun, String)], out: &Path, device: Device) -> anyhow::Result<()> {
    let cache = out.join(".cache");
    fs_err::create_dir_all(&cache)?;
    let mut rows: Vec<(&str, image::RgbImage)> = Vec::new();
    for (r, label) in runs {
        let weights = RunDir::new(&r.entry.dir)
            .sampling_weights()
            .expect("runs with weights only");
        let (len, t) = crate::files::file_stamp(weights.path());
        // The id is a folder's name (a loose run's may be anything): bounded as a file name.
        let id = crate::names::bounded_component(&r.entry.id);
        let file = cache.join(format!("{id}-{len}-{t}.png"));
        if !file.exists() {
            let Some(model) = model_of(r, device) else {
                continue;
            };
            let images = model.generate(SAMPLES, SAMPLE_STEPS, SAMPLE_SEED);
            grid::save_grid(&images, SAMPLES, &file)?;
        }
        let raw = image::open(&file)?.to_rgb8();
        let k = grid::readable_scale(raw.height() as i64) as u32;
        rows.push((label.as_str(), grid::upscale_rgb(&raw, k)));
    }
    let width = rows.iter().map(|(_, r)| r.width()).max().unwrap_or(1);
    let height: u32 = rows
        .iter()
        .map(|(_, r)| LABEL_H + r.height())
        .sum::<u32>()
        .max(1);
    let mut canvas = image::RgbImage::from_pixel(width, height, image::Rgb([255, 255, 255]));
    let mut y = 0;
    let mut labels: Vec<(&str, (i32, i32))> = Vec::new();
    for (label, r) in &rows {
        labels.push((label, (4, y as i32 + 4)));
        image::imageops::replace(&mut canvas, r, 0, (y + LABEL_H) as i64);
        y += LABEL_H + r.height();
    }
    save_labelled(canvas, &labels, &out.join("samples.png"))
}

/// Writes `canvas` with each text drawn at its place, atomically.
fn save_labelled(
    canvas: image::RgbImage,
    labels: &[(&str, (i32, i32))],
    path: &Path,
) -> anyhow::Result<()> {
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

/// [`BEST_SAMPLES`] samples of `b` (left) beside its run's `valid.png` (right; left out for
/// runs from before it was written), each scaled up to a readable size, under labels.
fn best_against_data(b: &ReportRun, model: &DiffusionModel, out: &Path) -> anyhow::Result<()> {
    let images = model.generate(BEST_SAMPLES, SAMPLE_STEPS, SAMPLE_SEED);
    let (w, h, raw) = grid::grid_rgb(&images, 6);
    let generated = image::RgbImage::from_raw(w, h, raw).expect("a grid");
    let real = image::open(RunDir::new(&b.entry.dir).valid_grid())
        .ok()
        .map(|i| i.to_rgb8());
    let k = grid::readable_scale(images.size()[3]) as u32;
    let mut panels = vec![("samples", grid::upscale_rgb(&generated, k))];
    if let Some(real) = &real {
        panels.push(("validation images", grid::upscale_rgb(real, k)));
    }
    const GAP: u32 = 16;
    let width = panels.iter().map(|(_, p)| p.width() + GAP).sum::<u32>() - GAP;
    let height = LABEL_H + panels.iter().map(|(_, p)| p.height()).max().unwrap_or(0);
    let mut canvas = image::RgbImage::from_pixel(width, height, image::Rgb([255, 255, 255]));
    let mut labels = Vec::new();
    let mut x = 0;
    for (label, p) in &panels {
        image::imageops::replace(&mut canvas, p, x as i64, LABEL_H as i64);
        labels.push((*label, (x as i32 + 4, 4)));
        x += p.width() + GAP;
    }
    save_labelled(canvas, &labels, &out.join("best.png"))
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
    e.iter()
        .zip(v.iter())
        .filter_map(|(a, b)| Some((a?, b?)))
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
    let mut canvas = Canvas::default();
    let value = draw(&mut canvas)?;
    let (w, h) = canvas.size;
    anyhow::ensure!(w > 0 && h > 0, "the figure {} drew nothing", path.display());
    let png = grid::rgb_png(&canvas.rgb, w, h)?;
    grid::write_png(&png, path)?;
    Ok(value)
}

/// Train loss and validation noise_loss per epoch, one line per run.
fn losses(g: &LabelRuns, order: &[String], path: &Path) -> anyhow::Result<()> {
    figure(path, |canvas| {
        // (legend, training loss, validation noise_loss) per run
        type Curves = (String, Vec<(f64, f64)>, Vec<(f64, f64)>);
        let data: Vec<Curves> = order
            .iter()
            .map(|id| {
                let r = run_of(g, id);
                let df = scalars_frame(&r.entry.dir);
                let (a, b) = df
                    .map(|d| (series_of(&d, "loss"), series_of(&d, "val_noise_loss")))
                    .unwrap_or_default();
                (run_name(r, &g.varying), a, b)
            })
            .collect();
        let legend_rows = data.len().min(24) as u32;
        let root = canvas.area((1200, 480 + 18 * legend_rows));
        root.fill(&WHITE).map_err(draw_err)?;
        let (plots, legend) = root.split_vertically(480);
        let panels = plots.split_evenly((1, 2));
        for (k, (panel, title)) in panels
            .iter()
            .zip(["training loss", "validation noise_loss"])
            .enumerate()
        {
            let series: Vec<&Vec<(f64, f64)>> = data
                .iter()
                .map(|d| if k == 0 { &d.1 } else { &d.2 })
                .collect();
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
fn metric_bars(
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
                let r = run_of(g, id);
                (
                    run_name(r, &g.varying),
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

fn save_rows(rows: &Tensor, cols: i64, path: &Path) -> anyhow::Result<()> {
    grid::save_readable_grid(rows, cols, path)
}

/// Forward diffusion of the example image (linear vs cosine) and reverse diffusion by `b`.
fn diffusion_figures(
    b: &ReportRun,
    model: &DiffusionModel,
    out: &Path,
    device: Device,
) -> anyhow::Result<()> {
    use crate::flags::ScheduleType;
    use crate::model::schedule::Schedule;
    let flags = b.flags.as_ref().unwrap();
    let example = image::open(RunDir::new(&b.entry.dir).example())
        .context("the run's example.png")?
        .to_rgb8();
    let (w, h) = example.dimensions();
    let x = Tensor::from_slice(example.as_raw())
        .reshape([1, h as i64, w as i64, 3])
        .permute([0, 3, 1, 2])
        .to_kind(Kind::Float)
        .to_device(device)
        / 255.0;
    let x = model.normalizer.normalize(&x);
    let times = Tensor::linspace(0.0, 1.0, 11, (Kind::Float, device)).reshape([11, 1, 1, 1]);
    let noise =
        crate::model::diffusion::seeded_randn(&[11, 3, h as i64, w as i64], 1).to_device(device);
    let mut rows = Vec::new();
    for kind in [ScheduleType::Linear, ScheduleType::Cosine] {
        let s = Schedule::new(kind, flags.min_signal_rate, flags.max_signal_rate, device);
        let (sig, noi) = s.rates(&times);
        rows.push(model.normalizer.denormalize(&(&sig * &x + &noi * &noise)));
    }
    save_rows(&Tensor::cat(&rows, 0), 11, &out.join("forward.png"))?;

    // Reverse: the R original's figure, with the run's own schedule.
    let (sig, noi) = model.schedule.rates(&times);
    let forward = &sig * &x + &noi * &noise;
    let net = model.eval_net();
    let reverse = tch::no_grad(|| {
        let mut imgs: Vec<Tensor> = (0..11)
            .map(|_| Tensor::zeros_like(&forward.get(0)))
            .collect();
        imgs[10] = forward.get(10);
        for i in (1..=10).rev() {
            let (s, n) = (sig.narrow(0, i, 1), noi.narrow(0, i, 1));
            let d = model.denoise(net, &imgs[i as usize].unsqueeze(0), &s, &n, false);
            let (s2, n2) = (sig.narrow(0, i - 1, 1), noi.narrow(0, i - 1, 1));
            imgs[(i - 1) as usize] = (&s2 * &d.images + &n2 * &d.noises).squeeze_dim(0);
        }
        Tensor::stack(&imgs, 0)
    });
    let both = Tensor::cat(
        &[
            model.normalizer.denormalize(&forward),
            model.normalizer.denormalize(&reverse),
        ],
        0,
    );
    save_rows(&both, 11, &out.join("reverse.png"))
}

/// Heatmap of the sinusoidal embedding of noise^2 (cosine schedule) for 100 times.
fn embedding(path: &Path) -> anyhow::Result<()> {
    figure(path, |canvas| {
        use crate::model::embedding::SinusoidalEmbedding;
        use crate::model::schedule::Schedule;
        let schedule = Schedule::new(crate::flags::ScheduleType::Cosine, 0.02, 0.95, Device::Cpu);
        let times =
            Tensor::linspace(0.0, 1.0, 100, (Kind::Float, Device::Cpu)).reshape([100, 1, 1, 1]);
        let (_, noise) = schedule.rates(&times);
        let emb = SinusoidalEmbedding::new(32, Device::Cpu)
            .forward(&noise.square())
            .reshape([100, 32]);
        let values: Vec<f32> = Vec::<f32>::try_from(&emb.contiguous().reshape([-1]))?;
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
                let values = &values;
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
        register_font();
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
