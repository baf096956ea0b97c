//! The Slurm executor's settings, declared once: this struct is both the sweep file's
//! `slurm:` block and `run`'s Slurm options; each option given on the command line replaces
//! the block's (`extra` is appended to), by [`crate::exec::overlay`].

use serde::{Deserialize, Serialize};

/// How `--executor slurm` submits a sweep's runs (never part of a run's identity).
#[derive(Debug, Clone, Default, PartialEq, clap::Args, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[command(next_help_heading = "Slurm (each overrides the sweep file's `slurm:` block)")]
pub struct Settings {
    /// Slurm partition (`slurm: partition`).
    #[arg(long)]
    pub partition: Option<String>,
    /// Time limit per run, e.g. 2:00:00 (`slurm: time`).
    #[arg(long)]
    pub time: Option<String>,
    /// Generic resources per run, e.g. gpu:1 (`slurm: gres`).
    #[arg(long)]
    pub gres: Option<String>,
    /// CPUs per run (`slurm: cpus_per_task`).
    #[arg(long)]
    pub cpus_per_task: Option<u32>,
    /// Memory per run, e.g. 16G (`slurm: mem`).
    #[arg(long)]
    pub mem: Option<String>,
    /// Seconds before the time limit at which Slurm warns a run (SIGUSR1) to checkpoint and
    /// stop; default 120 (`slurm: signal_before`).
    #[arg(long, value_name = "SECONDS")]
    pub signal_before: Option<u32>,
    /// Another sbatch argument, e.g. --sbatch-arg=--qos=short; repeatable (`slurm: extra`, a
    /// list, to which these are appended).
    #[arg(long = "sbatch-arg", value_name = "ARG", allow_hyphen_values = true)]
    #[serde(default)]
    pub extra: Vec<String>,
}

/// The sweep file's block these settings come from.
pub const BLOCK: &str = "slurm";

/// Seconds before the time limit at which a task is warned (SIGUSR1), unless set.
pub const DEFAULT_SIGNAL_BEFORE: u32 = 120;

impl Settings {
    /// The sweep's `slurm:` block (none: defaults) with `cli`'s options in place.
    pub fn resolve(spec: &crate::sweep::SweepSpec, cli: &Settings) -> anyhow::Result<Settings> {
        crate::exec::block_settings(spec, BLOCK, cli, &["extra"])
    }

    /// These settings as sbatch options (in the order sbatch documents them).
    pub fn sbatch_options(&self) -> Vec<String> {
        let mut a = vec![format!(
            "--signal=B:USR1@{}",
            self.signal_before.unwrap_or(DEFAULT_SIGNAL_BEFORE)
        )];
        let opt = |name: &str, v: &Option<String>| v.as_ref().map(|v| format!("--{name}={v}"));
        a.extend(opt("partition", &self.partition));
        a.extend(opt("time", &self.time));
        a.extend(opt("gres", &self.gres));
        a.extend(opt("mem", &self.mem));
        a.extend(self.cpus_per_task.map(|c| format!("--cpus-per-task={c}")));
        a.extend(self.extra.iter().cloned());
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sweep::SweepSpec;

    fn spec(block: &str) -> Result<SweepSpec, crate::sweep::spec::SpecError> {
        SweepSpec::parse(&format!("label: a\n{block}"), "s.yaml", &[BLOCK])
    }

    #[test]
    fn the_command_line_overrides_the_block_and_appends_to_extra() {
        let s = spec("slurm:\n  partition: gpu\n  time: \"1:00:00\"\n  signal_before: 300\n  extra: [--account=p]\n").unwrap();
        let cli = Settings {
            time: Some("0:30:00".into()),
            cpus_per_task: Some(4),
            extra: vec!["--qos=short".into()],
            ..Settings::default()
        };
        let got = Settings::resolve(&s, &cli).unwrap();
        assert_eq!(
            got,
            Settings {
                partition: Some("gpu".into()),
                time: Some("0:30:00".into()),
                gres: None,
                cpus_per_task: Some(4),
                mem: None,
                signal_before: Some(300),
                extra: vec!["--account=p".into(), "--qos=short".into()],
            }
        );
        assert_eq!(
            got.sbatch_options(),
            [
                "--signal=B:USR1@300",
                "--partition=gpu",
                "--time=0:30:00",
                "--cpus-per-task=4",
                "--account=p",
                "--qos=short"
            ]
        );
        // No block, an empty block: the command line alone, the default warning.
        for s in [spec("").unwrap(), spec("slurm:\n").unwrap()] {
            let got = Settings::resolve(&s, &Settings::default()).unwrap();
            assert_eq!(got, Settings::default());
            assert_eq!(got.sbatch_options(), ["--signal=B:USR1@120"]);
        }
    }

    #[test]
    fn a_bad_block_is_located_in_the_sweep_file() {
        let message = |block: &str| {
            let s = spec(block).unwrap();
            Settings::resolve(&s, &Settings::default())
                .unwrap_err()
                .to_string()
        };
        let m = message("slurm:\n  partition: gpu\n  partiton: x\n");
        assert!(
            m.starts_with(
                "s.yaml:4:3: slurm: unknown field `partiton`, expected one of `partition`"
            ),
            "{m}"
        );
        let m = message("slurm:\n  cpus_per_task: many\n");
        assert!(
            m.starts_with(
                "s.yaml:3:18: slurm.cpus_per_task: invalid type: string \"many\", expected u32"
            ),
            "{m}"
        );
        let m = message("slurm: [gpu]\n");
        assert!(
            m.starts_with("s.yaml:2:8: slurm: invalid type: sequence"),
            "{m}"
        );
        // A block nobody owns is refused by the sweep file itself, with the closest name.
        let e = SweepSpec::parse("label: a\nslrum:\n  time: 1\n", "s.yaml", &[BLOCK]).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("s.yaml:2:1: unknown field `slrum`")
                && e.to_string().ends_with("did you mean `slurm`?"),
            "{e}"
        );
    }
}
