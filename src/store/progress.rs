//! `progress.json`: where a running attempt stands, written by the run itself (atomically
//! but unsynced, at most about once a second) so that an orchestrator — on this machine or watching a
//! cluster's shared filesystem — shows progress without parsing the run's output.

use super::RunDir;
use crate::files::replace_file;
use serde::{Deserialize, Serialize};

/// A run's progress at one moment.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunProgress {
    /// `starting`, `training`, `evaluating`, `stopping`, or the run's final status.
    pub phase: String,
    pub epoch: i64,
    pub epochs: i64,
    pub step: i64,
    pub total_steps: i64,
    /// The last logged training loss.
    pub loss: Option<f64>,
    /// Training images per second over the recent steps.
    pub images_per_s: Option<f64>,
    pub pid: u32,
    pub host: String,
    /// When this was written (RFC 3339, UTC).
    pub updated: String,
}

impl RunProgress {
    /// One line for a progress display: `epoch 2/5 step 30/50 loss 0.2100 180.2 images/s`.
    pub fn line(&self) -> String {
        let mut s = format!("{} epoch {}/{}", self.phase, self.epoch, self.epochs);
        s.push_str(&format!(" step {}/{}", self.step, self.total_steps));
        if let Some(l) = self.loss {
            s.push_str(&format!(" loss {l:.4}"));
        }
        if let Some(r) = self.images_per_s {
            s.push_str(&format!(" {r:.1} images/s"));
        }
        s
    }
}

impl RunDir {
    pub fn write_progress(&self, p: &RunProgress) -> Result<(), crate::error::Error> {
        let text = serde_json::to_string(p).expect("serialisable");
        replace_file(&self.progress(), format!("{text}\n").as_bytes())
    }

    /// The progress file, if there is a readable one.
    pub fn read_progress(&self) -> Option<RunProgress> {
        let text = fs_err::read_to_string(self.progress()).ok()?;
        serde_json::from_str(&text).ok()
    }
}
