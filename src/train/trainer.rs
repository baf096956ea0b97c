//! The training loop of one attempt: data and model prepared (or restored from the last
//! checkpoint), epochs of steps with AdamW and EMA, validation and the sample metrics when
//! due, checkpoints, sample grids, and the logs (scalars.csv, TensorBoard, progress).

use super::checkpoint::{self, EpochSums, Progress};
use super::optim::AdamW;
use super::{Outcome, GRID_IMAGES, GRID_STEPS, KID_BATCH};
use crate::data::{self, to_float, ImageSet};
use crate::flags::{Flags, Loss, LossOn, Precision};
use crate::metrics::names::{Metric, Source, ALL};
use crate::model::DiffusionModel;
use crate::process::{now_rfc3339, Signal, Stop};
use crate::seeds;
use crate::store::{RunDir, RunInfo, RunProgress};
use crate::track::tensorboard::SessionStatus;
use crate::track::{csv, grid, StepRow, Tracker};
use anyhow::bail;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tch::{Device, Kind, Tensor};

/// How often a line of progress is printed within an epoch.
const PRINT_EVERY: Duration = Duration::from_secs(10);
/// How often the progress file is rewritten within an epoch.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// Metrics measured at one evaluation, each with its definition: the validation losses
/// and the sample metrics (`kid`, `fid` …), in the order of [`ALL`].
type Measured = Vec<(&'static Metric, f64)>;

/// `last` with the values of `new` in place (metric by metric), in the order of [`ALL`].
fn merge(last: &mut Measured, new: Measured) {
    for (m, v) in new {
        last.retain(|(x, _)| x.name != m.name);
        last.push((m, v));
    }
    last.sort_by_key(|(m, _)| ALL.iter().position(|x| x.name == m.name));
}

/// The measured metrics as scalars.csv's per-epoch columns.
fn columns(measured: &Measured) -> BTreeMap<String, f64> {
    measured
        .iter()
        .map(|(m, v)| (m.column.to_string(), *v))
        .collect()
}

/// Per-batch outputs, kept on the device until logged.
struct StepLosses {
    loss: Tensor,
    noise_loss: Tensor,
    image_loss: Tensor,
}

pub(super) struct Trainer {
    flags: Flags,
    tracker: Tracker,
    /// The KID network, when the run computes KID.
    inception: Option<crate::metrics::Inception>,
    data: ImageSet,
    model: DiffusionModel,
    opt: AdamW,
    progress: Progress,
    sums: EpochSums,
    steps_per_epoch: i64,
    /// The forward pass under bf16 autocast (the run's recorded precision).
    bf16: bool,
}

impl Trainer {
    pub(super) fn prepare(
        dir: &RunDir,
        flags: &Flags,
        device: Device,
        info: &mut RunInfo,
    ) -> anyhow::Result<Trainer> {
        let data = data::load(flags)?.to_device(device);
        // Load the KID network first: a missing file fails the run before any training.
        let inception = if flags.measures_samples() {
            let path = crate::metrics::features::default_network_path();
            Some(crate::metrics::Inception::load(&path, device)?)
        } else {
            None
        };
        tch::manual_seed(seeds::derive(flags.seed, seeds::INIT, 0));
        let mut model = DiffusionModel::new(flags, device);
        let params: Vec<(String, Tensor)> = model
            .vs
            .variables()
            .into_iter()
            .filter(|(_, t)| t.requires_grad())
            .collect();
        let mut opt = AdamW::new(flags.optimizer, flags.lr, flags.weight_decay, params);
        let per_epoch = data.train_len() * flags.dataset_repetitions;
        let steps_per_epoch = (per_epoch + flags.batch_size - 1) / flags.batch_size;
        let (progress, sums) =
            if let Some((p, s)) = checkpoint::load_latest(dir, &mut model, &mut opt)? {
                crate::say!(
                    "continuing {} from its checkpoint at step {} (epoch {}, batch {})",
                    dir.root.display(),
                    p.step,
                    p.epoch,
                    p.batch
                );
                (p, s)
            } else {
                (Progress::default(), EpochSums::default())
            };
        // Forget whatever an interrupted attempt logged past the checkpoint.
        let name = info.name.clone().unwrap_or_default();
        let tracker = Tracker::open(dir, flags, &name, progress.step)?;
        remove_samples_after(dir, progress.epoch)?;
        if !dir.example().exists() {
            let first = data::to_float(&data.valid.narrow(0, 0, 1));
            grid::save_grid(&first, 1, &dir.example())?;
        }
        if !dir.valid_grid().exists() {
            let n = GRID_IMAGES.min(data.valid_len());
            grid::save_grid(
                &data::to_float(&data.valid.narrow(0, 0, n)),
                6,
                &dir.valid_grid(),
            )?;
        }
        info.parameters = model.parameter_count();
        info.train_images = data.train_len();
        info.valid_images = data.valid_len();
        info.skipped_images = data.skipped.clone();
        if !data.skipped.is_empty() {
            crate::say!("skipped {} unreadable image file(s):", data.skipped.len());
            for s in &data.skipped {
                crate::say!("  {s}");
            }
        }
        info.total_steps = steps_per_epoch * flags.epochs;
        info.epoch = progress.epoch;
        info.step = progress.step;
        dir.write_info(info)?;
        Ok(Trainer {
            flags: flags.clone(),
            tracker,
            inception,
            data,
            model,
            opt,
            progress,
            sums,
            steps_per_epoch,
            bf16: info.precision == Some(Precision::Bf16),
        })
    }

    fn device(&self) -> Device {
        self.model.device()
    }

    pub(super) fn train(
        mut self,
        dir: &RunDir,
        info: &mut RunInfo,
        stop: &Stop,
    ) -> anyhow::Result<Outcome> {
        let f = self.flags.clone();
        crate::say!(
            "training {} on {}: {} parameters, {} train / {} validation images of {}x{}, {} steps per epoch, {} epochs",
            dir.root.display(),
            info.device,
            info.parameters,
            self.data.train_len(),
            self.data.valid_len(),
            f.image_size,
            f.image_size,
            self.steps_per_epoch,
            f.epochs
        );
        self.write_progress(dir, "training", None);
        self.validate_untrained(dir)?;
        let mut last = Measured::new();
        while self.progress.epoch < f.epochs {
            let epoch = self.progress.epoch + 1;
            if let Some(signal) = self.train_epoch(dir, info, stop, epoch)? {
                return self.stop(dir, info, signal);
            }
            merge(&mut last, self.end_epoch(epoch)?);
            self.progress.epoch = epoch;
            self.progress.batch = 0;
            // The finished epoch's loss and images/s stay in the progress file until the
            // next epoch has its own (an epoch shorter than PROGRESS_EVERY writes none).
            self.write_progress(dir, "training", None);
            self.sums = EpochSums::default();
            if let Some(signal) = stop.requested() {
                return self.stop(dir, info, signal);
            }
            if f.checkpoint_every == 0
                || epoch == f.epochs
                || self.progress.step % f.checkpoint_every == 0
            {
                self.save_checkpoint(dir, info)?;
            }
        }
        self.complete(dir, last)
    }

    /// Epoch 0: the untrained model's validation losses, once per run.
    fn validate_untrained(&mut self, dir: &RunDir) -> anyhow::Result<()> {
        if self.progress.step != 0
            || self.progress.batch != 0
            || self.flags.eval_every == 0
            || !csv::read(&dir.scalars())?.is_empty()
        {
            return Ok(());
        }
        let val = self.validation();
        self.tracker.epoch(&csv::EpochRow {
            epoch: 0,
            step: 0,
            val: columns(&val),
            ..Default::default()
        })?;
        let text: String = val
            .iter()
            .map(|(m, v)| format!(" {} {v:.6}", m.column))
            .collect();
        crate::say!("epoch 0 (untrained):{text}");
        Ok(())
    }

    /// The steps of one epoch (from where the checkpoint left it); `Some(signal)` when a stop
    /// was asked for (the caller checkpoints).
    fn train_epoch(
        &mut self,
        dir: &RunDir,
        info: &mut RunInfo,
        stop: &Stop,
        epoch: i64,
    ) -> anyhow::Result<Option<Signal>> {
        let f = self.flags.clone();
        let order = self.epoch_order(epoch);
        let mut pending: Vec<(StepLosses, i64)> = Vec::new();
        let mut segment_start = Instant::now();
        let mut last_print = Instant::now();
        let mut last_progress = Instant::now();
        while self.progress.batch < self.steps_per_epoch {
            let b = self.progress.batch;
            let lo = b * f.batch_size;
            let hi = ((b + 1) * f.batch_size).min(order.size()[0]);
            let idx = order.narrow(0, lo, hi - lo);
            let images = self.data.train.index_select(0, &idx);
            let losses = self.step(&images);
            self.progress.step += 1;
            self.progress.batch += 1;
            // Divergence is checked on every step on the CPU, where reading the loss costs
            // nothing; on a GPU, when the losses are gathered below.
            if self.device() == Device::Cpu {
                self.check_finite(&losses.loss, self.progress.step)?;
            }
            pending.push((losses, hi - lo));
            // A checkpoint due on an epoch's last step is taken after the epoch's row is
            // written (in `train`): taken before, a crash between the two would write the
            // row again on resume.
            let checkpoint_now = f.checkpoint_every > 0
                && self.progress.step % f.checkpoint_every == 0
                && self.progress.batch < self.steps_per_epoch;
            let stopping = stop.requested();
            let print_now = last_print.elapsed() >= PRINT_EVERY;
            let progress_now = last_progress.elapsed() >= PROGRESS_EVERY;
            if checkpoint_now
                || stopping.is_some()
                || print_now
                || progress_now
                || pending.len() >= 64
            {
                self.gather(&mut pending, &mut segment_start)?;
            }
            if progress_now {
                last_progress = Instant::now();
                self.write_progress(dir, "training", Some(epoch));
            }
            if print_now {
                last_print = Instant::now();
                crate::say!(
                    "epoch {epoch}/{} step {}/{} loss {:.6} images/s {:.1}",
                    f.epochs,
                    self.progress.batch,
                    self.steps_per_epoch,
                    self.sums.loss / self.sums.images.max(1.0),
                    self.sums.images / self.sums.seconds.max(1e-9)
                );
            }
            if stopping.is_some() {
                return Ok(stopping);
            }
            if checkpoint_now {
                self.save_checkpoint(dir, info)?;
            }
        }
        self.gather(&mut pending, &mut segment_start)?;
        Ok(None)
    }

    /// End of an epoch: validation and the sample metrics when due, the epoch's scalars, its
    /// sample grid; what was measured.
    fn end_epoch(&mut self, epoch: i64) -> anyhow::Result<Measured> {
        let f = self.flags.clone();
        let s = self.sums;
        let last = epoch == f.epochs;
        let mut measured = Measured::new();
        if (f.eval_every > 0 && epoch % f.eval_every == 0) || last {
            measured.extend(self.validation());
        }
        if self.inception.is_some() && ((f.kid_every > 0 && epoch % f.kid_every == 0) || last) {
            measured.extend(self.sample_metrics()?);
        }
        let row = csv::EpochRow {
            epoch,
            step: self.progress.step,
            loss: Some(s.loss / s.images),
            noise_loss: Some(s.noise_loss / s.images),
            image_loss: Some(s.image_loss / s.images),
            val: columns(&measured),
            seconds: Some(s.seconds),
            images_per_s: Some(s.images / s.seconds.max(1e-9)),
        };
        self.tracker.epoch(&row)?;
        crate::say!(
            "epoch {epoch}/{} step {} loss {:.6} noise_loss {:.6} image_loss {:.6}{} {:.1} images/s {:.1}s",
            f.epochs,
            self.progress.step,
            row.loss.unwrap(),
            row.noise_loss.unwrap(),
            row.image_loss.unwrap(),
            measured
                .iter()
                .map(|(m, v)| {
                    let name = if m.from_samples() { m.name } else { m.column };
                    format!(" {name} {v:.6}")
                })
                .collect::<String>(),
            row.images_per_s.unwrap(),
            s.seconds
        );
        if f.sample_every > 0 && epoch % f.sample_every == 0 {
            let images = self.model.generate(
                GRID_IMAGES,
                GRID_STEPS,
                seeds::derive(f.seed, seeds::SAMPLES, 0),
            );
            let (png, w, h) = grid::readable_grid_png(&images, 6)?;
            self.tracker.samples(self.progress.step, epoch, png, w, h)?;
        }
        Ok(measured)
    }

    /// After the last epoch: the final metrics, the sampling weights, the checkpoint removed.
    fn complete(&mut self, dir: &RunDir, mut last: Measured) -> anyhow::Result<Outcome> {
        // Final evaluation (the R original's `evaluate` on the validation split).
        if !last.iter().any(|(m, _)| !m.from_samples()) {
            let val = self.validation();
            merge(&mut last, val);
        }
        let metrics: BTreeMap<String, f64> =
            last.iter().map(|(m, v)| (m.name.to_string(), *v)).collect();
        let weights = self.model.sampling_variables();
        crate::tensorfile::write_verified(&dir.weights(), weights)?;
        for f in [
            dir.checkpoint(),
            dir.previous_checkpoint(),
            dir.damaged_checkpoint(),
        ] {
            fs_err::remove_file(f).ok();
        }
        self.tracker
            .end(self.progress.step, SessionStatus::Success)?;
        crate::say!(
            "completed {}:{}",
            dir.root.display(),
            last.iter()
                .map(|(m, v)| format!(" {} {v:.7}", m.name))
                .collect::<String>()
        );
        Ok(Outcome::Completed { metrics })
    }

    /// Rewrites the run's progress file (a failure to write it never stops training).
    fn write_progress(&self, dir: &RunDir, phase: &str, epoch: Option<i64>) {
        let s = &self.sums;
        let p = RunProgress {
            phase: phase.into(),
            epoch: epoch.unwrap_or(self.progress.epoch),
            epochs: self.flags.epochs,
            step: self.progress.step,
            total_steps: self.steps_per_epoch * self.flags.epochs,
            loss: (s.images > 0.0).then(|| s.loss / s.images),
            images_per_s: (s.seconds > 0.0).then(|| s.images / s.seconds),
            pid: std::process::id(),
            host: crate::process::hostname(),
            updated: now_rfc3339(),
        };
        let _ = dir.write_progress(&p);
    }

    /// Reads the pending losses back, adds them to the epoch sums, and times the segment.
    fn gather(
        &mut self,
        pending: &mut Vec<(StepLosses, i64)>,
        segment_start: &mut Instant,
    ) -> anyhow::Result<()> {
        if pending.is_empty() {
            return Ok(());
        }
        let first_step = self.progress.step - pending.len() as i64 + 1;
        let epoch = self.progress.epoch + 1;
        for (k, (l, n)) in pending.drain(..).enumerate() {
            let step = first_step + k as i64;
            let n = n as f64;
            let loss = l.loss.double_value(&[]);
            if !loss.is_finite() {
                bail!("diverged at step {step}: loss is {loss}");
            }
            let noise_loss = l.noise_loss.double_value(&[]);
            let image_loss = l.image_loss.double_value(&[]);
            self.sums.loss += loss * n;
            self.sums.noise_loss += noise_loss * n;
            self.sums.image_loss += image_loss * n;
            self.sums.images += n;
            if step % self.flags.log_every == 0 {
                self.tracker.step(&StepRow {
                    step,
                    epoch,
                    loss,
                    noise_loss,
                    image_loss,
                    lr: self.opt.lr,
                })?;
            }
        }
        self.sums.seconds += segment_start.elapsed().as_secs_f64();
        *segment_start = Instant::now();
        Ok(())
    }

    fn check_finite(&self, loss: &Tensor, step: i64) -> anyhow::Result<()> {
        let v = loss.double_value(&[]);
        if !v.is_finite() {
            bail!("diverged at step {step}: loss is {v}");
        }
        Ok(())
    }

    /// Checkpoints where training stands and reports the stop.
    fn stop(&self, dir: &RunDir, info: &mut RunInfo, signal: Signal) -> anyhow::Result<Outcome> {
        self.save_checkpoint(dir, info)?;
        self.write_progress(dir, "stopping", None);
        crate::say!(
            "{}: stopped at step {}, checkpoint saved",
            signal.name(),
            self.progress.step
        );
        Ok(Outcome::Interrupted {
            signal,
            step: self.progress.step,
        })
    }

    fn save_checkpoint(&self, dir: &RunDir, info: &mut RunInfo) -> anyhow::Result<()> {
        checkpoint::save(dir, &self.model, &self.opt, self.progress, self.sums)?;
        info.epoch = self.progress.epoch;
        info.step = self.progress.step;
        dir.write_info(info)?;
        Ok(())
    }

    /// The epoch's order of training images (the training set repeated
    /// `dataset_repetitions` times, shuffled), from (seed, epoch) alone.
    fn epoch_order(&self, epoch: i64) -> Tensor {
        let n = self.data.train_len();
        let total = n * self.flags.dataset_repetitions;
        tch::manual_seed(seeds::derive(self.flags.seed, seeds::EPOCH_ORDER, epoch));
        let perm = Tensor::randperm(total, (Kind::Int64, Device::Cpu));
        perm.remainder(n).to_device(self.device())
    }

    /// One optimizer step on a batch of uint8 images.
    fn step(&mut self, images: &Tensor) -> StepLosses {
        tch::manual_seed(seeds::derive(
            self.flags.seed,
            seeds::TRAIN_STEP,
            self.progress.step,
        ));
        let x = to_float(images);
        self.model.normalizer.update(&x);
        let x = self.model.normalizer.normalize(&x);
        let n = x.size()[0];
        let t = Tensor::rand([n, 1, 1, 1], (Kind::Float, self.device()));
        let (signal, noise) = self.model.schedule.rates(&t);
        let noises = x.randn_like();
        let noisy = &signal * &x + &noise * &noises;
        let noisy = if self.flags.channels_last {
            crate::model::precision::channels_last(&noisy)
        } else {
            noisy
        };
        let forward = || {
            self.model
                .denoise(&self.model.net, &noisy, &signal, &noise, true)
        };
        let mut d = if self.bf16 {
            crate::model::precision::bf16(self.device(), forward)
        } else {
            forward()
        };
        d.noises = d.noises.to_kind(Kind::Float);
        d.images = d.images.to_kind(Kind::Float);
        let (pred, target) = match self.flags.loss_on {
            LossOn::Noise => (&d.noises, &noises),
            LossOn::Image => (&d.images, &x),
        };
        let diff = pred - target;
        let loss = match self.flags.loss {
            Loss::Mae => diff.abs().mean(Kind::Float),
            Loss::Mse => diff.square().mean(Kind::Float),
        };
        self.opt.zero_grad();
        loss.backward();
        self.opt.step();
        // Before the step counter moves: the number of earlier updates.
        self.model.update_ema(self.progress.step);
        tch::no_grad(|| StepLosses {
            loss: loss.detach(),
            noise_loss: (&d.noises - &noises).abs().mean(Kind::Float),
            image_loss: (&d.images - &x).abs().mean(Kind::Float),
        })
    }

    /// The sample metrics (KID, FID, precision, recall: [`crate::metrics::names::ALL`]) of
    /// `kid_images` samples of `kid_diffusion_steps` steps (the same noise each time) against
    /// the validation images, from one Inception pass over each set.
    fn sample_metrics(&self) -> anyhow::Result<Measured> {
        let net = self.inception.as_ref().expect("KID network loaded");
        let f = &self.flags;
        let n = f.kid_images.or(self.data.valid_len());
        let chunk = 2 * f.batch_size;
        let mut gen = Vec::new();
        let mut lo = 0;
        let mut k = 0;
        while lo < n {
            let m = chunk.min(n - lo);
            let seed = seeds::derive(f.seed, seeds::KID_NOISE, k);
            let noise =
                crate::model::diffusion::seeded_randn(&[m, 3, f.image_size, f.image_size], seed)
                    .to_device(self.device());
            let images = self.model.generate_from(&noise, f.kid_diffusion_steps);
            gen.push(net.features(&images, KID_BATCH)?);
            lo += m;
            k += 1;
        }
        let gen = Tensor::cat(&gen, 0);
        let real = crate::metrics::reference::features(net, &self.data)?;
        if real.size()[0] < 2 || gen.size()[0] < 2 {
            bail!("KID needs at least 2 generated and 2 validation images (kid_images={n}, validation {})", real.size()[0]);
        }
        Ok(crate::metrics::names::measure_samples(&real, &gen))
    }

    /// The validation metrics (by their definitions: `Source::Validation`).
    fn validation(&self) -> Measured {
        let losses = self.validate();
        ALL.iter()
            .filter_map(|m| match m.source {
                Source::Validation(i) => Some((*m, losses[i])),
                Source::Samples(_) | Source::Program => None,
            })
            .collect()
    }

    /// Validation noise_loss and image_loss (MAE) in eval mode with fixed noise, batches of
    /// twice the training batch size.
    fn validate(&self) -> [f64; 2] {
        let valid = &self.data.valid;
        let n_all = valid.size()[0];
        let bs = 2 * self.flags.batch_size;
        let net = self.model.eval_net();
        let (mut noise_sum, mut image_sum) = (
            Tensor::zeros([], (Kind::Double, self.device())),
            Tensor::zeros([], (Kind::Double, self.device())),
        );
        tch::no_grad(|| {
            let mut b = 0;
            let mut lo = 0;
            while lo < n_all {
                let n = bs.min(n_all - lo);
                tch::manual_seed(seeds::derive(self.flags.seed, seeds::VALIDATION, b));
                let x = self
                    .model
                    .normalizer
                    .normalize(&to_float(&valid.narrow(0, lo, n)));
                let t = Tensor::rand([n, 1, 1, 1], (Kind::Float, self.device()));
                let (signal, noise) = self.model.schedule.rates(&t);
                let noises = x.randn_like();
                let noisy = &signal * &x + &noise * &noises;
                let d = self.model.denoise(net, &noisy, &signal, &noise, false);
                noise_sum += (&d.noises - &noises).abs().mean(Kind::Double) * n as f64;
                image_sum += (&d.images - &x).abs().mean(Kind::Double) * n as f64;
                lo += n;
                b += 1;
            }
        });
        [
            noise_sum.double_value(&[]) / n_all as f64,
            image_sum.double_value(&[]) / n_all as f64,
        ]
    }
}

/// Removes sample grids of epochs after `epoch` (left by an attempt past its checkpoint).
fn remove_samples_after(dir: &RunDir, epoch: i64) -> std::io::Result<()> {
    let Ok(entries) = fs_err::read_dir(dir.samples()) else {
        return Ok(());
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let n = name
            .strip_prefix("epoch_")
            .and_then(|r| r.strip_suffix(".png"))
            .and_then(|d| d.parse::<i64>().ok());
        if matches!(n, Some(k) if k > epoch) {
            fs_err::remove_file(e.path())?;
        }
    }
    Ok(())
}
