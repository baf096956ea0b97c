use crate::flags::parse_assignments;
use crate::process::{Exit, Stop};
use crate::train::Outcome;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The run directory: created for a new run; an unfinished run in it continues from its
    /// last checkpoint; a completed one is left as it is.
    #[arg(long)]
    pub run_dir: PathBuf,
    /// Never download a missing dataset (also DDIM_OFFLINE=1).
    #[arg(long)]
    pub offline: bool,
    /// When another process trains the run, wait for it (said once, with its pid and host)
    /// instead of exiting 75: a run it completes is left completed, one it leaves unfinished
    /// continues here. Sweeps start their runs with it. With it, a second SIGINT or SIGTERM
    /// does not end the run at once: it still checkpoints and records how it ended.
    #[arg(long)]
    pub wait: bool,
    /// Training flags as FLAG=VALUE (see `ddim-sweep flags`).
    #[arg(value_name = "FLAG=VALUE")]
    pub flags: Vec<String>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let given = parse_assignments(&args.flags).map_err(crate::error::Error::input)?;
    // A program's supervisor records how its program ended whatever it is sent; so does a
    // run a sweep started (`--wait`): an orchestrator that dies sends it SIGTERM once per
    // thread (`PR_SET_PDEATHSIG`), and ends runs at once with SIGKILL, never a second signal.
    let stop = if args.wait || crate::program::is_program_run(&args.run_dir) {
        Stop::install_patient()?
    } else {
        Stop::install()?
    };
    let policy = crate::data::availability::FetchPolicy::from_env(args.offline);
    let attempt = crate::program::Attempt {
        run_dir: &args.run_dir,
        given: &given,
        stop: &stop,
        fetch: &policy,
        wait: args.wait,
    };
    match crate::program::run(&attempt)? {
        Outcome::Completed { .. } => Ok(Exit::Done.into()),
        Outcome::AlreadyCompleted => {
            crate::say!(
                "run {} is already completed; nothing to do",
                args.run_dir.display()
            );
            Ok(Exit::Done.into())
        }
        Outcome::Interrupted { signal, .. } => Ok(Exit::Stopped(signal).into()),
    }
}
