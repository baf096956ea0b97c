//! `steps.csv`: the training batch's losses and the learning rate every `log_every` steps.
//! Header `step,epoch,loss,noise_loss,image_loss,lr`.

use super::StepRow;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;

pub const HEADER: &str = "step,epoch,loss,noise_loss,image_loss,lr";

pub fn append(path: &Path, r: &StepRow) -> std::io::Result<()> {
    let mut f = OpenOptions::new().append(true).create(true).open(path)?;
    writeln!(
        f,
        "{},{},{},{},{},{}",
        r.step, r.epoch, r.loss, r.noise_loss, r.image_loss, r.lr
    )
}

/// Keeps the rows with `step <= max_step`; creates the file with its header when missing.
pub fn truncate_after(path: &Path, max_step: i64) -> std::io::Result<()> {
    let text = fs::read_to_string(path).unwrap_or_default();
    let mut out = format!("{HEADER}\n");
    for line in text.lines().skip(1) {
        let step = line.split(',').next().and_then(|s| s.parse::<i64>().ok());
        if matches!(step, Some(s) if s <= max_step) {
            out.push_str(line);
            out.push('\n');
        }
    }
    crate::store::write_atomic(path, out.as_bytes())
}
