//! A run's content-addressed identity: the first 12 hex digits of SHA-256 over its label and
//! every resolved flag (defaults included), so the same sweep maps to the same run
//! directories (`<runs-dir>/<label>/<id>`) every time. A flag added to ddim-sweep after run
//! ids were fixed (its `Identity` in `flags` is `WhenSet`, not `V1`) counts only when a run
//! sets it to something other than its default. The store checks every run it reads against
//! it: a folder named by one id that holds another run's flags is damaged.

use crate::flags::{Flags, IDENTITY_V1_FLAGS};
use sha2::{Digest, Sha256};

/// The content-addressed id of a run.
pub fn run_id(label: &str, flags: &Flags) -> String {
    let mut h = Sha256::new();
    h.update(b"ddim-sweep run v1\n");
    h.update(label.as_bytes());
    h.update(b"\n");
    h.update(identity_text(flags, IDENTITY_V1_FLAGS).as_bytes());
    let digest = h.finalize();
    digest.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

/// The content-addressed id of a run of either kind: a program run's hashes its label, its
/// command as the sweep file writes it and its flags (sorted by name), under its own
/// prefix, so it can never equal a built-in run's.
pub fn id_of(label: &str, flags: &crate::run_flags::RunFlags) -> String {
    use crate::run_flags::RunFlags;
    match flags {
        RunFlags::Builtin(f) => run_id(label, f),
        RunFlags::Command(c) => {
            let mut h = Sha256::new();
            h.update(b"ddim-sweep command run v1\n");
            h.update(label.as_bytes());
            h.update(b"\n");
            h.update(
                serde_json::to_string(&c.command)
                    .expect("serialisable")
                    .as_bytes(),
            );
            h.update(b"\n");
            h.update(
                serde_json::to_string(&json_flags(&c.flags))
                    .expect("serialisable")
                    .as_bytes(),
            );
            let digest = h.finalize();
            digest.iter().take(6).map(|b| format!("{b:02x}")).collect()
        }
    }
}

/// A program's flags as JSON values (YAML's numbers and strings kept as written).
fn json_flags(
    flags: &std::collections::BTreeMap<String, serde_yaml::Value>,
) -> std::collections::BTreeMap<&str, serde_json::Value> {
    flags
        .iter()
        .map(|(k, v)| {
            let j = match v {
                serde_yaml::Value::Number(n) => serde_json::Value::String(format!("n:{n}")),
                other => {
                    serde_json::Value::String(format!("s:{}", crate::flags::plain_value(other)))
                }
            };
            (k.as_str(), j)
        })
        .collect()
}

/// The flags' YAML (as `flags.yaml` has it) without the entries of flags outside `always`
/// that have their default value.
pub(crate) fn identity_text(flags: &Flags, always: &[&str]) -> String {
    static DEFAULTS: std::sync::LazyLock<Vec<(String, String)>> =
        std::sync::LazyLock::new(|| yaml_entries(&Flags::default().to_yaml()));
    yaml_entries(&flags.to_yaml())
        .into_iter()
        .filter(|(name, text)| {
            always.contains(&name.as_str())
                || crate::flags::spec(name).is_some_and(|s| s.identity.used_by(flags))
                || DEFAULTS.iter().find(|(n, _)| n == name).map(|(_, t)| t) != Some(text)
        })
        .map(|(_, text)| text)
        .collect()
}

/// Top-level `name: value` entries of block YAML, each with its continuation lines.
pub(crate) fn yaml_entries(yaml: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in yaml.split_inclusive('\n') {
        match out.last_mut() {
            Some((_, text)) if line.starts_with([' ', '-']) => text.push_str(line),
            _ => {
                let name = line.split(':').next().unwrap_or("").to_string();
                out.push((name, line.to_string()));
            }
        }
    }
    out
}
