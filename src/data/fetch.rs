//! `ddim-sweep data fetch`: the official archives from the Visual Geometry Group (University
//! of Oxford), downloaded with a progress bar, resumed after an interruption (HTTP Range),
//! checked against their MD5, then extracted. A good copy is never overwritten; a bad
//! checksum extracts nothing.

use super::archive::extract_tgz;
use crate::flags::Dataset;
use anyhow::{bail, Context};
use fs_err::{self as fs, File, OpenOptions};
use md5::{Digest, Md5};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

pub const DEFAULT_BASE_URL: &str = "https://www.robots.ox.ac.uk/~vgg/data";
/// Environment variable overriding the base URL (mirrors, tests).
pub const BASE_URL_ENV: &str = "DDIM_DATA_BASE_URL";

#[derive(Debug, Clone)]
pub struct Archive {
    pub file: &'static str,
    /// Path under the base URL.
    pub url_path: &'static str,
    pub md5: &'static str,
}

/// The official archives of a dataset that has them (flowers, pets).
pub fn archives(dataset: Dataset) -> anyhow::Result<Vec<Archive>> {
    Ok(match dataset {
        Dataset::Flowers => vec![Archive {
            file: "102flowers.tgz",
            url_path: "flowers/102/102flowers.tgz",
            md5: "52808999861908f626f3c1f4e79d11fa",
        }],
        Dataset::Pets => vec![
            Archive {
                file: "images.tar.gz",
                url_path: "pets/data/images.tar.gz",
                md5: "5c4f3ee8e5d25df40f4fd59a7f44e54c",
            },
            Archive {
                file: "annotations.tar.gz",
                url_path: "pets/data/annotations.tar.gz",
                md5: "95a8c909bbe2e81eed6a22bccdf3f68f",
            },
        ],
        other => bail!(crate::error::Error::usage(format!(
            "`data fetch {other}`: only flowers and pets have archives to fetch"
        ))),
    })
}

pub fn md5_of(path: &Path) -> std::io::Result<String> {
    let mut f = File::open(path)?;
    let mut h = Md5::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Downloads `url` into `part`, continuing from its current length.
fn download(url: &str, part: &Path) -> anyhow::Result<()> {
    let have = fs::metadata(part).map(|m| m.len()).unwrap_or(0);
    let mut req = ureq::get(url).timeout(std::time::Duration::from_secs(600));
    if have > 0 {
        req = req.set("Range", &format!("bytes={have}-"));
    }
    let resp = match req.call() {
        Ok(r) => r,
        Err(ureq::Error::Status(416, _)) => return Ok(()), // already complete
        Err(e) => return Err(anyhow::anyhow!("downloading {url}: {e}")),
    };
    let resumed = resp.status() == 206;
    let len: Option<u64> = resp.header("Content-Length").and_then(|v| v.parse().ok());
    let total = len.map(|l| if resumed { l + have } else { l });
    let mut out = if resumed {
        OpenOptions::new().append(true).open(part)?
    } else {
        File::create(part)?
    };
    let start = if resumed { have } else { 0 };
    let bar = indicatif::ProgressBar::new(total.unwrap_or(0));
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
        )
        .unwrap()
        .progress_chars("=> "),
    );
    bar.set_message(
        part.file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .trim_end_matches(".part")
            .to_string(),
    );
    bar.set_position(start);
    if resumed {
        bar.println(format!("resuming {url} at byte {have}"));
    }
    let mut reader = resp.into_reader();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = reader.read(&mut buf).with_context(|| {
            format!("downloading {url} (interrupted; run the command again to resume)")
        })?;
        if n == 0 {
            break;
        }
        out.write_all(&buf[..n])?;
        bar.inc(n as u64);
    }
    out.sync_all()?;
    bar.finish_and_clear();
    if let Some(t) = total {
        let got = fs::metadata(part)?.len();
        if got != t {
            bail!("downloading {url}: got {got} of {t} bytes (run the command again to resume)");
        }
    }
    Ok(())
}

fn marker(dir: &Path) -> PathBuf {
    dir.join(".fetched")
}

/// Fetches a dataset into its folder `dir` (by default `<data root>/<dataset>`);
/// `md5_override` replaces expected checksums by file name (for mirrors).
pub fn fetch(
    dataset: Dataset,
    dir: &Path,
    base_url: &str,
    md5_override: &[(String, String)],
) -> anyhow::Result<String> {
    let dir = dir.to_path_buf();
    let list = archives(dataset)?;
    if marker(&dir).exists() {
        let complete = match dataset {
            Dataset::Flowers => super::sources::flowers(&dir).is_ok(),
            _ => super::sources::pets(&dir).is_ok(),
        };
        if complete {
            return Ok(format!(
                "{dataset} is already in {} (verified when fetched): nothing to do",
                dir.display()
            ));
        }
    }
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    for a in &list {
        let expected = md5_override
            .iter()
            .find(|(f, _)| f == a.file)
            .map(|(_, m)| m.to_lowercase())
            .unwrap_or_else(|| a.md5.to_string());
        let dest = dir.join(a.file);
        if dest.exists() && md5_of(&dest)? == expected {
            continue;
        }
        let part = dir.join(format!("{}.part", a.file));
        let url = format!("{}/{}", base_url.trim_end_matches('/'), a.url_path);
        download(&url, &part)?;
        let got = md5_of(&part)?;
        if got != expected {
            fs::remove_file(&part)?;
            bail!(
                "checksum mismatch for {url}: MD5 {got}, expected {expected}; the download was removed and nothing was extracted (run the command again to download afresh)"
            );
        }
        fs::rename(&part, &dest)?;
    }
    for a in &list {
        let target_exists = match a.file {
            "102flowers.tgz" => dir.join("jpg").exists(),
            "images.tar.gz" => dir.join("images").exists(),
            _ => dir.join("annotations").exists(),
        };
        if !target_exists {
            extract_tgz(&dir.join(a.file), &dir)?;
        }
    }
    crate::files::write_atomic(&marker(&dir), b"verified\n")?;
    Ok(format!(
        "{dataset}: downloaded, verified and extracted into {}",
        dir.display()
    ))
}
