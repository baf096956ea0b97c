//! The image files of each dataset in its official layout, and their split.
//!
//! - flowers (Oxford Flowers 102): `jpg/image_NNNNN.jpg` (from `102flowers.tgz`), all 8,189
//!   images, 80% train / 20% validation by a seeded random draw;
//! - pets (Oxford-IIIT Pet): `images/*.jpg` with `annotations/trainval.txt` (train) and
//!   `annotations/test.txt` (validation);
//! - folder: every PNG/JPEG under the folder, 80/20 by the same seeded draw.

use super::DataError;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use std::path::{Path, PathBuf};

/// The split draw's seed (the R original's `torch_manual_seed(1)`): fixed, so every run of a dataset
/// shares one split and one cache whatever its own seed.
pub const SPLIT_SEED: u64 = 1;

#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    pub train: Vec<PathBuf>,
    pub valid: Vec<PathBuf>,
}

/// A PNG or JPEG file name.
pub fn is_image(p: &Path) -> bool {
    p.extension()
        .map(|e| {
            matches!(
                e.to_string_lossy().to_lowercase().as_str(),
                "png" | "jpg" | "jpeg"
            )
        })
        .unwrap_or(false)
}

/// 80/20 of `files` (sorted first) by a seeded shuffle.
pub fn seeded_split(mut files: Vec<PathBuf>) -> Split {
    files.sort();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(SPLIT_SEED);
    files.shuffle(&mut rng);
    let cut = super::split_point(files.len() as i64) as usize;
    let valid = files.split_off(cut);
    Split {
        train: files,
        valid,
    }
}

fn missing(dataset: &str, path: &Path, layout: &str) -> DataError {
    DataError::Missing {
        dataset: dataset.into(),
        path: path.to_path_buf(),
        layout: layout.into(),
    }
}

pub const FLOWERS_LAYOUT: &str =
    "jpg/image_00001.jpg ... (the 8,189 images of 102flowers.tgz), or 102flowers.tgz itself";
pub const PETS_LAYOUT: &str = "images/*.jpg and annotations/trainval.txt, annotations/test.txt (from images.tar.gz and annotations.tar.gz)";

pub fn flowers(dir: &Path) -> Result<Split, DataError> {
    let jpg = dir.join("jpg");
    if !jpg.is_dir() {
        let archive = dir.join("102flowers.tgz");
        if archive.is_file() {
            super::archive::extract_tgz(&archive, dir).map_err(|e| {
                DataError::Other(format!("extracting {}: {e:#}", archive.display()))
            })?;
        } else {
            return Err(missing("flowers", dir, FLOWERS_LAYOUT));
        }
    }
    let files: Vec<PathBuf> = fs_err::read_dir(&jpg)
        .map_err(|_| missing("flowers", dir, FLOWERS_LAYOUT))?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            let n = p.file_name().unwrap_or_default().to_string_lossy();
            n.starts_with("image_") && n.ends_with(".jpg")
        })
        .collect();
    if files.is_empty() {
        return Err(missing("flowers", dir, FLOWERS_LAYOUT));
    }
    Ok(seeded_split(files))
}

fn pets_list(dir: &Path, list: &str) -> Result<Vec<PathBuf>, DataError> {
    let path = dir.join("annotations").join(list);
    let text = fs_err::read_to_string(&path).map_err(|_| missing("pets", dir, PETS_LAYOUT))?;
    Ok(text
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| !n.starts_with('#'))
        .map(|n| dir.join("images").join(format!("{n}.jpg")))
        .collect())
}

pub fn pets(dir: &Path) -> Result<Split, DataError> {
    if !dir.join("images").is_dir() {
        return Err(missing("pets", dir, PETS_LAYOUT));
    }
    Ok(Split {
        train: pets_list(dir, "trainval.txt")?,
        valid: pets_list(dir, "test.txt")?,
    })
}

pub fn folder(dir: &Path) -> Result<Split, DataError> {
    if !dir.is_dir() {
        return Err(missing(
            "folder",
            dir,
            "a folder of PNG/JPEG images (any depth)",
        ));
    }
    let files: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file() && is_image(e.path()))
        .map(|e| e.into_path())
        .filter(|p| !p.components().any(|c| c.as_os_str() == "cache"))
        .collect();
    if files.is_empty() {
        return Err(missing(
            "folder",
            dir,
            "a folder of PNG/JPEG images (any depth)",
        ));
    }
    Ok(seeded_split(files))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_is_deterministic_80_20() {
        let files: Vec<PathBuf> = (0..10)
            .map(|i| PathBuf::from(format!("f{i}.png")))
            .collect();
        let a = seeded_split(files.clone());
        let mut rev = files.clone();
        rev.reverse();
        let b = seeded_split(rev);
        assert_eq!(a, b, "independent of listing order");
        assert_eq!((a.train.len(), a.valid.len()), (8, 2));
        let mut all: Vec<PathBuf> = a.train.iter().chain(&a.valid).cloned().collect();
        all.sort();
        let mut want = files;
        want.sort();
        assert_eq!(all, want);
    }
}
