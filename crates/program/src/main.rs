//! The supervisor of one run of the user's program (`command:` sweeps): what every executor
//! starts for such a run, `ddim-sweep-program train --wait --run-dir DIR` (the words of
//! `ddim-sweep train`, so that every executor's launch line serves both). It is the same
//! code as `ddim-sweep train` runs for a program run — the main crate's own files, compiled
//! here with what they use and nothing else — in a binary without libtorch, so that it
//! starts in milliseconds (loading libtorch takes about a third of a second).

// The main crate's files (one owner each: nothing here but their list).
#[path = "../../../src/build_info.rs"]
pub mod build_info;
#[path = "../../../src/error.rs"]
pub mod error;
#[path = "../../../src/files.rs"]
pub mod files;
#[path = "../../../src/flags.rs"]
pub mod flags;
#[path = "../../../src/names.rs"]
pub mod names;
#[path = "../../../src/process.rs"]
pub mod process;
#[path = "../../../src/run_flags.rs"]
pub mod run_flags;
#[path = "../../../src/store/mod.rs"]
pub mod store;
#[path = "../../../src/track/tensorboard.rs"]
pub mod track_tensorboard;
pub mod track {
    pub use super::track_tensorboard as tensorboard;
}
#[path = "../../../src/program/command/mod.rs"]
pub mod program_command;
pub mod program {
    pub use super::program_command as command;
}

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
    match program::command::supervise_run(std::path::Path::new(&run_dir), wait) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            error::exit_for(&e).into()
        }
    }
}
