//! Slurm's client commands (`sbatch`, `squeue`, `scontrol`, `scancel`, `sacct`), each run
//! as a process; every failure quotes Slurm's own message.

use std::collections::HashMap;
use std::process::{Command, Output};

/// A task's state as `squeue` shows it while it is queued or running.
#[derive(Debug, Clone, PartialEq)]
pub struct Live {
    /// PENDING, RUNNING, CONFIGURING, COMPLETING, SUSPENDED, REQUEUED...
    pub state: String,
    /// Why it is pending (e.g. `JobArrayTaskLimit`), or `None`.
    pub reason: String,
    pub node: String,
}

/// A task's final state, from accounting (`sacct`) or, without it, the controller's memory
/// of recently ended jobs (`scontrol show job`).
#[derive(Debug, Clone, PartialEq)]
pub struct Final {
    /// COMPLETED, FAILED, TIMEOUT, CANCELLED, NODE_FAIL, OUT_OF_MEMORY, PREEMPTED...
    pub state: String,
    pub exit_code: String,
    /// Who said so: `sacct` (accounting) or `scontrol` (the controller's memory).
    pub source: &'static str,
}

impl Final {
    /// Whether the state is an end (not PENDING, RUNNING, REQUEUED, ... as accounting shows
    /// a job it has not yet been told the end of).
    pub fn is_final(&self) -> bool {
        ![
            "PENDING",
            "RUNNING",
            "REQUEUED",
            "REQUEUE_HOLD",
            "REQUEUE_FED",
            "CONFIGURING",
            "COMPLETING",
            "SUSPENDED",
            "RESIZING",
            "",
        ]
        .contains(&self.state.as_str())
    }

    /// Whether a run whose task ended so may continue from its checkpoint.
    pub fn resumable(&self) -> bool {
        let s = self.state.as_str();
        [
            "TIMEOUT",
            "PREEMPTED",
            "CANCELLED",
            "NODE_FAIL",
            "BOOT_FAIL",
            "DEADLINE",
            "REQUEUE",
        ]
        .iter()
        .any(|k| s.starts_with(k))
    }

    /// Ended by the cluster (not the user, not the run): worth resubmitting at once.
    pub fn by_the_cluster(&self) -> bool {
        let s = self.state.as_str();
        ["TIMEOUT", "PREEMPTED", "NODE_FAIL", "BOOT_FAIL"]
            .iter()
            .any(|k| s.starts_with(k))
    }
}

fn run(program: &str, args: &[String]) -> anyhow::Result<Output> {
    Command::new(program).args(args).output().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            anyhow::anyhow!(
                "`{program}` is not on PATH: --executor slurm needs Slurm's client commands (sbatch, squeue, scontrol, scancel) on this machine"
            )
        } else {
            anyhow::anyhow!("running `{program}`: {e}")
        }
    })
}

fn stderr_of(o: &Output) -> String {
    let e = String::from_utf8_lossy(&o.stderr).trim().to_string();
    if e.is_empty() {
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    } else {
        e
    }
}

/// Submits a batch script; returns the job id.
pub fn sbatch(args: &[String]) -> anyhow::Result<String> {
    let mut all = vec!["--parsable".to_string()];
    all.extend_from_slice(args);
    let o = run("sbatch", &all)?;
    if !o.status.success() {
        anyhow::bail!("Slurm refused the job (sbatch): {}", stderr_of(&o));
    }
    let text = String::from_utf8_lossy(&o.stdout);
    // `--parsable` prints `JOBID` or `JOBID;CLUSTER`.
    let id = text.trim().split(';').next().unwrap_or("").to_string();
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
        anyhow::bail!("sbatch printed no job id: {text:?}");
    }
    Ok(id)
}

/// The live tasks of the jobs named `name`, by `JOBID_TASKID`.
pub fn squeue(name: &str) -> anyhow::Result<HashMap<String, Live>> {
    let args: Vec<String> = ["-h", "-r", "--name", name, "-o", "%i|%T|%r|%N"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let o = run("squeue", &args)?;
    if !o.status.success() {
        anyhow::bail!("Slurm is unreachable (squeue): {}", stderr_of(&o));
    }
    Ok(parse_squeue(&String::from_utf8_lossy(&o.stdout)))
}

/// `squeue -h -r -o %i|%T|%r|%N` lines, by task.
fn parse_squeue(text: &str) -> HashMap<String, Live> {
    let mut out = HashMap::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split('|').collect();
        if f.len() >= 4 {
            let live = Live {
                state: f[1].to_string(),
                reason: f[2].to_string(),
                node: f[3].to_string(),
            };
            out.insert(f[0].to_string(), live);
        }
    }
    out
}

/// `sacct -X -n -P -o JobID,State,ExitCode` lines: the task's row (`CANCELLED by 0` -> CANCELLED).
fn parse_sacct(text: &str, key: &str) -> Option<Final> {
    text.lines().find_map(|line| {
        let f: Vec<&str> = line.split('|').collect();
        (f.len() >= 3 && f[0] == key).then(|| Final {
            state: f[1].split_whitespace().next().unwrap_or("").to_string(),
            exit_code: f[2].to_string(),
            source: "sacct",
        })
    })
}

/// `scontrol show job -o` of one task: its JobState and ExitCode.
fn parse_scontrol(text: &str) -> Option<Final> {
    let field = |k: &str| {
        text.split_whitespace()
            .find_map(|w| w.strip_prefix(&format!("{k}=")))
            .map(String::from)
    };
    Some(Final {
        state: field("JobState")?,
        exit_code: field("ExitCode").unwrap_or_default(),
        source: "scontrol",
    })
}

/// How an ended task ended: `sacct` where the site has accounting (asked a few times over
/// some seconds: the controller hands a job's end to accounting a moment after it ends), else
/// `scontrol show job` (which remembers ended jobs for MinJobAge seconds); None when Slurm no
/// longer knows.
pub fn final_state(key: &str) -> Option<Final> {
    let args: Vec<String> = ["-j", key, "-X", "-n", "-P", "-o", "JobID,State,ExitCode"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for _ in 0..10 {
        let Ok(o) = run("sacct", &args) else { break };
        let text = String::from_utf8_lossy(&o.stdout);
        if !o.status.success() || text.contains("accounting storage is disabled") {
            break;
        }
        match parse_sacct(&text, key) {
            Some(f) if f.is_final() => return Some(f),
            _ => std::thread::sleep(std::time::Duration::from_millis(500)),
        }
    }
    let o = run(
        "scontrol",
        &["show".into(), "job".into(), "-o".into(), key.into()],
    )
    .ok()?;
    if !o.status.success() {
        return None;
    }
    parse_scontrol(&String::from_utf8_lossy(&o.stdout))
}

/// `scancel` of these tasks; `signal` (with `--batch`) signals the batch shell — which is the
/// run itself — instead of ending the task.
pub fn scancel(keys: &[String], signal: Option<&str>) -> anyhow::Result<()> {
    if keys.is_empty() {
        return Ok(());
    }
    let mut args: Vec<String> = Vec::new();
    if let Some(s) = signal {
        args.push(format!("--signal={s}"));
        args.push("--batch".into());
    }
    args.extend_from_slice(keys);
    let o = run("scancel", &args)?;
    if !o.status.success() {
        anyhow::bail!("scancel: {}", stderr_of(&o));
    }
    Ok(())
}

/// Releases a job submitted on hold.
pub fn release(job: &str) -> anyhow::Result<()> {
    let o = run("scontrol", &["release".into(), job.into()])?;
    if !o.status.success() {
        anyhow::bail!("scontrol release {job}: {}", stderr_of(&o));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn squeue_lines_by_task() {
        let q =
            parse_squeue("12_0|RUNNING|None|node1\n12_1|PENDING|JobArrayTaskLimit|\nbad line\n");
        assert_eq!(q.len(), 2);
        assert_eq!(q["12_0"].node, "node1");
        assert_eq!(q["12_1"].reason, "JobArrayTaskLimit");
    }

    /// A site with accounting: sacct's row of the task; the state's `by UID` is dropped.
    #[test]
    fn sacct_rows() {
        let text = "12_0|COMPLETED|0:0\n12_1|CANCELLED by 0|0:15\n12_2|TIMEOUT|0:0\n";
        let f = parse_sacct(text, "12_1").unwrap();
        assert_eq!(
            (f.state.as_str(), f.exit_code.as_str()),
            ("CANCELLED", "0:15")
        );
        assert!(f.resumable() && !f.by_the_cluster());
        let t = parse_sacct(text, "12_2").unwrap();
        assert!(t.resumable() && t.by_the_cluster());
        assert!(parse_sacct(text, "12_9").is_none());
    }

    /// A site without accounting: the controller's record of a recently ended task.
    #[test]
    fn scontrol_records() {
        let text = "JobId=14 ArrayJobId=12 ArrayTaskId=2 JobName=ddim-sweep.x JobState=OUT_OF_MEMORY Reason=OutOfMemory ExitCode=0:125\n";
        let f = parse_scontrol(text).unwrap();
        assert_eq!(f.state, "OUT_OF_MEMORY");
        assert_eq!(f.exit_code, "0:125");
        assert!(!f.resumable(), "out of memory fails the run");
        for s in ["PREEMPTED", "NODE_FAIL"] {
            let f = Final {
                state: s.into(),
                exit_code: String::new(),
                source: "sacct",
            };
            assert!(f.resumable() && f.by_the_cluster(), "{s}");
        }
        let failed = Final {
            state: "FAILED".into(),
            exit_code: "1:0".into(),
            source: "sacct",
        };
        assert!(!failed.resumable());
        assert!(parse_scontrol("slurm_load_jobs error: Invalid job id specified").is_none());
    }
}
