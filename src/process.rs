//! Process concerns shared by every command: the host name, time stamps, stop signals, and
//! the one mapping from outcomes to exit codes.
//!
//! Exit codes: 0 done, 1 error (a failed run, a damaged file, an unreachable service),
//! 2 usage (a bad argument, flag or sweep file), 3 refused before anything ran (a dataset
//! the runs need is missing and cannot be fetched), 75 busy (the run is being trained by
//! another process: nothing was touched; BSD's EX_TEMPFAIL), 130 / 143 / 138 stopped by SIGINT / SIGTERM /
//! SIGUSR1 (128 + the signal's number).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

/// The current time as RFC 3339, UTC, whole seconds.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

/// The current time as RFC 3339, UTC, with milliseconds (when runs start and end, so that
/// overlaps can be told apart).
pub fn now_rfc3339_millis() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

/// This machine's host name (`unknown` when it cannot be read).
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates within it.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr() as *mut libc::c_char, buf.len()) };
    if rc != 0 {
        return "unknown".into();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// A stop signal: SIGINT (Ctrl-C), SIGTERM, or SIGUSR1 (Slurm's warning before a time limit,
/// `--signal=B:USR1@S`, which stops a run as SIGTERM does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Int,
    Term,
    Usr1,
}

impl Signal {
    pub fn raw(self) -> i32 {
        match self {
            Signal::Int => libc::SIGINT,
            Signal::Term => libc::SIGTERM,
            Signal::Usr1 => libc::SIGUSR1,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Signal::Int => "SIGINT",
            Signal::Term => "SIGTERM",
            Signal::Usr1 => "SIGUSR1",
        }
    }
}

/// The exit code of a `train` that found its run locked by another process.
pub const BUSY: u8 = 75;

/// How a command ended, and so its exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Done,
    Error,
    Usage,
    /// Refused before anything ran: something the runs need is missing and cannot be had.
    Refused,
    /// The run is being trained by another process: nothing was done or changed.
    Busy,
    Stopped(Signal),
}

impl Exit {
    pub fn code(self) -> u8 {
        match self {
            Exit::Done => 0,
            Exit::Error => 1,
            Exit::Usage => 2,
            Exit::Refused => 3,
            Exit::Busy => BUSY,
            Exit::Stopped(Signal::Int) => 130,
            Exit::Stopped(Signal::Term) => 143,
            Exit::Stopped(Signal::Usr1) => 138,
        }
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(e: Exit) -> Self {
        std::process::ExitCode::from(e.code())
    }
}

/// Makes the process `cmd` starts receive `sig` when the thread that started it ends (its
/// parent dies, even by SIGKILL): `PR_SET_PDEATHSIG`, set between fork and exec.
pub fn die_with_parent(cmd: &mut std::process::Command, sig: i32) {
    use std::os::unix::process::CommandExt;
    // SAFETY: prctl is async-signal-safe and touches only the child's own state.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, sig as libc::c_ulong, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// How an attempt at a run ended (`train`, or a program's supervisor).
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Completed {
        metrics: std::collections::BTreeMap<String, f64>,
    },
    AlreadyCompleted,
    Interrupted {
        signal: Signal,
        step: i64,
    },
}

/// Requests to stop, set by signal handlers: a training loop checkpoints and returns.
#[derive(Debug, Clone, Default)]
pub struct Stop {
    sigint: Arc<AtomicBool>,
    sigterm: Arc<AtomicBool>,
    sigusr1: Arc<AtomicBool>,
}

impl Stop {
    /// Installs SIGINT, SIGTERM and SIGUSR1 handlers: the first asks to stop after the current
    /// step (with a checkpoint); a second SIGINT or SIGTERM ends the process at once.
    pub fn install() -> std::io::Result<Stop> {
        use signal_hook::consts::{SIGINT, SIGTERM, SIGUSR1};
        use signal_hook::flag;
        let stop = Stop::default();
        // Registered first, so it sees the flag as it was before this signal.
        flag::register_conditional_shutdown(SIGINT, 130, stop.sigint.clone())?;
        flag::register_conditional_shutdown(SIGTERM, 143, stop.sigterm.clone())?;
        flag::register(SIGINT, stop.sigint.clone())?;
        flag::register(SIGTERM, stop.sigterm.clone())?;
        // Slurm's warning before the time limit (`--signal=B:USR1@S`): stop as on SIGTERM.
        flag::register(SIGUSR1, stop.sigusr1.clone())?;
        Ok(stop)
    }

    /// The same requests without ending the process on a second signal: for a supervisor
    /// that must record how its program ended whatever it is sent. (A process whose parent
    /// dies gets `PR_SET_PDEATHSIG`'s signal once per thread of the parent it is handed
    /// through, so one death can bring several SIGTERMs.)
    pub fn install_patient() -> std::io::Result<Stop> {
        use signal_hook::consts::{SIGINT, SIGTERM, SIGUSR1};
        use signal_hook::flag;
        let stop = Stop::default();
        flag::register(SIGINT, stop.sigint.clone())?;
        flag::register(SIGTERM, stop.sigterm.clone())?;
        flag::register(SIGUSR1, stop.sigusr1.clone())?;
        Ok(stop)
    }

    /// The signal asked for, if any.
    pub fn requested(&self) -> Option<Signal> {
        if self.sigint.load(Ordering::Relaxed) {
            Some(Signal::Int)
        } else if self.sigterm.load(Ordering::Relaxed) {
            Some(Signal::Term)
        } else if self.sigusr1.load(Ordering::Relaxed) {
            Some(Signal::Usr1)
        } else {
            None
        }
    }
}

/// `println!` that ignores a closed stdout: a run whose orchestrator died must still
/// checkpoint and record its status rather than fail on a broken pipe, and a command whose
/// reader went away (`ddim-sweep flags | head -1`) ends as it would have, quietly (`run`
/// keeps its sweep's files consistent whatever happens to its stdout). Every line the
/// commands print goes through it (or [`say_text!`]), never `println!`.
#[macro_export]
macro_rules! say {
    () => {
        $crate::say_text!("\n")
    };
    ($($arg:tt)*) => {
        $crate::say_text!("{}\n", format_args!($($arg)*))
    };
}

/// `print!` that ignores a closed stdout, like [`say!`].
#[macro_export]
macro_rules! say_text {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        let _ = write!(out, $($arg)*);
        let _ = out.flush();
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes() {
        assert_eq!(Exit::Done.code(), 0);
        assert_eq!(Exit::Error.code(), 1);
        assert_eq!(Exit::Usage.code(), 2);
        assert_eq!(Exit::Stopped(Signal::Int).code(), 130);
        assert_eq!(Exit::Stopped(Signal::Term).code(), 143);
    }
}
