//! Statistics of replicates: the mean of a configuration's runs with its Student-t interval,
//! paired effects between two values of a flag, the one-sided paired t-test of racing, and
//! Holm's correction. Distributions from `statrs`; checked in the tests against values
//! computed independently with SciPy (`shared/notes/statistics.md`).
//!
//! Edge cases (decided here, documented in docs/conclusions.md):
//! - n = 1: a mean, no sd, no interval, no test;
//! - sd = 0 with a non-zero mean difference: the interval is the point itself and the
//!   one-sided p is 0 (A is lower in every pair) or 1 (A is higher in every pair);
//! - every difference 0: the interval is [0, 0] and p = 1 (nothing to tell apart).

use statrs::distribution::{ContinuousCDF, StudentsT};

/// The `q` quantile of Student's t with `df` degrees of freedom.
pub fn t_quantile(q: f64, df: f64) -> f64 {
    StudentsT::new(0.0, 1.0, df).expect("df > 0").inverse_cdf(q)
}

/// P(T <= t) for Student's t with `df` degrees of freedom.
pub fn t_cdf(t: f64, df: f64) -> f64 {
    StudentsT::new(0.0, 1.0, df).expect("df > 0").cdf(t)
}

/// Mean, sd (n - 1) and two-sided 95% interval of the mean of `xs`.
#[derive(Debug, Clone, PartialEq)]
pub struct MeanCi {
    pub n: usize,
    pub mean: f64,
    /// None for n < 2.
    pub sd: Option<f64>,
    /// `mean ± t(0.975, n − 1) · sd / √n`; None for n < 2.
    pub ci95: Option<(f64, f64)>,
}

pub fn mean_ci(xs: &[f64]) -> MeanCi {
    let n = xs.len();
    let mean = xs.iter().sum::<f64>() / n.max(1) as f64;
    if n < 2 {
        return MeanCi {
            n,
            mean,
            sd: None,
            ci95: None,
        };
    }
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    let sd = var.sqrt();
    let half = t_quantile(0.975, (n - 1) as f64) * sd / (n as f64).sqrt();
    MeanCi {
        n,
        mean,
        sd: Some(sd),
        ci95: Some((mean - half, mean + half)),
    }
}

/// A paired comparison of A against B over pairs `(a_i, b_i)` (lower is better).
#[derive(Debug, Clone, PartialEq)]
pub struct Paired {
    /// The mean of `a_i − b_i`, its sd and 95% interval.
    pub diff: MeanCi,
    /// Pairs where A is lower (better).
    pub a_better: usize,
    /// One-sided p of "A is lower than B": P(T_{n−1} <= t); None for n < 2.
    pub p_less: Option<f64>,
}

impl Paired {
    /// The interval excludes 0.
    pub fn significant(&self) -> bool {
        self.diff.ci95.is_some_and(|(lo, hi)| lo > 0.0 || hi < 0.0)
    }
}

pub fn paired(pairs: &[(f64, f64)]) -> Paired {
    let d: Vec<f64> = pairs.iter().map(|(a, b)| a - b).collect();
    let diff = mean_ci(&d);
    let a_better = pairs.iter().filter(|(a, b)| a < b).count();
    let p_less = diff.sd.map(|sd| one_sided_p(diff.mean, sd, diff.n));
    Paired {
        diff,
        a_better,
        p_less,
    }
}

/// P(T_{n−1} <= mean / (sd / √n)), with the edge cases of the module's documentation.
fn one_sided_p(mean: f64, sd: f64, n: usize) -> f64 {
    if sd == 0.0 || !sd.is_finite() {
        return if mean < 0.0 { 0.0 } else { 1.0 };
    }
    let t = mean / (sd / (n as f64).sqrt());
    t_cdf(t, (n - 1) as f64)
}

/// The number of pairs a paired t-test needs to find a mean difference of `mean` with
/// differences of sd `sd` (as observed) at the two-sided 5% level with 80% power: the smallest
/// n ≥ 2 with `(t(0.975, n−1) + t(0.8, n−1)) · sd / √n ≤ |mean|` (the usual approximation of
/// the noncentral-t power; it gives the exact n at the effect sizes tested). None when there is
/// nothing to find (a zero or non-finite mean, no sd) or past ten million pairs.
pub fn pairs_for_power(mean: f64, sd: f64) -> Option<usize> {
    if mean == 0.0 || !mean.is_finite() || !sd.is_finite() {
        return None;
    }
    if sd == 0.0 {
        return Some(2);
    }
    let d = mean.abs() / sd;
    // The normal approximation is a lower bound (t's quantiles are larger): start there.
    let z = 1.959_963_984_540_054 + 0.841_621_233_572_914_3;
    let start = (z / d).powi(2).ceil();
    if start > 1e7 {
        return None;
    }
    (start.max(2.0) as usize..=10_000_000).find(|&n| {
        let df = (n - 1) as f64;
        (t_quantile(0.975, df) + t_quantile(0.8, df)) / (n as f64).sqrt() <= d
    })
}

/// Holm's step-down adjustment: sorted ascending, `p_adj(i) = max_{j<=i} min(1, (m − j + 1) p_(j))`,
/// returned in the input's order.
pub fn holm(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&i, &j| p[i].total_cmp(&p[j]));
    let mut out = vec![0.0; m];
    let mut running: f64 = 0.0;
    for (rank, &i) in order.iter().enumerate() {
        let adj = ((m - rank) as f64 * p[i]).min(1.0);
        running = running.max(adj);
        out[i] = running;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The exact n of a two-sided paired t-test at 5% with 80% power (the smallest n whose
    /// noncentral-t power reaches 0.8), computed with SciPy 1.17 (`stats.nct`), by effect
    /// size d = |mean| / sd.
    #[test]
    fn pairs_for_power_matches_the_noncentral_t() {
        for (d, n) in [
            (0.1, 787),
            (0.25, 128),
            (0.5, 34),
            (0.8, 15),
            (1.0, 10),
            (1.5, 6),
            (2.0, 5),
            (3.0, 4),
        ] {
            assert_eq!(pairs_for_power(-d * 0.3, 0.3), Some(n), "d = {d}");
        }
        assert_eq!(pairs_for_power(0.0, 1.0), None);
        assert_eq!(pairs_for_power(1.0, 0.0), Some(2));
        assert_eq!(pairs_for_power(1e-9, 1.0), None);
    }

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    /// SciPy 1.17 `scipy.stats.t.ppf` (shared/notes/statistics.md).
    #[test]
    fn t_quantiles_match_scipy() {
        let table = [
            (1.0, 12.7062047362, 6.3137515147),
            (2.0, 4.3026527297, 2.9199855804),
            (3.0, 3.1824463053, 2.3533634348),
            (4.0, 2.7764451052, 2.1318467863),
            (5.0, 2.5705818356, 2.0150483733),
            (6.0, 2.4469118511, 1.9431802805),
            (7.0, 2.3646242516, 1.8945786051),
            (8.0, 2.3060041352, 1.8595480375),
            (9.0, 2.2621571628, 1.8331129327),
            (10.0, 2.2281388520, 1.8124611228),
            (15.0, 2.1314495456, 1.7530503557),
            (20.0, 2.0859634473, 1.7247182429),
            (30.0, 2.0422724563, 1.6972608866),
            (60.0, 2.0002978220, 1.6706488649),
            (120.0, 1.9799304051, 1.6576508994),
        ];
        for (df, q975, q95) in table {
            assert!(close(t_quantile(0.975, df), q975, 1e-8), "df {df}");
            assert!(close(t_quantile(0.95, df), q95, 1e-8), "df {df}");
        }
    }

    #[test]
    fn a_worked_paired_test() {
        let a = [0.1147, 0.1203, 0.1121, 0.1188, 0.116];
        let b = [0.1281, 0.1266, 0.1302, 0.1249, 0.1317];
        let pairs: Vec<(f64, f64)> = a.iter().copied().zip(b.iter().copied()).collect();
        let p = paired(&pairs);
        assert_eq!(p.diff.n, 5);
        assert!(close(p.diff.mean, -0.01192, 1e-12));
        assert!(close(p.diff.sd.unwrap(), 0.0054801460, 1e-9));
        let (lo, hi) = p.diff.ci95.unwrap();
        assert!(close(lo, -0.0187245000, 1e-9), "{lo}");
        assert!(close(hi, -0.0051155000, 1e-9), "{hi}");
        assert!(close(p.p_less.unwrap(), 4.128511e-03, 1e-8));
        assert_eq!(p.a_better, 5);
        assert!(p.significant());
    }

    #[test]
    fn a_three_replicate_interval() {
        let m = mean_ci(&[0.52, 0.49, 0.55]);
        assert!(close(m.mean, 0.52, 1e-12));
        let (lo, hi) = m.ci95.unwrap();
        assert!(close(lo, 0.4454758686, 1e-9) && close(hi, 0.5945241314, 1e-9));
    }

    #[test]
    fn holm_matches_the_worked_example() {
        let adj = holm(&[0.01, 0.04, 0.03, 0.2]);
        let want = [0.04, 0.09, 0.09, 0.2];
        for (a, w) in adj.iter().zip(want) {
            assert!(close(*a, w, 1e-12), "{adj:?}");
        }
        let reject: Vec<bool> = adj.iter().map(|p| *p < 0.05).collect();
        assert_eq!(reject, [true, false, false, false]);
        assert_eq!(holm(&[]), Vec::<f64>::new());
        assert_eq!(holm(&[0.7, 0.6]), vec![1.0, 1.0]);
    }

    #[test]
    fn edge_cases() {
        let one = mean_ci(&[0.3]);
        assert_eq!((one.n, one.sd, one.ci95), (1, None, None));
        // Every difference the same and negative: A lower in every pair, p = 0.
        let p = paired(&[(1.0, 2.0), (2.0, 3.0), (0.0, 1.0)]);
        assert_eq!(p.diff.ci95, Some((-1.0, -1.0)));
        assert_eq!(p.p_less, Some(0.0));
        assert!(p.significant());
        let p = paired(&[(2.0, 1.0), (3.0, 2.0)]);
        assert_eq!(p.p_less, Some(1.0));
        // Nothing differs: not significant, p = 1.
        let p = paired(&[(1.0, 1.0), (2.0, 2.0)]);
        assert_eq!(p.p_less, Some(1.0));
        assert!(!p.significant());
        assert_eq!(p.a_better, 0);
        assert_eq!(paired(&[(1.0, 2.0)]).p_less, None);
    }
}
