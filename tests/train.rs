//! `ddim-sweep train`, `sample`, `summary`: the real binary on tiny CPU configurations.

mod common;
use common::*;
use std::fs;
use std::path::Path;
use std::time::Duration;

#[test]
fn summary_counts_the_seeds_parameters() {
    let o = run(&["summary"]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("Total parameters: 3,562,211 (trainable)"),
        "{out}"
    );
    assert!(
        out.contains("conv_out: Conv2d(32 -> 3, 1x1, zero-initialised)"),
        "{out}"
    );
    let o = run(&[
        "summary",
        "unet_widths=[8,16]",
        "block_depth=1",
        "embedding_dim=8",
        "image_size=16",
    ]);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn bad_flags_are_refused_with_clear_messages() {
    let d = tempfile::tempdir().unwrap();
    let run_dir = d.path().join("r");
    let rd = run_dir.to_str().unwrap();
    let cases: &[(&str, &str)] = &[
        (
            "bach_size=4",
            "unknown flag `bach_size` (did you mean `batch_size`?)",
        ),
        (
            "loss=foo",
            "invalid value for flag `loss`: `foo`; expected one of mae, mse (l1 = mae)",
        ),
        (
            "unet_widths=[]",
            "invalid value for flag `unet_widths`: []; expected a non-empty list of integers",
        ),
        (
            "batch_size=0",
            "invalid value for flag `batch_size`: `0`; expected an integer from 1 to 1048576",
        ),
        ("schedule_type=quadratic", "expected one of cosine, linear"),
        ("image_size=20", "a multiple of 16"),
        ("device=tpu", "expected auto, cpu, cuda or cuda:N"),
        ("lr", "`lr` is not FLAG=VALUE"),
    ];
    for (flag, expected) in cases {
        let o = run(&[
            "train",
            "--run-dir",
            rd,
            "dataset_name=shapes",
            "block_depth=1",
            flag,
        ]);
        assert_eq!(o.status.code(), Some(2), "{flag}: {}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains(expected),
            "{flag}: expected `{expected}` in\n{err}"
        );
        assert!(
            !run_dir.join("flags.yaml").exists(),
            "{flag}: nothing written for a refused run"
        );
    }
    // Missing data (issue 13): the run is refused before it starts, exit 3, with where it
    // looked and the fetch command; no run is created, none marked failed.
    let o = cmd(&[
        "train",
        "--run-dir",
        rd,
        "dataset_name=flowers",
        "data_dir=/nonexistent/flowers",
        "device=cpu",
        "kid_images=0",
    ])
    .env("DDIM_OFFLINE", "1")
    .output()
    .unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("dataset `flowers` is not available in /nonexistent/flowers")
            && err.contains("ddim-sweep data fetch flowers"),
        "{}",
        text(&o)
    );
    assert!(!run_dir.join("run.json").exists(), "no run created");
    assert!(!run_dir.join("flags.yaml").exists(), "no run created");
}

#[test]
fn a_tiny_run_learns_and_writes_its_files() {
    let d = tempfile::tempdir().unwrap();
    let rd = d.path().join("run");
    let rds = rd.to_str().unwrap();
    let o = run(&train_args(rds, &["epochs=4", "max_images=240", "lr=3e-3"]));
    assert!(o.status.success(), "{}", text(&o));
    for f in [
        "flags.yaml",
        "run.json",
        "scalars.csv",
        "model.safetensors",
        "samples/epoch_004.png",
    ] {
        assert!(rd.join(f).exists(), "{f} missing");
    }
    assert!(
        !rd.join("checkpoint.safetensors").exists(),
        "the checkpoint goes once the run is complete"
    );
    let info = read_json(&rd.join("run.json"));
    assert_eq!(info["status"], "completed");
    assert_eq!(info["device"], "cpu");
    assert_eq!(info["seed"], 1);
    assert_eq!(info["train_images"], 192);
    assert_eq!(info["valid_images"], 48);
    assert_eq!(info["step"], 48);
    let flags = fs::read_to_string(rd.join("flags.yaml")).unwrap();
    assert!(
        flags.contains("loss: mae") && flags.contains("unet_widths:\n- 8\n- 16"),
        "{flags}"
    );

    let rows = ddim_rows(&rd);
    assert_eq!(rows.len(), 5, "epoch 0 (untrained) and 4 epochs");
    let untrained = rows[0][5].parse::<f64>().unwrap();
    let last = rows[4][5].parse::<f64>().unwrap();
    assert!(
        (untrained - 0.798).abs() < 0.05,
        "untrained: the output conv is zero, so the noise MAE is E|N(0,1)| = 0.798: {untrained}"
    );
    assert!(
        last < 0.85 * untrained,
        "validation noise_loss must fall clearly: {untrained} -> {last}"
    );
    let metrics = &info["metrics"];
    assert_eq!(metrics["noise_loss"].as_f64().unwrap(), last);

    // The sample grid: 6x6 images of 16 px.
    let img = image::open(rd.join("samples/epoch_004.png")).unwrap();
    assert_eq!(
        (img.width(), img.height()),
        (6 * 64, 6 * 64),
        "16 px samples shown 4x"
    );

    // A completed run is left alone.
    let o = run(&["train", "--run-dir", rds]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("already completed"),
        "{}",
        text(&o)
    );

    // Continuing with other flags is refused; with the same ones it is allowed.
    let o = run(&["train", "--run-dir", rds, "loss=mse"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("was started with loss=mae, not loss=mse"),
        "{err}"
    );
    let o = run(&["train", "--run-dir", rds, "loss=l1", "epochs=4"]);
    assert!(o.status.success(), "{}", text(&o));

    // sample: a square grid from the saved weights, deterministic for a seed.
    let g1 = d.path().join("g1.png");
    let g2 = d.path().join("g2.png");
    let raw = d.path().join("raw.png");
    // 9 samples of 5 steps (seed 7) into `out`, with `extra` options.
    let sample = |out: &Path, extra: &[&str]| {
        let mut args = vec!["sample", rds, "--n", "9", "--steps", "5", "--seed", "7"];
        args.extend_from_slice(&["--device", "cpu", "--out", out.to_str().unwrap()]);
        args.extend_from_slice(extra);
        let o = run(&args);
        assert!(o.status.success(), "{}", text(&o));
    };
    sample(&g1, &[]);
    sample(&g2, &[]);
    // 3x3 samples of 16 px, shown 4x (at least 64 px each, issue 13); --scale 1: as drawn.
    let img = image::open(&g1).unwrap();
    assert_eq!((img.width(), img.height()), (3 * 64, 3 * 64));
    assert_eq!(fs::read(&g1).unwrap(), fs::read(&g2).unwrap());
    sample(&raw, &["--scale", "1"]);
    let img = image::open(&raw).unwrap();
    assert_eq!((img.width(), img.height()), (48, 48));
    let o = run(&["sample", d.path().to_str().unwrap(), "--out", "x.png"]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("is not a run directory"),
        "{}",
        text(&o)
    );
}

fn ddim_rows(dir: &std::path::Path) -> Vec<Vec<String>> {
    fs::read_to_string(dir.join("scalars.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(String::from).collect())
        .collect()
}

#[test]
fn same_seed_same_numbers_other_seed_other_numbers() {
    let d = tempfile::tempdir().unwrap();
    let a = d.path().join("a");
    let b = d.path().join("b");
    let c = d.path().join("c");
    for (dir, seed) in [(&a, "seed=5"), (&b, "seed=5"), (&c, "seed=6")] {
        let o = run(&train_args(
            dir.to_str().unwrap(),
            &["epochs=2", "max_images=100", seed, "ema=0.9"],
        ));
        assert!(o.status.success(), "{}", text(&o));
    }
    assert_eq!(scalars_without_timing(&a), scalars_without_timing(&b));
    assert_eq!(
        fs::read(a.join("model.safetensors")).unwrap(),
        fs::read(b.join("model.safetensors")).unwrap()
    );
    assert_eq!(
        fs::read(a.join("samples/epoch_002.png")).unwrap(),
        fs::read(b.join("samples/epoch_002.png")).unwrap()
    );
    assert_ne!(scalars_without_timing(&a), scalars_without_timing(&c));
}

#[test]
fn a_directory_that_is_not_a_run_is_left_alone() {
    let d = tempfile::tempdir().unwrap();
    fs::write(d.path().join("notes.txt"), "mine").unwrap();
    let o = run(&train_args(d.path().to_str().unwrap(), &["epochs=1"]));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("is not a run directory"),
        "{}",
        text(&o)
    );
    assert_eq!(
        fs::read_dir(d.path())
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_name() != ".lock")
            .count(),
        1
    );
}

/// Interrupts a run (by `signal`) once it has written a checkpoint past step 2, continues it,
/// and compares everything with a run that never stopped.
fn interrupt_and_continue(signal: i32, expect_code: Option<i32>) {
    interrupt_and_continue_with(signal, expect_code, &[]);
}

/// [`interrupt_and_continue`] with more flags.
fn interrupt_and_continue_with(signal: i32, expect_code: Option<i32>, more: &[&str]) {
    let d = tempfile::tempdir().unwrap();
    let whole = d.path().join("whole");
    let cut = d.path().join("cut");
    let mut extra = vec![
        "epochs=3",
        "max_images=600",
        "image_size=32",
        "checkpoint_every=3",
        "sample_every=1",
    ];
    extra.extend_from_slice(more);
    let o = run(&train_args(whole.to_str().unwrap(), &extra));
    assert!(o.status.success(), "{}", text(&o));

    let mut child = spawn(&train_args(cut.to_str().unwrap(), &extra));
    let info_path = cut.join("run.json");
    wait_for("a checkpoint past step 3", Duration::from_secs(120), || {
        running_past(&cut, 6)
    });
    send_signal(&child, signal);
    let status = child.wait().unwrap();
    assert_eq!(
        status.code(),
        expect_code,
        "exit status after signal {signal}"
    );
    let info = read_json(&info_path);
    if signal == libc::SIGKILL {
        assert_eq!(
            info["status"], "running",
            "a killed process leaves its status behind"
        );
    } else {
        assert_eq!(info["status"], "interrupted");
        assert!(
            info["reason"]
                .as_str()
                .unwrap()
                .contains("checkpoint saved"),
            "{info}"
        );
    }
    assert!(cut.join("checkpoint.safetensors").exists());
    assert!(
        info["step"].as_i64().unwrap() < 3 * 15,
        "stopped before the end: {info}"
    );

    let o = run(&["train", "--run-dir", cut.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("continuing"),
        "{}",
        text(&o)
    );
    let info = read_json(&info_path);
    assert_eq!(info["status"], "completed");
    assert_eq!(info["attempts"], 2);
    assert_eq!(
        scalars_without_timing(&whole),
        scalars_without_timing(&cut),
        "bit-identical scalars"
    );
    assert_eq!(
        fs::read(whole.join("model.safetensors")).unwrap(),
        fs::read(cut.join("model.safetensors")).unwrap(),
        "bit-identical final weights"
    );
    for e in 1..=3 {
        let f = format!("samples/epoch_{e:03}.png");
        assert_eq!(
            fs::read(whole.join(&f)).unwrap(),
            fs::read(cut.join(&f)).unwrap(),
            "{f}"
        );
    }
}

#[test]
fn sigkill_after_a_checkpoint_then_continue_is_bit_identical() {
    interrupt_and_continue(libc::SIGKILL, None);
}

#[test]
fn sigint_checkpoints_marks_interrupted_and_exits_130() {
    interrupt_and_continue(libc::SIGINT, Some(130));
}

#[test]
fn sigterm_exits_143() {
    interrupt_and_continue(libc::SIGTERM, Some(143));
}

#[test]
fn bf16_autocast_and_channels_last_train_to_the_same_quality() {
    let d = tempfile::tempdir().unwrap();
    let mut last = Vec::new();
    for p in [
        "precision=fp32",
        "precision=bf16",
        "channels_last=true",
        "ema=0.9",
    ] {
        let rd = d.path().join(p);
        let o = run(&train_args(
            rd.to_str().unwrap(),
            &["epochs=3", "max_images=240", "lr=3e-3", p],
        ));
        assert!(o.status.success(), "{}", text(&o));
        assert!(
            !text(&o).contains("fused AdamW unavailable"),
            "every layout takes the fused step: {}",
            text(&o)
        );
        let info = read_json(&rd.join("run.json"));
        last.push(info["metrics"]["noise_loss"].as_f64().unwrap());
    }
    let (fp32, bf16) = (last[0], last[1]);
    assert!(bf16 < 0.7, "bf16 learns: {bf16}");
    assert!(
        (bf16 - fp32).abs() / fp32 < 0.05,
        "fp32 {fp32} vs bf16 {bf16}"
    );
}

/// A run directory whose stored flags.yaml is damaged is an error on disk, not a bad
/// argument: exit 1, naming the file, for every command that reads it.
#[test]
fn a_damaged_flags_file_exits_1_naming_it() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("r");
    fs::create_dir_all(&dir).unwrap();
    let flags = dir.join("flags.yaml");
    fs::write(&flags, "lr: [not, a, number]\nbach_size: 3\n").unwrap();
    let rd = dir.to_str().unwrap();
    // A sweep whose planned run directory holds the damaged file.
    let sweep = d.path().join("s.yaml");
    fs::write(&sweep, "label: dmg\nflags:\n  dataset_name: shapes\n").unwrap();
    let o = run(&[
        "run",
        sweep.to_str().unwrap(),
        "--runs-dir",
        d.path().to_str().unwrap(),
        "--dry-run",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let id = String::from_utf8_lossy(&o.stdout).lines().nth(2).unwrap()[..12].to_string();
    let planned = d.path().join("dmg").join(&id);
    fs::create_dir_all(&planned).unwrap();
    fs::write(
        planned.join("flags.yaml"),
        "lr: [not, a, number]\nbach_size: 3\n",
    )
    .unwrap();
    let sw = sweep.to_str().unwrap().to_string();
    let runs_dir = d.path().to_str().unwrap().to_string();
    let planned_flags = planned.join("flags.yaml");
    for (args, file) in [
        (vec!["train", "--run-dir", rd], &flags),
        (vec!["sample", rd, "--device", "cpu"], &flags),
        (vec!["kid", rd, "--device", "cpu"], &flags),
        (vec!["run", &sw, "--runs-dir", &runs_dir], &planned_flags),
    ] {
        let o = run(&args);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains(&format!("{}: damaged", file.display())),
            "{args:?}: {err}"
        );
    }
    assert_eq!(
        fs::read_to_string(&flags).unwrap(),
        "lr: [not, a, number]\nbach_size: 3\n",
        "left as it was"
    );
}

/// progress.json is rewritten atomically while a run trains: every read at any moment is a
/// whole, valid file, and it follows the run to its end.
#[test]
fn the_progress_file_is_valid_at_every_moment() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("r");
    let extra = ["epochs=4", "max_images=600", "image_size=32"];
    let mut child = spawn(&train_args(dir.to_str().unwrap(), &extra));
    let path = dir.join("progress.json");
    let (mut reads, mut steps) = (0, std::collections::BTreeSet::new());
    let start = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(start.elapsed() < Duration::from_secs(300), "run too slow");
        let Ok(text) = fs::read_to_string(&path) else {
            continue; // not written yet
        };
        let v: serde_json::Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("read {reads}: not valid JSON ({e}): {text:?}"));
        for key in ["phase", "epoch", "epochs", "step", "total_steps", "updated"] {
            assert!(!v[key].is_null(), "{key} missing: {v}");
        }
        assert_eq!(v["epochs"], 4);
        steps.insert(v["step"].as_i64().unwrap());
        reads += 1;
    }
    assert!(child.wait().unwrap().success());
    assert!(reads > 100, "only {reads} reads");
    assert!(steps.len() >= 3, "progress moved: {steps:?}");
    let last = read_json(&path);
    assert_eq!(last["phase"], "completed", "{last}");
    assert_eq!(last["step"], read_json(&dir.join("run.json"))["step"]);
}

#[test]
fn sigint_and_continue_with_ema_is_bit_identical() {
    interrupt_and_continue_with(libc::SIGINT, Some(130), &["ema=0.999"]);
}

/// EMA with its warmup helps from the first step: on a short run its validation loss is no
/// worse than without EMA (within 3%), while the same decay without warmup still holds much
/// of the untrained network.
#[test]
fn ema_with_warmup_is_no_worse_than_without_on_a_short_run() {
    let d = tempfile::tempdir().unwrap();
    let loss = |name: &str, extra: &[&str]| {
        let dir = d.path().join(name);
        let mut args = vec![
            "epochs=4",
            "max_images=600",
            "image_size=16",
            "sample_every=0",
        ];
        args.extend_from_slice(extra);
        let o = run(&train_args(dir.to_str().unwrap(), &args));
        assert!(o.status.success(), "{}", text(&o));
        read_json(&dir.join("run.json"))["metrics"]["noise_loss"]
            .as_f64()
            .unwrap()
    };
    let plain = loss("plain", &[]);
    let ema = loss("ema", &["ema=0.999"]);
    let cold = loss("cold", &["ema=0.999", "ema_warmup=false"]);
    assert!(
        ema <= plain * 1.03,
        "EMA with warmup {ema} vs without EMA {plain}"
    );
    assert!(
        cold > ema * 1.1,
        "without warmup the EMA lags: {cold} vs {ema}"
    );
}

/// `doctor --json` with oneDNN's ISA limited to `limit` (None: as the machine is).
fn doctor_json(limit: Option<&str>) -> serde_json::Value {
    let mut c = cmd(&["doctor", "--json"]);
    c.env_remove("ONEDNN_MAX_CPU_ISA")
        .env_remove("DNNL_MAX_CPU_ISA");
    if let Some(l) = limit {
        c.env("ONEDNN_MAX_CPU_ISA", l);
    }
    let o = c.output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// precision=auto trains in fp32 where oneDNN may not use bf16 instructions, records the
/// resolved precision in run.json at the first start, and a resumed run keeps it even where
/// auto would now resolve otherwise.
#[test]
fn precision_auto_follows_the_isa_and_a_resumed_run_keeps_it() {
    let native = doctor_json(None)["precision_auto"]
        .as_str()
        .unwrap()
        .to_string();
    for limit in ["AVX512_CORE", "avx2"] {
        assert_eq!(
            doctor_json(Some(limit))["precision_auto"],
            "fp32",
            "{limit}"
        );
    }
    let d = tempfile::tempdir().unwrap();
    let cut = d.path().join("cut");
    let extra = [
        "precision=auto",
        "epochs=3",
        "max_images=600",
        "image_size=32",
        "checkpoint_every=3",
        "sample_every=0",
    ];
    let args = train_args(cut.to_str().unwrap(), &extra);
    let child = cmd(&args)
        .env("ONEDNN_MAX_CPU_ISA", "AVX512_CORE")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("a checkpoint past step 3", Duration::from_secs(120), || {
        running_past(&cut, 6)
    });
    assert_eq!(read_json(&cut.join("run.json"))["precision"], "fp32");
    send_signal(&child, libc::SIGINT);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    // Why fp32: the ISA limit where the CPU has bf16 instructions, else the CPU itself.
    let why = if native == "bf16" {
        "precision=auto -> fp32 on cpu: ONEDNN_MAX_CPU_ISA=AVX512_CORE"
    } else {
        "precision=auto -> fp32 on cpu: the CPU has neither AVX512-BF16 nor AMX-BF16"
    };
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(why),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // Resumed where the ISA is not limited: still fp32.
    let mut c = cmd(&["train", "--run-dir", cut.to_str().unwrap()]);
    let o = c.env_remove("ONEDNN_MAX_CPU_ISA").output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let info = read_json(&cut.join("run.json"));
    assert_eq!(info["status"], "completed");
    assert_eq!(info["attempts"], 2);
    assert_eq!(info["precision"], "fp32", "{info}");
    if native == "bf16" {
        assert!(
            text(&o).contains("precision: fp32, recorded at the run's first start"),
            "{}",
            text(&o)
        );
    }

    // A new run here records what doctor says auto is.
    let fresh = d.path().join("fresh");
    let mut c = cmd(&train_args(
        fresh.to_str().unwrap(),
        &[
            "precision=auto",
            "epochs=1",
            "max_images=64",
            "sample_every=0",
        ],
    ));
    let o = c.env_remove("ONEDNN_MAX_CPU_ISA").output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        read_json(&fresh.join("run.json"))["precision"],
        native.as_str()
    );
    // A given precision is recorded as given.
    let given = d.path().join("given");
    let o = run(&train_args(
        given.to_str().unwrap(),
        &[
            "precision=fp32",
            "epochs=1",
            "max_images=64",
            "sample_every=0",
        ],
    ));
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(read_json(&given.join("run.json"))["precision"], "fp32");
}

/// A run killed after several checkpoints, whose latest checkpoint is then truncated (or has
/// changed bytes), continues from the previous checkpoint with a warning and ends
/// bit-identical to an uninterrupted run; with both checkpoints damaged it fails, naming both.
#[test]
fn a_damaged_latest_checkpoint_falls_back_to_the_previous_one() {
    let d = tempfile::tempdir().unwrap();
    let extra = [
        "epochs=3",
        "max_images=600",
        "image_size=32",
        "checkpoint_every=3",
        "sample_every=1",
    ];
    let whole = d.path().join("whole");
    let o = run(&train_args(whole.to_str().unwrap(), &extra));
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        !whole.join("checkpoint.prev.safetensors").exists(),
        "removed at the end"
    );

    let killed_past = |name: &str, step: i64| {
        let cut = d.path().join(name);
        let mut child = spawn(&train_args(cut.to_str().unwrap(), &extra));
        wait_for("two checkpoints", Duration::from_secs(120), || {
            running_past(&cut, step)
        });
        send_signal(&child, libc::SIGKILL);
        child.wait().unwrap();
        assert!(cut.join("checkpoint.safetensors").exists());
        assert!(cut.join("checkpoint.prev.safetensors").exists());
        cut
    };
    let same_as_whole = |cut: &Path| {
        assert_eq!(scalars_without_timing(&whole), scalars_without_timing(cut));
        assert_eq!(
            fs::read(whole.join("model.safetensors")).unwrap(),
            fs::read(cut.join("model.safetensors")).unwrap(),
            "bit-identical final weights"
        );
        for e in 1..=3 {
            let f = format!("samples/epoch_{e:03}.png");
            assert_eq!(
                fs::read(whole.join(&f)).unwrap(),
                fs::read(cut.join(&f)).unwrap(),
                "{f}"
            );
        }
        for f in ["checkpoint", "checkpoint.prev", "checkpoint.damaged"] {
            assert!(
                !cut.join(format!("{f}.safetensors")).exists(),
                "{f} left behind"
            );
        }
    };

    // Truncated.
    let cut = killed_past("truncated", 9);
    let latest = cut.join("checkpoint.safetensors");
    let bytes = fs::read(&latest).unwrap();
    fs::write(&latest, &bytes[..bytes.len() / 2]).unwrap();
    let o = run(&["train", "--run-dir", cut.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let out = text(&o);
    assert!(
        out.contains("the latest checkpoint is unusable")
            && out.contains("not a complete safetensors file")
            && out.contains("continuing from the previous one"),
        "{out}"
    );
    same_as_whole(&cut);

    // Bytes changed after writing (the data's end overwritten): caught by the checksum.
    let cut = killed_past("changed", 9);
    let latest = cut.join("checkpoint.safetensors");
    let mut bytes = fs::read(&latest).unwrap();
    let n = bytes.len();
    bytes[n - 64..n - 32].fill(0xff);
    fs::write(&latest, &bytes).unwrap();
    let o = run(&["train", "--run-dir", cut.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("do not match the checksum"),
        "{}",
        text(&o)
    );
    same_as_whole(&cut);

    // Both damaged: the run fails and says so, naming both files.
    let cut = killed_past("both", 9);
    for f in ["checkpoint.safetensors", "checkpoint.prev.safetensors"] {
        let p = cut.join(f);
        let bytes = fs::read(&p).unwrap();
        fs::write(&p, &bytes[..bytes.len() / 3]).unwrap();
    }
    let o = run(&["train", "--run-dir", cut.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = text(&o);
    assert!(
        out.contains("no usable checkpoint")
            && out.contains("checkpoint.safetensors")
            && out.contains("checkpoint.prev.safetensors"),
        "{out}"
    );
    assert_eq!(read_json(&cut.join("run.json"))["status"], "failed");
}
