//! Multi-fidelity search through the binary: `search:` with a `hyperband` or `median` stop
//! rule gives the same trials, the same stops and the same rungs fitted on with `--jobs 1`,
//! `--jobs 2`, and after a SIGKILL of `run` and the same command again; bad settings are
//! refused with their line.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// A program that reports `loss` every epoch, slower for larger x (so that runs finish in
/// different orders with more than one job), best near x = 0.3, y = 0.6.
const PROGRAM: &str = "#!/bin/sh\ne=1\nwhile [ $e -le $DDIM_FLAG_EPOCHS ]; do\n\
  awk -v x=\"$DDIM_FLAG_X\" -v y=\"$DDIM_FLAG_Y\" -v e=$e 'BEGIN { printf \"epoch: %d\\nloss: %.9f\\n\", e, (x-0.3)^2 + (y-0.6)^2 + 1/e + 0.05*sin(7*x*e) }'\n\
  sleep $(awk -v x=\"$DDIM_FLAG_X\" 'BEGIN { printf \"%.3f\", 0.01 + 0.08*x }')\n\
  e=$((e+1))\ndone\n";

fn sweep(rule: &str, after: u32) -> String {
    format!(
        "label: mf\ncommand: [./f.sh]\nmetrics:\n  loss: lower\nflags:\n  epochs: 9\n\
         search:\n  sampler: tpe\n  metric: loss\n  trials: 14\n  parallel: 2\n  startup: 4\n  seed: 2\n  space:\n    x: uniform(0, 1)\n    y: uniform(0, 1)\n\
         stop:\n  metric: loss\n  rule: {rule}\n  after_epochs: {after}\n  eta: 3\n  min_runs: 1\n"
    )
}

/// What must not depend on the jobs: each trial's run, flags and rung fitted on, and each
/// run's status with the epoch where it was stopped.
type Outcome = (
    Vec<(String, String, Option<i64>)>,
    BTreeMap<String, (String, i64)>,
);

fn outcome(runs: &Path) -> Outcome {
    let rec = read_json(&runs.join("mf/sweep.json"));
    let trials = rec["search"]["trials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["run"].as_str().unwrap().to_string(),
                t["flags"].to_string(),
                t["fitted_on"].as_i64(),
            )
        })
        .collect();
    let mut ends = BTreeMap::new();
    for dir in run_folders(runs, "mf") {
        let info = read_json(&dir.join("run.json"));
        let stopped_at = std::fs::read_to_string(dir.join("stop.json"))
            .ok()
            .map(|t| {
                serde_json::from_str::<serde_json::Value>(&t).unwrap()["epoch"]
                    .as_i64()
                    .unwrap()
            })
            .unwrap_or(0);
        ends.insert(
            dir.file_name().unwrap().to_string_lossy().into_owned(),
            (info["status"].as_str().unwrap().to_string(), stopped_at),
        );
    }
    (trials, ends)
}

fn run_to_end(sweep: &str, runs: &Path, jobs: &str) -> Outcome {
    let o = cmd(&run_args(sweep, runs, &["--jobs", jobs]))
        .env("DDIM_STOP_GRACE", "1")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    outcome(runs)
}

#[test]
fn a_tpe_hyperband_search_decides_the_same_whatever_the_jobs_and_a_kill() {
    let d = tempfile::tempdir().unwrap();
    write_exec(d.path(), "f.sh", PROGRAM);
    let s = write_sweep(d.path(), "s.yaml", &sweep("hyperband", 1));
    let one = run_to_end(&s, &d.path().join("runs1"), "1");
    let (trials, ends) = &one;
    assert_eq!(trials.len(), 14);
    let stopped: Vec<i64> = ends
        .values()
        .filter(|(s, _)| s == "stopped")
        .map(|(_, e)| *e)
        .collect();
    assert!(stopped.len() >= 2, "{ends:?}");
    assert!(
        stopped.iter().all(|e| [1, 3].contains(e)),
        "stopped at rungs: {ends:?}"
    );
    assert!(
        trials.iter().any(|(_, _, on)| on.is_some_and(|e| e < 9)),
        "a trial fitted on a rung below the end: {trials:?}"
    );
    assert_eq!(
        run_to_end(&s, &d.path().join("runs2"), "2"),
        one,
        "--jobs 2"
    );

    // SIGKILL of run part-way, then the same command.
    let runs3 = d.path().join("runs3");
    let mut child = cmd(&run_args(&s, &runs3, &["--jobs", "2"]))
        .env("DDIM_STOP_GRACE", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_for("6 trials to start", Duration::from_secs(60), || {
        runs3.join("mf").is_dir()
            && run_folders(&runs3, "mf")
                .iter()
                .filter(|d| d.join("run.json").exists())
                .count()
                >= 6
    });
    send_signal(&child, libc::SIGKILL);
    child.wait().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(run_to_end(&s, &runs3, "2"), one, "after SIGKILL and rerun");
}

#[test]
fn a_search_with_a_median_rule_decides_the_same_whatever_the_jobs() {
    let d = tempfile::tempdir().unwrap();
    write_exec(d.path(), "f.sh", PROGRAM);
    let s = write_sweep(d.path(), "s.yaml", &sweep("median", 2));
    let one = run_to_end(&s, &d.path().join("runs1"), "1");
    assert!(
        one.1.values().filter(|(s, _)| s == "stopped").count() >= 2,
        "{:?}",
        one.1
    );
    assert_eq!(run_to_end(&s, &d.path().join("runs2"), "2"), one);
}

#[test]
fn bad_multi_fidelity_settings_are_refused_with_their_line() {
    let d = tempfile::tempdir().unwrap();
    write_exec(d.path(), "f.sh", PROGRAM);
    let runs = d.path().join("runs");
    let base = sweep("hyperband", 1);
    let cases = [
        (
            base.replace("flags:\n  epochs: 9\n", ""),
            "s.yaml:",
            "does not set: add epochs:",
        ),
        (
            base.replace("epochs: 9", "epochs: 1"),
            "s.yaml:",
            "after_epochs (1) must be below the runs' epochs (1)",
        ),
        (
            base.replace("eta: 3", "eta: 1"),
            "s.yaml:21",
            "eta must be at least 2",
        ),
        (
            base.replace("rule: hyperband", "rule: pbt"),
            "s.yaml:19",
            "expected median, asha or hyperband",
        ),
    ];
    for (body, at, want) in cases {
        let s = write_sweep(d.path(), "s.yaml", &body);
        let o = run(&run_args(&s, &runs, &["--dry-run"]));
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        assert_eq!(o.status.code(), Some(2), "{body}: {}", text(&o));
        assert!(err.contains(at) && err.contains(want), "{body}: {err}");
    }
    // A race and hyperband's brackets.
    let race = "label: r\ncommand: [./f.sh]\nmetrics:\n  loss: lower\nflags:\n  epochs: 9\n  y: 0.5\ngrid:\n  x: [0.1, 0.5]\nrace:\n  metric: loss\n  seeds: 3\nstop:\n  metric: loss\n  rule: hyperband\n";
    let s = write_sweep(d.path(), "s.yaml", race);
    let o = run(&run_args(&s, &runs, &["--dry-run"]));
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(err.contains("s.yaml:15") && err.contains("race:"), "{err}");
}
