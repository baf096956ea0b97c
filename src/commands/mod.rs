//! The command line: one module per subcommand, each turning arguments into library calls.

pub mod data;
pub mod doctor;
pub mod flags;
pub mod kid;
pub mod report;
pub mod run;
pub mod runs;
pub mod sample;
pub mod score_samples;
pub mod summary;
pub mod train;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "ddim-sweep",
    version,
    about = "Train denoising diffusion models (DDIM) and run experiment sweeps over them"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Datasets: fetch the official archives, prepare the decoded cache, show what is there.
    Data(data::Args),
    /// What this machine is and what ddim-sweep will do on it: CPU and instruction sets, CUDA
    /// devices, versions, data and caches, the Inception network, device/precision=auto.
    Doctor(doctor::Args),
    /// KID (and FID) between two image folders or run directories, with Inception-v3.
    Kid(kid::Args),
    /// Write markdown result tables, sample grids and plots of the runs (reports/<label>/).
    Report(report::Args),
    /// Run a sweep: expand its grid into runs and train them (resumes where it stopped).
    Run(run::Args),
    /// List runs with their status, varying flags and final metrics.
    Runs(runs::Args),
    /// Train one run (or continue an unfinished one) in a run directory.
    Train(train::Args),
    /// Write a square grid of samples from a run's weights.
    Sample(sample::Args),
    /// Print the model's module tree with parameter counts.
    Summary(summary::Args),
    /// List every training flag with its default and accepted values.
    Flags(flags::Args),
    /// The sample metrics of a program run's images (what its supervisor calls).
    #[command(hide = true)]
    ScoreSamples(score_samples::Args),
}

/// `--runs-dir`: a directory, or a path that does not exist yet; a file is refused (exit 2)
/// before anything is read or written.
pub fn runs_dir_arg(s: &str) -> Result<std::path::PathBuf, String> {
    let p = std::path::PathBuf::from(s);
    // The path itself, or the nearest part of it that exists, must be a directory.
    if let Some(there) = p.ancestors().find(|a| a.exists()) {
        if !there.is_dir() {
            let what = if there == p {
                format!("`{s}` is a file")
            } else {
                format!("`{s}` is under `{}`, a file", there.display())
            };
            return Err(format!(
                "{what}, not a directory: give the directory that holds (or will hold) <label>/<run id>/"
            ));
        }
    }
    Ok(p)
}

/// Which runs a listing command reads: `--runs-dir` and `--label`.
#[derive(Debug, clap::Args)]
pub struct RunsSelection {
    /// The runs directory (<runs-dir>/<label>/<run id>/).
    #[arg(long, env = "DDIM_RUNS_DIR", default_value = "runs", value_parser = runs_dir_arg)]
    pub runs_dir: std::path::PathBuf,
    /// Only runs of this sweep label (default: every label).
    #[arg(long)]
    pub label: Option<String>,
}

impl RunsSelection {
    /// The runs directory, which must exist to be read (exit 2 otherwise); the sweep records
    /// in it that cannot be believed are named on stderr (see
    /// [`crate::store::listing::unbelieved_records`]).
    pub fn read_dir(&self) -> anyhow::Result<&std::path::Path> {
        if !self.runs_dir.is_dir() {
            anyhow::bail!(crate::error::Error::usage(format!(
                "--runs-dir {}: no such directory (give the directory that holds <label>/<run id>/, or set DDIM_RUNS_DIR)",
                self.runs_dir.display()
            )));
        }
        for why in crate::store::listing::unbelieved_records(&self.runs_dir) {
            eprintln!("warning: {why}");
        }
        Ok(&self.runs_dir)
    }
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Data(a) => data::run(a),
        Command::Doctor(a) => doctor::run(a),
        Command::Kid(a) => kid::run(a),
        Command::Report(a) => report::run(a),
        Command::Run(a) => run::run(a),
        Command::Runs(a) => runs::run(a),
        Command::Train(a) => train::run(a),
        Command::Sample(a) => sample::run(a),
        Command::Summary(a) => summary::run(a),
        Command::Flags(a) => flags::run(a),
        Command::ScoreSamples(a) => score_samples::run(a),
    }
}
