//! `scalars.csv`: one row per epoch.
//!
//! Header: `epoch,step,loss,noise_loss,image_loss,` then one `val_<metric>` column per metric
//! ([`crate::metrics::names::ALL`]: `val_noise_loss,val_image_loss,val_kid,val_fid,
//! val_precision,val_recall`), then `seconds,images_per_s`.
//! - `epoch` 0 is the untrained model (validation columns only); `step` is the optimizer step
//!   count at the end of the epoch;
//! - `loss` is the mean training loss (the `loss` flag's), `noise_loss` and `image_loss` the
//!   mean training MAE of the predicted noises and images (images in normalised units);
//! - `val_noise_loss`, `val_image_loss` the same MAE on the validation split (eval mode, fixed
//!   noise), empty when not computed that epoch; the sample metrics (`val_kid` …) of
//!   generated samples against the validation images, when computed;
//! - `seconds` the epoch's wall time, `images_per_s` training images per second.
//!
//! The file is read by its header: columns by name, so that files written before a column
//! existed (or after, by a later version) still read.
//!
//! Rows are appended and flushed as epochs end. When a run continues from a checkpoint at step
//! S, rows with a larger step are dropped first, so every epoch appears exactly once.

use fs_err::{self as fs, OpenOptions};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

/// The training columns before the metrics' and the timing columns after them.
const LEADING: [&str; 5] = ["epoch", "step", "loss", "noise_loss", "image_loss"];
const TRAILING: [&str; 2] = ["seconds", "images_per_s"];

/// Today's header row.
pub fn header() -> &'static str {
    static HEADER: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        LEADING
            .iter()
            .copied()
            .chain(crate::metrics::names::Metric::columns())
            .chain(TRAILING)
            .collect::<Vec<_>>()
            .join(",")
    });
    &HEADER
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct EpochRow {
    pub epoch: i64,
    pub step: i64,
    pub loss: Option<f64>,
    pub noise_loss: Option<f64>,
    pub image_loss: Option<f64>,
    /// The validation metrics measured this epoch, by column (`val_kid`).
    pub val: BTreeMap<String, f64>,
    pub seconds: Option<f64>,
    pub images_per_s: Option<f64>,
}

fn cell(v: Option<f64>) -> String {
    v.map(|x| format!("{x}")).unwrap_or_default()
}

impl EpochRow {
    pub fn to_line(&self) -> String {
        let mut cells = vec![
            self.epoch.to_string(),
            self.step.to_string(),
            cell(self.loss),
            cell(self.noise_loss),
            cell(self.image_loss),
        ];
        cells.extend(
            crate::metrics::names::Metric::columns()
                .into_iter()
                .map(|c| cell(self.val.get(c).copied())),
        );
        cells.push(cell(self.seconds));
        cells.push(cell(self.images_per_s));
        cells.join(",")
    }

    /// A row of a file in today's layout ([`header`]).
    pub fn parse(line: &str) -> Option<EpochRow> {
        Layout::current().parse(line)
    }

    /// A validation metric by its column name (`val_noise_loss`, `val_kid`).
    pub fn metric(&self, column: &str) -> Option<f64> {
        self.val.get(column).copied()
    }

    /// Sets the value of the column named `column`: a training or timing field, or a metric's
    /// column; false for a column this version does not know.
    fn set(&mut self, column: &str, value: Option<f64>) -> bool {
        // A program's metric may be named like a training column (`loss`): it is the
        // program's value (the built-in field keeps it too).
        if let Some(m) =
            crate::metrics::names::Metric::by_column(column).filter(|m| m.from_program())
        {
            if let Some(v) = value {
                self.val.insert(m.column.to_string(), v);
            }
        }
        let slot = match column {
            "loss" => &mut self.loss,
            "noise_loss" => &mut self.noise_loss,
            "image_loss" => &mut self.image_loss,
            "seconds" => &mut self.seconds,
            "images_per_s" => &mut self.images_per_s,
            c => {
                let Some(m) = crate::metrics::names::Metric::by_column(c) else {
                    return false;
                };
                if let Some(v) = value {
                    self.val.insert(m.column.to_string(), v);
                }
                return true;
            }
        };
        *slot = value;
        true
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
        Layout::from_header(header()).expect("the current header")
    }

    /// The layout of `header`, or why it is not one: `epoch` and `step` must be there, and no
    /// column twice.
    pub fn from_header(line: &str) -> Result<Layout, String> {
        let names: Vec<String> = line.split(',').map(|c| c.trim().to_string()).collect();
        for needed in ["epoch", "step"] {
            if !names.iter().any(|n| n == needed) {
                return Err(format!(
                    "its header has no `{needed}` column (expected {})",
                    header()
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
                    row.set(other, v);
                }
            }
        }
        Some(row)
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
    if header == self::header() || text.is_empty() {
        return keep_rows_through(path, self::header(), 1, max_step);
    }
    let layout = Layout::from_header(header)
        .map_err(|why| crate::error::Error::from(crate::error::Damaged::new(path, why)))?;
    let mut out = format!("{}\n", self::header());
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
            val: BTreeMap::from([("val_noise_loss".to_string(), 0.8)]),
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
        assert!(fs::read_to_string(&p).unwrap().starts_with(header()));
    }

    /// Read by the header: a file without later columns (here `val_kid` and the others), with
    /// its columns in another order, or with a column this version does not know
    /// (`val_future`), reads by name.
    #[test]
    fn files_are_read_by_their_header() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("scalars.csv");
        fs::write(
            &p,
            "step,epoch,loss,val_noise_loss,val_future,seconds\n0,0,,0.8,,\n10,1,0.5,0.4,31.5,1.5\n",
        )
        .unwrap();
        let rows = read(&p).unwrap();
        assert_eq!(
            rows[1],
            EpochRow {
                epoch: 1,
                step: 10,
                loss: Some(0.5),
                val: BTreeMap::from([("val_noise_loss".to_string(), 0.4)]),
                seconds: Some(1.5),
                ..Default::default()
            }
        );
        assert_eq!(rows[0].metric("val_kid"), None);
        // Resumed by this version: rewritten in today's layout, the rows kept by name.
        truncate_after(&p, 5).unwrap();
        let text = fs::read_to_string(&p).unwrap();
        let empty = ",".repeat(header().split(',').count() - 6);
        assert_eq!(text, format!("{}\n0,0,,,,0.8{empty}\n", header()));

        fs::write(&p, "epoch,loss\n1,0.5\n").unwrap();
        let e = read(&p).unwrap_err().to_string();
        assert!(e.contains("no `step` column"), "{e}");
        fs::write(&p, "epoch,step,loss,loss\n1,2,0.5,0.5\n").unwrap();
        assert!(read(&p).unwrap_err().to_string().contains("`loss` twice"));
        fs::write(&p, format!("{}\n1,2,3\n4,5\n", header())).unwrap();
        let e = read(&p).unwrap_err().to_string();
        assert!(e.contains("line 2 is not a row"), "{e}");
    }
}
