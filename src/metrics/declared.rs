//! The metrics a user's program reports (a `command:` sweep's `metrics:` block): declared by
//! name and direction, registered here once per process so that everything that takes a
//! [`Metric`] (stop rules, races, searches, tables, sorting, effects) takes them as it takes
//! the built-in ones. A program's metric is its own per-step column (`val_loss` is both).
//!
//! A name is registered once per process with one direction: a second declaration with the
//! other direction is refused (a report over several sweeps that disagree names both).

use super::metric::{Direction, Metric, Source};
use std::sync::{LazyLock, Mutex};

/// Every declared metric, in the order declared (a handful: looked up by a scan).
static DECLARED: LazyLock<Mutex<Vec<&'static Metric>>> = LazyLock::new(Default::default);

fn declared() -> std::sync::MutexGuard<'static, Vec<&'static Metric>> {
    DECLARED.lock().unwrap_or_else(|p| p.into_inner())
}

/// The program metric named `name`, when one was declared.
pub fn named(name: &str) -> Option<&'static Metric> {
    declared().iter().copied().find(|m| m.name == name)
}

/// Every declared metric, in the order declared.
pub fn all() -> Vec<&'static Metric> {
    declared().clone()
}

/// Why `name` cannot be a program's metric (see [`crate::names::metric_problem`]).
pub fn name_problem(name: &str) -> Option<String> {
    crate::names::metric_problem(name)
}

/// Registers the program metric `name` with `direction`: the metric, or why it cannot be
/// one (a bad name, or the same name registered before with the other direction). Through
/// `Metric::declare`, which first refuses the built-in metrics' names.
pub(super) fn register(name: &str, direction: Direction) -> Result<&'static Metric, String> {
    if let Some(why) = name_problem(name) {
        return Err(why);
    }
    let mut list = declared();
    if let Some(m) = list.iter().find(|m| m.name == name) {
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
    list.push(m);
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
