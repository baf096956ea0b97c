//! The metrics a run reports, defined once: each one's final name (`run.json`'s `metrics`,
//! the report's columns, `report --sort`, a race's `metric`) and its per-epoch validation
//! column (`scalars.csv`, a stop rule's `metric`). Lower is better for every one.

/// A metric of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum Metric {
    /// Mean absolute error of the predicted noise on the validation split.
    NoiseLoss,
    /// Mean absolute error of the predicted image on the validation split.
    ImageLoss,
    /// KID of generated samples against the validation images.
    Kid,
}

impl Metric {
    /// Every metric, in the order tables show them.
    pub const ALL: [Metric; 3] = [Metric::NoiseLoss, Metric::ImageLoss, Metric::Kid];

    /// The final names, in the order of [`Metric::ALL`].
    pub const NAMES: [&'static str; 3] = [
        Metric::NoiseLoss.name(),
        Metric::ImageLoss.name(),
        Metric::Kid.name(),
    ];

    /// Its name at the end of a run (`run.json`, report columns): `noise_loss`.
    pub const fn name(self) -> &'static str {
        match self {
            Metric::NoiseLoss => "noise_loss",
            Metric::ImageLoss => "image_loss",
            Metric::Kid => "kid",
        }
    }

    /// Its per-epoch column in `scalars.csv`: `val_noise_loss`.
    pub fn column(self) -> &'static str {
        match self {
            Metric::NoiseLoss => "val_noise_loss",
            Metric::ImageLoss => "val_image_loss",
            Metric::Kid => "val_kid",
        }
    }

    pub fn final_named(name: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.name() == name)
    }

    pub fn column_named(name: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.column() == name)
    }

    pub fn final_names() -> Vec<&'static str> {
        Metric::ALL.iter().map(|m| m.name()).collect()
    }

    pub fn column_names() -> Vec<&'static str> {
        Metric::ALL.iter().map(|m| m.column()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::ValueEnum;

    /// The command line's spelling (`--sort`, `--metric`) is the final name.
    #[test]
    fn names_agree_everywhere() {
        for m in Metric::ALL {
            let pv = m.to_possible_value().expect("every metric is a value");
            assert_eq!(pv.get_name(), m.name());
            assert_eq!(Metric::final_named(m.name()), Some(m));
            assert_eq!(Metric::column_named(m.column()), Some(m));
            assert!(crate::track::csv::HEADER
                .split(',')
                .any(|c| c == m.column()));
        }
    }
}
