//! KID's reference: the Inception features of a dataset's validation images, cached on disk
//! per image set and network under `<data root>/cache/features/`, so that the runs of a sweep
//! (and `ddim-sweep kid`) compute them once. A lock file makes concurrent runs wait for the
//! first one instead of computing them too; [`prepare`] lets a sweep compute them before
//! its runs start, with every core, instead of in one of its runs while the others wait.

use super::features::{default_network_path, Inception, FEATURES};
use crate::data::ImageSet;
use crate::flags::Flags;
use anyhow::Context;
use std::path::PathBuf;
use std::time::Instant;
use tch::{Device, Tensor};

/// Images per Inception batch (the R original's KID batch).
pub const BATCH: i64 = 128;

/// The cache file (and its lock, beside it) of `data`'s validation features under `net`.
fn cache_path(net: &Inception, data: &ImageSet) -> PathBuf {
    use sha2::{Digest, Sha256};
    let key = format!("{}:valid", data.key);
    let digest =
        Sha256::digest(format!("{key}\n{}\n{}", net.path.display(), net.fingerprint).as_bytes());
    let name: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    crate::data::data_root()
        .join("cache")
        .join("features")
        .join(format!("{name}.safetensors"))
}

/// The features of `data`'s validation images (N, 2048), from the cache or computed (and
/// cached) now.
pub fn features(net: &Inception, data: &ImageSet) -> anyhow::Result<Tensor> {
    Ok(cached_or_computed(net, data)?.0)
}

/// [`features`], and whether they were computed now (not found in the cache).
fn cached_or_computed(net: &Inception, data: &ImageSet) -> anyhow::Result<(Tensor, bool)> {
    let path = cache_path(net, data);
    let dir = path.parent().expect("a cache folder");
    fs_err::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let lock = fs_err::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path.with_extension("lock"))?;
    lock.lock()?;
    if let Some(f) = read_cached(&path, data.valid_len()) {
        return Ok((f, false));
    }
    let f = net.features(&crate::data::to_float(&data.valid), BATCH)?;
    let tmp = crate::files::tmp_path(&path);
    Tensor::write_safetensors(&[("features", &f)], &tmp)?;
    crate::files::commit_tmp(&tmp, &path)?;
    Ok((f, true))
}

fn read_cached(path: &std::path::Path, images: i64) -> Option<Tensor> {
    let (_, f) = Tensor::read_safetensors(path).ok()?.pop()?;
    (f.size() == [images, FEATURES]).then_some(f)
}

/// What [`prepare`] did.
#[derive(Debug)]
pub struct Prepared {
    pub dataset: String,
    pub images: i64,
    /// Computed now (else they were cached already).
    pub computed: bool,
    pub seconds: f64,
}

/// Makes sure the KID reference of a run with `flags` is cached, on the CPU with every core
/// this process has. Nothing to do (None) for runs without KID or that train on a GPU,
/// where each run computes it in seconds.
pub fn prepare(flags: &Flags) -> anyhow::Result<Option<Prepared>> {
    if !flags.measures_kid() || crate::device::resolve(flags.device)? != Device::Cpu {
        return Ok(None);
    }
    let start = Instant::now();
    let data = crate::data::load(flags)?;
    let net = Inception::load(&default_network_path(), Device::Cpu)?;
    let (_, computed) = cached_or_computed(&net, &data)?;
    Ok(Some(Prepared {
        dataset: data.name.clone(),
        images: data.valid_len(),
        computed,
        seconds: start.elapsed().as_secs_f64(),
    }))
}
