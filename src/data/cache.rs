//! The decoded-image cache: a dataset's splits decoded and resized once, stored as uint8
//! tensors with their metadata, shared by every run that uses the same files and
//! preprocessing.
//!
//! `<data root>/cache/datasets/<key>.safetensors` (tensors `train`, `valid`) and
//! `<key>.json` (what the key was made of, counts, skipped files). The key hashes the dataset
//! name, every file's path, size and modification time, the image size, the resize, the split
//! seed and the cap. Written atomically; a lock file makes a second process wait for the
//! first and then read its result instead of decoding again.

use super::sources::{Split, SPLIT_SEED};
use super::DataError;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::Instant;
use tch::{Kind, Tensor};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CacheMeta {
    pub dataset: String,
    pub key: String,
    pub image_size: i64,
    pub antialias: bool,
    pub split_seed: u64,
    pub train: i64,
    pub valid: i64,
    /// Files that could not be decoded (path: reason); they are left out, never silently.
    pub skipped: Vec<String>,
    pub seconds: f64,
}

pub struct Cached {
    pub meta: CacheMeta,
    pub train: Tensor,
    pub valid: Tensor,
    pub path: PathBuf,
    /// Whether this call decoded the images (false: read from the cache).
    pub built: bool,
}

pub fn cache_dir() -> PathBuf {
    super::data_root().join("cache").join("datasets")
}

/// The cache key of a split with its preprocessing.
pub fn key(dataset: &str, split: &Split, size: i64, antialias: bool) -> String {
    let mut h = Sha256::new();
    h.update(
        format!("ddim-sweep dataset v1\n{dataset}\n{size}\n{antialias}\n{SPLIT_SEED}\n").as_bytes(),
    );
    for (part, files) in [("train", &split.train), ("valid", &split.valid)] {
        h.update(part.as_bytes());
        for f in files {
            let (len, mtime) = crate::files::file_stamp(f);
            h.update(format!("{}\t{len}\t{mtime}\n", f.display()).as_bytes());
        }
    }
    let d = h.finalize();
    format!(
        "{dataset}-{size}px-{}",
        d.iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    )
}

/// Decodes `files` on `threads` threads: uint8 (N, 3, size, size) and the skipped files.
pub fn decode_all(
    files: &[PathBuf],
    size: i64,
    antialias: bool,
    threads: usize,
) -> (Tensor, Vec<String>) {
    let threads = threads.max(1).min(files.len().max(1));
    let chunk = files.len().div_ceil(threads).max(1);
    let results: Vec<Vec<(usize, Result<Tensor, String>)>> = std::thread::scope(|s| {
        let handles: Vec<_> = files
            .chunks(chunk)
            .enumerate()
            .map(|(c, part)| {
                s.spawn(move || {
                    let _guard = tch::no_grad_guard();
                    part.iter()
                        .enumerate()
                        .map(|(j, f)| (c * chunk + j, super::decode::load(f, size, antialias)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("decoder thread"))
            .collect()
    });
    let mut images = Vec::with_capacity(files.len());
    let mut skipped = Vec::new();
    for (i, r) in results.into_iter().flatten() {
        match r {
            Ok(t) => images.push(t),
            Err(e) => skipped.push(format!("{}: {e}", files[i].display())),
        }
    }
    let t = if images.is_empty() {
        Tensor::zeros([0, 3, size, size], (Kind::Uint8, tch::Device::Cpu))
    } else {
        Tensor::stack(&images, 0)
    };
    (t, skipped)
}

/// Loads the splits from the cache, or decodes them and fills it.
pub fn load_or_build(
    dataset: &str,
    split: &Split,
    size: i64,
    antialias: bool,
    threads: usize,
) -> Result<Cached, DataError> {
    let io = |e: std::io::Error| DataError::Other(format!("dataset cache: {e}"));
    let cache_err = |e: crate::error::Error| DataError::Other(format!("dataset cache: {e}"));
    let key = key(dataset, split, size, antialias);
    let dir = cache_dir();
    fs_err::create_dir_all(&dir).map_err(io)?;
    let path = dir.join(format!("{key}.safetensors"));
    let meta_path = dir.join(format!("{key}.json"));
    let lock = fs_err::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(format!("{key}.lock")))
        .map_err(io)?;
    lock.lock().map_err(io)?;
    if let (Ok(text), true) = (fs_err::read_to_string(&meta_path), path.exists()) {
        if let (Ok(meta), Ok(tensors)) = (
            serde_json::from_str::<CacheMeta>(&text),
            Tensor::read_safetensors(&path),
        ) {
            let get = |n: &str| {
                tensors
                    .iter()
                    .find(|(k, _)| k == n)
                    .map(|(_, t)| t.shallow_clone())
            };
            if let (Some(train), Some(valid)) = (get("train"), get("valid")) {
                return Ok(Cached {
                    meta,
                    train,
                    valid,
                    path,
                    built: false,
                });
            }
        }
    }
    let start = Instant::now();
    let (train, mut skipped) = decode_all(&split.train, size, antialias, threads);
    let (valid, skipped_valid) = decode_all(&split.valid, size, antialias, threads);
    skipped.extend(skipped_valid);
    let meta = CacheMeta {
        dataset: dataset.into(),
        key: key.clone(),
        image_size: size,
        antialias,
        split_seed: SPLIT_SEED,
        train: train.size()[0],
        valid: valid.size()[0],
        skipped,
        seconds: start.elapsed().as_secs_f64(),
    };
    let named = [
        ("train", train.shallow_clone()),
        ("valid", valid.shallow_clone()),
    ];
    let bytes = crate::tensorfile::encode(&named)
        .map_err(|e| DataError::Other(format!("dataset cache: {e:#}")))?;
    drop(named);
    crate::files::write_atomic(&path, &bytes).map_err(cache_err)?;
    crate::files::write_atomic(
        &meta_path,
        serde_json::to_string_pretty(&meta).unwrap().as_bytes(),
    )
    .map_err(cache_err)?;
    Ok(Cached {
        meta,
        train,
        valid,
        path,
        built: true,
    })
}

/// Size on disk of a cache file.
pub fn size_of(path: &Path) -> u64 {
    fs_err::metadata(path).map(|m| m.len()).unwrap_or(0)
}
