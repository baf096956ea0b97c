//! Datasets: a train and a validation split of RGB images, held in memory as uint8 tensors
//! (N, 3, H, W) on the training device; batches are converted to floats in [0, 1] on the fly.
//!
//! Only the built-in `shapes` dataset is implemented so far; `flowers`, `pets` and `folder`
//! are valid flag values whose loaders are not part of this version.

pub mod shapes;

use crate::flags::Flags;
use tch::{Device, Kind, Tensor};

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("dataset `{name}` is not available in this version of ddim-sweep (only the built-in `shapes` is); use dataset_name=shapes")]
    NotAvailable { name: String },
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
    let set = match flags.dataset_name.as_str() {
        "shapes" => shapes::load(flags),
        other => {
            return Err(DataError::NotAvailable { name: other.into() });
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
