//! The supervisor of one run of the user's program (`command:` sweeps): what every executor
//! starts for such a run, `ddim-sweep-program train --wait --run-dir DIR` (the words of
//! `ddim-sweep train`, so that every executor's launch line serves both). The same code as
//! `ddim-sweep train` runs for a program run, in a binary without libtorch, so that it
//! starts in milliseconds (the main binary takes about half a second to load libtorch).

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut run_dir = None;
    let mut wait = false;
    while let Some(a) = args.next() {
        match a.as_str() {
            "train" => {}
            "--wait" => wait = true,
            "--run-dir" => run_dir = args.next(),
            "--version" => {
                println!("ddim-sweep-program {}", env!("CARGO_PKG_VERSION"));
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!("error: unexpected argument `{other}`: usage: ddim-sweep-program [--wait] --run-dir DIR");
                return ExitCode::from(2);
            }
        }
    }
    let Some(run_dir) = run_dir else {
        eprintln!("error: usage: ddim-sweep-program [--wait] --run-dir DIR");
        return ExitCode::from(2);
    };
    match ddim_sweep::program::command::supervise_run(std::path::Path::new(&run_dir), wait) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ddim_sweep::error::exit_for(&e).into()
        }
    }
}
