//! KID's reference: the Inception features of a dataset's validation images, cached on disk
//! per image set and network under `<data root>/cache/features/`, so that the runs of a sweep
//! (and `ddim-sweep kid`) compute them once. A lock file makes concurrent runs wait for the
//! first one instead of computing them too; [`prepare`] lets a sweep compute them before
//! its runs start, with every core, instead of in one of its runs while the others wait.
//! A folder of real images (a program sweep's `sample_metrics: reference:`) is cached the
//! same way, keyed by its files' names, sizes and modification times ([`folder_features`]).

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
    cache_file(net, &format!("{}:valid", data.key))
}

/// The cache file of the features under `net` of the images `key` stands for.
fn cache_file(net: &Inception, key: &str) -> PathBuf {
    use sha2::{Digest, Sha256};
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
    locked_cache(&cache_path(net, data), data.valid_len(), || {
        net.features(&crate::data::to_float(&data.valid), BATCH)
    })
}

/// The features of the images of the folder `dir` (every PNG/JPEG in it and its subfolders,
/// sorted by path), from the cache or computed now (and cached), [`BATCH`] images read at a
/// time. The key is the folder's path and each file's name, size and modification time, so
/// an image added, removed or rewritten computes them again.
pub fn folder_features(net: &Inception, dir: &std::path::Path) -> anyhow::Result<Tensor> {
    let paths = super::features::images_in(dir, true);
    if paths.len() < 2 {
        anyhow::bail!(
            "{} holds {} PNG or JPEG image(s): the sample metrics need at least 2",
            dir.display(),
            paths.len()
        );
    }
    let mut key = format!("folder:{}", std::path::absolute(dir)?.display());
    for p in &paths {
        let (len, mtime) = crate::files::file_stamp(p);
        key.push_str(&format!("\n{}:{len}:{mtime}", p.display()));
    }
    let (f, _) = locked_cache(&cache_file(net, &key), paths.len() as i64, || {
        batched_features(net, &paths)
    })?;
    Ok(f)
}

/// The features of the images at `paths`, [`BATCH`] files decoded at a time (memory stays
/// bounded whatever the folder's size; the same features as decoding them all at once).
pub fn batched_features(net: &Inception, paths: &[PathBuf]) -> anyhow::Result<Tensor> {
    let mut out = Vec::new();
    for chunk in paths.chunks(BATCH as usize) {
        let images = super::features::load_files(chunk)?;
        out.push(net.features(&images, BATCH)?);
    }
    Ok(Tensor::cat(&out, 0))
}

/// The features cached at `path` (`rows` of them), or computed by `compute` and cached, under
/// the lock beside it (concurrent runs wait for the first); whether they were computed now.
fn locked_cache(
    path: &std::path::Path,
    rows: i64,
    compute: impl FnOnce() -> anyhow::Result<Tensor>,
) -> anyhow::Result<(Tensor, bool)> {
    let dir = path.parent().expect("a cache folder");
    fs_err::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let lock = fs_err::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path.with_extension("lock"))?;
    lock.lock()?;
    if let Some(f) = read_cached(path, rows) {
        return Ok((f, false));
    }
    let f = compute()?;
    let tmp = crate::files::tmp_path(path);
    Tensor::write_safetensors(&[("features", &f)], &tmp)?;
    crate::files::commit_tmp(&tmp, path)?;
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
    if !flags.measures_samples() || crate::device::resolve(flags.device)? != Device::Cpu {
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
