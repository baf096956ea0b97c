//! ASHA's successive halving: at rungs `first * eta^i` epochs, keep the top 1/eta of the runs
//! that reached the rung (this one included); stop the others.

use super::Rule;

#[derive(Debug)]
pub struct Asha {
    pub eta: u32,
}

/// Some(threshold) when `value` is not among the top 1/eta of `others` and itself (lower is
/// better), the threshold the worst value kept.
pub fn top_fraction(value: f64, others: &[f64], eta: u32) -> Option<f64> {
    let mut all = others.to_vec();
    all.push(value);
    all.sort_by(f64::total_cmp);
    let keep = all.len().div_ceil(eta.max(2) as usize).max(1);
    let threshold = all[keep - 1];
    (value > threshold).then_some(threshold)
}

impl Rule for Asha {
    fn name(&self) -> String {
        format!("asha (eta {})", self.eta)
    }

    fn decides_at(&self, epoch: i64, first: i64, _max: i64, _bracket: u32) -> bool {
        let mut rung = first.max(1);
        while rung < epoch {
            rung *= self.eta.max(2) as i64;
        }
        rung == epoch
    }

    fn rung_eta(&self) -> Option<u32> {
        Some(self.eta)
    }

    fn threshold(&self, value: f64, others: &[f64]) -> Option<f64> {
        top_fraction(value, others, self.eta)
    }
}
