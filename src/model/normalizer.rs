//! The R original's data normaliser: per-channel mean and std, estimated by a streaming merge over
//! the first [`NORMALIZER_BATCHES`] training batches, then frozen.
//!
//! For a batch of `n_b` images with per-channel mean `m_b` and (unbiased) variance `v_b`, after
//! `n_old` images: `w = n_b / (n_old + n_b)`, `mean = (1 - w) mean + w m_b`,
//! `std = sqrt((1 - w) std^2 + w v_b + n_b n_old / (n_old + n_b)^2 (mean_old - m_b)^2)`.
//! Its state lives in the model's VarStore (not trainable), so checkpoints and weight files
//! carry it.

use tch::{nn, Kind, Tensor};

pub const NORMALIZER_BATCHES: i64 = 55;

#[derive(Debug)]
pub struct Normalizer {
    /// (1, C, 1, 1)
    pub means: Tensor,
    pub stds: Tensor,
    /// [images seen, batches seen], as a float tensor.
    pub counts: Tensor,
    /// The same counts on the host, so that a training step never reads the device.
    images: f64,
    batches: i64,
}

impl Normalizer {
    pub fn new(p: &nn::Path, channels: i64) -> Self {
        let means = p.zeros_no_train("means", &[1, channels, 1, 1]);
        let stds = p.ones_no_train("stds", &[1, channels, 1, 1]);
        let counts = p.zeros_no_train("counts", &[2]);
        Normalizer {
            means,
            stds,
            counts,
            images: 0.0,
            batches: 0,
        }
    }

    /// Reads the counts back from the tensor (after a checkpoint was restored into it).
    pub fn refresh(&mut self) {
        self.images = self.counts.double_value(&[0]);
        self.batches = self.counts.double_value(&[1]) as i64;
    }

    pub fn images_seen(&self) -> f64 {
        self.images
    }

    pub fn batches_seen(&self) -> i64 {
        self.batches
    }

    /// Merges one training batch (N, C, H, W) into the statistics, for the first 55 batches.
    pub fn update(&mut self, x: &Tensor) {
        let batches = self.batches_seen();
        if batches >= NORMALIZER_BATCHES {
            return;
        }
        tch::no_grad(|| {
            let x = x.to_kind(Kind::Float);
            let n_b = x.size()[0] as f64;
            let n_old = self.images_seen();
            let total = n_old + n_b;
            let w = n_b / total;
            let dims: &[i64] = &[0, 2, 3];
            let m_b = x.mean_dim(dims, true, Kind::Float);
            let v_b = x.var_dim(dims, true, true);
            let correction = (&self.means - &m_b).square() * (n_b * n_old / (total * total));
            let new_var = self.stds.square() * (1.0 - w) + v_b * w + correction;
            let new_mean = &self.means * (1.0 - w) + m_b * w;
            self.means.copy_(&new_mean);
            self.stds.copy_(&new_var.sqrt());
            let _ = self.counts.get(0).fill_(total);
            let _ = self.counts.get(1).fill_((batches + 1) as f64);
        });
        self.images += x.size()[0] as f64;
        self.batches += 1;
    }

    pub fn normalize(&self, x: &Tensor) -> Tensor {
        (x - &self.means) / &self.stds
    }

    /// Back to [0, 1] pixel values, clipped.
    pub fn denormalize(&self, x: &Tensor) -> Tensor {
        (x * &self.stds + &self.means).clamp(0.0, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{nn::VarStore, Device};

    #[test]
    fn streaming_equals_direct_statistics() {
        tch::manual_seed(3);
        let vs = VarStore::new(Device::Cpu);
        let mut norm = Normalizer::new(&vs.root(), 3);
        // Batches of different sizes and channel-wise shifts.
        let batches: Vec<Tensor> = [5i64, 8, 3, 8]
            .iter()
            .enumerate()
            .map(|(i, &n)| {
                Tensor::rand([n, 3, 4, 4], (Kind::Float, Device::Cpu)) * (1.0 + i as f64)
                    + Tensor::from_slice(&[0.1f32, 0.5, -0.2]).reshape([1, 3, 1, 1])
            })
            .collect();
        for b in &batches {
            norm.update(b);
        }
        let all = Tensor::cat(&batches, 0).to_kind(Kind::Double);
        let mean = all.mean_dim([0i64, 2, 3].as_slice(), true, Kind::Double);
        let n_pix = (24 * 16) as f64;
        // The merge combines per-batch unbiased variances with batch weights: compute the
        // same quantity directly, batch by batch, in f64.
        let mut m = Tensor::zeros([1, 3, 1, 1], (Kind::Double, Device::Cpu));
        let mut v = Tensor::zeros([1, 3, 1, 1], (Kind::Double, Device::Cpu));
        let mut n_old = 0f64;
        for b in &batches {
            let b = b.to_kind(Kind::Double);
            let nb = b.size()[0] as f64;
            let tot = n_old + nb;
            let w = nb / tot;
            let bm = b.mean_dim([0i64, 2, 3].as_slice(), true, Kind::Double);
            let bv = b.var_dim([0i64, 2, 3].as_slice(), true, true);
            v = &v * (1.0 - w) + bv * w + (&m - &bm).square() * (nb * n_old / (tot * tot));
            m = &m * (1.0 - w) + bm * w;
            n_old = tot;
        }
        let got_m = norm.means.to_kind(Kind::Double);
        let got_s = norm.stds.to_kind(Kind::Double);
        assert!((&got_m - &m).abs().max().double_value(&[]) < 1e-5);
        assert!((&got_s - v.sqrt()).abs().max().double_value(&[]) < 1e-5);
        // The merged mean is exactly the mean over all pixels.
        assert!((&got_m - &mean).abs().max().double_value(&[]) < 1e-5);
        // And the merged std is close to the direct std of all pixels.
        let direct = all.var_dim([0i64, 2, 3].as_slice(), true, true).sqrt();
        assert!(
            (&got_s - direct).abs().max().double_value(&[]) < 0.05 * n_pix.recip().sqrt() + 0.02
        );
        assert_eq!(norm.images_seen(), 24.0);
        assert_eq!(norm.batches_seen(), 4);
        // normalize / denormalize round trip on [0, 1] data
        let x = Tensor::rand([2, 3, 4, 4], (Kind::Float, Device::Cpu));
        let back = norm.denormalize(&norm.normalize(&x));
        assert!((back - x).abs().max().double_value(&[]) < 1e-5);
    }

    #[test]
    fn freezes_after_55_batches() {
        let vs = VarStore::new(Device::Cpu);
        let mut norm = Normalizer::new(&vs.root(), 3);
        for _ in 0..NORMALIZER_BATCHES {
            norm.update(&Tensor::ones([2, 3, 2, 2], (Kind::Float, Device::Cpu)));
        }
        let m = norm.means.copy();
        norm.update(&(Tensor::ones([2, 3, 2, 2], (Kind::Float, Device::Cpu)) * 5.0));
        assert_eq!(norm.batches_seen(), NORMALIZER_BATCHES);
        assert!(norm.means.equal(&m));
    }
}
