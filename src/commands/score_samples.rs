//! `score-samples --run-dir DIR` (hidden): what the supervisor of a program run calls once the
//! program exited 0, in a sweep with `sample_metrics:` (the supervisor has no libtorch): the
//! sample metrics of the images the run left, as one JSON line on stdout.

use crate::flags::DeviceSpec;
use crate::metrics::{features, folders, Inception};
use crate::store::program_file::ProgramFile;
use anyhow::bail;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The program run's folder.
    #[arg(long)]
    pub run_dir: PathBuf,
    #[arg(long, default_value = "auto")]
    pub device: DeviceSpec,
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let pf = ProgramFile::read(&a.run_dir)?;
    let Some(m) = pf.sample_metrics else {
        bail!("{}: its sweep has no sample_metrics:", a.run_dir.display());
    };
    let device = crate::device::resolve(a.device)?;
    let net = Inception::load(&features::default_network_path(), device)?;
    let scores = folders::score(&net, &a.run_dir.join(&m.images), &m.reference)?;
    crate::say!("{}", serde_json::to_string(&scores)?);
    Ok(ExitCode::SUCCESS)
}
