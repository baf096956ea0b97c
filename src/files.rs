//! General file utilities: atomic writes (a temporary file next to the target, synced and
//! renamed over it; removed again when the write fails), file stamps for caches, and the
//! cleanup of temporary files that a killed process left behind.

use crate::error::Error;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

/// A file's size and modification time (ns since the epoch), for cache keys; (0, 0) when
/// missing.
pub fn file_stamp(path: &Path) -> (u64, u128) {
    fs::metadata(path)
        .map(|m| {
            let t = m
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            (m.len(), t)
        })
        .unwrap_or((0, 0))
}

/// Writes `bytes` to `path` through a temporary file in the same directory, synced and
/// renamed over: a reader sees the old file or the new one, never a part.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let tmp = tmp_path(path);
    let done = write_synced(&tmp, bytes).and_then(|()| commit_tmp(&tmp, path));
    if done.is_err() {
        fs::remove_file(&tmp).ok();
    }
    done.map_err(Error::io("write", path))
}

/// Creates (or truncates) `path` with `bytes` and syncs it (the system's error, for the
/// caller to name the file it was writing).
pub fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = File::create(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// Replaces `path` by `bytes` through a temporary file and a rename, without syncing: a
/// reader sees the old file or the new one, never a part, but a crash may lose the newest
/// write. For live status written often (progress), where a sync per write would cost more
/// than the file is worth (on a cluster's network filesystem especially).
pub fn replace_file(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let tmp = tmp_path(path);
    let done = fs::write(&tmp, bytes).and_then(|()| fs::rename(&tmp, path));
    if done.is_err() {
        fs::remove_file(&tmp).ok();
    }
    done.map_err(Error::io("write", path))
}

/// The temporary name used while writing `path`.
pub fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{}.tmp", std::process::id()));
    path.with_file_name(name)
}

/// Syncs and renames a finished temporary file over `path`, then syncs the directory.
pub fn commit_tmp(tmp: &Path, path: &Path) -> std::io::Result<()> {
    File::open(tmp)?.sync_all()?;
    fs::rename(tmp, path)?;
    if let Some(dir) = path.parent() {
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// The temporary name for `path` that keeps its extension (`losses.PID.tmp.png`), for
/// writers that choose the format by the extension.
pub fn tmp_path_keeping_ext(path: &Path) -> PathBuf {
    let stem = path.file_stem().unwrap_or_default().to_string_lossy();
    let name = match path.extension() {
        Some(ext) => format!(
            "{stem}.{}.tmp.{}",
            std::process::id(),
            ext.to_string_lossy()
        ),
        None => format!("{stem}.{}.tmp", std::process::id()),
    };
    path.with_file_name(name)
}

/// Writes `path` through `write`, which gets the temporary path to write to (with the same
/// extension): committed (synced, renamed) when `write` succeeds, removed when it or the
/// commit fails.
pub fn write_with<T>(
    path: &Path,
    write: impl FnOnce(&Path) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let tmp = tmp_path_keeping_ext(path);
    let done = write(&tmp).and_then(|v| {
        commit_tmp(&tmp, path).map_err(Error::io("write", path))?;
        Ok(v)
    });
    if done.is_err() {
        fs::remove_file(&tmp).ok();
    }
    done
}

/// Whether `name` is a temporary file of [`tmp_path`]'s or [`tmp_path_keeping_ext`]'s
/// making (`NAME.PID.tmp`, `STEM.PID.tmp.EXT`).
pub fn is_tmp_name(name: &str) -> bool {
    let stem = match name.strip_suffix(".tmp") {
        Some(stem) => stem,
        None => match name.rsplit_once(".tmp.") {
            Some((stem, ext)) if !ext.is_empty() && !ext.contains('.') => stem,
            _ => return false,
        },
    };
    stem.rsplit_once('.').is_some_and(|(base, pid)| {
        !base.is_empty() && !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit())
    })
}

/// Removes the temporary files ([`is_tmp_name`]) directly in `dir` and in its `subdirs`;
/// returns how many and their bytes. Call it only where no live process writes (a run whose
/// lock is free, a sweep directory under its lock).
pub fn remove_stale_tmps(dir: &Path, subdirs: &[&str]) -> (usize, u64) {
    let mut removed = (0, 0);
    let dirs = std::iter::once(dir.to_path_buf()).chain(subdirs.iter().map(|s| dir.join(s)));
    for d in dirs {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !is_tmp_name(&name) {
                continue;
            }
            let len = e.metadata().map(|m| m.len()).unwrap_or(0);
            if fs::remove_file(e.path()).is_ok() {
                removed.0 += 1;
                removed.1 += len;
            }
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_writes_leave_nothing_and_stale_tmps_go() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.png");
        let r: anyhow::Result<()> = write_with(&p, |tmp| {
            fs::write(tmp, b"half")?;
            anyhow::bail!("disk full")
        });
        assert!(r.is_err() && !p.exists());
        assert_eq!(
            fs::read_dir(d.path()).unwrap().count(),
            0,
            "no temporary file left"
        );
        write_with(&p, |tmp| Ok(fs::write(tmp, b"whole")?)).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"whole");
        assert!(is_tmp_name("checkpoint.safetensors.1234.tmp"));
        assert!(is_tmp_name("losses.1234.tmp.png"));
        assert!(tmp_path_keeping_ext(&p)
            .to_string_lossy()
            .ends_with(".tmp.png"));
        assert!(!is_tmp_name("notes.tmp") && !is_tmp_name("a.b.tmp") && !is_tmp_name("x.png"));
        fs::create_dir(d.path().join("samples")).unwrap();
        fs::write(d.path().join("run.json.77.tmp"), b"").unwrap();
        fs::write(d.path().join("samples/epoch_001.png.78.tmp"), b"12345").unwrap();
        assert_eq!(remove_stale_tmps(d.path(), &["samples"]), (2, 5));
        assert!(p.exists());
    }
}
