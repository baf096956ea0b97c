use crate::store::listing::{list_runs, RunEntry};
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
    /// Only runs with this status (queued, running, completed, failed, interrupted).
    #[arg(long)]
    pub status: Option<String>,
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
}

const METRICS: [&str; 3] = ["noise_loss", "image_loss", "kid"];

fn metric(e: &RunEntry, m: &str) -> String {
    e.info
        .metrics
        .get(m)
        .map(|v| format!("{v:.7}"))
        .unwrap_or_default()
}

fn csv_cell(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let valid = ["queued", "running", "completed", "failed", "interrupted"];
    if let Some(s) = &a.status {
        if !valid.contains(&s.as_str()) {
            anyhow::bail!("--status {s}: expected one of {}", valid.join(", "));
        }
    }
    let runs: Vec<RunEntry> = list_runs(&a.runs.runs_dir)
        .into_iter()
        .filter(|e| a.runs.label.as_ref().is_none_or(|l| &e.label == l))
        .filter(|e| {
            a.status
                .as_ref()
                .is_none_or(|s| e.info.status.to_string() == *s)
        })
        .collect();
    // Columns: the union of the varying flags, in first-seen order.
    let mut vary: Vec<String> = Vec::new();
    for e in &runs {
        for (k, _) in &e.varying {
            if !vary.contains(k) {
                vary.push(k.clone());
            }
        }
    }
    let header: Vec<String> = ["id", "label", "status"]
        .iter()
        .map(|s| s.to_string())
        .chain(vary.iter().cloned())
        .chain(METRICS.iter().map(|s| s.to_string()))
        .chain(["seconds".to_string()])
        .collect();
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|e| {
            let mut row = vec![e.id.clone(), e.label.clone(), e.info.status.to_string()];
            for k in &vary {
                row.push(
                    e.varying
                        .iter()
                        .find(|(n, _)| n == k)
                        .map(|(_, v)| v.clone())
                        .unwrap_or_default(),
                );
            }
            for m in METRICS {
                row.push(metric(e, m));
            }
            row.push(format!("{:.1}", e.info.seconds));
            row
        })
        .collect();
    match a.format {
        Format::Json => {
            let items: Vec<serde_json::Value> = runs
                .iter()
                .map(|e| {
                    serde_json::json!({
                        "id": e.id,
                        "label": e.label,
                        "dir": e.dir.display().to_string(),
                        "status": e.info.status,
                        "reason": e.info.reason,
                        "flags": e.varying.iter().cloned().collect::<std::collections::BTreeMap<_, _>>(),
                        "metrics": e.info.metrics,
                        "seconds": e.info.seconds,
                        "epoch": e.info.epoch,
                        "step": e.info.step,
                        "total_steps": e.info.total_steps,
                    })
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&items)?);
        }
        Format::Csv => {
            println!("{}", header.join(","));
            for r in &rows {
                println!(
                    "{}",
                    r.iter().map(|c| csv_cell(c)).collect::<Vec<_>>().join(",")
                );
            }
        }
        Format::Table => {
            if rows.is_empty() {
                println!("no runs in {}", a.runs.runs_dir.display());
                return Ok(ExitCode::SUCCESS);
            }
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
            println!("{}", line(&header));
            for r in &rows {
                println!("{}", line(r));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
