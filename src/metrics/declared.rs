//! The metrics a user's program reports (a `command:` sweep's `metrics:` block): declared by
//! name and direction, registered here once per process so that everything that takes a
//! [`Metric`] (stop rules, races, searches, tables, sorting, effects) takes them as it takes
//! the built-in ones. A program's metric is its own per-step column (`val_loss` is both).
//!
//! A name is registered once per process with one direction: a second declaration with the
//! other direction is refused (a report over several sweeps that disagree names both).

use super::metric::{Direction, Metric, Source};
use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

static DECLARED: LazyLock<Mutex<HashMap<String, &'static Metric>>> =
    LazyLock::new(Default::default);

/// The program metric named `name`, when one was declared.
pub fn named(name: &str) -> Option<&'static Metric> {
    let map = DECLARED.lock().unwrap_or_else(|p| p.into_inner());
    map.get(name).copied()
}

/// Every declared metric, in the order declared.
pub fn all() -> Vec<&'static Metric> {
    let map = DECLARED.lock().unwrap_or_else(|p| p.into_inner());
    let mut out: Vec<(usize, &'static Metric)> = map.values().map(|m| (order_of(m), *m)).collect();
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, m)| m).collect()
}

static ORDER: LazyLock<Mutex<Vec<&'static str>>> = LazyLock::new(Default::default);

fn order_of(m: &Metric) -> usize {
    let order = ORDER.lock().unwrap_or_else(|p| p.into_inner());
    order
        .iter()
        .position(|n| *n == m.name)
        .unwrap_or(usize::MAX)
}

/// Why `name` cannot be a program's metric: it must be a TensorBoard tag made of ASCII
/// letters, digits and `_ . / -`, start with a letter, not end with `/`, and hold no empty
/// part (`a//b`); at most 128 characters. It becomes a column of `scalars.csv`, a tag and a
/// key of `run.json`.
pub fn name_problem(name: &str) -> Option<String> {
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

/// Registers the program metric `name` with `direction`: the metric, or why it cannot be
/// one (a bad name, or the same name registered before with the other direction). Through
/// `Metric::declare`, which first refuses the built-in metrics' names.
pub(super) fn register(name: &str, direction: Direction) -> Result<&'static Metric, String> {
    if let Some(why) = name_problem(name) {
        return Err(why);
    }
    let mut map = DECLARED.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(m) = map.get(name) {
        if m.direction != direction {
            return Err(format!(
                "metric `{name}` is declared both `{}` and `{}` is better",
                word(m.direction),
                word(direction)
            ));
        }
        return Ok(m);
    }
    let leaked: &'static str = Box::leak(name.to_string().into_boxed_str());
    let description: &'static str = Box::leak(
        format!("reported by the program ({} is better)", word(direction)).into_boxed_str(),
    );
    let m: &'static Metric = Box::leak(Box::new(Metric {
        name: leaked,
        column: leaked,
        description,
        direction,
        source: Source::Program,
    }));
    map.insert(name.to_string(), m);
    ORDER.lock().unwrap_or_else(|p| p.into_inner()).push(leaked);
    Ok(m)
}

/// `lower` or `higher`, as `metrics:` writes a direction.
pub fn word(d: Direction) -> &'static str {
    match d {
        Direction::Lower => "lower",
        Direction::Higher => "higher",
    }
}

/// The direction `lower` or `higher` names.
pub fn direction(word: &str) -> Option<Direction> {
    match word {
        "lower" | "min" | "minimize" => Some(Direction::Lower),
        "higher" | "max" | "maximize" => Some(Direction::Higher),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_directions() {
        assert!(name_problem("val/loss").is_none());
        assert!(name_problem("acc-top1.5").is_none());
        for bad in ["", "1x", "a//b", "a/", "a b", "a:b", "é", &"x".repeat(129)] {
            assert!(name_problem(bad).is_some(), "{bad}");
        }
        let m = register("test_registered_acc", Direction::Higher).unwrap();
        assert_eq!(m.column, "test_registered_acc");
        assert!(std::ptr::eq(
            register("test_registered_acc", Direction::Higher).unwrap(),
            m
        ));
        assert!(register("test_registered_acc", Direction::Lower)
            .unwrap_err()
            .contains("declared both"));
        assert!(std::ptr::eq(named("test_registered_acc").unwrap(), m));
        assert_eq!(direction("max"), Some(Direction::Higher));
        assert_eq!(direction("up"), None);
    }
}
