//! A program's command line and environment from its run's flags. No shell anywhere: each
//! flag is one word.
//! - a flag the command's words name as `{name}` is substituted there (also `{sweep_dir}`
//!   and `{seed}`);
//! - every other flag is appended as `--name=value`; a `true` boolean as a bare `--name`, a
//!   `false` one left out; `seed` only when it is the program's option
//!   ([`ProgramFile::seed_option`]);
//! - the environment has every flag as `DDIM_FLAG_<NAME>` (upper case, `-` as `_`), all of
//!   them as JSON in the file `$DDIM_FLAGS_FILE`, and `DDIM_RUN_DIR`, `DDIM_RUN_ID`,
//!   `DDIM_SEED`, `DDIM_SWEEP_DIR`, `DDIM_RESUME=1` on a restarted run.

use crate::flags::plain_value;
use crate::run_flags::CommandFlags;
use crate::store::program_file::ProgramFile;
use serde_yaml::Value;
use std::path::Path;
use std::process::{Command, Stdio};

/// The command's words with the flags filled in.
pub fn words(flags: &CommandFlags, pf: &ProgramFile, seed: i64) -> Vec<String> {
    let text = |v: &Value| plain_value(v);
    let mut placed: Vec<&str> = Vec::new();
    let mut out: Vec<String> = flags
        .command
        .iter()
        .map(|w| {
            let mut w = w.replace("{sweep_dir}", &pf.sweep_dir.display().to_string());
            if w.contains("{seed}") {
                w = w.replace("{seed}", &seed.to_string());
                placed.push("seed");
            }
            for (name, v) in &flags.flags {
                let key = format!("{{{name}}}");
                if w.contains(&key) {
                    w = w.replace(&key, &text(v));
                    placed.push(name);
                }
            }
            w
        })
        .collect();
    for (name, v) in &flags.flags {
        if placed.contains(&name.as_str()) || (name == "seed" && !pf.seed_option) {
            continue;
        }
        match v {
            Value::Bool(true) => out.push(format!("--{name}")),
            Value::Bool(false) => {}
            v => out.push(format!("--{name}={}", text(v))),
        }
    }
    out
}

/// The words as one line for messages (each quoted where a shell would need it).
pub fn shown(words: &[String]) -> String {
    shlex::try_join(words.iter().map(String::as_str)).unwrap_or_else(|_| format!("{words:?}"))
}

/// `DDIM_FLAG_<NAME>`.
pub fn env_name(flag: &str) -> String {
    format!("DDIM_FLAG_{}", flag.to_ascii_uppercase().replace('-', "_"))
}

/// The process: its words, its folder (the run's), its environment, its streams piped.
pub fn command(
    words: &[String],
    flags: &CommandFlags,
    pf: &ProgramFile,
    seed: i64,
    id: &str,
    run_dir: &Path,
    resumed: bool,
) -> anyhow::Result<Command> {
    let run_dir = std::path::absolute(run_dir)?;
    let json: serde_json::Map<String, serde_json::Value> = flags
        .flags
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::to_value(v).unwrap_or_default()))
        .collect();
    let flags_file = run_dir.join("flags.json");
    crate::files::write_atomic(
        &flags_file,
        format!("{}\n", serde_json::to_string_pretty(&json)?).as_bytes(),
    )?;
    let mut c = Command::new(&words[0]);
    c.args(&words[1..])
        .current_dir(&run_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, v) in &flags.flags {
        c.env(env_name(name), plain_value(v));
    }
    c.env("DDIM_FLAGS_FILE", &flags_file)
        .env("DDIM_RUN_DIR", &run_dir)
        .env("DDIM_RUN_ID", id)
        .env("DDIM_SEED", seed.to_string())
        .env("DDIM_SWEEP_DIR", &pf.sweep_dir)
        .env("PYTHONUNBUFFERED", "1");
    if resumed {
        c.env("DDIM_RESUME", "1");
    } else {
        c.env_remove("DDIM_RESUME");
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn flags_become_options_placeholders_and_booleans() {
        let flags = CommandFlags {
            command: vec![
                "python3".into(),
                "t.py".into(),
                "--data={sweep_dir}/d".into(),
                "--lr".into(),
                "{lr}".into(),
            ],
            flags: BTreeMap::from([
                ("lr".into(), Value::from(0.001)),
                ("amp".into(), Value::from(true)),
                ("cpu".into(), Value::from(false)),
                ("name".into(), Value::from("a b; $(x) 'q'")),
                ("seed".into(), Value::from(3)),
            ]),
        };
        let mut pf = ProgramFile {
            sweep_dir: "/s".into(),
            metrics: vec![("m".into(), "lower".into())],
            sources: vec![],
            sources_hash: String::new(),
            timeout: None,
            seed_option: false,
            sample_metrics: None,
        };
        assert_eq!(
            words(&flags, &pf, 3),
            [
                "python3",
                "t.py",
                "--data=/s/d",
                "--lr",
                "0.001",
                "--amp",
                "--name=a b; $(x) 'q'"
            ]
        );
        pf.seed_option = true;
        assert_eq!(words(&flags, &pf, 3).last().unwrap(), "--seed=3");
        assert_eq!(env_name("batch-size"), "DDIM_FLAG_BATCH_SIZE");
    }
}
