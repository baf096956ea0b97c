//! Executors (docs/commands.md, docs/cluster.md): the local executor's slots and GPUs, each
//! executor's settings as a block and as options, what `--dry-run` says of them. Slurm itself
//! is in tests/slurm.rs.

mod common;
use common::*;

/// `--gpus 0,1 --runs-per-gpu 2` (the GPU slots, exercised with device=cpu runs): four runs at
/// once, each pinned to its GPU through CUDA_VISIBLE_DEVICES, two per GPU, the cores shared.
#[test]
fn gpu_slots_pin_each_run_to_its_gpu() {
    let d = tempfile::tempdir().unwrap();
    let runs = d.path().join("runs");
    let body = sweep_body(
        "gpus",
        "  epochs: 1\n  max_images: 40\n  image_size: 16\n",
        "  seed: [1, 2, 3, 4]\n",
    );
    let sweep = write_sweep(d.path(), "s.yaml", &body);
    let o = cmd(&run_args(
        &sweep,
        &runs,
        &["--gpus", "0,1", "--runs-per-gpu", "2"],
    ))
    .env_remove("OMP_NUM_THREADS")
    .output()
    .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut per_gpu = std::collections::BTreeMap::new();
    for id in run_dirs(&runs, "gpus") {
        let info = read_json(&runs.join("gpus").join(&id).join("run.json"));
        assert_eq!(info["status"], "completed");
        assert_eq!(info["device"], "cpu");
        assert_eq!(info["threads"], (cores / 4).max(1) as i64, "{info}");
        *per_gpu
            .entry(info["cuda_visible_devices"].as_str().unwrap().to_string())
            .or_insert(0) += 1;
    }
    assert_eq!(
        per_gpu,
        [("0".to_string(), 2), ("1".to_string(), 2)]
            .into_iter()
            .collect()
    );
}

/// `--dry-run` on Slurm says how the tasks would be submitted: the sweep file's block with
/// the command line's options in place (one definition for both).
#[test]
fn a_dry_run_on_slurm_shows_the_block_overridden_by_the_options() {
    let d = tempfile::tempdir().unwrap();
    let body = sweep_body("sb", "  epochs: 1\n", "  loss_on: [noise, image]\n")
        + "slurm:\n  partition: gpu\n  time: \"2:00:00\"\n  extra: [--account=p]\n";
    let s = write_sweep(d.path(), "sb.yaml", &body);
    let rs = d.path().join("runs");
    let o = run(&run_args(
        &s,
        &rs,
        &[
            "--dry-run",
            "--executor",
            "slurm",
            "--jobs",
            "2",
            "--time",
            "0:10:00",
            "--signal-before",
            "60",
            "--sbatch-arg=--qos=short",
        ],
    ));
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("slurm: the runs to do go as one job array (at most 2 at once), each task with sbatch --signal=B:USR1@60 --partition=gpu --time=0:10:00 --account=p --qos=short"),
        "{out}"
    );
    assert!(!rs.exists(), "a dry run writes nothing");
}

/// The local executor's settings are its `local:` block as well as `run`'s options (the
/// options win), `--dry-run` says how runs would execute, and one executor's options under
/// another exit 2 naming the option.
#[test]
fn each_executor_owns_its_options() {
    let d = tempfile::tempdir().unwrap();
    let runs = d.path().join("runs");
    let body = sweep_body("ex", "  epochs: 1\n", "  seed: [1, 2, 3]\n");
    let s = write_sweep(
        d.path(),
        "s.yaml",
        &format!("{body}local:\n  gpus: [0, 1]\n"),
    );
    let o = run(&run_args(&s, &runs, &["--dry-run"]));
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("local: at most 2 run(s) at once on GPU(s) 0, 1 (1 per GPU)"),
        "{}",
        text(&o)
    );
    let o = run(&run_args(
        &s,
        &runs,
        &["--dry-run", "--gpus", "3", "--runs-per-gpu", "3"],
    ));
    assert!(
        text(&o).contains("local: at most 3 run(s) at once on GPU(s) 3 (3 per GPU)"),
        "{}",
        text(&o)
    );
    let cpu = write_sweep(d.path(), "c.yaml", &body);
    let o = run(&run_args(&cpu, &runs, &["--dry-run", "--jobs", "2"]));
    assert!(
        text(&o).contains("local: at most 2 run(s) at once on the CPU"),
        "{}",
        text(&o)
    );
    for (args, want) in [
        (
            vec!["--executor", "slurm", "--gpus", "0"],
            "--gpus and --runs-per-gpu are for the local executor",
        ),
        (vec!["--partition", "gpu"], "are for --executor slurm"),
        (vec!["--detach"], "are for --executor slurm"),
        (
            vec!["--runs-per-gpu", "0"],
            "--runs-per-gpu (local: runs_per_gpu) must be at least 1",
        ),
    ] {
        let mut a = vec!["--dry-run"];
        a.extend(args.iter().copied());
        let o = run(&run_args(&cpu, &runs, &a));
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        assert!(text(&o).contains(want), "{args:?}: {}", text(&o));
    }
    let bad = write_sweep(d.path(), "b.yaml", &format!("{body}local:\n  gpu: [0]\n"));
    let o = run(&run_args(&bad, &runs, &["--dry-run"]));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("b.yaml") && text(&o).contains("local: unknown field `gpu`"),
        "{}",
        text(&o)
    );
}
