//! The built-in, deterministic datasets, drawn at any image size:
//! - `shapes`: one to three coloured shapes (discs, squares, triangles, rings) of any size,
//!   place and rotation on two-colour gradients;
//! - `icons`: one large, upright shape near the centre on a plain background, its colour
//!   well apart from the background's: an easy set that a few minutes of CPU training learns
//!   well enough to draw recognisable shapes (the demo's).
//!
//! Image `i` depends only on `i`, the set and the image size (its own ChaCha8 stream), never
//! on the run's seed: every run sees the same dataset. [`SHAPES_IMAGES`] images, the first
//! 80% for training and the rest for validation; `max_images` caps the total before the split.

use super::{split_point, ImageSet};
use crate::flags::Flags;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tch::Tensor;

/// Images in the dataset before any `max_images` cap.
pub const SHAPES_IMAGES: i64 = 4000;

/// Which built-in set to draw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    Shapes,
    Icons,
}

impl Style {
    fn name(self) -> &'static str {
        match self {
            Style::Shapes => "shapes",
            Style::Icons => "icons",
        }
    }

    fn stream(self) -> u64 {
        match self {
            Style::Shapes => 0x5348_4150_4553, // "SHAPES"
            Style::Icons => 0x0049_434f_4e53,  // "ICONS"
        }
    }
}

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

impl Kind {
    fn random(rng: &mut ChaCha8Rng) -> Kind {
        match rng.random_range(0..4) {
            0 => Kind::Disc,
            1 => Kind::Square,
            2 => Kind::Triangle,
            _ => Kind::Ring,
        }
    }
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

/// A picture: the background's colour at a point, and shapes drawn over it in order.
struct Scene {
    background: Box<dyn Fn(f32, f32) -> [f32; 3]>,
    shapes: Vec<Shape>,
}

/// `shapes`: a two-colour gradient and one to three shapes anywhere, any size and rotation.
fn shapes_scene(rng: &mut ChaCha8Rng) -> Scene {
    let bg0 = random_color(rng);
    let bg1 = random_color(rng);
    let grad_angle: f32 = rng.random::<f32>() * std::f32::consts::TAU;
    let (gx, gy) = (grad_angle.cos(), grad_angle.sin());
    let count = rng.random_range(1..=3);
    let shapes = (0..count)
        .map(|_| Shape {
            kind: Kind::random(rng),
            cx: rng.random_range(0.2..0.8),
            cy: rng.random_range(0.2..0.8),
            r: rng.random_range(0.12..0.3),
            angle: rng.random::<f32>() * std::f32::consts::TAU,
            color: random_color(rng),
        })
        .collect();
    let background = move |x: f32, y: f32| {
        let g = (((x - 0.5) * gx + (y - 0.5) * gy) * 0.7 + 0.5).clamp(0.0, 1.0);
        std::array::from_fn(|k| bg0[k] * (1.0 - g) + bg1[k] * g)
    };
    Scene {
        background: Box::new(background),
        shapes,
    }
}

/// The least colour difference (sum over RGB of absolute differences) between an icon and
/// its background.
const ICON_CONTRAST: f32 = 1.0;

/// `icons`: a plain background and one upright shape near the centre, large, of a colour
/// at least [`ICON_CONTRAST`] away from the background.
fn icons_scene(rng: &mut ChaCha8Rng) -> Scene {
    let bg = random_color(rng);
    let mut color = random_color(rng);
    while (0..3).map(|k| (color[k] - bg[k]).abs()).sum::<f32>() < ICON_CONTRAST {
        color = random_color(rng);
    }
    let kind = Kind::random(rng);
    let (cx, cy) = (rng.random_range(0.45..0.55), rng.random_range(0.45..0.55));
    let r = rng.random_range(0.30..0.36);
    // A triangle's box reaches r above its centre and r/2 below: centre the box.
    let lift = if matches!(kind, Kind::Triangle) {
        0.25 * r
    } else {
        0.0
    };
    let shape = Shape {
        kind,
        cx,
        cy: cy + lift,
        r,
        // upright: triangles point up (image rows grow downwards)
        angle: std::f32::consts::PI,
        color,
    };
    Scene {
        background: Box::new(move |_, _| bg),
        shapes: vec![shape],
    }
}

/// One image of `style`, HWC floats in [0, 1], 2x2 supersampled.
pub fn draw(style: Style, index: u64, size: usize) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(style.stream());
    rng.set_stream(index);
    let scene = match style {
        Style::Shapes => shapes_scene(&mut rng),
        Style::Icons => icons_scene(&mut rng),
    };
    let mut out = vec![0f32; size * size * 3];
    let sub = [0.25f32, 0.75];
    for py in 0..size {
        for px in 0..size {
            let mut acc = [0f32; 3];
            for sy in sub {
                for sx in sub {
                    let x = (px as f32 + sx) / size as f32;
                    let y = (py as f32 + sy) / size as f32;
                    let mut c = (scene.background)(x, y);
                    for s in &scene.shapes {
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
pub fn render(style: Style, range: std::ops::Range<i64>, size: usize, threads: usize) -> Tensor {
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
                    let pixels = draw(style, (start + j) as u64, size);
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

pub fn load(style: Style, flags: &Flags) -> ImageSet {
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
        key: format!("{}-v1-{size}px-{total}", style.name()),
        name: style.name().into(),
        train: render(style, 0..cut, size, threads),
        valid: render(style, cut..total, size, threads),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_varied() {
        for style in [Style::Shapes, Style::Icons] {
            let a = render(style, 0..6, 16, 1);
            let b = render(style, 0..6, 16, 3);
            assert_eq!(a.size(), vec![6, 3, 16, 16]);
            assert!(a.equal(&b), "thread count must not change the images");
            // images differ from each other
            let first = a.get(0);
            for i in 1..6 {
                assert!(!a.get(i).equal(&first));
            }
            // image 3 is the same whether drawn alone or among others
            assert!(render(style, 3..4, 16, 1).get(0).equal(&a.get(3)));
            // a decent spread of values
            let f = a.to_kind(tch::Kind::Float);
            assert!(f.std(true).double_value(&[]) > 20.0);
        }
    }

    /// Computed from the PNGs that the first release's `data export` wrote.
    const SHAPES_CHECKSUM: i64 = 313_171_132;

    /// `shapes` keeps the images of its first release (runs trained on it stay comparable):
    /// the sum of pixel values times their position, over the first 6 images at 16 px.
    #[test]
    fn shapes_images_unchanged() {
        let a = render(Style::Shapes, 0..6, 16, 1)
            .to_kind(tch::Kind::Int64)
            .flatten(0, -1);
        let weights =
            Tensor::arange(a.size()[0], (tch::Kind::Int64, tch::Device::Cpu)).remainder(1009);
        let checksum = (a * weights).sum(tch::Kind::Int64).int64_value(&[]);
        assert_eq!(checksum, SHAPES_CHECKSUM);
    }

    /// An icon: a plain background (the four corners alike) and one shape of a colour well
    /// apart from it, covering a good part of the image around its centre.
    #[test]
    fn icons_are_one_clear_shape_on_a_plain_background() {
        let size = 16;
        for i in 0..40u64 {
            let img = draw(Style::Icons, i, size);
            let px = |x: usize, y: usize| -> [f32; 3] {
                let o = (y * size + x) * 3;
                [img[o], img[o + 1], img[o + 2]]
            };
            let bg = px(0, 0);
            for corner in [px(size - 1, 0), px(0, size - 1), px(size - 1, size - 1)] {
                assert_eq!(corner, bg, "icon {i}: corners differ");
            }
            // at least half covered by the shape
            let differs = |c: [f32; 3]| {
                (0..3).map(|k| (c[k] - bg[k]).abs()).sum::<f32>() >= ICON_CONTRAST / 2.0
            };
            let shape: Vec<(usize, usize)> = (0..size * size)
                .map(|p| (p % size, p / size))
                .filter(|&(x, y)| differs(px(x, y)))
                .collect();
            assert!(
                (30..=170).contains(&shape.len()),
                "icon {i}: {} shape pixels",
                shape.len()
            );
            // the shape's box is centred within 1.5 px
            for axis in [0, 1] {
                let at = |p: &(usize, usize)| if axis == 0 { p.0 } else { p.1 };
                let lo = shape.iter().map(at).min().unwrap() as f32;
                let hi = shape.iter().map(at).max().unwrap() as f32 + 1.0;
                let centre = (lo + hi) / 2.0;
                assert!(
                    (centre - size as f32 / 2.0).abs() <= 1.5,
                    "icon {i}: box {lo}..{hi}"
                );
            }
        }
    }
}
