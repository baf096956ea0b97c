//! One training run in a run directory, under two owners: [`attempt`] (one attempt's
//! lifecycle: the lock, the flags, the run's status and what it records, resume, the outcome)
//! and [`trainer`] (the training loop: data, model, epochs, validation, sample metrics,
//! checkpoints, samples). `optim` is AdamW, `checkpoint` what a checkpoint holds.

pub mod attempt;
pub mod checkpoint;
pub mod optim;
pub mod trainer;

pub use attempt::{clean_panic, flags_for, run};

/// Sample grids: 36 images (6x6), 20 diffusion steps, fixed noise.
pub const GRID_IMAGES: i64 = 36;
pub const GRID_STEPS: i64 = 20;
/// KID batches (the R original's: its evaluation batch of 128).
pub const KID_BATCH: i64 = crate::metrics::reference::BATCH;

pub use crate::process::Outcome;
