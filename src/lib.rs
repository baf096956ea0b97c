//! ddim-sweep: train denoising diffusion models (DDIM, after the seed's R torch/luz project)
//! and run experiment sweeps over them.
//!
//! Layers: `commands` turn arguments into calls; `flags` (the training flags), `model`
//! (network, schedules, sampler), `train` (loop, optimizer, checkpoints), `data` (datasets),
//! `store` (run directories, status, locks) and `track` (scalars, sample grids) do the work.

pub mod commands;
pub mod data;
pub mod device;
pub mod flags;
pub mod model;
pub mod seeds;
pub mod store;
pub mod track;
pub mod train;
