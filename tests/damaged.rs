//! Damaged files in a runs folder (docs/run-directory.md): a damaged run.json, sweep.json or
//! scalars.csv, a run folder linked to another run, a damaged run during a race: each named
//! where it is read, left alone, never rebuilt from less.

mod common;
use common::race::RACE;
use common::*;
use std::fs;
use std::path::PathBuf;

/// A damaged run.json (empty, or JSON that is not a run's) is never skipped silently: `runs`
/// and `report` show the run as damaged, name the file and exit 1 after printing the rest;
/// `run --dry-run` calls it damaged and `run` leaves it alone, says how to repair or retire
/// it, and exits 1.
#[test]
fn a_damaged_run_json_is_named_everywhere() {
    let d = tempfile::tempdir().unwrap();
    let runs = d.path().join("runs");
    let rs = runs.to_str().unwrap();
    let body = sweep_body(
        "dmg",
        "  epochs: 1\n  max_images: 40\n  image_size: 16\n",
        "  lr: [1.0e-3, 2.0e-3, 3.0e-3]\n",
    );
    let s = write_sweep(d.path(), "dmg.yaml", &body);
    let o = run(&run_args(&s, &runs, &[]));
    assert!(o.status.success(), "{}", text(&o));
    let ids = run_dirs(&runs, "dmg");
    let empty = runs.join("dmg").join(&ids[0]).join("run.json");
    let foreign = runs.join("dmg").join(&ids[1]).join("run.json");
    fs::write(&empty, "").unwrap();
    fs::write(&foreign, "{\"foo\": 1}").unwrap();

    let o = run(&["runs", "--runs-dir", rs]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let table = String::from_utf8_lossy(&o.stdout);
    assert_eq!(table.matches(" damaged").count(), 2, "{table}");
    assert!(
        table.contains("completed"),
        "the good run is listed too: {table}"
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!("{}: damaged", empty.display())) && err.contains("the file is empty"),
        "{err}"
    );
    assert!(err.contains("it has no `status`"), "{err}");

    let out = d.path().join("reports");
    let o = run(&[
        "report",
        "--runs-dir",
        rs,
        "--out",
        out.to_str().unwrap(),
        "--no-images",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("left out of the report"),
        "{}",
        text(&o)
    );
    let md = fs::read_to_string(out.join("dmg/README.md")).unwrap();
    assert!(
        md.contains("## Damaged runs") && md.contains("the file is empty"),
        "{md}"
    );

    let states = dry_run(&s, rs, &[]);
    assert_eq!(
        states.iter().filter(|r| r.1 == "damaged").count(),
        2,
        "{states:?}"
    );
    let o = run(&run_args(&s, &runs, &[]));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let said = text(&o);
    assert!(
        said.contains("2 damaged") && said.contains("Repair the file, or retire the run"),
        "{said}"
    );
    assert_eq!(fs::read_to_string(&empty).unwrap(), "", "left alone");
}

/// A damaged sweep.json is kept aside (renamed, named in the message), never overwritten; the
/// sweep goes on with a new one.
#[test]
fn a_damaged_sweep_json_is_kept_aside() {
    let d = tempfile::tempdir().unwrap();
    let runs = d.path().join("runs");
    let body = sweep_body(
        "sj",
        "  epochs: 1\n  max_images: 40\n  image_size: 16\n",
        "  lr: [1.0e-3]\n",
    );
    let s = write_sweep(d.path(), "sj.yaml", &body);
    let o = run(&run_args(&s, &runs, &[]));
    assert!(o.status.success(), "{}", text(&o));
    let record = runs.join("sj/sweep.json");
    let whole = fs::read(&record).unwrap();
    fs::write(&record, &whole[..whole.len() / 2]).unwrap();
    let o = run(&run_args(&s, &runs, &[]));
    assert!(o.status.success(), "{}", text(&o));
    let said = text(&o);
    assert!(
        said.contains("sweep.json: damaged") && said.contains("kept aside as"),
        "{said}"
    );
    let aside: Vec<_> = fs::read_dir(runs.join("sj"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("sweep.json.damaged-")
        })
        .collect();
    assert_eq!(aside.len(), 1, "kept aside once");
    assert_eq!(
        fs::read(aside[0].path()).unwrap(),
        &whole[..whole.len() / 2],
        "not changed"
    );
    assert!(
        read_json(&record)["invocations"].as_array().unwrap().len() == 1,
        "a new record"
    );
}

/// A scalars.csv with a row that is not a row (a hand edit, a bad disk) makes `report` list
/// the run as damaged, naming the file and the line, and exit 1; a last line cut short by a
/// kill (no newline) is not damage.
#[test]
fn a_damaged_scalars_file_is_named_by_report() {
    let d = tempfile::tempdir().unwrap();
    let (_s, runs) = two_runs(d.path(), "csv");
    let rs = runs.to_str().unwrap();
    let ids = run_dirs(&runs, "csv");
    let cut = runs.join("csv").join(&ids[0]).join("scalars.csv");
    let mut cut_short = fs::read_to_string(&cut).unwrap();
    cut_short.push_str("2,80,0.5");
    fs::write(&cut, &cut_short).unwrap();
    let out = d.path().join("reports");
    let report = || {
        run(&[
            "report",
            "--runs-dir",
            rs,
            "--out",
            out.to_str().unwrap(),
            "--no-images",
        ])
    };
    let o = report();
    assert!(o.status.success(), "a cut last line: {}", text(&o));
    let bad = runs.join("csv").join(&ids[1]).join("scalars.csv");
    let lines: Vec<String> = fs::read_to_string(&bad)
        .unwrap()
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if i == 1 {
                "1,x,y".into()
            } else {
                l.to_string()
            }
        })
        .collect();
    fs::write(&bad, lines.join("\n") + "\n").unwrap();
    let o = report();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains(&format!(
            "{}: damaged or not a ddim-sweep file: line 2 is not a row of",
            bad.display()
        )),
        "{}",
        text(&o)
    );
}

/// Point 4: a run folder replaced by a link to another run is damaged, named, never counted
/// completed, and never shown as a copy.
#[test]
fn a_run_folder_linked_to_another_run_is_damaged() {
    let d = tempfile::tempdir().unwrap();
    let runs = d.path().join("runs");
    let s = write_sweep(d.path(), "l.yaml", &quick("l", "  lr: [1.0e-3, 2.0e-3]\n"));
    run_expect(&run_args(&s, &runs, &[]), 0);
    let [a, b] = <[PathBuf; 2]>::try_from(run_folders(&runs, "l")).unwrap();
    fs::rename(&b, d.path().join("kept")).unwrap();
    std::os::unix::fs::symlink(&a, &b).unwrap();
    let b_id = b.file_name().unwrap().to_str().unwrap();

    let out = run_expect(&run_args(&s, &runs, &[]), 1);
    assert!(out.contains("1 damaged"), "{out}");
    assert!(out.contains(b_id) && out.contains("damaged"), "{out}");
    assert!(!out.contains("2 completed"), "{out}");
    let rd = runs.to_str().unwrap();
    let listed = run_expect(&["runs", "--runs-dir", rd], 1);
    assert!(
        listed.contains(b_id) && listed.contains("damaged"),
        "{listed}"
    );
    let reports = d.path().join("reports");
    let out = run_expect(
        &[
            "report",
            "--runs-dir",
            rd,
            "--out",
            reports.to_str().unwrap(),
            "--no-images",
        ],
        1,
    );
    assert!(out.contains(b_id), "{out}");
    let md = fs::read_to_string(reports.join("l/README.md")).unwrap();
    assert!(md.contains("## Damaged runs") && md.contains(b_id), "{md}");
}

/// Point 5: a damaged run.json of a finished race keeps the race's decisions: the record
/// says "damaged, waiting for repair", and the report shows the rounds recorded before.
#[test]
fn a_damaged_run_keeps_a_finished_races_record() {
    let d = tempfile::tempdir().unwrap();
    let runs = d.path().join("runs");
    let sweep = d.path().join("race.yaml");
    fs::write(&sweep, RACE).unwrap();
    let s = sweep.to_str().unwrap();
    run_expect(&run_args(s, &runs, &["--jobs", "2"]), 0);
    let record = runs.join("race/sweep.json");
    let race = read_json(&record)["race"].clone();
    assert_eq!(race["finished"], true, "{race}");
    let decisions = race["decisions"].as_array().unwrap().len();

    // Truncate one round-1 run's run.json.
    let plan = read_json(&record);
    let seed1 = plan["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["varying"]["seed"] == "1")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let info = runs.join("race").join(&seed1).join("run.json");
    let text_before = fs::read_to_string(&info).unwrap();
    fs::write(&info, &text_before[..text_before.len() / 2]).unwrap();

    let out = run_expect(&run_args(s, &runs, &["--jobs", "2"]), 1);
    assert!(out.contains("damaged, waiting for repair"), "{out}");
    let after = read_json(&record)["race"].clone();
    assert_eq!(after["finished"], true, "{after}");
    assert_eq!(after["decisions"].as_array().unwrap().len(), decisions);
    assert_eq!(after["winner"], race["winner"]);
    assert!(!after["damaged"].as_array().unwrap().is_empty(), "{after}");
    let reports = d.path().join("reports");
    let (rd, r) = (runs.to_str().unwrap(), reports.to_str().unwrap());
    run_expect(&["report", "--runs-dir", rd, "--out", r, "--no-images"], 1);
    let md = fs::read_to_string(reports.join("race/README.md")).unwrap();
    assert!(md.contains("Damaged, waiting for repair"), "{md}");
    assert!(!md.contains("0 of 5 round(s)"), "{md}");

    // Repaired: the race is whole again, with the same decisions.
    fs::write(&info, text_before).unwrap();
    run_expect(&run_args(s, &runs, &["--jobs", "2"]), 0);
    let repaired = read_json(&record)["race"].clone();
    assert_eq!(repaired["decisions"], race["decisions"]);
    assert!(repaired.get("damaged").is_none(), "{repaired}");
}
