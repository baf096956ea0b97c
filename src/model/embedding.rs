//! Sinusoidal embedding of the noise (or signal) variance.
//!
//! `dim / 2` frequencies `exp(linspace(ln 1, ln 1000, dim / 2))`, angular speeds `2 pi f`;
//! `emb(x) = cat(sin(speeds * x), cos(speeds * x))`, shape (N, dim, 1, 1).

use tch::{Device, Kind, Tensor};

pub const MIN_FREQUENCY: f64 = 1.0;
pub const MAX_FREQUENCY: f64 = 1000.0;

#[derive(Debug)]
pub struct SinusoidalEmbedding {
    /// (1, dim/2, 1, 1)
    speeds: Tensor,
    pub dim: i64,
}

/// The angular speeds `2 pi f`, as f64.
pub fn angular_speeds(dim: i64) -> Vec<f64> {
    let n = (dim / 2) as usize;
    let (lo, hi) = (MIN_FREQUENCY.ln(), MAX_FREQUENCY.ln());
    (0..n)
        .map(|i| {
            let frac = if n > 1 {
                i as f64 / (n - 1) as f64
            } else {
                0.0
            };
            2.0 * std::f64::consts::PI * (lo + frac * (hi - lo)).exp()
        })
        .collect()
}

impl SinusoidalEmbedding {
    pub fn new(dim: i64, device: Device) -> Self {
        let speeds: Vec<f32> = angular_speeds(dim).iter().map(|&s| s as f32).collect();
        let speeds = Tensor::from_slice(&speeds)
            .reshape([1, dim / 2, 1, 1])
            .to_device(device);
        SinusoidalEmbedding { speeds, dim }
    }

    /// `x`: (N, 1, 1, 1) -> (N, dim, 1, 1).
    pub fn forward(&self, x: &Tensor) -> Tensor {
        let e = x.to_kind(Kind::Float) * &self.speeds;
        Tensor::cat(&[e.sin(), e.cos()], 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_by_hand() {
        let emb = SinusoidalEmbedding::new(32, Device::Cpu);
        let speeds = angular_speeds(32);
        assert_eq!(speeds.len(), 16);
        assert!((speeds[0] - 2.0 * std::f64::consts::PI).abs() < 1e-12);
        assert!((speeds[15] - 2000.0 * std::f64::consts::PI).abs() < 1e-9);
        // geometric spacing: ratio 1000^(1/15)
        let r = 1000f64.powf(1.0 / 15.0);
        assert!((speeds[1] / speeds[0] - r).abs() < 1e-12);

        let x = Tensor::from_slice(&[0.0f32, 0.25, 0.7]).reshape([3, 1, 1, 1]);
        let out = emb.forward(&x);
        assert_eq!(out.size(), vec![3, 32, 1, 1]);
        for (n, xv) in [0.0f64, 0.25, 0.7].iter().enumerate() {
            for k in 0..16 {
                let s = out.double_value(&[n as i64, k, 0, 0]);
                let c = out.double_value(&[n as i64, k + 16, 0, 0]);
                let ang = (speeds[k as usize] as f32 as f64) * xv;
                assert!(
                    (s - ang.sin()).abs() < 2e-4,
                    "sin n={n} k={k}: {s} vs {}",
                    ang.sin()
                );
                assert!(
                    (c - ang.cos()).abs() < 2e-4,
                    "cos n={n} k={k}: {c} vs {}",
                    ang.cos()
                );
            }
        }
        // x = 0: sin part 0, cos part 1.
        assert_eq!(out.double_value(&[0, 3, 0, 0]), 0.0);
        assert_eq!(out.double_value(&[0, 19, 0, 0]), 1.0);
    }
}
