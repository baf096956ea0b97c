//! Adam and AdamW over named tensors, with state that can be saved and restored.
//!
//! AdamW (decoupled weight decay): `p -= lr * wd * p`, then the Adam step
//! `m = b1 m + (1 - b1) g`, `v = b2 v + (1 - b2) g^2`,
//! `p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)` (PyTorch's arithmetic).
//! Adam is the same without the decay (the seed's `adam` is a plain `Adam(lr)`).

use crate::flags::Optimizer;
use tch::Tensor;

pub const BETA1: f64 = 0.9;
pub const BETA2: f64 = 0.999;
pub const EPS: f64 = 1e-8;

#[derive(Debug)]
pub struct AdamW {
    pub lr: f64,
    pub weight_decay: f64,
    /// Steps taken.
    pub t: i64,
    params: Vec<(String, Tensor)>,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
}

impl AdamW {
    /// `params`: the trainable tensors, by name (their order fixes nothing: state is by name).
    pub fn new(
        kind: Optimizer,
        lr: f64,
        weight_decay: f64,
        mut params: Vec<(String, Tensor)>,
    ) -> Self {
        params.sort_by(|a, b| a.0.cmp(&b.0));
        let m = params.iter().map(|(_, p)| p.zeros_like()).collect();
        let v = params.iter().map(|(_, p)| p.zeros_like()).collect();
        AdamW {
            lr,
            weight_decay: if kind == Optimizer::Adamw {
                weight_decay
            } else {
                0.0
            },
            t: 0,
            params,
            m,
            v,
        }
    }

    pub fn zero_grad(&mut self) {
        for (_, p) in &mut self.params {
            let mut g = p.grad();
            if g.defined() {
                let _ = g.detach_();
                let _ = g.zero_();
            }
        }
    }

    pub fn step(&mut self) {
        self.t += 1;
        let bc1 = 1.0 - BETA1.powi(self.t as i32);
        let bc2 = 1.0 - BETA2.powi(self.t as i32);
        let step_size = self.lr / bc1;
        let bc2_sqrt = bc2.sqrt();
        tch::no_grad(|| {
            for (((_, p), m), v) in self.params.iter_mut().zip(&mut self.m).zip(&mut self.v) {
                let g = p.grad();
                if !g.defined() {
                    continue;
                }
                if self.weight_decay != 0.0 {
                    let _ = p.g_mul_scalar_(1.0 - self.lr * self.weight_decay);
                }
                let _ = m.g_mul_scalar_(BETA1).g_add_(&(&g * (1.0 - BETA1)));
                let _ = v.g_mul_scalar_(BETA2).g_add_(&(g.square() * (1.0 - BETA2)));
                let denom = v.sqrt() / bc2_sqrt + EPS;
                let _ = p.g_sub_(&(&*m / denom * step_size));
            }
        });
    }

    /// The moments and step count, as named tensors (`m/<name>`, `v/<name>`, `t`).
    pub fn state(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::with_capacity(2 * self.params.len() + 1);
        for (((name, _), m), v) in self.params.iter().zip(&self.m).zip(&self.v) {
            out.push((format!("m/{name}"), m.shallow_clone()));
            out.push((format!("v/{name}"), v.shallow_clone()));
        }
        out.push(("t".into(), Tensor::from_slice(&[self.t])));
        out
    }

    /// Restores what [`AdamW::state`] gave; every moment must be there with its shape.
    pub fn load_state(&mut self, get: &dyn Fn(&str) -> Option<Tensor>) -> Result<(), String> {
        tch::no_grad(|| {
            for (((name, p), m), v) in self.params.iter().zip(&mut self.m).zip(&mut self.v) {
                for (key, dst) in [
                    (format!("m/{name}"), &mut *m),
                    (format!("v/{name}"), &mut *v),
                ] {
                    let src =
                        get(&key).ok_or_else(|| format!("optimizer state `{key}` missing"))?;
                    if src.size() != p.size() {
                        return Err(format!(
                            "optimizer state `{key}` has shape {:?}, expected {:?}",
                            src.size(),
                            p.size()
                        ));
                    }
                    dst.copy_(&src);
                }
            }
            Ok(())
        })?;
        let t = get("t").ok_or("optimizer step count missing")?;
        self.t = t.int64_value(&[0]);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    /// One parameter, hand-computed AdamW steps.
    #[test]
    fn adamw_by_hand() {
        let p = Tensor::from_slice(&[1.0f64, -2.0]).set_requires_grad(true);
        let mut opt = AdamW::new(
            Optimizer::Adamw,
            0.1,
            0.01,
            vec![("p".into(), p.shallow_clone())],
        );
        let (mut pv, mut m, mut v) = ([1.0f64, -2.0], [0.0f64; 2], [0.0f64; 2]);
        for t in 1..=3 {
            opt.zero_grad();
            // loss = sum(p^2) -> g = 2p
            let loss = (&p * &p).sum(Kind::Double);
            loss.backward();
            opt.step();
            for i in 0..2 {
                let g = 2.0 * pv[i];
                pv[i] *= 1.0 - 0.1 * 0.01;
                m[i] = 0.9 * m[i] + 0.1 * g;
                v[i] = 0.999 * v[i] + 0.001 * g * g;
                let bc1 = 1.0 - 0.9f64.powi(t);
                let bc2 = 1.0 - 0.999f64.powi(t);
                pv[i] -= 0.1 / bc1 * m[i] / (v[i].sqrt() / bc2.sqrt() + 1e-8);
            }
            for (i, want) in pv.iter().enumerate() {
                let got = p.double_value(&[i as i64]);
                assert!((got - want).abs() < 1e-12, "t={t} i={i}: {got} vs {want}");
            }
        }
    }

    #[test]
    fn adam_ignores_decay_and_state_round_trips() {
        let p = Tensor::ones([3], (Kind::Float, Device::Cpu)).set_requires_grad(true);
        let mut opt = AdamW::new(
            Optimizer::Adam,
            0.01,
            0.5,
            vec![("w".into(), p.shallow_clone())],
        );
        assert_eq!(opt.weight_decay, 0.0);
        (&p * 3.0).sum(Kind::Float).backward();
        opt.step();
        let state: std::collections::HashMap<String, Tensor> = opt.state().into_iter().collect();
        let q = Tensor::ones([3], (Kind::Float, Device::Cpu)).set_requires_grad(true);
        let mut opt2 = AdamW::new(
            Optimizer::Adam,
            0.01,
            0.5,
            vec![("w".into(), q.shallow_clone())],
        );
        opt2.load_state(&|k| state.get(k).map(|t| t.copy()))
            .unwrap();
        assert_eq!(opt2.t, 1);
        assert!(opt2.state()[0].1.equal(&state["m/w"]));
        assert!(opt2.load_state(&|_| None).is_err());
    }
}
