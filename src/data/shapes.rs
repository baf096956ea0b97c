//! `shapes`: a built-in, deterministic dataset of coloured shapes (discs, squares, triangles,
//! rings) on varied backgrounds (two-colour gradients), drawn at any image size.
//!
//! Image `i` depends only on `i` and the image size (its own ChaCha8 stream), never on the
//! run's seed: every run sees the same dataset. [`SHAPES_IMAGES`] images, the first 80% for
//! training and the rest for validation; `max_images` caps the total before the split.

use super::{split_point, ImageSet};
use crate::flags::Flags;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tch::Tensor;

/// Images in the dataset before any `max_images` cap.
pub const SHAPES_IMAGES: i64 = 4000;
const STREAM: u64 = 0x5348_4150_4553; // "SHAPES"

#[derive(Clone, Copy)]
enum Kind {
    Disc,
    Square,
    Triangle,
    Ring,
}

struct Shape {
    kind: Kind,
    cx: f32,
    cy: f32,
    r: f32,
    angle: f32,
    color: [f32; 3],
}

fn random_color(rng: &mut ChaCha8Rng) -> [f32; 3] {
    [rng.random(), rng.random(), rng.random()]
}

impl Shape {
    /// Whether the point (x, y) in [0, 1]^2 is inside.
    fn contains(&self, x: f32, y: f32) -> bool {
        let (dx, dy) = (x - self.cx, y - self.cy);
        let (c, s) = (self.angle.cos(), self.angle.sin());
        let (u, v) = (c * dx + s * dy, -s * dx + c * dy);
        match self.kind {
            Kind::Disc => dx * dx + dy * dy <= self.r * self.r,
            Kind::Ring => {
                let d2 = dx * dx + dy * dy;
                d2 <= self.r * self.r && d2 >= (0.55 * self.r) * (0.55 * self.r)
            }
            Kind::Square => u.abs() <= self.r * 0.8 && v.abs() <= self.r * 0.8,
            Kind::Triangle => {
                // equilateral, pointing up in its own frame
                let h = self.r;
                v >= -0.5 * h && v <= h && u.abs() <= (h - v) / 3f32.sqrt()
            }
        }
    }
}

/// One image, HWC floats in [0, 1], 2x2 supersampled.
pub fn draw(index: u64, size: usize) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(STREAM);
    rng.set_stream(index);
    let bg0 = random_color(&mut rng);
    let bg1 = random_color(&mut rng);
    let grad_angle: f32 = rng.random::<f32>() * std::f32::consts::TAU;
    let (gx, gy) = (grad_angle.cos(), grad_angle.sin());
    let count = rng.random_range(1..=3);
    let shapes: Vec<Shape> = (0..count)
        .map(|_| Shape {
            kind: match rng.random_range(0..4) {
                0 => Kind::Disc,
                1 => Kind::Square,
                2 => Kind::Triangle,
                _ => Kind::Ring,
            },
            cx: rng.random_range(0.2..0.8),
            cy: rng.random_range(0.2..0.8),
            r: rng.random_range(0.12..0.3),
            angle: rng.random::<f32>() * std::f32::consts::TAU,
            color: random_color(&mut rng),
        })
        .collect();
    let mut out = vec![0f32; size * size * 3];
    let sub = [0.25f32, 0.75];
    for py in 0..size {
        for px in 0..size {
            let mut acc = [0f32; 3];
            for sy in sub {
                for sx in sub {
                    let x = (px as f32 + sx) / size as f32;
                    let y = (py as f32 + sy) / size as f32;
                    let g = (((x - 0.5) * gx + (y - 0.5) * gy) * 0.7 + 0.5).clamp(0.0, 1.0);
                    let mut c = [0f32; 3];
                    for k in 0..3 {
                        c[k] = bg0[k] * (1.0 - g) + bg1[k] * g;
                    }
                    for s in &shapes {
                        if s.contains(x, y) {
                            c = s.color;
                        }
                    }
                    for k in 0..3 {
                        acc[k] += c[k] * 0.25;
                    }
                }
            }
            let o = (py * size + px) * 3;
            out[o..o + 3].copy_from_slice(&acc);
        }
    }
    out
}

/// Images `range` as uint8 NCHW, drawn on `threads` threads.
pub fn render(range: std::ops::Range<i64>, size: usize, threads: usize) -> Tensor {
    let n = (range.end - range.start).max(0) as usize;
    let per = size * size * 3;
    let mut bytes = vec![0u8; n * per];
    let threads = threads.max(1).min(n.max(1));
    let chunk = n.div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        for (c, part) in bytes.chunks_mut(chunk * per).enumerate() {
            let start = range.start as usize + c * chunk;
            scope.spawn(move || {
                for (j, img) in part.chunks_mut(per).enumerate() {
                    let pixels = draw((start + j) as u64, size);
                    for (dst, src) in img.iter_mut().zip(pixels) {
                        *dst = (src * 255.0).round().clamp(0.0, 255.0) as u8;
                    }
                }
            });
        }
    });
    Tensor::from_slice(&bytes)
        .reshape([n as i64, size as i64, size as i64, 3])
        .permute([0, 3, 1, 2])
        .contiguous()
}

pub fn load(flags: &Flags) -> ImageSet {
    let total = if flags.max_images > 0 {
        flags.max_images.min(SHAPES_IMAGES)
    } else {
        SHAPES_IMAGES
    };
    let cut = split_point(total);
    let size = flags.image_size as usize;
    let threads = super::threads(flags);
    ImageSet {
        from_cache: false,
        skipped: Vec::new(),
        key: format!("shapes-v1-{size}px-{total}"),
        name: "shapes".into(),
        train: render(0..cut, size, threads),
        valid: render(cut..total, size, threads),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_varied() {
        let a = render(0..6, 16, 1);
        let b = render(0..6, 16, 3);
        assert_eq!(a.size(), vec![6, 3, 16, 16]);
        assert!(a.equal(&b), "thread count must not change the images");
        // images differ from each other
        let first = a.get(0);
        for i in 1..6 {
            assert!(!a.get(i).equal(&first));
        }
        // image 3 is the same whether drawn alone or among others
        assert!(render(3..4, 16, 1).get(0).equal(&a.get(3)));
        // a decent spread of values
        let f = a.to_kind(tch::Kind::Float);
        assert!(f.std(true).double_value(&[]) > 20.0);
    }
}
