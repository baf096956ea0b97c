//! Trust nothing read from disk (docs/runs-folder.md, "What is checked"): names that become
//! paths, reports safe to open, a run is what its id says, records never rebuilt from less,
//! values as written, bounded names and plans, no duplicate log rows after a crash. One
//! test per point, and a hostile runs folder over every command.

mod common;
use common::race::SMALL_RACE;
use common::*;
use sha2::{Digest, Sha256};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Every file under `dir` (links not followed) with its bytes' hash, sorted: what must not
/// change.
fn checksum(dir: &Path) -> String {
    let mut h = Sha256::new();
    let mut paths: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(|e| e.ok())
        .map(|e| e.path().to_path_buf())
        .collect();
    paths.sort();
    for p in paths {
        h.update(p.to_string_lossy().as_bytes());
        if p.is_file() {
            h.update(fs::read(&p).unwrap());
        }
    }
    format!("{:x}", h.finalize())
}

/// A canary directory holding a TensorBoard-like file, a README and a results table: what a
/// path escape would delete or overwrite.
fn canary(root: &Path) -> PathBuf {
    let c = root.join("canary");
    fs::create_dir_all(&c).unwrap();
    fs::write(c.join("events.out.tfevents.1.keep"), "keep").unwrap();
    fs::write(c.join("README.md"), "mine").unwrap();
    fs::write(c.join("results.csv"), "mine").unwrap();
    c
}

/// Rewrites one field of a JSON file.
fn set_json(path: &Path, key: &str, value: serde_json::Value) {
    let mut v = read_json(path);
    v[key] = value;
    fs::write(path, serde_json::to_string_pretty(&v).unwrap()).unwrap();
}

/// Point 1: a sweep.json whose label is an absolute path, and a renamed sweep folder, never
/// make `run` of another sweep delete, write or create anything outside its own folders.
#[test]
fn a_records_label_never_names_a_path_for_run() {
    let d = tempfile::tempdir().unwrap();
    let runs = d.path().join("runs");
    let c = canary(d.path());
    let before = checksum(&c);
    let a = write_sweep(d.path(), "a.yaml", &quick("a", "  lr: [1.0e-3]\n"));
    let p1 = write_sweep(d.path(), "p1.yaml", &quick("p1", "  lr: [2.0e-3]\n"));
    run_expect(&run_args(&a, &runs, &[]), 0);
    run_expect(&run_args(&p1, &runs, &[]), 0);

    // Someone's archive: a sweep record whose label is the canary's absolute path.
    fs::create_dir_all(runs.join("evil")).unwrap();
    fs::copy(runs.join("a/sweep.json"), runs.join("evil/sweep.json")).unwrap();
    set_json(
        &runs.join("evil/sweep.json"),
        "label",
        c.to_str().unwrap().into(),
    );
    // A sweep folder renamed by hand.
    fs::rename(runs.join("p1"), runs.join("p1_archive")).unwrap();

    let out = run_expect(&run_args(&a, &runs, &[]), 0);
    assert_eq!(
        checksum(&c),
        before,
        "nothing outside the runs folder changes"
    );
    assert!(
        !runs.join("p1").exists(),
        "no ghost folder for a renamed sweep: {out}"
    );
    assert!(
        out.contains("evil/sweep.json") && out.contains("p1_archive/sweep.json"),
        "the records that are not believed are named: {out}"
    );
}

/// Point 2: `report` never writes where a record's label points (an absolute path in
/// sweep.json, `../../x` in a loose run's run.json).
#[test]
fn a_records_label_never_names_a_path_for_report() {
    let d = tempfile::tempdir().unwrap();
    let runs = d.path().join("runs");
    let reports = d.path().join("out/reports");
    let c = canary(d.path());
    let before = checksum(&c);
    let a = write_sweep(d.path(), "a.yaml", &quick("a", "  lr: [1.0e-3]\n"));
    run_expect(&run_args(&a, &runs, &[]), 0);
    let run_a = run_folders(&runs, "a").remove(0);

    fs::create_dir_all(runs.join("evil")).unwrap();
    fs::copy(runs.join("a/sweep.json"), runs.join("evil/sweep.json")).unwrap();
    set_json(
        &runs.join("evil/sweep.json"),
        "label",
        c.to_str().unwrap().into(),
    );
    let loose = runs.join("loose");
    fs::create_dir_all(&loose).unwrap();
    for f in ["run.json", "flags.yaml", "scalars.csv"] {
        fs::copy(run_a.join(f), loose.join(f)).unwrap();
    }
    set_json(&loose.join("run.json"), "label", "../../x".into());

    let r = reports.to_str().unwrap();
    let rd = runs.to_str().unwrap();
    let out = run_expect(&["report", "--runs-dir", rd, "--out", r, "--no-images"], 1);
    assert_eq!(checksum(&c), before, "{out}");
    assert!(!d.path().join("x").exists() && !reports.join("../../x").exists());
    assert!(reports.join("a/README.md").exists(), "{out}");
    assert!(out.contains("evil/sweep.json"), "{out}");
    assert!(out.contains("loose/run.json"), "{out}");
}

/// The events of a markdown file as pulldown-cmark reads it: raw HTML, links and table rows.
struct Rendered {
    html: Vec<String>,
    links: Vec<String>,
    /// Cells per row of each table.
    rows: Vec<usize>,
    text: String,
}

fn render(md: &str) -> Rendered {
    use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
    let mut r = Rendered {
        html: Vec::new(),
        links: Vec::new(),
        rows: Vec::new(),
        text: String::new(),
    };
    let mut cells = 0;
    for e in Parser::new_ext(md, Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH) {
        match e {
            Event::Html(h) | Event::InlineHtml(h) => r.html.push(h.to_string()),
            Event::Start(Tag::Link { dest_url, .. })
            | Event::Start(Tag::Image { dest_url, .. }) => r.links.push(dest_url.to_string()),
            Event::Start(Tag::TableRow) | Event::Start(Tag::TableHead) => cells = 0,
            Event::Start(Tag::TableCell) => cells += 1,
            Event::End(TagEnd::TableRow) | Event::End(TagEnd::TableHead) => r.rows.push(cells),
            Event::Text(t) | Event::Code(t) => r.text.push_str(&t),
            _ => {}
        }
    }
    r
}

const HOSTILE_VALUES: [&str; 3] = [
    "<img src=x onerror=alert(1)>",
    "**bold** [link](javascript:alert(1))",
    "a|b",
];

/// The grid line of `data_dir` with the hostile values (the `shapes` dataset ignores it).
fn hostile_grid() -> String {
    let quoted: Vec<String> = HOSTILE_VALUES
        .iter()
        .map(|v| format!("'{}'", v.replace('\'', "''")))
        .collect();
    format!("  data_dir: [{}]\n", quoted.join(", "))
}

/// Point 3: flag values and failure reasons are escaped: rendered by a real markdown
/// renderer, the report holds no HTML element and no link from them, and every table row
/// has its header's cells.
#[test]
fn reports_escape_flag_values_and_reasons() {
    let d = tempfile::tempdir().unwrap();
    let runs = d.path().join("runs");
    let s = write_sweep(d.path(), "h.yaml", &quick("h", &hostile_grid()));
    run_expect(&run_args(&s, &runs, &[]), 0);
    // A failed run's reason as another tool (or person) may have written it.
    let first = run_folders(&runs, "h").remove(0);
    set_json(&first.join("run.json"), "status", "failed".into());
    set_json(
        &first.join("run.json"),
        "reason",
        "<script>alert(1)</script>\n| broken | row".into(),
    );
    let reports = d.path().join("reports");
    let (rd, r) = (runs.to_str().unwrap(), reports.to_str().unwrap());
    run_expect(&["report", "--runs-dir", rd, "--out", r, "--no-images"], 0);
    let md = fs::read_to_string(reports.join("h/README.md")).unwrap();
    let page = render(&md);
    assert!(page.html.is_empty(), "raw HTML: {:?}\n{md}", page.html);
    assert!(
        page.links.iter().all(|l| !l.contains("javascript")),
        "{:?}",
        page.links
    );
    for v in HOSTILE_VALUES {
        assert!(page.text.contains(v), "`{v}` shown as written:\n{md}");
    }
    assert!(page.text.contains("<script>alert(1)</script>"), "{md}");
    let results = md.split("## Results").nth(1).unwrap();
    let table = render(results.split("\n\n").nth(1).unwrap());
    assert_eq!(table.rows.len(), 4, "header and 3 runs: {results}");
    assert!(
        table.rows.iter().all(|&n| n == table.rows[0]),
        "{:?}",
        table.rows
    );
}

/// Point 6: values compare and show as written: "`a`" and "a" are two configurations.
#[test]
fn values_that_differ_stay_distinct() {
    let d = tempfile::tempdir().unwrap();
    let runs = d.path().join("runs");
    let s = write_sweep(d.path(), "v.yaml", &quick("v", "  data_dir: ['`a`', a]\n"));
    run_expect(&run_args(&s, &runs, &[]), 0);
    let rd = runs.to_str().unwrap();
    let reports = d.path().join("reports");
    let o = run(&[
        "report",
        "--runs-dir",
        rd,
        "--out",
        reports.to_str().unwrap(),
        "--no-images",
        "--format",
        "csv",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let csv = String::from_utf8_lossy(&o.stdout).to_string();
    let head: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let col = head
        .iter()
        .position(|h| *h == "data_dir")
        .expect("data_dir varies");
    let mut values: Vec<String> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(col).unwrap().to_string())
        .collect();
    values.sort();
    assert_eq!(values, ["`a`", "a"], "{csv}");
}

/// Point 7: a grid value too long for a file name still runs (its TensorBoard folder name is
/// bounded), and a value with a NUL is refused at planning, naming the flag and the line.
#[test]
fn names_from_values_are_bounded_at_planning() {
    let d = tempfile::tempdir().unwrap();
    let runs = d.path().join("runs");
    let long = "x".repeat(300);
    let s = write_sweep(
        d.path(),
        "n.yaml",
        &quick("n", &format!("  data_dir: [{long}, short]\n")),
    );
    run_expect(&run_args(&s, &runs, &[]), 0);
    let mut names = 0;
    for run in run_folders(&runs, "n") {
        assert_eq!(read_json(&run.join("run.json"))["status"], "completed");
        for e in fs::read_dir(&run).unwrap() {
            let name = e.unwrap().file_name();
            assert!(name.len() <= 200, "{name:?}");
            names += name.to_string_lossy().starts_with("data_dir=") as usize;
        }
    }
    assert_eq!(
        names, 2,
        "each run's TensorBoard folder is named by its value"
    );
    let nul = write_sweep(
        d.path(),
        "nul.yaml",
        &quick("nul", "  data_dir: [\"a\\0b\", c]\n"),
    );
    let out = run_expect(&run_args(&nul, &runs, &["--dry-run"]), 2);
    assert!(out.contains("data_dir") && out.contains("control"), "{out}");
    assert!(out.contains("nul.yaml:"), "the file and line: {out}");
    assert!(!runs.join("nul").exists());
}

/// Point 8: a grid of 10^7 combinations is refused before it is built, with the count;
/// `--max-runs` moves the limit.
#[test]
fn a_plan_over_the_limit_is_refused_before_it_is_built() {
    let d = tempfile::tempdir().unwrap();
    let runs = d.path().join("runs");
    let ten = "[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]";
    let grid: String = [
        "epochs",
        "seed",
        "max_images",
        "checkpoint_every",
        "sample_every",
        "eval_every",
        "log_every",
    ]
    .iter()
    .map(|f| format!("  {f}: {ten}\n"))
    .collect();
    let s = write_sweep(d.path(), "big.yaml", &sweep_body("big", "", &grid));
    let start = std::time::Instant::now();
    let out = run_expect(&run_args(&s, &runs, &["--dry-run"]), 2);
    assert!(
        out.contains("10000000 runs") && out.contains("--max-runs"),
        "{out}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(60),
        "refused, not built"
    );
    let out = run_expect(&run_args(&s, &runs, &["--dry-run", "--max-runs", "100"]), 2);
    assert!(out.contains("over the limit of 100"), "{out}");
    let small = write_sweep(d.path(), "s.yaml", &quick("s", "  lr: [1.0e-3, 2.0e-3]\n"));
    run_expect(
        &run_args(&small, &runs, &["--dry-run", "--max-runs", "2"]),
        0,
    );
    run_expect(
        &run_args(&small, &runs, &["--dry-run", "--max-runs", "1"]),
        2,
    );
}

/// Point 9: SIGKILL after an epoch's row and before the next checkpoint, then resume: each
/// epoch has one row, as in a run never stopped. Epochs are 30 steps and checkpoints every 25,
/// so the row of epoch 1 (step 30) lies 20 steps before the checkpoint at step 50; a kill that
/// lands past that checkpoint did not test the point and is tried again (at most 3 times).
#[test]
fn a_crash_after_an_epochs_row_writes_no_duplicate_row() {
    let d = tempfile::tempdir().unwrap();
    let extra = [
        "epochs=3",
        "max_images=600",
        "image_size=32",
        "checkpoint_every=25",
        "sample_every=0",
    ];
    let whole = d.path().join("whole");
    let o = run(&train_args(whole.to_str().unwrap(), &extra));
    assert!(o.status.success(), "{}", text(&o));
    let epoch_rows = |dir: &Path| {
        fs::read_to_string(dir.join("scalars.csv"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with("1,"))
            .count()
    };
    let mut cut_in_window = None;
    for attempt in 0..3 {
        let cut = d.path().join(format!("cut{attempt}"));
        let mut child = spawn(&train_args(cut.to_str().unwrap(), &extra));
        wait_for("epoch 1's row", Duration::from_secs(120), || {
            running_past(&cut, 25) && epoch_rows(&cut) == 1
        });
        send_signal(&child, libc::SIGKILL);
        child.wait().unwrap();
        let info = read_json(&cut.join("run.json"));
        if info["step"].as_i64().unwrap() == 25 {
            cut_in_window = Some(cut);
            break;
        }
        eprintln!("attempt {attempt}: killed past the checkpoint at step 50: {info}");
    }
    let cut = cut_in_window.expect("a kill between epoch 1's row and the checkpoint at step 50");
    let o = run(&["train", "--run-dir", cut.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(epoch_rows(&cut), 1);
    assert_eq!(scalars_without_timing(&whole), scalars_without_timing(&cut));
}

/// Point 10: the smaller ones: an unreadable model.safetensors leaves only its pictures out;
/// `runs` on a missing folder is a usage error; a tab is named; 32 U-Net levels get a
/// message about levels; `report --format csv` prints one CSV table.
#[test]
fn smaller_trust_points() {
    let d = tempfile::tempdir().unwrap();
    let runs = d.path().join("runs");
    let rd = runs.to_str().unwrap();
    let s = write_sweep(
        d.path(),
        "m.yaml",
        &format!("{}seeds: 2\n", quick("m", "  lr: [1.0e-3, 2.0e-3]\n")),
    );
    run_expect(&run_args(&s, &runs, &[]), 0);
    let first = run_folders(&runs, "m").remove(0);
    fs::write(first.join("model.safetensors"), b"not weights").unwrap();
    let reports = d.path().join("reports");
    let r = reports.to_str().unwrap();
    let out = run_expect(&["report", "--runs-dir", rd, "--out", r], 0);
    assert!(
        out.contains("model.safetensors") || out.contains("weights"),
        "{out}"
    );
    assert!(reports.join("m/README.md").exists());

    // One CSV table on stdout (results), the others in files.
    let report_csv = |extra: &[&str]| {
        let mut args = vec![
            "report",
            "--runs-dir",
            rd,
            "--out",
            r,
            "--no-images",
            "--format",
            "csv",
        ];
        args.extend_from_slice(extra);
        let o = run(&args);
        assert!(o.status.success(), "{}", text(&o));
        String::from_utf8_lossy(&o.stdout).to_string()
    };
    let csv = report_csv(&[]);
    let fields: Vec<usize> = csv.lines().map(|l| l.split(',').count()).collect();
    assert_eq!(fields.len(), 5, "a header and 4 runs: {csv}");
    assert!(fields.iter().all(|&n| n == fields[0]), "{csv}");
    assert!(reports.join("m/configs.csv").exists());
    assert_eq!(
        report_csv(&["--table", "configs"]),
        fs::read_to_string(reports.join("m/configs.csv")).unwrap()
    );

    let missing = d.path().join("nowhere");
    let out = run_expect(&["runs", "--runs-dir", missing.to_str().unwrap()], 2);
    assert!(out.contains("nowhere"), "{out}");

    let tab = write_sweep(d.path(), "tab.yaml", "label: t\nflags:\n\tlr: 0.001\n");
    let out = run_expect(&run_args(&tab, &runs, &["--dry-run"]), 2);
    assert!(out.contains("tab"), "{out}");

    let widths = format!("unet_widths=[{}]", vec!["8"; 32].join(","));
    let dir = d.path().join("w");
    let out = run_expect(&train_args(dir.to_str().unwrap(), &[widths.as_str()]), 2);
    assert!(out.contains("at most 4 levels"), "{out}");
    assert!(!out.contains("1073741824"), "{out}");
}

/// A hostile runs folder (sweep records labelled with an absolute path and with `..`, a
/// loose run labelled `../../x`, a run folder linked to another run, a link to a folder
/// outside, HTML flag values, a damaged race run), and every command over it: nothing outside
/// the runs and reports folders changes, every bad record is named, exit codes as documented
/// (docs/commands.md: 1 when something read is damaged; --dry-run 0).
#[test]
fn a_hostile_runs_folder_changes_nothing_outside_and_names_every_bad_record() {
    let d = tempfile::tempdir().unwrap();
    let runs = d.path().join("runs");
    let reports = d.path().join("reports");
    let c = canary(d.path());
    let before = checksum(&c);
    let h = write_sweep(d.path(), "h.yaml", &quick("h", &hostile_grid()));
    let r = write_sweep(
        d.path(),
        "r.yaml",
        &format!("{}{SMALL_RACE}", quick("r", "  lr: [1.0e-3, 1.0e-9]\n")),
    );
    run_expect(&run_args(&h, &runs, &[]), 0);
    run_expect(&run_args(&r, &runs, &[]), 0);

    for (folder, label) in [
        ("evil", c.to_str().unwrap().to_string()),
        ("dotdot", "../../canary".to_string()),
    ] {
        fs::create_dir_all(runs.join(folder)).unwrap();
        fs::copy(
            runs.join("h/sweep.json"),
            runs.join(folder).join("sweep.json"),
        )
        .unwrap();
        set_json(&runs.join(folder).join("sweep.json"), "label", label.into());
    }
    let [h1, h2, _] = <[PathBuf; 3]>::try_from(run_folders(&runs, "h")).unwrap();
    let loose = runs.join("loose");
    fs::create_dir_all(&loose).unwrap();
    for f in ["run.json", "flags.yaml", "scalars.csv"] {
        fs::copy(h1.join(f), loose.join(f)).unwrap();
    }
    set_json(&loose.join("run.json"), "label", "../../x".into());
    fs::rename(&h2, d.path().join("h2_kept")).unwrap();
    std::os::unix::fs::symlink(&h1, &h2).unwrap();
    std::os::unix::fs::symlink(&c, runs.join("outside")).unwrap();
    let linked = h2.file_name().unwrap().to_str().unwrap().to_string();
    let race_run = run_folders(&runs, "r").remove(0);
    let raced = race_run.file_name().unwrap().to_str().unwrap().to_string();
    fs::write(race_run.join("run.json"), "{\"status\": ").unwrap();

    let rd = runs.to_str().unwrap();
    let out = [
        run_expect(&run_args(&h, &runs, &[]), 1),
        run_expect(&run_args(&r, &runs, &[]), 1),
        run_expect(&run_args(&h, &runs, &["--dry-run"]), 0),
        run_expect(&run_args(&r, &runs, &["--dry-run"]), 0),
        run_expect(&["runs", "--runs-dir", rd], 1),
        run_expect(
            &[
                "report",
                "--runs-dir",
                rd,
                "--out",
                reports.to_str().unwrap(),
            ],
            1,
        ),
    ]
    .join("\n");
    assert_eq!(checksum(&c), before, "nothing outside changed:\n{out}");
    assert!(!d.path().join("x").exists());
    for bad in [
        "evil/sweep.json",
        "dotdot/sweep.json",
        "loose/run.json",
        linked.as_str(),
        raced.as_str(),
    ] {
        assert!(out.contains(bad), "`{bad}` is named:\n{out}");
    }
    assert!(out.contains("damaged, waiting for repair"), "{out}");
    let mut written: Vec<String> = fs::read_dir(&reports)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    written.sort();
    assert_eq!(
        written,
        ["h", "r"],
        "reports only for the sweeps' own folders"
    );
    let page = render(&fs::read_to_string(reports.join("h/README.md")).unwrap());
    assert!(page.html.is_empty(), "{:?}", page.html);
    assert!(page.links.iter().all(|l| !l.contains("javascript")));
}
