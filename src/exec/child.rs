//! One run's process on this machine: started with its output appended to its `train.log`,
//! in its own process group, told to stop if the orchestrator dies; signalled by pid; waited
//! for as an [`Ended`]. What the local executor's slots start, and what another executor that
//! starts processes itself (over ssh, say) would reuse; slot scheduling is not here.

use crate::process::now_rfc3339;
use crate::store::{Ended, RunDir};
use std::io::Write;
use std::process::Stdio;
use tokio::process::Command;

/// A started run's process.
pub struct Child {
    child: tokio::process::Child,
    pid: u32,
}

/// Starts `cmd` for the run at `dir`, its output appended to the run's `train.log` after a
/// line naming this attempt (and `place`, e.g. ` [gpu 0]`).
pub fn spawn(mut cmd: Command, dir: &RunDir, place: &str) -> anyhow::Result<Child> {
    let mut log = fs_err::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.log())?;
    writeln!(
        log,
        "--- {} attempt by ddim-sweep run (pid {}){place}",
        now_rfc3339(),
        std::process::id(),
    )?;
    // Own process group: a terminal's Ctrl-C reaches only the orchestrator, which forwards it
    // once (a second SIGINT would make a run stop without its checkpoint).
    cmd.process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::from(log.try_clone()?.into_file()))
        .stderr(Stdio::from(log.into_file()))
        .kill_on_drop(false);
    // If the orchestrator dies (even by SIGKILL), each run gets SIGTERM: it checkpoints and
    // records `interrupted`, so the next `ddim-sweep run` resumes it.
    crate::process::die_with_parent(cmd.as_std_mut(), libc::SIGTERM);
    let child = cmd.spawn()?;
    let pid = child.id().unwrap_or(0);
    Ok(Child { child, pid })
}

impl Child {
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Waits for the process to end: how it ended (its code, or the signal that ended it).
    pub async fn wait(mut self) -> Ended {
        match self.child.wait().await {
            Ok(s) => Ended::Process {
                code: s.code(),
                signal: std::os::unix::process::ExitStatusExt::signal(&s),
            },
            Err(_) => Ended::Process {
                code: None,
                signal: None,
            },
        }
    }
}

/// Sends `sig` to process `pid` (one this executor started; 0 is never signalled).
pub fn signal(pid: u32, sig: i32) {
    if pid == 0 {
        return;
    }
    // SAFETY: kill(2) on a child we started.
    unsafe {
        libc::kill(pid as i32, sig);
    }
}
