use crate::store::listing::{list_runs, RunEntry};
use crate::store::Status;
use std::process::ExitCode;

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Format {
    Table,
    Csv,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub runs: super::RunsSelection,
    /// Only runs with this status.
    #[arg(long, value_enum)]
    pub status: Option<Status>,
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
}

use crate::report::format::csv_cell;
use crate::report::metrics;

fn metric(e: &RunEntry, m: &str) -> String {
    e.info
        .metrics
        .get(m)
        .map(|v| {
            if v.is_finite() && v.abs() >= 1e7 {
                format!("{v:.6e}")
            } else {
                format!("{v:.7}")
            }
        })
        .or_else(|| e.info.program.as_ref()?.non_finite.get(m).cloned())
        .unwrap_or_default()
}

/// Whether a completed run of a program was made by other sources than its sweep's current
/// ones (its `program.json`, written by the last `run`: read once per sweep folder).
fn other_sources(e: &RunEntry) -> bool {
    use std::collections::HashMap;
    use std::sync::{LazyLock, Mutex};
    static CURRENT: LazyLock<Mutex<HashMap<std::path::PathBuf, Option<String>>>> =
        LazyLock::new(Default::default);
    let Some(p) = e
        .info
        .program
        .as_ref()
        .filter(|_| e.info.status == Status::Completed)
    else {
        return false;
    };
    let sweep = crate::store::program_file::ProgramFile::path_for(&e.dir);
    let mut current = CURRENT.lock().unwrap_or_else(|p| p.into_inner());
    let hash = current.entry(sweep).or_insert_with(|| {
        crate::store::program_file::ProgramFile::read(&e.dir)
            .ok()
            .map(|f| f.sources_hash)
    });
    hash.as_ref()
        .is_some_and(|h| !p.sources_hash.is_empty() && *h != p.sources_hash)
}

/// A run `running` on this host whose process is gone (its lock is free: killed, or the
/// machine rebooted). `run --dry-run` calls it resumable, and `ddim-sweep run` resumes it.
fn process_gone(e: &RunEntry) -> bool {
    e.info.status == Status::Running
        && e.info.host == crate::process::hostname()
        && !crate::store::RunDir::new(&e.dir).is_locked()
}

/// The status as `runs` shows and filters it: interrupted for a run whose process is gone.
fn status_of(e: &RunEntry) -> Status {
    if process_gone(e) {
        Status::Interrupted
    } else {
        e.info.status
    }
}

fn status_text(e: &RunEntry) -> String {
    if e.damaged.is_some() {
        "damaged".into()
    } else if process_gone(e) {
        "interrupted (process gone)".into()
    } else if other_sources(e) {
        "completed (other sources)".into()
    } else {
        e.info.status.to_string()
    }
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let all: Vec<RunEntry> = list_runs(a.runs.read_dir()?)
        .into_iter()
        .filter(|e| a.runs.label.as_ref().is_none_or(|l| &e.label == l))
        .collect();
    for w in crate::report::declare_programs(&all) {
        eprintln!("{w}");
    }
    let damaged: Vec<&RunEntry> = all.iter().filter(|e| e.damaged.is_some()).collect();
    for e in &damaged {
        eprintln!(
            "damaged run {}: {}",
            e.dir.display(),
            e.damaged.as_deref().unwrap_or_default()
        );
    }
    let code = if damaged.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(crate::process::Exit::Error.code())
    };
    let runs: Vec<RunEntry> = all
        .into_iter()
        .filter(|e| {
            a.status
                .is_none_or(|s| e.damaged.is_none() && status_of(e) == s)
        })
        .collect();
    let tasks = task_cells(&runs);
    match a.format {
        Format::Json => print_json(&runs, tasks.as_deref())?,
        Format::Csv => {
            let (header, rows) = table(&runs, tasks.as_deref());
            crate::say!("{}", header.join(","));
            for r in &rows {
                let cells: Vec<String> = r.iter().map(|c| csv_cell(c)).collect();
                crate::say!("{}", cells.join(","));
            }
        }
        Format::Table if runs.is_empty() => {
            crate::say!("no runs in {}", a.runs.runs_dir.display());
        }
        Format::Table => {
            let (header, rows) = table(&runs, tasks.as_deref());
            print_aligned(&header, &rows);
        }
    }
    Ok(code)
}

/// The header and rows: id, label, status, the union of the varying flags (in first-seen
/// order), the metrics, seconds, and the executor's task when any run has one.
fn table(runs: &[RunEntry], tasks: Option<&[String]>) -> (Vec<String>, Vec<Vec<String>>) {
    let mut vary: Vec<String> = Vec::new();
    for e in runs {
        for (k, _) in &e.varying {
            if !vary.contains(k) {
                vary.push(k.clone());
            }
        }
    }
    let any_stopped = runs.iter().any(|e| e.info.status == Status::Stopped);
    // A sample metric no listed run measured is left out, as in the report.
    let named = |m: &str| crate::metrics::names::Metric::named(m);
    let any_builtin = runs.iter().any(|e| e.info.program.is_none());
    let metrics: Vec<&str> = metrics()
        .iter()
        .copied()
        .filter(|m| {
            runs.iter().any(|e| {
                e.info.metrics.contains_key(*m)
                    || e.info
                        .program
                        .as_ref()
                        .is_some_and(|p| p.non_finite.contains_key(*m))
            }) || (any_builtin && !named(m).is_some_and(|d| d.from_samples() || d.from_program()))
        })
        .collect();
    let metrics = if any_builtin {
        metrics
    } else {
        crate::report::program_first(metrics)
    };
    let header: Vec<String> = ["id", "label", "status"]
        .iter()
        .map(|s| s.to_string())
        .chain(vary.iter().cloned())
        .chain(metrics.iter().map(|s| s.to_string()))
        .chain(["seconds".to_string()])
        .chain(tasks.is_some().then(|| "task".to_string()))
        .chain(any_stopped.then(|| "stopped_early".to_string()))
        .collect();
    let rows = runs
        .iter()
        .enumerate()
        .map(|(n, e)| {
            let mut row = vec![e.id.clone(), e.label.clone(), status_text(e)];
            for k in &vary {
                let v = e.varying.iter().find(|(name, _)| name == k);
                row.push(v.map(|(_, v)| v.clone()).unwrap_or_default());
            }
            for &m in &metrics {
                row.push(metric(e, m));
            }
            row.push(format!("{:.1}", e.info.seconds));
            if let Some(cells) = tasks {
                row.push(cells[n].clone());
            }
            if any_stopped {
                row.push(stopped_cell(e));
            }
            row
        })
        .collect();
    (header, rows)
}

/// For a run stopped early: the epochs it trained and its metric against the threshold.
fn stopped_cell(e: &RunEntry) -> String {
    if e.info.status != Status::Stopped {
        return String::new();
    }
    match crate::store::RunDir::new(&e.dir).read_stop_request() {
        // The epoch the rule decided at (the run may have gone on a little before the
        // signal landed), of the epochs planned when known.
        Some(d) => format!(
            "epoch {}{}: {} {:.6} > {:.6}",
            d.epoch,
            if d.epochs > 0 {
                format!("/{}", d.epochs)
            } else {
                String::new()
            },
            d.metric,
            d.value,
            d.threshold
        ),
        None => format!("epoch {}", e.info.epoch),
    }
}

fn print_json(runs: &[RunEntry], tasks: Option<&[String]>) -> anyhow::Result<()> {
    let items: Vec<serde_json::Value> = runs
        .iter()
        .enumerate()
        .map(|(n, e)| {
            serde_json::json!({
                "id": e.id,
                "label": e.label,
                "dir": e.dir.display().to_string(),
                "status": status_text(e).split(' ').next(),
                "process_gone": process_gone(e),
                "reason": e.damaged.clone().or_else(|| e.info.reason.clone()),
                "flags": e.varying.iter().cloned().collect::<std::collections::BTreeMap<_, _>>(),
                "metrics": e.info.metrics,
                "seconds": e.info.seconds,
                "epoch": e.info.epoch,
                "step": e.info.step,
                "total_steps": e.info.total_steps,
                "task": e.info.task,
                "task_state": tasks.map(|c| c[n].clone()),
            })
        })
        .collect();
    crate::say!("{}", serde_json::to_string_pretty(&items)?);
    Ok(())
}

fn print_aligned(header: &[String], rows: &[Vec<String>]) {
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].len())
                .chain([header[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &[String]| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    crate::say!("{}", line(header));
    for r in rows {
        crate::say!("{}", line(r));
    }
}

/// Each run's task with its executor's state now (see `exec::tasks_now`); None when no
/// listed run went through an executor's task.
fn task_cells(runs: &[RunEntry]) -> Option<Vec<String>> {
    let runs: Vec<(&str, &crate::store::RunInfo)> =
        runs.iter().map(|e| (e.label.as_str(), &e.info)).collect();
    let cells = crate::exec::tasks_now(&runs);
    cells
        .iter()
        .any(Option::is_some)
        .then(|| cells.into_iter().map(Option::unwrap_or_default).collect())
}
