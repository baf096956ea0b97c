//! The R original's network: a 1x1 input conv concatenated with the upsampled sinusoidal embedding,
//! a U-Net of residual blocks, and a zero-initialised 1x1 output conv.

use super::embedding::SinusoidalEmbedding;
use super::summary::ModuleInfo;
use tch::nn;
use tch::Tensor;

/// Architecture of the network (plain config, from the flags).
#[derive(Debug, Clone, PartialEq)]
pub struct NetConfig {
    pub channels: i64,
    pub image_size: i64,
    pub embedding_dim: i64,
    pub widths: Vec<i64>,
    pub block_depth: i64,
}

/// A conv whose weight and bias follow PyTorch's default initialisation
/// (Kaiming-uniform weight, bias uniform in +-1/sqrt(fan_in)), as the R original's torch does.
fn conv(p: nn::Path, c_in: i64, c_out: i64, k: i64) -> nn::Conv2D {
    let bound = 1.0 / ((c_in * k * k) as f64).sqrt();
    let cfg = nn::ConvConfig {
        padding: k / 2,
        bs_init: nn::Init::Uniform {
            lo: -bound,
            up: bound,
        },
        ..Default::default()
    };
    nn::conv2d(p, c_in, c_out, k, cfg)
}

fn conv_info(name: &str, p: &nn::Path, c_in: i64, c_out: i64, k: i64) -> ModuleInfo {
    ModuleInfo::leaf(
        name,
        &p.sub(name),
        format!("Conv2d({c_in} -> {c_out}, {k}x{k})"),
    )
}

/// `conv_res(x) + conv2(swish(conv1(BN(x))))`; `conv_res` is a 1x1 conv, always present.
#[derive(Debug)]
pub struct ResidualBlock {
    norm: nn::BatchNorm,
    conv1: nn::Conv2D,
    conv2: nn::Conv2D,
    res: nn::Conv2D,
}

impl ResidualBlock {
    pub fn new(p: &nn::Path, c_in: i64, c_out: i64) -> Self {
        let bn = nn::BatchNormConfig {
            eps: 1e-5,
            momentum: 0.1,
            affine: true,
            ws_init: nn::Init::Const(1.0),
            bs_init: nn::Init::Const(0.0),
            ..Default::default()
        };
        ResidualBlock {
            norm: nn::batch_norm2d(p / "norm", c_in, bn),
            conv1: conv(p / "conv1", c_in, c_out, 3),
            conv2: conv(p / "conv2", c_out, c_out, 3),
            res: conv(p / "res", c_in, c_out, 1),
        }
    }

    fn info(name: &str, p: &nn::Path, c_in: i64, c_out: i64) -> ModuleInfo {
        let q = p.sub(name);
        ModuleInfo::node(
            name,
            &q,
            format!("ResidualBlock({c_in} -> {c_out})"),
            vec![
                ModuleInfo::leaf("norm", &q.sub("norm"), format!("BatchNorm2d({c_in})")),
                conv_info("conv1", &q, c_in, c_out, 3),
                conv_info("conv2", &q, c_out, c_out, 3),
                conv_info("res", &q, c_in, c_out, 1),
            ],
        )
    }

    pub fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let residual = x.apply(&self.res);
        let h = x
            .apply_t(&self.norm, train)
            .apply(&self.conv1)
            .silu()
            .apply(&self.conv2);
        h + residual
    }
}

/// Down path (blocks + average pooling, skips kept), middle, up path (bilinear x2, skips
/// consumed last-in first-out).
#[derive(Debug)]
pub struct UNet {
    down: Vec<Vec<ResidualBlock>>,
    middle: Vec<ResidualBlock>,
    up: Vec<Vec<ResidualBlock>>,
}

/// The (in, out) channels of every block, level by level: (down, middle, up).
type Plan = (Vec<Vec<(i64, i64)>>, Vec<(i64, i64)>, Vec<Vec<(i64, i64)>>);

fn unet_plan(c_in: i64, c_out: i64, widths: &[i64], depth: i64) -> Plan {
    let mut ch = c_in;
    let mut skips = Vec::new();
    let down = widths
        .iter()
        .map(|&w| {
            (0..depth)
                .map(|_| {
                    let b = (ch, w);
                    ch = w;
                    skips.push(w);
                    b
                })
                .collect()
        })
        .collect();
    let last = *widths.last().expect("non-empty widths");
    let middle = vec![(last, 2 * last), (2 * last, last)];
    ch = last;
    let rev: Vec<i64> = widths.iter().rev().copied().collect();
    let up = rev
        .iter()
        .enumerate()
        .map(|(k, _)| {
            let out = rev.get(k + 1).copied().unwrap_or(c_out);
            (0..depth)
                .map(|_| {
                    let skip = skips.pop().expect("one skip per down block");
                    let b = (ch + skip, out);
                    ch = out;
                    b
                })
                .collect()
        })
        .collect();
    (down, middle, up)
}

impl UNet {
    /// `c_in` channels in, `c_out` out (the R original's `unet(2 * embedding_dim, embedding_dim)`).
    pub fn new(p: &nn::Path, c_in: i64, c_out: i64, widths: &[i64], depth: i64) -> Self {
        let (down, middle, up) = unet_plan(c_in, c_out, widths, depth);
        let level = |p: nn::Path, blocks: &Vec<(i64, i64)>| {
            blocks
                .iter()
                .enumerate()
                .map(|(j, &(i, o))| ResidualBlock::new(&(&p / j), i, o))
                .collect::<Vec<_>>()
        };
        UNet {
            down: down
                .iter()
                .enumerate()
                .map(|(l, b)| level(p / "down" / l, b))
                .collect(),
            middle: middle
                .iter()
                .enumerate()
                .map(|(j, &(i, o))| ResidualBlock::new(&(p / "middle" / j), i, o))
                .collect(),
            up: up
                .iter()
                .enumerate()
                .map(|(l, b)| level(p / "up" / l, b))
                .collect(),
        }
    }

    fn info(
        name: &str,
        p: &nn::Path,
        c_in: i64,
        c_out: i64,
        widths: &[i64],
        depth: i64,
    ) -> ModuleInfo {
        let q = p.sub(name);
        let (down, middle, up) = unet_plan(c_in, c_out, widths, depth);
        let level = |path: nn::Path, label: String, blocks: &Vec<(i64, i64)>, extra: &str| {
            let mut kids: Vec<ModuleInfo> = Vec::new();
            if extra == "up" {
                kids.push(ModuleInfo::leaf(
                    "upsample",
                    &path.sub("upsample"),
                    "Upsample(x2, bilinear)".into(),
                ));
            }
            kids.extend(
                blocks
                    .iter()
                    .enumerate()
                    .map(|(j, &(i, o))| ResidualBlock::info(&j.to_string(), &path, i, o)),
            );
            if extra == "down" {
                kids.push(ModuleInfo::leaf(
                    "pool",
                    &path.sub("pool"),
                    "AvgPool2d(2x2)".into(),
                ));
            }
            ModuleInfo::node(&label, &path, format!("{} level", extra), kids)
        };
        let mut kids = Vec::new();
        let dq = q.sub("down");
        let down_levels = down
            .iter()
            .enumerate()
            .map(|(l, b)| level(dq.sub(l), l.to_string(), b, "down"))
            .collect();
        kids.push(ModuleInfo::node(
            "down",
            &dq,
            "DownBlocks".into(),
            down_levels,
        ));
        let mq = q.sub("middle");
        let mids = middle
            .iter()
            .enumerate()
            .map(|(j, &(i, o))| ResidualBlock::info(&j.to_string(), &mq, i, o))
            .collect();
        kids.push(ModuleInfo::node("middle", &mq, "MiddleBlocks".into(), mids));
        let uq = q.sub("up");
        let up_levels = up
            .iter()
            .enumerate()
            .map(|(l, b)| level(uq.sub(l), l.to_string(), b, "up"))
            .collect();
        kids.push(ModuleInfo::node("up", &uq, "UpBlocks".into(), up_levels));
        ModuleInfo::node(name, &q, "UNet".into(), kids)
    }

    pub fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let mut skips: Vec<Tensor> = Vec::new();
        let mut x = x.shallow_clone();
        for level in &self.down {
            for block in level {
                x = block.forward_t(&x, train);
                skips.push(x.shallow_clone());
            }
            x = x.avg_pool2d([2, 2], [2, 2], [0, 0], false, true, None);
        }
        for block in &self.middle {
            x = block.forward_t(&x, train);
        }
        for level in &self.up {
            let s = x.size();
            x = x.upsample_bilinear2d([s[2] * 2, s[3] * 2], false, None, None);
            for block in level {
                let skip = skips.pop().expect("one skip per down block");
                x = block.forward_t(&Tensor::cat(&[x, skip], 1), train);
            }
        }
        x
    }
}

/// The whole denoising network: `net(noisy_images, variances)`.
#[derive(Debug)]
pub struct Network {
    pub config: NetConfig,
    embedding: SinusoidalEmbedding,
    conv_in: nn::Conv2D,
    unet: UNet,
    conv_out: nn::Conv2D,
}

impl Network {
    pub fn new(p: &nn::Path, config: &NetConfig) -> Self {
        let e = config.embedding_dim;
        let conv_out = {
            let cfg = nn::ConvConfig {
                ws_init: nn::Init::Const(0.0),
                bs_init: nn::Init::Const(0.0),
                ..Default::default()
            };
            nn::conv2d(p / "conv_out", e, config.channels, 1, cfg)
        };
        Network {
            config: config.clone(),
            embedding: SinusoidalEmbedding::new(e, p.device()),
            conv_in: conv(p / "conv_in", config.channels, e, 1),
            unet: UNet::new(&(p / "unet"), 2 * e, e, &config.widths, config.block_depth),
            conv_out,
        }
    }

    /// The module tree, for `summary`.
    pub fn info(p: &nn::Path, config: &NetConfig) -> ModuleInfo {
        let e = config.embedding_dim;
        let s = config.image_size;
        ModuleInfo::node(
            "net",
            p,
            format!("Diffusion network ({}x{s}x{s})", config.channels),
            vec![
                ModuleInfo::leaf(
                    "embedding",
                    &p.sub("embedding"),
                    format!("SinusoidalEmbedding({e}) + Upsample(nearest, {s}x{s})"),
                ),
                conv_info("conv_in", p, config.channels, e, 1),
                UNet::info("unet", p, 2 * e, e, &config.widths, config.block_depth),
                ModuleInfo::leaf(
                    "conv_out",
                    &p.sub("conv_out"),
                    format!("Conv2d({e} -> {}, 1x1, zero-initialised)", config.channels),
                ),
            ],
        )
    }

    /// `x`: (N, C, H, W) noisy images; `variances`: (N, 1, 1, 1).
    pub fn forward_t(&self, x: &Tensor, variances: &Tensor, train: bool) -> Tensor {
        let size = x.size();
        let emb = self
            .embedding
            .forward(variances)
            .expand([size[0], self.embedding.dim, size[2], size[3]], false);
        let h = x.apply(&self.conv_in);
        let h = Tensor::cat(&[h, emb], 1);
        self.unet.forward_t(&h, train).apply(&self.conv_out)
    }
}
