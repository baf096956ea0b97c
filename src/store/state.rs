//! A run's states and the transitions between them, all through `run.json`:
//! queued -> running -> completed | failed | interrupted (| queued again by a resumed sweep).
//!
//! Every change of a run's status goes through here: the orchestrator queues and settles,
//! training starts and finishes an attempt, a signal or an executor marks.

use super::run_info::Attempt;
use super::{RunDir, RunInfo, Status};
use crate::files::write_atomic;
use crate::flags::show_value;
use crate::process::{hostname, now_rfc3339, now_rfc3339_millis};
use crate::run_flags::RunFlags;
use std::collections::BTreeMap;

/// Where a run stands on disk, for planning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    /// Nothing trained yet.
    New,
    Completed,
    /// Interrupted (or left `running` by a process that is gone): continues from its checkpoint.
    Resumable,
    /// Rerun only with `--retry-failed`.
    Failed,
    /// Being trained right now by another process on this machine.
    Running,
    /// Stopped early: continues only with `--resume-stopped`.
    Stopped,
    /// Its `run.json` is damaged: left alone until it is repaired or retired.
    Damaged,
}

impl RunState {
    pub fn name(self) -> &'static str {
        match self {
            RunState::New => "new",
            RunState::Completed => "completed",
            RunState::Resumable => "resumable",
            RunState::Failed => "failed",
            RunState::Running => "running",
            RunState::Stopped => "stopped",
            RunState::Damaged => "damaged",
        }
    }
}

/// How an attempt ended, as the executor that ran it saw it.
#[derive(Debug, Clone, PartialEq)]
pub enum Ended {
    /// A local process: its exit code, or the signal that ended it.
    Process {
        code: Option<i32>,
        signal: Option<i32>,
    },
    /// Ended as a scheduler reports it (e.g. Slurm's task state); `resumable` when the run
    /// may continue from its checkpoint (time limit, preemption, cancel, node failure).
    Scheduler { resumable: bool, reason: String },
}

impl RunDir {
    /// Reads the run's state. A `running` status whose lock is free belongs to a process
    /// that is gone (killed, or the machine rebooted): it is resumable. A damaged run.json,
    /// or a flags.yaml that is not what run.json recorded, is [`RunState::Damaged`].
    pub fn state(&self) -> RunState {
        let info = match self.read_info() {
            Ok(Some(i)) => i,
            Ok(None) => return RunState::New,
            Err(_) => return RunState::Damaged,
        };
        if self.flags_damage(&info).is_some() {
            return RunState::Damaged;
        }
        match info.status {
            Status::Completed => RunState::Completed,
            Status::Failed => RunState::Failed,
            Status::Interrupted => RunState::Resumable,
            Status::Stopped => RunState::Stopped,
            Status::Queued if self.has_checkpoint() => RunState::Resumable,
            Status::Queued => RunState::New,
            Status::Running if self.is_locked() => RunState::Running,
            Status::Running => RunState::Resumable,
        }
    }

    /// Why the run is [`RunState::Damaged`] (its run.json, or its flags.yaml edited after
    /// run.json recorded the flags); None when it is not.
    pub fn damage(&self) -> Option<String> {
        match self.read_info() {
            Err(e) => Some(format!("{e:#}")),
            Ok(Some(i)) => self.flags_damage(&i).map(|e| e.to_string()),
            Ok(_) => None,
        }
    }

    /// Queues a run of a sweep: a new run gets its `flags.yaml` and a `queued` run.json
    /// (`label`, readable `name`); a run left `running` by a process that is gone becomes
    /// `interrupted`. Refuses a directory whose stored flags are not `flags`.
    pub fn queue(&self, flags: &RunFlags, label: &str, name: Option<String>) -> anyhow::Result<()> {
        fs_err::create_dir_all(&self.root)?;
        if !self.flags().exists() {
            write_atomic(&self.flags(), flags.to_yaml().as_bytes())?;
        } else {
            // The directory is named by the hash of its flags: other flags there mean it was
            // edited by hand; never train it under the sweep's name.
            let stored = self.read_flags()?;
            if let Some((k, a, b)) = stored.differences(flags).into_iter().next() {
                anyhow::bail!(
                    "{} holds flags that are not the sweep's ({k}: {} there, {} planned): move it away and run again",
                    self.root.display(),
                    show_value(&a),
                    show_value(&b)
                );
            }
        }
        let mut info = self.read_info()?;
        if let Some(i) = info.as_mut().filter(|i| i.flags.is_none()) {
            // Created before run.json recorded its flags: they were just checked against
            // the plan, so they are recorded now.
            i.flags = Some(flags.record());
            self.write_info(i)?;
        }
        match info {
            None => self.write_info(&RunInfo {
                status: Status::Queued,
                label: Some(label.to_string()),
                name,
                created: now_rfc3339(),
                seed: flags.seed(&self.root.file_name().unwrap_or_default().to_string_lossy()),
                flags: Some(flags.record()),
                ..Default::default()
            })?,
            Some(RunInfo {
                status: Status::Stopped,
                ..
            }) => {
                // Resumed on purpose (--resume-stopped): the old request no longer holds.
                let _ = fs_err::remove_file(self.stop_request());
            }
            Some(mut info) if info.status == Status::Running && !self.is_locked() => {
                info.record(Attempt::lost(&info, lost_reason(&info)));
                info.status = Status::Interrupted;
                info.reason = Some(format!(
                    "its process (pid {} on {}) is gone; continues from its last checkpoint",
                    info.pid, info.host
                ));
                self.write_info(&info)?;
            }
            Some(_) => {}
        }
        Ok(())
    }

    /// Starts an attempt: status `running`, this host and process, attempts + 1, the
    /// previous attempt's reason and metrics cleared; `fill` adds what the trainer knows.
    /// A completed run is refused.
    pub fn start(&self, fill: impl FnOnce(&mut RunInfo)) -> anyhow::Result<RunInfo> {
        let mut prev = self.read_info()?.unwrap_or_default();
        allowed(prev.status, Status::Running).map_err(|e| self.refused(e))?;
        if prev.status == Status::Running {
            // The attempt before this one vanished without recording its end (this process
            // holds the lock now): killed, or its node lost.
            prev.record(Attempt::lost(&prev, lost_reason(&prev)));
        }
        let now = now_rfc3339_millis();
        let mut info = RunInfo {
            status: Status::Running,
            reason: None,
            created: if prev.created.is_empty() {
                now.clone()
            } else {
                prev.created.clone()
            },
            started: now,
            ended: None,
            attempts: prev.attempts + 1,
            host: hostname(),
            pid: std::process::id(),
            metrics: BTreeMap::new(),
            ..prev
        };
        fill(&mut info);
        self.write_info(&info)?;
        Ok(info)
    }

    /// Records the executor's task that will run the run (keeping the rest of run.json).
    pub fn set_task(&self, task: crate::store::run_info::Task) -> anyhow::Result<()> {
        let mut info = self.read_info()?.unwrap_or_default();
        info.task = Some(task);
        self.write_info(&info)?;
        Ok(())
    }

    /// Ends an attempt with `status` (and why), keeping the rest of `info`; a transition
    /// [`allowed`] refuses (a completed run marked failed) is left unwritten, with a warning.
    pub fn finish(&self, info: &mut RunInfo, status: Status, reason: Option<String>) {
        if let Err(e) = allowed(info.status, status) {
            eprintln!("warning: {}", self.refused(e));
            return;
        }
        info.status = status;
        info.reason = reason;
        info.ended = Some(now_rfc3339_millis());
        info.record(Attempt::of(info));
        let _ = self.write_info(info);
    }

    /// Sets the run's status and reason in its run.json, keeping the rest (not for a
    /// damaged run.json: it is left as it is, for the user to repair).
    pub fn mark(&self, status: Status, reason: &str) {
        let Ok(info) = self.read_info() else {
            return;
        };
        let mut info = info.unwrap_or_default();
        self.finish(&mut info, status, Some(reason.to_string()));
    }

    fn refused(&self, e: String) -> anyhow::Error {
        anyhow::anyhow!("run {}: {e}", self.root.display())
    }

    /// Settles a run whose attempt has ended: what the run wrote itself wins; a run that
    /// could not write its end (killed, lost) is marked from how it ended. Returns the
    /// status and, unless completed, the reason.
    pub fn settle(&self, ended: &Ended) -> (Status, Option<String>) {
        let info = match self.read_info() {
            Ok(i) => i,
            Err(e) => {
                let reason = format!("{e:#}");
                return (Status::Failed, Some(reason));
            }
        };
        let written = info.as_ref().map(|i| i.status);
        let reason_written = || info.as_ref().and_then(|i| i.reason.clone());
        if written == Some(Status::Stopped) {
            return (Status::Stopped, reason_written());
        }
        if written == Some(Status::Completed) {
            // Completed is final, whoever completed it (another process, when the attempt
            // found the run locked).
            return (Status::Completed, None);
        }
        if let Ended::Process {
            code: Some(c),
            signal: None,
        } = ended
        {
            if *c == i32::from(crate::process::BUSY) {
                // The attempt found the run locked and touched nothing: not its failure.
                return (
                    Status::Interrupted,
                    Some(format!(
                        "being trained by another process{}; left to it",
                        self.holder_text()
                    )),
                );
            }
        }
        let (status, reason) = match ended {
            Ended::Process { code, signal } => match (code, signal) {
                (Some(0), _) if written == Some(Status::Completed) => (Status::Completed, None),
                (Some(130 | 138 | 143), _) => (Status::Interrupted, None),
                (_, Some(s)) if *s == libc::SIGINT || *s == libc::SIGTERM => {
                    (Status::Interrupted, None)
                }
                _ => (Status::Failed, Some(process_failure(*code, *signal))),
            },
            Ended::Scheduler { .. } if written == Some(Status::Completed) => {
                (Status::Completed, None)
            }
            Ended::Scheduler { .. }
                if matches!(written, Some(Status::Interrupted | Status::Failed)) =>
            {
                (written.unwrap(), None)
            }
            Ended::Scheduler {
                resumable: true,
                reason,
            } => (Status::Interrupted, Some(reason.clone())),
            Ended::Scheduler { reason, .. } => (Status::Failed, Some(reason.clone())),
        };
        if status == Status::Completed {
            return (status, None);
        }
        if written == Some(status) {
            // The run recorded its own end (and why).
            return (status, reason_written().or(reason));
        }
        let reason = reason.unwrap_or_else(|| {
            "stopped before it could checkpoint; continues from its last checkpoint".into()
        });
        self.mark(status, &reason);
        (status, Some(reason))
    }
}

/// Why an attempt recorded `running` is gone, as its history says: where it ran, and what
/// the executor's environment tells of a requeue (this attempt's task, see `Task::from_env`).
fn lost_reason(info: &RunInfo) -> String {
    let node = info.task.as_ref().map(|t| t.node.as_str()).unwrap_or("");
    match super::run_info::Task::from_env() {
        Some(t) if !node.is_empty() && t.restarts.unwrap_or(0) > 0 && t.node != node => format!(
            "no word from its process (pid {} on node {node}): the node was lost; {} requeued the task (restart {}) and it continues on {}",
            info.pid,
            scheduler_name(&t.kind),
            t.restarts.unwrap_or(0),
            t.node
        ),
        _ => format!(
            "no word from its process (pid {} on {}): killed, or its machine lost",
            info.pid,
            if node.is_empty() { &info.host } else { node }
        ),
    }
}

/// An executor's kind as a sentence names it: `slurm` -> `Slurm`.
fn scheduler_name(kind: &str) -> String {
    let mut c = kind.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// Whether a run's status may change from `from` to `to`: `Err` says why not. Completed is
/// final; the rest follows queued -> running -> ended -> (queued | running) again.
pub fn allowed(from: Status, to: Status) -> Result<(), String> {
    use Status::*;
    let ok = match (from, to) {
        (Completed, Completed) => true,
        (Completed, _) => false,
        // An attempt starts from any unfinished state (a retry, a resume, a process gone).
        (_, Running | Queued) => true,
        // Only an attempt completes.
        (_, Completed) => from == Running,
        // Ends: of an attempt, or settled by an executor before the attempt could start.
        (_, Failed | Interrupted | Stopped) => true,
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "refusing to change its status from {from} to {to}: a completed run stays completed (move it away to train it again)"
        ))
    }
}

/// Why a local process failed, from its exit.
fn process_failure(code: Option<i32>, signal: Option<i32>) -> String {
    match (code, signal) {
        (_, Some(libc::SIGKILL)) => "killed (SIGKILL; out of memory?)".into(),
        (_, Some(s)) => format!("killed by signal {s}"),
        (Some(0), _) => "exited 0 without completing".into(),
        (Some(c), _) => format!("exited with code {c}"),
        _ => "ended for an unknown reason".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_with(status: Option<Status>) -> (tempfile::TempDir, RunDir) {
        let d = tempfile::tempdir().unwrap();
        let r = RunDir::new(d.path().join("run"));
        fs_err::create_dir_all(&r.root).unwrap();
        if let Some(status) = status {
            r.write_info(&RunInfo {
                status,
                reason: Some("its own words".into()),
                ..Default::default()
            })
            .unwrap();
        }
        (d, r)
    }

    #[test]
    fn settle_prefers_what_the_run_wrote() {
        let (_d, r) = run_with(Some(Status::Completed));
        let done = Ended::Process {
            code: Some(0),
            signal: None,
        };
        assert_eq!(r.settle(&done), (Status::Completed, None));
        let (_d, r) = run_with(Some(Status::Failed));
        let one = Ended::Process {
            code: Some(1),
            signal: None,
        };
        assert_eq!(
            r.settle(&one),
            (Status::Failed, Some("its own words".into()))
        );
    }

    #[test]
    fn settle_marks_a_run_that_could_not_write_its_end() {
        let (_d, r) = run_with(Some(Status::Running));
        let killed = Ended::Process {
            code: None,
            signal: Some(libc::SIGKILL),
        };
        let (s, why) = r.settle(&killed);
        assert_eq!(s, Status::Failed);
        assert!(why.unwrap().contains("SIGKILL"));
        assert_eq!(r.read_info().unwrap().unwrap().status, Status::Failed);

        let (_d, r) = run_with(Some(Status::Running));
        let lost = Ended::Scheduler {
            resumable: true,
            reason: "NODE_FAIL".into(),
        };
        assert_eq!(
            r.settle(&lost),
            (Status::Interrupted, Some("NODE_FAIL".into()))
        );
        let info = r.read_info().unwrap().unwrap();
        assert_eq!(
            (info.status, info.reason.as_deref()),
            (Status::Interrupted, Some("NODE_FAIL"))
        );
        let (_d, r) = run_with(Some(Status::Running));
        let oom = Ended::Scheduler {
            resumable: false,
            reason: "OUT_OF_MEMORY".into(),
        };
        assert_eq!(r.settle(&oom).0, Status::Failed);
    }

    #[test]
    fn completed_is_final() {
        use Status::*;
        assert!(allowed(Completed, Running).is_err());
        assert!(allowed(Completed, Failed).is_err());
        assert!(allowed(Completed, Queued).is_err());
        assert!(allowed(Completed, Completed).is_ok());
        assert!(
            allowed(Queued, Completed).is_err(),
            "only an attempt completes"
        );
        assert!(allowed(Interrupted, Completed).is_err());
        for from in [Queued, Running, Failed, Interrupted, Stopped] {
            assert!(allowed(from, Running).is_ok(), "{from} -> running");
        }
        // start() refuses a completed run; mark() leaves it completed.
        let (_d, r) = run_with(Some(Status::Completed));
        let e = r.start(|_| {}).unwrap_err().to_string();
        assert!(e.contains("from completed to running"), "{e}");
        r.mark(Status::Failed, "exited with code 1");
        assert_eq!(r.read_info().unwrap().unwrap().status, Status::Completed);
    }

    #[test]
    fn an_attempt_that_found_the_run_locked_is_not_its_failure() {
        let (_d, r) = run_with(Some(Status::Running));
        r.write_info(&RunInfo {
            status: Status::Running,
            pid: 4242,
            host: "node7".into(),
            ..Default::default()
        })
        .unwrap();
        let busy = Ended::Process {
            code: Some(i32::from(crate::process::BUSY)),
            signal: None,
        };
        let (status, why) = r.settle(&busy);
        assert_eq!(status, Status::Interrupted);
        assert!(why.unwrap().contains("(pid 4242 on node7)"));
        assert_eq!(
            r.read_info().unwrap().unwrap().status,
            Status::Running,
            "untouched: the other process owns it"
        );
        // Completed by that process meanwhile: completed, whatever the attempt's exit.
        let (_d, r) = run_with(Some(Status::Completed));
        assert_eq!(r.settle(&busy), (Status::Completed, None));
        let one = Ended::Process {
            code: Some(1),
            signal: None,
        };
        assert_eq!(r.settle(&one), (Status::Completed, None));
    }

    #[test]
    fn history_keeps_every_attempt_and_a_lost_one() {
        let (_d, r) = run_with(None);
        let mut a = r.start(|_| {}).unwrap();
        a.step = 30;
        r.write_info(&a).unwrap();
        // The first attempt vanishes (no end recorded); the second one finds it running.
        let mut b = r.start(|_| {}).unwrap();
        assert_eq!(b.history.len(), 1);
        assert_eq!(b.history[0].status, "lost");
        assert_eq!((b.history[0].attempt, b.history[0].step), (1, 30));
        assert!(b.history[0].ended.is_none());
        assert!(b.history[0]
            .reason
            .as_deref()
            .unwrap()
            .starts_with("no word from its process"));
        assert_eq!(b.status, Status::Running, "the new attempt runs");
        r.finish(&mut b, Status::Completed, None);
        let h = r.read_info().unwrap().unwrap().history;
        assert_eq!(h.len(), 2);
        assert_eq!((h[1].attempt, h[1].status.as_str()), (2, "completed"));
        assert!(h[1].ended.is_some());
    }
}
