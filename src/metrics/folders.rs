//! The sample metrics of the images a program left in its run folder (`sample_metrics:`):
//! its final images against a reference folder, and each `epoch_N/` subfolder at epoch N.
//! The final images are the ones directly in the folder; when there are none, those of its
//! last `epoch_N/`.

use super::names::{measure_samples, Metric};
use super::reference::{batched_features, folder_features};
use super::Inception;
use anyhow::bail;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What [`score`] measured.
#[derive(Debug, Default, Serialize)]
pub struct Scores {
    /// The final values by metric name (`kid`).
    #[serde(rename = "final")]
    pub last: BTreeMap<String, f64>,
    /// Per epoch folder: (N, values by per-epoch column, `val_kid`).
    pub epochs: Vec<(i64, BTreeMap<String, f64>)>,
    /// How many final images were scored, and where they were.
    pub images: usize,
    pub from: PathBuf,
    pub reference_images: i64,
}

/// The `epoch_N/` subfolders of `dir`, by N.
pub fn epoch_folders(dir: &Path) -> Vec<(i64, PathBuf)> {
    let mut out: Vec<(i64, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let n = name.strip_prefix("epoch_")?.parse::<i64>().ok()?;
            Some((n, e.path()))
        })
        .collect();
    out.sort();
    out
}

/// The final images of `dir`: those directly in it, else those of its last `epoch_N/`.
pub fn final_images(dir: &Path) -> (PathBuf, Vec<PathBuf>) {
    let top = super::features::images_in(dir, false);
    if !top.is_empty() {
        return (dir.to_path_buf(), top);
    }
    match epoch_folders(dir).pop() {
        Some((_, d)) => {
            let images = super::features::images_in(&d, false);
            (d, images)
        }
        None => (dir.to_path_buf(), Vec::new()),
    }
}

/// Scores the images in `dir` against the images of `reference` (features cached across the
/// runs of a sweep) with every sample metric.
pub fn score(net: &Inception, dir: &Path, reference: &Path) -> anyhow::Result<Scores> {
    if !dir.is_dir() {
        bail!(
            "sample_metrics: the program left no folder {} (write its images there as PNG or JPEG files)",
            dir.display()
        );
    }
    let real = folder_features(net, reference)?;
    let (from, paths) = final_images(dir);
    if paths.len() < 2 {
        bail!(
            "sample_metrics: {} holds {} PNG or JPEG image(s) (and no epoch_N/ folder with more): the sample metrics need at least 2",
            from.display(),
            paths.len()
        );
    }
    let generated = batched_features(net, &paths)?;
    let last = measure_samples(&real, &generated)
        .into_iter()
        .map(|(m, v)| (m.name.to_string(), v))
        .collect();
    let mut epochs = Vec::new();
    for (n, d) in epoch_folders(dir) {
        let paths = super::features::images_in(&d, false);
        if paths.len() < 2 {
            continue;
        }
        let generated = batched_features(net, &paths)?;
        let values = measure_samples(&real, &generated)
            .into_iter()
            .map(|(m, v): (&Metric, f64)| (m.column.to_string(), v))
            .collect();
        epochs.push((n, values));
    }
    Ok(Scores {
        last,
        epochs,
        images: paths.len(),
        from,
        reference_images: real.size()[0],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(p: &Path) {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, b"").unwrap();
    }

    /// Epoch folders by number (10 after 2), other names ignored; the final images are the
    /// top-level ones, else the last epoch's.
    #[test]
    fn epoch_folders_and_final_images() {
        let d = tempfile::tempdir().unwrap();
        for e in ["epoch_2", "epoch_10", "epoch_x", "other"] {
            touch(&d.path().join(e).join("a.png"));
        }
        let epochs: Vec<i64> = epoch_folders(d.path())
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(epochs, [2, 10]);
        let (from, images) = final_images(d.path());
        assert_eq!(from, d.path().join("epoch_10"));
        assert_eq!(images, [d.path().join("epoch_10/a.png")]);
        touch(&d.path().join("b.png"));
        touch(&d.path().join("notes.txt"));
        let (from, images) = final_images(d.path());
        assert_eq!(from, d.path());
        assert_eq!(images, [d.path().join("b.png")]);
        assert!(final_images(&d.path().join("missing")).1.is_empty());
    }
}
