//! The search benchmark (`bench/search.sh` runs it): ddim-sweep's samplers driven through the
//! search's own contract bookkeeping (`sweep::strategy::search::Trials`, what the
//! orchestrator's strategy uses) with a simulated executor — q workers, each trial's duration
//! drawn uniformly from [0.5, 1.5] by (seed, trial) — on Branin (2-d), Hartmann6 (6-d) and a
//! mixed space; Optuna's results (same functions, same simulated executor, from
//! `bench/search_optuna.py`) are read from a JSON file and compared seed by seed.
//!
//! `search_bench [--optuna FILE] [--seeds N] [--trials N] [--samplers tpe,random,gp]
//!  [--functions branin,hartmann6,mixed] [--qs 1,4]`

#[path = "shared/functions.rs"]
mod functions;
use ddim_sweep::metrics::names::Metric;
use ddim_sweep::sweep::strategy::random::Dist;
use ddim_sweep::sweep::strategy::search::{Outcome, Point, Score, Search, Trials};
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::time::Instant;

/// A test function: its space, its value at a point, its minimum.
struct Function {
    name: &'static str,
    space: Vec<(String, Dist)>,
    f: fn(&Point) -> f64,
    min: f64,
}

fn num(p: &Point, name: &str) -> f64 {
    p.iter()
        .find(|(n, _)| n == name)
        .and_then(|(_, v)| v.as_f64())
        .expect("a number")
}

fn branin(p: &Point) -> f64 {
    functions::branin(num(p, "x1"), num(p, "x2"), 1.0)
}

fn hartmann6(p: &Point) -> f64 {
    use functions::{HARTMANN6_A as A, HARTMANN6_P as P, HARTMANN_ALPHA as ALPHA};
    let x: Vec<f64> = (1..=6).map(|i| num(p, &format!("x{i}"))).collect();
    -(0..4)
        .map(|i| {
            let s: f64 = (0..6).map(|j| A[i][j] * (x[j] - P[i][j]).powi(2)).sum();
            ALPHA[i] * (-s).exp()
        })
        .sum::<f64>()
}

/// The mixed space: a log-scale float, an integer, a list and a float (docs/benchmarks.md).
fn mixed(p: &Point) -> f64 {
    let lr = num(p, "lr");
    let depth = num(p, "depth");
    let u = num(p, "u");
    let kind = p
        .iter()
        .find(|(n, _)| n == "kind")
        .and_then(|(_, v)| v.as_str().map(str::to_string))
        .expect("a kind");
    let k = match kind.as_str() {
        "a" => 0.5,
        "b" => 0.0,
        _ => 1.0,
    };
    (lr.log10() + 2.5).powi(2) + 0.1 * (depth - 5.0).powi(2) + k + (u - 0.3).powi(2)
}

fn functions() -> Vec<Function> {
    let u = |a: f64, b: f64| Dist::Uniform(a, b);
    vec![
        Function {
            name: "branin",
            space: vec![("x1".into(), u(-5.0, 10.0)), ("x2".into(), u(0.0, 15.0))],
            f: branin,
            min: 0.397_887_357_729_738,
        },
        Function {
            name: "hartmann6",
            space: (1..=6).map(|i| (format!("x{i}"), u(0.0, 1.0))).collect(),
            f: hartmann6,
            min: -3.322_368_011_415_51,
        },
        Function {
            name: "mixed",
            space: vec![
                ("lr".into(), Dist::LogUniform(1e-4, 1e-1)),
                ("depth".into(), Dist::RandInt(1, 8)),
                (
                    "kind".into(),
                    Dist::Choice(vec!["a".into(), "b".into(), "c".into()]),
                ),
                ("u".into(), u(0.0, 1.0)),
            ],
            f: mixed,
            min: 0.0,
        },
    ]
}

/// One search: the best value after each trial, the idle fraction of the q workers, and the
/// time of each suggestion (seconds).
struct Run {
    best: Vec<f64>,
    idle: f64,
    suggest_s: Vec<f64>,
}

/// A trial's simulated duration: uniform on [0.5, 1.5], from (seed, trial).
fn duration(seed: u64, trial: usize) -> f64 {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed * 1_000_003 + trial as u64);
    0.5 + rng.random::<f64>()
}

fn simulate(func: &Function, sampler: &'static str, q: usize, seed: u64, trials: usize) -> Run {
    let search = Search {
        sampler,
        metric: Metric::named("image_loss").expect("a metric"),
        trials,
        seed,
        parallel: q,
        startup: 10.max(q).min(trials),
        space: func.space.clone(),
        rung_model: false,
    };
    let mut t = Trials::new(search, func.name);
    let mut outcomes: Vec<Outcome> = Vec::new();
    let mut values: Vec<f64> = Vec::new();
    let mut running: Vec<(f64, usize)> = Vec::new();
    let (mut now, mut busy) = (0.0f64, 0.0f64);
    let mut suggest_s = Vec::new();
    loop {
        while running.len() < q {
            let known = outcomes.clone();
            let start = Instant::now();
            let decided = t.decide(&|j| known.get(j).copied().unwrap_or(Outcome::Pending));
            let Some(point) = decided else { break };
            suggest_s.push(start.elapsed().as_secs_f64());
            let k = outcomes.len();
            outcomes.push(Outcome::Pending);
            values.push((func.f)(&point));
            let d = duration(seed, k);
            busy += d;
            running.push((now + d, k));
        }
        if running.is_empty() {
            break;
        }
        running.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let (end, k) = running.remove(0);
        now = end;
        outcomes[k] = Outcome::Told(Score::Completed(values[k]));
    }
    let mut best = Vec::with_capacity(values.len());
    let mut b = f64::INFINITY;
    for v in &values {
        b = b.min(*v);
        best.push(b);
    }
    Run {
        best,
        idle: 1.0 - busy / (q as f64 * now),
        suggest_s,
    }
}

/// q against q = 1 for each method with both: the regret ratio of the medians, and the
/// geometric mean of the per-seed ratio with its 95% interval (the project's paired t over
/// log10 regret after `trials`; the seeds pair: the same seed draws the same startup trials).
fn print_q_ratio(
    func: &Function,
    by_q: &BTreeMap<(usize, String), Vec<Vec<f64>>>,
    trials: usize,
    q: usize,
) {
    if q == 1 {
        return;
    }
    let log = |x: f64| (x.max(0.0) + 1e-9).log10();
    for ((q1, name), one) in by_q.range((1, String::new())..(2, String::new())) {
        let Some(many) = by_q.get(&(q, name.clone())) else {
            continue;
        };
        let regret = |c: &Vec<Vec<f64>>| -> Vec<f64> {
            c.iter().map(|b| b[trials - 1] - func.min).collect()
        };
        let pairs: Vec<(f64, f64)> = regret(many)
            .into_iter()
            .zip(regret(one))
            .map(|(m, o)| (log(m), log(o)))
            .collect();
        let t = ddim_sweep::stats::paired(&pairs);
        let ratio = median(&mut regret(many)) / median(&mut regret(one));
        println!(
            "{:<10} q={q} against q={q1} {name:<11} median regret ratio {ratio:.2}x; per-seed geometric mean {:.2}x [{}] over {} seeds",
            func.name,
            10f64.powf(t.diff.mean),
            t.diff
                .ci95
                .map_or("-".into(), |(a, b)| format!("{:.2}x, {:.2}x", 10f64.powf(a), 10f64.powf(b))),
            t.diff.n
        );
    }
    println!();
}

use functions::median;

fn quantile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() - 1) as f64 * p).round() as usize]
}

/// Optuna's best-after-each-trial curves, by (function, q): one per seed.
type Peer = BTreeMap<(String, usize), Vec<Vec<f64>>>;

fn read_optuna(path: &str) -> Peer {
    let text = std::fs::read_to_string(path).expect("the Optuna results");
    let v: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let mut out = Peer::new();
    for r in v.as_array().expect("a list") {
        let key = (
            r["function"].as_str().expect("function").to_string(),
            r["q"].as_u64().expect("q") as usize,
        );
        let best: Vec<f64> = r["best"]
            .as_array()
            .expect("best")
            .iter()
            .map(|x| x.as_f64().expect("a number"))
            .collect();
        out.entry(key).or_default().push(best);
    }
    out
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let seeds: u64 = arg("--seeds").map_or(30, |s| s.parse().expect("--seeds N"));
    let trials: usize = arg("--trials").map_or(100, |s| s.parse().expect("--trials N"));
    if let Some(path) = arg("--gp-peer") {
        return gp_against_optuna(&path, seeds, trials);
    }
    let samplers: Vec<&'static str> = arg("--samplers")
        .unwrap_or_else(|| "tpe,random".into())
        .split(',')
        .map(|s| match s {
            "tpe" => "tpe",
            "random" => "random",
            "gp" => "gp",
            other => panic!("unknown sampler {other}"),
        })
        .collect();
    let optuna = arg("--optuna").map(|p| read_optuna(&p));
    let only = arg("--functions");
    let qs: Vec<usize> = arg("--qs")
        .unwrap_or_else(|| "1,4".into())
        .split(',')
        .map(|q| q.parse().expect("--qs 1,4"))
        .collect();
    let checkpoints = [25usize, 50, 100].map(|c| c.min(trials));
    println!(
        "{} trials x {seeds} seeds per (function, method, q); median regret (best found - optimum) after {:?} trials\n",
        trials, checkpoints
    );
    let mut tests: Vec<(String, ddim_sweep::stats::Paired)> = Vec::new();
    let chosen = functions().into_iter().filter(|f| {
        only.as_ref()
            .is_none_or(|o| o.split(',').any(|n| n == f.name))
    });
    for func in chosen {
        // (q, method) -> best-so-far curves, one per seed: for q = 4 against q = 1.
        let mut by_q: BTreeMap<(usize, String), Vec<Vec<f64>>> = BTreeMap::new();
        for &q in &qs {
            let mut curves: BTreeMap<String, Vec<Vec<f64>>> = BTreeMap::new();
            let mut idle: BTreeMap<String, Vec<f64>> = BTreeMap::new();
            for &s in &samplers {
                for seed in 0..seeds {
                    let r = simulate(&func, s, q, seed, trials);
                    curves.entry(s.to_string()).or_default().push(r.best);
                    idle.entry(s.to_string()).or_default().push(r.idle);
                }
            }
            if let Some(p) = optuna
                .as_ref()
                .and_then(|o| o.get(&(func.name.to_string(), q)))
            {
                curves.insert("optuna-tpe".into(), p.clone());
            }
            let regret_at = |c: &[Vec<f64>], n: usize| -> Vec<f64> {
                c.iter().map(|b| b[n - 1] - func.min).collect()
            };
            let random_target = curves
                .get("random")
                .map(|c| median(&mut regret_at(c, trials)));
            for (name, c) in &curves {
                let meds: Vec<String> = checkpoints
                    .iter()
                    .map(|&n| sig4(median(&mut regret_at(c, n))))
                    .collect();
                let reach = random_target.map(|target| {
                    let n = (1..=trials)
                        .find(|&n| median(&mut regret_at(c, n)) <= target)
                        .map_or(format!(">{trials}"), |n| n.to_string());
                    format!("  reaches random's median best-after-{trials} in {n} trials")
                });
                let idle_text = idle
                    .get(name)
                    .map(|v| format!(", idle {:.1}%", 100.0 * median(&mut v.clone())))
                    .unwrap_or_default();
                println!(
                    "{:<10} q={q} {:<11} regret {}{}{idle_text}",
                    func.name,
                    name,
                    meds.join(" / "),
                    reach.unwrap_or_default()
                );
            }
            if let (Some(ours), Some(peer)) = (curves.get("tpe"), curves.get("optuna-tpe")) {
                let log = |x: f64| (x.max(0.0) + 1e-9).log10();
                let pairs: Vec<(f64, f64)> = peer
                    .iter()
                    .zip(ours)
                    .map(|(p, o)| (log(p[trials - 1] - func.min), log(o[trials - 1] - func.min)))
                    .collect();
                tests.push((
                    format!("{} q={q}", func.name),
                    ddim_sweep::stats::paired(&pairs),
                ));
            }
            for (name, c) in &curves {
                by_q.insert((q, name.clone()), c.clone());
            }
            println!();
        }
        print_q_ratio(&func, &by_q, trials, qs.iter().copied().max().unwrap_or(1));
    }
    if !tests.is_empty() {
        let p: Vec<f64> = tests.iter().map(|(_, t)| t.p_less.unwrap_or(1.0)).collect();
        let holm = ddim_sweep::stats::holm(&p);
        println!("ours (tpe) against Optuna's TPESampler, paired over seeds on log10 regret after {trials} trials:");
        println!("  (mean of log10(optuna) - log10(ours); p of \"Optuna lower\" one-sided, Holm over {} tests)", tests.len());
        for ((name, t), h) in tests.iter().zip(holm) {
            println!(
                "  {name:<14} diff {:+.3} [{}]  optuna better on {}/{}  p {:.3}  p_holm {h:.3}",
                t.diff.mean,
                t.diff
                    .ci95
                    .map_or("-".into(), |(a, b)| format!("{a:+.3}, {b:+.3}")),
                t.a_better,
                t.diff.n,
                t.p_less.unwrap_or(1.0)
            );
        }
        println!();
    }
    // Time per suggestion with 1,000 trials told (q = 1, Hartmann6).
    for &s in samplers.iter().filter(|s| **s != "random") {
        let funcs = functions();
        let h6 = &funcs[1];
        let n = if s == "gp" { 200 } else { 1100 };
        let r = simulate(h6, s, 1, 0, n);
        let mut last: Vec<f64> = r.suggest_s[n - 100..].to_vec();
        println!(
            "{s}: time per suggestion with {} trials told: p50 {:.2} ms, p99 {:.2} ms",
            n - 100,
            1e3 * quantile(&mut last, 0.5),
            1e3 * quantile(&mut last, 0.99)
        );
    }
}

/// Our GP against Optuna's GPSampler (`bench/gp_optuna.py`'s results in `path`) on Branin
/// and Hartmann6 at q = 1: median regret, the per-seed geometric mean of ours / Optuna's
/// regret after `trials` with its 95% interval (the project's paired t on log10 regret), and
/// the time per suggestion after the 10 startup trials (p50, p99 over every seed's).
fn gp_against_optuna(path: &str, seeds: u64, trials: usize) {
    let text = std::fs::read_to_string(path).expect("the Optuna GP results");
    let peer: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let nums = |v: &serde_json::Value| -> Vec<f64> {
        v.as_array()
            .expect("a list")
            .iter()
            .map(|x| x.as_f64().expect("a number"))
            .collect()
    };
    let log = |x: f64| (x.max(0.0) + 1e-12).log10();
    for func in functions()
        .into_iter()
        .filter(|f| ["branin", "hartmann6"].contains(&f.name))
    {
        let theirs: Vec<(Vec<f64>, Vec<f64>)> = peer
            .as_array()
            .expect("a list")
            .iter()
            .filter(|r| r["function"] == func.name)
            .take(seeds as usize)
            .map(|r| (nums(&r["best"]), nums(&r["ask_s"])))
            .collect();
        let ours: Vec<Run> = (0..theirs.len() as u64)
            .map(|seed| simulate(&func, "gp", 1, seed, trials))
            .collect();
        let regret = |best: &[f64], n: usize| best[n.min(best.len()) - 1] - func.min;
        for (name, bests, times) in [
            (
                "ours gp",
                ours.iter().map(|r| r.best.clone()).collect::<Vec<_>>(),
                ours.iter()
                    .flat_map(|r| r.suggest_s[10..].to_vec())
                    .collect::<Vec<_>>(),
            ),
            (
                "optuna gp",
                theirs.iter().map(|t| t.0.clone()).collect(),
                theirs.iter().flat_map(|t| t.1[10..].to_vec()).collect(),
            ),
        ] {
            let meds: Vec<String> = [25.min(trials), 50.min(trials), trials]
                .iter()
                .map(|&n| {
                    sig4(median(
                        &mut bests.iter().map(|b| regret(b, n)).collect::<Vec<_>>(),
                    ))
                })
                .collect();
            let mut t = times;
            println!(
                "{:<10} {name:<10} median regret after 25 / 50 / {trials} trials: {}   suggestion p50 {:.0} ms, p99 {:.0} ms",
                func.name,
                meds.join(" / "),
                1e3 * quantile(&mut t, 0.5),
                1e3 * quantile(&mut t, 0.99)
            );
        }
        let pairs: Vec<(f64, f64)> = ours
            .iter()
            .zip(&theirs)
            .map(|(o, t)| (log(regret(&o.best, trials)), log(regret(&t.0, trials))))
            .collect();
        let p = ddim_sweep::stats::paired(&pairs);
        let g = |v: f64| 10f64.powf(v);
        println!(
            "{:<10} ours / optuna, geometric mean over {} seeds: {:.3} [{}], ours better on {}/{}\n",
            func.name,
            p.diff.n,
            g(p.diff.mean),
            p.diff
                .ci95
                .map_or("-".into(), |(a, b)| format!("{:.3}, {:.3}", g(a), g(b))),
            p.a_better,
            p.diff.n
        );
    }
}

/// `x` with 4 significant digits (scientific below 1e-3).
fn sig4(x: f64) -> String {
    if x != 0.0 && x.abs() < 1e-3 {
        format!("{x:.3e}")
    } else {
        format!("{}", ddim_sweep::sweep::strategy::random::round_sig(x, 4))
    }
}
