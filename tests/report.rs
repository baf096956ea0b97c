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

fn fake_sweep(runs: &Path) {
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
    for (id, loss, on, status, m) in &rows {
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
    fake_sweep(&runs);
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
        md.contains("### Failed runs\n\n- `aaaaaaaaaaa4`: diverged at step 7: loss is NaN"),
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
        "id,status,loss,loss_on,noise_loss,image_loss,kid,seconds\n\
         aaaaaaaaaaa1,completed,mae,noise,0.1644953,0.262661,0.0934186,12.5\n\
         aaaaaaaaaaa2,completed,mae,image,0.1665038,0.2591124,0.1038467,12.5\n\
         aaaaaaaaaaa3,completed,mse,noise,0.1399971,0.3131811,0.1652256,12.5\n\
         aaaaaaaaaaa4,failed,mse,image,,,,12.5\n"
    );
    assert_eq!(String::from_utf8_lossy(&o.stdout), csv);
    let o = report(&runs, &out, &["--format", "json"]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(out.join("exp/results.json")).unwrap()).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 4);
    assert_eq!(v[0]["id"], "aaaaaaaaaaa1");
    assert_eq!(v[0]["kid"], 0.0934186);
    assert_eq!(v[3]["status"], "failed");
    assert!(v[3]["kid"].is_null());

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
    assert_eq!(png_size(&dir.join("kid.png")), (1000, 80 + 28 * 2));
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
