//! ddim-sweep: train denoising diffusion models (DDIM, after the seed's R torch/luz project)
//! and run experiment sweeps over them.
//!
//! Layers: `commands` turn arguments into calls; `flags` (the training flags), `model`
//! (network, schedules, sampler), `train` (loop, optimizer, checkpoints), `data` (datasets),
//! `store` (run directories, status, locks) and `track` (scalars, sample grids) do the work.

/// `println!` that ignores a closed stdout: a run whose orchestrator died must still
/// checkpoint and record its status rather than fail on a broken pipe.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, $($arg)*);
        let _ = out.flush();
    }};
}

pub mod commands;
pub mod data;
pub mod device;
pub mod exec;
pub mod flags;
pub mod metrics;
pub mod model;
pub mod report;
pub mod seeds;
pub mod store;
pub mod sweep;
pub mod track;
pub mod train;
