//! Sweeps of the user's own programs (`command:`) through the binary, with real programs:
//! Python with argparse, shell scripts, a `metrics.jsonl` writer; failures, time limits,
//! stops that reach every process a program started, SIGKILL of `run` and resume, a search
//! whose trials do not depend on `--jobs`, and bad input.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn walk(dir: &Path) -> Vec<PathBuf> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(|e| e.ok())
        .map(|e| e.into_path())
        .collect()
}

fn runs_of(runs: &Path, label: &str) -> Vec<(PathBuf, serde_json::Value)> {
    run_folders(runs, label)
        .into_iter()
        .filter(|d| d.join("run.json").exists())
        .map(|d| {
            let info = read_json(&d.join("run.json"));
            (d, info)
        })
        .collect()
}

/// Whether a process with this pid is alive (not a zombie).
fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rfind(')').map(|i| s[i + 2..].starts_with('Z')))
        .is_some_and(|zombie| !zombie)
}

const TRAIN_PY: &str = r#"
import argparse, json, os
p = argparse.ArgumentParser()
p.add_argument("--lr", type=float, required=True)
p.add_argument("--epochs", type=int, default=2)
p.add_argument("--amp", action="store_true")
p.add_argument("--name", default="")
p.add_argument("--data", default="")
a = p.parse_args()
os.makedirs("out", exist_ok=True)
with open("out/args.json", "w") as f:
    json.dump({"lr": a.lr, "amp": a.amp, "name": a.name, "data": a.data,
               "flags_file": json.load(open(os.environ["DDIM_FLAGS_FILE"])),
               "env_lr": os.environ["DDIM_FLAG_LR"], "seed": os.environ["DDIM_SEED"],
               "cwd": os.getcwd()}, f)
for e in range(1, a.epochs + 1):
    print(f"epoch: {e}")
    print(f"val_loss: {a.lr * 10 / e}")
    print(json.dumps({"accuracy": 1 - a.lr / e, "train/loss": a.lr}))
"#;

#[test]
fn a_python_program_gets_its_flags_and_reports_its_scalars() {
    let d = tempfile::tempdir().unwrap();
    let runs = d.path().join("runs");
    std::fs::write(d.path().join("train.py"), TRAIN_PY).unwrap();
    let py = python();
    let sweep = write_sweep(
        d.path(),
        "s.yaml",
        &format!(
            "label: py\ncommand: [{}, train.py, \"--data={{sweep_dir}}/data\"]\nmetrics:\n  val_loss: lower\n  accuracy: higher\nflags:\n  epochs: 3\n  amp: true\n  name: \"a b; $(touch pwned) 'q'\"\ngrid:\n  lr: [0.1, 0.2]\n",
            py.display()
        ),
    );
    let o = run(&run_args(&sweep, &runs, &[]));
    assert!(o.status.success(), "{}", text(&o));
    let all = runs_of(&runs, "py");
    assert_eq!(all.len(), 2);
    for (dir, info) in &all {
        assert_eq!(info["status"], "completed", "{info}");
        let lr: f64 = info["flags"]["lr"].as_str().unwrap().parse().unwrap();
        let argv: Vec<&str> = info["program"]["argv"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert!(argv.contains(&"--amp"), "{argv:?}");
        assert!(argv.contains(&"--name=a b; $(touch pwned) 'q'"), "{argv:?}");
        let args = read_json(&dir.join("out/args.json"));
        assert_eq!(args["amp"], true);
        assert_eq!(args["name"], "a b; $(touch pwned) 'q'");
        assert_eq!(
            args["data"],
            format!("{}/data", d.path().canonicalize().unwrap().display())
        );
        assert_eq!(args["flags_file"]["epochs"], 3);
        assert_eq!(args["flags_file"]["lr"], lr);
        assert_eq!(args["env_lr"], lr.to_string());
        assert_eq!(args["seed"], info["seed"].to_string());
        assert_eq!(
            Path::new(args["cwd"].as_str().unwrap()),
            dir.canonicalize().unwrap()
        );
        assert!(
            dir.join("train.py").is_file(),
            "the source is copied into the run"
        );
        // The last values are the final metrics; every epoch is a row of scalars.csv.
        let m = &info["metrics"];
        assert!(
            (m["val_loss"].as_f64().unwrap() - lr * 10.0 / 3.0).abs() < 1e-12,
            "{m}"
        );
        assert!(
            (m["accuracy"].as_f64().unwrap() - (1.0 - lr / 3.0)).abs() < 1e-12,
            "{m}"
        );
        let csv = std::fs::read_to_string(dir.join("scalars.csv")).unwrap();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines[0], "epoch,step,val_loss,accuracy,seconds");
        assert_eq!(lines.len(), 4, "{csv}");
        assert!(
            lines[1].starts_with(&format!("1,1,{},{},", lr * 10.0, 1.0 - lr)),
            "{csv}"
        );
        // TensorBoard itself reads the same values (and the undeclared scalar).
        let tb_dir = dir.join(info["name"].as_str().unwrap());
        let tb = python_json(
            "tb_scalars.py",
            &[tb_dir.to_str().unwrap()],
            Duration::from_secs(120),
        );
        let val: Vec<(i64, f64)> = tb["val_loss"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p[0].as_i64().unwrap(), p[1].as_f64().unwrap()))
            .collect();
        assert_eq!(val.len(), 3, "{tb}");
        for (k, (step, v)) in val.iter().enumerate() {
            assert_eq!(*step, k as i64 + 1);
            assert!((v - lr * 10.0 / (k + 1) as f64).abs() < 1e-6, "{tb}");
        }
        assert_eq!(tb["train/loss"].as_array().unwrap().len(), 3, "{tb}");
    }
    assert!(!d.path().join("pwned").exists());
    assert!(all.iter().all(|(dir, _)| !dir.join("pwned").exists()));
    // runs and report show the program's metrics, the headline first.
    let o = run(&["runs", "--runs-dir", runs.to_str().unwrap()]);
    let listing = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        listing.lines().next().unwrap().contains("val_loss") && listing.contains("accuracy"),
        "{listing}"
    );
    assert!(!listing.contains("noise_loss"), "{listing}");
    let o = run(&[
        "report",
        "--runs-dir",
        runs.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(j.to_string().contains("val_loss"), "{j}");
    // The same command again: nothing reruns.
    let o = run(&run_args(&sweep, &runs, &[]));
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("all 2 runs are completed"),
        "{}",
        text(&o)
    );
}

#[test]
fn shell_programs_metrics_jsonl_and_hostile_output() {
    let d = tempfile::tempdir().unwrap();
    let runs = d.path().join("runs");
    write_exec(
        d.path(),
        "train.sh",
        "#!/bin/sh\nhead -c 300000 /dev/zero | tr '\\0' 'x'; echo\nhead -c 2000 /dev/urandom; echo\n\
         for e in 1 2 3; do l=\"{\\\"step\\\": $((e*100)), \\\"val/loss\\\": 0.$e}\"; echo \"$l\"; echo \"$l\" >> \"$DDIM_RUN_DIR/metrics.jsonl\"; done\n\
         printf '{\"step\": 400, \"val/loss\": 0.9' >> \"$DDIM_RUN_DIR/metrics.jsonl\"\n\
         echo 'not json {' >> \"$DDIM_RUN_DIR/metrics.jsonl\"\nexit 0\n",
    );
    let sweep = write_sweep(
        d.path(),
        "s.yaml",
        "label: sh\ncommand: ./train.sh\nmetrics:\n  val/loss: lower\n",
    );
    let o = run(&run_args(&sweep, &runs, &[]));
    assert!(o.status.success(), "{}", text(&o));
    let all = runs_of(&runs, "sh");
    let (dir, info) = &all[0];
    assert_eq!(info["status"], "completed", "{info}");
    assert_eq!(
        info["metrics"]["val/loss"], 0.3,
        "the cut and the malformed lines are left out"
    );
    let csv = std::fs::read_to_string(dir.join("scalars.csv")).unwrap();
    let steps: Vec<&str> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap())
        .collect();
    // Printed and appended to metrics.jsonl: each value once, from one channel, said.
    assert_eq!(steps, ["100", "200", "300"], "{csv}");
    // The log keeps a bounded part of the 300 kB line.
    let log = std::fs::read(dir.join("train.log")).unwrap();
    assert!(log.len() < 200_000, "{}", log.len());
    let log = String::from_utf8_lossy(&log);
    assert_eq!(log.matches("`val/loss` comes from").count(), 1, "{log}");
}

#[test]
fn failures_timeouts_and_signals_are_recorded_with_their_reasons() {
    let d = tempfile::tempdir().unwrap();
    let runs = d.path().join("runs");
    write_exec(
        d.path(),
        "p.sh",
        "#!/bin/sh\ncase \"$1\" in\n  --mode=fail) echo 'loss: 1'; echo 'Traceback: boom' >&2; exit 3;;\n  --mode=silent) echo 'nothing to report';;\n  --mode=slow) echo 'loss: 1'; sleep 30;;\n  --mode=killed) kill -9 $$;;\n  --mode=nan) echo 'loss: nan';;\nesac\n",
    );
    let sweep = write_sweep(
        d.path(),
        "s.yaml",
        "label: f\ncommand: [./p.sh]\nmetrics:\n  loss: lower\ntimeout: 2s\ngrid:\n  mode: [fail, silent, slow, killed, nan]\n",
    );
    let o = cmd(&run_args(&sweep, &runs, &["--jobs", "5"]))
        .env("DDIM_STOP_GRACE", "1")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let by_mode = |mode: &str| {
        runs_of(&runs, "f")
            .into_iter()
            .find(|(_, i)| i["flags"]["mode"] == mode)
            .unwrap()
            .1
    };
    let fail = by_mode("fail");
    assert_eq!(fail["status"], "failed");
    assert_eq!(
        fail["reason"], "the program exited with code 3: Traceback: boom",
        "{fail}"
    );
    assert_eq!(
        fail["program"]["stderr_tail"],
        serde_json::json!(["Traceback: boom"])
    );
    let silent = by_mode("silent");
    assert_eq!(silent["status"], "failed");
    assert!(
        silent["reason"]
            .as_str()
            .unwrap()
            .contains("without reporting its headline metric `loss`"),
        "{silent}"
    );
    let slow = by_mode("slow");
    assert_eq!(slow["status"], "failed");
    assert!(
        slow["reason"]
            .as_str()
            .unwrap()
            .starts_with("timed out after 2s"),
        "{slow}"
    );
    let killed = by_mode("killed");
    assert_eq!(
        killed["reason"], "the program was killed by SIGKILL",
        "{killed}"
    );
    // NaN is a value: the run completes; it is kept by name and ranks last.
    let nan = by_mode("nan");
    assert_eq!(nan["status"], "completed", "{nan}");
    assert_eq!(nan["program"]["non_finite"]["loss"], "NaN");
    assert!(nan["metrics"].get("loss").is_none());
    let o = run(&["runs", "--runs-dir", runs.to_str().unwrap()]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("NaN"),
        "{}",
        text(&o)
    );
}

#[test]
fn bad_programs_names_and_values_are_refused_at_planning() {
    let d = tempfile::tempdir().unwrap();
    let runs = d.path().join("runs");
    std::fs::write(d.path().join("plain.sh"), "#!/bin/sh\n").unwrap();
    let cases = [
        (
            "command: [no-such-program-xyz]\nmetrics: {loss: lower}\n",
            "s.yaml:2",
            "is not on PATH",
        ),
        (
            "command: [./plain.sh]\nmetrics: {loss: lower}\n",
            "s.yaml:2",
            "is not executable",
        ),
        (
            "command: [./missing.sh]\nmetrics: {loss: lower}\n",
            "s.yaml:2",
            "does not exist",
        ),
        (
            "command: [sh, -e, missing.sh]\nmetrics: {loss: lower}\n",
            "s.yaml:2",
            "the script `missing.sh` that `sh` is to run does not exist",
        ),
        (
            "command: [sh]\nmetrics: {\"a b\": lower}\n",
            "s.yaml:3",
            "cannot be a metric's name",
        ),
        (
            "command: [sh]\nmetrics: {loss: lower}\ngrid:\n  \"--x\": [1, 2]\n",
            "s.yaml",
            "`--x` cannot be a flag of a program: it must start with a letter",
        ),
        (
            "command: [sh]\nmetrics: {loss: lower}\nflags:\n  x: [1, 2]\n",
            "s.yaml:5",
            "a string, number or boolean",
        ),
        (
            "command: [sh, \"{nope}\"]\nmetrics: {loss: lower}\n",
            "s.yaml:2",
            "names no flag",
        ),
        (
            "command: [sh]\nmetrics: {loss: lower}\nstop: {metric: acc, rule: median}\n",
            "s.yaml:4",
            "not one the program reports",
        ),
    ];
    for (body, at, want) in cases {
        let sweep = write_sweep(d.path(), "s.yaml", &format!("label: bad\n{body}"));
        let o = run(&run_args(&sweep, &runs, &[]));
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        assert_eq!(o.status.code(), Some(2), "{body}: {}", text(&o));
        assert!(err.contains(at) && err.contains(want), "{body}: {err}");
    }
    assert!(!runs.join("bad").exists() || run_folders(&runs, "bad").is_empty());
}

/// A program that reports `val_loss` every 0.3 s for 20 epochs; `bad` ones report worse
/// values and start a child that ignores SIGTERM and one in its own session, writing their
/// pids to `pids`.
/// Each epoch: three rows of training steps, then a row with the watched `loss` (the rule
/// must wait for it, not judge the epoch's first row).
const STOPPABLE: &str = "#!/bin/sh\n\
if [ \"$DDIM_FLAG_BAD\" = true ]; then\n\
  sh -c 'trap \"\" TERM; while true; do sleep 1; done' &\n  echo $! >> pids\n\
  setsid sh -c 'echo $$ >> pids; while true; do sleep 1; done' &\n\
fi\n\
e=1\ns=0\nwhile [ $e -le 20 ]; do\n  echo \"epoch: $e\"\n\
  for i in 1 2 3; do s=$((s+1)); echo \"step: $s\"; echo 'train_loss: 0.5'; done\n\
  s=$((s+1)); echo \"step: $s\"\n\
  if [ \"$DDIM_FLAG_BAD\" = true ]; then echo 'loss: 9'; else echo 'loss: 1'; fi\n\
  e=$((e+1)); sleep 0.1\ndone\n";

#[test]
fn a_stop_rule_ends_the_program_and_every_process_it_started() {
    let d = tempfile::tempdir().unwrap();
    let runs = d.path().join("runs");
    write_exec(d.path(), "p.sh", STOPPABLE);
    let sweep = write_sweep(
        d.path(),
        "s.yaml",
        "label: st\ncommand: [./p.sh]\nmetrics:\n  loss: lower\n  train_loss: lower\ngrid:\n  bad: [false, true]\nstop:\n  metric: loss\n  rule: median\n  after_epochs: 2\n  min_runs: 1\n",
    );
    let o = cmd(&run_args(&sweep, &runs, &["--jobs", "1"]))
        .env("DDIM_STOP_GRACE", "1")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let all = runs_of(&runs, "st");
    let (bad_dir, bad) = all
        .iter()
        .find(|(_, i)| i["flags"]["bad"] == "true")
        .unwrap();
    // `loss` is also a column of the built-in trainer's scalars.csv: the rule reads the
    // program's.
    assert_eq!(bad["status"], "stopped", "{bad}");
    let epochs: std::collections::BTreeSet<String> =
        std::fs::read_to_string(bad_dir.join("scalars.csv"))
            .unwrap()
            .lines()
            .skip(1)
            .map(|l| l.split(',').next().unwrap().to_string())
            .collect();
    assert!(epochs.len() < 20, "stopped early: {epochs:?}");
    let d = serde_json::from_str::<serde_json::Value>(
        &std::fs::read_to_string(bad_dir.join("stop.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        (d["value"].as_f64(), d["compared"].as_u64()),
        (Some(9.0), Some(1)),
        "{d}"
    );
    let pids: Vec<i32> = std::fs::read_to_string(bad_dir.join("pids"))
        .unwrap()
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    assert_eq!(pids.len(), 2);
    wait_for(
        "the program's children to end",
        Duration::from_secs(10),
        || pids.iter().all(|p| !alive(*p)),
    );
}

/// Counts epochs to 12 with a checkpoint file; a resumed run continues from it.
const RESUMABLE: &str = "#!/bin/sh\n\
e=1\nif [ \"$DDIM_RESUME\" = 1 ]; then echo resumed >> resumed; e=$(cat ckpt); fi\n\
while [ $e -le 12 ]; do\n  echo \"epoch: $e\"\n  echo \"val_loss: $e\"\n  echo $e > ckpt\n  e=$((e+1)); sleep 0.15\ndone\n";

#[test]
fn sigkill_of_run_leaves_no_program_and_the_same_command_resumes() {
    let d = tempfile::tempdir().unwrap();
    let runs = d.path().join("runs");
    write_exec(d.path(), "p.sh", RESUMABLE);
    let sweep = write_sweep(
        d.path(),
        "s.yaml",
        "label: k\ncommand: [./p.sh]\nmetrics:\n  val_loss: lower\ngrid:\n  x: [1, 2]\n",
    );
    let mut child = cmd(&run_args(&sweep, &runs, &["--jobs", "1"]))
        .env("DDIM_STOP_GRACE", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let second_running = || {
        let all = if runs.join("k").exists() {
            runs_of(&runs, "k")
        } else {
            vec![]
        };
        all.iter().any(|(_, i)| i["status"] == "completed")
            && all.iter().any(|(d, i)| {
                i["status"] == "running"
                    && std::fs::read_to_string(d.join("scalars.csv"))
                        .is_ok_and(|c| c.lines().count() > 3)
            })
    };
    wait_for(
        "the second run to be running",
        Duration::from_secs(30),
        second_running,
    );
    send_signal(&child, libc::SIGKILL);
    child.wait().unwrap();
    // Its programs do not outlive it: the run ends interrupted, its process gone.
    let interrupted = || {
        runs_of(&runs, "k")
            .iter()
            .any(|(_, i)| i["status"] == "interrupted")
    };
    for _ in 0..300 {
        if interrupted() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(interrupted(), "{:?}", runs_of(&runs, "k"));
    let (first, _) = runs_of(&runs, "k")
        .into_iter()
        .find(|(_, i)| i["status"] == "completed")
        .unwrap();
    let o = run(&run_args(&sweep, &runs, &["--jobs", "1"]));
    assert!(o.status.success(), "{}", text(&o));
    for (dir, info) in runs_of(&runs, "k") {
        assert_eq!(info["status"], "completed", "{info}");
        let resumed = dir.join("resumed").exists();
        if dir == first {
            assert_eq!(info["attempts"], 1, "a completed run never runs again");
            assert!(!resumed);
        } else {
            assert_eq!(info["attempts"], 2);
            assert!(resumed, "DDIM_RESUME=1 on the restart");
            let csv = std::fs::read_to_string(dir.join("scalars.csv")).unwrap();
            let epochs: Vec<&str> = csv
                .lines()
                .skip(1)
                .map(|l| l.split(',').next().unwrap())
                .collect();
            let want: Vec<String> = (1..=12).map(|e| e.to_string()).collect();
            assert_eq!(epochs, want, "each epoch once: {csv}");
        }
    }
}

#[test]
fn a_tpe_search_of_a_program_gives_the_same_trials_whatever_the_jobs() {
    let d = tempfile::tempdir().unwrap();
    write_exec(
        d.path(),
        "f.sh",
        "#!/bin/sh\nawk -v lr=\"$DDIM_FLAG_LR\" -v w=\"$DDIM_FLAG_WIDTH\" -v a=\"$DDIM_FLAG_ACT\" 'BEGIN { l = log(lr)/log(10) + 3; printf \"objective: %.12f\\n\", l*l + (w-32)*(w-32)/1000 + (a == \"gelu\") }'\n",
    );
    let sweep = write_sweep(
        d.path(),
        "s.yaml",
        "label: tpe\ncommand: [./f.sh]\nmetrics:\n  objective: lower\nsearch:\n  sampler: tpe\n  metric: objective\n  trials: 6\n  parallel: 2\n  startup: 2\n  seed: 5\n  space:\n    lr: loguniform(1e-5, 1e-1)\n    width: randint(8, 64)\n    act: [relu, gelu]\n",
    );
    let mut trials = Vec::new();
    for jobs in ["1", "2"] {
        let runs = d.path().join(format!("runs{jobs}"));
        let o = run(&run_args(&sweep, &runs, &["--jobs", jobs]));
        assert!(o.status.success(), "{}", text(&o));
        trials.push(search_trials(&runs, "tpe"));
    }
    assert_eq!(trials[0].len(), 6);
    assert_eq!(trials[0], trials[1]);
    // The record is read back whole: the report has the search, with every searched flag.
    let runs = d.path().join("runs1");
    let o = run(&[
        "report",
        "--runs-dir",
        runs.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("warning"), "{err}");
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(!j["search"].is_null(), "{j}");
    let table = run(&["runs", "--runs-dir", runs.to_str().unwrap()]);
    let header = String::from_utf8_lossy(&table.stdout)
        .lines()
        .next()
        .unwrap()
        .to_string();
    for flag in ["lr", "width", "act", "objective"] {
        assert!(header.split_whitespace().any(|c| c == flag), "{header}");
    }
}

/// PyTorch's `SummaryWriter` in the run folder (its default `runs/…`), flushed each step.
const SUMMARY_WRITER_PY: &str = r#"
import argparse, time
from torch.utils.tensorboard import SummaryWriter
p = argparse.ArgumentParser()
p.add_argument("--bad", action="store_true")
a = p.parse_args()
w = SummaryWriter()
for step in range(1, 31):
    w.add_scalar("val/loss", (9.0 if a.bad else 1.0) / step, step)
    w.add_scalar("train/lr", 0.1, step)
    w.flush()
    time.sleep(0.15)
w.close()
"#;

#[test]
fn tensorboard_files_a_pytorch_program_writes_are_read_while_it_runs() {
    let d = tempfile::tempdir().unwrap();
    let runs = d.path().join("runs");
    std::fs::write(d.path().join("tb.py"), SUMMARY_WRITER_PY).unwrap();
    let sweep = write_sweep(
        d.path(),
        "s.yaml",
        &format!(
            "label: tbw\ncommand: [{}, tb.py]\nmetrics:\n  val/loss: lower\ngrid:\n  bad: [false, true]\nstop:\n  metric: val/loss\n  rule: median\n  after_epochs: 3\n  min_runs: 1\n",
            python().display()
        ),
    );
    let o = cmd(&run_args(&sweep, &runs, &["--jobs", "1"]))
        .env("DDIM_STOP_GRACE", "2")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let all = runs_of(&runs, "tbw");
    let (good_dir, good) = all
        .iter()
        .find(|(_, i)| i["flags"]["bad"] == "false")
        .unwrap();
    assert_eq!(good["status"], "completed", "{good}");
    assert!(
        (good["metrics"]["val/loss"].as_f64().unwrap() - 1.0 / 30.0).abs() < 1e-6,
        "{good}"
    );
    let rows = std::fs::read_to_string(good_dir.join("scalars.csv"))
        .unwrap()
        .lines()
        .count()
        - 1;
    assert_eq!(rows, 30);
    let (bad_dir, bad) = all
        .iter()
        .find(|(_, i)| i["flags"]["bad"] == "true")
        .unwrap();
    assert_eq!(
        bad["status"], "stopped",
        "stopped while its writer ran: {bad}"
    );
    let rows = std::fs::read_to_string(bad_dir.join("scalars.csv"))
        .unwrap()
        .lines()
        .count()
        - 1;
    assert!((3..30).contains(&rows), "{rows}");
}

#[test]
fn a_completed_run_of_other_sources_stays_completed_and_is_marked() {
    let d = tempfile::tempdir().unwrap();
    let runs = d.path().join("runs");
    write_exec(d.path(), "p.sh", "#!/bin/sh\necho 'loss: 1'\n");
    let sweep = write_sweep(
        d.path(),
        "s.yaml",
        "label: zz\ncommand: ./p.sh\nmetrics:\n  loss: lower\nrandom:\n  trials: 2\n  space:\n    x: uniform(0, 1)\n",
    );
    let o = run(&run_args(&sweep, &runs, &[]));
    assert!(o.status.success(), "{}", text(&o));
    let before: Vec<_> = runs_of(&runs, "zz")
        .into_iter()
        .map(|(_, i)| i["program"]["sources_hash"].clone())
        .collect();
    // (Label zz: its two draws differ; a one-flag space can draw a value twice at 4 digits.)
    assert_eq!(before.len(), 2, "two random draws");
    // The script changes: the completed runs stay completed, are said and marked.
    write_exec(d.path(), "p.sh", "#!/bin/sh\necho 'loss: 2'\n");
    let o = run(&run_args(&sweep, &runs, &[]));
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("2 completed run(s) were made by other sources than the current p.sh"),
        "{out}"
    );
    assert!(out.contains("all 2 runs are completed"), "{out}");
    for (dir, info) in runs_of(&runs, "zz") {
        assert_eq!(info["metrics"]["loss"], 1.0, "not rerun");
        assert_eq!(
            std::fs::read_to_string(dir.join("p.sh")).unwrap(),
            "#!/bin/sh\necho 'loss: 1'\n",
            "the copy it ran"
        );
    }
    let o = run(&["runs", "--runs-dir", runs.to_str().unwrap()]);
    let listing = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        listing.matches("completed (other sources)").count(),
        2,
        "{listing}"
    );
}

/// A race over a program's metric where higher is better: the worst configurations are
/// eliminated on their seeds (`DDIM_SEED`; the program has no --seed option).
#[test]
fn a_race_of_a_program_on_a_higher_is_better_metric() {
    let d = tempfile::tempdir().unwrap();
    let runs = d.path().join("runs");
    write_exec(
        d.path(),
        "p.sh",
        "#!/bin/sh\nawk -v a=\"$DDIM_FLAG_A\" -v s=\"$DDIM_SEED\" 'BEGIN { printf \"acc: %.6f\\n\", a / 10 + (s % 3) / 1000 }'\n",
    );
    let sweep = write_sweep(
        d.path(),
        "s.yaml",
        "label: pr\ncommand: [./p.sh]\nmetrics:\n  acc: higher\ngrid:\n  a: [1, 5, 9]\nrace:\n  metric: acc\n  seeds: 4\n  min_seeds: 2\n  alpha: 0.05\n",
    );
    let o = run(&run_args(&sweep, &runs, &[]));
    assert!(o.status.success(), "{}", text(&o));
    let race = read_json(&runs.join("pr/sweep.json"))["race"].clone();
    assert_eq!(race["winner"]["a"], "9", "{race:#}");
    assert!(
        race["runs_used"].as_u64().unwrap() < 12,
        "losers eliminated: {race:#}"
    );
    for (_, info) in runs_of(&runs, "pr") {
        let argv = info["program"]["argv"].to_string();
        assert!(!argv.contains("--seed"), "{argv}");
    }
}

/// A program that forks a child and exits leaves no orphan; a value with a line break is one
/// argument.
#[test]
fn a_program_that_forks_and_exits_leaves_no_orphan() {
    let d = tempfile::tempdir().unwrap();
    let runs = d.path().join("runs");
    write_exec(
        d.path(),
        "p.sh",
        "#!/bin/sh\nsleep 300 &\necho $! > child\nprintf '%s' \"$2\" > arg\necho 'loss: 1'\n",
    );
    let sweep = write_sweep(
        d.path(),
        "s.yaml",
        "label: orphan\ncommand: [./p.sh, --note, \"{note}\"]\nmetrics:\n  loss: lower\nflags:\n  note: \"two\\nlines\"\n",
    );
    let o = cmd(&run_args(&sweep, &runs, &[]))
        .env("DDIM_STOP_GRACE", "1")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let (dir, info) = runs_of(&runs, "orphan").remove(0);
    assert_eq!(info["status"], "completed", "{info}");
    assert_eq!(
        std::fs::read_to_string(dir.join("arg")).unwrap(),
        "two\nlines"
    );
    let pid: i32 = std::fs::read_to_string(dir.join("child"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    wait_for("the orphan to be ended", Duration::from_secs(5), || {
        !alive(pid)
    });
}

/// `sample_metrics:`: the images a program leaves in `samples/` are scored with the sample
/// metrics once it exits (the same KID as `ddim-sweep kid`), each `samples/epoch_N/` is a row
/// of scalars.csv, the search may rank by them; a program that leaves no images fails with
/// the reason, and a missing reference or a stop rule on KID is refused at planning.
#[test]
fn sample_metrics_score_the_images_a_program_leaves() {
    let d = tempfile::tempdir().unwrap();
    let runs = d.path().join("runs");
    let net = tiny_network();
    write_pngs(&d.path().join("ref"), 8, 16, 1);
    write_pngs(&d.path().join("pool/near"), 6, 16, 2);
    write_pngs(&d.path().join("pool/far"), 6, 16, 40);
    write_exec(
        d.path(),
        "p.sh",
        "#!/bin/sh\nset -e\n[ \"$DDIM_FLAG_SET\" = none ] && { echo 'loss: 1'; exit 0; }\n\
         mkdir -p samples/epoch_1 samples/epoch_2\n\
         cp \"$1/$DDIM_FLAG_SET\"/img_00[0-2].png samples/epoch_1/\n\
         cp \"$1/$DDIM_FLAG_SET\"/*.png samples/epoch_2/\n\
         cp \"$1/$DDIM_FLAG_SET\"/*.png samples/\n\
         echo 'epoch: 1'\necho 'loss: 2'\necho 'epoch: 2'\necho 'loss: 1'\n",
    );
    let body = |grid: &str, extra: &str| {
        format!(
            "label: sm\ncommand: [./p.sh, \"{{sweep_dir}}/pool\"]\nmetrics:\n  loss: lower\n\
             sample_metrics:\n  reference: ref\ngrid:\n  set: [{grid}]\n{extra}"
        )
    };
    let sweep = write_sweep(d.path(), "s.yaml", &body("near, far, none", ""));
    let o = cmd(&run_args(&sweep, &runs, &[]))
        .env("DDIM_INCEPTION", &net)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(1),
        "the run without images fails: {}",
        text(&o)
    );
    let mut kids = std::collections::BTreeMap::new();
    for (dir, info) in runs_of(&runs, "sm") {
        let set = info["flags"]["set"].as_str().unwrap().to_string();
        if set == "none" {
            assert_eq!(info["status"], "failed", "{info}");
            let reason = info["reason"].as_str().unwrap_or_default();
            assert!(
                reason.contains("sample_metrics") && reason.contains("samples"),
                "{info}"
            );
            continue;
        }
        assert_eq!(info["status"], "completed", "{info}");
        let kid = info["metrics"]["kid"].as_f64().unwrap();
        // the same KID as the `kid` command on the same images (epoch_2/ holds copies of
        // the final ones; `kid` reads a folder's subfolders too) and network
        let o = run(&[
            "kid",
            dir.join("samples/epoch_2").to_str().unwrap(),
            d.path().join("ref").to_str().unwrap(),
            "--network",
            net.to_str().unwrap(),
            "--device",
            "cpu",
        ]);
        assert!(o.status.success(), "{}", text(&o));
        let out = String::from_utf8_lossy(&o.stdout).to_string();
        let want: f64 = out
            .lines()
            .find(|l| l.starts_with("KID ") && l.contains("batches of 128"))
            .and_then(|l| l.split_whitespace().nth(1))
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            (kid - want).abs() <= 1e-7,
            "{kid} vs {want} (printed to 7 places)"
        );
        // each epoch folder is a row; the program's own loss is kept beside it
        let csv = std::fs::read_to_string(dir.join("scalars.csv")).unwrap();
        let head: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
        let col = head.iter().position(|c| *c == "val_kid").expect(&csv);
        let epoch = head.iter().position(|c| *c == "epoch").unwrap();
        let rows: Vec<Vec<&str>> = csv
            .lines()
            .skip(1)
            .map(|l| l.split(',').collect())
            .collect();
        let measured: Vec<(&str, f64)> = rows
            .iter()
            .filter(|r| !r[col].is_empty())
            .map(|r| (r[epoch], r[col].parse().unwrap()))
            .collect();
        assert_eq!(measured.len(), 2, "{csv}");
        assert_eq!((measured[0].0, measured[1].0), ("1", "2"), "{csv}");
        assert!(
            (measured[1].1 - kid).abs() < 1e-9,
            "epoch 2 holds the final images: {csv}"
        );
        assert_eq!(info["metrics"]["loss"], 1.0, "{info}");
        kids.insert(set, kid);
    }
    assert!(kids["near"] < kids["far"], "{kids:?}");
    // The report and the listing have the KID column.
    let o = run(&[
        "report",
        "--runs-dir",
        runs.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(j.to_string().contains("\"kid\""), "{j}");
    let o = run(&["runs", "--runs-dir", runs.to_str().unwrap()]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("kid"),
        "{}",
        text(&o)
    );

    // The markdown report shows the images each run left, one row per run that left some.
    let out = d.path().join("reports");
    let o = cmd(&[
        "report",
        "--runs-dir",
        runs.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ])
    .env("DDIM_INCEPTION", &net)
    .output()
    .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let md = std::fs::read_to_string(out.join("sm/README.md"))
        .or_else(|_| std::fs::read_to_string(out.join("sm/report.md")))
        .unwrap_or_else(|_| panic!("{:?}", walk(&out)));
    assert!(
        md.contains("images.png") && md.contains("Images per run"),
        "{md}"
    );
    let img = image::open(out.join("sm/images.png")).unwrap();
    assert!(
        img.height() > 2 * 16 && img.width() >= 8 * 16,
        "{}x{}",
        img.width(),
        img.height()
    );
    assert!(md.contains("kid.png"), "{md}");

    // A search may rank by KID.
    let search = write_sweep(
        d.path(),
        "search.yaml",
        "label: sms\ncommand: [./p.sh, \"{sweep_dir}/pool\"]\nmetrics:\n  loss: lower\n\
         sample_metrics:\n  reference: ref\nsearch:\n  sampler: random\n  metric: kid\n  trials: 2\n  seed: 1\n  space:\n    set: [near, far]\n",
    );
    let o = cmd(&run_args(&search, &runs, &["--dry-run"]))
        .env("DDIM_INCEPTION", &net)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));

    // Refused at planning: a missing reference, a stop rule on KID, sample_metrics without a
    // program.
    let cases = [
        (
            body("near", "").replace("reference: ref", "reference: nowhere"),
            "s.yaml:",
            "is not a folder",
        ),
        (
            body("near", "stop: {metric: kid, rule: median}\n"),
            "s.yaml:",
            "sample_metrics",
        ),
        (
            "label: sm\nsample_metrics:\n  reference: ref\nflags:\n  epochs: 1\n".to_string(),
            "s.yaml:2",
            "command",
        ),
    ];
    for (text_, at, want) in cases {
        let sweep = write_sweep(d.path(), "s.yaml", &text_);
        let o = cmd(&run_args(&sweep, &runs, &["--dry-run"]))
            .env("DDIM_INCEPTION", &net)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        assert_eq!(o.status.code(), Some(2), "{text_}: {}", text(&o));
        assert!(err.contains(at) && err.contains(want), "{text_}: {err}");
    }
}
