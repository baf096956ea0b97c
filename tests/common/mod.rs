//! Helpers for the integration tests: run the real binary in temporary directories.
#![allow(dead_code)]

pub mod race;
pub mod slurm;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The binary under test: this build's, or `DDIM_TEST_BIN` (to run a test against another
/// build, e.g. to show that a new test fails on an earlier commit).
pub fn bin() -> PathBuf {
    std::env::var_os("DDIM_TEST_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_ddim-sweep")))
}

/// The binary with `args`. Each process computes on one thread: tests run in parallel, and
/// several torch thread pools on 2 cores would spin against each other.
pub fn cmd(args: &[&str]) -> Command {
    let mut c = Command::new(bin());
    c.args(args)
        .env("OMP_NUM_THREADS", "1")
        .env("DDIM_DATA", test_data_root());
    c
}

const DATA_PREFIX: &str = "ddim-sweep-test-data-";

/// A data root (caches) for this test process, outside the project. The roots of test
/// processes that have ended are removed on first use (a test binary has no teardown).
pub fn test_data_root() -> PathBuf {
    static SWEPT: std::sync::Once = std::sync::Once::new();
    SWEPT.call_once(remove_roots_of_ended_processes);
    std::env::temp_dir().join(format!("{DATA_PREFIX}{}", std::process::id()))
}

fn remove_roots_of_ended_processes() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(DATA_PREFIX))
            .and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        // SAFETY: signal 0 only asks whether the process exists.
        let gone = unsafe { libc::kill(pid, 0) } != 0
            && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
        if gone && pid != std::process::id() as i32 {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

pub fn run(args: &[&str]) -> Output {
    cmd(args).output().expect("binary runs")
}

pub fn text(o: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A tiny CPU configuration: 16 px, two narrow levels.
pub const TINY: &[&str] = &[
    "dataset_name=shapes",
    "image_size=16",
    "unet_widths=[8,16]",
    "block_depth=1",
    "embedding_dim=8",
    "batch_size=16",
    "device=cpu",
    "kid_images=0",
];

/// `train --run-dir DIR` with [`TINY`] flags, `extra` replacing those of the same name.
pub fn train_args<'a>(dir: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let name = |a: &str| a.split('=').next().unwrap_or("").to_string();
    let mut v = vec!["train", "--run-dir", dir];
    v.extend(
        TINY.iter()
            .filter(|t| !extra.iter().any(|e| name(e) == name(t))),
    );
    v.extend_from_slice(extra);
    v
}

/// `run SWEEP --runs-dir RUNS` followed by `extra`.
pub fn run_args<'a>(sweep: &'a str, runs: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["run", sweep, "--runs-dir", runs.to_str().unwrap()];
    args.extend_from_slice(extra);
    args
}

pub fn spawn(args: &[&str]) -> Child {
    cmd(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary starts")
}

pub fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// Waits (bounded) until `cond` holds.
pub fn wait_for(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// scalars.csv without its timing columns (seconds, images_per_s: the last two), which no two
/// runs share.
pub fn scalars_without_timing(dir: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join("scalars.csv")).unwrap();
    text.lines()
        .map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            cells[..cells.len().saturating_sub(2)].join(",")
        })
        .collect()
}

pub fn send_signal(child: &Child, sig: i32) {
    // SAFETY: plain kill(2) on our own child's pid.
    let rc = unsafe { libc::kill(child.id() as i32, sig) };
    assert_eq!(rc, 0, "kill failed");
}

/// The project environment's Python (with torch and tensorboard), from scripts/setup.sh.
pub fn python() -> PathBuf {
    let venv = std::env::var_os("DDIM_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv"));
    let p = venv.join("bin/python");
    assert!(p.exists(), "{} missing: run scripts/setup.sh", p.display());
    p
}

/// Runs a script of tests/python with `args` (bounded by `timeout`); returns its JSON output.
pub fn python_json(script: &str, args: &[&str], timeout: Duration) -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/python")
        .join(script);
    let mut child = Command::new(python())
        .arg(&path)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python starts");
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            panic!("{script} timed out after {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{script} failed: {}", text(&out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{script}: {e}: {}", text(&out)))
}

/// Whether the run in `dir` is `running` and has checkpointed at `step` or later.
pub fn running_past(dir: &Path, step: i64) -> bool {
    std::fs::read_to_string(dir.join("run.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .map(|v| v["step"].as_i64().unwrap_or(0) >= step && v["status"] == "running")
        .unwrap_or(false)
}

/// A real single-machine Slurm cluster (scripts/slurm.sh), one per test process: started on
/// first use, stopped by its pid files when the process exits (also after a failed test);
/// clusters left by test processes that were killed are stopped on the next start.
pub struct Cluster {
    pub dir: PathBuf,
    pub conf: PathBuf,
    /// Its nodes: this host (one node), or n1..nN.
    pub nodes: usize,
    /// Whether it keeps accounting (slurmdbd and MariaDB: sacct answers).
    pub accounting: bool,
}

const CLUSTER_PREFIX: &str = "ddim-sweep-test-slurm-";

fn slurm_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/slurm.sh")
}

fn stop_cluster(dir: &Path) {
    let _ = Command::new("bash")
        .arg(slurm_script())
        .arg("stop")
        .arg(dir)
        .status();
}

extern "C" fn stop_cluster_at_exit() {
    if let Some(c) = CLUSTER.get() {
        stop_cluster(&c.dir);
        let _ = std::fs::remove_dir_all(&c.dir);
    }
}

static CLUSTER: std::sync::OnceLock<Cluster> = std::sync::OnceLock::new();

/// Free ports on 127.0.0.1 in a row: slurmctld's, then one per slurmd (PORT+1, and PORT+1+i
/// for node i of several).
fn free_ports(nodes: usize) -> u16 {
    for _ in 0..50 {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let p = l.local_addr().unwrap().port();
        let all_free = (1..=nodes as u16 + 1)
            .all(|i| std::net::TcpListener::bind(("127.0.0.1", p + i)).is_ok());
        if p < 65000 && all_free {
            return p;
        }
    }
    panic!("no free ports");
}

/// The cluster of one node (this host, 2 CPUs), without accounting.
pub fn cluster() -> &'static Cluster {
    cluster_of(1, false)
}

/// The cluster of `nodes` nodes (n1..nN, 1 CPU each, one slurmd each), with accounting
/// (slurmdbd and MariaDB) when asked; a test process has one cluster.
pub fn cluster_of(nodes: usize, accounting: bool) -> &'static Cluster {
    let c = CLUSTER.get_or_init(|| {
        // Clusters of test processes that are gone.
        for e in std::fs::read_dir(std::env::temp_dir())
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(pid) = name
                .strip_prefix(CLUSTER_PREFIX)
                .and_then(|p| p.parse::<i32>().ok())
            else {
                continue;
            };
            // SAFETY: signal 0 only asks whether the process exists.
            if unsafe { libc::kill(pid, 0) } != 0 {
                stop_cluster(&e.path());
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
        let dir = std::env::temp_dir().join(format!("{CLUSTER_PREFIX}{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        // SAFETY: registers a plain extern "C" function to run at exit.
        unsafe { libc::atexit(stop_cluster_at_exit) };
        let o = Command::new("bash")
            .arg(slurm_script())
            .arg("start")
            .arg(&dir)
            .arg(free_ports(nodes + 2).to_string())
            .arg(nodes.to_string())
            .args(accounting.then_some("accounting"))
            .output()
            .expect("bash runs");
        assert!(
            o.status.success(),
            "the Slurm cluster did not start: {}",
            text(&o)
        );
        Cluster {
            conf: dir.join("slurm.conf"),
            dir,
            nodes,
            accounting,
        }
    });
    assert_eq!(
        (c.nodes, c.accounting),
        (nodes, accounting),
        "one cluster per test process"
    );
    c.clear_queue();
    c
}

impl Cluster {
    /// The binary with `args`, talking to this cluster (and polling it often).
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = cmd(args);
        c.env("SLURM_CONF", &self.conf)
            .env("DDIM_SLURM_POLL", "0.3");
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("binary runs")
    }

    pub fn spawn(&self, args: &[&str]) -> Child {
        self.cmd(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("binary starts")
    }

    /// A Slurm client command (squeue, scancel, ...) against this cluster.
    pub fn client(&self, program: &str, args: &[&str]) -> String {
        let o = Command::new(program)
            .args(args)
            .env("SLURM_CONF", &self.conf)
            .output()
            .unwrap_or_else(|e| panic!("{program}: {e}"));
        assert!(o.status.success(), "{program} {args:?}: {}", text(&o));
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// A lost node: its slurmd and every process of its jobs killed at once (SIGKILL).
    pub fn kill_node(&self, node: &str) {
        self.script(&["kill-node", node]);
    }

    /// Starts a lost node's slurmd again and waits until the node is idle.
    pub fn revive_node(&self, node: &str) {
        self.script(&["revive-node", node]);
    }

    /// `scripts/slurm.sh COMMAND DIR ARGS...` for this cluster, which must succeed.
    fn script(&self, args: &[&str]) {
        let o = Command::new("bash")
            .arg(slurm_script())
            .arg(args[0])
            .arg(&self.dir)
            .args(&args[1..])
            .output()
            .expect("bash runs");
        assert!(o.status.success(), "slurm.sh {args:?}: {}", text(&o));
    }

    /// Cancels what an earlier test left in the queue (one that failed half way) and waits
    /// until the queue is empty: each test starts from an empty queue.
    fn clear_queue(&self) {
        let left = self.queued();
        if left.is_empty() {
            return;
        }
        eprintln!("cancelling tasks an earlier test left: {left:?}");
        let mut args = vec!["--signal=KILL"];
        args.extend(left.iter().map(String::as_str));
        let _ = Command::new("scancel")
            .args(&args)
            .env("SLURM_CONF", &self.conf)
            .output();
        wait_for("an empty queue", Duration::from_secs(60), || {
            self.queued().is_empty()
        });
    }

    /// `JOBID_TASKID` of the tasks in the queue (pending or running).
    pub fn queued(&self) -> Vec<String> {
        self.client("squeue", &["-h", "-r", "-o", "%i"])
            .lines()
            .map(String::from)
            .collect()
    }
}

/// The flags of the sweeps in tests: tiny CPU runs.
pub const BASE: &str = "  dataset_name: shapes\n  unet_widths: [8, 16]\n  block_depth: 1\n  embedding_dim: 8\n  batch_size: 16\n  device: cpu\n  kid_images: 0\n";

/// A tiny TPE search: 6 trials, 2 in flight, 2 random first, on the image loss.
pub fn search_sweep(label: &str) -> String {
    format!(
        "label: {label}\nflags:\n{BASE}  image_size: 16\n  max_images: 160\n  epochs: 1\n  sample_every: 0\n  checkpoint_every: 5\nsearch:\n  sampler: tpe\n  metric: image_loss\n  trials: 6\n  parallel: 2\n  startup: 2\n  seed: 3\n  space:\n    lr: loguniform(1e-4, 1e-2)\n    ema: uniform(0.5, 0.9)\n    loss: [mae, mse]\n"
    )
}

/// (trial, run, flags) of a search's trials in its sweep record.
pub fn search_trials(runs: &Path, label: &str) -> Vec<(u64, String, String)> {
    let rec = read_json(&runs.join(label).join("sweep.json"));
    rec["search"]["trials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["trial"].as_u64().unwrap(),
                t["run"].as_str().unwrap().to_string(),
                t["flags"].to_string(),
            )
        })
        .collect()
}

pub fn write_sweep(dir: &Path, name: &str, body: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p.to_str().unwrap().to_string()
}

pub fn sweep_body(label: &str, extra_flags: &str, grid: &str) -> String {
    format!("label: {label}\nflags:\n{BASE}{extra_flags}grid:\n{grid}")
}

/// (id, state, flags) rows of `--dry-run`.
pub fn dry_run(sweep: &str, runs: &str, extra: &[&str]) -> Vec<(String, String, String)> {
    let mut args = run_args(sweep, Path::new(runs), &["--dry-run"]);
    args.extend_from_slice(extra);
    let o = run(&args);
    assert!(o.status.success(), "{}", text(&o));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .skip(2)
        .take_while(|l| !l.starts_with("new "))
        .map(|l| {
            let mut parts = l.splitn(3, "  ").map(|s| s.trim().to_string());
            let id = parts.next().unwrap();
            let rest = l[id.len()..].trim_start();
            let (state, flags) = rest.split_once("  ").unwrap();
            (id, state.trim().to_string(), flags.trim().to_string())
        })
        .collect()
}

pub fn run_dirs(runs: &Path, label: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(runs.join(label))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// A size-limited tmpfs mounted for one test, unmounted when it ends (also when it fails).
pub struct Tmpfs(pub std::path::PathBuf);

impl Tmpfs {
    /// None (with a message) where this process may not mount one.
    pub fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        Tmpfs::mount_with(dir, &format!("size={size}"))
    }

    /// With mount options `opts` (e.g. `size=1m,ro`).
    pub fn mount_with(dir: &Path, opts: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", opts, "tmpfs"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("skipped: cannot mount a tmpfs here (needs root)");
            return None;
        }
        Some(Tmpfs(dir.to_path_buf()))
    }

    pub fn resize(&self, size: &str) {
        let s = std::process::Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .status()
            .unwrap();
        assert!(s.success());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

/// Tiny runs that train in a second or two.
pub const QUICK: &str =
    "  image_size: 16\n  max_images: 64\n  epochs: 1\n  sample_every: 0\n  eval_every: 1\n";

/// A sweep body of quick runs over `grid` (YAML lines under `grid:`).
pub fn quick(label: &str, grid: &str) -> String {
    sweep_body(label, QUICK, grid)
}

/// Runs `args`, asserting the exit code.
pub fn run_expect(args: &[&str], code: i32) -> String {
    let o = run(args);
    assert_eq!(o.status.code(), Some(code), "{}", text(&o));
    text(&o)
}

/// The folders of `label`'s runs, in id order.
pub fn run_folders(runs: &Path, label: &str) -> Vec<PathBuf> {
    run_dirs(runs, label)
        .into_iter()
        .map(|id| runs.join(label).join(id))
        .collect()
}

/// A completed sweep of two runs (epochs 1) in `dir/runs`: (the sweep file, the runs dir).
pub fn two_runs(dir: &Path, label: &str) -> (String, std::path::PathBuf) {
    let body = sweep_body(
        label,
        "  epochs: 1\n  max_images: 40\n  image_size: 16\n",
        "  lr: [1.0e-3, 2.0e-3]\n",
    );
    let s = write_sweep(dir, &format!("{label}.yaml"), &body);
    let runs = dir.join("runs");
    let o = run(&run_args(&s, &runs, &[]));
    assert!(o.status.success(), "{}", text(&o));
    (s, runs)
}

/// The tiny stand-in Inception network, made once per test process with Python torch.
pub fn tiny_network() -> PathBuf {
    static NET: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    NET.get_or_init(|| {
        let p = test_data_root().join("tiny_inception.pt");
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        python_json(
            "make_tiny_inception.py",
            &[p.to_str().unwrap()],
            Duration::from_secs(120),
        );
        p
    })
    .clone()
}

/// Writes `n` `size`×`size` RGB PNGs into `dir` whose pixels depend on `seed`.
pub fn write_pngs(dir: &Path, n: usize, size: u32, seed: u32) {
    std::fs::create_dir_all(dir).unwrap();
    for i in 0..n as u32 {
        let img = image::RgbImage::from_fn(size, size, |x, y| {
            let v =
                |k: u32| ((x * (3 + k + seed) + y * (5 + 2 * k) + i * 37 + seed * 11) % 256) as u8;
            image::Rgb([v(0), v(1), v(2)])
        });
        img.save(dir.join(format!("img_{i:03}.png"))).unwrap();
    }
}

/// Writes an executable script `name` with `body` into `dir`.
pub fn write_exec(dir: &Path, name: &str, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}
