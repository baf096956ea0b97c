//! The search record's integrity through the real binary, one test per defect found in it
//! (issue 37): a damaged trial makes the search wait (or `--forget` it), never train around
//! it; extreme values never panic the GP; the report checks the record's flags against the
//! runs' own; a closed stdout ends a command quietly; long lists; a linked report folder;
//! `--dry-run`'s threads; an integer range no run could use; huge metrics in the report.

mod common;

use common::*;
use std::io::Read;
use std::path::Path;
use std::process::Stdio;

/// The tiny flags (F).
const F: &str = "  dataset_name: shapes\n  image_size: 16\n  unet_widths: [8, 16]\n  block_depth: 1\n  embedding_dim: 8\n  batch_size: 8\n  max_images: 96\n  dataset_repetitions: 1\n  epochs: 2\n  sample_every: 0\n  device: cpu\n  kid_images: 0\n";

fn search(label: &str, sampler: &str, trials: usize, metric: &str) -> String {
    format!(
        "label: {label}\nflags:\n{F}search:\n  sampler: {sampler}\n  metric: {metric}\n  trials: {trials}\n  parallel: 1\n  startup: 2\n  seed: 5\n  space:\n    lr: loguniform(1e-4, 1e-2)\n    loss: [mae, mse]\n"
    )
}

fn record(runs: &Path, label: &str) -> serde_json::Value {
    read_json(&runs.join(label).join("sweep.json"))
}

/// `report --no-images` of `runs` into `out`.
fn report_tables(runs: &Path, out: &Path) -> std::process::Output {
    run(&[
        "report",
        "--runs-dir",
        runs.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--no-images",
    ])
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Defect 1: a finished search whose trial 0 has a damaged run.json waits for its repair
/// (exit 1, the run named, no new run, the record's trials kept); repaired, nothing to do;
/// damaged again and forgotten with `--forget`, later trials are decided without it and the
/// record keeps what was forgotten. A resumed search reuses its recorded decisions.
#[test]
fn a_damaged_trial_is_waited_for_or_forgotten_never_trained_around() {
    let d = tempfile::tempdir().unwrap();
    let s = write_sweep(d.path(), "s.yaml", &search("dmg", "tpe", 4, "noise_loss"));
    let runs = d.path().join("runs");
    let o = run(&run_args(&s, &runs, &[]));
    assert!(o.status.success(), "{}", text(&o));
    let trials = record(&runs, "dmg")["search"]["trials"].clone();
    assert_eq!(trials.as_array().unwrap().len(), 4);
    let first = trials[0]["run"].as_str().unwrap().to_string();
    let run_json = runs.join("dmg").join(&first).join("run.json");
    let good = std::fs::read(&run_json).unwrap();

    std::fs::write(&run_json, b"").unwrap();
    let o = run(&run_args(&s, &runs, &[]));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = text(&o);
    assert!(
        out.contains(&format!("trial 0 (run {first}) has damaged files")),
        "{out}"
    );
    assert!(out.contains("waits for their repair"), "{out}");
    assert_eq!(
        run_dirs(&runs, "dmg").len(),
        4,
        "no run trained around it\n{out}"
    );
    let rec = record(&runs, "dmg");
    assert_eq!(
        rec["search"]["trials"], trials,
        "the record's trials are kept"
    );
    assert_eq!(rec["search"]["damaged"][0]["run"], first.as_str());
    let o = run(&run_args(&s, &runs, &["--dry-run"]));
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        stdout(&o).contains("waits for their repair"),
        "{}",
        text(&o)
    );

    // Repaired: nothing to do, the same record.
    std::fs::write(&run_json, &good).unwrap();
    let o = run(&run_args(&s, &runs, &[]));
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        stdout(&o).contains("4 decided so far, 4 completed, 0 to run now"),
        "{}",
        text(&o)
    );
    let rec = record(&runs, "dmg");
    assert_eq!(rec["search"]["trials"], trials);
    assert!(rec["search"].get("damaged").is_none(), "{rec}");

    // The decisions are reused from the record, not replayed.
    let o = run(&run_args(&s, &runs, &["--dry-run"]));
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        stdout(&o).contains("2 decision(s) reused from sweep.json (their checks hold), 0 computed"),
        "{}",
        text(&o)
    );

    // --forget refuses what is not a damaged trial of this search.
    let second = trials[1]["run"].as_str().unwrap();
    let err = run_expect(&run_args(&s, &runs, &["--forget", second]), 2);
    assert!(err.contains("is completed, not damaged"), "{err}");
    let err = run_expect(&run_args(&s, &runs, &["--forget", "0123456789ab"]), 2);
    assert!(err.contains("not a trial's run of sweep dmg"), "{err}");

    // Damaged again and forgotten: later trials are decided without it (recorded).
    std::fs::write(&run_json, b"{").unwrap();
    let o = run(&run_args(&s, &runs, &["--forget", &first]));
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("it was forgotten (run --forget)"),
        "{}",
        text(&o)
    );
    let rec = record(&runs, "dmg");
    assert_eq!(rec["search"]["forgotten"][0], first.as_str());
    assert_eq!(rec["search"]["trials"].as_array().unwrap().len(), 4);
    assert_eq!(
        rec["search"]["trials"].as_array().unwrap()[..2],
        trials.as_array().unwrap()[..2],
        "{rec}"
    );
    // The forgotten run stays forgotten without --forget.
    let o = run(&run_args(&s, &runs, &[]));
    assert!(o.status.success(), "{}", text(&o));
    assert!(stdout(&o).contains("0 to run now"), "{}", text(&o));
}

/// Defect 2: a GP search whose runs report 1e308 (and ties) decides its next trial without
/// a panic, in `--dry-run` and in `run`.
#[test]
fn a_gp_search_on_extreme_values_decides_without_a_panic() {
    let d = tempfile::tempdir().unwrap();
    let s = write_sweep(d.path(), "s.yaml", &search("gpx", "gp", 2, "noise_loss"));
    let runs = d.path().join("runs");
    let o = run(&run_args(&s, &runs, &[]));
    assert!(o.status.success(), "{}", text(&o));
    for dir in run_folders(&runs, "gpx") {
        let p = dir.join("run.json");
        let mut j = read_json(&p);
        j["metrics"]["noise_loss"] = serde_json::json!(1e308);
        std::fs::write(&p, serde_json::to_vec_pretty(&j).unwrap()).unwrap();
    }
    let s = write_sweep(d.path(), "s.yaml", &search("gpx", "gp", 3, "noise_loss"));
    let o = run(&run_args(&s, &runs, &["--dry-run"]));
    assert!(o.status.success(), "{}", text(&o));
    assert!(!text(&o).contains("panicked"), "{}", text(&o));
    let o = run(&run_args(&s, &runs, &[]));
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(run_dirs(&runs, "gpx").len(), 3);
}

/// Defect 3: the report checks the record's flags against the runs' own: it shows the runs'
/// values (in their columns) and says where the record disagrees.
#[test]
fn the_report_shows_the_runs_own_flags_and_names_a_record_that_disagrees() {
    let d = tempfile::tempdir().unwrap();
    let s = write_sweep(
        d.path(),
        "s.yaml",
        &search("rep", "random", 2, "noise_loss"),
    );
    let runs = d.path().join("runs");
    let o = run(&run_args(&s, &runs, &[]));
    assert!(o.status.success(), "{}", text(&o));
    let path = runs.join("rep/sweep.json");
    let mut rec = read_json(&path);
    let own_lr = rec["search"]["trials"][0]["flags"]["lr"]
        .as_str()
        .unwrap()
        .to_string();
    rec["search"]["trials"][0]["flags"] = serde_json::json!({"device": "cuda:7", "lr": "0.5"});
    rec["search"]["trials"][1]["flags"] = serde_json::json!({});
    std::fs::write(&path, serde_json::to_vec_pretty(&rec).unwrap()).unwrap();
    let out = d.path().join("report");
    let o = report_tables(&runs, &out);
    assert!(o.status.success(), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("search trial 0"), "{err}");
    assert!(err.contains("lr=0.5 (the run has"), "{err}");
    assert!(err.contains("search trial 1"), "{err}");
    assert!(err.contains("lr missing"), "{err}");
    let md = std::fs::read_to_string(out.join("rep/README.md")).unwrap();
    assert!(!md.contains("cuda:7"), "{md}");
    let row = md
        .lines()
        .find(|l| l.starts_with("| 0 "))
        .unwrap_or_else(|| panic!("{md}"));
    assert!(row.contains(&format!("| {own_lr} |")), "{row}");
    let cells = |l: &str| l.matches('|').count();
    let row1 = md.lines().find(|l| l.starts_with("| 1 ")).unwrap();
    assert_eq!(cells(row), cells(row1), "{row}\n{row1}");
}

/// A command's stdout closed by its reader before it writes.
fn with_closed_stdout(args: &[&str]) -> (Option<i32>, String) {
    let mut child = cmd(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let status = child.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    (status.code().or(status.signal().map(|s| 128 + s)), err)
}

/// Defect 4: a closed pipe ends `flags`, `run --dry-run` and `run` quietly (no panic), and
/// `run` still finishes its sweep and records it.
#[test]
fn a_closed_stdout_ends_quietly_and_the_sweep_is_kept_consistent() {
    let (code, err) = with_closed_stdout(&["flags"]);
    assert!(matches!(code, Some(0) | Some(141)), "{code:?} {err}");
    assert!(!err.contains("panicked"), "{err}");
    let d = tempfile::tempdir().unwrap();
    let s = write_sweep(
        d.path(),
        "s.yaml",
        &search("pipe", "random", 2, "noise_loss"),
    );
    let runs = d.path().join("runs");
    let (code, err) = with_closed_stdout(&run_args(&s, &runs, &["--dry-run"]));
    assert!(matches!(code, Some(0) | Some(141)), "{code:?} {err}");
    assert!(!err.contains("panicked"), "{err}");
    let (code, err) = with_closed_stdout(&run_args(&s, &runs, &[]));
    assert_eq!(code, Some(0), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let rec = record(&runs, "pipe");
    let inv = &rec["invocations"][0];
    assert_eq!(inv["completed"], 2, "{rec}");
    assert!(inv["ended"].is_string(), "{rec}");
    for dir in run_folders(&runs, "pipe") {
        assert_eq!(read_json(&dir.join("run.json"))["status"], "completed");
    }
}

/// Defect 5: a GP space with a list of 20,000 values is refused at its line, with what to
/// write instead; other samplers take it, and the run line does not print the whole list.
#[test]
fn a_long_list_is_bounded_for_the_gp_and_shortened_on_the_console() {
    let d = tempfile::tempdir().unwrap();
    let list: Vec<String> = (0..20_000).map(|i| i.to_string()).collect();
    let body = |sampler: &str| {
        format!(
            "label: long\nflags:\n{F}search:\n  sampler: {sampler}\n  metric: noise_loss\n  trials: 2\n  space:\n    lr: loguniform(1e-4, 1e-2)\n    seed: [{}]\n",
            list.join(", ")
        )
    };
    let s = write_sweep(d.path(), "s.yaml", &body("gp"));
    let runs = d.path().join("runs");
    let err = run_expect(&run_args(&s, &runs, &["--dry-run"]), 2);
    assert!(err.contains("s.yaml:21:"), "{err}");
    assert!(err.contains("seed: a list of 20000 values"), "{err}");
    assert!(err.contains("randint(low, high)"), "{err}");
    let s = write_sweep(d.path(), "s.yaml", &body("tpe"));
    let o = run(&run_args(&s, &runs, &["--dry-run"]));
    assert!(o.status.success(), "{}", text(&o));
    let out = stdout(&o);
    assert!(
        out.contains("seed ~ [0, 1, 2, 3, 4, 5, …, 19999] (20000 values)"),
        "{out}"
    );
    assert!(out.len() < 4000, "{} bytes", out.len());
}

/// Defect 6: `report --out O` refuses a label folder that is a symbolic link.
#[test]
fn the_report_never_writes_through_a_linked_label_folder() {
    let d = tempfile::tempdir().unwrap();
    let (_, runs) = two_runs(d.path(), "lnk");
    let out = d.path().join("out");
    let target = d.path().join("elsewhere");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::create_dir_all(&target).unwrap();
    std::os::unix::fs::symlink(&target, out.join("lnk")).unwrap();
    let o = report_tables(&runs, &out);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = text(&o);
    assert!(err.contains("is a symbolic link"), "{err}");
    assert_eq!(
        std::fs::read_dir(&target).unwrap().count(),
        0,
        "nothing written there"
    );
}

/// Defect 7: `--dry-run` says the threads the runs will have: OMP_NUM_THREADS as set.
#[test]
fn the_dry_run_says_the_threads_omp_num_threads_gives() {
    let d = tempfile::tempdir().unwrap();
    let s = write_sweep(
        d.path(),
        "s.yaml",
        &search("thr", "random", 2, "noise_loss"),
    );
    let runs = d.path().join("runs");
    // `cmd` sets OMP_NUM_THREADS=1 for every test process.
    let o = run(&run_args(&s, &runs, &["--dry-run", "--jobs", "2"]));
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        stdout(&o).contains(
            "local: at most 2 run(s) at once on the CPU, 1 thread(s) each (OMP_NUM_THREADS)"
        ),
        "{}",
        text(&o)
    );
}

/// Defect 8: an integer range that no run could use is refused when the file is read, at
/// its line.
#[test]
fn an_integer_range_beyond_the_flag_is_refused_at_planning() {
    let d = tempfile::tempdir().unwrap();
    let body = format!(
        "label: big\nflags:\n{F}search:\n  sampler: tpe\n  metric: noise_loss\n  trials: 2\n  space:\n    block_depth: randint(1, 9223372036854775807)\n"
    );
    let body = body.replace("  block_depth: 1\n", "");
    let s = write_sweep(d.path(), "s.yaml", &body);
    let err = run_expect(&run_args(&s, &d.path().join("runs"), &["--dry-run"]), 2);
    assert!(err.contains("s.yaml:19:"), "{err}");
    assert!(err.contains("block_depth"), "{err}");
    assert!(err.contains("integer from 1 to 64"), "{err}");
}

/// Defect 9: a metric of 1e308 is printed in scientific notation, never as 309 digits.
#[test]
fn a_huge_metric_is_printed_in_scientific_notation() {
    let d = tempfile::tempdir().unwrap();
    let (_, runs) = two_runs(d.path(), "huge");
    let dir = &run_folders(&runs, "huge")[0];
    let mut j = read_json(&dir.join("run.json"));
    j["metrics"]["noise_loss"] = serde_json::json!(1e308);
    std::fs::write(dir.join("run.json"), serde_json::to_vec_pretty(&j).unwrap()).unwrap();
    let out = d.path().join("out");
    let o = report_tables(&runs, &out);
    assert!(o.status.success(), "{}", text(&o));
    let md = std::fs::read_to_string(out.join("huge/README.md")).unwrap();
    assert!(md.contains("1.000000e308"), "{md}");
    assert!(!md.contains("1000000000000000000000"), "{md}");
}
