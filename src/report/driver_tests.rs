//! The report's driver on its own: a runs folder built in the test through the store (a 2 × 2
//! grid with 3 seeds, metrics chosen so that one effect is clear and the others are not), then
//! [`super::run`] in-process, without the binary and without training anything.

#[cfg(test)]
mod tests {
    use super::super::{run, CsvTable, Format, Options};
    use crate::store::{RunDir, Status};
    use crate::sweep::{expand, SweepSpec};
    use std::collections::BTreeMap;
    use std::path::Path;

    /// Writes the sweep's 12 runs as completed: kid is 0.1 higher with the linear schedule, and
    /// `loss_on` moves it by ±0.001 in no consistent direction; noise_loss is the same everywhere.
    fn runs_folder(runs: &Path) {
        let text = "label: drv\nflags:\n  dataset_name: shapes\n  image_size: 16\n  kid_images: 0\n  epochs: 1\ngrid:\n  schedule_type: [linear, cosine]\n  loss_on: [noise, image]\nseeds: [1, 2, 3]\n";
        let spec = SweepSpec::parse(text, "drv.yaml", &[]).unwrap();
        let plan = expand(&spec, runs).unwrap();
        assert_eq!(plan.runs.len(), 12);
        for r in &plan.runs {
            let f = r.flags.builtin().unwrap();
            let linear = f.schedule_type == crate::flags::ScheduleType::Linear;
            let image = f.loss_on == crate::flags::LossOn::Image;
            let jitter = if image {
                0.001 * [1.0, -1.0, 0.5][(f.seed - 1) as usize]
            } else {
                0.0
            };
            let rd = RunDir::new(&r.dir);
            rd.queue(&r.flags, &plan.label, Some(r.varying_text()))
                .unwrap();
            let mut info = rd.start(|_| {}).unwrap();
            info.metrics = BTreeMap::from([
                (
                    "kid".to_string(),
                    0.05 + if linear { 0.1 } else { 0.0 } + jitter,
                ),
                ("noise_loss".to_string(), 0.2),
            ]);
            info.seconds = 1.0;
            rd.finish(&mut info, Status::Completed, None);
        }
    }

    fn options(runs: &Path, out: &Path, format: Format) -> Options {
        Options {
            runs_dir: runs.to_path_buf(),
            label: Some("drv".into()),
            out: out.to_path_buf(),
            format,
            table: CsvTable::Results,
            sort: None,
            images: false,
            device: tch::Device::Cpu,
        }
    }

    #[test]
    fn the_driver_writes_tables_and_states_only_supported_effects() {
        let d = tempfile::tempdir().unwrap();
        let (runs, out) = (d.path().join("runs"), d.path().join("out"));
        runs_folder(&runs);
        let written = run(&options(&runs, &out, Format::Markdown)).unwrap();
        assert!(written.damaged.is_empty());
        let md = std::fs::read_to_string(out.join("drv/README.md")).unwrap();
        assert!(md.contains("12 runs: 12 completed"), "{md}");
        assert!(md.contains("By configuration"), "{md}");
        // The Effects section, up to the next one.
        let eff = md.split("## Effects").nth(1).unwrap();
        let eff = eff.split("\n## ").next().unwrap();
        // Each flag's values pair in the runs' order (A first): look the rows up by flag.
        let row = |flag: &str, metric: &str| {
            eff.lines()
                .position(|l| {
                    l.starts_with(&format!("| {flag} |")) && l.contains(&format!("| {metric} |"))
                })
                .unwrap_or_else(|| panic!("no {flag} {metric} row: {eff}"))
        };
        assert!(
            row("schedule_type", "kid") < row("schedule_type", "noise_loss")
                && row("loss_on", "kid") < row("schedule_type", "noise_loss"),
            "the headline's rows first: {eff}"
        );
        assert!(
            eff.contains("- `schedule_type`: cosine is better than linear on kid by 0.1"),
            "{eff}"
        );
        assert_eq!(
            eff.matches("\n- `").count(),
            1,
            "one supported difference: {eff}"
        );
        assert!(
            eff.contains("The other 3 comparisons show no difference the data supports. To find a `kid` effect of the size observed (5% level, 80% power) would take about this many pairs: "),
            "{eff}"
        );
        assert!(eff.contains(" for `loss_on` "), "{eff}");
        assert!(eff.contains("(now 6).\n"), "{eff}");
        // The line after the conclusions is a paragraph, not part of their list.
        assert!(
            eff.contains("the data supports a difference.\n\nThe other 3"),
            "{eff}"
        );

        run(&options(&runs, &out, Format::Json)).unwrap();
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("drv/results.json")).unwrap())
                .unwrap();
        assert_eq!(v["runs"].as_array().unwrap().len(), 12);
        let effects = v["effects"].as_array().unwrap();
        let sig: Vec<_> = effects
            .iter()
            .filter(|e| e["significant"] == true)
            .collect();
        assert_eq!(sig.len(), 1, "{effects:?}");
        assert_eq!(
            (sig[0]["flag"].as_str(), sig[0]["metric"].as_str()),
            (Some("schedule_type"), Some("kid"))
        );
        assert!(effects.iter().all(|e| e.get("pairs_for_power").is_some()));
    }
}
