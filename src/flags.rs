//! Training flags: names, defaults (the R original's `train.R`), validation and resolution.
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
    /// An integer in `min ..= max` (the largest value a run can use: beyond it a run could
    /// only fail, so it is refused when the sweep is read).
    Int { min: i64, max: i64 },
    /// A number in the interval `[min, max]` (or `[min, max)` when `max_open`).
    Float { min: f64, max: f64, max_open: bool },
    /// A non-empty list of integers in `min ..= max`.
    IntList { min: i64, max: i64 },
    /// `auto`, `cpu`, `cuda` or `cuda:N`.
    Device,
    /// `auto` (the dataset's default) or an integer in `min ..= max`.
    AutoInt { min: i64, max: i64 },
    /// true or false.
    Bool,
    /// Any string (a path; empty for the default).
    Text,
    /// A flag of the user's own program (`command:` sweeps): any string, number or boolean,
    /// passed to the program as written (see [`program_flag`]).
    Program,
}

/// One flag: its name, default (as YAML), accepted values and a one-line description.
#[derive(Debug, Clone, Copy)]
pub struct FlagSpec {
    pub name: &'static str,
    pub default: &'static str,
    pub kind: FlagKind,
    pub help: &'static str,
    pub identity: Identity,
}

const fn choice(choices: &'static [&'static str]) -> FlagKind {
    FlagKind::Choice {
        choices,
        aliases: &[],
    }
}

/// How a flag enters a run's id (see `sweep::plan::run_id`).
#[derive(Debug, Clone, Copy)]
pub enum Identity {
    /// One of the flags of the first release: always hashed, defaults included.
    V1,
    /// Added later: hashed only when set off its default, so that upgrading keeps run ids.
    /// Give such a flag a default that behaves as the tool did before it existed.
    WhenSet,
    /// Added later, with a default that changes what some runs do: hashed when set off its
    /// default and whenever the condition holds (those runs get new ids; the others keep
    /// theirs).
    WhenUsed(fn(&Flags) -> bool),
}

impl Identity {
    /// Whether a later flag (`WhenUsed`) is hashed at its default value for these flags.
    pub fn used_by(&self, flags: &Flags) -> bool {
        matches!(self, Identity::WhenUsed(used) if used(flags))
    }
}

/// `ema_warmup` matters only when there is an EMA.
fn uses_ema(f: &Flags) -> bool {
    f.ema > 0.0
}

/// Defines every flag once: its field in [`Flags`] (name and type), its default (as YAML),
/// accepted values, identity rule and one line of documentation, in `flags.yaml`'s order.
macro_rules! define_flags {
    ($($name:ident: $ty:ty = $default:literal, $kind:expr, $identity:expr, $help:literal;)*) => {
        /// Every resolved flag of a run (what `flags.yaml` holds).
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct Flags {
            $(#[doc = $help] pub $name: $ty,)*
        }

        /// Every flag `train` accepts, in the order `flags.yaml` lists them.
        pub const FLAG_SPECS: &[FlagSpec] = &[$(FlagSpec {
            name: stringify!($name),
            default: $default,
            kind: $kind,
            help: $help,
            identity: $identity,
        },)*];
    };
}

define_flags! {
    optimizer: Optimizer = "adamw", choice(&["adamw", "adam"]), Identity::V1,
        "adamw (decoupled weight decay) or adam";
    lr: f64 = "1e-3", FlagKind::Float { min: 0.0, max: 1e12, max_open: false, }, Identity::V1,
        "learning rate";
    weight_decay: f64 = "1e-4", FlagKind::Float { min: 0.0, max: 1.0, max_open: false, }, Identity::V1,
        "decoupled weight decay of adamw (ignored by adam)";
    block_depth: i64 = "2", FlagKind::Int { min: 1, max: 64 }, Identity::V1,
        "residual blocks per U-Net level";
    embedding_dim: i64 = "32", FlagKind::Int { min: 2, max: 65_536 }, Identity::V1,
        "sinusoidal embedding size (even)";
    unet_widths: Vec<i64> = "[32, 64, 96, 128]", FlagKind::IntList { min: 1, max: 65_536 }, Identity::V1,
        "channels of each U-Net level";
    schedule_type: ScheduleType = "cosine", choice(&["cosine", "linear"]), Identity::V1,
        "diffusion schedule";
    min_signal_rate: f64 = "0.02", FlagKind::Float { min: 0.0, max: 1.0, max_open: false, }, Identity::V1,
        "smallest signal rate (cosine) or signal variance (linear)";
    max_signal_rate: f64 = "0.95", FlagKind::Float { min: 0.0, max: 1.0, max_open: false, }, Identity::V1,
        "largest signal rate (cosine) or signal variance (linear)";
    batch_size: i64 = "64", FlagKind::Int { min: 1, max: 1 << 20 }, Identity::V1,
        "training batch size (evaluation uses twice this)";
    epochs: i64 = "50", FlagKind::Int { min: 1, max: 1_000_000 }, Identity::V1,
        "training epochs";
    loss: Loss = "mae", FlagKind::Choice { choices: &["mae", "mse"], aliases: &[("l1", "mae")], }, Identity::V1,
        "training loss: mae (alias l1) or mse";
    loss_on: LossOn = "noise", choice(&["noise", "image"]), Identity::V1,
        "the network predicts the noise or the image";
    dataset_name: Dataset = "flowers", choice(&["flowers", "pets", "folder", "shapes", "icons"]), Identity::V1,
        "dataset (shapes and icons are built in)";
    data_dir: String = "''", FlagKind::Text, Identity::V1,
        "the dataset's folder (default: $DDIM_DATA or data/, then the dataset's name; required for folder)";
    antialias: bool = "false", FlagKind::Bool, Identity::V1,
        "antialiased resize (the R original's is plain bilinear)";
    image_size: i64 = "64", FlagKind::Int { min: 2, max: 8192 }, Identity::V1,
        "image side length in pixels (3 channels)";
    num_workers: i64 = "0", FlagKind::Int { min: 0, max: 1024 }, Identity::V1,
        "threads that decode the dataset (0 = every core)";
    seed: i64 = "1", FlagKind::Int { min: 0, max: i64::MAX }, Identity::V1,
        "seed of every random draw";
    ema: f64 = "0", FlagKind::Float { min: 0.0, max: 1.0, max_open: true, }, Identity::V1,
        "EMA decay of the weights used to sample and evaluate (0 = off)";
    ema_warmup: bool = "true", FlagKind::Bool, Identity::WhenUsed(uses_ema),
        "warm the EMA decay up as min(ema, (1 + step) / (10 + step)), so early EMA weights are not mostly the untrained network";
    device: DeviceSpec = "auto", FlagKind::Device, Identity::V1,
        "auto, cpu, cuda or cuda:N";
    precision: Precision = "fp32", choice(&["fp32", "bf16", "auto"]), Identity::V1,
        "bf16: the training forward pass under bfloat16 autocast (weights stay fp32); auto: bf16 where the device computes it natively (CUDA compute capability >= 8.0; a CPU with AVX512-BF16 or AMX-BF16 that oneDNN may use), else fp32; the resolved value is kept in run.json";
    channels_last: bool = "false", FlagKind::Bool, Identity::V1,
        "convolution weights and inputs in channels-last memory format";
    checkpoint_every: i64 = "0", FlagKind::Int { min: 0, max: 1_000_000 }, Identity::V1,
        "checkpoint every N steps (0 = at the end of each epoch)";
    sample_every: i64 = "1", FlagKind::Int { min: 0, max: 1_000_000 }, Identity::V1,
        "write a 6x6 sample grid every N epochs (0 = never)";
    eval_every: i64 = "1", FlagKind::Int { min: 0, max: 1_000_000 }, Identity::V1,
        "validation losses every N epochs (0 = only after training)";
    log_every: i64 = "10", FlagKind::Int { min: 1, max: 1_000_000_000 }, Identity::V1,
        "log the training batch's losses every N steps (steps.csv, TensorBoard)";
    kid_images: AutoOr = "auto", FlagKind::AutoInt { min: 0, max: 1_000_000 }, Identity::V1,
        "generated images for the run's KID (auto = the validation set's size; 0 = no KID)";
    kid_every: i64 = "0", FlagKind::Int { min: 0, max: 1_000_000 }, Identity::V1,
        "also compute KID every N epochs (0 = only after training)";
    kid_diffusion_steps: i64 = "5", FlagKind::Int { min: 2, max: 100_000 }, Identity::V1,
        "diffusion steps of the samples that KID scores";
    max_images: i64 = "0", FlagKind::Int { min: 0, max: 1 << 40 }, Identity::V1,
        "use at most N images of the dataset (0 = all)";
    dataset_repetitions: i64 = "auto", FlagKind::AutoInt { min: 1, max: 1_000_000 }, Identity::V1,
        "passes over the training set per epoch (auto: flowers 5, pets 3, others 1)";
}

/// The flags every run id covers with their defaults (those of [`Identity::V1`]), in order.
pub const IDENTITY_V1_FLAGS: &[&str] = &v1_names::<{ v1_count() }>();

const fn v1_count() -> usize {
    let (mut i, mut n) = (0, 0);
    while i < FLAG_SPECS.len() {
        if matches!(FLAG_SPECS[i].identity, Identity::V1) {
            n += 1;
        }
        i += 1;
    }
    n
}

const fn v1_names<const N: usize>() -> [&'static str; N] {
    let mut out = [""; N];
    let (mut i, mut k) = (0, 0);
    while i < FLAG_SPECS.len() {
        if matches!(FLAG_SPECS[i].identity, Identity::V1) {
            out[k] = FLAG_SPECS[i].name;
            k += 1;
        }
        i += 1;
    }
    out
}

/// Looks a flag up by name.
pub fn spec(name: &str) -> Option<&'static FlagSpec> {
    FLAG_SPECS.iter().find(|s| s.name == name)
}

/// Looks a flag up by name; an unknown one is an error with the closest valid name.
pub fn lookup(name: &str) -> Result<&'static FlagSpec, FlagError> {
    spec(name).ok_or_else(|| FlagError::Unknown {
        name: name.into(),
        suggestion: closest(name, FLAG_SPECS.iter().map(|s| s.name)),
    })
}

/// The spec of flag `name` of a user's program (a `command:` sweep): any name that can be an
/// option (`--name=value`) and an environment variable's suffix (`DDIM_FLAG_NAME`), any
/// scalar value. Interned: one spec per name for the process's life.
pub fn program_flag(name: &str) -> Result<&'static FlagSpec, FlagError> {
    if let Some(why) = program_flag_problem(name) {
        return Err(FlagError::BadName {
            name: name.escape_debug().to_string(),
            why,
        });
    }
    static SPECS: std::sync::LazyLock<
        std::sync::Mutex<std::collections::HashMap<String, &'static FlagSpec>>,
    > = std::sync::LazyLock::new(Default::default);
    let mut specs = SPECS.lock().unwrap_or_else(|p| p.into_inner());
    Ok(specs.entry(name.to_string()).or_insert_with(|| {
        Box::leak(Box::new(FlagSpec {
            name: Box::leak(name.to_string().into_boxed_str()),
            default: "''",
            kind: FlagKind::Program,
            help: "a flag of the sweep's program",
            identity: Identity::V1,
        }))
    }))
}

/// Why `name` cannot be a program's flag: it must start with a letter and hold only ASCII
/// letters, digits, `_` and `-` (at most 64 characters), so that `--name=value` is one option
/// for any argument parser and `DDIM_FLAG_NAME` a valid variable.
pub fn program_flag_problem(name: &str) -> Option<String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    (!ok).then(|| {
        "it must start with a letter and hold only ASCII letters, digits, `_` and `-`, at most 64 (it becomes the option --NAME=VALUE and the variable DDIM_FLAG_NAME)".to_string()
    })
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
    #[error("`{name}` cannot be a flag of a program: {why}")]
    BadName { name: String, why: String },
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

/// The closest of `candidates` to `word` by Jaro-Winkler similarity, if similar enough.
pub fn closest<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> Option<String> {
    candidates
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score >= 0.75)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c.to_string())
}

/// A flag value as plain text, exactly as written (`mse`, `0.001`, `[8, 16]`; a string is
/// never trimmed, so two different values never read the same): run names, records,
/// report cells.
pub fn plain_value(v: &Value) -> String {
    match v {
        Value::Null => "null (empty)".into(),
        Value::String(s) => s.clone(),
        // serde_yaml writes a number as its Display does (itoa, ryu, .inf, .nan) and a
        // bool as true/false: the same text without running its emitter.
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Sequence(items) => format!(
            "[{}]",
            items.iter().map(plain_value).collect::<Vec<_>>().join(", ")
        ),
        other => serde_yaml::to_string(other)
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| format!("{other:?}")),
    }
}

/// Renders a YAML value compactly for messages (`mse`, `[8, 16]`, `null`): a scalar in
/// backticks.
pub fn show_value(v: &Value) -> String {
    match v {
        Value::Null | Value::Sequence(_) => plain_value(v),
        // Control characters escaped: a message never carries a NUL or a line break.
        other => format!(
            "`{}`",
            plain_value(other)
                .chars()
                .map(|c| match c.is_control() {
                    true => c.escape_debug().to_string(),
                    false => c.to_string(),
                })
                .collect::<String>()
        ),
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
        FlagKind::Int { min, max } => match value.as_i64() {
            Some(i) if (min..=max).contains(&i) => Ok(Value::from(i)),
            _ => Err(invalid(spec, value, format!("an {}", int_range(min, max)))),
        },
        FlagKind::AutoInt { min, max } => match value {
            Value::String(s) if s == "auto" => Ok(value.clone()),
            _ => match value.as_i64() {
                Some(i) if (min..=max).contains(&i) => Ok(Value::from(i)),
                _ => Err(invalid(
                    spec,
                    value,
                    format!("`auto` or an {}", int_range(min, max)),
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
        FlagKind::IntList { min, max } => {
            let expected = format!(
                "a non-empty list of {}, e.g. [32, 64]",
                ints_range(min, max)
            );
            let Value::Sequence(items) = value else {
                return Err(invalid(spec, value, expected));
            };
            if items.is_empty() {
                return Err(invalid(spec, value, expected));
            }
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                match item.as_i64() {
                    Some(i) if (min..=max).contains(&i) => out.push(Value::from(i)),
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
            Value::String(s) if s.chars().any(char::is_control) => Err(invalid(
                spec,
                value,
                "a path without NUL, line breaks or other control characters (it becomes part of file and folder names)",
            )),
            Value::String(_) => Ok(value.clone()),
            Value::Null => Ok(Value::from("")),
            Value::Number(n) => Ok(Value::from(n.to_string())),
            _ => Err(invalid(spec, value, "a path")),
        },
        FlagKind::Program => match value {
            Value::Bool(_) | Value::Number(_) => Ok(value.clone()),
            Value::String(s) if s.contains('\0') => Err(invalid(
                spec,
                value,
                "text without NUL (a program's argument cannot hold one)",
            )),
            Value::String(_) => Ok(value.clone()),
            _ => Err(invalid(
                spec,
                value,
                "a string, number or boolean (a program's flag is one argument)",
            )),
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

/// Where to train: what the `device` flag names. Kept as written (`cuda` and `cuda:0` are
/// the same GPU but different text, and the text is part of a run's id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceSpec {
    Auto,
    Cpu,
    /// `cuda` (None, the first GPU) or `cuda:N`.
    Cuda(Option<usize>),
}

impl DeviceSpec {
    pub fn parse(s: &str) -> Option<DeviceSpec> {
        match s {
            "auto" => Some(DeviceSpec::Auto),
            "cpu" => Some(DeviceSpec::Cpu),
            "cuda" => Some(DeviceSpec::Cuda(None)),
            _ => s
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(|n| DeviceSpec::Cuda(Some(n))),
        }
    }

    /// The GPU index asked for, if a GPU is.
    pub fn gpu(self) -> Option<usize> {
        match self {
            DeviceSpec::Cuda(n) => Some(n.unwrap_or(0)),
            _ => None,
        }
    }
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceSpec::Auto => f.write_str("auto"),
            DeviceSpec::Cpu => f.write_str("cpu"),
            DeviceSpec::Cuda(None) => f.write_str("cuda"),
            DeviceSpec::Cuda(Some(n)) => write!(f, "cuda:{n}"),
        }
    }
}

impl std::str::FromStr for DeviceSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        DeviceSpec::parse(s).ok_or_else(|| format!("`{s}`: expected auto, cpu, cuda or cuda:N"))
    }
}

impl Serialize for DeviceSpec {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for DeviceSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The dataset a run trains on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dataset {
    /// Oxford Flowers 102 (official archive).
    Flowers,
    /// Oxford-IIIT Pet (official archives).
    Pets,
    /// Every image under `data_dir`.
    Folder,
    /// Built in: procedural shapes on gradients.
    Shapes,
    /// Built in: one large, centred shape on a plain background.
    Icons,
}

impl Dataset {
    pub fn name(self) -> &'static str {
        match self {
            Dataset::Flowers => "flowers",
            Dataset::Pets => "pets",
            Dataset::Folder => "folder",
            Dataset::Shapes => "shapes",
            Dataset::Icons => "icons",
        }
    }

    /// Drawn by the program itself: nothing to find, fetch or cache.
    pub fn is_builtin(self) -> bool {
        matches!(self, Dataset::Shapes | Dataset::Icons)
    }

    /// The R original's passes over the training set per epoch.
    pub fn default_repetitions(self) -> i64 {
        match self {
            Dataset::Flowers => 5,
            Dataset::Pets => 3,
            _ => 1,
        }
    }
}

impl std::str::FromStr for Dataset {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        serde_yaml::from_str::<Dataset>(s)
            .map_err(|_| format!("`{s}`: expected flowers, pets, folder, shapes or icons"))
    }
}

/// Compares with the flag's text (`flags.dataset_name == "flowers"`).
impl PartialEq<&str> for Dataset {
    fn eq(&self, other: &&str) -> bool {
        self.name() == *other
    }
}

impl fmt::Display for Dataset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The training forward pass's precision (`auto` is resolved per machine by
/// `device::precision` when a run first starts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    Fp32,
    Bf16,
    Auto,
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Precision::Fp32 => "fp32",
            Precision::Bf16 => "bf16",
            Precision::Auto => "auto",
        })
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
        // The defaults, parsed once (planning resolves every run of a sweep).
        static DEFAULTS: std::sync::LazyLock<serde_yaml::Mapping> =
            std::sync::LazyLock::new(|| {
                FLAG_SPECS
                    .iter()
                    .map(|s| {
                        let v: Value = serde_yaml::from_str(s.default).expect("valid default");
                        (Value::from(s.name), v)
                    })
                    .collect()
            });
        let mut map = DEFAULTS.clone();
        let all = base
            .iter()
            .map(|(k, v)| (k.as_str(), v))
            .chain(overrides.iter().map(|(k, v)| (k.as_str(), v)));
        for (name, value) in all {
            map.insert(Value::from(name), check_value(lookup(name)?, value)?);
        }
        // `auto` repetitions resolve to the dataset's default.
        let key = Value::from("dataset_repetitions");
        if map.get(&key).and_then(|v| v.as_str()) == Some("auto") {
            let ds = map
                .get(Value::from("dataset_name"))
                .cloned()
                .and_then(|v| serde_yaml::from_value::<Dataset>(v).ok())
                .unwrap_or(Dataset::Folder);
            map.insert(key, Value::from(ds.default_repetitions()));
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
        if self.dataset_name == Dataset::Folder && self.data_dir.is_empty() {
            return Err(bad(
                "data_dir",
                "`` (empty)".into(),
                "the folder of images: dataset_name=folder needs data_dir=PATH".into(),
            ));
        }
        let levels = self.unet_widths.len() as u32;
        let most = 63 - self.image_size.max(1).leading_zeros();
        if levels > most {
            return Err(bad(
                "unet_widths",
                format!("{} levels", levels),
                format!(
                    "at most {most} levels for image_size {} (each level halves the image; {levels} would halve it below one pixel)",
                    self.image_size
                ),
            ));
        }
        let factor = 1i64 << levels;
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

    /// The flags as a map from name to value.
    pub fn to_map(&self) -> BTreeMap<String, Value> {
        match serde_yaml::to_value(self).expect("serialisable") {
            Value::Mapping(m) => m
                .into_iter()
                .filter_map(|(k, v)| k.as_str().map(|k| (k.to_string(), v)))
                .collect(),
            _ => unreachable!(),
        }
    }

    /// Whether the run ends with its sample metrics (KID, FID, precision and recall of
    /// `kid_images` samples: `auto` or above 0).
    pub fn measures_samples(&self) -> bool {
        self.kid_images.or(1) != 0
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

/// `integer >= 1`, or `integer from 1 to 64` where the flag has a maximum.
pub fn int_range(min: i64, max: i64) -> String {
    int_words("integer", min, max)
}

/// [`int_range`] for a list: `integers from 1 to 65536`.
pub fn ints_range(min: i64, max: i64) -> String {
    int_words("integers", min, max)
}

fn int_words(noun: &str, min: i64, max: i64) -> String {
    if max == i64::MAX {
        format!("{noun} >= {min}")
    } else {
        format!("{noun} from {min} to {max}")
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
            "invalid value for flag `batch_size`: `0`; expected an integer from 1 to 1048576"
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
        assert_eq!(back.device, DeviceSpec::Cuda(Some(1)));
        let g = resolve(&["unet_widths=[8,16]", "ema=0.99", "device=cuda:1"]).unwrap();
        let d = f.differences(&g);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].0, "ema");
    }
}
