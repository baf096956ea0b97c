//! Training flags: names, defaults (the seed's `train.R`), validation and resolution.
//!
//! A flag is given as `FLAG=VALUE`; the value is parsed as a YAML scalar (`lr=1e-3`,
//! `unet_widths=[8,16]`, `loss=mae`). Resolution starts from the defaults, applies the
//! given values, validates each one against its spec, then checks the flags together.
//! The resolved [`Flags`] are what a run stores in `flags.yaml` and what identifies it.

use serde::{Deserialize, Serialize};
use serde_yaml::Value;
use std::collections::BTreeMap;
use std::fmt;

/// What values a flag accepts.
#[derive(Debug, Clone, Copy)]
pub enum FlagKind {
    /// One of a fixed set of strings; `aliases` map to a canonical choice.
    Choice {
        choices: &'static [&'static str],
        aliases: &'static [(&'static str, &'static str)],
    },
    /// An integer `>= min`.
    Int { min: i64 },
    /// A number in the interval `[min, max]` (or `[min, max)` when `max_open`).
    Float { min: f64, max: f64, max_open: bool },
    /// A non-empty list of integers `>= min`.
    IntList { min: i64 },
    /// `auto`, `cpu`, `cuda` or `cuda:N`.
    Device,
    /// `auto` (the dataset's default) or an integer `>= min`.
    AutoInt { min: i64 },
    /// true or false.
    Bool,
    /// Any string (a path; empty for the default).
    Text,
}

/// One flag: its name, default (as YAML), accepted values and a one-line description.
#[derive(Debug, Clone, Copy)]
pub struct FlagSpec {
    pub name: &'static str,
    pub default: &'static str,
    pub kind: FlagKind,
    pub help: &'static str,
}

const fn choice(choices: &'static [&'static str]) -> FlagKind {
    FlagKind::Choice {
        choices,
        aliases: &[],
    }
}

/// Every flag `train` accepts, in the order `flags.yaml` lists them. A new flag enters run ids
/// only when set off its default (see `sweep::plan::IDENTITY_V1_FLAGS`): give it a default that
/// behaves as the tool did before it existed.
pub const FLAG_SPECS: &[FlagSpec] = &[
    FlagSpec {
        name: "optimizer",
        default: "adamw",
        kind: choice(&["adamw", "adam"]),
        help: "adamw (decoupled weight decay) or adam",
    },
    FlagSpec {
        name: "lr",
        default: "1e-3",
        kind: FlagKind::Float {
            min: 0.0,
            max: 1e12,
            max_open: false,
        },
        help: "learning rate",
    },
    FlagSpec {
        name: "weight_decay",
        default: "1e-4",
        kind: FlagKind::Float {
            min: 0.0,
            max: 1.0,
            max_open: false,
        },
        help: "decoupled weight decay of adamw (ignored by adam)",
    },
    FlagSpec {
        name: "block_depth",
        default: "2",
        kind: FlagKind::Int { min: 1 },
        help: "residual blocks per U-Net level",
    },
    FlagSpec {
        name: "embedding_dim",
        default: "32",
        kind: FlagKind::Int { min: 2 },
        help: "sinusoidal embedding size (even)",
    },
    FlagSpec {
        name: "unet_widths",
        default: "[32, 64, 96, 128]",
        kind: FlagKind::IntList { min: 1 },
        help: "channels of each U-Net level",
    },
    FlagSpec {
        name: "schedule_type",
        default: "cosine",
        kind: choice(&["cosine", "linear"]),
        help: "diffusion schedule",
    },
    FlagSpec {
        name: "min_signal_rate",
        default: "0.02",
        kind: FlagKind::Float {
            min: 0.0,
            max: 1.0,
            max_open: false,
        },
        help: "smallest signal rate (cosine) or signal variance (linear)",
    },
    FlagSpec {
        name: "max_signal_rate",
        default: "0.95",
        kind: FlagKind::Float {
            min: 0.0,
            max: 1.0,
            max_open: false,
        },
        help: "largest signal rate (cosine) or signal variance (linear)",
    },
    FlagSpec {
        name: "batch_size",
        default: "64",
        kind: FlagKind::Int { min: 1 },
        help: "training batch size (evaluation uses twice this)",
    },
    FlagSpec {
        name: "epochs",
        default: "50",
        kind: FlagKind::Int { min: 1 },
        help: "training epochs",
    },
    FlagSpec {
        name: "loss",
        default: "mae",
        kind: FlagKind::Choice {
            choices: &["mae", "mse"],
            aliases: &[("l1", "mae")],
        },
        help: "training loss: mae (alias l1) or mse",
    },
    FlagSpec {
        name: "loss_on",
        default: "noise",
        kind: choice(&["noise", "image"]),
        help: "the network predicts the noise or the image",
    },
    FlagSpec {
        name: "dataset_name",
        default: "flowers",
        kind: choice(&["flowers", "pets", "folder", "shapes"]),
        help: "dataset (shapes is built in)",
    },
    FlagSpec {
        name: "data_dir",
        default: "''",
        kind: FlagKind::Text,
        help: "the dataset's folder (default: $DDIM_DATA or data/, then the dataset's name; required for folder)",
    },
    FlagSpec {
        name: "antialias",
        default: "false",
        kind: FlagKind::Bool,
        help: "antialiased resize (the seed's is plain bilinear)",
    },
    FlagSpec {
        name: "image_size",
        default: "64",
        kind: FlagKind::Int { min: 2 },
        help: "image side length in pixels (3 channels)",
    },
    FlagSpec {
        name: "num_workers",
        default: "0",
        kind: FlagKind::Int { min: 0 },
        help: "threads that decode the dataset (0 = every core)",
    },
    FlagSpec {
        name: "seed",
        default: "1",
        kind: FlagKind::Int { min: 0 },
        help: "seed of every random draw",
    },
    FlagSpec {
        name: "ema",
        default: "0",
        kind: FlagKind::Float {
            min: 0.0,
            max: 1.0,
            max_open: true,
        },
        help: "EMA decay of the weights used to sample and evaluate (0 = off)",
    },
    FlagSpec {
        name: "device",
        default: "auto",
        kind: FlagKind::Device,
        help: "auto, cpu, cuda or cuda:N",
    },
    FlagSpec {
        name: "precision",
        default: "fp32",
        kind: choice(&["fp32", "bf16"]),
        help: "bf16: the training forward pass under bfloat16 autocast (weights stay fp32)",
    },
    FlagSpec {
        name: "channels_last",
        default: "false",
        kind: FlagKind::Bool,
        help: "convolution weights and inputs in channels-last memory format",
    },
    FlagSpec {
        name: "checkpoint_every",
        default: "0",
        kind: FlagKind::Int { min: 0 },
        help: "checkpoint every N steps (0 = at the end of each epoch)",
    },
    FlagSpec {
        name: "sample_every",
        default: "1",
        kind: FlagKind::Int { min: 0 },
        help: "write a 6x6 sample grid every N epochs (0 = never)",
    },
    FlagSpec {
        name: "eval_every",
        default: "1",
        kind: FlagKind::Int { min: 0 },
        help: "validation losses every N epochs (0 = only after training)",
    },
    FlagSpec {
        name: "log_every",
        default: "10",
        kind: FlagKind::Int { min: 1 },
        help: "log the training batch's losses every N steps (steps.csv, TensorBoard)",
    },
    FlagSpec {
        name: "kid_images",
        default: "auto",
        kind: FlagKind::AutoInt { min: 0 },
        help: "generated images for the run's KID (auto = the validation set's size; 0 = no KID)",
    },
    FlagSpec {
        name: "kid_every",
        default: "0",
        kind: FlagKind::Int { min: 0 },
        help: "also compute KID every N epochs (0 = only after training)",
    },
    FlagSpec {
        name: "kid_diffusion_steps",
        default: "5",
        kind: FlagKind::Int { min: 2 },
        help: "diffusion steps of the samples that KID scores",
    },
    FlagSpec {
        name: "max_images",
        default: "0",
        kind: FlagKind::Int { min: 0 },
        help: "use at most N images of the dataset (0 = all)",
    },
    FlagSpec {
        name: "dataset_repetitions",
        default: "auto",
        kind: FlagKind::AutoInt { min: 1 },
        help: "passes over the training set per epoch (auto: flowers 5, pets 3, others 1)",
    },
];

/// Looks a flag up by name.
pub fn spec(name: &str) -> Option<&'static FlagSpec> {
    FLAG_SPECS.iter().find(|s| s.name == name)
}

/// A flag error; every message names the flag and what would be valid.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FlagError {
    #[error("`{arg}` is not FLAG=VALUE (e.g. `loss=mse`)")]
    Syntax { arg: String },
    #[error("unknown flag `{name}`{}; valid flags: {}", suggestion_text(.suggestion), valid_names())]
    Unknown {
        name: String,
        suggestion: Option<String>,
    },
    #[error("invalid value for flag `{name}`: {value}; expected {expected}")]
    Invalid {
        name: String,
        value: String,
        expected: String,
    },
    #[error("flag `{name}` is given twice")]
    Duplicate { name: String },
}

fn suggestion_text(s: &Option<String>) -> String {
    match s {
        Some(s) => format!(" (did you mean `{s}`?)"),
        None => String::new(),
    }
}

fn valid_names() -> String {
    FLAG_SPECS
        .iter()
        .map(|s| s.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The closest valid flag name, when one is close enough to be a likely typo.
pub fn closest_flag(name: &str) -> Option<String> {
    closest(name, FLAG_SPECS.iter().map(|s| s.name))
}

/// The closest of `candidates` to `word` by Jaro-Winkler similarity, if similar enough.
pub fn closest<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> Option<String> {
    candidates
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score >= 0.75)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c.to_string())
}

/// A flag value as plain text, without the quoting of [`show_value`] (`mse`, `0.001`,
/// `[8, 16]`): run names, records, report cells.
pub fn plain_value(v: &Value) -> String {
    show_value(v).trim_matches('`').to_string()
}

/// Renders a YAML value compactly for messages (`mse`, `[8, 16]`, `null`).
pub fn show_value(v: &Value) -> String {
    match v {
        Value::Null => "null (empty)".into(),
        Value::String(s) => format!("`{s}`"),
        Value::Sequence(items) => format!(
            "[{}]",
            items.iter().map(plain_value).collect::<Vec<_>>().join(", ")
        ),
        other => serde_yaml::to_string(other)
            .map(|s| format!("`{}`", s.trim()))
            .unwrap_or_else(|_| format!("{other:?}")),
    }
}

/// Splits `FLAG=VALUE` and parses VALUE as a YAML scalar or flow list.
pub fn parse_assignment(arg: &str) -> Result<(String, Value), FlagError> {
    let Some((name, raw)) = arg.split_once('=') else {
        return Err(FlagError::Syntax { arg: arg.into() });
    };
    let name = name.trim();
    if name.is_empty() {
        return Err(FlagError::Syntax { arg: arg.into() });
    }
    let value: Value = if raw.trim().is_empty() {
        Value::Null
    } else {
        serde_yaml::from_str(raw).map_err(|e| FlagError::Invalid {
            name: name.into(),
            value: format!("`{raw}`"),
            expected: format!("a YAML scalar or list ({e})"),
        })?
    };
    Ok((name.to_string(), value))
}

/// Parses many `FLAG=VALUE` arguments; a flag given twice is an error.
pub fn parse_assignments<S: AsRef<str>>(args: &[S]) -> Result<Vec<(String, Value)>, FlagError> {
    let mut out: Vec<(String, Value)> = Vec::new();
    for a in args {
        let (name, value) = parse_assignment(a.as_ref())?;
        if out.iter().any(|(n, _)| *n == name) {
            return Err(FlagError::Duplicate { name });
        }
        out.push((name, value));
    }
    Ok(out)
}

fn invalid(spec: &FlagSpec, value: &Value, expected: impl Into<String>) -> FlagError {
    FlagError::Invalid {
        name: spec.name.into(),
        value: show_value(value),
        expected: expected.into(),
    }
}

fn as_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        _ => None,
    }
}

/// Checks one value against its flag's spec and returns its canonical form.
pub fn check_value(spec: &FlagSpec, value: &Value) -> Result<Value, FlagError> {
    match spec.kind {
        FlagKind::Choice { choices, aliases } => {
            let expected = || {
                let mut s = format!("one of {}", choices.join(", "));
                for (a, c) in aliases {
                    s.push_str(&format!(" ({a} = {c})"));
                }
                s
            };
            let Value::String(s) = value else {
                return Err(invalid(spec, value, expected()));
            };
            if choices.contains(&s.as_str()) {
                return Ok(value.clone());
            }
            if let Some((_, c)) = aliases.iter().find(|(a, _)| *a == s) {
                return Ok(Value::String((*c).into()));
            }
            Err(invalid(spec, value, expected()))
        }
        FlagKind::Int { min } => match value.as_i64() {
            Some(i) if i >= min => Ok(Value::from(i)),
            _ => Err(invalid(spec, value, format!("an integer >= {min}"))),
        },
        FlagKind::AutoInt { min } => match value {
            Value::String(s) if s == "auto" => Ok(value.clone()),
            _ => match value.as_i64() {
                Some(i) if i >= min => Ok(Value::from(i)),
                _ => Err(invalid(
                    spec,
                    value,
                    format!("`auto` or an integer >= {min}"),
                )),
            },
        },
        FlagKind::Float { min, max, max_open } => {
            let ok = as_f64(value).filter(|f| {
                f.is_finite() && *f >= min && (if max_open { *f < max } else { *f <= max })
            });
            match ok {
                Some(f) => Ok(Value::from(f)),
                None => Err(invalid(
                    spec,
                    value,
                    format!(
                        "a number in [{min}, {max}{}",
                        if max_open { ")" } else { "]" }
                    ),
                )),
            }
        }
        FlagKind::IntList { min } => {
            let expected = format!("a non-empty list of integers >= {min}, e.g. [32, 64]");
            let Value::Sequence(items) = value else {
                return Err(invalid(spec, value, expected));
            };
            if items.is_empty() {
                return Err(invalid(spec, value, expected));
            }
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                match item.as_i64() {
                    Some(i) if i >= min => out.push(Value::from(i)),
                    _ => return Err(invalid(spec, value, expected)),
                }
            }
            Ok(Value::Sequence(out))
        }
        FlagKind::Bool => match value {
            Value::Bool(_) => Ok(value.clone()),
            _ => Err(invalid(spec, value, "true or false")),
        },
        FlagKind::Text => match value {
            Value::String(_) => Ok(value.clone()),
            Value::Null => Ok(Value::from("")),
            Value::Number(n) => Ok(Value::from(n.to_string())),
            _ => Err(invalid(spec, value, "a path")),
        },
        FlagKind::Device => {
            let expected = "auto, cpu, cuda or cuda:N (N a GPU index)";
            let Value::String(s) = value else {
                return Err(invalid(spec, value, expected));
            };
            match DeviceSpec::parse(s) {
                Some(_) => Ok(value.clone()),
                None => Err(invalid(spec, value, expected)),
            }
        }
    }
}

/// Where to train: what the `device` flag names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceSpec {
    Auto,
    Cpu,
    Cuda(usize),
}

impl DeviceSpec {
    pub fn parse(s: &str) -> Option<DeviceSpec> {
        match s {
            "auto" => Some(DeviceSpec::Auto),
            "cpu" => Some(DeviceSpec::Cpu),
            "cuda" => Some(DeviceSpec::Cuda(0)),
            _ => s
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(DeviceSpec::Cuda),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Optimizer {
    Adamw,
    Adam,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScheduleType {
    Cosine,
    Linear,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Loss {
    Mae,
    Mse,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LossOn {
    Noise,
    Image,
}

/// The word `auto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AutoWord {
    Auto,
}

/// `auto` or a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AutoOr {
    Auto(AutoWord),
    N(i64),
}

impl AutoOr {
    /// The number, or `auto_value` for `auto`.
    pub fn or(self, auto_value: i64) -> i64 {
        match self {
            AutoOr::Auto(_) => auto_value,
            AutoOr::N(n) => n,
        }
    }
}

/// Every resolved flag of a run (what `flags.yaml` holds).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Flags {
    pub optimizer: Optimizer,
    pub lr: f64,
    pub weight_decay: f64,
    pub block_depth: i64,
    pub embedding_dim: i64,
    pub unet_widths: Vec<i64>,
    pub schedule_type: ScheduleType,
    pub min_signal_rate: f64,
    pub max_signal_rate: f64,
    pub batch_size: i64,
    pub epochs: i64,
    pub loss: Loss,
    pub loss_on: LossOn,
    pub dataset_name: String,
    pub data_dir: String,
    pub antialias: bool,
    pub image_size: i64,
    pub num_workers: i64,
    pub seed: i64,
    pub ema: f64,
    pub device: String,
    pub precision: String,
    pub channels_last: bool,
    pub checkpoint_every: i64,
    pub sample_every: i64,
    pub eval_every: i64,
    pub log_every: i64,
    pub kid_images: AutoOr,
    pub kid_every: i64,
    pub kid_diffusion_steps: i64,
    pub max_images: i64,
    pub dataset_repetitions: i64,
}

/// The seed's default repetitions of the training set per epoch.
pub fn default_repetitions(dataset: &str) -> i64 {
    match dataset {
        "flowers" => 5,
        "pets" => 3,
        _ => 1,
    }
}

impl Default for Flags {
    fn default() -> Self {
        Flags::resolve(&[]).expect("the defaults are valid")
    }
}

impl Flags {
    /// Defaults overlaid with `overrides`, validated.
    pub fn resolve(overrides: &[(String, Value)]) -> Result<Flags, FlagError> {
        Self::resolve_over(&BTreeMap::new(), overrides)
    }

    /// `base` (e.g. a stored run's flags), then `overrides`, over the defaults, validated.
    pub fn resolve_over(
        base: &BTreeMap<String, Value>,
        overrides: &[(String, Value)],
    ) -> Result<Flags, FlagError> {
        let mut map = serde_yaml::Mapping::new();
        for s in FLAG_SPECS {
            let v: Value = serde_yaml::from_str(s.default).expect("valid default");
            map.insert(Value::from(s.name), v);
        }
        let all = base
            .iter()
            .map(|(k, v)| (k.as_str(), v))
            .chain(overrides.iter().map(|(k, v)| (k.as_str(), v)));
        for (name, value) in all {
            let Some(s) = spec(name) else {
                return Err(FlagError::Unknown {
                    name: name.into(),
                    suggestion: closest_flag(name),
                });
            };
            map.insert(Value::from(name), check_value(s, value)?);
        }
        // `auto` repetitions resolve to the dataset's default.
        let key = Value::from("dataset_repetitions");
        if map.get(&key).and_then(|v| v.as_str()) == Some("auto") {
            let ds = map
                .get(Value::from("dataset_name"))
                .and_then(|v| v.as_str())
                .unwrap_or("");
            map.insert(key, Value::from(default_repetitions(ds)));
        }
        let flags: Flags =
            serde_yaml::from_value(Value::Mapping(map)).map_err(|e| FlagError::Invalid {
                name: "?".into(),
                value: String::new(),
                expected: e.to_string(),
            })?;
        flags.check_together()?;
        Ok(flags)
    }

    fn check_together(&self) -> Result<(), FlagError> {
        let bad = |name: &str, value: String, expected: String| FlagError::Invalid {
            name: name.into(),
            value,
            expected,
        };
        if self.embedding_dim % 2 != 0 {
            return Err(bad(
                "embedding_dim",
                format!("`{}`", self.embedding_dim),
                "an even integer >= 2".into(),
            ));
        }
        if self.min_signal_rate <= 0.0 || self.min_signal_rate >= self.max_signal_rate {
            return Err(bad(
                "min_signal_rate",
                format!("`{}`", self.min_signal_rate),
                format!(
                    "a number in (0, max_signal_rate = {})",
                    self.max_signal_rate
                ),
            ));
        }
        if self.dataset_name == "folder" && self.data_dir.is_empty() {
            return Err(bad(
                "data_dir",
                "`` (empty)".into(),
                "the folder of images: dataset_name=folder needs data_dir=PATH".into(),
            ));
        }
        let levels = self.unet_widths.len() as u32;
        let factor = 1i64 << levels.min(30);
        if self.image_size % factor != 0 {
            return Err(bad(
                "image_size",
                format!("`{}`", self.image_size),
                format!(
                    "a multiple of {factor} (2^{levels}: the U-Net has {levels} levels, each halving the image)"
                ),
            ));
        }
        Ok(())
    }

    /// The flags as a YAML mapping, in spec order.
    pub fn to_map(&self) -> BTreeMap<String, Value> {
        match serde_yaml::to_value(self).expect("serialisable") {
            Value::Mapping(m) => m
                .into_iter()
                .filter_map(|(k, v)| k.as_str().map(|k| (k.to_string(), v)))
                .collect(),
            _ => unreachable!(),
        }
    }

    /// The flags as YAML, one per line in spec order.
    pub fn to_yaml(&self) -> String {
        serde_yaml::to_string(self).expect("serialisable")
    }

    /// Reads stored flags; a flag missing from the text (written by an older version) takes
    /// its default, and every value is validated again.
    pub fn from_yaml(text: &str) -> anyhow::Result<Flags> {
        let map: BTreeMap<String, Value> = serde_yaml::from_str(text)?;
        Ok(Self::resolve_over(&map, &[])?)
    }

    pub fn device_spec(&self) -> DeviceSpec {
        DeviceSpec::parse(&self.device).expect("validated")
    }

    /// The flags whose values differ from `other`, as (name, ours, theirs).
    pub fn differences(&self, other: &Flags) -> Vec<(String, Value, Value)> {
        let a = self.to_map();
        let b = other.to_map();
        a.into_iter()
            .filter_map(|(k, v)| {
                let w = b.get(&k).cloned().unwrap_or(Value::Null);
                (v != w).then_some((k, v, w))
            })
            .collect()
    }
}

impl fmt::Display for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_yaml())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(args: &[&str]) -> Result<Flags, FlagError> {
        Flags::resolve(&parse_assignments(args)?)
    }

    #[test]
    fn defaults_are_the_seeds() {
        let f = Flags::default();
        assert_eq!(f.optimizer, Optimizer::Adamw);
        assert_eq!(f.lr, 1e-3);
        assert_eq!(f.weight_decay, 1e-4);
        assert_eq!(f.unet_widths, vec![32, 64, 96, 128]);
        assert_eq!(f.schedule_type, ScheduleType::Cosine);
        assert_eq!((f.min_signal_rate, f.max_signal_rate), (0.02, 0.95));
        assert_eq!((f.batch_size, f.epochs, f.image_size), (64, 50, 64));
        assert_eq!((f.loss, f.loss_on), (Loss::Mae, LossOn::Noise));
        assert_eq!(f.dataset_name, "flowers");
        assert_eq!(f.dataset_repetitions, 5);
        assert_eq!(f.seed, 1);
        assert_eq!(f.ema, 0.0);
    }

    #[test]
    fn values_parse_as_yaml() {
        let f = resolve(&[
            "unet_widths=[8,16]",
            "lr=0.01",
            "loss=l1",
            "dataset_name=shapes",
            "image_size=16",
        ])
        .unwrap();
        assert_eq!(f.unet_widths, vec![8, 16]);
        assert_eq!(f.lr, 0.01);
        assert_eq!(f.loss, Loss::Mae, "l1 is an alias of mae");
        assert_eq!(f.dataset_repetitions, 1);
        let f = resolve(&["dataset_name=pets"]).unwrap();
        assert_eq!(f.dataset_repetitions, 3);
        let f = resolve(&["dataset_name=pets", "dataset_repetitions=2"]).unwrap();
        assert_eq!(f.dataset_repetitions, 2);
    }

    #[test]
    fn unknown_flag_suggests_closest() {
        let e = resolve(&["learning_rat=1"]).unwrap_err();
        assert!(matches!(e, FlagError::Unknown { .. }));
        let e = resolve(&["bach_size=4"]).unwrap_err().to_string();
        assert!(e.contains("unknown flag `bach_size`"), "{e}");
        assert!(e.contains("did you mean `batch_size`"), "{e}");
        assert!(e.contains("valid flags: optimizer, lr"), "{e}");
    }

    #[test]
    fn invalid_values_name_the_choices() {
        let e = resolve(&["loss=foo"]).unwrap_err().to_string();
        assert_eq!(
            e,
            "invalid value for flag `loss`: `foo`; expected one of mae, mse (l1 = mae)"
        );
        let e = resolve(&["unet_widths=[]"]).unwrap_err().to_string();
        assert!(
            e.starts_with("invalid value for flag `unet_widths`: []; expected a non-empty list"),
            "{e}"
        );
        let e = resolve(&["batch_size=0"]).unwrap_err().to_string();
        assert_eq!(
            e,
            "invalid value for flag `batch_size`: `0`; expected an integer >= 1"
        );
        let e = resolve(&["device=gpu"]).unwrap_err().to_string();
        assert!(e.contains("auto, cpu, cuda or cuda:N"), "{e}");
        let e = resolve(&["ema=1"]).unwrap_err().to_string();
        assert!(e.contains("[0, 1)"), "{e}");
        assert!(resolve(&["image_size=20"])
            .unwrap_err()
            .to_string()
            .contains("multiple of 16"));
        assert!(resolve(&["embedding_dim=7"]).is_err());
        assert!(resolve(&["min_signal_rate=0.99"]).is_err());
        assert!(matches!(
            resolve(&["lr"]).unwrap_err(),
            FlagError::Syntax { .. }
        ));
        assert!(matches!(
            resolve(&["lr=1", "lr=2"]).unwrap_err(),
            FlagError::Duplicate { .. }
        ));
    }

    #[test]
    fn yaml_round_trip() {
        let f = resolve(&["unet_widths=[8,16]", "ema=0.999", "device=cuda:1"]).unwrap();
        let back = Flags::from_yaml(&f.to_yaml()).unwrap();
        assert_eq!(f, back);
        assert_eq!(back.device_spec(), DeviceSpec::Cuda(1));
        let g = resolve(&["unet_widths=[8,16]", "ema=0.99", "device=cuda:1"]).unwrap();
        let d = f.differences(&g);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].0, "ema");
    }
}
