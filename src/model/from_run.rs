//! A run's sampling network, built from its files (for `sample`, `kid` and `report`, which
//! never need the training loop).

use super::DiffusionModel;
use crate::flags::Flags;
use crate::store::{RunDir, SamplingWeights};
use anyhow::{anyhow, bail};
use std::collections::HashMap;
use std::path::PathBuf;
use tch::{Device, Tensor};

/// Builds the sampling model of a run from the weights [`RunDir::sampling_weights`] names:
/// `model.safetensors` once completed, else the last checkpoint's (its EMA weights when the
/// run has EMA).
pub fn load_for_sampling(dir: &RunDir, device: Device) -> anyhow::Result<(Flags, DiffusionModel)> {
    if !dir.flags().exists() {
        bail!(
            "{} is not a run directory (no flags.yaml)",
            dir.root.display()
        );
    }
    let flags = dir.read_builtin_flags()?;
    let mut plain = flags.clone();
    plain.ema = 0.0;
    let model = DiffusionModel::new(&plain, device);
    match dir.sampling_weights() {
        Some(SamplingWeights::Final(path)) => {
            let tensors = crate::tensorfile::read_verified(&path)?;
            copy_into(&model, &path, |k| tensors.get(k))?;
        }
        Some(SamplingWeights::Checkpoint(path)) => {
            let (path, tensors) = checkpoint_tensors(dir, path)?;
            let net_prefix = if flags.ema > 0.0 { "ema" } else { "model" };
            copy_into(&model, &path, |k| {
                let key = if k.starts_with("net.") {
                    format!("{net_prefix}/{k}")
                } else {
                    format!("model/{k}")
                };
                tensors.get(&key)
            })?;
        }
        None => bail!(
            "{} has no weights yet (neither model.safetensors nor checkpoint.safetensors)",
            dir.root.display()
        ),
    }
    Ok((flags, model))
}

/// The tensors of a run's latest checkpoint, or of the previous one when the latest is
/// damaged (said on stderr).
fn checkpoint_tensors(
    dir: &RunDir,
    path: PathBuf,
) -> anyhow::Result<(PathBuf, HashMap<String, Tensor>)> {
    match crate::tensorfile::read_verified(&path) {
        Ok(t) => Ok((path, t)),
        Err(e) if path == dir.checkpoint() && dir.previous_checkpoint().exists() => {
            let prev = dir.previous_checkpoint();
            eprintln!(
                "warning: {e}; sampling from the previous checkpoint {}",
                prev.display()
            );
            let t = crate::tensorfile::read_verified(&prev)?;
            Ok((prev, t))
        }
        Err(e) => Err(e.into()),
    }
}

/// Copies into every variable of `model` the tensor `get` finds for its name.
fn copy_into<'t>(
    model: &DiffusionModel,
    path: &std::path::Path,
    get: impl Fn(&str) -> Option<&'t Tensor>,
) -> anyhow::Result<()> {
    tch::no_grad(|| {
        for (k, mut dst) in model.vs.variables() {
            let src = get(&k).ok_or_else(|| anyhow!("{}: lacks `{k}`", path.display()))?;
            if src.size() != dst.size() {
                bail!(
                    "{}: `{k}` has shape {:?}, the model {:?}",
                    path.display(),
                    src.size(),
                    dst.size()
                );
            }
            dst.copy_(src);
        }
        Ok(())
    })
}

/// `n` samples of a run, `steps` diffusion steps, noise from `seed`.
pub fn sample_run(
    dir: &RunDir,
    n: i64,
    steps: i64,
    seed: i64,
    device: Device,
) -> anyhow::Result<Tensor> {
    let (_, model) = load_for_sampling(dir, device)?;
    Ok(model.generate(n, steps, seed))
}
