//! Names that become paths: one rule for each kind, applied where a name is read (a sweep
//! file, `sweep.json`, `run.json`, a folder's name), not only where the user typed it.
//!
//! - a sweep's label: one folder under the runs folder and one under the reports folder;
//! - a run's id: 12 lowercase hex digits (a hash of its label and flags);
//! - a file or folder name made from values (the TensorBoard folder `loss=mae,lr=0.001`):
//!   one component, never `.` or `..`, no separator, no NUL or control character, at most
//!   [`MAX_COMPONENT`] bytes.

use sha2::{Digest, Sha256};

/// The longest label, in bytes.
pub const MAX_LABEL: usize = 100;

/// The longest file or folder name made from values, in bytes (file systems allow 255; the
/// margin leaves room for a temporary file's suffix).
pub const MAX_COMPONENT: usize = 200;

/// Why `label` cannot name a sweep (None when it can): letters, digits, `_`, `-` and `.`,
/// starting with a letter or digit, at most [`MAX_LABEL`] bytes.
pub fn label_problem(label: &str) -> Option<String> {
    let starts_well = label
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric());
    let chars_ok = label
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.');
    (!(starts_well && chars_ok && label.len() <= MAX_LABEL)).then(|| {
        format!(
            "label `{}` is not a safe directory name: use letters, digits, `_`, `-` and `.`, starting with a letter or digit (at most {MAX_LABEL} characters)",
            label.escape_debug()
        )
    })
}

/// Whether `label` can name a sweep (see [`label_problem`]).
/// Why `name` cannot be a metric of a user's program: it must start with a letter and hold
/// only ASCII letters, digits and `_ . / -`, its `/`-separated parts non-empty, at most 128
/// characters. It becomes a column of `scalars.csv`, a TensorBoard tag and a key of run.json,
/// so it is checked wherever it is read (a sweep file, `program.json`, `run.json`).
pub fn metric_problem(name: &str) -> Option<String> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '/' | '-'))
        && !name.split('/').any(|part| part.is_empty());
    (!ok).then(|| {
        format!(
            "`{}` cannot be a metric's name: it must start with a letter and hold only ASCII letters, digits, `_`, `.`, `-` and `/` between non-empty parts (a TensorBoard tag, like val/loss), at most 128 characters",
            name.escape_debug()
        )
    })
}

/// Why `rel` cannot name a file inside a folder: it must be relative, without `..`, `.`-only
/// or empty parts (a source copied into a run must land inside it).
pub fn relative_file_problem(rel: &str) -> Option<String> {
    let path = std::path::Path::new(rel);
    let inside = !rel.is_empty()
        && !path.is_absolute()
        && path
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)));
    (!inside).then(|| {
        format!(
            "`{}` is not a path inside its folder (relative, without `..`)",
            rel.escape_debug()
        )
    })
}

pub fn is_label(label: &str) -> bool {
    label_problem(label).is_none()
}

/// Whether `id` has the form of a run's id (12 lowercase hex digits).
pub fn is_run_id(id: &str) -> bool {
    id.len() == 12
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Why `name` cannot be one file or folder name under a directory we own (None when it can).
pub fn component_problem(name: &str) -> Option<String> {
    let shown = name.escape_debug();
    if name.is_empty() || name == "." || name == ".." {
        return Some(format!("`{shown}` is not a file name"));
    }
    if name.contains(['/', '\\']) {
        return Some(format!("`{shown}` holds a path separator"));
    }
    if name.chars().any(|c| c.is_control()) {
        return Some(format!("`{shown}` holds a NUL or control character"));
    }
    if name.len() > MAX_COMPONENT {
        return Some(format!(
            "`{}…` is {} bytes long, more than {MAX_COMPONENT}",
            truncate_bytes(name, 40).escape_debug(),
            name.len()
        ));
    }
    None
}

/// Why a flag's value cannot be written into a name (None when it can): a NUL or another
/// control character (a line break) has no place in a file name, a path, or a table cell.
pub fn value_problem(value: &str) -> Option<String> {
    value.chars().find(|c| c.is_control()).map(|c| {
        format!(
            "the value `{}` holds the control character {:?}",
            value.escape_debug(),
            c
        )
    })
}

/// `text` made into one file or folder name: separators, white space and control characters
/// become `_`; a result longer than [`MAX_COMPONENT`] bytes is cut and ends with `~` and 12
/// hex digits of a hash of the whole text, so that two long names stay apart.
pub fn bounded_component(text: &str) -> String {
    let clean: String = text
        .chars()
        .map(|c| {
            if c == '/' || c == '\\' || c.is_whitespace() || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    let clean = match clean.as_str() {
        "" => "_".to_string(),
        "." | ".." => clean.replace('.', "_"),
        _ => clean,
    };
    if clean.len() <= MAX_COMPONENT {
        return clean;
    }
    let digest = Sha256::digest(text.as_bytes());
    let hash: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    format!("{}~{hash}", truncate_bytes(&clean, MAX_COMPONENT - 13))
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
fn truncate_bytes(s: &str, max: usize) -> &str {
    let mut end = max.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        assert!(is_label("flowers_exp1"));
        assert!(is_label("a.b-c"));
        for bad in [
            ".hidden", "a/b", "", "a b", "..", "/tmp/x", "../../x", "a\0b",
        ] {
            assert!(!is_label(bad), "{bad:?}");
        }
        assert!(!is_label(&"a".repeat(101)));
        assert!(label_problem("a/b")
            .unwrap()
            .contains("not a safe directory name"));
    }

    #[test]
    fn run_ids() {
        assert!(is_run_id("09bdde512a65"));
        assert!(!is_run_id("09BDDE512A65"));
        assert!(!is_run_id("../09bdde512a"));
        assert!(!is_run_id("09bdde512a6"));
    }

    #[test]
    fn components() {
        assert_eq!(component_problem("loss=mae,lr=0.001"), None);
        for bad in ["", ".", "..", "a/b", "a\\b", "a\0b", "a\nb"] {
            assert!(component_problem(bad).is_some(), "{bad:?}");
        }
        assert!(component_problem(&"x".repeat(201))
            .unwrap()
            .contains("201 bytes"));
    }

    #[test]
    fn bounded_components_are_safe_and_distinct() {
        assert_eq!(bounded_component("a=1,b=x/y z"), "a=1,b=x_y_z");
        assert_eq!(bounded_component(".."), "__");
        let long_a = format!("{}a", "é".repeat(150));
        let long_b = format!("{}b", "é".repeat(150));
        let (a, b) = (bounded_component(&long_a), bounded_component(&long_b));
        assert!(
            a.len() <= MAX_COMPONENT && b.len() <= MAX_COMPONENT,
            "{}",
            a.len()
        );
        assert_ne!(a, b);
        assert_eq!(component_problem(&a), None);
        assert_eq!(
            a,
            bounded_component(&long_a),
            "the same text, the same name"
        );
    }
}
