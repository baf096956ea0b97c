//! `ddim-sweep run --executor slurm` against a real slurmctld/slurmd on this machine
//! (scripts/slurm.sh: Debian's slurm-wlm, loopback only, no accounting), tiny CPU runs.

mod common;
use common::slurm::*;
use common::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn sweep(dir: &Path, label: &str, flags: &str, grid: &str) -> String {
    write_sweep(
        dir,
        &format!("{label}.yaml"),
        &sweep_body(label, flags, grid),
    )
}

#[test]
fn a_sweep_on_slurm_matches_local_and_keeps_to_jobs() {
    let _s = serial();
    let c = cluster();
    let d = tempfile::tempdir().unwrap();
    let s = sweep(
        d.path(),
        "four",
        "  epochs: 2\n  max_images: 200\n  image_size: 16\n",
        "  loss_on: [noise, image]\n  schedule_type: [linear, cosine]\n",
    );
    let local = d.path().join("local");
    let o = run(&run_args(&s, &local, &["--jobs", "2"]));
    assert!(o.status.success(), "{}", text(&o));

    let runs = d.path().join("slurm");
    let args = run_args(&s, &runs, &["--executor", "slurm", "--jobs", "2"]);
    let o = c.run(&args);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("4 completed now, 0 failed"), "{out}");
    assert!(out.contains("[slurm "), "where each run ran: {out}");
    assert_same_numbers(&local, &runs, "four");

    // Never more than 2 at once, from the runs' own start and end times.
    completed_on_slurm(&runs, "four", 2);

    // Again, after it ended: nothing submitted, all completed.
    let o = c.run(&args);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("all 4 runs are completed"), "{out}");
    assert!(c.queued().is_empty());
}

#[test]
fn running_the_command_again_submits_nothing_twice() {
    let _s = serial();
    let c = cluster();
    let d = tempfile::tempdir().unwrap();
    let s = sweep(
        d.path(),
        "again",
        "  epochs: 2\n  max_images: 200\n  image_size: 16\n",
        "  loss_on: [noise, image]\n  schedule_type: [linear, cosine]\n",
    );
    let runs = d.path().join("runs");
    // The tasks may start 8 s after the submission (an option of sbatch's given on the
    // command line): until then, every run is queued and its task pending, whatever the
    // machine's speed.
    let args = run_args(
        &s,
        &runs,
        &[
            "--executor",
            "slurm",
            "--jobs",
            "1",
            "--detach",
            "--sbatch-arg=--begin=now+8",
        ],
    );
    let o = c.run(&args);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("submitted as Slurm job"),
        "{}",
        text(&o)
    );
    let first: Vec<String> = run_paths(&runs, "again")
        .iter()
        .map(|r| slurm_key(r))
        .collect();
    assert_eq!(c.queued().len(), 4, "one array of 4 tasks");
    // `runs` shows each run's task with Slurm's state of it now.
    let rs = runs.to_str().unwrap();
    let o = c.run(&["runs", "--runs-dir", rs, "--format", "json"]);
    assert!(o.status.success(), "{}", text(&o));
    let listed: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let states: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            assert_eq!(r["task"]["kind"], "slurm", "{r}");
            let state = r["task_state"].as_str().unwrap();
            assert!(state.starts_with(r["task"]["key"].as_str().unwrap()), "{r}");
            state
        })
        .collect();
    assert_eq!(states.len(), 4);
    assert!(
        states.iter().all(|s| s.contains(" PENDING")),
        "not before --begin: {states:?}"
    );
    let o = c.run(&["runs", "--runs-dir", rs]);
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(
        table.lines().next().unwrap().ends_with(" task") && table.contains(" PENDING"),
        "{table}"
    );
    // While queued or running: nothing new.
    let o = c.run(&args);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("4 of them already submitted") && out.contains("nothing new submitted"),
        "{out}"
    );
    assert!(c.queued().len() <= 4);
    // In the foreground: watches the same tasks to the end.
    let o = c.run(&run_args(
        &s,
        &runs,
        &["--executor", "slurm", "--jobs", "1"],
    ));
    assert!(o.status.success(), "{}", text(&o));
    let again: Vec<String> = run_paths(&runs, "again")
        .iter()
        .map(|r| slurm_key(r))
        .collect();
    assert_eq!(first, again, "the same tasks, none submitted twice");
    for r in run_paths(&runs, "again") {
        assert_eq!(info(&r)["status"], "completed");
    }
    let jobs: std::collections::BTreeSet<&str> =
        first.iter().map(|k| k.split('_').next().unwrap()).collect();
    assert_eq!(jobs.len(), 1, "{first:?}");
}

/// One slow run: 3 epochs, a checkpoint every 3 steps.
fn slow(d: &Path, label: &str) -> String {
    sweep(
        d,
        label,
        "  epochs: 3\n  max_images: 600\n  image_size: 32\n  checkpoint_every: 3\n",
        "  loss_on: [noise]\n",
    )
}

#[test]
fn a_cancelled_task_ends_interrupted_and_the_next_run_finishes_it_bit_identical() {
    let _s = serial();
    let c = cluster();
    let d = tempfile::tempdir().unwrap();
    let s = slow(d.path(), "cancel");
    let local = d.path().join("local");
    assert!(run(&run_args(&s, &local, &[])).status.success());
    let runs = d.path().join("runs");
    let o = c.run(&run_args(&s, &runs, &["--executor", "slurm", "--detach"]));
    assert!(o.status.success(), "{}", text(&o));
    let r = run_paths(&runs, "cancel").remove(0);
    wait_for("a checkpoint", Duration::from_secs(120), || {
        running_past(&r, 6)
    });
    c.client("scancel", &[&slurm_key(&r)]);
    wait_for("the task to leave", Duration::from_secs(60), || {
        c.queued().is_empty()
    });
    wait_for("its end", Duration::from_secs(30), || {
        info(&r)["status"] != "running"
    });
    assert_eq!(info(&r)["status"], "interrupted", "{}", info(&r));
    let o = c.run(&run_args(&s, &runs, &["--executor", "slurm"]));
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(info(&r)["status"], "completed");
    assert_eq!(info(&r)["attempts"], 2);
    assert_same_numbers(&local, &runs, "cancel");
}

#[test]
fn a_time_limit_warning_checkpoints_and_the_run_is_resubmitted() {
    let _s = serial();
    let c = cluster();
    let d = tempfile::tempdir().unwrap();
    let s = slow(d.path(), "limit");
    let local = d.path().join("local");
    assert!(run(&run_args(&s, &local, &[])).status.success());
    let runs = d.path().join("runs");
    let child = c.spawn(&run_args(&s, &runs, &["--executor", "slurm"]));
    wait_for("the run to start", Duration::from_secs(60), || {
        runs.join("limit").exists() && !run_paths(&runs, "limit").is_empty()
    });
    let r = run_paths(&runs, "limit").remove(0);
    wait_for("a checkpoint", Duration::from_secs(120), || {
        running_past(&r, 6)
    });
    let first = slurm_key(&r);
    // What Slurm sends before the time limit (--signal=B:USR1@S), sent now.
    c.client("scancel", &["--signal=USR1", "--batch", &first]);
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("resubmitted as") && out.contains("SIGUSR1"),
        "{out}"
    );
    let i = info(&r);
    assert_eq!(i["status"], "completed");
    assert_eq!(i["attempts"], 2);
    assert_ne!(slurm_key(&r), first, "a new task");
    assert_same_numbers(&local, &runs, "limit");
}

#[test]
fn a_task_killed_without_writing_its_status_is_not_left_running() {
    let _s = serial();
    let c = cluster();
    let d = tempfile::tempdir().unwrap();
    let s = slow(d.path(), "killed");
    let runs = d.path().join("runs");
    let child = c.spawn(&run_args(&s, &runs, &["--executor", "slurm"]));
    wait_for("the run to start", Duration::from_secs(60), || {
        runs.join("killed").exists() && !run_paths(&runs, "killed").is_empty()
    });
    let r = run_paths(&runs, "killed").remove(0);
    wait_for("a checkpoint", Duration::from_secs(120), || {
        running_past(&r, 3)
    });
    c.client("scancel", &["--signal=KILL", "--batch", &slurm_key(&r)]);
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let i = info(&r);
    assert!(
        i["status"] == "failed" || i["status"] == "interrupted",
        "{i}"
    );
    // Without accounting, the controller's memory of the job says how it ended.
    assert!(i["reason"].as_str().unwrap().contains("Slurm task"), "{i}");
    assert!(
        i["reason"].as_str().unwrap().contains("from scontrol"),
        "{i}"
    );
    // Resumable from its checkpoint by the next run.
    let o = c.run(&run_args(
        &s,
        &runs,
        &["--executor", "slurm", "--retry-failed"],
    ));
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(info(&r)["status"], "completed");
}

#[test]
fn slurm_refusing_the_job_is_quoted_and_changes_nothing() {
    let _s = serial();
    let c = cluster();
    let d = tempfile::tempdir().unwrap();
    let s = slow(d.path(), "refused");
    let runs = d.path().join("runs");
    let o = c.run(&run_args(
        &s,
        &runs,
        &["--executor", "slurm", "--partition", "nope"],
    ));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("Invalid partition name specified"), "{err}");
    let created: Vec<PathBuf> = fs::read_dir(runs.join("refused"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.join("run.json").exists())
                .collect()
        })
        .unwrap_or_default();
    assert!(created.is_empty(), "no run created: {created:?}");
    assert!(c.queued().is_empty());

    // No Slurm on PATH: said plainly, nothing created either.
    let o = cmd(&run_args(&s, &runs, &["--executor", "slurm"]))
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("is not on PATH"),
        "{}",
        text(&o)
    );
}

/// Ctrl-C in the foreground cancels the sweep's tasks: the running run checkpoints and ends
/// interrupted, the pending one leaves the queue without starting; exit 130; the same command
/// then finishes both.
#[test]
fn ctrl_c_cancels_the_tasks_and_the_next_run_finishes_them() {
    let _s = serial();
    let c = cluster();
    let d = tempfile::tempdir().unwrap();
    let s = sweep(
        d.path(),
        "ctrlc",
        "  epochs: 3\n  max_images: 600\n  image_size: 32\n  checkpoint_every: 3\n",
        "  loss_on: [noise, image]\n",
    );
    let runs = d.path().join("runs");
    let args = run_args(&s, &runs, &["--executor", "slurm", "--jobs", "1"]);
    let child = c.spawn(&args);
    wait_for("the runs to be queued", Duration::from_secs(60), || {
        runs.join("ctrlc").exists() && run_paths(&runs, "ctrlc").len() == 2
    });
    let dirs = run_paths(&runs, "ctrlc");
    wait_for("a checkpoint", Duration::from_secs(120), || {
        dirs.iter().any(|r| running_past(r, 3))
    });
    send_signal(&child, libc::SIGINT);
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", text(&o));
    assert!(c.queued().is_empty(), "nothing left in Slurm");
    let mut states: Vec<String> = dirs
        .iter()
        .map(|r| info(r)["status"].as_str().unwrap().to_string())
        .collect();
    states.sort();
    assert_eq!(states, ["interrupted", "queued"], "{}", text(&o));
    let o = c.run(&args);
    assert!(o.status.success(), "{}", text(&o));
    for r in &dirs {
        assert_eq!(info(r)["status"], "completed");
    }
}

/// A controller that does not answer: Slurm's message, exit 1, nothing created.
#[test]
fn an_unreachable_controller_is_said_and_changes_nothing() {
    let c = cluster();
    let d = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let conf = fs::read_to_string(&c.conf).unwrap();
    let dead: String = conf
        .lines()
        .map(|l| {
            if l.starts_with("SlurmctldPort=") {
                format!("SlurmctldPort={port}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    let dead_conf = d.path().join("slurm.conf");
    fs::write(&dead_conf, dead).unwrap();
    let s = slow(d.path(), "unreachable");
    let runs = d.path().join("runs");
    let o = cmd(&run_args(&s, &runs, &["--executor", "slurm"]))
        .env("SLURM_CONF", &dead_conf)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("Slurm is unreachable") && err.contains("Unable to contact slurm controller"),
        "{err}"
    );
    let created: Vec<PathBuf> = fs::read_dir(runs.join("unreachable"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    assert!(created.is_empty(), "no run created: {created:?}");
}

/// The race of tests/race.rs on Slurm: each round one job array, the hopeless configurations
/// eliminated after 2 seeds, the decisions equal to SciPy's replay; again, nothing submitted.
#[test]
fn a_race_on_slurm_submits_a_round_per_array() {
    let _s = serial();
    let c = cluster();
    let d = tempfile::tempdir().unwrap();
    let s = d.path().join("race.yaml");
    fs::write(&s, common::race::RACE).unwrap();
    let s = s.to_str().unwrap();
    let runs = d.path().join("runs");
    let args = run_args(s, &runs, &["--executor", "slurm", "--jobs", "2"]);
    let o = c.run(&args);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("race finished"), "{out}");
    let sweep_dir = runs.join("race");
    let race = common::race::check_against_scipy(&sweep_dir);
    common::race::check_outcome(&sweep_dir, &race);
    let jobs: std::collections::BTreeSet<String> = run_paths(&runs, "race")
        .iter()
        .map(|r| slurm_key(r).split('_').next().unwrap().to_string())
        .collect();
    let rounds = race["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["round"].as_u64().unwrap())
        .max()
        .unwrap();
    assert_eq!(jobs.len() as u64, rounds, "one array per round: {jobs:?}");
    let o = c.run(&args);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("0 to run now"),
        "{}",
        text(&o)
    );
    assert!(c.queued().is_empty());
}

/// A TPE search on Slurm decides the trials it decides locally (the determinism contract),
/// each batch of trials one job array, with the same numbers.
#[test]
fn a_search_on_slurm_decides_the_local_trials() {
    let _s = serial();
    let c = cluster();
    let d = tempfile::tempdir().unwrap();
    let s = write_sweep(d.path(), "s.yaml", &search_sweep("ssearch"));
    let local = d.path().join("local");
    let o = run(&run_args(&s, &local, &["--jobs", "2"]));
    assert!(o.status.success(), "{}", text(&o));
    let runs = d.path().join("slurm");
    let args = run_args(&s, &runs, &["--executor", "slurm", "--jobs", "2"]);
    let o = c.run(&args);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        search_trials(&runs, "ssearch"),
        search_trials(&local, "ssearch")
    );
    assert_eq!(search_trials(&runs, "ssearch").len(), 6);
    assert_same_numbers(&local, &runs, "ssearch");
    assert!(c.queued().is_empty());
}

/// A TPE + Hyperband search of a program on Slurm: the same trials, the same stops (each at
/// the same rung) and the same rungs fitted on as with `--jobs 1` on this machine.
#[test]
fn a_tpe_hyperband_search_on_slurm_decides_and_stops_as_locally() {
    use std::os::unix::fs::PermissionsExt;
    let _s = serial();
    let c = cluster();
    let d = tempfile::tempdir().unwrap();
    let prog = d.path().join("f.sh");
    fs::write(
        &prog,
        "#!/bin/sh\ne=1\nwhile [ $e -le $DDIM_FLAG_EPOCHS ]; do\n\
         awk -v x=\"$DDIM_FLAG_X\" -v y=\"$DDIM_FLAG_Y\" -v e=$e 'BEGIN { printf \"epoch: %d\\nloss: %.9f\\n\", e, (x-0.3)^2 + (y-0.6)^2 + 1/e + 0.05*sin(7*x*e) }'\n\
         sleep 0.05\ne=$((e+1))\ndone\n",
    )
    .unwrap();
    fs::set_permissions(&prog, fs::Permissions::from_mode(0o755)).unwrap();
    let s = write_sweep(
        d.path(),
        "s.yaml",
        "label: mfs\ncommand: [./f.sh]\nmetrics:\n  loss: lower\nflags:\n  epochs: 9\nsearch:\n  sampler: tpe\n  metric: loss\n  trials: 10\n  parallel: 2\n  startup: 4\n  seed: 2\n  space:\n    x: uniform(0, 1)\n    y: uniform(0, 1)\nstop:\n  metric: loss\n  rule: hyperband\n  after_epochs: 1\n  eta: 3\n  min_runs: 1\n",
    );
    let ends = |runs: &Path| {
        let mut out = Vec::new();
        for dir in run_paths(runs, "mfs") {
            let stopped_at = fs::read_to_string(dir.join("stop.json"))
                .ok()
                .map(|t| serde_json::from_str::<serde_json::Value>(&t).unwrap()["epoch"].clone());
            out.push((
                dir.file_name().unwrap().to_owned(),
                info(&dir)["status"].clone(),
                stopped_at,
            ));
        }
        out
    };
    let fitted = |runs: &Path| {
        read_json(&runs.join("mfs/sweep.json"))["search"]["trials"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["fitted_on"].clone())
            .collect::<Vec<_>>()
    };
    let local = d.path().join("local");
    let o = cmd(&run_args(&s, &local, &["--jobs", "1"]))
        .env("DDIM_STOP_GRACE", "1")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let runs = d.path().join("slurm");
    let o = c
        .cmd(&run_args(
            &s,
            &runs,
            &["--executor", "slurm", "--jobs", "2"],
        ))
        .env("DDIM_STOP_GRACE", "1")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(search_trials(&runs, "mfs"), search_trials(&local, "mfs"));
    assert_eq!(ends(&runs), ends(&local));
    assert_eq!(fitted(&runs), fitted(&local));
    let stopped = ends(&local)
        .iter()
        .filter(|(_, s, _)| s == "stopped")
        .count();
    assert!(stopped >= 2, "{:?}", ends(&local));
    assert!(c.queued().is_empty());
}

/// A search over a program of the user's on Slurm decides the local trials, with the same
/// values; each run supervised by `ddim-sweep-program` in a Slurm task.
#[test]
fn a_program_search_on_slurm_decides_the_local_trials() {
    use std::os::unix::fs::PermissionsExt;
    let _s = serial();
    let c = cluster();
    let d = tempfile::tempdir().unwrap();
    let prog = d.path().join("f.sh");
    fs::write(
        &prog,
        "#!/bin/sh\nawk -v lr=\"$DDIM_FLAG_LR\" -v w=\"$DDIM_FLAG_WIDTH\" 'BEGIN { l = log(lr)/log(10) + 3; for (e = 1; e <= 3; e++) printf \"epoch: %d\\nobjective: %.12f\\n\", e, l*l + (w-32)*(w-32)/1000 + 1/e }'\n",
    )
    .unwrap();
    fs::set_permissions(&prog, fs::Permissions::from_mode(0o755)).unwrap();
    let s = write_sweep(
        d.path(),
        "s.yaml",
        "label: psearch\ncommand: [./f.sh]\nmetrics:\n  objective: lower\nsearch:\n  sampler: tpe\n  metric: objective\n  trials: 5\n  parallel: 2\n  startup: 2\n  seed: 5\n  space:\n    lr: loguniform(1e-5, 1e-1)\n    width: randint(8, 64)\n",
    );
    let local = d.path().join("local");
    let o = run(&run_args(&s, &local, &["--jobs", "2"]));
    assert!(o.status.success(), "{}", text(&o));
    let runs = d.path().join("slurm");
    let o = c.run(&run_args(
        &s,
        &runs,
        &["--executor", "slurm", "--jobs", "2"],
    ));
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        search_trials(&runs, "psearch"),
        search_trials(&local, "psearch")
    );
    completed_on_slurm(&runs, "psearch", 2);
    for (a, b) in run_paths(&local, "psearch")
        .iter()
        .zip(run_paths(&runs, "psearch"))
    {
        assert_eq!(info(a)["metrics"], info(&b)["metrics"]);
        let csv = |p: &Path| {
            fs::read_to_string(p.join("scalars.csv"))
                .unwrap()
                .lines()
                .map(|l| l.rsplit_once(',').unwrap().0.to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(csv(a), csv(&b));
    }
    assert!(c.queued().is_empty());
}
