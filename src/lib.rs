//! ddim-sweep: train denoising diffusion models (DDIM) and run experiment sweeps over them,
//! after the R torch/luz project it replaces ("the R original" in comments and docs; `seed`
//! always means a random seed).
//!
//! Layers, each importing only those below it:
//! - `commands`: one module per subcommand, arguments in, library calls out;
//! - `exec`: the orchestrator of a sweep's runs and its executors (local processes, Slurm);
//! - `sweep` (spec, expansion, run identity, the sweep's record) and `report` (tables, figures);
//! - `train`: one run's attempt (lifecycle: lock, flags, status, outcome) and its training
//!   loop, optimizer and checkpoints;
//! - `model` (network, schedules, sampler, a run's sampling weights), `data` (datasets),
//!   `metrics` (Inception features, KID, FID), `track` (CSV, TensorBoard, sample grids);
//! - `store` (run directories: files, states, progress, locks; the sweep's files), `flags`
//!   (every flag, once), `process` (host, time, signals, exit codes), `device`, `hardware` (CPU and GPU facts),
//!   `build_info` (what the binary was built from), `seeds`.

pub mod build_info;
pub mod commands;
pub mod data;
pub mod device;
pub mod error;
pub mod exec;
pub mod files;
pub mod flags;
pub mod hardware;
pub mod metrics;
pub mod model;
pub mod names;
pub mod process;
pub mod program;
pub mod report;
pub mod run_flags;
pub mod seeds;
pub mod stats;
pub mod store;
pub mod sweep;
pub mod tensorfile;
pub mod track;
pub mod train;

/// Keeps glibc from returning every large tensor buffer to the kernel: by default each
/// allocation over the (dynamic) mmap threshold is a fresh `mmap` whose pages fault in again on
/// every training step. Raising the threshold lets freed buffers be reused; measured on the
/// default 64x64 model on 2 CPU cores: 22 -> 40+ training images/s (`bench/speed.sh`).
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; called before any other thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 30);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}
