use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = ddim_sweep::commands::Cli::parse();
    match ddim_sweep::commands::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(ddim_sweep::commands::exit_code_for(&e))
        }
    }
}
