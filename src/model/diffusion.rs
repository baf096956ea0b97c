//! The diffusion model: network + normaliser + schedule, the R original's `denoise` and its
//! deterministic DDIM sampler, with optional EMA weights for sampling and evaluation.

use super::normalizer::Normalizer;
use super::schedule::Schedule;
use super::summary::{variable_counts, ModuleInfo};
use super::unet::{NetConfig, Network};
use crate::flags::{Flags, LossOn};
use tch::{nn, Device, Kind, Tensor};

/// An exponential moving average of the network's weights and BatchNorm statistics.
#[derive(Debug)]
pub struct Ema {
    pub vs: nn::VarStore,
    pub net: Network,
    pub decay: f64,
    /// The floating-point EMA variables and the current ones they follow, paired once
    /// (handles sharing the variables' storage): each step lerps them in one call.
    targets: Vec<Tensor>,
    sources: Vec<Tensor>,
    /// The integer ones (BatchNorm's batch counts) with theirs, copied each step.
    counts: Vec<(Tensor, Tensor)>,
    /// Warm the decay up: `min(decay, (1 + step) / (10 + step))`.
    warmup: bool,
}

impl Ema {
    /// Pairs every variable of `vs` (the EMA copy) with the same-named one of `current`.
    fn new(
        vs: nn::VarStore,
        net: Network,
        decay: f64,
        warmup: bool,
        current: &nn::VarStore,
    ) -> Ema {
        let src = current.variables();
        let (mut targets, mut sources, mut counts) = (Vec::new(), Vec::new(), Vec::new());
        for (name, e) in vs.variables() {
            let Some(s) = src.get(&name) else { continue };
            if e.is_floating_point() {
                targets.push(e);
                sources.push(s.shallow_clone());
            } else {
                counts.push((e, s.shallow_clone()));
            }
        }
        Ema {
            vs,
            net,
            decay,
            targets,
            sources,
            counts,
            warmup,
        }
    }

    /// The decay of the update after `step` earlier ones: with warmup
    /// `min(decay, (1 + step) / (10 + step))` (diffusers' and timm's), so that after a few
    /// hundred steps the EMA no longer holds mostly the untrained network.
    pub fn decay_at(&self, step: i64) -> f64 {
        if self.warmup {
            let s = step.max(0) as f64;
            self.decay.min((1.0 + s) / (10.0 + s))
        } else {
            self.decay
        }
    }
}

#[derive(Debug)]
pub struct DiffusionModel {
    /// Network ("net.*") and normaliser ("normalize.*") variables.
    pub vs: nn::VarStore,
    pub net: Network,
    pub normalizer: Normalizer,
    pub ema: Option<Ema>,
    pub schedule: Schedule,
    pub loss_on: LossOn,
    pub config: NetConfig,
}

/// Predicted noises and images.
pub struct Denoised {
    pub noises: Tensor,
    pub images: Tensor,
}

pub fn net_config(flags: &Flags) -> NetConfig {
    NetConfig {
        channels: 3,
        image_size: flags.image_size,
        embedding_dim: flags.embedding_dim,
        widths: flags.unet_widths.clone(),
        block_depth: flags.block_depth,
    }
}

impl DiffusionModel {
    /// A freshly initialised model; the caller seeds the generator first.
    pub fn new(flags: &Flags, device: Device) -> Self {
        let config = net_config(flags);
        let vs = nn::VarStore::new(device);
        let net = Network::new(&(vs.root() / "net"), &config);
        let normalizer = Normalizer::new(&(vs.root() / "normalize"), config.channels);
        let ema = (flags.ema > 0.0).then(|| {
            let mut evs = nn::VarStore::new(device);
            let enet = Network::new(&(evs.root() / "net"), &config);
            evs.copy(&vs).expect("same architecture");
            evs.freeze();
            (evs, enet)
        });
        if flags.channels_last {
            to_channels_last(&vs);
            if let Some((evs, _)) = &ema {
                to_channels_last(evs);
            }
        }
        let ema = ema.map(|(evs, enet)| Ema::new(evs, enet, flags.ema, flags.ema_warmup, &vs));
        DiffusionModel {
            vs,
            net,
            normalizer,
            ema,
            schedule: Schedule::new(
                flags.schedule_type,
                flags.min_signal_rate,
                flags.max_signal_rate,
                device,
            ),
            loss_on: flags.loss_on,
            config,
        }
    }

    pub fn device(&self) -> Device {
        self.vs.device()
    }

    /// Trainable parameters of the network.
    pub fn parameter_count(&self) -> i64 {
        self.vs
            .trainable_variables()
            .iter()
            .map(|t| t.numel() as i64)
            .sum()
    }

    /// The module tree with parameter counts, and the total.
    pub fn summary(&self) -> String {
        let counts = variable_counts(&self.vs);
        let root = self.vs.root();
        let net = Network::info(&(&root / "net"), &self.config);
        let norm = ModuleInfo::leaf(
            "normalize",
            &(&root / "normalize"),
            format!(
                "Normalizer({} channels, first 55 batches; buffers)",
                self.config.channels
            ),
        );
        let top = ModuleInfo::node("model", &root, "DiffusionModel".into(), vec![norm, net]);
        let total = self.parameter_count();
        let buffers: i64 = counts.values().filter(|(_, t)| !t).map(|(n, _)| n).sum();
        format!(
            "{}\nTotal parameters: {} (trainable); buffers: {} (BatchNorm running statistics, normaliser)\n",
            top.render(&counts),
            super::summary::thousands(total),
            super::summary::thousands(buffers)
        )
    }

    /// The network that samples and evaluates: the EMA copy when there is one.
    pub fn eval_net(&self) -> &Network {
        self.ema.as_ref().map(|e| &e.net).unwrap_or(&self.net)
    }

    /// Moves the EMA weights (and BatchNorm statistics) towards the current ones after
    /// `step` earlier updates: `ema = d * ema + (1 - d) * current` with `d` =
    /// [`Ema::decay_at`], all floating-point tensors in one multi-tensor call; integer ones
    /// (BatchNorm's batch counts) are copied.
    pub fn update_ema(&mut self, step: i64) {
        let Some(ema) = &mut self.ema else { return };
        let decay = ema.decay_at(step);
        tch::no_grad(|| {
            for (e, s) in &mut ema.counts {
                e.copy_(s);
            }
        });
        if let Err(e) = super::foreach::lerp(&ema.targets, &ema.sources, 1.0 - decay) {
            panic!("EMA update failed: {e}");
        }
    }

    /// The R original's `denoise`: predicted noises and images from noisy images and their rates.
    pub fn denoise(
        &self,
        net: &Network,
        noisy: &Tensor,
        signal: &Tensor,
        noise: &Tensor,
        train: bool,
    ) -> Denoised {
        match self.loss_on {
            LossOn::Noise => {
                let noises = net.forward_t(noisy, &noise.square(), train);
                let images = (noisy - noise * &noises) / signal;
                Denoised { noises, images }
            }
            LossOn::Image => {
                let images = net.forward_t(noisy, &signal.square(), train);
                let noises = (noisy - signal * &images) / noise;
                Denoised { noises, images }
            }
        }
    }

    /// Deterministic DDIM from `initial_noise` (N, C, H, W) at t = 1 down to t = 0 in
    /// `diffusion_steps - 1` network evaluations; images in [0, 1]. Eval mode, no grad.
    pub fn generate_from(&self, initial_noise: &Tensor, diffusion_steps: i64) -> Tensor {
        assert!(diffusion_steps >= 2, "at least 2 diffusion steps");
        let net = self.eval_net();
        tch::no_grad(|| {
            let n = initial_noise.size()[0];
            let times = |t: f64| Tensor::full([n, 1, 1, 1], t, (Kind::Float, self.device()));
            let (mut signal, mut noise) = self.schedule.rates(&times(1.0));
            let mut noisy = initial_noise.shallow_clone();
            let mut pred_images = noisy.shallow_clone();
            for k in 1..diffusion_steps {
                let d = self.denoise(net, &noisy, &signal, &noise, false);
                let t = 1.0 - k as f64 / (diffusion_steps - 1) as f64;
                (signal, noise) = self.schedule.rates(&times(t));
                noisy = &signal * &d.images + &noise * &d.noises;
                pred_images = d.images;
            }
            self.normalizer.denormalize(&pred_images)
        })
    }

    /// `n` samples from noise drawn with `seed` (see [`seeded_randn`]).
    pub fn generate(&self, n: i64, diffusion_steps: i64, seed: i64) -> Tensor {
        let noise = seeded_randn(
            &[
                n,
                self.config.channels,
                self.config.image_size,
                self.config.image_size,
            ],
            seed,
        )
        .to_device(self.device());
        self.generate_from(&noise, diffusion_steps)
    }

    /// The variables that sampling uses (EMA network when there is one, and the normaliser),
    /// as (name, tensor), sorted by name.
    pub fn sampling_variables(&self) -> Vec<(String, Tensor)> {
        let mut out: Vec<(String, Tensor)> = match &self.ema {
            Some(e) => e.vs.variables().into_iter().collect(),
            None => self
                .vs
                .variables()
                .into_iter()
                .filter(|(k, _)| k.starts_with("net."))
                .collect(),
        };
        out.extend(
            self.vs
                .variables()
                .into_iter()
                .filter(|(k, _)| k.starts_with("normalize.")),
        );
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out.into_iter().map(|(k, t)| (k, t.contiguous())).collect()
    }
}

/// Puts every 4-d variable (the convolution weights) in channels-last memory format.
fn to_channels_last(vs: &nn::VarStore) {
    tch::no_grad(|| {
        for (_, mut v) in vs.variables() {
            if v.dim() == 4 {
                let cl = super::precision::channels_last(&v);
                v.set_data(&cl);
            }
        }
    });
}

/// Standard normal noise from its own ChaCha8 stream seeded with `seed`, on the CPU: it does
/// not touch (or depend on) torch's global generator, and is the same on every device.
pub fn seeded_randn(shape: &[i64], seed: i64) -> Tensor {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed as u64);
    let n: i64 = shape.iter().product();
    let values: Vec<f32> = (0..n)
        .map(|_| rng.sample::<f32, _>(rand_distr::StandardNormal))
        .collect();
    Tensor::from_slice(&values).reshape(shape)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flags::{parse_assignments, Flags};

    fn flags(args: &[&str]) -> Flags {
        Flags::resolve(&parse_assignments(args).unwrap()).unwrap()
    }

    #[test]
    fn default_parameter_count_is_the_seeds() {
        tch::manual_seed(0);
        let m = DiffusionModel::new(&Flags::default(), Device::Cpu);
        assert_eq!(m.parameter_count(), 3_562_211);
        let s = m.summary();
        assert!(s.contains("Total parameters: 3,562,211"), "{s}");
        // the U-Net alone
        let unet_line = s.lines().find(|l| l.contains("unet: UNet")).unwrap();
        assert!(unet_line.trim_end().ends_with("3,561,984"), "{unet_line}");
    }

    #[test]
    fn untrained_output_is_zero_and_shapes_hold() {
        tch::manual_seed(0);
        // widths[0] != embedding_dim: the U-Net ends with embedding_dim channels
        let f = flags(&[
            "unet_widths=[8,16]",
            "block_depth=1",
            "embedding_dim=4",
            "image_size=16",
        ]);
        let m = DiffusionModel::new(&f, Device::Cpu);
        let x = Tensor::randn([2, 3, 16, 16], (Kind::Float, Device::Cpu));
        let v = Tensor::rand([2, 1, 1, 1], (Kind::Float, Device::Cpu));
        let y = m.net.forward_t(&x, &v, true);
        assert_eq!(y.size(), vec![2, 3, 16, 16]);
        assert_eq!(
            y.abs().max().double_value(&[]),
            0.0,
            "zero-initialised output conv"
        );
        let g = m.generate(4, 5, 1);
        assert_eq!(g.size(), vec![4, 3, 16, 16]);
        assert!(g.min().double_value(&[]) >= 0.0 && g.max().double_value(&[]) <= 1.0);
        assert!(g.equal(&m.generate(4, 5, 1)), "same seed, same samples");
    }

    #[test]
    fn ema_decay_warms_up() {
        let f = flags(&[
            "unet_widths=[8,16]",
            "block_depth=1",
            "image_size=16",
            "ema=0.999",
        ]);
        let m = DiffusionModel::new(&f, Device::Cpu);
        let e = m.ema.as_ref().unwrap();
        assert!((e.decay_at(0) - 0.1).abs() < 1e-12);
        assert!((e.decay_at(90) - 91.0 / 100.0).abs() < 1e-12);
        assert_eq!(e.decay_at(100_000), 0.999, "the flag's decay once warm");
        let off = flags(&[
            "unet_widths=[8,16]",
            "block_depth=1",
            "image_size=16",
            "ema=0.999",
            "ema_warmup=false",
        ]);
        let m = DiffusionModel::new(&off, Device::Cpu);
        assert_eq!(m.ema.as_ref().unwrap().decay_at(0), 0.999);
    }

    #[test]
    fn ema_moves_towards_the_weights_and_copies_counts() {
        tch::manual_seed(0);
        let f = flags(&[
            "unet_widths=[8,16]",
            "block_depth=1",
            "image_size=16",
            "ema=0.75",
            "ema_warmup=false",
        ]);
        let mut m = DiffusionModel::new(&f, Device::Cpu);
        let before: std::collections::HashMap<String, Tensor> = m
            .ema
            .as_ref()
            .unwrap()
            .vs
            .variables()
            .into_iter()
            .map(|(k, v)| (k, v.copy()))
            .collect();
        let mut changed = 0;
        tch::no_grad(|| {
            for (name, mut v) in m.vs.variables() {
                if name.starts_with("net.") {
                    let _ = v.g_add_scalar_(4.0);
                    changed += 1;
                }
            }
        });
        m.update_ema(0);
        let now = m.vs.variables();
        let after = m.ema.as_ref().unwrap().vs.variables();
        assert!(after.len() > 10 && changed >= after.len());
        for (name, e) in &after {
            let (b, s) = (&before[name], &now[name]);
            let want = if e.is_floating_point() {
                b * 0.75 + s * 0.25
            } else {
                s.shallow_clone()
            };
            let diff = (e.to_kind(Kind::Double) - want.to_kind(Kind::Double))
                .abs()
                .max();
            assert!(diff.double_value(&[]) < 1e-6, "{name}");
        }
    }
}
