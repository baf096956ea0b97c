//! Early stopping (`stop:`, docs/sweeps.md): hopeless runs stopped, resumed on request.

mod common;
use common::*;
use std::fs;

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

/// A stop rule takes any per-epoch metric with its direction: a sample metric needs runs that
/// measure it every few epochs (refused with the file's name otherwise), and one where higher
/// is better is accepted (the rule stops the lowest).
#[test]
fn a_stop_rule_on_a_sample_metric_needs_it_measured() {
    let d = tempfile::tempdir().unwrap();
    let runs = d.path().join("runs");
    let stop = "stop:\n  metric: val_improved_precision\n  rule: median\n";
    let body = |flags: &str| {
        format!(
            "{}{stop}",
            sweep_body(
                "sp",
                &format!("  epochs: 2\n{flags}"),
                "  lr: [1.0e-3, 2.0e-3]\n"
            )
        )
    };
    let s = write_sweep(d.path(), "no.yaml", &body(""));
    let o = run(&run_args(&s, &runs, &["--dry-run"]));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("no.yaml:13: stop: metric val_improved_precision is measured only by runs with kid_images > 0 and kid_every > 0"),
        "{}",
        text(&o)
    );
    // BASE sets kid_images: 0: these runs measure 16 samples every epoch instead.
    let s = write_sweep(
        d.path(),
        "yes.yaml",
        &body("  kid_every: 1\n").replace("kid_images: 0", "kid_images: 16"),
    );
    let o = run(&run_args(&s, &runs, &["--dry-run"]));
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("early stopping:") && text(&o).contains("val_improved_precision"),
        "{}",
        text(&o)
    );
}
