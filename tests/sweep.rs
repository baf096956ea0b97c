//! `ddim-sweep run` and `ddim-sweep runs`: the real orchestrator and its child processes.

mod common;
use common::*;
use std::fs;
use std::path::Path;
use std::time::Duration;

#[test]
fn expansion_exclude_set_and_dry_run_states() {
    let d = tempfile::tempdir().unwrap();
    let runs = d.path().join("runs");
    let rs = runs.to_str().unwrap();
    let body = sweep_body(
        "exp",
        "  epochs: 1\n  max_images: 40\n  image_size: 16\n",
        "  loss: [mae, mse]\n  loss_on: [noise, image]\n  schedule_type: [linear, cosine]\nexclude:\n  - {loss: mse, loss_on: image}\n",
    );
    let s = write_sweep(d.path(), "s.yaml", &body);
    let rows = dry_run(&s, rs, &[]);
    let flags: Vec<&str> = rows.iter().map(|r| r.2.as_str()).collect();
    assert_eq!(
        flags,
        [
            "loss=mae loss_on=noise schedule_type=linear",
            "loss=mae loss_on=noise schedule_type=cosine",
            "loss=mae loss_on=image schedule_type=linear",
            "loss=mae loss_on=image schedule_type=cosine",
            "loss=mse loss_on=noise schedule_type=linear",
            "loss=mse loss_on=noise schedule_type=cosine",
        ]
    );
    assert!(rows.iter().all(|r| r.1 == "new"));
    assert!(!runs.exists(), "a dry run writes nothing");
    // --set narrows a grid flag and changes a fixed one (new ids).
    let narrowed = dry_run(&s, rs, &["--set", "loss=mse", "--set", "epochs=2"]);
    assert_eq!(narrowed.len(), 2);
    assert!(narrowed.iter().all(|r| !rows.iter().any(|o| o.0 == r.0)));

    // Run two of them (--set schedule_type=linear), then the states show it.
    let o = run(&run_args(
        &s,
        Path::new(rs),
        &["--set", "schedule_type=linear", "--jobs", "2"],
    ));
    assert!(o.status.success(), "{}", text(&o));
    let after = dry_run(&s, rs, &[]);
    for (r, a) in rows.iter().zip(&after) {
        assert_eq!(r.0, a.0, "same ids");
        let want = if r.2.ends_with("linear") {
            "completed"
        } else {
            "new"
        };
        assert_eq!(a.1, want, "{}", a.2);
    }
    // runs: one row per run, with the varying flags and metrics.
    let o = run(&["runs", "--runs-dir", rs, "--format", "csv"]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0],
        "id,label,status,loss,loss_on,schedule_type,noise_loss,image_loss,seconds"
    );
    assert_eq!(lines.len(), 4, "{out}");
    assert!(
        lines[1].contains(",exp,completed,mae,noise,linear,0."),
        "{out}"
    );
    let o = run(&[
        "runs",
        "--runs-dir",
        rs,
        "--format",
        "json",
        "--status",
        "completed",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 3);
    assert!(v[0]["metrics"]["noise_loss"].as_f64().unwrap() > 0.0);
}

#[test]
fn bad_sweep_files_name_file_line_and_fix() {
    let d = tempfile::tempdir().unwrap();
    let rs = d.path().join("runs");
    let rs = rs.to_str().unwrap();
    let cases: &[(&str, &str)] = &[
        (
            "label: a\ngrid:\n  loss: [mae\n",
            ":4:1: did not find expected ',' or ']'",
        ),
        (
            "label: a\ngrid:\n  bach_size: [1, 2]\n",
            ":3: grid: unknown flag `bach_size` (did you mean `batch_size`?)",
        ),
        (
            "label: a\ngrid:\n  loss: [mae, huber]\n",
            ":3: grid: invalid value for flag `loss`: `huber`; expected one of mae, mse (l1 = mae)",
        ),
        (
            "label: a\nflags:\n  loss: mae\ngrid:\n  loss: [mae, mse]\n",
            ":5: flag `loss` is both fixed (under flags:) and in the grid",
        ),
        (
            "label: a\ngrid:\n  loss: []\n",
            ":3: grid: `loss` has an empty list",
        ),
        (
            "label: a\ngrid:\n  epochs: [1, 2, 1]\n",
            ":3: grid: `epochs` lists `1` twice",
        ),
        (
            "label: my runs/x\n",
            ":1: label `my runs/x` is not a safe directory name",
        ),
        (
            "label: a\ngrids:\n  loss: [mae]\n",
            ":2:1: unknown field `grids`",
        ),
        // The executor's block is checked whichever executor runs the sweep.
        (
            "label: a\nslurm:\n  time: \"1:00:00\"\n  partiton: gpu\n",
            ":4:3: slurm: unknown field `partiton`, expected one of `partition`",
        ),
        (
            "label: a\nslrum:\n  time: 1\n",
            ":2:1: unknown field `slrum` (a sweep file has label, flags, grid, seeds, exclude, random, stop, race, search, and a block per executor: slurm); did you mean `slurm`?",
        ),
    ];
    for (i, (body, expected)) in cases.iter().enumerate() {
        let s = write_sweep(d.path(), &format!("bad{i}.yaml"), body);
        let o = run(&["run", &s, "--runs-dir", rs]);
        assert_eq!(o.status.code(), Some(2), "{body}: {}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains(&format!("bad{i}.yaml{expected}")),
            "{body}\nexpected `{expected}` in:\n{err}"
        );
    }
    let o = run(&["run", "/nonexistent/s.yaml", "--runs-dir", rs]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr)
        .contains("/nonexistent/s.yaml: cannot read the sweep file"));
    assert!(
        !Path::new(rs).exists(),
        "nothing written for a refused sweep"
    );
}

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
    if signal == libc::SIGINT {
        // Every run that was going is now interrupted; none is left running.
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

/// `--gpus 0,1 --runs-per-gpu 2` (the GPU slots, exercised with device=cpu runs): four runs at
/// once, each pinned to its GPU through CUDA_VISIBLE_DEVICES, two per GPU, the cores shared.
#[test]
fn gpu_slots_pin_each_run_to_its_gpu() {
    let d = tempfile::tempdir().unwrap();
    let runs = d.path().join("runs");
    let body = sweep_body(
        "gpus",
        "  epochs: 1\n  max_images: 40\n  image_size: 16\n",
        "  seed: [1, 2, 3, 4]\n",
    );
    let sweep = write_sweep(d.path(), "s.yaml", &body);
    let o = cmd(&run_args(
        &sweep,
        &runs,
        &["--gpus", "0,1", "--runs-per-gpu", "2"],
    ))
    .env_remove("OMP_NUM_THREADS")
    .output()
    .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut per_gpu = std::collections::BTreeMap::new();
    for id in run_dirs(&runs, "gpus") {
        let info = read_json(&runs.join("gpus").join(&id).join("run.json"));
        assert_eq!(info["status"], "completed");
        assert_eq!(info["device"], "cpu");
        assert_eq!(info["threads"], (cores / 4).max(1) as i64, "{info}");
        *per_gpu
            .entry(info["cuda_visible_devices"].as_str().unwrap().to_string())
            .or_insert(0) += 1;
    }
    assert_eq!(
        per_gpu,
        [("0".to_string(), 2), ("1".to_string(), 2)]
            .into_iter()
            .collect()
    );
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

#[test]
fn misused_options_exit_2_like_clap() {
    let d = tempfile::tempdir().unwrap();
    let rs = d.path().to_str().unwrap();
    let s = write_sweep(
        d.path(),
        "u.yaml",
        &sweep_body("u", "  epochs: 1\n", "  loss: [mae]\n"),
    );
    for args in [
        vec!["runs", "--runs-dir", rs, "--status", "nonsense"],
        vec!["report", "--runs-dir", rs, "--sort", "nonsense"],
        vec!["report", "--runs-dir", rs, "--device", "tpu"],
        vec!["run", &s, "--runs-dir", rs, "--jobs", "0"],
    ] {
        let o = run(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("nonsense") || err.contains("tpu") || err.contains("--jobs"),
            "{err}"
        );
    }
    // --runs-dir naming a file: exit 2, naming the option, for every command that takes it.
    for cmd in [vec!["run", s.as_str()], vec!["runs"], vec!["report"]] {
        let mut args = cmd.clone();
        args.extend(["--runs-dir", s.as_str()]);
        let o = run(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("--runs-dir") && err.contains("is a file, not a directory"),
            "{err}"
        );
    }
}

/// A random search: drawn values depend only on the file (pinned here, so every machine
/// draws the same), raising `trials` keeps the earlier runs, and bad distributions are refused
/// with the file's line.
#[test]
fn random_search_draws_the_same_runs_everywhere_and_grows_by_trials() {
    let d = tempfile::tempdir().unwrap();
    let rs = d.path().join("runs");
    let body = |trials: usize| {
        format!(
            "label: rnd\nflags:\n{BASE}  epochs: 1\n  max_images: 40\n  image_size: 16\ngrid:\n  loss_on: [noise, image]\nrandom:\n  trials: {trials}\n  seed: 7\n  space:\n    lr: loguniform(1e-4, 3e-3)\n    weight_decay: uniform(0, 1e-3)\n    log_every: randint(5, 20)\n    loss: [mae, mse]\n"
        )
    };
    let s = write_sweep(d.path(), "rnd.yaml", &body(3));
    let first = dry_run(&s, rs.to_str().unwrap(), &[]);
    assert_eq!(
        first.len(),
        6,
        "3 trials at each of 2 grid points: {first:?}"
    );
    assert_eq!(
        first,
        dry_run(&s, rs.to_str().unwrap(), &[]),
        "same file, same runs"
    );
    // Trial k draws the same values at every grid point.
    let drawn = |f: &str| f.split_once(' ').unwrap().1.to_string();
    assert_eq!(drawn(&first[0].2), drawn(&first[3].2));
    // Pinned: what every machine draws for this file (4 significant digits).
    assert_eq!(
        first[0].2, "loss_on=noise lr=0.001098 weight_decay=0.0009806 log_every=18 loss=mse",
        "{first:?}"
    );
    let s5 = write_sweep(d.path(), "rnd.yaml", &body(5));
    let more = dry_run(&s5, rs.to_str().unwrap(), &[]);
    assert_eq!(more.len(), 10);
    for r in &first {
        assert!(more.contains(r), "trial kept: {r:?}");
    }
    // The runs train like any others; the same command again trains nothing.
    let o = run(&run_args(&s5, &rs, &[]));
    assert!(o.status.success(), "{}", text(&o));
    let o = run(&run_args(&s5, &rs, &[]));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("10 runs (10 completed, 0 to run)"),
        "{}",
        text(&o)
    );
    // The report's search section: runs ranked, each drawn number flag plotted.
    let reports = d.path().join("reports");
    let o = run(&[
        "report",
        "--runs-dir",
        rs.to_str().unwrap(),
        "--out",
        reports.to_str().unwrap(),
        "--device",
        "cpu",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let md = fs::read_to_string(reports.join("rnd/README.md")).unwrap();
    assert!(
        md.contains("## Search") && md.contains("`lr` ~ loguniform(0.0001, 0.003)"),
        "{md}"
    );
    for f in [
        "search_lr.png",
        "search_weight_decay.png",
        "search_log_every.png",
    ] {
        assert!(
            md.contains(&format!("]({f})")) && reports.join("rnd").join(f).exists(),
            "{f}: {md}"
        );
    }
    // Refused with the line.
    for (space, line, says) in [
        ("    weight_decay: uniform(0, 2)\n", 15, "can draw 2"),
        ("    lr: gaussian(1, 2)\n", 15, "unknown distribution"),
        ("    log_every: uniform(1, 3)\n", 15, "an integer"),
        (
            "    epochs: loguniform(0, 3)\n",
            15,
            "loguniform needs bounds > 0",
        ),
        ("    loss_on: [noise]\n", 15, "also fixed or in the grid"),
    ] {
        let bad = format!(
            "label: bad\nflags:\n{BASE}grid:\n  loss_on: [noise, image]\nrandom:\n  trials: 2\n  space:\n{space}"
        );
        let p = write_sweep(d.path(), "bad.yaml", &bad);
        let o = run(&run_args(&p, &rs, &["--dry-run"]));
        assert_eq!(o.status.code(), Some(2), "{space}: {}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains(&format!("bad.yaml:{line}")) && err.contains(says),
            "{space}: {err}"
        );
    }
}

/// Early stopping (median, grace 2 epochs, at least 2 runs): with lr varying slowest, the
/// 1e-7 runs stop after their grace period and the 1e-3 runs complete; the same command
/// changes nothing; stopping loses nothing; --resume-stopped finishes them.
#[test]
fn early_stopping_stops_hopeless_runs_and_resumes_on_request() {
    let d = tempfile::tempdir().unwrap();
    let runs = d.path().join("runs");
    let body = sweep_body(
        "es",
        "  epochs: 6\n  max_images: 400\n  image_size: 32\nstop:\n  metric: val_noise_loss\n  rule: median\n  after_epochs: 2\n  min_runs: 2\n",
        "  lr: [1.0e-3, 1.0e-7]\n  seed: [1, 2]\n",
    );
    let s = write_sweep(d.path(), "es.yaml", &body);
    let plan = dry_run(&s, runs.to_str().unwrap(), &[]);
    let o = run(&run_args(&s, &runs, &[]));
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("2 completed now, 0 failed, 0 interrupted, 2 stopped early"),
        "{out}"
    );
    let dir = |i: usize| runs.join("es").join(&plan[i].0);
    for (i, p) in plan.iter().enumerate().take(2) {
        assert_eq!(
            read_json(&dir(i).join("run.json"))["status"],
            "completed",
            "{}",
            p.2
        );
    }
    for (i, p) in plan.iter().enumerate().skip(2) {
        let info = read_json(&dir(i).join("run.json"));
        assert_eq!(info["status"], "stopped", "{}: {info}", p.2);
        let why = info["reason"].as_str().unwrap();
        assert!(
            why.contains("median rule at epoch 2") && why.contains("val_noise_loss"),
            "{why}"
        );
        assert!(
            info["epoch"].as_i64().unwrap() < 6,
            "stopped before its end: {info}"
        );
        // Nothing lost: its checkpoint and every epoch it trained.
        assert!(dir(i).join("checkpoint.safetensors").exists());
        let rows = scalars_without_timing(&dir(i));
        assert!(rows.len() >= 4, "epochs 0..2 at least: {rows:?}");
    }
    // `runs` and `report` show them.
    let o = run(&[
        "runs",
        "--runs-dir",
        runs.to_str().unwrap(),
        "--format",
        "csv",
    ]);
    let table = String::from_utf8_lossy(&o.stdout);
    assert_eq!(table.matches(",stopped,").count(), 2, "{table}");
    assert!(
        table.contains("stopped_early") && table.contains("val_noise_loss"),
        "{table}"
    );
    // `--status stopped` lists exactly those.
    let o = run(&[
        "runs",
        "--runs-dir",
        runs.to_str().unwrap(),
        "--format",
        "csv",
        "--status",
        "stopped",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let only = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        only.lines().count(),
        3,
        "a header and the 2 stopped runs: {only}"
    );
    let reports = d.path().join("reports");
    let o = run(&[
        "report",
        "--runs-dir",
        runs.to_str().unwrap(),
        "--out",
        reports.to_str().unwrap(),
        "--no-images",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let md = fs::read_to_string(reports.join("es/README.md")).unwrap();
    assert!(
        md.contains("## Search") && md.contains("Early stopping stopped 2 run(s) and saved"),
        "{md}"
    );
    assert!(md.contains("2 stopped early"), "{md}");
    let rec = read_json(&runs.join("es/sweep.json"));
    let decisions = rec["decisions"].as_array().unwrap();
    assert_eq!(decisions.len(), 2, "{rec}");
    for dec in decisions {
        assert_eq!(dec["epoch"], 2);
        assert!(dec["value"].as_f64().unwrap() > dec["threshold"].as_f64().unwrap());
    }
    // Again: nothing to do.
    let o = run(&run_args(&s, &runs, &[]));
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("(2 completed, 0 to run, 2 stopped early"),
        "{out}"
    );
    let attempts = |i: usize| read_json(&dir(i).join("run.json"))["attempts"].clone();
    assert_eq!(attempts(2), 1);
    // --resume-stopped: to the full epochs, left alone by the rule.
    let o = run(&run_args(&s, &runs, &["--resume-stopped"]));
    assert!(o.status.success(), "{}", text(&o));
    for i in 2..4 {
        let info = read_json(&dir(i).join("run.json"));
        assert_eq!(info["status"], "completed", "{info}");
        assert_eq!(info["epoch"], 6);
        let epochs: Vec<String> = scalars_without_timing(&dir(i))
            .iter()
            .skip(1)
            .map(|r| r.split(',').next().unwrap().to_string())
            .collect();
        assert_eq!(
            epochs,
            ["0", "1", "2", "3", "4", "5", "6"],
            "each epoch once"
        );
    }
}

/// Output to a file (not a terminal): plain progress lines per running run and for the
/// sweep, at `--progress-every`.
#[test]
fn a_sweep_writing_to_a_file_shows_progress_lines() {
    let d = tempfile::tempdir().unwrap();
    let runs = d.path().join("runs");
    let body = sweep_body(
        "progress",
        "  epochs: 8\n  max_images: 600\n  image_size: 32\n  sample_every: 0\n",
        "  loss_on: [noise]\n",
    );
    let sweep = write_sweep(d.path(), "progress.yaml", &body);
    let log = d.path().join("sweep.log");
    let file = fs::File::create(&log).unwrap();
    let o = cmd(&run_args(&sweep, &runs, &["--progress-every", "0.5"]))
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .status()
        .unwrap();
    let text = fs::read_to_string(&log).unwrap();
    assert!(o.success(), "{text}");
    let runs_lines: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("progress  ") && !l.starts_with("progress  sweep"))
        .collect();
    assert!(
        runs_lines.iter().any(|l| l.contains("training epoch ")
            && l.contains(" step ")
            && l.contains(" loss ")
            && l.contains("images/s")
            && l.contains(", ETA ")),
        "a run's line with epoch, step, loss, images/s and ETA:\n{text}"
    );
    let sweep_lines: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("progress  sweep progress: 0/1 runs done, 1 running"))
        .collect();
    assert!(!sweep_lines.is_empty(), "{text}");
    assert!(sweep_lines.iter().any(|l| l.contains(", ETA ")), "{text}");
    // No terminal: no bar drawing codes.
    assert!(!text.contains('\u{1b}'), "{text}");
}

/// A damaged run.json (empty, or JSON that is not a run's) is never skipped silently: `runs`
/// and `report` show the run as damaged, name the file and exit 1 after printing the rest;
/// `run --dry-run` calls it damaged and `run` leaves it alone, says how to repair or retire
/// it, and exits 1.
#[test]
fn a_damaged_run_json_is_named_everywhere() {
    let d = tempfile::tempdir().unwrap();
    let runs = d.path().join("runs");
    let rs = runs.to_str().unwrap();
    let body = sweep_body(
        "dmg",
        "  epochs: 1\n  max_images: 40\n  image_size: 16\n",
        "  lr: [1.0e-3, 2.0e-3, 3.0e-3]\n",
    );
    let s = write_sweep(d.path(), "dmg.yaml", &body);
    let o = run(&run_args(&s, &runs, &[]));
    assert!(o.status.success(), "{}", text(&o));
    let ids = run_dirs(&runs, "dmg");
    let empty = runs.join("dmg").join(&ids[0]).join("run.json");
    let foreign = runs.join("dmg").join(&ids[1]).join("run.json");
    fs::write(&empty, "").unwrap();
    fs::write(&foreign, "{\"foo\": 1}").unwrap();

    let o = run(&["runs", "--runs-dir", rs]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let table = String::from_utf8_lossy(&o.stdout);
    assert_eq!(table.matches(" damaged").count(), 2, "{table}");
    assert!(
        table.contains("completed"),
        "the good run is listed too: {table}"
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!("{}: damaged", empty.display())) && err.contains("the file is empty"),
        "{err}"
    );
    assert!(err.contains("it has no `status`"), "{err}");

    let out = d.path().join("reports");
    let o = run(&[
        "report",
        "--runs-dir",
        rs,
        "--out",
        out.to_str().unwrap(),
        "--no-images",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("left out of the report"),
        "{}",
        text(&o)
    );
    let md = fs::read_to_string(out.join("dmg/README.md")).unwrap();
    assert!(
        md.contains("## Damaged runs") && md.contains("the file is empty"),
        "{md}"
    );

    let states = dry_run(&s, rs, &[]);
    assert_eq!(
        states.iter().filter(|r| r.1 == "damaged").count(),
        2,
        "{states:?}"
    );
    let o = run(&run_args(&s, &runs, &[]));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let said = text(&o);
    assert!(
        said.contains("2 damaged") && said.contains("Repair the file, or retire the run"),
        "{said}"
    );
    assert_eq!(fs::read_to_string(&empty).unwrap(), "", "left alone");
}

/// Temporary files left by killed processes (a checkpoint being written, run.json, a sample
/// grid, sweep.json) are removed by the next `run`, which says so; finished files stay.
#[test]
fn stale_temporary_files_are_removed_by_the_next_run() {
    let d = tempfile::tempdir().unwrap();
    let runs = d.path().join("runs");
    let body = sweep_body(
        "tmps",
        "  epochs: 1\n  max_images: 40\n  image_size: 16\n",
        "  lr: [1.0e-3, 2.0e-3]\n",
    );
    let s = write_sweep(d.path(), "tmps.yaml", &body);
    let o = run(&run_args(&s, &runs, &[]));
    assert!(o.status.success(), "{}", text(&o));
    let ids = run_dirs(&runs, "tmps");
    let run0 = runs.join("tmps").join(&ids[0]);
    let leftovers = [
        run0.join("checkpoint.safetensors.999999.tmp"),
        run0.join("run.json.999998.tmp"),
        run0.join("samples/epoch_001.999997.tmp.png"),
        runs.join("tmps/sweep.json.999996.tmp"),
    ];
    for f in &leftovers {
        fs::write(f, vec![0u8; 1024]).unwrap();
    }
    let o = run(&run_args(&s, &runs, &[]));
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("removed 4 temporary file(s) (4.0 KB) that killed processes left behind"),
        "{}",
        text(&o)
    );
    for f in &leftovers {
        assert!(!f.exists(), "{} left", f.display());
    }
    assert!(run0.join("model.safetensors").exists() && run0.join("run.json").exists());
}

/// A sweep whose runs directory fills up (a 1 MB tmpfs) fails without losing anything; once
/// there is space again, the same command (with --retry-failed) completes it with results
/// identical to a sweep that never ran out of space, and no temporary file is left.
#[test]
fn a_disk_full_sweep_completes_on_its_rerun_with_nothing_left_behind() {
    let d = tempfile::tempdir().unwrap();
    let body = sweep_body(
        "full",
        "  epochs: 3\n  max_images: 200\n  image_size: 16\n  checkpoint_every: 3\n  sample_every: 1\n",
        "  lr: [1.0e-3, 2.0e-3]\n",
    );
    let s = write_sweep(d.path(), "full.yaml", &body);
    let reference = d.path().join("reference");
    let o = run(&run_args(&s, &reference, &[]));
    assert!(o.status.success(), "{}", text(&o));

    let runs = d.path().join("runs");
    let Some(disk) = Tmpfs::mount(&runs, "1m") else {
        return;
    };
    let o = run(&run_args(&s, &runs, &[]));
    assert_eq!(o.status.code(), Some(1), "the disk filled up: {}", text(&o));
    let t = text(&o);
    assert!(t.contains("No space left on device"), "{t}");
    // The file is named, in plain words (no Rust debug text such as `IoError(Os {`).
    assert!(t.contains(&runs.join("full").display().to_string()), "{t}");
    assert!(!t.contains("IoError") && !t.contains("Os {"), "{t}");
    disk.resize("64m");
    let o = run(&run_args(&s, &runs, &["--retry-failed"]));
    assert!(o.status.success(), "{}", text(&o));
    let tmps: Vec<String> = walkdir::WalkDir::new(&runs)
        .into_iter()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp"))
        .collect();
    assert!(tmps.is_empty(), "temporary files left: {tmps:?}");
    for id in run_dirs(&reference, "full") {
        let (a, b) = (
            reference.join("full").join(&id),
            runs.join("full").join(&id),
        );
        assert_eq!(read_json(&b.join("run.json"))["status"], "completed");
        assert_eq!(
            scalars_without_timing(&a),
            scalars_without_timing(&b),
            "{id}"
        );
        assert_eq!(
            fs::read(a.join("model.safetensors")).unwrap(),
            fs::read(b.join("model.safetensors")).unwrap(),
            "{id}: the same weights"
        );
    }
}

/// A damaged sweep.json is kept aside (renamed, named in the message), never overwritten; the
/// sweep goes on with a new one.
#[test]
fn a_damaged_sweep_json_is_kept_aside() {
    let d = tempfile::tempdir().unwrap();
    let runs = d.path().join("runs");
    let body = sweep_body(
        "sj",
        "  epochs: 1\n  max_images: 40\n  image_size: 16\n",
        "  lr: [1.0e-3]\n",
    );
    let s = write_sweep(d.path(), "sj.yaml", &body);
    let o = run(&run_args(&s, &runs, &[]));
    assert!(o.status.success(), "{}", text(&o));
    let record = runs.join("sj/sweep.json");
    let whole = fs::read(&record).unwrap();
    fs::write(&record, &whole[..whole.len() / 2]).unwrap();
    let o = run(&run_args(&s, &runs, &[]));
    assert!(o.status.success(), "{}", text(&o));
    let said = text(&o);
    assert!(
        said.contains("sweep.json: damaged") && said.contains("kept aside as"),
        "{said}"
    );
    let aside: Vec<_> = fs::read_dir(runs.join("sj"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("sweep.json.damaged-")
        })
        .collect();
    assert_eq!(aside.len(), 1, "kept aside once");
    assert_eq!(
        fs::read(aside[0].path()).unwrap(),
        &whole[..whole.len() / 2],
        "not changed"
    );
    assert!(
        read_json(&record)["invocations"].as_array().unwrap().len() == 1,
        "a new record"
    );
}

/// `--dry-run` on Slurm says how the tasks would be submitted: the sweep file's block with
/// the command line's options in place (one definition for both).
#[test]
fn a_dry_run_on_slurm_shows_the_block_overridden_by_the_options() {
    let d = tempfile::tempdir().unwrap();
    let body = sweep_body("sb", "  epochs: 1\n", "  loss_on: [noise, image]\n")
        + "slurm:\n  partition: gpu\n  time: \"2:00:00\"\n  extra: [--account=p]\n";
    let s = write_sweep(d.path(), "sb.yaml", &body);
    let rs = d.path().join("runs");
    let o = run(&run_args(
        &s,
        &rs,
        &[
            "--dry-run",
            "--executor",
            "slurm",
            "--jobs",
            "2",
            "--time",
            "0:10:00",
            "--signal-before",
            "60",
            "--sbatch-arg=--qos=short",
        ],
    ));
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("slurm: the runs to do go as one job array (at most 2 at once), each task with sbatch --signal=B:USR1@60 --partition=gpu --time=0:10:00 --account=p --qos=short"),
        "{out}"
    );
    assert!(!rs.exists(), "a dry run writes nothing");
}
