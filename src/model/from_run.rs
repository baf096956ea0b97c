//! A run's sampling network, built from its files (for `sample`, `kid` and `report`, which
//! never need the training loop).

use super::DiffusionModel;
use crate::flags::Flags;
use crate::store::{RunDir, SamplingWeights};
use anyhow::{anyhow, bail, Context};
use std::collections::HashMap;
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
    let flags = dir.read_flags()?;
    let mut plain = flags.clone();
    plain.ema = 0.0;
    let mut model = DiffusionModel::new(&plain, device);
    match dir.sampling_weights() {
        Some(SamplingWeights::Final(path)) => model
            .load_weights(&path)
            .with_context(|| format!("loading {}", path.display()))?,
        Some(SamplingWeights::Checkpoint(path)) => {
            let tensors: HashMap<String, Tensor> =
                Tensor::read_safetensors(&path)?.into_iter().collect();
            let net_prefix = if flags.ema > 0.0 { "ema" } else { "model" };
            tch::no_grad(|| -> anyhow::Result<()> {
                for (k, mut dst) in model.vs.variables() {
                    let key = if k.starts_with("net.") {
                        format!("{net_prefix}/{k}")
                    } else {
                        format!("model/{k}")
                    };
                    let src = tensors
                        .get(&key)
                        .ok_or_else(|| anyhow!("{}: lacks `{key}`", path.display()))?;
                    dst.copy_(src);
                }
                Ok(())
            })?;
        }
        None => bail!(
            "{} has no weights yet (neither model.safetensors nor checkpoint.safetensors)",
            dir.root.display()
        ),
    }
    Ok((flags, model))
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
