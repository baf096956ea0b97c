//! The local executor's settings, declared once like Slurm's: this struct is both the sweep
//! file's `local:` block and `run`'s local options; each option given on the command line
//! replaces the block's (`--gpus` the block's whole list), by [`crate::exec::overlay`].

use serde::{Deserialize, Serialize};

/// How `--executor local` places runs on this machine (never part of a run's identity).
#[derive(Debug, Clone, Default, PartialEq, clap::Args, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[command(next_help_heading = "Local (each overrides the sweep file's `local:` block)")]
pub struct Settings {
    /// GPUs to use, e.g. 0,1: each run sees only its GPU (`local: gpus`, a list).
    #[arg(long, value_delimiter = ',')]
    #[serde(default)]
    pub gpus: Vec<usize>,
    /// Runs packed on each GPU of --gpus; default 1 (`local: runs_per_gpu`).
    #[arg(long)]
    pub runs_per_gpu: Option<usize>,
}

/// The sweep file's block these settings come from.
pub const BLOCK: &str = "local";

/// Where a run executes: a CPU job with `threads` threads, or a place on GPU `gpu`.
#[derive(Debug, Clone, PartialEq)]
pub struct Slot {
    pub index: usize,
    pub gpu: Option<usize>,
    pub threads: usize,
}

impl Slot {
    /// ` [gpu N]`, or nothing for a CPU slot.
    pub fn text(&self) -> String {
        self.gpu.map(|g| format!(" [gpu {g}]")).unwrap_or_default()
    }
}

impl Settings {
    /// The sweep's `local:` block (none: defaults) with `cli`'s options in place.
    pub fn resolve(spec: &crate::sweep::SweepSpec, cli: &Settings) -> anyhow::Result<Settings> {
        let s: Settings = crate::exec::block_settings(spec, BLOCK, cli, &[])?;
        if s.runs_per_gpu == Some(0) {
            anyhow::bail!(crate::error::Error::usage(
                "--runs-per-gpu (local: runs_per_gpu) must be at least 1"
            ));
        }
        Ok(s)
    }

    /// Whether any setting differs from the defaults (what another executor refuses on
    /// the command line).
    pub fn is_set(&self) -> bool {
        *self != Settings::default()
    }

    /// The slots: `runs_per_gpu` per listed GPU, else `jobs` CPU/auto slots sharing the
    /// `cores`.
    pub fn slots(&self, jobs: usize, cores: usize) -> Vec<Slot> {
        let places: Vec<Option<usize>> = if self.gpus.is_empty() {
            vec![None; jobs.max(1)]
        } else {
            let k = self.runs_per_gpu.unwrap_or(1).max(1);
            self.gpus
                .iter()
                .flat_map(|&g| std::iter::repeat_n(Some(g), k))
                .collect()
        };
        let threads = (cores / places.len()).max(1);
        places
            .into_iter()
            .enumerate()
            .map(|(index, gpu)| Slot {
                index,
                gpu,
                threads,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sweep::SweepSpec;

    #[test]
    fn slots_pack_runs_per_gpu_and_share_cores() {
        let s = Settings {
            gpus: vec![0, 2],
            runs_per_gpu: Some(2),
        };
        let slots = s.slots(3, 16);
        let gpus: Vec<_> = slots.iter().map(|s| s.gpu).collect();
        assert_eq!(
            gpus,
            [Some(0), Some(0), Some(2), Some(2)],
            "--jobs is ignored with --gpus"
        );
        assert!(slots.iter().all(|s| s.threads == 4));
        assert_eq!(
            slots.iter().map(|s| s.index).collect::<Vec<_>>(),
            [0, 1, 2, 3]
        );
        let cpu = Settings::default().slots(3, 16);
        assert_eq!(cpu.len(), 3);
        assert!(cpu.iter().all(|s| s.gpu.is_none() && s.threads == 5));
        assert!(Settings::default()
            .slots(4, 2)
            .iter()
            .all(|s| s.threads == 1));
    }

    #[test]
    fn the_block_and_the_command_line() {
        let parse = |t: &str| SweepSpec::parse(&format!("label: a\n{t}"), "s.yaml", &[BLOCK]);
        let s = parse("local:\n  gpus: [0, 1]\n  runs_per_gpu: 2\n").unwrap();
        let cli = Settings {
            runs_per_gpu: Some(3),
            ..Settings::default()
        };
        let got = Settings::resolve(&s, &cli).unwrap();
        assert_eq!(
            got,
            Settings {
                gpus: vec![0, 1],
                runs_per_gpu: Some(3)
            }
        );
        let cli = Settings {
            gpus: vec![2],
            ..Settings::default()
        };
        assert_eq!(Settings::resolve(&s, &cli).unwrap().gpus, [2], "replaced");
        let none = Settings::resolve(&parse("").unwrap(), &Settings::default()).unwrap();
        assert!(!none.is_set());
        let e = Settings::resolve(
            &parse("local:\n  gpu: [0]\n").unwrap(),
            &Settings::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("s.yaml:3:3: local: unknown field `gpu`"),
            "{e}"
        );
        let e = Settings::resolve(
            &parse("local:\n  runs_per_gpu: 0\n").unwrap(),
            &Settings::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("must be at least 1"), "{e}");
    }
}
