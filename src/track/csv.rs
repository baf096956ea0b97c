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
//! The file is read by its header: columns by name, so that files written before a column
//! existed (or after, by a later version) still read.
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

    /// A row of a file in today's layout ([`HEADER`]).
    pub fn parse(line: &str) -> Option<EpochRow> {
        Layout::current().parse(line)
    }

    /// The field named `column` (a [`HEADER`] name), for reading by name.
    fn field(&mut self, column: &str) -> Option<&mut Option<f64>> {
        Some(match column {
            "loss" => &mut self.loss,
            "noise_loss" => &mut self.noise_loss,
            "image_loss" => &mut self.image_loss,
            "val_noise_loss" => &mut self.val_noise_loss,
            "val_image_loss" => &mut self.val_image_loss,
            "val_kid" => &mut self.val_kid,
            "seconds" => &mut self.seconds,
            "images_per_s" => &mut self.images_per_s,
            _ => return None,
        })
    }
}

/// The columns of a scalars.csv as its header names them: a file is read by name, so one
/// written before a column existed reads (the column is absent: None), and one written by a
/// later version with more columns reads too (columns this version does not know are left
/// out).
pub struct Layout {
    names: Vec<String>,
}

impl Layout {
    pub fn current() -> Layout {
        Layout::from_header(HEADER).expect("the current header")
    }

    /// The layout of `header`, or why it is not one: `epoch` and `step` must be there, and no
    /// column twice.
    pub fn from_header(header: &str) -> Result<Layout, String> {
        let names: Vec<String> = header.split(',').map(|c| c.trim().to_string()).collect();
        for needed in ["epoch", "step"] {
            if !names.iter().any(|n| n == needed) {
                return Err(format!(
                    "its header has no `{needed}` column (expected {HEADER})"
                ));
            }
        }
        let mut seen = std::collections::HashSet::new();
        if let Some(dup) = names.iter().find(|n| !seen.insert(n.as_str())) {
            return Err(format!("its header names `{dup}` twice"));
        }
        Ok(Layout { names })
    }

    /// One row, None when it does not have the header's number of fields or a value is not
    /// a number.
    pub fn parse(&self, line: &str) -> Option<EpochRow> {
        let fields: Vec<&str> = line.split(',').collect();
        if fields.len() != self.names.len() {
            return None;
        }
        let mut row = EpochRow::default();
        for (name, value) in self.names.iter().zip(fields) {
            match name.as_str() {
                "epoch" => row.epoch = value.parse().ok()?,
                "step" => row.step = value.parse().ok()?,
                other => {
                    let v = match value {
                        "" => None,
                        v => Some(v.parse::<f64>().ok()?),
                    };
                    if let Some(slot) = row.field(other) {
                        *slot = v;
                    }
                }
            }
        }
        Some(row)
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
    let header = lines
        .first()
        .map_or("", |h| h.trim_end_matches(['\n', '\r']));
    let layout = match Layout::from_header(header) {
        Ok(l) => l,
        // An empty file, or a header cut short by a kill before its newline: no rows yet.
        Err(_) if lines.len() <= 1 && !text.ends_with('\n') => return Ok(Vec::new()),
        Err(why) => return Err(crate::error::Damaged::new(path, why).into()),
    };
    let mut rows = Vec::new();
    for (i, line) in lines.iter().enumerate().skip(1) {
        let complete = line.ends_with('\n');
        match layout.parse(line.trim_end_matches(['\n', '\r'])) {
            Some(row) => rows.push(row),
            None if !complete && i + 1 == lines.len() => {}
            None => {
                return Err(crate::error::Damaged::new(
                    path,
                    format!("line {} is not a row of its header ({header})", i + 1),
                )
                .into())
            }
        }
    }
    Ok(rows)
}

/// Keeps the rows with `step <= max_step` (rewritten atomically); creates the file with its
/// header when missing.
/// A file written by another version (other columns) is rewritten in today's layout, its
/// rows read by name.
pub fn truncate_after(path: &Path, max_step: i64) -> Result<(), crate::error::Error> {
    let text = fs::read_to_string(path).unwrap_or_default();
    let header = text.lines().next().unwrap_or("");
    if header == HEADER || text.is_empty() {
        return keep_rows_through(path, HEADER, 1, max_step);
    }
    let layout = Layout::from_header(header)
        .map_err(|why| crate::error::Error::from(crate::error::Damaged::new(path, why)))?;
    let mut out = format!("{HEADER}\n");
    for row in text.lines().skip(1).filter_map(|l| layout.parse(l)) {
        if row.step <= max_step {
            out.push_str(&row.to_line());
            out.push('\n');
        }
    }
    crate::files::write_atomic(path, out.as_bytes())
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

    /// Read by the header: a file without a later column (here `val_kid`), with its columns
    /// in another order, or with a column this version does not know, reads by name.
    #[test]
    fn files_are_read_by_their_header() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("scalars.csv");
        fs::write(
            &p,
            "step,epoch,loss,val_noise_loss,val_fid,seconds\n0,0,,0.8,,\n10,1,0.5,0.4,31.5,1.5\n",
        )
        .unwrap();
        let rows = read(&p).unwrap();
        assert_eq!(
            rows[1],
            EpochRow {
                epoch: 1,
                step: 10,
                loss: Some(0.5),
                val_noise_loss: Some(0.4),
                seconds: Some(1.5),
                ..Default::default()
            }
        );
        assert_eq!(rows[0].val_kid, None);
        // Resumed by this version: rewritten in today's layout, the rows kept by name.
        truncate_after(&p, 5).unwrap();
        let text = fs::read_to_string(&p).unwrap();
        assert_eq!(text, format!("{HEADER}\n0,0,,,,0.8,,,,\n"));

        fs::write(&p, "epoch,loss\n1,0.5\n").unwrap();
        let e = read(&p).unwrap_err().to_string();
        assert!(e.contains("no `step` column"), "{e}");
        fs::write(&p, "epoch,step,loss,loss\n1,2,0.5,0.5\n").unwrap();
        assert!(read(&p).unwrap_err().to_string().contains("`loss` twice"));
        fs::write(&p, format!("{HEADER}\n1,2,3\n4,5\n")).unwrap();
        let e = read(&p).unwrap_err().to_string();
        assert!(e.contains("line 2 is not a row"), "{e}");
    }
}
