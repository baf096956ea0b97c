//! Improved precision and recall (Kynkäänniemi et al., 2019, "Improved Precision and Recall
//! Metric for Assessing Generative Models"), on Inception features as torch-fidelity and the
//! authors' code compute them:
//!
//! - each feature set spans a manifold: the union of balls around each of its points, of
//!   radius the distance to the point's k-th nearest neighbour in its own set (itself left
//!   out), k = 3;
//! - **precision**: the fraction of generated points inside the real manifold (fidelity);
//! - **recall**: the fraction of real points inside the generated manifold (diversity).
//!
//! A point is inside when its distance to some ball's centre is at most that ball's radius
//! (`<=`, as the authors' code). Both are in [0, 1]; higher is better.

use super::metric::{Direction, Metric, Source};
use tch::{Kind, Tensor};

/// Precision as a run's metric (fidelity). Named `improved_precision` (the paper's name): the
/// `precision` flag (fp32, bf16) has the plain name, and both appear in one table.
pub static PRECISION: Metric = Metric {
    name: "improved_precision",
    column: "val_improved_precision",
    description: "improved precision (k = 3): the share of generated samples inside the validation images' manifold (fidelity)",
    direction: Direction::Higher,
    source: Source::Samples(measure),
};

/// Recall as a run's metric (diversity).
pub static RECALL: Metric = Metric {
    name: "improved_recall",
    column: "val_improved_recall",
    description: "improved recall (k = 3): the share of validation images inside the generated samples' manifold (diversity)",
    direction: Direction::Higher,
    source: Source::Samples(|real, generated| measure(generated, real)),
};

/// The share of `points` inside the manifold of `manifold` (precision; recall is the same
/// with the sets' roles swapped), when each set has more than [`K`] rows.
fn measure(manifold: &Tensor, points: &Tensor) -> Option<f64> {
    (manifold.size()[0] > K && points.size()[0] > K).then(|| share_inside(manifold, points, K))
}

/// The share of the rows of `points` inside the manifold of `manifold` (k-NN radii), in f64.
fn share_inside(manifold: &Tensor, points: &Tensor, k: i64) -> f64 {
    let manifold = manifold.to_kind(Kind::Double);
    inside(
        &manifold,
        &radii(&manifold, k),
        &points.to_kind(Kind::Double),
    )
}

/// The neighbourhood size of the paper and of torch-fidelity.
pub const K: i64 = 3;

/// Rows compared at once (a block of distances is ROWS x the other set's size).
const ROWS: i64 = 1024;

/// Each row's distance to its `k`-th nearest other row of `x` (n > k rows), in f64.
fn radii(x: &Tensor, k: i64) -> Tensor {
    let n = x.size()[0];
    let mut out = Vec::new();
    let mut lo = 0;
    while lo < n {
        let m = ROWS.min(n - lo);
        let d = Tensor::cdist(&x.narrow(0, lo, m), x, 2.0, None::<i64>);
        // The (k+1)-th smallest: the row's own distance 0 is the first.
        out.push(d.kthvalue(k + 1, 1, false).0);
        lo += m;
    }
    Tensor::cat(&out, 0)
}

/// The fraction of the rows of `points` within the manifold of `centres` (with their
/// `radii`).
fn inside(centres: &Tensor, radii: &Tensor, points: &Tensor) -> f64 {
    let n = points.size()[0];
    let mut count = 0i64;
    let mut lo = 0;
    while lo < n {
        let m = ROWS.min(n - lo);
        let d = Tensor::cdist(&points.narrow(0, lo, m), centres, 2.0, None::<i64>);
        count += d
            .le_tensor(&radii.unsqueeze(0))
            .any_dim(1, false)
            .sum(Kind::Int64)
            .int64_value(&[]);
        lo += m;
    }
    count as f64 / n as f64
}

/// (precision, recall) of `generated` against `real` (rows are features), each set of more
/// than `k` rows.
pub fn precision_recall(real: &Tensor, generated: &Tensor, k: i64) -> (f64, f64) {
    assert!(
        real.size()[0] > k && generated.size()[0] > k,
        "precision and recall need more than k = {k} images in each set"
    );
    (
        share_inside(real, generated, k),
        share_inside(generated, real, k),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// tests/python/prc_ref.py on tests/fixtures/prc_{real,fake}.csv (60 and 40 rows of 5
    /// features), k = 3 and k = 1.
    const PRECISION: f64 = 0.65;
    const RECALL: f64 = 13.0 / 60.0;
    const PRECISION_K1: f64 = 0.45;
    const RECALL_K1: f64 = 0.15;

    fn fixture(text: &str) -> Tensor {
        let rows: Vec<Vec<f64>> = text
            .lines()
            .map(|l| l.split(',').map(|v| v.parse().unwrap()).collect())
            .collect();
        let d = rows[0].len() as i64;
        let flat: Vec<f64> = rows.concat();
        Tensor::from_slice(&flat).reshape([-1, d])
    }

    /// Against NumPy/SciPy on the same fixed features (tests/python/prc_ref.py computed the
    /// expected values with scipy.spatial.distance.cdist and numpy.partition, independently
    /// of this code).
    #[test]
    fn equals_an_independent_computation() {
        let real = fixture(include_str!("../../tests/fixtures/prc_real.csv"));
        let fake = fixture(include_str!("../../tests/fixtures/prc_fake.csv"));
        let (p, r) = precision_recall(&real, &fake, K);
        assert!((p - PRECISION).abs() < 1e-12, "precision {p}");
        assert!((r - RECALL).abs() < 1e-12, "recall {r}");
        let (p1, r1) = precision_recall(&real, &fake, 1);
        assert!((p1 - PRECISION_K1).abs() < 1e-12, "precision k=1 {p1}");
        assert!((r1 - RECALL_K1).abs() < 1e-12, "recall k=1 {r1}");
    }

    /// A set against itself is wholly inside its own manifold.
    #[test]
    fn a_set_against_itself_is_one_and_one() {
        tch::manual_seed(0);
        let x = Tensor::randn([50, 4], (Kind::Double, tch::Device::Cpu));
        assert_eq!(precision_recall(&x, &x, K), (1.0, 1.0));
        // Far away: nothing inside either manifold.
        assert_eq!(precision_recall(&x, &(&x + 100.0), K), (0.0, 0.0));
    }
}
