//! KID and FID: the feature extractor against Python torch with the real network, the `kid`
//! command, and KID at the end of a run.

mod common;
use common::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn real_network() -> PathBuf {
    // The project environment of scripts/setup.sh (DDIM_VENV, as the other helpers use).
    let venv = std::env::var_os("DDIM_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv"));
    let p = venv.join("inception/default_1.pt");
    assert!(p.exists(), "{} missing: run scripts/setup.sh", p.display());
    p
}

/// Writes `n` RGB images (sizes vary) as PNGs into `dir`, and their raw bytes for Python;
/// returns the manifest path.
fn fixture_images(dir: &Path, n: usize, sizes: &[(u32, u32)], seed: u32) -> PathBuf {
    fs::create_dir_all(dir).unwrap();
    let raw_dir = dir.with_extension("raw");
    fs::create_dir_all(&raw_dir).unwrap();
    let mut manifest = Vec::new();
    for i in 0..n {
        let (w, h) = sizes[i % sizes.len()];
        let img = image::RgbImage::from_fn(w, h, |x, y| {
            let v = |k: u32| {
                ((x * (3 + k + seed) + y * (5 + 2 * k) + i as u32 * 37 + seed * 11) % 256) as u8
            };
            image::Rgb([v(0), v(1), v(2)])
        });
        let name = format!("img_{i:03}");
        img.save(dir.join(format!("{name}.png"))).unwrap();
        let raw = raw_dir.join(format!("{name}.rgb"));
        fs::write(&raw, img.as_raw()).unwrap();
        manifest.push(serde_json::json!({"raw": raw, "width": w, "height": h}));
    }
    let m = dir.with_extension("json");
    fs::write(&m, serde_json::to_string(&manifest).unwrap()).unwrap();
    m
}

/// `kid A B` on the CPU with the network `net`, writing both feature sets to `out`; succeeds.
fn kid_with_features(a: &Path, b: &Path, out: &Path, net: &Path) -> std::process::Output {
    let o = run(&[
        "kid",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "--network",
        net.to_str().unwrap(),
        "--device",
        "cpu",
        "--features-out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    o
}

fn read_csv(p: &Path) -> Vec<Vec<f64>> {
    fs::read_to_string(p)
        .unwrap()
        .lines()
        .map(|l| l.split(',').map(|v| v.parse().unwrap()).collect())
        .collect()
}

#[test]
fn features_agree_with_python_torch_on_the_real_network() {
    let d = tempfile::tempdir().unwrap();
    let a = d.path().join("a");
    let manifest = fixture_images(&a, 4, &[(64, 64), (80, 48), (100, 120), (299, 299)], 1);
    let b = d.path().join("b");
    fixture_images(&b, 3, &[(32, 32)], 2);
    let out = d.path().join("features");
    let net = real_network();
    kid_with_features(&a, &b, &out, &net);
    let reference = d.path().join("ref.csv");
    python_json(
        "inception_ref.py",
        &[
            manifest.to_str().unwrap(),
            net.to_str().unwrap(),
            reference.to_str().unwrap(),
        ],
        Duration::from_secs(300),
    );
    let ours = read_csv(&out.join("a.csv"));
    let theirs = read_csv(&reference);
    assert_eq!(ours.len(), 4);
    assert_eq!(ours[0].len(), 2048);
    let max = ours
        .iter()
        .flatten()
        .zip(theirs.iter().flatten())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f64, f64::max);
    eprintln!("max abs difference of features, Rust vs Python: {max:e}");
    assert!(max < 1e-3, "max abs difference of features {max}");
    let spread = ours.iter().flatten().fold(0.0f64, |m, v| m.max(v.abs()));
    assert!(spread > 0.1, "features are not all zero: {spread}");
}

/// `kid A B` prints precision and recall (A generated, B real) equal to NumPy/SciPy's on the
/// same real-network features (tests/python/prc_ref.py).
#[test]
fn precision_and_recall_agree_with_numpy_on_real_features() {
    let d = tempfile::tempdir().unwrap();
    let a = d.path().join("a");
    let b = d.path().join("b");
    fixture_images(&a, 12, &[(32, 32), (40, 24)], 1);
    fixture_images(&b, 12, &[(32, 32)], 2);
    let out = d.path().join("features");
    let net = real_network();
    let o = kid_with_features(&a, &b, &out, &net);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("A is taken as generated, B as real"),
        "{stdout}"
    );
    let value = |name: &str| -> f64 {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no `{name}` line: {stdout}"))
            .parse()
            .unwrap()
    };
    let reference = python_json(
        "prc_ref.py",
        &[
            out.join("b.csv").to_str().unwrap(),
            out.join("a.csv").to_str().unwrap(),
            "3",
        ],
        Duration::from_secs(120),
    );
    for (name, line) in [
        ("precision", "improved_precision"),
        ("recall", "improved_recall"),
    ] {
        let want = reference[name].as_f64().unwrap();
        assert!(
            (value(line) - want).abs() < 1e-6,
            "{name}: {} vs {want}",
            value(line)
        );
    }
}

#[test]
fn kid_command_prints_kid_and_fid_and_refuses_bad_folders() {
    let d = tempfile::tempdir().unwrap();
    let a = d.path().join("a");
    let b = d.path().join("b");
    fixture_images(&a, 6, &[(24, 24)], 1);
    fixture_images(&b, 6, &[(24, 24)], 9);
    let net = tiny_network();
    let net = net.to_str().unwrap();
    let o = run(&[
        "kid",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "--fid",
        "--network",
        net,
        "--device",
        "cpu",
        "--subsets",
        "4",
        "--subset-size",
        "5",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("A: 6 images in"), "{out}");
    let kid_line = out
        .lines()
        .find(|l| l.starts_with("KID ") && l.contains("batches of 128"))
        .unwrap();
    let kid: f64 = kid_line.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(kid.is_finite());
    assert!(
        out.lines()
            .any(|l| l.starts_with("KID ") && l.contains("± ") && l.contains("(4 subsets of 5)")),
        "{out}"
    );
    let fid: f64 = out.lines().find(|l| l.starts_with("FID ")).unwrap()[4..]
        .trim()
        .parse()
        .unwrap();
    assert!(fid > 0.0);
    // a folder against itself: FID 0
    let o = run(&[
        "kid",
        a.to_str().unwrap(),
        a.to_str().unwrap(),
        "--fid",
        "--network",
        net,
        "--device",
        "cpu",
    ]);
    let out = String::from_utf8_lossy(&o.stdout);
    let fid: f64 = out.lines().find(|l| l.starts_with("FID ")).unwrap()[4..]
        .trim()
        .parse()
        .unwrap();
    assert!(fid.abs() < 1e-3, "{out}");

    let empty = d.path().join("empty");
    fs::create_dir_all(&empty).unwrap();
    let o = run(&[
        "kid",
        a.to_str().unwrap(),
        empty.to_str().unwrap(),
        "--network",
        net,
        "--device",
        "cpu",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("holds no PNG or JPEG images"),
        "{}",
        text(&o)
    );
    let o = run(&[
        "kid",
        a.to_str().unwrap(),
        "/nonexistent/x",
        "--network",
        net,
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("/nonexistent/x does not exist"),
        "{}",
        text(&o)
    );
    let o = run(&[
        "kid",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "--network",
        "/nonexistent/net.pt",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("Inception network for KID/FID is missing at /nonexistent/net.pt")
            && err.contains("scripts/setup.sh"),
        "{err}"
    );
}

#[test]
fn a_run_ends_with_kid_and_shares_the_real_features() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    let net = tiny_network();
    let go = |dir: &Path, seed: &str| {
        let mut args = train_args(
            dir.to_str().unwrap(),
            &[
                "epochs=2",
                "max_images=100",
                "kid_images=30",
                "kid_every=1",
                seed,
            ],
        );
        args.retain(|a| *a != "kid_images=0");
        let o = cmd(&args)
            .env("DDIM_INCEPTION", &net)
            .env("DDIM_DATA", &data)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
    };
    let r1 = d.path().join("r1");
    go(&r1, "seed=1");
    let info = read_json(&r1.join("run.json"));
    let kid = info["metrics"]["kid"].as_f64().unwrap();
    assert!(kid.is_finite());
    let rows = scalars_without_timing(&r1);
    let col = rows[0]
        .split(',')
        .position(|c| c == "val_kid")
        .unwrap_or_else(|| panic!("{}", rows[0]));
    let kids: Vec<&str> = rows
        .iter()
        .skip(1)
        .map(|r| r.split(',').nth(col).unwrap())
        .collect();
    assert_eq!(kids[0], "", "no KID for the untrained row");
    assert!(
        !kids[1].is_empty() && !kids[2].is_empty(),
        "kid_every=1: {rows:?}"
    );
    assert_eq!(kids[2].parse::<f64>().unwrap(), kid);
    // Every sample metric from the same features, final and per epoch.
    for name in ["kid", "fid", "improved_precision", "improved_recall"] {
        let v = info["metrics"][name]
            .as_f64()
            .unwrap_or_else(|| panic!("{name}: {info}"));
        assert!(v.is_finite() && v >= 0.0, "{name} {v}");
        let col = rows[0]
            .split(',')
            .position(|c| c == format!("val_{name}"))
            .unwrap();
        let last: f64 = rows[3].split(',').nth(col).unwrap().parse().unwrap();
        // serde_json's default float parsing may differ from Rust's by an ulp.
        assert!(
            (last - v).abs() <= 1e-12 * v.abs().max(1.0),
            "{name}: {last} vs {v}"
        );
    }
    for name in ["improved_precision", "improved_recall"] {
        assert!(info["metrics"][name].as_f64().unwrap() <= 1.0);
    }
    // The real features were cached once; a second run reuses the file.
    let cache = data.join("cache/features");
    let files: Vec<_> = fs::read_dir(&cache)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().unwrap() == "safetensors")
        .collect();
    assert_eq!(files.len(), 1);
    let before = files[0].metadata().unwrap().modified().unwrap();
    go(&d.path().join("r2"), "seed=2");
    let after = fs::metadata(files[0].path()).unwrap().modified().unwrap();
    assert_eq!(
        before, after,
        "the second run read the cache instead of computing it"
    );
    // `kid RUN` reproduces the run's final KID (same samples, same real features).
    let o = cmd(&["kid", r1.to_str().unwrap(), "--n", "30", "--device", "cpu"])
        .env("DDIM_INCEPTION", &net)
        .env("DDIM_DATA", &data)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    let k: f64 = out
        .lines()
        .find(|l| l.starts_with("KID "))
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert!((k - kid).abs() < 1e-6, "kid command {k} vs run {kid}");
}

#[test]
fn a_missing_network_fails_the_run_before_training() {
    let d = tempfile::tempdir().unwrap();
    let rd = d.path().join("r");
    let mut args = train_args(rd.to_str().unwrap(), &["epochs=1", "max_images=40"]);
    args.retain(|a| *a != "kid_images=0");
    let o = cmd(&args)
        .env("DDIM_INCEPTION", "/nonexistent/default_1.pt")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("missing at /nonexistent/default_1.pt")
            && err.contains("kid_images=0 turns KID off"),
        "{err}"
    );
    assert!(
        !rd.join("scalars.csv").exists()
            || fs::read_to_string(rd.join("scalars.csv"))
                .unwrap()
                .lines()
                .count()
                <= 1
    );
}

/// A sweep computes its runs' KID reference once, before any run starts (not in one run while
/// the others wait), says so once, and reuses it later; when it cannot, it warns and each run
/// meets the problem as its own error.
#[test]
fn a_sweep_prepares_the_kid_reference_once_before_its_runs() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    let runs = d.path().join("runs");
    let sweep = |name: &str, schedules: &str| {
        let p = d.path().join(format!("{name}.yaml"));
        fs::write(&p, format!("label: ref\nflags:\n  dataset_name: shapes\n  image_size: 16\n  unet_widths: [8, 16]\n  block_depth: 1\n  embedding_dim: 8\n  batch_size: 16\n  device: cpu\n  epochs: 1\n  max_images: 60\n  kid_images: 20\ngrid:\n  schedule_type: [{schedules}]\n")).unwrap();
        p
    };
    let go = |sweep: &Path, net: &Path| {
        cmd(&run_args(sweep.to_str().unwrap(), &runs, &["--jobs", "2"]))
            .env("DDIM_INCEPTION", net)
            .env("DDIM_DATA", &data)
            .output()
            .unwrap()
    };
    let said = |o: &std::process::Output| {
        String::from_utf8_lossy(&o.stdout)
            .matches("sweep ref: KID reference: Inception features of 12 shapes validation images, computed once for the sweep")
            .count()
    };
    let o = go(&sweep("a", "linear, cosine"), &tiny_network());
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(said(&o), 1, "{}", text(&o));
    let cache: Vec<_> = fs::read_dir(data.join("cache/features"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().unwrap() == "safetensors")
        .collect();
    assert_eq!(cache.len(), 1);
    let written = fs::metadata(&cache[0]).unwrap().modified().unwrap();
    for r in fs::read_dir(runs.join("ref")).unwrap() {
        let r = r.unwrap().path();
        if !r.join("run.json").exists() {
            continue;
        }
        let info = read_json(&r.join("run.json"));
        assert_eq!(info["status"], "completed");
        let started = humantime::parse_rfc3339(info["started"].as_str().unwrap()).unwrap();
        assert!(
            written <= started,
            "features written {written:?}, run started {started:?}"
        );
        assert!(info["metrics"]["kid"].as_f64().unwrap().is_finite());
    }
    // New runs on the same data: the cached reference, nothing said, nothing rewritten.
    let more = sweep("b", "linear, cosine]\n  loss: [mae, mse");
    let o = go(&more, &tiny_network());
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("2 to run"),
        "{}",
        text(&o)
    );
    assert_eq!(said(&o), 0, "{}", text(&o));
    assert_eq!(
        written,
        fs::metadata(&cache[0]).unwrap().modified().unwrap()
    );
    // No network: a warning, then each run fails with its own error.
    let broken = sweep("c", "linear, cosine]\n  loss: [mse]\n  lr: [0.002");
    let o = go(&broken, Path::new("/nonexistent/default_1.pt"));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(
        err.matches("warning: could not prepare the KID reference features")
            .count(),
        1,
        "{err}"
    );
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("2 failed"),
        "{}",
        text(&o)
    );
}
