//! `run.json`: a run's status and provenance.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Queued,
    Running,
    Completed,
    Failed,
    Interrupted,
    /// Stopped early by the sweep's rule (checkpointed; continues only with --resume-stopped).
    Stopped,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = serde_json::to_value(self).expect("serialisable");
        f.write_str(s.as_str().unwrap_or("?"))
    }
}

/// The environment through which an executor tells a run which task runs it (see
/// [`Task::from_env`]): every executor sets these for the `train` it starts.
pub mod task_env {
    /// The executor's kind, e.g. `slurm`.
    pub const KIND: &str = "DDIM_TASK_KIND";
    /// The task's key in the executor's own terms (a Slurm array task: `JOBID_TASKID`).
    pub const KEY: &str = "DDIM_TASK_KEY";
    /// The node (machine) the task runs on.
    pub const NODE: &str = "DDIM_TASK_NODE";
    /// How many times the executor requeued the task by itself (Slurm's restart count).
    pub const RESTARTS: &str = "DDIM_TASK_RESTARTS";
}

/// The executor's task that ran a run's current (or last) attempt: what kind of executor,
/// its key there (`scancel`, `squeue -j` and `sacct` take a Slurm key), and the node. Runs
/// started as child processes by the local executor have none.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "TaskRecord")]
pub struct Task {
    pub kind: String,
    pub key: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub node: String,
    /// How many times the executor requeued the task by itself (after a lost node, say).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restarts: Option<u32>,
}

/// A task as run.json holds it: this version's form, or the Slurm-only form of earlier
/// versions (`slurm: {job_id, task_id, node, restarts}`).
#[derive(Deserialize)]
#[serde(untagged)]
enum TaskRecord {
    Neutral {
        kind: String,
        key: String,
        #[serde(default)]
        node: String,
        #[serde(default)]
        restarts: Option<u32>,
    },
    Slurm {
        job_id: String,
        task_id: String,
        #[serde(default)]
        node: String,
        #[serde(default)]
        restarts: Option<u32>,
    },
}

impl From<TaskRecord> for Task {
    fn from(r: TaskRecord) -> Task {
        match r {
            TaskRecord::Neutral {
                kind,
                key,
                node,
                restarts,
            } => Task {
                kind,
                key,
                node,
                restarts,
            },
            TaskRecord::Slurm {
                job_id,
                task_id,
                node,
                restarts,
            } => Task {
                kind: "slurm".into(),
                key: format!("{job_id}_{task_id}"),
                node,
                restarts,
            },
        }
    }
}

impl Task {
    /// The task this process runs in, from the environment its executor set ([`task_env`]);
    /// None when no executor's task runs it (the local executor, or by hand).
    pub fn from_env() -> Option<Task> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        Some(Task {
            kind: var(task_env::KIND)?,
            key: var(task_env::KEY)?,
            node: var(task_env::NODE).unwrap_or_default(),
            restarts: var(task_env::RESTARTS).and_then(|v| v.parse().ok()),
        })
    }
}

/// Fields other than `status` default when absent (a queued run has few of them).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct RunInfo {
    pub status: Status,
    /// The sweep this run belongs to, when an orchestrator created it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// A readable name (the sweep's varying flags), used for the TensorBoard directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Why the run failed or stopped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When the run was first started (RFC 3339, UTC).
    pub created: String,
    /// When the current (or last) attempt started.
    pub started: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended: Option<String>,
    /// Seconds spent training, summed over attempts.
    pub seconds: f64,
    /// How many times a process has worked on this run.
    pub attempts: u32,
    pub host: String,
    pub pid: u32,
    pub seed: i64,
    pub tool_version: String,
    pub git_commit: String,
    pub tch_version: String,
    pub libtorch_version: String,
    pub device: String,
    /// The precision the run trains in (`precision=auto` resolved at its first start, then
    /// kept: a run resumed on another machine does not switch half way).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub precision: Option<crate::flags::Precision>,
    /// `CUDA_VISIBLE_DEVICES` as the run saw it (the physical GPU behind `cuda:0` of a slot).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cuda_visible_devices: Option<String>,
    /// The executor's task that runs (or ran) the current (or last) attempt, when an
    /// executor other than the local one ran it (`slurm` in run.json of earlier versions).
    #[serde(skip_serializing_if = "Option::is_none", alias = "slurm")]
    pub task: Option<Task>,
    /// libtorch's intra-op CPU threads.
    pub threads: i64,
    pub parameters: i64,
    pub train_images: i64,
    pub valid_images: i64,
    /// Dataset files that could not be decoded and were left out (path: reason).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped_images: Vec<String>,
    /// Progress at the last checkpoint or the end.
    pub epoch: i64,
    pub step: i64,
    pub total_steps: i64,
    /// Final metrics (validation noise_loss, image_loss; MAE), when completed.
    pub metrics: BTreeMap<String, f64>,
    /// The run's flags as recorded when it was created (name: value as text): `flags.yaml`
    /// is checked against them wherever the run is read (see [`super::RunDir::read_flags`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flags: Option<BTreeMap<String, String>>,
    /// Every ended attempt, oldest first: how it ended, why, where (a lost node shows here).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<Attempt>,
    /// A run of the user's program: what ran and how it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub program: Option<ProgramRun>,
}

/// What a run of the user's program (`command:`) records beside the common fields.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProgramRun {
    /// The words it was started with (placeholders and flags filled in).
    pub argv: Vec<String>,
    /// Its metrics and their directions (`lower` | `higher`), the headline first: a
    /// report declares them from here.
    pub metrics: Vec<(String, String)>,
    /// The hash of the sources copied into the run (see `store::program_file`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub sources_hash: String,
    /// The last attempt's exit code, or the signal that ended it (`SIGKILL`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit: Option<String>,
    /// The last lines of its standard error (a failed attempt's).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stderr_tail: Vec<String>,
    /// Final values that are not finite (`NaN`, `inf`, `-inf`): JSON has no such numbers, so
    /// they are kept here by name, and left out of `metrics` (they rank last).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub non_finite: BTreeMap<String, String>,
}

/// One ended attempt of a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Attempt {
    pub attempt: u32,
    pub started: String,
    /// When it ended; absent for a `lost` attempt (its process could not say).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended: Option<String>,
    /// completed, failed, interrupted, stopped, or `lost`: its process vanished without
    /// recording its end (killed, or its node lost).
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub host: String,
    /// The node, when an executor's task ran it.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub node: String,
    /// The last step it recorded (its checkpoint's, or the end).
    pub step: i64,
}

impl Attempt {
    /// The attempt `info` describes, ended with its current status and reason.
    pub fn of(info: &RunInfo) -> Attempt {
        Attempt {
            attempt: info.attempts,
            started: info.started.clone(),
            ended: info.ended.clone(),
            status: info.status.to_string(),
            reason: info.reason.clone(),
            host: info.host.clone(),
            node: info
                .task
                .as_ref()
                .map(|t| t.node.clone())
                .unwrap_or_default(),
            step: info.step,
        }
    }
}

impl Attempt {
    /// The attempt `info` describes, vanished without recording its end, and why.
    pub fn lost(info: &RunInfo, why: String) -> Attempt {
        Attempt {
            ended: None,
            status: "lost".into(),
            reason: Some(why),
            ..Attempt::of(info)
        }
    }
}

impl RunInfo {
    /// Records `a` in `history`, replacing an entry of the same attempt (the last word about
    /// it wins); nothing before the first attempt.
    pub fn record(&mut self, a: Attempt) {
        if a.attempt == 0 {
            return;
        }
        match self.history.last_mut() {
            Some(last) if last.attempt == a.attempt => *last = a,
            _ => self.history.push(a),
        }
    }
}

/// The record of `flags` kept in run.json.
pub fn flags_record(flags: &crate::flags::Flags) -> BTreeMap<String, String> {
    flags
        .to_map()
        .into_iter()
        .map(|(k, v)| (k, crate::flags::plain_value(&v)))
        .collect()
}

impl Default for RunInfo {
    fn default() -> Self {
        RunInfo {
            status: Status::Queued,
            label: None,
            name: None,
            reason: None,
            created: String::new(),
            started: String::new(),
            ended: None,
            seconds: 0.0,
            attempts: 0,
            host: String::new(),
            pid: 0,
            seed: 0,
            tool_version: String::new(),
            git_commit: String::new(),
            tch_version: String::new(),
            libtorch_version: String::new(),
            device: String::new(),
            precision: None,
            cuda_visible_devices: None,
            task: None,
            threads: 0,
            flags: None,
            history: Vec::new(),
            program: None,
            parameters: 0,
            train_images: 0,
            valid_images: 0,
            skipped_images: Vec::new(),
            epoch: 0,
            step: 0,
            total_steps: 0,
            metrics: BTreeMap::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_reads_in_both_forms_and_writes_the_neutral_one() {
        let old: RunInfo = serde_json::from_str(
            r#"{"status": "running", "slurm": {"job_id": "12", "task_id": "3", "node": "n1", "restarts": 1}}"#,
        )
        .unwrap();
        let want = Task {
            kind: "slurm".into(),
            key: "12_3".into(),
            node: "n1".into(),
            restarts: Some(1),
        };
        assert_eq!(old.task.as_ref(), Some(&want));
        let written = serde_json::to_value(&old).unwrap();
        assert_eq!(
            written["task"],
            serde_json::json!({"kind": "slurm", "key": "12_3", "node": "n1", "restarts": 1})
        );
        assert!(written.get("slurm").is_none());
        let again: RunInfo = serde_json::from_value(written).unwrap();
        assert_eq!(again.task, Some(want));
        let queued: RunInfo = serde_json::from_str(
            r#"{"status": "queued", "task": {"kind": "k8s", "key": "job-7"}}"#,
        )
        .unwrap();
        assert_eq!(queued.task.unwrap().node, "");
    }
}
