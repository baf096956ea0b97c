//! Scalars from the TensorBoard event files a program writes under its run folder
//! (PyTorch's `SummaryWriter`: `simple_value`; TensorFlow 2's `tf.summary.scalar`: a float
//! tensor in `float_val`, `double_val` or `tensor_content`), read as they grow: each file
//! from where the last look stopped, a record cut short at its end waited for. The event
//! files ddim-sweep itself writes for the run are not read.

use super::intake::Row;
use crate::track::tensorboard::{pb, Ending};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// Where each event file was read to.
#[derive(Default)]
pub struct Events {
    offsets: HashMap<PathBuf, u64>,
    /// Files with a damaged record: read no further.
    damaged: Vec<PathBuf>,
}

impl Events {
    /// The rows of every scalar written since the last look (one row per step, in step
    /// order), from the event files under `run_dir` but not under `own` (ddim-sweep's).
    pub fn read(&mut self, run_dir: &Path, own: &Path) -> Vec<Row> {
        let mut by_step: BTreeMap<i64, BTreeMap<String, f64>> = BTreeMap::new();
        for path in walkdir::WalkDir::new(run_dir)
            .max_depth(4)
            .into_iter()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_file())
            .map(|e| e.into_path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.contains("tfevents"))
                    && !p.starts_with(own)
            })
        {
            if self.damaged.contains(&path) {
                continue;
            }
            let at = self.offsets.get(&path).copied().unwrap_or(0);
            let (events, next, damaged) = read_from(&path, at);
            self.offsets.insert(path.clone(), next);
            if damaged {
                eprintln!(
                    "warning: {}: a damaged record at byte {next}: the rest of it is not read",
                    path.display()
                );
                self.damaged.push(path);
            }
            for e in events {
                let Some(pb::What::Summary(s)) = e.what else {
                    continue;
                };
                for v in s.value {
                    if let Some(x) = scalar(&v) {
                        by_step.entry(e.step).or_default().insert(v.tag, x);
                    }
                }
            }
        }
        by_step
            .into_iter()
            .map(|(step, values)| Row {
                epoch: step,
                step,
                numbered: false,
                values,
            })
            .collect()
    }
}

/// A summary value's scalar: a simple value, or a one-element float tensor.
fn scalar(v: &pb::Value) -> Option<f64> {
    match v.kind.as_ref()? {
        pb::Kind::SimpleValue(x) => Some(*x as f64),
        pb::Kind::Tensor(t) => {
            if let Some(x) = t.float_val.first() {
                return Some(*x as f64);
            }
            if let Some(x) = t.double_val.first() {
                return Some(*x);
            }
            match (t.dtype, t.tensor_content.len()) {
                (1, 4) => Some(f32::from_le_bytes(t.tensor_content[..4].try_into().ok()?) as f64),
                (2, 8) => Some(f64::from_le_bytes(t.tensor_content[..8].try_into().ok()?)),
                _ => None,
            }
        }
        pb::Kind::Image(_) => None,
    }
}

/// The complete events of `path` from byte `at`: the events, where to read next, and
/// whether a damaged record stopped the read (a file that cannot be read waits).
fn read_from(path: &Path, at: u64) -> (Vec<pb::Event>, u64, bool) {
    match crate::track::tensorboard::read_events_from(path, at) {
        Ok((events, next, Ending::Damaged(_))) => (events, next, true),
        Ok((events, next, _)) => (events, next, false),
        Err(_) => (Vec::new(), at, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::track::tensorboard::EventWriter;
    use prost::Message;

    #[test]
    fn reads_what_was_added_and_waits_for_a_cut_record() {
        let d = tempfile::tempdir().unwrap();
        let logs = d.path().join("logs");
        let mut w = EventWriter::create(&logs).unwrap();
        w.scalars(1, &[("val/loss", 0.5)]).unwrap();
        let mut ev = Events::default();
        let own = d.path().join("own");
        let rows = ev.read(d.path(), &own);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].step, 1);
        assert_eq!(rows[0].values["val/loss"], 0.5);
        assert!(ev.read(d.path(), &own).is_empty(), "nothing new");
        // Half a record, then the rest.
        let rec = crate::track::tensorboard::record(
            &pb::Event {
                wall_time: 0.0,
                step: 2,
                what: Some(pb::What::Summary(pb::Summary {
                    value: vec![pb::Value {
                        tag: "acc".into(),
                        metadata: None,
                        kind: Some(pb::Kind::Tensor(pb::TensorProto {
                            dtype: 1,
                            tensor_content: 0.25f32.to_le_bytes().to_vec(),
                            ..Default::default()
                        })),
                    }],
                })),
            }
            .encode_to_vec(),
        );
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&w.path)
            .unwrap();
        f.write_all(&rec[..10]).unwrap();
        f.flush().unwrap();
        assert!(ev.read(d.path(), &own).is_empty(), "a cut record waits");
        f.write_all(&rec[10..]).unwrap();
        f.flush().unwrap();
        let rows = ev.read(d.path(), &own);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].values["acc"], 0.25);
        // ddim-sweep's own files are not read.
        EventWriter::create(&own)
            .unwrap()
            .scalars(3, &[("x", 1.0)])
            .unwrap();
        assert!(ev.read(d.path(), &own).is_empty());
    }
}
