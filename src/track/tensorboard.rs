//! A TensorBoard event-file writer (and reader) of our own on `prost` + `crc32c`: scalars,
//! PNG images and HParams session/experiment summaries.
//!
//! Record: `u64 LE length`, `u32 LE masked_crc32c(length)`, `data`, `u32 LE masked_crc32c(data)`,
//! with `mask(c) = ((c >> 15) | (c << 17)) + 0xa282ead8`. Each event is written with one
//! `write` and flushed, so a killed process leaves every earlier record whole.

use fs_err::{File, OpenOptions};
use prost::Message;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

pub mod pb {
    //! The protobuf messages, by field number (tensorboard's event.proto, summary.proto,
    //! tensor.proto, plugins/hparams/*.proto and google/protobuf/struct.proto).
    use std::collections::BTreeMap;

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Event {
        #[prost(double, tag = "1")]
        pub wall_time: f64,
        #[prost(int64, tag = "2")]
        pub step: i64,
        #[prost(oneof = "What", tags = "3, 5")]
        pub what: Option<What>,
    }

    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum What {
        #[prost(string, tag = "3")]
        FileVersion(String),
        #[prost(message, tag = "5")]
        Summary(Summary),
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Summary {
        #[prost(message, repeated, tag = "1")]
        pub value: Vec<Value>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Value {
        #[prost(string, tag = "1")]
        pub tag: String,
        #[prost(message, optional, tag = "9")]
        pub metadata: Option<SummaryMetadata>,
        #[prost(oneof = "Kind", tags = "2, 4, 8")]
        pub kind: Option<Kind>,
    }

    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Kind {
        #[prost(float, tag = "2")]
        SimpleValue(f32),
        #[prost(message, tag = "4")]
        Image(Image),
        #[prost(message, tag = "8")]
        Tensor(TensorProto),
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Image {
        #[prost(int32, tag = "1")]
        pub height: i32,
        #[prost(int32, tag = "2")]
        pub width: i32,
        #[prost(int32, tag = "3")]
        pub colorspace: i32,
        #[prost(bytes = "vec", tag = "4")]
        pub encoded_image_string: Vec<u8>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct SummaryMetadata {
        #[prost(message, optional, tag = "1")]
        pub plugin_data: Option<PluginData>,
        #[prost(string, tag = "2")]
        pub display_name: String,
        #[prost(string, tag = "3")]
        pub summary_description: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct PluginData {
        #[prost(string, tag = "1")]
        pub plugin_name: String,
        #[prost(bytes = "vec", tag = "2")]
        pub content: Vec<u8>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TensorProto {
        #[prost(int32, tag = "1")]
        pub dtype: i32,
        #[prost(message, optional, tag = "2")]
        pub tensor_shape: Option<TensorShapeProto>,
        /// The values as raw little-endian bytes (TensorFlow 2's `tf.summary.scalar`).
        #[prost(bytes = "vec", tag = "4")]
        pub tensor_content: Vec<u8>,
        #[prost(float, repeated, tag = "5")]
        pub float_val: Vec<f32>,
        #[prost(double, repeated, tag = "6")]
        pub double_val: Vec<f64>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TensorShapeProto {
        #[prost(message, repeated, tag = "2")]
        pub dim: Vec<Dim>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Dim {
        #[prost(int64, tag = "1")]
        pub size: i64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct HParamsPluginData {
        #[prost(int32, tag = "1")]
        pub version: i32,
        #[prost(oneof = "HParamsData", tags = "2, 3, 4")]
        pub data: Option<HParamsData>,
    }

    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum HParamsData {
        #[prost(message, tag = "2")]
        Experiment(Experiment),
        #[prost(message, tag = "3")]
        SessionStartInfo(SessionStartInfo),
        #[prost(message, tag = "4")]
        SessionEndInfo(SessionEndInfo),
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct SessionStartInfo {
        #[prost(btree_map = "string, message", tag = "1")]
        pub hparams: BTreeMap<String, PbValue>,
        #[prost(string, tag = "2")]
        pub model_uri: String,
        #[prost(string, tag = "3")]
        pub monitor_url: String,
        #[prost(string, tag = "4")]
        pub group_name: String,
        #[prost(double, tag = "5")]
        pub start_time_secs: f64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct SessionEndInfo {
        #[prost(int32, tag = "1")]
        pub status: i32,
        #[prost(double, tag = "2")]
        pub end_time_secs: f64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Experiment {
        #[prost(string, tag = "1")]
        pub description: String,
        #[prost(string, tag = "2")]
        pub user: String,
        #[prost(double, tag = "3")]
        pub time_created_secs: f64,
        #[prost(message, repeated, tag = "4")]
        pub hparam_infos: Vec<HParamInfo>,
        #[prost(message, repeated, tag = "5")]
        pub metric_infos: Vec<MetricInfo>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct HParamInfo {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(string, tag = "2")]
        pub display_name: String,
        #[prost(string, tag = "3")]
        pub description: String,
        /// DATA_TYPE_STRING = 1, BOOL = 2, FLOAT64 = 3
        #[prost(int32, tag = "4")]
        pub r#type: i32,
        #[prost(message, optional, tag = "5")]
        pub domain_discrete: Option<ListValue>,
        #[prost(message, optional, tag = "6")]
        pub domain_interval: Option<Interval>,
        #[prost(bool, tag = "7")]
        pub differs: bool,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Interval {
        #[prost(double, tag = "1")]
        pub min_value: f64,
        #[prost(double, tag = "2")]
        pub max_value: f64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct MetricInfo {
        #[prost(message, optional, tag = "1")]
        pub name: Option<MetricName>,
        #[prost(string, tag = "3")]
        pub display_name: String,
        #[prost(string, tag = "4")]
        pub description: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct MetricName {
        #[prost(string, tag = "1")]
        pub group: String,
        #[prost(string, tag = "2")]
        pub tag: String,
    }

    /// google.protobuf.Value
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct PbValue {
        #[prost(oneof = "PbKind", tags = "2, 3, 4")]
        pub kind: Option<PbKind>,
    }

    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum PbKind {
        #[prost(double, tag = "2")]
        Number(f64),
        #[prost(string, tag = "3")]
        Str(String),
        #[prost(bool, tag = "4")]
        Bool(bool),
    }

    /// google.protobuf.ListValue
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ListValue {
        #[prost(message, repeated, tag = "1")]
        pub values: Vec<PbValue>,
    }
}

pub const EXPERIMENT_TAG: &str = "_hparams_/experiment";
pub const SESSION_START_TAG: &str = "_hparams_/session_start_info";
pub const SESSION_END_TAG: &str = "_hparams_/session_end_info";

/// Session statuses of the HParams plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionStatus {
    Success = 1,
    Failure = 2,
    Running = 3,
}

pub fn masked_crc(data: &[u8]) -> u32 {
    let c = crc32c::crc32c(data);
    (c.rotate_right(15)).wrapping_add(0xa282_ead8)
}

/// One record's bytes.
pub fn record(data: &[u8]) -> Vec<u8> {
    let len = (data.len() as u64).to_le_bytes();
    let mut out = Vec::with_capacity(data.len() + 16);
    out.extend_from_slice(&len);
    out.extend_from_slice(&masked_crc(&len).to_le_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(&masked_crc(data).to_le_bytes());
    out
}

/// How reading an events file ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Every record read.
    Clean,
    /// The last record is incomplete: what a killed writer leaves.
    Cut,
    /// A complete record at this byte offset fails its checksum or does not decode: the file
    /// was changed or damaged after it was written.
    Damaged(usize),
}

/// The events of a file, up to the first incomplete or corrupt record, and how it ended.
pub fn read_events(path: &Path) -> std::io::Result<(Vec<pb::Event>, Ending)> {
    let bytes = fs_err::read(path)?;
    let (events, _, ending) = decode_records(&bytes);
    Ok((events, ending))
}

/// The complete events of `path` from byte `at` on (a file a writer is still appending to):
/// the events, the offset to read from next (after the last complete record), and how the
/// read ended ([`Ending::Damaged`] offsets counted from the file's start).
pub fn read_events_from(path: &Path, at: u64) -> std::io::Result<(Vec<pb::Event>, u64, Ending)> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = File::open(path)?;
    f.seek(SeekFrom::Start(at))?;
    let mut bytes = Vec::new();
    f.read_to_end(&mut bytes)?;
    let (events, used, ending) = decode_records(&bytes);
    let ending = match ending {
        Ending::Damaged(i) => Ending::Damaged(at as usize + i),
        e => e,
    };
    Ok((events, at + used as u64, ending))
}

/// The records of `bytes` as events: (events, bytes used by them, how it ended).
fn decode_records(bytes: &[u8]) -> (Vec<pb::Event>, usize, Ending) {
    let mut events = Vec::new();
    let mut i = 0usize;
    while i < bytes.len() {
        if bytes.len() - i < 12 {
            return (events, i, Ending::Cut);
        }
        let len_bytes = &bytes[i..i + 8];
        let len = u64::from_le_bytes(len_bytes.try_into().unwrap()) as usize;
        let len_crc = u32::from_le_bytes(bytes[i + 8..i + 12].try_into().unwrap());
        if masked_crc(len_bytes) != len_crc {
            return (events, i, Ending::Damaged(i));
        }
        if bytes.len() - i - 12 < len.saturating_add(4) {
            return (events, i, Ending::Cut);
        }
        let data = &bytes[i + 12..i + 12 + len];
        let data_crc = u32::from_le_bytes(bytes[i + 12 + len..i + 16 + len].try_into().unwrap());
        if masked_crc(data) != data_crc {
            return (events, i, Ending::Damaged(i));
        }
        match pb::Event::decode(data) {
            Ok(e) => events.push(e),
            Err(_) => return (events, i, Ending::Damaged(i)),
        }
        i += 16 + len;
    }
    (events, i, Ending::Clean)
}

/// Event files of a directory, in name order (the order TensorBoard reads them).
pub fn event_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs_err::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .map(|n| n.to_string_lossy().contains("tfevents"))
                        .unwrap_or(false)
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn now_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Appends events to one event file.
pub struct EventWriter {
    file: File,
    pub path: PathBuf,
}

impl EventWriter {
    /// A new event file in `dir`, starting with the file-version event.
    pub fn create(dir: &Path) -> std::io::Result<EventWriter> {
        fs_err::create_dir_all(dir)?;
        let secs = now_secs() as u64;
        let host = crate::process::hostname();
        let pid = std::process::id();
        let mut n = 0;
        let path = loop {
            let p = dir.join(format!("events.out.tfevents.{secs:010}.{host}.{pid}.{n}"));
            if !p.exists() {
                break p;
            }
            n += 1;
        };
        let file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&path)?;
        let mut w = EventWriter { file, path };
        w.write(&pb::Event {
            wall_time: now_secs(),
            step: 0,
            what: Some(pb::What::FileVersion("brain.Event:2".into())),
        })?;
        Ok(w)
    }

    /// Opens an existing event file to append to it.
    pub fn append_to(path: &Path) -> std::io::Result<EventWriter> {
        let file = OpenOptions::new().append(true).open(path)?;
        Ok(EventWriter {
            file,
            path: path.to_path_buf(),
        })
    }

    pub fn write(&mut self, event: &pb::Event) -> std::io::Result<()> {
        self.file.write_all(&record(&event.encode_to_vec()))?;
        self.file.flush()
    }

    fn summary(&mut self, step: i64, values: Vec<pb::Value>) -> std::io::Result<()> {
        self.write(&pb::Event {
            wall_time: now_secs(),
            step,
            what: Some(pb::What::Summary(pb::Summary { value: values })),
        })
    }

    /// Scalars at one step, in one event.
    pub fn scalars(&mut self, step: i64, values: &[(&str, f64)]) -> std::io::Result<()> {
        let values = values
            .iter()
            .map(|(tag, v)| pb::Value {
                tag: tag.to_string(),
                metadata: None,
                kind: Some(pb::Kind::SimpleValue(*v as f32)),
            })
            .collect();
        self.summary(step, values)
    }

    /// An RGB PNG image.
    pub fn image(
        &mut self,
        step: i64,
        tag: &str,
        png: Vec<u8>,
        width: u32,
        height: u32,
    ) -> std::io::Result<()> {
        let v = pb::Value {
            tag: tag.to_string(),
            metadata: None,
            kind: Some(pb::Kind::Image(pb::Image {
                height: height as i32,
                width: width as i32,
                colorspace: 3,
                encoded_image_string: png,
            })),
        };
        self.summary(step, vec![v])
    }

    fn hparams(&mut self, step: i64, tag: &str, data: pb::HParamsData) -> std::io::Result<()> {
        let content = pb::HParamsPluginData {
            version: 0,
            data: Some(data),
        }
        .encode_to_vec();
        let v = pb::Value {
            tag: tag.to_string(),
            metadata: Some(pb::SummaryMetadata {
                plugin_data: Some(pb::PluginData {
                    plugin_name: "hparams".into(),
                    content,
                }),
                ..Default::default()
            }),
            kind: Some(pb::Kind::Tensor(pb::TensorProto {
                dtype: 1,
                tensor_shape: Some(pb::TensorShapeProto {
                    dim: vec![pb::Dim { size: 0 }],
                }),
                ..Default::default()
            })),
        };
        self.summary(step, vec![v])
    }

    pub fn session_start(
        &mut self,
        hparams: BTreeMap<String, pb::PbValue>,
        group: &str,
    ) -> std::io::Result<()> {
        let info = pb::SessionStartInfo {
            hparams,
            group_name: group.to_string(),
            start_time_secs: now_secs(),
            ..Default::default()
        };
        self.hparams(
            0,
            SESSION_START_TAG,
            pb::HParamsData::SessionStartInfo(info),
        )
    }

    pub fn session_end(&mut self, step: i64, status: SessionStatus) -> std::io::Result<()> {
        let info = pb::SessionEndInfo {
            status: status as i32,
            end_time_secs: now_secs(),
        };
        self.hparams(step, SESSION_END_TAG, pb::HParamsData::SessionEndInfo(info))
    }

    pub fn experiment(&mut self, experiment: pb::Experiment) -> std::io::Result<()> {
        self.hparams(0, EXPERIMENT_TAG, pb::HParamsData::Experiment(experiment))
    }
}

/// A YAML flag value as a protobuf Value (numbers, strings, booleans; lists as their text).
pub fn pb_value(v: &serde_yaml::Value) -> pb::PbValue {
    use serde_yaml::Value as Y;
    let kind = match v {
        Y::Number(n) => pb::PbKind::Number(n.as_f64().unwrap_or(0.0)),
        Y::Bool(b) => pb::PbKind::Bool(*b),
        Y::String(s) => pb::PbKind::Str(s.clone()),
        other => pb::PbKind::Str(crate::flags::plain_value(other)),
    };
    pb::PbValue { kind: Some(kind) }
}

/// The event has a session-end summary.
pub fn is_session_end(e: &pb::Event) -> bool {
    matches!(&e.what, Some(pb::What::Summary(s)) if s.value.iter().any(|v| v.tag == SESSION_END_TAG))
}

/// Rewrites the event files of `dir` into one, keeping the file-version and session-start
/// events and every other event with `step <= max_step`, minus session ends: what an
/// interrupted attempt logged past its checkpoint disappears. Returns the file to append to.
pub fn truncate_after(dir: &Path, max_step: i64) -> anyhow::Result<Option<PathBuf>> {
    let files = event_files(dir);
    if files.is_empty() {
        return Ok(None);
    }
    let mut kept = Vec::new();
    let mut have_version = false;
    for f in &files {
        let (events, ending) = read_events(f)?;
        if let Ending::Damaged(at) = ending {
            eprintln!(
                "warning: {}: damaged at byte {at} (a record fails its checksum): the {} events before it are kept, the rest dropped (scalars.csv keeps every epoch)",
                f.display(),
                events.len()
            );
        }
        for e in events {
            match &e.what {
                Some(pb::What::FileVersion(_)) if !have_version => {
                    have_version = true;
                    kept.push(e);
                }
                Some(pb::What::FileVersion(_)) => {}
                _ if is_session_end(&e) => {}
                _ if e.step <= max_step => kept.push(e),
                _ => {}
            }
        }
    }
    let mut bytes = Vec::new();
    for e in &kept {
        bytes.extend(record(&e.encode_to_vec()));
    }
    let target = files[0].clone();
    crate::files::write_atomic(&target, &bytes)?;
    for f in &files[1..] {
        fs_err::remove_file(f)?;
    }
    Ok(Some(target))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masked_crc_test_vector() {
        assert_eq!(masked_crc(b"\x1a\x11CRC test, one two"), 0x5794d08a);
    }

    #[test]
    fn write_read_truncate() {
        let d = tempfile::tempdir().unwrap();
        let mut w = EventWriter::create(d.path()).unwrap();
        let mut hp = BTreeMap::new();
        hp.insert(
            "loss".to_string(),
            pb_value(&serde_yaml::Value::from("mae")),
        );
        w.session_start(hp, "g").unwrap();
        for s in 1..=5 {
            w.scalars(s * 10, &[("train/loss", 1.0 / s as f64)])
                .unwrap();
        }
        w.session_end(50, SessionStatus::Running).unwrap();
        let (events, clean) = read_events(&w.path).unwrap();
        assert_eq!(clean, Ending::Clean);
        assert_eq!(events.len(), 8);
        // A flipped byte inside a complete record: damaged there, not cut.
        let good = fs_err::read(&w.path).unwrap();
        let mut flipped = good.clone();
        let at = good.len() - 10;
        flipped[at] ^= 0xff;
        fs_err::write(&w.path, &flipped).unwrap();
        let (_, ending) = read_events(&w.path).unwrap();
        assert!(matches!(ending, Ending::Damaged(i) if i < at), "{ending:?}");
        fs_err::write(&w.path, &good).unwrap();
        // A torn last record is ignored by the reader.
        let mut bytes = fs_err::read(&w.path).unwrap();
        bytes.extend_from_slice(&[1, 2, 3]);
        fs_err::write(&w.path, &bytes).unwrap();
        let (events2, clean2) = read_events(&w.path).unwrap();
        assert_eq!(clean2, Ending::Cut);
        assert_eq!(events2.len(), 8);
        // Truncation keeps steps <= 30, drops the session end and the torn tail.
        let f = truncate_after(d.path(), 30).unwrap().unwrap();
        let (events3, clean3) = read_events(&f).unwrap();
        assert_eq!(clean3, Ending::Clean);
        assert_eq!(events3.len(), 5, "version, start, 3 scalars");
        assert!(events3.iter().all(|e| !is_session_end(e)));
    }
}
