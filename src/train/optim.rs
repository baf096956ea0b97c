//! Adam and AdamW over named tensors, with state that can be saved and restored.
//!
//! AdamW (decoupled weight decay): `p -= lr * wd * p`, then the Adam step
//! `m = b1 m + (1 - b1) g`, `v = b2 v + (1 - b2) g^2`,
//! `p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)` (PyTorch's arithmetic).
//! Adam is the same without the decay (the R original's `adam` is a plain `Adam(lr)`).
//! The step is libtorch's fused AdamW (all parameters in one multi-tensor call, see
//! [`crate::model::foreach`]); where that fails it falls back to tensor-by-tensor updates.

use crate::flags::Optimizer;
use crate::model::foreach;
use tch::{Device, Kind, Tensor};

pub const BETA1: f64 = 0.9;
pub const BETA2: f64 = 0.999;
pub const EPS: f64 = 1e-8;
/// Set (to anything) to step tensor by tensor instead of fused, to compare the two.
pub const UNFUSED_ENV: &str = "DDIM_UNFUSED_ADAMW";

#[derive(Debug)]
pub struct AdamW {
    pub lr: f64,
    pub weight_decay: f64,
    /// Steps taken.
    pub t: i64,
    names: Vec<String>,
    params: Vec<Tensor>,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
    /// `t` as a float scalar on the parameters' device, for the fused step.
    step_t: Tensor,
    /// Whether libtorch's fused AdamW is used (else, after it failed once, tensor by tensor).
    fused: bool,
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
        let device = params.first().map_or(Device::Cpu, |(_, p)| p.device());
        let (names, params): (Vec<_>, Vec<_>) = params.into_iter().unzip();
        let m = params.iter().map(|p| p.zeros_like()).collect();
        let v = params.iter().map(|p| p.zeros_like()).collect();
        AdamW {
            lr,
            weight_decay: if kind == Optimizer::Adamw {
                weight_decay
            } else {
                0.0
            },
            t: 0,
            names,
            params,
            m,
            v,
            step_t: Tensor::zeros([], (Kind::Float, device)),
            fused: std::env::var_os(UNFUSED_ENV).is_none(),
        }
    }

    /// Whether the steps so far went through libtorch's fused AdamW.
    pub fn is_fused(&self) -> bool {
        self.fused
    }

    pub fn zero_grad(&mut self) {
        if foreach::zero_grads(&self.params).is_ok() {
            return;
        }
        for p in &mut self.params {
            let mut g = p.grad();
            if g.defined() {
                let _ = g.detach_();
                let _ = g.zero_();
            }
        }
    }

    pub fn step(&mut self) {
        self.t += 1;
        if self.fused {
            let _ = self.step_t.fill_(self.t as f64);
            let h = foreach::AdamParams {
                lr: self.lr,
                beta1: BETA1,
                beta2: BETA2,
                weight_decay: self.weight_decay,
                eps: EPS,
            };
            match foreach::fused_adamw(&self.params, &self.m, &self.v, &self.step_t, h) {
                Ok(()) => return,
                Err(e) => {
                    // The shim checks its inputs before it updates anything; this step and
                    // the following ones are then taken tensor by tensor.
                    crate::say!(
                        "fused AdamW unavailable here ({}); updating tensor by tensor",
                        e.lines().next().unwrap_or("")
                    );
                    self.fused = false;
                }
            }
        }
        self.step_by_tensor();
    }

    /// The same step, a few kernels per parameter.
    fn step_by_tensor(&mut self) {
        let bc1 = 1.0 - BETA1.powi(self.t as i32);
        let bc2 = 1.0 - BETA2.powi(self.t as i32);
        let step_size = self.lr / bc1;
        let bc2_sqrt = bc2.sqrt();
        tch::no_grad(|| {
            for ((p, m), v) in self.params.iter_mut().zip(&mut self.m).zip(&mut self.v) {
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
        for ((name, m), v) in self.names.iter().zip(&self.m).zip(&self.v) {
            out.push((format!("m/{name}"), m.shallow_clone()));
            out.push((format!("v/{name}"), v.shallow_clone()));
        }
        out.push(("t".into(), Tensor::from_slice(&[self.t])));
        out
    }

    /// Restores what [`AdamW::state`] gave; every moment must be there with its shape.
    pub fn load_state(&mut self, get: &dyn Fn(&str) -> Option<Tensor>) -> Result<(), String> {
        tch::no_grad(|| {
            for (((name, p), m), v) in self
                .names
                .iter()
                .zip(&self.params)
                .zip(&mut self.m)
                .zip(&mut self.v)
            {
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
        assert!(
            opt.is_fused(),
            "the steps went through libtorch's fused AdamW"
        );
    }

    /// The fused step and the tensor-by-tensor one agree, for AdamW and Adam, on float
    /// parameters of several shapes, one without a gradient.
    #[test]
    fn fused_matches_tensor_by_tensor() {
        for kind in [Optimizer::Adamw, Optimizer::Adam] {
            tch::manual_seed(3);
            let shapes: [&[i64]; 3] = [&[4, 3, 3, 3], &[7], &[2, 5]];
            let init: Vec<Tensor> = shapes
                .iter()
                .map(|s| Tensor::randn(*s, (Kind::Float, Device::Cpu)))
                .collect();
            let make = || {
                let ps: Vec<(String, Tensor)> = init
                    .iter()
                    .enumerate()
                    .map(|(i, t)| (format!("p{i}"), t.copy().set_requires_grad(true)))
                    .collect();
                let opt = AdamW::new(
                    kind,
                    0.05,
                    0.1,
                    ps.iter()
                        .map(|(n, t)| (n.clone(), t.shallow_clone()))
                        .collect(),
                );
                (ps, opt)
            };
            let (pa, mut fused) = make();
            let (pb, mut plain) = make();
            plain.fused = false;
            for step in 0..5 {
                for (ps, opt) in [(&pa, &mut fused), (&pb, &mut plain)] {
                    opt.zero_grad();
                    // The last parameter takes no part in the loss: no gradient.
                    let loss = (&ps[0].1 * (step + 1) as f64).sin().sum(Kind::Float)
                        + ps[1].1.square().sum(Kind::Float);
                    loss.backward();
                    opt.step();
                }
            }
            assert!(fused.is_fused());
            for ((_, a), (_, b)) in pa.iter().zip(&pb) {
                let diff = (a - b).abs().max().double_value(&[]);
                assert!(diff < 1e-6, "{kind:?}: {diff}");
            }
            assert!(
                pa[2].1.equal(&init[2]),
                "a parameter without a gradient stays"
            );
            assert!(!pa[0].1.equal(&init[0]), "the others move");
            let sa: Vec<_> = fused.state();
            let sb: Vec<_> = plain.state();
            for ((na, a), (nb, b)) in sa.iter().zip(&sb) {
                assert_eq!(na, nb);
                let diff = (a.to_kind(Kind::Double) - b.to_kind(Kind::Double))
                    .abs()
                    .max()
                    .double_value(&[]);
                assert!(diff < 1e-6, "{kind:?} {na}: {diff}");
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
