//! A `scalars.csv` read as it grows: each read takes only the complete lines appended since
//! the last, so following a run that writes millions of rows costs each byte once and keeps
//! no more than a line in memory. A file replaced since the last read (a resume rewrites it
//! atomically, dropping rows) is read again from its start, and the caller is told.

use super::csv::{EpochRow, Layout};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

pub struct Follow {
    path: PathBuf,
    layout: Option<Layout>,
    /// The byte after the last complete line read.
    offset: u64,
    /// The file's inode at the last read: another one means the file was replaced.
    inode: Option<u64>,
    /// The number of the next line (1 is the header), for messages.
    line: usize,
}

/// What one read found.
#[derive(Debug, Default, PartialEq)]
pub struct Grown {
    /// The file was replaced (or shrank): `rows` start from its first row again.
    pub restarted: bool,
    /// Rows were read.
    pub rows: usize,
}

impl Follow {
    pub fn new(path: &Path) -> Follow {
        Follow {
            path: path.to_path_buf(),
            layout: None,
            offset: 0,
            inode: None,
            line: 1,
        }
    }

    /// Gives each complete row appended since the last read to `each`. A missing file has no
    /// rows yet; a line that is not a row of the header is an error naming it (the rows before
    /// it were given, and the next read tries it again).
    pub fn read(&mut self, mut each: impl FnMut(EpochRow)) -> anyhow::Result<Grown> {
        let Ok(mut file) = std::fs::File::open(&self.path) else {
            return Ok(Grown::default());
        };
        let meta = file.metadata()?;
        let mut grown = Grown::default();
        if self.inode.is_some_and(|i| i != meta.ino()) || meta.len() < self.offset {
            *self = Follow::new(&self.path);
            grown.restarted = true;
        }
        self.inode = Some(meta.ino());
        if meta.len() == self.offset {
            return Ok(grown);
        }
        file.seek(SeekFrom::Start(self.offset))?;
        let mut reader = BufReader::new(file.take(meta.len() - self.offset));
        let mut text = String::new();
        loop {
            text.clear();
            let n = reader.read_line(&mut text)?;
            if n == 0 || !text.ends_with('\n') {
                // The end, or a line still being written: read again next time.
                return Ok(grown);
            }
            let line = text.trim_end_matches(['\n', '\r']);
            match &self.layout {
                None => self.layout = Some(self.header(line)?),
                Some(layout) => {
                    let Some(row) = layout.parse(line) else {
                        anyhow::bail!(crate::error::Damaged::new(
                            &self.path,
                            format!("line {} is not a row of its header", self.line)
                        ));
                    };
                    each(row);
                    grown.rows += 1;
                }
            }
            self.offset += n as u64;
            self.line += 1;
        }
    }

    fn header(&self, line: &str) -> anyhow::Result<Layout> {
        Layout::from_header(line).map_err(|why| crate::error::Damaged::new(&self.path, why).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn epochs(f: &mut Follow) -> (Grown, Vec<i64>) {
        let mut got = Vec::new();
        let g = f.read(|r| got.push(r.epoch)).unwrap();
        (g, got)
    }

    #[test]
    fn reads_what_was_appended_and_starts_over_on_a_new_file() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("scalars.csv");
        let mut f = Follow::new(&path);
        assert_eq!(epochs(&mut f).1, Vec::<i64>::new());
        std::fs::write(&path, "epoch,step,val_loss\n1,10,0.5\n2,20,0.4\n3,3").unwrap();
        assert_eq!(epochs(&mut f).1, [1, 2]);
        // The cut line completes; nothing is read twice.
        let mut w = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        write!(w, "0,0.3\n4,40,\n").unwrap();
        assert_eq!(epochs(&mut f).1, [3, 4]);
        assert_eq!(epochs(&mut f).1, Vec::<i64>::new());
        // Replaced (a resume kept the rows through epoch 2): read from the start.
        crate::files::write_atomic(&path, b"epoch,step,val_loss\n1,10,0.5\n2,20,0.4\n").unwrap();
        let (g, got) = epochs(&mut f);
        assert!(g.restarted);
        assert_eq!(got, [1, 2]);
        // A damaged line names itself; the rows before it were given.
        let mut w = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        write!(w, "3,30,0.2\nx,y\n").unwrap();
        let mut got = Vec::new();
        let e = f.read(|r| got.push(r.epoch)).unwrap_err();
        assert_eq!(got, [3]);
        assert!(format!("{e:#}").contains("line 5"), "{e:#}");
    }
}
