use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    ddim_sweep::tune_allocator();
    let cli = ddim_sweep::commands::Cli::parse();
    match ddim_sweep::commands::run(cli) {
        Ok(code) => code,
        Err(e) => {
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "error: {e:#}");
            ddim_sweep::error::exit_for(&e).into()
        }
    }
}
