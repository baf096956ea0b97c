//! Datasets before runs: whether a run's dataset is on disk, and fetching an official one
//! (flowers, pets) once when it is not, as the R original's `download = TRUE` did. Checked by
//! `run` for every dataset of a plan before any run starts, and by `train`.

use super::fetch;
use crate::flags::{Dataset, Flags};
use fs_err::File;
use std::path::{Path, PathBuf};

/// `DDIM_OFFLINE=1` (or `--offline`) forbids downloads.
pub const OFFLINE_ENV: &str = "DDIM_OFFLINE";
/// Expected MD5s of archives for a mirror: `FILE=HASH[,FILE=HASH]`.
pub const MD5_ENV: &str = "DDIM_DATA_MD5";

/// Where and whether datasets may be downloaded.
#[derive(Debug, Clone)]
pub struct FetchPolicy {
    pub allowed: bool,
    pub base_url: String,
    pub md5: Vec<(String, String)>,
}

impl FetchPolicy {
    /// From the environment (`DDIM_OFFLINE`, `DDIM_DATA_BASE_URL`, `DDIM_DATA_MD5`); `offline`
    /// (a command's `--offline`) forbids downloads too.
    pub fn from_env(offline: bool) -> FetchPolicy {
        let env_offline = std::env::var(OFFLINE_ENV)
            .map(|v| !matches!(v.as_str(), "" | "0" | "false" | "no"))
            .unwrap_or(false);
        let md5 = std::env::var(MD5_ENV)
            .unwrap_or_default()
            .split(',')
            .filter_map(|p| p.split_once('='))
            .map(|(f, h)| (f.trim().to_string(), h.trim().to_string()))
            .collect();
        FetchPolicy {
            allowed: !offline && !env_offline,
            base_url: std::env::var(fetch::BASE_URL_ENV)
                .unwrap_or_else(|_| fetch::DEFAULT_BASE_URL.to_string()),
            md5,
        }
    }
}

/// A dataset that runs need and that cannot be had: refused before any run starts.
#[derive(Debug, thiserror::Error)]
#[error("dataset `{dataset}` is not available in {}: {why}{}", dir.display(), hint(.dataset, .dir))]
pub struct Unavailable {
    pub dataset: Dataset,
    pub dir: PathBuf,
    pub why: String,
}

fn hint(dataset: &Dataset, dir: &Path) -> String {
    match dataset {
        Dataset::Flowers | Dataset::Pets => format!(
            "{} (or allow downloads: without --offline / {OFFLINE_ENV})",
            super::fetch_hint(dataset.name(), dir)
        ),
        _ => "; set data_dir to a folder of PNG/JPEG images (any depth)".into(),
    }
}

/// Whether the dataset's files are there (an official archive not yet extracted counts: it
/// is extracted on first use).
pub fn present(dataset: Dataset, dir: &Path) -> bool {
    match dataset {
        Dataset::Shapes | Dataset::Icons => true,
        Dataset::Flowers => dir.join("jpg").is_dir() || dir.join("102flowers.tgz").is_file(),
        Dataset::Pets => {
            let extracted = dir.join("images").is_dir()
                && dir.join("annotations/trainval.txt").is_file()
                && dir.join("annotations/test.txt").is_file();
            let archives =
                dir.join("images.tar.gz").is_file() && dir.join("annotations.tar.gz").is_file();
            extracted || archives
        }
        Dataset::Folder => walkdir::WalkDir::new(dir)
            .into_iter()
            .filter_map(|e| e.ok())
            .any(|e| e.file_type().is_file() && super::sources::is_image(e.path())),
    }
}

/// Makes sure the dataset of `flags` is on disk; fetches an official one when it is missing
/// and the policy allows, once for all processes (a lock beside its folder). Returns whether
/// it was fetched now.
pub fn ensure(flags: &Flags, policy: &FetchPolicy) -> Result<bool, Unavailable> {
    let dataset = flags.dataset_name;
    let dir = super::dataset_dir(flags);
    if present(dataset, &dir) {
        return Ok(false);
    }
    let unavailable = |why: String| Unavailable {
        dataset,
        dir: dir.clone(),
        why,
    };
    match dataset {
        Dataset::Folder => {
            let why = if dir.is_dir() {
                "the folder holds no PNG or JPEG image"
            } else {
                "no such folder"
            };
            return Err(unavailable(why.into()));
        }
        Dataset::Shapes | Dataset::Icons => return Ok(false),
        Dataset::Flowers | Dataset::Pets => {}
    }
    if !policy.allowed {
        return Err(unavailable(format!(
            "it is missing and downloads are off ({OFFLINE_ENV} or --offline)"
        )));
    }
    let _lock = fetch_lock(&dir).map_err(|e| unavailable(format!("{e:#}")))?;
    if present(dataset, &dir) {
        return Ok(false); // another process fetched it while this one waited
    }
    crate::say!(
        "dataset `{dataset}` is missing in {}: fetching it once for every run",
        dir.display()
    );
    let msg = fetch::fetch(dataset, &dir, &policy.base_url, &policy.md5)
        .map_err(|e| unavailable(format!("fetching it failed: {e:#}")))?;
    crate::say!("{msg}");
    Ok(true)
}

/// An exclusive lock beside the dataset's folder, held while it is fetched.
fn fetch_lock(dir: &Path) -> anyhow::Result<File> {
    let parent = dir.parent().unwrap_or(Path::new("."));
    fs_err::create_dir_all(parent)?;
    let name = dir.file_name().unwrap_or_default().to_string_lossy();
    let f = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(parent.join(format!(".{name}.fetch.lock")))?;
    f.lock()?;
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presence_of_each_layout() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path();
        assert!(present(Dataset::Shapes, p));
        assert!(!present(Dataset::Flowers, p));
        fs_err::write(p.join("102flowers.tgz"), b"x").unwrap();
        assert!(present(Dataset::Flowers, p), "the archive counts");
        assert!(!present(Dataset::Pets, p));
        fs_err::create_dir_all(p.join("images")).unwrap();
        fs_err::create_dir_all(p.join("annotations")).unwrap();
        fs_err::write(p.join("annotations/trainval.txt"), b"").unwrap();
        assert!(!present(Dataset::Pets, p), "test.txt missing");
        fs_err::write(p.join("annotations/test.txt"), b"").unwrap();
        assert!(present(Dataset::Pets, p));
        assert!(!present(Dataset::Folder, &p.join("images")));
        fs_err::create_dir_all(p.join("images/a/b")).unwrap();
        fs_err::write(p.join("images/a/b/x.PNG"), b"").unwrap();
        assert!(present(Dataset::Folder, &p.join("images")));
    }
}
