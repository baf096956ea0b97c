//! `sample_metrics:` of a program run: once the program exited 0, `ddim-sweep score-samples`
//! (the main binary: this supervisor has no libtorch) measures the images it left; its values
//! become the run's final sample metrics and, per `epoch_N/` folder, rows of scalars.csv.

use super::intake::Row;
use super::scalars::Scalars;
use crate::process::{Signal, Stop};
use crate::store::program_file::SampleMetricsFile;
use crate::store::RunDir;
use anyhow::{bail, Context};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// What `score-samples` prints.
#[derive(Debug, Deserialize)]
struct Scores {
    #[serde(rename = "final")]
    last: BTreeMap<String, f64>,
    epochs: Vec<(i64, BTreeMap<String, f64>)>,
    images: usize,
    from: std::path::PathBuf,
    reference_images: i64,
}

/// How scoring ended.
pub enum Scored {
    /// The final values by metric name.
    Done(BTreeMap<String, f64>),
    /// A stop was asked for while it ran.
    Stopped(Signal),
}

/// The main binary, which scores: this one's sibling `ddim-sweep` in the supervisor binary,
/// else this very binary.
fn scorer() -> anyhow::Result<std::path::PathBuf> {
    let me = std::env::current_exe().context("finding this binary")?;
    if cfg!(ddim_supervisor) {
        Ok(me.with_file_name("ddim-sweep"))
    } else {
        Ok(me)
    }
}

fn create(path: &std::path::Path) -> anyhow::Result<std::fs::File> {
    std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))
}

/// Scores the run's images with `score-samples`, writes its per-epoch values into `scalars`;
/// the final values (or the stop that ended it).
pub fn score(
    dir: &RunDir,
    m: &SampleMetricsFile,
    stop: &Stop,
    scalars: &mut Scalars,
) -> anyhow::Result<Scored> {
    let out_path = dir.root.join(".score-samples.json");
    let err_path = dir.root.join(".score-samples.err");
    let bin = scorer()?;
    crate::say!(
        "program: sample_metrics: scoring the images in {} against {}",
        m.images,
        m.reference.display()
    );
    let mut child = std::process::Command::new(&bin)
        .arg("score-samples")
        .arg("--run-dir")
        .arg(&dir.root)
        .stdin(std::process::Stdio::null())
        .stdout(create(&out_path)?)
        .stderr(create(&err_path)?)
        .spawn()
        .with_context(|| format!("starting {} score-samples", bin.display()))?;
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break s;
        }
        if let Some(sig) = stop.requested() {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(Scored::Stopped(sig));
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let err = std::fs::read_to_string(&err_path).unwrap_or_default();
    let text = std::fs::read_to_string(&out_path).unwrap_or_default();
    let _ = std::fs::remove_file(&out_path);
    let _ = std::fs::remove_file(&err_path);
    for line in err.lines() {
        crate::say!("program: sample_metrics: {line}");
    }
    if !status.success() {
        let last = err
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("no message");
        bail!("sample_metrics: scoring the program's images failed: {last}");
    }
    let s: Scores = serde_json::from_str(text.trim()).with_context(|| {
        format!(
            "sample_metrics: {} score-samples printed no scores",
            bin.display()
        )
    })?;
    crate::say!(
        "program: sample_metrics: {} images of {} against {} reference images: {}",
        s.images,
        s.from.display(),
        s.reference_images,
        s.last
            .iter()
            .map(|(k, v)| format!("{k} {v:.6}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    for (epoch, values) in s.epochs {
        let values: BTreeMap<String, f64> = values
            .into_iter()
            .filter(|(k, _)| m.columns.contains(k))
            .collect();
        let step = scalars.step_of_epoch(epoch).unwrap_or(epoch);
        scalars.write_measured(&Row {
            epoch,
            step,
            numbered: false,
            values,
        })?;
    }
    Ok(Scored::Done(s.last))
}
