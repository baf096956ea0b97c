//! `scalars.csv`: one row per epoch.
//!
//! Header: `epoch,step,loss,noise_loss,image_loss,val_noise_loss,val_image_loss,val_kid,seconds,images_per_s`
//! - `epoch` 0 is the untrained model (validation columns only); `step` is the optimizer step
//!   count at the end of the epoch;
//! - `loss` is the mean training loss (the `loss` flag's), `noise_loss` and `image_loss` the
//!   mean training MAE of the predicted noises and images (images in normalised units);
//! - `val_*` the same MAE on the validation split (eval mode, fixed noise), empty when not
//!   computed that epoch; `val_kid` the KID of generated samples against the validation
//!   images, when computed;
//! - `seconds` the epoch's wall time, `images_per_s` training images per second.
//!
//! Rows are appended and flushed as epochs end. When a run continues from a checkpoint at step
//! S, rows with a larger step are dropped first, so every epoch appears exactly once.

use fs_err::{self as fs, OpenOptions};
use std::io::Write;
use std::path::Path;

pub const HEADER: &str =
    "epoch,step,loss,noise_loss,image_loss,val_noise_loss,val_image_loss,val_kid,seconds,images_per_s";

#[derive(Debug, Clone, Default, PartialEq)]
pub struct EpochRow {
    pub epoch: i64,
    pub step: i64,
    pub loss: Option<f64>,
    pub noise_loss: Option<f64>,
    pub image_loss: Option<f64>,
    pub val_noise_loss: Option<f64>,
    pub val_image_loss: Option<f64>,
    pub val_kid: Option<f64>,
    pub seconds: Option<f64>,
    pub images_per_s: Option<f64>,
}

fn cell(v: Option<f64>) -> String {
    v.map(|x| format!("{x}")).unwrap_or_default()
}

impl EpochRow {
    pub fn to_line(&self) -> String {
        format!(
            "{},{},{},{},{},{},{},{},{},{}",
            self.epoch,
            self.step,
            cell(self.loss),
            cell(self.noise_loss),
            cell(self.image_loss),
            cell(self.val_noise_loss),
            cell(self.val_image_loss),
            cell(self.val_kid),
            cell(self.seconds),
            cell(self.images_per_s)
        )
    }

    pub fn parse(line: &str) -> Option<EpochRow> {
        let f: Vec<&str> = line.split(',').collect();
        if f.len() != 10 {
            return None;
        }
        let num = |s: &str| -> Option<Option<f64>> {
            if s.is_empty() {
                Some(None)
            } else {
                s.parse().ok().map(Some)
            }
        };
        Some(EpochRow {
            epoch: f[0].parse().ok()?,
            step: f[1].parse().ok()?,
            loss: num(f[2])?,
            noise_loss: num(f[3])?,
            image_loss: num(f[4])?,
            val_noise_loss: num(f[5])?,
            val_image_loss: num(f[6])?,
            val_kid: num(f[7])?,
            seconds: num(f[8])?,
            images_per_s: num(f[9])?,
        })
    }
}

/// Reads every row of a scalars.csv.
impl EpochRow {
    /// A validation metric by its column name (`val_noise_loss`, `val_image_loss`, `val_kid`).
    pub fn metric(&self, name: &str) -> Option<f64> {
        use crate::metrics::names::Metric;
        match Metric::column_named(name)? {
            Metric::NoiseLoss => self.val_noise_loss,
            Metric::ImageLoss => self.val_image_loss,
            Metric::Kid => self.val_kid,
        }
    }
}

/// Reads every row of a scalars.csv. A row that does not parse makes the file
/// [`Damaged`](crate::error::Damaged) (named with the line), except a last line without its
/// newline: an append cut short by a kill, which the run's resume drops.
pub fn read(path: &Path) -> anyhow::Result<Vec<EpochRow>> {
    let text = fs::read_to_string(path)?;
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut rows = Vec::new();
    for (i, line) in lines.iter().enumerate().skip(1) {
        let complete = line.ends_with('\n');
        match EpochRow::parse(line.trim_end_matches(['\n', '\r'])) {
            Some(row) => rows.push(row),
            None if !complete && i + 1 == lines.len() => {}
            None => {
                return Err(crate::error::Damaged::new(
                    path,
                    format!("line {} is not a row of {HEADER}", i + 1),
                )
                .into())
            }
        }
    }
    Ok(rows)
}

/// Keeps the rows with `step <= max_step` (rewritten atomically); creates the file with its
/// header when missing.
pub fn truncate_after(path: &Path, max_step: i64) -> Result<(), crate::error::Error> {
    keep_rows_through(path, HEADER, 1, max_step)
}

/// Rewrites a CSV log (atomically) with `header` and the rows whose column `step_column` is at
/// most `max_step`; creates it with its header when missing. Shared by scalars.csv and
/// steps.csv.
pub fn keep_rows_through(
    path: &Path,
    header: &str,
    step_column: usize,
    max_step: i64,
) -> Result<(), crate::error::Error> {
    let text = fs::read_to_string(path).unwrap_or_default();
    let mut out = format!("{header}\n");
    for line in text.lines().skip(1) {
        let step = line
            .split(',')
            .nth(step_column)
            .and_then(|s| s.parse::<i64>().ok());
        if matches!(step, Some(s) if s <= max_step) {
            out.push_str(line);
            out.push('\n');
        }
    }
    crate::files::write_atomic(path, out.as_bytes())
}

/// Appends one row and flushes it to disk.
pub fn append(path: &Path, row: &EpochRow) -> std::io::Result<()> {
    let mut f = OpenOptions::new().append(true).create(true).open(path)?;
    writeln!(f, "{}", row.to_line())?;
    f.sync_data()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_truncate() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("scalars.csv");
        truncate_after(&p, 0).unwrap();
        let r0 = EpochRow {
            epoch: 0,
            step: 0,
            val_noise_loss: Some(0.8),
            ..Default::default()
        };
        let r1 = EpochRow {
            epoch: 1,
            step: 10,
            loss: Some(0.1234567890123),
            noise_loss: Some(0.5),
            image_loss: Some(1.0 / 3.0),
            seconds: Some(1.5),
            images_per_s: Some(100.0),
            ..Default::default()
        };
        let r2 = EpochRow {
            epoch: 2,
            step: 20,
            ..r1.clone()
        };
        for r in [&r0, &r1, &r2] {
            append(&p, r).unwrap();
        }
        assert_eq!(read(&p).unwrap(), vec![r0.clone(), r1.clone(), r2]);
        truncate_after(&p, 15).unwrap();
        assert_eq!(read(&p).unwrap(), vec![r0, r1]);
        assert!(fs::read_to_string(&p).unwrap().starts_with(HEADER));
    }
}
