//! What a metric is ([`Metric`]): its names, description, direction and how it is measured.
//! Each metric's own file defines one; `names.rs` lists them all.

use tch::Tensor;

/// Which values are better.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Lower,
    Higher,
}

/// How a metric is measured.
#[derive(Debug, Clone, Copy)]
pub enum Source {
    /// The validation losses (noise, image): index 0 or 1 of the validation pass.
    Validation(usize),
    /// From the Inception features of the validation images (`real`) and of `kid_images`
    /// generated ones; None when these sets are too small for it.
    Samples(fn(real: &Tensor, generated: &Tensor) -> Option<f64>),
    /// Reported by the user's program (a `command:` sweep's `metrics:`; see
    /// [`super::declared`]): its name is also its per-step column.
    Program,
}

/// One metric's definition.
#[derive(Debug)]
pub struct Metric {
    /// Its name at the end of a run (`run.json`, report columns): `noise_loss`.
    pub name: &'static str,
    /// Its per-epoch column in `scalars.csv`: `val_noise_loss`.
    pub column: &'static str,
    /// One sentence for the report.
    pub description: &'static str,
    pub direction: Direction,
    pub source: Source,
}

impl Metric {
    /// Measured on generated samples (needs `kid_images` > 0).
    pub fn from_samples(&self) -> bool {
        matches!(self.source, Source::Samples(_))
    }

    /// `value` as a loss (lower is better): the value itself, or its negation for a metric
    /// where higher is better. What ranks, stops and races compare.
    pub fn as_loss(&self, value: f64) -> f64 {
        match self.direction {
            Direction::Lower => value,
            Direction::Higher => -value,
        }
    }

    /// "lower is better" or "higher is better".
    pub fn direction_text(&self) -> &'static str {
        match self.direction {
            Direction::Lower => "lower is better",
            Direction::Higher => "higher is better",
        }
    }

    /// The best of `values` (None when there is none).
    pub fn best(&self, values: impl IntoIterator<Item = f64>) -> Option<f64> {
        values
            .into_iter()
            .min_by(|a, b| self.as_loss(*a).total_cmp(&self.as_loss(*b)))
    }
}
