//! Sweep files (docs/sweeps.md): expansion, exclusions, `--set`, `--dry-run` and the runs'
//! states, bad files named by line, misused options, progress lines in a log.

mod common;
use common::*;
use std::fs;
use std::path::Path;

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
            ":2:1: unknown field `slrum` (a sweep file has label, flags, grid, seeds, exclude, random, stop, race, search, command, metrics, sources, timeout, sample_metrics, and a block per executor: local, slurm); did you mean `slurm`?",
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
