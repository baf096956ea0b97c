//! Model-based search (`search:`) through the real binary: the determinism contract (the same
//! trials with --jobs 1 and 2, and after SIGKILL of `run` and the same command again), the
//! sweep's record, `--dry-run`, the report's Search section, and the spec's refusals.

mod common;

use common::*;
use std::time::Duration;

fn best_line(out: &str) -> String {
    out.lines()
        .find(|l| l.starts_with("search: ") && l.contains("best"))
        .unwrap_or_else(|| panic!("no best line in {out}"))
        .to_string()
}

#[test]
fn the_same_trials_with_any_parallelism_and_after_a_kill() {
    let d = tempfile::tempdir().unwrap();
    let s = write_sweep(d.path(), "s.yaml", &search_sweep("srch"));
    let one = d.path().join("one");
    let o = run(&run_args(&s, &one, &["--jobs", "1"]));
    assert!(o.status.success(), "{}", text(&o));
    let out1 = String::from_utf8_lossy(&o.stdout).to_string();
    let t1 = search_trials(&one, "srch");
    assert_eq!(t1.len(), 6, "{out1}");
    assert_eq!(
        t1.iter().map(|t| t.0).collect::<Vec<_>>(),
        [0, 1, 2, 3, 4, 5]
    );
    assert_eq!(run_dirs(&one, "srch").len(), 6, "one directory per trial");

    let two = d.path().join("two");
    let o = run(&run_args(&s, &two, &["--jobs", "2"]));
    assert!(o.status.success(), "{}", text(&o));
    let out2 = String::from_utf8_lossy(&o.stdout).to_string();
    assert_eq!(
        search_trials(&two, "srch"),
        t1,
        "--jobs 2 gives the trials of --jobs 1"
    );
    assert_eq!(best_line(&out2), best_line(&out1));

    // SIGKILL of `run` once the third trial is decided (its runs get SIGTERM and checkpoint),
    // then the same command again.
    let cut = d.path().join("cut");
    let mut child = spawn(&run_args(&s, &cut, &["--jobs", "2"]));
    wait_for("trial 2 decided", Duration::from_secs(300), || {
        std::fs::read_to_string(cut.join("srch/sweep.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .is_some_and(|v| {
                v["search"]["trials"]
                    .as_array()
                    .is_some_and(|a| a.len() >= 3)
            })
    });
    send_signal(&child, libc::SIGKILL);
    child.wait().unwrap();
    assert!(search_trials(&cut, "srch").len() < 6, "killed mid-search");
    let o = run(&run_args(&s, &cut, &["--jobs", "2"]));
    assert!(o.status.success(), "{}", text(&o));
    let out3 = String::from_utf8_lossy(&o.stdout).to_string();
    assert_eq!(
        search_trials(&cut, "srch"),
        t1,
        "after a kill: the same trials\n{out3}"
    );
    assert_eq!(best_line(&out3), best_line(&out1));

    // Again: nothing to do, the same record.
    let o = run(&run_args(&s, &one, &[]));
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("6 decided so far, 6 completed, 0 to run now"),
        "{}",
        text(&o)
    );
    assert_eq!(search_trials(&one, "srch"), t1);

    // --dry-run lists the trials the results decide.
    let rows = dry_run(&s, one.to_str().unwrap(), &[]);
    assert_eq!(rows.len(), 6);
    assert!(rows.iter().all(|r| r.1 == "completed"), "{rows:?}");

    // The report: a Search section with the trials in order, and JSON's `search`.
    let rd = one.to_str().unwrap();
    let out = d.path().join("report");
    let o = run(&["report", "--runs-dir", rd, "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let md = std::fs::read_to_string(out.join("srch/README.md")).unwrap();
    assert!(md.contains("## Search"), "{md}");
    assert!(md.contains("A tpe search on image\\_loss"), "{md}");
    assert!(md.contains("| trial | id | state |"), "{md}");
    assert!(md.contains("search_best_so_far.png"), "{md}");
    assert!(out.join("srch/search_best_so_far.png").is_file());
    assert!(
        out.join("srch/search_lr.png").is_file(),
        "lr against the metric"
    );
    let o = run(&[
        "report",
        "--runs-dir",
        rd,
        "--format",
        "json",
        "--no-images",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let js = &j["search"];
    assert_eq!(js["sampler"], "tpe");
    let jt = js["trials"].as_array().unwrap();
    assert_eq!(jt.len(), 6);
    for (k, t) in jt.iter().enumerate() {
        assert_eq!(t["trial"], k);
        assert_eq!(t["run"].as_str().unwrap(), t1[k].1);
        assert_eq!(t["state"], "completed");
        assert!(t["value"].as_f64().unwrap() > 0.0);
        assert!(t["flags"]["lr"].is_string());
    }
}

#[test]
fn search_blocks_are_checked_with_their_lines() {
    let d = tempfile::tempdir().unwrap();
    let runs = d.path().join("runs");
    let bad = |name: &str, body: &str, expect: &str| {
        let s = write_sweep(d.path(), name, body);
        let o = run(&run_args(&s, &runs, &["--dry-run"]));
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(expect), "{expect}: {err}");
    };
    let base = search_sweep("b");
    bad(
        "a.yaml",
        &base.replace("sampler: tpe", "sampler: bayes"),
        "a.yaml:16: search: unknown sampler `bayes`; expected one of random, tpe",
    );
    bad(
        "m.yaml",
        &base.replace("metric: image_loss", "metric: kid"),
        "search: metric kid, but its runs do not measure samples",
    );
    bad(
        "p.yaml",
        &base.replace("parallel: 2", "parallel: 7"),
        "p.yaml:19: search: parallel (trials in flight at most) must be from 1 to trials (6), not 7",
    );
    bad(
        "g.yaml",
        &format!("{base}grid:\n  loss_on: [noise, image]\n"),
        "search: cannot be combined with grid: or seeds: (`loss_on`)",
    );
    bad(
        "r.yaml",
        &format!("{base}random:\n  trials: 2\n  space:\n    weight_decay: [0.0, 1.0e-4]\n"),
        "search: cannot be combined with random:",
    );
    bad(
        "f.yaml",
        &base.replace("ema: uniform(0.5, 0.9)", "ema: uniform(0.5, 1.5)"),
        "search: ema: uniform(0.5, 1.5) can draw 1.5, which the flag refuses",
    );
    bad(
        "o.yaml",
        &base.replace("ema: uniform(0.5, 0.9)", "ema: uniform(0.5, 0.5)"),
        "search: ema: uniform(0.5, 0.5) has one value: a searched flag needs low < high",
    );
    // A dry run of a fresh search: its settings, and the random trials it can decide now.
    let s = write_sweep(d.path(), "ok.yaml", &base);
    let o = run(&run_args(&s, &runs, &["--dry-run"]));
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("tpe search: 6 trials on image_loss (lower is better), 2 in flight at most, 2 random first, seed 3"),
        "{out}"
    );
    assert!(out.contains("2 of 6 trial(s) decided"), "{out}");
    assert!(!runs.join("b").exists(), "a dry run writes nothing");
}
