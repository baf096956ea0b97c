//! Interrupting and resuming a sweep (docs/sweeps.md, "Interrupt and resume"): SIGINT, SIGTERM
//! and SIGKILL of `run` then the same command again, a second orchestrator refused, runs left
//! by a dead process resumed, failures alone or under --fail-fast, Ctrl-C twice.

mod common;
use common::*;
use std::fs;
use std::path::Path;
use std::time::Duration;

/// A sweep slow enough to be stopped in the middle: 4 runs, 2 at a time.
fn slow_sweep(dir: &Path, label: &str) -> String {
    let body = sweep_body(
        label,
        "  epochs: 3\n  max_images: 400\n  image_size: 32\n  checkpoint_every: 4\n",
        "  loss_on: [noise, image]\n  schedule_type: [linear, cosine]\n",
    );
    write_sweep(dir, &format!("{label}.yaml"), &body)
}

fn status_counts(runs: &Path, label: &str) -> std::collections::BTreeMap<String, usize> {
    let mut m = std::collections::BTreeMap::new();
    for id in run_dirs(runs, label) {
        let info = read_json(&runs.join(label).join(&id).join("run.json"));
        *m.entry(info["status"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    m
}

fn any_step_past(runs: &Path, label: &str, step: i64) -> bool {
    run_dirs(runs, label).iter().any(|id| {
        fs::read_to_string(runs.join(label).join(id).join("run.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .map(|v| v["step"].as_i64().unwrap_or(0) >= step)
            .unwrap_or(false)
    })
}

/// The final scalars (timing aside) of every run, by id.
fn all_scalars(runs: &Path, label: &str) -> Vec<(String, Vec<String>)> {
    run_dirs(runs, label)
        .into_iter()
        .map(|id| {
            let s = scalars_without_timing(&runs.join(label).join(&id));
            (id, s)
        })
        .collect()
}

fn stop_then_resume(signal: i32, expect_code: Option<i32>) {
    let d = tempfile::tempdir().unwrap();
    let whole = d.path().join("whole");
    let cut = d.path().join("cut");
    let s = slow_sweep(d.path(), "slow");
    let o = run(&run_args(&s, &whole, &["--jobs", "2"]));
    assert!(o.status.success(), "{}", text(&o));

    let mut child = spawn(&run_args(&s, &cut, &["--jobs", "2"]));
    wait_for("a run to checkpoint", Duration::from_secs(120), || {
        cut.join("slow").exists() && any_step_past(&cut, "slow", 4)
    });
    send_signal(&child, signal);
    let status = child.wait().unwrap();
    assert_eq!(
        status.code(),
        expect_code,
        "orchestrator exit after signal {signal}"
    );
    if signal == libc::SIGINT || signal == libc::SIGKILL {
        // Every run that was going is now interrupted (after a SIGKILL, by the SIGTERM each
        // run gets when its orchestrator dies, however many arrive); none is left running.
        wait_for("children to stop", Duration::from_secs(30), || {
            !status_counts(&cut, "slow").contains_key("running")
        });
        let counts = status_counts(&cut, "slow");
        assert!(
            counts.get("interrupted").copied().unwrap_or(0) >= 1,
            "{counts:?}"
        );
        assert!(
            counts.get("completed").copied().unwrap_or(0) < 4,
            "{counts:?}"
        );
    }
    let o = run(&run_args(&s, &cut, &["--jobs", "2"]));
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        run_dirs(&whole, "slow"),
        run_dirs(&cut, "slow"),
        "same run directories, no duplicates"
    );
    assert_eq!(status_counts(&cut, "slow").get("completed"), Some(&4));
    assert_eq!(
        all_scalars(&whole, "slow"),
        all_scalars(&cut, "slow"),
        "identical final scalars"
    );
    for id in run_dirs(&cut, "slow") {
        let rows = scalars_without_timing(&cut.join("slow").join(&id));
        let epochs: Vec<&str> = rows
            .iter()
            .skip(1)
            .map(|r| r.split(',').next().unwrap())
            .collect();
        assert_eq!(epochs, ["0", "1", "2", "3"], "each epoch once in {id}");
    }
    // A third call has nothing to do.
    let o = run(&["run", &s, "--runs-dir", cut.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("4 runs (4 completed, 0 to run)"),
        "{}",
        text(&o)
    );
}

#[test]
fn sigkill_the_orchestrator_then_resume_without_duplicates() {
    stop_then_resume(libc::SIGKILL, None);
}

#[test]
fn sigint_interrupts_runs_and_resume_finishes() {
    stop_then_resume(libc::SIGINT, Some(130));
}

#[test]
fn a_second_orchestrator_on_the_same_sweep_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let runs = d.path().join("runs");
    let s = slow_sweep(d.path(), "busy");
    let mut first = spawn(&["run", &s, "--runs-dir", runs.to_str().unwrap()]);
    wait_for(
        "the first orchestrator to start",
        Duration::from_secs(60),
        || runs.join("busy/sweep.json").exists(),
    );
    let o = run(&["run", &s, "--runs-dir", runs.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("another `ddim-sweep run` is already running sweep `busy`"),
        "{err}"
    );
    assert!(
        err.contains(&format!("pid {}", first.id())),
        "names the holder: {err}"
    );
    send_signal(&first, libc::SIGTERM);
    let st = first.wait().unwrap();
    assert_eq!(st.code(), Some(143));
}

#[test]
fn a_diverging_run_fails_alone() {
    let d = tempfile::tempdir().unwrap();
    let runs = d.path().join("runs");
    let rs = runs.to_str().unwrap();
    let body = sweep_body(
        "div",
        "  epochs: 2\n  max_images: 60\n  image_size: 16\n  loss: mse\n",
        "  lr: [0.001, 1.0e+10, 0.002]\n",
    );
    let s = write_sweep(d.path(), "div.yaml", &body);
    let o = run(&["run", &s, "--runs-dir", rs]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("2 completed now, 1 failed"), "{out}");
    assert!(out.contains("diverged at step"), "{out}");
    let counts = status_counts(&runs, "div");
    assert_eq!(counts.get("completed"), Some(&2));
    assert_eq!(counts.get("failed"), Some(&1));
    // Run again: the failed run is listed, not rerun; exit code still non-zero.
    let o = run(&["run", &s, "--runs-dir", rs]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("not rerun (use --retry-failed)") && out.contains("lr=10000000000"),
        "{out}"
    );
    // --retry-failed runs it again (and it fails again, deterministically).
    let o = run(&["run", &s, "--runs-dir", rs, "--retry-failed"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("0 completed now, 1 failed"),
        "{}",
        text(&o)
    );
    // The failure is in the run's log and run.json.
    let failed = run_dirs(&runs, "div")
        .into_iter()
        .find(|id| read_json(&runs.join("div").join(id).join("run.json"))["status"] == "failed")
        .unwrap();
    let log = fs::read_to_string(runs.join("div").join(&failed).join("train.log")).unwrap();
    assert!(log.contains("diverged at step"), "{log}");
}

#[test]
fn fail_fast_stops_the_sweep_at_the_first_failure() {
    let d = tempfile::tempdir().unwrap();
    let runs = d.path().join("runs");
    let body = sweep_body(
        "ff",
        "  epochs: 2\n  max_images: 60\n  image_size: 16\n  loss: mse\n",
        "  lr: [1.0e+10, 0.001, 0.002]\n",
    );
    let s = write_sweep(d.path(), "ff.yaml", &body);
    let o = run(&run_args(&s, &runs, &["--fail-fast"]));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("--fail-fast: stopping the other runs")
            && out.contains("0 completed now, 1 failed"),
        "{out}"
    );
    let counts = status_counts(&runs, "ff");
    assert_eq!(counts.get("failed"), Some(&1), "{counts:?}");
    assert_eq!(
        counts.get("queued"),
        Some(&2),
        "the others never started: {counts:?}"
    );
}

#[test]
fn a_run_left_running_by_a_dead_process_is_resumed() {
    let d = tempfile::tempdir().unwrap();
    let runs = d.path().join("runs");
    let rs = runs.to_str().unwrap();
    let s = slow_sweep(d.path(), "stale");
    // Plan the sweep, then train one of its runs by hand and SIGKILL it after a checkpoint:
    // its run.json says `running` with a pid that is gone (as after a crash or a reboot).
    let rows = dry_run(&s, rs, &[]);
    let id = &rows[0].0;
    let o = run(&run_args(&s, &runs, &["--set", "epochs=1", "--dry-run"]));
    assert!(o.status.success());
    let dir = runs.join("stale").join(id);
    let body = fs::read_to_string(&s).unwrap();
    let flags: Vec<String> = body
        .lines()
        .skip_while(|l| *l != "flags:")
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .map(|l| l.trim().replacen(": ", "=", 1).replace(", ", ","))
        .chain([
            "loss_on=noise".to_string(),
            "schedule_type=linear".to_string(),
        ])
        .collect();
    let mut args = vec![
        "train".to_string(),
        "--run-dir".to_string(),
        dir.to_str().unwrap().to_string(),
    ];
    args.extend(flags);
    let args: Vec<&str> = args.iter().map(|a| a.as_str()).collect();
    let mut child = spawn(&args);
    wait_for("a checkpoint", Duration::from_secs(120), || {
        running_past(&dir, 4)
    });
    send_signal(&child, libc::SIGKILL);
    child.wait().unwrap();
    assert_eq!(read_json(&dir.join("run.json"))["status"], "running");
    let states = dry_run(&s, rs, &[]);
    assert_eq!(states[0].0, *id, "the hand-made run is the sweep's own run");
    assert_eq!(
        states[0].1, "resumable",
        "a running status with a free lock: {states:?}"
    );
    // `runs` tells the truth too: not running, but interrupted with its process gone.
    let o = run(&["runs", "--runs-dir", rs]);
    let table = String::from_utf8_lossy(&o.stdout);
    let line = table.lines().find(|l| l.starts_with(id.as_str())).unwrap();
    assert!(line.contains("interrupted (process gone)"), "{table}");
    let o = run(&["runs", "--runs-dir", rs, "--status", "running"]);
    assert!(
        !String::from_utf8_lossy(&o.stdout).contains(id.as_str()),
        "{}",
        text(&o)
    );
    let o = run(&["run", &s, "--runs-dir", rs, "--jobs", "2"]);
    assert!(o.status.success(), "{}", text(&o));
    let info = read_json(&dir.join("run.json"));
    assert_eq!(info["status"], "completed");
    assert_eq!(info["attempts"], 2);
    assert_eq!(status_counts(&runs, "stale").get("completed"), Some(&4));
}

/// The pid of the run in `dir` while it is `running`.
fn running_pid(dir: &Path) -> Option<i32> {
    let t = fs::read_to_string(dir.join("run.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&t).ok()?;
    (v["status"] == "running").then(|| v["pid"].as_i64().unwrap() as i32)
}

fn signal_pid(pid: i32, sig: i32) {
    // SAFETY: kill(2) on a process this test started (through the orchestrator).
    assert_eq!(unsafe { libc::kill(pid, sig) }, 0, "kill {pid} {sig}");
}

/// Reads the orchestrator's stdout on a thread; returns the lines seen so far.
fn collect_lines(child: &mut std::process::Child) -> std::sync::Arc<std::sync::Mutex<String>> {
    use std::io::BufRead;
    let out = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let stdout = child.stdout.take().unwrap();
    let o = out.clone();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let mut s = o.lock().unwrap();
            s.push_str(&line);
            s.push('\n');
        }
    });
    out
}

/// The sweep's last invocation in sweep.json.
fn last_invocation(runs: &Path, label: &str) -> serde_json::Value {
    let rec = read_json(&runs.join(label).join("sweep.json"));
    rec["invocations"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone()
}

/// Under --fail-fast, a Ctrl-C that comes after a failure (while the other runs are still
/// stopping) is the user's: exit 130, as the README promises. The surviving run is held
/// (SIGSTOP) so that it cannot end before the Ctrl-C arrives.
#[test]
fn ctrl_c_after_a_failure_under_fail_fast_exits_130() {
    let d = tempfile::tempdir().unwrap();
    let runs = d.path().join("runs");
    let body = sweep_body(
        "ffc",
        "  epochs: 3\n  max_images: 400\n  image_size: 32\n  loss: mse\n",
        "  lr: [0.001, 1.0e+10]\n",
    );
    let s = write_sweep(d.path(), "ffc.yaml", &body);
    let plan = dry_run(&s, runs.to_str().unwrap(), &[]);
    let good = runs.join("ffc").join(&plan[0].0);
    let mut child = spawn(&run_args(&s, &runs, &["--fail-fast", "--jobs", "2"]));
    let out = collect_lines(&mut child);
    let mut pid = None;
    wait_for("the good run to start", Duration::from_secs(120), || {
        pid = running_pid(&good);
        pid.is_some()
    });
    signal_pid(pid.unwrap(), libc::SIGSTOP);
    wait_for("the failure", Duration::from_secs(120), || {
        out.lock()
            .unwrap()
            .contains("--fail-fast: stopping the other runs")
    });
    send_signal(&child, libc::SIGINT);
    std::thread::sleep(Duration::from_millis(300));
    signal_pid(pid.unwrap(), libc::SIGCONT);
    let status = child.wait().unwrap();
    let out = out.lock().unwrap().clone();
    assert_eq!(status.code(), Some(130), "{out}");
    assert_eq!(read_json(&good.join("run.json"))["status"], "interrupted");
    let inv = last_invocation(&runs, "ffc");
    assert_eq!(inv["outcome"], "interrupted (SIGINT)", "{inv}");
    assert_eq!(inv["failed"], 1, "{inv}");
}

/// A second Ctrl-C ends the runs at once, and the invocation is still recorded (ended,
/// outcome) in sweep.json; the runs are interrupted, and resume.
#[test]
fn a_second_ctrl_c_still_records_the_invocation() {
    let d = tempfile::tempdir().unwrap();
    let runs = d.path().join("runs");
    let s = slow_sweep(d.path(), "twice");
    let plan = dry_run(&s, runs.to_str().unwrap(), &[]);
    let first = runs.join("twice").join(&plan[0].0);
    let mut child = spawn(&run_args(&s, &runs, &[]));
    let mut pid = None;
    wait_for("the first run to start", Duration::from_secs(120), || {
        pid = running_pid(&first);
        pid.is_some()
    });
    // Held, so that the first Ctrl-C cannot let it finish its step and stop by itself.
    signal_pid(pid.unwrap(), libc::SIGSTOP);
    send_signal(&child, libc::SIGINT);
    std::thread::sleep(Duration::from_millis(300));
    send_signal(&child, libc::SIGINT);
    let status = child.wait().unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(status.code(), Some(130), "{}", text(&out));
    let inv = last_invocation(&runs, "twice");
    assert!(inv["ended"].is_string(), "{inv}");
    assert_eq!(inv["outcome"], "interrupted (SIGINT)", "{inv}");
    assert_eq!(inv["interrupted"], 4, "1 killed + 3 never started: {inv}");
    let info = read_json(&first.join("run.json"));
    assert_eq!(info["status"], "interrupted", "{info}");
    assert!(
        info["reason"].as_str().unwrap().contains("second signal"),
        "{info}"
    );
    // SAFETY: signal 0 asks whether the killed run is gone.
    assert_ne!(unsafe { libc::kill(pid.unwrap(), 0) }, 0, "the run is gone");
}
