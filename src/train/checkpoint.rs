//! Checkpoints: everything a run needs to continue bit for bit, in one safetensors file
//! written atomically (temporary file, sync, rename).
//!
//! Names: `model/<var>` (network, BatchNorm statistics, normaliser), `ema/<var>`,
//! `opt/m/<param>`, `opt/v/<param>`, `opt/t`, `progress` (int64: step, epoch, batch of the
//! epoch) and `sums` (float64 accumulators of the epoch in progress).

use crate::model::DiffusionModel;
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

pub fn save(
    path: &Path,
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
    let tmp = crate::store::tmp_path(path);
    Tensor::write_safetensors(&named, &tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    crate::store::commit_tmp(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Restores model, EMA and optimizer state; returns the progress and epoch sums.
pub fn load(
    path: &Path,
    model: &mut DiffusionModel,
    opt: &mut AdamW,
) -> anyhow::Result<(Progress, EpochSums)> {
    let tensors: HashMap<String, Tensor> = Tensor::read_safetensors(path)
        .with_context(|| format!("reading checkpoint {}", path.display()))?
        .into_iter()
        .collect();
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
