use crate::flags::DeviceSpec;
use crate::store::RunDir;
use crate::track::grid;
use anyhow::bail;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A run directory (its model.safetensors, or its last checkpoint while unfinished).
    pub run_dir: PathBuf,
    /// Number of images; the grid is the smallest square that holds them.
    #[arg(long, default_value_t = 36)]
    pub n: i64,
    /// Diffusion steps (steps - 1 network evaluations).
    #[arg(long, default_value_t = 20)]
    pub steps: i64,
    /// Seed of the initial noise.
    #[arg(long, default_value_t = 1)]
    pub seed: i64,
    /// auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    pub device: DeviceSpec,
    /// Output PNG.
    #[arg(long, default_value = "grid.png")]
    pub out: PathBuf,
    /// Scale each image up by this whole factor (nearest neighbour); default: to at least
    /// 64 px; 1 = the model's own size.
    #[arg(long)]
    pub scale: Option<i64>,
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    if a.n < 1 {
        bail!(crate::error::Error::usage(format!(
            "--n must be at least 1, not {}",
            a.n
        )));
    }
    if a.steps < 2 {
        bail!(crate::error::Error::usage(format!(
            "--steps must be at least 2 (steps - 1 network evaluations), not {}",
            a.steps
        )));
    }
    let device = crate::device::resolve(a.device)?;
    let start = std::time::Instant::now();
    let images =
        crate::model::from_run::sample_run(&RunDir::new(&a.run_dir), a.n, a.steps, a.seed, device)?;
    let secs = start.elapsed().as_secs_f64();
    let k = a
        .scale
        .unwrap_or_else(|| grid::readable_scale(images.size()[3]));
    if k < 1 {
        bail!(crate::error::Error::usage(format!(
            "--scale must be at least 1, not {k}"
        )));
    }
    grid::save_grid(&grid::upscale(&images, k), grid::square_cols(a.n), &a.out)?;
    crate::say!(
        "wrote {} ({} samples, {} steps; loaded and sampled in {:.2} s, {:.2} samples/s)",
        a.out.display(),
        a.n,
        a.steps,
        secs,
        a.n as f64 / secs.max(1e-9)
    );
    Ok(ExitCode::SUCCESS)
}
