//! The metrics a run reports, each defined once ([`Metric`]): its final name (`run.json`'s
//! `metrics`, the report's columns, `report --sort`, a race's `metric`), its per-epoch
//! validation column (`scalars.csv`, a stop rule's `metric`, TensorBoard's `val/<name>`), its
//! description, its direction (lower or higher is better), and how it is measured. A sample
//! metric (measured on Inception features of generated images against the validation images)
//! lives in its own file and is registered by one line in [`ALL`]; everything else (tables,
//! bold-the-best, sorting, stop rules, races, effects) takes what it needs from here.

use tch::Tensor;

use super::declared::named as declared_named;
pub use super::metric::{Direction, Metric, Source};

/// Mean absolute error of the predicted noise on the validation split.
pub static NOISE_LOSS: Metric = Metric {
    name: "noise_loss",
    column: "val_noise_loss",
    description: "mean absolute error of the predicted noise on the validation split",
    direction: Direction::Lower,
    source: Source::Validation(0),
};

/// Mean absolute error of the predicted image on the validation split.
pub static IMAGE_LOSS: Metric = Metric {
    name: "image_loss",
    column: "val_image_loss",
    description: "mean absolute error of the predicted image on the validation split",
    direction: Direction::Lower,
    source: Source::Validation(1),
};

/// Every metric, in the order tables show them: one line per metric.
pub static ALL: &[&Metric] = &[
    &NOISE_LOSS,
    &IMAGE_LOSS,
    &super::kid::METRIC,
    &super::fid::METRIC,
    &super::precision_recall::PRECISION,
    &super::precision_recall::RECALL,
];

/// Finding a metric among every metric ([`ALL`]), then among the metrics the programs of
/// this process's sweeps declared ([`super::declared`]).
impl Metric {
    pub fn named(name: &str) -> Option<&'static Metric> {
        ALL.iter()
            .copied()
            .find(|m| m.name == name)
            .or_else(|| declared_named(name))
    }

    pub fn by_column(column: &str) -> Option<&'static Metric> {
        ALL.iter()
            .copied()
            .find(|m| m.column == column)
            .or_else(|| declared_named(column))
    }

    /// Declares a metric the user's program reports ([`super::declared`]), or why it cannot
    /// be one: a built-in metric's name or column, a name that is not a tag, or the same name
    /// declared before with the other direction.
    pub fn declare(name: &str, direction: Direction) -> Result<&'static Metric, String> {
        if ["epoch", "step", "seconds"].contains(&name) {
            return Err(format!(
                "`{name}` is a column ddim-sweep writes beside every metric in scalars.csv (epoch, step, seconds): report the program's value under another name"
            ));
        }
        if let Some(m) = ALL.iter().find(|m| m.name == name || m.column == name) {
            return Err(format!(
                "`{name}` is the name of ddim-sweep's own metric `{}`: name the program's metric otherwise (e.g. `my_{name}`)",
                m.name
            ));
        }
        super::declared::register(name, direction)
    }

    /// Every metric: the built-in ones ([`ALL`]), then those declared in this process.
    pub fn all() -> Vec<&'static Metric> {
        let mut out: Vec<&'static Metric> = ALL.to_vec();
        out.extend(super::declared::all());
        out
    }

    /// Reported by the user's program (not measured by ddim-sweep).
    pub fn from_program(&self) -> bool {
        matches!(self.source, Source::Program)
    }

    /// The final names, in table order.
    pub fn names() -> Vec<&'static str> {
        ALL.iter().map(|m| m.name).collect()
    }

    /// The per-epoch columns, in table order.
    pub fn columns() -> Vec<&'static str> {
        ALL.iter().map(|m| m.column).collect()
    }
}

/// The headline among the built-in metrics: the first sample metric (in [`ALL`]'s order: KID)
/// that `every_run_has`, else the first validation metric (noise_loss).
pub fn headline(every_run_has: impl Fn(&Metric) -> bool) -> &'static Metric {
    let first = |sample: bool| {
        ALL.iter().copied().find(|m| match m.source {
            Source::Samples(_) => sample && every_run_has(m),
            Source::Validation(_) => !sample,
            Source::Program => false,
        })
    };
    first(true).or_else(|| first(false)).unwrap_or(&NOISE_LOSS)
}

/// Every sample metric measured on the same features: (metric, value) for those measurable.
pub fn measure_samples(real: &Tensor, generated: &Tensor) -> Vec<(&'static Metric, f64)> {
    ALL.iter()
        .filter_map(|m| match m.source {
            Source::Samples(f) => f(real, generated).map(|v| (*m, v)),
            Source::Validation(_) | Source::Program => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Names and columns are unique and every column is in scalars.csv's header.
    #[test]
    fn names_agree_everywhere() {
        let header = crate::track::csv::header();
        for m in ALL {
            assert_eq!(Metric::named(m.name).map(|x| x.name), Some(m.name));
            assert_eq!(Metric::by_column(m.column).map(|x| x.name), Some(m.name));
            assert_eq!(m.column, format!("val_{}", m.name));
            assert!(header.split(',').any(|c| c == m.column), "{header}");
        }
        assert_eq!(NOISE_LOSS.best([0.3, 0.1, 0.2]), Some(0.1));
        let higher = Metric {
            direction: Direction::Higher,
            ..NOISE_LOSS
        };
        assert_eq!(higher.best([0.3, 0.1, 0.2]), Some(0.3));
        assert_eq!(higher.as_loss(0.3), -0.3);
    }

    #[test]
    fn the_headline_is_the_first_sample_metric_every_run_has() {
        assert_eq!(headline(|_| true).name, "kid");
        assert_eq!(headline(|m| m.name != "kid").name, "fid");
        assert_eq!(headline(|_| false).name, "noise_loss");
    }

    #[test]
    fn a_program_metric_cannot_take_a_built_in_name() {
        assert!(Metric::declare("kid", Direction::Lower)
            .unwrap_err()
            .contains("own metric"));
        assert!(Metric::declare("val_noise_loss", Direction::Lower).is_err());
        let m = Metric::declare("test_names_acc", Direction::Higher).unwrap();
        assert!(std::ptr::eq(Metric::named("test_names_acc").unwrap(), m));
        assert!(std::ptr::eq(
            Metric::by_column("test_names_acc").unwrap(),
            m
        ));
        assert!(m.from_program());
    }
}
