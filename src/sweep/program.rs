//! A sweep that runs the user's own program (`command:`): the command as written, the
//! metrics it reports and which way is better, the sources copied into each run, a time
//! limit. Without `command:` a sweep runs the built-in DDIM trainer.
//!
//! ```yaml
//! command: [python3, train.py, --data, "{sweep_dir}/../data"]   # argv, or one string split as a shell would
//! metrics:                 # the first is the headline
//!   val_loss: lower
//!   accuracy: higher
//! sources: ["*.py"]        # copied into each run's folder (default: the files command: names)
//! timeout: 2h              # per run (humantime: 90s, 30m, 2h)
//! sample_metrics:          # KID, FID, precision, recall of the images each run leaves
//!   images: samples        # in its folder (the default), against
//!   reference: data/valid  # a folder of real images (relative to the sweep file's folder)
//! ```

use super::section::{SpecError, SweepText};
use crate::metrics::metric::Direction;
use serde::{Deserialize, Serialize};
use serde_yaml::{Mapping, Value};
use std::path::{Path, PathBuf};

/// The program of a `command:` sweep, validated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProgramSpec {
    /// The command's words as written (placeholders `{flag}` and `{sweep_dir}` unexpanded):
    /// part of every run's identity.
    pub command: Vec<String>,
    /// The metrics the program reports, headline first, with their directions.
    pub metrics: Vec<(String, String)>,
    /// Globs (relative to the sweep file's folder) of the files copied into each run.
    pub sources: Option<Vec<String>>,
    /// A run's time limit in seconds.
    pub timeout: Option<f64>,
    /// Whether the sweep names `seed` as a flag of the program (then it is `--seed=N`); the
    /// seeds of `seeds:` and `race:` reach the program only as `DDIM_SEED`.
    #[serde(default)]
    pub seed_option: bool,
    /// `sample_metrics:`: the sample metrics of the images each run leaves.
    #[serde(default)]
    pub sample_metrics: Option<SampleMetricsSpec>,
}

/// `sample_metrics:` as validated: where a run's images are, the reference folder as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleMetricsSpec {
    /// A folder inside each run (`samples`): its images are the final ones (else those of its
    /// last `epoch_N/`), and each `epoch_N/` is scored at epoch N.
    pub images: String,
    /// The folder of real images, relative to the sweep file's folder or absolute.
    pub reference: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSampleMetrics {
    #[serde(default)]
    images: Option<String>,
    reference: String,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum RawCommand {
    Line(String),
    Words(Vec<Value>),
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum RawTimeout {
    Seconds(f64),
    Text(String),
}

/// The `command:`, `metrics:`, `sources:` and `timeout:` keys as written.
#[derive(Debug, Default)]
pub(crate) struct RawProgram {
    pub command: Option<RawCommand>,
    pub metrics: Option<Mapping>,
    pub sources: Option<Vec<String>>,
    pub timeout: Option<RawTimeout>,
    pub sample_metrics: Option<RawSampleMetrics>,
}

/// Parses the program keys: None for a sweep of the built-in trainer (then none of them may
/// be there).
pub(crate) fn parse_program(
    t: SweepText,
    raw: RawProgram,
) -> Result<Option<ProgramSpec>, SpecError> {
    let Some(command) = raw.command else {
        for (key, set) in [
            ("metrics", raw.metrics.is_some()),
            ("sources", raw.sources.is_some()),
            ("timeout", raw.timeout.is_some()),
            ("sample_metrics", raw.sample_metrics.is_some()),
        ] {
            if set {
                return Err(t.err(
                    t.line("", key),
                    format!("{key}: belongs to a sweep of your own program: add command: (e.g. command: [python3, train.py]), or remove {key}:"),
                ));
            }
        }
        return Ok(None);
    };
    let line = |k: &str| t.line("", k);
    let words = command_words(command).map_err(|e| t.err(line("command"), e))?;
    let metrics = parse_metrics(t, raw.metrics)?;
    let timeout = match raw.timeout {
        None => None,
        Some(RawTimeout::Seconds(s)) if s > 0.0 && s.is_finite() => Some(s),
        Some(RawTimeout::Text(s)) => match humantime::parse_duration(s.trim()) {
            Ok(d) if !d.is_zero() => Some(d.as_secs_f64()),
            _ => return Err(t.err(line("timeout"), format!("timeout: `{s}` is not a duration: give seconds (3600) or a duration like 90s, 30m, 2h"))),
        },
        Some(RawTimeout::Seconds(s)) => {
            return Err(t.err(line("timeout"), format!("timeout: {s} seconds: give a positive duration (3600, 30m, 2h)")))
        }
    };
    if let Some(globs) = &raw.sources {
        for g in globs {
            if let Err(e) = glob::Pattern::new(g) {
                return Err(t.err(
                    line("sources"),
                    format!("sources: `{g}` is not a glob pattern: {e}"),
                ));
            }
            if Path::new(g).is_absolute() || g.split('/').any(|p| p == "..") {
                return Err(t.err(line("sources"), format!("sources: `{g}` must stay inside the sweep file's folder (a relative pattern without ..)")));
            }
        }
    }
    let sample_metrics = raw
        .sample_metrics
        .map(|m| sample_metrics(m).map_err(|e| t.err(line("sample_metrics"), e)))
        .transpose()?;
    Ok(Some(ProgramSpec {
        command: words,
        metrics,
        sources: raw.sources,
        timeout,
        seed_option: false,
        sample_metrics,
    }))
}

/// `sample_metrics:` checked: `images` a folder inside the run, `reference` not empty.
fn sample_metrics(raw: RawSampleMetrics) -> Result<SampleMetricsSpec, String> {
    let images = raw.images.unwrap_or_else(|| "samples".into());
    let images = images.trim_end_matches('/').to_string();
    if let Some(why) = crate::names::relative_file_problem(&images) {
        return Err(format!(
            "sample_metrics: images: `{images}` must be a folder inside each run's folder (a relative path without ..): {why}"
        ));
    }
    if raw.reference.trim().is_empty() {
        return Err("sample_metrics: reference: give the folder of real images to compare with (relative to the sweep file's folder)".into());
    }
    Ok(SampleMetricsSpec {
        images,
        reference: raw.reference,
    })
}

/// The command's words: a list of strings (numbers taken as written), or one string split
/// as a POSIX shell splits words (quotes, backslashes; no expansion of any kind).
fn command_words(raw: RawCommand) -> Result<Vec<String>, String> {
    let words = match raw {
        RawCommand::Line(s) => shlex::split(&s).ok_or_else(|| {
            format!("command: `{s}` has an unclosed quote or a trailing backslash")
        })?,
        RawCommand::Words(items) => items
            .into_iter()
            .map(|v| match v {
                Value::String(s) => Ok(s),
                Value::Number(n) => Ok(n.to_string()),
                Value::Bool(b) => Ok(b.to_string()),
                other => Err(format!(
                    "command: each word must be a string, not {}",
                    crate::flags::show_value(&other)
                )),
            })
            .collect::<Result<_, _>>()?,
    };
    if words.is_empty() || words[0].is_empty() {
        return Err(
            "command: is empty: give the program and its arguments, e.g. [python3, train.py]"
                .into(),
        );
    }
    if let Some(w) = words.iter().find(|w| w.contains('\0')) {
        return Err(format!("command: the word {w:?} holds a NUL"));
    }
    Ok(words)
}

/// `metrics:`: at least one `name: lower|higher`, each declared for this process.
fn parse_metrics(t: SweepText, raw: Option<Mapping>) -> Result<Vec<(String, String)>, SpecError> {
    let line = |k: &str| t.line("metrics", k).or_else(|| t.line("", "metrics"));
    let Some(map) = raw.filter(|m| !m.is_empty()) else {
        return Err(t.err(
            t.line("", "command"),
            "command: needs metrics: naming what the program reports and which way is better, e.g. metrics: {val_loss: lower, accuracy: higher} (the first is the headline)".into(),
        ));
    };
    let mut out = Vec::new();
    for (k, v) in map {
        let name = k.as_str().unwrap_or_default().to_string();
        let word = v.as_str().unwrap_or_default();
        let Some(direction) = crate::metrics::declared::direction(word) else {
            return Err(t.err(
                line(&name),
                format!(
                    "metrics: {name}: `{}` is not a direction: expected lower or higher",
                    crate::flags::plain_value(&v)
                ),
            ));
        };
        crate::metrics::names::Metric::declare(&name, direction)
            .map_err(|e| t.err(line(&name), format!("metrics: {e}")))?;
        out.push((name, crate::metrics::declared::word(direction).to_string()));
    }
    Ok(out)
}

impl ProgramSpec {
    /// The headline metric (the first of `metrics:`).
    pub fn headline(&self) -> &str {
        &self.metrics[0].0
    }

    /// Declares this program's metrics in this process (reading a run's record).
    pub fn declare(&self) -> Result<(), String> {
        for (name, word) in &self.metrics {
            let d = crate::metrics::declared::direction(word)
                .ok_or_else(|| format!("metric {name}: unknown direction {word}"))?;
            crate::metrics::names::Metric::declare(name, d)?;
        }
        Ok(())
    }

    pub fn direction(&self, name: &str) -> Option<Direction> {
        self.metrics
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, w)| crate::metrics::declared::direction(w))
    }

    /// The placeholders `{name}` the command's words use (names of flags, or `sweep_dir`).
    pub fn placeholders(&self) -> Vec<String> {
        let mut out = Vec::new();
        for w in &self.command {
            let mut rest = w.as_str();
            while let Some(start) = rest.find('{') {
                let after = &rest[start + 1..];
                match after.find('}') {
                    Some(end) => {
                        let name = &after[..end];
                        if crate::flags::program_flag_problem(name).is_none() {
                            out.push(name.to_string());
                        }
                        rest = &after[end + 1..];
                    }
                    None => break,
                }
            }
        }
        out
    }

    /// Checks that the program can be started: a word with a `/` names a file relative to
    /// the sweep file's folder (or absolute) that must exist and be executable, or be a
    /// source (copied into the run: `./train.sh`); a bare name must be found on `PATH`.
    pub fn check_runnable(&self, sweep_file_dir: &Path) -> Result<(), String> {
        let first = self.command[0].replace("{sweep_dir}", &sweep_file_dir.display().to_string());
        if first.contains('{') {
            return Ok(()); // set by a flag: checked when a run starts
        }
        let path = if first.contains('/') {
            sweep_file_dir.join(&first)
        } else {
            match find_on_path(&first) {
                Some(p) => p,
                None => {
                    return Err(format!(
                        "command: the program `{first}` is not on PATH ({}): give its path, or install it",
                        std::env::var("PATH").unwrap_or_default()
                    ))
                }
            }
        };
        if !path.is_file() {
            return Err(format!(
                "command: the program `{first}` does not exist ({} is not a file)",
                path.display()
            ));
        }
        if !is_executable(&path) {
            return Err(format!(
                "command: the program `{first}` is not executable ({}): chmod +x it, or run it through its interpreter (command: [bash, {first}])",
                path.display()
            ));
        }
        self.check_script(&first, sweep_file_dir)
    }

    /// When the program is an interpreter (`python3`, `Rscript`, `bash` …), the script it is
    /// given (its first word that is not an option, when it names a file by its extension)
    /// must exist: relative to the sweep file's folder, or absolute.
    fn check_script(&self, program: &str, sweep_file_dir: &Path) -> Result<(), String> {
        const INTERPRETERS: [&str; 11] = [
            "python", "Rscript", "bash", "sh", "zsh", "node", "julia", "perl", "ruby", "lua", "R",
        ];
        const SCRIPTS: [&str; 10] = ["py", "R", "r", "sh", "bash", "jl", "js", "pl", "rb", "lua"];
        let name = Path::new(program)
            .file_name()
            .map_or(String::new(), |n| n.to_string_lossy().to_string());
        // `python3.11` is `python`.
        let base = name.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.');
        if !INTERPRETERS.contains(&base) {
            return Ok(());
        }
        let dir = sweep_file_dir.display().to_string();
        for w in self.command.iter().skip(1) {
            // `-m module`, `-c code`, `-e expr`, `-` (stdin): no script file.
            let code = match base {
                "python" => ["-m", "-c"].contains(&w.as_str()),
                "bash" | "sh" | "zsh" => w == "-c",
                _ => ["-e", "--eval"].contains(&w.as_str()),
            };
            if code || w == "-" {
                return Ok(());
            }
            if w.starts_with('-') {
                continue;
            }
            let w = w.replace("{sweep_dir}", &dir);
            let is_script = Path::new(&w)
                .extension()
                .is_some_and(|e| SCRIPTS.contains(&e.to_string_lossy().as_ref()));
            if w.contains('{') || !is_script {
                return Ok(());
            }
            let path = sweep_file_dir.join(&w);
            if !path.is_file() {
                return Err(format!(
                    "command: the script `{w}` that `{program}` is to run does not exist ({} is not a file; relative paths in command: are from the sweep file's folder)",
                    path.display()
                ));
            }
            return Ok(());
        }
        Ok(())
    }
}

impl ProgramSpec {
    /// The files copied into each run (relative to `dir`, the sweep file's folder): the
    /// `sources:` globs' files, or by default the words of the command that name files there.
    pub fn source_files(&self, dir: &Path) -> Result<Vec<String>, String> {
        let mut out: Vec<String> = Vec::new();
        match &self.sources {
            None => {
                for w in &self.command {
                    if w.contains('{')
                        || Path::new(w).is_absolute()
                        || w.split('/').any(|p| p == "..")
                    {
                        continue;
                    }
                    let clean = w.trim_start_matches("./");
                    if !clean.is_empty()
                        && dir.join(clean).is_file()
                        && !out.iter().any(|o| o == clean)
                    {
                        out.push(clean.to_string());
                    }
                }
            }
            Some(globs) => {
                for g in globs {
                    let pattern = dir.join(g).display().to_string();
                    let found = glob::glob(&pattern).map_err(|e| format!("sources: `{g}`: {e}"))?;
                    let mut n = 0;
                    for p in found.flatten().filter(|p| p.is_file()) {
                        if let Ok(rel) = p.strip_prefix(dir) {
                            let rel = rel.display().to_string();
                            if !out.contains(&rel) {
                                out.push(rel);
                            }
                            n += 1;
                        }
                    }
                    if n == 0 {
                        return Err(format!(
                            "sources: `{g}` matches no file in {}",
                            dir.display()
                        ));
                    }
                }
            }
        }
        out.sort();
        Ok(out)
    }
}

/// The reference folder of `sample_metrics:` (relative to `sweep_file_dir`) holds at least
/// 2 images (KID's least).
pub fn check_reference(sweep_file_dir: &Path, written: &str) -> Result<(), String> {
    let dir = &sweep_file_dir.join(written);
    if !dir.is_dir() {
        return Err(format!(
            "sample_metrics: reference: `{written}` is not a folder ({}): give a folder of real PNG or JPEG images",
            dir.display()
        ));
    }
    let n = walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file() && crate::data::sources::is_image(e.path()))
        .take(2)
        .count();
    if n < 2 {
        return Err(format!(
            "sample_metrics: reference: {} holds {n} PNG or JPEG image(s): KID needs at least 2",
            dir.display()
        ));
    }
    Ok(())
}

/// `name` on `PATH`, as `execvp` would find it.
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file() && is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Option<ProgramSpec>, SpecError> {
        crate::sweep::spec::SweepSpec::parse(text, "s.yaml", &[]).map(|s| s.program)
    }

    #[test]
    fn commands_metrics_and_their_errors() {
        let p = parse("label: a\ncommand: python3 train.py --x 'a b'\nmetrics: {p_loss: lower, p_acc: max}\ntimeout: 2m\n")
            .unwrap()
            .unwrap();
        assert_eq!(p.command, ["python3", "train.py", "--x", "a b"]);
        assert_eq!(
            p.metrics,
            [
                ("p_loss".into(), "lower".into()),
                ("p_acc".into(), "higher".into())
            ]
        );
        assert_eq!(p.timeout, Some(120.0));
        assert_eq!(p.headline(), "p_loss");
        let e = parse("label: a\ncommand: [x]\n").unwrap_err().to_string();
        assert!(
            e.contains("s.yaml:2") && e.contains("needs metrics:"),
            "{e}"
        );
        let e = parse("label: a\ncommand: [x]\nmetrics:\n  p_loss: down\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("s.yaml:4") && e.contains("expected lower or higher"),
            "{e}"
        );
        let e = parse("label: a\ncommand: \"x 'y\"\nmetrics: {p_loss: lower}\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unclosed quote"), "{e}");
        let e = parse("label: a\nmetrics: {p_loss: lower}\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("add command:"), "{e}");
        let e = parse("label: a\ncommand: [x]\nmetrics: {kid: lower}\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("own metric"), "{e}");
        let e = parse("label: a\ncommand: [x]\nmetrics: {p_loss: lower}\ntimeout: soon\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("s.yaml:4") && e.contains("not a duration"),
            "{e}"
        );
        let e = parse("label: a\ncommand: [x]\nmetrics: {p_loss: lower}\nsources: [../x.py]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("inside the sweep file's folder"), "{e}");
        let p = ProgramSpec {
            command: vec![
                "x".into(),
                "--a={lr}".into(),
                "{sweep_dir}/d".into(),
                "{\"json\": 1}".into(),
            ],
            metrics: vec![("m".into(), "lower".into())],
            sources: None,
            timeout: None,
            seed_option: false,
            sample_metrics: None,
        };
        assert_eq!(p.placeholders(), ["lr", "sweep_dir"]);
    }

    /// An interpreter's script must exist; its options, modules and code are not scripts.
    #[test]
    fn an_interpreters_script_must_exist() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("train.py"), "").unwrap();
        let check = |words: &[&str]| {
            let p = ProgramSpec {
                command: words.iter().map(|w| w.to_string()).collect(),
                metrics: vec![("m".into(), "lower".into())],
                sources: None,
                timeout: None,
                seed_option: false,
                sample_metrics: None,
            };
            p.check_script(words[0], d.path())
        };
        for ok in [
            &["python3", "train.py"][..],
            &["/usr/bin/python3.11", "-u", "train.py", "missing.py"],
            &["python3", "{sweep_dir}/train.py"],
            &["python3", "-m", "pkg.missing"],
            &["python", "-c", "print(1)"],
            &["Rscript", "-e", "x.R"],
            &["bash", "-c", "missing.sh"],
            &["python3", "{script}"],
            &["python3", "notascript"],
            &["./train.py", "missing.py"],
        ] {
            assert_eq!(check(ok), Ok(()), "{ok:?}");
        }
        for bad in [
            &["python3", "missing.py"][..],
            &["python3.11", "-u", "missing.py"],
            &["sh", "-e", "missing.sh"],
            &["Rscript", "{sweep_dir}/missing.R"],
        ] {
            let e = check(bad).unwrap_err();
            assert!(e.contains("does not exist"), "{bad:?}: {e}");
        }
    }
}
