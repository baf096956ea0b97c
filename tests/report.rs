//! `ddim-sweep report`: exact tables from run directories with known metrics, CSV and JSON,
//! and every picture decoding at its expected size.

mod common;
use common::*;
use std::fs;
use std::path::Path;
use std::time::Duration;

/// A run directory written by hand: flags, status, metrics, per-epoch scalars.
fn fake_run(sweep: &Path, id: &str, flags: &[&str], status: &str, metrics: &[(&str, f64)]) {
    let dir = sweep.join(id);
    fs::create_dir_all(&dir).unwrap();
    let mut yaml = String::new();
    for f in flags {
        let (k, v) = f.split_once('=').unwrap();
        yaml.push_str(&format!("{k}: {v}\n"));
    }
    fs::write(dir.join("flags.yaml"), yaml).unwrap();
    let m: serde_json::Map<String, serde_json::Value> = metrics
        .iter()
        .map(|(k, v)| (k.to_string(), serde_json::json!(v)))
        .collect();
    let info = serde_json::json!({"status": status, "label": "exp", "metrics": m, "seconds": 12.5,
        "reason": if status == "failed" { "diverged at step 7: loss is NaN" } else { "" }});
    fs::write(dir.join("run.json"), serde_json::to_string(&info).unwrap()).unwrap();
    fs::write(
        dir.join("scalars.csv"),
        "epoch,step,loss,noise_loss,image_loss,val_noise_loss,val_image_loss,val_kid,seconds,images_per_s\n0,0,,,,0.8,2.0,,,\n1,10,0.5,0.5,1.0,0.4,0.9,,1.0,100\n2,20,0.3,0.3,0.7,0.2,0.5,0.2,1.0,100\n",
    )
    .unwrap();
}

/// The ids of the four runs of [`fake_sweep`], in its order: a run's folder is named by the
/// hash of its label and flags (checked wherever a run is read), taken from `--dry-run`.
fn fake_ids(runs: &Path) -> Vec<String> {
    let file = write_sweep(
        runs.parent().unwrap(),
        "exp.yaml",
        "label: exp\nflags:\n  dataset_name: shapes\ngrid:\n  loss: [mae, mse]\n  loss_on: [noise, image]\n",
    );
    dry_run(&file, runs.to_str().unwrap(), &[])
        .into_iter()
        .map(|(id, _, _)| id)
        .collect()
}

/// `text` with the placeholders `aaaaaaaaaaa1`..`4` replaced by [`fake_ids`].
fn with_ids(text: &str, ids: &[String]) -> String {
    let mut t = text.to_string();
    for (i, id) in ids.iter().enumerate() {
        t = t.replace(&format!("aaaaaaaaaaa{}", i + 1), id);
    }
    t
}

fn fake_sweep(runs: &Path) -> Vec<String> {
    let ids = fake_ids(runs);
    let sweep = runs.join("exp");
    let rows = [
        (
            "aaaaaaaaaaa1",
            "mae",
            "noise",
            "completed",
            vec![
                ("noise_loss", 0.1644953),
                ("image_loss", 0.262661),
                ("kid", 0.0934186),
            ],
        ),
        (
            "aaaaaaaaaaa2",
            "mae",
            "image",
            "completed",
            vec![
                ("noise_loss", 0.1665038),
                ("image_loss", 0.2591124),
                ("kid", 0.1038467),
            ],
        ),
        (
            "aaaaaaaaaaa3",
            "mse",
            "noise",
            "completed",
            vec![
                ("noise_loss", 0.1399971),
                ("image_loss", 0.3131811),
                ("kid", 0.1652256),
            ],
        ),
        ("aaaaaaaaaaa4", "mse", "image", "failed", vec![]),
    ];
    let mut entries = Vec::new();
    for (i, (_, loss, on, status, m)) in rows.iter().enumerate() {
        let id = &ids[i];
        let flags = [
            "dataset_name=shapes".to_string(),
            format!("loss={loss}"),
            format!("loss_on={on}"),
        ];
        let f: Vec<&str> = flags.iter().map(|s| s.as_str()).collect();
        fake_run(&sweep, id, &f, status, m);
        entries.push(serde_json::json!({"id": id, "varying": {"loss": loss, "loss_on": on}}));
    }
    let record = serde_json::json!({"label": "exp", "varying": ["loss", "loss_on"], "runs": entries, "invocations": []});
    fs::write(
        sweep.join("sweep.json"),
        serde_json::to_string(&record).unwrap(),
    )
    .unwrap();
    ids
}

const TABLE: &str = "\
| loss | loss_on | status    |    noise_loss |    image_loss |            kid |
|:-----|:--------|:----------|--------------:|--------------:|---------------:|
| mae  | noise   | completed |     0.1644953 |     0.2626610 | **0.09341860** |
| mae  | image   | completed |     0.1665038 | **0.2591124** |      0.1038467 |
| mse  | noise   | completed | **0.1399971** |     0.3131811 |      0.1652256 |
| mse  | image   | failed    |             — |             — |              — |
";

#[test]
fn exact_tables_csv_json_and_failed_runs() {
    let d = tempfile::tempdir().unwrap();
    let runs = d.path().join("runs");
    let ids = fake_sweep(&runs);
    let out = d.path().join("reports");
    let o = report(&runs, &out, &["--no-images"]);
    assert!(o.status.success(), "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains(TABLE), "terminal table:\n{stdout}");
    let md = fs::read_to_string(out.join("exp/README.md")).unwrap();
    assert!(
        md.starts_with(
            "# exp\n\n4 runs: 3 completed, 1 failed, 0 interrupted, 0 running or queued."
        ),
        "{md}"
    );
    assert!(md.contains(&format!("## Results\n\n{TABLE}")), "{md}");
    // the pivot: rows loss, columns loss_on, values kid
    assert!(
        md.contains("### kid by loss x loss_on\n\n| loss | loss_on = noise | loss_on = image |\n|:---|---:|---:|\n| mae | **0.09341860** | 0.1038467 |\n| mse | 0.1652256 | — |\n"),
        "{md}"
    );
    assert!(
        md.contains(&with_ids(
            "### Failed runs\n\n- `aaaaaaaaaaa4`: diverged at step 7: loss is NaN",
            &ids
        )),
        "{md}"
    );

    // sorted by kid: missing last
    let o = report(&runs, &out, &["--no-images", "--sort", "noise_loss"]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    let order: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("| m"))
        .map(|l| &l[..17])
        .collect();
    assert_eq!(
        order,
        [
            "| mse  | noise   ",
            "| mae  | noise   ",
            "| mae  | image   ",
            "| mse  | image   "
        ]
    );

    let o = report(&runs, &out, &["--format", "csv"]);
    assert!(o.status.success(), "{}", text(&o));
    let csv = fs::read_to_string(out.join("exp/results.csv")).unwrap();
    assert_eq!(
        csv,
        with_ids(
            "id,status,loss,loss_on,noise_loss,image_loss,kid,seconds\n\
         aaaaaaaaaaa1,completed,mae,noise,0.1644953,0.262661,0.0934186,12.5\n\
         aaaaaaaaaaa2,completed,mae,image,0.1665038,0.2591124,0.1038467,12.5\n\
         aaaaaaaaaaa3,completed,mse,noise,0.1399971,0.3131811,0.1652256,12.5\n\
         aaaaaaaaaaa4,failed,mse,image,,,,12.5\n",
            &ids
        )
    );
    assert_eq!(String::from_utf8_lossy(&o.stdout), csv);
    let o = report(&runs, &out, &["--format", "json"]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(out.join("exp/results.json")).unwrap()).unwrap();
    let rows = &v["runs"];
    assert_eq!(rows.as_array().unwrap().len(), 4);
    assert_eq!(rows[0]["id"], ids[0].as_str());
    assert_eq!(rows[0]["kid"], 0.0934186);
    assert_eq!(rows[3]["status"], "failed");
    assert!(rows[3]["kid"].is_null());
    // One run per configuration: configurations of n <= 1 without intervals.
    assert_eq!(v["configs"].as_array().unwrap().len(), 4);
    assert!(v["configs"][0]["metrics"]["kid"]["ci95"].is_null());
    // loss: mae against mse pairs only (mae, noise) with (mse, noise): the other mse run failed.
    let loss = v["effects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["flag"] == "loss" && e["metric"] == "kid")
        .unwrap();
    assert_eq!(loss["pairs"], 1);
    assert!((loss["mean_diff"].as_f64().unwrap() - (0.0934186 - 0.1652256)).abs() < 1e-12);

    let o = report(&runs, &out, &["--label", "nope"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no runs with label `nope`"));
}

/// `ddim-sweep report` of `runs` into `out`, with `extra` arguments.
fn report(runs: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let mut v = vec![
        "report",
        "--runs-dir",
        runs.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    v.extend_from_slice(extra);
    run(&v)
}

fn png_size(p: &Path) -> (u32, u32) {
    let img = image::open(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    (img.width(), img.height())
}

#[test]
fn pictures_decode_at_their_sizes_and_are_reused() {
    let d = tempfile::tempdir().unwrap();
    let runs = d.path().join("runs");
    let net = d.path().join("tiny.pt");
    python_json(
        "make_tiny_inception.py",
        &[net.to_str().unwrap()],
        Duration::from_secs(120),
    );
    let body = "label: pics\nflags:\n  dataset_name: shapes\n  image_size: 16\n  unet_widths: [8, 16]\n  block_depth: 1\n  embedding_dim: 8\n  batch_size: 16\n  device: cpu\n  epochs: 2\n  max_images: 80\n  kid_images: 20\ngrid:\n  schedule_type: [linear, cosine]\n";
    let s = d.path().join("pics.yaml");
    fs::write(&s, body).unwrap();
    let o = cmd(&run_args(s.to_str().unwrap(), &runs, &[]))
        .env("DDIM_INCEPTION", &net)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let out = d.path().join("reports");
    let make_report = || {
        let o = report(&runs, &out, &["--device", "cpu"]);
        assert!(o.status.success(), "{}", text(&o));
    };
    make_report();
    let dir = out.join("pics");
    let md = fs::read_to_string(dir.join("README.md")).unwrap();
    for f in [
        "samples.png",
        "best.png",
        "losses.png",
        "kid.png",
        "fid.png",
        "improved_precision.png",
        "improved_recall.png",
        "forward.png",
        "reverse.png",
        "embedding.png",
    ] {
        assert!(md.contains(&format!("]({f})")), "{f} linked: {md}");
    }
    // Issue 13: 16 px images are shown 4x (64 px, nearest neighbour); each sample row has a
    // 24 px band naming its run.
    assert_eq!(
        png_size(&dir.join("samples.png")),
        (8 * 64, 2 * (24 + 64)),
        "a labelled row of 8 per run"
    );
    assert_eq!(png_size(&dir.join("forward.png")), (11 * 64, 2 * 64));
    assert_eq!(png_size(&dir.join("reverse.png")), (11 * 64, 2 * 64));
    // Each run wrote its first validation images (16 of them here, 6 per row, at 16 px); the
    // best run's 36 samples (6 x 6) stand beside them, both at 64 px, under a 24 px band.
    let run_dirs: Vec<_> = fs::read_dir(runs.join("pics"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("run.json").exists())
        .collect();
    assert_eq!(run_dirs.len(), 2);
    for r in &run_dirs {
        assert_eq!(png_size(&r.join("valid.png")), (6 * 16, 3 * 16));
    }
    assert_eq!(
        png_size(&dir.join("best.png")),
        (6 * 64 + 16 + 6 * 64, 24 + 6 * 64)
    );
    let best = image::open(dir.join("best.png")).unwrap().to_rgb8();
    let example = image::open(run_dirs[0].join("example.png"))
        .unwrap()
        .to_rgb8();
    for (x, y) in [(0, 0), (15, 15), (7, 9)] {
        let shown = best.get_pixel(6 * 64 + 16 + x * 4 + 1, 24 + y * 4 + 2);
        assert_eq!(
            shown,
            example.get_pixel(x, y),
            "the first validation image at ({x}, {y})"
        );
    }
    assert_eq!(png_size(&dir.join("losses.png")), (1200, 480 + 18 * 2));
    // One bar chart per sample metric, a bar per run.
    for f in ["kid", "fid", "improved_precision", "improved_recall"] {
        assert_eq!(png_size(&dir.join(format!("{f}.png"))), (1000, 80 + 28 * 2));
    }
    assert_eq!(png_size(&dir.join("embedding.png")), (520, 560));
    // A second report reuses every picture.
    let mtime = |f: &str| fs::metadata(dir.join(f)).unwrap().modified().unwrap();
    let before: Vec<_> = ["samples.png", "losses.png", "reverse.png"]
        .iter()
        .map(|f| mtime(f))
        .collect();
    make_report();
    let after: Vec<_> = ["samples.png", "losses.png", "reverse.png"]
        .iter()
        .map(|f| mtime(f))
        .collect();
    assert_eq!(before, after);
}

/// 2 x 2 configurations x 3 seeds (`seeds: 3`), tiny runs: the report's configurations
/// (mean, std, 95% interval) and paired effects equal, to 1e-9, SciPy's computation from the
/// runs' run.json files (tests/python/conclusions_ref.py).
#[test]
fn replicates_give_intervals_and_paired_effects_equal_to_scipy() {
    let d = tempfile::tempdir().unwrap();
    let runs = d.path().join("runs");
    let out = d.path().join("reports");
    let sweep = d.path().join("rep.yaml");
    fs::write(
        &sweep,
        "label: rep\nflags:\n  dataset_name: shapes\n  image_size: 16\n  unet_widths: [8, 16]\n  block_depth: 1\n  embedding_dim: 8\n  batch_size: 16\n  device: cpu\n  kid_images: 0\n  epochs: 1\n  max_images: 120\n  sample_every: 0\ngrid:\n  lr: [1.0e-3, 3.0e-3]\n  schedule_type: [linear, cosine]\nseeds: 3\n",
    )
    .unwrap();
    let o = run(&run_args(sweep.to_str().unwrap(), &runs, &["--jobs", "2"]));
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("12 runs"), "{}", text(&o));

    let o = report(&runs, &out, &["--format", "json", "--no-images"]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(out.join("rep/results.json")).unwrap()).unwrap();
    assert_eq!(v["runs"].as_array().unwrap().len(), 12);
    let py = python_json(
        "conclusions_ref.py",
        &[runs.join("rep").to_str().unwrap()],
        Duration::from_secs(120),
    );
    let close = |a: &serde_json::Value, b: &serde_json::Value, what: &str| {
        let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
        assert!((a - b).abs() <= 1e-9, "{what}: ours {a}, scipy {b}");
    };
    let configs = v["configs"].as_array().unwrap();
    assert_eq!(configs.len(), 4);
    for c in configs {
        assert_eq!(c["n"], 3);
        let key = format!(
            "lr={},schedule_type={}",
            c["flags"]["lr"].as_str().unwrap(),
            c["flags"]["schedule_type"].as_str().unwrap()
        );
        for m in ["noise_loss", "image_loss"] {
            let (ours, theirs) = (&c["metrics"][m], &py["configs"][&key][m]);
            assert_eq!(theirs["n"], 3, "{key} {m}");
            close(&ours["mean"], &theirs["mean"], &format!("{key} {m} mean"));
            close(&ours["std"], &theirs["std"], &format!("{key} {m} std"));
            close(&ours["ci95"][0], &theirs["lo"], &format!("{key} {m} lo"));
            close(&ours["ci95"][1], &theirs["hi"], &format!("{key} {m} hi"));
        }
    }
    let effects = v["effects"].as_array().unwrap();
    // lr (one pair of values) and schedule_type (one pair), on 2 metrics.
    assert_eq!(effects.len(), 4, "{effects:?}");
    for e in effects {
        let key = format!(
            "{}|{}|{}|{}",
            e["flag"].as_str().unwrap(),
            e["a"].as_str().unwrap(),
            e["b"].as_str().unwrap(),
            e["metric"].as_str().unwrap()
        );
        let theirs = &py["effects"][&key];
        assert_eq!(e["pairs"], 6, "{key}: 2 other-flag values x 3 seeds");
        assert_eq!(e["pairs"], theirs["pairs"], "{key}");
        assert_eq!(e["a_better"], theirs["a_better"], "{key}");
        assert_eq!(e["pairs_for_power"], theirs["pairs_for_power"], "{key}");
        close(
            &e["mean_diff"],
            &theirs["mean_diff"],
            &format!("{key} mean"),
        );
        close(&e["ci95"][0], &theirs["lo"], &format!("{key} lo"));
        close(&e["ci95"][1], &theirs["hi"], &format!("{key} hi"));
        let sig = e["ci95"][0].as_f64().unwrap() > 0.0 || e["ci95"][1].as_f64().unwrap() < 0.0;
        assert_eq!(e["significant"], sig, "{key}");
    }

    // The page: the configurations table leads the results, the effects section follows.
    let o = report(&runs, &out, &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("By configuration"),
        "the terminal shows the configurations too: {}",
        text(&o)
    );
    let md = fs::read_to_string(out.join("rep/README.md")).unwrap();
    assert!(
        md.contains("| lr | schedule_type | n | noise_loss | image_loss |"),
        "{md}"
    );
    assert!(md.contains("## Effects"), "{md}");
    assert!(md.contains("![Effects on noise_loss](effects.png)"), "{md}");
    for f in [
        "configs_noise_loss.png",
        "configs_image_loss.png",
        "effects.png",
    ] {
        let img = image::open(out.join("rep").join(f)).unwrap();
        assert!(img.width() > 100, "{f}");
    }
    let o = report(&runs, &out, &["--format", "csv", "--no-images"]);
    assert!(o.status.success(), "{}", text(&o));
    let configs_csv = fs::read_to_string(out.join("rep/configs.csv")).unwrap();
    assert_eq!(configs_csv.lines().count(), 5, "{configs_csv}");
    assert!(configs_csv
        .starts_with("lr,schedule_type,n,noise_loss_mean,noise_loss_std,noise_loss_ci95_lo"));
    let effects_csv = fs::read_to_string(out.join("rep/effects.csv")).unwrap();
    assert_eq!(effects_csv.lines().count(), 5, "{effects_csv}");
}

/// A sweep mixing runs with and without KID picks its best run by a metric every run has
/// (noise_loss), never one run's KID against another's noise_loss; the pivot and the caption
/// say which.
#[test]
fn a_sweep_mixing_runs_with_and_without_kid_ranks_by_a_metric_all_have() {
    let d = tempfile::tempdir().unwrap();
    let runs = d.path().join("runs");
    let body = format!(
        "label: mix\nflags:\n{BASE}  image_size: 16\n  max_images: 64\n  epochs: 1\n  sample_every: 0\ngrid:\n  lr: [1.0e-3, 2.0e-3]\n"
    );
    let s = write_sweep(d.path(), "mix.yaml", &body);
    let o = run(&run_args(&s, &runs, &[]));
    assert!(o.status.success(), "{}", text(&o));
    let ids = run_dirs(&runs, "mix");
    // Run 0 measured KID (small) and a worse noise_loss; run 1 no KID, a better noise_loss.
    let set_metrics = |id: &str, m: serde_json::Value| {
        let p = runs.join("mix").join(id).join("run.json");
        let mut v = read_json(&p);
        v["metrics"] = m;
        fs::write(&p, serde_json::to_string(&v).unwrap()).unwrap();
    };
    set_metrics(
        &ids[0],
        serde_json::json!({"noise_loss": 0.9, "image_loss": 1.0, "kid": 0.01}),
    );
    set_metrics(
        &ids[1],
        serde_json::json!({"noise_loss": 0.5, "image_loss": 1.0}),
    );
    let out = d.path().join("reports");
    let o = report(&runs, &out, &[]);
    assert!(o.status.success(), "{}", text(&o));
    let md = fs::read_to_string(out.join("mix/README.md")).unwrap();
    assert!(
        md.contains(&format!("of the best run `{}`", ids[1])) && md.contains("lowest noise_loss"),
        "{md}"
    );
}

/// A metric where higher is better (improved precision) is bold at its highest value, and
/// `--sort` puts the highest first; the losses stay bold at their lowest.
#[test]
fn higher_is_better_metrics_bold_and_sort_their_highest() {
    let d = tempfile::tempdir().unwrap();
    let runs = d.path().join("runs");
    let ids = fake_sweep(&runs);
    for (id, p) in ids.iter().zip([0.5, 0.8, 0.6]) {
        let path = runs.join("exp").join(id).join("run.json");
        let mut v = read_json(&path);
        v["metrics"]["improved_precision"] = serde_json::json!(p);
        fs::write(&path, serde_json::to_string(&v).unwrap()).unwrap();
    }
    let out = d.path().join("reports");
    let o = report(&runs, &out, &["--no-images"]);
    assert!(o.status.success(), "{}", text(&o));
    let md = fs::read_to_string(out.join("exp/README.md")).unwrap();
    assert!(md.contains("**0.8000000**"), "{md}");
    assert!(!md.contains("**0.5000000**"), "{md}");
    assert!(
        md.contains("**0.1399971**"),
        "noise_loss still lowest: {md}"
    );
    assert!(
        md.contains("`improved_precision`") && md.contains("higher is better"),
        "{md}"
    );
    let o = report(
        &runs,
        &out,
        &[
            "--no-images",
            "--format",
            "csv",
            "--sort",
            "improved_precision",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let csv = String::from_utf8_lossy(&o.stdout).to_string();
    let first: Vec<&str> = csv.lines().skip(1).map(|l| &l[..12]).collect();
    assert_eq!(first, [&ids[1], &ids[2], &ids[0], &ids[3]], "{csv}");
}
