//! Test functions and a median shared by the search benches (`search_bench`, `mf_bench`),
//! included by each with `#[path]`.
#![allow(dead_code)]

/// Hartmann's functions' constants (Dixon & Szegő 1978; as in Surjanovic & Bingham's library).
pub const HARTMANN_ALPHA: [f64; 4] = [1.0, 1.2, 3.0, 3.2];
pub const HARTMANN6_A: [[f64; 6]; 4] = [
    [10.0, 3.0, 17.0, 3.5, 1.7, 8.0],
    [0.05, 10.0, 17.0, 0.1, 8.0, 14.0],
    [3.0, 3.5, 1.7, 10.0, 17.0, 8.0],
    [17.0, 8.0, 0.05, 10.0, 0.1, 14.0],
];
pub const HARTMANN6_P: [[f64; 6]; 4] = [
    [0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886],
    [0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991],
    [0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650],
    [0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381],
];
pub const HARTMANN3_A: [[f64; 3]; 4] = [
    [3.0, 10.0, 30.0],
    [0.1, 10.0, 35.0],
    [3.0, 10.0, 30.0],
    [0.1, 10.0, 35.0],
];
pub const HARTMANN3_P: [[f64; 3]; 4] = [
    [0.3689, 0.1170, 0.2673],
    [0.4699, 0.4387, 0.7470],
    [0.1091, 0.8732, 0.5547],
    [0.0381, 0.5743, 0.8828],
];

/// Branin's minimum (at (−π, 12.275), (π, 2.275) and (9.42478, 2.475)).
pub const BRANIN_MIN: f64 = 0.397_887_357_729_738;

/// Branin at (x1, x2) ∈ [−5, 10] × [0, 15], at fidelity s ∈ [0, 1] (1: Branin itself), as
/// Kandasamy et al. 2017 (BOCA, "Multi-fidelity Bayesian optimisation with continuous
/// approximations", ICML) define it with every fidelity coordinate equal to s:
/// b = 5.1/(4π²) − 0.01(1 − s), c = 5/π − 0.1(1 − s), t = 1/(8π) + 0.05(1 − s).
pub fn branin(x1: f64, x2: f64, s: f64) -> f64 {
    let pi = std::f64::consts::PI;
    let b = 5.1 / (4.0 * pi * pi) - 0.01 * (1.0 - s);
    let c = 5.0 / pi - 0.1 * (1.0 - s);
    let t = 1.0 / (8.0 * pi) + 0.05 * (1.0 - s);
    (x2 - b * x1 * x1 + c * x1 - 6.0).powi(2) + 10.0 * (1.0 - t) * x1.cos() + 10.0
}

/// The median (NaN for none).
pub fn median(xs: &mut [f64]) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}
