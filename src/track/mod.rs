//! What a run logs, where: `scalars.csv` (per epoch), `steps.csv` (every `log_every` steps),
//! TensorBoard event files with the same scalars, the sample grids and the HParams session,
//! and the sample grid PNGs.
//!
//! TensorBoard tags (x axis: the optimizer step):
//! - `train/loss`, `train/noise_loss`, `train/image_loss`, `train/lr`: every `log_every` steps
//!   (the batch's values; also in `steps.csv`);
//! - `epoch/loss`, `epoch/noise_loss`, `epoch/image_loss`, `epoch/images_per_s`,
//!   `epoch/seconds`: means over each epoch (also in `scalars.csv`);
//! - `val/noise_loss`, `val/image_loss` (and `val/kid` when computed): validation, at epoch ends
//!   and after training (also in `scalars.csv`);
//! - `samples`: the 6x6 sample grid (PNG), each time one is made.
//!
//! A run's event files live in `<run dir>/<name>/`, `name` being the run's varying flags
//! (`loss_on=noise,schedule_type=linear`) when a sweep made it, else `train`; so
//! `tensorboard --logdir runs` shows readable run names.

pub mod csv;
pub mod follow;
pub mod grid;
pub mod steps;
pub mod tensorboard;

use crate::flags::Flags;
use crate::store::RunDir;
use std::collections::BTreeMap;
use std::path::PathBuf;
use tensorboard::{EventWriter, SessionStatus};

/// The TensorBoard directory of a run named `name` (empty: `train`).
pub fn tb_dir(dir: &RunDir, name: &str) -> PathBuf {
    dir.tb_dir(name)
}

/// Logging of one attempt of a run.
pub struct Tracker {
    dir: RunDir,
    tb: EventWriter,
}

/// One logged training step.
#[derive(Debug, Clone, Copy)]
pub struct StepRow {
    pub step: i64,
    pub epoch: i64,
    pub loss: f64,
    pub noise_loss: f64,
    pub image_loss: f64,
    pub lr: f64,
}

impl Tracker {
    /// Opens the logs of a run that restarts at `step`: anything logged past it by an earlier
    /// attempt is dropped first (CSV rows and TensorBoard events alike).
    pub fn open(dir: &RunDir, flags: &Flags, name: &str, step: i64) -> anyhow::Result<Tracker> {
        csv::truncate_after(&dir.scalars(), step)?;
        steps::truncate_after(&dir.steps(), step)?;
        let tbd = tb_dir(dir, name);
        let tb = match tensorboard::truncate_after(&tbd, step)? {
            Some(path) => EventWriter::append_to(&path)?,
            None => {
                let mut w = EventWriter::create(&tbd)?;
                let hparams: BTreeMap<String, tensorboard::pb::PbValue> = flags
                    .to_map()
                    .iter()
                    .map(|(k, v)| (k.clone(), tensorboard::pb_value(v)))
                    .collect();
                w.session_start(hparams, name)?;
                w
            }
        };
        // The session's end (success or failure) is written once, when the run ends:
        // TensorBoard keeps the first summary metadata of a tag, so a provisional status
        // would stick. Until then TensorBoard shows the session without an end status.
        Ok(Tracker {
            dir: dir.clone(),
            tb,
        })
    }

    pub fn step(&mut self, row: &StepRow) -> anyhow::Result<()> {
        steps::append(&self.dir.steps(), row)?;
        self.tb.scalars(
            row.step,
            &[
                ("train/loss", row.loss),
                ("train/noise_loss", row.noise_loss),
                ("train/image_loss", row.image_loss),
                ("train/lr", row.lr),
            ],
        )?;
        Ok(())
    }

    /// An epoch's row (or the untrained epoch 0: validation only).
    pub fn epoch(&mut self, row: &csv::EpochRow) -> anyhow::Result<()> {
        csv::append(&self.dir.scalars(), row)?;
        let mut values: Vec<(String, f64)> = Vec::new();
        let mut push = |tag: &str, v: Option<f64>| {
            if let Some(v) = v {
                values.push((tag.to_string(), v));
            }
        };
        push("epoch/loss", row.loss);
        push("epoch/noise_loss", row.noise_loss);
        push("epoch/image_loss", row.image_loss);
        push("epoch/images_per_s", row.images_per_s);
        push("epoch/seconds", row.seconds);
        // Each metric as `val/<name>` (`val/kid`).
        for m in crate::metrics::names::ALL {
            push(&format!("val/{}", m.name), row.metric(m.column));
        }
        let values: Vec<(&str, f64)> = values.iter().map(|(t, v)| (t.as_str(), *v)).collect();
        self.tb.scalars(row.step, &values)?;
        Ok(())
    }

    /// A sample grid: the PNG file and the TensorBoard image.
    pub fn samples(
        &mut self,
        step: i64,
        epoch: i64,
        png: Vec<u8>,
        width: u32,
        height: u32,
    ) -> anyhow::Result<()> {
        grid::write_png(&png, &self.dir.sample_grid(epoch))?;
        self.tb.image(step, "samples", png, width, height)?;
        Ok(())
    }

    pub fn end(&mut self, step: i64, status: SessionStatus) -> anyhow::Result<()> {
        self.tb.session_end(step, status)?;
        Ok(())
    }
}

/// Records a failed session in the run's TensorBoard directory (after an error or a panic
/// that ended the attempt's tracker).
pub fn mark_failed(dir: &RunDir, name: &str, step: i64) -> anyhow::Result<()> {
    if let Some(last) = tensorboard::event_files(&tb_dir(dir, name)).pop() {
        EventWriter::append_to(&last)?.session_end(step, SessionStatus::Failure)?;
    }
    Ok(())
}

/// The HParams metrics of a sweep: validation losses and KID, and the last epoch's loss.
pub const METRIC_TAGS: [&str; 4] = ["val/noise_loss", "val/image_loss", "val/kid", "epoch/loss"];

/// One HParams column: a flag, the values it takes (a discrete domain) or the interval it is
/// drawn from, and whether it differs between runs (TensorBoard shows those first).
#[derive(Debug, Clone, PartialEq)]
pub struct HParamColumn {
    pub name: String,
    pub values: Vec<serde_yaml::Value>,
    pub interval: Option<(f64, f64)>,
    pub differs: bool,
}

/// Writes an HParams experiment summary (its columns: each flag with its domain, and the
/// metrics) as the only event file directly in `sweep_dir`.
pub fn write_experiment(
    sweep_dir: &std::path::Path,
    description: &str,
    hparams: &[HParamColumn],
) -> anyhow::Result<()> {
    use tensorboard::pb;
    let old = tensorboard::event_files(sweep_dir);
    let infos = hparams
        .iter()
        .map(
            |HParamColumn {
                 name,
                 values,
                 interval,
                 differs,
             }| {
                if let Some((lo, hi)) = interval {
                    return pb::HParamInfo {
                        name: name.clone(),
                        r#type: 3,
                        domain_interval: Some(pb::Interval {
                            min_value: *lo,
                            max_value: *hi,
                        }),
                        differs: *differs,
                        ..Default::default()
                    };
                }
                let pbs: Vec<pb::PbValue> = values.iter().map(tensorboard::pb_value).collect();
                let all_numbers = pbs
                    .iter()
                    .all(|v| matches!(v.kind, Some(pb::PbKind::Number(_))));
                let all_bools = pbs
                    .iter()
                    .all(|v| matches!(v.kind, Some(pb::PbKind::Bool(_))));
                let (ty, pbs) = if all_numbers {
                    (3, pbs)
                } else if all_bools {
                    (2, pbs)
                } else {
                    let as_text = values
                        .iter()
                        .map(|v| pb::PbValue {
                            kind: Some(pb::PbKind::Str(crate::flags::plain_value(v))),
                        })
                        .collect();
                    (1, as_text)
                };
                pb::HParamInfo {
                    name: name.clone(),
                    r#type: ty,
                    domain_discrete: Some(pb::ListValue { values: pbs }),
                    differs: *differs,
                    ..Default::default()
                }
            },
        )
        .collect();
    // The built-in trainer's, then the metrics the programs of this process's sweeps report
    // (logged under their own names).
    let declared: Vec<String> = crate::metrics::declared::all()
        .iter()
        .map(|m| m.name.to_string())
        .collect();
    let metric_infos = METRIC_TAGS
        .iter()
        .map(|t| t.to_string())
        .chain(declared)
        .map(|t| pb::MetricInfo {
            name: Some(pb::MetricName {
                group: String::new(),
                tag: t.clone(),
            }),
            display_name: t,
            ..Default::default()
        })
        .collect();
    let mut w = EventWriter::create(sweep_dir)?;
    w.experiment(pb::Experiment {
        description: description.to_string(),
        time_created_secs: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0),
        hparam_infos: infos,
        metric_infos,
        ..Default::default()
    })?;
    for f in old {
        if f != w.path {
            fs_err::remove_file(f)?;
        }
    }
    Ok(())
}

/// A directory-safe readable name from `k=v` pairs: `loss=mae,loss_on=noise`, bounded as
/// one file name ([`crate::names::bounded_component`]: a long one is cut and ends with a
/// hash of the whole).
pub fn readable_name(pairs: &[(String, String)]) -> String {
    let text = pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    crate::names::bounded_component(&text)
}
