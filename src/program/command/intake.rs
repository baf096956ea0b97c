//! Scalars from a program's output: lines `name: value` (GuildAI's form; `step: N` and
//! `epoch: N` set the step and epoch of the values after them) and JSON lines
//! (`{"step": 3, "val_loss": 0.21}`, on stdout or in `metrics.jsonl`). Values are grouped
//! into rows: a row ends when the step or the epoch changes, or when the program ends.

use std::collections::BTreeMap;

/// One row of values at one step.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Row {
    /// The program's `epoch` when it reports one, else the row's number (1, 2, …).
    pub epoch: i64,
    /// The program's `step` when it reports one, else the row's number.
    pub step: i64,
    /// Whether `step` is the row's number (the program reports no step): a resumed run's
    /// rows are then known by their epochs ([`super::scalars::Scalars::write`]).
    pub numbered: bool,
    /// Every scalar of the row by name (the last value of a name wins).
    pub values: BTreeMap<String, f64>,
}

/// Turns lines into rows.
#[derive(Debug, Default)]
pub struct Intake {
    step: Option<i64>,
    epoch: Option<i64>,
    pending: BTreeMap<String, f64>,
    rows: i64,
}

/// What one line holds.
#[derive(Debug, PartialEq)]
enum Line {
    Step(i64),
    Epoch(i64),
    Values(Vec<(String, f64)>, Option<i64>, Option<i64>),
    Nothing,
}

impl Intake {
    /// Starts after `rows` rows already written (a resumed run), at `step` and `epoch`.
    pub fn resume(rows: i64, step: Option<i64>, epoch: Option<i64>) -> Intake {
        Intake {
            rows,
            step,
            epoch,
            ..Default::default()
        }
    }

    /// Takes one line of output; returns the row it completed, if any.
    pub fn line(&mut self, text: &str) -> Option<Row> {
        match parse(text) {
            Line::Nothing => None,
            Line::Step(s) => self.advance(Some(s), None),
            Line::Epoch(e) => self.advance(None, Some(e)),
            Line::Values(values, step, epoch) => {
                let done = self.advance(step, epoch);
                self.pending.extend(values);
                done
            }
        }
    }

    /// Moves to `step`/`epoch`: the values so far make a row when either changes.
    fn advance(&mut self, step: Option<i64>, epoch: Option<i64>) -> Option<Row> {
        let changes = step.is_some_and(|s| Some(s) != self.step)
            || epoch.is_some_and(|e| Some(e) != self.epoch);
        let done = if changes { self.flush() } else { None };
        if step.is_some() {
            self.step = step;
        }
        if epoch.is_some() {
            self.epoch = epoch;
        }
        done
    }

    /// The values not yet in a row, as a row (at the end of the program, or of a read).
    pub fn flush(&mut self) -> Option<Row> {
        if self.pending.is_empty() {
            return None;
        }
        self.rows += 1;
        Some(Row {
            epoch: self.epoch.unwrap_or(self.rows),
            step: self.step.unwrap_or(self.rows),
            numbered: self.step.is_none(),
            values: std::mem::take(&mut self.pending),
        })
    }
}

/// A scalar's name: a letter first, then letters, digits, `_ . / -`.
fn is_name(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_alphabetic())
        && s.len() <= 128
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '/' | '-'))
}

/// A number as programs print them: Rust's and Python's forms, `nan`, `inf`, `-inf`.
fn number(s: &str) -> Option<f64> {
    let t = s.trim();
    if t.is_empty() || t.len() > 64 {
        return None;
    }
    match t.to_ascii_lowercase().as_str() {
        "nan" | "+nan" | "-nan" => Some(f64::NAN),
        "inf" | "+inf" | "infinity" => Some(f64::INFINITY),
        "-inf" | "-infinity" => Some(f64::NEG_INFINITY),
        _ => t.parse::<f64>().ok(),
    }
}

fn parse(text: &str) -> Line {
    let t = text.trim();
    if t.starts_with('{') {
        return json_line(t);
    }
    let Some((name, value)) = t.split_once(':') else {
        return Line::Nothing;
    };
    if !is_name(name) || !value.starts_with([' ', '\t']) {
        return Line::Nothing;
    }
    let Some(v) = number(value) else {
        return Line::Nothing;
    };
    match name {
        "step" if v.fract() == 0.0 && v.is_finite() => Line::Step(v as i64),
        "epoch" if v.fract() == 0.0 && v.is_finite() => Line::Epoch(v as i64),
        "step" | "epoch" => Line::Nothing,
        _ => Line::Values(vec![(name.to_string(), v)], None, None),
    }
}

/// One JSON object: `step` and `epoch` (integers) place its other numeric values; strings
/// "nan", "inf" and "-inf" are numbers (JSON has none); anything else is left out.
fn json_line(t: &str) -> Line {
    let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(t) else {
        return Line::Nothing;
    };
    let mut step = None;
    let mut epoch = None;
    let mut values = Vec::new();
    for (k, v) in map {
        let n = match &v {
            serde_json::Value::Number(n) => n.as_f64(),
            serde_json::Value::String(s) => number(s).filter(|x| !x.is_finite()),
            _ => None,
        };
        let Some(n) = n else { continue };
        match k.as_str() {
            "step" => step = v.as_i64(),
            "epoch" => epoch = v.as_i64(),
            _ if is_name(&k) => values.push((k, n)),
            _ => {}
        }
    }
    if values.is_empty() {
        return match (step, epoch) {
            (Some(s), None) => Line::Step(s),
            (None, Some(e)) => Line::Epoch(e),
            _ => Line::Nothing,
        };
    }
    Line::Values(values, step, epoch)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(lines: &[&str]) -> Vec<Row> {
        let mut i = Intake::default();
        let mut out: Vec<Row> = lines.iter().filter_map(|l| i.line(l)).collect();
        out.extend(i.flush());
        out
    }

    /// A row at the program's own step.
    fn row(epoch: i64, step: i64, values: &[(&str, f64)]) -> Row {
        Row {
            epoch,
            step,
            numbered: false,
            values: values.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        }
    }

    /// A row of a program that reports no step: its step is its number.
    fn numbered(epoch: i64, step: i64, values: &[(&str, f64)]) -> Row {
        Row {
            numbered: true,
            ..row(epoch, step, values)
        }
    }

    #[test]
    fn guild_lines_with_steps_and_epochs() {
        let got = rows(&[
            "starting",
            "epoch: 1",
            "loss: 0.5",
            "val/loss: 0.25",
            "epoch: 2",
            "loss: 0.4",
            "loss: 0.3",
            "the loss: 7",
            "x:1",
            "acc: 1e-3 extra",
        ]);
        assert_eq!(
            got,
            [
                numbered(1, 1, &[("loss", 0.5), ("val/loss", 0.25)]),
                numbered(2, 2, &[("loss", 0.3)])
            ]
        );
        // Only steps: the step is the program's, the epoch the row's number.
        let got = rows(&["step: 100", "a: 1", "step: 200", "a: 2"]);
        assert_eq!(
            got,
            [row(1, 100, &[("a", 1.0)]), row(2, 200, &[("a", 2.0)])]
        );
        // Neither: one row at the end, the last value of each name.
        assert_eq!(
            rows(&["a: 1", "a: 2", "b: -3.5"]),
            [numbered(1, 1, &[("a", 2.0), ("b", -3.5)])]
        );
    }

    #[test]
    fn json_lines_and_non_finite_values() {
        let got = rows(&[
            r#"{"step": 3, "val_loss": 0.21, "note": "x", "ok": true}"#,
            r#"{"step": 4, "val_loss": "nan"}"#,
            r#"{"step": 4, "acc": "inf"}"#,
            r#"{"step": 5, "val_loss": 0.1"#,
            "a: NaN",
            "b: -inf",
        ]);
        assert_eq!(got[0], row(1, 3, &[("val_loss", 0.21)]));
        assert!(got[1].values["val_loss"].is_nan());
        assert_eq!(got[1].values["acc"], f64::INFINITY);
        assert!(got[1].values["a"].is_nan());
        assert_eq!(got[1].values["b"], f64::NEG_INFINITY);
        assert_eq!(got.len(), 2);
        assert_eq!(number("1_000"), None);
        assert_eq!(number(" 2.5e3 "), Some(2500.0));
    }
}
