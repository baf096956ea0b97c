//! The report's pictures as one list ([`Figure`]: title, file, caption and drawing together):
//! samples per run, the best run's samples beside the data, loss curves, a bar chart per
//! sample metric, and the R original's explanatory figures (forward diffusion, reverse
//! diffusion, the sinusoidal embedding). Sampling (libtorch) is here; charts are drawn by
//! [`super::charts`].

use super::rows::LABEL_H;
use super::{charts, LabelRuns, ReportRun};
use crate::model::DiffusionModel;
use crate::store::RunDir;
use crate::track::grid;
use anyhow::Context;
use std::path::Path;
use tch::{Device, Kind, Tensor};

/// (title, file, caption) of each picture.
pub type Picture = (String, String, String);

const SAMPLES: i64 = 8;
const SAMPLE_STEPS: i64 = 20;
const SAMPLE_SEED: i64 = 1;
/// The best run's picture: this many samples, 6 per row, beside as many validation images.
const BEST_SAMPLES: i64 = 36;

fn has_weights(r: &ReportRun) -> bool {
    RunDir::new(&r.entry.dir).sampling_weights().is_some()
}

/// How a figure is drawn into its file.
type Draw<'a> = Box<dyn FnOnce(&Path) -> anyhow::Result<()> + 'a>;

/// One picture of the report: its title, file and caption, and how it is drawn.
struct Figure<'a> {
    title: String,
    file: String,
    caption: String,
    draw: Draw<'a>,
}

impl<'a> Figure<'a> {
    fn new(
        title: impl Into<String>,
        file: impl Into<String>,
        caption: impl Into<String>,
        draw: impl FnOnce(&Path) -> anyhow::Result<()> + 'a,
    ) -> Figure<'a> {
        Figure {
            title: title.into(),
            file: file.into(),
            caption: caption.into(),
            draw: Box::new(draw),
        }
    }
}

/// Makes (or reuses, when `fingerprint` matches the last report) every picture.
pub fn make_all(
    g: &LabelRuns,
    order: &[String],
    out: &Path,
    fingerprint: &str,
    device: Device,
) -> anyhow::Result<Vec<Picture>> {
    let best = best_run(g, order, device);
    let figures = list(g, order, best.as_ref(), device);
    let pictures: Vec<Picture> = figures
        .iter()
        .map(|f| (f.title.clone(), f.file.clone(), f.caption.clone()))
        .collect();
    let stamp = out.join(".fingerprint");
    let all_there = figures.iter().all(|f| out.join(&f.file).exists());
    if all_there && fs_err::read_to_string(&stamp).ok().as_deref() == Some(fingerprint) {
        return Ok(pictures);
    }
    for f in figures {
        (f.draw)(&out.join(&f.file))?;
    }
    crate::files::write_atomic(&stamp, fingerprint.as_bytes())?;
    Ok(pictures)
}

/// The report's figures, in page order, each with its caption and drawing together.
fn list<'a>(
    g: &'a LabelRuns,
    order: &'a [String],
    best: Option<&'a (&'a ReportRun, DiffusionModel)>,
    device: Device,
) -> Vec<Figure<'a>> {
    let mut figures = Vec::new();
    let with_weights: Vec<&ReportRun> = order
        .iter()
        .map(|id| g.run(id))
        .filter(|r| has_weights(r))
        .collect();
    if !with_weights.is_empty() {
        figures.push(Figure::new(
            "Samples per run",
            "samples.png",
            format!("Each row: {SAMPLES} samples ({SAMPLE_STEPS} diffusion steps, seed {SAMPLE_SEED}) of the run named above it, in the table's order (runs without weights, or whose weights do not load, are left out); small images are scaled up by whole factors (nearest neighbour)."),
            move |path| {
                let labelled: Vec<(&ReportRun, String)> = with_weights
                    .iter()
                    .map(|r| (*r, format!("{}  {}", r.entry.id, r.name(&g.varying))))
                    .collect();
                samples(&labelled, path, device)
            },
        ));
    }
    if let Some(folder) = g.runs.iter().find_map(super::rows::program_images_folder) {
        let runs: Vec<(String, Vec<std::path::PathBuf>)> = order
            .iter()
            .map(|id| g.run(id))
            .map(|r| {
                let label = format!("{}  {}", r.entry.id, r.name(&g.varying));
                (label, super::rows::program_images(r, &folder))
            })
            .filter(|(_, images)| !images.is_empty())
            .collect();
        if !runs.is_empty() {
            figures.push(Figure::new(
                "Images per run",
                "images.png",
                format!("Each row: the first {} images the program left in `{}/` of the run named above it (those directly in it, else in its last `epoch_N/`), in the table's order; each fitted into a square cell and scaled up by a whole factor (nearest neighbour).", super::rows::PER_ROW, super::md::text(&folder)),
                move |path| super::rows::program_rows(&runs, path),
            ));
        }
    }
    let program: Vec<(String, String)> = g
        .runs
        .iter()
        .find_map(|r| r.entry.info.program.as_ref())
        .map(|p| p.metrics.clone())
        .unwrap_or_default();
    if program.is_empty() {
        figures.push(Figure::new(
            "Loss curves",
            "losses.png",
            "Training loss (left) and validation noise_loss (right) per epoch, one line per run.",
            move |path| charts::losses(g, order, path),
        ));
    } else {
        let shown: Vec<(String, String)> = program.into_iter().take(3).collect();
        let text = shown
            .iter()
            .map(|(m, d)| format!("`{m}` ({d} is better)"))
            .collect::<Vec<_>>()
            .join(", ");
        figures.push(Figure::new(
            "Curves",
            "curves.png",
            format!("The program's {text} per epoch as it reported them (its own epochs, or the number of each reported step when it reports none), one line per run."),
            move |path| {
                let columns: Vec<(&str, String)> =
                    shown.iter().map(|(m, _)| (m.as_str(), m.clone())).collect();
                charts::curves(g, order, &columns, path)
            },
        ));
    }
    // One bar chart per sample metric that some run measured (kid.png, fid.png …).
    for m in crate::metrics::names::ALL.iter().copied() {
        let measured = g
            .runs
            .iter()
            .any(|r| r.entry.info.metrics.contains_key(m.name));
        if m.from_samples() && measured {
            figures.push(Figure::new(
                m.name,
                format!("{}.png", m.name),
                format!(
                    "Final {} of each run ({}): {}.",
                    m.name,
                    m.direction_text(),
                    m.description
                ),
                move |path| charts::metric_bars(g, order, m, path),
            ));
        }
    }
    if let Some((b, model)) = best {
        let name = super::md::text(&b.name(&g.varying));
        figures.push(Figure::new(
            "Best run against the data",
            "best.png",
            format!(
                "{BEST_SAMPLES} samples ({SAMPLE_STEPS} diffusion steps, seed {SAMPLE_SEED}) of the best run `{}` ({name}; lowest {}), {}",
                b.entry.id,
                super::headline(g),
                if RunDir::new(&b.entry.dir).valid_grid().exists() {
                    "beside the first validation images it was measured against (up to 36), at the same scale."
                } else {
                    "alone: the run was made before runs wrote their validation images (valid.png)."
                }
            ),
            move |path| best_against_data(b, model, path),
        ));
        figures.push(Figure::new(
            "Forward diffusion",
            "forward.png",
            "One validation image at 11 diffusion times from t = 0 to 1: linear schedule (top), cosine schedule (bottom).",
            move |path| forward_diffusion(b, model, path, device),
        ));
        figures.push(Figure::new(
            "Reverse diffusion",
            "reverse.png",
            format!("Forward diffusion (top) and reverse diffusion in 10 steps (bottom) by the best run `{}` ({name}), from the same final noise.", b.entry.id),
            move |path| reverse_diffusion(b, model, path, device),
        ));
    }
    let builtin = g.runs.iter().any(|r| r.entry.info.program.is_none());
    if !builtin {
        return figures;
    }
    figures.push(Figure::new(
        "Sinusoidal embedding",
        "embedding.png",
        "The 32-dimensional embedding of the noise variance for 100 diffusion times (rows, t = 0 at the top), cosine schedule; values mapped from [-1, 1].",
        embedding,
    ));
    figures
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
        .map(|id| g.run(id))
        .filter(|r| {
            RunDir::new(&r.entry.dir).weights().exists()
                && r.flags.as_ref().is_some_and(|f| f.builtin().is_some())
        })
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

/// One row per run of 8 samples, each under a band naming the run (its id and varying
/// flags), scaled up by a whole factor to at least 64 px per image (nearest neighbour);
/// each run's row is cached in `.cache/` by run and weights.
fn samples(runs: &[(&ReportRun, String)], path: &Path, device: Device) -> anyhow::Result<()> {
    let cache = path.parent().unwrap_or(Path::new(".")).join(".cache");
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
    super::rows::stack(&rows, path)
}

/// [`BEST_SAMPLES`] samples of `b` (left) beside its run's `valid.png` (right; left out for
/// runs from before it was written), each scaled up to a readable size, under labels.
fn best_against_data(b: &ReportRun, model: &DiffusionModel, path: &Path) -> anyhow::Result<()> {
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
    charts::save_labelled(canvas, &labels, path)
}

fn save_rows(rows: &Tensor, cols: i64, path: &Path) -> anyhow::Result<()> {
    grid::save_readable_grid(rows, cols, path)
}

/// The run's example image (normalised), 11 times from 0 to 1, and seeded noise: what the
/// diffusion figures show.
fn diffusion_inputs(
    b: &ReportRun,
    model: &DiffusionModel,
    device: Device,
) -> anyhow::Result<(Tensor, Tensor, Tensor)> {
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
    Ok((x, times, noise))
}

/// Forward diffusion of the example image: linear schedule (top), cosine (bottom).
fn forward_diffusion(
    b: &ReportRun,
    model: &DiffusionModel,
    path: &Path,
    device: Device,
) -> anyhow::Result<()> {
    use crate::flags::ScheduleType;
    use crate::model::schedule::Schedule;
    let flags = b
        .flags
        .as_ref()
        .and_then(|f| f.builtin())
        .expect("the best run is a built-in run with flags");
    let (x, times, noise) = diffusion_inputs(b, model, device)?;
    let mut rows = Vec::new();
    for kind in [ScheduleType::Linear, ScheduleType::Cosine] {
        let s = Schedule::new(kind, flags.min_signal_rate, flags.max_signal_rate, device);
        let (sig, noi) = s.rates(&times);
        rows.push(model.normalizer.denormalize(&(&sig * &x + &noi * &noise)));
    }
    save_rows(&Tensor::cat(&rows, 0), 11, path)
}

/// Forward diffusion (top) and reverse diffusion in 10 steps by `b` (bottom), from the same
/// final noise: the R original's figure, with the run's own schedule.
fn reverse_diffusion(
    b: &ReportRun,
    model: &DiffusionModel,
    path: &Path,
    device: Device,
) -> anyhow::Result<()> {
    let (x, times, noise) = diffusion_inputs(b, model, device)?;
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
    save_rows(&both, 11, path)
}

/// Heatmap of the sinusoidal embedding of noise^2 (cosine schedule) for 100 times.
fn embedding(path: &Path) -> anyhow::Result<()> {
    use crate::model::embedding::SinusoidalEmbedding;
    use crate::model::schedule::Schedule;
    let schedule = Schedule::new(crate::flags::ScheduleType::Cosine, 0.02, 0.95, Device::Cpu);
    let times = Tensor::linspace(0.0, 1.0, 100, (Kind::Float, Device::Cpu)).reshape([100, 1, 1, 1]);
    let (_, noise) = schedule.rates(&times);
    let emb = SinusoidalEmbedding::new(32, Device::Cpu)
        .forward(&noise.square())
        .reshape([100, 32]);
    let values: Vec<f32> = Vec::<f32>::try_from(&emb.contiguous().reshape([-1]))?;
    charts::embedding_heatmap(&values, path)
}
