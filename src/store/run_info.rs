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

/// A Slurm array task: `JOBID_TASKID` names it for `scancel`, `squeue -j` and `sacct`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SlurmTask {
    /// The array's job id (`SLURM_ARRAY_JOB_ID`).
    pub job_id: String,
    /// The task's index in the array (`SLURM_ARRAY_TASK_ID`).
    pub task_id: String,
    /// The node the task ran on (`SLURMD_NODENAME`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub node: String,
    /// How many times Slurm requeued the task (`SLURM_RESTART_COUNT`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restarts: Option<u32>,
}

impl SlurmTask {
    /// The task this process runs in, from Slurm's environment; None outside an array task.
    pub fn from_env() -> Option<SlurmTask> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        Some(SlurmTask {
            job_id: var("SLURM_ARRAY_JOB_ID")?,
            task_id: var("SLURM_ARRAY_TASK_ID")?,
            node: var("SLURMD_NODENAME").unwrap_or_default(),
            restarts: var("SLURM_RESTART_COUNT").and_then(|v| v.parse().ok()),
        })
    }

    /// `JOBID_TASKID`.
    pub fn key(&self) -> String {
        format!("{}_{}", self.job_id, self.task_id)
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
    /// The Slurm task that ran the current (or last) attempt, when Slurm ran it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slurm: Option<SlurmTask>,
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
    /// The Slurm node, when Slurm ran it.
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
                .slurm
                .as_ref()
                .map(|s| s.node.clone())
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
            slurm: None,
            threads: 0,
            flags: None,
            history: Vec::new(),
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
