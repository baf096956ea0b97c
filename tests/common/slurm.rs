//! Helpers for the Slurm tests: run directories, their run.json, and the comparison with
//! the local executor.

use super::{read_json, scalars_without_timing};
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

/// One scenario at a time on a test process's cluster (its CPUs, and the throttle checks).
static SERIAL: Mutex<()> = Mutex::new(());

pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Every run of a sweep completed by a Slurm task, never more than `jobs` at once (from the
/// runs' own start and end times); the nodes they ran on.
pub fn completed_on_slurm(runs: &Path, label: &str, jobs: usize) -> BTreeSet<String> {
    let mut nodes = BTreeSet::new();
    let spans: Vec<(f64, f64)> = run_paths(runs, label)
        .iter()
        .map(|r| {
            let i = info(r);
            assert_eq!(i["status"], "completed");
            assert_eq!(i["task"]["kind"], "slurm", "{i}");
            nodes.insert(i["task"]["node"].as_str().unwrap().to_string());
            (seconds(&i["started"]), seconds(&i["ended"]))
        })
        .collect();
    for (s0, _) in &spans {
        let at_once = spans.iter().filter(|(a, b)| a <= s0 && s0 < b).count();
        assert!(at_once <= jobs, "{at_once} runs at once: {spans:?}");
    }
    nodes
}

/// The run directories (with flags.yaml) of a sweep, in id order.
pub fn run_paths(runs: &Path, label: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(runs.join(label))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.join("flags.yaml").exists())
        .collect();
    v.sort();
    v
}

pub fn info(dir: &Path) -> serde_json::Value {
    read_json(&dir.join("run.json"))
}

/// The Slurm task (`JOBID_TASKID`) of a run, from its run.json.
pub fn slurm_key(dir: &Path) -> String {
    let i = info(dir);
    assert_eq!(i["task"]["kind"], "slurm", "{i}");
    i["task"]["key"].as_str().unwrap().to_string()
}

pub fn seconds(t: &serde_json::Value) -> f64 {
    let t = humantime::parse_rfc3339(t.as_str().unwrap()).unwrap();
    t.duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// The same runs trained by the local executor and by Slurm give the same numbers.
pub fn assert_same_numbers(local: &Path, slurm: &Path, label: &str) {
    let a = run_paths(local, label);
    let b = run_paths(slurm, label);
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x.file_name(), y.file_name(), "same run ids");
        assert_eq!(
            scalars_without_timing(x),
            scalars_without_timing(y),
            "{}",
            y.display()
        );
        assert_eq!(
            fs::read(x.join("model.safetensors")).unwrap(),
            fs::read(y.join("model.safetensors")).unwrap(),
            "bit-identical weights of {}",
            y.display()
        );
    }
}
