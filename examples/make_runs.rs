//! Generates a runs folder for the scale benchmark (`bench/scale.sh`): one sweep, `scale`,
//! whose N runs are the N trials of a `search:` (random sampler) over four flags, each run a
//! completed one with 10 epochs of scalars and its final metrics, and the sweep's record with
//! its search. Everything is written through the library itself (the plan, the run ids, the
//! run folders' files, `sweep.json`), so every run is valid as `run` would have made it.
//!
//! `make_runs RUNS_DIR N [SAMPLER STARTUP]`: with a sampler other than `random` (one trial in
//! flight, STARTUP random first), the trials are decided one by one from the runs' values,
//! as the orchestrator would (sweep `SAMPLER`, for the resume benchmark).
//! The sweep file is written beside the label's folder as `<label>.yaml`.

use ddim_sweep::store::sweep_file::SweepRecord;
use ddim_sweep::store::{RunDir, Status};
use ddim_sweep::sweep::strategy::search::SearchStrategy;
use ddim_sweep::sweep::strategy::{Proposal, RunResult, Strategy};
use ddim_sweep::sweep::{expand, SweepSpec};
use ddim_sweep::track::csv::EpochRow;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(dir), Some(n)) = (
        args.get(1),
        args.get(2).and_then(|n| n.parse::<usize>().ok()),
    ) else {
        anyhow::bail!("usage: make_runs RUNS_DIR N [SAMPLER STARTUP]");
    };
    let sampler = args.get(3).map_or("random", |s| s.as_str());
    let startup = args
        .get(4)
        .and_then(|s| s.parse::<usize>().ok())
        .unwrap_or(n);
    let parallel = if sampler == "random" { n } else { 1 };
    let runs_dir = PathBuf::from(dir);
    let label = if sampler == "random" {
        "scale"
    } else {
        sampler
    };
    let text = sweep_text(label, sampler, n, parallel, startup);
    let spec = SweepSpec::parse(&text, "scale.yaml", &[]).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut plan = expand(&spec, &runs_dir)?;
    let search = plan.search.clone().expect("a search");
    let mut strategy = SearchStrategy::new(search, &plan.label);
    let mut results: HashMap<usize, RunResult> = HashMap::new();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    // Ask the search as the orchestrator does; each new trial's run is written completed.
    loop {
        let result = |i: usize| results.get(&i).cloned().unwrap_or(RunResult::Pending);
        let mut new = Vec::new();
        for p in strategy.propose(&plan, &result) {
            if let Proposal::Point { trial, point } = p {
                let i = plan.admit(point, trial)?;
                strategy.admitted(trial, i);
                new.push(i);
            }
        }
        if new.is_empty() {
            break;
        }
        for i in new {
            // Two trials that drew the same point share one run.
            if results.contains_key(&i) {
                continue;
            }
            write_run(&plan, i, &mut rng)?;
            // As the orchestrator tells it: the run's result read back from its files.
            results.insert(i, RunResult::of(&plan.runs[i]));
        }
    }
    // The sweep's record, as `run` writes it: the plan and the search's trials.
    let mut record = SweepRecord::default();
    record.merge_plan(&plan, Some("scale.yaml".into()));
    record.set_fixed(&spec.fixed);
    record.set_search(&plan);
    record.search = strategy.search(&plan);
    record.write(&plan.sweep_dir)?;
    std::fs::write(runs_dir.join(format!("{label}.yaml")), &text)?;
    println!("{} runs in {}", plan.runs.len(), plan.sweep_dir.display());
    Ok(())
}

/// The sweep file: a search of N trials over four flags on the `kid` metric.
pub fn sweep_text(label: &str, sampler: &str, n: usize, parallel: usize, startup: usize) -> String {
    format!(
        "label: {label}\nflags:\n  dataset_name: shapes\n  image_size: 16\n  epochs: 10\nsearch:\n  sampler: {sampler}\n  metric: kid\n  trials: {n}\n  parallel: {parallel}\n  startup: {startup}\n  space:\n    lr: loguniform(1e-5, 1e-2)\n    ema: uniform(0.5, 0.999)\n    block_depth: randint(1, 4)\n    loss: [mae, mse]\n"
    )
}

/// Writes run `i` of the plan as a completed run (10 epochs of scalars); returns its final
/// metrics (`kid` a smooth function of its flags, plus noise).
fn write_run(
    plan: &ddim_sweep::sweep::Plan,
    i: usize,
    rng: &mut rand_chacha::ChaCha8Rng,
) -> anyhow::Result<BTreeMap<String, f64>> {
    let r = &plan.runs[i];
    let rd = RunDir::new(&r.dir);
    rd.queue(&r.flags, &plan.label, Some(r.varying_text()))?;
    let mut info = rd.start(|_| {})?;
    let mut csv = ddim_sweep::track::csv::header().to_string();
    for e in 1..=10 {
        let v = 1.0 / e as f64 + rng.random::<f64>() * 0.01;
        let row = EpochRow {
            epoch: e,
            step: e * 100,
            loss: Some(v),
            noise_loss: Some(v),
            image_loss: Some(v),
            val: BTreeMap::from([("val_noise_loss".to_string(), v)]),
            seconds: Some(1.0),
            images_per_s: Some(100.0),
        };
        csv.push('\n');
        csv.push_str(&row.to_line());
    }
    csv.push('\n');
    std::fs::write(rd.scalars(), csv)?;
    let f = r.flags.builtin().expect("built-in runs");
    let kid = 0.05
        + 0.02 * (f.lr.log10() + 3.0).powi(2)
        + 0.1 * (f.ema - 0.9).powi(2)
        + 0.01 * (f.block_depth as f64 - 2.0).abs()
        + 0.005 * rng.random::<f64>();
    info.metrics = BTreeMap::from([
        ("noise_loss".to_string(), rng.random::<f64>()),
        ("image_loss".to_string(), rng.random::<f64>()),
        ("kid".to_string(), kid),
    ]);
    info.seconds = 60.0;
    rd.finish(&mut info, Status::Completed, None);
    Ok(info.metrics)
}
