//! The median rule: stop a run whose metric is worse than the median of the other runs at the
//! same epoch (every epoch after the grace period).

use super::Rule;

#[derive(Debug)]
pub struct Median;

impl Rule for Median {
    fn name(&self) -> String {
        "median".into()
    }

    fn decides_at(&self, _epoch: i64, _first: i64, _max: i64, _bracket: u32) -> bool {
        true
    }

    fn threshold(&self, value: f64, others: &[f64]) -> Option<f64> {
        let mut all = others.to_vec();
        all.sort_by(f64::total_cmp);
        let n = all.len();
        let median = if n % 2 == 1 {
            all[n / 2]
        } else {
            (all[n / 2 - 1] + all[n / 2]) / 2.0
        };
        (value > median).then_some(median)
    }
}
