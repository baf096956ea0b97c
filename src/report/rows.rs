//! Pictures made of rows of images, each under a band naming its run: the samples of the
//! built-in trainer's runs, and the images a program's runs left (`sample_metrics:`).

use super::{charts, ReportRun};
use crate::store::program_file::ProgramFile;
use crate::track::grid;
use std::path::{Path, PathBuf};

/// Height of the band above each row that names its run.
pub const LABEL_H: u32 = 24;
/// Images per row.
pub const PER_ROW: usize = 8;

/// The rows stacked, each under its label, into one PNG at `path`.
pub fn stack(rows: &[(&str, image::RgbImage)], path: &Path) -> anyhow::Result<()> {
    let width = rows.iter().map(|(_, r)| r.width()).max().unwrap_or(1);
    let height: u32 = rows
        .iter()
        .map(|(_, r)| LABEL_H + r.height())
        .sum::<u32>()
        .max(1);
    let mut canvas = image::RgbImage::from_pixel(width, height, image::Rgb([255, 255, 255]));
    let mut y = 0;
    let mut labels: Vec<(&str, (i32, i32))> = Vec::new();
    for (label, r) in rows {
        labels.push((label, (4, y as i32 + 4)));
        image::imageops::replace(&mut canvas, r, 0, (y + LABEL_H) as i64);
        y += LABEL_H + r.height();
    }
    charts::save_labelled(canvas, &labels, path)
}

/// The folder (inside each run) where the program's runs leave their images, when their
/// sweep has `sample_metrics:` and its `program.json` reads.
pub fn program_images_folder(r: &ReportRun) -> Option<String> {
    r.entry.info.program.as_ref()?;
    let pf = ProgramFile::read(&r.entry.dir).ok()?;
    pf.sample_metrics.map(|m| m.images)
}

/// The final images a program run left in `folder` (those directly in it, else its last
/// `epoch_N/`), at most [`PER_ROW`].
pub fn program_images(r: &ReportRun, folder: &str) -> Vec<PathBuf> {
    let (_, mut paths) = crate::metrics::folders::final_images(&r.entry.dir.join(folder));
    paths.truncate(PER_ROW);
    paths
}

/// One row per run of the first [`PER_ROW`] images it left, each fitted into a square cell
/// of the first image's size (at most 128 px), then scaled up by a whole factor to a readable
/// size (nearest neighbour). An image that does not decode is named on stderr and left out.
pub fn program_rows(runs: &[(String, Vec<PathBuf>)], path: &Path) -> anyhow::Result<()> {
    let side = runs
        .iter()
        .flat_map(|(_, p)| p.iter())
        .find_map(|p| image::image_dimensions(p).ok())
        .map(|(w, h)| w.max(h).clamp(8, 128))
        .unwrap_or(64);
    let k = grid::readable_scale(side as i64) as u32;
    let mut rows: Vec<(&str, image::RgbImage)> = Vec::new();
    for (label, paths) in runs {
        let mut row =
            image::RgbImage::from_pixel(side * PER_ROW as u32, side, image::Rgb([255, 255, 255]));
        for (i, p) in paths.iter().enumerate() {
            let img = match image::open(p) {
                Ok(img) => img.to_rgb8(),
                Err(e) => {
                    eprintln!("warning: {}: left out of the report: {e}", p.display());
                    continue;
                }
            };
            let fitted = image::imageops::thumbnail(&img, side, side);
            let x = i as u32 * side + (side - fitted.width()) / 2;
            let y = (side - fitted.height()) / 2;
            image::imageops::replace(&mut row, &fitted, x as i64, y as i64);
        }
        rows.push((label.as_str(), grid::upscale_rgb(&row, k)));
    }
    stack(&rows, path)
}
