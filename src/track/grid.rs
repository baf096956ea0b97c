//! Image grids: a batch of images in [0, 1] written as one PNG.

use anyhow::Context;
use image::ImageEncoder;
use std::path::Path;
use tch::{Kind, Tensor};

/// `images` (N, 3, H, W) floats in [0, 1], laid out `cols` per row (rows as needed), as
/// RGB bytes of a (rows*H, cols*W) picture.
pub fn grid_rgb(images: &Tensor, cols: i64) -> (u32, u32, Vec<u8>) {
    let s = images.size();
    let (n, h, w) = (s[0], s[2], s[3]);
    let cols = cols.max(1).min(n.max(1));
    let rows = (n + cols - 1) / cols;
    let bytes = (images
        .to_device(tch::Device::Cpu)
        .to_kind(Kind::Float)
        .clamp(0.0, 1.0)
        * 255.0)
        .round()
        .to_kind(Kind::Uint8);
    // pad to rows*cols images with black, then (rows, cols, 3, h, w) -> (rows, h, cols, w, 3)
    let pad = rows * cols - n;
    let bytes = if pad > 0 {
        Tensor::cat(
            &[
                bytes,
                Tensor::zeros([pad, 3, h, w], (Kind::Uint8, tch::Device::Cpu)),
            ],
            0,
        )
    } else {
        bytes
    };
    let laid = bytes
        .reshape([rows, cols, 3, h, w])
        .permute([0, 3, 1, 4, 2])
        .contiguous()
        .reshape([-1]);
    let data: Vec<u8> = Vec::<u8>::try_from(&laid).expect("uint8 tensor");
    ((cols * w) as u32, (rows * h) as u32, data)
}

/// The grid as PNG bytes, with its width and height.
pub fn grid_png(images: &Tensor, cols: i64) -> anyhow::Result<(Vec<u8>, u32, u32)> {
    let (width, height, data) = grid_rgb(images, cols);
    Ok((rgb_png(&data, width, height)?, width, height))
}

/// RGB bytes of a (width, height) picture as PNG bytes.
pub fn rgb_png(rgb: &[u8], width: u32, height: u32) -> anyhow::Result<Vec<u8>> {
    let mut png = Vec::new();
    image::codecs::png::PngEncoder::new(&mut png)
        .write_image(rgb, width, height, image::ExtendedColorType::Rgb8)
        .context("encoding PNG")?;
    Ok(png)
}

/// Writes PNG bytes to `path`, atomically (its folder made when missing).
pub fn write_png(png: &[u8], path: &Path) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        fs_err::create_dir_all(dir)?;
    }
    crate::files::write_atomic(path, png)?;
    Ok(())
}

/// Writes the grid as a PNG, atomically.
pub fn save_grid(images: &Tensor, cols: i64, path: &Path) -> anyhow::Result<()> {
    let (png, _, _) = grid_png(images, cols)?;
    write_png(&png, path)
}

/// Pictures for people show each image at least this many pixels wide.
pub const READABLE_PX: i64 = 64;

/// The whole factor that brings an image of side `side` to at least [`READABLE_PX`].
pub fn readable_scale(side: i64) -> i64 {
    ((READABLE_PX + side - 1) / side.max(1)).max(1)
}

/// `images` (N, C, H, W) scaled up `k` times in each direction, nearest neighbour (every
/// pixel becomes a k x k block: nothing is blurred or invented).
pub fn upscale(images: &Tensor, k: i64) -> Tensor {
    if k <= 1 {
        return images.shallow_clone();
    }
    images
        .repeat_interleave_self_int(k, Some(2), None)
        .repeat_interleave_self_int(k, Some(3), None)
}

/// An RGB picture scaled up `k` times in each direction, nearest neighbour (as [`upscale`]).
pub fn upscale_rgb(img: &image::RgbImage, k: u32) -> image::RgbImage {
    image::imageops::resize(
        img,
        img.width() * k,
        img.height() * k,
        image::imageops::FilterType::Nearest,
    )
}

/// [`grid_png`] with each image scaled to a readable size ([`readable_scale`]).
pub fn readable_grid_png(images: &Tensor, cols: i64) -> anyhow::Result<(Vec<u8>, u32, u32)> {
    let k = readable_scale(*images.size().last().unwrap_or(&1));
    grid_png(&upscale(images, k), cols)
}

/// [`save_grid`] with each image scaled to a readable size.
pub fn save_readable_grid(images: &Tensor, cols: i64, path: &Path) -> anyhow::Result<()> {
    let (png, _, _) = readable_grid_png(images, cols)?;
    write_png(&png, path)
}

/// The side of the smallest square grid holding `n` images.
pub fn square_cols(n: i64) -> i64 {
    (n as f64).sqrt().ceil().max(1.0) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upscale_is_nearest_neighbour_by_whole_factors() {
        assert_eq!(readable_scale(16), 4);
        assert_eq!(readable_scale(24), 3);
        assert_eq!(readable_scale(32), 2);
        assert_eq!(readable_scale(64), 1);
        assert_eq!(readable_scale(100), 1);
        let x = Tensor::from_slice(&[0.0f32, 1.0, 0.5, 0.25]).reshape([1, 1, 2, 2]);
        let y = upscale(&x, 3);
        assert_eq!(y.size(), [1, 1, 6, 6]);
        for (r, c, v) in [
            (0, 0, 0.0),
            (2, 2, 0.0),
            (0, 3, 1.0),
            (5, 0, 0.5),
            (5, 5, 0.25),
        ] {
            assert_eq!(y.double_value(&[0, 0, r, c]), v, "({r}, {c})");
        }
    }

    #[test]
    fn layout() {
        // 3 images 2x2: image k filled with value k/4 in channel 0
        let imgs = Tensor::zeros([3, 3, 2, 2], (Kind::Float, tch::Device::Cpu));
        for k in 0..3 {
            let _ = imgs.get(k).get(0).fill_(k as f64 / 4.0);
        }
        let (w, h, data) = grid_rgb(&imgs, 2);
        assert_eq!((w, h), (4, 4));
        let px = |x: usize, y: usize| data[(y * 4 + x) * 3];
        assert_eq!(px(0, 0), 0);
        assert_eq!(px(2, 0), 64); // image 1 at column 1
        assert_eq!(px(0, 2), 128); // image 2 at row 1
        assert_eq!(px(3, 3), 0); // padding
        assert_eq!(square_cols(36), 6);
        assert_eq!(square_cols(37), 7);
    }
}
