//! TensorBoard files read by TensorBoard itself: records, scalars against the CSVs, images,
//! HParams sessions and experiment, the server's HTTP API, and no duplicates after a resume.

mod common;
use common::*;
use std::fs;
use std::path::Path;
use std::time::Duration;

fn tiny_sweep(dir: &Path) -> String {
    let body = "label: tb\nflags:\n  dataset_name: shapes\n  image_size: 16\n  unet_widths: [8, 16]\n  block_depth: 1\n  embedding_dim: 8\n  batch_size: 16\n  device: cpu\n  epochs: 3\n  max_images: 120\n  log_every: 2\n  kid_images: 0\ngrid:\n  loss: [mae, mse]\n";
    let p = dir.join("tb.yaml");
    fs::write(&p, body).unwrap();
    p.to_str().unwrap().to_string()
}

fn runs_of(sweep_dir: &Path) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = fs::read_dir(sweep_dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| {
            let id = e.file_name().to_string_lossy().into_owned();
            let info = read_json(&e.path().join("run.json"));
            (id, info["name"].as_str().unwrap().to_string())
        })
        .collect();
    v.sort();
    v
}

fn check_run(run_dir: &Path, sub: &str, epochs: usize, side: i64) -> serde_json::Value {
    let r = python_json(
        "tb_check.py",
        &[run_dir.to_str().unwrap(), sub],
        Duration::from_secs(120),
    );
    assert_eq!(
        r["mismatches"],
        serde_json::json!([]),
        "TensorBoard scalars differ from the CSVs: {r}"
    );
    assert_eq!(r["duplicate_steps"], serde_json::json!({}), "{r}");
    assert_eq!(r["epoch_rows"], epochs as i64 + 1);
    let images = r["images"].as_array().unwrap();
    assert_eq!(images.len(), epochs, "one sample grid per epoch: {r}");
    // Shown at a readable size: scaled up by a whole factor to at least 64 px per image.
    let side = side * ((64 + side - 1) / side).max(1);
    for im in images {
        assert_eq!(
            (im["width"].as_i64(), im["height"].as_i64()),
            (Some(6 * side), Some(6 * side)),
            "{im}"
        );
        assert_eq!(im["meta"], serde_json::json!([6 * side, 6 * side]));
    }
    r
}

#[test]
fn tensorboard_reads_runs_scalars_images_and_hparams() {
    let d = tempfile::tempdir().unwrap();
    let runs = d.path().join("runs");
    let s = tiny_sweep(d.path());
    let o = run(&run_args(&s, &runs, &["--jobs", "2"]));
    assert!(o.status.success(), "{}", text(&o));
    let sweep_dir = runs.join("tb");
    let members = runs_of(&sweep_dir);
    assert_eq!(members.iter().map(|m| m.1.as_str()).collect::<Vec<_>>(), {
        let mut n = vec!["loss=mae", "loss=mse"];
        n.sort_by_key(|x| members.iter().position(|m| m.1 == *x));
        n
    });
    for (id, name) in &members {
        let rd = sweep_dir.join(id);
        let r = check_run(&rd, name, 3, 16);
        assert_eq!(
            r["step_rows"], 9,
            "steps 2, 4, .. 18 logged with log_every=2: {r}"
        );
        let hp = &r["hparams"];
        assert_eq!(hp["group"], name.as_str());
        assert_eq!(hp["end_status"], 1, "STATUS_SUCCESS");
        assert_eq!(hp["start"]["loss"], name.trim_start_matches("loss="));
        assert_eq!(hp["start"]["epochs"], 3.0);
        assert_eq!(hp["start"]["unet_widths"], "[8, 16]");
    }

    // The server, on the runs directory and on the sweep directory.
    for logdir in [runs.clone(), sweep_dir.clone()] {
        let (id, name) = &members[0];
        let prefix = if logdir == runs { "tb/" } else { "" };
        let run_name = format!("{prefix}{id}/{name}");
        let r = python_json(
            "tb_server.py",
            &[logdir.to_str().unwrap(), &run_name, "val/noise_loss"],
            Duration::from_secs(180),
        );
        assert_eq!(r["stopped"], true);
        let groups = r["session_groups"]["sessionGroups"]
            .as_array()
            .unwrap_or_else(|| panic!("{r}"));
        assert_eq!(groups.len(), 2, "one row per run: {r}");
        for g in groups {
            let session = &g["sessions"][0];
            assert_eq!(session["status"], "STATUS_SUCCESS");
            let sname = session["name"].as_str().unwrap();
            let id = sname.trim_start_matches(prefix).split('/').next().unwrap();
            let info = read_json(&sweep_dir.join(id).join("run.json"));
            let metrics: std::collections::BTreeMap<String, f64> = g["metricValues"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| {
                    (
                        m["name"]["tag"].as_str().unwrap().to_string(),
                        m["value"].as_f64().unwrap(),
                    )
                })
                .collect();
            for (k, tag) in [
                ("noise_loss", "val/noise_loss"),
                ("image_loss", "val/image_loss"),
            ] {
                let want = info["metrics"][k].as_f64().unwrap();
                let got = metrics[tag];
                assert!(
                    (want - got).abs() < 1e-6,
                    "{k}: run.json {want} vs TensorBoard {got}"
                );
            }
            assert_eq!(
                g["hparams"]["loss"],
                info["name"].as_str().unwrap().trim_start_matches("loss=")
            );
        }
        // scalars endpoint: [wall_time, step, value] against scalars.csv
        let points = r["scalars"].as_array().unwrap();
        let csv = fs::read_to_string(sweep_dir.join(id).join("scalars.csv")).unwrap();
        let want: Vec<(i64, f64)> = csv
            .lines()
            .skip(1)
            .map(|l| l.split(',').collect::<Vec<_>>())
            .map(|f| (f[1].parse().unwrap(), f[5].parse().unwrap()))
            .collect();
        assert_eq!(points.len(), want.len(), "{r}");
        for (p, (step, v)) in points.iter().zip(&want) {
            assert_eq!(p[1].as_i64().unwrap(), *step);
            assert!((p[2].as_f64().unwrap() - v).abs() < 1e-6);
        }
    }
}

#[test]
fn a_killed_and_continued_run_has_each_step_once() {
    let d = tempfile::tempdir().unwrap();
    let rd = d.path().join("run");
    let rds = rd.to_str().unwrap();
    let extra = [
        "epochs=3",
        "max_images=600",
        "image_size=32",
        "checkpoint_every=5",
        "log_every=2",
    ];
    let mut child = spawn(&train_args(rds, &extra));
    wait_for("a checkpoint at step 10", Duration::from_secs(120), || {
        running_past(&rd, 10)
    });
    // Let it log past the checkpoint before the kill.
    std::thread::sleep(Duration::from_millis(150));
    send_signal(&child, libc::SIGKILL);
    child.wait().unwrap();
    let o = run(&["train", "--run-dir", rds]);
    assert!(o.status.success(), "{}", text(&o));
    let r = check_run(&rd, "train", 3, 32);
    assert_eq!(r["step_rows"], 45, "90 steps, every 2nd logged once: {r}");
    assert_eq!(r["hparams"]["end_status"], 1);
    assert_eq!(r["files"], 1, "one event file after the rewrite");
}

/// Two sweeps in one runs directory: TensorBoard shows one HParams experiment per logdir, so
/// each sweep carries the union of the columns; on the runs directory every run has its grid
/// flags as columns, on one sweep its own runs.
#[test]
fn two_sweeps_in_one_runs_directory_share_the_hparams_columns() {
    let d = tempfile::tempdir().unwrap();
    let runs = d.path().join("runs");
    let base = "flags:\n  dataset_name: shapes\n  image_size: 16\n  unet_widths: [8, 16]\n  block_depth: 1\n  embedding_dim: 8\n  batch_size: 16\n  device: cpu\n  epochs: 1\n  max_images: 40\n  kid_images: 0\n";
    for (label, grid) in [
        ("a", "  loss: [mae, mse]\n"),
        ("b", "  schedule_type: [linear, cosine]\n"),
    ] {
        let p = d.path().join(format!("{label}.yaml"));
        fs::write(&p, format!("label: {label}\n{base}grid:\n{grid}")).unwrap();
        let o = run(&run_args(p.to_str().unwrap(), &runs, &[]));
        assert!(o.status.success(), "{}", text(&o));
    }
    let (id, name) = runs_of(&runs.join("a")).remove(0);
    for (logdir, prefix, sessions) in [(runs.clone(), "a/", 4), (runs.join("a"), "", 2)] {
        let r = python_json(
            "tb_server.py",
            &[
                logdir.to_str().unwrap(),
                &format!("{prefix}{id}/{name}"),
                "val/noise_loss",
            ],
            Duration::from_secs(180),
        );
        let columns: Vec<&str> = r["experiment"]["hparamInfos"]
            .as_array()
            .unwrap_or_else(|| panic!("{r}"))
            .iter()
            .map(|h| h["name"].as_str().unwrap())
            .collect();
        assert!(
            columns.contains(&"loss") && columns.contains(&"schedule_type"),
            "{columns:?}"
        );
        let groups = r["session_groups"]["sessionGroups"].as_array().unwrap();
        assert_eq!(groups.len(), sessions, "{r}");
        for g in groups {
            assert!(g["hparams"]["loss"].is_string() && g["hparams"]["schedule_type"].is_string());
        }
    }
}

/// The HParams experiment marks exactly the flags that vary (grid and random space) as
/// differing, so TensorBoard shows them first; a drawn float flag has an interval domain.
#[test]
fn hparams_mark_the_varying_flags_and_drawn_intervals() {
    let d = tempfile::tempdir().unwrap();
    let runs = d.path().join("runs");
    let p = d.path().join("h.yaml");
    fs::write(
        &p,
        "label: h\nflags:\n  dataset_name: shapes\n  image_size: 16\n  unet_widths: [8, 16]\n  block_depth: 1\n  embedding_dim: 8\n  batch_size: 16\n  device: cpu\n  epochs: 1\n  max_images: 40\n  kid_images: 0\ngrid:\n  loss_on: [noise, image]\nrandom:\n  trials: 2\n  space:\n    lr: loguniform(1e-4, 3e-3)\n    loss: [mae, mse]\n",
    )
    .unwrap();
    let o = run(&run_args(p.to_str().unwrap(), &runs, &[]));
    assert!(o.status.success(), "{}", text(&o));
    let (id, name) = runs_of(&runs.join("h")).remove(0);
    let r = python_json(
        "tb_server.py",
        &[
            runs.join("h").to_str().unwrap(),
            &format!("{id}/{name}"),
            "val/noise_loss",
        ],
        Duration::from_secs(180),
    );
    let infos = r["experiment"]["hparamInfos"]
        .as_array()
        .unwrap_or_else(|| panic!("{r}"));
    let differing: std::collections::BTreeSet<&str> = infos
        .iter()
        .filter(|h| h["differs"] == true)
        .map(|h| h["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        differing,
        ["loss", "loss_on", "lr"].into_iter().collect(),
        "exactly the varying flags: {infos:?}"
    );
    let lr = infos.iter().find(|h| h["name"] == "lr").unwrap();
    assert_eq!(
        lr["domainInterval"]["minValue"].as_f64(),
        Some(1e-4),
        "{lr}"
    );
    assert_eq!(
        lr["domainInterval"]["maxValue"].as_f64(),
        Some(3e-3),
        "{lr}"
    );
    assert!(lr["domainDiscrete"].is_null(), "{lr}");
}
