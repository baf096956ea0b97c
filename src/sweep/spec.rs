//! Sweep files: a label, fixed flags, a grid of flag values and exclusions, validated before
//! anything runs. Every error names the file, the line (and column where YAML knows it), and
//! what would be valid.
//!
//! ```yaml
//! label: flowers_exp1            # names the sweep; every run carries it
//! flags:                         # fixed flags for every run
//!   dataset_name: flowers
//! grid:                          # one run per combination, first key varying slowest
//!   loss: [mae, mse]
//!   loss_on: [noise, image]
//! exclude:                       # partial flag maps whose combinations are skipped
//!   - {loss: mse, loss_on: image}
//! slurm:                         # an executor's block: kept opaque ([`Block`]), read by
//!   time: "2:00:00"              # its owner in `exec` (whose names `load` is given)
//! ```

pub use super::section::SpecError;
use super::section::{find_line, SweepText};
use super::stop::{parse_stop, EarlyStop, RawStop};
use super::strategy::race::{parse_race, Race, RawRace};
use super::strategy::random::{parse_random, RandomSearch, RawRandom};
use super::strategy::search::{parse_search, RawSearch, Search};
use crate::flags::{check_value, closest, lookup, plain_value, show_value, FlagError, FlagSpec};
use serde::Deserialize;
use serde_yaml::{Mapping, Value};
use std::path::{Path, PathBuf};

/// A sweep, validated: values are canonical (aliases resolved), grid keys in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepSpec {
    pub label: String,
    pub fixed: Vec<(String, Value)>,
    pub grid: Vec<(String, Vec<Value>)>,
    pub exclude: Vec<Vec<(String, Value)>>,
    /// The executors' blocks (`slurm:`), kept as written for their owners to decode (never
    /// part of a run's identity).
    pub blocks: Vec<Block>,
    /// Random draws per grid point (`random:`).
    pub random: Option<RandomSearch>,
    /// Early stopping (`stop:`).
    pub stop: Option<EarlyStop>,
    /// Racing (`race:`): its seeds are also the grid's outermost flag `seed`.
    pub race: Option<Race>,
    /// Model-based search (`search:`).
    pub search: Option<Search>,
    /// The user's program (`command:`), or None for the built-in trainer.
    pub program: Option<super::program::ProgramSpec>,
    /// The line of `command:` (for messages about the program found at planning).
    pub command_line: Option<usize>,
    /// The line of `sample_metrics:`, for the messages about its reference folder.
    pub sample_metrics_line: Option<usize>,
    /// The line of `stop:`, for the messages about the runs it stops.
    pub stop_line: Option<usize>,
    pub source: Option<PathBuf>,
}

/// A top-level block of the sweep file that another part of the tool owns (an executor's
/// settings, e.g. `slurm:`): kept as written, read by its owner with [`Block::decode`].
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    pub name: String,
    file: String,
    text: std::sync::Arc<str>,
}

impl Block {
    /// The block as its owner's type, errors located in the sweep file (`None` for an empty
    /// block).
    pub fn decode<T: serde::de::DeserializeOwned>(&self) -> Result<Option<T>, SpecError> {
        let only = OnlyKey::<T> {
            key: &self.name,
            value: std::marker::PhantomData,
        };
        serde::Deserializer::deserialize_map(serde_yaml::Deserializer::from_str(&self.text), only)
            .map_err(|e| yaml_error(e, &self.text, &self.file))
    }
}

/// Reads one top-level key of a YAML mapping as `T`, skipping the rest: serde's streaming
/// deserializer keeps the file's locations for the errors inside it.
struct OnlyKey<'a, T> {
    key: &'a str,
    value: std::marker::PhantomData<T>,
}

impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for OnlyKey<'_, T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a mapping")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut m: A) -> Result<Option<T>, A::Error> {
        let mut out = None;
        while let Some(k) = m.next_key::<Value>()? {
            if k.as_str() == Some(self.key) {
                out = m.next_value::<Option<T>>()?;
            } else {
                m.next_value::<serde::de::IgnoredAny>()?;
            }
        }
        Ok(out)
    }
}

/// The sections a sweep file has (besides the executors' blocks).
const SECTIONS: [&str; 14] = [
    "label",
    "flags",
    "grid",
    "seeds",
    "exclude",
    "random",
    "stop",
    "race",
    "search",
    "command",
    "metrics",
    "sources",
    "timeout",
    "sample_metrics",
];

/// The sections of [`SECTIONS`]; other top-level keys are checked by [`blocks`].
#[derive(Debug, Deserialize)]
struct RawSweep {
    label: Option<Value>,
    #[serde(default)]
    flags: Option<Mapping>,
    #[serde(default)]
    grid: Option<Mapping>,
    #[serde(default)]
    exclude: Option<Vec<Mapping>>,
    #[serde(default)]
    random: Option<RawRandom>,
    #[serde(default)]
    stop: Option<RawStop>,
    /// Replicates: `[1, 2, 3]` or a count (`3` = 1..3); the grid's outermost flag `seed`.
    #[serde(default)]
    seeds: Option<Value>,
    #[serde(default)]
    race: Option<RawRace>,
    #[serde(default)]
    search: Option<RawSearch>,
    #[serde(default)]
    command: Option<super::program::RawCommand>,
    #[serde(default)]
    metrics: Option<Mapping>,
    #[serde(default)]
    sources: Option<Vec<String>>,
    #[serde(default)]
    timeout: Option<super::program::RawTimeout>,
    #[serde(default)]
    sample_metrics: Option<super::program::RawSampleMetrics>,
}

/// Is `label` usable as one directory name? (the rule of [`crate::names::label_problem`])
pub fn safe_label(label: &str) -> bool {
    crate::names::is_label(label)
}

impl SweepSpec {
    /// Reads and validates a sweep file; `owners` names the blocks other parts of the tool
    /// read (the executors': `exec::BLOCKS`).
    pub fn load(path: &Path, owners: &[&str]) -> Result<SweepSpec, SpecError> {
        let whole = |message: String| SpecError {
            file: path.display().to_string(),
            line: None,
            column: None,
            message,
        };
        // Refused by its size before it is read.
        let len = fs_err::metadata(path)
            .map_err(|e| whole(format!("cannot read the sweep file: {e}")))?
            .len();
        if len > MAX_BYTES as u64 {
            return Err(whole(too_big(len as usize)));
        }
        let text = fs_err::read_to_string(path)
            .map_err(|e| whole(format!("cannot read the sweep file: {e}")))?;
        let mut spec = SweepSpec::parse(&text, &path.display().to_string(), owners)?;
        spec.source = Some(path.to_path_buf());
        Ok(spec)
    }

    /// Parses and validates sweep YAML; `file` names it in errors; `owners` as for `load`.
    pub fn parse(text: &str, file: &str, owners: &[&str]) -> Result<SweepSpec, SpecError> {
        let mut raw = parse_raw(text, file)?;
        let blocks = blocks(text, file, owners)?;
        let t = SweepText {
            text,
            file,
            program: raw.command.is_some(),
            samples: raw.command.is_some() && raw.sample_metrics.is_some(),
        };
        let p = Parser { t };
        let label = p.label(raw.label.take())?;
        // First: it declares the metrics the blocks below may name.
        let mut program = super::program::parse_program(
            t,
            super::program::RawProgram {
                command: raw.command.take(),
                metrics: raw.metrics.take(),
                sources: raw.sources.take(),
                timeout: raw.timeout.take(),
                sample_metrics: raw.sample_metrics.take(),
            },
        )?;
        let fixed = p.fixed(raw.flags.unwrap_or_default())?;
        let mut grid = p.grid(raw.grid.unwrap_or_default(), &fixed)?;
        if raw.seeds.is_some() && raw.race.is_some() {
            return Err(p.err(
                find_line(text, "", "seeds"),
                "seeds: and race: both give the seeds: keep the race's (race: seeds:)".into(),
            ));
        }
        if let Some(seeds) = raw.seeds {
            // Outermost: every configuration's first seed before any second one.
            grid.insert(0, ("seed".into(), t.seeds("", &seeds, &fixed, &grid)?));
        }
        let race = raw
            .race
            .map(|r| parse_race(t, r, &fixed, &grid))
            .transpose()?;
        if let Some(r) = &race {
            grid.insert(0, ("seed".into(), r.seeds.clone()));
        }
        let exclude = p.exclude(raw.exclude.unwrap_or_default(), &grid)?;
        let random = raw
            .random
            .map(|r| parse_random(t, r, &fixed, &grid))
            .transpose()?;
        let stop = raw.stop.map(|s| parse_stop(t, s)).transpose()?;
        if let (Some(st), Some(_)) = (&stop, &race) {
            if st.rule.has_brackets() {
                return Err(t.err(
                    t.line("stop", "rule"),
                    "stop: hyperband's brackets and race: do not go together (a race compares every configuration on the same seeds; brackets would stop them at different epochs): use rule: asha or median, or drop race:".into(),
                ));
            }
        }
        let search = match raw.search {
            Some(r) => Some(parse_search(
                t,
                r,
                &fixed,
                &grid,
                random.is_some(),
                race.is_some(),
            )?),
            None => None,
        };
        if let Some(prog) = &mut program {
            let named = |n: &str| {
                fixed.iter().any(|(k, _)| k == n)
                    || random.iter().any(|r| r.space.iter().any(|(k, _)| k == n))
                    || search.iter().any(|r| r.space.iter().any(|(k, _)| k == n))
            };
            // The grid's `seed` is the user's unless seeds: or race: put it there.
            let replicated = text_has_top_key(text, "seeds") || race.is_some();
            prog.seed_option =
                named("seed") || (!replicated && grid.iter().any(|(k, _)| k == "seed"));
        }
        if let Some(prog) = &program {
            check_program_blocks(t, prog, &fixed, &grid, &random, &search, &stop, &race)?;
        }
        let stop_line = stop.as_ref().and_then(|_| t.line("", "stop"));
        Ok(SweepSpec {
            stop_line,
            label,
            fixed,
            grid,
            exclude,
            blocks,
            random,
            stop,
            race,
            search,
            command_line: program.as_ref().and_then(|_| t.line("", "command")),
            sample_metrics_line: program
                .as_ref()
                .and_then(|p| p.sample_metrics.as_ref())
                .and_then(|_| t.line("", "sample_metrics")),
            program,
            source: None,
        })
    }

    /// Applies `--set FLAG=VALUE`: a fixed flag takes the value; a grid flag is narrowed to it.
    pub fn apply_set(&mut self, sets: &[(String, Value)]) -> Result<(), FlagError> {
        for (name, value) in sets {
            let spec = match self.program {
                Some(_) => crate::flags::program_flag(name)?,
                None => lookup(name)?,
            };
            let v = check_value(spec, value)?;
            if let Some(r) = &mut self.random {
                r.space.retain(|(n, _)| n != name);
                if r.space.is_empty() {
                    self.random = None;
                }
            }
            if let Some(r) = &mut self.search {
                r.space.retain(|(n, _)| n != name);
                if r.space.is_empty() {
                    self.search = None;
                }
            }
            if let Some((_, values)) = self.grid.iter_mut().find(|(n, _)| n == name) {
                *values = vec![v];
            } else if let Some((_, fv)) = self.fixed.iter_mut().find(|(n, _)| n == name) {
                *fv = v;
            } else {
                self.fixed.push((name.clone(), v));
            }
        }
        Ok(())
    }
}

/// Whether the file has the top-level key `key:`.
fn text_has_top_key(text: &str, key: &str) -> bool {
    text.lines().any(|l| l.starts_with(&format!("{key}:")))
}

/// In a sweep of the user's program, the blocks name the program's metrics (not the built-in
/// trainer's), and the command's placeholders name its flags.
#[allow(clippy::too_many_arguments)]
fn check_program_blocks(
    t: SweepText,
    prog: &super::program::ProgramSpec,
    fixed: &[(String, Value)],
    grid: &[(String, Vec<Value>)],
    random: &Option<RandomSearch>,
    search: &Option<Search>,
    stop: &Option<EarlyStop>,
    race: &Option<Race>,
) -> Result<(), SpecError> {
    let declared = t.final_metric_names();
    let named = [
        ("stop", stop.as_ref().map(|s| s.metric.clone())),
        ("search", search.as_ref().map(|s| s.metric.name.to_string())),
        ("race", race.as_ref().map(|r| r.metric.clone())),
    ];
    for (block, metric) in named {
        if let Some(m) = metric.filter(|m| !declared.contains(&m.as_str())) {
            return Err(t.err(
                t.line(block, "metric"),
                format!(
                    "{block}: metric `{m}` is not one the program reports: name one of metrics: ({})",
                    declared.join(", ")
                ),
            ));
        }
    }
    let mut flags: Vec<&str> = fixed.iter().map(|(n, _)| n.as_str()).collect();
    flags.extend(grid.iter().map(|(n, _)| n.as_str()));
    flags.extend(
        random
            .iter()
            .flat_map(|r| r.space.iter().map(|(n, _)| n.as_str())),
    );
    flags.extend(
        search
            .iter()
            .flat_map(|r| r.space.iter().map(|(n, _)| n.as_str())),
    );
    for p in prog.placeholders() {
        if p != "sweep_dir" && p != "seed" && !flags.contains(&p.as_str()) {
            return Err(t.err(
                t.line("", "command"),
                format!(
                    "command: the placeholder {{{p}}} names no flag of the sweep (flags: {}; also {{sweep_dir}} and {{seed}})",
                    if flags.is_empty() { "none".to_string() } else { flags.join(", ") }
                ),
            ));
        }
    }
    Ok(())
}

/// A sweep file is at most this long (a sweep of 100,000 runs needs a few hundred bytes;
/// a long `exclude:` list a few hundred KB).
pub const MAX_BYTES: usize = 1 << 20;

/// Sections, lists and mappings nest at most this deep (a sweep file needs 4).
pub const MAX_DEPTH: usize = 32;

fn too_big(len: usize) -> String {
    format!(
        "the sweep file is {len} bytes, over the limit of {MAX_BYTES} (1 MiB): a grid needs a few lines per flag; split a longer file into several sweeps"
    )
}

/// Refuses, before YAML parses it, a text over [`MAX_BYTES`] or nested deeper than
/// [`MAX_DEPTH`] (by indentation, `- ` items and `[`/`{`), with the line; a YAML parser
/// takes time and memory that grow faster than such a text.
fn check_bounds(text: &str, file: &str) -> Result<(), SpecError> {
    let at = |line: Option<usize>, message: String| SpecError {
        file: file.to_string(),
        line,
        column: None,
        message,
    };
    if text.len() > MAX_BYTES {
        return Err(at(None, too_big(text.len())));
    }
    let mut indents: Vec<usize> = Vec::new();
    let mut flow = 0usize;
    for (i, line) in text.lines().enumerate() {
        let body = line.trim_start_matches(' ');
        if flow == 0 && !body.is_empty() && !body.starts_with('#') {
            let indent = line.len() - body.len();
            while indents.last().is_some_and(|&d| d >= indent) {
                indents.pop();
            }
            indents.push(indent);
        }
        // Compact items (`- - x`) nest as deep as indentation does.
        let dashes = body
            .split_inclusive(' ')
            .take_while(|t| *t == "- ")
            .count()
            .saturating_sub(1);
        let mut deepest = flow;
        let mut quote: Option<char> = None;
        let mut prev = ' ';
        for c in body.chars() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '"' | '\'') => quote = Some(c),
                (None, '#') if prev == ' ' => break,
                (None, '[' | '{') => {
                    flow += 1;
                    deepest = deepest.max(flow);
                }
                (None, ']' | '}') => flow = flow.saturating_sub(1),
                _ => {}
            }
            prev = c;
        }
        let depth = indents.len() + dashes + deepest;
        if depth > MAX_DEPTH {
            return Err(at(
                Some(i + 1),
                format!(
                    "nested {depth} levels deep here, over the limit of {MAX_DEPTH}: a sweep file needs 4 (section, flag, list, value)"
                ),
            ));
        }
    }
    Ok(())
}

/// The label as the text writes it (`label: 1.10` gives `1.10`), for the message that asks
/// to quote it.
fn written_label(text: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix("label:"))
        .map(|v| v.split(" #").next().unwrap_or("").trim().to_string())
        .filter(|v| !v.is_empty())
}

/// The line of the first YAML alias (`*name`), for an expansion refused by the parser.
fn first_alias_line(text: &str) -> Option<usize> {
    text.lines()
        .position(|l| {
            l.match_indices('*').any(|(i, _)| {
                let before = l[..i].chars().last();
                let after = l[i + 1..].chars().next();
                matches!(before, None | Some(' ' | '[' | '{' | ',' | ':'))
                    && after.is_some_and(|c| c.is_alphanumeric() || c == '_')
            })
        })
        .map(|i| i + 1)
}

/// The YAML's structure, with serde's location of a syntax error.
fn parse_raw(text: &str, file: &str) -> Result<RawSweep, SpecError> {
    check_bounds(text, file)?;
    serde_yaml::from_str(text).map_err(|e| yaml_error(e, text, file))
}

/// The top-level keys that are not [`SECTIONS`] as blocks, each the name of one of
/// `owners` (the executors' blocks); any other key is refused with its line.
fn blocks(text: &str, file: &str, owners: &[&str]) -> Result<Vec<Block>, SpecError> {
    // The keys only: the values are skipped, not built.
    let Ok(top) =
        serde_yaml::from_str::<std::collections::HashMap<Value, serde::de::IgnoredAny>>(text)
    else {
        return Ok(Vec::new()); // not a mapping: RawSweep said what it is
    };
    let mut names: Vec<String> = top.keys().map(plain_value).collect();
    names.sort();
    let shared: std::sync::Arc<str> = text.into();
    let mut out = Vec::new();
    for name in names {
        if SECTIONS.contains(&name.as_str()) {
            continue;
        }
        if owners.contains(&name.as_str()) {
            out.push(Block {
                name,
                file: file.to_string(),
                text: shared.clone(),
            });
            continue;
        }
        let line = find_line(text, "", &name);
        let hint = closest(&name, SECTIONS.iter().chain(owners).copied())
            .map(|c| format!("; did you mean `{c}`?"))
            .unwrap_or_default();
        return Err(SpecError {
            file: file.to_string(),
            line,
            column: line.map(|_| 1),
            message: format!(
                "unknown field `{name}` (a sweep file has {}, and a block per executor: {}){hint}",
                SECTIONS.join(", "),
                owners.join(", ")
            ),
        });
    }
    Ok(out)
}

/// A YAML error located in the file: serde's location, or the first alias when aliases
/// expand too far.
fn yaml_error(e: serde_yaml::Error, text: &str, file: &str) -> SpecError {
    let loc = e.location();
    let mut message = e.to_string();
    // serde_yaml appends " at line L column C": the location is shown in front already.
    if let Some(i) = message.find(" at line ") {
        message.truncate(i);
    }
    if message.contains("repetition limit exceeded") {
        return SpecError {
            file: file.to_string(),
            line: first_alias_line(text),
            column: None,
            message: "YAML aliases (`*name`) here expand past the parser's limit: write the values out, or use fewer aliases of aliases".into(),
        };
    }
    let line = loc.as_ref().map(|l| l.line());
    // The line with the error, or the first one with a tab (the parser may report the
    // line after it).
    let tab_line = line
        .filter(|&l| {
            text.lines()
                .nth(l.saturating_sub(1))
                .is_some_and(|t| t.contains('\t'))
        })
        .or_else(|| text.lines().position(|t| t.contains('\t')).map(|i| i + 1));
    if let Some(t) = tab_line {
        message = format!(
            "{message}; line {t} holds a tab character: YAML indents with spaces only, never tabs"
        );
    }
    SpecError {
        file: file.to_string(),
        line,
        column: loc.as_ref().map(|l| l.column()),
        message,
    }
}

/// A distribution's bound as the sweep file wrote it (`2`, not `2.0`).
/// Validates the sections a sweep file holds itself (label, flags, grid, exclusions),
/// locating errors in its text; the search blocks parse their own parts.
struct Parser<'a> {
    t: SweepText<'a>,
}

impl Parser<'_> {
    fn err(&self, line: Option<usize>, message: String) -> SpecError {
        self.t.err(line, message)
    }

    fn flag_error(&self, section: &str, name: &str, e: FlagError) -> SpecError {
        self.t.flag_error(section, name, e)
    }

    fn flag(&self, section: &str, k: &Value) -> Result<(String, &'static FlagSpec), SpecError> {
        self.t.flag(section, k)
    }

    fn label(&self, label: Option<Value>) -> Result<String, SpecError> {
        let line = || self.t.line("", "label");
        let label = match label {
            Some(Value::String(s)) => s,
            Some(other) => {
                // YAML would rewrite a number (1.10 -> 1.1, 1e3 -> 1000.0): the directory
                // must be named as written.
                return Err(self.err(
                    line(),
                    format!(
                        "label must be a string, not {}: quote it to name the sweep as written (label: \"{}\")",
                        show_value(&other),
                        written_label(self.t.text).unwrap_or_else(|| plain_value(&other))
                    ),
                ));
            }
            None => {
                return Err(self.err(
                    None,
                    "missing `label:` (it names the sweep and its directory)".into(),
                ))
            }
        };
        if let Some(why) = crate::names::label_problem(&label) {
            return Err(self.err(line(), why));
        }
        Ok(label)
    }

    fn fixed(&self, flags: Mapping) -> Result<Vec<(String, Value)>, SpecError> {
        let mut fixed = Vec::new();
        for (k, v) in flags {
            let (name, spec) = self.flag("flags", &k)?;
            let v = check_value(spec, &v).map_err(|e| self.flag_error("flags", &name, e))?;
            fixed.push((name, v));
        }
        Ok(fixed)
    }

    fn grid(
        &self,
        grid: Mapping,
        fixed: &[(String, Value)],
    ) -> Result<Vec<(String, Vec<Value>)>, SpecError> {
        let mut out: Vec<(String, Vec<Value>)> = Vec::new();
        for (k, v) in grid {
            let (name, spec) = self.flag("grid", &k)?;
            let line = self.t.line("grid", &name);
            if fixed.iter().any(|(n, _)| *n == name) {
                return Err(self.err(
                    line,
                    format!("flag `{name}` is both fixed (under flags:) and in the grid: keep it in one place"),
                ));
            }
            let Value::Sequence(items) = v else {
                return Err(self.err(
                    line,
                    format!(
                        "grid: `{name}` must be a list of values, e.g. {name}: [a, b]; got {}",
                        show_value(&v)
                    ),
                ));
            };
            if items.is_empty() {
                return Err(self.err(
                    line,
                    format!("grid: `{name}` has an empty list: give at least one value"),
                ));
            }
            let mut values: Vec<Value> = Vec::new();
            for item in items {
                let c = check_value(spec, &item).map_err(|e| self.flag_error("grid", &name, e))?;
                if values.contains(&c) {
                    return Err(self.err(
                        line,
                        format!(
                            "grid: `{name}` lists {} twice (aliases count as the same value)",
                            show_value(&c)
                        ),
                    ));
                }
                values.push(c);
            }
            out.push((name, values));
        }
        Ok(out)
    }

    fn exclude(
        &self,
        entries: Vec<Mapping>,
        grid: &[(String, Vec<Value>)],
    ) -> Result<Vec<Vec<(String, Value)>>, SpecError> {
        let mut exclude = Vec::new();
        for (i, entry) in entries.into_iter().enumerate() {
            if entry.is_empty() {
                return Err(self.err(
                    None,
                    format!(
                        "exclude entry {} is empty: it would exclude every run",
                        i + 1
                    ),
                ));
            }
            let mut rule = Vec::new();
            for (k, v) in entry {
                rule.push(self.exclusion(&k, &v, grid)?);
            }
            exclude.push(rule);
        }
        Ok(exclude)
    }

    /// One `flag: value` of an exclusion: a grid flag and one of its values.
    fn exclusion(
        &self,
        k: &Value,
        v: &Value,
        grid: &[(String, Vec<Value>)],
    ) -> Result<(String, Value), SpecError> {
        let (name, spec) = self.flag("exclude", k)?;
        let line = self.t.line("exclude", &name);
        let Some((_, values)) = grid.iter().find(|(n, _)| *n == name) else {
            return Err(self.err(
                line,
                format!(
                    "exclude: `{name}` is not in the grid, so it cannot select combinations (grid flags: {})",
                    grid.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ")
                ),
            ));
        };
        let c = check_value(spec, v).map_err(|e| self.flag_error("exclude", &name, e))?;
        if !values.contains(&c) {
            let shown: Vec<String> = values.iter().map(plain_value).collect();
            let hint = closest(&plain_value(&c), shown.iter().map(|s| s.as_str()))
                .map(|s| format!(" (did you mean {s}?)"))
                .unwrap_or_default();
            return Err(self.err(
                line,
                format!(
                    "exclude: {name}={} is not one of the grid's values [{}]{hint}",
                    plain_value(&c),
                    shown.join(", ")
                ),
            ));
        }
        Ok((name, c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<SweepSpec, SpecError> {
        SweepSpec::parse(text, "s.yaml", &["slurm"])
    }

    #[test]
    fn bounds_count_every_kind_of_nesting() {
        let depth_error = |text: &str| check_bounds(text, "s.yaml").err().map(|e| e.line);
        let ok = "label: a\nflags:\n  unet_widths: [32, 64]\ngrid:\n  lr: [1.0e-3, 2.0e-3]\nexclude:\n  - {lr: 1.0e-3}\n";
        assert_eq!(depth_error(ok), None);
        // Brackets in quotes and comments do not nest.
        let quoted = format!(
            "label: a # {}\nflags:\n  data_dir: \"{}\"\n",
            "[".repeat(99),
            "{".repeat(99)
        );
        assert_eq!(depth_error(&quoted), None);
        let flow = format!("label: a\nflags:\n  x: {}\n", "[".repeat(MAX_DEPTH));
        assert_eq!(depth_error(&flow), Some(Some(3)));
        let dashes = format!("label: a\nexclude:\n  {}x\n", "- ".repeat(MAX_DEPTH));
        assert_eq!(depth_error(&dashes), Some(Some(3)));
        let indented: String = (0..=MAX_DEPTH)
            .map(|i| format!("{}k{i}:\n", " ".repeat(i)))
            .collect();
        assert_eq!(depth_error(&indented), Some(Some(MAX_DEPTH + 1)));
        // A flow list over several lines counts once.
        let multi = "label: a\ngrid:\n  lr: [\n    1.0e-3,\n    2.0e-3,\n  ]\n";
        assert_eq!(depth_error(multi), None);
        assert!(check_bounds(&"#".repeat(MAX_BYTES + 1), "s.yaml").is_err());
    }

    #[test]
    fn seeds_become_the_outermost_grid_flag() {
        let s = parse("label: a\ngrid:\n  loss: [mae, mse]\nseeds: 3\n").unwrap();
        assert_eq!(s.grid[0].0, "seed");
        assert_eq!(
            s.grid[0].1,
            vec![Value::from(1), Value::from(2), Value::from(3)]
        );
        assert_eq!(s.grid[1].0, "loss");
        let s = parse("label: a\nseeds: [7, 3]\n").unwrap();
        assert_eq!(
            s.grid,
            vec![("seed".to_string(), vec![Value::from(7), Value::from(3)])]
        );
        for (text, want) in [
            ("label: a\nseeds: 0\n", "s.yaml:2: seeds: expected a list"),
            ("label: a\nseeds: []\n", "s.yaml:2: seeds: expected a list"),
            ("label: a\nseeds: [1, 1]\n", "seeds: `1` is listed twice"),
            (
                "label: a\nseeds: [-1]\n",
                "s.yaml:2: seeds: invalid value for flag `seed`",
            ),
            (
                "label: a\nflags:\n  seed: 2\nseeds: 2\n",
                "s.yaml:4: seeds: and a `seed` under flags: or grid:",
            ),
            (
                "label: a\ngrid:\n  seed: [1, 2]\nseeds: 2\n",
                "both set the seed",
            ),
        ] {
            let e = parse(text).unwrap_err().to_string();
            assert!(e.contains(want), "{text:?}: {e}");
        }
    }

    /// Every sweep file the project ships is valid and expands.
    #[test]
    fn shipped_sweeps_are_valid() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("sweeps");
        let mut n = 0;
        for e in fs_err::read_dir(&dir).unwrap() {
            let path = e.unwrap().path();
            if path.extension().is_some_and(|x| x == "yaml") {
                let spec = SweepSpec::load(&path, &["slurm"]).unwrap_or_else(|e| panic!("{e}"));
                crate::sweep::expand(&spec, Path::new("runs")).unwrap_or_else(|e| panic!("{e:#}"));
                n += 1;
            }
        }
        assert!(n >= 5, "{n} sweep files");
    }

    #[test]
    fn parses_the_issue_example() {
        let s = parse(
            "label: flowers_exp1\nflags:\n  dataset_name: flowers\n  epochs: 50\ngrid:\n  loss: [mae, mse]\n  loss_on: [noise, image]\n  schedule_type: [linear, cosine]\nexclude:\n  - {loss: mse, loss_on: image}\n",
        )
        .unwrap();
        assert_eq!(s.label, "flowers_exp1");
        assert_eq!(s.fixed.len(), 2);
        let names: Vec<&str> = s.grid.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["loss", "loss_on", "schedule_type"]);
        assert_eq!(s.exclude.len(), 1);
    }

    fn message(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn errors_name_the_line_and_what_is_valid() {
        assert_eq!(
            message("label: a\ngrid:\n  loss: [mae\n")
                .split(':')
                .take(2)
                .collect::<Vec<_>>(),
            ["s.yaml", "4"]
        );
        let m = message("label: a\ngrid:\n  los: [mae, mse]\n");
        assert!(
            m.starts_with("s.yaml:3: grid: unknown flag `los` (did you mean `loss`?)"),
            "{m}"
        );
        let m = message("label: a\nflags:\n  epochs: 2\ngrid:\n  loss: [mae, foo]\n");
        assert!(
            m.starts_with(
                "s.yaml:5: grid: invalid value for flag `loss`: `foo`; expected one of mae, mse"
            ),
            "{m}"
        );
        let m = message("label: a\nflags:\n  loss: mae\ngrid:\n  loss: [mae, mse]\n");
        assert_eq!(m, "s.yaml:5: flag `loss` is both fixed (under flags:) and in the grid: keep it in one place");
        let m = message("label: a\ngrid:\n  loss: []\n");
        assert_eq!(
            m,
            "s.yaml:3: grid: `loss` has an empty list: give at least one value"
        );
        let m = message("label: a\ngrid:\n  loss: [mae, l1]\n");
        assert!(
            m.starts_with("s.yaml:3: grid: `loss` lists `mae` twice"),
            "{m}"
        );
        let m = message("label: ../x\n");
        assert!(
            m.starts_with("s.yaml:1: label `../x` is not a safe directory name"),
            "{m}"
        );
        let m = message("flags:\n  epochs: 1\n");
        assert!(m.contains("missing `label:`"), "{m}");
        let m = message("label: a\ngird:\n  loss: [mae]\n");
        assert!(m.starts_with("s.yaml:2:1: unknown field `gird`"), "{m}");
        let m = message("label: a\ngrid:\n  loss: mae\n");
        assert!(m.contains("`loss` must be a list"), "{m}");
        let m = message("label: a\ngrid:\n  loss: [mae, mse]\nexclude:\n  - {loss: mase}\n");
        assert!(
            m.starts_with("s.yaml:5: exclude: invalid value for flag `loss`"),
            "{m}"
        );
        let m = message("label: a\ngrid:\n  loss: [mae, mse]\nexclude:\n  - {loss_on: image}\n");
        assert!(m.contains("`loss_on` is not in the grid"), "{m}");
        let m = message("label: a\nflags:\n  batch_size: 0\n");
        assert!(
            m.starts_with("s.yaml:3: flags: invalid value for flag `batch_size`"),
            "{m}"
        );
    }

    #[test]
    fn set_overrides() {
        let mut s = parse("label: a\nflags:\n  epochs: 5\ngrid:\n  loss: [mae, mse]\n").unwrap();
        let sets = crate::flags::parse_assignments(&["epochs=1", "loss=mse", "lr=0.01"]).unwrap();
        s.apply_set(&sets).unwrap();
        assert_eq!(s.fixed[0], ("epochs".to_string(), Value::from(1)));
        assert_eq!(s.grid[0].1, vec![Value::from("mse")]);
        assert_eq!(s.fixed[1].0, "lr");
    }

    #[test]
    fn labels() {
        assert!(safe_label("flowers_exp1"));
        assert!(safe_label("a.b-c"));
        assert!(!safe_label(".hidden"));
        assert!(!safe_label("a/b"));
        assert!(!safe_label(""));
        assert!(!safe_label("a b"));
    }
}
