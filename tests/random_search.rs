//! Random search (`random:`, docs/sweeps.md): draws that depend only on the file, pinned.

mod common;
use common::*;
use std::fs;

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
