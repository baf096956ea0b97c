//! Safetensors files that carry a checksum of their contents: checkpoints and final weights.
//!
//! The checksum is SHA-256 over every tensor in name order (name, dtype, shape, raw bytes),
//! stored in the file itself as the 32-byte `uint8` tensor [`CHECKSUM`]. A file is written to
//! a temporary name, read back and verified, and only then renamed into place; reading
//! verifies it again, so a truncated file, or one whose bytes changed after it was written
//! (a bad disk, a hand edit), is refused by name instead of being trained on. Files written
//! before checksums existed (no [`CHECKSUM`]) are read unverified.

use crate::files::{commit_tmp, tmp_path};
use crate::store::Damaged;
use anyhow::Context;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::Path;
use tch::{Device, Kind, Tensor};

/// The name of the checksum tensor.
pub const CHECKSUM: &str = "__sha256__";

/// SHA-256 of `named` in name order: each tensor's name, dtype, shape and bytes.
pub fn digest(named: &[(String, Tensor)]) -> [u8; 32] {
    let mut order: Vec<&(String, Tensor)> = named.iter().filter(|(n, _)| n != CHECKSUM).collect();
    order.sort_by(|a, b| a.0.cmp(&b.0));
    let mut h = Sha256::new();
    for (name, t) in order {
        let t = t.to_device(Device::Cpu).contiguous();
        h.update(format!("{name}\n{:?}\n{:?}\n", t.kind(), t.size()).as_bytes());
        let numel = t.numel();
        let mut bytes = vec![0u8; numel * t.kind().elt_size_in_bytes()];
        if numel > 0 {
            t.copy_data_u8(&mut bytes, numel);
        }
        h.update(&bytes);
    }
    h.finalize().into()
}

/// Writes `named` with its checksum to a temporary file next to `path`, reads it back and
/// verifies it; returns the temporary file, for the caller to rename into place.
pub fn write_verified_tmp(
    path: &Path,
    mut named: Vec<(String, Tensor)>,
) -> anyhow::Result<std::path::PathBuf> {
    named.retain(|(n, _)| n != CHECKSUM);
    let sum = digest(&named);
    named.push((CHECKSUM.to_string(), Tensor::from_slice(&sum)));
    let tmp = tmp_path(path);
    let written = (|| -> anyhow::Result<()> {
        Tensor::write_safetensors(&named, &tmp)
            .with_context(|| format!("writing {}", tmp.display()))?;
        read_verified(&tmp)?;
        Ok(())
    })();
    if let Err(e) = written {
        std::fs::remove_file(&tmp).ok();
        return Err(e);
    }
    Ok(tmp)
}

/// Writes `named` to `path` with its checksum: a temporary file, verified, synced, renamed.
pub fn write_verified(path: &Path, named: Vec<(String, Tensor)>) -> anyhow::Result<()> {
    let tmp = write_verified_tmp(path, named)?;
    commit_tmp(&tmp, path).with_context(|| format!("writing {}", path.display()))
}

/// Reads a file's tensors (without [`CHECKSUM`]) after checking them against its checksum.
pub fn read_verified(path: &Path) -> Result<HashMap<String, Tensor>, Damaged> {
    let named = Tensor::read_safetensors(path)
        .map_err(|e| Damaged::new(path, format!("not a complete safetensors file ({e})")))?;
    let stored = named
        .iter()
        .find(|(n, _)| n == CHECKSUM)
        .map(|(_, t)| t.shallow_clone());
    if let Some(stored) = stored {
        let ok = stored.kind() == Kind::Uint8
            && stored.numel() == 32
            && Vec::<u8>::try_from(&stored).ok().as_deref() == Some(&digest(&named)[..]);
        if !ok {
            return Err(Damaged::new(
                path,
                "its contents do not match the checksum written with them (changed or damaged after writing)",
            ));
        }
    }
    Ok(named.into_iter().filter(|(n, _)| n != CHECKSUM).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensors() -> Vec<(String, Tensor)> {
        vec![
            (
                "b".into(),
                Tensor::from_slice(&[1.5f32, -2.0, 3.25]).reshape([3, 1]),
            ),
            ("a".into(), Tensor::from_slice(&[7i64, 8])),
        ]
    }

    #[test]
    fn round_trip_and_damage() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("w.safetensors");
        write_verified(&p, tensors()).unwrap();
        let back = read_verified(&p).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(
            Vec::<f32>::try_from(back["b"].flatten(0, -1)).unwrap(),
            [1.5, -2.0, 3.25]
        );
        assert!(!d
            .path()
            .read_dir()
            .unwrap()
            .any(|e| { e.unwrap().file_name().to_string_lossy().ends_with(".tmp") }));
        // The digest depends on the bytes, not on the order of the list.
        let mut rev = tensors();
        rev.reverse();
        assert_eq!(digest(&rev), digest(&tensors()));
        // One flipped byte in the data: refused by the checksum.
        let mut bytes = std::fs::read(&p).unwrap();
        let n = bytes.len();
        let at = bytes[..n - 40].iter().rposition(|b| *b != 0).unwrap();
        bytes[at] ^= 0xff;
        std::fs::write(&p, &bytes).unwrap();
        let e = read_verified(&p).unwrap_err().to_string();
        assert!(
            e.contains("do not match the checksum") && e.contains("w.safetensors"),
            "{e}"
        );
        // Truncated: refused as incomplete.
        std::fs::write(&p, &bytes[..n / 2]).unwrap();
        let e = read_verified(&p).unwrap_err().to_string();
        assert!(e.contains("not a complete safetensors file"), "{e}");
        // A file without a checksum (written before they existed) is read as it is.
        Tensor::write_safetensors(&tensors(), &p).unwrap();
        assert_eq!(read_verified(&p).unwrap().len(), 2);
    }
}
