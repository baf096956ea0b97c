//! Random search (`random:`): each grid point's trials, drawn from distributions when the plan
//! is expanded, so that the same file gives the same runs on every machine. As a strategy it
//! proposes every trial at once, like the grid ([`super::grid::Grid`]).
//!
//! ```yaml
//! random:
//!   trials: 12          # how many runs to draw (per grid point, with a grid)
//!   seed: 1             # the draw's seed (default 1)
//!   space:
//!     lr: loguniform(1e-4, 3e-3)
//!     weight_decay: uniform(0, 1e-3)
//!     block_depth: randint(1, 3)      # inclusive
//!     loss: [mae, mse]                # a list: a uniform choice
//! ```
//!
//! Trial k's value of a flag depends only on (label, seed, k, the flag's name) and its
//! distribution: raising `trials` keeps the earlier trials, and adding a flag to the space
//! leaves the other flags' draws as they were.

use crate::flags::check_value;
use crate::sweep::section::{bound_text, SpecError, SweepText};
use rand::{Rng, SeedableRng};
use serde::Deserialize;
use serde_yaml::Mapping;
use serde_yaml::Value;
use sha2::{Digest, Sha256};

/// One searched flag's distribution.
#[derive(Debug, Clone, PartialEq)]
pub enum Dist {
    /// Uniform on [lo, hi].
    Uniform(f64, f64),
    /// Log-uniform on [lo, hi] (both > 0).
    LogUniform(f64, f64),
    /// An integer in lo..=hi.
    RandInt(i64, i64),
    /// One of the values, uniformly.
    Choice(Vec<Value>),
}

impl Dist {
    /// Parses `uniform(a, b)`, `loguniform(a, b)`, `randint(a, b)` or a YAML list.
    pub fn parse(v: &Value) -> Result<Dist, String> {
        if let Value::Sequence(items) = v {
            if items.is_empty() {
                return Err("an empty list: give at least one value".into());
            }
            return Ok(Dist::Choice(items.clone()));
        }
        let text = match v {
            Value::String(s) => s.trim().to_string(),
            other => {
                return Err(format!(
                    "expected uniform(a, b), loguniform(a, b), randint(a, b) or a list of values, not {}",
                    crate::flags::show_value(other)
                ))
            }
        };
        let bad = || {
            format!("`{text}`: expected uniform(a, b), loguniform(a, b), randint(a, b) or a list of values")
        };
        let (name, rest) = text.split_once('(').ok_or_else(bad)?;
        let args = rest.strip_suffix(')').ok_or_else(bad)?;
        let parts: Vec<&str> = args.split(',').map(str::trim).collect();
        if parts.len() != 2 {
            return Err(format!("`{text}`: {} takes two bounds", name.trim()));
        }
        let num = |s: &str| {
            s.parse::<f64>()
                .map_err(|_| format!("`{text}`: `{s}` is not a number"))
        };
        let (a, b) = (num(parts[0])?, num(parts[1])?);
        if !(a.is_finite() && b.is_finite()) || a > b {
            return Err(format!(
                "`{text}`: the bounds must be finite with low <= high"
            ));
        }
        match name.trim() {
            "uniform" => Ok(Dist::Uniform(a, b)),
            "loguniform" if a <= 0.0 => Err(format!("`{text}`: loguniform needs bounds > 0")),
            "loguniform" => Ok(Dist::LogUniform(a, b)),
            "randint" if a.fract() != 0.0 || b.fract() != 0.0 => {
                Err(format!("`{text}`: randint takes integer bounds"))
            }
            "randint" => Ok(Dist::RandInt(a as i64, b as i64)),
            other => Err(format!(
                "`{text}`: unknown distribution `{other}` (uniform, loguniform, randint, or a list)"
            )),
        }
    }

    /// The values that bound the distribution (each must be valid for the flag).
    pub fn bounds(&self) -> Vec<Value> {
        match self {
            Dist::Uniform(a, b) | Dist::LogUniform(a, b) => vec![Value::from(*a), Value::from(*b)],
            Dist::RandInt(a, b) => vec![Value::from(*a), Value::from(*b)],
            Dist::Choice(v) => v.clone(),
        }
    }

    /// A float interval (for TensorBoard's HParams domain), for uniform and loguniform.
    pub fn interval(&self) -> Option<(f64, f64)> {
        match self {
            Dist::Uniform(a, b) | Dist::LogUniform(a, b) => Some((*a, *b)),
            _ => None,
        }
    }

    /// A numeric range whose bounds are equal (`uniform(1, 1)`).
    pub fn is_one_value(&self) -> bool {
        match self {
            Dist::Uniform(a, b) | Dist::LogUniform(a, b) => a == b,
            Dist::RandInt(a, b) => a == b,
            Dist::Choice(_) => false,
        }
    }

    pub fn is_log(&self) -> bool {
        matches!(self, Dist::LogUniform(..))
    }

    /// The text a sweep file writes.
    pub fn text(&self) -> String {
        match self {
            Dist::Uniform(a, b) => format!("uniform({a}, {b})"),
            Dist::LogUniform(a, b) => format!("loguniform({a}, {b})"),
            Dist::RandInt(a, b) => format!("randint({a}, {b})"),
            Dist::Choice(v) => crate::flags::show_value(&Value::Sequence(v.clone())),
        }
    }

    /// [`Dist::text`] for a line on the console: a list of more than 8 values shows its
    /// first 6 and its last, and how many there are.
    pub fn short_text(&self) -> String {
        match self {
            Dist::Choice(v) if v.len() > 8 => {
                let shown: Vec<String> = v[..6]
                    .iter()
                    .map(crate::flags::plain_value)
                    .chain(["…".to_string(), crate::flags::plain_value(&v[v.len() - 1])])
                    .collect();
                format!("[{}] ({} values)", shown.join(", "), v.len())
            }
            _ => self.text(),
        }
    }

    /// Draws one value from `rng`; floats keep 4 significant digits (readable run names,
    /// and the same text on every machine).
    fn draw(&self, rng: &mut rand_chacha::ChaCha8Rng) -> Value {
        match self {
            Dist::Uniform(a, b) => Value::from(round_sig(a + (b - a) * rng.random::<f64>(), 4)),
            Dist::LogUniform(a, b) => {
                let (la, lb) = (a.ln(), b.ln());
                let x = (la + (lb - la) * rng.random::<f64>()).exp();
                Value::from(round_sig(x.clamp(*a, *b), 4))
            }
            Dist::RandInt(a, b) => Value::from(rng.random_range(*a..=*b)),
            Dist::Choice(v) => v[rng.random_range(0..v.len())].clone(),
        }
    }
}

/// `x` rounded to `digits` significant digits.
pub fn round_sig(x: f64, digits: i32) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    let p = 10f64.powi(digits - 1 - x.abs().log10().floor() as i32);
    (x * p).round() / p
}

/// A sweep's `random:` block, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct RandomSearch {
    pub trials: usize,
    pub seed: u64,
    /// Searched flags in file order.
    pub space: Vec<(String, Dist)>,
}

impl RandomSearch {
    /// One line for `--dry-run`.
    pub fn describe(&self) -> String {
        let space: Vec<String> = self
            .space
            .iter()
            .map(|(n, d)| format!("{n} ~ {}", d.short_text()))
            .collect();
        format!(
            "random search: {} trial(s) per grid point, seed {}: {}",
            self.trials,
            self.seed,
            space.join(", ")
        )
    }

    /// Trial `k`'s values: each flag from its own stream, seeded by (label, seed, k, name).
    pub fn draw(&self, label: &str, k: usize) -> Vec<(String, Value)> {
        self.space
            .iter()
            .map(|(name, dist)| {
                let mut h = Sha256::new();
                h.update(format!(
                    "ddim-sweep random v1\n{label}\n{}\n{k}\n{name}\n",
                    self.seed
                ));
                let d = h.finalize();
                let seed = u64::from_le_bytes(d[..8].try_into().expect("8 bytes"));
                let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
                (name.clone(), dist.draw(&mut rng))
            })
            .collect()
    }
}

// The `random:` block as the sweep file holds it, and its parsing (its errors at its lines).

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRandom {
    trials: usize,
    #[serde(default = "first_seed")]
    seed: u64,
    space: Mapping,
}

/// A draw's seed when the block gives none (`random:`'s and `search:`'s).
pub(crate) fn first_seed() -> u64 {
    1
}

/// `random:`: at least one trial; each searched flag a distribution whose bounds (or
/// values) are valid for the flag, and not also fixed or in the grid.
pub(crate) fn parse_random(
    t: SweepText,
    r: RawRandom,
    fixed: &[(String, Value)],
    grid: &[(String, Vec<Value>)],
) -> Result<RandomSearch, SpecError> {
    if r.trials == 0 {
        return Err(t.err(
            t.line("random", "trials"),
            "random: trials must be at least 1".into(),
        ));
    }
    let space = parse_space(t, "random", r.space, fixed, grid)?;
    Ok(RandomSearch {
        trials: r.trials,
        seed: r.seed,
        space,
    })
}

/// A search space (`random:`'s or `search:`'s `space:`): each flag a distribution whose
/// bounds (or values) are valid for the flag, and not also fixed or in the grid.
pub(crate) fn parse_space(
    t: SweepText,
    section: &str,
    mapping: Mapping,
    fixed: &[(String, Value)],
    grid: &[(String, Vec<Value>)],
) -> Result<Vec<(String, Dist)>, SpecError> {
    if mapping.is_empty() {
        return Err(t.err(
            t.line(section, "space"),
            format!("{section}: the space is empty: give at least one flag and its distribution"),
        ));
    }
    let r_space = mapping;
    let mut space = Vec::new();
    for (k, v) in r_space {
        let (name, spec) = t.flag(section, &k)?;
        let line = t.line(section, &name);
        if fixed.iter().any(|(n, _)| *n == name) || grid.iter().any(|(n, _)| *n == name) {
            return Err(t.err(
                line,
                format!("{section}: `{name}` is also fixed or in the grid: keep it in one place"),
            ));
        }
        let dist = Dist::parse(&v).map_err(|e| t.err(line, format!("{section}: {name}: {e}")))?;
        let mut values = Vec::new();
        for b in dist.bounds() {
            let c = check_value(spec, &b).map_err(|e| {
                t.err(
                    line,
                    format!(
                        "{section}: {name}: {} can draw {}, which the flag refuses: {e}",
                        dist.text(),
                        bound_text(&b)
                    ),
                )
            })?;
            values.push(c);
        }
        let dist = match dist {
            Dist::Choice(_) => Dist::Choice(values),
            d => d,
        };
        space.push((name, dist));
    }
    Ok(space)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distributions_parse_and_refuse() {
        let p = |s: &str| Dist::parse(&serde_yaml::from_str::<Value>(s).unwrap());
        assert_eq!(
            p("loguniform(1e-4, 3e-3)").unwrap(),
            Dist::LogUniform(1e-4, 3e-3)
        );
        assert_eq!(p("uniform(0, 1e-3)").unwrap(), Dist::Uniform(0.0, 1e-3));
        assert_eq!(p("randint(1, 3)").unwrap(), Dist::RandInt(1, 3));
        assert!(matches!(p("[mae, mse]").unwrap(), Dist::Choice(v) if v.len() == 2));
        assert!(p("loguniform(0, 1)").unwrap_err().contains("> 0"));
        assert!(p("uniform(2, 1)").unwrap_err().contains("low <= high"));
        assert!(p("gaussian(0, 1)")
            .unwrap_err()
            .contains("unknown distribution"));
        assert!(p("randint(1.5, 3)").unwrap_err().contains("integer"));
        assert!(p("[]").unwrap_err().contains("empty"));
        assert!(p("3").is_err());
    }

    #[test]
    fn draws_depend_only_on_label_seed_trial_and_flag() {
        let space = vec![
            ("lr".to_string(), Dist::LogUniform(1e-4, 3e-3)),
            ("block_depth".to_string(), Dist::RandInt(1, 3)),
        ];
        let r = RandomSearch {
            trials: 12,
            seed: 1,
            space: space.clone(),
        };
        let a: Vec<_> = (0..12).map(|k| r.draw("x", k)).collect();
        let b: Vec<_> = (0..12).map(|k| r.draw("x", k)).collect();
        assert_eq!(a, b, "deterministic");
        for t in &a {
            let lr = t[0].1.as_f64().unwrap();
            assert!((1e-4..=3e-3).contains(&lr), "{lr}");
            assert_eq!(lr, round_sig(lr, 4));
            assert!((1..=3).contains(&t[1].1.as_i64().unwrap()));
        }
        // Adding a flag keeps the others' draws; another seed or label changes them.
        let mut wider = r.clone();
        wider.space.push((
            "loss".into(),
            Dist::Choice(vec!["mae".into(), "mse".into()]),
        ));
        assert_eq!(wider.draw("x", 3)[..2], a[3][..]);
        assert_ne!(
            RandomSearch {
                seed: 2,
                ..r.clone()
            }
            .draw("x", 3),
            a[3]
        );
        assert_ne!(r.draw("y", 3), a[3]);
        // log-uniform: about half the draws below the geometric midpoint
        let many = RandomSearch {
            trials: 400,
            seed: 1,
            space: vec![("lr".into(), Dist::LogUniform(1e-4, 1e-2))],
        };
        let below = (0..400)
            .filter(|k| many.draw("x", *k)[0].1.as_f64().unwrap() < 1e-3)
            .count();
        assert!((150..250).contains(&below), "{below}");
    }
}
