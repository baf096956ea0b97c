//! Checkpoints: everything a run needs to continue bit for bit, in one safetensors file with
//! a checksum of its contents (`tensorfile`). A new checkpoint is written to a temporary file
//! and verified before it replaces the latest, which becomes the previous one; loading falls
//! back to the previous checkpoint when the latest is damaged, so a run loses at most one
//! checkpoint interval, and fails only when neither is usable.
//!
//! Names: `model/<var>` (network, BatchNorm statistics, normaliser), `ema/<var>`,
//! `opt/m/<param>`, `opt/v/<param>`, `opt/t`, `progress` (int64: step, epoch, batch of the
//! epoch) and `sums` (float64 accumulators of the epoch in progress).

use crate::model::DiffusionModel;
use crate::store::RunDir;
use crate::train::optim::AdamW;
use anyhow::{anyhow, bail, Context};
use std::collections::HashMap;
use std::path::Path;
use tch::{Device, Kind, Tensor};

/// Where training stands.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Progress {
    /// Optimizer steps taken.
    pub step: i64,
    /// Epochs fully done.
    pub epoch: i64,
    /// Batches done in the epoch in progress.
    pub batch: i64,
}

/// Sums over the batches of the epoch in progress: loss, noise_loss, image_loss (each
/// weighted by batch size), images, seconds.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct EpochSums {
    pub loss: f64,
    pub noise_loss: f64,
    pub image_loss: f64,
    pub images: f64,
    pub seconds: f64,
}

/// Writes the run's new latest checkpoint; the latest so far becomes the previous one, once
/// the new one is complete and verified.
pub fn save(
    dir: &RunDir,
    model: &DiffusionModel,
    opt: &AdamW,
    progress: Progress,
    sums: EpochSums,
) -> anyhow::Result<()> {
    let mut named: Vec<(String, Tensor)> = Vec::new();
    for (k, t) in model.vs.variables() {
        named.push((format!("model/{k}"), t.to_device(Device::Cpu).contiguous()));
    }
    if let Some(ema) = &model.ema {
        for (k, t) in ema.vs.variables() {
            named.push((format!("ema/{k}"), t.to_device(Device::Cpu).contiguous()));
        }
    }
    for (k, t) in opt.state() {
        named.push((format!("opt/{k}"), t.to_device(Device::Cpu).contiguous()));
    }
    named.push((
        "progress".into(),
        Tensor::from_slice(&[progress.step, progress.epoch, progress.batch]),
    ));
    named.push((
        "sums".into(),
        Tensor::from_slice(&[
            sums.loss,
            sums.noise_loss,
            sums.image_loss,
            sums.images,
            sums.seconds,
        ]),
    ));
    named.sort_by(|a, b| a.0.cmp(&b.0));
    let (latest, previous) = (dir.checkpoint(), dir.previous_checkpoint());
    let tmp = crate::tensorfile::write_verified_tmp(&latest, named)?;
    if latest.exists() {
        fs_err::rename(&latest, &previous).with_context(|| {
            format!(
                "keeping {} as the previous checkpoint {}",
                latest.display(),
                previous.display()
            )
        })?;
    }
    crate::files::commit_tmp(&tmp, &latest)
        .with_context(|| format!("writing {}", latest.display()))?;
    Ok(())
}

/// Restores the run's latest usable checkpoint, if it has one: the latest, or the previous
/// one (with a warning, the damaged latest moved aside) when the latest cannot be used.
/// Errors when checkpoints exist and none is usable.
pub fn load_latest(
    dir: &RunDir,
    model: &mut DiffusionModel,
    opt: &mut AdamW,
) -> anyhow::Result<Option<(Progress, EpochSums)>> {
    let (latest, previous) = (dir.checkpoint(), dir.previous_checkpoint());
    let mut problems: Vec<String> = Vec::new();
    if latest.exists() {
        match load(&latest, model, opt) {
            Ok(r) => return Ok(Some(r)),
            Err(e) => problems.push(format!("{e:#}")),
        }
    }
    if previous.exists() {
        match load(&previous, model, opt) {
            Ok(r) => {
                if let Some(why) = problems.first() {
                    let aside = dir.damaged_checkpoint();
                    fs_err::rename(&latest, &aside).ok();
                    crate::say!(
                        "warning: the latest checkpoint is unusable ({why}); continuing from the previous one (step {}), moved the damaged one to {}",
                        r.0.step,
                        aside.display()
                    );
                }
                return Ok(Some(r));
            }
            Err(e) => problems.push(format!("{e:#}")),
        }
    }
    if problems.is_empty() {
        return Ok(None);
    }
    anyhow::bail!(
        "no usable checkpoint in {}: {}; move the checkpoint files aside to train this run again from the start",
        dir.root.display(),
        problems.join("; ")
    )
}

/// Restores model, EMA and optimizer state from one checkpoint file (verified against its
/// checksum first); returns the progress and epoch sums.
pub fn load(
    path: &Path,
    model: &mut DiffusionModel,
    opt: &mut AdamW,
) -> anyhow::Result<(Progress, EpochSums)> {
    let tensors: HashMap<String, Tensor> = crate::tensorfile::read_verified(path)?;
    let restore = |prefix: &str, vars: HashMap<String, Tensor>| -> anyhow::Result<()> {
        tch::no_grad(|| {
            for (k, mut dst) in vars {
                let key = format!("{prefix}/{k}");
                let src = tensors.get(&key).ok_or_else(|| {
                    anyhow!(
                        "checkpoint {} lacks `{key}`: it was written for other flags",
                        path.display()
                    )
                })?;
                if src.size() != dst.size() {
                    bail!(
                        "checkpoint {}: `{key}` has shape {:?}, the model {:?}",
                        path.display(),
                        src.size(),
                        dst.size()
                    );
                }
                dst.copy_(src);
            }
            Ok(())
        })
    };
    restore("model", model.vs.variables())?;
    model.normalizer.refresh();
    if let Some(ema) = &model.ema {
        restore("ema", ema.vs.variables())?;
    }
    opt.load_state(&|k| {
        tensors
            .get(&format!("opt/{k}"))
            .map(|t| t.to_device(model.device()))
    })
    .map_err(|e| anyhow!("checkpoint {}: {e}", path.display()))?;
    let p = tensors
        .get("progress")
        .ok_or_else(|| anyhow!("checkpoint lacks progress"))?;
    let s = tensors
        .get("sums")
        .ok_or_else(|| anyhow!("checkpoint lacks sums"))?
        .to_kind(Kind::Double);
    let progress = Progress {
        step: p.int64_value(&[0]),
        epoch: p.int64_value(&[1]),
        batch: p.int64_value(&[2]),
    };
    let sums = EpochSums {
        loss: s.double_value(&[0]),
        noise_loss: s.double_value(&[1]),
        image_loss: s.double_value(&[2]),
        images: s.double_value(&[3]),
        seconds: s.double_value(&[4]),
    };
    Ok((progress, sums))
}
