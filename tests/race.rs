//! Racing (`race:`): configurations in rounds of seeds, losers eliminated by Holm-corrected
//! one-sided paired t-tests, checked against SciPy's replay of the same race
//! (tests/python/race_ref.py).

mod common;
use common::race::*;
use common::*;
use std::fs;

#[test]
fn a_race_eliminates_hopeless_configurations_after_two_seeds() {
    let d = tempfile::tempdir().unwrap();
    let runs = d.path().join("runs");
    let sweep = d.path().join("race.yaml");
    fs::write(&sweep, RACE).unwrap();
    let s = sweep.to_str().unwrap();

    // Before anything ran: round 1 would start one run per configuration.
    let o = run(&run_args(s, &runs, &["--dry-run"]));
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("sweep race: 20 runs"), "{out}");
    assert!(
        out.contains("race: 4 configurations x 5 seeds on noise_loss"),
        "{out}"
    );
    assert!(out.contains("round 1 would start 4 run(s)"), "{out}");
    assert_eq!(out.matches("  later  ").count(), 16, "{out}");

    let o = run(&run_args(s, &runs, &["--jobs", "2"]));
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("race round 2:") && out.contains("eliminated [lr=1e-8]"),
        "{out}"
    );
    assert!(out.contains("race finished"), "{out}");

    let sweep_dir = runs.join("race");
    let race = check_against_scipy(&sweep_dir);
    check_outcome(&sweep_dir, &race);

    // The same command again starts nothing; --dry-run shows the race's end.
    let before = runs_per_config(&sweep_dir);
    let o = run(&run_args(s, &runs, &["--jobs", "2"]));
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("0 to run now") && out.contains("race finished"),
        "{out}"
    );
    assert_eq!(before, runs_per_config(&sweep_dir));
    let o = run(&run_args(s, &runs, &["--dry-run"]));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("eliminated") && out.contains("race finished"),
        "{out}"
    );
    assert!(!out.contains("would start"), "{out}");

    // The report: a Race section, and the decisions in JSON and CSV.
    let reports = d.path().join("reports");
    let report = |format: &str| {
        run(&[
            "report",
            "--runs-dir",
            runs.to_str().unwrap(),
            "--out",
            reports.to_str().unwrap(),
            "--format",
            format,
            "--no-images",
        ])
    };
    let o = report("markdown");
    assert!(o.status.success(), "{}", text(&o));
    let md = fs::read_to_string(reports.join("race/README.md")).unwrap();
    assert!(
        md.contains("## Race") && md.contains("(winner)") && md.contains("**out**"),
        "{md}"
    );
    let o = report("json");
    assert!(o.status.success(), "{}", text(&o));
    let v = read_json(&reports.join("race/results.json"));
    assert_eq!(v["race"], race["decisions"]);
    assert_eq!(v["race_outcome"]["winner"], race["winner"]);
    let o = report("csv");
    assert!(o.status.success(), "{}", text(&o));
    let csv = fs::read_to_string(reports.join("race/race.csv")).unwrap();
    assert_eq!(
        csv.lines().count(),
        1 + race["decisions"].as_array().unwrap().len()
    );
}

/// A failed run puts its configuration out of the race (it cannot win) without stopping it.
#[test]
fn a_failed_run_makes_its_configuration_ineligible() {
    let d = tempfile::tempdir().unwrap();
    let runs = d.path().join("runs");
    let sweep = d.path().join("race.yaml");
    // lr 1e10 with the mse loss diverges: its run fails.
    let body = RACE
        .replace(
            "[3.0e-3, 2.0e-3, 1.0e-8, 1.0e-9]",
            "[3.0e-3, 1.0e+10, 1.0e-9]",
        )
        .replace("  epochs: 4\n", "  epochs: 4\n  loss: mse\n")
        .replace("seeds: 5", "seeds: 3");
    fs::write(&sweep, body).unwrap();
    let o = run(&run_args(sweep.to_str().unwrap(), &runs, &[]));
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "a failed run exits 1: {out}");
    assert!(
        out.contains("its seed-1 run failed (diverged at step"),
        "{out}"
    );
    assert!(out.contains("out of the race, it cannot win"), "{out}");
    assert!(out.contains("race finished"), "the others went on: {out}");
    let race = read_json(&runs.join("race/sweep.json"))["race"].clone();
    assert_eq!(key(&race["winner"]), "lr=0.003", "{race:#}");
    let per = runs_per_config(&runs.join("race"));
    let diverging = per.keys().find(|k| k.starts_with("lr=1000")).unwrap();
    assert_eq!(
        per[diverging], 1,
        "no later seed of a failed configuration: {per:?}"
    );
    assert!(race["survivors"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| !key(c).starts_with("lr=1000")));
}

#[test]
fn race_blocks_are_checked() {
    let d = tempfile::tempdir().unwrap();
    let runs = d.path().join("runs");
    let cases = [
        ("metric: noise_loss", "metric: val_kid", "race: metric `val_kid` is not a final run metric; expected one of noise_loss, image_loss, kid, fid, improved_precision, improved_recall"),
        ("min_seeds: 2", "min_seeds: 1", "race: min_seeds must be from 2"),
        ("alpha: 0.05", "alpha: 1.5", "race: alpha must be between 0 and 1"),
        ("seeds: 5", "seeds: 1", "race: seeds: a race needs at least 2 seeds"),
        ("metric: noise_loss", "metric: kid", "does not measure samples: set kid_images"),
        ("  lr: [3.0e-3, 2.0e-3, 1.0e-8, 1.0e-9]\n", "  lr: [3.0e-3]\n", "a race needs at least 2"),
        ("race:\n", "seeds: 2\nrace:\n", "seeds: and race: both give the seeds"),
    ];
    for (from, to, want) in cases {
        let sweep = d.path().join("bad.yaml");
        fs::write(&sweep, RACE.replace(from, to)).unwrap();
        let o = run(&run_args(sweep.to_str().unwrap(), &runs, &["--dry-run"]));
        assert_eq!(o.status.code(), Some(2), "{to}: {}", text(&o));
        assert!(text(&o).contains(want), "{to}: {}", text(&o));
        assert!(text(&o).contains("bad.yaml"), "{to}: {}", text(&o));
    }
}
