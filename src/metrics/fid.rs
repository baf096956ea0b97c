//! Fréchet Inception Distance: `|mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2))`, with the
//! trace of the square root taken as `Tr((S1^(1/2) S2 S1^(1/2))^(1/2))`, a symmetric
//! positive semi-definite matrix whose eigenvalues are clipped at 0 (numerically stable).

use super::metric::{Direction, Metric, Source};
use tch::{Kind, Tensor};

/// FID as a run's metric. It is biased at small sample counts (its expectation falls as the
/// counts grow): compare FIDs only at the same `kid_images`.
pub static METRIC: Metric = Metric {
    name: "fid",
    column: "val_fid",
    description: "Fréchet Inception Distance of generated samples against the validation images (biased at small sample counts: compare it only at the same kid_images)",
    direction: Direction::Lower,
    source: Source::Samples(measure),
};

fn measure(real: &Tensor, generated: &Tensor) -> Option<f64> {
    (real.size()[0] >= 2 && generated.size()[0] >= 2).then(|| fid(real, generated))
}

/// Mean (d) and unbiased covariance (d, d) of the rows of `x`, in f64.
pub fn statistics(x: &Tensor) -> (Tensor, Tensor) {
    let x = x.to_kind(Kind::Double);
    let n = x.size()[0] as f64;
    let mu = x.mean_dim([0i64].as_slice(), false, Kind::Double);
    let c = &x - &mu;
    let cov = c.transpose(0, 1).matmul(&c) / (n - 1.0);
    (mu, cov)
}

/// Square root of a symmetric positive semi-definite matrix.
fn sqrt_psd(m: &Tensor) -> Tensor {
    let sym = (m + m.transpose(0, 1)) / 2.0;
    let (vals, vecs) = sym.linalg_eigh("L");
    let root = vals.clamp_min(0.0).sqrt();
    (&vecs * root.unsqueeze(0)).matmul(&vecs.transpose(0, 1))
}

/// FID between two feature sets (rows), each of at least 2 samples.
pub fn fid(a: &Tensor, b: &Tensor) -> f64 {
    let (m1, s1) = statistics(a);
    let (m2, s2) = statistics(b);
    let diff = (&m1 - &m2).square().sum(Kind::Double).double_value(&[]);
    let r1 = sqrt_psd(&s1);
    let inner = r1.matmul(&s2).matmul(&r1);
    let sym = (&inner + inner.transpose(0, 1)) / 2.0;
    let tr_sqrt = sym
        .linalg_eigvalsh("L")
        .clamp_min(0.0)
        .sqrt()
        .sum(Kind::Double)
        .double_value(&[]);
    let tr = s1.trace().double_value(&[]) + s2.trace().double_value(&[]);
    (diff + tr - 2.0 * tr_sqrt).max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    #[test]
    fn itself_is_zero_and_shift_grows() {
        tch::manual_seed(0);
        let a = Tensor::randn([500, 8], (Kind::Double, Device::Cpu));
        assert!(fid(&a, &a) < 1e-8, "{}", fid(&a, &a));
        // A pure shift by s in every one of d dims adds d s^2 exactly (same covariance).
        for s in [0.5, 1.0, 2.0] {
            let f = fid(&a, &(&a + s));
            assert!((f - 8.0 * s * s).abs() < 1e-6, "shift {s}: {f}");
        }
    }

    #[test]
    fn gaussians_by_hand() {
        // 1-d: FID = (m1 - m2)^2 + s1^2 + s2^2 - 2 s1 s2 = (m1-m2)^2 + (s1 - s2)^2
        let a = Tensor::from_slice(&[1.0f64, 3.0]).reshape([2, 1]); // mean 2, var 2
        let b = Tensor::from_slice(&[0.0f64, 8.0]).reshape([2, 1]); // mean 4, var 32
        let want = 4.0 + (2f64.sqrt() - 32f64.sqrt()).powi(2);
        assert!(
            (fid(&a, &b) - want).abs() < 1e-9,
            "{} vs {want}",
            fid(&a, &b)
        );
    }
}
