//! Extracting `.tar.gz` archives (the official datasets' format), all or nothing.

use anyhow::{bail, Context};
use fs_err::{self as fs, File};
use std::path::Path;

/// Extracts a .tar.gz into `dest`: first into a temporary folder beside it, then each top-level
/// entry is renamed into place, so a failure leaves no half-extracted folder.
pub fn extract_tgz(archive: &Path, dest: &Path) -> anyhow::Result<()> {
    let tmp = dest.join(format!(".extract-{}", std::process::id()));
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir_all(&tmp)?;
    let result = (|| -> anyhow::Result<()> {
        let gz = flate2::read::GzDecoder::new(File::open(archive)?);
        tar::Archive::new(gz)
            .unpack(&tmp)
            .with_context(|| format!("extracting {}", archive.display()))?;
        for e in fs::read_dir(&tmp)? {
            let e = e?;
            let target = dest.join(e.file_name());
            if target.exists() {
                bail!(
                    "{} already exists: refusing to overwrite it",
                    target.display()
                );
            }
            fs::rename(e.path(), &target)?;
        }
        Ok(())
    })();
    let _ = fs::remove_dir_all(&tmp);
    result
}
