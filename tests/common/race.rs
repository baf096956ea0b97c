//! A race of four learning rates, two of them hopeless, and its checks: shared by the local
//! test (tests/race.rs) and the Slurm one (tests/slurm.rs).

use super::{python_json, read_json};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// Four learning rates, two of them hopeless (far too small), raced on seeds 1..5.
pub const RACE: &str = "label: race\nflags:\n  dataset_name: shapes\n  unet_widths: [8, 16]\n  block_depth: 1\n  embedding_dim: 8\n  batch_size: 16\n  device: cpu\n  kid_images: 0\n  sample_every: 0\n  image_size: 16\n  max_images: 200\n  epochs: 4\ngrid:\n  lr: [3.0e-3, 2.0e-3, 1.0e-8, 1.0e-9]\nrace:\n  metric: noise_loss\n  seeds: 5\n  min_seeds: 2\n  alpha: 0.05\n";

pub const HOPELESS: [&str; 2] = ["1e-8", "1e-9"];

/// The configuration key both sides use: `flag=value,...` sorted by flag.
pub fn key(config: &serde_json::Value) -> String {
    let m: BTreeMap<String, String> = serde_json::from_value(config.clone()).unwrap();
    m.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Run directories per configuration key (`lr=...`), from sweep.json's plan.
pub fn runs_per_config(sweep_dir: &Path) -> BTreeMap<String, usize> {
    let plan = read_json(&sweep_dir.join("sweep.json"));
    let mut n = BTreeMap::new();
    for r in plan["runs"].as_array().unwrap() {
        let lr = r["varying"]["lr"].as_str().unwrap();
        let e = n.entry(format!("lr={lr}")).or_insert(0);
        if sweep_dir
            .join(r["id"].as_str().unwrap())
            .join("run.json")
            .exists()
        {
            *e += 1;
        }
    }
    n
}

/// The race in `sweep.json` equals SciPy's replay from the runs' files: every decision (round,
/// configuration, p, Holm's p, eliminated), the survivors and the runs used.
pub fn check_against_scipy(sweep_dir: &Path) -> serde_json::Value {
    let race = read_json(&sweep_dir.join("sweep.json"))["race"].clone();
    let py = python_json(
        "race_ref.py",
        &[
            sweep_dir.to_str().unwrap(),
            "noise_loss",
            "2",
            "0.05",
            "1",
            "2",
            "3",
            "4",
            "5",
        ],
        Duration::from_secs(120),
    );
    let ours = race["decisions"].as_array().unwrap();
    let theirs = py["decisions"].as_array().unwrap();
    assert_eq!(ours.len(), theirs.len(), "ours {race:#}\nscipy {py:#}");
    for t in theirs {
        let o = ours
            .iter()
            .find(|o| {
                o["round"] == t["round"] && key(&o["config"]) == t["config"].as_str().unwrap()
            })
            .unwrap_or_else(|| panic!("no decision like {t} in {race:#}"));
        assert_eq!(o["eliminated"], t["eliminated"], "{o} vs {t}");
        assert_eq!(o["n"], t["n"], "{o} vs {t}");
        for f in ["mean", "p", "p_holm"] {
            match (o[f].as_f64(), t[f].as_f64()) {
                (Some(a), Some(b)) => assert!((a - b).abs() <= 1e-9, "{f}: ours {o}, scipy {t}"),
                (_, None) if f == "mean" => {} // a failed configuration's mean: ours only
                (a, b) => assert_eq!(a, b, "{f}: ours {o}, scipy {t}"),
            }
        }
    }
    let survivors: Vec<String> = race["survivors"]
        .as_array()
        .unwrap()
        .iter()
        .map(key)
        .collect();
    assert_eq!(serde_json::json!(survivors), py["survivors"], "{race:#}");
    assert_eq!(race["runs_used"], py["runs_used"]);
    assert_eq!(race["finished"], py["finished"]);
    race
}

/// The hopeless configurations run exactly 2 seeds each; the winner has the lowest mean.
pub fn check_outcome(sweep_dir: &Path, race: &serde_json::Value) {
    let per = runs_per_config(sweep_dir);
    for h in HOPELESS {
        assert_eq!(per[&format!("lr={h}")], 2, "{per:?}\n{race:#}");
    }
    assert!(race["finished"].as_bool().unwrap(), "{race:#}");
    // The winner's mean is the lowest among the survivors' in their last round.
    let last = race["rounds_completed"].as_u64().unwrap();
    let finals: Vec<&serde_json::Value> = race["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["round"].as_u64() == Some(last))
        .collect();
    let best = finals
        .iter()
        .min_by(|a, b| {
            a["mean"]
                .as_f64()
                .unwrap()
                .total_cmp(&b["mean"].as_f64().unwrap())
        })
        .unwrap();
    assert_eq!(key(&race["winner"]), key(&best["config"]), "{race:#}");
    assert!(!HOPELESS
        .iter()
        .any(|h| key(&race["winner"]) == format!("lr={h}")));
    assert_eq!(
        race["runs_used"].as_u64().unwrap() as usize,
        per.values().sum::<usize>(),
        "runs used = runs trained: {per:?}"
    );
}

/// A race small enough for the hostile folder: two learning rates, two seeds.
pub const SMALL_RACE: &str =
    "race:\n  metric: noise_loss\n  seeds: 2\n  min_seeds: 2\n  alpha: 0.5\n";
