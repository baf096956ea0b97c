//! Safetensors files that carry a checksum of their contents: checkpoints and final weights.
//!
//! The checksum is SHA-256 over every tensor in name order (name, dtype, shape, raw bytes),
//! stored in the file itself as the 32-byte `uint8` tensor [`CHECKSUM`]. A file is written to
//! a temporary name, read back and verified, and only then renamed into place; reading
//! verifies it again, so a truncated file, or one whose bytes changed after it was written
//! (a bad disk, a hand edit), is refused by name instead of being trained on. Files written
//! before checksums existed (no [`CHECKSUM`]) are read unverified.

use crate::error::{Damaged, Error};
use crate::files::{commit_tmp, tmp_path, write_synced};
use safetensors::tensor::{serialize, Dtype, View};
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;
use tch::{Device, Kind, Tensor};

/// The name of the checksum tensor.
pub const CHECKSUM: &str = "__sha256__";

/// A tensor's dtype, shape and bytes on the CPU: what is hashed and what is written.
struct Raw {
    kind: Kind,
    dtype: Dtype,
    shape: Vec<usize>,
    data: Vec<u8>,
}

impl Raw {
    fn of(t: &Tensor) -> anyhow::Result<Raw> {
        let t = t.to_device(Device::Cpu).contiguous();
        let dtype = match t.kind() {
            Kind::Bool => Dtype::BOOL,
            Kind::Uint8 => Dtype::U8,
            Kind::Int8 => Dtype::I8,
            Kind::Int16 => Dtype::I16,
            Kind::Int => Dtype::I32,
            Kind::Int64 => Dtype::I64,
            Kind::BFloat16 => Dtype::BF16,
            Kind::Half => Dtype::F16,
            Kind::Float => Dtype::F32,
            Kind::Double => Dtype::F64,
            k => anyhow::bail!("tensors of kind {k:?} cannot be stored in a safetensors file"),
        };
        let numel = t.numel();
        let mut data = vec![0u8; numel * t.kind().elt_size_in_bytes()];
        if numel > 0 {
            t.copy_data_u8(&mut data, numel);
        }
        let shape = t.size().iter().map(|&d| d as usize).collect();
        Ok(Raw {
            kind: t.kind(),
            dtype,
            shape,
            data,
        })
    }
}

impl View for &Raw {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.data)
    }
    fn data_len(&self) -> usize {
        self.data.len()
    }
}

/// SHA-256 of `named` in name order: each tensor's name, dtype, shape and bytes.
pub fn digest(named: &[(String, Tensor)]) -> anyhow::Result<[u8; 32]> {
    Ok(digest_of(&raws(named)?))
}

fn digest_of(raws: &[(&str, Raw)]) -> [u8; 32] {
    let mut order: Vec<&(&str, Raw)> = raws.iter().filter(|(n, _)| *n != CHECKSUM).collect();
    order.sort_by(|a, b| a.0.cmp(b.0));
    let mut h = Sha256::new();
    for (name, r) in order {
        h.update(format!("{name}\n{:?}\n{:?}\n", r.kind, r.shape).as_bytes());
        h.update(&r.data);
    }
    h.finalize().into()
}

fn raws<S: AsRef<str>>(named: &[(S, Tensor)]) -> anyhow::Result<Vec<(&str, Raw)>> {
    named
        .iter()
        .map(|(n, t)| Ok((n.as_ref(), Raw::of(t)?)))
        .collect()
}

fn serialize_raws(raws: &[(&str, Raw)]) -> anyhow::Result<Vec<u8>> {
    serialize(raws.iter().map(|(n, r)| (*n, r)), &None)
        .map_err(|e| anyhow::anyhow!("cannot encode tensors as safetensors: {e:?}"))
}

/// `named` as the bytes of a safetensors file (written by the caller, which can then name
/// the file when the disk refuses it).
pub fn encode<S: AsRef<str>>(named: &[(S, Tensor)]) -> anyhow::Result<Vec<u8>> {
    serialize_raws(&raws(named)?)
}

/// Writes `named` with its checksum to a temporary file next to `path`, reads it back and
/// verifies it; returns the temporary file, for the caller to rename into place. A failed
/// write (a full disk) removes the temporary file and names it.
pub fn write_verified_tmp(
    path: &Path,
    mut named: Vec<(String, Tensor)>,
) -> anyhow::Result<std::path::PathBuf> {
    named.retain(|(n, _)| n != CHECKSUM);
    // Each tensor's bytes are taken once, for the checksum and for the file.
    let mut raws = raws(&named)?;
    let sum = Tensor::from_slice(&digest_of(&raws));
    raws.push((CHECKSUM, Raw::of(&sum)?));
    let bytes = serialize_raws(&raws)?;
    drop(raws);
    let tmp = tmp_path(path);
    let written = (|| -> anyhow::Result<()> {
        write_synced(&tmp, &bytes).map_err(Error::io("write", path))?;
        read_verified(&tmp)?;
        Ok(())
    })();
    if let Err(e) = written {
        fs_err::remove_file(&tmp).ok();
        return Err(e);
    }
    Ok(tmp)
}

/// Writes `named` to `path` with its checksum: a temporary file, verified, synced, renamed.
pub fn write_verified(path: &Path, named: Vec<(String, Tensor)>) -> anyhow::Result<()> {
    let tmp = write_verified_tmp(path, named)?;
    commit_tmp(&tmp, path).map_err(Error::io("write", path))?;
    Ok(())
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
            && Vec::<u8>::try_from(&stored).ok().as_deref()
                == digest(&named).ok().as_ref().map(|d| &d[..]);
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
        assert_eq!(digest(&rev).unwrap(), digest(&tensors()).unwrap());
        // One flipped byte in the data: refused by the checksum.
        let mut bytes = fs_err::read(&p).unwrap();
        let n = bytes.len();
        let at = bytes[..n - 40].iter().rposition(|b| *b != 0).unwrap();
        bytes[at] ^= 0xff;
        fs_err::write(&p, &bytes).unwrap();
        let e = read_verified(&p).unwrap_err().to_string();
        assert!(
            e.contains("do not match the checksum") && e.contains("w.safetensors"),
            "{e}"
        );
        // Truncated: refused as incomplete.
        fs_err::write(&p, &bytes[..n / 2]).unwrap();
        let e = read_verified(&p).unwrap_err().to_string();
        assert!(e.contains("not a complete safetensors file"), "{e}");
        // A file without a checksum (written before they existed) is read as it is.
        Tensor::write_safetensors(&tensors(), &p).unwrap();
        assert_eq!(read_verified(&p).unwrap().len(), 2);
    }
}
