//! The multi-fidelity benchmark (`bench/multi_fidelity.sh` runs it): ddim-sweep's search with
//! its stop rules, driven through the search's own bookkeeping (`Trials`, with the rung model
//! the orchestrator's strategy uses) and the stop rule's own code (`EarlyStop`: brackets,
//! rungs, verdicts), with a simulated executor of q workers (`--q`, default 1: sequential), on mf-prior-bench 1.10's
//! MFHartmann functions (written here from its definition; the noise realisations are this
//! file's, the same distribution), fidelity 1..100 as epochs. Each method runs until a budget
//! of epochs is spent; the regret at 10×, 30×, 100× the maximum fidelity is the best value at
//! fidelity 100 found within that budget minus the function's minimum. The peers' results
//! (`bench/mf_peers.py`: Optuna TPE + HyperbandPruner / SuccessiveHalvingPruner, DEHB) are
//! read from a JSON file and compared seed by seed.
//!
//! `mf_bench [--peers FILE] [--seeds N] [--gp-seeds N] [--budget N] [--q Q] [--functions mfh6_good,...]`

#[path = "shared/functions.rs"]
mod functions;
use ddim_sweep::metrics::names::Metric;
use ddim_sweep::sweep::stop::{rule_named, EarlyStop};
use ddim_sweep::sweep::strategy::random::Dist;
use ddim_sweep::sweep::strategy::search::{Outcome, Point, Score, Search, Trials};
use functions::{median, HARTMANN3_A, HARTMANN3_P, HARTMANN6_A, HARTMANN6_P, HARTMANN_ALPHA};
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;

const R: i64 = 100;

/// A multi-fidelity function of points in [0, 1]^dims, at fidelity z = 1..100 (s = ln z / ln 100):
/// mf-prior-bench 1.10's MFHartmann (Kandasamy et al. 2017's bias as it defines it: at fidelity
/// s, alpha' = alpha − bias·(1 − s) and a noise |N(0,1)|·noise·(1 − s) is added; at z = 100 it is
/// the Hartmann function itself), or BOCA's multi-fidelity Branin ([`functions::branin`],
/// without noise, scaled from [0, 1]²).
struct Function {
    name: &'static str,
    dims: usize,
    bias: f64,
    noise: f64,
    min: f64,
}

impl Function {
    fn value(&self, x: &[f64], z: i64, seed: u64) -> f64 {
        let s = (z as f64).ln() / (R as f64).ln();
        if self.name == "mfbranin" {
            return functions::branin(-5.0 + 15.0 * x[0], 15.0 * x[1], s);
        }
        let h: f64 = -(0..4)
            .map(|i| {
                let inner: f64 = (0..self.dims)
                    .map(|j| {
                        let (a, p) = if self.dims == 6 {
                            (HARTMANN6_A[i][j], HARTMANN6_P[i][j])
                        } else {
                            (HARTMANN3_A[i][j], HARTMANN3_P[i][j])
                        };
                        a * (x[j] - p).powi(2)
                    })
                    .sum();
                (HARTMANN_ALPHA[i] - self.bias * (1.0 - s)) * (-inner).exp()
            })
            .sum::<f64>();
        if self.noise == 0.0 || z >= R {
            return h;
        }
        // |N(0, 1)| from (seed, z, x), by Box–Muller.
        let mut key = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (z as u64);
        for v in x {
            key = key.rotate_left(17) ^ v.to_bits();
        }
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(key);
        let (u1, u2): (f64, f64) = (rng.random::<f64>().max(1e-300), rng.random());
        let n = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
        h + n.abs() * self.noise * (1.0 - s)
    }
}

fn functions() -> Vec<Function> {
    let h6 = -3.322_368_011_391_339;
    let h3 = -3.862_782_147_820_756;
    vec![
        Function {
            name: "mfh6_good",
            dims: 6,
            bias: 2.5,
            noise: 2.0,
            min: h6,
        },
        Function {
            name: "mfh6_bad",
            dims: 6,
            bias: 3.5,
            noise: 4.0,
            min: h6,
        },
        Function {
            name: "mfh3_good",
            dims: 3,
            bias: 2.5,
            noise: 2.0,
            min: h3,
        },
        Function {
            name: "mfh3_bad",
            dims: 3,
            bias: 3.5,
            noise: 4.0,
            min: h3,
        },
        Function {
            name: "mfbranin",
            dims: 2,
            bias: 0.0,
            noise: 0.0,
            min: functions::BRANIN_MIN,
        },
    ]
}

/// One method: a sampler, whether it learns from rungs, and its stop rule (none: every trial
/// to the maximum fidelity).
struct Method {
    name: &'static str,
    sampler: &'static str,
    rule: Option<&'static str>,
}

fn methods() -> Vec<Method> {
    vec![
        Method {
            name: "tpe+hyperband",
            sampler: "tpe",
            rule: Some("hyperband"),
        },
        Method {
            name: "random+hyperband",
            sampler: "random",
            rule: Some("hyperband"),
        },
        Method {
            name: "random+asha",
            sampler: "random",
            rule: Some("asha"),
        },
        Method {
            name: "tpe",
            sampler: "tpe",
            rule: None,
        },
        Method {
            name: "gp+hyperband",
            sampler: "gp",
            rule: Some("hyperband"),
        },
        Method {
            name: "gp",
            sampler: "gp",
            rule: None,
        },
    ]
}

/// (epochs spent, best value at fidelity 100 so far) after each trial.
type Log = Vec<(i64, f64)>;

fn coords(p: &Point) -> Vec<f64> {
    p.iter()
        .map(|(_, v)| v.as_f64().expect("a number"))
        .collect()
}

/// A trial on a worker of the simulated executor.
struct Running {
    k: usize,
    x: Vec<f64>,
    bracket: u32,
    /// Epochs trained so far.
    epoch: i64,
    /// Rungs reached whose stop decision is not made yet (it waits for earlier trials).
    undecided: std::collections::VecDeque<i64>,
}

/// One search of `budget` epochs on `q` simulated workers, one epoch per time step: trial k
/// is decided when `Trials` allows it (trials 0..=k−q ended), each running trial trains an
/// epoch per step, and at a rung the stop rule compares it with the rung's values of trials
/// 0..=k−q of its bracket, waiting (while it trains on) for those not there yet; a stopped
/// trial counts as stopped at its rung (the epochs it trained while waiting are spent). At
/// q = 1 this is the sequential search. The log, and the fraction of worker-steps idle.
fn simulate(f: &Function, m: &Method, seed: u64, budget: i64, q: usize) -> (Log, f64) {
    let space: Vec<(String, Dist)> = (0..f.dims)
        .map(|i| (format!("X_{i}"), Dist::Uniform(0.0, 1.0)))
        .collect();
    let search = Search {
        sampler: m.sampler,
        metric: Metric::named("image_loss").expect("a metric"),
        trials: 1_000_000,
        seed,
        parallel: q,
        startup: 10,
        space,
        rung_model: m.rule.is_some(),
    };
    let stop = m.rule.map(|r| EarlyStop {
        metric: "val_image_loss".into(),
        rule: rule_named(r, 3).expect("a rule"),
        after_epochs: 1,
        min_runs: 1,
    });
    let ladder = stop.as_ref().and_then(|s| s.ladder(R)).unwrap_or_default();
    let mut t = Trials::new(search, f.name);
    let mut outcomes: Vec<Outcome> = Vec::new();
    // Each trial's values at the ladder's epochs (up to where it stopped), and its bracket.
    let mut at_rungs: Vec<BTreeMap<i64, f64>> = Vec::new();
    let mut brackets: Vec<u32> = Vec::new();
    let mut running: Vec<Running> = Vec::new();
    let (mut spent, mut best, mut log) = (0i64, f64::INFINITY, Log::new());
    let (mut idle, mut steps) = (0usize, 0usize);
    loop {
        // Every trial the contract allows now (Trials keeps at most q in flight).
        let new = if spent < budget {
            t.decide_all(&mut outcomes)
        } else {
            Vec::new()
        };
        for point in new {
            let k = at_rungs.len();
            at_rungs.push(BTreeMap::new());
            let bracket = stop.as_ref().map_or(0, |s| s.bracket(k, R));
            brackets.push(bracket);
            running.push(Running {
                k,
                x: coords(&point),
                bracket,
                epoch: 0,
                undecided: Default::default(),
            });
        }
        if running.is_empty() {
            break;
        }
        steps += 1;
        idle += q - running.len();
        for r in &mut running {
            r.epoch += 1;
            spent += 1;
            if ladder.contains(&r.epoch) {
                at_rungs[r.k].insert(r.epoch, f.value(&r.x, r.epoch, seed));
                if stop
                    .as_ref()
                    .is_some_and(|s| s.decides_at(r.epoch, R, r.bracket))
                {
                    r.undecided.push_back(r.epoch);
                }
            }
        }
        let mut ended: Vec<(usize, Score)> = Vec::new();
        for r in &mut running {
            while let (Some(&e), Some(s)) = (r.undecided.front(), &stop) {
                // Trials 0..=k−q of the bracket: their value at e, or wait for them.
                let mut others = Vec::new();
                let mut wait = false;
                for j in (0..(r.k + 1).saturating_sub(q)).filter(|j| brackets[*j] == r.bracket) {
                    match at_rungs[j].get(&e) {
                        Some(v) => others.push(*v),
                        None if outcomes[j] == Outcome::Pending => wait = true,
                        None => {}
                    }
                }
                if wait {
                    break;
                }
                r.undecided.pop_front();
                let v = at_rungs[r.k][&e];
                if s.verdict((e, R, r.bracket), v, &others).is_some() {
                    // What it trained past the rung while waiting is not its value.
                    at_rungs[r.k].retain(|re, _| *re <= e);
                    ended.push((r.k, Score::Stopped { epochs: e, last: v }));
                    break;
                }
            }
            // At its end a trial completes; a decision still waiting is moot.
            if r.epoch >= R && !ended.iter().any(|(k, _)| *k == r.k) {
                let v = f.value(&r.x, R, seed);
                best = best.min(v);
                ended.push((r.k, Score::Completed(v)));
            }
        }
        for (k, score) in ended {
            outcomes[k] = Outcome::Told(score);
            t.set_rungs(k, at_rungs[k].iter().map(|(e, v)| (*e, *v)).collect());
            running.retain(|r| r.k != k);
            log.push((spent, best));
        }
    }
    if std::env::var_os("MF_DEBUG").is_some() {
        let done = outcomes
            .iter()
            .filter(|o| matches!(o, Outcome::Told(Score::Completed(_))))
            .count();
        let fitted: BTreeMap<String, usize> =
            t.fitted_on().iter().fold(BTreeMap::new(), |mut m, f| {
                *m.entry(format!("{f:?}")).or_default() += 1;
                m
            });
        eprintln!(
            "{} {} seed {seed}: {} trials, {done} completed, fitted on {fitted:?}",
            f.name,
            m.name,
            outcomes.len()
        );
    }
    (log, idle as f64 / (q * steps.max(1)) as f64)
}

/// The best value at fidelity 100 found within `budget` epochs.
fn best_within(log: &[(i64, f64)], budget: i64) -> f64 {
    log.iter()
        .take_while(|(s, _)| *s <= budget)
        .last()
        .map_or(f64::INFINITY, |(_, b)| *b)
}

/// The median over seeds at each checkpoint, "a / b / c".
fn medians(per_seed: &[Vec<f64>]) -> String {
    let n = per_seed.first().map_or(0, Vec::len);
    (0..n)
        .map(|i| {
            let mut at: Vec<f64> = per_seed.iter().map(|r| r[i]).collect();
            format!("{:.3e}", median(&mut at))
        })
        .collect::<Vec<_>>()
        .join(" / ")
}

fn arg<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `--check`: our functions without noise at 200 points and fidelities, one JSON line each
/// (name, bias, z, x, value), for the bench script to compare with mf-prior-bench.
fn check() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    for f in functions() {
        for _ in 0..50 {
            let z = rng.random_range(1..=R);
            let x: Vec<f64> = (0..f.dims).map(|_| rng.random::<f64>()).collect();
            let quiet = Function { noise: 0.0, ..f };
            let v = quiet.value(&x, z, 1);
            println!("{}", serde_json::json!([f.name, f.bias, z, x, v]));
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--check") {
        return check();
    }
    let seeds: u64 = arg(&args, "--seeds", 10);
    let budget: i64 = arg(&args, "--budget", 10 * R);
    // The GP's suggestions cost more: its rows may use fewer seeds.
    let gp_seeds: u64 = arg(&args, "--gp-seeds", seeds);
    // Simulated workers: trials run q at a time under the search's contract.
    let q: usize = arg(&args, "--q", 1);
    let names: String = arg(
        &args,
        "--functions",
        "mfh6_good,mfh6_bad,mfh3_good".to_string(),
    );
    let peers: Option<serde_json::Value> = args
        .iter()
        .position(|a| a == "--peers")
        .and_then(|i| args.get(i + 1))
        .map(|p| {
            serde_json::from_str(&std::fs::read_to_string(p).expect("peers file")).expect("JSON")
        });
    let checkpoints: Vec<i64> = [10, 30, 100]
        .iter()
        .map(|c| c * R)
        .filter(|c| *c <= budget)
        .collect();
    let log10 = |r: f64| r.max(1e-9).log10();
    let mut tests: Vec<(String, ddim_sweep::stats::Paired)> = Vec::new();
    for f in functions()
        .into_iter()
        .filter(|f| names.split(',').any(|n| n == f.name))
    {
        println!("{}: median regret (best value at fidelity 100 − minimum) over {seeds} seeds at {} epochs:", f.name,
            checkpoints.iter().map(|c| format!("{}×", c / R)).collect::<Vec<_>>().join(" / "));
        let mut regrets: BTreeMap<String, Vec<Vec<f64>>> = BTreeMap::new();
        for m in methods() {
            let start = std::time::Instant::now();
            let n = if m.sampler == "gp" { gp_seeds } else { seeds };
            let mut idle = Vec::new();
            let per_seed: Vec<Vec<f64>> = (0..n)
                .map(|s| {
                    let (log, idle_fraction) = simulate(&f, &m, s, budget, q);
                    idle.push(idle_fraction);
                    checkpoints
                        .iter()
                        .map(|c| best_within(&log, *c) - f.min)
                        .collect()
                })
                .collect();
            let secs = start.elapsed().as_secs_f64();
            let mut note = if n == seeds {
                String::new()
            } else {
                format!(", {n} seeds")
            };
            if q > 1 {
                note.push_str(&format!(", idle {:.1}%", 100.0 * median(&mut idle)));
            }
            println!(
                "  {:<26} {}   ({secs:.1} s{note})",
                m.name,
                medians(&per_seed)
            );
            regrets.insert(m.name.to_string(), per_seed);
        }
        if let Some(p) = peers.as_ref().and_then(|p| p.get(f.name)) {
            for (name, logs) in p.as_object().expect("methods") {
                let per_seed: Vec<Vec<f64>> = logs
                    .as_array()
                    .expect("seeds")
                    .iter()
                    .take(seeds as usize)
                    .map(|l| {
                        let log: Vec<(i64, f64)> = l
                            .as_array()
                            .expect("a log")
                            .iter()
                            .map(|e| {
                                (
                                    e[0].as_i64().unwrap(),
                                    e[1].as_f64().unwrap_or(f64::INFINITY),
                                )
                            })
                            .collect();
                        checkpoints
                            .iter()
                            .map(|c| best_within(&log, *c) - f.min)
                            .collect()
                    })
                    .collect();
                println!("  {:<26} {}", name, medians(&per_seed));
                regrets.insert(name.clone(), per_seed);
            }
        }
        // Ours (tpe+hyperband) against each multi-fidelity peer and our plain TPE, paired over
        // seeds on log10 regret at each checkpoint.
        let ours = &regrets["tpe+hyperband"];
        for peer in [
            "optuna-tpe+hyperband",
            "optuna-tpe+sha",
            "dehb",
            "tpe",
            "random+asha",
        ] {
            let Some(other) = regrets.get(peer) else {
                continue;
            };
            for (i, c) in checkpoints.iter().enumerate() {
                let pairs: Vec<(f64, f64)> = ours
                    .iter()
                    .zip(other)
                    .filter(|(a, b)| a[i].is_finite() && b[i].is_finite())
                    .map(|(a, b)| (log10(a[i]), log10(b[i])))
                    .collect();
                if pairs.len() >= 2 {
                    tests.push((
                        format!("{} {}× vs {peer}", f.name, c / R),
                        ddim_sweep::stats::paired(&pairs),
                    ));
                }
            }
        }
        println!();
    }
    // The aim: the upper 95% bound of the geometric mean of ours/peer below 1.25; a one-sided
    // paired t-test of "ours/peer ≥ 1.25" with Holm over every comparison.
    let bound = 1.25f64.log10();
    let p: Vec<f64> = tests
        .iter()
        .map(|(_, t)| match (t.diff.sd, t.diff.n) {
            (Some(sd), n) if n >= 2 && sd > 0.0 => {
                let se = sd / (n as f64).sqrt();
                ddim_sweep::stats::t_cdf((t.diff.mean - bound) / se, n as f64 - 1.0)
            }
            _ => {
                if t.diff.mean < bound {
                    0.0
                } else {
                    1.0
                }
            }
        })
        .collect();
    let holm = ddim_sweep::stats::holm(&p);
    println!("tpe+hyperband against each method, paired over seeds on log10 regret:");
    println!("  geometric mean of ours/theirs [95% interval]; p of \"ours/theirs >= 1.25\" (one-sided), Holm over {} tests", tests.len());
    for ((name, t), h) in tests.iter().zip(holm) {
        let g = |v: f64| 10f64.powf(v);
        println!(
            "  {name:<40} {:.3} [{}]  ours better on {}/{}  p {:.3}  p_holm {h:.3}",
            g(t.diff.mean),
            t.diff
                .ci95
                .map_or("-".into(), |(a, b)| format!("{:.3}, {:.3}", g(a), g(b))),
            t.a_better,
            t.diff.n,
            p[tests.iter().position(|(n, _)| n == name).unwrap()],
        );
    }
}
