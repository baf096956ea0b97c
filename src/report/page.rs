//! The report page of a label (`README.md`), assembled from its sections in page order:
//! the summary and the metrics, Results (by configuration, each run, the pivot), failed runs,
//! the race, the effects, the search, the figures, the runs in table order, damaged runs.
//! Each section is made by its owner; this module only orders them.

use super::conclusions::Sections;
use super::figures::Picture;
use super::table::{pivot, strings};
use super::{md, LabelRuns};
use polars::prelude::*;

/// What the page is made of.
pub struct Page<'a> {
    pub g: &'a LabelRuns,
    /// The runs' table (for markdown).
    pub df: &'a DataFrame,
    /// (title, markdown) of each runs' table.
    pub tables: &'a [(String, String)],
    pub pictures: &'a [Picture],
    pub search: Option<&'a str>,
    pub race: Option<&'a str>,
    pub found: &'a Sections,
}

impl Page<'_> {
    /// The page's markdown.
    pub fn markdown(&self) -> anyhow::Result<String> {
        let sections = [
            self.summary()?,
            self.metrics(),
            self.results()?,
            self.failed(),
            self.race.unwrap_or_default().to_string(),
            self.found.effects.clone().unwrap_or_default(),
            self.search.unwrap_or_default().to_string(),
            self.figures(),
            self.order()?,
            self.damaged(),
        ];
        Ok(sections.concat())
    }

    /// The title and how many runs are in each state.
    fn summary(&self) -> anyhow::Result<String> {
        let statuses = strings(self.df, "status")?;
        let count = |s: &str| statuses.iter().filter(|x| *x == s).count();
        let mut md = format!("# {}\n\n", self.g.label);
        md.push_str(&format!(
            "{} runs: {} completed, {} failed, {} interrupted, {} running or queued. ",
            self.g.runs.len(),
            count("completed"),
            count("failed"),
            count("interrupted"),
            count("running") + count("queued")
        ));
        if count("stopped") > 0 {
            md.push_str(&format!(
                "{} stopped early (see Search). ",
                count("stopped")
            ));
        }
        Ok(md)
    }

    /// Every metric with its description and direction, and FID's bias where measured.
    fn metrics(&self) -> String {
        let program: Vec<(String, String)> = self
            .g
            .runs
            .iter()
            .find_map(|r| r.entry.info.program.as_ref())
            .map(|p| p.metrics.clone())
            .unwrap_or_default();
        if !program.is_empty() {
            let mut md = String::from("Metrics, as the program reported them last (the first is the headline); the best of each column is in bold:\n\n");
            for (m, d) in &program {
                md.push_str(&format!("- `{m}` ({d} is better).\n"));
            }
            let sampled: Vec<_> = crate::metrics::names::ALL
                .iter()
                .filter(|m| m.from_samples())
                .filter(|m| {
                    self.g
                        .runs
                        .iter()
                        .any(|r| r.entry.info.metrics.contains_key(m.name))
                })
                .collect();
            if !sampled.is_empty() {
                md.push_str("\nMeasured by ddim-sweep on the images each run left once its program ended (`sample_metrics:`; the reference folder of the sweep stands for the validation images):\n\n");
                for m in sampled {
                    md.push_str(&format!(
                        "- `{}`: {} ({}).\n",
                        m.name,
                        m.description,
                        m.direction_text()
                    ));
                }
            }
            md.push_str("\nA value that is not a number (NaN, inf) is shown as `—` and ranks after every number.\n\n");
            return md;
        }
        let mut md = String::from("Metrics, the final validation values (sample metrics on Inception-v3 features of TensorFlow's FID graph); the best of each column is in bold:\n\n");
        for m in crate::metrics::names::ALL {
            md.push_str(&format!(
                "- `{}`: {} ({}).\n",
                m.name,
                m.description,
                m.direction_text()
            ));
        }
        md.push('\n');
        let g = self.g;
        if g.runs
            .iter()
            .any(|r| r.entry.info.metrics.contains_key("fid"))
        {
            let mut counts: Vec<&str> = g.runs.iter().map(|r| r.flag_text("kid_images")).collect();
            counts.sort();
            counts.dedup();
            md.push_str(&format!(
                "FID is biased at small sample counts (it falls as the count grows): these runs measured it on kid_images = {} generated images (`auto`: the validation split's size); compare FIDs only at equal counts.\n\n",
                counts.join(", ")
            ));
        }
        md
    }

    /// `## Results`: by configuration (with replicates), each run, and the pivot of the
    /// headline metric.
    fn results(&self) -> anyhow::Result<String> {
        let mut md = String::from("## Results\n\n");
        if let Some(c) = &self.found.configs {
            md.push_str(c);
            md.push_str("\nEach run:\n\n");
        }
        for (title, t) in self.tables {
            if !title.is_empty() {
                md.push_str(&format!("{title}\n\n"));
            }
            md.push_str(t);
            md.push('\n');
        }
        let g = self.g;
        let value = super::headline(g);
        let pivot_flags: Vec<String> = g
            .varying
            .iter()
            .filter(|v| *v != "dataset_name")
            .cloned()
            .collect();
        // A pivot of drawn values would have one run per cell: the search section shows them.
        if !g.varying.iter().any(|v| v == "dataset_name") && self.search.is_none() {
            if let Some(p) = pivot(self.df, &pivot_flags, value)? {
                md.push_str(&format!(
                    "### {value} by {}\n\n{p}\n",
                    pivot_flags.join(" x ")
                ));
            }
        }
        Ok(md)
    }

    /// `### Failed runs` with their reasons.
    fn failed(&self) -> String {
        let failed: Vec<String> = self
            .g
            .runs
            .iter()
            .filter(|r| r.entry.info.status.to_string() == "failed")
            .map(|r| {
                // The reason is escaped already (the report's markdown copy of the runs).
                format!(
                    "- {}: {}",
                    md::code(&r.entry.id),
                    r.entry.info.reason.clone().unwrap_or_default()
                )
            })
            .collect();
        if failed.is_empty() {
            return String::new();
        }
        format!("### Failed runs\n\n{}\n\n", failed.join("\n"))
    }

    /// One section per picture: title, caption, image.
    fn figures(&self) -> String {
        self.pictures
            .iter()
            .map(|(title, file, caption)| {
                format!("## {title}\n\n{caption}\n\n![{title}]({file})\n\n")
            })
            .collect()
    }

    /// The run ids in table order.
    fn order(&self) -> anyhow::Result<String> {
        Ok(format!(
            "Runs (table order): {}\n",
            strings(self.df, "id")?
                .iter()
                .map(|i| format!("`{i}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ))
    }

    /// `## Damaged runs`: left out of everything, named with why.
    fn damaged(&self) -> String {
        if self.g.damaged.is_empty() {
            return String::new();
        }
        let items: Vec<String> = self
            .g
            .damaged
            .iter()
            .map(|(dir, why)| {
                format!(
                    "- {}: {}",
                    md::code(&dir.display().to_string()),
                    md::text(why)
                )
            })
            .collect();
        format!(
            "## Damaged runs\n\nLeft out of every table and figure until repaired or retired (moved out of the sweep's directory):\n\n{}\n\n",
            items.join("\n")
        )
    }
}
