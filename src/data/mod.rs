//! Datasets: a train and a validation split of RGB images, held in memory as uint8 tensors
//! (N, 3, H, W) on the training device; batches are converted to floats in [0, 1] on the fly.
//!
//! `shapes` and `icons` are drawn in memory; `flowers`, `pets` and `folder` are read from
//! their official layouts under `data_dir`, decoded and resized once into a shared cache
//! ([`cache`]).

pub mod archive;
pub mod availability;
pub mod cache;
pub mod decode;
pub mod fetch;
pub mod shapes;
pub mod sources;

use crate::flags::{Dataset, Flags};
use tch::{Device, Kind, Tensor};

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("dataset `{dataset}` not found at {}: expected {layout}{}", path.display(), fetch_hint(.dataset, .path))]
    Missing {
        dataset: String,
        path: std::path::PathBuf,
        layout: String,
    },
    #[error("{0}")]
    Other(String),
    #[error("dataset `{name}` has {train} training and {valid} validation images with max_images={max}: each split needs at least one image")]
    TooSmall {
        name: String,
        train: i64,
        valid: i64,
        max: i64,
    },
}

/// The two splits of a dataset, uint8 (N, 3, H, W).
#[derive(Debug)]
pub struct ImageSet {
    /// Whether the images came from the decoded cache (false: decoded or drawn just now).
    pub from_cache: bool,
    /// Files that could not be decoded and were left out (path: reason).
    pub skipped: Vec<String>,
    /// Identifies the images (dataset, files, preprocessing, split) for caches.
    pub key: String,
    pub name: String,
    pub train: Tensor,
    pub valid: Tensor,
}

impl ImageSet {
    pub fn train_len(&self) -> i64 {
        self.train.size()[0]
    }
    pub fn valid_len(&self) -> i64 {
        self.valid.size()[0]
    }
    pub fn to_device(self, device: Device) -> ImageSet {
        ImageSet {
            from_cache: self.from_cache,
            skipped: self.skipped,
            key: self.key,
            name: self.name,
            train: self.train.to_device(device),
            valid: self.valid.to_device(device),
        }
    }
}

/// Any decoded image as 8-bit RGB: grey is replicated, CMYK converted by the decoder, and
/// an alpha channel composited over white.
pub fn to_rgb(img: image::DynamicImage) -> image::RgbImage {
    if img.color().has_alpha() {
        let rgba = img.to_rgba8();
        let (w, h) = rgba.dimensions();
        let mut out = image::RgbImage::new(w, h);
        for (o, p) in out.pixels_mut().zip(rgba.pixels()) {
            let a = p[3] as u32;
            for k in 0..3 {
                o[k] = ((p[k] as u32 * a + 255 * (255 - a) + 127) / 255) as u8;
            }
        }
        out
    } else {
        img.to_rgb8()
    }
}

/// Floats in [0, 1] from uint8 images.
pub fn to_float(images: &Tensor) -> Tensor {
    images.to_kind(Kind::Float) / 255.0
}

/// Splits `n` images 80/20 in order: the first `ceil(0.8 n)` train.
pub fn split_point(n: i64) -> i64 {
    (n * 4 + 4) / 5
}

/// Loads (or generates) the dataset named by the flags, capped by `max_images`.
pub fn load(flags: &Flags) -> Result<ImageSet, DataError> {
    let set = match flags.dataset_name {
        Dataset::Shapes => shapes::load(shapes::Style::Shapes, flags),
        Dataset::Icons => shapes::load(shapes::Style::Icons, flags),
        dataset => {
            let name = dataset.name();
            let dir = dataset_dir(flags);
            let mut split = match dataset {
                Dataset::Flowers => sources::flowers(&dir)?,
                Dataset::Pets => sources::pets(&dir)?,
                _ => sources::folder(&dir)?,
            };
            if flags.max_images > 0 {
                let n_train = split_point(flags.max_images) as usize;
                split.train.truncate(n_train);
                split
                    .valid
                    .truncate(flags.max_images as usize - split.train.len().min(n_train));
            }
            let threads = threads(flags);
            let c = cache::load_or_build(name, &split, flags.image_size, flags.antialias, threads)?;
            ImageSet {
                from_cache: !c.built,
                skipped: c.meta.skipped.clone(),
                key: c.meta.key.clone(),
                name: name.into(),
                train: c.train,
                valid: c.valid,
            }
        }
    };
    if set.train_len() < 1 || set.valid_len() < 1 {
        return Err(DataError::TooSmall {
            name: set.name.clone(),
            train: set.train_len(),
            valid: set.valid_len(),
            max: flags.max_images,
        });
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    #[test]
    fn split() {
        assert_eq!(super::split_point(10), 8);
        assert_eq!(super::split_point(8189), 6552);
        assert_eq!(super::split_point(2), 2);
        assert_eq!(super::split_point(5), 4);
    }
}

/// A dataset's folder: `data_dir`, else `<data root>/<dataset_name>`.
pub fn dataset_dir(flags: &Flags) -> std::path::PathBuf {
    if flags.data_dir.is_empty() {
        data_root().join(flags.dataset_name.name())
    } else {
        std::path::PathBuf::from(&flags.data_dir)
    }
}

/// Decoding threads: `num_workers`, or every core for 0.
pub fn threads(flags: &Flags) -> usize {
    if flags.num_workers > 0 {
        flags.num_workers as usize
    } else {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    }
}

fn fetch_hint(dataset: &str, path: &std::path::Path) -> String {
    match dataset {
        "flowers" | "pets" => format!(
            "; download it with `ddim-sweep data fetch {dataset} --data-root {}`",
            path.parent()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| ".".into())
        ),
        _ => String::new(),
    }
}

/// Where datasets and caches live: `DDIM_DATA`, else `data/` under the working directory.
pub fn data_root() -> std::path::PathBuf {
    std::env::var_os("DDIM_DATA")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from("data"))
}

#[cfg(test)]
mod rgb_tests {
    #[test]
    fn alpha_over_white_and_grey() {
        let mut rgba = image::RgbaImage::new(2, 1);
        rgba.put_pixel(0, 0, image::Rgba([0, 0, 0, 0]));
        rgba.put_pixel(1, 0, image::Rgba([100, 200, 0, 128]));
        let rgb = super::to_rgb(image::DynamicImage::ImageRgba8(rgba));
        assert_eq!(
            rgb.get_pixel(0, 0).0,
            [255, 255, 255],
            "transparent is white"
        );
        // (100*128 + 255*127 + 127) / 255 = 177, (200*128 + ..) / 255 = 227
        assert_eq!(rgb.get_pixel(1, 0).0, [177, 227, 127]);
        let grey = image::GrayImage::from_pixel(1, 1, image::Luma([77]));
        assert_eq!(
            super::to_rgb(image::DynamicImage::ImageLuma8(grey))
                .get_pixel(0, 0)
                .0,
            [77, 77, 77]
        );
    }
}
