//! `--executor slurm` on a cluster of two nodes with accounting (n1, n2: one slurmd each, 1
//! CPU each, on this machine; slurmdbd and MariaDB; scripts/slurm.sh start DIR PORT 2
//! accounting): a sweep spreads over both, a node lost under a running task costs the run
//! one checkpoint interval, not the run, and a task killed without a word is settled from
//! `sacct`.

mod common;
use common::slurm::*;
use common::*;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Eight runs with --jobs 2 over two nodes: both nodes used, never more than 2 at once, the
/// numbers of the local executor.
#[test]
fn eight_runs_spread_over_both_nodes_and_match_local() {
    let _s = serial();
    let c = cluster_of(2, true);
    let d = tempfile::tempdir().unwrap();
    let s = write_sweep(
        d.path(),
        "eight.yaml",
        &sweep_body(
            "eight",
            "  epochs: 1\n  max_images: 100\n  image_size: 16\n",
            "  lr: [1.0e-3, 2.0e-3, 3.0e-3, 4.0e-3]\n  loss_on: [noise, image]\n",
        ),
    );
    let local = d.path().join("local");
    let o = run(&run_args(&s, &local, &["--jobs", "2"]));
    assert!(o.status.success(), "{}", text(&o));
    let runs = d.path().join("slurm");
    let o = c.run(&run_args(
        &s,
        &runs,
        &["--executor", "slurm", "--jobs", "2"],
    ));
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("8 completed now, 0 failed"),
        "{}",
        text(&o)
    );
    assert_same_numbers(&local, &runs, "eight");
    let nodes = completed_on_slurm(&runs, "eight", 2);
    assert_eq!(nodes.into_iter().collect::<Vec<_>>(), ["n1", "n2"]);
}

/// The node of a running task is lost (its slurmd and every process of the task killed at
/// once: the run hears nothing): Slurm requeues the task, it continues on the other node from
/// its last checkpoint and completes bit-identical to an uninterrupted run; its history names
/// the lost node; nothing is left running.
#[test]
fn a_lost_node_costs_one_checkpoint_interval_not_the_run() {
    let _s = serial();
    let c = cluster_of(2, true);
    let d = tempfile::tempdir().unwrap();
    let s = write_sweep(
        d.path(),
        "lost.yaml",
        &sweep_body(
            "lost",
            // 300 steps (about 20 s on one thread of a fast core): the node's loss lands
            // mid-run however quickly the cluster kills it.
            "  epochs: 10\n  max_images: 600\n  image_size: 32\n  checkpoint_every: 3\n",
            "  loss_on: [noise]\n",
        ),
    );
    let local = d.path().join("local");
    assert!(run(&run_args(&s, &local, &[])).status.success());
    let runs = d.path().join("slurm");
    let sweep = c.spawn(&run_args(&s, &runs, &["--executor", "slurm"]));
    let r = wait_for_run_dir(&runs, "lost");
    wait_for("a checkpoint", Duration::from_secs(120), || {
        running_past(&r, 6)
    });
    let node = info(&r)["task"]["node"].as_str().unwrap().to_string();
    c.kill_node(&node);
    // The node comes back when this test ends, also when it fails.
    struct Revive<'a>(&'a Cluster, String);
    impl Drop for Revive<'_> {
        fn drop(&mut self) {
            self.0.revive_node(&self.1);
        }
    }
    let _revive = Revive(c, node.clone());
    let out = sweep.wait_with_output().unwrap();
    let ended = out.status;
    let said = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(ended.success(), "{said}");
    let i = info(&r);
    assert_eq!(i["status"], "completed", "{i}");
    assert_eq!(i["attempts"], 2, "{i}");
    let history = i["history"].as_array().unwrap();
    assert_eq!(history[0]["status"], "lost", "{i}");
    assert_eq!(history[0]["node"], node.as_str(), "{i}");
    assert!(
        history[0]["reason"]
            .as_str()
            .unwrap()
            .contains(&format!("node {node}): the node was lost")),
        "{i}"
    );
    assert_eq!(history[1]["status"], "completed", "{i}");
    assert_ne!(
        history[1]["node"],
        node.as_str(),
        "continued on the other node: {i}"
    );
    assert_same_numbers(&local, &runs, "lost");
    assert!(c.queued().is_empty());
}

fn wait_for_run_dir(runs: &Path, label: &str) -> PathBuf {
    let mut found = None;
    wait_for("the run directory", Duration::from_secs(60), || {
        found = runs
            .join(label)
            .exists()
            .then(|| run_paths(runs, label).into_iter().next())
            .flatten();
        found.is_some()
    });
    found.unwrap()
}

/// A task killed without writing its status (SIGKILL to its batch shell's process group) is
/// settled from accounting: the reason quotes `sacct`'s state; the next run finishes it.
#[test]
fn a_killed_task_is_settled_from_sacct() {
    let _s = serial();
    let c = cluster_of(2, true);
    let d = tempfile::tempdir().unwrap();
    let s = write_sweep(
        d.path(),
        "acct.yaml",
        &sweep_body(
            "acct",
            // 300 steps (about 20 s on one thread of a fast core): the node's loss lands
            // mid-run however quickly the cluster kills it.
            "  epochs: 10\n  max_images: 600\n  image_size: 32\n  checkpoint_every: 3\n",
            "  loss_on: [noise]\n",
        ),
    );
    let runs = d.path().join("runs");
    let sweep = c.spawn(&run_args(&s, &runs, &["--executor", "slurm"]));
    let r = wait_for_run_dir(&runs, "acct");
    wait_for("a checkpoint", Duration::from_secs(120), || {
        running_past(&r, 3)
    });
    let key = slurm_key(&r);
    c.client("scancel", &["--signal=KILL", "--batch", &key]);
    let o = sweep.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let i = info(&r);
    let reason = i["reason"].as_str().unwrap();
    assert!(
        reason.contains(&format!("Slurm task {key} ended")) && reason.contains("from sacct"),
        "{i}"
    );
    let sacct = c.client(
        "sacct",
        &["-j", &key, "-X", "-n", "-P", "-o", "JobID,State"],
    );
    assert!(sacct.contains(&key), "accounting knows the task: {sacct}");
    let o = c.run(&run_args(
        &s,
        &runs,
        &["--executor", "slurm", "--retry-failed"],
    ));
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(info(&r)["status"], "completed");
}
