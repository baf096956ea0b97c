//! Integrity: edited files are refused wherever they are read, I/O errors name their file,
//! status stays true when another process holds a run, and hostile sweep files are refused
//! quickly with their line.

mod common;
use common::*;
use std::fs;
use std::path::Path;
use std::time::Duration;

/// flags.yaml edited after the run was created (lr 0.001 -> 0.5) is refused by every command
/// that reads the run, naming the file and the flag with both values; nothing is changed.
#[test]
fn an_edited_flags_file_is_refused_wherever_the_run_is_read() {
    let d = tempfile::tempdir().unwrap();
    let (s, runs) = two_runs(d.path(), "edit");
    let rs = runs.to_str().unwrap();
    let ids = run_dirs(&runs, "edit");
    let dir = ids
        .iter()
        .map(|id| runs.join("edit").join(id))
        .find(|p| {
            fs::read_to_string(p.join("flags.yaml"))
                .unwrap()
                .contains("lr: 0.001\n")
        })
        .expect("the lr=0.001 run");
    let flags = dir.join("flags.yaml");
    let edited = fs::read_to_string(&flags)
        .unwrap()
        .replace("lr: 0.001\n", "lr: 0.5\n");
    fs::write(&flags, &edited).unwrap();
    let said = |o: &std::process::Output| {
        let t = text(o);
        assert!(
            t.contains(&flags.display().to_string())
                && t.contains("edited after the run was created")
                && t.contains("lr: 0.5 there, 0.001 recorded"),
            "{t}"
        );
    };
    let d_str = dir.to_str().unwrap();
    let png = d.path().join("s.png");
    let out = d.path().join("reports");
    for args in [
        vec!["runs", "--runs-dir", rs],
        vec![
            "report",
            "--runs-dir",
            rs,
            "--out",
            out.to_str().unwrap(),
            "--no-images",
        ],
        vec!["train", "--run-dir", d_str],
        vec!["sample", d_str, "--out", png.to_str().unwrap()],
        vec![
            "kid",
            d_str,
            "--n",
            "4",
            "--batch",
            "2",
            "--subset-size",
            "2",
        ],
    ] {
        let o = run(&args);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", text(&o));
        said(&o);
    }
    let o = run(&run_args(&s, &runs, &["--dry-run"]));
    assert!(text(&o).contains("damaged"), "{}", text(&o));
    let o = run(&run_args(&s, &runs, &[]));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    said(&o);
    assert_eq!(fs::read_to_string(&flags).unwrap(), edited, "left alone");
    assert_eq!(read_json(&dir.join("run.json"))["status"], "completed");
}

/// I/O errors say what was being done and to which file: a --runs-dir below a file exits 2
/// before anything is written; a read-only runs directory and a full disk under `report`
/// name the path, with the system's words and no Rust debug text.
#[test]
fn io_errors_name_the_operation_and_the_file() {
    let d = tempfile::tempdir().unwrap();
    let (s, runs) = two_runs(d.path(), "io");
    let rs = runs.to_str().unwrap();

    let file = d.path().join("a-file");
    fs::write(&file, "x").unwrap();
    let below = file.join("runs");
    let o = run(&run_args(&s, &below, &[]));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains(&format!("is under `{}`, a file", file.display())),
        "{}",
        text(&o)
    );

    let ro = d.path().join("ro");
    let Some(_ro) = Tmpfs::mount_with(&ro, "size=1m,ro") else {
        return;
    };
    let o = run(&run_args(&s, &ro, &[]));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let t = text(&o);
    assert!(
        t.contains(&ro.join("io").display().to_string()) && t.contains("Read-only file system"),
        "{t}"
    );

    let full = d.path().join("full");
    let Some(_full) = Tmpfs::mount(&full, "40k") else {
        return;
    };
    let o = run(&[
        "report",
        "--runs-dir",
        rs,
        "--out",
        full.to_str().unwrap(),
        "--device",
        "cpu",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let t = text(&o);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!("cannot write {}", full.join("io").display()))
            && err.contains(".png: No space left on device (os error 28)"),
        "{t}"
    );
    for debug in ["Error(", "Os {", "Custom {", "kind:"] {
        assert!(!err.contains(debug), "debug text `{debug}`: {t}");
    }
    let tmps: Vec<_> = walkdir::WalkDir::new(&full)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
        .collect();
    assert!(tmps.is_empty(), "temporary files left: {tmps:?}");
}

/// A run that another process is training when the sweep starts: the sweep says once that it
/// waits, with that process's pid and host, and counts the run completed when that process
/// completes it (not failed, not trained twice).
#[test]
fn a_run_trained_by_another_process_is_waited_for_and_counted_completed() {
    let d = tempfile::tempdir().unwrap();
    let runs = d.path().join("runs");
    let rs = runs.to_str().unwrap();
    let body = sweep_body(
        "held",
        // Long enough (a few seconds) that the sweep starts while the other process trains.
        "  epochs: 3\n  max_images: 600\n  image_size: 32\n  lr: 1.0e-3\n",
        "  loss: [mae]\n",
    );
    let s = write_sweep(d.path(), "held.yaml", &body);
    let id = dry_run(&s, rs, &[]).remove(0).0;
    let dir = runs.join("held").join(&id);
    // The same flags as the sweep's run, so the same run.
    let mut other = spawn(&train_args(
        dir.to_str().unwrap(),
        &[
            "epochs=3",
            "max_images=600",
            "lr=1.0e-3",
            "loss=mae",
            "image_size=32",
        ],
    ));
    wait_for(
        "the other process to start",
        Duration::from_secs(60),
        || dir.join("progress.json").exists(),
    );
    let o = run(&run_args(&s, &runs, &[]));
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    let waiting = format!(
        "waiting up to 20 s for run {id}: it is being trained by another process (pid {} on ",
        other.id()
    );
    assert!(t.contains("all 1 runs are completed"), "{t}");
    assert!(!t.contains("FAILED") && !t.contains("failed 1"), "{t}");
    assert_waited_once_and_trained_once(&t, &waiting, &mut other, &dir);
    let o = run(&["runs", "--runs-dir", rs]);
    assert!(o.status.success(), "{}", text(&o));
}

/// Hostile sweep files are refused with exit 2 and their line before YAML parses them: deep
/// nesting of either kind, aliases that expand past the limit, a file over the size limit;
/// a label that YAML would rewrite (a number) must be quoted, and then names the directory as
/// written.
#[test]
fn hostile_sweep_files_are_refused_quickly_with_the_line() {
    let d = tempfile::tempdir().unwrap();
    let runs = d.path().join("runs");
    let mut bomb = String::from("label: b\nflags:\n  device: cpu\nexclude:\n");
    bomb.push_str("  - {lr: &a0 [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]}\n");
    for i in 1..9 {
        let r = format!("*a{}", i - 1);
        bomb.push_str(&format!("  - {{lr: &a{i} [{}]}}\n", vec![r; 10].join(", ")));
    }
    bomb.push_str("grid:\n  lr: [0.1, 0.2]\n");
    let mut long =
        String::from("label: l\nflags:\n  device: cpu\ngrid:\n  lr: [0.1, 0.2]\nexclude:\n");
    while long.len() <= 1 << 20 {
        long.push_str("  - {lr: 0.3}\n");
    }
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "braces",
            format!("label: n\nflags: {}", "{a: ".repeat(100_000)),
            ":2: nested 100001 levels deep here, over the limit of 32",
        ),
        (
            "brackets",
            format!("label: n\nflags: {}", "[".repeat(100_000)),
            ":2: nested 100001 levels deep here",
        ),
        (
            "indented",
            format!(
                "label: n\nflags:\n{}",
                (0..40).map(|i| format!("{}k{i}:\n", "  ".repeat(i + 1))).collect::<String>()
            ),
            ":34: nested 33 levels deep here",
        ),
        ("aliases", bomb, ":6: YAML aliases (`*name`) here expand past the parser's limit"),
        ("long", long, "over the limit of 1048576 (1 MiB)"),
        (
            "numeric",
            "label: 1.10\nflags:\n  device: cpu\n".into(),
            ":1: label must be a string, not `1.1`: quote it to name the sweep as written (label: \"1.10\")",
        ),
        (
            "exponent",
            "label: 1e3\nflags:\n  device: cpu\n".into(),
            ":1: label must be a string",
        ),
    ];
    for (name, body, expected) in cases {
        let s = write_sweep(d.path(), &format!("{name}.yaml"), &body);
        let o = run(&run_args(&s, &runs, &["--dry-run"]));
        assert_eq!(o.status.code(), Some(2), "{name}: {}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains(&format!("{name}.yaml{expected}")) || err.contains(expected),
            "{name}: {err}"
        );
        assert!(
            err.len() < 2000,
            "{name}: a short message: {} bytes",
            err.len()
        );
    }
    let s = write_sweep(
        d.path(),
        "quoted.yaml",
        &sweep_body(
            "\"1.10\"",
            "  epochs: 1\n  max_images: 40\n  image_size: 16\n",
            "  lr: [1.0e-3]\n",
        ),
    );
    let o = run(&run_args(&s, &runs, &["--dry-run"]));
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains(&format!("in {}", runs.join("1.10").display())),
        "{}",
        text(&o)
    );
}

/// While one process trains a run, a plain `train` of it exits 75 and changes nothing; `train
/// --wait` (how sweeps start runs) says once that it waits, with the holder's pid, and leaves
/// the run completed when the holder completes it: never trained twice.
#[test]
fn a_second_train_of_a_held_run_exits_75_or_waits() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("run");
    let ds = dir.to_str().unwrap();
    let flags = ["epochs=4", "max_images=400"];
    let mut first = spawn(&train_args(ds, &flags));
    wait_for(
        "the first process to start",
        Duration::from_secs(60),
        || dir.join("progress.json").exists(),
    );
    let o = run(&train_args(ds, &flags));
    assert_eq!(o.status.code(), Some(75), "{}", text(&o));
    assert!(
        text(&o).contains(&format!(
            "is being trained by another process (pid {} on ",
            first.id()
        )),
        "{}",
        text(&o)
    );
    let mut args = train_args(ds, &flags);
    args.insert(1, "--wait");
    let o = run(&args);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    let waiting = format!(
        "waiting: it is being trained by another process (pid {} on ",
        first.id()
    );
    assert!(t.contains("is already completed; nothing to do"), "{t}");
    assert_waited_once_and_trained_once(&t, &waiting, &mut first, &dir);
}

/// The output `t` says `waiting` once; the `holder` completes the run at `dir`, which was
/// trained by one attempt only.
fn assert_waited_once_and_trained_once(
    t: &str,
    waiting: &str,
    holder: &mut std::process::Child,
    dir: &Path,
) {
    assert_eq!(t.matches(waiting).count(), 1, "{t}");
    assert!(holder.wait().unwrap().success());
    let info = read_json(&dir.join("run.json"));
    assert_eq!(info["status"], "completed");
    assert_eq!(info["attempts"], 1, "trained once");
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
