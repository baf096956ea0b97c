//! What identifies a run and what it is given: the built-in trainer's [`Flags`], or a user
//! program's command (as written) and flags ([`CommandFlags`]). `flags.yaml` holds either:
//! the built-in flags one per line, or
//!
//! ```yaml
//! command: [python3, train.py]
//! flags:
//!   lr: 0.001
//!   seed: 1
//! ```

use crate::flags::{plain_value, Flags};
use serde::{Deserialize, Serialize};
use serde_yaml::Value;
use std::collections::BTreeMap;

/// A run's flags, of either program kind (few are held at once: the size of the built-in
/// flags is no concern).
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum RunFlags {
    Builtin(Flags),
    Command(CommandFlags),
}

/// A program run's identity: the command's words as the sweep file writes them, and its
/// flags (sorted by name).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandFlags {
    pub command: Vec<String>,
    #[serde(default)]
    pub flags: BTreeMap<String, Value>,
}

/// The key under which run.json's record of a program run's flags keeps its command (a
/// flag's name never starts with `:`).
pub const COMMAND_KEY: &str = ":command";

impl From<Flags> for RunFlags {
    fn from(f: Flags) -> RunFlags {
        RunFlags::Builtin(f)
    }
}

impl RunFlags {
    /// The built-in trainer's flags, for a built-in run.
    pub fn builtin(&self) -> Option<&Flags> {
        match self {
            RunFlags::Builtin(f) => Some(f),
            RunFlags::Command(_) => None,
        }
    }

    pub fn command(&self) -> Option<&CommandFlags> {
        match self {
            RunFlags::Builtin(_) => None,
            RunFlags::Command(c) => Some(c),
        }
    }

    /// As `flags.yaml` holds them.
    pub fn to_yaml(&self) -> String {
        match self {
            RunFlags::Builtin(f) => f.to_yaml(),
            RunFlags::Command(c) => serde_yaml::to_string(c).expect("serialisable"),
        }
    }

    /// `flags.yaml`'s text: a program run's when it has a top-level `command:`.
    pub fn from_yaml(text: &str) -> anyhow::Result<RunFlags> {
        let is_command = text
            .lines()
            .any(|l| l.starts_with("command:") || l.starts_with("\"command\":"));
        if is_command {
            let c: CommandFlags = serde_yaml::from_str(text)?;
            if c.command.is_empty() || c.command.iter().any(|w| w.contains('\0')) {
                anyhow::bail!("its command is empty or holds a NUL");
            }
            // Each flag becomes an option and a variable of the program: checked as the
            // sweep file's are.
            for (name, value) in &c.flags {
                let spec = crate::flags::program_flag(name)?;
                crate::flags::check_value(spec, value)?;
            }
            Ok(RunFlags::Command(c))
        } else {
            Ok(RunFlags::Builtin(Flags::from_yaml(text)?))
        }
    }

    /// Every flag by name (a program run's command is not a flag).
    pub fn to_map(&self) -> BTreeMap<String, Value> {
        match self {
            RunFlags::Builtin(f) => f.to_map(),
            RunFlags::Command(c) => c.flags.clone(),
        }
    }

    /// One flag's value.
    pub fn get(&self, name: &str) -> Option<Value> {
        match self {
            RunFlags::Builtin(f) => f.to_map().remove(name),
            RunFlags::Command(c) => c.flags.get(name).cloned(),
        }
    }

    /// The record of the flags kept in run.json (name: value as text; a program run's
    /// command under [`COMMAND_KEY`]).
    pub fn record(&self) -> BTreeMap<String, String> {
        let mut out: BTreeMap<String, String> = self
            .to_map()
            .into_iter()
            .map(|(k, v)| (k, plain_value(&v)))
            .collect();
        if let RunFlags::Command(c) = self {
            out.insert(
                COMMAND_KEY.into(),
                serde_json::to_string(&c.command).expect("serialisable"),
            );
        }
        out
    }

    /// (name, here, there) for each flag that differs (the command as one entry).
    pub fn differences(&self, other: &RunFlags) -> Vec<(String, Value, Value)> {
        match (self, other) {
            (RunFlags::Builtin(a), RunFlags::Builtin(b)) => a.differences(b),
            _ => {
                let (a, b) = (self.record(), other.record());
                a.keys()
                    .chain(b.keys())
                    .collect::<std::collections::BTreeSet<_>>()
                    .into_iter()
                    .filter(|k| a.get(*k) != b.get(*k))
                    .map(|k| {
                        let v = |m: &BTreeMap<String, String>| {
                            m.get(k).map_or(Value::Null, |s| Value::from(s.as_str()))
                        };
                        (k.clone(), v(&a), v(&b))
                    })
                    .collect()
            }
        }
    }

    /// The run's seed: the `seed` flag, or for a program run without one a seed derived
    /// from its id (stable, in 1 ..= 2^31 - 1).
    pub fn seed(&self, id: &str) -> i64 {
        match self {
            RunFlags::Builtin(f) => f.seed,
            RunFlags::Command(c) => {
                c.flags
                    .get("seed")
                    .and_then(|v| v.as_i64())
                    .unwrap_or_else(|| {
                        let h = u64::from_str_radix(id.get(..8).unwrap_or("1"), 16).unwrap_or(1);
                        (h % ((1 << 31) - 1)) as i64 + 1
                    })
            }
        }
    }

    /// The epochs a run is planned for: the built-in `epochs`, or a program's integer flag
    /// `epochs` (0 when it has none).
    pub fn epochs(&self) -> i64 {
        match self {
            RunFlags::Builtin(f) => f.epochs,
            RunFlags::Command(c) => c.flags.get("epochs").and_then(|v| v.as_i64()).unwrap_or(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_kinds_round_trip_through_flags_yaml() {
        let b = RunFlags::Builtin(Flags::default());
        assert_eq!(RunFlags::from_yaml(&b.to_yaml()).unwrap(), b);
        let c = RunFlags::Command(CommandFlags {
            command: vec!["python3".into(), "train.py".into(), "--x={lr}".into()],
            flags: BTreeMap::from([
                ("lr".into(), Value::from(0.001)),
                ("name".into(), Value::from("a; $(rm -rf /) 'q'\n")),
                ("on".into(), Value::from(true)),
            ]),
        });
        let text = c.to_yaml();
        assert!(text.starts_with("command:"), "{text}");
        assert_eq!(RunFlags::from_yaml(&text).unwrap(), c);
        assert_eq!(
            c.record()[COMMAND_KEY],
            r#"["python3","train.py","--x={lr}"]"#
        );
        assert_eq!(c.epochs(), 0);
        let s = c.seed("0123456789ab");
        assert!((1..(1 << 31)).contains(&s));
        assert_eq!(s, c.seed("0123456789ab"));
        let d = c.differences(&RunFlags::Command(CommandFlags {
            command: vec!["python3".into()],
            flags: BTreeMap::new(),
        }));
        let names: Vec<&str> = d.iter().map(|(k, _, _)| k.as_str()).collect();
        assert_eq!(names, [":command", "lr", "name", "on"]);
        // Read back from a runs folder: names and values are checked as a sweep file's.
        for bad in [
            "command: [x]\nflags:\n  \"a b\": 1\n",
            "command: [x]\nflags:\n  a: [1, 2]\n",
            "command: []\n",
        ] {
            assert!(RunFlags::from_yaml(bad).is_err(), "{bad}");
        }
    }
}
