//! Diffusion schedules in continuous time `t` in [0, 1]: signal and noise rates.
//!
//! - cosine: the signal rate goes from `max_signal_rate` (t = 0) to `min_signal_rate` (t = 1)
//!   along `cos(angle)`, angle linear in t; the noise rate is `sin(angle)`.
//! - linear: DDPM betas `linspace(1e-4, 0.02, 1000)`, `abar = cumprod(1 - beta)` clipped to
//!   `[min_signal_rate, max_signal_rate]` (the clip applies to the variance here), looked up at
//!   `floor(t * 999)`; signal `sqrt(abar)`, noise `sqrt(1 - abar)`.

use crate::flags::ScheduleType;
use tch::{Device, Kind, Tensor};

/// Number of discrete steps of the linear (DDPM) schedule.
pub const LINEAR_STEPS: usize = 1000;

#[derive(Debug)]
pub struct Schedule {
    kind: ScheduleType,
    start_angle: f64,
    end_angle: f64,
    /// linear only: sqrt(abar) and sqrt(1 - abar) per discrete step, on the device.
    signal_table: Option<Tensor>,
    noise_table: Option<Tensor>,
}

/// `abar` of the linear schedule, computed in f64, clipped.
pub fn linear_alpha_bar(min_signal_rate: f64, max_signal_rate: f64) -> Vec<f64> {
    let (b0, b1) = (1e-4, 0.02);
    let mut acc = 1.0;
    (0..LINEAR_STEPS)
        .map(|i| {
            let beta = b0 + (b1 - b0) * i as f64 / (LINEAR_STEPS - 1) as f64;
            acc *= 1.0 - beta;
            acc.clamp(min_signal_rate, max_signal_rate)
        })
        .collect()
}

impl Schedule {
    pub fn new(
        kind: ScheduleType,
        min_signal_rate: f64,
        max_signal_rate: f64,
        device: Device,
    ) -> Self {
        let (signal_table, noise_table) = match kind {
            ScheduleType::Cosine => (None, None),
            ScheduleType::Linear => {
                let abar = linear_alpha_bar(min_signal_rate, max_signal_rate);
                let s: Vec<f32> = abar.iter().map(|a| a.sqrt() as f32).collect();
                let n: Vec<f32> = abar.iter().map(|a| (1.0 - a).sqrt() as f32).collect();
                (
                    Some(Tensor::from_slice(&s).to_device(device)),
                    Some(Tensor::from_slice(&n).to_device(device)),
                )
            }
        };
        Schedule {
            kind,
            start_angle: max_signal_rate.acos(),
            end_angle: min_signal_rate.acos(),
            signal_table,
            noise_table,
        }
    }

    /// Signal and noise rates for diffusion times `t` (any shape, float), same shape.
    pub fn rates(&self, t: &Tensor) -> (Tensor, Tensor) {
        match self.kind {
            ScheduleType::Cosine => {
                let angle = t * (self.end_angle - self.start_angle) + self.start_angle;
                (angle.cos(), angle.sin())
            }
            ScheduleType::Linear => {
                let idx = (t * (LINEAR_STEPS - 1) as f64)
                    .floor()
                    .clamp(0.0, (LINEAR_STEPS - 1) as f64)
                    .to_kind(Kind::Int64);
                let shape = t.size();
                let flat = idx.reshape([-1]);
                let s = self
                    .signal_table
                    .as_ref()
                    .unwrap()
                    .index_select(0, &flat)
                    .reshape(&shape);
                let n = self
                    .noise_table
                    .as_ref()
                    .unwrap()
                    .index_select(0, &flat)
                    .reshape(&shape);
                (s, n)
            }
        }
    }

    /// Rates for one scalar time, as f64.
    pub fn rates_at(&self, t: f64) -> (f64, f64) {
        let (s, n) = self.rates(&Tensor::from_slice(&[t as f32]).to_device(self.device()));
        (s.double_value(&[0]), n.double_value(&[0]))
    }

    fn device(&self) -> Device {
        self.signal_table
            .as_ref()
            .map(|t| t.device())
            .unwrap_or(Device::Cpu)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-6
    }

    #[test]
    fn cosine_by_hand() {
        let s = Schedule::new(ScheduleType::Cosine, 0.02, 0.95, Device::Cpu);
        let (a0, a1) = (0.95f64.acos(), 0.02f64.acos());
        let (sig, noi) = s.rates_at(0.0);
        assert!(
            close(sig, 0.95) && close(noi, (1.0 - 0.95f64 * 0.95).sqrt()),
            "{sig} {noi}"
        );
        let (sig, noi) = s.rates_at(1.0);
        assert!(
            close(sig, 0.02) && close(noi, (1.0 - 0.0004f64).sqrt()),
            "{sig} {noi}"
        );
        let mid = a0 + 0.5 * (a1 - a0);
        let (sig, noi) = s.rates_at(0.5);
        assert!(
            close(sig, mid.cos()) && close(noi, mid.sin()),
            "{sig} {noi}"
        );
        // rates are a point on the unit circle
        let t = Tensor::linspace(0.0, 1.0, 11, (Kind::Float, Device::Cpu));
        let (sg, ns) = s.rates(&t);
        let one = (&sg * &sg + &ns * &ns - 1.0).abs().max().double_value(&[]);
        assert!(one < 1e-6);
    }

    #[test]
    fn linear_by_hand() {
        let s = Schedule::new(ScheduleType::Linear, 0.02, 0.95, Device::Cpu);
        // t = 0: abar_0 = 1 - 1e-4 = 0.9999, clipped to 0.95.
        let (sig, noi) = s.rates_at(0.0);
        assert!(
            close(sig, 0.95f64.sqrt()) && close(noi, 0.05f64.sqrt()),
            "{sig} {noi}"
        );
        // t = 1: abar_999 is about 4.0e-5, clipped up to 0.02.
        let (sig, noi) = s.rates_at(1.0);
        assert!(
            close(sig, 0.02f64.sqrt()) && close(noi, 0.98f64.sqrt()),
            "{sig} {noi}"
        );
        // t = 0.5: index floor(499.5) = 499, abar = prod_{i<=499} (1 - beta_i), unclipped.
        let mut abar = 1.0f64;
        for i in 0..=499 {
            abar *= 1.0 - (1e-4 + (0.02 - 1e-4) * i as f64 / 999.0);
        }
        assert!(abar > 0.02 && abar < 0.95, "{abar}");
        let (sig, noi) = s.rates_at(0.5);
        assert!(
            close(sig, abar.sqrt()) && close(noi, (1.0 - abar).sqrt()),
            "{sig} {noi}"
        );
    }

    #[test]
    fn linear_clip_boundaries() {
        let abar = linear_alpha_bar(0.02, 0.95);
        let raw = linear_alpha_bar(0.0, 1.0);
        // the first index where the raw abar falls to 0.95 or below, and where it falls below 0.02
        let hi = raw.iter().position(|&a| a <= 0.95).unwrap();
        let lo = raw.iter().position(|&a| a < 0.02).unwrap();
        assert!(abar[..hi].iter().all(|&a| a == 0.95));
        assert_eq!(abar[hi], raw[hi]);
        assert_eq!(abar[lo - 1], raw[lo - 1]);
        assert!(abar[lo..].iter().all(|&a| a == 0.02));
        // beta_0 = 1e-4, beta_1 = 1e-4 + 0.0199/999: abar_1 = 0.9999 * (1 - beta_1)
        let b1 = 1e-4 + 0.0199 / 999.0;
        assert!((raw[1] - 0.9999 * (1.0 - b1)).abs() < 1e-15);
        // The boundaries as looked up through t: t just below / at the index.
        let s = Schedule::new(ScheduleType::Linear, 0.02, 0.95, Device::Cpu);
        let t_hi = hi as f64 / 999.0 + 1e-7;
        let (sig, _) = s.rates_at(t_hi);
        assert!(
            close(sig, raw[hi].sqrt()),
            "t={t_hi}: {sig} vs {}",
            raw[hi].sqrt()
        );
        let (sig, _) = s.rates_at((hi - 1) as f64 / 999.0 + 1e-7);
        assert!(close(sig, 0.95f64.sqrt()));
    }
}
