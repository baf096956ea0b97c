//! `steps.csv`: the training batch's losses and the learning rate every `log_every` steps.
//! Header `step,epoch,loss,noise_loss,image_loss,lr`.

use super::StepRow;
use fs_err::OpenOptions;
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
pub fn truncate_after(path: &Path, max_step: i64) -> Result<(), crate::error::Error> {
    super::csv::keep_rows_through(path, HEADER, 0, max_step)
}
