//! Decoding one image file: RGB, centre crop to the shorter side, bilinear resize (without
//! antialias, as the R original; with it when asked) to `size` x `size`, uint8 CHW.

use std::path::Path;
use tch::{Device, Kind, Tensor};

/// The centre square of `w` x `h`: (x, y, side).
pub fn centre_crop(w: u32, h: u32) -> (u32, u32, u32) {
    let side = w.min(h);
    ((w - side) / 2, (h - side) / 2, side)
}

/// Crops and resizes an RGB image to uint8 (3, size, size).
pub fn preprocess(rgb: &image::RgbImage, size: i64, antialias: bool) -> Tensor {
    let (x, y, side) = centre_crop(rgb.width(), rgb.height());
    let crop = image::imageops::crop_imm(rgb, x, y, side, side).to_image();
    let t = Tensor::from_slice(crop.as_raw())
        .reshape([1, side as i64, side as i64, 3])
        .permute([0, 3, 1, 2])
        .to_kind(Kind::Float);
    let r = if antialias {
        t.internal_upsample_bilinear2d_aa([size, size], false, None, None)
    } else {
        t.upsample_bilinear2d([size, size], false, None, None)
    };
    r.round()
        .clamp(0.0, 255.0)
        .to_kind(Kind::Uint8)
        .squeeze_dim(0)
        .to_device(Device::Cpu)
}

/// Decodes a file; an unreadable one gives its error text.
pub fn load(path: &Path, size: i64, antialias: bool) -> Result<Tensor, String> {
    let img = image::ImageReader::open(path)
        .map_err(|e| e.to_string())?
        .with_guessed_format()
        .map_err(|e| e.to_string())?
        .decode()
        .map_err(|e| e.to_string())?;
    Ok(preprocess(&super::to_rgb(img), size, antialias))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crop_and_resize_by_hand() {
        assert_eq!(centre_crop(6, 4), (1, 0, 4));
        assert_eq!(centre_crop(4, 7), (0, 1, 4));
        // 6x4 image whose red channel is 10 * column: the crop keeps columns 1..5 (10..40);
        // bilinear 4 -> 2 without antialias (align_corners false) samples at source x = 0.5 and
        // 2.5: (10 + 20) / 2 = 15 and (30 + 40) / 2 = 35.
        let img =
            image::RgbImage::from_fn(6, 4, |x, y| image::Rgb([(10 * x) as u8, (50 * y) as u8, 7]));
        let t = preprocess(&img, 2, false);
        assert_eq!(t.size(), vec![3, 2, 2]);
        let px = |c: i64, y: i64, x: i64| t.int64_value(&[c, y, x]);
        assert_eq!((px(0, 0, 0), px(0, 0, 1)), (15, 35));
        // green: rows 0..4 are 0, 50, 100, 150: (0 + 50) / 2 = 25, (100 + 150) / 2 = 125
        assert_eq!((px(1, 0, 0), px(1, 1, 0)), (25, 125));
        assert_eq!(px(2, 1, 1), 7);
        // antialias: a triangle filter over 2 source pixels each side, centred at 1.0:
        // weights 0.75, 0.75, 0.25 on 10, 20, 30 -> 30 / 1.75 = 17.1
        let aa = preprocess(&img, 2, true);
        assert_eq!(aa.int64_value(&[0, 0, 0]), 17);
    }

    /// A CMYK JPEG (Adobe marker, as Photoshop writes them and as a few Oxford-IIIT Pet images
    /// are) decodes to the RGB that Pillow gives: cyan, magenta, yellow quadrants and a grey one
    /// (tests/fixtures/cmyk.jpg, 16x16, written by Pillow 13).
    #[test]
    fn cmyk_jpeg_decodes_to_rgb() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cmyk.jpg");
        let t = load(&path, 16, false).unwrap();
        assert_eq!(t.size(), vec![3, 16, 16]);
        let pillow = [
            ((4, 4), [0, 255, 255]),
            ((12, 4), [255, 0, 255]),
            ((4, 12), [255, 255, 0]),
            ((12, 12), [127, 127, 127]),
        ];
        for ((x, y), want) in pillow {
            for (c, w) in want.iter().enumerate() {
                let got = t.int64_value(&[c as i64, y, x]);
                assert!(
                    (got - w).abs() <= 3,
                    "({x},{y}) channel {c}: {got} vs Pillow's {w}"
                );
            }
        }
    }
}
