//! Kernel Inception Distance: the unbiased MMD^2 with the polynomial kernel
//! `k(x, y) = (x.y / d + 1)^3` between feature sets.

use super::metric::{Direction, Metric, Source};
use tch::{Kind, Tensor};

/// The KID batch size of the original project (real and generated features paired in order).
pub const BATCH: i64 = 128;

/// KID as a run's metric: [`kid`] in batches of [`BATCH`].
pub static METRIC: Metric = Metric {
    name: "kid",
    column: "val_kid",
    description: "Kernel Inception Distance of generated samples against the validation images (unbiased MMD² of a cubic polynomial kernel, batches of 128)",
    direction: Direction::Lower,
    source: Source::Samples(measure),
};

fn measure(real: &Tensor, generated: &Tensor) -> Option<f64> {
    (real.size()[0].min(generated.size()[0]) >= 2).then(|| kid(real, generated, BATCH))
}

/// Polynomial kernel matrix between the rows of `x` (n, d) and `y` (m, d), in f64.
fn kernel(x: &Tensor, y: &Tensor) -> Tensor {
    let d = x.size()[1] as f64;
    (x.matmul(&y.transpose(0, 1)) / d + 1.0).pow_tensor_scalar(3)
}

/// Unbiased MMD^2 between `x` (n, d) and `y` (m, d), n, m >= 2:
/// `sum(Kxx off-diagonal)/(n(n-1)) + sum(Kyy off-diagonal)/(m(m-1)) - 2 mean(Kxy)`.
pub fn mmd2(x: &Tensor, y: &Tensor) -> f64 {
    let x = x.to_kind(Kind::Double);
    let y = y.to_kind(Kind::Double);
    let (n, m) = (x.size()[0] as f64, y.size()[0] as f64);
    assert!(n >= 2.0 && m >= 2.0, "MMD needs at least 2 samples per set");
    let kxx = kernel(&x, &x);
    let kyy = kernel(&y, &y);
    let kxy = kernel(&x, &y);
    let sxx = (kxx.sum(Kind::Double) - kxx.trace()).double_value(&[]) / (n * (n - 1.0));
    let syy = (kyy.sum(Kind::Double) - kyy.trace()).double_value(&[]) / (m * (m - 1.0));
    let sxy = kxy.mean(Kind::Double).double_value(&[]);
    sxx + syy - 2.0 * sxy
}

/// The R original's KID: batches of `batch` real and `batch` generated features (paired in order,
/// over the smaller set), the unbiased MMD^2 of each, averaged. A last batch of fewer than
/// 2 samples is left out.
pub fn kid(real: &Tensor, generated: &Tensor, batch: i64) -> f64 {
    let n = real.size()[0].min(generated.size()[0]);
    assert!(n >= 2, "KID needs at least 2 images in each set");
    let mut values = Vec::new();
    let mut lo = 0;
    while lo < n {
        let m = batch.min(n - lo);
        if m >= 2 {
            values.push(mmd2(&real.narrow(0, lo, m), &generated.narrow(0, lo, m)));
        }
        lo += m;
    }
    values.iter().sum::<f64>() / values.len() as f64
}

/// torch-fidelity's subset estimator: `subsets` random subsets of `subset_size` rows of each
/// set (without replacement within a subset, seeded), MMD^2 of each; returns (mean, std).
pub fn kid_subsets(
    real: &Tensor,
    generated: &Tensor,
    subsets: i64,
    subset_size: i64,
    seed: u64,
) -> (f64, f64) {
    use rand::seq::index::sample;
    use rand::SeedableRng;
    let (nr, ng) = (real.size()[0] as usize, generated.size()[0] as usize);
    let size = (subset_size as usize).min(nr).min(ng);
    assert!(size >= 2, "subsets need at least 2 images");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut values = Vec::with_capacity(subsets as usize);
    for _ in 0..subsets.max(1) {
        let ir: Vec<i64> = sample(&mut rng, nr, size)
            .into_iter()
            .map(|i| i as i64)
            .collect();
        let ig: Vec<i64> = sample(&mut rng, ng, size)
            .into_iter()
            .map(|i| i as i64)
            .collect();
        let xr = real.index_select(0, &Tensor::from_slice(&ir).to_device(real.device()));
        let xg = generated.index_select(0, &Tensor::from_slice(&ig).to_device(generated.device()));
        values.push(mmd2(&xr, &xg));
    }
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / values.len() as f64;
    (mean, var.sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    fn t(rows: &[[f64; 2]]) -> Tensor {
        let flat: Vec<f64> = rows.iter().flatten().copied().collect();
        Tensor::from_slice(&flat).reshape([rows.len() as i64, 2])
    }

    #[test]
    fn hand_computed_case() {
        // d = 2: k(x, y) = (x.y/2 + 1)^3
        let x = t(&[[1.0, 0.0], [0.0, 1.0]]);
        let y = t(&[[1.0, 1.0], [0.0, 0.0]]);
        // Kxx off-diagonal: x1.x2 = 0 -> 1, twice: 2 / (2*1) = 1
        // Kyy off-diagonal: y1.y2 = 0 -> 1: 1
        // Kxy: x1.y1 = 1 -> 1.5^3 = 3.375; x1.y2 = 0 -> 1; x2.y1 = 1 -> 3.375; x2.y2 -> 1
        // mean = 8.75 / 4 = 2.1875; MMD^2 = 1 + 1 - 4.375 = -2.375
        assert!((mmd2(&x, &y) - (-2.375)).abs() < 1e-12);
    }

    #[test]
    fn a_set_against_itself_and_shifts() {
        tch::manual_seed(0);
        let a = Tensor::randn([256, 16], (Kind::Double, Device::Cpu));
        let b = Tensor::randn([256, 16], (Kind::Double, Device::Cpu));
        let same = kid(&a, &b, 128);
        assert!(
            same.abs() < 0.02,
            "two draws of one distribution: KID near 0, got {same}"
        );
        let mut last = same;
        for shift in [0.5, 1.0, 2.0] {
            let k = kid(&a, &(&b + shift), 128);
            assert!(k > 0.0 && k > last, "shift {shift}: {k} after {last}");
            last = k;
        }
        let (m, s) = kid_subsets(&a, &(&b + 1.0), 10, 100, 1);
        assert!(m > 0.0 && s >= 0.0);
        assert_eq!(
            kid_subsets(&a, &b, 5, 50, 3),
            kid_subsets(&a, &b, 5, 50, 3),
            "seeded"
        );
    }

    #[test]
    fn batches_pair_in_order() {
        tch::manual_seed(1);
        let a = Tensor::randn([10, 4], (Kind::Double, Device::Cpu));
        let b = Tensor::randn([7, 4], (Kind::Double, Device::Cpu)) + 0.3;
        let want = (mmd2(&a.narrow(0, 0, 4), &b.narrow(0, 0, 4))
            + mmd2(&a.narrow(0, 4, 3), &b.narrow(0, 4, 3)))
            / 2.0;
        assert!((kid(&a, &b, 4) - want).abs() < 1e-12);
    }
}
